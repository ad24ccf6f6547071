//! iJw intake on the core thread: a read message (its BSN already a pseudonym) becomes events
//! in one batch with what the ledger remembers of earlier messages, so a retry, a change and a
//! delete are decided against what is committed, and nothing is half taken.

use waakvlam_core::ijw::Message;
use waakvlam_core::ijw::intake::{self, Answer, Ledger, Status};

use super::{Core, CoreError, Outcome, Reply};
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

impl<S: Store> Core<S> {
    pub(super) fn take_ijw(
        &mut self,
        message: Message,
        case: String,
        audit: AuditEntry,
        reply: Reply<Vec<Answer>>,
    ) {
        let now = self.clock.now();
        let _span = tracing::info_span!("ijw", code = message.code.name(), products = message.products.len()).entered();
        let result = self.in_batch(|core, batch| {
            let key = CaseKey::new(&message.gemeente, &case);
            let known = match core.cases.load(&key, &core.engine, &core.store) {
                Ok(loaded) if loaded.events.is_empty() => None,
                Ok(loaded) => Some(loaded.facts.birth),
                Err(damaged @ StoreError::Damaged { .. }) => {
                    let reason = format!(
                        "{damaged}; the case is out of service until the store is repaired, and nothing of this message was taken"
                    );
                    return Ok(refuse_all(&message, &reason));
                }
                Err(err) => return Err(err),
            };
            let mut made = intake::intake(&message, &case, known, &mut StoreLedger(&mut core.store))?;
            let mut notifications = Vec::new();
            let mut hook_calls = Vec::new();
            for event in &made.events {
                let outcome = core.take_event(event, now, batch, &mut notifications, &mut hook_calls)?;
                if let Outcome::Refused(reason) = outcome {
                    // Only a case out of service refuses here; the message is answered so.
                    made.answers = refuse_all(&message, &reason);
                    break;
                }
            }
            core.store.audit(&audit)?;
            notifications.extend(core.answer_hooks(hook_calls)?);
            batch.lines.extend(core.record(&notifications, now)?);
            if !made.events.is_empty() {
                core.refresh(&key, now)?;
            }
            Ok(made.answers)
        });
        match result {
            Ok((answers, lines)) => {
                let _ = reply.send(Ok(answers));
                self.write_log(lines, now);
            }
            Err(err) => {
                tracing::error!(cause = %err, "storing an iJw message failed; nothing of it was taken");
                let _ = reply.send(Err(CoreError::NotStored(err.to_string())));
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
