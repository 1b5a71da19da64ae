/* test_metrics_basic.c -- PSNR, MSE and SSIM (skimage flavour) against the upstream reference
 * values in tests/data/metrics/metrics.tsv (scikit-image 0.19.3 and torchmetrics 1.5.2 on the
 * image pairs of tests/data/metrics/images), plus the error cases. */
#include "harness.h"
#include "trdi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char pair[64], metric[64], kind[16];
    double value;
} ref_row;

static int load_refs(ref_row *rows, int cap) {
    FILE *f = fopen(TRDI_TEST_DATA "/metrics/metrics.tsv", "r");
    if (!f) return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        if (line[0] == '#') continue;
        char *fields[6] = {0};
        int k = 0;
        for (char *s = line, *tok; k < 6 && (tok = strsep(&s, "\t\n"));)
            fields[k++] = tok;
        if (k < 4) continue;
        ref_row *r = &rows[n++];
        snprintf(r->pair, sizeof r->pair, "%s", fields[0]);
        snprintf(r->metric, sizeof r->metric, "%s", fields[1]);
        snprintf(r->kind, sizeof r->kind, "%s", fields[2]);
        r->value = strcmp(fields[3], "-") ? strtod(fields[3], NULL) : NAN; /* hex: exact */
    }
    fclose(f);
    return n;
}

static const ref_row *find(const ref_row *rows, int n, const char *pair, const char *metric) {
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].pair, pair) && !strcmp(rows[i].metric, metric)) return &rows[i];
    return NULL;
}

/* Compares against a record: "inf" must be +inf exactly, floats within rel * |ref| (+1e-300). */
static void check_value(const ref_row *r, double got, double rel, const char *what) {
    CHECK_MSG(r != NULL, "%s: reference missing", what);
    if (!r) return;
    if (!strcmp(r->kind, "inf")) {
        CHECK_MSG(isinf(got) && got > 0, "%s: expected +inf, got %.17g", what, got);
    } else {
        CHECK_MSG(!strcmp(r->kind, "float"), "%s: unexpected kind %s", what, r->kind);
        double tol = rel * fabs(r->value) + 1e-300;
        CHECK_MSG(fabs(got - r->value) <= tol, "%s: got %.17g, want %.17g (|diff| %.3g > %.3g)",
                  what, got, r->value, fabs(got - r->value), tol);
    }
}

int main(void) {
    static ref_row rows[512];
    int n = load_refs(rows, 512);
    CHECK_MSG(n > 0, "cannot read metrics.tsv");
    const char *pairs[] = {"v1_gradients", "v2_perturbed", "v3_noise", "v4_identical"};
    for (int i = 0; i < 4; i++) {
        char pa[512], pb[512], what[128];
        snprintf(pa, sizeof pa, "%s/metrics/images/%s_a.png", TRDI_TEST_DATA, pairs[i]);
        snprintf(pb, sizeof pb, "%s/metrics/images/%s_b.png", TRDI_TEST_DATA, pairs[i]);
        trdi_image a, b;
        trdi_status sa = trdi_image_read(pa, &a), sb = trdi_image_read(pb, &b);
        CHECK_MSG(sa == TRDI_OK && sb == TRDI_OK, "read %s: %s", pairs[i], trdi_last_error());
        if (sa || sb) continue;
        CHECK(a.channels == 3 && b.channels == 3);
        double v = 0;

        /* skimage computes in float64 too; only summation order differs (its running-sum box
         * filter and numpy's pairwise mean round at ~1e-16 relative per operation), so 1e-9
         * relative is a wide margin that still catches any formula difference. */
        snprintf(what, sizeof what, "%s psnr", pairs[i]);
        CHECK(trdi_psnr(&a, &b, &v) == TRDI_OK);
        check_value(find(rows, n, pairs[i], "exp.skimage_psnr"), v, 1e-9, what);
        snprintf(what, sizeof what, "%s ssim", pairs[i]);
        CHECK(trdi_ssim(&a, &b, &v) == TRDI_OK);
        check_value(find(rows, n, pairs[i], "exp.skimage_ssim"), v, 1e-9, what);
        /* PSNR and SSIM are symmetric in their arguments. */
        double v2 = 0;
        CHECK(trdi_ssim(&b, &a, &v2) == TRDI_OK);
        CHECK_NEAR(v2, v, 1e-12);

        /* torchmetrics' MSE is float32 (the README's float64 diagnostics: <= 1.1e-7 relative to
         * the same computation in float64, which is what this is); 1e-6 relative covers that. */
        snprintf(what, sizeof what, "%s mse", pairs[i]);
        CHECK(trdi_mse(&a, &b, &v) == TRDI_OK);
        check_value(find(rows, n, pairs[i], "eval.mse"), v, 1e-6, what);

        /* An image against itself: PSNR +inf, SSIM exactly 1, MSE exactly 0. */
        CHECK(trdi_psnr(&a, &a, &v) == TRDI_OK && isinf(v) && v > 0);
        CHECK(trdi_ssim(&a, &a, &v) == TRDI_OK && v == 1.0);
        CHECK(trdi_mse(&a, &a, &v) == TRDI_OK && v == 0.0);

        /* Mismatched sizes are errors, and the output is zeroed. */
        trdi_image small;
        CHECK(trdi_image_crop(&a, 0, 0, a.width - 1, a.height, &small) == TRDI_OK);
        v = 42;
        CHECK(trdi_psnr(&a, &small, &v) == TRDI_ERR_INVALID_ARG && v == 0);
        CHECK(trdi_ssim(&a, &small, &v) == TRDI_ERR_INVALID_ARG);
        CHECK(trdi_mse(&small, &a, &v) == TRDI_ERR_INVALID_ARG);
        CHECK(strstr(trdi_last_error(), "differ") != NULL);
        trdi_image_clear(&small);
        trdi_image gray;
        CHECK(trdi_image_convert(&a, 1, &gray) == TRDI_OK);
        CHECK(trdi_psnr(&a, &gray, &v) == TRDI_ERR_INVALID_ARG);
        trdi_image_clear(&gray);
        trdi_image_clear(&a);
        trdi_image_clear(&b);
    }

    /* SSIM needs both sides >= 11 (skimage raises ValueError below); 11 x 11 works. */
    trdi_image s10, s11a, s11b, wide;
    CHECK(trdi_image_alloc(10, 40, 3, &s10) == TRDI_OK);
    CHECK(trdi_image_alloc(11, 11, 1, &s11a) == TRDI_OK);
    CHECK(trdi_image_alloc(11, 11, 1, &s11b) == TRDI_OK);
    CHECK(trdi_image_alloc(40, 10, 3, &wide) == TRDI_OK);
    double v = -1;
    CHECK(trdi_ssim(&s10, &s10, &v) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "window") != NULL);
    CHECK(trdi_ssim(&wide, &wide, &v) == TRDI_ERR_INVALID_ARG);
    for (int i = 0; i < 121; i++)
        s11b.data[i] = (uint8_t)(i * 2);
    CHECK(trdi_ssim(&s11a, &s11b, &v) == TRDI_OK && v < 1.0 && v > -1.0);
    /* PSNR works at any size (skimage too). */
    CHECK(trdi_psnr(&s10, &s10, &v) == TRDI_OK && isinf(v));
    /* NULL and empty inputs. */
    trdi_image empty = {0};
    CHECK(trdi_psnr(&empty, &s10, &v) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_mse(NULL, &s10, &v) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_ssim(&s10, &s10, NULL) == TRDI_ERR_INVALID_ARG);
    trdi_image_clear(&s10);
    trdi_image_clear(&s11a);
    trdi_image_clear(&s11b);
    trdi_image_clear(&wide);
    return TEST_SUMMARY();
}
