//! Reading deadlines beside the writer. SQLite in WAL mode lets readers work while the core
//! thread writes, so a read that scans many rows (the overview of a region, a CSV of every
//! deadline) runs on a connection of its own and never holds up the events coming in.
//!
//! The queries are plain functions of a connection: the writer's store answers the API's
//! reads with them, `Readers` the web pages'. Readers only read: their connections are opened
//! read-only, so not even a mistake here can write.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, params_from_iter};

use super::postgres::read as pg_read;
use super::sqlite::{doing, event_row, readable, where_clause};
use super::{CaseKey, DeadlineRow, Filter, OverviewRow, StoreError};
use crate::scope::Scope;
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::{CalendarMark, DeadlineState};
use waakvlam_core::event::Event;

/// At most this many idle reader connections are kept.
const IDLE_READERS: usize = 4;

/// Connections that only read the store, opened when needed and kept for the next read:
/// read-only connections to the SQLite file, or to the PostgreSQL database.
pub enum Readers {
    Sqlite {
        path: PathBuf,
        idle: Mutex<Vec<Connection>>,
    },
    Postgres(super::postgres::read::PgReaders),
}

impl Readers {
    pub fn new(path: impl Into<PathBuf>) -> Readers {
        Readers::Sqlite {
            path: path.into(),
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn postgres(url: super::PgUrl) -> Readers {
        Readers::Postgres(super::postgres::read::PgReaders::new(url))
    }

    /// The readers of a configured store.
    pub fn of(database: &crate::config::Database) -> Readers {
        match database {
            crate::config::Database::Sqlite(path) => Readers::new(path),
            crate::config::Database::Postgres(url) => Readers::postgres(url.clone()),
        }
    }

    /// Runs a read on an idle SQLite connection, or a new one. Blocking: call it where
    /// blocking is allowed (a blocking thread of the runtime).
    fn read<T>(
        path: &std::path::Path,
        idle: &Mutex<Vec<Connection>>,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A poisoned lock held only a list of connections, each whole.
        let kept = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match kept {
            Some(connection) => connection,
            None => doing("opening a reader", || {
                let connection = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                connection.busy_timeout(std::time::Duration::from_secs(5))?;
                connection.pragma_update(None, "mmap_size", 268_435_456)?;
                Ok(connection)
            })?,
        };
        let result = read(&connection);
        let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(connection);
        }
        result
    }

    pub fn deadlines(&self, filter: &Filter) -> Result<Vec<DeadlineRow>, StoreError> {
        match self {
            Readers::Sqlite { path, idle } => Self::read(path, idle, |c| deadlines(c, filter)),
            Readers::Postgres(pg) => pg.read(|c| pg_read::deadlines(c, filter)),
        }
    }

    pub fn overview(
        &self,
        scope: &Scope,
        today: &str,
        soon_until: &str,
    ) -> Result<Vec<OverviewRow>, StoreError> {
        match self {
            Readers::Sqlite { path, idle } => {
                Self::read(path, idle, |c| overview(c, scope, today, soon_until))
            }
            Readers::Postgres(pg) => pg.read(|c| pg_read::overview(c, scope, today, soon_until)),
        }
    }

    /// Everything a what-if compares with, of every case of the scope.
    pub fn cases(&self, scope: &Scope) -> Result<StoredCases, StoreError> {
        match self {
            Readers::Sqlite { path, idle } => Self::read(path, idle, |c| stored_cases(c, scope)),
            Readers::Postgres(pg) => pg.read(|c| pg_read::stored_cases(c, scope)),
        }
    }

    pub fn due_per_week(
        &self,
        scope: &Scope,
        first_day: Day,
        weeks: u32,
    ) -> Result<Vec<u64>, StoreError> {
        match self {
            Readers::Sqlite { path, idle } => {
                Self::read(path, idle, |c| due_per_week(c, scope, first_day, weeks))
            }
            Readers::Postgres(pg) => pg.read(|c| pg_read::due_per_week(c, scope, first_day, weeks)),
        }
    }

    /// Audit lines, oldest first (`waakvlam audit`, beside a running daemon).
    pub fn audit(&self, filter: &super::AuditFilter) -> Result<Vec<super::AuditEntry>, StoreError> {
        match self {
            Readers::Sqlite { path, .. } => super::SqliteStore::audit_in(path, filter),
            Readers::Postgres(pg) => pg.read(|c| pg_read::audit_lines(c, filter)),
        }
    }
}

/// Deadlines by a filter, sorted by due date.
pub fn deadlines(connection: &Connection, filter: &Filter) -> Result<Vec<DeadlineRow>, StoreError> {
    let rows = doing("listing deadlines", || {
        let (clause, values) = deadline_clause(filter);
        let sql = format!(
            "SELECT {DEADLINE_COLUMNS} FROM deadlines {clause}
             ORDER BY due IS NULL, due, gemeente, case_id, instance, deadline, occurrence LIMIT {} OFFSET {}",
            filter.limit, filter.offset
        );
        let mut statement = connection.prepare(&sql)?;
        let rows = statement.query_map(params_from_iter(values), deadline_row)?;
        rows.collect::<rusqlite::Result<Vec<Result<DeadlineRow, String>>>>()
    })?;
    let mut rows = readable(rows, "deadlines")?;
    if let Some(today) = filter.today.as_deref().and_then(|t| t.parse::<Day>().ok()) {
        for row in &mut rows {
            row.status = row.status_on(today);
        }
    }
    Ok(rows)
}

/// The deadlines of the scope per gemeente and workflow, counted on `today`; due soon is up
/// to and including `soon_until`.
pub fn overview(
    connection: &Connection,
    scope: &Scope,
    today: &str,
    soon_until: &str,
) -> Result<Vec<OverviewRow>, StoreError> {
    doing("counting deadlines for the overview", || {
        let marks = vec!["?"; scope.iter().len()].join(", ");
        let sql = format!(
            "SELECT gemeente, workflow,
                coalesce(sum(status IN ('open', 'overdue') AND due >= ?1), 0),
                coalesce(sum(status IN ('open', 'overdue') AND due >= ?1 AND due <= ?2), 0),
                coalesce(sum(status IN ('open', 'overdue') AND due < ?1), 0),
                coalesce(sum(status = 'missed'), 0)
             FROM deadlines WHERE gemeente IN ({marks})
             GROUP BY gemeente, workflow ORDER BY gemeente, workflow"
        );
        let mut values = vec![today.to_string(), soon_until.to_string()];
        values.extend(scope.iter().map(str::to_string));
        let mut statement = connection.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok(OverviewRow {
                gemeente: row.get(0)?,
                workflow: row.get(1)?,
                open: row.get(2)?,
                due_soon: row.get(3)?,
                overdue: row.get(4)?,
                missed: row.get(5)?,
            })
        })?;
        rows.collect()
    })
}

/// How many deadlines still to be met fall due in each of `weeks` weeks from `first_day`.
pub fn due_per_week(
    connection: &Connection,
    scope: &Scope,
    first_day: Day,
    weeks: u32,
) -> Result<Vec<u64>, StoreError> {
    doing("counting deadlines per week", || {
        let marks = vec!["?"; scope.iter().len()].join(", ");
        // The index on (status, due) serves this: two short ranges of due dates.
        let sql = format!(
            "SELECT CAST((julianday(due) - julianday(?1)) / 7 AS INTEGER) AS week, count(*)
             FROM deadlines
             WHERE status IN ('open', 'overdue') AND due >= ?1 AND due < ?2
               AND gemeente IN ({marks})
             GROUP BY week"
        );
        let end = first_day.add_days(7 * weeks as i32);
        let mut values = vec![first_day.to_string(), end.to_string()];
        values.extend(scope.iter().map(str::to_string));
        let mut counts = vec![0; weeks as usize];
        let mut statement = connection.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, u64>(1)?))
        })?;
        for row in rows {
            let (week, count) = row?;
            if let Some(slot) = usize::try_from(week).ok().and_then(|w| counts.get_mut(w)) {
                *slot = count;
            }
        }
        Ok(counts)
    })
}

/// The columns `deadline_row` reads, in its order.
pub(super) const DEADLINE_COLUMNS: &str =
    "instance, workflow, gemeente, case_id, deadline, occurrence, due, status, provisional";

pub(super) fn deadline_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<DeadlineRow, String>> {
    let instance: String = row.get(0)?;
    let status: String = row.get(7)?;
    let Some(status) = DeadlineState::named(&status) else {
        return Ok(Err(format!(
            "a deadline of {instance}: unknown status '{status}'"
        )));
    };
    Ok(Ok(DeadlineRow {
        instance,
        workflow: row.get(1)?,
        gemeente: row.get(2)?,
        case: row.get(3)?,
        deadline: row.get(4)?,
        occurrence: row.get(5)?,
        due: row.get(6)?,
        status,
        calendar: row.get::<_, bool>(8)?.then_some(CalendarMark::Provisional),
    }))
}

/// The filter's conditions on deadlines. With `today` known, `open` and `overdue` are decided
/// by the due date, as `DeadlineView::status_on` decides them for the rows read.
pub(super) fn deadline_clause(filter: &Filter) -> (String, Vec<String>) {
    let status = filter.status.as_deref();
    let (Some(today), Some(wanted @ ("open" | "overdue"))) = (&filter.today, status) else {
        return where_clause(filter, "due");
    };
    let (clause, mut values) = where_clause(
        &Filter {
            status: None,
            ..filter.clone()
        },
        "due",
    );
    let comparison = if wanted == "open" { ">=" } else { "<" };
    values.push(today.clone());
    (
        format!("{clause} AND status IN ('open', 'overdue') AND due {comparison} ?"),
        values,
    )
}

/// The cases of a scope as the store holds them: their events, their deadlines as last
/// computed, and the ids of the notifications already recorded.
#[derive(Debug, Default)]
pub struct StoredCases {
    pub events: Vec<(CaseKey, Vec<Event>)>,
    /// Cases with a stored event that cannot be read: left out, with why.
    pub damaged: Vec<(CaseKey, String)>,
    pub deadlines: Vec<DeadlineRow>,
    pub notification_ids: std::collections::HashSet<String>,
}

impl StoredCases {
    /// The next event read, in the order of its case (rows come sorted by case): a case with
    /// a row that cannot be read is left out whole, with why.
    pub(crate) fn add(&mut self, key: CaseKey, event: Result<Event, String>) {
        if self.damaged.last().is_some_and(|(k, _)| *k == key) {
            return;
        }
        match event {
            Ok(event) => match self.events.last_mut() {
                Some((k, events)) if *k == key => events.push(event),
                _ => self.events.push((key, vec![event])),
            },
            Err(why) => {
                if self.events.last().is_some_and(|(k, _)| *k == key) {
                    self.events.pop();
                }
                self.damaged.push((key, why));
            }
        }
    }
}

/// Reads the cases of a scope in one read transaction, so the three parts agree.
pub fn stored_cases(connection: &Connection, scope: &Scope) -> Result<StoredCases, StoreError> {
    let marks = vec!["?"; scope.iter().len()].join(", ");
    let codes: Vec<&str> = scope.iter().collect();
    doing("starting a read", || connection.execute_batch("BEGIN"))?;
    let read = (|| {
        let rows = doing("reading the events of a scope", || {
            let mut statement = connection.prepare(&format!(
                "SELECT gemeente, id, type, case_id, at_ms, data FROM events
                 WHERE gemeente IN ({marks}) ORDER BY gemeente, case_id, at_ms, seq"
            ))?;
            let rows = statement.query_map(params_from_iter(&codes), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(3)?,
                    event_row(row)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let mut stored = StoredCases::default();
        for (gemeente, case, event) in rows {
            stored.add(CaseKey { gemeente, case }, event);
        }
        stored.deadlines = deadlines(connection, &Filter::within(scope.clone(), u32::MAX))?;
        stored.notification_ids = doing("reading the notification ids of a scope", || {
            let mut statement = connection.prepare(&format!(
                "SELECT id FROM notifications WHERE gemeente IN ({marks})"
            ))?;
            let ids = statement.query_map(params_from_iter(&codes), |row| row.get(0))?;
            ids.collect()
        })?;
        Ok(stored)
    })();
    // A read transaction ends the same either way; nothing was written.
    let _ = connection.execute_batch("COMMIT");
    read
}
