/* image_resize.c -- bicubic resizing of 8-bit images as Pillow 9.x does it (Image.resize with
 * Image.BICUBIC, no box, no reducing_gap; libImaging/Resample.c). Not here: other filters.
 *
 * What is matched: the separable two-pass resampler. For each output coordinate xx the input
 * window is centred at (xx + 0.5) * scale with scale = in / out; the kernel is the bicubic
 * convolution kernel with a = -0.5 (support 2), stretched by max(scale, 1) when downscaling
 * (antialiasing); the window is [int(c - support + 0.5), int(c + support + 0.5)) clipped to the
 * image, weights are evaluated at (x - c + 0.5) / max(scale, 1), normalised to sum 1 and then
 * rounded to signed 22-bit fixed point. Each sample is (2^21 + sum p * w) >> 22 clamped to 0..255.
 * The horizontal pass runs first and its result is stored as uint8; a side whose size does not
 * change is not filtered. */
#include "core/core.h"
#include "io/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PRECISION_BITS = 32 - 8 - 2 };

/* Keys' cubic convolution kernel with a = -0.5 (Pillow's bicubic_filter). */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

typedef struct {
    int64_t ksize;
    int64_t *start; /* (out) first input index of each window */
    int64_t *count; /* (out) window length */
    int32_t *k;     /* (out, ksize) fixed-point weights */
} coeffs;

static void coeffs_free(coeffs *c) {
    free(c->start);
    free(c->count);
    free(c->k);
    memset(c, 0, sizeof *c);
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
static trdi_status coeffs_build(int64_t in_size, int64_t out_size, coeffs *c) {
    memset(c, 0, sizeof *c);
    const double support0 = 2.0;
    double scale = (double)in_size / (double)out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = support0 * filterscale;
    c->ksize = (int64_t)ceil(support) * 2 + 1;
    c->start = trdi_mallocn((size_t)out_size, sizeof *c->start);
    c->count = trdi_mallocn((size_t)out_size, sizeof *c->count);
    c->k = trdi_calloc((size_t)out_size * (size_t)c->ksize, sizeof *c->k);
    double *w = trdi_mallocn((size_t)c->ksize, sizeof *w);
    if (!c->start || !c->count || !c->k || !w) {
        free(w);
        coeffs_free(c);
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory for resize coefficients");
    }
    double ss = 1.0 / filterscale;
    for (int64_t xx = 0; xx < out_size; xx++) {
        double center = ((double)xx + 0.5) * scale;
        /* C casts truncate toward zero, as in Pillow; the clamps make that harmless. */
        int64_t xmin = (int64_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xmax = (int64_t)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > c->ksize) xmax = c->ksize; /* cannot happen; keeps writes in bounds */
        double ww = 0.0;
        for (int64_t x = 0; x < xmax; x++) {
            w[x] = bicubic(((double)(x + xmin) - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + xx * c->ksize;
        for (int64_t x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            double f = v * (double)(1 << PRECISION_BITS);
            k[x] = v < 0 ? (int32_t)(-0.5 + f) : (int32_t)(0.5 + f);
        }
        c->start[xx] = xmin;
        c->count[xx] = xmax;
    }
    free(w);
    return TRDI_OK;
}

static uint8_t clip8(int64_t acc) {
    int64_t v = acc >> PRECISION_BITS; /* arithmetic shift: floor, as Pillow's lookup */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One pass along x (horizontal) of a (h, w_in, ch) image into (h, w_out, ch). */
static void pass_h(const uint8_t *in, int64_t h, int64_t w_in, int64_t ch, const coeffs *c,
                   int64_t w_out, uint8_t *out) {
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *row = in + y * w_in * ch;
        for (int64_t xx = 0; xx < w_out; xx++) {
            const int32_t *k = c->k + xx * c->ksize;
            for (int64_t b = 0; b < ch; b++) {
                int64_t acc = (int64_t)1 << (PRECISION_BITS - 1);
                for (int64_t x = 0; x < c->count[xx]; x++)
                    acc += (int64_t)row[(c->start[xx] + x) * ch + b] * k[x];
                out[(y * w_out + xx) * ch + b] = clip8(acc);
            }
        }
    }
}

/* One pass along y (vertical) of a (h_in, w, ch) image into (h_out, w, ch). */
static void pass_v(const uint8_t *in, int64_t w, int64_t ch, const coeffs *c, int64_t h_out,
                   uint8_t *out) {
    int64_t stride = w * ch;
    for (int64_t yy = 0; yy < h_out; yy++) {
        const int32_t *k = c->k + yy * c->ksize;
        for (int64_t i = 0; i < stride; i++) {
            int64_t acc = (int64_t)1 << (PRECISION_BITS - 1);
            for (int64_t y = 0; y < c->count[yy]; y++)
                acc += (int64_t)in[(c->start[yy] + y) * stride + i] * k[y];
            out[yy * stride + i] = clip8(acc);
        }
    }
}

trdi_status trdi_image_resize(const trdi_image *in, int64_t width, int64_t height,
                              trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_image_resize: out is NULL");
    trdi_status st = trdi_image_check(in, "trdi_image_resize");
    if (st) return st;
    if (width < 1 || height < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "resize target %lldx%lld: both sides must be >= 1",
                         (long long)width, (long long)height);
    if (width == in->width && height == in->height) return trdi_image_copy(in, out);
    int64_t ch = in->channels;
    trdi_image mid = {0};
    const trdi_image *src = in;
    if (width != in->width) {
        coeffs c;
        st = coeffs_build(in->width, width, &c);
        if (st) return st;
        st = trdi_image_alloc(width, in->height, ch, &mid);
        if (st) {
            coeffs_free(&c);
            return st;
        }
        pass_h(in->data, in->height, in->width, ch, &c, width, mid.data);
        coeffs_free(&c);
        src = &mid;
    }
    if (height == src->height) {
        *out = mid; /* only the horizontal pass was needed */
        return TRDI_OK;
    }
    coeffs c;
    st = coeffs_build(src->height, height, &c);
    if (!st) st = trdi_image_alloc(width, height, ch, out);
    if (st) {
        coeffs_free(&c);
        trdi_image_clear(&mid);
        return st;
    }
    pass_v(src->data, width, ch, &c, height, out->data);
    coeffs_free(&c);
    trdi_image_clear(&mid);
    return TRDI_OK;
}
