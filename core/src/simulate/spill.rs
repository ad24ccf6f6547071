//! The output in order, in bounded memory: each shard keeps its lines with their place
//! (moment, case, place in the case) up to a limit, and beyond it sorts them and writes them to
//! a temporary file (a run); the writer merges the runs and what is still in memory. A small
//! simulation never touches the disk.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use jiff::Timestamp;

/// Where a line goes in the output: by moment, then case (the line of the input where it
/// first appears; `u64::MAX` for a scheduled overview, after every case's line of its moment),
/// then its place within the case (or the overview's run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Place {
    pub at: Timestamp,
    pub case: u64,
    pub seq: u32,
}

/// The lines one shard produced, sorted, in memory and in runs on disk.
pub(super) struct Spill {
    limit: usize,
    places: Vec<(Place, u32, u32)>,
    bytes: Vec<u8>,
    runs: Vec<File>,
}

impl Spill {
    /// Keeps up to about `limit` bytes of lines in memory.
    pub fn new(limit: usize) -> Spill {
        Spill {
            limit,
            places: Vec::new(),
            bytes: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, place: Place, line: &[u8]) -> io::Result<()> {
        self.push_with(place, |bytes| {
            bytes.extend_from_slice(line);
            Ok(())
        })
    }

    /// Adds a line that `write` writes at the end of the buffer (no copy of it made first).
    pub fn push_with(
        &mut self,
        place: Place,
        write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.bytes.len() > self.limit {
            self.write_run()?;
        }
        let start = self.bytes.len();
        write(&mut self.bytes)?;
        self.places
            .push((place, start as u32, (self.bytes.len() - start) as u32));
        Ok(())
    }

    fn sort(&mut self) {
        self.places.sort_unstable_by_key(|(place, _, _)| *place);
    }

    /// Sorts what is in memory and writes it to a temporary file, removed as soon as it is
    /// made (it lives as long as its handle, also when the process dies).
    fn write_run(&mut self) -> io::Result<()> {
        self.sort();
        let mut file = temporary()?;
        {
            let mut out = BufWriter::with_capacity(1 << 20, &mut file);
            for (place, start, len) in &self.places {
                out.write_all(&place.at.as_second().to_le_bytes())?;
                out.write_all(&place.at.subsec_nanosecond().to_le_bytes())?;
                out.write_all(&place.case.to_le_bytes())?;
                out.write_all(&place.seq.to_le_bytes())?;
                out.write_all(&len.to_le_bytes())?;
                out.write_all(&self.bytes[*start as usize..(start + len) as usize])?;
            }
            out.flush()?;
        }
        file.seek(SeekFrom::Start(0))?;
        self.runs.push(file);
        self.places.clear();
        self.bytes.clear();
        Ok(())
    }

    /// The sources of the merge: the runs on disk, and what is in memory, sorted.
    pub fn into_sources(mut self) -> io::Result<Vec<Source>> {
        self.sort();
        let mut sources: Vec<Source> = self
            .runs
            .drain(..)
            .map(|file| Source::Run {
                file,
                buffer: Vec::new(),
                at: 0,
                line: (0, 0),
            })
            .collect();
        sources.push(Source::Memory {
            places: self.places.into_iter(),
            bytes: self.bytes,
            line: (0, 0),
        });
        Ok(sources)
    }
}

/// Lines in order, from a run on disk or from memory. [`Source::advance`] goes to the next
/// line, [`Source::line`] gives it: the merge copies each line once, straight from where it
/// was read to the output block.
pub(super) enum Source {
    Run {
        file: File,
        /// Read from the file; `at` is where the unread part starts.
        buffer: Vec<u8>,
        at: usize,
        /// The current line: start and length in `buffer`.
        line: (usize, usize),
    },
    Memory {
        places: std::vec::IntoIter<(Place, u32, u32)>,
        bytes: Vec<u8>,
        line: (usize, usize),
    },
}

/// How much of a run is read at a time.
const RUN_BUFFER: usize = 1 << 20;

/// The head of a spilled line: moment (seconds, nanoseconds), case, place in the case, length.
const HEAD: usize = 8 + 4 + 8 + 4 + 4;

impl Source {
    /// Goes to the next line and gives its place; `None` at the end.
    fn advance(&mut self) -> io::Result<Option<Place>> {
        match self {
            Source::Memory { places, line, .. } => Ok(places.next().map(|(place, start, len)| {
                *line = (start as usize, len as usize);
                place
            })),
            Source::Run {
                file,
                buffer,
                at,
                line,
            } => {
                if !fill(file, buffer, at, HEAD)? {
                    return match buffer.len() - *at {
                        0 => Ok(None),
                        _ => Err(cut_short()),
                    };
                }
                let head = &buffer[*at..*at + HEAD];
                let number = |range: std::ops::Range<usize>| {
                    let mut b = [0u8; 8];
                    b[..range.len()].copy_from_slice(&head[range]);
                    u64::from_le_bytes(b)
                };
                let seconds = number(0..8) as i64;
                let nanos = number(8..12) as u32 as i32;
                let at_moment = Timestamp::new(seconds, nanos)
                    .map_err(|err| io::Error::other(format!("a spilled moment: {err}")))?;
                let place = Place {
                    at: at_moment,
                    case: number(12..20),
                    seq: number(20..24) as u32,
                };
                let len = number(24..28) as usize;
                if !fill(file, buffer, at, HEAD + len)? {
                    return Err(cut_short());
                }
                *line = (*at + HEAD, len);
                *at += HEAD + len;
                Ok(Some(place))
            }
        }
    }

    /// The line [`Source::advance`] went to.
    fn line(&self) -> &[u8] {
        let (bytes, (start, len)) = match self {
            Source::Run { buffer, line, .. } => (buffer, line),
            Source::Memory { bytes, line, .. } => (bytes, line),
        };
        &bytes[*start..start + len]
    }
}

/// Makes sure `need` unread bytes of the run are in `buffer` from `at` (moving what is unread
/// to the front first); false when the file ends before.
fn fill(file: &mut File, buffer: &mut Vec<u8>, at: &mut usize, need: usize) -> io::Result<bool> {
    if buffer.len() - *at >= need {
        return Ok(true);
    }
    buffer.drain(..*at);
    *at = 0;
    let missing = need.max(RUN_BUFFER) - buffer.len();
    file.take(missing as u64).read_to_end(buffer)?;
    Ok(buffer.len() >= need)
}

fn cut_short() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "a spilled line was cut short")
}

/// Writes every line of `sources` in order; returns how many. The merge runs on a thread of
/// its own and hands full blocks to this one, which writes them: on a 2-core machine writing
/// a large output costs as much as merging it, and the two overlap.
pub(super) fn merge(sources: Vec<Source>, out: &mut impl Write) -> io::Result<usize> {
    const BLOCK: usize = 1 << 20;
    let (full, blocks) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    let (spent, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let merger = scope.spawn(move || {
            merge_blocks(sources, BLOCK, |block| {
                let next = spare
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
                // The writer stopped (it failed): its error is the one reported.
                full.send(std::mem::replace(block, next))
                    .map_err(|_| io::Error::other("the writer stopped"))
            })
        });
        let mut written = Ok(());
        while let Ok(mut block) = blocks.recv() {
            written = out.write_all(&block);
            if written.is_err() {
                break;
            }
            block.clear();
            let _ = spent.send(block);
        }
        // Dropped before the join, so that a merger blocked on a full channel wakes and stops.
        drop(blocks);
        let lines = merger.join().expect("the merging thread does not panic");
        written?;
        let lines = lines?;
        out.flush()?;
        Ok(lines)
    })
}

/// Merges `sources` into blocks of about `block` bytes, each handed to `send` when full (and
/// the last one, whatever its size); returns how many lines.
fn merge_blocks(
    mut sources: Vec<Source>,
    block: usize,
    mut send: impl FnMut(&mut Vec<u8>) -> io::Result<()>,
) -> io::Result<usize> {
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, source) in sources.iter_mut().enumerate() {
        if let Some(place) = source.advance()? {
            heap.push(Reverse((place, i)));
        }
    }
    let mut filling = Vec::with_capacity(block);
    let mut written = 0;
    while let Some(mut top) = heap.peek_mut() {
        let Reverse((_, i)) = *top;
        filling.extend_from_slice(sources[i].line());
        written += 1;
        if filling.len() >= block {
            send(&mut filling)?;
        }
        // The source's next line takes its place at the top and sinks to where it belongs.
        match sources[i].advance()? {
            Some(place) => *top = Reverse((place, i)),
            None => {
                PeekMut::pop(top);
                // A finished run's file goes now: the kernel frees its pages while the writer
                // is still busy, not all at once at the end.
                sources[i] = Source::Memory {
                    places: Vec::new().into_iter(),
                    bytes: Vec::new(),
                    line: (0, 0),
                };
            }
        }
    }
    if !filling.is_empty() {
        send(&mut filling)?;
    }
    Ok(written)
}

/// A file in the system's temporary directory that nobody else can open: removed right after
/// it is made, so nothing is left behind, whatever happens.
fn temporary() -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static MADE: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "waakvlam-simulate-{}-{}",
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed)
    );
    let path = std::env::temp_dir().join(name);
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    // On Unix the file lives on without its name; elsewhere it stays until removed by hand.
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes `room` bytes and then fails, as a full disk does.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::other("no space left"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_writer_that_fails_stops_the_merge_with_its_error() {
        // Enough lines for many blocks, so that the merging thread is blocked on a full
        // channel when the writer fails: it must stop, not wait forever.
        let mut spill = Spill::new(usize::MAX);
        let line = vec![b'x'; 1000];
        for n in 0..20_000u64 {
            let place = Place {
                at: Timestamp::new(n as i64, 0).unwrap(),
                case: n,
                seq: 0,
            };
            spill.push(place, &line).unwrap();
        }
        let err = merge(spill.into_sources().unwrap(), &mut Full { room: 3 << 20 }).unwrap_err();
        assert_eq!(err.to_string(), "no space left");
    }

    #[test]
    fn lines_longer_than_a_read_of_a_run_come_out_whole() {
        let mut spill = Spill::new(0);
        let lines: Vec<Vec<u8>> = [10, RUN_BUFFER * 2 + 3, 5, RUN_BUFFER - HEAD, 7]
            .iter()
            .enumerate()
            .map(|(n, len)| vec![b'a' + n as u8; *len])
            .collect();
        for (n, line) in lines.iter().enumerate().rev() {
            let place = Place {
                at: Timestamp::new(n as i64, 0).unwrap(),
                case: 0,
                seq: 0,
            };
            spill.push(place, line).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(merge(spill.into_sources().unwrap(), &mut out).unwrap(), 5);
        assert_eq!(out, lines.concat());
    }

    #[test]
    fn lines_come_out_in_order_from_memory_and_from_runs() {
        let mut spill = Spill::new(64);
        let at = |s: i64| Timestamp::new(s, 0).unwrap();
        let mut expected = Vec::new();
        // Out of order, with ties on the moment broken by case and place.
        for (n, (second, case, seq)) in [(5, 2, 0), (1, 9, 0), (5, 1, 1), (5, 1, 0), (3, 0, 0)]
            .into_iter()
            .cycle()
            .take(40)
            .enumerate()
        {
            let place = Place {
                at: at(second),
                case: case + (n as u64 / 5) * 10,
                seq,
            };
            let line = format!("{n}\n");
            spill.push(place, line.as_bytes()).unwrap();
            expected.push((place, line));
        }
        assert!(!spill.runs.is_empty(), "the limit made runs");
        expected.sort_by_key(|(place, _)| *place);
        let mut out = Vec::new();
        let written = merge(spill.into_sources().unwrap(), &mut out).unwrap();
        assert_eq!(written, 40);
        let want: String = expected.into_iter().map(|(_, line)| line).collect();
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
