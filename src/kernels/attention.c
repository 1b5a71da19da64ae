/* attention.c -- multi-head softmax attention, softmax(scale * Q K^T [+ causal mask]) V, as
 * transformers' eager CLIPAttention and diffusers' AttnProcessor compute it, by query tiles:
 * OpenMP threads take (batch, head, tile of TILE_ROWS queries) items; each computes the tile's
 * scores against all (causally visible) keys, a row softmax, and the tile's outputs. Only one
 * (TILE_ROWS, tk) block of scores per thread exists, so 4096-token self-attention needs a few MB.
 * The inner loops are written as axpy updates over contiguous memory (keys for the scores, head
 * features for the outputs) so that they vectorise without reassociating any sum: K is first
 * transposed per head into scratch. No BLAS here: calling a pthreads OpenBLAS from inside an
 * OpenMP region oversubscribes the cores. Not a flash-attention online softmax: each tile holds
 * its full key range. */
#include "kernels/kernels.h"

#include "core/core.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PAR_MIN_ELEMS 32768
#define TILE_ROWS 32 /* queries per work item: 32 x 4096 scores = 512 KiB, about an L2 */
#define KPAD 16      /* key dimension padded to a multiple of this (whole vectors, no tails) */

/* Versions for AVX2 and the baseline ISA, picked at load time (GCC function multiversioning).
 * Per-element arithmetic is the same in both, so results are identical. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define TRDI_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TRDI_CLONES
#endif

/* 8 floats as one value (GCC/clang vector extension): lane-wise + and * are the scalar IEEE
 * operations, so results equal the plain loops; compiles to AVX or to SSE pairs. */
typedef float v8f __attribute__((vector_size(32)));

static int64_t pad_keys(int64_t tk) { return (tk + KPAD - 1) / KPAD * KPAD; }
/* Row stride of K^T and score rows: padded keys, plus 16 when that is a multiple of 256 floats
 * (1 KiB), so that walking down a column does not hit the same cache set every row. */
static int64_t key_stride(int64_t tk) {
    const int64_t n = pad_keys(tk);
    return n % 256 == 0 ? n + 16 : n;
}

int64_t trdi_k_attention_tile_rows(const trdi_k_attn *p) {
    return p->tq < TILE_ROWS ? (p->tq > 0 ? p->tq : 1) : TILE_ROWS;
}

/* Layout: [K^T of every (batch, head): (head_dim, ldk)] then per thread
 * [scores (TILE_ROWS, ldk) | output accumulators (4, head_dim)]. */
static size_t shared_floats(const trdi_k_attn *p) {
    return (size_t)(p->batch * p->heads * p->head_dim * key_stride(p->tk));
}
static size_t per_thread_floats(const trdi_k_attn *p) {
    return (size_t)(TILE_ROWS * key_stride(p->tk) + 4 * p->head_dim);
}

size_t trdi_k_attention_scratch(const trdi_k_attn *p) {
    return shared_floats(p) + (size_t)trdi_max_threads() * per_thread_floats(p);
}

/* exp(x) for x <= 0 (softmax arguments x - max), vectorisable: x = n ln2 + r with |r| <= ln2/2,
 * exp(r) by the degree-6 minimax polynomial of Cephes' expf, times 2^n assembled in the exponent
 * bits. Within 1 ulp of exp on [-87, 0] (0.992 ulp max, checked on every float there); below -87 it returns exp(-87) ~ 1.6e-38 instead of a
 * denormal or 0, an absolute error under 2e-38 next to a row sum >= 1 (NaN scores are not
 * propagated: scores are finite products of finite inputs). glibc's expf is scalar. */
static inline float exp_nonpos(float x) {
    /* Clamp at -87 by comparing bit patterns (for negative floats, larger bits = more negative):
     * an integer select vectorises, a float compare may trap and does not. */
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    b = b > 0xC2AE0000u ? 0xC2AE0000u : b; /* 0xC2AE0000 = -87.0f */
    memcpy(&x, &b, sizeof x);
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick (|x / ln 2| < 2^22; exact without contraction). */
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f; /* ln 2 = hi + lo, hi exact */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) * (1 << 23); /* n in [-126, 0]: a normal 2^n */
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

/* torch.softmax of the first `n` entries of a row (max-subtracted, double-accumulated sum);
 * entries n..d-1 (masked keys) become exactly 0, as exp(finfo.min - max) does upstream.
 * Eight partial maxima / sums keep the loops free of one long dependency chain. */
TRDI_CLONES
static void softmax_row(float *xr, int64_t n, int64_t d) {
    float m8[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                   -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) m8[u] = xr[i + u] > m8[u] ? xr[i + u] : m8[u];
    float mx = -INFINITY;
    for (int u = 0; u < 8; u++) mx = m8[u] > mx ? m8[u] : mx;
    for (; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
    for (i = 0; i < n; i++) xr[i] = exp_nonpos(xr[i] - mx);
    double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (i = 0; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) s8[u] += (double)xr[i + u];
    double sum = 0.0;
    for (int u = 0; u < 8; u++) sum += s8[u];
    for (; i < n; i++) sum += xr[i];
    const float inv = (float)(1.0 / sum);
    for (i = 0; i < n; i++) xr[i] *= inv;
    for (i = n; i < d; i++) xr[i] = 0.0f;
}

void trdi_k_softmax_row(float *x, int64_t d) { softmax_row(x, d, d); }

void trdi_k_softmax_rows(int64_t rows, int64_t d, float *x) {
#pragma omp parallel for schedule(static) if (rows * d >= PAR_MIN_ELEMS)
    for (int64_t r = 0; r < rows; r++) softmax_row(x + r * d, d, d);
}

/* Scores of up to 4 query rows: s_r[j] = sum_d (scale q_r[d]) kt[d][j] for j < nk (rounded up to
 * KPAD; kt is zero-padded). The sum runs over d in order for every j: an axpy over keys. For 4
 * rows, 16 keys at a time keep their 4 x 16 accumulators in vector registers over the d loop. */
TRDI_CLONES
static void scores_rows(int nr, int64_t nk, int64_t dh, const float *const *q, float scale,
                        const float *kt, int64_t ldk, float *s, int64_t lds) {
    const int64_t nkp = pad_keys(nk);
    if (nr == 4) {
        for (int64_t j0 = 0; j0 < nkp; j0 += 16) {
            v8f a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
            for (int64_t d = 0; d < dh; d++) {
                v8f ka, kb;
                memcpy(&ka, kt + d * ldk + j0, sizeof ka);
                memcpy(&kb, kt + d * ldk + j0 + 8, sizeof kb);
                const float q0 = q[0][d] * scale, q1 = q[1][d] * scale;
                const float q2 = q[2][d] * scale, q3 = q[3][d] * scale;
                a0 += ka * q0, b0 += kb * q0;
                a1 += ka * q1, b1 += kb * q1;
                a2 += ka * q2, b2 += kb * q2;
                a3 += ka * q3, b3 += kb * q3;
            }
            memcpy(s + j0, &a0, sizeof a0), memcpy(s + j0 + 8, &b0, sizeof b0);
            memcpy(s + lds + j0, &a1, sizeof a1), memcpy(s + lds + j0 + 8, &b1, sizeof b1);
            memcpy(s + 2 * lds + j0, &a2, sizeof a2), memcpy(s + 2 * lds + j0 + 8, &b2, sizeof b2);
            memcpy(s + 3 * lds + j0, &a3, sizeof a3), memcpy(s + 3 * lds + j0 + 8, &b3, sizeof b3);
        }
        return;
    }
    for (int r = 0; r < nr; r++) {
        float *restrict sr = s + r * lds;
        for (int64_t j = 0; j < nkp; j++) sr[j] = 0.0f;
        for (int64_t d = 0; d < dh; d++) {
            const float a = q[r][d] * scale;
            const float *restrict kd = kt + d * ldk;
            for (int64_t j = 0; j < nkp; j++) sr[j] += a * kd[j];
        }
    }
}

/* Outputs of up to 4 rows: o_r[d] = sum_j p_r[j] v[j][d] (j in order; an axpy over features).
 * For 4 rows, features go in chunks of 8 whose 4 x 8 accumulators stay in vector registers over
 * the whole key loop (one load of v per 32 multiply-adds); the rest uses acc (4, dh) in memory. */
TRDI_CLONES
static void weighted_values(int nr, int64_t nk, int64_t dh, const float *p, int64_t ldp,
                            const float *v, int64_t vs, float *acc, float *o, int64_t os) {
    int64_t d0 = 0;
    if (nr == 4) {
        for (; d0 + 8 <= dh; d0 += 8) {
            v8f c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
            for (int64_t j = 0; j < nk; j++) {
                v8f vv;
                memcpy(&vv, v + j * vs + d0, sizeof vv);
                c0 += vv * p[j];
                c1 += vv * p[ldp + j];
                c2 += vv * p[2 * ldp + j];
                c3 += vv * p[3 * ldp + j];
            }
            memcpy(o + d0, &c0, sizeof c0);
            memcpy(o + os + d0, &c1, sizeof c1);
            memcpy(o + 2 * os + d0, &c2, sizeof c2);
            memcpy(o + 3 * os + d0, &c3, sizeof c3);
        }
        if (d0 == dh) return;
    }
    /* Remaining features (all of them when nr < 4). */
    const int64_t dr = dh - d0;
    memset(acc, 0, (size_t)(4 * dr) * sizeof(float));
    for (int r = 0; r < nr; r++) {
        float *restrict c = acc + r * dr;
        for (int64_t j = 0; j < nk; j++) {
            const float pj = p[r * ldp + j];
            const float *restrict vj = v + j * vs + d0;
            for (int64_t d = 0; d < dr; d++) c[d] += pj * vj[d];
        }
    }
    for (int r = 0; r < nr; r++) memcpy(o + r * os + d0, acc + r * dr, (size_t)dr * sizeof(float));
}

trdi_status trdi_k_attention(const trdi_k_attn *p, const float *q, const float *k, const float *v,
                             float *out, float *scratch, size_t scratch_floats) {
    const int64_t dh = p->head_dim, hd = p->heads * dh;
    const int64_t qs = p->q_stride ? p->q_stride : hd, ks = p->k_stride ? p->k_stride : hd;
    const int64_t vs = p->v_stride ? p->v_stride : hd, os = p->o_stride ? p->o_stride : hd;
    if (p->batch <= 0 || p->heads <= 0 || p->tq <= 0 || dh <= 0) return TRDI_OK;
    if (p->tk <= 0) { /* no keys: softmax over nothing; write zeros rather than NaN */
        for (int64_t b = 0; b < p->batch; b++)
            for (int64_t i = 0; i < p->tq; i++)
                memset(out + (b * p->tq + i) * os, 0, (size_t)hd * sizeof(float));
        return TRDI_OK;
    }
    const size_t shared = shared_floats(p), per = per_thread_floats(p);
    if (scratch_floats < shared + per)
        return trdi_fail(TRDI_ERR_INTERNAL, "attention: scratch of %zu floats, need at least %zu",
                         scratch_floats, shared + per);
    int nthreads = trdi_max_threads();
    if ((size_t)nthreads > (scratch_floats - shared) / per) nthreads = (int)((scratch_floats - shared) / per);
    const int64_t ldk = key_stride(p->tk), BH = p->batch * p->heads;
    float *kt_all = scratch;

    /* K^T per (batch, head), zero-padded to ldk keys. */
#pragma omp parallel for schedule(static) num_threads(nthreads) if (BH * p->tk * dh >= PAR_MIN_ELEMS)
    for (int64_t bh = 0; bh < BH; bh++) {
        const int64_t b = bh / p->heads, h = bh % p->heads;
        const float *kb = k + b * p->tk * ks + h * dh;
        float *kt = kt_all + bh * dh * ldk;
        for (int64_t d = 0; d < dh; d++) {
            for (int64_t j = 0; j < p->tk; j++) kt[d * ldk + j] = kb[j * ks + d];
            for (int64_t j = p->tk; j < ldk; j++) kt[d * ldk + j] = 0.0f;
        }
    }

    const int64_t ntiles = (p->tq + TILE_ROWS - 1) / TILE_ROWS, items = BH * ntiles;
    const int64_t work = items * TILE_ROWS * p->tk * dh;
    (void)work; /* only read by the OpenMP clauses */
#pragma omp parallel num_threads(nthreads) if (work >= PAR_MIN_ELEMS)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *s = scratch + shared + (size_t)tid * per; /* (TILE_ROWS, ldk) */
        float *acc = s + TILE_ROWS * ldk;                  /* (4, dh) */
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            const int64_t bh = it / ntiles, i0 = (it % ntiles) * TILE_ROWS;
            const int64_t b = bh / p->heads, h = bh % p->heads;
            const int64_t rows = p->tq - i0 < TILE_ROWS ? p->tq - i0 : TILE_ROWS;
            const float *qb = q + b * p->tq * qs + h * dh;
            const float *vb = v + b * p->tk * vs + h * dh;
            const float *kt = kt_all + bh * dh * ldk;
            float *ob = out + b * p->tq * os + h * dh;
            /* Causal: the tile's last query sees keys 0..i0+rows-1; the rest are skipped. */
            int64_t nk = p->tk;
            if (p->causal && i0 + rows < nk) nk = i0 + rows;
            for (int64_t r = 0; r < rows; r += 4) {
                const int nr = rows - r < 4 ? (int)(rows - r) : 4;
                const float *qr[4];
                for (int u = 0; u < 4; u++) qr[u] = qb + (i0 + r + (u < nr ? u : 0)) * qs;
                scores_rows(nr, nk, dh, qr, p->scale, kt, ldk, s + r * ldk, ldk);
            }
            for (int64_t r = 0; r < rows; r++) {
                int64_t valid = p->causal ? i0 + r + 1 : nk;
                softmax_row(s + r * ldk, valid < nk ? valid : nk, nk);
            }
            for (int64_t r = 0; r < rows; r += 4) {
                const int nr = rows - r < 4 ? (int)(rows - r) : 4;
                weighted_values(nr, nk, dh, s + r * ldk, ldk, vb, vs, acc, ob + (i0 + r) * os, os);
            }
        }
    }
    return TRDI_OK;
}
