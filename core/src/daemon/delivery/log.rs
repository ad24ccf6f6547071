//! The `log` channel: every notification as one JSON line in a file, synced to disk before it
//! counts as delivered.
//!
//! New notifications are written straight after the commit that recorded them, from memory:
//! reading them back from the outbox cost as much as recording them. They are marked delivered
//! by the next transaction the core makes (or within `MARK_WITHIN` when it is idle), so a
//! write costs no commit of its own. A crash in between writes them again after the restart,
//! with the same ids, which is what the contract promises: never a second, different one.
//! Anything the direct path did not take (a failed write, a restart, a retry) the core
//! delivers from the outbox once `check_at` has come.

use std::io::Write;
use std::time::Duration as StdDuration;

use jiff::Timestamp;

use super::LOG;
use crate::store::{Store, StoreError};

/// How long written lines may wait, when the core has nothing else to do, before a transaction
/// of their own marks them delivered (what the API shows).
pub const MARK_WITHIN: StdDuration = StdDuration::from_millis(5);

/// A notification to write: its id, its JSON and its send moment.
pub struct Line {
    pub id: String,
    pub record: String,
    pub at: Timestamp,
}

pub struct LogChannel {
    file: std::fs::File,
    /// Written and synced, not yet marked delivered: (id, when it was written).
    unmarked: Vec<(String, Timestamp)>,
    /// From when the outbox may hold log deliveries the direct path did not take.
    check_at: Option<Timestamp>,
}

impl LogChannel {
    /// After a start anything may be pending: the first look at the outbox is at once.
    pub fn new(file: std::fs::File) -> LogChannel {
        LogChannel {
            file,
            unmarked: Vec::new(),
            check_at: Some(Timestamp::MIN),
        }
    }

    /// Appends the lines and syncs them: one write and one sync for all.
    pub fn write(&mut self, records: impl Iterator<Item = impl AsRef<str>>) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        for record in records {
            bytes.extend_from_slice(record.as_ref().as_bytes());
            bytes.push(b'\n');
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.file.write_all(&bytes)?;
        self.file.sync_data()
    }

    /// Writes notifications whose recording was just committed. Returns how late each went
    /// out (seconds), for the metrics. When the write fails they stay pending in the outbox,
    /// and the core delivers them from there, counting the failed attempt.
    pub fn write_new(&mut self, lines: Vec<Line>, now: Timestamp) -> Vec<f64> {
        if lines.is_empty() {
            return Vec::new();
        }
        match self.write(lines.iter().map(|line| &line.record)) {
            Ok(()) => lines
                .into_iter()
                .map(|line| {
                    self.unmarked.push((line.id, now));
                    (now.as_millisecond() - line.at.as_millisecond()) as f64 / 1000.0
                })
                .collect(),
            Err(_) => {
                self.check_at = Some(now);
                Vec::new()
            }
        }
    }

    pub fn has_unmarked(&self) -> bool {
        !self.unmarked.is_empty()
    }

    /// Marks the written lines delivered, inside the transaction the caller has begun; they
    /// stay listed until [`LogChannel::committed`].
    pub fn mark(&self, store: &mut impl Store) -> Result<(), StoreError> {
        for (id, at) in &self.unmarked {
            store.delivered(id, LOG, *at)?;
        }
        Ok(())
    }

    /// The transaction that marked them is durable.
    pub fn committed(&mut self) {
        self.unmarked.clear();
    }

    /// Whether the outbox may hold log deliveries due at `now` that the direct path missed.
    pub fn should_check(&self, now: Timestamp) -> bool {
        self.check_at.is_some_and(|at| at <= now)
    }

    /// Something for the log channel waits in the outbox from `at` on (a retry).
    pub fn check_from(&mut self, at: Option<Timestamp>) {
        self.check_at = at;
    }

    /// A route to the log that does not go out straight away: look at the outbox then.
    pub fn expect(&mut self, at: Timestamp) {
        self.check_at = Some(self.check_at.map_or(at, |known| known.min(at)));
    }
}
