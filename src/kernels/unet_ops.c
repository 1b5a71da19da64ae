/* unet_ops.c -- softmax attention as per-tile GEMMs (see unet_ops.h) for the UNet's 1024- and
 * 4096-token self-attention, where the GEMM-free kernel of attention.c is several times slower
 * than sgemm. Equivalent to diffusers' AttnProcessor (baddbmm with alpha = scale, softmax in
 * float32, bmm) up to summation order. Not causal (CLIP keeps attention.c). */
#include "kernels/unet_ops.h"

#include "core/core.h"

#include <math.h>

#define SCORE_FLOATS ((int64_t)4 * 1024 * 1024)

int64_t trdi_k_attention_gemm_tile_rows(const trdi_k_attn *p) {
    if (!p || p->tq < 1 || p->tk < 1) return 1;
    int64_t r = SCORE_FLOATS / p->tk;
    if (r < 1) r = 1;
    if (r > p->tq) r = p->tq;
    return r;
}

size_t trdi_k_attention_gemm_scratch(const trdi_k_attn *p) {
    if (!p || p->tk < 1) return 0;
    return (size_t)trdi_k_attention_gemm_tile_rows(p) * (size_t)p->tk;
}

/* In-place max-subtracted softmax of rows (rows, d). */
static void softmax_rows(int64_t rows, int64_t d, float *s) {
#pragma omp parallel for schedule(static) if (rows * d > 65536)
    for (int64_t r = 0; r < rows; r++) {
        float *x = s + r * d;
        float mx = x[0];
        for (int64_t j = 1; j < d; j++) mx = x[j] > mx ? x[j] : mx;
        float sum = 0.0f;
        for (int64_t j = 0; j < d; j++) {
            x[j] = expf(x[j] - mx);
            sum += x[j];
        }
        float inv = 1.0f / sum;
        for (int64_t j = 0; j < d; j++) x[j] *= inv;
    }
}

trdi_status trdi_k_attention_gemm(const trdi_k_attn *p, const float *q, const float *k,
                                  const float *v, float *out, float *scratch,
                                  size_t scratch_floats) {
    if (!p || !q || !k || !v || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "attention: NULL argument");
    if (p->causal) return trdi_fail(TRDI_ERR_INVALID_ARG, "attention_gemm: causal not supported");
    if (p->batch < 1 || p->heads < 1 || p->head_dim < 1 || p->tq < 1 || p->tk < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "attention: bad sizes");
    size_t need = trdi_k_attention_gemm_scratch(p);
    if (!scratch || scratch_floats < need)
        return trdi_fail(TRDI_ERR_INTERNAL, "attention: scratch of %zu floats, need %zu",
                         scratch_floats, need);
    int64_t inner = p->heads * p->head_dim, dh = p->head_dim;
    int64_t qs = p->q_stride ? p->q_stride : inner, ks = p->k_stride ? p->k_stride : inner;
    int64_t vs = p->v_stride ? p->v_stride : inner, os = p->o_stride ? p->o_stride : inner;
    int64_t tile = trdi_k_attention_gemm_tile_rows(p);
    for (int64_t b = 0; b < p->batch; b++)
        for (int64_t h = 0; h < p->heads; h++) {
            const float *qb = q + b * p->tq * qs + h * dh;
            const float *kb = k + b * p->tk * ks + h * dh;
            const float *vb = v + b * p->tk * vs + h * dh;
            float *ob = out + b * p->tq * os + h * dh;
            for (int64_t r0 = 0; r0 < p->tq; r0 += tile) {
                int64_t nr = p->tq - r0 < tile ? p->tq - r0 : tile;
                /* S (nr, tk) = scale * Q_tile (nr, dh) K^T */
                trdi_k_gemm(false, true, nr, p->tk, dh, p->scale, qb + r0 * qs, qs, kb, ks, 0.0f,
                            scratch, p->tk);
                softmax_rows(nr, p->tk, scratch);
                /* O_tile (nr, dh) = S V (tk, dh) */
                trdi_k_gemm(false, false, nr, dh, p->tk, 1.0f, scratch, p->tk, vb, vs, 0.0f,
                            ob + r0 * os, os);
            }
        }
    return TRDI_OK;
}
