//! Faithful to the seeds (issue 28): scenarios through `simulate` with the shipped
//! configuration and the four plugins, each naming the lines of the policy document
//! (`../shared/seeds/`) it holds the product to.

mod common;

use common::{event, simulate, summary};
use serde_json::Value;

fn lines(events: &[String]) -> String {
    events.join("\n") + "\n"
}

fn of_workflow<'a>(n: &'a [Value], workflow: &str) -> Vec<&'a Value> {
    n.iter().filter(|x| x["workflow"] == workflow).collect()
}

fn dues(n: &[&Value]) -> Vec<String> {
    let mut dues: Vec<String> = n
        .iter()
        .filter_map(|x| x["due"].as_str().map(str::to_string))
        .collect();
    dues.dedup();
    dues
}

/// 004 r. 1864-1866: "Alle afgesloten casussen blijven wij gedurende een periode van 5 jaar
/// ... (ongeveer één keer per half jaar contact) volgen". A Haaksbergen case closed while its
/// care ended early (not reden 31) gets the nazorg: every half year for five years from the
/// closing. In Deventer the same closing starts nothing.
#[test]
fn haaksbergen_follows_every_closed_case_for_five_years() {
    let closed_in = |gemeente: &str| {
        simulate(
            &lines(&[
                event(
                    "g-1",
                    "zorg.gestart",
                    gemeente,
                    "G-1",
                    "2027-01-11T10:00:00+01:00",
                    "{}",
                ),
                // Stopped early, by the young person (JZ588 code 03): no nazorg by the plan.
                event(
                    "g-2",
                    "zorg.beeindigd",
                    gemeente,
                    "G-1",
                    "2027-03-01T10:00:00+01:00",
                    r#"{"reden":"03"}"#,
                ),
                event(
                    "g-3",
                    "casus.gesloten",
                    gemeente,
                    "G-1",
                    "2027-03-15T10:00:00+01:00",
                    "{}",
                ),
            ]),
            "2033-12-31",
        )
    };
    let haaksbergen = closed_in("GM0158");
    let nazorg = of_workflow(&haaksbergen, "nazorg");
    let of_nazorg = dues(&nazorg);
    assert_eq!(
        (
            of_nazorg.first().unwrap().as_str(),
            of_nazorg.last().unwrap().as_str(),
            of_nazorg.len()
        ),
        ("2027-09-15", "2032-03-15", 10),
        "every half year from the closing, for five years: {:#?}",
        summary(&haaksbergen)
    );
    assert_eq!(
        nazorg[0]["to"],
        serde_json::json!(["regisseur"]),
        "the regisseur of the Noaberpoort (r. 72)"
    );
    assert!(of_workflow(&closed_in("GM0150"), "nazorg").is_empty());
}

/// 004 r. 1864-1866 again: a case whose care ended by the plan (reden 31) is in nazorg already;
/// closing it afterwards does not end the nazorg in Haaksbergen, and does elsewhere.
#[test]
fn closing_a_case_in_nazorg_ends_it_only_where_closed_cases_are_not_followed() {
    let ended_then_closed = |gemeente: &str| {
        simulate(
            &lines(&[
                event(
                    "n-1",
                    "zorg.beeindigd",
                    gemeente,
                    "N-1",
                    "2027-02-01T10:00:00+01:00",
                    r#"{"reden":"31"}"#,
                ),
                event(
                    "n-2",
                    "casus.gesloten",
                    gemeente,
                    "N-1",
                    "2027-02-15T10:00:00+01:00",
                    "{}",
                ),
            ]),
            "2033-12-31",
        )
    };
    let haaksbergen = dues(&of_workflow(&ended_then_closed("GM0158"), "nazorg"));
    assert_eq!(
        (
            haaksbergen.first().unwrap().as_str(),
            haaksbergen.last().unwrap().as_str()
        ),
        ("2027-08-01", "2032-02-01"),
        "one nazorg, from the end of care, for five years"
    );
    assert!(of_workflow(&ended_then_closed("GM0150"), "nazorg").is_empty());
}

/// 002 r. 1009-1015: "De hulp moet door kunnen gaan tot 23 jaar, maar kan natuurlijk eerder
/// stoppen als de jongere zelfstandig en zelfredzaam is. Als de jongere na vijf jaar praktische
/// begeleiding nog steeds hulp nodig heeft, moet een warme overdracht plaatsvinden naar
/// volwassenenzorg." The watch to 23 ends when care ends, is not ended by the handover at 18,
/// and is met by the handover to adult care.
#[test]
fn extended_youth_care_is_watched_to_23_until_care_ends() {
    let born = event(
        "v-1",
        "casus.aangemeld",
        "GM0200",
        "V-1",
        "2026-01-05T10:00:00+01:00",
        r#"{"geboortedatum":"2008-09-01"}"#,
    );
    let route = event(
        "v-2",
        "overdracht.perspectief_bepaald",
        "GM0200",
        "V-1",
        "2026-03-02T10:00:00+01:00",
        r#"{"route":"verlengde_jeugdhulp"}"#,
    );
    let at_18 = event(
        "v-3",
        "overdracht.afgerond",
        "GM0200",
        "V-1",
        "2026-09-01T10:00:00+02:00",
        "{}",
    );
    let watched = |more: &[String]| {
        let mut events = vec![born.clone(), route.clone(), at_18.clone()];
        events.extend_from_slice(more);
        simulate(&lines(&events), "2032-12-31")
            .into_iter()
            .filter(|x| x["workflow"] == "verlengde-jeugdhulp")
            .collect::<Vec<Value>>()
    };
    // The handover at 18 leaves the watch to 23 running: reminders a year and three months
    // before the 23rd birthday (1 September 2031), escalation after it.
    let running = watched(&[]);
    assert!(
        running.iter().any(|x| x["kind"] == "escalation"),
        "{:#?}",
        summary(&running)
    );
    assert_eq!(running[0]["due"], "2031-09-01", "{:#?}", summary(&running));
    // Care ends in 2028, the young person self-reliant: nothing more in 2030-2032, no
    // escalation at 23.
    let ended = watched(&[event(
        "v-4",
        "zorg.beeindigd",
        "GM0200",
        "V-1",
        "2028-04-03T10:00:00+02:00",
        r#"{"reden":"31"}"#,
    )]);
    assert!(ended.is_empty(), "{:#?}", summary(&ended));
    // The handover to adult care meets it.
    let handed_over = watched(&[event(
        "v-5",
        "overdracht.volwassenenzorg",
        "GM0200",
        "V-1",
        "2030-06-03T10:00:00+02:00",
        "{}",
    )]);
    assert!(
        handed_over
            .iter()
            .all(|x| x["at"].as_str().unwrap() < "2030-06-03"),
        "{:#?}",
        summary(&handed_over)
    );
}

/// 000 r. 1236-1245: "bij meerderjarigheid is de verblijfplaats van het kind of de jongere zelf
/// bepalend". A Deventer case whose young person lives in Dalfsen at 18: Dalfsen's
/// contactpersoon hears of it in Dalfsen, with the case id and the 18th birthday. A gemeente
/// this daemon does not serve hears nothing from it; nor does Deventer about itself.
#[test]
fn the_gemeente_responsible_after_18_hears_of_the_case() {
    let moving_to = |gemeente: &str| {
        simulate(
            &lines(&[
                event(
                    "w-1",
                    "casus.aangemeld",
                    "GM0150",
                    "W-1",
                    "2027-01-04T10:00:00+01:00",
                    r#"{"geboortedatum":"2010-05-20"}"#,
                ),
                event(
                    "w-2",
                    "zorg.gestart",
                    "GM0150",
                    "W-1",
                    "2027-01-04T10:00:00+01:00",
                    "{}",
                ),
                event(
                    "w-3",
                    "casus.woonplaats_vastgesteld",
                    "GM0150",
                    "W-1",
                    "2028-01-10T10:00:00+01:00",
                    &format!(r#"{{"gemeente_na_18":"{gemeente}"}}"#),
                ),
            ]),
            "2028-01-31",
        )
    };
    let to_dalfsen = moving_to("GM0148");
    let signals: Vec<&Value> = to_dalfsen
        .iter()
        .filter(|x| x["deadline"] == "woonplaats_na_18")
        .collect();
    assert_eq!(signals.len(), 1, "{:#?}", summary(&to_dalfsen));
    let signal = signals[0];
    assert_eq!(
        (
            &signal["gemeente"],
            &signal["case"],
            &signal["to"],
            &signal["kind"]
        ),
        (
            &serde_json::json!("GM0148"),
            &serde_json::json!("W-1"),
            &serde_json::json!(["contactpersoon_gemeente"]),
            &serde_json::json!("signal")
        )
    );
    assert_eq!(
        signal["message"],
        "Casus W-1 van Deventer: de jongere wordt op zaterdag 20 mei 2028 18 jaar en woont dan in Dalfsen. Vanaf die dag is uw gemeente verantwoordelijk. Neem voor die dag contact op met Deventer voor een warme overdracht."
    );
    for elsewhere in ["GM0363", "GM0150"] {
        assert!(
            moving_to(elsewhere)
                .iter()
                .all(|x| x["deadline"] != "woonplaats_na_18"),
            "{elsewhere}"
        );
    }
}

/// 004 r. 2160-2161: "Klachten over medewerkers die de Jeugdwet uitvoeren (medewerkers
/// Noaberpoort) worden door het afdelingshoofd van de betreffende medewerkers behandeld."
/// Haaksbergen's complaint reminders go to its afdelingshoofd, and the escalation names that
/// role as the owner; Deventer's still go to the klachtenfunctionaris.
#[test]
fn in_haaksbergen_the_afdelingshoofd_handles_complaints() {
    let complaint_in = |gemeente: &str| {
        simulate(
            &lines(&[event(
                "k-1",
                "klacht.ingediend",
                gemeente,
                "K-1",
                "2027-04-13T10:15:00+02:00",
                r#"{"klacht_id":"K-9"}"#,
            )]),
            "2027-05-31",
        )
    };
    let haaksbergen = complaint_in("GM0158");
    let first_reminder = haaksbergen
        .iter()
        .find(|x| x["kind"] == "reminder")
        .unwrap();
    assert_eq!(first_reminder["to"], serde_json::json!(["afdelingshoofd"]));
    let escalation = haaksbergen
        .iter()
        .find(|x| x["kind"] == "escalation" && x["to"] == serde_json::json!(["teamleider"]))
        .unwrap();
    assert!(
        escalation["message"]
            .as_str()
            .unwrap()
            .contains("Het is de taak van het afdelingshoofd van de betrokken medewerkers."),
        "{escalation}"
    );
    let deventer = complaint_in("GM0150");
    assert!(
        deventer
            .iter()
            .filter(|x| x["kind"] == "reminder")
            .all(|x| x["to"] == serde_json::json!(["klachtenfunctionaris"]))
    );
}

/// Who receives what (issue 28, point 5): each escalation level speaks to the one who reads
/// it. The regisseur, owner of the nazorg, is not told to address the regisseur; the regional
/// accountmanager is not told to speak to the professional today, but to find out why the
/// task stalls (003 r. 941: the accountmanager has it on the agenda with the GI).
#[test]
fn each_escalation_fits_the_one_who_reads_it() {
    let n = simulate(
        &lines(&[
            event(
                "e-1",
                "casus.aangemeld",
                "GM0200",
                "E-1",
                "2026-01-05T10:00:00+01:00",
                r#"{"geboortedatum":"2009-06-01"}"#,
            ),
            event(
                "e-2",
                "zorg.gestart",
                "GM0200",
                "E-1",
                "2026-01-05T10:00:00+01:00",
                "{}",
            ),
            event(
                "e-3",
                "zorg.beeindigd",
                "GM0158",
                "H-1",
                "2027-01-11T10:00:00+01:00",
                r#"{"reden":"31"}"#,
            ),
        ]),
        "2028-06-30",
    );
    let escalation = |workflow: &str, role: &str| -> String {
        n.iter()
            .find(|x| {
                x["kind"] == "escalation"
                    && x["workflow"] == workflow
                    && x["to"] == serde_json::json!([role])
            })
            .unwrap_or_else(|| panic!("no escalation of {workflow} to {role}: {:#?}", summary(&n)))
            ["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let to_regisseur = escalation("nazorg", "regisseur");
    assert!(
        to_regisseur.contains("Het is uw taak") && !to_regisseur.contains("Spreek die"),
        "{to_regisseur}"
    );
    let to_teamleider = escalation("nazorg", "teamleider");
    assert!(
        to_teamleider.contains("Het is de taak van de regisseur. Spreek die vandaag aan"),
        "{to_teamleider}"
    );
    let to_accountmanager = escalation("toekomstplan-16", "accountmanager");
    assert!(
        !to_accountmanager.contains("Spreek die")
            && to_accountmanager.contains("Ga vandaag na waarom het blijft liggen"),
        "{to_accountmanager}"
    );
}

/// Deventer belongs to the regio IJsselland (000 r. 44, 96): its escalations to the region go
/// to IJsselland's accountmanager, not to the Zorgregio of Apeldoorn (003).
#[test]
fn deventer_escalates_to_its_own_region() {
    let deventer =
        std::fs::read_to_string(common::root().join("config/plugins/deventer.yaml")).unwrap();
    let line = deventer
        .lines()
        .find(|l| l.trim_start().starts_with("accountmanager:"))
        .unwrap();
    assert_eq!(
        line.trim(),
        "accountmanager: [accountmanager@ijsselland.example]"
    );
}

/// A generated year through `waakvlam simulate` with the shipped configuration and plugins:
/// no message repeats a word ("verantwoordelijk is is"), names a role, workflow, field or
/// gemeente by its code (`contactpersoon_gemeente`, `GM0150`, `zorg.beeindigd`), or orders the
/// one who reads it to act "vandaag" twice (two messages glued together).
#[test]
fn a_generated_year_reads_as_dutch_for_the_one_who_gets_it() {
    let dir = common::tempdir();
    let events = dir.join("events.jsonl");
    let generated = common::waakvlam(&["generate", "--cases", "4000", "--seed", "7"], None);
    assert!(generated.status.success());
    std::fs::write(&events, &generated.stdout).unwrap();
    let out = common::waakvlam(
        &[
            "simulate",
            "--events",
            events.to_str().unwrap(),
            "--until",
            "2028-12-31",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let notifications: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(notifications.len() > 10_000, "{}", notifications.len());
    let kinds: std::collections::BTreeSet<&str> = notifications
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["escalation", "reminder", "signal"]
    );
    let code = |word: &str| {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        word.contains('_')
            || (word.starts_with("GM")
                && word[2..].chars().all(|c| c.is_ascii_digit())
                && word.len() == 6)
            || word.split_once('.').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.chars().all(char::is_lowercase)
                    && b.chars().all(|c| c.is_lowercase() || c == '_')
            })
    };
    let mut problems = Vec::new();
    for n in &notifications {
        let message = n["message"].as_str().unwrap();
        let words: Vec<String> = message
            .split_whitespace()
            .map(|w| w.to_lowercase())
            .collect();
        if let Some(pair) = words
            .windows(2)
            .find(|pair| pair[0] == pair[1] && pair[0].chars().all(char::is_alphabetic))
        {
            problems.push(format!("'{}' twice: {message}", pair[0]));
        }
        if let Some(raw) = message.split_whitespace().find(|w| code(w)) {
            problems.push(format!("a code ({raw}): {message}"));
        }
        if message.matches("vandaag").count() > 1 {
            problems.push(format!("two orders for today: {message}"));
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} messages stumble, for example:\n{}",
        problems.len(),
        problems
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
