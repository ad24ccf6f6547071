//! One case: its facts, its events and its workflow instances, and how events and the passing
//! of time change them. Pure: every function takes the moment it runs at.

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::Map;

use crate::calendar::{self, Day};
use crate::event::{BirthDate, Event, EventType};
use crate::workflow::{Anchor, DateExpr, InstanceKey, Trigger, Workflow};

mod progress;
mod sending;
mod starts;

use super::combine;
use super::instance::{
    DeadlineStatus, Facts, Instance, Occurrence, OccurrenceStatus, Origin, Status, hash_id,
    matches, matches_any,
};
use super::notification::{self, Identity, Kind, MessageValues, Notification};
use super::schedule::{self, Planned};
use super::view::{CalendarMark, DeadlineState, DeadlineView};
use super::{Engine, HookCall, HookContext, HookSignal, MessageHook};
use progress::*;
use sending::*;

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
    /// The start day of each date-started workflow (by index) under the facts since the last
    /// event, with the `after` it was asked for; cleared with every event.
    date_starts: Vec<Option<(Option<Day>, Option<Day>)>>,
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
            date_starts: Vec::new(),
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
            self.date_starts.clear();
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
                let view = |occurrence: u32,
                            due: Option<Day>,
                            status: DeadlineState,
                            met_at: Option<Day>| DeadlineView {
                    instance: instance.id.clone(),
                    workflow: workflow.name.clone(),
                    gemeente: self.gemeente.clone(),
                    case: self.case.clone(),
                    deadline: workflow.deadlines[index].id.clone(),
                    occurrence,
                    due,
                    status,
                    met_at,
                    started: Some(instance.start),
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
                    let (status, met_at) = match state.status {
                        DeadlineStatus::Open => (open_status(due), None),
                        DeadlineStatus::Met(day) => (DeadlineState::Met, Some(day)),
                        DeadlineStatus::Cancelled(_) => (DeadlineState::Cancelled, None),
                    };
                    views.push(view(0, due, status, met_at));
                    continue;
                }
                for (n, occurrence) in state.occurrences.iter().enumerate() {
                    let (status, met_at) = match occurrence.status {
                        OccurrenceStatus::Met(day) => (DeadlineState::Met, Some(day)),
                        OccurrenceStatus::Superseded => (DeadlineState::Missed, None),
                        OccurrenceStatus::Open | OccurrenceStatus::Missed => {
                            (open_status(Some(occurrence.due)), None)
                        }
                    };
                    views.push(view(n as u32, Some(occurrence.due), status, met_at));
                }
            }
        }
        views
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
            report: None,
        }
    }

    /// Applies one event to the facts and the instances, collecting the signals it raises.
    fn fold(&mut self, engine: &Engine, event: &Event, signals: &mut Vec<Notification>) {
        self.pending_starts = None;
        self.date_starts.clear();
        let day = calendar::local_day(event.at);
        self.update_facts(event, day);
        if event.event_type == EventType::CASUS_GESLOTEN {
            self.close(engine, event, day);
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
        if event.event_type == EventType::CASUS_WOONPLAATS_VASTGESTELD {
            self.signal_move_at_18(engine, event, signals);
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

    /// A closed case ends every open workflow of it, except aftercare where the gemeente
    /// follows closed cases (`closing`): there the closing starts it, or it goes on.
    fn close(&mut self, engine: &Engine, event: &Event, day: Day) {
        let gemeente = self.gemeente.clone();
        for instance in self.instances.iter_mut().filter(|i| i.is_open()) {
            if !engine.workflows[instance.workflow]
                .closing
                .continues_in(&gemeente)
            {
                instance.status = Status::Cancelled(day);
            }
        }
        for (index, workflow) in engine.workflows.iter().enumerate() {
            if !workflow.closing.starts_in(&gemeente)
                || !workflow.gemeenten.applies_to(&gemeente)
                || self
                    .instances
                    .iter()
                    .any(|i| i.workflow == index && i.is_open())
            {
                continue;
            }
            let params = engine.params(&gemeente, workflow, &event.data);
            let origin = Origin {
                key: None,
                start: day,
                started_at: event.at,
                data: event.data.clone(),
                params,
            };
            self.start_instance(engine, index, origin);
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

    /// The gemeente responsible after 18 is another that this daemon serves: its
    /// `contactpersoon_gemeente` hears of it in its own gemeente, with the case id and the
    /// 18th birthday, under the workflow whose deadline the event meets (`overdracht-18`).
    fn signal_move_at_18(&self, engine: &Engine, event: &Event, signals: &mut Vec<Notification>) {
        let Some(target) = event.data_text("gemeente_na_18") else {
            return;
        };
        let (Some(from), Some(to)) = (
            engine.settings.gemeenten.get(&self.gemeente),
            engine.settings.gemeenten.get(&target),
        ) else {
            return;
        };
        if target == self.gemeente {
            return;
        }
        let Some(workflow) = engine.workflows.iter().find(|w| {
            w.gemeenten.applies_to(&self.gemeente)
                && w.deadlines
                    .iter()
                    .any(|d| d.met_by.iter().any(|m| m.event == event.event_type))
        }) else {
            return;
        };
        let birthday = match self.facts.birth.and_then(|b| b.full()) {
            Some(birth) => format!(
                "op {}",
                notification::dutch_day(engine.calendar.birthday(birth, 18))
            ),
            None => "(de geboortedatum is niet volledig bekend)".to_string(),
        };
        let mut data = Map::new();
        for (field, value) in [
            ("gemeente_van", from.as_str()),
            ("gemeente_na_18", to.as_str()),
            ("verjaardag_18", birthday.as_str()),
        ] {
            data.insert(field.into(), serde_json::Value::String(value.into()));
        }
        let instance = format!("{}/{}/{}", workflow.name, self.gemeente, self.case);
        signals.push(signal(
            &instance,
            workflow,
            "woonplaats_na_18",
            &event.id,
            vec!["contactpersoon_gemeente".into()],
            notification::MOVES_AT_18,
            (&target, &self.case),
            &data,
            event.at,
        ));
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
            words: &workflow.words,
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
        report: None,
    }
}

/// Whether hook calls are answered within the call that made them or wait for the caller.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AnswerHooks {
    Now,
    Later,
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
            .map(|d| (d.due.map(|due| due.to_string()), d.status))
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
