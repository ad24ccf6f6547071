//! The web pages for coordinators and professionals (DESIGN.md, "Web pages"): server-rendered
//! Dutch HTML from templates checked at compile time (askama), on the API's port and with the
//! API's tokens. A person signs in with a token once and gets a session cookie; the token
//! itself is never in a URL or a page.
//!
//! Together with `api` the only module that knows HTTP. Every read of case data is audited
//! first, through the scheduler, and then read: a case page by the scheduler itself, the lists and the
//! overview on a reader beside it (`Web::read_beside`), so ingest never waits for them.

mod chart;
mod ics;
pub mod session;

mod case;
mod deadlines;
mod feeds;
mod notifications;
mod oidc;
mod overview;
mod report;
mod signin;
mod whatif;
mod workflows;

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

pub use crate::catalog::{Catalog, Shelf, case_link};
use crate::config::{TokenConfig, WebConfig};
use crate::dutch;
use crate::scheduler::{Command, SchedulerError};
use crate::scheduler::{Unanswered, ask_scheduler};
use crate::scope::Scope;
use crate::store::{AuditEntry, Readers, StoreError};
use session::{Session, Sessions, Who};
use waakvlam_core::calendar::Day;

/// The session cookie's name.
const SESSION_COOKIE: &str = "waakvlam_sessie";

/// What every page answer carries: no script, styles and images from the daemon only, no
/// framing, no referrer (a case page's address names a case), and nothing cached.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
];

#[derive(Clone)]
pub struct Web {
    commands: mpsc::Sender<Command>,
    tokens: crate::tokens::Tokens,
    sessions: Arc<Sessions>,
    shelf: Shelf,
    config: WebConfig,
    /// Reads that scan many rows run here, beside the scheduler, so ingest never waits for them.
    readers: Arc<Readers>,
    /// Sign-ins with a wrong token: the brake the API shares, and their audit lines.
    guard: Arc<crate::guard::Guard>,
    /// The gemeente's identity provider, when people sign in with it (`daemon.web.oidc`).
    oidc: Option<Arc<crate::oidc::Provider>>,
}

impl Web {
    pub fn new(
        commands: mpsc::Sender<Command>,
        tokens: crate::tokens::Tokens,
        shelf: Shelf,
        config: WebConfig,
        readers: Arc<Readers>,
        guard: Arc<crate::guard::Guard>,
        oidc: Option<Arc<crate::oidc::Provider>>,
    ) -> Web {
        Web {
            readers,
            guard,
            oidc,
            commands,
            tokens,
            sessions: Arc::new(Sessions::new(config.clone())),
            shelf,
            config,
        }
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(overview::page))
            .route("/inloggen", get(signin::form).post(signin::sign_in))
            .route("/inloggen/oidc", get(oidc::start))
            .route("/inloggen/oidc/terug", get(oidc::back))
            .route("/uitloggen", post(signin::sign_out))
            .route("/termijnen", get(deadlines::page))
            .route("/termijnen.csv", get(deadlines::csv))
            .route("/casus/{gemeente}/{case}", get(case::page))
            .route("/workflows", get(workflows::list))
            .route("/workflows/{name}", get(workflows::page))
            .route("/meldingen", get(notifications::page))
            .route("/rapportage", get(report::page))
            .route("/rapportage.csv", get(report::csv))
            .route("/meldingen/opnieuw", post(notifications::send_again))
            .route(
                "/wat-als",
                get(whatif::page).post(whatif::try_change).layer(
                    axum::extract::DefaultBodyLimit::max(crate::whatif::MAX_REQUEST_BYTES),
                ),
            )
            .route("/agenda", get(feeds::page).post(feeds::create))
            .route("/agenda/intrekken", post(feeds::revoke))
            .route("/agenda/{file}", get(feeds::calendar))
            .route("/static/waakvlam.css", get(style_sheet))
            .layer(axum::middleware::from_fn(security_headers))
            .with_state(self)
    }

    /// The signed-in person of a request, or the way to the sign-in page.
    fn visitor(&self, headers: &HeaderMap, here: &str) -> Result<Visitor, PageError> {
        let found = cookie(headers, SESSION_COOKIE).and_then(|id| {
            let session = self.sessions.get(&id, Instant::now())?;
            let (token, person) = match &session.who {
                Who::Token(sha256) => (self.tokens.get(sha256)?, None),
                Who::Person(person) => (self.tokens.of_person(person)?, Some(person.id.clone())),
            };
            Some((id, session, token, person))
        });
        match found {
            Some((session_id, session, token, person)) => Ok(Visitor {
                token,
                person,
                session,
                session_id,
            }),
            None => Err(PageError::SignIn {
                back_to: here.to_string(),
            }),
        }
    }

    /// A read of case data done beside the scheduler: its audit lines are written first (through
    /// the scheduler, which answers its time), then `read` runs on a reader connection on a
    /// blocking thread with that time.
    async fn read_beside<T: Send + 'static>(
        &self,
        audit: Vec<AuditEntry>,
        read: impl FnOnce(&Readers, jiff::Timestamp) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, PageError> {
        use crate::scheduler::pages::PageCommand;
        let now = self
            .ask(|reply| Command::Page(PageCommand::Audited { audit, reply }))
            .await??;
        let readers = self.readers.clone();
        let done = tokio::task::spawn_blocking(move || read(&readers, now))
            .await
            .map_err(|err| {
                tracing::error!(cause = %err, "a read for a page failed");
                PageError::from(SchedulerError::NotStored(err.to_string()))
            })?;
        Ok(done.map_err(SchedulerError::from)?)
    }

    /// Audits a refused page request of a signed-in person (NEN 7513 logs attempts too): a
    /// line for the gemeente asked for, or one per gemeente of the person's token, and passes
    /// the refusal on.
    fn refused(
        &self,
        visitor: &Visitor,
        headers: &HeaderMap,
        action: &str,
        gemeente: Option<&str>,
        case: Option<&str>,
        err: PageError,
    ) -> PageError {
        let outcome = match &err {
            PageError::Message { status, text } => format!("refused: {} {text}", status.as_u16()),
            PageError::SignIn { .. } => "refused: not signed in".to_string(),
        };
        let asked = gemeente.filter(|g| waakvlam_core::event::is_gemeente_code(g));
        let gemeenten: Vec<&str> = match asked {
            Some(gemeente) => vec![gemeente],
            None => visitor.token.gemeenten.iter().collect(),
        };
        for gemeente in gemeenten {
            let entry = AuditEntry {
                outcome: outcome.clone(),
                ..visitor.audit(headers, action, Some(gemeente), case)
            };
            let _ = self.commands.send(Command::Audit { entry });
        }
        err
    }

    /// A form's CSRF token must be this session's; a form that fails the check is audited.
    fn check_form(
        &self,
        visitor: &Visitor,
        headers: &HeaderMap,
        action: &str,
        csrf: &str,
    ) -> Result<(), PageError> {
        visitor
            .check_form(csrf)
            .map_err(|err| self.refused(visitor, headers, action, None, None, err))
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Command,
    ) -> Result<T, PageError> {
        ask_scheduler(&self.commands, make)
            .await
            .map_err(|unanswered| match unanswered {
                Unanswered::ShuttingDown => PageError::message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Waakvlam wordt gestopt. Probeer het over een paar minuten opnieuw.",
                ),
                Unanswered::TooSlow => PageError::message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Waakvlam is even te druk. Laad de pagina opnieuw.",
                ),
            })
    }
}

/// A signed-in person: what their token or their groups at the identity provider give (looked
/// up again at every request) and their session.
pub(crate) struct Visitor {
    token: TokenConfig,
    /// The person's id at the identity provider, when they signed in there: the audit log's
    /// `on_behalf_of` for everything they read or change.
    person: Option<String>,
    session: Session,
    session_id: String,
}

impl Visitor {
    /// The page frame for this person.
    fn chrome(&self, title: impl Into<String>, current: &'static str) -> Chrome {
        Chrome {
            title: title.into(),
            who: Some(
                self.person
                    .clone()
                    .unwrap_or_else(|| self.token.name.clone()),
            ),
            csrf: self.session.csrf.clone(),
            current,
        }
    }

    /// An audit line of a page view, with the person from `X-On-Behalf-Of` when a proxy sets
    /// it.
    fn audit(
        &self,
        headers: &HeaderMap,
        action: &str,
        gemeente: Option<&str>,
        case: Option<&str>,
    ) -> AuditEntry {
        match &self.person {
            Some(person) => {
                crate::audit::entry(Some(&self.token), Some(person), action, gemeente, case)
            }
            None => crate::audit::line(Some(&self.token), headers, action, gemeente, case),
        }
    }

    /// One audit line per gemeente of a read that covers several.
    fn audit_each<'a>(
        &self,
        headers: &HeaderMap,
        action: &str,
        gemeenten: impl Iterator<Item = &'a str>,
    ) -> Vec<AuditEntry> {
        gemeenten
            .map(|g| self.audit(headers, action, Some(g), None))
            .collect()
    }

    /// A form's CSRF token must be this session's.
    fn check_form(&self, csrf: &str) -> Result<(), PageError> {
        if session::same_secret(csrf, &self.session.csrf) {
            Ok(())
        } else {
            Err(PageError::message(
                StatusCode::FORBIDDEN,
                "Dit formulier is verlopen of komt niet van Waakvlam. Laad de pagina opnieuw en probeer het nog eens.",
            ))
        }
    }

    /// Refuses a change with a read-only token.
    fn may_change(&self) -> Result<(), PageError> {
        if self.token.read_only {
            Err(PageError::message(
                StatusCode::FORBIDDEN,
                "U bent ingelogd met een token dat alleen mag lezen. Vraag de beheerder om een token dat wijzigingen mag doen.",
            ))
        } else {
            Ok(())
        }
    }
}

/// The frame around every page: its title, who is signed in, the sign-out form's CSRF token
/// and which menu item is the current page.
pub(crate) struct Chrome {
    title: String,
    who: Option<String>,
    csrf: String,
    current: &'static str,
}

impl Chrome {
    fn anonymous(title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            who: None,
            csrf: String::new(),
            current: "",
        }
    }

    /// The menu: path, label, whether it is the current page.
    fn menu(&self) -> Vec<(&'static str, &'static str, bool)> {
        [
            ("/", "Overzicht"),
            ("/termijnen", "Termijnen"),
            ("/meldingen", "Meldingen"),
            ("/rapportage", "Rapportage"),
            ("/workflows", "Workflows"),
            ("/wat-als", "Wat als"),
            ("/agenda", "Agenda"),
        ]
        .into_iter()
        .map(|(path, label)| (path, label, path == self.current))
        .collect()
    }
}

/// Why a page is not shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in: to the sign-in page, and back here afterwards.
    SignIn {
        back_to: String,
    },
    Message {
        status: StatusCode,
        text: String,
    },
}

impl PageError {
    fn message(status: StatusCode, text: impl Into<String>) -> PageError {
        PageError::Message {
            status,
            text: text.into(),
        }
    }

    fn not_found() -> PageError {
        PageError::message(
            StatusCode::NOT_FOUND,
            "Deze pagina bestaat niet, of u mag hem niet zien.",
        )
    }

    fn bad_request(text: impl Into<String>) -> PageError {
        PageError::message(StatusCode::BAD_REQUEST, text)
    }
}

impl From<SchedulerError> for PageError {
    fn from(err: SchedulerError) -> PageError {
        tracing::error!(cause = %err, "a page could not be made");
        PageError::message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Er ging iets mis bij het lezen van de gegevens. De beheerder kan in het logboek zien wat. Probeer het later opnieuw.",
        )
    }
}

#[derive(Template)]
#[template(path = "fout.html")]
struct ErrorPage {
    chrome: Chrome,
    text: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { back_to } => {
                let target = format!(
                    "/inloggen?{}",
                    serde_urlencoded::to_string([("naar", back_to.as_str())]).unwrap_or_default()
                );
                Redirect::to(&target).into_response()
            }
            PageError::Message { status, text } => {
                let title = match status {
                    StatusCode::NOT_FOUND => "Niet gevonden",
                    StatusCode::FORBIDDEN => "Niet toegestaan",
                    StatusCode::BAD_REQUEST => "Dat lukt zo niet",
                    StatusCode::TOO_MANY_REQUESTS => "Even wachten",
                    _ => "Er ging iets mis",
                };
                let page = ErrorPage {
                    chrome: Chrome::anonymous(title),
                    text,
                };
                (status, render(&page)).into_response()
            }
        }
    }
}

/// The page of an address that is neither a page nor part of the API, for a browser.
pub(crate) fn not_found_page() -> Response {
    let mut response = PageError::not_found().into_response();
    for (name, value) in SECURITY_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A template as an HTML answer. Rendering fails only on a bug in a template's Rust side (a
/// formatting error), which is logged and answered as such.
fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(cause = %err, "a page template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "de pagina kon niet worden gemaakt",
            )
                .into_response()
        }
    }
}

/// A cookie's value from the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

async fn style_sheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/waakvlam.css"),
    )
        .into_response()
}

/// A page's query as a person filled in the form: empty fields count as not given, and the
/// gemeente and dates are checked the same way on every page that takes them.
struct Form<'q>(&'q HashMap<String, String>);

impl Form<'_> {
    fn value(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The gemeenten asked for: the one chosen if the token has it (403 otherwise, naming
    /// `what` the page shows), else all of the token's.
    fn scope(&self, visitor: &Visitor, what: &str) -> Result<Scope, PageError> {
        match self.value("gemeente") {
            Some(code) => visitor.token.gemeenten.narrowed_to(code).ok_or_else(|| {
                PageError::message(
                    StatusCode::FORBIDDEN,
                    format!("U mag {what} van {code} niet zien."),
                )
            }),
            None => Ok(visitor.token.gemeenten.clone()),
        }
    }

    /// A date field (`label` as the form names it), if given.
    fn day(&self, name: &str, label: &str) -> Result<Option<Day>, PageError> {
        match self.value(name) {
            Some(text) => text.parse::<Day>().map(Some).map_err(|_| {
                PageError::bad_request(format!(
                    "De datum '{label}' ({text}) is geen datum; schrijf hem als 2027-04-28."
                ))
            }),
            None => Ok(None),
        }
    }
}

/// A CSV for Excel as a download named `filename`.
fn csv_download(filename: &str, body: String) -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; waakvlam_sessie=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
