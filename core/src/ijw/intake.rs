//! A read message to events, and the answer per product (DESIGN.md, "iJw intake").
//!
//! One event per product: a `StartProduct` is `zorg.gestart` at its `Begindatum`, a
//! `StopProduct` is `zorg.beeindigd` at its `Einddatum` with `reden`. A product is known by its
//! key (the provider, the young person, the assignment or product, the `Begindatum`); the
//! [`Ledger`] remembers which event stands for each key, so a changed delivery replaces it and
//! a delete withdraws it (`bericht.ingetrokken`). Event ids come from the provider, the
//! message's `Identificatie` and the product's position, so a message sent twice is a retry.

use serde::Serialize;
use serde_json::{Value, json};

use super::pseudonym::digest_id;
use super::{Code, Delivery, Message, Product};
use crate::calendar;
use crate::event::{BirthDate, Event};

/// What was received before: the messages (to tell a retry from a reused `Identificatie`) and
/// the event that stands for each product key. The daemon keeps it in its store, `simulate`
/// in memory.
pub trait Ledger {
    type Error;
    /// The digest of the message received before under this key.
    fn message(&self, key: &str) -> Result<Option<String>, Self::Error>;
    fn remember_message(&mut self, key: &str, digest: &str) -> Result<(), Self::Error>;
    /// The event that stands for this product now.
    fn product(&self, key: &str) -> Result<Option<String>, Self::Error>;
    fn set_product(&mut self, key: &str, event: &str) -> Result<(), Self::Error>;
    fn forget_product(&mut self, key: &str) -> Result<(), Self::Error>;
}

/// The ledger of `simulate`.
#[derive(Default)]
pub struct MemoryLedger {
    messages: std::collections::HashMap<String, String>,
    products: std::collections::HashMap<String, String>,
}

impl Ledger for MemoryLedger {
    type Error = std::convert::Infallible;
    fn message(&self, key: &str) -> Result<Option<String>, Self::Error> {
        Ok(self.messages.get(key).cloned())
    }
    fn remember_message(&mut self, key: &str, digest: &str) -> Result<(), Self::Error> {
        self.messages.insert(key.to_string(), digest.to_string());
        Ok(())
    }
    fn product(&self, key: &str) -> Result<Option<String>, Self::Error> {
        Ok(self.products.get(key).cloned())
    }
    fn set_product(&mut self, key: &str, event: &str) -> Result<(), Self::Error> {
        self.products.insert(key.to_string(), event.to_string());
        Ok(())
    }
    fn forget_product(&mut self, key: &str) -> Result<(), Self::Error> {
        self.products.remove(key);
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accepted,
    Duplicate,
    Refused,
}

/// The answer for one product, with the WJ001 retour code that fits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// 1 for the first product of the message.
    pub product: usize,
    pub status: Status,
    pub retourcode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The event that stands for the product (none when nothing was taken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// WJ001: no remark on this part.
pub const ACCEPTED: &str = "0200";
/// WJ001: rejected for technical reasons (a message that is not valid iJw).
pub const TECHNICAL: &str = "0001";
const NOT_UNIQUE: &str = "9056";
const NO_EARLIER: &str = "9063";
const NO_START: &str = "9069";
const EARLIER_RECEIVED: &str = "9074";

/// What a message comes to: the events to take in, in order, and the answer per product.
#[derive(Debug, Default)]
pub struct Intake {
    pub events: Vec<Event>,
    pub answers: Vec<Answer>,
}

/// The events and answers of `message` for the young person `case` (the pseudonym), whose
/// birth date is known as `known_birth` (a case not known yet: `None`, and `known` false).
pub fn intake<L: Ledger>(
    message: &Message,
    case: &str,
    known: Option<Option<BirthDate>>,
    ledger: &mut L,
) -> Result<Intake, L::Error> {
    let mut out = Intake::default();
    let message_key = format!(
        "{}|{}|{}",
        message.afzender,
        message.code.number(),
        message.identificatie
    );
    let digest = digest_of(message, case);
    match ledger.message(&message_key)? {
        Some(before) if before == digest => {
            out.answers = every_product(
                message,
                Status::Duplicate,
                EARLIER_RECEIVED,
                "this message was received before (a retry); nothing was taken again",
            );
            return Ok(out);
        }
        Some(_) => {
            let reason = format!(
                "Identificatie {} of sender {} was used before for another {}; each message has its own",
                message.identificatie,
                message.afzender,
                message.code.name()
            );
            out.answers = every_product(message, Status::Refused, NOT_UNIQUE, &reason);
            return Ok(out);
        }
        None => ledger.remember_message(&message_key, &digest)?,
    }
    let mut product_events = Vec::new();
    for (index, product) in message.products.iter().enumerate() {
        let position = index + 1;
        let key = product_key(message.code, &message.afzender, case, product);
        let id = digest_id(
            "ijw",
            &[
                &message.afzender,
                message.code.number(),
                &message.identificatie,
                &position.to_string(),
            ],
        );
        let earlier = ledger.product(&key)?;
        let answer = |status, retourcode, reason: Option<String>, event: Option<&str>| Answer {
            product: position,
            status,
            retourcode,
            reason,
            event: event.map(str::to_string),
        };
        match (product.delivery, earlier) {
            (Delivery::First, Some(earlier)) => {
                out.answers.push(answer(
                    Status::Duplicate,
                    EARLIER_RECEIVED,
                    Some("a first delivery of this product was received before; send a change (StatusAanlevering 2) to change it".into()),
                    Some(&earlier),
                ));
            }
            (Delivery::Delete, None) => {
                out.answers.push(answer(
                    Status::Refused,
                    NO_EARLIER,
                    Some(
                        "there is nothing to delete: no delivery of this product was received"
                            .into(),
                    ),
                    None,
                ));
            }
            (Delivery::Delete, Some(earlier)) => match withdrawal(message, case, &id, &earlier) {
                Ok(event) => {
                    product_events.push(event);
                    ledger.forget_product(&key)?;
                    out.answers
                        .push(answer(Status::Accepted, ACCEPTED, None, Some(&id)));
                }
                Err(why) => out
                    .answers
                    .push(answer(Status::Refused, TECHNICAL, Some(why), None)),
            },
            (delivery, earlier) => {
                let made = earlier
                    .as_deref()
                    .map(|earlier| withdrawal(message, case, &format!("{id}-w"), earlier))
                    .transpose()
                    .and_then(|w| Ok((w, care_event(message, case, &id, product)?)));
                let (replaced, taken) = match made {
                    Ok(events) => events,
                    Err(why) => {
                        out.answers
                            .push(answer(Status::Refused, TECHNICAL, Some(why), None));
                        continue;
                    }
                };
                product_events.extend(replaced);
                product_events.push(taken);
                ledger.set_product(&key, &id)?;
                let start_known = message.code == Code::Jw305
                    || ledger
                        .product(&product_key(Code::Jw305, &message.afzender, case, product))?
                        .is_some();
                let (retourcode, reason) = if !start_known {
                    (NO_START, Some("no start of care (JW305) with the same key was received; the stop is taken all the same, so that what follows it (nazorg) is watched".to_string()))
                } else if delivery == Delivery::Changed && earlier.is_none() {
                    (ACCEPTED, Some("a change of a delivery that was not received; taken as a first delivery".to_string()))
                } else {
                    (ACCEPTED, None)
                };
                out.answers
                    .push(answer(Status::Accepted, retourcode, reason, Some(&id)));
            }
        }
    }
    // The birth date comes first, at the moment of the message's first product, so the
    // start of care already counts with it. Only when it is new or different: a message per
    // product should not correct the case again and again.
    let first = product_events.iter().map(|e| e.at).min();
    if let (Some(birth), Some(at)) = (message.geboortedatum, first)
        && known.flatten() != Some(birth)
    {
        let kind = if known.is_none() {
            "casus.aangemeld"
        } else {
            "casus.gewijzigd"
        };
        let id = digest_id(
            "ijw",
            &[
                &message.afzender,
                message.code.number(),
                &message.identificatie,
                "client",
            ],
        );
        let data = json!({ "geboortedatum": birth_text(birth) });
        // The reader checked the date's years; were it refused anyway, the products still
        // count, and the case gets its birth date from the next message.
        if let Ok(birth) = event(&id, kind, message, case, at, data) {
            out.events.push(birth);
        }
    }
    out.events.extend(product_events);
    Ok(out)
}

/// What makes two messages under one `Identificatie` the same message: every value read.
fn digest_of(message: &Message, case: &str) -> String {
    let mut parts = vec![
        message.code.number().to_string(),
        message.gemeente.clone(),
        message.dagtekening.to_string(),
        message.geboortedatum.map(birth_text).unwrap_or_default(),
        case.to_string(),
    ];
    for p in &message.products {
        parts.push(format!(
            "{:?}|{:?}|{}|{:?}|{:?}|{:?}",
            p.toewijzing, p.product, p.begindatum, p.einddatum, p.reden, p.delivery
        ));
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    digest_id("m", &parts)
}

fn every_product(
    message: &Message,
    status: Status,
    retourcode: &'static str,
    reason: &str,
) -> Vec<Answer> {
    (1..=message.products.len())
        .map(|product| Answer {
            product,
            status,
            retourcode,
            reason: Some(reason.to_string()),
            event: None,
        })
        .collect()
}

/// Refusals of a message that is not valid iJw: every product (or the message as one) gets
/// 0001.
pub fn technical(problems: usize) -> Answer {
    Answer {
        product: 0,
        status: Status::Refused,
        retourcode: TECHNICAL,
        reason: Some(format!(
            "the message is not valid iJw ({problems} problem{}); nothing was taken",
            if problems == 1 { "" } else { "s" }
        )),
        event: None,
    }
}

/// A product's key: what a change or a delete refers to.
fn product_key(code: Code, afzender: &str, case: &str, product: &Product) -> String {
    let what = match (&product.toewijzing, &product.product) {
        (Some(number), _) => format!("t{number}"),
        (None, Some((categorie, code))) => format!("p{categorie}{code}"),
        (None, None) => "-".to_string(),
    };
    format!(
        "{}|{afzender}|{case}|{what}|{}",
        code.name(),
        product.begindatum
    )
}

fn care_event(message: &Message, case: &str, id: &str, product: &Product) -> Result<Event, String> {
    match message.code {
        Code::Jw305 => event(
            id,
            "zorg.gestart",
            message,
            case,
            calendar::send_moment(product.begindatum, 0),
            json!({}),
        ),
        Code::Jw307 => event(
            id,
            "zorg.beeindigd",
            message,
            case,
            calendar::send_moment(product.einddatum.unwrap_or(product.begindatum), 0),
            json!({ "reden": product.reden.as_deref().unwrap_or_default() }),
        ),
    }
}

fn withdrawal(message: &Message, case: &str, id: &str, earlier: &str) -> Result<Event, String> {
    event(
        id,
        "bericht.ingetrokken",
        message,
        case,
        calendar::send_moment(message.dagtekening, 0),
        json!({ "ingetrokken_id": earlier }),
    )
}

/// The event, validated as a posted one is. The reader has checked every value it is made
/// of, so a refusal here is a fault of this module; it refuses the product, never panics.
fn event(
    id: &str,
    kind: &str,
    message: &Message,
    case: &str,
    at: jiff::Timestamp,
    data: Value,
) -> Result<Event, String> {
    crate::event::validate(json!({
        "id": id,
        "type": kind,
        "gemeente": message.gemeente,
        "case": case,
        "at": calendar::format_timestamp(at),
        "data": data,
    }))
    .map_err(|err| {
        err.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

fn birth_text(birth: BirthDate) -> String {
    match birth {
        BirthDate::Full(day) => day.to_string(),
        BirthDate::YearMonth(year, month) => format!("{year:04}-{month:02}"),
        BirthDate::Year(year) => format!("{year:04}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ijw::read::read;
    use crate::ijw::sample::{Sample, bsn};

    fn run(sample: &Sample, known: Option<Option<BirthDate>>, ledger: &mut MemoryLedger) -> Intake {
        let read = read(sample.xml().as_bytes()).unwrap();
        intake(&read.message, "P-TEST-CASE-0001", known, ledger).unwrap()
    }

    fn kinds(intake: &Intake) -> Vec<(&'static str, String)> {
        intake
            .events
            .iter()
            .map(|e| (e.event_type.name(), crate::calendar::format_timestamp(e.at)))
            .collect()
    }

    fn codes(intake: &Intake) -> Vec<(Status, &'static str)> {
        intake
            .answers
            .iter()
            .map(|a| (a.status, a.retourcode))
            .collect()
    }

    #[test]
    fn a_start_then_its_retry_then_a_reused_identificatie() {
        let mut ledger = MemoryLedger::default();
        let start = Sample::start("A1", "0150", &bsn(7), "2010-05-04", "2026-03-01");
        let first = run(&start, None, &mut ledger);
        assert_eq!(
            kinds(&first),
            [
                ("casus.aangemeld", "2026-03-01T00:00:00+01:00".to_string()),
                ("zorg.gestart", "2026-03-01T00:00:00+01:00".to_string()),
            ]
        );
        assert_eq!(codes(&first), [(Status::Accepted, "0200")]);
        assert_eq!(first.events[0].data["geboortedatum"], "2010-05-04");
        let known = Some(BirthDate::parse("2010-05-04"));
        let again = run(&start, known, &mut ledger);
        assert!(again.events.is_empty());
        assert_eq!(codes(&again), [(Status::Duplicate, "9074")]);
        let mut other = start.clone();
        other.products[0].begindatum = "2026-04-01".into();
        let reused = run(&other, known, &mut ledger);
        assert!(reused.events.is_empty());
        assert_eq!(codes(&reused), [(Status::Refused, "9056")]);
    }

    #[test]
    fn a_delete_withdraws_the_start_and_a_delete_of_nothing_is_refused() {
        let mut ledger = MemoryLedger::default();
        let start = Sample::start("A1", "0150", &bsn(7), "2010-05-04", "2026-03-01");
        let first = run(&start, None, &mut ledger);
        let started = first.events[1].id.clone();
        let mut delete = start.clone();
        delete.identificatie = "A2".into();
        delete.dagtekening = "2026-03-05".into();
        delete.products[0].status = "3".into();
        let known = Some(BirthDate::parse("2010-05-04"));
        let withdrawn = run(&delete, known, &mut ledger);
        assert_eq!(
            kinds(&withdrawn),
            [(
                "bericht.ingetrokken",
                "2026-03-05T00:00:00+01:00".to_string()
            )]
        );
        assert_eq!(withdrawn.events[0].data["ingetrokken_id"], started.as_str());
        assert_eq!(codes(&withdrawn), [(Status::Accepted, "0200")]);
        delete.identificatie = "A3".into();
        let nothing = run(&delete, known, &mut ledger);
        assert!(nothing.events.is_empty());
        assert_eq!(codes(&nothing), [(Status::Refused, "9063")]);
    }

    /// A stop whose start never came is taken (nazorg hangs on it) with 9069; a changed birth
    /// date corrects the case; the same one is not sent again.
    #[test]
    fn a_stop_without_its_start_and_a_corrected_birth_date() {
        let mut ledger = MemoryLedger::default();
        let start = Sample::start("A1", "0150", &bsn(7), "2010-05-04", "2026-03-01");
        let mut stop = Sample::stop(&start, "B1", "2026-09-30", "31");
        stop.geboortedatum = "2010-06-04".into();
        let stopped = run(&stop, Some(BirthDate::parse("2010-05-04")), &mut ledger);
        assert_eq!(
            kinds(&stopped),
            [
                ("casus.gewijzigd", "2026-09-30T00:00:00+02:00".to_string()),
                ("zorg.beeindigd", "2026-09-30T00:00:00+02:00".to_string()),
            ]
        );
        assert_eq!(stopped.events[1].data["reden"], "31");
        assert_eq!(codes(&stopped), [(Status::Accepted, "9069")]);
        stop.identificatie = "B2".into();
        stop.products[0].status = "2".into();
        let changed = run(&stop, Some(BirthDate::parse("2010-06-04")), &mut ledger);
        assert_eq!(
            changed
                .events
                .iter()
                .map(|e| e.event_type.name())
                .collect::<Vec<_>>(),
            ["bericht.ingetrokken", "zorg.beeindigd"]
        );
    }
}
