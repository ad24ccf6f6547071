//! `/rapportage`: the report of a period (DESIGN.md, "Verantwoording") for the token's
//! gemeenten or one of them, with a chart of the share met on time per workflow, the table,
//! and `/rapportage.csv` for Excel. Presets count back from today: the last full quarter,
//! half year or year; or two dates.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Chrome, PageError, Visitor, Web, render};
use crate::report::{Counts, Report};
use crate::scope::Scope;
use waakvlam_core::calendar::Day;

#[derive(Template)]
#[template(path = "rapportage.html")]
struct ReportPage {
    chrome: Chrome,
    gemeenten: Vec<Choice>,
    periods: Vec<Choice>,
    from: String,
    to: String,
    period: String,
    csv: String,
    chart: String,
    rows: Vec<RowText>,
    totals: Vec<RowText>,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct RowText {
    gemeente: String,
    workflow: String,
    deadline: String,
    due: u64,
    met_on_time: u64,
    met_late: u64,
    not_met: u64,
    open: u64,
    rate: String,
    lead: String,
    late: String,
    escalations: String,
}

/// The period and scope asked for, checked.
struct Asked {
    scope: Scope,
    /// A preset, or the two dates.
    period: Period,
    query: Vec<(String, String)>,
}

#[derive(Clone, Copy)]
enum Period {
    Quarter,
    HalfYear,
    Year,
    Between(Day, Day),
}

impl Period {
    /// The last full quarter, half year or year before `today`, or the dates themselves.
    fn days(self, today: Day) -> (Day, Day) {
        let (year, month, _) = today.ymd();
        let first = |year: i32, month: u32| Day::from_ymd(year, month, 1).expect("a month's first");
        let months_back = |months: u32| {
            // The first month of the current block, then one block back.
            let block = (month - 1) / months * months + 1;
            let start = first(year, block);
            let previous = start.add_months(-(months as i32));
            (previous, start.add_days(-1))
        };
        match self {
            Period::Quarter => months_back(3),
            Period::HalfYear => months_back(6),
            Period::Year => (first(year - 1, 1), first(year, 1).add_days(-1)),
            Period::Between(from, to) => (from, to),
        }
    }
}

fn asked(visitor: &Visitor, query: &HashMap<String, String>) -> Result<Asked, PageError> {
    let form = super::Form(query);
    let value = |name: &str| form.value(name);
    let scope = form.scope(visitor, "de rapportage")?;
    let day = |name: &str, label: &str| form.day(name, label);
    let period = match value("periode").unwrap_or("kwartaal") {
        "kwartaal" => Period::Quarter,
        "halfjaar" => Period::HalfYear,
        "jaar" => Period::Year,
        "eigen" => match (day("van", "vanaf")?, day("tot", "tot en met")?) {
            (Some(from), Some(to)) if from <= to => Period::Between(from, to),
            (Some(_), Some(_)) => {
                return Err(PageError::bad_request(
                    "De periode begint na het einde: kies een 'vanaf' die niet later is dan 'tot en met'.",
                ));
            }
            _ => {
                return Err(PageError::bad_request(
                    "Kies bij een eigen periode beide datums: vanaf en tot en met.",
                ));
            }
        },
        other => {
            return Err(PageError::bad_request(format!(
                "'{other}' is geen periode; kies kwartaal, halfjaar, jaar of eigen."
            )));
        }
    };
    let query = ["gemeente", "periode", "van", "tot"]
        .iter()
        .filter_map(|name| value(name).map(|v| (name.to_string(), v.to_string())))
        .collect();
    Ok(Asked {
        scope,
        period,
        query,
    })
}

/// Reads the report beside the scheduler, audited per gemeente.
async fn read(
    web: &Web,
    visitor: &Visitor,
    headers: &HeaderMap,
    action: &str,
    asked: &Asked,
) -> Result<Report, PageError> {
    let audit = visitor.audit_each(headers, action, asked.scope.iter());
    let (scope, period) = (asked.scope.clone(), asked.period);
    web.read_beside(audit, move |readers, now| {
        let today = waakvlam_core::calendar::local_day(now);
        let (from, to) = period.days(today);
        let (rows, escalations) = readers.report(&scope, (from, to), None)?;
        Ok(crate::report::compute(from, to, &rows, &escalations, today))
    })
    .await
}

/// The visitor, what they asked and its report, for the page and its CSV alike: a request
/// the visitor may not make is refused and audited as such.
async fn answer(
    web: &Web,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    action: &str,
) -> Result<(Visitor, Asked, Report), PageError> {
    let visitor = web.visitor(headers, "/rapportage")?;
    let asked = asked(&visitor, query).map_err(|err| {
        let gemeente = query.get("gemeente").map(String::as_str);
        web.refused(&visitor, headers, action, gemeente, None, err)
    })?;
    let report = read(web, &visitor, headers, action, &asked).await?;
    Ok((visitor, asked, report))
}

pub(super) async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (visitor, asked, report) = answer(&web, &headers, &query, "web GET /rapportage").await?;
    let catalog = web.shelf.get();
    let text = |gemeente: String, workflow: String, deadline: String, c: &Counts| RowText {
        gemeente,
        workflow,
        deadline,
        due: c.due,
        met_on_time: c.met_on_time,
        met_late: c.met_late,
        not_met: c.not_met,
        open: c.open,
        rate: c
            .on_time_rate
            .map_or_else(|| "–".to_string(), |r| format!("{:.0}%", r * 100.0)),
        lead: c.lead_time_days.map_or_else(
            || "–".to_string(),
            |s| format!("{} dagen", format!("{:.1}", s.median).replace('.', ",")),
        ),
        late: c
            .days_late
            .map_or_else(|| "–".to_string(), |l| format!("tot {} dagen", l.max)),
        escalations: c.escalations.values().sum::<u64>().to_string(),
    };
    let rows = report
        .rows
        .iter()
        .map(|r| {
            text(
                catalog.gemeente_name(&r.gemeente),
                catalog.title_of(&r.workflow),
                catalog.deadline_title(&r.workflow, &r.deadline),
                &r.counts,
            )
        })
        .collect();
    let totals = report
        .totals
        .iter()
        .map(|t| {
            let who = t.gemeente.as_deref().map_or_else(
                || "Alle gemeenten".to_string(),
                |g| catalog.gemeente_name(g),
            );
            text(who, "Totaal".into(), String::new(), &t.counts)
        })
        .collect();
    // The chart: per workflow, the share met on time of what was judged (met or passed).
    let mut per_workflow: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row in &report.rows {
        let judged = row.counts.met_on_time + row.counts.met_late + row.counts.not_met;
        let entry = per_workflow
            .entry(catalog.title_of(&row.workflow))
            .or_default();
        entry.0 += row.counts.met_on_time;
        entry.1 += judged;
    }
    let bars: Vec<(String, Option<f64>)> = per_workflow
        .into_iter()
        .map(|(title, (on_time, judged))| {
            (title, (judged > 0).then(|| on_time as f64 / judged as f64))
        })
        .collect();
    let selected = |name: &str, value: &str| query.get(name).is_some_and(|v| v == value);
    let mut gemeenten = vec![Choice {
        value: String::new(),
        label: "Alle gemeenten".into(),
        selected: !query.contains_key("gemeente"),
    }];
    gemeenten.extend(visitor.token.gemeenten.iter().map(|code| Choice {
        value: code.to_string(),
        label: catalog.gemeente_name(code),
        selected: selected("gemeente", code),
    }));
    let chosen = query.get("periode").map_or("kwartaal", String::as_str);
    let periods = [
        ("kwartaal", "Vorig kwartaal"),
        ("halfjaar", "Vorig halfjaar"),
        ("jaar", "Vorig jaar"),
        ("eigen", "Eigen periode (vanaf en tot en met)"),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value: value.into(),
        label: label.into(),
        selected: chosen == value,
    })
    .collect();
    let page = ReportPage {
        chrome: visitor.chrome("Rapportage", "/rapportage"),
        gemeenten,
        periods,
        from: query.get("van").cloned().unwrap_or_default(),
        to: query.get("tot").cloned().unwrap_or_default(),
        period: format!(
            "{} tot en met {}",
            crate::dutch::day(report.from),
            crate::dutch::day(report.to)
        ),
        csv: format!(
            "/rapportage.csv?{}",
            serde_urlencoded::to_string(&asked.query).unwrap_or_default()
        ),
        chart: rate_bars(&bars),
        rows,
        totals,
    };
    Ok(render(&page))
}

pub(super) async fn csv(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (_, _, report) = answer(&web, &headers, &query, "web GET /rapportage.csv").await?;
    let out = crate::report::to_csv(&report, &web.shelf.get());
    Ok(super::csv_download("rapportage.csv", out))
}

const WIDTH: u32 = 720;
const LABEL: u32 = 300;
const ROW: u32 = 28;

/// Horizontal bars of the share met on time per workflow, as an `<svg>` (presentation
/// attributes only; the table holds the same numbers, so the picture is decorative).
fn rate_bars(bars: &[(String, Option<f64>)]) -> String {
    let height = ROW * bars.len().max(1) as u32 + 8;
    let plot = WIDTH - LABEL - 60;
    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" aria-hidden="true" focusable="false" font-family="sans-serif" font-size="13">"##
    );
    for (i, (title, rate)) in bars.iter().enumerate() {
        let y = i as u32 * ROW + 4;
        let label: String = title.chars().take(40).collect();
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{ty}" text-anchor="end" fill="#1a1a1a">{label}</text>"##,
            x = LABEL - 8,
            ty = y + 17,
            label = askama::filters::escape(&label, askama::filters::Html)
                .map(|e| e.to_string())
                .unwrap_or_default()
        );
        let (width, said) = match rate {
            Some(rate) => (
                (rate * f64::from(plot)) as u32,
                format!("{:.0}%", rate * 100.0),
            ),
            None => (0, "–".to_string()),
        };
        let _ = write!(
            svg,
            r##"<rect x="{LABEL}" y="{y}" width="{width}" height="{h}" fill="#01689b"/><text x="{tx}" y="{ty}" fill="#1a1a1a">{said}</text>"##,
            h = ROW - 8,
            tx = LABEL + width + 6,
            ty = y + 15
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_the_last_full_quarter_half_year_and_year() {
        let today: Day = "2027-05-05".parse().unwrap();
        let text = |p: Period| {
            let (from, to) = p.days(today);
            (from.to_string(), to.to_string())
        };
        assert_eq!(
            text(Period::Quarter),
            ("2027-01-01".into(), "2027-03-31".into())
        );
        assert_eq!(
            text(Period::HalfYear),
            ("2026-07-01".into(), "2026-12-31".into())
        );
        assert_eq!(
            text(Period::Year),
            ("2026-01-01".into(), "2026-12-31".into())
        );
        let autumn: Day = "2027-11-30".parse().unwrap();
        let (from, to) = Period::Quarter.days(autumn);
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2027-07-01".into(), "2027-09-30".into())
        );
    }

    #[test]
    fn a_bar_per_workflow_with_its_share() {
        let svg = rate_bars(&[("Klacht <x>".into(), Some(0.5)), ("Nazorg".into(), None)]);
        assert!(
            svg.contains("Klacht &#60;x&#62;") || svg.contains("Klacht &lt;x&gt;"),
            "{svg}"
        );
        assert!(svg.contains(">50%<") && svg.contains(">–<"), "{svg}");
    }
}
