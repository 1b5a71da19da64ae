/* testutil.h -- small helpers shared by the test programs (not part of the library, not a test
 * framework: CHECKs live in harness.h). Everything is static inline, so a test that includes this
 * header and uses nothing from it compiles to the same program. Reading files, parsing reference
 * JSON, and the float32 reference-tensor lookups and error ratio used by the golden model tests. */
#ifndef TRDI_TEST_TESTUTIL_H
#define TRDI_TEST_TESTUTIL_H

#include "harness.h"
#include "trdi.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The whole file at `path` as a NUL-terminated malloc'd string (caller frees); NULL when it cannot
 * be opened or read. `len` (optional) receives the byte count. */
static inline char *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

/* The JSON document at `path` (caller cJSON_Delete()s); NULL when unreadable or not JSON. */
static inline cJSON *test_load_json(const char *path) {
    char *text = test_read_file(path, NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    return root;
}

/* Reference tensor `name` of an open safetensors file as float32 data in place (no copy); NULL
 * when missing or not F32. `numel` (optional) receives its element count. */
static inline const float *test_ref_f32(const trdi_safetensors *f, const char *name,
                                        int64_t *numel) {
    const trdi_st_tensor *t = trdi_safetensors_lookup(f, name);
    if (!t || t->dtype != TRDI_ST_F32) return NULL;
    if (numel) *numel = t->numel;
    return (const float *)t->data; /* the test files keep F32 data 8-byte aligned */
}

/* max|got - want| / max|want| (max|want| = 0 counts as 1); a NaN difference gives NaN. */
static inline double test_rel_err(const float *got, const float *want, size_t n) {
    double md = 0, mw = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= md)) md = d; /* NaN propagates */
        if (fabs((double)want[i]) > mw) mw = fabs((double)want[i]);
    }
    return md / (mw > 0 ? mw : 1);
}

/* test_rel_err of `got` against a reference for the golden tests' check_rel: keeps the worst ratio
 * in *worst (a NaN sticks) and prints the ratio when `verbose`. A missing reference (`want` NULL)
 * is reported on stderr and gives NaN, so the caller's `r <= tol` check fails. */
static inline double test_rel_report(const char *what, const float *got, const float *want,
                                     size_t n, double *worst, int verbose) {
    if (!want) {
        fprintf(stderr, "%s: no reference tensor\n", what);
        return NAN;
    }
    double r = test_rel_err(got, want, n);
    if (r > *worst || isnan(r)) *worst = r;
    if (verbose) printf("%-28s rel %.3g\n", what, r);
    return r;
}


/* Debug-tensor hook of the golden UNet / VAE tests (the models' debug_fn signature): checks each
 * block output `name` against reference tensor "debug.<name>" of `ref` (element count, then
 * test_rel_report ratio <= tol) and counts the checked tensors in `seen`. */
typedef struct test_dbg_ctx {
    const trdi_safetensors *ref;
    int seen;
    double tol;
    double *worst; /* the test's worst ratio, as in test_rel_report */
    int verbose;
} test_dbg_ctx;

static inline void test_on_debug(void *user, const char *name, const float *data, int64_t b,
                                 int64_t c, int64_t h, int64_t w) {
    test_dbg_ctx *d = user;
    char full[96];
    snprintf(full, sizeof full, "debug.%s", name);
    int64_t n = 0;
    const float *want = test_ref_f32(d->ref, full, &n);
    CHECK_MSG(want != NULL, "no reference tensor %s", full);
    if (!want) return;
    CHECK_MSG(n == b * c * h * w, "%s: %lld values, reference has %lld", full,
              (long long)(b * c * h * w), (long long)n);
    if (n != b * c * h * w) return;
    double r = test_rel_report(full, data, want, (size_t)n, d->worst, d->verbose);
    CHECK_MSG(r <= d->tol, "%s: max|diff|/max|want| = %.3g > %.3g", full, r, d->tol);
    d->seen++;
}

#endif
