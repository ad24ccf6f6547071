//! The e-mail channel (lettre): a Dutch message in plain text and HTML to the addresses of
//! the notification's roles, over SMTP with STARTTLS (or TLS, or plain to a local relay).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration as StdDuration;

use super::Attempt;
use crate::catalog::Catalog;
use crate::config::{SmtpConfig, SmtpTls};
use crate::store::Due;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use waakvlam_core::engine::notification::dutch_day;
use waakvlam_core::engine::{Kind, Notification};

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// gemeente -> role -> addresses.
    recipients: HashMap<String, BTreeMap<String, Vec<String>>>,
    /// One mail per recipient for everything due at once (the daily digest).
    pub digest: bool,
    /// The gemeenten' plugins, which resolve roles first.
    plugins: Option<std::sync::Arc<waakvlam_plugin_host::Registry>>,
    /// The web pages' address, for links to case pages.
    site: String,
    /// The definitions in use: the names of gemeenten, workflows and deadlines for the text.
    shelf: crate::catalog::Shelf,
}

impl Mailer {
    pub fn new(
        config: &SmtpConfig,
        recipients: HashMap<String, BTreeMap<String, Vec<String>>>,
        plugins: Option<std::sync::Arc<waakvlam_plugin_host::Registry>>,
        site: String,
        shelf: crate::catalog::Shelf,
    ) -> anyhow::Result<Mailer> {
        let tls = || -> anyhow::Result<TlsParameters> {
            let mut builder = TlsParameters::builder(config.host.clone());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|err| anyhow::anyhow!("reading {}: {err}", path.display()))?;
                builder = builder.add_root_certificate(Certificate::from_pem(&pem)?);
            }
            Ok(builder.build_rustls()?)
        };
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls()?),
            SmtpTls::Tls => Tls::Wrapper(tls()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(StdDuration::from_secs(config.timeout_seconds)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: config.from.parse()?,
            recipients,
            digest: config.digest_hour.is_some(),
            plugins,
            site,
            shelf,
        })
    }

    /// The addresses of the notification's roles in its gemeente; a role without one makes
    /// the delivery impossible, with that as the reason.
    /// [`Mailer::addresses`] off the async workers: a plugin call waits on the plugin's thread.
    fn resolve(&self, record: &Notification) -> Result<Vec<String>, String> {
        match &self.plugins {
            Some(_) => tokio::task::block_in_place(|| self.addresses(record)),
            None => self.addresses(record),
        }
    }

    fn addresses(&self, record: &Notification) -> Result<Vec<String>, String> {
        let (gemeente, workflow) = (record.gemeente.as_str(), record.workflow.as_str());
        let known = self.recipients.get(gemeente);
        let mut addresses = Vec::new();
        for role in &record.to {
            // The gemeente's plugin first: addresses are its data.
            let from_plugin = self
                .plugins
                .as_ref()
                .and_then(|p| p.recipients(gemeente, workflow, role))
                .filter(|f| !f.is_empty());
            if let Some(found) = from_plugin {
                addresses.extend(found);
                continue;
            }
            // A workflow's own people for the role first, then the role's.
            let own = known.and_then(|k| k.get(&format!("{workflow}/{role}")));
            match own.or_else(|| known.and_then(|k| k.get(role))) {
                Some(list) if !list.is_empty() => addresses.extend(list.iter().cloned()),
                _ => return Err(format!("no e-mail address for role '{role}' in {gemeente}")),
            }
        }
        addresses.sort();
        addresses.dedup();
        Ok(addresses)
    }

    /// One mail to `to`: a single notification as it is, several as a digest.
    fn compose(
        &self,
        to: &[String],
        records: &[&Notification],
        message_id: String,
    ) -> Result<Message, String> {
        let catalog = self.shelf.get();
        let mut message = Message::builder().from(self.from.clone());
        for address in to {
            let mailbox = address
                .parse::<Mailbox>()
                .map_err(|_| format!("'{address}' is not an e-mail address"))?;
            message = message.to(mailbox);
        }
        let (subject, plain, html) = match records {
            [record] => (
                subject(record, &catalog),
                plain(record, &catalog),
                html(record, &catalog, &self.site),
            ),
            _ => (
                format!("Waakvlam: {} termijnen en berichten", records.len()),
                records
                    .iter()
                    .map(|r| plain(r, &catalog))
                    .collect::<Vec<_>>()
                    .join("\n----\n\n"),
                records
                    .iter()
                    .map(|r| html(r, &catalog, &self.site))
                    .collect::<Vec<_>>()
                    .join("<hr>"),
            ),
        };
        // A deterministic Message-ID: a mail sent twice (at least once) is recognisably the same.
        message
            .subject(subject)
            .message_id(Some(message_id))
            .multipart(MultiPart::alternative_plain_html(plain, html))
            .map_err(|err| format!("the message could not be made: {err}"))
    }

    async fn deliver(&self, message: Message) -> Attempt {
        match self.transport.send(message).await {
            Ok(_) => Attempt::Delivered,
            Err(err) if err.is_permanent() => {
                Attempt::Impossible(format!("the mail server refused: {err}"))
            }
            Err(err) => Attempt::Failed(format!("sending failed: {err}")),
        }
    }

    pub async fn send(&self, due: &Due) -> Attempt {
        let to = match self.resolve(&due.record) {
            Ok(to) => to,
            Err(reason) => return Attempt::Impossible(reason),
        };
        match self.compose(&to, &[&due.record], format!("<{}@waakvlam>", due.id)) {
            Ok(message) => self.deliver(message).await,
            Err(reason) => Attempt::Impossible(reason),
        }
    }

    /// The digest: everything due now, one mail per address. A notification counts as
    /// delivered when every mail it was in went out.
    pub async fn send_digest(&self, due: &[Due]) -> Vec<(String, Attempt)> {
        let mut outcome: BTreeMap<&str, Attempt> = BTreeMap::new();
        let mut per_address: BTreeMap<String, Vec<&Due>> = BTreeMap::new();
        for item in due {
            match self.resolve(&item.record) {
                Ok(to) => {
                    outcome.insert(&item.id, Attempt::Delivered);
                    for address in to {
                        per_address.entry(address).or_default().push(item);
                    }
                }
                Err(reason) => {
                    outcome.insert(&item.id, Attempt::Impossible(reason));
                }
            }
        }
        for (address, items) in &per_address {
            let records: Vec<&Notification> = items.iter().map(|i| &i.record).collect();
            let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
            let message_id = format!(
                "<{}@waakvlam>",
                waakvlam_core::engine::notification::digest_id(&ids, address)
            );
            let attempt = match self.compose(std::slice::from_ref(address), &records, message_id) {
                Ok(message) => self.deliver(message).await,
                Err(reason) => Attempt::Impossible(reason),
            };
            if attempt != Attempt::Delivered {
                for id in ids {
                    outcome.insert(id, attempt.clone());
                }
            }
        }
        outcome
            .into_iter()
            .map(|(id, attempt)| (id.to_string(), attempt))
            .collect()
    }
}

/// The subject: what it is about, the case and the task, so the inbox alone tells.
fn subject(record: &Notification, catalog: &Catalog) -> String {
    let case = &record.case;
    let title = catalog.deadline_title(&record.workflow, &record.deadline);
    match record.kind {
        Kind::Reminder => {
            let due = record.due.map(dutch_day).unwrap_or_default();
            format!("Herinnering casus {case}: {title}, uiterlijk {due}")
        }
        Kind::Escalation => format!("Te laat, casus {case}: {title}"),
        Kind::Overview => {
            let count = record.items.len();
            format!(
                "Overzicht {}: {count} {}",
                record.deadline,
                if count == 1 { "termijn" } else { "termijnen" }
            )
        }
        Kind::Signal => format!("Bericht over casus {case}"),
        Kind::Report => match &record.report {
            Some(report) => format!(
                "Rapportage {}: {} tot en met {}",
                record.deadline,
                crate::dutch::day(report.from),
                crate::dutch::day(report.to)
            ),
            None => format!("Rapportage {}", record.deadline),
        },
    }
}

/// The facts under the message, as label and value: names, not codes; dates in words.
fn details(record: &Notification, catalog: &Catalog) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    // An overview is of no one case.
    if !record.case.is_empty() {
        lines.push(("Casus", record.case.clone()));
    }
    lines.push((
        "Gemeente",
        catalog
            .gemeenten
            .get(&record.gemeente)
            .cloned()
            .unwrap_or_else(|| record.gemeente.clone()),
    ));
    // A plugin's signal, an overview and a report belong to no one workflow.
    if record.workflow != "plugin" && !matches!(record.kind, Kind::Overview | Kind::Report) {
        lines.push(("Werkproces", catalog.title_of(&record.workflow)));
    }
    if let Some(due) = record.due {
        lines.push(("Uiterlijk", dutch_day(due)));
    }
    lines.push(("Kenmerk", record.id.clone()));
    lines
}

/// The line under every mail: who sends it; it goes to gemeente, provider and Veilig Thuis
/// staff alike.
const FOOTER: &str = "Dit bericht komt van Waakvlam, de termijnbewaking jeugdhulp.";

fn plain(record: &Notification, catalog: &Catalog) -> String {
    let mut body = record.message.clone();
    body.push_str("\n\n");
    for (label, value) in details(record, catalog) {
        body.push_str(&format!("{label}: {value}\n"));
    }
    body.push('\n');
    body.push_str(FOOTER);
    body.push('\n');
    body
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An overview's deadlines as a table, each case a link to its page.
fn overview_table(record: &Notification, site: &str) -> String {
    let rows: String = record
        .items
        .iter()
        .map(|item| {
            let due = item
                .due
                .map_or_else(|| "geen datum".to_string(), crate::dutch::day);
            format!(
                "<tr><td><a href=\"{site}{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                crate::catalog::case_link(&record.gemeente, &item.case),
                escape(&item.case),
                escape(&item.title),
                escape(&due),
                crate::dutch::deadline_state(item.status),
            )
        })
        .collect();
    format!(
        "<table><thead><tr><th align=\"left\">Casus</th><th align=\"left\">Termijn</th><th align=\"left\">Uiterlijk</th><th align=\"left\">Status</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

/// A report's figures per deadline as a table, the totals of the gemeente last.
fn report_table(report: &crate::report::Report, catalog: &Catalog) -> String {
    let cells = |c: &crate::report::Counts| {
        let rate = c
            .on_time_rate
            .map(|r| format!("{:.1}%", r * 100.0).replace('.', ","))
            .unwrap_or_else(|| "-".into());
        let escalations: u64 = c.escalations.values().sum();
        format!(
            "<td align=\"right\">{}</td><td align=\"right\">{}</td><td align=\"right\">{}</td><td align=\"right\">{}</td><td align=\"right\">{}</td><td align=\"right\">{rate}</td><td align=\"right\">{escalations}</td>",
            c.due, c.met_on_time, c.met_late, c.not_met, c.open
        )
    };
    let mut rows: String = report
        .rows
        .iter()
        .map(|row| {
            format!(
                "<tr><td>{}</td><td>{}</td>{}</tr>",
                escape(&catalog.title_of(&row.workflow)),
                escape(&catalog.deadline_title(&row.workflow, &row.deadline)),
                cells(&row.counts)
            )
        })
        .collect();
    if let Some(total) = report.totals.iter().find(|t| t.gemeente.is_none()) {
        rows.push_str(&format!(
            "<tr><th align=\"left\" colspan=\"2\">Totaal</th>{}</tr>",
            cells(&total.counts)
        ));
    }
    format!(
        "<table><thead><tr><th align=\"left\">Werkproces</th><th align=\"left\">Termijn</th><th>Te halen</th><th>Op tijd</th><th>Te laat gehaald</th><th>Niet gehaald</th><th>Nog open</th><th>Op tijd</th><th>Escalaties</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

fn html(record: &Notification, catalog: &Catalog, site: &str) -> String {
    let first = record.message.lines().next().unwrap_or_default();
    if record.kind == Kind::Overview {
        return format!(
            "<!DOCTYPE html><html lang=\"nl\"><body><p>{}</p>{}<p><small>{FOOTER}</small></p></body></html>",
            escape(first),
            overview_table(record, site)
        );
    }
    if let (Kind::Report, Some(report)) = (record.kind, &record.report) {
        return format!(
            "<!DOCTYPE html><html lang=\"nl\"><body><p>{}</p>{}<p>De cijfers per gemeente en werkproces staan ook op <a href=\"{site}/rapportage\">{site}/rapportage</a>.</p><p><small>{FOOTER}</small></p></body></html>",
            escape(first),
            report_table(report, catalog)
        );
    }
    let rows: String = details(record, catalog)
        .into_iter()
        .map(|(label, value)| {
            format!(
                "<tr><th align=\"left\">{label}</th><td>{}</td></tr>",
                escape(&value)
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html><html lang=\"nl\"><body><p>{}</p><table>{rows}</table><p><small>{FOOTER}</small></p></body></html>",
        escape(&record.message)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use waakvlam_core::engine::Notification;

    /// A record as the store keeps it, read back as the store reads it.
    fn stored(mut record: serde_json::Value) -> Notification {
        for (field, value) in [
            ("instance", json!("i")),
            ("to", json!([])),
            ("level", json!(0)),
            ("due", json!(null)),
            ("at", json!("2027-04-28T09:00:00+02:00")),
        ] {
            record
                .as_object_mut()
                .unwrap()
                .entry(field)
                .or_insert(value);
        }
        serde_json::from_str(&record.to_string()).unwrap()
    }

    /// The shipped configuration and workflows, for the names in the text.
    fn catalog() -> crate::catalog::Catalog {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = crate::config::Config::load(&root.join("config/waakvlam.yaml")).unwrap();
        let workflows = waakvlam_core::workflow::load(&[root.join("workflows")]).unwrap();
        crate::catalog::Catalog::describe(&config, &workflows, None)
    }

    #[test]
    fn subjects_name_the_case_and_the_task_and_bodies_use_names_and_dates_in_words() {
        let catalog = catalog();
        let record = stored(
            json!({"id": "n1", "kind": "escalation", "level": 2, "case": "C-1", "gemeente": "GM0150",
            "workflow": "klachttermijnen", "deadline": "afgerond", "due": "2027-04-27",
            "message": "Te laat <klacht>"}),
        );
        assert_eq!(
            super::subject(&record, &catalog),
            "Te laat, casus C-1: Klacht afhandelen"
        );
        let reminder = stored(
            json!({"id": "n2", "kind": "reminder", "level": 0, "case": "C-1", "gemeente": "GM0150",
            "workflow": "klachttermijnen", "deadline": "afgerond", "due": "2027-04-27", "message": "m"}),
        );
        assert_eq!(
            super::subject(&reminder, &catalog),
            "Herinnering casus C-1: Klacht afhandelen, uiterlijk dinsdag 27 april 2027"
        );
        assert!(
            super::html(&record, &catalog, "https://waakvlam.example")
                .contains("Te laat &lt;klacht&gt;")
        );
        let plain = super::plain(&record, &catalog);
        assert!(
            plain.contains("Casus: C-1\nGemeente: Deventer\nWerkproces: Klachtbehandeling jeugdhulp\nUiterlijk: dinsdag 27 april 2027\nKenmerk: n1\n"),
            "{plain}"
        );
        assert!(
            !plain.contains("GM0150")
                && !plain.contains("2027-04-27")
                && !plain.contains("uw gemeente")
        );
        let signal = stored(
            json!({"id": "n3", "kind": "signal", "case": "C-1", "gemeente": "GM0150",
            "workflow": "plugin", "deadline": "zorgwijziging_tijdens_klacht", "message": "m"}),
        );
        assert_eq!(super::subject(&signal, &catalog), "Bericht over casus C-1");
    }

    #[test]
    fn an_overview_lists_its_deadlines_in_a_table_with_links_to_the_cases() {
        let catalog = catalog();
        let record = stored(
            json!({"id": "o1", "kind": "overview", "case": "", "gemeente": "GM0150",
            "workflow": "overzicht", "deadline": "te-laat-maandag",
            "message": "Overzicht 'te-laat-maandag': 1 termijn.\n- casus C-1: Klacht afhandelen, 11 mei 2027",
            "items": [{"case": "C-1", "workflow": "klachttermijnen", "deadline": "afgerond",
                "title": "Klacht afhandelen", "due": "2027-05-11", "status": "overdue"}]}),
        );
        assert_eq!(
            super::subject(&record, &catalog),
            "Overzicht te-laat-maandag: 1 termijn"
        );
        let html = super::html(&record, &catalog, "https://waakvlam.example");
        assert!(
            html.contains("<tr><td><a href=\"https://waakvlam.example/casus/GM0150/C-1\">C-1</a></td><td>Klacht afhandelen</td><td>11 mei 2027</td><td>te laat</td></tr>"),
            "{html}"
        );
        let plain = super::plain(&record, &catalog);
        assert!(
            !plain.contains("Casus:") && !plain.contains("Werkproces:"),
            "{plain}"
        );
    }

    #[test]
    fn a_report_mail_names_its_period_and_tabulates_its_figures() {
        let catalog = catalog();
        let counts = json!({"due": 3, "met_on_time": 1, "met_late": 1, "not_met": 1, "open": 0,
            "cancelled": 0, "on_time_rate": 0.3333333333333333,
            "lead_time_days": {"median": 12.0, "p90": 17.0},
            "days_late": {"median": 5.5, "max": 8}, "escalations": {"1": 2}});
        let mut row = counts.clone();
        row.as_object_mut().unwrap().extend(
            json!({"gemeente": "GM0150", "workflow": "klachttermijnen", "deadline": "in_behandeling"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let mut total = counts.clone();
        total["gemeente"] = json!(null);
        let record = stored(
            json!({"id": "r1", "kind": "report", "case": "", "gemeente": "GM0150",
            "workflow": "rapportage", "deadline": "kwartaalrapportage",
            "message": "Rapportage 'kwartaalrapportage' voor Deventer over 1 april 2027 tot en met 30 juni 2027: 3 termijnen",
            "report": {"from": "2027-04-01", "to": "2027-06-30", "rows": [row], "totals": [total]}}),
        );
        assert_eq!(
            super::subject(&record, &catalog),
            "Rapportage kwartaalrapportage: 1 april 2027 tot en met 30 juni 2027"
        );
        let html = super::html(&record, &catalog, "https://waakvlam.example");
        assert!(
            html.contains("<tr><td>Klachtbehandeling jeugdhulp</td><td>Klacht in behandeling nemen</td><td align=\"right\">3</td><td align=\"right\">1</td><td align=\"right\">1</td><td align=\"right\">1</td><td align=\"right\">0</td><td align=\"right\">33,3%</td><td align=\"right\">2</td></tr>"),
            "{html}"
        );
        assert!(html.contains("<th align=\"left\" colspan=\"2\">Totaal</th>"));
        assert!(html.contains("https://waakvlam.example/rapportage"));
        let plain = super::plain(&record, &catalog);
        assert!(!plain.contains("Werkproces:"), "{plain}");
    }
}
