//! The OpenAPI 3.1 document of the API (`/v1/openapi.json`): `openapi.json` holds what is
//! written by hand (operations, responses, parameters); the event schema is generated here
//! from the vocabulary table the validator uses, so the two cannot drift apart.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use waakvlam_core::event::{EventType, FieldKind};

/// The document as served.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut document: Value =
        serde_json::from_str(include_str!("openapi.json")).expect("openapi.json is JSON");
    document["components"]["schemas"]["Event"] = event_schema();
    // Every operation that takes a token may answer 429: more slowed answers to unknown
    // tokens at once than `api::SLOW_ANSWERS` (the brake on guessing).
    document["components"]["responses"]["TooManyGuesses"] = json!({
        "description": "Too many unknown tokens are being answered at once; wait a minute (Retry-After).",
        "headers": { "Retry-After": { "schema": { "type": "integer" } } },
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
    if let Some(paths) = document["paths"].as_object_mut() {
        for operation in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|p| p.values_mut())
        {
            if operation["responses"].get("401").is_some() {
                operation["responses"]["429"] =
                    json!({ "$ref": "#/components/responses/TooManyGuesses" });
            }
        }
    }
    serde_json::to_string_pretty(&document).expect("a JSON value serialises")
});

/// What the validator takes for a BSN (`event::has_bsn_like_number`): nine digits that stand
/// alone, in a row or grouped by single dots or spaces, or three groups of three joined by a
/// dash, slash, underscore, dot or space.
pub const BSN_PATTERN: &str =
    "(^|[^0-9])([0-9]([. ]?[0-9]){8}|[0-9]{3}[-/_. ][0-9]{3}[-/_. ][0-9]{3})(?![0-9])";

/// A control character, which no id or case id may hold.
const NO_CONTROL: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

/// A string that holds nothing the validator takes for a BSN.
fn no_bsn(mut schema: Value) -> Value {
    schema["not"] = json!({ "pattern": BSN_PATTERN });
    schema
}

/// A string that is not blank.
fn not_blank() -> Value {
    json!({ "type": "string", "pattern": "\\S" })
}

/// YYYY-MM-DD in the years 1900-2199.
const DATE: &str = "^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

fn field_schema(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Text => no_bsn(json!({ "type": "string" })),
        FieldKind::Date => json!({ "type": "string", "format": "date", "pattern": DATE }),
        FieldKind::BirthDate => json!({
            "type": "string",
            "pattern": "^(19|20|21)[0-9]{2}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$",
            "description": "YYYY-MM-DD, or YYYY-MM or YYYY when the day or month is unknown (iJw COD170)"
        }),
        FieldKind::Boolean => json!({ "type": "boolean" }),
        FieldKind::ReasonCode => json!({
            "oneOf": [
                { "type": "string", "pattern": "^[0-9]{2}$" },
                { "type": "integer", "minimum": 0, "maximum": 99 }
            ],
            "description": "a JZ588 reason code, two digits"
        }),
        FieldKind::OneOf(allowed) => json!({ "type": "string", "enum": allowed }),
    }
}

/// One object per event type (`oneOf` on `type`), each with the data that type needs.
fn event_schema() -> Value {
    let variants: Vec<Value> = EventType::all()
        .map(|event_type| {
            let spec = event_type.spec();
            let mut properties = Map::new();
            let mut required = Vec::new();
            for field in spec.fields {
                properties.insert(field.name.to_string(), field_schema(field.kind));
                if field.required {
                    required.push(field.name);
                }
            }
            let mut data = json!({
                "type": "object",
                "properties": properties,
                // Other fields are kept, but never one that may hold a BSN.
                "propertyNames": { "not": { "pattern": BSN_PATTERN } },
                "additionalProperties": {
                    "not": { "anyOf": [
                        { "type": "string", "pattern": BSN_PATTERN },
                        { "type": "integer", "minimum": 100000000, "maximum": 999999999 },
                        // Nested values are searched too; the document keeps it simple by
                        // describing flat data, which is all the vocabulary has.
                        { "type": "object" },
                        { "type": "array" }
                    ] }
                }
            });
            let mut event_required = vec!["id", "type", "gemeente", "case", "at"];
            if !required.is_empty() {
                data["required"] = json!(required);
                event_required.push("data");
            }
            json!({
                "type": "object",
                "title": spec.name,
                "required": event_required,
                "additionalProperties": false,
                "properties": {
                    "id": no_bsn(json!({ "allOf": [not_blank(), { "type": "string", "pattern": NO_CONTROL }], "description": "Unique per sender; a repeat is a duplicate. No control characters and nothing that may be a BSN." })),
                    "type": { "const": spec.name },
                    "gemeente": { "type": "string", "pattern": "^GM[0-9]{4}$", "description": "The CBS code; the token must cover it (403 otherwise)." },
                    "case": no_bsn(json!({ "allOf": [not_blank(), { "type": "string", "pattern": NO_CONTROL }], "description": "Pseudonymous case id; never a BSN, no control characters." })),
                    "at": { "type": "string", "format": "date-time", "pattern": "^(19|20|21)[0-9]{2}-", "description": "RFC 3339 with an offset, in the years 1900-2199." },
                    "data": data
                }
            })
        })
        .collect();
    json!({ "oneOf": variants, "example": {
        "id": "e-17", "type": "klacht.ingediend", "gemeente": "GM0150", "case": "C-1",
        "at": "2026-11-20T10:15:00+01:00", "data": { "klacht_id": "K-9" }
    } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_is_in_the_document_with_its_required_data() {
        let document: Value = serde_json::from_str(&DOCUMENT).unwrap();
        let variants = document["components"]["schemas"]["Event"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(variants.len(), EventType::all().count());
        let complaint = variants
            .iter()
            .find(|v| v["title"] == "klacht.ingediend")
            .unwrap();
        assert_eq!(
            complaint["properties"]["data"]["required"],
            json!(["klacht_id"])
        );
        assert_eq!(complaint["required"][5], "data");
    }
}
