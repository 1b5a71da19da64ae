/* unet_ops.c -- softmax attention as per-tile GEMMs (see unet_ops.h) for the UNet's 1024- and
 * 4096-token self-attention, where the GEMM-free kernel of attention.c is several times slower
 * than sgemm. Equivalent to diffusers' AttnProcessor (baddbmm with alpha = scale, softmax in
 * float32, bmm) up to summation order. Not causal (CLIP keeps attention.c).
 *
 * Work items are (batch item, head, tile of query rows); OpenMP threads take whole items, and the
 * sgemm calls inside run on the calling thread (OpenBLAS's OpenMP build does not fork inside a
 * parallel region). A tile's score block is sized to stay in a core's L2 between the QK^T GEMM,
 * the softmax and the PV GEMM, instead of streaming a 16 MiB block through memory three times. */
#include "kernels/unet_ops.h"

#include "core/core.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Score floats per tile: 128 Ki floats = 512 KiB, half of a Zen 4 / Skylake-X L2 (the tile is
 * read and written by three passes; measured with bench_unet, see docs/performance.md). */
#define TILE_SCORE_FLOATS ((int64_t)128 * 1024)
#define TILE_MIN_ROWS 8
/* Multiply-adds below which one thread does everything (a parallel region costs more). */
#define PAR_MIN_WORK ((int64_t)1 << 20)

int64_t trdi_k_attention_gemm_tile_rows(const trdi_k_attn *p) {
    if (!p || p->tq < 1 || p->tk < 1) return 1;
    int64_t r = TILE_SCORE_FLOATS / p->tk;
    if (r < TILE_MIN_ROWS) r = TILE_MIN_ROWS;
    if (r > p->tq) r = p->tq;
    return r;
}

size_t trdi_k_attention_gemm_scratch(const trdi_k_attn *p) {
    if (!p || p->tk < 1) return 0;
    return (size_t)trdi_max_threads() * (size_t)trdi_k_attention_gemm_tile_rows(p) * (size_t)p->tk;
}

trdi_status trdi_k_attention_gemm(const trdi_k_attn *p, const float *q, const float *k,
                                  const float *v, float *out, float *scratch,
                                  size_t scratch_floats) {
    if (!p || !q || !k || !v || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "attention: NULL argument");
    if (p->causal) return trdi_fail(TRDI_ERR_INVALID_ARG, "attention_gemm: causal not supported");
    if (p->batch < 1 || p->heads < 1 || p->head_dim < 1 || p->tq < 1 || p->tk < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "attention: bad sizes");
    const int64_t tile = trdi_k_attention_gemm_tile_rows(p);
    const size_t per_thread = (size_t)tile * (size_t)p->tk;
    /* Fewer threads when the caller sized scratch for fewer; one tile at least. */
    int64_t nthreads = scratch ? (int64_t)(scratch_floats / per_thread) : 0;
    if (nthreads < 1)
        return trdi_fail(TRDI_ERR_INTERNAL, "attention: scratch of %zu floats, need %zu",
                         scratch_floats, per_thread);
    if (nthreads > trdi_max_threads()) nthreads = trdi_max_threads();
    const int64_t inner = p->heads * p->head_dim, dh = p->head_dim;
    const int64_t qs = p->q_stride ? p->q_stride : inner, ks = p->k_stride ? p->k_stride : inner;
    const int64_t vs = p->v_stride ? p->v_stride : inner, os = p->o_stride ? p->o_stride : inner;
    const int64_t ntiles = (p->tq + tile - 1) / tile, items = p->batch * p->heads * ntiles;
    const int64_t work = p->batch * p->heads * p->tq * p->tk * dh;
    if (items < 2 || work < PAR_MIN_WORK) nthreads = 1; /* BLAS may still thread each GEMM */
#pragma omp parallel num_threads((int)nthreads) if (nthreads > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *s = scratch + (size_t)tid * per_thread; /* (tile, tk) */
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            const int64_t bh = it / ntiles, r0 = (it % ntiles) * tile;
            const int64_t b = bh / p->heads, h = bh % p->heads;
            const int64_t nr = p->tq - r0 < tile ? p->tq - r0 : tile;
            const float *qb = q + (b * p->tq + r0) * qs + h * dh;
            const float *kb = k + b * p->tk * ks + h * dh;
            const float *vb = v + b * p->tk * vs + h * dh;
            /* S (nr, tk) = scale * Q_tile (nr, dh) K^T */
            trdi_k_gemm(false, true, nr, p->tk, dh, p->scale, qb, qs, kb, ks, 0.0f, s, p->tk);
            for (int64_t r = 0; r < nr; r++) trdi_k_softmax_row(s + r * p->tk, p->tk);
            /* O_tile (nr, dh) = S V (tk, dh) */
            trdi_k_gemm(false, false, nr, dh, p->tk, 1.0f, s, p->tk, vb, vs, 0.0f,
                        out + (b * p->tq + r0) * os + h * dh, os);
        }
    }
    return TRDI_OK;
}
