//! The plugins seen from the engine: parameter overrides and hooks, each asking only the
//! plugin of the gemeente concerned, and only for what it declared it wants.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use super::Registry;
use waakvlam_core::calendar::Duration;
use waakvlam_core::calendar::format_timestamp;
use waakvlam_core::config::ConfigParams;
use waakvlam_core::engine::{
    HookCall, HookContext, HookSignal, Hooks, MessageHook, Override, ParamOrigin, ParamSource,
};
use waakvlam_plugin::{EventContext, MessageContext, OpenInstance, ParamsInput, StartContext};

/// gemeente -> workflow -> the values of the data fields the plugin reads -> its overrides.
/// Nested so that a lookup borrows its keys: it is made for every start on a date at every
/// event of a case, from every simulating thread at once.
type ParamsCache =
    HashMap<String, HashMap<String, HashMap<Vec<Option<String>>, Vec<(String, Duration)>>>>;

/// The configuration's overrides, then the plugin's (a plugin knows its gemeente best).
pub struct PluginParams {
    registry: Arc<Registry>,
    config: ConfigParams,
    /// Answers by the values of the fields a plugin reads (its `params_read`), or for starts
    /// without data: the same question gets the same answer, so it is asked once. Read far
    /// more often than written, hence a read-write lock.
    answers: RwLock<ParamsCache>,
}

impl PluginParams {
    pub fn new(registry: Arc<Registry>, config: ConfigParams) -> PluginParams {
        PluginParams {
            registry,
            config,
            answers: Default::default(),
        }
    }

    fn cached(
        &self,
        gemeente: &str,
        workflow: &str,
        values: &[Option<String>],
    ) -> Option<Vec<Override>> {
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        let list = answers.get(gemeente)?.get(workflow)?.get(values)?;
        Some(from_plugin(list))
    }

    fn remember(
        &self,
        gemeente: &str,
        workflow: &str,
        values: Vec<Option<String>>,
        answer: Vec<(String, Duration)>,
    ) {
        self.answers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(gemeente.to_string())
            .or_default()
            .entry(workflow.to_string())
            .or_default()
            .insert(values, answer);
    }
}

fn from_plugin(list: &[(String, Duration)]) -> Vec<Override> {
    list.iter()
        .map(|(name, value)| Override {
            name: name.clone(),
            value: *value,
            origin: ParamOrigin::Plugin,
        })
        .collect()
}

impl ParamSource for PluginParams {
    fn overrides(
        &self,
        gemeente: &str,
        workflow: &str,
        start_data: &Map<String, Value>,
    ) -> Vec<Override> {
        let mut overrides = self.config.overrides(gemeente, workflow, start_data);
        let Some(plugin) = self.registry.get(gemeente) else {
            return overrides;
        };
        if !plugin.identity.params_for.iter().any(|w| w == workflow) {
            return overrides;
        }
        let read = plugin.identity.params_read.as_deref();
        let cacheable = start_data.is_empty() || read.is_some();
        let values: Vec<Option<String>> = read
            .into_iter()
            .flatten()
            .map(|field| waakvlam_core::event::data_text(start_data, field))
            .collect();
        if cacheable && let Some(cached) = self.cached(gemeente, workflow, &values) {
            overrides.extend(cached);
            return overrides;
        }
        let Some(Value::Object(answer)) = self.registry.call(
            gemeente,
            "params",
            &serde_json::to_value(ParamsInput {
                workflow: workflow.to_string(),
                start: start_data.clone(),
            })
            .expect("a context serialises"),
        ) else {
            return overrides;
        };
        let mut answered = Vec::new();
        for (name, value) in answer {
            match value.as_str().map(Duration::parse) {
                Some(Ok(duration)) => answered.push((name, duration)),
                _ => tracing::warn!(
                    gemeente,
                    workflow,
                    parameter = %name,
                    "plugin gave a parameter that is not a duration; the default applies"
                ),
            }
        }
        overrides.extend(from_plugin(&answered));
        if cacheable {
            self.remember(gemeente, workflow, values, answered);
        }
        overrides
    }
}

pub struct PluginHooks {
    registry: Arc<Registry>,
}

impl PluginHooks {
    pub fn new(registry: Arc<Registry>) -> PluginHooks {
        PluginHooks { registry }
    }
}

impl Hooks for PluginHooks {
    fn wants_event(&self, gemeente: &str, event_type: &str, open_workflows: &[&str]) -> bool {
        self.registry.get(gemeente).is_some_and(|p| {
            let id = &p.identity;
            id.events.iter().any(|e| e == event_type)
                && (id.events_while_open.is_empty()
                    || id
                        .events_while_open
                        .iter()
                        .any(|w| open_workflows.contains(&w.as_str())))
        })
    }

    fn wants_start(&self, gemeente: &str, workflow: &str) -> bool {
        self.registry
            .get(gemeente)
            .is_some_and(|p| p.identity.starts.iter().any(|w| w == workflow))
    }

    /// Each gemeente's calls go to its plugin in one handoff.
    fn signals(&self, calls: &[&HookCall]) -> Vec<Vec<HookSignal>> {
        let mut by_gemeente: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, call) in calls.iter().enumerate() {
            by_gemeente.entry(&call.gemeente).or_default().push(index);
        }
        let mut answers = vec![Vec::new(); calls.len()];
        for (gemeente, indices) in by_gemeente {
            let contexts: Vec<Value> = indices.iter().map(|&i| contract(calls[i])).collect();
            let asked: Vec<(&str, &Value)> = indices
                .iter()
                .zip(&contexts)
                .map(|(&i, context)| (calls[i].on().method(), context))
                .collect();
            let answered = self.registry.call_many(gemeente, &asked);
            for (index, answer) in indices.into_iter().zip(answered) {
                answers[index] = answer.map_or_else(Vec::new, |a| signals_of(calls[index], a));
            }
        }
        answers
    }

    fn wants_messages(&self, gemeente: &str) -> bool {
        self.registry
            .get(gemeente)
            .is_some_and(|p| p.identity.messages)
    }

    /// One handoff to the gemeente's plugin for all the messages.
    fn messages(&self, gemeente: &str, messages: &[MessageHook<'_>]) -> Vec<Option<String>> {
        let contexts: Vec<Value> = messages
            .iter()
            .map(|message| {
                serde_json::to_value(MessageContext {
                    kind: message.kind.as_str().to_string(),
                    workflow: message.workflow.to_string(),
                    deadline: message.deadline.to_string(),
                    case: message.case.to_string(),
                    due: message.due.map(|d| d.to_string()),
                    level: message.level,
                    text: message.text.to_string(),
                })
                .expect("a context serialises")
            })
            .collect();
        let asked: Vec<(&str, &Value)> = contexts.iter().map(|c| ("message", c)).collect();
        self.registry
            .call_many(gemeente, &asked)
            .into_iter()
            .map(|answer| answer.and_then(|a| a.as_str().map(str::to_string)))
            .collect()
    }
}

/// A hook call as the plugin contract has it: the SDK's own structs, so that what the host
/// sends and what a plugin reads cannot drift apart.
fn contract(call: &HookCall) -> Value {
    let context = match &call.context {
        HookContext::Event {
            event_type,
            case,
            at,
            data,
            open_instances,
            in_care,
        } => serde_json::to_value(EventContext {
            event_type: event_type.to_string(),
            case: case.clone(),
            at: format_timestamp(*at),
            data: data.clone(),
            open_instances: open_instances
                .iter()
                .map(|(id, workflow)| OpenInstance {
                    id: id.clone(),
                    workflow: workflow.clone(),
                })
                .collect(),
            in_care: *in_care,
        }),
        HookContext::Start {
            workflow,
            instance,
            case,
            data,
        } => serde_json::to_value(StartContext {
            workflow: workflow.clone(),
            instance: instance.clone(),
            case: case.clone(),
            data: data.clone(),
        }),
    };
    context.expect("a context serialises")
}

/// A plugin's answer to a hook call as signals; another shape sends none, and says so.
fn signals_of(call: &HookCall, answer: Value) -> Vec<HookSignal> {
    serde_json::from_value(answer).unwrap_or_else(|err| {
        tracing::warn!(
            gemeente = %call.gemeente,
            method = call.on().method(),
            cause = %err,
            "plugin gave signals in another shape; none are sent"
        );
        Vec::new()
    })
}
