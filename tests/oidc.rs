//! Signing in with the gemeente's own identity provider (issue 30), against a real OpenID
//! provider: oidc-provider from the npm registry (`common/oidc.rs`), its own login page, and
//! the real daemon. The browser test of the same flow is in `tests/browser/oidc.mjs`.

mod common;

use common::daemon::{Daemon, PRIVACY};
use common::oidc::{CLIENT_SECRET, Provider, SECRET_ENV, configured, free_port, through_provider};
use common::web::Visitor;
use serde_json::{Value, json};

/// A daemon on a port chosen beforehand (the provider must know where to send people back),
/// and its provider.
fn daemon_and_provider(token_sign_in: bool) -> Option<(Daemon, Provider)> {
    daemon_and_provider_at("127.0.0.1", token_sign_in)
}

/// As [`daemon_and_provider`], with the provider's issuer named by `host`: `localhost` makes
/// it another site than the daemon's `127.0.0.1`, as a real provider is.
fn daemon_and_provider_at(host: &str, token_sign_in: bool) -> Option<(Daemon, Provider)> {
    if !common::oidc::available() {
        return None;
    }
    let port = free_port();
    let provider = Provider::start_at(
        host,
        &format!("http://127.0.0.1:{port}/inloggen/oidc/terug"),
    );
    let issuer = provider.issuer();
    let daemon = Daemon::start_with_env(
        common::tempdir(),
        |config| configured(config, port, &issuer, token_sign_in),
        &[(SECRET_ENV, CLIENT_SECRET)],
    );
    Some((daemon, provider))
}

/// Signs `person` in; returns the visitor and the page the daemon answered the way back with.
fn sign_in(daemon: &Daemon, person: &str) -> (Visitor, common::web::Page) {
    let mut visitor = Visitor::new(daemon);
    let back = through_provider(&mut visitor, &daemon.base, person);
    let answer = visitor.fetch(&back);
    (visitor, answer)
}

/// The audit lines of Deventer, as its privacy officer reads them.
fn audit_lines(daemon: &Daemon) -> Vec<Value> {
    let (status, answer) = daemon.request("GET", "/v1/audit", Some(PRIVACY), None);
    assert_eq!(status, 200, "{answer}");
    answer["audit"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_person_signs_in_at_the_provider_and_sees_what_their_groups_give() {
    let Some((daemon, _provider)) = daemon_and_provider(true) else {
        return;
    };
    common::web::seed(&daemon, "2027-05-20T12:00:00+02:00");
    let (mut visitor, answer) = sign_in(&daemon, "medewerker.deventer");
    // A page that goes on by itself to where the person wanted to go (not a redirect, which
    // would lose the SameSite=Strict cookie after the provider's site).
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("<meta http-equiv=\"refresh\" content=\"0;url=/\">")
    );
    assert!(
        answer
            .body
            .contains("U bent ingelogd als medewerker.deventer.")
    );
    let overview = visitor.get("/");
    assert_eq!(overview.status, 200);
    assert!(
        overview.body.contains("medewerker.deventer"),
        "who is signed in"
    );
    assert!(overview.body.contains("Deventer"));
    assert!(!overview.body.contains("Apeldoorn"), "{}", overview.body);
    // Everything they read is audited in their name.
    let case = visitor.get("/casus/GM0150/C-1");
    assert_eq!(case.status, 200, "{}", case.body);
    let lines = audit_lines(&daemon);
    let theirs: Vec<&Value> = lines
        .iter()
        .filter(|l| l["on_behalf_of"] == "medewerker.deventer")
        .collect();
    assert!(
        theirs
            .iter()
            .any(|l| l["token"] == "oidc" && l["case"] == "C-1" && l["outcome"] == "allowed"),
        "{theirs:#?}"
    );
    assert!(
        theirs
            .iter()
            .any(|l| l["action"] == "web GET /inloggen/oidc/terug"),
        "the sign-in itself: {theirs:#?}"
    );
    // Several groups add up: the coordinator sees Deventer and (read-only) Apeldoorn, and may
    // change things where Deventer's group lets them.
    let (mut coordinator, answer) = sign_in(&daemon, "coordinator.regio");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let overview = coordinator.get("/");
    assert!(overview.body.contains("Deventer") && overview.body.contains("Apeldoorn"));
    // Only Apeldoorn's reader: read-only, no form that changes anything.
    let (mut reader, _) = sign_in(&daemon, "lezer.apeldoorn");
    let notifications = reader.get("/meldingen");
    assert_eq!(notifications.status, 200);
    assert!(!notifications.body.contains("Opnieuw versturen"));
    // Nothing of the ID token but the person's id and groups is kept: not the name the
    // provider gave, in no file of the daemon and not in its log.
    for entry in walk(&daemon.dir.join("data")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("Naam van"),
            "{} holds a name",
            entry.display()
        );
    }
    assert!(
        !daemon
            .log()
            .iter()
            .any(|l| l.to_string().contains("Naam van")),
        "the log holds a name"
    );
    daemon.stop();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn no_group_a_replayed_state_and_a_disabled_token_form_are_refused() {
    let Some((daemon, _provider)) = daemon_and_provider(false) else {
        return;
    };
    // In no group at all, and in a group that gives nothing here: a Dutch page, and audited.
    for person in ["zonder.groepen", "andere.groep"] {
        let (_, answer) = sign_in(&daemon, person);
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert!(
            answer.body.contains(&format!(
                "ingelogd als {person}, maar uw account hoort bij geen groep"
            )),
            "{}",
            answer.body
        );
        assert!(
            answer
                .cookies()
                .iter()
                .all(|c| !c.starts_with("waakvlam_sessie="))
        );
    }
    // The refusals belong to no gemeente: the operator reads them on the server.
    let today = jiff::Timestamp::now().to_string()[..10].to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_waakvlam"))
        .args(["audit", "--from", &today, "--to", &today, "--config"])
        .arg(daemon.dir.join("waakvlam.yaml"))
        .env(SECRET_ENV, CLIENT_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| {
            l["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("refused"))
        })
        .filter_map(|l| l["on_behalf_of"].as_str().map(str::to_string))
        .collect();
    assert!(
        refused.contains(&"zonder.groepen".to_string()),
        "{refused:?}"
    );
    // The way back used twice: the second time the state is gone.
    let mut visitor = Visitor::new(&daemon);
    let back = through_provider(&mut visitor, &daemon.base, "medewerker.deventer");
    assert_eq!(visitor.fetch(&back).status, 200);
    let mut other = Visitor::new(&daemon);
    let again = other.fetch(&back);
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(
        again.body.contains("verlopen of al gebruikt"),
        "{}",
        again.body
    );
    // `token_sign_in: false`: no token form, and a token sent anyway is refused.
    let form = Visitor::new(&daemon).get("/inloggen");
    assert!(form.body.contains("Inloggen met Testprovider"));
    assert!(!form.body.contains("name=\"token\""), "{}", form.body);
    let mut typed = Visitor::new(&daemon);
    let answer = typed.post(
        "/inloggen",
        &[("token", common::daemon::DEVENTER), ("csrf", "x")],
    );
    assert_eq!(answer.status, 403);
    daemon.stop();
}

/// The provider rotates its keys: an ID token signed with the new key is accepted once the
/// daemon has fetched the keys again.
#[test]
fn a_rotated_key_is_fetched_and_accepted() {
    let Some((daemon, mut provider)) = daemon_and_provider(true) else {
        return;
    };
    let (_, first) = sign_in(&daemon, "medewerker.deventer");
    assert_eq!(first.status, 200, "{}", first.body);
    provider.rotate_keys();
    let (_, after) = sign_in(&daemon, "medewerker.deventer");
    assert_eq!(after.status, 200, "{}", after.body);
    daemon.stop();
}

/// The ID token's checks, by the daemon's verifier against the provider's published keys:
/// tokens the provider should never send are refused, each for its reason.
#[test]
fn a_wrong_audience_an_expired_token_another_key_and_another_nonce_are_refused() {
    let Some((daemon, provider)) = daemon_and_provider(true) else {
        return;
    };
    // The provider's keys are made when it starts; its JWKS is what the daemon fetches.
    let published = ureq::get(&format!("{}/jwks", provider.issuer()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let jwks: waakvlam::oidc::Keys = serde_json::from_str(&published).unwrap();
    let provider_kid = serde_json::from_str::<Value>(&published).unwrap()["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let now = jiff::Timestamp::now().as_second();
    let claims = |changes: Value| {
        let mut claims = json!({"iss": provider.issuer(), "aud": common::oidc::CLIENT_ID,
            "sub": "s-1", "preferred_username": "medewerker.deventer",
            "groups": ["waakvlam-deventer"], "nonce": "n-1", "iat": now, "exp": now + 600});
        claims
            .as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        claims
    };
    let issuer = provider.issuer();
    let expect = waakvlam::oidc::Expect {
        issuer: &issuer,
        client_id: common::oidc::CLIENT_ID,
        nonce: "n-1",
        groups_claim: "groups",
    };
    let verify = |token: &str| waakvlam::oidc::verify(token, &jwks, &expect);
    let good = Provider::sign(&provider.keys(), &claims(json!({})), None);
    assert_eq!(
        verify(&good),
        Ok(waakvlam::oidc::Person {
            id: "medewerker.deventer".into(),
            groups: vec!["waakvlam-deventer".into()],
        })
    );
    let refused = |changes: Value, kid: Option<&str>, keys: &std::path::Path| {
        let token = Provider::sign(keys, &claims(changes), kid);
        verify(&token)
    };
    let keys = provider.keys();
    let why = refused(json!({"aud": "een-andere-toepassing"}), None, &keys).unwrap_err();
    assert!(why.is_some_and(|w| w.contains("audiences")));
    let why = refused(json!({"exp": now - 60, "iat": now - 3600}), None, &keys).unwrap_err();
    assert!(why.is_some_and(|w| w.contains("Expired")));
    let why = refused(json!({"iss": "http://127.0.0.1:1"}), None, &keys).unwrap_err();
    assert!(why.is_some_and(|w| w.contains("issuer")));
    let why = refused(json!({"nonce": "n-2"}), None, &keys).unwrap_err();
    assert!(why.is_some_and(|w| w.contains("nonce")));
    // Another key: under a key id the provider does not publish (the daemon fetches its keys
    // once more and then refuses), and under the provider's own key id.
    let other = common::tempdir();
    let other_keys = other.join("other.json");
    assert_eq!(refused(json!({}), None, &other_keys), Err(None));
    let why = refused(json!({}), Some(&provider_kid), &other_keys).unwrap_err();
    assert!(
        why.is_some(),
        "a forged signature under the provider's key id"
    );
    daemon.stop();
}

/// A changed `access` list is taken at SIGHUP: running sessions follow it from their next
/// request, and a group taken out ends what it gave.
#[test]
fn a_changed_access_list_applies_to_running_sessions_at_sighup() {
    let Some((daemon, _provider)) = daemon_and_provider(true) else {
        return;
    };
    let (mut reader, answer) = sign_in(&daemon, "lezer.apeldoorn");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(reader.get("/").body.contains("Apeldoorn"));
    let config = daemon.dir.join("waakvlam.yaml");
    let before = std::fs::read_to_string(&config).unwrap();
    let apeldoorn = "{ group: waakvlam-apeldoorn-lezen, gemeenten: [GM0200], read_only: true }";
    std::fs::write(
        &config,
        common::replace_once(
            &before,
            apeldoorn,
            "{ group: waakvlam-apeldoorn-lezen, gemeenten: [GM0213], read_only: true }",
        ),
    )
    .unwrap();
    daemon.signal("HUP");
    common::daemon::wait_for(10, "Brummen instead of Apeldoorn", || {
        let page = reader.get("/");
        page.body.contains("Brummen") && !page.body.contains("Apeldoorn")
    });
    // The group taken out: the session no longer opens a page, and signing in again is refused.
    std::fs::write(
        &config,
        common::replace_once(&before, &format!("        - {apeldoorn}\n"), ""),
    )
    .unwrap();
    daemon.signal("HUP");
    common::daemon::wait_for(10, "the session sent to sign in", || {
        let page = reader.get("/");
        page.status == 303
            && page
                .header("location")
                .is_some_and(|l| l.starts_with("/inloggen"))
    });
    let (_, again) = sign_in(&daemon, "lezer.apeldoorn");
    assert_eq!(again.status, 403, "{}", again.body);
    daemon.stop();
}

/// The same sign-in in a real browser: Debian's chromium through the provider's own login and
/// consent pages (`tests/browser/oidc.mjs`), with axe-core on the sign-in and refusal pages.
/// Without chromium it says so loudly and passes, unless `WAAKVLAM_BROWSER_TESTS=required`.
#[test]
fn chromium_signs_in_through_the_providers_own_login_page() {
    let chromium = std::env::var_os("WAAKVLAM_CHROMIUM")
        .map_or_else(|| "/usr/bin/chromium".into(), std::path::PathBuf::from);
    let modules = common::root().join("tests/browser/node_modules");
    if !chromium.exists() || !modules.join("playwright-core").exists() {
        let required = std::env::var("WAAKVLAM_BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "the browser tests are required, but chromium or Playwright is missing"
        );
        eprintln!();
        eprintln!("=== BROWSER SIGN-IN TEST SKIPPED: chromium or Playwright is not installed ===");
        eprintln!("=== .ci/run installs what it needs and always runs it ===");
        eprintln!();
        return;
    }
    // The provider on another site (localhost) than the pages (127.0.0.1), as a real one is:
    // the session cookie must survive the way back from there.
    let Some((daemon, provider)) = daemon_and_provider_at("localhost", true) else {
        return;
    };
    let artifacts = common::root().join("target/browser-artifacts");
    let output = std::process::Command::new("node")
        .arg(common::root().join("tests/browser/oidc.mjs"))
        .env("WAAKVLAM_URL", &daemon.base)
        .env("WAAKVLAM_CHROMIUM", &chromium)
        .env("WAAKVLAM_ARTIFACTS", &artifacts)
        .output()
        .expect("node runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    println!("{printed}");
    assert!(
        output.status.success(),
        "browser sign-in failed (screenshots in {}):\n{printed}\n{}\nthe provider said:\n{}",
        artifacts.display(),
        String::from_utf8_lossy(&output.stderr),
        provider.log()
    );
    daemon.stop();
}

/// A provider that cannot be reached keeps neither the daemon from starting nor anyone from
/// signing in with a token; the button answers with a Dutch page that says so.
#[test]
fn a_provider_that_is_down_is_said_in_dutch_and_tokens_still_work() {
    let port = free_port();
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let daemon = Daemon::start_with_env(
        common::tempdir(),
        |config| configured(config, port, &nowhere, true),
        &[(SECRET_ENV, CLIENT_SECRET)],
    );
    let mut visitor = Visitor::new(&daemon);
    let answer = visitor.get("/inloggen/oidc?naar=%2F");
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(
        answer.body.contains("Testprovider is nu niet bereikbaar"),
        "{}",
        answer.body
    );
    // The log is read from the daemon's output by another thread: it may come after the page.
    common::daemon::wait_for(10, "the log line of the failed start", || {
        daemon
            .log()
            .iter()
            .any(|l| l["message"] == "signing in through the identity provider cannot start")
    });
    let signed_in = Visitor::signed_in(&daemon, common::daemon::DEVENTER);
    drop(signed_in);
    daemon.stop();
}
