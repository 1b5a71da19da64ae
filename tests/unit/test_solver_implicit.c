/* test_solver_implicit.c -- the implicit-equation methods on an exact Gaussian-mixture denoiser:
 * FPI, AIDI (both modes), ReNoise and GNRI (reference and corrected prior) reduce the residual of
 * the implicit DDIM inverse equation versus plain DDIM at equal steps, and reconstruct better; on a
 * TRDI-like list under both steppings too. */
#include "harness.h"
#include "exact_gauss.h"

#include <string.h>

#define C 3
#define H 8
#define W 8
#define D (C * H * W)
#define MAXN 20

static eg_model M;
static float traj[(MAXN + 1) * D];

static bool record(void *user, const char *phase, int64_t step, int64_t total, const float *z) {
    (void)user;
    (void)total;
    if (strcmp(phase, "inv") == 0) memcpy(traj + (step + 1) * D, z, sizeof(float) * D);
    return true;
}

static void test_image(float *x) {
    float p[D];
    eg_pattern(p, C, H, W, 11);
    for (int i = 0; i < D; i++) x[i] = M.mean[0][i] + 0.3f * p[i];
}

/* Mean residual of the inversion trajectory and the reconstruction rms. */
static void run(trdi_method_params p, const int64_t *ts, int64_t n, trdi_stepping st, double *res,
                double *rec) {
    trdi_denoiser den = eg_denoiser(&M, 1);
    trdi_plan plan;
    eg_plan(M.ac, ts, n, st, &plan);
    trdi_guide g = trdi_guide_init(&den, NULL, NULL, 0.0f);
    p.on_step = record;
    float zT[D], aux[D], back[D];
    test_image(traj);
    *res = *rec = INFINITY;
    if (trdi_invert(&p, &plan, &g, traj, zT, aux) == TRDI_OK &&
        trdi_inversion_residual(&plan, &g, traj, NULL, res) == TRDI_OK &&
        trdi_sample(&p, &plan, &g, zT, aux, back) == TRDI_OK)
        *rec = eg_rms(back, traj, D);
    else
        fprintf(stderr, "%s\n", trdi_last_error());
    trdi_guide_clear(&g);
    eg_plan_free(&plan);
}

int main(void) {
    eg_init(&M, C, H, W, 2, 0.05);
    int64_t uni10[10];
    eg_leading(10, uni10);
    const int64_t trdi10[10] = {961, 877, 741, 603, 460, 318, 190, 89, 23, 3};
    const struct {
        const int64_t *ts;
        trdi_stepping st;
        const char *name;
    } cases[] = {{uni10, TRDI_STEPPING_REFERENCE, "uniform10/reference"},
                 {trdi10, TRDI_STEPPING_REFERENCE, "trdi10/reference"},
                 {trdi10, TRDI_STEPPING_CONSISTENT, "trdi10/consistent"}};
    for (int ci = 0; ci < 3; ci++) {
        double r_ddim, e_ddim;
        run(trdi_method_default_params(TRDI_METHOD_DDIM), cases[ci].ts, 10, cases[ci].st, &r_ddim,
            &e_ddim);
        printf("%-20s ddim            residual %.3e  recon %.3e\n", cases[ci].name, r_ddim, e_ddim);
        CHECK(r_ddim > 1e-4); /* plain DDIM leaves a visible residual at 10 steps */
        struct {
            const char *label;
            trdi_method_params p;
            double factor; /* required residual ratio versus DDIM */
        } ms[7];
        ms[0].label = "fpi";
        ms[0].p = trdi_method_default_params(TRDI_METHOD_FPI);
        ms[1].label = "aidi-anderson";
        ms[1].p = trdi_method_default_params(TRDI_METHOD_AIDI);
        ms[2].label = "aidi-empirical";
        ms[2].p = trdi_method_default_params(TRDI_METHOD_AIDI);
        ms[2].p.aidi_empirical = true;
        ms[3].label = "renoise";
        ms[3].p = trdi_method_default_params(TRDI_METHOD_RENOISE);
        ms[3].p.renoise_noise_reg = false;
        ms[4].label = "renoise+reg";
        ms[4].p = trdi_method_default_params(TRDI_METHOD_RENOISE);
        ms[5].label = "gnri";
        ms[5].p = trdi_method_default_params(TRDI_METHOD_GNRI);
        ms[6].label = "gnri-corrected";
        ms[6].p = trdi_method_default_params(TRDI_METHOD_GNRI);
        ms[6].p.corrected = true;
        /* Required improvement. FPI (20 iterations) and Anderson AIDI converge the contraction:
         * the residual falls by orders of magnitude (10x asked); the empirical AIDI mode averages
         * two iterates and converges more slowly (3x asked). ReNoise with R = 1 is two fixed-point
         * iterations, and its early steps average the first two iterates, so it only has to beat
         * DDIM (0.7x). The noise regulariser moves eps away from the implicit solution on
         * purpose, so with it ReNoise need not beat DDIM (only reported). GNRI's reference update
         * z -= F / (D grad) is scaled by 1 / D (D = C*H*W), so with K = 2 its second candidate is
         * a small move from DDIM's: it must still beat DDIM, by little (about 0.4% here). */
        const double factor[7] = {0.1, 0.1, 0.3, 0.7, -1.0, 1.0, 1.0};
        for (int mi = 0; mi < 7; mi++) {
            double r, e;
            run(ms[mi].p, cases[ci].ts, 10, cases[ci].st, &r, &e);
            printf("%-20s %-15s residual %.3e  recon %.3e\n", cases[ci].name, ms[mi].label, r, e);
            if (factor[mi] > 0.0) {
                if (factor[mi] < 1.0)
                    CHECK_MSG(r < factor[mi] * r_ddim, "%s on %s: residual %.3e vs ddim %.3e",
                              ms[mi].label, cases[ci].name, r, r_ddim);
                else
                    CHECK_MSG(r < r_ddim, "%s on %s: residual %.3e vs ddim %.3e", ms[mi].label,
                              cases[ci].name, r, r_ddim);
                /* Solving the implicit equation is what makes sampling undo the inversion. */
                CHECK_MSG(e < e_ddim, "%s on %s: recon %.3e vs ddim %.3e", ms[mi].label,
                          cases[ci].name, e, e_ddim);
            } else {
                CHECK(isfinite(r) && isfinite(e));
            }
        }
    }
    eg_free(&M);
    return TEST_SUMMARY();
}
