/* test_plan.c -- step plans (spec 3): the reference stepping against the per-step alpha indices
 * recorded from diffusers in tests/data/sd15-tiny/ddim_inversion_uniform.json, the spec's rules
 * (fixed stride N div n, clean end when t - D < 0) on TRDI lists, the consistent stepping's chain,
 * the two coinciding on uniform leading lists, the mirror between inversion and sampling, and
 * invalid inputs. */
#include "harness.h"

#include "trdi.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static trdi_noise_schedule *S;
static const float *AC;
static float FINAL;

static float level(int64_t k) {
    return k < 0 ? FINAL : AC[k];
}

static int same_step(const trdi_step *a, const trdi_step *b) {
    return a->t == b->t && a->from_t == b->from_t && a->to_t == b->to_t && a->a_from == b->a_from &&
           a->a_to == b->a_to;
}

/* Every step's alphas are the table entries its indices name. */
static int levels_consistent(const trdi_plan *p) {
    int ok = 1;
    for (int64_t i = 0; i < p->n; i++) {
        ok &= p->inv[i].a_from == level(p->inv[i].from_t) && p->inv[i].a_to == level(p->inv[i].to_t);
        ok &= p->smp[i].a_from == level(p->smp[i].from_t) && p->smp[i].a_to == level(p->smp[i].to_t);
        ok &= p->alphas[i] == AC[p->timesteps[i]];
    }
    return ok;
}

static void from_reference_run(void) {
    /* diffusers' own 10-step leading run, step by step. */
    FILE *f = fopen(TRDI_TEST_DATA "/sd15-tiny/ddim_inversion_uniform.json", "rb");
    CHECK(f != NULL);
    if (!f) return;
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    cJSON *root = cJSON_Parse(buf);
    CHECK(root != NULL);
    if (!root) return;
    const cJSON *order = cJSON_GetObjectItemCaseSensitive(root, "sampling_order");
    int64_t n = cJSON_GetArraySize(order), ts[64];
    CHECK(n > 0 && n <= 64);
    for (int64_t i = 0; i < n && i < 64; i++) ts[i] = (int64_t)cJSON_GetArrayItem(order, i)->valuedouble;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
    const cJSON *inv = cJSON_GetObjectItemCaseSensitive(steps, "inversion");
    const cJSON *smp = cJSON_GetObjectItemCaseSensitive(steps, "sampling");
    CHECK(cJSON_GetArraySize(inv) == n && cJSON_GetArraySize(smp) == n);
    for (int st = 0; st < 2; st++) {
        trdi_plan p;
        CHECK(trdi_plan_build(S, ts, n, (trdi_stepping)st, &p) == TRDI_OK);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) {
            /* "final_alpha_cumprod" in the record is index -1 here. */
            const cJSON *a = cJSON_GetArrayItem(inv, (int)i), *b = cJSON_GetArrayItem(smp, (int)i);
            const cJSON *af = cJSON_GetObjectItemCaseSensitive(a, "alpha_from");
            int64_t from = cJSON_IsString(af) ? -1 : (int64_t)af->valuedouble;
            ok &= p.inv[i].t == (int64_t)cJSON_GetObjectItemCaseSensitive(a, "unet_timestep")->valuedouble;
            ok &= p.inv[i].from_t == from;
            ok &= p.inv[i].to_t == (int64_t)cJSON_GetObjectItemCaseSensitive(a, "alpha_to")->valuedouble;
            const cJSON *ap = cJSON_GetObjectItemCaseSensitive(b, "alpha_prev");
            int64_t prev = cJSON_IsString(ap) ? -1 : (int64_t)ap->valuedouble;
            ok &= p.smp[i].t == (int64_t)cJSON_GetObjectItemCaseSensitive(b, "unet_timestep")->valuedouble;
            ok &= p.smp[i].from_t == (int64_t)cJSON_GetObjectItemCaseSensitive(b, "alpha_t")->valuedouble;
            ok &= p.smp[i].to_t == prev;
        }
        CHECK_MSG(ok, "%s stepping differs from diffusers' recorded run", trdi_stepping_name((trdi_stepping)st));
        CHECK(levels_consistent(&p));
        trdi_plan_clear(&p);
    }
    cJSON_Delete(root);
}

static void stride_rules(void) {
    /* The spec's example list (4 steps, D = 250) and the default TRDI list (50 steps, D = 20):
     * every inversion step at t reads level t - D (the clean end below 0) and writes level t;
     * every sampling step at t reads t and writes t - D; sampling mirrors inversion. */
    trdi_trdi_params tp = trdi_trdi_default_params();
    for (int c = 0; c < 2; c++) {
        if (c == 0) tp.steps = 4, tp.spacing = 0.9, tp.window = 50;
        else tp = trdi_trdi_default_params();
        trdi_trdi_result r;
        CHECK(trdi_trdi_build(NULL, &tp, &r) == TRDI_OK);
        trdi_plan p;
        CHECK(trdi_plan_build(S, r.timesteps, r.n, TRDI_STEPPING_REFERENCE, &p) == TRDI_OK);
        const int64_t D = 1000 / r.n;
        int ok = p.n == r.n && p.stepping == TRDI_STEPPING_REFERENCE && p.final_alpha == FINAL &&
                 p.num_train_timesteps == 1000;
        for (int64_t k = 0; k < p.n; k++) {
            int64_t t = r.timesteps[r.n - 1 - k]; /* inversion runs ascending */
            ok &= p.inv[k].t == t && p.inv[k].to_t == t;
            ok &= t - D < 0 ? p.inv[k].from_t == -1 : p.inv[k].from_t == t - D;
            int64_t u = r.timesteps[k]; /* sampling runs descending */
            ok &= p.smp[k].t == u && p.smp[k].from_t == u;
            ok &= u - D < 0 ? p.smp[k].to_t == -1 : p.smp[k].to_t == u - D;
            /* mirror: sampling step k undoes inversion step n-1-k */
            const trdi_step *m = &p.inv[p.n - 1 - k];
            ok &= p.smp[k].t == m->t && p.smp[k].a_from == m->a_to && p.smp[k].a_to == m->a_from;
        }
        CHECK(ok);
        CHECK(levels_consistent(&p));
        /* the chain is discontinuous: some step starts from a level other than the previous end */
        int jumps = 0;
        for (int64_t k = 1; k < p.n; k++) jumps += p.inv[k].from_t != p.inv[k - 1].to_t;
        CHECK(jumps > 0);
        trdi_plan_clear(&p);
        trdi_trdi_result_clear(&r);
    }
}

static void consistent_chain(void) {
    int64_t ts[] = {972, 968, 500, 37, 3};
    trdi_plan p;
    CHECK(trdi_plan_build(S, ts, 5, TRDI_STEPPING_CONSISTENT, &p) == TRDI_OK);
    int ok = p.inv[0].from_t == -1 && p.inv[0].a_from == FINAL;
    for (int64_t k = 0; k < 5; k++) {
        ok &= p.inv[k].t == ts[4 - k] && p.inv[k].to_t == ts[4 - k];
        if (k > 0) ok &= p.inv[k].from_t == p.inv[k - 1].to_t; /* consecutive levels */
        const trdi_step *m = &p.inv[4 - k];
        ok &= p.smp[k].t == m->t && p.smp[k].from_t == m->to_t && p.smp[k].to_t == m->from_t;
    }
    ok &= p.smp[4].to_t == -1 && p.smp[4].a_to == FINAL;
    CHECK(ok);
    CHECK(levels_consistent(&p));
    trdi_plan_clear(&p);
    CHECK(p.inv == NULL && p.n == 0);
}

static void uniform_coincide(void) {
    /* On diffusers' leading lists the stride equals the spacing: both steppings agree. */
    trdi_noise_config c = trdi_noise_config_default();
    const int64_t counts[] = {1, 2, 4, 10, 20, 25, 50, 100, 250, 500};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        int64_t *ts, n;
        CHECK(trdi_timesteps_diffusers(&c, counts[i], &ts, &n) == TRDI_OK);
        trdi_plan a, b;
        CHECK(trdi_plan_build(S, ts, n, TRDI_STEPPING_REFERENCE, &a) == TRDI_OK);
        CHECK(trdi_plan_build(S, ts, n, TRDI_STEPPING_CONSISTENT, &b) == TRDI_OK);
        int ok = 1;
        for (int64_t k = 0; k < n; k++) ok &= same_step(&a.inv[k], &b.inv[k]) && same_step(&a.smp[k], &b.smp[k]);
        CHECK_MSG(ok, "%lld steps: steppings differ", (long long)counts[i]);
        trdi_plan_clear(&a);
        trdi_plan_clear(&b);
        trdi_timesteps_free(ts);
    }
}

static void invalid(void) {
    trdi_plan p;
    int64_t ok_ts[] = {500, 10};
    int64_t up[] = {10, 500};
    int64_t dup[] = {500, 500};
    int64_t hi[] = {1000, 10};
    int64_t neg[] = {10, -1};
    memset(&p, 0x33, sizeof p);
    CHECK(trdi_plan_build(S, ok_ts, 0, TRDI_STEPPING_REFERENCE, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(p.inv == NULL && p.n == 0);
    CHECK(trdi_plan_build(S, up, 2, TRDI_STEPPING_REFERENCE, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "descending") != NULL);
    CHECK(trdi_plan_build(S, dup, 2, TRDI_STEPPING_CONSISTENT, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_plan_build(S, hi, 2, TRDI_STEPPING_REFERENCE, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "1000") != NULL);
    CHECK(trdi_plan_build(S, neg, 2, TRDI_STEPPING_REFERENCE, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_plan_build(NULL, ok_ts, 2, TRDI_STEPPING_REFERENCE, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_plan_build(S, NULL, 2, TRDI_STEPPING_REFERENCE, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_plan_build(S, ok_ts, 2, (trdi_stepping)5, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_plan_build(S, ok_ts, 2, TRDI_STEPPING_REFERENCE, NULL) == TRDI_ERR_INVALID_ARG);
    trdi_plan_clear(NULL);
    trdi_stepping s;
    CHECK(trdi_stepping_from_name("consistent", &s) == TRDI_OK && s == TRDI_STEPPING_CONSISTENT);
    CHECK(trdi_stepping_from_name("neighbour", &s) == TRDI_ERR_INVALID_ARG);
    CHECK(!strcmp(trdi_stepping_name(TRDI_STEPPING_REFERENCE), "reference"));
    /* timestep 0 is a valid level (linspace lists end there) */
    int64_t zero[] = {999, 0};
    CHECK(trdi_plan_build(S, zero, 2, TRDI_STEPPING_REFERENCE, &p) == TRDI_OK);
    CHECK(p.inv[0].t == 0 && p.inv[0].from_t == -1 && p.smp[1].to_t == -1);
    trdi_plan_clear(&p);
}

int main(void) {
    trdi_noise_config c = trdi_noise_config_default();
    CHECK(trdi_noise_schedule_create(&c, &S) == TRDI_OK);
    if (!S) return TEST_SUMMARY();
    AC = trdi_noise_schedule_alphas_cumprod(S);
    FINAL = trdi_noise_schedule_final_alpha(S);
    from_reference_run();
    stride_rules();
    consistent_chain();
    uniform_coincide();
    invalid();
    trdi_noise_schedule_free(S);
    return TEST_SUMMARY();
}
