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

/// A deadline's state in words, with when it was met and whether that was late:
/// `gehaald op 3 mei 2027`, `gehaald op 7 mei 2027, 2 dagen te laat`.
pub fn deadline_state_met(state: DeadlineState, due: Option<Day>, met_at: Option<Day>) -> String {
    match (state, met_at) {
        (DeadlineState::Met, Some(met)) => {
            let late = due.map_or(0, |due| due.days_until(met));
            match late {
                ..=0 => format!("gehaald op {}", dutch_date(met)),
                1 => format!("gehaald op {}, 1 dag te laat", dutch_date(met)),
                n => format!("gehaald op {}, {n} dagen te laat", dutch_date(met)),
            }
        }
        (state, _) => deadline_state(state).to_string(),
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
        Kind::Report => "rapportage",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_met_deadline_says_when_and_how_late() {
        let day = |text: &str| text.parse::<Day>().ok();
        let due = day("2027-04-27");
        assert_eq!(
            deadline_state_met(DeadlineState::Met, due, day("2027-04-27")),
            "gehaald op 27 april 2027"
        );
        assert_eq!(
            deadline_state_met(DeadlineState::Met, due, day("2027-04-30")),
            "gehaald op 30 april 2027, 3 dagen te laat"
        );
        assert_eq!(
            deadline_state_met(DeadlineState::Overdue, due, None),
            "te laat"
        );
    }

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
