//! The daemon's configuration (`config/waakvlam.yaml`): the engine's part (read by
//! `waakvlam-core`), the plugins (read by the plugin host) and the `daemon` section and the
//! gemeenten' e-mail recipients, read here. Every problem of the file and of the holiday file
//! it names comes back at once, each with its file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use waakvlam_core::calendar::Duration;
use waakvlam_core::config::EngineConfig;
use waakvlam_core::engine::Engine;
use waakvlam_core::problem::{MapReader, Problem, Problems, gemeente_code_of, list_of, text_of};
use waakvlam_core::workflow::Workflow;
use waakvlam_core::yaml::{self, Position, Value as Yaml};
use waakvlam_plugin_host::{PluginConfig, Registry};

use crate::logging::{LEVELS, LogConfig, LogFormat};
use crate::scope::Scope;

mod delivery;
mod oidc;
mod sections;

use delivery::*;
pub use oidc::{Access, OidcConfig};
use sections::*;

const CONFIG_KEYS: &[&str] = &[
    "holidays",
    "send_hour",
    "leap_day_birthdays",
    "gemeenten",
    "overviews",
    "daemon",
    "plugins",
    "plugins_dir",
    "log",
];
const LOG_KEYS: &[&str] = &["level", "format"];
const DAEMON_KEYS: &[&str] = &[
    "audit_retention",
    "listen",
    "database",
    "workflows",
    "clock",
    "production",
    "notifications_log",
    "tokens",
    "webhooks",
    "smtp",
    "web",
    "ijw",
];
const IJW_KEYS: &[&str] = &[
    "inbox",
    "pseudonym_secret_env",
    "poll_seconds",
    "keep_originals",
    "keep_originals_days",
];
const WEB_KEYS: &[&str] = &[
    "secure_cookies",
    "session_idle_minutes",
    "session_max_hours",
    "public_url",
    "oidc",
];
const WEBHOOK_KEYS: &[&str] = &[
    "name",
    "url",
    "secret",
    "secret_env",
    "gemeenten",
    "timeout_seconds",
    "max_attempts",
];
const SMTP_KEYS: &[&str] = &[
    "host",
    "port",
    "tls",
    "ca_file",
    "from",
    "username",
    "password_env",
    "timeout_seconds",
    "max_attempts",
    "digest_hour",
];
const TOKEN_KEYS: &[&str] = &[
    "name",
    "sha256",
    "gemeenten",
    "read_only",
    "audit",
    "on_behalf_of",
];

#[derive(Clone, Debug, Default)]
pub struct Config {
    /// What the engine needs: send hour, calendar, gemeenten and their parameters.
    pub core: EngineConfig,
    /// One plugin per gemeente at most.
    pub plugins: Vec<PluginConfig>,
    /// Settings of `waakvlam run`; absent for `simulate`, which needs none.
    pub daemon: Option<DaemonConfig>,
    /// gemeente -> role -> e-mail addresses, for the `smtp` channel, until the gemeente's
    /// plugin resolves roles.
    pub recipients: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// How the daemon logs.
    pub log: LogConfig,
    /// The file it was read from.
    pub file: PathBuf,
}

pub use crate::store::Database;

#[derive(Clone, Debug)]
pub struct DaemonConfig {
    pub listen: String,
    pub database: Database,
    pub workflows: PathBuf,
    /// Virtual time, advanced only through the API: for tests. Refused in production.
    pub virtual_clock: bool,
    pub production: bool,
    /// The log channel: every notification as a JSON line in this file.
    pub notifications_log: PathBuf,
    /// Where the configuration names it (the `daemon` key when it does not).
    pub notifications_log_at: Position,
    pub tokens: Vec<TokenConfig>,
    pub webhooks: Vec<WebhookConfig>,
    pub smtp: Option<SmtpConfig>,
    /// How long audit lines are kept; at least the legal minimum for logs of health data.
    pub audit_retention: Duration,
    pub web: WebConfig,
    /// iJw intake (`daemon.ijw`); `None`: `POST /v1/ijw` answers that it is not set up.
    pub ijw: Option<IjwConfig>,
}

/// The iJw intake (`daemon.ijw`).
#[derive(Clone)]
pub struct IjwConfig {
    /// A directory watched for `*.xml` messages, with `processed/` and `refused/` beside them.
    pub inbox: Option<PathBuf>,
    /// The pseudonym secret, from the environment variable `pseudonym_secret_env`.
    pub secret: String,
    /// No secret was set and this is not a production daemon: the documented development
    /// secret is used (and a warning logged).
    pub development_secret: bool,
    pub poll: std::time::Duration,
    /// Where answered originals are kept, and for how many days, when an operator must keep
    /// them (`keep_originals`, `keep_originals_days`); `None`: an original is removed once it
    /// is answered, since it holds a BSN, a name and a birth date.
    pub keep_originals: Option<(PathBuf, u32)>,
}

impl std::fmt::Debug for IjwConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IjwConfig")
            .field("inbox", &self.inbox)
            .field("development_secret", &self.development_secret)
            .field("poll", &self.poll)
            .field("keep_originals", &self.keep_originals)
            .finish_non_exhaustive()
    }
}

/// The pseudonym secret of development daemons and of `simulate` without one; README.md
/// prints it, so a production daemon refuses it.
pub const DEVELOPMENT_PSEUDONYM_SECRET: &str = "waakvlam-ontwikkelgeheim-niet-voor-echte-gegevens";

/// The web pages' sessions (`daemon.web`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    /// The pages' address as people reach them (behind a proxy: its address), for links in
    /// e-mail; `None`: `http://` and `daemon.listen`.
    pub public_url: Option<String>,
    /// Marks the session cookie `Secure`: set it when a TLS-terminating proxy is in front.
    pub secure_cookies: bool,
    /// A session unused this long ends.
    pub session_idle: std::time::Duration,
    /// A session ends this long after sign-in, however busy.
    pub session_max: std::time::Duration,
    /// Signing in with the gemeente's own identity provider (`daemon.web.oidc`).
    pub oidc: Option<OidcConfig>,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            public_url: None,
            secure_cookies: false,
            session_idle: std::time::Duration::from_secs(30 * 60),
            session_max: std::time::Duration::from_secs(10 * 3600),
            oidc: None,
        }
    }
}

/// The legal minimum for keeping logs of access to health data (NEN 7513, Wgbo): five years.
pub const MINIMUM_AUDIT_RETENTION: Duration = Duration::months(60);

/// A webhook endpoint: notifications of its gemeenten are POSTed to it, signed.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    /// The HMAC-SHA256 key. Read from the environment variable `secret_env` where given, so
    /// that it stays out of the configuration file.
    pub secret: String,
    pub gemeenten: Scope,
    pub timeout_seconds: u64,
    pub max_attempts: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same machine.
    None,
    /// Upgrade with STARTTLS, and refuse a server that cannot.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// A PEM file with a certificate authority to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout_seconds: u64,
    pub max_attempts: u32,
    /// Send each recipient one mail a day, at this hour, instead of one per notification.
    pub digest_hour: Option<u8>,
}

/// An API token: stored as its SHA-256, never in plain text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenConfig {
    pub name: String,
    pub sha256: String,
    /// Never empty: an empty or missing list is a configuration error.
    pub gemeenten: Scope,
    pub read_only: bool,
    /// May read the audit log of its gemeenten (`GET /v1/audit`): a privacy officer's.
    pub audit: bool,
    /// Its sender (a back office, a proxy in front of the pages) is trusted to name the person
    /// it acts for in `X-On-Behalf-Of`; from any other token that header is not written to
    /// the audit log, since anyone could put any employee's name in it.
    pub on_behalf_of: bool,
}

impl Config {
    /// Reads the configuration and the holiday file it names; every problem of both at once.
    pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
        let text = std::fs::read_to_string(path).map_err(|err| vec![Problem {
            file: path.display().to_string(),
            at: Position::default(),
            message: format!("cannot be read: {err}"),
            hint: Some("pass the configuration with --config, for example --config config/waakvlam.yaml".into()),
        }])?;
        let mut problems = Problems::new(path.display().to_string());
        let (config, mut holiday_problems) = parse(
            &text,
            path.parent().unwrap_or(Path::new(".")),
            &mut problems,
        );
        let mut all = problems.into_vec();
        all.append(&mut holiday_problems);
        if all.is_empty() {
            Ok(Config {
                file: path.to_path_buf(),
                ..config
            })
        } else {
            Err(all)
        }
    }

    /// Parameter overrides for names that no workflow has are mistakes worth reporting.
    pub fn check_against(&self, workflows: &[Workflow]) -> Vec<String> {
        self.core.check_against(workflows)
    }

    pub fn calendar(&self) -> waakvlam_core::calendar::Calendar {
        self.core.calendar()
    }

    /// The engine for these workflows under this configuration, without plugins.
    pub fn engine(&self, workflows: Vec<Workflow>) -> Engine {
        self.engine_with(workflows, None)
    }

    /// The engine with the gemeenten' plugins (see `waakvlam_plugin_host::build_engine`).
    pub fn engine_with(&self, workflows: Vec<Workflow>, plugins: Option<Arc<Registry>>) -> Engine {
        waakvlam_plugin_host::build_engine(&self.core, workflows, plugins)
    }
}

/// The configuration and, apart, the problems of the holiday file (another file).
fn parse(text: &str, base: &Path, problems: &mut Problems) -> (Config, Vec<Problem>) {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(err) => {
            problems.add(err.at, format!("this is not valid YAML: {}", err.message));
            return (Config::default(), Vec::new());
        }
    };
    let Some(top) = MapReader::new(&root, CONFIG_KEYS, "the configuration", problems) else {
        return (Config::default(), Vec::new());
    };
    let (core, holiday_problems) = EngineConfig::read(&top, base, problems);
    let config = Config {
        core,
        plugins: waakvlam_plugin_host::read_plugins(&top, base, problems),
        daemon: top
            .get("daemon")
            .and_then(|node| read_daemon(node, base, problems)),
        recipients: read_all_recipients(&top, problems),
        log: top
            .get("log")
            .map(|node| read_log(node, problems))
            .unwrap_or_default(),
        file: PathBuf::new(),
    };
    if config.daemon.as_ref().is_some_and(|d| d.production) {
        for plugin in config.plugins.iter().filter(|p| p.sha256.is_none()) {
            let at = top.get("plugins").map(|n| n.at).unwrap_or_default();
            problems.add_with_hint(at, format!("the plugin of {} has no 'sha256': a production daemon loads only pinned plugins", plugin.gemeente), "sha256sum the library and add 'sha256: <hex>'");
        }
    }
    (config, holiday_problems)
}

/// `log: { level, format }`.
fn read_log(node: &yaml::Node, problems: &mut Problems) -> LogConfig {
    let mut log = LogConfig::default();
    let Some(map) = MapReader::new(node, LOG_KEYS, "'log'", problems) else {
        return log;
    };
    if let Some((level, at)) = map.text("level", problems) {
        if LEVELS.contains(&level) {
            log.level = level.to_string();
        } else {
            problems.add_with_hint(
                at,
                format!("'{level}' is not a log level"),
                format!("write one of {}", LEVELS.join(", ")),
            );
        }
    }
    match map.text("format", problems) {
        None | Some(("json", _)) => {}
        Some(("text", _)) => log.format = LogFormat::Text,
        Some((other, at)) => problems.add_with_hint(
            at,
            format!("'{other}' is not a log format"),
            "write 'json' (one object per line, the default) or 'text'",
        ),
    }
    log
}

fn read_daemon(node: &yaml::Node, base: &Path, problems: &mut Problems) -> Option<DaemonConfig> {
    let map = MapReader::new(node, DAEMON_KEYS, "'daemon'", problems)?;
    let text =
        |key: &str, problems: &mut Problems| map.text(key, problems).map(|(t, _)| t.to_string());
    let listen = text("listen", problems).unwrap_or_else(|| "127.0.0.1:8080".into());
    let path = |key: &str, default: &str, problems: &mut Problems| {
        base.join(text(key, problems).unwrap_or_else(|| default.to_string()))
    };
    let database = match map.text("database", problems) {
        Some((url, at)) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            match crate::store::PgUrl::parse(url) {
                Ok(url) => Database::Postgres(url),
                Err(why) => {
                    problems.add_with_hint(
                        at,
                        format!("'database': {why}"),
                        "postgres://ROLE@HOST:PORT/DATABASE, with ?sslmode=require for TLS; the password in PGPASSWORD or a .pgpass file",
                    );
                    Database::Sqlite(base.join("../data/waakvlam.db"))
                }
            }
        }
        _ => Database::Sqlite(path("database", "../data/waakvlam.db", problems)),
    };
    let workflows = path("workflows", "../workflows", problems);
    if !workflows.exists() {
        // Named at the line that points at it (or the 'daemon' key, for the default).
        let at = map
            .text("workflows", problems)
            .map_or(node.at, |(_, at)| at);
        problems.add_with_hint(
            at,
            format!("'workflows': there is no {}", workflows.display()),
            "a directory of workflow files (or one file), relative to this configuration file",
        );
    }
    let (notifications_log, notifications_log_at) = match map.text("notifications_log", problems) {
        Some((file, at)) => (base.join(file), at),
        None => (base.join("../data/notifications.jsonl"), node.at),
    };
    let production = map.bool("production", problems).unwrap_or(false);
    let virtual_clock = match map.text("clock", problems) {
        None | Some(("system", _)) => false,
        Some(("virtual", at)) => {
            if production {
                problems.add_with_hint(
                    at,
                    "a production daemon cannot run on a virtual clock",
                    "remove 'clock: virtual' or 'production: true'",
                );
            }
            true
        }
        Some((other, at)) => {
            problems.add_with_hint(
                at,
                format!("'{other}' is not a clock"),
                "write 'system' (the default) or 'virtual' (tests only)",
            );
            false
        }
    };
    let mut tokens = Vec::new();
    for item in map.get("tokens").map(list_of).unwrap_or_default() {
        let Some(token) = MapReader::new(item, TOKEN_KEYS, "a token", problems) else {
            continue;
        };
        let name = read_name(&token, "a token", problems);
        token.require("sha256", problems);
        let sha256 = token.sha256(
            "sha256",
            "store the SHA-256 of the token, never the token: printf %s TOKEN | sha256sum",
            problems,
        );
        if production && sha256.as_deref().is_some_and(is_development_token) {
            problems.add_with_hint(
                item.at,
                format!(
                    "token '{}' is a development token of the shipped configuration, whose text is in README.md; a production daemon refuses it",
                    name.as_deref().unwrap_or("?")
                ),
                "make a token of your own: waakvlam token new, or any long random text, and store its SHA-256",
            );
        }
        if let Some(same) = sha256
            .as_ref()
            .and_then(|hash| tokens.iter().find(|t: &&TokenConfig| &t.sha256 == hash))
        {
            problems.add_with_hint(
                item.at,
                format!(
                    "token '{}' has the same sha256 as token '{}': one token would act as both",
                    name.as_deref().unwrap_or("?"),
                    same.name
                ),
                "every token has its own text: make one with 'waakvlam token new'",
            );
        }
        if let Some(name) = &name
            && tokens.iter().any(|t: &TokenConfig| &t.name == name)
        {
            problems.add_with_hint(
                item.at,
                format!("two tokens are called '{name}': the audit log and the calendar feeds tell tokens apart by name"),
                "give each token a name of its own; a token that replaces another takes its place in the list",
            );
        }
        let gemeenten = read_scope(&token, "a token", problems);
        let read_only = token.bool("read_only", problems).unwrap_or(false);
        let audit = token.bool("audit", problems).unwrap_or(false);
        let on_behalf_of = token.bool("on_behalf_of", problems).unwrap_or(false);
        if let (Some(name), Some(sha256), Some(gemeenten)) = (name, sha256, gemeenten) {
            tokens.push(TokenConfig {
                name,
                sha256,
                gemeenten,
                read_only,
                audit,
                on_behalf_of,
            });
        }
    }
    let webhooks = map
        .get("webhooks")
        .map(list_of)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| read_webhook(n, production, problems))
        .collect();
    let smtp = map.get("smtp").and_then(|n| read_smtp(n, base, problems));
    let audit_retention = match map.text("audit_retention", problems) {
        None => MINIMUM_AUDIT_RETENTION,
        Some((text, at)) => match Duration::parse(text) {
            Ok(d) if longer_or_equal(d, MINIMUM_AUDIT_RETENTION) => d,
            Ok(_) => {
                problems.add_with_hint(
                    at,
                    format!("'audit_retention' of {text} is shorter than the legal minimum of 5 years"),
                    "logs of access to health data are kept at least 5 years: write '5 years' or more",
                );
                MINIMUM_AUDIT_RETENTION
            }
            Err(err) => {
                problems.add_with_hint(at, format!("'audit_retention': {err}"), err.hint());
                MINIMUM_AUDIT_RETENTION
            }
        },
    };
    let web = map
        .get("web")
        .and_then(|n| read_web(n, production, problems))
        .unwrap_or_default();
    if production && !web.secure_cookies {
        let at = map
            .get("web")
            .map(|n| n.at)
            .or_else(|| map.key_at("production"))
            .unwrap_or_default();
        problems.add_with_hint(
            at,
            "a production daemon sets 'Secure' on its cookies: 'web.secure_cookies' must be true",
            "serve the pages over https (README, 'Behind a proxy') and write 'web: { secure_cookies: true, public_url: https://... }'",
        );
    }
    let ijw = map
        .get("ijw")
        .and_then(|n| read_ijw(n, base, production, problems));
    Some(DaemonConfig {
        ijw,
        web,
        listen,
        database,
        workflows,
        virtual_clock,
        production,
        notifications_log,
        notifications_log_at,
        tokens,
        webhooks,
        smtp,
        audit_retention,
    })
}

/// Whether `a` is at least as long as `b`, counted from a fixed day (months and days do not
/// compare otherwise).
fn longer_or_equal(a: Duration, b: Duration) -> bool {
    let day = waakvlam_core::calendar::Day::from_ymd(2001, 1, 31).expect("a valid day");
    a.add_to(day) >= b.add_to(day)
}

/// The development tokens of the shipped configuration, whose plain text README.md prints.
const DEVELOPMENT_TOKENS: &[&str] = &[
    "ontwikkel-deventer",
    "ontwikkel-dalfsen",
    "ontwikkel-apeldoorn",
    "ontwikkel-haaksbergen",
    "ontwikkel-zorgregio",
    "ontwikkel-ijsselland",
    "ontwikkel-alleen-lezen",
    "ontwikkel-privacy",
];

/// Whether a stored SHA-256 is that of a development token.
fn is_development_token(sha256: &str) -> bool {
    use sha2::{Digest, Sha256};
    DEVELOPMENT_TOKENS.iter().any(|token| {
        let digest: String = Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        digest == sha256
    })
}

/// The `name` of a token or webhook: a plain identifier, because it goes into log lines, the
/// audit log and metric labels as it is.
fn read_name(map: &MapReader<'_>, what: &str, problems: &mut Problems) -> Option<String> {
    let (name, at) = map
        .require("name", problems)
        .and_then(|n| text_of(n, "'name'", problems))?;
    if is_plain_name(name) {
        Some(name.to_string())
    } else {
        problems.add_with_hint(
            at,
            format!("the name of {what} must be a plain identifier, not {name:?}"),
            "use letters, digits, '-', '_' and '.', at most 64, starting with a letter or digit",
        );
        None
    }
}

/// Letters, digits, `-`, `_` and `.`, at most 64, starting with a letter or digit.
pub fn is_plain_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The `gemeenten` of a token or webhook: a non-empty list of CBS codes. An empty list, a
/// bare `gemeenten:` or a missing key is refused with its place: read as "no condition", it
/// would open every gemeente's cases to whoever holds the token.
fn read_scope(map: &MapReader<'_>, what: &str, problems: &mut Problems) -> Option<Scope> {
    let node = map.require("gemeenten", problems)?;
    let mut codes = Vec::new();
    let mut valid = true;
    for code in list_of(node) {
        match gemeente_code_of(code, problems) {
            Some(code) => codes.push(code),
            None => valid = false,
        }
    }
    if !valid {
        return None;
    }
    let scope = Scope::new(codes);
    if scope.is_none() {
        let at = map.key_at("gemeenten").unwrap_or(node.at);
        problems.add_with_hint(
            at,
            format!("'gemeenten' of {what} is empty"),
            "name at least one gemeente, for example 'gemeenten: [GM0150]'; there is no scope of every gemeente",
        );
    }
    scope
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, Vec<Problem>> {
        let dir = tempfile::tempdir().unwrap();
        // The default 'workflows: ../workflows', beside the configuration's directory.
        std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        let path = dir.path().join("config/waakvlam.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    /// The pseudonym secret comes from the environment; without it a development daemon uses
    /// the documented development secret and a production daemon does not start.
    #[test]
    fn the_ijw_secret_comes_from_the_environment() {
        let unset = "daemon:\n  ijw: { pseudonym_secret_env: WAAKVLAM_TEST_UNSET_SECRET }\n";
        let ijw = load(unset).unwrap().daemon.unwrap().ijw.unwrap();
        assert!(ijw.development_secret);
        assert_eq!(ijw.secret, DEVELOPMENT_PSEUDONYM_SECRET);
        let production = unset.replace("daemon:\n", "daemon:\n  production: true\n");
        let problems = load(&production).unwrap_err();
        assert!(
            problems.iter().any(|p| p.message == "the environment variable WAAKVLAM_TEST_UNSET_SECRET is not set; a production daemon does not start the iJw intake without its pseudonym secret"),
            "{problems:?}"
        );
        // A variable every test process has stands in for a secret that is set.
        let set = "daemon:\n  ijw: { pseudonym_secret_env: PATH, inbox: in }\n";
        let ijw = load(set).unwrap().daemon.unwrap().ijw.unwrap();
        assert!(!ijw.development_secret);
        assert_eq!(ijw.secret, std::env::var("PATH").unwrap());
        assert!(ijw.inbox.as_ref().unwrap().ends_with("in"));
        assert!(!format!("{ijw:?}").contains(&std::env::var("PATH").unwrap()));
    }

    /// Signing in with an identity provider: its settings read, and each unsafe or incomplete
    /// one refused where it is written.
    #[test]
    fn the_identity_provider_is_read_and_checked() {
        let oidc = |issuer: &str, extra: &str| {
            format!(
                "daemon:\n{extra}  web:\n    public_url: https://waakvlam.example\n    secure_cookies: true\n    oidc:\n      issuer: {issuer}\n      client_id: waakvlam\n      client_secret_env: PATH\n      name: Entra ID\n      access:\n        - {{ group: jeugd-deventer, gemeenten: [GM0150] }}\n        - {{ group: privacy, gemeenten: [GM0150, GM0148], read_only: true, audit: true }}\n"
            )
        };
        let messages = |text: &str| -> Vec<String> {
            load(text).map_or_else(
                |p| p.into_iter().map(|p| p.message).collect(),
                |_| Vec::new(),
            )
        };
        let read = load(&oidc("https://login.example/tenant/v2.0/", ""))
            .unwrap()
            .daemon
            .unwrap()
            .web
            .oidc
            .unwrap();
        assert_eq!(read.issuer, "https://login.example/tenant/v2.0");
        assert_eq!(read.scopes, ["openid", "profile"]);
        assert_eq!(read.groups_claim, "groups");
        assert!(read.token_sign_in);
        assert_eq!(read.client_secret, std::env::var("PATH").unwrap());
        assert!(
            !format!("{read:?}").contains(&read.client_secret),
            "no secret in Debug"
        );
        assert_eq!(read.access.len(), 2);
        assert!(read.access[1].audit && read.access[1].read_only);
        // Plain http: only on this machine, and never in production.
        assert_eq!(
            messages(&oidc("http://idp.example", "")),
            [
                "'http://idp.example' is plain http on another machine: sign-in would travel unencrypted"
            ]
        );
        assert!(messages(&oidc("http://127.0.0.1:9000", "")).is_empty());
        assert_eq!(
            messages(&oidc("http://127.0.0.1:9000", "  production: true\n")),
            ["a production daemon signs people in over https only, not http://"]
        );
        // The secret from the environment only; a redirect address; the openid scope.
        let unset = oidc("https://idp.example", "").replace("PATH", "WAAKVLAM_TEST_UNSET_SECRET");
        assert_eq!(
            messages(&unset),
            ["the environment variable WAAKVLAM_TEST_UNSET_SECRET is not set"]
        );
        let no_url = oidc("https://idp.example", "")
            .replace("    public_url: https://waakvlam.example\n", "");
        assert!(
            messages(&no_url)[0]
                .starts_with("signing in with an identity provider needs 'public_url'")
        );
        let no_openid = oidc("https://idp.example", "").replace(
            "      name: Entra ID\n",
            "      name: Entra ID\n      scopes: [profile]\n",
        );
        assert!(messages(&no_openid)[0].starts_with("'scopes' lacks 'openid'"));
        let no_access = oidc("https://idp.example", "");
        let no_access = &no_access[..no_access.find("      access:").unwrap()];
        assert!(messages(no_access)[0].starts_with("'oidc' needs 'access'"));
    }

    /// Regression (security review): production accepted cookies without `Secure`, http://
    /// webhooks and a short secret written in the file, without a word.
    #[test]
    fn a_production_daemon_refuses_weak_settings() {
        let messages = |text: &str| -> Vec<String> {
            load(text).map_or_else(
                |p| p.into_iter().map(|p| p.message).collect(),
                |_| Vec::new(),
            )
        };
        let found = messages(
            "daemon:\n  production: true\n  webhooks:\n    - { name: w, url: \"http://receiver.example/in?apikey=1\", secret: kort, gemeenten: [GM0150] }\n",
        );
        for expected in [
            "a production daemon sets 'Secure' on its cookies: 'web.secure_cookies' must be true",
            "a production daemon sends notifications over https only, not http://",
            "a production daemon takes a webhook's secret from the environment, not from the configuration file",
        ] {
            assert!(found.iter().any(|m| m == expected), "{expected}: {found:?}");
        }
        let found = messages(
            "daemon:\n  production: true\n  web: { secure_cookies: true }\n  webhooks:\n    - { name: w, url: \"http://127.0.0.1:9000/in\", secret_env: CARGO_PKG_NAME, gemeenten: [GM0150] }\n",
        );
        // Cargo sets CARGO_PKG_NAME for a test: "waakvlam".
        assert_eq!(
            found,
            vec![
                "the webhook's secret has 8 characters; a production daemon signs with at least 32"
                    .to_string()
            ]
        );
        // A development daemon takes all of it.
        assert!(messages("daemon:\n  webhooks:\n    - { name: w, url: \"http://receiver.example/in\", secret: kort, gemeenten: [GM0150] }\n").is_empty());
    }

    /// Regression (security review): a token replaced under the same name kept the old one's
    /// calendar feeds alive.
    #[test]
    fn two_tokens_with_one_name_are_refused() {
        let text = format!(
            "daemon:\n  tokens:\n    - {{ name: x, sha256: {HASH}, gemeenten: [GM0150] }}\n    - {{ name: x, sha256: {}, gemeenten: [GM0150] }}\n",
            "b".repeat(64)
        );
        let problems = load(&text).unwrap_err();
        assert_eq!(
            problems[0].message,
            "two tokens are called 'x': the audit log and the calendar feeds tell tokens apart by name"
        );
    }

    #[test]
    fn a_production_daemon_refuses_a_virtual_clock() {
        let problems = load(
            "daemon:\n  production: true\n  clock: virtual\n  web: { secure_cookies: true }\n",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].message,
            "a production daemon cannot run on a virtual clock"
        );
        assert_eq!((problems[0].at.line, problems[0].at.column), (3, 10));
        assert!(
            load("daemon:\n  clock: virtual\n")
                .unwrap()
                .daemon
                .unwrap()
                .virtual_clock
        );
    }

    /// Regression: `public_url` was documented and refused as an unknown key.
    #[test]
    fn the_web_pages_public_address_is_read_and_checked() {
        let web = load("daemon:\n  web: { public_url: \"https://waakvlam.deventer.example/\", secure_cookies: true }\n")
            .unwrap()
            .daemon
            .unwrap()
            .web;
        assert_eq!(
            web.public_url.as_deref(),
            Some("https://waakvlam.deventer.example")
        );
        assert!(web.secure_cookies);
        let problems = load("daemon:\n  web: { public_url: waakvlam.example }\n").unwrap_err();
        assert_eq!(
            problems[0].message,
            "'waakvlam.example' is not an http or https address"
        );
    }

    #[test]
    fn tokens_are_stored_hashed_and_checked() {
        let problems =
            load("daemon:\n  tokens:\n    - { name: x, sha256: geheim, gemeenten: [GM0150] }\n")
                .unwrap_err();
        assert_eq!(
            problems[0].message,
            "'sha256' must be 64 hexadecimal characters"
        );
        assert_eq!(
            problems[0].hint.as_deref(),
            Some("store the SHA-256 of the token, never the token: printf %s TOKEN | sha256sum")
        );
    }

    #[test]
    fn the_shipped_configuration_is_valid() {
        let config = Config::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/waakvlam.yaml"),
        )
        .unwrap();
        let daemon = config.daemon.unwrap();
        assert!(!daemon.virtual_clock && !daemon.production);
        assert_eq!(daemon.tokens.len(), 8);
        // The four with a plugin and the Zorgregio's other seven.
        assert_eq!(config.core.gemeenten.len(), 11);
    }

    fn messages(text: &str) -> Vec<String> {
        load(text)
            .unwrap_err()
            .iter()
            .map(|p| format!("{}:{}: {}", p.at.line, p.at.column, p.message))
            .collect()
    }

    const HASH: &str = "8c30cc8818e90b9bbbb2109b1d37f9b2938d9861ae4865a08f45972ff8406b77";

    #[test]
    fn an_empty_scope_is_refused_in_every_spelling() {
        for gemeenten in ["gemeenten: []", "gemeenten: ", "gemeenten: null"] {
            let text =
                format!("daemon:\n  tokens:\n    - {{ name: x, sha256: {HASH}, {gemeenten} }}\n");
            let found = messages(&text);
            let column = text.lines().nth(2).unwrap().find("gemeenten").unwrap() + 1;
            assert!(
                found.contains(&format!("3:{column}: 'gemeenten' of a token is empty")),
                "{gemeenten}: {found:?}"
            );
        }
        let found = messages(
            "daemon:\n  webhooks:\n    - { name: w, url: http://127.0.0.1:9/, secret: s, gemeenten: [] }\n",
        );
        assert!(
            found
                .iter()
                .any(|m| m.contains("'gemeenten' of a webhook is empty")),
            "{found:?}"
        );
        let found = messages(&format!(
            "daemon:\n  tokens:\n    - {{ name: x, sha256: {HASH} }}\n"
        ));
        assert!(
            found.iter().any(|m| m == "3:7: a token needs 'gemeenten'"),
            "{found:?}"
        );
    }

    #[test]
    fn names_are_plain_identifiers() {
        for name in ["zorg\\\"regio", "zorg\\nregio", "", "-x", "a b"] {
            let found = messages(&format!(
                "daemon:\n  webhooks:\n    - {{ name: \"{name}\", url: http://127.0.0.1:9/, secret: s, gemeenten: [GM0150] }}\n"
            ));
            assert!(
                found
                    .iter()
                    .any(|m| m.contains("the name of a webhook must be a plain identifier")),
                "{name:?}: {found:?}"
            );
        }
        assert!(is_plain_name("zorgregio-oost_2.0"));
    }

    #[test]
    fn the_audit_log_is_kept_at_least_five_years() {
        let found = messages("daemon:\n  audit_retention: 2 years\n");
        assert_eq!(
            found,
            ["2:20: 'audit_retention' of 2 years is shorter than the legal minimum of 5 years"]
        );
        let config = load("daemon:\n  audit_retention: 7 years\n").unwrap();
        assert_eq!(
            config.daemon.unwrap().audit_retention,
            Duration::parse("7 years").unwrap()
        );
    }

    #[test]
    fn the_log_section_is_checked() {
        let config = load("log: { level: debug, format: text }\n").unwrap();
        assert_eq!(
            config.log,
            LogConfig {
                level: "debug".into(),
                format: LogFormat::Text
            }
        );
        let found = messages("log: { level: loud, format: xml }\n");
        assert_eq!(
            found,
            [
                "1:15: 'loud' is not a log level",
                "1:29: 'xml' is not a log format"
            ]
        );
    }
}
