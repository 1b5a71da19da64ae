/* json_config.h -- typed reads of JSON config files (diffusers/transformers config.json,
 * scheduler_config.json, model_index.json) over cJSON, with errors that name the file and the key:
 * "unet/config.json: key 'layers_per_block': expected an integer, got string". Internal (model
 * loaders); not a general JSON API.
 *
 * Every getter takes the document, the object to look in (NULL = the root object) and a key. The
 * required forms fail (TRDI_ERR_FORMAT) when the key is missing or null, has the wrong type, or is
 * out of [lo, hi]; the _opt forms return `dflt` when the key is missing or null (JSON null is how
 * diffusers writes "not set") but still fail on a wrong type or range. Outputs are untouched on
 * failure except where noted. Strings are owned by the document. */
#ifndef TRDI_IO_JSON_CONFIG_H
#define TRDI_IO_JSON_CONFIG_H

#include "trdi.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Config files larger than this are refused (real configs are a few kB; vocab.json ~1 MB). */
#define TRDI_JSON_MAX_FILE (64 * 1024 * 1024)

typedef struct trdi_json trdi_json;

/* Reads and parses `path` (must hold a JSON object or array). *out NULL on failure
 * (TRDI_ERR_IO, TRDI_ERR_FORMAT with the byte offset of the syntax error). */
trdi_status trdi_json_load(const char *path, trdi_json **out);
/* Parses `len` bytes of text; `label` names it in messages. */
trdi_status trdi_json_parse(const char *text, size_t len, const char *label, trdi_json **out);
void trdi_json_free(trdi_json *j);

/* The path (or label) given at load, and the root value (owned by the document). */
const char *trdi_json_path(const trdi_json *j);
const cJSON *trdi_json_root(const trdi_json *j);

/* True when `key` is present in obj and not JSON null. */
bool trdi_json_has(const trdi_json *j, const cJSON *obj, const char *key);

/* Integers: JSON numbers with an integral value in [lo, hi] (and within +-2^53). */
trdi_status trdi_json_int(const trdi_json *j, const cJSON *obj, const char *key, int64_t lo,
                          int64_t hi, int64_t *out);
trdi_status trdi_json_int_opt(const trdi_json *j, const cJSON *obj, const char *key, int64_t dflt,
                              int64_t lo, int64_t hi, int64_t *out);
/* Finite numbers in [lo, hi]. */
trdi_status trdi_json_double(const trdi_json *j, const cJSON *obj, const char *key, double lo,
                             double hi, double *out);
trdi_status trdi_json_double_opt(const trdi_json *j, const cJSON *obj, const char *key, double dflt,
                                 double lo, double hi, double *out);
trdi_status trdi_json_bool(const trdi_json *j, const cJSON *obj, const char *key, bool *out);
trdi_status trdi_json_bool_opt(const trdi_json *j, const cJSON *obj, const char *key, bool dflt,
                               bool *out);
/* Strings (owned by the document); dflt may be NULL. */
trdi_status trdi_json_string(const trdi_json *j, const cJSON *obj, const char *key,
                             const char **out);
trdi_status trdi_json_string_opt(const trdi_json *j, const cJSON *obj, const char *key,
                                 const char *dflt, const char **out);
/* A string that must be one of `choices` (NULL-terminated); *out = its index. */
trdi_status trdi_json_enum(const trdi_json *j, const cJSON *obj, const char *key,
                           const char *const *choices, int *out);
/* A nested object (required / optional: *out NULL when missing or null). */
trdi_status trdi_json_object(const trdi_json *j, const cJSON *obj, const char *key,
                             const cJSON **out);
trdi_status trdi_json_object_opt(const trdi_json *j, const cJSON *obj, const char *key,
                                 const cJSON **out);
/* An array of integers in [lo, hi] with between 1 and `cap` entries: out[0..*n). */
trdi_status trdi_json_int_array(const trdi_json *j, const cJSON *obj, const char *key, int64_t lo,
                                int64_t hi, int64_t *out, int cap, int *n);
/* diffusers' "int or list" fields (attention_head_dim, transformer_layers_per_block, ...): an
 * integer is repeated `n` times, a list must have exactly n entries. */
trdi_status trdi_json_int_or_array(const trdi_json *j, const cJSON *obj, const char *key,
                                   int64_t lo, int64_t hi, int n, int64_t *out);
/* An array of strings with between 1 and `cap` entries (pointers owned by the document). */
trdi_status trdi_json_string_array(const trdi_json *j, const cJSON *obj, const char *key,
                                   const char **out, int cap, int *n);

#endif /* TRDI_IO_JSON_CONFIG_H */
