//! Signing in with the gemeente's own identity provider (DESIGN.md, "Sign-in with the gemeente's
//! own identity provider"): OpenID Connect's authorization code flow with PKCE, `state` and
//! `nonce`, done by the `openidconnect` crate (no JOSE of our own). The provider is found by
//! discovery when the first person signs in, not at start, so that a provider that is down
//! does not keep the daemon from starting; its keys are fetched again once when an ID token
//! names a key they lack (the provider rotated its keys).
//!
//! What the daemon keeps of a person is their id (`preferred_username`, else `sub`) and their
//! groups; everything else of the ID token is dropped here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IdToken, IdTokenVerifier, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope as OidcScope, SignatureVerificationError, TokenResponse,
};

use crate::config::{Access, OidcConfig, TokenConfig};
use crate::scope::Scope;

/// How long a person may take at the provider's login page.
const PENDING_FOR: Duration = Duration::from_secs(10 * 60);
/// More sign-ins under way than this are not kept: the oldest go first.
const MOST_PENDING: usize = 10_000;
/// How long a request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// A provider's published keys (its JWKS).
pub use openidconnect::core::CoreJsonWebKeySet as Keys;

/// A person signed in through the provider: all the daemon keeps of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub groups: Vec<String>,
}

/// Why a sign-in through the provider did not succeed, in words for the person (Dutch) and for
/// the audit log and the operator's log (English).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the sign-in's state is unknown: expired, used already, or not made here")]
    UnknownState,
    #[error("the provider answered with an error: {0}")]
    ProviderSaid(String),
    #[error("the provider cannot be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the ID token is refused: {0}")]
    IdToken(String),
    #[error("the person is in no group with access")]
    NoGroup { person: String },
}

impl Refused {
    /// What the person reads.
    pub fn dutch(&self, provider: &str) -> String {
        match self {
            Refused::UnknownState => {
                "Deze inlogpoging is verlopen of al gebruikt. Begin opnieuw bij Inloggen."
                    .to_string()
            }
            Refused::ProviderSaid(_) => format!(
                "{provider} heeft het inloggen niet afgerond. Probeer het opnieuw, of vraag uw beheerder om hulp."
            ),
            Refused::Provider(_) => format!(
                "{provider} is nu niet bereikbaar. Probeer het over een paar minuten opnieuw."
            ),
            Refused::IdToken(_) => format!(
                "Het antwoord van {provider} kon niet worden vertrouwd. Probeer het opnieuw; blijft dit gebeuren, meld het dan aan uw beheerder."
            ),
            Refused::NoGroup { person } => format!(
                "U bent bij {provider} ingelogd als {person}, maar uw account hoort bij geen groep die toegang geeft tot Waakvlam. Vraag uw beheerder om u aan de juiste groep toe te voegen."
            ),
        }
    }
}

/// The groups claim, whatever the configuration calls it: the claims beyond the standard ones.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: BTreeMap<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type GroupsIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What the client checks an ID token against.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub groups_claim: &'a str,
}

/// The person of an ID token, after the `openidconnect` crate checked its signature against
/// `keys`, its `iss`, `aud`, `exp` and `nonce`. `Err(None)` when it is signed by a key `keys`
/// lacks (the caller may fetch the keys again), `Err(Some(why))` when it is refused.
pub fn verify(
    raw: &str,
    keys: &CoreJsonWebKeySet,
    expect: &Expect<'_>,
) -> Result<Person, Option<String>> {
    let token: GroupsIdToken = raw
        .parse()
        .map_err(|err| Some(format!("not an ID token: {err}")))?;
    let issuer = IssuerUrl::new(expect.issuer.to_string()).map_err(|err| Some(err.to_string()))?;
    let verifier: IdTokenVerifier<'_, _> = IdTokenVerifier::new_public_client(
        ClientId::new(expect.client_id.to_string()),
        issuer,
        keys.clone(),
    );
    let nonce = Nonce::new(expect.nonce.to_string());
    let claims = match token.claims(&verifier, &nonce) {
        Ok(claims) => claims,
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => return Err(None),
        Err(err) => return Err(Some(err.to_string())),
    };
    let id = claims
        .preferred_username()
        .map(|name| name.as_str().to_string())
        .unwrap_or_else(|| claims.subject().as_str().to_string());
    let groups = match claims.additional_claims().claims.get(expect.groups_claim) {
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok(Person { id, groups })
}

/// What a person's groups give together under `access`; `None` when no group of theirs is
/// listed. Read-only only when every group that gives access is read-only.
pub fn access_of(person: &Person, access: &[Access]) -> Option<TokenConfig> {
    let given: Vec<&Access> = access
        .iter()
        .filter(|a| person.groups.contains(&a.group))
        .collect();
    let gemeenten = Scope::new(
        given
            .iter()
            .flat_map(|a| a.gemeenten.iter().map(str::to_string))
            .collect::<Vec<String>>(),
    )?;
    Some(TokenConfig {
        // The audit log's `token` column: how the person came in; `on_behalf_of` names them.
        name: "oidc".to_string(),
        sha256: String::new(),
        gemeenten,
        read_only: given.iter().all(|a| a.read_only),
        audit: given.iter().any(|a| a.audit),
        on_behalf_of: true,
    })
}

/// A sign-in under way: what the callback needs to finish it.
struct Pending {
    verifier: PkceCodeVerifier,
    nonce: String,
    back_to: String,
    made: Instant,
}

/// The provider as discovery found it.
struct Found {
    metadata: CoreProviderMetadata,
}

/// The identity provider of this daemon and the sign-ins under way.
pub struct Provider {
    config: OidcConfig,
    redirect: RedirectUrl,
    http: reqwest::Client,
    found: tokio::sync::Mutex<Option<Found>>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// An error of the HTTP client that talks to the provider.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("{0}")]
    Response(#[from] openidconnect::http::Error),
}

/// One request to the provider, through the daemon's own HTTP client (reqwest, following no
/// redirect: a redirect could send the client secret elsewhere).
async fn send(
    http: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let answer = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut response = openidconnect::http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    Ok(response.body(answer.bytes().await?.to_vec())?)
}

impl Provider {
    /// The provider of `config`, sending people back to `public_url`.
    pub fn new(config: OidcConfig, public_url: &str) -> Result<Provider, String> {
        let redirect = RedirectUrl::new(format!("{public_url}/inloggen/oidc/terug"))
            .map_err(|err| format!("the redirect address is not a URL: {err}"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|err| format!("the HTTP client cannot be made: {err}"))?;
        Ok(Provider {
            config,
            redirect,
            http,
            found: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn token_sign_in(&self) -> bool {
        self.config.token_sign_in
    }

    async fn metadata(&self, again: bool) -> Result<CoreProviderMetadata, Refused> {
        let mut found = self.found.lock().await;
        if let (Some(found), false) = (found.as_ref(), again) {
            return Ok(found.metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|err| Refused::Provider(err.to_string()))?;
        let http = |request| send(self.http.clone(), request);
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|err| Refused::Provider(format!("discovery: {err}")))?;
        *found = Some(Found {
            metadata: metadata.clone(),
        });
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Where to send a person to sign in, having noted the sign-in under way (PKCE verifier,
    /// `state`, `nonce`, and where they wanted to go).
    pub async fn begin(&self, back_to: String) -> Result<String, Refused> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            if scope != "openid" {
                request = request.add_scope(OidcScope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let now = Instant::now();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| now.duration_since(p.made) < PENDING_FOR);
        if pending.len() >= MOST_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.made)
                .map(|(state, _)| state.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                verifier,
                nonce: nonce.secret().clone(),
                back_to,
                made: now,
            },
        );
        Ok(url.to_string())
    }

    /// Finishes a sign-in: the `state` must be one this daemon made and has not seen back yet;
    /// the code is exchanged with the PKCE verifier and the client secret, and the ID token
    /// verified. Returns the person and where they wanted to go.
    pub async fn finish(&self, state: &str, code: &str) -> Result<(Person, String), Refused> {
        let pending = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending
                .remove(state)
                .filter(|p| p.made.elapsed() < PENDING_FOR)
                .ok_or(Refused::UnknownState)?
        };
        let metadata = self.metadata(false).await?;
        let client = self.client(metadata.clone());
        let http = |request| send(self.http.clone(), request);
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|err| Refused::Provider(err.to_string()))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&http)
            .await
            .map_err(|err| Refused::Provider(format!("token endpoint: {err}")))?;
        let raw = answer
            .id_token()
            .ok_or_else(|| Refused::IdToken("the provider sent no ID token".into()))?
            .to_string();
        let expect = Expect {
            issuer: &self.config.issuer,
            client_id: &self.config.client_id,
            nonce: &pending.nonce,
            groups_claim: &self.config.groups_claim,
        };
        let person = match verify(&raw, metadata.jwks(), &expect) {
            Ok(person) => person,
            // Signed by a key we have not seen: the provider may have rotated its keys.
            Err(None) => {
                let metadata = self.metadata(true).await?;
                verify(&raw, metadata.jwks(), &expect).map_err(|why| {
                    Refused::IdToken(why.unwrap_or_else(|| {
                        "signed by a key the provider does not publish".to_string()
                    }))
                })?
            }
            Err(Some(why)) => return Err(Refused::IdToken(why)),
        };
        Ok((person, pending.back_to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(group: &str, gemeenten: &[&str], read_only: bool, audit: bool) -> Access {
        Access {
            group: group.into(),
            gemeenten: Scope::new(gemeenten.iter().map(|g| g.to_string())).unwrap(),
            read_only,
            audit,
        }
    }

    #[test]
    fn groups_add_up_and_read_only_holds_only_when_every_group_is_read_only() {
        let list = [
            access("jeugd-deventer", &["GM0150"], false, false),
            access("lezen-apeldoorn", &["GM0200"], true, false),
            access("privacy-deventer", &["GM0150"], true, true),
        ];
        let person = |groups: &[&str]| Person {
            id: "p".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let both = access_of(
            &person(&["jeugd-deventer", "lezen-apeldoorn", "elders"]),
            &list,
        )
        .unwrap();
        assert_eq!(
            both.gemeenten.iter().collect::<Vec<_>>(),
            ["GM0150", "GM0200"]
        );
        assert!(!both.read_only && !both.audit);
        let reader = access_of(&person(&["lezen-apeldoorn"]), &list).unwrap();
        assert!(reader.read_only);
        let privacy = access_of(&person(&["privacy-deventer"]), &list).unwrap();
        assert!(privacy.read_only && privacy.audit);
        assert_eq!(privacy.name, "oidc");
        assert!(privacy.on_behalf_of, "the person is named in the audit log");
        assert_eq!(access_of(&person(&[]), &list), None);
        assert_eq!(access_of(&person(&["elders"]), &list), None);
    }
}
