//! One daemon per store: an exclusive lock on a file beside the database, held for the
//! daemon's life. Two daemons on one SQLite file would both fire timers and deliver, so a
//! notification could go out twice; the second one refuses to start and names the first.
//! The lock is the operating system's (released when the process ends, a `kill -9` too), and
//! the file says who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock; released when dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{path} is in use by another waakvlam ({holder}); stop that one first, or give this one a database of its own"
    )]
    Held { path: PathBuf, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreLock {
    /// Takes the lock of `database` for this process, recording who holds it (`holder`: for
    /// example the process id and the address it listens on).
    pub fn acquire(database: &Path, holder: &str) -> Result<StoreLock, LockError> {
        let path = lock_path(database);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = text.trim();
                return Err(LockError::Held {
                    path: database.to_path_buf(),
                    holder: if holder.is_empty() {
                        "it did not say who it is".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(holder.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(StoreLock { _file: file })
    }
}

/// Who holds the lock of `database` now, as it says (`pid 12, listening on ...`): `None` when
/// the process it names is gone. Looks without taking the lock, which a daemon starting at
/// that moment would then find taken.
pub fn holder(database: &Path) -> Option<String> {
    let text = std::fs::read_to_string(lock_path(database)).ok()?;
    let holder = text.trim();
    let pid: u32 = holder
        .strip_prefix("pid ")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}"))
        .exists()
        .then(|| holder.to_string())
}

/// `data/waakvlam.db` -> `data/waakvlam.db.lock`.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// This machine's name, for the lease and the log position.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("waakvlam.db");
        let first = StoreLock::acquire(&database, "pid 1, listening on 127.0.0.1:8080").unwrap();
        let refused = StoreLock::acquire(&database, "pid 2").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("is in use by another waakvlam (pid 1, listening on 127.0.0.1:8080)"),
            "{refused}"
        );
        drop(first);
        StoreLock::acquire(&database, "pid 2").expect("free again once the first is gone");
    }

    #[test]
    fn the_holder_is_named_while_its_process_runs() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("meldingen.jsonl");
        assert_eq!(holder(&database), None, "nobody took it yet");
        let me = format!("pid {}, listening on 127.0.0.1:8080", std::process::id());
        let lock = StoreLock::acquire(&database, &me).unwrap();
        assert_eq!(holder(&database), Some(me));
        drop(lock);
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        StoreLock::acquire(
            &database,
            &format!("pid {}, listening on 127.0.0.1:8080", gone.id()),
        )
        .unwrap();
        assert_eq!(holder(&database), None, "its process has ended");
    }
}
