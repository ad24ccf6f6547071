//! The SQLite store's reads as functions of a connection: the writer's own (`SqliteStore`)
//! and the readers' beside it (`Readers`) run the same queries.

use rusqlite::{Connection, params_from_iter};

use super::super::CaseKey;
use super::super::rows::{StoredCases, deadline_clause, readable, report_conditions, report_input};
use super::super::{DeadlineRow, Filter, OverviewRow, StoreError};
use super::{doing, event_row};
use crate::scope::Scope;
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::{CalendarMark, DeadlineState};
use waakvlam_core::report::{Escalations, ReportInput};

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
    if let Some(today) = filter.today {
        for row in &mut rows {
            row.status = row.status_on(today);
        }
    }
    Ok(rows)
}

/// The deadlines of the scope per gemeente and workflow, counted on `today`; due soon is up
/// to and including `soon_until`. Only the rows still to be met or missed are read (a year of
/// cases is mostly met and closed: a third of the rows, half the time); a workflow with none
/// has no row, and the page shows its zeros.
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
             FROM deadlines WHERE gemeente IN ({marks}) AND status IN ('open', 'overdue', 'missed')
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
pub(in crate::store) const DEADLINE_COLUMNS: &str = "instance, workflow, gemeente, case_id, deadline, occurrence, due, status, provisional, met_at, started";

pub(in crate::store) fn deadline_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<DeadlineRow, String>> {
    let instance: String = row.get(0)?;
    let due = match crate::store::rows::due_from(&instance, row.get(6)?) {
        Ok(due) => due,
        Err(problem) => return Ok(Err(problem)),
    };
    let (met_at, started) = match (
        crate::store::rows::due_from(&instance, row.get(9)?),
        crate::store::rows::due_from(&instance, row.get(10)?),
    ) {
        (Ok(met_at), Ok(started)) => (met_at, started),
        (Err(problem), _) | (_, Err(problem)) => return Ok(Err(problem)),
    };
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
        due,
        status,
        met_at,
        started,
        calendar: row.get::<_, bool>(8)?.then_some(CalendarMark::Provisional),
    }))
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

/// What a report counts: the deadline occurrences of the scope due in `from..=to` (of one
/// workflow when asked), and the escalations sent for them per level. An escalation about
/// several deadlines at once counts for the first it names (the record's `deadline`).
pub fn report(
    connection: &Connection,
    scope: &Scope,
    (from, to): (Day, Day),
    workflow: Option<&str>,
) -> Result<(Vec<ReportInput>, Escalations), StoreError> {
    let (conditions, values) = report_conditions(scope, from, to, workflow);
    let rows = doing("reading deadlines for a report", || {
        let mut statement = connection.prepare(&format!(
            "SELECT gemeente, workflow, deadline, status, due, met_at, started FROM deadlines WHERE {conditions}"
        ))?;
        let rows = statement.query_map(params_from_iter(&values), |row| {
            Ok(report_input(
                (row.get(0)?, row.get(1)?, row.get(2)?),
                &row.get::<_, String>(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })?;
    let rows = readable(rows, "deadlines")?;
    let mut escalations = Escalations::new();
    doing("counting escalations for a report", || {
        let mut statement = connection.prepare(&format!(
            "SELECT gemeente, workflow, json_extract(record, '$.deadline'), json_extract(record, '$.level'), count(*)
             FROM notifications WHERE {conditions} AND json_extract(record, '$.kind') = 'escalation'
             GROUP BY 1, 2, 3, 4"
        ))?;
        let mut rows = statement.query(params_from_iter(&values))?;
        while let Some(row) = rows.next()? {
            let key = (row.get(0)?, row.get(1)?, row.get(2)?);
            escalations
                .entry(key)
                .or_default()
                .insert(row.get(3)?, row.get(4)?);
        }
        Ok(())
    })?;
    Ok((rows, escalations))
}
