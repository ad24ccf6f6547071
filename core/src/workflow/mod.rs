//! The workflow language: YAML files written by regional coordinators, read into a validated
//! model. No IO beyond reading the files it is given, and no clock.
//!
//! Reading is two steps, as in ripgrep's `LowArgs` -> `HiArgs`: the YAML becomes a tree that
//! knows where every value stood (`crate::yaml`), then `build` turns the tree into the model
//! and reports every problem at once, each with file, line, column and a hint.

mod build;
mod closing;
mod expr;
mod model;
pub mod schema;

use std::path::{Path, PathBuf};

pub use model::*;

use crate::problem::{Problem, Problems};
use crate::yaml::{self, Position};

/// Every problem found in a set of workflow files; empty means all is well.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
}

/// Reads and validates one workflow from its text; `file` is how messages name it.
pub fn parse(text: &str, file: &str) -> Result<Workflow, Vec<Problem>> {
    let mut problems = Problems::new(file);
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(file)
        .to_string();
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(err) => {
            problems.add_with_hint(
                err.at,
                format!("this is not valid YAML: {}", err.message),
                "check the indentation and the quotes around this place",
            );
            return Err(problems.into_vec());
        }
    };
    match build::build(&root, &stem, &mut problems) {
        Some(workflow) if problems.is_empty() => Ok(workflow),
        _ => Err(problems.into_vec()),
    }
}

/// The `.yaml` and `.yml` files in `paths`: directories are searched one level deep, files are
/// taken as they are. Sorted, so that reports and instance order are deterministic.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Problem> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|err| io_problem(path, &err))?;
            for entry in entries {
                let entry = entry.map_err(|err| io_problem(path, &err))?;
                let p = entry.path();
                if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                    out.push(p);
                }
            }
        } else {
            out.push(path.clone());
        }
    }
    out.sort();
    Ok(out)
}

fn io_problem(path: &Path, err: &std::io::Error) -> Problem {
    Problem {
        file: path.display().to_string(),
        at: Position { line: 0, column: 0 },
        message: format!("cannot be read: {err}"),
        hint: None,
    }
}

/// What `check` warns about in workflows that are each valid: escalations without end, and
/// workflows that send twice for one case.
pub fn warnings(workflows: &[Workflow]) -> Vec<Problem> {
    let mut warnings = endless(workflows);
    warnings.extend(overlaps(workflows));
    warnings
}

/// A repeating escalation without `max_level` repeats for as long as the deadline is missed:
/// a missed Veilig Thuis term reached level 482 in a simulated year (issue 19).
fn endless(workflows: &[Workflow]) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for workflow in workflows {
        for deadline in &workflow.deadlines {
            for step in &deadline.escalate {
                if step.repeat.is_some() && step.max_level.is_none() {
                    warnings.push(Problem {
                        file: workflow.file.clone(),
                        at: step.at,
                        message: format!(
                            "warning: the escalation of '{}' in '{}' repeats without end",
                            deadline.id, workflow.name
                        ),
                        hint: Some(
                            "add 'max_level: 4' (or another level) to this step: the repeat at that level is the last, and says so".to_string(),
                        ),
                    });
                }
            }
        }
    }
    warnings
}

/// Warnings about workflows that are each valid but together send twice: two that apply to
/// the same gemeente and start on the same event (with the same conditions) would each send
/// their reminders and escalations for the same case.
fn overlaps(workflows: &[Workflow]) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for (i, first) in workflows.iter().enumerate() {
        for second in &workflows[i + 1..] {
            let (Trigger::Event(a), Trigger::Event(b)) =
                (&first.start.trigger, &second.start.trigger)
            else {
                continue;
            };
            if a.event != b.event || !same_conditions(&a.when, &b.when) {
                continue;
            }
            let Some(shared) = first.gemeenten.shared_with(&second.gemeenten) else {
                continue;
            };
            let hint = overlap_hint(first, second, &shared);
            warnings.push(Problem {
                file: second.file.clone(),
                at: second.start_at,
                message: format!(
                    "warning: '{}' and '{}' ({}:{}:{}) both start on {} in {shared}, so both send for the same case",
                    second.name,
                    first.name,
                    first.file,
                    first.start_at.line,
                    first.start_at.column,
                    a.event
                ),
                hint: Some(hint),
            });
        }
    }
    warnings
}

/// How to scope one of two overlapping workflows away, as concretely as their scopes allow.
fn overlap_hint(first: &Workflow, second: &Workflow, shared: &str) -> String {
    use GemeenteScope::*;
    match (&first.gemeenten, &second.gemeenten) {
        (Only(codes), Every) | (Every, Only(codes)) => {
            let (variant, general) = if matches!(first.gemeenten, Only(_)) {
                (first, second)
            } else {
                (second, first)
            };
            format!(
                "'{}' is the variant for {}: give '{}' 'gemeenten: {{ not: [{}] }}'",
                variant.name,
                codes.join(", "),
                general.name,
                codes.join(", ")
            )
        }
        (Every, Every) => format!(
            "scope one away: if '{}' is the variant for one gemeente, give it 'gemeenten: [GM....]' and '{}' 'gemeenten: {{ not: [GM....] }}', with that gemeente's code",
            second.name, first.name
        ),
        _ => format!("take {shared} out of the 'gemeenten' of one of them"),
    }
}

fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    let key = |c: &Condition| {
        let mut values = c.values.clone();
        values.sort();
        (c.field.clone(), values, c.negated)
    };
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// Loads every workflow in `paths`; on any problem, returns all problems of all files.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Workflow>, Report> {
    let files = files(paths).map_err(|p| Report { problems: vec![p] })?;
    let mut workflows = Vec::new();
    let mut report = Report::default();
    if files.is_empty() {
        report.problems.push(Problem {
            file: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            at: Position { line: 0, column: 0 },
            message: "no workflow files (*.yaml) found".into(),
            hint: Some("point at the workflows directory, for example 'workflows/'".into()),
        });
    }
    for file in files {
        let name = file.display().to_string();
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) => {
                report.problems.push(io_problem(&file, &err));
                continue;
            }
        };
        match parse(&text, &name) {
            Ok(workflow) => {
                if let Some(other) = workflows
                    .iter()
                    .find(|w: &&Workflow| w.name == workflow.name)
                {
                    report.problems.push(Problem {
                        file: name,
                        at: Position { line: 1, column: 1 },
                        message: format!("a second workflow called '{}'", other.name),
                        hint: Some("each workflow has its own name and file".into()),
                    });
                    continue;
                }
                workflows.push(workflow);
            }
            Err(problems) => report.problems.extend(problems),
        }
    }
    report.problems.extend(check_set(&workflows));
    if report.problems.is_empty() {
        Ok(workflows)
    } else {
        Err(report)
    }
}

/// What only a set of workflows can tell: each `start.unless_open` names another workflow of it.
pub fn check_set(workflows: &[Workflow]) -> Vec<Problem> {
    let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
    let mut problems = Vec::new();
    for workflow in workflows {
        let mut found = Problems::new(&workflow.file);
        closing::check_unless_open(
            &workflow.name,
            &workflow.start.unless_open,
            &names,
            &mut found,
        );
        problems.extend(found.into_vec());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow(name: &str, scope: &str) -> Workflow {
        let text = format!(
            "workflow: {name}
{scope}
title: Klacht
roles: {{ functionaris: Klachtenfunctionaris }}
start: {{ on: klacht.ingediend }}
deadlines:
  behandeld: {{ title: Klacht behandelen, due: start + 14 days, met_by: klacht.afgerond, owner: functionaris, remind: [3 days before], escalate: [{{ to: functionaris }}] }}
"
        );
        parse(&text, &format!("workflows/{name}.yaml")).unwrap()
    }

    #[test]
    fn a_scoped_variant_beside_a_shared_workflow_is_warned_of_with_both_places() {
        let shared = workflow("klachttermijnen", "");
        let variant = workflow("klacht-deventer", "gemeenten: [GM0150]");
        let warnings = overlaps(&[variant.clone(), shared.clone()]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].to_string(),
            "workflows/klachttermijnen.yaml:5:1: warning: 'klachttermijnen' and 'klacht-deventer' (workflows/klacht-deventer.yaml:5:1) both start on klacht.ingediend in GM0150, so both send for the same case
  hint: 'klacht-deventer' is the variant for GM0150: give 'klachttermijnen' 'gemeenten: { not: [GM0150] }'"
        );
        let rest = workflow("klachttermijnen", "gemeenten: { not: [GM0150] }");
        assert!(overlaps(&[variant.clone(), rest]).is_empty());
        let elsewhere = workflow("klacht-apeldoorn", "gemeenten: [GM0200]");
        assert!(overlaps(&[variant, elsewhere]).is_empty());
    }

    /// A repeat without `max_level` is valid and warned of, at the step; with one, no warning.
    #[test]
    fn an_escalation_that_repeats_without_end_is_warned_of() {
        let text = |cap: &str| {
            format!(
                "workflow: klacht
title: Klacht
roles: {{ functionaris: Klachtenfunctionaris }}
start: {{ on: klacht.ingediend }}
deadlines:
  behandeld:
    title: Klacht behandelen
    due: start + 14 days
    met_by: klacht.afgerond
    owner: functionaris
    remind: [3 days before]
    escalate:
      - {{ to: functionaris, repeat: every week{cap} }}
"
            )
        };
        let endless = parse(&text(""), "workflows/klacht.yaml").unwrap();
        let warnings = warnings(&[endless]);
        assert_eq!(
            warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["workflows/klacht.yaml:13:9: warning: the escalation of 'behandeld' in 'klacht' repeats without end
  hint: add 'max_level: 4' (or another level) to this step: the repeat at that level is the last, and says so"]
        );
        let capped = parse(&text(", max_level: 4"), "workflows/klacht.yaml").unwrap();
        assert!(super::warnings(&[capped]).is_empty());
    }

    #[test]
    fn a_scope_names_gemeenten_by_their_code() {
        let problems = parse(
            "workflow: x
gemeenten: [GM150, Deventer]
title: X
roles: { r: R }
start: { on: klacht.ingediend }
deadlines:
  d: { title: D, due: start + 1 day, met_by: klacht.afgerond, owner: r, remind: [1 day before], escalate: [{ to: r }] }
",
            "x.yaml",
        )
        .unwrap_err();
        let messages: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
        assert_eq!(
            messages,
            [
                "'GM150' is not a gemeente code",
                "'Deventer' is not a gemeente code"
            ]
        );
        let empty = parse(
            "workflow: x
gemeenten: { not: [] }
title: X
roles: { r: R }
start: { on: klacht.ingediend }
deadlines:
  d: { title: D, due: start + 1 day, met_by: klacht.afgerond, owner: r, remind: [1 day before], escalate: [{ to: r }] }
",
            "x.yaml",
        )
        .unwrap_err();
        assert_eq!(empty[0].message, "'gemeenten' names no gemeente");
    }

    #[test]
    fn scopes_apply_to_their_gemeenten_only() {
        assert!(GemeenteScope::Every.applies_to("GM0150"));
        let only = GemeenteScope::Only(vec!["GM0150".into()]);
        assert!(only.applies_to("GM0150") && !only.applies_to("GM0200"));
        let but = GemeenteScope::AllBut(vec!["GM0150".into()]);
        assert!(!but.applies_to("GM0150") && but.applies_to("GM0200"));
        assert_eq!(only.shared_with(&but), None);
        assert_eq!(
            but.shared_with(&GemeenteScope::Every).as_deref(),
            Some("every gemeente but GM0150")
        );
    }
}
