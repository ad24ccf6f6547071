//! The reads the web pages and the API run beside the writer, on PostgreSQL: the same
//! questions as the SQLite readers ask (`store::reader`), in PostgreSQL's dialect.

use std::sync::Mutex;

use postgres::Row;

use super::{Connection, PgUrl, failed, numbered, texts};
use crate::scope::Scope;
use crate::store::rows::{
    StoredCases, audit_conditions, deadline_clause, readable, report_conditions, report_input,
};
use crate::store::{
    AuditEntry, AuditFilter, CaseKey, DeadlineRow, Filter, OverviewRow, StoreError,
};
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::{CalendarMark, DeadlineState};
use waakvlam_core::report::{Escalations, ReportInput};

/// At most this many idle reader connections are kept.
const IDLE_READERS: usize = 4;

pub const DEADLINE_COLUMNS: &str = "instance, workflow, gemeente, case_id, deadline, occurrence, due, status, provisional, met_at, started";

pub fn deadline_row(row: &Row) -> Result<DeadlineRow, String> {
    let instance: String = row.get(0);
    let due = crate::store::rows::due_from(&instance, row.get(6))?;
    let met_at = crate::store::rows::due_from(&instance, row.get(9))?;
    let started = crate::store::rows::due_from(&instance, row.get(10))?;
    let status: String = row.get(7);
    let Some(status) = DeadlineState::named(&status) else {
        return Err(format!(
            "a deadline of {instance}: unknown status '{status}'"
        ));
    };
    Ok(DeadlineRow {
        instance,
        workflow: row.get(1),
        gemeente: row.get(2),
        case: row.get(3),
        deadline: row.get(4),
        occurrence: row.get::<_, i64>(5) as u32,
        due,
        status,
        met_at,
        started,
        calendar: row.get::<_, bool>(8).then_some(CalendarMark::Provisional),
    })
}

/// Connections that only read, opened when needed and kept for the next read.
pub struct PgReaders {
    url: PgUrl,
    idle: Mutex<Vec<Connection>>,
}

impl PgReaders {
    pub fn new(url: PgUrl) -> PgReaders {
        PgReaders {
            url,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs a read on an idle connection, or a new one; once more on a new one when the
    /// server had ended the idle one meanwhile. Blocking.
    pub(in crate::store) fn read<T>(
        &self,
        read: impl Fn(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut connection = match idle {
            Some(mut connection) => {
                connection.revive()?;
                connection
            }
            None => self.open()?,
        };
        let mut result = read(&mut connection);
        if let Err(StoreError::Postgres { source, .. }) = &result
            && super::ended_before(source)
        {
            tracing::warn!(cause = %source, "a reader's connection to PostgreSQL had ended; connecting again");
            connection = self.open()?;
            result = read(&mut connection);
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS && !connection.client().is_closed() {
            idle.push(connection);
        }
        result
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let mut connection = Connection::open(&self.url, "waakvlam reader")?;
        // Not even a mistake here can write.
        connection
            .batch("SET default_transaction_read_only = on")
            .map_err(failed("opening a reader"))?;
        Ok(connection)
    }
}

/// Deadlines by a filter, sorted by due date.
pub(in crate::store) fn deadlines(
    c: &mut Connection,
    filter: &Filter,
) -> Result<Vec<DeadlineRow>, StoreError> {
    let (clause, values) = deadline_clause(filter);
    let sql = format!(
        "SELECT {DEADLINE_COLUMNS} FROM deadlines {}
         ORDER BY due IS NULL, due, gemeente, case_id, instance, deadline, occurrence LIMIT {} OFFSET {}",
        numbered(&clause, 1),
        filter.limit,
        filter.offset
    );
    let rows = c
        .query(&sql, &texts(&values))
        .map_err(failed("listing deadlines"))?;
    let mut rows = readable(rows.iter().map(deadline_row).collect(), "deadlines")?;
    if let Some(today) = filter.today {
        for row in &mut rows {
            row.status = row.status_on(today);
        }
    }
    Ok(rows)
}

pub(in crate::store) fn overview(
    c: &mut Connection,
    scope: &Scope,
    today: &str,
    soon_until: &str,
) -> Result<Vec<OverviewRow>, StoreError> {
    let gemeenten: Vec<&str> = scope.iter().collect();
    let rows = c
        .query(
            "SELECT gemeente, workflow,
                count(*) FILTER (WHERE status IN ('open', 'overdue') AND due >= $1),
                count(*) FILTER (WHERE status IN ('open', 'overdue') AND due >= $1 AND due <= $2),
                count(*) FILTER (WHERE status IN ('open', 'overdue') AND due < $1),
                count(*) FILTER (WHERE status = 'missed')
             FROM deadlines WHERE gemeente = ANY($3) AND status IN ('open', 'overdue', 'missed')
             GROUP BY gemeente, workflow ORDER BY gemeente, workflow",
            &[&today, &soon_until, &gemeenten],
        )
        .map_err(failed("counting deadlines for the overview"))?;
    Ok(rows
        .iter()
        .map(|row| OverviewRow {
            gemeente: row.get(0),
            workflow: row.get(1),
            open: row.get::<_, i64>(2) as u64,
            due_soon: row.get::<_, i64>(3) as u64,
            overdue: row.get::<_, i64>(4) as u64,
            missed: row.get::<_, i64>(5) as u64,
        })
        .collect())
}

pub(in crate::store) fn due_per_week(
    c: &mut Connection,
    scope: &Scope,
    first_day: Day,
    weeks: u32,
) -> Result<Vec<u64>, StoreError> {
    let gemeenten: Vec<&str> = scope.iter().collect();
    let end = first_day.add_days(7 * weeks as i32).to_string();
    let first = first_day.to_string();
    let rows = c
        .query(
            "SELECT ((due::date - $1::text::date) / 7)::bigint AS week, count(*)
             FROM deadlines
             WHERE status IN ('open', 'overdue') AND due >= $1 AND due < $2 AND gemeente = ANY($3)
             GROUP BY week",
            &[&first, &end, &gemeenten],
        )
        .map_err(failed("counting deadlines per week"))?;
    let mut counts = vec![0; weeks as usize];
    for row in rows {
        let (week, count): (i64, i64) = (row.get(0), row.get(1));
        if let Some(slot) = usize::try_from(week).ok().and_then(|w| counts.get_mut(w)) {
            *slot = count as u64;
        }
    }
    Ok(counts)
}

/// The cases of a scope, read in one snapshot so the three parts agree.
pub(in crate::store) fn stored_cases(
    c: &mut Connection,
    scope: &Scope,
) -> Result<StoredCases, StoreError> {
    let gemeenten: Vec<&str> = scope.iter().collect();
    c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .map_err(failed("starting a read"))?;
    let read = (|| {
        let rows = c
            .query(
                "SELECT gemeente, id, type, case_id, at_ms, data FROM events
                 WHERE gemeente = ANY($1) ORDER BY gemeente, case_id, at_ms, seq",
                &[&gemeenten],
            )
            .map_err(failed("reading the events of a scope"))?;
        let mut stored = StoredCases::default();
        for row in &rows {
            let key = CaseKey {
                gemeente: row.get(0),
                case: row.get(3),
            };
            stored.add(key, super::event_row(row));
        }
        stored.deadlines = deadlines(c, &Filter::within(scope.clone(), u32::MAX))?;
        stored.notification_ids = c
            .query(
                "SELECT id FROM notifications WHERE gemeente = ANY($1)",
                &[&gemeenten],
            )
            .map_err(failed("reading the notification ids of a scope"))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        Ok(stored)
    })();
    let _ = c.batch("COMMIT");
    read
}

/// Audit lines by a filter, oldest first.
pub(in crate::store) fn audit_lines(
    c: &mut Connection,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, StoreError> {
    let (conditions, values) = audit_conditions(filter);
    let sql = format!(
        "SELECT at, token, on_behalf_of, action, gemeente, case_id, outcome FROM audit
         WHERE {} ORDER BY seq LIMIT {} OFFSET {}",
        numbered(&conditions, 1),
        filter.limit,
        filter.offset
    );
    let rows = c
        .query(&sql, &texts(&values))
        .map_err(failed("reading the audit log"))?;
    Ok(rows
        .iter()
        .map(|row| AuditEntry {
            at: row.get(0),
            token: row.get(1),
            on_behalf_of: row.get(2),
            action: row.get(3),
            gemeente: row.get(4),
            case: row.get(5),
            outcome: row.get(6),
        })
        .collect())
}

/// What a report counts (see the SQLite store's `report`), in PostgreSQL's dialect.
pub(in crate::store) fn report(
    c: &mut Connection,
    scope: &Scope,
    (from, to): (Day, Day),
    workflow: Option<&str>,
) -> Result<(Vec<ReportInput>, Escalations), StoreError> {
    let (conditions, values) = report_conditions(scope, from, to, workflow);
    let conditions = numbered(&conditions, 1);
    let rows = c
        .query(
            &format!(
                "SELECT gemeente, workflow, deadline, status, due, met_at, started FROM deadlines WHERE {conditions}"
            ),
            &texts(&values),
        )
        .map_err(failed("reading deadlines for a report"))?;
    let rows = readable(
        rows.iter()
            .map(|row| {
                report_input(
                    (row.get(0), row.get(1), row.get(2)),
                    row.get(3),
                    row.get(4),
                    row.get(5),
                    row.get(6),
                )
            })
            .collect(),
        "deadlines",
    )?;
    let counted = c
        .query(
            &format!(
                "SELECT gemeente, workflow, (record::jsonb)->>'deadline', ((record::jsonb)->>'level')::bigint, count(*)
                 FROM notifications WHERE {conditions} AND (record::jsonb)->>'kind' = 'escalation'
                 GROUP BY 1, 2, 3, 4"
            ),
            &texts(&values),
        )
        .map_err(failed("counting escalations for a report"))?;
    let mut escalations = Escalations::new();
    for row in &counted {
        let key = (row.get(0), row.get(1), row.get(2));
        let level: i64 = row.get(3);
        let count: i64 = row.get(4);
        escalations
            .entry(key)
            .or_default()
            .insert(level as u32, count as u64);
    }
    Ok((rows, escalations))
}
