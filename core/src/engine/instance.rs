//! A running workflow for one case (and key): its start, parameters, and the state of each
//! deadline. Due dates are not stored but computed from this state and the case's facts, so a
//! correction of the facts recalculates every pending deadline by itself.

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::calendar::{Calendar, Day, Duration, TermRule};
use crate::event::{BirthDate, Event, EventType, data_text};
use crate::workflow::{Anchor, Condition, DateExpr, EventMatch, Sign, Term, Workflow};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    /// Completed: ended by an event or because every deadline was met or cancelled.
    Ended(Day),
    /// Withdrawn by an event, or closed with the case.
    Cancelled(Day),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlineStatus {
    Open,
    Met(Day),
    Cancelled(Day),
}

#[derive(Clone, Debug)]
pub struct DeadlineState {
    pub status: DeadlineStatus,
    pub suspended_since: Option<Day>,
    pub suspended_days: i32,
    pub extensions: u32,
    /// Recurring deadlines only: every occurrence so far, the last one current.
    pub occurrences: Vec<Occurrence>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub due: Day,
    pub status: OccurrenceStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OccurrenceStatus {
    Open,
    Met(Day),
    /// Missed and still escalating until met.
    Missed,
    /// Missed, and a later occurrence was missed too: that one escalates now.
    Superseded,
}

#[derive(Clone, Debug)]
pub struct Instance {
    /// `workflow/gemeente/case[/key][#n]`: deterministic, readable, and free of personal data.
    pub id: String,
    /// A hash of `id`, made once: the handled-notification keys start from it.
    pub id_hash: u64,
    /// Index into the engine's workflows.
    pub workflow: usize,
    pub key: Option<String>,
    pub start: Day,
    pub started_at: Timestamp,
    /// The start event's data, for `data.<field>` dates, conditions and messages.
    pub data: Map<String, Value>,
    /// Resolved parameters: the workflow's defaults with the gemeente's overrides.
    pub params: Vec<Duration>,
    pub status: Status,
    pub deadlines: Vec<DeadlineState>,
    /// The day each event that a date of the workflow counts from last arrived.
    pub arrived: Vec<(EventType, Day)>,
}

/// What an instance needs from outside itself to compute dates.
pub struct Facts<'a> {
    pub birth: Option<BirthDate>,
    pub calendar: &'a Calendar,
}

/// Where a new instance comes from: its key, when it started, the start event's data and
/// its resolved parameters.
pub struct Origin {
    pub key: Option<String>,
    pub start: Day,
    pub started_at: Timestamp,
    pub data: Map<String, Value>,
    pub params: Vec<Duration>,
}

impl Instance {
    pub fn new(id: String, workflow_index: usize, workflow: &Workflow, origin: Origin) -> Instance {
        let Origin {
            key,
            start,
            started_at,
            data,
            params,
        } = origin;
        let deadlines = workflow
            .deadlines
            .iter()
            .map(|_| DeadlineState {
                status: DeadlineStatus::Open,
                suspended_since: None,
                suspended_days: 0,
                extensions: 0,
                occurrences: Vec::new(),
            })
            .collect();
        Instance {
            id_hash: hash_id(&id),
            id,
            workflow: workflow_index,
            key,
            start,
            started_at,
            data,
            params,
            status: Status::Open,
            deadlines,
            arrived: Vec::new(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == Status::Open
    }

    pub fn term(&self, term: Term) -> Duration {
        term.resolve(&self.params)
    }

    /// The nominal (first) due date of a deadline before suspension and extension; `None` when a
    /// fact it needs is unknown (a partial birth date).
    pub(super) fn anchor_day(
        &self,
        workflow: &Workflow,
        anchor: &Anchor,
        facts: &Facts<'_>,
    ) -> Option<Day> {
        match anchor {
            Anchor::Start => Some(self.start),
            Anchor::Birthday(age) => Some(facts.calendar.birthday(facts.birth?.full()?, *age)),
            Anchor::Data(field) => self.data.get(field)?.as_str()?.parse().ok(),
            Anchor::Date(i) => {
                let date = &workflow.dates[*i];
                let from = self.anchor_day(workflow, &date.is.anchor, facts)?;
                Some(
                    facts
                        .calendar
                        .term_end(date.rule, from, self.apply_terms(&date.is, from)),
                )
            }
            Anchor::Deadline(i) => self.due(workflow, *i, facts),
            Anchor::Event(event) => self
                .arrived
                .iter()
                .find(|(seen, _)| seen == event)
                .map(|(_, day)| *day),
        }
    }

    /// Notes the day `event` arrived, if a date of the workflow counts from it (the latest
    /// arrival counts: support that ends, starts again and ends again ends on the last day).
    pub fn note_arrival(&mut self, workflow: &Workflow, event: EventType, day: Day) {
        if !workflow.counts_from(event) {
            return;
        }
        match self.arrived.iter_mut().find(|(seen, _)| *seen == event) {
            Some(seen) => seen.1 = day,
            None => self.arrived.push((event, day)),
        }
    }

    pub(super) fn apply_terms(&self, expr: &DateExpr, from: Day) -> Day {
        expr.terms
            .iter()
            .fold(from, |day, (sign, term)| match sign {
                Sign::Plus => self.term(*term).add_to(day),
                Sign::Minus => self.term(*term).subtract_from(day),
            })
    }

    pub(super) fn due_expr<'w>(&self, workflow: &'w Workflow, index: usize) -> &'w DateExpr {
        let deadline = &workflow.deadlines[index];
        deadline
            .due_if
            .iter()
            .find(|(when, _)| conditions_hold(when, &self.data))
            .map_or(&deadline.due, |(_, expr)| expr)
    }

    /// The last day a deadline makes sense (`not_after`), if it says so and it can be known.
    pub fn not_after(&self, workflow: &Workflow, index: usize, facts: &Facts<'_>) -> Option<Day> {
        let expr = workflow.deadlines[index].not_after.as_ref()?;
        let from = self.anchor_day(workflow, &expr.anchor, facts)?;
        Some(self.apply_terms(expr, from))
    }

    /// The due date of a deadline as it stands: extensions and suspended days included, the
    /// Atw applied where the deadline says so. `None` while its clock is suspended or when a
    /// fact it needs is unknown. For a recurring deadline: the current occurrence.
    pub fn due(&self, workflow: &Workflow, index: usize, facts: &Facts<'_>) -> Option<Day> {
        let state = &self.deadlines[index];
        if let Some(current) = state.occurrences.last() {
            return Some(current.due);
        }
        if state.suspended_since.is_some() {
            return None;
        }
        let deadline = &workflow.deadlines[index];
        let expr = self.due_expr(workflow, index);
        let from = self.anchor_day(workflow, &expr.anchor, facts)?;
        let mut nominal = self.apply_terms(expr, from);
        if let Some(extension) = &deadline.extend {
            nominal = self
                .term(extension.by)
                .times(state.extensions as i32)
                .add_to(nominal);
        }
        nominal = nominal.add_days(state.suspended_days);
        let rule = if expr.counts_backward() {
            TermRule::Plain
        } else {
            deadline.rule
        };
        let due = facts.calendar.term_end(rule, from, nominal);
        // A late start gets a shorter term: never past the last day the deadline makes sense.
        Some(match self.not_after(workflow, index, facts) {
            Some(last) => due.min(last),
            None => due,
        })
    }

    /// The first due date of a recurring deadline.
    pub fn first_occurrence(
        &self,
        workflow: &Workflow,
        index: usize,
        facts: &Facts<'_>,
    ) -> Option<Day> {
        let expr = self.due_expr(workflow, index);
        let from = self.anchor_day(workflow, &expr.anchor, facts)?;
        Some(facts.calendar.term_end(
            workflow.deadlines[index].rule,
            from,
            self.apply_terms(expr, from),
        ))
    }

    /// The last day an occurrence of a recurring deadline may be due (`until`), if it has one.
    pub fn recurrence_limit(
        &self,
        workflow: &Workflow,
        index: usize,
        facts: &Facts<'_>,
    ) -> Option<Day> {
        let until = workflow.deadlines[index]
            .recurring
            .as_ref()?
            .until
            .as_ref()?;
        let from = self.anchor_day(workflow, &until.anchor, facts)?;
        Some(self.apply_terms(until, from))
    }
}

pub fn conditions_hold(conditions: &[Condition], data: &Map<String, Value>) -> bool {
    conditions.iter().all(|c| {
        let value = data_text(data, &c.field);
        let listed = value.is_some_and(|v| c.values.contains(&v));
        listed != c.negated
    })
}

pub fn matches(m: &EventMatch, event: &Event) -> bool {
    m.event == event.event_type && conditions_hold(&m.when, &event.data)
}

pub fn matches_any(list: &[EventMatch], event: &Event) -> bool {
    list.iter().any(|m| matches(m, event))
}

/// A hash of an id (an instance's, a notification's) for the sets of what was handled. Only
/// kept in memory, so it need not be stable across builds.
pub(super) fn hash_id(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;

    fn data(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    }

    fn condition(field: &str, values: &[&str], negated: bool) -> Condition {
        Condition {
            field: field.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            negated,
        }
    }

    #[test]
    fn conditions_test_the_data_one_of_or_none_of() {
        let reden_31 = data(&[("reden", "31")]);
        assert!(conditions_hold(
            &[condition("reden", &["31", "32"], false)],
            &reden_31
        ));
        assert!(!conditions_hold(
            &[condition("reden", &["32"], false)],
            &reden_31
        ));
        assert!(!conditions_hold(
            &[condition("reden", &["31"], true)],
            &reden_31
        ));
        // A field that is not there is none of the values.
        assert!(!conditions_hold(
            &[condition("route", &["wmo"], false)],
            &reden_31
        ));
        assert!(conditions_hold(
            &[condition("route", &["wmo"], true)],
            &reden_31
        ));
        assert!(conditions_hold(&[], &reden_31), "no conditions: always");
    }

    #[test]
    fn a_match_needs_the_type_and_its_conditions() {
        let event = crate::event::validate(serde_json::json!({
            "id": "e-1", "type": "zorg.beeindigd", "gemeente": "GM0150", "case": "C-1",
            "at": "2027-04-13T10:00:00+02:00", "data": {"reden": "31"}
        }))
        .unwrap();
        let stop = EventMatch {
            event: EventType::ZORG_BEEINDIGD,
            when: vec![condition("reden", &["31"], false)],
        };
        assert!(matches(&stop, &event));
        let other_reason = EventMatch {
            when: vec![condition("reden", &["32"], false)],
            ..stop.clone()
        };
        let start = EventMatch {
            event: EventType::ZORG_GESTART,
            when: Vec::new(),
        };
        assert!(!matches(&other_reason, &event));
        assert!(!matches(&start, &event));
        assert!(matches_any(&[start, stop], &event));
    }
}
