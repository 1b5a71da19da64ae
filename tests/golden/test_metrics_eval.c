/* test_metrics_eval.c -- the evaluation metrics against the upstream values in
 * tests/data/metrics/metrics.json (copied from shared/refdata/metrics, made by torchmetrics 1.5.2 /
 * 1.3.2, scikit-image 0.19.3 and TRDI's evaluate_my.py): torchmetrics SSIM (whole-map mean and the
 * old border crop), PIE-Bench mask decoding and masking, the masked PSNR / MSE / SSIM, and
 * trdi_metrics_compute's availability rules ("nan" regions, too-small images, no LPIPS weights).
 * LPIPS values are in test_lpips.c. */
#include "harness.h"

#include "metrics_ref.h"

#include <math.h>
#include <string.h>

/* Tolerances (README "Precision and tolerances" of the reference data):
 * - torchmetrics SSIM is float32 upstream and computes E[x^2] - mu^2 in float32, which cancels on
 *   smooth images: upstream's own float32 result is 7.1e-5 (relative) away from its float64 run on
 *   v1_gradients. We sum the filter in double and then follow upstream's float32 expression, so
 *   our value sits within that float32 noise: 2e-4 absolute, the bound the README suggests and
 *   ~3x the largest float32-vs-float64 gap (a wrong window, padding or constant moves SSIM by
 *   1e-2 or more, e.g. the border crop changes v2 by 1.3e-2).
 * - MSE / PSNR are float32 sums upstream (1e-7 relative from float64 in the diagnostics); ours
 *   are double: 1e-5 relative.
 * - scikit-image values are float64 upstream and here: 1e-9 relative. */
#define SSIM_TM_ATOL 2e-4
#define F32_RTOL 1e-5
#define F64_RTOL 1e-9

static double max_ssim_err = 0; /* reported, for the record */

static void check_value(const char *pair, const char *what, const ref_record *want,
                        const trdi_metric_value *got, double rtol, double atol) {
    if (!strcmp(want->kind, "float")) {
        double err = fabs(got->value - want->value);
        CHECK_MSG(got->available && err <= atol + rtol * fabs(want->value),
                  "%s %s: got %.10g (available %d) want %.10g (|diff| %.3g)", pair, what,
                  got->value, (int)got->available, want->value, err);
    } else if (!strcmp(want->kind, "inf")) {
        CHECK_MSG(got->available && isinf(got->value) && got->value > 0, "%s %s: want +inf, got %g",
                  pair, what, got->value);
    } else if (!strcmp(want->kind, "str")) {
        /* TRDI's "nan" string for an empty region: reported as unavailable */
        CHECK_MSG(!strcmp(want->str, "nan") && !got->available && got->why &&
                      !strcmp(got->why, "empty region"),
                  "%s %s: want the empty-region \"nan\", got available %d", pair, what,
                  (int)got->available);
    } else {
        CHECK_MSG(0, "%s %s: unexpected reference kind %s", pair, what, want->kind);
    }
}

/* mask_decode of the pair's RLE must reproduce the stored mask PNG byte for byte. */
static void check_mask_decode(const cJSON *pair, const char *name, const trdi_image *mask) {
    const cJSON *rle = cJSON_GetObjectItemCaseSensitive(pair, "mask_rle");
    int64_t n = cJSON_GetArraySize(rle);
    int64_t *v = calloc((size_t)n + 1, sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (int64_t)cJSON_GetArrayItem(rle, (int)i)->valuedouble;
    trdi_image dec = {0};
    CHECK(trdi_mask_decode_rle(v, n, mask->height, mask->width, &dec) == TRDI_OK);
    CHECK_MSG(dec.data && mask->channels == 1 &&
                  memcmp(dec.data, mask->data, (size_t)(mask->width * mask->height)) == 0,
              "%s: decoded RLE differs from the mask PNG", name);
    /* ones / zeros as the JSON counts them */
    int64_t ones = 0;
    for (int64_t i = 0; dec.data && i < dec.width * dec.height; i++)
        ones += dec.data[i] != 0;
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(pair, "mask_ones");
    CHECK_MSG(cJSON_IsNumber(jo) && ones == (int64_t)jo->valuedouble, "%s: %lld mask ones", name,
              (long long)ones);
    trdi_image_clear(&dec);
    free(v);
}

/* SSIM torchmetrics directly (full, masked, and the <= 1.4.1 border crop). */
static void check_ssim(const char *name, const cJSON *pair, const trdi_image *a,
                       const trdi_image *b, const trdi_image *mask) {
    const char *regions[3] = {"", "_unedit_part", "_edit_part"};
    for (int r = 0; r < 3; r++) {
        trdi_image ma = {0}, mb = {0};
        int64_t kept = -1;
        CHECK(trdi_image_apply_mask(a, mask, (trdi_mask_region)r, &ma, &kept) == TRDI_OK);
        CHECK(trdi_image_apply_mask(b, mask, (trdi_mask_region)r, &mb, NULL) == TRDI_OK);
        for (int old = 0; old < 2; old++) {
            char key[64];
            snprintf(key, sizeof key, "%s.ssim%s", old ? "eval_tm132" : "eval", regions[r]);
            ref_record want = ref_get(pair, key);
            CHECK_MSG(want.found, "%s: no %s", name, key);
            if (!strcmp(want.kind, "str")) {
                CHECK_MSG(kept == 0, "%s %s: region should be empty", name, key);
                continue;
            }
            float *x = NULL, *y = NULL;
            int64_t c = ma.channels, h = ma.height, w = ma.width;
            x = malloc((size_t)(c * h * w) * sizeof *x);
            y = malloc((size_t)(c * h * w) * sizeof *y);
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t i = 0; i < h * w; i++) {
                    x[ch * h * w + i] = (float)ma.data[i * c + ch] / 255.0f;
                    y[ch * h * w + i] = (float)mb.data[i * c + ch] / 255.0f;
                }
            trdi_ssim_gauss_params p = trdi_ssim_gauss_default_params();
            p.crop_border = old;
            double got = NAN;
            CHECK(trdi_ssim_gauss(x, y, c, h, w, &p, &got) == TRDI_OK);
            double err = fabs(got - want.value);
            if (err > max_ssim_err) max_ssim_err = err;
            CHECK_MSG(err <= SSIM_TM_ATOL, "%s %s: got %.9g want %.9g (|diff| %.3g)", name, key,
                      got, want.value, err);
            if (!old && r == 0) { /* the image-level entry point gives the same number */
                double img = NAN;
                CHECK(trdi_ssim_torchmetrics(a, b, &img) == TRDI_OK && img == got);
            }
            free(x);
            free(y);
        }
        trdi_image_clear(&ma);
        trdi_image_clear(&mb);
    }
}

/* trdi_metrics_compute without LPIPS networks: PSNR / MSE / SSIM in every region, LPIPS
 * unavailable. */
static void check_compute(const char *name, const cJSON *pair, const trdi_image *a,
                          const trdi_image *b, const trdi_image *mask) {
    trdi_metrics_params p = trdi_metrics_default_params();
    p.mask = mask;
    trdi_metrics m;
    CHECK(trdi_metrics_compute(a, b, &p, &m) == TRDI_OK);
    CHECK(m.masked);
    ref_record rec;
    rec = ref_get(pair, "exp.skimage_psnr");
    check_value(name, "psnr", &rec, &m.v[TRDI_REGION_FULL][TRDI_METRIC_PSNR], F64_RTOL, 0);
    rec = ref_get(pair, "exp.skimage_ssim");
    check_value(name, "ssim_skimage", &rec, &m.v[TRDI_REGION_FULL][TRDI_METRIC_SSIM_SKIMAGE],
                F64_RTOL, 0);
    const char *suffix[3] = {"", "_unedit_part", "_edit_part"};
    for (int r = 0; r < 3; r++) {
        char key[64];
        snprintf(key, sizeof key, "eval.mse%s", suffix[r]);
        rec = ref_get(pair, key);
        check_value(name, key, &rec, &m.v[r][TRDI_METRIC_MSE], F32_RTOL, 0);
        snprintf(key, sizeof key, "eval.ssim%s", suffix[r]);
        rec = ref_get(pair, key);
        check_value(name, key, &rec, &m.v[r][TRDI_METRIC_SSIM_TORCHMETRICS], 0, SSIM_TM_ATOL);
        if (r > 0) { /* the masked PSNR is torchmetrics' */
            snprintf(key, sizeof key, "eval.psnr%s", suffix[r]);
            rec = ref_get(pair, key);
            check_value(name, key, &rec, &m.v[r][TRDI_METRIC_PSNR], F32_RTOL, 0);
        }
        for (int l = TRDI_METRIC_LPIPS_ALEX; l <= TRDI_METRIC_LPIPS_VGG; l++) {
            const trdi_metric_value *v = &m.v[r][l];
            CHECK(!v->available && isnan(v->value) && v->why &&
                  (!strcmp(v->why, "no LPIPS weights") || !strcmp(v->why, "empty region")));
        }
    }
    /* the unmasked torchmetrics PSNR equals scikit-image's up to float32 rounding */
    rec = ref_get(pair, "eval.psnr");
    check_value(name, "eval.psnr vs psnr", &rec, &m.v[TRDI_REGION_FULL][TRDI_METRIC_PSNR], F32_RTOL,
                0);

    /* without a mask only the full region is filled */
    trdi_metrics m2;
    CHECK(trdi_metrics_compute(a, b, NULL, &m2) == TRDI_OK);
    CHECK(!m2.masked && !m2.v[TRDI_REGION_EDITED][TRDI_METRIC_MSE].available);
    CHECK(m2.v[TRDI_REGION_FULL][TRDI_METRIC_MSE].value ==
          m.v[TRDI_REGION_FULL][TRDI_METRIC_MSE].value);
}

/* The size limits of small_size_probe: the smallest n x n for which each call returned a float. */
static void check_small_sizes(const cJSON *root) {
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "small_size_probe"), "status");
    const struct {
        const char *call;
        trdi_metric metric;
    } map[] = {{"exp.skimage_psnr", TRDI_METRIC_PSNR},
               {"eval.mse", TRDI_METRIC_MSE},
               {"exp.skimage_ssim", TRDI_METRIC_SSIM_SKIMAGE},
               {"eval.ssim", TRDI_METRIC_SSIM_TORCHMETRICS},
               {"lpips.alex", TRDI_METRIC_LPIPS_ALEX},
               {"lpips.squeeze", TRDI_METRIC_LPIPS_SQUEEZE},
               {"lpips.vgg", TRDI_METRIC_LPIPS_VGG}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        int64_t smallest = -1;
        for (int n = 1; n <= 40 && smallest < 0; n++) {
            char key[16];
            snprintf(key, sizeof key, "%d", n);
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(status, key), map[i].call);
            if (cJSON_IsString(s) && !strcmp(s->valuestring, "float")) smallest = n;
        }
        CHECK_MSG(smallest == trdi_metric_min_side(map[i].metric),
                  "%s: upstream min side %lld, ours %lld", map[i].call, (long long)smallest,
                  (long long)trdi_metric_min_side(map[i].metric));
    }
    /* and compute() reports them unavailable, not as a number: a 5 x 40 pair */
    trdi_image a = {0}, b = {0};
    CHECK(trdi_image_alloc(40, 5, 3, &a) == TRDI_OK && trdi_image_alloc(40, 5, 3, &b) == TRDI_OK);
    for (int64_t i = 0; i < 40 * 5 * 3; i++)
        b.data[i] = (uint8_t)(i * 7);
    trdi_metrics m;
    CHECK(trdi_metrics_compute(&a, &b, NULL, &m) == TRDI_OK);
    CHECK(m.v[0][TRDI_METRIC_PSNR].available && m.v[0][TRDI_METRIC_MSE].available);
    CHECK(!m.v[0][TRDI_METRIC_SSIM_SKIMAGE].available &&
          !strcmp(m.v[0][TRDI_METRIC_SSIM_SKIMAGE].why, "image too small"));
    CHECK(!m.v[0][TRDI_METRIC_SSIM_TORCHMETRICS].available);
    double s = 0;
    CHECK(trdi_ssim_torchmetrics(&a, &b, &s) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "too small") != NULL);
    trdi_image_clear(&a);
    trdi_image_clear(&b);
}

static void check_errors(void) {
    trdi_image a = {0}, b = {0}, mask = {0};
    CHECK(trdi_image_alloc(20, 16, 3, &a) == TRDI_OK);
    CHECK(trdi_image_alloc(20, 17, 3, &b) == TRDI_OK);
    trdi_metrics m;
    m.masked = true;
    CHECK(trdi_metrics_compute(&a, &b, NULL, &m) == TRDI_ERR_INVALID_ARG && !m.masked);
    CHECK(trdi_image_alloc(21, 16, 1, &mask) == TRDI_OK);
    trdi_metrics_params p = trdi_metrics_default_params();
    p.mask = &mask;
    CHECK(trdi_metrics_compute(&a, &a, &p, &m) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "mask is 21x16") != NULL);
    trdi_image out = {0};
    CHECK(trdi_image_apply_mask(&a, &mask, TRDI_REGION_EDITED, &out, NULL) == TRDI_ERR_INVALID_ARG);
    CHECK(out.data == NULL);
    int64_t bad[3] = {0, 5, 7};
    CHECK(trdi_mask_decode_rle(bad, 3, 4, 4, &out) == TRDI_ERR_INVALID_ARG);
    int64_t neg[2] = {3, -1};
    CHECK(trdi_mask_decode_rle(neg, 2, 4, 4, &out) == TRDI_ERR_INVALID_ARG);
    /* a run past the end is cut, a start past the end adds nothing; border frame forced */
    int64_t runs[6] = {6, 2, 12, 100, 99, 3};
    CHECK(trdi_mask_decode_rle(runs, 6, 4, 5, &out) == TRDI_OK);
    int64_t ones = 0;
    for (int i = 0; i < 20; i++)
        ones += out.data[i] == 255;
    /* 4 x 5 frame: 14 pixels; run 6..7 adds 2 interior pixels, run 12..19 (cut) adds 12, 13 */
    CHECK(ones == 14 + 2 + 2 && out.data[6] == 255 && out.data[13] == 255 && out.data[8] == 0);
    trdi_image_clear(&out);
    /* empty masks: unedited region full, edited region empty */
    trdi_image zero = {0};
    CHECK(trdi_image_alloc(20, 16, 1, &zero) == TRDI_OK);
    p.mask = &zero;
    CHECK(trdi_metrics_compute(&a, &a, &p, &m) == TRDI_OK);
    CHECK(m.v[TRDI_REGION_UNEDITED][TRDI_METRIC_MSE].available);
    CHECK(!m.v[TRDI_REGION_EDITED][TRDI_METRIC_MSE].available &&
          !strcmp(m.v[TRDI_REGION_EDITED][TRDI_METRIC_MSE].why, "empty region"));
    CHECK(isinf(m.v[TRDI_REGION_UNEDITED][TRDI_METRIC_PSNR].value));
    /* names round-trip */
    for (int i = 0; i < TRDI_METRIC_COUNT; i++) {
        trdi_metric back;
        CHECK(trdi_metric_from_name(trdi_metric_name((trdi_metric)i), &back) == TRDI_OK &&
              (int)back == i);
    }
    trdi_mask_region r;
    CHECK(trdi_mask_region_from_name("unedited", &r) == TRDI_OK && r == TRDI_REGION_UNEDITED);
    CHECK(trdi_mask_region_from_name("Unedited", &r) == TRDI_ERR_INVALID_ARG);
    trdi_image_clear(&zero);
    trdi_image_clear(&a);
    trdi_image_clear(&b);
    trdi_image_clear(&mask);
}

int main(void) {
    cJSON *root = ref_load();
    CHECK_MSG(root != NULL, "cannot read %s/metrics.json", METRICS_DIR);
    if (!root) return TEST_SUMMARY();
    const cJSON *pairs = cJSON_GetObjectItemCaseSensitive(root, "pairs");
    int n_pairs = 0;
    for (const cJSON *pair = pairs ? pairs->child : NULL; pair; pair = pair->next) {
        const char *name = pair->string;
        trdi_image a = {0}, b = {0}, mask = {0};
        CHECK(ref_image(pair, "a", &a) == TRDI_OK);
        CHECK(ref_image(pair, "b", &b) == TRDI_OK);
        CHECK(ref_image(pair, "mask", &mask) == TRDI_OK);
        if (a.data && b.data && mask.data) {
            n_pairs++;
            check_mask_decode(pair, name, &mask);
            check_ssim(name, pair, &a, &b, &mask);
            check_compute(name, pair, &a, &b, &mask);
        }
        trdi_image_clear(&a);
        trdi_image_clear(&b);
        trdi_image_clear(&mask);
    }
    CHECK(n_pairs >= 4);
    printf("largest |SSIM torchmetrics - upstream|: %.3g over %d pairs\n", max_ssim_err, n_pairs);
    check_small_sizes(root);
    check_errors();
    cJSON_Delete(root);
    return TEST_SUMMARY();
}
