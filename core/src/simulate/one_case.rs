//! One case simulated alone, from its first event to the end: its events and the moments it
//! asks to be woken at, in time order, and its part of each scheduled overview at the run's
//! moment (after the events and timers of that moment). Cases are independent, so this is
//! what a simulation of all of them in time order gives for this one.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{Part, Run};
use crate::calendar::{Day, local_day};
use crate::engine::{Case, Engine, Kind, Notification};
use crate::event::Event;
use crate::overview::{Overview, OverviewItem};
use crate::report::{Escalations, ReportInput};

/// What a case needs from the run it is part of.
pub(super) struct Context<'a> {
    pub engine: &'a Engine,
    pub overviews: &'a [Overview],
    /// Every run of every overview, in order; this case takes part in those of its gemeente.
    pub runs: &'a [Run],
    pub until: Timestamp,
    /// Whether any overview is a report: then the case counts its escalations by due date.
    pub reports: bool,
}

/// Simulates one case: `emit` gets each notification with its place in the case (0, 1, ...),
/// and each run of an overview of the case's gemeente gets the case's part in `parts` (indexed
/// like the runs).
pub(super) fn simulate(
    context: &Context<'_>,
    mut events: Vec<Event>,
    history: bool,
    parts: &mut [Option<Part>],
    emit: &mut impl FnMut(&Notification, u32),
) {
    // Stable: events at one moment keep their order in the file.
    events.sort_by_key(|e| e.at);
    let Some(first) = events.first() else {
        return;
    };
    let (gemeente, first_at) = (first.gemeente.clone(), first.at);
    let mut case = if history {
        Case::new(&first.gemeente, &first.case)
    } else {
        Case::in_order(&first.gemeente, &first.case)
    };
    // (workflow, deadline, due, level) -> escalations sent, for reports.
    let mut escalated: BTreeMap<(String, String, Day, u32), u64> = BTreeMap::new();
    // The case exists from its first event: it takes part in runs from that moment on.
    let mut runs = context
        .runs
        .iter()
        .enumerate()
        .filter(|(_, run)| run.gemeente == gemeente && run.at >= first_at)
        .peekable();
    let mut pending = events.into_iter().peekable();
    let mut wakeup: Option<Timestamp> = None;
    let mut seq = 0u32;
    loop {
        let next_event = pending.peek().map(|e| e.at);
        // A run goes after the events and timers of its moment.
        if let Some((index, run)) = runs.peek()
            && next_event.is_none_or(|at| run.at < at)
            && wakeup.is_none_or(|t| run.at < t)
        {
            take_part(context, &case, run, &escalated, &mut parts[*index]);
            runs.next();
            continue;
        }
        // An event at the same moment as a timer goes first, so work done at 09:00
        // suppresses the 09:00 reminder.
        let notifications = match (next_event, wakeup) {
            (Some(at), timer) if timer.is_none_or(|t| at <= t) => {
                let event = pending.next().expect("peeked");
                case.apply(context.engine, event, at)
            }
            (_, Some(moment)) => case.tick(context.engine, moment),
            _ => break,
        };
        for notification in &notifications {
            emit(notification, seq);
            seq += 1;
            if context.reports
                && notification.kind == Kind::Escalation
                && let Some(due) = notification.due
            {
                *escalated
                    .entry((
                        notification.workflow.clone(),
                        notification.deadline.clone(),
                        due,
                        notification.level,
                    ))
                    .or_default() += 1;
            }
        }
        wakeup = case.next_wakeup().filter(|m| *m < context.until);
    }
}

/// The case's part of one run: the deadlines the overview selects, or for a report what it
/// counts of the period (the occurrences due in it and the escalations sent for them).
fn take_part(
    context: &Context<'_>,
    case: &Case,
    run: &Run,
    escalated: &BTreeMap<(String, String, Day, u32), u64>,
    part: &mut Option<Part>,
) {
    let overview = &context.overviews[run.overview];
    let today = local_day(run.at);
    let deadlines = case.deadlines(context.engine, run.at);
    let mine = match overview.report_period(run.at) {
        Some((from, to)) => {
            let rows = deadlines
                .iter()
                .filter_map(ReportInput::of)
                .filter(|r| (from..=to).contains(&r.due))
                .collect();
            let mut sent = Escalations::new();
            for ((workflow, deadline, due, level), n) in escalated {
                if (from..=to).contains(due) {
                    *sent
                        .entry((run.gemeente.clone(), workflow.clone(), deadline.clone()))
                        .or_default()
                        .entry(*level)
                        .or_default() += n;
                }
            }
            Part::Report(rows, sent)
        }
        None => Part::Items(
            deadlines
                .iter()
                .filter(|d| overview.selects(d, today))
                .map(|d| OverviewItem::of(context.engine, d, today))
                .collect(),
        ),
    };
    match part {
        Some(part) => part.join(mine),
        None => *part = Some(mine),
    }
}
