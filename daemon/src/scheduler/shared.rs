//! What the scheduler does differently when other daemons write the same store (PostgreSQL):
//! cases are taken before a batch works on them and read fresh; timers other daemons moved
//! are followed; deliveries are claimed under the lease before they go out.

use super::Scheduler;
use super::timers::TimerQueue;
use crate::store::{CaseKey, Due, Store, StoreError};

impl<S: Store> Scheduler<S> {
    /// Before a batch works on these cases: takes them in the store (another daemon's batch
    /// on them waits for this one) and forgets what memory holds of them, which another
    /// daemon may have changed since. Nothing for a store of one daemon.
    pub(super) fn take_cases(
        &mut self,
        keys: impl IntoIterator<Item = CaseKey>,
    ) -> Result<(), StoreError> {
        if !self.shared {
            return Ok(());
        }
        let mut keys: Vec<CaseKey> = keys.into_iter().collect();
        keys.sort();
        keys.dedup();
        self.store.claim(&keys)?;
        self.cases.forget(&keys);
        Ok(())
    }

    /// Another daemon committed changes to these cases: what memory holds of them goes, and
    /// their timers are read as stored now (the latest committed, whatever order the news
    /// came in).
    pub(super) fn follow(&mut self, keys: Vec<CaseKey>) {
        self.cases.forget(&keys);
        match self.store.timers_of(&keys) {
            Ok(timers) => {
                for (key, wake) in timers {
                    self.timers.stage(key, wake);
                }
                self.timers.commit();
            }
            Err(err) => {
                tracing::error!(cause = %err, "reading the timers another daemon moved failed; reading them all");
                self.resync();
            }
        }
    }

    /// Reads every timer again and forgets every case: news of other daemons' changes may
    /// have been missed.
    pub(super) fn resync(&mut self) {
        match self.store.timers() {
            Ok(timers) => {
                self.timers = TimerQueue::new(timers.due);
                self.cases.clear();
                tracing::info!(
                    timers = self.timers.len(),
                    "timers read again from the shared store"
                );
            }
            Err(err) => tracing::error!(cause = %err, "reading the timers failed"),
        }
    }

    /// Of these due deliveries, those this daemon may send: all for a store of its own; for a
    /// shared one, those it claimed under its lease (none once the lease is gone).
    pub(super) fn claimed(&mut self, channel: &str, due: Vec<Due>) -> Vec<Due> {
        if due.is_empty() || !self.shared {
            return due;
        }
        let ids: Vec<String> = due.iter().map(|d| d.id.clone()).collect();
        match self.store.claim_deliveries(channel, &ids) {
            Ok(claimed) => due
                .into_iter()
                .filter(|d| claimed.contains(&d.id))
                .collect(),
            Err(err) => {
                tracing::error!(cause = %err, channel, "claiming deliveries failed; they wait");
                Vec::new()
            }
        }
    }
}
