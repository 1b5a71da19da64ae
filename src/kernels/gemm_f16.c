/* gemm_f16.c -- C = A W^T for a few rows of activations A (float32) against a large weight W held
 * as fp16 bits (see kernels.h). This is the shape of every UNet layer at the lowest resolutions
 * (16-64 tokens against 1280x11520 matrices), where OpenBLAS spends its time packing a float32
 * copy of W that is used for only a few columns (measured: 40-110 GFLOP/s there, against 190 for
 * large GEMMs). Here each thread streams its own rows of W from memory exactly once, converts
 * them in registers (F16C) and multiplies them with a block of A that stays in L2.
 *
 * Blocking: K in chunks of KC (a padded copy of A's chunk, (n_pad, KC) floats, is shared by the
 * threads); M split between threads; a micro-tile is MB rows of W x 6 rows of A: with AVX-512,
 * 4 x 6 accumulators of 16 lanes; with AVX2, 2 x 6 of 8 lanes. Sums run over k in lanes and are
 * reduced at the end of each chunk, so results differ from a sequential sum by float rounding.
 * Measured (bench at 1280 x 11520 weights, 2 cores): AVX-512 140-160 GFLOP/s for 64-128 rows
 * where converting to float32 + sgemm gives 80-120; the AVX2 tile only wins below ~32 rows. */
#include "kernels/kernels.h"

#include "core/core.h"
#include "io/safetensors.h" /* trdi_cpu_has_f16c */

#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TRDI_GEMM_F16_X86 1
#endif

#define KC 1024 /* k per chunk: 66 rows x 1024 floats = 264 KiB of A in L2 */
#define NB 6    /* rows of A per micro-tile */
#define MB_MAX 4

static int64_t pad_rows(int64_t n) { return (n + NB - 1) / NB * NB; }

size_t trdi_k_gemm_nt_f16_scratch(int64_t n, int64_t k) {
    if (n <= 0 || k <= 0) return 0;
    int64_t kc = k < KC ? k : KC;
    return (size_t)pad_rows(n) * (size_t)((kc + 7) / 8 * 8);
}

/* Scalar fp16 -> float32 (IEEE binary16, all cases exact). */
static float h2f(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* A micro-tile: acc[i][j] = sum_{k < kc} w[i][k] a[j * lda + k] for i < mb (the tile's height),
 * j < NB; kc is a multiple of 8. */
typedef void (*tile_fn)(const uint16_t *const w[MB_MAX], const float *a, int64_t lda, int64_t kc,
                        float acc[MB_MAX][NB]);

static void tile_plain(const uint16_t *const w[MB_MAX], const float *a, int64_t lda, int64_t kc,
                       float acc[MB_MAX][NB]) {
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < NB; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < kc; k++) s += h2f(w[i][k]) * a[j * lda + k];
            acc[i][j] = s;
        }
}

#ifdef TRDI_GEMM_F16_X86
__attribute__((target("avx2,fma,f16c"))) static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 2 x 6, 12 accumulators of 8 lanes (AVX2 has 16 vector registers). */
__attribute__((target("avx2,fma,f16c"))) static void
tile_avx2(const uint16_t *const w[MB_MAX], const float *a, int64_t lda, int64_t kc,
          float acc[MB_MAX][NB]) {
    __m256 c[2][NB];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < NB; j++) c[i][j] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k += 8) {
        __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w[0] + k)));
        __m256 v1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w[1] + k)));
        for (int j = 0; j < NB; j++) {
            __m256 x = _mm256_loadu_ps(a + j * lda + k);
            c[0][j] = _mm256_fmadd_ps(v0, x, c[0][j]);
            c[1][j] = _mm256_fmadd_ps(v1, x, c[1][j]);
        }
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < NB; j++) acc[i][j] = hsum8(c[i][j]);
}

/* 4 x 6, 24 accumulators of 16 lanes (AVX-512 has 32 registers); a last half step of 8. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void
tile_avx512(const uint16_t *const w[MB_MAX], const float *a, int64_t lda, int64_t kc,
            float acc[MB_MAX][NB]) {
    __m512 c[4][NB];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < NB; j++) c[i][j] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) {
        __m512 v[4];
        for (int i = 0; i < 4; i++)
            v[i] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(w[i] + k)));
        for (int j = 0; j < NB; j++) {
            __m512 x = _mm512_loadu_ps(a + j * lda + k);
            for (int i = 0; i < 4; i++) c[i][j] = _mm512_fmadd_ps(v[i], x, c[i][j]);
        }
    }
    if (k < kc) { /* 8 more: the upper lanes of the loads are masked off (zero) */
        const __mmask16 lo = 0x00ff;
        __m512 v[4];
        for (int i = 0; i < 4; i++)
            v[i] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lo, w[i] + k));
        for (int j = 0; j < NB; j++) {
            __m512 x = _mm512_maskz_loadu_ps(lo, a + j * lda + k);
            for (int i = 0; i < 4; i++) c[i][j] = _mm512_fmadd_ps(v[i], x, c[i][j]);
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < NB; j++) acc[i][j] = _mm512_reduce_add_ps(c[i][j]);
}
#endif

static _Atomic int isa_cap = 3; /* highest tile allowed (tests lower it) */

int trdi_k_gemm_nt_f16_limit_isa(int isa) {
    int prev = isa_cap;
    isa_cap = isa < 1 ? 1 : isa > 3 ? 3 : isa;
    return prev;
}

/* The best tile this CPU runs, its height, and the row count up to which it beats converting W
 * to float32 for sgemm (measured, see the top). */
static tile_fn pick_tile(int *mb, int64_t *max_rows) {
#ifdef TRDI_GEMM_F16_X86
    if (isa_cap >= 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        *mb = 4, *max_rows = 128;
        return tile_avx512;
    }
    if (isa_cap >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        trdi_cpu_has_f16c()) { /* (clang has no "f16c" for __builtin_cpu_supports) */
        *mb = 2, *max_rows = 32;
        return tile_avx2;
    }
#endif
    *mb = 2, *max_rows = 0;
    return tile_plain;
}

int64_t trdi_k_gemm_nt_f16_max_rows(void) {
    int mb;
    int64_t max_rows;
    (void)pick_tile(&mb, &max_rows);
    return max_rows;
}

trdi_status trdi_k_gemm_nt_f16(int64_t n, int64_t m, int64_t k, const float *a, int64_t lda,
                               const uint16_t *w, int64_t ldw, const float *bias, float *c,
                               int64_t ldcn, int64_t ldcm, float *scratch, size_t scratch_floats) {
    if (n <= 0 || m <= 0) return TRDI_OK;
    if (k <= 0 || !a || !w || !c)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "gemm_nt_f16: bad arguments (k %lld)", (long long)k);
    size_t need = trdi_k_gemm_nt_f16_scratch(n, k);
    if (!scratch || scratch_floats < need)
        return trdi_fail(TRDI_ERR_INTERNAL, "gemm_nt_f16: scratch of %zu floats, need %zu",
                         scratch_floats, need);
    int mb;
    int64_t unused;
    const tile_fn tile = pick_tile(&mb, &unused);
    const int64_t npad = pad_rows(n), kc_max = k < KC ? k : KC;
    const int64_t lds = (kc_max + 7) / 8 * 8; /* row stride of the padded chunk of A */
    const int64_t tiles_m = (m + mb - 1) / mb;
    int nthreads = trdi_max_threads();
    if ((int64_t)nthreads > tiles_m) nthreads = (int)tiles_m;
    /* tiny problems: one thread (a parallel region costs more than 64K multiply-adds) */
    if (n * m * k < ((int64_t)1 << 16)) nthreads = 1;
    for (int64_t k0 = 0; k0 < k; k0 += KC) {
        const int64_t kc = k - k0 < KC ? k - k0 : KC, kc8 = kc / 8 * 8;
        /* A's chunk, zero-padded to npad rows and lds columns */
        for (int64_t j = 0; j < npad; j++) {
            float *dst = scratch + j * lds;
            if (j < n) {
                memcpy(dst, a + j * lda + k0, (size_t)kc * sizeof(float));
                memset(dst + kc, 0, (size_t)(lds - kc) * sizeof(float));
            } else {
                memset(dst, 0, (size_t)lds * sizeof(float));
            }
        }
        const bool first = k0 == 0, last = k0 + kc >= k;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1)
        for (int64_t t = 0; t < tiles_m; t++) {
            const int64_t i0 = t * mb;
            const int rows = m - i0 < mb ? (int)(m - i0) : mb;
            const uint16_t *wr[MB_MAX];
            for (int i = 0; i < MB_MAX; i++) wr[i] = w + (i0 + (i < rows ? i : 0)) * ldw + k0;
            for (int64_t j0 = 0; j0 < npad; j0 += NB) {
                float acc[MB_MAX][NB];
                tile(wr, scratch + j0 * lds, lds, kc8, acc);
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < NB && j0 + j < n; j++) {
                        float v = acc[i][j];
                        for (int64_t kk = kc8; kk < kc; kk++) /* the last k % 8, scalar */
                            v += h2f(wr[i][kk]) * scratch[(j0 + j) * lds + kk];
                        float *dst = c + (j0 + j) * ldcn + (i0 + i) * ldcm;
                        v = first ? v : *dst + v;
                        if (last && bias) v += bias[i0 + i];
                        *dst = v;
                    }
            }
        }
    }
    return TRDI_OK;
}
