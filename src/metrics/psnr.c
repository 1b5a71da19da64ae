/* psnr.c -- PSNR (scikit-image peak_signal_noise_ratio on uint8) and MSE of [0, 1]-scaled images
 * (torchmetrics MeanSquaredError as TRDI calls it). Pure functions on pixel buffers; not here:
 * masked or torchmetrics-PSNR variants (metrics: evaluation). */
#include "core/core.h"
#include "io/image_internal.h"
#include "metrics/metrics_internal.h"

#include <math.h>

trdi_status trdi_metric_check_pair(const trdi_image *a, const trdi_image *b, const char *what) {
    trdi_status st = trdi_image_check(a, what);
    if (!st) st = trdi_image_check(b, what);
    if (st) return st;
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "%s: images differ in size: %lldx%lldx%lld vs %lldx%lldx%lld", what,
                         (long long)a->width, (long long)a->height, (long long)a->channels,
                         (long long)b->width, (long long)b->height, (long long)b->channels);
    return TRDI_OK;
}

/* skimage: err = mean((a - b)^2) in float64; 10 log10(data_range^2 / err). Sums of squared
 * integer differences are exact in int64, so the only rounding is in the final division/log. */
trdi_status trdi_psnr(const trdi_image *a, const trdi_image *b, double *out) {
    if (out) *out = 0;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_psnr: out is NULL");
    trdi_status st = trdi_metric_check_pair(a, b, "psnr");
    if (st) return st;
    size_t n = (size_t)(a->width * a->height * a->channels);
    uint64_t sse = 0;
    for (size_t i = 0; i < n; i++) {
        int d = (int)a->data[i] - (int)b->data[i];
        sse += (uint64_t)(d * d);
    }
    if (sse == 0) {
        *out = INFINITY;
        return TRDI_OK;
    }
    double err = (double)sse / (double)n;
    *out = 10.0 * log10((255.0 * 255.0) / err);
    return TRDI_OK;
}

/* torchmetrics: x = float32(p) / 255 (float32 division), mean of squared differences. */
trdi_status trdi_mse(const trdi_image *a, const trdi_image *b, double *out) {
    if (out) *out = 0;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_mse: out is NULL");
    trdi_status st = trdi_metric_check_pair(a, b, "mse");
    if (st) return st;
    size_t n = (size_t)(a->width * a->height * a->channels);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)((float)a->data[i] / 255.0f) - (double)((float)b->data[i] / 255.0f);
        sum += d * d;
    }
    *out = sum / (double)n;
    return TRDI_OK;
}
