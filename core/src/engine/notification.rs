//! The notification record of the contract (DESIGN.md, "Notifications"), its deterministic id
//! and its Dutch message text.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calendar::{self, Day};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Reminder,
    Escalation,
    Signal,
    /// A scheduled list of deadlines (DESIGN.md, "Scheduled overviews").
    Overview,
    /// A scheduled report over the last full period (DESIGN.md, "Verantwoording").
    Report,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Reminder => "reminder",
            Kind::Escalation => "escalation",
            Kind::Signal => "signal",
            Kind::Overview => "overview",
            Kind::Report => "report",
        }
    }
}

/// One reminder, escalation or signal: the same record in `simulate`, the store and delivery.
/// The store keeps it as JSON and reads it back into this type: every field but `due` (absent
/// for a signal) and `items` (an overview's) is required, so a record that lost one is
/// unreadable (a dead letter that says so), never filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(
        serialize_with = "serialize_moment",
        deserialize_with = "deserialize_moment"
    )]
    pub at: Timestamp,
    pub kind: Kind,
    pub workflow: String,
    pub instance: String,
    pub gemeente: String,
    pub case: String,
    /// The deadline id; for a signal, the signal's name.
    pub deadline: String,
    /// The due date; absent for signals.
    pub due: Option<Day>,
    pub to: Vec<String>,
    pub level: u32,
    pub message: String,
    /// An overview's deadlines (kind `overview` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<super::view::OverviewItem>,
    /// A scheduled report's figures (kind `report` only), as `GET /v1/report` gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<crate::report::Report>>,
}

impl Notification {
    /// The record as one JSON line, byte for byte what `serde_json` makes of it (the derive
    /// above), but written by hand: `simulate` writes millions, and serde's way (every key
    /// escaped, every field through a generic call) was a tenth of its work. An overview or a
    /// report, few and nested, goes through serde.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        if !self.items.is_empty() || self.report.is_some() {
            serde_json::to_writer(&mut *out, self).expect("a notification always serialises");
            out.push(b'\n');
            return;
        }
        out.extend_from_slice(b"{\"id\":");
        json_string(out, &self.id);
        out.extend_from_slice(b",\"at\":\"");
        out.extend_from_slice(calendar::format_timestamp(self.at).as_bytes());
        out.extend_from_slice(b"\",\"kind\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"workflow\":");
        json_string(out, &self.workflow);
        out.extend_from_slice(b",\"instance\":");
        json_string(out, &self.instance);
        out.extend_from_slice(b",\"gemeente\":");
        json_string(out, &self.gemeente);
        out.extend_from_slice(b",\"case\":");
        json_string(out, &self.case);
        out.extend_from_slice(b",\"deadline\":");
        json_string(out, &self.deadline);
        out.extend_from_slice(b",\"due\":");
        match self.due {
            // A day is digits and dashes: nothing to escape.
            Some(day) => {
                out.push(b'"');
                write_day(out, day);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"to\":[");
        for (n, to) in self.to.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            json_string(out, to);
        }
        out.extend_from_slice(b"],\"level\":");
        match u8::try_from(self.level) {
            Ok(level @ 0..=9) => out.push(b'0' + level),
            _ => out.extend_from_slice(self.level.to_string().as_bytes()),
        }
        out.extend_from_slice(b",\"message\":");
        json_string(out, &self.message);
        out.extend_from_slice(b"}\n");
    }
}

/// A day as its `Display` writes it (`2027-04-28`), without the formatting machinery.
fn write_day(out: &mut Vec<u8>, day: Day) {
    let (year, month, date) = day.ymd();
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(day.to_string().as_bytes());
        return;
    }
    let year = year as u32;
    for (n, digits) in [(year, 1000), (month, 10), (date, 10)] {
        if digits == 10 {
            out.push(b'-');
        }
        let mut unit = digits;
        while unit > 0 {
            out.push(b'0' + (n / unit % 10) as u8);
            unit /= 10;
        }
    }
}

/// A JSON string as `serde_json` writes it: as it is when nothing in it needs escaping (the
/// usual text), else by `serde_json` itself, so that its escapes are the ones used.
fn json_string(out: &mut Vec<u8>, text: &str) {
    // Folded without stopping early, so the compiler can look at many bytes at once.
    let plain = text.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, text).expect("a string always serialises");
    }
}

fn serialize_moment<S: serde::Serializer>(
    moment: &Timestamp,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&calendar::format_timestamp(*moment))
}

fn deserialize_moment<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Timestamp, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    calendar::parse_timestamp(&text).map_err(serde::de::Error::custom)
}

/// What makes a notification the same notification: receivers deduplicate on the id made from
/// this, so it must not contain anything that changes between a send and a retry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity<'a> {
    pub instance: &'a str,
    pub deadline: &'a str,
    /// Recurring deadlines: which occurrence; 0 otherwise.
    pub occurrence: u32,
    /// The due date it was computed for: a due date that moves (a correction, an extension)
    /// makes a new notification.
    pub due: Option<Day>,
    pub kind: Kind,
    pub level: u32,
    /// Which reminder of the deadline (0 for the first in the list), or for a signal the id of
    /// the event that raised it.
    pub detail: &'a str,
}

impl Identity<'_> {
    /// 128 bits of SHA-256 over the fields, hex: stable across versions and platforms.
    pub fn id(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [self.instance, self.deadline, self.detail] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.update(self.occurrence.to_le_bytes());
        hasher.update(self.due.map_or(i32::MIN, Day::number).to_le_bytes());
        hasher.update([self.kind as u8]);
        hasher.update(self.level.to_le_bytes());
        hex(&hasher.finalize()[..16])
    }
}

/// The id of a digest mail: the same notifications to the same address give the same id.
pub fn digest_id(notification_ids: &[&str], address: &str) -> String {
    let mut hasher = Sha256::new();
    for id in notification_ids {
        hasher.update(id.as_bytes());
        hasher.update([0]);
    }
    hasher.update(address.as_bytes());
    hex(&hasher.finalize()[..16])
}

/// Bytes as lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for b in bytes {
        text.push(HEX[usize::from(b >> 4)] as char);
        text.push(HEX[usize::from(b & 15)] as char);
    }
    text
}

const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

/// `28 april 2027`.
pub fn dutch_date(day: Day) -> String {
    let mut text = String::new();
    push_dutch_date(&mut text, day);
    text
}

fn push_dutch_date(out: &mut String, day: Day) {
    use std::fmt::Write;
    let (year, month, day) = day.ymd();
    write!(out, "{day} {} {year}", MONTHS[month as usize - 1]).expect("writing to memory");
}

/// `woensdag 28 april 2027`: a date with its weekday, as a message gives it.
pub fn dutch_day(day: Day) -> String {
    let mut text = String::new();
    push_dutch_day(&mut text, day);
    text
}

/// [`dutch_day`] at the end of `out`: a message is written in one piece.
fn push_dutch_day(out: &mut String, day: Day) {
    use crate::calendar::Weekday::*;
    let weekday = match day.weekday() {
        Monday => "maandag",
        Tuesday => "dinsdag",
        Wednesday => "woensdag",
        Thursday => "donderdag",
        Friday => "vrijdag",
        Saturday => "zaterdag",
        Sunday => "zondag",
    };
    out.push_str(weekday);
    out.push(' ');
    push_dutch_date(out, day);
}

/// The values a message template can use.
pub struct MessageValues<'a> {
    pub titel: &'a str,
    pub workflow: &'a str,
    pub casus: &'a str,
    pub due: Option<Day>,
    /// Days until the due date (a reminder) or since it (an escalation).
    pub dagen: i32,
    /// Whether `dagen` counts days past the due date.
    pub late: bool,
    pub niveau: u32,
    /// Who owns the deadline, as the workflow describes the role (`Klachtenfunctionaris`).
    pub eigenaar: &'a str,
    pub data: &'a serde_json::Map<String, serde_json::Value>,
    /// The workflow's words for data values (`words:`): field -> value -> words.
    pub words: &'a std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// Fills the placeholders; the workflow reader has checked that each one exists.
pub fn render(template: &str, values: &MessageValues<'_>) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        match name {
            "titel" => out.push_str(values.titel),
            "workflow" => out.push_str(values.workflow),
            "casus" => out.push_str(values.casus),
            "datum" => {
                if let Some(due) = values.due {
                    push_dutch_day(&mut out, due);
                }
            }
            "dagen" => match values.dagen {
                1 => out.push_str("1 dag"),
                n => write!(out, "{n} dagen").expect("writing to memory"),
            },
            "wanneer" => push_when(&mut out, values.late, values.dagen),
            "eigenaar" => out.push_str(&the_role(values.eigenaar)),
            "niveau" => write!(out, "{}", values.niveau).expect("writing to memory"),
            other => {
                let field = other.strip_prefix("data.").unwrap_or(other);
                let value = crate::event::data_text(values.data, field).unwrap_or_default();
                match values.words.get(field).and_then(|words| words.get(&value)) {
                    Some(words) => out.push_str(words),
                    None => out.push_str(&value),
                }
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// How far off a due date is, as a person says it: `morgen`, `nog 12 dagen`, `over ongeveer
/// 3 maanden`, `over ongeveer een jaar` (nobody counts 366 days); or how long ago.
fn push_when(out: &mut String, late: bool, days: i32) {
    use std::fmt::Write;
    let months = |days: i32| (days + 15) / 30;
    let written = match (late, days) {
        (false, ..=0) => out.write_str("vandaag"),
        (false, 1) => out.write_str("morgen"),
        (false, 2..=31) => write!(out, "nog {days} dagen"),
        (false, 32..=45) => out.write_str("over ongeveer een maand"),
        (false, 46..=349) => write!(out, "over ongeveer {} maanden", months(days)),
        (false, 350..=545) => out.write_str("over ongeveer een jaar"),
        (false, _) => write!(out, "over ongeveer {} jaar", (days + 182) / 365),
        (true, ..=1) => out.write_str("gisteren"),
        (true, 2..=31) => write!(out, "{days} dagen geleden"),
        (true, 32..=45) => out.write_str("ruim een maand geleden"),
        (true, _) => write!(out, "ongeveer {} maanden geleden", months(days)),
    };
    written.expect("writing to memory");
}

/// A role as a sentence names it: `de klachtenfunctionaris`, `de professional van de jeugdige`,
/// `het afdelingshoofd` (a role whose head noun is neuter takes `het`).
fn the_role(description: &str) -> String {
    let mut chars = description.chars();
    let Some(first) = chars.next() else {
        return "de eigenaar van de taak".to_string();
    };
    let head = description
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let article = if ["hoofd", "team", "lid", "bestuur", "college", "meldpunt"]
        .iter()
        .any(|neuter| head.ends_with(neuter))
    {
        "het"
    } else {
        "de"
    };
    format!("{article} {}{}", first.to_lowercase(), chars.as_str())
}

// The defaults a workflow's own texts replace. Written for the person who receives them:
// the case and the task first, the date with its weekday, what to do now; short sentences.
pub const DEFAULT_REMINDER: &str = "Casus {casus}: {titel}. Uiterlijk {datum}, {wanneer}.";
// An escalation says what is late, and then one thing to do today that fits who reads it: the
// owner does it; the first one up speaks to the owner; those above find out why it stalls.
// The title stands alone as the name of the task, so any title (or two joined by "en") reads.
pub const DEFAULT_ESCALATION: &str = "Casus {casus}: {titel}. Dit had {wanneer}, op {datum}, klaar moeten zijn en het is nog niet gebeurd. Het is de taak van {eigenaar}. Spreek die vandaag aan en spreek af wanneer het wel gebeurt.";
/// To the owner of the task itself (an escalation that reaches them again).
pub const DEFAULT_ESCALATION_OWNER: &str = "Casus {casus}: {titel}. Dit had {wanneer}, op {datum}, klaar moeten zijn en het is nog niet gebeurd. Het is uw taak: doe het vandaag, of laat weten wanneer het wel gebeurt.";
/// From level 2 on, to those above the one who spoke to the owner (a contactpersoon of the
/// gemeente, the regional accountmanager).
pub const DEFAULT_ESCALATION_HIGHER: &str = "Casus {casus}: {titel}. Dit had {wanneer}, op {datum}, klaar moeten zijn en het is nog niet gebeurd, ook niet na een eerder bericht. Het is de taak van {eigenaar}. Ga vandaag na waarom het blijft liggen en wat er nodig is om het alsnog te doen.";
/// Added to the last escalation of a chain, whatever its text: the reader must know that
/// silence after it does not mean the task is done.
pub fn last_escalation(deadlines: usize) -> &'static str {
    if deadlines == 1 {
        "Dit is het laatste bericht hierover. Waakvlam stuurt over deze termijn geen berichten meer."
    } else {
        "Dit is het laatste bericht hierover. Waakvlam stuurt over deze termijnen geen berichten meer."
    }
}
/// To the gemeente a young person moves to at 18 (`casus.woonplaats_vastgesteld`; seed 000
/// r. 1236-1245: from 18 the young person's own residence decides which gemeente answers).
pub const MOVES_AT_18: &str = "Casus {casus} van {data.gemeente_van}: de jongere wordt {data.verjaardag_18} 18 jaar en woont dan in {data.gemeente_na_18}. Vanaf die dag is uw gemeente verantwoordelijk. Neem voor die dag contact op met {data.gemeente_van} voor een warme overdracht.";
pub const INCOMPLETE_BIRTH_DATE: &str = "Van casus {casus} is de geboortedatum niet volledig bekend. Daardoor weet Waakvlam niet wanneer de jongere 16 en 18 jaar wordt. Vul de volledige geboortedatum aan in het dossier.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let identity = Identity {
            instance: "klachttermijnen/GM0150/C-1/K-9",
            deadline: "in_behandeling",
            occurrence: 0,
            due: "2027-04-27".parse().ok(),
            kind: Kind::Reminder,
            level: 0,
            detail: "0",
        };
        assert_eq!(identity.id(), identity.clone().id());
        assert_eq!(identity.id().len(), 32);
        assert_ne!(
            identity.id(),
            Identity {
                level: 1,
                kind: Kind::Escalation,
                ..identity.clone()
            }
            .id()
        );
        assert_ne!(
            identity.id(),
            Identity {
                detail: "1",
                ..identity.clone()
            }
            .id()
        );
    }

    #[test]
    fn renders_dutch_messages() {
        let data = serde_json::json!({"klacht_id": "K-9"});
        let values = MessageValues {
            titel: "Klacht in behandeling nemen",
            workflow: "Klachtbehandeling jeugdhulp",
            casus: "C-1",
            due: "2027-04-27".parse().ok(),
            dagen: 3,
            late: false,
            niveau: 0,
            eigenaar: "Klachtenfunctionaris",
            data: data.as_object().unwrap(),
            words: &Default::default(),
        };
        assert_eq!(
            render(
                "{titel} voor klacht {data.klacht_id} uiterlijk {datum} (nog {dagen})",
                &values
            ),
            "Klacht in behandeling nemen voor klacht K-9 uiterlijk dinsdag 27 april 2027 (nog 3 dagen)"
        );
        assert_eq!(
            render(DEFAULT_REMINDER, &values),
            "Casus C-1: Klacht in behandeling nemen. Uiterlijk dinsdag 27 april 2027, nog 3 dagen."
        );
        let today = MessageValues { dagen: 0, ..values };
        assert_eq!(render("{wanneer}", &today), "vandaag");
        let tomorrow = MessageValues { dagen: 1, ..today };
        assert_eq!(
            render("{wanneer}, nog {dagen}", &tomorrow),
            "morgen, nog 1 dag"
        );
        let late = MessageValues {
            dagen: 1,
            late: true,
            ..tomorrow
        };
        assert_eq!(
            render(DEFAULT_ESCALATION, &late),
            "Casus C-1: Klacht in behandeling nemen. Dit had gisteren, op dinsdag 27 april 2027, klaar moeten zijn en het is nog niet gebeurd. Het is de taak van de klachtenfunctionaris. Spreek die vandaag aan en spreek af wanneer het wel gebeurt."
        );
        assert_eq!(
            the_role("Afdelingshoofd van de betrokken medewerkers"),
            "het afdelingshoofd van de betrokken medewerkers"
        );
        assert_eq!(
            the_role("Teamleider Veilig Thuis"),
            "de teamleider Veilig Thuis"
        );
        // Far off, in months and years rather than in days; long ago likewise.
        for (late, days, said) in [
            (false, 31, "nog 31 dagen"),
            (false, 40, "over ongeveer een maand"),
            (false, 92, "over ongeveer 3 maanden"),
            (false, 366, "over ongeveer een jaar"),
            (false, 1100, "over ongeveer 3 jaar"),
            (true, 3, "3 dagen geleden"),
            (true, 70, "ongeveer 2 maanden geleden"),
        ] {
            let mut when = String::new();
            push_when(&mut when, late, days);
            assert_eq!(when, said, "{days}");
        }
    }

    mod json_line {
        use super::*;
        use crate::engine::view::{DeadlineState, OverviewItem};
        use proptest::prelude::*;

        fn by_serde(notification: &Notification) -> Vec<u8> {
            let mut line = serde_json::to_vec(notification).unwrap();
            line.push(b'\n');
            line
        }

        fn by_hand(notification: &Notification) -> Vec<u8> {
            let mut line = b"already there".to_vec();
            notification.write_json_line(&mut line);
            line.split_off(13)
        }

        /// Any text, with the characters JSON escapes (quotes, backslashes, control
        /// characters), and Dutch and other non-ASCII letters, which it does not.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-zA-Z0-9 /._-]{0,40}",
                "[\\x00-\\x1f\"\\\\a\\x7féëïçș€😀\\u{2028}]{0,12}",
                any::<String>(),
            ]
        }

        fn notification() -> impl Strategy<Value = Notification> {
            (
                (text(), text(), text(), text(), text(), text(), text()),
                (
                    -2_000_000_000i64..12_000_000_000,
                    0..5u8,
                    proptest::option::of(-800_000..3_000_000i32),
                    proptest::collection::vec(text(), 0..4),
                    any::<u32>(),
                ),
            )
                .prop_map(
                    |(
                        (id, workflow, instance, gemeente, case, deadline, message),
                        (second, kind, due, to, level),
                    )| Notification {
                        id,
                        at: Timestamp::from_second(second).unwrap(),
                        kind: [
                            Kind::Reminder,
                            Kind::Escalation,
                            Kind::Signal,
                            Kind::Overview,
                            Kind::Report,
                        ][usize::from(kind)],
                        workflow,
                        instance,
                        gemeente,
                        case,
                        deadline,
                        due: due.map(Day::from_number),
                        to,
                        level,
                        message,
                        items: Vec::new(),
                        report: None,
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn a_line_by_hand_is_the_line_serde_writes(n in notification()) {
                let (hand, serde) = (by_hand(&n), by_serde(&n));
                prop_assert_eq!(String::from_utf8(hand).unwrap(), String::from_utf8(serde).unwrap());
            }
        }

        #[test]
        fn an_overview_is_written_by_serde() {
            let mut overview = Notification {
                id: "0f".into(),
                at: Timestamp::from_second(1_800_000_000).unwrap(),
                kind: Kind::Overview,
                workflow: "overzicht".into(),
                instance: "overzicht/GM0150".into(),
                gemeente: "GM0150".into(),
                case: String::new(),
                deadline: "week".into(),
                due: None,
                to: vec!["teamleider".into()],
                level: 0,
                message: "Overzicht \"week\"".into(),
                items: Vec::new(),
                report: None,
            };
            overview.items.push(OverviewItem {
                case: "C-1".into(),
                workflow: "klachttermijnen".into(),
                deadline: "afgehandeld".into(),
                title: "Klacht afhandelen".into(),
                due: "2027-04-27".parse().ok(),
                status: DeadlineState::Open,
            });
            assert_eq!(by_hand(&overview), by_serde(&overview));
            assert!(
                String::from_utf8(by_hand(&overview))
                    .unwrap()
                    .contains("\"items\":[{")
            );
        }
    }
}
