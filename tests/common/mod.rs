//! Helpers shared by the integration tests: the repository's paths, the real binary, and the
//! shipped workflows and configuration run through the library's simulator.
#![allow(dead_code)] // each test file uses its own part of this module

pub mod daemon;
pub mod oidc;
pub mod postgres;
pub mod proxy;
pub mod receiver;
pub mod smtp;
pub mod web;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use waakvlam::config::Config;
use waakvlam_core::calendar::{self, Day};
use waakvlam_core::engine::Engine;
use waakvlam_core::{simulate, workflow};

/// Builds the gemeente plugins (cdylibs, which `cargo test` does not build) once per test
/// binary, so the shipped configuration finds them next to the binary.
pub fn ensure_plugins() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "waakvlam-deventer",
                "-p",
                "waakvlam-dalfsen",
                "-p",
                "waakvlam-apeldoorn",
                "-p",
                "waakvlam-haaksbergen",
            ])
            .args([
                "-p",
                "faulty-panics",
                "-p",
                "faulty-garbage",
                "-p",
                "faulty-wrong_abi",
                "-p",
                "faulty-hangs",
                "-p",
                "faulty-slow",
                "-p",
                "faulty-recovers",
                "-p",
                "faulty-wording",
            ])
            .current_dir(root())
            .status()
            .expect("cargo builds the plugins");
        assert!(status.success(), "building the plugins failed");
    });
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("daemon/ is in the workspace")
        .to_path_buf()
}

/// Runs the real `waakvlam` binary in the repository root.
pub fn waakvlam(args: &[&str], stdin: Option<&str>) -> Output {
    ensure_plugins();
    let mut child = Command::new(env!("CARGO_BIN_EXE_waakvlam"))
        .args(args)
        .current_dir(root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the waakvlam binary runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input.as_bytes())
            .expect("stdin takes the input");
    }
    child
        .wait_with_output()
        .expect("the waakvlam binary finishes")
}

/// Compares with a golden file; `WAAKVLAM_BLESS=1` rewrites it instead.
pub fn assert_golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("WAAKVLAM_BLESS").is_some() {
        std::fs::write(&path, actual).expect("golden file is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b);
        panic!(
            "{} differs (first differing line: {:?}); run with WAAKVLAM_BLESS=1 to accept\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display(),
            first.map(|i| i + 1)
        );
    }
}

/// The shipped workflows under the shipped configuration.
pub fn shipped_engine() -> Engine {
    ensure_plugins();
    let config = Config::load(&root().join("config/waakvlam.yaml"))
        .unwrap_or_else(|p| panic!("config problems: {p:?}"));
    let workflows = workflow::load(&[root().join("workflows")])
        .unwrap_or_else(|r| panic!("workflow problems: {:?}", r.problems));
    let plugins = waakvlam_plugin_host::Registry::start(&config.plugins);
    assert_eq!(
        plugins.as_ref().map(|r| r.loaded().count()),
        Some(4),
        "the four plugins load"
    );
    config.engine_with(workflows, plugins)
}

/// The shipped workflows under a configuration given as text (written next to the shipped
/// holiday file, so `holidays: feestdagen.yaml` resolves).
pub fn engine_with_config(config_text: &str) -> Engine {
    let dir = tempdir();
    std::fs::copy(
        root().join("config/feestdagen.yaml"),
        dir.join("feestdagen.yaml"),
    )
    .expect("copy holidays");
    let path = dir.join("waakvlam.yaml");
    std::fs::write(&path, config_text).expect("write config");
    let config = Config::load(&path).unwrap_or_else(|p| panic!("config problems: {p:?}"));
    let workflows = workflow::load(&[root().join("workflows")])
        .unwrap_or_else(|r| panic!("workflow problems: {:?}", r.problems));
    config.engine(workflows)
}

/// A temporary directory of a test, removed when the last handle to it is dropped (a daemon
/// restarted on it keeps one). Unique per call, so tests in parallel never share one.
#[derive(Clone)]
pub struct TestDir(std::sync::Arc<tempfile::TempDir>);

impl std::ops::Deref for TestDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        self.0.path()
    }
}

pub fn tempdir() -> TestDir {
    TestDir(std::sync::Arc::new(
        tempfile::Builder::new()
            .prefix("waakvlam-test-")
            .tempdir()
            .expect("a temporary directory"),
    ))
}

/// `text` with `from` replaced by `to`, which must be there: a reworded configuration must
/// fail the test, not quietly test something else.
pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected {from:?} once in the text being edited"
    );
    text.replace(from, to)
}

/// Simulates JSON Lines `events` through `engine` up to and including `until`; every line must
/// be a valid event.
pub fn simulate_with(engine: &Engine, events: &str, until: &str) -> Vec<Value> {
    let (events, refused) = simulate::read_events(events.as_bytes()).expect("in-memory read");
    assert!(refused.is_empty(), "refused lines: {refused:?}");
    let until: Day = until.parse().expect("until is a date");
    let mut out = Vec::new();
    simulate::run(
        engine,
        events,
        calendar::send_moment(until.add_days(1), 0),
        &mut out,
    )
    .expect("in-memory write");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

pub fn simulate(events: &str, until: &str) -> Vec<Value> {
    simulate_with(&shipped_engine(), events, until)
}

/// One event line; `data` is JSON text.
pub fn event(id: &str, kind: &str, gemeente: &str, case: &str, at: &str, data: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"{kind}","gemeente":"{gemeente}","case":"{case}","at":"{at}","data":{data}}}"#
    )
}

/// `at kind level deadline due to` per notification, for compact assertions.
pub fn summary(notifications: &[Value]) -> Vec<String> {
    notifications
        .iter()
        .map(|n| {
            let to: Vec<&str> = n["to"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            format!(
                "{} {} {} {}/{} due {} to {}",
                n["at"].as_str().unwrap(),
                n["kind"].as_str().unwrap(),
                n["level"],
                n["workflow"].as_str().unwrap(),
                n["deadline"].as_str().unwrap(),
                n["due"].as_str().unwrap_or("-"),
                to.join(",")
            )
        })
        .collect()
}

/// A directory with the shipped configuration changed by `edit` (the workflows path made
/// absolute), its holiday file and the plugins' settings: for `--config` of a command.
pub fn config_dir(edit: impl FnOnce(String) -> String) -> TestDir {
    let dir = tempdir();
    let shipped = std::fs::read_to_string(root().join("config/waakvlam.yaml")).unwrap();
    let workflows = format!("workflows: {}", root().join("workflows").display());
    let text = edit(replace_once(
        &shipped,
        "workflows: ../workflows",
        &workflows,
    ));
    std::fs::write(dir.join("waakvlam.yaml"), text).unwrap();
    std::fs::copy(
        root().join("config/feestdagen.yaml"),
        dir.join("feestdagen.yaml"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    for entry in std::fs::read_dir(root().join("config/plugins")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join("plugins").join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// A configuration reduced to Deventer alone, as a gemeente that runs Waakvlam by itself
/// starts: only its entry under `gemeenten`, its plugin and the tokens of Deventer only.
pub fn only_deventer(config: &str) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in config.lines() {
        let gemeente = line
            .strip_prefix("  GM")
            .filter(|rest| rest.len() >= 5 && rest.as_bytes()[4] == b':');
        if let Some(rest) = gemeente {
            skipping = !rest.starts_with("0150");
        } else if !line.starts_with("    ") {
            skipping = false;
        }
        let other_plugin = line.starts_with("  - { gemeente: GM") && !line.contains("GM0150");
        let other_token =
            line.starts_with("    - { name:") && !line.contains("gemeenten: [GM0150]");
        if !(skipping || other_plugin || other_token) {
            out.push(line);
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    assert!(!text.contains("GM0200"), "{text}");
    text
}

/// Today's audit lines as the operator reads them on the server (`waakvlam audit`), parsed;
/// those of no gemeente included.
pub fn operator_audit(config: &Path) -> Vec<Value> {
    let today = jiff::Timestamp::now().to_string()[..10].to_string();
    let out = waakvlam(
        &[
            "audit",
            "--config",
            config.to_str().unwrap(),
            "--from",
            &today,
            "--to",
            &today,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How many requests without a valid token the audit lines count (one line per address and
/// minute: `refused: 401 once ...` or `refused: 401 N times ...`).
pub fn counted_without_token(lines: &[Value]) -> u64 {
    lines
        .iter()
        .filter(|l| l["action"] == "requests without a valid token")
        .map(|l| {
            let outcome = l["outcome"].as_str().unwrap_or_default();
            outcome
                .split(' ')
                .nth(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// A complaint (`klacht.ingediend`) filed on 13 April 2027 at 10:15, as the tests post it.
pub fn complaint(id: &str, case: &str, gemeente: &str, klacht: &str) -> String {
    serde_json::json!({"id": id, "type": "klacht.ingediend", "gemeente": gemeente, "case": case,
        "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": klacht}})
    .to_string()
}
