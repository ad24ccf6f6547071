//! One plugin library: checked, loaded, and called on its own thread with a time limit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use waakvlam_plugin::abi::{self, WvBuffer, WvPluginV1};

use crate::config::PluginConfig;
use crate::health::{Change, Health};

/// Why a plugin was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot be read: {cause}")]
    Unreadable { path: PathBuf, cause: String },
    #[error("{name} is not in any place a plugin is looked for: {}; set 'plugins_dir' in the configuration, or put the library next to the waakvlam binary", .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        name: String,
        searched: Vec<PathBuf>,
    },
    #[error("{path}: SHA-256 is {found}, the configuration pins {pinned}; refusing to load it")]
    Checksum {
        path: PathBuf,
        found: String,
        pinned: String,
    },
    #[error("{path}: not a loadable library: {cause}")]
    NotALibrary { path: PathBuf, cause: String },
    #[error("{path}: no waakvlam_plugin_v1 entry point: {cause}")]
    NoEntry { path: PathBuf, cause: String },
    #[error("{path}: speaks plugin ABI version {found}; this Waakvlam speaks {expected}")]
    AbiVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: its function table is {found} bytes, smaller than version 1's {expected}")]
    TableSize {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: is the plugin of {found}, configured for {configured}")]
    WrongGemeente {
        path: PathBuf,
        found: String,
        configured: String,
    },
    #[error("{path}: {method} failed while loading: {cause}")]
    Failed {
        path: PathBuf,
        method: String,
        cause: String,
    },
}

/// Calls for the plugin's thread, answered one by one in order: many calls in one handoff,
/// since waking a thread costs more than most calls.
struct Request {
    id: u64,
    calls: Vec<(String, Vec<u8>)>,
    reply: mpsc::SyncSender<Answer>,
}

/// A call's answer, with how long the plugin took, measured on its own thread.
struct Answer {
    status: i32,
    bytes: Vec<u8>,
    took: Duration,
}

/// The call the plugin's thread is in: which request, and since when. A caller whose call
/// is queued behind another caller's waits without counting that time against its limit.
type Busy = Arc<Mutex<Option<(u64, Instant)>>>;

/// How often a waiting caller looks whether its call is running over its limit.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// The copied function table: plain function pointers into a library that is never unloaded.
#[derive(Clone, Copy)]
struct Table {
    call: unsafe extern "C" fn(*const u8, usize, *const u8, usize, *mut WvBuffer) -> i32,
    free: unsafe extern "C" fn(WvBuffer),
}

pub struct Plugin {
    pub gemeente: String,
    pub identity: waakvlam_plugin::Identity,
    requests: Mutex<mpsc::Sender<Request>>,
    next_request: AtomicU64,
    busy: Busy,
    timeout: Duration,
    health: Mutex<Health>,
    /// How often it came back after being put aside.
    pub recoveries: AtomicU64,
}

/// A library's bytes in an anonymous, sealed memory file, and the path the loader opens it by.
struct SealedCopy {
    _file: std::fs::File,
    path: PathBuf,
}

/// Copies `bytes` into a memory file that nothing can change afterwards (sealed against
/// writes, growing and shrinking), so the loader maps exactly what was hashed.
fn sealed_copy(bytes: &[u8], gemeente: &str) -> std::io::Result<SealedCopy> {
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};
    let name = std::ffi::CString::new(format!("waakvlam-plugin-{gemeente}"))
        .map_err(std::io::Error::other)?;
    // SAFETY: memfd_create takes a NUL-terminated name and flags and returns a new descriptor
    // or -1; nothing else is touched.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned to us and is owned by nothing else.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on a descriptor we own, with an integer argument.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    Ok(SealedCopy { _file: file, path })
}

impl Plugin {
    pub fn load(config: &PluginConfig) -> Result<Plugin, LoadError> {
        let path = config.library.clone();
        if !config.searched.is_empty() && !path.exists() {
            return Err(LoadError::NotFound {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                searched: config.searched.clone(),
            });
        }
        let bytes = std::fs::read(&path).map_err(|err| LoadError::Unreadable {
            path: path.clone(),
            cause: err.to_string(),
        })?;
        let found: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if let Some(pinned) = &config.sha256
            && *pinned != found
        {
            return Err(LoadError::Checksum {
                path,
                found,
                pinned: pinned.clone(),
            });
        }
        // The very bytes that were hashed are loaded, from a sealed copy in memory: loading
        // the path again would load whatever the file holds by then (a file swapped between
        // the two would run unchecked).
        let copy = sealed_copy(&bytes, &config.gemeente).map_err(|err| LoadError::Unreadable {
            path: path.clone(),
            cause: format!("it cannot be copied into memory to be loaded: {err}"),
        })?;
        // SAFETY: loading a library runs its initialisers. The checksum above makes it the
        // library the operator pinned; beyond that, trusting it is what configuring it means.
        let library = unsafe { libloading::Library::new(&copy.path) }.map_err(|err| {
            LoadError::NotALibrary {
                path: path.clone(),
                cause: err.to_string(),
            }
        })?;
        // The copy stays open as long as the library is loaded, which is for ever.
        std::mem::forget(copy);
        // SAFETY: the symbol's type is the ABI's entry point; a library that exports the name
        // with another type breaks the ABI contract, which the version check below guards.
        let entry: libloading::Symbol<'_, extern "C" fn() -> *const WvPluginV1> =
            unsafe { library.get(abi::ENTRY_SYMBOL) }.map_err(|err| LoadError::NoEntry {
                path: path.clone(),
                cause: err.to_string(),
            })?;
        let table = entry();
        if table.is_null() {
            return Err(LoadError::NoEntry {
                path,
                cause: "it returned no table".into(),
            });
        }
        // SAFETY: every version of the table starts with two u32s: version and size. Only
        // those are read before the version is known.
        let (version, size) = unsafe { ((*table).abi_version, (*table).size) };
        if version != abi::ABI_VERSION {
            return Err(LoadError::AbiVersion {
                path,
                found: version,
                expected: abi::ABI_VERSION,
            });
        }
        let expected = std::mem::size_of::<WvPluginV1>() as u32;
        if size < expected {
            return Err(LoadError::TableSize {
                path,
                found: size,
                expected,
            });
        }
        // SAFETY: version 1 and large enough: the table is a WvPluginV1.
        let table = unsafe {
            Table {
                call: (*table).call,
                free: (*table).free,
            }
        };
        // Never unloaded: function pointers and anything the plugin handed out stay valid.
        std::mem::forget(library);

        let (sender, receiver) = mpsc::channel::<Request>();
        let name = format!("plugin-{}", config.gemeente);
        let busy = Busy::default();
        let serving = busy.clone();
        std::thread::Builder::new()
            .name(name)
            .spawn(move || serve(table, receiver, serving))
            .map_err(|err| LoadError::Failed {
                path: path.clone(),
                method: "start".into(),
                cause: err.to_string(),
            })?;
        let mut plugin = Plugin {
            gemeente: config.gemeente.clone(),
            identity: waakvlam_plugin::Identity::default(),
            requests: Mutex::new(sender),
            next_request: AtomicU64::new(0),
            busy,
            timeout: Duration::from_millis(config.timeout_ms),
            health: Mutex::new(Health::new(Duration::from_millis(config.retry_after_ms))),
            recoveries: AtomicU64::new(0),
        };
        let failed = |method: &str, cause: String| LoadError::Failed {
            path: path.clone(),
            method: method.into(),
            cause,
        };
        let identity = plugin
            .call("identity", &serde_json::Value::Null)
            .map_err(|e| failed("identity", e))?;
        plugin.identity =
            serde_json::from_value(identity).map_err(|e| failed("identity", e.to_string()))?;
        if plugin.identity.gemeente != config.gemeente {
            return Err(LoadError::WrongGemeente {
                path,
                found: plugin.identity.gemeente.clone(),
                configured: config.gemeente.clone(),
            });
        }
        plugin
            .call("configure", &config.settings)
            .map_err(|e| failed("configure", e))?;
        Ok(plugin)
    }

    /// Why the plugin was put aside, if it was (also while it waits to be tried again).
    pub fn put_aside(&self) -> Option<String> {
        self.health().last_reason().map(str::to_string)
    }

    /// Whether it is put aside now: its calls fail at once until its wait is over.
    pub fn is_aside(&self) -> bool {
        self.health().aside(Instant::now()).is_some()
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One call, with the time limit. A failure counts toward putting the plugin aside.
    pub fn call(
        &self,
        method: &str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.call_many(&[(method, input)])
            .pop()
            .expect("one answer per call")
    }

    /// Several calls in one handoff to the plugin's thread, answered in order. Each call has
    /// the time limit of its own, counted on the plugin's thread from the moment it starts,
    /// not while it waits behind other callers' calls. A call that runs over its limit and
    /// does not answer puts the plugin aside at once, and it and the calls after it fail; one
    /// that answers late is a failure like any other.
    pub fn call_many(
        &self,
        calls: &[(&str, &serde_json::Value)],
    ) -> Vec<Result<serde_json::Value, String>> {
        let fail_all = |reason: &str| {
            calls
                .iter()
                .map(|_| Err(format!("put aside: {reason}")))
                .collect()
        };
        if let Some(reason) = self.health().aside(Instant::now()) {
            return fail_all(reason);
        }
        // Tried again after its wait, but its thread is still in a call that never answered:
        // no use queueing behind it.
        if let Some(since) = self.stuck_since() {
            let reason = format!(
                "still in a call that did not answer, for {} s",
                since.elapsed().as_secs()
            );
            self.note(self.health().put_aside(reason.clone(), Instant::now()));
            return fail_all(&reason);
        }
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        // Room for every answer, made at once: the plugin's thread never waits to answer, and
        // a call costs one small allocation, not the growing blocks of an unbounded channel.
        let (reply, answers) = mpsc::sync_channel(calls.len());
        let request = Request {
            id,
            calls: calls
                .iter()
                .map(|(method, input)| {
                    let input = serde_json::to_vec(input).expect("a JSON value serialises");
                    (method.to_string(), input)
                })
                .collect(),
            reply,
        };
        let sent = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(request);
        let mut outcomes = Vec::with_capacity(calls.len());
        for (method, _) in calls {
            if sent.is_err() {
                outcomes.push(Err("its thread is gone".to_string()));
                continue;
            }
            let outcome = match self.wait(&answers, id) {
                Waited::Answer(Answer { took, .. }) if took > self.timeout => Err(format!(
                    "{method} took {} ms, over its limit of {} ms",
                    took.as_millis(),
                    self.timeout.as_millis()
                )),
                Waited::Answer(Answer {
                    status: abi::STATUS_OK,
                    bytes,
                    ..
                }) => serde_json::from_slice(&bytes)
                    .map_err(|err| format!("{method} returned malformed JSON: {err}")),
                Waited::Answer(Answer {
                    status: abi::STATUS_UNKNOWN_METHOD,
                    ..
                }) => {
                    // An optional method the plugin does not have: neither success nor
                    // failure for its health.
                    outcomes.push(Ok(serde_json::Value::Null));
                    continue;
                }
                Waited::Answer(Answer { status, bytes, .. }) => {
                    let message: String = serde_json::from_slice(&bytes)
                        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
                    Err(format!("{method} failed (status {status}): {message}"))
                }
                Waited::Gone => Err("its thread is gone".to_string()),
                Waited::Aside(reason) => {
                    while outcomes.len() < calls.len() {
                        outcomes.push(Err(format!("put aside: {reason}")));
                    }
                    return outcomes;
                }
                Waited::Hung => {
                    // Its thread may be stuck for good: put aside at once, and the calls after
                    // this one are not waited for.
                    let reason = format!(
                        "{method} did not answer within {} ms",
                        self.timeout.as_millis()
                    );
                    self.note(self.health().put_aside(reason.clone(), Instant::now()));
                    outcomes.push(Err(reason.clone()));
                    while outcomes.len() < calls.len() {
                        outcomes.push(Err(format!("put aside: {reason}")));
                    }
                    return outcomes;
                }
            };
            let change = match &outcome {
                Ok(_) => self.health().succeeded(),
                Err(cause) => self.health().failed(cause, Instant::now()),
            };
            self.note(change);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Waits for the next answer of request `id`.
    fn wait(&self, answers: &mpsc::Receiver<Answer>, id: u64) -> Waited {
        loop {
            match answers.recv_timeout(LOOK_EVERY.min(self.timeout)) {
                Ok(answer) => return Waited::Answer(answer),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Waited::Gone,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Some(reason) = self.health().aside(Instant::now()) {
                // Another caller found it hung; this call sits behind that one.
                return Waited::Aside(reason.to_string());
            }
            let running = *self.busy.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((running, since)) = running
                && running == id
                && since.elapsed() > self.timeout
            {
                return Waited::Hung;
            }
        }
    }

    /// Since when the plugin's thread is in a call that is over its limit, if it is.
    fn stuck_since(&self) -> Option<Instant> {
        let running = *self.busy.lock().unwrap_or_else(|p| p.into_inner());
        running
            .map(|(_, since)| since)
            .filter(|since| since.elapsed() > self.timeout)
    }

    /// Logs and counts a change of the plugin's standing.
    fn note(&self, change: Change) {
        match change {
            Change::None => {}
            Change::PutAside { reason, retry_in } => tracing::warn!(
                gemeente = %self.gemeente,
                reason = %reason,
                retry_in_seconds = retry_in.as_secs(),
                "plugin put aside; the defaults apply until it is tried again"
            ),
            Change::Recovered => {
                self.recoveries.fetch_add(1, Ordering::Relaxed);
                tracing::info!(gemeente = %self.gemeente, "plugin answers again; back in use");
            }
        }
    }
}

/// What waiting for an answer came to.
enum Waited {
    Answer(Answer),
    /// The thread is gone.
    Gone,
    /// Put aside meanwhile, by another caller.
    Aside(String),
    /// This call runs over its limit without answering.
    Hung,
}

/// The plugin's thread: calls into the library, one call at a time, each answer sent as soon
/// as it is there.
fn serve(table: Table, requests: mpsc::Receiver<Request>, busy: Busy) {
    for Request { id, calls, reply } in requests {
        for (method, input) in calls {
            let started = Instant::now();
            *busy.lock().unwrap_or_else(|p| p.into_inner()) = Some((id, started));
            let (status, bytes) = call_once(table, &method, &input);
            *busy.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let answer = Answer {
                status,
                bytes,
                took: started.elapsed(),
            };
            if reply.send(answer).is_err() {
                // The caller gave up waiting (time limit): the rest is not wanted.
                break;
            }
        }
    }
}

fn call_once(table: Table, method: &str, input: &[u8]) -> (i32, Vec<u8>) {
    let mut output = WvBuffer {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };
    // SAFETY: the buffers are ours for the call; `output` is a valid slot the plugin fills.
    let status = unsafe {
        (table.call)(
            method.as_ptr(),
            method.len(),
            input.as_ptr(),
            input.len(),
            &mut output,
        )
    };
    let bytes = if output.ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: the plugin wrote `len` bytes at `ptr`; copied before the buffer goes back.
        unsafe { std::slice::from_raw_parts(output.ptr, output.len) }.to_vec()
    };
    if !output.ptr.is_null() {
        // SAFETY: the buffer came from this plugin and goes back to it once.
        unsafe { (table.free)(output) };
    }
    (status, bytes)
}
