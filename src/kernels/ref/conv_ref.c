/* conv_ref.c -- plain-C reference versions of the conv-net kernels in kernels/conv.h: direct
 * loops, double accumulation, no BLAS, no threads. The oracle for tests/kernels/test_conv*.c;
 * not meant to be fast. Shared shape helpers (output lengths, checks) live here too. */
#include "kernels/conv.h"

#include "core/core.h"

#include <math.h>

int64_t trdi_conv_out_len(int64_t len, int64_t k, int64_t stride, int64_t pad) {
    if (len <= 0 || k <= 0 || stride <= 0 || pad < 0) return 0;
    int64_t span = len + 2 * pad - k;
    if (span < 0) return 0;
    return span / stride + 1;
}

trdi_status trdi_conv2d_check(const trdi_conv2d_shape *s) {
    if (!s) return trdi_fail(TRDI_ERR_INVALID_ARG, "conv2d: shape is NULL");
    if (s->n <= 0 || s->c_in <= 0 || s->h <= 0 || s->w <= 0 || s->c_out <= 0)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "conv2d: sizes must be positive (n %lld, c_in %lld, h %lld, w %lld, c_out %lld)",
            (long long)s->n, (long long)s->c_in, (long long)s->h, (long long)s->w,
            (long long)s->c_out);
    if (s->kh <= 0 || s->kw <= 0 || s->stride_h <= 0 || s->stride_w <= 0 || s->pad_h < 0 ||
        s->pad_w < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "conv2d: bad kernel %lldx%lld / stride %lldx%lld / padding %lldx%lld",
                         (long long)s->kh, (long long)s->kw, (long long)s->stride_h,
                         (long long)s->stride_w, (long long)s->pad_h, (long long)s->pad_w);
    if (trdi_conv_out_len(s->h, s->kh, s->stride_h, s->pad_h) <= 0 ||
        trdi_conv_out_len(s->w, s->kw, s->stride_w, s->pad_w) <= 0)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "conv2d: input %lldx%lld (padding %lldx%lld) is smaller than the kernel %lldx%lld",
            (long long)s->h, (long long)s->w, (long long)s->pad_h, (long long)s->pad_w,
            (long long)s->kh, (long long)s->kw);
    return TRDI_OK;
}

trdi_status trdi_conv2d_ref(const trdi_conv2d_shape *s, const float *x, const float *w,
                            const float *bias, float *y) {
    trdi_status st = trdi_conv2d_check(s);
    if (st != TRDI_OK) return st;
    int64_t oh_n = trdi_conv_out_len(s->h, s->kh, s->stride_h, s->pad_h);
    int64_t ow_n = trdi_conv_out_len(s->w, s->kw, s->stride_w, s->pad_w);
    for (int64_t b = 0; b < s->n; b++)
        for (int64_t co = 0; co < s->c_out; co++)
            for (int64_t oh = 0; oh < oh_n; oh++)
                for (int64_t ow = 0; ow < ow_n; ow++) {
                    double acc = bias ? (double)bias[co] : 0.0;
                    for (int64_t ci = 0; ci < s->c_in; ci++)
                        for (int64_t i = 0; i < s->kh; i++) {
                            int64_t ih = oh * s->stride_h - s->pad_h + i;
                            if (ih < 0 || ih >= s->h) continue;
                            for (int64_t j = 0; j < s->kw; j++) {
                                int64_t iw = ow * s->stride_w - s->pad_w + j;
                                if (iw < 0 || iw >= s->w) continue;
                                double xv = x[((b * s->c_in + ci) * s->h + ih) * s->w + iw];
                                double wv = w[((co * s->c_in + ci) * s->kh + i) * s->kw + j];
                                acc += xv * wv;
                            }
                        }
                    y[((b * s->c_out + co) * oh_n + oh) * ow_n + ow] = (float)acc;
                }
    return TRDI_OK;
}

void trdi_relu_ref(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

int64_t trdi_pool_out_len(int64_t len, int64_t k, int64_t stride, int64_t pad, bool ceil_mode) {
    if (len <= 0 || k <= 0 || stride <= 0 || pad < 0) return 0;
    /* PyTorch pooling_output_shape: numerator may be negative; it divides rounding down. */
    int64_t num = len + 2 * pad - (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    int64_t q = num >= 0 ? num / stride : -((-num + stride - 1) / stride);
    int64_t out = q + 1;
    if (ceil_mode && out > 0 && (out - 1) * stride >= len + pad) out--;
    return out;
}

static trdi_status maxpool_check(int64_t planes, int64_t h, int64_t w, int64_t k, int64_t stride,
                                 int64_t pad) {
    if (planes <= 0 || h <= 0 || w <= 0 || k <= 0 || stride <= 0 || pad < 0)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "maxpool2d: bad sizes (planes %lld, %lldx%lld, kernel %lld, stride %lld, pad %lld)",
            (long long)planes, (long long)h, (long long)w, (long long)k, (long long)stride,
            (long long)pad);
    if (pad > k / 2)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "maxpool2d: padding %lld exceeds half the kernel %lld", (long long)pad,
                         (long long)k);
    return TRDI_OK;
}

trdi_status trdi_maxpool2d_ref(const float *x, int64_t planes, int64_t h, int64_t w, int64_t k,
                               int64_t stride, int64_t pad, bool ceil_mode, float *y) {
    trdi_status st = maxpool_check(planes, h, w, k, stride, pad);
    if (st != TRDI_OK) return st;
    int64_t oh_n = trdi_pool_out_len(h, k, stride, pad, ceil_mode);
    int64_t ow_n = trdi_pool_out_len(w, k, stride, pad, ceil_mode);
    if (oh_n <= 0 || ow_n <= 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "maxpool2d: input %lldx%lld too small for kernel %lld", (long long)h,
                         (long long)w, (long long)k);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < oh_n; oh++)
            for (int64_t ow = 0; ow < ow_n; ow++) {
                float m = -INFINITY;
                for (int64_t i = 0; i < k; i++) {
                    int64_t ih = oh * stride - pad + i;
                    if (ih < 0 || ih >= h) continue;
                    for (int64_t j = 0; j < k; j++) {
                        int64_t iw = ow * stride - pad + j;
                        if (iw < 0 || iw >= w) continue;
                        float v = x[(p * h + ih) * w + iw];
                        if (v > m || isnan(v)) m = v;
                        if (isnan(m)) break;
                    }
                }
                y[(p * oh_n + oh) * ow_n + ow] = m;
            }
    return TRDI_OK;
}

trdi_status trdi_group_norm_ref(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                                float eps, const float *gamma, const float *beta, bool silu,
                                float *y) {
    if (n <= 0 || c <= 0 || hw <= 0 || groups <= 0 || c % groups != 0 || !(eps >= 0.0f))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "group_norm: bad sizes (n %lld, c %lld, hw %lld, groups %lld, eps %g)",
                         (long long)n, (long long)c, (long long)hw, (long long)groups, (double)eps);
    int64_t cg = c / groups;
    for (int64_t b = 0; b < n; b++)
        for (int64_t g = 0; g < groups; g++) {
            const float *xs = x + (b * c + g * cg) * hw;
            float *ys = y + (b * c + g * cg) * hw;
            int64_t m = cg * hw;
            double sum = 0.0;
            for (int64_t i = 0; i < m; i++)
                sum += xs[i];
            double mean = sum / (double)m;
            double ss = 0.0;
            for (int64_t i = 0; i < m; i++)
                ss += ((double)xs[i] - mean) * ((double)xs[i] - mean);
            double rstd = 1.0 / sqrt(ss / (double)m + (double)eps);
            for (int64_t cc = 0; cc < cg; cc++) {
                int64_t ch = g * cg + cc;
                double ga = gamma ? (double)gamma[ch] : 1.0, be = beta ? (double)beta[ch] : 0.0;
                for (int64_t i = 0; i < hw; i++) {
                    double v = ((double)xs[cc * hw + i] - mean) * rstd * ga + be;
                    if (silu) v = v / (1.0 + exp(-v));
                    ys[cc * hw + i] = (float)v;
                }
            }
        }
    return TRDI_OK;
}

void trdi_upsample_nearest2x_ref(const float *x, int64_t planes, int64_t h, int64_t w, float *y) {
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < 2 * h; i++)
            for (int64_t j = 0; j < 2 * w; j++)
                y[(p * 2 * h + i) * 2 * w + j] = x[(p * h + i / 2) * w + j / 2];
}
