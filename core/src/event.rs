//! Events: the input of Waakvlam, their vocabulary and their validation.
//!
//! An event is checked completely before anything accepts it (DESIGN.md, "Events"): a known type,
//! every field present and well-formed, the data fields that type needs, and no BSN-like number
//! anywhere a BSN does not belong. The checks return every problem of one event at once.

use std::fmt;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::calendar::{self, Day};

mod quick;

/// What kind of value a data field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text (an id, a code).
    Text,
    /// YYYY-MM-DD.
    Date,
    /// A birth date: YYYY-MM-DD, or YYYY-MM / YYYY when the day or month is unknown (iJw COD170).
    BirthDate,
    /// true or false.
    Boolean,
    /// A two-digit JZ588 reason code ("31"); a number is accepted and read as its digits.
    ReasonCode,
    /// One of a fixed list.
    OneOf(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug)]
pub struct DataField {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
}

/// One type of the shipped vocabulary (DESIGN.md, "Shipped vocabulary").
#[derive(Debug)]
pub struct EventSpec {
    pub name: &'static str,
    /// What happened, in Dutch words for a sentence: `klacht ingediend`.
    pub words: &'static str,
    pub fields: &'static [DataField],
}

const fn field(name: &'static str, kind: FieldKind, required: bool) -> DataField {
    DataField {
        name,
        kind,
        required,
    }
}

pub const ROUTES: &[&str] = &["verlengde_jeugdhulp", "wmo", "wlz", "zvw", "geen"];

const CASE_FACTS: &[DataField] = &[
    field("geboortedatum", FieldKind::BirthDate, true),
    field("professional", FieldKind::Text, false),
    field("team", FieldKind::Text, false),
];
const CASE_CORRECTION: &[DataField] = &[
    field("geboortedatum", FieldKind::BirthDate, false),
    field("professional", FieldKind::Text, false),
    field("team", FieldKind::Text, false),
];
const KLACHT: &[DataField] = &[field("klacht_id", FieldKind::Text, true)];
const MELDING: &[DataField] = &[field("melding_id", FieldKind::Text, true)];
const BEZWAAR: &[DataField] = &[field("bezwaar_id", FieldKind::Text, true)];
const ED: &[DataField] = &[field("aanmelding_id", FieldKind::Text, true)];
const MOPLAN: &[DataField] = &[field("plan_id", FieldKind::Text, true)];

/// The shipped vocabulary. Its order is the order of [`EventType`] indices.
pub static VOCABULARY: &[EventSpec] = &[
    EventSpec {
        name: "casus.aangemeld",
        words: "casus aangemeld",
        fields: CASE_FACTS,
    },
    EventSpec {
        name: "casus.gewijzigd",
        words: "gegevens van de casus gewijzigd",
        fields: CASE_CORRECTION,
    },
    EventSpec {
        name: "casus.gesloten",
        words: "casus gesloten",
        fields: &[],
    },
    EventSpec {
        name: "zorg.gestart",
        words: "zorg gestart",
        fields: &[],
    },
    EventSpec {
        name: "zorg.beeindigd",
        words: "zorg beëindigd",
        fields: &[field("reden", FieldKind::ReasonCode, true)],
    },
    EventSpec {
        name: "toekomstplan.opgesteld",
        words: "toekomstplan opgesteld",
        fields: &[],
    },
    EventSpec {
        name: "overdracht.perspectief_bepaald",
        words: "route na 18 jaar bepaald",
        fields: &[field("route", FieldKind::OneOf(ROUTES), true)],
    },
    EventSpec {
        name: "overdracht.aanvraag_ingediend",
        words: "aanvraag voor volwassenenzorg ingediend",
        fields: &[],
    },
    EventSpec {
        name: "overdracht.afgerond",
        words: "warme overdracht bij 18 jaar afgerond",
        fields: &[],
    },
    EventSpec {
        name: "overdracht.volwassenenzorg",
        words: "warme overdracht naar volwassenenzorg afgerond",
        fields: &[],
    },
    EventSpec {
        name: "nazorg.contact",
        words: "nazorgcontact gehad",
        fields: &[],
    },
    EventSpec {
        name: "nazorg.signaal",
        words: "signaal van terugval gemeld",
        fields: &[],
    },
    EventSpec {
        name: "klacht.ingediend",
        words: "klacht ingediend",
        fields: KLACHT,
    },
    EventSpec {
        name: "klacht.in_behandeling",
        words: "klacht in behandeling genomen",
        fields: KLACHT,
    },
    EventSpec {
        name: "klacht.verdaagd",
        words: "behandeling van de klacht verdaagd",
        fields: KLACHT,
    },
    EventSpec {
        name: "klacht.afgerond",
        words: "klacht afgehandeld",
        fields: KLACHT,
    },
    EventSpec {
        name: "klacht.ingetrokken",
        words: "klacht ingetrokken",
        fields: KLACHT,
    },
    EventSpec {
        name: "veiligthuis.melding",
        words: "melding bij Veilig Thuis ontvangen",
        fields: MELDING,
    },
    EventSpec {
        name: "veiligthuis.besluit_onderzoek",
        words: "besluit van Veilig Thuis tot onderzoek",
        fields: MELDING,
    },
    EventSpec {
        name: "veiligthuis.beoordeeld",
        words: "melding door Veilig Thuis beoordeeld",
        fields: MELDING,
    },
    EventSpec {
        name: "bezwaar.ingediend",
        words: "bezwaarschrift ontvangen",
        fields: &[
            field("bezwaar_id", FieldKind::Text, true),
            field("bekendgemaakt", FieldKind::Date, true),
            field("adviescommissie", FieldKind::Boolean, true),
        ],
    },
    EventSpec {
        name: "bezwaar.verzuim",
        words: "verzuim in het bezwaarschrift",
        fields: BEZWAAR,
    },
    EventSpec {
        name: "bezwaar.hersteld",
        words: "verzuim hersteld",
        fields: BEZWAAR,
    },
    EventSpec {
        name: "bezwaar.verdaagd",
        words: "beslissing op het bezwaar verdaagd",
        fields: BEZWAAR,
    },
    EventSpec {
        name: "bezwaar.beslist",
        words: "op het bezwaar beslist",
        fields: BEZWAAR,
    },
    EventSpec {
        name: "ed.aangemeld",
        words: "aangemeld bij Team ED",
        fields: ED,
    },
    EventSpec {
        name: "ed.gekoppeld",
        words: "gekoppeld aan een ervaringsdeskundige",
        fields: ED,
    },
    EventSpec {
        name: "rvdk.verzoek_burgemeester",
        words: "verzoek van de burgemeester aan de Raad voor de Kinderbescherming",
        fields: &[
            field("verzoek_id", FieldKind::Text, true),
            field("dagtekening", FieldKind::Date, true),
        ],
    },
    EventSpec {
        name: "rvdk.oordeel_gevraagd",
        words: "oordeel van de rechter gevraagd door de Raad",
        fields: &[field("verzoek_id", FieldKind::Text, true)],
    },
    EventSpec {
        name: "casus.woonplaats_vastgesteld",
        words: "woonplaats na 18 jaar vastgesteld",
        fields: &[field("gemeente_na_18", FieldKind::Text, true)],
    },
    EventSpec {
        name: "bericht.ingetrokken",
        words: "eerder bericht ingetrokken",
        fields: &[field("ingetrokken_id", FieldKind::Text, true)],
    },
    EventSpec {
        name: "moplan.opgesteld",
        words: "MO-plan opgesteld",
        fields: MOPLAN,
    },
    EventSpec {
        name: "moplan.geevalueerd",
        words: "MO-plan geëvalueerd",
        fields: MOPLAN,
    },
    EventSpec {
        name: "moplan.nazorg_vastgelegd",
        words: "nazorg in het MO-plan vastgelegd",
        fields: &[
            field("plan_id", FieldKind::Text, true),
            field("uitvoerder", FieldKind::Text, true),
            field("niveau", FieldKind::Text, true),
        ],
    },
];

/// Byte-wise equality, usable while compiling.
const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// An event type of the vocabulary, by index into [`VOCABULARY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(u8);

impl EventType {
    pub fn from_name(name: &str) -> Option<EventType> {
        VOCABULARY
            .iter()
            .position(|spec| spec.name == name)
            .map(|i| EventType(i as u8))
    }

    /// The type of this name, found while compiling: a name that is not in the vocabulary
    /// does not compile (see the constants below), so code never looks a type up by text.
    pub const fn of(name: &str) -> EventType {
        let mut i = 0;
        while i < VOCABULARY.len() {
            if same(VOCABULARY[i].name.as_bytes(), name.as_bytes()) {
                return EventType(i as u8);
            }
            i += 1;
        }
        panic!("not an event type of the vocabulary")
    }

    pub const CASUS_AANGEMELD: EventType = EventType::of("casus.aangemeld");
    pub const CASUS_GEWIJZIGD: EventType = EventType::of("casus.gewijzigd");
    pub const CASUS_GESLOTEN: EventType = EventType::of("casus.gesloten");
    pub const CASUS_WOONPLAATS_VASTGESTELD: EventType =
        EventType::of("casus.woonplaats_vastgesteld");
    pub const ZORG_GESTART: EventType = EventType::of("zorg.gestart");
    pub const ZORG_BEEINDIGD: EventType = EventType::of("zorg.beeindigd");
    /// Withdraws an earlier event of the case (an iJw delete): the case is rebuilt as if it
    /// never arrived.
    pub const BERICHT_INGETROKKEN: EventType = EventType::of("bericht.ingetrokken");

    pub fn name(self) -> &'static str {
        VOCABULARY[self.0 as usize].name
    }

    /// What happened, in Dutch words: `klacht ingediend`.
    pub fn words(self) -> &'static str {
        VOCABULARY[self.0 as usize].words
    }

    pub fn spec(self) -> &'static EventSpec {
        &VOCABULARY[self.0 as usize]
    }

    pub fn all() -> impl Iterator<Item = EventType> {
        (0..VOCABULARY.len()).map(|i| EventType(i as u8))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated event. `data` holds the normalised data fields (reason codes as strings).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: String,
    pub event_type: EventType,
    pub gemeente: String,
    pub case: String,
    pub at: Timestamp,
    pub data: Map<String, Value>,
}

impl Event {
    /// A data field as text, for keys and conditions: strings as they are, numbers and booleans
    /// as JSON writes them.
    pub fn data_text(&self, name: &str) -> Option<String> {
        data_text(&self.data, name)
    }

    pub fn data_day(&self, name: &str) -> Option<Day> {
        self.data.get(name)?.as_str()?.parse().ok()
    }
}

pub fn data_text(data: &Map<String, Value>, name: &str) -> Option<String> {
    match data.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A birth date as the source gives it; never completed by guessing (DOMAIN.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BirthDate {
    Full(Day),
    /// Day unknown.
    YearMonth(i32, u32),
    /// Day and month unknown.
    Year(i32),
}

impl BirthDate {
    pub fn parse(text: &str) -> Option<BirthDate> {
        if let Ok(day) = text.parse::<Day>() {
            return Some(BirthDate::Full(day));
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match text.split('-').collect::<Vec<_>>().as_slice() {
            [year] if year.len() == 4 && digits(year) => Some(BirthDate::Year(year.parse().ok()?)),
            [year, month]
                if year.len() == 4 && month.len() == 2 && digits(year) && digits(month) =>
            {
                let month: u32 = month.parse().ok()?;
                let year: i32 = year.parse().ok()?;
                (1..=12)
                    .contains(&month)
                    .then_some(BirthDate::YearMonth(year, month))
            }
            _ => None,
        }
    }

    pub fn year(self) -> i32 {
        match self {
            BirthDate::Full(day) => day.year(),
            BirthDate::YearMonth(year, _) | BirthDate::Year(year) => year,
        }
    }

    pub fn full(self) -> Option<Day> {
        match self {
            BirthDate::Full(day) => Some(day),
            _ => None,
        }
    }
}

/// Why an event was refused; every problem of the event, each a sentence for the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("; "))]
pub struct EventError {
    pub problems: Vec<String>,
}

const TOP_LEVEL: &[&str] = &["id", "type", "gemeente", "case", "at", "data"];

/// Checks one event as it arrives (a JSON value) and returns it validated. Takes the value
/// by value: its strings and data move into the event instead of being copied.
pub fn validate(value: Value) -> Result<Event, EventError> {
    let mut problems = Vec::new();
    let Value::Object(mut object) = value else {
        return Err(EventError {
            problems: vec![
                "an event is a JSON object with id, type, gemeente, case, at and data".into(),
            ],
        });
    };
    for key in object.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(
                match crate::suggest::closest(key, TOP_LEVEL.iter().copied()) {
                    Some(near) => {
                        format!("unknown field '{}' (did you mean '{near}'?)", shown(key))
                    }
                    None => format!(
                        "unknown field '{}'; an event has {}",
                        shown(key),
                        TOP_LEVEL.join(", ")
                    ),
                },
            );
        }
    }
    let mut text = |name: &str| -> Option<String> {
        match object.remove(name) {
            Some(Value::String(text)) if !text.trim().is_empty() => Some(text),
            Some(Value::String(_)) => {
                problems.push(format!("'{name}' is empty"));
                None
            }
            Some(_) => {
                problems.push(format!("'{name}' must be a string"));
                None
            }
            None => {
                problems.push(format!("missing field '{name}'"));
                None
            }
        }
    };
    let id = text("id");
    let type_name = text("type");
    let gemeente = text("gemeente");
    let case = text("case");
    let at = text("at");
    let data = object.remove("data");
    checked(problems, (id, type_name, gemeente, case, at), data)
}

/// An event read straight into its fields, for a reader that parses many events and wants no
/// JSON tree of each first (`simulate`): any field it does not know, or of another kind, and
/// the event is not read this way, and [`validate`] gives the problems.
#[derive(serde::Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    gemeente: String,
    case: String,
    at: String,
    #[serde(default)]
    data: Value,
}

/// [`validate`] of an event read into its [`Fields`]; the same checks, the same event.
pub fn validate_fields(fields: Fields) -> Result<Event, EventError> {
    let mut problems = Vec::new();
    let mut text = |name: &str, text: String| {
        if text.trim().is_empty() {
            problems.push(format!("'{name}' is empty"));
            None
        } else {
            Some(text)
        }
    };
    let id = text("id", fields.id);
    let type_name = text("type", fields.kind);
    let gemeente = text("gemeente", fields.gemeente);
    let case = text("case", fields.case);
    let at = text("at", fields.at);
    checked(
        problems,
        (id, type_name, gemeente, case, at),
        Some(fields.data),
    )
}

type Texts = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The checks of an event once its fields are taken out: type, gemeente code, no BSN, the
/// moment, and the data its type needs.
fn checked(
    mut problems: Vec<String>,
    (id, type_name, gemeente, case, at): Texts,
    data: Option<Value>,
) -> Result<Event, EventError> {
    let event_type = type_name.as_deref().and_then(|name| {
        let found = EventType::from_name(name);
        if found.is_none() {
            problems.push(
                match crate::suggest::closest(name, VOCABULARY.iter().map(|s| s.name)) {
                    Some(near) => format!(
                        "unknown event type '{}' (did you mean '{near}'?)",
                        shown(name)
                    ),
                    None => format!("unknown event type '{}'", shown(name)),
                },
            );
        }
        found
    });
    if let Some(gemeente) = &gemeente
        && !is_gemeente_code(gemeente)
    {
        problems.push(format!(
            "'gemeente' must be a CBS code such as GM0150, not '{}'",
            shown(gemeente)
        ));
    }
    if let Some(id) = &id {
        if has_bsn_like_number(id) {
            problems.push(
                "'id' holds a 9-digit number that may be a BSN; Waakvlam never stores a BSN, so give the event another id".into(),
            );
        }
        if has_control_character(id) {
            problems.push(
                "'id' holds a control character (a tab, a line break); ids are plain text".into(),
            );
        }
    }
    if let Some(case) = &case {
        if has_bsn_like_number(case) {
            problems.push(
                "'case' holds a 9-digit number that may be a BSN; use the pseudonymous case id"
                    .into(),
            );
        }
        if has_control_character(case) {
            problems.push(
                "'case' holds a control character (a tab, a line break); case ids are plain text"
                    .into(),
            );
        }
    }
    let at = at.and_then(|at| match calendar::parse_timestamp(&at) {
        Ok(moment) if in_supported_years(calendar::local_day(moment)) => Some(moment),
        Ok(_) => {
            problems.push(format!("'at' must lie between {FIRST_YEAR} and {LAST_YEAR}, not '{}'", shown(&at)));
            None
        }
        Err(_) => {
            problems.push(format!(
                "'at' must be RFC 3339 with an offset, for example 2027-04-13T10:15:00+02:00, not '{}'",
                shown(&at)
            ));
            None
        }
    });
    let data = match data {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(data)) => data,
        Some(_) => {
            problems.push("'data' must be a JSON object".into());
            Map::new()
        }
    };
    let data = match event_type {
        Some(event_type) => check_data(event_type, data, &mut problems),
        None => data,
    };
    match (id, event_type, gemeente, case, at) {
        (Some(id), Some(event_type), Some(gemeente), Some(case), Some(at))
            if problems.is_empty() =>
        {
            Ok(Event {
                id,
                event_type,
                gemeente,
                case,
                at,
                data,
            })
        }
        _ => Err(EventError { problems }),
    }
}

fn check_data(
    event_type: EventType,
    mut data: Map<String, Value>,
    problems: &mut Vec<String>,
) -> Map<String, Value> {
    let type_name = event_type.name();
    for field in event_type.spec().fields {
        let Some(value) = data.get(field.name) else {
            if field.required {
                problems.push(format!("{type_name} needs data.{}", field.name));
            }
            continue;
        };
        let name = field.name;
        let normalised = match (field.kind, value) {
            (FieldKind::Text, Value::String(_)) => None,
            (FieldKind::Date, Value::String(text))
                if text.parse::<Day>().is_ok_and(in_supported_years) =>
            {
                None
            }
            (FieldKind::BirthDate, Value::String(text))
                if BirthDate::parse(text)
                    .is_some_and(|b| (FIRST_YEAR..=LAST_YEAR).contains(&b.year())) =>
            {
                None
            }
            (FieldKind::Boolean, Value::Bool(_)) => None,
            (FieldKind::ReasonCode, Value::String(text)) if is_reason_code(text) => None,
            (FieldKind::ReasonCode, Value::Number(number)) if reason_code_of(number).is_some() => {
                reason_code_of(number).map(Value::String)
            }
            (FieldKind::OneOf(allowed), Value::String(text))
                if allowed.contains(&text.as_str()) =>
            {
                None
            }
            (kind, _) => {
                problems.push(format!("data.{name} {}", expectation(kind)));
                continue;
            }
        };
        if let Some(normalised) = normalised {
            data.insert(name.to_string(), normalised);
        }
    }
    for (name, value) in &data {
        if has_bsn_like_number(name) {
            problems.push(
                "a key of 'data' holds a 9-digit number that may be a BSN; Waakvlam never stores a BSN".into(),
            );
        } else if value_has_bsn_like_number(value) {
            problems.push(format!(
                "data.{name} holds a 9-digit number that may be a BSN; Waakvlam never stores a BSN"
            ));
        }
    }
    data
}

fn expectation(kind: FieldKind) -> String {
    match kind {
        FieldKind::Text => "must be a string".into(),
        FieldKind::Date => {
            format!("must be a date YYYY-MM-DD between {FIRST_YEAR} and {LAST_YEAR}")
        }
        FieldKind::BirthDate => format!(
            "must be a date YYYY-MM-DD, or YYYY-MM or YYYY when the day or month is unknown, between {FIRST_YEAR} and {LAST_YEAR}"
        ),
        FieldKind::Boolean => "must be true or false".into(),
        FieldKind::ReasonCode => "must be a two-digit JZ588 reason code such as \"31\"".into(),
        FieldKind::OneOf(allowed) => format!("must be one of {}", allowed.join(", ")),
    }
}

/// The years an event may speak of. Deadlines run some years past any date in them, and
/// every date the engine computes must stay within what the calendar and jiff can represent.
const FIRST_YEAR: i32 = 1900;
const LAST_YEAR: i32 = 2199;

fn in_supported_years(day: Day) -> bool {
    (FIRST_YEAR..=LAST_YEAR).contains(&day.year())
}

/// A reason code sent as a number: any whole number from 0 to 99 (JSON's `31`, `31.0`), as
/// its two digits (1 is "01").
fn reason_code_of(number: &serde_json::Number) -> Option<String> {
    let value = number.as_f64()?;
    (value.fract() == 0.0 && (0.0..=99.0).contains(&value)).then(|| format!("{:02}", value as u8))
}

fn is_reason_code(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit())
}

pub fn is_gemeente_code(code: &str) -> bool {
    code.len() == 6 && code.starts_with("GM") && code[2..].bytes().all(|b| b.is_ascii_digit())
}

/// True when `text` holds a number that may be a BSN: nine digits, written as one run
/// (`271828237`), grouped by dots or spaces in any way (`2718.28.237`, `271 828 237`), or in
/// three groups of three joined by dashes, slashes or underscores (`271-828-237`). The
/// eleven-test is not applied on purpose: a mistyped BSN is still a BSN. Dashes join groups in
/// dates and in the ids of other systems (`K-2026-11-001`), so only the 3-3-3 shape counts
/// there; a run of ten digits or more is no BSN.
pub fn has_bsn_like_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Every shape below has nine digits: most texts (types, codes, short ids) have fewer, and
    // this is asked of every id, case and data field of every event read.
    if bytes.iter().filter(|b| b.is_ascii_digit()).count() < 9 {
        return false;
    }
    // The digit runs of the text, each with the separator that joins it to the next one, if
    // that separator is a single character between two runs.
    let mut runs: Vec<(usize, Option<u8>)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let joined = (i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit())
            .then(|| bytes[i])
            .filter(|b| matches!(b, b'.' | b' ' | b'-' | b'/' | b'_'));
        runs.push((i - start, joined));
    }
    if runs.iter().any(|(digits, _)| *digits == 9) {
        return true;
    }
    // Every chain of runs joined by separators, and every stretch of it that adds up to nine.
    let grouping = |b: u8| matches!(b, b'.' | b' ');
    for first in 0..runs.len() {
        let mut digits = 0;
        for last in first..runs.len() {
            digits += runs[last].0;
            if digits == 9 && last > first {
                let joins = &runs[first..last];
                let all_grouping = joins.iter().all(|(_, s)| s.is_some_and(grouping));
                let three_threes = last == first + 2
                    && runs[first..=last].iter().all(|(d, _)| *d == 3)
                    && joins.iter().all(|(_, s)| s.is_some());
                if all_grouping || three_threes {
                    return true;
                }
            }
            if digits >= 9 || runs[last].1.is_none() {
                break;
            }
        }
    }
    false
}

/// A value as a refusal repeats it: never one that may hold a BSN, and never more than 60
/// characters.
fn shown(value: &str) -> String {
    if has_bsn_like_number(value) {
        return "(a value with a 9-digit number, not shown)".into();
    }
    let mut out: String = value.chars().filter(|c| !c.is_control()).take(60).collect();
    if value.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// Control characters have no place in an id: they hide what a log line or a page shows, and
/// a tab or carriage return before `=` makes a spreadsheet formula of a CSV field.
fn has_control_character(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn value_has_bsn_like_number(value: &Value) -> bool {
    match value {
        Value::String(text) => has_bsn_like_number(text),
        Value::Number(number) => has_bsn_like_number(&number.to_string()),
        Value::Array(items) => items.iter().any(value_has_bsn_like_number),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| has_bsn_like_number(key) || value_has_bsn_like_number(value)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    /// Regression: a reason code sent as a one-digit number was refused (the padding of the
    /// format was ignored); 1 is "01".
    #[test]
    fn a_reason_code_as_a_number_is_padded() {
        let event = validate(serde_json::json!({
            "id": "e-1", "type": "zorg.beeindigd", "gemeente": "GM0150", "case": "C-1",
            "at": "2027-04-13T10:00:00+02:00", "data": {"reden": 1}
        }))
        .unwrap();
        assert_eq!(event.data["reden"], "01");
        let event = validate(serde_json::json!({
            "id": "e-1", "type": "zorg.beeindigd", "gemeente": "GM0150", "case": "C-1",
            "at": "2027-04-13T10:00:00+02:00", "data": {"reden": 31.0}
        }))
        .unwrap();
        assert_eq!(event.data["reden"], "31");
    }

    use super::*;

    /// The fields read straight are the same event as the JSON tree gives; where they differ
    /// in anything, reading straight fails and the tree's words are used.
    #[test]
    fn an_event_read_into_its_fields_is_the_event_the_tree_gives() {
        let lines = [
            r#"{"id":"e-1","type":"klacht.ingediend","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{"klacht_id":"K-9"}}"#,
            r#"{"id":"e-2","type":"casus.aangemeld","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{"geboortedatum":"2011-03-01","team":"noord"}}"#,
            r#"{"id":"e-3","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":null}"#,
            r#"{"id":"e-4","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00"}"#,
            r#"{"id":" ","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{}}"#,
            r#"{"id":"e-6","type":"klacht.ingedient","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{}}"#,
            r#"{"id":"e-7","type":"zorg.gestart","gemeente":"GM0150","case":"123456782","at":"2027-04-13T10:15:00+02:00","data":{}}"#,
            r#"{"id":"e-8","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{},"extra":1}"#,
            r#"{"id":"e-9","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"gisteren","data":{}}"#,
            r#"{"id":9,"type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{}}"#,
            r#"{"id":"e-11","id":"e-12","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{}}"#,
        ];
        for line in lines {
            let tree = validate(serde_json::from_str(line).unwrap());
            let straight = serde_json::from_str::<Fields>(line)
                .ok()
                .map(validate_fields);
            match (straight, &tree) {
                (Some(Ok(event)), Ok(expected)) => {
                    assert_eq!(event.id, expected.id, "{line}");
                    assert_eq!(event.event_type, expected.event_type);
                    assert_eq!(
                        (&event.gemeente, &event.case),
                        (&expected.gemeente, &expected.case)
                    );
                    assert_eq!(event.at, expected.at);
                    assert_eq!(
                        serde_json::Value::Object(event.data),
                        serde_json::Value::Object(expected.data.clone())
                    );
                }
                (Some(Ok(_)), Err(_)) => panic!("read straight but refused by the tree: {line}"),
                (Some(Err(_)) | None, Ok(_)) if line.contains("e-11") => {}
                (Some(Err(_)) | None, Ok(_)) => {
                    panic!("refused straight but valid in the tree: {line}")
                }
                (Some(Err(_)) | None, Err(_)) => {}
            }
        }
    }
    use serde_json::json;

    fn refused(value: Value) -> Vec<String> {
        validate(value).unwrap_err().problems
    }

    #[test]
    fn accepts_the_example_of_the_contract() {
        let event = validate(
            json!({"id": "e-17", "type": "klacht.ingediend", "gemeente": "GM0150",
            "case": "C-1", "at": "2027-04-13T10:15:00+02:00", "data": {"klacht_id": "K-9"}}),
        )
        .unwrap();
        assert_eq!(event.event_type.name(), "klacht.ingediend");
        assert_eq!(event.data_text("klacht_id").as_deref(), Some("K-9"));
    }

    #[test]
    fn reports_every_problem_at_once() {
        assert_eq!(
            refused(
                json!({"id": "e-1", "type": "klacht.ingedient", "gemeente": "Deventer",
                "case": "123456782", "at": "13-04-2027"})
            ),
            vec![
                "unknown event type 'klacht.ingedient' (did you mean 'klacht.ingediend'?)",
                "'gemeente' must be a CBS code such as GM0150, not 'Deventer'",
                "'case' holds a 9-digit number that may be a BSN; use the pseudonymous case id",
                "'at' must be RFC 3339 with an offset, for example 2027-04-13T10:15:00+02:00, not '13-04-2027'",
            ]
        );
    }

    #[test]
    fn checks_the_data_of_each_type() {
        assert_eq!(
            refused(
                json!({"id": "e-2", "type": "bezwaar.ingediend", "gemeente": "GM0150", "case": "C-1",
                "at": "2027-04-13T10:15:00+02:00", "data": {"bezwaar_id": "B-1", "bekendgemaakt": "2027-02-30"}})
            ),
            vec![
                "data.bekendgemaakt must be a date YYYY-MM-DD between 1900 and 2199",
                "bezwaar.ingediend needs data.adviescommissie",
            ]
        );
        assert_eq!(
            refused(
                json!({"id": "e-3", "type": "zorg.beeindigd", "gemeente": "GM0150", "case": "C-1",
                "at": "2027-04-13T10:15:00+02:00", "data": {"reden": "volgens plan"}})
            ),
            vec!["data.reden must be a two-digit JZ588 reason code such as \"31\""]
        );
    }

    /// Dates far outside the years of youth care would push computed deadlines past what the
    /// calendar can represent: refused at the door.
    #[test]
    fn refuses_dates_outside_the_supported_years() {
        assert_eq!(
            refused(
                json!({"id": "e-6", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-1",
                "at": "2500-06-01T10:00:00+02:00", "data": {"klacht_id": "K-1"}})
            ),
            vec!["'at' must lie between 1900 and 2199, not '2500-06-01T10:00:00+02:00'"]
        );
        assert_eq!(
            refused(
                json!({"id": "e-7", "type": "casus.aangemeld", "gemeente": "GM0150", "case": "C-1",
                "at": "2027-01-01T10:00:00+01:00", "data": {"geboortedatum": "1066"}})
            ),
            vec![
                "data.geboortedatum must be a date YYYY-MM-DD, or YYYY-MM or YYYY when the day or month is unknown, between 1900 and 2199"
            ]
        );
    }

    #[test]
    fn normalises_a_numeric_reason_code() {
        let event = validate(
            json!({"id": "e-4", "type": "zorg.beeindigd", "gemeente": "GM0158", "case": "C-1",
            "at": "2027-04-13T10:15:00+02:00", "data": {"reden": 31}}),
        )
        .unwrap();
        assert_eq!(event.data_text("reden").as_deref(), Some("31"));
    }

    #[test]
    fn refuses_a_bsn_anywhere_in_the_data() {
        assert_eq!(
            refused(
                json!({"id": "e-5", "type": "nazorg.contact", "gemeente": "GM0158", "case": "C-1",
                "at": "2027-04-13T10:15:00+02:00", "data": {"notitie": "bsn 123456782"}})
            ),
            vec![
                "data.notitie holds a 9-digit number that may be a BSN; Waakvlam never stores a BSN"
            ]
        );
        assert!(!has_bsn_like_number("C-12345678"));
        assert!(!has_bsn_like_number("C-1234567890"));
        assert!(has_bsn_like_number("x123456789y"));
    }

    /// Regression (security review): each of these was accepted and stored.
    #[test]
    fn refuses_a_bsn_in_every_string_of_an_event() {
        let event = |id: &str, case: &str, data: Value| {
            json!({"id": id, "type": "klacht.ingediend", "gemeente": "GM0150", "case": case,
                   "at": "2027-04-13T10:15:00+02:00", "data": data})
        };
        let k = json!({"klacht_id": "K-9"});
        assert_eq!(
            refused(event("271828237", "C-1", k.clone())),
            vec![
                "'id' holds a 9-digit number that may be a BSN; Waakvlam never stores a BSN, so give the event another id"
            ]
        );
        assert_eq!(
            refused(event("e-1", "BSN 2718.28.237", k.clone())),
            vec!["'case' holds a 9-digit number that may be a BSN; use the pseudonymous case id"]
        );
        assert_eq!(
            refused(event("e-1", "C-1", json!({"klacht_id": "271 828 249"}))),
            vec![
                "data.klacht_id holds a 9-digit number that may be a BSN; Waakvlam never stores a BSN"
            ]
        );
        assert_eq!(
            refused(event(
                "e-1",
                "C-1",
                json!({"klacht_id": "K-9", "271828237": "x"})
            )),
            vec![
                "a key of 'data' holds a 9-digit number that may be a BSN; Waakvlam never stores a BSN"
            ]
        );
        assert_eq!(
            refused(event(
                "e-1",
                "C-1",
                json!({"klacht_id": "K-9", "n": {"271-828-237": 1}})
            )),
            vec!["data.n holds a 9-digit number that may be a BSN; Waakvlam never stores a BSN"]
        );
        assert_eq!(
            refused(event("e\t=1+2", "C-1\r", k.clone())),
            vec![
                "'id' holds a control character (a tab, a line break); ids are plain text",
                "'case' holds a control character (a tab, a line break); case ids are plain text"
            ]
        );
        // What a refusal repeats holds no BSN either.
        let answer = refused(
            json!({"id": "e-1", "type": "klacht.271828237", "gemeente": "GM 271 828 237",
            "case": "C-1", "at": "271828237", "data": k}),
        );
        assert!(answer.iter().all(|p| !has_bsn_like_number(p)), "{answer:?}");
    }

    #[test]
    fn a_bsn_is_found_however_it_is_written() {
        for bsn in [
            "271828237",
            "2718.28.237",
            "271.828.237",
            "271 828 237",
            "27 18 28 237",
            "271-828-237",
            "271/828/237",
            "BSN: 271 828 237.",
            "nr 2718 28 237 en 12",
        ] {
            assert!(has_bsn_like_number(bsn), "{bsn}");
        }
        for other in [
            "2026-11-20",
            "K-2026-11-001",
            "2718-28-237x1",
            "C-1234567890",
            "06-12345678",
            "1234.5678",
            "P-7K3M-Q9XD-2HRT",
            "2026-11-20T10:15:00+01:00",
            "12 11 2026",
        ] {
            assert!(!has_bsn_like_number(other), "{other}");
        }
    }

    #[test]
    fn partial_birth_dates_are_kept_as_partial() {
        assert_eq!(
            BirthDate::parse("2011-05"),
            Some(BirthDate::YearMonth(2011, 5))
        );
        assert_eq!(BirthDate::parse("2011"), Some(BirthDate::Year(2011)));
        assert_eq!(BirthDate::parse("2011-13"), None);
        assert_eq!(BirthDate::parse("2011-05-00"), None);
    }
}
