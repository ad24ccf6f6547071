//! Synthetic events for benchmarks and load tests: N cases with a realistic mix of all six
//! workflows over one year, deterministic for a seed. No personal data: case ids are
//! sequence numbers, birth dates are drawn at random.

use std::io::{self, Write};

use crate::calendar::{self, Day};

/// SplitMix64: small, fast and good enough to draw a workload; not for anything secret.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const GEMEENTEN: [&str; 4] = ["GM0150", "GM0148", "GM0200", "GM0158"];

/// Writes the events of `cases` cases for the year `year` as JSON Lines, in `at` order per case
/// (the cases interleave as a real feed would not, which `simulate` sorts anyway).
///
/// The mix, per case: known with a birth date (ages 4 to 18) and in care for most of the year,
/// so the 16th and 17th birthdays start toekomstplan-16 and overdracht-18 for about one case in
/// seven each; a third leave care during the year, mostly according to plan (nazorg); one in
/// ten files a complaint, one in twenty has a Veilig Thuis report, one in twenty an objection.
/// Most deadlines are met, some late, some never.
pub fn write_events(out: &mut impl Write, cases: usize, year: i32, seed: u64) -> io::Result<usize> {
    let mut draw = Draw(seed);
    let jan1 = Day::from_ymd(year, 1, 1).expect("a valid year");
    let mut written = 0;
    for n in 0..cases {
        let gemeente = GEMEENTEN[n % GEMEENTEN.len()];
        let case = format!("S-{n}");
        let mut seq = 0;
        let mut emit = |out: &mut dyn Write,
                        kind: &str,
                        day: Day,
                        hour: u64,
                        data: &str|
         -> io::Result<()> {
            seq += 1;
            let at = calendar::format_timestamp(calendar::send_moment(day, 8 + hour as u8));
            writeln!(
                out,
                r#"{{"id":"{case}-{seq}","type":"{kind}","gemeente":"{gemeente}","case":"{case}","at":"{at}","data":{data}}}"#
            )?;
            written += 1;
            Ok(())
        };
        let age_days = 4 * 365 + draw.below(14 * 365) as i32;
        let birth = jan1.add_days(-age_days);
        let known = jan1.add_days(-(draw.below(300) as i32));
        emit(
            out,
            "casus.aangemeld",
            known,
            draw.below(8),
            &format!(r#"{{"geboortedatum":"{birth}"}}"#),
        )?;
        let in_care = draw.chance(85);
        if in_care {
            emit(out, "zorg.gestart", known, 9, "{}")?;
            // The plans and handovers that the birthdays call for, mostly made.
            if draw.chance(70) {
                emit(
                    out,
                    "toekomstplan.opgesteld",
                    jan1.add_days(draw.below(365) as i32),
                    draw.below(8),
                    "{}",
                )?;
            }
            if draw.chance(60) {
                let route =
                    ["wmo", "wlz", "zvw", "verlengde_jeugdhulp", "geen"][draw.below(5) as usize];
                emit(
                    out,
                    "overdracht.perspectief_bepaald",
                    jan1.add_days(draw.below(365) as i32),
                    draw.below(8),
                    &format!(r#"{{"route":"{route}"}}"#),
                )?;
            }
            if draw.chance(33) {
                let end = jan1.add_days(draw.below(300) as i32);
                let reden = if draw.chance(75) {
                    "31"
                } else {
                    ["32", "33", "38"][draw.below(3) as usize]
                };
                emit(
                    out,
                    "zorg.beeindigd",
                    end,
                    draw.below(8),
                    &format!(r#"{{"reden":"{reden}"}}"#),
                )?;
                if reden == "31" && draw.chance(60) {
                    emit(
                        out,
                        "nazorg.contact",
                        end.add_days(120 + draw.below(90) as i32),
                        draw.below(8),
                        "{}",
                    )?;
                }
                if draw.chance(3) {
                    emit(
                        out,
                        "nazorg.signaal",
                        end.add_days(30 + draw.below(30) as i32),
                        draw.below(8),
                        "{}",
                    )?;
                }
            }
        }
        if draw.chance(10) {
            let day = jan1.add_days(draw.below(330) as i32);
            let id = format!(r#"{{"klacht_id":"K-{n}"}}"#);
            emit(out, "klacht.ingediend", day, draw.below(8), &id)?;
            if draw.chance(80) {
                emit(
                    out,
                    "klacht.in_behandeling",
                    day.add_days(3 + draw.below(20) as i32),
                    draw.below(8),
                    &id,
                )?;
            }
            if draw.chance(70) {
                emit(
                    out,
                    "klacht.afgerond",
                    day.add_days(20 + draw.below(30) as i32),
                    draw.below(8),
                    &id,
                )?;
            }
        }
        if draw.chance(5) {
            let day = jan1.add_days(draw.below(330) as i32);
            let id = format!(r#"{{"melding_id":"VT-{n}"}}"#);
            emit(out, "veiligthuis.melding", day, draw.below(8), &id)?;
            emit(
                out,
                "veiligthuis.besluit_onderzoek",
                day.add_days(1 + draw.below(6) as i32),
                draw.below(8),
                &id,
            )?;
            if draw.chance(85) {
                emit(
                    out,
                    "veiligthuis.beoordeeld",
                    day.add_days(40 + draw.below(40) as i32),
                    draw.below(8),
                    &id,
                )?;
            }
        }
        if draw.chance(5) {
            let published = jan1.add_days(draw.below(300) as i32);
            let filed = published.add_days(10 + draw.below(30) as i32);
            let commissie = draw.chance(30);
            emit(
                out,
                "bezwaar.ingediend",
                filed,
                draw.below(8),
                &format!(
                    r#"{{"bezwaar_id":"B-{n}","bekendgemaakt":"{published}","adviescommissie":{commissie}}}"#
                ),
            )?;
            if draw.chance(80) {
                emit(
                    out,
                    "bezwaar.beslist",
                    filed.add_days(40 + draw.below(60) as i32),
                    draw.below(8),
                    &format!(r#"{{"bezwaar_id":"B-{n}"}}"#),
                )?;
            }
        }
    }
    Ok(written)
}
