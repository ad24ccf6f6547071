//! The overview's bar chart, drawn by the server as SVG: no script, no style sheet of its own
//! (presentation attributes only, which the page's Content-Security-Policy allows). The same
//! numbers are in a table beside it for screen readers, so the picture is marked decorative.

use std::fmt::Write;

use waakvlam_core::calendar::Day;

/// One bar: the week's first day and how many deadlines fall due in it.
pub struct Week {
    pub monday: Day,
    pub count: u64,
}

const WIDTH: u32 = 720;
const HEIGHT: u32 = 240;
const LEFT: u32 = 40;
const BOTTOM: u32 = 40;
const TOP: u32 = 16;

/// The chart of the weeks, as an `<svg>` element.
pub fn weekly_bars(weeks: &[Week]) -> String {
    let most = weeks.iter().map(|w| w.count).max().unwrap_or(0).max(1);
    let plot_height = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / weeks.len().max(1) as u32;
    let bar = slot * 3 / 5;
    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" aria-hidden="true" focusable="false" font-family="sans-serif" font-size="13">"##
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{y}" x2="{WIDTH}" y2="{y}" stroke="#1a1a1a" stroke-width="1"/>"##,
        y = HEIGHT - BOTTOM
    );
    let _ = write!(
        svg,
        r##"<text x="{x}" y="{y}" text-anchor="end" fill="#1a1a1a">{most}</text><text x="{x}" y="{y0}" text-anchor="end" fill="#1a1a1a">0</text>"##,
        x = LEFT - 6,
        y = TOP + 5,
        y0 = HEIGHT - BOTTOM + 5
    );
    for (i, week) in weeks.iter().enumerate() {
        let height = (week.count * u64::from(plot_height) / most) as u32;
        let x = LEFT + i as u32 * slot + (slot - bar) / 2;
        let y = HEIGHT - BOTTOM - height;
        let (_, month, day) = week.monday.ymd();
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{y}" width="{bar}" height="{height}" fill="#01689b"/>"##
        );
        if week.count > 0 {
            let _ = write!(
                svg,
                r##"<text x="{cx}" y="{ty}" text-anchor="middle" fill="#1a1a1a">{count}</text>"##,
                cx = x + bar / 2,
                ty = y.saturating_sub(4).max(TOP),
                count = week.count
            );
        }
        let _ = write!(
            svg,
            r##"<text x="{cx}" y="{ly}" text-anchor="middle" fill="#1a1a1a">{day}-{month}</text>"##,
            cx = x + bar / 2,
            ly = HEIGHT - BOTTOM + 18
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tallest_bar_fills_the_plot_and_an_empty_week_has_none() {
        let monday: Day = "2027-04-26".parse().unwrap();
        let svg = weekly_bars(&[
            Week { monday, count: 4 },
            Week {
                monday: monday.add_days(7),
                count: 0,
            },
        ]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"height="184""#), "{svg}");
        assert!(svg.contains(r#"height="0""#));
        assert!(svg.contains(">26-4<") && svg.contains(">3-5<"));
        assert!(
            !svg.contains("style="),
            "the page's CSP allows no inline style"
        );
    }
}
