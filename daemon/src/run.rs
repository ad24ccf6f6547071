//! `waakvlam run`: the daemon. The HTTP API takes events and questions; one scheduler thread owns
//! the engine, the store and the clock; the log channel delivers notifications.
//! See ARCHITECTURE.md for what is built and what is not yet.

use crate::api::Api;
use crate::catalog::{Catalog, Shelf};
use crate::scheduler::{Clock, Scheduler, Setup, worker};
use crate::web::Web;
use crate::{delivery, metrics, reload};

use std::future::Future;
use std::sync::mpsc;

use anyhow::Context;

use crate::config::{Config, DaemonConfig, Database};
use crate::leadership::Leadership;
use crate::scheduler::Command;
use crate::store::postgres::Lease;
use crate::store::postgres::listen::Heard;
use crate::store::{PgStore, SqliteStore, Store, StoreLock};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs the daemon until `shutdown` completes: stops accepting, lets requests in flight
/// finish, then lets the scheduler deliver what is due and stop.
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
    crate::warnings::warn_unused_overrides(&config, &workflows, plugins.as_deref());
    crate::warnings::warn_about(&workflows);
    crate::warnings::warn_unserved(&config, &workflows);
    let definitions = reload::definitions_fingerprint(&config, &workflows);
    let engine_workflows = workflows.len();
    let shelf = Shelf::new(Catalog::describe(&config, &workflows, plugins.as_ref()));
    let engine = config.engine_with(workflows, plugins.clone());
    if let Some(dir) = daemon.notifications_log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let holder = format!(
        "pid {}, listening on {}",
        std::process::id(),
        listener.local_addr()?,
    );
    let pieces = Pieces {
        config,
        daemon,
        listener,
        engine,
        plugins,
        shelf,
        definitions,
        engine_workflows,
    };
    match pieces.daemon.database.clone() {
        Database::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            // Held until the daemon ends: no second daemon on this store.
            let _lock = StoreLock::acquire(
                &path,
                &format!("{holder}, since {}", jiff::Timestamp::now()),
            )?;
            let store =
                SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
            let readers = crate::store::Readers::new(&path);
            serve(pieces, store, Leadership::Sole, readers, None, shutdown).await
        }
        Database::Postgres(url) => {
            // The notifications log is this daemon's own: a second daemon on this machine
            // with the same file would write it too.
            let _lock = StoreLock::acquire(&pieces.daemon.notifications_log, &holder)
                .context("several daemons on one database each need a notifications log of their own (daemon.notifications_log)")?;
            if let Some(kind) = crate::mounts::shared_file_system(&pieces.daemon.notifications_log)
            {
                tracing::warn!(
                    file = %pieces.daemon.notifications_log.display(),
                    file_system = %kind,
                    "the notifications log is on a network file system: daemons on other machines with this configuration would write the same file"
                );
            }
            let lease = Arc::new(Lease::new(&format!(
                "{} {holder}",
                crate::store::lock::host_name()
            )));
            let log_key = format!(
                "{} {}",
                crate::store::lock::host_name(),
                absolute(&pieces.daemon.notifications_log)
            );
            let opened = {
                let (url, lease) = (url.clone(), lease.clone());
                tokio::task::spawn_blocking(move || PgStore::open(&url, &log_key, Some(lease)))
                    .await?
            };
            let store = opened.with_context(|| format!("opening {url}"))?;
            let stop = Arc::new(AtomicBool::new(false));
            let keeper = {
                let (lease, url, stop) = (lease.clone(), url.clone(), stop.clone());
                std::thread::Builder::new()
                    .name("waakvlam-lease".into())
                    .spawn(move || crate::store::postgres::lease::keep(lease, url, stop))?
            };
            let readers = crate::store::Readers::postgres(url.clone());
            let follow = Follow {
                url,
                me: lease.me().to_string(),
                stop: stop.clone(),
            };
            let leadership = Leadership::Shared(lease);
            let served = serve(pieces, store, leadership, readers, Some(follow), shutdown).await;
            stop.store(true, Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(move || keeper.join()).await;
            served
        }
    }
}

/// What `run` prepared before the store is chosen.
struct Pieces {
    config: Config,
    daemon: DaemonConfig,
    listener: tokio::net::TcpListener,
    engine: waakvlam_core::engine::Engine,
    plugins: Option<Arc<waakvlam_plugin_host::Registry>>,
    shelf: Shelf,
    definitions: String,
    engine_workflows: usize,
}

/// Where a daemon sharing a database hears of the others' commits.
struct Follow {
    url: crate::store::PgUrl,
    me: String,
    stop: Arc<AtomicBool>,
}

impl Follow {
    /// Listens on a thread of its own, telling the scheduler; ends when `stop` is set. Returns
    /// once the first `LISTEN` holds.
    async fn start(
        self,
        commands: mpsc::Sender<Command>,
    ) -> anyhow::Result<std::thread::JoinHandle<()>> {
        let Follow { url, me, stop } = self;
        let (ready, listening) = tokio::sync::oneshot::channel();
        let mut ready = Some(ready);
        let thread = std::thread::Builder::new()
            .name("waakvlam-listen".into())
            .spawn(move || {
                crate::store::postgres::listen::listen(url, me, stop, |heard| {
                    let command = match heard {
                        Heard::Listening => {
                            if let Some(ready) = ready.take() {
                                let _ = ready.send(());
                            }
                            return true;
                        }
                        Heard::Cases(keys) => Command::Changed { keys },
                        Heard::Missed => Command::Resync,
                    };
                    commands.send(command).is_ok()
                })
            })?;
        listening
            .await
            .context("listening for the other daemons' changes failed")?;
        Ok(thread)
    }
}

/// The daemon on an open store: the scheduler thread, the delivery workers, the inbox, reload
/// and the HTTP server, until `shutdown`.
async fn serve<S: Store + 'static>(
    pieces: Pieces,
    store: S,
    leadership: Leadership,
    readers: crate::store::Readers,
    follow: Option<Follow>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Pieces {
        config,
        daemon,
        listener,
        engine,
        plugins,
        shelf,
        definitions,
        engine_workflows,
    } = pieces;
    let clock = if daemon.virtual_clock {
        Clock::Virtual(jiff::Timestamp::now())
    } else {
        Clock::System
    };
    let (commands, receiver) = mpsc::channel();
    // Listening before the scheduler reads the timers: what other daemons commit from then on is
    // heard (queued until the scheduler runs), so nothing falls between the read and the news.
    let follow_stop = follow.as_ref().map(|f| f.stop.clone());
    let listening = match follow {
        Some(follow) => Some(follow.start(commands.clone()).await?),
        None => None,
    };
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
        leadership: Some(leadership.clone()),
        ..Default::default()
    });
    let bells = crate::scheduler::bells(channels.iter().map(|(name, _)| name.as_str()));
    let setup = Setup {
        bells: bells.clone(),
        metrics: metrics.clone(),
        clock,
        log: daemon.notifications_log.clone(),
        routing: delivery::Routing::new(&daemon),
        policies,
        audit_retention: daemon.audit_retention,
        definitions,
        overviews: config.core.overviews.clone(),
        leadership: leadership.clone(),
    };
    let core =
        tokio::task::spawn_blocking(move || Scheduler::start(engine, store, setup)).await??;
    let loaded: Vec<String> = plugins
        .iter()
        .flat_map(|registry| registry.loaded())
        .map(|p| format!("{} {} {}", p.gemeente, p.identity.name, p.identity.version))
        .collect();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config.file.display(),
        store = %daemon.database,
        workflows = engine_workflows,
        timers = core.pending_timers(),
        plugins = %loaded.join(", "),
        listen = %listener.local_addr()?,
        "started"
    );
    let core_thread = std::thread::Builder::new()
        .name("waakvlam-scheduler".into())
        .spawn(move || core.run(receiver))?;
    let (stop_workers, stop) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = channels
        .into_iter()
        .map(|(name, channel)| {
            let bell = bells[&name].clone();
            tokio::spawn(worker::run(
                name,
                channel,
                bell,
                commands.clone(),
                leadership.clone(),
                stop.clone(),
            ))
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
    let tokens = crate::tokens::Tokens::new(&daemon.tokens).with_access(
        daemon
            .web
            .oidc
            .as_ref()
            .map(|o| o.access.clone())
            .unwrap_or_default(),
    );
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
    let readers = Arc::new(readers);
    // Links in calendar feeds name the pages' address: the configured one, or this daemon's.
    let mut web_config = daemon.web;
    if web_config.public_url.is_none() {
        web_config.public_url = Some(format!("http://{}", listener.local_addr()?));
    }
    let oidc = match (&web_config.oidc, &web_config.public_url) {
        (Some(oidc), Some(public_url)) => Some(Arc::new(
            crate::oidc::Provider::new(oidc.clone(), public_url).map_err(anyhow::Error::msg)?,
        )),
        _ => None,
    };
    let guard = Arc::new(crate::guard::Guard::new(commands.clone()));
    let guarding = tokio::spawn(crate::guard::keep_writing(guard.clone(), stop.clone()));
    let pages = Web::new(
        commands.clone(),
        tokens.clone(),
        shelf.clone(),
        web_config,
        readers.clone(),
        guard.clone(),
        oidc,
    )
    .router();
    let api = Api::new(commands, tokens, metrics, shelf, readers, guard).with_ijw(ijw);
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
    let _ = guarding.await;
    if let Some(inbox) = inbox {
        let _ = inbox.await;
    }
    // The router and the workers (and with them the last command senders) are gone: the scheduler
    // delivers what is due and stops.
    // The listener holds a command sender too: it stops before the scheduler can.
    if let (Some(stop), Some(listening)) = (follow_stop, listening) {
        stop.store(true, Ordering::Relaxed);
        let _ = tokio::task::spawn_blocking(move || listening.join()).await;
    }
    tokio::task::spawn_blocking(move || core_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the scheduler thread panicked"))?;
    tracing::info!("stopped");
    Ok(())
}

fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
