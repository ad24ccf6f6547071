//! The scheduler's side of delivery: notifications recorded in the batch that made them, the log
//! channel written straight after the commit, and the other channels' deliveries handed to
//! their workers and settled (delivered, retried with backoff, or a dead letter).

use super::*;

impl<S: Store> Scheduler<S> {
    /// Records notifications in the outbox with the channels that must deliver them, inside
    /// the caller's transaction. Returns the new ones the log channel can write at once,
    /// after the commit.
    pub(super) fn record(
        &mut self,
        notifications: &[Notification],
        now: Timestamp,
    ) -> Result<Vec<Line>, StoreError> {
        let outgoing: Vec<Outgoing<'_>> = notifications
            .iter()
            .map(|n| Outgoing {
                notification: n,
                record: serde_json::to_string(n).expect("a notification always serialises"),
                channels: self.dispatch.routing.channels(n),
            })
            .collect();
        let new = self.store.record(&outgoing)?;
        let mut lines = Vec::new();
        for (outgoing, new) in outgoing.into_iter().zip(new) {
            let to_log = outgoing
                .channels
                .iter()
                .find(|r| r.channel == delivery::LOG);
            match to_log {
                // Sharing the work, the leader writes the log from the outbox, claimed.
                Some(route) if new && route.not_before <= now && !self.shared => lines.push(Line {
                    id: outgoing.notification.id.clone(),
                    record: outgoing.record,
                    at: outgoing.notification.at,
                }),
                Some(route) if new => self.log.look_at_outbox_by(route.not_before),
                _ => {}
            }
            if new {
                for route in outgoing
                    .channels
                    .iter()
                    .filter(|r| r.channel != delivery::LOG)
                {
                    self.dispatch.due_by(&route.channel, route.not_before);
                }
            }
        }
        Ok(lines)
    }

    /// Writes the log lines of notifications whose recording is committed.
    pub(super) fn write_log(&mut self, lines: Vec<Line>, now: Timestamp) {
        match self.log.write_lines(lines, now) {
            Ok(lateness) => lateness
                .into_iter()
                .for_each(|late| self.metrics.delivery_latency.observe(late)),
            Err(err) => {
                // They stay pending in the outbox: delivered from there, the attempt counted.
                tracing::error!(cause = %err, "writing the notifications log failed");
                self.log.look_at_outbox_by(now);
            }
        }
    }

    /// After a rotation (`mv` of the notifications log, then SIGHUP): what was written to the
    /// old file is marked delivered first, in a transaction of its own, so none of it is
    /// written again; then the configured path is opened anew. If it cannot be, the old file
    /// stays in use.
    pub(super) fn reopen_log(&mut self) {
        self.mark_logged();
        if self.log.has_unmarked() {
            tracing::error!(
                "the notifications log is not reopened: its last lines could not be marked delivered"
            );
            return;
        }
        let path = self.log.configured().to_path_buf();
        match LogChannel::open(&path, &mut self.store, self.clock.now()) {
            Ok((log, recovered)) => {
                self.log = log;
                // The store's position named the old file under the same path: it must name
                // the new one before a line goes into it, or a crash would read the new file
                // from the old file's length and write its first lines again.
                let recorded = self.in_batch(|core, _| {
                    let (name, bytes) = core.log.position();
                    let name = name.to_string();
                    core.store.set_log_position(&name, bytes)
                });
                if let Err(err) = recorded {
                    tracing::error!(cause = %err, "the notifications log's new position cannot be stored");
                }
                tracing::info!(path = %path.display(), lines_recovered = recovered.lines, "notifications log reopened");
            }
            Err(err) => {
                tracing::error!(path = %path.display(), cause = %err, "the notifications log cannot be reopened; the old file stays in use");
            }
        }
    }

    /// Marks written log lines delivered in a transaction of their own, when no other comes
    /// soon or before something reads the outbox.
    pub(super) fn mark_logged(&mut self) {
        if !self.log.has_unmarked() {
            return;
        }
        if let Err(err) = self.in_batch(|_, _| Ok(())) {
            tracing::error!(cause = %err, "marking log deliveries failed");
        }
    }

    /// Records how a delivery attempt went: delivered, retried later with backoff, or dead.
    pub(super) fn settle_attempt(
        &mut self,
        channel: &str,
        id: &str,
        sent: Sent,
        attempt: Attempt,
        now: Timestamp,
    ) {
        let attempts_before = sent.attempts;
        let result = match attempt {
            Attempt::Delivered => {
                if let Some(at) = sent.at {
                    self.metrics
                        .delivery_latency
                        .observe((now.as_millisecond() - at.as_millisecond()) as f64 / 1000.0);
                }
                self.store.delivered(id, channel, now)
            }
            Attempt::Failed(error) => {
                let retry_at = self
                    .dispatch
                    .policy(channel)
                    .retry_at(attempts_before + 1, now);
                if let Some(retry_at) = retry_at {
                    self.dispatch.due_by(channel, retry_at);
                    tracing::warn!(
                        channel,
                        notification = id,
                        attempt = attempts_before + 1,
                        retry_at = %waakvlam_core::calendar::format_timestamp(retry_at),
                        cause = %error,
                        "delivery failed; tried again later"
                    );
                }
                if retry_at.is_none() {
                    tracing::warn!(
                        channel,
                        notification = id,
                        cause = %error,
                        "delivery gave up: dead letter"
                    );
                }
                self.store.failed(id, channel, &error, retry_at)
            }
            Attempt::Impossible(error) => {
                tracing::warn!(
                    channel,
                    notification = id,
                    cause = %error,
                    "delivery impossible: dead letter"
                );
                self.store.failed(id, channel, &error, None)
            }
        };
        if let Err(err) = result {
            tracing::error!(cause = %err, "recording a delivery failed");
        }
    }

    /// The log channel's deliveries from the outbox: what the direct path after each commit
    /// did not take (a failed write, a restart, a retry). Looked at only when something may be
    /// due; a crash between the write and the mark writes it again, with the same id.
    pub(super) fn deliver(&mut self, now: Timestamp) {
        if !self.log.should_check(now) {
            return;
        }
        // Lines written already are marked first, so the outbox does not offer them again.
        self.mark_logged();
        if self.log.has_unmarked() {
            return;
        }
        let batch = match self.store.due(delivery::LOG, now, 5000) {
            Ok(batch) => batch,
            Err(err) => return tracing::error!(cause = %err, "reading the outbox failed"),
        };
        self.settle_unreadable(delivery::LOG, &batch.unreadable, now);
        let due = self.claimed(delivery::LOG, batch.due);
        if !due.is_empty() {
            let lines = due
                .iter()
                .map(|item| Line {
                    id: item.id.clone(),
                    record: serde_json::to_string(&item.record)
                        .expect("a notification always serialises"),
                    at: item.record.at,
                })
                .collect();
            match self.log.write_lines(lines, now) {
                Ok(lateness) => {
                    lateness
                        .into_iter()
                        .for_each(|late| self.metrics.delivery_latency.observe(late));
                    self.mark_logged();
                }
                Err(err) => {
                    let settled = self.in_batch(|core, _| {
                        for item in due {
                            let sent = Sent {
                                attempts: item.attempts,
                                at: Some(item.record.at),
                            };
                            let attempt = Attempt::Failed(err.to_string());
                            core.settle_attempt(delivery::LOG, &item.id, sent, attempt, now);
                        }
                        Ok(())
                    });
                    if let Err(err) = settled {
                        tracing::error!(cause = %err, "recording deliveries failed");
                    }
                }
            }
        }
        match self.store.next_due(delivery::LOG) {
            Ok(next) => self.log.check_from(next),
            Err(err) => tracing::error!(cause = %err, "reading the outbox failed"),
        }
    }

    /// Notifications whose stored record cannot be read become dead letters that say so:
    /// delivering nothing in their place would be worse.
    pub(super) fn settle_unreadable(&mut self, channel: &str, ids: &[String], now: Timestamp) {
        for id in ids {
            let sent = Sent {
                attempts: 0,
                at: None,
            };
            let attempt = Attempt::Impossible("its stored record cannot be read".into());
            self.settle_attempt(channel, id, sent, attempt, now);
        }
    }

    /// Hands a worker its due deliveries, leaving out those another batch still carries.
    /// Sets when the worker is woken next: at once if the batch is full (it comes back on
    /// its own), else when the store's next delivery of the channel falls due.
    pub(super) fn take_due(&mut self, channel: &str, limit: u32) -> Vec<Due> {
        let now = self.clock.now();
        if !self.leadership.leads() {
            // Rung when this daemon leads (only a leader rings).
            self.dispatch.next_for(channel, Some(now));
            return Vec::new();
        }
        let taken = self.take_due_now(channel, limit, now);
        if taken.len() < limit as usize {
            let next = match self.store.next_due(channel) {
                // Due but not taken (claimed by another daemon, or in hand): look again in a
                // second rather than at once.
                Ok(Some(at)) if at <= now => Some(now + StdDuration::from_secs(1)),
                Ok(next) => next,
                Err(err) => {
                    tracing::error!(cause = %err, "reading the outbox failed");
                    Some(now + StdDuration::from_secs(1))
                }
            };
            self.dispatch.next_for(channel, next);
        }
        taken
    }

    fn take_due_now(&mut self, channel: &str, limit: u32, now: Timestamp) -> Vec<Due> {
        let batch = match self
            .store
            .due(channel, now, limit + self.dispatch.in_flight.len() as u32)
        {
            Ok(batch) => batch,
            Err(err) => {
                tracing::error!(cause = %err, "reading the outbox failed");
                return Vec::new();
            }
        };
        self.settle_unreadable(channel, &batch.unreadable, now);
        let due = batch.due;
        let mut taken = Vec::new();
        for item in due {
            let key = (channel.to_string(), item.id.clone());
            if taken.len() < limit as usize && !self.dispatch.in_flight.contains_key(&key) {
                self.dispatch.in_flight.insert(
                    key,
                    Sent {
                        attempts: item.attempts,
                        at: Some(item.record.at),
                    },
                );
                taken.push(item);
            }
        }
        let ids: Vec<String> = taken.iter().map(|d| d.id.clone()).collect();
        let claimed = self.claimed(channel, taken);
        for id in ids {
            if !claimed.iter().any(|d| d.id == id) {
                self.dispatch.in_flight.remove(&(channel.to_string(), id));
            }
        }
        claimed
    }

    pub(super) fn report(&mut self, channel: &str, results: Vec<(String, Attempt)>) {
        let now = self.clock.now();
        for (id, attempt) in results {
            let sent = self
                .dispatch
                .in_flight
                .remove(&(channel.to_string(), id.clone()))
                .unwrap_or(Sent {
                    attempts: 0,
                    at: None,
                });
            self.settle_attempt(channel, &id, sent, attempt, now);
        }
        // A batch whose worker lost track of some (a panicking send) releases them here.
        self.dispatch.in_flight.retain(|(c, _), _| c != channel);
    }
}
