//! Who leads: a lease row in the database with a fencing number (the epoch). The lease runs on
//! the database's clock, the one clock every daemon shares; each daemon renews or tries to
//! take it every second on a connection of its own.
//!
//! A leader counts its lease from the moment it *asked* for the renewal, minus a margin, on
//! the monotonic clock: it believes it leads for less time than the database grants, so it
//! stops (timers, delivery) before another daemon can take over. A paused leader (SIGSTOP,
//! a stalled machine) finds its lease run out when it resumes and sends nothing; a leader
//! whose connection is cut cannot renew and stops the same way. Deliveries are further
//! claimed under the epoch (`PgStore::claim_deliveries`), so even a send that was handed to a
//! channel is not sent again by the next leader while it may still be in flight.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Connection, PgUrl, failed};
use crate::store::StoreError;

/// How long a lease lasts in the database after each renewal.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the lease is renewed, or tried for.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How much sooner than the database a leader stops believing it leads.
const MARGIN: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct State {
    /// The epoch this daemon leads under, while it does.
    epoch: Option<i64>,
    valid_until: Option<Instant>,
    /// Who the database says leads, as last read.
    leader: Option<String>,
}

/// This daemon's view of the lease.
#[derive(Debug)]
pub struct Lease {
    me: String,
    state: Mutex<State>,
}

/// Who leads, for `/healthz` and `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Leadership {
    /// This daemon's name.
    pub daemon: String,
    pub leads: bool,
    /// The leading daemon as the database last said, if any leads.
    pub leader: Option<String>,
    pub epoch: Option<i64>,
}

impl Lease {
    pub fn new(me: &str) -> Lease {
        Lease {
            me: me.to_string(),
            state: Mutex::new(State::default()),
        }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock held plain values, each whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch this daemon leads under now; `None` when it does not lead (or no longer
    /// knows that it does).
    pub fn epoch(&self) -> Option<i64> {
        let state = self.state();
        match (state.epoch, state.valid_until) {
            (Some(epoch), Some(until)) if Instant::now() < until => Some(epoch),
            _ => None,
        }
    }

    pub fn leads(&self) -> bool {
        self.epoch().is_some()
    }

    pub fn leadership(&self) -> Leadership {
        let epoch = self.epoch();
        let state = self.state();
        Leadership {
            daemon: self.me.clone(),
            leads: epoch.is_some(),
            leader: state.leader.clone(),
            epoch,
        }
    }

    /// One round: renew the lease this daemon holds, or take it if it is free or ran out.
    /// Returns whether this daemon leads afterwards.
    fn round(&self, connection: &mut Connection) -> Result<bool, StoreError> {
        let asked = Instant::now();
        let held = self.state().epoch;
        let lease_ms = LEASE.as_millis() as i64;
        let granted = match held {
            // Renewed while the epoch is still ours: nobody took over in between, even if
            // the lease ran out meanwhile, so nobody else has sent anything.
            Some(epoch) => connection
                .query(
                    "UPDATE leader SET expires = clock_timestamp() + $3::bigint * interval '1 millisecond'
                     WHERE slot = 1 AND holder = $1 AND epoch = $2 RETURNING epoch",
                    &[&self.me, &epoch, &lease_ms],
                )
                .map_err(failed("renewing the lease"))?,
            None => connection
                .query(
                    "UPDATE leader SET holder = $1, epoch = epoch + 1,
                            expires = clock_timestamp() + $2::bigint * interval '1 millisecond'
                     WHERE slot = 1 AND (holder IS NULL OR expires < clock_timestamp()) RETURNING epoch",
                    &[&self.me, &lease_ms],
                )
                .map_err(failed("taking the lease"))?,
        };
        let leader: Option<String> = connection
            .query(
                "SELECT holder FROM leader WHERE slot = 1 AND expires > clock_timestamp()",
                &[],
            )
            .map_err(failed("reading who leads"))?
            .first()
            .and_then(|row| row.get(0));
        let mut state = self.state();
        state.leader = leader;
        match granted.first().map(|row| row.get::<_, i64>(0)) {
            Some(epoch) => {
                if held != Some(epoch) {
                    tracing::info!(epoch, daemon = %self.me, "this daemon leads: it runs the timers and the delivery");
                }
                state.epoch = Some(epoch);
                state.valid_until = Some(asked + LEASE - MARGIN);
                Ok(true)
            }
            None => {
                if let Some(epoch) = held {
                    tracing::warn!(epoch, daemon = %self.me, "this daemon lost the lease: another leads now; it stops the timers and the delivery");
                }
                state.epoch = None;
                state.valid_until = None;
                Ok(false)
            }
        }
    }

    /// Gives the lease up (a clean stop), so another daemon takes over at once.
    fn release(&self, connection: &mut Connection) {
        let held = {
            let mut state = self.state();
            state.valid_until = None;
            state.epoch.take()
        };
        if let Some(epoch) = held {
            let released = connection.execute(
                "UPDATE leader SET expires = '-infinity' WHERE slot = 1 AND holder = $1 AND epoch = $2",
                &[&self.me, &epoch],
            );
            match released {
                Ok(_) => tracing::info!(epoch, "the lease is given up"),
                Err(err) => {
                    tracing::warn!(cause = %err, "giving up the lease failed; it runs out by itself")
                }
            }
        }
    }
}

/// Keeps the lease until `stop` is set: renews or tries for it every second, reconnecting
/// when the connection is lost (meanwhile the lease runs out by itself). Gives it up at the
/// end. Blocking: runs on a thread of its own.
pub fn keep(
    lease: std::sync::Arc<Lease>,
    url: PgUrl,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let mut connection: Option<Connection> = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let started = Instant::now();
        if connection.as_ref().is_none_or(|c| c.client_closed()) {
            connection = match Connection::open(&url, &format!("waakvlam lease {}", lease.me())) {
                Ok(c) => Some(c),
                Err(err) => {
                    tracing::error!(cause = %err, "the lease's connection to PostgreSQL failed; trying again");
                    None
                }
            };
        }
        if let Some(c) = connection.as_mut()
            && let Err(err) = lease.round(c)
        {
            tracing::error!(cause = %err, "the lease could not be renewed; trying again");
        }
        std::thread::sleep(RENEW_EVERY.saturating_sub(started.elapsed()));
    }
    if let Some(c) = connection.as_mut() {
        lease.release(c);
    }
}
