use jiff::Timestamp;

use super::*;
use crate::calendar::{AddedDay, Calendar, LeapDayBirthdays};
use crate::engine::{Defaults, Settings};
use crate::event::validate;

/// A legal term of 6 weeks and a service norm of 5 days, one suspended, one extended, one
/// chosen by the data; and a recurring contact.
const WORKFLOW: &str = "workflow: bezwaar
title: Beslissen op bezwaar
source: test
roles: { behandelaar: Behandelaar, teamleider: Teamleider }
start: { on: bezwaar.ingediend, key: data.bezwaar_id }
params:
  beslistermijn: 6 weeks
  beslistermijn_adviescommissie: 12 weeks
  verdaging: 6 weeks
dates:
  einde_bezwaartermijn:
    is: data.bekendgemaakt + 6 weeks
    calendar: termijnenwet
deadlines:
  beslissing:
    title: Beslissen op het bezwaar
    due: einde_bezwaartermijn + beslistermijn
    due_if:
      - when: { data.adviescommissie: true }
        due: einde_bezwaartermijn + beslistermijn_adviescommissie
    calendar: termijnenwet
    suspend: { on: bezwaar.verzuim, resume_on: bezwaar.hersteld }
    extend: { on: bezwaar.verdaagd, by: verdaging, once: true }
    met_by: bezwaar.beslist
    owner: behandelaar
    remind: [1 week before]
    escalate: [{ to: teamleider }]
  ontvangst:
    title: Ontvangst bevestigen
    due: start + 5 days
    met_by: bezwaar.beslist
    owner: behandelaar
    remind: [1 day before]
    escalate: [{ to: teamleider }]
";

fn engine() -> Engine {
    let workflow = crate::workflow::parse(WORKFLOW, "bezwaar.yaml").expect("a valid workflow");
    let added = AddedDay {
        day: "2026-05-15".parse().unwrap(),
        reason: "vrijdag na Hemelvaartsdag".into(),
        source: "Besluit gelijkstelling van 2 januari 2026, 15 mei 2026, 7 mei 2027, 28 april 2028 en 26 mei 2028 met een algemeen erkende feestdag".into(),
    };
    let calendar = Calendar::new(&[added], LeapDayBirthdays::FirstOfMarch).covering_through(2028);
    let mut settings = Settings::default();
    settings
        .gemeenten
        .insert("GM0150".into(), "Deventer".into());
    Engine::new(vec![workflow], calendar, settings, Box::new(Defaults))
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn filed(engine: &Engine, on: &str, data: serde_json::Value) -> Case {
    let mut case = Case::new("GM0150", "C-1");
    let mut body = serde_json::json!({"bezwaar_id": "B-1", "adviescommissie": false});
    body.as_object_mut()
        .unwrap()
        .extend(data.as_object().unwrap().clone());
    let event = validate(serde_json::json!({"id": "e-1", "type": "bezwaar.ingediend",
        "gemeente": "GM0150", "case": "C-1", "at": on, "data": body}))
    .unwrap();
    case.apply(engine, event, at(on));
    case
}

fn then(engine: &Engine, case: &mut Case, id: &str, kind: &str, on: &str) {
    let event = validate(
        serde_json::json!({"id": id, "type": kind, "gemeente": "GM0150",
        "case": "C-1", "at": on, "data": {"bezwaar_id": "B-1"}}),
    )
    .unwrap();
    case.apply(engine, event, at(on));
}

const INSTANCE: &str = "bezwaar/GM0150/C-1/B-1";

#[test]
fn a_holiday_moves_a_legal_term_and_is_named() {
    let engine = engine();
    // Made known on Friday 2026-10-09: the objection term ends on Friday 2026-11-20, and six
    // weeks later is Nieuwjaarsdag 2027.
    let case = filed(
        &engine,
        "2026-10-12T10:00:00+02:00",
        serde_json::json!({"bekendgemaakt": "2026-10-09"}),
    );
    let lines = case
        .explanation(&engine, INSTANCE, "beslissing", 0)
        .unwrap();
    assert_eq!(
        lines,
        [
            "Datum «bekendgemaakt» uit het startbericht: vrijdag 9 oktober 2026.",
            "Termijn 6 weken: tot en met vrijdag 20 november 2026.",
            "Deze termijn staat in de workflow «Beslissen op bezwaar».",
            "Dat is «einde_bezwaartermijn»: vrijdag 20 november 2026.",
            "Termijn 6 weken («beslistermijn»): tot en met vrijdag 1 januari 2027.",
            "Deze termijn staat in de workflow «Beslissen op bezwaar».",
            "Vrijdag 1 januari 2027 is Nieuwjaarsdag: volgens de Algemene termijnenwet (art. 1 lid 1) loopt de termijn door tot maandag 4 januari 2027.",
        ]
    );
    let derivation = case.derivation(&engine, INSTANCE, "beslissing", 0).unwrap();
    assert_eq!(derivation.due, Some("2027-01-04".parse().unwrap()));
}

#[test]
fn a_day_added_by_koninklijk_besluit_is_named_with_its_decision() {
    let engine = engine();
    // Filed on Sunday 2026-05-10: five days end on Friday 15 May 2026, a day the decision of
    // 2026 adds, but this is a service norm: it stays. The legal term is chosen by the data.
    let case = filed(
        &engine,
        "2026-05-10T10:00:00+02:00",
        serde_json::json!({"bekendgemaakt": "2026-02-20", "adviescommissie": true}),
    );
    let lines = case.explanation(&engine, INSTANCE, "ontvangst", 0).unwrap();
    assert_eq!(
        lines,
        [
            "Bezwaarschrift ontvangen op zondag 10 mei 2026.",
            "Termijn 5 dagen: tot en met vrijdag 15 mei 2026.",
            "Deze termijn staat in de workflow «Beslissen op bezwaar».",
            "Vrijdag 15 mei 2026 is bij Koninklijk Besluit gelijkgesteld aan een feestdag (vrijdag na Hemelvaartsdag; Besluit gelijkstelling van 2 januari 2026, 15 mei 2026, 7 mei 2027, 28 april 2028 en 26 mei 2028 met een algemeen erkende feestdag), maar dit is een eigen norm en geen wettelijke termijn: de Algemene termijnenwet schuift hem niet op.",
        ]
    );
    // Made known on Friday 2026-02-20: the objection term ends on Goede Vrijdag 2026-04-03,
    // and runs past Easter to Tuesday 2026-04-07; twelve weeks later is Tuesday 2026-06-30.
    let lines = case
        .explanation(&engine, INSTANCE, "beslissing", 0)
        .unwrap();
    assert_eq!(
        lines[0],
        "Omdat in het startbericht «adviescommissie» true is, geldt de termijn die de workflow voor dat geval geeft."
    );
    assert!(
        lines.contains(&"Vrijdag 3 april 2026 is Goede Vrijdag en maandag 6 april 2026 is Tweede Paasdag: volgens de Algemene termijnenwet (art. 1 lid 1) loopt de termijn door tot dinsdag 7 april 2026.".to_string()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(
            &"Termijn 12 weken («beslistermijn_adviescommissie»): tot en met dinsdag 30 juni 2026."
                .to_string()
        ),
        "{lines:#?}"
    );
}

#[test]
fn a_legal_term_ending_on_the_added_day_runs_past_it() {
    let engine = engine();
    // Made known on Thursday 2026-02-19: the objection term ends on Thursday 2026-04-02; six
    // weeks on is Hemelvaartsdag, Thursday 14 May 2026, then the Friday the decision of 2026
    // adds, then the weekend: Monday 18 May.
    let case = filed(
        &engine,
        "2026-03-02T10:00:00+01:00",
        serde_json::json!({"bekendgemaakt": "2026-02-19"}),
    );
    let lines = case
        .explanation(&engine, INSTANCE, "beslissing", 0)
        .unwrap();
    assert_eq!(
        lines.last().unwrap(),
        "Donderdag 14 mei 2026 is Hemelvaartsdag en vrijdag 15 mei 2026 is bij Koninklijk Besluit gelijkgesteld aan een feestdag (vrijdag na Hemelvaartsdag; Besluit gelijkstelling van 2 januari 2026, 15 mei 2026, 7 mei 2027, 28 april 2028 en 26 mei 2028 met een algemeen erkende feestdag): volgens de Algemene termijnenwet (art. 1 lid 1 en art. 3 lid 3) loopt de termijn door tot maandag 18 mei 2026."
    );
}

#[test]
fn suspension_extension_and_a_provisional_calendar_each_have_their_sentence() {
    let engine = engine();
    let mut case = filed(
        &engine,
        "2028-10-02T10:00:00+02:00",
        serde_json::json!({"bekendgemaakt": "2028-09-01"}),
    );
    then(
        &engine,
        &mut case,
        "e-2",
        "bezwaar.verzuim",
        "2028-10-10T10:00:00+02:00",
    );
    let now = case
        .explanation(&engine, INSTANCE, "beslissing", 0)
        .unwrap();
    assert_eq!(
        now.last().unwrap(),
        "De termijn is opgeschort sinds dinsdag 10 oktober 2028: de einddatum volgt als hij weer loopt."
    );
    then(
        &engine,
        &mut case,
        "e-3",
        "bezwaar.hersteld",
        "2028-10-17T10:00:00+02:00",
    );
    then(
        &engine,
        &mut case,
        "e-4",
        "bezwaar.verdaagd",
        "2028-11-01T10:00:00+01:00",
    );
    let derivation = case.derivation(&engine, INSTANCE, "beslissing", 0).unwrap();
    let view = case
        .deadlines(&engine, at("2028-11-01T12:00:00+01:00"))
        .into_iter()
        .find(|v| v.deadline == "beslissing")
        .unwrap();
    assert_eq!(derivation.due, view.due);
    let lines = case
        .explanation(&engine, INSTANCE, "beslissing", 0)
        .unwrap();
    // 2028-09-01 + 6 weeks = 2028-10-13; + 6 weeks = 2028-11-24; verdaagd + 6 weeks =
    // 2029-01-05; suspended 7 days = 2029-01-12, past what the data covers.
    let tail = &lines[lines.len() - 3..];
    assert_eq!(
        tail,
        [
            "De termijn is verlengd met 6 weken: tot en met vrijdag 5 januari 2029.",
            "De termijn was 7 dagen opgeschort en loopt zoveel langer: tot en met vrijdag 12 januari 2029.",
            "Voor 2029 en later is nog geen Koninklijk Besluit over extra feestdagen bekend (de gegevens lopen tot en met 2028): deze einddatum is voorlopig en kan nog verschuiven.",
        ]
    );
}

#[test]
fn unknown_instances_deadlines_and_occurrences_have_no_derivation() {
    let engine = engine();
    let case = filed(
        &engine,
        "2026-10-12T10:00:00+02:00",
        serde_json::json!({"bekendgemaakt": "2026-10-09"}),
    );
    assert!(case.derivation(&engine, "other", "beslissing", 0).is_none());
    assert!(case.derivation(&engine, INSTANCE, "other", 0).is_none());
    assert!(
        case.derivation(&engine, INSTANCE, "beslissing", 1)
            .is_none()
    );
}
