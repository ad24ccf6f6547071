//! The operator's commands beside a running daemon: `audit`, `token new`, `backup`, `migrate`,
//! `pseudonym`, and the plugin benchmark's `plugin-calls`.

use super::*;

pub(super) fn audit(
    config_path: &Path,
    from: Day,
    to: Day,
    gemeente: Option<String>,
    case: Option<String>,
) -> Result<ExitCode> {
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
            from: Some(from),
            to: Some(to),
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

pub(super) fn new_token(
    name: &str,
    gemeenten: &[String],
    read_only: bool,
    audit: bool,
) -> Result<ExitCode> {
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
pub(super) fn config_with_daemon(config_path: &Path) -> Result<Config> {
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

pub(super) fn backup(config_path: &Path, to: &Path) -> Result<ExitCode> {
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

pub(super) fn migrate(from: &str, to: &str) -> Result<ExitCode> {
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

pub(super) fn pseudonym(
    config_path: &Path,
    on_behalf_of: &str,
    gemeente: Option<String>,
) -> Result<ExitCode> {
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

pub(super) fn plugin_calls(config: &Path, gemeente: &str, calls: u32) -> Result<ExitCode> {
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

/// `waakvlam report`: the report of a period, read beside a running daemon or from a backup,
/// each gemeente's read written in its store's audit log first.
pub(super) fn report(
    config_path: &Path,
    store: Option<PathBuf>,
    period: (Day, Day),
    gemeente: Option<String>,
    workflow: Option<String>,
    csv: bool,
) -> Result<ExitCode> {
    let (from, to) = period;
    if from > to {
        bail!("the period starts after it ends: --from {from} is later than --to {to}");
    }
    let config = config_with_daemon(config_path)?;
    let daemon = config
        .daemon
        .as_ref()
        .expect("checked by config_with_daemon");
    let database = match store {
        Some(path) => {
            if !path.exists() {
                bail!("the store {} does not exist", path.display());
            }
            crate::config::Database::Sqlite(path)
        }
        None => daemon.database.clone(),
    };
    let codes: Vec<String> = match gemeente {
        Some(code) => {
            if !config.core.gemeenten.contains_key(&code) {
                bail!("the configuration does not know {code}");
            }
            vec![code]
        }
        None => config.core.gemeenten.keys().cloned().collect(),
    };
    let scope = crate::scope::Scope::new(codes)
        .context("the configuration names no gemeente; give --gemeente")?;
    for code in scope.iter() {
        let entry = crate::store::AuditEntry {
            at: jiff::Timestamp::now().to_string(),
            token: "cli".into(),
            on_behalf_of: None,
            action: "report.read".into(),
            gemeente: Some(code.to_string()),
            case: None,
            outcome: "allowed".into(),
        };
        crate::store::audit_to(&database, &entry)
            .with_context(|| format!("writing the audit log in {database}"))?;
    }
    let readers = crate::store::Readers::of(&database);
    let (rows, escalations) = readers
        .report(&scope, (from, to), workflow.as_deref())
        .with_context(|| format!("reading {database}"))?;
    // Today as the daemon counts it: the virtual clock a test daemon left in its store, else
    // the wall clock.
    let now = readers
        .virtual_now()
        .with_context(|| format!("reading {database}"))?
        .unwrap_or_else(jiff::Timestamp::now);
    let today = waakvlam_core::calendar::local_day(now);
    let report = crate::report::compute(from, to, &rows, &escalations, today);
    let mut out = io::BufWriter::new(io::stdout().lock());
    if csv {
        let workflows = waakvlam_core::workflow::load(std::slice::from_ref(&daemon.workflows))
            .map_err(|report| anyhow::anyhow!(waakvlam_core::problem::joined(&report.problems)))?;
        let catalog = crate::catalog::Catalog::describe(&config, &workflows, None);
        write!(out, "{}", crate::report::to_csv(&report, &catalog))?;
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
