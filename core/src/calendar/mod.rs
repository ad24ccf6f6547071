//! Dates, terms, the Algemene termijnenwet and working days, in Europe/Amsterdam. No IO.
//!
//! Everything that turns a start date and a term into a deadline, and a deadline into a moment to
//! send a reminder, lives here, so that the rules of DOMAIN.md ("Time rules") are in one place.

mod day;
mod duration;
mod holidays;
mod reasons;
mod zone;

pub use day::{Day, DayParseError, Weekday, days_in_month, is_leap_year};
pub use duration::{Duration, DurationError};
pub use holidays::{AddedDay, Holiday, atw_holidays, easter_sunday};
pub use reasons::{AtwStep, FreeDay};
pub use zone::{amsterdam, format_timestamp, local_day, local_time, parse_timestamp, send_moment};

/// Where a 29 February birthday falls in a year without one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeapDayBirthdays {
    /// 1 March: the convention of the Basisregistratie Personen.
    #[default]
    FirstOfMarch,
    /// 28 February.
    LastOfFebruary,
}

/// How the end of a term is found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TermRule {
    /// A service norm (streefdatum): the plain calendar date.
    #[default]
    Plain,
    /// A term set by law: the Algemene termijnenwet applies.
    Termijnenwet,
}

/// The first and last year for which free days are precomputed; outside them they are computed
/// on demand, which is slower but still correct.
const FIRST_YEAR: i32 = 1990;
const LAST_YEAR: i32 = 2100;

/// Working days and the legal date rules.
///
/// A free day is a Saturday, a Sunday, an Atw holiday or a day added by Koninklijk Besluit, plus,
/// for a gemeente's own calendar, the days it is closed (see [`Calendar::with_closed_days`]).
#[derive(Clone, Debug)]
pub struct Calendar {
    first: Day,
    free: Vec<u64>,
    /// Added days outside the precomputed years, kept so that lookups there stay correct.
    extra_outside: Vec<Day>,
    leap_day_birthdays: LeapDayBirthdays,
    /// The days added by Koninklijk Besluit with their decisions, to name them (shared: every
    /// gemeente's calendar is a copy of the national one).
    added: std::sync::Arc<[AddedDay]>,
    /// The last year for which a published Koninklijk Besluit fixes the added days; `None`
    /// when no holiday data was given, so that no legal term counts as settled.
    covered_through: Option<i32>,
}

impl Calendar {
    /// A calendar with the Atw holidays and the days that a Koninklijk Besluit adds.
    pub fn new(added_days: &[AddedDay], leap_day_birthdays: LeapDayBirthdays) -> Calendar {
        let first = Day::from_ymd(FIRST_YEAR, 1, 1).expect("valid");
        let last = Day::from_ymd(LAST_YEAR, 12, 31).expect("valid");
        let len = (first.days_until(last) + 1) as usize;
        let mut calendar = Calendar {
            first,
            free: vec![0; len.div_ceil(64)],
            extra_outside: Vec::new(),
            added: added_days.into(),
            leap_day_birthdays,
            covered_through: None,
        };
        for n in 0..len {
            let day = first.add_days(n as i32);
            if day.is_weekend() {
                calendar.mark_free(day);
            }
        }
        for year in FIRST_YEAR..=LAST_YEAR {
            for holiday in atw_holidays(year) {
                calendar.mark_free(holiday.day);
            }
        }
        for added in added_days {
            calendar.mark_free(added.day);
        }
        calendar
    }

    /// This calendar plus the days a gemeente is closed, for reminders and escalations of that
    /// gemeente. Legal terms keep using the national calendar: a gemeente cannot move a
    /// fatale termijn by closing its office.
    pub fn with_closed_days(&self, closed: &[Day]) -> Calendar {
        let mut calendar = self.clone();
        for day in closed {
            calendar.mark_free(*day);
        }
        calendar
    }

    /// The added days are known up to and including `year` (`covered_through` of the holiday
    /// data): a legal term that ends later may still move when the next decision appears.
    pub fn covering_through(mut self, year: i32) -> Calendar {
        self.covered_through = Some(year);
        self
    }

    pub fn covered_through(&self) -> Option<i32> {
        self.covered_through
    }

    /// The first day for which the added days are not known yet.
    pub fn provisional_from(&self) -> Option<Day> {
        self.covered_through
            .and_then(|year| Day::from_ymd(year.checked_add(1)?, 1, 1))
    }

    /// Whether a term with this rule that ends on `end` may still move when a new Koninklijk
    /// Besluit adds a day: only a legal term can, and only past the years the data covers.
    /// A service norm is a plain date and never moves.
    pub fn is_provisional(&self, rule: TermRule, end: Day) -> bool {
        rule == TermRule::Termijnenwet && self.provisional_from().is_none_or(|from| end >= from)
    }

    pub fn leap_day_birthdays(&self) -> LeapDayBirthdays {
        self.leap_day_birthdays
    }

    fn mark_free(&mut self, day: Day) {
        match self.index(day) {
            Some(i) => self.free[i / 64] |= 1 << (i % 64),
            None => self.extra_outside.push(day),
        }
    }

    fn index(&self, day: Day) -> Option<usize> {
        let i = self.first.days_until(day);
        (i >= 0 && (i as usize) < self.free.len() * 64).then_some(i as usize)
    }

    /// Saturday, Sunday, a holiday or an added or closed day.
    pub fn is_free(&self, day: Day) -> bool {
        match self.index(day) {
            Some(i) => self.free[i / 64] & (1 << (i % 64)) != 0,
            None => {
                day.is_weekend()
                    || atw_holidays(day.year()).iter().any(|h| h.day == day)
                    || self.extra_outside.contains(&day)
            }
        }
    }

    pub fn is_working_day(&self, day: Day) -> bool {
        !self.is_free(day)
    }

    /// `day` itself when it is a working day, otherwise the first working day after it.
    pub fn working_day_on_or_after(&self, day: Day) -> Day {
        let mut day = day;
        while self.is_free(day) {
            day = day.add_days(1);
        }
        day
    }

    /// `day` itself when it is a working day, otherwise the last working day before it.
    pub fn working_day_on_or_before(&self, day: Day) -> Day {
        let mut day = day;
        while self.is_free(day) {
            day = day.add_days(-1);
        }
        day
    }

    /// The last day of a term that starts on `from` and nominally ends on `nominal`.
    ///
    /// With [`TermRule::Termijnenwet`], for a term counted forward:
    /// - art. 1.1: an end on a Saturday, Sunday or holiday moves to the next day that is none;
    /// - art. 2: a term of 3 days or more is extended until it holds at least 2 days that are
    ///   not Saturday, Sunday or holiday.
    ///
    /// A term counted backward from a moment (`nominal` before `from`) is never extended
    /// (art. 1.2).
    pub fn term_end(&self, rule: TermRule, from: Day, nominal: Day) -> Day {
        if rule == TermRule::Plain || nominal < from {
            return nominal;
        }
        let mut end = self.working_day_on_or_after(nominal);
        if from.days_until(nominal) >= 3 {
            // Only whether there are two matters: stop counting there.
            let mut working = (1..=from.days_until(end))
                .filter(|&n| self.is_working_day(from.add_days(n)))
                .take(2)
                .count();
            while working < 2 {
                end = end.add_days(1);
                if self.is_working_day(end) {
                    working += 1;
                }
            }
        }
        end
    }

    /// The day someone born on `birth` turns `age`; a 29 February birthday follows
    /// [`LeapDayBirthdays`] in years without one.
    pub fn birthday(&self, birth: Day, age: i32) -> Day {
        let (year, month, day) = birth.ymd();
        let year = year + age;
        if month == 2 && day == 29 && !is_leap_year(year) {
            return match self.leap_day_birthdays {
                LeapDayBirthdays::FirstOfMarch => Day::from_ymd(year, 3, 1),
                LeapDayBirthdays::LastOfFebruary => Day::from_ymd(year, 2, 28),
            }
            .expect("1 March and 28 February exist every year");
        }
        // Day numbers stay far from the limits for any realistic age.
        Day::from_ymd(year, month, day).unwrap_or_else(|| birth.add_months(age * 12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(text: &str) -> Day {
        text.parse().unwrap()
    }

    fn calendar() -> Calendar {
        let added = AddedDay {
            day: day("2027-05-07"),
            reason: "vrijdag na Hemelvaartsdag".into(),
            source: "test".into(),
        };
        Calendar::new(&[added], LeapDayBirthdays::FirstOfMarch)
    }

    #[test]
    fn free_days() {
        let c = calendar();
        assert!(c.is_free(day("2027-04-27")), "Koningsdag");
        assert!(c.is_free(day("2027-05-07")), "added by Koninklijk Besluit");
        assert!(c.is_free(day("2027-05-08")), "Saturday");
        assert!(!c.is_free(day("2027-05-10")));
        assert!(
            c.is_free(day("2200-12-25")),
            "outside the precomputed years"
        );
        assert!(
            !c.is_free(day("2200-12-24")),
            "a Wednesday outside the precomputed years"
        );
    }

    #[test]
    fn atw_art_1_1_moves_an_end_off_a_weekend() {
        // Six weeks from Tuesday 2027-04-06 end on Tuesday 2027-05-18: no change.
        assert_eq!(
            calendar().term_end(TermRule::Termijnenwet, day("2027-04-06"), day("2027-05-18")),
            day("2027-05-18")
        );
        // Ending on Saturday 2027-05-15 moves to Monday 2027-05-17? No: that is Tweede Pinksterdag.
        assert_eq!(
            calendar().term_end(TermRule::Termijnenwet, day("2027-04-03"), day("2027-05-15")),
            day("2027-05-18")
        );
    }

    #[test]
    fn atw_art_2_keeps_two_working_days_in_a_term() {
        // 5 days from Wednesday 2027-12-22: nominal end Monday 12-27; the term holds only
        // Thursday 23 and Friday 24 and Monday 27 as working days -> already 3, no change.
        let c = calendar();
        assert_eq!(
            c.term_end(TermRule::Termijnenwet, day("2027-12-22"), day("2027-12-27")),
            day("2027-12-27")
        );
        // 3 days from Thursday 2027-12-23: nominal Sunday 12-26 -> art 1.1 gives Monday 12-27;
        // the term then holds Friday 24 and Monday 27: two working days.
        assert_eq!(
            c.term_end(TermRule::Termijnenwet, day("2027-12-23"), day("2027-12-26")),
            day("2027-12-27")
        );
        // 3 days from Friday 2027-04-23: Saturday, Sunday, Monday (Koningsdag is Tuesday 27th):
        // nominal Monday 04-26 is a working day but the term holds only one, so it runs to 04-28.
        assert_eq!(
            c.term_end(TermRule::Termijnenwet, day("2027-04-23"), day("2027-04-26")),
            day("2027-04-28")
        );
        // 2 days is shorter than 3: only art. 1.1.
        assert_eq!(
            c.term_end(TermRule::Termijnenwet, day("2027-04-23"), day("2027-04-25")),
            day("2027-04-26")
        );
    }

    #[test]
    fn service_norms_and_backward_terms_are_not_extended() {
        let c = calendar();
        assert_eq!(
            c.term_end(TermRule::Plain, day("2027-04-03"), day("2027-05-15")),
            day("2027-05-15")
        );
        assert_eq!(
            c.term_end(TermRule::Termijnenwet, day("2027-05-15"), day("2027-04-03")),
            day("2027-04-03")
        );
    }

    #[test]
    fn leap_day_birthdays() {
        let birth = day("2012-02-29");
        let bw = calendar();
        assert_eq!(bw.birthday(birth, 16), day("2028-02-29"));
        assert_eq!(bw.birthday(birth, 18), day("2030-03-01"));
        let other = Calendar::new(&[], LeapDayBirthdays::LastOfFebruary);
        assert_eq!(other.birthday(birth, 18), day("2030-02-28"));
        assert_eq!(other.birthday(day("2011-07-31"), 17), day("2028-07-31"));
    }

    #[test]
    fn closed_days_are_free_for_that_gemeente_only() {
        let national = calendar();
        let gemeente = national.with_closed_days(&[day("2027-12-27")]);
        assert!(gemeente.is_free(day("2027-12-27")));
        assert!(!national.is_free(day("2027-12-27")));
    }

    proptest! {
        #[test]
        fn an_atw_end_is_never_free_and_never_early(start in 7300i32..47000, length in 0i32..400) {
            let c = calendar();
            let from = Day::from_number(start);
            let nominal = from.add_days(length);
            let end = c.term_end(TermRule::Termijnenwet, from, nominal);
            prop_assert!(end >= nominal);
            prop_assert!(c.is_working_day(end));
            if length >= 3 {
                let working = (1..=from.days_until(end)).filter(|&n| c.is_working_day(from.add_days(n))).count();
                prop_assert!(working >= 2);
            }
        }

        #[test]
        fn working_day_searches_land_on_working_days(start in 7300i32..47000) {
            let c = calendar();
            let d = Day::from_number(start);
            let before = c.working_day_on_or_before(d);
            let after = c.working_day_on_or_after(d);
            prop_assert!(c.is_working_day(before) && before <= d);
            prop_assert!(c.is_working_day(after) && after >= d);
            prop_assert!((before.number()..after.number()).skip(1).all(|n| c.is_free(Day::from_number(n))));
        }
    }
}
