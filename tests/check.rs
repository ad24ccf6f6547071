//! `waakvlam check`: the shipped workflows pass, broken ones give the pinned messages.

mod common;

use common::{assert_golden, root, waakvlam};

#[test]
fn the_shipped_workflows_have_no_problems() {
    let out = waakvlam(&["check", "workflows/"], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "11 workflows, no problems: bezwaar, klachttermijnen, mo-plan, nazorg-mo-plan, nazorg, overdracht-18, rvdk-verzoek, team-ed, toekomstplan-16, veilig-thuis, verlengde-jeugdhulp\n"
    );
    assert!(out.status.success());
}

#[test]
fn check_without_arguments_reads_the_workflows_directory() {
    let out = waakvlam(&["check"], None);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "11 workflows, no problems: bezwaar, klachttermijnen, mo-plan, nazorg-mo-plan, nazorg, overdracht-18, rvdk-verzoek, team-ed, toekomstplan-16, veilig-thuis, verlengde-jeugdhulp\n"
    );
}

/// Every problem of every broken file at once, each with file, line, column and hint.
#[test]
fn broken_workflows_give_the_pinned_messages() {
    let out = waakvlam(&["check", "tests/fixtures/broken/"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_golden("check-broken.txt", &String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_misspelt_key_gets_a_did_you_mean() {
    let out = waakvlam(&["check", "tests/fixtures/broken/klachten.yaml"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(
        "tests/fixtures/broken/klachten.yaml:18:5: unknown key 'remnd' in deadline 'in_behandeling'\n  hint: did you mean 'remind'?\n"
    ));
    // The misspelt key is not reported a second time as a missing reminder.
    assert!(!text.contains("'in_behandeling' has no reminder"));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = waakvlam(&["check", "workflows/bestaat-niet.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("workflows/bestaat-niet.yaml:0:0: cannot be read: "),
        "{text}"
    );
}

#[test]
fn the_shipped_schema_is_current() {
    let shipped = std::fs::read_to_string(root().join("config/workflow.schema.json")).unwrap();
    assert_eq!(
        shipped,
        waakvlam_core::workflow::schema::workflow_schema_text(),
        "run 'waakvlam schema > config/workflow.schema.json'"
    );
}

#[test]
fn every_shipped_workflow_points_editors_at_the_schema() {
    for entry in std::fs::read_dir(root().join("workflows")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../config/workflow.schema.json\n")
        );
    }
}

const MUTATIONS: &[char] = &[
    ':', '-', ' ', '{', '}', '[', ']', '\'', '"', '\n', '#', '&', '*', '!', '|', 'x', '9', '\t',
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

    /// A broken workflow file never crashes anything: shipped workflows with random damage
    /// (a character replaced, a line dropped or doubled) give a result or problems, never a
    /// panic.
    #[test]
    fn the_workflow_reader_never_panics_on_damaged_files(
        file in 0usize..6,
        position in proptest::prelude::any::<proptest::sample::Index>(),
        replacement in 0usize..MUTATIONS.len(),
        line in proptest::prelude::any::<proptest::sample::Index>(),
        damage in 0u8..3,
    ) {
        let mut paths: Vec<_> = std::fs::read_dir(root().join("workflows")).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        let text = std::fs::read_to_string(&paths[file]).unwrap();
        let damaged = match damage {
            0 => {
                let mut chars: Vec<char> = text.chars().collect();
                let i = position.index(chars.len());
                chars[i] = MUTATIONS[replacement];
                chars.into_iter().collect()
            }
            1 | 2 => {
                let mut lines: Vec<&str> = text.lines().collect();
                let i = line.index(lines.len());
                if damage == 1 { lines.remove(i); } else { lines.insert(i, lines[i]); }
                lines.join("\n")
            }
            _ => unreachable!("damage is 0..3"),
        };
        let name = paths[file].file_name().unwrap().to_str().unwrap().to_string();
        if let Err(problems) = waakvlam_core::workflow::parse(&damaged, &name) {
            proptest::prop_assert!(!problems.is_empty());
            proptest::prop_assert!(problems.iter().all(|p| p.file == name && !p.message.is_empty()));
        }
    }

    /// The event reader never panics, whatever a line holds.
    #[test]
    fn the_event_reader_never_panics(line in "\\PC{0,200}", field in "[a-z_.]{0,12}", value in "\\PC{0,30}") {
        let shaped = format!(r#"{{"id":"x","type":"{field}","gemeente":"GM0150","case":"{value}","at":"{value}","data":{{"{field}":"{value}"}}}}"#);
        let input = format!("{line}\n{shaped}\n");
        let (events, refused) = waakvlam_core::simulate::read_events(input.as_bytes()).unwrap();
        proptest::prop_assert!(events.len() + refused.len() <= 2);
    }
}

/// `check --config` checks the configuration with its holiday data and says how far the data
/// reaches; a holiday file without `covered_through` is refused with its place.
#[test]
fn check_config_reports_the_reach_of_the_holiday_data() {
    let out = waakvlam(&["check", "--config", "config/waakvlam.yaml"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "config/waakvlam.yaml: no problems; 11 workflows: bezwaar, klachttermijnen, mo-plan, nazorg-mo-plan, nazorg, overdracht-18, rvdk-verzoek, team-ed, toekomstplan-16, veilig-thuis, verlengde-jeugdhulp",
            "holiday data covers up to 2028: legal terms ending on 2029-01-01 or later are provisional",
        ]
    );
    // The README's first command leaves the daemon's store in data/; `check` then also says
    // how many of its open deadlines are provisional, and the tests run in that checkout too.
    let store = common::root().join("data/waakvlam.db").exists();
    assert_eq!(lines.len(), if store { 3 } else { 2 }, "{text}");
    if store {
        assert!(
            lines[2].starts_with("config/../data/waakvlam.db: ")
                && lines[2].ends_with(" are provisional"),
            "{text}"
        );
    }

    let dir = common::tempdir();
    std::fs::write(dir.join("waakvlam.yaml"), "holidays: feestdagen.yaml\n").unwrap();
    std::fs::write(
        dir.join("feestdagen.yaml"),
        "added:\n  - { date: 2026-05-15, reason: r, source: s }\n",
    )
    .unwrap();
    let config = dir.join("waakvlam.yaml");
    let out = waakvlam(&["check", "--config", config.to_str().unwrap()], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("feestdagen.yaml:1:1: the holiday file needs 'covered_through'"),
        "{text}"
    );
}

/// The shipped configuration with `overviews` (YAML, ending in a newline) before its `daemon`
/// section, checked: it must fail. The directory (kept while the test runs), the file, and
/// what `check` printed.
fn checked_with_overviews(overviews: &str) -> (common::TestDir, std::path::PathBuf, String) {
    let dir = common::config_dir(|config| {
        common::replace_once(&config, "daemon:\n", &format!("{overviews}daemon:\n"))
    });
    let config = dir.join("waakvlam.yaml");
    let output = common::waakvlam(&["check", "--config", config.to_str().unwrap()], None);
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    (dir, config, printed)
}

/// An overview's schedule that is not a five-field cron expression is reported where it is.
#[test]
fn an_overview_with_a_bad_schedule_is_reported_with_its_place() {
    let (_dir, config, printed) = checked_with_overviews(
        "overviews:\n  - name: kwartaal\n    schedule: \"0 9 1 1,4,7,10\"\n    gemeenten: [GM0150]\n    to: [teamleider]\n    select: { workflow: toekomstplan-16, status: opn }\n",
    );
    // Where the problems stand in the file as written.
    let text = std::fs::read_to_string(&config).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let schedule = line_of("schedule: \"0 9 1 1,4,7,10\"");
    let status = line_of("status: opn");
    assert!(
        printed.contains(&format!(":{schedule}:15: '0 9 1 1,4,7,10' has 4 fields; a schedule has five: minute, hour, day of the month, month, day of the week")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(":{status}:50: 'opn' is not a status of a deadline\n  hint: did you mean 'open'? the statuses are open, overdue, met, cancelled, suspended, ended, missed, unknown")),
        "{printed}"
    );
}

/// A scheduled report names its period in words `check` knows, and is not also a selection.
#[test]
fn a_scheduled_report_with_an_unknown_period_or_a_selection_is_reported_with_its_place() {
    let (_dir, config, printed) = checked_with_overviews(
        "overviews:\n  - name: kwartaal\n    schedule: \"0 8 1 1,4,7,10 *\"\n    gemeenten: [GM0150]\n    to: [contactpersoon_gemeente]\n    report: kwartaal\n  - name: half\n    schedule: \"0 8 1 1,7 *\"\n    gemeenten: [GM0150]\n    to: [contactpersoon_gemeente]\n    report: half_year\n    select: { status: overdue }\n",
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(
        printed.contains(&format!(
            ":{}:13: 'kwartaal' is not a period of a report\n  hint: write quarter, half_year, year",
            line_of("report: kwartaal")
        )),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            ":{}:5: an overview with 'report' sends the report of a period, not a selection of deadlines",
            line_of("select: { status: overdue }")
        )),
        "{printed}"
    );
    // Written right, the configuration passes.
    let right = text
        .replace("report: kwartaal", "report: quarter")
        .replace("    select: { status: overdue }\n", "");
    std::fs::write(&config, right).unwrap();
    let output = common::waakvlam(&["check", "--config", config.to_str().unwrap()], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// `packaging/waakvlam.service` passes `systemd-analyze verify` with its ExecStart pointed at
/// the binary just built, and its exposure (`systemd-analyze security`) stays at 2.0 or below.
/// Needs Debian's systemd package (no running systemd); says loudly that it skipped without
/// it, and fails instead under WAAKVLAM_SYSTEMD_TESTS=required, which `.ci/run` sets.
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let analyze = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output();
    if analyze.is_err() {
        assert!(
            std::env::var("WAAKVLAM_SYSTEMD_TESTS").as_deref() != Ok("required"),
            "systemd-analyze is required (apt-get install systemd)"
        );
        eprintln!("SYSTEMD UNIT TEST SKIPPED: systemd-analyze not found (apt-get install systemd)");
        return;
    }
    let unit = std::fs::read_to_string(common::root().join("packaging/waakvlam.service")).unwrap();
    assert!(
        unit.contains(
            "ExecStart=/usr/lib/waakvlam/waakvlam run --config /etc/waakvlam/waakvlam.yaml"
        )
    );
    let dir = common::tempdir();
    let path = dir.join("waakvlam.service");
    std::fs::write(
        &path,
        unit.replace("/usr/lib/waakvlam/waakvlam", env!("CARGO_BIN_EXE_waakvlam")),
    )
    .unwrap();
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout).to_string()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
    let security = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    assert!(security.status.success(), "exposure above 2.0:\n{report}");
    assert!(
        report.contains("Overall exposure level for waakvlam.service"),
        "{report}"
    );
}

/// `check --config` names every problem of the configuration at its line, with a hint: a
/// holiday file and a workflows directory that do not exist (at the lines that name them),
/// two tokens with one hash, a malformed hash, an unknown key, a webhook without a secret.
#[test]
fn check_config_names_each_problem_at_its_line() {
    let dir = common::config_dir(|shipped| {
        let shipped =
            common::replace_once(&shipped, "holidays: feestdagen.yaml", "holidays: geen.yaml");
        let deventer = shipped
            .lines()
            .find(|l| l.contains("name: deventer, sha256:"))
            .unwrap()
            .replace("name: deventer", "name: dubbel");
        let shipped = common::replace_once(
            &shipped,
            "  tokens:\n",
            &format!(
                "  tokens:\n{deventer}\n    - {{ name: kort, sha256: abc, gemeenten: [GM0150] }}\n"
            ),
        );
        format!(
            "{shipped}  webhooks:\n    - {{ name: zonder, url: \"http://127.0.0.1:9/\", gemeenten: [GM0150] }}\n  onbekend: 1\n"
        )
    });
    let config = dir.join("waakvlam.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let workflows_line = text
        .lines()
        .position(|l| l.trim_start().starts_with("workflows:"))
        .unwrap();
    std::fs::write(
        &config,
        text.replacen(
            text.lines().nth(workflows_line).unwrap(),
            "  workflows: geen-workflows",
            1,
        ),
    )
    .unwrap();
    let out = waakvlam(&["check", "--config", config.to_str().unwrap()], None);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    let file = config.display().to_string();
    for expected in [
        format!(
            ": 'holidays': there is no file {}",
            dir.join("geen.yaml").display()
        ),
        format!(
            "{file}:{}:14: 'workflows': there is no {}",
            workflows_line + 1,
            dir.join("geen-workflows").display()
        ),
        "token 'deventer' has the same sha256 as token 'dubbel': one token would act as both"
            .to_string(),
        "'sha256' must be 64 hexadecimal characters".to_string(),
        "a webhook needs 'secret_env' (or 'secret')".to_string(),
        "unknown key 'onbekend'".to_string(),
    ] {
        assert!(
            printed.contains(&expected),
            "missing {expected:?} in\n{printed}"
        );
    }
    assert!(!printed.contains(":0:0:"), "{printed}");
}

/// Regression (issue 26): with a configuration of Deventer alone and the shipped workflows,
/// `check --config` reported 10 problems and `simulate` refused to run. A workflow scoped to
/// gemeenten this configuration does not serve is a warning at the code's own line and column.
#[test]
fn a_configuration_of_one_gemeente_takes_the_shipped_workflows_with_warnings() {
    let dir = common::config_dir(|shipped| common::only_deventer(&shipped));
    let config = dir.join("waakvlam.yaml");
    let out = common::waakvlam(&["check", "--config", config.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let team_ed = common::root().join("workflows/team-ed.yaml");
    let text = std::fs::read_to_string(&team_ed).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("gemeenten:"))
        .unwrap();
    let column = text.lines().nth(line).unwrap().find("GM0213").unwrap();
    assert!(
        stdout.contains(&format!(
            "{}:{}:{}: warning: 'gemeenten' names GM0213, which this configuration does not serve (it serves GM0150); 'team-ed' applies to no gemeente of this configuration",
            team_ed.display(),
            line + 1,
            column + 1
        )),
        "{stdout}"
    );
    for file in ["mo-plan.yaml", "nazorg-mo-plan.yaml"] {
        assert!(
            stdout.contains(&format!("workflows/{file}:")) && stdout.contains("names GM0158"),
            "{stdout}"
        );
    }
    assert!(stdout.contains(": no problems; 11 workflows"), "{stdout}");

    // simulate runs on it, with the same warnings on standard error.
    let events = "{\"id\": \"e-1\", \"type\": \"klacht.ingediend\", \"gemeente\": \"GM0150\", \"case\": \"C-1\", \"at\": \"2027-04-13T10:15:00+02:00\", \"data\": {\"klacht_id\": \"K-9\"}}\n";
    let out = common::waakvlam(
        &[
            "simulate",
            "--config",
            config.to_str().unwrap(),
            "--events",
            "-",
            "--until",
            "2027-06-30",
        ],
        Some(events),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("names GM0213, which this configuration does not serve"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"workflow\":\"klachttermijnen\""));
}
