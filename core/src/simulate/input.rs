//! The input of a simulation, read in two passes so that memory follows the largest case and
//! not the input. The first pass (`Input::scan_file`) reads every line once and keeps of each
//! what grouping needs (where it is, when, a hash of its id and of its case); `Input::plan`
//! then applies the rules of the first read (duplicates by gemeente and id in file order,
//! events after `--until`) and groups the kept lines by case. The second pass reads one case's
//! lines when that case is simulated (`Input::events_of`).
//!
//! Duplicates: an event counts only when it is valid, as when every event was parsed up front.
//! So a line whose id was seen before is validated, and so is the line that holds the id, when
//! it was not yet: a sender's retry of a refused event with the same id is taken.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;

use jiff::Timestamp;

use super::{RefusedLine, parse_line, shard_count};
use crate::event::{Event, EventType};

/// What the first pass keeps of a line: about 64 bytes, whatever the line holds.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// 1-based line number (for the events given in memory: after the file's lines).
    line: u32,
    /// `u32::MAX` for an event given in memory, whose index `offset` is.
    len: u32,
    offset: u64,
    at: Timestamp,
    /// Hashes of (gemeente, id) and of (gemeente, case): 128 bits, so that two different ones
    /// are never taken for one.
    id: Hash128,
    case: Hash128,
    withdrawal: bool,
}

/// The fields the first pass reads; `data` and anything else is skipped unread.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    gemeente: Cow<'a, str>,
    #[serde(borrow)]
    case: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
}

/// The events of a simulation: a JSON Lines file read in two passes, and events given in
/// memory (iJw messages, tests) after it.
pub struct Input {
    file: Option<File>,
    extra: Vec<Event>,
    entries: Vec<Entry>,
    refused: Vec<RefusedLine>,
}

/// The kept lines of a run, grouped by case.
pub(super) struct Plan {
    /// Entry indices, case after case, each case's in file order.
    order: Vec<u32>,
    /// Per case: where its entries start in `order`, how many, and whether it holds a
    /// withdrawal (then its case keeps its history).
    pub cases: Vec<CaseLines>,
    pub duplicates: usize,
    pub after_until: usize,
    /// Lines refused while planning (a duplicate's or its holder's validation).
    pub refused: Vec<RefusedLine>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct CaseLines {
    start: u32,
    count: u32,
    pub history: bool,
}

/// The keys of the maps below are hashes already: they need no hashing again.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A 128-bit hash as two halves: aligned to 8 bytes, not 16 as a `u128` is, so an entry and
/// a map's slot take no padding (a million cases' maps are 70 MB smaller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hash128(u64, u64);

impl Hash for Hash128 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Either half is a hash already.
        state.write_u64(self.1);
    }
}

type ByHash<V> = HashMap<Hash128, V, std::hash::BuildHasherDefault<Prehashed>>;

/// The 128-bit hashes of (gemeente, a) and (gemeente, b), the gemeente hashed once.
fn hash128_pair(gemeente: &str, a: &str, b: &str) -> (Hash128, Hash128) {
    let halves = |salt: u8| {
        let mut hasher = std::hash::DefaultHasher::new();
        salt.hash(&mut hasher);
        gemeente.hash(&mut hasher);
        let mut with_b = hasher.clone();
        a.hash(&mut hasher);
        b.hash(&mut with_b);
        (hasher.finish(), with_b.finish())
    };
    let ((a1, b1), (a2, b2)) = (halves(1), halves(2));
    (Hash128(a1, a2), Hash128(b1, b2))
}

/// A line as the first pass sees it: an entry, or a refusal (a line that is not even an event
/// in form is parsed in full here, for the same words as the full read gives).
fn scan_line(text: &str, line: usize, offset: u64) -> Option<Result<Entry, RefusedLine>> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let head = serde_json::from_str::<Head<'_>>(trimmed)
        .ok()
        .and_then(|h| Some((crate::calendar::parse_timestamp(&h.at).ok()?, h)));
    let Some((at, head)) = head else {
        return Some(Err(parse_line(trimmed, line).err().unwrap_or_else(|| {
            RefusedLine {
                line,
                reason: "not an event".into(),
            }
        })));
    };
    let (id, case) = hash128_pair(&head.gemeente, &head.id, &head.case);
    Some(Ok(Entry {
        line: line as u32,
        len: text.len() as u32,
        offset,
        at,
        id,
        case,
        withdrawal: head.kind == EventType::BERICHT_INGETROKKEN.name(),
    }))
}

impl Input {
    /// The first pass over a JSON Lines file: read a block at a time, each block's lines
    /// parsed on all cores while the next block is read.
    pub fn scan_file(path: &Path) -> io::Result<Input> {
        Input::scan_in_blocks(path, 8 << 20)
    }

    fn scan_in_blocks(path: &Path, size: usize) -> io::Result<Input> {
        let shards = shard_count(usize::MAX);
        let reader = File::open(path)?;
        let mut input = Input {
            file: Some(File::open(path)?),
            extra: Vec::new(),
            entries: Vec::new(),
            refused: Vec::new(),
        };
        // Where the block starts in the file, and the number of its first line (1-based).
        let (mut offset, mut line) = (0u64, 1usize);
        let mut block = Vec::new();
        let mut rest = Vec::new();
        let mut more = read_lines(&reader, &mut block, &mut rest, size)?;
        while !block.is_empty() {
            let parts = split_lines(&block, shards, offset, line);
            let (scanned, next) = std::thread::scope(|scope| {
                let handles: Vec<_> = parts
                    .iter()
                    .map(|part| scope.spawn(move || part.scan()))
                    .collect();
                let mut next = Vec::new();
                let read = match more {
                    true => read_lines(&reader, &mut next, &mut rest, size),
                    false => Ok(false),
                };
                let scanned: Vec<_> = handles
                    .into_iter()
                    .map(|h| h.join().expect("a scanning thread does not panic"))
                    .collect();
                (scanned, read.map(|more| (next, more)))
            });
            for scanned in scanned.into_iter().flatten() {
                match scanned {
                    Ok(entry) => input.entries.push(entry),
                    Err(refused) => input.refused.push(refused),
                }
            }
            let parts_lines: usize = parts.iter().map(|p| p.lines).sum();
            offset += block.len() as u64;
            line += parts_lines;
            (block, more) = next?;
        }
        Ok(input)
    }

    /// Events given in memory, in their order (tests, and `simulate` of what a caller parsed).
    pub fn of_events(events: Vec<Event>) -> Input {
        let mut input = Input {
            file: None,
            extra: Vec::new(),
            entries: Vec::new(),
            refused: Vec::new(),
        };
        input.add_events(events);
        input
    }

    /// Adds events given in memory after the file's lines (iJw messages).
    pub fn add_events(&mut self, events: Vec<Event>) {
        let first = (self.entries.last().map_or(0, |e| e.line) as usize)
            .max(self.refused.iter().map(|r| r.line).max().unwrap_or(0));
        for (n, event) in events.into_iter().enumerate() {
            let (id, case) = hash128_pair(&event.gemeente, &event.id, &event.case);
            self.entries.push(Entry {
                line: (first + n + 1) as u32,
                len: u32::MAX,
                offset: self.extra.len() as u64,
                at: event.at,
                id,
                case,
                withdrawal: event.event_type == EventType::BERICHT_INGETROKKEN,
            });
            self.extra.push(event);
        }
    }

    /// The lines the first pass refused.
    pub fn refused(&self) -> &[RefusedLine] {
        &self.refused
    }

    /// The latest moment of the input's events, for a default end.
    pub fn last_at(&self) -> Option<Timestamp> {
        self.entries.iter().map(|e| e.at).max()
    }

    /// The earliest: the scheduled overviews run from there.
    pub(super) fn first_at(&self) -> Option<Timestamp> {
        self.entries.iter().map(|e| e.at).min()
    }

    /// The event of an entry, read and validated in full.
    fn event(&self, entry: &Entry, window: &mut Window) -> Result<Event, RefusedLine> {
        if entry.len == u32::MAX {
            return Ok(self.extra[entry.offset as usize].clone());
        }
        let line = entry.line as usize;
        let file = self.file.as_ref().expect("lines come from the file");
        let bytes = window
            .line(file, entry.offset, entry.len as usize)
            .map_err(|err| RefusedLine {
                line,
                reason: format!("cannot be read again: {err}"),
            })?;
        // The first pass found it UTF-8.
        let text = std::str::from_utf8(bytes).map_err(|_| RefusedLine {
            line,
            reason: "not UTF-8 text".into(),
        })?;
        parse_line(text.trim(), line)
    }

    /// The rules of the first read, applied to the scanned lines: duplicates (valid events
    /// only, first in file order wins) and events at or after `until`; the rest grouped by case
    /// in the order of their first line.
    pub(super) fn plan(&self, until: Timestamp) -> Plan {
        let mut buffer = Window::default();
        let mut refused = Vec::new();
        let mut duplicates = 0;
        let mut after_until = 0;
        let mut kept = vec![false; self.entries.len()];
        // (gemeente, id) -> the entry that holds it, and whether that one is known valid.
        let mut seen: ByHash<(u32, bool)> =
            ByHash::with_capacity_and_hasher(self.entries.len(), Default::default());
        for (i, entry) in self.entries.iter().enumerate() {
            let late = entry.at >= until;
            // One probe of the map for a new id, the usual case.
            let (holder, verified) = match seen.entry(entry.id) {
                Slot::Vacant(vacant) if !late => {
                    vacant.insert((i as u32, false));
                    kept[i] = true;
                    continue;
                }
                Slot::Vacant(vacant) => {
                    match self.event(entry, &mut buffer) {
                        // Counted only when valid; the id is taken all the same.
                        Ok(_) => {
                            vacant.insert((i as u32, true));
                            after_until += 1;
                        }
                        Err(why) => refused.push(why),
                    }
                    continue;
                }
                Slot::Occupied(occupied) => *occupied.get(),
            };
            if let Err(why) = self.event(entry, &mut buffer) {
                refused.push(why);
                continue;
            }
            let holder_valid = verified || {
                match self.event(&self.entries[holder as usize], &mut buffer) {
                    Ok(_) => true,
                    Err(why) => {
                        // Refused now: it will not be read again.
                        kept[holder as usize] = false;
                        refused.push(why);
                        false
                    }
                }
            };
            if holder_valid {
                seen.insert(entry.id, (holder, true));
                duplicates += 1;
                continue;
            }
            seen.insert(entry.id, (i as u32, true));
            if late {
                after_until += 1;
            } else {
                kept[i] = true;
            }
        }
        drop(seen);
        // Cases in the order of their first kept line; each case's lines in file order.
        let mut number: ByHash<u32> = ByHash::default();
        let mut case_of = vec![u32::MAX; self.entries.len()];
        let mut counts: Vec<u32> = Vec::new();
        let mut history: Vec<bool> = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            if !kept[i] {
                continue;
            }
            let next = number.len() as u32;
            let n = *number.entry(entry.case).or_insert(next);
            if n as usize == counts.len() {
                counts.push(0);
                history.push(false);
            }
            counts[n as usize] += 1;
            history[n as usize] |= entry.withdrawal;
            case_of[i] = n;
        }
        let mut cases = Vec::with_capacity(counts.len());
        let mut start = 0u32;
        for (count, history) in counts.iter().zip(&history) {
            cases.push(CaseLines {
                start,
                count: *count,
                history: *history,
            });
            start += count;
        }
        let mut fill: Vec<u32> = cases.iter().map(|c| c.start).collect();
        let mut order = vec![0u32; start as usize];
        for (i, case) in case_of.iter().enumerate() {
            if *case != u32::MAX {
                let at = &mut fill[*case as usize];
                order[*at as usize] = i as u32;
                *at += 1;
            }
        }
        refused.sort_by_key(|r| r.line);
        Plan {
            order,
            cases,
            duplicates,
            after_until,
            refused,
        }
    }

    /// A case's events, validated, in file order, each with its line number; the lines that
    /// are not valid events are refused.
    pub(super) fn events_of(
        &self,
        plan: &Plan,
        case: CaseLines,
        buffer: &mut Window,
        refused: &mut Vec<RefusedLine>,
    ) -> Vec<(u32, Event)> {
        let entries = &plan.order[case.start as usize..(case.start + case.count) as usize];
        let mut events = Vec::with_capacity(entries.len());
        for &i in entries {
            let entry = &self.entries[i as usize];
            match self.event(entry, buffer) {
                Ok(event) => events.push((entry.line, event)),
                Err(why) => refused.push(why),
            }
        }
        events
    }
}

/// Whole lines of a block of the file, for one scanning thread.
struct Part<'a> {
    bytes: &'a [u8],
    /// Where `bytes` starts in the file, and the number of its first line.
    offset: u64,
    first_line: usize,
    lines: usize,
}

impl Part<'_> {
    fn scan(&self) -> Vec<Result<Entry, RefusedLine>> {
        let mut out = Vec::with_capacity(self.lines);
        let mut start = 0;
        for n in 0..self.lines {
            let end = self.bytes[start..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(self.bytes.len(), |at| start + at + 1);
            let (line, offset) = (self.first_line + n, self.offset + start as u64);
            let scanned = match std::str::from_utf8(&self.bytes[start..end]) {
                Ok(text) => scan_line(text, line, offset),
                Err(_) => Some(Err(RefusedLine {
                    line,
                    reason: "not UTF-8 text".into(),
                })),
            };
            out.extend(scanned);
            start = end;
        }
        out
    }
}

/// `block` in about `shards` parts of whole lines; `offset` and `line` are where it starts.
fn split_lines(block: &[u8], shards: usize, offset: u64, line: usize) -> Vec<Part<'_>> {
    let size = block.len().div_ceil(shards).max(1);
    let mut parts = Vec::with_capacity(shards);
    let (mut start, mut line) = (0, line);
    while start < block.len() {
        let end = match block[(start + size).min(block.len())..]
            .iter()
            .position(|b| *b == b'\n')
        {
            Some(at) => start + size + at + 1,
            None => block.len(),
        };
        let bytes = &block[start..end];
        // A last line without its newline is a line too.
        let lines = bytes.iter().filter(|b| **b == b'\n').count()
            + usize::from(bytes.last() != Some(&b'\n'));
        parts.push(Part {
            bytes,
            offset: offset + start as u64,
            first_line: line,
            lines,
        });
        line += lines;
        start = end;
    }
    parts
}

/// Reads about `size` bytes into `block`, ending at a line's end: `rest` holds the start of
/// the line cut off at the end, for the next block. False when the file is done.
fn read_lines(
    file: &File,
    block: &mut Vec<u8>,
    rest: &mut Vec<u8>,
    size: usize,
) -> io::Result<bool> {
    use std::io::Read;
    block.clear();
    block.append(rest);
    let mut want = size;
    loop {
        let had = block.len();
        if had >= want {
            // A block ends at a line's end; a line longer than the block makes it longer.
            match block.iter().rposition(|b| *b == b'\n') {
                Some(last) => {
                    rest.extend_from_slice(&block[last + 1..]);
                    block.truncate(last + 1);
                    return Ok(true);
                }
                None => want = had * 2,
            }
        }
        let asked = want - had;
        // Short only at the end of the file.
        if file.take(asked as u64).read_to_end(block)? < asked {
            return Ok(false);
        }
    }
}

/// Lines read back from the file a window at a time: a file written case after case is read
/// in large pieces, one in another order a line (or a few) at a time. The window grows while
/// the lines asked for lie in it and shrinks when they do not.
#[derive(Default)]
pub(super) struct Window {
    start: u64,
    bytes: Vec<u8>,
    size: usize,
    served: usize,
}

impl Window {
    const SMALLEST: usize = 4 << 10;
    const LARGEST: usize = 1 << 20;

    fn line(&mut self, file: &File, offset: u64, len: usize) -> io::Result<&[u8]> {
        let end = offset + len as u64;
        let inside = offset >= self.start && end <= self.start + self.bytes.len() as u64;
        if !inside {
            self.size = if self.served > 1 {
                (self.size * 2).clamp(Self::SMALLEST, Self::LARGEST)
            } else {
                (self.size / 2).max(Self::SMALLEST)
            };
            self.served = 0;
            self.bytes.resize(self.size.max(len), 0);
            let got = read_up_to(file, &mut self.bytes, offset)?;
            self.bytes.truncate(got);
            self.start = offset;
            if got < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file is shorter than when it was first read",
                ));
            }
        }
        self.served += 1;
        let from = (offset - self.start) as usize;
        Ok(&self.bytes[from..from + len])
    }
}

/// Fills `buffer` from `offset` as far as the file goes; how many bytes were read.
fn read_up_to(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buffer.len() {
        let n = read_at(file, &mut buffer[got..], offset + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buffer, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file.try_clone()?;
    file.seek(SeekFrom::Start(offset))?;
    file.read(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kept line's number, length, offset and id hash.
    type Kept = Vec<(u32, u32, u64, Hash128)>;

    /// What the first pass kept of each line, comparable.
    fn seen(input: &Input) -> (Kept, Vec<RefusedLine>) {
        let entries = input
            .entries
            .iter()
            .map(|e| (e.line, e.len, e.offset, e.id))
            .collect();
        (entries, input.refused.clone())
    }

    #[test]
    fn blocks_of_any_size_read_the_same_lines() {
        let event = |n: usize, pad: usize| {
            format!(
                r#"{{"id":"e-{n}","type":"klacht.ingediend","gemeente":"GM0150","case":"C-{n}","at":"2027-01-0{}T10:00:00+01:00","data":{{"klacht_id":"K-{n}","toelichting":"{}"}}}}"#,
                n % 9 + 1,
                "x".repeat(pad)
            )
        };
        let mut text = String::new();
        for n in 0..40 {
            text.push_str(&event(n, n * 7));
            text.push('\n');
            if n % 9 == 0 {
                text.push_str("\n# een opmerking\n{niet json}\n");
            }
        }
        // A line longer than the smallest blocks, and a last line without its newline.
        text.push_str(&event(98, 300));
        text.push('\n');
        text.push_str(&event(99, 3));
        let dir = std::env::temp_dir().join(format!("waakvlam-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.jsonl");
        let mut bytes = text.into_bytes();
        // A line that is not UTF-8 text.
        bytes.extend_from_slice(b"\n{\"id\":\"\xff\"}\n");
        std::fs::write(&path, &bytes).unwrap();
        let whole = seen(&Input::scan_in_blocks(&path, 1 << 20).unwrap());
        assert_eq!(whole.0.len(), 42);
        assert_eq!(
            whole.1.len(),
            6,
            "five lines of no JSON and one of no UTF-8"
        );
        assert_eq!(whole.1.last().unwrap().reason, "not UTF-8 text");
        for size in [1, 7, 64, 200, 333, 4096] {
            assert_eq!(
                seen(&Input::scan_in_blocks(&path, size).unwrap()),
                whole,
                "blocks of {size}"
            );
        }
        // Each kept line is where the entry says it is.
        let input = Input::scan_in_blocks(&path, 64).unwrap();
        let mut window = Window::default();
        for entry in &input.entries {
            let event = input.event(entry, &mut window).unwrap();
            let hashes = hash128_pair(&event.gemeente, &event.id, &event.case);
            assert_eq!(hashes, (entry.id, entry.case));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
