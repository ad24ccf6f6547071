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
    /// Every place a bare library name was looked for, in order, when it was found in none:
    /// the load error names them all. Empty when the library was found or given as a path.
    pub searched: Vec<PathBuf>,
}

/// Reads the `plugins` list of the configuration's top-level map: one plugin per gemeente.
pub fn read_plugins(
    top: &MapReader<'_>,
    base: &Path,
    problems: &mut Problems,
) -> Vec<PluginConfig> {
    let mut plugins: Vec<PluginConfig> = Vec::new();
    let plugins_dir = top
        .text("plugins_dir", problems)
        .map(|(dir, _)| base.join(dir));
    if let Some(list) = top.get("plugins") {
        for item in list_of(list) {
            if let Some(plugin) = read_plugin(item, base, plugins_dir.as_deref(), problems) {
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

fn read_plugin(
    node: &yaml::Node,
    base: &Path,
    plugins_dir: Option<&Path>,
    problems: &mut Problems,
) -> Option<PluginConfig> {
    let map = MapReader::new(node, PLUGIN_KEYS, "a plugin", problems)?;
    let gemeente = map
        .require("gemeente", problems)
        .and_then(|n| gemeente_code_of(n, problems));
    let library = map
        .require("library", problems)
        .and_then(|n| text_of(n, "'library'", problems))
        .map(|(t, _)| library_path(t, base, plugins_dir));
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
    let (library, searched) = library?;
    Some(PluginConfig {
        gemeente: gemeente?,
        library,
        searched,
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

/// Where a library is: a path (with a `/`) is relative to the configuration; a bare file name
/// (`libwaakvlam_deventer.so`) is looked for in this order: `plugins_dir` of the
/// configuration, next to the running program (where `cargo build --workspace` and the
/// install guide put the plugins), and the directory above it (cargo's test binaries run from
/// `target/<profile>/deps`). Not found: the first place, and every place tried.
fn library_path(name: &str, base: &Path, plugins_dir: Option<&Path>) -> (PathBuf, Vec<PathBuf>) {
    if name.contains('/') {
        return (base.join(name), Vec::new());
    }
    let exe = std::env::current_exe().ok();
    let beside = exe
        .as_ref()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    let above = exe
        .as_ref()
        .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join(name)));
    let places: Vec<PathBuf> = plugins_dir
        .map(|dir| dir.join(name))
        .into_iter()
        .chain(beside)
        .chain(above)
        .collect();
    match places.iter().find(|p| p.exists()) {
        Some(found) => (found.clone(), Vec::new()),
        None => (
            places.first().cloned().unwrap_or_else(|| base.join(name)),
            places,
        ),
    }
}
