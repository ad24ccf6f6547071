//! Scenario tests of the six shipped workflows (every row of DESIGN.md's table), run through
//! the same engine as `simulate` on virtual time: holidays, daylight saving, 29 February, late
//! and duplicate events, corrections and cancellation.

mod common;

use common::{engine_with_config, event, simulate, simulate_with, summary};
use serde_json::Value;

fn lines(events: &[String]) -> String {
    events.join("\n")
}

fn of(notifications: &[Value], deadline: &str) -> Vec<String> {
    let wanted: Vec<Value> = notifications
        .iter()
        .filter(|n| n["deadline"] == deadline)
        .cloned()
        .collect();
    summary(&wanted)
}

// ---- klachttermijnen -------------------------------------------------------------------------

fn complaint(at: &str) -> String {
    event(
        "k-1",
        "klacht.ingediend",
        "GM0150",
        "C-1",
        at,
        r#"{"klacht_id":"K-9"}"#,
    )
}

/// 14 days, 4 weeks and 6 weeks (Atw) from Tuesday 13 April 2027, with nothing done: the
/// in_behandeling term ends on Koningsdag (a service norm is not moved); its second escalation
/// would fall on Bevrijdingsdag, then Hemelvaartsdag, then Friday 7 May (a day the Koninklijk
/// Besluit of 2026-2028 adds), and goes out on Monday 10 May. The weekly repeats stop at
/// level 4 (`max_level`), whose message says it is the last.
#[test]
fn klachttermijnen_when_nothing_happens() {
    let n = simulate(&complaint("2027-04-13T10:15:00+02:00"), "2027-05-26");
    assert_eq!(
        of(&n, "in_behandeling"),
        [
            "2027-04-23T09:00:00+02:00 reminder 0 klachttermijnen/in_behandeling due 2027-04-27 to klachtenfunctionaris",
            "2027-04-28T09:00:00+02:00 escalation 1 klachttermijnen/in_behandeling due 2027-04-27 to teamleider",
            "2027-05-10T09:00:00+02:00 escalation 2 klachttermijnen/in_behandeling due 2027-04-27 to contactpersoon_gemeente",
            "2027-05-12T09:00:00+02:00 escalation 3 klachttermijnen/in_behandeling due 2027-04-27 to contactpersoon_gemeente",
            "2027-05-19T09:00:00+02:00 escalation 4 klachttermijnen/in_behandeling due 2027-04-27 to contactpersoon_gemeente",
        ]
    );
    let last = n
        .iter()
        .rfind(|n| n["deadline"] == "in_behandeling")
        .unwrap();
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .ends_with("Waakvlam stuurt over deze termijn geen berichten meer."),
        "{last}"
    );
    assert_eq!(
        of(&n, "afgerond")[..3],
        [
            // Both reminders (1 week and 4 days before) fall back to Tuesday 4 May: 5, 6 and
            // 7 May are free. One goes: two on one morning would say the same thing twice.
            "2027-05-04T09:00:00+02:00 reminder 0 klachttermijnen/afgerond due 2027-05-11 to klachtenfunctionaris",
            "2027-05-12T09:00:00+02:00 escalation 1 klachttermijnen/afgerond due 2027-05-11 to teamleider",
            "2027-05-19T09:00:00+02:00 escalation 2 klachttermijnen/afgerond due 2027-05-11 to contactpersoon_gemeente",
        ]
    );
    assert_eq!(
        of(&n, "fatale_termijn"),
        [
            "2027-05-18T09:00:00+02:00 reminder 0 klachttermijnen/fatale_termijn due 2027-05-25 to klachtenfunctionaris",
            "2027-05-21T09:00:00+02:00 reminder 0 klachttermijnen/fatale_termijn due 2027-05-25 to klachtenfunctionaris",
            "2027-05-26T09:00:00+02:00 escalation 1 klachttermijnen/fatale_termijn due 2027-05-25 to teamleider,contactpersoon_gemeente",
        ]
    );
    let first = &n[0];
    assert_eq!(first["instance"], "klachttermijnen/GM0150/C-1/K-9");
    assert_eq!(
        first["message"],
        "Casus C-1: Klacht in behandeling nemen. Uiterlijk dinsdag 27 april 2027, nog 4 dagen."
    );
}

/// A complaint filed on Saturday 3 April 2027: six weeks end on Saturday 15 May; the Atw moves
/// the legal term past Sunday and Tweede Pinksterdag to Tuesday 18 May.
#[test]
fn klachttermijnen_fatale_termijn_follows_the_termijnenwet() {
    let n = simulate(&complaint("2027-04-03T11:00:00+02:00"), "2027-05-19");
    assert_eq!(
        of(&n, "fatale_termijn").last().unwrap(),
        "2027-05-19T09:00:00+02:00 escalation 1 klachttermijnen/fatale_termijn due 2027-05-18 to teamleider,contactpersoon_gemeente"
    );
}

/// `klacht.verdaagd` adds 4 weeks once: a second postponement changes nothing.
#[test]
fn klachttermijnen_verdaging_counts_once() {
    let events = lines(&[
        complaint("2027-04-13T10:15:00+02:00"),
        event(
            "k-2",
            "klacht.in_behandeling",
            "GM0150",
            "C-1",
            "2027-04-20T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
        event(
            "k-3",
            "klacht.verdaagd",
            "GM0150",
            "C-1",
            "2027-05-10T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
        event(
            "k-4",
            "klacht.verdaagd",
            "GM0150",
            "C-1",
            "2027-05-20T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
    ]);
    let n = simulate(&events, "2027-06-23");
    assert_eq!(
        of(&n, "in_behandeling"),
        Vec::<String>::new(),
        "met before its reminder"
    );
    assert_eq!(
        of(&n, "fatale_termijn"),
        [
            "2027-06-15T09:00:00+02:00 reminder 0 klachttermijnen/fatale_termijn due 2027-06-22 to klachtenfunctionaris",
            "2027-06-18T09:00:00+02:00 reminder 0 klachttermijnen/fatale_termijn due 2027-06-22 to klachtenfunctionaris",
            "2027-06-23T09:00:00+02:00 escalation 1 klachttermijnen/fatale_termijn due 2027-06-22 to teamleider,contactpersoon_gemeente",
        ]
    );
    assert!(
        n.iter()
            .find(|x| x["deadline"] == "fatale_termijn" && x["kind"] == "escalation")
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .starts_with(
                "De wettelijke termijn voor klacht K-9 van casus C-1 liep af op dinsdag 22 juni 2027. Neem vandaag contact op met de klager."
            )
    );
}

/// A withdrawn complaint ends everything; a finished one too.
#[test]
fn klachttermijnen_ends_on_withdrawal_and_completion() {
    let withdrawn = lines(&[
        complaint("2027-04-13T10:15:00+02:00"),
        event(
            "k-2",
            "klacht.ingetrokken",
            "GM0150",
            "C-1",
            "2027-04-20T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
    ]);
    assert_eq!(simulate(&withdrawn, "2027-12-31"), Vec::<Value>::new());
    let finished = lines(&[
        complaint("2027-04-13T10:15:00+02:00"),
        event(
            "k-2",
            "klacht.afgerond",
            "GM0150",
            "C-1",
            "2027-04-22T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
    ]);
    assert_eq!(simulate(&finished, "2027-12-31"), Vec::<Value>::new());
}

/// One instance per complaint: events of one complaint leave the other alone.
#[test]
fn klachttermijnen_one_instance_per_complaint() {
    let events = lines(&[
        complaint("2027-04-13T10:15:00+02:00"),
        event(
            "k-2",
            "klacht.ingediend",
            "GM0150",
            "C-1",
            "2027-04-13T11:00:00+02:00",
            r#"{"klacht_id":"K-10"}"#,
        ),
        event(
            "k-3",
            "klacht.afgerond",
            "GM0150",
            "C-1",
            "2027-04-14T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
    ]);
    let n = simulate(&events, "2027-04-23");
    let instances: Vec<&str> = n.iter().map(|x| x["instance"].as_str().unwrap()).collect();
    assert_eq!(instances, ["klachttermijnen/GM0150/C-1/K-10"]);
}

// ---- veilig-thuis ----------------------------------------------------------------------------

/// Reported on Thursday 25 March 2027: five days end on Tuesday 30 March, but Goede Vrijdag,
/// the weekend and Tweede Paasdag leave one working day in the term; Atw art. 2 extends it to
/// Wednesday 31 March. Ten weeks end on Thursday 3 June.
#[test]
fn veilig_thuis_terms_follow_the_termijnenwet() {
    let events = event(
        "v-1",
        "veiligthuis.melding",
        "GM0148",
        "D-5",
        "2027-03-25T08:30:00+01:00",
        r#"{"melding_id":"VT-2"}"#,
    );
    let n = simulate(&events, "2027-06-04");
    assert_eq!(
        of(&n, "besluit_onderzoek")[..2],
        [
            "2027-03-25T09:00:00+01:00 reminder 0 veilig-thuis/besluit_onderzoek due 2027-03-31 to veilig_thuis",
            "2027-04-01T09:00:00+02:00 escalation 1 veilig-thuis/besluit_onderzoek due 2027-03-31 to teamleider",
        ]
    );
    assert_eq!(
        of(&n, "beoordeling"),
        [
            "2027-05-20T09:00:00+02:00 reminder 0 veilig-thuis/beoordeling due 2027-06-03 to veilig_thuis",
            "2027-05-31T09:00:00+02:00 reminder 0 veilig-thuis/beoordeling due 2027-06-03 to veilig_thuis",
            "2027-06-04T09:00:00+02:00 escalation 1 veilig-thuis/beoordeling due 2027-06-03 to teamleider",
        ]
    );
}

/// A reminder that would go out before the report was made is not sent.
#[test]
fn veilig_thuis_no_reminder_before_the_report() {
    let events = lines(&[
        event(
            "v-1",
            "veiligthuis.melding",
            "GM0148",
            "D-5",
            "2027-03-25T16:30:00+01:00",
            r#"{"melding_id":"VT-2"}"#,
        ),
        event(
            "v-2",
            "veiligthuis.besluit_onderzoek",
            "GM0148",
            "D-5",
            "2027-03-30T10:00:00+02:00",
            r#"{"melding_id":"VT-2"}"#,
        ),
        event(
            "v-3",
            "veiligthuis.beoordeeld",
            "GM0148",
            "D-5",
            "2027-04-30T10:00:00+02:00",
            r#"{"melding_id":"VT-2"}"#,
        ),
    ]);
    assert_eq!(simulate(&events, "2027-12-31"), Vec::<Value>::new());
}

// ---- bezwaar ---------------------------------------------------------------------------------

fn objection(bekendgemaakt: &str, adviescommissie: bool) -> String {
    event(
        "b-1",
        "bezwaar.ingediend",
        "GM0150",
        "C-2",
        "2027-04-02T09:00:00+02:00",
        &format!(
            r#"{{"bezwaar_id":"B-4","bekendgemaakt":"{bekendgemaakt}","adviescommissie":{adviescommissie}}}"#
        ),
    )
}

fn due_of(n: &[Value], deadline: &str) -> Vec<String> {
    let mut dues: Vec<String> = n
        .iter()
        .filter(|x| x["deadline"] == deadline)
        .map(|x| x["due"].as_str().unwrap().to_string())
        .collect();
    dues.dedup();
    dues
}

/// Six weeks after the objection period, which ends six weeks after publication: the end of
/// the objection period itself follows the Atw (27 April 2027 is Koningsdag).
#[test]
fn bezwaar_counts_from_the_end_of_the_objection_period() {
    assert_eq!(
        due_of(
            &simulate(&objection("2027-03-15", false), "2027-06-30"),
            "beslissing"
        ),
        ["2027-06-07"]
    );
    assert_eq!(
        due_of(
            &simulate(&objection("2027-03-16", false), "2027-06-30"),
            "beslissing"
        ),
        ["2027-06-09"]
    );
}

/// With an advisory committee: twelve weeks; `verdaagd` adds six weeks once.
#[test]
fn bezwaar_with_adviescommissie_and_verdaging() {
    assert_eq!(
        due_of(
            &simulate(&objection("2027-03-01", true), "2027-07-06"),
            "beslissing"
        ),
        ["2027-07-05"]
    );
    let events = lines(&[
        objection("2027-03-01", true),
        event(
            "b-2",
            "bezwaar.verdaagd",
            "GM0150",
            "C-2",
            "2027-06-01T09:00:00+02:00",
            r#"{"bezwaar_id":"B-4"}"#,
        ),
        event(
            "b-3",
            "bezwaar.verdaagd",
            "GM0150",
            "C-2",
            "2027-06-02T09:00:00+02:00",
            r#"{"bezwaar_id":"B-4"}"#,
        ),
    ]);
    assert_eq!(
        due_of(&simulate(&events, "2027-08-17"), "beslissing"),
        ["2027-08-16"]
    );
}

/// The clock stops from `verzuim` to `hersteld`: no reminders while it stands still, and the
/// due date moves by the 14 days it stood.
#[test]
fn bezwaar_is_suspended_while_a_defect_is_repaired() {
    let events = lines(&[
        objection("2027-03-01", false),
        event(
            "b-2",
            "bezwaar.verzuim",
            "GM0150",
            "C-2",
            "2027-04-20T09:00:00+02:00",
            r#"{"bezwaar_id":"B-4"}"#,
        ),
        event(
            "b-3",
            "bezwaar.hersteld",
            "GM0150",
            "C-2",
            "2027-05-04T09:00:00+02:00",
            r#"{"bezwaar_id":"B-4"}"#,
        ),
    ]);
    let n = simulate(&events, "2027-06-08");
    assert_eq!(
        of(&n, "beslissing"),
        [
            "2027-05-24T09:00:00+02:00 reminder 0 bezwaar/beslissing due 2027-06-07 to behandelaar",
            "2027-06-04T09:00:00+02:00 reminder 0 bezwaar/beslissing due 2027-06-07 to behandelaar",
            "2027-06-08T09:00:00+02:00 escalation 1 bezwaar/beslissing due 2027-06-07 to teamleider",
        ]
    );
    // Still suspended: nothing at all.
    let open = lines(&[
        objection("2027-03-01", false),
        event(
            "b-2",
            "bezwaar.verzuim",
            "GM0150",
            "C-2",
            "2027-04-20T09:00:00+02:00",
            r#"{"bezwaar_id":"B-4"}"#,
        ),
    ]);
    assert_eq!(simulate(&open, "2027-12-31"), Vec::<Value>::new());
}

// ---- toekomstplan-16 -------------------------------------------------------------------------

fn case_known(case: &str, gemeente: &str, birth: &str, at: &str) -> String {
    event(
        &format!("{case}-a"),
        "casus.aangemeld",
        gemeente,
        case,
        at,
        &format!(r#"{{"geboortedatum":"{birth}"}}"#),
    )
}

fn care_starts(case: &str, gemeente: &str, at: &str) -> String {
    event(
        &format!("{case}-z{at}"),
        "zorg.gestart",
        gemeente,
        case,
        at,
        "{}",
    )
}

/// In care on the 16th birthday: three months to make the plan, a reminder a month and a week
/// before, then the team leader and every two weeks the Zorgregio's account manager.
#[test]
fn toekomstplan_on_the_16th_birthday_in_care() {
    let events = lines(&[
        case_known("T-1", "GM0150", "2011-03-10", "2027-01-04T09:00:00+01:00"),
        care_starts("T-1", "GM0150", "2027-01-04T10:00:00+01:00"),
    ]);
    let n = simulate(&events, "2027-06-26");
    assert_eq!(
        of(&n, "toekomstplan"),
        [
            "2027-05-10T09:00:00+02:00 reminder 0 toekomstplan-16/toekomstplan due 2027-06-10 to professional",
            "2027-06-03T09:00:00+02:00 reminder 0 toekomstplan-16/toekomstplan due 2027-06-10 to professional",
            "2027-06-11T09:00:00+02:00 escalation 1 toekomstplan-16/toekomstplan due 2027-06-10 to teamleider",
            "2027-06-25T09:00:00+02:00 escalation 2 toekomstplan-16/toekomstplan due 2027-06-10 to accountmanager",
        ]
    );
}

/// Care that starts between 16 and 18 starts the plan at the start of care; care after 18, or
/// no care at all, does not.
#[test]
fn toekomstplan_when_care_starts_after_16() {
    let late = lines(&[
        case_known("T-2", "GM0150", "2011-03-10", "2027-01-04T09:00:00+01:00"),
        care_starts("T-2", "GM0150", "2027-05-03T10:00:00+02:00"),
    ]);
    assert_eq!(
        due_of(&simulate(&late, "2027-12-31"), "toekomstplan"),
        ["2027-08-03"]
    );
    let adult = lines(&[
        case_known("T-3", "GM0150", "2009-03-10", "2027-01-04T09:00:00+01:00"),
        care_starts("T-3", "GM0150", "2027-05-03T10:00:00+02:00"),
    ]);
    assert_eq!(
        due_of(&simulate(&adult, "2027-12-31"), "toekomstplan"),
        Vec::<String>::new()
    );
    let no_care = case_known("T-4", "GM0150", "2011-03-10", "2027-01-04T09:00:00+01:00");
    assert_eq!(simulate(&no_care, "2028-12-31"), Vec::<Value>::new());
}

/// Apeldoorn's "in het 16de levensjaar": a gemeente can bring the start forward by a parameter.
#[test]
fn toekomstplan_start_offset_per_gemeente() {
    let engine = engine_with_config(
        "holidays: feestdagen.yaml\ngemeenten:\n  GM0200:\n    params:\n      toekomstplan-16: { vervroeging: 1 year }\n",
    );
    let events = lines(&[
        case_known("T-5", "GM0200", "2011-03-10", "2025-01-06T09:00:00+01:00"),
        care_starts("T-5", "GM0200", "2025-01-06T10:00:00+01:00"),
    ]);
    assert_eq!(
        due_of(
            &simulate_with(&engine, &events, "2026-12-31"),
            "toekomstplan"
        ),
        ["2026-06-10"]
    );
    // Deventer in the same engine keeps the default.
    let deventer = events.replace("GM0200", "GM0150");
    assert_eq!(
        due_of(
            &simulate_with(&engine, &deventer, "2027-12-31"),
            "toekomstplan"
        ),
        ["2027-06-10"]
    );
}

/// A corrected birth date recalculates the pending deadline.
#[test]
fn toekomstplan_is_recalculated_on_correction() {
    let events = lines(&[
        case_known("T-6", "GM0150", "2011-03-10", "2027-01-04T09:00:00+01:00"),
        care_starts("T-6", "GM0150", "2027-01-04T10:00:00+01:00"),
        event(
            "T-6-g",
            "casus.gewijzigd",
            "GM0150",
            "T-6",
            "2027-02-01T09:00:00+01:00",
            r#"{"geboortedatum":"2011-06-10"}"#,
        ),
    ]);
    assert_eq!(
        due_of(&simulate(&events, "2027-12-31"), "toekomstplan"),
        ["2027-09-10"]
    );
}

/// A Deventer case born 2011-03-10, in care from 4 January 2027, whose birth date is corrected
/// at `at` to 2011-02-10: the toekomstplan was then due on 10 May.
fn in_care_then_born_earlier(case: &str, at: &str) -> String {
    lines(&[
        case_known(case, "GM0150", "2011-03-10", "2027-01-04T09:00:00+01:00"),
        care_starts(case, "GM0150", "2027-01-04T10:00:00+01:00"),
        event(
            &format!("{case}-g"),
            "casus.gewijzigd",
            "GM0150",
            case,
            at,
            r#"{"geboortedatum":"2011-02-10"}"#,
        ),
    ])
}

/// A correction that moves the start earlier, after the instance began: the deadline moves
/// into the past. Its reminders are no use any more; of the escalations now overdue, each step
/// goes out once, at once (the team leader and the account manager both hear of it).
#[test]
fn a_correction_into_the_past_escalates_at_once() {
    let events = in_care_then_born_earlier("T-7", "2027-06-01T14:00:00+02:00");
    let n = simulate(&events, "2027-06-30");
    assert_eq!(
        of(&n, "toekomstplan"),
        [
            "2027-05-10T09:00:00+02:00 reminder 0 toekomstplan-16/toekomstplan due 2027-06-10 to professional",
            "2027-06-01T14:00:00+02:00 escalation 1 toekomstplan-16/toekomstplan due 2027-05-10 to teamleider",
            "2027-06-01T14:00:00+02:00 escalation 2 toekomstplan-16/toekomstplan due 2027-05-10 to accountmanager",
            "2027-06-08T09:00:00+02:00 escalation 3 toekomstplan-16/toekomstplan due 2027-05-10 to accountmanager",
            "2027-06-22T09:00:00+02:00 escalation 4 toekomstplan-16/toekomstplan due 2027-05-10 to accountmanager",
        ]
    );
}

/// What becomes overdue through an event at night or in the weekend waits for the sending
/// hours: a correction on Saturday evening reaches people on Monday at 09:00.
#[test]
fn overdue_notifications_wait_for_the_sending_hours() {
    let events = in_care_then_born_earlier("T-10", "2027-06-05T22:00:00+02:00");
    let n = simulate(&events, "2027-06-09");
    assert_eq!(
        of(&n, "toekomstplan"),
        [
            "2027-05-10T09:00:00+02:00 reminder 0 toekomstplan-16/toekomstplan due 2027-06-10 to professional",
            "2027-06-03T09:00:00+02:00 reminder 0 toekomstplan-16/toekomstplan due 2027-06-10 to professional",
            "2027-06-07T09:00:00+02:00 escalation 1 toekomstplan-16/toekomstplan due 2027-05-10 to teamleider",
            "2027-06-07T09:00:00+02:00 escalation 2 toekomstplan-16/toekomstplan due 2027-05-10 to accountmanager",
            "2027-06-08T09:00:00+02:00 escalation 3 toekomstplan-16/toekomstplan due 2027-05-10 to accountmanager",
        ]
    );
}

/// A partial birth date is never completed by guessing: the professional hears at once, once
/// for the case (not once per workflow that counts from it), in plain words.
#[test]
fn a_partial_birth_date_is_signalled() {
    let events = lines(&[
        case_known("T-8", "GM0150", "2011-03", "2027-01-04T09:00:00+01:00"),
        care_starts("T-8", "GM0150", "2027-01-04T10:00:00+01:00"),
    ]);
    let n = simulate(&events, "2029-12-31");
    assert_eq!(
        summary(&n),
        [
            "2027-01-04T09:00:00+01:00 signal 0 overdracht-18/geboortedatum_onvolledig due - to professional",
        ]
    );
    assert_eq!(
        n[0]["message"],
        "Van casus T-8 is de geboortedatum niet volledig bekend. Daardoor weet Waakvlam niet wanneer de jongere 16 en 18 jaar wordt. Vul de volledige geboortedatum aan in het dossier."
    );
}

/// Closing the case ends every open workflow of it.
#[test]
fn a_closed_case_gets_nothing_more() {
    let events = lines(&[
        case_known("T-9", "GM0150", "2011-03-10", "2027-01-04T09:00:00+01:00"),
        care_starts("T-9", "GM0150", "2027-01-04T10:00:00+01:00"),
        event(
            "T-9-c",
            "casus.gesloten",
            "GM0150",
            "T-9",
            "2027-04-01T09:00:00+02:00",
            "{}",
        ),
    ]);
    assert_eq!(simulate(&events, "2029-12-31"), Vec::<Value>::new());
}

// ---- overdracht-18 ---------------------------------------------------------------------------

/// From the 17th birthday in care: the route six months before 18, the application three
/// months before, the warm handover on the birthday (a Saturday: its reminder goes out on
/// Friday, its escalation on Monday).
#[test]
fn overdracht_18_deadlines() {
    let events = lines(&[
        case_known("O-1", "GM0200", "2010-09-30", "2026-06-01T09:00:00+02:00"),
        care_starts("O-1", "GM0200", "2026-06-01T09:05:00+02:00"),
    ]);
    let n = simulate(&events, "2028-10-02");
    assert_eq!(due_of(&n, "perspectief"), ["2028-03-30"]);
    assert_eq!(due_of(&n, "aanvraag"), ["2028-06-30"]);
    // Due on the 18th birthday: the reminders before it, and nothing after it (`not_after`).
    assert_eq!(
        of(&n, "warme_overdracht"),
        [
            "2028-08-30T09:00:00+02:00 reminder 0 overdracht-18/warme_overdracht due 2028-09-30 to professional",
            "2028-09-22T09:00:00+02:00 reminder 0 overdracht-18/warme_overdracht due 2028-09-30 to professional",
        ]
    );
}

/// Route `geen` or `verlengde_jeugdhulp`: no application and no handover to adult care (the
/// route to 23 is watched by `verlengde-jeugdhulp`).
#[test]
fn overdracht_18_route_without_adult_care() {
    let events = lines(&[
        case_known("O-2", "GM0200", "2010-09-30", "2026-06-01T09:00:00+02:00"),
        care_starts("O-2", "GM0200", "2026-06-01T09:05:00+02:00"),
        event(
            "O-2-p",
            "overdracht.perspectief_bepaald",
            "GM0200",
            "O-2",
            "2028-01-10T09:00:00+01:00",
            r#"{"route":"verlengde_jeugdhulp"}"#,
        ),
    ]);
    let n = simulate(&events, "2028-12-31");
    // Only the woonplaats check stays: which gemeente is responsible matters on any route.
    assert!(
        n.iter()
            .all(|x| x["workflow"] != "overdracht-18" || x["deadline"] == "woonplaats"),
        "{:?}",
        summary(&n)
    );
}

/// 29 February: in a year without one, the birthday is 1 March by default (BRP), or 28
/// February when so configured.
#[test]
fn overdracht_18_for_a_leap_day_birthday() {
    let events = lines(&[
        case_known("O-3", "GM0150", "2012-02-29", "2028-06-01T09:00:00+02:00"),
        care_starts("O-3", "GM0150", "2028-06-01T09:05:00+02:00"),
    ]);
    let n = simulate(&events, "2030-03-05");
    assert_eq!(due_of(&n, "warme_overdracht"), ["2030-03-01"]);
    assert_eq!(due_of(&n, "perspectief"), ["2029-09-01"]);
    let engine = engine_with_config("holidays: feestdagen.yaml\nleap_day_birthdays: 28-february\n");
    let n = simulate_with(&engine, &events, "2030-03-05");
    assert_eq!(due_of(&n, "warme_overdracht"), ["2030-02-28"]);
    assert_eq!(due_of(&n, "perspectief"), ["2029-08-28"]);
}

// ---- nazorg ----------------------------------------------------------------------------------

fn care_ends(case: &str, gemeente: &str, at: &str, reden: &str) -> String {
    event(
        &format!("{case}-e{at}"),
        "zorg.beeindigd",
        gemeente,
        case,
        at,
        &format!(r#"{{"reden":"{reden}"}}"#),
    )
}

/// Without any contact: a contact is due every half year after the end of care, each missed
/// one rolls on from its own due date, and none is due after two years.
#[test]
fn nazorg_without_contact_rolls_from_the_missed_date() {
    let n = simulate(
        &care_ends("N-1", "GM0150", "2027-02-01T15:00:00+01:00", "31"),
        "2030-12-31",
    );
    assert_eq!(
        due_of(&n, "contact"),
        ["2027-08-01", "2028-02-01", "2028-08-01", "2029-02-01"]
    );
    // Each missed contact goes to the regisseur, two weeks later to the team leader.
    let escalations: Vec<String> = of(&n, "contact")
        .into_iter()
        .filter(|l| l.contains("escalation"))
        .collect();
    assert_eq!(
        escalations[..2],
        [
            "2027-08-02T09:00:00+02:00 escalation 1 nazorg/contact due 2027-08-01 to regisseur",
            "2027-08-16T09:00:00+02:00 escalation 2 nazorg/contact due 2027-08-01 to teamleider",
        ]
    );
}

/// A contact meets the deadline; the next is due six months after the contact.
#[test]
fn nazorg_rolls_from_the_last_contact() {
    let events = lines(&[
        care_ends("N-2", "GM0150", "2027-02-01T15:00:00+01:00", "31"),
        event(
            "N-2-c",
            "nazorg.contact",
            "GM0150",
            "N-2",
            "2027-07-20T10:00:00+02:00",
            "{}",
        ),
    ]);
    assert_eq!(
        due_of(&simulate(&events, "2028-01-21"), "contact"),
        ["2027-08-01", "2028-01-20"]
    );
}

/// Haaksbergen follows every closed case for five years (shipped configuration).
#[test]
fn nazorg_haaksbergen_follows_five_years() {
    let n = simulate(
        &care_ends("N-3", "GM0158", "2027-02-01T15:00:00+01:00", "31"),
        "2033-12-31",
    );
    let dues = due_of(&n, "contact");
    assert_eq!(dues.len(), 10);
    assert_eq!(dues.last().unwrap(), "2032-02-01");
}

/// Only care that ended according to plan starts nazorg; care that starts again ends it; a
/// relapse signal reaches the regisseur at once.
#[test]
fn nazorg_start_end_and_signal() {
    assert_eq!(
        simulate(
            &care_ends("N-4", "GM0150", "2027-02-01T15:00:00+01:00", "32"),
            "2030-12-31"
        ),
        Vec::<Value>::new()
    );
    let events = lines(&[
        care_ends("N-5", "GM0150", "2027-02-01T15:00:00+01:00", "31"),
        event(
            "N-5-s",
            "nazorg.signaal",
            "GM0150",
            "N-5",
            "2027-03-01T08:45:00+01:00",
            "{}",
        ),
        care_starts("N-5", "GM0150", "2027-03-02T10:00:00+01:00"),
    ]);
    let n = simulate(&events, "2030-12-31");
    assert_eq!(
        summary(&n),
        ["2027-03-01T08:45:00+01:00 signal 0 nazorg/terugval due - to regisseur"]
    );
    assert_eq!(
        n[0]["message"],
        "Signaal van terugval bij casus N-5: neem direct contact op en overweeg de zorg te heropenen."
    );
}

// ---- cross-cutting ---------------------------------------------------------------------------

/// Times carry the Amsterdam offset of their day: +01:00 in winter, +02:00 in summer, right
/// across the change on 28 March 2027.
#[test]
fn send_times_follow_daylight_saving() {
    let events = event(
        "v-1",
        "veiligthuis.melding",
        "GM0148",
        "D-5",
        "2027-03-22T08:00:00+01:00",
        r#"{"melding_id":"VT-3"}"#,
    );
    let n = simulate(&events, "2027-03-31");
    let times: Vec<&str> = n.iter().map(|x| x["at"].as_str().unwrap()).collect();
    // Due Tuesday 30 March (the Atw passes Good Friday's weekend and Tweede Paasdag).
    assert_eq!(
        times,
        ["2027-03-25T09:00:00+01:00", "2027-03-31T09:00:00+02:00"]
    );
}

/// Events are ordered by `at`: the same events in another order give the same output.
#[test]
fn events_out_of_order_give_the_same_result() {
    let events = [
        complaint("2027-04-13T10:15:00+02:00"),
        event(
            "k-2",
            "klacht.in_behandeling",
            "GM0150",
            "C-1",
            "2027-04-20T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
        event(
            "k-3",
            "klacht.afgerond",
            "GM0150",
            "C-1",
            "2027-05-20T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
    ];
    let ordered = simulate(&lines(&events), "2027-12-31");
    let reversed: Vec<String> = events.iter().rev().cloned().collect();
    assert_eq!(simulate(&lines(&reversed), "2027-12-31"), ordered);
    assert_eq!(ordered.len(), 4);
}

/// A repeated `id` is a sender's retry: the first is used, the repeat ignored.
#[test]
fn duplicate_events_are_ignored() {
    let events = lines(&[
        complaint("2027-04-13T10:15:00+02:00"),
        event(
            "k-1",
            "klacht.afgerond",
            "GM0150",
            "C-1",
            "2027-04-14T10:00:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        ),
    ]);
    let n = simulate(&events, "2027-04-23");
    assert_eq!(
        n.len(),
        1,
        "the afgerond with a repeated id was ignored: {:?}",
        summary(&n)
    );
}

/// Notification ids are deterministic: the same input gives the same ids, and every id is
/// unique within a run.
#[test]
fn notification_ids_are_stable_and_unique() {
    let events = std::fs::read_to_string(common::root().join("examples/events.jsonl")).unwrap();
    let first = simulate(&events, "2028-06-30");
    let second = simulate(&events, "2028-06-30");
    let ids: Vec<&str> = first.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        second
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect::<Vec<_>>()
    );
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
}

/// The daemon's path: an event that arrives after later ones were applied (a late delivery)
/// is put where its `at` belongs; what was sent stays sent, and what it makes unnecessary is
/// no longer sent.
#[test]
fn a_late_event_is_applied_where_it_belongs() {
    use waakvlam_core::calendar::parse_timestamp;
    use waakvlam_core::engine::Case;
    let engine = common::shipped_engine();
    let parse =
        |line: &str| waakvlam_core::event::validate(serde_json::from_str(line).unwrap()).unwrap();
    let run_until = |case: &mut Case, until: &str| -> Vec<String> {
        let until = parse_timestamp(until).unwrap();
        let mut sent = Vec::new();
        while let Some(moment) = case.next_wakeup().filter(|m| *m <= until) {
            sent.extend(
                case.tick(&engine, moment)
                    .into_iter()
                    .map(|n| format!("{} {:?} {}", n.deadline, n.kind, n.level)),
            );
        }
        sent
    };
    let mut case = Case::new("GM0150", "C-1");
    let filed = parse(&complaint("2027-04-13T10:15:00+02:00"));
    let at = filed.at;
    assert!(case.apply(&engine, filed, at).is_empty());
    assert_eq!(
        run_until(&mut case, "2027-05-01T12:00:00+02:00"),
        ["in_behandeling Reminder 0", "in_behandeling Escalation 1"]
    );
    let late = parse(&event(
        "k-2",
        "klacht.in_behandeling",
        "GM0150",
        "C-1",
        "2027-04-20T10:00:00+02:00",
        r#"{"klacht_id":"K-9"}"#,
    ));
    assert!(
        case.apply(
            &engine,
            late,
            parse_timestamp("2027-05-01T12:00:00+02:00").unwrap()
        )
        .is_empty()
    );
    let after = run_until(&mut case, "2027-05-20T12:00:00+02:00");
    assert!(
        after.iter().all(|n| !n.starts_with("in_behandeling")),
        "{after:?}"
    );
    assert_eq!(
        after[..3],
        [
            "afgerond Reminder 0",
            "afgerond Escalation 1",
            "fatale_termijn Reminder 0",
        ]
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 6, ..Default::default() })]

    /// Property: over random workloads of all six workflows, every reminder and escalation goes
    /// out on a working day, at 09:00 Amsterdam time or (when it became due in the past through
    /// an event that day) later that day, never earlier; and every reminder before its due date.
    #[test]
    fn reminders_and_escalations_go_out_at_nine_on_working_days(seed in 0u64..u64::MAX) {
        use waakvlam_core::calendar::{local_day, parse_timestamp};
        let engine = common::shipped_engine();
        let mut text = Vec::new();
        waakvlam_core::synthetic::write_events(&mut text, 200, 2027, seed).unwrap();
        let notifications = simulate_with(&engine, &String::from_utf8(text).unwrap(), "2028-12-31");
        proptest::prop_assert!(notifications.len() > 100);
        for n in notifications.iter().filter(|n| n["kind"] != "signal") {
            let at = n["at"].as_str().unwrap();
            let day = local_day(parse_timestamp(at).unwrap());
            proptest::prop_assert!(engine.calendar_for(n["gemeente"].as_str().unwrap()).is_working_day(day), "{at} is not a working day");
            proptest::prop_assert!(&at[11..19] >= "09:00:00", "{at} is before 09:00");
            if n["kind"] == "reminder" {
                proptest::prop_assert!(day.to_string().as_str() < n["due"].as_str().unwrap(), "{at} is not before {}", n["due"]);
            }
        }
    }
}

/// Regression: a young person who came into care two days before turning 18 got "Route na
/// 18 jaar bepalen ... 715 dagen over tijd" in December 2029, and a toekomstplan due three
/// months after the 18th birthday. Nothing of the 16 and 18 workflows is due or sent after
/// the 18th birthday now: a late start gets a shorter term.
#[test]
fn nothing_of_the_16_and_18_workflows_comes_after_the_18th_birthday() {
    let events = lines(&[
        case_known("L-1", "GM0150", "2010-06-20", "2028-06-18T09:00:00+02:00"),
        care_starts("L-1", "GM0150", "2028-06-18T10:00:00+02:00"),
    ]);
    let n = simulate(&events, "2029-12-31");
    let late: Vec<String> = n
        .iter()
        .filter(|x| {
            matches!(
                x["workflow"].as_str(),
                Some("toekomstplan-16" | "overdracht-18")
            )
        })
        .filter(|x| x["at"].as_str().unwrap() > "2028-06-21")
        .map(|x| x.to_string())
        .collect();
    assert!(late.is_empty(), "{late:#?}");
    for x in n.iter().filter(|x| x["workflow"] == "toekomstplan-16") {
        assert!(x["due"].as_str().unwrap() <= "2028-06-20", "{x}");
    }
}

/// A year of the benchmark's generated cases: no escalation above level 4, every chain that
/// reaches it ends with a message saying so, and no message of the 16 and 18 workflows after
/// the young person's 18th birthday.
#[test]
fn a_year_of_generated_cases_stays_within_the_cap_and_the_18th_birthday() {
    let mut generated = Vec::new();
    waakvlam_core::synthetic::write_events(&mut generated, 3_000, 2027, 3).unwrap();
    let generated = String::from_utf8(generated).unwrap();
    let mut birth: std::collections::HashMap<(String, String), String> = Default::default();
    for line in generated.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        if let Some(day) = e["data"]["geboortedatum"].as_str() {
            birth.insert(
                (
                    e["gemeente"].as_str().unwrap().into(),
                    e["case"].as_str().unwrap().into(),
                ),
                day.to_string(),
            );
        }
    }
    let n = simulate(&generated, "2028-12-31");
    assert!(n.len() > 1_000);
    // Every chain that reaches level 4 ends there with a message that says so, and nothing of
    // that deadline follows.
    let mut ended = std::collections::HashSet::new();
    let mut last_words = 0;
    for x in &n {
        let chain = (
            x["instance"].to_string(),
            x["deadline"].to_string(),
            x["due"].to_string(),
        );
        assert!(!ended.contains(&chain), "sent after the last message: {x}");
        let message = x["message"].as_str().unwrap();
        if message.contains("Dit is het laatste bericht hierover.") {
            ended.insert(chain);
            last_words += 1;
        } else if x["kind"] == "escalation" {
            assert!(
                x["level"].as_u64().unwrap() < 4,
                "level 4 without the last word: {x}"
            );
        }
    }
    assert!(last_words > 100, "only {last_words} chains ended");
    for x in &n {
        assert!(x["level"].as_u64().unwrap() <= 4, "{x}");
        if !matches!(
            x["workflow"].as_str(),
            Some("toekomstplan-16" | "overdracht-18")
        ) {
            continue;
        }
        let key = (
            x["gemeente"].as_str().unwrap().to_string(),
            x["case"].as_str().unwrap().to_string(),
        );
        let Some(born) = birth.get(&key).filter(|b| b.len() == 10) else {
            continue;
        };
        let year: i32 = born[..4].parse().unwrap();
        let eighteen = format!("{}{}", year + 18, &born[4..]);
        // A 29 February birthday falls on 1 March in other years: one day later at most.
        let sent = &x["at"].as_str().unwrap()[..10];
        assert!(
            sent <= eighteen.as_str()
                || (born.ends_with("02-29") && sent <= &format!("{}-03-01", year + 18)[..]),
            "sent {sent} after the 18th birthday ({eighteen}): {x}"
        );
    }
}

/// Team ED (Zorgregio, seed 003 r. 844-917): linked to an ervaringsdeskundige within seven
/// days (the reminder two days before falls on Saturday and goes out on Friday), in the
/// Zorgregio's gemeenten only; a referral in Deventer starts nothing.
#[test]
fn team_ed_links_within_seven_days_in_the_zorgregio_only() {
    let referral = |gemeente: &str| {
        event(
            &format!("ed-{gemeente}"),
            "ed.aangemeld",
            gemeente,
            "E-1",
            "2027-03-01T10:00:00+01:00",
            r#"{"aanmelding_id":"A-1"}"#,
        )
    };
    let n = simulate(&lines(&[referral("GM0200")]), "2027-03-20");
    let summary_lines = summary(&n);
    assert_eq!(
        summary_lines,
        [
            "2027-03-05T09:00:00+01:00 reminder 0 team-ed/gekoppeld due 2027-03-08 to coordinator_team_ed",
            "2027-03-09T09:00:00+01:00 escalation 1 team-ed/gekoppeld due 2027-03-08 to contactpersoon_regio",
            "2027-03-16T09:00:00+01:00 escalation 2 team-ed/gekoppeld due 2027-03-08 to contactpersoon_regio",
        ]
    );
    assert!(simulate(&lines(&[referral("GM0150")]), "2027-03-20").is_empty());
}

/// The Raad's two weeks (Deventer, seed 000 r. 898-906): counted from the request's date
/// (`dagtekening`), by the Algemene termijnenwet: a term ending on Sunday moves to Monday.
#[test]
fn the_raad_asks_the_judge_within_two_weeks_of_the_request_date() {
    let request = event(
        "r-1",
        "rvdk.verzoek_burgemeester",
        "GM0150",
        "R-1",
        "2027-03-02T10:00:00+01:00",
        r#"{"verzoek_id":"V-1","dagtekening":"2027-02-28"}"#,
    );
    let n = simulate(&lines(&[request]), "2027-03-20");
    // 28 February + 2 weeks = Sunday 14 March: Monday 15 March.
    assert_eq!(due_of(&n, "oordeel_gevraagd"), ["2027-03-15"]);
    let escalation = n.iter().find(|x| x["kind"] == "escalation").unwrap();
    assert!(
        escalation["message"]
            .as_str()
            .unwrap()
            .starts_with("De Raad voor de Kinderbescherming had uiterlijk maandag 15 maart 2027"),
        "{escalation}"
    );
}

/// Route `verlengde_jeugdhulp` (Apeldoorn, seed 002 r. 1011-1015): overdracht-18 stops, and
/// the new workflow watches the warm handover to adult care before the 23rd birthday.
#[test]
fn verlengde_jeugdhulp_watches_the_handover_up_to_23() {
    let events = lines(&[
        case_known("V-1", "GM0200", "2010-09-30", "2026-06-01T09:00:00+02:00"),
        care_starts("V-1", "GM0200", "2026-06-01T09:05:00+02:00"),
        event(
            "V-1-p",
            "overdracht.perspectief_bepaald",
            "GM0200",
            "V-1",
            "2028-01-10T09:00:00+01:00",
            r#"{"route":"verlengde_jeugdhulp"}"#,
        ),
    ]);
    let n = simulate(&events, "2033-12-31");
    assert_eq!(
        of(&n, "warme_overdracht_volwassenenzorg"),
        [
            "2032-09-30T09:00:00+02:00 reminder 0 verlengde-jeugdhulp/warme_overdracht_volwassenenzorg due 2033-09-30 to professional",
            "2033-06-30T09:00:00+02:00 reminder 0 verlengde-jeugdhulp/warme_overdracht_volwassenenzorg due 2033-09-30 to professional",
            "2033-10-03T09:00:00+02:00 escalation 1 verlengde-jeugdhulp/warme_overdracht_volwassenenzorg due 2033-09-30 to teamleider",
        ]
    );
    assert!(
        n.iter()
            .all(|x| x["workflow"] != "overdracht-18" || x["deadline"] == "woonplaats")
    );
}

/// Woonplaats at 18 (Deventer, seed 000 r. 1238-1244): the responsible gemeente after 18 is
/// established before the 18th birthday; a deadline in overdracht-18, met by the event.
#[test]
fn the_gemeente_after_18_is_established_before_the_18th_birthday() {
    let events = lines(&[
        case_known("W-1", "GM0150", "2010-09-30", "2026-06-01T09:00:00+02:00"),
        care_starts("W-1", "GM0150", "2026-06-01T09:05:00+02:00"),
    ]);
    let n = simulate(&events, "2028-09-29");
    assert_eq!(
        of(&n, "woonplaats"),
        [
            "2028-05-30T09:00:00+02:00 reminder 0 overdracht-18/woonplaats due 2028-06-30 to professional",
            "2028-07-03T09:00:00+02:00 escalation 1 overdracht-18/woonplaats due 2028-06-30 to teamleider",
        ]
    );
    let met = lines(&[
        case_known("W-1", "GM0150", "2010-09-30", "2026-06-01T09:00:00+02:00"),
        care_starts("W-1", "GM0150", "2026-06-01T09:05:00+02:00"),
        event(
            "W-1-w",
            "casus.woonplaats_vastgesteld",
            "GM0150",
            "W-1",
            "2028-04-01T10:00:00+02:00",
            r#"{"gemeente_na_18":"GM0150"}"#,
        ),
    ]);
    assert!(of(&simulate(&met, "2028-09-29"), "woonplaats").is_empty());
}

/// The MO-plan of Haaksbergen (seed 004 r. 1598-1616): evaluated every half year (the
/// `evaluatie` default; the plan says "periodiek"), counted from the last evaluation; when the
/// support ends the regisseur is asked for the nazorg paragraph, and recording it closes the
/// plan. Elsewhere an MO-plan starts nothing.
#[test]
fn the_moplan_is_evaluated_every_half_year_and_closed_with_a_nazorg_paragraph() {
    let plan = |gemeente: &str, kind: &str, id: &str, at: &str, data: &str| {
        event(id, kind, gemeente, "H-9", at, data)
    };
    let opgesteld = || {
        plan(
            "GM0158",
            "moplan.opgesteld",
            "m-1",
            "2027-03-01T10:00:00+01:00",
            r#"{"plan_id":"MO-1"}"#,
        )
    };
    let support_ends = || {
        plan(
            "GM0158",
            "zorg.beeindigd",
            "m-3",
            "2027-12-10T10:00:00+01:00",
            r#"{"reden":"31"}"#,
        )
    };
    let paragraph = |niveau: &str| {
        plan(
            "GM0158",
            "moplan.nazorg_vastgelegd",
            "m-4",
            "2027-12-20T10:00:00+01:00",
            &format!(r#"{{"plan_id":"MO-1","uitvoerder":"vrijwilliger","niveau":"{niveau}"}}"#),
        )
    };
    let events = lines(&[
        opgesteld(),
        plan(
            "GM0158",
            "moplan.geevalueerd",
            "m-2",
            "2027-08-20T10:00:00+02:00",
            r#"{"plan_id":"MO-1"}"#,
        ),
        support_ends(),
        paragraph("licht"),
    ]);
    let n = simulate(&events, "2028-12-31");
    let of_plan: Vec<&Value> = n.iter().filter(|x| x["workflow"] == "mo-plan").collect();
    let lines_of: Vec<String> = summary(&of_plan.iter().map(|v| (*v).clone()).collect::<Vec<_>>());
    assert_eq!(
        lines_of,
        [
            // Due 1 September; met on 20 August, so the next is due six months later.
            "2027-08-18T09:00:00+02:00 reminder 0 mo-plan/evaluatie due 2027-09-01 to regisseur",
            "2027-12-10T10:00:00+01:00 signal 0 mo-plan/afsluiten due - to regisseur",
        ]
    );
    assert!(of_plan[0]["message"].as_str().unwrap().starts_with(
        "Casus H-9: evalueer het MO-plan uiterlijk woensdag 1 september 2027, nog 14 dagen."
    ));
    assert!(
        of_plan[1]["message"]
            .as_str()
            .unwrap()
            .contains("wie doet het (sociaal netwerk, vrijwilliger of regisseur)")
    );
    // Not evaluated at all: the regisseur, then the team leader, whose message is the last.
    let n = simulate(&lines(&[opgesteld()]), "2027-10-01");
    let escalations: Vec<&Value> = n.iter().filter(|x| x["kind"] == "escalation").collect();
    assert_eq!(escalations.len(), 2);
    assert_eq!(escalations[1]["to"], serde_json::json!(["teamleider"]));
    assert!(
        escalations[1]["message"]
            .as_str()
            .unwrap()
            .ends_with("Waakvlam stuurt over deze termijn geen berichten meer.")
    );
    // Support ends on Thursday 1 July and no paragraph is written: the regisseur is asked at
    // once, the paragraph is due two weeks later (Thursday 15 July), its reminder goes out three
    // days before, and the team leader hears the day after, in a last message. The evaluation,
    // due in September, is not asked for after the support ended.
    let unwritten = lines(&[
        opgesteld(),
        plan(
            "GM0158",
            "zorg.beeindigd",
            "m-3",
            "2027-07-01T10:00:00+02:00",
            r#"{"reden":"31"}"#,
        ),
    ]);
    let n: Vec<Value> = simulate(&unwritten, "2028-12-31")
        .into_iter()
        .filter(|x| x["workflow"] == "mo-plan")
        .collect();
    assert_eq!(
        summary(&n),
        [
            "2027-07-01T10:00:00+02:00 signal 0 mo-plan/afsluiten due - to regisseur",
            "2027-07-12T09:00:00+02:00 reminder 0 mo-plan/nazorg_paragraaf due 2027-07-15 to regisseur",
            "2027-07-16T09:00:00+02:00 escalation 1 mo-plan/nazorg_paragraaf due 2027-07-15 to teamleider",
        ]
    );
    assert!(
        n[2]["message"]
            .as_str()
            .unwrap()
            .ends_with("Waakvlam stuurt over deze termijn geen berichten meer."),
        "{}",
        n[2]
    );
    // The paragraph says who keeps the finger on the pulse, and how (seed 004 r. 1598-1616);
    // what Haaksbergen does for every closed case goes on whatever it says (r. 1864-1866):
    // 'geen' leaves the case's own nazorg, five years, about every half year; 'licht' goes on
    // in nazorg-mo-plan at that rhythm; 'intensief' is waakvlambegeleiding, more often and
    // longer than five years (r. 1868-1872: every 3 months for 7 years, the plugin's choice).
    let nazorg_after = |niveau: &str| {
        let events = lines(&[opgesteld(), support_ends(), paragraph(niveau)]);
        simulate(&events, "2036-12-31")
            .into_iter()
            .filter(|x| x["workflow"].as_str().unwrap().starts_with("nazorg"))
            .collect::<Vec<Value>>()
    };
    let dues = |n: &[Value]| -> Vec<String> {
        let mut dues: Vec<String> = n
            .iter()
            .filter_map(|x| x["due"].as_str().map(str::to_string))
            .collect();
        dues.dedup();
        dues
    };
    let geen = nazorg_after("geen");
    assert!(geen.iter().all(|x| x["workflow"] == "nazorg"), "{geen:?}");
    let of_geen = dues(&geen);
    assert_eq!(
        (
            of_geen.first().unwrap().as_str(),
            of_geen.last().unwrap().as_str(),
            of_geen.len()
        ),
        ("2028-06-10", "2032-12-10", 10),
        "five years after the support ended, every half year"
    );
    let licht = nazorg_after("licht");
    assert!(
        licht.iter().all(|x| x["workflow"] == "nazorg-mo-plan"),
        "{licht:?}"
    );
    let of_licht = dues(&licht);
    assert_eq!(
        (
            of_licht.first().unwrap().as_str(),
            of_licht.last().unwrap().as_str(),
            of_licht.len()
        ),
        ("2028-06-20", "2032-12-20", 10)
    );
    assert_eq!(licht[0]["at"], "2028-06-06T09:00:00+02:00");
    // Who keeps the finger on the pulse, in words; not "vrijwilliger (niveau licht)".
    assert_eq!(
        licht[0]["message"],
        "Casus H-9: tijd voor een nazorgcontact (nazorg op afstand), uiterlijk dinsdag 20 juni 2028. Volgens het MO-plan houdt een vrijwilliger de vinger aan de pols. Vraag na of er contact was en hoe het gaat."
    );
    let intensief = nazorg_after("intensief");
    let of_intensief = dues(&intensief);
    assert_eq!(
        (
            of_intensief[..2].to_vec(),
            of_intensief.last().unwrap().as_str()
        ),
        (
            vec!["2028-03-20".to_string(), "2028-06-20".to_string()],
            "2034-12-20"
        ),
        "more often than half-yearly and longer than five years"
    );
    assert!(
        intensief[0]["message"]
            .as_str()
            .unwrap()
            .contains("(waakvlambegeleiding)")
    );
    assert!(
        simulate(
            &lines(&[plan(
                "GM0150",
                "moplan.opgesteld",
                "m-1",
                "2027-03-01T10:00:00+01:00",
                r#"{"plan_id":"MO-1"}"#
            )]),
            "2027-12-31"
        )
        .is_empty()
    );
}

/// Every due date explains itself (DESIGN.md): over a generated year of every shipped workflow,
/// with the shipped configuration and plugins, the derivation of each deadline reaches the due
/// date the engine gives it, in sentences, and the steps the year holds are all there (the Atw,
/// a recurring contact, a term a gemeente set, a term that waits for the event it counts from).
#[test]
fn every_derivation_reaches_the_due_date_the_engine_gives() {
    use waakvlam_core::calendar::parse_timestamp;
    use waakvlam_core::engine::{Case, Step};
    let engine = common::shipped_engine();
    let mut generated = Vec::new();
    waakvlam_core::synthetic::write_events(&mut generated, 2_000, 2027, 11).unwrap();
    let (mut events, refused) =
        waakvlam_core::simulate::read_events(std::io::Cursor::new(generated)).unwrap();
    assert!(refused.is_empty());
    events.sort_by_key(|e| e.at);
    let mut cases: std::collections::BTreeMap<(String, String), Case> = Default::default();
    for event in events {
        let at = event.at;
        cases
            .entry((event.gemeente.clone(), event.case.clone()))
            .or_insert_with(|| Case::new(&event.gemeente, &event.case))
            .apply(&engine, event, at);
    }
    let now = parse_timestamp("2028-03-01T12:00:00+01:00").unwrap();
    let (mut checked, mut atw, mut recurring, mut set_by_gemeente) = (0, 0, 0, 0);
    for case in cases.values_mut() {
        case.tick(&engine, now);
        for view in case.deadlines(&engine, now) {
            let derivation = case
                .derivation(&engine, &view.instance, &view.deadline, view.occurrence)
                .unwrap_or_else(|| panic!("no derivation for {view:?}"));
            assert_eq!(
                derivation.due, view.due,
                "{view:?}: {:#?}",
                derivation.steps
            );
            let lines = case
                .explanation(&engine, &view.instance, &view.deadline, view.occurrence)
                .unwrap();
            assert!(!lines.is_empty(), "{view:?}");
            for line in &lines {
                assert!(line.ends_with('.') && !line.contains("{"), "{line}");
            }
            checked += 1;
            for step in &derivation.steps {
                match step {
                    Step::Atw(_) => atw += 1,
                    Step::AfterContact { .. } | Step::AfterMissed { .. } => recurring += 1,
                    Step::WaitsFor { .. } => assert_eq!(view.due, None, "{view:?}"),
                    Step::Term { origin, .. }
                        if *origin != Some(waakvlam_core::engine::ParamOrigin::Workflow) =>
                    {
                        set_by_gemeente += 1
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(checked > 3_000, "{checked} deadlines");
    assert!(atw > 10, "{atw} Atw steps");
    assert!(recurring > 10, "{recurring} recurring steps");
    assert!(
        set_by_gemeente > 10,
        "{set_by_gemeente} terms set by a gemeente"
    );
}

/// A term that counts from an event still to come (Haaksbergen's MO-plan closes two weeks
/// after care ends) says what it waits for, and once the event came, counts from it.
#[test]
fn a_term_that_waits_for_its_event_says_so_and_then_counts_from_it() {
    use waakvlam_core::calendar::parse_timestamp;
    use waakvlam_core::engine::Case;
    let engine = common::shipped_engine();
    let mut case = Case::new("GM0158", "M-1");
    let at = |s: &str| parse_timestamp(s).unwrap();
    let made = waakvlam_core::event::validate(serde_json::json!({"id": "m-1",
        "type": "moplan.opgesteld", "gemeente": "GM0158", "case": "M-1",
        "at": "2027-03-01T10:00:00+01:00", "data": {"plan_id": "P-1"}}))
    .unwrap();
    case.apply(&engine, made, at("2027-03-01T10:00:00+01:00"));
    let instance = "mo-plan/GM0158/M-1/P-1";
    let lines = case
        .explanation(&engine, instance, "nazorg_paragraaf", 0)
        .unwrap();
    assert_eq!(
        lines,
        [
            "Deze termijn telt vanaf het bericht \"zorg beëindigd\", dat er nog niet is: de einddatum volgt als het komt."
        ]
    );
    let ended = waakvlam_core::event::validate(serde_json::json!({"id": "z-1",
        "type": "zorg.beeindigd", "gemeente": "GM0158", "case": "M-1",
        "at": "2027-06-04T10:00:00+02:00", "data": {"reden": "31"}}))
    .unwrap();
    case.apply(&engine, ended, at("2027-06-04T10:00:00+02:00"));
    let lines = case
        .explanation(&engine, instance, "nazorg_paragraaf", 0)
        .unwrap();
    assert_eq!(lines[0], "Zorg beëindigd op vrijdag 4 juni 2027.");
    assert_eq!(
        lines[1],
        "Termijn 2 weken («afsluiting»): tot en met vrijdag 18 juni 2027."
    );
}
