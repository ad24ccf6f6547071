//! The iJw intake's door (DESIGN.md, "iJw intake"): a message is read strictly, its BSN made
//! a pseudonym at once and dropped, and the scheduler takes it in one batch. Messages come by
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

/// Watches the inbox: every `*.xml` in it (in name order) is read, taken and answered in a
/// `.json` in `processed/` (taken, whatever its products' answers) or `refused/` (not valid
/// iJw, or for a gemeente the configuration does not know). Then the original is removed: it
/// holds a BSN, a name and a birth date, which Waakvlam never keeps. An operator who must keep
/// originals names a directory and a number of days (`keep_originals`); they are moved there
/// and removed when the days are over. What one look finds is taken in batches of up to
/// [`BATCH`] messages, each batch one commit. A file is taken once it has not changed for a
/// second, so one still being written is left for the next look (a back office that writes
/// under another name and renames is taken at once).
pub async fn watch_inbox(
    config: Arc<IjwConfig>,
    inbox: PathBuf,
    gemeenten: Vec<String>,
    commands: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut folders = vec![
        inbox.clone(),
        inbox.join("processed"),
        inbox.join("refused"),
    ];
    folders.extend(config.keep_originals.iter().map(|(dir, _)| dir.clone()));
    for folder in folders {
        if let Err(err) = std::fs::create_dir_all(&folder) {
            tracing::error!(folder = %folder.display(), cause = %err, "the iJw inbox cannot be made; it is not watched");
            return;
        }
    }
    remove_old_originals(&inbox, config.keep_originals.as_ref());
    loop {
        let settled = match waiting(&inbox, SETTLED) {
            Ok(files) => files,
            Err(err) => {
                tracing::warn!(inbox = %inbox.display(), cause = %err, "the iJw inbox cannot be read; trying again");
                Vec::new()
            }
        };
        for chunk in settled.chunks(BATCH) {
            take_files(&config, chunk, &gemeenten, &commands, &metrics).await;
            if *stop.borrow() {
                return;
            }
        }
        if let Some((kept, days)) = &config.keep_originals {
            prune_kept(kept, *days);
        }
        tokio::select! {
            _ = tokio::time::sleep(config.poll) => {}
            _ = stop.changed() => return,
        }
    }
}

/// At most this many messages in one commit.
const BATCH: usize = 500;
/// A file unchanged this long is complete.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(1);

async fn take_files(
    config: &IjwConfig,
    files: &[(PathBuf, u64)],
    gemeenten: &[String],
    commands: &mpsc::Sender<Command>,
    metrics: &Metrics,
) {
    let mut taken = Vec::new();
    let mut messages = Vec::new();
    for (path, size) in files {
        let name = answer_name(path);
        // Over the limit: refused unread, so a 50 MiB file costs nothing.
        let received = if *size > waakvlam_core::ijw::MAX_BYTES as u64 {
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
                    continue;
                }
            }
        };
        match received {
            Err(problems) => {
                metrics.ijw_messages_refused.fetch_add(1, Relaxed);
                tracing::info!(file = %name, problems = problems.len(), "iJw message refused");
                answer_file(path, "refused", &refusal(&problems), config);
            }
            Ok(received) if !gemeenten.contains(&received.message.gemeente) => {
                metrics.ijw_messages_refused.fetch_add(1, Relaxed);
                let message = format!(
                    "the message is for {}, which the configuration does not know; nothing was taken",
                    received.message.gemeente
                );
                tracing::info!(file = %name, gemeente = %received.message.gemeente, "iJw message for an unknown gemeente refused");
                let answer = json!({ "status": "refused", "retourcode": intake::TECHNICAL, "problems": [{ "path": "Bericht/Header/Ontvanger", "message": message }] });
                answer_file(path, "refused", &answer, config);
            }
            Ok(received) => {
                messages.push(crate::scheduler::intake::IjwMessage {
                    message: received.message.clone(),
                    case: received.case.clone(),
                    audit: AuditEntry {
                        at: jiff::Timestamp::now().to_string(),
                        token: "ijw-inbox".into(),
                        on_behalf_of: None,
                        action: "ijw.write".into(),
                        gemeente: Some(received.message.gemeente.clone()),
                        case: Some(received.case.clone()),
                        outcome: "allowed".into(),
                    },
                });
                taken.push((path, received));
            }
        }
    }
    if messages.is_empty() {
        return;
    }
    let asked =
        crate::scheduler::ask_scheduler(commands, |reply| Command::Ijw { messages, reply }).await;
    match asked {
        Ok(Ok(answers)) => {
            for ((path, received), answers) in taken.into_iter().zip(answers) {
                count(metrics, &answers);
                answer_file(path, "processed", &answer(&received, &answers), config);
            }
            tracing::info!(messages = files.len(), "iJw messages from the inbox taken");
        }
        // Not stored, or the daemon stopping: the files stay for the next look.
        Ok(Err(err)) => {
            tracing::warn!(cause = %err, "iJw messages of the inbox could not be stored; trying again");
        }
        Err(_) => {}
    }
}

/// The name a message's answer is written under and its log lines use: the file's stem, or,
/// when that holds a number that may be a BSN, `bericht-` and the first 16 hexadecimal digits
/// of the SHA-256 of the file name (a back office computes the same to find its answer).
pub fn answer_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if waakvlam_core::event::has_bsn_like_number(&name)
        || stem.chars().any(char::is_control)
        || waakvlam_core::event::has_bsn_like_number(&name.replace(['_', '-', '.'], ""))
    {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        return format!("bericht-{hex}");
    }
    stem
}

/// Writes the answer in `folder`, then removes the original, or moves it to where originals
/// are kept. The answer is written first: a crash in between leaves the message in the inbox,
/// to be taken again (a retry, which the ledger recognises).
fn answer_file(path: &Path, folder: &str, answer: &Value, config: &IjwConfig) {
    let name = answer_name(path);
    let target = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(folder)
        .join(format!("{name}.json"));
    let written = serde_json::to_vec_pretty(answer)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&target, bytes))
        .and_then(|()| put_away(path, config.keep_originals.as_ref()));
    if let Err(err) = written {
        tracing::error!(message = %name, cause = %err, "an iJw message was handled but cannot be moved out of the inbox");
    }
}

/// Removes an answered original, or moves it to `keep` and dates it from now, so that the days
/// it is kept count from its answer.
fn put_away(path: &Path, keep: Option<&(PathBuf, u32)>) -> std::io::Result<()> {
    match keep {
        None => std::fs::remove_file(path),
        Some((directory, _)) => {
            let target = directory.join(path.file_name().unwrap_or_default());
            std::fs::rename(path, &target)?;
            std::fs::File::options()
                .write(true)
                .open(&target)?
                .set_modified(std::time::SystemTime::now())
        }
    }
}

/// Originals that an earlier version of the daemon kept beside their answers (in
/// `processed/` and `refused/`) go the way of every answered original.
fn remove_old_originals(inbox: &Path, keep: Option<&(PathBuf, u32)>) {
    let mut removed = 0;
    for folder in ["processed", "refused"] {
        let Ok(files) = waiting(&inbox.join(folder), std::time::Duration::ZERO) else {
            continue;
        };
        for (path, _) in files {
            match put_away(&path, keep) {
                Ok(()) => removed += 1,
                Err(err) => {
                    tracing::error!(folder, cause = %err, "an answered iJw original cannot be removed")
                }
            }
        }
    }
    if removed > 0 {
        tracing::info!(
            originals = removed,
            kept = keep.is_some(),
            "answered iJw originals of an earlier version taken out of the inbox"
        );
    }
}

/// Removes kept originals older than `days`.
fn prune_kept(directory: &Path, days: u32) {
    let age = std::time::Duration::from_secs(u64::from(days) * 24 * 3600);
    let Ok(files) = waiting(directory, age) else {
        return;
    };
    let mut removed = 0;
    for (path, _) in files {
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(err) => tracing::error!(cause = %err, "a kept iJw original cannot be removed"),
        }
    }
    if removed > 0 {
        tracing::info!(
            originals = removed,
            days,
            "kept iJw originals removed after their retention"
        );
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
    let files = waiting(folder, std::time::Duration::ZERO)
        .with_context(|| format!("reading {}", folder.display()))?;
    let mut problems = Vec::new();
    let mut received = Vec::new();
    for (path, size) in files {
        let name = format!("{}.xml", answer_name(&path));
        if size > waakvlam_core::ijw::MAX_BYTES as u64 {
            problems.push(format!(
                "{name}: Bericht: the message is {size} bytes; an iJw message is at most 1 MiB, so it was not read"
            ));
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading the message {name}"))?;
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
            let birth = event
                .data_text("geboortedatum")
                .and_then(|t| BirthDate::parse(&t));
            if birth.is_some() || !births.contains_key(&key) {
                births.insert(key.clone(), birth.or(known.flatten()));
            }
        }
        events.extend(made.events);
    }
    Ok((events, problems))
}

/// The `*.xml` files in `folder` unchanged for at least `settled`, with their sizes, in name
/// order.
fn waiting(folder: &Path, settled: std::time::Duration) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let path = entry.path();
        let metadata = entry.metadata()?;
        let old_enough = settled.is_zero()
            || metadata
                .modified()
                .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age >= settled));
        if metadata.is_file()
            && old_enough
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        {
            files.push((path, metadata.len()));
        }
    }
    files.sort();
    Ok(files)
}
