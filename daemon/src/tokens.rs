//! The API tokens of the configuration, shared by the API and the pages and swapped whole on
//! SIGHUP (reload.rs): a new token works and a revoked one is refused from the next request
//! on, sessions signed in with it included, without a restart. The same holds for the groups
//! of the identity provider (`daemon.web.oidc.access`) and the people signed in with them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use crate::config::{Access, TokenConfig};

#[derive(Clone, Default)]
pub struct Tokens(
    Arc<RwLock<Arc<HashMap<String, TokenConfig>>>>,
    Arc<RwLock<Arc<Vec<Access>>>>,
);

impl Tokens {
    pub fn new(list: &[TokenConfig]) -> Tokens {
        let tokens = Tokens::default();
        tokens.replace_all(tokens_of(list));
        tokens
    }

    /// With the identity provider's groups and what they give (`daemon.web.oidc.access`).
    pub fn with_access(self, access: Vec<Access>) -> Tokens {
        self.replace_access(access);
        self
    }

    /// What a person signed in through the identity provider may do now; `None` when no group
    /// of theirs gives access (any more).
    pub fn of_person(&self, person: &crate::oidc::Person) -> Option<TokenConfig> {
        let access = self
            .1
            .read()
            .map_or_else(|e| e.into_inner().clone(), |a| a.clone());
        crate::oidc::access_of(person, &access)
    }

    /// Swaps in the configuration's `access` list (SIGHUP).
    pub fn replace_access(&self, access: Vec<Access>) {
        let access = Arc::new(access);
        match self.1.write() {
            Ok(mut current) => *current = access,
            Err(poisoned) => *poisoned.into_inner() = access,
        }
    }

    fn current(&self) -> Arc<HashMap<String, TokenConfig>> {
        // A poisoned lock still holds a whole map: the writer swaps one Arc.
        self.0
            .read()
            .map_or_else(|e| e.into_inner().clone(), |t| t.clone())
    }

    /// The token whose SHA-256 (hex) this is.
    pub fn get(&self, sha256: &str) -> Option<TokenConfig> {
        self.current().get(sha256).cloned()
    }

    /// Whether some token passes `test`.
    pub fn any(&self, test: impl Fn(&TokenConfig) -> bool) -> bool {
        self.current().values().any(test)
    }

    /// Swaps in the configuration's tokens; returns the names added and removed.
    pub fn replace(&self, tokens: &[TokenConfig]) -> (Vec<String>, Vec<String>) {
        let before = self.current();
        let after = tokens_of(tokens);
        let added = after
            .iter()
            .filter(|(hash, _)| !before.contains_key(*hash))
            .map(|(_, t)| t.name.clone());
        let removed = before
            .iter()
            .filter(|(hash, _)| !after.contains_key(*hash))
            .map(|(_, t)| t.name.clone());
        let (mut added, mut removed): (Vec<String>, Vec<String>) =
            (added.collect(), removed.collect());
        added.sort();
        removed.sort();
        self.replace_all(after);
        (added, removed)
    }

    fn replace_all(&self, tokens: HashMap<String, TokenConfig>) {
        let tokens = Arc::new(tokens);
        match self.0.write() {
            Ok(mut current) => *current = tokens,
            Err(poisoned) => *poisoned.into_inner() = tokens,
        }
    }
}

fn tokens_of(tokens: &[TokenConfig]) -> HashMap<String, TokenConfig> {
    tokens
        .iter()
        .map(|t| (t.sha256.clone(), t.clone()))
        .collect()
}

/// A token as the configuration keeps it: the SHA-256 of its text, in hexadecimal.
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 256 random bits from the operating system, as 64 hexadecimal digits: a session id, a CSRF
/// token or a calendar feed's token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's random source failing is not something to go on without: every
    // session id would be guessable.
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
