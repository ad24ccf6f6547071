//! From the YAML tree to the validated [`Workflow`]: every key, name, term and event is checked,
//! and every problem is reported, each where it stands, with a hint.

use std::collections::BTreeMap;

use crate::calendar::{Calendar, Day, Duration, LeapDayBirthdays, TermRule};
use crate::event::{EventType, FieldKind, VOCABULARY};
use crate::problem::{MapReader, Problems, gemeente_code_of, list_of, text_of};
use crate::yaml::{Node, Position, Value};

use super::closing::{read_closing, read_roles_in, read_unless_open, read_words};
use super::expr::{self, Scope};
use super::model::*;

pub const WORKFLOW_KEYS: &[&str] = &[
    "workflow",
    "title",
    "source",
    "gemeenten",
    "roles",
    "start",
    "params",
    "dates",
    "deadlines",
    "signals",
    "ends_on",
    "cancel_on",
    "messages",
    "closing",
    "words",
    "roles_in",
];
pub const START_KEYS: &[&str] = &[
    "on",
    "on_date",
    "until",
    "when",
    "in_care",
    "key",
    "unless_open",
];
pub const DEADLINE_KEYS: &[&str] = &[
    "title",
    "due",
    "due_if",
    "calendar",
    "met_by",
    "cancel_on",
    "owner",
    "remind",
    "escalate",
    "suspend",
    "extend",
    "every",
    "until",
    "not_after",
    "messages",
];
pub const DUE_IF_KEYS: &[&str] = &["when", "due"];
pub const DATE_KEYS: &[&str] = &["is", "calendar"];
pub const ESCALATION_KEYS: &[&str] = &["to", "after", "repeat", "max_level", "message"];
pub const SUSPEND_KEYS: &[&str] = &["on", "resume_on"];
pub const EXTEND_KEYS: &[&str] = &["on", "by", "once"];
pub const EVENT_MATCH_KEYS: &[&str] = &["on", "when"];
pub const SIGNAL_KEYS: &[&str] = &["on", "to", "message"];
pub const MESSAGES_KEYS: &[&str] = &["reminder", "escalation"];
pub const CALENDARS: &[&str] = &["servicenorm", "termijnenwet"];

/// Builds one workflow; `expected_name` is the file name without `.yaml`.
pub fn build(root: &Node, expected_name: &str, problems: &mut Problems) -> Option<Workflow> {
    let top = MapReader::new(root, WORKFLOW_KEYS, "the workflow", problems)?;
    let name = match top
        .require("workflow", problems)
        .and_then(|n| text_of(n, "'workflow'", problems))
    {
        Some((name, at)) => {
            if name != expected_name {
                problems.add_with_hint(
                    at,
                    format!("the workflow is called '{name}' but its file is '{expected_name}.yaml'"),
                    "name the file after the workflow: other systems find a workflow by its file name",
                );
            }
            name.to_string()
        }
        None => expected_name.to_string(),
    };
    let title = top
        .require("title", problems)
        .and_then(|n| text_of(n, "'title'", problems))
        .map(|(t, _)| t.to_string());
    let source = top.text("source", problems).map(|(t, _)| t.to_string());
    let (gemeenten, gemeente_codes_at) = top
        .get("gemeenten")
        .map(|node| read_gemeenten(node, problems))
        .unwrap_or_default();
    let roles = read_roles(top.require("roles", problems), problems);

    let params = read_params(top.get("params"), problems);
    let param_names: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    let date_nodes = named_entries(top.get("dates"), "dates", problems);
    let date_names: Vec<String> = date_nodes.iter().map(|(n, _, _)| n.clone()).collect();
    let deadline_nodes = named_entries(top.require("deadlines", problems), "deadlines", problems);
    let deadline_names: Vec<String> = deadline_nodes.iter().map(|(n, _, _)| n.clone()).collect();

    let start = top
        .require("start", problems)
        .and_then(|node| read_start(node, &param_names, problems));
    let start_event = start.as_ref().and_then(|s| match &s.trigger {
        Trigger::Event(m) => Some(m.event),
        Trigger::Date { .. } => None,
    });
    let data_dates: Vec<&'static str> = start_event
        .map(|e| {
            e.spec()
                .fields
                .iter()
                .filter(|f| f.kind == FieldKind::Date)
                .map(|f| f.name)
                .collect()
        })
        .unwrap_or_default();
    let scope = Scope {
        params: &param_names,
        dates: &date_names,
        deadlines: &deadline_names,
        data_dates: &data_dates,
        instance_anchors: true,
    };
    let context = Context {
        roles: &roles,
        scope: &scope,
        start_event,
    };

    let dates: Vec<NamedDate> = date_nodes
        .iter()
        .filter_map(|(name, _, node)| read_named_date(name, node, &context, problems))
        .collect();
    let deadlines: Vec<Option<Deadline>> = deadline_nodes
        .iter()
        .map(|(id, _, node)| read_deadline(id, node, &context, problems))
        .collect();
    let signals = named_entries(top.get("signals"), "signals", problems)
        .iter()
        .filter_map(|(id, _, node)| read_signal(id, node, &context, problems))
        .collect();
    let ends_on = top
        .get("ends_on")
        .map(|n| read_matches(n, problems))
        .unwrap_or_default();
    let cancel_on = top
        .get("cancel_on")
        .map(|n| read_matches(n, problems))
        .unwrap_or_default();
    let messages = top
        .get("messages")
        .map(|n| read_messages(n, "the workflow's messages", &context, problems))
        .unwrap_or_default();
    let closing = top
        .get("closing")
        .map(|n| read_closing(n, problems))
        .unwrap_or_default();
    let words = top
        .get("words")
        .map(|n| read_words(n, problems))
        .unwrap_or_default();
    let roles_in = top
        .get("roles_in")
        .map(|n| read_roles_in(n, &roles, problems))
        .unwrap_or_default();

    if dates.len() == date_nodes.len() {
        check_cycles(&dates, &deadlines, &date_nodes, &deadline_nodes, problems);
    }
    for ((id, at, _), deadline) in deadline_nodes.iter().zip(&deadlines) {
        if let Some(deadline) = deadline {
            check_recurrence_is_reachable(id, deadline, &params, *at, problems);
        }
    }
    let deadlines: Vec<Deadline> = deadlines.into_iter().flatten().collect();
    if let Some(start) = &start {
        check_start_can_fire(
            start,
            &params,
            top.get("start").map(|n| n.at).unwrap_or_default(),
            problems,
        );
    }
    if !problems.is_empty() {
        return None;
    }
    Some(Workflow {
        name,
        title: title?,
        source,
        gemeenten,
        file: problems.file().to_string(),
        start_at: top.key_at("start").unwrap_or(root.at),
        gemeenten_at: top.key_at("gemeenten").unwrap_or(root.at),
        gemeente_codes_at,
        roles,
        start: start?,
        params,
        dates,
        deadlines,
        signals,
        ends_on,
        cancel_on,
        messages,
        closing,
        words,
        roles_in,
    })
}

/// `gemeenten: [GM0150, GM0200]` (only these) or `gemeenten: { not: [GM0150] }` (all but these),
/// with where each code is written.
fn read_gemeenten(node: &Node, problems: &mut Problems) -> (GemeenteScope, Vec<Position>) {
    let hint = "write 'gemeenten: [GM0150, GM0200]' for only these, or 'gemeenten: { not: [GM0150] }' for every gemeente but these";
    let (list, only) = match &node.value {
        Value::Map(_) => {
            let Some(map) = MapReader::new(node, &["not"], "'gemeenten'", problems) else {
                return Default::default();
            };
            match map.require("not", problems) {
                Some(list) => (list, false),
                None => return Default::default(),
            }
        }
        _ => (node, true),
    };
    let written = list_of(list);
    if written.is_empty() {
        problems.add_with_hint(list.at, "'gemeenten' names no gemeente", hint);
        return Default::default();
    }
    let (codes, at): (Vec<String>, Vec<Position>) = written
        .into_iter()
        .filter_map(|code| Some((gemeente_code_of(code, problems)?, code.at)))
        .unzip();
    let scope = if only {
        GemeenteScope::Only(codes)
    } else {
        GemeenteScope::AllBut(codes)
    };
    (scope, at)
}

struct Context<'a> {
    roles: &'a BTreeMap<String, String>,
    scope: &'a Scope<'a>,
    start_event: Option<EventType>,
}

fn read_roles(node: Option<&Node>, problems: &mut Problems) -> BTreeMap<String, String> {
    let mut roles = BTreeMap::new();
    let Some(node) = node else { return roles };
    let Value::Map(entries) = &node.value else {
        problems.add_with_hint(
            node.at,
            "'roles' must be a map",
            "for example 'roles: { teamleider: Teamleider jeugd }'",
        );
        return roles;
    };
    for (key, value) in entries {
        if let Some((description, _)) = text_of(value, &format!("role '{}'", key.name), problems) {
            roles.insert(key.name.clone(), description.to_string());
        }
    }
    roles
}

fn read_params(node: Option<&Node>, problems: &mut Problems) -> Vec<Param> {
    let mut params = Vec::new();
    for (name, at, value) in named_entries(node, "params", problems) {
        if matches!(name.as_str(), "start" | "birthday") || name.starts_with("data.") {
            problems.add_with_hint(
                at,
                format!("'{name}' cannot be a parameter name"),
                "'start', 'birthday' and 'data.' are part of date expressions",
            );
            continue;
        }
        let Some((text, at)) = text_of(value, &format!("parameter '{name}'"), problems) else {
            continue;
        };
        match Duration::parse(text) {
            Ok(default) => params.push(Param { name, default }),
            Err(err) => {
                problems.add_with_hint(at, format!("parameter '{name}': {err}"), err.hint())
            }
        }
    }
    params
}

/// The entries of a map of named things (deadlines, dates, params, signals), in file order.
fn named_entries<'n>(
    node: Option<&'n Node>,
    what: &str,
    problems: &mut Problems,
) -> Vec<(String, Position, &'n Node)> {
    let Some(node) = node else { return Vec::new() };
    if node.is_null() {
        return Vec::new();
    }
    let Value::Map(entries) = &node.value else {
        problems.add(
            node.at,
            format!(
                "'{what}' must be a map of names to their definitions, not {}",
                node.describe()
            ),
        );
        return Vec::new();
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (key, value) in entries {
        if seen.contains(&key.name.as_str()) {
            problems.add(
                key.at,
                format!("'{}' is defined twice in '{what}'", key.name),
            );
            continue;
        }
        if !is_name(&key.name) {
            problems.add_with_hint(
                key.at,
                format!("'{}' is not a valid name", key.name),
                "use lowercase letters, digits and '_', starting with a letter",
            );
            continue;
        }
        seen.push(&key.name);
        out.push((key.name.clone(), key.at, value));
    }
    out
}

fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn read_start(node: &Node, params: &[String], problems: &mut Problems) -> Option<Start> {
    let map = MapReader::new(node, START_KEYS, "'start'", problems)?;
    let in_care = map.bool("in_care", problems);
    let trigger = match (map.get("on"), map.get("on_date")) {
        (Some(on), None) => {
            if let Some(until) = map.get("until") {
                problems.add_with_hint(
                    until.at,
                    "'until' only goes with 'on_date'",
                    "an event start fires when the event arrives",
                );
            }
            let event = read_event_name(on, problems)?;
            let when = match map.get("when") {
                Some(n) => read_conditions(n, event, problems),
                None => Vec::new(),
            };
            Trigger::Event(EventMatch { event, when })
        }
        (None, Some(on_date)) => {
            if let Some(when) = map.get("when") {
                problems.add_with_hint(
                    when.at,
                    "'when' only goes with 'on'",
                    "a date start can use 'in_care'",
                );
            }
            let scope = Scope {
                params,
                dates: &[],
                deadlines: &[],
                data_dates: &[],
                instance_anchors: false,
            };
            let on = read_date_expr(on_date, "'on_date'", &scope, problems);
            let until = map
                .get("until")
                .and_then(|n| read_date_expr(n, "'until'", &scope, problems));
            Trigger::Date { on: on?, until }
        }
        (Some(_), Some(both)) => {
            problems.add_with_hint(
                both.at,
                "'start' has both 'on' and 'on_date'",
                "a workflow starts on an event or on a date, not both",
            );
            return None;
        }
        (None, None) => {
            problems.add_with_hint(
                node.at,
                "'start' needs 'on' or 'on_date'",
                "for example 'on: klacht.ingediend' or 'on_date: birthday 16'",
            );
            return None;
        }
    };
    let key = match map.get("key") {
        None => InstanceKey::Case,
        Some(n) => {
            let (text, at) = text_of(n, "'key'", problems)?;
            match (text, &trigger) {
                ("case", _) => InstanceKey::Case,
                (field, Trigger::Event(m)) if field.starts_with("data.") => {
                    let field = &field[5..];
                    let fields = m.event.spec().fields;
                    if !fields.iter().any(|f| f.name == field) {
                        problems.unknown(
                            at,
                            format!("{} has no data field '{field}'", m.event),
                            field,
                            fields.iter().map(|f| f.name),
                            || "the key is 'case' or a data field of the start event".into(),
                        );
                        return None;
                    }
                    InstanceKey::Data(field.to_string())
                }
                (_, Trigger::Date { .. }) => {
                    problems.add_with_hint(
                        at,
                        "a workflow that starts on a date has one instance per case",
                        "remove 'key' or write 'key: case'",
                    );
                    return None;
                }
                (other, _) => {
                    problems.add_with_hint(
                        at,
                        format!("'{other}' is not a key"),
                        "write 'case' or 'data.<field>', for example 'data.klacht_id'",
                    );
                    return None;
                }
            }
        }
    };
    let unless_open = map
        .get("unless_open")
        .map(|n| read_unless_open(n, problems))
        .unwrap_or_default();
    Some(Start {
        trigger,
        in_care,
        key,
        unless_open,
    })
}

fn read_event_name(node: &Node, problems: &mut Problems) -> Option<EventType> {
    let (name, at) = text_of(node, "an event", problems)?;
    let found = EventType::from_name(name);
    if found.is_none() {
        problems.unknown(
            at,
            format!("unknown event type '{name}'"),
            name,
            VOCABULARY.iter().map(|s| s.name),
            || "the event types are listed in DESIGN.md under 'Events'".into(),
        );
    }
    found
}

/// `{ data.reden: "31" }`, `{ data.route: [geen, wmo] }` or `{ data.reden: { not: "38" } }`.
fn read_conditions(node: &Node, event: EventType, problems: &mut Problems) -> Vec<Condition> {
    let Value::Map(entries) = &node.value else {
        problems.add_with_hint(
            node.at,
            "'when' must be a map",
            "for example 'when: { data.reden: \"31\" }'",
        );
        return Vec::new();
    };
    let fields = event.spec().fields;
    let mut conditions = Vec::new();
    for (key, value) in entries {
        let Some(field_name) = key.name.strip_prefix("data.") else {
            problems.add_with_hint(
                key.at,
                format!("'{}' is not a data field", key.name),
                format!("write 'data.{}'", key.name),
            );
            continue;
        };
        let Some(field) = fields.iter().find(|f| f.name == field_name) else {
            problems.unknown(
                key.at,
                format!("{event} has no data field '{field_name}'"),
                field_name,
                fields.iter().map(|f| f.name),
                || {
                    if fields.is_empty() {
                        format!("{event} carries no data")
                    } else {
                        format!(
                            "its fields are {}",
                            fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                        )
                    }
                },
            );
            continue;
        };
        let (values_node, negated) = match &value.value {
            Value::Map(inner) if inner.len() == 1 && inner[0].0.name == "not" => {
                (&inner[0].1, true)
            }
            Value::Map(_) => {
                problems.add_with_hint(
                    value.at,
                    "a condition is a value, a list of values, or '{ not: ... }'",
                    "for example 'data.reden: { not: [\"38\", \"20\"] }'",
                );
                continue;
            }
            _ => (value, false),
        };
        let mut values = Vec::new();
        for item in list_of(values_node) {
            let Some((text, at)) = text_of(item, "a condition value", problems) else {
                continue;
            };
            let allowed = match field.kind {
                FieldKind::OneOf(allowed) => allowed.contains(&text),
                FieldKind::ReasonCode => {
                    text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit())
                }
                FieldKind::Boolean => matches!(text, "true" | "false"),
                _ => true,
            };
            if !allowed {
                let hint = match field.kind {
                    FieldKind::OneOf(allowed) => {
                        format!("data.{field_name} is one of {}", allowed.join(", "))
                    }
                    FieldKind::ReasonCode => {
                        "reason codes are two digits in quotes, for example \"31\"".into()
                    }
                    _ => "write true or false".into(),
                };
                problems.add_with_hint(
                    at,
                    format!("data.{field_name} is never '{text}', so this condition never holds"),
                    hint,
                );
                continue;
            }
            values.push(text.to_string());
        }
        conditions.push(Condition {
            field: field_name.to_string(),
            values,
            negated,
        });
    }
    conditions
}

fn read_match(node: &Node, problems: &mut Problems) -> Option<EventMatch> {
    match &node.value {
        Value::Map(_) => {
            let map = MapReader::new(node, EVENT_MATCH_KEYS, "an event match", problems)?;
            let event = read_event_name(map.require("on", problems)?, problems)?;
            let when = map
                .get("when")
                .map(|n| read_conditions(n, event, problems))
                .unwrap_or_default();
            Some(EventMatch { event, when })
        }
        _ => Some(EventMatch {
            event: read_event_name(node, problems)?,
            when: Vec::new(),
        }),
    }
}

/// One event match or a list of them.
fn read_matches(node: &Node, problems: &mut Problems) -> Vec<EventMatch> {
    list_of(node)
        .into_iter()
        .filter_map(|n| read_match(n, problems))
        .collect()
}

fn read_date_expr(
    node: &Node,
    what: &str,
    scope: &Scope<'_>,
    problems: &mut Problems,
) -> Option<DateExpr> {
    let (text, at) = text_of(node, what, problems)?;
    match expr::parse_date(text, scope) {
        Ok(e) => Some(e),
        Err(err) => {
            problems.add_with_hint(at, format!("{what}: {}", err.message), err.hint);
            None
        }
    }
}

fn read_rule(map: &MapReader<'_>, problems: &mut Problems) -> TermRule {
    match map.text("calendar", problems) {
        None | Some(("servicenorm", _)) => TermRule::Plain,
        Some(("termijnenwet", _)) => TermRule::Termijnenwet,
        Some((other, at)) => {
            problems.unknown(at, format!("unknown calendar '{other}'"), other, CALENDARS.iter().copied(), || {
                "'servicenorm' for a plain date, 'termijnenwet' for a legal term (Algemene termijnenwet)".into()
            });
            TermRule::Plain
        }
    }
}

fn read_named_date(
    name: &str,
    node: &Node,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Option<NamedDate> {
    if node.scalar().is_some() {
        let is = read_date_expr(node, &format!("date '{name}'"), context.scope, problems)?;
        return Some(NamedDate {
            name: name.to_string(),
            is,
            rule: TermRule::Plain,
        });
    }
    let map = MapReader::new(node, DATE_KEYS, &format!("date '{name}'"), problems)?;
    let rule = read_rule(&map, problems);
    let is = read_date_expr(
        map.require("is", problems)?,
        &format!("date '{name}'"),
        context.scope,
        problems,
    )?;
    Some(NamedDate {
        name: name.to_string(),
        is,
        rule,
    })
}

fn read_roles_list(
    node: &Node,
    what: &str,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Vec<String> {
    let mut roles = Vec::new();
    for item in list_of(node) {
        let Some((role, at)) = text_of(item, what, problems) else {
            continue;
        };
        if context.roles.contains_key(role) {
            roles.push(role.to_string());
        } else {
            problems.unknown(
                at,
                format!("role '{role}' is not declared"),
                role,
                context.roles.keys().map(String::as_str),
                || format!("declare it under 'roles', for example '{role}: <Dutch description>'"),
            );
        }
    }
    if roles.is_empty() && list_of(node).is_empty() {
        problems.add(node.at, format!("{what} names no role"));
    }
    roles
}

fn read_template(
    node: &Node,
    what: &str,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Option<Template> {
    let (text, at) = text_of(node, what, problems)?;
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            problems.add_with_hint(
                at,
                format!("{what}: '{{' without '}}'"),
                "placeholders are written as {titel}",
            );
            return None;
        };
        let name = &rest[open + 1..open + close];
        let known_data = context.start_event.map(|e| e.spec().fields).unwrap_or(&[]);
        let ok = PLACEHOLDERS.contains(&name)
            || name
                .strip_prefix("data.")
                .is_some_and(|f| known_data.iter().any(|k| k.name == f));
        if !ok {
            let mut known: Vec<String> = PLACEHOLDERS.iter().map(|p| p.to_string()).collect();
            known.extend(known_data.iter().map(|f| format!("data.{}", f.name)));
            problems.unknown(
                at,
                format!("{what}: unknown placeholder '{{{name}}}'"),
                name,
                known.iter().map(String::as_str),
                || {
                    format!(
                        "the placeholders are {}",
                        known
                            .iter()
                            .map(|k| format!("{{{k}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            );
        }
        rest = &rest[open + close + 1..];
    }
    Some(Template(text.to_string()))
}

fn read_messages(
    node: &Node,
    what: &str,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Messages {
    let Some(map) = MapReader::new(node, MESSAGES_KEYS, what, problems) else {
        return Messages::default();
    };
    Messages {
        reminder: map
            .get("reminder")
            .and_then(|n| read_template(n, "the reminder message", context, problems)),
        escalation: map
            .get("escalation")
            .and_then(|n| read_template(n, "the escalation message", context, problems)),
    }
}

fn read_term(
    node: &Node,
    what: &str,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Option<Term> {
    let (text, at) = text_of(node, what, problems)?;
    match expr::parse_term(text, context.scope.params) {
        Ok(term) => Some(term),
        Err(err) => {
            problems.add_with_hint(at, format!("{what}: {}", err.message), err.hint);
            None
        }
    }
}

fn read_deadline(
    id: &str,
    node: &Node,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Option<Deadline> {
    let what = format!("deadline '{id}'");
    let map = MapReader::new(node, DEADLINE_KEYS, &what, problems)?;
    let title = map
        .require("title", problems)
        .and_then(|n| text_of(n, "'title'", problems))
        .map(|(t, _)| t.to_string());
    let due = map.require("due", problems).and_then(|n| {
        read_date_expr(
            n,
            &format!("the due date of '{id}'"),
            context.scope,
            problems,
        )
    });
    let due_if = map
        .get("due_if")
        .map(|list| read_due_if(id, list, context, problems))
        .unwrap_or_default();
    let rule = read_rule(&map, problems);
    let met_by = map
        .get("met_by")
        .map(|n| read_matches(n, problems))
        .unwrap_or_default();
    if map.get("met_by").is_none() && !map.is_misspelt("met_by") {
        problems.add_with_hint(
            node.at,
            format!("{what} can never be met: it has no 'met_by'"),
            "name the event that shows the work was done, for example 'met_by: klacht.afgerond'",
        );
    }
    let cancel_on = map
        .get("cancel_on")
        .map(|n| read_matches(n, problems))
        .unwrap_or_default();
    let owner = match map.require("owner", problems) {
        Some(n) => read_roles_list(n, "'owner'", context, problems)
            .into_iter()
            .next(),
        None => None,
    };
    let remind = match map.get("remind") {
        Some(list) => read_reminders(list, problems),
        None => {
            if !map.is_misspelt("remind") {
                problems.add_with_hint(
                    node.at,
                    format!("{what} has no reminder"),
                    "add for example 'remind: [3 days before]': every deadline warns before it is due",
                );
            }
            Vec::new()
        }
    };
    let escalate = match map.get("escalate") {
        Some(list) => read_escalation(list, context, problems),
        None => {
            if !map.is_misspelt("escalate") {
                problems.add_with_hint(
                    node.at,
                    format!("{what} has no escalation"),
                    "add for example 'escalate: [{ to: teamleider }]': a missed deadline must reach someone",
                );
            }
            Vec::new()
        }
    };
    let suspend = map
        .get("suspend")
        .and_then(|n| read_suspension(n, problems));
    let extend = map
        .get("extend")
        .and_then(|n| read_extension(n, context, problems));
    let recurring = match (map.get("every"), map.get("until")) {
        (Some(every), until) => {
            let every = read_term(every, "'every'", context, problems);
            let until = until.and_then(|n| {
                read_date_expr(n, &format!("'until' of '{id}'"), context.scope, problems)
            });
            every.map(|every| Recurrence { every, until })
        }
        (None, Some(until)) => {
            problems.add_with_hint(
                until.at,
                "'until' only goes with 'every'",
                "a deadline that recurs says 'every: <interval>'",
            );
            None
        }
        (None, None) => None,
    };
    let not_after = map.get("not_after").and_then(|n| {
        read_date_expr(
            n,
            &format!("'not_after' of '{id}'"),
            context.scope,
            problems,
        )
    });
    let messages = map
        .get("messages")
        .map(|n| read_messages(n, &format!("the messages of '{id}'"), context, problems))
        .unwrap_or_default();
    Some(Deadline {
        id: id.to_string(),
        title: title?,
        due: due?,
        due_if,
        rule,
        met_by,
        cancel_on,
        owner: owner?,
        remind,
        escalate,
        suspend,
        extend,
        recurring,
        not_after,
        messages,
    })
}

/// The alternatives of `due_if`, each chosen by the start event's data.
fn read_due_if(
    id: &str,
    list: &Node,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Vec<(Vec<Condition>, DateExpr)> {
    let mut due_if = Vec::new();
    for item in list_of(list) {
        let Some(alt) = MapReader::new(item, DUE_IF_KEYS, "a 'due_if' alternative", problems)
        else {
            continue;
        };
        let when = match (alt.require("when", problems), context.start_event) {
            (Some(n), Some(event)) => read_conditions(n, event, problems),
            (Some(n), None) => {
                problems.add(
                    n.at,
                    "'due_if' needs a workflow that starts on an event: it tests the start event's data",
                );
                continue;
            }
            (None, _) => continue,
        };
        let what = format!("the due date of '{id}'");
        if let Some(expr) = alt
            .require("due", problems)
            .and_then(|n| read_date_expr(n, &what, context.scope, problems))
        {
            due_if.push((when, expr));
        }
    }
    due_if
}

/// `remind`: each `<duration> before`, at least a day.
fn read_reminders(list: &Node, problems: &mut Problems) -> Vec<Duration> {
    let mut remind = Vec::new();
    for item in list_of(list) {
        let Some((text, at)) = text_of(item, "a reminder", problems) else {
            continue;
        };
        match expr::parse_before(text) {
            Ok(d) if d.is_zero() => problems.add_with_hint(
                at,
                "a reminder 0 days before is the due date itself",
                "remind at least a day before",
            ),
            Ok(d) => remind.push(d),
            Err(err) => problems.add_with_hint(at, err.message, err.hint),
        }
    }
    remind
}

/// `escalate`: the steps in order of `after`; only the last may repeat.
fn read_escalation(
    list: &Node,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Vec<EscalationStep> {
    let items = list_of(list);
    let mut escalate = Vec::new();
    let mut previous_after: Option<Duration> = None;
    for (i, item) in items.iter().enumerate() {
        let Some(step) = MapReader::new(item, ESCALATION_KEYS, "an escalation step", problems)
        else {
            continue;
        };
        let Some(to) = step
            .require("to", problems)
            .map(|n| read_roles_list(n, "'to'", context, problems))
        else {
            continue;
        };
        let after = match step.text("after", problems) {
            None => Duration::ZERO,
            Some((text, at)) => match Duration::parse(text) {
                Ok(d) => {
                    if previous_after.is_some_and(|prev| compare(d, prev).is_lt()) {
                        problems.add_with_hint(
                            at,
                            format!("escalation step {} comes before the step above it", i + 1),
                            "'after' counts from the day the deadline was missed; list the steps in order",
                        );
                    }
                    previous_after = Some(d);
                    d
                }
                Err(err) => {
                    problems.add_with_hint(at, format!("'after': {err}"), err.hint());
                    continue;
                }
            },
        };
        let last = i + 1 == items.len();
        let repeat = read_repeat(&step, last, problems);
        let max_level = read_max_level(&step, i as u32 + 1, repeat.is_some(), problems);
        let message = step
            .get("message")
            .and_then(|n| read_template(n, "the escalation message", context, problems));
        escalate.push(EscalationStep {
            to,
            after,
            repeat,
            max_level,
            message,
            at: item.at,
        });
    }
    escalate
}

/// `max_level: N` of a repeating escalation step: its repeats go up one level each time up to
/// N, and the repeat at N is the last. `level` is the step's own level (its first send).
fn read_max_level(
    step: &MapReader<'_>,
    level: u32,
    repeats: bool,
    problems: &mut Problems,
) -> Option<u32> {
    let (text, at) = step.text("max_level", problems)?;
    if !repeats {
        problems.add_with_hint(
            at,
            "'max_level' caps the level of repeats, and this step does not repeat",
            "add 'repeat: every week' (or another interval) to this step, or remove 'max_level'",
        );
        return None;
    }
    match text.parse::<u32>() {
        Ok(most) if most >= level => Some(most),
        Ok(most) => {
            problems.add_with_hint(
                at,
                format!("'max_level' {most} is below this step's own level {level}"),
                format!("the first send of step {level} is level {level}; write {level} or more"),
            );
            None
        }
        Err(_) => {
            problems.add_with_hint(
                at,
                format!("'max_level' must be a whole number, not '{text}'"),
                "for example 'max_level: 4'",
            );
            None
        }
    }
}

/// `repeat: every <duration>` of an escalation step, which must be the last.
fn read_repeat(step: &MapReader<'_>, last: bool, problems: &mut Problems) -> Option<Duration> {
    let (text, at) = step.text("repeat", problems)?;
    if !last {
        problems.add_with_hint(
            at,
            "only the last escalation step can repeat",
            "move 'repeat' to the last step",
        );
    }
    match expr::parse_every(text) {
        Ok(d) if d.is_zero() => {
            problems.add(at, "'repeat' must be at least a day");
            None
        }
        Ok(d) => Some(d),
        Err(err) => {
            problems.add_with_hint(at, err.message, err.hint);
            None
        }
    }
}

/// `suspend: { on, resume_on }`.
fn read_suspension(node: &Node, problems: &mut Problems) -> Option<Suspension> {
    let s = MapReader::new(node, SUSPEND_KEYS, "'suspend'", problems)?;
    let on = s
        .require("on", problems)
        .and_then(|n| read_match(n, problems));
    let resume_on = s
        .require("resume_on", problems)
        .and_then(|n| read_match(n, problems));
    Some(Suspension {
        on: on?,
        resume_on: resume_on?,
    })
}

/// `extend: { on, by, once }`.
fn read_extension(
    node: &Node,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Option<Extension> {
    let e = MapReader::new(node, EXTEND_KEYS, "'extend'", problems)?;
    let on = e
        .require("on", problems)
        .and_then(|n| read_match(n, problems));
    let by = e
        .require("by", problems)
        .and_then(|n| read_term(n, "'by'", context, problems));
    let once = e.bool("once", problems).unwrap_or(true);
    Some(Extension {
        on: on?,
        by: by?,
        once,
    })
}

/// Compares terms by their length from a fixed day: months and days do not compare otherwise.
fn compare(a: Duration, b: Duration) -> std::cmp::Ordering {
    let day = Day::from_ymd(2001, 1, 31).expect("valid");
    a.add_to(day).cmp(&b.add_to(day))
}

fn read_signal(
    id: &str,
    node: &Node,
    context: &Context<'_>,
    problems: &mut Problems,
) -> Option<Signal> {
    let map = MapReader::new(node, SIGNAL_KEYS, &format!("signal '{id}'"), problems)?;
    let on = map
        .require("on", problems)
        .and_then(|n| read_match(n, problems));
    let to = map
        .require("to", problems)
        .map(|n| read_roles_list(n, "'to'", context, problems));
    let message = map
        .require("message", problems)
        .and_then(|n| read_template(n, "the signal message", context, problems));
    Some(Signal {
        id: id.to_string(),
        on: on?,
        to: to?,
        message: message?,
    })
}

/// Dates and deadlines may refer to each other, but not in a circle.
fn check_cycles(
    dates: &[NamedDate],
    deadlines: &[Option<Deadline>],
    date_nodes: &[(String, Position, &Node)],
    deadline_nodes: &[(String, Position, &Node)],
    problems: &mut Problems,
) {
    // Nodes 0..dates are dates, the rest deadlines.
    let refs = |anchor: &Anchor| match anchor {
        Anchor::Date(i) => Some(*i),
        Anchor::Deadline(i) => Some(dates.len() + i),
        _ => None,
    };
    let mut edges: Vec<Vec<usize>> = dates
        .iter()
        .map(|d| refs(&d.is.anchor).into_iter().collect())
        .collect();
    for d in deadlines {
        let mut e: Vec<usize> = Vec::new();
        if let Some(d) = d {
            e.extend(refs(&d.due.anchor));
            e.extend(d.due_if.iter().filter_map(|(_, x)| refs(&x.anchor)));
        }
        edges.push(e);
    }
    let positions: Vec<(&str, Position)> = date_nodes
        .iter()
        .chain(deadline_nodes)
        .map(|(n, at, _)| (n.as_str(), *at))
        .collect();
    for startpoint in 0..edges.len() {
        let mut seen = vec![false; edges.len()];
        let mut stack = edges[startpoint].clone();
        while let Some(next) = stack.pop() {
            if next == startpoint {
                let (name, at) = positions[startpoint];
                problems.add_with_hint(
                    at,
                    format!("the date of '{name}' depends on itself"),
                    "break the circle: count one of them from 'start', a birthday or an event date",
                );
                break;
            }
            if !std::mem::replace(&mut seen[next], true) {
                stack.extend(&edges[next]);
            }
        }
    }
}

/// A date start whose window closes before it opens never fires. Checked on a sample birth date
/// with the parameters' defaults.
fn check_start_can_fire(start: &Start, params: &[Param], at: Position, problems: &mut Problems) {
    let Trigger::Date {
        on,
        until: Some(until),
    } = &start.trigger
    else {
        return;
    };
    let calendar = Calendar::new(&[], LeapDayBirthdays::FirstOfMarch);
    let birth = Day::from_ymd(2010, 6, 15).expect("valid");
    let defaults: Vec<Duration> = params.iter().map(|p| p.default).collect();
    let eval = |e: &DateExpr| -> Option<Day> {
        let Anchor::Birthday(age) = e.anchor else {
            return None;
        };
        Some(e.add_terms(calendar.birthday(birth, age), &defaults))
    };
    if let (Some(from), Some(to)) = (eval(on), eval(until))
        && to <= from
    {
        problems.add_with_hint(
            at,
            "this start can never fire: 'until' is not after 'on_date'",
            "'until' closes the window in which care may start; it must come after 'on_date'",
        );
    }
}

/// A recurring deadline whose first due date already lies after its `until` is never due.
/// Checked where both count from the start, with the parameters' defaults.
fn check_recurrence_is_reachable(
    id: &str,
    deadline: &Deadline,
    params: &[Param],
    at: Position,
    problems: &mut Problems,
) {
    let Some(Recurrence {
        until: Some(until), ..
    }) = &deadline.recurring
    else {
        return;
    };
    if deadline.due.anchor != Anchor::Start || until.anchor != Anchor::Start {
        return;
    }
    let start = Day::from_ymd(2027, 1, 31).expect("valid");
    let defaults: Vec<Duration> = params.iter().map(|p| p.default).collect();
    let first = deadline.due.add_terms(start, &defaults);
    let last = until.add_terms(start, &defaults);
    if first > last {
        problems.add_with_hint(
            at,
            format!("deadline '{id}' is never due: its first due date comes after 'until'"),
            "make 'until' later than 'due', or the interval shorter",
        );
    }
}
