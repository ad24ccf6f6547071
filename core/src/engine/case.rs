//! One case: its facts, its events and its workflow instances, and how events and the passing
//! of time change them. Pure: every function takes the moment it runs at.

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::Map;

use crate::calendar::{self, Day};
use crate::event::{BirthDate, Event, EventType};
use crate::workflow::{Anchor, DateExpr, InstanceKey, Trigger, Workflow};

use super::combine;
use super::instance::{
    DeadlineStatus, Facts, Instance, Occurrence, OccurrenceStatus, Origin, Status, hash_id,
    matches, matches_any,
};
use super::notification::{self, Identity, Kind, MessageValues, Notification};
use super::schedule::{self, Planned};
use super::view::{CalendarMark, DeadlineState, DeadlineView};
use super::{Engine, HookCall, HookContext, HookSignal, MessageHook};

/// When overdue notifications may go out: from the send hour on a working day.
struct SendWindow {
    is_open: bool,
    /// The next moment the window opens, when it is closed.
    opens: Timestamp,
}

impl SendWindow {
    fn at(engine: &Engine, gemeente: &str, now: Timestamp) -> SendWindow {
        let calendar = engine.calendar_for(gemeente);
        let hour = engine.settings.send_hour;
        let today = calendar::local_day(now);
        let today_opens = calendar::send_moment(today, hour);
        if calendar.is_working_day(today) && now < today_opens {
            return SendWindow {
                is_open: false,
                opens: today_opens,
            };
        }
        let is_open = calendar.is_working_day(today);
        let next_day = calendar.working_day_on_or_after(today.add_days(1));
        SendWindow {
            is_open,
            opens: calendar::send_moment(next_day, hour),
        }
    }
}

/// A period of care: from the day care started up to (not including) the day it stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CarePeriod {
    pub start: Day,
    pub end: Option<Day>,
}

/// What is known of the young person: the least that does the job (DOMAIN.md, "Privacy").
/// `professional` and `team` of `casus.aangemeld` are not kept: nothing here needs them, and
/// resolving roles to people is the gemeente's business at delivery.
#[derive(Clone, Debug, Default)]
pub struct CaseFacts {
    pub birth: Option<BirthDate>,
    pub care: Vec<CarePeriod>,
    pub closed: bool,
}

impl CaseFacts {
    pub fn in_care_on(&self, day: Day) -> bool {
        self.care
            .iter()
            .any(|p| p.start <= day && p.end.is_none_or(|end| day < end))
    }

    /// The first day on or after `from` (and before `until`) that the young person is in care.
    fn first_day_in_care(&self, from: Day, until: Option<Day>) -> Option<Day> {
        self.care
            .iter()
            .filter(|p| p.end.is_none_or(|end| from < end))
            .map(|p| p.start.max(from))
            .filter(|day| until.is_none_or(|until| *day < until))
            .min()
    }
}

#[derive(Clone, Debug)]
pub struct Case {
    pub gemeente: String,
    pub case: String,
    pub facts: CaseFacts,
    /// Every event of the case in `at` order (ties in arrival order), to replay from when one
    /// arrives late. Empty for a case made with [`Case::in_order`].
    pub events: Vec<Event>,
    /// Ids of events withdrawn by `bericht.ingetrokken`: skipped when replayed, and ignored
    /// when they arrive after their withdrawal.
    withdrawn: HashSet<String>,
    keep_history: bool,
    pub instances: Vec<Instance>,
    /// Notifications already sent or deliberately passed over, by a hash of their identity.
    handled: Handled,
    /// The moment the state has been advanced to.
    clock: Option<Timestamp>,
    next_wakeup: Option<Timestamp>,
    /// The first moment a date-started workflow will start, once worked out; cleared when the
    /// facts or the instances change.
    pending_starts: Option<Option<Timestamp>>,
    /// Calls to the gemeente's hooks waiting for their answers (see [`HookCall`]).
    hook_calls: Vec<HookCall>,
}

impl Case {
    pub fn new(gemeente: &str, case: &str) -> Case {
        Case {
            gemeente: gemeente.to_string(),
            case: case.to_string(),
            facts: CaseFacts::default(),
            events: Vec::new(),
            withdrawn: HashSet::new(),
            keep_history: true,
            instances: Vec::new(),
            handled: Handled::default(),
            clock: None,
            next_wakeup: None,
            pending_starts: None,
            hook_calls: Vec::new(),
        }
    }

    /// A case whose events are guaranteed to arrive in `at` order (as `simulate` sorts them):
    /// it keeps no history to replay from, which halves the memory of a large simulation.
    /// An event that arrives late anyway is applied where it arrives.
    pub fn in_order(gemeente: &str, case: &str) -> Case {
        Case {
            keep_history: false,
            ..Case::new(gemeente, case)
        }
    }

    /// Takes in an event at `now` and returns what must be sent now: signals, and whatever the
    /// new state says was due by now and was not sent (a late event, a correction).
    pub fn apply(&mut self, engine: &Engine, event: Event, now: Timestamp) -> Vec<Notification> {
        self.take_in(engine, event, now, AnswerHooks::Now)
    }

    /// As [`Case::apply`], but the calls to the gemeente's hooks wait in the case: the caller
    /// takes them ([`Case::take_hook_calls`]) and hands back their answers
    /// ([`Case::hooks_answered`]), which sends the signals they raise.
    pub fn apply_later(
        &mut self,
        engine: &Engine,
        event: Event,
        now: Timestamp,
    ) -> Vec<Notification> {
        self.take_in(engine, event, now, AnswerHooks::Later)
    }

    fn take_in(
        &mut self,
        engine: &Engine,
        event: Event,
        now: Timestamp,
        answer: AnswerHooks,
    ) -> Vec<Notification> {
        let mut signals = Vec::new();
        if self.withdrawn.contains(&event.id) {
            // Withdrawn before it arrived (a start dated later than its delete).
            return self.settle(engine, signals, now, answer);
        }
        let withdraws = (event.event_type == EventType::BERICHT_INGETROKKEN)
            .then(|| event.data_text("ingetrokken_id"))
            .flatten();
        if !self.keep_history {
            self.advance(engine, event.at);
            self.fold(engine, &event, &mut signals);
            return self.settle(engine, signals, now, answer);
        }
        // Late: earlier than an event already applied, or than the moment the case was
        // already brought to (a burst of old events arriving at once, a backfill). Folded in
        // place, such an event would change the facts after the case had passed the days they
        // matter on: a start on a date between the event and now would be missed.
        let late = self.events.last().is_some_and(|last| event.at < last.at)
            || self.clock.is_some_and(|clock| event.at < clock);
        let position = self.events.partition_point(|e| e.at <= event.at);
        self.events.insert(position, event);
        // A withdrawal changes the past as a late event does: the case is rebuilt without the
        // withdrawn event (what was sent stays sent; the handled set is kept).
        let withdrawn_now = withdraws.is_some_and(|id| {
            let had = self.events.iter().any(|e| e.id == id);
            self.withdrawn.insert(id);
            had
        });
        if withdrawn_now {
            self.events.retain(|e| !self.withdrawn.contains(&e.id));
        }
        if late || withdrawn_now {
            // Rebuild from the start, in `at` order, so the state is what it would have been
            // had the event arrived on time. Signals it raises go out now, once.
            self.facts = CaseFacts::default();
            self.instances.clear();
            self.clock = None;
            let events = std::mem::take(&mut self.events);
            for event in &events {
                self.advance(engine, event.at);
                self.fold(engine, event, &mut signals);
            }
            self.events = events;
        } else {
            let events = std::mem::take(&mut self.events);
            self.advance(engine, events[position].at);
            self.fold(engine, &events[position], &mut signals);
            self.events = events;
        }
        self.settle(engine, signals, now, answer)
    }

    /// After an event: advance to `now`, send the signals it raised and what is due.
    fn settle(
        &mut self,
        engine: &Engine,
        signals: Vec<Notification>,
        now: Timestamp,
        answer: AnswerHooks,
    ) -> Vec<Notification> {
        self.advance(engine, now);
        let mut out = self.signals_now(signals);
        if answer == AnswerHooks::Now {
            out.extend(self.answer_hooks_now(engine));
        }
        out.extend(self.due_notifications(engine, now));
        out
    }

    /// Signals go out at once, each once. A signal's moment is that of the event that
    /// raised it, also when the event arrived late: so `simulate`, which applies events at
    /// their own moment, and the daemon, which takes them as they come, write the same record.
    fn signals_now(&mut self, signals: Vec<Notification>) -> Vec<Notification> {
        signals
            .into_iter()
            .filter(|signal| self.handled.insert(hash_id(&signal.id)))
            .collect()
    }

    fn answer_hooks_now(&mut self, engine: &Engine) -> Vec<Notification> {
        let calls = self.take_hook_calls();
        if calls.is_empty() {
            return Vec::new();
        }
        let answers = engine.answer_hooks(&calls.iter().collect::<Vec<_>>());
        self.hooks_answered(calls, answers)
    }

    /// The hook calls waiting for answers: those on events before those on starts, each in
    /// the order they were made.
    pub fn take_hook_calls(&mut self) -> Vec<HookCall> {
        let mut calls = std::mem::take(&mut self.hook_calls);
        calls.sort_by_key(|call| call.on());
        calls
    }

    /// The answers to calls taken with [`Case::take_hook_calls`], in their order: the signals
    /// they raise go out at `now`, each once.
    pub fn hooks_answered(
        &mut self,
        calls: Vec<HookCall>,
        answers: Vec<Vec<HookSignal>>,
    ) -> Vec<Notification> {
        let signals = calls
            .iter()
            .zip(answers)
            .flat_map(|(call, raised)| {
                raised
                    .into_iter()
                    .map(|s| self.hook_signal(s, &call.source, call.at))
            })
            .collect();
        self.signals_now(signals)
    }

    /// Advances to `now` and returns the notifications due by then.
    pub fn tick(&mut self, engine: &Engine, now: Timestamp) -> Vec<Notification> {
        self.advance(engine, now);
        let mut out = self.answer_hooks_now(engine);
        out.extend(self.due_notifications(engine, now));
        out
    }

    /// The next moment something happens without a new event: a notification, a start on a
    /// date, a recurring deadline that passes. Worked out by the last `apply` or `tick`, which
    /// plan every notification anyway.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.next_wakeup
    }

    /// The next recurring deadline that passes or date start that falls, after `now`.
    fn next_transition(&mut self, engine: &Engine, now: Timestamp) -> Option<Timestamp> {
        let mut moments = Vec::new();
        for instance in self.instances.iter().filter(|i| i.is_open()) {
            let workflow = &engine.workflows[instance.workflow];
            for (index, state) in instance.deadlines.iter().enumerate() {
                if workflow.deadlines[index].recurring.is_some()
                    && state.status == DeadlineStatus::Open
                    && let Some(current) = state.occurrences.last()
                    && current.status == OccurrenceStatus::Open
                {
                    moments.push(calendar::send_moment(current.due.add_days(1), 0));
                }
            }
        }
        let starts = match self.pending_starts {
            Some(starts) => starts,
            None => {
                let starts = engine
                    .workflows
                    .iter()
                    .enumerate()
                    .filter_map(|(index, workflow)| {
                        self.pending_date_start(engine, index, workflow)
                    })
                    .map(|day| calendar::send_moment(day, 0))
                    .min();
                self.pending_starts = Some(starts);
                starts
            }
        };
        moments.extend(starts);
        moments.into_iter().filter(|m| *m > now).min()
    }

    /// Every deadline of every instance with its due date and status at `now`: what the API
    /// shows and the store keeps for queries.
    pub fn deadlines(&self, engine: &Engine, now: Timestamp) -> Vec<DeadlineView> {
        let today = calendar::local_day(now);
        let facts = self.facts_for(engine);
        let mut views = Vec::new();
        for instance in &self.instances {
            let workflow = &engine.workflows[instance.workflow];
            for (index, state) in instance.deadlines.iter().enumerate() {
                let view =
                    |occurrence: u32, due: Option<Day>, status: DeadlineState| DeadlineView {
                        instance: instance.id.clone(),
                        workflow: workflow.name.clone(),
                        gemeente: self.gemeente.clone(),
                        case: self.case.clone(),
                        deadline: workflow.deadlines[index].id.clone(),
                        occurrence,
                        due: due.map(|d| d.to_string()),
                        status,
                        calendar: due
                            .filter(|due| {
                                engine
                                    .calendar
                                    .is_provisional(workflow.deadlines[index].rule, *due)
                            })
                            .map(|_| CalendarMark::Provisional),
                    };
                let open_status = |due: Option<Day>| match (instance.status, due) {
                    (Status::Open, Some(due)) if due < today => DeadlineState::Overdue,
                    (Status::Open, Some(_)) => DeadlineState::Open,
                    (Status::Open, None) if state.suspended_since.is_some() => {
                        DeadlineState::Suspended
                    }
                    (Status::Open, None) => DeadlineState::Unknown,
                    (Status::Ended(_), _) => DeadlineState::Ended,
                    (Status::Cancelled(_), _) => DeadlineState::Cancelled,
                };
                // Past the last day it makes sense, a deadline still to be met has ended.
                let last = instance.not_after(workflow, index, &facts);
                let open_status = |due: Option<Day>| match open_status(due) {
                    DeadlineState::Open | DeadlineState::Overdue
                        if last.is_some_and(|last| last < today) =>
                    {
                        DeadlineState::Ended
                    }
                    status => status,
                };
                if state.occurrences.is_empty() {
                    let due = instance.due(workflow, index, &facts);
                    let status = match state.status {
                        DeadlineStatus::Open => open_status(due),
                        DeadlineStatus::Met(_) => DeadlineState::Met,
                        DeadlineStatus::Cancelled(_) => DeadlineState::Cancelled,
                    };
                    views.push(view(0, due, status));
                    continue;
                }
                for (n, occurrence) in state.occurrences.iter().enumerate() {
                    let status = match occurrence.status {
                        OccurrenceStatus::Met(_) => DeadlineState::Met,
                        OccurrenceStatus::Superseded => DeadlineState::Missed,
                        OccurrenceStatus::Open | OccurrenceStatus::Missed => {
                            open_status(Some(occurrence.due))
                        }
                    };
                    views.push(view(n as u32, Some(occurrence.due), status));
                }
            }
        }
        views
    }

    fn facts_for<'a>(&self, engine: &'a Engine) -> Facts<'a> {
        Facts {
            birth: self.facts.birth,
            calendar: &engine.calendar,
        }
    }

    fn plan(
        &self,
        engine: &Engine,
        instance: &Instance,
        horizon: Timestamp,
        out: &mut Vec<Planned>,
    ) {
        let workflow = &engine.workflows[instance.workflow];
        let calendar = engine.calendar_for(&self.gemeente);
        schedule::plan(
            workflow,
            instance,
            &self.facts_for(engine),
            calendar,
            engine.settings.send_hour,
            horizon,
            out,
        );
    }

    /// What the state says is due by `now` and has not been handled. What is overdue for
    /// sending goes out at once if the sending hours are open (a working day, from the send
    /// hour on), otherwise when they next open: nobody gets a reminder at night or on Sunday
    /// because an event arrived then. When several reminders of
    /// one deadline, or several repeats of one escalation step, are overdue for sending (a late
    /// event, a correction, a restart), only the latest goes out: it carries the current state,
    /// and the rest would be noise. A reminder for a deadline already past is not sent at all.
    ///
    /// Also works out the next wakeup, from the same plan.
    fn due_notifications(&mut self, engine: &Engine, now: Timestamp) -> Vec<Notification> {
        let today = calendar::local_day(now);
        let mut out = Vec::new();
        let mut planned = Vec::new();
        let mut next = self.next_transition(engine, now);
        let window = SendWindow::at(engine, &self.gemeente, now);
        // What goes out this morning, of every instance: (instance, planned).
        let mut sending: Vec<(usize, Planned)> = Vec::new();
        for i in 0..self.instances.len() {
            planned.clear();
            self.plan(engine, &self.instances[i], now, &mut planned);
            planned.retain(|p| {
                // Nothing is sent before its moment, so what lies ahead cannot be handled yet.
                if p.moment > now {
                    if next.is_none_or(|n| p.moment < n) {
                        next = Some(p.moment);
                    }
                    return false;
                }
                !self.handled.contains(&identity_hash(&self.instances[i], p))
            });
            // Reminders of a deadline say the same thing, so they form one group; each step of
            // an escalation chain reaches other people, so each step is its own group.
            let group_of = |p: &Planned| {
                (
                    p.deadline,
                    p.occurrence,
                    p.kind,
                    if p.kind == Kind::Escalation {
                        p.step
                    } else {
                        0
                    },
                )
            };
            planned.sort_by_key(|p| (group_of(p), p.moment, p.level));
            let mut chosen: Vec<&Planned> = Vec::new();
            let mut passed_over: Vec<u64> = Vec::new();
            for group in planned.chunk_by(|a, b| group_of(a) == group_of(b)) {
                let on_time: Vec<&Planned> = group.iter().filter(|p| p.moment == now).collect();
                // Two of a group on one morning (reminders whose days off moved them onto the
                // same working day, repeats of a step that caught up with each other) say the
                // same thing to the same people: the last of them goes, once.
                let keep: Vec<&Planned> = if !on_time.is_empty() {
                    on_time.last().copied().into_iter().collect()
                } else if !window.is_open {
                    // Overdue, but outside the sending hours: keep it for when they open.
                    next = next.min(Some(window.opens)).or(Some(window.opens));
                    continue;
                } else {
                    group.last().into_iter().collect()
                };
                for p in group {
                    let stale_reminder = p.kind == Kind::Reminder && p.due < today;
                    if keep.iter().any(|k| std::ptr::eq(*k, p)) && !stale_reminder {
                        chosen.push(p);
                    } else {
                        passed_over.push(identity_hash(&self.instances[i], p));
                    }
                }
            }
            let instance = &self.instances[i];
            for p in &chosen {
                self.handled.insert(identity_hash(instance, p));
            }
            sending.extend(chosen.into_iter().map(|p| (i, p.clone())));
            self.handled.extend(passed_over);
        }
        // Deadlines of one case with one due date, sent on one morning, whichever workflows
        // they belong to (Dalfsen's streefdatum is its legal term; a young person's plan at 16
        // and handover at 18 may fall due together): each person gets one message that names
        // them all.
        let mut done = vec![false; sending.len()];
        for first in 0..sending.len() {
            if done[first] {
                continue;
            }
            let key = (sending[first].1.kind, sending[first].1.due);
            let same_day: Vec<(usize, &Planned)> = (first..sending.len())
                .filter(|&j| (sending[j].1.kind, sending[j].1.due) == key)
                .inspect(|&j| done[j] = true)
                .map(|j| (sending[j].0, &sending[j].1))
                .collect();
            let groups = combine::by_recipient(
                &same_day,
                |(i, p)| recipients(&engine.workflows[self.instances[*i].workflow], p),
                |(i, p), (j, q)| i == j && p.deadline == q.deadline,
                |(_, p)| p.level,
            );
            for (members, to) in groups {
                out.push(self.notification(engine, &members, to, now));
            }
        }
        self.next_wakeup = next;
        self.gemeente_wording(engine, &mut out);
        out
    }

    /// The gemeente's own wording of the messages, asked of its plugin in one call for all of
    /// them; a message the plugin leaves alone keeps the workflow's text.
    fn gemeente_wording(&self, engine: &Engine, out: &mut [Notification]) {
        let Some(hooks) = &engine.hooks else { return };
        if out.is_empty() || !hooks.wants_messages(&self.gemeente) {
            return;
        }
        let asked: Vec<MessageHook<'_>> = out
            .iter()
            .map(|n| MessageHook {
                kind: n.kind,
                workflow: &n.workflow,
                deadline: &n.deadline,
                case: &n.case,
                due: n.due,
                level: n.level,
                text: &n.message,
            })
            .collect();
        let answers = hooks.messages(&self.gemeente, &asked);
        for (notification, answer) in out.iter_mut().zip(answers) {
            if let Some(text) = answer {
                notification.message = text;
            }
        }
    }

    /// The message to `to` about `members` (each with the index of its instance): one planned
    /// notification, or several of one morning with one due date that reach the same people,
    /// of one workflow or of several. A message about several is recorded under its first
    /// member's workflow, instance and deadline, and names every task in its text.
    fn notification(
        &self,
        engine: &Engine,
        members: &[(usize, &Planned)],
        to: Vec<String>,
        now: Timestamp,
    ) -> Notification {
        let send_day = calendar::local_day(now);
        let (first_instance, first) = members[0];
        let instance = &self.instances[first_instance];
        let workflow = &engine.workflows[instance.workflow];
        // Two tasks of one title in one message (two complaints of one case due the same day)
        // are told apart by their instance's key: `Klacht in behandeling nemen (K-9)`.
        let title_of = |&(i, p): &(usize, &Planned)| {
            engine.workflows[self.instances[i].workflow].deadlines[p.deadline]
                .title
                .as_str()
        };
        let titles: Vec<String> = members
            .iter()
            .map(|member| {
                let (i, _) = *member;
                let shared = members
                    .iter()
                    .any(|other| other.0 != i && title_of(other) == title_of(member));
                match (&self.instances[i].key, shared) {
                    (Some(key), true) => format!("{} ({key})", title_of(member)),
                    _ => title_of(member).to_string(),
                }
            })
            .collect();
        let texts: Vec<(&str, MessageValues<'_>)> = members
            .iter()
            .zip(&titles)
            .map(|(&(i, p), title)| {
                let instance = &self.instances[i];
                let workflow = &engine.workflows[instance.workflow];
                let deadline = &workflow.deadlines[p.deadline];
                let (template, dagen, late) = match p.kind {
                    Kind::Reminder => (
                        deadline
                            .messages
                            .reminder
                            .as_ref()
                            .or(workflow.messages.reminder.as_ref())
                            .map_or(notification::DEFAULT_REMINDER, |t| t.0.as_str()),
                        send_day.days_until(p.due),
                        false,
                    ),
                    _ => (
                        deadline.escalate[p.step]
                            .message
                            .as_ref()
                            .or(deadline.messages.escalation.as_ref())
                            .or(workflow.messages.escalation.as_ref())
                            .map_or(notification::DEFAULT_ESCALATION, |t| t.0.as_str()),
                        p.due.days_until(send_day),
                        true,
                    ),
                };
                let values = MessageValues {
                    titel: title,
                    workflow: &workflow.title,
                    casus: &self.case,
                    due: Some(p.due),
                    dagen,
                    late,
                    niveau: p.level,
                    eigenaar: workflow
                        .roles
                        .get(&deadline.owner)
                        .map_or(deadline.owner.as_str(), String::as_str),
                    data: &instance.data,
                };
                (template, values)
            })
            .collect();
        let mut message = if texts.iter().all(|(template, _)| *template == texts[0].0) {
            let titles: Vec<&str> = texts.iter().map(|(_, values)| values.titel).collect();
            let titel = combine::titles(&titles);
            let (template, values) = &texts[0];
            notification::render(
                template,
                &MessageValues {
                    titel: &titel,
                    niveau: members.iter().map(|(_, p)| p.level).max().unwrap_or(0),
                    ..*values
                },
            )
        } else {
            let parts: Vec<String> = texts
                .iter()
                .map(|(template, values)| notification::render(template, values))
                .collect();
            parts.join(" ")
        };
        if members.iter().all(|(_, p)| p.last) {
            message.push(' ');
            message.push_str(notification::last_escalation(members.len()));
        }
        let ids: Vec<String> = members
            .iter()
            .map(|&(i, p)| {
                let instance = &self.instances[i];
                let workflow = &engine.workflows[instance.workflow];
                identity(instance, workflow, p, &p.step.to_string()).id()
            })
            .collect();
        // One notification to everyone it was planned for keeps its own id; a combined one,
        // or one split by recipient, is another message and gets an id of its parts.
        let id = if members.len() == 1 && to == recipients(workflow, first) {
            ids[0].clone()
        } else {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            notification::digest_id(&ids, &to.join(" "))
        };
        Notification {
            id,
            at: now,
            kind: first.kind,
            workflow: workflow.name.clone(),
            instance: instance.id.clone(),
            gemeente: self.gemeente.clone(),
            case: self.case.clone(),
            deadline: workflow.deadlines[first.deadline].id.clone(),
            due: Some(first.due),
            to,
            level: members.iter().map(|(_, p)| p.level).max().unwrap_or(0),
            message,
            items: Vec::new(),
        }
    }

    /// Moves time forward: starts on a date, and recurring deadlines that pass unmet.
    fn advance(&mut self, engine: &Engine, now: Timestamp) {
        if self.clock.is_some_and(|clock| clock >= now) {
            return;
        }
        let yesterday = self.clock.map(calendar::local_day);
        self.clock = Some(now);
        let today = calendar::local_day(now);
        // Starts on a date change only with the day (or with the facts, which `fold` handles).
        if yesterday != Some(today) {
            self.start_on_dates(engine, today, false);
        }
        let facts = Facts {
            birth: self.facts.birth,
            calendar: &engine.calendar,
        };
        for instance in &mut self.instances {
            if !instance.is_open() {
                continue;
            }
            let workflow = &engine.workflows[instance.workflow];
            for index in 0..workflow.deadlines.len() {
                roll_recurring(workflow, instance, index, &facts, today);
            }
        }
    }

    /// The day a date-started workflow would start for this case, if it has not yet.
    fn pending_date_start(
        &self,
        engine: &Engine,
        index: usize,
        workflow: &Workflow,
    ) -> Option<Day> {
        if self.facts.closed {
            return None;
        }
        let Trigger::Date { .. } = &workflow.start.trigger else {
            return None;
        };
        let previous = self.instances.iter().rev().find(|i| i.workflow == index);
        let after = match previous.map(|i| i.status) {
            None => None,
            // Withdrawn (care stopped): a new period of care may start it again.
            Some(Status::Cancelled(day)) => Some(day),
            Some(_) => return None,
        };
        self.date_start(engine, workflow, after)
    }

    /// The start day of a date-started workflow under the current facts: the date itself, or
    /// the first day in care after it (and before `until`) when `in_care` is required.
    fn date_start(&self, engine: &Engine, workflow: &Workflow, after: Option<Day>) -> Option<Day> {
        if !workflow.gemeenten.applies_to(&self.gemeente) {
            return None;
        }
        let Trigger::Date { on, until } = &workflow.start.trigger else {
            return None;
        };
        let birth = self.facts.birth?.full()?;
        let params = engine.params(&self.gemeente, workflow, &Map::new());
        let eval = |expr: &DateExpr| -> Option<Day> {
            let Anchor::Birthday(age) = expr.anchor else {
                return None;
            };
            Some(expr.add_terms(engine.calendar.birthday(birth, age), &params))
        };
        let from = eval(on)?.max(after.unwrap_or(Day::from_number(i32::MIN)));
        let until = until.as_ref().and_then(eval);
        match workflow.start.in_care {
            Some(true) => self.facts.first_day_in_care(from, until),
            Some(false) => (!self.facts.in_care_on(from)).then_some(from),
            None => until.is_none_or(|until| from < until).then_some(from),
        }
    }

    /// Starts what falls due by `today`; with `facts_changed`, also moves or undoes starts
    /// that a correction of the facts (the birth date, care) makes wrong.
    fn start_on_dates(&mut self, engine: &Engine, today: Day, facts_changed: bool) {
        if !facts_changed
            && let Some(next) = self.pending_starts
            && next.is_none_or(|moment| calendar::local_day(moment) > today)
        {
            return;
        }
        self.pending_starts = None;
        for (index, workflow) in engine.workflows.iter().enumerate() {
            let Trigger::Date { .. } = &workflow.start.trigger else {
                continue;
            };
            let open = self
                .instances
                .iter()
                .rposition(|i| i.workflow == index && i.is_open());
            if open.is_some() && !facts_changed {
                continue;
            }
            // A correction of the birth date may move or undo a start.
            if let Some(position) = open {
                let earlier_cancel = self.instances[..position]
                    .iter()
                    .rev()
                    .find(|i| i.workflow == index)
                    .and_then(|i| match i.status {
                        Status::Cancelled(day) => Some(day),
                        _ => None,
                    });
                match self.date_start(engine, workflow, earlier_cancel) {
                    Some(day) if day <= today => self.instances[position].start = day,
                    _ => {
                        self.instances.remove(position);
                    }
                }
                continue;
            }
            if let Some(day) = self.pending_date_start(engine, index, workflow)
                && day <= today
            {
                let params = engine.params(&self.gemeente, workflow, &Map::new());
                let origin = Origin {
                    key: None,
                    start: day,
                    started_at: calendar::send_moment(day, 0),
                    data: Map::new(),
                    params,
                };
                self.start_instance(engine, index, origin);
            }
        }
    }

    fn start_instance(&mut self, engine: &Engine, index: usize, origin: Origin) {
        let workflow = &engine.workflows[index];
        let mut id = format!("{}/{}/{}", workflow.name, self.gemeente, self.case);
        if let Some(key) = &origin.key {
            id.push('/');
            id.push_str(key);
        }
        let earlier = self
            .instances
            .iter()
            .filter(|i| i.workflow == index && i.key == origin.key)
            .count();
        if earlier > 0 {
            id.push_str(&format!("#{}", earlier + 1));
        }
        let mut instance = Instance::new(id, index, workflow, origin);
        let facts = Facts {
            birth: self.facts.birth,
            calendar: &engine.calendar,
        };
        for (d, deadline) in workflow.deadlines.iter().enumerate() {
            if deadline.recurring.is_some()
                && let Some(due) = instance.first_occurrence(workflow, d, &facts)
            {
                instance.deadlines[d].occurrences.push(Occurrence {
                    due,
                    status: OccurrenceStatus::Open,
                });
            }
        }
        if let Some(hooks) = &engine.hooks
            && hooks.wants_start(&self.gemeente, &workflow.name)
        {
            let context = HookContext::Start {
                workflow: workflow.name.clone(),
                instance: instance.id.clone(),
                case: self.case.clone(),
                data: instance.data.clone(),
            };
            self.hook_calls.push(HookCall {
                gemeente: self.gemeente.clone(),
                context,
                source: format!("start:{}", instance.id),
                // The moment the case learned of the start: a start on a date that an event
                // reveals (care begins) is signalled with that event, not at midnight.
                at: self
                    .clock
                    .map_or(instance.started_at, |clock| clock.max(instance.started_at)),
            });
        }
        self.instances.push(instance);
    }

    /// A hook's signal as a notification. Its id is made of the gemeente, the case, the
    /// signal's name and what raised it, so the same cause never signals twice.
    fn hook_signal(&self, signal: HookSignal, source: &str, at: Timestamp) -> Notification {
        let instance = format!("plugin/{}/{}", self.gemeente, self.case);
        let identity = Identity {
            instance: &instance,
            deadline: &signal.name,
            occurrence: 0,
            due: None,
            kind: Kind::Signal,
            level: 0,
            detail: source,
        };
        Notification {
            id: identity.id(),
            at,
            kind: Kind::Signal,
            workflow: "plugin".into(),
            instance,
            gemeente: self.gemeente.clone(),
            case: self.case.clone(),
            deadline: signal.name,
            due: None,
            to: signal.to,
            level: 0,
            message: signal.message,
            items: Vec::new(),
        }
    }

    /// Applies one event to the facts and the instances, collecting the signals it raises.
    fn fold(&mut self, engine: &Engine, event: &Event, signals: &mut Vec<Notification>) {
        self.pending_starts = None;
        let day = calendar::local_day(event.at);
        self.update_facts(event, day);
        if event.event_type == EventType::CASUS_GESLOTEN {
            for instance in self.instances.iter_mut().filter(|i| i.is_open()) {
                instance.status = Status::Cancelled(day);
            }
            return;
        }
        if matches!(
            event.event_type,
            EventType::CASUS_AANGEMELD | EventType::CASUS_GEWIJZIGD
        ) && let Some(birth) = self.facts.birth
            && birth.full().is_none()
        {
            self.signal_incomplete_birth_date(engine, event, signals);
        }
        let facts = Facts {
            birth: self.facts.birth,
            calendar: &engine.calendar,
        };
        for instance in self.instances.iter_mut().filter(|i| i.is_open()) {
            let workflow = &engine.workflows[instance.workflow];
            if let (InstanceKey::Data(field), Some(key)) = (&workflow.start.key, &instance.key)
                && let Some(value) = event.data_text(field)
                && &value != key
            {
                continue;
            }
            apply_to_instance(
                workflow,
                instance,
                event,
                day,
                &facts,
                &self.case,
                &self.gemeente,
                signals,
            );
        }
        for (index, workflow) in engine.workflows.iter().enumerate() {
            let Trigger::Event(start) = &workflow.start.trigger else {
                continue;
            };
            if !matches(start, event) || !workflow.gemeenten.applies_to(&self.gemeente) {
                continue;
            }
            if let Some(in_care) = workflow.start.in_care
                && self.facts.in_care_on(day) != in_care
            {
                continue;
            }
            let key = match &workflow.start.key {
                InstanceKey::Case => None,
                InstanceKey::Data(field) => event.data_text(field),
            };
            if self
                .instances
                .iter()
                .any(|i| i.workflow == index && i.key == key && i.is_open())
            {
                continue;
            }
            let params = engine.params(&self.gemeente, workflow, &event.data);
            let origin = Origin {
                key,
                start: day,
                started_at: event.at,
                data: event.data.clone(),
                params,
            };
            self.start_instance(engine, index, origin);
        }
        self.start_on_dates(engine, day, true);
        let open_workflows: Vec<&str> = match &engine.hooks {
            Some(_) => self
                .instances
                .iter()
                .filter(|i| i.is_open())
                .map(|i| engine.workflows[i.workflow].name.as_str())
                .collect(),
            None => Vec::new(),
        };
        if let Some(hooks) = &engine.hooks
            && hooks.wants_event(&self.gemeente, event.event_type.name(), &open_workflows)
        {
            let open_instances = self
                .instances
                .iter()
                .filter(|i| i.is_open())
                .map(|i| (i.id.clone(), engine.workflows[i.workflow].name.clone()))
                .collect();
            let context = HookContext::Event {
                event_type: event.event_type.name(),
                case: self.case.clone(),
                at: event.at,
                data: event.data.clone(),
                open_instances,
                in_care: self.facts.in_care_on(day),
            };
            self.hook_calls.push(HookCall {
                gemeente: self.gemeente.clone(),
                context,
                source: format!("event:{}", event.id),
                at: event.at,
            });
        }
    }

    fn update_facts(&mut self, event: &Event, day: Day) {
        match event.event_type {
            EventType::CASUS_AANGEMELD | EventType::CASUS_GEWIJZIGD => {
                if let Some(birth) = event
                    .data
                    .get("geboortedatum")
                    .and_then(|v| v.as_str())
                    .and_then(BirthDate::parse)
                {
                    self.facts.birth = Some(birth);
                }
                if event.event_type == EventType::CASUS_AANGEMELD {
                    self.facts.closed = false;
                }
            }
            EventType::CASUS_GESLOTEN => self.facts.closed = true,
            // A start while already in care (a second product) changes nothing.
            EventType::ZORG_GESTART if self.facts.care.last().is_none_or(|p| p.end.is_some()) => {
                self.facts.care.push(CarePeriod {
                    start: day,
                    end: None,
                });
            }
            EventType::ZORG_BEEINDIGD => {
                if let Some(period) = self.facts.care.last_mut().filter(|p| p.end.is_none()) {
                    period.end = Some(day.max(period.start));
                }
            }
            _ => {}
        }
    }

    fn signal_incomplete_birth_date(
        &self,
        engine: &Engine,
        event: &Event,
        signals: &mut Vec<Notification>,
    ) {
        // Once per case, to the owners of every workflow that counts from the birth date: it
        // is one thing to fix, whatever it holds up.
        let dated: Vec<&Workflow> = engine
            .workflows
            .iter()
            .filter(|w| matches!(w.start.trigger, Trigger::Date { .. }))
            .filter(|w| w.gemeenten.applies_to(&self.gemeente))
            .collect();
        let Some(first) = dated.first() else {
            return;
        };
        let mut owners: Vec<String> = dated
            .iter()
            .filter_map(|w| w.deadlines.first().map(|d| d.owner.clone()))
            .collect();
        owners.sort();
        owners.dedup();
        let instance = format!("{}/{}/{}", first.name, self.gemeente, self.case);
        signals.push(signal(
            &instance,
            first,
            "geboortedatum_onvolledig",
            &event.id,
            owners,
            notification::INCOMPLETE_BIRTH_DATE,
            (&self.gemeente, &self.case),
            &Map::new(),
            event.at,
        ));
    }
}

#[allow(clippy::too_many_arguments)] // the fields of a notification record
fn signal(
    instance: &str,
    workflow: &Workflow,
    name: &str,
    event_id: &str,
    to: Vec<String>,
    template: &str,
    (gemeente, case): (&str, &str),
    data: &Map<String, serde_json::Value>,
    at: Timestamp,
) -> Notification {
    let identity = Identity {
        instance,
        deadline: name,
        occurrence: 0,
        due: None,
        kind: Kind::Signal,
        level: 0,
        detail: event_id,
    };
    let message = notification::render(
        template,
        &MessageValues {
            titel: &workflow.title,
            workflow: &workflow.title,
            casus: case,
            due: None,
            dagen: 0,
            late: false,
            niveau: 0,
            eigenaar: "",
            data,
        },
    );
    Notification {
        id: identity.id(),
        at,
        kind: Kind::Signal,
        workflow: workflow.name.clone(),
        instance: instance.to_string(),
        gemeente: gemeente.to_string(),
        case: case.to_string(),
        deadline: name.to_string(),
        due: None,
        to,
        level: 0,
        message,
        items: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)] // the event, the instance and where they belong
fn apply_to_instance(
    workflow: &Workflow,
    instance: &mut Instance,
    event: &Event,
    day: Day,
    facts: &Facts<'_>,
    case: &str,
    gemeente: &str,
    signals: &mut Vec<Notification>,
) {
    if matches_any(&workflow.cancel_on, event) {
        instance.status = Status::Cancelled(day);
        return;
    }
    instance.note_arrival(workflow, event.event_type, day);
    for (index, deadline) in workflow.deadlines.iter().enumerate() {
        if instance.deadlines[index].status != DeadlineStatus::Open {
            continue;
        }
        if matches_any(&deadline.met_by, event) {
            if deadline.recurring.is_some() {
                meet_occurrence(workflow, instance, index, day, facts);
            } else {
                instance.deadlines[index].status = DeadlineStatus::Met(day);
            }
            continue;
        }
        if matches_any(&deadline.cancel_on, event) {
            instance.deadlines[index].status = DeadlineStatus::Cancelled(day);
            continue;
        }
        if let Some(suspension) = &deadline.suspend {
            let state = &mut instance.deadlines[index];
            if matches(&suspension.on, event) && state.suspended_since.is_none() {
                state.suspended_since = Some(day);
            } else if matches(&suspension.resume_on, event)
                && let Some(since) = state.suspended_since.take()
            {
                state.suspended_days += since.days_until(day);
            }
        }
        if let Some(extension) = &deadline.extend
            && matches(&extension.on, event)
        {
            let state = &mut instance.deadlines[index];
            if !extension.once || state.extensions == 0 {
                state.extensions += 1;
            }
        }
    }
    for s in &workflow.signals {
        if matches(&s.on, event) {
            signals.push(signal(
                &instance.id,
                workflow,
                &s.id,
                &event.id,
                s.to.clone(),
                &s.message.0,
                (gemeente, case),
                &instance.data,
                event.at,
            ));
        }
    }
    if matches_any(&workflow.ends_on, event) {
        instance.status = Status::Ended(day);
        return;
    }
    complete_when_settled(workflow, instance, day);
}

/// An instance whose deadlines are all met or cancelled has nothing left to watch.
fn complete_when_settled(workflow: &Workflow, instance: &mut Instance, day: Day) {
    let settled = instance
        .deadlines
        .iter()
        .enumerate()
        .all(|(index, state)| match state.status {
            DeadlineStatus::Open => {
                workflow.deadlines[index].recurring.is_some() && state.occurrences.is_empty()
            }
            _ => true,
        });
    if settled && instance.is_open() {
        instance.status = Status::Ended(day);
    }
}

/// A contact meets every open or missed occurrence; the next is due one interval after it,
/// unless that is past the follow-up period.
fn meet_occurrence(
    workflow: &Workflow,
    instance: &mut Instance,
    index: usize,
    day: Day,
    facts: &Facts<'_>,
) {
    let Some(recurrence) = &workflow.deadlines[index].recurring else {
        return;
    };
    let limit = instance.recurrence_limit(workflow, index, facts);
    let every = instance.term(recurrence.every);
    let state = &mut instance.deadlines[index];
    for occurrence in &mut state.occurrences {
        if matches!(
            occurrence.status,
            OccurrenceStatus::Open | OccurrenceStatus::Missed
        ) {
            occurrence.status = OccurrenceStatus::Met(day);
        }
    }
    let next = every.add_to(day);
    if limit.is_none_or(|limit| next <= limit) {
        state.occurrences.push(Occurrence {
            due: next,
            status: OccurrenceStatus::Open,
        });
    } else {
        state.status = DeadlineStatus::Met(day);
        complete_when_settled(workflow, instance, day);
    }
}

/// A recurring deadline whose current occurrence passed unmet: it is missed (and escalates),
/// an earlier missed one is superseded, and the next is due one interval after the missed date.
fn roll_recurring(
    workflow: &Workflow,
    instance: &mut Instance,
    index: usize,
    facts: &Facts<'_>,
    today: Day,
) {
    let Some(recurrence) = &workflow.deadlines[index].recurring else {
        return;
    };
    if instance.deadlines[index].status != DeadlineStatus::Open {
        return;
    }
    let limit = instance.recurrence_limit(workflow, index, facts);
    let every = instance.term(recurrence.every);
    let state = &mut instance.deadlines[index];
    while let Some(current) = state.occurrences.last().copied()
        && current.status == OccurrenceStatus::Open
        && current.due < today
    {
        for occurrence in &mut state.occurrences {
            if occurrence.status == OccurrenceStatus::Missed {
                occurrence.status = OccurrenceStatus::Superseded;
            }
        }
        let last = state.occurrences.len() - 1;
        state.occurrences[last].status = OccurrenceStatus::Missed;
        let next = every.add_to(current.due);
        if limit.is_none_or(|limit| next <= limit) {
            state.occurrences.push(Occurrence {
                due: next,
                status: OccurrenceStatus::Open,
            });
        }
    }
}

/// Who a planned notification reaches: a reminder the deadline's owner, an escalation its
/// step's roles.
fn recipients<'w>(workflow: &'w Workflow, p: &Planned) -> &'w [String] {
    let deadline = &workflow.deadlines[p.deadline];
    match p.kind {
        Kind::Reminder => std::slice::from_ref(&deadline.owner),
        _ => &deadline.escalate[p.step].to,
    }
}

fn identity<'a>(
    instance: &'a Instance,
    workflow: &'a Workflow,
    p: &Planned,
    detail: &'a str,
) -> Identity<'a> {
    Identity {
        instance: &instance.id,
        deadline: &workflow.deadlines[p.deadline].id,
        occurrence: p.occurrence,
        due: Some(p.due),
        kind: p.kind,
        level: p.level,
        detail,
    }
}

/// Whether hook calls are answered within the call that made them or wait for the caller.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AnswerHooks {
    Now,
    Later,
}

/// A cheap in-memory key for the handled set; the public id is SHA-256 and only made on send.
/// The instance id is hashed once, when the instance is made; the rest are small integers.
fn identity_hash(instance: &Instance, p: &Planned) -> u64 {
    let fields = [
        (p.deadline as u64) << 48 | u64::from(p.occurrence) << 16 | p.step as u64 & 0xFFFF,
        (p.due.number() as u32 as u64) << 32 | u64::from(p.level) << 8 | p.kind as u64,
    ];
    fields.iter().fold(instance.id_hash, |h, f| mix(h ^ f))
}

/// The finaliser of SplitMix64: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The handled set's keys are already well mixed: hashing them again would be wasted work.
#[derive(Default, Clone, Copy, Debug)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Handled = HashSet<u64, std::hash::BuildHasherDefault<PassThrough>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::parse_timestamp;
    use crate::engine::Kind;

    /// A complaint term of 14 days with a reminder 3 days before and one escalation step.
    const WORKFLOW: &str = "workflow: klacht
title: Klacht
source: test
roles: { functionaris: Klachtenfunctionaris, teamleider: Teamleider }
start: { on: klacht.ingediend, key: data.klacht_id }
deadlines:
  behandeld:
    title: Klacht behandelen
    due: start + 14 days
    met_by: klacht.in_behandeling
    owner: functionaris
    remind: [3 days before]
    escalate: [{ to: teamleider }]
ends_on: [klacht.afgerond]
cancel_on: [klacht.ingetrokken]
";

    fn engine() -> Engine {
        crate::engine::test_engine(WORKFLOW)
    }

    fn at(text: &str) -> Timestamp {
        parse_timestamp(text).unwrap()
    }

    fn event(id: &str, kind: &str, moment: &str) -> Event {
        crate::event::validate(serde_json::json!({
            "id": id, "type": kind, "gemeente": "GM0150", "case": "C-1",
            "at": moment, "data": {"klacht_id": "K-1"}
        }))
        .unwrap()
    }

    fn filed(engine: &Engine) -> Case {
        let mut case = Case::new("GM0150", "C-1");
        let moment = "2027-04-13T10:00:00+02:00";
        let sent = case.apply(engine, event("e-1", "klacht.ingediend", moment), at(moment));
        assert!(sent.is_empty(), "nothing is due at once");
        case
    }

    fn states(case: &Case, engine: &Engine, now: &str) -> Vec<(Option<String>, DeadlineState)> {
        case.deadlines(engine, at(now))
            .into_iter()
            .map(|d| (d.due, d.status))
            .collect()
    }

    /// Filed on Tuesday 13 April 2027: due Tuesday 27 April (Koningsdag; a service norm does
    /// not move). The reminder of Saturday 24 April goes out on Friday 23 April at 09:00, the
    /// escalation on the first working day after the due date, Wednesday 28 April.
    #[test]
    fn reminders_and_escalations_go_out_on_working_days() {
        let engine = engine();
        let mut case = filed(&engine);
        assert_eq!(case.next_wakeup(), Some(at("2027-04-23T09:00:00+02:00")));
        let reminder = case.tick(&engine, at("2027-04-23T09:00:00+02:00"));
        assert_eq!(reminder.len(), 1);
        assert_eq!(
            (reminder[0].kind, reminder[0].to.clone()),
            (Kind::Reminder, vec!["functionaris".to_string()])
        );
        assert_eq!(
            states(&case, &engine, "2027-04-27T12:00:00+02:00"),
            [(Some("2027-04-27".into()), DeadlineState::Open)]
        );
        assert_eq!(case.next_wakeup(), Some(at("2027-04-28T09:00:00+02:00")));
        let escalation = case.tick(&engine, at("2027-04-28T09:00:00+02:00"));
        assert_eq!(escalation.len(), 1);
        assert_eq!(
            (escalation[0].kind, escalation[0].level),
            (Kind::Escalation, 1)
        );
        assert_eq!(
            states(&case, &engine, "2027-04-28T12:00:00+02:00"),
            [(Some("2027-04-27".into()), DeadlineState::Overdue)]
        );
    }

    /// A workflow scoped to other gemeenten does not start here, on an event or on a date; one
    /// scoped to this gemeente does.
    #[test]
    fn a_workflow_starts_only_in_the_gemeenten_it_applies_to() {
        let elsewhere = crate::engine::test_engine(
            &WORKFLOW.replace("title: Klacht\n", "title: Klacht\ngemeenten: [GM0200]\n"),
        );
        assert!(filed(&elsewhere).instances.is_empty());
        let here = crate::engine::test_engine(&WORKFLOW.replace(
            "title: Klacht\n",
            "title: Klacht\ngemeenten: { not: [GM0200] }\n",
        ));
        assert_eq!(filed(&here).instances.len(), 1);
        let on_date = "workflow: klacht
gemeenten: [GM0200]
title: Toekomstplan
source: test
roles: { professional: Professional }
start: { on_date: birthday 16, in_care: true, until: birthday 18 }
deadlines:
  plan: { title: Plan, due: start + 3 months, met_by: toekomstplan.opgesteld, owner: professional, remind: [1 week before], escalate: [{ to: professional }] }
";
        let engine = crate::engine::test_engine(on_date);
        for (gemeente, started) in [("GM0150", false), ("GM0200", true)] {
            let mut case = Case::new(gemeente, "C-1");
            for (id, kind, data) in [
                (
                    "e-1",
                    "casus.aangemeld",
                    serde_json::json!({"geboortedatum": "2011-03-10"}),
                ),
                ("e-2", "zorg.gestart", serde_json::json!({})),
            ] {
                let event = crate::event::validate(serde_json::json!({
                    "id": id, "type": kind, "gemeente": gemeente, "case": "C-1",
                    "at": "2027-01-04T10:00:00+01:00", "data": data
                }))
                .unwrap();
                let moment = event.at;
                case.apply(&engine, event, moment);
            }
            case.tick(&engine, at("2027-06-01T12:00:00+02:00"));
            assert_eq!(!case.instances.is_empty(), started, "{gemeente}");
        }
    }

    /// Regression: old events posted at once (a backfill) were folded after the case had been
    /// brought to now, so a start on a date between them and now (the 16th birthday while in
    /// care) never happened. They are taken as late now: replayed in `at` order.
    #[test]
    fn events_that_arrive_late_in_a_burst_start_what_they_would_have_started() {
        let workflow = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../workflows/toekomstplan-16.yaml"
        ))
        .unwrap();
        let engine = crate::engine::test_engine(
            &workflow.replace("workflow: toekomstplan-16", "workflow: klacht"),
        );
        let events = [
            r#"{"id":"S-133-1","type":"casus.aangemeld","gemeente":"GM0148","case":"S-133","at":"2026-07-08T12:00:00+02:00","data":{"geboortedatum":"2011-11-26"}}"#,
            r#"{"id":"S-133-2","type":"zorg.gestart","gemeente":"GM0148","case":"S-133","at":"2026-07-08T17:00:00+02:00","data":{}}"#,
            r#"{"id":"S-133-3","type":"toekomstplan.opgesteld","gemeente":"GM0148","case":"S-133","at":"2027-05-10T11:00:00+02:00","data":{}}"#,
        ];
        let now = at("2028-01-01T00:00:00+01:00");
        let mut on_time = Case::new("GM0148", "S-133");
        let mut burst = Case::new("GM0148", "S-133");
        for text in events {
            let event = crate::event::validate(serde_json::from_str(text).unwrap()).unwrap();
            let moment = event.at;
            on_time.apply(&engine, event.clone(), moment);
            burst.apply(&engine, event, now);
        }
        on_time.tick(&engine, now);
        let starts = |c: &Case| {
            c.instances
                .iter()
                .map(|i| (i.id.clone(), i.start.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            starts(&burst),
            [("klacht/GM0148/S-133".to_string(), "2027-11-26".to_string())]
        );
        assert_eq!(starts(&burst), starts(&on_time));
    }

    /// Nothing is sent twice: the same moment ticked again sends nothing.
    #[test]
    fn a_notification_goes_out_once() {
        let engine = engine();
        let mut case = filed(&engine);
        assert_eq!(case.tick(&engine, at("2027-04-23T09:00:00+02:00")).len(), 1);
        assert!(
            case.tick(&engine, at("2027-04-23T09:00:00+02:00"))
                .is_empty()
        );
        assert!(
            case.tick(&engine, at("2027-04-23T15:00:00+02:00"))
                .is_empty()
        );
    }

    /// A deadline met in time is never escalated; a closed case ends its instances.
    #[test]
    fn met_and_closed_cases_stay_quiet() {
        let engine = engine();
        let mut case = filed(&engine);
        let moment = "2027-04-20T10:00:00+02:00";
        case.apply(
            &engine,
            event("e-2", "klacht.in_behandeling", moment),
            at(moment),
        );
        assert_eq!(
            states(&case, &engine, moment),
            [(Some("2027-04-27".into()), DeadlineState::Met)]
        );
        assert!(
            case.tick(&engine, at("2027-05-31T09:00:00+02:00"))
                .is_empty()
        );

        let mut case = filed(&engine);
        let moment = "2027-04-14T10:00:00+02:00";
        let closed = crate::event::validate(serde_json::json!({
            "id": "e-3", "type": "casus.gesloten", "gemeente": "GM0150", "case": "C-1",
            "at": moment, "data": {}
        }))
        .unwrap();
        case.apply(&engine, closed, at(moment));
        assert_eq!(
            states(&case, &engine, moment),
            [(Some("2027-04-27".into()), DeadlineState::Cancelled)]
        );
        assert_eq!(case.next_wakeup(), None);
        assert!(
            case.tick(&engine, at("2027-05-31T09:00:00+02:00"))
                .is_empty()
        );
    }

    /// A late event (earlier than one already applied) is folded in its place: the complaint
    /// taken into treatment on the 20th, reported after an escalation went out, still counts.
    #[test]
    fn a_late_event_is_folded_in_its_place() {
        let engine = engine();
        let mut case = filed(&engine);
        assert_eq!(case.tick(&engine, at("2027-04-28T09:00:00+02:00")).len(), 1);
        let late = event("e-2", "klacht.in_behandeling", "2027-04-20T10:00:00+02:00");
        let sent = case.apply(&engine, late, at("2027-04-28T10:00:00+02:00"));
        assert!(sent.is_empty());
        assert_eq!(
            states(&case, &engine, "2027-04-28T10:00:00+02:00"),
            [(Some("2027-04-27".into()), DeadlineState::Met)]
        );
        assert!(
            case.tick(&engine, at("2027-05-31T09:00:00+02:00"))
                .is_empty()
        );
    }
    fn withdrawal(id: &str, of: &str, moment: &str) -> Event {
        crate::event::validate(serde_json::json!({
            "id": id, "type": "bericht.ingetrokken", "gemeente": "GM0150", "case": "C-1",
            "at": moment, "data": {"ingetrokken_id": of}
        }))
        .unwrap()
    }

    /// A withdrawn complaint (an iJw delete) is as if it never came: its instance is gone,
    /// nothing more is sent, and what went out before stays sent (and is not sent again).
    #[test]
    fn a_withdrawn_event_is_as_if_it_never_came() {
        let engine = engine();
        let mut case = filed(&engine);
        assert_eq!(case.tick(&engine, at("2027-04-23T09:00:00+02:00")).len(), 1);
        let sent = case.apply(
            &engine,
            withdrawal("w-1", "e-1", "2027-04-24T10:00:00+02:00"),
            at("2027-04-24T10:00:00+02:00"),
        );
        assert!(sent.is_empty());
        assert!(case.instances.is_empty());
        assert_eq!(case.next_wakeup(), None);
        assert!(case.events.iter().all(|e| e.id != "e-1"));
    }

    /// A withdrawal that arrives before what it withdraws (a start dated after its delete):
    /// the withdrawn event is ignored when it comes.
    #[test]
    fn an_event_withdrawn_before_it_arrives_is_ignored() {
        let engine = engine();
        let mut case = Case::new("GM0150", "C-1");
        let moment = at("2027-04-10T10:00:00+02:00");
        case.apply(
            &engine,
            withdrawal("w-1", "e-1", "2027-04-10T10:00:00+02:00"),
            moment,
        );
        let filed = event("e-1", "klacht.ingediend", "2027-04-13T10:00:00+02:00");
        case.apply(&engine, filed, at("2027-04-13T10:00:00+02:00"));
        assert!(case.instances.is_empty());
        assert!(
            case.tick(&engine, at("2027-06-01T09:00:00+02:00"))
                .is_empty()
        );
    }
}
