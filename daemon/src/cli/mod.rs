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

mod check;
mod operate;
mod simulation;

use check::*;
use operate::*;
use simulation::*;

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
        from: Day,
        /// Last day, YYYY-MM-DD (inclusive).
        #[arg(long)]
        to: Day,
        /// Only this gemeente (CBS code).
        #[arg(long)]
        gemeente: Option<String>,
        /// Only this case.
        #[arg(long)]
        case: Option<String>,
    },
    /// How the terms were kept over a period (Verantwoording): per gemeente, workflow and
    /// deadline, with totals, as JSON (or CSV for Excel). Reads the store beside a running
    /// daemon, or a backup (`--store`); the read is audited.
    Report {
        /// The configuration file (paths in it are relative to it).
        #[arg(long, default_value = "config/waakvlam.yaml")]
        config: PathBuf,
        /// A store file to read instead of the configuration's `daemon.database` (a backup).
        #[arg(long)]
        store: Option<PathBuf>,
        /// The first due date of the period, YYYY-MM-DD.
        #[arg(long)]
        from: Day,
        /// The last due date of the period, YYYY-MM-DD (inclusive).
        #[arg(long)]
        to: Day,
        /// Only this gemeente (CBS code); default every gemeente of the configuration.
        #[arg(long)]
        gemeente: Option<String>,
        /// Only this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// CSV for Excel instead of JSON.
        #[arg(long)]
        csv: bool,
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
    /// latency (for bench/daemon.py).
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
        } => audit(&config, from, to, gemeente, case),
        Command::Report {
            config,
            store,
            from,
            to,
            gemeente,
            workflow,
            csv,
        } => report(&config, store, (from, to), gemeente, workflow, csv),
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
