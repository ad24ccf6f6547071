//! What the web pages ask of the scheduler beyond the API's reads: the audit line of a read done
//! beside the scheduler (the overview and the deadline list read on connections of their own), a
//! case with why its dates moved and what it sends next, a dead letter sent again, and the
//! calendar feeds. Every read of case data is audited before it is answered, as in the API.

use jiff::Timestamp;
use tokio::sync::oneshot;

use super::{CaseDeadline, CaseView, Reply, Scheduler, SchedulerError};
use crate::delivery;
use crate::scope::Scope;
use crate::store::{AuditEntry, CaseKey, DeadlineRow, Feed, Filter, Store};
use waakvlam_core::calendar::{Day, local_day};
use waakvlam_core::engine::{Explanations, MovedDeadline, Notification};

/// How far ahead a case page looks for what comes next, and how much it shows.
const FORECAST_DAYS: i64 = 400;
const FORECAST_MOST: usize = 12;

pub enum PageCommand {
    /// Writes the audit lines of a read that the asker then does on a reader of its own, and
    /// answers the daemon's time (the reader's "today").
    Audited {
        audit: Vec<AuditEntry>,
        reply: Reply<Timestamp>,
    },
    Case {
        key: CaseKey,
        audit: AuditEntry,
        reply: Reply<Option<CasePage>>,
    },
    SendAgain {
        id: String,
        scope: Scope,
        audit: Vec<AuditEntry>,
        reply: Reply<Vec<String>>,
    },
    AddFeed {
        token_sha256: String,
        feed: Feed,
        audit: Vec<AuditEntry>,
        reply: Reply<i64>,
    },
    Feeds {
        scope: Scope,
        reply: Reply<Vec<Feed>>,
    },
    RevokeFeed {
        id: i64,
        scope: Scope,
        audit: Vec<AuditEntry>,
        reply: Reply<bool>,
    },
    /// The feed of a token: no case data, so not audited.
    FeedOfToken {
        token_sha256: String,
        reply: Reply<Option<Feed>>,
    },
    FeedDeadlines {
        scope: Scope,
        deadlines: Vec<(String, String)>,
        limit: u32,
        audit: Vec<AuditEntry>,
        reply: Reply<FeedRows>,
    },
    /// What day it is for the daemon (its clock may be virtual).
    Today { reply: oneshot::Sender<Timestamp> },
}

/// A feed's deadlines.
#[derive(Clone, Debug)]
pub struct FeedRows {
    pub now: Timestamp,
    pub rows: Vec<FeedRow>,
}

/// A deadline of a feed, with the moment of its first reminder (the calendar's alarm) and how
/// its due date came about (the event's description).
#[derive(Clone, Debug)]
pub struct FeedRow {
    pub row: DeadlineRow,
    pub alarm: Option<Timestamp>,
    pub explanation: Vec<String>,
}

/// One case as its page shows it.
#[derive(Clone, Debug)]
pub struct CasePage {
    pub today: Day,
    pub view: CaseView,
    pub moved: Vec<MovedDeadline>,
    /// What it sends next if nothing else happens, in order.
    pub upcoming: Vec<Notification>,
}

impl<S: Store> Scheduler<S> {
    pub(super) fn handle_page(&mut self, command: PageCommand) {
        let now = self.clock.now();
        match command {
            PageCommand::Audited { audit, reply } => {
                let _ = reply.send(self.audited_read(&audit, |_| Ok(now)));
            }
            PageCommand::Case { key, audit, reply } => {
                let _ = reply.send(self.case_page(&key, &audit, now));
            }
            PageCommand::SendAgain {
                id,
                scope,
                audit,
                reply,
            } => {
                // The lines say what came of it: a notification that is no dead letter of the
                // token's gemeenten is a refusal, not an access.
                let result = self.in_batch(|core, _| {
                    let channels = core.store.send_again(&id, &scope, now)?;
                    for line in &audit {
                        let outcome = if channels.is_empty() {
                            "refused: 409 not a dead letter of these gemeenten".to_string()
                        } else {
                            line.outcome.clone()
                        };
                        core.store.audit(&AuditEntry {
                            outcome,
                            ..line.clone()
                        })?;
                    }
                    Ok(channels)
                });
                if let Ok((channels, _)) = &result {
                    for channel in channels {
                        match channel.as_str() {
                            delivery::LOG => self.log.look_at_outbox_by(now),
                            other => self.dispatch.due_by(other, now),
                        }
                    }
                }
                let _ = reply.send(result.map(|(channels, _)| channels).map_err(Into::into));
            }
            PageCommand::AddFeed {
                token_sha256,
                feed,
                audit,
                reply,
            } => {
                let result = self.in_batch(|core, _| {
                    audit.iter().try_for_each(|line| core.store.audit(line))?;
                    core.store.add_feed(&token_sha256, &feed)
                });
                let _ = reply.send(result.map(|(id, _)| id).map_err(Into::into));
            }
            PageCommand::Feeds { scope, reply } => {
                let _ = reply.send(self.store.feeds(&scope).map_err(Into::into));
            }
            PageCommand::RevokeFeed {
                id,
                scope,
                audit,
                reply,
            } => {
                let at = waakvlam_core::calendar::format_timestamp(now);
                let result = self.in_batch(|core, _| {
                    audit.iter().try_for_each(|line| core.store.audit(line))?;
                    core.store.revoke_feed(id, &scope, &at)
                });
                let _ = reply.send(result.map(|(done, _)| done).map_err(Into::into));
            }
            PageCommand::FeedOfToken {
                token_sha256,
                reply,
            } => {
                let _ = reply.send(self.store.feed_of_token(&token_sha256).map_err(Into::into));
            }
            PageCommand::FeedDeadlines {
                scope,
                deadlines,
                limit,
                audit,
                reply,
            } => {
                let rows = self.audited_read(&audit, |store| {
                    store.feed_deadlines(&scope, &deadlines, limit)
                });
                let _ = reply.send(rows.map(|rows| FeedRows {
                    now,
                    rows: self.feed_rows(rows, now),
                }));
            }
            PageCommand::Today { reply } => {
                let _ = reply.send(now);
            }
        }
    }

    /// Each row with its alarm and explanation; every case is worked out once for all its
    /// rows. A case that cannot be loaded (out of service) keeps its row, without explanation.
    fn feed_rows(&mut self, rows: Vec<DeadlineRow>, now: Timestamp) -> Vec<FeedRow> {
        let mut explained: std::collections::HashMap<CaseKey, Explanations> = Default::default();
        rows.into_iter()
            .map(|row| {
                let key = CaseKey {
                    gemeente: row.gemeente.clone(),
                    case: row.case.clone(),
                };
                if !explained.contains_key(&key) {
                    let explanations = self
                        .cases
                        .load(&key, &self.engine, &self.store)
                        .map(|case| case.explanations(&self.engine, now))
                        .unwrap_or_default();
                    explained.insert(key.clone(), explanations);
                }
                let explanation = explained[&key]
                    .get(&(row.instance.clone(), row.deadline.clone(), row.occurrence))
                    .cloned()
                    .unwrap_or_default();
                FeedRow {
                    alarm: self.first_reminder(&row),
                    row,
                    explanation,
                }
            })
            .collect()
    }

    /// When the first reminder of a deadline goes out, as the engine plans it: the earliest
    /// `remind` before the due date, on a working day, at the send hour.
    fn first_reminder(&self, row: &DeadlineRow) -> Option<Timestamp> {
        let due: Day = row.due?;
        let workflow = self
            .engine
            .workflows
            .iter()
            .find(|w| w.name == row.workflow)?;
        let deadline = &workflow.deadlines[workflow.deadline_index(&row.deadline)?];
        let earliest = deadline
            .remind
            .iter()
            .map(|before| before.subtract_from(due))
            .min()?;
        let day = self
            .engine
            .calendar_for(&row.gemeente)
            .working_day_on_or_before(earliest);
        Some(waakvlam_core::calendar::send_moment(
            day,
            self.engine.settings.send_hour,
        ))
    }

    fn case_page(
        &mut self,
        key: &CaseKey,
        audit: &AuditEntry,
        now: Timestamp,
    ) -> Result<Option<CasePage>, SchedulerError> {
        let today = local_day(now);
        self.in_batch(|core, _| core.store.audit(audit))?;
        let events = self.store.case_events(key)?;
        if events.is_empty() {
            return Ok(None);
        }
        let case = self.cases.load(key, &self.engine, &self.store)?;
        let until = now
            .checked_add(jiff::SignedDuration::from_hours(24 * FORECAST_DAYS))
            .unwrap_or(now);
        let mut upcoming = case.forecast(&self.engine, now, until, FORECAST_MOST);
        let moved = case.moved_deadlines(&self.engine);
        let explanations = case.explanations(&self.engine, now);
        let filter = Filter {
            case: Some(key.case.clone()),
            today: Some(today),
            ..Filter::within(Scope::one(&key.gemeente), 10_000)
        };
        let notifications = self.store.notifications(&filter)?;
        // A case rebuilt from its events has not marked what the daemon sent since its last
        // event; the outbox knows (ids are deterministic), and what it holds is not "next".
        let sent: std::collections::HashSet<&str> =
            notifications.iter().map(|n| n.record.id.as_str()).collect();
        upcoming.retain(|n| !sent.contains(n.id.as_str()));
        Ok(Some(CasePage {
            today,
            view: CaseView {
                gemeente: key.gemeente.clone(),
                case: key.case.clone(),
                events,
                deadlines: CaseDeadline::explained(self.store.deadlines(&filter)?, &explanations),
                notifications,
            },
            moved,
            upcoming,
        }))
    }
}
