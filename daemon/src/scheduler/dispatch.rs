//! What the scheduler knows of delivery besides the store: where each notification goes, how
//! often a channel tries again, which deliveries a worker has in hand, and when each worker
//! must look at the outbox again. A worker is woken then (its bell), it does not poll: the
//! core owns the time, virtual or not, so it alone can say when something falls due.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::Notify;

use super::Sent;
use crate::delivery::{RetryPolicy, Routing};

/// The bell of each delivery worker, by channel name: made before the scheduler and its workers,
/// one end to each.
pub type Bells = HashMap<String, Arc<Notify>>;

/// A bell for each of `channels`.
pub fn bells<'a>(channels: impl IntoIterator<Item = &'a str>) -> Bells {
    channels
        .into_iter()
        .map(|name| (name.to_string(), Arc::new(Notify::new())))
        .collect()
}

pub(super) struct Dispatch {
    pub routing: Routing,
    /// Retry policy per channel; channels without one use the default.
    pub policies: HashMap<String, RetryPolicy>,
    /// Deliveries handed to a worker and not reported yet, with their attempts so far.
    pub in_flight: HashMap<(String, String), Sent>,
    /// Per worker: its bell, and when to ring it (none: nothing is known to fall due).
    wake: HashMap<String, (Arc<Notify>, Option<Timestamp>)>,
    /// When a shared core last looked at the outbox for what other daemons recorded.
    pub outbox_looked: Option<std::time::Instant>,
}

impl Dispatch {
    /// Every worker looks at the outbox once at `now` (what was left from before a restart).
    pub fn new(
        routing: Routing,
        policies: HashMap<String, RetryPolicy>,
        bells: Bells,
        now: Timestamp,
    ) -> Dispatch {
        Dispatch {
            routing,
            policies,
            in_flight: HashMap::new(),
            wake: bells
                .into_iter()
                .map(|(name, bell)| (name, (bell, Some(now))))
                .collect(),
            outbox_looked: None,
        }
    }

    pub fn policy(&self, channel: &str) -> RetryPolicy {
        self.policies
            .get(channel)
            .copied()
            .unwrap_or(RetryPolicy::new(8))
    }

    /// Something of `channel` falls due at `at`: its worker is woken then at the latest.
    pub fn due_by(&mut self, channel: &str, at: Timestamp) {
        if let Some((_, when)) = self.wake.get_mut(channel) {
            *when = Some(when.map_or(at, |known| known.min(at)));
        }
    }

    /// Every worker looks at the outbox by `at` (other daemons record notifications too).
    pub fn all_due_by(&mut self, at: Timestamp) {
        let names: Vec<String> = self.wake.keys().cloned().collect();
        for name in names {
            self.due_by(&name, at);
        }
    }

    /// After a worker took what was due: it is woken next at `next` (the store's next pending
    /// delivery of its channel), unless something earlier was announced meanwhile.
    pub fn next_for(&mut self, channel: &str, next: Option<Timestamp>) {
        if let Some((_, when)) = self.wake.get_mut(channel) {
            *when = next;
        }
    }

    /// Rings the bells whose moment has come. A bell rung while its worker is busy keeps the
    /// ring (a `Notify` permit), so none is lost.
    pub fn ring(&mut self, now: Timestamp) {
        for (bell, when) in self.wake.values_mut() {
            if when.is_some_and(|at| at <= now) {
                *when = None;
                bell.notify_one();
            }
        }
    }

    /// The earliest moment a bell is to ring.
    pub fn next(&self) -> Option<Timestamp> {
        self.wake.values().filter_map(|(_, when)| *when).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// A bell rings when its moment comes and not before; the earliest announcement wins; a
    /// ring while the worker is busy is kept for it.
    #[test]
    fn a_worker_is_woken_when_something_falls_due_and_not_before() {
        let bells = bells(["webhook:a", "smtp"]);
        let start = at("2027-04-13T08:00:00Z");
        let mut dispatch = Dispatch::new(Routing::default(), HashMap::new(), bells.clone(), start);
        // At start every worker looks once.
        assert_eq!(dispatch.next(), Some(start));
        dispatch.ring(start);
        assert_eq!(dispatch.next(), None);
        let permit = |name: &str| {
            let bell = bells[name].clone();
            ready_at_once(async move { bell.notified().await })
        };
        assert!(permit("webhook:a") && permit("smtp"), "both were rung");
        assert!(!permit("smtp"), "a bell rings once per ring");

        dispatch.due_by("smtp", at("2027-04-13T09:00:00Z"));
        dispatch.due_by("smtp", at("2027-04-13T08:30:00Z"));
        assert_eq!(dispatch.next(), Some(at("2027-04-13T08:30:00Z")));
        dispatch.ring(at("2027-04-13T08:29:59Z"));
        assert!(!permit("smtp"), "not before its moment");
        dispatch.ring(at("2027-04-13T08:30:00Z"));
        assert!(permit("smtp"));
        assert!(
            !permit("webhook:a"),
            "only the channel that has something due"
        );

        // After a take, the store's next delivery decides; an unknown channel changes nothing.
        dispatch.next_for("webhook:a", Some(at("2027-04-14T07:00:00Z")));
        dispatch.due_by("log", start);
        assert_eq!(dispatch.next(), Some(at("2027-04-14T07:00:00Z")));
        dispatch.all_due_by(at("2027-04-13T10:00:00Z"));
        assert_eq!(dispatch.next(), Some(at("2027-04-13T10:00:00Z")));
    }

    /// Whether the future is ready at once (a stored `Notify` permit), without a runtime.
    fn ready_at_once(future: impl std::future::Future<Output = ()>) -> bool {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        future.as_mut().poll(&mut context).is_ready()
    }
}
