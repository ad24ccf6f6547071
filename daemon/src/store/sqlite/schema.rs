//! The SQLite store's schema: its migrations, numbered by `PRAGMA user_version`. Never edit one
//! that has shipped: add the next (PostgreSQL's `postgres/schema.rs` follows them).

/// The migrations, in order; the database remembers how many it has applied
/// (`PRAGMA user_version`). Never edit one that has shipped: add the next.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    gemeente    TEXT NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    at          TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    data        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (gemeente, id)
);
CREATE INDEX events_by_case ON events (gemeente, case_id, at_ms, seq);

CREATE TABLE notifications (
    id            TEXT PRIMARY KEY,
    at_ms         INTEGER NOT NULL,
    gemeente      TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    workflow      TEXT NOT NULL,
    due           TEXT,
    record        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_try_ms   INTEGER NOT NULL,
    last_error    TEXT,
    delivered_at  TEXT
);
CREATE INDEX notifications_to_deliver ON notifications (status, next_try_ms);
CREATE INDEX notifications_by_case ON notifications (gemeente, case_id);

CREATE TABLE deadlines (
    instance    TEXT NOT NULL,
    deadline    TEXT NOT NULL,
    occurrence  INTEGER NOT NULL,
    workflow    TEXT NOT NULL,
    gemeente    TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    due         TEXT,
    status      TEXT NOT NULL,
    PRIMARY KEY (instance, deadline, occurrence)
);
CREATE INDEX deadlines_by_case ON deadlines (gemeente, case_id);
CREATE INDEX deadlines_by_due ON deadlines (status, due);

CREATE TABLE audit (
    seq           INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    token         TEXT NOT NULL,
    on_behalf_of  TEXT,
    action        TEXT NOT NULL,
    gemeente      TEXT,
    case_id       TEXT
);
"#,
    // Delivery per channel: a notification can go to the log, webhooks and e-mail, each with its
    // own attempts, retries and dead letter.
    r#"
CREATE TABLE deliveries (
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_try_ms     INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    TEXT,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (channel, status, next_try_ms);
INSERT INTO deliveries (notification_id, channel, status, attempts, next_try_ms, last_error, delivered_at)
    SELECT id, 'log', status, attempts, next_try_ms, last_error, delivered_at FROM notifications;
DROP INDEX notifications_to_deliver;
ALTER TABLE notifications DROP COLUMN status;
ALTER TABLE notifications DROP COLUMN attempts;
ALTER TABLE notifications DROP COLUMN next_try_ms;
ALTER TABLE notifications DROP COLUMN last_error;
ALTER TABLE notifications DROP COLUMN delivered_at;
CREATE VIEW notification_status AS
SELECT n.*,
       CASE WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'dead') THEN 'dead'
            WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'pending') THEN 'pending'
            ELSE 'delivered' END AS status
FROM notifications n;
"#,
    // Durable timers: each case's next wakeup, so a restart knows what is pending without
    // reading every event.
    r#"
CREATE TABLE timers (
    gemeente  TEXT NOT NULL,
    case_id   TEXT NOT NULL,
    wake_ms   INTEGER NOT NULL,
    PRIMARY KEY (gemeente, case_id)
);
CREATE INDEX timers_by_moment ON timers (wake_ms);
"#,
    // The tables written for every event keyed by what they are looked up by (WITHOUT ROWID):
    // one B-tree less to write per row, which is most of an event's cost at the commit.
    // A case's deadlines are found by their key's first columns, so they need no index of
    // their own either.
    r#"
DROP VIEW notification_status;

CREATE TABLE deliveries_keyed (
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_try_ms     INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    TEXT,
    PRIMARY KEY (notification_id, channel)
) WITHOUT ROWID;
INSERT INTO deliveries_keyed SELECT notification_id, channel, status, attempts, next_try_ms, last_error, delivered_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_keyed RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (channel, status, next_try_ms);

CREATE TABLE deadlines_keyed (
    gemeente    TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    instance    TEXT NOT NULL,
    deadline    TEXT NOT NULL,
    occurrence  INTEGER NOT NULL,
    workflow    TEXT NOT NULL,
    due         TEXT,
    status      TEXT NOT NULL,
    PRIMARY KEY (gemeente, case_id, instance, deadline, occurrence)
) WITHOUT ROWID;
INSERT INTO deadlines_keyed SELECT gemeente, case_id, instance, deadline, occurrence, workflow, due, status FROM deadlines;
DROP TABLE deadlines;
ALTER TABLE deadlines_keyed RENAME TO deadlines;
CREATE INDEX deadlines_by_due ON deadlines (status, due);

CREATE TABLE timers_keyed (
    gemeente  TEXT NOT NULL,
    case_id   TEXT NOT NULL,
    wake_ms   INTEGER NOT NULL,
    PRIMARY KEY (gemeente, case_id)
) WITHOUT ROWID;
INSERT INTO timers_keyed SELECT gemeente, case_id, wake_ms FROM timers;
DROP TABLE timers;
ALTER TABLE timers_keyed RENAME TO timers;
CREATE INDEX timers_by_moment ON timers (wake_ms);

CREATE VIEW notification_status AS
SELECT n.*,
       CASE WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'dead') THEN 'dead'
            WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'pending') THEN 'pending'
            ELSE 'delivered' END AS status
FROM notifications n;
"#,
    // How far the log channel's file was written when its lines were last marked delivered:
    // after a crash, the lines beyond it were written but not marked, and are not written again.
    r#"
CREATE TABLE log_position (
    only   INTEGER PRIMARY KEY CHECK (only = 1),
    path   TEXT NOT NULL,
    bytes  INTEGER NOT NULL
);
"#,
    // Timers are read whole at the start and otherwise by case: an index by moment was only
    // written (a page for every timer that moved), never read.
    r#"
DROP INDEX timers_by_moment;
"#,
    // A legal term past the years the holiday data covers is provisional (Calendar::is_provisional).
    r#"
ALTER TABLE deadlines ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deadlines_provisional ON deadlines (status, due) WHERE provisional = 1;
"#,
    // The fingerprint of the definitions (workflows, holiday data, parameters, plugins) the
    // stored deadlines were computed with: a change while the daemon was down is caught at start.
    r#"
CREATE TABLE definitions (
    only        INTEGER PRIMARY KEY CHECK (only = 1),
    fingerprint TEXT NOT NULL
);
"#,
    // Where a virtual clock stands, so that a daemon on one (tests) restarts where it was
    // rather than at the system's time.
    r#"
CREATE TABLE virtual_clock (
    only    INTEGER PRIMARY KEY CHECK (only = 1),
    now_ms  INTEGER NOT NULL
);
"#,
    // NEN 7513: refused attempts are logged too, with their outcome; read by period.
    r#"
ALTER TABLE audit ADD COLUMN outcome TEXT NOT NULL DEFAULT 'allowed';
CREATE INDEX audit_by_time ON audit (at);
"#,
    // Calendar feeds: each behind a token of its own, of which only the hash is kept; a
    // revoked feed stays (who made it, when it was revoked) but answers no more.
    r#"
CREATE TABLE feeds (
    id            INTEGER PRIMARY KEY,
    token_sha256  TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    made_by       TEXT NOT NULL,
    on_behalf_of  TEXT,
    gemeenten     TEXT NOT NULL,
    roles         TEXT NOT NULL,
    created       TEXT NOT NULL,
    revoked       TEXT
);
"#,
    // Scheduled overviews: the last run done per overview and gemeente, committed with the
    // notification it made, so a run goes out once, a crash included.
    r#"
CREATE TABLE overview_runs (
    name      TEXT NOT NULL,
    gemeente  TEXT NOT NULL,
    done_ms   INTEGER NOT NULL,
    PRIMARY KEY (name, gemeente)
) WITHOUT ROWID;
"#,
    // iJw intake: the messages received (sender, code, Identificatie, with a digest of what
    // they said, to tell a retry from a reused Identificatie) and the event that stands for
    // each product key now (for changes and deletes). Keys hold the pseudonym, never a BSN.
    r#"
CREATE TABLE ijw_messages (
    key     TEXT PRIMARY KEY,
    digest  TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE ijw_products (
    key     TEXT PRIMARY KEY,
    event   TEXT NOT NULL
) WITHOUT ROWID;
"#,
    // A calendar feed belongs to the token that made it, not to its name: a token replaced
    // under the same name ends the feeds of the old one. Feeds made before have none and
    // answer no more.
    r#"
ALTER TABLE feeds ADD COLUMN maker_sha256 TEXT;
"#,
    // When each deadline was met (a day), so that on time is told from late, and the day its
    // instance started (for reports' lead times). Rows of an older store get them from the
    // events: forgetting the definitions' fingerprint makes the next start recompute every case.
    r#"
ALTER TABLE deadlines ADD COLUMN met_at TEXT;
ALTER TABLE deadlines ADD COLUMN started TEXT;
DELETE FROM definitions;
"#,
];
