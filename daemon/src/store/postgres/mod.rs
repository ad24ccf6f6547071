//! The store on PostgreSQL, for several daemons sharing one database (DESIGN.md, "Several
//! daemons"). The same contract as the SQLite store, with what sharing adds:
//!
//! - A batch takes its cases first (`claim`: transaction-scoped advisory locks, in a fixed
//!   order), so two daemons never compute one case from different events; a case's events
//!   are read after the lock, so what another daemon committed counts.
//! - Writes nobody reads back within the batch (deadlines, timers, audit lines) are collected
//!   and written in bulk at the commit: a round trip per row would cost most of an event.
//! - A commit that moved timers tells the other daemons which cases (`NOTIFY`, delivered at
//!   the commit and in commit order), so a follower's timers stay current and a takeover
//!   needs no rebuild.
//! - Deliveries are claimed under the leader's epoch before a channel sends them (fencing).

mod connect;
mod feeds;
pub mod lease;
pub mod listen;
mod outbox;
pub mod read;
mod records;
mod schema;

pub use connect::{PgUrl, pgpass_lookup};

pub use lease::Lease;

use std::cell::{RefCell, RefMut};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};

use super::EventRecord;
use super::rows::{self, readable};
use super::{
    AuditEntry, AuditFilter, CaseKey, DeadlineKey, DeadlineRow, Due, DueBatch, Feed, Filter,
    OutboxRow, Outgoing, Provisional, Store, StoreError, Timers,
};
use crate::scope::Scope;
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::CalendarMark;
use waakvlam_core::event::Event;

/// The channel of `NOTIFY` that names cases whose timers moved.
pub const CHANGES: &str = "waakvlam_timers";
/// How long a claimed delivery stays with its leader: longer than any channel's send may
/// take (the timeouts of webhooks and mail are shorter), so a new leader never sends what a
/// dead one may still be sending.
pub const CLAIM_MS: i64 = 120_000;
/// A `NOTIFY` payload stays below PostgreSQL's limit of 8000 bytes.
const PAYLOAD_BYTES: usize = 7_000;

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// The error of a PostgreSQL call made while `doing` something.
pub fn failed(doing: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { doing, source }
}

/// A connection with its prepared statements; reconnects when the server ended it, between
/// transactions (a transaction cut off fails whole and is rolled back by the server).
pub(super) struct Connection {
    url: PgUrl,
    application: String,
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Connection {
    pub(super) fn open(url: &PgUrl, application: &str) -> Result<Connection, StoreError> {
        Ok(Connection {
            client: url.connect(application)?,
            url: url.clone(),
            application: application.to_string(),
            statements: HashMap::new(),
        })
    }

    /// A fresh connection if the server ended this one.
    fn revive(&mut self) -> Result<(), StoreError> {
        if self.client.is_closed() {
            tracing::warn!("the connection to PostgreSQL was lost; connecting again");
            self.reconnect()?;
        }
        Ok(())
    }

    /// A new connection in place of this one (its prepared statements go with it).
    pub(super) fn reconnect(&mut self) -> Result<(), StoreError> {
        self.client = self.url.connect(&self.application)?;
        self.statements.clear();
        Ok(())
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    pub(super) fn execute(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)
    }

    pub(super) fn batch(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }

    pub(super) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    pub(super) fn client_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// Writes collected in a batch, written in bulk at its end.
#[derive(Default)]
struct Pending {
    /// The cases whose deadlines are replaced, and the rows that replace them.
    deadline_cases: Vec<CaseKey>,
    deadlines: Vec<(CaseKey, DeadlineRow)>,
    timers: HashMap<CaseKey, Option<Timestamp>>,
    audit: Vec<AuditEntry>,
    /// New events whose ids were looked up at the start of the batch (`look_up_events`).
    events: Vec<EventRow>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.deadline_cases.is_empty()
            && self.timers.is_empty()
            && self.audit.is_empty()
            && self.events.is_empty()
    }
}

/// An event as it is stored: gemeente, id, type, case, at, at_ms, data, received_at.
type EventRow = (String, String, String, String, String, i64, String, String);

/// The event ids (gemeente, id) a batch looked up before it inserts them, and of those the
/// ones stored: in the database before the batch, or new in it.
#[derive(Default)]
struct KnownEvents {
    looked_up: HashSet<(String, String)>,
    stored: HashSet<(String, String)>,
}

pub struct PgStore {
    connection: RefCell<Connection>,
    /// The daemon's own name: its log position, the lease.
    daemon: String,
    lease: Option<Arc<Lease>>,
    in_transaction: bool,
    pending: RefCell<Pending>,
    /// Events of claimed cases, read in one query at the claim; taken by `events_of`.
    prefetched: RefCell<HashMap<CaseKey, Vec<Event>>>,
    known: KnownEvents,
}

/// Whether `error` says the connection had ended before the statement reached the server, so
/// that it was not carried out: the client found it closed, or the server said it was shutting
/// the session down (SQLSTATE class 57P, operator intervention).
pub(super) fn ended_before(error: &postgres::Error) -> bool {
    error.is_closed()
        || error
            .code()
            .is_some_and(|code| code.code().starts_with("57P"))
}

/// Brings a database to the current schema; several daemons starting at once take turns.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let doing = "bringing the schema up to date";
    let mut tx = connection.client().transaction().map_err(failed(doing))?;
    // One daemon migrates; the others wait and find it done.
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7261846592733)
         ; CREATE TABLE IF NOT EXISTS waakvlam_schema (version INTEGER NOT NULL)",
    )
    .map_err(failed(doing))?;
    let applied: Option<i32> = tx
        .query_opt("SELECT version FROM waakvlam_schema", &[])
        .map_err(failed(doing))?
        .map(|row| row.get(0));
    let applied = applied.unwrap_or(0) as usize;
    if applied > schema::MIGRATIONS.len() {
        return Err(StoreError::Newer {
            path: "the PostgreSQL database".into(),
            found: applied,
            known: schema::MIGRATIONS.len(),
        });
    }
    for migration in &schema::MIGRATIONS[applied..] {
        tx.batch_execute(migration).map_err(failed(doing))?;
    }
    tx.execute("DELETE FROM waakvlam_schema", &[])
        .map_err(failed(doing))?;
    tx.execute(
        "INSERT INTO waakvlam_schema (version) VALUES ($1)",
        &[&(schema::MIGRATIONS.len() as i32)],
    )
    .map_err(failed(doing))?;
    tx.commit().map_err(failed(doing))
}

/// The lock number of a case, for `pg_advisory_xact_lock`: the first eight bytes of its
/// SHA-256. Two cases that share one only wait for each other.
fn case_lock(key: &CaseKey) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(key.gemeente.as_bytes())
        .chain_update([0])
        .chain_update(key.case.as_bytes())
        .finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

/// An event from its row (gemeente, id, type, case_id, at_ms, data), or what is wrong with it.
fn event_row(row: &Row) -> Result<Event, String> {
    super::rows::event_from(
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get::<_, &str>(5),
    )
}

/// A case's events from their rows, or `Damaged` naming every row that cannot be read.
fn case_events(key: &CaseKey, rows: &[Row]) -> Result<Vec<Event>, StoreError> {
    super::rows::case_events(key, rows.iter().map(event_row))
}

const EVENT_COLUMNS: &str = "gemeente, id, type, case_id, at_ms, data";

impl PgStore {
    /// Connects, brings the schema up to date, and takes part as `daemon` (its name in the
    /// lease and for its log position). With a lease, deliveries are claimed under it.
    pub fn open(
        url: &PgUrl,
        daemon: &str,
        lease: Option<Arc<Lease>>,
    ) -> Result<PgStore, StoreError> {
        let mut connection = Connection::open(url, &format!("waakvlam {daemon}"))?;
        migrate(&mut connection)?;
        Ok(PgStore {
            connection: RefCell::new(connection),
            daemon: daemon.to_string(),
            lease,
            in_transaction: false,
            pending: RefCell::default(),
            prefetched: RefCell::default(),
            known: KnownEvents::default(),
        })
    }

    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let rows = self
            .db()?
            .query("SELECT version FROM waakvlam_schema", &[])
            .map_err(failed("reading the schema version"))?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i32>(0) as usize))
    }

    /// The connection, revived first outside a transaction.
    fn db(&self) -> Result<RefMut<'_, Connection>, StoreError> {
        let mut connection = self.connection.borrow_mut();
        if !self.in_transaction {
            connection.revive()?;
        }
        Ok(connection)
    }

    fn query(
        &self,
        doing: &'static str,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, StoreError> {
        self.flush()?;
        self.again_if_ended(doing, |c| c.query(sql, params))
    }

    fn execute(
        &self,
        doing: &'static str,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<u64, StoreError> {
        self.flush()?;
        self.again_if_ended(doing, |c| c.execute(sql, params))
    }

    /// The first column of the first row, when there is a row.
    fn value<T: for<'a> postgres::types::FromSql<'a>>(
        &self,
        doing: &'static str,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .query(doing, sql, params)?
            .first()
            .map(|row| row.get(0)))
    }

    /// A moment stored in milliseconds, read by `value`: none without a row or with NULL.
    fn moment(
        &self,
        doing: &'static str,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .value::<Option<i64>>(doing, sql, params)?
            .flatten()
            .and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }

    /// Runs `work`, and once more on a new connection when the server had ended the old one
    /// before `work` reached it (a restart, an administrator, a link that was cut): the client
    /// learns that only when it next uses the connection. Not inside a transaction, whose
    /// earlier work ended with the connection.
    fn again_if_ended<T>(
        &self,
        doing: &'static str,
        mut work: impl FnMut(&mut Connection) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut connection = self.db()?;
        match work(&mut connection) {
            Err(error) if !self.in_transaction && ended_before(&error) => {
                tracing::warn!(cause = %error, "the connection to PostgreSQL had ended; connecting again");
                connection.reconnect()?;
                work(&mut connection).map_err(failed(doing))
            }
            done => done.map_err(failed(doing)),
        }
    }

    /// Runs `work` in a transaction of its own unless a batch is open (whose transaction
    /// makes it atomic already).
    fn atomically<T>(
        &mut self,
        doing: &'static str,
        work: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.in_transaction {
            return work(self);
        }
        self.begin()?;
        match work(self) {
            Ok(value) => {
                self.finish()?;
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = self.abandon() {
                    tracing::error!(cause = %rollback, doing, "rolling back failed");
                }
                Err(err)
            }
        }
    }

    /// Writes what the batch collected: deadlines, timers, audit lines, each in one
    /// statement; and names the cases whose timers moved to the other daemons.
    fn flush(&self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let mut db = self.db()?;
        if !pending.events.is_empty() {
            let rows = &pending.events;
            let text = |f: fn(&EventRow) -> &str| -> Vec<&str> { rows.iter().map(f).collect() };
            let at_ms: Vec<i64> = rows.iter().map(|r| r.5).collect();
            let stored = db
                .execute(
                    "INSERT INTO events (gemeente, id, type, case_id, at, at_ms, data, received_at)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[])
                     ON CONFLICT (gemeente, id) DO NOTHING",
                    &[
                        &text(|r| &r.0),
                        &text(|r| &r.1),
                        &text(|r| &r.2),
                        &text(|r| &r.3),
                        &text(|r| &r.4),
                        &at_ms,
                        &text(|r| &r.6),
                        &text(|r| &r.7),
                    ],
                )
                .map_err(failed("storing events"))?;
            // The ids were looked up under this batch's locks, but one event id for two cases
            // is locked by neither: another daemon may have stored it since. The batch, which
            // counted it as new, is not taken; sent again, the event is a duplicate.
            if stored != rows.len() as u64 {
                return Err(StoreError::Raced {
                    what: "an event with an id of this batch, for another case",
                });
            }
        }
        if !pending.deadline_cases.is_empty() {
            let (gemeenten, cases): (Vec<&str>, Vec<&str>) = pending
                .deadline_cases
                .iter()
                .map(|k| (k.gemeente.as_str(), k.case.as_str()))
                .unzip();
            db.execute(
                "DELETE FROM deadlines d USING unnest($1::text[], $2::text[]) AS k(gemeente, case_id)
                 WHERE d.gemeente = k.gemeente AND d.case_id = k.case_id",
                &[&gemeenten, &cases],
            )
            .map_err(failed("storing deadlines"))?;
            let rows = &pending.deadlines;
            let column = |f: fn(&(CaseKey, DeadlineRow)) -> Option<String>| -> Vec<Option<String>> {
                rows.iter().map(f).collect()
            };
            let gemeente = column(|(k, _)| Some(k.gemeente.clone()));
            let case = column(|(k, _)| Some(k.case.clone()));
            let instance = column(|(_, r)| Some(r.instance.clone()));
            let deadline = column(|(_, r)| Some(r.deadline.clone()));
            let workflow = column(|(_, r)| Some(r.workflow.clone()));
            let due = column(|(_, r)| r.due.map(|d| d.to_string()));
            let status = column(|(_, r)| Some(r.status.as_str().to_string()));
            let met_at = column(|(_, r)| r.met_at.map(|d| d.to_string()));
            let started = column(|(_, r)| r.started.map(|d| d.to_string()));
            let occurrence: Vec<i64> = rows.iter().map(|(_, r)| i64::from(r.occurrence)).collect();
            let provisional: Vec<bool> = rows
                .iter()
                .map(|(_, r)| r.calendar == Some(CalendarMark::Provisional))
                .collect();
            db.execute(
                "INSERT INTO deadlines (gemeente, case_id, instance, deadline, occurrence, workflow, due, status, provisional, met_at, started)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::text[], $11::text[])",
                &[&gemeente, &case, &instance, &deadline, &occurrence, &workflow, &due, &status, &provisional, &met_at, &started],
            )
            .map_err(failed("storing deadlines"))?;
        }
        if !pending.timers.is_empty() {
            let mut set: (Vec<&str>, Vec<&str>, Vec<i64>) = Default::default();
            let mut gone: (Vec<&str>, Vec<&str>) = Default::default();
            for (key, wake) in &pending.timers {
                match wake {
                    Some(wake) => {
                        set.0.push(&key.gemeente);
                        set.1.push(&key.case);
                        set.2.push(wake.as_millisecond());
                    }
                    None => {
                        gone.0.push(&key.gemeente);
                        gone.1.push(&key.case);
                    }
                }
            }
            if !set.0.is_empty() {
                db.execute(
                    "INSERT INTO timers (gemeente, case_id, wake_ms)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
                     ON CONFLICT (gemeente, case_id) DO UPDATE SET wake_ms = excluded.wake_ms",
                    &[&set.0, &set.1, &set.2],
                )
                .map_err(failed("storing timers"))?;
            }
            if !gone.0.is_empty() {
                db.execute(
                    "DELETE FROM timers t USING unnest($1::text[], $2::text[]) AS k(gemeente, case_id)
                     WHERE t.gemeente = k.gemeente AND t.case_id = k.case_id",
                    &[&gone.0, &gone.1],
                )
                .map_err(failed("storing timers"))?;
            }
            // The other daemons re-read these cases' timers once this commits.
            let keys: Vec<[&str; 2]> = pending
                .timers
                .keys()
                .map(|k| [k.gemeente.as_str(), k.case.as_str()])
                .collect();
            for payload in change_payloads(&self.daemon, &keys) {
                db.execute("SELECT pg_notify($1, $2)", &[&CHANGES, &payload])
                    .map_err(failed("telling the other daemons"))?;
            }
        }
        if !pending.audit.is_empty() {
            let a = &pending.audit;
            let text = |f: fn(&AuditEntry) -> Option<String>| -> Vec<Option<String>> {
                a.iter().map(f).collect()
            };
            db.execute(
                "INSERT INTO audit (at, token, on_behalf_of, action, gemeente, case_id, outcome)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])",
                &[
                    &text(|e| Some(e.at.clone())),
                    &text(|e| Some(e.token.clone())),
                    &text(|e| e.on_behalf_of.clone()),
                    &text(|e| Some(e.action.clone())),
                    &text(|e| e.gemeente.clone()),
                    &text(|e| e.case.clone()),
                    &text(|e| Some(e.outcome.clone())),
                ],
            )
            .map_err(failed("writing the audit log"))?;
        }
        Ok(())
    }

    /// The epoch under which this daemon leads now, if it does.
    fn epoch(&self) -> Option<i64> {
        self.lease.as_ref().and_then(|lease| lease.epoch())
    }
}

/// `NOTIFY` payloads naming cases: the sender, then the keys, each payload short enough.
fn change_payloads(sender: &str, keys: &[[&str; 2]]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut chunk: Vec<&[&str; 2]> = Vec::new();
    let mut size = 0;
    for key in keys {
        let len = key[0].len() + key[1].len() + 8;
        if size + len > PAYLOAD_BYTES && !chunk.is_empty() {
            payloads.push(serde_json::json!({"from": sender, "cases": chunk}).to_string());
            chunk.clear();
            size = 0;
        }
        size += len;
        chunk.push(key);
    }
    if !chunk.is_empty() {
        payloads.push(serde_json::json!({"from": sender, "cases": chunk}).to_string());
    }
    payloads
}

/// The cases a `NOTIFY` payload names, unless this daemon sent it.
pub fn changed_cases(payload: &str, me: &str) -> Option<Vec<CaseKey>> {
    #[derive(serde::Deserialize)]
    struct Changes {
        from: String,
        cases: Vec<[String; 2]>,
    }
    let changes: Changes = serde_json::from_str(payload).ok()?;
    (changes.from != me).then(|| {
        changes
            .cases
            .into_iter()
            .map(|[gemeente, case]| CaseKey { gemeente, case })
            .collect()
    })
}

/// `$1, $2, ...` for the `?` of a condition built for both stores (`where_clause`).
pub(super) fn numbered(sql: &str, first: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = first;
    for c in sql.chars() {
        if c == '?' {
            out.push_str(&format!("${n}"));
            n += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// Text values as parameters.
pub(super) fn texts(values: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Store for PgStore {
    fn claim(&mut self, keys: &[CaseKey]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        // In one order, so that two daemons taking overlapping cases never deadlock.
        let mut locks: Vec<i64> = keys.iter().map(case_lock).collect();
        locks.sort_unstable();
        locks.dedup();
        self.execute(
            "taking cases",
            "SELECT count(pg_advisory_xact_lock(l)) FROM unnest($1::bigint[]) AS l",
            &[&locks],
        )?;
        // Read after the locks: what another daemon committed to these cases counts.
        let (gemeenten, cases): (Vec<&str>, Vec<&str>) = keys
            .iter()
            .map(|k| (k.gemeente.as_str(), k.case.as_str()))
            .unzip();
        let rows = self.query(
            "reading the events of cases",
            &format!(
                "SELECT {EVENT_COLUMNS} FROM events
                 WHERE (gemeente, case_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
                 ORDER BY gemeente, case_id, at_ms, seq"
            ),
            &[&gemeenten, &cases],
        )?;
        let mut by_case: HashMap<CaseKey, Vec<Row>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for row in rows {
            let key = CaseKey {
                gemeente: row.get(0),
                case: row.get(3),
            };
            by_case.entry(key).or_default().push(row);
        }
        let mut prefetched = self.prefetched.borrow_mut();
        for (key, rows) in by_case {
            // A damaged case is read again by `events_of`, which names its rows.
            if let Ok(events) = case_events(&key, &rows) {
                prefetched.insert(key, events);
            }
        }
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    fn look_up_events(&mut self, ids: &[(&str, &str)]) -> Result<(), StoreError> {
        if ids.is_empty() || !self.in_transaction {
            return Ok(());
        }
        let (gemeenten, events): (Vec<&str>, Vec<&str>) = ids.iter().copied().unzip();
        let rows = self.query(
            "looking up event ids",
            "SELECT gemeente, id FROM events
             WHERE (gemeente, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&gemeenten, &events],
        )?;
        self.known
            .looked_up
            .extend(ids.iter().map(|(g, id)| (g.to_string(), id.to_string())));
        self.known
            .stored
            .extend(rows.iter().map(|row| (row.get(0), row.get(1))));
        Ok(())
    }

    fn insert_event(&mut self, e: &Event, received: Timestamp) -> Result<bool, StoreError> {
        self.prefetched
            .borrow_mut()
            .remove(&CaseKey::new(&e.gemeente, &e.case));
        let id = (e.gemeente.clone(), e.id.clone());
        if self.in_transaction && self.known.looked_up.contains(&id) {
            // Written with the batch's other events at its end (or before a read).
            if !self.known.stored.insert(id) {
                return Ok(false);
            }
            self.pending.borrow_mut().events.push((
                e.gemeente.clone(),
                e.id.clone(),
                e.event_type.name().to_string(),
                e.case.clone(),
                waakvlam_core::calendar::format_timestamp(e.at),
                e.at.as_millisecond(),
                serde_json::to_string(&e.data).expect("a JSON map always serialises"),
                received.to_string(),
            ));
            return Ok(true);
        }
        let changed = self.execute(
            "storing an event",
            "INSERT INTO events (gemeente, id, type, case_id, at, at_ms, data, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (gemeente, id) DO NOTHING",
            &[
                &e.gemeente,
                &e.id,
                &e.event_type.name(),
                &e.case,
                &waakvlam_core::calendar::format_timestamp(e.at),
                &e.at.as_millisecond(),
                &serde_json::to_string(&e.data).expect("a JSON map always serialises"),
                &received.to_string(),
            ],
        )?;
        Ok(changed == 1)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.again_if_ended("beginning a transaction", |c| c.batch("BEGIN"))?;
        self.in_transaction = true;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        let flushed = self.flush();
        self.prefetched.borrow_mut().clear();
        self.known = KnownEvents::default();
        flushed?;
        let committed = self
            .connection
            .borrow_mut()
            .batch("COMMIT")
            .map_err(failed("committing a transaction"));
        self.in_transaction = false;
        committed
    }

    fn abandon(&mut self) -> Result<(), StoreError> {
        *self.pending.borrow_mut() = Pending::default();
        self.prefetched.borrow_mut().clear();
        self.known = KnownEvents::default();
        self.in_transaction = false;
        let mut connection = self.connection.borrow_mut();
        if connection.client().is_closed() {
            // The server rolled it back when the connection ended.
            return Ok(());
        }
        connection
            .batch("ROLLBACK")
            .map_err(failed("rolling back a transaction"))
    }

    fn set_timer(&mut self, key: &CaseKey, wake: Option<Timestamp>) -> Result<(), StoreError> {
        self.pending.borrow_mut().timers.insert(key.clone(), wake);
        if !self.in_transaction {
            self.flush()?;
        }
        Ok(())
    }

    fn timers(&self) -> Result<Timers, StoreError> {
        let rows = self.query(
            "reading the timers",
            "SELECT wake_ms, gemeente, case_id FROM timers",
            &[],
        )?;
        let mut timers = Timers::default();
        for row in rows {
            let key = CaseKey {
                gemeente: row.get(1),
                case: row.get(2),
            };
            match Timestamp::from_millisecond(row.get(0)) {
                Ok(at) => timers.due.push((at, key)),
                Err(_) => timers.unreadable.push(key),
            }
        }
        Ok(timers)
    }

    fn timers_of(&self, keys: &[CaseKey]) -> Result<Vec<(CaseKey, Option<Timestamp>)>, StoreError> {
        let (gemeenten, cases): (Vec<&str>, Vec<&str>) = keys
            .iter()
            .map(|k| (k.gemeente.as_str(), k.case.as_str()))
            .unzip();
        let rows = self.query(
            "reading timers",
            "SELECT k.gemeente, k.case_id, t.wake_ms
             FROM unnest($1::text[], $2::text[]) AS k(gemeente, case_id)
             LEFT JOIN timers t ON t.gemeente = k.gemeente AND t.case_id = k.case_id",
            &[&gemeenten, &cases],
        )?;
        Ok(rows
            .iter()
            .map(|row| {
                let wake: Option<i64> = row.get(2);
                (
                    CaseKey {
                        gemeente: row.get(0),
                        case: row.get(1),
                    },
                    wake.and_then(|ms| Timestamp::from_millisecond(ms).ok()),
                )
            })
            .collect())
    }

    fn case_keys(&self) -> Result<Vec<CaseKey>, StoreError> {
        let rows = self.query(
            "listing the cases",
            "SELECT DISTINCT gemeente, case_id FROM events ORDER BY gemeente, case_id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|row| CaseKey {
                gemeente: row.get(0),
                case: row.get(1),
            })
            .collect())
    }

    fn events_of(&self, key: &CaseKey) -> Result<Vec<Event>, StoreError> {
        if let Some(events) = self.prefetched.borrow_mut().remove(key) {
            return Ok(events);
        }
        let rows = self.query(
            "reading a case's events",
            &format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE gemeente = $1 AND case_id = $2 ORDER BY at_ms, seq"
            ),
            &[&key.gemeente, &key.case],
        )?;
        case_events(key, &rows)
    }

    fn put_deadlines(&mut self, key: &CaseKey, rows: &[DeadlineRow]) -> Result<(), StoreError> {
        {
            let mut pending = self.pending.borrow_mut();
            if pending.deadline_cases.contains(key) {
                pending.deadlines.retain(|(k, _)| k != key);
            } else {
                pending.deadline_cases.push(key.clone());
            }
            pending
                .deadlines
                .extend(rows.iter().map(|r| (key.clone(), r.clone())));
        }
        if !self.in_transaction {
            self.atomically("storing deadlines", |store| store.flush())?;
        }
        Ok(())
    }

    fn deadlines(&self, filter: &Filter) -> Result<Vec<DeadlineRow>, StoreError> {
        self.flush()?;
        read::deadlines(&mut *self.db()?, filter)
    }

    fn report(
        &self,
        scope: &crate::scope::Scope,
        period: (Day, Day),
        workflow: Option<&str>,
    ) -> Result<super::ReportRows, StoreError> {
        self.flush()?;
        read::report(&mut *self.db()?, scope, period, workflow)
    }

    fn every_due_date(&self) -> Result<HashMap<DeadlineKey, Option<Day>>, StoreError> {
        let rows = self.query(
            "reading the due dates",
            "SELECT instance, deadline, occurrence, due FROM deadlines",
            &[],
        )?;
        let rows = rows
            .iter()
            .map(|row| {
                let (instance, occurrence): (String, i64) = (row.get(0), row.get(2));
                let due = rows::due_from(&instance, row.get(3))?;
                Ok(((instance, row.get(1), occurrence as u32), due))
            })
            .collect();
        Ok(readable(rows, "due dates")?.into_iter().collect())
    }

    fn case_events(&self, key: &CaseKey) -> Result<Vec<EventRecord>, StoreError> {
        let rows = self.query(
            "reading a case's events",
            "SELECT id, type, at, data FROM events WHERE gemeente = $1 AND case_id = $2 ORDER BY at_ms, seq",
            &[&key.gemeente, &key.case],
        )?;
        let records = rows
            .iter()
            .map(|row| rows::event_record(row.get(0), row.get(1), row.get(2), row.get(3)));
        rows::case_events(key, records)
    }

    fn definitions(&self) -> Result<Option<String>, StoreError> {
        self.value(
            "reading the definitions fingerprint",
            "SELECT fingerprint FROM definitions",
            &[],
        )
    }

    fn set_definitions(&mut self, fingerprint: &str) -> Result<(), StoreError> {
        self.execute(
            "storing the definitions fingerprint",
            "INSERT INTO definitions (slot, fingerprint) VALUES (1, $1)
             ON CONFLICT (slot) DO UPDATE SET fingerprint = excluded.fingerprint",
            &[&fingerprint],
        )?;
        Ok(())
    }

    fn virtual_now(&self) -> Result<Option<Timestamp>, StoreError> {
        self.moment(
            "reading the virtual clock",
            "SELECT now_ms FROM virtual_clock",
            &[],
        )
    }

    fn set_virtual_now(&mut self, now: Timestamp) -> Result<(), StoreError> {
        // Several daemons on virtual clocks (tests) share it: it only moves forward.
        self.execute(
            "storing the virtual clock",
            "INSERT INTO virtual_clock (slot, now_ms) VALUES (1, $1)
             ON CONFLICT (slot) DO UPDATE SET now_ms = greatest(virtual_clock.now_ms, excluded.now_ms)",
            &[&now.as_millisecond()],
        )?;
        Ok(())
    }

    fn overview_done(&self, name: &str, gemeente: &str) -> Result<Option<Timestamp>, StoreError> {
        self.moment(
            "reading when an overview last ran",
            "SELECT done_ms FROM overview_runs WHERE name = $1 AND gemeente = $2",
            &[&name, &gemeente],
        )
    }

    fn set_overview_done(
        &mut self,
        name: &str,
        gemeente: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "storing when an overview ran",
            "INSERT INTO overview_runs (name, gemeente, done_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name, gemeente) DO UPDATE SET done_ms = excluded.done_ms",
            &[&name, &gemeente, &at.as_millisecond()],
        )?;
        Ok(())
    }

    fn provisional_deadlines(&self) -> Result<Provisional, StoreError> {
        let rows = self.query(
            "counting provisional deadlines",
            "SELECT count(*), min(due) FROM deadlines
             WHERE provisional AND status IN ('open', 'overdue', 'suspended', 'unknown')",
            &[],
        )?;
        let row = &rows[0];
        let first_due =
            rows::due_from("the provisional deadlines", row.get(1)).map_err(|problem| {
                StoreError::Unreadable {
                    what: "provisional deadlines",
                    rows: vec![problem],
                }
            })?;
        Ok(Provisional {
            open: row.get::<_, i64>(0) as u64,
            first_due,
        })
    }
}

const FEED_COLUMNS: &str =
    "id, name, made_by, on_behalf_of, gemeenten, roles, created, maker_sha256";

fn feed_row(row: &Row) -> Result<Feed, String> {
    let id: i64 = row.get(0);
    let gemeenten: String = row.get(4);
    let roles: String = row.get(5);
    let list = |text: &str| serde_json::from_str::<Vec<String>>(text).ok();
    let (Some(gemeenten), Some(roles)) = (list(&gemeenten).and_then(Scope::new), list(&roles))
    else {
        return Err(format!(
            "calendar feed {id}: its gemeenten or roles cannot be read"
        ));
    };
    Ok(Feed {
        id,
        name: row.get(1),
        made_by: row.get(2),
        on_behalf_of: row.get(3),
        gemeenten,
        roles,
        created: row.get(6),
        maker_sha256: row.get(7),
    })
}
