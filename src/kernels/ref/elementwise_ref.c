/* elementwise_ref.c -- reference activations (exact GELU, quick GELU, SiLU), adds and embedding
 * lookup: one element at a time, in double where a transcendental function is involved. */
#include "kernels/kernels.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

void trdi_k_gelu_ref(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        /* 1 + erf(z) = erfc(-z): no cancellation for x << 0, so the oracle stays exact there. */
        y[i] = (float)(0.5 * v * erfc(-v / sqrt(2.0)));
    }
}

void trdi_k_geglu_ref(int64_t rows, int64_t half, float *x) {
    for (int64_t r = 0; r < rows; r++) {
        float *h = x + r * 2 * half, *gate = h + half;
        for (int64_t i = 0; i < half; i++) {
            float g;
            trdi_k_gelu_ref(1, &gate[i], &g);
            h[i] = (float)((double)h[i] * (double)g);
        }
    }
}

void trdi_k_quick_gelu_ref(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(v / (1.0 + exp(-1.702 * v)));
    }
}

void trdi_k_silu_ref(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(v / (1.0 + exp(-v)));
    }
}

void trdi_k_add_ref(int64_t n, const float *a, const float *b, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void trdi_k_add_rowvec_ref(int64_t rows, int64_t d, const float *v, float *y) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < d; i++) y[r * d + i] += v[i];
}

trdi_status trdi_k_embedding_ref(int64_t n, const int64_t *ids, int64_t vocab, int64_t dim,
                                 const float *table, float *out) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "token id %lld at position %lld is outside [0, %lld)",
                             (long long)ids[i], (long long)i, (long long)vocab);
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * dim, table + ids[i] * dim, (size_t)dim * sizeof(float));
    return TRDI_OK;
}
