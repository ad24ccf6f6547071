//! The usual event line read by hand. `simulate` reads every line of a year's events when the
//! case comes up, and serde's generic reading was a tenth of its work. Only the shape that
//! senders and `generate` write is read here: the keys in the contract's order, no spaces,
//! strings without escapes, data values that are strings or booleans. Anything else is left
//! to serde, so what this reads is exactly what serde reads, and every error is serde's.

use serde_json::{Map, Value};

use super::Fields;

impl Fields {
    /// The fields of a line in the usual shape, as serde would read them; `None` for any other
    /// line (which need not be wrong).
    pub fn quick(line: &str) -> Option<Fields> {
        let mut reader = Reader { text: line, at: 0 };
        reader.literal(b"{\"id\":")?;
        let id = reader.string()?;
        reader.literal(b",\"type\":")?;
        let kind = reader.string()?;
        reader.literal(b",\"gemeente\":")?;
        let gemeente = reader.string()?;
        reader.literal(b",\"case\":")?;
        let case = reader.string()?;
        reader.literal(b",\"at\":")?;
        let at = reader.string()?;
        reader.literal(b",\"data\":{")?;
        let mut data = Map::new();
        if reader.literal(b"}").is_none() {
            loop {
                let key = reader.string()?;
                reader.literal(b":")?;
                let value = if reader.literal(b"true").is_some() {
                    Value::Bool(true)
                } else if reader.literal(b"false").is_some() {
                    Value::Bool(false)
                } else {
                    Value::String(reader.string()?)
                };
                // A key given twice keeps its first place and its last value, as in serde.
                data.insert(key, value);
                if reader.literal(b",").is_none() {
                    reader.literal(b"}")?;
                    break;
                }
            }
        }
        reader.literal(b"}")?;
        (reader.at == line.len()).then_some(Fields {
            id,
            kind,
            gemeente,
            case,
            at,
            data: Value::Object(data),
        })
    }
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    /// Goes past `expected` if the text goes on with it.
    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.text.as_bytes()[self.at..]
            .starts_with(expected)
            .then(|| self.at += expected.len())
    }

    /// A string with nothing escaped in it (and no control character, which JSON refuses).
    fn string(&mut self) -> Option<String> {
        self.literal(b"\"")?;
        let rest = &self.text.as_bytes()[self.at..];
        let length = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[length] != b'"' {
            return None;
        }
        // Both ends are ASCII quotes, so both are character boundaries.
        let text = self.text[self.at..self.at + length].to_string();
        self.at += length + 1;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_serde(line: &str) -> Option<Fields> {
        serde_json::from_str(line).ok()
    }

    #[test]
    fn every_line_generate_writes_is_read_quickly_and_as_serde_reads_it() {
        let mut out = Vec::new();
        crate::synthetic::write_events(&mut out, 2_000, 2027, 7).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = 0;
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let quick = Fields::quick(line).unwrap_or_else(|| panic!("not read quickly: {line}"));
            assert_eq!(Some(quick), by_serde(line), "{line}");
            lines += 1;
        }
        assert!(lines > 7_000, "{lines} lines");
    }

    #[test]
    fn other_shapes_are_left_to_serde() {
        let usual = r#"{"id":"e-1","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{"a":"b","c":true}}"#;
        assert!(Fields::quick(usual).is_some());
        for other in [
            // Spaces, another order, an escape, a number, no data, something after the end.
            r#"{"id": "e-1","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{}}"#,
            r#"{"type":"zorg.gestart","id":"e-1","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{}}"#,
            r#"{"id":"e-\"1","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{}}"#,
            r#"{"id":"e-1","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{"reden":31}}"#,
            r#"{"id":"e-1","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00"}"#,
            r#"{"id":"e-1","type":"zorg.gestart","gemeente":"GM0150","case":"C-1","at":"2027-04-13T10:15:00+02:00","data":{}}x"#,
        ] {
            assert_eq!(Fields::quick(other), None, "{other}");
        }
    }

    /// A string as a sender may write it: plain, or with what JSON escapes, spaces, letters
    /// beyond ASCII.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-zA-Z0-9.:+-]{0,12}", "[\\x00-\\x1f\"\\\\a é😀]{0,6}",]
    }

    /// A JSON value of the data: mostly what the quick reader takes, sometimes what it leaves.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => text().prop_map(|t| serde_json::to_string(&t).unwrap()),
            1 => Just("true".to_string()),
            1 => Just("false".to_string()),
            1 => Just("null".to_string()),
            1 => Just("31".to_string()),
            1 => Just("[\"a\"]".to_string()),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(text(), 5),
            proptest::collection::vec((text(), value()), 0..4),
            0..6usize,
            any::<bool>(),
        )
            .prop_map(|(fields, data, raw, space)| {
                let quoted: Vec<String> = fields
                    .iter()
                    .enumerate()
                    // Now and then a field written as it is, unescaped (not JSON, or not
                    // the same string).
                    .map(|(n, f)| {
                        if n == raw {
                            format!("\"{f}\"")
                        } else {
                            serde_json::to_string(f).unwrap()
                        }
                    })
                    .collect();
                let data: Vec<String> = data
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                    .collect();
                let colon = if space { ": " } else { ":" };
                format!(
                    "{{\"id\"{colon}{},\"type\":{},\"gemeente\":{},\"case\":{},\"at\":{},\"data\":{{{}}}}}",
                    quoted[0],
                    quoted[1],
                    quoted[2],
                    quoted[3],
                    quoted[4],
                    data.join(",")
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn what_is_read_quickly_is_what_serde_reads(line in line()) {
            if let Some(quick) = Fields::quick(&line) {
                prop_assert_eq!(Some(quick), by_serde(&line));
            }
        }
    }
}
