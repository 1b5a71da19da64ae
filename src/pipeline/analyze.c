/* analyze.c -- the single-step inversion deviation (the paper's central measurement): along the
 * model's own DDIM inversion trajectory of a clean latent, invert one step from level a[s] to
 * a[s + d] and sample it back (trdi_ddim_roundtrip), for a grid of source timesteps s and step
 * sizes d. It measures; it does not decide schedules. */
#include "pipeline/pipeline.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void trdi_deviation_result_clear(trdi_deviation_result *r) {
    if (!r) return;
    free(r->points);
    memset(r, 0, sizeof *r);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static trdi_status sorted_copy(const int64_t *v, int64_t n, int64_t **out) {
    int64_t *c = trdi_mallocn((size_t)n, sizeof *c);
    if (!c) return trdi_fail(TRDI_ERR_NOMEM, "analyze: out of memory");
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_i64);
    *out = c;
    return TRDI_OK;
}

/* Step callback of the fine trajectory: copies the latent after step k (level timestep k + 1). */
typedef struct {
    float *traj; /* (N, d): row j = latent at level timestep j (row 0 = z0, at the clean end) */
    int64_t d;
    const trdi_deviation_params *p;
} traj_ctx;

static bool traj_step(void *user, const char *phase, int64_t step, int64_t total,
                      const float *latent) {
    traj_ctx *c = user;
    (void)phase;
    if (step >= 0 && step < total) memcpy(c->traj + (step + 1) * c->d, latent, (size_t)c->d * sizeof(float));
    if (c->p->progress && !c->p->progress(c->p->progress_user, "trajectory", step, total))
        return false;
    return true;
}

trdi_status trdi_analyze_deviation(trdi_model *m, const trdi_deviation_params *p,
                                   const trdi_latent *z0, trdi_deviation_result *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_analyze_deviation: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !p || !z0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_analyze_deviation: NULL argument");
    if (!p->timesteps || p->n_timesteps < 1 || !p->step_sizes || p->n_step_sizes < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "analyze: the timestep and step-size grids must "
                                               "not be empty");
    if (!isfinite(p->guidance)) return trdi_fail(TRDI_ERR_INVALID_ARG, "analyze: guidance is not finite");
    trdi_status st = trdi_latent_check_shape(z0, m, "analyze: clean latent");
    if (st) return st;
    const trdi_noise_schedule *ns = trdi_model_noise_schedule(m);
    const int64_t N = trdi_noise_schedule_config(ns)->num_train_timesteps;
    const float *ac = trdi_noise_schedule_alphas_cumprod(ns);
    for (int64_t i = 0; i < p->n_timesteps; i++)
        if (p->timesteps[i] < 0 || p->timesteps[i] > N - 2)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "analyze: timestep %lld is outside [0, %lld]",
                             (long long)p->timesteps[i], (long long)(N - 2));
    for (int64_t i = 0; i < p->n_step_sizes; i++)
        if (p->step_sizes[i] < 1 || p->step_sizes[i] > N - 1)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "analyze: step size %lld is outside [1, %lld]",
                             (long long)p->step_sizes[i], (long long)(N - 1));

    trdi_denoiser den;
    st = trdi_model_denoiser(m, &den);
    const void *cond = NULL, *uncond = NULL;
    if (!st) st = trdi_model_condition(m, p->prompt ? p->prompt : "", &cond);
    if (!st) st = trdi_model_condition(m, "", &uncond);
    if (st) return st;

    const int64_t d = pipeline_latent_numel(z0);
    int64_t *ts = NULL, *ds = NULL, *all = NULL;
    float *traj = NULL;
    trdi_deviation_point *pts = NULL;
    trdi_plan plan;
    memset(&plan, 0, sizeof plan);
    trdi_guide g = trdi_guide_init(&den, cond, uncond, p->guidance);
    st = sorted_copy(p->timesteps, p->n_timesteps, &ts);
    if (!st) st = sorted_copy(p->step_sizes, p->n_step_sizes, &ds);
    /* The fine trajectory: consistent DDIM inversion through every timestep N-1 .. 1. */
    all = st ? NULL : trdi_mallocn((size_t)(N - 1), sizeof *all);
    traj = st ? NULL : trdi_calloc((size_t)N * (size_t)d, sizeof(float));
    pts = st ? NULL : trdi_calloc((size_t)p->n_timesteps * (size_t)p->n_step_sizes, sizeof *pts);
    if (!st && (!all || !traj || !pts)) st = trdi_fail(TRDI_ERR_NOMEM, "analyze: out of memory");
    if (!st) {
        for (int64_t i = 0; i < N - 1; i++) all[i] = N - 1 - i;
        st = trdi_plan_build(ns, all, N - 1, TRDI_STEPPING_CONSISTENT, &plan);
    }
    if (!st) {
        memcpy(traj, z0->data, (size_t)d * sizeof(float));
        traj_ctx tc = {traj, d, p};
        trdi_method_params mp = trdi_method_default_params(TRDI_METHOD_DDIM);
        mp.on_step = traj_step;
        mp.on_step_user = &tc;
        float *zT = trdi_mallocn((size_t)d, sizeof(float));
        if (!zT) st = trdi_fail(TRDI_ERR_NOMEM, "analyze: out of memory");
        if (!st) st = trdi_invert(&mp, &plan, &g, z0->data, zT, NULL);
        free(zT);
        if (st) trdi_error_prefix("analyze: inversion trajectory");
    }
    int64_t np = 0, total = p->n_timesteps * p->n_step_sizes, done = 0;
    const float a_final = trdi_noise_schedule_final_alpha(ns);
    for (int64_t j = 0; !st && j < p->n_step_sizes; j++) {
        for (int64_t i = 0; !st && i < p->n_timesteps; i++, done++) {
            int64_t s = ts[i], t = ts[i] + ds[j];
            if (p->progress && !p->progress(p->progress_user, "grid", done, total)) {
                st = trdi_fail(TRDI_ABORTED, "analyze: cancelled");
                break;
            }
            if (t > N - 1) continue;
            const float *z = traj + s * d;
            trdi_deviation_point *q = &pts[np];
            q->t_from = s;
            q->step = ds[j];
            q->t_to = t;
            q->a_from = s == 0 ? a_final : ac[s];
            q->a_to = ac[t];
            st = trdi_ddim_roundtrip(&g, z, t, q->a_from, q->a_to, NULL, &q->err_rms);
            if (st) break;
            double acc = 0.0;
            for (int64_t k = 0; k < d; k++) acc += (double)z[k] * (double)z[k];
            double rms = sqrt(acc / (double)d);
            q->rel_err = rms > 0.0 ? q->err_rms / rms : NAN;
            np++;
        }
    }
    out->nfe = g.nfe;
    trdi_guide_clear(&g);
    trdi_plan_clear(&plan);
    free(ts);
    free(ds);
    free(all);
    free(traj);
    if (st) {
        free(pts);
        memset(out, 0, sizeof *out);
        return st;
    }
    if (np == 0) {
        free(pts);
        memset(out, 0, sizeof *out);
        return trdi_fail(TRDI_ERR_INVALID_ARG, "analyze: every (timestep, step size) pair goes "
                                               "past timestep %lld",
                         (long long)(N - 1));
    }
    out->points = pts;
    out->n = np;
    return TRDI_OK;
}
