/* gemm_ref.c -- plain-C reference GEMM and linear layer: the oracles for the OpenBLAS versions.
 * Triple loops with double accumulators, no blocking, no threads. Not for production use. */
#include "kernels/kernels.h"

void trdi_k_gemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t p = 0; p < k; p++) {
                double av = trans_a ? a[p * lda + i] : a[i * lda + p];
                double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            double r = (double)alpha * s;
            /* beta == 0: C is write-only (BLAS convention). */
            if (beta != 0.0f) r += (double)beta * (double)c[i * ldc + j];
            c[i * ldc + j] = (float)r;
        }
    }
}

void trdi_k_linear_ref(int64_t rows, int64_t in, int64_t out, const float *x, const float *w,
                       const float *bias, float *y) {
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t o = 0; o < out; o++) {
            double s = bias ? (double)bias[o] : 0.0;
            for (int64_t i = 0; i < in; i++) s += (double)x[r * in + i] * (double)w[o * in + i];
            y[r * out + o] = (float)s;
        }
    }
}

void trdi_k_gemm_nt_f16_ref(int64_t n, int64_t m, int64_t k, const float *a, int64_t lda,
                            const uint16_t *w, int64_t ldw, const float *bias, float *c,
                            int64_t ldcn, int64_t ldcm) {
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            double s = 0.0;
            for (int64_t p = 0; p < k; p++) {
                float wf;
                (void)trdi_st_convert_to_f32(TRDI_ST_F16, w + i * ldw + p, 1, &wf);
                s += (double)a[j * lda + p] * (double)wf;
            }
            if (bias) s += (double)bias[i];
            c[j * ldcn + i * ldcm] = (float)s;
        }
}
