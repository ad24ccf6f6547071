//! The embedded store: one SQLite file in WAL mode, with versioned migrations.

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, params, params_from_iter};

use super::{AuditEntry, DeadlineRow, Filter, Insert, OutboxRow, Store, StoreError};
use crate::engine::Notification;
use crate::event::{Event, EventType};

/// The migrations, in order; the database remembers how many it has applied
/// (`PRAGMA user_version`). Never edit one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    gemeente    TEXT NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    at          TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    data        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (gemeente, id)
);
CREATE INDEX events_by_case ON events (gemeente, case_id, at_ms, seq);

CREATE TABLE notifications (
    id            TEXT PRIMARY KEY,
    at_ms         INTEGER NOT NULL,
    gemeente      TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    workflow      TEXT NOT NULL,
    due           TEXT,
    record        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_try_ms   INTEGER NOT NULL,
    last_error    TEXT,
    delivered_at  TEXT
);
CREATE INDEX notifications_to_deliver ON notifications (status, next_try_ms);
CREATE INDEX notifications_by_case ON notifications (gemeente, case_id);

CREATE TABLE deadlines (
    instance    TEXT NOT NULL,
    deadline    TEXT NOT NULL,
    occurrence  INTEGER NOT NULL,
    workflow    TEXT NOT NULL,
    gemeente    TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    due         TEXT,
    status      TEXT NOT NULL,
    PRIMARY KEY (instance, deadline, occurrence)
);
CREATE INDEX deadlines_by_case ON deadlines (gemeente, case_id);
CREATE INDEX deadlines_by_due ON deadlines (status, due);

CREATE TABLE audit (
    seq           INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    token         TEXT NOT NULL,
    on_behalf_of  TEXT,
    action        TEXT NOT NULL,
    gemeente      TEXT,
    case_id       TEXT
);
"#];

pub struct SqliteStore {
    connection: Connection,
}

impl SqliteStore {
    /// Opens (or creates) the database and brings it to the current schema.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut connection = Connection::open(path)?;
        // WAL: readers do not block the writer; synchronous=FULL: a commit survives power loss,
        // which is what "acknowledged means durable" asks.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let applied: usize =
            connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        for (version, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = connection.transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
        Ok(SqliteStore { connection })
    }

    pub fn schema_version(&self) -> Result<usize, StoreError> {
        Ok(self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }
}

fn insert_notifications(
    tx: &rusqlite::Transaction<'_>,
    notifications: &[Notification],
) -> Result<(), StoreError> {
    let mut statement = tx.prepare_cached(
        "INSERT OR IGNORE INTO notifications (id, at_ms, gemeente, case_id, workflow, due, record, next_try_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?2)",
    )?;
    for n in notifications {
        let record = serde_json::to_string(n).expect("a notification always serialises");
        statement.execute(params![
            n.id,
            n.at.as_millisecond(),
            n.gemeente,
            n.case,
            n.workflow,
            n.due.map(|d| d.to_string()),
            record
        ])?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn commit(
        &mut self,
        events: &[Event],
        notifications: &[Notification],
        received: Timestamp,
    ) -> Result<Vec<Insert>, StoreError> {
        let tx = self.connection.transaction()?;
        let mut outcomes = Vec::with_capacity(events.len());
        {
            let mut statement = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (gemeente, id, type, case_id, at, at_ms, data, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for e in events {
                let changed = statement.execute(params![
                    e.gemeente,
                    e.id,
                    e.event_type.name(),
                    e.case,
                    crate::calendar::format_timestamp(e.at),
                    e.at.as_millisecond(),
                    serde_json::Value::Object(e.data.clone()).to_string(),
                    received.to_string()
                ])?;
                outcomes.push(if changed == 1 {
                    Insert::Accepted
                } else {
                    Insert::Duplicate
                });
            }
        }
        insert_notifications(&tx, notifications)?;
        tx.commit()?;
        Ok(outcomes)
    }

    fn exists(&self, gemeente: &str, id: &str) -> Result<bool, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT 1 FROM events WHERE gemeente = ?1 AND id = ?2")?;
        Ok(statement.exists(params![gemeente, id])?)
    }

    fn record(&mut self, notifications: &[Notification]) -> Result<(), StoreError> {
        let tx = self.connection.transaction()?;
        insert_notifications(&tx, notifications)?;
        tx.commit()?;
        Ok(())
    }

    fn all_events(&self) -> Result<Vec<Event>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT gemeente, id, type, case_id, at_ms, data FROM events ORDER BY gemeente, case_id, at_ms, seq",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
            ))
        })?;
        let mut events = Vec::new();
        for row in rows {
            let (gemeente, id, type_name, case, at_ms, data) = row?;
            // Only validated events are stored, so these conversions hold; a row that does not
            // convert (a vocabulary change) is skipped rather than stopping the daemon.
            let (Some(event_type), Ok(at), Ok(serde_json::Value::Object(data))) = (
                EventType::from_name(&type_name),
                Timestamp::from_millisecond(at_ms),
                serde_json::from_str(&data),
            ) else {
                continue;
            };
            events.push(Event {
                id,
                event_type,
                gemeente,
                case,
                at,
                data,
            });
        }
        Ok(events)
    }

    fn put_deadlines(
        &mut self,
        gemeente: &str,
        case: &str,
        rows: &[DeadlineRow],
    ) -> Result<(), StoreError> {
        let tx = self.connection.transaction()?;
        tx.execute(
            "DELETE FROM deadlines WHERE gemeente = ?1 AND case_id = ?2",
            params![gemeente, case],
        )?;
        {
            let mut statement = tx.prepare_cached(
                "INSERT OR REPLACE INTO deadlines (instance, deadline, occurrence, workflow, gemeente, case_id, due, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for r in rows {
                statement.execute(params![
                    r.instance,
                    r.deadline,
                    r.occurrence,
                    r.workflow,
                    r.gemeente,
                    r.case,
                    r.due,
                    r.status
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn deadlines(&self, filter: &Filter) -> Result<Vec<DeadlineRow>, StoreError> {
        let (clause, values) = where_clause(filter, "due");
        let sql = format!(
            "SELECT instance, workflow, gemeente, case_id, deadline, occurrence, due, status FROM deadlines {clause}
             ORDER BY due IS NULL, due, gemeente, case_id, instance, deadline, occurrence LIMIT {} OFFSET {}",
            filter.limit, filter.offset
        );
        let mut statement = self.connection.prepare(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok(DeadlineRow {
                instance: row.get(0)?,
                workflow: row.get(1)?,
                gemeente: row.get(2)?,
                case: row.get(3)?,
                deadline: row.get(4)?,
                occurrence: row.get(5)?,
                due: row.get(6)?,
                status: row.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn notifications(&self, filter: &Filter) -> Result<Vec<OutboxRow>, StoreError> {
        let (clause, values) = where_clause(filter, "due");
        let sql = format!(
            "SELECT record, status, attempts, last_error FROM notifications {clause}
             ORDER BY at_ms, id LIMIT {} OFFSET {}",
            filter.limit, filter.offset
        );
        let mut statement = self.connection.prepare(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            let record: String = row.get(0)?;
            Ok(OutboxRow {
                record: serde_json::from_str(&record).unwrap_or(serde_json::Value::Null),
                status: row.get(1)?,
                attempts: row.get(2)?,
                last_error: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn case_events(
        &self,
        gemeente: &str,
        case: &str,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT id, type, at, data FROM events WHERE gemeente = ?1 AND case_id = ?2 ORDER BY at_ms, seq",
        )?;
        let rows = statement.query_map(params![gemeente, case], |row| {
            let data: String = row.get(3)?;
            Ok(serde_json::json!({
                "id": row.get::<_, String>(0)?,
                "type": row.get::<_, String>(1)?,
                "at": row.get::<_, String>(2)?,
                "data": serde_json::from_str::<serde_json::Value>(&data).unwrap_or(serde_json::Value::Null),
            }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn pending(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(String, serde_json::Value, u32)>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, record, attempts FROM notifications WHERE status = 'pending' AND next_try_ms <= ?1
             ORDER BY next_try_ms, id LIMIT ?2",
        )?;
        let rows = statement.query_map(params![now.as_millisecond(), limit], |row| {
            let record: String = row.get(1)?;
            Ok((
                row.get(0)?,
                serde_json::from_str(&record).unwrap_or(serde_json::Value::Null),
                row.get(2)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delivered(&mut self, id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE notifications SET status = 'delivered', attempts = attempts + 1, delivered_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, at.to_string()],
        )?;
        Ok(())
    }

    fn failed(
        &mut self,
        id: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        match retry_at {
            Some(at) => self.connection.execute(
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?2, next_try_ms = ?3 WHERE id = ?1",
                params![id, error, at.as_millisecond()],
            )?,
            None => self.connection.execute(
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?2, status = 'dead' WHERE id = ?1",
                params![id, error],
            )?,
        };
        Ok(())
    }

    fn audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO audit (at, token, on_behalf_of, action, gemeente, case_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![entry.at, entry.token, entry.on_behalf_of, entry.action, entry.gemeente, entry.case],
        )?;
        Ok(())
    }

    fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT at, token, on_behalf_of, action, gemeente, case_id FROM audit ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = statement.query_map(params![limit], |row| {
            Ok(AuditEntry {
                at: row.get(0)?,
                token: row.get(1)?,
                on_behalf_of: row.get(2)?,
                action: row.get(3)?,
                gemeente: row.get(4)?,
                case: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// `WHERE` for a filter, with its values in order. Column names are fixed here; every value
/// is a bound parameter.
fn where_clause(filter: &Filter, due_column: &str) -> (String, Vec<String>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if !filter.gemeenten.is_empty() {
        let marks = vec!["?"; filter.gemeenten.len()].join(", ");
        conditions.push(format!("gemeente IN ({marks})"));
        values.extend(filter.gemeenten.iter().cloned());
    }
    for (column, value) in [
        ("workflow", &filter.workflow),
        ("status", &filter.status),
        ("case_id", &filter.case),
    ] {
        if let Some(value) = value {
            conditions.push(format!("{column} = ?"));
            values.push(value.clone());
        }
    }
    if let Some(from) = &filter.due_from {
        conditions.push(format!("{due_column} >= ?"));
        values.push(from.clone());
    }
    if let Some(to) = &filter.due_to {
        conditions.push(format!("{due_column} <= ?"));
        values.push(to.clone());
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (clause, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (SqliteStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "waakvlam-store-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.db");
        let _ = std::fs::remove_file(&path);
        (SqliteStore::open(&path).unwrap(), path)
    }

    fn event(id: &str) -> Event {
        crate::event::validate(
            serde_json::json!({"id": id, "type": "klacht.ingediend", "gemeente": "GM0150",
            "case": "C-1", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}}),
        )
        .unwrap()
    }

    #[test]
    fn migrations_run_once() {
        let (store, path) = store();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len());
        drop(store);
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.schema_version().unwrap(), MIGRATIONS.len());
    }

    #[test]
    fn events_are_deduplicated_per_gemeente_and_id() {
        let (mut store, _) = store();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        assert_eq!(
            store
                .commit(&[event("e-1"), event("e-2")], &[], now)
                .unwrap(),
            [Insert::Accepted, Insert::Accepted]
        );
        assert_eq!(
            store.commit(&[event("e-1")], &[], now).unwrap(),
            [Insert::Duplicate]
        );
        assert!(store.exists("GM0150", "e-1").unwrap());
        assert!(!store.exists("GM0200", "e-1").unwrap());
        let events = store.all_events().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], event("e-1"));
    }

    #[test]
    fn deliveries_are_retried_then_dead() {
        let (mut store, _) = store();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let notification = crate::engine::Notification {
            id: "n-1".into(),
            at: now,
            kind: crate::engine::Kind::Reminder,
            workflow: "klachttermijnen".into(),
            instance: "i".into(),
            gemeente: "GM0150".into(),
            case: "C-1".into(),
            deadline: "in_behandeling".into(),
            due: None,
            to: vec!["teamleider".into()],
            level: 0,
            message: "m".into(),
        };
        store.record(std::slice::from_ref(&notification)).unwrap();
        store.record(&[notification]).unwrap();
        assert_eq!(store.pending(now, 10).unwrap().len(), 1);
        let later = Timestamp::from_second(now.as_second() + 60).unwrap();
        store
            .failed("n-1", "connection refused", Some(later))
            .unwrap();
        assert!(store.pending(now, 10).unwrap().is_empty());
        assert_eq!(store.pending(later, 10).unwrap()[0].2, 1);
        store.failed("n-1", "connection refused", None).unwrap();
        let rows = store
            .notifications(&Filter {
                limit: 10,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(
            (
                rows[0].status.as_str(),
                rows[0].attempts,
                rows[0].last_error.as_deref()
            ),
            ("dead", 2, Some("connection refused"))
        );
    }
}
