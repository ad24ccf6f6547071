//! What-if: what a change of terms or of workflow files would do to the open cases, before it
//! is made. The change is checked as `check` checks it (every problem with its place, nothing
//! computed if there is one); then every case of the gemeenten concerned is replayed from its
//! stored events under the changed definitions, on a copy, and compared with what the store
//! holds: the deadlines whose due date moves, the instances that start or stop, and what would
//! be sent at once under the catch-up rule. Nothing is written: the cases are read on a
//! read-only connection, and the engine built for the change is thrown away.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::scope::Scope;
use crate::store::StoredCases;
use crate::store::{CaseKey, DeadlineRow};
use waakvlam_core::calendar::{Day, Duration};
use waakvlam_core::engine::{Case, DeadlineState, Engine, Notification};
use waakvlam_core::workflow::{self, Workflow};

/// A what-if request's body is at most this large (a shipped workflow is a few kilobytes).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// At most this many workflow files in one what-if, each at most `MAX_FILE_BYTES`.
pub const MAX_FILES: usize = 32;
pub const MAX_FILE_BYTES: usize = 128 * 1024;
/// A what-if that takes longer is stopped and answered as such; 100,000 cases take about 5 s.
pub const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// One what-if at a time per daemon: each replays every case of its gemeenten on every core,
/// so a second one would only halve the speed of both (and a flood of them would starve
/// ingest). A request that finds one running is answered at once (503).
pub static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Why a checked what-if gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the what-if took longer than {} s and was stopped; try it for one gemeente, or on a backup with 'waakvlam what-if'", TIME_LIMIT.as_secs())]
    TooLong,
}

/// A change to try: the terms of one gemeente, or whole workflow files.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The gemeente whose terms `params` changes.
    #[serde(default)]
    pub gemeente: Option<String>,
    /// Workflow -> parameter -> term, as written in the configuration (`7 days`).
    #[serde(default)]
    pub params: BTreeMap<String, BTreeMap<String, String>>,
    /// File name -> the whole text of a workflow file. A file of a workflow in use replaces
    /// it; another adds a workflow.
    #[serde(default)]
    pub workflows: BTreeMap<String, String>,
}

/// A problem of the change, where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A workflow file's name, or `params` for a term.
    pub file: String,
    /// Line and column in the file; for a term, its path (`params.klachttermijnen.afgerond`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Why a what-if gives no answer.
#[derive(Debug)]
pub enum Refusal {
    /// The request itself cannot be read or asks nothing (400).
    Bad(String),
    /// A gemeente outside the token's (403).
    Forbidden(String),
    /// The change has problems; nothing was computed (422).
    Problems(Vec<Problem>),
}

/// The definitions a change makes, checked, and the gemeenten whose cases it can touch.
pub struct Changed {
    pub config: Config,
    pub workflows: Vec<Workflow>,
    pub scope: Scope,
    pub warnings: Vec<String>,
}

/// Checks a change against the definitions in use, as `check` would, within `allowed`.
pub fn changed(catalog: &Catalog, request: &Request, allowed: &Scope) -> Result<Changed, Refusal> {
    let terms = !request.params.is_empty() || request.gemeente.is_some();
    let files = !request.workflows.is_empty();
    if request.workflows.len() > MAX_FILES {
        return Err(Refusal::Bad(format!(
            "a what-if takes at most {MAX_FILES} workflow files, not {}",
            request.workflows.len()
        )));
    }
    if let Some((file, _)) = request
        .workflows
        .iter()
        .find(|(_, text)| text.len() > MAX_FILE_BYTES)
    {
        return Err(Refusal::Bad(format!(
            "{file} is larger than {} KiB; a workflow file is a few kilobytes",
            MAX_FILE_BYTES / 1024
        )));
    }
    if terms == files {
        return Err(Refusal::Bad(
            "send either 'gemeente' with 'params' (terms to change), or 'workflows' (file name -> text); one change at a time".into(),
        ));
    }
    let mut config = catalog.config.clone();
    let mut workflows = catalog.definitions.clone();
    let mut warnings = Vec::new();
    let scope = if terms {
        let Some(gemeente) = &request.gemeente else {
            return Err(Refusal::Bad(
                "'params' needs 'gemeente': the gemeente whose terms change".into(),
            ));
        };
        let Some(scope) = allowed.narrowed_to(gemeente) else {
            return Err(Refusal::Forbidden(format!(
                "this token may not read {gemeente}"
            )));
        };
        let problems = override_terms(&mut config, gemeente, &request.params, &workflows);
        if !problems.is_empty() {
            return Err(Refusal::Problems(problems));
        }
        if let Some(plugins) = &catalog.plugins {
            warnings.extend(
                waakvlam_plugin_host::shadowed_overrides(&config.core, plugins)
                    .into_iter()
                    .map(|(_, w)| w)
                    .filter(|w| w.contains(&format!("gemeenten.{gemeente}."))),
            );
        }
        scope
    } else {
        let mut problems = Vec::new();
        for (file, text) in &request.workflows {
            match workflow::parse(text, file) {
                Ok(changed) => {
                    workflows.retain(|w| w.name != changed.name);
                    workflows.push(changed);
                }
                Err(found) => problems.extend(found.into_iter().map(located)),
            }
        }
        if !problems.is_empty() {
            return Err(Refusal::Problems(problems));
        }
        workflows.sort_by(|a, b| a.name.cmp(&b.name));
        // What one file cannot tell: a `start.unless_open` naming no workflow of the set.
        let across: Vec<Problem> = workflow::check_set(&workflows)
            .into_iter()
            .map(located)
            .collect();
        if !across.is_empty() {
            return Err(Refusal::Problems(across));
        }
        let mismatches = config.check_against(&workflows);
        if !mismatches.is_empty() {
            return Err(Refusal::Problems(
                mismatches
                    .into_iter()
                    .map(|message| Problem {
                        file: config.file.display().to_string(),
                        line: None,
                        column: None,
                        message,
                        hint: None,
                    })
                    .collect(),
            ));
        }
        warnings.extend(workflow::warnings(&workflows).iter().map(|w| w.to_string()));
        warnings.extend(config.core.unserved_gemeenten(&workflows));
        allowed.clone()
    };
    Ok(Changed {
        config,
        workflows,
        scope,
        warnings,
    })
}

fn located(problem: waakvlam_core::problem::Problem) -> Problem {
    Problem {
        file: problem.file,
        line: Some(problem.at.line),
        column: Some(problem.at.column),
        message: problem.message,
        hint: problem.hint,
    }
}

/// Puts the changed terms into the configuration; every term that names no workflow or
/// parameter, or is no duration, is a problem.
fn override_terms(
    config: &mut Config,
    gemeente: &str,
    params: &BTreeMap<String, BTreeMap<String, String>>,
    workflows: &[Workflow],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |path: String, message: String, hint: Option<String>| {
        problems.push(Problem {
            file: "params".into(),
            line: None,
            column: None,
            message: format!("{path}: {message}"),
            hint,
        })
    };
    for (name, terms) in params {
        let Some(workflow) = workflows.iter().find(|w| w.name == *name) else {
            let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
            problem(
                format!("params.{name}"),
                format!("there is no workflow '{name}'"),
                Some(format!("the workflows are {}", names.join(", "))),
            );
            continue;
        };
        for (param, text) in terms {
            let path = format!("params.{name}.{param}");
            if workflow.param_index(param).is_none() {
                let names: Vec<&str> = workflow.params.iter().map(|p| p.name.as_str()).collect();
                problem(
                    path,
                    format!("the workflow has no parameter '{param}'"),
                    Some(format!("its parameters are {}", names.join(", "))),
                );
                continue;
            }
            match Duration::parse(text) {
                Ok(value) => {
                    config
                        .core
                        .gemeenten
                        .entry(gemeente.to_string())
                        .or_default()
                        .params
                        .entry(name.clone())
                        .or_default()
                        .insert(param.clone(), value);
                }
                Err(err) => problem(path, err.to_string(), Some(err.hint().to_string())),
            }
        }
    }
    problems
}

/// Builds the engine of a checked change, reads the cases of its gemeenten beside the scheduler and
/// compares. Blocking: run it on a blocking thread.
pub fn run(
    catalog: &Catalog,
    readers: &crate::store::Readers,
    changed: Changed,
    now: Timestamp,
) -> Result<Answer, Failed> {
    let give_up = std::time::Instant::now() + TIME_LIMIT;
    let Changed {
        config,
        workflows,
        scope,
        warnings,
    } = changed;
    let engine = config.engine_with(workflows, catalog.plugins.clone());
    let stored = readers.cases(&scope)?;
    let mut answer = compare(&engine, stored, now, Some(give_up)).ok_or(Failed::TooLong)?;
    answer.warnings = warnings;
    Ok(answer)
}

/// The answer for a person at a terminal: a line per change, dates as people write them.
pub fn summary(answer: &Answer) -> String {
    use crate::dutch::{count, day};
    let due = |d: &Option<Day>| d.map_or_else(|| "geen".to_string(), day);
    let mut out = format!(
        "{} vergeleken op {}\n",
        count(answer.cases, "casus", "casussen"),
        answer.now
    );
    out.push_str(&format!(
        "{}:\n",
        count(
            answer.moved.len(),
            "termijn verschuift",
            "termijnen verschuiven"
        )
    ));
    for m in &answer.moved {
        out.push_str(&format!(
            "  {} {} {} {}: {} -> {}\n",
            m.gemeente,
            m.case,
            m.workflow,
            m.deadline,
            due(&m.old_due),
            due(&m.new_due)
        ));
    }
    for (one, more, list) in [
        ("workflow start", "workflows starten", &answer.started),
        ("workflow stopt", "workflows stoppen", &answer.stopped),
    ] {
        out.push_str(&format!("{}:\n", count(list.len(), one, more)));
        for c in list {
            out.push_str(&format!("  {} {} {}\n", c.gemeente, c.case, c.instance));
        }
    }
    out.push_str(&format!(
        "{}:\n",
        count(
            answer.sent_at_once.len(),
            "melding gaat direct uit",
            "meldingen gaan direct uit"
        )
    ));
    for n in &answer.sent_at_once {
        out.push_str(&format!(
            "  {} {} {} {} aan {}\n",
            n.gemeente,
            n.case,
            crate::dutch::kind(n.kind),
            n.deadline,
            n.to.join(", ")
        ));
    }
    for line in answer.warnings.iter().chain(&answer.not_checked) {
        out.push_str(&format!("let op: {line}\n"));
    }
    out
}

/// A deadline whose due date would change (`None`: it would have none, or had none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MovedDue {
    pub gemeente: String,
    pub case: String,
    pub workflow: String,
    pub instance: String,
    pub deadline: String,
    pub occurrence: u32,
    pub old_due: Option<Day>,
    pub new_due: Option<Day>,
}

/// An instance that would start, or stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceChange {
    pub gemeente: String,
    pub case: String,
    pub workflow: String,
    pub instance: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Answer {
    /// The moment the comparison was made for.
    pub now: String,
    /// How many cases were replayed.
    pub cases: usize,
    pub moved: Vec<MovedDue>,
    pub started: Vec<InstanceChange>,
    pub stopped: Vec<InstanceChange>,
    /// What would go out at once (the catch-up rule), that was not sent before.
    pub sent_at_once: Vec<Notification>,
    /// Warnings of the check (two workflows that send for the same case, a term a plugin sets
    /// itself).
    pub warnings: Vec<String>,
    /// Cases whose stored events cannot be read, with why: not compared.
    pub not_checked: Vec<String>,
}

/// Replays every stored case under `engine` and compares it with what the store holds.
/// Cases are independent, so they are split over the machine's cores. `None` when `give_up`
/// came before the last case.
pub fn compare(
    engine: &Engine,
    stored: StoredCases,
    now: Timestamp,
    give_up: Option<std::time::Instant>,
) -> Option<Answer> {
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let stopped = &stopped;
    let mut old: HashMap<CaseKey, Vec<DeadlineRow>> = HashMap::new();
    for row in stored.deadlines {
        let key = CaseKey::new(&row.gemeente, &row.case);
        old.entry(key).or_default().push(row);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = stored.events.len().div_ceil(threads).max(1);
    let sent = &stored.notification_ids;
    let old = &old;
    let parts: Vec<Answer> = std::thread::scope(|scope| {
        let handles: Vec<_> = stored
            .events
            .chunks(chunk)
            .map(|cases| {
                scope.spawn(move || {
                    let mut part = Answer::default();
                    for (key, events) in cases {
                        if give_up.is_some_and(|at| std::time::Instant::now() > at) {
                            stopped.store(true, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                        let empty = Vec::new();
                        let before = old.get(key).unwrap_or(&empty);
                        compare_case(engine, key, events, before, sent, now, &mut part);
                    }
                    part
                })
            })
            .collect();
        handles
            .into_iter()
            // A panic in a replay is a bug in the engine; the what-if then fails as a whole
            // (the caller answers 500) rather than answering a part.
            .map(|h| h.join().expect("a what-if replay does not panic"))
            .collect()
    });
    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let mut answer = Answer {
        now: waakvlam_core::calendar::format_timestamp(now),
        cases: stored.events.len(),
        not_checked: stored
            .damaged
            .iter()
            .map(|(key, why)| format!("case {} of {}: {why}", key.case, key.gemeente))
            .collect(),
        ..Answer::default()
    };
    for part in parts {
        answer.moved.extend(part.moved);
        answer.started.extend(part.started);
        answer.stopped.extend(part.stopped);
        answer.sent_at_once.extend(part.sent_at_once);
    }
    Some(answer)
}

fn compare_case(
    engine: &Engine,
    key: &CaseKey,
    events: &[waakvlam_core::event::Event],
    before: &[DeadlineRow],
    sent: &HashSet<String>,
    now: Timestamp,
    answer: &mut Answer,
) {
    let mut case = Case::new(&key.gemeente, &key.case);
    for event in events {
        // As the daemon takes them: an event from the future (a sender's clock ahead) counts
        // as happening now.
        let at = event.at.min(now);
        case.apply(
            engine,
            waakvlam_core::event::Event {
                at,
                ..event.clone()
            },
            at,
        );
    }
    answer.sent_at_once.extend(
        case.tick(engine, now)
            .into_iter()
            .filter(|n| !sent.contains(&n.id)),
    );
    let after = case.deadlines(engine, now);
    let still_to_meet = |status: DeadlineState| {
        matches!(
            status,
            DeadlineState::Open
                | DeadlineState::Overdue
                | DeadlineState::Suspended
                | DeadlineState::Unknown
        )
    };
    let open_before: HashSet<&str> = before
        .iter()
        .filter(|d| still_to_meet(d.status))
        .map(|d| d.instance.as_str())
        .collect();
    let known_before: HashSet<&str> = before.iter().map(|d| d.instance.as_str()).collect();
    let open_after: HashSet<&str> = case
        .instances
        .iter()
        .filter(|i| i.is_open())
        .map(|i| i.id.as_str())
        .collect();
    let change = |instance: &str, workflow: &str| InstanceChange {
        gemeente: key.gemeente.clone(),
        case: key.case.clone(),
        workflow: workflow.to_string(),
        instance: instance.to_string(),
    };
    for instance in case.instances.iter().filter(|i| i.is_open()) {
        if !known_before.contains(instance.id.as_str()) {
            answer.started.push(change(
                &instance.id,
                &engine.workflows[instance.workflow].name,
            ));
        }
    }
    let mut stopped_seen = HashSet::new();
    for row in before {
        if open_before.contains(row.instance.as_str())
            && !open_after.contains(row.instance.as_str())
            && stopped_seen.insert(row.instance.as_str())
        {
            answer.stopped.push(change(&row.instance, &row.workflow));
        }
    }
    let moved = |row: &DeadlineRow, old_due: Option<Day>, new_due: Option<Day>| MovedDue {
        gemeente: key.gemeente.clone(),
        case: key.case.clone(),
        workflow: row.workflow.clone(),
        instance: row.instance.clone(),
        deadline: row.deadline.clone(),
        occurrence: row.occurrence,
        old_due,
        new_due,
    };
    let same = |a: &DeadlineRow, b: &DeadlineRow| {
        a.instance == b.instance && a.deadline == b.deadline && a.occurrence == b.occurrence
    };
    for old in before.iter().filter(|d| still_to_meet(d.status)) {
        if !open_after.contains(old.instance.as_str()) {
            continue;
        }
        let new = after.iter().find(|new| same(old, new));
        let new_due = new.and_then(|n| n.due);
        if new_due != old.due {
            answer.moved.push(moved(old, old.due, new_due));
        }
    }
    // A deadline a changed workflow adds to an instance that was already open.
    for new in after.iter().filter(|d| still_to_meet(d.status)) {
        if open_before.contains(new.instance.as_str()) && !before.iter().any(|old| same(old, new)) {
            answer.moved.push(moved(new, None, new.due));
        }
    }
}
