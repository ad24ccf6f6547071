//! The workflow language: YAML files written by regional coordinators, read into a validated
//! model. No IO beyond reading the files it is given, and no clock.
//!
//! Reading is two steps, as in ripgrep's `LowArgs` -> `HiArgs`: the YAML becomes a tree that
//! knows where every value stood (`crate::yaml`), then `build` turns the tree into the model
//! and reports every problem at once, each with file, line, column and a hint.

mod build;
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
    if report.problems.is_empty() {
        Ok(workflows)
    } else {
        Err(report)
    }
}
