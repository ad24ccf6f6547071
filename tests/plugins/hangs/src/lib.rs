//! Test fixture: a plugin whose `params` never answers in time.
use waakvlam_plugin::{Data, Identity, Plugin, export_plugin};

#[derive(Default)]
struct Hangs;

impl Plugin for Hangs {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0158".into(),
            name: "Hangs".into(),
            version: "0".into(),
            params_for: vec!["nazorg".into()],
            ..Identity::default()
        }
    }

    fn params(&self, _workflow: &str, _start: &Data) -> Vec<(String, String)> {
        std::thread::sleep(std::time::Duration::from_secs(30));
        Vec::new()
    }
}

export_plugin!(Hangs);
