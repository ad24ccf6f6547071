//! The calls that read case data: a case, the deadline and notification lists with their
//! checked filters, and the audit log for a privacy officer; each audited before it answers.

use super::*;

#[derive(serde::Deserialize)]
pub(super) struct CaseQuery {
    gemeente: Option<String>,
}

pub(super) async fn get_case(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(case): Path<String>,
    Query(query): Query<CaseQuery>,
) -> Result<Response, ApiError> {
    let action = "case.read";
    let token = api.authenticate(&headers, action)?;
    let attempt = attempt_lines(
        &token,
        &headers,
        action,
        query.gemeente.as_deref(),
        Some(&case),
    );
    no_bsn(&headers, Some(&case)).map_err(|err| api.refused_each(attempt.clone(), err))?;
    let scope =
        scope(&token, query.gemeente.as_deref()).map_err(|err| api.refused_each(attempt, err))?;
    for gemeente in scope.iter() {
        let entry = line(Some(&token), &headers, action, Some(gemeente), Some(&case));
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

/// A list's filters, checked: an unknown filter, a status the list does not have, a date or
/// a number that is not one, or a limit out of range is refused (400) with what to send.
pub(super) fn filter(
    token: &TokenConfig,
    query: Vec<(String, String)>,
    statuses: &[&str],
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
    for name in ["due_from", "due_to"] {
        if let Some(date) = values.get(name)
            && date.parse::<waakvlam_core::calendar::Day>().is_err()
        {
            return Err(bad(format!(
                "{name} must be a date YYYY-MM-DD, not '{date}'"
            )));
        }
    }
    if let Some(status) = values.get("status")
        && !statuses.contains(&status.as_str())
    {
        return Err(bad(format!(
            "status must be one of {}, not '{status}'",
            statuses.join(", ")
        )));
    }
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
        scope: scope(token, values.get("gemeente").map(String::as_str))?,
        workflow: values.remove("workflow"),
        status: values.remove("status"),
        case: values.remove("case"),
        due_from: values.remove("due_from"),
        due_to: values.remove("due_to"),
        // The core knows what day it is.
        today: None,
        limit,
        offset,
    })
}

/// The audit lines of a list query: one per gemeente it reads, with the case when it names one.
pub(super) fn list_audit(
    token: &TokenConfig,
    headers: &HeaderMap,
    action: &str,
    filter: &Filter,
) -> Vec<AuditEntry> {
    // One line per gemeente the read covers: each answers for its own (NEN 7513).
    filter
        .scope
        .iter()
        .map(|gemeente| {
            line(
                Some(token),
                headers,
                action,
                Some(gemeente),
                filter.case.as_deref(),
            )
        })
        .collect()
}

pub(super) async fn get_deadlines(
    State(api): State<Api>,
    headers: HeaderMap,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let statuses: Vec<&str> = DeadlineState::ALL.iter().map(|s| s.as_str()).collect();
    list(
        &api,
        &headers,
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
    headers: HeaderMap,
    query: RawQuery,
) -> Result<Response, ApiError> {
    list(
        &api,
        &headers,
        query,
        &["pending", "delivered", "dead"],
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
    headers: &HeaderMap,
    RawQuery(query): RawQuery,
    statuses: &[&str],
    what: &str,
    command: impl FnOnce(Filter, Vec<AuditEntry>, Reply<Vec<T>>) -> Command,
) -> Result<Response, ApiError> {
    let action = format!("{what}.read");
    let token = api.authenticate(headers, &action)?;
    let query = parse_query(query.as_deref())?;
    let asked = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let attempt = attempt_lines(&token, headers, &action, asked("gemeente"), asked("case"));
    no_bsn(headers, asked("case")).map_err(|err| api.refused_each(attempt.clone(), err))?;
    let filter = filter(&token, query.clone(), statuses).map_err(|err| {
        if err.status == StatusCode::FORBIDDEN {
            api.refused_each(attempt, err)
        } else {
            err
        }
    })?;
    let entry = list_audit(&token, headers, &action, &filter);
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
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let action = "audit.read";
    let token = api.authenticate(&headers, action)?;
    if !token.audit {
        let err = error(
            StatusCode::FORBIDDEN,
            format!(
                "token '{}' may not read the audit log; a privacy officer's token has 'audit: true'",
                token.name
            ),
        );
        return Err(api.refused_each(lines(&token, &headers, action), err));
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
    for name in ["from", "to"] {
        if let Some(date) = values.get(name)
            && date.parse::<waakvlam_core::calendar::Day>().is_err()
        {
            return Err(bad(format!(
                "{name} must be a date YYYY-MM-DD, not '{date}'"
            )));
        }
    }
    no_bsn(&headers, values.get("case").map(String::as_str))?;
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
    let scope = scope(&token, values.get("gemeente").map(String::as_str))
        .map_err(|err| api.refused_each(lines(&token, &headers, action), err))?;
    let offset = number("offset", 0)?;
    let filter = AuditFilter {
        scope,
        unattributed: false,
        from: values.remove("from"),
        to: values.remove("to"),
        case: values.remove("case"),
        limit,
        offset,
    };
    let entry: Vec<AuditEntry> = filter
        .scope
        .iter()
        .map(|g| {
            line(
                Some(&token),
                &headers,
                action,
                Some(g),
                filter.case.as_deref(),
            )
        })
        .collect();
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
