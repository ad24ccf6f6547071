//! How a due date came about, step by step (DESIGN.md, "Every due date explains itself"): what
//! the deadline counts from, each term with who set it, an extension, a suspension, each rule
//! of the Algemene termijnenwet that moved the end, `not_after`, a corrected birth date and a
//! calendar that is still provisional. The steps follow [`Instance::due`] exactly; a test over
//! a generated year holds every derivation to the due date the engine computed.
//!
//! The steps are data; [`sentences`] says them in Dutch for the API, the case page and the
//! calendar feed.

mod sentences;

pub use sentences::{About, sentences};

use super::instance::{Facts, Instance};
use super::{Case, Engine, OccurrenceStatus, ParamOrigin};
use crate::calendar::{AtwStep, Day, Duration, FreeDay, TermRule};
use crate::event::EventType;
use crate::workflow::{Anchor, Condition, DateExpr, Sign, Term, Trigger, Workflow};

/// One step of a derivation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'e> {
    /// What the date counts from, and its day.
    From(Origin<'e>),
    /// A named date of the workflow, reached by the steps before it.
    Named { name: &'e str, day: Day },
    /// The start event's data chose this alternative of the due date (`due_if`).
    Chosen { when: &'e [Condition] },
    /// A term added (or, counting back, subtracted): `to` is the day it reaches.
    Term {
        sign: Sign,
        length: Duration,
        /// The parameter's name; `None` for a length written in the workflow.
        param: Option<&'e str>,
        /// Who set it; `None` when the gemeente's value has changed since the instance
        /// started, so that only its difference from the default can be told.
        origin: Option<ParamOrigin>,
        /// The workflow's own length, when the gemeente set another.
        default: Option<Duration>,
        to: Day,
    },
    /// Extended this many times by `by`.
    Extended { times: u32, by: Duration, to: Day },
    /// Suspended for this many days in all.
    Suspended { days: i32, to: Day },
    /// Suspended since this day: the due date follows when the term runs again.
    SuspendedNow { since: Day },
    /// A rule of the Atw moved the end.
    Atw(AtwStep<'e>),
    /// A service norm ending on a free day keeps that day: the Atw is for legal terms.
    ServiceNormOnFreeDay { day: Day, why: FreeDay<'e> },
    /// A legal term counted back from a moment is not moved (Atw art. 1 lid 2).
    CountedBack,
    /// Capped at the last day the deadline makes sense (`not_after`).
    NotAfter { last: Day },
    /// A recurring deadline's next occurrence, counted from the contact that met the last one.
    AfterContact {
        contact: Day,
        every: Duration,
        to: Day,
    },
    /// ... or from the due date of the last one, which passed unmet.
    AfterMissed {
        missed: Day,
        every: Duration,
        to: Day,
    },
    /// A recurring deadline comes back every `every`, until `until`.
    Recurs { every: Duration, until: Option<Day> },
    /// The birth date was corrected on this day; the date counts from the new one.
    BirthDateCorrected { on: Day },
    /// The birth date is known only in part: no due date can be computed.
    BirthDateIncomplete,
    /// The date counts from an event that has not come yet: it has no due date until then.
    WaitsFor { event: EventType },
    /// A legal term ending after the years the holiday data covers may still move.
    Provisional { covered_through: Option<i32> },
}

/// What a date counts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin<'e> {
    /// The event that started the instance.
    StartEvent { event: EventType, day: Day },
    /// A workflow that starts on a date from the case's facts.
    StartDate { day: Day },
    /// The young person's birthday at `age`; `leap_day` when born on 29 February and the year
    /// has none.
    Birthday { age: i32, day: Day, leap_day: bool },
    /// A date field of the start event.
    Data { field: &'e str, day: Day },
    /// The due date of another deadline of the instance.
    Deadline { title: &'e str, day: Day },
    /// The day an event arrived.
    Event { event: EventType, day: Day },
}

/// The derivation of one due date: the steps, and the date they reach (`None` while it is
/// suspended or when a fact is missing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derivation<'e> {
    pub steps: Vec<Step<'e>>,
    pub due: Option<Day>,
}

impl Case {
    /// How the due date of one occurrence of one deadline came about; `None` when the case has
    /// no such instance, deadline or occurrence.
    pub fn derivation<'e>(
        &self,
        engine: &'e Engine,
        instance: &str,
        deadline: &str,
        occurrence: u32,
    ) -> Option<Derivation<'e>> {
        let instance = self.instances.iter().find(|i| i.id == instance)?;
        let workflow = &engine.workflows[instance.workflow];
        let index = workflow.deadline_index(deadline)?;
        let mut derive = Deriving {
            engine,
            workflow,
            instance,
            facts: self.facts_for(engine),
            origins: engine.param_origins(&self.gemeente, workflow, &instance.data),
            steps: Vec::new(),
        };
        let due = derive.deadline(index, occurrence as usize)?;
        let mut steps = derive.steps;
        if let Some(on) = self.birth_date_corrected()
            && super::explain::counts_from_birth(workflow, &workflow.deadlines[index].due.anchor)
        {
            steps.push(Step::BirthDateCorrected { on });
        }
        Some(Derivation { steps, due })
    }
}

/// Sentences by instance id, deadline id and occurrence.
pub type Explanations = std::collections::HashMap<(String, String, u32), Vec<String>>;

impl Case {
    /// Every deadline's explanation as the deadlines stand at `now` (recurring occurrences
    /// rolled on to it, as the store's rows are), worked out on a copy: nothing of the case
    /// changes and nothing it would send is marked sent.
    pub fn explanations(&self, engine: &Engine, now: jiff::Timestamp) -> Explanations {
        let mut copy = self.clone();
        copy.tick(engine, now);
        let mut out = Explanations::new();
        for view in copy.deadlines(engine, now) {
            if let Some(lines) =
                copy.explanation(engine, &view.instance, &view.deadline, view.occurrence)
            {
                out.insert((view.instance, view.deadline, view.occurrence), lines);
            }
        }
        out
    }

    /// The derivation of a due date in Dutch sentences (see [`Case::derivation`]).
    pub fn explanation(
        &self,
        engine: &Engine,
        instance: &str,
        deadline: &str,
        occurrence: u32,
    ) -> Option<Vec<String>> {
        let derivation = self.derivation(engine, instance, deadline, occurrence)?;
        let workflow = self
            .instances
            .iter()
            .find(|i| i.id == instance)
            .map(|i| &engine.workflows[i.workflow])?;
        let gemeente = engine
            .settings
            .gemeenten
            .get(&self.gemeente)
            .map_or(self.gemeente.as_str(), String::as_str);
        Some(sentences(
            &derivation.steps,
            &About {
                gemeente,
                workflow: &workflow.title,
            },
        ))
    }
}

struct Deriving<'e, 'c> {
    engine: &'e Engine,
    workflow: &'e Workflow,
    instance: &'c Instance,
    facts: Facts<'e>,
    /// Each parameter's value and who set it, when they still give the instance's values.
    origins: Vec<(Duration, ParamOrigin)>,
    steps: Vec<Step<'e>>,
}

impl<'e> Deriving<'e, '_> {
    /// The steps to one occurrence's due date; `None` for an occurrence that does not exist.
    /// The outer `Option` says whether it exists, the inner whether it has a date.
    fn deadline(&mut self, index: usize, occurrence: usize) -> Option<Option<Day>> {
        let state = &self.instance.deadlines[index];
        let deadline = &self.workflow.deadlines[index];
        let expr = self.instance.due_expr(self.workflow, index);
        if let Some((when, _)) = deadline
            .due_if
            .iter()
            .find(|(_, alternative)| std::ptr::eq(alternative, expr))
        {
            self.steps.push(Step::Chosen { when });
        }
        if let Some(recurrence) = &deadline.recurring {
            let every = self.instance.term(recurrence.every);
            let until = self
                .instance
                .recurrence_limit(self.workflow, index, &self.facts);
            if occurrence == 0 {
                let due = self.expression(expr, deadline.rule);
                self.steps.push(Step::Recurs { every, until });
                return Some(due);
            }
            let current = state.occurrences.get(occurrence)?;
            let previous = state.occurrences[occurrence - 1];
            let step = match previous.status {
                OccurrenceStatus::Met(contact) if every.add_to(contact) == current.due => {
                    Step::AfterContact {
                        contact,
                        every,
                        to: current.due,
                    }
                }
                _ => Step::AfterMissed {
                    missed: previous.due,
                    every,
                    to: current.due,
                },
            };
            self.steps.push(step);
            self.steps.push(Step::Recurs { every, until });
            return Some(Some(current.due));
        }
        if occurrence != 0 {
            return None;
        }
        let Some(from) = self.from(&expr.anchor) else {
            return Some(None);
        };
        let mut nominal = self.terms(expr, from);
        if let Some(extension) = &deadline.extend
            && state.extensions > 0
        {
            let by = self.instance.term(extension.by);
            nominal = by.times(state.extensions as i32).add_to(nominal);
            self.steps.push(Step::Extended {
                times: state.extensions,
                by,
                to: nominal,
            });
        }
        if state.suspended_days > 0 {
            nominal = nominal.add_days(state.suspended_days);
            self.steps.push(Step::Suspended {
                days: state.suspended_days,
                to: nominal,
            });
        }
        if let Some(since) = state.suspended_since {
            self.steps.push(Step::SuspendedNow { since });
            return Some(None);
        }
        let mut due = if expr.counts_backward() && deadline.rule == TermRule::Termijnenwet {
            self.steps.push(Step::CountedBack);
            nominal
        } else {
            self.term_end(deadline.rule, from, nominal)
        };
        if let Some(last) = self.instance.not_after(self.workflow, index, &self.facts)
            && last < due
        {
            self.steps.push(Step::NotAfter { last });
            due = last;
        }
        if self.engine.calendar.is_provisional(deadline.rule, due) {
            self.steps.push(Step::Provisional {
                covered_through: self.engine.calendar.covered_through(),
            });
        }
        Some(Some(due))
    }

    /// The steps of a date expression with its rule: its anchor, its terms and the Atw.
    fn expression(&mut self, expr: &'e DateExpr, rule: TermRule) -> Option<Day> {
        let from = self.from(&expr.anchor)?;
        let nominal = self.terms(expr, from);
        Some(self.term_end(rule, from, nominal))
    }

    fn from(&mut self, anchor: &'e Anchor) -> Option<Day> {
        let origin = match anchor {
            Anchor::Start => match &self.workflow.start.trigger {
                Trigger::Event(start) => Origin::StartEvent {
                    event: start.event,
                    day: self.instance.start,
                },
                Trigger::Date { .. } => Origin::StartDate {
                    day: self.instance.start,
                },
            },
            Anchor::Birthday(age) => {
                let Some(birth) = self.facts.birth.and_then(|b| b.full()) else {
                    self.steps.push(Step::BirthDateIncomplete);
                    return None;
                };
                let day = self.facts.calendar.birthday(birth, *age);
                let (_, month, of) = birth.ymd();
                Origin::Birthday {
                    age: *age,
                    day,
                    leap_day: month == 2 && of == 29 && day.ymd().2 != 29,
                }
            }
            Anchor::Data(field) => Origin::Data {
                field,
                day: self
                    .instance
                    .anchor_day(self.workflow, anchor, &self.facts)?,
            },
            Anchor::Date(i) => {
                let date = &self.workflow.dates[*i];
                let day = self.expression(&date.is, date.rule)?;
                self.steps.push(Step::Named {
                    name: &date.name,
                    day,
                });
                return Some(day);
            }
            Anchor::Deadline(i) => Origin::Deadline {
                title: &self.workflow.deadlines[*i].title,
                day: self.instance.due(self.workflow, *i, &self.facts)?,
            },
            Anchor::Event(event) => {
                let Some(day) = self.instance.anchor_day(self.workflow, anchor, &self.facts) else {
                    self.steps.push(Step::WaitsFor { event: *event });
                    return None;
                };
                Origin::Event { event: *event, day }
            }
        };
        let day = match &origin {
            Origin::StartEvent { day, .. }
            | Origin::StartDate { day }
            | Origin::Birthday { day, .. }
            | Origin::Data { day, .. }
            | Origin::Deadline { day, .. }
            | Origin::Event { day, .. } => *day,
        };
        self.steps.push(Step::From(origin));
        Some(day)
    }

    /// Each term of `expr` from `from`, as [`Instance::apply_terms`] adds them.
    fn terms(&mut self, expr: &'e DateExpr, from: Day) -> Day {
        let mut day = from;
        for (sign, term) in &expr.terms {
            let length = self.instance.term(*term);
            day = match sign {
                Sign::Plus => length.add_to(day),
                Sign::Minus => length.subtract_from(day),
            };
            let (param, origin, default) = match term {
                Term::Literal(_) => (None, Some(ParamOrigin::Workflow), None),
                Term::Param(i) => {
                    let param = &self.workflow.params[*i];
                    // Who set it, as long as the gemeente's values are still the instance's
                    // (a plugin may answer otherwise since); else only that it differs.
                    let origin = match self.origins.get(*i) {
                        Some((value, origin)) if *value == length => Some(*origin),
                        _ if length == param.default => Some(ParamOrigin::Workflow),
                        _ => None,
                    };
                    let default = (length != param.default).then_some(param.default);
                    (Some(param.name.as_str()), origin, default)
                }
            };
            self.steps.push(Step::Term {
                sign: *sign,
                length,
                param,
                origin,
                default,
                to: day,
            });
        }
        day
    }

    /// The end of a term under its rule, with the Atw's steps or why it did not move.
    fn term_end(&mut self, rule: TermRule, from: Day, nominal: Day) -> Day {
        let calendar = self.facts.calendar;
        let (end, atw) = calendar.term_end_steps(rule, from, nominal);
        if rule == TermRule::Plain
            && let Some(why) = calendar.why_free(nominal)
        {
            self.steps
                .push(Step::ServiceNormOnFreeDay { day: nominal, why });
        }
        self.steps.extend(atw.into_iter().map(Step::Atw));
        end
    }
}

#[cfg(test)]
mod tests;
