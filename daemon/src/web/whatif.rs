//! `/wat-als`: a what-if in the browser, for a coordinator. One changed term of a gemeente, or
//! the whole text of a workflow file, is checked as `check` checks it; then the page shows the
//! deadlines it would move, the workflows it would start or stop, and what would go out at
//! once. Nothing is changed (see the `whatif` module).

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Chrome, PageError, Visitor, Web, case_link, dutch, render};
use crate::scheduler::Command;
use crate::scheduler::pages::PageCommand;
use crate::whatif::{self, Answer, Refusal, Request};
use waakvlam_core::calendar::Day;

/// At most this many rows of each list are shown; the rest is counted.
const SHOWN: usize = 500;

#[derive(Template)]
#[template(path = "wat-als.html")]
struct WhatIfPage {
    chrome: Chrome,
    gemeenten: Vec<(String, String, bool)>,
    /// `workflow.param`, label, selected.
    terms: Vec<(String, String, bool)>,
    value: String,
    file: String,
    text: String,
    problems: Vec<String>,
    outcome: Option<Outcome>,
}

struct Outcome {
    /// The counts in a sentence.
    summary: String,
    moved: Vec<MovedRow>,
    moved_more: usize,
    /// "Would start" and "would stop": a caption and its rows.
    instances: Vec<(&'static str, Vec<InstanceRow>)>,
    sent: Vec<SentRow>,
    sent_more: usize,
    warnings: Vec<String>,
}

struct MovedRow {
    gemeente: String,
    case: String,
    link: String,
    title: String,
    old_due: String,
    new_due: String,
}

/// Case, link to its page, workflow title.
type InstanceRow = (String, String, String);

struct SentRow {
    case: String,
    link: String,
    kind: &'static str,
    title: String,
    to: String,
}

pub(super) async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/wat-als")?;
    Ok(render(&form_page(
        &web,
        &visitor,
        &HashMap::new(),
        Vec::new(),
        None,
    )))
}

fn form_page(
    web: &Web,
    visitor: &Visitor,
    asked: &HashMap<String, String>,
    problems: Vec<String>,
    outcome: Option<Outcome>,
) -> WhatIfPage {
    let catalog = web.shelf.get();
    let chosen = |name: &str| asked.get(name).cloned().unwrap_or_default();
    let gemeente = chosen("gemeente");
    let term = chosen("term");
    let terms = catalog
        .definitions
        .iter()
        .flat_map(|w| {
            w.params.iter().map(|p| {
                let value = format!("{}.{}", w.name, p.name);
                let label = format!(
                    "{}: {} (standaard {})",
                    w.title,
                    p.name.replace('_', " "),
                    p.default
                );
                let selected = value == term;
                (value, label, selected)
            })
        })
        .collect();
    WhatIfPage {
        chrome: visitor.chrome("Wat als", "/wat-als"),
        gemeenten: visitor
            .token
            .gemeenten
            .iter()
            .map(|g| (g.to_string(), catalog.gemeente_name(g), g == gemeente))
            .collect(),
        terms,
        value: chosen("waarde"),
        file: chosen("bestand"),
        text: chosen("tekst"),
        problems,
        outcome,
    }
}

pub(super) async fn try_change(
    State(web): State<Web>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/wat-als")?;
    web.check_form(
        &visitor,
        &headers,
        "web POST /wat-als",
        form.get("csrf").map(String::as_str).unwrap_or_default(),
    )?;
    let value = |name: &str| {
        form.get(name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let request = match value("soort").as_str() {
        "termijn" => {
            let (workflow, param) = value("term")
                .split_once('.')
                .map(|(w, p)| (w.to_string(), p.to_string()))
                .unwrap_or_default();
            Request {
                gemeente: Some(value("gemeente")),
                params: BTreeMap::from([(workflow, BTreeMap::from([(param, value("waarde"))]))]),
                workflows: BTreeMap::new(),
            }
        }
        "bestand" => {
            let file = value("bestand");
            let file = if file.ends_with(".yaml") || file.ends_with(".yml") {
                file
            } else {
                format!("{file}.yaml")
            };
            Request {
                gemeente: None,
                params: BTreeMap::new(),
                // The text as typed: line and column of a problem must match the editor's.
                workflows: BTreeMap::from([(file, form.get("tekst").cloned().unwrap_or_default())]),
            }
        }
        _ => {
            return Err(PageError::bad_request(
                "Kies wat u wilt proberen: een termijn of een bestand.",
            ));
        }
    };
    let Ok(_running) = whatif::RUNNING.try_acquire() else {
        return Err(PageError::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Er wordt al een wat-als-berekening gemaakt. Probeer het over een minuut opnieuw.",
        ));
    };
    let catalog = web.shelf.get();
    let changed = match whatif::changed(&catalog, &request, &visitor.token.gemeenten) {
        Ok(changed) => changed,
        Err(Refusal::Bad(message)) | Err(Refusal::Forbidden(message)) => {
            let page = form_page(&web, &visitor, &form, vec![message], None);
            return Ok((StatusCode::BAD_REQUEST, render(&page)).into_response());
        }
        Err(Refusal::Problems(problems)) => {
            let problems = problems
                .iter()
                .map(|p| match (p.line, p.column) {
                    (Some(line), Some(column)) => format!(
                        "{}, regel {line}, kolom {column}: {}{}",
                        p.file,
                        p.message,
                        p.hint
                            .as_deref()
                            .map_or_else(String::new, |h| format!(" ({h})"))
                    ),
                    _ => format!(
                        "{}{}",
                        p.message,
                        p.hint
                            .as_deref()
                            .map_or_else(String::new, |h| format!(" ({h})"))
                    ),
                })
                .collect();
            let page = form_page(&web, &visitor, &form, problems, None);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
        }
    };
    let audit = visitor.audit_each(&headers, "web POST /wat-als", changed.scope.iter());
    let now = web
        .ask(|reply| Command::Page(PageCommand::Audited { audit, reply }))
        .await??;
    let readers = web.readers.clone();
    let for_run = catalog.clone();
    let answer = tokio::task::spawn_blocking(move || whatif::run(&for_run, &readers, changed, now))
        .await
        .map_err(|err| {
            tracing::error!(cause = %err, "a what-if failed");
            PageError::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "De wat-als-berekening is mislukt. De beheerder kan in het logboek zien waarom.",
            )
        })?
        .map_err(|err| match err {
            whatif::Failed::Store(err) => PageError::from(crate::scheduler::SchedulerError::from(err)),
            whatif::Failed::TooLong => PageError::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "De wat-als-berekening duurde langer dan een minuut en is gestopt. Probeer het voor één gemeente.",
            ),
        })?;
    let outcome = outcome(&web, &answer);
    Ok(render(&form_page(
        &web,
        &visitor,
        &form,
        Vec::new(),
        Some(outcome),
    )))
}

fn outcome(web: &Web, answer: &Answer) -> Outcome {
    let catalog = web.shelf.get();
    let instance = |list: &[whatif::InstanceChange]| {
        list.iter()
            .take(SHOWN)
            .map(|c| {
                (
                    c.case.clone(),
                    case_link(&c.gemeente, &c.case),
                    catalog.title_of(&c.workflow),
                )
            })
            .collect()
    };
    let due = |d: &Option<Day>| d.map_or_else(|| "geen".to_string(), dutch::day);
    use dutch::count;
    Outcome {
        summary: format!(
            "{} doorgerekend: {}, {}, {}, {}.",
            count(answer.cases, "casus", "casussen"),
            count(
                answer.moved.len(),
                "termijn verschuift",
                "termijnen verschuiven"
            ),
            count(answer.started.len(), "workflow start", "workflows starten"),
            count(answer.stopped.len(), "workflow stopt", "workflows stoppen"),
            count(
                answer.sent_at_once.len(),
                "melding gaat direct uit",
                "meldingen gaan direct uit"
            ),
        ),
        moved: answer
            .moved
            .iter()
            .take(SHOWN)
            .map(|m| MovedRow {
                gemeente: catalog.gemeente_name(&m.gemeente),
                case: m.case.clone(),
                link: case_link(&m.gemeente, &m.case),
                title: catalog.deadline_title(&m.workflow, &m.deadline),
                old_due: due(&m.old_due),
                new_due: due(&m.new_due),
            })
            .collect(),
        moved_more: answer.moved.len().saturating_sub(SHOWN),
        instances: vec![
            ("Workflows die zouden starten", instance(&answer.started)),
            ("Workflows die zouden stoppen", instance(&answer.stopped)),
        ],
        sent: answer
            .sent_at_once
            .iter()
            .take(SHOWN)
            .map(|n| SentRow {
                case: n.case.clone(),
                link: case_link(&n.gemeente, &n.case),
                kind: dutch::kind(n.kind),
                title: catalog.deadline_title(&n.workflow, &n.deadline),
                to: catalog.role_titles(&n.workflow, &n.to),
            })
            .collect(),
        sent_more: answer.sent_at_once.len().saturating_sub(SHOWN),
        warnings: answer
            .warnings
            .iter()
            .chain(&answer.not_checked)
            .cloned()
            .collect(),
    }
}
