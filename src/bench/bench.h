/* bench.h -- internal pieces of the dataset-runs module (src/bench/): a small CSV table (read with
 * torn-line detection, quoted writing), whole-file and atomic text I/O, folder creation. Not
 * public API (the public part is the @@SECTION bench of include/trdi.h). */
#ifndef TRDI_BENCH_INTERNAL_H
#define TRDI_BENCH_INTERNAL_H

#include "trdi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A CSV table: a header and rows of string cells (every row has n_cols cells). */
typedef struct bench_table {
    int64_t n_cols;
    char **header;   /* (n_cols) */
    int64_t n_rows;
    int64_t cap_rows;
    char ***rows;    /* (n_rows) of (n_cols) */
    int64_t good_bytes; /* length of the file up to the end of its last complete line */
    bool torn;          /* the file ended with a partial line (dropped) */
} bench_table;

/* Parses CSV text (RFC 4180 quoting). A last line without its newline is dropped as torn
 * (t->torn, t->good_bytes tell where the good part ends). A complete line with another field
 * count than the header is TRDI_ERR_FORMAT naming `label` and the line. Empty text: no header. */
trdi_status bench_table_parse(const char *text, size_t len, const char *label, bench_table *t);
/* Reads and parses a file; a missing file gives an empty table (n_cols 0) and *exists false. */
trdi_status bench_table_read(const char *path, bench_table *t, bool *exists);
void bench_table_clear(bench_table *t);
/* Column index of `name`, or -1. */
int64_t bench_table_col(const bench_table *t, const char *name);
/* Appends a row (cells copied). */
trdi_status bench_table_add(bench_table *t, const char *const *cells);

/* Appends one CSV-quoted line of n cells (with "\n") to a growing buffer. */
typedef struct bench_buf {
    char *data;
    size_t len, cap;
} bench_buf;
trdi_status bench_buf_add(bench_buf *b, const char *s, size_t n);
trdi_status bench_buf_printf(bench_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
trdi_status bench_buf_csv_line(bench_buf *b, const char *const *cells, int64_t n);
void bench_buf_free(bench_buf *b);

/* Whole-file read (NUL-terminated; *len without it). TRDI_ERR_IO naming the path. */
trdi_status bench_read_file(const char *path, char **out, size_t *len);
/* Writes `len` bytes to path atomically (temp file in the same folder, fsync, rename). */
trdi_status bench_write_atomic(const char *path, const char *data, size_t len);
/* mkdir -p. */
trdi_status bench_mkdirs(const char *path);
/* malloc'd "a/b". */
char *bench_join(const char *a, const char *b);

/* Sorts the rows of a results table by (config_index, image_index) and writes the summary files
 * and charts into dir (see trdi_bench_summarize); with write_results also dir/results.csv. */
trdi_status bench_summarize_table(const char *dir, bench_table *t, bool write_results);

/* Double as the results CSV writes it: "" for NaN, "inf" / "-inf", else %.10g. */
void bench_fmt_double(char *buf, size_t n, double v);
/* Parses a results cell: "" -> NaN (false when unavailable), "inf" / "-inf", a number. */
bool bench_parse_double(const char *s, double *out);

#endif /* TRDI_BENCH_INTERNAL_H */
