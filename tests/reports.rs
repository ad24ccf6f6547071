//! Verantwoording (issue 29) against the real daemon: when each deadline was met, so that a
//! deadline met on time is told from one met late.

mod common;

use common::complaint;
use common::daemon::{DEVENTER, Daemon};
use serde_json::{Value, json};

/// Three complaints filed on Tuesday 13 April 2027 (taken into treatment within 14 days: due
/// Tuesday 27 April): one taken on 20 April, one on 30 April (three days late), one never.
fn three_complaints(daemon: &Daemon) {
    daemon.advance("2027-04-13T10:00:00+02:00");
    let filed: Vec<String> = (1..=3)
        .map(|n| {
            complaint(
                &format!("k-{n}"),
                &format!("C-{n}"),
                "GM0150",
                &format!("K-{n}"),
            )
        })
        .collect();
    let (status, answer) = daemon.post_events(DEVENTER, &format!("[{}]", filed.join(",")));
    assert_eq!(status, 200, "{answer}");
    for (id, case, at) in [
        ("t-1", "C-1", "2027-04-20T11:00:00+02:00"),
        ("t-2", "C-2", "2027-04-30T11:00:00+02:00"),
    ] {
        // The clock first: an event from the daemon's future counts as happening now.
        daemon.advance(at);
        let taken = json!({"id": id, "type": "klacht.in_behandeling", "gemeente": "GM0150",
            "case": case, "at": at, "data": {"klacht_id": case.replace('C', "K")}});
        let (status, answer) = daemon.post_events(DEVENTER, &taken.to_string());
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
