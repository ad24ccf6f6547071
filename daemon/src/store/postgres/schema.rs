//! The PostgreSQL schema: the tables of the SQLite store as its migrations leave them, in PostgreSQL's dialect, and what several daemons need besides (the lease, claims on
//! deliveries, a log position per daemon). Versioned like the SQLite migrations: the table
//! `waakvlam_schema` remembers how many are applied; never edit one that has shipped.

pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gemeente    TEXT NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    at          TEXT NOT NULL,
    at_ms       BIGINT NOT NULL,
    data        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (gemeente, id)
);
CREATE INDEX events_by_case ON events (gemeente, case_id, at_ms, seq);

CREATE TABLE notifications (
    id        TEXT PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    gemeente  TEXT NOT NULL,
    case_id   TEXT NOT NULL,
    workflow  TEXT NOT NULL,
    due       TEXT,
    record    TEXT NOT NULL
);
CREATE INDEX notifications_by_case ON notifications (gemeente, case_id);

-- claimed_epoch/claimed_until_ms: the leader that handed the delivery to a channel, and until
-- when (the database's time) no other leader may: a send in flight when its leader died is
-- taken over only after the longest a send may take.
CREATE TABLE deliveries (
    notification_id  TEXT NOT NULL REFERENCES notifications (id),
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_try_ms      BIGINT NOT NULL,
    last_error       TEXT,
    delivered_at     TEXT,
    claimed_epoch    BIGINT,
    claimed_until_ms BIGINT,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (channel, status, next_try_ms);

CREATE VIEW notification_status AS
SELECT n.*,
       CASE WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'dead') THEN 'dead'
            WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.status = 'pending') THEN 'pending'
            ELSE 'delivered' END AS status
FROM notifications n;

CREATE TABLE deadlines (
    gemeente     TEXT NOT NULL,
    case_id      TEXT NOT NULL,
    instance     TEXT NOT NULL,
    deadline     TEXT NOT NULL,
    occurrence   BIGINT NOT NULL,
    workflow     TEXT NOT NULL,
    due          TEXT,
    status       TEXT NOT NULL,
    provisional  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (gemeente, case_id, instance, deadline, occurrence)
);
CREATE INDEX deadlines_by_due ON deadlines (status, due);
CREATE INDEX deadlines_provisional ON deadlines (status, due) WHERE provisional;

CREATE TABLE timers (
    gemeente  TEXT NOT NULL,
    case_id   TEXT NOT NULL,
    wake_ms   BIGINT NOT NULL,
    PRIMARY KEY (gemeente, case_id)
);

-- Each daemon writes a notifications log of its own.
CREATE TABLE log_positions (
    daemon  TEXT PRIMARY KEY,
    path    TEXT NOT NULL,
    bytes   BIGINT NOT NULL
);

CREATE TABLE definitions (
    slot        INTEGER PRIMARY KEY CHECK (slot = 1),
    fingerprint TEXT NOT NULL
);

CREATE TABLE virtual_clock (
    slot    INTEGER PRIMARY KEY CHECK (slot = 1),
    now_ms  BIGINT NOT NULL
);

CREATE TABLE audit (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            TEXT NOT NULL,
    token         TEXT NOT NULL,
    on_behalf_of  TEXT,
    action        TEXT NOT NULL,
    gemeente      TEXT,
    case_id       TEXT,
    outcome       TEXT NOT NULL DEFAULT 'allowed'
);
CREATE INDEX audit_by_time ON audit (at);

CREATE TABLE feeds (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_sha256  TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    made_by       TEXT NOT NULL,
    on_behalf_of  TEXT,
    gemeenten     TEXT NOT NULL,
    roles         TEXT NOT NULL,
    created       TEXT NOT NULL,
    revoked       TEXT
);

CREATE TABLE overview_runs (
    name      TEXT NOT NULL,
    gemeente  TEXT NOT NULL,
    done_ms   BIGINT NOT NULL,
    PRIMARY KEY (name, gemeente)
);

CREATE TABLE ijw_messages (
    key     TEXT PRIMARY KEY,
    digest  TEXT NOT NULL
);
CREATE TABLE ijw_products (
    key     TEXT PRIMARY KEY,
    event   TEXT NOT NULL
);

-- The leader's lease: who holds it, until when (the database's clock, the one clock all
-- daemons share), and the epoch, raised at every takeover: the fencing number.
CREATE TABLE leader (
    slot     INTEGER PRIMARY KEY CHECK (slot = 1),
    holder   TEXT,
    epoch    BIGINT NOT NULL,
    expires  TIMESTAMPTZ NOT NULL
);
INSERT INTO leader (slot, holder, epoch, expires) VALUES (1, NULL, 0, '-infinity');
"#,
    // As SQLite's fourteenth: a calendar feed belongs to the token that made it.
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
