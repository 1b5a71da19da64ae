/* test_solver_guidance.c -- conditioning through the guide on a labelled two-component exact
 * mixture ("cat" = component 0, "dog" = component 1; a handle is the bit mask of the components a
 * prompt selects): sampling with a prompt lands near its component, a negative prompt pushes away
 * from its component, editing (invert with the source prompt, sample with the target) moves an
 * image to the target component, NPI's reference sampling ignores the negative prompt while its
 * corrected recipe uses it. */
#include "harness.h"
#include "exact_gauss.h"

#include <string.h>

#define C 3
#define H 8
#define W 8
#define D (C * H * W)

static eg_model M;
static const uint32_t CAT = 1u, DOG = 2u, ALL = 3u;

static double dist(const float *x, int k) {
    return eg_rms(x, M.mean[k], D);
}

static trdi_status sample(trdi_method m, bool corrected, const trdi_plan *plan, const void *cond,
                          const void *uncond, float g, const float *zT, float *out, int64_t *nfe) {
    trdi_denoiser den = eg_denoiser(&M, 1);
    trdi_guide gd = trdi_guide_init(&den, cond, uncond, g);
    trdi_method_params p = trdi_method_default_params(m);
    p.corrected = corrected;
    trdi_status st = trdi_sample(&p, plan, &gd, zT, NULL, out);
    if (nfe) *nfe = gd.nfe;
    trdi_guide_clear(&gd);
    return st;
}

int main(void) {
    eg_init(&M, C, H, W, 2, 0.02);
    int64_t ts[20];
    eg_leading(20, ts);
    trdi_plan plan;
    eg_plan(M.ac, ts, 20, TRDI_STEPPING_REFERENCE, &plan);
    /* A noise latent halfway between the two components' noised means, plus structureless
     * noise: without conditioning either component is plausible. */
    float zT[D], out[D];
    {
        float nz[D];
        eg_pattern(nz, C, H, W, 23);
        const float sa = sqrtf(M.ac[ts[0]]);
        for (int i = 0; i < D; i++) zT[i] = 0.5f * sa * (M.mean[0][i] + M.mean[1][i]) + nz[i];
    }
    /* Prompt selects the component: the sample is closer to its mean than to the other's (the
     * components are ~1.1 rms apart with variance 0.02, so a correct sample is within ~0.2). */
    CHECK(sample(TRDI_METHOD_DDIM, false, &plan, &CAT, &ALL, 1.0f, zT, out, NULL) == TRDI_OK);
    printf("cond cat: d(cat) %.3f d(dog) %.3f\n", dist(out, 0), dist(out, 1));
    CHECK(dist(out, 0) < 0.3 && dist(out, 1) > 0.6);
    CHECK(sample(TRDI_METHOD_DDIM, false, &plan, &DOG, &ALL, 1.0f, zT, out, NULL) == TRDI_OK);
    printf("cond dog: d(cat) %.3f d(dog) %.3f\n", dist(out, 0), dist(out, 1));
    CHECK(dist(out, 1) < 0.3 && dist(out, 0) > 0.6);

    /* Negative prompt: positive "" (all components), g = 3. Relative to the unguided sample
     * from the same zT, a negative "cat" moves it toward dog and away from cat, and a negative
     * "dog" moves it away from dog. (Inside one component's basin CFG only extrapolates, so the
     * effect is measured against the unguided sample rather than as a basin flip.) */
    int64_t nfe;
    float base[D], negcat[D];
    CHECK(sample(TRDI_METHOD_DDIM, false, &plan, &ALL, &ALL, 1.0f, zT, base, NULL) == TRDI_OK);
    CHECK(sample(TRDI_METHOD_DDIM, false, &plan, &ALL, &DOG, 3.0f, zT, out, &nfe) == TRDI_OK);
    CHECK(sample(TRDI_METHOD_DDIM, false, &plan, &ALL, &CAT, 3.0f, zT, negcat, NULL) == TRDI_OK);
    printf("unguided: d(cat) %.3f d(dog) %.3f; neg dog: %.3f %.3f; neg cat: %.3f %.3f\n",
           dist(base, 0), dist(base, 1), dist(out, 0), dist(out, 1), dist(negcat, 0),
           dist(negcat, 1));
    CHECK(nfe == 40);
    CHECK(dist(out, 1) > dist(base, 1) && dist(out, 0) < dist(out, 1));
    CHECK(dist(negcat, 1) < dist(base, 1) && dist(negcat, 0) > dist(base, 0));

    /* Editing: an image near "cat", inverted with the source prompt (g = 0, as DDIM's experiments
     * do), sampled with the target prompt "dog", negative = source prompt, g = 1.2 (README's
     * SD1.5 DDIM value; larger g overshoots on this tight mixture). The edit must land at least
     * twice as close to dog as the input was, and closer to dog than to cat. */
    {
        trdi_denoiser den = eg_denoiser(&M, 1);
        float x0[D], p[D], z[D], edited[D];
        eg_pattern(p, C, H, W, 31);
        for (int i = 0; i < D; i++) x0[i] = M.mean[0][i] + 0.1f * p[i];
        const trdi_method ms[] = {TRDI_METHOD_DDIM, TRDI_METHOD_NPI, TRDI_METHOD_EDICT, TRDI_METHOD_BELM};
        for (int mi = 0; mi < 4; mi++) {
            trdi_method_params pm = trdi_method_default_params(ms[mi]);
            pm.corrected = true;
            trdi_guide gi = trdi_guide_init(&den, &CAT, &ALL, 0.0f);
            trdi_guide gs = trdi_guide_init(&den, &DOG, &CAT, 1.2f);
            float aux[D];
            CHECK(trdi_invert(&pm, &plan, &gi, x0, z, aux) == TRDI_OK);
            CHECK(trdi_sample(&pm, &plan, &gs, z, aux, edited) == TRDI_OK);
            printf("edit cat->dog (%s): input d(dog) %.3f, edited d(cat) %.3f d(dog) %.3f\n",
                   trdi_method_name(ms[mi]), dist(x0, 1), dist(edited, 0), dist(edited, 1));
            CHECK(dist(edited, 1) < dist(edited, 0));
            CHECK(dist(edited, 1) < 0.5 * dist(x0, 1));
            trdi_guide_clear(&gi);
            trdi_guide_clear(&gs);
        }
    }

    /* NPI: reference sampling replaces the negative branch by the positive prompt, so with any g
     * it equals one conditional pass bit for bit (eps_c + g (eps_c - eps_c) == eps_c), at the cost
     * of two passes; the corrected recipe (CFG against the source prompt) differs. */
    {
        float ref[D], cond_only[D], corr[D];
        int64_t nfe_ref, nfe_cond;
        CHECK(sample(TRDI_METHOD_NPI, false, &plan, &DOG, &CAT, 3.0f, zT, ref, &nfe_ref) == TRDI_OK);
        CHECK(sample(TRDI_METHOD_DDIM, false, &plan, &DOG, &CAT, 1.0f, zT, cond_only, &nfe_cond) ==
              TRDI_OK);
        CHECK(memcmp(ref, cond_only, sizeof ref) == 0);
        CHECK(nfe_ref == 40 && nfe_cond == 20);
        CHECK(sample(TRDI_METHOD_NPI, true, &plan, &DOG, &CAT, 3.0f, zT, corr, NULL) == TRDI_OK);
        CHECK(eg_maxabs(corr, ref, D) > 1e-3);
    }

    /* BDIA's reference CFG chunk bug changes guided sampling; without guidance both agree. */
    {
        float a[D], b[D];
        CHECK(sample(TRDI_METHOD_BDIA, false, &plan, &DOG, &CAT, 3.0f, zT, a, NULL) == TRDI_OK);
        CHECK(sample(TRDI_METHOD_BDIA, true, &plan, &DOG, &CAT, 3.0f, zT, b, NULL) == TRDI_OK);
        CHECK(eg_maxabs(a, b, D) > 1e-4);
        CHECK(sample(TRDI_METHOD_BDIA, false, &plan, &DOG, &CAT, 1.0f, zT, a, NULL) == TRDI_OK);
        CHECK(sample(TRDI_METHOD_BDIA, true, &plan, &DOG, &CAT, 1.0f, zT, b, NULL) == TRDI_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
    eg_plan_free(&plan);
    eg_free(&M);
    return TEST_SUMMARY();
}
