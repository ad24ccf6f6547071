//! End-to-end tests of `waakvlam run`: the real binary on a loopback port, a temporary SQLite
//! file, the shipped workflows, and a virtual clock driven through the API.

mod common;

use common::complaint;
use common::daemon::{APELDOORN, DEVENTER, Daemon, READ_ONLY, REGION};
use serde_json::{Value, json};

/// The notifications log holds no id twice.
fn assert_each_id_once(delivered: &[Value]) {
    let mut ids: Vec<&str> = delivered
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), delivered.len(), "no id twice");
}

/// The quickstart: an event goes in, its deadlines come out, and on the due day the reminder
/// is delivered and shown with its delivery state.
#[test]
fn an_event_goes_in_and_its_deadlines_come_out() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let (status, answer) = daemon.post_events(DEVENTER, &complaint("e-17", "C-1", "GM0150", "K-9"));
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"results": [{"index": 0, "id": "e-17", "status": "accepted"}]})
    );

    let (status, case) = daemon.request("GET", "/v1/cases/C-1", Some(DEVENTER), None);
    assert_eq!(status, 200);
    let dues: Vec<(&str, &str, &str)> = case["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["deadline"].as_str().unwrap(),
                d["due"].as_str().unwrap(),
                d["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        dues,
        [
            ("in_behandeling", "2027-04-27", "open"),
            ("afgerond", "2027-05-11", "open"),
            ("fatale_termijn", "2027-05-25", "open")
        ]
    );

    daemon.advance("2027-04-23T12:00:00+02:00");
    let delivered = daemon.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["at"], "2027-04-23T09:00:00+02:00");
    assert_eq!(delivered[0]["kind"], "reminder");
    assert_eq!(delivered[0]["deadline"], "in_behandeling");
    let (_, listed) = daemon.request("GET", "/v1/notifications?case=C-1", Some(DEVENTER), None);
    assert_eq!(listed["notifications"][0]["status"], "delivered");
    assert_eq!(
        listed["notifications"][0]["record"]["id"],
        delivered[0]["id"]
    );

    daemon.advance("2027-04-28T10:00:00+02:00");
    let (_, overdue) = daemon.request("GET", "/v1/deadlines?status=overdue", Some(DEVENTER), None);
    assert_eq!(overdue["deadlines"].as_array().unwrap().len(), 1);
    assert_eq!(daemon.delivered().last().unwrap()["kind"], "escalation");
    daemon.stop();
}

/// A token sees and writes only its own gemeenten: 403 for anything else, 401 without a valid
/// token, 403 for a read-only token that writes.
#[test]
fn tokens_see_only_their_own_gemeenten() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    assert_eq!(
        daemon
            .post_events(APELDOORN, &complaint("a-1", "A-1", "GM0200", "K-1"))
            .0,
        200
    );
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("d-1", "D-1", "GM0150", "K-2"))
            .0,
        200
    );

    // Deventer can neither read nor write Apeldoorn.
    let (status, answer) = daemon.post_events(DEVENTER, &complaint("d-2", "A-1", "GM0200", "K-3"));
    assert_eq!(
        (status, answer["error"].as_str().unwrap()),
        (
            403,
            "token 'deventer' may not write for GM0200; nothing was accepted"
        )
    );
    assert_eq!(
        daemon
            .request("GET", "/v1/cases/A-1?gemeente=GM0200", Some(DEVENTER), None)
            .0,
        403
    );
    assert_eq!(
        daemon
            .request("GET", "/v1/cases/A-1", Some(DEVENTER), None)
            .0,
        404
    );
    assert_eq!(
        daemon
            .request("GET", "/v1/deadlines?gemeente=GM0200", Some(DEVENTER), None)
            .0,
        403
    );
    let (_, own) = daemon.request("GET", "/v1/deadlines", Some(DEVENTER), None);
    assert!(
        own["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["gemeente"] == "GM0150")
    );

    // The region's token sees both.
    let (_, region) = daemon.request("GET", "/v1/deadlines", Some(REGION), None);
    let mut gemeenten: Vec<&str> = region["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["gemeente"].as_str().unwrap())
        .collect();
    gemeenten.sort();
    gemeenten.dedup();
    assert_eq!(gemeenten, ["GM0150", "GM0200"]);
    assert_eq!(
        daemon.request("GET", "/v1/cases/A-1", Some(REGION), None).0,
        200
    );

    // No token, a wrong token, a read-only token writing.
    let (status, answer) = daemon.request("GET", "/v1/deadlines", None, None);
    assert_eq!(
        (status, answer["error"].as_str().unwrap()),
        (
            401,
            "missing bearer token: send 'Authorization: Bearer <token>'"
        )
    );
    assert_eq!(
        daemon
            .request("GET", "/v1/deadlines", Some("geraden"), None)
            .0,
        401
    );
    let (status, answer) = daemon.post_events(READ_ONLY, &complaint("r-1", "D-1", "GM0150", "K-4"));
    assert_eq!(
        (status, answer["error"].as_str().unwrap()),
        (403, "token 'alleen-lezen' is read-only")
    );
    assert_eq!(
        daemon
            .request("GET", "/v1/cases/D-1", Some(READ_ONLY), None)
            .0,
        200
    );
    daemon.stop();
}

/// Bad input gets a clear answer, nothing accepted before is lost, and the daemon stays up.
#[test]
fn bad_input_is_refused_clearly() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("ok-1", "C-1", "GM0150", "K-1"))
            .0,
        200
    );

    let (status, answer) = daemon.post_events(DEVENTER, "dit is geen json");
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("the body is not JSON: ")
    );

    let bad = json!([
        {"id": "b-1", "type": "klacht.ingedient", "gemeente": "GM0150", "case": "C-2", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-5"}},
        {"id": "b-2", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-2", "data": {"klacht_id": "K-5"}},
        {"id": "b-3", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "123456782", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-5"}},
        {"id": "ok-1", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-1", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-1"}},
        {"id": "ok-2", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-3", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-6"}}
    ]);
    let (status, answer) = daemon.post_events(DEVENTER, &bad.to_string());
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"results": [
            {"index": 0, "id": "b-1", "status": "refused", "problems": ["unknown event type 'klacht.ingedient' (did you mean 'klacht.ingediend'?)"]},
            {"index": 1, "id": "b-2", "status": "refused", "problems": ["missing field 'at'"]},
            {"index": 2, "id": "b-3", "status": "refused", "problems": ["'case' holds a 9-digit number that may be a BSN; use the pseudonymous case id"]},
            {"index": 3, "id": "ok-1", "status": "duplicate"},
            {"index": 4, "id": "ok-2", "status": "accepted"}
        ]})
    );

    // Oversized: a body over the limit, and an array over 10,000 events.
    let huge = "x".repeat(waakvlam::api::MAX_BODY_BYTES + 1);
    assert_eq!(daemon.post_events(DEVENTER, &huge).0, 413);
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"id": format!("m-{i}")}))
        .collect();
    let (status, answer) = daemon.post_events(DEVENTER, &Value::Array(too_many).to_string());
    assert_eq!(
        (status, answer["error"].as_str().unwrap()),
        (400, "at most 10000 events per request, not 10001")
    );

    // A 10,000-event array is taken whole.
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"id": format!("n-{i}"), "type": "veiligthuis.melding", "gemeente": "GM0150", "case": format!("V-{}", i % 500),
            "at": "2027-04-13T09:00:00+02:00", "data": {"melding_id": format!("VT-{i}")}}))
        .collect();
    let (status, answer) = daemon.post_events(DEVENTER, &Value::Array(many).to_string());
    assert_eq!(status, 200);
    assert!(
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "accepted")
    );

    // Still up, and what was accepted before is there.
    assert_eq!(
        daemon.request("GET", "/healthz", None, None),
        (200, json!({"status": "ok"}))
    );
    let (_, case) = daemon.request("GET", "/v1/cases/C-1", Some(DEVENTER), None);
    assert_eq!(case["events"].as_array().unwrap().len(), 1);
    daemon.stop();
}

/// Timers survive a restart, and what fell due while the daemon was down goes out once.
#[test]
fn timers_survive_a_restart() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("e-1", "C-1", "GM0150", "K-9"))
            .0,
        200
    );
    daemon.advance("2027-04-23T12:00:00+02:00");
    assert_eq!(daemon.delivered().len(), 1, "the reminder of 23 April");
    let dir = daemon.stop();

    let daemon = Daemon::start_in(dir);
    // Down from 23 April to 29 April: the escalation of 28 April goes out once, late.
    daemon.advance("2027-04-29T12:00:00+02:00");
    let delivered = daemon.delivered();
    let kinds: Vec<(&str, &str)> = delivered
        .iter()
        .map(|n| (n["kind"].as_str().unwrap(), n["deadline"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("reminder", "in_behandeling"),
            ("escalation", "in_behandeling")
        ]
    );
    assert_each_id_once(&delivered);
    daemon.stop();
}

/// `kill -9` after reminders went into the notifications log and before the store marked them
/// delivered (the scheduler marks them with its next transaction): the restart finds them in the
/// file beyond the position marked last, marks them, and writes none of them again.
#[test]
fn a_kill_9_between_writing_and_marking_writes_nothing_twice() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    // Ten complaints on 13 April and ten on 15 April: their reminders go out on different days.
    let complaints = |cases: std::ops::Range<usize>, at: &str| {
        let events: Vec<Value> = cases
            .map(|i| {
                let mut event: Value = serde_json::from_str(&complaint(
                    &format!("e-{i}"),
                    &format!("C-{i}"),
                    "GM0150",
                    "K-9",
                ))
                .unwrap();
                event["at"] = json!(at);
                event
            })
            .collect();
        Value::Array(events).to_string()
    };
    let (status, _) = daemon.post_events(DEVENTER, &complaints(0..10, "2027-04-13T10:15:00+02:00"));
    assert_eq!(status, 200);
    daemon.advance("2027-04-15T10:00:00+02:00");
    let (status, _) =
        daemon.post_events(DEVENTER, &complaints(10..20, "2027-04-15T10:15:00+02:00"));
    assert_eq!(status, 200);
    // The first ten reminders go out and are marked (reading the outbox marks what is written).
    daemon.advance("2027-04-23T12:00:00+02:00");
    let (status, _) = daemon.request("GET", "/v1/notifications", Some(DEVENTER), None);
    assert_eq!(status, 200);
    let first = daemon.delivered().len();
    assert_eq!(first, 10);
    // The next ten are written; the kill comes before the next transaction marks them.
    daemon.advance("2027-04-27T12:00:00+02:00");
    let dir = daemon.kill_hard();

    let daemon = Daemon::start_in(dir);
    assert!(
        daemon.log().iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("not yet marked delivered")
            && l["lines"] == 10),
        "the restart found the 10 unmarked lines: {:?}",
        daemon.log()
    );
    daemon.advance("2027-04-27T12:30:00+02:00");
    let delivered = daemon.delivered();
    assert_eq!(delivered.len(), 20);
    assert_each_id_once(&delivered);
    let (status, answer) = daemon.request("GET", "/v1/notifications", Some(DEVENTER), None);
    assert_eq!(status, 200);
    let statuses: Vec<&str> = answer["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["delivered"; 20], "{answer}");
    daemon.stop();
}

/// `kill -9` in the middle of a burst of concurrent posts: every acknowledged event is there
/// after a restart, and every notification is delivered once per id.
#[test]
fn acknowledged_events_survive_kill_9() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let base = daemon.base.clone();
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let base = base.clone();
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for i in 0..200 {
                    let id = format!("w{w}-{i}");
                    let body = complaint(&id, &format!("K-{w}-{}", i % 20), "GM0150", &id);
                    let Ok(mut response) = agent
                        .post(&format!("{base}/v1/events"))
                        .header("Authorization", &format!("Bearer {DEVENTER}"))
                        .send(&body)
                    else {
                        return; // the daemon is gone
                    };
                    if response.status() == 200
                        && response
                            .body_mut()
                            .read_to_string()
                            .unwrap_or_default()
                            .contains("accepted")
                    {
                        acknowledged.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    common::daemon::wait_for(60, "150 acknowledged events", || {
        acknowledged.lock().unwrap().len() >= 150
    });
    let dir = daemon.kill_hard();
    for writer in writers {
        writer.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 150);

    let daemon = Daemon::start_in(dir);
    // Everything acknowledged is there: posting it again is a duplicate.
    for chunk in acknowledged.chunks(500) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|id| {
                let (w, i) = id[1..].split_once('-').unwrap();
                let i: usize = i.parse().unwrap();
                serde_json::from_str(&complaint(id, &format!("K-{w}-{}", i % 20), "GM0150", id))
                    .unwrap()
            })
            .collect();
        let (status, answer) = daemon.post_events(DEVENTER, &Value::Array(events).to_string());
        assert_eq!(status, 200);
        assert!(
            answer["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "duplicate"),
            "{answer}"
        );
    }
    daemon.advance("2027-04-23T12:00:00+02:00");
    let delivered = daemon.delivered();
    assert_each_id_once(&delivered);
    // A reminder for every case with an acknowledged complaint; the complaints of one case due
    // on one day go to its klachtenfunctionaris as one message that names them all.
    let cases: std::collections::BTreeSet<String> = acknowledged
        .iter()
        .map(|id| {
            let (w, i) = id[1..].split_once('-').unwrap();
            format!("K-{w}-{}", i.parse::<usize>().unwrap() % 20)
        })
        .collect();
    let reminded: std::collections::BTreeSet<String> = delivered
        .iter()
        .filter(|n| n["kind"] == "reminder")
        .map(|n| n["case"].as_str().unwrap().to_string())
        .collect();
    assert!(
        cases.is_subset(&reminded),
        "a reminder for every case with an acknowledged complaint: {} of {}",
        reminded.len(),
        cases.len()
    );
    let two = delivered
        .iter()
        .find(|n| n["message"].as_str().unwrap().contains(") en klacht"))
        .expect("a message about several complaints of one case");
    assert!(
        two["message"]
            .as_str()
            .unwrap()
            .contains("Klacht in behandeling nemen (w"),
        "{two}"
    );
    daemon.stop();
}

/// The metrics count events and show deliveries and timers; reading them needs a token.
#[test]
fn metrics_count_what_happens() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    daemon.post_events(DEVENTER, &complaint("e-1", "C-1", "GM0150", "K-9"));
    daemon.post_events(DEVENTER, &complaint("e-1", "C-1", "GM0150", "K-9"));
    daemon.post_events(DEVENTER, &json!({"id": "x"}).to_string());
    daemon.advance("2027-04-23T12:00:00+02:00");
    assert_eq!(daemon.request("GET", "/metrics", None, None).0, 401);
    let (status, text) = daemon.request("GET", "/metrics", Some(DEVENTER), None);
    assert_eq!(status, 200);
    let text = text.as_str().unwrap().to_string();
    for line in [
        "waakvlam_events_accepted_total 1\n",
        "waakvlam_events_duplicate_total 1\n",
        "waakvlam_events_refused_total 1\n",
        "waakvlam_pending_timers 1\n",
        "waakvlam_deliveries{channel=\"log\",status=\"delivered\"} 1\n",
        "waakvlam_delivery_latency_seconds_count 1\n",
        "waakvlam_timer_lateness_seconds_count 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    daemon.stop();
}

/// The OpenAPI document describes exactly the routes the daemon serves.
#[test]
fn the_openapi_document_matches_the_routes() {
    let daemon = Daemon::start();
    let (status, document) = daemon.request("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let mut paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/healthz",
            "/metrics",
            "/v1/audit",
            "/v1/cases/{case}",
            "/v1/clock",
            "/v1/deadlines",
            "/v1/events",
            "/v1/ijw",
            "/v1/notifications",
            "/v1/notifications/{id}/retry",
            "/v1/openapi.json",
            "/v1/report",
            "/v1/what-if"
        ]
    );
    for path in paths {
        let (status, answer) =
            daemon.request("GET", &path.replace("{case}", "C-1"), Some(DEVENTER), None);
        assert_ne!(
            answer["error"], "no such endpoint; the API lives under /v1 (see README.md)",
            "{path}: {status}"
        );
    }
    daemon.stop();
}

/// Copies the shipped workflows into `dir/workflows` for a test that changes them.
fn own_workflows(dir: &std::path::Path) -> std::path::PathBuf {
    let target = dir.join("workflows");
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(common::root().join("workflows")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, target.join(path.file_name().unwrap())).unwrap();
    }
    target
}

/// A daemon on a copy of the shipped workflows (returned, to change), with the configuration
/// changed by `edit` besides.
fn on_own_workflows(edit: impl FnOnce(String) -> String + 'static) -> (Daemon, std::path::PathBuf) {
    let dir = common::tempdir();
    let workflows = own_workflows(&dir);
    let shipped_workflows = common::root().join("workflows").display().to_string();
    let own = workflows.display().to_string();
    let daemon = Daemon::start_configured(dir, move |config| {
        edit(common::replace_once(
            &config,
            &format!("workflows: {shipped_workflows}"),
            &format!("workflows: {own}"),
        ))
    });
    (daemon, workflows)
}

/// Deventer's complaint K-9 about case C-1 on 13 April 2027.
fn complaint_of_13_april(daemon: &Daemon) {
    daemon.advance("2027-04-13T10:00:00+02:00");
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("e-1", "C-1", "GM0150", "K-9"))
            .0,
        200
    );
}

/// The legal term of C-1's complaint: Deventer's plugin sets the service norms, not this one.
fn legal_term(daemon: &Daemon) -> String {
    let (_, case) = daemon.request("GET", "/v1/cases/C-1", Some(DEVENTER), None);
    case["deadlines"][2]["due"].as_str().unwrap().to_string()
}

/// A changed definition is swapped in on SIGHUP: the running complaint gets its new deadline,
/// and the log says which. A broken definition is refused: the old ones stay, every problem
/// is logged and counted.
#[test]
fn workflows_are_reloaded_on_sighup_and_broken_ones_refused() {
    let (daemon, workflows) = on_own_workflows(|config| config);
    complaint_of_13_april(&daemon);
    assert_eq!(legal_term(&daemon), "2027-05-25");

    let file = workflows.join("klachttermijnen.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        common::replace_once(&text, "fataal: 6 weeks", "fataal: 5 weeks"),
    )
    .unwrap();
    daemon.signal("HUP");
    common::daemon::wait_for(10, "the reload", || legal_term(&daemon) == "2027-05-18");
    let log = daemon.log();
    let moved = log
        .iter()
        .find(|l| l["message"] == "deadline recalculated")
        .expect("a line per moved deadline");
    assert_eq!(
        (
            moved["instance"].as_str(),
            moved["deadline"].as_str(),
            moved["old_due"].as_str(),
            moved["new_due"].as_str()
        ),
        (
            Some("klachttermijnen/GM0150/C-1/K-9"),
            Some("fatale_termijn"),
            Some("2027-05-25"),
            Some("2027-05-18")
        )
    );

    // Broken: noticed without a signal (the directory changed), refused, the old ones stay.
    std::fs::write(&file, "workflow: klachttermijnen\ntitle: kapot\nroles: {}\nstart: { on: klacht.ingedient }\ndeadlines: {}\n").unwrap();
    common::daemon::wait_for(10, "the refusal", || {
        daemon
            .log()
            .iter()
            .any(|l| l["message"] == "workflow reload refused; the running definitions stay")
    });
    let problems: Vec<String> = daemon
        .log()
        .iter()
        .filter(|l| l["message"] == "workflow reload refused; the running definitions stay")
        .map(|l| l["problem"].as_str().unwrap().to_string())
        .collect();
    assert!(problems.iter().any(|p| p.contains("klachttermijnen.yaml:4:14: unknown event type 'klacht.ingedient'")), "{problems:?}");
    let (_, metrics) = daemon.request("GET", "/metrics", Some(DEVENTER), None);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("waakvlam_workflow_reload_failures_total 1\n")
    );
    assert_eq!(legal_term(&daemon), "2027-05-18");
    daemon.stop();
}

/// A complaint filed on `date` (Deventer), for the holiday tests.
fn complaint_filed(id: &str, case: &str, date: &str) -> String {
    json!({"id": id, "type": "klacht.ingediend", "gemeente": "GM0150", "case": case,
        "at": format!("{date}T10:00:00+02:00"), "data": {"klacht_id": "K-1"}})
    .to_string()
}

/// Each deadline of the store as `case/deadline due provisional?`, sorted.
fn deadline_marks(daemon: &Daemon) -> Vec<String> {
    let (status, answer) = daemon.request("GET", "/v1/deadlines?limit=1000", Some(DEVENTER), None);
    assert_eq!(status, 200, "{answer}");
    let mut marks: Vec<String> = answer["deadlines"]
        .as_array()
        .expect("a list of deadlines")
        .iter()
        .map(|d| {
            format!(
                "{}/{} {} {}",
                d["case"].as_str().unwrap(),
                d["deadline"].as_str().unwrap(),
                d["due"].as_str().unwrap_or("-"),
                d["calendar"].as_str().unwrap_or("-")
            )
        })
        .collect();
    marks.sort();
    marks
}

fn metric(daemon: &Daemon, name: &str) -> String {
    let (_, text) = daemon.request("GET", "/metrics", Some(DEVENTER), None);
    let text = text.as_str().unwrap().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

/// The shipped holiday data covers 2028. Complaints in 2029 have provisional legal terms: the
/// API marks them, the metric counts them, the start-up log says how many and from when. A new
/// decision for 2029 (Friday 11 May, after Hemelvaartsdag) loaded by SIGHUP moves exactly the
/// legal term that ends on it and settles the rest; one taken back while the daemon is down is
/// caught at the next start.
#[test]
fn holiday_data_marks_provisional_terms_and_a_reload_moves_exactly_the_terms_on_a_new_day() {
    let daemon = Daemon::start();
    daemon.advance("2029-04-02T09:30:00+02:00");
    for (id, case, filed) in [
        ("h-1", "H-1", "2029-03-30"), // six weeks end on Friday 11 May 2029
        ("h-2", "H-2", "2029-03-23"), // on Friday 4 May 2029
        ("h-3", "H-3", "2029-03-31"), // on Saturday 12 May: Monday 14 May either way
    ] {
        assert_eq!(
            daemon
                .post_events(DEVENTER, &complaint_filed(id, case, filed))
                .0,
            200
        );
    }
    let before = deadline_marks(&daemon);
    let legal: Vec<&String> = before
        .iter()
        .filter(|m| m.contains("fatale_termijn"))
        .collect();
    assert_eq!(
        legal,
        [
            "H-1/fatale_termijn 2029-05-11 provisional",
            "H-2/fatale_termijn 2029-05-04 provisional",
            "H-3/fatale_termijn 2029-05-14 provisional",
        ]
    );
    assert!(
        before
            .iter()
            .filter(|m| !m.contains("fatale_termijn"))
            .all(|m| m.ends_with(" -")),
        "service norms are never provisional: {before:?}"
    );
    assert_eq!(metric(&daemon, "waakvlam_deadlines_provisional"), "3");
    let started = daemon
        .log()
        .into_iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("provisional deadlines"))
        })
        .expect("a start-up line about provisional deadlines");
    assert_eq!(started["provisional_from"], "2029-01-01");

    let file = daemon.dir.join("feestdagen.yaml");
    let shipped = std::fs::read_to_string(&file).unwrap();
    let decided = common::replace_once(&shipped, "covered_through: 2028", "covered_through: 2029")
        + "  - { date: 2029-05-11, reason: \"vrijdag na Hemelvaartsdag\", source: \"een besluit voor 2029\" }\n";
    std::fs::write(&file, &decided).unwrap();
    daemon.signal("HUP");
    common::daemon::wait_for(20, "the holiday reload", || {
        deadline_marks(&daemon).contains(&"H-1/fatale_termijn 2029-05-14 -".to_string())
    });
    let after = deadline_marks(&daemon);
    let changed: Vec<(&String, &String)> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.split(' ').nth(1) != a.split(' ').nth(1))
        .collect();
    assert_eq!(
        changed,
        [(&before[1], &after[1])],
        "only H-1's legal term moves: {before:?} -> {after:?}"
    );
    assert!(after.iter().all(|m| m.ends_with(" -")), "{after:?}");
    let moved: Vec<Value> = daemon
        .log()
        .into_iter()
        .filter(|l| l["message"] == "deadline recalculated")
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        (moved[0]["old_due"].as_str(), moved[0]["new_due"].as_str()),
        (Some("2029-05-11"), Some("2029-05-14"))
    );
    assert_eq!(metric(&daemon, "waakvlam_deadlines_provisional"), "0");

    // Taken back while the daemon is down: the start recalculates.
    let dir = daemon.stop();
    std::fs::write(dir.join("feestdagen.yaml"), &shipped).unwrap();
    let daemon = Daemon::start_in(dir);
    assert_eq!(deadline_marks(&daemon), before);
    assert_eq!(metric(&daemon, "waakvlam_deadlines_provisional"), "3");

    // `check --config` reads the same store beside the running daemon.
    let config = daemon.dir.join("waakvlam.yaml");
    let out = common::waakvlam(&["check", "--config", config.to_str().unwrap()], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("holiday data covers up to 2028: legal terms ending on 2029-01-01 or later are provisional"),
        "{text}"
    );
    assert!(
        text.contains("waakvlam.db: 3 open deadlines are provisional, the first due 2029-05-04"),
        "{text}"
    );
}

/// The shipped configuration with one line changed, in a directory of its own with the files
/// it names, for tests of what `run` refuses.
fn shipped_config_with(line: &str, instead: &str) -> common::TestDir {
    let dir = common::tempdir();
    let shipped = std::fs::read_to_string(common::root().join("config/waakvlam.yaml")).unwrap();
    assert!(
        shipped.contains(line),
        "the shipped configuration has {line:?}"
    );
    // Should the line be accepted, the daemon must not take the development port.
    let config = common::replace_once(
        &common::replace_once(&shipped, line, instead),
        "listen: 127.0.0.1:8080",
        "listen: 127.0.0.1:0",
    );
    std::fs::write(dir.join("waakvlam.yaml"), config).unwrap();
    std::fs::copy(
        common::root().join("config/feestdagen.yaml"),
        dir.join("feestdagen.yaml"),
    )
    .unwrap();
    dir
}

/// `waakvlam run --config <config>`, which must stop by itself within 30 s (a refused
/// configuration); a daemon that starts instead is killed and the test fails.
fn run_refused(config: &std::path::Path) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_waakvlam"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon started with {}", config.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A token with an empty gemeente list, in either spelling, would see every gemeente if it
/// were read as "no condition": the daemon refuses to start and names the line.
#[test]
fn a_token_without_gemeenten_is_refused_at_start() {
    let line = "    - { name: ijsselland, sha256: 647d28faf9bb449a24e6145d525de4092e41cc679d5c94c40ea2c09469da0330, gemeenten: [GM0150, GM0148] }";
    let shipped = std::fs::read_to_string(common::root().join("config/waakvlam.yaml")).unwrap();
    let row = shipped.lines().position(|l| l == line).unwrap() + 1;
    let flow = line.replace("[GM0150, GM0148]", "[]");
    let block = "    - name: ijsselland\n      sha256: 647d28faf9bb449a24e6145d525de4092e41cc679d5c94c40ea2c09469da0330\n      gemeenten:";
    for (instead, at) in [
        (
            flow.as_str(),
            format!("{row}:{}", flow.find("gemeenten").unwrap() + 1),
        ),
        (block, format!("{}:7", row + 2)),
    ] {
        let dir = shipped_config_with(line, instead);
        let (code, stderr) = run_refused(&dir.join("waakvlam.yaml"));
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "waakvlam.yaml:{at}: 'gemeenten' of a token is empty"
            )),
            "{stderr}"
        );
    }
}

/// A webhook or token name goes into logs and metric labels as it is: a quote or a line
/// break in it is refused at start.
#[test]
fn a_name_with_a_quote_or_a_line_break_is_refused() {
    let line = "- { name: zorgregio,";
    for name in [r#""zorg\"regio""#, r#""zorg\nregio""#] {
        let dir = shipped_config_with(line, &format!("- {{ name: {name},"));
        let (code, stderr) = run_refused(&dir.join("waakvlam.yaml"));
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains("the name of a token must be a plain identifier"),
            "{stderr}"
        );
    }
}

/// A request that writes for two gemeenten is audited once for each, and so is a read.
#[test]
fn a_write_for_two_gemeenten_is_audited_for_each() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let body = format!(
        "[{}, {}]",
        complaint("r-1", "C-1", "GM0150", "K-1"),
        complaint("r-2", "A-1", "GM0200", "K-2")
    );
    assert_eq!(daemon.post_events(REGION, &body).0, 200);
    let db = rusqlite::Connection::open(daemon.dir.join("data/waakvlam.db")).unwrap();
    let mut rows: Vec<(String, String, Option<String>)> = db
        .prepare("SELECT token, action, gemeente FROM audit WHERE action = 'events.write'")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("regio".into(), "events.write".into(), Some("GM0150".into())),
            ("regio".into(), "events.write".into(), Some("GM0200".into())),
        ]
    );
    assert_eq!(
        daemon.request("GET", "/v1/deadlines", Some(REGION), None).0,
        200
    );
    let reads: Vec<Option<String>> = db
        .prepare("SELECT gemeente FROM audit WHERE action = 'deadlines.read' ORDER BY gemeente")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(reads, [Some("GM0150".into()), Some("GM0200".into())]);
}

/// Fault injection: the stored events of one case are damaged while the daemon is down. The
/// case is never rebuilt from part of its events: it is out of service (its API answers say
/// so, its new events are refused, the metric counts it, the log names the row), and every
/// other case is served as before, its reminder included.
#[test]
fn a_case_with_damaged_events_is_out_of_service_and_the_others_go_on() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let body = format!(
        "[{}, {}]",
        complaint("d-1", "C-1", "GM0150", "K-1"),
        complaint("d-2", "C-2", "GM0150", "K-2")
    );
    assert_eq!(daemon.post_events(DEVENTER, &body).0, 200);
    let dir = daemon.stop();
    let db = rusqlite::Connection::open(dir.join("data/waakvlam.db")).unwrap();
    let damaged = db
        .execute(
            "UPDATE events SET data = 'not json' WHERE case_id = 'C-1'",
            [],
        )
        .unwrap();
    assert_eq!(damaged, 1);
    drop(db);

    let daemon = Daemon::start_in(dir);
    let (status, answer) = daemon.request("GET", "/v1/cases/C-1", Some(DEVENTER), None);
    assert_eq!(status, 503, "{answer}");
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains("case C-1 of GM0150")
            && message.contains("event d-1: its data is not JSON")
            && message.contains("out of service"),
        "{message}"
    );
    assert_eq!(
        daemon
            .request("GET", "/v1/cases/C-2", Some(DEVENTER), None)
            .0,
        200
    );

    // New events: the damaged case's is refused and says why; the other is taken.
    let body = format!(
        "[{}, {}]",
        complaint("d-3", "C-1", "GM0150", "K-3"),
        complaint("d-4", "C-2", "GM0150", "K-4")
    );
    let (status, answer) = daemon.post_events(DEVENTER, &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["status"], "refused");
    assert!(
        answer["results"][0]["problems"][0]
            .as_str()
            .unwrap()
            .contains("out of service"),
        "{answer}"
    );
    assert_eq!(answer["results"][1]["status"], "accepted");

    // The reminders of 23 April: the other case's go out; the damaged one waits.
    daemon.advance("2027-04-23T12:00:00+02:00");
    let reminders: Vec<String> = daemon
        .delivered()
        .iter()
        .filter(|n| n["kind"] == "reminder")
        .map(|n| n["case"].as_str().unwrap().to_string())
        .collect();
    assert!(!reminders.is_empty());
    assert!(reminders.iter().all(|c| c == "C-2"), "{reminders:?}");
    let (_, text) = daemon.request("GET", "/metrics", Some(DEVENTER), None);
    assert!(
        text.as_str()
            .unwrap()
            .contains("waakvlam_cases_out_of_service 1\n")
    );
    assert!(daemon.log().iter().any(|l| {
        l["message"] == "a case's stored events cannot be read; it is out of service"
            && l["case"] == "C-1"
            && l["rows"].as_str().is_some_and(|r| r.contains("event d-1"))
    }));
}

/// Every refusal is JSON that says what to change, the web framework's own included: a body
/// over the limit, a method a path does not take, a query that cannot be read, an unknown
/// filter, a status a list does not have, a limit out of range.
#[test]
fn every_refusal_is_json_and_says_what_to_change() {
    let daemon = Daemon::start();
    let huge = "x".repeat(waakvlam::api::MAX_BODY_BYTES + 1);
    let (status, answer) = daemon.post_events(DEVENTER, &huge);
    assert_eq!(status, 413);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("larger than 16 MiB")),
        "{answer}"
    );
    let (status, answer) = daemon.request("GET", "/v1/events", Some(DEVENTER), None);
    assert_eq!(status, 405);
    assert_eq!(
        answer["error"],
        "/v1/events does not take GET; /v1/openapi.json says what it takes"
    );
    for (query, message) in [
        ("limit=abc", "limit must be a whole number, not 'abc'"),
        (
            "limit=5000",
            "limit must be from 1 to 1000, not 5000; page with offset for more",
        ),
        (
            "limit=0",
            "limit must be from 1 to 1000, not 0; page with offset for more",
        ),
        (
            "status=bogus",
            "status must be one of open, overdue, met, cancelled, suspended, ended, missed, unknown, met_late, not 'bogus'",
        ),
        (
            "stauts=open",
            "unknown filter 'stauts' (did you mean 'status'?); the filters are gemeente, workflow, status, case, due_from, due_to, limit, offset",
        ),
        (
            "due_from=gisteren",
            "due_from must be a date YYYY-MM-DD, not 'gisteren'",
        ),
        ("limit=1&limit=2", "the filter 'limit' is given twice"),
    ] {
        let (status, answer) = daemon.request(
            "GET",
            &format!("/v1/deadlines?{query}"),
            Some(DEVENTER),
            None,
        );
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(message)),
            "{query}"
        );
    }
    let (status, answer) =
        daemon.request("GET", "/v1/notifications?status=open", Some(DEVENTER), None);
    assert_eq!(
        (status, answer["error"].as_str()),
        (
            400,
            Some("status must be one of pending, delivered, dead, not 'open'")
        )
    );
}

/// One daemon per store: a second `run` on the same database refuses to start and names the
/// first (its process id and address), so no notification can go out twice.
#[test]
fn a_second_daemon_on_the_same_store_refuses_to_start() {
    let daemon = Daemon::start();
    let (code, stderr) = run_refused(&daemon.dir.join("waakvlam.yaml"));
    assert_eq!(code, Some(2), "{stderr}");
    let first = daemon.base.trim_start_matches("http://");
    assert!(
        stderr.contains("is in use by another waakvlam (pid ")
            && stderr.contains(&format!("listening on {first}")),
        "{stderr}"
    );
    // The first goes on serving.
    assert_eq!(daemon.request("GET", "/healthz", None, None).0, 200);
    let dir = daemon.stop();
    // Once it is gone, the store is free.
    let daemon = Daemon::start_in(dir);
    assert_eq!(daemon.request("GET", "/healthz", None, None).0, 200);
}

/// A production daemon refuses the development tokens of the shipped configuration (their
/// text is in README.md), and says which.
#[test]
fn a_production_daemon_refuses_the_development_tokens() {
    let dir = shipped_config_with("  production: false", "  production: true");
    let (code, stderr) = run_refused(&dir.join("waakvlam.yaml"));
    assert_eq!(code, Some(2), "{stderr}");
    for name in ["deventer", "zorgregio", "ijsselland", "alleen-lezen"] {
        assert!(
            stderr.contains(&format!(
                "token '{name}' is a development token of the shipped configuration"
            )),
            "{stderr}"
        );
    }
}

/// A daemon on a virtual clock restarts where its clock stood, not at the system's time: a
/// test that restarts never moves time backwards without knowing it.
#[test]
fn a_virtual_clock_restarts_where_it_stood() {
    let daemon = Daemon::start();
    daemon.advance("2031-06-02T10:00:00+02:00");
    let dir = daemon.stop();
    let daemon = Daemon::start_in(dir);
    let (status, clock) = daemon.request("GET", "/v1/clock", Some(DEVENTER), None);
    assert_eq!(
        (status, clock["now"].as_str()),
        (200, Some("2031-06-02T10:00:00+02:00"))
    );
}

/// The audit log keeps what NEN 7513 asks: refused attempts too (no token, another
/// gemeente's case, a write with a read-only token), the case of every event written, never a
/// BSN (a case id in a URL that may be one is refused before anything is written); a privacy
/// officer's token reads it over the API, and `waakvlam audit` prints it for a period.
#[test]
fn the_audit_log_holds_attempts_cases_and_no_bsn() {
    use common::daemon::PRIVACY;
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("a-1", "C-1", "GM0150", "K-1"))
            .0,
        200
    );
    assert_eq!(daemon.request("GET", "/v1/cases/C-1", None, None).0, 401);
    assert_eq!(
        daemon
            .request("GET", "/v1/cases/C-1?gemeente=GM0200", Some(DEVENTER), None)
            .0,
        403
    );
    assert_eq!(
        daemon
            .post_events(READ_ONLY, &complaint("a-2", "C-2", "GM0150", "K-2"))
            .0,
        403
    );
    let (status, answer) = daemon.request("GET", "/v1/cases/111222333", Some(DEVENTER), None);
    assert_eq!(status, 400, "{answer}");

    // Not a privacy officer: refused, and that is written too.
    assert_eq!(
        daemon.request("GET", "/v1/audit", Some(DEVENTER), None).0,
        403
    );
    let read = |query: &str| {
        let (status, answer) =
            daemon.request("GET", &format!("/v1/audit{query}"), Some(PRIVACY), None);
        assert_eq!(status, 200, "{answer}");
        answer["audit"].as_array().unwrap().clone()
    };
    let lines = read("");
    let summary: Vec<(String, String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["token"].as_str().unwrap().to_string(),
                l["action"].as_str().unwrap().to_string(),
                l["case"].as_str().unwrap_or("-").to_string(),
                l["outcome"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })
        .collect();
    // Deventer's officer sees Deventer's lines only: not the attempt on Apeldoorn's case, nor
    // the request without a token (the operator's, counted per address and minute); the read
    // itself is written first.
    let expected = [
        ("deventer", "events.write", "C-1", "allowed"),
        ("alleen-lezen", "events.write", "-", "refused: 403"),
        ("deventer", "case.read", "-", "refused: 400"),
        ("deventer", "audit.read", "-", "refused: 403"),
        ("privacy", "audit.read", "-", "allowed"),
    ]
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()));
    assert_eq!(summary, expected);
    assert_eq!(read("?case=C-1").len(), 2);
    assert!(read("?from=2000-01-01&to=2000-12-31").is_empty());

    // The command line, beside the running daemon.
    let printed = common::operator_audit(&daemon.dir.join("waakvlam.yaml"));
    // Every line of every gemeente: the five above, the attempt on Apeldoorn's case, and the
    // officer's two further reads; the request without a token is written once its minute is
    // over (so it may or may not be there yet).
    let attributed = printed
        .iter()
        .filter(|l| l["action"] != waakvlam::guard::ACTION)
        .count();
    assert_eq!(attributed, 8);
    assert!(
        printed
            .iter()
            .any(|l| l["gemeente"] == "GM0200" && l["case"] == "C-1")
    );

    // No BSN anywhere: not in the log, the notifications log or the store.
    let bsn = "111222333";
    assert!(
        daemon.log().iter().all(|l| !l.to_string().contains(bsn)),
        "the log holds a BSN-like number"
    );
    let dir = daemon.stop();
    let notifications =
        std::fs::read_to_string(dir.join("data/notifications.jsonl")).unwrap_or_default();
    assert!(!notifications.contains(bsn));
    let bytes = std::fs::read(dir.join("data/waakvlam.db")).unwrap();
    let wal = std::fs::read(dir.join("data/waakvlam.db-wal")).unwrap_or_default();
    for file in [bytes, wal] {
        assert!(
            !file.windows(9).any(|w| w == b"111222333"),
            "a BSN-like number was stored"
        );
    }
}

/// The daemon's log: JSON lines with an RFC 3339 timestamp, level and target; at start one
/// line says the version, the configuration, the store, the workflows, the timers, the
/// plugins and the address.
#[test]
fn the_log_says_how_the_daemon_started() {
    let daemon = Daemon::start();
    let log = daemon.log();
    let started = log
        .iter()
        .find(|l| l["message"] == "started")
        .expect("a start line");
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["target"], "waakvlam::run");
    assert_eq!(started["workflows"], 11);
    assert!(started["version"].is_string() && started["store"].is_string());
    assert!(
        started["plugins"]
            .as_str()
            .is_some_and(|p| p.contains("GM0150 Deventer")),
        "{started}"
    );
    let address = daemon.base.trim_start_matches("http://");
    assert_eq!(started["listen"], address);
    assert!(
        started["timestamp"]
            .as_str()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{started}"
    );
}

/// A region keeps one shared complaint workflow and a variant for Deventer with a shorter
/// term: a complaint in each of the region token's two gemeenten starts exactly one of them.
#[test]
fn a_workflow_scoped_to_one_gemeente_and_the_shared_one_scoped_away_start_once_each() {
    let dir = common::tempdir();
    let workflows = own_workflows(&dir);
    let shared = std::fs::read_to_string(workflows.join("klachttermijnen.yaml")).unwrap();
    let variant = common::replace_once(
        &common::replace_once(
            &shared,
            "workflow: klachttermijnen",
            "workflow: klacht-deventer\ngemeenten: [GM0150]",
        ),
        "  in_behandeling: 14 days",
        "  in_behandeling: 7 days",
    );
    std::fs::write(workflows.join("klacht-deventer.yaml"), variant).unwrap();
    let shared = common::replace_once(
        &shared,
        "workflow: klachttermijnen",
        "workflow: klachttermijnen\ngemeenten: { not: [GM0150] }",
    );
    std::fs::write(workflows.join("klachttermijnen.yaml"), shared).unwrap();
    let shipped = common::root().join("workflows");
    let ours = workflows.clone();
    let daemon = Daemon::start_configured(dir, move |config| {
        common::replace_once(
            &config,
            &format!("workflows: {}", shipped.display()),
            &format!("workflows: {}", ours.display()),
        )
    });
    daemon.advance("2027-04-13T10:00:00+02:00");
    for (id, gemeente) in [("e-1", "GM0150"), ("e-2", "GM0200")] {
        let event = json!({"id": id, "type": "klacht.ingediend", "gemeente": gemeente, "case": "C-1",
            "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}});
        assert_eq!(daemon.post_events(REGION, &event.to_string()).0, 200);
    }
    let started = |gemeente: &str| {
        let (_, listed) = daemon.request(
            "GET",
            &format!("/v1/deadlines?gemeente={gemeente}&case=C-1"),
            Some(REGION),
            None,
        );
        let mut rows: Vec<(String, String, String)> = listed["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["workflow"].as_str().unwrap().to_string(),
                    d["deadline"].as_str().unwrap().to_string(),
                    d["due"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let row = |w: &str, d: &str, due: &str| (w.to_string(), d.to_string(), due.to_string());
    assert_eq!(
        started("GM0150"),
        [
            row("klacht-deventer", "afgerond", "2027-05-11"),
            row("klacht-deventer", "fatale_termijn", "2027-05-25"),
            row("klacht-deventer", "in_behandeling", "2027-04-20"),
        ]
    );
    assert_eq!(
        started("GM0200"),
        [
            row("klachttermijnen", "afgerond", "2027-05-11"),
            row("klachttermijnen", "fatale_termijn", "2027-05-25"),
            row("klachttermijnen", "in_behandeling", "2027-04-27"),
        ]
    );
    daemon.stop();
}

/// The rows of the tables a what-if must not touch, in a fixed order (the audit log is
/// written on purpose: a what-if reads case data). A read of the outbox first, so that the
/// log channel's deliveries written since the last commit are marked before the snapshot.
fn store_rows(daemon: &Daemon) -> Vec<String> {
    daemon.request("GET", "/v1/notifications?limit=1", Some(REGION), None);
    let connection = rusqlite::Connection::open_with_flags(
        daemon.dir.join("data/waakvlam.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut rows = Vec::new();
    for table in [
        "events",
        "notifications",
        "deliveries",
        "deadlines",
        "timers",
    ] {
        let mut statement = connection
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
            .unwrap();
        let columns = statement.column_count();
        let mut query = statement.query([]).unwrap();
        while let Some(row) = query.next().unwrap() {
            let values: Vec<String> = (0..columns)
                .map(|i| match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(text) => String::from_utf8_lossy(text).into(),
                    other => format!("{other:?}"),
                })
                .collect();
            rows.push(format!("{table}: {}", values.join(" | ")));
        }
    }
    rows
}

/// Fails with the rows that differ, not the whole store.
fn assert_unchanged(before: &[String], after: &[String]) {
    let gone: Vec<&String> = before.iter().filter(|r| !after.contains(r)).collect();
    let new: Vec<&String> = after.iter().filter(|r| !before.contains(r)).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "the store changed: gone {gone:#?}, new {new:#?}"
    );
}

#[test]
fn a_what_if_moves_exactly_the_deadlines_it_says_and_writes_nothing() {
    let daemon = Daemon::start();
    common::web::seed(&daemon, "2027-05-20T12:00:00+02:00");
    let before = store_rows(&daemon);
    // The legal term of complaints in Deventer one week shorter: C-1's complaint (filed 13
    // April, extended by 4 weeks) would end on 15 June instead of 22 June.
    let (status, answer) = daemon.request(
        "POST",
        "/v1/what-if",
        Some(REGION),
        Some(r#"{"gemeente": "GM0150", "params": {"klachttermijnen": {"fataal": "5 weeks"}}}"#),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["moved"],
        json!([{"gemeente": "GM0150", "case": "C-1", "workflow": "klachttermijnen",
            "instance": "klachttermijnen/GM0150/C-1/K-9", "deadline": "fatale_termijn", "occurrence": 0,
            "old_due": "2027-06-22", "new_due": "2027-06-15"}])
    );
    assert_eq!(answer["started"], json!([]));
    assert_eq!(answer["stopped"], json!([]));
    assert_eq!(
        answer["sent_at_once"],
        json!([]),
        "nothing of it is due yet"
    );
    assert_eq!(answer["warnings"], json!([]));
    assert_unchanged(&before, &store_rows(&daemon));
    // A term Deventer's plugin sets itself: nothing moves, and the answer says why.
    let (_, answer) = daemon.request(
        "POST",
        "/v1/what-if",
        Some(REGION),
        Some(r#"{"gemeente": "GM0150", "params": {"klachttermijnen": {"afgerond": "3 weeks"}}}"#),
    );
    assert_eq!(answer["moved"], json!([]));
    assert!(
        answer["warnings"][0].as_str().unwrap().starts_with(
            "gemeenten.GM0150.params.klachttermijnen.afgerond is not used: the plugin of GM0150"
        ),
        "{answer}"
    );

    // The shared workflow scoped away from Deventer: its open complaint there would stop.
    let shared = std::fs::read_to_string(common::root().join("workflows/klachttermijnen.yaml"))
        .unwrap()
        .replace(
            "workflow: klachttermijnen",
            "workflow: klachttermijnen\ngemeenten: [GM0200]",
        );
    let body = json!({"workflows": {"klachttermijnen.yaml": shared}}).to_string();
    let (status, answer) = daemon.request("POST", "/v1/what-if", Some(REGION), Some(&body));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["stopped"],
        json!([{"gemeente": "GM0150", "case": "C-1", "workflow": "klachttermijnen",
            "instance": "klachttermijnen/GM0150/C-1/K-9"}])
    );
    assert_eq!(answer["moved"], json!([]));

    // A change with problems computes nothing and says where each is.
    let broken = json!({"workflows": {"klachttermijnen.yaml": "workflow: klachttermijnen\ntitel: Klacht\n"}});
    let (status, answer) = daemon.request(
        "POST",
        "/v1/what-if",
        Some(REGION),
        Some(&broken.to_string()),
    );
    assert_eq!(status, 422, "{answer}");
    let titel = answer["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["message"] == "unknown key 'titel' in the workflow")
        .expect("the misspelt key");
    assert_eq!(titel["file"], "klachttermijnen.yaml");
    assert_eq!(
        (titel["line"].as_u64(), titel["column"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(titel["hint"], "did you mean 'title'?");
    let (status, answer) = daemon.request(
        "POST",
        "/v1/what-if",
        Some(REGION),
        Some(r#"{"gemeente": "GM0150", "params": {"klachttermijnen": {"afgerond": "3 weken", "opgelost": "1 week"}}}"#),
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["problems"][0]["message"],
        "params.klachttermijnen.opgelost: the workflow has no parameter 'opgelost'"
    );
    // Another gemeente's terms: not this token's to read.
    let (status, _) = daemon.request(
        "POST",
        "/v1/what-if",
        Some(DEVENTER),
        Some(r#"{"gemeente": "GM0200", "params": {"klachttermijnen": {"afgerond": "3 weeks"}}}"#),
    );
    assert_eq!(status, 403);
    assert_unchanged(&before, &store_rows(&daemon));

    // The same from the command line, beside the running daemon, on its live store.
    let changed = daemon.dir.join("changed");
    std::fs::create_dir_all(&changed).unwrap();
    for entry in std::fs::read_dir(common::root().join("workflows")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("  fataal: 6 weeks", "  fataal: 5 weeks");
        std::fs::write(changed.join(path.file_name().unwrap()), text).unwrap();
    }
    let config = daemon.dir.join("waakvlam.yaml");
    let output = common::waakvlam(
        &[
            "what-if",
            "--config",
            config.to_str().unwrap(),
            "--workflows",
            changed.to_str().unwrap(),
            "--at",
            "2027-05-20T12:00:00+02:00",
        ],
        None,
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert_eq!(
        printed,
        "3 casussen vergeleken op 2027-05-20T12:00:00+02:00
1 termijn verschuift:
  GM0150 C-1 klachttermijnen fatale_termijn: 22 juni 2027 -> 15 juni 2027
0 workflows starten:
0 workflows stoppen:
0 meldingen gaan direct uit:
"
    );
    assert_unchanged(&before, &store_rows(&daemon));
    daemon.stop();
}

/// The configuration's overview: Deventer's overdue deadlines, Mondays at 08:00.
fn with_overview(config: String) -> String {
    let overview = "overviews:\n  - name: te-laat-maandag\n    schedule: \"0 8 * * 1\"\n    gemeenten: [GM0150]\n    to: [teamleider]\n    select: { status: overdue }\n";
    common::replace_once(&config, "daemon:\n", &format!("{overview}daemon:\n"))
}

/// Easter Monday 2027 (29 March) is an Atw holiday: the Monday 08:00 overview goes out on
/// Tuesday at 08:00, once, and a daemon killed right after sends it no second time.
#[test]
fn an_overview_due_on_a_holiday_monday_goes_out_on_the_next_working_day_once() {
    let daemon = Daemon::start_configured(common::tempdir(), with_overview);
    daemon.advance("2027-03-01T10:00:00+01:00");
    let complaint = json!({"id": "e-1", "type": "klacht.ingediend", "gemeente": "GM0150",
        "case": "C-1", "at": "2027-03-01T10:15:00+01:00", "data": {"klacht_id": "K-9"}});
    assert_eq!(daemon.post_events(DEVENTER, &complaint.to_string()).0, 200);
    let overviews = |daemon: &Daemon| -> Vec<Value> {
        daemon
            .delivered()
            .into_iter()
            .filter(|n| n["kind"] == "overview")
            .collect()
    };
    // The complaint's first term (14 days) is overdue from 16 March.
    daemon.advance("2027-03-29T12:00:00+02:00");
    let before = overviews(&daemon);
    assert_eq!(
        before
            .iter()
            .map(|n| n["at"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["2027-03-22T08:00:00+01:00"]
    );
    daemon.advance("2027-03-30T09:00:00+02:00");
    let sent = overviews(&daemon);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let tuesday = &sent[1];
    assert_eq!(tuesday["at"], "2027-03-30T08:00:00+02:00");
    assert_eq!(tuesday["to"], json!(["teamleider"]));
    assert_eq!(tuesday["items"][0]["case"], "C-1");
    assert_eq!(tuesday["items"][0]["deadline"], "in_behandeling");
    assert_eq!(tuesday["items"][0]["status"], "overdue");
    let dir = daemon.kill_hard();
    let daemon = Daemon::start_configured(dir, with_overview);
    daemon.advance("2027-04-02T12:00:00+02:00");
    assert_eq!(overviews(&daemon).len(), 2, "once, a crash included");
    daemon.stop();
}

/// A store that a newer Waakvlam has migrated is refused by this binary, with a message that
/// says so, and left as it was.
#[test]
fn a_store_of_a_newer_version_is_refused_and_left_alone() {
    let daemon = Daemon::start();
    let dir = daemon.stop();
    let database = dir.join("data/waakvlam.db");
    let known: usize = rusqlite::Connection::open(&database)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    rusqlite::Connection::open(&database)
        .unwrap()
        .pragma_update(None, "user_version", known + 1)
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_waakvlam"))
        .args(["run", "--config"])
        .arg(dir.join("waakvlam.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "was written by a newer Waakvlam (its schema is version {}; this binary knows up to {known})",
            known + 1
        )),
        "{stderr}"
    );
    let after: usize = rusqlite::Connection::open(&database)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(after, known + 1);
}

/// `waakvlam backup` while the daemon takes events: the backup starts once the first batch is
/// stored and events keep coming until it is done, so the copy holds some of them and not all;
/// it is consistent (every case it holds has its deadlines) and starts. A copy taken once the
/// events are in, restored as README.md says (the file put in the store's place), shows the
/// same events, deadlines and notifications as the original.
#[test]
fn a_backup_taken_while_events_come_in_restores_to_the_same_state() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let config = daemon.dir.join("waakvlam.yaml");
    let backup = |to: &std::path::Path| {
        common::waakvlam(
            &[
                "backup",
                "--config",
                config.to_str().unwrap(),
                "--to",
                to.to_str().unwrap(),
            ],
            None,
        )
    };
    let copies = common::tempdir();
    let during = copies.join("during.db");
    let backed_up = std::sync::atomic::AtomicBool::new(false);
    let (first_stored, stored) = std::sync::mpsc::channel();
    let batches = std::thread::scope(|scope| {
        let posting = scope.spawn(|| {
            let mut batch = 0;
            // At least 40 batches, and on until the backup is done, then one more: events
            // come in before, while and after it.
            while batch < 40 || !backed_up.load(std::sync::atomic::Ordering::SeqCst) {
                let events: Vec<String> = (0..50)
                    .map(|i| {
                        complaint(
                            &format!("b{batch}-{i}"),
                            &format!("B-{batch}-{i}"),
                            "GM0150",
                            "K-1",
                        )
                    })
                    .collect();
                let (status, answer) =
                    daemon.post_events(DEVENTER, &format!("[{}]", events.join(",")));
                assert_eq!(status, 200, "{answer}");
                let _ = first_stored.send(());
                batch += 1;
            }
            batch
        });
        stored.recv().unwrap();
        let out = backup(&during);
        backed_up.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        posting.join().unwrap()
    });
    let posted = batches * 50;
    let copy = rusqlite::Connection::open(&during).unwrap();
    let count = |sql: &str| -> usize { copy.query_row(sql, [], |row| row.get(0)).unwrap() };
    let copied = count("SELECT count(*) FROM events");
    assert!(
        (50..posted).contains(&copied),
        "the copy holds {copied} of the {posted} events: it was taken while they came in"
    );
    assert_eq!(
        count("SELECT count(DISTINCT case_id) FROM deadlines"),
        copied,
        "every case in the copy has its deadlines: no batch is torn"
    );
    drop(copy);
    assert!(
        !backup(&during).status.success(),
        "an existing file is not overwritten"
    );
    daemon.advance("2027-04-24T10:00:00+02:00");
    let after = copies.join("after.db");
    let out = backup(&after);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(": {posted} events")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let view = |d: &Daemon| {
        let (_, deadlines) = d.request(
            "GET",
            "/v1/deadlines?limit=1000&case=B-7-7",
            Some(DEVENTER),
            None,
        );
        let (_, case) = d.request("GET", "/v1/cases/B-39-49", Some(DEVENTER), None);
        let (_, notifications) =
            d.request("GET", "/v1/notifications?limit=1000", Some(DEVENTER), None);
        (
            deadlines,
            case,
            notifications["notifications"].as_array().map(Vec::len),
        )
    };
    let original = view(&daemon);
    assert_eq!(original.2, Some(1000), "the reminders were recorded");
    daemon.stop();

    // Restore: the backup in the store's place of a daemon's directory.
    for (copy, all) in [(&after, true), (&during, false)] {
        let dir = common::tempdir();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::copy(copy, dir.join("data/waakvlam.db")).unwrap();
        let restored = Daemon::start_in(dir);
        if all {
            assert_eq!(view(&restored), original);
        } else {
            let (_, listed) =
                restored.request("GET", "/v1/deadlines?limit=1", Some(DEVENTER), None);
            assert!(listed["deadlines"].is_array(), "{listed}");
        }
        restored.stop();
    }
}

/// `waakvlam token new` makes a token and its configuration line; SIGHUP makes the running
/// daemon take it, and take it away again; a configuration with problems changes nothing.
#[test]
fn tokens_are_added_and_revoked_with_a_reload() {
    let daemon = Daemon::start();
    let out = common::waakvlam(
        &[
            "token",
            "new",
            "--name",
            "nieuw",
            "--gemeenten",
            "GM0150,GM0200",
            "--read-only",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let (token, line) = printed.trim_end().split_once('\n').unwrap();
    assert_eq!(token.len(), 64, "256 random bits in hexadecimal");
    assert!(
        line.starts_with("    - { name: nieuw, sha256: ")
            && line.ends_with(", gemeenten: [GM0150, GM0200], read_only: true }"),
        "{line}"
    );
    let ask = |token: &str| daemon.request("GET", "/v1/deadlines", Some(token), None).0;
    assert_eq!(ask(token), 401, "not known before the reload");
    let config = daemon.dir.join("waakvlam.yaml");
    let shipped = std::fs::read_to_string(&config).unwrap();
    let with = common::replace_once(&shipped, "  tokens:\n", &format!("  tokens:\n{line}\n"));
    std::fs::write(&config, &with).unwrap();
    daemon.signal("HUP");
    common::daemon::wait_for(10, "the new token", || ask(token) == 200);

    // A configuration with a problem: the running tokens stay, and the log says why.
    std::fs::write(
        &config,
        with.replace("  tokens:\n", "  tokens:\n    - { name: kapot }\n"),
    )
    .unwrap();
    daemon.signal("HUP");
    common::daemon::wait_for(10, "the refusal in the log", || {
        daemon
            .log()
            .iter()
            .any(|l| l["message"] == "token reload refused; the running tokens stay")
    });
    assert_eq!(ask(token), 200);

    // Revoked: its line removed, and a reload.
    std::fs::write(&config, &shipped).unwrap();
    daemon.signal("HUP");
    common::daemon::wait_for(10, "the token to be refused", || ask(token) == 401);
    assert_eq!(ask(DEVENTER), 200, "the other tokens stay");
    daemon.stop();
}

/// Regression (issue 26): a daemon of Deventer alone refused every later change of a workflow
/// ("workflow reload refused"), and the what-if refused. Now the scope warnings are logged at
/// start and at each reload, and a changed term is taken.
#[test]
fn a_daemon_of_one_gemeente_reloads_a_changed_term() {
    let (daemon, workflows) = on_own_workflows(|config| common::only_deventer(&config));
    let warned = |daemon: &Daemon| {
        daemon
            .log()
            .iter()
            .filter(|l| {
                l["message"] == "a workflow names a gemeente this configuration does not serve"
            })
            .count()
    };
    assert_eq!(warned(&daemon), 10, "{}", daemon.log_text());
    complaint_of_13_april(&daemon);
    assert_eq!(legal_term(&daemon), "2027-05-25");
    // The what-if of a changed file answers, with the warnings.
    let file = workflows.join("klachttermijnen.yaml");
    let text = common::replace_once(
        &std::fs::read_to_string(&file).unwrap(),
        "fataal: 6 weeks",
        "fataal: 5 weeks",
    );
    let body = serde_json::json!({ "workflows": { "klachttermijnen.yaml": text } }).to_string();
    let (status, answer) = daemon.request("POST", "/v1/what-if", Some(DEVENTER), Some(&body));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["moved"][0]["new_due"], "2027-05-18", "{answer}");
    // And the change itself is taken.
    std::fs::write(&file, text).unwrap();
    daemon.signal("HUP");
    common::daemon::wait_for(10, "the reload", || legal_term(&daemon) == "2027-05-18");
    assert!(
        !daemon
            .log()
            .iter()
            .any(|l| l["message"] == "workflow reload refused; the running definitions stay"),
        "{}",
        daemon.log_text()
    );
    assert_eq!(warned(&daemon), 20);
    daemon.stop();
}
