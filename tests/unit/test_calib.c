/* test_calib.c -- calibrated schedules (src/calib/): the DP against brute force, the surrogate
 * fit on synthetic power laws, calibration on the built-in exact model (predicted error never
 * above uniform's, measured reconstruction better than uniform on the demo configuration,
 * determinism), file and cache handling, and the error paths. */
#include "harness.h"

#include "calib/calib.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A random cost table over nodes 0..15. */
typedef struct {
    double c[16][16];
} table;

static double table_cost(void *ctx, int64_t u, int64_t t) { return ((table *)ctx)->c[u][t]; }

static void test_dp_brute(void) {
    trdi_rng rng;
    trdi_rng_seed(&rng, 7);
    int cases = 0, agree = 0;
    for (int rep = 0; rep < 60; rep++) {
        table tb;
        for (int u = 0; u < 16; u++)
            for (int t = 0; t < 16; t++) tb.c[u][t] = trdi_rng_uniform(&rng) * (1 + (t - u) % 3);
        int64_t lo = (int64_t)trdi_rng_below(&rng, 3), hi = lo + 4 + (int64_t)trdi_rng_below(&rng, 9);
        for (int64_t n = 2; n <= 6; n++)
            for (int64_t gap = 1; gap <= 3; gap++) {
                if ((hi - lo) / (n - 1) < gap) continue;
                int64_t p1[8], p2[8];
                double t1, t2;
                trdi_status s1 = calib_dp(table_cost, &tb, lo, hi, n, gap, p1, &t1);
                trdi_status s2 = calib_dp_brute(table_cost, &tb, lo, hi, n, gap, p2, &t2);
                cases++;
                /* Both accumulate the same doubles in the same order: the optimum is exact. */
                if (!s1 && !s2 && t1 == t2 && !memcmp(p1, p2, (size_t)n * sizeof *p1)) agree++;
                else
                    fprintf(stderr, "dp vs brute: lo %lld hi %lld n %lld gap %lld: %g vs %g\n",
                            (long long)lo, (long long)hi, (long long)n, (long long)gap, t1, t2);
            }
    }
    CHECK(cases > 300);
    CHECK_MSG(agree == cases, "%d of %d cases agree", agree, cases);
    int64_t p[4];
    double t;
    CHECK(calib_dp(table_cost, NULL, 0, 3, 5, 1, p, &t) == TRDI_ERR_INVALID_ARG); /* no room */
    CHECK(calib_dp(table_cost, NULL, 0, 6, 4, 3, p, &t) == TRDI_ERR_INVALID_ARG); /* gap 3 x 3 > 6 */
}

static void test_fit(void) {
    /* y = a(s) + p(s) u exactly, with a and p linear in the source index (no curvature, so the
     * smoothing penalties vanish at the truth). */
    enum { J = 12, S = 5 };
    double u[S] = {-1.386, -0.693, 0.0, 0.693, 1.386}, y[J * S], a[J], p[J];
    for (int j = 0; j < J; j++)
        for (int i = 0; i < S; i++) y[j * S + i] = (-3.0 + 0.2 * j) + (1.5 + 0.05 * j) * u[i];
    y[3 * S + 1] = NAN; /* a missing measurement is skipped */
    CHECK(calib_fit(J, S, u, y, 0.3, 3.0, 0.0, a, p) == TRDI_OK);
    for (int j = 0; j < J; j++) {
        /* exact data and a zero penalty at the truth: only the 1e-9 ridge and round-off move the
         * solution, far below 1e-6 */
        CHECK_NEAR(a[j], -3.0 + 0.2 * j, 1e-6);
        CHECK_NEAR(p[j], 1.5 + 0.05 * j, 1e-6);
    }
    /* A decreasing trend in d is clamped: the surrogate stays increasing. */
    for (int j = 0; j < J; j++)
        for (int i = 0; i < S; i++) y[j * S + i] = -2.0 - 1.0 * u[i];
    CHECK(calib_fit(J, S, u, y, 0.3, 3.0, 0.01, a, p) == TRDI_OK);
    for (int j = 0; j < J; j++) CHECK(p[j] >= CALIB_P_MIN);
    int64_t x[3] = {-1, 10, 30};
    double v[3] = {1.0, 3.0, 7.0};
    CHECK_NEAR(calib_interp(x, v, 3, 20.0), 5.0, 1e-12); /* halfway between knots 10 and 30 */
    CHECK(calib_interp(x, v, 3, -5.0) == 1.0 && calib_interp(x, v, 3, 99.0) == 7.0);
}

static trdi_model *builtin(float **z) {
    trdi_model *m = NULL;
    if (trdi_model_load("builtin", NULL, &m)) return NULL;
    trdi_image img = {0};
    int64_t C, H, W;
    trdi_model_latent_shape(m, &C, &H, &W);
    *z = malloc((size_t)(C * H * W) * sizeof **z);
    if (trdi_model_builtin_test_image(m, &img) || trdi_model_encode(m, &img, *z)) {
        trdi_model_free(m);
        m = NULL;
    }
    trdi_image_clear(&img);
    return m;
}

/* Reconstruction MSE of DDIM with an explicit list (or the uniform one when ts is NULL). */
static double recon_mse(trdi_model *m, const int64_t *ts, int64_t n, trdi_stepping stepping) {
    trdi_pipeline_params pp = trdi_pipeline_default_params();
    pp.schedule.stepping = stepping;
    pp.schedule.steps = n;
    if (ts) {
        pp.schedule.kind = TRDI_SCHEDULE_CALIBRATED;
        pp.schedule.timesteps = ts;
        pp.schedule.n_timesteps = n;
    }
    trdi_image img = {0};
    trdi_run_result r;
    double mse = NAN;
    if (!trdi_model_builtin_test_image(m, &img) && !trdi_pipeline_run(m, &pp, &img, &r)) {
        mse = r.mse;
        trdi_run_result_clear(&r);
    }
    trdi_image_clear(&img);
    return mse;
}

static void test_builtin(void) {
    float *z = NULL;
    trdi_model *m = builtin(&z);
    CHECK(m != NULL);
    if (!m) return;
    /* The demo configuration: DDIM, 20 steps, consistent stepping. */
    trdi_calib_params p = trdi_calib_default_params();
    p.steps = 20;
    p.stepping = TRDI_STEPPING_CONSISTENT;
    p.budget = 600;
    trdi_calib_result r, r2;
    CHECK(trdi_calibrate(m, &p, z, 1, &r) == TRDI_OK);
    CHECK(r.nfe > 0 && r.nfe <= p.budget);
    CHECK(r.steps == 20 && r.timesteps[0] == r.uniform[0] && r.timesteps[19] == r.uniform[19]);
    for (int64_t i = 1; i < r.steps; i++) CHECK(r.timesteps[i] < r.timesteps[i - 1]);
    CHECK(r.predicted <= r.predicted_uniform);
    CHECK(r.predicted == trdi_calib_predict(&r, r.timesteps, r.steps));
    CHECK(r.fit_r2 > 0.5 && r.fit_r2 <= 1.0); /* the power law explains most of the log variance */
    /* The surrogate is increasing in the step size everywhere. */
    bool mono = true;
    for (int64_t s = -1; s < 999; s += 37)
        for (int64_t d = 1; d < 400; d++)
            mono = mono && trdi_calib_surrogate(&r, s, d + 1) >= trdi_calib_surrogate(&r, s, d);
    CHECK(mono);
    double mu = recon_mse(m, NULL, 20, TRDI_STEPPING_CONSISTENT);
    double mc = recon_mse(m, r.timesteps, 20, TRDI_STEPPING_CONSISTENT);
    CHECK_MSG(mc < mu, "calibrated MSE %g, uniform %g", mc, mu);
    /* Deterministic for a seed; another seed moves the ladder. */
    CHECK(trdi_calibrate(m, &p, z, 1, &r2) == TRDI_OK);
    CHECK(!memcmp(r.timesteps, r2.timesteps, 20 * sizeof *r.timesteps) && r.predicted == r2.predicted &&
          r.nfe == r2.nfe);
    trdi_calib_result_clear(&r2);
    p.seed = 5;
    CHECK(trdi_calibrate(m, &p, z, 1, &r2) == TRDI_OK);
    CHECK(r2.points[1].s != r.points[1].s || r2.points[7].s != r.points[7].s);
    trdi_calib_result_clear(&r2);
    /* Never predicted worse than uniform, for other counts and both steppings (small budgets). */
    const int64_t counts[4] = {2, 7, 10, 50};
    for (int k = 0; k < 4; k++)
        for (int sp = 0; sp < 2; sp++) {
            trdi_calib_params q = trdi_calib_default_params();
            q.steps = counts[k];
            q.stepping = sp ? TRDI_STEPPING_CONSISTENT : TRDI_STEPPING_REFERENCE;
            q.budget = 200;
            CHECK(trdi_calibrate(m, &q, z, 1, &r2) == TRDI_OK);
            CHECK_MSG(r2.predicted <= r2.predicted_uniform, "%lld steps %s: %g > %g",
                      (long long)q.steps, trdi_stepping_name(q.stepping), r2.predicted,
                      r2.predicted_uniform);
            trdi_calib_result_clear(&r2);
        }

    /* Files: save, read back, key check, --schedule-file reading. */
    char dir[] = "/tmp/trdi_calib_testXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], cache[256];
    snprintf(path, sizeof path, "%s/c.json", dir);
    CHECK(trdi_calib_result_save(&r, "k1", path) == TRDI_OK);
    CHECK(trdi_calib_result_load(path, "k1", &r2) == TRDI_OK);
    CHECK(r2.steps == 20 && !memcmp(r.timesteps, r2.timesteps, 20 * sizeof *r.timesteps));
    CHECK(r2.predicted == r.predicted && r2.nfe == r.nfe);
    trdi_calib_result_clear(&r2);
    CHECK(trdi_calib_result_load(path, "other", &r2) == TRDI_ERR_FORMAT);
    int64_t *ts = NULL, n = 0;
    CHECK(trdi_schedule_file_read(path, &ts, &n) == TRDI_OK && n == 20 && ts[0] == r.timesteps[0]);
    trdi_timesteps_free(ts);
    const char *bad[] = {"{\"timesteps\": [1, 5]}", "{\"timesteps\": []}", "[1]", "{\"x\": 1}",
                         "{\"timesteps\": [5, -1]}", "{\"timesteps\": [5, 2.5]}", "{\"timesteps\": [5"};
    for (int k = 0; k < 7; k++) {
        FILE *f = fopen(path, "w");
        fputs(bad[k], f);
        fclose(f);
        CHECK_MSG(trdi_schedule_file_read(path, &ts, &n) == TRDI_ERR_FORMAT && !ts, "%s", bad[k]);
    }
    CHECK(trdi_schedule_file_read("/nonexistent/x.json", &ts, &n) == TRDI_ERR_IO);

    /* The cache: a miss writes the file, a hit reads it, a corrupt file is recomputed. */
    snprintf(cache, sizeof cache, "%s/cache/trdi", dir);
    p.seed = 0;
    p.budget = 200;
    bool hit = true;
    CHECK(trdi_calibrate_cached(m, &p, z, 1, cache, &r2, &hit) == TRDI_OK && !hit);
    int64_t first = r2.timesteps[5];
    trdi_calib_result_clear(&r2);
    CHECK(trdi_calibrate_cached(m, &p, z, 1, cache, &r2, &hit) == TRDI_OK && hit);
    CHECK(r2.timesteps[5] == first);
    trdi_calib_result_clear(&r2);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "for f in %s/calib-*.json; do printf '{\"format\": \"trdi-' > $f; done",
             cache);
    CHECK(system(cmd) == 0);
    CHECK(trdi_calibrate_cached(m, &p, z, 1, cache, &r2, &hit) == TRDI_OK && !hit);
    CHECK(r2.timesteps[5] == first);
    trdi_calib_result_clear(&r2);
    CHECK(trdi_calibrate_cached(m, &p, z, 1, cache, &r2, &hit) == TRDI_OK && hit);
    trdi_calib_result_clear(&r2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);

    /* Errors: bad budget, steps, gap, inputs; the output is zeroed. */
    trdi_calib_params q = trdi_calib_default_params();
    q.budget = TRDI_CALIB_MIN_BUDGET - 1;
    CHECK(trdi_calibrate(m, &q, z, 1, &r2) == TRDI_ERR_INVALID_ARG && !r2.timesteps);
    CHECK(strstr(trdi_last_error(), "budget") != NULL);
    q = trdi_calib_default_params();
    q.steps = 0;
    CHECK(trdi_calibrate(m, &q, z, 1, &r2) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "steps") != NULL);
    q.steps = 1001;
    CHECK(trdi_calibrate(m, &q, z, 1, &r2) == TRDI_ERR_INVALID_ARG);
    q = trdi_calib_default_params();
    q.min_gap = 51; /* more than N div steps = 50 */
    CHECK(trdi_calibrate(m, &q, z, 1, &r2) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_calibrate(m, &q, NULL, 0, &r2) == TRDI_ERR_INVALID_ARG);
    float saved = z[3];
    z[3] = NAN;
    q = trdi_calib_default_params();
    CHECK(trdi_calibrate(m, &q, z, 1, &r2) == TRDI_ERR_INVALID_ARG);
    z[3] = saved;
    /* A calibrated kind without its list is refused by the pipeline's schedule. */
    trdi_schedule_params sp = trdi_schedule_default_params();
    sp.kind = TRDI_SCHEDULE_CALIBRATED;
    CHECK(trdi_schedule_timesteps(trdi_model_noise_schedule(m), &sp, &ts, &n) == TRDI_ERR_INVALID_ARG);
    trdi_schedule_kind kind;
    CHECK(trdi_schedule_kind_from_name("calibrated", &kind) == TRDI_OK &&
          kind == TRDI_SCHEDULE_CALIBRATED);

    trdi_calib_result_clear(&r);
    trdi_model_free(m);
    free(z);
}

int main(void) {
    test_dp_brute();
    test_fit();
    test_builtin();
    return TEST_SUMMARY();
}
