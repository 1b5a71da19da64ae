/* metrics_eval.c -- the evaluation layer over the individual metrics: PIE-Bench masks
 * (evaluate_my.mask_decode and the *_unedit_part / *_edit_part masking of calculate_metric),
 * metric names, and trdi_metrics_compute, which scores one image pair with every metric and says
 * which ones are unavailable and why. The metrics themselves live in psnr.c / ssim.c (scikit-image
 * flavours, MSE), ssim_gauss.c (torchmetrics SSIM) and lpips.c. */
#include "trdi.h"

#include "core/core.h"
#include "metrics/eval_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers (eval_internal.h) ------------------------------------------------------ */

static bool image_valid(const trdi_image *im) {
    return im && im->data && im->width > 0 && im->height > 0 &&
           (im->channels == 1 || im->channels == 3);
}

trdi_status trdi_image_pair_check(const trdi_image *a, const trdi_image *b, const char *what) {
    if (!image_valid(a) || !image_valid(b))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: %s image is empty or not 1/3-channel", what,
                         image_valid(a) ? "second" : "first");
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "%s: images differ in size: %lldx%lld (%lld channels) vs %lldx%lld (%lld channels)",
            what, (long long)a->width, (long long)a->height, (long long)a->channels,
            (long long)b->width, (long long)b->height, (long long)b->channels);
    return TRDI_OK;
}

trdi_status trdi_image_to_planar_f32(const trdi_image *img, int64_t channels, bool to_pm1,
                                     float **out) {
    *out = NULL;
    if (!image_valid(img))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "image is empty or not 1/3-channel");
    int64_t cin = img->channels, cout = channels > 0 ? channels : cin;
    if (cout != cin && !(cin == 1 && cout == 3))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "cannot convert a %lld-channel image to %lld channels", (long long)cin,
                         (long long)cout);
    size_t plane = (size_t)(img->width * img->height);
    float *p = trdi_mallocn(plane * (size_t)cout, sizeof *p);
    if (!p)
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory for a %lld x %lld image",
                         (long long)img->width, (long long)img->height);
    for (int64_t c = 0; c < cout; c++) {
        int64_t src = cin == 1 ? 0 : c;
        float *dst = p + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++) {
            float v = (float)img->data[i * (size_t)cin + (size_t)src] / 255.0f;
            dst[i] = to_pm1 ? v * 2.0f - 1.0f : v;
        }
    }
    *out = p;
    return TRDI_OK;
}

/* ---- masks ----------------------------------------------------------------------------------- */

trdi_status trdi_mask_decode_rle(const int64_t *rle, int64_t n_values, int64_t height,
                                 int64_t width, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "mask_decode_rle: out is NULL");
    if (n_values < 0 || n_values % 2 != 0 || (n_values > 0 && !rle))
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "mask_decode_rle: %lld values; the run-length code needs (start, length) pairs",
            (long long)n_values);
    for (int64_t i = 0; i < n_values; i += 2)
        if (rle[i] < 0 || rle[i + 1] < 0)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "mask_decode_rle: pair %lld (start %lld, length %lld) is negative",
                             (long long)(i / 2), (long long)rle[i], (long long)rle[i + 1]);
    trdi_status st = trdi_image_alloc(width, height, 1, out);
    if (st != TRDI_OK) return st;
    int64_t total = width * height;
    for (int64_t i = 0; i < n_values; i += 2) {
        int64_t start = rle[i], len = rle[i + 1];
        if (start >= total) continue;
        if (len > total - start) len = total - start; /* upstream cuts a run at the end */
        memset(out->data + start, 255, (size_t)len);
    }
    /* the border frame evaluate_my.mask_decode forces */
    for (int64_t x = 0; x < width; x++)
        out->data[x] = out->data[(height - 1) * width + x] = 255;
    for (int64_t y = 0; y < height; y++)
        out->data[y * width] = out->data[y * width + width - 1] = 255;
    return TRDI_OK;
}

static const char *const region_names[3] = {"full", "unedited", "edited"};

const char *trdi_mask_region_name(trdi_mask_region r) {
    return (r >= TRDI_REGION_FULL && r <= TRDI_REGION_EDITED) ? region_names[r] : "?";
}

trdi_status trdi_mask_region_from_name(const char *name, trdi_mask_region *out) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, region_names[i])) {
            if (out) *out = (trdi_mask_region)i;
            return TRDI_OK;
        }
    return trdi_fail(TRDI_ERR_INVALID_ARG, "unknown mask region '%s' (full, unedited, edited)",
                     name ? name : "(null)");
}

trdi_status trdi_image_apply_mask(const trdi_image *img, const trdi_image *mask,
                                  trdi_mask_region region, trdi_image *out, int64_t *kept) {
    if (out) memset(out, 0, sizeof *out);
    if (kept) *kept = 0;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "apply_mask: out is NULL");
    if (!image_valid(img)) return trdi_fail(TRDI_ERR_INVALID_ARG, "apply_mask: image is empty");
    if (region < TRDI_REGION_FULL || region > TRDI_REGION_EDITED)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "apply_mask: unknown region %d", (int)region);
    if (region != TRDI_REGION_FULL) {
        if (!image_valid(mask)) return trdi_fail(TRDI_ERR_INVALID_ARG, "apply_mask: mask is empty");
        if (mask->width != img->width || mask->height != img->height)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "apply_mask: mask is %lldx%lld but the image is %lldx%lld",
                             (long long)mask->width, (long long)mask->height, (long long)img->width,
                             (long long)img->height);
    }
    trdi_status st = trdi_image_copy(img, out);
    if (st != TRDI_OK) return st;
    size_t n = (size_t)(img->width * img->height);
    int64_t count = 0;
    for (size_t i = 0; i < n; i++) {
        bool keep = true;
        if (region != TRDI_REGION_FULL) {
            bool edited = false;
            for (int64_t c = 0; c < mask->channels; c++)
                edited |= mask->data[i * (size_t)mask->channels + (size_t)c] != 0;
            keep = (region == TRDI_REGION_EDITED) == edited;
        }
        if (keep)
            count++;
        else
            memset(out->data + i * (size_t)img->channels, 0, (size_t)img->channels);
    }
    if (kept) *kept = count;
    return TRDI_OK;
}

/* ---- metric names ---------------------------------------------------------------------------- */

static const char *const metric_names[TRDI_METRIC_COUNT] = {
    "psnr", "mse", "ssim_skimage", "ssim_torchmetrics", "lpips_alex", "lpips_squeeze", "lpips_vgg",
};

const char *trdi_metric_name(trdi_metric m) {
    return ((int)m >= 0 && (int)m < TRDI_METRIC_COUNT) ? metric_names[m] : "?";
}

trdi_status trdi_metric_from_name(const char *name, trdi_metric *out) {
    for (int i = 0; i < TRDI_METRIC_COUNT; i++)
        if (name && !strcmp(name, metric_names[i])) {
            if (out) *out = (trdi_metric)i;
            return TRDI_OK;
        }
    return trdi_fail(TRDI_ERR_INVALID_ARG,
                     "unknown metric '%s' (psnr, mse, ssim_skimage, ssim_torchmetrics, lpips_alex, "
                     "lpips_squeeze, lpips_vgg)",
                     name ? name : "(null)");
}

int64_t trdi_metric_min_side(trdi_metric m) {
    switch (m) {
    case TRDI_METRIC_PSNR:
    case TRDI_METRIC_MSE:
        return 1;
    case TRDI_METRIC_SSIM_SKIMAGE:
        return 11; /* win_size 11 must fit */
    case TRDI_METRIC_SSIM_TORCHMETRICS:
        return 6; /* reflect padding of 5 */
    case TRDI_METRIC_LPIPS_ALEX:
        return trdi_lpips_min_side(TRDI_LPIPS_ALEX);
    case TRDI_METRIC_LPIPS_SQUEEZE:
        return trdi_lpips_min_side(TRDI_LPIPS_SQUEEZE);
    case TRDI_METRIC_LPIPS_VGG:
        return trdi_lpips_min_side(TRDI_LPIPS_VGG);
    }
    return 0;
}

/* ---- all metrics of a pair ------------------------------------------------------------------- */

trdi_metrics_params trdi_metrics_default_params(void) {
    trdi_metrics_params p = {NULL, NULL, 0};
    return p;
}

static trdi_metric_value unavailable(const char *why) {
    trdi_metric_value v = {false, NAN, why};
    return v;
}

/* One metric on one (possibly masked) pair. `region` picks the PSNR flavour. */
static trdi_status score_one(trdi_metric m, trdi_mask_region region, const trdi_image *a,
                             const trdi_image *b, const trdi_lpips *net, trdi_metric_value *v) {
    int64_t side = a->width < a->height ? a->width : a->height;
    if (m >= TRDI_METRIC_LPIPS_ALEX && !net) {
        *v = unavailable("no LPIPS weights");
        return TRDI_OK;
    }
    if (side < trdi_metric_min_side(m)) {
        *v = unavailable("image too small");
        return TRDI_OK;
    }
    double x = NAN;
    trdi_status st = TRDI_OK;
    switch (m) {
    case TRDI_METRIC_PSNR:
        if (region == TRDI_REGION_FULL) {
            st = trdi_psnr(a, b, &x);
        } else {
            /* torchmetrics PeakSignalNoiseRatio(data_range=1): 10 log10(1 / MSE), inf at 0 */
            st = trdi_mse(a, b, &x);
            if (st == TRDI_OK) x = x > 0.0 ? -10.0 * log10(x) : INFINITY;
        }
        break;
    case TRDI_METRIC_MSE:
        st = trdi_mse(a, b, &x);
        break;
    case TRDI_METRIC_SSIM_SKIMAGE:
        st = trdi_ssim(a, b, &x);
        break;
    case TRDI_METRIC_SSIM_TORCHMETRICS:
        st = trdi_ssim_torchmetrics(a, b, &x);
        break;
    default:
        st = trdi_lpips_score(net, a, b, &x);
        break;
    }
    if (st != TRDI_OK) {
        trdi_error_prefix("%s (%s)", trdi_metric_name(m), trdi_mask_region_name(region));
        return st;
    }
    v->available = true;
    v->value = x;
    v->why = NULL;
    return TRDI_OK;
}

trdi_status trdi_metrics_compute(const trdi_image *reference, const trdi_image *output,
                                 const trdi_metrics_params *p, trdi_metrics *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "metrics_compute: out is NULL");
    trdi_metrics_params d = trdi_metrics_default_params();
    if (!p) p = &d;
    trdi_status st = trdi_image_pair_check(reference, output, "metrics_compute");
    if (st != TRDI_OK) return st;
    if (p->n_lpips < 0 || (p->n_lpips > 0 && !p->lpips))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "metrics_compute: bad LPIPS list (%lld networks)",
                         (long long)p->n_lpips);
    const trdi_lpips *nets[3] = {NULL, NULL, NULL};
    for (int64_t i = 0; i < p->n_lpips; i++) {
        if (!p->lpips[i])
            return trdi_fail(TRDI_ERR_INVALID_ARG, "metrics_compute: LPIPS network %lld is NULL",
                             (long long)i);
        trdi_lpips_net n = trdi_lpips_backbone(p->lpips[i]);
        if (nets[n])
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "metrics_compute: two LPIPS networks with the %s backbone",
                             trdi_lpips_net_name(n));
        nets[n] = p->lpips[i];
    }
    if (p->mask && (!image_valid(p->mask) || p->mask->width != reference->width ||
                    p->mask->height != reference->height))
        return trdi_fail(
            TRDI_ERR_INVALID_ARG, "metrics_compute: mask is %lldx%lld but the images are %lldx%lld",
            p->mask ? (long long)p->mask->width : 0LL, p->mask ? (long long)p->mask->height : 0LL,
            (long long)reference->width, (long long)reference->height);
    trdi_metrics res;
    memset(&res, 0, sizeof res);
    res.masked = p->mask != NULL;
    for (int r = 0; r < 3; r++)
        for (int m = 0; m < TRDI_METRIC_COUNT; m++)
            res.v[r][m] = unavailable("no mask");
    int regions = p->mask ? 3 : 1;
    for (int r = 0; r < regions && st == TRDI_OK; r++) {
        trdi_image ra = {0}, rb = {0};
        const trdi_image *a = reference, *b = output;
        int64_t kept = 1;
        if (r != TRDI_REGION_FULL) {
            st = trdi_image_apply_mask(reference, p->mask, (trdi_mask_region)r, &ra, &kept);
            if (st == TRDI_OK)
                st = trdi_image_apply_mask(output, p->mask, (trdi_mask_region)r, &rb, NULL);
            a = &ra, b = &rb;
        }
        for (int m = 0; m < TRDI_METRIC_COUNT && st == TRDI_OK; m++) {
            if (kept == 0) {
                res.v[r][m] = unavailable("empty region"); /* upstream returns the string "nan" */
                continue;
            }
            const trdi_lpips *net =
                m >= TRDI_METRIC_LPIPS_ALEX ? nets[m - TRDI_METRIC_LPIPS_ALEX] : NULL;
            st = score_one((trdi_metric)m, (trdi_mask_region)r, a, b, net, &res.v[r][m]);
        }
        trdi_image_clear(&ra);
        trdi_image_clear(&rb);
    }
    if (st != TRDI_OK) return st;
    *out = res;
    return TRDI_OK;
}
