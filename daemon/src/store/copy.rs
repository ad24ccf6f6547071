//! `waakvlam migrate`: a gemeente's SQLite store copied into an empty PostgreSQL database, so
//! that several daemons can take over from the one that ran on the file.
//!
//! Everything is copied as it stands (events with their order, notifications with every
//! channel's delivery state, deadlines, timers, audit lines, feeds, overview runs, iJw keys,
//! the definitions' fingerprint), in one PostgreSQL transaction: a copy that fails halfway
//! leaves the database as empty as it was. The SQLite file is held under the daemon's own
//! lock meanwhile, so no daemon accepts events into it that the copy would leave behind, and
//! a database some daemon already leads is refused: both would otherwise go on apart.

use std::path::Path;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::OpenFlags;

use super::postgres::failed;
use super::{AuditEntry, PgStore, PgUrl, SqliteStore, StoreError, StoreLock};

/// The PostgreSQL type of a copied column (SQLite's own types are looser).
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Small,
    Text,
    Flag,
}

/// A table copied row for row: the same name and columns in both stores, except where
/// `read` says what to read for them.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    read: Option<&'static str>,
}

use Kind::{Flag, Int, Small, Text};

/// In an order the references allow (deliveries after their notifications).
const TABLES: &[Table] = &[
    Table {
        name: "events",
        columns: &[
            ("seq", Int),
            ("gemeente", Text),
            ("id", Text),
            ("type", Text),
            ("case_id", Text),
            ("at", Text),
            ("at_ms", Int),
            ("data", Text),
            ("received_at", Text),
        ],
        read: None,
    },
    Table {
        name: "notifications",
        columns: &[
            ("id", Text),
            ("at_ms", Int),
            ("gemeente", Text),
            ("case_id", Text),
            ("workflow", Text),
            ("due", Text),
            ("record", Text),
        ],
        read: None,
    },
    Table {
        name: "deliveries",
        columns: &[
            ("notification_id", Text),
            ("channel", Text),
            ("status", Text),
            ("attempts", Int),
            ("next_try_ms", Int),
            ("last_error", Text),
            ("delivered_at", Text),
        ],
        read: None,
    },
    Table {
        name: "deadlines",
        columns: &[
            ("gemeente", Text),
            ("case_id", Text),
            ("instance", Text),
            ("deadline", Text),
            ("occurrence", Int),
            ("workflow", Text),
            ("due", Text),
            ("status", Text),
            ("provisional", Flag),
            ("met_at", Text),
            ("started", Text),
        ],
        read: None,
    },
    Table {
        name: "timers",
        columns: &[("gemeente", Text), ("case_id", Text), ("wake_ms", Int)],
        read: None,
    },
    Table {
        name: "audit",
        columns: &[
            ("seq", Int),
            ("at", Text),
            ("token", Text),
            ("on_behalf_of", Text),
            ("action", Text),
            ("gemeente", Text),
            ("case_id", Text),
            ("outcome", Text),
        ],
        read: None,
    },
    Table {
        name: "feeds",
        columns: &[
            ("id", Int),
            ("token_sha256", Text),
            ("name", Text),
            ("made_by", Text),
            ("on_behalf_of", Text),
            ("gemeenten", Text),
            ("roles", Text),
            ("created", Text),
            ("revoked", Text),
            ("maker_sha256", Text),
        ],
        read: None,
    },
    Table {
        name: "overview_runs",
        columns: &[("name", Text), ("gemeente", Text), ("done_ms", Int)],
        read: None,
    },
    Table {
        name: "ijw_messages",
        columns: &[("key", Text), ("digest", Text)],
        read: None,
    },
    Table {
        name: "ijw_products",
        columns: &[("key", Text), ("event", Text)],
        read: None,
    },
    // One row each, which a daemon that started on the empty database may have written:
    // replaced by the store's own. SQLite names their key column `only`, a word PostgreSQL
    // reserves.
    Table {
        name: "definitions",
        columns: &[("slot", Small), ("fingerprint", Text)],
        read: Some("1, fingerprint"),
    },
    Table {
        name: "virtual_clock",
        columns: &[("slot", Small), ("now_ms", Int)],
        read: Some("1, now_ms"),
    },
];

/// Tables of one row that a daemon writes on an empty database too (the definitions'
/// fingerprint, where a virtual clock stands): replaced by the store's, where the other
/// tables must be empty.
const REPLACED: &[&str] = &["definitions", "virtual_clock"];

/// The identity columns, set past the copied rows so that new rows follow them.
const IDENTITIES: &[(&str, &str)] = &[("events", "seq"), ("audit", "seq"), ("feeds", "id")];

/// What was copied: rows per table, and the deliveries still to be made.
#[derive(Debug)]
pub struct Copied {
    pub rows: Vec<(&'static str, u64)>,
    pub pending_deliveries: u64,
    pub dead_deliveries: u64,
}

impl Copied {
    pub fn count(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .find(|(name, _)| *name == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// Why a copy was not made.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("there is no store at {0}")]
    NoStore(String),
    #[error(
        "{0}; stop it before the copy: the events it accepts after the copy would be left behind"
    )]
    InUse(super::lock::LockError),
    #[error(
        "{url} is in use by a waakvlam ({holder}): stop every daemon on it before copying a store into it"
    )]
    Led { url: String, holder: String },
    #[error(
        "{url} holds data already ({what}): a store is copied into an empty database only, so that nothing is mixed or overwritten"
    )]
    NotEmpty { url: String, what: String },
    #[error(
        "the copy of {table} has {copied} rows where the store has {stored}: nothing was copied"
    )]
    Short {
        table: &'static str,
        stored: u64,
        copied: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies the SQLite store at `from` into the empty PostgreSQL database `to`; `holder` names
/// this process in the SQLite store's lock meanwhile.
pub fn sqlite_to_postgres(from: &Path, to: &PgUrl, holder: &str) -> Result<Copied, CopyError> {
    if !from.exists() {
        return Err(CopyError::NoStore(from.display().to_string()));
    }
    let _lock = StoreLock::acquire(from, holder).map_err(CopyError::InUse)?;
    // An older store is brought to this version's schema first, as a daemon would at start.
    drop(SqliteStore::open(from)?);
    let mut source = rusqlite::Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::sqlite("opening the store to copy it"))?;
    let source = source
        .transaction()
        .map_err(StoreError::sqlite("reading the store"))?;
    // The target's schema, made (or checked) as a daemon makes it.
    drop(PgStore::open(to, "migrate", None)?);
    let mut client = to.connect("waakvlam migrate")?;
    let mut tx = client.transaction().map_err(failed("starting the copy"))?;
    // Whoever leads must wait for the copy, and no daemon may take the lead during it.
    tx.batch_execute("LOCK TABLE leader IN EXCLUSIVE MODE")
        .map_err(failed("locking the database for the copy"))?;
    if let Some(row) = tx
        .query_opt(
            "SELECT holder FROM leader WHERE holder IS NOT NULL AND expires > now()",
            &[],
        )
        .map_err(failed("reading who leads"))?
    {
        return Err(CopyError::Led {
            url: to.to_string(),
            holder: row.get(0),
        });
    }
    let mut held = Vec::new();
    for table in TABLES.iter().filter(|t| !REPLACED.contains(&t.name)) {
        let rows: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {}", table.name), &[])
            .map_err(failed("looking whether the database is empty"))?
            .get(0);
        if rows > 0 {
            held.push(format!("{}: {rows} rows", table.name));
        }
    }
    if !held.is_empty() {
        return Err(CopyError::NotEmpty {
            url: to.to_string(),
            what: held.join(", "),
        });
    }
    for name in REPLACED {
        tx.execute(&format!("DELETE FROM {name}"), &[])
            .map_err(failed("clearing what a daemon wrote for no data"))?;
    }
    let mut rows = Vec::new();
    for table in TABLES {
        let stored: u64 = source
            .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                r.get(0)
            })
            .map_err(StoreError::sqlite("counting the store's rows"))?;
        let copied = copy_table(&source, &mut tx, table)?;
        if copied != stored {
            return Err(CopyError::Short {
                table: table.name,
                stored,
                copied,
            });
        }
        rows.push((table.name, copied));
    }
    for (table, column) in IDENTITIES {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                               coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .map_err(failed("moving the numbering past the copied rows"))?;
    }
    copy_log_position(&source, &mut tx)?;
    let (pending_deliveries, dead_deliveries) = {
        let row = tx
            .query_one(
                "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'dead') FROM deliveries",
                &[],
            )
            .map_err(failed("counting the deliveries"))?;
        (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64)
    };
    // The copy read every case: that is in the audit log it copied, as any read is, once for
    // each gemeente whose cases it read (each gemeente's privacy officer sees their own).
    let gemeenten: Vec<String> = tx
        .query(
            "SELECT DISTINCT gemeente FROM events ORDER BY gemeente",
            &[],
        )
        .map_err(failed("listing the gemeenten copied"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for gemeente in gemeenten {
        let entry = AuditEntry {
            at: jiff::Timestamp::now().to_string(),
            token: "cli".into(),
            on_behalf_of: None,
            action: "store.migrate".into(),
            gemeente: Some(gemeente),
            case: None,
            outcome: "allowed".into(),
        };
        tx.execute(
            "INSERT INTO audit (at, token, on_behalf_of, action, gemeente, case_id, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&entry.at, &entry.token, &entry.on_behalf_of, &entry.action, &entry.gemeente, &entry.case, &entry.outcome],
        )
        .map_err(failed("writing the audit log"))?;
    }
    tx.commit().map_err(failed("committing the copy"))?;
    Ok(Copied {
        rows,
        pending_deliveries,
        dead_deliveries,
    })
}

/// One table's rows, streamed from SQLite into PostgreSQL's binary `COPY`; returns how many.
fn copy_table(
    source: &rusqlite::Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &Table,
) -> Result<u64, StoreError> {
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let columns = names.join(", ");
    let types: Vec<Type> = table
        .columns
        .iter()
        .map(|(_, kind)| match kind {
            Int => Type::INT8,
            Small => Type::INT4,
            Text => Type::TEXT,
            Flag => Type::BOOL,
        })
        .collect();
    let doing = "copying rows into PostgreSQL";
    let sink = tx
        .copy_in(&format!(
            "COPY {} ({columns}) FROM STDIN (FORMAT binary)",
            table.name
        ))
        .map_err(failed(doing))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    // Identities are copied with their values, so the order of the rows does not matter.
    let mut statement = source
        .prepare(&format!(
            "SELECT {} FROM {}",
            table.read.unwrap_or(&columns),
            table.name
        ))
        .map_err(StoreError::sqlite("reading the store"))?;
    let mut rows = statement
        .query([])
        .map_err(StoreError::sqlite("reading the store"))?;
    let reading = StoreError::sqlite("reading the store");
    let mut values: Vec<Value> = Vec::with_capacity(table.columns.len());
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(error) => return Err(reading(error)),
        };
        values.clear();
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            let value = match kind {
                Int => row.get(i).map(Value::Int),
                Small => row.get(i).map(Value::Small),
                Text => row.get(i).map(Value::Text),
                Flag => row
                    .get::<_, Option<i64>>(i)
                    .map(|flag| Value::Flag(flag.map(|f| f != 0))),
            };
            values.push(value.map_err(StoreError::sqlite("reading the store"))?);
        }
        let parameters: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::as_sql).collect();
        writer.write(&parameters).map_err(failed(doing))?;
    }
    writer.finish().map_err(failed(doing))
}

/// One copied value; NULL where the store has none.
enum Value {
    Int(Option<i64>),
    Small(Option<i32>),
    Text(Option<String>),
    Flag(Option<bool>),
}

impl Value {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Int(v) => v,
            Value::Small(v) => v,
            Value::Text(v) => v,
            Value::Flag(v) => v,
        }
    }
}

/// How far the log channel's file was written, for a daemon on this machine that goes on
/// writing the same file (a daemon's log position is named by its host and the file). A
/// daemon elsewhere reads its own file from the start, as after any change of file.
fn copy_log_position(
    source: &rusqlite::Connection,
    tx: &mut postgres::Transaction<'_>,
) -> Result<(), StoreError> {
    let position: Option<(String, i64)> = source
        .query_row("SELECT path, bytes FROM log_position", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .map(Some)
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            error => Err(error),
        })
        .map_err(StoreError::sqlite("reading the log position"))?;
    if let Some((path, bytes)) = position {
        let daemon = format!("{} {path}", super::lock::host_name());
        tx.execute(
            "INSERT INTO log_positions (daemon, path, bytes) VALUES ($1, $2, $3)
             ON CONFLICT (daemon) DO UPDATE SET path = excluded.path, bytes = excluded.bytes",
            &[&daemon, &path, &bytes],
        )
        .map_err(failed("copying the log position"))?;
    }
    Ok(())
}
