//! The web pages in a real browser: Debian's chromium driven by Playwright, each page scanned
//! by axe-core, used by keyboard, at 200% zoom, on a phone and without JavaScript
//! (`tests/browser/pages.mjs`). Node.js, chromium and the npm packages of `tests/browser` are
//! needed; where one is missing the test says so loudly and passes, unless
//! `WAAKVLAM_BROWSER_TESTS=required` (set by `.ci/run`, which installs them), when it fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::daemon::{Daemon, READ_ONLY, REGION};

/// What is missing for the browser tests, if anything.
fn missing() -> Option<String> {
    let dir = common::root().join("tests/browser");
    if Command::new("node").arg("--version").output().is_err() {
        return Some("Node.js (node) is not installed".into());
    }
    if !chromium().exists() {
        return Some(format!(
            "{} is not installed (apt-get install chromium)",
            chromium().display()
        ));
    }
    for package in ["playwright-core", "axe-core"] {
        if !dir.join("node_modules").join(package).exists() {
            return Some(format!(
                "the npm package {package} is not installed (npm ci --prefix tests/browser)"
            ));
        }
    }
    None
}

fn chromium() -> PathBuf {
    std::env::var_os("WAAKVLAM_CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from)
}

#[test]
fn the_pages_pass_axe_and_work_by_keyboard_zoomed_on_a_phone_and_without_javascript() {
    if let Some(what) = missing() {
        let required = std::env::var("WAAKVLAM_BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(!required, "the browser tests are required, but {what}");
        eprintln!();
        eprintln!("=== BROWSER TESTS SKIPPED: {what} ===");
        eprintln!("=== .ci/run installs what they need and always runs them ===");
        eprintln!();
        return;
    }
    let daemon = Daemon::start();
    common::web::seed(&daemon, "2027-05-20T12:00:00+02:00");
    let artifacts = common::root().join("target/browser-artifacts");
    let mut command = Command::new("node");
    command
        .arg(common::root().join("tests/browser/pages.mjs"))
        .env("WAAKVLAM_URL", &daemon.base)
        .env("WAAKVLAM_TOKEN", REGION)
        .env("WAAKVLAM_READ_ONLY_TOKEN", READ_ONLY)
        .env("WAAKVLAM_CHROMIUM", chromium())
        .env("WAAKVLAM_ARTIFACTS", &artifacts);
    let output = command.output().expect("node runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    println!("{printed}");
    assert!(
        output.status.success(),
        "browser checks failed (screenshots in {}):\n{printed}\n{}",
        artifacts.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    daemon.stop();
}
