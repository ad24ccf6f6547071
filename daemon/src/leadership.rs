//! Whether this daemon runs the timers and the delivery. One daemon on its own SQLite file
//! always does (the store's lock keeps others out); daemons sharing a PostgreSQL database
//! take turns by a lease (`store::postgres::lease`).

use std::sync::Arc;

use crate::store::postgres::lease::{Leadership as LeaseView, Lease};

#[derive(Clone, Debug)]
pub enum Leadership {
    /// The only daemon on its store.
    Sole,
    /// One of several on a shared database.
    Shared(Arc<Lease>),
}

impl Leadership {
    /// Whether this daemon may fire timers and send now. Asked before each round and before
    /// each send: a lease that ran out (a pause, a lost connection) stops both at once.
    pub fn leads(&self) -> bool {
        match self {
            Leadership::Sole => true,
            Leadership::Shared(lease) => lease.leads(),
        }
    }

    /// Who leads, where several daemons share the work.
    pub fn view(&self) -> Option<LeaseView> {
        match self {
            Leadership::Sole => None,
            Leadership::Shared(lease) => Some(lease.leadership()),
        }
    }
}
