//! Reports as coordinators download them: the computation is the core's
//! (`waakvlam_core::report`); here the CSV for Dutch Excel, with names from the catalog.

pub use waakvlam_core::report::*;

/// The CSV header of a report (`/rapportage.csv`, `waakvlam report --csv`).
pub const CSV_HEADER: &str = "gemeente;gemeentenaam;workflow;termijn;te_halen;op_tijd;te_laat_gehaald;niet_gehaald;nog_open;vervallen;op_tijd_procent;doorlooptijd_mediaan;doorlooptijd_p90;dagen_te_laat_mediaan;dagen_te_laat_max;escalaties";

/// The report as CSV for Dutch Excel: a line per deadline, then the totals per gemeente and
/// of the whole report (workflow `totaal`); names from the catalog, numbers with a decimal
/// comma.
pub fn to_csv(report: &Report, catalog: &crate::catalog::Catalog) -> String {
    let number = |n: f64| format!("{n:.1}").replace('.', ",");
    let line = |gemeente: Option<&str>, workflow: String, deadline: String, c: &Counts| {
        let (code, name) = match gemeente {
            Some(code) => (
                code.to_string(),
                catalog.gemeenten.get(code).cloned().unwrap_or_default(),
            ),
            None => (String::new(), "alle gemeenten".to_string()),
        };
        let escalations = c
            .escalations
            .iter()
            .map(|(level, n)| format!("niveau {level}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let fields = [
            code,
            name,
            workflow,
            deadline,
            c.due.to_string(),
            c.met_on_time.to_string(),
            c.met_late.to_string(),
            c.not_met.to_string(),
            c.open.to_string(),
            c.cancelled.to_string(),
            c.on_time_rate
                .map(|r| number(r * 100.0))
                .unwrap_or_default(),
            c.lead_time_days
                .map(|s| number(s.median))
                .unwrap_or_default(),
            c.lead_time_days.map(|s| number(s.p90)).unwrap_or_default(),
            c.days_late.map(|l| number(l.median)).unwrap_or_default(),
            c.days_late.map(|l| l.max.to_string()).unwrap_or_default(),
            escalations,
        ];
        crate::csv::line(fields.iter().map(String::as_str))
    };
    let mut out = String::from(crate::csv::BOM);
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for row in &report.rows {
        out.push_str(&line(
            Some(&row.gemeente),
            catalog.title_of(&row.workflow),
            catalog.deadline_title(&row.workflow, &row.deadline),
            &row.counts,
        ));
    }
    for total in &report.totals {
        out.push_str(&line(
            total.gemeente.as_deref(),
            "totaal".to_string(),
            String::new(),
            &total.counts,
        ));
    }
    out
}
