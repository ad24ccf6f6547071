//! Scheduled overviews in the daemon: when each (overview, gemeente) runs next, and a run: the
//! deadlines its selection picks from the store (or, for a scheduled report, the figures of
//! the last full period), as one notification, recorded in the same
//! transaction as the moment it ran, so it goes out once, a crash included. A run missed while
//! the daemon was down goes out after the restart, once: the latest missed run only, as with
//! repeated escalations.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::Scheduler;
use crate::scope::Scope;
use crate::store::{Filter, Store, StoreError};
use waakvlam_core::calendar::local_day;
use waakvlam_core::overview::{Overview, OverviewItem};

/// How far ahead the next run of an overview is looked for.
const LOOK_AHEAD_DAYS: i64 = 400;

/// The overviews and, per overview and gemeente, when each last ran and runs next.
#[derive(Default)]
pub struct OverviewClock {
    overviews: Vec<Overview>,
    /// (overview index, gemeente) -> (last run done, next run).
    state: BTreeMap<(usize, String), (Timestamp, Option<Timestamp>)>,
}

impl OverviewClock {
    pub fn new(overviews: Vec<Overview>) -> OverviewClock {
        OverviewClock {
            overviews,
            state: BTreeMap::new(),
        }
    }

    /// The earliest next run of any overview.
    pub fn next(&self) -> Option<Timestamp> {
        self.state.values().filter_map(|(_, next)| *next).min()
    }
}

impl<S: Store> Scheduler<S> {
    /// Reads when each overview last ran (or starts from `now`: an overview new to this store
    /// does not send its past) and works out its next run.
    pub(super) fn plan_overviews(&mut self, now: Timestamp) -> Result<(), StoreError> {
        let mut state = BTreeMap::new();
        for (index, overview) in self.overviews.overviews.iter().enumerate() {
            for gemeente in &overview.gemeenten {
                let done = self
                    .store
                    .overview_done(&overview.name, gemeente)?
                    .unwrap_or(now);
                let next = self.next_run(overview, gemeente, done);
                state.insert((index, gemeente.clone()), (done, next));
            }
        }
        self.overviews.state = state;
        Ok(())
    }

    fn next_run(&self, overview: &Overview, gemeente: &str, after: Timestamp) -> Option<Timestamp> {
        let until = after
            .checked_add(jiff::SignedDuration::from_hours(24 * LOOK_AHEAD_DAYS))
            .ok()?;
        overview
            .runs(self.engine.calendar_for(gemeente), after, until)
            .first()
            .copied()
    }

    /// Runs every overview that is due by `now`.
    pub(super) fn fire_overviews(&mut self, now: Timestamp) {
        let due: Vec<(usize, String, Timestamp)> = self
            .overviews
            .state
            .iter()
            .filter(|(_, (_, next))| next.is_some_and(|n| n <= now))
            .map(|((index, gemeente), (done, _))| (*index, gemeente.clone(), *done))
            .collect();
        for (index, gemeente, done) in due {
            let overview = self.overviews.overviews[index].clone();
            // Of several runs missed while the daemon was down, the latest.
            let Some(run) = overview
                .runs(self.engine.calendar_for(&gemeente), done, now)
                .last()
                .copied()
            else {
                continue;
            };
            let result = self.in_batch(|core, batch| {
                let today = local_day(run);
                if let Some(period) = overview.report_period(run) {
                    let (rows, escalations) =
                        core.store.report(&Scope::one(&gemeente), period, None)?;
                    let report = waakvlam_core::report::compute(
                        period.0,
                        period.1,
                        &rows,
                        &escalations,
                        today,
                    );
                    if let Some(notification) =
                        overview.report_notification(&core.engine, &gemeente, run, report)
                    {
                        batch.lines.extend(core.record(&[notification], now)?);
                    }
                    return core.store.set_overview_done(&overview.name, &gemeente, run);
                }
                let filter = Filter {
                    workflow: overview.select.workflow.clone(),
                    today: Some(today),
                    ..Filter::within(Scope::one(&gemeente), 100_000)
                };
                let items: Vec<OverviewItem> = core
                    .store
                    .deadlines(&filter)?
                    .iter()
                    .filter(|d| overview.selects(d, today))
                    .map(|d| OverviewItem::of(&core.engine, d, today))
                    .collect();
                if let Some(notification) = overview.notification(&gemeente, run, items) {
                    batch.lines.extend(core.record(&[notification], now)?);
                }
                core.store.set_overview_done(&overview.name, &gemeente, run)
            });
            match result {
                Ok(((), lines)) => {
                    self.write_log(lines, now);
                    let next = self.next_run(&overview, &gemeente, run);
                    self.overviews
                        .state
                        .insert((index, gemeente.clone()), (run, next));
                    tracing::info!(overview = %overview.name, gemeente = %gemeente, "overview sent");
                }
                Err(err) => {
                    tracing::error!(cause = %err, overview = %overview.name, "running an overview failed; it runs again");
                }
            }
        }
    }
}
