//! Several daemons on PostgreSQL (DESIGN.md, "Several daemons"), against a real server
//! (Debian's `postgresql`, started by the tests on a temporary directory and a free loopback
//! port): the store contract, run against SQLite and PostgreSQL alike; failover with two and
//! three daemons under `kill -9`; a paused leader; `waakvlam migrate`.
//!
//! Where PostgreSQL is not installed these tests say so loudly and pass, unless
//! `WAAKVLAM_POSTGRES_TESTS=required` (set by `.ci/run`, which installs it).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::{DEVENTER, Daemon, wait_for};
use common::postgres::{PASSWORD, Postgres};
use common::receiver::{Answer, Received, receiver};
use jiff::Timestamp;
use serde_json::{Value, json};
use waakvlam::scope::Scope;
use waakvlam::store::{
    AuditEntry, AuditFilter, CaseKey, DeadlineRow, DeliveryStatus, Feed, Filter, Outgoing, PgStore,
    PgUrl, Route, SqliteStore, Status, Store,
};
use waakvlam_core::engine::DeadlineState;
use waakvlam_core::event::Event;

fn event(id: &str, gemeente: &str) -> Event {
    waakvlam_core::event::validate(
        json!({"id": id, "type": "klacht.ingediend", "gemeente": gemeente,
        "case": "C-1", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}}),
    )
    .unwrap()
}

/// A PostgreSQL store on a new database of `server`.
fn pg_store(server: &Postgres) -> PgStore {
    let url = PgUrl::parse(&server.database())
        .unwrap()
        .with_password(PASSWORD);
    PgStore::open(&url, "test", None).unwrap()
}

/// The contract both stores keep, in the order a batch uses them. (The SQLite store's own
/// unit tests keep what only it has: migrations from older files, damaged rows.)
fn contract<S: Store>(store: &mut S) {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    // Events: unique per gemeente and id.
    assert!(store.insert_event(&event("e-1", "GM0150"), now).unwrap());
    assert!(store.insert_event(&event("e-2", "GM0150"), now).unwrap());
    assert!(!store.insert_event(&event("e-1", "GM0150"), now).unwrap());
    assert!(
        store.insert_event(&event("e-1", "GM0200"), now).unwrap(),
        "ids are unique per sender"
    );
    let key = CaseKey::new("GM0150", "C-1");
    let events = store.events_of(&key).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], event("e-1", "GM0150"));
    assert_eq!(
        store.case_keys().unwrap(),
        [CaseKey::new("GM0150", "C-1"), CaseKey::new("GM0200", "C-1")]
    );
    assert_eq!(store.case_events(&key).unwrap()[1].id, "e-2");

    // A batch rolled back leaves nothing; a committed one everything.
    store.begin().unwrap();
    assert!(store.insert_event(&event("e-3", "GM0150"), now).unwrap());
    store.set_timer(&key, Some(now)).unwrap();
    store.abandon().unwrap();
    assert_eq!(store.events_of(&key).unwrap().len(), 2);
    assert!(store.timers().unwrap().due.is_empty());
    store.begin().unwrap();
    store.claim(std::slice::from_ref(&key)).unwrap();
    assert_eq!(store.events_of(&key).unwrap().len(), 2);
    assert!(store.insert_event(&event("e-3", "GM0150"), now).unwrap());
    store.set_timer(&key, Some(now)).unwrap();
    store.finish().unwrap();
    assert_eq!(store.events_of(&key).unwrap().len(), 3);
    assert_eq!(store.timers().unwrap().due, [(now, key.clone())]);
    assert_eq!(
        store.timers_of(std::slice::from_ref(&key)).unwrap(),
        [(key.clone(), Some(now))]
    );
    store.set_timer(&key, None).unwrap();
    assert!(store.timers().unwrap().due.is_empty());

    // A batch that looked its event ids up first: the same answers, and rolled back alike.
    for commit in [false, true] {
        store.begin().unwrap();
        store.claim(std::slice::from_ref(&key)).unwrap();
        store
            .look_up_events(&[("GM0150", "e-1"), ("GM0150", "e-4"), ("GM0150", "e-5")])
            .unwrap();
        assert!(!store.insert_event(&event("e-1", "GM0150"), now).unwrap());
        assert!(store.insert_event(&event("e-4", "GM0150"), now).unwrap());
        assert!(!store.insert_event(&event("e-4", "GM0150"), now).unwrap());
        assert!(store.insert_event(&event("e-5", "GM0150"), now).unwrap());
        assert_eq!(
            store.events_of(&key).unwrap().len(),
            5,
            "a read in the batch sees its events"
        );
        if commit {
            store.finish().unwrap();
        } else {
            store.abandon().unwrap();
            assert_eq!(store.events_of(&key).unwrap().len(), 3);
        }
    }
    assert_eq!(store.events_of(&key).unwrap().len(), 5);

    // Deadlines: replaced whole per case; queries never leave their scope.
    let row = |deadline: &str, due: &str, status: &str| DeadlineRow {
        instance: "klachttermijnen/GM0150/C-1/K-9".into(),
        workflow: "klachttermijnen".into(),
        gemeente: "GM0150".into(),
        case: "C-1".into(),
        deadline: deadline.into(),
        occurrence: 0,
        due: Some(due.parse().unwrap()),
        status: DeadlineState::named(status).unwrap(),
        met_at: (status == "met").then(|| "2027-04-20".parse().unwrap()),
        started: Some("2027-04-13".parse().unwrap()),
        calendar: None,
    };
    let stored = |store: &S| {
        let mut rows = store
            .deadlines(&Filter::within(Scope::one("GM0150"), 10))
            .unwrap();
        rows.sort_by(|a, b| a.deadline.cmp(&b.deadline));
        rows
    };
    let first = [
        row("afgehandeld", "2027-05-11", "open"),
        row("in_behandeling", "2027-04-27", "open"),
    ];
    store.put_deadlines(&key, &first).unwrap();
    assert_eq!(stored(store), first);
    let second = [
        row("in_behandeling", "2027-04-27", "met"),
        row("uitgesteld", "2027-06-08", "open"),
    ];
    store.put_deadlines(&key, &second).unwrap();
    assert_eq!(stored(store), second);
    store.put_deadlines(&key, &[]).unwrap();
    assert_eq!(stored(store), []);
    store.put_deadlines(&key, &second).unwrap();
    // Every due date, for a reload to say what moved; and the provisional ones.
    let every = store.every_due_date().unwrap();
    assert_eq!(every.len(), 2);
    assert_eq!(
        every[&(
            "klachttermijnen/GM0150/C-1/K-9".to_string(),
            "uitgesteld".to_string(),
            0
        )],
        Some("2027-06-08".parse().unwrap())
    );
    assert_eq!(store.provisional_deadlines().unwrap().open, 0);
    let provisional = DeadlineRow {
        calendar: Some(waakvlam_core::engine::CalendarMark::Provisional),
        ..row("bezwaar", "2029-02-01", "open")
    };
    let other = CaseKey::new("GM0150", "C-2");
    store
        .put_deadlines(
            &other,
            &[
                DeadlineRow {
                    case: "C-2".into(),
                    ..provisional.clone()
                },
                DeadlineRow {
                    case: "C-2".into(),
                    deadline: "later".into(),
                    due: Some("2029-03-01".parse().unwrap()),
                    ..provisional.clone()
                },
            ],
        )
        .unwrap();
    let counted = store.provisional_deadlines().unwrap();
    assert_eq!(
        (counted.open, counted.first_due),
        (2, Some("2029-02-01".parse().unwrap()))
    );
    store.put_deadlines(&other, &[]).unwrap();
    assert!(
        store
            .deadlines(&Filter::within(Scope::one("GM0200"), 10))
            .unwrap()
            .is_empty()
    );
    let open = Filter {
        status: Some(Status::Deadline(DeadlineState::Open)),
        today: Some("2027-05-01".parse().unwrap()),
        ..Filter::within(Scope::one("GM0150"), 10)
    };
    assert_eq!(
        store.deadlines(&open).unwrap(),
        [row("uitgesteld", "2027-06-08", "open")]
    );

    // Notifications: recorded once, delivered per channel, retried, then dead.
    let notification = waakvlam_core::engine::Notification {
        id: "n-1".into(),
        at: now,
        kind: waakvlam_core::engine::Kind::Reminder,
        workflow: "klachttermijnen".into(),
        instance: "i".into(),
        gemeente: "GM0150".into(),
        case: "C-1".into(),
        deadline: "in_behandeling".into(),
        due: None,
        to: vec!["teamleider".into()],
        level: 0,
        message: "m".into(),
        items: Vec::new(),
        report: None,
    };
    let outgoing = || {
        [Outgoing {
            notification: &notification,
            record: serde_json::to_string(&notification).unwrap(),
            channels: ["log", "webhook:a"]
                .map(|channel| Route {
                    channel: channel.into(),
                    not_before: now,
                })
                .to_vec(),
        }]
    };
    assert_eq!(store.record(&outgoing()).unwrap(), [true]);
    assert_eq!(store.record(&outgoing()).unwrap(), [false], "recorded once");
    let due = store.due("webhook:a", now, 10).unwrap().due;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].record, notification, "read back into its type");
    // A store of one daemon may send every due delivery; several claim under the lease.
    assert_eq!(
        store
            .claim_deliveries("webhook:a", &["n-1".to_string()])
            .unwrap(),
        ["n-1"]
    );
    assert_eq!(store.next_due("webhook:a").unwrap(), Some(now));
    store
        .delivered_all("log", &[("n-1".to_string(), now)])
        .unwrap();
    let later = Timestamp::from_second(now.as_second() + 60).unwrap();
    store
        .failed("n-1", "webhook:a", "connection refused", Some(later))
        .unwrap();
    assert!(store.due("webhook:a", now, 10).unwrap().due.is_empty());
    assert_eq!(
        store.due("webhook:a", later, 10).unwrap().due[0].attempts,
        1
    );
    let all = Filter::within(Scope::one("GM0150"), 10);
    assert_eq!(
        store.notifications(&all).unwrap()[0].status,
        DeliveryStatus::Pending
    );
    store
        .failed("n-1", "webhook:a", "connection refused", None)
        .unwrap();
    let dead = Filter {
        status: Some(Status::Delivery(DeliveryStatus::Dead)),
        ..all.clone()
    };
    let rows = store.notifications(&dead).unwrap();
    let webhook = &rows[0].deliveries[1];
    assert_eq!(
        (
            webhook.channel.as_str(),
            webhook.status.as_str(),
            webhook.attempts,
            webhook.last_error.as_deref()
        ),
        ("webhook:a", "dead", 2, Some("connection refused"))
    );
    // A settled delivery stays as it was (the log channel's recovery may name it again).
    store.delivered("n-1", "webhook:a", later).unwrap();
    store.delivered("n-1", "log", later).unwrap();
    let rows = store.notifications(&dead).unwrap();
    assert_eq!(
        (rows[0].deliveries[0].attempts, rows[0].deliveries[1].status),
        (1, DeliveryStatus::Dead)
    );
    assert_eq!(
        store.delivery_counts().unwrap(),
        [
            ("log".to_string(), "delivered".to_string(), 1),
            ("webhook:a".to_string(), "dead".to_string(), 1)
        ]
    );
    assert_eq!(
        store
            .send_again("n-1", &Scope::one("GM0200"), later)
            .unwrap(),
        Vec::<String>::new(),
        "not outside the scope"
    );
    assert_eq!(
        store
            .send_again("n-1", &Scope::one("GM0150"), later)
            .unwrap(),
        ["webhook:a"]
    );

    // The audit log, by period and scope.
    let entry = |at: &str, gemeente: &str| AuditEntry {
        at: at.into(),
        token: "t".into(),
        on_behalf_of: Some("medewerker-1".into()),
        action: "case.read".into(),
        gemeente: Some(gemeente.into()),
        case: Some("C-1".into()),
        outcome: "allowed".into(),
    };
    store
        .audit(&entry("2027-04-13T10:00:00Z", "GM0150"))
        .unwrap();
    store
        .audit(&entry("2027-04-14T10:00:00Z", "GM0150"))
        .unwrap();
    store
        .audit(&entry("2027-04-14T11:00:00Z", "GM0200"))
        .unwrap();
    let filter = AuditFilter {
        scope: Scope::one("GM0150"),
        unattributed: false,
        from: Some("2027-04-14".parse().unwrap()),
        to: Some("2027-04-14".parse().unwrap()),
        case: None,
        limit: 10,
        offset: 0,
    };
    assert_eq!(
        store.audit_log(&filter).unwrap(),
        [entry("2027-04-14T10:00:00Z", "GM0150")]
    );
    assert_eq!(store.forget_audit_before("2027-04-14").unwrap(), 1);

    // Calendar feeds: kept under the SHA-256 of their token, within a scope, revoked once.
    let feed = |name: &str, gemeenten: &[&str]| Feed {
        id: 0,
        name: name.into(),
        made_by: "deventer".into(),
        on_behalf_of: Some("medewerker-1".into()),
        gemeenten: Scope::new(gemeenten.iter().map(|g| g.to_string())).unwrap(),
        roles: vec!["regisseur".into()],
        created: "2027-04-13T10:00:00Z".into(),
        maker_sha256: Some("ab".repeat(32)),
    };
    let deventer = store
        .add_feed(&"01".repeat(32), &feed("regie", &["GM0150"]))
        .unwrap();
    let region = store
        .add_feed(&"02".repeat(32), &feed("regio", &["GM0150", "GM0200"]))
        .unwrap();
    assert_ne!(deventer, region);
    let names = |feeds: Vec<Feed>| feeds.into_iter().map(|f| f.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.feeds(&Scope::one("GM0150")).unwrap()),
        ["regie"]
    );
    let both = Scope::new(["GM0150".to_string(), "GM0200".to_string()]).unwrap();
    assert_eq!(
        names(store.feeds(&both).unwrap()),
        ["regio", "regie"],
        "newest first"
    );
    let found = store.feed_of_token(&"01".repeat(32)).unwrap().unwrap();
    assert_eq!(
        found,
        Feed {
            id: deventer,
            ..feed("regie", &["GM0150"])
        }
    );
    assert_eq!(store.feed_of_token(&"03".repeat(32)).unwrap(), None);
    assert!(
        !store
            .revoke_feed(region, &Scope::one("GM0150"), "2027-04-14T10:00:00Z")
            .unwrap(),
        "not a feed of this scope alone"
    );
    assert!(
        store
            .revoke_feed(deventer, &Scope::one("GM0150"), "2027-04-14T10:00:00Z")
            .unwrap()
    );
    assert!(
        !store
            .revoke_feed(deventer, &Scope::one("GM0150"), "2027-04-14T10:00:00Z")
            .unwrap()
    );
    assert_eq!(store.feed_of_token(&"01".repeat(32)).unwrap(), None);
    // A feed's deadlines: still to be met, of the pairs asked, within the scope, by due date.
    let pairs = [("klachttermijnen".to_string(), "uitgesteld".to_string())];
    let listed = store
        .feed_deadlines(&Scope::one("GM0150"), &pairs, 10)
        .unwrap();
    assert_eq!(listed, [row("uitgesteld", "2027-06-08", "open")]);
    assert!(
        store
            .feed_deadlines(&Scope::one("GM0200"), &pairs, 10)
            .unwrap()
            .is_empty()
    );

    // What the scheduler keeps besides.
    store.set_log_position("/var/log/n.jsonl", 42).unwrap();
    assert_eq!(
        store.log_position().unwrap(),
        Some(("/var/log/n.jsonl".into(), 42))
    );
    store.set_definitions("abc").unwrap();
    assert_eq!(store.definitions().unwrap().as_deref(), Some("abc"));
    store.set_virtual_now(now).unwrap();
    assert_eq!(store.virtual_now().unwrap(), Some(now));
    store
        .set_overview_done("weekoverzicht", "GM0150", now)
        .unwrap();
    assert_eq!(
        store.overview_done("weekoverzicht", "GM0150").unwrap(),
        Some(now)
    );
    store.set_ijw_product("k", Some("e-1")).unwrap();
    assert_eq!(store.ijw_product("k").unwrap().as_deref(), Some("e-1"));
    store.set_ijw_product("k", None).unwrap();
    assert_eq!(store.ijw_product("k").unwrap(), None);
    assert_eq!(store.ijw_message("GM0150/JW305/1").unwrap(), None);
    store.set_ijw_message("GM0150/JW305/1", "digest-1").unwrap();
    assert_eq!(
        store.ijw_message("GM0150/JW305/1").unwrap().as_deref(),
        Some("digest-1")
    );
    store.set_ijw_message("GM0150/JW305/1", "digest-2").unwrap();
    assert_eq!(
        store.ijw_message("GM0150/JW305/1").unwrap().as_deref(),
        Some("digest-2"),
        "the latest message under a key"
    );
}

#[test]
fn the_store_contract_holds_on_sqlite_and_on_postgres() {
    let dir = common::tempdir();
    let mut sqlite = SqliteStore::open(&dir.join("contract.db")).unwrap();
    assert!(!sqlite.shared(), "one daemon's own file");
    contract(&mut sqlite);
    let Some(server) = Postgres::start() else {
        return;
    };
    let mut postgres = pg_store(&server);
    assert!(postgres.shared(), "several daemons may write it");
    contract(&mut postgres);
}

/// One event id sent for two cases to two daemons at once: the case locks do not keep them
/// apart, so the batch that looked the id up first and wrote it last is not taken.
#[test]
fn a_batch_that_raced_another_daemon_for_an_event_id_is_not_taken() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let url = PgUrl::parse(&server.database())
        .unwrap()
        .with_password(PASSWORD);
    let (mut first, mut second) = (
        PgStore::open(&url, "first", None).unwrap(),
        PgStore::open(&url, "second", None).unwrap(),
    );
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let key = CaseKey::new("GM0150", "C-1");
    first.begin().unwrap();
    first.claim(std::slice::from_ref(&key)).unwrap();
    first.look_up_events(&[("GM0150", "e-1")]).unwrap();
    assert!(first.insert_event(&event("e-1", "GM0150"), now).unwrap());
    let mut other_case = event("e-1", "GM0150");
    other_case.case = "C-2".into();
    assert!(second.insert_event(&other_case, now).unwrap());
    let raced = first.finish().unwrap_err();
    assert!(
        raced.to_string().contains("another daemon stored"),
        "{raced}"
    );
    first.abandon().unwrap();
    assert!(first.events_of(&key).unwrap().is_empty());
    assert!(!first.insert_event(&event("e-1", "GM0150"), now).unwrap());
}

/// Complaints for cases `C-{from}..C-{to}` of Deventer, one event each.
fn complaints(from: usize, to: usize) -> String {
    let events: Vec<Value> = (from..to)
        .map(|n| {
            json!({"id": format!("e-{n}"), "type": "klacht.ingediend", "gemeente": "GM0150",
                   "case": format!("C-{n}"), "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-1"}})
        })
        .collect();
    Value::Array(events).to_string()
}

fn health(daemon: &Daemon) -> Value {
    daemon.request("GET", "/healthz", None, None).1
}

/// The webhook of the tests, for Deventer, on a real receiver that counts what arrives.
fn with_webhook(url: &str) -> String {
    format!(
        "  webhooks:\n    - {{ name: zaaksysteem, url: \"{url}\", secret: geheim, gemeenten: [GM0150], timeout_seconds: 2, max_attempts: 5 }}\n"
    )
}

/// A daemon on the PostgreSQL database `url`, with the password in the environment as
/// production would give it, and the tests' webhook to `webhook`.
fn on_postgres(url: &str, webhook: &str) -> Daemon {
    let (url, webhook) = (url.to_string(), with_webhook(webhook));
    Daemon::start_with_env(
        common::tempdir(),
        move |config| {
            let config = common::replace_once(
                &config,
                "database: data/waakvlam.db",
                &format!("database: {url}"),
            );
            format!("{config}{webhook}")
        },
        &[("PGPASSWORD", PASSWORD)],
    )
}

/// `n` daemons on one new database, each with its own directory and notifications log; the
/// first started leads.
fn daemons(server: &Postgres, n: usize, webhook: &str) -> Vec<Daemon> {
    let url = server.database();
    let started: Vec<Daemon> = (0..n).map(|_| on_postgres(&url, webhook)).collect();
    wait_for(15, "a leader", || health(&started[0])["leader"] == true);
    started
}

/// Whether the store holds no delivery still to make. Once it holds none, no daemon sends
/// anything again (a send needs a pending delivery, claimed), so what the receiver counted
/// then is final: no waiting a while to see whether a second copy comes.
fn all_settled(server: &Postgres, database: &str) -> bool {
    let mut client = postgres::Client::connect(
        &format!("postgres://postgres@127.0.0.1:{}/{database}", server.port),
        postgres::NoTls,
    )
    .unwrap();
    let pending: i64 = client
        .query_one(
            "SELECT count(*) FROM deliveries WHERE status = 'pending'",
            &[],
        )
        .unwrap()
        .get(0);
    pending == 0
}

/// The ids the receiver was sent, with how often each.
fn counted(received: &Arc<Mutex<Received>>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for body in &received.lock().unwrap().accepted {
        *counts
            .entry(body["id"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    counts
}

/// The events stored, by id, read straight from the database.
fn stored_event_ids(server: &Postgres, database: &str) -> HashSet<String> {
    let mut client = postgres::Client::connect(
        &format!("postgres://postgres@127.0.0.1:{}/{database}", server.port),
        postgres::NoTls,
    )
    .unwrap();
    client
        .query("SELECT id FROM events", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Posts complaints in arrays of 10 to every daemon in turn from `threads` threads until
/// `stop`; returns the event ids acknowledged as accepted.
fn post_concurrently(
    bases: Vec<String>,
    threads: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..threads)
        .map(|t| {
            let bases = bases.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(20)))
                    .build()
                    .into();
                let mut acknowledged = Vec::new();
                let mut round = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let from = (t * 1_000_000) + round * 10;
                    let base = &bases[round % bases.len()];
                    round += 1;
                    let answer = agent
                        .post(&format!("{base}/v1/events"))
                        .header("Authorization", &format!("Bearer {DEVENTER}"))
                        .header("Content-Type", "application/json")
                        .send(complaints(from, from + 10));
                    let Ok(mut answer) = answer else { continue };
                    if answer.status() != 200 {
                        continue;
                    }
                    let body: Value =
                        serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
                    for result in body["results"].as_array().unwrap() {
                        if result["status"] == "accepted" {
                            acknowledged.push(result["id"].as_str().unwrap().to_string());
                        }
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
                acknowledged
            })
        })
        .collect()
}

/// `kill -9` of the leader while events are posted to every daemon: another takes over within
/// 10 seconds, every acknowledged event is stored, and the reminders that fall due after the
/// takeover go out through the webhook once each.
fn fail_over(n: usize) {
    let Some(server) = Postgres::start() else {
        return;
    };
    let (url, received) = receiver(Vec::new(), "geheim");
    let mut running = daemons(&server, n, &url);
    let database = format!("waakvlam_{}", 0);
    for daemon in &running {
        daemon.advance("2027-04-13T10:00:00+02:00");
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bases: Vec<String> = running.iter().map(|d| d.base.clone()).collect();
    let posters = post_concurrently(bases, 3, stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    // Exactly one leads.
    let leaders: Vec<usize> = (0..n)
        .filter(|&i| health(&running[i])["leader"] == true)
        .collect();
    assert_eq!(leaders, [0], "the first daemon leads, alone");
    let killed_at = Instant::now();
    running.remove(0).kill_hard();
    let took_over = loop {
        if let Some(i) = (0..running.len()).find(|&i| health(&running[i])["leader"] == true) {
            break i;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(10),
            "no daemon took over within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let takeover = killed_at.elapsed();
    eprintln!("takeover after kill -9 with {n} daemons: {takeover:?}");
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acknowledged: Vec<String> = posters
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() > 100,
        "events were posted: {}",
        acknowledged.len()
    );
    let stored = stored_event_ids(&server, &database);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    // The first reminders fall due on 23 April at 09:00, after the takeover.
    for daemon in &running {
        daemon.advance("2027-04-24T10:00:00+02:00");
    }
    let cases = stored.len();
    eprintln!("{cases} cases, {} acknowledged", acknowledged.len());
    let deadline = Instant::now() + Duration::from_secs(120);
    while counted(&received).len() < cases {
        if Instant::now() > deadline {
            let mut client = postgres::Client::connect(
                &format!("postgres://postgres@127.0.0.1:{}/{database}", server.port),
                postgres::NoTls,
            )
            .unwrap();
            let summary: Vec<(String, String, i64)> = client
                .query(
                    "SELECT channel, status, count(*) FROM deliveries GROUP BY 1, 2",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            let timers: i64 = client
                .query_one("SELECT count(*) FROM timers", &[])
                .unwrap()
                .get(0);
            let missing: Vec<(String, i64, String)> = client
                .query("SELECT t.case_id, t.wake_ms, e.received_at FROM timers t JOIN events e ON e.case_id = t.case_id WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.case_id = t.case_id) ORDER BY 1", &[])
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            eprintln!("missing: {missing:?}");
            let log: Vec<String> = running.iter().map(|d| d.log_text()).collect();
            panic!(
                "{} of {cases} reminders arrived; deliveries {summary:?}; timers {timers}; logs of the daemons left: {}",
                counted(&received).len(),
                log.join("\n---\n")
                    .lines()
                    .filter(|l| !l.contains("\"plugin"))
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(30, "every delivery settled", || {
        all_settled(&server, &database)
    });
    let counts = counted(&received);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(counts.len(), cases, "one reminder per case");
    // Every daemon answers for the same deadlines.
    let (_, mine) =
        running[took_over].request("GET", "/v1/deadlines?limit=5", Some(DEVENTER), None);
    for daemon in &running {
        let (status, theirs) = daemon.request("GET", "/v1/deadlines?limit=5", Some(DEVENTER), None);
        assert_eq!((status, &theirs), (200, &mine));
    }
}

#[test]
fn two_daemons_fail_over_when_the_leader_is_killed() {
    fail_over(2);
}

#[test]
fn three_daemons_fail_over_when_the_leader_is_killed() {
    fail_over(3);
}

/// A leader paused past its lease (SIGSTOP) finds it gone when it resumes and sends nothing:
/// the reminders that fell due meanwhile go out once, through the daemon that took over.
#[test]
fn a_paused_leader_sends_nothing_after_it_resumes() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let (url, received) = receiver(Vec::new(), "geheim");
    let running = daemons(&server, 2, &url);
    for daemon in &running {
        daemon.advance("2027-04-13T10:00:00+02:00");
    }
    let (status, _) = running[1].post_events(DEVENTER, &complaints(0, 50));
    assert_eq!(status, 200);
    let paused = &running[0];
    paused.signal("STOP");
    // The paused leader is asked to move its clock past the reminders; it hears the request
    // only when it resumes, long after its lease ran out.
    let late_base = paused.base.clone();
    let late = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .post(&format!("{late_base}/v1/clock"))
            .header("Authorization", &format!("Bearer {DEVENTER}"))
            .header("Content-Type", "application/json")
            .send(json!({"now": "2027-04-24T10:00:00+02:00"}).to_string())
            .map(|r| r.status().as_u16())
    });
    wait_for(15, "the other daemon to take over", || {
        health(&running[1])["leader"] == true
    });
    running[1].advance("2027-04-24T10:00:00+02:00");
    wait_for(30, "the 50 reminders", || counted(&received).len() >= 50);
    paused.signal("CONT");
    assert_eq!(late.join().unwrap().unwrap(), 200);
    wait_for(10, "the resumed daemon to know it lost the lease", || {
        paused.log_text().contains("lost the lease")
    });
    wait_for(30, "every delivery settled", || {
        all_settled(&server, "waakvlam_0")
    });
    let counts = counted(&received);
    assert_eq!(counts.len(), 50);
    assert!(
        counts.values().all(|n| *n == 1),
        "delivered more than once: {counts:?}"
    );
    assert_eq!(health(paused)["leader"], false);
    assert_eq!(health(&running[1])["leader"], true);
    // Its notifications log holds nothing of them either.
    assert!(paused.delivered().is_empty());
}

/// `waakvlam migrate` as a gemeente would use it: refused while the daemon runs on the file;
/// afterwards a daemon on PostgreSQL answers with the same deadlines and the same pending
/// notifications, and sends those once its webhook works; a second copy into the same
/// database is refused.
#[test]
fn migrate_copies_a_running_gemeentes_store_to_postgres() {
    let Some(server) = Postgres::start() else {
        return;
    };
    // A webhook that fails: the reminders stay pending for it, with attempts made.
    let (failing, failed) = receiver(vec![Answer::Fail; 10_000], "geheim");
    let on_file = Daemon::start_configured(common::tempdir(), |config| {
        format!("{config}{}", with_webhook(&failing))
    });
    on_file.advance("2027-04-13T10:00:00+02:00");
    let (status, _) = on_file.post_events(DEVENTER, &complaints(0, 30));
    assert_eq!(status, 200);
    // Some complaints are taken into treatment: other deadlines, other states.
    let treated: Vec<Value> = (0..10)
        .map(|n| {
            json!({"id": format!("b-{n}"), "type": "klacht.in_behandeling", "gemeente": "GM0150",
                   "case": format!("C-{n}"), "at": "2027-04-15T09:00:00+02:00", "data": {"klacht_id": "K-1"}})
        })
        .collect();
    let (status, answer) = on_file.post_events(DEVENTER, &Value::Array(treated).to_string());
    assert_eq!(status, 200, "{answer}");
    on_file.advance("2027-04-24T10:00:00+02:00");
    wait_for(30, "the webhook tried", || {
        failed.lock().unwrap().requests >= 20
    });
    let deadlines = |daemon: &Daemon| {
        let (status, body) =
            daemon.request("GET", "/v1/deadlines?limit=1000", Some(DEVENTER), None);
        assert_eq!(status, 200, "{body}");
        body
    };
    let pending = |daemon: &Daemon| {
        let (status, body) = daemon.request(
            "GET",
            "/v1/notifications?status=pending&limit=1000",
            Some(DEVENTER),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body
    };
    let migrate = |from: &std::path::Path, to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_waakvlam"))
            .env("PGPASSWORD", PASSWORD)
            .args(["migrate", "--from"])
            .arg(format!("sqlite:{}", from.display()))
            .args(["--to", to])
            .output()
            .unwrap()
    };
    let file = on_file.dir.join("data/waakvlam.db");
    let url = server.database();
    let refused = migrate(&file, &url);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("is in use by another waakvlam") && said.contains("stop it before the copy"),
        "{said}"
    );
    let (before, pending_before) = (deadlines(&on_file), pending(&on_file));
    let reminders = pending_before["notifications"].as_array().unwrap().len();
    // The reminder that treatment is due (23 April) for the 20 complaints not yet treated.
    assert_eq!(reminders, 20, "every reminder waits for the webhook");
    let dir = on_file.stop();
    // A database a daemon leads is refused; once it stopped, what it wrote on the empty
    // database (its definitions, its clock) is replaced by the store's.
    let early = on_postgres(&url, &failing);
    wait_for(15, "a leader", || health(&early)["leader"] == true);
    let led = migrate(&file, &url);
    assert!(!led.status.success());
    let said = String::from_utf8_lossy(&led.stderr);
    assert!(
        said.contains("is in use by a waakvlam (") && said.contains("stop every daemon on it"),
        "{said}"
    );
    early.stop();

    let copied = migrate(&file, &url);
    let said = String::from_utf8_lossy(&copied.stdout);
    assert!(
        copied.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    assert!(
        said.contains("40 events, 20 notifications (20 deliveries pending, 0 dead)"),
        "{said}"
    );
    let again = migrate(&file, &url);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("holds data already (events: 40 rows"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let (working, received) = receiver(Vec::new(), "geheim");
    let on_postgres = on_postgres(&url, &working);
    wait_for(15, "a leader", || health(&on_postgres)["leader"] == true);
    assert_eq!(deadlines(&on_postgres), before);
    assert_eq!(pending(&on_postgres), pending_before);
    // The pending reminders go out from the copy when their retry is due, once each.
    on_postgres.advance("2027-04-25T10:00:00+02:00");
    wait_for(30, "the pending reminders", || {
        counted(&received).len() >= reminders
    });
    std::thread::sleep(Duration::from_secs(1));
    let counts = counted(&received);
    assert_eq!(counts.len(), reminders);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    // Its own log channel starts afresh: the lines the file's daemon wrote stay in its file.
    assert!(on_postgres.delivered().is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.join("data/notifications.jsonl"))
            .unwrap()
            .lines()
            .count(),
        reminders
    );
    let (status, audit) = on_postgres.request(
        "GET",
        "/v1/audit?from=2000-01-01&to=2100-01-01&limit=1000",
        Some(common::daemon::PRIVACY),
        None,
    );
    assert_eq!(status, 200, "{audit}");
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|line| line["action"] == "store.migrate"),
        "{audit}"
    );
}

/// `check --config` of a configuration on PostgreSQL warns when its notifications file is
/// one a running daemon writes: a second daemon with it would share the file.
#[test]
fn check_config_warns_of_a_notifications_file_a_daemon_writes() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let running = Daemon::start_on_postgres(common::tempdir(), &server.database());
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_waakvlam"))
        .args(["check", "--config"])
        .arg(running.dir.join("waakvlam.yaml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{said}");
    let pid = running.pid();
    let warning = said
        .lines()
        .find(|line| line.contains("warning: 'notifications_log'"))
        .unwrap_or_else(|| panic!("no warning: {said}"));
    assert!(
        warning.contains(&format!(
            "is written by a running waakvlam (pid {pid}, listening on"
        )),
        "{warning}"
    );
    // At the line and column of the key in that file.
    let config = std::fs::read_to_string(running.dir.join("waakvlam.yaml")).unwrap();
    let line = config
        .lines()
        .position(|l| l.contains("notifications_log:"))
        .unwrap()
        + 1;
    assert!(
        warning.contains(&format!("waakvlam.yaml:{line}:")),
        "{warning}"
    );
    // Once it stopped, the file is nobody's.
    let dir = running.stop();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_waakvlam"))
        .args(["check", "--config"])
        .arg(dir.join("waakvlam.yaml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(!said.contains("warning: 'notifications_log'"), "{said}");
}

/// The leader's link to the database goes dead (its connections silenced, as by a pulled
/// cable or a partition): another daemon takes over within 10 seconds, the old leader says
/// it does not lead and sends nothing, and rejoins as a follower when the link is back. Then
/// every connection is cut at once (as a restarted server does): one daemon leads again and
/// nothing goes out twice.
#[test]
fn a_leader_whose_database_link_dies_is_replaced() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let (webhook, received) = receiver(Vec::new(), "geheim");
    let direct = server.database();
    let proxy = common::proxy::Proxy::start(server.port);
    let relayed = direct.replace(
        &format!("127.0.0.1:{}/", server.port),
        &format!("127.0.0.1:{}/", proxy.port),
    );
    let cut_off = on_postgres(&relayed, &webhook);
    wait_for(15, "a leader", || health(&cut_off)["leader"] == true);
    let other = on_postgres(&direct, &webhook);
    for daemon in [&cut_off, &other] {
        daemon.advance("2027-04-13T10:00:00+02:00");
    }
    let (status, _) = other.post_events(DEVENTER, &complaints(0, 50));
    assert_eq!(status, 200);

    proxy.silence();
    let silenced_at = Instant::now();
    wait_for(10, "the other daemon to take over", || {
        health(&other)["leader"] == true
    });
    eprintln!("takeover after the link died: {:?}", silenced_at.elapsed());
    // The old leader answers its health check from what it knows: it no longer leads.
    assert_eq!(health(&cut_off)["leader"], false);
    other.advance("2027-04-24T10:00:00+02:00");
    wait_for(30, "the 50 reminders", || counted(&received).len() >= 50);
    let sent_by_the_other: Vec<String> = counted(&received).into_keys().collect();

    proxy.restore();
    wait_for(15, "the old leader to follow the new one", || {
        let seen = health(&cut_off);
        seen["leader"] == false && seen["leading_daemon"] == health(&other)["daemon"]
    });
    cut_off.advance("2027-04-24T10:00:00+02:00");

    server.cut_connections();
    std::thread::sleep(Duration::from_millis(200));
    let cut_at = Instant::now();
    wait_for(10, "one leader after every connection was cut", || {
        [&cut_off, &other]
            .iter()
            .filter(|d| health(d)["leader"] == true)
            .count()
            == 1
    });
    eprintln!(
        "a leader again after every connection was cut: {:?}",
        cut_at.elapsed()
    );
    // The connections the server ended are replaced at their next use: nothing is refused.
    let (status, answer) = other.request("GET", "/v1/deadlines?limit=5", Some(DEVENTER), None);
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = cut_off.post_events(DEVENTER, &complaints(50, 60));
    assert_eq!(status, 200, "{answer}");
    for daemon in [&cut_off, &other] {
        daemon.advance("2027-05-06T10:00:00+02:00");
    }
    wait_for(30, "the reminders of the later complaints", || {
        counted(&received).len() >= 60
    });
    wait_for(30, "every delivery settled", || {
        all_settled(&server, "waakvlam_0")
    });
    let counts = counted(&received);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    // Nor did the old leader write any of them to its own log once its link was back.
    let written: Vec<Value> = cut_off.delivered();
    assert!(
        written
            .iter()
            .all(|line| !sent_by_the_other.contains(&line["id"].as_str().unwrap().to_string())),
        "{written:?}"
    );
}

/// `sslmode=require` in the URL: the daemon talks to the server over TLS, with the server's
/// certificate verified against `PGSSLROOTCERT`; without it in the URL a server that asks for
/// TLS refuses it, and a certificate nobody vouches for is refused by the daemon.
#[test]
fn a_url_that_asks_for_tls_gets_it_verified() {
    let Some((server, root)) = Postgres::start_with_tls() else {
        return;
    };
    let url = format!("{}?sslmode=require", server.database());
    let root_text = root.display().to_string();
    let daemon = Daemon::start_with_env(
        common::tempdir(),
        |config| {
            common::replace_once(
                &config,
                "database: data/waakvlam.db",
                &format!("database: \"{url}\""),
            )
        },
        &[("PGPASSWORD", PASSWORD), ("PGSSLROOTCERT", &root_text)],
    );
    let (status, answer) = daemon.post_events(DEVENTER, &complaints(0, 3));
    assert_eq!(status, 200, "{answer}");
    let mut admin = postgres::Client::connect(
        &format!("postgres://postgres@127.0.0.1:{}/postgres", server.port),
        postgres::NoTls,
    )
    .unwrap();
    let (all, encrypted): (i64, i64) = {
        let row = admin
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a
                 JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'waakvlam'",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(
        all > 0 && encrypted == all,
        "{encrypted} of {all} connections over TLS"
    );
    drop(daemon);

    // The same server through `waakvlam migrate`, which connects as a daemon does.
    let dir = common::tempdir();
    let store = dir.join("leeg.db");
    waakvlam::store::SqliteStore::open(&store).unwrap();
    let migrate = |to: &str, env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_waakvlam"))
            .env("PGPASSWORD", PASSWORD)
            .env_remove("PGSSLROOTCERT")
            .envs(env.iter().copied())
            .args(["migrate", "--from"])
            .arg(format!("sqlite:{}", store.display()))
            .args(["--to", to])
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let plain = server.database();
    let (done, said) = migrate(&plain, &[]);
    assert!(!done && said.contains("no encryption"), "{said}");
    let (done, said) = migrate(&format!("{plain}?sslmode=require"), &[]);
    assert!(
        !done && said.contains("invalid peer certificate") && said.contains("PGSSLROOTCERT"),
        "{said}"
    );
    let (done, said) = migrate(
        &format!("{plain}?sslmode=require"),
        &[("PGSSLROOTCERT", &root_text)],
    );
    assert!(done, "{said}");
    assert!(said.contains(": 0 events"), "{said}");
}
