//! The HTTP API (axum): the only module that knows HTTP. JSON in and out, versioned under
//! `/v1`, every call but `/healthz` authenticated with a bearer token that belongs to one
//! gemeente or a region, and every read of case data and every write audit-logged.

use std::collections::HashMap;
use std::sync::{Arc, mpsc};

use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::config::TokenConfig;
use crate::metrics::Metrics;
use crate::scheduler::{Command, Outcome, Reply, SchedulerError, Unanswered, ask_scheduler};
use crate::store::StoreError;
use crate::store::{AuditEntry, AuditFilter, Filter};
use crate::tokens::token_sha256;
use waakvlam_core::event;

mod caller;
mod reads;
mod writes;

use caller::Caller;
use reads::*;
use writes::*;

/// At most this many events per request; more is refused as a whole with 400.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;
/// Request bodies above this are refused with 413 before they are read.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    commands: mpsc::Sender<Command>,
    tokens: crate::tokens::Tokens,
    metrics: Arc<Metrics>,
    /// The definitions in use, for a what-if to change.
    shelf: crate::catalog::Shelf,
    readers: Arc<crate::store::Readers>,
    /// The iJw intake (`daemon.ijw`), if set up.
    ijw: Option<Arc<crate::config::IjwConfig>>,
    /// Requests without a valid token: the brake and their audit lines.
    guard: Arc<crate::guard::Guard>,
}

impl Api {
    /// With the iJw intake of `daemon.ijw`.
    pub fn with_ijw(self, ijw: Option<Arc<crate::config::IjwConfig>>) -> Api {
        Api { ijw, ..self }
    }

    pub fn new(
        commands: mpsc::Sender<Command>,
        tokens: crate::tokens::Tokens,
        metrics: Arc<Metrics>,
        shelf: crate::catalog::Shelf,
        readers: Arc<crate::store::Readers>,
        guard: Arc<crate::guard::Guard>,
    ) -> Api {
        Api {
            commands,
            tokens,
            metrics,
            shelf,
            readers,
            ijw: None,
            guard,
        }
    }

    pub fn router(self) -> Router {
        // Every route but these two takes a token, checked first by `gate`.
        let open = Router::new().route("/healthz", get(healthz)).route(
            "/v1/openapi.json",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    crate::openapi::DOCUMENT.as_str(),
                )
            }),
        );
        Router::new()
            .route("/v1/events", post(post_events))
            .route("/v1/cases/{case}", get(get_case))
            .route("/v1/deadlines", get(get_deadlines))
            .route("/v1/notifications", get(get_notifications))
            .route("/v1/notifications/{id}/retry", post(retry_notification))
            .route("/v1/clock", post(post_clock).get(get_clock))
            .route("/metrics", get(get_metrics))
            .route("/v1/audit", get(get_audit))
            .route("/v1/report", get(get_report))
            .route(
                "/v1/what-if",
                post(post_what_if).layer(DefaultBodyLimit::max(crate::whatif::MAX_REQUEST_BYTES)),
            )
            .route("/v1/ijw", post(post_ijw))
            .route_layer(axum::middleware::from_fn_with_state(self.clone(), gate))
            .merge(open)
            .fallback(|uri: axum::http::Uri, headers: HeaderMap| async move {
                // A person who mistyped a page's address gets a page, not JSON.
                let wants_page = !uri.path().starts_with("/v1")
                    && headers
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|accept| accept.contains("text/html"));
                if wants_page {
                    return crate::web::not_found_page();
                }
                error(
                    StatusCode::NOT_FOUND,
                    "no such endpoint; the API lives under /v1 (see README.md)",
                )
                .into_response()
            })
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn(json_refusals))
            .with_state(self)
    }

    /// Sends a command to the scheduler and waits for its answer (see [`ask_scheduler`]).
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ApiError> {
        ask_scheduler(&self.commands, make).await.map_err(|unanswered| {
            let message = match unanswered {
                Unanswered::ShuttingDown => "the daemon is shutting down",
                Unanswered::TooSlow => {
                    "the daemon did not answer in time; try again (a repeated event id is harmless)"
                }
            };
            error(StatusCode::SERVICE_UNAVAILABLE, message)
        })
    }

    /// Lets a caller write: a token that is not read-only, and no BSN in who it is on behalf
    /// of; each refusal audited.
    fn writer(&self, caller: &Caller, action: &str) -> Result<(), ApiError> {
        if caller.token.read_only {
            let err = error(
                StatusCode::FORBIDDEN,
                format!("token '{}' is read-only", caller.token.name),
            );
            return Err(self.refused_each(caller.lines(action), err));
        }
        caller
            .no_bsn(None)
            .map_err(|err| self.refused_each(caller.lines(action), err))
    }

    /// Audits a refused access (NEN 7513 logs attempts too) and passes the refusal on.
    fn refused(&self, line: AuditEntry, err: ApiError) -> ApiError {
        self.refused_each(vec![line], err)
    }

    /// Audits a refused access with several lines (one per gemeente of the token).
    fn refused_each(&self, lines: Vec<AuditEntry>, err: ApiError) -> ApiError {
        for line in lines {
            let entry = AuditEntry {
                outcome: format!("refused: {} {}", err.status.as_u16(), err.message),
                ..line
            };
            tracing::debug!(
                token = %entry.token,
                action = %entry.action,
                outcome = %entry.outcome,
                "request refused"
            );
            // The answer does not wait for it: a refusal writes nothing else.
            let _ = self.commands.send(Command::Audit { entry });
        }
        err
    }

    fn token_of(&self, headers: &HeaderMap) -> Result<TokenConfig, ApiError> {
        let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "missing bearer token: send 'Authorization: Bearer <token>'",
            ));
        };
        let Some(token) = value.strip_prefix("Bearer ") else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "the Authorization header must be 'Bearer <token>'",
            ));
        };
        self.tokens
            .get(&token_sha256(token))
            .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unknown token"))
    }
}

/// Lets through a request with a valid token and refuses one without (401). An address that
/// sent five unknown tokens within a minute is slowed down for a minute: each further unknown
/// token is answered only after a second, and no more than [`SLOW_ANSWERS`] such answers are
/// in the making at once, whatever the addresses (one more is answered 429 at once), so
/// guessing runs at a few tokens a second at most. The status stays 401, which is what an
/// unknown token is. Requests without a token are no guess and are not slowed. The refusals
/// are counted per address and minute for the audit log (`guard`), not written one by one.
async fn gate(
    State(api): State<Api>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let err = match api.token_of(request.headers()) {
        Ok(token) => {
            let caller = Caller::new(token, request.headers());
            request.extensions_mut().insert(caller);
            return next.run(request).await;
        }
        Err(err) => err,
    };
    let address = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0u8; 4]), |info| info.0.ip());
    let guess = request.headers().contains_key("authorization");
    let slowed = api.guard.refused(
        address,
        guess,
        std::time::Instant::now(),
        jiff::Timestamp::now(),
    );
    if !(slowed && guess) {
        return err.into_response();
    }
    let Ok(_answering) = SLOW.try_acquire() else {
        return wait_a_minute(
            StatusCode::TOO_MANY_REQUESTS,
            "too many unknown tokens; wait a minute before you try again",
        );
    };
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    wait_a_minute(
        StatusCode::UNAUTHORIZED,
        "unknown token; this address sent too many unknown tokens and is answered slowly for a minute",
    )
}

/// A refusal of the brake, with `Retry-After: 60`.
fn wait_a_minute(status: StatusCode, message: &str) -> Response {
    let mut answer = error(status, message).into_response();
    answer.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("60"),
    );
    answer
}

/// How many slowed answers to unknown tokens may be in the making at once.
pub const SLOW_ANSWERS: usize = 4;
static SLOW: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(SLOW_ANSWERS);

/// A refusal: its status and a sentence that says what is wrong, as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// What the scheduler could not do, as the answer a caller gets: the only place core errors
/// become statuses.
fn refusal(err: SchedulerError) -> ApiError {
    let status = match &err {
        // A case whose stored events cannot be read: the daemon is fine, this case is not.
        SchedulerError::Store(StoreError::Damaged { .. }) => StatusCode::SERVICE_UNAVAILABLE,
        SchedulerError::Store(_) | SchedulerError::NotStored(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        SchedulerError::ClockBackwards { .. } | SchedulerError::SystemClock => StatusCode::CONFLICT,
    };
    let message = match &err {
        SchedulerError::Store(StoreError::Damaged { .. }) => {
            format!("{err}; the case is out of service until the store is repaired")
        }
        _ => err.to_string(),
    };
    error(status, message)
}

/// A query string's pairs, percent-decoded.
fn parse_query(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|err| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the query string cannot be read: {err}"),
        )
    })
}

/// The web framework's own refusals (a body over the limit, a method a path does not take,
/// a query or path it cannot read) come as plain text; every refusal of this API is JSON that
/// says what to change, so they are rewritten here. Ours pass through unchanged.
async fn json_refusals(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = next.run(request).await;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        // Every refusal, at debug level; a path that may hold a BSN is not written.
        let shown = if event::has_bsn_like_number(&path) {
            "(a path with a BSN-like number)"
        } else {
            path.as_str()
        };
        tracing::debug!(status = status.as_u16(), %method, path = shown, "request refused");
    }
    // JSON, or the web pages' HTML (the fallback's page for a mistyped address).
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|t| {
            t.as_bytes().starts_with(b"application/json") || t.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body is larger than {} MiB; send at most {MAX_EVENTS_PER_REQUEST} events of at most {} MiB in one request",
            MAX_BODY_BYTES / (1024 * 1024),
            MAX_BODY_BYTES / (1024 * 1024)
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{path} does not take {method}; /v1/openapi.json says what it takes")
        }
        _ if text.trim().is_empty() => status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase(),
        _ => format!("the request cannot be read: {}", text.trim()),
    };
    let mut refused = (status, Json(json!({ "error": message }))).into_response();
    if let Some(allow) = parts.headers.get(axum::http::header::ALLOW) {
        refused
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow.clone());
    }
    refused
}

pub fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

/// Alive; with several daemons on one database, also who leads.
async fn healthz(State(api): State<Api>) -> Json<Value> {
    match api.metrics.leadership.as_ref().and_then(|l| l.view()) {
        Some(view) => Json(json!({
            "status": "ok",
            "daemon": view.daemon,
            "leader": view.leads,
            "leading_daemon": view.leader,
            "epoch": view.epoch,
        })),
        None => Json(json!({ "status": "ok" })),
    }
}

#[derive(serde::Deserialize)]
struct ClockBody {
    now: String,
    /// false: answer at once and let the timers fire in rounds (benchmarks); default true.
    #[serde(default = "yes")]
    wait: bool,
}

fn yes() -> bool {
    true
}

/// Moves a virtual clock forward (tests only: a daemon on the system clock refuses).
async fn post_clock(
    State(api): State<Api>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let action = "clock.write";
    if caller.token.read_only {
        let err = error(
            StatusCode::FORBIDDEN,
            format!("token '{}' is read-only", caller.token.name),
        );
        return Err(api.refused_each(caller.lines(action), err));
    }
    let ClockBody { now, wait } = serde_json::from_slice(&body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "send {\"now\": \"<RFC 3339 moment>\"}",
        )
    })?;
    let to = waakvlam_core::calendar::parse_timestamp(&now).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("'{now}' is not an RFC 3339 moment with an offset"),
        )
    })?;
    let now = api
        .ask(|reply| Command::AdvanceClock { to, wait, reply })
        .await?
        .map_err(refusal)?;
    Ok(Json(json!({ "now": waakvlam_core::calendar::format_timestamp(now) })).into_response())
}

/// The virtual clock and the scheduler's state; any valid token (`gate`) may read it.
async fn get_clock(State(api): State<Api>) -> Result<Response, ApiError> {
    let status = api.ask(|reply| Command::Status { reply }).await?;
    Ok(Json(status).into_response())
}

/// Prometheus metrics; any valid token may read them (they hold no case data).
async fn get_metrics(State(api): State<Api>) -> Result<Response, ApiError> {
    let text = api.ask(|reply| Command::Metrics { reply }).await?;
    Ok(([("content-type", "text/plain; version=0.0.4")], text).into_response())
}
