//! The command line: `check`, `simulate` and `schema`. Thin: it parses arguments, reads files,
//! and calls the library.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::config::Config;
use waakvlam_core::calendar::{self, Day};
use waakvlam_core::{simulate, workflow};

#[derive(Parser, Debug)]
#[command(
    name = "waakvlam",
    version,
    about = "Deadlines for Dutch youth care: workflows, reminders and escalations"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: the event API, the timers and the delivery of notifications.
    Run {
        /// The configuration file (paths in it are relative to it).
        #[arg(long, default_value = "config/waakvlam.yaml")]
        config: PathBuf,
    },
    /// Validate workflow files; prints every problem with file, line, column and a hint.
    Check {
        /// Workflow files or directories (default: workflows/, or the configuration's).
        paths: Vec<PathBuf>,
        /// Also check this configuration, its holiday data, and the workflows it points at.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the engine on virtual time and print every notification it would send (JSON Lines).
    Simulate {
        /// Events, one JSON object per line; '-' reads standard input.
        #[arg(long, required_unless_present = "ijw")]
        events: Option<PathBuf>,
        /// A folder of iJw messages (JW305, JW307 as *.xml), read as the daemon's intake would,
        /// in the order of their Dagtekening.
        #[arg(long)]
        ijw: Option<PathBuf>,
        /// Last day to simulate, YYYY-MM-DD (default: one year after the last event).
        #[arg(long)]
        until: Option<String>,
        /// The workflow files (a directory or one file).
        #[arg(long, default_value = "workflows")]
        workflows: PathBuf,
        /// The configuration file (paths in it are relative to it).
        #[arg(long, default_value = "config/waakvlam.yaml")]
        config: PathBuf,
    },
    /// Read a BSN from standard input and print the case id the iJw intake gives that young
    /// person, for staff who must find a case. Audited in the store, with who asked.
    Pseudonym {
        /// The configuration file (paths in it are relative to it).
        #[arg(long, default_value = "config/waakvlam.yaml")]
        config: PathBuf,
        /// Who asks (an employee id, never a BSN): written in the audit log.
        #[arg(long)]
        on_behalf_of: String,
        /// The gemeente the lookup is for (CBS code): its privacy officer sees the line. Without
        /// it the line is the operator's only.
        #[arg(long)]
        gemeente: Option<String>,
    },
    /// Make API tokens (`token new`).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Copy the store to a new file while the daemon runs (a consistent snapshot; `cp` of a
    /// live store is not safe). README.md, "Backups", says how to restore.
    Backup {
        /// The configuration file (paths in it are relative to it).
        #[arg(long, default_value = "config/waakvlam.yaml")]
        config: PathBuf,
        /// The backup file to write; it must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Copy a gemeente's SQLite store into an empty PostgreSQL database, for several daemons
    /// (events, notifications with their delivery state, deadlines, timers, audit log). Stop
    /// the daemon first; the password comes from PGPASSWORD or a .pgpass file.
    Migrate {
        /// The store to copy: sqlite:FILE (the file of daemon.database).
        #[arg(long)]
        from: String,
        /// The database to copy it into: postgres://ROLE@HOST/DATABASE, as daemon.database
        /// will name it.
        #[arg(long)]
        to: String,
    },
    /// Print the audit log of a period as JSON lines, oldest first (for a privacy officer).
    Audit {
        /// The configuration file (paths in it are relative to it).
        #[arg(long, default_value = "config/waakvlam.yaml")]
        config: PathBuf,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD (inclusive).
        #[arg(long)]
        to: String,
        /// Only this gemeente (CBS code).
        #[arg(long)]
        gemeente: Option<String>,
        /// Only this case.
        #[arg(long)]
        case: Option<String>,
    },
    /// What changed workflow files would do to the open cases of a store (a backup, or the live
    /// store beside a running daemon): the deadlines that move, the instances that start or
    /// stop, what would go out at once. Reads the store only.
    WhatIf {
        /// The configuration file (paths in it are relative to it).
        #[arg(long, default_value = "config/waakvlam.yaml")]
        config: PathBuf,
        /// The store file (default: the configuration's `daemon.database`).
        #[arg(long)]
        store: Option<PathBuf>,
        /// The changed workflow files (a directory, or files).
        #[arg(long, required = true, num_args = 1..)]
        workflows: Vec<PathBuf>,
        /// The moment to compare at (RFC 3339; default: now).
        #[arg(long)]
        at: Option<String>,
        /// Print the whole answer as JSON, as `POST /v1/what-if` gives it.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the workflow format (shipped as config/workflow.schema.json).
    Schema,
    /// Post events from a file to a running daemon and report the acknowledgement rate and
    /// latency (for bench/daemon.sh).
    #[command(hide = true)]
    Load {
        /// The daemon's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// A token that may write for the events' gemeenten.
        #[arg(long)]
        token: String,
        /// Events, one JSON object per line.
        #[arg(long)]
        events: PathBuf,
        /// Events per request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Requests under way at once.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Events per second (default: as fast as the daemon takes them).
        #[arg(long)]
        rate: Option<f64>,
    },
    /// Measure the plugin boundary: calls per second of `params` and `recipients` on one
    /// gemeente's plugin (for bench/plugins.sh).
    #[command(hide = true)]
    PluginCalls {
        /// The configuration file (paths in it are relative to it).
        #[arg(long, default_value = "config/waakvlam.yaml")]
        config: PathBuf,
        /// The gemeente whose plugin is called.
        #[arg(long, default_value = "GM0158")]
        gemeente: String,
        /// How many calls of each kind.
        #[arg(long, default_value_t = 100_000)]
        calls: u32,
    },
    /// Write synthetic events (JSON Lines) for benchmarks and load tests: N cases over one year.
    Generate {
        /// How many cases (young people).
        #[arg(long)]
        cases: usize,
        /// The year the cases' events fall in.
        #[arg(long, default_value_t = 2027)]
        year: i32,
        /// The same seed gives the same events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write made-up iJw messages (JW305 and JW307, never real data) into this folder
        /// instead of events to standard output.
        #[arg(long)]
        ijw: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Print a new random token (once: it is stored nowhere) and its configuration line, to
    /// add under `daemon.tokens`; SIGHUP makes the running daemon take it.
    New {
        /// The token's name, as the audit log and the logs show it.
        #[arg(long)]
        name: String,
        /// The gemeenten it may read and write for, as CBS codes: GM0150 or GM0150,GM0200.
        #[arg(long, value_delimiter = ',', required = true)]
        gemeenten: Vec<String>,
        /// It may read, never write.
        #[arg(long)]
        read_only: bool,
        /// It may read the audit log (a privacy officer's token).
        #[arg(long)]
        audit: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. }) {
        crate::logging::init_for_commands();
    }
    let result = match cli.command {
        Command::Run { config } => run(&config),
        Command::Check { paths, config } => match config {
            Some(config) => check_config(&config, paths),
            None => check(paths),
        },
        Command::Simulate {
            events,
            ijw,
            until,
            workflows,
            config,
        } => simulate(
            events.as_deref(),
            ijw.as_deref(),
            until.as_deref(),
            &workflows,
            &config,
        ),
        Command::Backup { config, to } => backup(&config, &to),
        Command::Migrate { from, to } => migrate(&from, &to),
        Command::Token {
            action:
                TokenAction::New {
                    name,
                    gemeenten,
                    read_only,
                    audit,
                },
        } => new_token(&name, &gemeenten, read_only, audit),
        Command::Pseudonym {
            config,
            on_behalf_of,
            gemeente,
        } => pseudonym(&config, &on_behalf_of, gemeente),
        Command::Load {
            url,
            token,
            events,
            batch,
            connections,
            rate,
        } => (|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(crate::load::run(crate::load::LoadOptions {
                url: &url,
                token: &token,
                events: &events,
                batch,
                connections,
                rate,
            }))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        })(),
        Command::PluginCalls {
            config,
            gemeente,
            calls,
        } => plugin_calls(&config, &gemeente, calls),
        Command::Generate {
            cases,
            year,
            ijw: Some(folder),
            ..
        } => (|| {
            std::fs::create_dir_all(&folder)?;
            for (name, xml) in waakvlam_core::ijw::sample::messages(cases, year) {
                std::fs::write(folder.join(name), xml)?;
            }
            Ok::<_, io::Error>(ExitCode::SUCCESS)
        })()
        .with_context(|| format!("writing the messages into {}", folder.display())),
        Command::Generate {
            cases, year, seed, ..
        } => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            waakvlam_core::synthetic::write_events(&mut out, cases, year, seed)
                .and_then(|_| out.flush())
                .map(|_| ExitCode::SUCCESS)
                .context("writing the events")
        }
        Command::Audit {
            config,
            from,
            to,
            gemeente,
            case,
        } => audit(&config, &from, &to, gemeente, case),
        Command::WhatIf {
            config,
            store,
            workflows,
            at,
            json,
        } => what_if(&config, store, &workflows, at.as_deref(), json),
        Command::Schema => {
            print!("{}", workflow::schema::workflow_schema_text());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(config_path: &Path) -> Result<ExitCode> {
    let config = Config::load(config_path)
        .map_err(|problems| anyhow::anyhow!(waakvlam_core::problem::joined(&problems)))
        .context("the configuration has problems")?;
    let Some(daemon) = config.daemon.clone() else {
        bail!(
            "{} has no 'daemon' section: see README.md, 'Configuration'",
            config_path.display()
        );
    };
    crate::logging::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // The handlers first: a SIGTERM that comes while the daemon starts is a clean stop.
        let shutdown = shutdown_signal().context("catching SIGTERM and SIGINT")?;
        let listener = tokio::net::TcpListener::bind(&daemon.listen)
            .await
            .with_context(|| format!("listening on {}", daemon.listen))?;
        crate::run::run(config, daemon, listener, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT (Ctrl-C), caught from the moment this is called (not from the first
/// poll of what it returns, which comes only once the daemon serves).
#[cfg(unix)]
fn shutdown_signal() -> io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn check(paths: Vec<PathBuf>) -> Result<ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("workflows")]
    } else {
        paths
    };
    match workflow::load(&paths) {
        Ok(workflows) => {
            print_warnings(&workflows)?;
            let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
            println!(
                "{} workflows, no problems: {}",
                workflows.len(),
                names.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(report) => {
            let mut out = io::stdout().lock();
            for problem in &report.problems {
                writeln!(out, "{problem}")?;
            }
            let n = report.problems.len();
            writeln!(out, "{n} problem{}", if n == 1 { "" } else { "s" })?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints the warnings about workflows (escalations without end, two workflows that both send
/// for the same case): not problems (a region may mean it), so the check still succeeds.
fn print_warnings(workflows: &[workflow::Workflow]) -> Result<()> {
    let mut out = io::stdout().lock();
    for warning in workflow::warnings(workflows) {
        writeln!(out, "{warning}")?;
    }
    Ok(())
}

/// Prints problems and their count; the exit code says there were some.
fn report_problems(problems: &[String]) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    for problem in problems {
        writeln!(out, "{problem}")?;
    }
    let n = problems.len();
    writeln!(out, "{n} problem{}", if n == 1 { "" } else { "s" })?;
    Ok(ExitCode::FAILURE)
}

/// `check --config`: the configuration with its holiday data, the workflows it points at
/// (or `paths`), and how far the holiday data reaches, with the provisional deadlines of the
/// store when there is one.
fn check_config(path: &Path, paths: Vec<PathBuf>) -> Result<ExitCode> {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(problems) => {
            return report_problems(&problems.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        }
    };
    let paths = match (paths.is_empty(), &config.daemon) {
        (false, _) => paths,
        (true, Some(daemon)) => vec![daemon.workflows.clone()],
        (true, None) => vec![PathBuf::from("workflows")],
    };
    let workflows = match workflow::load(&paths) {
        Ok(workflows) => workflows,
        Err(report) => {
            return report_problems(
                &report
                    .problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>(),
            );
        }
    };
    let mismatches = config.check_against(&workflows);
    if !mismatches.is_empty() {
        let file = path.display();
        return report_problems(
            &mismatches
                .iter()
                .map(|m| format!("{file}: {m}"))
                .collect::<Vec<_>>(),
        );
    }
    let plugins = waakvlam_plugin_host::Registry::start(&config.plugins);
    // Warnings, not problems: an unused override changes nothing, but says what was meant; a
    // workflow that names a gemeente this configuration does not serve applies elsewhere.
    for warning in config.core.unserved_gemeenten(&workflows) {
        println!("{warning}");
    }
    for warning in crate::warnings::unused_overrides(&config, &workflows, plugins.as_deref()) {
        println!("{warning}");
    }
    print_warnings(&workflows)?;
    let names: Vec<&str> = workflows.iter().map(|w| w.name.as_str()).collect();
    println!(
        "{}: no problems; {} workflows: {}",
        path.display(),
        workflows.len(),
        names.join(", ")
    );
    let calendar = config.calendar();
    match (calendar.covered_through(), calendar.provisional_from()) {
        (Some(year), Some(from)) => println!(
            "holiday data covers up to {year}: legal terms ending on {from} or later are provisional"
        ),
        _ => println!("no holiday data ('holidays' is not set): every legal term is provisional"),
    }
    if let Some(daemon) = &config.daemon {
        for warning in shared_log_warnings(daemon) {
            println!("{}:{warning}", path.display());
        }
    }
    // A PostgreSQL store is not contacted by a check of the configuration.
    if let Some(crate::config::Database::Sqlite(database)) =
        config.daemon.as_ref().map(|d| &d.database)
        && database.exists()
    {
        match crate::store::SqliteStore::provisional_in(database)
            .with_context(|| format!("reading {}", database.display()))?
        {
            Some(provisional) => println!(
                "{}: {} open deadline{} provisional{}",
                database.display(),
                provisional.open,
                if provisional.open == 1 {
                    " is"
                } else {
                    "s are"
                },
                provisional
                    .first_due
                    .map(|due| format!(", the first due {due}"))
                    .unwrap_or_default()
            ),
            None => println!(
                "{}: written by an older version; the daemon marks provisional deadlines at its next start",
                database.display()
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// With several daemons on one database each must write a notifications log of its own:
/// `line:column: warning: ...` when this configuration's file would be shared, on a network
/// file system or with a daemon that writes it already.
pub fn shared_log_warnings(daemon: &crate::config::DaemonConfig) -> Vec<String> {
    if !matches!(daemon.database, crate::config::Database::Postgres(_)) {
        return Vec::new();
    }
    let (file, at) = (
        daemon.notifications_log.display(),
        daemon.notifications_log_at,
    );
    let mut warnings = Vec::new();
    if let Some(kind) = crate::mounts::shared_file_system(&daemon.notifications_log) {
        warnings.push(format!(
            "{}:{}: warning: 'notifications_log': {file} is on a network file system ({kind}): daemons on other machines with this configuration would write the same file; give each daemon a file on its own disk",
            at.line, at.column
        ));
    }
    if let Some(holder) = crate::store::lock::holder(&daemon.notifications_log) {
        warnings.push(format!(
            "{}:{}: warning: 'notifications_log': {file} is written by a running waakvlam ({holder}); unless that is the daemon of this configuration, give this one a file of its own (a second daemon on this file refuses to start)",
            at.line, at.column
        ));
    }
    warnings
}

/// `audit`: the store's audit lines of a period, read beside a running daemon.
fn what_if(
    config_path: &Path,
    store: Option<PathBuf>,
    paths: &[PathBuf],
    at: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let config = Config::load(config_path)
        .map_err(|problems| anyhow::anyhow!(waakvlam_core::problem::joined(&problems)))
        .context("the configuration has problems")?;
    let store = match (store, &config.daemon) {
        (Some(store), _) => crate::config::Database::Sqlite(store),
        (None, Some(daemon)) => daemon.database.clone(),
        (None, None) => bail!(
            "give --store: {} has no 'daemon' section",
            config_path.display()
        ),
    };
    if let crate::config::Database::Sqlite(path) = &store
        && !path.exists()
    {
        bail!("{} does not exist", path.display());
    }
    let workflows = match workflow::load(paths) {
        Ok(workflows) => workflows,
        Err(report) => {
            let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
            return report_problems(&problems);
        }
    };
    let mismatches = config.check_against(&workflows);
    if !mismatches.is_empty() {
        return report_problems(&mismatches);
    }
    print_warnings(&workflows)?;
    for warning in config.core.unserved_gemeenten(&workflows) {
        println!("{warning}");
    }
    let now = match at {
        Some(at) => waakvlam_core::calendar::parse_timestamp(at)
            .map_err(|err| anyhow::anyhow!("--at: {err}"))?,
        None => jiff::Timestamp::now(),
    };
    let scope = crate::scope::Scope::new(config.core.gemeenten.keys().cloned())
        .context("the configuration names no gemeente")?;
    let plugins = waakvlam_plugin_host::Registry::start(&config.plugins);
    let engine = config.engine_with(workflows, plugins);
    let stored = crate::store::Readers::of(&store).cases(&scope)?;
    let answer = crate::whatif::compare(&engine, stored, now, None)
        .expect("a what-if without a time limit always answers");
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", crate::whatif::summary(&answer));
    }
    Ok(ExitCode::SUCCESS)
}

fn audit(
    config_path: &Path,
    from: &str,
    to: &str,
    gemeente: Option<String>,
    case: Option<String>,
) -> Result<ExitCode> {
    for (name, day) in [("--from", from), ("--to", to)] {
        day.parse::<Day>()
            .map_err(|err| anyhow::anyhow!("{name}: {err}"))?;
    }
    let config = config_with_daemon(config_path)?;
    let daemon = config
        .daemon
        .as_ref()
        .expect("checked by config_with_daemon");
    // Every gemeente the configuration knows, or the one asked for.
    let gemeente_asked = gemeente.clone();
    let codes: Vec<String> = match gemeente {
        Some(code) => vec![code],
        None => config
            .core
            .gemeenten
            .keys()
            .cloned()
            .chain(
                daemon
                    .tokens
                    .iter()
                    .flat_map(|t| t.gemeenten.iter().map(str::to_string)),
            )
            .collect(),
    };
    // The operator sees the lines of no gemeente too, unless they ask for one gemeente.
    let unattributed = gemeente_asked.is_none();
    let scope = crate::scope::Scope::new(codes)
        .context("the configuration names no gemeente; give --gemeente")?;
    let readers = crate::store::Readers::of(&daemon.database);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut offset = 0;
    loop {
        let filter = crate::store::AuditFilter {
            scope: scope.clone(),
            unattributed,
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            case: case.clone(),
            limit: 10_000,
            offset,
        };
        let lines = readers
            .audit(&filter)
            .with_context(|| format!("reading {}", daemon.database))?;
        for line in &lines {
            writeln!(out, "{}", serde_json::to_string(line)?)?;
        }
        if lines.len() < 10_000 {
            break;
        }
        offset += 10_000;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The engine of the configuration and workflows, with the plugins, and the configuration's
/// scheduled overviews.
fn load_engine(
    workflows: &Path,
    config: &Path,
) -> Result<(
    waakvlam_core::engine::Engine,
    Vec<waakvlam_core::overview::Overview>,
)> {
    let config = Config::load(config)
        .map_err(|problems| anyhow::anyhow!(waakvlam_core::problem::joined(&problems)))
        .context("the configuration has problems")?;
    let workflows = workflow::load(&[workflows.to_path_buf()])
        .map_err(|report| anyhow::anyhow!(waakvlam_core::problem::joined(&report.problems)))
        .context("the workflows have problems (run 'waakvlam check' for the full report)")?;
    let mismatches = config.check_against(&workflows);
    if !mismatches.is_empty() {
        bail!(
            "the configuration does not fit the workflows:\n{}",
            mismatches.join("\n")
        );
    }
    let plugins = waakvlam_plugin_host::Registry::start(&config.plugins);
    crate::warnings::warn_unused_overrides(&config, &workflows, plugins.as_deref());
    crate::warnings::warn_unserved(&config, &workflows);
    let overviews = config.core.overviews.clone();
    Ok((config.engine_with(workflows, plugins), overviews))
}

fn simulate(
    events_path: Option<&Path>,
    ijw: Option<&Path>,
    until: Option<&str>,
    workflows: &Path,
    config: &Path,
) -> Result<ExitCode> {
    let (engine, overviews) = load_engine(workflows, config)?;
    let until = until
        .map(|text| {
            text.parse::<Day>()
                .with_context(|| format!("--until {text}"))
        })
        .transpose()?;
    let (mut events, mut refused) = match events_path {
        Some(path) => {
            let read = if path == Path::new("-") {
                simulate::read_events(io::stdin().lock())
            } else {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                simulate::read_events(io::BufReader::new(file))
            }
            .with_context(|| format!("reading {}", path.display()))?;
            let name = path.display().to_string();
            for line in &read.1 {
                eprintln!("{name}:{}: refused: {}", line.line, line.reason);
            }
            (read.0, read.1.len())
        }
        None => (Vec::new(), 0),
    };
    if let Some(folder) = ijw {
        let secret = Config::load(config)
            .ok()
            .and_then(|c| c.daemon.and_then(|d| d.ijw))
            .map_or_else(
                || crate::config::DEVELOPMENT_PSEUDONYM_SECRET.to_string(),
                |ijw| ijw.secret,
            );
        let (read, problems) = crate::ijw::events_of_folder(folder, &secret)?;
        for problem in &problems {
            eprintln!("{problem}");
        }
        refused += problems.len();
        events.extend(read);
    }
    let last_day = until.unwrap_or_else(|| {
        let last = events
            .iter()
            .map(|e| e.at)
            .max()
            .map_or(Day::from_number(0), calendar::local_day);
        last.add_months(12)
    });
    let end = calendar::send_moment(last_day.add_days(1), 0);
    let summary =
        simulate::run_with_overviews(&engine, &overviews, events, end, &mut io::stdout().lock())?;
    eprintln!(
        "simulated {} events of {} cases up to {last_day}: {} notifications; {} duplicates ignored, {} events after --until not applied, {} lines refused",
        summary.events,
        summary.cases,
        summary.notifications,
        summary.duplicates,
        summary.after_until,
        refused
    );
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn new_token(name: &str, gemeenten: &[String], read_only: bool, audit: bool) -> Result<ExitCode> {
    if !crate::config::is_plain_name(name) {
        bail!(
            "--name {name:?}: use letters, digits, '-', '_' and '.', at most 64, starting with a letter or digit"
        );
    }
    for code in gemeenten {
        if !waakvlam_core::event::is_gemeente_code(code) {
            bail!("--gemeenten: '{code}' is not a CBS code such as GM0150");
        }
    }
    let token = crate::tokens::random_token();
    let mut line = format!(
        "    - {{ name: {name}, sha256: {}, gemeenten: [{}]",
        crate::tokens::token_sha256(&token),
        gemeenten.join(", ")
    );
    if read_only {
        line.push_str(", read_only: true");
    }
    if audit {
        line.push_str(", audit: true");
    }
    line.push_str(" }");
    println!("{token}");
    println!("{line}");
    eprintln!(
        "the first line is the token: give it to its user now, it is stored nowhere. Add the second under daemon.tokens in the configuration, then reload the daemon (SIGHUP: systemctl reload waakvlam). To revoke it, remove the line and reload."
    );
    Ok(ExitCode::SUCCESS)
}

/// The configuration of a command that works on the daemon's store.
fn config_with_daemon(config_path: &Path) -> Result<Config> {
    let config = Config::load(config_path)
        .map_err(|problems| anyhow::anyhow!(waakvlam_core::problem::joined(&problems)))
        .context("the configuration has problems")?;
    if config.daemon.is_none() {
        bail!(
            "{} has no 'daemon' section, so no store",
            config_path.display()
        );
    }
    Ok(config)
}

fn backup(config_path: &Path, to: &Path) -> Result<ExitCode> {
    let config = config_with_daemon(config_path)?;
    let daemon = config
        .daemon
        .as_ref()
        .expect("checked by config_with_daemon");
    let database = match &daemon.database {
        crate::config::Database::Sqlite(path) => path,
        crate::config::Database::Postgres(url) => bail!(
            "{url} is a PostgreSQL database: back it up with PostgreSQL's own tools (pg_dump, or a base backup with WAL archiving; README.md, \"Several daemons\")"
        ),
    };
    if !database.exists() {
        bail!("there is no store at {} to back up", database.display());
    }
    if to.exists() {
        bail!(
            "{} exists already; a backup goes to a new file",
            to.display()
        );
    }
    let events = crate::store::SqliteStore::backup(database, to)
        .with_context(|| format!("backing up {}", database.display()))?;
    println!(
        "backed up {} to {}: {events} events",
        database.display(),
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn migrate(from: &str, to: &str) -> Result<ExitCode> {
    let Some(file) = from.strip_prefix("sqlite:") else {
        bail!("--from takes sqlite:FILE (the store of daemon.database), not '{from}'");
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to takes postgres://ROLE@HOST/DATABASE, not '{to}'");
    }
    let url =
        crate::store::PgUrl::parse(to).map_err(|problem| anyhow::anyhow!("--to: {problem}"))?;
    let file = Path::new(file);
    let holder = format!(
        "waakvlam migrate (pid {}), copying to {url}",
        std::process::id()
    );
    let copied = crate::store::copy::sqlite_to_postgres(file, &url, &holder)
        .with_context(|| format!("copying {} to {url}", file.display()))?;
    println!(
        "copied {} to {url}: {} events, {} notifications ({} deliveries pending, {} dead), {} deadlines, {} timers, {} audit lines",
        file.display(),
        copied.count("events"),
        copied.count("notifications"),
        copied.pending_deliveries,
        copied.dead_deliveries,
        copied.count("deadlines"),
        copied.count("timers"),
        copied.count("audit"),
    );
    println!(
        "next: set daemon.database to {url} in every daemon's configuration and start them; keep {} until they run well",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn pseudonym(config_path: &Path, on_behalf_of: &str, gemeente: Option<String>) -> Result<ExitCode> {
    if let Some(code) = &gemeente
        && !waakvlam_core::event::is_gemeente_code(code)
    {
        bail!("--gemeente takes a CBS code such as GM0150, not '{code}'");
    }
    if waakvlam_core::event::has_bsn_like_number(on_behalf_of) || on_behalf_of.trim().is_empty() {
        bail!(
            "--on-behalf-of takes an employee id (not a BSN, not empty): it goes into the audit log"
        );
    }
    let config = config_with_daemon(config_path)?;
    let daemon = config
        .daemon
        .as_ref()
        .expect("checked by config_with_daemon");
    let Some(ijw) = &daemon.ijw else {
        bail!(
            "{} has no 'daemon.ijw': the iJw intake makes no case ids",
            config_path.display()
        );
    };
    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    let Some(bsn) = waakvlam_core::ijw::Bsn::parse(line.trim()) else {
        bail!("standard input holds no BSN: 9 digits that pass the 11-test");
    };
    let case = waakvlam_core::ijw::pseudonym::case_id(ijw.secret.as_bytes(), &bsn);
    if let crate::config::Database::Sqlite(path) = &daemon.database
        && !path.exists()
    {
        bail!(
            "the store {} does not exist: the lookup is written in its audit log",
            path.display()
        );
    }
    let entry = crate::store::AuditEntry {
        at: jiff::Timestamp::now().to_string(),
        token: "cli".into(),
        on_behalf_of: Some(on_behalf_of.trim().to_string()),
        action: "pseudonym.lookup".into(),
        gemeente,
        case: Some(case.clone()),
        outcome: "allowed".into(),
    };
    crate::store::audit_to(&daemon.database, &entry)
        .with_context(|| format!("writing the audit log in {}", daemon.database))?;
    if ijw.development_secret {
        eprintln!(
            "note: made with the development secret of README.md; the daemon uses the same until the variable named by daemon.ijw.pseudonym_secret_env is set"
        );
    }
    println!("{case}");
    Ok(ExitCode::SUCCESS)
}

fn plugin_calls(config: &Path, gemeente: &str, calls: u32) -> Result<ExitCode> {
    let config = Config::load(config)
        .map_err(|problems| anyhow::anyhow!(waakvlam_core::problem::joined(&problems)))?;
    let registry =
        waakvlam_plugin_host::Registry::start(&config.plugins).context("no plugins configured")?;
    let plugin = registry
        .get(gemeente)
        .with_context(|| format!("no plugin loaded for {gemeente}"))?;
    let workflow = plugin
        .identity
        .params_for
        .first()
        .cloned()
        .unwrap_or_else(|| "nazorg".into());
    let mut report = serde_json::Map::new();
    for (method, input) in [
        (
            "params",
            serde_json::json!({ "workflow": workflow, "start": { "reden": "31" } }),
        ),
        ("recipients", serde_json::json!({ "role": "regisseur" })),
    ] {
        let started = std::time::Instant::now();
        for _ in 0..calls {
            plugin
                .call(method, &input)
                .map_err(|e| anyhow::anyhow!(e))?;
        }
        let seconds = started.elapsed().as_secs_f64();
        report.insert(
            format!("{method}_calls_per_second"),
            serde_json::json!((calls as f64 / seconds).round()),
        );
        report.insert(
            format!("{method}_microseconds_per_call"),
            serde_json::json!((seconds * 1e6 / calls as f64 * 10.0).round() / 10.0),
        );
    }
    println!("{}", serde_json::Value::Object(report));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and every flag says what it is for in `--help`.
    #[test]
    fn every_command_and_flag_has_a_help_line() {
        let cli = super::Cli::command();
        let mut missing = Vec::new();
        for command in cli.get_subcommands() {
            if command.get_about().is_none() {
                missing.push(command.get_name().to_string());
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{} --{id}", command.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "without a help line: {missing:?}");
    }
}
