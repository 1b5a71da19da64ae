/* test_norm_act.c -- layer norm, GELU (exact), quick GELU, SiLU, adds and embedding lookup:
 * references on hand-computable values, optimised versions against the references on odd sizes
 * (sizes above and below the OpenMP threshold). Tolerances are per element from float32 error
 * analysis (u = 2^-24), stated at each check. */
#include "harness.h"
#include "core/core.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define U (1.0 / 16777216.0)

static void hand_cases(void) {
    /* Layer norm of [1,2,3,4]: mean 2.5, biased var 1.25. With eps 0, gamma 2, beta 1:
     * y = 2 (x - 2.5) / sqrt(1.25) + 1. */
    const float x[4] = {1, 2, 3, 4}, g[4] = {2, 2, 2, 2}, b[4] = {1, 1, 1, 1};
    float want[4], y[4], y2[4];
    for (int i = 0; i < 4; i++) want[i] = (float)(2.0 * (x[i] - 2.5) / sqrt(1.25) + 1.0);
    trdi_k_layernorm_ref(1, 4, x, g, b, 0.0f, y);
    trdi_k_layernorm(1, 4, x, g, b, 0.0f, y2);
    CHECK_TENSOR(y, want, 4, 0.0, 1 * U);  /* one rounding of an exactly computed double */
    CHECK_TENSOR(y2, want, 4, 0.0, 6 * U); /* float product chain: a few roundings */
    /* A constant row normalises to 0 (eps keeps it finite): output = beta. NULL gamma/beta = 1/0. */
    const float c[3] = {5, 5, 5}, beta3[3] = {0.25f, -1, 3}, zero3[3] = {0, 0, 0};
    float yc[3];
    trdi_k_layernorm(1, 3, c, NULL, beta3, 1e-5f, yc);
    CHECK_TENSOR(yc, beta3, 3, 0.0, 0.0);
    trdi_k_layernorm_ref(1, 3, c, NULL, NULL, 1e-5f, yc);
    CHECK_TENSOR(yc, zero3, 3, 0.0, 0.0);

    /* Activations at 0 are 0; SiLU(1) = 1/(1+e^-1); quick GELU(1) = 1/(1+e^-1.702);
     * GELU(1) = 0.5 (1 + erf(1/sqrt 2)); GELU(-10) ~ -7.6e-23 (tiny but not 0). */
    const float xs[3] = {0.0f, 1.0f, -10.0f};
    float ya[3];
    trdi_k_silu_ref(3, xs, ya);
    CHECK(ya[0] == 0.0f);
    CHECK_NEAR(ya[1], 1.0 / (1.0 + exp(-1.0)), 1e-7);
    trdi_k_quick_gelu_ref(3, xs, ya);
    CHECK(ya[0] == 0.0f);
    CHECK_NEAR(ya[1], 1.0 / (1.0 + exp(-1.702)), 1e-7);
    trdi_k_gelu_ref(3, xs, ya);
    CHECK(ya[0] == 0.0f);
    CHECK_NEAR(ya[1], 0.5 * (1.0 + erf(1.0 / sqrt(2.0))), 1e-7);
    CHECK(ya[2] < 0.0f && ya[2] > -1e-20f);

    /* Embedding: rows copied; a bad id fails, names the position, leaves out untouched. */
    const float table[6] = {1, 2, 3, 4, 5, 6}; /* (3, 2) */
    const int64_t ids[3] = {2, 0, 2}, bad[2] = {1, 3};
    const float wante[6] = {5, 6, 1, 2, 5, 6};
    float e[6], e2[6];
    CHECK(trdi_k_embedding_ref(3, ids, 3, 2, table, e) == TRDI_OK);
    CHECK(trdi_k_embedding(3, ids, 3, 2, table, e2) == TRDI_OK);
    CHECK_TENSOR(e, wante, 6, 0.0, 0.0);
    CHECK_TENSOR(e2, wante, 6, 0.0, 0.0);
    float untouched[4] = {9, 9, 9, 9};
    const float nines[4] = {9, 9, 9, 9};
    CHECK(trdi_k_embedding(2, bad, 3, 2, table, untouched) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "position 1") != NULL);
    CHECK_TENSOR(untouched, nines, 4, 0.0, 0.0);
    const int64_t neg[1] = {-1};
    CHECK(trdi_k_embedding_ref(1, neg, 3, 2, table, untouched) == TRDI_ERR_INVALID_ARG);
}

static void layernorm_case(trdi_rng *rng, int64_t rows, int64_t d) {
    size_t n = (size_t)(rows * d);
    float *x = trdi_mallocn(n, sizeof(float)), *y = trdi_mallocn(n, sizeof(float));
    float *yr = trdi_mallocn(n, sizeof(float));
    float *g = trdi_mallocn((size_t)d, sizeof(float)), *b = trdi_mallocn((size_t)d, sizeof(float));
    trdi_rng_normal_fill(rng, x, n);
    for (size_t i = 0; i < n; i++) x[i] = 3.0f + 2.0f * x[i]; /* non-zero mean */
    trdi_rng_normal_fill(rng, g, (size_t)d);
    trdi_rng_normal_fill(rng, b, (size_t)d);
    trdi_k_layernorm(rows, d, x, g, b, 1e-5f, y);
    trdi_k_layernorm_ref(rows, d, x, g, b, 1e-5f, yr);
    /* The optimised kernel rounds mean and rstd to float (u each) and does 4 float operations:
     * |err| <= 6u (|xhat g| + |b|) + u |mean| rstd |g|, with xhat the exact normalised value. */
    int64_t bad = 0;
    for (int64_t r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < d; i++) mean += x[r * d + i];
        mean /= (double)d;
        for (int64_t i = 0; i < d; i++) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
        double rstd = 1.0 / sqrt(var / (double)d + 1e-5);
        for (int64_t i = 0; i < d; i++) {
            double xh = (x[r * d + i] - mean) * rstd;
            double tol = 6 * U * (fabs(xh * g[i]) + fabs(b[i])) + U * fabs(mean) * rstd * fabs(g[i]);
            if (!(fabs((double)y[r * d + i] - yr[r * d + i]) <= tol)) bad++;
        }
    }
    CHECK_MSG(bad == 0, "layernorm rows=%lld d=%lld: %lld bad", (long long)rows, (long long)d,
              (long long)bad);
    /* In place gives the same bits as out of place. */
    memcpy(yr, x, n * sizeof(float));
    trdi_k_layernorm(rows, d, yr, g, b, 1e-5f, yr);
    CHECK_TENSOR(yr, y, n, 0.0, 0.0);
    free(x), free(y), free(yr), free(g), free(b);
}

typedef void (*act_fn)(int64_t, const float *, float *);

static void act_case(trdi_rng *rng, const char *name, act_fn opt, act_fn ref, int64_t n) {
    float *x = trdi_mallocn((size_t)n, sizeof(float)), *y = trdi_mallocn((size_t)n, sizeof(float));
    float *yr = trdi_mallocn((size_t)n, sizeof(float));
    trdi_rng_normal_fill(rng, x, (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] *= 6.0f;
    if (n > 8) x[0] = 0.0f, x[1] = -0.0f, x[2] = 80.0f, x[3] = -80.0f, x[4] = 1e-30f;
    opt(n, x, y);
    ref(n, x, yr);
    /* expf / erff are within 2 ulp (glibc), plus <= 4 float roundings; GELU's 1 + erf cancels for
     * x << 0, where the absolute error is that of erf (<= 2u) times |x| / 2. So
     * |err| <= 8u (|y| + |x|) bounds all three. */
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double tol = 8 * U * (fabs(yr[i]) + fabs(x[i])) + 1e-37;
        if (!(fabs((double)y[i] - yr[i]) <= tol)) bad++;
    }
    CHECK_MSG(bad == 0, "%s n=%lld: %lld bad", name, (long long)n, (long long)bad);
    /* In place equals out of place. */
    memcpy(yr, x, (size_t)n * sizeof(float));
    opt(n, yr, yr);
    CHECK_TENSOR(yr, y, (size_t)n, 0.0, 0.0);
    free(x), free(y), free(yr);
}

static void add_case(trdi_rng *rng, int64_t rows, int64_t d) {
    size_t n = (size_t)(rows * d);
    float *a = trdi_mallocn(n, sizeof(float)), *b = trdi_mallocn(n, sizeof(float));
    float *y = trdi_mallocn(n, sizeof(float)), *yr = trdi_mallocn(n, sizeof(float));
    trdi_rng_normal_fill(rng, a, n);
    trdi_rng_normal_fill(rng, b, n);
    /* One float addition per element in both: bit-identical. */
    trdi_k_add((int64_t)n, a, b, y);
    trdi_k_add_ref((int64_t)n, a, b, yr);
    CHECK_TENSOR(y, yr, n, 0.0, 0.0);
    memcpy(y, a, n * sizeof(float));
    memcpy(yr, a, n * sizeof(float));
    trdi_k_add_rowvec(rows, d, b, y);
    trdi_k_add_rowvec_ref(rows, d, b, yr);
    CHECK_TENSOR(y, yr, n, 0.0, 0.0);
    trdi_k_add((int64_t)n, a, b, a); /* residual form */
    for (size_t i = 0; i < n; i++) yr[i] = a[i];
    CHECK(memcmp(a, yr, n * sizeof(float)) == 0);
    free(a), free(b), free(y), free(yr);
}

/* GEGLU rows [h | gate]: h *= gelu(gate). Same error model as act_case for gelu(gate) (8u of
 * |gelu| + |gate|), times |h|, plus one rounding of the product. */
static void geglu_case(trdi_rng *rng, int64_t rows, int64_t half) {
    size_t n = (size_t)(rows * 2 * half);
    float *x = trdi_mallocn(n, sizeof(float)), *y = trdi_mallocn(n, sizeof(float));
    float *yr = trdi_mallocn(n, sizeof(float));
    trdi_rng_normal_fill(rng, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= 4.0f;
    memcpy(y, x, n * sizeof(float));
    memcpy(yr, x, n * sizeof(float));
    trdi_k_geglu(rows, half, y);
    trdi_k_geglu_ref(rows, half, yr);
    int64_t bad = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < half; i++) {
            size_t k = (size_t)(r * 2 * half + i);
            double h = fabs((double)x[k]), g = fabs((double)x[k + (size_t)half]);
            double gelu = fabs((double)yr[k]) / (h > 0 ? h : 1);
            double tol = 8 * U * (gelu + g) * h + U * fabs((double)yr[k]) + 1e-37;
            if (!(fabs((double)y[k] - (double)yr[k]) <= tol)) bad++;
        }
    CHECK_MSG(bad == 0, "geglu %lldx%lld: %lld bad", (long long)rows, (long long)half,
              (long long)bad);
    free(x), free(y), free(yr);
}

int main(void) {
    hand_cases();
    trdi_rng rng;
    trdi_rng_seed(&rng, 3);
    const int64_t rows[] = {1, 3, 77, 1031}, dims[] = {1, 2, 7, 32, 320, 769};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++) {
            if (rows[i] * dims[j] > 300000) continue;
            layernorm_case(&rng, rows[i], dims[j]);
            add_case(&rng, rows[i], dims[j]);
        }
    const int64_t ns[] = {1, 13, 4999, 200003};
    for (int i = 0; i < 4; i++) {
        act_case(&rng, "gelu", trdi_k_gelu, trdi_k_gelu_ref, ns[i]);
        act_case(&rng, "quick_gelu", trdi_k_quick_gelu, trdi_k_quick_gelu_ref, ns[i]);
        act_case(&rng, "silu", trdi_k_silu, trdi_k_silu_ref, ns[i]);
    }
    geglu_case(&rng, 1, 5);
    geglu_case(&rng, 33, 1280); /* over the parallel threshold */
    return TEST_SUMMARY();
}
