//! Haaksbergen (GM0158). Source: beleidsplan 2015-2018, `shared/seeds/004_95cc837508012131.txt`.

use waakvlam_plugin::{Data, EventContext, Identity, Plugin, Settings, Signal, export_plugin};

#[derive(Default)]
struct Haaksbergen {
    settings: Settings,
}

/// A high relapse risk, as the regisseur records it at the end of care (`risico: hoog`).
fn high_risk(data: &Data) -> bool {
    data.get("risico").and_then(|v| v.as_str()) == Some("hoog")
}

impl Plugin for Haaksbergen {
    fn identity(&self) -> Identity {
        Identity {
            gemeente: "GM0158".into(),
            name: "Haaksbergen".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            params_for: vec!["nazorg".into(), "nazorg-mo-plan".into()],
            events: vec!["zorg.beeindigd".into()],
            events_while_open: vec!["nazorg".into()],
            params_read: Some(vec!["risico".into(), "niveau".into()]),
            ..Identity::default()
        }
    }

    fn configure(&mut self, settings: Settings) -> Result<(), String> {
        self.settings = settings;
        Ok(())
    }

    fn params(&self, workflow: &str, start: &Data) -> Vec<(String, String)> {
        // The MO-plan's nazorg paragraph says the level (r. 1598-1616): `intensief` is
        // waakvlambegeleiding, `licht` the nazorg of every closed case.
        let waakvlam = match workflow {
            "nazorg" => high_risk(start),
            "nazorg-mo-plan" => start.get("niveau").and_then(|v| v.as_str()) == Some("intensief"),
            _ => return Vec::new(),
        };
        if waakvlam {
            // r. 1868-1872: waakvlambegeleiding, "een intensievere vorm van nazorg ... gedurende
            // een langere periode"; the plan leaves the numbers open ("maatwerk", r. 1877-1879).
            // Chosen: twice as often (every 3 months) and two years longer (7 years).
            vec![
                ("interval".into(), "3 months".into()),
                ("looptijd".into(), "7 years".into()),
            ]
        } else {
            // r. 1864-1866: "Alle afgesloten casussen blijven wij gedurende een periode van 5 jaar
            // ... (ongeveer één keer per half jaar contact) volgen".
            vec![
                ("interval".into(), "6 months".into()),
                ("looptijd".into(), "5 years".into()),
            ]
        }
    }

    fn recipients(&self, role: &str) -> Vec<String> {
        // The regisseur of the Noaberpoort (r. 72) owns nazorg and is its escalation point.
        self.settings.recipients(role)
    }

    fn workflow_recipients(&self, workflow: &str, role: &str) -> Vec<String> {
        self.settings.workflow_recipients(workflow, role)
    }

    fn closed_days(&self) -> Vec<String> {
        self.settings.closed_days()
    }

    /// A case that leaves care with a high risk of relapse goes into waakvlambegeleiding: the
    /// regisseur hears so at once. (A relapse signal itself reaches the regisseur through the
    /// nazorg workflow's own signal.)
    fn on_event(&self, event: &EventContext) -> Vec<Signal> {
        if event.event_type == "zorg.beeindigd"
            && high_risk(&event.data)
            && event.open_instances.iter().any(|i| i.workflow == "nazorg")
        {
            return vec![Signal {
                name: "waakvlambegeleiding".into(),
                to: vec!["regisseur".into()],
                message: format!(
                    "Casus {} gaat na de zorg in waakvlambegeleiding, omdat de kans op terugval groot is. Plan het eerste contact met de jongere en het gezin. Waakvlam stuurt u voor elk contact een herinnering met de datum.",
                    event.case
                ),
            }];
        }
        Vec::new()
    }
}

export_plugin!(Haaksbergen);
