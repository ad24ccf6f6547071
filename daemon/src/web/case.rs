//! `/casus/{gemeente}/{case}`: one case's events in time order, its deadlines with why a due
//! date moved, its notifications with their delivery, and what it sends next if nothing else
//! happens ("wat komt er"), computed by the engine on a copy of the case.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Chrome, PageError, Web, case_link, dutch, render};
use crate::scheduler::Command;
use crate::scheduler::pages::PageCommand;
use crate::store::CaseKey;
use waakvlam_core::engine::{CalendarMark, DeadlineState, Moved};
use waakvlam_core::event;

#[derive(Template)]
#[template(path = "casus.html")]
struct CasePage {
    chrome: Chrome,
    gemeente: String,
    case: String,
    today: String,
    events: Vec<EventText>,
    deadlines: Vec<DeadlineText>,
    notifications: Vec<NotificationText>,
    upcoming: Vec<UpcomingText>,
}

struct EventText {
    at: String,
    kind: String,
    id: String,
    details: String,
}

struct DeadlineText {
    workflow: String,
    title: String,
    due: String,
    state: String,
    overdue: bool,
    provisional: bool,
    moved: Vec<String>,
    /// How the due date came about, a sentence a step.
    explanation: Vec<String>,
}

struct NotificationText {
    at: String,
    kind: &'static str,
    title: String,
    to: String,
    message: String,
    deliveries: Vec<String>,
    dead: bool,
}

struct UpcomingText {
    at: String,
    kind: &'static str,
    title: String,
    to: String,
    message: String,
}

/// Fields of an event's data a case page does not show: who the young person is is not
/// Waakvlam's business, and the birth date shows as "gecorrigeerd" where it matters.
const HIDDEN_FIELDS: &[&str] = &["geboortedatum", "professional", "team"];

pub(super) async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Path((gemeente, case)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let here = case_link(&gemeente, &case);
    let visitor = web.visitor(&headers, &here)?;
    let action = "web GET /casus";
    if event::has_bsn_like_number(&case) {
        let err = PageError::bad_request(
            "Dit casusnummer bevat een getal van 9 cijfers dat een BSN kan zijn. Zoek de casus op met het pseudonieme casusnummer.",
        );
        return Err(web.refused(&visitor, &headers, action, Some(&gemeente), None, err));
    }
    if !visitor.token.gemeenten.contains(&gemeente) {
        let err = PageError::not_found();
        return Err(web.refused(
            &visitor,
            &headers,
            action,
            Some(&gemeente),
            Some(&case),
            err,
        ));
    }
    let audit = visitor.audit(&headers, action, Some(&gemeente), Some(&case));
    let key = CaseKey::new(&gemeente, &case);
    let Some(found) = web
        .ask(|reply| Command::Page(PageCommand::Case { key, audit, reply }))
        .await??
    else {
        return Err(PageError::not_found());
    };
    let catalog = web.shelf.get();
    let view = &found.view;
    let events = view
        .events
        .iter()
        .map(|e| {
            let details = e
                .data
                .iter()
                .filter(|(k, _)| !HIDDEN_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}: {}", dutch::date(s)),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            EventText {
                at: dutch::moment_text(&e.at),
                kind: e.event_type.clone(),
                id: e.id.clone(),
                details,
            }
        })
        .collect();
    let deadlines = view
        .deadlines
        .iter()
        .map(|explained| {
            let d = &explained.row;
            let moved = found
                .moved
                .iter()
                .filter(|m| m.instance == d.instance && m.deadline == d.deadline)
                .flat_map(|m| &m.reasons)
                .map(moved_text)
                .collect();
            let mut title = catalog.deadline_title(&d.workflow, &d.deadline);
            if d.occurrence > 0 {
                title.push_str(&format!(" ({}e keer)", d.occurrence + 1));
            }
            DeadlineText {
                workflow: catalog.title_of(&d.workflow),
                title,
                due: d.due.map_or_else(|| "onbekend".into(), dutch::day),
                state: dutch::deadline_state_met(d.status, d.due, d.met_at),
                overdue: d.status == DeadlineState::Overdue,
                provisional: d.calendar == Some(CalendarMark::Provisional),
                moved,
                explanation: explained.explanation.clone(),
            }
        })
        .collect();
    let notifications = view
        .notifications
        .iter()
        .map(|n| {
            let r = &n.record;
            NotificationText {
                at: dutch::moment(r.at),
                kind: dutch::kind(r.kind),
                title: catalog.deadline_title(&r.workflow, &r.deadline),
                to: catalog.role_titles(&r.workflow, &r.to),
                message: r.message.clone(),
                deliveries: n
                    .deliveries
                    .iter()
                    .map(|d| format!("{}: {}", d.channel, dutch::delivery(d.status)))
                    .collect(),
                dead: n.status == crate::store::DeliveryStatus::Dead,
            }
        })
        .collect();
    let upcoming = found
        .upcoming
        .iter()
        .map(|n| UpcomingText {
            at: dutch::moment(n.at),
            kind: dutch::kind(n.kind),
            title: catalog.deadline_title(&n.workflow, &n.deadline),
            to: catalog.role_titles(&n.workflow, &n.to),
            message: n.message.clone(),
        })
        .collect();
    let page = CasePage {
        chrome: visitor.chrome(format!("Casus {case}"), ""),
        gemeente: catalog.gemeente_name(&gemeente),
        case,
        today: dutch::date_with_weekday(found.today),
        events,
        deadlines,
        notifications,
        upcoming,
    };
    Ok(render(&page))
}

fn moved_text(reason: &Moved) -> String {
    match reason {
        Moved::Suspended { days, since: None } => {
            format!(
                "{days} {} opgeschort",
                if *days == 1 { "dag" } else { "dagen" }
            )
        }
        Moved::Suspended {
            days,
            since: Some(since),
        } => format!(
            "opgeschort sinds {}{}",
            dutch::day(*since),
            if *days > 0 {
                format!(", eerder al {days} dagen")
            } else {
                String::new()
            }
        ),
        Moved::Extended { times: 1 } => "verlengd".to_string(),
        Moved::Extended { times } => format!("{times} keer verlengd"),
        Moved::BirthDateCorrected { on } => {
            format!("geboortedatum gecorrigeerd op {}", dutch::day(*on))
        }
    }
}
