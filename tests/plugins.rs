//! The gemeente plugins: each policy end to end (through the simulator's engine and through
//! the daemon), broken plugins isolated, and a gemeente without a plugin on the defaults.

mod common;

use common::{event, shipped_engine, simulate_with, summary};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use waakvlam::config::Config;
use waakvlam_plugin_host::PluginConfig;
use waakvlam_plugin_host::{LoadError, Registry};

fn lines(events: &[String]) -> String {
    events.join("\n")
}

fn dues(n: &[Value], deadline: &str) -> Vec<String> {
    let mut dues: Vec<String> = n
        .iter()
        .filter(|x| x["deadline"] == deadline)
        .filter_map(|x| x["due"].as_str().map(str::to_string))
        .collect();
    dues.dedup();
    dues
}

fn library(name: &str) -> std::path::PathBuf {
    common::ensure_plugins();
    // Beside this test binary's directory (target/<profile>/deps), wherever the target
    // directory is: cargo puts the plugins it built one level up.
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join(format!("lib{name}.so"))
}

fn plugin(gemeente: &str, name: &str) -> PluginConfig {
    PluginConfig {
        gemeente: gemeente.into(),
        library: library(name),
        sha256: None,
        settings: Value::Null,
        timeout_ms: 300,
        retry_after_ms: 30_000,
        searched: Vec::new(),
    }
}

/// The shipped configuration with one plugin in place of the shipped ones.
fn engine_with(
    plugins: Vec<PluginConfig>,
) -> (
    waakvlam_core::engine::Engine,
    Option<std::sync::Arc<Registry>>,
) {
    let config = Config::load(&common::root().join("config/waakvlam.yaml")).unwrap();
    let workflows = waakvlam_core::workflow::load(&[common::root().join("workflows")]).unwrap();
    let registry = Registry::start(&plugins);
    (config.engine_with(workflows, registry.clone()), registry)
}

fn care_ended(case: &str, gemeente: &str, data: &str) -> String {
    event(
        &format!("{case}-e"),
        "zorg.beeindigd",
        gemeente,
        case,
        "2027-02-01T15:00:00+01:00",
        data,
    )
}

// ---- Haaksbergen ----------------------------------------------------------------------------

/// Every closed case is followed for 5 years with a contact every half year; a high relapse
/// risk gets waakvlambegeleiding (every 3 months, 7 years) and the regisseur hears of it.
#[test]
fn haaksbergen_follows_closed_cases_five_years_and_high_risk_more_closely() {
    let engine = shipped_engine();
    let normal = simulate_with(
        &engine,
        &care_ended("H-1", "GM0158", r#"{"reden":"31"}"#),
        "2033-12-31",
    );
    let contacts = dues(&normal, "contact");
    assert_eq!(
        (
            contacts.len(),
            contacts.first().map(String::as_str),
            contacts.last().map(String::as_str)
        ),
        (10, Some("2027-08-01"), Some("2032-02-01"))
    );

    let high = simulate_with(
        &engine,
        &care_ended("H-2", "GM0158", r#"{"reden":"31","risico":"hoog"}"#),
        "2035-12-31",
    );
    let contacts = dues(&high, "contact");
    assert_eq!(
        (
            contacts.len(),
            contacts.first().map(String::as_str),
            contacts.last().map(String::as_str)
        ),
        (28, Some("2027-05-01"), Some("2034-02-01"))
    );
    assert_eq!(
        summary(&high)[0],
        "2027-02-01T15:00:00+01:00 signal 0 plugin/waakvlambegeleiding due - to regisseur"
    );
}

// ---- Deventer -------------------------------------------------------------------------------

/// A change of care while a complaint is open is a signal to the complaints officer and the
/// gezinscoach; the same change without an open complaint is not.
#[test]
fn deventer_signals_a_change_of_care_during_an_open_complaint() {
    let engine = shipped_engine();
    let complaint = event(
        "k-1",
        "klacht.ingediend",
        "GM0150",
        "C-1",
        "2027-04-13T10:15:00+02:00",
        r#"{"klacht_id":"K-9"}"#,
    );
    let care = event(
        "z-1",
        "zorg.gestart",
        "GM0150",
        "C-1",
        "2027-04-20T11:00:00+02:00",
        "{}",
    );
    let n = simulate_with(
        &engine,
        &lines(&[complaint.clone(), care.clone()]),
        "2027-04-20",
    );
    let signals: Vec<&Value> = n.iter().filter(|x| x["kind"] == "signal").collect();
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0]["deadline"], "zorgwijziging_tijdens_klacht");
    assert_eq!(
        signals[0]["to"],
        json!(["klachtenfunctionaris", "gezinscoach"])
    );
    assert_eq!(signals[0]["at"], "2027-04-20T11:00:00+02:00");
    assert!(
        signals[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Bij casus C-1 is nieuwe zorg gestart terwijl er een klacht loopt.")
    );

    let finished = event(
        "k-2",
        "klacht.afgerond",
        "GM0150",
        "C-1",
        "2027-04-15T10:00:00+02:00",
        r#"{"klacht_id":"K-9"}"#,
    );
    let n = simulate_with(&engine, &lines(&[complaint, finished, care]), "2027-04-20");
    assert!(n.iter().all(|x| x["kind"] != "signal"), "{:?}", summary(&n));
}

// ---- Apeldoorn ------------------------------------------------------------------------------

/// "In het 16de levensjaar": the plan starts at 15, the CJG contact hears of it at once, and
/// an overdue plan reaches the Zorgregio's account manager.
#[test]
fn apeldoorn_starts_the_toekomstplan_in_the_16th_year_and_escalates_to_the_account_manager() {
    let engine = shipped_engine();
    let events = lines(&[
        event(
            "a-1",
            "casus.aangemeld",
            "GM0200",
            "A-1",
            "2025-01-06T09:00:00+01:00",
            r#"{"geboortedatum":"2011-03-10"}"#,
        ),
        event(
            "a-2",
            "zorg.gestart",
            "GM0200",
            "A-1",
            "2025-01-06T10:00:00+01:00",
            "{}",
        ),
    ]);
    let n = simulate_with(&engine, &events, "2026-07-01");
    let s = summary(&n);
    assert_eq!(
        s[0],
        "2026-03-10T00:00:00+01:00 signal 0 plugin/toekomstplan_gestart due - to cjg_contact"
    );
    assert_eq!(dues(&n, "toekomstplan"), ["2026-06-10"]);
    assert!(s.contains(&"2026-06-25T09:00:00+02:00 escalation 2 toekomstplan-16/toekomstplan due 2026-06-10 to accountmanager".to_string()), "{s:?}");
}

// ---- Dalfsen and a gemeente without a plugin --------------------------------------------------

/// Dalfsen follows the legal terms (no shorter local norm); a gemeente without a plugin
/// (Zwolle, GM0193) gets the workflow's defaults.
#[test]
fn dalfsen_follows_the_legal_terms_and_others_get_the_defaults() {
    let engine = shipped_engine();
    let complaint = |gemeente: &str| {
        event(
            "k-1",
            "klacht.ingediend",
            gemeente,
            "C-1",
            "2027-04-13T10:15:00+02:00",
            r#"{"klacht_id":"K-9"}"#,
        )
    };
    assert_eq!(
        dues(
            &simulate_with(&engine, &complaint("GM0148"), "2027-07-01"),
            "afgerond"
        ),
        ["2027-05-25"]
    );
    assert_eq!(
        dues(
            &simulate_with(&engine, &complaint("GM0193"), "2027-07-01"),
            "afgerond"
        ),
        ["2027-05-11"]
    );
}

/// In Dalfsen the complaint's streefdatum is its legal term, so both deadlines fall due on one
/// day and their reminders and escalations on one morning. Each person gets one message that
/// names both; the gemeente's contact, reached by the legal term alone, gets that one.
#[test]
fn in_dalfsen_each_person_gets_one_message_about_the_two_complaint_deadlines() {
    let engine = shipped_engine();
    let complaint = event(
        "k-1",
        "klacht.ingediend",
        "GM0148",
        "C-1",
        "2027-04-13T10:15:00+02:00",
        r#"{"klacht_id":"K-9"}"#,
    );
    let n = simulate_with(&engine, &complaint, "2027-07-01");
    let mut seen = std::collections::BTreeSet::new();
    for notification in &n {
        for role in notification["to"].as_array().unwrap() {
            let key = (
                notification["at"].to_string(),
                notification["due"].to_string(),
                role.to_string(),
            );
            assert!(
                seen.insert(key),
                "two messages to {role} on one morning: {n:#?}"
            );
        }
    }
    let on = |at: &str, role: &str| -> Vec<&str> {
        n.iter()
            .filter(|m| m["at"] == at && m["to"].as_array().unwrap().iter().any(|r| r == role))
            .map(|m| m["message"].as_str().unwrap())
            .collect()
    };
    // One task with two terms on one day: named once, by the stricter term (issue 28).
    assert_eq!(
        on("2027-05-18T09:00:00+02:00", "klachtenfunctionaris"),
        [
            "Casus C-1: Klacht afhandelen binnen de wettelijke termijn. Uiterlijk dinsdag 25 mei 2027, nog 7 dagen."
        ]
    );
    // The legal term's own escalation speaks for both: one order for today, not two.
    let leader = on("2027-05-26T09:00:00+02:00", "teamleider");
    assert_eq!(leader.len(), 1);
    assert!(
        leader[0].starts_with("De wettelijke termijn voor klacht K-9 van casus C-1 liep af")
            && leader[0].matches("vandaag").count() == 1,
        "{}",
        leader[0]
    );
    let contact = on("2027-05-26T09:00:00+02:00", "contactpersoon_gemeente");
    assert_eq!(contact.len(), 1);
    assert!(
        contact[0].starts_with("De wettelijke termijn voor klacht K-9"),
        "{}",
        contact[0]
    );
}

// ---- broken plugins -------------------------------------------------------------------------

fn nazorg_dues(engine: &waakvlam_core::engine::Engine) -> usize {
    dues(
        &simulate_with(
            engine,
            &care_ended("H-1", "GM0158", r#"{"reden":"31"}"#),
            "2033-12-31",
        ),
        "contact",
    )
    .len()
}

/// A plugin that panics or answers garbage: each call fails cleanly, is counted, the plugin is
/// put aside, and the workflow's defaults apply (two years of nazorg: 4 contacts).
#[test]
fn broken_plugins_are_put_aside_and_the_defaults_apply() {
    for name in ["faulty_panics", "faulty_garbage"] {
        // Not a test of time limits: a limit no busy machine misses, so that what puts the
        // plugin aside is its failures (a panic's backtrace once took over 300 ms here).
        let config = PluginConfig {
            timeout_ms: 60_000,
            ..plugin("GM0158", name)
        };
        let (engine, registry) = engine_with(vec![config]);
        let registry = registry.unwrap();
        assert_eq!(registry.loaded().count(), 1, "{name} loads");
        assert_eq!(nazorg_dues(&engine), 4, "{name}: the defaults");
        assert!(
            registry.failures.load(std::sync::atomic::Ordering::Relaxed) >= 1,
            "{name}: the failure is counted"
        );
        // Enough failures (or one time-out) put it aside.
        for _ in 0..3 {
            nazorg_dues(&engine);
        }
        let reason = registry
            .get("GM0158")
            .unwrap()
            .put_aside()
            .unwrap_or_else(|| panic!("{name} is put aside"));
        let expected = match name {
            "faulty_panics" => "the plugin panicked: deliberately, for the test",
            _ => "params returned malformed JSON",
        };
        assert!(reason.contains(expected), "{name}: {reason}");
    }
}

/// A plugin that hangs, called with several calls in one handoff: each call has its own time
/// limit; the one that hangs puts the plugin aside, it and the calls after it fail, the calls
/// before it keep their answers, and from then on the workflow's defaults apply.
/// (The only test in this process that loads this plugin: its hung call holds the library's
/// lock for 30 seconds, and a second load would wait for it.)
#[test]
fn a_hanging_plugin_is_put_aside_and_a_batch_stops_at_it() {
    let (engine, registry) = engine_with(vec![plugin("GM0158", "faulty_hangs")]);
    let registry = registry.unwrap();
    assert_eq!(registry.loaded().count(), 1);
    let null = serde_json::Value::Null;
    let start = serde_json::json!({"workflow": "nazorg", "data": {}});
    let started = std::time::Instant::now();
    let answers = registry.call_many(
        "GM0158",
        &[("identity", &null), ("params", &start), ("identity", &null)],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "waits for one time limit, not for the hung call"
    );
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].as_ref().unwrap()["name"], "Hangs");
    assert_eq!(answers[1..], [None, None]);
    let reason = registry.get("GM0158").unwrap().put_aside().unwrap();
    assert!(
        reason.contains("params did not answer within 300 ms"),
        "{reason}"
    );
    assert_eq!(
        registry.failures.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(nazorg_dues(&engine), 4, "the defaults");
}

/// A plugin of another ABI version, or whose checksum is not the pinned one, is not loaded:
/// the message says why, and the gemeente gets the defaults.
#[test]
fn plugins_are_checked_before_they_run() {
    let (registry, problems) = Registry::load(&[plugin("GM0158", "faulty_wrong_abi")]);
    assert_eq!(registry.loaded().count(), 0);
    assert!(
        matches!(
            &problems[0].1,
            LoadError::AbiVersion {
                found: 99,
                expected: 1,
                ..
            }
        ),
        "{problems:?}"
    );
    assert!(
        problems[0]
            .1
            .to_string()
            .ends_with("speaks plugin ABI version 99; this Waakvlam speaks 1")
    );

    let pinned = PluginConfig {
        sha256: Some("0".repeat(64)),
        ..plugin("GM0150", "waakvlam_deventer")
    };
    let (registry, problems) = Registry::load(&[pinned]);
    assert_eq!(registry.loaded().count(), 0);
    let message = problems[0].1.to_string();
    assert!(message.contains("the configuration pins 0000000000000000000000000000000000000000000000000000000000000000; refusing to load it"), "{message}");

    // The right pin loads.
    let bytes = std::fs::read(library("waakvlam_deventer")).unwrap();
    let digest: String =
        sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    let (registry, problems) = Registry::load(&[PluginConfig {
        sha256: Some(digest),
        ..plugin("GM0150", "waakvlam_deventer")
    }]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(registry.get("GM0150").unwrap().identity.name, "Deventer");

    // A plugin configured for another gemeente than its own.
    let (_, problems) = Registry::load(&[plugin("GM0200", "waakvlam_deventer")]);
    assert!(
        problems[0]
            .1
            .to_string()
            .ends_with("is the plugin of GM0150, configured for GM0200")
    );
}

/// Regression (security review, finding 14): the library was hashed from the bytes read, then
/// loaded again by its path, so a file swapped in between ran unchecked. Here the library is a
/// named pipe that hands out the pinned plugin once; a second open of the path (to load it)
/// would be seen by the pipe. The host loads the bytes it hashed, and opens the path once.
#[test]
fn a_plugin_is_loaded_from_the_bytes_that_were_hashed() {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bytes = std::fs::read(library("waakvlam_deventer")).unwrap();
    let digest: String =
        sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    let dir = common::tempdir();
    let pipe = dir.join("libwaakvlam_deventer.so");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(made.success());
    let loaded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (pipe, loaded) = (pipe.clone(), loaded.clone());
        std::thread::spawn(move || -> bool {
            // The first open: the host reads the pinned plugin.
            std::fs::OpenOptions::new()
                .write(true)
                .open(&pipe)
                .unwrap()
                .write_all(&bytes)
                .unwrap();
            // Until the host has closed its read end (this process's descriptors show it)...
            let open_here = || {
                std::fs::read_dir("/proc/self/fd").unwrap().any(|fd| {
                    std::fs::read_link(fd.unwrap().path()).is_ok_and(|target| target == pipe)
                })
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while open_here() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            // ...then any later open for reading would let a writer in (O_NONBLOCK: 0o4000).
            while !loaded.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(mut second) = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(0o4000)
                    .open(&pipe)
                {
                    let _ = second.write_all(b"not the pinned library");
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            false
        })
    };
    let (registry, problems) = Registry::load(&[PluginConfig {
        sha256: Some(digest),
        library: pipe.clone(),
        ..plugin("GM0150", "waakvlam_deventer")
    }]);
    loaded.store(true, std::sync::atomic::Ordering::SeqCst);
    let opened_again = writer.join().unwrap();
    assert!(
        !opened_again,
        "the library's path was opened again after it was hashed"
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(registry.get("GM0150").unwrap().identity.name, "Deventer");
}

// ---- through the daemon ---------------------------------------------------------------------

/// The daemon with the shipped plugins: Deventer's signal arrives; with a hanging plugin for
/// Haaksbergen instead, the daemon keeps answering and Haaksbergen gets the defaults.
#[test]
fn plugins_in_the_daemon() {
    use common::daemon::{DEVENTER, Daemon, wait_for};
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let complaint = json!({"id": "k-1", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-1", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}});
    let care = json!({"id": "z-1", "type": "zorg.gestart", "gemeente": "GM0150", "case": "C-1", "at": "2027-04-13T11:00:00+02:00"});
    assert_eq!(
        daemon
            .post_events(DEVENTER, &json!([complaint, care]).to_string())
            .0,
        200
    );
    wait_for(10, "the signal in the log", || {
        daemon
            .delivered()
            .iter()
            .any(|n| n["deadline"] == "zorgwijziging_tijdens_klacht")
    });
    daemon.stop();

    let hangs = library("faulty_hangs").display().to_string();
    let daemon = Daemon::start_configured(common::tempdir(), move |config| {
        common::replace_once(
            &config,
            "  - { gemeente: GM0158, library: libwaakvlam_haaksbergen.so, settings: plugins/haaksbergen.yaml }",
            &format!("  - {{ gemeente: GM0158, library: {hangs}, timeout_ms: 200 }}"),
        )
    });
    daemon.advance("2027-02-01T10:00:00+01:00");
    let token = "ontwikkel-haaksbergen";
    let ended = json!({"id": "h-1", "type": "zorg.beeindigd", "gemeente": "GM0158", "case": "H-1", "at": "2027-02-01T15:00:00+01:00", "data": {"reden": "31"}});
    assert_eq!(daemon.post_events(token, &ended.to_string()).0, 200);
    let (_, case) = daemon.request("GET", "/v1/cases/H-1", Some(token), None);
    assert_eq!(
        case["deadlines"][0]["due"], "2027-08-01",
        "the default interval of 6 months"
    );
    assert_eq!(daemon.request("GET", "/healthz", None, None).0, 200);
    let (_, metrics) = daemon.request("GET", "/metrics", Some(token), None);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("waakvlam_plugins_put_aside 1\n"),
        "{metrics}"
    );
    daemon.stop();
}

/// A plugin in C, built against the shipped header, loads and works like a Rust one.
#[test]
fn a_plugin_written_in_c_against_the_header() {
    let dir = common::tempdir();
    let library = dir.join("libzwolle.so");
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
        .arg(&library)
        .arg("-I")
        .arg(common::root().join("plugins/sdk/include"))
        .arg(common::root().join("tests/plugins/c/zwolle.c"))
        .status()
        .expect("a C compiler (cc) runs");
    assert!(built.success());
    let config = PluginConfig {
        library,
        ..plugin("GM0193", "waakvlam_deventer")
    };
    let (engine, registry) = engine_with(vec![config]);
    assert_eq!(
        registry.unwrap().get("GM0193").unwrap().identity.name,
        "Zwolle"
    );
    let n = simulate_with(
        &engine,
        &care_ended("Z-1", "GM0193", r#"{"reden":"31"}"#),
        "2031-12-31",
    );
    assert_eq!(
        dues(&n, "contact").last().map(String::as_str),
        Some("2030-02-01"),
        "three years of nazorg"
    );
}

/// Time waiting behind other callers is not the plugin's: 25 callers at once, behind a plugin
/// whose call takes 100 ms, wait up to 2.5 s in all; with a limit of 1.5 s counted on the
/// plugin's own thread, none of them fails and the plugin stays in use.
#[test]
fn calls_queued_behind_others_do_not_count_against_the_limit() {
    let config = PluginConfig {
        timeout_ms: 1500,
        ..plugin("GM0158", "faulty_slow")
    };
    let registry = Registry::start(&[config]).unwrap();
    let start = serde_json::json!({"workflow": "nazorg", "data": {}});
    std::thread::scope(|scope| {
        for _ in 0..25 {
            scope.spawn(|| {
                let answers = registry.call_many("GM0158", &[("params", &start)]);
                assert!(answers[0].is_some(), "answered");
            });
        }
    });
    assert_eq!(
        registry.failures.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(registry.get("GM0158").unwrap().put_aside(), None);
}

/// A plugin put aside is tried again after its wait (0 ms here; 30 s by default, doubling):
/// once it answers, it is back in use, and the recovery is counted.
#[test]
fn a_plugin_that_recovers_comes_back_after_its_wait() {
    let config = PluginConfig {
        timeout_ms: 60_000,
        retry_after_ms: 0,
        searched: Vec::new(),
        ..plugin("GM0158", "faulty_recovers")
    };
    let registry = Registry::start(&[config]).unwrap();
    let start = serde_json::json!({"workflow": "nazorg", "data": {}});
    for _ in 0..3 {
        assert_eq!(registry.call_many("GM0158", &[("params", &start)]), [None]);
    }
    let plugin = registry.get("GM0158").unwrap();
    let reason = plugin.put_aside().expect("put aside after three failures");
    assert!(reason.contains("the back end is down"), "{reason}");
    let answers = registry.call_many("GM0158", &[("params", &start)]);
    assert_eq!(
        answers[0].as_ref().unwrap(),
        &serde_json::json!({"looptijd": "5 years"})
    );
    assert_eq!(plugin.put_aside(), None, "back in use");
    assert_eq!(registry.recoveries(), 1);
}

/// A gemeente's own wording: a plugin that rewrites reminders gets the messages of a moment
/// of a case together (the contract's MessageContext), and what it leaves alone keeps the
/// workflow's text.
#[test]
fn a_plugin_words_reminders_and_leaves_the_rest() {
    let (engine, registry) = engine_with(vec![plugin("GM0150", "faulty_wording")]);
    assert_eq!(registry.unwrap().loaded().count(), 1);
    // Two complaints of one case on one day: their reminders go out together, as one message
    // (one message per person for the deadlines of one case due on one day).
    let events = ["K-1", "K-2"]
        .map(|klacht| {
            event(
                &format!("w-{klacht}"),
                "klacht.ingediend",
                "GM0150",
                "C-1",
                "2027-04-13T10:00:00+02:00",
                &format!(r#"{{"klacht_id":"{klacht}"}}"#),
            )
        })
        .join("\n");
    let sent = simulate_with(&engine, &events, "2027-04-28");
    let wording = |kind: &str| -> Vec<String> {
        sent.iter()
            .filter(|n| n["kind"] == kind && n["deadline"] == "in_behandeling")
            .map(|n| n["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        wording("reminder"),
        ["Deventer: in_behandeling van casus C-1 moet op 2027-04-27 klaar zijn."]
    );
    let escalations = wording("escalation");
    assert_eq!(escalations.len(), 1);
    assert!(
        escalations[0].contains("(K-1)") && escalations[0].contains("(K-2)"),
        "{escalations:?}"
    );
    assert!(
        escalations.iter().all(|m| !m.starts_with("Deventer:")),
        "{escalations:?}"
    );
}

/// The shipped configuration delivers everything it produces: every role a workflow or a
/// plugin signal addresses has e-mail addresses in every gemeente, for every workflow that
/// applies there (no dead letter for a missing address); and a role that means other people
/// per workflow gets the workflow's own (Deventer's team leader of Veilig Thuis is not the
/// team leader of the sociaal team).
#[test]
fn the_shipped_configuration_has_addresses_for_every_role_it_sends_to() {
    common::ensure_plugins();
    let root = common::root();
    let config = Config::load(&root.join("config/waakvlam.yaml")).unwrap();
    let workflows = waakvlam_core::workflow::load(&[root.join("workflows")]).unwrap();
    let registry = Registry::start(&config.plugins).expect("the shipped plugins load");
    // The roles the plugins' own signals address, per gemeente.
    let plugin_roles = |gemeente: &str| -> &[&str] {
        match gemeente {
            "GM0150" => &["klachtenfunctionaris", "gezinscoach"],
            "GM0200" => &["cjg_contact"],
            "GM0158" => &["regisseur"],
            _ => &[],
        }
    };
    let mut missing = Vec::new();
    for gemeente in config.core.gemeenten.keys() {
        for workflow in workflows
            .iter()
            .filter(|w| w.gemeenten.applies_to(gemeente))
        {
            // A role that only stands in for another in some gemeenten (`roles_in`) is
            // addressed only there.
            let stands_in = |role: &str, instead: &BTreeMap<String, String>| {
                instead.values().any(|r| r == role)
            };
            let mut roles: Vec<&str> = workflow
                .roles
                .keys()
                .map(String::as_str)
                .filter(|role| {
                    !workflow.roles_in.values().any(|i| stands_in(role, i))
                        || workflow
                            .roles_in
                            .get(gemeente)
                            .is_some_and(|i| stands_in(role, i))
                })
                .collect();
            roles.extend(plugin_roles(gemeente));
            for role in roles {
                let from_plugin = registry
                    .recipients(gemeente, &workflow.name, role)
                    .unwrap_or_default();
                let from_config = config
                    .recipients
                    .get(gemeente)
                    .and_then(|r| r.get(role))
                    .cloned()
                    .unwrap_or_default();
                if from_plugin.is_empty() && from_config.is_empty() {
                    missing.push(format!("{gemeente} {} {role}", workflow.name));
                }
            }
        }
    }
    assert!(missing.is_empty(), "no address for: {missing:#?}");
    assert_ne!(
        registry.recipients("GM0150", "veilig-thuis", "teamleider"),
        registry.recipients("GM0150", "klachttermijnen", "teamleider")
    );
}

/// A binary copied elsewhere (an install) finds its plugins in `plugins_dir`, or says every
/// place it looked in.
#[test]
fn plugins_are_looked_for_in_plugins_dir_then_next_to_the_binary() {
    common::ensure_plugins();
    let installed = common::tempdir();
    let binary = installed.join("waakvlam");
    std::fs::copy(env!("CARGO_BIN_EXE_waakvlam"), &binary).unwrap();
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_waakvlam"))
        .parent()
        .unwrap()
        .to_path_buf();
    let run = |config: &std::path::Path| {
        let out = std::process::Command::new(&binary)
            .args(["simulate", "--events"])
            .arg(common::root().join("examples/events.jsonl"))
            .args(["--until", "2026-07-01", "--workflows"])
            .arg(common::root().join("workflows"))
            .arg("--config")
            .arg(config)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let without = common::config_dir(|shipped| shipped);
    let stderr = run(&without.join("waakvlam.yaml"));
    assert!(
        stderr.contains(&format!(
            "libwaakvlam_deventer.so is not in any place a plugin is looked for: {}, {}",
            installed.join("libwaakvlam_deventer.so").display(),
            installed
                .parent()
                .unwrap()
                .join("libwaakvlam_deventer.so")
                .display()
        )),
        "{stderr}"
    );
    let with = common::config_dir(|shipped| format!("plugins_dir: {}\n{shipped}", built.display()));
    let stderr = run(&with.join("waakvlam.yaml"));
    assert!(!stderr.contains("plugin not loaded"), "{stderr}");
}
