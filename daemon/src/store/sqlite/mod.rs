//! The embedded store: one SQLite file in WAL mode, with versioned migrations.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

mod feeds;
mod outbox;
pub(super) mod read;
mod records;
mod schema;

use super::EventRecord;
use super::rows::{self, audit_conditions, case_events, event_from, readable, where_clause};
use super::{
    AuditEntry, AuditFilter, CaseKey, DeadlineKey, DeadlineRow, Due, DueBatch, Feed, Filter,
    OutboxRow, Outgoing, Provisional, Store, StoreError, Timers,
};
use crate::scope::Scope;
use read::{DEADLINE_COLUMNS, deadline_row};
use schema::MIGRATIONS;
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::CalendarMark;
use waakvlam_core::event::Event;

/// The result of SQLite work done while `what` (`"storing an event"`), with that context
/// on its error.
pub(super) fn doing<T>(
    what: &'static str,
    work: impl FnOnce() -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    work().map_err(StoreError::sqlite(what))
}

/// The migration (counted from 1) that adds the provisional mark.
const PROVISIONAL_MIGRATION: usize = 7;

/// The deadlines still to be met that carry the provisional mark.
fn provisional_of(connection: &Connection) -> rusqlite::Result<Provisional> {
    let mut statement = connection.prepare_cached(
        "SELECT count(*), min(due) FROM deadlines
         WHERE provisional = 1 AND status IN ('open', 'overdue', 'suspended', 'unknown')",
    )?;
    statement.query_row([], |row| {
        let first_due: Option<String> = row.get(1)?;
        Ok(Provisional {
            open: row.get(0)?,
            // A due date is written by the store from a `Day`; one that does not read back is
            // reported as the column's own error.
            first_due: first_due
                .map(|due| due.parse())
                .transpose()
                .map_err(|err| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        Box::new(err),
                    )
                })?,
        })
    })
}

/// What can change about it: workflow, due, status, provisional, met_at, started.
type StoredDeadline = (
    String,
    Option<String>,
    String,
    bool,
    Option<String>,
    Option<String>,
);

pub struct SqliteStore {
    connection: Connection,
    checkpointer: Checkpointer,
}

/// Copies committed pages from the write-ahead log into the database file, on a thread and a
/// connection of its own. SQLite does it in the committing thread by default, and there it
/// took a sixth of the writer's time; a passive checkpoint never blocks the writer, and the
/// log stays short because one runs soon after every commit (at most every `PAUSE`).
struct Checkpointer {
    nudge: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(1000);

    fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let doing = "opening the checkpointer's connection";
        let connection = Connection::open(path).map_err(StoreError::sqlite(doing))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(StoreError::sqlite(doing))?;
        let (nudge, nudges) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || Self::serve(connection, nudges))
            .map_err(StoreError::io("starting the checkpointer"))?;
        Ok(Checkpointer {
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// A checkpoint on each nudge, at most one per `PAUSE`, and at least one every ten seconds
    /// (writes outside a batch do not nudge). Ends as soon as the store closes.
    fn serve(connection: Connection, nudges: mpsc::Receiver<()>) {
        let mut nudged = false;
        loop {
            if !nudged
                && let Err(mpsc::RecvTimeoutError::Disconnected) =
                    nudges.recv_timeout(std::time::Duration::from_secs(10))
            {
                return;
            }
            let checkpoint = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                row.get::<_, i64>(0)
            });
            if let Err(err) = checkpoint {
                tracing::warn!(
                    cause = %err,
                    "checkpoint of the write-ahead log failed; tried again later"
                );
            }
            // Rest, keeping a nudge that comes meanwhile for afterwards.
            nudged = false;
            let rested = std::time::Instant::now() + Self::PAUSE;
            loop {
                let left = rested.saturating_duration_since(std::time::Instant::now());
                match nudges.recv_timeout(left) {
                    Ok(()) => nudged = true,
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }

    /// After a commit: a checkpoint soon, unless one is waiting already.
    fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            let _ = nudge.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.nudge = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl SqliteStore {
    /// Opens (or creates) the database and brings it to the current schema.
    /// The provisional deadlines of a store file, read without changing it (for `check
    /// --config`, beside a running daemon): `None` when the file was not yet migrated to
    /// know them; the daemon marks them at its next start.
    pub fn provisional_in(path: &Path) -> Result<Option<Provisional>, StoreError> {
        doing("reading the provisional deadlines", || {
            use rusqlite::OpenFlags;
            let connection = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            connection.busy_timeout(std::time::Duration::from_secs(5))?;
            let applied: usize =
                connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
            if applied < PROVISIONAL_MIGRATION {
                return Ok(None);
            }
            Ok(Some(provisional_of(&connection)?))
        })
    }

    /// The audit lines of a store file, read without changing it (`waakvlam audit`, beside a
    /// running daemon).
    pub fn audit_in(path: &Path, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        use rusqlite::OpenFlags;
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::sqlite("opening the database to read"))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(StoreError::sqlite("opening the database to read"))?;
        audit_lines(&connection, filter)
    }

    /// A consistent copy of the store at `path` in the new file `to` (SQLite's `VACUUM INTO`):
    /// safe while the daemon runs and writes, since it reads one snapshot beside the writer,
    /// which a `cp` of a WAL database is not. Returns the events the copy holds.
    pub fn backup(path: &Path, to: &Path) -> Result<u64, StoreError> {
        use rusqlite::OpenFlags;
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::sqlite("opening the database to back it up"))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(StoreError::sqlite("opening the database to back it up"))?;
        let target = to.to_str().ok_or(StoreError::Io {
            doing: "naming the backup",
            source: std::io::Error::other("the path is not UTF-8"),
        })?;
        connection
            .execute("VACUUM INTO ?1", params![target])
            .map_err(StoreError::sqlite("writing the backup"))?;
        // VACUUM INTO does not sync the copy: a backup is only one once it is on disk.
        std::fs::File::open(to)
            .and_then(|file| file.sync_all())
            .map_err(StoreError::io("syncing the backup"))?;
        let copy = Connection::open_with_flags(to, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(StoreError::sqlite("reading the backup"))?;
        let check: String = copy
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(StoreError::sqlite("checking the backup"))?;
        if check != "ok" {
            return Err(StoreError::Io {
                doing: "checking the backup",
                source: std::io::Error::other(check),
            });
        }
        copy.query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .map_err(StoreError::sqlite("reading the backup"))
    }

    /// Writes one audit line into an existing store, beside a running daemon (SQLite lets a
    /// second writer wait its turn): for command-line reads of personal data, such as finding
    /// a case from a BSN.
    pub fn audit_to(path: &Path, entry: &AuditEntry) -> Result<(), StoreError> {
        use rusqlite::OpenFlags;
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::sqlite(
            "opening the database to write the audit log",
        ))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(StoreError::sqlite(
                "opening the database to write the audit log",
            ))?;
        connection
            .execute(
                "INSERT INTO audit (at, token, on_behalf_of, action, gemeente, case_id, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![entry.at, entry.token, entry.on_behalf_of, entry.action, entry.gemeente, entry.case, entry.outcome],
            )
            .map_err(StoreError::sqlite("writing the audit log"))?;
        Ok(())
    }

    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if path.exists() {
            let found: usize = Connection::open(path)
                .and_then(|c| c.pragma_query_value(None, "user_version", |row| row.get(0)))
                .map_err(StoreError::sqlite("opening the database"))?;
            if found > MIGRATIONS.len() {
                return Err(StoreError::Newer {
                    path: path.display().to_string(),
                    found,
                    known: MIGRATIONS.len(),
                });
            }
        }
        let connection = Self::connect(path).map_err(StoreError::sqlite("opening the database"))?;
        // Checkpoints are the checkpointer's: never in the writer's commit.
        let checkpointer = Checkpointer::start(path)?;
        Ok(SqliteStore {
            connection,
            checkpointer,
        })
    }

    /// The writer's connection, with the schema brought up to date.
    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        let mut connection = Connection::open(path)?;
        // 2 KiB pages (for a new file; an existing one keeps its size): the rows are small and
        // most inserts land on a page of their own in some index, and every page touched is
        // written whole at the commit, so smaller pages write some 40% fewer bytes.
        connection.pragma_update(None, "page_size", 2048)?;
        // WAL: readers do not block the writer; synchronous=FULL: a commit survives power loss,
        // which is what "acknowledged means durable" asks.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // A 64 MiB page cache and reads through a 256 MiB memory map: timers and case loads
        // touch pages all over the file, and the default 8 MiB cache made every round of
        // timers mostly system calls.
        connection.pragma_update(None, "cache_size", -65_536)?;
        connection.pragma_update(None, "mmap_size", 268_435_456)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        // Every statement of the hot paths stays prepared (the default keeps 16).
        connection.set_prepared_statement_cache_capacity(64);
        let applied: usize =
            connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        for (version, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = connection.transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(connection)
    }

    /// Runs several statements as one: inside a batch the batch's transaction already makes
    /// them atomic (the caller abandons the batch on an error), so only a lone call pays for a
    /// savepoint of its own.
    fn atomically<T>(
        &mut self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        if !self.connection.is_autocommit() {
            return work(&self.connection);
        }
        let savepoint = self.connection.savepoint()?;
        let result = work(&savepoint)?;
        savepoint.commit()?;
        Ok(result)
    }

    pub fn schema_version(&self) -> Result<usize, StoreError> {
        self.connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(StoreError::sqlite("reading the schema version"))
    }
}

fn insert_notifications(tx: &Connection, outgoing: &[Outgoing<'_>]) -> rusqlite::Result<Vec<bool>> {
    let mut notification = tx.prepare_cached(
        "INSERT OR IGNORE INTO notifications (id, at_ms, gemeente, case_id, workflow, due, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut delivery = tx.prepare_cached("INSERT OR IGNORE INTO deliveries (notification_id, channel, next_try_ms) VALUES (?1, ?2, ?3)")?;
    let mut new_ones = Vec::with_capacity(outgoing.len());
    for Outgoing {
        notification: n,
        record,
        channels,
    } in outgoing
    {
        let new = notification.execute(params![
            n.id,
            n.at.as_millisecond(),
            n.gemeente,
            n.case,
            n.workflow,
            n.due.map(|d| d.to_string()),
            record
        ])?;
        // A notification recorded before keeps the deliveries it had.
        new_ones.push(new == 1);
        if new == 1 {
            for route in channels {
                delivery.execute(params![
                    n.id,
                    route.channel,
                    route.not_before.as_millisecond()
                ])?;
            }
        }
    }
    Ok(new_ones)
}

/// An event from its row, or what is wrong with the row. Only validated events are stored, so
/// the conversions should hold; a row that does not convert (a damaged file, a vocabulary
/// that lost a type) is named, never skipped: a case rebuilt from part of its events would
/// send the wrong reminders.
pub(super) fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Event, String>> {
    Ok(event_from(
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        &row.get::<_, String>(5)?,
    ))
}

impl Store for SqliteStore {
    fn insert_event(&mut self, e: &Event, received: Timestamp) -> Result<bool, StoreError> {
        doing("storing an event", || {
            let mut statement = self.connection.prepare_cached(
            "INSERT OR IGNORE INTO events (gemeente, id, type, case_id, at, at_ms, data, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
            let changed = statement.execute(params![
                e.gemeente,
                e.id,
                e.event_type.name(),
                e.case,
                waakvlam_core::calendar::format_timestamp(e.at),
                e.at.as_millisecond(),
                serde_json::to_string(&e.data).expect("a JSON map always serialises"),
                received.to_string()
            ])?;
            Ok(changed == 1)
        })
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        doing("beginning a transaction", || {
            self.connection.execute_batch("BEGIN IMMEDIATE")
        })
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        doing("committing a transaction", || {
            self.connection.execute_batch("COMMIT")?;
            self.checkpointer.nudge();
            Ok(())
        })
    }

    fn abandon(&mut self) -> Result<(), StoreError> {
        doing("rolling back a transaction", || {
            self.connection.execute_batch("ROLLBACK")
        })
    }

    fn set_timer(&mut self, key: &CaseKey, wake: Option<Timestamp>) -> Result<(), StoreError> {
        let (gemeente, case) = (&key.gemeente, &key.case);
        doing("storing a timer", || {
            match wake {
            Some(wake) => self.connection.prepare_cached("INSERT OR REPLACE INTO timers (gemeente, case_id, wake_ms) VALUES (?1, ?2, ?3)")?.execute(params![gemeente, case, wake.as_millisecond()])?,
            None => self.connection.prepare_cached("DELETE FROM timers WHERE gemeente = ?1 AND case_id = ?2")?.execute(params![gemeente, case])?,
        };
            Ok(())
        })
    }

    fn timers(&self) -> Result<Timers, StoreError> {
        doing("reading the timers", || {
            let mut statement = self
                .connection
                .prepare("SELECT wake_ms, gemeente, case_id FROM timers")?;
            let rows = statement.query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })?;
            let mut timers = Timers::default();
            for row in rows {
                let (ms, gemeente, case) = row?;
                let key = CaseKey { gemeente, case };
                match Timestamp::from_millisecond(ms) {
                    Ok(at) => timers.due.push((at, key)),
                    Err(_) => timers.unreadable.push(key),
                }
            }
            Ok(timers)
        })
    }

    fn case_keys(&self) -> Result<Vec<CaseKey>, StoreError> {
        doing("listing the cases", || {
            let mut statement = self.connection.prepare(
                "SELECT DISTINCT gemeente, case_id FROM events ORDER BY gemeente, case_id",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(CaseKey {
                    gemeente: row.get(0)?,
                    case: row.get(1)?,
                })
            })?;
            rows.collect()
        })
    }

    fn events_of(&self, key: &CaseKey) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<Result<Event, String>> = doing("reading a case's events", || {
            let mut statement = self
                .connection
                .prepare_cached("SELECT gemeente, id, type, case_id, at_ms, data FROM events WHERE gemeente = ?1 AND case_id = ?2 ORDER BY at_ms, seq")?;
            let rows = statement.query_map(params![key.gemeente, key.case], event_row)?;
            rows.collect()
        })?;
        case_events(key, rows)
    }

    fn put_deadlines(&mut self, key: &CaseKey, rows: &[DeadlineRow]) -> Result<(), StoreError> {
        let (gemeente, case) = (&key.gemeente, &key.case);
        let written = self.atomically(|connection| {
            let mut stored = connection.prepare_cached(
                "SELECT instance, deadline, occurrence, workflow, due, status, provisional, met_at, started FROM deadlines
                 WHERE gemeente = ?1 AND case_id = ?2",
            )?;
            let mut before: HashMap<DeadlineKey, StoredDeadline> =
                stored
                    .query_map(params![gemeente, case], |row| {
                        Ok((
                            (row.get(0)?, row.get(1)?, row.get(2)?),
                            (
                                row.get(3)?,
                                row.get(4)?,
                                row.get(5)?,
                                row.get(6)?,
                                row.get(7)?,
                                row.get(8)?,
                            ),
                        ))
                    })?
                    .collect::<Result<_, _>>()?;
            let mut write = connection.prepare_cached(
                "INSERT OR REPLACE INTO deadlines (instance, deadline, occurrence, workflow, gemeente, case_id, due, status, provisional, met_at, started)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for r in rows {
                let key = (r.instance.clone(), r.deadline.clone(), r.occurrence);
                let provisional = r.calendar == Some(CalendarMark::Provisional);
                let text = |day: Option<Day>| day.map(|d| d.to_string());
                let unchanged = before.remove(&key).is_some_and(
                    |(workflow, due, status, was_provisional, met_at, started)| {
                        workflow == r.workflow
                            && due == text(r.due)
                            && status == r.status.as_str()
                            && was_provisional == provisional
                            && met_at == text(r.met_at)
                            && started == text(r.started)
                    },
                );
                if !unchanged {
                    write.execute(params![
                        r.instance,
                        r.deadline,
                        r.occurrence,
                        r.workflow,
                        gemeente,
                        case,
                        text(r.due),
                        r.status.as_str(),
                        provisional,
                        text(r.met_at),
                        text(r.started)
                    ])?;
                }
            }
            let mut remove = connection.prepare_cached(
                "DELETE FROM deadlines WHERE gemeente = ?1 AND case_id = ?2
                 AND instance = ?3 AND deadline = ?4 AND occurrence = ?5",
            )?;
            for (instance, deadline, occurrence) in before.into_keys() {
                remove.execute(params![gemeente, case, instance, deadline, occurrence])?;
            }
            Ok(())
        });
        written.map_err(StoreError::sqlite("storing deadlines"))
    }

    fn deadlines(&self, filter: &Filter) -> Result<Vec<DeadlineRow>, StoreError> {
        read::deadlines(&self.connection, filter)
    }

    fn report(
        &self,
        scope: &crate::scope::Scope,
        period: (Day, Day),
        workflow: Option<&str>,
    ) -> Result<super::ReportRows, StoreError> {
        read::report(&self.connection, scope, period, workflow)
    }

    fn every_due_date(&self) -> Result<HashMap<DeadlineKey, Option<Day>>, StoreError> {
        let rows = doing("reading the due dates", || {
            let mut statement = self
                .connection
                .prepare("SELECT instance, deadline, occurrence, due FROM deadlines")?;
            let rows = statement.query_map([], |row| {
                let instance: String = row.get(0)?;
                let due = rows::due_from(&instance, row.get(3)?);
                let key = (instance, row.get(1)?, row.get(2)?);
                Ok(due.map(|due| (key, due)))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })?;
        Ok(readable(rows, "due dates")?.into_iter().collect())
    }

    fn case_events(&self, key: &CaseKey) -> Result<Vec<EventRecord>, StoreError> {
        let rows = doing("reading a case's events", || {
            let mut statement = self.connection.prepare(
                "SELECT id, type, at, data FROM events WHERE gemeente = ?1 AND case_id = ?2 ORDER BY at_ms, seq",
            )?;
            let rows = statement.query_map(params![key.gemeente, key.case], |row| {
                let data: String = row.get(3)?;
                Ok(rows::event_record(
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    &data,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        case_events(key, rows)
    }

    fn definitions(&self) -> Result<Option<String>, StoreError> {
        doing("reading the definitions fingerprint", || {
            let mut statement = self
                .connection
                .prepare_cached("SELECT fingerprint FROM definitions")?;
            let mut rows = statement.query_map([], |row| row.get(0))?;
            rows.next().transpose()
        })
    }

    fn set_definitions(&mut self, fingerprint: &str) -> Result<(), StoreError> {
        doing("storing the definitions fingerprint", || {
            self.connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO definitions (only, fingerprint) VALUES (1, ?1)",
                )?
                .execute(params![fingerprint])?;
            Ok(())
        })
    }

    fn virtual_now(&self) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = doing("reading the virtual clock", || {
            let mut statement = self
                .connection
                .prepare_cached("SELECT now_ms FROM virtual_clock")?;
            let mut rows = statement.query_map([], |row| row.get(0))?;
            rows.next().transpose()
        })?;
        Ok(ms.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }

    fn set_virtual_now(&mut self, now: Timestamp) -> Result<(), StoreError> {
        doing("storing the virtual clock", || {
            self.connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO virtual_clock (only, now_ms) VALUES (1, ?1)",
                )?
                .execute(params![now.as_millisecond()])?;
            Ok(())
        })
    }

    fn overview_done(&self, name: &str, gemeente: &str) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = doing("reading when an overview last ran", || {
            self.connection
                .prepare_cached(
                    "SELECT done_ms FROM overview_runs WHERE name = ?1 AND gemeente = ?2",
                )?
                .query_row(params![name, gemeente], |row| row.get(0))
                .optional()
        })?;
        Ok(ms.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }

    fn set_overview_done(
        &mut self,
        name: &str,
        gemeente: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        doing("storing when an overview ran", || {
            self.connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO overview_runs (name, gemeente, done_ms) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![name, gemeente, at.as_millisecond()])?;
            Ok(())
        })
    }

    fn provisional_deadlines(&self) -> Result<Provisional, StoreError> {
        let result: rusqlite::Result<Provisional> = provisional_of(&self.connection);
        result.map_err(StoreError::sqlite("counting provisional deadlines"))
    }
}

/// The columns `feed_row` reads, in its order.
const FEED_COLUMNS: &str =
    "id, name, made_by, on_behalf_of, gemeenten, roles, created, maker_sha256";

fn feed_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Feed, String>> {
    let id: i64 = row.get(0)?;
    let gemeenten: String = row.get(4)?;
    let roles: String = row.get(5)?;
    let list = |text: &str| serde_json::from_str::<Vec<String>>(text).ok();
    let (Some(gemeenten), Some(roles)) = (list(&gemeenten).and_then(Scope::new), list(&roles))
    else {
        return Ok(Err(format!(
            "calendar feed {id}: its gemeenten or roles cannot be read"
        )));
    };
    Ok(Ok(Feed {
        id,
        name: row.get(1)?,
        made_by: row.get(2)?,
        on_behalf_of: row.get(3)?,
        gemeenten,
        roles,
        created: row.get(6)?,
        maker_sha256: row.get(7)?,
    }))
}

/// Audit lines by a filter, oldest first.
fn audit_lines(
    connection: &Connection,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, StoreError> {
    doing("reading the audit log", || {
        let (conditions, values) = audit_conditions(filter);
        let sql = format!(
            "SELECT at, token, on_behalf_of, action, gemeente, case_id, outcome FROM audit
             WHERE {conditions} ORDER BY seq LIMIT {} OFFSET {}",
            filter.limit, filter.offset
        );
        let mut statement = connection.prepare(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok(AuditEntry {
                at: row.get(0)?,
                token: row.get(1)?,
                on_behalf_of: row.get(2)?,
                action: row.get(3)?,
                gemeente: row.get(4)?,
                case: row.get(5)?,
                outcome: row.get(6)?,
            })
        })?;
        rows.collect::<Result<_, _>>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;
    use crate::store::{AuditLog, Outbox};
    use proptest::prelude::*;
    use waakvlam_core::engine::DeadlineState;

    /// A new store in a directory of its own, removed when the returned guard is dropped.
    fn store() -> (SqliteStore, std::path::PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        (SqliteStore::open(&path).unwrap(), path, dir)
    }

    fn event(id: &str) -> Event {
        waakvlam_core::event::validate(
            serde_json::json!({"id": id, "type": "klacht.ingediend", "gemeente": "GM0150",
            "case": "C-1", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}}),
        )
        .unwrap()
    }

    #[test]
    fn migrations_run_once() {
        let (store, path, _dir) = store();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len());
        drop(store);
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.schema_version().unwrap(), MIGRATIONS.len());
    }

    /// A database made before the keyed tables (schema 3) keeps every row through the upgrade.
    #[test]
    fn an_older_database_keeps_its_rows() {
        let (store, path, _dir) = store();
        drop(store);
        std::fs::remove_file(&path).unwrap();
        {
            let old = Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..3] {
                old.execute_batch(migration).unwrap();
            }
            old.pragma_update(None, "user_version", 3).unwrap();
            // A record as that version wrote it: the notification's fields, as today.
            let record = r#"{"id":"n-1","at":"2027-04-28T09:00:00+02:00","kind":"escalation","workflow":"klachttermijnen","instance":"klachttermijnen/GM0150/C-1/K-9","gemeente":"GM0150","case":"C-1","deadline":"in_behandeling","due":"2027-04-27","to":["functionaris"],"level":1,"message":"m"}"#;
            old.execute_batch(
                &"INSERT INTO notifications (id, at_ms, gemeente, case_id, workflow, due, record)
                     VALUES ('n-1', 1, 'GM0150', 'C-1', 'klachttermijnen', '2027-04-27', '{RECORD}');
                 INSERT INTO deliveries (notification_id, channel, status, attempts, next_try_ms)
                     VALUES ('n-1', 'log', 'dead', 8, 1);
                 INSERT INTO deadlines (instance, deadline, occurrence, workflow, gemeente, case_id, due, status)
                     VALUES ('klachttermijnen/GM0150/C-1/K-9', 'in_behandeling', 0, 'klachttermijnen', 'GM0150', 'C-1', '2027-04-27', 'open');
                 INSERT INTO timers (gemeente, case_id, wake_ms) VALUES ('GM0150', 'C-1', 1800000000000);"
                    .replace("{RECORD}", record),
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len());
        let all = Filter::within(Scope::one("GM0150"), 10);
        let deadlines = store.deadlines(&all).unwrap();
        assert_eq!(deadlines.len(), 1);
        assert_eq!(
            (deadlines[0].due, deadlines[0].status.as_str()),
            (Some("2027-04-27".parse().unwrap()), "open")
        );
        let notifications = store.notifications(&all).unwrap();
        assert_eq!(notifications.len(), 1);
        assert_eq!(notifications[0].status, crate::store::DeliveryStatus::Dead);
        let timers = store.timers().unwrap();
        assert_eq!(timers.due.len(), 1);
        assert_eq!(timers.due[0].0.as_millisecond(), 1_800_000_000_000);
    }

    /// A store error says what the store was doing; damaged rows are named, never skipped.
    #[test]
    fn errors_say_what_was_being_done_and_name_damaged_rows() {
        let (mut store, _path, _dir) = store();
        assert!(
            store
                .insert_event(&event("e-1"), Timestamp::UNIX_EPOCH)
                .unwrap()
        );
        assert!(
            store
                .insert_event(&event("e-2"), Timestamp::UNIX_EPOCH)
                .unwrap()
        );
        store
            .connection
            .execute(
                "UPDATE events SET type = 'klacht.verdwenen' WHERE id = 'e-2'",
                [],
            )
            .unwrap();
        let key = CaseKey::new("GM0150", "C-1");
        match store.events_of(&key) {
            Err(StoreError::Damaged { key: damaged, rows }) => {
                assert_eq!(damaged, key);
                assert_eq!(rows, ["event e-2: unknown type 'klacht.verdwenen'"]);
            }
            other => panic!("expected the damaged rows, got {other:?}"),
        }
        store.connection.execute_batch("DROP TABLE audit").unwrap();
        let entry = AuditEntry {
            at: String::new(),
            token: "t".into(),
            on_behalf_of: None,
            action: "case.read".into(),
            gemeente: None,
            case: None,
            outcome: "allowed".into(),
        };
        let message = store.audit(&entry).unwrap_err().to_string();
        assert!(
            message.starts_with("the store failed writing the audit log: no such table: audit"),
            "{message}"
        );
    }

    const GEMEENTEN: [&str; 4] = ["GM0150", "GM0200", "GM0232", "GM0158"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the rows and the scope, a query returns exactly the rows of the scope's
        /// gemeenten: never one outside it, with or without further filters.
        #[test]
        fn a_query_never_reaches_outside_its_scope(
            rows in proptest::collection::vec((0..4usize, 0..3usize, proptest::bool::ANY), 0..40),
            mask in 1..16u8,
        ) {
            let (mut store, _path, _dir) = store();
            let mut by_case: std::collections::BTreeMap<(usize, usize), Vec<DeadlineRow>> =
                Default::default();
            for (n, (g, c, overdue)) in rows.iter().enumerate() {
                let (gemeente, case) = (GEMEENTEN[*g], format!("C-{c}"));
                by_case.entry((*g, *c)).or_default().push(DeadlineRow {
                    instance: format!("klachttermijnen/{gemeente}/{case}/K-{n}"),
                    workflow: "klachttermijnen".into(),
                    gemeente: gemeente.into(),
                    case,
                    deadline: "in_behandeling".into(),
                    occurrence: 0,
                    due: Some("2027-04-27".parse().unwrap()),
                    status: if *overdue {
                        DeadlineState::Overdue
                    } else {
                        DeadlineState::Open
                    },
                    met_at: None,
                    started: Some("2027-04-13".parse().unwrap()),
                    calendar: None,
                });
            }
            for ((g, c), rows) in &by_case {
                store.put_deadlines(&CaseKey::new(GEMEENTEN[*g], &format!("C-{c}")), rows).unwrap();
            }
            let scope = Scope::new(
                (0..4).filter(|i| mask & (1 << i) != 0).map(|i| GEMEENTEN[i].to_string()),
            )
            .unwrap();
            let in_scope = |g: &usize| scope.contains(GEMEENTEN[*g]);
            let found = store.deadlines(&Filter::within(scope.clone(), 1000)).unwrap();
            prop_assert!(found.iter().all(|d| scope.contains(&d.gemeente)));
            prop_assert_eq!(found.len(), rows.iter().filter(|(g, _, _)| in_scope(g)).count());
            let overdue = Filter {
                status: Some(crate::store::Status::Deadline(DeadlineState::Overdue)),
                ..Filter::within(scope.clone(), 1000)
            };
            let found = store.deadlines(&overdue).unwrap();
            prop_assert!(found.iter().all(|d| scope.contains(&d.gemeente)));
            prop_assert_eq!(
                found.len(),
                rows.iter().filter(|(g, _, o)| in_scope(g) && *o).count()
            );
            prop_assert!(store
                .notifications(&Filter::within(scope.clone(), 1000))
                .unwrap()
                .is_empty());
        }
    }
}
