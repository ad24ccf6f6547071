//! A derivation in Dutch, one sentence a step, for professionals, coordinators and a judge: the
//! days with their weekday, the holiday or decision by name, the article of the Atw that applies.

use super::{Origin, Step};
use crate::calendar::{AtwStep, Day, FreeDay};
use crate::engine::ParamOrigin;
use crate::engine::notification::dutch_day;
use crate::workflow::{Condition, Sign};

/// What the sentences say besides the steps: the gemeente's name and the workflow's title.
pub struct About<'a> {
    pub gemeente: &'a str,
    pub workflow: &'a str,
}

/// The steps in Dutch, one sentence each (a term set by the gemeente adds one that says by
/// whom).
pub fn sentences(steps: &[Step<'_>], about: &About<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::From(origin) => out.push(from(origin)),
            Step::Named { name, day } => out.push(format!("Dat is «{name}»: {}.", dutch_day(*day))),
            Step::Chosen { when } => out.push(format!(
                "Omdat in het startbericht {}, geldt de termijn die de workflow voor dat geval geeft.",
                conditions(when)
            )),
            Step::Term {
                sign,
                length,
                param,
                origin,
                default,
                to,
            } => {
                let named = param.map(|p| format!(" («{p}»)")).unwrap_or_default();
                out.push(match sign {
                    Sign::Plus => format!("Termijn {length}{named}: tot en met {}.", dutch_day(*to)),
                    Sign::Minus => format!("{}{named} eerder: {}.", capital(&length.to_string()), dutch_day(*to)),
                });
                let workflow_says = default
                    .map(|d| format!("; de workflow zegt {d}"))
                    .unwrap_or_default();
                out.push(match origin {
                    Some(ParamOrigin::Workflow) => {
                        format!("Deze termijn staat in de workflow «{}».", about.workflow)
                    }
                    Some(ParamOrigin::Configuration) => format!(
                        "De configuratie zet deze termijn voor {} op {length}{workflow_says}.",
                        about.gemeente
                    ),
                    Some(ParamOrigin::Plugin) => format!(
                        "De plugin van {} zet deze termijn op {length}{workflow_says}.",
                        about.gemeente
                    ),
                    None => format!("Voor {} geldt {length}{workflow_says}.", about.gemeente),
                });
            }
            Step::Extended { times, by, to } => out.push(match times {
                1 => format!("De termijn is verlengd met {by}: tot en met {}.", dutch_day(*to)),
                n => format!(
                    "De termijn is {n} keer verlengd met {by}: tot en met {}.",
                    dutch_day(*to)
                ),
            }),
            Step::Suspended { days, to } => out.push(format!(
                "De termijn was {days} {} opgeschort en loopt zoveel langer: tot en met {}.",
                if *days == 1 { "dag" } else { "dagen" },
                dutch_day(*to)
            )),
            Step::SuspendedNow { since } => out.push(format!(
                "De termijn is opgeschort sinds {}: de einddatum volgt als hij weer loopt.",
                dutch_day(*since)
            )),
            Step::Atw(AtwStep::OffFreeDays { free, to }) => out.push(off_free_days(free, *to)),
            Step::Atw(AtwStep::TwoWorkingDays { to }) => out.push(format!(
                "Een termijn van drie dagen of langer omvat ten minste twee dagen die geen zaterdag, \
                 zondag of feestdag zijn: volgens de Algemene termijnenwet (art. 2) loopt de \
                 termijn door tot {}.",
                dutch_day(*to)
            )),
            Step::ServiceNormOnFreeDay { day, why } => out.push(format!(
                "{} {}, maar dit is een eigen norm en geen wettelijke termijn: de Algemene \
                 termijnenwet schuift hem niet op.",
                capital(&dutch_day(*day)),
                free_day(why)
            )),
            Step::CountedBack => out.push(
                "De termijn telt terug vanaf een moment: de Algemene termijnenwet verlengt hem \
                 niet (art. 1 lid 2)."
                    .to_string(),
            ),
            Step::NotAfter { last } => out.push(format!(
                "Deze termijn loopt nooit later af dan {0}: de einddatum is {0}.",
                dutch_day(*last)
            )),
            Step::AfterContact { contact, every, to } => out.push(format!(
                "Het vorige contact was op {}: het volgende binnen {every}, tot en met {}.",
                dutch_day(*contact),
                dutch_day(*to)
            )),
            Step::AfterMissed { missed, every, to } => out.push(format!(
                "De vorige termijn ({}) verliep zonder contact: de volgende is {every} later, op {}.",
                dutch_day(*missed),
                dutch_day(*to)
            )),
            Step::Recurs { every, until } => out.push(match until {
                Some(until) => format!(
                    "Deze termijn komt elke {every} terug, tot en met {}.",
                    dutch_day(*until)
                ),
                None => format!("Deze termijn komt elke {every} terug."),
            }),
            Step::BirthDateCorrected { on } => out.push(format!(
                "De geboortedatum is op {} gecorrigeerd: de termijn is opnieuw berekend vanaf de \
                 nieuwe geboortedatum.",
                dutch_day(*on)
            )),
            Step::BirthDateIncomplete => out.push(
                "Van de geboortedatum zijn alleen het jaar of de maand bekend: de einddatum volgt \
                 als de volledige datum bekend is."
                    .to_string(),
            ),
            Step::WaitsFor { event } => out.push(format!(
                "Deze termijn telt vanaf het bericht \"{}\", dat er nog niet is: de einddatum volgt als het komt.",
                event.words()
            )),
            Step::Provisional {
                covered_through: Some(year),
            } => out.push(format!(
                "Voor {} en later is nog geen Koninklijk Besluit over extra feestdagen bekend (de \
                 gegevens lopen tot en met {year}): deze einddatum is voorlopig en kan nog \
                 verschuiven.",
                year + 1
            )),
            Step::Provisional {
                covered_through: None,
            } => out.push(
                "Er zijn geen gegevens over dagen die bij Koninklijk Besluit zijn gelijkgesteld \
                 aan een feestdag: deze einddatum is voorlopig en kan nog verschuiven."
                    .to_string(),
            ),
        }
    }
    out
}

fn from(origin: &Origin<'_>) -> String {
    match origin {
        Origin::StartEvent { event, day } | Origin::Event { event, day } => {
            format!("{} op {}.", capital(event.words()), dutch_day(*day))
        }
        Origin::StartDate { day } => format!("De workflow begon op {}.", dutch_day(*day)),
        Origin::Birthday {
            age,
            day,
            leap_day: false,
        } => format!("De jongere wordt {age} op {}.", dutch_day(*day)),
        Origin::Birthday {
            age,
            day,
            leap_day: true,
        } => format!(
            "De jongere wordt {age} op {}: geboren op 29 februari, en {} heeft die dag niet.",
            dutch_day(*day),
            day.year()
        ),
        Origin::Data { field, day } => {
            format!("Datum «{field}» uit het startbericht: {}.", dutch_day(*day))
        }
        Origin::Deadline { title, day } => {
            format!(
                "Telt vanaf de einddatum van «{title}»: {}.",
                dutch_day(*day)
            )
        }
    }
}

/// Atw art. 1 lid 1, naming every free day that is no weekend day (and the first in any case):
/// "Vrijdag 1 januari 2027 is Nieuwjaarsdag: ... loopt de termijn door tot maandag 4 januari".
fn off_free_days(free: &[(Day, FreeDay<'_>)], to: Day) -> String {
    let named: Vec<String> = free
        .iter()
        .enumerate()
        .filter(|(i, (_, why))| *i == 0 || *why != FreeDay::Weekend)
        .map(|(_, (day, why))| format!("{} {}", dutch_day(*day), free_day(why)))
        .collect();
    let by_decision = free.iter().any(|(_, why)| matches!(why, FreeDay::Added(_)));
    format!(
        "{}: volgens de Algemene termijnenwet ({}) loopt de termijn door tot {}.",
        capital(&list(&named)),
        if by_decision {
            "art. 1 lid 1 en art. 3 lid 3"
        } else {
            "art. 1 lid 1"
        },
        dutch_day(to)
    )
}

fn free_day(why: &FreeDay<'_>) -> String {
    match why {
        FreeDay::Weekend => "valt in het weekend".to_string(),
        FreeDay::Holiday(name) => format!("is {name}"),
        FreeDay::Added(added) => format!(
            "is bij Koninklijk Besluit gelijkgesteld aan een feestdag ({}; {})",
            added.reason, added.source
        ),
        FreeDay::Closed => "is een sluitingsdag van de gemeente".to_string(),
    }
}

/// `«adviescommissie» true is`, `«route» niet wmo of wlz is`, joined by "en".
fn conditions(when: &[Condition]) -> String {
    let each: Vec<String> = when
        .iter()
        .map(|c| {
            format!(
                "«{}» {}{} is",
                c.field,
                if c.negated { "niet " } else { "" },
                c.values.join(" of ")
            )
        })
        .collect();
    list(&each)
}

/// `a`, `a en b`, `a, b en c`.
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} en {last}", rest.join(", ")),
    }
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
