//! One plugin library: checked, loaded, and called on its own thread with a time limit.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use waakvlam_plugin::abi::{self, WvBuffer, WvPluginV1};

use crate::config::PluginConfig;

/// Why a plugin was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot be read: {cause}")]
    Unreadable { path: PathBuf, cause: String },
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
    calls: Vec<(String, Vec<u8>)>,
    reply: mpsc::Sender<(i32, Vec<u8>)>,
}

/// The copied function table: plain function pointers into a library that is never unloaded.
#[derive(Clone, Copy)]
struct Table {
    call: unsafe extern "C" fn(*const u8, usize, *const u8, usize, *mut WvBuffer) -> i32,
    free: unsafe extern "C" fn(WvBuffer),
}

/// How many failures in a row put a plugin aside.
const FAILURES_TO_PUT_ASIDE: u32 = 3;

pub struct Plugin {
    pub gemeente: String,
    pub identity: waakvlam_plugin::Identity,
    requests: Mutex<mpsc::Sender<Request>>,
    timeout: Duration,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    failures_in_a_row: u32,
    put_aside: Option<String>,
}

impl Plugin {
    pub fn load(config: &PluginConfig) -> Result<Plugin, LoadError> {
        let path = config.library.clone();
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
        // SAFETY: loading a library runs its initialisers. The checksum above makes it the
        // library the operator pinned; beyond that, trusting it is what configuring it means.
        let library =
            unsafe { libloading::Library::new(&path) }.map_err(|err| LoadError::NotALibrary {
                path: path.clone(),
                cause: err.to_string(),
            })?;
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
        std::thread::Builder::new()
            .name(name)
            .spawn(move || serve(table, receiver))
            .map_err(|err| LoadError::Failed {
                path: path.clone(),
                method: "start".into(),
                cause: err.to_string(),
            })?;
        let mut plugin = Plugin {
            gemeente: config.gemeente.clone(),
            identity: waakvlam_plugin::Identity::default(),
            requests: Mutex::new(sender),
            timeout: Duration::from_millis(config.timeout_ms),
            health: Mutex::new(Health::default()),
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

    /// Why the plugin was put aside, if it was.
    pub fn put_aside(&self) -> Option<String> {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put_aside
            .clone()
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
    /// the time limit of its own: the first that does not answer in time puts the plugin
    /// aside, and it and the calls after it fail.
    pub fn call_many(
        &self,
        calls: &[(&str, &serde_json::Value)],
    ) -> Vec<Result<serde_json::Value, String>> {
        if let Some(reason) = self.put_aside() {
            return calls
                .iter()
                .map(|_| Err(format!("put aside: {reason}")))
                .collect();
        }
        let (reply, answers) = mpsc::channel();
        let request = Request {
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
            let outcome = match &sent {
                Err(_) => Err("its thread is gone".to_string()),
                Ok(()) => match answers.recv_timeout(self.timeout) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        // A plugin that does not answer is put aside at once: its thread may
                        // be stuck for good, and the next call would only wait as long again.
                        let reason = format!(
                            "{method} did not answer within {} ms",
                            self.timeout.as_millis()
                        );
                        self.health
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .put_aside = Some(reason.clone());
                        outcomes.push(Err(reason.clone()));
                        while outcomes.len() < calls.len() {
                            outcomes.push(Err(format!("put aside: {reason}")));
                        }
                        return outcomes;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        Err("its thread is gone".to_string())
                    }
                    Ok((abi::STATUS_OK, bytes)) => serde_json::from_slice(&bytes)
                        .map_err(|err| format!("{method} returned malformed JSON: {err}")),
                    Ok((abi::STATUS_UNKNOWN_METHOD, _)) => {
                        // An optional method the plugin does not have: neither success nor
                        // failure for its health.
                        outcomes.push(Ok(serde_json::Value::Null));
                        continue;
                    }
                    Ok((status, bytes)) => {
                        let message: String = serde_json::from_slice(&bytes)
                            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
                        Err(format!("{method} failed (status {status}): {message}"))
                    }
                },
            };
            self.count(&outcome);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// A failure counts toward putting the plugin aside; an answer starts the count again.
    fn count(&self, outcome: &Result<serde_json::Value, String>) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(_) => health.failures_in_a_row = 0,
            Err(err) => {
                health.failures_in_a_row += 1;
                if health.failures_in_a_row >= FAILURES_TO_PUT_ASIDE && health.put_aside.is_none() {
                    health.put_aside = Some(format!(
                        "{FAILURES_TO_PUT_ASIDE} failures in a row, the last: {err}"
                    ));
                }
            }
        }
    }
}

/// The plugin's thread: calls into the library, one call at a time, each answer sent as soon
/// as it is there.
fn serve(table: Table, requests: mpsc::Receiver<Request>) {
    for Request { calls, reply } in requests {
        for (method, input) in calls {
            let answer = call_once(table, &method, &input);
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
