//! Hearing of other daemons' commits: `LISTEN` on a connection of its own. Notifications
//! arrive in commit order once their transaction committed; a lost connection may have
//! missed some, which the caller hears as `Heard::Missed` (read everything again).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::{CHANGES, Connection, PgUrl, changed_cases};
use crate::store::CaseKey;

pub enum Heard {
    /// The `LISTEN` holds: what commits from now on is heard.
    Listening,
    /// Another daemon moved these cases' timers.
    Cases(Vec<CaseKey>),
    /// News may have been lost: a (re)connection.
    Missed,
}

/// Listens until `stop` is set or `tell` says to stop (returns false). Blocking: runs on a
/// thread of its own.
pub fn listen(url: PgUrl, me: String, stop: Arc<AtomicBool>, mut tell: impl FnMut(Heard) -> bool) {
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let mut connection = match Connection::open(&url, &format!("waakvlam listener {me}")) {
            Ok(connection) => connection,
            Err(err) => {
                tracing::error!(cause = %err, "listening for other daemons' changes failed; trying again");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(err) = connection.batch(&format!("LISTEN {CHANGES}")) {
            tracing::error!(cause = %err, "listening for other daemons' changes failed; trying again");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        if !tell(Heard::Listening) {
            return;
        }
        // What was committed before the LISTEN took hold is read whole (but at the very start,
        // where the scheduler reads everything after this).
        if !first && !tell(Heard::Missed) {
            return;
        }
        first = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mut keys = Vec::new();
            let mut notifications = connection.client().notifications();
            let mut heard = notifications.timeout_iter(Duration::from_millis(500));
            let failed = loop {
                match heard.next() {
                    Ok(Some(notification)) => {
                        if let Some(cases) = changed_cases(notification.payload(), &me) {
                            keys.extend(cases);
                        }
                    }
                    Ok(None) => break false,
                    Err(err) => {
                        tracing::warn!(cause = %err, "the connection that hears other daemons' changes was lost; connecting again");
                        break true;
                    }
                }
            };
            drop(heard);
            drop(notifications);
            if !keys.is_empty() && !tell(Heard::Cases(keys)) {
                return;
            }
            if failed || connection.client_closed() {
                break;
            }
        }
    }
}
