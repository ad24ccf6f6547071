//! Workflow reload: on SIGHUP, or when the files in the workflows directory change, the
//! definitions are read and checked again. Valid ones are swapped in (every case recomputed
//! from its events, moved deadlines logged); with any problem the old ones stay, and every
//! problem goes to the log and the reload-failure metric.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Duration as StdDuration;

use tokio::sync::{oneshot, watch};

use super::core::{Command, log_line};
use super::metrics::Metrics;
use crate::config::Config;

/// How often the directory is looked at.
const POLL: StdDuration = StdDuration::from_secs(1);

/// A fingerprint of the workflow files: names and contents.
fn fingerprint(dir: &Path) -> u64 {
    let mut hasher = DefaultHasher::new();
    if let Ok(files) = crate::workflow::files(&[dir.to_path_buf()]) {
        for file in files {
            file.hash(&mut hasher);
            std::fs::read(&file).unwrap_or_default().hash(&mut hasher);
        }
    }
    hasher.finish()
}

pub async fn watch(
    config: Config,
    plugins: Option<Arc<crate::plugin::Registry>>,
    dir: PathBuf,
    commands: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(err) => {
            log_line(
                "warn",
                "SIGHUP cannot be caught; reloading on file changes only",
                &[("cause", &err.to_string())],
            );
            None
        }
    };
    let mut seen = fingerprint(&dir);
    loop {
        #[cfg(unix)]
        let hup = async {
            match hangup.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup = std::future::pending::<()>();
        let why = tokio::select! {
            _ = stop.changed() => return,
            _ = hup => "SIGHUP",
            _ = tokio::time::sleep(POLL) => {
                let now = fingerprint(&dir);
                if now == seen {
                    continue;
                }
                "the workflow files changed"
            }
        };
        seen = fingerprint(&dir);
        reload(&config, plugins.clone(), &dir, &commands, &metrics, why).await;
    }
}

async fn reload(
    config: &Config,
    plugins: Option<Arc<crate::plugin::Registry>>,
    dir: &Path,
    commands: &mpsc::Sender<Command>,
    metrics: &Metrics,
    why: &str,
) {
    let refuse = |problems: Vec<String>| {
        metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
        for problem in &problems {
            log_line(
                "error",
                "workflow reload refused; the running definitions stay",
                &[("problem", problem)],
            );
        }
    };
    let workflows = match crate::workflow::load(&[dir.to_path_buf()]) {
        Ok(workflows) => workflows,
        Err(report) => return refuse(report.problems.iter().map(|p| p.to_string()).collect()),
    };
    let mismatches = config.check_against(&workflows);
    if !mismatches.is_empty() {
        return refuse(mismatches);
    }
    let names: Vec<String> = workflows.iter().map(|w| w.name.clone()).collect();
    let engine = Box::new(config.engine_with(workflows, plugins));
    let (reply, answer) = oneshot::channel();
    if commands.send(Command::Reload { engine, reply }).is_err() {
        return;
    }
    match answer.await {
        Ok(Ok(moved)) => {
            metrics.reloads.fetch_add(1, Ordering::Relaxed);
            log_line(
                "info",
                "workflows reloaded",
                &[
                    ("reason", why),
                    ("workflows", &names.join(",")),
                    ("deadlines_moved", &moved.to_string()),
                ],
            );
        }
        Ok(Err(cause)) => refuse(vec![format!("the store failed during the reload: {cause}")]),
        Err(_) => {}
    }
}
