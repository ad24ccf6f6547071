//! A calendar day as a plain day number.
//!
//! Deadlines are dates, not instants (DOMAIN.md: "a deadline is a date"), and the engine does a
//! lot of day arithmetic on its hot path. A day number makes that arithmetic an integer add and
//! lets the working-day calendar be a bit set indexed by day. Conversions use Howard Hinnant's
//! `days_from_civil` / `civil_from_days` algorithms (proleptic Gregorian calendar).

use std::fmt;
use std::str::FromStr;

/// A day in the proleptic Gregorian calendar: days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i32);

/// Day of the week, Monday first (ISO 8601).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a date: expected YYYY-MM-DD, for example 2027-04-13")]
pub struct DayParseError {
    pub text: String,
}

impl Day {
    /// The day for a year, month and day of month, or `None` when that day does not exist.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Day> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Keep day numbers far inside i32: birth dates and deadlines live within a few centuries.
        if !(1000..=9999).contains(&year) {
            return None;
        }
        Some(Day(days_from_civil(year, month, day)))
    }

    pub const fn from_number(days_since_epoch: i32) -> Day {
        Day(days_since_epoch)
    }

    pub fn number(self) -> i32 {
        self.0
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    pub fn year(self) -> i32 {
        self.ymd().0
    }

    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday.
        match (self.0 + 3).rem_euclid(7) {
            0 => Weekday::Monday,
            1 => Weekday::Tuesday,
            2 => Weekday::Wednesday,
            3 => Weekday::Thursday,
            4 => Weekday::Friday,
            5 => Weekday::Saturday,
            _ => Weekday::Sunday,
        }
    }

    pub fn is_weekend(self) -> bool {
        matches!(self.weekday(), Weekday::Saturday | Weekday::Sunday)
    }

    pub fn add_days(self, days: i32) -> Day {
        Day(self.0 + days)
    }

    /// Adds calendar months; a day that does not exist in the target month becomes that month's
    /// last day (31 January + 1 month = 28 or 29 February).
    pub fn add_months(self, months: i32) -> Day {
        if months == 0 {
            return self;
        }
        let (year, month, day) = self.ymd();
        let index = year * 12 + (month as i32 - 1) + months;
        let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
        let day = day.min(days_in_month(year, month));
        Day(days_from_civil(year, month, day))
    }

    /// Days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Day) -> i32 {
        later.0 - self.0
    }

    pub fn to_jiff(self) -> jiff::civil::Date {
        let (year, month, day) = self.ymd();
        // The range check in `from_ymd` keeps every Day within jiff's supported years.
        jiff::civil::Date::new(year as i16, month as i8, day as i8)
            .expect("a Day is always a valid jiff date")
    }

    pub fn from_jiff(date: jiff::civil::Date) -> Day {
        Day(days_from_civil(
            date.year() as i32,
            date.month() as u32,
            date.day() as u32,
        ))
    }
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month as i32 + 9) % 12; // March = 0
    let day_of_year = (153 * month_index + 2) / 5 + day as i32 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i32::from(month <= 2);
    (year, month, day)
}

impl FromStr for Day {
    type Err = DayParseError;

    fn from_str(text: &str) -> Result<Day, DayParseError> {
        let error = || DayParseError {
            text: text.to_string(),
        };
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(error());
        }
        let number = |range: std::ops::Range<usize>| -> Result<u32, DayParseError> {
            let part = &text[range];
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error());
            }
            part.parse().map_err(|_| error())
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        Day::from_ymd(year as i32, month, day).ok_or_else(error)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The form it is written in (`2027-04-28`): a stored record read back into its type.
impl<'de> serde::Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Day, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Day {
        text.parse().unwrap()
    }

    #[test]
    fn round_trips_through_day_numbers() {
        assert_eq!(day("1970-01-01").number(), 0);
        assert_eq!(day("2000-02-29").to_string(), "2000-02-29");
        for n in -200_000..200_000 {
            let d = Day::from_number(n);
            let (y, m, dd) = d.ymd();
            assert_eq!(
                Day::from_ymd(y, m, dd).map(Day::number),
                Some(n).filter(|_| (1000..=9999).contains(&y))
            );
        }
    }

    #[test]
    fn weekdays() {
        assert_eq!(day("2027-04-13").weekday(), Weekday::Tuesday);
        assert_eq!(day("2026-11-23").weekday(), Weekday::Monday);
    }

    #[test]
    fn months_clamp_to_the_end_of_the_month() {
        assert_eq!(day("2027-01-31").add_months(1), day("2027-02-28"));
        assert_eq!(day("2028-01-31").add_months(1), day("2028-02-29"));
        assert_eq!(day("2027-08-31").add_months(-6), day("2027-02-28"));
        assert_eq!(day("2027-03-31").add_months(-1), day("2027-02-28"));
        assert_eq!(day("2027-05-15").add_months(24), day("2029-05-15"));
    }

    #[test]
    fn refuses_dates_that_do_not_exist() {
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-00-10",
            "27-04-13",
            "2027-4-13",
            "2027-04-1a",
            "",
        ] {
            assert!(bad.parse::<Day>().is_err(), "{bad}");
        }
    }

    #[test]
    fn converts_to_and_from_jiff() {
        let d = day("2031-12-31");
        assert_eq!(Day::from_jiff(d.to_jiff()), d);
    }
}
