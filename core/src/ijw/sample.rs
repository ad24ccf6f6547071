//! Made-up JW305 and JW307 messages for tests, benchmarks and trying the intake out: never
//! real data. They hold a BSN (one that passes the 11-test) and a name, as real ones do, so a
//! test can check that neither gets past the door.

use super::{Code, NAMESPACE_JW305, NAMESPACE_JW307};

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

    pub fn xml(&self) -> String {
        let (namespace, list, item) = match self.code {
            Code::Jw305 => (NAMESPACE_JW305, "StartProducten", "StartProduct"),
            Code::Jw307 => (NAMESPACE_JW307, "StopProducten", "StopProduct"),
        };
        let mut products = String::new();
        for p in &self.products {
            let stop = match (&p.reden, &p.einddatum) {
                (Some(reden), Some(eind)) => format!(
                    "\n        <RedenBeeindiging>{reden}</RedenBeeindiging>\n        <Einddatum>{eind}</Einddatum>"
                ),
                _ => String::new(),
            };
            products.push_str(&format!(
                "      <{item}>
        <ToewijzingNummer>{}</ToewijzingNummer>
        <Product><Categorie>45</Categorie><Code>45A48</Code></Product>
        <ToewijzingIngangsdatum>{}</ToewijzingIngangsdatum>
        <Begindatum>{}</Begindatum>{stop}
        <StatusAanlevering>{}</StatusAanlevering>
      </{item}>\n",
                p.toewijzing, p.begindatum, p.begindatum, p.status
            ));
        }
        let gebruik = self
            .datum_gebruik
            .as_ref()
            .map(|g| format!("<DatumGebruik>{g}</DatumGebruik>"))
            .unwrap_or_default();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Bericht xmlns="{namespace}">
  <Header>
    <BerichtCode>{code}</BerichtCode>
    <BerichtVersie>3</BerichtVersie>
    <BerichtSubversie>2</BerichtSubversie>
    <Afzender>{afzender}</Afzender>
    <Ontvanger>{ontvanger}</Ontvanger>
    <BerichtIdentificatie>
      <Identificatie>{identificatie}</Identificatie>
      <Dagtekening>{dagtekening}</Dagtekening>
    </BerichtIdentificatie>
    <XsdVersie>
      <BasisschemaXsdVersie>1.0.0</BasisschemaXsdVersie>
      <BerichtXsdVersie>1.0.0</BerichtXsdVersie>
    </XsdVersie>
  </Header>
  <Client>
    <Bsn>{bsn}</Bsn>
    <Geboortedatum><Datum>{geboortedatum}</Datum>{gebruik}</Geboortedatum>
    <Geslacht>1</Geslacht>
    <Naam>
      <Geslachtsnaam><Achternaam>{achternaam}</Achternaam></Geslachtsnaam>
      <Voornamen>{voornamen}</Voornamen>
      <Voorletters>{voorletters}</Voorletters>
    </Naam>
    <{list}>
{products}    </{list}>
  </Client>
</Bericht>
"#,
            code = self.code.number(),
            afzender = self.afzender,
            ontvanger = self.ontvanger,
            identificatie = self.identificatie,
            dagtekening = self.dagtekening,
            bsn = self.bsn,
            geboortedatum = self.geboortedatum,
            achternaam = self.achternaam,
            voornamen = self.voornamen,
            voorletters = self.voornamen.chars().next().unwrap_or('X'),
        )
    }
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
