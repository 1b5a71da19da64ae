/* test_solver_ddim.c -- DDIM inversion on an exact Gaussian-mixture denoiser: reconstruction error
 * shrinks toward zero as steps grow (consistent stepping, up to 500 steps); reference and
 * consistent stepping coincide on uniform leading lists; NFE counting; guide vjp against finite
 * differences; errors: NaN input, NaN predictions, unknown names, missing gradients,
 * cancellation; the implicit residual and the single-step round trip helpers. */
#include "harness.h"
#include "exact_gauss.h"

#include <string.h>

#define C 3
#define H 8
#define W 8
#define D (C * H * W)

static eg_model M;

/* A clean latent that is not a mixture mean: mean 0 plus a deterministic perturbation. */
static void test_image(float *x) {
    float p[D];
    eg_pattern(p, C, H, W, 11);
    for (int i = 0; i < D; i++) x[i] = M.mean[0][i] + 0.3f * p[i];
}

static double roundtrip(trdi_method m, int64_t n, trdi_stepping st, float g_inv, float g_smp,
                        int64_t *nfe_inv, int64_t *nfe_smp) {
    trdi_denoiser den = eg_denoiser(&M, 1);
    int64_t ts[1000];
    eg_leading(n, ts);
    trdi_plan plan;
    eg_plan(M.ac, ts, n, st, &plan);
    trdi_method_params p = trdi_method_default_params(m);
    trdi_guide gi = trdi_guide_init(&den, NULL, NULL, g_inv);
    trdi_guide gs = trdi_guide_init(&den, NULL, NULL, g_smp);
    float x0[D], zT[D], aux[D], back[D];
    test_image(x0);
    double err = -1.0;
    if (trdi_invert(&p, &plan, &gi, x0, zT, aux) == TRDI_OK &&
        trdi_sample(&p, &plan, &gs, zT, aux, back) == TRDI_OK)
        err = eg_rms(back, x0, D);
    if (nfe_inv) *nfe_inv = gi.nfe;
    if (nfe_smp) *nfe_smp = gs.nfe;
    trdi_guide_clear(&gi);
    trdi_guide_clear(&gs);
    eg_plan_free(&plan);
    return err;
}

static void test_convergence(void) {
    const int64_t steps[] = {10, 50, 200, 500};
    double err[4];
    for (int i = 0; i < 4; i++) {
        err[i] = roundtrip(TRDI_METHOD_DDIM, steps[i], TRDI_STEPPING_CONSISTENT, 0.0f, 0.0f, NULL, NULL);
        printf("ddim consistent n=%lld: reconstruction rms %.3e\n", (long long)steps[i], err[i]);
        CHECK(err[i] >= 0.0);
    }
    /* DDIM is a first-order discretisation of the probability-flow ODE: the per-step mismatch of
     * eps(z_s) and eps(z_t) is O(step), so the round-trip error must fall at least ~linearly. A
     * factor 4 per 4-10x more steps leaves room for the constant; 500 steps must be 20x better
     * than 10. */
    CHECK_MSG(err[1] < err[0] / 2.5, "50 vs 10 steps: %.3e vs %.3e", err[1], err[0]);
    CHECK_MSG(err[2] < err[1] / 2.5, "200 vs 50 steps: %.3e vs %.3e", err[2], err[1]);
    CHECK_MSG(err[3] < err[2] / 1.5, "500 vs 200 steps: %.3e vs %.3e", err[3], err[2]);
    CHECK_MSG(err[3] < err[0] / 20.0, "500 vs 10 steps: %.3e vs %.3e", err[3], err[0]);
}

static void test_steppings_coincide(void) {
    const int64_t ns[] = {4, 10, 50};
    for (int i = 0; i < 3; i++) {
        int64_t n = ns[i], ts[1000];
        eg_leading(n, ts);
        trdi_plan pr, pc;
        eg_plan(M.ac, ts, n, TRDI_STEPPING_REFERENCE, &pr);
        eg_plan(M.ac, ts, n, TRDI_STEPPING_CONSISTENT, &pc);
        trdi_denoiser den = eg_denoiser(&M, 1);
        const trdi_method ms[] = {TRDI_METHOD_DDIM, TRDI_METHOD_FPI, TRDI_METHOD_EDICT, TRDI_METHOD_BDIA};
        for (int j = 0; j < 4; j++) {
            trdi_method_params p = trdi_method_default_params(ms[j]);
            p.fpi_iters = 3;
            trdi_guide g = trdi_guide_init(&den, NULL, NULL, 0.0f);
            float x0[D], a[D], b[D], aa[D], ab[D];
            test_image(x0);
            CHECK(trdi_invert(&p, &pr, &g, x0, a, aa) == TRDI_OK);
            CHECK(trdi_invert(&p, &pc, &g, x0, b, ab) == TRDI_OK);
            /* Same alpha pairs and model timesteps: bit-identical. */
            CHECK_MSG(memcmp(a, b, sizeof a) == 0, "%s n=%lld: steppings differ on a leading list",
                      trdi_method_name(ms[j]), (long long)n);
            trdi_guide_clear(&g);
        }
        eg_plan_free(&pr);
        eg_plan_free(&pc);
    }
}

static void test_nfe(void) {
    int64_t ni, ns;
    roundtrip(TRDI_METHOD_DDIM, 10, TRDI_STEPPING_REFERENCE, 0.0f, 3.0f, &ni, &ns);
    CHECK(ni == 10); /* g <= 1: one conditional pass per step */
    CHECK(ns == 20); /* guided: a batch of two counts two */
    roundtrip(TRDI_METHOD_RENOISE, 10, TRDI_STEPPING_REFERENCE, 1.0f, 1.0f, &ni, &ns);
    CHECK(ni == 30); /* R + 2 = 3 per step */
    roundtrip(TRDI_METHOD_FPI, 5, TRDI_STEPPING_REFERENCE, 0.0f, 0.0f, &ni, &ns);
    CHECK(ni == 100);
    roundtrip(TRDI_METHOD_AIDI, 5, TRDI_STEPPING_REFERENCE, 0.0f, 0.0f, &ni, &ns);
    CHECK(ni == 30); /* 1 + K */
    roundtrip(TRDI_METHOD_EDICT, 5, TRDI_STEPPING_REFERENCE, 0.0f, 0.0f, &ni, &ns);
    CHECK(ni == 10 && ns == 10);
    roundtrip(TRDI_METHOD_BELM, 5, TRDI_STEPPING_REFERENCE, 0.0f, 0.0f, &ni, &ns);
    CHECK(ni == 5 && ns == 4); /* BELM's first sampling call is skipped */
}

/* Guide vjp vs central finite differences of the guided eps: eps is smooth, so with h = 1e-2 in
 * float32 the difference quotient is accurate to ~1e-3 relative (O(h^2) truncation plus
 * eps-rounding / h). */
static void test_guide_vjp(void) {
    trdi_denoiser den = eg_denoiser(&M, 1);
    uint32_t c0 = 1u, c1 = 2u;
    const float scales[] = {0.0f, 3.0f};
    for (int si = 0; si < 2; si++) {
        trdi_guide g = trdi_guide_init(&den, &c0, &c1, scales[si]);
        float x[D], v[D], jv[D], xp[D], xm[D], ep[D], em[D];
        eg_pattern(x, C, H, W, 5);
        eg_pattern(v, C, H, W, 9);
        CHECK(trdi_guide_vjp(&g, x, 500, v, jv) == TRDI_OK);
        /* J symmetric: (J^T v)_i = sum_j J_ji v_j = d/dh [eps(x + h e_i) . v]; check a few i. */
        double worst = 0.0;
        for (int i = 0; i < D; i += 17) {
            memcpy(xp, x, sizeof x);
            memcpy(xm, x, sizeof x);
            xp[i] += 1e-2f;
            xm[i] -= 1e-2f;
            trdi_guide_eps(&g, xp, 500, ep);
            trdi_guide_eps(&g, xm, 500, em);
            double fd = 0.0;
            for (int j = 0; j < D; j++) fd += ((double)ep[j] - (double)em[j]) * v[j];
            fd /= (double)(xp[i] - xm[i]);
            double e = fabs(fd - jv[i]) / (fabs(jv[i]) + 1e-2);
            if (e > worst) worst = e;
        }
        CHECK_MSG(worst < 5e-3, "guided vjp vs finite differences (g=%g): rel err %.3e",
                  (double)scales[si], worst);
        trdi_guide_clear(&g);
    }
    trdi_denoiser nov = eg_denoiser(&M, 0);
    trdi_guide g = trdi_guide_init(&nov, NULL, NULL, 1.0f);
    float x[D] = {0}, out[D];
    CHECK(trdi_guide_vjp(&g, x, 10, x, out) == TRDI_ERR_UNSUPPORTED);
    CHECK(strstr(trdi_last_error(), "gradients") != NULL);
}

static trdi_status nan_predict(void *ctx, int64_t batch, const float *x, int64_t t,
                               const void *const *cond, float *eps) {
    trdi_status st = eg_predict(ctx, batch, x, t, cond, eps);
    if (t > 500) eps[3] = NAN;
    return st;
}

static int64_t cancel_at;
static bool on_step(void *user, const char *phase, int64_t step, int64_t total, const float *z) {
    int64_t *count = (int64_t *)user;
    (*count)++;
    (void)z;
    (void)total;
    return !(strcmp(phase, "inv") == 0 && step == cancel_at);
}

static void test_errors(void) {
    trdi_method m;
    CHECK(trdi_method_from_name("renoise", &m) == TRDI_OK && m == TRDI_METHOD_RENOISE);
    for (int i = 0; i < TRDI_METHOD_COUNT; i++) {
        CHECK(trdi_method_from_name(trdi_method_name((trdi_method)i), &m) == TRDI_OK);
        CHECK(m == (trdi_method)i);
    }
    CHECK(trdi_method_from_name("ddpm", &m) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "ddpm") != NULL);
    CHECK(trdi_method_from_name(NULL, &m) == TRDI_ERR_INVALID_ARG);

    int64_t ts[10];
    eg_leading(10, ts);
    trdi_plan plan;
    eg_plan(M.ac, ts, 10, TRDI_STEPPING_REFERENCE, &plan);
    trdi_denoiser den = eg_denoiser(&M, 1);
    trdi_guide g = trdi_guide_init(&den, NULL, NULL, 0.0f);
    trdi_method_params p = trdi_method_default_params(TRDI_METHOD_DDIM);
    float x0[D], zT[D], back[D];
    test_image(x0);

    x0[7] = NAN;
    zT[0] = 5.0f;
    CHECK(trdi_invert(&p, &plan, &g, x0, zT, NULL) == TRDI_ERR_NUMERIC);
    CHECK(strstr(trdi_last_error(), "z0") != NULL);
    CHECK(zT[0] == 0.0f); /* zeroed on failure */
    CHECK(trdi_sample(&p, &plan, &g, x0, NULL, back) == TRDI_ERR_NUMERIC);
    test_image(x0);

    trdi_denoiser bad = den;
    bad.predict = nan_predict;
    trdi_guide gb = trdi_guide_init(&bad, NULL, NULL, 0.0f);
    CHECK(trdi_invert(&p, &plan, &gb, x0, zT, NULL) == TRDI_ERR_NUMERIC);
    CHECK(strstr(trdi_last_error(), "timestep") != NULL);

    trdi_denoiser nov = eg_denoiser(&M, 0);
    trdi_guide gn = trdi_guide_init(&nov, NULL, NULL, 0.0f);
    trdi_method_params pg = trdi_method_default_params(TRDI_METHOD_GNRI);
    CHECK(trdi_invert(&pg, &plan, &gn, x0, zT, NULL) == TRDI_ERR_UNSUPPORTED);
    CHECK(strstr(trdi_last_error(), "gradients") != NULL);
    /* sampling GNRI is DDIM: no gradients needed */
    CHECK(trdi_sample(&pg, &plan, &gn, x0, NULL, back) == TRDI_OK);

    trdi_method_params pb = trdi_method_default_params(TRDI_METHOD_BELM);
    CHECK(trdi_sample(&pb, &plan, &g, x0, NULL, back) == TRDI_ERR_INVALID_ARG);
    trdi_method_params pe = trdi_method_default_params(TRDI_METHOD_EDICT);
    pe.edict_p = 0.0f;
    zT[0] = 1.0f;
    CHECK(trdi_invert(&pe, &plan, &g, x0, zT, NULL) == TRDI_ERR_INVALID_ARG);
    CHECK(zT[0] == 0.0f); /* zeroed on a parameter error too */
    trdi_method_params bm = p;
    bm.method = (trdi_method)42;
    CHECK(trdi_invert(&bm, &plan, &g, x0, zT, NULL) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_invert(&p, NULL, &g, x0, zT, NULL) == TRDI_ERR_INVALID_ARG);
    trdi_plan empty;
    memset(&empty, 0, sizeof empty);
    CHECK(trdi_invert(&p, &empty, &g, x0, zT, NULL) == TRDI_ERR_INVALID_ARG);

    /* cancellation, for a method with its own loop and for the shared walk */
    const trdi_method cm[] = {TRDI_METHOD_DDIM, TRDI_METHOD_RENOISE, TRDI_METHOD_EDICT, TRDI_METHOD_BELM};
    for (int i = 0; i < 4; i++) {
        trdi_method_params pc = trdi_method_default_params(cm[i]);
        int64_t count = 0;
        pc.on_step = on_step;
        pc.on_step_user = &count;
        cancel_at = 3;
        zT[0] = 1.0f;
        CHECK(trdi_invert(&pc, &plan, &g, x0, zT, NULL) == TRDI_ABORTED);
        CHECK(count == 4);
        CHECK(zT[0] == 0.0f);
        cancel_at = -1;
        count = 0;
        CHECK(trdi_invert(&pc, &plan, &g, x0, zT, NULL) == TRDI_OK);
        CHECK(count == 10);
    }
    trdi_guide_clear(&g);
    trdi_guide_clear(&gb);
    trdi_guide_clear(&gn);
    eg_plan_free(&plan);
}

static float traj[51 * D];
static int64_t traj_n;
static bool record(void *user, const char *phase, int64_t step, int64_t total, const float *z) {
    (void)user;
    (void)total;
    if (strcmp(phase, "inv") == 0) memcpy(traj + (step + 1) * D, z, sizeof(float) * D);
    traj_n = step + 1;
    return true;
}

static void test_residual_and_roundtrip(void) {
    int64_t ts[10];
    eg_leading(10, ts);
    trdi_plan plan;
    eg_plan(M.ac, ts, 10, TRDI_STEPPING_CONSISTENT, &plan);
    trdi_denoiser den = eg_denoiser(&M, 1);
    trdi_guide g = trdi_guide_init(&den, NULL, NULL, 0.0f);
    trdi_method_params p = trdi_method_default_params(TRDI_METHOD_FPI);
    p.fpi_iters = 60;
    p.on_step = record;
    float zT[D];
    test_image(traj);
    CHECK(trdi_invert(&p, &plan, &g, traj, zT, NULL) == TRDI_OK);
    double per[10], mean;
    CHECK(trdi_inversion_residual(&plan, &g, traj, per, &mean) == TRDI_OK);
    /* 60 fixed-point iterations of a contraction with rate ~ |c| |J| << 1 solve the implicit
     * equation to float32 round-off (~1e-7 relative on latents of size ~1). */
    CHECK_MSG(mean < 1e-5, "converged FPI residual %.3e", mean);

    /* round trip: z at level a[200] to a[400] and back: non-zero (DDIM is not exact), finite,
     * and smaller for a smaller step */
    float z[D], back[D];
    test_image(z);
    double e_big, e_small;
    CHECK(trdi_ddim_roundtrip(&g, z, 400, M.ac[200], M.ac[400], back, &e_big) == TRDI_OK);
    CHECK(trdi_ddim_roundtrip(&g, z, 250, M.ac[200], M.ac[250], NULL, &e_small) == TRDI_OK);
    printf("single-step round trip: 200->400 %.3e, 200->250 %.3e\n", e_big, e_small);
    CHECK(e_big > 0.0 && e_small > 0.0 && e_small < e_big);
    CHECK_NEAR(eg_rms(back, z, D), e_big, 1e-12);
    CHECK(trdi_ddim_roundtrip(&g, z, 400, 0.0f, M.ac[400], NULL, &e_big) == TRDI_ERR_INVALID_ARG);
    trdi_guide_clear(&g);
    eg_plan_free(&plan);
}

int main(void) {
    eg_init(&M, C, H, W, 2, 0.05);
    test_convergence();
    test_steppings_coincide();
    test_nfe();
    test_guide_vjp();
    test_errors();
    test_residual_and_roundtrip();
    eg_free(&M);
    return TEST_SUMMARY();
}
