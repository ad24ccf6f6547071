//! A real OpenID provider for the tests: oidc-provider from the npm registry, run by Node.js
//! with `tests/browser/oidc-provider.mjs` on a free loopback port, with one client and people
//! in groups. Where Node.js or the npm packages are missing the tests say so loudly and pass,
//! unless `WAAKVLAM_OIDC_TESTS=required` (set by `.ci/run`, which installs them).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::web::{Page, Visitor};

pub const CLIENT_ID: &str = "waakvlam-test";
pub const CLIENT_SECRET: &str = "een-geheim-van-de-test-dat-lang-genoeg-is";
/// The environment variable the daemon reads the client secret from.
pub const SECRET_ENV: &str = "WAAKVLAM_TEST_OIDC_SECRET";

fn script() -> PathBuf {
    super::root().join("tests/browser/oidc-provider.mjs")
}

/// What is missing for these tests, if anything.
fn missing() -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("Node.js (node) is not installed".into());
    }
    let modules = super::root().join("tests/browser/node_modules");
    for package in ["oidc-provider", "jose"] {
        if !modules.join(package).exists() {
            return Some(format!(
                "the npm package {package} is not installed (npm ci --prefix tests/browser)"
            ));
        }
    }
    None
}

/// `None`, said loudly, where the provider cannot run and the tests are not required.
pub fn available() -> bool {
    let Some(what) = missing() else {
        return true;
    };
    let required = std::env::var("WAAKVLAM_OIDC_TESTS").is_ok_and(|v| v == "required");
    assert!(
        !required,
        "the OpenID Connect tests are required, but {what}"
    );
    eprintln!();
    eprintln!("=== OPENID CONNECT TESTS SKIPPED: {what} ===");
    eprintln!("=== .ci/run installs what they need and always runs them ===");
    eprintln!();
    false
}

/// A free port on loopback (the daemon's and the provider's addresses must be known to each
/// other before either starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Provider {
    child: Option<Child>,
    /// The host its issuer names (it listens on 127.0.0.1 in any case).
    host: String,
    pub port: u16,
    redirect: String,
    dir: super::TestDir,
}

impl Provider {
    /// A provider that sends people back to `redirect`.
    pub fn start(redirect: &str) -> Provider {
        Provider::start_at("127.0.0.1", redirect)
    }

    /// A provider whose issuer names `host`.
    pub fn start_at(host: &str, redirect: &str) -> Provider {
        let mut provider = Provider {
            child: None,
            host: host.to_string(),
            port: free_port(),
            redirect: redirect.to_string(),
            dir: super::tempdir(),
        };
        provider.serve();
        provider
    }

    pub fn issuer(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// What the provider wrote to its standard error.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("provider.log")).unwrap_or_default()
    }

    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys.json")
    }

    fn serve(&mut self) {
        let mut child = Command::new("node")
            .arg(script())
            .arg("serve")
            .args(["--port", &self.port.to_string()])
            .args(["--host", &self.host])
            .arg("--keys")
            .arg(self.keys())
            .args(["--redirect", &self.redirect])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .stdout(Stdio::piped())
            // What it says (its warnings about development use, an error) is kept beside it.
            .stderr(std::fs::File::create(self.dir.join("provider.log")).unwrap())
            .spawn()
            .expect("node starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "listening",
            "the provider did not start: {}",
            self.log()
        );
        // It goes on writing (its notes on development use): keep reading, or it dies of a
        // closed pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The provider rotates its keys: a new signing key first, the old one still published. It
    /// restarts on the same port (people sign in there again).
    pub fn rotate_keys(&mut self) {
        self.stop();
        node(&["rotate", "--keys", self.keys().to_str().unwrap()]);
        self.serve();
    }

    /// A JWT with these claims, signed with the first key of `keys` (under `kid` if given).
    pub fn sign(keys: &std::path::Path, claims: &serde_json::Value, kid: Option<&str>) -> String {
        let mut args = vec![
            "sign".to_string(),
            "--keys".into(),
            keys.display().to_string(),
            "--claims".into(),
            claims.to_string(),
        ];
        if let Some(kid) = kid {
            args.extend(["--kid".to_string(), kid.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        node(&args).trim().to_string()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

fn node(args: &[&str]) -> String {
    let output = Command::new("node")
        .arg(script())
        .args(args)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The daemon's configuration with sign-in through `issuer` (its pages at `public_url`):
/// Deventer's staff, the region's coordinators (Deventer, and Apeldoorn read-only) and
/// Deventer's privacy officer.
pub fn configured(config: String, daemon_port: u16, issuer: &str, token_sign_in: bool) -> String {
    let config = super::replace_once(
        &config,
        "listen: 127.0.0.1:0",
        &format!("listen: 127.0.0.1:{daemon_port}"),
    );
    let web = format!(
        "  web:\n    public_url: http://127.0.0.1:{daemon_port}\n    oidc:\n      issuer: {issuer}\n      client_id: {CLIENT_ID}\n      client_secret_env: {SECRET_ENV}\n      name: Testprovider\n      scopes: [openid, profile, groups]\n      groups_claim: groups\n      token_sign_in: {token_sign_in}\n      access:\n        - {{ group: waakvlam-deventer, gemeenten: [GM0150] }}\n        - {{ group: waakvlam-apeldoorn-lezen, gemeenten: [GM0200], read_only: true }}\n        - {{ group: waakvlam-privacy-deventer, gemeenten: [GM0150], read_only: true, audit: true }}\n"
    );
    super::replace_once(&config, "  tokens:\n", &format!("{web}  tokens:\n"))
}

/// The address a redirect points to, made whole against the address it came from.
fn resolve(location: &str, from: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let origin_end = from[7..].find('/').map_or(from.len(), |i| i + 7);
    format!("{}{location}", &from[..origin_end])
}

/// The value of an attribute of the first form on a page.
fn form_action(page: &Page) -> String {
    let marker = "action=\"";
    let start = page.body.find(marker).expect("a form") + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].replace("&amp;", "&")
}

/// Signs in as `person` at the provider's own login page (any password), as a person would:
/// from the daemon's `/inloggen/oidc` through the provider's login and consent pages, up to
/// the address the provider sends them back to, which is returned unvisited.
pub fn through_provider(visitor: &mut Visitor, daemon: &str, person: &str) -> String {
    let mut url = format!("{daemon}/inloggen/oidc?naar=%2F");
    let mut page = visitor.fetch(&url);
    for _ in 0..20 {
        match page.status {
            302 | 303 => {
                let next = resolve(page.header("location").expect("a redirect"), &url);
                if next.starts_with(daemon) {
                    return next;
                }
                url = next;
                page = visitor.fetch(&url);
            }
            200 if page.body.contains("name=\"prompt\" value=\"login\"") => {
                let action = resolve(&form_action(&page), &url);
                page = visitor.submit(
                    &action,
                    &[("prompt", "login"), ("login", person), ("password", "test")],
                );
                url = action;
            }
            200 if page.body.contains("name=\"prompt\" value=\"consent\"") => {
                let action = resolve(&form_action(&page), &url);
                page = visitor.submit(&action, &[("prompt", "consent")]);
                url = action;
            }
            _ => panic!("unexpected at {url}: {} {}", page.status, page.body),
        }
    }
    panic!("no way back to the daemon from {url}")
}
