/* test_sched_noise.c -- noise schedules and timestep lists: torch's vectorised linspace against
 * its defining rules, the beta schedules and the double-accumulated cumprod, config validation,
 * enum names, the scheduler_config.json loader (good folders and files, and every kind of bad
 * one), and diffusers' set_timesteps lists (leading/linspace/trailing) from their rules. */
#include "harness.h"
#include "sched/sched.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- linspace ---------------------------------------------------------------------------- */

static void test_linspace(void) {
    const int64_t sizes[] = {1, 2, 3, 7, 8, 9, 13, 16, 17, 100, 1000, 1001, 4097};
    const float a = (float)sqrt(0.00085), b = (float)sqrt(0.012);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int64_t n = sizes[k];
        float *x = malloc((size_t)n * sizeof(float));
        trdi_sched_linspace_f32(a, b, n, x);
        CHECK_MSG(x[0] == a, "n=%lld: first value", (long long)n);
        /* A last value in the scalar tail counts down from end: exactly end. */
        if (n > 1 && n % 8 != 0)
            CHECK_MSG(x[n - 1] == b, "n=%lld: the two-sided formula ends at end", (long long)n);
        int mono = 1;
        for (int64_t i = 1; i < n; i++) mono &= x[i] >= x[i - 1];
        CHECK_MSG(mono, "n=%lld: not non-decreasing", (long long)n);
        if (n > 1) {
            /* Rules of spec 1.1: the tail that does not fill a block of 8 uses the scalar form
             * with two roundings, and each block's lanes are base + f32(l * step). */
            const float step = (b - a) / (float)(n - 1);
            const int64_t half = n / 2, tail = n - n % 8;
            int tail_ok = 1, lanes_ok = 1;
            for (int64_t i = tail; i < n; i++) {
                float want = i < half ? a + step * (float)i : b - step * (float)(n - 1 - i);
                tail_ok &= x[i] == want;
            }
            for (int64_t i = 0; i < tail; i++) {
                float inc = (float)(i % 8) * step;
                lanes_ok &= x[i] == x[i - i % 8] + inc;
            }
            CHECK_MSG(tail_ok, "n=%lld: scalar tail", (long long)n);
            CHECK_MSG(lanes_ok, "n=%lld: block lanes", (long long)n);
            /* Every value is close to the exact linspace: the rounded step contributes at most
             * n * ulp(step) / 2 <= (b - a) * 2^-24 <= ulp(b), the fma / lane / tail roundings at
             * most 1.5 ulp(b); 4 ulp(b) catches any index or sign mix-up (those are >= 1 step). */
            const double ulp_b = (double)nextafterf(b, 1.0f) - (double)b;
            int close = 1;
            for (int64_t i = 0; i < n; i++) {
                double exact = (double)a + ((double)b - (double)a) * (double)i / (double)(n - 1);
                close &= fabs((double)x[i] - exact) <= 4.0 * ulp_b;
            }
            CHECK_MSG(close, "n=%lld: far from the exact linspace", (long long)n);
        }
        free(x);
    }
}

/* ---- betas, cumprod, schedules ------------------------------------------------------------ */

static void test_tables(void) {
    trdi_noise_config c = trdi_noise_config_default();
    CHECK(c.beta_schedule == TRDI_BETA_SCALED_LINEAR && c.beta_start == 0.00085 &&
          c.beta_end == 0.012 && c.num_train_timesteps == 1000 && c.steps_offset == 1 &&
          !c.set_alpha_to_one && c.prediction_type == TRDI_PRED_EPSILON &&
          c.timestep_spacing == TRDI_SPACING_LEADING);

    /* cumprod: double accumulation, float stores; differs from float accumulation (spec 1.2). */
    float *betas = malloc(1000 * sizeof(float)), *ac = malloc(1000 * sizeof(float));
    trdi_sched_betas(&c, betas);
    trdi_sched_cumprod(betas, 1000, ac);
    double acc = 1.0;
    float accf = 1.0f;
    int same_double = 1, differs_float = 0;
    for (int i = 0; i < 1000; i++) {
        float alpha = 1.0f - betas[i];
        acc *= (double)alpha;
        accf *= alpha;
        same_double &= ac[i] == (float)acc;
        differs_float |= ac[i] != accf;
    }
    CHECK(same_double);
    CHECK_MSG(differs_float, "float accumulation would give the same table: test has no teeth");

    /* linear: the endpoints are the float32 betas. */
    trdi_noise_config lin = c;
    lin.beta_schedule = TRDI_BETA_LINEAR;
    lin.beta_start = 0.0001;
    lin.beta_end = 0.02;
    trdi_sched_betas(&lin, betas);
    CHECK(betas[0] == (float)0.0001 && betas[999] == (float)0.02);

    /* squaredcos_cap_v2: betas capped at 0.999, which the last one hits (alpha_bar(1) ~ 0). */
    trdi_noise_config cos2 = c;
    cos2.beta_schedule = TRDI_BETA_SQUAREDCOS_CAP_V2;
    trdi_sched_betas(&cos2, betas);
    int capped = 1;
    for (int i = 0; i < 1000; i++) capped &= betas[i] > 0 && betas[i] <= (float)0.999;
    CHECK(capped);
    CHECK(betas[999] == (float)0.999);
    trdi_noise_schedule *s = NULL;
    CHECK(trdi_noise_schedule_create(&cos2, &s) == TRDI_OK);
    if (s) {
        const float *t = trdi_noise_schedule_alphas_cumprod(s);
        int dec = 1;
        for (int i = 1; i < 1000; i++) dec &= t[i] <= t[i - 1] && t[i] > 0;
        CHECK(dec);
        CHECK(trdi_noise_schedule_config(s)->beta_schedule == TRDI_BETA_SQUAREDCOS_CAP_V2);
        trdi_noise_schedule_free(s);
    }
    /* set_alpha_to_one decides the clean end. */
    trdi_noise_config one = c;
    one.set_alpha_to_one = true;
    CHECK(trdi_noise_schedule_create(&one, &s) == TRDI_OK);
    if (s) {
        CHECK(trdi_noise_schedule_final_alpha(s) == 1.0f);
        trdi_noise_schedule_free(s);
    }
    CHECK(trdi_noise_schedule_create(&c, &s) == TRDI_OK);
    if (s) {
        CHECK(trdi_noise_schedule_final_alpha(s) == trdi_noise_schedule_alphas_cumprod(s)[0]);
        trdi_noise_schedule_free(s);
    }
    trdi_noise_schedule_free(NULL); /* no-op */
    free(betas);
    free(ac);

    /* Invalid configs: a status, a message naming the field, and a NULL handle. */
    trdi_noise_config v;
    v = c, v.num_train_timesteps = 1;
    s = (trdi_noise_schedule *)&v;
    CHECK(trdi_noise_schedule_create(&v, &s) == TRDI_ERR_INVALID_ARG && s == NULL);
    CHECK(strstr(trdi_last_error(), "num_train_timesteps") != NULL);
    v = c, v.steps_offset = 1000;
    CHECK(trdi_noise_schedule_create(&v, &s) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "steps_offset") != NULL);
    v = c, v.beta_start = NAN;
    CHECK(trdi_noise_schedule_create(&v, &s) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "beta_start") != NULL);
    v = c, v.beta_end = 1.0;
    CHECK(trdi_noise_schedule_create(&v, &s) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "beta_end") != NULL);
    v = c, v.beta_schedule = (trdi_beta_schedule)7;
    CHECK(trdi_noise_schedule_create(&v, &s) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_noise_schedule_create(NULL, &s) == TRDI_ERR_INVALID_ARG && s == NULL);
    /* A table that underflows to 0 is refused (TRDI divides by it). */
    v = c, v.beta_schedule = TRDI_BETA_LINEAR, v.beta_start = 0.9, v.beta_end = 0.99;
    CHECK(trdi_noise_schedule_create(&v, &s) == TRDI_ERR_NUMERIC && s == NULL);
    CHECK(strstr(trdi_last_error(), "alphas_cumprod") != NULL);
}

/* ---- names -------------------------------------------------------------------------------- */

static void test_names(void) {
    for (int i = 0; i < 3; i++) {
        trdi_beta_schedule b;
        CHECK(trdi_beta_schedule_from_name(trdi_beta_schedule_name((trdi_beta_schedule)i), &b) ==
                  TRDI_OK &&
              (int)b == i);
        trdi_timestep_spacing sp;
        CHECK(trdi_timestep_spacing_from_name(trdi_timestep_spacing_name((trdi_timestep_spacing)i),
                                              &sp) == TRDI_OK &&
              (int)sp == i);
        trdi_prediction_type p;
        CHECK(trdi_prediction_type_from_name(trdi_prediction_type_name((trdi_prediction_type)i),
                                             &p) == TRDI_OK &&
              (int)p == i);
    }
    for (int i = 0; i < 9; i++) {
        trdi_adaptive_mode m;
        CHECK(trdi_adaptive_mode_from_name(trdi_adaptive_mode_name((trdi_adaptive_mode)i), &m) ==
                  TRDI_OK &&
              (int)m == i);
    }
    CHECK(!strcmp(trdi_prediction_type_name(TRDI_PRED_V), "v_prediction"));
    trdi_beta_schedule b;
    CHECK(trdi_beta_schedule_from_name("sigmoid", &b) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "sigmoid") != NULL);
    CHECK(trdi_beta_schedule_from_name(NULL, &b) == TRDI_ERR_INVALID_ARG);
    trdi_adaptive_mode m;
    CHECK(trdi_adaptive_mode_from_name("Balanced", &m) == TRDI_ERR_INVALID_ARG);
    CHECK(!strcmp(trdi_beta_schedule_name((trdi_beta_schedule)42), "unknown"));
}

/* ---- set_timesteps ------------------------------------------------------------------------- */

static void test_timesteps(void) {
    trdi_noise_config c = trdi_noise_config_default();
    int64_t *ts = NULL, n = 0;
    /* leading: k * (N div n) + offset, descending (pure integers). */
    for (int64_t steps = 1; steps < 1000; steps++) {
        CHECK(trdi_timesteps_diffusers(&c, steps, &ts, &n) == TRDI_OK);
        int ok = n == steps;
        for (int64_t i = 0; ok && i < n; i++) ok = ts[i] == (steps - 1 - i) * (1000 / steps) + 1;
        if (!ok) CHECK_MSG(0, "leading %lld steps", (long long)steps);
        trdi_timesteps_free(ts);
    }
    /* 1000 steps with offset 1 would end at 1000 = N, outside the table. */
    CHECK(trdi_timesteps_diffusers(&c, 1000, &ts, &n) == TRDI_ERR_INVALID_ARG && ts == NULL);
    /* trailing for divisors of N: round(N - k N/n) - 1 exactly; other counts either give a
     * strictly descending list in [0, N-1] or fail with a message naming the overshoot. */
    c.timestep_spacing = TRDI_SPACING_TRAILING;
    int failures = 0;
    for (int64_t steps = 1; steps <= 1000; steps++) {
        trdi_status st = trdi_timesteps_diffusers(&c, steps, &ts, &n);
        if (st != TRDI_OK) {
            failures++;
            CHECK(ts == NULL && strstr(trdi_last_error(), "-1") != NULL);
            continue;
        }
        int ok = n == steps && ts[0] == 999;
        for (int64_t i = 1; ok && i < n; i++) ok = ts[i] < ts[i - 1] && ts[i] >= 0;
        if (1000 % steps == 0)
            for (int64_t i = 0; ok && i < n; i++) ok = ts[i] == 1000 - i * (1000 / steps) - 1;
        if (!ok) CHECK_MSG(0, "trailing %lld steps", (long long)steps);
        trdi_timesteps_free(ts);
    }
    /* 61 steps is one of the counts where numpy's arange gives an extra value. */
    CHECK(trdi_timesteps_diffusers(&c, 61, &ts, &n) == TRDI_ERR_INVALID_ARG);
    CHECK(failures > 0);
    /* linspace: round(k * 999 / (n - 1)) with ties to even, reversed; 999 first, 0 last. */
    c.timestep_spacing = TRDI_SPACING_LINSPACE;
    for (int64_t steps = 2; steps <= 1000; steps += 7) {
        CHECK(trdi_timesteps_diffusers(&c, steps, &ts, &n) == TRDI_OK);
        int ok = n == steps && ts[0] == 999 && ts[n - 1] == 0;
        for (int64_t i = 1; ok && i < n; i++) {
            ok = ts[i] < ts[i - 1];
            /* Within 1/2 of the exact rational position (ties go to even). */
            double exact = (double)(n - 1 - i) * 999.0 / (double)(n - 1);
            ok = ok && fabs((double)ts[i] - exact) <= 0.5 + 1e-9;
        }
        if (!ok) CHECK_MSG(0, "linspace %lld steps", (long long)steps);
        trdi_timesteps_free(ts);
    }
    /* n = 3: 999 / 2 = 499.5 is a tie; numpy rounds half to even (500). */
    CHECK(trdi_timesteps_diffusers(&c, 3, &ts, &n) == TRDI_OK && ts[1] == 500);
    trdi_timesteps_free(ts);
    /* Bad counts and offsets. */
    c.timestep_spacing = TRDI_SPACING_LEADING;
    CHECK(trdi_timesteps_diffusers(&c, 0, &ts, &n) == TRDI_ERR_INVALID_ARG && ts == NULL);
    CHECK(trdi_timesteps_diffusers(&c, 1001, &ts, &n) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "steps") != NULL);
    c.steps_offset = 500;
    CHECK(trdi_timesteps_diffusers(&c, 2, &ts, &n) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "outside") != NULL);
}

/* ---- config loader ----------------------------------------------------------------------- */

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *text) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void test_config_load(void) {
    trdi_noise_config c, sd = trdi_noise_config_default();
    /* The tiny SD folder carries SD 1.5's scheduler config. */
    CHECK_MSG(trdi_noise_config_load(TRDI_TEST_DATA "/sd15-tiny/model", &c) == TRDI_OK, "%s",
              trdi_last_error());
    CHECK(memcmp(&c, &sd, sizeof c) == 0);
    CHECK(trdi_noise_config_load(TRDI_TEST_DATA "/sd15-tiny/model/scheduler", &c) == TRDI_OK);
    CHECK(trdi_noise_config_load(TRDI_TEST_DATA "/sd15-tiny/model/scheduler/scheduler_config.json",
                                 &c) == TRDI_OK &&
          memcmp(&c, &sd, sizeof c) == 0);

    snprintf(tmpdir, sizeof tmpdir, "/tmp/trdi-sched-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    /* Missing fields take diffusers' DDIMScheduler defaults. */
    CHECK(trdi_noise_config_load(write_tmp("a.json", "{\"_class_name\": \"PNDMScheduler\"}"), &c) ==
          TRDI_OK);
    CHECK(c.beta_schedule == TRDI_BETA_LINEAR && c.beta_start == 0.0001 && c.beta_end == 0.02 &&
          c.num_train_timesteps == 1000 && c.steps_offset == 0 && c.set_alpha_to_one);
    CHECK(trdi_noise_config_load(
              write_tmp("b.json", "{\"prediction_type\": \"v_prediction\", \"timestep_spacing\": "
                                  "\"trailing\", \"trained_betas\": null}"),
              &c) == TRDI_OK &&
          c.prediction_type == TRDI_PRED_V && c.timestep_spacing == TRDI_SPACING_TRAILING);
    struct {
        const char *json;
        trdi_status want;
        const char *mention;
    } bad[] = {
        {"{\"beta_schedule\": \"sigmoid\"}", TRDI_ERR_FORMAT, "beta_schedule"},
        {"{\"beta_start\": \"0.1\"}", TRDI_ERR_FORMAT, "beta_start"},
        {"{\"num_train_timesteps\": 10.5}", TRDI_ERR_FORMAT, "num_train_timesteps"},
        {"{\"num_train_timesteps\": 0}", TRDI_ERR_FORMAT, "num_train_timesteps"},
        {"{\"steps_offset\": -1}", TRDI_ERR_FORMAT, "steps_offset"},
        {"{\"set_alpha_to_one\": 1}", TRDI_ERR_FORMAT, "set_alpha_to_one"},
        {"{\"prediction_type\": \"flow\"}", TRDI_ERR_FORMAT, "prediction_type"},
        {"{\"timestep_spacing\": 3}", TRDI_ERR_FORMAT, "timestep_spacing"},
        {"{\"beta_end\": 1.5}", TRDI_ERR_FORMAT, "beta_end"},
        {"{\"trained_betas\": [0.1, 0.2]}", TRDI_ERR_UNSUPPORTED, "trained_betas"},
        {"{\"rescale_betas_zero_snr\": true}", TRDI_ERR_UNSUPPORTED, "rescale_betas_zero_snr"},
        {"{\"beta_start\": 0.1", TRDI_ERR_FORMAT, "JSON"},
        {"{} trailing", TRDI_ERR_FORMAT, "JSON"},
        {"[1, 2]", TRDI_ERR_FORMAT, "object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&c, 0x55, sizeof c);
        trdi_status st = trdi_noise_config_load(write_tmp("bad.json", bad[i].json), &c);
        CHECK_MSG(st == bad[i].want, "%s: status %d, message %s", bad[i].json, st,
                  trdi_last_error());
        CHECK_MSG(strstr(trdi_last_error(), bad[i].mention) != NULL, "%s: message '%s'",
                  bad[i].json, trdi_last_error());
        trdi_noise_config zero;
        memset(&zero, 0, sizeof zero);
        CHECK(memcmp(&c, &zero, sizeof c) == 0);
    }
    CHECK(trdi_noise_config_load(tmpdir, &c) == TRDI_ERR_IO); /* no scheduler_config.json */
    CHECK(trdi_noise_config_load("/nonexistent/trdi/path.json", &c) == TRDI_ERR_IO);
    CHECK(strstr(trdi_last_error(), "/nonexistent/trdi/path.json") != NULL);
    CHECK(trdi_noise_config_load("", &c) == TRDI_ERR_INVALID_ARG);
    char p[128];
    snprintf(p, sizeof p, "%s/a.json", tmpdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/b.json", tmpdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/bad.json", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

int main(void) {
    test_linspace();
    test_tables();
    test_names();
    test_timesteps();
    test_config_load();
    return TEST_SUMMARY();
}
