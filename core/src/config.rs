//! The part of the configuration (`config/waakvlam.yaml`) that the engine needs: the send
//! hour, the 29 February rule, the holiday data (`config/feestdagen.yaml`) and the gemeenten
//! with their names, closed days and parameter overrides. Read with the same located YAML and
//! problem reports as the workflows; paths are relative to the configuration file.
//!
//! The configuration file holds more (plugins, the daemon's settings): the crates that need
//! those read them from the same top-level map ([`EngineConfig::read`] leaves them alone).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::calendar::{AddedDay, Calendar, Day, Duration, LeapDayBirthdays};
use crate::engine::{Override, ParamOrigin, ParamSource, Settings};
use crate::event::is_gemeente_code;
use crate::problem::{MapReader, Problem, Problems, list_of, text_of};
use crate::workflow::Workflow;
use crate::yaml::{self, Position, Value as Yaml};

/// The top-level keys the engine's part reads.
pub const ENGINE_KEYS: &[&str] = &[
    "holidays",
    "send_hour",
    "leap_day_birthdays",
    "gemeenten",
    "overviews",
];
const OVERVIEW_KEYS: &[&str] = &[
    "name",
    "schedule",
    "gemeenten",
    "to",
    "select",
    "report",
    "send_empty",
    "on_free_days",
];
const SELECT_KEYS: &[&str] = &["workflow", "status", "due_within"];
/// The keys of a gemeente; `recipients` is the daemon's (the e-mail channel), read there.
const GEMEENTE_KEYS: &[&str] = &["name", "closed_days", "params", "recipients"];
const HOLIDAY_KEYS: &[&str] = &["covered_through", "added"];
const ADDED_DAY_KEYS: &[&str] = &["date", "reason", "source"];

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub send_hour: u8,
    pub leap_day_birthdays: LeapDayBirthdays,
    /// The holiday file, read again when the daemon reloads.
    pub holidays_file: Option<PathBuf>,
    /// Days a Koninklijk Besluit adds to the Atw holidays, and how far they reach.
    pub holidays: Holidays,
    pub gemeenten: BTreeMap<String, GemeenteConfig>,
    /// Scheduled overviews (`overviews:`).
    pub overviews: Vec<crate::overview::Overview>,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            send_hour: Settings::default().send_hour,
            leap_day_birthdays: LeapDayBirthdays::default(),
            holidays_file: None,
            holidays: Holidays::default(),
            gemeenten: BTreeMap::new(),
            overviews: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct GemeenteConfig {
    pub name: String,
    pub closed_days: Vec<Day>,
    /// workflow -> parameter -> value.
    pub params: BTreeMap<String, BTreeMap<String, Duration>>,
    /// Where each override is written: (workflow, parameter) -> the parameter's key; and
    /// (workflow, "") -> the workflow's key.
    pub params_at: BTreeMap<(String, String), Position>,
}

impl EngineConfig {
    /// Reads the engine's keys of the configuration's top-level map, and the holiday file it
    /// names. Problems of the configuration go to `problems`; those of the holiday file (which
    /// is another file) come back on their own.
    pub fn read(
        top: &MapReader<'_>,
        base: &Path,
        problems: &mut Problems,
    ) -> (EngineConfig, Vec<Problem>) {
        let mut config = EngineConfig::default();
        if let Some(hour) = top.hour("send_hour", problems) {
            config.send_hour = hour;
        }
        if let Some((text, at)) = top.text("leap_day_birthdays", problems) {
            config.leap_day_birthdays = match text {
                "1-march" => LeapDayBirthdays::FirstOfMarch,
                "28-february" => LeapDayBirthdays::LastOfFebruary,
                other => {
                    problems.add_with_hint(
                        at,
                        format!("'{other}' is not a rule for 29 February birthdays"),
                        "write '1-march' (the BRP convention) or '28-february'",
                    );
                    LeapDayBirthdays::FirstOfMarch
                }
            };
        }
        let mut holiday_problems = Vec::new();
        if let Some((file, at)) = top.text("holidays", problems) {
            let path = base.join(file);
            if path.is_file() {
                match load_holidays(&path) {
                    Ok(holidays) => config.holidays = holidays,
                    Err(mut more) => holiday_problems.append(&mut more),
                }
            } else {
                // Named at the line that points at it: the file itself has no line to show.
                problems.add_with_hint(
                    at,
                    format!("'holidays': there is no file {}", path.display()),
                    "the path is relative to this configuration file; config/feestdagen.yaml is the shipped one",
                );
            }
            config.holidays_file = Some(path);
        }
        if let Some(node) = top.get("gemeenten") {
            let entries = match &node.value {
                Yaml::Map(entries) => entries.as_slice(),
                _ => {
                    problems.add(
                        node.at,
                        "'gemeenten' must be a map from CBS code to settings",
                    );
                    &[]
                }
            };
            for (key, value) in entries {
                if !is_gemeente_code(&key.name) {
                    problems.add_with_hint(
                        key.at,
                        format!("'{}' is not a gemeente code", key.name),
                        "use the CBS code, for example GM0150 for Deventer",
                    );
                    continue;
                }
                let what = format!("gemeente {}", key.name);
                let Some(map) = MapReader::new(value, GEMEENTE_KEYS, &what, problems) else {
                    continue;
                };
                let mut gemeente = GemeenteConfig {
                    name: map
                        .text("name", problems)
                        .map(|(t, _)| t.to_string())
                        .unwrap_or_default(),
                    ..Default::default()
                };
                if let Some(list) = map.get("closed_days") {
                    for item in list_of(list) {
                        if let Some((text, at)) = text_of(item, "a closed day", problems) {
                            match text.parse::<Day>() {
                                Ok(day) => gemeente.closed_days.push(day),
                                Err(err) => problems.add(at, err.to_string()),
                            }
                        }
                    }
                }
                if let Some(Yaml::Map(workflows)) = map.get("params").map(|n| &n.value) {
                    for (workflow, params) in workflows {
                        let Yaml::Map(params) = &params.value else {
                            problems.add(
                                params.at,
                                format!("the parameters of '{}' must be a map", workflow.name),
                            );
                            continue;
                        };
                        gemeente
                            .params_at
                            .insert((workflow.name.clone(), String::new()), workflow.at);
                        let entry = gemeente.params.entry(workflow.name.clone()).or_default();
                        for (name, value) in params {
                            gemeente
                                .params_at
                                .insert((workflow.name.clone(), name.name.clone()), name.at);
                            let Some((text, at)) =
                                text_of(value, &format!("parameter '{}'", name.name), problems)
                            else {
                                continue;
                            };
                            match Duration::parse(text) {
                                Ok(d) => {
                                    entry.insert(name.name.clone(), d);
                                }
                                Err(err) => problems.add_with_hint(
                                    at,
                                    format!("parameter '{}': {err}", name.name),
                                    err.hint(),
                                ),
                            }
                        }
                    }
                }
                config.gemeenten.insert(key.name.clone(), gemeente);
            }
        }
        if let Some(list) = top.get("overviews") {
            for item in list_of(list) {
                if let Some(overview) = read_overview(item, problems) {
                    if config.overviews.iter().any(|o| o.name == overview.name) {
                        problems.add(
                            item.at,
                            format!("a second overview called '{}'", overview.name),
                        );
                        continue;
                    }
                    config.overviews.push(overview);
                }
            }
        }
        (config, holiday_problems)
    }

    /// Parameter overrides for names that no workflow has are mistakes worth reporting.
    /// Parameter overrides that no workflow has: warnings, with where each is written (an
    /// override nobody reads changes nothing, but it is most likely a typing error).
    pub fn unused_overrides(&self, workflows: &[Workflow]) -> Vec<(Position, String)> {
        let mut warnings = Vec::new();
        for (code, gemeente) in &self.gemeenten {
            let at = |workflow: &str, name: &str| {
                gemeente
                    .params_at
                    .get(&(workflow.to_string(), name.to_string()))
                    .copied()
                    .unwrap_or_default()
            };
            for (workflow, params) in &gemeente.params {
                let Some(w) = workflows.iter().find(|w| &w.name == workflow) else {
                    warnings.push((
                        at(workflow, ""),
                        format!("gemeenten.{code}.params: there is no workflow '{workflow}', so these terms are not used"),
                    ));
                    continue;
                };
                for name in params.keys() {
                    if w.param_index(name).is_none() {
                        warnings.push((
                            at(workflow, name),
                            format!("gemeenten.{code}.params.{workflow}: the workflow has no parameter '{name}', so it is not used"),
                        ));
                    }
                }
            }
        }
        warnings
    }

    pub fn check_against(&self, workflows: &[Workflow]) -> Vec<String> {
        let mut problems = Vec::new();
        for overview in &self.overviews {
            if let Some(workflow) = &overview.select.workflow
                && !workflows.iter().any(|w| &w.name == workflow)
            {
                problems.push(format!(
                    "overview '{}': there is no workflow '{workflow}'",
                    overview.name
                ));
            }
            for code in &overview.gemeenten {
                if !self.gemeenten.contains_key(code) {
                    problems.push(format!(
                        "overview '{}': the configuration does not know {code}; add it under 'gemeenten'",
                        overview.name
                    ));
                }
            }
        }
        problems
    }

    /// The codes of workflows' `gemeenten:` that this configuration does not serve, each as
    /// `file:line:column: warning: ...` at the code. A warning, never a problem (DESIGN.md):
    /// the shipped workflows name the gemeenten of a whole region, and a gemeente that runs
    /// Waakvlam alone uses them as they are; there the workflow simply applies to none of its
    /// gemeenten. A typing error in a code shows here too.
    pub fn unserved_gemeenten(&self, workflows: &[Workflow]) -> Vec<String> {
        let served = self
            .gemeenten
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let mut warnings = Vec::new();
        for w in workflows {
            let only = matches!(w.gemeenten, crate::workflow::GemeenteScope::Only(_));
            let codes = w.gemeenten.codes();
            for (i, code) in codes.iter().enumerate() {
                if self.gemeenten.contains_key(code) {
                    continue;
                }
                let at = w
                    .gemeente_codes_at
                    .get(i)
                    .copied()
                    .unwrap_or(w.gemeenten_at);
                let effect = if !only {
                    "leaving it out changes nothing here".to_string()
                } else if codes.iter().any(|c| self.gemeenten.contains_key(c)) {
                    "the workflow does not apply there".to_string()
                } else {
                    format!("'{}' applies to no gemeente of this configuration", w.name)
                };
                warnings.push(format!(
                    "{}:{}:{}: warning: 'gemeenten' names {code}, which this configuration does not serve (it serves {served}); {effect}",
                    w.file, at.line, at.column
                ));
            }
        }
        warnings
    }

    pub fn calendar(&self) -> Calendar {
        let calendar = Calendar::new(&self.holidays.added, self.leap_day_birthdays);
        match self.holidays.covered_through {
            Some(year) => calendar.covering_through(year),
            None => calendar,
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            send_hour: self.send_hour,
            gemeenten: self
                .gemeenten
                .iter()
                .map(|(code, gemeente)| (code.clone(), gemeente.name.clone()))
                .collect(),
        }
    }

    /// The configuration's own parameter overrides.
    pub fn params(&self) -> ConfigParams {
        ConfigParams(self.gemeenten.clone())
    }

    /// The days each gemeente is closed, by the configuration.
    pub fn closed_days(&self) -> BTreeMap<String, Vec<Day>> {
        self.gemeenten
            .iter()
            .map(|(code, g)| (code.clone(), g.closed_days.clone()))
            .collect()
    }
}

/// Parameter overrides from the configuration.
pub struct ConfigParams(BTreeMap<String, GemeenteConfig>);

impl ParamSource for ConfigParams {
    fn overrides(&self, gemeente: &str, workflow: &str, _: &Map<String, Value>) -> Vec<Override> {
        self.0
            .get(gemeente)
            .and_then(|g| g.params.get(workflow))
            .map(|params| {
                params
                    .iter()
                    .map(|(name, value)| Override {
                        name: name.clone(),
                        value: *value,
                        origin: ParamOrigin::Configuration,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The holiday data: the days Koninklijk Besluiten add, and the last year they cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holidays {
    pub added: Vec<AddedDay>,
    /// The last year a published decision covers; later legal terms are provisional.
    pub covered_through: Option<i32>,
}

/// Reads `feestdagen.yaml`: the days a Koninklijk Besluit adds, each with its reason and
/// source, and `covered_through`, the last year a published decision covers.
pub fn load_holidays(path: &Path) -> Result<Holidays, Vec<Problem>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| {
        vec![Problem {
            file: file.clone(),
            at: Position::default(),
            message: format!("cannot be read: {err}"),
            hint: None,
        }]
    })?;
    let mut problems = Problems::new(file);
    let mut days = Vec::new();
    let mut covered_through = None;
    match yaml::parse(&text) {
        Err(err) => problems.add(err.at, format!("this is not valid YAML: {}", err.message)),
        Ok(root) => {
            let top = MapReader::new(&root, HOLIDAY_KEYS, "the holiday file", &mut problems);
            if let Some(top) = &top {
                covered_through = read_covered_through(top, &mut problems);
            }
            if let Some(list) = top.as_ref().and_then(|top| top.get("added")) {
                for item in list_of(list) {
                    let Some(entry) =
                        MapReader::new(item, ADDED_DAY_KEYS, "an added day", &mut problems)
                    else {
                        continue;
                    };
                    let text = |key, problems: &mut Problems| {
                        entry
                            .require(key, problems)
                            .and_then(|n| text_of(n, &format!("'{key}'"), problems))
                            .map(|(t, _)| t.to_string())
                    };
                    let reason = text("reason", &mut problems);
                    let source = text("source", &mut problems);
                    let (Some(reason), Some(source)) = (reason, source) else {
                        continue;
                    };
                    if let Some((text, at)) = entry
                        .require("date", &mut problems)
                        .and_then(|n| text_of(n, "'date'", &mut problems))
                    {
                        match text.parse::<Day>() {
                            Ok(day) if covered_through.is_some_and(|year| day.year() > year) => {
                                problems.add_with_hint(
                                    at,
                                    format!("{day} lies after 'covered_through: {}'", covered_through.unwrap_or_default()),
                                    "a published decision that adds this day covers its year: raise 'covered_through' to it",
                                )
                            }
                            Ok(day) => days.push(AddedDay {
                                day,
                                reason,
                                source,
                            }),
                            Err(err) => problems.add(at, err.to_string()),
                        }
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(Holidays {
            added: days,
            covered_through,
        })
    } else {
        Err(problems.into_vec())
    }
}

/// `covered_through`: required, so that nobody forgets to say how far the data reaches.
fn read_covered_through(top: &MapReader<'_>, problems: &mut Problems) -> Option<i32> {
    let node = top.require("covered_through", problems)?;
    let (text, at) = text_of(node, "'covered_through'", problems)?;
    match text.parse::<i32>() {
        Ok(year) if (1990..=2100).contains(&year) => Some(year),
        _ => {
            problems.add_with_hint(
                at,
                format!("'covered_through' must be a year, not '{text}'"),
                "the last year a published Koninklijk Besluit covers, for example 'covered_through: 2028'",
            );
            None
        }
    }
}

/// One entry of `overviews:`; every problem of it reported.
fn read_overview(node: &yaml::Node, problems: &mut Problems) -> Option<crate::overview::Overview> {
    use crate::overview::{FreeDays, Overview, Schedule, Select};
    let map = MapReader::new(node, OVERVIEW_KEYS, "an overview", problems)?;
    let name = map
        .require("name", problems)
        .and_then(|n| text_of(n, "'name'", problems))
        .map(|(t, _)| t.to_string());
    let schedule = map
        .require("schedule", problems)
        .and_then(|n| text_of(n, "'schedule'", problems))
        .and_then(|(text, at)| match Schedule::parse(text) {
            Ok(schedule) => Some(schedule),
            Err(message) => {
                problems.add_with_hint(
                    at,
                    message,
                    "for example '0 8 * * 1' (Mondays at 08:00) or '0 9 1 1,4,7,10 *' (the first day of each quarter at 09:00)",
                );
                None
            }
        });
    let gemeenten: Vec<String> = map
        .require("gemeenten", problems)
        .map(|n| {
            list_of(n)
                .into_iter()
                .filter_map(|code| crate::problem::gemeente_code_of(code, problems))
                .collect()
        })
        .unwrap_or_default();
    if gemeenten.is_empty() && map.get("gemeenten").is_some() {
        problems.add(
            map.key_at("gemeenten").unwrap_or(node.at),
            "'gemeenten' of an overview names no gemeente",
        );
    }
    let to: Vec<String> = map
        .require("to", problems)
        .map(|n| {
            list_of(n)
                .into_iter()
                .filter_map(|r| text_of(r, "a role", problems).map(|(t, _)| t.to_string()))
                .collect()
        })
        .unwrap_or_default();
    if to.is_empty() && map.get("to").is_some() {
        problems.add(
            map.key_at("to").unwrap_or(node.at),
            "'to' of an overview names no role",
        );
    }
    let mut select = Select::default();
    if let Some(node) = map.get("select")
        && let Some(s) = MapReader::new(node, SELECT_KEYS, "'select'", problems)
    {
        select.workflow = s.text("workflow", problems).map(|(t, _)| t.to_string());
        if let Some((text, at)) = s.text("status", problems) {
            match crate::engine::DeadlineState::named(text) {
                Some(status) => select.status = Some(status),
                None => {
                    let names = crate::engine::DeadlineState::ALL.map(|s| s.as_str());
                    let guess = crate::suggest::closest(text, names.iter().copied())
                        .map_or_else(String::new, |g| format!("did you mean '{g}'? "));
                    problems.add_with_hint(
                        at,
                        format!("'{text}' is not a status of a deadline"),
                        format!("{guess}the statuses are {}", names.join(", ")),
                    )
                }
            }
        }
        if let Some((text, at)) = s.text("due_within", problems) {
            match Duration::parse(text) {
                Ok(d) => select.due_within = Some(d),
                Err(err) => problems.add_with_hint(at, format!("'due_within': {err}"), err.hint()),
            }
        }
    }
    let report = map.text("report", problems).and_then(|(text, at)| {
        let period = crate::report::Period::named(text);
        if period.is_none() {
            let names = crate::report::Period::NAMES;
            let guess = crate::suggest::closest(text, names.iter().copied())
                .map_or_else(String::new, |g| format!("did you mean '{g}'? "));
            problems.add_with_hint(
                at,
                format!("'{text}' is not a period of a report"),
                format!("{guess}write {}", names.join(", ")),
            );
        }
        period
    });
    if report.is_some()
        && let Some(at) = map.key_at("select")
    {
        problems.add_with_hint(
            at,
            "an overview with 'report' sends the report of a period, not a selection of deadlines",
            "leave out 'select', or make a second overview for the selection",
        );
    }
    let on_free_days = match map.text("on_free_days", problems) {
        None | Some(("next_working_day", _)) => FreeDays::NextWorkingDay,
        Some(("skip", _)) => FreeDays::Skip,
        Some(("send", _)) => FreeDays::Send,
        Some((other, at)) => {
            problems.add_with_hint(
                at,
                format!("'{other}' is not what to do on a day off"),
                "write 'next_working_day' (default), 'skip' or 'send'",
            );
            FreeDays::NextWorkingDay
        }
    };
    let send_empty = map.bool("send_empty", problems).unwrap_or(false);
    if gemeenten.is_empty() || to.is_empty() {
        return None;
    }
    Some(Overview {
        name: name?,
        schedule: schedule?,
        gemeenten,
        to,
        select,
        report,
        send_empty,
        on_free_days,
    })
}
