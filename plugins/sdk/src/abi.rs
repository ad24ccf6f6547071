//! The C ABI between the host and a plugin, version 1. Everything crosses as JSON in byte
//! buffers; see `include/waakvlam_plugin.h` for the same in C.
//!
//! Ownership: the host owns the method name and the input for the duration of a call. The
//! plugin allocates the output buffer and the host gives it back with the plugin's own
//! `free` when it has read it: whoever allocates frees.

/// The version of this ABI. The host refuses a plugin with another.
pub const ABI_VERSION: u32 = 1;

/// The symbol every plugin exports: `const WvPluginV1 *waakvlam_plugin_v1(void)`.
pub const ENTRY_SYMBOL: &[u8] = b"waakvlam_plugin_v1\0";

/// The call succeeded: the output is the JSON result.
pub const STATUS_OK: i32 = 0;
/// The plugin refused: the output is a JSON string saying why.
pub const STATUS_ERROR: i32 = 1;
/// The plugin panicked (caught at the boundary): the output says where.
pub const STATUS_PANIC: i32 = 2;
/// The plugin does not know the method: the host uses the default.
pub const STATUS_UNKNOWN_METHOD: i32 = 3;

/// A byte buffer allocated by the plugin.
#[repr(C)]
pub struct WvBuffer {
    pub ptr: *mut u8,
    pub len: usize,
    /// The allocation's capacity, for the plugin's `free`.
    pub cap: usize,
}

/// The function table, version 1. `abi_version` and `size` come first in every version, so
/// a host can check them before it touches anything else.
#[repr(C)]
pub struct WvPluginV1 {
    pub abi_version: u32,
    /// `size_of::<WvPluginV1>()` as the plugin was built: later versions only add at the end.
    pub size: u32,
    /// Calls `method` with `input` (JSON) and writes the output (JSON) to `*output`.
    pub call: unsafe extern "C" fn(
        method: *const u8,
        method_len: usize,
        input: *const u8,
        input_len: usize,
        output: *mut WvBuffer,
    ) -> i32,
    /// Frees a buffer this plugin allocated.
    pub free: unsafe extern "C" fn(buffer: WvBuffer),
}
