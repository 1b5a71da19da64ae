/* conv.c -- fast conv-net kernels (see kernels/conv.h): conv2d as im2col + OpenBLAS sgemm over
 * chunks of output rows (so the column buffer stays bounded), 1x1 convolutions as a plain GEMM,
 * and OpenMP loops for the element-wise kernels. Each function matches its _ref twin in
 * ref/conv_ref.c up to float32 summation order. No allocation: scratch comes from the caller. */
#include "kernels/conv.h"

#include "core/core.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Element count below which a loop stays on one thread: a parallel region costs a barrier, which
 * dominates memory-bound loops of a few MB and gets much worse when the cores are shared
 * (measured: LPIPS on 96x128 images ran 3x slower with thresholds of ~32K elements). */
#define TRDI_CONV_PAR_MIN ((int64_t)1 << 21)

static bool conv_is_pointwise(const trdi_conv2d_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h == 0 &&
           s->pad_w == 0;
}

size_t trdi_conv2d_scratch_floats(const trdi_conv2d_shape *s, int64_t rows) {
    if (!s || s->c_in <= 0 || s->kh <= 0 || s->kw <= 0) return 0;
    int64_t oh_n = trdi_conv_out_len(s->h, s->kh, s->stride_h, s->pad_h);
    int64_t ow_n = trdi_conv_out_len(s->w, s->kw, s->stride_w, s->pad_w);
    if (oh_n <= 0 || ow_n <= 0 || conv_is_pointwise(s)) return 0;
    if (rows <= 0 || rows > oh_n) rows = oh_n;
    return (size_t)(s->c_in * s->kh * s->kw) * (size_t)(rows * ow_n);
}

size_t trdi_conv2d_scratch_batched(const trdi_conv2d_shape *s) {
    if (!s || s->n < 2 || s->c_out <= 0) return 0;
    size_t one_image = trdi_conv2d_scratch_floats(s, 0);
    if (one_image == 0) return 0;
    size_t plane = (size_t)(trdi_conv_out_len(s->h, s->kh, s->stride_h, s->pad_h) *
                            trdi_conv_out_len(s->w, s->kw, s->stride_w, s->pad_w));
    /* columns of every image side by side, then the (c_out, n * plane) GEMM result */
    return (size_t)s->n * (one_image + (size_t)s->c_out * plane);
}

/* Column buffer for output rows [r0, r0 + rows): col[k * ncol + (oh - r0) * ow_n + ow] with
 * k = (ci * kh + i) * kw + j holds x[ci][oh*sh - ph + i][ow*sw - pw + j] (0 outside). */
static void im2col_rows(const trdi_conv2d_shape *s, const float *x, int64_t r0, int64_t rows,
                        int64_t ow_n, float *col, int64_t ncol) {
    int64_t kk = s->c_in * s->kh * s->kw;
#pragma omp parallel for schedule(static) if (kk * ncol > TRDI_CONV_PAR_MIN)
    for (int64_t k = 0; k < kk; k++) {
        int64_t j = k % s->kw, i = (k / s->kw) % s->kh, ci = k / (s->kw * s->kh);
        const float *xp = x + ci * s->h * s->w;
        float *cp = col + k * ncol;
        for (int64_t r = 0; r < rows; r++) {
            int64_t ih = (r0 + r) * s->stride_h - s->pad_h + i;
            float *dst = cp + r * ow_n;
            if (ih < 0 || ih >= s->h) {
                memset(dst, 0, (size_t)ow_n * sizeof(float));
                continue;
            }
            const float *row = xp + ih * s->w;
            if (s->stride_w == 1) {
                /* Contiguous run: zeros left of the image, a copy, zeros right of it. */
                int64_t iw0 = -s->pad_w + j;
                int64_t lo = iw0 < 0 ? -iw0 : 0;
                int64_t hi = s->w - iw0;
                if (hi > ow_n) hi = ow_n;
                if (lo > ow_n) lo = ow_n;
                for (int64_t ow = 0; ow < lo; ow++)
                    dst[ow] = 0.0f;
                if (hi > lo) memcpy(dst + lo, row + iw0 + lo, (size_t)(hi - lo) * sizeof(float));
                for (int64_t ow = hi > lo ? hi : lo; ow < ow_n; ow++)
                    dst[ow] = 0.0f;
            } else {
                for (int64_t ow = 0; ow < ow_n; ow++) {
                    int64_t iw = ow * s->stride_w - s->pad_w + j;
                    dst[ow] = (iw < 0 || iw >= s->w) ? 0.0f : row[iw];
                }
            }
        }
    }
}

void trdi_im2row(const trdi_conv2d_shape *s, const float *x, float *a) {
    const int64_t oh_n = trdi_conv_out_len(s->h, s->kh, s->stride_h, s->pad_h);
    const int64_t ow_n = trdi_conv_out_len(s->w, s->kw, s->stride_w, s->pad_w);
    const int64_t kk = s->c_in * s->kh * s->kw;
#pragma omp parallel for schedule(static) if (oh_n * ow_n * kk > TRDI_CONV_PAR_MIN)
    for (int64_t p = 0; p < oh_n * ow_n; p++) {
        const int64_t oh = p / ow_n, ow = p % ow_n;
        float *row = a + p * kk;
        for (int64_t ci = 0; ci < s->c_in; ci++)
            for (int64_t i = 0; i < s->kh; i++) {
                const int64_t ih = oh * s->stride_h - s->pad_h + i;
                float *dst = row + (ci * s->kh + i) * s->kw;
                if (ih < 0 || ih >= s->h) {
                    memset(dst, 0, (size_t)s->kw * sizeof(float));
                    continue;
                }
                const float *src = x + (ci * s->h + ih) * s->w;
                for (int64_t j = 0; j < s->kw; j++) {
                    const int64_t iw = ow * s->stride_w - s->pad_w + j;
                    dst[j] = (iw < 0 || iw >= s->w) ? 0.0f : src[iw];
                }
            }
    }
}

trdi_status trdi_conv2d(const trdi_conv2d_shape *s, const float *x, const float *w,
                        const float *bias, float *y, float *scratch, size_t scratch_floats) {
    trdi_status st = trdi_conv2d_check(s);
    if (st != TRDI_OK) return st;
    int64_t oh_n = trdi_conv_out_len(s->h, s->kh, s->stride_h, s->pad_h);
    int64_t ow_n = trdi_conv_out_len(s->w, s->kw, s->stride_w, s->pad_w);
    int64_t kk = s->c_in * s->kh * s->kw;
    int64_t plane = oh_n * ow_n;
    bool pointwise = conv_is_pointwise(s);
    int64_t rows = oh_n;
    if (!pointwise) {
        size_t one_row = trdi_conv2d_scratch_floats(s, 1);
        if (!scratch || scratch_floats < one_row)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "conv2d: scratch of %zu floats, at least %zu needed", scratch_floats,
                             one_row);
        size_t fit = scratch_floats / one_row;
        if ((int64_t)fit < rows) rows = (int64_t)fit;
    }
    if (!pointwise && s->n > 1 && scratch_floats >= trdi_conv2d_scratch_batched(s)) {
        /* One GEMM for the whole batch: the weights are read and packed once, not n times (at
         * small sizes the UNet's 1280-channel layers are bound by that traffic). */
        int64_t ncol = s->n * plane;
        float *col = scratch, *tmp = scratch + (size_t)kk * (size_t)ncol;
        for (int64_t b = 0; b < s->n; b++)
            im2col_rows(s, x + b * s->c_in * s->h * s->w, 0, oh_n, ow_n, col + b * plane, ncol);
        /* (c_out, kk) x (kk, n * plane) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->c_out, (int)ncol, (int)kk,
                    1.0f, w, (int)kk, col, (int)ncol, 0.0f, tmp, (int)ncol);
#pragma omp parallel for schedule(static) if (s->n * s->c_out * plane > TRDI_CONV_PAR_MIN)
        for (int64_t bc = 0; bc < s->n * s->c_out; bc++) {
            int64_t b = bc / s->c_out, co = bc % s->c_out;
            const float *src = tmp + co * ncol + b * plane;
            float *dst = y + bc * plane;
            float bv = bias ? bias[co] : 0.0f;
            for (int64_t i = 0; i < plane; i++)
                dst[i] = src[i] + bv;
        }
        return TRDI_OK;
    }
    for (int64_t b = 0; b < s->n; b++) {
        const float *xb = x + b * s->c_in * s->h * s->w;
        float *yb = y + b * s->c_out * plane;
        if (pointwise) {
            /* (c_out, c_in) x (c_in, h*w) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->c_out, (int)plane,
                        (int)s->c_in, 1.0f, w, (int)s->c_in, xb, (int)plane, 0.0f, yb, (int)plane);
        } else {
            for (int64_t r0 = 0; r0 < oh_n; r0 += rows) {
                int64_t nr = oh_n - r0 < rows ? oh_n - r0 : rows;
                im2col_rows(s, xb, r0, nr, ow_n, scratch, nr * ow_n);
                /* (c_out, kk) x (kk, nr*ow_n) -> rows r0.. of every output plane (ldc = plane) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->c_out,
                            (int)(nr * ow_n), (int)kk, 1.0f, w, (int)kk, scratch, (int)(nr * ow_n),
                            0.0f, yb + r0 * ow_n, (int)plane);
            }
        }
        if (bias) {
#pragma omp parallel for schedule(static) if (s->c_out * plane > TRDI_CONV_PAR_MIN)
            for (int64_t co = 0; co < s->c_out; co++) {
                float bv = bias[co];
                float *yp = yb + co * plane;
                for (int64_t i = 0; i < plane; i++)
                    yp[i] += bv;
            }
        }
    }
    return TRDI_OK;
}

void trdi_relu(const float *x, float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n > TRDI_CONV_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

trdi_status trdi_maxpool2d(const float *x, int64_t planes, int64_t h, int64_t w, int64_t k,
                           int64_t stride, int64_t pad, bool ceil_mode, float *y) {
    if (planes <= 0 || h <= 0 || w <= 0 || k <= 0 || stride <= 0 || pad < 0 || pad > k / 2)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "maxpool2d: bad sizes (planes %lld, %lldx%lld, kernel %lld, stride %lld, pad %lld)",
            (long long)planes, (long long)h, (long long)w, (long long)k, (long long)stride,
            (long long)pad);
    int64_t oh_n = trdi_pool_out_len(h, k, stride, pad, ceil_mode);
    int64_t ow_n = trdi_pool_out_len(w, k, stride, pad, ceil_mode);
    if (oh_n <= 0 || ow_n <= 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "maxpool2d: input %lldx%lld too small for kernel %lld", (long long)h,
                         (long long)w, (long long)k);
#pragma omp parallel for schedule(static) if (planes * oh_n * ow_n > TRDI_CONV_PAR_MIN / 8)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * oh_n * ow_n;
        for (int64_t oh = 0; oh < oh_n; oh++) {
            /* Clip the window to the image once per row / column instead of per tap. */
            int64_t i0 = oh * stride - pad, i1 = i0 + k;
            if (i0 < 0) i0 = 0;
            if (i1 > h) i1 = h;
            for (int64_t ow = 0; ow < ow_n; ow++) {
                int64_t j0 = ow * stride - pad, j1 = j0 + k;
                if (j0 < 0) j0 = 0;
                if (j1 > w) j1 = w;
                float m = -INFINITY;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t j = j0; j < j1; j++) {
                        float v = xp[i * w + j];
                        if (v > m || isnan(v)) m = v; /* PyTorch's rule: a NaN sticks */
                    }
                yp[oh * ow_n + ow] = m;
            }
        }
    }
    return TRDI_OK;
}

trdi_status trdi_group_norm(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                            float eps, const float *gamma, const float *beta, bool silu, float *y) {
    if (n <= 0 || c <= 0 || hw <= 0 || groups <= 0 || c % groups != 0 || !(eps >= 0.0f))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "group_norm: bad sizes (n %lld, c %lld, hw %lld, groups %lld, eps %g)",
                         (long long)n, (long long)c, (long long)hw, (long long)groups, (double)eps);
    int64_t cg = c / groups;
#pragma omp parallel for schedule(static) if (n * c * hw > TRDI_CONV_PAR_MIN / 4)
    for (int64_t bg = 0; bg < n * groups; bg++) {
        int64_t b = bg / groups, g = bg % groups;
        const float *xs = x + (b * c + g * cg) * hw;
        float *ys = y + (b * c + g * cg) * hw;
        int64_t m = cg * hw;
        /* Two passes in double: the mean, then the centred sum of squares (no cancellation). */
        double sum = 0.0;
        for (int64_t i = 0; i < m; i++)
            sum += xs[i];
        double mean = sum / (double)m;
        double ss = 0.0;
        for (int64_t i = 0; i < m; i++) {
            double d = (double)xs[i] - mean;
            ss += d * d;
        }
        double rstd = 1.0 / sqrt(ss / (double)m + (double)eps);
        for (int64_t cc = 0; cc < cg; cc++) {
            int64_t ch = g * cg + cc;
            double ga = gamma ? (double)gamma[ch] : 1.0, be = beta ? (double)beta[ch] : 0.0;
            /* y = x * scale + shift, folded per channel */
            float scale = (float)(rstd * ga), shift = (float)(be - mean * rstd * ga);
            const float *xc = xs + cc * hw;
            float *yc = ys + cc * hw;
            if (silu) {
                for (int64_t i = 0; i < hw; i++) {
                    float v = xc[i] * scale + shift;
                    yc[i] = v / (1.0f + expf(-v));
                }
            } else {
                for (int64_t i = 0; i < hw; i++)
                    yc[i] = xc[i] * scale + shift;
            }
        }
    }
    return TRDI_OK;
}

void trdi_upsample_nearest2x(const float *x, int64_t planes, int64_t h, int64_t w, float *y) {
#pragma omp parallel for schedule(static) if (planes * h * w > TRDI_CONV_PAR_MIN / 4)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * h * w;
        float *yp = y + p * 4 * h * w;
        for (int64_t i = 0; i < h; i++) {
            float *r0 = yp + (2 * i) * 2 * w;
            for (int64_t j = 0; j < w; j++)
                r0[2 * j] = r0[2 * j + 1] = xp[i * w + j];
            memcpy(r0 + 2 * w, r0, (size_t)(2 * w) * sizeof(float));
        }
    }
}
