//! A plugin's health: failures in a row put it aside, and a plugin put aside is tried again
//! after a backoff (30 s by default, doubling up to an hour), so that one that recovers comes
//! back. Pure: every change is given the moment it happens.

use std::time::{Duration, Instant};

/// How many failures in a row put a plugin aside.
pub const FAILURES_TO_PUT_ASIDE: u32 = 3;
/// The longest a plugin waits before it is tried again.
pub const LONGEST_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub struct Health {
    failures_in_a_row: u32,
    aside: Option<Aside>,
    /// The first wait before a plugin put aside is tried again.
    first_backoff: Duration,
    /// The wait after the last time it was put aside; doubled each time, reset by success.
    backoff: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Aside {
    reason: String,
    until: Instant,
}

/// What an outcome did to the plugin's standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    None,
    /// Put aside, until the moment it is tried again.
    PutAside {
        reason: String,
        retry_in: Duration,
    },
    /// It answered after it had been put aside.
    Recovered,
}

impl Health {
    pub fn new(first_backoff: Duration) -> Health {
        Health {
            failures_in_a_row: 0,
            aside: None,
            first_backoff,
            backoff: None,
        }
    }

    /// Why the plugin is put aside, while it waits to be tried again.
    pub fn aside(&self, now: Instant) -> Option<&str> {
        self.aside
            .as_ref()
            .filter(|aside| now < aside.until)
            .map(|aside| aside.reason.as_str())
    }

    /// Why it was put aside last, also once its wait is over (for the metrics and the tests).
    pub fn last_reason(&self) -> Option<&str> {
        self.aside.as_ref().map(|aside| aside.reason.as_str())
    }

    /// An answer: the plugin is well.
    pub fn succeeded(&mut self) -> Change {
        self.failures_in_a_row = 0;
        self.backoff = None;
        match self.aside.take() {
            Some(_) => Change::Recovered,
            None => Change::None,
        }
    }

    /// A failure; enough in a row put the plugin aside.
    pub fn failed(&mut self, cause: &str, now: Instant) -> Change {
        self.failures_in_a_row += 1;
        if self.failures_in_a_row < FAILURES_TO_PUT_ASIDE || self.aside(now).is_some() {
            return Change::None;
        }
        self.put_aside(
            format!("{FAILURES_TO_PUT_ASIDE} failures in a row, the last: {cause}"),
            now,
        )
    }

    /// Puts the plugin aside at once (it does not answer at all).
    pub fn put_aside(&mut self, reason: String, now: Instant) -> Change {
        let backoff = self
            .backoff
            .map_or(self.first_backoff, |last| (last * 2).min(LONGEST_BACKOFF));
        self.backoff = Some(backoff);
        self.aside = Some(Aside {
            reason: reason.clone(),
            until: now + backoff,
        });
        Change::PutAside {
            reason,
            retry_in: backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_failures_put_it_aside_and_it_comes_back_after_the_backoff() {
        let start = Instant::now();
        let mut health = Health::new(Duration::from_secs(30));
        assert_eq!(health.failed("a", start), Change::None);
        assert_eq!(health.failed("b", start), Change::None);
        assert_eq!(
            health.failed("c", start),
            Change::PutAside {
                reason: "3 failures in a row, the last: c".into(),
                retry_in: Duration::from_secs(30)
            }
        );
        assert!(health.aside(start + Duration::from_secs(29)).is_some());
        assert_eq!(
            health.aside(start + Duration::from_secs(30)),
            None,
            "tried again"
        );
        // The retry fails too: aside again, twice as long.
        let later = start + Duration::from_secs(30);
        assert_eq!(
            health.failed("d", later),
            Change::PutAside {
                reason: "3 failures in a row, the last: d".into(),
                retry_in: Duration::from_secs(60)
            }
        );
        assert_eq!(health.succeeded(), Change::Recovered);
        assert_eq!(health.aside(later), None);
        assert_eq!(
            health.failed("e", later),
            Change::None,
            "the count starts again"
        );
    }

    #[test]
    fn the_backoff_doubles_up_to_an_hour() {
        let now = Instant::now();
        let mut health = Health::new(Duration::from_secs(30));
        let waits: Vec<Duration> = (0..10)
            .map(|_| match health.put_aside("hangs".into(), now) {
                Change::PutAside { retry_in, .. } => retry_in,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(waits[..4], [30, 60, 120, 240].map(Duration::from_secs));
        assert_eq!(waits[9], LONGEST_BACKOFF);
    }
}
