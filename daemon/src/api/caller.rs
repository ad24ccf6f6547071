//! Who is asking. `gate` looks the bearer token up once and leaves a [`Caller`] on the
//! request; every handler behind it takes one, and through it makes its audit lines, refuses
//! a case id or a named person that may hold a BSN, and narrows the token's gemeenten to
//! those asked for. A handler never reads the token from the headers itself.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};

use super::{ApiError, error};
use crate::audit::{entry, on_behalf_of};
use crate::config::TokenConfig;
use crate::scope::Scope;
use crate::store::AuditEntry;
use waakvlam_core::event;

#[derive(Clone, Debug)]
pub(super) struct Caller {
    pub token: TokenConfig,
    /// `X-On-Behalf-Of` as sent; written only for a token trusted with it (`audit::entry`).
    named: Option<String>,
}

impl Caller {
    pub fn new(token: TokenConfig, headers: &HeaderMap) -> Caller {
        Caller {
            token,
            named: on_behalf_of(headers),
        }
    }

    /// The audit line of an allowed access; a refusal rewrites its outcome.
    pub fn line(&self, action: &str, gemeente: Option<&str>, case: Option<&str>) -> AuditEntry {
        entry(
            Some(&self.token),
            self.named.as_deref(),
            action,
            gemeente,
            case,
        )
    }

    /// One line per gemeente of `scope`: each gemeente's privacy officer sees their own.
    pub fn lines_for(&self, action: &str, scope: &Scope, case: Option<&str>) -> Vec<AuditEntry> {
        scope
            .iter()
            .map(|gemeente| self.line(action, Some(gemeente), case))
            .collect()
    }

    /// The lines of an action that names no gemeente of its own: one per gemeente of the token.
    pub fn lines(&self, action: &str) -> Vec<AuditEntry> {
        self.lines_for(action, &self.token.gemeenten, None)
    }

    /// The lines of an attempt at a read: of the gemeente asked for, or of each of the token's.
    pub fn attempt(
        &self,
        action: &str,
        asked: Option<&str>,
        case: Option<&str>,
    ) -> Vec<AuditEntry> {
        match asked {
            Some(gemeente) => vec![self.line(action, Some(gemeente), case)],
            None => self.lines_for(action, &self.token.gemeenten, case),
        }
    }

    /// Refuses (400) a case id or a named person that holds a number that may be a BSN: it
    /// would otherwise end up in the audit log.
    pub fn no_bsn(&self, case: Option<&str>) -> Result<(), ApiError> {
        if case.is_some_and(event::has_bsn_like_number) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "the case id holds a 9-digit number that may be a BSN; use the pseudonymous case id",
            ));
        }
        if self
            .named
            .as_deref()
            .is_some_and(event::has_bsn_like_number)
        {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "X-On-Behalf-Of holds a 9-digit number that may be a BSN; send an employee id",
            ));
        }
        Ok(())
    }

    /// The gemeenten a request may see: the one asked for if the token has it (403
    /// otherwise), else all of the token's.
    pub fn scope(&self, asked: Option<&str>) -> Result<Scope, ApiError> {
        match asked {
            Some(gemeente) => self.token.gemeenten.narrowed_to(gemeente).ok_or_else(|| {
                error(
                    StatusCode::FORBIDDEN,
                    format!("token '{}' may not read {gemeente}", self.token.name),
                )
            }),
            None => Ok(self.token.gemeenten.clone()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        // Only a route behind `gate` takes a caller, and the gate lets no request through
        // without one; a route outside it that asked would be refused, not let in.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unknown token"))
    }
}
