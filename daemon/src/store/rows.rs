//! What both stores read the same way, whatever their SQL dialect: an event from its stored
//! columns, a case's events with every unreadable row named, rows read or the rows that are
//! not, the conditions of a filter and of an audit query (with `?` for each value; PostgreSQL
//! numbers them), and the cases of a scope as read for a what-if. No backend's types here:
//! this is the layer the SQLite and PostgreSQL stores share, below both.

use jiff::Timestamp;
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::{DeadlineState, Notification};
use waakvlam_core::event::{Event, EventType};

use super::{
    AuditFilter, CaseKey, DeadlineRow, DeliveryState, DeliveryStatus, EventRecord, Filter,
    OutboxRow, Status, StoreError,
};
use crate::scope::Scope;

/// An event from its stored columns (gemeente, id, type, case, at in milliseconds, data as
/// JSON), or what is wrong with them: both stores read events through here.
pub fn event_from(
    gemeente: String,
    id: String,
    type_name: String,
    case: String,
    at_ms: i64,
    data: &str,
) -> Result<Event, String> {
    let Some(event_type) = EventType::from_name(&type_name) else {
        return Err(format!("event {id}: unknown type '{type_name}'"));
    };
    let Ok(at) = Timestamp::from_millisecond(at_ms) else {
        return Err(format!("event {id}: the moment {at_ms} is out of range"));
    };
    let data = match serde_json::from_str(data) {
        Ok(serde_json::Value::Object(data)) => data,
        Ok(_) => return Err(format!("event {id}: its data is not a JSON object")),
        Err(err) => return Err(format!("event {id}: its data is not JSON ({err})")),
    };
    Ok(Event {
        id,
        event_type,
        gemeente,
        case,
        at,
        data,
    })
}

/// A stored due date (`YYYY-MM-DD`, or none) back into a day; a date that does not parse makes
/// the row unreadable rather than a deadline without a date.
pub fn due_from(instance: &str, due: Option<String>) -> Result<Option<Day>, String> {
    due.map(|text| {
        text.parse()
            .map_err(|_| format!("a deadline of {instance}: the due date '{text}' is not a date"))
    })
    .transpose()
}

/// A stored notification record back into its type, or what is wrong with it (never the
/// record itself: it holds case data).
pub fn notification_from(id: &str, record: &str) -> Result<Notification, String> {
    serde_json::from_str(record).map_err(|err| {
        format!(
            "notification {id}: its record cannot be read (line {}, column {})",
            err.line(),
            err.column()
        )
    })
}

/// A notification in the outbox from its stored columns: the record, the overall status and
/// the deliveries as a JSON array (channel, status, attempts, last_error, next_try_ms), as
/// both stores' outbox queries give them.
pub fn outbox_row(
    id: &str,
    record: &str,
    status: &str,
    deliveries: &str,
) -> Result<OutboxRow, String> {
    let record = notification_from(id, record)?;
    let Some(status) = DeliveryStatus::named(status) else {
        return Err(format!("notification {id}: unknown status '{status}'"));
    };
    let deliveries: Vec<StoredDelivery> = serde_json::from_str(deliveries)
        .map_err(|_| format!("notification {id}: its deliveries cannot be read"))?;
    Ok(OutboxRow {
        record,
        status,
        deliveries: deliveries.into_iter().map(StoredDelivery::state).collect(),
    })
}

/// A delivery as the outbox queries give it, with its next try in milliseconds.
#[derive(serde::Deserialize)]
struct StoredDelivery {
    channel: String,
    status: DeliveryStatus,
    attempts: u32,
    last_error: Option<String>,
    next_try_ms: Option<i64>,
}

impl StoredDelivery {
    fn state(self) -> DeliveryState {
        DeliveryState {
            channel: self.channel,
            status: self.status,
            attempts: self.attempts,
            last_error: self.last_error,
            next_try: self
                .next_try_ms
                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                .map(waakvlam_core::calendar::format_timestamp),
        }
    }
}

/// An event as the API shows it, from its stored columns (id, type, at as sent, data).
pub fn event_record(
    id: String,
    event_type: String,
    at: String,
    data: &str,
) -> Result<EventRecord, String> {
    match serde_json::from_str(data) {
        Ok(serde_json::Value::Object(data)) => Ok(EventRecord {
            id,
            event_type,
            at,
            data,
        }),
        Ok(_) => Err(format!("event {id}: its data is not a JSON object")),
        Err(_) => Err(format!("event {id}: its data is not JSON")),
    }
}

/// A case's events as read, or `Damaged` naming every row that cannot be read: a case is
/// never rebuilt, nor shown, from part of its events. For both stores.
pub fn case_events<T>(
    key: &CaseKey,
    rows: impl IntoIterator<Item = Result<T, String>>,
) -> Result<Vec<T>, StoreError> {
    let mut events = Vec::new();
    let mut damaged = Vec::new();
    for row in rows {
        match row {
            Ok(event) => events.push(event),
            Err(problem) => damaged.push(problem),
        }
    }
    if damaged.is_empty() {
        Ok(events)
    } else {
        Err(StoreError::Damaged {
            key: key.clone(),
            rows: damaged,
        })
    }
}

/// Rows read, or the error that names every one that could not be read.
pub fn readable<T>(rows: Vec<Result<T, String>>, what: &'static str) -> Result<Vec<T>, StoreError> {
    let unreadable: Vec<String> = rows
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    if unreadable.is_empty() {
        Ok(rows.into_iter().flatten().collect())
    } else {
        Err(StoreError::Unreadable {
            what,
            rows: unreadable,
        })
    }
}

/// The conditions of an audit filter, with `?` for its values in order: the gemeenten of
/// its scope (and, for the operator, lines of no gemeente), its days, its case. Both stores
/// use them.
pub fn audit_conditions(filter: &AuditFilter) -> (String, Vec<String>) {
    let mut values: Vec<String> = filter.scope.iter().map(str::to_string).collect();
    let marks = vec!["?"; values.len()].join(", ");
    let mut conditions = vec![if filter.unattributed {
        format!("(gemeente IN ({marks}) OR gemeente IS NULL)")
    } else {
        format!("gemeente IN ({marks})")
    }];
    if let Some(from) = filter.from {
        conditions.push("at >= ?".into());
        values.push(from.to_string());
    }
    if let Some(to) = filter.to {
        // Every moment of the last day: the day's text and anything after it sorts below
        // the next day's.
        conditions.push("at < ?".into());
        values.push(to.add_days(1).to_string());
    }
    if let Some(case) = &filter.case {
        conditions.push("case_id = ?".into());
        values.push(case.clone());
    }
    (conditions.join(" AND "), values)
}

/// `WHERE` for a filter, with its values in order. Column names are fixed here; every value
/// is a bound parameter.
pub fn where_clause(filter: &Filter, due_column: &str) -> (String, Vec<String>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    // The scope is never empty, so this condition is always there.
    let marks = vec!["?"; filter.scope.iter().len()].join(", ");
    conditions.push(format!("gemeente IN ({marks})"));
    values.extend(filter.scope.iter().map(str::to_string));
    // Met late is met, after the due date (both YYYY-MM-DD, which sort as the days do).
    if filter.status == Some(Status::MetLate) {
        conditions.push(format!(
            "status = '{}' AND met_at > {due_column}",
            DeadlineState::Met.as_str()
        ));
    }
    let status = filter
        .status
        .filter(|s| *s != Status::MetLate)
        .map(|s| s.as_str().to_string());
    for (column, value) in [
        ("workflow", &filter.workflow),
        ("status", &status),
        ("case_id", &filter.case),
    ] {
        if let Some(value) = value {
            conditions.push(format!("{column} = ?"));
            values.push(value.clone());
        }
    }
    // Dates are stored as YYYY-MM-DD (for notifications, the due date's text in the
    // record), which sorts as the days do.
    if let Some(from) = filter.due_from {
        conditions.push(format!("{due_column} >= ?"));
        values.push(from.to_string());
    }
    if let Some(to) = filter.due_to {
        conditions.push(format!("{due_column} <= ?"));
        values.push(to.to_string());
    }
    (format!("WHERE {}", conditions.join(" AND ")), values)
}

/// The filter's conditions on deadlines. With `today` known, `open` and `overdue` are decided
/// by the due date, as `DeadlineView::status_on` decides them for the rows read.
pub fn deadline_clause(filter: &Filter) -> (String, Vec<String>) {
    let (
        Some(today),
        Some(Status::Deadline(wanted @ (DeadlineState::Open | DeadlineState::Overdue))),
    ) = (filter.today, filter.status)
    else {
        return where_clause(filter, "due");
    };
    let (clause, mut values) = where_clause(
        &Filter {
            status: None,
            ..filter.clone()
        },
        "due",
    );
    let comparison = if wanted == DeadlineState::Open {
        ">="
    } else {
        "<"
    };
    values.push(today.to_string());
    (
        format!(
            "{clause} AND status IN ('{}', '{}') AND due {comparison} ?",
            DeadlineState::Open.as_str(),
            DeadlineState::Overdue.as_str()
        ),
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

/// A deadline occurrence as a report reads it, from its stored columns (gemeente, workflow,
/// deadline, status, due, met_at, started), or what is wrong with them.
pub fn report_input(
    (gemeente, workflow, deadline): (String, String, String),
    status: &str,
    due: Option<String>,
    met_at: Option<String>,
    started: Option<String>,
) -> Result<waakvlam_core::report::ReportInput, String> {
    let what = format!("a deadline of {workflow} in {gemeente}");
    let Some(status) = DeadlineState::named(status) else {
        return Err(format!("{what}: unknown status '{status}'"));
    };
    let due = due_from(&what, due)?.ok_or_else(|| format!("{what}: no due date"))?;
    Ok(waakvlam_core::report::ReportInput {
        status,
        due,
        met_at: due_from(&what, met_at)?,
        started: due_from(&what, started)?,
        gemeente,
        workflow,
        deadline,
    })
}

/// The conditions of a report's read: the scope's gemeenten, due dates in the period, and one
/// workflow when asked; with `?` for each value, in order.
pub fn report_conditions(
    scope: &Scope,
    from: Day,
    to: Day,
    workflow: Option<&str>,
) -> (String, Vec<String>) {
    let mut values: Vec<String> = scope.iter().map(str::to_string).collect();
    let marks = vec!["?"; values.len()].join(", ");
    let mut conditions = format!("gemeente IN ({marks}) AND due >= ? AND due <= ?");
    values.push(from.to_string());
    values.push(to.to_string());
    if let Some(workflow) = workflow {
        conditions.push_str(" AND workflow = ?");
        values.push(workflow.to_string());
    }
    (conditions, values)
}
