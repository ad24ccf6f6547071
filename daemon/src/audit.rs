//! The audit lines of an access (NEN 7513), for the API, the pages and the iJw intake alike:
//! who (the token, and the person a trusted sender names in `X-On-Behalf-Of`), what, which
//! gemeente and case, and when. Never a BSN: a case id or a person that may hold one is not
//! written (the request is refused before, `api::no_bsn`).

use axum::http::HeaderMap;

use crate::config::TokenConfig;
use crate::store::AuditEntry;
use waakvlam_core::event;

/// An audit line of an access that is allowed; a refusal rewrites its `outcome`.
pub(crate) fn line(
    token: Option<&TokenConfig>,
    headers: &HeaderMap,
    action: &str,
    gemeente: Option<&str>,
    case: Option<&str>,
) -> AuditEntry {
    entry(
        token,
        on_behalf_of(headers).as_deref(),
        action,
        gemeente,
        case,
    )
}

/// [`line`] with the person named (`X-On-Behalf-Of` as sent) rather than the headers.
pub(crate) fn entry(
    token: Option<&TokenConfig>,
    named: Option<&str>,
    action: &str,
    gemeente: Option<&str>,
    case: Option<&str>,
) -> AuditEntry {
    // Only a sender the configuration trusts names the person it acts for.
    let on_behalf_of = named
        .filter(|_| token.is_some_and(|t| t.on_behalf_of))
        .filter(|o| !event::has_bsn_like_number(o) && !o.chars().any(char::is_control))
        .map(str::to_string);
    AuditEntry {
        // The wall clock, whatever the engine's: an audit log says when a person did
        // something, and a test daemon's virtual clock is not that.
        at: jiff::Timestamp::now().to_string(),
        token: token.map_or_else(|| "-".to_string(), |t| t.name.clone()),
        on_behalf_of,
        action: action.to_string(),
        gemeente: gemeente.map(str::to_string),
        case: case
            .filter(|c| !event::has_bsn_like_number(c))
            .map(str::to_string),
        outcome: "allowed".into(),
    }
}

/// The audit lines of an action of a token that names no gemeente of its own (a sign-in, a
/// refusal before the gemeente is known): one per gemeente of the token, so that each
/// gemeente's privacy officer sees the lines of their own gemeente and no other's.
pub(crate) fn lines(token: &TokenConfig, headers: &HeaderMap, action: &str) -> Vec<AuditEntry> {
    token
        .gemeenten
        .iter()
        .map(|gemeente| line(Some(token), headers, action, Some(gemeente), None))
        .collect()
}

pub(crate) fn on_behalf_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-on-behalf-of")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
