/* fuzz_json_config.c -- libFuzzer target for the typed JSON config reader: any bytes go through
 * trdi_json_parse; every member of a parsed object is then read with every getter (most fail,
 * none may crash or leak). */
#include "io/json_config.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    trdi_json *j = NULL;
    if (trdi_json_parse((const char *)data, size, "fuzz.json", &j) != TRDI_OK) {
        if (j) abort();
        return 0;
    }
    const cJSON *root = trdi_json_root(j);
    int members = 0;
    for (const cJSON *it = cJSON_IsObject(root) ? root->child : NULL; it && members < 64;
         it = it->next, members++) {
        const char *k = it->string ? it->string : "";
        int64_t i, arr[8];
        double d;
        bool b;
        const char *s, *ss[8];
        const cJSON *o;
        int n, e;
        const char *const choices[] = {"linear", "scaled_linear", NULL};
        (void)trdi_json_has(j, NULL, k);
        (void)trdi_json_int(j, NULL, k, -5, 1000, &i);
        (void)trdi_json_int_opt(j, NULL, k, 0, INT64_MIN, INT64_MAX, &i);
        (void)trdi_json_double(j, NULL, k, -1e9, 1e9, &d);
        (void)trdi_json_double_opt(j, NULL, k, 0, -1e308, 1e308, &d);
        (void)trdi_json_bool(j, NULL, k, &b);
        (void)trdi_json_bool_opt(j, NULL, k, false, &b);
        (void)trdi_json_string(j, NULL, k, &s);
        (void)trdi_json_string_opt(j, NULL, k, NULL, &s);
        (void)trdi_json_enum(j, NULL, k, choices, &e);
        (void)trdi_json_int_array(j, NULL, k, 0, 1 << 20, arr, 8, &n);
        (void)trdi_json_int_or_array(j, NULL, k, 0, 1 << 20, 4, arr);
        (void)trdi_json_string_array(j, NULL, k, ss, 8, &n);
        if (trdi_json_object_opt(j, NULL, k, &o) == TRDI_OK && o)
            (void)trdi_json_int(j, o, "hidden_size", 1, 1 << 20, &i);
        (void)trdi_json_object(j, NULL, k, &o);
    }
    trdi_json_free(j);
    return 0;
}
