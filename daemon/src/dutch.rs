//! How the pages say things in Dutch: dates as `28 april 2027`, states as words.

use jiff::Timestamp;

use crate::store::DeliveryStatus;
use waakvlam_core::calendar::Day;
use waakvlam_core::engine::notification::dutch_date;
use waakvlam_core::engine::{DeadlineState, Kind};

/// `2027-04-28` as `28 april 2027`; text that is not a date stays as it is.
pub fn date(text: &str) -> String {
    text.parse::<Day>()
        .map_or_else(|_| text.to_string(), dutch_date)
}

/// A day in words: `28 april 2027`.
pub fn day(day: Day) -> String {
    dutch_date(day)
}

/// `woensdag 28 april 2027`.
pub fn date_with_weekday(day: Day) -> String {
    waakvlam_core::engine::notification::dutch_day(day)
}

/// A moment in Amsterdam time: `28 april 2027 om 09:00`.
pub fn moment(at: Timestamp) -> String {
    let (day, hour, minute) = waakvlam_core::calendar::local_time(at);
    format!("{} om {hour:02}:{minute:02}", dutch_date(day))
}

/// A moment as the store and the API write it (RFC 3339), in words; other text as it is.
pub fn moment_text(text: &str) -> String {
    waakvlam_core::calendar::parse_timestamp(text).map_or_else(|_| text.to_string(), moment)
}

/// `1 termijn verschuift`, `3 termijnen verschuiven`: a number with the words that go with it.
pub fn count(n: usize, one: &str, more: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { more })
}

pub fn deadline_state(state: DeadlineState) -> &'static str {
    match state {
        DeadlineState::Open => "open",
        DeadlineState::Overdue => "te laat",
        DeadlineState::Met => "gehaald",
        DeadlineState::Cancelled => "vervallen",
        DeadlineState::Suspended => "opgeschort",
        DeadlineState::Ended => "beëindigd",
        DeadlineState::Missed => "gemist",
        DeadlineState::Unknown => "onbekend: gegevens ontbreken",
    }
}

pub fn delivery(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "wacht op verzending",
        DeliveryStatus::Delivered => "afgeleverd",
        DeliveryStatus::Dead => "mislukt",
    }
}

pub fn kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Reminder => "herinnering",
        Kind::Escalation => "escalatie",
        Kind::Signal => "signaal",
        Kind::Overview => "overzicht",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_people_write_them() {
        assert_eq!(date("2027-04-28"), "28 april 2027");
        assert_eq!(date("-"), "-");
        assert_eq!(
            date_with_weekday("2027-04-28".parse().unwrap()),
            "woensdag 28 april 2027"
        );
        // Summer time: 07:00 UTC is 09:00 in Amsterdam; winter time: 08:00 UTC is.
        assert_eq!(
            moment_text("2027-04-28T07:00:00Z"),
            "28 april 2027 om 09:00"
        );
        assert_eq!(
            moment_text("2027-12-01T08:00:00Z"),
            "1 december 2027 om 09:00"
        );
    }
}
