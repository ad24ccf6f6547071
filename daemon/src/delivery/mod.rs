//! Delivery: which channels a notification goes to, how failures are retried, and the workers
//! that deliver webhooks and e-mail. The `log` channel is delivered by the scheduler itself (`log`).
//!
//! A worker asks the scheduler for its due deliveries, sends them (several at once), and reports
//! each result back; the scheduler, the only writer, records it. Every notification stays in the
//! outbox until each of its channels delivered it or gave up on it (dead letter, shown by the
//! API and the metrics): nothing is dropped silently.

pub mod log;
mod mail;
mod webhook;

use jiff::Timestamp;

use crate::config::DaemonConfig;
use crate::store::{Due, Route};
use waakvlam_core::calendar;
use waakvlam_core::engine::{Kind, Notification};

pub use mail::Mailer;
pub use webhook::{Webhook, signature};

pub const LOG: &str = "log";
pub const SMTP: &str = "smtp";

/// Which channels deliver which notifications, and from when.
#[derive(Clone, Debug, Default)]
pub struct Routing {
    /// (channel name, the gemeenten it serves)
    webhooks: Vec<(String, crate::scope::Scope)>,
    smtp: bool,
    /// E-mail once a day at this hour instead of one mail per notification.
    digest_hour: Option<u8>,
}

impl Routing {
    pub fn new(daemon: &DaemonConfig) -> Routing {
        Routing {
            webhooks: daemon
                .webhooks
                .iter()
                .map(|w| (webhook_channel(&w.name), w.gemeenten.clone()))
                .collect(),
            smtp: daemon.smtp.is_some(),
            digest_hour: daemon.smtp.as_ref().and_then(|s| s.digest_hour),
        }
    }

    pub fn channels(&self, notification: &Notification) -> Vec<Route> {
        let now = |channel: &str| Route {
            channel: channel.to_string(),
            not_before: notification.at,
        };
        let mut routes = vec![now(LOG)];
        for (channel, gemeenten) in &self.webhooks {
            if gemeenten.contains(&notification.gemeente) {
                routes.push(now(channel));
            }
        }
        if self.smtp {
            routes.push(match self.digest_hour {
                // Signals are urgent, and an overview or a report is a list of its own: none
                // waits for the digest.
                Some(hour)
                    if !matches!(
                        notification.kind,
                        Kind::Signal | Kind::Overview | Kind::Report
                    ) =>
                {
                    Route {
                        channel: SMTP.to_string(),
                        not_before: next_digest(notification.at, hour),
                    }
                }
                _ => now(SMTP),
            });
        }
        routes
    }
}

/// The first digest moment at or after `at`: `hour`:00 Amsterdam time that day or the next.
pub fn next_digest(at: Timestamp, hour: u8) -> Timestamp {
    let day = calendar::local_day(at);
    let today = calendar::send_moment(day, hour);
    if today >= at {
        today
    } else {
        calendar::send_moment(day.add_days(1), hour)
    }
}

pub fn webhook_channel(name: &str) -> String {
    format!("webhook:{name}")
}

/// How a channel retries: exponential backoff from `base`, capped, up to `max_attempts`.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_seconds: i64,
    pub cap_seconds: i64,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_seconds: 30,
            cap_seconds: 3600,
        }
    }

    /// When to try again after the `attempts`-th failed attempt, or `None` to give up.
    pub fn retry_at(&self, attempts: u32, now: Timestamp) -> Option<Timestamp> {
        if attempts >= self.max_attempts {
            return None;
        }
        let delay = self
            .base_seconds
            .saturating_mul(1 << attempts.saturating_sub(1).min(20))
            .min(self.cap_seconds);
        Timestamp::from_second(now.as_second() + delay).ok()
    }
}

/// The result of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again later (a timeout, a 500).
    Failed(String),
    /// Will never work (no address for the role): straight to the dead letters.
    Impossible(String),
}

/// A channel a worker delivers to.
pub enum Channel {
    Webhook(Webhook),
    Mail(Box<Mailer>),
}

impl Channel {
    pub async fn send(&self, due: &Due) -> Attempt {
        match self {
            Channel::Webhook(webhook) => webhook.send(due).await,
            Channel::Mail(mailer) => mailer.send(due).await,
        }
    }
}
