//! `/`: per gemeente of the token and per workflow the open, soon due, overdue and missed
//! deadlines, each a link into the deadline list; and the deadlines due per week for the
//! next weeks as a chart, with the same numbers as a table.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use askama::Template;

use super::chart::{Week, weekly_bars};
use super::{Chrome, PageError, Web, dutch, render};
use crate::store::OverviewRow;
use waakvlam_core::calendar::{Day, Weekday, local_day};
use waakvlam_core::engine::DeadlineState;

/// How many weeks the chart shows.
const CHART_WEEKS: u32 = 12;

/// The overview's numbers, read on a reader.
struct Overview {
    today: Day,
    rows: Vec<OverviewRow>,
    /// The Monday of this week, the first of the chart's weeks.
    first_week: Day,
    per_week: Vec<u64>,
}

#[derive(Template)]
#[template(path = "overzicht.html")]
struct OverviewPage {
    chrome: Chrome,
    today: String,
    gemeenten: Vec<GemeenteBlock>,
    chart: String,
    weeks: Vec<(String, u64)>,
}

struct GemeenteBlock {
    name: String,
    rows: Vec<Row>,
}

struct Row {
    title: String,
    open: Count,
    due_soon: Count,
    overdue: Count,
    missed: Count,
}

/// A number and the deadline list that shows what it counts.
struct Count {
    n: u64,
    link: String,
}

pub(super) async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/")?;
    let scope = visitor.token.gemeenten.clone();
    let audit = visitor.audit_each(&headers, "web GET /", scope.iter());
    let read_scope = scope.clone();
    let overview = web
        .read_beside(audit, move |readers, now| {
            let today = local_day(now);
            let first_week = today.add_days(-days_since_monday(today.weekday()));
            Ok(Overview {
                today,
                rows: readers.overview(
                    &read_scope,
                    &today.to_string(),
                    &today.add_days(7).to_string(),
                )?,
                first_week,
                per_week: readers.due_per_week(&read_scope, first_week, CHART_WEEKS)?,
            })
        })
        .await?;
    let catalog = web.shelf.get();
    let soon_until = overview.today.add_days(7).to_string();
    let link = |gemeente: &str, workflow: &str, extra: &[(&str, &str)]| {
        let mut pairs = vec![("gemeente", gemeente), ("workflow", workflow)];
        pairs.extend_from_slice(extra);
        format!(
            "/termijnen?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let gemeenten = scope
        .iter()
        .map(|code| {
            // Every workflow is listed, also where nothing is open: a zero is information.
            let rows = catalog
                .workflows
                .iter()
                .map(|w| {
                    let counted = overview
                        .rows
                        .iter()
                        .find(|r| r.gemeente == code && r.workflow == w.name)
                        .cloned()
                        .unwrap_or_default();
                    Row {
                        title: w.title.clone(),
                        open: Count {
                            n: counted.open,
                            link: link(code, &w.name, &[("status", DeadlineState::Open.as_str())]),
                        },
                        due_soon: Count {
                            n: counted.due_soon,
                            link: link(
                                code,
                                &w.name,
                                &[
                                    ("status", DeadlineState::Open.as_str()),
                                    ("tot", &soon_until),
                                ],
                            ),
                        },
                        overdue: Count {
                            n: counted.overdue,
                            link: link(
                                code,
                                &w.name,
                                &[("status", DeadlineState::Overdue.as_str())],
                            ),
                        },
                        missed: Count {
                            n: counted.missed,
                            link: link(
                                code,
                                &w.name,
                                &[("status", DeadlineState::Missed.as_str())],
                            ),
                        },
                    }
                })
                .collect();
            GemeenteBlock {
                name: catalog.gemeente_name(code),
                rows,
            }
        })
        .collect();
    let weeks: Vec<Week> = overview
        .per_week
        .iter()
        .enumerate()
        .map(|(i, count)| Week {
            monday: overview.first_week.add_days(7 * i as i32),
            count: *count,
        })
        .collect();
    let page = OverviewPage {
        chrome: visitor.chrome("Overzicht", "/"),
        today: dutch::date_with_weekday(overview.today),
        gemeenten,
        chart: weekly_bars(&weeks),
        weeks: weeks
            .iter()
            .map(|w| {
                let sunday = w.monday.add_days(6);
                (
                    format!(
                        "{} tot en met {}",
                        dutch::date(&w.monday.to_string()),
                        dutch::date(&sunday.to_string())
                    ),
                    w.count,
                )
            })
            .collect(),
    };
    Ok(render(&page))
}

fn days_since_monday(weekday: Weekday) -> i32 {
    match weekday {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    }
}
