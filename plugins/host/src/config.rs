//! The `plugins` section of the configuration: one library per gemeente, with its pin, its
//! settings and its time limit.

use std::path::{Path, PathBuf};

use waakvlam_core::problem::{MapReader, Problems, gemeente_code_of, list_of, text_of};
use waakvlam_core::yaml::{self, Value as Yaml};

/// A gemeente's plugin library.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    pub gemeente: String,
    pub library: PathBuf,
    /// The SHA-256 the library must have; a production daemon loads only pinned plugins.
    pub sha256: Option<String>,
    /// The plugin's settings file, read as JSON for the plugin.
    pub settings: serde_json::Value,
    /// How long one call may take, counted on the plugin's own thread.
    pub timeout_ms: u64,
    /// How long a plugin put aside waits before it is tried again; doubled each time it
    /// fails again, up to an hour.
    pub retry_after_ms: u64,
}

/// Reads the `plugins` list of the configuration's top-level map: one plugin per gemeente.
pub fn read_plugins(
    top: &MapReader<'_>,
    base: &Path,
    problems: &mut Problems,
) -> Vec<PluginConfig> {
    let mut plugins: Vec<PluginConfig> = Vec::new();
    if let Some(list) = top.get("plugins") {
        for item in list_of(list) {
            if let Some(plugin) = read_plugin(item, base, problems) {
                if plugins.iter().any(|p| p.gemeente == plugin.gemeente) {
                    problems.add(item.at, format!("a second plugin for {}", plugin.gemeente));
                } else {
                    plugins.push(plugin);
                }
            }
        }
    }
    plugins
}

const PLUGIN_KEYS: &[&str] = &[
    "gemeente",
    "library",
    "sha256",
    "settings",
    "timeout_ms",
    "retry_after_ms",
];

fn read_plugin(node: &yaml::Node, base: &Path, problems: &mut Problems) -> Option<PluginConfig> {
    let map = MapReader::new(node, PLUGIN_KEYS, "a plugin", problems)?;
    let gemeente = map
        .require("gemeente", problems)
        .and_then(|n| gemeente_code_of(n, problems));
    let library = map
        .require("library", problems)
        .and_then(|n| text_of(n, "'library'", problems))
        .map(|(t, _)| library_path(t, base));
    let sha256 = map.sha256("sha256", "sha256sum the library", problems);
    let settings = match map.text("settings", problems) {
        None => serde_json::Value::Null,
        Some((file, at)) => {
            let path = base.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => match yaml::parse(&text) {
                    Ok(root) => to_json(&root),
                    Err(err) => {
                        problems.add(
                            at,
                            format!(
                                "{}:{}:{}: {}",
                                path.display(),
                                err.at.line,
                                err.at.column,
                                err.message
                            ),
                        );
                        serde_json::Value::Null
                    }
                },
                Err(err) => {
                    problems.add(at, format!("{} cannot be read: {err}", path.display()));
                    serde_json::Value::Null
                }
            }
        }
    };
    let timeout_ms = map.number("timeout_ms", 1000, problems).max(1);
    let retry_after_ms = map.number("retry_after_ms", 30_000, problems);
    Some(PluginConfig {
        gemeente: gemeente?,
        library: library?,
        sha256,
        settings,
        timeout_ms,
        retry_after_ms,
    })
}

/// A YAML tree as JSON, for a plugin's settings: scalars are strings except true, false and
/// null, so a plugin reads what the file says without YAML's guesses.
fn to_json(node: &yaml::Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.value {
        Yaml::Scalar {
            text,
            quoted: false,
        } if text == "true" => Value::Bool(true),
        Yaml::Scalar {
            text,
            quoted: false,
        } if text == "false" => Value::Bool(false),
        Yaml::Scalar { .. } if node.is_null() => Value::Null,
        Yaml::Scalar { text, .. } => Value::String(text.clone()),
        Yaml::List(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// A bare file name (`libwaakvlam_deventer.so`) is looked for next to the running program
/// first, where `cargo build --workspace` puts the plugins beside the binary, then next to
/// the configuration; a path is relative to the configuration.
fn library_path(name: &str, base: &Path) -> PathBuf {
    if !name.contains('/') {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
        // Test binaries run from target/<profile>/deps: the plugins are one level up.
        let above = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join(name)));
        if let Some(found) = beside.into_iter().chain(above).find(|p| p.exists()) {
            return found;
        }
    }
    base.join(name)
}
