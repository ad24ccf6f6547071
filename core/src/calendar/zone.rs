//! Europe/Amsterdam: the one time zone of Waakvlam.
//!
//! Moments are `jiff::Timestamp`s (absolute, totally ordered across daylight-saving changes);
//! days are local Amsterdam days. The time zone database is bundled into the binary, so the
//! result does not depend on the host's `/usr/share/zoneinfo`.

use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::Day;

static AMSTERDAM: LazyLock<TimeZone> = LazyLock::new(|| {
    TimeZone::get("Europe/Amsterdam").expect("the bundled time zone database has Europe/Amsterdam")
});

/// Europe/Amsterdam, from the bundled time zone database.
pub fn amsterdam() -> TimeZone {
    AMSTERDAM.clone()
}

/// The Amsterdam day a moment falls on.
pub fn local_day(moment: Timestamp) -> Day {
    match table_offset(moment) {
        Some(offset) => {
            Day::from_number((moment.as_second() + i64::from(offset)).div_euclid(86_400) as i32)
        }
        None => Day::from_jiff(moment.to_zoned_datetime(AMSTERDAM.clone()).date()),
    }
}

/// The UTC offset of a moment from the table of noon offsets, in seconds: right whenever the
/// local time is between 04:00 and 22:00, where no offset change can have happened that day
/// (they happen at 02:00 and 03:00). `None` for other moments: those ask the database.
fn table_offset(moment: Timestamp) -> Option<i32> {
    let seconds = moment.as_second();
    let guess = Day::from_number((seconds + 3600).div_euclid(86_400) as i32);
    let offset =
        *NOON_OFFSETS.get(usize::try_from(guess.number() - NOON_OFFSETS_FROM.number()).ok()?)?;
    let local = seconds + i64::from(offset);
    let time_of_day = local.rem_euclid(86_400);
    ((4 * 3600..22 * 3600).contains(&time_of_day)
        && local.div_euclid(86_400) == i64::from(guess.number()))
    .then_some(offset)
}

/// The Amsterdam day, hour and minute of a moment: for people reading it.
pub fn local_time(moment: Timestamp) -> (Day, i8, i8) {
    let zoned = moment.to_zoned_datetime(AMSTERDAM.clone());
    (
        Day::from_jiff(zoned.date()),
        zoned.time().hour(),
        zoned.time().minute(),
    )
}

/// `hour`:00 Amsterdam time on `day`. Whole hours between 00 and 23 always exist except in the
/// spring gap (02:00 on the last Sunday of March), where jiff's compatible disambiguation moves
/// forward to 03:00; a send hour of 09:00 is never ambiguous.
pub fn send_moment(day: Day, hour: u8) -> Timestamp {
    // The engine asks this for every reminder it plans, so the offsets of the years it works in
    // are looked up once. From 03:00 on, an Amsterdam day has one offset all day (the changes
    // happen at 02:00 and 03:00); earlier hours and other years ask the time zone database.
    if hour >= 3
        && let Some(offset) = NOON_OFFSETS.get((day.number() - NOON_OFFSETS_FROM.number()) as usize)
    {
        let seconds =
            i64::from(day.number()) * 86_400 + i64::from(hour) * 3600 - i64::from(*offset);
        return Timestamp::from_second(seconds).expect("days in the table are in jiff's range");
    }
    day.to_jiff()
        .at(hour as i8, 0, 0, 0)
        .to_zoned_datetime(AMSTERDAM.clone())
        .expect("every Amsterdam day in range has this hour")
        .timestamp()
}

const NOON_OFFSETS_FROM: Day = Day::from_number(7305); // 1990-01-01
const NOON_OFFSETS_DAYS: i32 = 40_177; // to 2099-12-31

/// The UTC offset in seconds at 12:00 of each day of the table.
static NOON_OFFSETS: LazyLock<Vec<i32>> = LazyLock::new(|| {
    (0..NOON_OFFSETS_DAYS)
        .map(|n| {
            let day = NOON_OFFSETS_FROM.add_days(n);
            let zoned = day
                .to_jiff()
                .at(12, 0, 0, 0)
                .to_zoned_datetime(AMSTERDAM.clone())
                .expect("noon always exists");
            zoned.offset().seconds()
        })
        .collect()
});

/// RFC 3339 with the Amsterdam offset of that moment, for example `2027-04-26T09:00:00+02:00`.
pub fn format_timestamp(moment: Timestamp) -> String {
    // Every notification carries one, and `strftime` is most of writing a notification: the
    // usual case is written out by hand, from the offset the table or the database gives.
    let offset = table_offset(moment).unwrap_or_else(|| AMSTERDAM.to_offset(moment).seconds());
    let local = moment.as_second() + i64::from(offset);
    let day = Day::from_number(local.div_euclid(86_400) as i32);
    let (year, month, date) = day.ymd();
    if moment.as_second() < 0 || offset % 60 != 0 || !(1000..=9999).contains(&year) {
        return moment
            .to_zoned_datetime(AMSTERDAM.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string();
    }
    let time = local.rem_euclid(86_400) as u32;
    let (sign, offset) = if offset < 0 {
        ('-', -offset)
    } else {
        ('+', offset)
    };
    let offset = offset as u32 / 60;
    let mut text = String::with_capacity(25);
    let fields = [
        (year as u32 / 100, None),
        (year as u32 % 100, Some('-')),
        (month, Some('-')),
        (date, Some('T')),
        (time / 3600, Some(':')),
        (time / 60 % 60, Some(':')),
        (time % 60, Some(sign)),
        (offset / 60, Some(':')),
        (offset % 60, None),
    ];
    for (n, after) in fields {
        text.push(char::from(b'0' + (n / 10) as u8));
        text.push(char::from(b'0' + (n % 10) as u8));
        text.extend(after);
    }
    text
}

/// The format of [`format_timestamp`] the slow way, for its test.
#[cfg(test)]
fn format_timestamp_by_strftime(moment: Timestamp) -> String {
    moment
        .to_zoned_datetime(AMSTERDAM.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Parses RFC 3339 with an offset (`2027-04-13T10:15:00+02:00` or `...Z`). A local time without
/// an offset is refused: it would be ambiguous once a year.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    // Read twice for every event by `simulate`: the usual shape (`2027-04-13T10:15:00+02:00`,
    // or `Z`) is read by hand; anything else, and every error, is jiff's.
    if let Some(moment) = quick_timestamp(text.as_bytes()) {
        return Ok(moment);
    }
    text.parse::<Timestamp>().map_err(|err| err.to_string())
}

/// `YYYY-MM-DDTHH:MM:SS` with `Z` or `±HH:MM`, every field in its range; `None` for any other
/// text, which jiff then reads (fractions, lower-case letters, leap seconds, errors).
fn quick_timestamp(text: &[u8]) -> Option<Timestamp> {
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        text.get(range)?.iter().try_fold(0u32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let at = |i: usize, c: u8| text.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset = match (text.len(), text.get(19)) {
        (20, Some(b'Z')) => 0,
        (25, Some(sign @ (b'+' | b'-'))) if at(22, b':') => {
            let (hours, minutes) = (digits(20..22)?, digits(23..25)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let day = Day::from_ymd(year as i32, month, day)?;
    let seconds =
        i64::from(day.number()) * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    Timestamp::from_second(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The hand-written format is `strftime`'s, from the LMT of the 19th century (the slow
        /// way) through the offsets of 1937-1940 (+00:20) and every change since, to 2400.
        #[test]
        fn the_quick_format_is_strftimes(seconds in -5_000_000_000i64..13_500_000_000i64) {
            let moment = Timestamp::from_second(seconds).unwrap();
            prop_assert_eq!(format_timestamp(moment), format_timestamp_by_strftime(moment));
        }
    }

    proptest! {
        /// The hand-read shape gives jiff's moment, for any fields in or out of range and any
        /// offset; what it does not read is left to jiff.
        #[test]
        fn the_quick_reading_is_jiffs(
            year in 0u32..10_000, month in 0u32..14, day in 0u32..33,
            hour in 0u32..26, minute in 0u32..62, second in 0u32..62,
            offset in prop::option::of((any::<bool>(), 0u32..26, 0u32..62)),
        ) {
            let zone = match offset {
                None => "Z".to_string(),
                Some((minus, h, m)) => format!("{}{h:02}:{m:02}", if minus { '-' } else { '+' }),
            };
            let text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{zone}");
            let quick = quick_timestamp(text.as_bytes());
            let jiff = text.parse::<Timestamp>().ok();
            if let Some(moment) = quick {
                prop_assert_eq!(Some(moment), jiff, "{}", text);
            }
            prop_assert_eq!(parse_timestamp(&text).ok(), jiff);
        }

        /// The day of a moment from the offset table is the time zone database's.
        #[test]
        fn the_table_day_is_the_databases(seconds in -2_000_000_000i64..5_000_000_000i64) {
            let moment = Timestamp::from_second(seconds).unwrap();
            let day = Day::from_jiff(moment.to_zoned_datetime(AMSTERDAM.clone()).date());
            prop_assert_eq!(local_day(moment), day);
        }
    }

    #[test]
    fn the_quick_reading_takes_the_usual_shapes_and_leaves_the_rest() {
        for text in [
            "2027-04-13T10:15:00+02:00",
            "2027-01-01T00:00:00Z",
            "2026-10-25T02:30:00-01:30",
        ] {
            assert!(quick_timestamp(text.as_bytes()).is_some(), "{text}");
        }
        for text in [
            "2027-04-13T10:15:00.5+02:00",
            "2027-04-13t10:15:00z",
            "2027-04-13T10:15:00",
            "2027-02-29T10:15:00Z",
            "2027-04-13T10:15:60Z",
            "+2027-04-13T10:15:00Z",
        ] {
            assert!(quick_timestamp(text.as_bytes()).is_none(), "{text}");
        }
        assert!(
            parse_timestamp("2027-04-13T10:15:00").is_err(),
            "no offset, no moment"
        );
    }

    #[test]
    fn the_quick_format_around_the_changes_of_2027() {
        // Each second around 02:00-03:00 on the days of the changes, and the year's edges.
        for start in [
            "2027-03-28T00:30:00Z",
            "2027-10-31T00:30:00Z",
            "2026-12-31T22:30:00Z",
        ] {
            let from: Timestamp = start.parse().unwrap();
            for n in 0..3 * 3600 {
                let moment = Timestamp::from_second(from.as_second() + n).unwrap();
                assert_eq!(
                    format_timestamp(moment),
                    format_timestamp_by_strftime(moment)
                );
            }
        }
    }

    #[test]
    fn summer_and_winter_offsets() {
        let summer = send_moment("2027-04-26".parse().unwrap(), 9);
        assert_eq!(format_timestamp(summer), "2027-04-26T09:00:00+02:00");
        let winter = send_moment("2027-11-01".parse().unwrap(), 9);
        assert_eq!(format_timestamp(winter), "2027-11-01T09:00:00+01:00");
    }

    #[test]
    fn the_days_of_a_change_to_and_from_summer_time() {
        // 2027-03-28: clocks go from 02:00 to 03:00; 2027-10-31: from 03:00 back to 02:00.
        let spring = send_moment("2027-03-28".parse().unwrap(), 9);
        assert_eq!(format_timestamp(spring), "2027-03-28T09:00:00+02:00");
        let autumn = send_moment("2027-10-31".parse().unwrap(), 9);
        assert_eq!(format_timestamp(autumn), "2027-10-31T09:00:00+01:00");
        // 23 and 25 hours between consecutive 09:00s across the changes.
        let before_spring = send_moment("2027-03-27".parse().unwrap(), 9);
        assert_eq!(spring.as_second() - before_spring.as_second(), 23 * 3600);
        let before_autumn = send_moment("2027-10-30".parse().unwrap(), 9);
        assert_eq!(autumn.as_second() - before_autumn.as_second(), 25 * 3600);
    }

    /// The offset table agrees with the time zone database on every day it covers, for every
    /// hour it is used for.
    #[test]
    fn the_offset_table_agrees_with_the_time_zone_database() {
        for n in 0..NOON_OFFSETS_DAYS {
            let day = NOON_OFFSETS_FROM.add_days(n);
            for hour in [3, 9, 23] {
                let slow = day
                    .to_jiff()
                    .at(hour, 0, 0, 0)
                    .to_zoned_datetime(AMSTERDAM.clone())
                    .unwrap()
                    .timestamp();
                assert_eq!(send_moment(day, hour as u8), slow, "{day} {hour}:00");
            }
        }
    }

    #[test]
    fn the_fast_local_day_agrees_with_the_time_zone_database() {
        let start = send_moment("2026-01-01".parse().unwrap(), 0).as_second();
        // Every 17 minutes for three years: every time of day, across six changes.
        for step in 0..(3 * 366 * 24 * 60 / 17) {
            let moment = Timestamp::from_second(start + step * 17 * 60).unwrap();
            let slow = Day::from_jiff(moment.to_zoned_datetime(AMSTERDAM.clone()).date());
            assert_eq!(local_day(moment), slow, "{moment}");
        }
    }

    #[test]
    fn local_day_uses_amsterdam_midnight() {
        // 23:30 UTC on 31 March is already 1 April in Amsterdam (UTC+2).
        let moment = parse_timestamp("2027-03-31T23:30:00Z").unwrap();
        assert_eq!(local_day(moment).to_string(), "2027-04-01");
    }

    #[test]
    fn refuses_a_time_without_offset() {
        assert!(parse_timestamp("2027-04-13T10:15:00").is_err());
        assert!(parse_timestamp("2027-04-13T10:15:00+02:00").is_ok());
    }
}
