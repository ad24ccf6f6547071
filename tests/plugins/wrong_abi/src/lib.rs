//! Test fixture: a plugin that speaks a future ABI version; the host must refuse it before
//! calling anything.
use waakvlam_plugin::abi::{WvBuffer, WvPluginV1};

unsafe extern "C" fn call(_: *const u8, _: usize, _: *const u8, _: usize, _: *mut WvBuffer) -> i32 {
    panic!("the host called a plugin whose ABI version it should have refused")
}

unsafe extern "C" fn free(_: WvBuffer) {}

static TABLE: WvPluginV1 = WvPluginV1 {
    abi_version: 99,
    size: std::mem::size_of::<WvPluginV1>() as u32,
    call,
    free,
};

#[unsafe(no_mangle)]
pub extern "C" fn waakvlam_plugin_v1() -> *const WvPluginV1 {
    &TABLE
}
