//! `waakvlam run`: the daemon. The HTTP API takes events and questions; one core thread owns
//! the engine, the store and the clock; the log channel delivers notifications.
//! See ARCHITECTURE.md for what is built and what is not yet.

mod api;
mod core;

pub use self::api::{Api, MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST};
pub use self::core::{Clock, Command, Core};

use std::future::Future;
use std::sync::mpsc;

use anyhow::Context;

use crate::config::{Config, DaemonConfig};
use crate::store::SqliteStore;

/// Runs the daemon until `shutdown` completes: stops accepting, lets requests in flight
/// finish, then lets the core deliver what is due and stop.
pub async fn run(
    config: Config,
    daemon: DaemonConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let workflows = crate::workflow::load(std::slice::from_ref(&daemon.workflows))
        .map_err(|report| {
            anyhow::anyhow!(
                report
                    .problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
        .context("the workflows have problems (run 'waakvlam check')")?;
    let engine = config.engine(workflows);
    if let Some(dir) = daemon.database.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Some(dir) = daemon.notifications_log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = SqliteStore::open(&daemon.database)
        .with_context(|| format!("opening {}", daemon.database.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&daemon.notifications_log)
        .with_context(|| format!("opening {}", daemon.notifications_log.display()))?;
    let clock = if daemon.virtual_clock {
        Clock::Virtual(jiff::Timestamp::now())
    } else {
        Clock::System
    };
    let (commands, receiver) = mpsc::channel();
    let core =
        tokio::task::spawn_blocking(move || Core::start(engine, store, clock, log)).await??;
    let core_thread = std::thread::Builder::new()
        .name("waakvlam-core".into())
        .spawn(move || core.run(receiver))?;
    let router = Api::new(commands, &daemon.tokens).router();
    eprintln!(
        "{}",
        serde_json::json!({"level": "info", "message": "listening", "address": listener.local_addr()?.to_string()})
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    // The router (and with it the last command sender) is gone: the core finishes and stops.
    tokio::task::spawn_blocking(move || core_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the core thread panicked"))?;
    eprintln!(
        "{}",
        serde_json::json!({"level": "info", "message": "stopped"})
    );
    Ok(())
}
