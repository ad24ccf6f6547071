//! The one place the engine is built with the gemeenten' plugins: their parameters (over the
//! configuration's), their closed days (with the configuration's) and their hooks.

use std::sync::Arc;

use waakvlam_core::calendar::Duration;
use waakvlam_core::config::EngineConfig;
use waakvlam_core::engine::{Engine, ParamSource};
use waakvlam_core::workflow::Workflow;

use crate::{PluginHooks, PluginParams, Registry};

/// The engine for these workflows under this configuration, with the plugins when given.
pub fn build_engine(
    config: &EngineConfig,
    workflows: Vec<Workflow>,
    plugins: Option<Arc<Registry>>,
) -> Engine {
    let params: Box<dyn ParamSource> = match &plugins {
        Some(registry) => Box::new(PluginParams::new(registry.clone(), config.params())),
        None => Box::new(config.params()),
    };
    let mut engine = Engine::new(workflows, config.calendar(), config.settings(), params);
    let mut closed = config.closed_days();
    if let Some(registry) = &plugins {
        for plugin in registry.loaded() {
            closed
                .entry(plugin.gemeente.clone())
                .or_default()
                .extend(registry.closed_days(&plugin.gemeente));
        }
        engine = engine.with_hooks(Box::new(PluginHooks::new(registry.clone())));
    }
    for (code, days) in closed {
        if !days.is_empty() {
            engine = engine.with_closed_days(&code, &days);
        }
    }
    engine
}

/// Parameter overrides of the configuration that a gemeente's plugin sets itself, so that the
/// configuration's value is never used: one sentence each, saying where to change it instead.
pub fn shadowed_overrides(
    config: &EngineConfig,
    plugins: &Registry,
) -> Vec<(waakvlam_core::yaml::Position, String)> {
    let mut shadowed = Vec::new();
    for (code, gemeente) in &config.gemeenten {
        let Some(plugin) = plugins.get(code) else {
            continue;
        };
        for (workflow, params) in &gemeente.params {
            if !plugin.identity.params_for.iter().any(|w| w == workflow) {
                continue;
            }
            // What the plugin sets for a start without data: the names it overrides.
            let asked = serde_json::to_value(waakvlam_plugin::ParamsInput {
                workflow: workflow.clone(),
                start: Default::default(),
            })
            .expect("a context serialises");
            let Some(set) = plugins.call(code, "params", &asked) else {
                continue;
            };
            for name in params.keys() {
                if let Some(value) = set.get(name).and_then(|v| v.as_str()) {
                    let at = gemeente
                        .params_at
                        .get(&(workflow.clone(), name.clone()))
                        .copied()
                        .unwrap_or_default();
                    shadowed.push((at, format!(
                        "gemeenten.{code}.params.{workflow}.{name} is not used: the plugin of {code} ({}) sets it to {value}; change it in the plugin's settings or code",
                        plugin.identity.name
                    )));
                }
            }
        }
    }
    shadowed
}

/// Where a gemeente's value of a workflow parameter comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamOrigin {
    /// The workflow's own default.
    Workflow,
    /// `gemeenten.<code>.params` in the configuration.
    Configuration,
    /// The gemeente's plugin (for a start without data; a plugin may answer per start).
    Plugin,
}

/// One gemeente's value of one parameter of one workflow, and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveParam {
    pub gemeente: String,
    pub workflow: String,
    pub param: String,
    pub value: Duration,
    pub origin: ParamOrigin,
}

/// The parameters as the engine resolves them for each gemeente of the configuration or with
/// a plugin: the plugin over the configuration over the workflow, as `build_engine` builds it.
pub fn effective_params(
    config: &EngineConfig,
    workflows: &[Workflow],
    plugins: Option<&Arc<Registry>>,
) -> Vec<EffectiveParam> {
    let mut gemeenten: std::collections::BTreeSet<String> =
        config.gemeenten.keys().cloned().collect();
    gemeenten.extend(
        plugins
            .iter()
            .flat_map(|r| r.loaded())
            .map(|p| p.gemeente.clone()),
    );
    // The plugin's own answers, without the configuration's values mixed in.
    let only_plugins = plugins
        .map(|registry| PluginParams::new(registry.clone(), EngineConfig::default().params()));
    let configured = config.params();
    let no_data = serde_json::Map::new();
    let mut out = Vec::new();
    for gemeente in &gemeenten {
        for workflow in workflows {
            let from_config = configured.overrides(gemeente, &workflow.name, &no_data);
            let from_plugin = only_plugins
                .as_ref()
                .map(|p| p.overrides(gemeente, &workflow.name, &no_data))
                .unwrap_or_default();
            for param in &workflow.params {
                let find = |list: &[(String, Duration)]| {
                    list.iter()
                        .find(|(name, _)| *name == param.name)
                        .map(|(_, v)| *v)
                };
                let (value, origin) = match (find(&from_plugin), find(&from_config)) {
                    (Some(value), _) => (value, ParamOrigin::Plugin),
                    (None, Some(value)) => (value, ParamOrigin::Configuration),
                    (None, None) => (param.default, ParamOrigin::Workflow),
                };
                out.push(EffectiveParam {
                    gemeente: gemeente.clone(),
                    workflow: workflow.name.clone(),
                    param: param.name.clone(),
                    value,
                    origin,
                });
            }
        }
    }
    out
}
