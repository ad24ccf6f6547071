//! How an event or a passing day moves one instance on: deadlines met, suspended, extended or
//! cancelled, recurring occurrences rolled over, and an instance complete once all is settled.

use super::*;

#[allow(clippy::too_many_arguments)] // the event, the instance and where they belong
pub(super) fn apply_to_instance(
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
pub(super) fn complete_when_settled(workflow: &Workflow, instance: &mut Instance, day: Day) {
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
pub(super) fn meet_occurrence(
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
pub(super) fn roll_recurring(
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
