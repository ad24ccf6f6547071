//! Write a Waakvlam gemeente plugin in safe Rust.
//!
//! A plugin supplies what differs per gemeente: parameter overrides per workflow, who a role
//! is (e-mail addresses, from its own settings), the days the gemeente is closed, the text of
//! its messages, and signals on events and on the start of a workflow. Implement [`Plugin`]
//! (every method but [`Plugin::identity`] has a default) and export it:
//!
//! ```
//! use waakvlam_plugin::{Identity, Plugin, Settings, export_plugin};
//!
//! #[derive(Default)]
//! struct Voorbeeld {
//!     settings: Settings,
//! }
//!
//! impl Plugin for Voorbeeld {
//!     fn identity(&self) -> Identity {
//!         Identity {
//!             gemeente: "GM9999".into(),
//!             name: "Voorbeeld".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             params_for: vec!["nazorg".into()],
//!             ..Identity::default()
//!         }
//!     }
//!
//!     fn configure(&mut self, settings: Settings) -> Result<(), String> {
//!         self.settings = settings;
//!         Ok(())
//!     }
//!
//!     fn params(&self, workflow: &str, _start: &waakvlam_plugin::Data) -> Vec<(String, String)> {
//!         match workflow {
//!             "nazorg" => vec![("looptijd".into(), "3 years".into())],
//!             _ => Vec::new(),
//!         }
//!     }
//!
//!     fn recipients(&self, role: &str) -> Vec<String> {
//!         self.settings.recipients(role)
//!     }
//! }
//!
//! export_plugin!(Voorbeeld);
//! ```
//!
//! Build it as a `cdylib` (`[lib] crate-type = ["cdylib"]`), pin its SHA-256 in the
//! configuration, and the daemon loads it. See `plugins/README.md`.

pub mod abi;

use std::panic::{AssertUnwindSafe, catch_unwind};

pub use serde_json::{Map, Value};

/// Event or start data: a JSON object.
pub type Data = Map<String, Value>;

/// Who the plugin is: its gemeente's CBS code, name and version, and which calls it wants.
/// The host calls `params`, `on_event`, `on_start` and `message` only where declared here:
/// every call crosses a thread and the ABI, and most events concern no plugin.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub gemeente: String,
    pub name: String,
    pub version: String,
    /// Workflows whose parameters this plugin overrides.
    #[serde(default)]
    pub params_for: Vec<String>,
    /// The start-data fields `params` looks at, so the host can ask once per combination of
    /// their values: `Some(vec![])` when it looks at none, `None` (the default) when it may
    /// look at any (then the host asks for every new instance).
    #[serde(default)]
    pub params_read: Option<Vec<String>>,
    /// Event types `on_event` wants to see.
    #[serde(default)]
    pub events: Vec<String>,
    /// If not empty: `on_event` only while the case has an open instance of one of these
    /// workflows (Deventer only cares about care changes during an open complaint).
    #[serde(default)]
    pub events_while_open: Vec<String>,
    /// Workflows whose start `on_start` wants to see.
    #[serde(default)]
    pub starts: Vec<String>,
    /// Whether `message` rewrites texts.
    #[serde(default)]
    pub messages: bool,
}

/// The plugin's settings file (`config/plugins/<name>.yaml`), as JSON.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Settings(pub Value);

impl Settings {
    /// The addresses under `recipients.<role>`, the usual shape of a settings file.
    pub fn recipients(&self, role: &str) -> Vec<String> {
        self.0["recipients"][role]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The addresses under `recipients.<workflow>.<role>`: a workflow's own people for a role.
    pub fn workflow_recipients(&self, workflow: &str, role: &str) -> Vec<String> {
        self.0["recipients"][workflow][role]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The dates under `closed_days`.
    pub fn closed_days(&self) -> Vec<String> {
        self.0["closed_days"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A signal for someone to act on now.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Signal {
    /// A short name, used as the notification's `deadline` field: `zorgwijziging_tijdens_klacht`.
    pub name: String,
    /// Roles.
    pub to: Vec<String>,
    /// Dutch text.
    pub message: String,
}

/// A running workflow instance of the case, as a hook sees it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct OpenInstance {
    pub id: String,
    pub workflow: String,
}

/// What a hook on an event sees: the event and its own gemeente's case.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct EventContext {
    #[serde(rename = "type")]
    pub event_type: String,
    pub case: String,
    pub at: String,
    pub data: Data,
    /// Open instances of the case, after the event was applied.
    pub open_instances: Vec<OpenInstance>,
    pub in_care: bool,
}

/// What a hook on the start of an instance sees.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct StartContext {
    pub workflow: String,
    pub instance: String,
    pub case: String,
    pub data: Data,
}

/// A message the host is about to send, with its default text.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct MessageContext {
    pub kind: String,
    pub workflow: String,
    pub deadline: String,
    pub case: String,
    pub due: Option<String>,
    pub level: u32,
    pub text: String,
}

/// A gemeente plugin. Each method runs on a thread of the host's, with a time limit; a panic
/// is caught at the boundary and counts as a failure (the host then uses its defaults).
pub trait Plugin: Send + Sync + 'static {
    fn identity(&self) -> Identity;

    /// The settings from the plugin's settings file, once, before anything else.
    fn configure(&mut self, _settings: Settings) -> Result<(), String> {
        Ok(())
    }

    /// Parameter overrides for a new instance of `workflow`, as (name, duration text); the
    /// start event's data lets a plugin choose (a high relapse risk).
    fn params(&self, _workflow: &str, _start: &Data) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The e-mail addresses of a role; empty when the plugin does not know it.
    fn recipients(&self, _role: &str) -> Vec<String> {
        Vec::new()
    }

    /// The addresses of a role for one workflow, where they differ from the role's own
    /// (`recipients.<workflow>.<role>` in the usual settings file); empty: the role's own.
    fn workflow_recipients(&self, _workflow: &str, _role: &str) -> Vec<String> {
        Vec::new()
    }

    /// Days the gemeente is closed (YYYY-MM-DD): reminders avoid them.
    fn closed_days(&self) -> Vec<String> {
        Vec::new()
    }

    /// Another text for a message, or `None` for the workflow's.
    fn message(&self, _message: &MessageContext) -> Option<String> {
        None
    }

    /// Signals on an event of the gemeente.
    fn on_event(&self, _event: &EventContext) -> Vec<Signal> {
        Vec::new()
    }

    /// Signals when a workflow instance starts.
    fn on_start(&self, _start: &StartContext) -> Vec<Signal> {
        Vec::new()
    }
}

fn parse<T: serde::de::DeserializeOwned>(input: &[u8]) -> Result<T, (i32, String)> {
    serde_json::from_slice(input).map_err(|err| (abi::STATUS_ERROR, format!("bad input: {err}")))
}

/// What `params` is asked with: the workflow, and the data of the event that starts it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ParamsInput {
    pub workflow: String,
    #[serde(default)]
    pub start: Data,
}

/// What `recipients` is asked with: the role, and the workflow of the notification (where a
/// role name means other people per workflow: the team leader of Veilig Thuis is not the
/// team leader of the sociaal team).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct RoleInput {
    pub role: String,
    #[serde(default)]
    pub workflow: Option<String>,
}

/// Runs one call on a plugin: the JSON dispatch behind the C ABI. Used by [`export_plugin!`];
/// a plugin author does not call it.
#[doc(hidden)]
pub fn dispatch(
    plugin: &mut dyn Plugin,
    method: &str,
    input: &[u8],
) -> Result<Vec<u8>, (i32, String)> {
    let json = |value: Value| serde_json::to_vec(&value).expect("a JSON value always serialises");
    match method {
        "identity" => Ok(json(
            serde_json::to_value(plugin.identity()).expect("serialisable"),
        )),
        "configure" => {
            let settings: Settings = parse(input)?;
            plugin
                .configure(settings)
                .map_err(|err| (abi::STATUS_ERROR, err))?;
            Ok(json(Value::Null))
        }
        "params" => {
            let input: ParamsInput = parse(input)?;
            let map: Map<String, Value> = plugin
                .params(&input.workflow, &input.start)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Ok(json(Value::Object(map)))
        }
        "recipients" => {
            let input: RoleInput = parse(input)?;
            let own = input
                .workflow
                .as_deref()
                .map(|workflow| plugin.workflow_recipients(workflow, &input.role))
                .unwrap_or_default();
            let addresses = if own.is_empty() {
                plugin.recipients(&input.role)
            } else {
                own
            };
            Ok(json(serde_json::to_value(addresses).expect("serialisable")))
        }
        "closed_days" => Ok(json(
            serde_json::to_value(plugin.closed_days()).expect("serialisable"),
        )),
        "message" => {
            let input: MessageContext = parse(input)?;
            Ok(json(
                serde_json::to_value(plugin.message(&input)).expect("serialisable"),
            ))
        }
        "on_event" => {
            let input: EventContext = parse(input)?;
            Ok(json(
                serde_json::to_value(plugin.on_event(&input)).expect("serialisable"),
            ))
        }
        "on_start" => {
            let input: StartContext = parse(input)?;
            Ok(json(
                serde_json::to_value(plugin.on_start(&input)).expect("serialisable"),
            ))
        }
        other => Err((
            abi::STATUS_UNKNOWN_METHOD,
            format!("unknown method '{other}'"),
        )),
    }
}

/// Hands a byte vector to the host as a buffer; [`free_buffer`] takes it back.
#[doc(hidden)]
pub fn into_buffer(bytes: Vec<u8>) -> abi::WvBuffer {
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    abi::WvBuffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    }
}

/// Frees a buffer made by [`into_buffer`].
///
/// # Safety
/// `buffer` must come from [`into_buffer`] of the same plugin, and be freed once.
#[doc(hidden)]
pub unsafe fn free_buffer(buffer: abi::WvBuffer) {
    if !buffer.ptr.is_null() {
        // SAFETY: the caller promises the buffer came from `into_buffer` (a Vec's parts).
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
}

/// The whole C call, panics caught: what [`export_plugin!`] exports.
///
/// # Safety
/// The pointers must be valid for the given lengths, and `output` writable.
#[doc(hidden)]
pub unsafe fn call(
    plugin: &std::sync::Mutex<Box<dyn Plugin>>,
    method: *const u8,
    method_len: usize,
    input: *const u8,
    input_len: usize,
    output: *mut abi::WvBuffer,
) -> i32 {
    // SAFETY: the host passes buffers it owns for the duration of the call.
    let (method, input) = unsafe {
        (
            std::slice::from_raw_parts(method, method_len),
            std::slice::from_raw_parts(input, input_len),
        )
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let method = std::str::from_utf8(method).map_err(|_| {
            (
                abi::STATUS_ERROR,
                "the method name is not UTF-8".to_string(),
            )
        })?;
        let mut plugin = plugin
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        dispatch(plugin.as_mut(), method, input)
    }));
    let (status, bytes) = match result {
        Ok(Ok(bytes)) => (abi::STATUS_OK, bytes),
        Ok(Err((status, message))) => (
            status,
            serde_json::to_vec(&message).expect("a string serialises"),
        ),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            (
                abi::STATUS_PANIC,
                serde_json::to_vec(&format!("the plugin panicked: {message}"))
                    .expect("a string serialises"),
            )
        }
    };
    // SAFETY: the host passes a writable buffer slot.
    unsafe { output.write(into_buffer(bytes)) };
    status
}

/// Exports a [`Plugin`] (a type with `Default`) through the C ABI. The plugin author writes
/// no `unsafe`: the macro does, once, here.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        static __WAAKVLAM_PLUGIN: ::std::sync::OnceLock<
            ::std::sync::Mutex<Box<dyn $crate::Plugin>>,
        > = ::std::sync::OnceLock::new();

        unsafe extern "C" fn __waakvlam_call(
            method: *const u8,
            method_len: usize,
            input: *const u8,
            input_len: usize,
            output: *mut $crate::abi::WvBuffer,
        ) -> i32 {
            let plugin = __WAAKVLAM_PLUGIN.get_or_init(|| {
                ::std::sync::Mutex::new(Box::new(<$plugin as ::std::default::Default>::default()))
            });
            // SAFETY: the host keeps to the ABI's ownership rules (see `abi`).
            unsafe { $crate::call(plugin, method, method_len, input, input_len, output) }
        }

        unsafe extern "C" fn __waakvlam_free(buffer: $crate::abi::WvBuffer) {
            // SAFETY: the host gives back only buffers this plugin made, once.
            unsafe { $crate::free_buffer(buffer) }
        }

        static __WAAKVLAM_TABLE: $crate::abi::WvPluginV1 = $crate::abi::WvPluginV1 {
            abi_version: $crate::abi::ABI_VERSION,
            size: ::std::mem::size_of::<$crate::abi::WvPluginV1>() as u32,
            call: __waakvlam_call,
            free: __waakvlam_free,
        };

        #[unsafe(no_mangle)]
        pub extern "C" fn waakvlam_plugin_v1() -> *const $crate::abi::WvPluginV1 {
            &__WAAKVLAM_TABLE
        }
    };
}
