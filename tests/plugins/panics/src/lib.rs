//! Test fixture: a plugin that panics on every call but `identity` and `configure`.
use waakvlam_plugin::{Data, Identity, Plugin, export_plugin};

#[derive(Default)]
struct Panics;

impl Plugin for Panics {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0158".into(),
            name: "Panics".into(),
            version: "0".into(),
            params_for: vec!["nazorg".into()],
            ..Identity::default()
        }
    }

    fn params(&self, _workflow: &str, _start: &Data) -> Vec<(String, String)> {
        panic!("deliberately, for the test")
    }
}

export_plugin!(Panics);
