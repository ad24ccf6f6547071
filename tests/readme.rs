//! The README tells the truth: every `cargo run` command of its console blocks is run, and
//! what the block shows must be what it prints (`...` stands for any lines); the figures of
//! the tour's story and of its step 4 are checked against what the commands print.

mod common;

use common::{replace_once, root, waakvlam};
use serde_json::Value;

/// A command of a console block and the lines the README shows after it.
struct Shown {
    args: Vec<String>,
    lines: Vec<String>,
}

/// The `cargo run ... -- <args>` commands of the README's console blocks that run as they are
/// written (one with a comment saying it needs an edit is checked by its own test below).
fn shown_commands() -> Vec<Shown> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut shown = Vec::new();
    let mut in_console = false;
    let mut current: Option<Shown> = None;
    // A block inside a list item is indented as a whole; its own indentation stays.
    let mut indent = 0;
    for raw in readme.lines() {
        let fence = raw.trim_start();
        if fence.starts_with("```") {
            indent = raw.len() - fence.len();
            in_console = fence == "```console";
            shown.extend(current.take());
            continue;
        }
        if !in_console {
            continue;
        }
        let line = raw
            .get(indent..)
            .filter(|_| raw[..indent].trim().is_empty())
            .unwrap_or(raw);
        if let Some(command) = line.strip_prefix("$ ") {
            shown.extend(current.take());
            let runnable = command.starts_with("cargo run") && !command.contains('#');
            current = runnable.then(|| Shown {
                args: command
                    .split_once(" -- ")
                    .map(|(_, args)| args.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default(),
                lines: Vec::new(),
            });
        } else if let Some(current) = &mut current {
            current.lines.push(line.to_string());
        }
    }
    shown
}

/// Whether `actual` holds the `shown` lines in order, `...` standing for any lines.
fn matches(shown: &[String], actual: &[&str]) -> bool {
    match shown.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => {
            actual.first().is_some_and(|line| line == first) && matches(rest, &actual[1..])
        }
    }
}

#[test]
fn every_command_prints_what_the_readme_shows() {
    let commands = shown_commands();
    assert!(commands.len() >= 4, "the tour's commands are found");
    for command in commands {
        let args: Vec<&str> = command.args.iter().map(String::as_str).collect();
        let out = waakvlam(&args, None);
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The README shows a fresh clone; after its first command the checkout has a store in
        // data/, and `check --config` adds a line about it (tested in tests/check.rs).
        let actual: Vec<&str> = printed
            .lines()
            .filter(|l| !l.starts_with("config/../data/waakvlam.db: "))
            .collect();
        assert!(
            matches(&command.lines, &actual),
            "`waakvlam {}` prints something else than README.md shows.\n--- shown\n{}\n--- printed\n{printed}",
            args.join(" "),
            command.lines.join("\n")
        );
    }
}

/// The shipped configuration with `line` under `gemeente`'s name, in a directory of its own
/// with the files it names.
fn configured(gemeente_line: &str, added: &str) -> common::TestDir {
    common::config_dir(|shipped| {
        replace_once(&shipped, gemeente_line, &format!("{gemeente_line}{added}"))
    })
}

fn simulate_with(config: &std::path::Path) -> (Vec<Value>, String) {
    let out = waakvlam(
        &[
            "simulate",
            "--events",
            "examples/events.jsonl",
            "--until",
            "2028-06-30",
            "--config",
            config.to_str().unwrap(),
        ],
        None,
    );
    let notifications = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        notifications,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (moment's day, kind, level) of A-3's toekomstplan notifications.
fn plan_of_a3(notifications: &[Value]) -> Vec<(String, String, u64)> {
    notifications
        .iter()
        .filter(|n| n["case"] == "A-3" && n["deadline"] == "toekomstplan")
        .map(|n| {
            (
                n["at"].as_str().unwrap()[..10].to_string(),
                n["kind"].as_str().unwrap().to_string(),
                n["level"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Step 3's story: the plan due on 1 September 2026, reminders on 31 July and 25 August, the
/// team leader on 2 September, the account manager on 16 and 30 September and a last time on
/// 14 October; and the last line, one reminder about two deadlines.
#[test]
fn the_story_of_step_3_is_what_simulate_prints() {
    let (notifications, _) = simulate_with(&root().join("config/waakvlam.yaml"));
    let plan = plan_of_a3(&notifications);
    let day = |d: &str, kind: &str, level: u64| (d.to_string(), kind.to_string(), level);
    assert_eq!(
        plan,
        [
            day("2026-07-31", "reminder", 0),
            day("2026-08-25", "reminder", 0),
            day("2026-09-02", "escalation", 1),
            day("2026-09-16", "escalation", 2),
            day("2026-09-30", "escalation", 3),
            day("2026-10-14", "escalation", 4),
        ]
    );
    let last_of_plan = notifications
        .iter()
        .rfind(|n| n["case"] == "A-3" && n["deadline"] == "toekomstplan")
        .unwrap();
    assert!(
        last_of_plan["message"]
            .as_str()
            .unwrap()
            .contains("Dit is het laatste bericht hierover."),
        "{last_of_plan}"
    );
    let two = notifications.last().unwrap()["message"].as_str().unwrap();
    assert!(
        two.contains("verantwoordelijk wordt en vervolgzorg vanaf 18 jaar aanvragen"),
        "{two}"
    );
    assert!(notifications.iter().any(|n| n["case"] == "A-3"
        && n["deadline"] == "toekomstplan_gestart"
        && n["at"] == "2026-06-01T09:05:00+02:00"));
    assert!(
        plan.iter().all(|(d, _, _)| d.as_str() < "2027-01-15"),
        "nothing after the plan came"
    );
}

/// Step 4: two months for Apeldoorn's plans; and a term a plugin sets is reported, not used.
#[test]
fn step_4_changes_what_it_says() {
    let dir = configured(
        "  GM0200:\n    name: Apeldoorn\n",
        "    params:\n      toekomstplan-16: { opsteltermijn: 2 months }\n",
    );
    let (notifications, stderr) = simulate_with(&dir.join("waakvlam.yaml"));
    let plan = plan_of_a3(&notifications);
    let day = |d: &str, kind: &str, level: u64| (d.to_string(), kind.to_string(), level);
    assert_eq!(
        plan[..3],
        [
            day("2026-07-01", "reminder", 0),
            day("2026-07-24", "reminder", 0),
            day("2026-08-03", "escalation", 1),
        ]
    );
    assert!(
        notifications
            .iter()
            .any(|n| n["case"] == "A-3" && n["due"] == "2026-08-01")
    );
    assert_eq!(plan.last().unwrap(), &day("2026-09-14", "escalation", 4));
    assert_eq!(notifications.len(), 30);
    assert!(stderr.contains(": 30 notifications;"), "{stderr}");

    let dir = configured(
        "  GM0150:\n    name: Deventer\n",
        "    params:\n      klachttermijnen: { in_behandeling: 10 days }\n",
    );
    let config = dir.join("waakvlam.yaml");
    let out = waakvlam(&["check", "--config", config.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "a warning, not a problem");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let shown = readme
        .lines()
        .find(|l| l.contains("klachttermijnen.in_behandeling is not used"))
        .expect("the README shows the report");
    let printed = String::from_utf8_lossy(&out.stdout);
    let report = shown.replace("config/waakvlam.yaml", &config.display().to_string());
    assert!(printed.contains(&report), "{printed}");
    let (_, stderr) = simulate_with(&config);
    assert!(
        stderr.contains("klachttermijnen.in_behandeling is not used"),
        "{stderr}"
    );
}
