//! `/meldingen`: the notifications of the token's gemeenten with their delivery per channel,
//! attempts and last error; a dead letter can be sent again (not with a read-only token, and
//! audited).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Chrome, PageError, Web, case_link, dutch, render};
use crate::scheduler::Command;
use crate::scheduler::pages::PageCommand;
use crate::store::{DeliveryStatus, Filter, Status};
use waakvlam_core::engine::Kind;

const PAGE_ROWS: u32 = 50;

#[derive(Template)]
#[template(path = "meldingen.html")]
struct NotificationsPage {
    chrome: Chrome,
    statuses: Vec<(String, String, bool)>,
    rows: Vec<Row>,
    may_change: bool,
    sent_again: Option<String>,
    previous: Option<String>,
    next: Option<String>,
}

struct Row {
    id: String,
    at: String,
    kind: &'static str,
    gemeente: String,
    case: String,
    link: String,
    title: String,
    to: String,
    deliveries: Vec<Delivery>,
    dead: bool,
}

struct Delivery {
    channel: String,
    state: &'static str,
    attempts: u32,
    last_error: String,
}

pub(super) async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/meldingen")?;
    let status = match query.get("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(DeliveryStatus::named(s).ok_or_else(|| {
            PageError::bad_request(format!(
                "'{s}' is geen afleverstatus; kies wacht, afgeleverd of mislukt."
            ))
        })?),
    };
    let page_number = query
        .get("pagina")
        .map(|p| p.parse::<u32>().ok().filter(|p| (1..=100_000).contains(p)))
        .unwrap_or(Some(1))
        .ok_or_else(|| PageError::bad_request("Dat is geen paginanummer."))?;
    let scope = visitor.token.gemeenten.clone();
    let filter = Filter {
        status: status.map(Status::Delivery),
        offset: (page_number - 1) * PAGE_ROWS,
        ..Filter::within(scope.clone(), PAGE_ROWS + 1)
    };
    let audit = visitor.audit_each(&headers, "web GET /meldingen", scope.iter());
    let mut rows = web
        .ask(|reply| Command::Notifications {
            filter,
            audit,
            reply,
        })
        .await??;
    let more = rows.len() > PAGE_ROWS as usize;
    rows.truncate(PAGE_ROWS as usize);
    let catalog = web.shelf.get();
    let link = |page: u32| {
        let mut pairs = vec![("pagina".to_string(), page.to_string())];
        if let Some(s) = status {
            pairs.push(("status".into(), s.as_str().to_string()));
        }
        format!(
            "/meldingen?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let mut statuses = vec![(
        String::new(),
        "Alle meldingen".to_string(),
        status.is_none(),
    )];
    statuses.extend(DeliveryStatus::ALL.into_iter().map(|s| {
        (
            s.as_str().to_string(),
            dutch::delivery(s).to_string(),
            status == Some(s),
        )
    }));
    let page = NotificationsPage {
        chrome: visitor.chrome("Meldingen", "/meldingen"),
        statuses,
        rows: rows
            .iter()
            .map(|n| {
                let r = &n.record;
                Row {
                    id: r.id.clone(),
                    at: dutch::moment(r.at),
                    kind: dutch::kind(r.kind),
                    gemeente: catalog.gemeente_name(&r.gemeente),
                    case: r.case.clone(),
                    link: case_link(&r.gemeente, &r.case),
                    title: match r.kind {
                        // An overview's or a report's `deadline` is its name.
                        Kind::Overview | Kind::Report => r.deadline.clone(),
                        _ => catalog.deadline_title(&r.workflow, &r.deadline),
                    },
                    to: catalog.role_titles(&r.workflow, &r.to),
                    deliveries: n
                        .deliveries
                        .iter()
                        .map(|d| Delivery {
                            channel: d.channel.clone(),
                            state: dutch::delivery(d.status),
                            attempts: d.attempts,
                            last_error: d.last_error.clone().unwrap_or_default(),
                        })
                        .collect(),
                    dead: n.status == DeliveryStatus::Dead,
                }
            })
            .collect(),
        may_change: !visitor.token.read_only,
        sent_again: query.get("opnieuw").cloned(),
        previous: (page_number > 1).then(|| link(page_number - 1)),
        next: more.then(|| link(page_number + 1)),
    };
    Ok(render(&page))
}

pub(super) async fn send_again(
    State(web): State<Web>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/meldingen")?;
    let action = "web POST /meldingen/opnieuw";
    web.check_form(
        &visitor,
        &headers,
        action,
        form.get("csrf").map(String::as_str).unwrap_or_default(),
    )?;
    visitor.may_change()?;
    let Some(id) = form
        .get("id")
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .cloned()
    else {
        return Err(PageError::bad_request(
            "Welke melding? Het formulier noemt er geen.",
        ));
    };
    let scope = visitor.token.gemeenten.clone();
    // The action names the notification, so the line says what was sent again.
    let audit = visitor.audit_each(&headers, &format!("{action} {id}"), scope.iter());
    let channels = web
        .ask(|reply| {
            Command::Page(PageCommand::SendAgain {
                id: id.clone(),
                scope,
                audit,
                reply,
            })
        })
        .await??;
    if channels.is_empty() {
        return Err(PageError::message(
            StatusCode::CONFLICT,
            "Deze melding is niet (meer) mislukt, of u mag hem niet zien. Er is niets opnieuw verstuurd.",
        ));
    }
    tracing::info!(notification = %id, channels = %channels.join(","), token = %visitor.token.name, "dead letter sent again");
    let back = format!(
        "/meldingen?{}",
        serde_urlencoded::to_string([("opnieuw", channels.join(", "))]).unwrap_or_default()
    );
    Ok(Redirect::to(&back).into_response())
}
