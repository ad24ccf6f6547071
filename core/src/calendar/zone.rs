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

/// The Amsterdam day a moment falls on.
pub fn local_day(moment: Timestamp) -> Day {
    Day::from_jiff(moment.to_zoned_datetime(AMSTERDAM.clone()).date())
}

/// `hour`:00 Amsterdam time on `day`. Whole hours between 00 and 23 always exist except in the
/// spring gap (02:00 on the last Sunday of March), where jiff's compatible disambiguation moves
/// forward to 03:00; a send hour of 09:00 is never ambiguous.
pub fn send_moment(day: Day, hour: u8) -> Timestamp {
    day.to_jiff()
        .at(hour as i8, 0, 0, 0)
        .to_zoned_datetime(AMSTERDAM.clone())
        .expect("every Amsterdam day in range has this hour")
        .timestamp()
}

/// RFC 3339 with the Amsterdam offset of that moment, for example `2027-04-26T09:00:00+02:00`.
pub fn format_timestamp(moment: Timestamp) -> String {
    moment
        .to_zoned_datetime(AMSTERDAM.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Parses RFC 3339 with an offset (`2027-04-13T10:15:00+02:00` or `...Z`). A local time without
/// an offset is refused: it would be ambiguous once a year.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    text.parse::<Timestamp>().map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
