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
