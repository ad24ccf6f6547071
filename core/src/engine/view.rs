//! The deadlines of a case as they stand, as the API, the store, the pages and the overviews
//! see them: read-only views, made by `Case::deadlines`, that no state is kept in.

use crate::calendar::Day;

/// A deadline as it stands: `status` is open, overdue, met, cancelled, suspended, ended,
/// missed (a recurring contact passed over by a later one) or unknown (a fact is missing).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DeadlineView {
    pub instance: String,
    pub workflow: String,
    pub gemeente: String,
    pub case: String,
    pub deadline: String,
    pub occurrence: u32,
    pub due: Option<Day>,
    pub status: DeadlineState,
    /// The day it was met (Europe/Amsterdam), so on time is told from late; `null` until then.
    pub met_at: Option<Day>,
    /// The day its instance started: for the lead times of reports, not shown. `None` only
    /// for a row an older version stored, until the store recomputes it.
    #[serde(skip)]
    pub started: Option<Day>,
    /// `provisional` for a legal term that ends after the years the holiday data covers: it
    /// may still move when a new Koninklijk Besluit adds a day. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarMark>,
}

impl DeadlineView {
    /// Its state on `today`: a deadline still to be met is open or overdue by its due date,
    /// also when it was stored before the due date passed.
    pub fn status_on(&self, today: Day) -> DeadlineState {
        match (self.status, self.due) {
            (DeadlineState::Open | DeadlineState::Overdue, Some(due)) if due < today => {
                DeadlineState::Overdue
            }
            (DeadlineState::Open | DeadlineState::Overdue, Some(_)) => DeadlineState::Open,
            (status, _) => status,
        }
    }
}

/// A deadline as it stands, as the API and the store name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadlineState {
    Open,
    Overdue,
    Met,
    Cancelled,
    Suspended,
    Ended,
    /// A recurring contact passed over by a later one.
    Missed,
    /// A fact it needs is missing (a partial birth date).
    Unknown,
}

impl DeadlineState {
    pub const ALL: [DeadlineState; 8] = [
        DeadlineState::Open,
        DeadlineState::Overdue,
        DeadlineState::Met,
        DeadlineState::Cancelled,
        DeadlineState::Suspended,
        DeadlineState::Ended,
        DeadlineState::Missed,
        DeadlineState::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineState::Open => "open",
            DeadlineState::Overdue => "overdue",
            DeadlineState::Met => "met",
            DeadlineState::Cancelled => "cancelled",
            DeadlineState::Suspended => "suspended",
            DeadlineState::Ended => "ended",
            DeadlineState::Missed => "missed",
            DeadlineState::Unknown => "unknown",
        }
    }

    /// The state of this name; `None` for any other text.
    pub fn named(name: &str) -> Option<DeadlineState> {
        DeadlineState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Done with: met or cancelled.
    pub fn is_settled(self) -> bool {
        matches!(self, DeadlineState::Met | DeadlineState::Cancelled)
    }
}

/// How settled a deadline's date is (see [`crate::calendar::Calendar::is_provisional`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalendarMark {
    Provisional,
}

/// A deadline an overview lists.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OverviewItem {
    pub case: String,
    pub workflow: String,
    pub deadline: String,
    pub title: String,
    pub due: Option<Day>,
    pub status: DeadlineState,
}
