//! `/termijnen` and `/termijnen.csv`: the deadlines of the token's gemeenten, filtered by
//! gemeente, workflow, status and due range, sorted by due date; paged on the page, whole in
//! the CSV (`;`-separated, UTF-8 with a byte order mark, as Excel in Dutch opens it as is).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Chrome, PageError, Visitor, Web, case_link, dutch, render};
use crate::store::{DeadlineRow, Filter, Status};
use waakvlam_core::engine::{CalendarMark, DeadlineState};

/// Rows per page.
const PAGE_ROWS: u32 = 50;
/// At most this many rows in one CSV file.
const CSV_ROWS: u32 = 100_000;

#[derive(Template)]
#[template(path = "termijnen.html")]
struct DeadlinesPage {
    chrome: Chrome,
    gemeenten: Vec<Choice>,
    workflows: Vec<Choice>,
    statuses: Vec<Choice>,
    from: String,
    to: String,
    rows: Vec<RowText>,
    page: u32,
    previous: Option<String>,
    next: Option<String>,
    csv: String,
}

/// An option of a select: value, label, selected.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct RowText {
    due: String,
    state: String,
    overdue: bool,
    provisional: bool,
    deadline: String,
    workflow: String,
    gemeente: String,
    case: String,
    link: String,
}

/// The filters as asked, checked against the token.
struct Asked {
    filter: Filter,
    page: u32,
    query: Vec<(String, String)>,
}

fn asked(visitor: &Visitor, query: &HashMap<String, String>) -> Result<Asked, PageError> {
    let form = super::Form(query);
    let value = |name: &str| form.value(name);
    let scope = form.scope(visitor, "de termijnen")?;
    let status = match value("status") {
        Some(s) => match Status::of_deadlines()
            .into_iter()
            .find(|status| status.as_str() == s)
        {
            Some(status) => Some(status),
            None => {
                return Err(PageError::bad_request(format!(
                    "'{s}' is geen status van een termijn."
                )));
            }
        },
        None => None,
    };
    let day = |name: &str, label: &str| form.day(name, label);
    let page = match value("pagina") {
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|p| (1..=100_000).contains(p))
            .ok_or_else(|| PageError::bad_request(format!("'{text}' is geen paginanummer.")))?,
        None => 1,
    };
    let mut kept = Vec::new();
    for name in ["gemeente", "workflow", "status", "van", "tot"] {
        if let Some(v) = value(name) {
            kept.push((name.to_string(), v.to_string()));
        }
    }
    Ok(Asked {
        filter: Filter {
            workflow: value("workflow").map(str::to_string),
            status,
            due_from: day("van", "vanaf")?,
            due_to: day("tot", "tot en met")?,
            offset: (page - 1) * PAGE_ROWS,
            ..Filter::within(scope, PAGE_ROWS + 1)
        },
        page,
        query: kept,
    })
}

/// The deadlines of a filter, read beside the scheduler (a CSV may hold every deadline of a region).
async fn read(
    web: &Web,
    visitor: &Visitor,
    headers: &HeaderMap,
    action: &str,
    filter: Filter,
) -> Result<Vec<DeadlineRow>, PageError> {
    let audit = visitor.audit_each(headers, action, filter.scope.iter());
    web.read_beside(audit, move |readers, now| {
        readers.deadlines(&Filter {
            today: Some(waakvlam_core::calendar::local_day(now)),
            ..filter
        })
    })
    .await
}

pub(super) async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/termijnen")?;
    let asked = asked(&visitor, &query).map_err(|err| {
        web.refused(
            &visitor,
            &headers,
            "web GET /termijnen",
            query.get("gemeente").map(String::as_str),
            None,
            err,
        )
    })?;
    let mut rows = read(
        &web,
        &visitor,
        &headers,
        "web GET /termijnen",
        asked.filter.clone(),
    )
    .await?;
    let more = rows.len() > PAGE_ROWS as usize;
    rows.truncate(PAGE_ROWS as usize);
    let catalog = web.shelf.get();
    let selected = |name: &str, value: &str| query.get(name).is_some_and(|v| v == value);
    let page_link = |page: u32| {
        let mut pairs = asked.query.clone();
        pairs.push(("pagina".into(), page.to_string()));
        format!(
            "/termijnen?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let mut gemeenten = vec![Choice {
        value: String::new(),
        label: "Alle gemeenten".into(),
        selected: !query.contains_key("gemeente"),
    }];
    gemeenten.extend(visitor.token.gemeenten.iter().map(|code| Choice {
        value: code.to_string(),
        label: catalog.gemeente_name(code),
        selected: selected("gemeente", code),
    }));
    let mut workflows = vec![Choice {
        value: String::new(),
        label: "Alle workflows".into(),
        selected: !query.contains_key("workflow"),
    }];
    workflows.extend(catalog.workflows.iter().map(|w| Choice {
        value: w.name.clone(),
        label: w.title.clone(),
        selected: selected("workflow", &w.name),
    }));
    let mut statuses = vec![Choice {
        value: String::new(),
        label: "Alle statussen".into(),
        selected: !query.contains_key("status"),
    }];
    statuses.extend(Status::of_deadlines().into_iter().map(|s| Choice {
        value: s.as_str().to_string(),
        label: match s {
            Status::Deadline(state) => dutch::deadline_state(state).to_string(),
            _ => "gehaald, maar te laat".to_string(),
        },
        selected: selected("status", s.as_str()),
    }));
    let page = DeadlinesPage {
        chrome: visitor.chrome("Termijnen", "/termijnen"),
        gemeenten,
        workflows,
        statuses,
        from: query.get("van").cloned().unwrap_or_default(),
        to: query.get("tot").cloned().unwrap_or_default(),
        rows: rows
            .iter()
            .map(|r| RowText {
                due: r.due.map_or_else(|| "onbekend".into(), dutch::day),
                state: dutch::deadline_state_met(r.status, r.due, r.met_at),
                overdue: r.status == DeadlineState::Overdue,
                provisional: r.calendar == Some(CalendarMark::Provisional),
                deadline: catalog.deadline_title(&r.workflow, &r.deadline),
                workflow: catalog.title_of(&r.workflow),
                gemeente: catalog.gemeente_name(&r.gemeente),
                case: r.case.clone(),
                link: case_link(&r.gemeente, &r.case),
            })
            .collect(),
        page: asked.page,
        previous: (asked.page > 1).then(|| page_link(asked.page - 1)),
        next: more.then(|| page_link(asked.page + 1)),
        csv: format!(
            "/termijnen.csv?{}",
            serde_urlencoded::to_string(&asked.query).unwrap_or_default()
        ),
    };
    Ok(render(&page))
}

/// The CSV's columns.
pub const CSV_HEADER: &str =
    "gemeente;gemeentenaam;casus;workflow;termijn;vervaldatum;status;gehaald_op;voorlopig";

pub(super) async fn csv(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/termijnen")?;
    let asked = asked(&visitor, &query).map_err(|err| {
        web.refused(
            &visitor,
            &headers,
            "web GET /termijnen.csv",
            query.get("gemeente").map(String::as_str),
            None,
            err,
        )
    })?;
    let filter = Filter {
        offset: 0,
        limit: CSV_ROWS,
        ..asked.filter
    };
    let rows = read(&web, &visitor, &headers, "web GET /termijnen.csv", filter).await?;
    let catalog = web.shelf.get();
    // The byte order mark tells Excel the file is UTF-8 (else "beëindigd" breaks).
    let mut out = String::from("\u{feff}");
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for r in &rows {
        let name = catalog
            .gemeenten
            .get(&r.gemeente)
            .cloned()
            .unwrap_or_default();
        let fields = [
            r.gemeente.as_str(),
            &name,
            &r.case,
            &catalog.title_of(&r.workflow),
            &catalog.deadline_title(&r.workflow, &r.deadline),
            &r.due.map(|d| d.to_string()).unwrap_or_default(),
            dutch::deadline_state(r.status),
            &r.met_at.map(|d| d.to_string()).unwrap_or_default(),
            if r.calendar.is_some() { "ja" } else { "nee" },
        ];
        let line: Vec<String> = fields.iter().map(|f| crate::csv::field(f)).collect();
        out.push_str(&line.join(";"));
        out.push_str("\r\n");
    }
    Ok(super::csv_download("termijnen.csv", out))
}
