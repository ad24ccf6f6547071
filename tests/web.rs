//! The web pages over real HTTP against the real daemon: sign-in and sessions, CSRF, the
//! brake on guessing tokens, what each token sees, the CSV, a dead letter sent again to a real
//! webhook receiver, calendar feeds read by an iCalendar parser, and the audit of page views.
//! How the pages look and whether they are accessible is tested in a real browser
//! (`browser.rs`).

mod common;

use common::daemon::{APELDOORN, DEVENTER, Daemon, PRIVACY, READ_ONLY, REGION, wait_for};
use common::receiver::{Answer, receiver};
use common::web::{Visitor, seed};

const UNTIL: &str = "2027-05-20T12:00:00+02:00";

fn seeded() -> Daemon {
    let daemon = Daemon::start();
    seed(&daemon, UNTIL);
    daemon
}

#[test]
fn signing_in_gives_a_strict_session_cookie_and_signing_out_ends_it() {
    let daemon = seeded();
    let mut visitor = Visitor::new(&daemon);
    // Not signed in: to the sign-in page, and back afterwards.
    let page = visitor.get("/casus/GM0150/C-1");
    assert_eq!(page.status, 303);
    assert_eq!(
        page.header("location"),
        Some("/inloggen?naar=%2Fcasus%2FGM0150%2FC-1")
    );
    let form = visitor.get("/inloggen");
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("type=\"password\""),
        "the token is typed, never shown"
    );
    let csrf = form.field("csrf").unwrap();
    // A form that did not come from this browser is refused.
    let forged = visitor.post(
        "/inloggen",
        &[("token", DEVENTER), ("csrf", "0000"), ("naar", "/")],
    );
    assert_eq!(forged.status, 403);
    assert!(!visitor.cookies.contains_key("waakvlam_sessie"));
    let csrf = visitor.get("/inloggen").field("csrf").unwrap_or(csrf);
    let answer = visitor.post(
        "/inloggen",
        &[
            ("token", DEVENTER),
            ("csrf", &csrf),
            ("naar", "/casus/GM0150/C-1"),
        ],
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), Some("/casus/GM0150/C-1"));
    let session = answer
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("waakvlam_sessie="))
        .expect("a session cookie")
        .to_string();
    let id = &session["waakvlam_sessie=".len()..session.find(';').unwrap()];
    assert_eq!(id.len(), 64, "256 random bits");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=36000"] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    assert!(!session.contains("Secure"), "not behind TLS in this test");
    let case = visitor.get("/casus/GM0150/C-1");
    assert_eq!(case.status, 200);
    assert_eq!(case.header("cache-control"), Some("no-store"));
    assert_eq!(case.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(case.header("referrer-policy"), Some("no-referrer"));
    let policy = case.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    // Signing out needs the session's CSRF token; then the session is gone.
    assert_eq!(visitor.post("/uitloggen", &[("csrf", "0000")]).status, 403);
    let csrf = visitor.csrf();
    assert_eq!(visitor.post("/uitloggen", &[("csrf", &csrf)]).status, 303);
    visitor
        .cookies
        .insert("waakvlam_sessie".into(), id.to_string());
    assert_eq!(visitor.get("/").status, 303, "the old session id is dead");
    daemon.stop();
}

#[test]
fn behind_tls_the_session_cookie_is_secure() {
    let daemon = Daemon::start_configured(common::tempdir(), |config| {
        format!("{config}  web:\n    secure_cookies: true\n    session_idle_minutes: 15\n")
    });
    let mut visitor = Visitor::new(&daemon);
    let answer = visitor.sign_in(DEVENTER);
    assert_eq!(answer.status, 303);
    let session = answer
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("waakvlam_sessie="))
        .unwrap()
        .to_string();
    assert!(session.ends_with("; Secure"), "{session}");
    daemon.stop();
}

#[test]
fn five_failed_sign_ins_within_a_minute_make_the_address_wait() {
    let daemon = Daemon::start();
    let mut visitor = Visitor::new(&daemon);
    for attempt in 1..=4 {
        let page = visitor.sign_in("geraden-token");
        assert_eq!(page.status, 401, "attempt {attempt}");
        assert!(page.body.contains("Dit token kennen we niet"));
    }
    assert_eq!(visitor.sign_in("geraden-token").status, 429);
    // Now even the right token waits.
    let page = visitor.sign_in(DEVENTER);
    assert_eq!(page.status, 429);
    assert!(page.body.contains("Wacht een minuut"));
    // The attempts belong to no gemeente: a gemeente's privacy officer does not see them,
    // the operator does, counted per address and minute.
    let (_, audit) = daemon.request("GET", "/v1/audit", Some(PRIVACY), None);
    assert!(
        !audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["outcome"] != "allowed" && l["token"] == "-"),
        "{audit}"
    );
    let dir = daemon.stop();
    let lines = common::operator_audit(&dir.join("waakvlam.yaml"));
    assert_eq!(common::counted_without_token(&lines), 5);
}

#[test]
fn the_overview_shows_the_gemeenten_of_the_token_and_no_other() {
    let daemon = seeded();
    let region = Visitor::signed_in(&daemon, REGION).get("/");
    assert_eq!(region.status, 200);
    assert!(region.body.contains("Deventer (GM0150)"));
    assert!(region.body.contains("Apeldoorn (GM0200)"));
    assert!(region.body.contains("<svg"), "the chart");
    assert!(region.body.contains("Dezelfde aantallen als tabel"));
    let deventer = Visitor::signed_in(&daemon, DEVENTER).get("/");
    assert!(deventer.body.contains("Deventer (GM0150)"));
    assert!(!deventer.body.contains("Apeldoorn"));
    // A case of another gemeente is not found, whatever its id.
    let mut apeldoorn = Visitor::signed_in(&daemon, APELDOORN);
    assert_eq!(apeldoorn.get("/casus/GM0150/C-1").status, 404);
    assert_eq!(apeldoorn.get("/termijnen?gemeente=GM0150").status, 403);
    assert!(!apeldoorn.get("/termijnen").body.contains("C-1"));
    daemon.stop();
}

#[test]
fn a_case_page_shows_a_deadline_moved_by_a_suspension_with_the_reason() {
    let daemon = seeded();
    let mut visitor = Visitor::signed_in(&daemon, DEVENTER);
    let page = visitor.get("/casus/GM0150/C-2");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Beslissen op het bezwaar"),
        "{}",
        page.body
    );
    // Suspended from 20 April to 4 May: 14 days.
    assert!(page.body.contains("14 dagen opgeschort"), "{}", page.body);
    assert!(page.body.contains("bezwaar.verzuim"));
    assert!(page.body.contains("Wat komt er"));
    // The case page reads nothing it may not: no birth date shown, and a BSN-like id refused.
    let c1 = visitor.get("/casus/GM0150/C-1");
    assert!(!c1.body.contains("2011-03-10") && !c1.body.contains("10 maart 2011"));
    // Who a notification went to, as the workflow names the role: never its id (issue 28).
    assert!(c1.body.contains("Contactpersoon gemeente"), "{}", c1.body);
    assert!(!c1.body.contains("contactpersoon_gemeente"), "{}", c1.body);
    let sent = visitor.get("/meldingen");
    assert!(
        sent.body.contains("Klachtenfunctionaris")
            && !sent.body.contains("contactpersoon_gemeente"),
        "{}",
        sent.body
    );
    assert_eq!(visitor.get("/casus/GM0150/123456782").status, 400);
    daemon.stop();
}

#[test]
fn the_csv_opens_in_excel_with_the_right_columns() {
    let daemon = seeded();
    let mut visitor = Visitor::signed_in(&daemon, REGION);
    let csv = visitor.get("/termijnen.csv?gemeente=GM0150");
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut lines = csv.body.split("\r\n");
    assert_eq!(
        lines.next(),
        Some(
            "\u{feff}gemeente;gemeentenaam;casus;workflow;termijn;vervaldatum;status;gehaald_op;voorlopig"
        )
    );
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(';').collect())
        .collect();
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(row.len(), 9, "{row:?}");
        assert_eq!(row[0], "GM0150");
        assert_eq!(row[1], "Deventer");
    }
    let dues: Vec<&str> = rows.iter().map(|r| r[5]).collect();
    let mut sorted = dues.clone();
    sorted.sort();
    assert_eq!(dues, sorted, "sorted by due date");
    // The page and the CSV agree.
    let page = visitor.get("/termijnen?gemeente=GM0150");
    assert_eq!(page.body.matches("/casus/GM0150/").count(), rows.len());
    daemon.stop();
}

#[test]
fn a_dead_letter_sent_again_is_delivered() {
    // The receiver fails twice (the letter dies after two attempts), then takes everything.
    let (url, received) = receiver(vec![Answer::Fail, Answer::Fail], "geheim");
    let daemon = Daemon::start_configured(common::tempdir(), move |config| {
        format!(
            "{config}  webhooks:\n    - {{ name: zaaksysteem, url: \"{url}\", secret: geheim, gemeenten: [GM0150], timeout_seconds: 1, max_attempts: 2 }}\n"
        )
    });
    daemon.advance("2027-04-13T10:00:00+02:00");
    let complaint = r#"{"id": "e-1", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-1", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}}"#;
    assert_eq!(daemon.post_events(DEVENTER, complaint).0, 200);
    daemon.advance("2027-04-23T09:00:00+02:00");
    wait_for(10, "the first attempt", || {
        received.lock().unwrap().requests == 1
    });
    daemon.advance("2027-04-23T09:01:00+02:00");
    let mut visitor = Visitor::signed_in(&daemon, DEVENTER);
    wait_for(10, "the dead letter", || {
        visitor
            .get("/meldingen?status=dead")
            .body
            .contains("Opnieuw versturen")
    });
    let page = visitor.get("/meldingen?status=dead");
    let id = page.field("id").expect("the dead letter's form");
    let csrf = page.field("csrf").unwrap();
    // Without the session's CSRF token nothing happens.
    assert_eq!(
        visitor.post("/meldingen/opnieuw", &[("id", &id)]).status,
        403
    );
    let answer = visitor.post("/meldingen/opnieuw", &[("id", &id), ("csrf", &csrf)]);
    assert_eq!(answer.status, 303, "{}", answer.body);
    wait_for(10, "the letter delivered", || {
        received.lock().unwrap().accepted.len() == 1
    });
    assert_eq!(received.lock().unwrap().accepted[0]["id"], id.as_str());
    assert!(!visitor.get("/meldingen?status=dead").body.contains(&id));
    // Sent again once; a second press finds nothing dead.
    assert_eq!(
        visitor
            .post("/meldingen/opnieuw", &[("id", &id), ("csrf", &csrf)])
            .status,
        409
    );
    let (_, audit) = daemon.request("GET", "/v1/audit", Some(PRIVACY), None);
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["action"] == "web POST /meldingen/opnieuw" && l["token"] == "deventer")
    );
    daemon.stop();
}

/// The address of the feed a page just made.
fn feed_address(page: &str) -> String {
    let marker = "id=\"nieuwe-link\" class=\"link\" type=\"text\" readonly value=\"";
    let start = page.find(marker).expect("the new feed's address") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

#[test]
fn a_calendar_feed_parses_as_icalendar_and_a_revoked_feed_is_gone() {
    use icalendar::parser::{read_calendar, unfold};
    let daemon = seeded();
    let mut visitor = Visitor::signed_in(&daemon, REGION);
    let csrf = visitor.csrf();
    let made = visitor.post(
        "/agenda",
        &[
            ("csrf", &csrf),
            ("naam", "Klachten en bezwaren Deventer"),
            ("gemeente", "GM0150"),
            ("rol", "klachtenfunctionaris"),
            ("rol", "behandelaar"),
        ],
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let address = feed_address(&made.body);
    let path = &address[address.find("/agenda/").unwrap()..];
    assert!(path.ends_with(".ics"));
    // Listed with who made it; the address itself is shown only once.
    let listed = visitor.get("/agenda");
    assert!(listed.body.contains("Klachten en bezwaren Deventer"));
    assert!(listed.body.contains("token regio"));
    assert!(!listed.body.contains(path));
    // A calendar client sends no cookie and no header.
    let mut calendar = Visitor::new(&daemon);
    let feed = calendar.get(path);
    assert_eq!(feed.status, 200);
    assert_eq!(
        feed.header("content-type"),
        Some("text/calendar; charset=utf-8")
    );
    let unfolded = unfold(&feed.body);
    assert!(feed.body.starts_with("BEGIN:VCALENDAR\r\n"));
    let parsed = read_calendar(&unfolded).expect("valid iCalendar");
    assert!(
        parsed
            .properties
            .iter()
            .any(|p| p.name == "VERSION" && p.val == "2.0")
    );
    let events: Vec<_> = parsed
        .components
        .iter()
        .filter(|c| c.name == "VEVENT")
        .collect();
    assert!(!events.is_empty(), "{}", feed.body);
    let property = |c: &icalendar::parser::Component, name: &str| {
        c.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.val.to_string())
    };
    let bezwaar = events
        .iter()
        .find(|e| property(e, "UID").is_some_and(|u| u.starts_with("bezwaar/GM0150/C-2")))
        .expect("the open bezwaar deadline of C-2");
    assert_eq!(
        property(bezwaar, "UID").unwrap(),
        "bezwaar/GM0150/C-2/B-4/beslissing/0@waakvlam"
    );
    assert!(property(bezwaar, "SUMMARY").unwrap().contains("casus C-2"));
    assert!(
        property(bezwaar, "URL")
            .unwrap()
            .ends_with("/casus/GM0150/C-2")
    );
    assert!(bezwaar.components.iter().any(|c| c.name == "VALARM"));
    // Only the roles and gemeenten it was made for.
    assert!(!feed.body.contains("GM0200"));
    for event in &events {
        let uid = property(event, "UID").unwrap();
        assert!(
            uid.starts_with("bezwaar/") || uid.starts_with("klachttermijnen/"),
            "{uid}"
        );
    }
    // Revoked: gone for good.
    let page = visitor.get("/agenda");
    let id = page.field("id").unwrap();
    let csrf = page.field("csrf").unwrap();
    assert_eq!(
        visitor
            .post("/agenda/intrekken", &[("id", &id), ("csrf", &csrf)])
            .status,
        303
    );
    assert_eq!(calendar.get(path).status, 404);
    assert_eq!(
        calendar
            .get("/agenda/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.ics")
            .status,
        404
    );
    daemon.stop();
}

#[test]
fn a_read_only_token_sees_no_button_that_changes_anything_and_is_refused_anyway() {
    let daemon = seeded();
    let mut visitor = Visitor::signed_in(&daemon, READ_ONLY);
    let notifications = visitor.get("/meldingen");
    assert_eq!(notifications.status, 200);
    assert!(!notifications.body.contains("Opnieuw versturen"));
    let feeds = visitor.get("/agenda");
    assert!(!feeds.body.contains("Agenda-link maken"));
    assert!(!feeds.body.contains("Intrekken"));
    let csrf = visitor.csrf();
    let refused = visitor.post(
        "/agenda",
        &[
            ("csrf", &csrf),
            ("naam", "x"),
            ("gemeente", "GM0150"),
            ("rol", "behandelaar"),
        ],
    );
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("alleen mag lezen"));
    assert_eq!(
        visitor
            .post("/meldingen/opnieuw", &[("csrf", &csrf), ("id", "x")])
            .status,
        403
    );
    daemon.stop();
}

#[test]
fn a_page_view_with_case_data_is_audited_with_the_person() {
    let daemon = seeded();
    let mut visitor = Visitor::signed_in(&daemon, DEVENTER);
    visitor.on_behalf_of = Some("medewerker-4711".into());
    assert_eq!(visitor.get("/casus/GM0150/C-1").status, 200);
    assert_eq!(visitor.get("/termijnen").status, 200);
    let (_, audit) = daemon.request("GET", "/v1/audit", Some(PRIVACY), None);
    let lines = audit["audit"].as_array().unwrap();
    let case = lines
        .iter()
        .find(|l| l["action"] == "web GET /casus")
        .expect("the case page's audit line");
    assert_eq!(case["token"], "deventer");
    assert_eq!(case["on_behalf_of"], "medewerker-4711");
    assert_eq!(case["gemeente"], "GM0150");
    assert_eq!(case["case"], "C-1");
    assert!(lines.iter().any(|l| l["action"] == "web GET /termijnen"));
    daemon.stop();
}

#[test]
fn the_workflow_page_shows_the_terms_per_gemeente_and_where_they_come_from() {
    let daemon = Daemon::start();
    let mut visitor = Visitor::signed_in(&daemon, REGION);
    let list = visitor.get("/workflows");
    assert!(list.body.contains("/workflows/bezwaar"));
    let page = visitor.get("/workflows/bezwaar");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Algemene termijnenwet"));
    assert!(page.body.contains("Deventer (GM0150)"));
    assert!(!page.body.contains("Dalfsen"), "only the token's gemeenten");
    assert!(page.body.contains(">workflow<") || page.body.contains(">plugin<"));
    assert_eq!(visitor.get("/workflows/bestaat-niet").status, 404);
    // What the seeds make of it (issue 28): Haaksbergen's closed cases, its afdelingshoofd,
    // and where an ambiguous seed was read one way.
    let nazorg = visitor.get("/workflows/nazorg");
    assert!(
        nazorg
            .body
            .contains("In Haaksbergen (GM0158) begint deze workflow als de casus sluit")
            && nazorg.body.contains("Niet als nazorg-mo-plan al loopt"),
        "{}",
        nazorg.body
    );
    let complaints = visitor.get("/workflows/klachttermijnen");
    assert!(
        complaints.body.contains("In Haaksbergen (GM0158) doet Afdelingshoofd van de betrokken medewerkers (afdelingshoofd) wat Klachtenfunctionaris (klachtenfunctionaris) elders doet"),
        "{}",
        complaints.body
    );
    let plan = visitor.get("/workflows/toekomstplan-16");
    assert!(
        plan.body.contains("r. 982-983: in het 16de levensjaar"),
        "{}",
        plan.body
    );
    daemon.stop();
}

#[test]
fn the_what_if_page_shows_the_deadlines_a_term_would_move_and_the_problems_of_a_file() {
    let daemon = seeded();
    // Trying is reading: a read-only token may.
    let mut visitor = Visitor::signed_in(&daemon, READ_ONLY);
    let form = visitor.get("/wat-als");
    assert_eq!(form.status, 200);
    let csrf = form.field("csrf").unwrap();
    let page = visitor.post(
        "/wat-als",
        &[
            ("csrf", &csrf),
            ("soort", "termijn"),
            ("gemeente", "GM0150"),
            ("term", "klachttermijnen.fataal"),
            ("waarde", "5 weken"),
        ],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("2 casussen doorgerekend: 1 termijn verschuift, 0 workflows starten, 0 workflows stoppen, 0 meldingen gaan direct uit."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<td>22 juni 2027</td><td>15 juni 2027</td>"),
        "{}",
        page.body
    );
    let broken = visitor.post(
        "/wat-als",
        &[
            ("csrf", &csrf),
            ("soort", "bestand"),
            ("bestand", "klachttermijnen"),
            ("tekst", "workflow: klachttermijnen\ntitel: Klacht\n"),
        ],
    );
    assert_eq!(broken.status, 422);
    assert!(
        broken.body.contains(
            "klachttermijnen.yaml, regel 2, kolom 1: unknown key &#39;titel&#39; in the workflow"
        ),
        "{}",
        broken.body
    );
    // Without the session's CSRF token nothing is computed.
    let refused = visitor.post("/wat-als", &[("soort", "termijn")]);
    assert_eq!(refused.status, 403);
    daemon.stop();
}

#[test]
fn a_mistyped_page_address_gets_a_page_and_the_api_keeps_its_json() {
    let daemon = Daemon::start();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut page = agent
        .get(&format!("{}/termijn", daemon.base))
        .header("Accept", "text/html,application/xhtml+xml")
        .call()
        .unwrap();
    assert_eq!(page.status().as_u16(), 404);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(
        page.body_mut()
            .read_to_string()
            .unwrap()
            .contains("Deze pagina bestaat niet")
    );
    let (status, answer) = daemon.request("GET", "/v1/bestaat-niet", Some(DEVENTER), None);
    assert_eq!(status, 404);
    assert_eq!(
        answer["error"],
        "no such endpoint; the API lives under /v1 (see README.md)"
    );
    daemon.stop();
}
