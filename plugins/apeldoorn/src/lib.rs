//! Apeldoorn (GM0200). Sources: transformatieagenda (2016), `shared/seeds/002_942c5a29d9372396.txt`;
//! Zorgregio Midden-IJssel/Oost-Veluwe, programmaplan 2020-2022, `shared/seeds/003_a843a57795559315.txt`.

use waakvlam_plugin::{Data, Identity, Plugin, Settings, Signal, StartContext, export_plugin};

#[derive(Default)]
struct Apeldoorn {
    settings: Settings,
}

impl Plugin for Apeldoorn {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0200".into(),
            name: "Apeldoorn".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            params_for: vec!["toekomstplan-16".into()],
            starts: vec!["toekomstplan-16".into()],
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
            // The seed says both: "vanaf 16 jaar samen met de jongere een toekomstplan" (002
            // r. 980-981) and "Maak in het 16de levensjaar samen met jongeren een toekomstplan"
            // (r. 982-983). Chosen: the stricter, the 16th year of life, which runs from the
            // 15th birthday to the 16th, so the plan starts a year before the region's "zodra
            // ze 16 zijn" (003 r. 959); a plan made early also meets "vanaf 16 jaar".
            "toekomstplan-16" => vec![("vervroeging".into(), "1 year".into())],
            _ => Vec::new(),
        }
    }

    fn recipients(&self, role: &str) -> Vec<String> {
        // 002 r. 980-981: the provider's professionals make the plan ("hulpverleners ... samen met
        // de jongere"); 003 r. 941: the Zorgregio's account manager has it on the agenda with
        // the GI, so escalations of toekomstplan and overdracht reach the account manager.
        self.settings.recipients(role)
    }

    fn workflow_recipients(&self, workflow: &str, role: &str) -> Vec<String> {
        self.settings.workflow_recipients(workflow, role)
    }

    fn closed_days(&self) -> Vec<String> {
        self.settings.closed_days()
    }

    /// 002 r. 981: "Het CJG heeft hierbij ook een rol": the CJG contact hears when a
    /// toekomstplan starts. The seed gives the CJG no term of its own, so the message sets none.
    fn on_start(&self, start: &StartContext) -> Vec<Signal> {
        if start.workflow != "toekomstplan-16" {
            return Vec::new();
        }
        vec![Signal {
            name: "toekomstplan_gestart".into(),
            to: vec!["cjg_contact".into()],
            message: format!(
                "Voor casus {} is het toekomstplan gestart. De hulpverlener maakt het samen met de jongere. Het CJG heeft hierbij ook een rol: neem contact op met de hulpverlener en spreek af hoe het CJG meedoet.",
                start.case
            ),
        }]
    }
}

export_plugin!(Apeldoorn);
