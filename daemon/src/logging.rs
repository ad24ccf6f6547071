//! The log: `tracing` events on standard error, as JSON lines (the default of `run`, for
//! journald and log collectors) or as text, with an RFC 3339 timestamp, the level, the target
//! and the fields. `RUST_LOG` overrides the configured level (`log: { level, format }`).
//! Only ids and codes go into fields: never a BSN, a name or an event's data.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How the log is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

/// The `log` section of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}

/// The levels a configuration may name.
pub const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// Sends this process's `tracing` events to standard error. Call once; a second call leaves
/// the first in place.
pub fn init(config: &LogConfig) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(config.level.as_str()));
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // Only fails when a subscriber is set already: keep that one.
    let _ = match config.format {
        LogFormat::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry.with(layer).try_init(),
    };
}

/// For the commands that are not the daemon: their standard error holds problems only, as
/// short lines (`WARN a configuration override is not used problem=...`).
pub fn init_for_commands() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
}
