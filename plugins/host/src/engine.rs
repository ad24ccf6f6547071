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

pub use waakvlam_core::engine::ParamOrigin;

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
    let params = PluginParams::new(
        plugins
            .cloned()
            .unwrap_or_else(|| Arc::new(Registry::default())),
        config.params(),
    );
    let no_data = serde_json::Map::new();
    let mut out = Vec::new();
    for gemeente in &gemeenten {
        for workflow in workflows {
            let overrides = params.overrides(gemeente, &workflow.name, &no_data);
            for param in &workflow.params {
                // The last word is the plugin's, as in the engine.
                let (value, origin) = overrides
                    .iter()
                    .rev()
                    .find(|set| set.name == param.name)
                    .map_or((param.default, ParamOrigin::Workflow), |set| {
                        (set.value, set.origin)
                    });
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
