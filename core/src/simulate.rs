//! `waakvlam simulate`: the daemon's engine on virtual time, with no side effects.
//!
//! Events are read (JSON Lines), deduplicated by gemeente and `id` (first wins, as the daemon
//! does with a sender's retries), ordered by `at`, and fed to the engine interleaved with the
//! moments the engine asks to be woken at. Every notification is written as one JSON line.
//!
//! Output order is `(at, case, order within the case)`, where a case's number is the order in
//! which its first line appears in the input. Cases are independent, so they are split
//! over the machine's cores (shards); each shard produces its notifications in that order and
//! the writer merges the shards by it. The order is therefore the same for any number of
//! shards, and the same input gives byte-identical output: nothing here reads a clock.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::io::{self, BufRead, Write};
use std::sync::mpsc;

use jiff::Timestamp;

use crate::engine::{Case, Engine, Notification};
use crate::event::{self, Event};
use crate::overview::{Overview, OverviewItem};
use crate::report::{Escalations, ReportInput};

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
        let number = first_index + offset + 1;
        match serde_json::from_str::<serde_json::Value>(trimmed) {
            Err(err) => refused.push(RefusedLine {
                line: number,
                reason: format!("not JSON: {err}"),
            }),
            Ok(value) => match event::validate(value) {
                Ok(event) => events.push(event),
                Err(err) => refused.push(RefusedLine {
                    line: number,
                    reason: err.to_string(),
                }),
            },
        }
    }
    (events, refused)
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
}

/// A notification ready to write, with its place in the output order; or a shard's part of a
/// scheduled overview (`case` is `OVERVIEW`, `seq` the run's index), which the writer joins
/// with the other shards' parts into one notification.
struct Line {
    at: Timestamp,
    case: usize,
    seq: usize,
    json: Vec<u8>,
    part: Option<Part>,
}

/// A shard's part of a scheduled overview: the deadlines it selects, or for a report what
/// the report counts (the occurrences due in its period and the escalations sent for them).
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

/// Escalations a shard sent, by (gemeente, workflow, deadline, due date): what a scheduled
/// report counts for the occurrences due in its period. Kept only when a report is scheduled.
type Escalated = HashMap<(String, String, String, crate::calendar::Day), BTreeMap<u32, u64>>;

/// The place of overview parts in the output order: after every case's line of their moment.
const OVERVIEW: usize = usize::MAX;

/// One run of a scheduled overview: when, which overview, which gemeente.
#[derive(Clone, Debug)]
struct Run {
    at: Timestamp,
    overview: usize,
    gemeente: String,
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
    run_all(engine, overviews, events, until, out, None)
}

/// [`run`] with a chosen number of shards (threads); `None` takes one per core for large
/// inputs. The output does not depend on it.
pub fn run_sharded(
    engine: &Engine,
    events: Vec<Event>,
    until: Timestamp,
    out: &mut impl Write,
    shards: Option<usize>,
) -> io::Result<Summary> {
    run_all(engine, &[], events, until, out, shards)
}

fn run_all(
    engine: &Engine,
    overviews: &[Overview],
    events: Vec<Event>,
    until: Timestamp,
    out: &mut impl Write,
    shards: Option<usize>,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    // The overviews run from the first event on: what happened before it is not known.
    let mut runs: Vec<Run> = Vec::new();
    if let Some(first) = events.iter().map(|e| e.at).min() {
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
    // In file order: the first of a sender's retries counts. Cases are numbered by their first
    // appearance in the file; any fixed numbering gives a deterministic output order.
    let mut keep = vec![false; events.len()];
    let mut case_of = vec![0usize; events.len()];
    {
        let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(events.len());
        let mut numbers: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            keep[i] = seen.insert((&e.gemeente, &e.id));
            summary.duplicates += usize::from(!keep[i]);
            if e.at >= until {
                summary.after_until += usize::from(keep[i]);
                keep[i] = false;
            }
            if keep[i] {
                let next = numbers.len();
                case_of[i] = *numbers.entry((&e.gemeente, &e.case)).or_insert(next);
            }
        }
        summary.cases = numbers.len();
    }
    summary.events = keep.iter().filter(|k| **k).count();
    // A withdrawal (an iJw delete) rebuilds its case without the withdrawn event, which needs
    // the case's history; without withdrawals the cases keep none, which halves the memory.
    let history = events
        .iter()
        .any(|e| e.event_type == crate::event::EventType::BERICHT_INGETROKKEN);
    let shards = shards
        .unwrap_or_else(|| shard_count(summary.cases / 1000))
        .max(1);
    let mut parts: Vec<Vec<(usize, Event)>> = (0..shards).map(|_| Vec::new()).collect();
    for ((event, keep), case) in events.into_iter().zip(keep).zip(case_of) {
        if keep {
            parts[case % shards].push((case, event));
        }
    }

    std::thread::scope(|scope| {
        let mut receivers = Vec::new();
        let runs = &runs;
        for part in parts {
            // Bounded: a shard that runs ahead of the writer waits instead of piling up output.
            let (sender, receiver) = mpsc::sync_channel::<Vec<Line>>(64);
            receivers.push(receiver);
            scope.spawn(move || run_shard(engine, part, overviews, runs, until, history, sender));
        }
        summary.notifications = merge(engine, receivers, out, overviews, runs)?;
        Ok::<(), io::Error>(())
    })?;
    Ok(summary)
}

/// The simulation of one shard's cases, sending its lines in output order, one batch per
/// moment.
fn run_shard(
    engine: &Engine,
    mut events: Vec<(usize, Event)>,
    overviews: &[Overview],
    runs: &[Run],
    until: Timestamp,
    history: bool,
    sender: mpsc::SyncSender<Vec<Line>>,
) {
    let counts_escalations = overviews.iter().any(|o| o.report.is_some());
    let mut escalated = Escalated::new();
    let mut runs = runs.iter().enumerate().peekable();
    // Stable: events at the same moment keep their order in the file.
    events.sort_by_key(|(_, e)| e.at);
    let mut local: HashMap<usize, usize> = HashMap::new();
    let mut cases: Vec<(usize, Case, usize)> = Vec::new(); // (case number, state, lines so far)
    // The next wakeup of each case; heap entries that no longer match are stale and skipped.
    let mut wakeups: Vec<Option<Timestamp>> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(Timestamp, usize)>> = BinaryHeap::new();
    let mut pending = events.into_iter().peekable();
    let mut batch: Vec<Line> = Vec::new();
    let mut batch_at: Option<Timestamp> = None;
    loop {
        let next_timer = loop {
            match heap.peek() {
                Some(Reverse((moment, case))) if wakeups[*case] != Some(*moment) => {
                    heap.pop();
                }
                Some(Reverse((moment, _))) => break Some(*moment),
                None => break None,
            }
        };
        let next_event = pending.peek().map(|(_, e)| e.at);
        // An overview runs after the events and timers of its moment.
        if let Some((number, run)) = runs.peek()
            && next_event.is_none_or(|at| run.at < at)
            && next_timer.is_none_or(|t| run.at < t)
        {
            let today = crate::calendar::local_day(run.at);
            let overview = &overviews[run.overview];
            if batch_at != Some(run.at) && !batch.is_empty() {
                send_batch(&sender, &mut batch);
            }
            batch_at = Some(run.at);
            let of_gemeente = cases
                .iter()
                .filter(|(_, case, _)| case.gemeente == run.gemeente)
                .flat_map(|(_, case, _)| case.deadlines(engine, run.at));
            let part = match overview.report_period(run.at) {
                Some((from, to)) => {
                    let rows = of_gemeente
                        .filter_map(|d| ReportInput::of(&d))
                        .filter(|r| (from..=to).contains(&r.due))
                        .collect();
                    let mut sent = Escalations::new();
                    for ((gemeente, workflow, deadline, due), levels) in &escalated {
                        if *gemeente == run.gemeente && (from..=to).contains(due) {
                            let counted = sent
                                .entry((gemeente.clone(), workflow.clone(), deadline.clone()))
                                .or_default();
                            for (level, n) in levels {
                                *counted.entry(*level).or_default() += n;
                            }
                        }
                    }
                    Part::Report(rows, sent)
                }
                None => Part::Items(
                    of_gemeente
                        .filter(|d| overview.selects(d, today))
                        .map(|d| OverviewItem::of(engine, &d, today))
                        .collect(),
                ),
            };
            batch.push(Line {
                at: run.at,
                case: OVERVIEW,
                seq: *number,
                json: Vec::new(),
                part: Some(part),
            });
            runs.next();
            continue;
        }
        // Timers strictly before an event fire first; an event at the same moment is applied
        // before the timer, so work done at 09:00 suppresses the 09:00 reminder.
        let (now, notifications, index) = match (next_event, next_timer) {
            (Some(at), timer) if timer.is_none_or(|t| at <= t) => {
                let (number, event) = pending.next().expect("peeked");
                let index = *local.entry(number).or_insert_with(|| {
                    let case = if history {
                        Case::new(&event.gemeente, &event.case)
                    } else {
                        Case::in_order(&event.gemeente, &event.case)
                    };
                    cases.push((number, case, 0));
                    wakeups.push(None);
                    cases.len() - 1
                });
                (at, cases[index].1.apply(engine, event, at), index)
            }
            (_, Some(moment)) if moment < until => {
                let Reverse((_, index)) = heap.pop().expect("peeked");
                (moment, cases[index].1.tick(engine, moment), index)
            }
            _ => break,
        };
        if batch_at != Some(now) && !batch.is_empty() {
            send_batch(&sender, &mut batch);
        }
        batch_at = Some(now);
        let (number, case, lines) = &mut cases[index];
        for notification in &notifications {
            batch.push(Line {
                at: notification.at,
                case: *number,
                seq: *lines,
                json: to_json_line(notification),
                part: None,
            });
            *lines += 1;
            if counts_escalations
                && notification.kind == crate::engine::Kind::Escalation
                && let Some(due) = notification.due
            {
                *escalated
                    .entry((
                        notification.gemeente.clone(),
                        notification.workflow.clone(),
                        notification.deadline.clone(),
                        due,
                    ))
                    .or_default()
                    .entry(notification.level)
                    .or_default() += 1;
            }
        }
        let wakeup = case.next_wakeup().filter(|m| *m < until);
        wakeups[index] = wakeup;
        if let Some(moment) = wakeup {
            heap.push(Reverse((moment, index)));
        }
    }
    send_batch(&sender, &mut batch);
}

fn send_batch(sender: &mpsc::SyncSender<Vec<Line>>, batch: &mut Vec<Line>) {
    if batch.is_empty() {
        return;
    }
    batch.sort_by_key(|l| (l.at, l.case, l.seq));
    // The writer only goes away on a write error, which it reports itself.
    let _ = sender.send(std::mem::take(batch));
}

/// Merges the shards' streams (each already in output order) and writes them. An overview's
/// parts are joined once every shard has given its part, into one notification.
fn merge(
    engine: &Engine,
    receivers: Vec<mpsc::Receiver<Vec<Line>>>,
    out: &mut impl Write,
    overviews: &[Overview],
    runs: &[Run],
) -> io::Result<usize> {
    let mut writer = io::BufWriter::with_capacity(1 << 16, out);
    let shards = receivers.len();
    let mut heads: Vec<std::collections::VecDeque<Line>> =
        receivers.iter().map(|_| Default::default()).collect();
    let mut open: Vec<bool> = receivers.iter().map(|_| true).collect();
    let mut parts: HashMap<usize, (usize, Option<Part>)> = HashMap::new();
    let mut written = 0;
    loop {
        for (i, receiver) in receivers.iter().enumerate() {
            if open[i] && heads[i].is_empty() {
                match receiver.recv() {
                    Ok(batch) => heads[i].extend(batch),
                    Err(_) => open[i] = false,
                }
            }
        }
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.front().map(|l| ((l.at, l.case, l.seq), i)))
            .min();
        let Some((_, i)) = next else { break };
        let line = heads[i].pop_front().expect("has a front");
        if line.case != OVERVIEW {
            writer.write_all(&line.json)?;
            written += 1;
            continue;
        }
        let (count, joined) = parts.entry(line.seq).or_default();
        *count += 1;
        if let Some(part) = line.part {
            match joined {
                Some(joined) => joined.join(part),
                None => *joined = Some(part),
            }
        }
        if *count == shards {
            let (_, joined) = parts.remove(&line.seq).expect("just counted");
            let run = &runs[line.seq];
            let overview = &overviews[run.overview];
            let notification = match joined {
                Some(Part::Report(rows, escalations)) => {
                    let (from, to) = overview.report_period(run.at).expect("a report's part");
                    let today = crate::calendar::local_day(run.at);
                    let report = crate::report::compute(from, to, &rows, &escalations, today);
                    overview.report_notification(engine, &run.gemeente, run.at, report)
                }
                Some(Part::Items(items)) => overview.notification(&run.gemeente, run.at, items),
                None => overview.notification(&run.gemeente, run.at, Vec::new()),
            };
            if let Some(notification) = notification {
                writer.write_all(&to_json_line(&notification))?;
                written += 1;
            }
        }
    }
    writer.flush()?;
    Ok(written)
}

fn to_json_line(notification: &Notification) -> Vec<u8> {
    let mut json = serde_json::to_vec(notification).expect("a notification always serialises");
    json.push(b'\n');
    json
}

pub fn write_line(out: &mut impl Write, notification: &Notification) -> io::Result<()> {
    serde_json::to_writer(&mut *out, notification)?;
    out.write_all(b"\n")
}
