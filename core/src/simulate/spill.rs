//! The output in order, in bounded memory: each shard keeps its lines with their place
//! (moment, case, place in the case) up to a limit, and beyond it sorts them and writes them to
//! a temporary file (a run); the writer merges the runs and what is still in memory. A small
//! simulation never touches the disk.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

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
            .map(|file| Source::Run(BufReader::with_capacity(1 << 18, file)))
            .collect();
        sources.push(Source::Memory {
            places: self.places.into_iter(),
            bytes: self.bytes,
        });
        Ok(sources)
    }
}

/// Lines in order, from a run on disk or from memory.
pub(super) enum Source {
    Run(BufReader<File>),
    Memory {
        places: std::vec::IntoIter<(Place, u32, u32)>,
        bytes: Vec<u8>,
    },
}

impl Source {
    /// The next line into `line`, with its place; `None` at the end.
    fn next(&mut self, line: &mut Vec<u8>) -> io::Result<Option<Place>> {
        match self {
            Source::Memory { places, bytes } => Ok(places.next().map(|(place, start, len)| {
                line.clear();
                line.extend_from_slice(&bytes[start as usize..(start + len) as usize]);
                place
            })),
            Source::Run(reader) => {
                let mut head = [0u8; 8 + 4 + 8 + 4 + 4];
                match reader.read_exact(&mut head) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                    Err(err) => return Err(err),
                }
                let number = |range: std::ops::Range<usize>| {
                    let mut b = [0u8; 8];
                    b[..range.len()].copy_from_slice(&head[range]);
                    u64::from_le_bytes(b)
                };
                let seconds = number(0..8) as i64;
                let nanos = number(8..12) as u32 as i32;
                let at = Timestamp::new(seconds, nanos)
                    .map_err(|err| io::Error::other(format!("a spilled moment: {err}")))?;
                let place = Place {
                    at,
                    case: number(12..20),
                    seq: number(20..24) as u32,
                };
                let len = number(24..28);
                line.clear();
                let read = (&mut *reader).take(len).read_to_end(line)?;
                if read as u64 != len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "a spilled line was cut short",
                    ));
                }
                Ok(Some(place))
            }
        }
    }
}

/// Writes every line of `sources` in order; returns how many.
pub(super) fn merge(mut sources: Vec<Source>, out: &mut impl Write) -> io::Result<usize> {
    let mut lines: Vec<Vec<u8>> = sources.iter().map(|_| Vec::new()).collect();
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, source) in sources.iter_mut().enumerate() {
        if let Some(place) = source.next(&mut lines[i])? {
            heap.push(Reverse((place, i)));
        }
    }
    let mut writer = BufWriter::with_capacity(1 << 20, out);
    let mut written = 0;
    while let Some(Reverse((_, i))) = heap.pop() {
        writer.write_all(&lines[i])?;
        written += 1;
        if let Some(place) = sources[i].next(&mut lines[i])? {
            heap.push(Reverse((place, i)));
        }
    }
    writer.flush()?;
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
