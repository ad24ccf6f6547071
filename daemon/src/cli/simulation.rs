//! `waakvlam simulate` and `waakvlam what-if`: the engine on virtual time, and what a change of
//! the workflows would do to a store's cases.

use super::*;

/// `audit`: the store's audit lines of a period, read beside a running daemon.
pub(super) fn what_if(
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

/// The engine of the configuration and workflows, with the plugins, and the configuration's
/// scheduled overviews.
pub(super) fn load_engine(
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

pub(super) fn simulate(
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
    // The events are read in two passes (simulate::Input): a file is read where it lies;
    // standard input is kept in a temporary file first.
    let mut spooled = None;
    let mut input = match events_path {
        Some(path) => {
            let file = if path == Path::new("-") {
                let (file, kept) = spool_stdin().context("reading standard input")?;
                spooled = Some(kept);
                file
            } else {
                std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                path.to_path_buf()
            };
            simulate::Input::scan_file(&file)
                .with_context(|| format!("reading {}", path.display()))?
        }
        None => simulate::Input::of_events(Vec::new()),
    };
    let name = events_path.map(|p| p.display().to_string());
    let mut refused = 0;
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
        input.add_events(read);
    }
    let last_day = until.unwrap_or_else(|| {
        let last = input
            .last_at()
            .map_or(Day::from_number(0), calendar::local_day);
        last.add_months(12)
    });
    let end = calendar::send_moment(last_day.add_days(1), 0);
    let summary = simulate::run_input(
        &engine,
        &overviews,
        &input,
        end,
        &mut io::stdout().lock(),
        None,
    )?;
    drop(spooled);
    // Every refused line, in line order: those the first pass found and those found while
    // simulating.
    let mut lines: Vec<&simulate::RefusedLine> =
        input.refused().iter().chain(&summary.refused).collect();
    lines.sort_by_key(|r| r.line);
    if let Some(name) = &name {
        for line in &lines {
            eprintln!("{name}:{}: refused: {}", line.line, line.reason);
        }
    }
    refused += lines.len();
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

/// Standard input in a temporary file, for the two passes of a simulation; the file is
/// removed when the returned guard is dropped.
fn spool_stdin() -> io::Result<(std::path::PathBuf, Spooled)> {
    let path = std::env::temp_dir().join(format!(
        "waakvlam-simulate-stdin-{}-{}",
        std::process::id(),
        crate::tokens::random_token()
    ));
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let guard = Spooled(path.clone());
    io::copy(&mut io::stdin().lock(), &mut file)?;
    Ok((path, guard))
}

/// Removes a spooled input when the simulation is done with it.
struct Spooled(std::path::PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
