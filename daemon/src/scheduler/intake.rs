//! iJw intake on the scheduler thread: a read message (its BSN already a pseudonym) becomes events
//! in one batch with what the ledger remembers of earlier messages, so a retry, a change and a
//! delete are decided against what is committed, and nothing is half taken.

use waakvlam_core::ijw::Message;
use waakvlam_core::ijw::intake::{self, Answer, Ledger, Status};

use super::{Reply, Scheduler, SchedulerError};
use crate::store::{AuditEntry, CaseKey, Store, StoreError};

/// The ledger in the store, written in the batch that takes the message's events.
struct StoreLedger<'a, S: Store>(&'a mut S);

impl<S: Store> Ledger for StoreLedger<'_, S> {
    type Error = StoreError;
    fn message(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.ijw_message(key)
    }
    fn remember_message(&mut self, key: &str, digest: &str) -> Result<(), StoreError> {
        self.0.set_ijw_message(key, digest)
    }
    fn product(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.ijw_product(key)
    }
    fn set_product(&mut self, key: &str, event: &str) -> Result<(), StoreError> {
        self.0.set_ijw_product(key, Some(event))
    }
    fn forget_product(&mut self, key: &str) -> Result<(), StoreError> {
        self.0.set_ijw_product(key, None)
    }
}

/// One message for the scheduler: read, with its young person's case id, and its audit line.
pub struct IjwMessage {
    pub message: Message,
    pub case: String,
    pub audit: AuditEntry,
}

impl<S: Store> Scheduler<S> {
    pub(super) fn take_ijw(&mut self, messages: Vec<IjwMessage>, reply: Reply<Vec<Vec<Answer>>>) {
        let now = self.clock.now();
        let _span = tracing::info_span!("ijw", messages = messages.len()).entered();
        let result = self.in_batch(|core, batch| {
            // The ledger of messages is read and written under the cases' locks, so two
            // daemons given one message take it once.
            core.take_cases(
                messages
                    .iter()
                    .map(|m| CaseKey::new(&m.message.gemeente, &m.case)),
            )?;
            let mut notifications = Vec::new();
            let mut hook_calls = Vec::new();
            let mut answers = Vec::with_capacity(messages.len());
            let mut touched = Vec::new();
            for IjwMessage { message, case, audit } in &messages {
                let key = CaseKey::new(&message.gemeente, case);
                let known = match core.cases.load(&key, &core.engine, &core.store) {
                    Ok(loaded) if loaded.events.is_empty() => None,
                    Ok(loaded) => Some(loaded.facts.birth),
                    Err(damaged @ StoreError::Damaged { .. }) => {
                        answers.push(refuse_all(message, &format!(
                            "{damaged}; the case is out of service until the store is repaired, and nothing of this message was taken"
                        )));
                        continue;
                    }
                    Err(err) => return Err(err),
                };
                let made = intake::intake(message, case, known, &mut StoreLedger(&mut core.store))?;
                for event in &made.events {
                    core.take_event(event, now, batch, &mut notifications, &mut hook_calls)?;
                }
                core.store.audit(audit)?;
                if !made.events.is_empty() {
                    touched.push(key);
                }
                answers.push(made.answers);
            }
            notifications.extend(core.answer_hooks(hook_calls)?);
            batch.lines.extend(core.record(&notifications, now)?);
            touched.sort();
            touched.dedup();
            for key in &touched {
                core.refresh(key, now)?;
            }
            Ok(answers)
        });
        match result {
            Ok((answers, lines)) => {
                let _ = reply.send(Ok(answers));
                self.write_log(lines, now);
            }
            Err(err) => {
                tracing::error!(cause = %err, "storing iJw messages failed; nothing of them was taken");
                let _ = reply.send(Err(SchedulerError::NotStored(err.to_string())));
            }
        }
    }
}

fn refuse_all(message: &Message, reason: &str) -> Vec<Answer> {
    (1..=message.products.len())
        .map(|product| Answer {
            product,
            status: Status::Refused,
            retourcode: intake::TECHNICAL,
            reason: Some(reason.to_string()),
            event: None,
        })
        .collect()
}
