/* ssim_gauss.c -- SSIM with a Gaussian window as torchmetrics computes it
 * (torchmetrics.functional.image.ssim._ssim_update with gaussian_kernel=True, v1.4.2 and later:
 * reflect padding, mean over the whole map; crop_border reproduces <= 1.4.1). This is the SSIM of
 * the paper's tables; scikit-image's uniform-window SSIM is trdi_ssim in ssim.c.
 *
 * Precision: upstream works in float32 throughout. Here the five filtered maps (mu_x, mu_y,
 * E[x^2], E[y^2], E[xy]) are summed in double and rounded to float32, and everything after the
 * filter follows upstream's float32 expression order, so the remaining difference is the filter's
 * summation order (see tests/golden/test_metrics_eval.c for the measured agreement). */
#include "trdi.h"

#include "core/core.h"
#include "metrics/eval_internal.h"

#include <math.h>
#include <stdlib.h>

trdi_ssim_gauss_params trdi_ssim_gauss_default_params(void) {
    trdi_ssim_gauss_params p = {1.0, 1.5, 11, 0.01, 0.03, false};
    return p;
}

/* torchmetrics _gaussian(kernel_size, sigma): arange((1-k)/2, (1+k)/2) in float32,
 * exp(-(d / sigma)^2 / 2), normalised by its float32 sum. */
static void gaussian_1d(int64_t k, double sigma, float *g) {
    float sig = (float)sigma, sum = 0.0f;
    for (int64_t i = 0; i < k; i++) {
        float d = (float)(i - (k - 1) / 2);
        float t = d / sig;
        g[i] = expf(-(t * t) / 2.0f);
        sum += g[i];
    }
    for (int64_t i = 0; i < k; i++)
        g[i] /= sum;
}

/* Reflect index as torch.nn.functional.pad(mode='reflect'): -1 -> 1, n -> n-2 (needs pad < n). */
static int64_t reflect(int64_t i, int64_t n) {
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

trdi_status trdi_ssim_gauss(const float *x, const float *y, int64_t channels, int64_t height,
                            int64_t width, const trdi_ssim_gauss_params *p, double *out) {
    if (out) *out = 0.0;
    trdi_ssim_gauss_params d = trdi_ssim_gauss_default_params();
    if (!p) p = &d;
    if (!x || !y || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "ssim_gauss: x, y and out must not be NULL");
    if (channels <= 0 || height <= 0 || width <= 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "ssim_gauss: bad size %lld x %lld x %lld",
                         (long long)channels, (long long)height, (long long)width);
    if (p->kernel_size < 1 || p->kernel_size % 2 == 0 || p->kernel_size > 1001 ||
        !(p->sigma > 0.0) || !isfinite(p->sigma) || !(p->data_range > 0.0) ||
        !isfinite(p->data_range) || !isfinite(p->k1) || !isfinite(p->k2))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "ssim_gauss: bad parameters (kernel_size %lld must be odd, sigma %g and "
                         "data_range %g positive)",
                         (long long)p->kernel_size, p->sigma, p->data_range);
    int64_t k = p->kernel_size, pad = (k - 1) / 2;
    if (height <= pad || width <= pad)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "ssim_gauss: image %lld x %lld too small for the %lld-wide window (reflect "
            "padding needs both sides > %lld)",
            (long long)height, (long long)width, (long long)k, (long long)pad);
    size_t plane = (size_t)(height * width);
    for (size_t i = 0; i < plane * (size_t)channels; i++)
        if (!isfinite(x[i]) || !isfinite(y[i]))
            return trdi_fail(TRDI_ERR_NUMERIC, "ssim_gauss: non-finite input at index %zu", i);

    int64_t hp = height + 2 * pad, wp = width + 2 * pad;
    size_t n_pad = (size_t)(hp * wp), n_h = (size_t)(hp * width);
    float *g = trdi_mallocn((size_t)k, sizeof *g);
    float *src = trdi_mallocn(5 * n_pad, sizeof *src);    /* (5, hp, wp) padded x, y, xx, yy, xy */
    double *hsum = trdi_mallocn(5 * n_h, sizeof *hsum);   /* (5, hp, width) after the row pass */
    double *vsum = trdi_mallocn(5 * plane, sizeof *vsum); /* (5, height, width) both passes */
    double *rows = trdi_mallocn((size_t)height, sizeof *rows);
    if (!g || !src || !hsum || !vsum || !rows) {
        free(g), free(src), free(hsum), free(vsum), free(rows);
        return trdi_fail(TRDI_ERR_NOMEM, "ssim_gauss: out of memory for a %lld x %lld image",
                         (long long)height, (long long)width);
    }
    gaussian_1d(k, p->sigma, g);
    /* torchmetrics: c1 = (k1 * data_range) ** 2 as a Python float, used against float32 maps */
    const float c1 = (float)((p->k1 * p->data_range) * (p->k1 * p->data_range));
    const float c2 = (float)((p->k2 * p->data_range) * (p->k2 * p->data_range));
    int64_t r0 = p->crop_border ? pad : 0, c0 = r0;
    int64_t r1 = p->crop_border ? height - pad : height, c1e = p->crop_border ? width - pad : width;
    double total = 0.0;
    int64_t count = 0;

    for (int64_t c = 0; c < channels; c++) {
        const float *xc = x + (size_t)c * plane, *yc = y + (size_t)c * plane;
        /* Reflect-padded inputs and their float32 products (upstream's preds * preds etc.). */
#pragma omp parallel for schedule(static) if (n_pad > 65536)
        for (int64_t pr = 0; pr < hp; pr++) {
            int64_t r = reflect(pr - pad, height);
            for (int64_t pc = 0; pc < wp; pc++) {
                int64_t cc = reflect(pc - pad, width);
                float a = xc[r * width + cc], b = yc[r * width + cc];
                size_t o = (size_t)(pr * wp + pc);
                src[o] = a;
                src[n_pad + o] = b;
                src[2 * n_pad + o] = a * a;
                src[3 * n_pad + o] = b * b;
                src[4 * n_pad + o] = a * b;
            }
        }
        /* Separable Gaussian in double, taps in order: rows, then columns. */
#pragma omp parallel for schedule(static) if (n_h > 65536)
        for (int64_t qr = 0; qr < 5 * hp; qr++) {
            const float *in = src + (size_t)qr * (size_t)wp;
            double *o = hsum + (size_t)qr * (size_t)width;
            for (int64_t j = 0; j < width; j++)
                o[j] = 0.0;
            for (int64_t t = 0; t < k; t++) {
                double gw = g[t];
                for (int64_t j = 0; j < width; j++)
                    o[j] += gw * in[j + t];
            }
        }
#pragma omp parallel for schedule(static) if (plane > 65536)
        for (int64_t qi = 0; qi < 5 * height; qi++) {
            int64_t q = qi / height, i = qi % height;
            double *o = vsum + (size_t)qi * (size_t)width;
            for (int64_t j = 0; j < width; j++)
                o[j] = 0.0;
            for (int64_t t = 0; t < k; t++) {
                double gw = g[t];
                const double *in =
                    hsum + ((size_t)q * (size_t)hp + (size_t)(i + t)) * (size_t)width;
                for (int64_t j = 0; j < width; j++)
                    o[j] += gw * in[j];
            }
        }
        /* The float32 SSIM expression of _ssim_update; row sums kept apart so the total does not
         * depend on the thread count. */
#pragma omp parallel for schedule(static) if (plane > 65536)
        for (int64_t i = r0; i < r1; i++) {
            double row = 0.0;
            for (int64_t j = c0; j < c1e; j++) {
                size_t o = (size_t)(i * width + j);
                float mu_x = (float)vsum[o], mu_y = (float)vsum[plane + o];
                float e_xx = (float)vsum[2 * plane + o], e_yy = (float)vsum[3 * plane + o];
                float e_xy = (float)vsum[4 * plane + o];
                float mu_xx = mu_x * mu_x, mu_yy = mu_y * mu_y, mu_xy = mu_x * mu_y;
                float s_xx = e_xx - mu_xx, s_yy = e_yy - mu_yy, s_xy = e_xy - mu_xy;
                if (s_xx < 0.0f) s_xx = 0.0f;
                if (s_yy < 0.0f) s_yy = 0.0f;
                float upper = 2.0f * s_xy + c2;
                float lower = s_xx + s_yy + c2;
                row += ((2.0f * mu_xy + c1) * upper) / ((mu_xx + mu_yy + c1) * lower);
            }
            rows[i] = row;
        }
        for (int64_t i = r0; i < r1; i++)
            total += rows[i];
        if (r1 > r0 && c1e > c0) count += (r1 - r0) * (c1e - c0);
    }
    free(g), free(src), free(hsum), free(vsum), free(rows);
    *out = count > 0 ? total / (double)count : NAN;
    return TRDI_OK;
}

trdi_status trdi_ssim_torchmetrics(const trdi_image *a, const trdi_image *b, double *out) {
    if (out) *out = 0.0;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "ssim_torchmetrics: out is NULL");
    trdi_status st = trdi_image_pair_check(a, b, "ssim_torchmetrics");
    if (st != TRDI_OK) return st;
    float *x = NULL, *y = NULL;
    st = trdi_image_to_planar_f32(a, 0, false, &x);
    if (st == TRDI_OK) st = trdi_image_to_planar_f32(b, 0, false, &y);
    if (st == TRDI_OK) st = trdi_ssim_gauss(x, y, a->channels, a->height, a->width, NULL, out);
    free(x);
    free(y);
    return st;
}
