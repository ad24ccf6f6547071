//! `/agenda`: calendar feeds for professionals. A feed is the open deadlines of chosen roles
//! in chosen gemeenten as iCalendar (`/agenda/{token}.ics`), behind a random token of its own
//! in its URL, since calendar clients cannot send headers. Made and revoked on this page by a
//! token that may change things; it never carries more than it was made for, and it answers
//! only while the token that made it still exists and covers its gemeenten.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Chrome, PageError, Visitor, Web, case_link, dutch, ics, render};
use crate::scheduler::Command;
use crate::scheduler::pages::{FeedRow, PageCommand};
use crate::scope::Scope;
use crate::store::{AuditEntry, Feed};
use crate::tokens::{random_token, token_sha256};

/// At most this many deadlines in one feed (the nearest first).
const FEED_MOST: u32 = 5_000;

#[derive(Template)]
#[template(path = "agenda.html")]
struct FeedsPage {
    chrome: Chrome,
    feeds: Vec<FeedText>,
    gemeenten: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    may_change: bool,
    /// The address of a feed just made: shown once, never again.
    made: Option<String>,
}

struct FeedText {
    id: i64,
    name: String,
    gemeenten: String,
    roles: String,
    made_by: String,
    created: String,
}

pub(super) async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/agenda")?;
    show(&web, &visitor, None, StatusCode::OK).await
}

async fn show(
    web: &Web,
    visitor: &Visitor,
    made: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let scope = visitor.token.gemeenten.clone();
    let feeds = web
        .ask(|reply| Command::Page(PageCommand::Feeds { scope, reply }))
        .await??;
    let catalog = web.shelf.get();
    let roles = catalog.owner_roles();
    let page = FeedsPage {
        chrome: visitor.chrome("Agenda", "/agenda"),
        feeds: feeds
            .iter()
            .map(|f| FeedText {
                id: f.id,
                name: f.name.clone(),
                gemeenten: f
                    .gemeenten
                    .iter()
                    .map(|g| catalog.gemeente_name(g))
                    .collect::<Vec<_>>()
                    .join(", "),
                roles: f
                    .roles
                    .iter()
                    .map(|r| roles.get(r).cloned().unwrap_or_else(|| r.clone()))
                    .collect::<Vec<_>>()
                    .join(", "),
                made_by: match &f.on_behalf_of {
                    Some(person) => format!("{person} (token {})", f.made_by),
                    None => format!("token {}", f.made_by),
                },
                created: dutch::moment_text(&f.created),
            })
            .collect(),
        gemeenten: visitor
            .token
            .gemeenten
            .iter()
            .map(|g| (g.to_string(), catalog.gemeente_name(g)))
            .collect(),
        roles: roles.into_iter().collect(),
        may_change: !visitor.token.read_only && visitor.person.is_none(),
        made: made.map(|token| format!("{}/agenda/{token}.ics", base_url(web))),
    };
    Ok((status, render(&page)).into_response())
}

pub(super) async fn create(
    State(web): State<Web>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/agenda")?;
    // Checkboxes repeat their name: read the pairs, not a map.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&body)
        .map_err(|_| PageError::bad_request("Het formulier kon niet worden gelezen."))?;
    let one = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let all = |name: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    web.check_form(&visitor, &headers, "web POST /agenda", &one("csrf"))?;
    visitor.may_change()?;
    // A feed outlives the session that made it and is tied to the token that made it; a person
    // of the identity provider has no token, and what their account gives ends with it.
    if visitor.person.is_some() {
        return Err(PageError::message(
            StatusCode::FORBIDDEN,
            "Een agenda-link hoort bij een token. Wie met het account van de organisatie inlogt, kan er geen maken: vraag de beheerder om een token voor uw agenda.",
        ));
    }
    let name = one("naam");
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(PageError::bad_request(
            "Geef de agenda een naam van 1 tot 80 tekens, bijvoorbeeld 'Klachten Deventer'.",
        ));
    }
    if waakvlam_core::event::has_bsn_like_number(&name) {
        return Err(PageError::bad_request(
            "De naam bevat een getal van 9 cijfers dat een BSN kan zijn. Kies een naam zonder.",
        ));
    }
    let asked_gemeenten = all("gemeente");
    if let Some(outside) = asked_gemeenten
        .iter()
        .find(|g| !visitor.token.gemeenten.contains(g))
    {
        let err = PageError::message(
            StatusCode::FORBIDDEN,
            format!("U mag geen agenda maken voor {outside}."),
        );
        return Err(web.refused(
            &visitor,
            &headers,
            "web POST /agenda",
            Some(outside),
            None,
            err,
        ));
    }
    let Some(gemeenten) = Scope::new(asked_gemeenten) else {
        return Err(PageError::bad_request("Kies ten minste één gemeente."));
    };
    let known = web.shelf.get().owner_roles();
    let roles = all("rol");
    if let Some(unknown) = roles.iter().find(|r| !known.contains_key(*r)) {
        return Err(PageError::bad_request(format!(
            "'{unknown}' is geen rol van een termijn."
        )));
    }
    if roles.is_empty() {
        return Err(PageError::bad_request("Kies ten minste één rol."));
    }
    let token = random_token();
    let on_behalf_of = visitor.audit(&headers, "", None, None).on_behalf_of;
    let now = web
        .ask(|reply| Command::Page(PageCommand::Today { reply }))
        .await?;
    let feed = Feed {
        id: 0,
        name,
        made_by: visitor.token.name.clone(),
        on_behalf_of,
        gemeenten: gemeenten.clone(),
        roles,
        created: waakvlam_core::calendar::format_timestamp(now),
        maker_sha256: Some(visitor.token.sha256.clone()),
    };
    let audit = visitor.audit_each(&headers, "web POST /agenda", gemeenten.iter());
    let id = web
        .ask(|reply| {
            Command::Page(PageCommand::AddFeed {
                token_sha256: token_sha256(&token),
                feed,
                audit,
                reply,
            })
        })
        .await??;
    tracing::info!(feed = id, token = %visitor.token.name, "calendar feed made");
    show(&web, &visitor, Some(token), StatusCode::CREATED).await
}

pub(super) async fn revoke(
    State(web): State<Web>,
    headers: HeaderMap,
    axum::extract::Form(form): axum::extract::Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/agenda")?;
    web.check_form(
        &visitor,
        &headers,
        "web POST /agenda/intrekken",
        form.get("csrf").map(String::as_str).unwrap_or_default(),
    )?;
    visitor.may_change()?;
    let Some(id) = form.get("id").and_then(|id| id.parse::<i64>().ok()) else {
        return Err(PageError::bad_request(
            "Welke agenda? Het formulier noemt er geen.",
        ));
    };
    let scope = visitor.token.gemeenten.clone();
    let audit = visitor.audit_each(&headers, "web POST /agenda/intrekken", scope.iter());
    let revoked = web
        .ask(|reply| {
            Command::Page(PageCommand::RevokeFeed {
                id,
                scope,
                audit,
                reply,
            })
        })
        .await??;
    if !revoked {
        return Err(PageError::not_found());
    }
    tracing::info!(feed = id, token = %visitor.token.name, "calendar feed revoked");
    Ok(Redirect::to("/agenda").into_response())
}

/// `/agenda/{token}.ics`: the feed itself. Anything that is not a live feed is 404, so the
/// answer tells nothing about which tokens exist.
pub(super) async fn calendar(
    State(web): State<Web>,
    Path(file): Path<String>,
) -> Result<Response, PageError> {
    let token = file.strip_suffix(".ics").ok_or_else(PageError::not_found)?;
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PageError::not_found());
    }
    let token_sha256 = token_sha256(token);
    let feed = web
        .ask(|reply| {
            Command::Page(PageCommand::FeedOfToken {
                token_sha256,
                reply,
            })
        })
        .await??
        .ok_or_else(PageError::not_found)?;
    // A feed lives no longer than the token that made it (that token, not another of its
    // name), nor reaches past its gemeenten.
    let maker_covers = feed
        .maker_sha256
        .as_deref()
        .and_then(|sha256| web.tokens.get(sha256))
        .is_some_and(|t| feed.gemeenten.iter().all(|g| t.gemeenten.contains(g)));
    if !maker_covers {
        return Err(PageError::not_found());
    }
    let catalog = web.shelf.get();
    let deadlines = catalog.owned_by(&feed.roles);
    let audit: Vec<AuditEntry> = feed
        .gemeenten
        .iter()
        .map(|g| AuditEntry {
            at: jiff::Timestamp::now().to_string(),
            token: feed.made_by.clone(),
            on_behalf_of: feed.on_behalf_of.clone(),
            action: format!("web GET /agenda (agenda {})", feed.id),
            gemeente: Some(g.to_string()),
            case: None,
            outcome: "allowed".into(),
        })
        .collect();
    let found = web
        .ask(|reply| {
            Command::Page(PageCommand::FeedDeadlines {
                scope: feed.gemeenten.clone(),
                deadlines,
                limit: FEED_MOST,
                audit,
                reply,
            })
        })
        .await??;
    let base = base_url(&web);
    let events: Vec<ics::AllDay> = found
        .rows
        .iter()
        .filter_map(|FeedRow { row, alarm, explanation }| {
            let day = row.due?;
            let title = catalog.deadline_title(&row.workflow, &row.deadline);
            let link = format!("{base}{}", case_link(&row.gemeente, &row.case));
            Some(ics::AllDay {
                uid: format!(
                    "{}/{}/{}@waakvlam",
                    row.instance, row.deadline, row.occurrence
                ),
                day,
                summary: format!("{title}, casus {}", row.case),
                description: format!(
                    "{}\nGemeente: {}\nTermijn: {}\nCasus: {link}\n\nZo is deze datum berekend:\n{}",
                    catalog.title_of(&row.workflow),
                    catalog.gemeente_name(&row.gemeente),
                    dutch::day(day),
                    explanation.join("\n"),
                ),
                url: link,
                alarm: *alarm,
            })
        })
        .collect();
    let body = ics::calendar(&format!("Waakvlam: {}", feed.name), found.now, &events);
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response())
}

/// The address of this site as the person reached it: `https` behind TLS (where the cookies
/// are marked secure), the `Host` they asked for when it is a plain host name.
/// Where the pages are reached: `daemon.web.public_url`, or the daemon's own address when it
/// has none (set at start). Never the request's `Host`, which anyone sending the request
/// chooses, and which would go into a feed that calendars keep.
fn base_url(web: &Web) -> String {
    web.config
        .public_url
        .clone()
        .unwrap_or_else(|| "http://localhost".to_string())
}
