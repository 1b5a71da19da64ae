/* unet_ops.h -- kernels the Stable Diffusion UNet / VAE need beyond kernels.h / conv.h: softmax
 * attention over long sequences as two OpenBLAS GEMMs per query tile (the score block of one tile
 * at a time, never the whole (tq, tk) matrix). Reference: trdi_k_attention_ref (kernels.h), the
 * test in tests/kernels/test_unet_ops.c compares them. Internal. */
#ifndef TRDI_KERNELS_UNET_OPS_H
#define TRDI_KERNELS_UNET_OPS_H

#include "kernels/kernels.h"
#include "trdi.h"

#include <stddef.h>
#include <stdint.h>

/* Query rows per tile trdi_k_attention_gemm uses for p (a (rows, tk) score block of about
 * 128 Ki floats, 512 KiB; at least 8 rows). */
int64_t trdi_k_attention_gemm_tile_rows(const trdi_k_attn *p);
/* Floats of scratch it needs with the current OpenMP thread count: threads * tile_rows * tk
 * (one score block per thread). */
size_t trdi_k_attention_gemm_scratch(const trdi_k_attn *p);
/* softmax(scale * Q K^T) V per batch item and head, same layout and strides as trdi_k_attention
 * (kernels.h), non-causal only (TRDI_ERR_INVALID_ARG for causal). OpenMP threads take
 * (item, head, tile) work items: S = scale * Q_tile K^T (sgemm on the thread), row softmax
 * (max-subtracted, vectorised exp), O_tile = S V (sgemm). With scratch for fewer threads it runs
 * on fewer; TRDI_ERR_INTERNAL when there is not one tile's worth, and `out` is then untouched.
 * `out` must not overlap q, k, v. */
trdi_status trdi_k_attention_gemm(const trdi_k_attn *p, const float *q, const float *k,
                                  const float *v, float *out, float *scratch,
                                  size_t scratch_floats);

#endif /* TRDI_KERNELS_UNET_OPS_H */
