/* elementwise.c -- activations (exact GELU, quick GELU, SiLU), adds and embedding lookup in
 * float32, split over OpenMP threads for large arrays. Formulas as torch evaluates them in float:
 * gelu = x * 0.5 * (1 + erf(x / sqrt 2)); quick_gelu = x * sigmoid(1.702 x); silu = x / (1 + e^-x). */
#include "kernels/kernels.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

#define PAR_MIN_ELEMS 65536

void trdi_k_gelu(int64_t n, const float *x, float *y) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v * 0.5f * (1.0f + erff(v * 0.70710678118654752f));
    }
}

void trdi_k_geglu(int64_t rows, int64_t half, float *x) {
#pragma omp parallel for schedule(static) if (rows * half >= PAR_MIN_ELEMS)
    for (int64_t r = 0; r < rows; r++) {
        float *h = x + r * 2 * half, *gate = h + half;
        for (int64_t i = 0; i < half; i++) {
            float v = gate[i];
            h[i] *= v * 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        }
    }
}

void trdi_k_quick_gelu(int64_t n, const float *x, float *y) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v * (1.0f / (1.0f + expf(-1.702f * v)));
    }
}

void trdi_k_silu(int64_t n, const float *x, float *y) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v / (1.0f + expf(-v));
    }
}

void trdi_k_add(int64_t n, const float *a, const float *b, float *y) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void trdi_k_add_rowvec(int64_t rows, int64_t d, const float *v, float *y) {
#pragma omp parallel for schedule(static) if (rows * d >= PAR_MIN_ELEMS)
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * d;
        for (int64_t i = 0; i < d; i++) yr[i] += v[i];
    }
}

trdi_status trdi_k_embedding(int64_t n, const int64_t *ids, int64_t vocab, int64_t dim,
                             const float *table, float *out) {
    /* Validate everything first so that a bad id leaves `out` untouched. */
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "token id %lld at position %lld is outside [0, %lld)",
                             (long long)ids[i], (long long)i, (long long)vocab);
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * dim, table + ids[i] * dim, (size_t)dim * sizeof(float));
    return TRDI_OK;
}
