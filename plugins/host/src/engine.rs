//! The one place the engine is built with the gemeenten' plugins: their parameters (over the
//! configuration's), their closed days (with the configuration's) and their hooks.

use std::sync::Arc;

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
pub fn shadowed_overrides(config: &EngineConfig, plugins: &Registry) -> Vec<String> {
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
                    shadowed.push(format!(
                        "gemeenten.{code}.params.{workflow}.{name} is not used: the plugin of {code} ({}) sets it to {value}; change it in the plugin's settings or code",
                        plugin.identity.name
                    ));
                }
            }
        }
    }
    shadowed
}
