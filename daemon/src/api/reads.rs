//! The calls that read case data: a case, the deadline and notification lists with their
//! checked filters, and the audit log for a privacy officer; each audited before it answers.

use super::*;
use crate::store::{DeliveryStatus, Status};
use waakvlam_core::calendar::Day;

#[derive(serde::Deserialize)]
pub(super) struct CaseQuery {
    gemeente: Option<String>,
}

pub(super) async fn get_case(
    State(api): State<Api>,
    caller: Caller,
    Path(case): Path<String>,
    Query(query): Query<CaseQuery>,
) -> Result<Response, ApiError> {
    let action = "case.read";
    let attempt = caller.attempt(action, query.gemeente.as_deref(), Some(&case));
    caller
        .no_bsn(Some(&case))
        .map_err(|err| api.refused_each(attempt.clone(), err))?;
    let scope = caller
        .scope(query.gemeente.as_deref())
        .map_err(|err| api.refused_each(attempt, err))?;
    for gemeente in scope.iter() {
        let entry = caller.line(action, Some(gemeente), Some(&case));
        let (g, c) = (gemeente.to_string(), case.clone());
        let view = api
            .ask(|reply| Command::Case {
                gemeente: g,
                case: c,
                audit: entry,
                reply,
            })
            .await?
            .map_err(refusal)?;
        if let Some(view) = view {
            return Ok(Json(view).into_response());
        }
    }
    Err(error(
        StatusCode::NOT_FOUND,
        format!("no case '{case}' in the gemeenten of this token"),
    ))
}

/// The filters a list takes, in the query string.
pub(super) const LIST_FILTERS: &[&str] = &[
    "gemeente", "workflow", "status", "case", "due_from", "due_to", "limit", "offset",
];

/// How many rows a list answers at most, and by default.
pub(super) const MOST_ROWS: u32 = 1000;

pub(super) const DEFAULT_ROWS: u32 = 100;

/// A date filter (`name`), when given: a day, or 400 with the form to send.
fn day<K: std::borrow::Borrow<str> + Eq + std::hash::Hash>(
    values: &HashMap<K, String>,
    name: &str,
) -> Result<Option<Day>, ApiError> {
    values
        .get(name)
        .map(|text| {
            text.parse().map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("{name} must be a date YYYY-MM-DD, not '{text}'"),
                )
            })
        })
        .transpose()
}

/// A list's filters, checked: an unknown filter, a status the list does not have, a date or
/// a number that is not one, or a limit out of range is refused (400) with what to send.
pub(super) fn filter(
    caller: &Caller,
    query: Vec<(String, String)>,
    statuses: &[Status],
) -> Result<Filter, ApiError> {
    let bad = |message: String| error(StatusCode::BAD_REQUEST, message);
    let mut values: HashMap<&str, String> = HashMap::new();
    for (name, value) in &query {
        let Some(known) = LIST_FILTERS.iter().find(|f| **f == name) else {
            let hint = waakvlam_core::suggest::closest(name, LIST_FILTERS.iter().copied())
                .map_or_else(String::new, |s| format!(" (did you mean '{s}'?)"));
            return Err(bad(format!(
                "unknown filter '{name}'{hint}; the filters are {}",
                LIST_FILTERS.join(", ")
            )));
        };
        if values.insert(known, value.clone()).is_some() {
            return Err(bad(format!("the filter '{name}' is given twice")));
        }
    }
    let (due_from, due_to) = (day(&values, "due_from")?, day(&values, "due_to")?);
    let status = match values.get("status") {
        None => None,
        Some(name) => Some(
            statuses
                .iter()
                .copied()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
                    bad(format!(
                        "status must be one of {}, not '{name}'",
                        names.join(", ")
                    ))
                })?,
        ),
    };
    let number = |name: &str, default: u32| -> Result<u32, ApiError> {
        match values.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| bad(format!("{name} must be a whole number, not '{text}'"))),
        }
    };
    let limit = number("limit", DEFAULT_ROWS)?;
    if !(1..=MOST_ROWS).contains(&limit) {
        return Err(bad(format!(
            "limit must be from 1 to {MOST_ROWS}, not {limit}; page with offset for more"
        )));
    }
    let offset = number("offset", 0)?;
    Ok(Filter {
        scope: caller.scope(values.get("gemeente").map(String::as_str))?,
        workflow: values.remove("workflow"),
        status,
        case: values.remove("case"),
        due_from,
        due_to,
        // The scheduler knows what day it is.
        today: None,
        limit,
        offset,
    })
}

pub(super) async fn get_deadlines(
    State(api): State<Api>,
    caller: Caller,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let statuses = Status::of_deadlines();
    list(
        &api,
        &caller,
        query,
        &statuses,
        "deadlines",
        |filter, audit, reply| Command::Deadlines {
            filter,
            audit,
            reply,
        },
    )
    .await
}

pub(super) async fn get_notifications(
    State(api): State<Api>,
    caller: Caller,
    query: RawQuery,
) -> Result<Response, ApiError> {
    list(
        &api,
        &caller,
        query,
        &DeliveryStatus::ALL.map(Status::Delivery),
        "notifications",
        |filter, audit, reply| Command::Notifications {
            filter,
            audit,
            reply,
        },
    )
    .await
}

/// A filtered, paged list (`what`: its key in the answer, and `<what>.read` in the audit log).
pub(super) async fn list<T: serde::Serialize>(
    api: &Api,
    caller: &Caller,
    RawQuery(query): RawQuery,
    statuses: &[Status],
    what: &str,
    command: impl FnOnce(Filter, Vec<AuditEntry>, Reply<Vec<T>>) -> Command,
) -> Result<Response, ApiError> {
    let action = format!("{what}.read");
    let query = parse_query(query.as_deref())?;
    let asked = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let attempt = caller.attempt(&action, asked("gemeente"), asked("case"));
    caller
        .no_bsn(asked("case"))
        .map_err(|err| api.refused_each(attempt.clone(), err))?;
    let filter = filter(caller, query.clone(), statuses).map_err(|err| {
        if err.status == StatusCode::FORBIDDEN {
            api.refused_each(attempt, err)
        } else {
            err
        }
    })?;
    // One line per gemeente the read covers: each answers for its own (NEN 7513).
    let entry = caller.lines_for(&action, &filter.scope, filter.case.as_deref());
    let (limit, offset) = (filter.limit, filter.offset);
    let rows = api
        .ask(|reply| command(filter, entry, reply))
        .await?
        .map_err(refusal)?;
    Ok(Json(json!({ what: rows, "limit": limit, "offset": offset })).into_response())
}

/// The audit log of the token's gemeenten (and the refused requests without a token), for a
/// privacy officer: only a token with `audit: true` reads it, and the read is audited too.
pub(super) async fn get_audit(
    State(api): State<Api>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let action = "audit.read";
    let token = &caller.token;
    if !token.audit {
        let err = error(
            StatusCode::FORBIDDEN,
            format!(
                "token '{}' may not read the audit log; a privacy officer's token has 'audit: true'",
                token.name
            ),
        );
        return Err(api.refused_each(caller.lines(action), err));
    }
    let bad = |message: String| error(StatusCode::BAD_REQUEST, message);
    let mut values: HashMap<String, String> = HashMap::new();
    for (name, value) in parse_query(query.as_deref())? {
        if !AUDIT_FILTERS.contains(&name.as_str()) {
            return Err(bad(format!(
                "unknown filter '{name}'; the filters are {}",
                AUDIT_FILTERS.join(", ")
            )));
        }
        values.insert(name, value);
    }
    let (from, to) = (day(&values, "from")?, day(&values, "to")?);
    caller.no_bsn(values.get("case").map(String::as_str))?;
    let number = |name: &str, default: u32| -> Result<u32, ApiError> {
        values.get(name).map_or(Ok(default), |text| {
            text.parse()
                .map_err(|_| bad(format!("{name} must be a whole number, not '{text}'")))
        })
    };
    let limit = number("limit", DEFAULT_ROWS)?;
    if !(1..=MOST_ROWS).contains(&limit) {
        return Err(bad(format!(
            "limit must be from 1 to {MOST_ROWS}, not {limit}"
        )));
    }
    let scope = caller
        .scope(values.get("gemeente").map(String::as_str))
        .map_err(|err| api.refused_each(caller.lines(action), err))?;
    let offset = number("offset", 0)?;
    let filter = AuditFilter {
        scope,
        unattributed: false,
        from,
        to,
        case: values.remove("case"),
        limit,
        offset,
    };
    let entry = caller.lines_for(action, &filter.scope, filter.case.as_deref());
    let (limit, offset) = (filter.limit, filter.offset);
    let rows = api
        .ask(|reply| Command::AuditLog {
            filter,
            audit: entry,
            reply,
        })
        .await?
        .map_err(refusal)?;
    Ok(Json(json!({ "audit": rows, "limit": limit, "offset": offset })).into_response())
}

/// The filters of the audit log.
pub(super) const AUDIT_FILTERS: &[&str] = &["from", "to", "gemeente", "case", "limit", "offset"];

/// The filters of a report.
pub(super) const REPORT_FILTERS: &[&str] = &["from", "to", "gemeente", "workflow"];

/// `GET /v1/report`: how the terms were kept over a period (DESIGN.md, "Verantwoording"), per
/// gemeente, workflow and deadline of the token's scope, with totals; audited per gemeente.
pub(super) async fn get_report(
    State(api): State<Api>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let action = "report.read";
    let bad = |message: String| error(StatusCode::BAD_REQUEST, message);
    let mut values: HashMap<String, String> = HashMap::new();
    for (name, value) in parse_query(query.as_deref())? {
        if !REPORT_FILTERS.contains(&name.as_str()) {
            return Err(bad(format!(
                "unknown filter '{name}'; the filters are {}",
                REPORT_FILTERS.join(", ")
            )));
        }
        values.insert(name, value);
    }
    let (Some(from), Some(to)) = (day(&values, "from")?, day(&values, "to")?) else {
        return Err(bad(
            "a report needs a period: from=YYYY-MM-DD&to=YYYY-MM-DD (both inclusive)".into(),
        ));
    };
    if from > to {
        return Err(bad(format!(
            "the period starts after it ends: from {from} is later than to {to}"
        )));
    }
    let scope = caller
        .scope(values.get("gemeente").map(String::as_str))
        .map_err(|err| api.refused_each(caller.lines(action), err))?;
    let workflow = values.remove("workflow");
    let audit = caller.lines_for(action, &scope, None);
    let now = api
        .ask(|reply| Command::Page(crate::scheduler::pages::PageCommand::Audited { audit, reply }))
        .await?
        .map_err(refusal)?;
    let readers = api.readers.clone();
    let report = tokio::task::spawn_blocking(move || {
        let (rows, escalations) = readers.report(&scope, (from, to), workflow.as_deref())?;
        let today = waakvlam_core::calendar::local_day(now);
        Ok::<_, StoreError>(crate::report::compute(from, to, &rows, &escalations, today))
    })
    .await
    .map_err(|err| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the report failed: {err}"),
        )
    })?
    .map_err(|err| refusal(SchedulerError::Store(err)))?;
    Ok(Json(report).into_response())
}
