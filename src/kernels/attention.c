/* attention.c -- multi-head softmax attention by query tiles: for each (batch, head, tile of
 * queries) S = scale * Q_tile K^T (sgemm), causal mask, row softmax, O_tile = S V (sgemm). Only one
 * (tile, tk) block of scores exists at a time, so 4096-token self-attention needs a few MB.
 * Reproduces transformers' eager CLIPAttention / diffusers' AttnProcessor (softmax(alpha QK^T) V);
 * not a flash-attention style online softmax (each tile holds its full key range). */
#include "kernels/kernels.h"

#include <math.h>

#define PAR_MIN_ELEMS 32768
/* Floats of scores per tile: 2^19 floats = 2 MiB (128 query rows at 4096 keys). */
#define TILE_FLOATS ((int64_t)1 << 19)

int64_t trdi_k_attention_tile_rows(const trdi_k_attn *p) {
    int64_t tk = p->tk > 0 ? p->tk : 1;
    int64_t rows = TILE_FLOATS / tk;
    if (rows < 1) rows = 1;
    if (rows > p->tq) rows = p->tq > 0 ? p->tq : 1;
    return rows;
}

size_t trdi_k_attention_scratch(const trdi_k_attn *p) {
    int64_t tk = p->tk > 0 ? p->tk : 1;
    return (size_t)(trdi_k_attention_tile_rows(p) * tk);
}

/* torch.softmax of the first `n` entries of a row (max-subtracted); entries n..d-1 (masked keys)
 * become exactly 0, as exp(finfo.min - max) does upstream. */
static void softmax_row(float *xr, int64_t n, int64_t d) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (xr[i] > mx) mx = xr[i];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        xr[i] = expf(xr[i] - mx);
        sum += xr[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) xr[i] *= inv;
    for (int64_t i = n; i < d; i++) xr[i] = 0.0f;
}

void trdi_k_softmax_rows(int64_t rows, int64_t d, float *x) {
#pragma omp parallel for schedule(static) if (rows * d >= PAR_MIN_ELEMS)
    for (int64_t r = 0; r < rows; r++) softmax_row(x + r * d, d, d);
}

void trdi_k_attention(const trdi_k_attn *p, const float *q, const float *k, const float *v,
                      float *out, float *scratch) {
    const int64_t dh = p->head_dim, hd = p->heads * dh;
    const int64_t qs = p->q_stride ? p->q_stride : hd, ks = p->k_stride ? p->k_stride : hd;
    const int64_t vs = p->v_stride ? p->v_stride : hd, os = p->o_stride ? p->o_stride : hd;
    if (p->tq <= 0 || dh <= 0) return;
    if (p->tk <= 0) { /* no keys: softmax over nothing; write zeros rather than NaN */
        for (int64_t b = 0; b < p->batch; b++)
            for (int64_t i = 0; i < p->tq; i++)
                for (int64_t c = 0; c < hd; c++) out[(b * p->tq + i) * os + c] = 0.0f;
        return;
    }
    const int64_t tile = trdi_k_attention_tile_rows(p);
    for (int64_t b = 0; b < p->batch; b++) {
        for (int64_t h = 0; h < p->heads; h++) {
            const float *qb = q + b * p->tq * qs + h * dh;
            const float *kb = k + b * p->tk * ks + h * dh;
            const float *vb = v + b * p->tk * vs + h * dh;
            float *ob = out + b * p->tq * os + h * dh;
            for (int64_t i0 = 0; i0 < p->tq; i0 += tile) {
                const int64_t rows = p->tq - i0 < tile ? p->tq - i0 : tile;
                /* Causal: the tile's last query sees keys 0..i0+rows-1; skip the rest. */
                int64_t nk = p->tk;
                if (p->causal && i0 + rows < nk) nk = i0 + rows;
                float *s = scratch; /* (rows, nk) */
                trdi_k_gemm(false, true, rows, nk, dh, p->scale, qb + i0 * qs, qs, kb, ks, 0.0f, s,
                            nk);
#pragma omp parallel for schedule(static) if (rows * nk >= PAR_MIN_ELEMS)
                for (int64_t r = 0; r < rows; r++) {
                    int64_t valid = p->causal ? i0 + r + 1 : nk;
                    softmax_row(s + r * nk, valid < nk ? valid : nk, nk);
                }
                trdi_k_gemm(false, false, rows, dh, nk, 1.0f, s, nk, vb, vs, 0.0f, ob + i0 * os,
                            os);
            }
        }
    }
}
