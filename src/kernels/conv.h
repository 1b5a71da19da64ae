/* conv.h -- convolutional-network kernels (conv2d, ReLU, max-pool, group norm, nearest 2x
 * upsampling) for LPIPS and the UNet / VAE. NCHW float32, row-major. Not public API.
 *
 * Every kernel has a fast version (conv.c: im2col + OpenBLAS sgemm, OpenMP) and a plain-C
 * reference (ref/conv_ref.c, suffix _ref) that the kernel tests compare against.
 * Kernels never allocate: conv2d takes caller scratch sized by trdi_conv2d_scratch_floats().
 * Semantics follow PyTorch's torch.nn.functional (conv2d with groups = 1, max_pool2d, group_norm,
 * interpolate(mode='nearest', scale_factor=2)). */
#ifndef TRDI_KERNELS_CONV_H
#define TRDI_KERNELS_CONV_H

#include "trdi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A 2-D convolution: input (n, c_in, h, w), weight (c_out, c_in, kh, kw), bias (c_out) or NULL,
 * output (n, c_out, out_h, out_w). Zero padding, no dilation, groups = 1. */
typedef struct trdi_conv2d_shape {
    int64_t n, c_in, h, w;
    int64_t c_out, kh, kw;
    int64_t stride_h, stride_w;
    int64_t pad_h, pad_w;
} trdi_conv2d_shape;

/* Output size of a convolution along one axis, floor((len + 2 pad - k) / stride) + 1 as PyTorch;
 * <= 0 when the (padded) input is shorter than the kernel or an argument is invalid. */
int64_t trdi_conv_out_len(int64_t len, int64_t k, int64_t stride, int64_t pad);

/* Checks a shape (positive sizes, output at least 1x1). TRDI_ERR_INVALID_ARG with a message
 * naming the field otherwise. */
trdi_status trdi_conv2d_check(const trdi_conv2d_shape *s);

/* Floats of scratch trdi_conv2d needs to process `rows` output rows per GEMM (rows <= 0 or
 * larger than out_h means all rows at once). rows = 1 is the minimum that works; more rows give
 * larger GEMMs. 0 for a 1x1 / stride 1 / no padding convolution (it multiplies the input
 * directly). 0 also for an invalid shape. */
size_t trdi_conv2d_scratch_floats(const trdi_conv2d_shape *s, int64_t rows);

/* Floats of scratch with which trdi_conv2d runs a batch of n >= 2 images as one GEMM (the column
 * buffers of all images plus the GEMM result); 0 when that path does not apply (n = 1, 1x1). */
size_t trdi_conv2d_scratch_batched(const trdi_conv2d_shape *s);

/* y = conv2d(x, w) + bias. With at least trdi_conv2d_scratch_batched floats of scratch the whole
 * batch is one GEMM; otherwise it uses as many output rows per GEMM as `scratch_floats` allows.
 * TRDI_ERR_INVALID_ARG for a bad shape or scratch smaller than one row needs. y must not alias x.
 */
trdi_status trdi_conv2d(const trdi_conv2d_shape *s, const float *x, const float *w,
                        const float *bias, float *y, float *scratch, size_t scratch_floats);
/* Patches of one image as rows: a (out_h * out_w, c_in * kh * kw), row p = output pixel p, its
 * entries in the weight's (c_in, kh, kw) order (0 outside the image). Then conv = a W^T, the
 * layout of the fp16-weight GEMM for small images (trdi_k_gemm_nt_f16). Shape must be valid. */
void trdi_im2row(const trdi_conv2d_shape *s, const float *x, float *a);

/* Direct 7-loop convolution with double accumulation: the oracle. Same contract, no scratch. */
trdi_status trdi_conv2d_ref(const trdi_conv2d_shape *s, const float *x, const float *w,
                            const float *bias, float *y);

/* In place (or y = x) ReLU over n floats: max(x, 0); NaN stays NaN as in torch.relu. */
void trdi_relu(const float *x, float *y, size_t n);
void trdi_relu_ref(const float *x, float *y, size_t n);

/* Output length of a max-pool along one axis as PyTorch's pooling_output_shape: floor mode
 * floor((len + 2 pad - k) / s) + 1; ceil mode rounds up but drops a last window that would start
 * inside the right padding. <= 0 when the input is too small (PyTorch raises). */
int64_t trdi_pool_out_len(int64_t len, int64_t k, int64_t stride, int64_t pad, bool ceil_mode);

/* Max-pool over planes: x (planes, h, w) -> y (planes, out_h, out_w), window k x k, stride s,
 * implicit -inf padding `pad`, windows clipped to the input (ceil mode's overhanging window takes
 * the max of the pixels it covers). NaN propagates. TRDI_ERR_INVALID_ARG when the output would be
 * empty or pad > k / 2 (PyTorch's rule). */
trdi_status trdi_maxpool2d(const float *x, int64_t planes, int64_t h, int64_t w, int64_t k,
                           int64_t stride, int64_t pad, bool ceil_mode, float *y);
trdi_status trdi_maxpool2d_ref(const float *x, int64_t planes, int64_t h, int64_t w, int64_t k,
                               int64_t stride, int64_t pad, bool ceil_mode, float *y);

/* torch.nn.functional.group_norm: x (n, c, hw) with c divisible by `groups`; per (batch, group)
 * mean and biased variance over (c / groups) * hw values; y = (x - mean) / sqrt(var + eps) *
 * gamma[c] + beta[c] (gamma / beta may be NULL = 1 / 0); with `silu` also y = y * sigmoid(y).
 * Statistics in double. y may equal x. TRDI_ERR_INVALID_ARG for bad sizes. */
trdi_status trdi_group_norm(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                            float eps, const float *gamma, const float *beta, bool silu, float *y);
trdi_status trdi_group_norm_ref(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                                float eps, const float *gamma, const float *beta, bool silu,
                                float *y);

/* Nearest-neighbour 2x upsampling: x (planes, h, w) -> y (planes, 2h, 2w), y[2i+a][2j+b] = x[i][j]
 * (interpolate(scale_factor=2, mode='nearest')). y must not alias x. */
void trdi_upsample_nearest2x(const float *x, int64_t planes, int64_t h, int64_t w, float *y);
void trdi_upsample_nearest2x_ref(const float *x, int64_t planes, int64_t h, int64_t w, float *y);

#endif /* TRDI_KERNELS_CONV_H */
