/* st_write.c -- the safetensors writer: validates the entries, builds the compact JSON header the
 * reference library writes (__metadata__ first, then tensors with contiguous data_offsets, padded
 * with spaces to a multiple of 8), and writes header + data to a temporary file that is renamed
 * over the destination only when everything succeeded. Not a reader (see safetensors.c). */
#include "core/core.h"
#include "io/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct hbuf {
    char *s;
    size_t len, cap;
    bool oom;
} hbuf;

static void hb_put(hbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void hb_str(hbuf *b, const char *s) {
    hb_put(b, s, strlen(s));
}

static void hb_fmt(hbuf *b, const char *fmt, ...) TRDI_PRINTF(2, 3);
static void hb_fmt(hbuf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) hb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* A JSON string with serde_json's escapes (the reference writer's): \" \\ \b \f \n \r \t, other
 * control characters as \u00xx; everything else (UTF-8) verbatim. */
static void hb_json_string(hbuf *b, const char *s) {
    hb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            hb_put(b, "\\\"", 2);
            break;
        case '\\':
            hb_put(b, "\\\\", 2);
            break;
        case '\b':
            hb_put(b, "\\b", 2);
            break;
        case '\f':
            hb_put(b, "\\f", 2);
            break;
        case '\n':
            hb_put(b, "\\n", 2);
            break;
        case '\r':
            hb_put(b, "\\r", 2);
            break;
        case '\t':
            hb_put(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                hb_fmt(b, "\\u%04x", *p);
            } else {
                hb_put(b, (const char *)p, 1);
            }
        }
    }
    hb_put(b, "\"", 1);
}

/* Valid UTF-8 (the header must be; Python names are str). */
static bool utf8_ok(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int k;
        uint32_t cp, min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (int j = 1; j <= k; j++) {
            if ((s[j] & 0xc0) != 0x80) return false; /* also stops at the NUL */
            cp = (cp << 6) | (s[j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        s += k + 1;
    }
    return true;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Validates entries; fills bytes[i]. */
static trdi_status check_entries(const char *path, const trdi_st_write_entry *t, int64_t n,
                                 const char *const *metadata, uint64_t *bytes) {
    for (int64_t i = 0; i < n; i++) {
        const trdi_st_write_entry *e = &t[i];
        if (!e->name || !e->name[0])
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: entry %lld has no name", path,
                             (long long)i);
        if (strcmp(e->name, "__metadata__") == 0 || !utf8_ok(e->name))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: entry %lld: invalid tensor name '%.200s'",
                             path, (long long)i, e->name);
        size_t es = trdi_st_dtype_size(e->dtype);
        if (es == 0)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: tensor '%.200s': unknown dtype %d", path,
                             e->name, (int)e->dtype);
        if (e->ndim < 0 || e->ndim > TRDI_ST_MAX_DIMS || (e->ndim > 0 && !e->shape))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: tensor '%.200s': ndim %d outside [0, %d]",
                             path, e->name, e->ndim, TRDI_ST_MAX_DIMS);
        uint64_t numel = 1;
        bool zero = false;
        for (int k = 0; k < e->ndim; k++) {
            if (e->shape[k] < 0)
                return trdi_fail(TRDI_ERR_INVALID_ARG,
                                 "%s: tensor '%.200s': negative dimension %lld", path, e->name,
                                 (long long)e->shape[k]);
            zero |= e->shape[k] == 0;
        }
        for (int k = 0; k < e->ndim && !zero; k++) {
            uint64_t d = (uint64_t)e->shape[k];
            if (numel > ((uint64_t)1 << 53) / es / d)
                return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: tensor '%.200s': shape too large", path,
                                 e->name);
            numel *= d;
        }
        if (zero) numel = 0;
        bytes[i] = numel * es;
        if (numel && !e->data)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: tensor '%.200s': NULL data", path, e->name);
    }
    /* duplicate names */
    const char **names = trdi_calloc((size_t)n, sizeof *names);
    if (!names) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < n; i++)
        names[i] = t[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int64_t i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            trdi_status st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: duplicate tensor name '%.200s'",
                                       path, names[i]);
            free(names);
            return st;
        }
    }
    free(names);
    if (metadata) {
        for (int64_t i = 0; metadata[i]; i += 2) {
            if (!metadata[i + 1])
                return trdi_fail(TRDI_ERR_INVALID_ARG,
                                 "%s: metadata key '%.200s' has no value (list must be key, value "
                                 "pairs then NULL)",
                                 path, metadata[i]);
            if (!utf8_ok(metadata[i]) || !utf8_ok(metadata[i + 1]))
                return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: metadata '%.200s' is not UTF-8", path,
                                 metadata[i]);
        }
    }
    return TRDI_OK;
}

static trdi_status build_header(const trdi_st_write_entry *t, int64_t n,
                                const char *const *metadata, const uint64_t *bytes, hbuf *h) {
    hb_str(h, "{");
    bool first = true;
    if (metadata && metadata[0]) {
        hb_str(h, "\"__metadata__\":{");
        for (int64_t i = 0; metadata[i]; i += 2) {
            if (i) hb_str(h, ",");
            hb_json_string(h, metadata[i]);
            hb_str(h, ":");
            hb_json_string(h, metadata[i + 1]);
        }
        hb_str(h, "}");
        first = false;
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!first) hb_str(h, ",");
        first = false;
        hb_json_string(h, t[i].name);
        hb_str(h, ":{\"dtype\":");
        hb_json_string(h, trdi_st_dtype_name(t[i].dtype));
        hb_str(h, ",\"shape\":[");
        for (int k = 0; k < t[i].ndim; k++)
            hb_fmt(h, "%s%lld", k ? "," : "", (long long)t[i].shape[k]);
        hb_fmt(h, "],\"data_offsets\":[%llu,", (unsigned long long)off);
        off += bytes[i];
        hb_fmt(h, "%llu]}", (unsigned long long)off);
    }
    hb_str(h, "}");
    while (!h->oom && h->len % 8)
        hb_str(h, " ");
    if (h->oom) return trdi_fail(TRDI_ERR_NOMEM, "out of memory for the safetensors header");
    if (h->len > TRDI_ST_MAX_HEADER)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "header of %zu bytes exceeds the limit of %d",
                         h->len, TRDI_ST_MAX_HEADER);
    return TRDI_OK;
}

static bool write_all(FILE *fp, const void *p, size_t n) {
    return n == 0 || fwrite(p, 1, n, fp) == n;
}

trdi_status trdi_safetensors_write(const char *path, const trdi_st_write_entry *tensors, int64_t n,
                                   const char *const *metadata) {
    if (!path || !path[0] || n < 0 || (n > 0 && !tensors))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "safetensors_write: bad path, count or tensor list");
    uint64_t *bytes = trdi_calloc((size_t)n, sizeof *bytes);
    if (!bytes) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    hbuf h = {0};
    char *tmp = NULL;
    FILE *fp = NULL;
    trdi_status st = check_entries(path, tensors, n, metadata, bytes);
    if (st == TRDI_OK && (st = build_header(tensors, n, metadata, bytes, &h)) != TRDI_OK)
        trdi_error_prefix("%s", path);
    if (st != TRDI_OK) goto done;
    size_t plen = strlen(path);
    tmp = malloc(plen + 16);
    if (!tmp) {
        st = trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        tmp = NULL;
        st = trdi_fail(TRDI_ERR_IO, "%s: cannot create a temporary file next to it: %s", path,
                       strerror(e));
        goto done;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; outputs are ordinary files */
    fp = fdopen(fd, "wb");
    if (!fp) {
        int e = errno;
        close(fd);
        st = trdi_fail(TRDI_ERR_IO, "%s: %s", tmp, strerror(e));
        goto done;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    bool ok = write_all(fp, len8, 8) && write_all(fp, h.s, h.len);
    for (int64_t i = 0; ok && i < n; i++)
        ok = write_all(fp, tensors[i].data, (size_t)bytes[i]);
    if (ok) ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int e = errno;
    if (fclose(fp) != 0 && ok) {
        ok = false;
        e = errno;
    }
    fp = NULL;
    if (!ok) {
        st = trdi_fail(TRDI_ERR_IO, "%s: write failed: %s", path, strerror(e));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        st = trdi_fail(TRDI_ERR_IO, "%s: cannot rename the temporary file into place: %s", path,
                       strerror(e));
        goto done;
    }
    free(tmp);
    tmp = NULL;
done:
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(h.s);
    free(bytes);
    return st;
}
