//! The warnings of a set of definitions, which never stop a daemon or a check: workflows that
//! both send for one case, escalations without end, overrides that change nothing, and codes
//! of gemeenten this configuration does not serve. `check` prints them; `run`, a reload and
//! `simulate` log them.

use crate::config::Config;
use waakvlam_core::workflow;

/// Logs the workflows' codes of gemeenten this configuration does not serve (at start, at each
/// reload, in `simulate`).
pub fn warn_unserved(config: &Config, workflows: &[workflow::Workflow]) {
    for warning in config.core.unserved_gemeenten(workflows) {
        tracing::warn!(problem = %warning, "a workflow names a gemeente this configuration does not serve");
    }
}

/// Logs the warnings of `workflow::warnings` (at start and at a reload).
pub fn warn_about(workflows: &[workflow::Workflow]) {
    for warning in workflow::warnings(workflows) {
        tracing::warn!(problem = %warning, "workflow warning");
    }
}

/// The configuration's overrides that change nothing: of a parameter no workflow has, or one
/// the gemeente's plugin sets itself. Each with where it is written, as `file:line:column:
/// warning: ...`.
pub fn unused_overrides(
    config: &Config,
    workflows: &[workflow::Workflow],
    plugins: Option<&waakvlam_plugin_host::Registry>,
) -> Vec<String> {
    let mut found = config.core.unused_overrides(workflows);
    if let Some(plugins) = plugins {
        found.extend(waakvlam_plugin_host::shadowed_overrides(
            &config.core,
            plugins,
        ));
    }
    found.sort_by_key(|(at, _)| (at.line, at.column));
    found
        .into_iter()
        .map(|(at, message)| {
            format!(
                "{}:{}:{}: warning: {message}",
                config.file.display(),
                at.line,
                at.column
            )
        })
        .collect()
}

/// Logs the overrides that change nothing (at start and for `simulate`).
pub fn warn_unused_overrides(
    config: &Config,
    workflows: &[workflow::Workflow],
    plugins: Option<&waakvlam_plugin_host::Registry>,
) {
    for warning in unused_overrides(config, workflows, plugins) {
        tracing::warn!(problem = %warning, "a configuration override is not used");
    }
}
