//! Dalfsen (GM0148). Source: toegang memo (2014), `shared/seeds/001_3e9c122e81c5d7c1.txt`.

use waakvlam_plugin::{Data, Identity, Plugin, Settings, export_plugin};

#[derive(Default)]
struct Dalfsen {
    settings: Settings,
}

impl Plugin for Dalfsen {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0148".into(),
            name: "Dalfsen".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            params_for: vec!["klachttermijnen".into()],
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
            // r. 496-497: klachtrecht "zal worden georganiseerd zoals de Jeugdwet vereist":
            // no shorter local norm, so a complaint is to be finished within the legal term.
            "klachttermijnen" => vec![("afgerond".into(), "6 weeks".into())],
            _ => Vec::new(),
        }
    }

    fn recipients(&self, role: &str) -> Vec<String> {
        // r. 250-253: the CJG generalist owns the case and "blijven altijd een vinger aan de
        // pols houden": the professional and the nazorg regisseur are the CJG generalist.
        match role {
            "professional" | "regisseur" => self.settings.recipients("cjg_generalist"),
            other => self.settings.recipients(other),
        }
    }

    fn workflow_recipients(&self, workflow: &str, role: &str) -> Vec<String> {
        self.settings.workflow_recipients(workflow, role)
    }

    fn closed_days(&self) -> Vec<String> {
        self.settings.closed_days()
    }
}

export_plugin!(Dalfsen);
