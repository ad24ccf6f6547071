//! Every due date explains itself (issue 29, DESIGN.md) against the real daemon with the
//! shipped workflows, configuration and holiday data: a legal term moved by an Atw holiday
//! and one moved by a day a Koninklijk Besluit adds, in the API, on the case page and in the
//! calendar feed.

mod common;

use common::daemon::{DEVENTER, Daemon, REGION};
use common::web::Visitor;
use serde_json::{Value, json};

/// The shipped decision of 2026 that adds Friday 15 May 2026 (config/feestdagen.yaml).
const DECISION_2026: &str = "Besluit gelijkstelling van 2 januari 2026, 15 mei 2026, 7 mei 2027, 28 april 2028 en 26 mei 2028 met een algemeen erkende feestdag";

/// A Veilig Thuis report on Sunday 10 May 2026 (DOMAIN.md's example: five days end on Friday
/// 15 May, a day the decision adds, so the term runs to Monday 18 May), and a complaint on
/// Friday 20 November 2026 (DESIGN.md's: six weeks end on Nieuwjaarsdag 2027).
fn seeded() -> Daemon {
    let daemon = Daemon::start();
    daemon.advance("2026-05-10T10:00:00+02:00");
    let report = json!({"id": "vt-1", "type": "veiligthuis.melding", "gemeente": "GM0150",
        "case": "V-1", "at": "2026-05-10T09:30:00+02:00", "data": {"melding_id": "M-1"}});
    let (status, answer) = daemon.post_events(DEVENTER, &report.to_string());
    assert_eq!(status, 200, "{answer}");
    daemon.advance("2026-11-20T10:00:00+01:00");
    let complaint = json!({"id": "k-1", "type": "klacht.ingediend", "gemeente": "GM0150",
        "case": "K-1", "at": "2026-11-20T09:30:00+01:00", "data": {"klacht_id": "KL-1"}});
    let (status, answer) = daemon.post_events(DEVENTER, &complaint.to_string());
    assert_eq!(status, 200, "{answer}");
    daemon
}

/// The explanation of one deadline of a case, from `GET /v1/cases/{case}`.
fn explanation(daemon: &Daemon, case: &str, deadline: &str) -> (Value, Vec<String>) {
    let (status, answer) =
        daemon.request("GET", &format!("/v1/cases/{case}"), Some(DEVENTER), None);
    assert_eq!(status, 200, "{answer}");
    let found = answer["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["deadline"] == deadline)
        .unwrap_or_else(|| panic!("{deadline} in {answer}"))
        .clone();
    let lines = found["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    (found, lines)
}

#[test]
fn an_atw_holiday_and_a_koninklijk_besluit_day_are_named_in_the_api() {
    let daemon = seeded();
    let (row, lines) = explanation(&daemon, "V-1", "besluit_onderzoek");
    assert_eq!(row["due"], "2026-05-18");
    assert_eq!(
        lines,
        [
            "Melding bij Veilig Thuis ontvangen op zondag 10 mei 2026.".to_string(),
            "Termijn 5 dagen («besluit»): tot en met vrijdag 15 mei 2026.".to_string(),
            "Deze termijn staat in de workflow «Melding Veilig Thuis».".to_string(),
            format!(
                "Vrijdag 15 mei 2026 is bij Koninklijk Besluit gelijkgesteld aan een feestdag (vrijdag na Hemelvaartsdag; {DECISION_2026}): volgens de Algemene termijnenwet (art. 1 lid 1 en art. 3 lid 3) loopt de termijn door tot maandag 18 mei 2026."
            ),
        ]
    );
    let (row, lines) = explanation(&daemon, "K-1", "fatale_termijn");
    assert_eq!(row["due"], "2027-01-04");
    assert_eq!(
        lines,
        [
            "Klacht ingediend op vrijdag 20 november 2026.",
            "Termijn 6 weken («fataal»): tot en met vrijdag 1 januari 2027.",
            "Deze termijn staat in de workflow «Klachtbehandeling jeugdhulp».",
            "Vrijdag 1 januari 2027 is Nieuwjaarsdag: volgens de Algemene termijnenwet (art. 1 lid 1) loopt de termijn door tot maandag 4 januari 2027.",
        ]
    );
    // README's example is this explanation.
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let example = readme
        .split("<!-- explanation-example -->\n```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README's explanation example");
    assert_eq!(serde_json::from_str::<Vec<String>>(example).unwrap(), lines);
    // A service norm on the same case is a plain date: nothing about the Atw.
    let (row, lines) = explanation(&daemon, "K-1", "in_behandeling");
    assert_eq!(row["due"], "2026-12-04");
    assert_eq!(lines.len(), 3, "{lines:?}");
}

#[test]
fn the_case_page_and_the_calendar_feed_show_the_derivation() {
    let daemon = seeded();
    let mut visitor = Visitor::signed_in(&daemon, DEVENTER);
    let page = visitor.get("/casus/GM0150/V-1");
    assert_eq!(page.status, 200, "{}", page.body);
    // A disclosure that works without JavaScript, under the deadline's date.
    let details = page
        .body
        .find("<details class=\"berekening\"><summary>Zo is deze datum berekend</summary>")
        .expect("a disclosure with the derivation");
    let shown = &page.body[details..];
    assert!(
        shown.contains("<li>Termijn 5 dagen («besluit»): tot en met vrijdag 15 mei 2026.</li>"),
        "{shown}"
    );
    assert!(shown.contains("loopt de termijn door tot maandag 18 mei 2026.</li>"));

    let mut region = Visitor::signed_in(&daemon, REGION);
    let csrf = region.csrf();
    let made = region.post(
        "/agenda",
        &[
            ("csrf", &csrf),
            ("naam", "Veilig Thuis Deventer"),
            ("gemeente", "GM0150"),
            ("rol", "veilig_thuis"),
            ("rol", "klachtenfunctionaris"),
        ],
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let marker = "readonly value=\"";
    let start = made.body.find(marker).expect("the feed's address") + marker.len();
    let address = &made.body[start..start + made.body[start..].find('"').unwrap()];
    let path = &address[address.find("/agenda/").unwrap()..];
    let feed = Visitor::new(&daemon).get(path);
    assert_eq!(feed.status, 200);
    let unfolded = icalendar::parser::unfold(&feed.body);
    let calendar = icalendar::parser::read_calendar(&unfolded).expect("valid iCalendar");
    let descriptions: Vec<String> = calendar
        .components
        .iter()
        .flat_map(|c| &c.properties)
        .filter(|p| p.name == "DESCRIPTION")
        .map(|p| p.val.to_string())
        .collect();
    let nieuwjaar = descriptions
        .iter()
        .find(|d| d.contains("Nieuwjaarsdag"))
        .unwrap_or_else(|| panic!("{descriptions:#?}"));
    assert!(
        nieuwjaar.contains(
            "Zo is deze datum berekend:\nKlacht ingediend op vrijdag 20 november 2026.\nTermijn 6 weken («fataal»)"
        ),
        "{nieuwjaar}"
    );
}
