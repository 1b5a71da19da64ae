/* ssim.c -- SSIM as scikit-image's structural_similarity(a, b, win_size=11, channel_axis=2) on
 * uint8 images (Wang et al. 2004 with a uniform window; skimage.metrics._structural_similarity).
 * Not here: the torchmetrics Gaussian-window variant (metrics: evaluation).
 *
 * Per channel: ux, uy, uxx, uyy, uxy are 11x11 box means; vx = 121/120 (uxx - ux^2) and likewise
 * vy, vxy (sample covariance); S = (2 ux uy + C1)(2 vxy + C2) / ((ux^2 + uy^2 + C1)(vx + vy + C2))
 * with C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2; the value is the mean of S over the centres whose
 * window lies inside the image (skimage crops (win - 1) / 2 = 5 pixels per side, so its filter's
 * border mode never matters), and the result is the mean over channels. The box sums of integer
 * products are exact in int64 (skimage's running-sum filter rounds at ~1e-16 relative). */
#include "core/core.h"
#include "metrics/metrics_internal.h"

#include <stdlib.h>

enum { WIN = 11 };

trdi_status trdi_ssim(const trdi_image *a, const trdi_image *b, double *out) {
    if (out) *out = 0;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_ssim: out is NULL");
    trdi_status st = trdi_metric_check_pair(a, b, "ssim");
    if (st) return st;
    int64_t w = a->width, h = a->height, ch = a->channels;
    if (w < WIN || h < WIN)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "ssim: a %lldx%lld image is smaller than the %dx%d window (both sides must "
            "be >= %d)",
            (long long)w, (long long)h, WIN, WIN, WIN);
    int64_t ow = w - WIN + 1, oh = h - WIN + 1;
    /* Column sums of the five products over WIN rows, for one output row at a time: (5, w). */
    int64_t *col = trdi_mallocn((size_t)(5 * w), sizeof *col);
    if (!col) return trdi_fail(TRDI_ERR_NOMEM, "ssim: out of memory");
    const double n = WIN * WIN;
    const double cov_norm = n / (n - 1.0);
    const double c1 = (0.01 * 255.0) * (0.01 * 255.0), c2 = (0.03 * 255.0) * (0.03 * 255.0);
    double total = 0;
    for (int64_t c = 0; c < ch; c++) {
        double chan_sum = 0;
        for (int64_t y0 = 0; y0 < oh; y0++) {
            for (int64_t x = 0; x < w; x++) {
                int64_t sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
                for (int64_t y = y0; y < y0 + WIN; y++) {
                    int64_t p = a->data[(y * w + x) * ch + c], q = b->data[(y * w + x) * ch + c];
                    sx += p;
                    sy += q;
                    sxx += p * p;
                    syy += q * q;
                    sxy += p * q;
                }
                col[x] = sx;
                col[w + x] = sy;
                col[2 * w + x] = sxx;
                col[3 * w + x] = syy;
                col[4 * w + x] = sxy;
            }
            double row_sum = 0;
            for (int64_t x0 = 0; x0 < ow; x0++) {
                int64_t s[5] = {0, 0, 0, 0, 0};
                for (int k = 0; k < 5; k++)
                    for (int64_t x = x0; x < x0 + WIN; x++)
                        s[k] += col[k * w + x];
                double ux = (double)s[0] / n, uy = (double)s[1] / n;
                double uxx = (double)s[2] / n, uyy = (double)s[3] / n, uxy = (double)s[4] / n;
                double vx = cov_norm * (uxx - ux * ux);
                double vy = cov_norm * (uyy - uy * uy);
                double vxy = cov_norm * (uxy - ux * uy);
                double a1 = 2.0 * ux * uy + c1, a2 = 2.0 * vxy + c2;
                double b1 = ux * ux + uy * uy + c1, b2 = vx + vy + c2;
                row_sum += (a1 * a2) / (b1 * b2);
            }
            chan_sum += row_sum;
        }
        total += chan_sum / (double)(ow * oh);
    }
    free(col);
    *out = total / (double)ch;
    return TRDI_OK;
}
