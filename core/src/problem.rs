//! Problems in a file a person wrote (a workflow, the configuration), each with its place and a
//! hint, and the map reader that finds misspelt and missing keys. Shared by `workflow` and
//! `config` so that both speak the same way.

use std::fmt;

use crate::suggest;
use crate::yaml::{Key, Node, Position, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub at: Position,
    pub message: String,
    pub hint: Option<String>,
}

/// `file:line:column: message`, then the hint on its own line, as compilers do; editors and
/// terminals turn the first part into a link.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.at.line, self.at.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem, one after the other, for an error message.
pub fn joined(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects the problems of one file.
pub struct Problems {
    file: String,
    list: Vec<Problem>,
}

impl Problems {
    pub fn new(file: impl Into<String>) -> Problems {
        Problems {
            file: file.into(),
            list: Vec::new(),
        }
    }

    pub fn add(&mut self, at: Position, message: impl Into<String>) {
        self.push(at, message.into(), None);
    }

    /// The file the problems are of.
    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn add_with_hint(
        &mut self,
        at: Position,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(at, message.into(), Some(hint.into()));
    }

    /// An unknown name, with a did-you-mean hint when one of `known` is close.
    pub fn unknown<'a>(
        &mut self,
        at: Position,
        message: String,
        name: &str,
        known: impl IntoIterator<Item = &'a str> + Clone,
        otherwise: impl FnOnce() -> String,
    ) {
        let hint = match suggest::closest(name, known) {
            Some(near) => format!("did you mean '{near}'?"),
            None => otherwise(),
        };
        self.push(at, message, Some(hint));
    }

    fn push(&mut self, at: Position, message: String, hint: Option<String>) {
        self.list.push(Problem {
            file: self.file.clone(),
            at,
            message,
            hint,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn into_vec(mut self) -> Vec<Problem> {
        self.list.sort_by_key(|p| p.at);
        self.list
    }
}

/// The keys of one YAML map, read once each. Unknown and repeated keys are reported when the
/// reader is made; missing required keys when they are asked for.
pub struct MapReader<'n> {
    entries: &'n [(Key, Node)],
    at: Position,
    what: String,
    /// Known keys that an unknown key was probably meant to be: not reported again as missing.
    misspelt: Vec<&'static str>,
}

impl<'n> MapReader<'n> {
    /// Reads `node` as a map with the given keys; `what` names it in messages ("deadline 'x'").
    pub fn new(
        node: &'n Node,
        known: &[&'static str],
        what: &str,
        problems: &mut Problems,
    ) -> Option<MapReader<'n>> {
        let Value::Map(entries) = &node.value else {
            problems.add(
                node.at,
                format!(
                    "{what} must be a map of keys and values, not {}",
                    node.describe()
                ),
            );
            return None;
        };
        let mut misspelt = Vec::new();
        for (i, (key, _)) in entries.iter().enumerate() {
            if !known.contains(&key.name.as_str()) {
                misspelt.extend(suggest::closest(&key.name, known.iter().copied()));
                problems.unknown(
                    key.at,
                    format!("unknown key '{}' in {what}", key.name),
                    &key.name,
                    known.iter().copied(),
                    || format!("{what} has the keys {}", known.join(", ")),
                );
            } else if entries[..i]
                .iter()
                .any(|(earlier, _)| earlier.name == key.name)
            {
                problems.add(key.at, format!("'{}' appears twice in {what}", key.name));
            }
        }
        Some(MapReader {
            entries,
            at: node.at,
            what: what.to_string(),
            misspelt,
        })
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, node)| node)
    }

    /// Where `key` is written.
    pub fn key_at(&self, key: &str) -> Option<Position> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k.at)
    }

    /// True when an unknown key in this map looks like a misspelling of `key`: its absence
    /// is then already explained by that problem.
    pub fn is_misspelt(&self, key: &str) -> bool {
        self.misspelt.contains(&key)
    }

    pub fn require(&self, key: &str, problems: &mut Problems) -> Option<&'n Node> {
        let found = self.get(key);
        if found.is_none() && !self.is_misspelt(key) {
            problems.add(self.at, format!("{} needs '{key}'", self.what));
        }
        found
    }

    /// A scalar value as text.
    pub fn text(&self, key: &str, problems: &mut Problems) -> Option<(&'n str, Position)> {
        let node = self.get(key)?;
        text_of(node, &format!("'{key}' in {}", self.what), problems)
    }

    /// A whole number, or `default` when the key is absent; a problem when it is not one.
    pub fn number<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
        problems: &mut Problems,
    ) -> T {
        match self.text(key, problems) {
            None => default,
            Some((text, at)) => text.parse().unwrap_or_else(|_| {
                problems.add(at, format!("'{key}' must be a whole number, not '{text}'"));
                default
            }),
        }
    }

    /// `true` or `false`; `None` when the key is absent or the value is neither (a problem).
    pub fn bool(&self, key: &str, problems: &mut Problems) -> Option<bool> {
        let node = self.get(key)?;
        match node.scalar() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => {
                problems.add(
                    node.at,
                    format!("'{key}' must be true or false, not {}", node.describe()),
                );
                None
            }
        }
    }

    /// An hour of the day, 0 to 23.
    pub fn hour(&self, key: &str, problems: &mut Problems) -> Option<u8> {
        let (text, at) = self.text(key, problems)?;
        match text.parse::<u8>() {
            Ok(hour) if hour < 24 => Some(hour),
            _ => {
                problems.add_with_hint(
                    at,
                    format!("'{key}' must be an hour from 0 to 23, not '{text}'"),
                    format!("for example '{key}: 9'"),
                );
                None
            }
        }
    }

    /// A SHA-256 in hexadecimal, lowercased; `hint` says where to get it.
    pub fn sha256(&self, key: &str, hint: &str, problems: &mut Problems) -> Option<String> {
        let (hex, at) = self.text(key, problems)?;
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(hex.to_ascii_lowercase())
        } else {
            problems.add_with_hint(
                at,
                format!("'{key}' must be 64 hexadecimal characters"),
                hint,
            );
            None
        }
    }

    pub fn entries(&self) -> &'n [(Key, Node)] {
        self.entries
    }
}

/// A scalar's text, or a problem saying what was found instead.
pub fn text_of<'n>(
    node: &'n Node,
    what: &str,
    problems: &mut Problems,
) -> Option<(&'n str, Position)> {
    match node.scalar() {
        Some(text) => Some((text, node.at)),
        None => {
            problems.add(
                node.at,
                format!("{what} must be a single value, not {}", node.describe()),
            );
            None
        }
    }
}

/// A list, or a single value read as a list of one: `to: teamleider` and `to: [teamleider]`.
pub fn list_of(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::List(items) => items.iter().collect(),
        _ if node.is_null() => Vec::new(),
        _ => vec![node],
    }
}

/// A gemeente's CBS code (`GM0150`), or a problem that says what one looks like.
pub fn gemeente_code_of(node: &Node, problems: &mut Problems) -> Option<String> {
    let (code, at) = text_of(node, "a gemeente", problems)?;
    if crate::event::is_gemeente_code(code) {
        Some(code.to_string())
    } else {
        problems.add_with_hint(
            at,
            format!("'{code}' is not a gemeente code"),
            "use the CBS code, for example GM0150 for Deventer",
        );
        None
    }
}
