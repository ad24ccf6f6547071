//! The `log` channel: every notification as one JSON line in a file, synced to disk before it
//! counts as delivered, and delivered once per id, crashes included.
//!
//! New notifications are written straight after the commit that recorded them, from memory:
//! reading them back from the outbox cost as much as recording them. The next transaction the
//! core makes (or one of their own within `MARK_WITHIN` when it is idle) marks them delivered
//! together with how far the file is written. After a crash, the lines beyond that position
//! were written but not marked: [`LogChannel::open`] marks them instead of writing them again,
//! and cuts off a line the crash left half-written.
//! Anything the direct path did not take (a failed write, a retry) the scheduler delivers from the
//! outbox once `check_at` has come.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use jiff::Timestamp;

use super::LOG;
use crate::store::{Store, StoreError};

/// How long written lines may wait for the next transaction to mark them delivered before one
/// of their own does. Nothing reads the marks meanwhile (a read of the outbox marks them
/// first), so the wait is only a bound; under load the next batch comes well within it, and
/// an extra commit (a sync) between batches would add to every waiting request's latency.
pub const MARK_WITHIN: StdDuration = StdDuration::from_millis(100);

/// A line already in the file, as recovery reads it: only the id, which is all it needs to
/// mark the line written, so a line of an older version counts as well.
#[derive(serde::Deserialize)]
struct Written {
    id: String,
}

/// A notification to write: its id, its JSON and its send moment.
pub struct Line {
    pub id: String,
    pub record: String,
    pub at: Timestamp,
}

pub struct LogChannel {
    file: std::fs::File,
    /// The path as configured, to open again after a rotation.
    configured: PathBuf,
    path: String,
    /// Bytes in the file, and bytes the store knows are delivered.
    written: u64,
    marked: u64,
    /// Written and synced, not yet marked delivered: (id, when it was written).
    unmarked: Vec<(String, Timestamp)>,
    /// From when the outbox may hold log deliveries the direct path did not take.
    check_at: Option<Timestamp>,
}

/// What [`LogChannel::open`] found after the last position the store knew of.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Lines written but not marked: marked now.
    pub lines: usize,
    /// Bytes of a line cut short by a crash: removed.
    pub cut: u64,
}

impl LogChannel {
    /// Opens the file for appending and settles what a crash left: lines beyond the position
    /// the store knows are marked delivered (in a transaction of their own), and a last line
    /// without its end is cut off. The first look at the outbox is at once.
    pub fn open(
        path: &Path,
        store: &mut impl Store,
        now: Timestamp,
    ) -> Result<(LogChannel, Recovered), StoreError> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|err| std::io::Error::new(err.kind(), format!("{}: {err}", path.display())))
            .map_err(StoreError::io("opening the notifications log"))?;
        let length = file
            .metadata()
            .map_err(StoreError::io("opening the notifications log"))?
            .len();
        let name = path_name(path);
        let from = match store.log_position()? {
            Some((known, bytes)) if known == name && bytes <= length => bytes,
            // Another file, or this one rotated or shortened: whatever it holds was written.
            _ if store.next_due(LOG)?.is_none() => length,
            _ => 0,
        };
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(from))
            .map_err(StoreError::io("recovering the notifications log"))?;
        // No further than the length: a device configured as the file (/dev/full) reads on
        // for ever.
        (&mut file)
            .take(length - from)
            .read_to_end(&mut tail)
            .map_err(StoreError::io("recovering the notifications log"))?;
        let complete = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let ids: Vec<String> = tail[..complete]
            .split(|b| *b == b'\n')
            .filter_map(|line| serde_json::from_slice::<Written>(line).ok())
            .map(|written| written.id)
            .collect();
        let cut = (tail.len() - complete) as u64;
        if cut > 0 {
            file.set_len(length - cut)
                .map_err(StoreError::io("recovering the notifications log"))?;
            file.sync_data()
                .map_err(StoreError::io("recovering the notifications log"))?;
        }
        let written = length - cut;
        let mut channel = LogChannel {
            file,
            configured: path.to_path_buf(),
            path: name,
            written,
            marked: from,
            unmarked: ids.into_iter().map(|id| (id, now)).collect(),
            check_at: Some(Timestamp::MIN),
        };
        let recovered = Recovered {
            lines: channel.unmarked.len(),
            cut,
        };
        if channel.written != channel.marked {
            store.begin()?;
            let marked = channel.mark(store).and_then(|_| store.finish());
            if let Err(err) = marked {
                let _ = store.abandon();
                return Err(err);
            }
            channel.committed();
        }
        Ok((channel, recovered))
    }

    /// Writes notifications: new ones straight after the commit that recorded them, or due
    /// ones from the outbox; one write and one sync for all. Once synced they count as written,
    /// to be marked delivered; returns how late each went out (seconds), for the metrics. On an
    /// error the file is cut back to where it was, so no half line stays behind.
    pub fn write_lines(&mut self, lines: Vec<Line>, now: Timestamp) -> std::io::Result<Vec<f64>> {
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let mut bytes = Vec::new();
        for line in &lines {
            bytes.extend_from_slice(line.record.as_bytes());
            bytes.push(b'\n');
        }
        let written = self
            .file
            .write_all(&bytes)
            .and_then(|_| self.file.sync_data());
        if let Err(err) = written {
            let _ = self.file.set_len(self.written);
            return Err(err);
        }
        self.written += bytes.len() as u64;
        Ok(lines
            .into_iter()
            .map(|line| {
                self.unmarked.push((line.id, now));
                (now.as_millisecond() - line.at.as_millisecond()) as f64 / 1000.0
            })
            .collect())
    }

    /// The file's name as the store keeps it, and its length.
    pub fn position(&self) -> (&str, u64) {
        (&self.path, self.written)
    }

    /// The path the channel writes to, as configured.
    pub fn configured(&self) -> &Path {
        &self.configured
    }

    pub fn has_unmarked(&self) -> bool {
        !self.unmarked.is_empty() || self.written != self.marked
    }

    /// Marks the written lines delivered, and the file's length, inside the transaction the
    /// caller has begun; they count as marked from [`LogChannel::committed`] on.
    pub fn mark(&self, store: &mut impl Store) -> Result<(), StoreError> {
        store.delivered_all(LOG, &self.unmarked)?;
        if self.written != self.marked {
            store.set_log_position(&self.path, self.written)?;
        }
        Ok(())
    }

    /// The transaction that marked them is durable.
    pub fn committed(&mut self) {
        self.unmarked.clear();
        self.marked = self.written;
    }

    /// Whether the outbox may hold log deliveries due at `now` that the direct path missed.
    pub fn should_check(&self, now: Timestamp) -> bool {
        self.check_at.is_some_and(|at| at <= now)
    }

    /// The next pending log delivery in the outbox is due at `at` (a retry).
    pub fn check_from(&mut self, at: Option<Timestamp>) {
        self.check_at = at;
    }

    /// A route to the log that does not go out straight away: look at the outbox then.
    pub fn look_at_outbox_by(&mut self, at: Timestamp) {
        self.check_at = Some(self.check_at.map_or(at, |known| known.min(at)));
    }
}

/// The file's name as the store keeps it: absolute where it can be, so a move of the working
/// directory does not read as another file.
fn path_name(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| PathBuf::from(path))
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Outbox;
    use crate::store::{Outgoing, Route, SqliteStore};
    use waakvlam_core::engine::{Kind, Notification};

    fn notification(id: &str, at: Timestamp) -> Notification {
        Notification {
            id: id.into(),
            at,
            kind: Kind::Reminder,
            workflow: "klachttermijnen".into(),
            instance: "klachttermijnen/GM0150/C-1/K-9".into(),
            gemeente: "GM0150".into(),
            case: "C-1".into(),
            deadline: "in_behandeling".into(),
            due: None,
            to: vec!["klachtbehandelaar".into()],
            level: 0,
            message: "m".into(),
            items: Vec::new(),
            report: None,
        }
    }

    fn line(n: &Notification) -> Line {
        Line {
            id: n.id.clone(),
            record: serde_json::to_string(n).unwrap(),
            at: n.at,
        }
    }

    /// A crash after lines were written and before they were marked: the restart marks them
    /// instead of writing them again, and cuts off the half line the crash left.
    #[test]
    fn a_crash_between_writing_and_marking_writes_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (db, path) = (dir.path().join("store.db"), dir.path().join("log.jsonl"));
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let mut store = SqliteStore::open(&db).unwrap();
        let notifications: Vec<Notification> = (0..3)
            .map(|i| notification(&format!("n-{i}"), now))
            .collect();
        let outgoing: Vec<Outgoing<'_>> = notifications
            .iter()
            .map(|n| Outgoing {
                notification: n,
                record: serde_json::to_string(n).unwrap(),
                channels: vec![Route {
                    channel: LOG.into(),
                    not_before: now,
                }],
            })
            .collect();
        store.record(&outgoing).unwrap();

        let (mut log, recovered) = LogChannel::open(&path, &mut store, now).unwrap();
        assert_eq!(recovered, Recovered::default());
        // The first is written and marked; the next two only written, and then the crash
        // came in the middle of a fourth line.
        log.write_lines(vec![line(&notifications[0])], now).unwrap();
        store.begin().unwrap();
        log.mark(&mut store).unwrap();
        store.finish().unwrap();
        log.committed();
        log.write_lines(notifications[1..].iter().map(line).collect(), now)
            .unwrap();
        drop(log);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(br#"{"id":"n-3","at":"#).unwrap();
        drop(file);
        assert_eq!(store.next_due(LOG).unwrap(), Some(now), "two still pending");

        let (log, recovered) = LogChannel::open(&path, &mut store, now).unwrap();
        assert_eq!(
            recovered,
            Recovered {
                lines: 2,
                cut: br#"{"id":"n-3","at":"#.len() as u64
            }
        );
        assert!(!log.has_unmarked());
        assert_eq!(store.next_due(LOG).unwrap(), None, "all three delivered");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with('\n'));
        drop(log);
        // Opening again finds nothing left to do.
        let (_, recovered) = LogChannel::open(&path, &mut store, now).unwrap();
        assert_eq!(recovered, Recovered::default());
    }
}
