//! The JSON Schema of the workflow format, for editors with the YAML language server
//! (completion and validation while a coordinator types).
//!
//! Generated from the same key lists and vocabulary that `build` checks against, so the schema
//! cannot drift from the reader: a key the reader accepts is a key the schema offers. It is
//! shipped as `config/workflow.schema.json` (`waakvlam schema` writes it; a test checks that
//! the shipped file is current).

use serde_json::{Map, Value, json};

use crate::event::VOCABULARY;

use super::build::*;

fn object(keys: &[&str], describe: impl Fn(&str) -> Value, required: &[&str]) -> Value {
    let mut properties = Map::new();
    for key in keys {
        properties.insert(key.to_string(), describe(key));
    }
    json!({ "type": "object", "additionalProperties": false, "properties": properties, "required": required })
}

fn described(reference: &str, description: &str) -> Value {
    json!({ "$ref": format!("#/definitions/{reference}"), "description": description })
}

fn text(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

pub fn workflow_schema() -> Value {
    let events: Vec<&str> = VOCABULARY.iter().map(|s| s.name).collect();
    let workflow = object(
        WORKFLOW_KEYS,
        |key| match key {
            "workflow" => text("The workflow's name: the file name without .yaml."),
            "title" => text("Dutch title, shown in every message."),
            "source" => text("Where the policy says this: document and lines, or the law."),
            "gemeenten" => {
                json!({ "description": "The gemeenten this workflow applies to (default: every gemeente): a list of CBS codes for only these, or { not: [...] } for every gemeente but these.",
            "oneOf": [ { "$ref": "#/definitions/gemeenteCodes" }, { "type": "object", "additionalProperties": false, "required": ["not"], "properties": { "not": { "$ref": "#/definitions/gemeenteCodes" } } } ] })
            }
            "roles" => {
                json!({ "type": "object", "description": "The roles this workflow addresses, each with a Dutch description. The gemeente's plugin resolves them to people.",
            "additionalProperties": { "type": "string" } })
            }
            "start" => described("start", "When an instance starts."),
            "params" => {
                json!({ "type": "object", "description": "Terms with their defaults; a gemeente's plugin may override them.",
            "additionalProperties": { "$ref": "#/definitions/duration" } })
            }
            "dates" => {
                json!({ "type": "object", "description": "Named dates that deadlines can count from.",
            "additionalProperties": { "oneOf": [ { "$ref": "#/definitions/dateExpr" }, object(DATE_KEYS, |k| match k {
                "is" => described("dateExpr", "The date."),
                _ => described("calendar", "How the end of the term is found."),
            }, &["is"]) ] } })
            }
            "deadlines" => {
                json!({ "type": "object", "description": "The deadlines, by id.", "additionalProperties": { "$ref": "#/definitions/deadline" } })
            }
            "signals" => {
                json!({ "type": "object", "description": "Events someone must act on at once.", "additionalProperties": { "$ref": "#/definitions/signal" } })
            }
            "ends_on" => described("eventMatches", "Events that complete the instance."),
            "cancel_on" => described("eventMatches", "Events that withdraw the instance."),
            "closing" => object(
                super::closing::CLOSING_KEYS,
                |k| match k {
                    "starts_in" => {
                        json!({ "$ref": "#/definitions/gemeenteCodes", "description": "In these gemeenten the closing of a case (casus.gesloten) starts this workflow, and does not end it." })
                    }
                    _ => {
                        json!({ "type": "boolean", "description": "The closing of a case does not end this workflow (aftercare that follows closed cases)." })
                    }
                },
                &[],
            ),
            "roles_in" => {
                json!({ "type": "object", "description": "Per gemeente, roles another of this workflow's roles fills there: { GM0158: { klachtenfunctionaris: afdelingshoofd } } addresses that gemeente's messages to the afdelingshoofd.",
            "additionalProperties": { "type": "object", "additionalProperties": { "type": "string" } } })
            }
            "words" => {
                json!({ "type": "object", "description": "Words for data values in messages, by data field: { uitvoerder: { vrijwilliger: een vrijwilliger } } makes {data.uitvoerder} read 'een vrijwilliger'.",
            "additionalProperties": { "type": "object", "additionalProperties": { "type": "string" } } })
            }
            _ => described(
                "messages",
                "Default message texts for this workflow's deadlines.",
            ),
        },
        &["workflow", "title", "roles", "start", "deadlines"],
    );
    let start = object(
        START_KEYS,
        |key| match key {
            "on" => described("eventType", "Start when this event arrives."),
            "on_date" => described(
                "dateExpr",
                "Start on this date, computed from the case's facts, for example 'birthday 16'.",
            ),
            "until" => described(
                "dateExpr",
                "With on_date: when the condition only starts to hold later (care starts), start then, if before this date.",
            ),
            "when" => described("conditions", "With on: conditions on the event's data."),
            "in_care" => {
                json!({ "type": "boolean", "description": "Only while the young person is in care (true) or not (false)." })
            }
            "unless_open" => {
                json!({ "type": "array", "description": "Not while one of these workflows is open for the case (it does the same work), for example [nazorg-mo-plan].", "items": { "type": "string" } })
            }
            _ => text(
                "One instance per 'case' (the default) or per data field of the start event, for example 'data.klacht_id'.",
            ),
        },
        &[],
    );
    let deadline = object(
        DEADLINE_KEYS,
        |key| match key {
            "title" => text("Dutch title, for example 'Klacht in behandeling nemen'."),
            "due" => described(
                "dateExpr",
                "The due date, for example 'start + 14 days' or 'birthday 18 - 3 months'.",
            ),
            "due_if" => {
                json!({ "type": "array", "description": "Alternative due dates chosen by the start event's data; the first that matches wins.",
            "items": object(DUE_IF_KEYS, |k| if k == "when" { described("conditions", "Conditions on the start event's data.") } else { described("dateExpr", "The due date when they hold.") }, &["when", "due"]) })
            }
            "calendar" => described(
                "calendar",
                "servicenorm (plain date, the default) or termijnenwet (Algemene termijnenwet).",
            ),
            "met_by" => described("eventMatches", "Events that show the work was done."),
            "cancel_on" => described(
                "eventMatches",
                "Events that make this deadline unnecessary.",
            ),
            "owner" => text("The role responsible; reminders go to this role."),
            "remind" => {
                json!({ "type": "array", "description": "When to remind before the due date, for example '3 days before'.", "items": { "type": "string", "pattern": " (before|voor)$" } })
            }
            "escalate" => {
                json!({ "type": "array", "description": "The escalation chain after the deadline was missed.", "items": { "$ref": "#/definitions/escalationStep" } })
            }
            "suspend" => object(
                SUSPEND_KEYS,
                |k| {
                    if k == "on" {
                        described("eventMatch", "The clock stops.")
                    } else {
                        described(
                            "eventMatch",
                            "The clock runs again; the due date moves by the days it stood still.",
                        )
                    }
                },
                &["on", "resume_on"],
            ),
            "extend" => object(
                EXTEND_KEYS,
                |k| match k {
                    "on" => described("eventMatch", "The event that extends the term."),
                    "by" => described("term", "By how much."),
                    _ => {
                        json!({ "type": "boolean", "description": "Only the first extension counts (default true)." })
                    }
                },
                &["on", "by"],
            ),
            "every" => described(
                "term",
                "The deadline recurs: the next one is this long after the contact that met the previous, or after the previous due date when that was missed.",
            ),
            "until" => described(
                "dateExpr",
                "With every: no occurrence is due after this date.",
            ),
            "not_after" => described(
                "dateExpr",
                "The last day the deadline makes sense, for example 'birthday 18': it is never due later (a late start gets a shorter term), and nothing is sent about it after this day.",
            ),
            _ => described("messages", "Message texts for this deadline."),
        },
        &["title", "due", "met_by", "owner", "remind", "escalate"],
    );
    let escalation = object(
        ESCALATION_KEYS,
        |key| match key {
            "to" => described("roles", "Who hears of it."),
            "after" => described(
                "duration",
                "Counted from the day the deadline was missed; the first step defaults to at once.",
            ),
            "repeat" => {
                json!({ "type": "string", "description": "Only on the last step: send again, for example 'every week'.", "pattern": "^every " })
            }
            "max_level" => {
                json!({ "type": "integer", "minimum": 1, "description": "With repeat: the level at which the repeats stop; that message is the last, and says so." })
            }
            _ => described("template", "The message of this step."),
        },
        &["to"],
    );
    let signal = object(
        SIGNAL_KEYS,
        |key| match key {
            "on" => described("eventMatch", "The event."),
            "to" => described("roles", "Who must act."),
            _ => described("template", "The message."),
        },
        &["on", "to", "message"],
    );
    let messages = object(
        MESSAGES_KEYS,
        |key| described("template", &format!("The {key} text.")),
        &[],
    );
    let value = json!({ "oneOf": [ { "type": ["string", "boolean", "number"] }, { "type": "array", "items": { "type": ["string", "boolean", "number"] } } ] });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://waakvlam.nl/schema/workflow.schema.json",
        "title": "Waakvlam workflow",
        "description": "A youth-care workflow: when it starts, its deadlines, reminders and escalations. See README.md, 'Writing a workflow'.",
        "definitions": {
            "start": start,
            "deadline": deadline,
            "escalationStep": escalation,
            "signal": signal,
            "messages": messages,
            "eventType": { "type": "string", "enum": events },
            "eventMatch": { "oneOf": [ { "$ref": "#/definitions/eventType" }, object(EVENT_MATCH_KEYS, |k| if k == "on" { described("eventType", "The event.") } else { described("conditions", "Conditions on its data.") }, &["on"]) ] },
            "eventMatches": { "oneOf": [ { "$ref": "#/definitions/eventMatch" }, { "type": "array", "items": { "$ref": "#/definitions/eventMatch" } } ] },
            "conditions": { "type": "object", "description": "data.<field>: a value, a list of values, or { not: ... }.", "additionalProperties": false,
                "patternProperties": { "^data\\.[a-z_]+$": { "oneOf": [ value.clone(), { "type": "object", "additionalProperties": false, "properties": { "not": value } } ] } } },
            "calendar": { "type": "string", "enum": CALENDARS },
            "duration": { "type": "string", "description": "For example '14 days', '4 weeks', '6 months', '2 years', '14 dagen', or ISO 8601 'P14D'." },
            "term": { "type": "string", "description": "A duration or the name of a parameter." },
            "dateExpr": { "type": "string", "description": "'start', 'birthday <age>', 'data.<field>', an event type (the day it last arrived: 'zorg.beeindigd + 2 weeks'), or a date or deadline name, then '+' or '-' terms: 'start + 14 days'." },
            "roles": { "oneOf": [ { "type": "string" }, { "type": "array", "items": { "type": "string" } } ] },
            "gemeenteCodes": { "type": "array", "minItems": 1, "items": { "type": "string", "pattern": "^GM[0-9]{4}$" } },
            "template": { "type": "string", "description": "Dutch text with placeholders {titel}, {datum}, {casus}, {dagen}, {workflow}, {niveau}, {data.<field>}." }
        },
        "allOf": [ workflow ]
    })
}

/// The schema as shipped: pretty-printed with a final newline.
pub fn workflow_schema_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&workflow_schema()).expect("a JSON value always serialises");
    text.push('\n');
    text
}
