//! The validated workflow model: what the engine runs. Built only by `build`, so every name in
//! it refers to something that exists (parameters, deadlines, dates and roles are indices or
//! checked names) and every term is a parsed [`Duration`].

use std::collections::BTreeMap;

use crate::calendar::{Duration, TermRule};
use crate::event::EventType;
use crate::yaml::Position;

pub use super::closing::Closing;

#[derive(Clone, Debug)]
pub struct Workflow {
    pub name: String,
    pub title: String,
    pub source: Option<String>,
    /// The gemeenten it applies to (`gemeenten:`; default every gemeente).
    pub gemeenten: GemeenteScope,
    /// Where it was read: the file, and the `start` key's position (for warnings that name
    /// two workflows).
    pub file: String,
    pub start_at: Position,
    /// Where `gemeenten` is written (the top of the file when it is not).
    pub gemeenten_at: Position,
    /// Where each code of `gemeenten` is written, in the order of `gemeenten.codes()`.
    pub gemeente_codes_at: Vec<Position>,
    /// Role id -> Dutch description. Every role used below is declared here.
    pub roles: BTreeMap<String, String>,
    pub start: Start,
    /// Parameters with their defaults, in file order; [`Term::Param`] indexes into this.
    pub params: Vec<Param>,
    /// Named intermediate dates, in an order where each only refers to earlier ones.
    pub dates: Vec<NamedDate>,
    pub deadlines: Vec<Deadline>,
    pub signals: Vec<Signal>,
    /// Events that complete the instance.
    pub ends_on: Vec<EventMatch>,
    /// Events that withdraw the instance (a complaint withdrawn, a message retracted).
    pub cancel_on: Vec<EventMatch>,
    pub messages: Messages,
    /// What the closing of its case does to it (by default: ends it).
    pub closing: Closing,
    /// Words for data values in its messages: field -> value -> words.
    pub words: BTreeMap<String, BTreeMap<String, String>>,
    /// Roles a gemeente fills with another of the workflow's roles: gemeente -> role -> role.
    pub roles_in: BTreeMap<String, BTreeMap<String, String>>,
}

impl Workflow {
    /// The role that does `role`'s part in `gemeente` (`roles_in`), or `role` itself.
    pub fn role_in<'a>(&'a self, gemeente: &str, role: &'a str) -> &'a str {
        self.roles_in
            .get(gemeente)
            .and_then(|instead| instead.get(role))
            .map_or(role, String::as_str)
    }
}

/// Which gemeenten a workflow applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum GemeenteScope {
    #[default]
    Every,
    /// `gemeenten: [GM0150, GM0200]`; never empty.
    Only(Vec<String>),
    /// `gemeenten: { not: [GM0150] }`; never empty.
    AllBut(Vec<String>),
}

impl GemeenteScope {
    pub fn applies_to(&self, gemeente: &str) -> bool {
        match self {
            GemeenteScope::Every => true,
            GemeenteScope::Only(codes) => codes.iter().any(|c| c == gemeente),
            GemeenteScope::AllBut(codes) => !codes.iter().any(|c| c == gemeente),
        }
    }

    /// The codes it names, whether included or excluded.
    pub fn codes(&self) -> &[String] {
        match self {
            GemeenteScope::Every => &[],
            GemeenteScope::Only(codes) | GemeenteScope::AllBut(codes) => codes,
        }
    }

    /// The gemeenten both scopes apply to, in words; `None` when there are none.
    pub fn shared_with(&self, other: &GemeenteScope) -> Option<String> {
        use GemeenteScope::*;
        let listed = |codes: Vec<&String>| {
            (!codes.is_empty()).then(|| {
                codes
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        match (self, other) {
            (Every, Every) => Some("every gemeente".into()),
            (Every, AllBut(out)) | (AllBut(out), Every) => {
                Some(format!("every gemeente but {}", out.join(", ")))
            }
            (AllBut(a), AllBut(b)) => {
                let mut out: Vec<&String> = a.iter().chain(b).collect();
                out.sort();
                out.dedup();
                Some(format!(
                    "every gemeente but {}",
                    out.iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            (Every, Only(codes)) | (Only(codes), Every) => listed(codes.iter().collect()),
            (Only(a), Only(b)) => listed(a.iter().filter(|c| b.contains(c)).collect()),
            (Only(a), AllBut(b)) | (AllBut(b), Only(a)) => {
                listed(a.iter().filter(|c| !b.contains(c)).collect())
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub default: Duration,
}

#[derive(Clone, Debug)]
pub struct Start {
    pub trigger: Trigger,
    /// Only while the young person is in care (true) or not in care (false).
    pub in_care: Option<bool>,
    pub key: InstanceKey,
    /// Not while one of these workflows is open for the case (it does the same work).
    pub unless_open: Vec<(String, Position)>,
}

#[derive(Clone, Debug)]
pub enum Trigger {
    /// When a matching event arrives.
    Event(EventMatch),
    /// On a date derived from the case's facts. When the condition does not hold on that date
    /// but starts to hold before `until` (care starts later), the instance starts then.
    Date {
        on: DateExpr,
        until: Option<DateExpr>,
    },
}

/// One instance per case, or one per value of a data field of the start event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceKey {
    Case,
    Data(String),
}

#[derive(Clone, Debug)]
pub struct EventMatch {
    pub event: EventType,
    pub when: Vec<Condition>,
}

/// A condition on a data field of an event: its text is one of `values`, or none of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub field: String,
    pub values: Vec<String>,
    pub negated: bool,
}

/// `anchor (+|- term)*`: for example `birthday 18 - 6 months` or `start + in_behandeling`.
#[derive(Clone, Debug)]
pub struct DateExpr {
    pub anchor: Anchor,
    pub terms: Vec<(Sign, Term)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    Plus,
    Minus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The day the instance started.
    Start,
    /// The day the young person turns this age.
    Birthday(i32),
    /// A date field of the start event.
    Data(String),
    /// A named date of the workflow (index into `dates`).
    Date(usize),
    /// The due date of another deadline (index into `deadlines`).
    Deadline(usize),
    /// The day this event last arrived for the instance: a deadline that counts from what
    /// happens later (the MO-plan's nazorg paragraph from the end of support). Until it
    /// arrives, the deadline has no due date and sends nothing.
    Event(crate::event::EventType),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Term {
    Literal(Duration),
    /// Index into `params`.
    Param(usize),
}

impl Term {
    /// Its length under the given parameter values (indexed like `Workflow::params`).
    pub fn resolve(self, params: &[Duration]) -> Duration {
        match self {
            Term::Literal(d) => d,
            Term::Param(i) => params[i],
        }
    }
}

impl DateExpr {
    /// `from` (the anchor's day) with the terms added and subtracted in order.
    pub fn add_terms(
        &self,
        from: crate::calendar::Day,
        params: &[Duration],
    ) -> crate::calendar::Day {
        self.terms
            .iter()
            .fold(from, |day, (sign, term)| match sign {
                Sign::Plus => term.resolve(params).add_to(day),
                Sign::Minus => term.resolve(params).subtract_from(day),
            })
    }

    /// Whether a term is a parameter, whose value the gemeente may set.
    pub fn uses_params(&self) -> bool {
        self.terms
            .iter()
            .any(|(_, term)| matches!(term, Term::Param(_)))
    }

    /// A term counted backward from a moment is not extended by the Atw (art. 1.2).
    pub fn counts_backward(&self) -> bool {
        !self.terms.is_empty() && self.terms.iter().all(|(sign, _)| *sign == Sign::Minus)
    }
}

#[derive(Clone, Debug)]
pub struct NamedDate {
    pub name: String,
    pub is: DateExpr,
    pub rule: TermRule,
}

#[derive(Clone, Debug)]
pub struct Deadline {
    pub id: String,
    pub title: String,
    pub due: DateExpr,
    /// Alternatives chosen by the start event's data; the first that matches wins.
    pub due_if: Vec<(Vec<Condition>, DateExpr)>,
    pub rule: TermRule,
    pub met_by: Vec<EventMatch>,
    pub cancel_on: Vec<EventMatch>,
    pub owner: String,
    /// How long before the due date each reminder goes out, latest first or in any order.
    pub remind: Vec<Duration>,
    pub escalate: Vec<EscalationStep>,
    pub suspend: Option<Suspension>,
    pub extend: Option<Extension>,
    pub recurring: Option<Recurrence>,
    /// The last day the deadline makes sense (`not_after: birthday 18`): the due date is
    /// never later, and nothing is sent about it after this day.
    pub not_after: Option<DateExpr>,
    pub messages: Messages,
}

#[derive(Clone, Debug)]
pub struct EscalationStep {
    pub to: Vec<String>,
    /// Counted from the day the deadline was missed (the day after the due date).
    pub after: Duration,
    /// Send again at this interval, one level higher each time, until met or ended.
    pub repeat: Option<Duration>,
    /// The level at which a repeating step stops: that repeat is the chain's last message.
    pub max_level: Option<u32>,
    pub message: Option<Template>,
    /// Where the step is written, for `check`'s warnings.
    pub at: Position,
}

#[derive(Clone, Debug)]
pub struct Suspension {
    pub on: EventMatch,
    pub resume_on: EventMatch,
}

#[derive(Clone, Debug)]
pub struct Extension {
    pub on: EventMatch,
    pub by: Term,
    pub once: bool,
}

/// The rolling rule of DESIGN.md: the next due date is one interval after the contact that met
/// the previous one, or after the previous due date when that was missed; none after `until`.
#[derive(Clone, Debug)]
pub struct Recurrence {
    pub every: Term,
    pub until: Option<DateExpr>,
}

#[derive(Clone, Debug)]
pub struct Signal {
    pub id: String,
    pub on: EventMatch,
    pub to: Vec<String>,
    pub message: Template,
}

#[derive(Clone, Debug, Default)]
pub struct Messages {
    pub reminder: Option<Template>,
    pub escalation: Option<Template>,
}

/// A Dutch message with `{placeholders}`, checked when the workflow is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(pub String);

/// The placeholders a message may use.
pub const PLACEHOLDERS: &[&str] = &[
    "titel", "datum", "casus", "dagen", "wanneer", "eigenaar", "workflow", "niveau",
];

impl Workflow {
    /// Whether a date of this workflow counts from `event` (an `Anchor::Event`), so that an
    /// instance must note when it arrives.
    pub fn counts_from(&self, event: crate::event::EventType) -> bool {
        let dates = self.dates.iter().map(|d| &d.is);
        let deadlines = self.deadlines.iter().flat_map(|d| {
            std::iter::once(&d.due)
                .chain(d.due_if.iter().map(|(_, e)| e))
                .chain(d.not_after.iter())
                .chain(d.recurring.iter().flat_map(|r| r.until.iter()))
        });
        dates
            .chain(deadlines)
            .any(|e| e.anchor == Anchor::Event(event))
    }

    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }

    pub fn deadline_index(&self, id: &str) -> Option<usize> {
        self.deadlines.iter().position(|d| d.id == id)
    }

    /// Every event type the workflow reacts to, for routing events to instances.
    pub fn events(&self) -> Vec<EventType> {
        let mut events: Vec<EventType> = Vec::new();
        if let Trigger::Event(start) = &self.start.trigger {
            events.push(start.event);
        }
        let matches = self
            .ends_on
            .iter()
            .chain(&self.cancel_on)
            .chain(self.signals.iter().map(|s| &s.on));
        events.extend(matches.map(|m| m.event));
        for deadline in &self.deadlines {
            events.extend(
                deadline
                    .met_by
                    .iter()
                    .chain(&deadline.cancel_on)
                    .map(|m| m.event),
            );
            if let Some(s) = &deadline.suspend {
                events.extend([s.on.event, s.resume_on.event]);
            }
            if let Some(e) = &deadline.extend {
                events.push(e.on.event);
            }
        }
        events.sort();
        events.dedup();
        events
    }
}
