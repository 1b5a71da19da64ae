/* safetensors.c -- the safetensors reader: memory-maps a file read-only (or copies a buffer),
 * validates the whole header before anything is used, and serves tensors by name with conversion
 * to float32. Format: github.com/huggingface/safetensors (8-byte LE header length, JSON header,
 * data area). Stricter than the reference on tensor entries (unknown keys are errors), more lenient
 * on gaps between data ranges (allowed). Not a writer (see st_write.c). */
#include "core/core.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

struct trdi_safetensors {
    char *path;
    const unsigned char *base; /* the whole file */
    size_t size;
    bool mapped;             /* base is an mmap (else a malloc'd copy) */
    size_t data_start;       /* 8 + header length */
    trdi_st_tensor *tensors; /* (n) sorted by data offset */
    int64_t n;
    int64_t *by_name; /* (n) indices into tensors, sorted by name */
    char **meta;      /* (2 * n_meta) key, value, key, value, ... */
    int64_t n_meta;
};

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [TRDI_ST_F32] = {"F32", 4},         [TRDI_ST_F16] = {"F16", 2},
    [TRDI_ST_BF16] = {"BF16", 2},       [TRDI_ST_F64] = {"F64", 8},
    [TRDI_ST_F8_E4M3] = {"F8_E4M3", 1}, [TRDI_ST_F8_E5M2] = {"F8_E5M2", 1},
    [TRDI_ST_I64] = {"I64", 8},         [TRDI_ST_I32] = {"I32", 4},
    [TRDI_ST_I16] = {"I16", 2},         [TRDI_ST_I8] = {"I8", 1},
    [TRDI_ST_U8] = {"U8", 1},           [TRDI_ST_BOOL] = {"BOOL", 1},
    [TRDI_ST_U16] = {"U16", 2},         [TRDI_ST_U32] = {"U32", 4},
    [TRDI_ST_U64] = {"U64", 8},
};
enum { N_DTYPES = (int)(sizeof dtype_table / sizeof dtype_table[0]) };

const char *trdi_st_dtype_name(trdi_st_dtype d) {
    if ((int)d < 0 || (int)d >= N_DTYPES) return "?";
    return dtype_table[d].name;
}

trdi_status trdi_st_dtype_from_name(const char *name, trdi_st_dtype *out) {
    if (out) *out = TRDI_ST_F32;
    if (!name || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "dtype_from_name: NULL argument");
    for (int i = 0; i < N_DTYPES; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (trdi_st_dtype)i;
            return TRDI_OK;
        }
    }
    return trdi_fail(TRDI_ERR_INVALID_ARG,
                     "unknown dtype '%.64s' (known: F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 "
                     "I8 U64 U32 U16 U8 BOOL)",
                     name);
}

size_t trdi_st_dtype_size(trdi_st_dtype d) {
    if ((int)d < 0 || (int)d >= N_DTYPES) return 0;
    return dtype_table[d].size;
}

/* ---------------------------------------------------------------------------------------------- */
/* Header validation                                                                              */

/* Valid UTF-8 without NUL bytes (the reference requires a UTF-8 header; cJSON would stop at NUL).
 * Returns the offset of the first bad byte, or len when all is fine. */
static size_t utf8_check(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0) return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= k) return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += k + 1;
    }
    return len;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

/* A JSON number that is a non-negative integer not above 2^53 (exact in a double). */
static bool json_uint(const cJSON *item, int64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!isfinite(v) || v < 0 || v > 9007199254740992.0 || v != floor(v)) return false;
    *out = (int64_t)v;
    return true;
}

static void free_contents(trdi_safetensors *f) {
    if (f->tensors) {
        for (int64_t i = 0; i < f->n; i++)
            free((char *)f->tensors[i].name);
    }
    free(f->tensors);
    free(f->by_name);
    if (f->meta) {
        for (int64_t i = 0; i < 2 * f->n_meta; i++)
            free(f->meta[i]);
    }
    free(f->meta);
    f->tensors = NULL;
    f->by_name = NULL;
    f->meta = NULL;
}

static int cmp_offset(const void *a, const void *b) {
    const trdi_st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Builds the name index without qsort's global (thread safety): a simple merge sort. */
static void sort_by_name(const trdi_st_tensor *t, int64_t *idx, int64_t *tmp, int64_t n) {
    if (n < 2) return;
    int64_t h = n / 2;
    sort_by_name(t, idx, tmp, h);
    sort_by_name(t, idx + h, tmp, n - h);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = strcmp(t[idx[i]].name, t[idx[j]].name) <= 0 ? idx[i++] : idx[j++];
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static trdi_status parse_metadata(trdi_safetensors *f, const cJSON *meta) {
    if (cJSON_IsNull(meta)) return TRDI_OK;
    if (!cJSON_IsObject(meta))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: __metadata__ is not a JSON object", f->path);
    int64_t n = 0;
    for (const cJSON *it = meta->child; it; it = it->next)
        n++;
    f->meta = trdi_calloc((size_t)(2 * n), sizeof *f->meta);
    if (!f->meta) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for __metadata__", f->path);
    for (const cJSON *it = meta->child; it; it = it->next) {
        if (!cJSON_IsString(it) || !it->valuestring)
            return trdi_fail(TRDI_ERR_FORMAT, "%s: __metadata__ value of '%.200s' is not a string",
                             f->path, it->string ? it->string : "");
        char *k = strdup(it->string ? it->string : "");
        char *v = strdup(it->valuestring);
        f->meta[2 * f->n_meta] = k;
        f->meta[2 * f->n_meta + 1] = v;
        f->n_meta++;
        if (!k || !v)
            return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for __metadata__", f->path);
    }
    /* repeated keys (cJSON keeps them all) would make lookups ambiguous */
    char **keys = trdi_calloc((size_t)f->n_meta, sizeof *keys);
    if (!keys) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for __metadata__", f->path);
    for (int64_t i = 0; i < f->n_meta; i++)
        keys[i] = f->meta[2 * i];
    qsort(keys, (size_t)f->n_meta, sizeof *keys, cmp_str);
    trdi_status st = TRDI_OK;
    for (int64_t i = 1; i < f->n_meta && st == TRDI_OK; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0)
            st = trdi_fail(TRDI_ERR_FORMAT, "%s: __metadata__ key '%.200s' appears twice", f->path,
                           keys[i]);
    }
    free(keys);
    return st;
}

/* One header entry -> t (name already set). data_size = bytes after the header. */
static trdi_status parse_entry(const trdi_safetensors *f, const cJSON *e, size_t data_size,
                               trdi_st_tensor *t) {
    const char *P = f->path, *N = t->name;
    if (!cJSON_IsObject(e))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s': entry is not a JSON object", P, N);
    const cJSON *jd = NULL, *js = NULL, *jo = NULL;
    for (const cJSON *it = e->child; it; it = it->next) {
        const char *k = it->string ? it->string : "";
        const cJSON **slot = strcmp(k, "dtype") == 0          ? &jd
                             : strcmp(k, "shape") == 0        ? &js
                             : strcmp(k, "data_offsets") == 0 ? &jo
                                                              : NULL;
        if (!slot)
            return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s': unknown key '%.64s'", P, N, k);
        if (*slot)
            return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s': duplicate key '%s'", P, N, k);
        *slot = it;
    }
    if (!jd || !js || !jo)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s': missing '%s'", P, N,
                         !jd   ? "dtype"
                         : !js ? "shape"
                               : "data_offsets");
    /* dtype */
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s': dtype is not a string", P, N);
    bool known = false;
    for (int i = 0; i < N_DTYPES; i++) {
        if (strcmp(jd->valuestring, dtype_table[i].name) == 0) {
            t->dtype = (trdi_st_dtype)i;
            known = true;
        }
    }
    if (!known)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s': unknown dtype '%.32s'", P, N,
                         jd->valuestring);
    size_t esize = dtype_table[t->dtype].size;
    /* shape */
    if (!cJSON_IsArray(js))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s': shape is not an array", P, N);
    int nd = 0;
    bool has_zero = false;
    for (const cJSON *it = js->child; it; it = it->next) {
        int64_t d;
        if (!json_uint(it, &d))
            return trdi_fail(TRDI_ERR_FORMAT,
                             "%s: tensor '%.200s': shape entry %d is not a non-negative integer", P,
                             N, nd);
        if (nd == TRDI_ST_MAX_DIMS)
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: tensor '%.200s': more than %d dimensions",
                             P, N, TRDI_ST_MAX_DIMS);
        t->shape[nd++] = d;
        has_zero |= d == 0;
    }
    /* Elements cannot exceed the data area's bytes: bounding the product by it avoids overflow. */
    int64_t numel = has_zero ? 0 : 1;
    int64_t limit = (int64_t)(data_size / esize);
    for (int i = 0; i < nd && numel > 0; i++) {
        if (numel > limit / t->shape[i]) {
            char sh[200];
            shape_str(nd, t->shape, sh, sizeof sh);
            return trdi_fail(
                TRDI_ERR_FORMAT,
                "%s: tensor '%.200s': shape %s of %s (%zu-byte elements) is larger than the "
                "data area (%zu bytes): truncated or corrupt file",
                P, N, sh, dtype_table[t->dtype].name, esize, data_size);
        }
        numel *= t->shape[i];
    }
    t->ndim = nd;
    t->numel = numel;
    t->nbytes = (size_t)numel * esize;
    /* data_offsets */
    int64_t begin, end;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(jo->child, &begin) ||
        !json_uint(jo->child->next, &end))
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: tensor '%.200s': data_offsets is not [begin, end] with non-negative "
                         "integers",
                         P, N);
    if (end < begin)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: tensor '%.200s': data_offsets [%lld, %lld] end before begin", P, N,
                         (long long)begin, (long long)end);
    if ((uint64_t)end > data_size)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: tensor '%.200s': data_offsets [%lld, %lld] outside the data area "
                         "(%zu bytes): truncated or corrupt file",
                         P, N, (long long)begin, (long long)end, data_size);
    if ((uint64_t)(end - begin) != (uint64_t)t->nbytes) {
        char sh[200];
        shape_str(nd, t->shape, sh, sizeof sh);
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: tensor '%.200s': shape %s x %s = %zu bytes, but data_offsets "
                         "[%lld, %lld] span %lld bytes",
                         P, N, sh, dtype_table[t->dtype].name, t->nbytes, (long long)begin,
                         (long long)end, (long long)(end - begin));
    }
    t->offset = (int64_t)f->data_start + begin;
    t->data = f->base + f->data_start + (size_t)begin;
    return TRDI_OK;
}

/* Validates f->base[0..size) and fills the tables. */
static trdi_status parse(trdi_safetensors *f) {
    const char *P = f->path;
    if (f->size < 8)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: truncated: %zu bytes, shorter than the 8-byte header length", P,
                         f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | f->base[i];
    if (hlen > TRDI_ST_MAX_HEADER)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: header length %llu exceeds the limit of %d bytes", P,
                         (unsigned long long)hlen, TRDI_ST_MAX_HEADER);
    if (hlen > f->size - 8)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: header length %llu exceeds the file (%zu bytes after the length "
                         "field): truncated or not a safetensors file",
                         P, (unsigned long long)hlen, f->size - 8);
    f->data_start = 8 + (size_t)hlen;
    size_t data_size = f->size - f->data_start;
    const unsigned char *h = f->base + 8;
    size_t bad = utf8_check(h, (size_t)hlen);
    if (bad < hlen)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: header is not valid UTF-8 (%s at byte %zu)", P,
                         h[bad] ? "bad sequence" : "NUL", bad);
    /* cJSON gets its own NUL-terminated copy: never parse straight out of the mapping. */
    char *text = malloc((size_t)hlen + 1);
    if (!text) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for the header", P);
    memcpy(text, h, (size_t)hlen);
    text[hlen] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)hlen + 1, &end, 0);
    trdi_status st = TRDI_OK;
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        st =
            trdi_fail(TRDI_ERR_FORMAT, "%s: header is not valid JSON (error near byte %zu)", P, at);
        goto out;
    }
    for (const char *c = end; c && *c; c++) {
        if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r') {
            st = trdi_fail(TRDI_ERR_FORMAT,
                           "%s: header has trailing bytes after the JSON object (byte %zu)", P,
                           (size_t)(c - text));
            goto out;
        }
    }
    if (!cJSON_IsObject(root)) {
        st = trdi_fail(TRDI_ERR_FORMAT, "%s: header is not a JSON object", P);
        goto out;
    }
    int64_t n = 0;
    const cJSON *meta = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (it->string && strcmp(it->string, "__metadata__") == 0) {
            if (meta) {
                st = trdi_fail(TRDI_ERR_FORMAT, "%s: duplicate __metadata__", P);
                goto out;
            }
            meta = it;
        } else {
            n++;
        }
    }
    if (meta && (st = parse_metadata(f, meta)) != TRDI_OK) goto out;
    f->tensors = trdi_calloc((size_t)n, sizeof *f->tensors);
    f->by_name = trdi_calloc((size_t)n, sizeof *f->by_name);
    int64_t *tmp = trdi_calloc((size_t)n, sizeof *tmp);
    if (!f->tensors || !f->by_name || !tmp) {
        free(tmp);
        st =
            trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for %lld tensor entries", P, (long long)n);
        goto out;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        if (it == meta) continue;
        trdi_st_tensor *t = &f->tensors[f->n];
        t->name = strdup(it->string ? it->string : "");
        if (!t->name) {
            st = trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", P);
            break;
        }
        f->n++;
        if ((st = parse_entry(f, it, data_size, t)) != TRDI_OK) break;
    }
    if (st == TRDI_OK) {
        /* duplicate names (cJSON keeps repeated keys as separate members) */
        for (int64_t i = 0; i < f->n; i++)
            f->by_name[i] = i;
        sort_by_name(f->tensors, f->by_name, tmp, f->n);
        for (int64_t i = 1; i < f->n; i++) {
            const char *a = f->tensors[f->by_name[i - 1]].name, *b = f->tensors[f->by_name[i]].name;
            if (strcmp(a, b) == 0) {
                st = trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s': duplicate name", P, b);
                break;
            }
        }
    }
    if (st == TRDI_OK) {
        /* overlapping ranges: sort by offset, then each non-empty range must start at or after
         * the furthest end seen so far */
        qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, cmp_offset);
        int64_t far_end = 0;
        const char *far_name = NULL;
        for (int64_t i = 0; i < f->n; i++) {
            const trdi_st_tensor *t = &f->tensors[i];
            if (t->nbytes == 0) continue;
            if (far_name && t->offset < far_end) {
                st = trdi_fail(TRDI_ERR_FORMAT,
                               "%s: tensor '%.200s': data range [%lld, %lld) overlaps tensor "
                               "'%.200s' (ends at %lld)",
                               P, t->name, (long long)(t->offset - (int64_t)f->data_start),
                               (long long)(t->offset - (int64_t)f->data_start + (int64_t)t->nbytes),
                               far_name, (long long)(far_end - (int64_t)f->data_start));
                break;
            }
            if (t->offset + (int64_t)t->nbytes > far_end) {
                far_end = t->offset + (int64_t)t->nbytes;
                far_name = t->name;
            }
        }
        /* the name index refers to positions, which the sort changed: rebuild it */
        for (int64_t i = 0; i < f->n; i++)
            f->by_name[i] = i;
        sort_by_name(f->tensors, f->by_name, tmp, f->n);
    }
    free(tmp);
out:
    cJSON_Delete(root);
    free(text);
    return st;
}

static void release_bytes(trdi_safetensors *f) {
    if (!f->base) return;
    if (f->mapped) {
        munmap((void *)f->base, f->size);
    } else {
        free((void *)f->base);
    }
    f->base = NULL;
}

void trdi_safetensors_close(trdi_safetensors *f) {
    if (!f) return;
    free_contents(f);
    release_bytes(f);
    free(f->path);
    free(f);
}

static trdi_status finish_open(trdi_safetensors *f, trdi_safetensors **out) {
    trdi_status st = parse(f);
    if (st != TRDI_OK) {
        trdi_safetensors_close(f);
        return st;
    }
    *out = f;
    return TRDI_OK;
}

trdi_status trdi_safetensors_open(const char *path, trdi_safetensors **out) {
    if (out) *out = NULL;
    if (!path || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "safetensors_open: NULL argument");
    trdi_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        trdi_safetensors_close(f);
        return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        bool isreg = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
        close(fd);
        trdi_safetensors_close(f);
        return trdi_fail(TRDI_ERR_IO, "%s: %s", path, isreg ? strerror(e) : "not a regular file");
    }
    f->size = (size_t)sb.st_size;
    if (f->size >= 8) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            trdi_safetensors_close(f);
            return trdi_fail(TRDI_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        f->base = m;
        f->mapped = true;
    } else {
        /* too short to be valid: read what is there so parse() reports "truncated" */
        unsigned char *b = calloc(1, 8);
        if (!b) {
            close(fd);
            trdi_safetensors_close(f);
            return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
        }
        f->base = b;
    }
    close(fd);
    return finish_open(f, out);
}

trdi_status trdi_safetensors_open_memory(const void *data, size_t size, const char *label,
                                         trdi_safetensors **out) {
    if (out) *out = NULL;
    if (!out || (!data && size))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "safetensors_open_memory: NULL argument");
    trdi_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(label ? label : "<memory>"))) {
        free(f);
        return trdi_fail(TRDI_ERR_NOMEM, "safetensors_open_memory: out of memory");
    }
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) {
        trdi_safetensors_close(f);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for %zu bytes",
                         label ? label : "<memory>", size);
    }
    if (size) memcpy(copy, data, size);
    f->base = copy;
    f->size = size;
    return finish_open(f, out);
}

/* ---------------------------------------------------------------------------------------------- */
/* Queries                                                                                        */

const char *trdi_safetensors_path(const trdi_safetensors *f) {
    return f ? f->path : "";
}

int64_t trdi_safetensors_count(const trdi_safetensors *f) {
    return f ? f->n : 0;
}

const trdi_st_tensor *trdi_safetensors_at(const trdi_safetensors *f, int64_t i) {
    if (!f || i < 0 || i >= f->n) return NULL;
    return &f->tensors[i];
}

const trdi_st_tensor *trdi_safetensors_lookup(const trdi_safetensors *f, const char *name) {
    if (!f || !name) return NULL;
    int64_t lo = 0, hi = f->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const trdi_st_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

trdi_status trdi_safetensors_find(const trdi_safetensors *f, const char *name,
                                  const trdi_st_tensor **out) {
    if (out) *out = NULL;
    if (!f || !name || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "safetensors_find: NULL argument");
    const trdi_st_tensor *t = trdi_safetensors_lookup(f, name);
    if (!t) return trdi_fail(TRDI_ERR_FORMAT, "%s: no tensor named '%.200s'", f->path, name);
    *out = t;
    return TRDI_OK;
}

const char *trdi_safetensors_metadata(const trdi_safetensors *f, const char *key) {
    if (!f || !key) return NULL;
    for (int64_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
}

int64_t trdi_safetensors_metadata_count(const trdi_safetensors *f) {
    return f ? f->n_meta : 0;
}

void trdi_safetensors_metadata_at(const trdi_safetensors *f, int64_t i, const char **key,
                                  const char **value) {
    bool ok = f && i >= 0 && i < f->n_meta;
    if (key) *key = ok ? f->meta[2 * i] : NULL;
    if (value) *value = ok ? f->meta[2 * i + 1] : NULL;
}

/* Page range of a mapped tensor's bytes, for the two madvise calls below. */
static bool tensor_pages(const trdi_safetensors *f, const trdi_st_tensor *t, void **start,
                         size_t *len) {
    if (!f->mapped || t->nbytes == 0) return false;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)t->data / page * page;
    uintptr_t hi = (uintptr_t)t->data + (uintptr_t)t->nbytes;
    *start = (void *)lo;
    *len = (size_t)(hi - lo);
    return true;
}

/* Converts a tensor out of the mapping. Before: one system call maps its pages (a page fault per
 * 4 KiB page is what made loading a 1.7 GB UNet take seconds in a VM). After: the pages leave
 * this process's resident set (they stay in the page cache), so loading fp16 weights as float32
 * does not also hold the fp16 file in memory. Both are hints; errors are ignored. */
static trdi_status copy_mapped(const trdi_safetensors *f, const trdi_st_tensor *t, float *dst,
                               void *raw) {
    void *start = NULL;
    size_t len = 0;
    bool mapped = tensor_pages(f, t, &start, &len);
#ifdef MADV_POPULATE_READ
    if (mapped) (void)madvise(start, len, MADV_POPULATE_READ);
#endif
    trdi_status st = TRDI_OK;
    if (raw)
        memcpy(raw, t->data, t->nbytes);
    else
        st = trdi_st_convert_to_f32(t->dtype, t->data, (size_t)t->numel, dst);
    if (mapped) (void)madvise(start, len, MADV_DONTNEED);
    return st;
}

static trdi_status convert_mapped(const trdi_safetensors *f, const trdi_st_tensor *t, float *dst) {
    return copy_mapped(f, t, dst, NULL);
}

trdi_status trdi_safetensors_read_raw(const trdi_safetensors *f, const char *name,
                                      trdi_st_dtype dtype, void *dst, size_t nbytes) {
    const trdi_st_tensor *t;
    trdi_status st = trdi_safetensors_find(f, name, &t);
    if (st != TRDI_OK) return st;
    if (t->dtype != dtype || t->nbytes != nbytes)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s' is %s with %zu bytes, expected %s "
                         "with %zu", f->path, name, trdi_st_dtype_name(t->dtype), t->nbytes,
                         trdi_st_dtype_name(dtype), nbytes);
    if (!dst && nbytes)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "safetensors_read_raw: NULL dst for '%.200s'", name);
    return copy_mapped(f, t, NULL, dst);
}

trdi_status trdi_safetensors_read_f32(const trdi_safetensors *f, const char *name, float *dst,
                                      size_t count) {
    const trdi_st_tensor *t;
    trdi_status st = trdi_safetensors_find(f, name, &t);
    if (st != TRDI_OK) return st;
    if ((uint64_t)t->numel != (uint64_t)count)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "%s: tensor '%.200s' has %lld elements, the caller expects %zu", f->path,
                         name, (long long)t->numel, count);
    if (!dst && count)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "safetensors_read_f32: NULL dst for '%.200s'", name);
    return convert_mapped(f, t, dst);
}

trdi_status trdi_safetensors_read_f32_shape(const trdi_safetensors *f, const char *name, int ndim,
                                            const int64_t *shape, float *dst) {
    const trdi_st_tensor *t;
    trdi_status st = trdi_safetensors_find(f, name, &t);
    if (st != TRDI_OK) return st;
    if (ndim < 0 || ndim > TRDI_ST_MAX_DIMS || (ndim && !shape))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "safetensors_read_f32_shape: bad ndim %d for '%.200s'", ndim, name);
    bool same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++)
        same = shape[i] == t->shape[i];
    if (!same) {
        char a[200], b[200];
        shape_str(t->ndim, t->shape, a, sizeof a);
        shape_str(ndim, shape, b, sizeof b);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%.200s' has shape %s, expected %s", f->path,
                         name, a, b);
    }
    return trdi_safetensors_read_f32(f, name, dst, (size_t)t->numel);
}

trdi_status trdi_safetensors_load_f32(const trdi_safetensors *f, const char *name, float **out,
                                      int64_t *numel) {
    if (out) *out = NULL;
    if (numel) *numel = 0;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "safetensors_load_f32: NULL out");
    const trdi_st_tensor *t;
    trdi_status st = trdi_safetensors_find(f, name, &t);
    if (st != TRDI_OK) return st;
    float *buf = trdi_mallocn((size_t)t->numel, sizeof(float));
    if (!buf)
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for tensor '%.200s' (%lld floats)",
                         f->path, name, (long long)t->numel);
    st = convert_mapped(f, t, buf);
    if (st != TRDI_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    if (numel) *numel = t->numel;
    return TRDI_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Expected-tensor check                                                                          */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) TRDI_PRINTF(2, 3);
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int k = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if ((size_t)k < room) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap - b->len <= (size_t)k)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static bool is_float_dtype(trdi_st_dtype d) {
    return d == TRDI_ST_F32 || d == TRDI_ST_F16 || d == TRDI_ST_BF16 || d == TRDI_ST_F64 ||
           d == TRDI_ST_F8_E4M3 || d == TRDI_ST_F8_E5M2;
}

trdi_status trdi_safetensors_check(const trdi_safetensors *f, const trdi_st_spec *expected,
                                   int64_t n, bool allow_unexpected, char **report) {
    if (report) *report = NULL;
    if (!f || (n && !expected) || n < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "safetensors_check: bad arguments");
    bool *seen = trdi_calloc((size_t)f->n, sizeof *seen);
    if (!seen) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", f->path);
    strbuf all = {0}, first = {0};
    int64_t missing = 0, mismatched = 0, unexpected = 0, shown = 0;
    enum { SHOW = 5 };
    for (int64_t i = 0; i < n; i++) {
        const trdi_st_spec *e = &expected[i];
        char want[200], got[200];
        int nd = e->ndim < 0 ? 0 : e->ndim > TRDI_ST_MAX_DIMS ? TRDI_ST_MAX_DIMS : e->ndim;
        shape_str(nd, e->shape, want, sizeof want);
        const trdi_st_tensor *t = e->name ? trdi_safetensors_lookup(f, e->name) : NULL;
        char line[1024];
        line[0] = 0;
        if (!t) {
            missing++;
            snprintf(line, sizeof line, "missing %.300s %s", e->name ? e->name : "(null)", want);
        } else {
            seen[t - f->tensors] = true;
            bool same = t->ndim == e->ndim;
            for (int k = 0; same && k < nd; k++)
                same = t->shape[k] == e->shape[k];
            if (!same) {
                mismatched++;
                shape_str(t->ndim, t->shape, got, sizeof got);
                snprintf(line, sizeof line, "%.300s: shape %s, expected %s", e->name, got, want);
            } else if (!is_float_dtype(t->dtype)) {
                mismatched++;
                snprintf(line, sizeof line, "%.300s: dtype %s, expected a floating type", e->name,
                         trdi_st_dtype_name(t->dtype));
            }
        }
        if (line[0]) {
            sb_printf(&all, "%s\n", line);
            if (shown++ < SHOW) sb_printf(&first, "%s%s", shown > 1 ? "; " : "", line);
        }
    }
    if (!allow_unexpected) {
        for (int64_t i = 0; i < f->n; i++) {
            if (seen[i]) continue;
            char got[200], line[1024];
            shape_str(f->tensors[i].ndim, f->tensors[i].shape, got, sizeof got);
            snprintf(line, sizeof line, "unexpected %.300s %s", f->tensors[i].name, got);
            unexpected++;
            sb_printf(&all, "%s\n", line);
            if (shown++ < SHOW) sb_printf(&first, "%s%s", shown > 1 ? "; " : "", line);
        }
    }
    free(seen);
    trdi_status st = TRDI_OK;
    if (missing || mismatched || unexpected) {
        st = trdi_fail(TRDI_ERR_FORMAT,
                       "%s: %lld missing, %lld mismatched, %lld unexpected tensors: %s%s", f->path,
                       (long long)missing, (long long)mismatched, (long long)unexpected,
                       first.s ? first.s : "", shown > SHOW ? "; ..." : "");
        if (report && !all.oom) {
            *report = all.s;
            all.s = NULL;
        }
    }
    free(all.s);
    free(first.s);
    return st;
}
