//! Reading deadlines beside the writer. SQLite in WAL mode lets readers work while the scheduler
//! thread writes, so a read that scans many rows (the overview of a region, a CSV of every
//! deadline) runs on a connection of its own and never holds up the events coming in.
//!
//! The queries are plain functions of a connection: the writer's store answers the API's
//! reads with them, `Readers` the web pages'. Readers only read: their connections are opened
//! read-only, so not even a mistake here can write.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use super::postgres::read as pg_read;
use super::rows::StoredCases;
use super::sqlite::doing;
use super::sqlite::read::{deadlines, due_per_week, overview, report, stored_cases};
use super::{DeadlineRow, Filter, OverviewRow, StoreError};
use crate::scope::Scope;
use waakvlam_core::calendar::Day;

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
    pub fn of(database: &super::Database) -> Readers {
        match database {
            super::Database::Sqlite(path) => Readers::new(path),
            super::Database::Postgres(url) => Readers::postgres(url.clone()),
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

    /// What a report over `from..=to` counts (see [`crate::report`]).
    pub fn report(
        &self,
        scope: &Scope,
        period: (Day, Day),
        workflow: Option<&str>,
    ) -> Result<super::ReportRows, StoreError> {
        match self {
            Readers::Sqlite { path, idle } => {
                Self::read(path, idle, |c| report(c, scope, period, workflow))
            }
            Readers::Postgres(pg) => pg.read(|c| pg_read::report(c, scope, period, workflow)),
        }
    }

    /// Where a virtual clock stands (a test daemon's), if the store has one.
    pub fn virtual_now(&self) -> Result<Option<jiff::Timestamp>, StoreError> {
        let ms: Option<i64> = match self {
            Readers::Sqlite { path, idle } => Self::read(path, idle, |c| {
                doing("reading the virtual clock", || {
                    let mut statement = c.prepare("SELECT now_ms FROM virtual_clock")?;
                    let mut rows = statement.query_map([], |row| row.get(0))?;
                    rows.next().transpose()
                })
            })?,
            Readers::Postgres(pg) => pg.read(|c| {
                let rows = c
                    .query("SELECT now_ms FROM virtual_clock", &[])
                    .map_err(super::postgres::failed("reading the virtual clock"))?;
                Ok(rows.first().map(|row| row.get(0)))
            })?,
        };
        Ok(ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()))
    }

    /// Audit lines, oldest first (`waakvlam audit`, beside a running daemon).
    pub fn audit(&self, filter: &super::AuditFilter) -> Result<Vec<super::AuditEntry>, StoreError> {
        match self {
            Readers::Sqlite { path, .. } => super::SqliteStore::audit_in(path, filter),
            Readers::Postgres(pg) => pg.read(|c| pg_read::audit_lines(c, filter)),
        }
    }
}
