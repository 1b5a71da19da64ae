/* test_attention.c -- softmax attention and row softmax: the references on hand-computable cases
 * (one key -> v; zero queries -> uniform weights -> mean of v, causal -> running mean), the tiled
 * sgemm kernel against the reference on odd shapes, fused-buffer strides, several query tiles,
 * with and without the causal mask. Scratch is allocated at exactly the advertised size so that
 * ASan catches any overrun.
 * Tolerance (error analysis of float32 with any summation order, u = 2^-24): a score has absolute
 * error e_s <= gamma_dh * scale * max|q| max|k| * dh; softmax weights then have relative error
 * <= 2 e_s + gamma_tk + 4u (exp within 1 ulp, the sum, the scaling), and o = sum w v inherits that
 * times max|v| plus gamma_tk max|v| for its own sum. */
#include "harness.h"
#include "core/core.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define U (1.0 / 16777216.0)

static double gamma_k(int64_t k) { return (double)k * U / (1.0 - (double)k * U); }

static float maxabs(const float *p, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(p[i]) > m) m = fabsf(p[i]);
    return m;
}

static void hand_cases(void) {
    /* One key: the output is v whatever q and k are. batch 1, heads 2, dh 3, tq 2, tk 1. */
    trdi_k_attn p = {.batch = 1, .heads = 2, .head_dim = 3, .tq = 2, .tk = 1, .scale = 0.5f};
    const float q[12] = {1, -2, 3, 4, 5, 6, 7, 8, 9, -1, -2, -3};
    const float k[6] = {0.5f, 1, -1, 2, 2, 2};
    const float v[6] = {10, 20, 30, 40, 50, 60};
    const float want[12] = {10, 20, 30, 40, 50, 60, 10, 20, 30, 40, 50, 60};
    float o[12], scratch[64];
    static float big[4096];
    trdi_k_attention_ref(&p, q, k, v, o, scratch);
    CHECK_TENSOR(o, want, 12, 0.0, 0.0);
    CHECK(trdi_k_attention_scratch(&p) <= 4096); /* fits `big` below */
    CHECK(trdi_k_attention(&p, q, k, v, o, big, 4096) == TRDI_OK);
    CHECK_TENSOR(o, want, 12, 1e-5, 0.0); /* weight 1.0f exactly after exp(0)/1 */

    /* Zero queries: all scores 0, uniform weights. Non-causal -> mean of v over the 4 keys;
     * causal -> row i is the mean of v_0..v_i. heads 1, dh 2, tq = tk = 4. */
    trdi_k_attn p2 = {.batch = 1, .heads = 1, .head_dim = 2, .tq = 4, .tk = 4, .scale = 1.0f};
    const float q2[8] = {0};
    const float k2[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float v2[8] = {1, -1, 3, -3, 5, -5, 7, -7};
    float want2[8], want3[8], o2[8];
    for (int i = 0; i < 4; i++) {
        want2[2 * i] = 4.0f, want2[2 * i + 1] = -4.0f; /* (1+3+5+7)/4 */
        double s = 0;
        for (int j = 0; j <= i; j++) s += v2[2 * j];
        want3[2 * i] = (float)(s / (i + 1)), want3[2 * i + 1] = (float)(-s / (i + 1));
    }
    /* 1e-6: weights 1/n are rounded once (relative u) and summed over <= 4 terms of size <= 7. */
    trdi_k_attention_ref(&p2, q2, k2, v2, o2, scratch);
    CHECK_TENSOR(o2, want2, 8, 1e-6, 0.0);
    CHECK(trdi_k_attention(&p2, q2, k2, v2, o2, big, 4096) == TRDI_OK);
    CHECK_TENSOR(o2, want2, 8, 1e-6, 0.0);
    p2.causal = true;
    trdi_k_attention_ref(&p2, q2, k2, v2, o2, scratch);
    CHECK_TENSOR(o2, want3, 8, 1e-6, 0.0);
    CHECK(trdi_k_attention(&p2, q2, k2, v2, o2, big, 4096) == TRDI_OK);
    CHECK_TENSOR(o2, want3, 8, 1e-6, 0.0);

    /* Softmax of [0, ln 3] = [1/4, 3/4]; of a constant row = uniform. */
    float s1[2] = {0.0f, (float)log(3.0)}, s2[2] = {0.0f, (float)log(3.0)};
    const float ws[2] = {0.25f, 0.75f};
    trdi_k_softmax_rows_ref(1, 2, s1);
    trdi_k_softmax_rows(1, 2, s2);
    CHECK_TENSOR(s1, ws, 2, 1e-7, 0.0); /* ln 3 rounded to float: relative 1e-7 in exp */
    CHECK_TENSOR(s2, ws, 2, 1e-7, 0.0);
}

/* Q, K, V are column blocks of fused (batch, T, 3 * hd + pad) buffers when `fused`. */
static void attn_case(trdi_rng *rng, int64_t batch, int64_t heads, int64_t dh, int64_t tq,
                      int64_t tk, bool causal, bool fused) {
    const int64_t hd = heads * dh;
    trdi_k_attn p = {.batch = batch, .heads = heads, .head_dim = dh, .tq = tq, .tk = tk,
                     .scale = (float)(1.0 / sqrt((double)dh)), .causal = causal};
    float *qbuf, *kbuf, *vbuf, *q, *k, *v;
    size_t nq, nk;
    if (fused) {
        const int64_t st = 3 * hd + 5;
        p.q_stride = p.k_stride = p.v_stride = st;
        nq = (size_t)(batch * tq * st), nk = (size_t)(batch * tk * st);
        qbuf = trdi_mallocn(nq, sizeof(float));
        kbuf = tq == tk ? qbuf : trdi_mallocn(nk, sizeof(float));
        vbuf = kbuf;
        q = qbuf, k = kbuf + hd, v = vbuf + 2 * hd;
    } else {
        nq = (size_t)(batch * tq * hd), nk = (size_t)(batch * tk * hd);
        qbuf = trdi_mallocn(nq, sizeof(float));
        kbuf = trdi_mallocn(nk, sizeof(float));
        vbuf = trdi_mallocn(nk, sizeof(float));
        q = qbuf, k = kbuf, v = vbuf;
    }
    trdi_rng_normal_fill(rng, qbuf, nq);
    if (kbuf != qbuf) trdi_rng_normal_fill(rng, kbuf, nk);
    if (vbuf != kbuf) trdi_rng_normal_fill(rng, vbuf, nk);
    const int64_t os = fused ? hd + 2 : hd;
    p.o_stride = os;
    size_t no = (size_t)(batch * tq * os);
    float *o = trdi_mallocn(no, sizeof(float)), *orf = trdi_mallocn(no, sizeof(float));
    for (size_t i = 0; i < no; i++) o[i] = orf[i] = -7.0f; /* padding sentinel */
    size_t ns = trdi_k_attention_scratch(&p);
    float *scratch = trdi_mallocn(ns, sizeof(float));
    float *rscratch = trdi_mallocn((size_t)tk, sizeof(float));
    CHECK(trdi_k_attention(&p, q, k, v, o, scratch, ns) == TRDI_OK);
    trdi_k_attention_ref(&p, q, k, v, orf, rscratch);

    double mq = maxabs(qbuf, nq), mk = maxabs(kbuf, nk), mv = maxabs(vbuf, nk);
    double es = gamma_k(dh) * p.scale * mq * mk * (double)dh;
    double tol = (2 * es + 2 * gamma_k(tk) + 4 * U) * mv + 1e-30;
    CHECK_MSG(check_tensor_(__FILE__, __LINE__, "attention", o, orf, no, tol, 0.0),
              "b=%lld h=%lld dh=%lld tq=%lld tk=%lld causal=%d fused=%d tile=%lld",
              (long long)batch, (long long)heads, (long long)dh, (long long)tq, (long long)tk,
              causal, fused, (long long)trdi_k_attention_tile_rows(&p));
    free(o), free(orf), free(scratch), free(rscratch);
    if (vbuf != kbuf) free(vbuf);
    if (kbuf != qbuf) free(kbuf);
    free(qbuf);
}

/* Less scratch: fewer threads, same result; too little for one thread: an error, out untouched. */
static void scratch_too_small(trdi_rng *rng) {
    trdi_k_attn p = {.batch = 2, .heads = 2, .head_dim = 8, .tq = 100, .tk = 100, .scale = 0.3f};
    const size_t n = 2 * 100 * 16;
    float *q = trdi_mallocn(n, sizeof(float)), *k = trdi_mallocn(n, sizeof(float));
    float *v = trdi_mallocn(n, sizeof(float)), *o = trdi_mallocn(n, sizeof(float));
    float *o1 = trdi_mallocn(n, sizeof(float));
    trdi_rng_normal_fill(rng, q, n);
    trdi_rng_normal_fill(rng, k, n);
    trdi_rng_normal_fill(rng, v, n);
    size_t full = trdi_k_attention_scratch(&p);
    float *s = trdi_mallocn(full, sizeof(float));
    CHECK(trdi_k_attention(&p, q, k, v, o, s, full) == TRDI_OK);
    /* K^T of 4 heads (4 * 8 * 112 padded keys) + one thread's tile (32 * 112 + 4 * 8). */
    const size_t one = 4 * 8 * 112 + 32 * 112 + 32;
    CHECK(one <= full);
    CHECK(trdi_k_attention(&p, q, k, v, o1, s, one) == TRDI_OK);
    CHECK_TENSOR(o1, o, n, 0.0, 0.0); /* same arithmetic per element whatever the thread count */
    for (size_t i = 0; i < n; i++) o1[i] = 5.0f;
    CHECK(trdi_k_attention(&p, q, k, v, o1, s, one - 1) == TRDI_ERR_INTERNAL);
    CHECK(o1[0] == 5.0f && o1[n - 1] == 5.0f);
    free(q), free(k), free(v), free(o), free(o1), free(s);
}

static void softmax_case(trdi_rng *rng, int64_t rows, int64_t d) {
    size_t n = (size_t)(rows * d);
    float *x = trdi_mallocn(n, sizeof(float)), *y = trdi_mallocn(n, sizeof(float));
    trdi_rng_normal_fill(rng, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= 4.0f;
    memcpy(y, x, n * sizeof(float));
    trdi_k_softmax_rows(rows, d, x);
    trdi_k_softmax_rows_ref(rows, d, y);
    /* x - max is rounded (relative u of |x - max| <= 8 * 4 * 2 in the exponent), exp within 1 ulp,
     * one scaling: relative 64u + 4u covers it; weights sum to 1 so atol is 0. */
    CHECK_TENSOR(x, y, n, 0.0, 68 * U);
    free(x), free(y);
}

int main(void) {
    hand_cases();
    trdi_rng rng;
    trdi_rng_seed(&rng, 7);
    const int64_t lens[] = {1, 5, 77, 130};
    for (int c = 0; c < 2; c++)
        for (int f = 0; f < 2; f++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    if ((c || f) && lens[i] != lens[j]) continue; /* causal / fused: tq == tk */
                    attn_case(&rng, 2, 3, 13, lens[i], lens[j], c, f);
                    attn_case(&rng, 1, 1, 1, lens[i], lens[j], c, f);
                }
    attn_case(&rng, 1, 4, 8, 77, 77, true, true); /* CLIP-tiny layout */
    attn_case(&rng, 1, 2, 16, 300, 4100, false, false); /* several tiles over many keys */
    attn_case(&rng, 1, 1, 40, 1100, 1100, true, false); /* causal across tile boundaries */
    trdi_k_attn big = {.batch = 1, .heads = 1, .head_dim = 40, .tq = 4096, .tk = 4096};
    CHECK(trdi_k_attention_tile_rows(&big) < 4096); /* tiled */
    /* No full score matrix, even with 64 threads' tiles. */
    CHECK(trdi_k_attention_scratch(&big) < (size_t)4096 * 4096 / 2);
    scratch_too_small(&rng);
    softmax_case(&rng, 3, 1);
    softmax_case(&rng, 17, 77);
    softmax_case(&rng, 200, 513);
    return TEST_SUMMARY();
}
