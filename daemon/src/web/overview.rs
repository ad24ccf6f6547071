//! `/`: per gemeente of the token and per workflow the open, soon due, overdue and missed
//! deadlines, each a link into the deadline list; and the deadlines due per week for the
//! next weeks as a chart, with the same numbers as a table.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use askama::Template;

use super::chart::{Week, weekly_bars};
use super::{Chrome, PageError, Web, dutch, render};
use crate::scheduler::Command;
use crate::scheduler::pages::PageCommand;

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
    let overview = web
        .ask(|reply| {
            Command::Page(PageCommand::Overview {
                scope: scope.clone(),
                audit,
                reply,
            })
        })
        .await??;
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
                            link: link(code, &w.name, &[("status", "open")]),
                        },
                        due_soon: Count {
                            n: counted.due_soon,
                            link: link(code, &w.name, &[("status", "open"), ("tot", &soon_until)]),
                        },
                        overdue: Count {
                            n: counted.overdue,
                            link: link(code, &w.name, &[("status", "overdue")]),
                        },
                        missed: Count {
                            n: counted.missed,
                            link: link(code, &w.name, &[("status", "missed")]),
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
