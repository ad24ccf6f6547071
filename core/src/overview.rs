//! Scheduled overviews (DESIGN.md, "Scheduled overviews (cron)"): on a five-field Unix cron
//! schedule in Europe/Amsterdam, a list of the deadlines a selection picks, as one
//! notification of kind `overview` per gemeente and moment.
//!
//! The schedule names wall-clock times; `croner` finds them, on a wall clock of its own that
//! knows no daylight saving (`Wall`), and this module turns each into a moment: a time in the
//! spring gap runs at the first valid moment after it, a time that happens twice in autumn
//! runs once, at the first. A run on a day that is not a working day for the gemeente moves
//! to the next working day at the same time (or is skipped, or goes anyway), and an overview
//! runs at most once a day. Pure: no clock, no IO.

use std::cmp::Ordering;

use jiff::Timestamp;
use jiff::civil;
use sha2::{Digest, Sha256};

use crate::calendar::{self, Calendar, Day, Duration};
pub use crate::engine::OverviewItem;
use crate::engine::notification::dutch_date;
use crate::engine::{DeadlineState, DeadlineView, Engine, Kind, Notification};
use crate::report::{Counts, Report};

/// One configured overview (`overviews:` in the configuration).
#[derive(Clone, Debug)]
pub struct Overview {
    pub name: String,
    pub schedule: Schedule,
    pub gemeenten: Vec<String>,
    pub to: Vec<String>,
    pub select: Select,
    /// Instead of a selection: the report of the last full period (`report:`).
    pub report: Option<crate::report::Period>,
    pub send_empty: bool,
    pub on_free_days: FreeDays,
}

/// Which deadlines an overview lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Select {
    pub workflow: Option<String>,
    /// A status as `GET /v1/deadlines` names it; `open` and `overdue` by the due date.
    pub status: Option<DeadlineState>,
    /// Only deadlines due from today up to this far ahead.
    pub due_within: Option<Duration>,
}

/// What a run that falls on a day off does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FreeDays {
    /// The next working day at the same time, once even if another run falls on that day.
    #[default]
    NextWorkingDay,
    Skip,
    Send,
}

/// A five-field Unix cron expression (minute, hour, day of month, month, day of week with
/// 0 or 7 = Sunday).
#[derive(Clone, Debug)]
pub struct Schedule {
    text: String,
    cron: croner::Cron,
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "'{text}' has {fields} fields; a schedule has five: minute, hour, day of the month, month, day of the week"
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(text)
            .map_err(|err| format!("'{text}' is not a cron expression: {err}"))?;
        Ok(Schedule {
            text: text.to_string(),
            cron,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first wall-clock time it names after `after`.
    fn next_after(&self, after: civil::DateTime) -> Option<civil::DateTime> {
        self.cron
            .find_next_occurrence(&Wall(after), false)
            .ok()
            .map(|wall| wall.0)
    }
}

/// An Amsterdam wall-clock time without a zone, for croner to search on: every wall-clock time
/// exists once here; what that means for moments is decided by [`wall_moment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wall(civil::DateTime);

impl croner::CronDateTime for Wall {
    fn to_civil(&self) -> croner::CivilDateTime {
        let d = self.0;
        croner::CivilDateTime::new(
            croner::CivilDate::from_parts_unchecked(
                i32::from(d.year()),
                d.month() as u32,
                d.day() as u32,
            ),
            croner::CivilTime::from_parts_unchecked(
                d.hour() as u32,
                d.minute() as u32,
                d.second() as u32,
            ),
        )
    }

    fn civil_weekday(&self) -> croner::Weekday {
        croner::Weekday::from_days_from_sunday(u32::from(
            self.0.weekday().to_sunday_zero_offset() as u8
        ))
    }

    fn resolve_civil(
        &self,
        civil: croner::CivilDateTime,
    ) -> Result<croner::Resolution<Wall>, croner::errors::CronError> {
        civil::DateTime::new(
            i16::try_from(civil.year()).map_err(|_| croner::errors::CronError::InvalidDate)?,
            civil.month() as i8,
            civil.day() as i8,
            civil.hour() as i8,
            civil.minute() as i8,
            civil.second() as i8,
            0,
        )
        .map(|d| croner::Resolution::Single(Wall(d)))
        .map_err(|_| croner::errors::CronError::InvalidDate)
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Wall> {
        self.0
            .checked_add(jiff::SignedDuration::from_secs(seconds))
            .ok()
            .map(Wall)
    }

    fn cmp_instant(&self, other: &Wall) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// The moment an Amsterdam wall-clock time happens: a time in the spring gap (02:30 on the
/// last Sunday of March) at the first valid moment after it (03:00); a time that happens
/// twice (02:30 on the last Sunday of October) at the first of the two.
pub fn wall_moment(wall: civil::DateTime) -> Timestamp {
    let zone = calendar::amsterdam();
    let ambiguous = zone.to_ambiguous_timestamp(wall);
    match ambiguous.offset() {
        jiff::tz::AmbiguousOffset::Unambiguous { .. } | jiff::tz::AmbiguousOffset::Fold { .. } => {
            // Compatible: the earlier of a fold.
            ambiguous
                .compatible()
                .expect("a moment of the years a schedule runs in")
        }
        jiff::tz::AmbiguousOffset::Gap { before, .. } => {
            // Read with the offset before the gap, the time lies after the change; the change
            // itself is the first valid moment after it.
            let late = jiff::tz::TimeZone::fixed(before)
                .to_ambiguous_timestamp(wall)
                .compatible()
                .expect("a moment of the years a schedule runs in");
            zone.preceding(late)
                .next()
                .map_or(late, |transition| transition.timestamp())
        }
    }
}

impl Overview {
    /// The moments it runs for a gemeente after `after` and up to `until` (both exclusive of
    /// `after`, inclusive of `until`), by the gemeente's calendar (`Engine::calendar_for`).
    pub fn runs(&self, calendar: &Calendar, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        if until <= after {
            return Vec::new();
        }
        // A run scheduled on a day off before `after` may move to a working day after it:
        // start looking three weeks back (longer than any run of days off).
        let start = wall_of(after)
            .checked_sub(jiff::SignedDuration::from_hours(21 * 24))
            .unwrap_or(wall_of(after));
        let end = wall_of(until);
        let mut runs: Vec<Timestamp> = Vec::new();
        let mut last_day: Option<Day> = None;
        let mut cursor = start;
        while let Some(next) = self.schedule.next_after(cursor) {
            if next > end {
                break;
            }
            cursor = next;
            let day = Day::from_jiff(next.date());
            let run_day = match (calendar.is_working_day(day), self.on_free_days) {
                (true, _) | (false, FreeDays::Send) => day,
                (false, FreeDays::Skip) => continue,
                (false, FreeDays::NextWorkingDay) => calendar.working_day_on_or_after(day),
            };
            // At most once a day: a run moved onto a day that has one goes with it.
            if last_day == Some(run_day) {
                continue;
            }
            let moment = wall_moment(run_day.to_jiff().to_datetime(next.time()));
            if moment > after && moment <= until {
                last_day = Some(run_day);
                runs.push(moment);
            }
        }
        runs.sort();
        runs.dedup_by_key(|m| calendar::local_day(*m));
        runs
    }

    /// Whether a deadline is one this overview lists, on `today`.
    pub fn selects(&self, deadline: &DeadlineView, today: Day) -> bool {
        if self
            .select
            .workflow
            .as_ref()
            .is_some_and(|w| *w != deadline.workflow)
        {
            return false;
        }
        let due = deadline.due;
        let status = deadline.status_on(today);
        if self.select.status.is_some_and(|wanted| wanted != status) {
            return false;
        }
        match self.select.due_within {
            Some(within) => due.is_some_and(|due| due >= today && due <= within.add_to(today)),
            None => true,
        }
    }

    /// The notification of one run for one gemeente; `None` when nothing is listed and empty
    /// overviews are not sent.
    pub fn notification(
        &self,
        gemeente: &str,
        at: Timestamp,
        mut items: Vec<OverviewItem>,
    ) -> Option<Notification> {
        // Items come titled from `OverviewItem::of`.
        if items.is_empty() && !self.send_empty {
            return None;
        }
        items.sort_by(|a, b| (&a.due, &a.case, &a.title).cmp(&(&b.due, &b.case, &b.title)));
        let mut message = match items.len() {
            0 => format!("Overzicht '{}': er staat nu niets op de lijst.", self.name),
            1 => format!("Overzicht '{}': 1 termijn.", self.name),
            n => format!("Overzicht '{}': {n} termijnen.", self.name),
        };
        for item in &items {
            let due = item
                .due
                .map_or_else(|| "geen datum".to_string(), dutch_date);
            message.push_str(&format!("\n- casus {}: {}, {due}", item.case, item.title));
        }
        let workflow = self
            .select
            .workflow
            .clone()
            .unwrap_or_else(|| "overzicht".into());
        Some(Notification {
            items,
            ..self.run_notification(Kind::Overview, workflow, gemeente, at, message)
        })
    }

    /// The record of one run for one gemeente: kind `overview` or `report`, its id made of the
    /// kind, the name, the gemeente and the moment (the same run gives the same id, in the
    /// daemon and in `simulate`), to the overview's roles, with nothing listed yet.
    fn run_notification(
        &self,
        kind: Kind,
        workflow: String,
        gemeente: &str,
        at: Timestamp,
        message: String,
    ) -> Notification {
        let moment = calendar::format_timestamp(at);
        let id: String = Sha256::digest(format!(
            "{}\0{}\0{gemeente}\0{moment}",
            kind.as_str(),
            self.name
        ))[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Notification {
            id,
            at,
            kind,
            workflow,
            instance: format!("{}/{}/{gemeente}", kind.as_str(), self.name),
            gemeente: gemeente.to_string(),
            case: String::new(),
            deadline: self.name.clone(),
            due: None,
            to: self.to.clone(),
            level: 0,
            message,
            items: Vec::new(),
            report: None,
        }
    }
}

impl Overview {
    /// The period a report run at `at` covers: the last full one before its day.
    pub fn report_period(&self, at: Timestamp) -> Option<(Day, Day)> {
        Some(self.report?.previous(calendar::local_day(at)))
    }

    /// The notification of one run of a scheduled report for one gemeente, with its figures
    /// and a message that says them in Dutch; `None` when nothing was due in the period and
    /// empty reports are not sent.
    pub fn report_notification(
        &self,
        engine: &Engine,
        gemeente: &str,
        at: Timestamp,
        report: Report,
    ) -> Option<Notification> {
        let total = report
            .totals
            .iter()
            .find(|t| t.gemeente.is_none())
            .map(|t| &t.counts);
        let nothing_due = total.is_none_or(|c| c.due == 0);
        if nothing_due && !self.send_empty {
            return None;
        }
        let name = engine
            .settings
            .gemeenten
            .get(gemeente)
            .map_or(gemeente, String::as_str);
        let period = format!(
            "{} tot en met {}",
            dutch_date(report.from),
            dutch_date(report.to)
        );
        let mut message = match total {
            Some(c) if c.due > 0 => format!(
                "Rapportage '{}' voor {name} over {period}: {}.",
                self.name,
                figures(c)
            ),
            _ => format!(
                "Rapportage '{}' voor {name} over {period}: in deze periode viel geen termijn.",
                self.name
            ),
        };
        for row in &report.rows {
            let workflow = engine.workflows.iter().find(|w| w.name == row.workflow);
            let title = workflow
                .and_then(|w| w.deadlines.iter().find(|d| d.id == row.deadline))
                .map_or(row.deadline.as_str(), |d| d.title.as_str());
            let workflow = workflow.map_or(row.workflow.as_str(), |w| w.title.as_str());
            message.push_str(&format!(
                "\n- {workflow}, {title}: {}",
                figures(&row.counts)
            ));
        }
        Some(Notification {
            report: Some(Box::new(report)),
            ..self.run_notification(Kind::Report, "rapportage".into(), gemeente, at, message)
        })
    }
}

/// `12 termijnen: 9 op tijd, 1 te laat gehaald, 1 niet gehaald, 1 nog open; 81,8% op tijd,
/// 3 escalaties`.
fn figures(c: &Counts) -> String {
    let mut text = format!(
        "{} {}: {} op tijd, {} te laat gehaald, {} niet gehaald, {} nog open",
        c.due,
        if c.due == 1 { "termijn" } else { "termijnen" },
        c.met_on_time,
        c.met_late,
        c.not_met,
        c.open
    );
    if let Some(rate) = c.on_time_rate {
        text.push_str(&format!("; {} op tijd", percent(rate)));
    }
    let escalations: u64 = c.escalations.values().sum();
    if escalations > 0 {
        text.push_str(&format!(
            ", {escalations} {}",
            if escalations == 1 {
                "escalatie"
            } else {
                "escalaties"
            }
        ));
    }
    text
}

/// `81,8%`: one decimal, with a decimal comma.
fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0).replace('.', ",")
}

impl OverviewItem {
    /// The item of a deadline, titled as its workflow says.
    pub fn of(engine: &Engine, deadline: &DeadlineView, today: Day) -> OverviewItem {
        let title = engine
            .workflows
            .iter()
            .find(|w| w.name == deadline.workflow)
            .and_then(|w| w.deadlines.iter().find(|d| d.id == deadline.deadline))
            .map_or_else(|| deadline.deadline.clone(), |d| d.title.clone());
        let status = deadline.status_on(today);
        OverviewItem {
            case: deadline.case.clone(),
            workflow: deadline.workflow.clone(),
            deadline: deadline.deadline.clone(),
            title,
            due: deadline.due,
            status,
        }
    }
}

fn wall_of(moment: Timestamp) -> civil::DateTime {
    moment.to_zoned_datetime(calendar::amsterdam()).datetime()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{LeapDayBirthdays, parse_timestamp};

    fn overview(schedule: &str, on_free_days: FreeDays) -> Overview {
        Overview {
            name: "te-laat".into(),
            schedule: Schedule::parse(schedule).unwrap(),
            gemeenten: vec!["GM0150".into()],
            to: vec!["teamleider".into()],
            select: Select::default(),
            report: None,
            send_empty: true,
            on_free_days,
        }
    }

    fn runs(o: &Overview, after: &str, until: &str) -> Vec<String> {
        let calendar = Calendar::new(&[], LeapDayBirthdays::FirstOfMarch);
        o.runs(
            &calendar,
            parse_timestamp(after).unwrap(),
            parse_timestamp(until).unwrap(),
        )
        .into_iter()
        .map(calendar::format_timestamp)
        .collect()
    }

    /// 29 March 2026: the clocks go from 02:00 to 03:00, so 02:30 does not exist; the run
    /// goes once, at 03:00 summer time.
    #[test]
    fn a_time_in_the_spring_gap_runs_once_at_the_first_valid_moment_after_it() {
        let daily = overview("30 2 * * *", FreeDays::Send);
        assert_eq!(
            runs(
                &daily,
                "2026-03-28T00:00:00+01:00",
                "2026-03-30T12:00:00+02:00"
            ),
            [
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00"
            ]
        );
    }

    /// 25 October 2026: the clocks go from 03:00 back to 02:00, so 02:30 happens twice; the
    /// run goes once, at the first.
    #[test]
    fn a_time_that_happens_twice_in_autumn_runs_once_at_the_first() {
        let daily = overview("30 2 * * *", FreeDays::Send);
        assert_eq!(
            runs(
                &daily,
                "2026-10-24T12:00:00+02:00",
                "2026-10-26T12:00:00+01:00"
            ),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
        );
    }

    /// Easter Monday 2027 (29 March) is an Atw holiday: the Monday 08:00 run goes out on
    /// Tuesday at 08:00, once, also when the schedule names Tuesday too.
    #[test]
    fn a_run_on_a_holiday_monday_goes_out_on_the_next_working_day_once() {
        let mondays = overview("0 8 * * 1", FreeDays::NextWorkingDay);
        assert_eq!(
            runs(
                &mondays,
                "2027-03-26T00:00:00+01:00",
                "2027-04-06T00:00:00+02:00"
            ),
            ["2027-03-30T08:00:00+02:00", "2027-04-05T08:00:00+02:00"]
        );
        let both = overview("0 8 * * 1,2", FreeDays::NextWorkingDay);
        assert_eq!(
            runs(
                &both,
                "2027-03-26T00:00:00+01:00",
                "2027-03-31T00:00:00+02:00"
            ),
            ["2027-03-30T08:00:00+02:00"]
        );
        let skipped = overview("0 8 * * 1", FreeDays::Skip);
        assert_eq!(
            runs(
                &skipped,
                "2027-03-26T00:00:00+01:00",
                "2027-04-01T00:00:00+02:00"
            ),
            Vec::<String>::new()
        );
        // Sunday is day 0 and day 7, as in Unix cron (not 1, as in Quartz).
        let sundays = overview("0 8 * * 0", FreeDays::Send);
        assert_eq!(
            runs(
                &sundays,
                "2027-03-26T00:00:00+01:00",
                "2027-03-29T00:00:00+02:00"
            ),
            ["2027-03-28T08:00:00+02:00"]
        );
    }

    #[test]
    fn an_empty_overview_is_sent_only_when_asked() {
        let at = parse_timestamp("2027-03-30T08:00:00+02:00").unwrap();
        let quiet = Overview {
            send_empty: false,
            ..overview("0 8 * * 1", FreeDays::NextWorkingDay)
        };
        assert!(quiet.notification("GM0150", at, Vec::new()).is_none());
        let loud = overview("0 8 * * 1", FreeDays::NextWorkingDay);
        let sent = loud.notification("GM0150", at, Vec::new()).unwrap();
        assert_eq!(sent.kind, Kind::Overview);
        assert_eq!(
            sent.message,
            "Overzicht 'te-laat': er staat nu niets op de lijst."
        );
        // The same overview, gemeente and moment: the same id.
        assert_eq!(
            loud.notification("GM0150", at, Vec::new()).unwrap().id,
            sent.id
        );
    }

    #[test]
    fn a_schedule_has_five_fields() {
        assert_eq!(
            Schedule::parse("0 0 8 * * 1").unwrap_err(),
            "'0 0 8 * * 1' has 6 fields; a schedule has five: minute, hour, day of the month, month, day of the week"
        );
        assert!(Schedule::parse("0 25 * * *").is_err());
    }
}
