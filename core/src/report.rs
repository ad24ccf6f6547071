//! Verantwoording (DESIGN.md, "Verantwoording"): how the terms were kept over a period, per
//! gemeente, workflow and deadline, with totals per gemeente and for the whole scope. Pure:
//! the rows come from the daemon's store or from `simulate`'s cases, `today` from their clock.
//!
//! A deadline counts in the period of its due date. Met on time is met on or before the due
//! date (the day it was met, Europe/Amsterdam); not met is a due date passed without it.

use std::collections::BTreeMap;

use crate::calendar::Day;
use crate::engine::{DeadlineState, DeadlineView};
use serde::{Deserialize, Serialize};

/// One stored deadline occurrence, as a report reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportInput {
    pub gemeente: String,
    pub workflow: String,
    pub deadline: String,
    pub status: DeadlineState,
    pub due: Day,
    pub met_at: Option<Day>,
    pub started: Option<Day>,
}

impl ReportInput {
    /// A deadline as a report counts it; `None` without a due date (it is due in no period).
    pub fn of(view: &DeadlineView) -> Option<ReportInput> {
        Some(ReportInput {
            gemeente: view.gemeente.clone(),
            workflow: view.workflow.clone(),
            deadline: view.deadline.clone(),
            status: view.status,
            due: view.due?,
            met_at: view.met_at,
            started: view.started,
        })
    }
}

/// The period a scheduled report covers (`report:` of an overview): the last full one before
/// the day it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Quarter,
    HalfYear,
    Year,
}

impl Period {
    pub const NAMES: &[&str] = &["quarter", "half_year", "year"];

    pub fn named(name: &str) -> Option<Period> {
        match name {
            "quarter" => Some(Period::Quarter),
            "half_year" => Some(Period::HalfYear),
            "year" => Some(Period::Year),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Quarter => "quarter",
            Period::HalfYear => "half_year",
            Period::Year => "year",
        }
    }

    /// The last full period that ends before `today`: on 1 July 2027 the second quarter, the
    /// first half of 2027, or the year 2026; on 15 May 2027 the first quarter, the second half
    /// of 2026, or 2026.
    pub fn previous(self, today: Day) -> (Day, Day) {
        let months = match self {
            Period::Quarter => 3,
            Period::HalfYear => 6,
            Period::Year => 12,
        };
        let (year, month, _) = today.ymd();
        // The first month of the period `today` lies in; the one before it ends the day before.
        let current = (month - 1) / months * months + 1;
        let start = Day::from_ymd(year, current, 1).expect("the first of a month exists");
        let to = start.add_days(-1);
        let from = start.add_months(-(months as i32));
        (from, to)
    }
}

/// Escalations sent for occurrences due in the period: per gemeente, workflow, deadline and
/// level, how many.
pub type Escalations = BTreeMap<(String, String, String), BTreeMap<u32, u64>>;

/// The counts of one group of occurrences (a deadline, or the totals of a gemeente or scope).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub due: u64,
    pub met_on_time: u64,
    pub met_late: u64,
    pub not_met: u64,
    pub open: u64,
    /// Cancelled or ended: not in `due`.
    pub cancelled: u64,
    /// `met_on_time / (met_on_time + met_late + not_met)`; `null` when that is 0.
    pub on_time_rate: Option<f64>,
    /// Days from the instance's start to the day it was met.
    pub lead_time_days: Option<Spread<f64>>,
    /// Days past the due date: when it was met late, or until today when it is not met.
    pub days_late: Option<Late>,
    /// Escalations sent, per level.
    #[serde(deserialize_with = "levels")]
    pub escalations: BTreeMap<u32, u64>,
}

/// Levels as JSON keeps them, as text: read back through `flatten` (a row's counts), where
/// serde hands the keys over as text and will not make numbers of them itself.
fn levels<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<u32, u64>, D::Error> {
    BTreeMap::<String, u64>::deserialize(d)?
        .into_iter()
        .map(|(level, n)| {
            level
                .parse()
                .map(|level| (level, n))
                .map_err(|_| serde::de::Error::custom(format!("'{level}' is not a level")))
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread<T> {
    pub median: T,
    pub p90: T,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Late {
    pub median: f64,
    pub max: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub gemeente: String,
    pub workflow: String,
    pub deadline: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Totals of one gemeente, or (`gemeente: null`) of every gemeente of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Total {
    pub gemeente: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub from: Day,
    pub to: Day,
    pub rows: Vec<Row>,
    pub totals: Vec<Total>,
}

/// What a group has seen so far; counted into [`Counts`] at the end.
#[derive(Default)]
struct Tally {
    met_on_time: u64,
    met_late: u64,
    not_met: u64,
    open: u64,
    cancelled: u64,
    lead: Vec<i32>,
    late: Vec<i32>,
    escalations: BTreeMap<u32, u64>,
}

impl Tally {
    fn add(&mut self, row: &ReportInput, today: Day) {
        match (row.status, row.met_at) {
            (DeadlineState::Cancelled | DeadlineState::Ended, _) => self.cancelled += 1,
            (DeadlineState::Met, Some(met)) => {
                if met <= row.due {
                    self.met_on_time += 1;
                } else {
                    self.met_late += 1;
                    self.late.push(row.due.days_until(met));
                }
                if let Some(started) = row.started {
                    self.lead.push(started.days_until(met));
                }
            }
            // Met, in a row an older version stored before it kept the day: whether on time is
            // not known and not guessed; it is left out (the first start recomputes such rows).
            (DeadlineState::Met, None) => {}
            _ if row.due < today => {
                self.not_met += 1;
                self.late.push(row.due.days_until(today));
            }
            _ => self.open += 1,
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.met_on_time += other.met_on_time;
        self.met_late += other.met_late;
        self.not_met += other.not_met;
        self.open += other.open;
        self.cancelled += other.cancelled;
        self.lead.extend_from_slice(&other.lead);
        self.late.extend_from_slice(&other.late);
        for (level, n) in &other.escalations {
            *self.escalations.entry(*level).or_default() += n;
        }
    }

    fn counts(&self) -> Counts {
        let judged = self.met_on_time + self.met_late + self.not_met;
        let mut lead = self.lead.clone();
        lead.sort_unstable();
        let mut late = self.late.clone();
        late.sort_unstable();
        Counts {
            due: judged + self.open,
            met_on_time: self.met_on_time,
            met_late: self.met_late,
            not_met: self.not_met,
            open: self.open,
            cancelled: self.cancelled,
            on_time_rate: (judged > 0).then(|| self.met_on_time as f64 / judged as f64),
            lead_time_days: (!lead.is_empty()).then(|| Spread {
                median: median(&lead),
                p90: percentile(&lead, 0.9),
            }),
            days_late: (!late.is_empty()).then(|| Late {
                median: median(&late),
                max: *late.last().expect("not empty"),
            }),
            escalations: self.escalations.clone(),
        }
    }
}

/// The middle value of sorted days (the mean of the two middle ones for an even count).
fn median(sorted: &[i32]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        f64::from(sorted[n / 2])
    } else {
        (f64::from(sorted[n / 2 - 1]) + f64::from(sorted[n / 2])) / 2.0
    }
}

/// The nearest-rank percentile of sorted days.
fn percentile(sorted: &[i32], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    f64::from(sorted[rank.min(sorted.len()) - 1])
}

/// The report over `rows` (due in `from..=to`) on `today`.
pub fn compute(
    from: Day,
    to: Day,
    rows: &[ReportInput],
    escalations: &Escalations,
    today: Day,
) -> Report {
    let mut groups: BTreeMap<(String, String, String), Tally> = BTreeMap::new();
    for row in rows {
        groups
            .entry((
                row.gemeente.clone(),
                row.workflow.clone(),
                row.deadline.clone(),
            ))
            .or_default()
            .add(row, today);
    }
    for (key, levels) in escalations {
        let tally = groups.entry(key.clone()).or_default();
        for (level, n) in levels {
            *tally.escalations.entry(*level).or_default() += n;
        }
    }
    let mut per_gemeente: BTreeMap<String, Tally> = BTreeMap::new();
    let mut all = Tally::default();
    for ((gemeente, _, _), tally) in &groups {
        per_gemeente
            .entry(gemeente.clone())
            .or_default()
            .merge(tally);
        all.merge(tally);
    }
    let mut totals: Vec<Total> = per_gemeente
        .iter()
        .map(|(gemeente, tally)| Total {
            gemeente: Some(gemeente.clone()),
            counts: tally.counts(),
        })
        .collect();
    totals.push(Total {
        gemeente: None,
        counts: all.counts(),
    });
    Report {
        from,
        to,
        rows: groups
            .into_iter()
            .map(|((gemeente, workflow, deadline), tally)| Row {
                gemeente,
                workflow,
                deadline,
                counts: tally.counts(),
            })
            .collect(),
        totals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Day {
        text.parse().unwrap()
    }

    fn row(status: DeadlineState, due: &str, met_at: Option<&str>) -> ReportInput {
        ReportInput {
            gemeente: "GM0150".into(),
            workflow: "klachttermijnen".into(),
            deadline: "in_behandeling".into(),
            status,
            due: day(due),
            met_at: met_at.map(day),
            started: Some(day("2027-04-13")),
        }
    }

    /// On time, late, never, not yet due, cancelled: each in its own count, and the figures
    /// made from them.
    #[test]
    fn each_occurrence_counts_once_and_the_figures_follow() {
        use DeadlineState::*;
        let rows = [
            row(Met, "2027-04-27", Some("2027-04-20")),
            row(Met, "2027-04-27", Some("2027-04-30")),
            row(Overdue, "2027-04-27", None),
            row(Open, "2027-05-20", None),
            row(Cancelled, "2027-04-27", None),
        ];
        let escalations = Escalations::from([(
            (
                "GM0150".to_string(),
                "klachttermijnen".to_string(),
                "in_behandeling".to_string(),
            ),
            BTreeMap::from([(1, 2), (2, 1)]),
        )]);
        let report = compute(
            day("2027-04-01"),
            day("2027-06-30"),
            &rows,
            &escalations,
            day("2027-05-05"),
        );
        let counts = &report.rows[0].counts;
        assert_eq!(
            (
                counts.due,
                counts.met_on_time,
                counts.met_late,
                counts.not_met,
                counts.open,
                counts.cancelled
            ),
            (4, 1, 1, 1, 1, 1)
        );
        assert_eq!(counts.on_time_rate, Some(1.0 / 3.0));
        // Lead times 7 and 17 days; late 3 days (met) and 8 days (until 5 May).
        assert_eq!(
            counts.lead_time_days,
            Some(Spread {
                median: 12.0,
                p90: 17.0
            })
        );
        assert_eq!(
            counts.days_late,
            Some(Late {
                median: 5.5,
                max: 8
            })
        );
        assert_eq!(counts.escalations, BTreeMap::from([(1, 2), (2, 1)]));
        // A scheduled report is stored as JSON text and read back whole.
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), report);
        assert_eq!(report.totals.len(), 2);
        assert_eq!(report.totals[0].counts, *counts);
        assert_eq!(report.totals[1].gemeente, None);
    }

    #[test]
    fn a_scheduled_report_covers_the_last_full_period() {
        let on = |period: Period, today: &str| {
            let (from, to) = period.previous(day(today));
            format!("{from}..{to}")
        };
        assert_eq!(on(Period::Quarter, "2027-07-01"), "2027-04-01..2027-06-30");
        assert_eq!(on(Period::Quarter, "2027-05-15"), "2027-01-01..2027-03-31");
        assert_eq!(on(Period::Quarter, "2027-01-04"), "2026-10-01..2026-12-31");
        assert_eq!(on(Period::HalfYear, "2027-07-01"), "2027-01-01..2027-06-30");
        assert_eq!(on(Period::HalfYear, "2027-05-15"), "2026-07-01..2026-12-31");
        assert_eq!(on(Period::HalfYear, "2027-12-31"), "2027-01-01..2027-06-30");
        assert_eq!(on(Period::Year, "2027-01-04"), "2026-01-01..2026-12-31");
        assert_eq!(on(Period::Year, "2027-12-31"), "2026-01-01..2026-12-31");
        for name in Period::NAMES {
            assert_eq!(Period::named(name).map(Period::name), Some(*name));
        }
    }

    #[test]
    fn nothing_judged_has_no_rate() {
        let report = compute(
            day("2027-04-01"),
            day("2027-06-30"),
            &[row(DeadlineState::Open, "2027-05-20", None)],
            &Escalations::new(),
            day("2027-05-05"),
        );
        assert_eq!(report.rows[0].counts.on_time_rate, None);
        assert_eq!(report.rows[0].counts.days_late, None);
    }
}
