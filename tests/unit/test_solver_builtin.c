/* test_solver_builtin.c -- every method on the built-in exact model (trdi_model_load("builtin"))
 * with real step plans (trdi_plan_build) over the uniform 50-step list and the authors' TRDI list,
 * both steppings: runs, reconstructs the built-in test image (exact methods to round-off, the
 * implicit ones better than DDIM), and the tests' own plan double agrees with trdi_plan_build. */
#include "harness.h"
#include "exact_gauss.h"

#include <string.h>

static trdi_model *M;
static trdi_denoiser DEN;
static int64_t D;
static float *X0;

static double recon(const trdi_method_params *p, const trdi_plan *plan, const char *prompt,
                    float g, int64_t *nfe) {
    const void *cond = NULL, *uncond = NULL;
    if (trdi_model_condition(M, prompt, &cond) || trdi_model_condition(M, "", &uncond)) return NAN;
    trdi_guide gd = trdi_guide_init(&DEN, cond, uncond, g);
    float *zT = malloc(sizeof(float) * (size_t)D * 3), *aux = zT + D, *back = zT + 2 * D;
    double err = NAN;
    if (trdi_invert(p, plan, &gd, X0, zT, aux) == TRDI_OK &&
        trdi_sample(p, plan, &gd, zT, aux, back) == TRDI_OK)
        err = eg_rms(back, X0, D);
    else
        fprintf(stderr, "%s: %s\n", trdi_method_name(p->method), trdi_last_error());
    if (nfe) *nfe = gd.nfe;
    free(zT);
    trdi_guide_clear(&gd);
    return err;
}

static bool plans_equal(const trdi_plan *a, const trdi_plan *b) {
    if (a->n != b->n || a->final_alpha != b->final_alpha) return false;
    for (int64_t k = 0; k < a->n; k++) {
        const trdi_step *x = &a->inv[k], *y = &b->inv[k], *u = &a->smp[k], *v = &b->smp[k];
        if (a->timesteps[k] != b->timesteps[k] || a->alphas[k] != b->alphas[k]) return false;
        if (x->t != y->t || x->a_from != y->a_from || x->a_to != y->a_to) return false;
        if (u->t != v->t || u->a_from != v->a_from || u->a_to != v->a_to) return false;
    }
    return true;
}

int main(void) {
    CHECK(trdi_model_load("builtin", NULL, &M) == TRDI_OK);
    if (!M) return TEST_SUMMARY();
    CHECK(trdi_model_denoiser(M, &DEN) == TRDI_OK);
    D = DEN.channels * DEN.height * DEN.width;
    X0 = malloc(sizeof(float) * (size_t)D);
    trdi_image img;
    CHECK(trdi_model_builtin_test_image(M, &img) == TRDI_OK);
    CHECK(trdi_model_encode(M, &img, X0) == TRDI_OK);
    trdi_image_clear(&img);
    const trdi_noise_schedule *s = trdi_model_noise_schedule(M);

    int64_t uni[50];
    eg_leading(50, uni);
    trdi_trdi_params tp = trdi_trdi_default_params();
    trdi_trdi_result tr;
    CHECK(trdi_trdi_build(NULL, &tp, &tr) == TRDI_OK);
    struct {
        const int64_t *ts;
        int64_t n;
        trdi_stepping st;
        const char *name;
        trdi_plan plan;
    } cases[3] = {{uni, 50, TRDI_STEPPING_REFERENCE, "uniform50", {0}},
                  {tr.timesteps, tr.n, TRDI_STEPPING_REFERENCE, "trdi/reference", {0}},
                  {tr.timesteps, tr.n, TRDI_STEPPING_CONSISTENT, "trdi/consistent", {0}}};
    for (int ci = 0; ci < 3; ci++) {
        CHECK(trdi_plan_build(s, cases[ci].ts, cases[ci].n, cases[ci].st, &cases[ci].plan) == TRDI_OK);
        /* the tests' plan double follows the same documented semantics */
        trdi_plan mine;
        eg_plan(trdi_noise_schedule_alphas_cumprod(s), cases[ci].ts, cases[ci].n, cases[ci].st, &mine);
        CHECK_MSG(plans_equal(&mine, &cases[ci].plan), "plan double differs on %s", cases[ci].name);
        eg_plan_free(&mine);
    }

    /* Bounds (rms over the 32x32x3 latent in [-1, 1]). The built-in mixture (s^2 = 0.05) has
     * its test image off every component, so the probability-flow ODE passes a stiff
     * component-switching window (t ~ 600..850 at 50 steps): there the implicit step's map
     * z -> Inv(eps(z); z_s) has |c J| > 1 (the posterior-covariance part of J is large and
     * negative), plain fixed-point iterations settle on a 2-cycle around the fixed point and the
     * parity of K decides which side sampling lands on. So the reference FPI / AIDI are only
     * required to stay finite here (their residual reduction is tested on a well-conditioned
     * mixture in test_solver_implicit.c); with fp_fallback they must beat DDIM (below).
     * DDIM itself misses by ~0.06 rms (30 dB): required in [1e-2, 0.2], i.e. clearly inexact
     * (float32 round-off is ~1e-6) yet a reconstruction (a wrong-component sample is ~0.8).
     * EDICT and BDIA (corrected) reconstruct to float32 round-off: < 2e-5 rms, as argued in
     * test_solver_exact.c. BELM on the TRDI list: the list pairs timesteps (gaps alternate ~5 and
     * ~37), so BELM's two-step recursion carries coefficients (h_i / h_{i-1})^2 ~ 50 on alternate
     * steps that amplify float32 round-off (6e-8) by ~1e4: observed 6e-4 rms, bound 5e-3, still
     * 100x below DDIM's error. */
    for (int ci = 0; ci < 3; ci++) {
        const trdi_plan *plan = &cases[ci].plan;
        trdi_method_params pd = trdi_method_default_params(TRDI_METHOD_DDIM);
        double e_ddim = recon(&pd, plan, "", 0.0f, NULL);
        printf("%-16s ddim     rms %.3e\n", cases[ci].name, e_ddim);
        CHECK_MSG(isfinite(e_ddim) && e_ddim > 1e-2 && e_ddim < 0.2, "ddim on %s: rms %.3e",
                  cases[ci].name, e_ddim);
        /* fp_fallback: every step is either a converged implicit step or DDIM's own step. That
         * is not a theorem of improvement (near the stiff switch any error may pick the other
         * component: AIDI with fallback under consistent stepping does, 0.81 rms), so the
         * requirement is on the reproduction setting (reference stepping, the demo's): there
         * FPI and AIDI with fallback beat DDIM by 2.3..3.5x; required 1.5x. Consistent
         * stepping: finite only. */
        for (int fm = 0; fm < 2; fm++) {
            trdi_method_params pf =
                trdi_method_default_params(fm ? TRDI_METHOD_AIDI : TRDI_METHOD_FPI);
            pf.fp_fallback = true;
            double e_fb = recon(&pf, plan, "", 0.0f, NULL);
            printf("%-16s %-8s rms %.3e  (fp_fallback)\n", cases[ci].name,
                   trdi_method_name(pf.method), e_fb);
            bool need = cases[ci].st == TRDI_STEPPING_REFERENCE;
            CHECK_MSG(isfinite(e_fb) && (!need || e_fb < e_ddim / 1.5),
                      "%s fp_fallback on %s: rms %.3e vs ddim %.3e", trdi_method_name(pf.method),
                      cases[ci].name, e_fb, e_ddim);
        }
        /* With a single residual (FPI K = 2) convergence cannot be shown, so every step returns
         * z^1 = g(z_s), DDIM's step: the inverted latent equals DDIM's bit for bit. */
        {
            const void *cond = NULL;
            CHECK(trdi_model_condition(M, "", &cond) == TRDI_OK);
            trdi_guide gd = trdi_guide_init(&DEN, cond, cond, 0.0f);
            trdi_method_params pf = trdi_method_default_params(TRDI_METHOD_FPI);
            pf.fpi_iters = 2;
            pf.fp_fallback = true;
            float *za = malloc(sizeof(float) * (size_t)D * 3), *zb = za + D, *aux = za + 2 * D;
            CHECK(trdi_invert(&pd, plan, &gd, X0, za, aux) == TRDI_OK);
            CHECK(trdi_invert(&pf, plan, &gd, X0, zb, aux) == TRDI_OK);
            CHECK_MSG(memcmp(za, zb, sizeof(float) * (size_t)D) == 0,
                      "fpi K=2 with fp_fallback differs from ddim on %s", cases[ci].name);
            /* and without the fallback K = 2 is a different (second) iterate */
            pf.fp_fallback = false;
            CHECK(trdi_invert(&pf, plan, &gd, X0, zb, aux) == TRDI_OK);
            CHECK(memcmp(za, zb, sizeof(float) * (size_t)D) != 0);
            free(za);
            trdi_guide_clear(&gd);
        }
        for (int mi = 1; mi < TRDI_METHOD_COUNT; mi++) {
            trdi_method_params p = trdi_method_default_params((trdi_method)mi);
            p.corrected = true;
            int64_t nfe;
            double e = recon(&p, plan, "", 0.0f, &nfe);
            printf("%-16s %-8s rms %.3e  nfe %lld\n", cases[ci].name, trdi_method_name(p.method), e,
                   (long long)nfe);
            CHECK_MSG(isfinite(e), "%s on %s", trdi_method_name(p.method), cases[ci].name);
            double bound = INFINITY;
            if (p.method == TRDI_METHOD_EDICT || p.method == TRDI_METHOD_BDIA) bound = 2e-5;
            if (p.method == TRDI_METHOD_BELM) bound = ci == 0 ? 2e-5 : 5e-3;
            CHECK_MSG(e < bound, "%s on %s: rms %.3e, bound %.1e", trdi_method_name(p.method),
                      cases[ci].name, e, bound);
        }
        /* a conditional prompt runs too (labels of the built-in mixture) */
        CHECK(isfinite(recon(&pd, plan, "a circle", 0.0f, NULL)));
    }
    for (int ci = 0; ci < 3; ci++) trdi_plan_clear(&cases[ci].plan);
    trdi_trdi_result_clear(&tr);
    free(X0);
    trdi_model_free(M);
    return TEST_SUMMARY();
}
