/* test_unet_ops.c -- the GEMM-tiled attention (src/kernels/unet_ops.c) against the plain-C
 * reference trdi_k_attention_ref: self- and cross-attention shapes of the UNet, batch > 1, strided
 * (fused q/k/v) layouts, several query tiles (a long key range), and argument errors.
 * Tolerance: both are float32 softmax(QK^T)V; the reference accumulates in double, the GEMM path
 * in float with BLAS blocking: |diff| <= 2e-6 + 1e-5 |want| (sums of <= 70000 terms of
 * probabilities <= 1 times values of O(1), float rounding ~sqrt(n) 6e-8 relative). */
#include "harness.h"
#include "core/core.h"
#include "kernels/unet_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *randn(size_t n, uint64_t seed) {
    float *x = malloc(n * sizeof(float));
    trdi_rng r;
    trdi_rng_seed(&r, seed);
    trdi_rng_normal_fill(&r, x, n);
    return x;
}

static void one(int64_t batch, int64_t heads, int64_t dh, int64_t tq, int64_t tk, int64_t extra) {
    int64_t inner = heads * dh, stride = inner + extra;
    trdi_k_attn p = {.batch = batch, .heads = heads, .head_dim = dh, .tq = tq, .tk = tk,
                     .q_stride = stride, .k_stride = stride, .v_stride = stride, .o_stride = 0,
                     .scale = 1.0f / sqrtf((float)dh), .causal = false};
    float *q = randn((size_t)(batch * tq * stride), 1), *k = randn((size_t)(batch * tk * stride), 2);
    float *v = randn((size_t)(batch * tk * stride), 3);
    float *o = calloc((size_t)(batch * tq * inner), sizeof(float));
    float *w = calloc((size_t)(batch * tq * inner), sizeof(float));
    size_t ns = trdi_k_attention_gemm_scratch(&p);
    float *s = malloc(ns * sizeof(float)), *rs = malloc((size_t)tk * sizeof(float));
    CHECK(trdi_k_attention_gemm(&p, q, k, v, o, s, ns) == TRDI_OK);
    trdi_k_attention_ref(&p, q, k, v, w, rs);
    CHECK_TENSOR(o, w, (size_t)(batch * tq * inner), 2e-6, 1e-5);
    /* scratch for one tile: the same result on one thread */
    size_t one_tile = (size_t)trdi_k_attention_gemm_tile_rows(&p) * (size_t)tk;
    memset(o, 0, (size_t)(batch * tq * inner) * sizeof(float));
    CHECK(trdi_k_attention_gemm(&p, q, k, v, o, s, one_tile) == TRDI_OK);
    CHECK_TENSOR(o, w, (size_t)(batch * tq * inner), 2e-6, 1e-5);
    /* less than one tile: an error, out untouched */
    memset(o, 0, (size_t)(batch * tq * inner) * sizeof(float));
    CHECK(trdi_k_attention_gemm(&p, q, k, v, o, s, one_tile - 1) == TRDI_ERR_INTERNAL);
    CHECK(o[0] == 0.0f);
    free(q);
    free(k);
    free(v);
    free(o);
    free(w);
    free(s);
    free(rs);
}

int main(void) {
    one(1, 2, 8, 384, 384, 0);    /* tiny UNet self-attention (16x24 latent) */
    one(1, 3, 40, 1030, 1030, 0); /* 127-row tiles, a partial last tile, odd head count */
    one(2, 8, 40, 256, 77, 0);    /* SD cross-attention, CFG batch */
    one(2, 1, 32, 64, 64, 64);    /* VAE mid attention, strided */
    one(1, 2, 4, 130, 70000, 0);  /* long keys: 8-row tiles (the minimum), 17 per head */
    trdi_k_attn p = {.batch = 1, .heads = 1, .head_dim = 4, .tq = 4, .tk = 4, .scale = 1,
                     .causal = true};
    float buf[64] = {0};
    CHECK(trdi_k_attention_gemm(&p, buf, buf, buf, buf + 32, buf, 64) == TRDI_ERR_INVALID_ARG);
    p.causal = false;
    CHECK(trdi_k_attention_gemm(&p, NULL, buf, buf, buf + 32, buf, 64) == TRDI_ERR_INVALID_ARG);
    return TEST_SUMMARY();
}
