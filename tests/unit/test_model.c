/* test_model.c -- the public trdi_model handle on the Gaussian mixture: loading (built-in, image
 * folder, JSON) with their errors, the denoiser view, conditioning, the identity "VAE" and the
 * built-in test image. Folders and JSON files are made in a temporary folder at test time. */
#include "harness.h"
#include "model/gmm.h"
#include "model/model.h"
#include "trdi.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void test_builtin(void) {
    trdi_model *m = NULL;
    CHECK(trdi_model_load("builtin", NULL, &m) == TRDI_OK);
    if (!m) return;
    CHECK(!strcmp(trdi_model_kind(m), "gmm"));
    int64_t c, h, w;
    trdi_model_latent_shape(m, &c, &h, &w);
    CHECK(c == 3 && h == 32 && w == 32);
    trdi_model_image_shape(m, &c, &h, &w);
    CHECK(c == 3 && h == 32 && w == 32);
    CHECK(trdi_model_num_labels(m) == 4);
    const char *want[] = {"circle", "stripes", "checker", "gradient"};
    for (int i = 0; i < 4; i++)
        CHECK(!strcmp(trdi_model_label(m, i), want[i]));
    CHECK(trdi_model_label(m, 4) == NULL);

    /* The schedule is SD 1.5's: same table as one built from trdi_noise_config_default(). */
    const trdi_noise_schedule *s = trdi_model_noise_schedule(m);
    trdi_noise_config cfg = trdi_noise_config_default();
    trdi_noise_schedule *ref = NULL;
    CHECK(trdi_noise_schedule_create(&cfg, &ref) == TRDI_OK);
    CHECK(trdi_noise_schedule_config(s)->num_train_timesteps == 1000);
    CHECK(!memcmp(trdi_noise_schedule_alphas_cumprod(s), trdi_noise_schedule_alphas_cumprod(ref),
                  1000 * sizeof(float)));
    trdi_noise_schedule_free(ref);

    /* The test image is none of the means (decoded means differ from it by far more than the
     * noise of a component: PSNR < 20 dB), and encode/decode round-trips it exactly. */
    trdi_image test, back;
    CHECK(trdi_model_builtin_test_image(m, &test) == TRDI_OK);
    CHECK(test.width == 32 && test.height == 32 && test.channels == 3);
    gmm *g = trdi_model_impl(m, "gmm");
    CHECK(g != NULL && trdi_model_impl(m, "sd") == NULL);
    CHECK(gmm_num_components(g) == 4);
    for (int k = 0; k < 4; k++) {
        CHECK(trdi_model_decode(m, gmm_mean(g, k), &back) == TRDI_OK);
        double p = 0;
        CHECK(trdi_psnr(&test, &back, &p) == TRDI_OK);
        CHECK_MSG(p < 20, "test image too close to component %d (%.1f dB)", k, p);
        /* Means are exactly representable images: decode then encode gives them back. */
        float lat[3072];
        CHECK(trdi_model_encode(m, &back, lat) == TRDI_OK);
        CHECK(!memcmp(lat, gmm_mean(g, k), sizeof lat));
        trdi_image_clear(&back);
    }
    float *lat = malloc(3072 * sizeof *lat);
    CHECK(trdi_model_encode(m, &test, lat) == TRDI_OK);
    /* (C, H, W) order, values 2 p / 255 - 1. */
    CHECK_NEAR(lat[1024 + 5 * 32 + 7], 2.0 * test.data[(5 * 32 + 7) * 3 + 1] / 255.0 - 1.0, 1e-6);
    CHECK(trdi_model_decode(m, lat, &back) == TRDI_OK);
    CHECK(!memcmp(back.data, test.data, 3072));
    trdi_image_clear(&back);
    /* Out-of-range latents clamp; non-finite ones are errors. */
    lat[0] = 7.0f, lat[1] = -3.0f;
    CHECK(trdi_model_decode(m, lat, &back) == TRDI_OK && back.data[0] == 255 && back.data[3] == 0);
    trdi_image_clear(&back);
    lat[2] = NAN;
    CHECK(trdi_model_decode(m, lat, &back) == TRDI_ERR_NUMERIC && back.data == NULL);

    /* encode wants the model's size; prepare_image fits any image to it. */
    trdi_image big, fitted;
    CHECK(trdi_image_alloc(64, 48, 1, &big) == TRDI_OK);
    memset(big.data, 100, 64 * 48);
    CHECK(trdi_model_encode(m, &big, lat) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "prepare") != NULL);
    CHECK(trdi_model_prepare_image(m, &big, &fitted) == TRDI_OK);
    CHECK(fitted.width == 32 && fitted.height == 32 && fitted.channels == 3);
    CHECK(fitted.data[0] == 100 && fitted.data[3071] == 100); /* constant stays constant */
    CHECK(trdi_model_encode(m, &fitted, lat) == TRDI_OK);
    trdi_image_clear(&fitted);
    trdi_image_clear(&big);
    CHECK(trdi_model_prepare_image(m, &test, &fitted) == TRDI_OK);
    CHECK(!memcmp(fitted.data, test.data, 3072));
    trdi_image_clear(&fitted);

    /* The denoiser: latent dims, exact eps equal to the mixture's at a = alphas_cumprod[t]. */
    trdi_denoiser den;
    CHECK(trdi_model_denoiser(m, &den) == TRDI_OK);
    CHECK(den.channels == 3 && den.height == 32 && den.width == 32 && den.predict && den.vjp);
    CHECK(trdi_model_encode(m, &test, lat) == TRDI_OK);
    float *eps = malloc(2 * 3072 * sizeof *eps), *x2 = malloc(2 * 3072 * sizeof *x2);
    double *xd = malloc(3072 * sizeof *xd), *ed = malloc(3072 * sizeof *ed);
    const float *ac = trdi_noise_schedule_alphas_cumprod(s);
    const void *stripes = NULL, *any = NULL;
    CHECK(trdi_model_condition(m, "some stripes", &stripes) == TRDI_OK && stripes != NULL);
    CHECK(trdi_model_condition(m, "", &any) == TRDI_OK);
    CHECK(trdi_model_condition(m, "a triangle", &any) == TRDI_ERR_INVALID_ARG && any == NULL);
    CHECK(trdi_model_condition(m, "", &any) == TRDI_OK);
    int64_t ts[] = {0, 1, 250, 500, 999};
    for (int i = 0; i < 5; i++) {
        int64_t t = ts[i];
        memcpy(x2, lat, 3072 * sizeof *x2);
        memcpy(x2 + 3072, lat, 3072 * sizeof *x2);
        const void *conds[2] = {NULL, stripes};
        CHECK(den.predict(den.ctx, 2, x2, t, conds, eps) == TRDI_OK);
        for (int j = 0; j < 3072; j++)
            xd[j] = lat[j];
        CHECK(gmm_eval(g, NULL, ac[t], xd, NULL, ed, NULL, NULL) == TRDI_OK);
        double err = 0;
        for (int j = 0; j < 3072; j++)
            err = fmax(err, fabs(eps[j] - ed[j]) / (1 + fabs(ed[j])));
        CHECK_MSG(err <= 1e-6, "t=%lld: float eps vs double: %.3g", (long long)t,
                  err); /* float rounding */
        /* The conditioned item predicts x0 closer to the stripes than the unconditional one
         * does (the mechanism guidance and editing rely on): the test image is circle-like. */
        if (t >= 250) {
            const float *mu = gmm_mean(g, 1);
            double d_unc = 0, d_cond = 0, sa = sqrt(ac[t]), s1 = sqrt(1 - ac[t]);
            for (int j = 0; j < 3072; j++) {
                double x0u = (lat[j] - s1 * eps[j]) / sa, x0c = (lat[j] - s1 * eps[3072 + j]) / sa;
                d_unc += (x0u - mu[j]) * (x0u - mu[j]);
                d_cond += (x0c - mu[j]) * (x0c - mu[j]);
            }
            CHECK_MSG(d_cond < d_unc, "t=%lld: conditioning did not move toward the stripes",
                      (long long)t);
        }
    }
    /* Out-of-range timesteps and a NULL x are errors; vjp works through the handle. */
    CHECK(den.predict(den.ctx, 1, lat, 1000, NULL, eps) == TRDI_ERR_INVALID_ARG);
    CHECK(den.predict(den.ctx, 1, lat, -1, NULL, eps) == TRDI_ERR_INVALID_ARG);
    CHECK(den.predict(den.ctx, 0, lat, 10, NULL, eps) == TRDI_ERR_INVALID_ARG);
    CHECK(den.predict(den.ctx, 1, NULL, 10, NULL, eps) == TRDI_ERR_INVALID_ARG);
    CHECK(den.vjp(den.ctx, 1, lat, 300, NULL, lat, eps) == TRDI_OK);
    free(eps), free(x2), free(xd), free(ed), free(lat);
    trdi_image_clear(&test);
    trdi_model_free(m);
    trdi_model_free(NULL);

    /* Size/channel parameters and their validation. */
    trdi_model_params p = trdi_model_default_params();
    CHECK(p.variance == 0.05 && p.width == 0);
    p.width = 16, p.height = 12, p.channels = 1;
    CHECK(trdi_model_load("builtin", &p, &m) == TRDI_OK);
    trdi_model_latent_shape(m, &c, &h, &w);
    CHECK(c == 1 && h == 12 && w == 16);
    trdi_model_free(m);
    p.height = 0;
    CHECK(trdi_model_load("builtin", &p, &m) == TRDI_ERR_INVALID_ARG && m == NULL);
    p = trdi_model_default_params();
    p.variance = -1;
    CHECK(trdi_model_load("builtin", &p, &m) == TRDI_ERR_INVALID_ARG);
    p.variance = NAN;
    CHECK(trdi_model_load("builtin", &p, &m) == TRDI_ERR_INVALID_ARG);
    p = trdi_model_default_params();
    p.channels = 2;
    CHECK(trdi_model_load("builtin", &p, &m) == TRDI_ERR_INVALID_ARG);
}

static void write_pattern(const char *name, const char *file, int64_t w, int64_t h) {
    trdi_image im;
    CHECK(gmm_pattern_render(name, w, h, 3, &im) == TRDI_OK);
    CHECK(trdi_image_write(tpath(file), &im, 95) == TRDI_OK);
    trdi_image_clear(&im);
}

static void test_folder(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/imgs", tmpdir);
    mkdir(dir, 0755);
    write_pattern("circle", "imgs/cat.png", 24, 24);
    write_pattern("stripes", "imgs/Dog.JPG", 24, 24);
    write_text(tpath("imgs/readme.txt"), "not an image");
    write_text(tpath("imgs/.hidden.png"), "garbage, but hidden");
    trdi_model *m = NULL;
    trdi_status st = trdi_model_load(dir, NULL, &m);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (m) {
        int64_t c, h, w;
        trdi_model_image_shape(m, &c, &h, &w);
        CHECK(c == 3 && h == 24 && w == 24);
        CHECK(trdi_model_num_labels(m) == 2);
        CHECK(!strcmp(trdi_model_label(m, 0), "Dog") && !strcmp(trdi_model_label(m, 1), "cat"));
        gmm *g = trdi_model_impl(m, "gmm");
        const void *dog;
        CHECK(trdi_model_condition(m, "a DOG running", &dog) == TRDI_OK);
        CHECK(gmm_selected(g, dog, 0) && !gmm_selected(g, dog, 1));
        CHECK(gmm_variance(g, 0) == 0.05);
        /* The PNG component's mean is its pixels exactly. */
        trdi_image cat, dec;
        CHECK(trdi_image_read(tpath("imgs/cat.png"), &cat) == TRDI_OK);
        CHECK(trdi_model_decode(m, gmm_mean(g, 1), &dec) == TRDI_OK);
        CHECK(!memcmp(cat.data, dec.data, 24 * 24 * 3));
        trdi_image_clear(&cat);
        trdi_image_clear(&dec);
        trdi_image test;
        CHECK(trdi_model_builtin_test_image(m, &test) == TRDI_OK && test.width == 24);
        trdi_image_clear(&test);
        trdi_model_free(m);
    }
    /* A differently sized image: an error naming it, unless a size is given. */
    write_pattern("checker", "imgs/big.png", 40, 30);
    CHECK(trdi_model_load(dir, NULL, &m) == TRDI_ERR_INVALID_ARG && m == NULL);
    CHECK(strstr(trdi_last_error(), "big.png") != NULL);
    trdi_model_params p = trdi_model_default_params();
    p.width = 16, p.height = 16, p.variance = 0.05;
    CHECK(trdi_model_load(dir, &p, &m) == TRDI_OK);
    if (m) {
        CHECK(trdi_model_num_labels(m) == 3);
        CHECK(gmm_variance(trdi_model_impl(m, "gmm"), 2) == 0.05);
        trdi_model_free(m);
    }
    /* A corrupt image: a format error naming it. */
    write_text(tpath("imgs/broken.png"), "\x89PNG\r\n\x1a\n garbage");
    CHECK(trdi_model_load(dir, &p, &m) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "broken.png") != NULL);
    /* An empty folder. */
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty", tmpdir);
    mkdir(empty, 0755);
    CHECK(trdi_model_load(empty, NULL, &m) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "no .png") != NULL);
    /* A diffusers folder is recognised and loaded as Stable Diffusion. */
    CHECK(trdi_model_load(TRDI_TEST_DATA "/sd15-tiny/model", NULL, &m) == TRDI_OK);
    CHECK(m && !strcmp(trdi_model_kind(m), "sd"));
    CHECK(trdi_model_set_vae_sample(m, true, 7) == TRDI_OK);
    trdi_model_free(m);
    m = NULL;
    /* Not a model at all. */
    CHECK(trdi_model_load(tpath("nope"), NULL, &m) == TRDI_ERR_IO);
    CHECK(trdi_model_load(tpath("imgs/readme.txt"), NULL, &m) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_model_load("", NULL, &m) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_model_load(NULL, NULL, &m) == TRDI_ERR_INVALID_ARG);
}

/* Writes `json` to a file and loads it; returns the status. */
static trdi_status load_json(const char *json, trdi_model **m) {
    write_text(tpath("m.json"), json);
    return trdi_model_load(tpath("m.json"), NULL, m);
}

static void test_json(void) {
    write_pattern("gradient", "photo.png", 20, 20);
    trdi_model *m = NULL;
    trdi_status st =
        load_json("{\"width\": 16, \"height\": 12, \"channels\": 3, \"variance\": 0.02,\n"
                  " \"components\": [\n"
                  "   {\"label\": \"circle\", \"pattern\": \"circle\", \"weight\": 2},\n"
                  "   {\"label\": \"photo\", \"image\": \"photo.png\", \"variance\": 0.05},\n"
                  "   {\"pattern\": \"stripes\"}],\n"
                  " \"test_image\": {\"pattern\": \"checker\"},\n"
                  " \"noise_schedule\": {\"beta_schedule\": \"linear\", \"beta_start\": 0.0001,\n"
                  "                      \"beta_end\": 0.02, \"num_train_timesteps\": 500}}",
                  &m);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (m) {
        int64_t c, h, w;
        trdi_model_image_shape(m, &c, &h, &w);
        CHECK(c == 3 && h == 12 && w == 16);
        gmm *g = trdi_model_impl(m, "gmm");
        CHECK(gmm_num_components(g) == 3 && trdi_model_num_labels(m) == 2);
        CHECK_NEAR(gmm_weight(g, 0), 0.5, 1e-15); /* 2 / (2 + 1 + 1) */
        CHECK(gmm_variance(g, 0) == 0.02 && gmm_variance(g, 1) == 0.05);
        CHECK(gmm_label(g, 2) == NULL);
        const trdi_noise_config *cfg = trdi_noise_schedule_config(trdi_model_noise_schedule(m));
        CHECK(cfg->num_train_timesteps == 500 && cfg->beta_schedule == TRDI_BETA_LINEAR);
        CHECK(cfg->steps_offset == 1); /* untouched fields keep SD 1.5's values */
        trdi_denoiser den;
        CHECK(trdi_model_denoiser(m, &den) == TRDI_OK);
        float x[16 * 12 * 3] = {0}, e[16 * 12 * 3];
        CHECK(den.predict(den.ctx, 1, x, 499, NULL, e) == TRDI_OK);
        CHECK(den.predict(den.ctx, 1, x, 500, NULL, e) == TRDI_ERR_INVALID_ARG);
        /* The test image is the checker pattern at the model's size. */
        trdi_image test, chk;
        CHECK(trdi_model_builtin_test_image(m, &test) == TRDI_OK);
        CHECK(gmm_pattern_render("checker", 16, 12, 3, &chk) == TRDI_OK);
        CHECK(!memcmp(test.data, chk.data, 16 * 12 * 3));
        trdi_image_clear(&test);
        trdi_image_clear(&chk);
        /* The unlabelled component is selected only by "". */
        const void *cond;
        CHECK(trdi_model_condition(m, "photo", &cond) == TRDI_OK);
        CHECK(!gmm_selected(g, cond, 2) && gmm_selected(g, cond, 1));
        trdi_model_free(m);
    }
    /* Without a size, the first image fixes it and patterns follow. */
    st = load_json("{\"components\": [{\"pattern\": \"circle\"}, {\"image\": \"photo.png\"}]}", &m);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (m) {
        int64_t c, h, w;
        trdi_model_image_shape(m, &c, &h, &w);
        CHECK(c == 3 && h == 20 && w == 20);
        trdi_model_free(m);
    }
    /* Patterns only, no size: 32 x 32. */
    CHECK(load_json("{\"components\": [{\"pattern\": \"circle\", \"label\": \"c\"}]}", &m) ==
          TRDI_OK);
    if (m) {
        int64_t c, h, w;
        trdi_model_image_shape(m, &c, &h, &w);
        CHECK(c == 3 && h == 32 && w == 32);
        trdi_model_free(m);
    }
    /* Errors, each naming the field at fault. */
    struct {
        const char *json, *needle;
        trdi_status st;
    } bad[] = {
        {"{\"components\": [{\"pattern\": \"circle\"}], \"colour\": 1}", "colour",
         TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\", \"image\": \"photo.png\"}]}", "exactly one",
         TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"label\": \"x\"}]}", "exactly one", TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"square\"}]}", "square", TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\", \"variance\": -0.1}]}", "variance",
         TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\", \"weight\": 0}]}", "weight",
         TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\", \"weight\": 1e999}]}", "weight",
         TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\", \"weight\": \"1\"}]}", "weight",
         TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\"}]", "JSON", TRDI_ERR_FORMAT},
        {"", "JSON", TRDI_ERR_FORMAT},
        {"[1, 2]", "object", TRDI_ERR_INVALID_ARG},
        {"{\"components\": []}", "components", TRDI_ERR_INVALID_ARG},
        {"{\"width\": 8}", "height", TRDI_ERR_INVALID_ARG},
        {"{\"width\": 0, \"height\": 8, \"components\": [{\"pattern\": \"circle\"}]}", "width",
         TRDI_ERR_INVALID_ARG},
        {"{\"width\": 8.5, \"height\": 8, \"components\": [{\"pattern\": \"circle\"}]}", "width",
         TRDI_ERR_INVALID_ARG},
        {"{\"channels\": 2, \"components\": [{\"pattern\": \"circle\"}]}", "channels",
         TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"image\": \"missing.png\"}]}", "missing.png", TRDI_ERR_IO},
        {"{\"components\": [{\"image\": \"m.json\"}]}", "components[0]", TRDI_ERR_FORMAT},
        {"{\"components\": [{\"pattern\": \"circle\"}], \"noise_schedule\": {\"prediction_type\": "
         "\"v_prediction\"}}",
         "epsilon", TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\"}], \"noise_schedule\": {\"beta_schedule\": "
         "\"cosine\"}}",
         "noise_schedule", TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\"}], \"noise_schedule\": {\"betas\": 1}}",
         "betas", TRDI_ERR_INVALID_ARG},
        {"{\"components\": [{\"pattern\": \"circle\"}], \"test_image\": {\"pattern\": \"nope\"}}",
         "test_image", TRDI_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = (trdi_model *)&st; /* must be reset to NULL */
        trdi_status got = load_json(bad[i].json, &m);
        CHECK_MSG(got == bad[i].st && m == NULL, "case %zu: status %d, want %d (%s)", i, (int)got,
                  (int)bad[i].st, trdi_last_error());
        CHECK_MSG(strstr(trdi_last_error(), bad[i].needle) != NULL,
                  "case %zu: message \"%s\" lacks \"%s\"", i, trdi_last_error(), bad[i].needle);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/trdi_test_model_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_builtin();
    test_folder();
    test_json();
    rm_tree(tmpdir);
    return TEST_SUMMARY();
}
