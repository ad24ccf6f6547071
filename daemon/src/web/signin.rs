//! `/inloggen` and `/uitloggen`. A token is typed into a form (never put in a URL), checked
//! like the API checks it, and exchanged for a session. Five failures from one address within
//! a minute make that address wait a minute (429); failures are audited as refused attempts.
//! Where the gemeente's identity provider is set up, the page offers it beside the token
//! (`web/oidc.rs`), or instead of it (`token_sign_in: false`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::session::same_secret;
use super::{Chrome, PageError, SESSION_COOKIE, Web, cookie, render};
use crate::scheduler::Command;
use crate::tokens::{random_token, token_sha256};

/// The cookie that ties the sign-in form to the browser that fetched it (a double-submit
/// CSRF token: there is no session yet to keep one in).
const FORM_COOKIE: &str = "waakvlam_inlog";

#[derive(Template)]
#[template(path = "inloggen.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    back_to: String,
    problem: Option<String>,
    /// "Inloggen met {name}", and its address with where to go afterwards.
    provider: Option<(String, String)>,
    token_sign_in: bool,
}

pub(super) async fn form(
    State(web): State<Web>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let back_to = safe_target(query.get("naar").map(String::as_str));
    sign_in_form(&web, back_to, None, StatusCode::OK)
}

fn sign_in_form(
    web: &Web,
    back_to: String,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let csrf = random_token();
    let provider = web.oidc.as_ref().map(|p| {
        (
            p.name().to_string(),
            format!(
                "/inloggen/oidc?{}",
                serde_urlencoded::to_string([("naar", back_to.as_str())]).unwrap_or_default()
            ),
        )
    });
    let page = SignInPage {
        chrome: Chrome::anonymous("Inloggen"),
        csrf: csrf.clone(),
        back_to,
        problem,
        provider,
        token_sign_in: token_sign_in(web),
    };
    let cookie = format!(
        "{FORM_COOKIE}={csrf}; Path=/inloggen; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        secure(web)
    );
    (status, [(header::SET_COOKIE, cookie)], render(&page)).into_response()
}

pub(super) async fn sign_in(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let now = Instant::now();
    let address = peer.ip();
    let back_to = safe_target(form.get("naar").map(String::as_str));
    if !token_sign_in(&web) {
        return Err(PageError::message(
            StatusCode::FORBIDDEN,
            "Inloggen met een token staat uit. Log in via de knop op de inlogpagina.",
        ));
    }
    if web.guard.is_blocked(address, now) {
        return Err(too_many());
    }
    let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
    let expected = cookie(&headers, FORM_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(csrf, &expected) {
        return Ok(sign_in_form(
            &web,
            back_to,
            Some("Het formulier was verlopen. Vul uw token opnieuw in.".into()),
            StatusCode::FORBIDDEN,
        ));
    }
    let typed = form.get("token").map(|t| t.trim()).unwrap_or_default();
    let hash = token_sha256(typed);
    let Some(token) = web.tokens.get(&hash).filter(|_| !typed.is_empty()) else {
        let blocked = web
            .guard
            .refused(address, true, now, jiff::Timestamp::now());
        tracing::debug!(address = %address, blocked, "sign-in with an unknown token");
        if blocked {
            return Err(too_many());
        }
        return Ok(sign_in_form(
            &web,
            back_to,
            Some("Dit token kennen we niet. Controleer of u het helemaal hebt gekopieerd.".into()),
            StatusCode::UNAUTHORIZED,
        ));
    };
    for entry in crate::audit::lines(&token, &headers, "web POST /inloggen") {
        let _ = web.commands.send(Command::Audit { entry });
    }
    let id = web.sessions.start(super::session::Who::Token(hash), now);
    Ok((session_cookies(&web, &id), Redirect::to(&back_to)).into_response())
}

/// The cookies of a new session: its id, and the sign-in form's cookie cleared.
pub(super) fn session_cookies(
    web: &Web,
    id: &str,
) -> axum::response::AppendHeaders<[(header::HeaderName, String); 2]> {
    let session = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        web.config.session_max.as_secs(),
        secure(web)
    );
    let clear_form =
        format!("{FORM_COOKIE}=; Path=/inloggen; HttpOnly; SameSite=Strict; Max-Age=0");
    // Two cookies: `AppendHeaders`, since an array of headers would keep only the last.
    axum::response::AppendHeaders([
        (header::SET_COOKIE, session),
        (header::SET_COOKIE, clear_form),
    ])
}

/// Whether the page offers signing in with a token: always, unless the identity provider is
/// set up with `token_sign_in: false`.
fn token_sign_in(web: &Web) -> bool {
    web.oidc.as_ref().is_none_or(|p| p.token_sign_in())
}

pub(super) async fn sign_out(
    State(web): State<Web>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/")?;
    visitor.check_form(form.get("csrf").map(String::as_str).unwrap_or_default())?;
    web.sessions.end(&visitor.session_id);
    let gone = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure(&web)
    );
    Ok(([(header::SET_COOKIE, gone)], Redirect::to("/inloggen")).into_response())
}

pub(super) fn too_many() -> PageError {
    PageError::message(
        StatusCode::TOO_MANY_REQUESTS,
        "Er is vanaf dit adres te vaak een onbekend token ingevuld. Wacht een minuut en probeer het dan opnieuw.",
    )
}

fn secure(web: &Web) -> &'static str {
    if web.config.secure_cookies {
        "; Secure"
    } else {
        ""
    }
}

/// Where to go after signing in: a path on this site, never another site.
pub(super) fn safe_target(asked: Option<&str>) -> String {
    match asked {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_signing_in_only_a_path_of_this_site_is_followed() {
        assert_eq!(safe_target(Some("/casus/GM0150/C-1")), "/casus/GM0150/C-1");
        assert_eq!(safe_target(Some("//elders.example/x")), "/");
        assert_eq!(safe_target(Some("https://elders.example/")), "/");
        assert_eq!(safe_target(Some("/\\elders")), "/");
        assert_eq!(safe_target(None), "/");
    }
}
