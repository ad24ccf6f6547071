//! `waakvlam run`: the daemon. The HTTP API takes events and questions; one core thread owns
//! the engine, the store and the clock; the log channel delivers notifications.
//! See ARCHITECTURE.md for what is built and what is not yet.

use crate::api::Api;
use crate::scheduler::{Clock, Core, Setup, worker};
use crate::web::{Catalog, Shelf, Web};
use crate::{delivery, metrics, reload};

use std::future::Future;
use std::sync::mpsc;

use anyhow::Context;

use crate::config::{Config, DaemonConfig};
use crate::store::{SqliteStore, StoreLock};

/// Runs the daemon until `shutdown` completes: stops accepting, lets requests in flight
/// finish, then lets the core deliver what is due and stop.
pub async fn run(
    config: Config,
    daemon: DaemonConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let workflows = waakvlam_core::workflow::load(std::slice::from_ref(&daemon.workflows))
        .map_err(|report| anyhow::anyhow!(waakvlam_core::problem::joined(&report.problems)))
        .context("the workflows have problems (run 'waakvlam check')")?;
    let plugins = waakvlam_plugin_host::Registry::start(&config.plugins);
    crate::cli::warn_unused_overrides(&config, &workflows, plugins.as_deref());
    crate::cli::warn_about(&workflows);
    let definitions = reload::definitions_fingerprint(&config, &workflows);
    let engine_workflows = workflows.len();
    let shelf = Shelf::new(Catalog::describe(&config, &workflows, plugins.as_ref()));
    let engine = config.engine_with(workflows, plugins.clone());
    if let Some(dir) = daemon.database.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Some(dir) = daemon.notifications_log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let holder = format!(
        "pid {}, listening on {}, since {}",
        std::process::id(),
        listener.local_addr()?,
        jiff::Timestamp::now()
    );
    // Held until the daemon ends: no second daemon on this store.
    let _lock = StoreLock::acquire(&daemon.database, &holder)?;
    let store = SqliteStore::open(&daemon.database)
        .with_context(|| format!("opening {}", daemon.database.display()))?;
    let clock = if daemon.virtual_clock {
        Clock::Virtual(jiff::Timestamp::now())
    } else {
        Clock::System
    };
    let (commands, receiver) = mpsc::channel();
    let mut policies = std::collections::HashMap::new();
    let mut channels = Vec::new();
    for webhook in &daemon.webhooks {
        let name = delivery::webhook_channel(&webhook.name);
        policies.insert(
            name.clone(),
            delivery::RetryPolicy::new(webhook.max_attempts),
        );
        let sender = delivery::Webhook::new(webhook)
            .with_context(|| format!("setting up webhook '{}'", webhook.name))?;
        channels.push((name, delivery::Channel::Webhook(sender)));
    }
    if let Some(smtp) = &daemon.smtp {
        policies.insert(
            delivery::SMTP.to_string(),
            delivery::RetryPolicy::new(smtp.max_attempts),
        );
        let site = daemon
            .web
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", daemon.listen));
        let mailer = delivery::Mailer::new(
            smtp,
            config.recipients.clone().into_iter().collect(),
            plugins.clone(),
            site,
            shelf.clone(),
        )
        .context("setting up e-mail")?;
        channels.push((
            delivery::SMTP.to_string(),
            delivery::Channel::Mail(Box::new(mailer)),
        ));
    }
    let metrics = std::sync::Arc::new(metrics::Metrics {
        plugins: plugins.clone(),
        ..Default::default()
    });
    let setup = Setup {
        metrics: metrics.clone(),
        clock,
        log: daemon.notifications_log.clone(),
        routing: delivery::Routing::new(&daemon),
        policies,
        audit_retention: daemon.audit_retention,
        definitions,
        overviews: config.core.overviews.clone(),
    };
    let core = tokio::task::spawn_blocking(move || Core::start(engine, store, setup)).await??;
    let loaded: Vec<String> = plugins
        .iter()
        .flat_map(|registry| registry.loaded())
        .map(|p| format!("{} {} {}", p.gemeente, p.identity.name, p.identity.version))
        .collect();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config.file.display(),
        store = %daemon.database.display(),
        workflows = engine_workflows,
        timers = core.pending_timers(),
        plugins = %loaded.join(", "),
        listen = %listener.local_addr()?,
        "started"
    );
    let core_thread = std::thread::Builder::new()
        .name("waakvlam-core".into())
        .spawn(move || core.run(receiver))?;
    let (stop_workers, stop) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = channels
        .into_iter()
        .map(|(name, channel)| {
            tokio::spawn(worker::run(name, channel, commands.clone(), stop.clone()))
        })
        .collect();
    let ijw = daemon.ijw.clone().map(std::sync::Arc::new);
    if ijw.as_ref().is_some_and(|i| i.development_secret) {
        tracing::warn!(
            "the iJw intake makes case ids with the development secret of README.md: set the environment variable named by daemon.ijw.pseudonym_secret_env before real messages come in"
        );
    }
    // The inbox takes messages for the gemeenten the configuration knows.
    let known: Vec<String> = config.core.gemeenten.keys().cloned().collect();
    let inbox = ijw.as_ref().and_then(|intake| {
        let folder = intake.inbox.clone()?;
        Some(tokio::spawn(crate::ijw::watch_inbox(
            intake.clone(),
            folder,
            known,
            commands.clone(),
            metrics.clone(),
            stop.clone(),
        )))
    });
    let tokens = crate::tokens::Tokens::new(&daemon.tokens);
    let reloader = tokio::spawn(reload::watch(
        config.clone(),
        plugins.clone(),
        daemon.workflows.clone(),
        commands.clone(),
        metrics.clone(),
        shelf.clone(),
        tokens.clone(),
        stop.clone(),
    ));
    // The pages and the API share the port; the API keeps its JSON refusals and its fallback.
    let readers = std::sync::Arc::new(crate::store::Readers::new(&daemon.database));
    let pages = Web::new(
        commands.clone(),
        tokens.clone(),
        shelf.clone(),
        daemon.web,
        readers.clone(),
    )
    .router();
    let api = Api::new(commands, tokens, metrics, shelf, readers).with_ijw(ijw);
    let router = pages.merge(api.router());
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        // The peer's address: the sign-in brake counts failures per address.
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    // Workers finish the batch they carry, report it, and stop.
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    let _ = reloader.await;
    if let Some(inbox) = inbox {
        let _ = inbox.await;
    }
    // The router and the workers (and with them the last command senders) are gone: the core
    // delivers what is due and stops.
    tokio::task::spawn_blocking(move || core_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the core thread panicked"))?;
    tracing::info!("stopped");
    Ok(())
}
