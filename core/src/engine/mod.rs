//! The engine: pure state transitions. Case state + an event or the passing of time ->
//! new state + the notifications to send. It does no IO and reads no clock: every call is
//! given the moment it runs at, so `simulate` and the daemon run the very same code, and tests
//! run on virtual time.

mod case;
mod combine;
mod derivation;
mod explain;
mod instance;
pub mod notification;
mod schedule;
mod view;

use std::collections::HashMap;

use serde_json::{Map, Value};

pub use case::{CarePeriod, Case, CaseFacts};
pub use derivation::{About, Derivation, Explanations, Origin, Step, sentences};
pub use explain::{Moved, MovedDeadline};
pub use instance::{DeadlineStatus, Instance, Occurrence, OccurrenceStatus, Status};
pub use notification::{Kind, Notification};
pub use view::{CalendarMark, DeadlineState, DeadlineView, OverviewItem};

use crate::calendar::{Calendar, Day, Duration};
use crate::workflow::Workflow;

/// Where a gemeente's value of a workflow parameter comes from: what an explanation of a due
/// date and the Workflows page say about a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamOrigin {
    /// The workflow's own default.
    Workflow,
    /// `gemeenten.<code>.params` in the configuration.
    Configuration,
    /// The gemeente's plugin.
    Plugin,
}

/// A parameter a gemeente sets to another value than the workflow's default, and who set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub name: String,
    pub value: Duration,
    pub origin: ParamOrigin,
}

/// Parameter overrides per gemeente (DESIGN.md: "a gemeente's plugin may override" the
/// defaults): from the configuration, and from plugins through the same trait.
pub trait ParamSource: Send + Sync {
    /// Overrides for one workflow of one gemeente, given the start event's data (a plugin may
    /// choose by it, for example a high relapse risk), later ones winning. Unknown names are
    /// ignored.
    fn overrides(
        &self,
        gemeente: &str,
        workflow: &str,
        start_data: &Map<String, Value>,
    ) -> Vec<Override>;
}

/// No overrides: every gemeente gets the workflows' defaults.
pub struct Defaults;

impl ParamSource for Defaults {
    fn overrides(&self, _: &str, _: &str, _: &Map<String, Value>) -> Vec<Override> {
        Vec::new()
    }
}

/// What a gemeente's plugin adds to the engine: signals on events and on starts, and its own
/// message texts. Called only where the plugin said it wants to be (`wants_*`).
pub trait Hooks: Send + Sync {
    /// Whether the hook wants this event, given the workflows open in the case after it.
    fn wants_event(&self, gemeente: &str, event_type: &str, open_workflows: &[&str]) -> bool;
    fn wants_start(&self, gemeente: &str, workflow: &str) -> bool;
    /// Answers calls in order, each with the signals it raised. The calls of many cases come
    /// together so that a plugin behind a thread handoff is woken once for all its gemeente's.
    fn signals(&self, calls: &[&HookCall]) -> Vec<Vec<HookSignal>>;
    fn wants_messages(&self, gemeente: &str) -> bool;
    /// Another text for each message, given what it is about and its default text; `None`
    /// keeps the default. All messages of one moment of a case come in one call.
    fn messages(&self, gemeente: &str, messages: &[MessageHook<'_>]) -> Vec<Option<String>>;
}

/// What a hook call is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HookOn {
    /// An event came in; `context`: the event and the case's open instances after it.
    Event,
    /// An instance started; `context`: the workflow, the instance and its data.
    Start,
}

impl HookOn {
    /// The plugin method that answers it.
    pub fn method(self) -> &'static str {
        match self {
            HookOn::Event => "on_event",
            HookOn::Start => "on_start",
        }
    }
}

/// What a hook call is about, in the engine's own terms. The plugin host turns it into the
/// plugin contract's structs (the SDK's `EventContext` and `StartContext`), so the contract is
/// written in one place and a renamed field does not compile.
#[derive(Clone, Debug)]
pub enum HookContext {
    /// An event came in.
    Event {
        event_type: &'static str,
        case: String,
        at: jiff::Timestamp,
        data: Map<String, Value>,
        /// (instance id, workflow) of the case's open instances after the event.
        open_instances: Vec<(String, String)>,
        in_care: bool,
    },
    /// An instance started.
    Start {
        workflow: String,
        instance: String,
        case: String,
        data: Map<String, Value>,
    },
}

/// A message about to be sent, with its default text, for a gemeente's own wording.
#[derive(Clone, Debug)]
pub struct MessageHook<'a> {
    pub kind: Kind,
    pub workflow: &'a str,
    pub deadline: &'a str,
    pub case: &'a str,
    pub due: Option<Day>,
    pub level: u32,
    pub text: &'a str,
}

/// A call a case makes to its gemeente's hook. A case queues them and sends what they raise
/// once answered ([`Case::take_hook_calls`], [`Case::hooks_answered`]), so that a caller
/// with many cases can answer them together; [`Case::apply`] answers them at once.
#[derive(Clone, Debug)]
pub struct HookCall {
    pub gemeente: String,
    pub context: HookContext,
    /// What made the call (the event or the instance): part of each signal's id, so the same
    /// cause never signals twice.
    source: String,
    at: jiff::Timestamp,
}

impl HookCall {
    pub fn on(&self) -> HookOn {
        match self.context {
            HookContext::Event { .. } => HookOn::Event,
            HookContext::Start { .. } => HookOn::Start,
        }
    }
}

/// A signal a hook raised.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct HookSignal {
    pub name: String,
    pub to: Vec<String>,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// The hour (Europe/Amsterdam) reminders and escalations go out; 9 by default.
    pub send_hour: u8,
    /// The gemeenten this daemon serves, code -> name: a case that moves to one of them at 18
    /// is signalled there (`casus.woonplaats_vastgesteld`).
    pub gemeenten: std::collections::BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            send_hour: 9,
            gemeenten: Default::default(),
        }
    }
}

pub struct Engine {
    pub workflows: Vec<Workflow>,
    /// The national calendar: legal terms are computed with it.
    pub calendar: Calendar,
    /// Per gemeente, the national calendar plus the days it is closed: for sending only.
    closed: HashMap<String, Calendar>,
    pub settings: Settings,
    params: Box<dyn ParamSource>,
    pub(crate) hooks: Option<Box<dyn Hooks>>,
}

impl Engine {
    pub fn new(
        workflows: Vec<Workflow>,
        calendar: Calendar,
        settings: Settings,
        params: Box<dyn ParamSource>,
    ) -> Engine {
        Engine {
            workflows,
            calendar,
            closed: HashMap::new(),
            settings,
            params,
            hooks: None,
        }
    }

    pub fn with_hooks(mut self, hooks: Box<dyn Hooks>) -> Engine {
        self.hooks = Some(hooks);
        self
    }

    /// Days a gemeente is closed: reminders and escalations of its cases avoid them.
    pub fn with_closed_days(mut self, gemeente: &str, days: &[Day]) -> Engine {
        let calendar = self.calendar.with_closed_days(days);
        self.closed.insert(gemeente.to_string(), calendar);
        self
    }

    pub fn calendar_for(&self, gemeente: &str) -> &Calendar {
        self.closed.get(gemeente).unwrap_or(&self.calendar)
    }

    /// Answers hook calls, of any cases and gemeenten (see [`HookCall`]).
    pub fn answer_hooks(&self, calls: &[&HookCall]) -> Vec<Vec<HookSignal>> {
        match &self.hooks {
            Some(hooks) if !calls.is_empty() => hooks.signals(calls),
            _ => calls.iter().map(|_| Vec::new()).collect(),
        }
    }

    /// The parameters of a new instance: defaults, then the gemeente's overrides.
    pub fn params(
        &self,
        gemeente: &str,
        workflow: &Workflow,
        start_data: &Map<String, Value>,
    ) -> Vec<Duration> {
        let mut params: Vec<Duration> = workflow.params.iter().map(|p| p.default).collect();
        for set in self.params.overrides(gemeente, &workflow.name, start_data) {
            if let Some(i) = workflow.param_index(&set.name) {
                params[i] = set.value;
            }
        }
        params
    }

    /// Where each parameter of [`Engine::params`] comes from, in the same order.
    pub fn param_origins(
        &self,
        gemeente: &str,
        workflow: &Workflow,
        start_data: &Map<String, Value>,
    ) -> Vec<(Duration, ParamOrigin)> {
        let mut params: Vec<(Duration, ParamOrigin)> = workflow
            .params
            .iter()
            .map(|p| (p.default, ParamOrigin::Workflow))
            .collect();
        for set in self.params.overrides(gemeente, &workflow.name, start_data) {
            if let Some(i) = workflow.param_index(&set.name) {
                params[i] = (set.value, set.origin);
            }
        }
        params
    }
}

/// An engine with one workflow, the national calendar without added days (covered through
/// 2030) and no plugins: for the engine's own unit tests.
#[cfg(test)]
pub(crate) fn test_engine(workflow: &str) -> Engine {
    let workflow = crate::workflow::parse(workflow, "klacht.yaml").expect("a valid workflow");
    let calendar =
        Calendar::new(&[], crate::calendar::LeapDayBirthdays::FirstOfMarch).covering_through(2030);
    Engine::new(
        vec![workflow],
        calendar,
        Settings::default(),
        Box::new(Defaults),
    )
}
