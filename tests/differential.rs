//! `simulate` prints what the daemon would send (DESIGN.md): the same events, through
//! `simulate` and through the daemon on a virtual clock moved day by day, give the very same
//! notification records. The events are the examples and a generated mix, with late arrivals
//! (a minute after their moment), duplicates (a sender's retry) and corrected birth dates.

mod common;

use common::daemon::{APELDOORN, DEVENTER, Daemon};
use common::{root, waakvlam};
use serde_json::{Value, json};
use waakvlam_core::calendar::{Day, format_timestamp, local_day, parse_timestamp, send_moment};

/// The examples and a generated mix, with corrections, in `at` order.
fn events() -> Vec<Value> {
    let mut events: Vec<Value> = std::fs::read_to_string(root().join("examples/events.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let generated = waakvlam(
        &["generate", "--cases", "40", "--year", "2027", "--seed", "3"],
        None,
    );
    let generated: Vec<Value> = String::from_utf8_lossy(&generated.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Every fifth case's birth date is corrected a month after it became known.
    let corrections: Vec<Value> = generated
        .iter()
        .filter(|e| e["type"] == "casus.aangemeld")
        .enumerate()
        .filter(|(i, _)| i % 5 == 0)
        .map(|(_, e)| {
            let at = parse_timestamp(e["at"].as_str().unwrap()).unwrap();
            let later = format_timestamp(send_moment(local_day(at).add_days(31), 14));
            let born: Day = e["data"]["geboortedatum"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            json!({"id": format!("{}-c", e["id"].as_str().unwrap()), "type": "casus.gewijzigd",
                "gemeente": e["gemeente"], "case": e["case"], "at": later,
                "data": {"geboortedatum": born.add_days(-40).to_string()}})
        })
        .collect();
    events.extend(generated);
    events.extend(corrections);
    // Two that raise a signal in the afternoon: a relapse in Haaksbergen's aftercare (a
    // workflow's signal) and care starting for a 15-year-old in Apeldoorn (its plugin's).
    events.push(
        json!({"id": "x-1", "type": "nazorg.signaal", "gemeente": "GM0158", "case": "H-7",
        "at": "2028-03-07T14:30:00+01:00", "data": {}}),
    );
    events.push(
        json!({"id": "x-2", "type": "casus.aangemeld", "gemeente": "GM0200", "case": "A-9",
        "at": "2027-02-01T15:00:00+01:00", "data": {"geboortedatum": "2011-09-01"}}),
    );
    events.push(
        json!({"id": "x-3", "type": "zorg.gestart", "gemeente": "GM0200", "case": "A-9",
        "at": "2027-02-03T15:00:00+01:00", "data": {}}),
    );
    events.sort_by_key(|e| parse_timestamp(e["at"].as_str().unwrap()).unwrap());
    events
}

const UNTIL: &str = "2028-06-30";

/// The development token of an event's gemeente.
fn token_of(event: &Value) -> &'static str {
    match event["gemeente"].as_str() {
        Some("GM0150") => DEVENTER,
        Some("GM0200") => APELDOORN,
        Some("GM0158") => "ontwikkel-haaksbergen",
        Some("GM0148") => "ontwikkel-dalfsen",
        other => panic!("no token for {other:?}"),
    }
}

fn by_id(records: Vec<Value>) -> Vec<Value> {
    let mut records = records;
    records.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    records
}

#[test]
fn simulate_and_the_daemon_send_the_same_records() {
    let events = events();
    let input: String = events.iter().map(|e| format!("{e}\n")).collect();
    let out = waakvlam(
        &["simulate", "--events", "-", "--until", UNTIL],
        Some(&input),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let simulated: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(simulated.len() > 100, "a mix worth comparing");

    let daemon = Daemon::start();
    let first = parse_timestamp(events[0]["at"].as_str().unwrap()).unwrap();
    let mut clock = send_moment(local_day(first), 0);
    daemon.advance(&format_timestamp(clock));
    // Day by day, as time passes for a running daemon.
    let advance_to = |clock: &mut jiff::Timestamp, to: jiff::Timestamp| {
        while local_day(*clock) < local_day(to) {
            *clock = send_moment(local_day(*clock).add_days(1), 0);
            daemon.advance(&format_timestamp(*clock));
        }
        if to > *clock {
            *clock = to;
            daemon.advance(&format_timestamp(to));
        }
    };
    // The events that raise a signal arrive a minute late, as in the report that a signal was
    // stamped with the moment the daemon took the event in. (What a late event makes overdue
    // goes out when the daemon learns of it, which `simulate`, knowing no arrival times,
    // cannot show: such events arrive on time here.)
    let signalling: Vec<&str> = simulated
        .iter()
        .filter(|n| n["kind"] == "signal")
        .map(|n| n["at"].as_str().unwrap())
        .collect();
    assert!(!signalling.is_empty(), "the mix raises signals");
    for (i, event) in events.iter().enumerate() {
        let at = parse_timestamp(event["at"].as_str().unwrap()).unwrap();
        let hour = format_timestamp(at)[11..13].parse::<u32>().unwrap();
        let raises_a_signal = signalling.contains(&format_timestamp(at).as_str());
        // A minute late, never around the send hour, where a minute decides whether what is
        // overdue goes out at once or the next morning.
        let arrives = if raises_a_signal && (10..20).contains(&hour) {
            at + jiff::SignedDuration::from_secs(60)
        } else {
            at
        };
        advance_to(&mut clock, arrives);
        let token = token_of(event);
        let (status, answer) = daemon.post_events(token, &event.to_string());
        assert_eq!(status, 200, "{event}: {answer}");
        if i % 7 == 0 {
            let (_, again) = daemon.post_events(token, &event.to_string());
            assert_eq!(again["results"][0]["status"], "duplicate");
        }
    }
    let end: Day = UNTIL.parse().unwrap();
    advance_to(&mut clock, send_moment(end.add_days(1), 0));
    let delivered = daemon.delivered();

    let (simulated, delivered) = (by_id(simulated), by_id(delivered));
    let differing: Vec<(&Value, &Value)> = simulated
        .iter()
        .zip(&delivered)
        .filter(|(s, d)| s != d)
        .take(3)
        .collect();
    assert!(
        differing.is_empty() && simulated.len() == delivered.len(),
        "{} simulated, {} delivered; first differences: {differing:#?}",
        simulated.len(),
        delivered.len()
    );
}
