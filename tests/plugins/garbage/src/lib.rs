//! Test fixture: a plugin built on the raw ABI that answers `identity` properly and
//! everything else with bytes that are not JSON.
use waakvlam_plugin::abi::{ABI_VERSION, STATUS_OK, WvBuffer, WvPluginV1};

unsafe extern "C" fn call(
    method: *const u8,
    method_len: usize,
    _input: *const u8,
    _input_len: usize,
    output: *mut WvBuffer,
) -> i32 {
    // SAFETY: the host passes a valid method name and output slot (the ABI's contract).
    let method = unsafe { std::slice::from_raw_parts(method, method_len) };
    let bytes: Vec<u8> = match method {
        b"identity" => {
            br#"{"gemeente":"GM0158","name":"Garbage","version":"0","params_for":["nazorg"]}"#
                .to_vec()
        }
        b"configure" => b"null".to_vec(),
        _ => b"\xff\xfe dit is geen json {".to_vec(),
    };
    // SAFETY: as above; the buffer goes back to `free` below.
    unsafe { output.write(waakvlam_plugin::into_buffer(bytes)) };
    STATUS_OK
}

unsafe extern "C" fn free(buffer: WvBuffer) {
    // SAFETY: only buffers made by `call` come back.
    unsafe { waakvlam_plugin::free_buffer(buffer) }
}

static TABLE: WvPluginV1 = WvPluginV1 {
    abi_version: ABI_VERSION,
    size: std::mem::size_of::<WvPluginV1>() as u32,
    call,
    free,
};

#[unsafe(no_mangle)]
pub extern "C" fn waakvlam_plugin_v1() -> *const WvPluginV1 {
    &TABLE
}
