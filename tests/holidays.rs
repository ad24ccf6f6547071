//! The days Koninklijk Besluiten add to the Atw holidays (`config/feestdagen.yaml`): every day
//! of the two most recent decisions extends a legal term that ends on it, and a legal term past
//! the years the data covers is marked provisional.

mod common;

use common::{event, root, shipped_engine, simulate};
use proptest::prelude::*;
use serde_json::Value;
use waakvlam::config::Config;
use waakvlam_core::calendar::{Calendar, Day, LeapDayBirthdays, TermRule};
use waakvlam_core::config::load_holidays;
use waakvlam_core::engine::{CalendarMark, Case};

/// The ten days of the two decisions (titles in DOMAIN.md, "Algemene termijnenwet").
const DECISIONS: [&str; 10] = [
    "2023-04-28",
    "2023-05-19",
    "2024-05-10",
    "2024-12-27",
    "2025-05-30",
    "2026-01-02",
    "2026-05-15",
    "2027-05-07",
    "2028-04-28",
    "2028-05-26",
];

fn day(text: &str) -> Day {
    text.parse().unwrap()
}

fn shipped_calendar() -> Calendar {
    Config::load(&root().join("config/waakvlam.yaml"))
        .unwrap()
        .calendar()
}

#[test]
fn the_holiday_file_holds_both_decisions_with_their_titles() {
    let holidays = load_holidays(&root().join("config/feestdagen.yaml")).unwrap();
    assert_eq!(holidays.covered_through, Some(2028));
    for date in DECISIONS {
        assert!(
            holidays.added.iter().any(|a| a.day == day(date)),
            "{date} is added"
        );
    }
    let text = std::fs::read_to_string(root().join("config/feestdagen.yaml")).unwrap();
    for (title, days) in [
        (
            "Besluit gelijkstelling van 28 april 2023, 19 mei 2023, 10 mei 2024, 27 december 2024 en 30 mei 2025 met een algemeen erkende feestdag",
            &DECISIONS[..5],
        ),
        (
            "Besluit gelijkstelling van 2 januari 2026, 15 mei 2026, 7 mei 2027, 28 april 2028 en 26 mei 2028 met een algemeen erkende feestdag",
            &DECISIONS[5..],
        ),
    ] {
        for date in days {
            let line = text
                .lines()
                .find(|l| l.contains(&format!("date: {date}")))
                .unwrap_or_else(|| panic!("a line for {date}"));
            assert!(line.contains(title), "{date} names its decision: {line}");
        }
    }
}

proptest! {
    /// A legal term of any length that nominally ends on one of the ten days runs on to the
    /// next working day; without the decisions it would have ended on the day itself (each is
    /// a Friday that no fixed holiday covers).
    #[test]
    fn every_decided_day_extends_a_legal_term_that_ends_on_it(index in 0..DECISIONS.len(), length in 7..400i32) {
        let shipped = shipped_calendar();
        let bare = Calendar::new(&[], LeapDayBirthdays::FirstOfMarch);
        let end = day(DECISIONS[index]);
        let from = end.add_days(-length);
        prop_assert_eq!(bare.term_end(TermRule::Termijnenwet, from, end), end);
        let extended = shipped.term_end(TermRule::Termijnenwet, from, end);
        prop_assert!(extended > end);
        prop_assert_eq!(extended, shipped.working_day_on_or_after(end));
        // A service norm is a plain date: no decision moves it.
        prop_assert_eq!(shipped.term_end(TermRule::Plain, from, end), end);
    }
}

/// The due date of the first notification about `deadline`.
fn due_of(notifications: &[Value], deadline: &str) -> String {
    notifications
        .iter()
        .find(|n| n["deadline"] == deadline)
        .unwrap_or_else(|| panic!("a notification for {deadline}"))["due"]
        .as_str()
        .unwrap()
        .to_string()
}

fn complaint_on(date: &str) -> String {
    event(
        "k-1",
        "klacht.ingediend",
        "GM0150",
        "C-1",
        &format!("{date}T10:00:00+01:00"),
        r#"{"klacht_id":"K-1"}"#,
    )
}

fn veilig_thuis_report_on(date: &str) -> String {
    event(
        "vt-1",
        "veiligthuis.melding",
        "GM0232",
        "V-1",
        &format!("{date}T12:00:00+02:00"),
        r#"{"melding_id":"M-1"}"#,
    )
}

/// The decision of 2023-2025: six weeks from Friday 29 March 2024 end on Friday 10 May, and
/// from Friday 15 November 2024 on Friday 27 December; both run to the Monday after.
#[test]
fn the_decision_of_2023_2025_extends_complaint_terms() {
    for (filed, due) in [("2024-03-29", "2024-05-13"), ("2024-11-15", "2024-12-30")] {
        let n = simulate(&complaint_on(filed), "2025-03-01");
        assert_eq!(due_of(&n, "fatale_termijn"), due, "complaint of {filed}");
    }
}

/// The decision of 2026-2028, with the cases of the issue: a Veilig Thuis report on Sunday 10
/// May 2026 (5 days end on Friday 15 May: Monday 18 May), complaint terms ending on 2 January
/// 2026, 7 May 2027 and 28 April 2028, and a Veilig Thuis term ending on Friday 26 May 2028.
#[test]
fn the_decision_of_2026_2028_extends_legal_terms() {
    let n = simulate(&veilig_thuis_report_on("2026-05-10"), "2026-06-30");
    assert_eq!(due_of(&n, "besluit_onderzoek"), "2026-05-18");
    let n = simulate(&veilig_thuis_report_on("2028-05-21"), "2028-06-30");
    assert_eq!(due_of(&n, "besluit_onderzoek"), "2028-05-29");
    for (filed, due) in [
        ("2025-11-21", "2026-01-05"),
        ("2027-03-26", "2027-05-10"),
        ("2028-03-17", "2028-05-01"),
    ] {
        let n = simulate(&complaint_on(filed), "2028-12-31");
        assert_eq!(due_of(&n, "fatale_termijn"), due, "complaint of {filed}");
    }
}

/// The marks of a complaint's deadlines, filed on `date`: (deadline, due, provisional).
fn marks(date: &str) -> Vec<(String, String, bool)> {
    let engine = shipped_engine();
    let event = waakvlam_core::event::validate(serde_json::from_str(&complaint_on(date)).unwrap())
        .expect("a valid event");
    let at = event.at;
    let mut case = Case::new("GM0150", "C-1");
    case.apply(&engine, event, at);
    case.deadlines(&engine, at)
        .into_iter()
        .map(|d| {
            (
                d.deadline,
                d.due.unwrap().to_string(),
                d.calendar == Some(CalendarMark::Provisional),
            )
        })
        .collect()
}

/// The data covers 2028: a legal term ending in 2029 is provisional, one ending in 2028 is not,
/// and a service norm never is.
#[test]
fn a_legal_term_past_the_data_is_provisional() {
    let late = marks("2028-11-20");
    let legal = late.iter().find(|m| m.0 == "fatale_termijn").unwrap();
    assert_eq!((legal.1.as_str(), legal.2), ("2029-01-02", true));
    assert!(
        late.iter()
            .filter(|m| m.0 != "fatale_termijn")
            .all(|m| !m.2),
        "service norms are plain dates: {late:?}"
    );
    let early = marks("2028-10-02");
    let legal = early.iter().find(|m| m.0 == "fatale_termijn").unwrap();
    assert_eq!((legal.1.as_str(), legal.2), ("2028-11-13", false));
}

/// The problems of a holiday file with this text.
fn problems_of(text: &str) -> Vec<String> {
    let dir = common::tempdir();
    let file = dir.join("feestdagen.yaml");
    std::fs::write(&file, text).unwrap();
    load_holidays(&file)
        .unwrap_err()
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn a_holiday_file_without_covered_through_is_refused_with_its_place() {
    let problems =
        problems_of("added:\n  - { date: 2029-05-11, reason: \"vrijdag na Hemelvaartsdag\" }\n");
    assert!(
        problems
            .iter()
            .any(|p| p.contains(":1:1:") && p.contains("covered_through")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains(":2:5:") && p.contains("source")),
        "{problems:?}"
    );
    let problems = problems_of(
        "covered_through: 2028\nadded:\n  - { date: 2029-05-11, reason: r, source: s }\n",
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains(":3:") && p.contains("after 'covered_through: 2028'")),
        "{problems:?}"
    );
}
