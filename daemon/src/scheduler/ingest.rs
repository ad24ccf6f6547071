//! What changes cases: a group of event requests taken in one batch (hook calls answered per
//! plugin at once, the cases' deadlines refreshed), and the timers that fell due.

use super::*;

impl<S: Store> Scheduler<S> {
    /// New events are applied to the engine and stored with the notifications they cause and
    /// the cases' new deadlines and timers, all requests of the group in one transaction,
    /// before any caller hears "accepted". An event for a case that is out of service is
    /// refused, and the others go on.
    pub(super) fn ingest(&mut self, group: Vec<Ingest>) {
        let events: usize = group.iter().map(|r| r.events.len()).sum();
        let _span = tracing::info_span!("ingest", requests = group.len(), events).entered();
        let now = self.clock.now();
        let result = self.in_batch(|core, batch| {
            core.take_cases(
                group
                    .iter()
                    .flat_map(|r| &r.events)
                    .map(|e| CaseKey::new(&e.gemeente, &e.case)),
            )?;
            let ids: Vec<(&str, &str)> = group
                .iter()
                .flat_map(|r| &r.events)
                .map(|e| (e.gemeente.as_str(), e.id.as_str()))
                .collect();
            core.store.look_up_events(&ids)?;
            let mut outcomes = Vec::with_capacity(group.len());
            let mut notifications = Vec::new();
            let mut hook_calls = Vec::new();
            for request in &group {
                let mut answer = Vec::with_capacity(request.events.len());
                for event in &request.events {
                    answer.push(core.take_event(
                        event,
                        now,
                        batch,
                        &mut notifications,
                        &mut hook_calls,
                    )?);
                }
                for entry in &request.audit {
                    core.store.audit(entry)?;
                }
                outcomes.push(answer);
            }
            notifications.extend(core.answer_hooks(hook_calls)?);
            batch.lines.extend(core.record(&notifications, now)?);
            let mut touched = batch.touched.clone();
            touched.sort();
            touched.dedup();
            for key in &touched {
                core.refresh(key, now)?;
            }
            Ok(outcomes)
        });
        match result {
            Ok((outcomes, lines)) => {
                // The events are durable: the senders hear so before the log is written,
                // which is delivery, not acknowledgement, and costs a sync of its own.
                for (request, answer) in group.into_iter().zip(outcomes) {
                    let _ = request.reply.send(Ok(answer));
                }
                self.write_log(lines, now);
            }
            Err(err) => {
                tracing::error!(cause = %err, "storing events failed; none of the batch was taken");
                let message = err.to_string();
                for request in group {
                    let _ = request
                        .reply
                        .send(Err(SchedulerError::NotStored(message.clone())));
                }
            }
        }
    }

    /// One event of a batch: stored (or found a duplicate) and applied to its case; what it
    /// sends and the hook calls it makes are collected for the batch.
    pub(super) fn take_event(
        &mut self,
        event: &Event,
        now: Timestamp,
        batch: &mut Batch,
        notifications: &mut Vec<Notification>,
        hook_calls: &mut Vec<(CaseKey, Vec<HookCall>)>,
    ) -> Result<Outcome, StoreError> {
        let key = CaseKey::new(&event.gemeente, &event.case);
        // Load the case before its new event is stored, or the replay would count the event
        // twice.
        match self.cases.load(&key, &self.engine, &self.store) {
            Ok(_) => {}
            Err(damaged @ StoreError::Damaged { .. }) => {
                return Ok(Outcome::Refused(format!(
                    "{damaged}; the case is out of service until the store is repaired, and this event was not taken"
                )));
            }
            Err(err) => return Err(err),
        }
        if !self.store.insert_event(event, now)? {
            return Ok(Outcome::Duplicate);
        }
        // An event from the future (a sender's clock ahead) counts as happening now.
        let applied = Event {
            at: event.at.min(now),
            ..event.clone()
        };
        let case = self.cases.load(&key, &self.engine, &self.store)?;
        notifications.extend(case.apply_later(&self.engine, applied, now));
        let calls = case.take_hook_calls();
        if !calls.is_empty() {
            hook_calls.push((key.clone(), calls));
        }
        batch.touched.push(key);
        Ok(Outcome::Accepted)
    }

    /// The hook calls of a batch's cases, answered together: the plugins get each gemeente's
    /// in one handoff, which is most of what they would otherwise cost the batch. Returns the
    /// signals they raise.
    pub(super) fn answer_hooks(
        &mut self,
        calls: Vec<(CaseKey, Vec<HookCall>)>,
    ) -> Result<Vec<Notification>, StoreError> {
        let asked: Vec<&HookCall> = calls.iter().flat_map(|(_, c)| c).collect();
        let mut answers = self.engine.answer_hooks(&asked).into_iter();
        let mut signals = Vec::new();
        for (key, case_calls) in calls {
            let case_answers = answers.by_ref().take(case_calls.len()).collect();
            let case = self.cases.load(&key, &self.engine, &self.store)?;
            signals.extend(case.hooks_answered(case_calls, case_answers));
        }
        Ok(signals)
    }

    /// Stores the case's deadlines for queries and its next wakeup; the timer in memory
    /// follows once the batch is committed.
    pub(super) fn refresh(
        &mut self,
        key: &CaseKey,
        now: Timestamp,
    ) -> Result<Vec<DeadlineRow>, StoreError> {
        let Some(case) = self.cases.get(key) else {
            return Ok(Vec::new());
        };
        let rows = case.deadlines(&self.engine, now);
        let wake = case.next_wakeup();
        // Most wakeups change no deadline (a reminder went out): skip the rewrite then.
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::hash::DefaultHasher::new();
            for row in &rows {
                (
                    &row.instance,
                    &row.deadline,
                    row.occurrence,
                    &row.due,
                    &row.status,
                    row.calendar,
                )
                    .hash(&mut hasher);
            }
            hasher.finish()
        };
        if self.cases.needs_write(key, fingerprint) {
            self.store.put_deadlines(key, &rows)?;
        }
        // Sharing the store, another daemon may have moved the stored timer: always write.
        if self.shared || self.timers.get(key) != wake {
            self.store.set_timer(key, wake)?;
            self.timers.stage(key.clone(), wake);
        }
        Ok(rows)
    }

    /// Fires due timers, at most a round of them in one transaction; true if more are due.
    /// A timer whose case is out of service is left aside (logged once, counted), and the
    /// others fire.
    pub(super) fn fire_timers(&mut self, now: Timestamp) -> bool {
        if self.timers.next().is_none_or(|m| m > now) {
            return false;
        }
        let _span = tracing::info_span!("timer_round").entered();
        let result = self.in_batch(|core, batch| {
            let mut due = Vec::new();
            while due.len() < TIMERS_PER_ROUND
                && let Some(timer) = core.timers.take_due(now)
            {
                due.push(timer);
            }
            core.take_cases(due.iter().map(|(_, key)| key.clone()))?;
            for (moment, key) in due {
                // Fire at the timer's own moment, so a jump of the clock sends each reminder
                // as it would have gone out, in order.
                match core.recompute(&key, moment, batch) {
                    Ok(_) => {}
                    Err(StoreError::Damaged { .. }) => continue,
                    Err(err) => return Err(err),
                }
                core.metrics
                    .timer_lateness
                    .observe((now.as_millisecond() - moment.as_millisecond()) as f64 / 1000.0);
            }
            Ok(())
        });
        match result {
            Ok(((), lines)) => self.write_log(lines, now),
            Err(err) => {
                tracing::error!(cause = %err, "firing timers failed; they fire again");
                return false;
            }
        }
        self.timers.next().is_some_and(|m| m <= now)
    }
}
