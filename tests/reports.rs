//! Verantwoording (issue 29) against the real daemon: when each deadline was met, so that a
//! deadline met on time is told from one met late.

mod common;

use common::complaint;
use common::daemon::{DEVENTER, Daemon};
use serde_json::{Value, json};

/// The complaints of [`three_complaints`]: the three filed, then the two taken into treatment
/// with when.
fn complaints_filed_and_taken() -> (Vec<String>, Vec<(&'static str, String)>) {
    let filed = (1..=3)
        .map(|n| {
            complaint(
                &format!("k-{n}"),
                &format!("C-{n}"),
                "GM0150",
                &format!("K-{n}"),
            )
        })
        .collect();
    let taken = [
        ("t-1", "C-1", "2027-04-20T11:00:00+02:00"),
        ("t-2", "C-2", "2027-04-30T11:00:00+02:00"),
    ]
    .into_iter()
    .map(|(id, case, at)| {
        let event = json!({"id": id, "type": "klacht.in_behandeling", "gemeente": "GM0150",
            "case": case, "at": at, "data": {"klacht_id": case.replace('C', "K")}});
        (at, event.to_string())
    })
    .collect();
    (filed, taken)
}

/// Three complaints filed on Tuesday 13 April 2027 (taken into treatment within 14 days: due
/// Tuesday 27 April): one taken on 20 April, one on 30 April (three days late), one never.
fn three_complaints(daemon: &Daemon) {
    let (filed, taken) = complaints_filed_and_taken();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let (status, answer) = daemon.post_events(DEVENTER, &format!("[{}]", filed.join(",")));
    assert_eq!(status, 200, "{answer}");
    for (at, event) in taken {
        // The clock first: an event from the daemon's future counts as happening now.
        daemon.advance(at);
        let (status, answer) = daemon.post_events(DEVENTER, &event);
        assert_eq!(status, 200, "{answer}");
    }
    daemon.advance("2027-05-05T10:00:00+02:00");
}

/// `(case, status, met_at)` of the complaint's first deadline in each case.
fn taken_into_treatment(daemon: &Daemon, query: &str) -> Vec<(String, String, Value)> {
    let (status, answer) = daemon.request(
        "GET",
        &format!("/v1/deadlines?workflow=klachttermijnen&limit=100{query}"),
        Some(DEVENTER),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    let mut rows: Vec<(String, String, Value)> = answer["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["deadline"] == "in_behandeling")
        .map(|d| {
            (
                d["case"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
                d["met_at"].clone(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[test]
fn met_at_tells_on_time_from_late_and_an_older_store_gets_it_from_the_events() {
    let daemon = Daemon::start();
    three_complaints(&daemon);
    let expected = vec![
        ("C-1".to_string(), "met".to_string(), json!("2027-04-20")),
        ("C-2".to_string(), "met".to_string(), json!("2027-04-30")),
        ("C-3".to_string(), "overdue".to_string(), Value::Null),
    ];
    assert_eq!(taken_into_treatment(&daemon, ""), expected);
    assert_eq!(
        taken_into_treatment(&daemon, "&status=met_late"),
        expected[1..2],
        "only the one met after its due date"
    );
    assert_eq!(taken_into_treatment(&daemon, "&status=met").len(), 2);
    let (status, answer) = daemon.request("GET", "/v1/deadlines?status=late", Some(DEVENTER), None);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("met_late"));

    // A store written before met_at was kept: the migration leaves it empty and forgets the
    // definitions, so the next start recomputes every case from its events.
    let dir = daemon.stop();
    let store = rusqlite::Connection::open(dir.join("data/waakvlam.db")).unwrap();
    store
        .execute_batch(
            "UPDATE deadlines SET met_at = NULL, started = NULL; DELETE FROM definitions;",
        )
        .unwrap();
    drop(store);
    let again = Daemon::start_in(dir);
    assert_eq!(taken_into_treatment(&again, ""), expected);
    again.stop();
}

/// The report of the three complaints over April 2027, field by field; another gemeente's
/// report is refused (403), a period that ends before it starts too (400); the read is audited.
#[test]
fn a_report_counts_on_time_late_and_never_with_their_figures() {
    let daemon = Daemon::start();
    three_complaints(&daemon);
    let (status, report) = daemon.request(
        "GET",
        "/v1/report?from=2027-04-01&to=2027-04-30",
        Some(DEVENTER),
        None,
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["from"], &report["to"]),
        (&json!("2027-04-01"), &json!("2027-04-30"))
    );
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only what fell due in April: {report:#}");
    assert_eq!(
        rows[0],
        json!({
            "gemeente": "GM0150", "workflow": "klachttermijnen", "deadline": "in_behandeling",
            "due": 3, "met_on_time": 1, "met_late": 1, "not_met": 1, "open": 0, "cancelled": 0,
            "on_time_rate": 1.0 / 3.0,
            // Taken 7 and 17 days after filing.
            "lead_time_days": {"median": 12.0, "p90": 17.0},
            // 3 days late, and 8 days overdue on 5 May.
            "days_late": {"median": 5.5, "max": 8},
            // The team leader heard of C-2 and C-3 the day after. The gemeente's contact
            // hears of C-3 a week later, on the next working day after Bevrijdingsdag (5 May)
            // and Hemelvaartsdag (6 May): not yet on 5 May.
            "escalations": {"1": 2}
        })
    );
    let totals = report["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 2);
    assert_eq!(totals[0]["gemeente"], "GM0150");
    assert_eq!(totals[1]["gemeente"], Value::Null);
    for total in totals {
        assert_eq!(
            (total["due"].clone(), total["met_late"].clone()),
            (json!(3), json!(1))
        );
    }
    // A later period holds the other two deadlines of each complaint, still open then.
    let (_, may) = daemon.request(
        "GET",
        "/v1/report?from=2027-05-01&to=2027-05-31&workflow=klachttermijnen",
        Some(DEVENTER),
        None,
    );
    let open: Vec<u64> = may["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["open"].as_u64().unwrap())
        .collect();
    assert_eq!(open, [3, 3], "{may:#}");

    let (status, answer) = daemon.request(
        "GET",
        "/v1/report?from=2027-04-01&to=2027-04-30&gemeente=GM0200",
        Some(DEVENTER),
        None,
    );
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = daemon.request(
        "GET",
        "/v1/report?from=2027-05-01&to=2027-04-30",
        Some(DEVENTER),
        None,
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("starts after it ends")
    );
    let (status, _) = daemon.request("GET", "/v1/report", Some(DEVENTER), None);
    assert_eq!(status, 400);

    let config = daemon.dir.join("waakvlam.yaml");
    // The operator's command beside the running daemon answers the same; and on a backup.
    let command = |extra: &[&str]| {
        let mut args = vec![
            "report",
            "--config",
            config.to_str().unwrap(),
            "--from",
            "2027-04-01",
            "--to",
            "2027-04-30",
            "--gemeente",
            "GM0150",
        ];
        args.extend_from_slice(extra);
        let out = common::waakvlam(&args, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let beside: Value = serde_json::from_str(&command(&[])).unwrap();
    assert_eq!(beside, report);
    let copies = common::tempdir();
    let backup = copies.join("backup.db");
    let out = common::waakvlam(
        &[
            "backup",
            "--config",
            config.to_str().unwrap(),
            "--to",
            backup.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let of_backup: Value =
        serde_json::from_str(&command(&["--store", backup.to_str().unwrap()])).unwrap();
    assert_eq!(of_backup, report);
    let csv = command(&["--csv"]);
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines,
        [
            "gemeente;gemeentenaam;workflow;termijn;te_halen;op_tijd;te_laat_gehaald;niet_gehaald;nog_open;vervallen;op_tijd_procent;doorlooptijd_mediaan;doorlooptijd_p90;dagen_te_laat_mediaan;dagen_te_laat_max;escalaties",
            "GM0150;Deventer;Klachtbehandeling jeugdhulp;Klacht in behandeling nemen;3;1;1;1;0;0;33,3;12,0;17,0;5,5;8;niveau 1: 2",
            "GM0150;Deventer;totaal;;3;1;1;1;0;0;33,3;12,0;17,0;5,5;8;niveau 1: 2",
            ";alle gemeenten;totaal;;3;1;1;1;0;0;33,3;12,0;17,0;5,5;8;niveau 1: 2",
        ]
    );
    let audit = common::operator_audit(&config);
    let read: Vec<&Value> = audit
        .iter()
        .filter(|l| l["action"] == "report.read")
        .collect();
    assert!(
        read.iter()
            .any(|l| l["gemeente"] == "GM0150" && l["outcome"] == "allowed"),
        "{audit:#?}"
    );
    assert!(
        read.iter()
            .any(|l| l["outcome"].as_str().unwrap().starts_with("refused: 403"))
    );
    daemon.stop();
}

/// The report page of the three complaints: the chart and the table in words and numbers, its
/// CSV as the operator's command gives it, another gemeente refused.
#[test]
fn the_report_page_shows_the_period_with_its_chart_and_csv() {
    let daemon = Daemon::start();
    three_complaints(&daemon);
    let mut visitor = common::web::Visitor::signed_in(&daemon, DEVENTER);
    let page = visitor.get("/rapportage?periode=eigen&van=2027-04-01&tot=2027-04-30");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("1 april 2027 tot en met 30 april 2027"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<svg") && page.body.contains(">33%<"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Klacht in behandeling nemen"));
    assert!(
        page.body.contains("12,0 dagen"),
        "the median lead time: {}",
        page.body
    );
    let csv = visitor.get("/rapportage.csv?periode=eigen&van=2027-04-01&tot=2027-04-30");
    assert_eq!(csv.status, 200);
    assert!(
        csv.body.contains("GM0150;Deventer;Klachtbehandeling jeugdhulp;Klacht in behandeling nemen;3;1;1;1;0;0;33,3;12,0;17,0;5,5;8;niveau 1: 2"),
        "{}",
        csv.body
    );
    assert_eq!(visitor.get("/rapportage?gemeente=GM0200").status, 403);
    assert_eq!(
        visitor
            .get("/rapportage?periode=eigen&van=2027-05-01&tot=2027-04-01")
            .status,
        400
    );
    // The presets count back from the daemon's today (5 May 2027): the last full quarter.
    let quarter = visitor.get("/rapportage");
    assert!(
        quarter
            .body
            .contains("1 januari 2027 tot en met 31 maart 2027"),
        "{}",
        quarter.body
    );
    daemon.stop();
}

/// README.md's example of a report is what the daemon answers for its story.
#[test]
fn the_readme_example_is_what_the_daemon_answers() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let block = readme
        .split("<!-- report-example -->\n```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README.md has the report example");
    let shown: Value = serde_json::from_str(block).unwrap();
    let daemon = Daemon::start();
    three_complaints(&daemon);
    let (status, answered) = daemon.request(
        "GET",
        "/v1/report?from=2027-04-01&to=2027-04-30",
        Some(DEVENTER),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(answered, shown);
    daemon.stop();
}

/// The quarterly report of Deventer as an overview: the first day of each quarter at 08:00,
/// to the contactpersoon of the gemeente.
const QUARTERLY: &str = "overviews:\n  - name: kwartaalrapportage\n    schedule: \"0 8 1 1,4,7,10 *\"\n    gemeenten: [GM0150]\n    to: [contactpersoon_gemeente]\n    report: quarter\n";

fn with_quarterly(config: String) -> String {
    common::replace_once(&config, "daemon:\n", &format!("{QUARTERLY}daemon:\n"))
}

/// The events `three_complaints` posts, as `simulate` reads them.
fn three_complaints_as_events() -> String {
    let (mut lines, taken) = complaints_filed_and_taken();
    lines.extend(taken.into_iter().map(|(_, event)| event));
    lines.join("\n") + "\n"
}

/// A scheduled report (`report: quarter`) sends, on 1 July 2027, the figures of the second
/// quarter: the same as `GET /v1/report` for that quarter, the same as `simulate` shows
/// beforehand, and once.
#[test]
fn a_scheduled_report_sends_the_last_quarter_as_the_api_and_simulate_count_it() {
    let daemon = Daemon::start_configured(common::tempdir(), with_quarterly);
    three_complaints(&daemon);
    daemon.advance("2027-07-01T09:00:00+02:00");
    let reports: Vec<Value> = daemon
        .delivered()
        .into_iter()
        .filter(|n| n["kind"] == "report" && n["at"] == "2027-07-01T08:00:00+02:00")
        .collect();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let sent = &reports[0];
    assert_eq!(sent["gemeente"], "GM0150");
    assert_eq!(sent["to"], json!(["contactpersoon_gemeente"]));
    assert_eq!(sent["report"]["from"], "2027-04-01");
    assert_eq!(sent["report"]["to"], "2027-06-30");
    let first = sent["report"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["deadline"] == "in_behandeling")
        .unwrap();
    assert_eq!(
        (
            &first["due"],
            &first["met_on_time"],
            &first["met_late"],
            &first["not_met"]
        ),
        (&json!(3), &json!(1), &json!(1), &json!(1))
    );
    let message = sent["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Rapportage 'kwartaalrapportage' voor Deventer over 1 april 2027 tot en met 30 juni 2027: 9 termijnen: 1 op tijd, 1 te laat gehaald, 7 niet gehaald, 0 nog open; 11,1% op tijd"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "\n- Klachtbehandeling jeugdhulp, Klacht in behandeling nemen: 3 termijnen: 1 op tijd, 1 te laat gehaald, 1 niet gehaald, 0 nog open; 33,3% op tijd"
        ),
        "{message}"
    );

    // README's example is this message.
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let example = readme
        .split("<!-- scheduled-report-example -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README's scheduled report example");
    assert_eq!(example, message);

    // The store reads it back whole: listed, delivered, no dead letter.
    let (status, listed) =
        daemon.request("GET", "/v1/notifications?limit=1000", Some(DEVENTER), None);
    assert_eq!(status, 200, "{listed}");
    let stored = listed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["record"]["kind"] == "report")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(stored["record"], *sent);
    assert_eq!(stored["status"], "delivered", "{stored}");

    // What the API counts for the quarter on that morning is what was sent (the API's
    // `today` is the daemon's, which has moved on by an hour: no due date lies between).
    let (status, answer) = daemon.request(
        "GET",
        "/v1/report?from=2027-04-01&to=2027-06-30&gemeente=GM0150",
        Some(DEVENTER),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sent["report"]["rows"], answer["rows"]);
    assert_eq!(sent["report"]["totals"], answer["totals"]);

    // `simulate` shows the same notification beforehand, byte for byte.
    let dir = common::config_dir(with_quarterly);
    let events = dir.join("events.jsonl");
    std::fs::write(&events, three_complaints_as_events()).unwrap();
    let output = common::waakvlam(
        &[
            "simulate",
            "--events",
            events.to_str().unwrap(),
            "--until",
            "2027-07-02",
            "--config",
            dir.join("waakvlam.yaml").to_str().unwrap(),
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let simulated: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|n| n["kind"] == "report")
        .collect();
    assert_eq!(simulated, reports);

    // Once, a restart included.
    let dir = daemon.stop();
    let daemon = Daemon::start_configured(dir, with_quarterly);
    daemon.advance("2027-07-05T12:00:00+02:00");
    let again = daemon
        .delivered()
        .into_iter()
        .filter(|n| n["kind"] == "report")
        .count();
    assert_eq!(again, 1);
    daemon.stop();
}
