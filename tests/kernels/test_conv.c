/* test_conv.c -- the fast conv-net kernels (kernels/conv.c) against their plain-C references
 * (kernels/ref/conv_ref.c) on a sweep of shapes: odd sizes, stride 2, padding, 1x1, 11x11 stride
 * 4 (AlexNet), scratch too small for all rows (chunked GEMM), batches (one GEMM per image or one
 * for all); plus PyTorch's output-size
 * rules and hand-checked values. */
#include "harness.h"

#include "core/core.h"
#include "kernels/conv.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill_uniform(trdi_rng *rng, float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(trdi_rng_uniform(rng) * 2.0 - 1.0);
}

/* Compares out = conv(x, w) + b against the double-accumulated reference. The float32 GEMM sums
 * kk = c_in*kh*kw products plus the bias in some order: its error is at most
 * gamma_(kk+1) * (sum |w x| + |b|) with gamma_m = m u / (1 - m u), u = 2^-24 (Higham, Accuracy
 * and Stability, eq. 3.5), plus one rounding of the reference's double result. The bound is
 * computed per output element from the reference run on |x|, |w|, |b|, so it is rigorous and
 * still tight enough to catch a wrong tap (an error of order |w x|). */
static void check_conv(trdi_rng *rng, trdi_conv2d_shape s, int64_t rows, bool with_bias) {
    size_t nx = (size_t)(s.n * s.c_in * s.h * s.w);
    size_t nw = (size_t)(s.c_out * s.c_in * s.kh * s.kw);
    int64_t oh = trdi_conv_out_len(s.h, s.kh, s.stride_h, s.pad_h);
    int64_t ow = trdi_conv_out_len(s.w, s.kw, s.stride_w, s.pad_w);
    size_t ny = (size_t)(s.n * s.c_out * oh * ow);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w),
          *b = malloc((size_t)s.c_out * sizeof *b);
    float *ax = malloc(nx * sizeof *x), *aw = malloc(nw * sizeof *w),
          *ab = malloc((size_t)s.c_out * sizeof *b);
    float *y = malloc(ny * sizeof *y), *yr = malloc(ny * sizeof *y),
          *bound = malloc(ny * sizeof *y);
    fill_uniform(rng, x, nx);
    fill_uniform(rng, w, nw);
    fill_uniform(rng, b, (size_t)s.c_out);
    for (size_t i = 0; i < nx; i++)
        ax[i] = fabsf(x[i]);
    for (size_t i = 0; i < nw; i++)
        aw[i] = fabsf(w[i]);
    for (int64_t i = 0; i < s.c_out; i++)
        ab[i] = fabsf(b[i]);
    /* rows < 0: scratch for the batched path (one GEMM for every image) */
    size_t ns = rows < 0 ? trdi_conv2d_scratch_batched(&s) : trdi_conv2d_scratch_floats(&s, rows);
    if (rows < 0 && ns == 0) ns = trdi_conv2d_scratch_floats(&s, 0);
    float *scratch = ns ? malloc(ns * sizeof *scratch) : NULL;
    CHECK(trdi_conv2d(&s, x, w, with_bias ? b : NULL, y, scratch, ns) == TRDI_OK);
    CHECK(trdi_conv2d_ref(&s, x, w, with_bias ? b : NULL, yr) == TRDI_OK);
    CHECK(trdi_conv2d_ref(&s, ax, aw, with_bias ? ab : NULL, bound) == TRDI_OK);
    double u = ldexp(1.0, -24), m = (double)(s.c_in * s.kh * s.kw + 1);
    double gamma = m * u / (1.0 - m * u);
    size_t bad = 0, worst = 0;
    double worst_ratio = 0;
    for (size_t i = 0; i < ny; i++) {
        double tol = gamma * (double)bound[i] * (1.0 + 2.0 * u) + u * fabs((double)yr[i]);
        double err = fabs((double)y[i] - (double)yr[i]);
        if (!(err <= tol)) bad++;
        double ratio = err / (tol + 1e-300);
        if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
    }
    CHECK_MSG(bad == 0,
              "conv n%lld c%lld %lldx%lld -> c%lld k%lldx%lld s%lldx%lld p%lldx%lld rows %lld: %zu "
              "outside the bound, worst [%zu] err/bound %.3g",
              (long long)s.n, (long long)s.c_in, (long long)s.h, (long long)s.w, (long long)s.c_out,
              (long long)s.kh, (long long)s.kw, (long long)s.stride_h, (long long)s.stride_w,
              (long long)s.pad_h, (long long)s.pad_w, (long long)rows, bad, worst, worst_ratio);
    free(x), free(w), free(b), free(ax), free(aw), free(ab), free(y), free(yr), free(bound);
    free(scratch);
}

static trdi_conv2d_shape shp(int64_t n, int64_t ci, int64_t h, int64_t w, int64_t co, int64_t kh,
                             int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
    trdi_conv2d_shape s = {n, ci, h, w, co, kh, kw, sh, sw, ph, pw};
    return s;
}

/* im2row: one image's patches as rows; their product with W^T (the reference GEMM) equals the
 * reference convolution, transposed. Same error bound as check_conv (kk + 1 terms). */
static void check_im2row(trdi_rng *rng, trdi_conv2d_shape s) {
    int64_t oh = trdi_conv_out_len(s.h, s.kh, s.stride_h, s.pad_h);
    int64_t ow = trdi_conv_out_len(s.w, s.kw, s.stride_w, s.pad_w);
    int64_t kk = s.c_in * s.kh * s.kw, plane = oh * ow;
    float *x = malloc((size_t)(s.c_in * s.h * s.w) * sizeof(float));
    float *w = malloc((size_t)(s.c_out * kk) * sizeof(float));
    float *a = malloc((size_t)(plane * kk) * sizeof(float));
    float *c = malloc((size_t)(plane * s.c_out) * sizeof(float));
    float *y = malloc((size_t)(s.c_out * plane) * sizeof(float));
    fill_uniform(rng, x, (size_t)(s.c_in * s.h * s.w));
    fill_uniform(rng, w, (size_t)(s.c_out * kk));
    trdi_im2row(&s, x, a);
    trdi_k_gemm_ref(false, true, plane, s.c_out, kk, 1.0f, a, kk, w, kk, 0.0f, c, s.c_out);
    CHECK(trdi_conv2d_ref(&s, x, w, NULL, y) == TRDI_OK);
    double tol = (double)(kk + 1) * ldexp(1.0, -24) * (double)kk; /* |x|, |w| <= 1 */
    size_t bad = 0;
    for (int64_t p = 0; p < plane; p++)
        for (int64_t co = 0; co < s.c_out; co++)
            if (!(fabs((double)c[p * s.c_out + co] - (double)y[co * plane + p]) <= tol)) bad++;
    CHECK_MSG(bad == 0, "im2row c%lld %lldx%lld k%lld s%lld p%lld: %zu bad", (long long)s.c_in,
              (long long)s.h, (long long)s.w, (long long)s.kh, (long long)s.stride_h,
              (long long)s.pad_h, bad);
    free(x), free(w), free(a), free(c), free(y);
}

static void test_conv_sweep(void) {
    trdi_rng rng;
    trdi_rng_seed(&rng, 42);
    const trdi_conv2d_shape shapes[] = {
        shp(1, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1),     /* odd sizes, same padding */
        shp(1, 3, 17, 13, 8, 3, 3, 2, 2, 0, 0),   /* SqueezeNet conv1: stride 2, no padding */
        shp(2, 5, 12, 11, 6, 3, 3, 2, 2, 1, 1),   /* batch 2, stride 2 + padding */
        shp(1, 16, 9, 10, 32, 1, 1, 1, 1, 0, 0),  /* pointwise: plain GEMM path */
        shp(2, 7, 5, 6, 3, 1, 1, 1, 1, 0, 0),     /* pointwise, batch */
        shp(1, 4, 6, 6, 5, 1, 1, 2, 2, 0, 0),     /* 1x1 stride 2: im2col path */
        shp(1, 3, 35, 33, 6, 11, 11, 4, 4, 2, 2), /* AlexNet conv1 */
        shp(1, 6, 8, 7, 5, 5, 5, 1, 1, 2, 2),     /* AlexNet conv2 shape */
        shp(1, 2, 5, 5, 3, 3, 3, 1, 1, 3, 3),     /* padding larger than needed */
        shp(1, 3, 4, 9, 2, 3, 2, 1, 3, 2, 0),     /* rectangular kernel, mixed stride */
        shp(1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1),     /* 1x1 image, 3x3 kernel */
        shp(1, 64, 6, 8, 20, 3, 3, 1, 1, 1, 1),   /* long reduction (kk = 576) */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_conv(&rng, shapes[i], 0, true);  /* all rows in one GEMM */
        check_conv(&rng, shapes[i], 1, false); /* one row per GEMM */
        check_conv(&rng, shapes[i], 3, true);  /* chunks with a short last one */
        check_conv(&rng, shapes[i], -1, true); /* whole batch in one GEMM (n >= 2) */
    }
    check_conv(&rng, shp(3, 9, 10, 7, 11, 3, 3, 1, 1, 1, 1), -1, false); /* batch 3, no bias */
    check_im2row(&rng, shp(1, 5, 4, 4, 7, 3, 3, 1, 1, 1, 1));  /* the UNet's 3x3 at 4x4 */
    check_im2row(&rng, shp(1, 3, 9, 8, 4, 3, 3, 2, 2, 1, 1));  /* stride 2 (downsample) */
    check_im2row(&rng, shp(1, 2, 5, 6, 3, 3, 2, 1, 3, 2, 0));  /* rectangular, mixed */
    check_im2row(&rng, shp(1, 6, 3, 3, 5, 1, 1, 1, 1, 0, 0));  /* 1x1 */
}

static void test_conv_errors(void) {
    trdi_conv2d_shape s = shp(1, 3, 2, 2, 4, 3, 3, 1, 1, 0, 0); /* 2x2 input, 3x3 kernel */
    float buf[64] = {0};
    CHECK(trdi_conv2d_check(&s) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_conv2d_scratch_floats(&s, 0) == 0);
    CHECK(trdi_conv2d(&s, buf, buf, NULL, buf, buf, 64) == TRDI_ERR_INVALID_ARG);
    s = shp(1, 3, 4, 4, 4, 3, 3, 1, 1, 1, 1);
    size_t one = trdi_conv2d_scratch_floats(&s, 1);
    CHECK(one == 27 * 4);
    CHECK(trdi_conv2d_scratch_floats(&s, 0) == 27 * 16);
    CHECK(trdi_conv2d(&s, buf, buf, NULL, buf, buf, one - 1) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "scratch") != NULL);
    s.stride_h = 0;
    CHECK(trdi_conv2d_check(&s) == TRDI_ERR_INVALID_ARG);
}

/* Hand-checked: a 3x3 box of ones over a 3x3 ramp with zero padding 1. */
static void test_conv_by_hand(void) {
    trdi_conv2d_shape s = shp(1, 1, 3, 3, 1, 3, 3, 1, 1, 1, 1);
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[9], y[9], scratch[81];
    for (int i = 0; i < 9; i++)
        w[i] = 1.0f;
    float b = 0.5f;
    CHECK(trdi_conv2d(&s, x, w, &b, y, scratch, 81) == TRDI_OK);
    /* corners: 1+2+4+5 = 12; centre: 45; top middle: 1+2+3+4+5+6 = 21 */
    CHECK(y[0] == 12.5f && y[4] == 45.5f && y[1] == 21.5f && y[8] == 28.5f);
}

/* PyTorch's pooling_output_shape values, worked by hand from its formula. */
static void test_pool_sizes(void) {
    CHECK(trdi_pool_out_len(8, 3, 2, 0, true) == 4);  /* ceil(5/2)+1 */
    CHECK(trdi_pool_out_len(8, 3, 2, 0, false) == 3); /* floor(5/2)+1 */
    CHECK(trdi_pool_out_len(2, 3, 2, 0, true) == 1);  /* overhanging window kept */
    CHECK(trdi_pool_out_len(1, 3, 2, 0, true) <= 0);  /* PyTorch raises */
    CHECK(trdi_pool_out_len(2, 3, 2, 0, false) <= 0);
    CHECK(trdi_pool_out_len(3, 3, 2, 0, false) == 1);
    CHECK(trdi_pool_out_len(7, 2, 2, 0, false) == 3);
    CHECK(trdi_pool_out_len(5, 3, 2, 1, true) == 3);
    CHECK(trdi_pool_out_len(5, 2, 2, 1, true) == 3); /* a 4th window would start in the padding */
    CHECK(trdi_conv_out_len(30, 11, 4, 2) == 6);
    CHECK(trdi_conv_out_len(2, 3, 1, 0) == 0);
}

static void test_maxpool(void) {
    trdi_rng rng;
    trdi_rng_seed(&rng, 7);
    const int64_t cases[][6] = {
        /* planes, h, w, k, stride, pad; ceil tested both ways */
        {3, 8, 8, 3, 2, 0}, {2, 9, 7, 3, 2, 0}, {4, 6, 11, 2, 2, 0},
        {1, 2, 2, 3, 2, 0}, {2, 5, 5, 3, 2, 1}, {3, 13, 10, 3, 1, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++) {
            int64_t p = cases[c][0], h = cases[c][1], w = cases[c][2], k = cases[c][3];
            int64_t st = cases[c][4], pad = cases[c][5];
            int64_t oh = trdi_pool_out_len(h, k, st, pad, ceil_mode);
            int64_t ow = trdi_pool_out_len(w, k, st, pad, ceil_mode);
            float x[1024], y[1024], yr[1024];
            fill_uniform(&rng, x, (size_t)(p * h * w));
            trdi_status s1 = trdi_maxpool2d(x, p, h, w, k, st, pad, ceil_mode, y);
            trdi_status s2 = trdi_maxpool2d_ref(x, p, h, w, k, st, pad, ceil_mode, yr);
            CHECK(s1 == s2);
            if (s1 == TRDI_OK && oh > 0 && ow > 0) /* a max is exact: bitwise equality */
                CHECK(memcmp(y, yr, (size_t)(p * oh * ow) * sizeof(float)) == 0);
        }
    /* ceil mode's overhanging window: 1x4 row, k 3 s 2 -> windows {0,1,2} and {2,3} */
    float x[4] = {1, 5, 2, 9}, y[2];
    CHECK(trdi_maxpool2d(x, 1, 1, 4, 1, 2, 0, true, y) == TRDI_OK); /* k = 1 sanity */
    CHECK(y[0] == 1 && y[1] == 2);
    float x2[12] = {1, 5, 2, 9, 0, 0, 0, 0, 3, 0, 0, 4}, y2[4];
    CHECK(trdi_maxpool2d(x2, 1, 3, 4, 3, 2, 0, true, y2) == TRDI_OK); /* 3x4 -> 1x2 */
    CHECK(y2[0] == 5 && y2[1] == 9);
    float xn[4] = {1, NAN, 2, 3}, yn[1];
    CHECK(trdi_maxpool2d(xn, 1, 2, 2, 2, 2, 0, false, yn) == TRDI_OK && isnan(yn[0]));
    CHECK(trdi_maxpool2d(x, 1, 1, 1, 3, 2, 0, true, y) == TRDI_ERR_INVALID_ARG);
}

static void test_relu_upsample(void) {
    float x[7] = {-1.0f, 0.0f, 2.5f, -0.0f, 1e-30f, -3.0f, NAN}, y[7], yr[7];
    trdi_relu(x, y, 7);
    trdi_relu_ref(x, yr, 7);
    CHECK(y[0] == 0 && y[2] == 2.5f && y[4] == 1e-30f && y[5] == 0 && isnan(y[6]));
    CHECK(memcmp(y, yr, 6 * sizeof(float)) == 0);
    trdi_relu(x, x, 6); /* in place */
    CHECK(x[0] == 0 && x[2] == 2.5f);

    trdi_rng rng;
    trdi_rng_seed(&rng, 3);
    float u[2 * 3 * 5], v[2 * 6 * 10], vr[2 * 6 * 10];
    fill_uniform(&rng, u, 30);
    trdi_upsample_nearest2x(u, 2, 3, 5, v);
    trdi_upsample_nearest2x_ref(u, 2, 3, 5, vr);
    CHECK(memcmp(v, vr, sizeof v) == 0);
    CHECK(v[0] == u[0] && v[1] == u[0] && v[10] == u[0] && v[11] == u[0] && v[2] == u[1]);
    CHECK(v[60 + 59] == u[29]);
}

static void test_group_norm(void) {
    trdi_rng rng;
    trdi_rng_seed(&rng, 11);
    const int64_t cases[][4] = {{1, 8, 9, 4}, {2, 6, 7, 3}, {1, 32, 25, 32}, {3, 4, 1, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int silu = 0; silu < 2; silu++) {
            int64_t n = cases[c][0], ch = cases[c][1], hw = cases[c][2], g = cases[c][3];
            size_t m = (size_t)(n * ch * hw);
            float *x = malloc(m * sizeof *x), *y = malloc(m * sizeof *y),
                  *yr = malloc(m * sizeof *y);
            float ga[32], be[32];
            fill_uniform(&rng, x, m);
            for (size_t i = 0; i < m; i++)
                x[i] = 3.0f + 2.0f * x[i]; /* offset mean */
            fill_uniform(&rng, ga, (size_t)ch);
            fill_uniform(&rng, be, (size_t)ch);
            CHECK(trdi_group_norm(x, n, ch, hw, g, 1e-5f, ga, be, silu, y) == TRDI_OK);
            CHECK(trdi_group_norm_ref(x, n, ch, hw, g, 1e-5f, ga, be, silu, yr) == TRDI_OK);
            /* Both compute the statistics in double; the fast one applies x*scale + shift in
             * float32 (scale, shift rounded once: |x*scale| <= ~3 and |shift| <= ~4 give a few
             * ulps of 4, ~2e-6) and expf (<= 2 ulp): 1e-5 absolute + 1e-5 relative covers it
             * while a wrong mean or variance would be off by O(0.1). */
            CHECK_TENSOR(y, yr, m, 1e-5, 1e-5);
            /* Without affine: each group has mean ~0 and variance ~1. */
            CHECK(trdi_group_norm(x, n, ch, hw, g, 0.0f, NULL, NULL, false, y) == TRDI_OK);
            int64_t cg = ch / g;
            double s = 0, ss = 0;
            for (int64_t i = 0; i < cg * hw; i++)
                s += y[i], ss += (double)y[i] * y[i];
            if (cg * hw > 1) {
                CHECK_NEAR(s / (double)(cg * hw), 0.0, 1e-5);
                CHECK_NEAR(ss / (double)(cg * hw), 1.0, 1e-5);
            }
            free(x), free(y), free(yr);
        }
    float z[4] = {0};
    CHECK(trdi_group_norm(z, 1, 6, 1, 4, 1e-5f, NULL, NULL, false, z) == TRDI_ERR_INVALID_ARG);
}

int main(void) {
    test_conv_sweep();
    test_conv_errors();
    test_conv_by_hand();
    test_pool_sizes();
    test_maxpool();
    test_relu_upsample();
    test_group_norm();
    return TEST_SUMMARY();
}
