//! YAML read into a tree that remembers where every key and value stood.
//!
//! Coordinators edit YAML by hand, so every problem must point at a line and column. A serde
//! deserializer stops at the first problem; this tree lets the readers in `workflow` and
//! `config` walk the whole document and report every problem at once.
//!
//! Aliases (`*name`) are refused, not expanded: no workflow or configuration needs them, and
//! expanding them copies the anchored tree at every reference, so a few hundred bytes of
//! nested aliases grow into gigabytes (a what-if request of a read-only token took a daemon
//! down that way). Nesting is bounded too, so that no reader recurses without end.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub at: Position,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar as written; `quoted` scalars are always text (`"31"`, `'true'`).
    Scalar {
        text: String,
        quoted: bool,
    },
    List(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub at: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub at: Position,
    pub message: String,
}

impl Node {
    /// The text of a scalar; `None` for lists and maps.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// YAML's null: `~`, `null` or nothing at all.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What this node is, for messages ("a list", "a map", "the text 'x'").
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Scalar { text, .. } if text.is_empty() => "nothing".into(),
            Value::Scalar { text, .. } => format!("'{text}'"),
            Value::List(_) => "a list".into(),
            Value::Map(_) => "a map".into(),
        }
    }
}

fn position(span: &Span) -> Position {
    Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// Parses one YAML document. An empty file is an empty map.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|err| SyntaxError {
            at: Position {
                line: err.marker().line(),
                column: err.marker().col() + 1,
            },
            message: err.info().to_string(),
        })?;
        builder.on_event(event, &span)?;
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Map(Vec::new()),
        at: Position { line: 1, column: 1 },
    }))
}

enum Open {
    List(Vec<Node>, Position),
    Map(Vec<(Key, Node)>, Option<Key>, Position),
}

/// Deeper than any workflow or configuration (the deepest shipped one has six levels).
pub const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    documents: usize,
}

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: &Span) -> Result<(), SyntaxError> {
        let at = position(span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SyntaxError {
                        at,
                        message: "a file holds one document; remove the second '---'".into(),
                    });
                }
            }
            Event::Scalar(text, style, ..) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let node = Node {
                    value: Value::Scalar {
                        text: text.into_owned(),
                        quoted,
                    },
                    at,
                };
                self.finish(node, at)?;
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                return Err(SyntaxError {
                    at,
                    message: format!(
                        "lists and maps are nested more than {MAX_DEPTH} deep here; no workflow or configuration needs that"
                    ),
                });
            }
            Event::SequenceStart(..) => self.stack.push(Open::List(Vec::new(), at)),
            Event::MappingStart(..) => self.stack.push(Open::Map(Vec::new(), None, at)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::List(items, at)) => Node {
                        value: Value::List(items),
                        at,
                    },
                    Some(Open::Map(entries, _, at)) => Node {
                        value: Value::Map(entries),
                        at,
                    },
                    None => return Ok(()),
                };
                self.finish(node, at)?;
            }
            Event::Alias(_) => {
                return Err(SyntaxError {
                    at,
                    message: "YAML aliases ('*name') are not read; write the value out where it is needed".into(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, at: Position) -> Result<(), SyntaxError> {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::List(items, ..)) => items.push(node),
            Some(Open::Map(entries, pending, ..)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => match node.value {
                    Value::Scalar { text, .. } => {
                        *pending = Some(Key {
                            name: text,
                            at: node.at,
                        })
                    }
                    _ => {
                        return Err(SyntaxError {
                            at,
                            message: "a key must be a plain word, not a list or a map".into(),
                        });
                    }
                },
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_positions() {
        let root = parse("workflow: x\ndeadlines:\n  a:\n    due: start + 3 days\n").unwrap();
        let Value::Map(entries) = &root.value else {
            panic!("a map")
        };
        assert_eq!(entries[1].0.name, "deadlines");
        assert_eq!(entries[1].0.at, Position { line: 2, column: 1 });
        let Value::Map(deadlines) = &entries[1].1.value else {
            panic!("a map")
        };
        let Value::Map(fields) = &deadlines[0].1.value else {
            panic!("a map")
        };
        assert_eq!(
            fields[0].1.at,
            Position {
                line: 4,
                column: 10
            }
        );
        assert_eq!(fields[0].1.scalar(), Some("start + 3 days"));
    }

    #[test]
    fn quoted_scalars_are_marked() {
        let root = parse("a: \"31\"\nb: 31\n").unwrap();
        let Value::Map(entries) = &root.value else {
            panic!("a map")
        };
        assert_eq!(
            entries[0].1.value,
            Value::Scalar {
                text: "31".into(),
                quoted: true
            }
        );
        assert_eq!(
            entries[1].1.value,
            Value::Scalar {
                text: "31".into(),
                quoted: false
            }
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.at.line >= 1, "{err:?}");
    }

    /// Regression: seven levels of ten aliases each (518 bytes) took a daemon to 1.46 GB.
    #[test]
    fn aliases_are_refused_not_expanded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=8 {
            let refs = vec![format!("*a{}", level - 1); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert_eq!(err.at.line, 2);
        assert_eq!(
            err.message,
            "YAML aliases ('*name') are not read; write the value out where it is needed"
        );
        // An anchor alone expands nothing and is harmless.
        assert!(parse("a: &x [1, 2]\n").is_ok());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("nested more than 64 deep"), "{err:?}");
        // Far deeper is refused as well (by the parser's own limit first).
        assert!(parse(&"[".repeat(100_000)).is_err());
        let fine = format!("a: {}{}", "[".repeat(40), "]".repeat(40));
        assert!(parse(&fine).is_ok());
    }
}
