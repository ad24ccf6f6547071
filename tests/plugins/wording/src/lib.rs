//! Test fixture: a plugin that words reminders its own way and leaves escalations alone.
use waakvlam_plugin::{Identity, MessageContext, Plugin, export_plugin};

#[derive(Default)]
struct Wording;

impl Plugin for Wording {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0150".into(),
            name: "Wording".into(),
            version: "0".into(),
            messages: true,
            ..Identity::default()
        }
    }

    fn message(&self, message: &MessageContext) -> Option<String> {
        (message.kind == "reminder").then(|| {
            format!(
                "Deventer: {} van casus {} moet op {} klaar zijn.",
                message.deadline,
                message.case,
                message.due.as_deref().unwrap_or("-")
            )
        })
    }
}

export_plugin!(Wording);
