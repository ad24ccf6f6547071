//! YAML read into a tree that remembers where every key and value stood.
//!
//! Coordinators edit YAML by hand, so every problem must point at a line and column. A serde
//! deserializer stops at the first problem; this tree lets the readers in `workflow` and
//! `config` walk the whole document and report every problem at once.

use std::collections::HashMap;

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
    List(Vec<Node>, Position, usize),
    Map(Vec<(Key, Node)>, Option<Key>, Position, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
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
            Event::Scalar(text, style, anchor, _) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let node = Node {
                    value: Value::Scalar {
                        text: text.into_owned(),
                        quoted,
                    },
                    at,
                };
                self.finish(node, anchor, at)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::List(Vec::new(), at, anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(Vec::new(), None, at, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::List(items, at, anchor)) => (
                        Node {
                            value: Value::List(items),
                            at,
                        },
                        anchor,
                    ),
                    Some(Open::Map(entries, _, at, anchor)) => (
                        Node {
                            value: Value::Map(entries),
                            at,
                        },
                        anchor,
                    ),
                    None => return Ok(()),
                };
                self.finish(node, anchor, at)?;
            }
            Event::Alias(anchor) => {
                let node = self
                    .anchors
                    .get(&anchor)
                    .cloned()
                    .ok_or_else(|| SyntaxError {
                        at,
                        message: "this alias refers to an anchor that is not defined before it"
                            .into(),
                    })?;
                self.finish(Node { at, ..node }, 0, at)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize, at: Position) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
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

    #[test]
    fn aliases_copy_their_anchor() {
        let root = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        let Value::Map(entries) = &root.value else {
            panic!("a map")
        };
        assert_eq!(entries[1].1.value, entries[0].1.value);
    }
}
