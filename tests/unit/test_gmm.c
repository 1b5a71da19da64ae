/* test_gmm.c -- the exact Gaussian mixture: the analytic noise prediction against finite
 * differences of the log-density, J v against finite differences of eps, closed forms (one
 * component, pure noise), normalisation, label selection and validation. */
#include "core/core.h"
#include "harness.h"
#include "model/gmm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A small mixture (D = 2 x 2 x 3 = 12) with unequal weights and variances, one zero variance. */
static gmm *small_mixture(trdi_rng *rng) {
    enum { K = 3, D = 12 };
    float means[K * D];
    for (int i = 0; i < K * D; i++)
        means[i] = (float)(2.0 * trdi_rng_uniform(rng) - 1.0);
    double w[K] = {0.5, 1.5, 1.0}, v[K] = {0.04, 0.0, 0.2};
    const char *labels[K] = {"cat", "dog", "cat"};
    gmm *g = NULL;
    trdi_status st = gmm_create(K, 3, 2, 2, means, w, v, labels, &g);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    return g;
}

static double logp_at(const gmm *g, const void *cond, double a, const double *x) {
    double lp = NAN;
    if (gmm_eval(g, cond, a, x, &lp, NULL, NULL, NULL) != TRDI_OK) return NAN;
    return lp;
}

/* A point near the noised data: sqrt(a) mu_k + sqrt(1 - a) z, or between two components. */
static void make_point(const gmm *g, trdi_rng *rng, double a, int which, double *x) {
    int64_t d = gmm_dim(g);
    const float *m0 = gmm_mean(g, 0), *m1 = gmm_mean(g, 1);
    for (int64_t j = 0; j < d; j++) {
        double mu = which == 0 ? m0[j] : 0.5 * (m0[j] + m1[j]); /* which 1: between components */
        x[j] = sqrt(a) * mu + sqrt(1 - a) * 0.3 * trdi_rng_normal(rng);
    }
}

/* eps = -sqrt(1 - a) grad log p: central differences with step h = 1e-4 sqrt(v_min), where v_min
 * is the smallest component variance at this level (the scale on which log p curves). The
 * truncation error is h^2/6 |f'''| ~ 1e-8/6 relative to the gradient scale and the round-off
 * ~ 1e-16 |log p| / h <= 1e-7 here, so 2e-6 relative to max |eps| (+1e-9) is a safe bound that a
 * wrong sign, a missing factor or a wrong responsibility would exceed by orders of magnitude. */
static void check_eps_fd(const gmm *g, const void *cond, double a, const double *x,
                         const char *what) {
    int64_t d = gmm_dim(g);
    double *eps = calloc((size_t)d, sizeof *eps), *xp = malloc((size_t)d * sizeof *xp);
    CHECK(gmm_eval(g, cond, a, x, NULL, eps, NULL, NULL) == TRDI_OK);
    double vmin = INFINITY;
    for (int64_t k = 0; k < gmm_num_components(g); k++) {
        double vk = a * gmm_variance(g, k) + 1 - a;
        if (vk < vmin) vmin = vk;
    }
    double h = 1e-4 * sqrt(vmin), emax = 0, err = 0;
    memcpy(xp, x, (size_t)d * sizeof *xp);
    for (int64_t j = 0; j < d; j++) {
        xp[j] = x[j] + h;
        double fp = logp_at(g, cond, a, xp);
        xp[j] = x[j] - h;
        double fm = logp_at(g, cond, a, xp);
        xp[j] = x[j];
        double fd = -sqrt(1 - a) * (fp - fm) / (2 * h);
        if (fabs(eps[j]) > emax) emax = fabs(eps[j]);
        if (fabs(fd - eps[j]) > err) err = fabs(fd - eps[j]);
    }
    CHECK_MSG(err <= 2e-6 * emax + 1e-9, "%s: a=%.5f eps vs FD: max err %.3g (max |eps| %.3g)",
              what, a, err, emax);
    free(eps);
    free(xp);
}

/* J v against (eps(x + h v) - eps(x - h v)) / 2h, the same step rule; also symmetry
 * u.(J v) = v.(J u) (J is minus a Hessian). */
static void check_jv_fd(const gmm *g, const void *cond, double a, const double *x, trdi_rng *rng,
                        const char *what) {
    int64_t d = gmm_dim(g);
    double *v = malloc((size_t)d * sizeof *v), *u = malloc((size_t)d * sizeof *u);
    double *jv = malloc((size_t)d * sizeof *jv), *ju = malloc((size_t)d * sizeof *ju);
    double *ep = malloc((size_t)d * sizeof *ep), *em = malloc((size_t)d * sizeof *em);
    double *xp = malloc((size_t)d * sizeof *xp);
    for (int64_t j = 0; j < d; j++)
        v[j] = trdi_rng_normal(rng), u[j] = trdi_rng_normal(rng);
    CHECK(gmm_eval(g, cond, a, x, NULL, NULL, v, jv) == TRDI_OK);
    CHECK(gmm_eval(g, cond, a, x, NULL, NULL, u, ju) == TRDI_OK);
    double vmin = INFINITY;
    for (int64_t k = 0; k < gmm_num_components(g); k++) {
        double vk = a * gmm_variance(g, k) + 1 - a;
        if (vk < vmin) vmin = vk;
    }
    /* The step is along a direction of norm ~sqrt(D): scale it down accordingly. */
    double h = 1e-4 * sqrt(vmin) / sqrt((double)d);
    for (int64_t j = 0; j < d; j++)
        xp[j] = x[j] + h * v[j];
    CHECK(gmm_eval(g, cond, a, xp, NULL, ep, NULL, NULL) == TRDI_OK);
    for (int64_t j = 0; j < d; j++)
        xp[j] = x[j] - h * v[j];
    CHECK(gmm_eval(g, cond, a, xp, NULL, em, NULL, NULL) == TRDI_OK);
    double jmax = 0, err = 0, uj = 0, vj = 0, scale = 0;
    for (int64_t j = 0; j < d; j++) {
        double fd = (ep[j] - em[j]) / (2 * h);
        if (fabs(jv[j]) > jmax) jmax = fabs(jv[j]);
        if (fabs(fd - jv[j]) > err) err = fabs(fd - jv[j]);
        uj += u[j] * jv[j];
        vj += v[j] * ju[j];
        scale += fabs(u[j] * jv[j]) + fabs(v[j] * ju[j]);
    }
    /* Round-off here is ~1e-16 |eps| / h, a little larger than for the gradient: 1e-5. */
    CHECK_MSG(err <= 1e-5 * jmax + 1e-9, "%s: a=%.5f Jv vs FD: max err %.3g (max |Jv| %.3g)", what,
              a, err, jmax);
    /* Symmetry holds to round-off of the two dot products. */
    CHECK_MSG(fabs(uj - vj) <= 1e-12 * scale + 1e-300, "%s: u.Jv %.17g != v.Ju %.17g", what, uj,
              vj);
    free(v), free(u), free(jv), free(ju), free(ep), free(em), free(xp);
}

static void test_derivatives(void) {
    trdi_rng rng;
    trdi_rng_seed(&rng, 7);
    gmm *g = small_mixture(&rng);
    const void *cats = NULL;
    CHECK(gmm_condition(g, "a cat", &cats) == TRDI_OK);
    /* Levels of SD's table from t = 0 (a = 0.99915) to t = 999 (0.0047), plus the ends. */
    double levels[] = {0.99914997816, 0.95, 0.67379230261, 0.27633246779, 0.05616980419,
                       0.00466009509, 0.0};
    double x[12];
    for (int li = 0; li < 7; li++)
        for (int which = 0; which < 2; which++) {
            make_point(g, &rng, levels[li], which, x);
            check_eps_fd(g, NULL, levels[li], x, "small");
            check_eps_fd(g, cats, levels[li], x, "small|cat");
            check_jv_fd(g, NULL, levels[li], x, &rng, "small");
            check_jv_fd(g, cats, levels[li], x, &rng, "small|cat");
        }
    gmm_free(g);

    /* The built-in mixture (D = 3072): eps and J v at a point off the means (the built-in test
     * image, noised) at three levels. */
    trdi_model_params p = trdi_model_default_params();
    trdi_image test;
    CHECK(gmm_build_builtin(&p, &g, &test) == TRDI_OK);
    int64_t d = gmm_dim(g);
    double *xb = malloc((size_t)d * sizeof *xb);
    double blevels[] = {0.99829602242, 0.67379230261, 0.00466009509};
    for (int li = 0; li < 3; li++) {
        double a = blevels[li];
        for (int64_t c = 0; c < 3; c++)
            for (int64_t i = 0; i < 1024; i++)
                xb[c * 1024 + i] = sqrt(a) * (test.data[i * 3 + c] / 127.5 - 1.0) +
                                   sqrt(1 - a) * trdi_rng_normal(&rng);
        check_eps_fd(g, NULL, a, xb, "builtin");
        check_jv_fd(g, NULL, a, xb, &rng, "builtin");
    }
    free(xb);
    trdi_image_clear(&test);
    gmm_free(g);
}

/* One component: eps = sqrt(1 - a) (x - sqrt(a) mu) / v exactly, J = sqrt(1 - a)/v I; pure noise
 * (a = 0): eps = x whatever the mixture. */
static void test_closed_forms(void) {
    trdi_rng rng;
    trdi_rng_seed(&rng, 11);
    float mu[6];
    for (int i = 0; i < 6; i++)
        mu[i] = (float)(trdi_rng_uniform(&rng) - 0.5);
    double w = 2.0, s2 = 0.09;
    gmm *g = NULL;
    CHECK(gmm_create(1, 1, 2, 3, mu, &w, &s2, NULL, &g) == TRDI_OK);
    double x[6], eps[6], v[6], jv[6];
    double a = 0.3;
    for (int i = 0; i < 6; i++)
        x[i] = trdi_rng_normal(&rng), v[i] = trdi_rng_normal(&rng);
    double lp;
    CHECK(gmm_eval(g, NULL, a, x, &lp, eps, v, jv) == TRDI_OK);
    double var = a * s2 + 1 - a, d2 = 0;
    for (int i = 0; i < 6; i++) {
        double u = x[i] - sqrt(a) * mu[i];
        d2 += u * u;
        /* a handful of double roundings: 1e-14 */
        CHECK_NEAR(eps[i], sqrt(1 - a) * u / var, 1e-14);
        CHECK_NEAR(jv[i], sqrt(1 - a) / var * v[i], 1e-14);
    }
    CHECK_NEAR(lp, -3.0 * log(2 * M_PI * var) - d2 / (2 * var), 1e-12);
    gmm_free(g);

    g = small_mixture(&rng);
    double xs[12], es[12];
    for (int i = 0; i < 12; i++)
        xs[i] = 3 * trdi_rng_normal(&rng);
    CHECK(gmm_eval(g, NULL, 0.0, xs, NULL, es, NULL, NULL) == TRDI_OK);
    int same = 1;
    for (int i = 0; i < 12; i++)
        same &= fabs(es[i] - xs[i]) <= 1e-15 * fabs(xs[i]);
    CHECK_MSG(same, "a = 0 must give eps = x");
    gmm_free(g);
}

/* The log-density is normalised: in one dimension, the integral of exp(log p) over [-30, 30]
 * (trapezoid rule, step 1e-3, error far below 1e-8 for these smooth tails) is 1, for the full
 * mixture and a conditioned one. */
static void test_normalisation(void) {
    float mu[3] = {-0.8f, 0.1f, 0.9f};
    double w[3] = {1, 3, 2}, s2[3] = {0.01, 0.0, 0.25};
    const char *labels[3] = {"left", "mid", "right"};
    gmm *g = NULL;
    CHECK(gmm_create(3, 1, 1, 1, mu, w, s2, labels, &g) == TRDI_OK);
    const void *c = NULL;
    CHECK(gmm_condition(g, "left or right", &c) == TRDI_OK);
    double levels[] = {0.999, 0.5, 0.01};
    for (int li = 0; li < 3; li++)
        for (int ci = 0; ci < 2; ci++) {
            double sum = 0, hstep = 1e-3;
            for (int i = 0; i <= 60000; i++) {
                double x = -30 + i * hstep;
                double f = exp(logp_at(g, ci ? c : NULL, levels[li], &x));
                sum += (i == 0 || i == 60000) ? 0.5 * f : f;
            }
            CHECK_NEAR(sum * hstep, 1.0, 1e-6);
        }
    gmm_free(g);
}

static void test_conditioning(void) {
    trdi_rng rng;
    trdi_rng_seed(&rng, 3);
    enum { D = 4 };
    float means[5 * D];
    for (int i = 0; i < 5 * D; i++)
        means[i] = (float)trdi_rng_normal(&rng);
    double w[5] = {1, 2, 3, 4, 5}, v[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
    const char *labels[5] = {"circle", "Stripes", "red_box", NULL, "circle"};
    gmm *g = NULL;
    CHECK(gmm_create(5, 1, 2, 2, means, w, v, labels, &g) == TRDI_OK);
    CHECK(gmm_num_labels(g) == 3);
    CHECK(!strcmp(gmm_label_at(g, 0), "circle") && !strcmp(gmm_label_at(g, 2), "red_box"));
    const void *c1, *c2, *c3, *all, *all2;
    CHECK(gmm_condition(g, "A red CIRCLE.", &c1) == TRDI_OK);
    CHECK(gmm_selected(g, c1, 0) && !gmm_selected(g, c1, 1) && !gmm_selected(g, c1, 2) &&
          !gmm_selected(g, c1, 3) && gmm_selected(g, c1, 4));
    /* Same selection, same handle. */
    CHECK(gmm_condition(g, "circle", &c2) == TRDI_OK && c2 == c1);
    /* Whole words only: "circles", "semicircle", "circle_2" do not name "circle". */
    CHECK(gmm_condition(g, "circles", &c3) == TRDI_ERR_INVALID_ARG && c3 == NULL);
    CHECK(strstr(trdi_last_error(), "circle, Stripes, red_box") != NULL);
    CHECK(gmm_condition(g, "semicircle", &c3) == TRDI_ERR_INVALID_ARG);
    CHECK(gmm_condition(g, "circle_2", &c3) == TRDI_ERR_INVALID_ARG);
    /* Case-insensitive, punctuation and string ends are boundaries; labels with '_' match whole. */
    CHECK(gmm_condition(g, "stripes,red_box", &c3) == TRDI_OK);
    CHECK(!gmm_selected(g, c3, 0) && gmm_selected(g, c3, 1) && gmm_selected(g, c3, 2));
    CHECK(gmm_condition(g, "red box", &c3) == TRDI_ERR_INVALID_ARG);
    /* Non-ASCII letters are word characters: "écircle" is not "circle". */
    CHECK(gmm_condition(g,
                        "\xc3\xa9"
                        "circle",
                        &c3) == TRDI_ERR_INVALID_ARG);
    /* "" / blank / NULL select everything (the unlabelled component included). */
    CHECK(gmm_condition(g, "", &all) == TRDI_OK);
    CHECK(gmm_condition(g, "  \t", &all2) == TRDI_OK && all2 == all);
    CHECK(gmm_condition(g, NULL, &all2) == TRDI_OK && all2 == all);
    for (int k = 0; k < 5; k++)
        CHECK(gmm_selected(g, all, k));

    /* A conditioned mixture equals the mixture of its selected components alone (weights
     * renormalised): logp, eps and J v agree to round-off. */
    float sub_means[2 * D];
    memcpy(sub_means, means, D * sizeof(float));
    memcpy(sub_means + D, means + 4 * D, D * sizeof(float));
    double sw[2] = {1, 5}, sv[2] = {0.1, 0.5};
    gmm *sub = NULL;
    CHECK(gmm_create(2, 1, 2, 2, sub_means, sw, sv, NULL, &sub) == TRDI_OK);
    double x[D], vv[D], e1[D], e2[D], j1[D], j2[D], l1, l2;
    for (int i = 0; i < D; i++)
        x[i] = trdi_rng_normal(&rng), vv[i] = trdi_rng_normal(&rng);
    CHECK(gmm_eval(g, c1, 0.4, x, &l1, e1, vv, j1) == TRDI_OK);
    CHECK(gmm_eval(sub, NULL, 0.4, x, &l2, e2, vv, j2) == TRDI_OK);
    CHECK_NEAR(l1, l2, 1e-12);
    for (int i = 0; i < D; i++) {
        CHECK_NEAR(e1[i], e2[i], 1e-13);
        CHECK_NEAR(j1[i], j2[i], 1e-13);
    }
    /* A handle of another mixture is refused. */
    CHECK(gmm_eval(sub, c1, 0.4, x, &l2, NULL, NULL, NULL) == TRDI_ERR_INVALID_ARG);
    gmm_free(sub);

    /* Batched float forms agree with the double path (to float rounding, 1e-6 relative). */
    float xf[2 * D], ef[2 * D], vf[2 * D], jf[2 * D];
    for (int i = 0; i < D; i++) {
        xf[i] = xf[D + i] = (float)x[i];
        vf[i] = vf[D + i] = (float)vv[i];
        x[i] = xf[i], vv[i] = vf[i];
    }
    const void *conds[2] = {c1, NULL};
    CHECK(gmm_predict(g, 0.4, 2, xf, conds, ef) == TRDI_OK);
    CHECK(gmm_vjp(g, 0.4, 2, xf, conds, vf, jf) == TRDI_OK);
    double e3[D], j3[D];
    CHECK(gmm_eval(g, c1, 0.4, x, NULL, e1, vv, j1) == TRDI_OK);
    CHECK(gmm_eval(g, NULL, 0.4, x, NULL, e3, vv, j3) == TRDI_OK);
    for (int i = 0; i < D; i++) {
        CHECK_NEAR(ef[i], e1[i], 1e-6 * (1 + fabs(e1[i])));
        CHECK_NEAR(jf[i], j1[i], 1e-6 * (1 + fabs(j1[i])));
        CHECK_NEAR(ef[D + i], e3[i], 1e-6 * (1 + fabs(e3[i])));
        CHECK_NEAR(jf[D + i], j3[i], 1e-6 * (1 + fabs(j3[i])));
    }
    /* Non-finite inputs and bad levels. */
    xf[1] = NAN;
    CHECK(gmm_predict(g, 0.4, 1, xf, NULL, ef) == TRDI_ERR_NUMERIC);
    CHECK(gmm_predict(g, 1.5, 1, xf, NULL, ef) == TRDI_ERR_INVALID_ARG);
    CHECK(gmm_predict(g, NAN, 1, xf, NULL, ef) == TRDI_ERR_INVALID_ARG);
    gmm_free(g);

    /* A mixture without labels is unconditional: every prompt selects all. */
    double w1[2] = {1, 1}, v1[2] = {0.1, 0.1};
    CHECK(gmm_create(2, 1, 2, 2, means, w1, v1, NULL, &g) == TRDI_OK);
    CHECK(gmm_condition(g, "anything at all", &c1) == TRDI_OK);
    CHECK(gmm_selected(g, c1, 0) && gmm_selected(g, c1, 1));
    gmm_free(g);
}

static void test_validation(void) {
    float means[8] = {0};
    double w[2] = {1, 1}, v[2] = {0.1, 0.1};
    gmm *g = (gmm *)1;
    CHECK(gmm_create(0, 1, 2, 2, means, w, v, NULL, &g) == TRDI_ERR_INVALID_ARG && g == NULL);
    CHECK(gmm_create(2, 0, 2, 2, means, w, v, NULL, &g) == TRDI_ERR_INVALID_ARG);
    double wbad[2] = {1, 0};
    CHECK(gmm_create(2, 1, 2, 2, means, wbad, v, NULL, &g) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "component 1") != NULL);
    wbad[1] = NAN;
    CHECK(gmm_create(2, 1, 2, 2, means, wbad, v, NULL, &g) == TRDI_ERR_INVALID_ARG);
    double vbad[2] = {0.1, -0.01};
    CHECK(gmm_create(2, 1, 2, 2, means, w, vbad, NULL, &g) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "variance") != NULL);
    vbad[1] = INFINITY;
    CHECK(gmm_create(2, 1, 2, 2, means, w, vbad, NULL, &g) == TRDI_ERR_INVALID_ARG);
    means[5] = NAN;
    CHECK(gmm_create(2, 1, 2, 2, means, w, v, NULL, &g) == TRDI_ERR_NUMERIC);
    means[5] = 0;
    /* Zero variance at a = 1: the noised component is degenerate. */
    double v0[2] = {0.0, 0.1};
    CHECK(gmm_create(2, 1, 2, 2, means, w, v0, NULL, &g) == TRDI_OK);
    double x[4] = {0}, e[4];
    CHECK(gmm_eval(g, NULL, 1.0, x, NULL, e, NULL, NULL) == TRDI_ERR_NUMERIC);
    CHECK(gmm_eval(g, NULL, 0.999, x, NULL, e, NULL, NULL) == TRDI_OK);
    gmm_free(g);
    gmm_free(NULL);
}

/* The procedural patterns are deterministic, distinct, and the test image is none of them. */
static void test_patterns(void) {
    const char *names[] = {"circle", "stripes", "checker", "gradient", "scene", "landscape"};
    trdi_image im[6], again;
    for (int i = 0; i < 6; i++) {
        CHECK(gmm_pattern_render(names[i], 32, 24, 3, &im[i]) == TRDI_OK);
        CHECK(gmm_pattern_render(names[i], 32, 24, 3, &again) == TRDI_OK);
        CHECK(!memcmp(im[i].data, again.data, 32 * 24 * 3));
        trdi_image_clear(&again);
    }
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++) {
            double p = 0;
            CHECK(trdi_psnr(&im[i], &im[j], &p) == TRDI_OK);
            CHECK_MSG(p < 20, "patterns %s and %s too alike (%.1f dB)", names[i], names[j], p);
        }
    for (int i = 0; i < 6; i++)
        trdi_image_clear(&im[i]);
    CHECK(gmm_pattern_render("square", 8, 8, 3, &again) == TRDI_ERR_INVALID_ARG);
    CHECK(gmm_pattern_render("circle", 0, 8, 3, &again) == TRDI_ERR_INVALID_ARG);
    CHECK(gmm_pattern_render("circle", 8, 8, 1, &again) == TRDI_OK && again.channels == 1);
    trdi_image_clear(&again);
}

/* The built-in model is well conditioned for its test image: a plain DDIM round trip (double,
 * consistent stepping over leading timesteps k D + 1, the clean end at alphas_cumprod[0]) gets
 * better as the step count grows, and is already good at 200 steps. This pins the choice of
 * the default variance and test image (an outlier image or s^2 = 0.01 make the exact ODE switch
 * components faster than any integer timestep grid resolves, and the error stalls). */
static double ddim_roundtrip_psnr(const gmm *g, const float *ac, const double *x0, int n) {
    int64_t d = gmm_dim(g), stride = 1000 / n;
    double *x = malloc((size_t)d * sizeof *x), *e = malloc((size_t)d * sizeof *e);
    memcpy(x, x0, (size_t)d * sizeof *x);
    double a_prev = ac[0];
    for (int k = 0; k < n; k++) {
        double a = ac[k * stride + 1];
        if (gmm_eval(g, NULL, a, x, NULL, e, NULL, NULL) != TRDI_OK) return NAN;
        for (int64_t j = 0; j < d; j++) {
            double x0h = (x[j] - sqrt(1 - a_prev) * e[j]) / sqrt(a_prev);
            x[j] = sqrt(a) * x0h + sqrt(1 - a) * e[j];
        }
        a_prev = a;
    }
    for (int k = n - 1; k >= 0; k--) {
        double a = ac[k * stride + 1], a_to = k ? ac[(k - 1) * stride + 1] : ac[0];
        if (gmm_eval(g, NULL, a, x, NULL, e, NULL, NULL) != TRDI_OK) return NAN;
        for (int64_t j = 0; j < d; j++) {
            double x0h = (x[j] - sqrt(1 - a) * e[j]) / sqrt(a);
            x[j] = sqrt(a_to) * x0h + sqrt(1 - a_to) * e[j];
        }
    }
    double mse = 0;
    for (int64_t j = 0; j < d; j++)
        mse += (x[j] - x0[j]) * (x[j] - x0[j]);
    free(x);
    free(e);
    return 10 * log10(4.0 / (mse / (double)d)); /* latents span [-1, 1]: peak-to-peak 2 */
}

static void test_builtin_conditioning(void) {
    trdi_model_params p = trdi_model_default_params();
    trdi_image test;
    gmm *g = NULL;
    CHECK(gmm_build_builtin(&p, &g, &test) == TRDI_OK);
    trdi_noise_config cfg = trdi_noise_config_default();
    trdi_noise_schedule *s = NULL;
    CHECK(trdi_noise_schedule_create(&cfg, &s) == TRDI_OK);
    const float *ac = trdi_noise_schedule_alphas_cumprod(s);
    int64_t d = gmm_dim(g);
    double *x0 = malloc((size_t)d * sizeof *x0);
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < 1024; i++)
            x0[c * 1024 + i] = 2.0 * (test.data[i * 3 + c] / 255.0) - 1.0;
    double p10 = ddim_roundtrip_psnr(g, ac, x0, 10), p50 = ddim_roundtrip_psnr(g, ac, x0, 50);
    double p200 = ddim_roundtrip_psnr(g, ac, x0, 200);
    printf("builtin DDIM round trip: 10 steps %.2f dB, 50 steps %.2f dB, 200 steps %.2f dB\n", p10,
           p50, p200);
    /* Observed ~19.9 / 30.4 / 36.9 dB: each bound leaves ~2 dB of slack. */
    CHECK_MSG(p50 > p10 + 5 && p200 > p50 + 3, "DDIM error does not shrink with steps");
    CHECK_MSG(p200 > 35, "200-step DDIM round trip only %.2f dB", p200);
    free(x0);
    trdi_noise_schedule_free(s);
    trdi_image_clear(&test);
    gmm_free(g);
}

int main(void) {
    test_builtin_conditioning();
    test_derivatives();
    test_closed_forms();
    test_normalisation();
    test_conditioning();
    test_validation();
    test_patterns();
    return TEST_SUMMARY();
}
