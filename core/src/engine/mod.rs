//! The engine: pure state transitions. Case state + an event or the passing of time ->
//! new state + the notifications to send. It does no IO and reads no clock: every call is
//! given the moment it runs at, so `simulate` and the daemon run the very same code, and tests
//! run on virtual time.

mod case;
mod instance;
pub mod notification;
mod schedule;

use std::collections::HashMap;

use serde_json::{Map, Value};

pub use case::{CarePeriod, Case, CaseFacts, DeadlineView};
pub use instance::{DeadlineStatus, Instance, Occurrence, OccurrenceStatus, Status};
pub use notification::{Kind, Notification};

use crate::calendar::{Calendar, Day, Duration};
use crate::workflow::Workflow;

/// Parameter overrides per gemeente (DESIGN.md: "a gemeente's plugin may override" the
/// defaults). The configuration supplies them today; plugins will through the same trait.
pub trait ParamSource: Send + Sync {
    /// Overrides for one workflow of one gemeente, given the start event's data (a plugin may
    /// choose by it, for example a high relapse risk). Unknown names are ignored.
    fn overrides(
        &self,
        gemeente: &str,
        workflow: &str,
        start_data: &Map<String, Value>,
    ) -> Vec<(String, Duration)>;
}

/// No overrides: every gemeente gets the workflows' defaults.
pub struct Defaults;

impl ParamSource for Defaults {
    fn overrides(&self, _: &str, _: &str, _: &Map<String, Value>) -> Vec<(String, Duration)> {
        Vec::new()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The hour (Europe/Amsterdam) reminders and escalations go out; 9 by default.
    pub send_hour: u8,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { send_hour: 9 }
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
        }
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

    /// The parameters of a new instance: defaults, then the gemeente's overrides.
    pub fn params(
        &self,
        gemeente: &str,
        workflow: &Workflow,
        start_data: &Map<String, Value>,
    ) -> Vec<Duration> {
        let mut params: Vec<Duration> = workflow.params.iter().map(|p| p.default).collect();
        for (name, value) in self.params.overrides(gemeente, &workflow.name, start_data) {
            if let Some(i) = workflow.param_index(&name) {
                params[i] = value;
            }
        }
        params
    }
}
