//! iJw intake end to end (issue 12): JW305 and JW307 made by the tests themselves (never real
//! data) through `POST /v1/ijw` and the inbox of a real daemon on loopback, `simulate --ijw`
//! and `waakvlam pseudonym`; bad and hostile messages; and, after each daemon, a scan of
//! everything it wrote for the BSNs and names the messages held.

mod common;

use common::daemon::{APELDOORN, DEVENTER, Daemon, REGION, wait_for};
use common::waakvlam;
use serde_json::Value;
use waakvlam_core::ijw::sample::{Sample, Shape, bsn};

/// Names in the made-up messages: none may be found anywhere the daemon writes.
const NAMES: [&str; 2] = ["Jansen", "Pieter"];

/// A Deventer young person born 10 February 2011, in care from 1 March 2027: 16 when care
/// starts, so the toekomstplan starts with it.
fn start(identificatie: &str, n: u32) -> Sample {
    let mut sample = Sample::start(identificatie, "0150", &bsn(n), "2011-02-10", "2027-03-01");
    sample.dagtekening = "2027-03-02".into();
    sample
}

/// Every file under `dir`, and the daemon's log, hold none of `secrets`.
fn assert_nothing_personal(daemon: &Daemon, secrets: &[String]) {
    let mut places = vec![(
        "the daemon's log".to_string(),
        daemon.log_text().into_bytes(),
    )];
    let mut stack = vec![daemon.dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                // Everything: the store, its WAL, the logs, the answers, and the inbox, which
                // keeps no original once it is answered.
                places.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut checked = 0;
    for (place, bytes) in &places {
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{place} holds '{}…'",
                &secret[..3]
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} places checked");
}

fn secrets(bsns: &[u32]) -> Vec<String> {
    bsns.iter()
        .map(|n| bsn(*n))
        .chain(NAMES.iter().map(|n| n.to_string()))
        .collect()
}

fn case_of(answer: &Value) -> String {
    answer["case"].as_str().expect("a case id").to_string()
}

/// A start, its retry, a reused Identificatie, a stop according to plan, and a delete: each
/// answered per product with its WJ001 code; the deadlines follow; nothing personal is kept.
#[test]
fn messages_become_care_starts_and_stops_of_a_pseudonymous_case() {
    let daemon = Daemon::start();
    daemon.advance("2027-03-02T10:00:00+01:00");
    let first = start("A1", 1);
    let (status, answer) = daemon.post_ijw(DEVENTER, &first.xml());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["products"][0]["status"], "accepted");
    assert_eq!(answer["products"][0]["retourcode"], "0200");
    let case = case_of(&answer);
    assert!(case.starts_with("P-"), "{case}");

    // The case knows its birth date and is in care: the toekomstplan at 16 is open.
    let (_, seen) = daemon.request("GET", &format!("/v1/cases/{case}"), Some(DEVENTER), None);
    let types: Vec<&str> = seen["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["casus.aangemeld", "zorg.gestart"], "{seen}");
    assert!(
        seen["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["workflow"] == "toekomstplan-16"),
        "{seen}"
    );

    let (status, again) = daemon.post_ijw(DEVENTER, &first.xml());
    assert_eq!(status, 200);
    assert_eq!(again["products"][0]["status"], "duplicate");
    assert_eq!(again["products"][0]["retourcode"], "9074");

    let mut reused = first.clone();
    reused.products[0].begindatum = "2027-03-08".into();
    let (_, refused) = daemon.post_ijw(DEVENTER, &reused.xml());
    assert_eq!(refused["products"][0]["status"], "refused");
    assert_eq!(refused["products"][0]["retourcode"], "9056");

    // The provider deletes the start: the case is as if care never started.
    let mut delete = first.clone();
    delete.identificatie = "A2".into();
    delete.dagtekening = "2027-03-05".into();
    delete.products[0].status = "3".into();
    daemon.advance("2027-03-05T10:00:00+01:00");
    let (_, deleted) = daemon.post_ijw(DEVENTER, &delete.xml());
    assert_eq!(deleted["products"][0]["status"], "accepted", "{deleted}");
    assert_eq!(case_of(&deleted), case);
    let (_, seen) = daemon.request("GET", &format!("/v1/cases/{case}"), Some(DEVENTER), None);
    assert!(
        seen["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["workflow"] != "toekomstplan-16" || d["status"] != "open"),
        "{seen}"
    );

    // Another young person (Apeldoorn) stops according to plan: nazorg starts.
    let other = Sample::start("B1", "0200", &bsn(2), "2009-01-15", "2026-01-05");
    let stop = Sample::stop(&other, "B2", "2027-03-04", "31");
    let (status, stopped) = daemon.post_ijw(REGION, &stop.xml());
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["products"][0]["status"], "accepted");
    // No start was received for it: taken all the same, and said so.
    assert_eq!(stopped["products"][0]["retourcode"], "9069");
    let (_, seen) = daemon.request(
        "GET",
        &format!("/v1/cases/{}", case_of(&stopped)),
        Some(APELDOORN),
        None,
    );
    assert!(
        seen["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["workflow"] == "nazorg"),
        "{seen}"
    );

    let (_, metrics) = daemon.request("GET", "/metrics", Some(DEVENTER), None);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("waakvlam_ijw_messages_total{outcome=\"taken\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("waakvlam_ijw_products_total{outcome=\"duplicate\"} 1"),
        "{metrics}"
    );
    assert_nothing_personal(&daemon, &secrets(&[1, 2]));
    daemon.stop();
}

/// Bad and hostile messages are refused whole with every problem and its path (400), a
/// message for a gemeente outside the token is 403 with nothing stored, a billion laughs is
/// refused unread, and 50 MiB is refused by size.
#[test]
fn bad_and_hostile_messages_are_refused_with_their_reasons() {
    let daemon = Daemon::start();
    daemon.advance("2027-03-02T10:00:00+01:00");
    let wrong_code = start("C1", 3).xml().replace(
        "<jw305:BerichtCode>438</jw305:BerichtCode>",
        "<jw305:BerichtCode>436</jw305:BerichtCode>",
    );
    let (status, answer) = daemon.post_ijw(DEVENTER, &wrong_code);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["retourcode"], "0001");
    assert_eq!(answer["problems"][0]["path"], "Bericht/Header/BerichtCode");

    let missing = start("C2", 3)
        .xml()
        .replace("<jw305:Begindatum>2027-03-01</jw305:Begindatum>", "");
    let (status, answer) = daemon.post_ijw(DEVENTER, &missing);
    assert_eq!(status, 400);
    assert_eq!(
        answer["problems"][0]["path"],
        "Bericht/Client/StartProducten/StartProduct[1]/Begindatum"
    );

    let mut invalid = start("C3", 3);
    invalid.bsn = "123456789".into();
    let (status, answer) = daemon.post_ijw(DEVENTER, &invalid.xml());
    assert_eq!(status, 400);
    assert_eq!(answer["problems"][0]["path"], "Bericht/Client/Bsn");
    assert!(!answer.to_string().contains("123456789"));

    // Deventer's token, a message for Apeldoorn: refused, nothing stored.
    let elsewhere = Sample::start("C4", "0200", &bsn(4), "2011-05-10", "2027-03-01");
    let (status, answer) = daemon.post_ijw(DEVENTER, &elsewhere.xml());
    assert_eq!(status, 403, "{answer}");
    let (_, listed) = daemon.request(
        "GET",
        "/v1/deadlines?gemeente=GM0200",
        Some(APELDOORN),
        None,
    );
    assert_eq!(listed["deadlines"], serde_json::json!([]), "{listed}");

    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol9 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><Bericht>&lol9;</Bericht>"#;
    let (status, answer) = daemon.post_ijw(DEVENTER, laughs);
    assert_eq!(status, 400);
    assert!(
        answer["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("has a DTD")
    );

    // Over 1 MiB: refused by its size (a 50 MiB file goes through the inbox test).
    let big = format!(
        "{}<!--{}-->",
        start("C5", 5).xml(),
        "x".repeat(2 * 1024 * 1024)
    );
    let (status, answer) = daemon.post_ijw(DEVENTER, &big);
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer.to_string().contains("at most 1048576 bytes (1 MiB)"),
        "{answer}"
    );

    let (status, _) = daemon.request(
        "POST",
        "/v1/ijw",
        Some(DEVENTER),
        Some(&start("C6", 6).xml()),
    );
    assert_eq!(status, 415, "JSON content type refused");
    let (status, _) = daemon.post_ijw(common::daemon::READ_ONLY, &start("C7", 7).xml());
    assert_eq!(status, 403, "a read-only token writes nothing");

    assert_nothing_personal(&daemon, &secrets(&[3, 4, 5, 6, 7]));
    daemon.stop();
}

/// The inbox: a valid message goes to `processed/`; a broken one, one for a gemeente the
/// configuration does not know and a 50 MiB file (refused unread) to `refused/`; each with
/// its answer beside it.
#[test]
fn the_inbox_takes_files_and_answers_beside_them() {
    let daemon = Daemon::start();
    daemon.advance("2027-03-02T10:00:00+01:00");
    let inbox = daemon.dir.join("data/ijw-inbox");
    wait_for(20, "the inbox", || inbox.join("processed").is_dir());
    std::fs::write(inbox.join("a.xml"), start("D1", 8).xml()).unwrap();
    std::fs::write(inbox.join("b.xml"), "<Bericht>niet af").unwrap();
    let unknown = Sample::start("D2", "0363", &bsn(9), "2011-05-10", "2027-03-01");
    std::fs::write(inbox.join("c.xml"), unknown.xml()).unwrap();
    let huge = format!(
        "{}<!--{}-->",
        start("D3", 10).xml(),
        "x".repeat(50 * 1024 * 1024)
    );
    std::fs::write(inbox.join("d.xml"), huge).unwrap();
    wait_for(20, "the four files to be handled", || {
        [
            "processed/a.json",
            "refused/b.json",
            "refused/c.json",
            "refused/d.json",
        ]
        .iter()
        .all(|f| inbox.join(f).exists())
    });
    // Answered, the original is gone: it holds a BSN, a name and a birth date.
    assert!(!inbox.join("processed/a.xml").exists() && !inbox.join("a.xml").exists());
    let answer: Value =
        serde_json::from_slice(&std::fs::read(inbox.join("processed/a.json")).unwrap()).unwrap();
    assert_eq!(answer["products"][0]["status"], "accepted", "{answer}");
    let broken: Value =
        serde_json::from_slice(&std::fs::read(inbox.join("refused/b.json")).unwrap()).unwrap();
    assert!(
        broken["problems"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("not well-formed XML"),
        "{broken}"
    );
    let unknown: Value =
        serde_json::from_slice(&std::fs::read(inbox.join("refused/c.json")).unwrap()).unwrap();
    assert_eq!(unknown["problems"][0]["path"], "Bericht/Header/Ontvanger");
    let huge: Value =
        serde_json::from_slice(&std::fs::read(inbox.join("refused/d.json")).unwrap()).unwrap();
    assert!(huge.to_string().contains("so it was not read"), "{huge}");
    let (_, seen) = daemon.request(
        "GET",
        &format!("/v1/cases/{}", case_of(&answer)),
        Some(DEVENTER),
        None,
    );
    assert_eq!(seen["events"].as_array().unwrap().len(), 2, "{seen}");

    // Staff find the case from the BSN; the lookup is in the audit log with who asked.
    let config = daemon.dir.join("waakvlam.yaml");
    let out = waakvlam(
        &[
            "pseudonym",
            "--config",
            config.to_str().unwrap(),
            "--on-behalf-of",
            "medewerker-17",
            "--gemeente",
            "GM0150",
        ],
        Some(&format!("{}\n", bsn(8))),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        case_of(&answer)
    );
    let (_, audit) = daemon.request(
        "GET",
        "/v1/audit?from=2000-01-01&to=2100-01-01",
        Some(common::daemon::PRIVACY),
        None,
    );
    assert!(
        audit.to_string().contains("pseudonym.lookup")
            && audit.to_string().contains("medewerker-17"),
        "{audit}"
    );
    assert_nothing_personal(&daemon, &secrets(&[8, 9, 10]));
    daemon.stop();
}

/// A production daemon refuses the development secret of README.md.
#[test]
fn a_production_daemon_refuses_the_development_secret() {
    let dir = common::config_dir(|shipped| {
        common::replace_once(&shipped, "  production: false\n", "  production: true\n")
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_waakvlam"))
        .args(["check", "--config"])
        .arg(dir.join("waakvlam.yaml"))
        .env(
            "WAAKVLAM_PSEUDONIEM_GEHEIM",
            waakvlam::config::DEVELOPMENT_PSEUDONYM_SECRET,
        )
        .output()
        .unwrap();
    let printed =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("WAAKVLAM_PSEUDONIEM_GEHEIM holds the development secret of README.md; a production daemon refuses it"),
        "{printed}"
    );
}

/// The case id README.md shows for its example BSN is the one the development secret gives.
#[test]
fn the_readme_shows_the_case_id_of_its_example() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let bsn = waakvlam_core::ijw::Bsn::parse("111222333").unwrap();
    let id = waakvlam_core::ijw::pseudonym::case_id(
        waakvlam::config::DEVELOPMENT_PSEUDONYM_SECRET.as_bytes(),
        &bsn,
    );
    assert!(
        readme.contains(&format!("--on-behalf-of medewerker-17\n{id}\n")),
        "README.md should show {id}"
    );
    assert!(readme.contains(waakvlam::config::DEVELOPMENT_PSEUDONYM_SECRET));
}

/// `simulate --ijw` reads a folder as the daemon's intake does: the start at 15 and the stop
/// according to plan make the toekomstplan at 16 and then nazorg.
#[test]
fn simulate_reads_a_folder_of_messages() {
    let dir = common::tempdir();
    let first = start("E1", 10);
    std::fs::write(dir.join("1.xml"), first.xml()).unwrap();
    std::fs::write(
        dir.join("2.xml"),
        Sample::stop(&first, "E2", "2027-10-01", "31").xml(),
    )
    .unwrap();
    std::fs::write(dir.join("3.xml"), "<Bericht/>").unwrap();
    // Another young person whose birth day is unknown (DatumGebruik 1): the case says so.
    let mut partial = Sample::start("F1", "0150", &bsn(11), "2011-02-10", "2027-03-01");
    partial.datum_gebruik = Some("1".into());
    std::fs::write(dir.join("4.xml"), partial.xml()).unwrap();
    let out = waakvlam(
        &[
            "simulate",
            "--ijw",
            dir.to_str().unwrap(),
            "--until",
            "2028-06-30",
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refused message fails the run: {stderr}"
    );
    assert!(
        stderr.contains("3.xml: Bericht: the namespace is ''"),
        "{stderr}"
    );
    let workflows: std::collections::BTreeSet<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["workflow"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        workflows.contains("toekomstplan-16") && workflows.contains("nazorg"),
        "{workflows:?}"
    );
    assert!(
        stdout.contains("\"deadline\":\"geboortedatum_onvolledig\""),
        "{stdout}"
    );
    assert!(!stdout.contains(&bsn(10)) && !stdout.contains("Jansen"));
}

/// Regression (issue 26): a message in the shape of the published XSDs was refused whole
/// (the basisschema's elements are in its own namespace). Messages with the prefixes of the
/// published examples, other prefixes and a default namespace are all taken, by `POST /v1/ijw`
/// and from the inbox; one with an element in another namespace is refused with its path.
#[test]
fn real_shaped_messages_are_taken_whatever_their_prefixes() {
    let daemon = Daemon::start();
    daemon.advance("2027-03-02T10:00:00+01:00");
    let shapes = [
        Shape::Prefixed {
            message: "jw305",
            basis: "ijw",
        },
        Shape::Prefixed {
            message: "ns1",
            basis: "ns2",
        },
        Shape::Default,
    ];
    for (n, shape) in shapes.into_iter().enumerate() {
        let xml = start(&format!("R{n}"), 30 + n as u32).xml_in(shape);
        let (status, answer) = daemon.post_ijw(DEVENTER, &xml);
        assert_eq!(status, 200, "{answer}\n{xml}");
        assert_eq!(answer["products"][0]["status"], "accepted", "{answer}");
    }
    let inbox = daemon.dir.join("data/ijw-inbox");
    wait_for(20, "the inbox", || inbox.join("processed").is_dir());
    let stop = Sample::stop(&start("R0", 30), "R9", "2027-09-01", "31");
    std::fs::write(
        inbox.join("r9.xml"),
        stop.xml_in(Shape::Prefixed {
            message: "jw307",
            basis: "ijw",
        }),
    )
    .unwrap();
    wait_for(20, "the answer", || {
        inbox.join("processed/r9.json").exists()
    });
    let answer: Value =
        serde_json::from_slice(&std::fs::read(inbox.join("processed/r9.json")).unwrap()).unwrap();
    assert_eq!(answer["products"][0]["status"], "accepted", "{answer}");

    let misplaced = start("R5", 35).xml().replace(
        "<ijw:Dagtekening>2027-03-02</ijw:Dagtekening>",
        "<jw305:Dagtekening>2027-03-02</jw305:Dagtekening>",
    );
    let (status, answer) = daemon.post_ijw(DEVENTER, &misplaced);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["problems"][0]["path"],
        "Bericht/Header/BerichtIdentificatie/Dagtekening"
    );
    daemon.stop();
}

/// README's example message is a made-up message of the tests, as they write it, and reads.
#[test]
fn the_readme_shows_a_real_shaped_message() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let start_at = readme.find("```xml\n").expect("an XML example") + "```xml\n".len();
    let shown = &readme[start_at..start_at + readme[start_at..].find("```").unwrap()];
    let written = start("A1", 0).xml();
    let written = written.split_once('\n').unwrap().1;
    assert_eq!(shown, written);
    let read = waakvlam_core::ijw::read::read(shown.as_bytes()).expect("the example reads");
    assert_eq!(read.message.gemeente, "GM0150");
}
