/* calib.c -- calibrated schedules (issue 7): measures the model's own single-step round-trip
 * error along its DDIM inversion trajectory, fits the smoothed power-law surrogate (fit.c) and
 * picks the timesteps by dynamic programming (dp.c) for the stepping that will run them. The
 * round trip is trdi_ddim_roundtrip (the paper's inversion deviation); the levels follow the
 * step plans' conventions (src/sched/plan.c). File I/O and the cache live in calib_io.c. */
#include "calib/calib.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_SIZES 5 /* step sizes D/4, D/2, D, 2D, 4D */

trdi_calib_params trdi_calib_default_params(void) {
    trdi_calib_params p;
    memset(&p, 0, sizeof p);
    p.steps = 20;
    p.stepping = TRDI_STEPPING_CONSISTENT;
    p.budget = 600;
    p.seed = 0;
    p.guidance = 0.0f;
    return p;
}

void trdi_calib_result_clear(trdi_calib_result *r) {
    if (!r) return;
    free(r->timesteps);
    free(r->uniform);
    free(r->source_t);
    free(r->fit_a);
    free(r->fit_p);
    free(r->points);
    memset(r, 0, sizeof *r);
}

double trdi_calib_surrogate(const trdi_calib_result *r, int64_t s, int64_t d) {
    if (!r || r->n_sources < 1 || d < 1 || r->step_ref < 1) return NAN;
    double a = calib_interp(r->source_t, r->fit_a, r->n_sources, (double)s);
    double p = calib_interp(r->source_t, r->fit_p, r->n_sources, (double)s);
    return exp(a + p * log((double)d / (double)r->step_ref));
}

/* The cost of one step ending at node t (from node u) under the result's stepping. */
static double step_cost(const trdi_calib_result *r, int64_t u, int64_t t) {
    if (r->stepping == TRDI_STEPPING_CONSISTENT) return trdi_calib_surrogate(r, u, t - u);
    /* Reference: the step at t jumps a[t - D] -> a[t] (the clean end below D), whatever u is. */
    const int64_t D = r->num_train_timesteps / r->steps;
    return t - D >= 0 ? trdi_calib_surrogate(r, t - D, D) : trdi_calib_surrogate(r, -1, t + 1);
}

static double dp_cost(void *ctx, int64_t u, int64_t t) { return step_cost(ctx, u, t); }

double trdi_calib_predict(const trdi_calib_result *r, const int64_t *ts, int64_t n) {
    if (!r || !ts || n < 1 || r->n_sources < 1 || r->steps < 1) return NAN;
    for (int64_t i = 1; i < n; i++)
        if (ts[i] >= ts[i - 1]) return NAN;
    if (ts[n - 1] < 0 || ts[0] >= r->num_train_timesteps) return NAN;
    /* The clean-end step first, then ascending: the DP accumulates in the same order, so equal
     * lists give bit-equal totals. */
    double total = step_cost(r, -1, ts[n - 1]);
    double acc = 0.0;
    for (int64_t i = n - 1; i > 0; i--) acc += step_cost(r, ts[i], ts[i - 1]);
    return total + acc;
}

/* --- Measurement ------------------------------------------------------------------------------ */

typedef struct {
    trdi_guide *g;
    const float *alphas;
    float final_alpha;
    int64_t P; /* C * H * W */
} meas_ctx;

static float level(const meas_ctx *c, int64_t t) { return t < 0 ? c->final_alpha : c->alphas[t]; }

static bool tick(const trdi_calib_params *p, const char *phase, int64_t step, int64_t total) {
    return !p->progress || p->progress(p->progress_user, phase, step, total);
}

trdi_status trdi_calibrate(trdi_model *m, const trdi_calib_params *p, const float *inputs,
                           int64_t n_inputs, trdi_calib_result *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !p || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_calibrate: NULL argument");
    if (!inputs || n_inputs < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "calibrate: no calibration inputs");
    const trdi_noise_schedule *ns = trdi_model_noise_schedule(m);
    const trdi_noise_config *cfg = trdi_noise_schedule_config(ns);
    const int64_t N = cfg->num_train_timesteps;
    if (p->steps < 1 || p->steps > N)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "calibrate: steps must be in [1, %lld], got %lld",
                         (long long)N, (long long)p->steps);
    if (p->stepping != TRDI_STEPPING_REFERENCE && p->stepping != TRDI_STEPPING_CONSISTENT)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "calibrate: unknown stepping %d", (int)p->stepping);
    if (p->budget < TRDI_CALIB_MIN_BUDGET * n_inputs || p->budget > 10000000)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "calibrate: budget must be in [%lld, 10000000] model evaluations for %lld "
                         "input(s) (%d each at least), got %lld",
                         (long long)(TRDI_CALIB_MIN_BUDGET * n_inputs), (long long)n_inputs,
                         TRDI_CALIB_MIN_BUDGET, (long long)p->budget);
    if (p->min_gap < 0 || (p->steps > 1 && p->min_gap > N / p->steps))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "calibrate: min_gap must be in [0, %lld] for %lld steps, got %lld",
                         (long long)(N / p->steps), (long long)p->steps, (long long)p->min_gap);
    if (!isfinite(p->guidance))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "calibrate: guidance must be finite");
    int64_t C, H, W;
    trdi_model_latent_shape(m, &C, &H, &W);
    const int64_t P = C * H * W;
    for (int64_t i = 0; i < n_inputs * P; i++)
        if (!isfinite(inputs[i]))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "calibrate: input %lld has a non-finite value",
                             (long long)(i / P));
    trdi_status st;
    const void *cond = NULL, *uncond = NULL;
    if ((st = trdi_model_condition(m, p->prompt ? p->prompt : "", &cond))) return st;
    if (p->guidance > 1.0f && (st = trdi_model_condition(m, "", &uncond))) return st;
    trdi_denoiser den;
    if ((st = trdi_model_denoiser(m, &den))) return st;

    /* Budget per input: a quarter for the trajectory, the rest for round trips (2 each). */
    const int64_t E = p->budget / n_inputs;
    int64_t T = E / 4;
    if (T > N - 1) T = N - 1;
    int64_t J = (E - T) / (2 * N_SIZES);
    if (J > T) J = T;
    if (J > 400) J = 400; /* the fit is dense in 2J unknowns */
    const int64_t D = N / p->steps;
    int64_t sizes[N_SIZES];
    int64_t S = 0;
    const int64_t mult[N_SIZES][2] = {{1, 4}, {1, 2}, {1, 1}, {2, 1}, {4, 1}};
    for (int k = 0; k < N_SIZES; k++) {
        int64_t d = (D * mult[k][0] + mult[k][1] / 2) / mult[k][1];
        if (d < 1) d = 1;
        if (d > N - 1) d = N - 1;
        if (S == 0 || d > sizes[S - 1]) sizes[S++] = d;
    }

    /* The ladder: level L_0 = the clean end, L_k (k = 1..T) drawn uniformly in the k-th of T equal
     * cells of [0, N) (seeded), so levels are strictly increasing and cover the whole range. */
    int64_t *lev = trdi_mallocn((size_t)T + 1, sizeof *lev);
    int64_t *src_idx = trdi_mallocn((size_t)J, sizeof *src_idx);
    float *traj = trdi_mallocn((size_t)(T + 1) * (size_t)P, sizeof *traj);
    float *eps = trdi_mallocn((size_t)P, sizeof *eps);
    double *err = trdi_calloc((size_t)J * (size_t)S, sizeof *err);
    int64_t *cnt = trdi_calloc((size_t)J * (size_t)S, sizeof *cnt);
    out->timesteps = trdi_mallocn((size_t)p->steps, sizeof *out->timesteps);
    out->source_t = trdi_mallocn((size_t)J, sizeof *out->source_t);
    out->fit_a = trdi_mallocn((size_t)J, sizeof *out->fit_a);
    out->fit_p = trdi_mallocn((size_t)J, sizeof *out->fit_p);
    out->points = trdi_calloc((size_t)J * (size_t)S, sizeof *out->points);
    double *yv = trdi_mallocn((size_t)J * (size_t)S, sizeof *yv);
    double u[N_SIZES];
    trdi_guide g = trdi_guide_init(&den, cond, uncond, p->guidance);
    if (!lev || !src_idx || !traj || !eps || !err || !cnt || !out->timesteps || !out->source_t ||
        !out->fit_a || !out->fit_p || !out->points || !yv) {
        st = trdi_fail(TRDI_ERR_NOMEM, "calibrate: out of memory");
        goto done;
    }
    trdi_rng rng;
    trdi_rng_seed(&rng, p->seed);
    lev[0] = -1;
    for (int64_t k = 1; k <= T; k++) {
        double lo = (double)(k - 1) * (double)N / (double)T, hi = (double)k * (double)N / (double)T;
        int64_t a = (int64_t)ceil(lo), b = (int64_t)ceil(hi) - 1; /* integers in [lo, hi) */
        if (b < a) b = a;
        lev[k] = a + (int64_t)trdi_rng_below(&rng, (uint64_t)(b - a + 1));
        if (lev[k] <= lev[k - 1]) lev[k] = lev[k - 1] + 1;
        if (lev[k] > N - 1) lev[k] = N - 1;
    }
    /* Sources: J ladder points spread evenly from the clean end. */
    for (int64_t j = 0; j < J; j++) {
        src_idx[j] = J > 1 ? (j * (T - 1) + (J - 1) / 2) / (J - 1) : 0;
        out->source_t[j] = lev[src_idx[j]];
    }
    for (int k = 0; k < S; k++) u[k] = log((double)sizes[k] / (double)D);
    meas_ctx mc = {&g, trdi_noise_schedule_alphas_cumprod(ns), trdi_noise_schedule_final_alpha(ns), P};
    const int64_t units = n_inputs * (T + J * S);
    int64_t unit = 0;
    for (int64_t in = 0; in < n_inputs; in++) {
        memcpy(traj, inputs + in * P, (size_t)P * sizeof *traj);
        for (int64_t k = 1; k <= T; k++) { /* DDIM inversion, the model at the target level */
            float *z = traj + (k - 1) * P, *zn = traj + k * P;
            if ((st = trdi_guide_eps(&g, z, lev[k], eps))) goto done;
            trdi_ddim_move(P, z, eps, level(&mc, lev[k - 1]), level(&mc, lev[k]), zn);
            if (!tick(p, "trajectory", unit++, units)) {
                st = trdi_fail(TRDI_ABORTED, "calibrate: cancelled");
                goto done;
            }
        }
        for (int64_t j = 0; j < J; j++) {
            const int64_t s = out->source_t[j];
            for (int64_t k = 0; k < S; k++) {
                const int64_t t = s + sizes[k];
                if (t <= N - 1) {
                    double e;
                    st = trdi_ddim_roundtrip(&g, traj + src_idx[j] * P, t, level(&mc, s),
                                             level(&mc, t), NULL, &e);
                    if (st) goto done;
                    err[j * S + k] += e;
                    cnt[j * S + k]++;
                }
                if (!tick(p, "grid", unit++, units)) {
                    st = trdi_fail(TRDI_ABORTED, "calibrate: cancelled");
                    goto done;
                }
            }
        }
    }
    /* Fit in log space; errors are floored at 1e-12 (float32 round-off of unit latents is
     * ~1e-7, so the floor only guards log(0)). */
    for (int64_t i = 0; i < J * S; i++)
        yv[i] = cnt[i] ? log(fmax(err[i] / (double)cnt[i], 1e-12)) : NAN;
    /* Smoothing weights (5 points per source): curvature of a is penalised lightly so the sharp
     * band of the mixture survives; p is smoothed strongly; mu pulls p weakly towards 2. */
    if ((st = calib_fit(J, S, u, yv, 0.3, 3.0, 0.01, out->fit_a, out->fit_p))) goto done;
    out->n_sources = J;
    out->step_ref = D;
    out->steps = p->steps;
    out->stepping = p->stepping;
    out->budget = p->budget;
    out->seed = p->seed;
    out->num_train_timesteps = N;
    out->n_inputs = n_inputs;
    out->nfe = g.nfe;
    double ss_res = 0.0, ss_tot = 0.0, mean = 0.0;
    int64_t nobs = 0;
    for (int64_t j = 0; j < J; j++)
        for (int64_t k = 0; k < S; k++) {
            if (!cnt[j * S + k]) continue;
            trdi_calib_point *pt = &out->points[out->n_points++];
            pt->s = out->source_t[j];
            pt->d = sizes[k];
            pt->err_rms = err[j * S + k] / (double)cnt[j * S + k];
            pt->predicted = trdi_calib_surrogate(out, pt->s, pt->d);
            mean += yv[j * S + k];
            nobs++;
        }
    mean /= (double)(nobs ? nobs : 1);
    for (int64_t i = 0; i < out->n_points; i++) {
        double yl = log(fmax(out->points[i].err_rms, 1e-12)), pl = log(out->points[i].predicted);
        ss_res += (yl - pl) * (yl - pl);
        ss_tot += (yl - mean) * (yl - mean);
    }
    out->fit_r2 = ss_tot > 0.0 ? 1.0 - ss_res / ss_tot : 1.0;
    out->fit_log_rms = sqrt(ss_res / (double)(nobs ? nobs : 1));
    /* The schedule. */
    int64_t n_u = 0;
    if ((st = trdi_timesteps_diffusers(cfg, p->steps, &out->uniform, &n_u))) {
        trdi_error_prefix("calibrate: the uniform list");
        goto done;
    }
    if (n_u != p->steps) {
        st = trdi_fail(TRDI_ERR_INTERNAL, "calibrate: uniform list of %lld entries", (long long)n_u);
        goto done;
    }
    const int64_t lo = out->uniform[n_u - 1], hi = out->uniform[0];
    double total;
    int64_t *asc = trdi_mallocn((size_t)p->steps, sizeof *asc);
    if (!asc) {
        st = trdi_fail(TRDI_ERR_NOMEM, "calibrate: out of memory");
        goto done;
    }
    int64_t gap = p->min_gap;
    if (gap == 0) gap = p->stepping == TRDI_STEPPING_REFERENCE && D >= 2 ? D / 2 : 1;
    /* The uniform list must stay feasible so the calibrated one is never predicted worse. */
    for (int64_t i = 1; i < p->steps; i++)
        if (out->uniform[i - 1] - out->uniform[i] < gap) gap = out->uniform[i - 1] - out->uniform[i];
    out->min_gap = gap;
    st = calib_dp(dp_cost, out, lo, hi, p->steps, gap, asc, &total);
    for (int64_t i = 0; !st && i < p->steps; i++) out->timesteps[i] = asc[p->steps - 1 - i];
    free(asc);
    if (st) goto done;
    out->predicted = trdi_calib_predict(out, out->timesteps, p->steps);
    out->predicted_uniform = trdi_calib_predict(out, out->uniform, p->steps);
    if (!(out->predicted <= out->predicted_uniform)) { /* cannot happen: the DP is exact */
        memcpy(out->timesteps, out->uniform, (size_t)p->steps * sizeof *out->timesteps);
        out->predicted = out->predicted_uniform;
    }
done:
    trdi_guide_clear(&g);
    free(lev);
    free(src_idx);
    free(traj);
    free(eps);
    free(err);
    free(cnt);
    free(yv);
    if (st) trdi_calib_result_clear(out);
    return st;
}
