//! Terms as people write them: `14 days`, `4 weeks`, `6 months`, `2 years`, the Dutch
//! `14 dagen`, `4 weken`, `6 maanden`, `2 jaar`, or ISO 8601 (`P14D`, `P4W`, `P1Y6M`).
//!
//! Terms count whole calendar days: a deadline is a date. Months and years are calendar months
//! (see [`Day::add_months`]), weeks are seven days.

use std::fmt;

use super::Day;

/// A term of calendar months and days. Years are stored as 12 months and weeks as 7 days, so
/// `1 year` and `12 months` are the same term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Duration {
    pub months: i32,
    pub days: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("'{0}' is not a duration")]
    Malformed(String),
    #[error("'{unit}' is not a unit of time")]
    UnknownUnit { unit: String },
    #[error("durations count whole days; '{0}' has a time part")]
    TimePart(String),
    #[error("'{0}' is longer than 100 years")]
    TooLong(String),
}

impl DurationError {
    /// What to write instead; shown by `waakvlam check` beside the error.
    pub fn hint(&self) -> &'static str {
        match self {
            DurationError::TimePart(_) => "deadlines are dates: use days, weeks, months or years",
            DurationError::TooLong(_) => {
                "a term in youth care is days, weeks, months or a few years"
            }
            _ => {
                "write a number and a unit, for example '14 days', '4 weeks', '6 months', '2 years' \
                 (or Dutch: '14 dagen', '6 maanden'), or ISO 8601 such as 'P14D'"
            }
        }
    }
}

impl Duration {
    pub const ZERO: Duration = Duration { months: 0, days: 0 };

    pub const fn days(days: i32) -> Duration {
        Duration { months: 0, days }
    }

    pub const fn months(months: i32) -> Duration {
        Duration { months, days: 0 }
    }

    pub fn is_zero(self) -> bool {
        self.months == 0 && self.days == 0
    }

    /// Months first, then days: `31 January + 1 month 1 day` is `1 March` (28 February + 1).
    pub fn add_to(self, day: Day) -> Day {
        day.add_months(self.months).add_days(self.days)
    }

    /// Counts backward: the reverse order of [`Duration::add_to`].
    pub fn subtract_from(self, day: Day) -> Day {
        day.add_days(-self.days).add_months(-self.months)
    }

    pub fn times(self, factor: i32) -> Duration {
        Duration {
            months: self.months * factor,
            days: self.days * factor,
        }
    }

    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        let trimmed = text.trim();
        let duration = if trimmed.starts_with(['P', 'p']) && !trimmed.contains(' ') {
            parse_iso(trimmed)?
        } else {
            parse_words(trimmed)?
        };
        // Bounded so that no arithmetic on dates can overflow, whatever a file says.
        if duration.months > MAX_MONTHS || duration.days > MAX_MONTHS / 12 * 366 {
            return Err(DurationError::TooLong(trimmed.to_string()));
        }
        Ok(duration)
    }
}

const MAX_MONTHS: i32 = 1200;

/// A number in a duration: digits only, and small enough that multiplying it by 12 (years)
/// or 7 (weeks) cannot overflow.
fn number(text: &str) -> Option<i32> {
    (!text.is_empty() && text.len() <= 6 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn parse_iso(text: &str) -> Result<Duration, DurationError> {
    let malformed = || DurationError::Malformed(text.to_string());
    let body = &text[1..];
    if body.is_empty() {
        return Err(malformed());
    }
    if body.contains(['T', 't']) {
        return Err(DurationError::TimePart(text.to_string()));
    }
    let mut duration = Duration::ZERO;
    let mut number = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n = self::number(&number).ok_or_else(malformed)?;
        number.clear();
        match c.to_ascii_uppercase() {
            'Y' => duration.months += n * 12,
            'M' => duration.months += n,
            'W' => duration.days += n * 7,
            'D' => duration.days += n,
            _ => return Err(malformed()),
        }
    }
    if !number.is_empty() {
        return Err(malformed());
    }
    Ok(duration)
}

fn parse_words(text: &str) -> Result<Duration, DurationError> {
    let malformed = || DurationError::Malformed(text.to_string());
    let words: Vec<&str> = text
        .split([' ', ','])
        .filter(|w| !w.is_empty() && !matches!(*w, "and" | "en"))
        .collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(malformed());
    }
    let mut duration = Duration::ZERO;
    for pair in words.chunks(2) {
        let n = number(pair[0]).ok_or_else(malformed)?;
        match unit(pair[1]) {
            Some(Unit::Day) => duration.days += n,
            Some(Unit::Week) => duration.days += n * 7,
            Some(Unit::Month) => duration.months += n,
            Some(Unit::Year) => duration.months += n * 12,
            None => {
                return Err(DurationError::UnknownUnit {
                    unit: pair[1].to_string(),
                });
            }
        }
    }
    Ok(duration)
}

enum Unit {
    Day,
    Week,
    Month,
    Year,
}

fn unit(word: &str) -> Option<Unit> {
    match word.to_lowercase().as_str() {
        "day" | "days" | "dag" | "dagen" => Some(Unit::Day),
        "week" | "weeks" | "weken" => Some(Unit::Week),
        "month" | "months" | "maand" | "maanden" => Some(Unit::Month),
        "year" | "years" | "jaar" | "jaren" => Some(Unit::Year),
        _ => None,
    }
}

/// Dutch, for messages to professionals: `14 dagen`, `4 weken`, `6 maanden`, `1 jaar en 6 maanden`.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let (years, months) = (self.months / 12, self.months % 12);
        if years != 0 {
            parts.push(format!("{years} jaar"));
        }
        if months != 0 {
            parts.push(format!(
                "{months} {}",
                if months == 1 { "maand" } else { "maanden" }
            ));
        }
        if self.days != 0 {
            if self.days % 7 == 0 {
                let weeks = self.days / 7;
                parts.push(format!(
                    "{weeks} {}",
                    if weeks == 1 { "week" } else { "weken" }
                ));
            } else {
                let days = self.days;
                parts.push(format!(
                    "{days} {}",
                    if days == 1 { "dag" } else { "dagen" }
                ));
            }
        }
        if parts.is_empty() {
            return f.write_str("0 dagen");
        }
        f.write_str(&parts.join(" en "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_words_in_english_and_dutch() {
        assert_eq!(Duration::parse("14 days"), Ok(Duration::days(14)));
        assert_eq!(Duration::parse("4 weeks"), Ok(Duration::days(28)));
        assert_eq!(Duration::parse("6 maanden"), Ok(Duration::months(6)));
        assert_eq!(Duration::parse("2 jaar"), Ok(Duration::months(24)));
        assert_eq!(Duration::parse("1 year 6 months"), Ok(Duration::months(18)));
        assert_eq!(
            Duration::parse("1 jaar en 2 dagen"),
            Ok(Duration {
                months: 12,
                days: 2
            })
        );
        assert_eq!(Duration::parse("1 week"), Ok(Duration::days(7)));
    }

    #[test]
    fn parses_iso_8601() {
        assert_eq!(Duration::parse("P14D"), Ok(Duration::days(14)));
        assert_eq!(Duration::parse("P4W"), Ok(Duration::days(28)));
        assert_eq!(Duration::parse("P1Y6M"), Ok(Duration::months(18)));
        assert_eq!(
            Duration::parse("P2Y3M4D"),
            Ok(Duration {
                months: 27,
                days: 4
            })
        );
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        assert_eq!(
            Duration::parse("14 dayz"),
            Err(DurationError::UnknownUnit {
                unit: "dayz".into()
            })
        );
        assert_eq!(
            Duration::parse("PT12H"),
            Err(DurationError::TimePart("PT12H".into()))
        );
        for bad in [
            "",
            "14",
            "days",
            "P",
            "P1X",
            "P14",
            "fourteen days",
            "-3 days",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_months_before_days() {
        let jan31: Day = "2027-01-31".parse().unwrap();
        let term = Duration { months: 1, days: 1 };
        assert_eq!(term.add_to(jan31).to_string(), "2027-03-01");
        assert_eq!(
            term.subtract_from("2027-03-01".parse().unwrap())
                .to_string(),
            "2027-01-28"
        );
    }

    #[test]
    fn displays_in_dutch() {
        assert_eq!(Duration::days(14).to_string(), "2 weken");
        assert_eq!(Duration::days(5).to_string(), "5 dagen");
        assert_eq!(Duration::months(18).to_string(), "1 jaar en 6 maanden");
        assert_eq!(Duration::months(1).to_string(), "1 maand");
    }
}
