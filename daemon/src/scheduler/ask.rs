//! How the HTTP layer and the iJw inbox ask the scheduler something: a command with a
//! one-shot reply, answered within `REQUEST_TIMEOUT` or not at all.

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::Command;

/// How long a request waits for the scheduler before it is answered 503.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why the scheduler gave no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    ShuttingDown,
    /// Not within `REQUEST_TIMEOUT`: the caller may retry.
    TooSlow,
}

/// Sends a command to the scheduler and waits for its answer, at most `REQUEST_TIMEOUT`.
pub async fn ask_scheduler<T>(
    commands: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, Unanswered> {
    let (reply, answer) = oneshot::channel();
    commands
        .send(make(reply))
        .map_err(|_| Unanswered::ShuttingDown)?;
    match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
        Ok(answer) => answer.map_err(|_| Unanswered::ShuttingDown),
        Err(_) => Err(Unanswered::TooSlow),
    }
}
