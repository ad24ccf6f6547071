//! iCalendar (RFC 5545) for the calendar feeds: text escaped (§3.3.11), lines folded at 75
//! octets (§3.1) without splitting a UTF-8 character, CRLF line ends.

use jiff::Timestamp;

use waakvlam_core::calendar::Day;

/// One all-day event on a deadline's due date.
pub struct AllDay {
    pub uid: String,
    pub day: Day,
    pub summary: String,
    pub description: String,
    pub url: String,
    /// When the calendar reminds of it: the deadline's first reminder.
    pub alarm: Option<Timestamp>,
}

/// A calendar with a name and its events; `stamp` is when it was made (DTSTAMP).
pub fn calendar(name: &str, stamp: Timestamp, events: &[AllDay]) -> String {
    let mut out = String::new();
    let mut line = |text: String| fold_into(&mut out, &text);
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line("PRODID:-//Waakvlam//Termijnen//NL".into());
    line("CALSCALE:GREGORIAN".into());
    line("METHOD:PUBLISH".into());
    line(format!("X-WR-CALNAME:{}", escape(name)));
    line("X-WR-TIMEZONE:Europe/Amsterdam".into());
    let stamp = utc(stamp);
    for event in events {
        line("BEGIN:VEVENT".into());
        line(format!("UID:{}", escape(&event.uid)));
        line(format!("DTSTAMP:{stamp}"));
        line(format!("DTSTART;VALUE=DATE:{}", compact(event.day)));
        line(format!(
            "DTEND;VALUE=DATE:{}",
            compact(event.day.add_days(1))
        ));
        line(format!("SUMMARY:{}", escape(&event.summary)));
        line(format!("DESCRIPTION:{}", escape(&event.description)));
        line(format!("URL:{}", event.url));
        line("TRANSP:TRANSPARENT".into());
        if let Some(alarm) = event.alarm {
            line("BEGIN:VALARM".into());
            line("ACTION:DISPLAY".into());
            line(format!("DESCRIPTION:{}", escape(&event.summary)));
            line(format!("TRIGGER;VALUE=DATE-TIME:{}", utc(alarm)));
            line("END:VALARM".into());
        }
        line("END:VEVENT".into());
    }
    line("END:VCALENDAR".into());
    out
}

fn compact(day: Day) -> String {
    let (y, m, d) = day.ymd();
    format!("{y:04}{m:02}{d:02}")
}

fn utc(moment: Timestamp) -> String {
    moment.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line, folded: at most 75 octets a line, the rest on lines that start
/// with a space.
fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let size = c.len_utf8();
        if width + size > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += size;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_between_characters_and_text_is_escaped() {
        let mut out = String::new();
        let long = format!("SUMMARY:{}", "é".repeat(60));
        fold_into(&mut out, &long);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{line:?} is {} octets", line.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded.trim_end(), long);
        assert_eq!(escape("a; b, c\\d\ne"), "a\\; b\\, c\\\\d\\ne");
    }
}
