/* Waakvlam gemeente plugins: the C ABI, version 1.
 *
 * A plugin is a shared library that exports
 *
 *     const WvPluginV1 *waakvlam_plugin_v1(void);
 *
 * returning a table that lives as long as the library (the host never unloads it).
 * Everything crosses as JSON (UTF-8) in byte buffers. Ownership: the host owns `method`
 * and `input` for the duration of a call; the plugin allocates `*output`, and the host hands
 * it back to the plugin's own `free` once it has read it. Whoever allocates frees.
 *
 * Methods and their JSON (see plugins/README.md): "identity", "configure", "params",
 * "recipients", "closed_days", "message", "on_event", "on_start". Return WV_STATUS_OK with
 * the result, WV_STATUS_ERROR with a JSON string saying why, or WV_STATUS_UNKNOWN_METHOD.
 * Never let an exception or a crash cross the boundary.
 */
#ifndef WAAKVLAM_PLUGIN_H
#define WAAKVLAM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define WV_ABI_VERSION 1u

#define WV_STATUS_OK 0
#define WV_STATUS_ERROR 1
#define WV_STATUS_PANIC 2
#define WV_STATUS_UNKNOWN_METHOD 3

typedef struct WvBuffer {
    uint8_t *ptr;
    size_t len;
    size_t cap; /* for the plugin's own free */
} WvBuffer;

/* abi_version and size come first in every version of the table. */
typedef struct WvPluginV1 {
    uint32_t abi_version; /* WV_ABI_VERSION */
    uint32_t size;        /* sizeof(WvPluginV1) as the plugin was built */
    int32_t (*call)(const uint8_t *method, size_t method_len,
                    const uint8_t *input, size_t input_len,
                    WvBuffer *output);
    void (*free)(WvBuffer buffer);
} WvPluginV1;

const WvPluginV1 *waakvlam_plugin_v1(void);

#endif
