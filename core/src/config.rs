//! The daemon configuration (`config/waakvlam.yaml`) and the holiday data
//! (`config/feestdagen.yaml`), read with the same located YAML and problem reports as the
//! workflows. Paths in the configuration are relative to the file they stand in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::calendar::{Calendar, Day, Duration, LeapDayBirthdays};
use crate::engine::{Engine, ParamSource, Settings};
use crate::event::is_gemeente_code;
use crate::problem::{MapReader, Problem, Problems, list_of, text_of};
use crate::scope::Scope;
use crate::workflow::Workflow;
use crate::yaml::{self, Position, Value as Yaml};

const CONFIG_KEYS: &[&str] = &[
    "holidays",
    "send_hour",
    "leap_day_birthdays",
    "gemeenten",
    "daemon",
    "plugins",
];
const DAEMON_KEYS: &[&str] = &[
    "listen",
    "database",
    "workflows",
    "clock",
    "production",
    "notifications_log",
    "tokens",
    "webhooks",
    "smtp",
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
const TOKEN_KEYS: &[&str] = &["name", "sha256", "gemeenten", "read_only"];
const GEMEENTE_KEYS: &[&str] = &["name", "closed_days", "params", "recipients"];
const HOLIDAY_KEYS: &[&str] = &["covered_through", "added"];
const ADDED_DAY_KEYS: &[&str] = &["date", "reason", "source"];

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub send_hour: u8,
    pub leap_day_birthdays: LeapDayBirthdays,
    /// The holiday file, read again when the daemon reloads.
    pub holidays_file: Option<PathBuf>,
    /// Days a Koninklijk Besluit adds to the Atw holidays, and how far they reach.
    pub holidays: Holidays,
    pub gemeenten: BTreeMap<String, GemeenteConfig>,
    /// Settings of `waakvlam run`; absent for `simulate`, which needs none.
    pub daemon: Option<DaemonConfig>,
    /// One plugin per gemeente at most.
    pub plugins: Vec<PluginConfig>,
}

/// A gemeente's plugin library.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    pub gemeente: String,
    pub library: PathBuf,
    /// The SHA-256 the library must have; a production daemon loads only pinned plugins.
    pub sha256: Option<String>,
    /// The plugin's settings file, read as JSON for the plugin.
    pub settings: serde_json::Value,
    /// How long one call may take.
    pub timeout_ms: u64,
}

#[derive(Clone, Debug)]
pub struct DaemonConfig {
    pub listen: String,
    pub database: PathBuf,
    pub workflows: PathBuf,
    /// Virtual time, advanced only through the API: for tests. Refused in production.
    pub virtual_clock: bool,
    pub production: bool,
    /// The log channel: every notification as a JSON line in this file.
    pub notifications_log: PathBuf,
    pub tokens: Vec<TokenConfig>,
    pub webhooks: Vec<WebhookConfig>,
    pub smtp: Option<SmtpConfig>,
}

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
}

#[derive(Clone, Debug, Default)]
pub struct GemeenteConfig {
    pub name: String,
    pub closed_days: Vec<Day>,
    /// workflow -> parameter -> value.
    pub params: BTreeMap<String, BTreeMap<String, Duration>>,
    /// role -> e-mail addresses, until the gemeente's plugin resolves roles.
    pub recipients: BTreeMap<String, Vec<String>>,
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
        let config = parse(
            &text,
            path.parent().unwrap_or(Path::new(".")),
            &mut problems,
        );
        match config {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(problems.into_vec()),
            Err(mut more) => {
                let mut all = problems.into_vec();
                all.append(&mut more);
                Err(all)
            }
        }
    }

    /// Parameter overrides for names that no workflow has are mistakes worth reporting.
    pub fn check_against(&self, workflows: &[Workflow]) -> Vec<String> {
        let mut problems = Vec::new();
        for (code, gemeente) in &self.gemeenten {
            for (workflow, params) in &gemeente.params {
                let Some(w) = workflows.iter().find(|w| &w.name == workflow) else {
                    problems.push(format!(
                        "gemeenten.{code}.params: there is no workflow '{workflow}'"
                    ));
                    continue;
                };
                for name in params.keys() {
                    if w.param_index(name).is_none() {
                        problems.push(format!("gemeenten.{code}.params.{workflow}: the workflow has no parameter '{name}'"));
                    }
                }
            }
        }
        problems
    }

    pub fn calendar(&self) -> Calendar {
        let calendar = Calendar::new(&self.holidays.added, self.leap_day_birthdays);
        match self.holidays.covered_through {
            Some(year) => calendar.covering_through(year),
            None => calendar,
        }
    }

    /// The engine for these workflows under this configuration.
    pub fn engine(&self, workflows: Vec<Workflow>) -> Engine {
        self.engine_with(workflows, None)
    }

    /// The engine with the gemeenten' plugins: their parameters (over the configuration's),
    /// closed days (with the configuration's) and hooks.
    pub fn engine_with(
        &self,
        workflows: Vec<Workflow>,
        plugins: Option<std::sync::Arc<crate::plugin::Registry>>,
    ) -> Engine {
        let config_params = ConfigParams(self.gemeenten.clone());
        let params: Box<dyn ParamSource> = match &plugins {
            Some(registry) => Box::new(crate::plugin::PluginParams::new(
                registry.clone(),
                config_params,
            )),
            None => Box::new(config_params),
        };
        let mut engine = Engine::new(
            workflows,
            self.calendar(),
            Settings {
                send_hour: self.send_hour,
            },
            params,
        );
        let mut closed: BTreeMap<String, Vec<Day>> = self
            .gemeenten
            .iter()
            .map(|(code, g)| (code.clone(), g.closed_days.clone()))
            .collect();
        if let Some(registry) = &plugins {
            for plugin in registry.loaded() {
                closed
                    .entry(plugin.gemeente.clone())
                    .or_default()
                    .extend(registry.closed_days(&plugin.gemeente));
            }
            engine = engine.with_hooks(Box::new(crate::plugin::PluginHooks::new(registry.clone())));
        }
        for (code, days) in closed {
            if !days.is_empty() {
                engine = engine.with_closed_days(&code, &days);
            }
        }
        engine
    }
}

/// Parameter overrides from the configuration.
pub(crate) struct ConfigParams(BTreeMap<String, GemeenteConfig>);

impl ParamSource for ConfigParams {
    fn overrides(
        &self,
        gemeente: &str,
        workflow: &str,
        _: &Map<String, Value>,
    ) -> Vec<(String, Duration)> {
        self.0
            .get(gemeente)
            .and_then(|g| g.params.get(workflow))
            .map(|params| params.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

fn parse(text: &str, base: &Path, problems: &mut Problems) -> Result<Config, Vec<Problem>> {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(err) => {
            problems.add(err.at, format!("this is not valid YAML: {}", err.message));
            return Ok(Config::default());
        }
    };
    let mut config = Config {
        send_hour: 9,
        ..Config::default()
    };
    let Some(top) = MapReader::new(&root, CONFIG_KEYS, "the configuration", problems) else {
        return Ok(config);
    };
    if let Some((text, at)) = top.text("send_hour", problems) {
        match text.parse::<u8>() {
            Ok(hour) if hour < 24 => config.send_hour = hour,
            _ => problems.add_with_hint(
                at,
                format!("'send_hour' must be an hour from 0 to 23, not '{text}'"),
                "for example 'send_hour: 9'",
            ),
        }
    }
    if let Some((text, at)) = top.text("leap_day_birthdays", problems) {
        config.leap_day_birthdays = match text {
            "1-march" => LeapDayBirthdays::FirstOfMarch,
            "28-february" => LeapDayBirthdays::LastOfFebruary,
            other => {
                problems.add_with_hint(
                    at,
                    format!("'{other}' is not a rule for 29 February birthdays"),
                    "write '1-march' (the BRP convention) or '28-february'",
                );
                LeapDayBirthdays::FirstOfMarch
            }
        };
    }
    let mut holiday_problems = Vec::new();
    if let Some((file, _)) = top.text("holidays", problems) {
        let path = base.join(file);
        match load_holidays(&path) {
            Ok(holidays) => config.holidays = holidays,
            Err(mut more) => holiday_problems.append(&mut more),
        }
        config.holidays_file = Some(path);
    }
    if let Some(node) = top.get("gemeenten") {
        let entries = match &node.value {
            Yaml::Map(entries) => entries.as_slice(),
            _ => {
                problems.add(
                    node.at,
                    "'gemeenten' must be a map from CBS code to settings",
                );
                &[]
            }
        };
        for (key, value) in entries {
            if !is_gemeente_code(&key.name) {
                problems.add_with_hint(
                    key.at,
                    format!("'{}' is not a gemeente code", key.name),
                    "use the CBS code, for example GM0150 for Deventer",
                );
                continue;
            }
            let what = format!("gemeente {}", key.name);
            let Some(map) = MapReader::new(value, GEMEENTE_KEYS, &what, problems) else {
                continue;
            };
            let mut gemeente = GemeenteConfig {
                name: map
                    .text("name", problems)
                    .map(|(t, _)| t.to_string())
                    .unwrap_or_default(),
                ..Default::default()
            };
            if let Some(list) = map.get("closed_days") {
                for item in list_of(list) {
                    if let Some((text, at)) = text_of(item, "a closed day", problems) {
                        match text.parse::<Day>() {
                            Ok(day) => gemeente.closed_days.push(day),
                            Err(err) => problems.add(at, err.to_string()),
                        }
                    }
                }
            }
            if let Some(node) = map.get("recipients") {
                gemeente.recipients = read_recipients(node, problems);
            }
            if let Some(Yaml::Map(workflows)) = map.get("params").map(|n| &n.value) {
                for (workflow, params) in workflows {
                    let Yaml::Map(params) = &params.value else {
                        problems.add(
                            params.at,
                            format!("the parameters of '{}' must be a map", workflow.name),
                        );
                        continue;
                    };
                    let entry = gemeente.params.entry(workflow.name.clone()).or_default();
                    for (name, value) in params {
                        let Some((text, at)) =
                            text_of(value, &format!("parameter '{}'", name.name), problems)
                        else {
                            continue;
                        };
                        match Duration::parse(text) {
                            Ok(d) => {
                                entry.insert(name.name.clone(), d);
                            }
                            Err(err) => problems.add_with_hint(
                                at,
                                format!("parameter '{}': {err}", name.name),
                                err.hint(),
                            ),
                        }
                    }
                }
            }
            config.gemeenten.insert(key.name.clone(), gemeente);
        }
    }
    if let Some(list) = top.get("plugins") {
        for item in list_of(list) {
            if let Some(plugin) = read_plugin(item, base, problems) {
                if config.plugins.iter().any(|p| p.gemeente == plugin.gemeente) {
                    problems.add(item.at, format!("a second plugin for {}", plugin.gemeente));
                } else {
                    config.plugins.push(plugin);
                }
            }
        }
    }
    if let Some(node) = top.get("daemon") {
        config.daemon = read_daemon(node, base, problems);
    }
    if config.daemon.as_ref().is_some_and(|d| d.production) {
        for plugin in config.plugins.iter().filter(|p| p.sha256.is_none()) {
            let at = top.get("plugins").map(|n| n.at).unwrap_or_default();
            problems.add_with_hint(at, format!("the plugin of {} has no 'sha256': a production daemon loads only pinned plugins", plugin.gemeente), "sha256sum the library and add 'sha256: <hex>'");
        }
    }
    if holiday_problems.is_empty() {
        Ok(config)
    } else {
        Err(holiday_problems)
    }
}

/// The holiday data: the days Koninklijk Besluiten add, and the last year they cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holidays {
    pub added: Vec<Day>,
    /// The last year a published decision covers; later legal terms are provisional.
    pub covered_through: Option<i32>,
}

/// Reads `feestdagen.yaml`: the days a Koninklijk Besluit adds, each with its reason and
/// source, and `covered_through`, the last year a published decision covers.
pub fn load_holidays(path: &Path) -> Result<Holidays, Vec<Problem>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| {
        vec![Problem {
            file: file.clone(),
            at: Position::default(),
            message: format!("cannot be read: {err}"),
            hint: None,
        }]
    })?;
    let mut problems = Problems::new(file);
    let mut days = Vec::new();
    let mut covered_through = None;
    match yaml::parse(&text) {
        Err(err) => problems.add(err.at, format!("this is not valid YAML: {}", err.message)),
        Ok(root) => {
            let top = MapReader::new(&root, HOLIDAY_KEYS, "the holiday file", &mut problems);
            if let Some(top) = &top {
                covered_through = read_covered_through(top, &mut problems);
            }
            if let Some(list) = top.as_ref().and_then(|top| top.get("added")) {
                for item in list_of(list) {
                    let Some(entry) =
                        MapReader::new(item, ADDED_DAY_KEYS, "an added day", &mut problems)
                    else {
                        continue;
                    };
                    let reason = entry.require("reason", &mut problems).is_some();
                    let source = entry.require("source", &mut problems).is_some();
                    if !(reason && source) {
                        continue;
                    }
                    if let Some((text, at)) = entry
                        .require("date", &mut problems)
                        .and_then(|n| text_of(n, "'date'", &mut problems))
                    {
                        match text.parse::<Day>() {
                            Ok(day) if covered_through.is_some_and(|year| day.year() > year) => {
                                problems.add_with_hint(
                                    at,
                                    format!("{day} lies after 'covered_through: {}'", covered_through.unwrap_or_default()),
                                    "a published decision that adds this day covers its year: raise 'covered_through' to it",
                                )
                            }
                            Ok(day) => days.push(day),
                            Err(err) => problems.add(at, err.to_string()),
                        }
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(Holidays {
            added: days,
            covered_through,
        })
    } else {
        Err(problems.into_vec())
    }
}

/// `covered_through`: required, so that nobody forgets to say how far the data reaches.
fn read_covered_through(top: &MapReader<'_>, problems: &mut Problems) -> Option<i32> {
    let node = top.require("covered_through", problems)?;
    let (text, at) = text_of(node, "'covered_through'", problems)?;
    match text.parse::<i32>() {
        Ok(year) if (1990..=2100).contains(&year) => Some(year),
        _ => {
            problems.add_with_hint(
                at,
                format!("'covered_through' must be a year, not '{text}'"),
                "the last year a published Koninklijk Besluit covers, for example 'covered_through: 2028'",
            );
            None
        }
    }
}

fn read_daemon(
    node: &crate::yaml::Node,
    base: &Path,
    problems: &mut Problems,
) -> Option<DaemonConfig> {
    let map = MapReader::new(node, DAEMON_KEYS, "'daemon'", problems)?;
    let text =
        |key: &str, problems: &mut Problems| map.text(key, problems).map(|(t, _)| t.to_string());
    let listen = text("listen", problems).unwrap_or_else(|| "127.0.0.1:8080".into());
    let path = |key: &str, default: &str, problems: &mut Problems| {
        base.join(text(key, problems).unwrap_or_else(|| default.to_string()))
    };
    let database = path("database", "../data/waakvlam.db", problems);
    let workflows = path("workflows", "../workflows", problems);
    let notifications_log = path("notifications_log", "../data/notifications.jsonl", problems);
    let flag = |key: &str, problems: &mut Problems| match map.text(key, problems) {
        None | Some(("false", _)) => false,
        Some(("true", _)) => true,
        Some((other, at)) => {
            problems.add(at, format!("'{key}' must be true or false, not '{other}'"));
            false
        }
    };
    let production = flag("production", problems);
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
        let sha256 = token
            .require("sha256", problems)
            .and_then(|n| text_of(n, "'sha256'", problems));
        let sha256 = match sha256 {
            Some((hex, _)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(hex.to_ascii_lowercase())
            }
            Some((_, at)) => {
                problems.add_with_hint(
                    at,
                    "'sha256' must be 64 hexadecimal characters",
                    "store the SHA-256 of the token, never the token: printf %s TOKEN | sha256sum",
                );
                None
            }
            None => None,
        };
        let gemeenten = read_scope(&token, "a token", problems);
        let read_only = match token.text("read_only", problems) {
            None | Some(("false", _)) => false,
            Some(("true", _)) => true,
            Some((other, at)) => {
                problems.add(
                    at,
                    format!("'read_only' must be true or false, not '{other}'"),
                );
                false
            }
        };
        if let (Some(name), Some(sha256), Some(gemeenten)) = (name, sha256, gemeenten) {
            tokens.push(TokenConfig {
                name,
                sha256,
                gemeenten,
                read_only,
            });
        }
    }
    let webhooks = map
        .get("webhooks")
        .map(list_of)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| read_webhook(n, problems))
        .collect();
    let smtp = map.get("smtp").and_then(|n| read_smtp(n, base, problems));
    Some(DaemonConfig {
        listen,
        database,
        workflows,
        virtual_clock,
        production,
        notifications_log,
        tokens,
        webhooks,
        smtp,
    })
}

fn read_recipients(
    node: &crate::yaml::Node,
    problems: &mut Problems,
) -> BTreeMap<String, Vec<String>> {
    let mut recipients = BTreeMap::new();
    let Yaml::Map(entries) = &node.value else {
        problems.add_with_hint(
            node.at,
            "'recipients' must map roles to e-mail addresses",
            "for example 'teamleider: [teamleider@gemeente.example]'",
        );
        return recipients;
    };
    for (role, addresses) in entries {
        let mut list = Vec::new();
        for address in list_of(addresses) {
            if let Some((text, at)) = text_of(address, "an e-mail address", problems) {
                if text.parse::<lettre::Address>().is_ok() {
                    list.push(text.to_string());
                } else {
                    problems.add(at, format!("'{text}' is not an e-mail address"));
                }
            }
        }
        recipients.insert(role.name.clone(), list);
    }
    recipients
}

fn number<T: std::str::FromStr>(
    map: &MapReader<'_>,
    key: &str,
    default: T,
    problems: &mut Problems,
) -> T {
    match map.text(key, problems) {
        None => default,
        Some((text, at)) => text.parse().unwrap_or_else(|_| {
            problems.add(at, format!("'{key}' must be a whole number, not '{text}'"));
            default
        }),
    }
}

/// A secret from the environment variable named by `<key>_env`, or else from `<key>` itself.
fn secret(map: &MapReader<'_>, key: &str, problems: &mut Problems) -> Option<String> {
    let env_key = format!("{key}_env");
    if let Some((variable, at)) = map.text(&env_key, problems) {
        return match std::env::var(variable) {
            Ok(value) if !value.is_empty() => Some(value),
            _ => {
                problems.add_with_hint(
                    at,
                    format!("the environment variable {variable} is not set"),
                    "set it before starting the daemon",
                );
                None
            }
        };
    }
    map.text(key, problems).map(|(t, _)| t.to_string())
}

fn read_webhook(node: &crate::yaml::Node, problems: &mut Problems) -> Option<WebhookConfig> {
    let map = MapReader::new(node, WEBHOOK_KEYS, "a webhook", problems)?;
    let name = read_name(&map, "a webhook", problems);
    let url = match map
        .require("url", problems)
        .and_then(|n| text_of(n, "'url'", problems))
    {
        Some((url, _)) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(url.to_string())
        }
        Some((url, at)) => {
            problems.add(at, format!("'{url}' is not an http(s) URL"));
            None
        }
        None => None,
    };
    let secret = secret(&map, "secret", problems);
    if secret.is_none() && map.get("secret").is_none() && map.get("secret_env").is_none() {
        problems.add_with_hint(
            node.at,
            "a webhook needs 'secret_env' (or 'secret')",
            "the receiver checks the HMAC-SHA256 signature made with it",
        );
    }
    let gemeenten = read_scope(&map, "a webhook", problems);
    let timeout_seconds = number(&map, "timeout_seconds", 10, problems);
    let max_attempts = number(&map, "max_attempts", 8, problems).max(1);
    Some(WebhookConfig {
        name: name?,
        url: url?,
        secret: secret?,
        gemeenten: gemeenten?,
        timeout_seconds,
        max_attempts,
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
        match text_of(code, "a gemeente", problems) {
            Some((code, _)) if is_gemeente_code(code) => codes.push(code.to_string()),
            Some((code, at)) => {
                valid = false;
                problems.add_with_hint(
                    at,
                    format!("'{code}' is not a gemeente code"),
                    "use the CBS code, for example GM0150",
                );
            }
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

fn read_smtp(node: &crate::yaml::Node, base: &Path, problems: &mut Problems) -> Option<SmtpConfig> {
    let map = MapReader::new(node, SMTP_KEYS, "'smtp'", problems)?;
    let host = map
        .require("host", problems)
        .and_then(|n| text_of(n, "'host'", problems))
        .map(|(t, _)| t.to_string());
    let tls = match map.text("tls", problems) {
        None | Some(("starttls", _)) => SmtpTls::StartTls,
        Some(("tls", _)) => SmtpTls::Tls,
        Some(("none", _)) => SmtpTls::None,
        Some((other, at)) => {
            problems.add_with_hint(
                at,
                format!("'{other}' is not a TLS mode"),
                "write 'starttls' (default), 'tls' or 'none' (only for a relay on this machine)",
            );
            SmtpTls::StartTls
        }
    };
    let default_port = match tls {
        SmtpTls::Tls => 465,
        _ => 587,
    };
    let port = number(&map, "port", default_port, problems);
    let from = match map
        .require("from", problems)
        .and_then(|n| text_of(n, "'from'", problems))
    {
        Some((from, at)) => match from.parse::<lettre::message::Mailbox>() {
            Ok(_) => Some(from.to_string()),
            Err(_) => {
                problems.add(at, format!("'{from}' is not a sender address"));
                None
            }
        },
        None => None,
    };
    let digest_hour = match map.text("digest_hour", problems) {
        None => None,
        Some((text, at)) => match text.parse::<u8>() {
            Ok(hour) if hour < 24 => Some(hour),
            _ => {
                problems.add(
                    at,
                    format!("'digest_hour' must be an hour from 0 to 23, not '{text}'"),
                );
                None
            }
        },
    };
    Some(SmtpConfig {
        host: host?,
        port,
        tls,
        ca_file: map.text("ca_file", problems).map(|(t, _)| base.join(t)),
        from: from?,
        username: map.text("username", problems).map(|(t, _)| t.to_string()),
        password: secret(&map, "password", problems),
        timeout_seconds: number(&map, "timeout_seconds", 30, problems),
        max_attempts: number(&map, "max_attempts", 8, problems).max(1),
        digest_hour,
    })
}

const PLUGIN_KEYS: &[&str] = &["gemeente", "library", "sha256", "settings", "timeout_ms"];

fn read_plugin(
    node: &crate::yaml::Node,
    base: &Path,
    problems: &mut Problems,
) -> Option<PluginConfig> {
    let map = MapReader::new(node, PLUGIN_KEYS, "a plugin", problems)?;
    let gemeente = match map
        .require("gemeente", problems)
        .and_then(|n| text_of(n, "'gemeente'", problems))
    {
        Some((code, _)) if is_gemeente_code(code) => Some(code.to_string()),
        Some((code, at)) => {
            problems.add_with_hint(
                at,
                format!("'{code}' is not a gemeente code"),
                "use the CBS code, for example GM0150",
            );
            None
        }
        None => None,
    };
    let library = map
        .require("library", problems)
        .and_then(|n| text_of(n, "'library'", problems))
        .map(|(t, _)| library_path(t, base));
    let sha256 = match map.text("sha256", problems) {
        None => None,
        Some((hex, _)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(hex.to_ascii_lowercase())
        }
        Some((_, at)) => {
            problems.add_with_hint(
                at,
                "'sha256' must be 64 hexadecimal characters",
                "sha256sum the library",
            );
            None
        }
    };
    let settings = match map.text("settings", problems) {
        None => serde_json::Value::Null,
        Some((file, at)) => {
            let path = base.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => match yaml::parse(&text) {
                    Ok(root) => to_json(&root),
                    Err(err) => {
                        problems.add(
                            at,
                            format!(
                                "{}:{}:{}: {}",
                                path.display(),
                                err.at.line,
                                err.at.column,
                                err.message
                            ),
                        );
                        serde_json::Value::Null
                    }
                },
                Err(err) => {
                    problems.add(at, format!("{} cannot be read: {err}", path.display()));
                    serde_json::Value::Null
                }
            }
        }
    };
    let timeout_ms = number(&map, "timeout_ms", 1000, problems).max(1);
    Some(PluginConfig {
        gemeente: gemeente?,
        library: library?,
        sha256,
        settings,
        timeout_ms,
    })
}

/// A YAML tree as JSON, for a plugin's settings: scalars are strings except true, false and
/// null, so a plugin reads what the file says without YAML's guesses.
fn to_json(node: &crate::yaml::Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.value {
        Yaml::Scalar {
            text,
            quoted: false,
        } if text == "true" => Value::Bool(true),
        Yaml::Scalar {
            text,
            quoted: false,
        } if text == "false" => Value::Bool(false),
        Yaml::Scalar { .. } if node.is_null() => Value::Null,
        Yaml::Scalar { text, .. } => Value::String(text.clone()),
        Yaml::List(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// A bare file name (`libwaakvlam_deventer.so`) is looked for next to the running program
/// first, where `cargo build --workspace` puts the plugins beside the binary, then next to
/// the configuration; a path is relative to the configuration.
fn library_path(name: &str, base: &Path) -> PathBuf {
    if !name.contains('/') {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
        // Test binaries run from target/<profile>/deps: the plugins are one level up.
        let above = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join(name)));
        if let Some(found) = beside.into_iter().chain(above).find(|p| p.exists()) {
            return found;
        }
    }
    base.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, Vec<Problem>> {
        let dir = std::env::temp_dir().join(format!(
            "waakvlam-config-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("waakvlam.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    #[test]
    fn a_production_daemon_refuses_a_virtual_clock() {
        let problems = load("daemon:\n  production: true\n  clock: virtual\n").unwrap_err();
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
        assert_eq!(daemon.tokens.len(), 6);
        assert_eq!(config.gemeenten.len(), 4);
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
}
