/* util.c -- the bench module's CSV table (RFC 4180 quoting, torn-last-line detection), growing
 * text buffers, whole-file / atomic writes and folder creation. No metrics, no model code. */
#include "bench/bench.h"

#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

trdi_status bench_buf_add(bench_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return trdi_fail(TRDI_ERR_NOMEM, "out of memory (text buffer of %zu bytes)", cap);
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return TRDI_OK;
}

trdi_status bench_buf_printf(bench_buf *b, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return trdi_fail(TRDI_ERR_INTERNAL, "bad format");
    if ((size_t)n < sizeof small) return bench_buf_add(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    trdi_status st = bench_buf_add(b, big, (size_t)n);
    free(big);
    return st;
}

trdi_status bench_buf_csv_line(bench_buf *b, const char *const *cells, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const char *c = cells[i] ? cells[i] : "";
        trdi_status st = TRDI_OK;
        if (i) st = bench_buf_add(b, ",", 1);
        if (st) return st;
        if (strpbrk(c, ",\"\r\n")) {
            st = bench_buf_add(b, "\"", 1);
            for (const char *p = c; !st && *p; p++)
                st = *p == '"' ? bench_buf_add(b, "\"\"", 2) : bench_buf_add(b, p, 1);
            if (!st) st = bench_buf_add(b, "\"", 1);
        } else {
            st = bench_buf_add(b, c, strlen(c));
        }
        if (st) return st;
    }
    return bench_buf_add(b, "\n", 1);
}

void bench_buf_free(bench_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

void bench_table_clear(bench_table *t) {
    for (int64_t i = 0; i < t->n_cols; i++) free(t->header ? t->header[i] : NULL);
    free(t->header);
    for (int64_t r = 0; r < t->n_rows; r++) {
        for (int64_t i = 0; i < t->n_cols; i++) free(t->rows[r][i]);
        free(t->rows[r]);
    }
    free(t->rows);
    memset(t, 0, sizeof *t);
}

int64_t bench_table_col(const bench_table *t, const char *name) {
    for (int64_t i = 0; i < t->n_cols; i++)
        if (!strcmp(t->header[i], name)) return i;
    return -1;
}

trdi_status bench_table_add(bench_table *t, const char *const *cells) {
    if (t->n_rows == t->cap_rows) {
        int64_t cap = t->cap_rows ? 2 * t->cap_rows : 64;
        char ***p = realloc(t->rows, (size_t)cap * sizeof *p);
        if (!p) return trdi_fail(TRDI_ERR_NOMEM, "out of memory (results table)");
        t->rows = p;
        t->cap_rows = cap;
    }
    char **row = trdi_calloc((size_t)t->n_cols, sizeof *row);
    if (!row) return trdi_fail(TRDI_ERR_NOMEM, "out of memory (results row)");
    for (int64_t i = 0; i < t->n_cols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "");
        if (!row[i]) {
            for (int64_t k = 0; k < i; k++) free(row[k]);
            free(row);
            return trdi_fail(TRDI_ERR_NOMEM, "out of memory (results cell)");
        }
    }
    t->rows[t->n_rows++] = row;
    return TRDI_OK;
}

/* Parses one record starting at text[*pos]; returns false when the record has no terminating
 * newline (torn). Cells are malloc'd into *cells / *n. */
static trdi_status parse_record(const char *text, size_t len, size_t *pos, char ***cells,
                                int64_t *n, bool *complete) {
    *cells = NULL;
    *n = 0;
    *complete = false;
    int64_t cap = 0;
    bench_buf cell = {0};
    size_t i = *pos;
    trdi_status st = TRDI_OK;
    for (;;) {
        /* one cell */
        cell.len = 0;
        st = bench_buf_add(&cell, "", 0);
        if (st) break;
        if (i < len && text[i] == '"') {
            i++;
            bool closed = false;
            while (i < len && !st) {
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        st = bench_buf_add(&cell, "\"", 1);
                        i += 2;
                    } else {
                        i++;
                        closed = true;
                        break;
                    }
                } else {
                    st = bench_buf_add(&cell, text + i, 1);
                    i++;
                }
            }
            if (st || !closed) break;
        } else {
            size_t s = i;
            while (i < len && text[i] != ',' && text[i] != '\n') i++;
            size_t e = i;
            if (e > s && text[e - 1] == '\r' && (i == len || text[i] == '\n')) e--;
            st = bench_buf_add(&cell, text + s, e - s);
            if (st) break;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **p = realloc(*cells, (size_t)cap * sizeof *p);
            if (!p) {
                st = trdi_fail(TRDI_ERR_NOMEM, "out of memory (CSV)");
                break;
            }
            *cells = p;
        }
        (*cells)[(*n)++] = strdup(cell.data);
        if (i < len && text[i] == '\r') i++;
        if (i >= len) break; /* no newline: torn */
        if (text[i] == ',') {
            i++;
            continue;
        }
        if (text[i] == '\n') {
            i++;
            *complete = true;
            break;
        }
        break; /* garbage after a closing quote: treat as torn/malformed */
    }
    bench_buf_free(&cell);
    *pos = i;
    return st;
}

static void free_cells(char **cells, int64_t n) {
    for (int64_t i = 0; i < n; i++) free(cells[i]);
    free(cells);
}

trdi_status bench_table_parse(const char *text, size_t len, const char *label, bench_table *t) {
    memset(t, 0, sizeof *t);
    size_t pos = 0;
    int64_t line = 0;
    while (pos < len) {
        size_t start = pos;
        char **cells;
        int64_t n;
        bool complete;
        trdi_status st = parse_record(text, len, &pos, &cells, &n, &complete);
        if (st) {
            bench_table_clear(t);
            return st;
        }
        line++;
        if (!complete) {
            /* A record cut short by a crash: drop it (and anything after). */
            free_cells(cells, n);
            t->torn = true;
            t->good_bytes = (int64_t)start;
            return TRDI_OK;
        }
        if (line == 1) {
            t->header = cells;
            t->n_cols = n;
        } else if (n != t->n_cols) {
            free_cells(cells, n);
            int64_t cols = t->n_cols;
            bench_table_clear(t);
            return trdi_fail(TRDI_ERR_FORMAT, "%s: line %lld has %lld fields, the header %lld",
                             label, (long long)line, (long long)n, (long long)cols);
        } else {
            st = bench_table_add(t, (const char *const *)cells);
            free_cells(cells, n);
            if (st) {
                bench_table_clear(t);
                return st;
            }
        }
        t->good_bytes = (int64_t)pos;
    }
    return TRDI_OK;
}

trdi_status bench_read_file(const char *path, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    bench_buf b = {0};
    char chunk[65536];
    size_t n;
    trdi_status st = bench_buf_add(&b, "", 0);
    while (!st && (n = fread(chunk, 1, sizeof chunk, f)) > 0) st = bench_buf_add(&b, chunk, n);
    if (!st && ferror(f)) st = trdi_fail(TRDI_ERR_IO, "%s: read error", path);
    fclose(f);
    if (st) {
        bench_buf_free(&b);
        return st;
    }
    *out = b.data;
    *len = b.len;
    return TRDI_OK;
}

trdi_status bench_table_read(const char *path, bench_table *t, bool *exists) {
    memset(t, 0, sizeof *t);
    if (exists) *exists = false;
    if (access(path, F_OK) != 0) return TRDI_OK;
    if (exists) *exists = true;
    char *text;
    size_t len;
    trdi_status st = bench_read_file(path, &text, &len);
    if (st) return st;
    st = bench_table_parse(text, len, path, t);
    free(text);
    return st;
}

trdi_status bench_write_atomic(const char *path, const char *data, size_t len) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        trdi_status st = trdi_fail(TRDI_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    size_t off = 0;
    bool ok = true;
    while (ok && off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        ok = w > 0;
        if (ok) off += (size_t)w;
    }
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        trdi_status st = trdi_fail(TRDI_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return TRDI_OK;
}

trdi_status bench_mkdirs(const char *path) {
    char *p = strdup(path);
    if (!p) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    for (char *s = p + 1; ; s++) {
        bool end = *s == '\0';
        if (*s == '/' || end) {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                trdi_status st = trdi_fail(TRDI_ERR_IO, "%s: cannot create folder: %s", p,
                                           strerror(errno));
                free(p);
                return st;
            }
            if (end) break;
            *s = '/';
        }
    }
    struct stat sb;
    bool dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    free(p);
    if (!dir) return trdi_fail(TRDI_ERR_IO, "%s: not a folder", path);
    return TRDI_OK;
}

char *bench_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

void bench_fmt_double(char *buf, size_t n, double v) {
    if (isnan(v))
        snprintf(buf, n, "%s", "");
    else if (isinf(v))
        snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, n, "%.10g", v);
}

bool bench_parse_double(const char *s, double *out) {
    *out = NAN;
    if (!s || !*s) return false;
    if (!strcmp(s, "inf")) {
        *out = INFINITY;
        return true;
    }
    if (!strcmp(s, "-inf")) {
        *out = -INFINITY;
        return true;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || end == s) return false;
    *out = v;
    return true;
}
