//! The log: `tracing` events written to standard error as one JSON object per line,
//! `{"level": "info", "message": "...", <field>: "<value>", ...}`, fields in the order they
//! were given and every value as text. Only ids and codes go into fields, never personal data.

use std::fmt;
use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Sends every `tracing` event of this process to standard error as a JSON line. Call once,
/// early; a second call leaves the first in place.
pub fn init() {
    let subscriber = tracing_subscriber::registry().with(JsonLines);
    // Only fails when a subscriber is set already (a test that starts twice): keep that one.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct JsonLines;

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().as_str().to_ascii_lowercase()),
        );
        line.insert(
            "message".into(),
            Value::String(fields.message.unwrap_or_default()),
        );
        line.extend(fields.values);
        // One write per line, so that lines of several threads do not interleave.
        let text = format!("{}\n", Value::Object(line));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    values: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, text: String) {
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.values.insert(field.name().into(), Value::String(text));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here as a Display wrapper whose Debug is the Display text.
        self.put(field, format!("{value:?}"));
    }
}
