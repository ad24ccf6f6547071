//! CSV for Dutch Excel: `;` between fields, UTF-8 with a byte order mark, CRLF; every field
//! safe to open (RFC 4180 quoting, and no text a spreadsheet would run as a formula). The
//! deadlines list and the reports write through here.

/// The byte order mark that tells Excel the file is UTF-8 (else "beëindigd" breaks).
pub const BOM: &str = "\u{feff}";

/// A field quoted when it holds a separator, a quote or a line break (RFC 4180), and with a
/// leading `'` when a spreadsheet would take it for a formula: one that starts with `= + - @`,
/// also after spaces, tabs or line breaks (which spreadsheets skip), or with a tab or a
/// carriage return itself.
pub fn field(text: &str) -> String {
    let formula = text
        .trim_start_matches(|c: char| c.is_whitespace() || c.is_control())
        .starts_with(['=', '+', '-', '@']);
    let text = if formula || text.starts_with(['\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One line of fields, with its CRLF.
pub fn line<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = fields.into_iter().map(field).collect::<Vec<_>>().join(";");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_survive_separators_quotes_and_formulas() {
        assert_eq!(field("C-1"), "C-1");
        assert_eq!(field("a;b"), "\"a;b\"");
        assert_eq!(field("zeg \"ja\""), "\"zeg \"\"ja\"\"\"");
        assert_eq!(field("=SOM(A1)"), "'=SOM(A1)");
    }

    /// Regression (security review): `\t=1+2` went out as a formula.
    #[test]
    fn a_formula_after_a_tab_or_a_carriage_return_is_no_formula() {
        assert_eq!(field("\t=1+2"), "'\t=1+2");
        assert_eq!(field("\r=1+2"), "\"'\r=1+2\"");
        assert_eq!(field("  @SUM(A1)"), "'  @SUM(A1)");
        assert_eq!(field("\u{b}+1"), "'\u{b}+1");
        assert_eq!(field("C-1 = ja"), "C-1 = ja");
    }
}
