//! Made-up JW305 and JW307 messages for tests, benchmarks and trying the intake out: never
//! real data. They hold a BSN (one that passes the 11-test) and a name, as real ones do, so a
//! test can check that neither gets past the door.

use super::{Code, NAMESPACE_BASIS, NAMESPACE_JW305, NAMESPACE_JW307};

#[derive(Clone, Debug)]
pub struct Sample {
    pub code: Code,
    /// The provider's AGB code (8 digits).
    pub afzender: String,
    /// The gemeente's CBS code without `GM` (`0150`).
    pub ontvanger: String,
    pub identificatie: String,
    pub dagtekening: String,
    pub bsn: String,
    pub geboortedatum: String,
    /// `DatumGebruik`: 1, 2 or 3; none for a full date.
    pub datum_gebruik: Option<String>,
    pub achternaam: String,
    pub voornamen: String,
    pub products: Vec<SampleProduct>,
}

#[derive(Clone, Debug)]
pub struct SampleProduct {
    pub toewijzing: String,
    pub begindatum: String,
    /// JW307: the end and the JZ588 reason.
    pub einddatum: Option<String>,
    pub reden: Option<String>,
    pub status: String,
}

impl Sample {
    /// A JW305 of one product starting on `begindatum`.
    pub fn start(
        identificatie: &str,
        ontvanger: &str,
        bsn: &str,
        birth: &str,
        begindatum: &str,
    ) -> Sample {
        Sample {
            code: Code::Jw305,
            afzender: "12345678".into(),
            ontvanger: ontvanger.into(),
            identificatie: identificatie.into(),
            dagtekening: begindatum.into(),
            bsn: bsn.into(),
            geboortedatum: birth.into(),
            datum_gebruik: None,
            achternaam: "Jansen".into(),
            voornamen: "Pieter".into(),
            products: vec![SampleProduct {
                toewijzing: "1001".into(),
                begindatum: begindatum.into(),
                einddatum: None,
                reden: None,
                status: "1".into(),
            }],
        }
    }

    /// A JW307 of the same product, stopped on `einddatum` for `reden`.
    pub fn stop(start: &Sample, identificatie: &str, einddatum: &str, reden: &str) -> Sample {
        Sample {
            code: Code::Jw307,
            identificatie: identificatie.into(),
            dagtekening: einddatum.into(),
            products: start
                .products
                .iter()
                .map(|p| SampleProduct {
                    einddatum: Some(einddatum.into()),
                    reden: Some(reden.into()),
                    ..p.clone()
                })
                .collect(),
            ..start.clone()
        }
    }

    /// The message as the XSDs shape it, with the prefixes of the published examples:
    /// `jw305:`/`jw307:` for the message's elements and `ijw:` for the basisschema's.
    pub fn xml(&self) -> String {
        let message = match self.code {
            Code::Jw305 => "jw305",
            Code::Jw307 => "jw307",
        };
        self.xml_in(Shape::Prefixed {
            message,
            basis: "ijw",
        })
    }

    /// The message in the given shape: the same elements in the same namespaces, written with
    /// other prefixes or a default namespace.
    pub fn xml_in(&self, shape: Shape) -> String {
        let (namespace, list, item) = match self.code {
            Code::Jw305 => (NAMESPACE_JW305, "StartProducten", "StartProduct"),
            Code::Jw307 => (NAMESPACE_JW307, "StopProducten", "StopProduct"),
        };
        // `m(name)`: an element of the message; `b(name, text)`: one of the basisschema.
        let (root, m_prefix, b_prefix, b_declared) = match shape {
            Shape::Prefixed { message, basis } => (
                format!(
                    "<{message}:Bericht xmlns:{message}=\"{namespace}\" xmlns:{basis}=\"{NAMESPACE_BASIS}\">"
                ),
                format!("{message}:"),
                format!("{basis}:"),
                String::new(),
            ),
            Shape::Default => (
                format!("<Bericht xmlns=\"{namespace}\">"),
                String::new(),
                String::new(),
                format!(" xmlns=\"{NAMESPACE_BASIS}\""),
            ),
        };
        let m = |name: &str| format!("{m_prefix}{name}");
        let b = |name: &str, inner: &str| {
            format!("<{b_prefix}{name}{b_declared}>{inner}</{b_prefix}{name}>")
        };
        let mut products = String::new();
        for p in &self.products {
            let stop = match (&p.reden, &p.einddatum) {
                (Some(reden), Some(eind)) => format!(
                    "\n        <{r}>{reden}</{r}>\n        <{e}>{eind}</{e}>",
                    r = m("RedenBeeindiging"),
                    e = m("Einddatum")
                ),
                _ => String::new(),
            };
            products.push_str(&format!(
                "      <{item_tag}>
        <{t}>{toewijzing}</{t}>
        <{pr}>{categorie}{code}</{pr}>
        <{ti}>{begin}</{ti}>
        <{bd}>{begin}</{bd}>{stop}
        <{sa}>{status}</{sa}>
      </{item_tag}>\n",
                item_tag = m(item),
                t = m("ToewijzingNummer"),
                toewijzing = p.toewijzing,
                pr = m("Product"),
                categorie = b("Categorie", "45"),
                code = b("Code", "45A48"),
                ti = m("ToewijzingIngangsdatum"),
                bd = m("Begindatum"),
                begin = p.begindatum,
                sa = m("StatusAanlevering"),
                status = p.status,
            ));
        }
        let gebruik = self
            .datum_gebruik
            .as_ref()
            .map(|g| b("DatumGebruik", g))
            .unwrap_or_default();
        let naam = format!(
            "{}{}{}",
            b("Geslachtsnaam", &b("Achternaam", &self.achternaam)),
            b("Voornamen", &self.voornamen),
            b(
                "Voorletters",
                &self.voornamen.chars().next().unwrap_or('X').to_string()
            )
        );
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
{root}
  <{header}>
    <{bc}>{code}</{bc}>
    <{bv}>3</{bv}>
    <{bs}>2</{bs}>
    <{af}>{afzender}</{af}>
    <{on}>{ontvanger}</{on}>
    <{bi}>
      {identificatie}
      {dagtekening}
    </{bi}>
    <{xv}>
      {basis_versie}
      {bericht_versie}
    </{xv}>
  </{header}>
  <{client}>
    <{bsn_tag}>{bsn}</{bsn_tag}>
    <{gd}>{datum}{gebruik}</{gd}>
    <{gs}>1</{gs}>
    <{nm}>{naam}</{nm}>
    <{list_tag}>
{products}    </{list_tag}>
  </{client}>
</{bericht}>
"#,
            header = m("Header"),
            bc = m("BerichtCode"),
            code = self.code.number(),
            bv = m("BerichtVersie"),
            bs = m("BerichtSubversie"),
            af = m("Afzender"),
            afzender = self.afzender,
            on = m("Ontvanger"),
            ontvanger = self.ontvanger,
            bi = m("BerichtIdentificatie"),
            identificatie = b("Identificatie", &self.identificatie),
            dagtekening = b("Dagtekening", &self.dagtekening),
            xv = m("XsdVersie"),
            basis_versie = b("BasisschemaXsdVersie", "1.2.0"),
            bericht_versie = b("BerichtXsdVersie", "1.0.0"),
            client = m("Client"),
            bsn_tag = m("Bsn"),
            bsn = self.bsn,
            gd = m("Geboortedatum"),
            datum = b("Datum", &self.geboortedatum),
            gs = m("Geslacht"),
            nm = m("Naam"),
            list_tag = m(list),
            bericht = m("Bericht"),
        )
    }
}

/// How a made-up message writes its namespaces. Prefixes are the sender's to choose; only the
/// namespaces count.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Every element with a prefix: `message` for the message's, `basis` for the basisschema's.
    Prefixed {
        message: &'static str,
        basis: &'static str,
    },
    /// The message's namespace as the default; each basisschema element declares its own.
    Default,
}

/// Made-up messages for `cases` young people in `year`, as (file name, XML): each one's care
/// starts (JW305) in the year; two in three stop (JW307) later that year, most of them
/// according to plan (31, so nazorg follows). In four gemeenten; birth dates spread so some
/// turn 16 or 18 while in care. The same arguments give the same messages.
pub fn messages(cases: usize, year: i32) -> Vec<(String, String)> {
    const GEMEENTEN: [&str; 4] = ["0150", "0148", "0200", "0158"];
    const REASONS: [&str; 6] = ["31", "31", "31", "33", "38", "39"];
    let mut out = Vec::with_capacity(cases * 2);
    for n in 0..cases {
        let k = n as u32;
        let ontvanger = GEMEENTEN[n % GEMEENTEN.len()];
        let birth = format!(
            "{}-{:02}-{:02}",
            year - 11 - (k % 8) as i32,
            1 + k % 12,
            1 + (k * 7) % 28
        );
        let start_month = 1 + (k * 5) % 6;
        let begin = format!("{year}-{start_month:02}-{:02}", 1 + (k * 3) % 28);
        let mut start = Sample::start(&format!("S{n}"), ontvanger, &bsn(k), &birth, &begin);
        start.products[0].toewijzing = format!("{}", 100_000 + n);
        out.push((format!("{n:07}-jw305.xml"), start.xml()));
        if n % 3 != 2 {
            let end = format!("{year}-{:02}-{:02}", start_month + 6, 1 + (k * 11) % 28);
            let stop = Sample::stop(&start, &format!("E{n}"), &end, REASONS[n % REASONS.len()]);
            out.push((format!("{n:07}-jw307.xml"), stop.xml()));
        }
    }
    out
}

/// A BSN that passes the 11-test, made from `n` (tests need many different ones): eight
/// digits from `n`, the ninth chosen to pass.
pub fn bsn(n: u32) -> String {
    let head = format!("{:08}", 10_000_000 + n % 89_999_999);
    let digits: Vec<i64> = head.bytes().map(|b| i64::from(b - b'0')).collect();
    let sum: i64 = digits
        .iter()
        .zip([9, 8, 7, 6, 5, 4, 3, 2])
        .map(|(d, w)| d * w)
        .sum();
    // sum - last ≡ 0 (mod 11), with last a digit: not every head has one.
    let last = sum % 11;
    if last <= 9 {
        format!("{head}{last}")
    } else {
        bsn(n + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ijw::{Bsn, read::read};

    #[test]
    fn made_up_bsns_pass_the_eleven_test() {
        for n in 0..1000 {
            assert!(Bsn::parse(&bsn(n)).is_some(), "{}", bsn(n));
        }
    }

    #[test]
    fn a_sample_reads_back() {
        let start = Sample::start("A1", "0150", &bsn(7), "2010-05-04", "2026-03-01");
        let started = read(start.xml().as_bytes()).unwrap();
        assert_eq!(started.message.gemeente, "GM0150");
        assert_eq!(started.message.products.len(), 1);
        let stop = Sample::stop(&start, "B1", "2026-09-30", "31");
        let stopped = read(stop.xml().as_bytes()).unwrap();
        assert_eq!(stopped.message.products[0].reden.as_deref(), Some("31"));
    }
}
