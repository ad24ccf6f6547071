//! What a person looking at one case wants to know beyond its dates: why a due date moved, and
//! what the case will send next if nothing else happens. Both read the case and never change
//! it: the forecast runs on a copy, exactly as `simulate` would run it on.

use jiff::Timestamp;

use super::{Case, Engine, Notification};
use crate::calendar::{Day, local_day};
use crate::event::{BirthDate, EventType};
use crate::workflow::{Anchor, Workflow};

/// Why a deadline's due date is not the one its term alone gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Moved {
    /// The term was suspended: for this many days in all, and still since `since` when it is
    /// suspended now.
    Suspended { days: i32, since: Option<Day> },
    /// The term was extended this many times.
    Extended { times: u32 },
    /// The birth date the deadline counts from was corrected on this day.
    BirthDateCorrected { on: Day },
}

/// The reasons a deadline of an instance moved, by instance id and deadline id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedDeadline {
    pub instance: String,
    pub deadline: String,
    pub reasons: Vec<Moved>,
}

impl Case {
    /// Every deadline of the case whose due date moved, with why.
    pub fn moved_deadlines(&self, engine: &Engine) -> Vec<MovedDeadline> {
        let corrected = self.birth_date_corrected();
        let mut moved = Vec::new();
        for instance in &self.instances {
            let workflow = &engine.workflows[instance.workflow];
            for (index, state) in instance.deadlines.iter().enumerate() {
                let mut reasons = Vec::new();
                if state.suspended_days > 0 || state.suspended_since.is_some() {
                    reasons.push(Moved::Suspended {
                        days: state.suspended_days,
                        since: state.suspended_since,
                    });
                }
                if state.extensions > 0 {
                    reasons.push(Moved::Extended {
                        times: state.extensions,
                    });
                }
                if let Some(on) = corrected
                    && counts_from_birth(workflow, &workflow.deadlines[index].due.anchor)
                {
                    reasons.push(Moved::BirthDateCorrected { on });
                }
                if !reasons.is_empty() {
                    moved.push(MovedDeadline {
                        instance: instance.id.clone(),
                        deadline: workflow.deadlines[index].id.clone(),
                        reasons,
                    });
                }
            }
        }
        moved
    }

    /// The day of the last event that changed a birth date already known.
    pub(super) fn birth_date_corrected(&self) -> Option<Day> {
        let mut known: Option<BirthDate> = None;
        let mut corrected = None;
        for event in &self.events {
            if !matches!(
                event.event_type,
                EventType::CASUS_AANGEMELD | EventType::CASUS_GEWIJZIGD
            ) {
                continue;
            }
            let Some(birth) = event
                .data
                .get("geboortedatum")
                .and_then(|v| v.as_str())
                .and_then(BirthDate::parse)
            else {
                continue;
            };
            if known.is_some_and(|known| known != birth) {
                corrected = Some(local_day(event.at));
            }
            known = Some(birth);
        }
        corrected
    }

    /// What the case sends from `now` up to `until` if no other event comes, at most
    /// `at_most` notifications, in the order they would go out. Computed on a copy: nothing
    /// of the case changes, and the notifications are not recorded anywhere.
    pub fn forecast(
        &self,
        engine: &Engine,
        now: Timestamp,
        until: Timestamp,
        at_most: usize,
    ) -> Vec<Notification> {
        // Every wakeup moves the copy's clock forward, so this ends; the bound is a guard
        // against a future change that would not.
        const MAX_WAKEUPS: usize = 10_000;
        let mut copy = self.clone();
        let mut out = copy.tick(engine, now);
        for _ in 0..MAX_WAKEUPS {
            if out.len() >= at_most {
                break;
            }
            match copy.next_wakeup() {
                Some(next) if next <= until => out.extend(copy.tick(engine, next.max(now))),
                _ => break,
            }
        }
        out.truncate(at_most);
        out
    }
}

/// Whether a date counts from the young person's birth date, directly or through a named date
/// or another deadline.
pub(super) fn counts_from_birth(workflow: &Workflow, anchor: &Anchor) -> bool {
    match anchor {
        Anchor::Birthday(_) => true,
        Anchor::Date(index) => counts_from_birth(workflow, &workflow.dates[*index].is.anchor),
        Anchor::Deadline(index) => {
            counts_from_birth(workflow, &workflow.deadlines[*index].due.anchor)
        }
        Anchor::Start | Anchor::Data(_) | Anchor::Event(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Kind;
    use crate::engine::test_engine;
    use crate::event::validate;

    const WORKFLOW: &str = "workflow: klacht
title: Bezwaar
source: test
roles: { behandelaar: Behandelaar, teamleider: Teamleider }
start: { on: bezwaar.ingediend }
deadlines:
  beslist:
    title: Beslissen op het bezwaar
    due: start + 6 weeks
    calendar: termijnenwet
    owner: behandelaar
    remind: [7 days before]
    escalate: [{ to: teamleider }]
    suspend: { on: bezwaar.verzuim, resume_on: bezwaar.hersteld }
    met_by: bezwaar.beslist
";

    fn event(id: &str, kind: &str, at: &str) -> crate::event::Event {
        validate(
            serde_json::json!({"id": id, "type": kind, "gemeente": "GM0150",
            "case": "C-1", "at": at, "data": {"bezwaar_id": "B-1",
            "bekendgemaakt": "2027-04-01", "adviescommissie": false}}),
        )
        .unwrap()
    }

    #[test]
    fn a_suspension_is_named_as_the_reason_a_due_date_moved() {
        let engine = test_engine(WORKFLOW);
        let mut case = Case::new("GM0150", "C-1");
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let start = event("e-1", "bezwaar.ingediend", "2027-04-13T10:00:00+02:00");
        case.apply(&engine, start, at("2027-04-13T10:00:00+02:00"));
        assert_eq!(case.moved_deadlines(&engine), []);
        let pause = event("e-2", "bezwaar.verzuim", "2027-04-15T10:00:00+02:00");
        case.apply(&engine, pause, at("2027-04-15T10:00:00+02:00"));
        let resume = event("e-3", "bezwaar.hersteld", "2027-04-20T10:00:00+02:00");
        case.apply(&engine, resume, at("2027-04-20T10:00:00+02:00"));
        assert_eq!(
            case.moved_deadlines(&engine),
            [MovedDeadline {
                instance: "klacht/GM0150/C-1".into(),
                deadline: "beslist".into(),
                reasons: vec![Moved::Suspended {
                    days: 5,
                    since: None
                }],
            }]
        );
    }

    #[test]
    fn the_forecast_leaves_the_case_as_it_was() {
        let engine = test_engine(WORKFLOW);
        let mut case = Case::new("GM0150", "C-1");
        let now = "2027-04-13T10:00:00+02:00".parse::<Timestamp>().unwrap();
        case.apply(
            &engine,
            event("e-1", "bezwaar.ingediend", "2027-04-13T10:00:00+02:00"),
            now,
        );
        let until = "2028-01-01T00:00:00Z".parse::<Timestamp>().unwrap();
        let first = case.forecast(&engine, now, until, 5);
        let kinds: Vec<Kind> = first.iter().map(|n| n.kind).collect();
        assert_eq!(kinds, [Kind::Reminder, Kind::Escalation]);
        assert_eq!(case.forecast(&engine, now, until, 1).len(), 1);
        // Nothing was marked as sent: the same forecast again.
        assert_eq!(case.forecast(&engine, now, until, 5), first);
        assert_eq!(case.next_wakeup(), Some(first[0].at));
    }
}
