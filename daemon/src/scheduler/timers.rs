//! The timer queue: each case's next wakeup, as in the store's `timers` table, with a heap to
//! find the next one due. A batch stages its changes; they reach the queue when the batch is
//! committed, and a batch that is rolled back leaves the queue as it was, the timers it took
//! out included, without reading the store again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use jiff::Timestamp;

use crate::store::CaseKey;

#[derive(Default)]
pub struct TimerQueue {
    /// The committed wakeup of each case with a timer.
    wakes: HashMap<CaseKey, Timestamp>,
    /// Entries that no longer match `wakes` are stale and skipped.
    heap: BinaryHeap<Reverse<(Timestamp, CaseKey)>>,
    /// Wakeups set in the batch being written.
    staged: Vec<(CaseKey, Option<Timestamp>)>,
    /// Timers taken out in the batch being written, to put back if it is rolled back.
    taken: Vec<(Timestamp, CaseKey)>,
}

impl TimerQueue {
    pub fn new(timers: Vec<(Timestamp, CaseKey)>) -> TimerQueue {
        let mut queue = TimerQueue {
            wakes: HashMap::with_capacity(timers.len()),
            ..TimerQueue::default()
        };
        for (moment, key) in timers {
            queue.wakes.insert(key.clone(), moment);
            queue.heap.push(Reverse((moment, key)));
        }
        queue
    }

    /// How many cases have a timer.
    pub fn len(&self) -> usize {
        self.wakes.len()
    }

    /// The case's committed wakeup.
    pub fn get(&self, key: &CaseKey) -> Option<Timestamp> {
        self.wakes.get(key).copied()
    }

    /// The next wakeup of any case.
    pub fn next(&mut self) -> Option<Timestamp> {
        while let Some(Reverse((moment, key))) = self.heap.peek() {
            if self.wakes.get(key) == Some(moment) {
                return Some(*moment);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes out the next timer due at or before `now`: the case has no timer until the batch
    /// stages a new one (or is rolled back, which puts this one back).
    pub fn take_due(&mut self, now: Timestamp) -> Option<(Timestamp, CaseKey)> {
        self.next().filter(|moment| *moment <= now)?;
        let Reverse((moment, key)) = self.heap.pop()?;
        self.wakes.remove(&key);
        self.taken.push((moment, key.clone()));
        Some((moment, key))
    }

    /// Leaves a case without its timer in memory (its case cannot be served); the store
    /// keeps the row, so a restart tries again.
    pub fn forget(&mut self, key: &CaseKey) {
        self.wakes.remove(key);
    }

    /// A case's next wakeup as the batch being written sets it.
    pub fn stage(&mut self, key: CaseKey, wake: Option<Timestamp>) {
        self.staged.push((key, wake));
    }

    /// The batch is durable: its wakeups count.
    pub fn commit(&mut self) {
        self.taken.clear();
        for (key, wake) in std::mem::take(&mut self.staged) {
            match wake {
                Some(moment) => {
                    self.wakes.insert(key.clone(), moment);
                    self.heap.push(Reverse((moment, key)));
                }
                None => {
                    self.wakes.remove(&key);
                }
            }
        }
    }

    /// The batch was rolled back: what it staged is dropped and what it took is put back.
    pub fn rollback(&mut self) {
        self.staged.clear();
        for (moment, key) in std::mem::take(&mut self.taken) {
            self.wakes.insert(key.clone(), moment);
            self.heap.push(Reverse((moment, key)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    #[test]
    fn a_rolled_back_batch_leaves_the_queue_as_it_was() {
        let a = CaseKey::new("GM0150", "A");
        let b = CaseKey::new("GM0150", "B");
        let mut queue = TimerQueue::new(vec![(at(10), a.clone()), (at(20), b.clone())]);
        assert_eq!(queue.take_due(at(15)), Some((at(10), a.clone())));
        assert_eq!(queue.take_due(at(15)), None, "B is not due yet");
        queue.stage(a.clone(), Some(at(30)));
        queue.rollback();
        assert_eq!((queue.get(&a), queue.next()), (Some(at(10)), Some(at(10))));
        assert_eq!(queue.take_due(at(15)), Some((at(10), a.clone())));
        queue.stage(a.clone(), Some(at(30)));
        queue.commit();
        assert_eq!(
            (queue.get(&a), queue.next(), queue.len()),
            (Some(at(30)), Some(at(20)), 2)
        );
    }

    #[test]
    fn a_moved_wakeup_leaves_no_stale_entry_behind() {
        let a = CaseKey::new("GM0150", "A");
        let mut queue = TimerQueue::new(vec![(at(10), a.clone())]);
        queue.stage(a.clone(), Some(at(50)));
        queue.commit();
        assert_eq!(queue.take_due(at(20)), None, "the entry at 10 is stale");
        assert_eq!(queue.next(), Some(at(50)));
        queue.stage(a.clone(), None);
        queue.commit();
        assert_eq!((queue.next(), queue.len()), (None, 0));
    }
}
