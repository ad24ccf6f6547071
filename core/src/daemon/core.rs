//! The daemon's core: one thread that owns the engine state, the store and the clock, and
//! serves commands from the API in order. One writer keeps the invariant simple: the engine
//! state in memory is always the fold of the events in the store.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration as StdDuration;

use jiff::Timestamp;
use tokio::sync::oneshot;

use super::delivery::{self, Attempt, RetryPolicy, Routing};
use crate::engine::{Case, Engine, Notification};
use crate::event::Event;
use crate::store::{
    AuditEntry, DeadlineRow, Due, Filter, Insert, OutboxRow, Outgoing, Store, StoreError,
};

/// Where the daemon's time comes from.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    System,
    /// Moves only when told to (`Command::AdvanceClock`): tests run on it.
    Virtual(Timestamp),
}

impl Clock {
    fn now(&self) -> Timestamp {
        match self {
            // The one place outside `cli` that reads the wall clock.
            Clock::System => Timestamp::now(),
            Clock::Virtual(now) => *now,
        }
    }
}

/// The outcome of one posted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
}

pub enum Command {
    Ingest {
        events: Vec<Event>,
        audit: AuditEntry,
        reply: oneshot::Sender<Result<Vec<Outcome>, String>>,
    },
    Case {
        gemeente: String,
        case: String,
        audit: AuditEntry,
        reply: oneshot::Sender<Result<Option<CaseView>, String>>,
    },
    Deadlines {
        filter: Filter,
        audit: AuditEntry,
        reply: oneshot::Sender<Result<Vec<DeadlineRow>, String>>,
    },
    Notifications {
        filter: Filter,
        audit: AuditEntry,
        reply: oneshot::Sender<Result<Vec<OutboxRow>, String>>,
    },
    AdvanceClock {
        to: Timestamp,
        reply: oneshot::Sender<Result<Timestamp, String>>,
    },
    /// A delivery worker asks for its channel's due deliveries.
    TakeDue {
        channel: String,
        limit: u32,
        reply: oneshot::Sender<Vec<Due>>,
    },
    /// A delivery worker reports how its attempts went.
    Report {
        channel: String,
        results: Vec<(String, Attempt)>,
    },
    /// New workflow definitions, already validated.
    Reload {
        engine: Box<Engine>,
        reply: oneshot::Sender<Result<usize, String>>,
    },
    /// The metrics, with what only the store knows.
    Metrics {
        reply: oneshot::Sender<String>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CaseView {
    pub gemeente: String,
    pub case: String,
    pub events: Vec<serde_json::Value>,
    pub deadlines: Vec<DeadlineRow>,
    pub notifications: Vec<OutboxRow>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Status {
    pub now: String,
    pub cases: usize,
    pub pending_timers: usize,
}

pub struct Core<S: Store> {
    engine: Engine,
    store: S,
    clock: Clock,
    cases: HashMap<(String, String), Case>,
    /// (moment, gemeente, case); entries that no longer match the case's wakeup are stale.
    timers: BinaryHeap<Reverse<(Timestamp, String, String)>>,
    log: std::fs::File,
    routing: Routing,
    /// Retry policy per channel; channels without one use the default.
    policies: HashMap<String, RetryPolicy>,
    /// Deliveries handed to a worker and not reported yet, with their attempts so far.
    in_flight: HashMap<(String, String), Sent>,
    metrics: std::sync::Arc<super::metrics::Metrics>,
}

/// A delivery handed to a worker: how often it was tried before, and the notification's
/// send time (for the delivery latency).
#[derive(Clone, Copy, Debug)]
struct Sent {
    attempts: u32,
    at: Option<Timestamp>,
}

fn record_moment(record: &serde_json::Value) -> Option<Timestamp> {
    record["at"]
        .as_str()
        .and_then(|at| crate::calendar::parse_timestamp(at).ok())
}

/// What the core needs besides the engine and the store.
pub struct Setup {
    pub metrics: std::sync::Arc<super::metrics::Metrics>,
    pub clock: Clock,
    pub log: std::fs::File,
    pub routing: Routing,
    pub policies: HashMap<String, RetryPolicy>,
}

impl<S: Store> Core<S> {
    /// Rebuilds the engine state from the store (after a start or a restart) and sends what
    /// fell due while the daemon was down, once.
    pub fn start(engine: Engine, store: S, setup: Setup) -> Result<Core<S>, StoreError> {
        let Setup {
            metrics,
            clock,
            log,
            routing,
            policies,
        } = setup;
        let mut core = Core {
            engine,
            store,
            clock,
            cases: HashMap::new(),
            timers: BinaryHeap::new(),
            log,
            routing,
            policies,
            in_flight: HashMap::new(),
            metrics,
        };
        core.rebuild()?;
        Ok(core)
    }

    /// Rebuilds every case from the event log and sends what is due now. Output the replay
    /// makes of the past is in the outbox already (ids are deterministic), so only what is due
    /// now is recorded, and a notification already recorded is never made twice.
    fn rebuild(&mut self) -> Result<(), StoreError> {
        self.cases.clear();
        self.timers.clear();
        for event in self.store.all_events()? {
            let key = (event.gemeente.clone(), event.case.clone());
            let case = self
                .cases
                .entry(key)
                .or_insert_with(|| Case::new(&event.gemeente, &event.case));
            let at = event.at;
            case.apply(&self.engine, event, at);
        }
        let now = self.clock.now();
        let keys: Vec<(String, String)> = self.cases.keys().cloned().collect();
        let mut due = Vec::new();
        for key in &keys {
            let case = self.cases.get_mut(key).expect("listed");
            due.extend(case.tick(&self.engine, now));
        }
        let outgoing = self.outgoing(&due);
        self.store.record(&outgoing)?;
        for key in keys {
            self.refresh(&key, now)?;
        }
        Ok(())
    }

    /// Swaps in new workflow definitions: every case is recomputed from its events as if the
    /// new definitions had always applied. What was sent stays sent; deadlines that move are
    /// logged, each with its old and new due date.
    fn reload(&mut self, engine: Engine) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let before: HashMap<(String, String, u32), Option<String>> = self
            .cases
            .values()
            .flat_map(|c| c.deadlines(&self.engine, now))
            .map(|d| ((d.instance, d.deadline, d.occurrence), d.due))
            .collect();
        self.engine = engine;
        self.rebuild()?;
        let mut moved = 0;
        for case in self.cases.values() {
            for d in case.deadlines(&self.engine, now) {
                let old = before.get(&(d.instance.clone(), d.deadline.clone(), d.occurrence));
                if old.is_some_and(|old| *old != d.due)
                    || (old.is_none() && d.status != "met" && d.status != "cancelled")
                {
                    moved += 1;
                    let old = old.cloned().flatten().unwrap_or_else(|| "-".into());
                    let new = d.due.clone().unwrap_or_else(|| "-".into());
                    log_line(
                        "info",
                        "deadline recalculated",
                        &[
                            ("instance", &d.instance),
                            ("deadline", &d.deadline),
                            ("old_due", &old),
                            ("new_due", &new),
                        ],
                    );
                }
            }
        }
        Ok(moved)
    }

    /// Serves commands until every sender is gone.
    pub fn run(mut self, commands: mpsc::Receiver<Command>) {
        loop {
            let now = self.clock.now();
            self.fire_timers(now);
            self.deliver(now);
            let wait = match (self.clock, self.next_timer()) {
                (Clock::System, Some(next)) => StdDuration::from_millis(
                    next.as_millisecond()
                        .saturating_sub(now.as_millisecond())
                        .clamp(1, 1000) as u64,
                ),
                (Clock::System, None) => StdDuration::from_secs(1),
                (Clock::Virtual(_), _) => StdDuration::from_secs(3600),
            };
            match commands.recv_timeout(wait) {
                Ok(command) => self.handle(command),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let now = self.clock.now();
        self.deliver(now);
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Ingest {
                events,
                audit,
                reply,
            } => {
                let _ = reply.send(self.ingest(events, &audit).map_err(|e| e.to_string()));
            }
            Command::Case {
                gemeente,
                case,
                audit,
                reply,
            } => {
                let _ = reply.send(
                    self.case_view(&gemeente, &case, &audit)
                        .map_err(|e| e.to_string()),
                );
            }
            Command::Deadlines {
                filter,
                audit,
                reply,
            } => {
                let result = self
                    .store
                    .audit(&audit)
                    .and_then(|_| self.store.deadlines(&filter));
                let _ = reply.send(result.map_err(|e| e.to_string()));
            }
            Command::Notifications {
                filter,
                audit,
                reply,
            } => {
                let result = self
                    .store
                    .audit(&audit)
                    .and_then(|_| self.store.notifications(&filter));
                let _ = reply.send(result.map_err(|e| e.to_string()));
            }
            Command::AdvanceClock { to, reply } => {
                let result = match self.clock {
                    Clock::Virtual(now) if to >= now => {
                        self.clock = Clock::Virtual(to);
                        self.fire_timers(to);
                        self.deliver(to);
                        Ok(to)
                    }
                    Clock::Virtual(now) => Err(format!(
                        "the virtual clock is at {now} and does not go back"
                    )),
                    Clock::System => Err("this daemon runs on the system clock".into()),
                };
                let _ = reply.send(result);
            }
            Command::TakeDue {
                channel,
                limit,
                reply,
            } => {
                let _ = reply.send(self.take_due(&channel, limit));
            }
            Command::Report { channel, results } => self.report(&channel, results),
            Command::Reload { engine, reply } => {
                let _ = reply.send(self.reload(*engine).map_err(|e| e.to_string()));
            }
            Command::Metrics { reply } => {
                let pending = self
                    .cases
                    .values()
                    .filter(|c| c.next_wakeup().is_some())
                    .count();
                self.metrics
                    .pending_timers
                    .store(pending as u64, std::sync::atomic::Ordering::Relaxed);
                let counts = self.store.delivery_counts().unwrap_or_else(|err| {
                    tracing_error("reading delivery counts failed", &err.to_string());
                    Vec::new()
                });
                let _ = reply.send(self.metrics.render(&counts));
            }
            Command::Status { reply } => {
                let _ = reply.send(Status {
                    now: crate::calendar::format_timestamp(self.clock.now()),
                    cases: self.cases.len(),
                    pending_timers: self
                        .cases
                        .values()
                        .filter(|c| c.next_wakeup().is_some())
                        .count(),
                });
            }
        }
    }

    /// New events are applied to the engine and stored with the notifications they cause in
    /// one transaction, before the caller hears "accepted".
    fn ingest(
        &mut self,
        events: Vec<Event>,
        audit: &AuditEntry,
    ) -> Result<Vec<Outcome>, StoreError> {
        let now = self.clock.now();
        let mut outcomes = Vec::with_capacity(events.len());
        let mut fresh = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for event in events {
            let key = (event.gemeente.clone(), event.id.clone());
            if seen.contains(&key) || self.store.exists(&event.gemeente, &event.id)? {
                outcomes.push(Outcome::Duplicate);
                continue;
            }
            seen.insert(key);
            outcomes.push(Outcome::Accepted);
            fresh.push(event);
        }
        let mut notifications = Vec::new();
        let mut touched = Vec::new();
        for event in &fresh {
            let key = (event.gemeente.clone(), event.case.clone());
            let case = self
                .cases
                .entry(key.clone())
                .or_insert_with(|| Case::new(&event.gemeente, &event.case));
            // An event from the future (a sender's clock ahead) counts as happening now.
            let at = event.at.min(now);
            notifications.extend(case.apply(
                &self.engine,
                Event {
                    at,
                    ..event.clone()
                },
                now,
            ));
            touched.push(key);
        }
        let outgoing = self.outgoing(&notifications);
        match self.store.commit(&fresh, &outgoing, now) {
            Ok(inserted) => debug_assert!(inserted.iter().all(|i| *i == Insert::Accepted)),
            Err(err) => {
                // Memory ran ahead of the store: put it back to what is durable.
                self.rebuild()?;
                return Err(err);
            }
        }
        self.store.audit(audit)?;
        touched.sort();
        touched.dedup();
        for key in touched {
            self.refresh(&key, now)?;
        }
        self.deliver(now);
        Ok(outcomes)
    }

    /// Stores the case's deadlines for queries and schedules its next wakeup.
    fn refresh(&mut self, key: &(String, String), now: Timestamp) -> Result<(), StoreError> {
        let Some(case) = self.cases.get(key) else {
            return Ok(());
        };
        let rows = case.deadlines(&self.engine, now);
        if let Some(moment) = case.next_wakeup() {
            self.timers
                .push(Reverse((moment, key.0.clone(), key.1.clone())));
        }
        self.store.put_deadlines(&key.0, &key.1, &rows)
    }

    fn next_timer(&mut self) -> Option<Timestamp> {
        while let Some(Reverse((moment, gemeente, case))) = self.timers.peek() {
            let current = self
                .cases
                .get(&(gemeente.clone(), case.clone()))
                .and_then(Case::next_wakeup);
            if current == Some(*moment) {
                return Some(*moment);
            }
            self.timers.pop();
        }
        None
    }

    fn fire_timers(&mut self, now: Timestamp) {
        while let Some(moment) = self.next_timer().filter(|m| *m <= now) {
            let Reverse((_, gemeente, case)) = self.timers.pop().expect("peeked");
            let key = (gemeente, case);
            let Some(state) = self.cases.get_mut(&key) else {
                continue;
            };
            // Fire at the timer's own moment, so a virtual jump of a month sends each reminder
            // as it would have gone out, in order.
            let notifications = state.tick(&self.engine, moment);
            self.metrics
                .timer_lateness
                .observe((now.as_millisecond() - moment.as_millisecond()) as f64 / 1000.0);
            if let Err(err) = self
                .store
                .record(&self.outgoing(&notifications))
                .and_then(|_| self.refresh(&key, moment))
            {
                tracing_error("recording timer notifications failed", &err.to_string());
            }
        }
    }

    /// Each notification with the channels that must deliver it.
    fn outgoing<'n>(&self, notifications: &'n [Notification]) -> Vec<Outgoing<'n>> {
        notifications
            .iter()
            .map(|n| Outgoing {
                notification: n,
                channels: self.routing.channels(n),
            })
            .collect()
    }

    fn policy(&self, channel: &str) -> RetryPolicy {
        self.policies
            .get(channel)
            .copied()
            .unwrap_or(RetryPolicy::new(8))
    }

    /// Records how a delivery attempt went: delivered, retried later with backoff, or dead.
    fn settle_attempt(
        &mut self,
        channel: &str,
        id: &str,
        sent: Sent,
        attempt: Attempt,
        now: Timestamp,
    ) {
        let attempts_before = sent.attempts;
        let result = match attempt {
            Attempt::Delivered => {
                if let Some(at) = sent.at {
                    self.metrics
                        .delivery_latency
                        .observe((now.as_millisecond() - at.as_millisecond()) as f64 / 1000.0);
                }
                self.store.delivered(id, channel, now)
            }
            Attempt::Failed(error) => {
                let retry_at = self.policy(channel).retry_at(attempts_before + 1, now);
                if retry_at.is_none() {
                    log_line(
                        "warn",
                        "delivery gave up: dead letter",
                        &[
                            ("channel", channel),
                            ("notification", id),
                            ("cause", &error),
                        ],
                    );
                }
                self.store.failed(id, channel, &error, retry_at)
            }
            Attempt::Impossible(error) => {
                log_line(
                    "warn",
                    "delivery impossible: dead letter",
                    &[
                        ("channel", channel),
                        ("notification", id),
                        ("cause", &error),
                    ],
                );
                self.store.failed(id, channel, &error, None)
            }
        };
        if let Err(err) = result {
            tracing_error("recording a delivery failed", &err.to_string());
        }
    }

    /// The log channel: each due notification as one JSON line, synced to disk before it is
    /// marked delivered (a crash in between delivers it again, with the same id).
    fn deliver(&mut self, now: Timestamp) {
        let due = match self.store.due(delivery::LOG, now, 1000) {
            Ok(due) => due,
            Err(err) => return tracing_error("reading the outbox failed", &err.to_string()),
        };
        for Due {
            id,
            record,
            attempts,
        } in due
        {
            let written = serde_json::to_writer(&mut self.log, &record)
                .map_err(std::io::Error::from)
                .and_then(|_| self.log.write_all(b"\n"))
                .and_then(|_| self.log.sync_data());
            let attempt = match written {
                Ok(()) => Attempt::Delivered,
                Err(err) => Attempt::Failed(err.to_string()),
            };
            let sent = Sent {
                attempts,
                at: record_moment(&record),
            };
            self.settle_attempt(delivery::LOG, &id, sent, attempt, now);
        }
    }

    /// Hands a worker its due deliveries, leaving out those another batch still carries.
    fn take_due(&mut self, channel: &str, limit: u32) -> Vec<Due> {
        let now = self.clock.now();
        let due = match self
            .store
            .due(channel, now, limit + self.in_flight.len() as u32)
        {
            Ok(due) => due,
            Err(err) => {
                tracing_error("reading the outbox failed", &err.to_string());
                return Vec::new();
            }
        };
        let mut taken = Vec::new();
        for item in due {
            let key = (channel.to_string(), item.id.clone());
            if taken.len() < limit as usize && !self.in_flight.contains_key(&key) {
                self.in_flight.insert(
                    key,
                    Sent {
                        attempts: item.attempts,
                        at: record_moment(&item.record),
                    },
                );
                taken.push(item);
            }
        }
        taken
    }

    fn report(&mut self, channel: &str, results: Vec<(String, Attempt)>) {
        let now = self.clock.now();
        for (id, attempt) in results {
            let sent = self
                .in_flight
                .remove(&(channel.to_string(), id.clone()))
                .unwrap_or(Sent {
                    attempts: 0,
                    at: None,
                });
            self.settle_attempt(channel, &id, sent, attempt, now);
        }
        // A batch whose worker lost track of some (a panicking send) releases them here.
        self.in_flight.retain(|(c, _), _| c != channel);
    }

    fn case_view(
        &mut self,
        gemeente: &str,
        case: &str,
        audit: &AuditEntry,
    ) -> Result<Option<CaseView>, StoreError> {
        self.store.audit(audit)?;
        if !self
            .cases
            .contains_key(&(gemeente.to_string(), case.to_string()))
        {
            return Ok(None);
        }
        let filter = Filter {
            gemeenten: vec![gemeente.to_string()],
            case: Some(case.to_string()),
            limit: 10_000,
            ..Filter::default()
        };
        Ok(Some(CaseView {
            gemeente: gemeente.to_string(),
            case: case.to_string(),
            events: self.store.case_events(gemeente, case)?,
            deadlines: self.store.deadlines(&filter)?,
            notifications: self.store.notifications(&filter)?,
        }))
    }
}

/// Errors of the core go to standard error as one JSON line; no case data in them.
fn tracing_error(what: &str, cause: &str) {
    log_line("error", what, &[("cause", cause)]);
}

/// One JSON line on standard error: the daemon's log. Only ids and codes, never personal data.
pub fn log_line(level: &str, message: &str, fields: &[(&str, &str)]) {
    let mut line = serde_json::json!({ "level": level, "message": message });
    for (key, value) in fields {
        line[*key] = serde_json::Value::String(value.to_string());
    }
    eprintln!("{line}");
}
