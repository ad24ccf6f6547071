//! Sessions of the web pages, kept by the daemon (the cookie holds only a random id). The brake
//! on guessing tokens, which the sign-in page shares with the API, is `guard`.
//!
//! Time comes in as an argument (`Instant`), so the rules are tested without waiting. A
//! restart ends every session: people sign in again, nothing else is lost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::WebConfig;
use crate::tokens::random_token;

/// More sessions than this are not kept: the oldest go first (a flood of sign-ins with a
/// valid token must not exhaust memory).
const MOST_SESSIONS: usize = 10_000;

/// A signed-in person: who they are, and the session's CSRF token, which every form that
/// changes something carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub who: Who,
    pub csrf: String,
}

/// How a person signed in. What they may do is looked up again at every request: a token
/// removed from the configuration, or a group no longer in `access`, ends what it gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// The SHA-256 of the token they typed.
    Token(String),
    /// Signed in through the gemeente's identity provider: their id and groups there.
    Person(crate::oidc::Person),
}

struct Kept {
    session: Session,
    started: Instant,
    seen: Instant,
}

pub struct Sessions {
    config: WebConfig,
    kept: Mutex<HashMap<String, Kept>>,
}

impl Sessions {
    pub fn new(config: WebConfig) -> Sessions {
        Sessions {
            config,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// A new session; returns its id (for the cookie).
    pub fn start(&self, who: Who, now: Instant) -> String {
        let id = random_token();
        let mut kept = lock(&self.kept);
        kept.retain(|_, k| self.alive(k, now));
        if kept.len() >= MOST_SESSIONS
            && let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, k)| k.started)
                .map(|(id, _)| id.clone())
        {
            kept.remove(&oldest);
        }
        kept.insert(
            id.clone(),
            Kept {
                session: Session {
                    who,
                    csrf: random_token(),
                },
                started: now,
                seen: now,
            },
        );
        id
    }

    /// The session of an id, if it is alive; using it keeps it alive.
    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let mut kept = lock(&self.kept);
        let alive = kept.get(id).is_some_and(|k| self.alive(k, now));
        if !alive {
            kept.remove(id);
            return None;
        }
        let k = kept.get_mut(id)?;
        k.seen = now;
        Some(k.session.clone())
    }

    pub fn end(&self, id: &str) {
        lock(&self.kept).remove(id);
    }

    fn alive(&self, kept: &Kept, now: Instant) -> bool {
        now.duration_since(kept.seen) < self.config.session_idle
            && now.duration_since(kept.started) < self.config.session_max
    }
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A poisoned lock only means another request panicked while holding it; the map itself is
/// whole (every change to it is one call), so go on with it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sessions() -> Sessions {
        Sessions::new(WebConfig::default())
    }

    #[test]
    fn a_session_ends_after_30_idle_minutes_and_after_10_hours_in_any_case() {
        let sessions = sessions();
        let t0 = Instant::now();
        let id = sessions.start(Who::Token("abc".into()), t0);
        let minutes = |m: u64| t0 + Duration::from_secs(m * 60);
        assert!(sessions.get(&id, minutes(29)).is_some());
        // Used at 29 minutes: alive until 59.
        assert!(sessions.get(&id, minutes(58)).is_some());
        let idle = sessions.start(Who::Token("abc".into()), t0);
        assert!(sessions.get(&idle, minutes(30)).is_none());
        // Busy all day: still ends at 10 hours.
        for m in (20..600).step_by(20) {
            assert!(sessions.get(&id, minutes(m)).is_some(), "at {m} minutes");
        }
        assert!(sessions.get(&id, minutes(600)).is_none());
    }

    #[test]
    fn signing_out_ends_the_session() {
        let sessions = sessions();
        let now = Instant::now();
        let id = sessions.start(Who::Token("abc".into()), now);
        sessions.end(&id);
        assert!(sessions.get(&id, now).is_none());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 64);
    }
}
