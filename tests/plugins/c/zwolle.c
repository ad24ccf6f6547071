/* Test fixture: a plugin written in C against plugins/sdk/include/waakvlam_plugin.h, to show
 * the header is all another language needs. Zwolle (GM0193) follows nazorg for 3 years. */
#include <stdlib.h>
#include <string.h>
#include "waakvlam_plugin.h"

static int32_t answer(const char *json, WvBuffer *output) {
    size_t len = strlen(json);
    uint8_t *bytes = malloc(len);
    memcpy(bytes, json, len);
    output->ptr = bytes;
    output->len = len;
    output->cap = len;
    return WV_STATUS_OK;
}

static int is(const uint8_t *method, size_t len, const char *name) {
    return len == strlen(name) && memcmp(method, name, len) == 0;
}

static int32_t call(const uint8_t *method, size_t method_len, const uint8_t *input, size_t input_len, WvBuffer *output) {
    (void)input;
    (void)input_len;
    if (is(method, method_len, "identity"))
        return answer("{\"gemeente\":\"GM0193\",\"name\":\"Zwolle\",\"version\":\"1.0.0\",\"params_for\":[\"nazorg\"]}", output);
    if (is(method, method_len, "configure"))
        return answer("null", output);
    if (is(method, method_len, "params"))
        return answer("{\"looptijd\":\"3 years\"}", output);
    answer("\"unknown method\"", output);
    return WV_STATUS_UNKNOWN_METHOD;
}

static void release(WvBuffer buffer) {
    free(buffer.ptr);
}

static const WvPluginV1 table = { WV_ABI_VERSION, sizeof(WvPluginV1), call, release };

const WvPluginV1 *waakvlam_plugin_v1(void) {
    return &table;
}
