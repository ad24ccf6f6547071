//! The store: the only module with SQL. An append-only event log deduplicated per gemeente and
//! event id, the outbox of notifications with their delivery state, the deadlines as the
//! engine last computed them (for queries), and the audit log.
//!
//! Engine state itself is not stored: it is a pure function of the events (ARCHITECTURE.md),
//! so the daemon rebuilds it after a restart by replaying the log.

pub mod copy;
pub mod lock;
pub mod postgres;
pub mod reader;
pub mod rows;
mod sqlite;

pub use lock::StoreLock;
pub use postgres::{PgStore, PgUrl};
pub use reader::Readers;
pub use rows::StoredCases;
pub use sqlite::SqliteStore;

use std::collections::HashMap;

use jiff::Timestamp;

use crate::scope::Scope;
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::{DeadlineState, Notification};
use waakvlam_core::event::Event;

/// What went wrong in the store, and what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store failed {doing}: {source}")]
    Sqlite {
        doing: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the store failed {doing}: {}", postgres_cause(.source))]
    Postgres {
        doing: &'static str,
        #[source]
        source: ::postgres::Error,
    },
    #[error("the store failed {doing}: {source}")]
    Io {
        doing: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Stored rows of a case that cannot be read back. The case is never rebuilt from part of
    /// its events: it is out of service until the rows are repaired.
    #[error("case {} of {}: stored rows cannot be read: {}", .key.case, .key.gemeente, .rows.join("; "))]
    Damaged { key: CaseKey, rows: Vec<String> },
    /// A store a newer version has migrated: an older binary would misread it, so it stops.
    #[error(
        "the store {path} was written by a newer Waakvlam (its schema is version {found}; this binary knows up to {known}): run that version or a newer one; a store is never migrated back (README.md, \"Upgrading\")"
    )]
    Newer {
        path: String,
        found: usize,
        known: usize,
    },
    /// Another daemon wrote what this batch counted on writing first; nothing of the batch
    /// was taken, and sent again it is answered from what is stored now.
    #[error(
        "another daemon stored {what} at the same moment; nothing of this batch was taken: send it again"
    )]
    Raced { what: &'static str },
    /// Stored rows outside a case's events that cannot be read back (a notification record).
    #[error("stored {what} cannot be read: {}", .rows.join("; "))]
    Unreadable {
        what: &'static str,
        rows: Vec<String>,
    },
}

impl StoreError {
    /// The error of an SQLite call made while `doing` something (`"storing an event"`).
    pub fn sqlite(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sqlite { doing, source }
    }

    /// The error of a file operation made while `doing` something.
    pub fn io(doing: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
        move |source| StoreError::Io { doing, source }
    }
}

/// Writes one audit line into a store beside a running daemon (a command-line read of
/// personal data, such as finding a case from a BSN).
pub fn audit_to(database: &Database, entry: &AuditEntry) -> Result<(), StoreError> {
    match database {
        Database::Sqlite(path) => SqliteStore::audit_to(path, entry),
        Database::Postgres(url) => {
            let mut store = PgStore::open(url, "command line", None)?;
            store.audit(entry)
        }
    }
}

/// A PostgreSQL error with the server's own message when there is one ("db error" alone
/// says nothing).
fn postgres_cause(error: &::postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}

/// A case: cases are per gemeente, so a case id alone does not name one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseKey {
    pub gemeente: String,
    pub case: String,
}

impl CaseKey {
    pub fn new(gemeente: &str, case: &str) -> CaseKey {
        CaseKey {
            gemeente: gemeente.to_string(),
            case: case.to_string(),
        }
    }
}

/// A deadline's key: instance, deadline, occurrence.
pub type DeadlineKey = (String, String, u32);

/// A deadline as the engine sees it now, for the API.
/// Where the daemon keeps its store (`daemon.database`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// One SQLite file: one daemon (the default).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database (`postgres://ROLE@HOST/DATABASE`), which several daemons may
    /// share (DESIGN.md, "Several daemons").
    Postgres(PgUrl),
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => write!(f, "{url}"),
        }
    }
}

pub use waakvlam_core::engine::DeadlineView as DeadlineRow;

/// What a report counts: the occurrences due in its period and the escalations sent for them.
pub type ReportRows = (
    Vec<waakvlam_core::report::ReportInput>,
    waakvlam_core::report::Escalations,
);

/// One line of the NEN 7513 audit log: what, when, which case, which token, on whose behalf.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub at: String,
    /// The token's name; `-` when the request had no known token.
    pub token: String,
    pub on_behalf_of: Option<String>,
    pub action: String,
    pub gemeente: Option<String>,
    pub case: Option<String>,
    /// `allowed`, or `refused: <status> <why>`: attempts are logged too (NEN 7513).
    pub outcome: String,
}

/// Which audit lines to read: a period of days, and optionally a gemeente and a case.
#[derive(Clone, Debug)]
pub struct AuditFilter {
    /// Only lines of these gemeenten.
    pub scope: Scope,
    /// Also the lines of no gemeente (requests without a valid token, the operator's own
    /// commands): for the operator on the server (`waakvlam audit`), never for a token.
    pub unattributed: bool,
    /// First and last day, inclusive (UTC days, as the lines are kept).
    pub from: Option<Day>,
    pub to: Option<Day>,
    pub case: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// A notification in the outbox with its delivery state: `status` is `dead` if a channel gave
/// up on it, `pending` while a channel still has to deliver it, `delivered` when all have.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OutboxRow {
    pub record: Notification,
    pub status: DeliveryStatus,
    pub deliveries: Vec<DeliveryState>,
}

/// Where a delivery stands (and, for a notification, the worst of its deliveries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up on: a dead letter.
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub fn named(name: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One channel's delivery of one notification.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryState {
    pub channel: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When a pending delivery is tried (next), in Amsterdam time: after a backoff, or at the
    /// digest hour. Absent once it is delivered or dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_try: Option<String>,
}

/// A notification to record, with the channels that must deliver it.
pub struct Outgoing<'a> {
    pub notification: &'a Notification,
    /// The notification as JSON, as the outbox keeps it and the log channel writes it.
    pub record: String,
    pub channels: Vec<Route>,
}

/// A channel that must deliver a notification, and from when (a daily digest waits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub channel: String,
    pub not_before: Timestamp,
}

/// The pending timers, and the cases whose timer row cannot be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timers {
    pub due: Vec<(Timestamp, CaseKey)>,
    pub unreadable: Vec<CaseKey>,
}

/// Deliveries that are due, and the ids of those whose record cannot be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DueBatch {
    pub due: Vec<Due>,
    pub unreadable: Vec<String>,
}

/// A delivery that is due: the notification's id and record, and how often it was tried.
#[derive(Clone, Debug, PartialEq)]
pub struct Due {
    pub id: String,
    pub record: Notification,
    pub attempts: u32,
}

/// The provisional deadlines still to be met: how many, and the earliest due date.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provisional {
    pub open: u64,
    pub first_due: Option<Day>,
}

/// Filters for listing deadlines and notifications, combined with AND. The scope is required
/// and never empty: a query cannot reach past the gemeenten it names.
#[derive(Clone, Debug)]
pub struct Filter {
    pub scope: Scope,
    pub workflow: Option<String>,
    pub status: Option<Status>,
    pub case: Option<String>,
    /// First and last due date, inclusive.
    pub due_from: Option<Day>,
    pub due_to: Option<Day>,
    /// Today, when the reader knows it: a stored deadline still to be met is then `open` or
    /// `overdue` by its due date, also when no timer has refreshed it since it passed (a
    /// deadline without escalation has none).
    pub today: Option<Day>,
    pub limit: u32,
    pub offset: u32,
}

/// The status a list is filtered on: a deadline's for deadlines, the overall delivery status
/// for notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Deadline(DeadlineState),
    /// Met, but after its due date (a filter of deadlines, not a state of its own).
    MetLate,
    Delivery(DeliveryStatus),
}

impl Status {
    /// As a filter names it; for a state, as the store writes it in its `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Deadline(state) => state.as_str(),
            Status::MetLate => "met_late",
            Status::Delivery(status) => status.as_str(),
        }
    }

    /// The statuses the deadline list filters on: every state, and met late.
    pub fn of_deadlines() -> Vec<Status> {
        DeadlineState::ALL
            .into_iter()
            .map(Status::Deadline)
            .chain([Status::MetLate])
            .collect()
    }
}

impl Filter {
    /// Everything within `scope`, the first `limit` rows.
    pub fn within(scope: Scope, limit: u32) -> Filter {
        Filter {
            scope,
            workflow: None,
            status: None,
            case: None,
            due_from: None,
            due_to: None,
            today: None,
            limit,
            offset: 0,
        }
    }
}

/// One gemeente's deadlines of one workflow, counted for the overview page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverviewRow {
    pub gemeente: String,
    pub workflow: String,
    /// Still to be met, not overdue.
    pub open: u64,
    /// Of those, due within the coming week (today included).
    pub due_soon: u64,
    pub overdue: u64,
    /// Occurrences of a recurring deadline passed over by a later one.
    pub missed: u64,
}

/// A case's event as the API shows it: `at` as it was sent (its offset kept), the type by
/// name, the data as accepted.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EventRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub at: String,
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// A calendar feed: the open deadlines of some roles in some gemeenten, behind a token of its
/// own (the store keeps only its SHA-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feed {
    pub id: i64,
    pub name: String,
    /// The name of the token that made it, and the person it was made for.
    pub made_by: String,
    pub on_behalf_of: Option<String>,
    pub gemeenten: Scope,
    pub roles: Vec<String>,
    pub created: String,
    /// The SHA-256 of the token that made it: the feed lives as long as that token, whatever
    /// its name (`None`: made before feeds were tied to their token; it answers no more).
    pub maker_sha256: Option<String>,
}

/// The outbox: every notification recorded once, with a delivery per channel that is pending
/// until delivered or given up (a dead letter), and where the log channel's file stands.
pub trait Outbox {
    /// Records notifications with the deliveries they need. A notification id already
    /// recorded is left as it is: re-deriving a notification never makes a second one.
    /// Says for each whether it was new.
    fn record(&mut self, outgoing: &[Outgoing<'_>]) -> Result<Vec<bool>, StoreError>;
    /// Notifications with their delivery state; `filter.status` is the overall status.
    fn notifications(&self, filter: &Filter) -> Result<Vec<OutboxRow>, StoreError>;
    /// A channel's deliveries that are due at `now`, oldest first. A notification whose
    /// stored record cannot be read is not offered but named in `unreadable` (its id), so
    /// that it becomes a dead letter that says so rather than a delivery of nothing.
    fn due(&self, channel: &str, now: Timestamp, limit: u32) -> Result<DueBatch, StoreError>;
    /// A pending delivery went out; one already settled (delivered or dead) stays as it was.
    fn delivered(&mut self, id: &str, channel: &str, at: Timestamp) -> Result<(), StoreError>;
    /// [`Outbox::delivered`] for many deliveries of one channel (the log channel marks what it
    /// wrote): one statement where a round trip per delivery would cost (PostgreSQL).
    fn delivered_all(
        &mut self,
        channel: &str,
        done: &[(String, Timestamp)],
    ) -> Result<(), StoreError> {
        for (id, at) in done {
            self.delivered(id, channel, *at)?;
        }
        Ok(())
    }
    /// A failed attempt: try again at `retry_at`, or give up (`None`: dead letter).
    fn failed(
        &mut self,
        id: &str,
        channel: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    /// When a channel's next pending delivery is due (`None`: nothing pending).
    fn next_due(&self, channel: &str) -> Result<Option<Timestamp>, StoreError>;
    /// How many deliveries are pending and dead, per channel: for the metrics.
    fn delivery_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError>;
    /// Makes the dead deliveries of a notification of the scope pending again, to be tried
    /// at `now` with a fresh count of attempts; says which channels.
    fn send_again(
        &mut self,
        id: &str,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError>;
    /// The log channel's file and how many bytes of it were marked delivered.
    fn log_position(&self) -> Result<Option<(String, u64)>, StoreError>;
    fn set_log_position(&mut self, path: &str, bytes: u64) -> Result<(), StoreError>;
    /// Of these due deliveries of a channel, those this daemon may send now: all of them for
    /// a store of one daemon; for several, those claimed under the leader's epoch (fencing).
    fn claim_deliveries(
        &mut self,
        _channel: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        Ok(ids.to_vec())
    }
}

/// The audit log (NEN 7513): lines written in the batch of what they record, read by filter.
pub trait AuditLog {
    fn audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Audit lines, oldest first.
    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
    /// Removes audit lines from before `before` (YYYY-MM-DD); says how many.
    fn forget_audit_before(&mut self, before: &str) -> Result<u64, StoreError>;
}

/// The iJw intake's ledger: what was received before (retries, reused identifications) and
/// which event stands for each product (changes, deletes). Keys hold pseudonyms, never a BSN.
pub trait IjwLedger {
    /// iJw intake: the digest of the message received under `key` (sender, code,
    /// Identificatie), and the event that stands for a product key now.
    fn ijw_message(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_ijw_message(&mut self, key: &str, digest: &str) -> Result<(), StoreError>;
    fn ijw_product(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// `None` forgets the product (a delete).
    fn set_ijw_product(&mut self, key: &str, event: Option<&str>) -> Result<(), StoreError>;
}

/// The calendar feeds: each behind a token of its own, of which only the hash is kept.
pub trait Feeds {
    /// Stores a new feed under the SHA-256 of its token; returns its id.
    fn add_feed(&mut self, token_sha256: &str, feed: &Feed) -> Result<i64, StoreError>;
    /// The feeds not revoked whose gemeenten all lie within the scope, newest first.
    fn feeds(&self, scope: &Scope) -> Result<Vec<Feed>, StoreError>;
    /// The feed of a token, unless it was revoked.
    fn feed_of_token(&self, token_sha256: &str) -> Result<Option<Feed>, StoreError>;
    /// Revokes a feed whose gemeenten lie within the scope; false when there is none.
    fn revoke_feed(&mut self, id: i64, scope: &Scope, at: &str) -> Result<bool, StoreError>;
    /// The deadlines still to be met, with a due date, of these (workflow, deadline) pairs in
    /// the scope, by due date, at most `limit`.
    fn feed_deadlines(
        &self,
        scope: &Scope,
        deadlines: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<DeadlineRow>, StoreError>;
}

/// What the daemon needs from a store: `SqliteStore` (one daemon) and `PgStore` (several
/// daemons sharing the work) implement it, and the store contract test runs on both.
pub trait Store: Send + Outbox + AuditLog + IjwLedger + Feeds {
    /// Takes these cases for the open batch: another daemon's writes to them wait until it
    /// ends, and what another daemon committed to them before is read. One daemon per store
    /// (SQLite) needs nothing.
    fn claim(&mut self, _keys: &[CaseKey]) -> Result<(), StoreError> {
        Ok(())
    }
    /// Whether other daemons write this store too: then the scheduler's memory of cases and
    /// timers is a cache to check, not the truth (PostgreSQL).
    fn shared(&self) -> bool {
        false
    }
    /// The timers of some cases as stored now (`None`: no timer).
    fn timers_of(&self, keys: &[CaseKey]) -> Result<Vec<(CaseKey, Option<Timestamp>)>, StoreError> {
        let stored: HashMap<CaseKey, Timestamp> = self
            .timers()?
            .due
            .into_iter()
            .map(|(at, key)| (key, at))
            .collect();
        Ok(keys
            .iter()
            .map(|k| (k.clone(), stored.get(k).copied()))
            .collect())
    }
    /// Before a batch inserts these events (gemeente, id): a store may look them up together
    /// rather than one `insert_event` at a time. Nothing for SQLite, where each is a lookup
    /// in memory-mapped pages, not a round trip.
    fn look_up_events(&mut self, _ids: &[(&str, &str)]) -> Result<(), StoreError> {
        Ok(())
    }
    /// Appends an event unless one with its gemeente and id is stored (a sender's retry):
    /// true when it was new.
    fn insert_event(&mut self, event: &Event, received: Timestamp) -> Result<bool, StoreError>;
    /// Starts a batch: the writes until `finish` are one transaction, made durable together
    /// (one sync to disk for many events: the group commit).
    fn begin(&mut self) -> Result<(), StoreError>;
    fn finish(&mut self) -> Result<(), StoreError>;
    /// Drops the writes of the batch.
    fn abandon(&mut self) -> Result<(), StoreError>;
    /// A case's next wakeup (`None`: no timer).
    fn set_timer(&mut self, key: &CaseKey, wake: Option<Timestamp>) -> Result<(), StoreError>;
    /// Every pending timer; a timer row that cannot be read is not dropped but named in
    /// `unreadable`, so that its case can be recomputed and get a valid timer again.
    fn timers(&self) -> Result<Timers, StoreError>;
    /// Every case that has events.
    fn case_keys(&self) -> Result<Vec<CaseKey>, StoreError>;
    /// One case's events in `at` order; `StoreError::Damaged`, naming each row, when any of
    /// them cannot be read.
    fn events_of(&self, key: &CaseKey) -> Result<Vec<Event>, StoreError>;
    /// Replaces a case's deadlines with the engine's current view of them.
    fn put_deadlines(&mut self, key: &CaseKey, rows: &[DeadlineRow]) -> Result<(), StoreError>;
    fn deadlines(&self, filter: &Filter) -> Result<Vec<DeadlineRow>, StoreError>;
    /// The deadline occurrences due in `period` (both days included) of the scope's gemeenten,
    /// and the escalations sent for them: what a report counts (a scheduled report reads them
    /// in the transaction that records it; the API and the pages on a reader).
    fn report(
        &self,
        scope: &crate::scope::Scope,
        period: (Day, Day),
        workflow: Option<&str>,
    ) -> Result<ReportRows, StoreError>;
    /// The due date of every stored deadline, of every gemeente, by (instance, deadline,
    /// occurrence): for a reload to log what moved. Never for a caller of the API.
    fn every_due_date(&self) -> Result<HashMap<DeadlineKey, Option<Day>>, StoreError>;
    /// A case's events as the API shows them; `StoreError::Damaged` when a row cannot be read.
    fn case_events(&self, key: &CaseKey) -> Result<Vec<EventRecord>, StoreError>;
    /// The fingerprint of the definitions the stored deadlines were computed with.
    fn definitions(&self) -> Result<Option<String>, StoreError>;
    fn set_definitions(&mut self, fingerprint: &str) -> Result<(), StoreError>;
    /// Where the virtual clock stood when it was last moved (a daemon on the system clock
    /// never sets it).
    fn virtual_now(&self) -> Result<Option<Timestamp>, StoreError>;
    fn set_virtual_now(&mut self, now: Timestamp) -> Result<(), StoreError>;
    /// The last moment an overview ran for a gemeente (`None`: never).
    fn overview_done(&self, name: &str, gemeente: &str) -> Result<Option<Timestamp>, StoreError>;
    fn set_overview_done(
        &mut self,
        name: &str,
        gemeente: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The deadlines still to be met whose legal term ends past the years the holiday data
    /// covers: for the metrics and the start-up log.
    fn provisional_deadlines(&self) -> Result<Provisional, StoreError>;
}
