//! `waakvlam simulate`: the daemon's engine on virtual time, with no side effects.
//!
//! Events are read (JSON Lines), deduplicated by gemeente and `id` (first wins, as the daemon
//! does with a sender's retries), ordered by `at`, and fed to the engine interleaved with the
//! moments the engine asks to be woken at. Every notification is written as one JSON line.
//!
//! Output order is `(at, case, order within the case)`, where a case's number is the order in
//! which its first line appears in the input. Cases are independent, so each is simulated
//! alone, from its first event to the end (`one_case`), and memory follows the largest case,
//! not the input:
//! - the input is read in two passes (`input`): the first keeps of each line only where it is
//!   and what grouping needs; the second reads one case's lines when that case runs;
//! - the cases are split in contiguous blocks over shards, two per core (a shard waiting for a
//!   plugin leaves its core to the other);
//! - each shard keeps its notifications with their place up to a limit and writes them, sorted,
//!   to temporary files beyond it (`spill`); the writer merges them all by their place.
//!
//! The order is therefore the same for any number of shards, and the same input gives
//! byte-identical output: nothing here reads a clock.

use std::io::{self, BufRead, Write};

use jiff::Timestamp;

use crate::engine::{Engine, Notification};
use crate::event::{self, Event};
use crate::overview::{Overview, OverviewItem};
use crate::report::{Escalations, ReportInput};

mod input;
mod one_case;
mod spill;

pub use input::Input;

/// An event line that was refused, with its line number (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedLine {
    pub line: usize,
    pub reason: String,
}

/// The events of a JSON Lines stream; blank lines and lines starting with `#` are skipped.
/// A bad line is refused and reading goes on: one broken line must not hide the rest.
///
/// Read in batches of lines, each parsed on all cores: parsing is most of the reading, and a
/// batch at a time keeps the raw text from sitting in memory beside the parsed events.
pub fn read_events(mut input: impl BufRead) -> io::Result<(Vec<Event>, Vec<RefusedLine>)> {
    const BATCH: usize = 32_768;
    let shards = shard_count(usize::MAX);
    let mut events = Vec::new();
    let mut refused = Vec::new();
    let mut text = String::new();
    let mut ends: Vec<usize> = Vec::with_capacity(BATCH);
    let mut first_index = 0;
    loop {
        text.clear();
        ends.clear();
        while ends.len() < BATCH && input.read_line(&mut text)? > 0 {
            ends.push(text.len());
        }
        if ends.is_empty() {
            break;
        }
        let lines: Vec<&str> = ends
            .iter()
            .scan(0, |start, &end| {
                let line = &text[*start..end];
                *start = end;
                Some(line)
            })
            .collect();
        let chunk = lines.len().div_ceil(shards).max(1);
        let parsed: Vec<(Vec<Event>, Vec<RefusedLine>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = lines
                .chunks(chunk)
                .enumerate()
                .map(|(n, part)| scope.spawn(move || parse_lines(part, first_index + n * chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a parser thread does not panic"))
                .collect()
        });
        for (mut e, mut r) in parsed {
            events.append(&mut e);
            refused.append(&mut r);
        }
        first_index += lines.len();
    }
    Ok((events, refused))
}

fn parse_lines(lines: &[&str], first_index: usize) -> (Vec<Event>, Vec<RefusedLine>) {
    let mut events = Vec::with_capacity(lines.len());
    let mut refused = Vec::new();
    for (offset, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_line(trimmed, first_index + offset + 1) {
            Ok(event) => events.push(event),
            Err(why) => refused.push(why),
        }
    }
    (events, refused)
}

/// One line (trimmed, not blank) as an event, or why not.
fn parse_line(trimmed: &str, line: usize) -> Result<Event, RefusedLine> {
    // Straight into the event's fields when the line is as it should be (most are: by hand
    // when it has the usual shape, else by serde); any problem, and the line is read again as
    // a JSON tree, for the words that say what is wrong.
    if let Some(fields) = event::Fields::quick(trimmed)
        .or_else(|| serde_json::from_str::<event::Fields>(trimmed).ok())
        && let Ok(event) = event::validate_fields(fields)
    {
        return Ok(event);
    }
    match serde_json::from_str::<serde_json::Value>(trimmed) {
        Err(err) => Err(RefusedLine {
            line,
            reason: format!("not JSON: {err}"),
        }),
        Ok(value) => event::validate(value).map_err(|err| RefusedLine {
            line,
            reason: err.to_string(),
        }),
    }
}

/// One thread per core, but none for less than a share worth the thread.
fn shard_count(work_units: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(work_units).max(1)
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub events: usize,
    pub duplicates: usize,
    /// Events after `--until`: they have not happened yet at the end of the simulation.
    pub after_until: usize,
    pub notifications: usize,
    pub cases: usize,
    /// Lines that are no valid event, in line order (of a file read in two passes: those found
    /// while simulating).
    pub refused: Vec<RefusedLine>,
}

/// A shard's part of a scheduled overview's run: the deadlines it selects, or for a report
/// what the report counts (the occurrences due in its period and the escalations sent for
/// them). The parts of all cases are joined into one notification.
enum Part {
    Items(Vec<OverviewItem>),
    Report(Vec<ReportInput>, Escalations),
}

impl Part {
    fn join(&mut self, other: Part) {
        match (self, other) {
            (Part::Items(items), Part::Items(more)) => items.extend(more),
            (Part::Report(rows, escalations), Part::Report(more, sent)) => {
                rows.extend(more);
                for (key, levels) in sent {
                    let counted = escalations.entry(key).or_default();
                    for (level, n) in levels {
                        *counted.entry(level).or_default() += n;
                    }
                }
            }
            // One run is one overview: its parts are all of one kind.
            _ => unreachable!("parts of one run are of one kind"),
        }
    }
}

/// One run of a scheduled overview: when, which overview, which gemeente.
#[derive(Clone, Debug)]
struct Run {
    at: Timestamp,
    overview: usize,
    gemeente: String,
}

/// How many bytes of output lines all shards together keep in memory before they write them,
/// sorted, to temporary files: each shard its share.
const SPILL_BUDGET: usize = 96 << 20;

/// Shards of cases per core. Each plugin answers on its own thread, so a shard that asks one
/// waits; with a second shard on its core, the core simulates meanwhile instead of idling
/// (on 1,000,000 generated cases, about 100,000 such waits).
const SHARDS_PER_CORE: usize = 2;

/// How many shards simulate `cases` cases: none for less than 1,000 cases' work.
fn case_shards(cases: usize) -> usize {
    shard_count(usize::MAX)
        .saturating_mul(SHARDS_PER_CORE)
        .min(cases / 1000)
        .max(1)
}

/// Runs the engine over `events` up to (not including) `until`, writing each notification.
pub fn run(
    engine: &Engine,
    events: Vec<Event>,
    until: Timestamp,
    out: &mut impl Write,
) -> io::Result<Summary> {
    run_sharded(engine, events, until, out, None)
}

/// As [`run`], with the configuration's scheduled overviews, from the first event on.
pub fn run_with_overviews(
    engine: &Engine,
    overviews: &[Overview],
    events: Vec<Event>,
    until: Timestamp,
    out: &mut impl Write,
) -> io::Result<Summary> {
    run_input(
        engine,
        overviews,
        &Input::of_events(events),
        until,
        out,
        None,
    )
}

/// [`run`] with a chosen number of shards (threads); `None` takes two per core for large
/// inputs. The output does not depend on it.
pub fn run_sharded(
    engine: &Engine,
    events: Vec<Event>,
    until: Timestamp,
    out: &mut impl Write,
    shards: Option<usize>,
) -> io::Result<Summary> {
    run_input(engine, &[], &Input::of_events(events), until, out, shards)
}

/// What one shard made: its lines, its parts of the overviews' runs, and its counts.
struct ShardOutput {
    sources: Vec<spill::Source>,
    parts: Vec<Option<Part>>,
    refused: Vec<RefusedLine>,
    events: usize,
    cases: usize,
}

/// Simulates the events of `input` up to (not including) `until`, case by case, and writes the
/// notifications in output order. Memory follows the largest case (and the output lines kept
/// before they are spilled), not the input.
pub fn run_input(
    engine: &Engine,
    overviews: &[Overview],
    input: &Input,
    until: Timestamp,
    out: &mut impl Write,
    shards: Option<usize>,
) -> io::Result<Summary> {
    let plan = input.plan(until);
    // The overviews run from the first event on: what happened before it is not known.
    let mut runs: Vec<Run> = Vec::new();
    if let Some(first) = input.first_at() {
        let start = first
            .checked_sub(jiff::SignedDuration::from_secs(1))
            .unwrap_or(first);
        for (index, overview) in overviews.iter().enumerate() {
            for gemeente in &overview.gemeenten {
                let calendar = engine.calendar_for(gemeente);
                for at in overview.runs(calendar, start, until) {
                    if at < until {
                        runs.push(Run {
                            at,
                            overview: index,
                            gemeente: gemeente.clone(),
                        });
                    }
                }
            }
        }
    }
    runs.sort_by(|a, b| (a.at, a.overview, &a.gemeente).cmp(&(b.at, b.overview, &b.gemeente)));
    let context = one_case::Context {
        engine,
        overviews,
        runs: &runs,
        until,
        reports: overviews.iter().any(|o| o.report.is_some()),
    };
    let shards = shards
        .unwrap_or_else(|| case_shards(plan.cases.len()))
        .max(1);
    let spill_bytes = SPILL_BUDGET / shards;
    // Contiguous blocks of cases: a file written case after case is read in order.
    let block = plan.cases.len().div_ceil(shards).max(1);
    let outputs: Vec<io::Result<ShardOutput>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plan
            .cases
            .chunks(block)
            .map(|cases| {
                let (context, plan) = (&context, &plan);
                scope.spawn(move || run_shard(context, input, plan, cases, spill_bytes))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a simulating thread does not panic"))
            .collect()
    });
    let mut summary = Summary {
        duplicates: plan.duplicates,
        after_until: plan.after_until,
        ..Summary::default()
    };
    let mut sources = Vec::new();
    let mut parts: Vec<Option<Part>> = runs.iter().map(|_| None).collect();
    let mut refused = plan.refused;
    for output in outputs {
        let output = output?;
        sources.extend(output.sources);
        for (joined, part) in parts.iter_mut().zip(output.parts) {
            match (joined.as_mut(), part) {
                (Some(joined), Some(part)) => joined.join(part),
                (None, part) => *joined = part,
                (Some(_), None) => {}
            }
        }
        refused.extend(output.refused);
        summary.events += output.events;
        summary.cases += output.cases;
    }
    // The overviews' notifications, each after every case's line of its moment.
    let mut overview_lines = spill::Spill::new(usize::MAX);
    for (index, (run, part)) in runs.iter().zip(parts).enumerate() {
        let overview = &overviews[run.overview];
        let notification = match part {
            Some(Part::Report(rows, escalations)) => {
                report(engine, overview, run, &rows, &escalations)
            }
            Some(Part::Items(items)) => overview.notification(&run.gemeente, run.at, items),
            None if overview.report.is_some() => {
                report(engine, overview, run, &[], &Escalations::new())
            }
            None => overview.notification(&run.gemeente, run.at, Vec::new()),
        };
        if let Some(notification) = notification {
            let place = spill::Place {
                at: run.at,
                case: u64::MAX,
                seq: index as u32,
            };
            overview_lines.push(place, &to_json_line(&notification))?;
        }
    }
    sources.extend(overview_lines.into_sources()?);
    summary.notifications = spill::merge(sources, out)?;
    refused.sort_by_key(|r| r.line);
    summary.refused = refused;
    Ok(summary)
}

/// The report of one run, over the period before its day.
fn report(
    engine: &Engine,
    overview: &Overview,
    run: &Run,
    rows: &[ReportInput],
    escalations: &Escalations,
) -> Option<Notification> {
    let (from, to) = overview.report_period(run.at)?;
    let today = crate::calendar::local_day(run.at);
    let report = crate::report::compute(from, to, rows, escalations, today);
    overview.report_notification(engine, &run.gemeente, run.at, report)
}

/// One shard's cases, one after the other.
fn run_shard(
    context: &one_case::Context<'_>,
    input: &Input,
    plan: &input::Plan,
    cases: &[input::CaseLines],
    spill_bytes: usize,
) -> io::Result<ShardOutput> {
    let mut spill = spill::Spill::new(spill_bytes);
    let mut parts: Vec<Option<Part>> = context.runs.iter().map(|_| None).collect();
    let mut refused = Vec::new();
    let mut buffer = input::Window::default();
    let (mut events_seen, mut cases_seen) = (0, 0);
    let mut failed: Option<io::Error> = None;
    for case in cases {
        let events = input.events_of(plan, *case, &mut buffer, &mut refused);
        // Its place in the output: the line where its first event stands.
        let Some(&(first_line, _)) = events.first() else {
            continue;
        };
        events_seen += events.len();
        cases_seen += 1;
        let events = events.into_iter().map(|(_, event)| event).collect();
        one_case::simulate(context, events, case.history, &mut parts, &mut |n, seq| {
            if failed.is_none() {
                let place = spill::Place {
                    at: n.at,
                    case: u64::from(first_line),
                    seq,
                };
                let written = spill.push_with(place, |bytes| {
                    n.write_json_line(bytes);
                    Ok(())
                });
                if let Err(err) = written {
                    failed = Some(err);
                }
            }
        });
        if let Some(err) = failed.take() {
            return Err(err);
        }
    }
    Ok(ShardOutput {
        sources: spill.into_sources()?,
        parts,
        refused,
        events: events_seen,
        cases: cases_seen,
    })
}

fn to_json_line(notification: &Notification) -> Vec<u8> {
    let mut json = Vec::new();
    notification.write_json_line(&mut json);
    json
}
