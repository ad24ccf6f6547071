//! `daemon.web.oidc`: signing in with the gemeente's own identity provider (OpenID Connect):
//! the provider, the client, and which groups there give access to which gemeenten here.

use waakvlam_core::problem::{MapReader, Problems, list_of, text_of};
use waakvlam_core::yaml;

use super::delivery::{is_loopback_url, secret};
use crate::scope::Scope;

const OIDC_KEYS: &[&str] = &[
    "issuer",
    "client_id",
    "client_secret_env",
    "name",
    "scopes",
    "groups_claim",
    "access",
    "token_sign_in",
];
const ACCESS_KEYS: &[&str] = &["group", "gemeenten", "read_only", "audit"];

/// The identity provider and what its groups may do here.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The issuer, as its discovery document names it (no trailing slash).
    pub issuer: String,
    pub client_id: String,
    /// From the environment variable `client_secret_env`, never from the file.
    pub client_secret: String,
    /// How people know the provider: the sign-in page says "Inloggen met {name}".
    pub name: String,
    pub scopes: Vec<String>,
    /// The claim of the ID token that lists the person's groups.
    pub groups_claim: String,
    pub access: Vec<Access>,
    /// Whether the sign-in page still offers signing in with a token.
    pub token_sign_in: bool,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("groups_claim", &self.groups_claim)
            .field("access", &self.access)
            .field("token_sign_in", &self.token_sign_in)
            .finish_non_exhaustive()
    }
}

/// What the members of one group of the identity provider may do; a person in several groups
/// gets what they give together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub group: String,
    pub gemeenten: Scope,
    pub read_only: bool,
    /// May read the audit log of these gemeenten (a privacy officer's group).
    pub audit: bool,
}

pub(super) fn read_oidc(
    node: &yaml::Node,
    production: bool,
    problems: &mut Problems,
) -> Option<OidcConfig> {
    let map = MapReader::new(node, OIDC_KEYS, "'oidc'", problems)?;
    let issuer = match map
        .require("issuer", problems)
        .and_then(|n| text_of(n, "'issuer'", problems))
    {
        Some((url, at)) if url.starts_with("http://") && (production || !is_loopback_url(url)) => {
            problems.add_with_hint(
                at,
                if production {
                    "a production daemon signs people in over https only, not http://".to_string()
                } else {
                    format!("'{url}' is plain http on another machine: sign-in would travel unencrypted")
                },
                "give the provider's https:// address (http:// is for a provider on this machine, 127.0.0.1, and never in production)",
            );
            None
        }
        Some((url, _)) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(url.trim_end_matches('/').to_string())
        }
        Some((url, at)) => {
            problems.add_with_hint(
                at,
                format!("'{url}' is not an http(s) address"),
                "the issuer as the provider names it, for example https://login.microsoftonline.com/<tenant>/v2.0",
            );
            None
        }
        None => None,
    };
    let client_id = map
        .require("client_id", problems)
        .and_then(|n| text_of(n, "'client_id'", problems))
        .map(|(t, _)| t.to_string());
    let client_secret = match map.key_at("client_secret_env") {
        Some(_) => secret(&map, "client_secret", problems),
        None => {
            problems.add_with_hint(
                map.key_at("client_id").unwrap_or(node.at),
                "'oidc' needs 'client_secret_env': the client's secret comes from the environment, never from this file",
                "write 'client_secret_env: WAAKVLAM_OIDC_SECRET' and set that variable where the daemon starts",
            );
            None
        }
    };
    let name = map
        .require("name", problems)
        .and_then(|n| text_of(n, "'name'", problems))
        .map(|(t, _)| t.to_string());
    let scopes: Vec<String> = match map.get("scopes") {
        Some(list) => list_of(list)
            .into_iter()
            .filter_map(|s| text_of(s, "a scope", problems).map(|(t, _)| t.to_string()))
            .collect(),
        None => vec!["openid".into(), "profile".into()],
    };
    if !scopes.iter().any(|s| s == "openid") {
        problems.add_with_hint(
            map.key_at("scopes").unwrap_or(node.at),
            "'scopes' lacks 'openid': without it the provider gives no ID token",
            "write 'scopes: [openid, profile]', and add the scope that gives the groups where the provider needs one",
        );
    }
    let groups_claim = map
        .text("groups_claim", problems)
        .map_or_else(|| "groups".to_string(), |(t, _)| t.to_string());
    let mut access = Vec::new();
    for item in map.get("access").map(list_of).unwrap_or_default() {
        let Some(entry) = MapReader::new(item, ACCESS_KEYS, "an access entry", problems) else {
            continue;
        };
        let group = entry
            .require("group", problems)
            .and_then(|n| text_of(n, "'group'", problems))
            .map(|(t, _)| t.to_string());
        let gemeenten = super::read_scope(&entry, "an access entry", problems);
        let read_only = entry.bool("read_only", problems).unwrap_or(false);
        let audit = entry.bool("audit", problems).unwrap_or(false);
        if let (Some(group), Some(gemeenten)) = (group, gemeenten) {
            access.push(Access {
                group,
                gemeenten,
                read_only,
                audit,
            });
        }
    }
    if access.is_empty() && map.get("access").is_none() {
        problems.add_with_hint(
            node.at,
            "'oidc' needs 'access': which groups of the provider may see which gemeenten",
            "for example 'access: [{ group: waakvlam-deventer, gemeenten: [GM0150] }]'",
        );
    }
    let token_sign_in = map.bool("token_sign_in", problems).unwrap_or(true);
    Some(OidcConfig {
        issuer: issuer?,
        client_id: client_id?,
        client_secret: client_secret?,
        name: name?,
        scopes,
        groups_claim,
        access,
        token_sign_in,
    })
}
