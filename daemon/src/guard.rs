//! Requests without a valid token, for the API and the sign-in page alike: the brake on
//! guessing tokens (five wrong tokens from one address within a minute, and that address waits
//! a minute), and their audit lines, one per address and minute with a count.
//!
//! Anyone can send a wrong token, so a line per request would let anyone fill the audit log
//! (kept five years) and push the real lines out of a privacy officer's page. These lines
//! belong to no gemeente: the operator reads them with `waakvlam audit` on the server, a
//! gemeente's token never does.
//!
//! Time comes in as arguments (`Instant` for the brake, the wall clock's minute for the
//! lines), so the rules are tested without waiting.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::scheduler::Command;
use crate::store::AuditEntry;

/// How many wrong tokens within `FAILURE_WINDOW` make an address wait `FAILURE_WINDOW`.
pub const MOST_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; beyond it the oldest minute's counts are written at once, so a
/// flood from many addresses costs bounded memory.
const MOST_COUNTED: usize = 10_000;

/// The action of the audit lines written here.
pub const ACTION: &str = "requests without a valid token";

pub struct Guard {
    commands: mpsc::Sender<Command>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failures: HashMap<IpAddr, Failures>,
    /// (minute since the epoch, address) -> refused requests, not yet written.
    counts: BTreeMap<(i64, IpAddr), u64>,
}

#[derive(Default)]
struct Failures {
    recent: Vec<Instant>,
    blocked_until: Option<Instant>,
}

impl Guard {
    pub fn new(commands: mpsc::Sender<Command>) -> Guard {
        Guard {
            commands,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether an address must wait before it may try a token again.
    pub fn is_blocked(&self, address: IpAddr, now: Instant) -> bool {
        lock(&self.state)
            .failures
            .get(&address)
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// A request without a valid token (a wrong token counts towards the brake, `guess`; a
    /// missing one does not). Counted for the audit line of its address and minute; says
    /// whether the address is blocked from now on.
    pub fn refused(
        &self,
        address: IpAddr,
        guess: bool,
        now: Instant,
        wall: jiff::Timestamp,
    ) -> bool {
        let mut state = lock(&self.state);
        let minute = wall.as_second().div_euclid(60);
        *state.counts.entry((minute, address)).or_default() += 1;
        if state.counts.len() > MOST_COUNTED {
            let early = state.counts.pop_first();
            self.write(early.into_iter());
        }
        if !guess {
            return state
                .failures
                .get(&address)
                .and_then(|f| f.blocked_until)
                .is_some_and(|until| now < until);
        }
        state.failures.retain(|_, f| {
            f.blocked_until.is_some_and(|until| now < until)
                || f.recent
                    .iter()
                    .any(|t| now.duration_since(*t) < FAILURE_WINDOW)
        });
        let entry = state.failures.entry(address).or_default();
        entry
            .recent
            .retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        entry.recent.push(now);
        if entry.recent.len() >= MOST_FAILURES {
            entry.blocked_until = Some(now + FAILURE_WINDOW);
            entry.recent.clear();
        }
        entry.blocked_until.is_some_and(|until| now < until)
    }

    /// Writes the lines of the minutes before `wall`'s (all of them when `all`, at shutdown).
    pub fn flush(&self, wall: jiff::Timestamp, all: bool) {
        let current = wall.as_second().div_euclid(60);
        let mut state = lock(&self.state);
        let done: Vec<((i64, IpAddr), u64)> = if all {
            std::mem::take(&mut state.counts).into_iter().collect()
        } else {
            let later = state.counts.split_off(&(current, IpAddr::from([0u8; 4])));
            std::mem::replace(&mut state.counts, later)
                .into_iter()
                .collect()
        };
        self.write(done.into_iter());
    }

    fn write(&self, lines: impl Iterator<Item = ((i64, IpAddr), u64)>) {
        for ((minute, address), count) in lines {
            let at =
                jiff::Timestamp::from_second(minute * 60).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let entry = line(at, address, count);
            // The scheduler gone means the daemon stops; nothing else is lost with this line.
            let _ = self.commands.send(Command::Audit { entry });
        }
    }
}

/// The audit line of one address's refused requests in one minute.
fn line(minute: jiff::Timestamp, address: IpAddr, count: u64) -> AuditEntry {
    let times = if count == 1 {
        "once".to_string()
    } else {
        format!("{count} times")
    };
    AuditEntry {
        at: minute.to_string(),
        token: "-".into(),
        on_behalf_of: None,
        action: ACTION.into(),
        gemeente: None,
        case: None,
        outcome: format!("refused: 401 {times} from {address} in the minute from {minute}"),
    }
}

/// Writes the counted lines every ten seconds, for as long as the daemon runs, and the rest
/// when it stops.
pub async fn keep_writing(
    guard: std::sync::Arc<Guard>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => guard.flush(jiff::Timestamp::now(), false),
            _ = stop.changed() => {
                guard.flush(jiff::Timestamp::now(), true);
                return;
            }
        }
    }
}

/// A poisoned lock only means another request panicked while holding it; the maps are whole
/// (every change to them is one call), so go on with them.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(s: u64) -> Instant {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *START.get_or_init(Instant::now) + Duration::from_secs(s)
    }

    fn wall(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn five_wrong_tokens_in_a_minute_and_the_address_waits() {
        let (sender, _receiver) = mpsc::channel();
        let guard = Guard::new(sender);
        let address: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        for s in 0..4 {
            assert!(!guard.refused(address, true, seconds(s * 10), wall(0)));
        }
        assert!(guard.refused(address, true, seconds(50), wall(0)));
        assert!(guard.is_blocked(address, seconds(109)));
        assert!(!guard.is_blocked(other, seconds(60)));
        assert!(!guard.is_blocked(address, seconds(110)));
        // Slower than five a minute is never blocked; a missing token is no guess.
        for s in 0..10 {
            assert!(!guard.refused(other, true, seconds(200 + s * 20), wall(0)));
            assert!(!guard.refused(other, false, seconds(200 + s * 20), wall(0)));
        }
    }

    #[test]
    fn one_line_per_address_and_minute_with_a_count() {
        let (sender, receiver) = mpsc::channel();
        let guard = Guard::new(sender);
        let address: IpAddr = [192, 0, 2, 1].into();
        // 1,800,000,000 s is a whole minute: the counts below fall in one.
        let start = 1_800_000_000;
        for s in 0..3000 {
            guard.refused(
                address,
                true,
                seconds(0),
                jiff::Timestamp::from_second(start + s % 60).unwrap(),
            );
        }
        guard.refused(
            address,
            true,
            seconds(0),
            jiff::Timestamp::from_second(start + 61).unwrap(),
        );
        guard.flush(jiff::Timestamp::from_second(start + 70).unwrap(), false);
        let lines: Vec<AuditEntry> = receiver
            .try_iter()
            .map(|c| match c {
                Command::Audit { entry } => entry,
                _ => panic!("only audit lines"),
            })
            .collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].gemeente, None);
        assert_eq!(lines[0].action, ACTION);
        assert!(
            lines[0]
                .outcome
                .starts_with("refused: 401 3000 times from 192.0.2.1 in the minute from"),
            "{}",
            lines[0].outcome
        );
        guard.flush(jiff::Timestamp::from_second(start + 70).unwrap(), true);
        let last: Vec<_> = receiver.try_iter().collect();
        assert_eq!(last.len(), 1);
    }
}
