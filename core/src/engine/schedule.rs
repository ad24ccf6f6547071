//! When each reminder and escalation of an instance goes out (DESIGN.md, "Timing"):
//! at the send hour on working days; a reminder that would fall on a free day goes out on the
//! working day before, an escalation on the working day after; level 1 on the first working day
//! after the due date.

use jiff::Timestamp;

use crate::calendar::{self, Calendar, Day};
use crate::workflow::Workflow;

use super::instance::{DeadlineStatus, Facts, Instance, OccurrenceStatus};
use super::notification::Kind;

/// A notification the instance's state calls for at `moment`.
#[derive(Clone, Debug)]
pub struct Planned {
    pub moment: Timestamp,
    pub kind: Kind,
    pub level: u32,
    /// The last escalation of its chain: the chain's last step if it does not repeat, or the
    /// repeat that reaches the step's `max_level`. Its message says that nothing follows.
    pub last: bool,
    pub deadline: usize,
    pub occurrence: u32,
    pub due: Day,
    /// Reminders: index into `remind`. Escalations: index into `escalate` (repeats: the last).
    pub step: usize,
}

/// Every planned notification of `instance` up to `horizon`, plus for each chain the first one
/// after it (so the caller can know when to wake up next). Repeating escalations are generated
/// only that far.
pub fn plan(
    workflow: &Workflow,
    instance: &Instance,
    facts: &Facts<'_>,
    calendar: &Calendar,
    send_hour: u8,
    horizon: Timestamp,
    out: &mut Vec<Planned>,
) {
    if !instance.is_open() {
        return;
    }
    for (index, state) in instance.deadlines.iter().enumerate() {
        if state.status != DeadlineStatus::Open {
            continue;
        }
        if state.occurrences.is_empty() {
            if let Some(due) = instance.due(workflow, index, facts) {
                let last = instance.not_after(workflow, index, facts);
                plan_due(
                    workflow, instance, index, 0, due, last, calendar, send_hour, horizon, out,
                );
            }
            continue;
        }
        for (n, occurrence) in state.occurrences.iter().enumerate() {
            if matches!(
                occurrence.status,
                OccurrenceStatus::Open | OccurrenceStatus::Missed
            ) {
                plan_due(
                    workflow,
                    instance,
                    index,
                    n as u32,
                    occurrence.due,
                    instance.not_after(workflow, index, facts),
                    calendar,
                    send_hour,
                    horizon,
                    out,
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)] // one call site; a struct for these would only rename them
fn plan_due(
    workflow: &Workflow,
    instance: &Instance,
    index: usize,
    occurrence: u32,
    due: Day,
    last: Option<Day>,
    calendar: &Calendar,
    send_hour: u8,
    horizon: Timestamp,
    out: &mut Vec<Planned>,
) {
    let deadline = &workflow.deadlines[index];
    let planned = |moment, kind, level, step| Planned {
        moment,
        kind,
        level,
        last: false,
        deadline: index,
        occurrence,
        due,
        step,
    };
    for (step, before) in deadline.remind.iter().enumerate() {
        let day = calendar.working_day_on_or_before(before.subtract_from(due));
        let moment = calendar::send_moment(day, send_hour);
        // A reminder meant for before the instance existed has nothing to remind of.
        if moment >= instance.started_at {
            out.push(planned(moment, Kind::Reminder, 0, step));
        }
    }
    let missed = due.add_days(1);
    let steps = deadline.escalate.len();
    for (step, escalation) in deadline.escalate.iter().enumerate() {
        let first = escalation.after.add_to(missed);
        let day = calendar.working_day_on_or_after(first);
        // Nothing is sent about a deadline after the last day it makes sense.
        if last.is_some_and(|last| day > last) {
            continue;
        }
        let level = step as u32 + 1;
        let moment = calendar::send_moment(day, send_hour);
        let Some(repeat) = escalation.repeat else {
            out.push(Planned {
                last: step + 1 == steps,
                ..planned(moment, Kind::Escalation, level, step)
            });
            continue;
        };
        // A repeating step goes up one level each time; at its `max_level` it stops, and on
        // the chain's last step that repeat is the chain's last word. Without one it repeats
        // for as long as the deadline stays missed (`check` warns).
        let most = escalation.max_level.unwrap_or(u32::MAX);
        let final_step = step + 1 == steps;
        out.push(Planned {
            last: final_step && level >= most,
            ..planned(moment, Kind::Escalation, level, step)
        });
        // Repeats long past were sent (or, on a catch-up, passed over for the latest), so the
        // chain is taken up a little before the horizon instead of from its start: a deadline
        // missed for a year would otherwise be replanned from its first repeat at every wakeup.
        // Never beyond the last repeat, which a catch-up must still find.
        let repeats = i32::try_from(most - level).unwrap_or(i32::MAX);
        let mut k = 0;
        if repeat.months == 0 && moment < horizon {
            let days_behind = first.days_until(calendar::local_day(horizon));
            k = (days_behind / repeat.days - 2).clamp(0, repeats - 1);
        }
        while k < repeats {
            k += 1;
            let day = calendar.working_day_on_or_after(repeat.times(k).add_to(first));
            if last.is_some_and(|last| day > last) {
                break;
            }
            let moment = calendar::send_moment(day, send_hour);
            let level = level + k as u32;
            out.push(Planned {
                last: final_step && level >= most,
                ..planned(moment, Kind::Escalation, level, step)
            });
            if moment > horizon {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::calendar::parse_timestamp;
    use crate::engine::{Case, Kind};

    /// An escalation chain: the team leader on the first working day after the due date, then
    /// the gemeente one week later, repeated every week one level higher.
    const WORKFLOW: &str = "workflow: klacht
title: Klacht
source: test
roles: { functionaris: Klachtenfunctionaris, teamleider: Teamleider, gemeente: Gemeente }
start: { on: klacht.ingediend, key: data.klacht_id }
deadlines:
  behandeld:
    title: Klacht behandelen
    due: start + 14 days
    met_by: klacht.in_behandeling
    owner: functionaris
    remind: [1 week before, 1 day before]
    escalate:
      - to: teamleider
      - { after: 1 week, to: gemeente, repeat: every week }
";

    /// (moment, kind, level, to) of everything sent from filing to `until`, ticking at each
    /// wakeup as the daemon would.
    fn sent_until(until: &str) -> Vec<(String, Kind, u32, String)> {
        sent_with(WORKFLOW, until)
            .into_iter()
            .map(|(at, kind, level, to, _)| (at, kind, level, to))
            .collect()
    }

    /// The same for another workflow, with each notification's id.
    fn sent_with(workflow: &str, until: &str) -> Vec<(String, Kind, u32, String, String)> {
        let sent = notifications_with(workflow, until);
        sent.iter()
            .map(|n| {
                (
                    crate::calendar::format_timestamp(n.at),
                    n.kind,
                    n.level,
                    n.to.join(","),
                    n.id.clone(),
                )
            })
            .collect()
    }

    /// Filed Monday 1 March 2027, due Monday 15 March: reminders a week and a day before
    /// (Monday 8 and Sunday 14, which goes out on Friday 12), the team leader on Tuesday 16,
    /// the gemeente on Tuesday 23 and every week after, one level higher each time.
    #[test]
    fn reminders_then_an_escalation_chain_that_repeats() {
        let sent = sent_until("2027-04-07T00:00:00+02:00");
        let expected = [
            (
                "2027-03-08T09:00:00+01:00",
                Kind::Reminder,
                0,
                "functionaris",
            ),
            (
                "2027-03-12T09:00:00+01:00",
                Kind::Reminder,
                0,
                "functionaris",
            ),
            (
                "2027-03-16T09:00:00+01:00",
                Kind::Escalation,
                1,
                "teamleider",
            ),
            ("2027-03-23T09:00:00+01:00", Kind::Escalation, 2, "gemeente"),
            ("2027-03-30T09:00:00+02:00", Kind::Escalation, 3, "gemeente"),
            ("2027-04-06T09:00:00+02:00", Kind::Escalation, 4, "gemeente"),
        ]
        .map(|(at, kind, level, to)| (at.to_string(), kind, level, to.to_string()));
        assert_eq!(sent, expected);
    }

    /// `max_level: 3` on the repeating step: levels 1, 2, 3, and the repeat at level 3 is the
    /// last; its message says so. The chain keeps the ids it had without the cap.
    #[test]
    fn a_capped_escalation_stops_at_its_highest_level_and_says_so() {
        let capped = WORKFLOW.replace("repeat: every week }", "repeat: every week, max_level: 3 }");
        let sent = sent_with(&capped, "2027-06-01T00:00:00+02:00");
        let escalations: Vec<(String, u32)> = sent
            .iter()
            .filter(|n| n.1 == Kind::Escalation)
            .map(|n| (n.0.clone(), n.2))
            .collect();
        assert_eq!(
            escalations,
            [
                ("2027-03-16T09:00:00+01:00", 1),
                ("2027-03-23T09:00:00+01:00", 2),
                ("2027-03-30T09:00:00+02:00", 3),
            ]
            .map(|(at, level)| (at.to_string(), level))
        );
        let uncapped = sent_with(WORKFLOW, "2027-04-21T00:00:00+02:00");
        assert_eq!(uncapped[..5], sent[..5]);
        let messages = messages_with(&capped, "2027-06-01T00:00:00+02:00");
        let last = crate::engine::notification::last_escalation(1);
        assert!(messages[4].ends_with(last), "{}", messages[4]);
        assert!(messages[..4].iter().all(|m| !m.contains(last)));
    }

    /// A chain without repeats ends with its last step, which says so.
    #[test]
    fn the_last_step_of_a_chain_without_repeats_says_it_is_the_last() {
        let once = WORKFLOW.replace(", repeat: every week }", " }");
        let messages = messages_with(&once, "2027-06-01T00:00:00+02:00");
        assert_eq!(messages.len(), 4);
        let last = crate::engine::notification::last_escalation(1);
        assert!(!messages[2].contains(last), "{}", messages[2]);
        assert!(messages[3].ends_with(last), "{}", messages[3]);
    }

    /// A daemon that was down while the last repeat fell due sends that one when it catches
    /// up, months later, and nothing after it.
    #[test]
    fn a_catch_up_long_after_the_cap_sends_the_last_repeat_once() {
        let capped = WORKFLOW.replace("repeat: every week }", "repeat: every week, max_level: 3 }");
        let engine = crate::engine::test_engine(&capped);
        let (mut case, _) = filed(&engine);
        let late = parse_timestamp("2027-09-01T10:00:00+02:00").unwrap();
        let sent = case.tick(&engine, late);
        let escalations: Vec<u32> = sent
            .iter()
            .filter(|n| n.kind == Kind::Escalation)
            .map(|n| n.level)
            .collect();
        assert_eq!(escalations, [1, 3]);
        assert!(
            sent.last()
                .unwrap()
                .message
                .ends_with(crate::engine::notification::last_escalation(1))
        );
        assert_eq!(case.next_wakeup(), None);
    }

    /// A complaint filed on Monday 1 March 2027, and what its filing sent.
    fn filed(engine: &crate::engine::Engine) -> (Case, Vec<crate::engine::Notification>) {
        let filed = crate::event::validate(serde_json::json!({
            "id": "e-1", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-1",
            "at": "2027-03-01T10:00:00+01:00", "data": {"klacht_id": "K-1"}
        }))
        .unwrap();
        let mut case = Case::new("GM0150", "C-1");
        let at = filed.at;
        let sent = case.apply(engine, filed, at);
        (case, sent)
    }

    /// Everything sent from filing to `until`, ticking at each wakeup as the daemon would.
    fn notifications_with(workflow: &str, until: &str) -> Vec<crate::engine::Notification> {
        let engine = crate::engine::test_engine(workflow);
        let (mut case, mut sent) = filed(&engine);
        let until = parse_timestamp(until).unwrap();
        while let Some(next) = case.next_wakeup().filter(|n| *n <= until) {
            sent.extend(case.tick(&engine, next));
        }
        sent
    }

    fn messages_with(workflow: &str, until: &str) -> Vec<String> {
        notifications_with(workflow, until)
            .into_iter()
            .map(|n| n.message)
            .collect()
    }
}
