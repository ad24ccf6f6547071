//! Deventer (GM0150). Source: "Van Wieg naar Werk 4.0" (2014), `shared/seeds/000_d4e5282471012709.txt`.

use waakvlam_plugin::{Data, EventContext, Identity, Plugin, Settings, Signal, export_plugin};

#[derive(Default)]
struct Deventer {
    settings: Settings,
}

impl Plugin for Deventer {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0150".into(),
            name: "Deventer".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            params_for: vec!["klachttermijnen".into()],
            events: vec!["zorg.gestart".into(), "zorg.beeindigd".into()],
            events_while_open: vec!["klachttermijnen".into()],
            params_read: Some(vec![]),
            ..Identity::default()
        }
    }

    fn configure(&mut self, settings: Settings) -> Result<(), String> {
        self.settings = settings;
        Ok(())
    }

    fn params(&self, workflow: &str, _start: &Data) -> Vec<(String, String)> {
        match workflow {
            // r. 1067-1068: "binnen 14 dagen in behandeling genomen ... binnen 4 weken afgerond".
            "klachttermijnen" => vec![
                ("in_behandeling".into(), "14 days".into()),
                ("afgerond".into(), "4 weeks".into()),
            ],
            _ => Vec::new(),
        }
    }

    fn recipients(&self, role: &str) -> Vec<String> {
        // The gezinscoach is the professional of a Deventer family (sociaal team);
        // escalations go through the team leader, as the workflows say.
        match role {
            "professional" => self.settings.recipients("gezinscoach"),
            other => self.settings.recipients(other),
        }
    }

    fn workflow_recipients(&self, workflow: &str, role: &str) -> Vec<String> {
        self.settings.workflow_recipients(workflow, role)
    }

    fn closed_days(&self) -> Vec<String> {
        self.settings.closed_days()
    }

    /// r. 1069-1070: while a complaint runs, care "moet ... doorlopen en niet gewijzigd,
    /// doorgevoerd of opgelegd worden tegen de wens van de kinderen, jongeren en ouders in".
    /// A start or stop of care during an open complaint is therefore a signal.
    fn on_event(&self, event: &EventContext) -> Vec<Signal> {
        let change_of_care = matches!(event.event_type.as_str(), "zorg.gestart" | "zorg.beeindigd");
        let open_complaint = event
            .open_instances
            .iter()
            .any(|i| i.workflow == "klachttermijnen");
        if !(change_of_care && open_complaint) {
            return Vec::new();
        }
        let what = if event.event_type == "zorg.gestart" {
            "is nieuwe zorg gestart"
        } else {
            "is de zorg gestopt"
        };
        vec![Signal {
            name: "zorgwijziging_tijdens_klacht".into(),
            to: vec!["klachtenfunctionaris".into(), "gezinscoach".into()],
            message: format!(
                "Bij casus {} {what} terwijl er een klacht loopt. Tijdens een klacht mag de zorg niet tegen de wens van het gezin veranderen. Vraag het gezin vandaag of het hiermee instemt.",
                event.case
            ),
        }]
    }
}

export_plugin!(Deventer);
