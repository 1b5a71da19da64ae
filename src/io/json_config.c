/* json_config.c -- typed reads of JSON config files over cJSON with errors naming the file and the
 * key (see json_config.h). Not a JSON writer. */
#include "io/json_config.h"

#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct trdi_json {
    char *path;
    cJSON *root;
};

trdi_status trdi_json_parse(const char *text, size_t len, const char *label, trdi_json **out) {
    if (out) *out = NULL;
    if (!out || (!text && len)) return trdi_fail(TRDI_ERR_INVALID_ARG, "json_parse: NULL argument");
    if (!label) label = "<json>";
    /* cJSON reads up to `len` but its error pointer may point anywhere inside: give it a
     * NUL-terminated copy so nothing past the text is ever read */
    char *copy = malloc(len + 1);
    trdi_json *j = calloc(1, sizeof *j);
    if (!copy || !j || !(j->path = strdup(label))) {
        free(copy);
        if (j) free(j->path);
        free(j);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", label);
    }
    if (len) memcpy(copy, text, len);
    copy[len] = 0;
    if (strlen(copy) != len) {
        size_t at = strlen(copy);
        free(copy);
        trdi_json_free(j);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: not valid JSON (NUL byte at %zu)", label, at);
    }
    const char *end = NULL;
    j->root = cJSON_ParseWithOpts(copy, &end, 1);
    if (!j->root) {
        size_t at = end && end >= copy && end <= copy + len ? (size_t)(end - copy) : 0;
        /* line number of the error, for people editing configs by hand */
        size_t line = 1;
        for (size_t i = 0; i < at; i++)
            line += copy[i] == '\n';
        free(copy);
        trdi_json_free(j);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: not valid JSON (error at byte %zu, line %zu)", label,
                         at, line);
    }
    free(copy);
    if (!cJSON_IsObject(j->root) && !cJSON_IsArray(j->root)) {
        trdi_json_free(j);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: expected a JSON object", label);
    }
    *out = j;
    return TRDI_OK;
}

trdi_status trdi_json_load(const char *path, trdi_json **out) {
    if (out) *out = NULL;
    if (!path || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "json_load: NULL argument");
    FILE *fp = fopen(path, "rb");
    if (!fp) return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return trdi_fail(TRDI_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size > TRDI_JSON_MAX_FILE) {
        fclose(fp);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: %lld bytes, larger than the %d-byte limit for JSON",
                         path, (long long)sb.st_size, TRDI_JSON_MAX_FILE);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(fp);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, n, fp);
    int err = ferror(fp);
    fclose(fp);
    if (got != n || err) {
        free(buf);
        return trdi_fail(TRDI_ERR_IO, "%s: read failed", path);
    }
    trdi_status st = trdi_json_parse(buf, n, path, out);
    free(buf);
    return st;
}

void trdi_json_free(trdi_json *j) {
    if (!j) return;
    cJSON_Delete(j->root);
    free(j->path);
    free(j);
}

const char *trdi_json_path(const trdi_json *j) {
    return j ? j->path : "";
}

const cJSON *trdi_json_root(const trdi_json *j) {
    return j ? j->root : NULL;
}

/* ---------------------------------------------------------------------------------------------- */

static const char *type_name(const cJSON *v) {
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsObject(v)) return "object";
    return "invalid value";
}

/* "parent.key" when obj is a named member, else "key" (for messages). */
static const char *key_label(const cJSON *obj, const char *key, char *buf, size_t size) {
    if (obj && obj->string) {
        snprintf(buf, size, "%.100s.%.100s", obj->string, key);
    } else {
        snprintf(buf, size, "%.200s", key);
    }
    return buf;
}

/* Looks up key; *v NULL when missing or null. Fails when obj is not an object. */
static trdi_status lookup(const trdi_json *j, const cJSON *obj, const char *key, const cJSON **v) {
    *v = NULL;
    if (!j || !key) return trdi_fail(TRDI_ERR_INVALID_ARG, "json: NULL document or key");
    if (!obj) obj = j->root;
    if (!cJSON_IsObject(obj)) {
        char kb[220];
        return trdi_fail(TRDI_ERR_FORMAT, "%s: cannot read key '%s': not inside a JSON object",
                         j->path, key_label(obj, key, kb, sizeof kb));
    }
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (it && !cJSON_IsNull(it)) *v = it;
    return TRDI_OK;
}

static trdi_status missing(const trdi_json *j, const cJSON *obj, const char *key) {
    char kb[220];
    return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': missing", j->path,
                     key_label(obj ? obj : NULL, key, kb, sizeof kb));
}

static trdi_status wrong_type(const trdi_json *j, const cJSON *obj, const char *key,
                              const char *want, const cJSON *v) {
    char kb[220];
    return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': expected %s, got %s", j->path,
                     key_label(obj, key, kb, sizeof kb), want, type_name(v));
}

bool trdi_json_has(const trdi_json *j, const cJSON *obj, const char *key) {
    if (!j || !key) return false;
    if (!obj) obj = j->root;
    const cJSON *it = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return it && !cJSON_IsNull(it);
}

static trdi_status int_value(const trdi_json *j, const cJSON *obj, const char *key, const cJSON *v,
                             int64_t lo, int64_t hi, int64_t *out) {
    char kb[220];
    if (!cJSON_IsNumber(v)) return wrong_type(j, obj, key, "an integer", v);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': expected an integer, got %.17g", j->path,
                         key_label(obj, key, kb, sizeof kb), d);
    int64_t x = (int64_t)d;
    if (x < lo || x > hi)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': %lld is out of range [%lld, %lld]",
                         j->path, key_label(obj, key, kb, sizeof kb), (long long)x, (long long)lo,
                         (long long)hi);
    *out = x;
    return TRDI_OK;
}

trdi_status trdi_json_int(const trdi_json *j, const cJSON *obj, const char *key, int64_t lo,
                          int64_t hi, int64_t *out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) return missing(j, obj, key);
    return int_value(j, obj, key, v, lo, hi, out);
}

trdi_status trdi_json_int_opt(const trdi_json *j, const cJSON *obj, const char *key, int64_t dflt,
                              int64_t lo, int64_t hi, int64_t *out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) {
        *out = dflt;
        return TRDI_OK;
    }
    return int_value(j, obj, key, v, lo, hi, out);
}

static trdi_status double_value(const trdi_json *j, const cJSON *obj, const char *key,
                                const cJSON *v, double lo, double hi, double *out) {
    char kb[220];
    if (!cJSON_IsNumber(v)) return wrong_type(j, obj, key, "a number", v);
    double d = v->valuedouble;
    if (!isfinite(d))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': not a finite number", j->path,
                         key_label(obj, key, kb, sizeof kb));
    if (d < lo || d > hi)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': %.17g is out of range [%g, %g]", j->path,
                         key_label(obj, key, kb, sizeof kb), d, lo, hi);
    *out = d;
    return TRDI_OK;
}

trdi_status trdi_json_double(const trdi_json *j, const cJSON *obj, const char *key, double lo,
                             double hi, double *out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) return missing(j, obj, key);
    return double_value(j, obj, key, v, lo, hi, out);
}

trdi_status trdi_json_double_opt(const trdi_json *j, const cJSON *obj, const char *key, double dflt,
                                 double lo, double hi, double *out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) {
        *out = dflt;
        return TRDI_OK;
    }
    return double_value(j, obj, key, v, lo, hi, out);
}

trdi_status trdi_json_bool(const trdi_json *j, const cJSON *obj, const char *key, bool *out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) return missing(j, obj, key);
    if (!cJSON_IsBool(v)) return wrong_type(j, obj, key, "true or false", v);
    *out = cJSON_IsTrue(v);
    return TRDI_OK;
}

trdi_status trdi_json_bool_opt(const trdi_json *j, const cJSON *obj, const char *key, bool dflt,
                               bool *out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) {
        *out = dflt;
        return TRDI_OK;
    }
    if (!cJSON_IsBool(v)) return wrong_type(j, obj, key, "true or false", v);
    *out = cJSON_IsTrue(v);
    return TRDI_OK;
}

trdi_status trdi_json_string(const trdi_json *j, const cJSON *obj, const char *key,
                             const char **out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) return missing(j, obj, key);
    if (!cJSON_IsString(v) || !v->valuestring) return wrong_type(j, obj, key, "a string", v);
    *out = v->valuestring;
    return TRDI_OK;
}

trdi_status trdi_json_string_opt(const trdi_json *j, const cJSON *obj, const char *key,
                                 const char *dflt, const char **out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) {
        *out = dflt;
        return TRDI_OK;
    }
    if (!cJSON_IsString(v) || !v->valuestring) return wrong_type(j, obj, key, "a string", v);
    *out = v->valuestring;
    return TRDI_OK;
}

trdi_status trdi_json_enum(const trdi_json *j, const cJSON *obj, const char *key,
                           const char *const *choices, int *out) {
    const char *s = NULL;
    trdi_status st = trdi_json_string(j, obj, key, &s);
    if (st != TRDI_OK) return st;
    char list[400];
    size_t used = 0;
    list[0] = 0;
    for (int i = 0; choices && choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return TRDI_OK;
        }
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     choices[i]);
    }
    char kb[220];
    return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': '%.100s' is not one of: %s", j->path,
                     key_label(obj, key, kb, sizeof kb), s, list);
}

trdi_status trdi_json_object(const trdi_json *j, const cJSON *obj, const char *key,
                             const cJSON **out) {
    *out = NULL;
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) return missing(j, obj, key);
    if (!cJSON_IsObject(v)) return wrong_type(j, obj, key, "an object", v);
    *out = v;
    return TRDI_OK;
}

trdi_status trdi_json_object_opt(const trdi_json *j, const cJSON *obj, const char *key,
                                 const cJSON **out) {
    *out = NULL;
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (v && !cJSON_IsObject(v)) return wrong_type(j, obj, key, "an object", v);
    *out = v;
    return TRDI_OK;
}

trdi_status trdi_json_int_array(const trdi_json *j, const cJSON *obj, const char *key, int64_t lo,
                                int64_t hi, int64_t *out, int cap, int *n) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) return missing(j, obj, key);
    if (!cJSON_IsArray(v)) return wrong_type(j, obj, key, "an array of integers", v);
    int count = cJSON_GetArraySize(v);
    char kb[220];
    if (count < 1 || count > cap)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': %d entries, expected 1 to %d", j->path,
                         key_label(obj, key, kb, sizeof kb), count, cap);
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char ib[240];
        snprintf(ib, sizeof ib, "%.200s[%d]", key, i);
        if ((st = int_value(j, obj, ib, it, lo, hi, &out[i])) != TRDI_OK) return st;
    }
    *n = count;
    return TRDI_OK;
}

trdi_status trdi_json_int_or_array(const trdi_json *j, const cJSON *obj, const char *key,
                                   int64_t lo, int64_t hi, int n, int64_t *out) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) return missing(j, obj, key);
    if (cJSON_IsNumber(v)) {
        int64_t x;
        if ((st = int_value(j, obj, key, v, lo, hi, &x)) != TRDI_OK) return st;
        for (int i = 0; i < n; i++)
            out[i] = x;
        return TRDI_OK;
    }
    if (!cJSON_IsArray(v)) return wrong_type(j, obj, key, "an integer or an array of integers", v);
    int count = cJSON_GetArraySize(v);
    if (count != n) {
        char kb[220];
        return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': %d entries, expected %d", j->path,
                         key_label(obj, key, kb, sizeof kb), count, n);
    }
    int m = 0;
    return trdi_json_int_array(j, obj, key, lo, hi, out, n, &m);
}

trdi_status trdi_json_string_array(const trdi_json *j, const cJSON *obj, const char *key,
                                   const char **out, int cap, int *n) {
    const cJSON *v;
    trdi_status st = lookup(j, obj, key, &v);
    if (st != TRDI_OK) return st;
    if (!v) return missing(j, obj, key);
    if (!cJSON_IsArray(v)) return wrong_type(j, obj, key, "an array of strings", v);
    int count = cJSON_GetArraySize(v);
    char kb[220];
    if (count < 1 || count > cap)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': %d entries, expected 1 to %d", j->path,
                         key_label(obj, key, kb, sizeof kb), count, cap);
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it) || !it->valuestring)
            return trdi_fail(TRDI_ERR_FORMAT, "%s: key '%s': entry %d is %s, expected a string",
                             j->path, key_label(obj, key, kb, sizeof kb), i, type_name(it));
        out[i] = it->valuestring;
    }
    *n = count;
    return TRDI_OK;
}
