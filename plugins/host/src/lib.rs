//! The plugin host: the only crate of the host with `unsafe` and libloading.
//!
//! Each configured library is checked before any of its code runs (its SHA-256 against the
//! pin in the configuration), loaded once and never unloaded, and asked for its ABI version
//! before anything else. Every call runs on the plugin's own thread with a time limit: a
//! plugin that panics (caught inside it by the SDK), returns malformed JSON, hangs or fails
//! three times in a row is logged, counted and put aside, and the workflows' defaults apply.
//! A plugin only ever receives its own gemeente's data: the registry routes by gemeente.

pub mod config;
mod engine;
mod health;
mod hooks;
mod library;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use config::{PluginConfig, read_plugins};
pub use engine::{EffectiveParam, ParamOrigin, build_engine, effective_params, shadowed_overrides};
pub use hooks::{PluginHooks, PluginParams};
pub use library::{LoadError, Plugin};

/// The loaded plugins, by gemeente code.
#[derive(Default)]
pub struct Registry {
    plugins: HashMap<String, Arc<Plugin>>,
    pub calls: AtomicU64,
    pub failures: AtomicU64,
}

impl Registry {
    /// Loads every configured plugin; one that cannot be loaded is reported in the result
    /// and left out, so its gemeente gets the defaults.
    pub fn load(configs: &[PluginConfig]) -> (Registry, Vec<(String, LoadError)>) {
        let mut registry = Registry::default();
        let mut problems = Vec::new();
        for config in configs {
            match Plugin::load(config) {
                Ok(plugin) => {
                    registry
                        .plugins
                        .insert(config.gemeente.clone(), Arc::new(plugin));
                }
                Err(err) => problems.push((config.gemeente.clone(), err)),
            }
        }
        (registry, problems)
    }

    /// Loads the configured plugins and logs the ones that could not be loaded (their
    /// gemeenten get the defaults); `None` when none are configured.
    pub fn start(configs: &[PluginConfig]) -> Option<Arc<Registry>> {
        if configs.is_empty() {
            return None;
        }
        let (registry, problems) = Registry::load(configs);
        for (gemeente, problem) in problems {
            tracing::error!(
                gemeente = %gemeente,
                cause = %problem,
                "plugin not loaded; the defaults apply"
            );
        }
        for plugin in registry.loaded() {
            let id = &plugin.identity;
            // The daemon says which plugins it runs with in its start line; the commands keep
            // their standard error for problems.
            tracing::debug!(
                gemeente = %id.gemeente,
                name = %id.name,
                version = %id.version,
                "plugin loaded"
            );
        }
        Some(Arc::new(registry))
    }

    /// How many plugins are put aside now.
    pub fn put_aside(&self) -> usize {
        self.plugins
            .values()
            .filter(|p| p.put_aside().is_some())
            .count()
    }

    pub fn get(&self, gemeente: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(gemeente)
    }

    /// How often plugins came back after being put aside.
    pub fn recoveries(&self) -> u64 {
        self.plugins
            .values()
            .map(|p| p.recoveries.load(Ordering::Relaxed))
            .sum()
    }

    pub fn loaded(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.values()
    }

    /// The days a gemeente's plugin says it is closed.
    pub fn closed_days(&self, gemeente: &str) -> Vec<waakvlam_core::calendar::Day> {
        let Some(serde_json::Value::Array(days)) =
            self.call(gemeente, "closed_days", &serde_json::Value::Null)
        else {
            return Vec::new();
        };
        days.iter()
            .filter_map(|d| d.as_str()?.parse().ok())
            .collect()
    }

    /// The addresses a gemeente's plugin gives for a role in a workflow.
    pub fn recipients(&self, gemeente: &str, workflow: &str, role: &str) -> Option<Vec<String>> {
        let answer = self.call(
            gemeente,
            "recipients",
            &serde_json::to_value(waakvlam_plugin::RoleInput {
                role: role.to_string(),
                workflow: Some(workflow.to_string()),
            })
            .expect("a role serialises"),
        )?;
        serde_json::from_value(answer).ok()
    }

    /// Calls a plugin, counting the call and, when it fails, the failure.
    pub fn call(
        &self,
        gemeente: &str,
        method: &str,
        input: &serde_json::Value,
    ) -> Option<serde_json::Value> {
        self.call_many(gemeente, &[(method, input)]).pop().flatten()
    }

    /// Several calls to one gemeente's plugin in one handoff, answered in order; `None` where
    /// there is no plugin or a call failed (logged and counted), so the defaults apply.
    pub fn call_many(
        &self,
        gemeente: &str,
        calls: &[(&str, &serde_json::Value)],
    ) -> Vec<Option<serde_json::Value>> {
        let Some(plugin) = self.plugins.get(gemeente) else {
            return vec![None; calls.len()];
        };
        self.calls.fetch_add(calls.len() as u64, Ordering::Relaxed);
        plugin
            .call_many(calls)
            .into_iter()
            .zip(calls)
            .map(|(outcome, (method, _))| match outcome {
                Ok(value) => Some(value),
                Err(err) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        gemeente,
                        method,
                        cause = %err,
                        "plugin call failed; the defaults apply"
                    );
                    None
                }
            })
            .collect()
    }
}
