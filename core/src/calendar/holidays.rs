//! The recognised holidays of the Algemene termijnenwet (Atw art. 3), computed per year.
//!
//! Days that a Koninklijk Besluit adds (art. 3 lid 3, usually the Friday after Hemelvaartsdag and
//! days between a holiday and a weekend) are data, not code: they come from
//! `config/feestdagen.yaml` and are passed to [`super::Calendar::new`].

use super::Day;

/// A day a Koninklijk Besluit makes equal to a recognised holiday (Atw art. 3 lid 3), with why
/// (`vrijdag na Hemelvaartsdag`) and the decision that says so, for explanations that name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedDay {
    pub day: Day,
    pub reason: String,
    pub source: String,
}

/// A holiday with its Dutch name, as shown in reports and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holiday {
    pub day: Day,
    pub name: &'static str,
}

/// Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> Day {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Day::from_ymd(year, month as u32, day as u32).expect("Easter is always a valid date")
}

/// The Atw holidays of one year, in date order.
pub fn atw_holidays(year: i32) -> Vec<Holiday> {
    let date =
        |month, day| Day::from_ymd(year, month, day).expect("fixed holidays exist every year");
    let easter = easter_sunday(year);
    let kings_day = if year >= 2014 {
        // Koningsdag: 27 April, or the 26th when the 27th is a Sunday (Wet vaststelling Koningsdag).
        let day = date(4, 27);
        if day.weekday() == super::Weekday::Sunday {
            date(4, 26)
        } else {
            day
        }
    } else {
        // Koninginnedag until 2013: 30 April, or the 29th when the 30th is a Sunday.
        let day = date(4, 30);
        if day.weekday() == super::Weekday::Sunday {
            date(4, 29)
        } else {
            day
        }
    };
    let mut holidays = vec![
        Holiday {
            day: date(1, 1),
            name: "Nieuwjaarsdag",
        },
        Holiday {
            day: easter.add_days(-2),
            name: "Goede Vrijdag",
        },
        Holiday {
            day: easter.add_days(1),
            name: "Tweede Paasdag",
        },
        Holiday {
            day: kings_day,
            name: if year >= 2014 {
                "Koningsdag"
            } else {
                "Koninginnedag"
            },
        },
        Holiday {
            day: date(5, 5),
            name: "Bevrijdingsdag",
        },
        Holiday {
            day: easter.add_days(39),
            name: "Hemelvaartsdag",
        },
        Holiday {
            day: easter.add_days(50),
            name: "Tweede Pinksterdag",
        },
        Holiday {
            day: date(12, 25),
            name: "Eerste Kerstdag",
        },
        Holiday {
            day: date(12, 26),
            name: "Tweede Kerstdag",
        },
    ];
    // Hemelvaartsdag can fall on 5 May (as in 2016): one day, two names.
    holidays.sort_by_key(|h| h.day);
    holidays.dedup_by_key(|h| h.day);
    holidays
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Easter Sundays 2025-2035, from the tables of the Dutch almanac.
    #[test]
    fn easter_2025_to_2035() {
        let expected = [
            "2025-04-20",
            "2026-04-05",
            "2027-03-28",
            "2028-04-16",
            "2029-04-01",
            "2030-04-21",
            "2031-04-13",
            "2032-03-28",
            "2033-04-17",
            "2034-04-09",
            "2035-03-25",
        ];
        for (year, want) in (2025..=2035).zip(expected) {
            assert_eq!(easter_sunday(year).to_string(), want, "{year}");
        }
    }

    /// Every Atw holiday 2025-2035. Koningsdag moves to
    /// Saturday 26 April in 2025 and 2031 because the 27th is a Sunday.
    #[test]
    fn atw_holidays_2025_to_2035() {
        let table: &[(i32, &[&str])] = &[
            (
                2025,
                &[
                    "01-01", "04-18", "04-21", "04-26", "05-05", "05-29", "06-09", "12-25", "12-26",
                ],
            ),
            (
                2026,
                &[
                    "01-01", "04-03", "04-06", "04-27", "05-05", "05-14", "05-25", "12-25", "12-26",
                ],
            ),
            (
                2027,
                &[
                    "01-01", "03-26", "03-29", "04-27", "05-05", "05-06", "05-17", "12-25", "12-26",
                ],
            ),
            (
                2028,
                &[
                    "01-01", "04-14", "04-17", "04-27", "05-05", "05-25", "06-05", "12-25", "12-26",
                ],
            ),
            (
                2029,
                &[
                    "01-01", "03-30", "04-02", "04-27", "05-05", "05-10", "05-21", "12-25", "12-26",
                ],
            ),
            (
                2030,
                &[
                    "01-01", "04-19", "04-22", "04-27", "05-05", "05-30", "06-10", "12-25", "12-26",
                ],
            ),
            (
                2031,
                &[
                    "01-01", "04-11", "04-14", "04-26", "05-05", "05-22", "06-02", "12-25", "12-26",
                ],
            ),
            (
                2032,
                &[
                    "01-01", "03-26", "03-29", "04-27", "05-05", "05-06", "05-17", "12-25", "12-26",
                ],
            ),
            (
                2033,
                &[
                    "01-01", "04-15", "04-18", "04-27", "05-05", "05-26", "06-06", "12-25", "12-26",
                ],
            ),
            (
                2034,
                &[
                    "01-01", "04-07", "04-10", "04-27", "05-05", "05-18", "05-29", "12-25", "12-26",
                ],
            ),
            (
                2035,
                &[
                    "01-01", "03-23", "03-26", "04-27", "05-03", "05-05", "05-14", "12-25", "12-26",
                ],
            ),
        ];
        for (year, days) in table {
            let got: Vec<String> = atw_holidays(*year)
                .iter()
                .map(|h| h.day.to_string()[5..].to_string())
                .collect();
            assert_eq!(got, *days, "{year}");
        }
    }

    #[test]
    fn hemelvaart_on_bevrijdingsdag_is_one_day() {
        // Easter 2016 was on 27 March, so Hemelvaartsdag fell on 5 May.
        let names: Vec<&str> = atw_holidays(2016).iter().map(|h| h.name).collect();
        assert_eq!(names.len(), 8);
        assert!(names.contains(&"Bevrijdingsdag"));
    }
}
