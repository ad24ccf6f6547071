//! The delivery workers: one task per channel that takes due deliveries from the scheduling
//! core, sends them through the channel, and reports each result back. Idle, a worker waits
//! for its bell, which the scheduler rings when something of its channel falls due (the dispatch
//! module). It lives beside the scheduler because it speaks the scheduler's commands; the channels
//! themselves know nothing of it.

use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::{Notify, oneshot, watch};

use super::Command;
use crate::delivery::Channel;

/// How many deliveries of one channel run at once.
const PARALLEL: usize = 16;

/// Delivers one channel until `stop` says so: takes due deliveries from the scheduler, sends them,
/// reports each result.
pub async fn run(
    name: String,
    channel: Channel,
    bell: Arc<Notify>,
    commands: mpsc::Sender<Command>,
    leadership: crate::leadership::Leadership,
    mut stop: watch::Receiver<bool>,
) {
    let channel = Arc::new(channel);
    loop {
        if *stop.borrow() {
            return;
        }
        let (reply, answer) = oneshot::channel();
        // A digest takes everything due at once, so each address gets one mail.
        let limit = match channel.as_ref() {
            Channel::Mail(mailer) if mailer.digest => 10_000,
            _ => PARALLEL as u32,
        };
        if commands
            .send(Command::TakeDue {
                channel: name.clone(),
                limit,
                reply,
            })
            .is_err()
        {
            return;
        }
        let Ok(due) = answer.await else { return };
        if due.is_empty() {
            // Idle until the scheduler rings, or stop.
            tokio::select! {
                _ = bell.notified() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        // Fencing: a lease that ran out while the batch waited (a pause, a lost connection)
        // sends nothing; the next leader sends it once the claim runs out.
        if !leadership.leads() {
            tracing::warn!(channel = %name, deliveries = due.len(), "the lease ran out before sending; left to the next leader");
            if commands
                .send(Command::Report {
                    channel: name.clone(),
                    results: Vec::new(),
                })
                .is_err()
            {
                return;
            }
            continue;
        }
        if let Channel::Mail(mailer) = channel.as_ref()
            && mailer.digest
        {
            let results = mailer.send_digest(&due).await;
            if commands
                .send(Command::Report {
                    channel: name.clone(),
                    results,
                })
                .is_err()
            {
                return;
            }
            continue;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for item in due {
            let channel = channel.clone();
            let leadership = leadership.clone();
            tasks.spawn(async move {
                // Asked again right before each send: the batch may have waited.
                if !leadership.leads() {
                    return None;
                }
                let attempt = channel.send(&item).await;
                Some((item.id, attempt))
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            // A send that panicked is a failed attempt, not a lost notification; its id is
            // released by the scheduler when the next batch is taken.
            if let Ok(Some(result)) = joined {
                results.push(result);
            }
        }
        if commands
            .send(Command::Report {
                channel: name.clone(),
                results,
            })
            .is_err()
        {
            return;
        }
    }
}
