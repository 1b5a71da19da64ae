/* test_pipeline.c -- the pipeline on the exact built-in model: schedule choice and validation,
 * latent files, reconstruct = invert + sample, evaluation counts, trajectory capture,
 * cancellation, the editing protocol, and bad inputs. */
#include "harness.h"

#include "trdi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void test_schedules(trdi_model *m) {
    const trdi_noise_schedule *ns = trdi_model_noise_schedule(m);
    trdi_schedule_params p = trdi_schedule_default_params();
    int64_t *ts = NULL, n = 0, *want = NULL, nw = 0;
    /* uniform = the scheduler's own list */
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_OK);
    CHECK(trdi_timesteps_diffusers(trdi_noise_schedule_config(ns), 50, &want, &nw) == TRDI_OK);
    CHECK(n == nw && n == 50);
    CHECK(ts && want && memcmp(ts, want, (size_t)n * sizeof *ts) == 0);
    trdi_timesteps_free(ts);
    trdi_timesteps_free(want);
    /* trdi = the authors' pipeline */
    p.kind = TRDI_SCHEDULE_TRDI;
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_OK);
    trdi_trdi_params tp = trdi_trdi_default_params();
    trdi_trdi_result r;
    CHECK(trdi_trdi_build(ns, &tp, &r) == TRDI_OK);
    CHECK(n == r.n && memcmp(ts, r.timesteps, (size_t)n * sizeof *ts) == 0);
    trdi_trdi_result_clear(&r);
    trdi_timesteps_free(ts);
    /* an explicit ascending list is reversed */
    int64_t asc[] = {1, 250, 500, 750};
    p = trdi_schedule_default_params();
    p.kind = TRDI_SCHEDULE_LIST;
    p.timesteps = asc;
    p.n_timesteps = 4;
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_OK);
    CHECK(n == 4 && ts[0] == 750 && ts[3] == 1);
    trdi_timesteps_free(ts);
    trdi_plan plan;
    CHECK(trdi_schedule_plan(ns, &p, &plan) == TRDI_OK && plan.n == 4);
    trdi_plan_clear(&plan);
    /* errors */
    int64_t bad[] = {500, 500, 1};
    p.timesteps = bad;
    p.n_timesteps = 3;
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_ERR_INVALID_ARG && !ts && n == 0);
    int64_t out_of_range[] = {1000, 1};
    p.timesteps = out_of_range;
    p.n_timesteps = 2;
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_ERR_INVALID_ARG);
    p.kind = TRDI_SCHEDULE_TRDI; /* a list with the trdi kind */
    p.timesteps = asc;
    p.n_timesteps = 4;
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_ERR_INVALID_ARG);
    CHECK_MSG(strstr(trdi_last_error(), "trdi") != NULL, "message: %s", trdi_last_error());
    p = trdi_schedule_default_params();
    p.steps = 0;
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_ERR_INVALID_ARG);
    p.steps = -3;
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_ERR_INVALID_ARG);
    p = trdi_schedule_default_params();
    p.kind = TRDI_SCHEDULE_TRDI;
    p.window = 40; /* no feasible DP path at 50 steps (spec 2.8) */
    CHECK(trdi_schedule_timesteps(ns, &p, &ts, &n) == TRDI_ERR_INFEASIBLE);
    trdi_schedule_kind k;
    CHECK(trdi_schedule_kind_from_name("trdi", &k) == TRDI_OK && k == TRDI_SCHEDULE_TRDI);
    CHECK(trdi_schedule_kind_from_name("cosine", &k) == TRDI_ERR_INVALID_ARG);
    CHECK(!strcmp(trdi_schedule_kind_name(TRDI_SCHEDULE_UNIFORM), "uniform"));
}

static void test_latent_files(trdi_model *m) {
    trdi_latent l, back;
    CHECK(trdi_latent_alloc(3, 4, 5, true, &l) == TRDI_OK);
    for (int i = 0; i < 60; i++) {
        l.data[i] = (float)i * 0.25f - 3.0f;
        l.aux[i] = (float)-i;
    }
    const char *p = tmp_path("lat.safetensors");
    CHECK(trdi_latent_save(p, &l, NULL) == TRDI_OK);
    CHECK(trdi_latent_load(p, &back) == TRDI_OK);
    CHECK(back.channels == 3 && back.height == 4 && back.width == 5 && back.aux);
    CHECK(back.data && memcmp(back.data, l.data, 60 * sizeof(float)) == 0);
    CHECK(back.aux && memcmp(back.aux, l.aux, 60 * sizeof(float)) == 0);
    /* a latent of another shape than the model's */
    CHECK(trdi_latent_check_shape(&back, m, "x") == TRDI_ERR_INVALID_ARG);
    CHECK_MSG(strstr(trdi_last_error(), "(1, 3, 4, 5)") != NULL, "message: %s", trdi_last_error());
    trdi_latent_clear(&back);
    /* batch 2 and a missing "latent" are format errors */
    int64_t shape[4] = {2, 3, 2, 5};
    trdi_st_write_entry e = {"latent", TRDI_ST_F32, 4, shape, l.data};
    CHECK(trdi_safetensors_write(p, &e, 1, NULL) == TRDI_OK);
    CHECK(trdi_latent_load(p, &back) == TRDI_ERR_FORMAT && !back.data);
    e.name = "zT";
    shape[0] = 1;
    CHECK(trdi_safetensors_write(p, &e, 1, NULL) == TRDI_OK);
    CHECK(trdi_latent_load(p, &back) == TRDI_ERR_FORMAT);
    CHECK_MSG(strstr(trdi_last_error(), "latent") != NULL, "message: %s", trdi_last_error());
    CHECK(trdi_latent_load(tmp_path("missing.safetensors"), &back) != TRDI_OK);
    trdi_latent_clear(&l);
    unlink(p);
}

static bool cancel_at_3(void *user, const char *phase, int64_t step, int64_t total) {
    (void)phase;
    (void)total;
    int *calls = user;
    (*calls)++;
    return step < 3;
}

static double mean_pixel(const trdi_image *im) {
    double s = 0.0;
    int64_t n = im->width * im->height * im->channels;
    for (int64_t i = 0; i < n; i++) s += im->data[i];
    return s / (double)n;
}

static void test_runs(trdi_model *m) {
    trdi_image img;
    CHECK(trdi_model_builtin_test_image(m, &img) == TRDI_OK);
    trdi_pipeline_params p = trdi_pipeline_default_params();
    p.schedule.steps = 20;
    p.keep_trajectory = true;
    trdi_run_result r, inv, smp;
    /* DDIM defaults: inversion g = 0 (one pass per step), sampling g = 1.2 (two). */
    CHECK(trdi_pipeline_run(m, &p, &img, &r) == TRDI_OK);
    CHECK(r.n_timesteps == 20 && r.nfe_inv == 20 && r.nfe_smp == 40 && r.nfe == 60);
    CHECK(r.has_metrics && isfinite(r.psnr) && r.psnr > 0.0 && r.mse > 0.0 && r.ssim <= 1.0);
    CHECK(r.inv_guidance == 0.0f && fabsf(r.guidance - 1.2f) < 1e-6f);
    /* trajectory: every step, last entries equal the end states */
    int64_t d = r.noise.channels * r.noise.height * r.noise.width;
    CHECK(r.trajectory.n_inv == 20 && r.trajectory.n_smp == 20);
    CHECK(memcmp(r.trajectory.inv + 19 * d, r.noise.data, (size_t)d * sizeof(float)) == 0);
    CHECK(memcmp(r.trajectory.smp + 19 * d, r.sampled.data, (size_t)d * sizeof(float)) == 0);
    const char *tp = tmp_path("traj.safetensors");
    CHECK(trdi_trajectory_save(tp, &r.trajectory, NULL) == TRDI_OK);
    trdi_safetensors *f = NULL;
    CHECK(trdi_safetensors_open(tp, &f) == TRDI_OK);
    CHECK(trdi_safetensors_count(f) == 40);
    CHECK(trdi_safetensors_lookup(f, "inv.00.latents_out") && trdi_safetensors_lookup(f, "inv.19.latents_out"));
    CHECK(trdi_safetensors_lookup(f, "smp.19.latents_out") && !trdi_safetensors_lookup(f, "smp.20.latents_out"));
    trdi_safetensors_close(f);
    unlink(tp);

    /* invert + sample through latent structs = the one-call run, bit for bit */
    p.keep_trajectory = false;
    CHECK(trdi_pipeline_invert(m, &p, &img, NULL, &inv) == TRDI_OK);
    CHECK(inv.nfe == 20 && inv.noise.aux == NULL);
    CHECK(memcmp(inv.noise.data, r.noise.data, (size_t)d * sizeof(float)) == 0);
    CHECK(trdi_pipeline_sample(m, &p, &inv.noise, &smp) == TRDI_OK);
    CHECK(smp.nfe == 40);
    CHECK(smp.output.data && memcmp(smp.output.data, r.output.data, (size_t)(d)) == 0);
    /* inverting the clean latent gives the same noise as inverting the image */
    trdi_run_result inv2;
    CHECK(trdi_pipeline_invert(m, &p, NULL, &inv.clean, &inv2) == TRDI_OK);
    CHECK(memcmp(inv2.noise.data, inv.noise.data, (size_t)d * sizeof(float)) == 0);
    trdi_run_result_clear(&inv2);
    CHECK(trdi_pipeline_invert(m, &p, &img, &inv.clean, &inv2) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_pipeline_invert(m, &p, NULL, NULL, &inv2) == TRDI_ERR_INVALID_ARG);
    trdi_run_result_clear(&inv2);
    trdi_run_result_clear(&smp);
    trdi_run_result_clear(&inv);
    trdi_run_result_clear(&r);

    /* BELM is exact: infinite PSNR; its noise latent carries aux and sampling needs it */
    p.method = trdi_method_default_params(TRDI_METHOD_BELM);
    CHECK(trdi_pipeline_run(m, &p, &img, &r) == TRDI_OK);
    CHECK_MSG(isinf(r.psnr) && r.mse == 0.0, "belm psnr %g", r.psnr);
    CHECK(r.noise.aux != NULL);
    trdi_latent noaux = r.noise;
    noaux.aux = NULL;
    CHECK(trdi_pipeline_sample(m, &p, &noaux, &smp) == TRDI_ERR_INVALID_ARG);
    CHECK(smp.output.data == NULL);
    trdi_run_result_clear(&r);

    /* cancellation */
    int calls = 0;
    p = trdi_pipeline_default_params();
    p.schedule.steps = 10;
    p.progress = cancel_at_3;
    p.progress_user = &calls;
    CHECK(trdi_pipeline_run(m, &p, &img, &r) == TRDI_ABORTED);
    CHECK(calls == 4 && r.output.data == NULL && r.timesteps == NULL);

    /* bad parameters */
    p = trdi_pipeline_default_params();
    p.guidance = INFINITY;
    CHECK(trdi_pipeline_run(m, &p, &img, &r) == TRDI_ERR_INVALID_ARG);
    p = trdi_pipeline_default_params();
    p.prompt = "a unicorn";
    CHECK(trdi_pipeline_run(m, &p, &img, &r) == TRDI_ERR_INVALID_ARG);
    p = trdi_pipeline_default_params();
    p.method.method = (trdi_method)42;
    CHECK(trdi_pipeline_run(m, &p, &img, &r) == TRDI_ERR_INVALID_ARG);
    trdi_image empty = {0, 0, 3, NULL};
    p = trdi_pipeline_default_params();
    CHECK(trdi_pipeline_run(m, &p, &empty, &r) == TRDI_ERR_INVALID_ARG);
    trdi_image_clear(&img);
}

/* Editing moves the sample toward the named component: a two-component mixture of a light and a
 * dark image; editing toward "light" must give a brighter image than editing toward "dark". */
static void test_edit_direction(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/mix", tmpdir);
    CHECK(mkdir(dir, 0700) == 0);
    trdi_image a, b;
    CHECK(trdi_image_alloc(16, 16, 3, &a) == TRDI_OK && trdi_image_alloc(16, 16, 3, &b) == TRDI_OK);
    memset(a.data, 220, 16 * 16 * 3);
    memset(b.data, 30, 16 * 16 * 3);
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/light.png", dir);
    snprintf(pb, sizeof pb, "%s/dark.png", dir);
    CHECK(trdi_image_write(pa, &a, 75) == TRDI_OK && trdi_image_write(pb, &b, 75) == TRDI_OK);
    trdi_model *m = NULL;
    CHECK(trdi_model_load(dir, NULL, &m) == TRDI_OK);
    if (!m) return;
    trdi_image src;
    CHECK(trdi_model_builtin_test_image(m, &src) == TRDI_OK);
    trdi_pipeline_params p = trdi_pipeline_default_params();
    p.schedule.steps = 20;
    p.prompt = "";
    p.guidance = 3.0f;
    trdi_run_result up, down;
    p.target_prompt = "light";
    CHECK(trdi_pipeline_run(m, &p, &src, &up) == TRDI_OK);
    p.target_prompt = "dark";
    CHECK(trdi_pipeline_run(m, &p, &src, &down) == TRDI_OK);
    /* The two components differ by 190 grey levels; a correct edit separates the results by a
     * large fraction of that (50 is far above any reconstruction noise). */
    double mu = up.output.data ? mean_pixel(&up.output) : 0, md = down.output.data ? mean_pixel(&down.output) : 0;
    CHECK_MSG(mu - md > 50.0, "edit toward light %.1f vs dark %.1f", mu, md);
    trdi_run_result_clear(&up);
    trdi_run_result_clear(&down);
    trdi_image_clear(&src);
    trdi_image_clear(&a);
    trdi_image_clear(&b);
    trdi_model_free(m);
    unlink(pa);
    unlink(pb);
    rmdir(dir);
}

static void test_analyze(trdi_model *m) {
    trdi_image img;
    CHECK(trdi_model_builtin_test_image(m, &img) == TRDI_OK);
    int64_t c, h, w;
    trdi_model_latent_shape(m, &c, &h, &w);
    trdi_latent z0;
    CHECK(trdi_latent_alloc(c, h, w, false, &z0) == TRDI_OK);
    CHECK(trdi_model_encode(m, &img, z0.data) == TRDI_OK);
    int64_t ts[] = {0, 100, 300, 600, 900, 990};
    int64_t ds[] = {1, 10, 100};
    trdi_deviation_params p = {0};
    p.timesteps = ts;
    p.n_timesteps = 6;
    p.step_sizes = ds;
    p.n_step_sizes = 3;
    p.guidance = 1.0f;
    trdi_deviation_result r;
    CHECK(trdi_analyze_deviation(m, &p, &z0, &r) == TRDI_OK);
    /* 6 x 3 pairs minus 990 + 10 and 990 + 100 (past 999) and 900 + 100 (= 1000) */
    CHECK_MSG(r.n == 15, "points %lld", (long long)r.n);
    /* the fine trajectory (999 steps) plus two evaluations per point */
    CHECK(r.nfe == 999 + 2 * r.n);
    double mean[3] = {0, 0, 0};
    int cnt[3] = {0, 0, 0};
    for (int64_t i = 0; i < r.n; i++) {
        int j = r.points[i].step == 1 ? 0 : r.points[i].step == 10 ? 1 : 2;
        CHECK(r.points[i].t_to == r.points[i].t_from + r.points[i].step);
        CHECK(r.points[i].err_rms >= 0.0 && isfinite(r.points[i].err_rms));
        mean[j] += r.points[i].err_rms;
        cnt[j]++;
    }
    /* Larger steps deviate more (the round trip is exact only as the step goes to zero). */
    CHECK(cnt[0] == 6 && cnt[1] == 5 && cnt[2] == 4);
    CHECK_MSG(mean[0] / cnt[0] < mean[1] / cnt[1] && mean[1] / cnt[1] < mean[2] / cnt[2],
              "means %g %g %g", mean[0] / cnt[0], mean[1] / cnt[1], mean[2] / cnt[2]);
    trdi_deviation_result_clear(&r);
    int64_t bad_ts[] = {999};
    p.timesteps = bad_ts;
    p.n_timesteps = 1;
    CHECK(trdi_analyze_deviation(m, &p, &z0, &r) == TRDI_ERR_INVALID_ARG && r.points == NULL);
    p.timesteps = ts;
    p.n_step_sizes = 0;
    CHECK(trdi_analyze_deviation(m, &p, &z0, &r) == TRDI_ERR_INVALID_ARG);
    trdi_latent_clear(&z0);
    trdi_image_clear(&img);
}

static void test_charts(void) {
    double x[] = {0, 1, 2, 3}, y1[] = {1e-3, 1e-2, NAN, 1e-1}, y2[] = {2, 3, 1, 4};
    trdi_chart_series s[2] = {{"a", x, y1, 4}, {"b", x, y2, 4}};
    trdi_chart_params cp = trdi_chart_default_params();
    cp.title = "t";
    cp.log_y = true;
    trdi_image im;
    CHECK(trdi_chart_line(&cp, s, 2, &im) == TRDI_OK);
    CHECK(im.width == 800 && im.height == 500 && im.channels == 3);
    /* the first series' colour (palette entry 0) appears */
    bool found = false;
    for (int64_t i = 0; im.data && i < im.width * im.height; i++)
        if (im.data[3 * i] == 31 && im.data[3 * i + 1] == 119 && im.data[3 * i + 2] == 180) found = true;
    CHECK(found);
    trdi_image_clear(&im);
    const char *cats[] = {"ddim", "npi", "renoise", "gnri"};
    s[0].x = s[1].x = NULL;
    cp.log_y = false;
    s[0].y = y2;
    CHECK(trdi_chart_bar(&cp, cats, 4, s, 2, &im) == TRDI_OK);
    trdi_image_clear(&im);
    CHECK(trdi_chart_bar(&cp, cats, 3, s, 2, &im) == TRDI_ERR_INVALID_ARG && im.data == NULL);
    CHECK(trdi_chart_line(&cp, s, 0, &im) == TRDI_ERR_INVALID_ARG);
    /* A +inf value (e.g. PSNR of identical images) is labelled "inf" in its series' colour
     * (palette entry 1 here), where a NaN (not available) leaves the slot empty. */
    double y_inf[] = {2, INFINITY, 1, 4}, y_nan[] = {2, NAN, 1, 4};
    int64_t orange[2][2] = {{0, 0}, {0, 0}};
    for (int kind = 0; kind < 2; kind++)
        for (int v = 0; v < 2; v++) {
            s[1].y = v ? y_nan : y_inf;
            s[0].x = s[1].x = kind ? x : NULL;
            trdi_status cst = kind ? trdi_chart_line(&cp, s, 2, &im) : trdi_chart_bar(&cp, cats, 4, s, 2, &im);
            CHECK(cst == TRDI_OK);
            for (int64_t i = 0; im.data && i < im.width * im.height; i++)
                orange[kind][v] += im.data[3 * i] == 255 && im.data[3 * i + 1] == 127 && im.data[3 * i + 2] == 14;
            trdi_image_clear(&im);
        }
    CHECK_MSG(orange[0][0] > orange[0][1], "bar: inf label drawn (%lld vs %lld px)", (long long)orange[0][0],
              (long long)orange[0][1]);
    CHECK_MSG(orange[1][0] > orange[1][1], "line: inf label drawn (%lld vs %lld px)", (long long)orange[1][0],
              (long long)orange[1][1]);
    s[1].y = y2;
    cp.width = 10;
    s[0].x = s[1].x = x;
    CHECK(trdi_chart_line(&cp, s, 2, &im) == TRDI_ERR_INVALID_ARG);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/trdi_test_pipeline_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    trdi_model *m = NULL;
    CHECK(trdi_model_load("builtin", NULL, &m) == TRDI_OK);
    if (m) {
        test_schedules(m);
        test_latent_files(m);
        test_runs(m);
        test_analyze(m);
    }
    test_edit_direction();
    test_charts();
    trdi_model_free(m);
    rmdir(tmpdir);
    return TEST_SUMMARY();
}
