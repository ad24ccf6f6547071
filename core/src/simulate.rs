//! `waakvlam simulate`: the daemon's engine on virtual time, with no side effects.
//!
//! Events are read (JSON Lines), deduplicated by gemeente and `id` (first wins, as the daemon
//! does with a sender's retries), ordered by `at`, and fed to the engine interleaved with the
//! moments the engine asks to be woken at. Every notification is written as one JSON line, in
//! time order. The same input gives byte-identical output: nothing here reads a clock, and
//! ties are broken by the order in which cases first appear.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io::{self, BufRead, Write};

use jiff::Timestamp;

use crate::engine::{Case, Engine, Notification};
use crate::event::{self, Event};

/// An event line that was refused, with its line number (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedLine {
    pub line: usize,
    pub reason: String,
}

/// The events of a JSON Lines stream; blank lines and lines starting with `#` are skipped.
/// A bad line is refused and reading goes on: one broken line must not hide the rest.
pub fn read_events(input: impl BufRead) -> io::Result<(Vec<Event>, Vec<RefusedLine>)> {
    let mut events = Vec::new();
    let mut refused = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let number = index + 1;
        match serde_json::from_str::<serde_json::Value>(trimmed) {
            Err(err) => refused.push(RefusedLine {
                line: number,
                reason: format!("not JSON: {err}"),
            }),
            Ok(value) => match event::validate(&value) {
                Ok(event) => events.push(event),
                Err(err) => refused.push(RefusedLine {
                    line: number,
                    reason: err.to_string(),
                }),
            },
        }
    }
    Ok((events, refused))
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

/// Runs the engine over `events` up to (not including) `until`, writing each notification.
pub fn run(
    engine: &Engine,
    events: Vec<Event>,
    until: Timestamp,
    out: &mut impl Write,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut seen: HashSet<(String, String)> = HashSet::with_capacity(events.len());
    let mut events: Vec<Event> = events
        .into_iter()
        .filter(|e| {
            let fresh = seen.insert((e.gemeente.clone(), e.id.clone()));
            summary.duplicates += usize::from(!fresh);
            fresh
        })
        .collect();
    drop(seen);
    // Stable: events at the same moment keep their order in the file.
    events.sort_by_key(|e| e.at);
    summary.after_until = events.iter().filter(|e| e.at >= until).count();
    events.truncate(events.len() - summary.after_until);
    summary.events = events.len();

    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut cases: Vec<Case> = Vec::new();
    // The next wakeup of each case; heap entries that no longer match are stale and skipped.
    let mut wakeups: Vec<Option<Timestamp>> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(Timestamp, usize)>> = BinaryHeap::new();
    let mut pending = events.into_iter().peekable();
    let mut writer = io::BufWriter::with_capacity(1 << 16, out);

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
        let next_event = pending.peek().map(|e| e.at);
        // Timers strictly before an event fire first; an event at the same moment is applied
        // before the timer, so work done at 09:00 suppresses the 09:00 reminder.
        let (notifications, case) = match (next_event, next_timer) {
            (Some(at), timer) if timer.is_none_or(|t| at <= t) => {
                let event = pending.next().expect("peeked");
                let key = (event.gemeente.clone(), event.case.clone());
                let case = *index.entry(key).or_insert_with(|| {
                    cases.push(Case::new(&event.gemeente, &event.case));
                    wakeups.push(None);
                    cases.len() - 1
                });
                (cases[case].apply(engine, event, at), case)
            }
            (_, Some(moment)) if moment < until => {
                let Reverse((_, case)) = heap.pop().expect("peeked");
                (cases[case].tick(engine, moment), case)
            }
            _ => break,
        };
        for notification in &notifications {
            write_line(&mut writer, notification)?;
        }
        summary.notifications += notifications.len();
        let wakeup = cases[case].next_wakeup(engine).filter(|m| *m < until);
        wakeups[case] = wakeup;
        if let Some(moment) = wakeup {
            heap.push(Reverse((moment, case)));
        }
    }
    writer.flush()?;
    summary.cases = cases.len();
    Ok(summary)
}

pub fn write_line(out: &mut impl Write, notification: &Notification) -> io::Result<()> {
    serde_json::to_writer(&mut *out, notification)?;
    out.write_all(b"\n")
}
