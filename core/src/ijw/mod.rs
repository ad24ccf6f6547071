//! iJw intake (DESIGN.md, "iJw intake"; IJW.md): the Jeugdwet messages JW305 (care started)
//! and JW307 (care stopped) that a gemeente receives anyway, read strictly and turned into
//! events, with the BSN replaced by a pseudonym at the door.
//!
//! - `read`: the strict reader: size, no DTD, namespaces, every element the message needs with
//!   its type; all problems with their element paths. The BSN leaves it only as a [`Bsn`],
//!   which cannot be printed, serialised or stored.
//! - `pseudonym`: the case id, `HMAC-SHA256(secret, BSN)` encoded short and readable.
//! - `intake`: a read message to events and an answer per product, with a [`intake::Ledger`]
//!   of what was received before (retries, changes, deletes).
//!
//! Names and gender are never read: they are dropped at the door.

pub mod intake;
pub mod pseudonym;
pub mod read;
pub mod sample;

use crate::calendar::Day;
use crate::event::BirthDate;

/// The larger iJw messages are a few kilobytes; anything over this is refused unread.
pub const MAX_BYTES: usize = 1024 * 1024;

pub const NAMESPACE_JW305: &str = "http://www.istandaarden.nl/ijw/3_2/jw305/schema";
pub const NAMESPACE_JW307: &str = "http://www.istandaarden.nl/ijw/3_2/jw307/schema";
/// The shared types: the children of an element of a basisschema complex type are in this
/// namespace, whatever the message (IJW.md, "Which namespace each element is in").
pub const NAMESPACE_BASIS: &str = "http://www.istandaarden.nl/ijw/3_2/basisschema/schema";

/// Which message: its `BerichtCode` (COD002-VEKT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Code {
    /// 438: care started.
    #[serde(rename = "JW305")]
    Jw305,
    /// 440: care stopped.
    #[serde(rename = "JW307")]
    Jw307,
}

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Code::Jw305 => "JW305",
            Code::Jw307 => "JW307",
        }
    }

    pub fn number(self) -> &'static str {
        match self {
            Code::Jw305 => "438",
            Code::Jw307 => "440",
        }
    }
}

/// `StatusAanlevering`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// 1: the first delivery of this product.
    First,
    /// 2: a changed delivery: it replaces the earlier one.
    Changed,
    /// 3: a delete: it withdraws the earlier one.
    Delete,
}

/// One `StartProduct` or `StopProduct`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub toewijzing: Option<String>,
    /// `Categorie` and `Code`.
    pub product: Option<(String, String)>,
    pub begindatum: Day,
    /// JW307 only.
    pub einddatum: Option<Day>,
    /// JW307 only: the JZ588 code.
    pub reden: Option<String>,
    pub delivery: Delivery,
}

/// A read JW305 or JW307 message, without the BSN, the name or the gender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub code: Code,
    /// The provider's AGB code.
    pub afzender: String,
    /// `Ontvanger` as a CBS code: `GM0150`.
    pub gemeente: String,
    pub identificatie: String,
    pub dagtekening: Day,
    /// `None` when `DatumGebruik` 3 says the date is unknown.
    pub geboortedatum: Option<BirthDate>,
    pub products: Vec<Product>,
}

/// A BSN, only ever held to make a pseudonym: it has no `Display`, `Serialize` or `Clone`,
/// and its `Debug` shows nothing of it, so it cannot end up in a log, a store or an answer.
pub struct Bsn(String);

impl Bsn {
    /// Nine digits that pass the 11-test.
    pub fn parse(text: &str) -> Option<Bsn> {
        let digits: Vec<u32> = text
            .chars()
            .map(|c| c.to_digit(10))
            .collect::<Option<_>>()?;
        if digits.len() != 9 {
            return None;
        }
        let sum: i64 = digits
            .iter()
            .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
            .map(|(d, w)| i64::from(*d) * w)
            .sum();
        (sum % 11 == 0 && digits.iter().any(|d| *d != 0)).then(|| Bsn(text.to_string()))
    }

    fn digits(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Bsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bsn(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleven_test() {
        // 111222333: 9+8+7+12+10+8+9+6-3 = 66, divisible by 11.
        assert!(Bsn::parse("111222333").is_some());
        assert!(Bsn::parse("111222334").is_none());
        assert!(Bsn::parse("11122233").is_none());
        assert!(Bsn::parse("11122233a").is_none());
        assert!(Bsn::parse("000000000").is_none());
        assert_eq!(format!("{:?}", Bsn::parse("111222333").unwrap()), "Bsn(…)");
    }
}
