//! `waakvlam check` and `check --config`: every problem of the workflows and the configuration
//! with its place, and the warnings beside them.

use super::*;

pub(super) fn check(paths: Vec<PathBuf>) -> Result<ExitCode> {
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
pub(super) fn print_warnings(workflows: &[workflow::Workflow]) -> Result<()> {
    let mut out = io::stdout().lock();
    for warning in workflow::warnings(workflows) {
        writeln!(out, "{warning}")?;
    }
    Ok(())
}

/// Prints problems and their count; the exit code says there were some.
pub(super) fn report_problems(problems: &[String]) -> Result<ExitCode> {
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
pub(super) fn check_config(path: &Path, paths: Vec<PathBuf>) -> Result<ExitCode> {
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
fn shared_log_warnings(daemon: &crate::config::DaemonConfig) -> Vec<String> {
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
