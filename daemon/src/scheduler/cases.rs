//! The case cache: the cases worked on recently. Any case can be rebuilt from its events, so
//! this is a cache (at most `limit`), not the state; what a batch wrote of a case's deadlines
//! is remembered to skip unchanged rewrites, and forgotten with the cases a rolled-back batch
//! touched. A case whose stored events cannot be read is out of service: it is never rebuilt
//! from part of its events, and stays out until the daemon restarts on a repaired store.

use std::collections::HashMap;

use waakvlam_core::engine::{Case, Engine};

use crate::store::{CaseKey, Store, StoreError};

pub struct CaseCache {
    cases: HashMap<CaseKey, Case>,
    /// A fingerprint of the deadlines last written per case.
    written: HashMap<CaseKey, u64>,
    /// Fingerprints written in the batch being written.
    staged: Vec<(CaseKey, u64)>,
    /// Cases whose stored events cannot be read, with why.
    out_of_service: HashMap<CaseKey, String>,
    limit: usize,
}

impl CaseCache {
    pub fn new(limit: usize) -> CaseCache {
        CaseCache {
            cases: HashMap::new(),
            written: HashMap::new(),
            staged: Vec::new(),
            out_of_service: HashMap::new(),
            limit,
        }
    }

    pub fn len(&self) -> usize {
        self.cases.len()
    }

    #[cfg(test)]
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    pub fn get(&self, key: &CaseKey) -> Option<&Case> {
        self.cases.get(key)
    }

    /// The case, rebuilt from its events if it is not in memory. Output the replay makes of
    /// the past is in the outbox already (ids are deterministic): it is dropped here, and a
    /// notification already recorded is never recorded twice. A case with unreadable events
    /// is put out of service and answered with `StoreError::Damaged`.
    pub fn load(
        &mut self,
        key: &CaseKey,
        engine: &Engine,
        store: &impl Store,
    ) -> Result<&mut Case, StoreError> {
        if let Some(reason) = self.out_of_service.get(key) {
            return Err(StoreError::Damaged {
                key: key.clone(),
                rows: vec![reason.clone()],
            });
        }
        if !self.cases.contains_key(key) {
            let events = match store.events_of(key) {
                Ok(events) => events,
                Err(StoreError::Damaged { key, rows }) => {
                    tracing::error!(
                        gemeente = %key.gemeente,
                        case = %key.case,
                        rows = %rows.join("; "),
                        "a case's stored events cannot be read; it is out of service"
                    );
                    self.out_of_service.insert(key.clone(), rows.join("; "));
                    return Err(StoreError::Damaged { key, rows });
                }
                Err(err) => return Err(err),
            };
            let mut case = Case::new(&key.gemeente, &key.case);
            for event in events {
                let at = event.at;
                case.apply(engine, event, at);
            }
            self.cases.insert(key.clone(), case);
        }
        Ok(self.cases.get_mut(key).expect("present or just inserted"))
    }

    /// How many cases are out of service.
    pub fn out_of_service(&self) -> usize {
        self.out_of_service.len()
    }

    /// Whether the deadlines with this fingerprint need writing; if so, the fingerprint is
    /// staged as written.
    pub fn needs_write(&mut self, key: &CaseKey, fingerprint: u64) -> bool {
        if self.written.get(key) == Some(&fingerprint) {
            return false;
        }
        self.staged.push((key.clone(), fingerprint));
        true
    }

    /// Keeps the cache within its limit. Called between batches only: a case touched in a
    /// batch must stay in memory until its deadlines and timer are written.
    pub fn trim(&mut self) {
        if self.cases.len() <= self.limit {
            return;
        }
        // Cases are derivable: drop a tenth (the map's order is arbitrary, which is as good as
        // any for a cache this size), and what was remembered of their written deadlines.
        let drop: Vec<CaseKey> = self
            .cases
            .keys()
            .take(self.cases.len() - self.limit * 9 / 10)
            .cloned()
            .collect();
        for key in drop {
            self.cases.remove(&key);
            self.written.remove(&key);
        }
    }

    /// Forgets these cases: another daemon may have changed them (a shared store).
    pub fn forget(&mut self, keys: &[CaseKey]) {
        for key in keys {
            self.cases.remove(key);
            self.written.remove(key);
        }
    }

    /// Forgets every case (new definitions: each is rebuilt under them).
    pub fn clear(&mut self) {
        self.cases.clear();
        self.written.clear();
        self.staged.clear();
    }

    /// The batch is durable: what it wrote counts as written.
    pub fn commit(&mut self) {
        for (key, fingerprint) in std::mem::take(&mut self.staged) {
            self.written.insert(key, fingerprint);
        }
    }

    /// The batch was rolled back: nothing of it is durable, so the cases it touched go back
    /// to what the store holds (rebuilt when next needed).
    pub fn rollback(&mut self, touched: &[CaseKey]) {
        self.staged.clear();
        for key in touched {
            self.cases.remove(key);
            self.written.remove(key);
        }
    }
}
