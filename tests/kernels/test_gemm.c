/* test_gemm.c -- GEMM and linear layer: the references on hand-computable cases, the OpenBLAS
 * versions against the references on a sweep of shapes (odd sizes, padded leading dims, all four
 * transpose combinations, alpha / beta).
 * Tolerance: the standard float32 dot-product bound |fl(a.b) - a.b| <= gamma_k sum|a_i b_i| with
 * gamma_k = k u / (1 - k u), u = 2^-24, holds for any summation order (BLAS blocks and uses FMA;
 * the reference sums in double, so its own error is below u |c|). Plus u for each final rounding. */
#include "harness.h"
#include "core/core.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define U (1.0 / 16777216.0)

static double gamma_k(int64_t k) { return (double)k * U / (1.0 - (double)k * U); }

static void hand_cases(void) {
    /* A (2,3) = [[1,2,3],[4,5,6]], B (3,2) = [[7,8],[9,10],[11,12]]: AB = [[58,64],[139,154]]. */
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
    const float at[6] = {1, 4, 2, 5, 3, 6}, bt[6] = {7, 9, 11, 8, 10, 12};
    const float want[4] = {58, 64, 139, 154};
    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            float c[4] = {NAN, NAN, NAN, NAN}; /* beta = 0: must not propagate */
            trdi_k_gemm_ref(ta, tb, 2, 2, 3, 1.0f, ta ? at : a, ta ? 2 : 3, tb ? bt : b, tb ? 3 : 2,
                            0.0f, c, 2);
            CHECK_TENSOR(c, want, 4, 0.0, 0.0);
            float c2[4] = {NAN, NAN, NAN, NAN};
            trdi_k_gemm(ta, tb, 2, 2, 3, 1.0f, ta ? at : a, ta ? 2 : 3, tb ? bt : b, tb ? 3 : 2,
                        0.0f, c2, 2);
            CHECK_TENSOR(c2, want, 4, 0.0, 0.0); /* small integers: exact in any order */
        }
    }
    /* alpha 2, beta -1 on C = 1: 2 AB - 1. */
    float c[4] = {1, 1, 1, 1}, c2[4] = {1, 1, 1, 1};
    const float want2[4] = {115, 127, 277, 307};
    trdi_k_gemm_ref(false, false, 2, 2, 3, 2.0f, a, 3, b, 2, -1.0f, c, 2);
    trdi_k_gemm(false, false, 2, 2, 3, 2.0f, a, 3, b, 2, -1.0f, c2, 2);
    CHECK_TENSOR(c, want2, 4, 0.0, 0.0);
    CHECK_TENSOR(c2, want2, 4, 0.0, 0.0);
    /* k = 0: C = beta C. */
    float c3[2] = {3, 4};
    const float want3[2] = {1.5f, 2.0f};
    trdi_k_gemm(false, false, 1, 2, 0, 1.0f, a, 1, b, 2, 0.5f, c3, 2);
    CHECK_TENSOR(c3, want3, 2, 0.0, 0.0);

    /* Linear: x = [1, 2], W = [[1,0],[0,1],[1,1]], b = [0.5,-1,0] -> [1.5, 1, 3]. */
    const float x[2] = {1, 2}, w[6] = {1, 0, 0, 1, 1, 1}, bias[3] = {0.5f, -1.0f, 0.0f};
    const float wantl[3] = {1.5f, 1.0f, 3.0f}, wantnb[3] = {1.0f, 2.0f, 3.0f};
    float y[3], y2[3];
    trdi_k_linear_ref(1, 2, 3, x, w, bias, y);
    trdi_k_linear(1, 2, 3, x, w, bias, y2);
    CHECK_TENSOR(y, wantl, 3, 0.0, 0.0);
    CHECK_TENSOR(y2, wantl, 3, 0.0, 0.0);
    trdi_k_linear(1, 2, 3, x, w, NULL, y2);
    CHECK_TENSOR(y2, wantnb, 3, 0.0, 0.0);
}

static void fill(trdi_rng *rng, float *p, size_t n) { trdi_rng_normal_fill(rng, p, n); }

/* One random case: compares trdi_k_gemm with trdi_k_gemm_ref element-wise under the bound. */
static void gemm_case(trdi_rng *rng, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      float beta) {
    const int64_t pad = 3;
    int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    int64_t lda = ac + pad, ldb = bc + pad, ldc = n + pad;
    float *a = trdi_mallocn((size_t)(ar * lda), sizeof(float));
    float *b = trdi_mallocn((size_t)(br * ldb), sizeof(float));
    float *c0 = trdi_mallocn((size_t)(m * ldc), sizeof(float));
    float *c1 = trdi_mallocn((size_t)(m * ldc), sizeof(float));
    float *cr = trdi_mallocn((size_t)(m * ldc), sizeof(float));
    float *aa = trdi_mallocn((size_t)(ar * lda), sizeof(float));
    float *ab = trdi_mallocn((size_t)(br * ldb), sizeof(float));
    float *mag = trdi_mallocn((size_t)(m * ldc), sizeof(float));
    fill(rng, a, (size_t)(ar * lda));
    fill(rng, b, (size_t)(br * ldb));
    fill(rng, c0, (size_t)(m * ldc));
    memcpy(c1, c0, (size_t)(m * ldc) * sizeof(float));
    memcpy(cr, c0, (size_t)(m * ldc) * sizeof(float));
    for (int64_t i = 0; i < ar * lda; i++) aa[i] = fabsf(a[i]);
    for (int64_t i = 0; i < br * ldb; i++) ab[i] = fabsf(b[i]);
    trdi_k_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc);
    trdi_k_gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cr, ldc);
    trdi_k_gemm_ref(ta, tb, m, n, k, 1.0f, aa, lda, ab, ldb, 0.0f, mag, ldc); /* |A||B| */
    int64_t bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double tol = gamma_k(k + 2) * (fabs(alpha) * mag[i * ldc + j] +
                                            fabs(beta) * fabs(c0[i * ldc + j])) +
                         2 * U * fabs(cr[i * ldc + j]) + 1e-30;
            double d = fabs((double)c1[i * ldc + j] - (double)cr[i * ldc + j]);
            if (!(d <= tol)) bad++;
            if (d / tol > worst) worst = d / tol;
        }
        /* The padding columns of C must be untouched. */
        for (int64_t j = n; j < ldc; j++)
            if (c1[i * ldc + j] != c0[i * ldc + j]) bad++;
    }
    CHECK_MSG(bad == 0, "gemm ta=%d tb=%d m=%lld n=%lld k=%lld: %lld bad, worst err/tol %.3g", ta, tb,
              (long long)m, (long long)n, (long long)k, (long long)bad, worst);
    free(a), free(b), free(c0), free(c1), free(cr), free(aa), free(ab), free(mag);
}

static void linear_case(trdi_rng *rng, int64_t rows, int64_t in, int64_t out, bool with_bias) {
    float *x = trdi_mallocn((size_t)(rows * in), sizeof(float));
    float *w = trdi_mallocn((size_t)(out * in), sizeof(float));
    float *bias = trdi_mallocn((size_t)out, sizeof(float));
    float *y = trdi_mallocn((size_t)(rows * out), sizeof(float));
    float *yr = trdi_mallocn((size_t)(rows * out), sizeof(float));
    fill(rng, x, (size_t)(rows * in));
    fill(rng, w, (size_t)(out * in));
    fill(rng, bias, (size_t)out);
    trdi_k_linear(rows, in, out, x, w, with_bias ? bias : NULL, y);
    trdi_k_linear_ref(rows, in, out, x, w, with_bias ? bias : NULL, yr);
    int64_t bad = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t o = 0; o < out; o++) {
            double mag = with_bias ? fabs(bias[o]) : 0.0;
            for (int64_t i = 0; i < in; i++) mag += fabs((double)x[r * in + i] * w[o * in + i]);
            double tol = gamma_k(in + 1) * mag + U * fabs(yr[r * out + o]) + 1e-30;
            if (!(fabs((double)y[r * out + o] - yr[r * out + o]) <= tol)) bad++;
        }
    }
    CHECK_MSG(bad == 0, "linear rows=%lld in=%lld out=%lld bias=%d: %lld bad", (long long)rows,
              (long long)in, (long long)out, with_bias, (long long)bad);
    free(x), free(w), free(bias), free(y), free(yr);
}

/* gemm_nt_f16 against its double reference: A (n, k) with padded rows, W fp16 (m, k), both C
 * layouts, with and without bias. W values are random fp16 (exact in float), so the bound is
 * the dot-product one on sum |a w| (+ |bias|), with k + 1 terms. */
static void gemm_f16_case(trdi_rng *rng, int64_t n, int64_t m, int64_t k, bool transposed_c,
                          bool with_bias) {
    int64_t lda = k + 3, ldw = k + 5;
    float *a = malloc((size_t)(n * lda) * sizeof(float));
    float *wf = malloc((size_t)(m * ldw) * sizeof(float)), *bias = malloc((size_t)m * sizeof(float));
    uint16_t *w = malloc((size_t)(m * ldw) * sizeof(uint16_t));
    float *c = malloc((size_t)(n * m) * sizeof(float)), *cr = malloc((size_t)(n * m) * sizeof(float));
    float *bound = malloc((size_t)(n * m) * sizeof(float));
    trdi_rng_normal_fill(rng, a, (size_t)(n * lda));
    trdi_rng_normal_fill(rng, wf, (size_t)(m * ldw));
    trdi_rng_normal_fill(rng, bias, (size_t)m);
    for (int64_t i = 0; i < m * ldw; i++) w[i] = trdi_f32_to_f16(wf[i]);
    int64_t ldcn = transposed_c ? 1 : m, ldcm = transposed_c ? n : 1;
    size_t ns = trdi_k_gemm_nt_f16_scratch(n, k);
    float *scratch = malloc(ns * sizeof(float));
    for (int64_t i = 0; i < n * m; i++) c[i] = NAN; /* every entry is written */
    CHECK(trdi_k_gemm_nt_f16(n, m, k, a, lda, w, ldw, with_bias ? bias : NULL, c, ldcn, ldcm,
                             scratch, ns) == TRDI_OK);
    trdi_k_gemm_nt_f16_ref(n, m, k, a, lda, w, ldw, with_bias ? bias : NULL, cr, ldcn, ldcm);
    /* |a| x |w| through the reference gives the bound's sum */
    float *aa = malloc((size_t)(n * lda) * sizeof(float));
    uint16_t *aw = malloc((size_t)(m * ldw) * sizeof(uint16_t));
    float *ab = malloc((size_t)m * sizeof(float));
    for (int64_t i = 0; i < n * lda; i++) aa[i] = fabsf(a[i]);
    for (int64_t i = 0; i < m * ldw; i++) aw[i] = (uint16_t)(w[i] & 0x7fff);
    for (int64_t i = 0; i < m; i++) ab[i] = fabsf(bias[i]);
    trdi_k_gemm_nt_f16_ref(n, m, k, aa, lda, aw, ldw, with_bias ? ab : NULL, bound, ldcn, ldcm);
    size_t bad = 0;
    double g = gamma_k(k + 1);
    for (int64_t i = 0; i < n * m; i++)
        if (!(fabs((double)c[i] - (double)cr[i]) <= g * bound[i] + U * fabs((double)cr[i])))
            bad++;
    CHECK_MSG(bad == 0, "gemm_nt_f16 n%lld m%lld k%lld: %zu outside the bound", (long long)n,
              (long long)m, (long long)k, bad);
    /* too little scratch: an error */
    CHECK(trdi_k_gemm_nt_f16(n, m, k, a, lda, w, ldw, NULL, c, ldcn, ldcm, scratch, ns - 1) ==
          TRDI_ERR_INTERNAL);
    free(a), free(wf), free(bias), free(w), free(c), free(cr), free(bound), free(scratch);
    free(aa), free(aw), free(ab);
}

int main(void) {
    hand_cases();
    trdi_rng rng;
    trdi_rng_seed(&rng, 42);
    const int64_t sizes[] = {1, 2, 3, 7, 16, 33, 77, 130};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int i = 0; i < ns; i++)
                for (int j = 0; j < ns; j += 2)
                    for (int l = 1; l < ns; l += 3)
                        gemm_case(&rng, ta, tb, sizes[i], sizes[j], sizes[l], 1.0f, 0.0f);
    gemm_case(&rng, false, false, 65, 31, 129, -0.5f, 1.5f);
    gemm_case(&rng, true, true, 17, 200, 9, 2.0f, -1.0f);
    gemm_case(&rng, false, true, 300, 257, 320, 0.125f, 0.0f); /* big enough for BLAS threads */
    linear_case(&rng, 77, 32, 64, true);
    linear_case(&rng, 5, 33, 17, true);
    linear_case(&rng, 1, 768, 3072, true);
    linear_case(&rng, 9, 7, 1, false);
    trdi_rng_seed(&rng, 7);
    for (int isa = 3; isa >= 1; isa--) { /* each tile this CPU has, then the portable one */
        trdi_k_gemm_nt_f16_limit_isa(isa);
        gemm_f16_case(&rng, 1, 1, 1, false, true);       /* all tails: one row, one k */
        gemm_f16_case(&rng, 7, 5, 13, true, false);      /* odd m (a partial tile), k % 8 != 0 */
        gemm_f16_case(&rng, 16, 64, 1160, true, true);   /* two k chunks, 136 = 8 x 17 */
        gemm_f16_case(&rng, 64, 33, 2500, false, true);  /* three k chunks, a short last one */
        gemm_f16_case(&rng, 13, 300, 320, false, false); /* threads over m */
    }
    trdi_k_gemm_nt_f16_limit_isa(3);
    return TEST_SUMMARY();
}
