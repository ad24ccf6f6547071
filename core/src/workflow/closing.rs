//! What a workflow does when its case closes (`closing`), which other workflows keep it from
//! starting (`start.unless_open`), and the words its messages use for data values (`words`).
//!
//! A closed case ends every open workflow of it (DESIGN.md, `casus.gesloten`), except aftercare
//! where the gemeente follows closed cases: Haaksbergen follows every closed case for five
//! years (seed 004 r. 1864-1866), so there the closing starts its nazorg.

use std::collections::BTreeMap;

use crate::problem::{MapReader, Problems, gemeente_code_of, list_of, text_of};
use crate::yaml::{Node, Position, Value};

pub const CLOSING_KEYS: &[&str] = &["starts_in", "continues"];

/// What the closing of a case does to a workflow. By default it ends it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closing {
    /// In these gemeenten the closing starts the workflow (and so does not end it there).
    pub starts_in: Vec<String>,
    /// The closing does not end it, in any gemeente (aftercare that follows closed cases).
    pub continues: bool,
}

impl Closing {
    /// Whether an open instance in `gemeente` lives on when its case closes.
    pub fn continues_in(&self, gemeente: &str) -> bool {
        self.continues || self.starts_in(gemeente)
    }

    /// Whether the closing of a case in `gemeente` starts the workflow.
    pub fn starts_in(&self, gemeente: &str) -> bool {
        self.starts_in.iter().any(|code| code == gemeente)
    }
}

/// `closing: { starts_in: [GM0158] }` or `closing: { continues: true }`.
pub fn read_closing(node: &Node, problems: &mut Problems) -> Closing {
    let Some(map) = MapReader::new(node, CLOSING_KEYS, "'closing'", problems) else {
        return Closing::default();
    };
    let starts_in = map
        .get("starts_in")
        .map(|list| {
            list_of(list)
                .into_iter()
                .filter_map(|code| gemeente_code_of(code, problems))
                .collect()
        })
        .unwrap_or_default();
    let continues = map.bool("continues", problems).unwrap_or(false);
    if !continues
        && map
            .get("starts_in")
            .is_none_or(|list| list_of(list).is_empty())
    {
        problems.add_with_hint(
            node.at,
            "'closing' says nothing: a closed case ends the workflow anyway",
            "write 'starts_in: [GM0158]' (the closing starts it there) or 'continues: true' (the closing does not end it)",
        );
    }
    Closing {
        starts_in,
        continues,
    }
}

/// `unless_open: [nazorg-mo-plan]`: the names as written, with where; that they name
/// workflows is checked once every workflow is read ([`check_unless_open`]).
pub fn read_unless_open(node: &Node, problems: &mut Problems) -> Vec<(String, Position)> {
    list_of(node)
        .into_iter()
        .filter_map(|name| text_of(name, "a workflow in 'unless_open'", problems))
        .map(|(name, at)| (name.to_string(), at))
        .collect()
}

/// Every name in a workflow's `start.unless_open` is a workflow of the set, and not itself.
pub fn check_unless_open(
    name: &str,
    unless_open: &[(String, Position)],
    names: &[&str],
    problems: &mut Problems,
) {
    for (other, at) in unless_open {
        if other == name {
            problems.add_with_hint(
                *at,
                format!("'{other}' is this workflow itself"),
                "a workflow never starts twice for one key; name another workflow",
            );
        } else if !names.contains(&other.as_str()) {
            problems.unknown(
                *at,
                format!("there is no workflow '{other}'"),
                other,
                names.iter().copied(),
                || "name a workflow of this directory by its file name".into(),
            );
        }
    }
}

/// The words a message uses for a data field's values, by field:
/// `words: { uitvoerder: { vrijwilliger: een vrijwilliger } }` makes `{data.uitvoerder}` read
/// "een vrijwilliger" where the event says `vrijwilliger`. A value without a word stays as it is.
pub fn read_words(
    node: &Node,
    problems: &mut Problems,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut words = BTreeMap::new();
    let hint = "for example 'words: { uitvoerder: { vrijwilliger: een vrijwilliger } }'";
    let Value::Map(fields) = &node.value else {
        problems.add_with_hint(node.at, "'words' must be a map of data fields", hint);
        return words;
    };
    for (field, values) in fields {
        let Value::Map(entries) = &values.value else {
            problems.add_with_hint(
                values.at,
                format!(
                    "the words of '{}' must be a map from value to words",
                    field.name
                ),
                hint,
            );
            continue;
        };
        let mut said = BTreeMap::new();
        for (value, text) in entries {
            if let Some((text, _)) = text_of(text, "a word", problems) {
                said.insert(value.name.clone(), text.to_string());
            }
        }
        words.insert(field.name.clone(), said);
    }
    words
}

/// `roles_in: { GM0158: { klachtenfunctionaris: afdelingshoofd } }`: in that gemeente another
/// of the workflow's roles does a role's part, and its messages address that role (Haaksbergen
/// has complaints about its own staff handled by their afdelingshoofd, seed 004 r. 2160-2161).
pub fn read_roles_in(
    node: &Node,
    roles: &BTreeMap<String, String>,
    problems: &mut Problems,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut by_gemeente = BTreeMap::new();
    let hint = "for example 'roles_in: { GM0158: { klachtenfunctionaris: afdelingshoofd } }'";
    let Value::Map(gemeenten) = &node.value else {
        problems.add_with_hint(node.at, "'roles_in' must be a map of gemeenten", hint);
        return by_gemeente;
    };
    for (code, instead) in gemeenten {
        if !crate::event::is_gemeente_code(&code.name) {
            problems.add_with_hint(
                code.at,
                format!("'{}' is not a gemeente code", code.name),
                "use the CBS code, for example GM0158 for Haaksbergen",
            );
            continue;
        }
        let Value::Map(pairs) = &instead.value else {
            problems.add_with_hint(
                instead.at,
                format!("the roles of {} must be a map from role to role", code.name),
                hint,
            );
            continue;
        };
        let mut map = BTreeMap::new();
        for (role, other) in pairs {
            let Some((other_name, other_at)) = text_of(other, "a role", problems) else {
                continue;
            };
            let mut known = |name: &str, at: Position| {
                if roles.contains_key(name) {
                    return true;
                }
                problems.unknown(
                    at,
                    format!("'{name}' is not a role of this workflow"),
                    name,
                    roles.keys().map(String::as_str),
                    || "declare it under 'roles' with a Dutch description".into(),
                );
                false
            };
            if known(&role.name, role.at) & known(other_name, other_at) {
                map.insert(role.name.clone(), other_name.to_string());
            }
        }
        by_gemeente.insert(code.name.clone(), map);
    }
    by_gemeente
}

#[cfg(test)]
mod tests {
    use crate::workflow::{check_set, parse};

    fn workflow(name: &str, extra: &str, start_extra: &str) -> String {
        format!(
            "workflow: {name}
title: Nazorg
roles: {{ regisseur: Regisseur, teamleider: Teamleider }}
start: {{ on: zorg.beeindigd{start_extra} }}
deadlines:
  contact: {{ title: Contact, due: start + 6 months, met_by: nazorg.contact, owner: regisseur, remind: [2 weeks before], escalate: [{{ to: teamleider }}] }}
{extra}"
        )
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text, "nazorg.yaml") {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn closing_roles_in_and_words_are_read_and_checked() {
        let read = parse(
            &workflow(
                "nazorg",
                "closing: { starts_in: [GM0158] }\nroles_in: { GM0158: { teamleider: regisseur } }\nwords: { uitvoerder: { vrijwilliger: een vrijwilliger } }\n",
                "",
            ),
            "nazorg.yaml",
        )
        .unwrap();
        assert!(read.closing.starts_in("GM0158") && read.closing.continues_in("GM0158"));
        assert!(!read.closing.continues_in("GM0150"));
        assert_eq!(read.role_in("GM0158", "teamleider"), "regisseur");
        assert_eq!(read.role_in("GM0150", "teamleider"), "teamleider");
        assert_eq!(read.words["uitvoerder"]["vrijwilliger"], "een vrijwilliger");

        let empty = problems(&workflow("nazorg", "closing: {}\n", ""));
        assert!(empty[0].contains("'closing' says nothing"), "{empty:?}");
        let unknown = problems(&workflow(
            "nazorg",
            "roles_in: { GM0158: { klachtenfunctionaris: afdelingshoofd } }\n",
            "",
        ));
        assert_eq!(unknown.len(), 2, "{unknown:?}");
        assert!(unknown[0].contains("'klachtenfunctionaris' is not a role of this workflow"));
        let code = problems(&workflow(
            "nazorg",
            "closing: { starts_in: [Haaksbergen] }\n",
            "",
        ));
        assert!(
            code[0].contains("'Haaksbergen' is not a gemeente code"),
            "{code:?}"
        );
    }

    #[test]
    fn unless_open_names_another_workflow_of_the_set() {
        let nazorg = parse(
            &workflow("nazorg", "", ", unless_open: [nazorg-mo-plam, nazorg]"),
            "nazorg.yaml",
        )
        .unwrap();
        let other = parse(&workflow("nazorg-mo-plan", "", ""), "nazorg-mo-plan.yaml").unwrap();
        let found: Vec<String> = check_set(&[nazorg, other])
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("there is no workflow 'nazorg-mo-plam'")
                && found[0].contains("did you mean 'nazorg-mo-plan'?"),
            "{found:?}"
        );
        assert!(found[1].contains("'nazorg' is this workflow itself"));
    }
}
