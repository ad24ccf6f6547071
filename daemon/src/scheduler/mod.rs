//! The daemon's core: one thread that owns the engine state, the store and the clock, and
//! serves commands from the API in order. One writer keeps the invariant simple: the engine
//! state in memory is always the fold of the events in the store.

pub mod ask;
mod ingest;
mod outbox;
pub use ask::{REQUEST_TIMEOUT, Unanswered, ask_scheduler};
mod cases;
mod dispatch;
pub mod intake;
mod overviews;
pub mod pages;
mod shared;
mod timers;
pub mod worker;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration as StdDuration;

use jiff::Timestamp;
use tokio::sync::oneshot;

use crate::delivery::log::{self as log_channel, Line, LogChannel, Recovered};
use crate::delivery::{self, Attempt, RetryPolicy, Routing};
use crate::scope::Scope;
use crate::store::{
    AuditEntry, CaseKey, DeadlineRow, Due, Filter, OutboxRow, Outgoing, Store, StoreError,
};
use cases::CaseCache;
use dispatch::Dispatch;
pub use dispatch::{Bells, bells};
use timers::TimerQueue;
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::{Engine, HookCall, Notification};
use waakvlam_core::event::Event;

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
            // The engine's time: the wall clock here, or a test's virtual one. (Audit
            // lines, the brake on guessing and delivery timeouts read the wall clock
            // themselves: they speak of the world, not of the engine.)
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
    /// Not taken, and why: its case is out of service (its stored events cannot be read).
    Refused(String),
}

/// Why the scheduler could not do what was asked. The API module alone turns these into statuses.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the virtual clock is at {now} and does not go back")]
    ClockBackwards { now: Timestamp },
    #[error("this daemon runs on the system clock")]
    SystemClock,
    /// A batch of events failed as a whole (every request of the group hears the same).
    #[error("the events could not be stored; nothing was accepted: {0}")]
    NotStored(String),
}

/// The answer of the scheduler to a request.
pub type Reply<T> = oneshot::Sender<Result<T, SchedulerError>>;

/// One `POST /v1/events` waiting for its answer.
pub struct Ingest {
    events: Vec<Event>,
    /// One line per gemeente the request writes for.
    audit: Vec<AuditEntry>,
    reply: Reply<Vec<Outcome>>,
}

pub enum Command {
    Ingest {
        events: Vec<Event>,
        /// One line per gemeente the request writes for.
        audit: Vec<AuditEntry>,
        reply: Reply<Vec<Outcome>>,
    },
    Case {
        gemeente: String,
        case: String,
        audit: AuditEntry,
        reply: Reply<Option<CaseView>>,
    },
    Deadlines {
        filter: Filter,
        /// One line per gemeente the read covers.
        audit: Vec<AuditEntry>,
        reply: Reply<Vec<DeadlineRow>>,
    },
    Notifications {
        filter: Filter,
        /// One line per gemeente the read covers.
        audit: Vec<AuditEntry>,
        reply: Reply<Vec<OutboxRow>>,
    },
    AdvanceClock {
        to: Timestamp,
        /// Answer only when everything due by `to` is recorded (tests); otherwise timers fire
        /// in rounds as on the system clock, with the API answering in between.
        wait: bool,
        reply: Reply<Timestamp>,
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
        /// The fingerprint of the definitions the engine was built from.
        definitions: String,
        reply: Reply<usize>,
    },
    /// An audit line that needs no answer: a refused access.
    Audit {
        entry: AuditEntry,
    },
    /// Audit lines, for a privacy officer.
    AuditLog {
        filter: crate::store::AuditFilter,
        audit: Vec<AuditEntry>,
        reply: Reply<Vec<AuditEntry>>,
    },
    /// The metrics, with what only the store knows.
    Metrics {
        reply: oneshot::Sender<String>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    /// What the web pages ask.
    Page(pages::PageCommand),
    /// SIGHUP: open the notifications log again (after a rotation).
    ReopenLog,
    /// Another daemon on the shared store committed changes to these cases' timers.
    Changed {
        keys: Vec<CaseKey>,
    },
    /// The changes of other daemons may have been missed (the connection that hears of them
    /// was lost): every timer is read again.
    Resync,
    /// iJw messages, read and with their BSNs made pseudonyms, taken in one batch (the inbox
    /// sends what it found at one look; the API one): the answers per message, in order.
    Ijw {
        messages: Vec<intake::IjwMessage>,
        reply: Reply<Vec<Vec<waakvlam_core::ijw::intake::Answer>>>,
    },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CaseView {
    pub gemeente: String,
    pub case: String,
    pub events: Vec<crate::store::EventRecord>,
    pub deadlines: Vec<CaseDeadline>,
    pub notifications: Vec<OutboxRow>,
}

/// A deadline of one case with how its due date came about, in Dutch, a sentence a step
/// (DESIGN.md, "Every due date explains itself").
#[derive(Clone, Debug, serde::Serialize)]
pub struct CaseDeadline {
    #[serde(flatten)]
    pub row: DeadlineRow,
    pub explanation: Vec<String>,
}

impl CaseDeadline {
    /// The store's rows of a case with the engine's explanations; a row the engine does not
    /// know (it cannot be, both come from the same case) gets none rather than a wrong one.
    pub fn explained(
        rows: Vec<DeadlineRow>,
        explanations: &waakvlam_core::engine::Explanations,
    ) -> Vec<CaseDeadline> {
        rows.into_iter()
            .map(|row| {
                let key = (row.instance.clone(), row.deadline.clone(), row.occurrence);
                CaseDeadline {
                    explanation: explanations.get(&key).cloned().unwrap_or_default(),
                    row,
                }
            })
            .collect()
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Status {
    pub now: String,
    /// Cases in memory (a cache).
    pub cases: usize,
    pub pending_timers: usize,
}

pub struct Scheduler<S: Store> {
    engine: Engine,
    store: S,
    clock: Clock,
    cases: CaseCache,
    timers: TimerQueue,
    log: LogChannel,
    /// Routing, retries, what the workers have in hand and when to wake them.
    dispatch: Dispatch,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    audit: AuditRetention,
    overviews: overviews::OverviewClock,
    leadership: crate::leadership::Leadership,
    /// Other daemons write the store too (PostgreSQL): memory is a cache to check.
    shared: bool,
}

/// How long audit lines are kept, and the last day the older ones were removed.
struct AuditRetention {
    keep: waakvlam_core::calendar::Duration,
    done_for: Option<waakvlam_core::calendar::Day>,
}

/// What a batch wrote besides the store: the cases it touched (dropped from memory if it is
/// rolled back) and the log lines to write once it is committed.
#[derive(Default)]
struct Batch {
    touched: Vec<CaseKey>,
    lines: Vec<Line>,
}

/// An open batch. Dropped without [`BatchGuard::commit`] (an error, a panic), it rolls back
/// the store's transaction, the case cache and the timer queue together.
struct BatchGuard<'c, S: Store> {
    core: &'c mut Scheduler<S>,
    batch: Batch,
    committed: bool,
}

impl<'c, S: Store> BatchGuard<'c, S> {
    fn begin(core: &'c mut Scheduler<S>) -> Result<BatchGuard<'c, S>, StoreError> {
        core.cases.trim();
        core.begin()?;
        Ok(BatchGuard {
            core,
            batch: Batch::default(),
            committed: false,
        })
    }

    /// The scheduler and the batch, to work on both.
    fn parts(&mut self) -> (&mut Scheduler<S>, &mut Batch) {
        (self.core, &mut self.batch)
    }

    /// Commits the transaction; then what the batch staged counts. Returns the log lines to
    /// write. A failed commit rolls back (the guard is dropped uncommitted).
    fn commit(mut self) -> Result<Vec<Line>, StoreError> {
        self.core.commit()?;
        self.core.cases.commit();
        self.core.timers.commit();
        self.committed = true;
        Ok(std::mem::take(&mut self.batch.lines))
    }
}

impl<S: Store> Drop for BatchGuard<'_, S> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if let Err(err) = self.core.store.abandon() {
            tracing::error!(cause = %err, "rolling back failed");
        }
        self.core.cases.rollback(&self.batch.touched);
        self.core.timers.rollback();
    }
}

/// A delivery handed to a worker: how often it was tried before, and the notification's
/// send time (for the delivery latency).
#[derive(Clone, Copy, Debug)]
struct Sent {
    attempts: u32,
    at: Option<Timestamp>,
}

/// What the scheduler needs besides the engine and the store.
pub struct Setup {
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub clock: Clock,
    /// The log channel's file.
    pub log: std::path::PathBuf,
    pub routing: Routing,
    pub policies: HashMap<String, RetryPolicy>,
    /// How long audit lines are kept (`daemon.audit_retention`).
    pub audit_retention: waakvlam_core::calendar::Duration,
    /// The fingerprint of the definitions the engine was built from (see
    /// the reload module's `definitions_fingerprint`).
    pub definitions: String,
    /// The scheduled overviews of the configuration.
    pub overviews: Vec<waakvlam_core::overview::Overview>,
    /// Whether this daemon runs the timers and the delivery.
    pub leadership: crate::leadership::Leadership,
    /// The delivery workers' bells (see the dispatch module).
    pub bells: Bells,
}

/// How many cases stay in memory between uses.
const CACHED_CASES: usize = 200_000;
/// How many timers fire between two looks at the commands, so the API keeps answering while
/// many timers fall due at once.
const TIMERS_PER_ROUND: usize = 2_000;
/// How many events at most go into one group commit.
const EVENTS_PER_COMMIT: usize = 20_000;

impl<S: Store> Scheduler<S> {
    /// Starts on what the store holds: the pending timers, nothing else. Cases are rebuilt
    /// from their events when a timer or an event needs them, and what fell due while the
    /// daemon was down fires at once, once.
    pub fn start(engine: Engine, mut store: S, setup: Setup) -> Result<Scheduler<S>, StoreError> {
        let Setup {
            metrics,
            clock,
            log,
            routing,
            policies,
            audit_retention,
            definitions,
            overviews,
            leadership,
            bells,
        } = setup;
        // A virtual clock goes on where it stood, not at the system's time.
        let clock = match (clock, store.virtual_now()?) {
            (Clock::Virtual(_), Some(stood)) => Clock::Virtual(stood),
            (clock, _) => clock,
        };
        let (log, recovered) = LogChannel::open(&log, &mut store, clock.now())?;
        if recovered != Recovered::default() {
            tracing::warn!(
                lines = recovered.lines,
                bytes_cut = recovered.cut,
                "the notifications log held lines not yet marked delivered (a crash); marked now"
            );
        }
        let timers = store.timers()?;
        let mut core = Scheduler {
            engine,
            store,
            clock,
            cases: CaseCache::new(CACHED_CASES),
            timers: TimerQueue::new(timers.due),
            dispatch: Dispatch::new(routing, policies, bells, clock.now()),
            log,
            metrics,
            audit: AuditRetention {
                keep: audit_retention,
                done_for: None,
            },
            overviews: overviews::OverviewClock::new(overviews),
            leadership,
            shared: false,
        };
        core.shared = core.store.shared();
        if !timers.unreadable.is_empty() {
            // Their cases get a valid timer again from their events.
            tracing::error!(
                cases = timers.unreadable.len(),
                "timer rows cannot be read; their cases are recalculated"
            );
            let now = core.clock.now();
            let (_, lines) = core.in_batch(|core, batch| {
                for key in &timers.unreadable {
                    core.recompute(key, now, batch)?;
                }
                Ok(())
            })?;
            core.write_log(lines, now);
        }
        // Deadlines are stored as last computed. Definitions that changed while the daemon
        // was down (a new holiday decision, an edited workflow, an upgrade) would leave them
        // stale until each case is touched: recompute everything once, now.
        let stored = core.store.definitions()?;
        if stored.as_deref() != Some(definitions.as_str()) {
            if stored.is_some() || !core.store.case_keys()?.is_empty() {
                tracing::info!(
                    "the definitions changed since the store was last written; recalculating every case"
                );
                let moved = core.recompute_all()?;
                tracing::info!(deadlines_moved = moved, "recalculated at start");
            }
            core.store_definitions(&definitions)?;
        }
        core.log_provisional("start");
        let now = core.clock.now();
        core.plan_overviews(now)?;
        Ok(core)
    }

    /// Runs `work` as one batch: one transaction of the store, behind a [`BatchGuard`]. When
    /// the work and the commit succeed, what the batch staged in the case cache and the timer
    /// queue counts, and the log lines it recorded are returned for writing; otherwise the
    /// guard rolls the store, the cache and the queue back together. Every write goes
    /// through here.
    fn in_batch<T>(
        &mut self,
        work: impl FnOnce(&mut Self, &mut Batch) -> Result<T, StoreError>,
    ) -> Result<(T, Vec<Line>), StoreError> {
        let mut guard = BatchGuard::begin(self)?;
        let (core, batch) = guard.parts();
        let value = work(core, batch)?;
        let lines = guard.commit()?;
        Ok((value, lines))
    }

    /// Brings one case up to `now` inside a batch: what is due is recorded, its deadlines
    /// and timer are stored. Returns its deadlines.
    fn recompute(
        &mut self,
        key: &CaseKey,
        now: Timestamp,
        batch: &mut Batch,
    ) -> Result<Vec<DeadlineRow>, StoreError> {
        let notifications = self
            .cases
            .load(key, &self.engine, &self.store)?
            .tick(&self.engine, now);
        batch.touched.push(key.clone());
        batch.lines.extend(self.record(&notifications, now)?);
        self.refresh(key, now)
    }

    /// Swaps in new definitions (workflows, holiday data): every case is recomputed from its events as if the
    /// new definitions had always applied. What was sent stays sent; deadlines that move are
    /// logged, each with its old and new due date. Blocks the scheduler while it runs: reloads are
    /// rare, and a consistent swap matters more than the API's latency for that moment.
    fn reload(&mut self, engine: Engine, definitions: &str) -> Result<usize, SchedulerError> {
        self.engine = engine;
        // New holiday data moves the runs of the overviews too.
        self.plan_overviews(self.clock.now())?;
        let moved = self.recompute_all()?;
        self.store_definitions(definitions)?;
        self.log_provisional("definitions reloaded");
        Ok(moved)
    }

    /// How many cases have a timer.
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// A read of case data, audited first (NEN 7513): no answer without its audit line.
    fn audited_read<T>(
        &mut self,
        audit: &[AuditEntry],
        read: impl FnOnce(&S) -> Result<T, StoreError>,
    ) -> Result<T, SchedulerError> {
        self.in_batch(|core, _| audit.iter().try_for_each(|line| core.store.audit(line)))?;
        Ok(read(&self.store)?)
    }

    /// Removes audit lines older than the retention, once a day.
    fn forget_old_audit(&mut self, now: Timestamp) {
        let today = waakvlam_core::calendar::local_day(now);
        if self.audit.done_for == Some(today) {
            return;
        }
        let before = self.audit.keep.subtract_from(today).to_string();
        // One statement on its own (atomic by itself) rather than a batch: it touches nothing
        // the scheduler holds in memory, and a batch would also mark written log lines.
        match self.store.forget_audit_before(&before) {
            Ok(removed) => {
                self.audit.done_for = Some(today);
                if removed > 0 {
                    tracing::info!(removed, before = %before, "audit lines past their retention removed");
                }
            }
            Err(err) => tracing::error!(cause = %err, "removing old audit lines failed"),
        }
    }

    /// Records the fingerprint of the definitions the stored deadlines now follow.
    fn store_definitions(&mut self, definitions: &str) -> Result<(), StoreError> {
        self.in_batch(|core, _| core.store.set_definitions(definitions))
            .map(|_| ())
    }

    /// Logs how many open deadlines are provisional (a legal term past the years the holiday
    /// data covers) and from which day on a term counts as such.
    fn log_provisional(&mut self, when: &str) {
        let from = self.engine.calendar.provisional_from().map_or_else(
            || "every day (no holiday data)".to_string(),
            |d| d.to_string(),
        );
        match self.store.provisional_deadlines() {
            Ok(provisional) => {
                self.metrics
                    .provisional_deadlines
                    .store(provisional.open, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    when,
                    provisional = provisional.open,
                    provisional_from = %from,
                    first_due = %provisional.first_due.map_or_else(|| "-".into(), |d| d.to_string()),
                    "provisional deadlines: legal terms ending past the holiday data may still move"
                );
            }
            Err(err) => tracing::error!(cause = %err, "counting provisional deadlines failed"),
        }
    }

    /// Recomputes every case from its events under the current engine; logs each deadline
    /// whose due date moved. A case whose events cannot be read stays out of service and is
    /// skipped. Returns how many deadlines moved.
    fn recompute_all(&mut self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let before = self.store.every_due_date()?;
        self.cases.clear();
        let keys = self.store.case_keys()?;
        let mut moved = 0;
        for chunk in keys.chunks(TIMERS_PER_ROUND) {
            let (views, lines) = self.in_batch(|core, batch| {
                core.take_cases(chunk.iter().cloned())?;
                let mut views = Vec::new();
                for key in chunk {
                    match core.recompute(key, now, batch) {
                        Ok(rows) => views.extend(rows),
                        Err(StoreError::Damaged { .. }) => core.timers.forget(key),
                        Err(err) => return Err(err),
                    }
                }
                Ok(views)
            })?;
            self.write_log(lines, now);
            for d in views {
                let old = before.get(&(d.instance.clone(), d.deadline.clone(), d.occurrence));
                if old.is_some_and(|old| *old != d.due) || (old.is_none() && !d.status.is_settled())
                {
                    moved += 1;
                    let text = |due: Option<Day>| due.map_or_else(|| "-".into(), |d| d.to_string());
                    let (old, new) = (text(old.copied().flatten()), text(d.due));
                    tracing::info!(
                        instance = %d.instance,
                        deadline = %d.deadline,
                        old_due = %old,
                        new_due = %new,
                        "deadline recalculated"
                    );
                }
            }
        }
        Ok(moved)
    }

    /// Serves commands until every sender is gone. Between commands it fires due timers (a
    /// round at a time, so the API keeps answering) and delivers the log channel. Events of
    /// requests that queued up meanwhile are committed together.
    pub fn run(mut self, commands: mpsc::Receiver<Command>) {
        loop {
            let now = self.clock.now();
            let leads = self.leadership.leads();
            let more_due = leads && self.fire_timers(now);
            if leads {
                self.forget_old_audit(now);
                if !more_due {
                    self.fire_overviews(now);
                }
                // Other daemons record notifications for the log too: look at the outbox for
                // them once a second, not after every command.
                if self.shared
                    && self
                        .dispatch
                        .outbox_looked
                        .is_none_or(|at| at.elapsed() >= crate::store::postgres::lease::RENEW_EVERY)
                {
                    self.dispatch.outbox_looked = Some(std::time::Instant::now());
                    self.log.look_at_outbox_by(now);
                    self.dispatch.all_due_by(now);
                }
                self.deliver(now);
                self.dispatch.ring(now);
            }
            let next = [
                self.timers.next(),
                self.overviews.next(),
                self.dispatch.next(),
            ]
            .into_iter()
            .flatten()
            .min();
            let wait = match (self.clock, next) {
                _ if more_due => StdDuration::ZERO,
                (Clock::System, Some(next)) => StdDuration::from_millis(
                    next.as_millisecond()
                        .saturating_sub(now.as_millisecond())
                        .clamp(1, 1000) as u64,
                ),
                (Clock::System, None) => StdDuration::from_secs(1),
                (Clock::Virtual(_), _) => StdDuration::from_secs(3600),
            };
            // Sharing the work, look again each second: the lease may come to this daemon,
            // and other daemons' deliveries fall due unseen.
            let wait = if self.shared {
                wait.min(crate::store::postgres::lease::RENEW_EVERY)
            } else {
                wait
            };
            // Written log lines are marked by the next transaction; if none comes soon, by
            // one of their own.
            let marking = self.log.has_unmarked();
            let wait = if marking {
                wait.min(log_channel::MARK_WITHIN)
            } else {
                wait
            };
            let first = match commands.recv_timeout(wait) {
                Ok(command) => command,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if marking {
                        self.mark_logged();
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut queue = vec![first];
            queue.extend(commands.try_iter().take(1000));
            self.handle_all(queue);
        }
        let now = self.clock.now();
        self.deliver(now);
        self.mark_logged();
    }

    /// Handles commands in order; runs of `Ingest` share one commit.
    fn handle_all(&mut self, queue: Vec<Command>) {
        let mut group: Vec<Ingest> = Vec::new();
        let mut events = 0;
        for command in queue {
            match command {
                Command::Ingest {
                    events: batch,
                    audit,
                    reply,
                } if events + batch.len() <= EVENTS_PER_COMMIT || group.is_empty() => {
                    events += batch.len();
                    group.push(Ingest {
                        events: batch,
                        audit,
                        reply,
                    });
                }
                other => {
                    if !group.is_empty() {
                        self.ingest(std::mem::take(&mut group));
                        events = 0;
                    }
                    match other {
                        Command::Ingest {
                            events: batch,
                            audit,
                            reply,
                        } => {
                            events = batch.len();
                            group.push(Ingest {
                                events: batch,
                                audit,
                                reply,
                            });
                        }
                        other => self.handle(other),
                    }
                }
            }
        }
        if !group.is_empty() {
            self.ingest(group);
        }
    }

    fn handle(&mut self, command: Command) {
        if matches!(
            command,
            Command::Case { .. }
                | Command::Deadlines { .. }
                | Command::Notifications { .. }
                | Command::Metrics { .. }
                | Command::Page(_)
        ) {
            // What is in the log file reads as delivered.
            self.mark_logged();
        }
        match command {
            Command::Ingest {
                events,
                audit,
                reply,
            } => self.ingest(vec![Ingest {
                events,
                audit,
                reply,
            }]),
            Command::Case {
                gemeente,
                case,
                audit,
                reply,
            } => {
                let key = CaseKey { gemeente, case };
                let _ = reply.send(self.case_view(&key, &audit).map_err(SchedulerError::from));
            }
            Command::Deadlines {
                mut filter,
                audit,
                reply,
            } => {
                let today = waakvlam_core::calendar::local_day(self.clock.now());
                filter.today = Some(today);
                let _ = reply.send(self.audited_read(&audit, |store| store.deadlines(&filter)));
            }
            Command::Notifications {
                filter,
                audit,
                reply,
            } => {
                let _ = reply.send(self.audited_read(&audit, |store| store.notifications(&filter)));
            }
            Command::AdvanceClock { to, wait, reply } => {
                // Before the first event nothing has happened yet: a test may start its clock
                // in the past (events of last year). After it, time only goes forward.
                let fresh = || self.store.case_keys().is_ok_and(|keys| keys.is_empty());
                let result = match self.clock {
                    Clock::Virtual(now) if to >= now || fresh() => {
                        if let Err(err) = self.in_batch(|core, _| core.store.set_virtual_now(to)) {
                            let _ = reply.send(Err(err.into()));
                            return;
                        }
                        self.clock = Clock::Virtual(to);
                        if to < now
                            && let Err(err) = self.plan_overviews(to)
                        {
                            tracing::error!(cause = %err, "planning the overviews failed");
                        }
                        if wait && self.leadership.leads() {
                            while self.fire_timers(to) {}
                            self.fire_overviews(to);
                            self.deliver(to);
                        }
                        Ok(to)
                    }
                    Clock::Virtual(now) => Err(SchedulerError::ClockBackwards { now }),
                    Clock::System => Err(SchedulerError::SystemClock),
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
            Command::Reload {
                engine,
                definitions,
                reply,
            } => {
                let _ = reply.send(self.reload(*engine, &definitions));
            }
            Command::Audit { entry } => {
                if let Err(err) = self.in_batch(|core, _| core.store.audit(&entry)) {
                    tracing::error!(cause = %err, "writing the audit line of a refusal failed");
                }
            }
            Command::Ijw { messages, reply } => self.take_ijw(messages, reply),
            Command::Changed { keys } => self.follow(keys),
            Command::Resync => self.resync(),
            Command::ReopenLog => self.reopen_log(),
            Command::AuditLog {
                filter,
                audit,
                reply,
            } => {
                let result = self.audited_read(&audit, |store| store.audit_log(&filter));
                let _ = reply.send(result);
            }
            Command::Metrics { reply } => {
                use std::sync::atomic::Ordering::Relaxed;
                let pending = self.timers.len();
                self.metrics.pending_timers.store(pending as u64, Relaxed);
                let out = self.cases.out_of_service();
                self.metrics.cases_out_of_service.store(out as u64, Relaxed);
                let counts = self.store.delivery_counts().unwrap_or_else(|err| {
                    tracing::error!(cause = %err, "reading delivery counts failed");
                    Vec::new()
                });
                match self.store.provisional_deadlines() {
                    Ok(provisional) => self
                        .metrics
                        .provisional_deadlines
                        .store(provisional.open, std::sync::atomic::Ordering::Relaxed),
                    Err(err) => {
                        tracing::error!(cause = %err, "counting provisional deadlines failed")
                    }
                }
                let _ = reply.send(self.metrics.render(&counts));
            }
            Command::Page(command) => self.handle_page(command),
            Command::Status { reply } => {
                let _ = reply.send(Status {
                    now: waakvlam_core::calendar::format_timestamp(self.clock.now()),
                    cases: self.cases.len(),
                    pending_timers: self.timers.len(),
                });
            }
        }
    }

    /// Begins a transaction; lines the log channel wrote since the last one are marked
    /// delivered in it.
    fn begin(&mut self) -> Result<(), StoreError> {
        self.store.begin()?;
        self.log.mark(&mut self.store)
    }

    /// Commits the transaction; what it marked in the log channel counts as marked.
    fn commit(&mut self) -> Result<(), StoreError> {
        self.store.finish()?;
        self.log.committed();
        Ok(())
    }

    fn case_view(
        &mut self,
        key: &CaseKey,
        audit: &AuditEntry,
    ) -> Result<Option<CaseView>, StoreError> {
        self.store.audit(audit)?;
        let events = self.store.case_events(key)?;
        if events.is_empty() {
            return Ok(None);
        }
        // A case out of service says so, rather than showing deadlines that may be wrong.
        let now = self.clock.now();
        let explanations = self
            .cases
            .load(key, &self.engine, &self.store)?
            .explanations(&self.engine, now);
        let filter = Filter {
            case: Some(key.case.clone()),
            today: Some(waakvlam_core::calendar::local_day(now)),
            ..Filter::within(Scope::one(&key.gemeente), 10_000)
        };
        Ok(Some(CaseView {
            gemeente: key.gemeente.clone(),
            case: key.case.clone(),
            events,
            deadlines: CaseDeadline::explained(self.store.deadlines(&filter)?, &explanations),
            notifications: self.store.notifications(&filter)?,
        }))
    }
}

/// Errors of the scheduler go to standard error as one JSON line; no case data in them.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Outbox;
    use crate::store::SqliteStore;

    /// A core on a store of its own, removed when the returned guard is dropped.
    fn core(cache_limit: usize) -> (Scheduler<SqliteStore>, tempfile::TempDir) {
        let guard = tempfile::tempdir().unwrap();
        let dir = guard.path();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = crate::config::Config::load(&root.join("config/waakvlam.yaml")).unwrap();
        let engine =
            config.engine(waakvlam_core::workflow::load(&[root.join("workflows")]).unwrap());
        let store = SqliteStore::open(&dir.join("core.db")).unwrap();
        let log = dir.join("log.jsonl");
        let clock = Clock::Virtual(
            waakvlam_core::calendar::parse_timestamp("2027-04-13T10:00:00+02:00").unwrap(),
        );
        let setup = Setup {
            metrics: Default::default(),
            clock,
            log,
            routing: Routing::default(),
            policies: HashMap::new(),
            audit_retention: crate::config::MINIMUM_AUDIT_RETENTION,
            definitions: "test".into(),
            overviews: Vec::new(),
            leadership: crate::leadership::Leadership::Sole,
            bells: Bells::new(),
        };
        let mut core = Scheduler::start(engine, store, setup).unwrap();
        core.cases.set_limit(cache_limit);
        (core, guard)
    }

    fn complaint(case: usize) -> Event {
        waakvlam_core::event::validate(serde_json::json!({"id": format!("e-{case}"), "type": "klacht.ingediend", "gemeente": "GM0150",
            "case": format!("C-{case}"), "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-1"}}))
        .unwrap()
    }

    /// Regression: a case dropped from the cache in the middle of a batch lost its new timer.
    /// Now the cache is trimmed between batches only, and every case keeps its timer.
    #[test]
    fn a_small_cache_loses_no_timer() {
        let (mut core, _dir) = core(3);
        let (reply, answer) = oneshot::channel();
        let audit = AuditEntry {
            at: String::new(),
            token: "test".into(),
            on_behalf_of: None,
            action: "events.write".into(),
            gemeente: None,
            case: None,
            outcome: "allowed".into(),
        };
        core.ingest(vec![Ingest {
            events: (0..10).map(complaint).collect(),
            audit: vec![audit],
            reply,
        }]);
        assert_eq!(
            answer.blocking_recv().unwrap().unwrap(),
            vec![Outcome::Accepted; 10]
        );
        assert_eq!(core.timers.len(), 10);
        assert_eq!(core.store.timers().unwrap().due.len(), 10);
        // Every case's reminder fires, from the store, with the cache trimmed on the way.
        let due = waakvlam_core::calendar::parse_timestamp("2027-04-23T12:00:00+02:00").unwrap();
        core.clock = Clock::Virtual(due);
        while core.fire_timers(due) {}
        assert!(core.cases.len() <= 10);
        let recorded = core
            .store
            .notifications(&Filter::within(Scope::one("GM0150"), 100))
            .unwrap();
        assert_eq!(recorded.len(), 10);
        assert!(
            recorded
                .iter()
                .all(|n| n.record.kind == waakvlam_core::engine::Kind::Reminder)
        );
    }

    /// A batch that fails, or panics, leaves nothing behind: the store's transaction is rolled
    /// back (the next batch can begin) and the event it stored is gone.
    #[test]
    fn a_batch_rolls_back_when_it_fails_or_panics() {
        let (mut core, _dir) = core(10);
        let now = core.clock.now();
        let key = CaseKey::new("GM0150", "C-0");
        let failed = core.in_batch(|core, batch| {
            core.store.insert_event(&complaint(0), now)?;
            batch.touched.push(key.clone());
            Err::<(), _>(StoreError::Unreadable {
                what: "a test",
                rows: vec!["on purpose".into()],
            })
        });
        assert!(failed.is_err());
        assert!(core.store.events_of(&key).unwrap().is_empty());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = core.in_batch(|core, _| -> Result<(), StoreError> {
                core.store.insert_event(&complaint(0), now)?;
                panic!("on purpose")
            });
        }));
        assert!(panicked.is_err());
        assert!(core.store.events_of(&key).unwrap().is_empty());
        let (new, _) = core
            .in_batch(|core, _| core.store.insert_event(&complaint(0), now))
            .expect("a new batch begins: the last one was rolled back");
        assert!(new);
    }
}
