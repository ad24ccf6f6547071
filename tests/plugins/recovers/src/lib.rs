//! Test fixture: a plugin whose `params` panics on its first three calls (enough to be put
//! aside) and answers from then on, as a plugin whose back end came back would.
use std::sync::atomic::{AtomicU32, Ordering};

use waakvlam_plugin::{Data, Identity, Plugin, export_plugin};

static CALLS: AtomicU32 = AtomicU32::new(0);

#[derive(Default)]
struct Recovers;

impl Plugin for Recovers {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0158".into(),
            name: "Recovers".into(),
            version: "0".into(),
            params_for: vec!["nazorg".into()],
            ..Identity::default()
        }
    }

    fn params(&self, _workflow: &str, _start: &Data) -> Vec<(String, String)> {
        if CALLS.fetch_add(1, Ordering::Relaxed) < 3 {
            panic!("the back end is down")
        }
        vec![("looptijd".into(), "5 years".into())]
    }
}

export_plugin!(Recovers);
