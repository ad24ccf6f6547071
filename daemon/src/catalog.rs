//! The workflows as a reader sees them: what starts each, its deadlines, reminders and
//! escalation chain in words, and the terms per gemeente after configuration and plugin, each
//! with where it comes from. Made once at start and again at every reload that succeeds, from
//! the same workflows, configuration and plugins as the engine.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use waakvlam_core::calendar::TermRule;
use waakvlam_core::workflow::{
    Anchor, Condition, DateExpr, EventMatch, GemeenteScope, Sign, Term, Trigger, Workflow,
};
use waakvlam_plugin_host::{ParamOrigin, Registry};

use crate::config::Config;

/// The catalog in use, replaced whole at a reload.
#[derive(Clone)]
pub struct Shelf(Arc<RwLock<Arc<Catalog>>>);

impl Shelf {
    pub fn new(catalog: Catalog) -> Shelf {
        Shelf(Arc::new(RwLock::new(Arc::new(catalog))))
    }

    pub fn get(&self) -> Arc<Catalog> {
        // A poisoned lock held an `Arc` being swapped: either value is whole.
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn put(&self, catalog: Catalog) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
    }
}

/// The definitions in use (configuration, workflows, plugins) and the workflows in words.
#[derive(Clone)]
pub struct Catalog {
    pub workflows: Vec<WorkflowText>,
    /// Code -> name, of every gemeente the configuration or a plugin knows.
    pub gemeenten: BTreeMap<String, String>,
    /// What the running engine was built from, for a what-if to change and build again.
    pub config: Config,
    pub definitions: Vec<Workflow>,
    pub plugins: Option<Arc<Registry>>,
}

#[derive(Clone, Debug)]
pub struct WorkflowText {
    pub name: String,
    pub title: String,
    pub source: Option<String>,
    /// The gemeenten it applies to, in words.
    pub applies_to: String,
    pub starts: String,
    pub deadlines: Vec<DeadlineText>,
    pub signals: Vec<String>,
    pub ends: Vec<String>,
    pub cancels: Vec<String>,
    /// What the closing of a case does to it, in a sentence.
    pub closing: String,
    /// Roles another role fills in some gemeenten, a sentence each.
    pub roles_in: Vec<String>,
    /// The parameters' names, in file order, and per gemeente their values.
    pub params: Vec<String>,
    pub terms: Vec<GemeenteTerms>,
}

#[derive(Clone, Debug)]
pub struct DeadlineText {
    pub id: String,
    pub title: String,
    pub due: String,
    /// A legal term: the Algemene termijnenwet applies.
    pub atw: bool,
    /// The owner's role id and its description.
    pub owner: (String, String),
    pub met_by: Vec<String>,
    pub reminders: Vec<String>,
    pub escalations: Vec<String>,
    /// Suspension, extension and recurrence, each in a sentence.
    pub rules: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct GemeenteTerms {
    pub code: String,
    pub name: String,
    /// Per parameter: the value in words and where it comes from.
    pub values: Vec<(String, &'static str)>,
}

impl Catalog {
    pub fn describe(
        config: &Config,
        workflows: &[Workflow],
        plugins: Option<&Arc<Registry>>,
    ) -> Catalog {
        let definitions = workflows.to_vec();
        let effective = waakvlam_plugin_host::effective_params(&config.core, workflows, plugins);
        let mut gemeenten: BTreeMap<String, String> = config
            .core
            .gemeenten
            .iter()
            .map(|(code, g)| (code.clone(), g.name.clone()))
            .collect();
        for plugin in plugins.iter().flat_map(|r| r.loaded()) {
            gemeenten
                .entry(plugin.gemeente.clone())
                .or_insert_with(|| plugin.gemeente.clone());
        }
        let workflows = workflows
            .iter()
            .map(|w| {
                let terms = gemeenten
                    .iter()
                    .filter(|(code, _)| w.gemeenten.applies_to(code))
                    .map(|(code, name)| GemeenteTerms {
                        code: code.clone(),
                        name: name.clone(),
                        values: w
                            .params
                            .iter()
                            .filter_map(|p| {
                                effective
                                    .iter()
                                    .find(|e| {
                                        e.gemeente == *code
                                            && e.workflow == w.name
                                            && e.param == p.name
                                    })
                                    .map(|e| (e.value.to_string(), origin(e.origin)))
                            })
                            .collect(),
                    })
                    .collect();
                describe_workflow(w, terms, &gemeenten)
            })
            .collect();
        Catalog {
            workflows,
            gemeenten,
            config: config.clone(),
            definitions,
            plugins: plugins.cloned(),
        }
    }

    pub fn workflow(&self, name: &str) -> Option<&WorkflowText> {
        self.workflows.iter().find(|w| w.name == name)
    }

    pub fn title_of(&self, workflow: &str) -> String {
        self.workflow(workflow)
            .map_or_else(|| workflow.to_string(), |w| w.title.clone())
    }

    pub fn deadline_title(&self, workflow: &str, deadline: &str) -> String {
        self.workflow(workflow)
            .and_then(|w| w.deadlines.iter().find(|d| d.id == deadline))
            .map_or_else(|| deadline.to_string(), |d| d.title.clone())
    }

    pub fn gemeente_name(&self, code: &str) -> String {
        self.gemeenten
            .get(code)
            .map_or_else(|| code.to_string(), |name| format!("{name} ({code})"))
    }

    /// The roles a notification of `workflow` went to, as the workflow describes them
    /// (`Contactpersoon gemeente, Teamleider`): a page never shows a role's id. A role the
    /// workflow does not describe (a plugin's signal) takes another workflow's description,
    /// or its id in words.
    pub fn role_titles(&self, workflow: &str, roles: &[String]) -> String {
        let title = |role: &String| {
            let own = self
                .definitions
                .iter()
                .find(|w| w.name == workflow)
                .and_then(|w| w.roles.get(role));
            let any = || self.definitions.iter().find_map(|w| w.roles.get(role));
            own.or_else(any).cloned().unwrap_or_else(|| {
                let words = role.replace(['_', '-'], " ");
                let mut chars = words.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            })
        };
        roles.iter().map(title).collect::<Vec<_>>().join(", ")
    }

    /// Every role that owns a deadline, with its description (the first workflow's).
    pub fn owner_roles(&self) -> BTreeMap<String, String> {
        let mut roles = BTreeMap::new();
        for deadline in self.workflows.iter().flat_map(|w| &w.deadlines) {
            roles
                .entry(deadline.owner.0.clone())
                .or_insert_with(|| deadline.owner.1.clone());
        }
        roles
    }

    /// The (workflow, deadline) pairs whose owner is one of these roles.
    pub fn owned_by(&self, roles: &[String]) -> Vec<(String, String)> {
        self.workflows
            .iter()
            .flat_map(|w| {
                w.deadlines
                    .iter()
                    .filter(|d| roles.contains(&d.owner.0))
                    .map(|d| (w.name.clone(), d.id.clone()))
            })
            .collect()
    }
}

fn origin(origin: ParamOrigin) -> &'static str {
    match origin {
        ParamOrigin::Workflow => "workflow",
        ParamOrigin::Configuration => "configuratie",
        ParamOrigin::Plugin => "plugin",
    }
}

fn describe_workflow(
    w: &Workflow,
    terms: Vec<GemeenteTerms>,
    gemeenten: &BTreeMap<String, String>,
) -> WorkflowText {
    let named = |codes: &[String]| {
        codes
            .iter()
            .map(|c| match gemeenten.get(c) {
                Some(name) => format!("{name} ({c})"),
                None => c.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let applies_to = match &w.gemeenten {
        GemeenteScope::Every => "Geldt voor alle gemeenten.".to_string(),
        GemeenteScope::Only(codes) => format!("Geldt alleen voor {}.", named(codes)),
        GemeenteScope::AllBut(codes) => {
            format!("Geldt voor alle gemeenten behalve {}.", named(codes))
        }
    };
    let role = |id: &str| {
        w.roles
            .get(id)
            .map_or_else(|| id.to_string(), |d| format!("{d} ({id})"))
    };
    let roles = |ids: &[String]| ids.iter().map(|id| role(id)).collect::<Vec<_>>().join(", ");
    let mut starts = match &w.start.trigger {
        Trigger::Event(on) => format!("Begint bij {}", event(on)),
        Trigger::Date { on, until } => {
            let mut text = format!("Begint op {}", date(w, on));
            if let Some(until) = until {
                text.push_str(&format!(
                    ", of later zodra de voorwaarde geldt, uiterlijk {}",
                    date(w, until)
                ));
            }
            text
        }
    };
    match w.start.in_care {
        Some(true) => starts.push_str(", als de jongere dan in zorg is"),
        Some(false) => starts.push_str(", als de jongere dan niet in zorg is"),
        None => {}
    }
    starts.push('.');
    if !w.start.unless_open.is_empty() {
        let others: Vec<&str> = w
            .start
            .unless_open
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        starts.push_str(&format!(
            " Niet als {} al loopt voor de casus.",
            others.join(" of ")
        ));
    }
    let closing = if w.closing.continues {
        "Het sluiten van de casus (casus.gesloten) beëindigt deze workflow niet: die volgt ook de afgesloten casus.".to_string()
    } else if !w.closing.starts_in.is_empty() {
        format!(
            "In {} begint deze workflow als de casus sluit (casus.gesloten), en loopt ze daarna door; elders beëindigt het sluiten van de casus haar.",
            named(&w.closing.starts_in)
        )
    } else {
        "Het sluiten van de casus (casus.gesloten) beëindigt deze workflow.".to_string()
    };
    let roles_in = w
        .roles_in
        .iter()
        .flat_map(|(code, instead)| {
            instead
                .iter()
                .map(move |(role_id, other)| (code, role_id, other))
        })
        .map(|(code, role_id, other)| {
            format!(
                "In {} doet {} wat {} elders doet; de berichten gaan daar aan die rol.",
                named(std::slice::from_ref(code)),
                role(other),
                role(role_id)
            )
        })
        .collect();
    let deadlines = w
        .deadlines
        .iter()
        .map(|d| {
            let mut rules = Vec::new();
            if let Some(s) = &d.suspend {
                rules.push(format!(
                    "De termijn staat stil vanaf {} tot {}.",
                    event(&s.on),
                    event(&s.resume_on)
                ));
            }
            if let Some(x) = &d.extend {
                rules.push(format!(
                    "De termijn wordt{} verlengd met {} bij {}.",
                    if x.once { " één keer" } else { "" },
                    term(w, x.by),
                    event(&x.on)
                ));
            }
            if let Some(r) = &d.recurring {
                let mut text = format!("Komt terug: elke {}", term(w, r.every));
                if let Some(until) = &r.until {
                    text.push_str(&format!(", tot {}", date(w, until)));
                }
                text.push('.');
                rules.push(text);
            }
            DeadlineText {
                id: d.id.clone(),
                title: d.title.clone(),
                due: date(w, &d.due),
                atw: d.rule == TermRule::Termijnenwet,
                owner: (
                    d.owner.clone(),
                    w.roles.get(&d.owner).cloned().unwrap_or_default(),
                ),
                met_by: d.met_by.iter().map(event).collect(),
                reminders: d
                    .remind
                    .iter()
                    .map(|before| format!("{before} vooraf, aan {}", role(&d.owner)))
                    .collect(),
                escalations: d
                    .escalate
                    .iter()
                    .map(|step| {
                        let when = if step.after.is_zero() {
                            "De dag na de termijn".to_string()
                        } else {
                            format!("{} na de termijn", capitalised(&step.after.to_string()))
                        };
                        let mut text = format!("{when}: aan {}", roles(&step.to));
                        if let Some(repeat) = step.repeat {
                            text.push_str(&format!(", daarna elke {repeat} opnieuw"));
                        }
                        text
                    })
                    .collect(),
                rules,
            }
        })
        .collect();
    WorkflowText {
        name: w.name.clone(),
        title: w.title.clone(),
        source: w.source.clone(),
        applies_to,
        starts,
        deadlines,
        signals: w
            .signals
            .iter()
            .map(|s| format!("Bij {}: een signaal aan {}", event(&s.on), roles(&s.to)))
            .collect(),
        ends: w.ends_on.iter().map(event).collect(),
        cancels: w.cancel_on.iter().map(event).collect(),
        closing,
        roles_in,
        params: w.params.iter().map(|p| p.name.replace('_', " ")).collect(),
        terms,
    }
}

fn event(on: &EventMatch) -> String {
    let mut text = format!("het bericht {}", on.event);
    for condition in &on.when {
        text.push_str(&format!(" als {}", condition_text(condition)));
    }
    text
}

fn condition_text(c: &Condition) -> String {
    let field = c.field.strip_prefix("data.").unwrap_or(&c.field);
    let verb = if c.negated { "niet" } else { "" };
    let values = c.values.join(" of ");
    if verb.is_empty() {
        format!("{field} {values} is")
    } else {
        format!("{field} niet {values} is")
    }
}

fn date(w: &Workflow, expr: &DateExpr) -> String {
    let mut text = match &expr.anchor {
        Anchor::Start => "de start".to_string(),
        Anchor::Birthday(age) => format!("de {age}e verjaardag"),
        Anchor::Data(field) => format!("de datum {field} uit het startbericht"),
        Anchor::Date(index) => w.dates[*index].name.replace('_', " "),
        Anchor::Deadline(index) => format!("de termijn '{}'", w.deadlines[*index].title),
        Anchor::Event(event) => format!("de dag van het bericht {}", event.name()),
    };
    for (sign, t) in &expr.terms {
        let sign = match sign {
            Sign::Plus => '+',
            Sign::Minus => '−',
        };
        text.push_str(&format!(" {sign} {}", term(w, *t)));
    }
    text
}

fn term(w: &Workflow, term: Term) -> String {
    match term {
        Term::Literal(d) => d.to_string(),
        Term::Param(i) => {
            let p = &w.params[i];
            format!("{} (standaard {})", p.name.replace('_', " "), p.default)
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// A path segment that may be put in a link as it is: the case ids and gemeente codes the
/// store holds are checked for this at intake, but a link never trusts that.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The link to a case's page (on the pages, in e-mail and in calendar feeds).
pub fn case_link(gemeente: &str, case: &str) -> String {
    format!("/casus/{}/{}", path_segment(gemeente), path_segment(case))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_escape_what_a_path_segment_cannot_hold() {
        assert_eq!(case_link("GM0150", "C-1"), "/casus/GM0150/C-1");
        assert_eq!(case_link("GM0150", "a/b c"), "/casus/GM0150/a%2Fb%20c");
    }
}
