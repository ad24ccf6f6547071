//! The iJw intake's door (DESIGN.md, "iJw intake"): a message is read strictly, its BSN made
//! a pseudonym at once and dropped, and the core takes it in one batch. Messages come by
//! `POST /v1/ijw` (api.rs) and from an inbox directory watched here; `simulate --ijw` reads a
//! folder of them the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use serde_json::{Value, json};
use std::sync::mpsc;
use waakvlam_core::ijw::intake::{self, Answer, Status};
use waakvlam_core::ijw::read::{self, Problem};
use waakvlam_core::ijw::{Message, pseudonym};

use crate::config::IjwConfig;
use crate::metrics::Metrics;
use crate::scheduler::Command;
use crate::store::AuditEntry;

/// A read message and its young person's case id; the BSN is gone.
pub struct Received {
    pub message: Message,
    pub case: String,
}

/// Reads `bytes` as a JW305 or JW307 and makes the case id from its BSN.
pub fn receive(bytes: &[u8], secret: &str) -> Result<Received, Vec<Problem>> {
    let read = read::read(bytes)?;
    let case = pseudonym::case_id(secret.as_bytes(), &read.bsn);
    Ok(Received {
        message: read.message,
        case,
    })
}

/// The answer to a message that is not valid iJw: every problem with its path.
pub fn refusal(problems: &[Problem]) -> Value {
    json!({
        "status": "refused",
        "retourcode": intake::TECHNICAL,
        "problems": problems,
    })
}

/// The answer to a message taken: the message, the case and the answer per product.
pub fn answer(received: &Received, answers: &[Answer]) -> Value {
    json!({
        "status": "taken",
        "message": {
            "code": received.message.code,
            "afzender": received.message.afzender,
            "identificatie": received.message.identificatie,
            "gemeente": received.message.gemeente,
        },
        "case": received.case,
        "products": answers,
    })
}

pub fn count(metrics: &Metrics, answers: &[Answer]) {
    metrics.ijw_messages_taken.fetch_add(1, Relaxed);
    for a in answers {
        match a.status {
            Status::Accepted => &metrics.ijw_products_accepted,
            Status::Duplicate => &metrics.ijw_products_duplicate,
            Status::Refused => &metrics.ijw_products_refused,
        }
        .fetch_add(1, Relaxed);
    }
}

/// Watches the inbox: every `*.xml` in it (oldest name first) is read, taken, answered in a
/// `.json` beside it and moved to `processed/` (taken, whatever its products' answers) or
/// `refused/` (not valid iJw, or for a gemeente the configuration does not know). A file still
/// being written is left for the next look: it is taken once its size stays the same.
pub async fn watch_inbox(
    config: Arc<IjwConfig>,
    inbox: PathBuf,
    gemeenten: Vec<String>,
    commands: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    for folder in [inbox.clone(), inbox.join("processed"), inbox.join("refused")] {
        if let Err(err) = std::fs::create_dir_all(&folder) {
            tracing::error!(folder = %folder.display(), cause = %err, "the iJw inbox cannot be made; it is not watched");
            return;
        }
    }
    let mut sizes: std::collections::HashMap<PathBuf, u64> = Default::default();
    loop {
        let files = match waiting(&inbox) {
            Ok(files) => files,
            Err(err) => {
                tracing::warn!(inbox = %inbox.display(), cause = %err, "the iJw inbox cannot be read; trying again");
                Vec::new()
            }
        };
        for (path, size) in files {
            // Taken when its size is the size seen the look before: a writer is done with it.
            if sizes.insert(path.clone(), size) != Some(size) {
                continue;
            }
            sizes.remove(&path);
            take_file(&config, &path, size, &gemeenten, &commands, &metrics).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(config.poll) => {}
            _ = stop.changed() => return,
        }
    }
}

fn waiting(inbox: &Path) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(inbox)? {
        let entry = entry?;
        let path = entry.path();
        let metadata = entry.metadata()?;
        if metadata.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) {
            files.push((path, metadata.len()));
        }
    }
    files.sort();
    Ok(files)
}

async fn take_file(
    config: &IjwConfig,
    path: &Path,
    size: u64,
    gemeenten: &[String],
    commands: &mpsc::Sender<Command>,
    metrics: &Metrics,
) {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    // Over the limit: refused unread, so a 50 MiB file costs nothing.
    let received = if size > waakvlam_core::ijw::MAX_BYTES as u64 {
        Err(vec![Problem {
            path: "Bericht".into(),
            message: format!(
                "the message is {size} bytes; an iJw message is at most {} bytes (1 MiB), so it was not read",
                waakvlam_core::ijw::MAX_BYTES
            ),
        }])
    } else {
        match std::fs::read(path) {
            Ok(bytes) => receive(&bytes, &config.secret),
            Err(err) => {
                tracing::warn!(file = %name, cause = %err, "an iJw message cannot be read; trying again");
                return;
            }
        }
    };
    let (folder, answer) = match received {
        Err(problems) => {
            metrics.ijw_messages_refused.fetch_add(1, Relaxed);
            tracing::info!(file = %name, problems = problems.len(), "iJw message refused");
            ("refused", refusal(&problems))
        }
        Ok(received) if !gemeenten.contains(&received.message.gemeente) => {
            metrics.ijw_messages_refused.fetch_add(1, Relaxed);
            let message = format!(
                "the message is for {}, which the configuration does not know; nothing was taken",
                received.message.gemeente
            );
            tracing::info!(file = %name, gemeente = %received.message.gemeente, "iJw message for an unknown gemeente refused");
            ("refused", json!({ "status": "refused", "retourcode": intake::TECHNICAL, "problems": [{ "path": "Bericht/Header/Ontvanger", "message": message }] }))
        }
        Ok(received) => {
            let audit = AuditEntry {
                at: jiff::Timestamp::now().to_string(),
                token: "ijw-inbox".into(),
                on_behalf_of: None,
                action: "ijw.write".into(),
                gemeente: Some(received.message.gemeente.clone()),
                case: Some(received.case.clone()),
                outcome: "allowed".into(),
            };
            let asked = crate::api::ask_core(commands, |reply| Command::Ijw {
                message: received.message.clone(),
                case: received.case.clone(),
                audit,
                reply,
            })
            .await;
            match asked {
                Ok(Ok(answers)) => {
                    count(metrics, &answers);
                    tracing::info!(file = %name, case = %received.case, products = answers.len(), "iJw message taken");
                    ("processed", answer(&received, &answers))
                }
                // Not stored, or the daemon stopping: the file stays for the next look.
                Ok(Err(err)) => {
                    tracing::warn!(file = %name, cause = %err, "an iJw message could not be stored; trying again");
                    return;
                }
                Err(_) => return,
            }
        }
    };
    let target = path.parent().unwrap_or(Path::new(".")).join(folder).join(&name);
    let answer_file = target.with_extension("json");
    let written = serde_json::to_vec_pretty(&answer)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&answer_file, bytes))
        .and_then(|()| std::fs::rename(path, &target));
    if let Err(err) = written {
        tracing::error!(file = %name, cause = %err, "an iJw message was handled but cannot be moved out of the inbox");
    }
}

/// The events of a folder of iJw messages, as the intake would make them, for `simulate
/// --ijw`: the messages in the order of their `Dagtekening` (then their file names), with a
/// ledger in memory. Also every problem of a refused message, as `file: path: problem`.
pub fn events_of_folder(
    folder: &Path,
    secret: &str,
) -> anyhow::Result<(Vec<waakvlam_core::event::Event>, Vec<String>)> {
    use anyhow::Context;
    use waakvlam_core::event::BirthDate;
    let files = waiting(folder).with_context(|| format!("reading {}", folder.display()))?;
    let mut problems = Vec::new();
    let mut received = Vec::new();
    for (path, size) in files {
        let name = path.display().to_string();
        if size > waakvlam_core::ijw::MAX_BYTES as u64 {
            problems.push(format!(
                "{name}: Bericht: the message is {size} bytes; an iJw message is at most 1 MiB, so it was not read"
            ));
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {name}"))?;
        match receive(&bytes, secret) {
            Ok(message) => received.push((name, message)),
            Err(found) => problems.extend(found.iter().map(|p| format!("{name}: {p}"))),
        }
    }
    received.sort_by(|a, b| (a.1.message.dagtekening, &a.0).cmp(&(b.1.message.dagtekening, &b.0)));
    let mut ledger = intake::MemoryLedger::default();
    let mut births: std::collections::HashMap<(String, String), Option<BirthDate>> =
        Default::default();
    let mut events = Vec::new();
    for (name, r) in received {
        let key = (r.message.gemeente.clone(), r.case.clone());
        let known = births.get(&key).copied();
        let Ok(made) = intake::intake(&r.message, &r.case, known, &mut ledger);
        for answer in made.answers.iter().filter(|a| a.status == Status::Refused) {
            problems.push(format!(
                "{name}: product {}: refused ({}): {}",
                answer.product,
                answer.retourcode,
                answer.reason.as_deref().unwrap_or_default()
            ));
        }
        for event in &made.events {
            let birth = event.data_text("geboortedatum").and_then(|t| BirthDate::parse(&t));
            if birth.is_some() || !births.contains_key(&key) {
                births.insert(key.clone(), birth.or(known.flatten()));
            }
        }
        events.extend(made.events);
    }
    Ok((events, problems))
}
