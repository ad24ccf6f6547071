//! Delivery end to end: webhooks to a real HTTP receiver on loopback that checks signatures
//! and fails first, e-mail to a real SMTP server on loopback (written in the tests) over
//! STARTTLS.

mod common;

use common::complaint;
use common::daemon::{DEVENTER, Daemon, wait_for};
use common::receiver::{Answer, receiver};
use common::smtp::SmtpServer;
use serde_json::{Value, json};

fn with_webhooks(webhooks: &str) -> impl FnOnce(String) -> String {
    let webhooks = webhooks.to_string();
    move |config: String| format!("{config}  webhooks:\n{webhooks}")
}

/// A complaint about case C-1 on 13 April; the clock then moves to 09:00 on 23 April, when its
/// first reminder falls due.
fn reminder_falls_due(daemon: &Daemon) {
    daemon.advance("2027-04-13T10:00:00+02:00");
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("e-1", "C-1", "GM0150", "K-9"))
            .0,
        200
    );
    daemon.advance("2027-04-23T09:00:00+02:00");
}

fn delivery_of(daemon: &Daemon, channel: &str) -> Value {
    let (_, listed) = daemon.request("GET", "/v1/notifications?case=C-1", Some(DEVENTER), None);
    let deliveries = listed["notifications"][0]["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    deliveries
        .into_iter()
        .find(|d| d["channel"] == channel)
        .unwrap_or(Value::Null)
}

/// A receiver that answers 500 first and then does not answer in time sees the retries
/// arrive, each after the backoff, and finally takes the notification with a valid signature.
#[test]
fn webhooks_are_signed_and_retried_with_backoff() {
    let (url, received) = receiver(vec![Answer::Fail, Answer::Hang, Answer::Ok], "geheim");
    let daemon = Daemon::start_configured(
        common::tempdir(),
        with_webhooks(&format!(
            "    - {{ name: zaaksysteem, url: \"{url}\", secret: geheim, gemeenten: [GM0150], timeout_seconds: 1, max_attempts: 5 }}\n"
        )),
    );
    reminder_falls_due(&daemon);
    wait_for(10, "the first attempt (500)", || {
        delivery_of(&daemon, "webhook:zaaksysteem")["attempts"] == 1
    });
    assert_eq!(
        delivery_of(&daemon, "webhook:zaaksysteem")["last_error"],
        "the receiver answered 500 Internal Server Error"
    );

    // Not before the backoff of 30 seconds: the outbox says when it is tried again.
    assert_eq!(
        delivery_of(&daemon, "webhook:zaaksysteem")["next_try"],
        "2027-04-23T09:00:30+02:00"
    );
    daemon.advance("2027-04-23T09:00:20+02:00");
    assert_eq!(received.lock().unwrap().requests, 1);
    daemon.advance("2027-04-23T09:00:31+02:00");
    wait_for(10, "the second attempt (a time-out)", || {
        delivery_of(&daemon, "webhook:zaaksysteem")["attempts"] == 2
    });
    assert_eq!(
        delivery_of(&daemon, "webhook:zaaksysteem")["last_error"],
        "no answer within the timeout"
    );

    // The backoff doubles: 60 seconds after the second failure.
    daemon.advance("2027-04-23T09:02:00+02:00");
    wait_for(10, "the third attempt (200)", || {
        delivery_of(&daemon, "webhook:zaaksysteem")["status"] == "delivered"
    });
    let received = received.lock().unwrap();
    assert_eq!(received.bad_signatures, 0);
    assert_eq!(received.accepted.len(), 1);
    assert_eq!(received.accepted[0]["kind"], "reminder");
    assert_eq!(received.accepted[0]["deadline"], "in_behandeling");
    assert_eq!(delivery_of(&daemon, "webhook:zaaksysteem")["attempts"], 3);
    daemon.stop();
}

/// A receiver that always fails ends in the dead letters after the last attempt, visible in
/// the API; other channels are not held up by it.
#[test]
fn a_receiver_that_always_fails_ends_in_dead_letter() {
    let (url, received) = receiver(vec![Answer::Fail; 10], "geheim");
    let daemon = Daemon::start_configured(
        common::tempdir(),
        with_webhooks(&format!(
            "    - {{ name: kapot, url: \"{url}\", secret: geheim, gemeenten: [GM0150], timeout_seconds: 1, max_attempts: 2 }}\n"
        )),
    );
    reminder_falls_due(&daemon);
    wait_for(10, "the first attempt", || {
        delivery_of(&daemon, "webhook:kapot")["attempts"] == 1
    });
    daemon.advance("2027-04-23T09:01:00+02:00");
    wait_for(10, "the dead letter", || {
        delivery_of(&daemon, "webhook:kapot")["status"] == "dead"
    });
    assert_eq!(received.lock().unwrap().requests, 2);
    assert_eq!(delivery_of(&daemon, "log")["status"], "delivered");
    let (_, dead) = daemon.request("GET", "/v1/notifications?status=dead", Some(DEVENTER), None);
    assert_eq!(dead["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(
        dead["notifications"][0]["record"]["deadline"],
        "in_behandeling"
    );

    // Sent again through the API: not with a read-only token; back in the outbox, tried
    // (and failing) once more; a notification that is not dead cannot be sent again.
    let id = dead["notifications"][0]["record"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let retry = format!("/v1/notifications/{id}/retry");
    let (status, _) = daemon.request("POST", &retry, Some(common::daemon::READ_ONLY), None);
    assert_eq!(status, 403);
    let (status, answer) = daemon.request("POST", &retry, Some(DEVENTER), None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["channels"], json!(["webhook:kapot"]));
    wait_for(10, "the new attempt", || {
        received.lock().unwrap().requests == 3
    });
    let (status, answer) = daemon.request("POST", &retry, Some(DEVENTER), None);
    assert_eq!(status, 409, "{answer}");
    let (status, _) = daemon.request("POST", "/v1/notifications/xyz/retry", Some(DEVENTER), None);
    assert_eq!(status, 400);
    daemon.stop();
}

/// A notifications log that cannot be written (a full disk: /dev/full): the notification stays
/// in the outbox with the error and is tried again later; the daemon stays up and goes on
/// taking events.
#[test]
fn a_log_that_cannot_be_written_keeps_the_notification_pending() {
    let daemon = Daemon::start_configured(common::tempdir(), |config| {
        common::replace_once(
            &config,
            "notifications_log: data/notifications.jsonl",
            "notifications_log: /dev/full",
        )
    });
    reminder_falls_due(&daemon);
    let log = delivery_of(&daemon, "log");
    assert_eq!(log["status"], "pending", "{log}");
    assert!(log["attempts"].as_u64().unwrap() >= 1, "{log}");
    assert!(
        log["last_error"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{log}"
    );
    assert!(daemon.log().iter().any(|l| {
        l["message"] == "writing the notifications log failed"
            && l["cause"]
                .as_str()
                .unwrap_or("")
                .contains("No space left on device")
    }));
    // Still taking events.
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("e-2", "C-2", "GM0150", "K-9"))
            .0,
        200
    );
    daemon.stop();
}

/// Reminders reach the addresses of their roles by e-mail, in Dutch, plain text and HTML,
/// over STARTTLS; a role without an address is a dead letter that says why.
#[test]
fn reminders_are_mailed_to_the_addresses_of_their_roles() {
    let dir = common::tempdir();
    let smtp = SmtpServer::start(&dir);
    let cert = smtp.cert.display().to_string();
    let port = smtp.port;
    let daemon = Daemon::start_configured(dir, move |config| {
        // Apeldoorn without its plugin and without addresses in the configuration.
        let config = common::replace_once(
            &config,
            "  - { gemeente: GM0200, library: libwaakvlam_apeldoorn.so, settings: plugins/apeldoorn.yaml }\n",
            "",
        );
        format!(
            "{config}  smtp:\n    host: 127.0.0.1\n    port: {port}\n    tls: starttls\n    ca_file: {cert}\n    from: \"Waakvlam <waakvlam@deventer.example>\"\n    timeout_seconds: 5\n"
        )
    });
    daemon.advance("2027-04-13T10:00:00+02:00");
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("e-1", "C-1", "GM0150", "K-9"))
            .0,
        200
    );
    assert_eq!(
        daemon
            .post_events(
                common::daemon::APELDOORN,
                &complaint("a-1", "A-1", "GM0200", "K-9")
            )
            .0,
        200
    );
    daemon.advance("2027-04-23T12:00:00+02:00");
    wait_for(20, "the mail", || smtp.messages().len() == 1);
    // Quoted-printable folds long lines with a trailing '='; a long header folds onto a line
    // that starts with a space.
    let mail = &smtp.messages()[0].replace("=\n", "").replace("\n ", " ");
    assert!(
        mail.contains("X-RcptTo: klachtenfunctionaris@deventer.example"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: Herinnering casus C-1: Klacht in behandeling nemen, uiterlijk dinsdag 27 april 2027"),
        "{mail}"
    );
    assert!(
        mail.contains("From: Waakvlam <waakvlam@deventer.example>"),
        "{mail}"
    );
    assert!(
        mail.contains("Content-Type: text/plain; charset=utf-8"),
        "{mail}"
    );
    assert!(
        mail.contains("Content-Type: text/html; charset=utf-8"),
        "{mail}"
    );
    assert!(
        mail.contains(
            "Casus C-1: Klacht in behandeling nemen. Uiterlijk dinsdag 27 april 2027, nog 4 dagen."
        ),
        "{mail}"
    );
    assert!(mail.contains("Gemeente: Deventer"), "{mail}");
    wait_for(10, "the delivery to be recorded", || {
        delivery_of(&daemon, "smtp")["status"] == "delivered"
    });

    // Apeldoorn has no plugin and no addresses configured: a dead letter with the reason.
    let (_, apeldoorn) = daemon.request(
        "GET",
        "/v1/notifications?status=dead",
        Some(common::daemon::APELDOORN),
        None,
    );
    let smtp_delivery = apeldoorn["notifications"][0]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "smtp")
        .cloned()
        .unwrap();
    assert_eq!(
        smtp_delivery["last_error"],
        "no e-mail address for role 'klachtenfunctionaris' in GM0200"
    );
    daemon.stop();
}

/// With a daily digest, a recipient gets one mail a day with everything due for them.
#[test]
fn the_daily_digest_sends_one_mail_per_recipient() {
    let dir = common::tempdir();
    let smtp = SmtpServer::start(&dir);
    let cert = smtp.cert.display().to_string();
    let port = smtp.port;
    let daemon = Daemon::start_configured(dir, move |config| {
        let config = common::replace_once(
            &config,
            "  GM0150:\n    name: Deventer\n",
            "  GM0150:\n    name: Deventer\n    recipients:\n      klachtenfunctionaris: [klachten@deventer.example]\n",
        );
        format!(
            "{config}  smtp:\n    host: 127.0.0.1\n    port: {port}\n    tls: starttls\n    ca_file: {cert}\n    from: waakvlam@deventer.example\n    digest_hour: 8\n"
        )
    });
    daemon.advance("2027-04-13T10:00:00+02:00");
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("e-1", "C-1", "GM0150", "K-9"))
            .0,
        200
    );
    assert_eq!(
        daemon
            .post_events(DEVENTER, &complaint("e-2", "C-2", "GM0150", "K-9"))
            .0,
        200
    );
    // The two reminders of 23 April 09:00 wait for the digest of 24 April 08:00.
    daemon.advance("2027-04-23T12:00:00+02:00");
    let (_, listed) = daemon.request("GET", "/v1/notifications", Some(DEVENTER), None);
    let waiting: Vec<&Value> = listed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["deliveries"].as_array().unwrap())
        .filter(|d| d["channel"] == "smtp")
        .collect();
    assert_eq!(waiting.len(), 2);
    assert!(
        waiting
            .iter()
            .all(|d| d["status"] == "pending" && d["next_try"] == "2027-04-24T08:00:00+02:00"),
        "{waiting:?}"
    );
    assert!(smtp.messages().is_empty());
    daemon.advance("2027-04-24T08:00:00+02:00");
    wait_for(20, "the digest", || smtp.messages().len() == 1);
    let mail = smtp.messages()[0].replace("=\n", "").replace("\n ", " ");
    assert!(
        mail.contains("Subject: Waakvlam: 2 termijnen en berichten"),
        "{mail}"
    );
    assert!(
        mail.contains("Casus C-1: Klacht in behandeling nemen. Uiterlijk dinsdag 27 april")
            && mail.contains("Casus C-2: Klacht in behandeling nemen. Uiterlijk dinsdag 27 april"),
        "{mail}"
    );
    assert!(
        mail.contains("X-RcptTo: klachtenfunctionaris@deventer.example"),
        "{mail}"
    );
    daemon.stop();
}

/// `run` on the shipped configuration with the examples, by e-mail: every notification reaches
/// an address; none is a dead letter for want of one (issue 19). The clock moves day by day
/// from the first event to the end of the tour, as for a running daemon.
#[test]
fn the_shipped_configuration_mails_the_examples_without_dead_letters() {
    use waakvlam_core::calendar::{format_timestamp, local_day, parse_timestamp, send_moment};
    let dir = common::tempdir();
    let smtp = SmtpServer::start(&dir);
    let cert = smtp.cert.display().to_string();
    let port = smtp.port;
    let daemon = Daemon::start_configured(dir, move |config| {
        format!(
            "{config}  smtp:\n    host: 127.0.0.1\n    port: {port}\n    tls: starttls\n    ca_file: {cert}\n    from: waakvlam@example.org\n    timeout_seconds: 5\n"
        )
    });
    let events: Vec<Value> = std::fs::read_to_string(common::root().join("examples/events.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let token = |gemeente: &str| match gemeente {
        "GM0150" | "GM0148" => "ontwikkel-ijsselland",
        "GM0158" => "ontwikkel-haaksbergen",
        _ => "ontwikkel-zorgregio",
    };
    let mut pending: Vec<&Value> = events.iter().collect();
    pending.sort_by_key(|e| parse_timestamp(e["at"].as_str().unwrap()).unwrap());
    let mut day = local_day(parse_timestamp(pending[0]["at"].as_str().unwrap()).unwrap());
    let until: waakvlam_core::calendar::Day = "2028-06-30".parse().unwrap();
    while day <= until {
        while let Some(event) = pending.first() {
            let at = parse_timestamp(event["at"].as_str().unwrap()).unwrap();
            if local_day(at) > day {
                break;
            }
            daemon.advance(&format_timestamp(at));
            let (status, body) = daemon.post_events(
                token(event["gemeente"].as_str().unwrap()),
                &event.to_string(),
            );
            assert_eq!(status, 200, "{body}");
            pending.remove(0);
        }
        day = day.add_days(1);
        daemon.advance(&format_timestamp(send_moment(day, 0)));
    }
    let listed = |status: &str| -> Vec<Value> {
        [
            "ontwikkel-ijsselland",
            "ontwikkel-haaksbergen",
            "ontwikkel-zorgregio",
        ]
        .iter()
        .flat_map(|token| {
            let (_, body) = daemon.request(
                "GET",
                &format!("/v1/notifications?status={status}&limit=500"),
                Some(token),
                None,
            );
            body["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
    };
    wait_for(60, "the outbox to drain", || listed("pending").is_empty());
    assert_eq!(listed("dead"), Vec::<Value>::new());
    let delivered = listed("delivered");
    assert!(delivered.len() >= 25, "{} delivered", delivered.len());
    assert!(smtp.messages().len() >= delivered.len());
    daemon.stop();
}

/// A rotation of the notifications log (`mv`, then SIGHUP) and a `kill -9` right after it:
/// every notification is in the old file or the new one, once.
#[test]
fn the_log_channel_writes_each_notification_once_across_a_rotation_and_a_crash() {
    let daemon = Daemon::start();
    daemon.advance("2027-04-13T10:00:00+02:00");
    let events: Vec<String> = (0..200)
        .map(|i| complaint(&format!("r-{i}"), &format!("R-{i}"), "GM0150", "K-9"))
        .collect();
    let (status, answer) = daemon.post_events(DEVENTER, &format!("[{}]", events.join(",")));
    assert_eq!(status, 200, "{answer}");
    daemon.advance("2027-04-23T10:00:00+02:00");
    let log = daemon.dir.join("data/notifications.jsonl");
    let rotated = daemon.dir.join("data/notifications.jsonl.1");
    wait_for(10, "the reminders in the log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
            == 200
    });
    std::fs::rename(&log, &rotated).unwrap();
    daemon.signal("HUP");
    wait_for(10, "the log to be reopened", || {
        daemon
            .log()
            .iter()
            .any(|l| l["message"] == "notifications log reopened")
    });
    // The escalations go to the new file, and the daemon is killed as they are written.
    daemon.advance("2027-04-28T10:00:00+02:00");
    let dir = daemon.kill_hard();
    let daemon = Daemon::start_in(dir);
    daemon.advance("2027-05-12T10:00:00+02:00");
    let mut recorded = 0;
    loop {
        let (_, listed) = daemon.request(
            "GET",
            &format!("/v1/notifications?limit=1000&offset={recorded}"),
            Some(DEVENTER),
            None,
        );
        let page = listed["notifications"].as_array().unwrap().len();
        recorded += page;
        if page < 1000 {
            break;
        }
    }
    assert!(recorded > 400, "{recorded} notifications");
    wait_for(10, "every notification in the logs", || {
        let lines = std::fs::read_to_string(&rotated).unwrap()
            + &std::fs::read_to_string(&log).unwrap_or_default();
        lines.lines().count() >= recorded
    });
    let mut ids: Vec<String> = [&rotated, &log]
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let written = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), written, "a notification written twice");
    assert_eq!(written, recorded);
    assert_eq!(
        std::fs::read_to_string(&rotated).unwrap().lines().count(),
        200,
        "the old file holds the reminders only"
    );
    daemon.stop();
}
