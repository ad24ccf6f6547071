//! Reload of the definitions: on SIGHUP, or when the files in the workflows directory or the
//! holiday file change, the workflows and the holiday data are read and checked again. Valid
//! ones are swapped in (every case recomputed from its events, moved deadlines logged); with
//! any problem the old ones stay, and every problem goes to the log and the reload-failure
//! metric.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Duration as StdDuration;

use tokio::sync::{oneshot, watch};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::scheduler::Command;

/// How often the directory is looked at.
const POLL: StdDuration = StdDuration::from_secs(1);

/// A fingerprint of the files a reload reads: the workflow files (names and contents) and the
/// holiday file.
fn fingerprint(dir: &Path, holidays: Option<&Path>) -> u64 {
    let mut hasher = DefaultHasher::new();
    if let Ok(files) = waakvlam_core::workflow::files(&[dir.to_path_buf()]) {
        for file in files {
            file.hash(&mut hasher);
            std::fs::read(&file).unwrap_or_default().hash(&mut hasher);
        }
    }
    if let Some(holidays) = holidays {
        std::fs::read(holidays)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// What the stored deadlines depend on besides the events: the workflows, the holiday data,
/// the calendar settings, the gemeenten' parameters and closed days, and the plugins. Kept in
/// the store, so that a change while the daemon was down is caught at its start. SHA-256,
/// not the std hasher, because it must stay the same across builds.
pub fn definitions_fingerprint(
    config: &Config,
    workflows: &[waakvlam_core::workflow::Workflow],
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for workflow in workflows {
        hasher.update(format!("{workflow:?}").as_bytes());
    }
    let plugins: Vec<_> = config
        .plugins
        .iter()
        .map(|p| (&p.gemeente, &p.library, &p.sha256, p.settings.to_string()))
        .collect();
    hasher.update(
        format!(
            "{:?}{:?}{:?}{:?}{:?}",
            config.core.holidays,
            config.core.send_hour,
            config.core.leap_day_birthdays,
            config.core.gemeenten,
            plugins
        )
        .as_bytes(),
    );
    format!("{:x}", hasher.finalize())
}

#[allow(clippy::too_many_arguments)] // one call site (run.rs); each is a part of the daemon it reloads
pub async fn watch(
    config: Config,
    plugins: Option<Arc<waakvlam_plugin_host::Registry>>,
    dir: PathBuf,
    commands: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    shelf: crate::catalog::Shelf,
    tokens: crate::tokens::Tokens,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(err) => {
            tracing::warn!(
                cause = %err,
                "SIGHUP cannot be caught; reloading on file changes only"
            );
            None
        }
    };
    let holidays = config.core.holidays_file.clone();
    let mut seen = fingerprint(&dir, holidays.as_deref());
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
        let (hangup, why) = tokio::select! {
            _ = stop.changed() => return,
            _ = hup => (true, "SIGHUP"),
            _ = tokio::time::sleep(POLL) => {
                let now = fingerprint(&dir, holidays.as_deref());
                if now == seen {
                    continue;
                }
                (false, "the workflow files or the holiday file changed")
            }
        };
        seen = fingerprint(&dir, holidays.as_deref());
        // Only SIGHUP is an operator's reload: a file change in the workflows directory does
        // not reopen the log or touch the tokens.
        if hangup {
            // A rotated notifications log: the next line goes to a new file.
            let _ = commands.send(Command::ReopenLog);
            reload_tokens(&config.file, &tokens, &metrics);
        }
        reload(
            &config,
            plugins.clone(),
            &dir,
            &commands,
            &metrics,
            &shelf,
            why,
        )
        .await;
    }
}

/// The tokens of the configuration file, read again (on SIGHUP): a configuration with problems
/// changes nothing, and says why in the log.
fn reload_tokens(file: &Path, tokens: &crate::tokens::Tokens, metrics: &Metrics) {
    let daemon = Config::load(file).map(|config| config.daemon);
    match daemon {
        Ok(Some(daemon)) => {
            let (added, removed) = tokens.replace(&daemon.tokens);
            let access = daemon.web.oidc.map(|o| o.access).unwrap_or_default();
            tracing::info!(
                groups = access.len(),
                "the identity provider's groups reloaded"
            );
            tokens.replace_access(access);
            tracing::info!(
                added = %added.join(","),
                removed = %removed.join(","),
                tokens = daemon.tokens.len(),
                "tokens reloaded"
            );
        }
        Ok(None) => {
            metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(file = %file.display(), "token reload refused: the configuration has no 'daemon' section; the running tokens stay");
        }
        Err(problems) => {
            metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
            for problem in &problems {
                tracing::error!(problem = %problem, "token reload refused; the running tokens stay");
            }
        }
    }
}

async fn reload(
    config: &Config,
    plugins: Option<Arc<waakvlam_plugin_host::Registry>>,
    dir: &Path,
    commands: &mpsc::Sender<Command>,
    metrics: &Metrics,
    shelf: &crate::catalog::Shelf,
    why: &str,
) {
    let refuse_as = |message: &str, problems: Vec<String>| {
        metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
        for problem in &problems {
            tracing::error!(problem = %problem, "{message}");
        }
    };
    let refuse = |problems| {
        refuse_as(
            "workflow reload refused; the running definitions stay",
            problems,
        )
    };
    let mut config = config.clone();
    if let Some(file) = &config.core.holidays_file {
        match waakvlam_core::config::load_holidays(file) {
            Ok(holidays) => config.core.holidays = holidays,
            Err(problems) => {
                return refuse_as(
                    "holiday reload refused; the running holiday data stays",
                    problems.iter().map(|p| p.to_string()).collect(),
                );
            }
        }
    }
    let workflows = match waakvlam_core::workflow::load(&[dir.to_path_buf()]) {
        Ok(workflows) => workflows,
        Err(report) => return refuse(report.problems.iter().map(|p| p.to_string()).collect()),
    };
    let mismatches = config.check_against(&workflows);
    if !mismatches.is_empty() {
        return refuse(mismatches);
    }
    crate::warnings::warn_about(&workflows);
    crate::warnings::warn_unserved(&config, &workflows);
    let names: Vec<String> = workflows.iter().map(|w| w.name.clone()).collect();
    let definitions = definitions_fingerprint(&config, &workflows);
    let catalog = crate::catalog::Catalog::describe(&config, &workflows, plugins.as_ref());
    let engine = Box::new(config.engine_with(workflows, plugins));
    let (reply, answer) = oneshot::channel();
    let reload = Command::Reload {
        engine,
        definitions,
        reply,
    };
    if commands.send(reload).is_err() {
        return;
    }
    match answer.await {
        Ok(Ok(moved)) => {
            shelf.put(catalog);
            metrics.reloads.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                reason = why,
                workflows = %names.join(","),
                holidays_covered_through = %config
                    .core
                    .holidays
                    .covered_through
                    .map_or_else(|| "-".to_string(), |y| y.to_string()),
                deadlines_moved = moved,
                "workflows reloaded"
            );
        }
        Ok(Err(cause)) => refuse(vec![format!("the store failed during the reload: {cause}")]),
        Err(_) => {}
    }
}
