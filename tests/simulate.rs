//! `waakvlam simulate` as a user runs it: the example, determinism, bad input.

mod common;

use common::{assert_golden, waakvlam};

#[test]
fn the_example_matches_the_golden_file() {
    let out = waakvlam(
        &[
            "simulate",
            "--events",
            "examples/events.jsonl",
            "--until",
            "2028-06-30",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_golden("examples.jsonl", &String::from_utf8_lossy(&out.stdout));
    // Standard error holds problems only, and the summary: no log lines of plugins loading.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("simulated 23 events of 5 cases"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().last(),
        Some(
            "simulated 23 events of 5 cases up to 2028-06-30: 30 notifications; 1 duplicates ignored, 0 events after --until not applied, 0 lines refused"
        )
    );
}

#[test]
fn the_same_input_gives_byte_identical_output() {
    let first = waakvlam(
        &[
            "simulate",
            "--events",
            "examples/events.jsonl",
            "--until",
            "2028-06-30",
        ],
        None,
    );
    let second = waakvlam(
        &[
            "simulate",
            "--events",
            "examples/events.jsonl",
            "--until",
            "2028-06-30",
        ],
        None,
    );
    assert_eq!(first.stdout, second.stdout);
    assert!(!first.stdout.is_empty());
}

#[test]
fn events_can_come_from_standard_input() {
    let events = std::fs::read_to_string(common::root().join("examples/events.jsonl")).unwrap();
    let piped = waakvlam(
        &["simulate", "--events", "-", "--until", "2028-06-30"],
        Some(&events),
    );
    let file = waakvlam(
        &[
            "simulate",
            "--events",
            "examples/events.jsonl",
            "--until",
            "2028-06-30",
        ],
        None,
    );
    assert_eq!(piped.stdout, file.stdout);
}

/// A bad line is reported with its line number and skipped; the rest is simulated; the exit
/// code says something was refused.
#[test]
fn bad_event_lines_are_reported_and_skipped() {
    let input = [
        r#"{"id":"k1","type":"klacht.ingediend","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{"klacht_id":"K-9"}}"#,
        "dit is geen json",
        r#"{"id":"k2","type":"klacht.ingedient","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{"klacht_id":"K-9"}}"#,
        r#"{"id":"k3","type":"klacht.ingediend","gemeente":"GM0150","case":"C-1","data":{"klacht_id":"K-9"}}"#,
        r#"{"id":"k4","type":"klacht.ingediend","gemeente":"GM0150","case":"C-1","at":"13 april 2027","data":{"klacht_id":"K-9"}}"#,
        r#"{"id":"k5","type":"klacht.ingediend","gemeente":"GM0150","case":"123456782","at":"2027-04-13T10:15:00+02:00","data":{"klacht_id":"K-9"}}"#,
        "",
        r#"{"id":"k6","type":"klacht.ingediend","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00"}"#,
    ]
    .join("\n");
    let out = waakvlam(
        &["simulate", "--events", "-", "--until", "2027-04-30"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refused: Vec<&str> = stderr.lines().filter(|l| l.starts_with("-:")).collect();
    assert_eq!(
        refused,
        [
            "-:2: refused: not JSON: expected value at line 1 column 1",
            "-:3: refused: unknown event type 'klacht.ingedient' (did you mean 'klacht.ingediend'?)",
            "-:4: refused: missing field 'at'",
            "-:5: refused: 'at' must be RFC 3339 with an offset, for example 2027-04-13T10:15:00+02:00, not '13 april 2027'",
            "-:6: refused: 'case' holds a 9-digit number that may be a BSN; use the pseudonymous case id",
            "-:8: refused: klacht.ingediend needs data.klacht_id",
        ]
    );
    assert!(stderr.ends_with("simulated 1 events of 1 cases up to 2027-04-30: 2 notifications; 0 duplicates ignored, 0 events after --until not applied, 6 lines refused\n"));
    // The good first line still ran: the 14-day term's reminder and first escalation are there.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kinds: Vec<&str> = stdout
        .lines()
        .map(|l| {
            if l.contains(r#""kind":"reminder""#) {
                "reminder"
            } else {
                "escalation"
            }
        })
        .collect();
    assert_eq!(kinds, ["reminder", "escalation"], "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.contains(r#""deadline":"in_behandeling""#))
    );
}

#[test]
fn a_broken_workflow_stops_simulate_with_its_problems() {
    let out = waakvlam(
        &[
            "simulate",
            "--events",
            "examples/events.jsonl",
            "--workflows",
            "tests/fixtures/broken",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: the workflows have problems (run 'waakvlam check' for the full report): "
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_events_file_is_a_clear_error() {
    let out = waakvlam(&["simulate", "--events", "bestaat-niet.jsonl"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot open bestaat-niet.jsonl: "),
        "{stderr}"
    );
}

/// The output order does not depend on how many threads share the cases.
#[test]
fn the_output_is_the_same_for_any_number_of_shards() {
    use waakvlam_core::{calendar, simulate, synthetic};
    let engine = common::shipped_engine();
    let mut text = Vec::new();
    synthetic::write_events(&mut text, 3000, 2027, 7).unwrap();
    let until = calendar::send_moment("2028-01-01".parse().unwrap(), 0);
    let outputs: Vec<Vec<u8>> = [1, 2, 3]
        .into_iter()
        .map(|shards| {
            let (events, refused) = simulate::read_events(text.as_slice()).unwrap();
            assert!(refused.is_empty());
            let mut out = Vec::new();
            simulate::run_sharded(&engine, events, until, &mut out, Some(shards)).unwrap();
            out
        })
        .collect();
    assert!(
        outputs[0].len() > 100_000,
        "a real workload: {} bytes",
        outputs[0].len()
    );
    assert!(outputs[1] == outputs[0] && outputs[2] == outputs[0]);
}

/// Events may come in any order (senders are late, files are concatenated): a year of
/// generated events shuffled gives the same notifications. Only the order of notifications of
/// different cases at one moment may differ, since a case's number is where its first line is.
#[test]
fn input_in_any_order_gives_the_same_notifications() {
    use waakvlam_core::{calendar, simulate, synthetic};
    let engine = common::shipped_engine();
    let mut text = Vec::new();
    synthetic::write_events(&mut text, 3000, 2027, 11).unwrap();
    let text = String::from_utf8(text).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // A fixed shuffle (xorshift, Fisher-Yates): the same test every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..lines.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lines.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let shuffled = lines.join("\n") + "\n";
    let until = calendar::send_moment("2028-01-01".parse().unwrap(), 0);
    let run = |input: &str| {
        let (events, refused) = simulate::read_events(input.as_bytes()).unwrap();
        assert!(refused.is_empty());
        let mut out = Vec::new();
        simulate::run(&engine, events, until, &mut out).unwrap();
        let mut lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let in_order = lines.len();
        lines.sort();
        (lines, in_order)
    };
    let (original, count) = run(&text);
    assert!(count > 5_000, "a real workload: {count} notifications");
    let (reordered, _) = run(&shuffled);
    assert!(original == reordered, "the same notifications");
}

/// The two passes over the input keep the rules of one read: a retry of a refused event with
/// the same id is taken, a second copy of a valid one is a duplicate, an event after --until is
/// counted and not applied; and standard input gives what the same file gives.
#[test]
fn a_refused_event_sent_again_with_its_id_is_taken_from_a_file_and_from_standard_input() {
    let complaint = |id: &str, data: &str, at: &str| {
        format!(
            r#"{{"id":"{id}","type":"klacht.ingediend","gemeente":"GM0150","case":"C-1","at":"{at}","data":{data}}}"#
        )
    };
    let text = [
        complaint("e-1", "{}", "2027-04-13T10:00:00+02:00"),
        complaint("e-1", r#"{"klacht_id":"K-1"}"#, "2027-04-13T10:00:00+02:00"),
        complaint("e-1", r#"{"klacht_id":"K-1"}"#, "2027-04-13T10:00:00+02:00"),
        complaint("e-2", r#"{"klacht_id":"K-2"}"#, "2027-07-01T10:00:00+02:00"),
    ]
    .join("\n")
        + "\n";
    let dir = common::tempdir();
    let file = dir.join("events.jsonl");
    std::fs::write(&file, &text).unwrap();
    let from_file = waakvlam(
        &[
            "simulate",
            "--events",
            file.to_str().unwrap(),
            "--until",
            "2027-06-01",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&from_file.stderr);
    assert!(
        stderr.contains("events.jsonl:1: refused: ") && stderr.contains("klacht_id"),
        "{stderr}"
    );
    assert!(
        stderr.contains("simulated 1 events of 1 cases up to 2027-06-01: ")
            && stderr.contains(
                "1 duplicates ignored, 1 events after --until not applied, 1 lines refused"
            ),
        "{stderr}"
    );
    let out = String::from_utf8_lossy(&from_file.stdout).to_string();
    assert!(
        out.contains(r#""case":"C-1""#),
        "the retry was simulated: {out}"
    );
    let from_stdin = waakvlam(
        &["simulate", "--events", "-", "--until", "2027-06-01"],
        Some(&text),
    );
    assert_eq!(String::from_utf8_lossy(&from_stdin.stdout), out);
    assert!(String::from_utf8_lossy(&from_stdin.stderr).contains("-:1: refused: "));
}

/// `simulate` shows a year of overviews beforehand: Mondays at 08:00, Whit Monday (17 May
/// 2027) moved to Tuesday, the list of the overdue deadlines of that moment.
#[test]
fn simulate_produces_the_scheduled_overviews() {
    let dir = common::config_dir(|config| {
        common::replace_once(
            &config,
            "daemon:\n",
            "overviews:\n  - { name: te-laat-maandag, schedule: \"0 8 * * 1\", gemeenten: [GM0150], to: [teamleider], select: { status: overdue } }\ndaemon:\n",
        )
    });
    let config = dir.join("waakvlam.yaml");
    let events = common::root().join("examples/events.jsonl");
    let output = common::waakvlam(
        &[
            "simulate",
            "--events",
            events.to_str().unwrap(),
            "--until",
            "2027-06-08",
            "--config",
            config.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let overviews: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|n| n["kind"] == "overview")
        .collect();
    let moments: Vec<&str> = overviews
        .iter()
        .map(|n| n["at"].as_str().unwrap())
        .collect();
    assert_eq!(
        moments,
        [
            "2027-05-18T08:00:00+02:00",
            "2027-05-24T08:00:00+02:00",
            "2027-05-31T08:00:00+02:00",
            "2027-06-07T08:00:00+02:00"
        ]
    );
    let first = &overviews[0];
    assert_eq!(first["gemeente"], "GM0150");
    assert_eq!(first["to"], serde_json::json!(["teamleider"]));
    assert_eq!(first["items"][0]["case"], "C-1");
    assert_eq!(first["items"][0]["deadline"], "afgerond");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .starts_with("Overzicht 'te-laat-maandag': 1 termijn.")
    );
}

/// What a person reads: no event type names, no ISO dates, no CBS codes, no stacked
/// parentheses and no "0 dagen", in a year of the examples and of generated cases.
#[test]
fn messages_read_as_dutch_for_people() {
    let mut generated = Vec::new();
    waakvlam_core::synthetic::write_events(&mut generated, 2_000, 2027, 7).unwrap();
    let generated = String::from_utf8(generated).unwrap();
    let examples = std::fs::read_to_string(common::root().join("examples/events.jsonl")).unwrap();
    let event_names: Vec<&str> = waakvlam_core::event::VOCABULARY
        .iter()
        .map(|s| s.name)
        .collect();
    let iso = |text: &str| {
        text.as_bytes().windows(10).any(|w| {
            w[..4].iter().all(u8::is_ascii_digit)
                && w[4] == b'-'
                && w[5..7].iter().all(u8::is_ascii_digit)
                && w[7] == b'-'
                && w[8..].iter().all(u8::is_ascii_digit)
        })
    };
    let code = |text: &str| {
        text.as_bytes()
            .windows(6)
            .any(|w| &w[..2] == b"GM" && w[2..].iter().all(u8::is_ascii_digit))
    };
    let mut read = 0;
    for (events, until) in [
        (examples.as_str(), "2029-06-30"),
        (generated.as_str(), "2028-12-31"),
    ] {
        for n in common::simulate(events, until) {
            let message = n["message"].as_str().unwrap();
            read += 1;
            for name in &event_names {
                assert!(!message.contains(name), "event type {name} in: {message}");
            }
            assert!(!iso(message), "an ISO date in: {message}");
            assert!(!code(message), "a CBS code in: {message}");
            assert!(
                !message.contains(") ("),
                "stacked parentheses in: {message}"
            );
            assert!(!message.contains(" 0 dagen"), "'0 dagen' in: {message}");
        }
    }
    assert!(read > 1_000, "only {read} messages read");
}

/// A young person in care from 30 October 2026, 18 on 12 January 2027: the toekomstplan is due
/// on the 18th birthday (`not_after`) and so is the warm handover, of another workflow.
const PLAN_AND_HANDOVER_ON_ONE_DAY: &str = r#"{"id":"S-2464-1","type":"casus.aangemeld","gemeente":"GM0150","case":"S-2464","at":"2026-10-30T13:00:00+01:00","data":{"geboortedatum":"2009-01-12"}}
{"id":"S-2464-2","type":"zorg.gestart","gemeente":"GM0150","case":"S-2464","at":"2026-10-30T17:00:00+01:00","data":{}}
"#;

/// Regression (issue 26): the professional got two reminders at the same minute about one case
/// with one due date, one of `overdracht-18` and one of `toekomstplan-16`. One message per
/// person for the deadlines of one case due on one day holds across workflows.
#[test]
fn one_message_per_person_across_workflows() {
    let out = waakvlam(
        &["simulate", "--events", "-", "--until", "2026-12-31"],
        Some(PLAN_AND_HANDOVER_ON_ONE_DAY),
    );
    let notifications: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let that_morning: Vec<&serde_json::Value> = notifications
        .iter()
        .filter(|n| {
            n["at"] == "2026-12-11T09:00:00+01:00" && n["to"] == serde_json::json!(["professional"])
        })
        .collect();
    assert_eq!(that_morning.len(), 1, "{notifications:#?}");
    let message = that_morning[0]["message"].as_str().unwrap();
    assert_eq!(that_morning[0]["due"], "2027-01-12");
    assert!(message.contains("warme overdracht"), "{message}");
    assert!(message.contains("toekomstplan op"), "{message}");
}

/// The same through the daemon: one message, and the same one `simulate` prints.
#[test]
fn the_daemon_sends_the_same_one_message_across_workflows() {
    let simulated = waakvlam(
        &["simulate", "--events", "-", "--until", "2026-12-31"],
        Some(PLAN_AND_HANDOVER_ON_ONE_DAY),
    );
    let expected: serde_json::Value = String::from_utf8_lossy(&simulated.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|n| n["at"] == "2026-12-11T09:00:00+01:00")
        .unwrap();
    let daemon = common::daemon::Daemon::start();
    daemon.advance("2026-10-30T17:00:00+01:00");
    let events: Vec<serde_json::Value> = PLAN_AND_HANDOVER_ON_ONE_DAY
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (status, answer) = daemon.post_events(
        common::daemon::DEVENTER,
        &serde_json::Value::Array(events).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    daemon.advance("2026-12-11T09:00:00+01:00");
    common::daemon::wait_for(10, "the reminder", || {
        daemon
            .delivered()
            .iter()
            .any(|n| n["at"] == "2026-12-11T09:00:00+01:00")
    });
    let sent: Vec<serde_json::Value> = daemon
        .delivered()
        .into_iter()
        .filter(|n| n["at"] == "2026-12-11T09:00:00+01:00")
        .collect();
    assert_eq!(sent, vec![expected]);
    daemon.stop();
}
