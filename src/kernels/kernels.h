/* kernels.h -- the compute kernels of the transformer parts (CLIP, UNet attention): GEMM, linear
 * layers, layer norm, softmax attention, activations, embedding lookup, elementwise adds.
 *
 * Every kernel `trdi_k_X` has a plain-C reference `trdi_k_X_ref` (src/kernels/ref/) that is the
 * oracle in tests/kernels/: it accumulates in double where a sum is involved and has no threads.
 * The optimised versions (the .c files of src/kernels/) use OpenBLAS cblas_sgemm and OpenMP.
 *
 * Rules: kernels never allocate and never print; scratch memory is passed in (sizes from the
 * `*_scratch` functions). All arrays are float32, row-major; shapes are given in comments. Sizes
 * are int64_t; the BLAS path needs every dimension and leading dimension below 2^31 (larger calls
 * fall back to the reference). Inputs and outputs may not overlap unless a kernel says so.
 * Not here: convolutions and group norm (src/kernels/conv*.c, groupnorm*.c declare their own). */
#ifndef TRDI_KERNELS_H
#define TRDI_KERNELS_H

#include "trdi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- GEMM ------------------------------------------------------------------------------------ */
/* C (m, n) = alpha * op(A) op(B) + beta * C, row-major (cblas_sgemm with CblasRowMajor).
 * op(A) is (m, k): A is (m, k) with row stride lda >= k, or, when trans_a, (k, m) with lda >= m.
 * op(B) is (k, n): B is (k, n) with ldb >= n, or, when trans_b, (n, k) with ldb >= k.
 * ldc >= n. beta == 0 means C is write-only (NaNs in it do not propagate), as in BLAS. */
void trdi_k_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc);
void trdi_k_gemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc);

/* C = A W^T (+ bias) with W held as fp16 bits, for few rows of A (the UNet's lowest
 * resolutions, where W is large and used for only 16-128 columns):
 *   C[j * ldcn + i * ldcm] = sum_k A[j * lda + k] * float(W[i * ldw + k]) (+ bias[i])
 * for j < n, i < m. Each thread reads its rows of W once, converting them in registers.
 * The strides let C be row-major (ldcn = m, ldcm = 1: a linear layer's (tokens, out)) or
 * transposed (ldcn = 1, ldcm = n: a convolution's (channels, pixels)). Scratch: at least
 * trdi_k_gemm_nt_f16_scratch(n, k) floats (TRDI_ERR_INTERNAL otherwise). Sums in float over
 * lanes of 8; the reference sums in double. */
size_t trdi_k_gemm_nt_f16_scratch(int64_t n, int64_t k);
/* Rows of A up to which this CPU's tile beats converting W to float32 and calling sgemm
 * (measured; 0 where only the portable tile exists). */
int64_t trdi_k_gemm_nt_f16_max_rows(void);
/* For tests: the highest instruction set the fp16 GEMM may use from now on (1 portable C,
 * 2 AVX2, 3 AVX-512; the CPU's support still applies). Returns the previous limit. Process-wide,
 * not for use while other threads run the kernel. */
int trdi_k_gemm_nt_f16_limit_isa(int isa);
trdi_status trdi_k_gemm_nt_f16(int64_t n, int64_t m, int64_t k, const float *a, int64_t lda,
                               const uint16_t *w, int64_t ldw, const float *bias, float *c,
                               int64_t ldcn, int64_t ldcm, float *scratch, size_t scratch_floats);
void trdi_k_gemm_nt_f16_ref(int64_t n, int64_t m, int64_t k, const float *a, int64_t lda,
                            const uint16_t *w, int64_t ldw, const float *bias, float *c,
                            int64_t ldcn, int64_t ldcm);

/* ---- Linear layer (torch.nn.Linear) --------------------------------------------------------- */
/* y (rows, out) = x (rows, in) W^T + bias, with W (out, in) as PyTorch stores it; bias (out) or
 * NULL. y must not overlap x. */
void trdi_k_linear(int64_t rows, int64_t in, int64_t out, const float *x, const float *w,
                   const float *bias, float *y);
void trdi_k_linear_ref(int64_t rows, int64_t in, int64_t out, const float *x, const float *w,
                       const float *bias, float *y);

/* ---- Layer norm (torch.nn.LayerNorm over the last dim) -------------------------------------- */
/* y (rows, d) = (x - mean) / sqrt(var + eps) * gamma + beta per row, var biased (divide by d).
 * gamma / beta (d) may be NULL (1 / 0). y may equal x. */
void trdi_k_layernorm(int64_t rows, int64_t d, const float *x, const float *gamma,
                      const float *beta, float eps, float *y);
void trdi_k_layernorm_ref(int64_t rows, int64_t d, const float *x, const float *gamma,
                          const float *beta, float eps, float *y);

/* ---- Softmax attention ---------------------------------------------------------------------- */
/* Multi-head scaled dot-product attention, softmax(scale * Q K^T [+ causal mask]) V per batch item
 * and head, as transformers' eager CLIP attention and diffusers' AttnProcessor compute it.
 * Q is (batch, tq, heads * head_dim) with q_stride floats between consecutive tokens (so Q, K, V
 * may be column blocks of one fused (tokens, 3 * heads * head_dim) buffer); head h is columns
 * [h * head_dim, (h + 1) * head_dim). K, V are (batch, tk, heads * head_dim), O is
 * (batch, tq, heads * head_dim), with their own strides; a stride of 0 means heads * head_dim.
 * Causal: query i attends to keys j <= i only (CLIP's mask; meant for tq == tk).
 * The optimised kernel processes queries in tiles (OpenMP over batch x heads x tiles) so that at
 * most one (tile, tk) block of scores per thread exists (4096-token self-attention without a
 * 4096 x 4096 matrix). It calls no BLAS (see attention.c). */
typedef struct trdi_k_attn {
    int64_t batch, heads, head_dim;
    int64_t tq, tk;
    int64_t q_stride, k_stride, v_stride, o_stride;
    float scale; /* usually head_dim^-0.5 */
    bool causal;
} trdi_k_attn;

/* Floats of scratch trdi_k_attention needs for `p` with the current OpenMP thread count
 * (K^T of every head + one score tile per thread): batch*heads*head_dim*tk + threads*32*tk, about. */
size_t trdi_k_attention_scratch(const trdi_k_attn *p);
/* Query rows per tile the optimised kernel uses for `p` (exposed for tests and benchmarks). */
int64_t trdi_k_attention_tile_rows(const trdi_k_attn *p);
/* `out` must not overlap q, k, v. `scratch` holds scratch_floats floats; with fewer than
 * trdi_k_attention_scratch(p) it runs on fewer threads, and with too little for one thread it
 * fails (TRDI_ERR_INTERNAL, a sizing bug) without writing `out`. */
trdi_status trdi_k_attention(const trdi_k_attn *p, const float *q, const float *k, const float *v,
                             float *out, float *scratch, size_t scratch_floats);
/* Reference: one query row at a time; scratch: tk floats. */
void trdi_k_attention_ref(const trdi_k_attn *p, const float *q, const float *k, const float *v,
                          float *out, float *scratch);

/* Row-wise softmax in place: x (rows, d), each row max-subtracted (torch.softmax). */
void trdi_k_softmax_rows(int64_t rows, int64_t d, float *x);
/* One row on the calling thread (for callers already inside a parallel region). */
void trdi_k_softmax_row(float *x, int64_t d);
void trdi_k_softmax_rows_ref(int64_t rows, int64_t d, float *x);

/* ---- Activations (n elements; y may equal x) ------------------------------------------------ */
/* GELU, exact: 0.5 x (1 + erf(x / sqrt 2)) (torch.nn.functional.gelu, approximate='none'). */
void trdi_k_gelu(int64_t n, const float *x, float *y);
void trdi_k_gelu_ref(int64_t n, const float *x, float *y);
/* GEGLU on rows of [h | gate] (rows, 2 half), in place: h *= gelu(gate) (diffusers GEGLU after
 * its projection; the gate half is left as scratch). Parallel over rows. */
void trdi_k_geglu(int64_t rows, int64_t half, float *x);
void trdi_k_geglu_ref(int64_t rows, int64_t half, float *x);
/* quick GELU: x * sigmoid(1.702 x) (transformers QuickGELUActivation). */
void trdi_k_quick_gelu(int64_t n, const float *x, float *y);
void trdi_k_quick_gelu_ref(int64_t n, const float *x, float *y);
/* SiLU: x * sigmoid(x) (torch.nn.functional.silu). */
void trdi_k_silu(int64_t n, const float *x, float *y);
void trdi_k_silu_ref(int64_t n, const float *x, float *y);

/* ---- Elementwise ---------------------------------------------------------------------------- */
/* y = a + b (n elements); y may equal a or b (residual add: trdi_k_add(n, x, r, x)). */
void trdi_k_add(int64_t n, const float *a, const float *b, float *y);
void trdi_k_add_ref(int64_t n, const float *a, const float *b, float *y);
/* y (rows, d) += v (d) broadcast over rows (bias add). */
void trdi_k_add_rowvec(int64_t rows, int64_t d, const float *v, float *y);
void trdi_k_add_rowvec_ref(int64_t rows, int64_t d, const float *v, float *y);

/* ---- Embedding lookup (torch.nn.Embedding) -------------------------------------------------- */
/* out (n, dim) = table[ids[i]] with table (vocab, dim). Fails with TRDI_ERR_INVALID_ARG naming the
 * position and value of the first id outside [0, vocab); out is then untouched. */
trdi_status trdi_k_embedding(int64_t n, const int64_t *ids, int64_t vocab, int64_t dim,
                             const float *table, float *out);
trdi_status trdi_k_embedding_ref(int64_t n, const int64_t *ids, int64_t vocab, int64_t dim,
                                 const float *table, float *out);

#endif /* TRDI_KERNELS_H */
