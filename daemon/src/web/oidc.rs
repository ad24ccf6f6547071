//! `/inloggen/oidc` and `/inloggen/oidc/terug`: signing in with the gemeente's own identity
//! provider (`crate::oidc` does the protocol). The first sends the person to the provider's
//! login page; the second takes them back, checks what the provider says, and gives them a
//! session like a token's, with what their groups give. A refusal is a Dutch page and an
//! audit line; so is a sign-in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::session::Who;
use super::signin::{safe_target, session_cookies, too_many};
use super::{Chrome, PageError, Web, render};
use crate::oidc::Refused;
use crate::scheduler::Command;
use crate::store::AuditEntry;

const BACK: &str = "web GET /inloggen/oidc/terug";

/// To the provider's login page.
pub(super) async fn start(
    State(web): State<Web>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let provider = web.oidc.clone().ok_or_else(PageError::not_found)?;
    let back_to = safe_target(query.get("naar").map(String::as_str));
    match provider.begin(back_to).await {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(refused) => {
            tracing::error!(cause = %refused, "signing in through the identity provider cannot start");
            Err(PageError::message(
                StatusCode::BAD_GATEWAY,
                refused.dutch(provider.name()),
            ))
        }
    }
}

/// Back from the provider: its code exchanged and its ID token checked, the person's groups
/// looked up in `access`, and a session.
pub(super) async fn back(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let provider = web.oidc.clone().ok_or_else(PageError::not_found)?;
    let now = Instant::now();
    let address = peer.ip();
    if web.guard.is_blocked(address, now) {
        return Err(too_many());
    }
    let state = query.get("state").map(String::as_str).unwrap_or_default();
    let finished = match (query.get("error"), query.get("code")) {
        // An OAuth error code (`access_denied`); nothing else of what the address says is kept.
        (Some(error), _) => Err(Refused::ProviderSaid(
            error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect(),
        )),
        (None, Some(code)) => provider.finish(state, code).await,
        (None, None) => Err(Refused::UnknownState),
    };
    let (person, back_to) = match finished {
        Ok(done) => done,
        Err(refused) => {
            // A state that is not ours counts like a wrong token: someone may be guessing.
            if matches!(refused, Refused::UnknownState) {
                web.guard
                    .refused(address, true, now, jiff::Timestamp::now());
            }
            tracing::warn!(cause = %refused, "a sign-in through the identity provider is refused");
            audit_refusal(&web, None, &refused);
            let status = match refused {
                Refused::Provider(_) => StatusCode::BAD_GATEWAY,
                Refused::IdToken(_) | Refused::NoGroup { .. } => StatusCode::FORBIDDEN,
                Refused::UnknownState | Refused::ProviderSaid(_) => StatusCode::BAD_REQUEST,
            };
            return Err(PageError::message(status, refused.dutch(provider.name())));
        }
    };
    let Some(token) = web.tokens.of_person(&person) else {
        let refused = Refused::NoGroup {
            person: person.id.clone(),
        };
        tracing::warn!(person = %person.id, "a person signed in at the identity provider is in no group with access");
        audit_refusal(&web, Some(&person.id), &refused);
        return Err(PageError::message(
            StatusCode::FORBIDDEN,
            refused.dutch(provider.name()),
        ));
    };
    for gemeente in token.gemeenten.iter() {
        let entry = crate::audit::entry(Some(&token), Some(&person.id), BACK, Some(gemeente), None);
        let _ = web.commands.send(Command::Audit { entry });
    }
    let page = SignedIn {
        chrome: Chrome::anonymous("Ingelogd"),
        person: person.id.clone(),
        back_to,
    };
    let id = web.sessions.start(Who::Person(person), now);
    // A page that goes on by itself, not a redirect: the session cookie is `SameSite=Strict`,
    // and a browser sends no such cookie along a chain of redirects that began at the
    // provider's site. From this page on, the person is on Waakvlam's own site.
    Ok((session_cookies(&web, &id), render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "ingelogd.html")]
struct SignedIn {
    chrome: Chrome,
    person: String,
    back_to: String,
}

/// The audit line of a refused sign-in: of no gemeente (the person has none here), for the
/// operator, with the person when the provider named them.
fn audit_refusal(web: &Web, person: Option<&str>, refused: &Refused) {
    let entry = AuditEntry {
        at: jiff::Timestamp::now().to_string(),
        token: "oidc".to_string(),
        on_behalf_of: person
            .filter(|p| !waakvlam_core::event::has_bsn_like_number(p))
            .map(str::to_string),
        action: BACK.to_string(),
        gemeente: None,
        case: None,
        outcome: format!("refused: {refused}"),
    };
    let _ = web.commands.send(Command::Audit { entry });
}
