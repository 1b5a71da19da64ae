/* gemm.c -- GEMM and linear layers on OpenBLAS cblas_sgemm (row-major). Calls whose sizes do not
 * fit BLAS's 32-bit int fall back to the reference loops (correct, slow; no real model needs it). */
#include "kernels/kernels.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

void trdi_k_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        /* Nothing to multiply: C = beta * C (beta == 0 writes zeros, BLAS convention). */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(lda) || !fits_int(ldb) ||
        !fits_int(ldc)) {
        trdi_k_gemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda, b,
                (int)ldb, beta, c, (int)ldc);
}

void trdi_k_linear(int64_t rows, int64_t in, int64_t out, const float *x, const float *w,
                   const float *bias, float *y) {
    if (rows <= 0 || out <= 0) return;
    /* torch.addmm order: y = bias + x W^T; preloading the bias lets sgemm add it (beta = 1). */
    if (bias) {
        for (int64_t r = 0; r < rows; r++) memcpy(y + r * out, bias, (size_t)out * sizeof(float));
    }
    trdi_k_gemm(false, true, rows, out, in, 1.0f, x, in, w, in, bias ? 1.0f : 0.0f, y, out);
}
