//! The findings of the outside security review (issue 25), each against the real binary on
//! loopback: a read-only token cannot exhaust the daemon's memory, no BSN reaches the store
//! however it is written, the iJw inbox keeps no originals and echoes nothing of them, audit
//! lines stay within their gemeente and cannot be flooded, refusals on the pages are audited,
//! calendar feeds are tied to their token, webhooks follow no redirect and show no secret,
//! production refuses weak settings, feed links do not come from the request, and only a
//! trusted sender names a person in the audit log.

mod common;

use common::daemon::{APELDOORN, DEVENTER, Daemon, PRIVACY, READ_ONLY, REGION, wait_for};
use common::receiver::{Answer, receiver};
use common::web::Visitor;
use serde_json::{Value, json};
use waakvlam_core::ijw::sample::{Sample, bsn};

/// Seven or eight levels of ten aliases each: the review's 518 and 569 bytes.
fn alias_bomb(levels: usize) -> String {
    let mut text = String::from("workflow: bom\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..=levels {
        let refs = vec![format!("*a{}", level - 1); 10].join(",");
        text.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    text
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Finding 1: nested YAML aliases took a daemon from 181 MB to 1.46 GB (eight levels killed
/// one). Now the reader refuses an alias at once, and a what-if is bounded in size.
#[test]
fn a_what_if_of_nested_aliases_is_refused_at_once() {
    let daemon = Daemon::start();
    let before = resident_kib(daemon.pid());
    for levels in [7, 8] {
        let body = json!({ "workflows": { "bom.yaml": alias_bomb(levels) } }).to_string();
        let started = std::time::Instant::now();
        let (status, answer) = daemon.request("POST", "/v1/what-if", Some(READ_ONLY), Some(&body));
        assert_eq!(status, 422, "{answer}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(
            answer["problems"][0]["message"],
            "this is not valid YAML: YAML aliases ('*name') are not read; write the value out where it is needed"
        );
        assert_eq!(answer["problems"][0]["line"], 3);
    }
    let after = resident_kib(daemon.pid());
    assert!(
        after < before + 50 * 1024,
        "resident memory grew from {before} to {after} KiB"
    );
    // The page takes the same text the same way.
    let mut visitor = Visitor::signed_in(&daemon, READ_ONLY);
    let csrf = visitor.csrf();
    let page = visitor.post(
        "/wat-als",
        &[
            ("csrf", &csrf),
            ("soort", "bestand"),
            ("bestand", "bom"),
            ("tekst", &alias_bomb(8)),
        ],
    );
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("YAML aliases"), "{}", page.body);
    // A body over 1 MiB is not read past the limit: the answer comes while the body is still
    // being sent (a client that only writes would see a broken pipe, so this one reads too).
    assert_eq!(
        sent_while_reading(&daemon, "/v1/what-if", 2 * 1024 * 1024),
        413
    );
    let large = json!({ "workflows": { "a.yaml": "#".repeat(200 * 1024) } }).to_string();
    let (status, answer) = daemon.request("POST", "/v1/what-if", Some(READ_ONLY), Some(&large));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"],
        "a.yaml is larger than 128 KiB; a workflow file is a few kilobytes"
    );
    // check and the configuration refuse aliases too.
    let dir = common::tempdir();
    std::fs::write(dir.join("bom.yaml"), alias_bomb(3)).unwrap();
    let out = common::waakvlam(&["check", dir.join("bom.yaml").to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bom.yaml:3:"));
    daemon.stop();
}

/// Finding 2: each of these was accepted and stored.
#[test]
fn no_bsn_reaches_the_store_however_it_is_written() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let event = |id: &str, case: &str, data: Value| {
        json!({"id": id, "type": "klacht.ingediend", "gemeente": "GM0150", "case": case,
               "at": "2027-04-13T10:15:00+02:00", "data": data})
    };
    let k = json!({"klacht_id": "K-9"});
    let hostile = [
        event("271828237", "C-1", k.clone()),
        event("e-2", "BSN 2718.28.237", k.clone()),
        event("e-3", "C-3", json!({"klacht_id": "271 828 249"})),
        event("e-4", "C-4", json!({"klacht_id": "K-9", "271828237": "ja"})),
        event("e-5", "C-5", json!({"klacht_id": "271-828-237"})),
        event("e-6\t=1+2", "C-6", k.clone()),
        event("e-7", "C-7\r", k.clone()),
    ];
    let (status, answer) =
        daemon.post_events(DEVENTER, &Value::Array(hostile.to_vec()).to_string());
    assert_eq!(status, 400, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["status"] == "refused"), "{answer}");
    assert!(!answer.to_string().contains("271828237"));
    for case in ["C-1", "C-3", "C-4", "C-5"] {
        let (status, _) = daemon.request("GET", &format!("/v1/cases/{case}"), Some(DEVENTER), None);
        assert_eq!(status, 404, "{case}");
    }
    let dir = daemon.stop();
    let store = std::fs::read(dir.join("data/waakvlam.db")).unwrap();
    for bsn in ["271828237", "2718.28.237", "271 828 249", "271-828-237"] {
        assert!(
            !store.windows(bsn.len()).any(|w| w == bsn.as_bytes()),
            "the store holds {bsn}"
        );
    }
}

/// Finding 3: the inbox kept every original for ever, a parser error echoed message text and
/// the log named the file. Now an answered original is removed, the answer of a file whose
/// name may hold a BSN is named by the hash of that name, and nothing of either is echoed.
#[test]
fn the_inbox_keeps_no_original_and_echoes_nothing() {
    let daemon = Daemon::start();
    let inbox = daemon.dir.join("data/ijw-inbox");
    wait_for(20, "the inbox", || inbox.join("processed").is_dir());
    let mut sample = Sample::start("S1", "0150", &bsn(21), "2011-02-10", "2027-03-01");
    sample.dagtekening = "2027-03-02".into();
    std::fs::write(inbox.join("bsn-271828201.xml"), sample.xml()).unwrap();
    let hostile = sample.xml().replacen("</", "&x271828249;</", 1);
    std::fs::write(inbox.join("kapot.xml"), hostile).unwrap();
    wait_for(20, "both answers", || {
        std::fs::read_dir(inbox.join("processed")).unwrap().count() == 1
            && inbox.join("refused/kapot.json").exists()
    });
    use sha2::Digest;
    let hashed: String = sha2::Sha256::digest(b"bsn-271828201.xml")[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        inbox
            .join(format!("processed/bericht-{hashed}.json"))
            .exists()
    );
    // No original is left anywhere.
    for folder in [
        inbox.clone(),
        inbox.join("processed"),
        inbox.join("refused"),
    ] {
        let xml = std::fs::read_dir(&folder)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "xml")
            })
            .count();
        assert_eq!(xml, 0, "{} still holds an original", folder.display());
    }
    let refused = std::fs::read_to_string(inbox.join("refused/kapot.json")).unwrap();
    assert!(
        refused.contains("an entity reference that XML does not define"),
        "{refused}"
    );
    assert!(!refused.contains("271828249"), "{refused}");
    let log = daemon.log_text();
    assert!(
        !log.contains("271828201") && !log.contains(&bsn(21)),
        "{log}"
    );
    daemon.stop();
}

/// An operator who must keep originals names a directory and the days; they are kept there,
/// and an old original that an earlier version left in `processed/` goes there too.
#[test]
fn originals_are_kept_only_where_and_as_long_as_configured() {
    let dir = common::tempdir();
    std::fs::create_dir_all(dir.join("data/ijw-inbox/processed")).unwrap();
    std::fs::write(dir.join("data/ijw-inbox/processed/oud.xml"), "<oud/>").unwrap();
    let daemon = Daemon::start_configured(dir, |config| {
        common::replace_once(
            &config,
            "    poll_seconds: 1\n",
            "    poll_seconds: 1\n    keep_originals: data/originelen\n    keep_originals_days: 30\n",
        )
    });
    let inbox = daemon.dir.join("data/ijw-inbox");
    let kept = daemon.dir.join("data/originelen");
    wait_for(20, "the old original moved", || {
        kept.join("oud.xml").exists()
    });
    let sample = Sample::start("K1", "0150", &bsn(22), "2011-02-10", "2027-03-01");
    std::fs::write(inbox.join("k1.xml"), sample.xml()).unwrap();
    wait_for(20, "the answer", || {
        inbox.join("processed/k1.json").exists()
    });
    wait_for(5, "the original kept", || kept.join("k1.xml").exists());
    assert!(!inbox.join("k1.xml").exists());
    daemon.stop();
    // Without days, the configuration says what is missing.
    let config = common::config_dir(|shipped| {
        common::replace_once(
            &shipped,
            "    pseudonym_secret_env: WAAKVLAM_PSEUDONIEM_GEHEIM\n",
            "    pseudonym_secret_env: WAAKVLAM_PSEUDONIEM_GEHEIM\n    keep_originals: ../data/originelen\n",
        )
    });
    let out = common::waakvlam(
        &[
            "check",
            "--config",
            config.join("waakvlam.yaml").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("'keep_originals' needs 'keep_originals_days'"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn audit(daemon: &Daemon, token: &str) -> Vec<Value> {
    let (status, answer) = daemon.request("GET", "/v1/audit?limit=1000", Some(token), None);
    assert_eq!(status, 200, "{answer}");
    answer["audit"].as_array().unwrap().clone()
}

/// Findings 4 and 5: Deventer's privacy officer saw Apeldoorn's sign-ins and an Apeldoorn
/// case id (lines without a gemeente), and 3,000 wrong tokens wrote 3,026 lines.
#[test]
fn audit_lines_stay_in_their_gemeente_and_cannot_be_flooded() {
    let daemon = Daemon::start();
    // A sign-in and a refused read of a token of two gemeenten; an Apeldoorn sign-in.
    Visitor::signed_in(&daemon, APELDOORN);
    Visitor::signed_in(&daemon, REGION);
    let (status, _) = daemon.request("GET", "/v1/cases/A-9?gemeente=GM0363", Some(REGION), None);
    assert_eq!(status, 403);
    // Wrong tokens: after five in a minute the address is answered slowly, a few at a time.
    for n in 0..5 {
        let wrong = format!("geraden-{n}");
        assert_eq!(
            daemon.request("GET", "/v1/deadlines", Some(&wrong), None).0,
            401
        );
    }
    let started = std::time::Instant::now();
    let (status, answer) = daemon.request("GET", "/v1/deadlines", Some("geraden-5"), None);
    assert_eq!(status, 401);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(
        answer["error"],
        "unknown token; this address sent too many unknown tokens and is answered slowly for a minute"
    );
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (6..30)
            .map(|n| {
                let daemon = &daemon;
                scope.spawn(move || {
                    let wrong = format!("geraden-{n}");
                    daemon.request("GET", "/v1/deadlines", Some(&wrong), None).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 401).count() >= 4,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    // A request without a token is no guess: answered at once.
    let started = std::time::Instant::now();
    assert_eq!(daemon.request("GET", "/v1/deadlines", None, None).0, 401);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));

    // A valid token is let through from that address: the brake slows guessing only.
    assert_eq!(
        daemon
            .request("GET", "/v1/deadlines", Some(DEVENTER), None)
            .0,
        200
    );

    let lines = audit(&daemon, PRIVACY);
    assert!(
        lines.iter().all(|l| l["gemeente"] == "GM0150"),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l["token"] == "apeldoorn"));
    // The region token's sign-in is written once for each of its gemeenten.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["token"] == "regio" && l["action"] == "web POST /inloggen")
            .count(),
        1
    );
    assert!(lines.len() < 20, "{} lines", lines.len());

    // The operator sees the refused requests: one line per address and minute, with a count.
    let dir = daemon.stop();
    let printed = common::operator_audit(&dir.join("waakvlam.yaml"));
    let refused: Vec<&Value> = printed
        .iter()
        .filter(|l| l["action"] == "requests without a valid token")
        .collect();
    assert!((1..=2).contains(&refused.len()), "{refused:#?}");
    assert!(
        refused[0]["outcome"]
            .as_str()
            .unwrap()
            .contains(" times from 127.0.0.1 in the minute from "),
        "{refused:#?}"
    );
    assert_eq!(common::counted_without_token(&printed), 31, "{refused:#?}");
    assert!(refused.iter().all(|l| l["gemeente"].is_null()));
}

/// Finding 6: refusals on the pages were not audited, and a refused retry of another
/// gemeente's dead letter was written as allowed, without the notification.
#[test]
fn refusals_on_the_pages_are_audited() {
    let daemon = Daemon::start();
    let mut visitor = Visitor::signed_in(&daemon, DEVENTER);
    assert_eq!(visitor.get("/casus/GM0200/A-3").status, 404);
    assert_eq!(visitor.get("/termijnen.csv?gemeente=GM0200").status, 403);
    let page = visitor.post(
        "/agenda",
        &[
            ("csrf", "vals"),
            ("naam", "x"),
            ("gemeente", "GM0150"),
            ("rol", "professional"),
        ],
    );
    assert_eq!(page.status, 403);
    let csrf = visitor.csrf();
    let page = visitor.post(
        "/agenda",
        &[
            ("csrf", &csrf),
            ("naam", "x"),
            ("gemeente", "GM0200"),
            ("rol", "professional"),
        ],
    );
    assert_eq!(page.status, 403);
    let id = "0123456789abcdef0123456789abcdef";
    let (status, _) = daemon.request(
        "POST",
        &format!("/v1/notifications/{id}/retry"),
        Some(DEVENTER),
        Some(""),
    );
    assert_eq!(status, 409);

    let (_, apeldoorn) = daemon.request("GET", "/v1/audit?limit=1000", Some(PRIVACY), None);
    let lines = audit(&daemon, PRIVACY);
    let refused = |action: &str| {
        lines
            .iter()
            .any(|l| l["action"] == action && l["outcome"].as_str().unwrap().starts_with("refused"))
    };
    assert!(refused("web POST /agenda"), "{lines:#?}");
    assert!(refused(&format!("notifications.retry {id}")), "{lines:#?}");
    assert!(
        !lines.iter().any(
            |l| l["action"] == format!("notifications.retry {id}") && l["outcome"] == "allowed"
        )
    );
    drop(apeldoorn);
    // The attempts on Apeldoorn's case and deadlines are Apeldoorn's to see: the operator's
    // command shows them with that gemeente.
    let dir = daemon.stop();
    let lines = common::operator_audit(&dir.join("waakvlam.yaml"));
    for action in [
        "web GET /casus",
        "web GET /termijnen.csv",
        "web POST /agenda",
    ] {
        assert!(
            lines.iter().any(|l| l["action"] == action
                && l["gemeente"] == "GM0200"
                && l["token"] == "deventer"
                && l["outcome"].as_str().unwrap().starts_with("refused")),
            "{action}: {lines:#?}"
        );
    }
}

/// A feed of Deventer's complaints made on the Agenda page; the page that shows it.
fn make_feed(visitor: &mut Visitor) -> common::web::Page {
    let csrf = visitor.csrf();
    let made = visitor.post(
        "/agenda",
        &[
            ("csrf", &csrf),
            ("naam", "Klachten"),
            ("gemeente", "GM0150"),
            ("rol", "klachtenfunctionaris"),
        ],
    );
    assert_eq!(made.status, 201, "{}", made.body);
    made
}

/// The path of the feed a page shows just made: `/agenda/<64 hex>.ics`.
fn feed_path(body: &str) -> String {
    let end = body.find(".ics").expect("the page shows the new feed") + 4;
    let start = body[..end].rfind("/agenda/").unwrap();
    body[start..end].to_string()
}

/// Finding 7: a feed made with a token answered after the token was replaced under its name.
#[test]
fn a_calendar_feed_ends_with_the_token_that_made_it() {
    let daemon = Daemon::start();
    let mut visitor = Visitor::signed_in(&daemon, DEVENTER);
    let made = make_feed(&mut visitor);
    let feed = feed_path(&made.body);
    assert_eq!(visitor.get(&feed).status, 200);
    // Deventer's token replaced by another under the same name.
    let dir = daemon.stop();
    let daemon = Daemon::start_configured(dir, |config| {
        common::replace_once(
            &config,
            "8c30cc8818e90b9bbbb2109b1d37f9b2938d9861ae4865a08f45972ff8406b77",
            &"b".repeat(64),
        )
    });
    let mut anyone = Visitor::new(&daemon);
    assert_eq!(anyone.get(&feed).status, 404);
    daemon.stop();
}

/// Findings 8 and 10: a 307 made the daemon post the signed notification elsewhere, and a
/// webhook URL's query (`?apikey=...`) was shown in `last_error`.
#[test]
fn webhooks_follow_no_redirect_and_show_no_query() {
    let (url, received) = receiver(vec![Answer::Redirect], "geheim");
    let dead = "http://127.0.0.1:9/waakvlam?apikey=sleutel-123".to_string();
    let daemon = Daemon::start_configured(common::tempdir(), |config| {
        format!(
            "{config}  webhooks:\n    - {{ name: omleiding, url: \"{url}\", secret: geheim, gemeenten: [GM0150], timeout_seconds: 1, max_attempts: 3 }}\n    - {{ name: dicht, url: \"{dead}\", secret: geheim, gemeenten: [GM0150], timeout_seconds: 1, max_attempts: 3 }}\n"
        )
    });
    daemon.advance("2027-04-13T10:00:00+02:00");
    let complaint = json!({"id": "e-1", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-1",
        "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}});
    assert_eq!(daemon.post_events(DEVENTER, &complaint.to_string()).0, 200);
    daemon.advance("2027-04-23T09:00:00+02:00");
    let delivery = |channel: &str| {
        let (_, listed) = daemon.request("GET", "/v1/notifications?case=C-1", Some(DEVENTER), None);
        listed["notifications"][0]["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .find(|d| d["channel"] == channel)
            .unwrap_or(Value::Null)
    };
    wait_for(10, "both first attempts", || {
        delivery("webhook:omleiding")["attempts"] == 1 && delivery("webhook:dicht")["attempts"] == 1
    });
    assert_eq!(
        delivery("webhook:omleiding")["last_error"],
        "the receiver answered 307 Temporary Redirect, a redirect, which is not followed"
    );
    assert_eq!(received.lock().unwrap().redirected, 0);
    let error = delivery("webhook:dicht")["last_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.starts_with("could not reach the receiver"), "{error}");
    assert!(
        !error.contains("apikey") && !error.contains("sleutel"),
        "{error}"
    );
    assert!(!daemon.log_text().contains("sleutel-123"));
    let mut visitor = Visitor::signed_in(&daemon, READ_ONLY);
    assert!(!visitor.get("/meldingen").body.contains("sleutel"));
    daemon.stop();
}

/// Finding 11: production took cookies without `Secure`, http:// webhooks and a short secret
/// in the file without a word.
#[test]
fn a_production_configuration_with_weak_settings_is_refused() {
    let config = common::config_dir(|shipped| {
        let production =
            common::replace_once(&shipped, "  production: false\n", "  production: true\n");
        format!(
            "{production}  webhooks:\n    - {{ name: w, url: \"http://ontvanger.example/in\", secret: kort, gemeenten: [GM0150] }}\n"
        )
    });
    let out = common::waakvlam(
        &[
            "check",
            "--config",
            config.join("waakvlam.yaml").to_str().unwrap(),
        ],
        None,
    );
    let printed =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    for expected in [
        "a production daemon sets 'Secure' on its cookies",
        "a production daemon sends notifications over https only",
        "a production daemon takes a webhook's secret from the environment",
    ] {
        assert!(printed.contains(expected), "{expected}: {printed}");
    }
}

/// Finding 12: `Host: evil.example` put that host in a feed's links.
#[test]
fn feed_links_come_from_the_configuration_not_the_request() {
    let daemon = Daemon::start_configured(common::tempdir(), |config| {
        format!("{config}  web:\n    public_url: https://waakvlam.deventer.example\n")
    });
    let mut visitor = Visitor::signed_in(&daemon, DEVENTER);
    let made = make_feed(&mut visitor);
    assert!(
        made.body
            .contains("https://waakvlam.deventer.example/agenda/"),
        "{}",
        made.body
    );
    let feed = feed_path(&made.body);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let complaint = json!({"id": "e-1", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-1",
        "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}});
    assert_eq!(daemon.post_events(DEVENTER, &complaint.to_string()).0, 200);
    let mut answer = agent
        .get(&format!("{}{feed}", daemon.base))
        .header("Host", "evil.example")
        .call()
        .unwrap();
    let feed = answer.body_mut().read_to_string().unwrap();
    assert!(
        feed.contains("URL:https://waakvlam.deventer.example/casus/GM0150/C-1"),
        "{feed}"
    );
    assert!(!feed.contains("evil.example"), "{feed}");
    daemon.stop();
}

/// Finding 13: any token holder could write any employee's name into the audit log.
#[test]
fn only_a_trusted_sender_names_the_person_it_acts_for() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for (token, case) in [(DEVENTER, "C-1"), (APELDOORN, "A-1")] {
        let gemeente = if token == DEVENTER {
            "GM0150"
        } else {
            "GM0200"
        };
        let event = json!({"id": format!("e-{case}"), "type": "klacht.ingediend", "gemeente": gemeente, "case": case,
            "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}});
        let answer = agent
            .post(&format!("{}/v1/events", daemon.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("X-On-Behalf-Of", "medewerker-99")
            .header("Content-Type", "application/json")
            .send(&event.to_string())
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
    }
    let dir = daemon.stop();
    let lines: Vec<Value> = common::operator_audit(&dir.join("waakvlam.yaml"))
        .into_iter()
        .filter(|l: &Value| l["action"] == "events.write")
        .collect();
    let by =
        |token: &str| lines.iter().find(|l| l["token"] == token).unwrap()["on_behalf_of"].clone();
    assert_eq!(by("deventer"), "medewerker-99");
    assert_eq!(by("apeldoorn"), Value::Null);
}

/// Finding 9: a field that a spreadsheet reads as a formula after a tab went out as one. Tabs
/// and carriage returns no longer get into a case id at all (finding 2); a formula after
/// spaces, or at the very start, goes out as text.
#[test]
fn the_deadlines_csv_holds_no_formula() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    for (id, case) in [("e-1", " =1+2"), ("e-2", "@SUM(A1)"), ("e-3", "\t=1+2")] {
        let complaint = json!({"id": id, "type": "klacht.ingediend", "gemeente": "GM0150", "case": case,
            "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}});
        let (status, _) = daemon.post_events(DEVENTER, &complaint.to_string());
        assert_eq!(
            status,
            if case.starts_with('\t') { 400 } else { 200 },
            "{case:?}"
        );
    }
    let mut visitor = Visitor::signed_in(&daemon, DEVENTER);
    let csv = visitor.get("/termijnen.csv").body;
    let cases: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(';').nth(2))
        .collect();
    assert_eq!(
        cases,
        std::collections::BTreeSet::from(["' =1+2", "'@SUM(A1)"]),
        "{csv}"
    );
    daemon.stop();
}

/// The status of a request with a body of `length` bytes, read while the body is written by
/// another thread (whose write may fail once the daemon has answered and closed).
fn sent_while_reading(daemon: &Daemon, path: &str, length: usize) -> u16 {
    use std::io::{Read, Write};
    let address = daemon.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {READ_ONLY}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&vec![b' '; length]);
    });
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).unwrap();
    let _ = sending.join();
    String::from_utf8_lossy(&answer[9..12]).parse().unwrap()
}
