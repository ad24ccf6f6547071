//! Why a day is free and how the Algemene termijnenwet moved the end of a term: the same rules
//! as [`Calendar::term_end`], told step by step so that an explanation can name the holiday or
//! the Koninklijk Besluit. Kept apart from `term_end`, which runs for every deadline of every
//! case and must not allocate; a test holds the two to the same answer.

use super::holidays::atw_holidays;
use super::{AddedDay, Calendar, Day, TermRule};

/// Why a day is not a working day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreeDay<'a> {
    Weekend,
    /// A recognised holiday of Atw art. 3, by its name.
    Holiday(&'static str),
    /// A day a Koninklijk Besluit made equal to a holiday (art. 3 lid 3).
    Added(&'a AddedDay),
    /// A day the gemeente is closed (its own calendar only; legal terms never see these).
    Closed,
}

/// One rule of the Atw that moved a term's end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AtwStep<'a> {
    /// Art. 1 lid 1: the end fell on these free days (the first is the nominal end), so the
    /// term runs to the next day that is none.
    OffFreeDays {
        free: Vec<(Day, FreeDay<'a>)>,
        to: Day,
    },
    /// Art. 2: the term held fewer than two days that are no Saturday, Sunday or holiday, so
    /// it runs until it does.
    TwoWorkingDays { to: Day },
}

impl Calendar {
    /// Why `day` is free, or `None` on a working day.
    pub fn why_free(&self, day: Day) -> Option<FreeDay<'_>> {
        if !self.is_free(day) {
            return None;
        }
        if let Some(holiday) = atw_holidays(day.year()).iter().find(|h| h.day == day) {
            return Some(FreeDay::Holiday(holiday.name));
        }
        if let Some(added) = self.added.iter().find(|a| a.day == day) {
            return Some(FreeDay::Added(added));
        }
        Some(if day.is_weekend() {
            FreeDay::Weekend
        } else {
            FreeDay::Closed
        })
    }

    /// [`Calendar::term_end`] with the steps that moved the end, in the order they apply.
    pub fn term_end_steps(
        &self,
        rule: TermRule,
        from: Day,
        nominal: Day,
    ) -> (Day, Vec<AtwStep<'_>>) {
        let mut steps = Vec::new();
        if rule == TermRule::Plain || nominal < from {
            return (nominal, steps);
        }
        let mut end = nominal;
        let mut free = Vec::new();
        while let Some(why) = self.why_free(end) {
            free.push((end, why));
            end = end.add_days(1);
        }
        if !free.is_empty() {
            steps.push(AtwStep::OffFreeDays { free, to: end });
        }
        if from.days_until(nominal) >= 3 {
            let mut working = (1..=from.days_until(end))
                .filter(|&n| self.is_working_day(from.add_days(n)))
                .take(2)
                .count();
            let before = end;
            while working < 2 {
                end = end.add_days(1);
                if self.is_working_day(end) {
                    working += 1;
                }
            }
            if end != before {
                steps.push(AtwStep::TwoWorkingDays { to: end });
            }
        }
        (end, steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::LeapDayBirthdays;
    use proptest::prelude::*;

    fn day(text: &str) -> Day {
        text.parse().unwrap()
    }

    fn calendar() -> Calendar {
        Calendar::new(
            &[AddedDay {
                day: day("2027-05-07"),
                reason: "vrijdag na Hemelvaartsdag".into(),
                source: "Besluit gelijkstelling van 2 januari 2026, 15 mei 2026, 7 mei 2027, 28 april 2028 en 26 mei 2028 met een algemeen erkende feestdag".into(),
            }],
            LeapDayBirthdays::FirstOfMarch,
        )
    }

    #[test]
    fn names_the_holiday_the_decision_and_the_weekend() {
        let c = calendar();
        assert_eq!(
            c.why_free(day("2027-01-01")),
            Some(FreeDay::Holiday("Nieuwjaarsdag"))
        );
        assert!(matches!(
            c.why_free(day("2027-05-07")),
            Some(FreeDay::Added(AddedDay { reason, .. })) if reason == "vrijdag na Hemelvaartsdag"
        ));
        assert_eq!(c.why_free(day("2027-05-08")), Some(FreeDay::Weekend));
        assert_eq!(c.why_free(day("2027-05-10")), None);
        let closed = c.with_closed_days(&[day("2027-05-10")]);
        assert_eq!(closed.why_free(day("2027-05-10")), Some(FreeDay::Closed));
    }

    #[test]
    fn steps_of_hemelvaart_and_its_friday() {
        // Six weeks from Thursday 2027-03-25 end on Hemelvaartsdag, Thursday 2027-05-06; the
        // Friday after is added, then the weekend: Monday 2027-05-10.
        let c = calendar();
        let (end, steps) =
            c.term_end_steps(TermRule::Termijnenwet, day("2027-03-25"), day("2027-05-06"));
        assert_eq!(end, day("2027-05-10"));
        let [AtwStep::OffFreeDays { free, to }] = steps.as_slice() else {
            panic!("one step: {steps:?}");
        };
        assert_eq!(*to, day("2027-05-10"));
        let reasons: Vec<_> = free.iter().map(|(d, why)| (d.to_string(), why)).collect();
        assert_eq!(
            reasons[0],
            ("2027-05-06".into(), &FreeDay::Holiday("Hemelvaartsdag"))
        );
        assert!(matches!(reasons[1].1, FreeDay::Added(_)));
        assert_eq!(reasons[2].1, &FreeDay::Weekend);
        assert_eq!(free.len(), 4);
    }

    #[test]
    fn steps_of_art_2() {
        // 3 days from Friday 2027-04-23 end on Monday 04-26, a working day, but the term then
        // holds only one: it runs to Wednesday 04-28 (Koningsdag is Tuesday 04-27).
        let c = calendar();
        let (end, steps) =
            c.term_end_steps(TermRule::Termijnenwet, day("2027-04-23"), day("2027-04-26"));
        assert_eq!(end, day("2027-04-28"));
        assert_eq!(
            steps,
            [AtwStep::TwoWorkingDays {
                to: day("2027-04-28")
            }]
        );
    }

    proptest! {
        #[test]
        fn the_steps_end_where_term_end_does(start in 7300i32..47000, length in -30i32..400, legal: bool) {
            let c = calendar();
            let rule = if legal { TermRule::Termijnenwet } else { TermRule::Plain };
            let from = Day::from_number(start);
            let nominal = from.add_days(length);
            let (end, steps) = c.term_end_steps(rule, from, nominal);
            prop_assert_eq!(end, c.term_end(rule, from, nominal));
            prop_assert_eq!(steps.is_empty(), end == nominal);
        }
    }
}
