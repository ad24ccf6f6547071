//! Test fixture: a plugin whose `params` takes 100 ms and then answers, well within its limit;
//! many callers at once queue behind each other for far longer than that.
use waakvlam_plugin::{Data, Identity, Plugin, export_plugin};

#[derive(Default)]
struct Slow;

impl Plugin for Slow {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0158".into(),
            name: "Slow".into(),
            version: "0".into(),
            params_for: vec!["nazorg".into()],
            ..Identity::default()
        }
    }

    fn params(&self, _workflow: &str, _start: &Data) -> Vec<(String, String)> {
        std::thread::sleep(std::time::Duration::from_millis(100));
        vec![("looptijd".into(), "5 years".into())]
    }
}

export_plugin!(Slow);
