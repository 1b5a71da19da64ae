/* method.c -- the public face of the solvers: method names and defaults, argument and plan
 * validation, dispatch of trdi_invert / trdi_sample to one file per method, and the shared DDIM
 * step helpers (the move of spec 3.2/3.3, the plain walk, the implicit-equation residual and the
 * single-step round trip). Not a method itself: see ddim.c, npi.c, ... */
#include "solver/solver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const METHOD_NAMES[TRDI_METHOD_COUNT] = {
    "ddim", "npi", "renoise", "gnri", "fpi", "aidi", "edict", "bdia", "belm"};

const char *trdi_method_name(trdi_method m) {
    if ((int)m < 0 || (int)m >= TRDI_METHOD_COUNT) return "?";
    return METHOD_NAMES[m];
}

trdi_status trdi_method_from_name(const char *name, trdi_method *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_method_from_name: out is NULL");
    *out = TRDI_METHOD_DDIM;
    if (!name) return trdi_fail(TRDI_ERR_INVALID_ARG, "method name is NULL");
    for (int i = 0; i < TRDI_METHOD_COUNT; i++)
        if (strcmp(name, METHOD_NAMES[i]) == 0) {
            *out = (trdi_method)i;
            return TRDI_OK;
        }
    return trdi_fail(TRDI_ERR_INVALID_ARG,
                     "unknown method '%s' (known: ddim, npi, renoise, gnri, fpi, aidi, edict, bdia, "
                     "belm)",
                     name);
}

bool trdi_method_has_aux(trdi_method m) {
    return m == TRDI_METHOD_EDICT || m == TRDI_METHOD_BDIA || m == TRDI_METHOD_BELM;
}

bool trdi_method_needs_vjp(trdi_method m) {
    return m == TRDI_METHOD_GNRI;
}

void trdi_method_default_guidance(trdi_method m, float *inv_g, float *smp_g) {
    float gi = 1.0f, gs = 1.0f;
    switch (m) {
    case TRDI_METHOD_DDIM: gi = 0.0f; gs = 1.2f; break;  /* exp scripts: inversion g = 0 */
    case TRDI_METHOD_NPI: gi = 1.0f; gs = 1.0f; break;   /* README SD1.5 */
    case TRDI_METHOD_RENOISE: gi = 1.0f; gs = 1.0f; break;
    case TRDI_METHOD_GNRI: gi = 1.2f; gs = 1.2f; break;
    case TRDI_METHOD_FPI: gi = 2.0f; gs = 1.0f; break;   /* pipeline + config inversion g */
    case TRDI_METHOD_AIDI: gi = 0.0f; gs = 1.0f; break;  /* configs and examples */
    case TRDI_METHOD_EDICT: gi = 0.0f; gs = 0.0f; break; /* examples */
    case TRDI_METHOD_BDIA: gi = 1.0f; gs = 1.0f; break;
    case TRDI_METHOD_BELM: gi = 1.0f; gs = 1.0f; break;
    }
    if (inv_g) *inv_g = gi;
    if (smp_g) *smp_g = gs;
}

trdi_method_params trdi_method_default_params(trdi_method m) {
    trdi_method_params p;
    memset(&p, 0, sizeof p);
    if ((int)m < 0 || (int)m >= TRDI_METHOD_COUNT) m = TRDI_METHOD_DDIM;
    p.method = m;
    p.corrected = false;
    p.renoise_steps = 1;
    p.renoise_early_timestep = 250;
    p.renoise_early_weights[0] = 0.5f;
    p.renoise_early_weights[1] = 0.5f;
    p.renoise_latter_weights[0] = 0.0f;
    p.renoise_latter_weights[1] = 1.0f;
    p.renoise_noise_reg = true;
    p.renoise_lambda_ac = 10.0f;
    p.renoise_lambda_kl = 0.05f;
    p.renoise_reg_steps = 4;
    p.renoise_ac_rolls = 5;
    p.seed = 666;
    p.gnri_iters = 2;
    p.gnri_lambda = 0.1f;
    p.gnri_eta = 0.0f;
    p.fpi_iters = 20;
    p.aidi_iters = 5;
    p.aidi_window = 3;
    p.aidi_empirical = false;
    p.edict_p = 0.93f;
    p.bdia_gamma = 1.0f;
    return p;
}

/* ---------------------------------------------------------------------------------------------- */
/* Shared helpers                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

void trdi_ddim_move(int64_t n, const float *z, const float *eps, float a_from, float a_to,
                    float *out) {
    /* diffusers DDIMScheduler.step / the repo's ddim_inverse_step, eta = 0, float32 tensors:
     * x0 = (z - (1 - a_from)**0.5 * eps) / a_from**0.5; out = a_to**0.5 * x0 + (1 - a_to)**0.5 * eps */
    const float sa_f = sqrtf(a_from), sb_f = sqrtf(1.0f - a_from);
    const float sa_t = sqrtf(a_to), sb_t = sqrtf(1.0f - a_to);
    for (int64_t i = 0; i < n; i++) {
        float e = eps[i];
        float x0 = (z[i] - sb_f * e) / sa_f;
        out[i] = sa_t * x0 + sb_t * e;
    }
}

trdi_status solver_emit(const solver_ctx *c, const char *phase, int64_t step, const float *z) {
    if (!c->p->on_step) return TRDI_OK;
    if (!c->p->on_step(c->p->on_step_user, phase, step, c->plan->n, z))
        return trdi_fail(TRDI_ABORTED, "%s: cancelled by the step callback at %s step %lld",
                         trdi_method_name(c->p->method), phase, (long long)step);
    return TRDI_OK;
}

trdi_status solver_check_finite(const float *x, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return trdi_fail(TRDI_ERR_NUMERIC, "%s holds a non-finite value (element %lld = %g)",
                             what, (long long)i, (double)x[i]);
    return TRDI_OK;
}

float *solver_scratch(int64_t d, int64_t count) {
    float *s = trdi_calloc((size_t)d * (size_t)count, sizeof(float));
    if (!s)
        trdi_fail(TRDI_ERR_NOMEM, "cannot allocate %lld x %lld floats of solver scratch",
                  (long long)count, (long long)d);
    return s;
}

trdi_status solver_guided_move(const solver_ctx *c, trdi_step s, const float *z_eval,
                               const float *z, float *eps_buf, float *z_out) {
    trdi_status st = trdi_guide_eps(c->guide, z_eval, s.t, eps_buf);
    if (st) return st;
    trdi_ddim_move(c->d, z, eps_buf, s.a_from, s.a_to, z_out);
    return TRDI_OK;
}

trdi_status solver_ddim_walk(const solver_ctx *c, bool inverse, float *z) {
    float *eps = solver_scratch(c->d, 1);
    if (!eps) return TRDI_ERR_NOMEM;
    trdi_status st = TRDI_OK;
    const trdi_step *steps = inverse ? c->plan->inv : c->plan->smp;
    for (int64_t k = 0; k < c->plan->n && !st; k++) {
        st = solver_guided_move(c, steps[k], z, z, eps, z);
        if (!st) st = solver_emit(c, inverse ? "inv" : "smp", k, z);
    }
    free(eps);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Validation and dispatch                                                                        */
/* ---------------------------------------------------------------------------------------------- */

static trdi_status check_level(float a, const char *what, int64_t k) {
    if (!(a > 0.0f && a <= 1.0f))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "plan: %s of step %lld is %g, outside (0, 1]", what,
                         (long long)k, (double)a);
    return TRDI_OK;
}

static trdi_status check_plan(const trdi_plan *plan) {
    if (!plan) return trdi_fail(TRDI_ERR_INVALID_ARG, "plan is NULL");
    if (plan->n < 1) return trdi_fail(TRDI_ERR_INVALID_ARG, "plan has %lld steps", (long long)plan->n);
    if (!plan->timesteps || !plan->alphas || !plan->inv || !plan->smp)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "plan arrays are NULL (build it with trdi_plan_build)");
    trdi_status st;
    for (int64_t k = 0; k < plan->n; k++) {
        if ((st = check_level(plan->inv[k].a_from, "inv a_from", k))) return st;
        if ((st = check_level(plan->inv[k].a_to, "inv a_to", k))) return st;
        if ((st = check_level(plan->smp[k].a_from, "smp a_from", k))) return st;
        if ((st = check_level(plan->smp[k].a_to, "smp a_to", k))) return st;
        if ((st = check_level(plan->alphas[k], "alphas", k))) return st;
        if (k > 0 && plan->timesteps[k] >= plan->timesteps[k - 1])
            return trdi_fail(TRDI_ERR_INVALID_ARG, "plan timesteps are not strictly descending at %lld",
                             (long long)k);
    }
    return TRDI_OK;
}

static trdi_status check_params(const trdi_method_params *p) {
    const char *m = trdi_method_name(p->method);
    if ((int)p->method < 0 || (int)p->method >= TRDI_METHOD_COUNT)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "method %d is out of range", (int)p->method);
    switch (p->method) {
    case TRDI_METHOD_RENOISE:
        if (p->renoise_steps < 0 || p->renoise_steps + 1 > TRDI_RENOISE_MAX_WEIGHTS)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "renoise: renoise_steps %lld outside [0, %d]",
                             (long long)p->renoise_steps, TRDI_RENOISE_MAX_WEIGHTS - 1);
        if (p->renoise_reg_steps < 0 || p->renoise_ac_rolls < 0)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "renoise: reg_steps and ac_rolls must be >= 0");
        if (!isfinite(p->renoise_lambda_ac) || !isfinite(p->renoise_lambda_kl))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "renoise: lambdas must be finite");
        for (int64_t i = 0; i <= p->renoise_steps; i++)
            if (!isfinite(p->renoise_early_weights[i]) || !isfinite(p->renoise_latter_weights[i]))
                return trdi_fail(TRDI_ERR_INVALID_ARG, "renoise: weight %lld is not finite",
                                 (long long)i);
        break;
    case TRDI_METHOD_GNRI:
        if (p->gnri_iters < 1)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "gnri: gnri_iters must be >= 1, got %lld",
                             (long long)p->gnri_iters);
        if (!isfinite(p->gnri_lambda) || !isfinite(p->gnri_eta))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "gnri: lambda and eta must be finite");
        break;
    case TRDI_METHOD_FPI:
        if (p->fpi_iters < 1)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "fpi: fpi_iters must be >= 1, got %lld",
                             (long long)p->fpi_iters);
        break;
    case TRDI_METHOD_AIDI:
        if (p->aidi_iters < 0)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "aidi: aidi_iters must be >= 0");
        if (p->aidi_window < 1 || p->aidi_window > 8)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "aidi: aidi_window %lld outside [1, 8]",
                             (long long)p->aidi_window);
        break;
    case TRDI_METHOD_EDICT:
        if (!(p->edict_p > 0.0f && p->edict_p <= 1.0f))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "edict: edict_p %g outside (0, 1]",
                             (double)p->edict_p);
        break;
    case TRDI_METHOD_BDIA:
        if (!isfinite(p->bdia_gamma) || p->bdia_gamma == 0.0f)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "bdia: bdia_gamma must be finite and non-zero, got %g",
                             (double)p->bdia_gamma);
        break;
    default: break;
    }
    (void)m;
    return TRDI_OK;
}

/* C*H*W of a usable guide, else 0 (then outputs cannot be zero-filled). */
static int64_t guide_size(const trdi_guide *g) {
    if (!g || !g->den || g->den->channels <= 0 || g->den->height <= 0 || g->den->width <= 0) return 0;
    return g->den->channels * g->den->height * g->den->width;
}

static trdi_status check_common(const trdi_method_params *p, const trdi_plan *plan,
                                trdi_guide *guide, const void *in, const void *out,
                                const char *fn) {
    if (!p || !guide || !in || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: params, guide, input or output is NULL", fn);
    if (!guide->den || !guide->den->predict)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: the guide has no denoiser", fn);
    if (guide->den->channels <= 0 || guide->den->height <= 0 || guide->den->width <= 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: denoiser shape is not positive", fn);
    if (!isfinite(guide->scale))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: guidance scale is not finite", fn);
    trdi_status st = check_params(p);
    if (!st) st = check_plan(plan);
    if (st) {
        trdi_error_prefix("%s (%s)", fn, trdi_method_name(p->method));
        return st;
    }
    if (trdi_method_needs_vjp(p->method) && !guide->den->vjp && strcmp(fn, "trdi_invert") == 0)
        return trdi_fail(TRDI_ERR_UNSUPPORTED,
                         "%s: method '%s' needs model gradients (J^T v) and the denoiser has none",
                         fn, trdi_method_name(p->method));
    return TRDI_OK;
}

trdi_status trdi_invert(const trdi_method_params *p, const trdi_plan *plan, trdi_guide *guide,
                        const float *z0, float *zT, float *aux) {
    trdi_status st = check_common(p, plan, guide, z0, zT, "trdi_invert");
    int64_t d = guide_size(guide);
    float *aux_own = NULL;
    if (!st) st = solver_check_finite(z0, d, "trdi_invert: input latent z0");
    if (!st && trdi_method_has_aux(p->method) && !aux) {
        aux_own = solver_scratch(d, 1);
        if (!aux_own) st = TRDI_ERR_NOMEM;
    }
    if (!st) {
        solver_ctx c = {p, plan, guide, d};
        float *ax = aux ? aux : aux_own;
        switch (p->method) {
        case TRDI_METHOD_DDIM: st = solver_ddim_invert(&c, z0, zT); break;
        case TRDI_METHOD_NPI: st = solver_npi_invert(&c, z0, zT); break;
        case TRDI_METHOD_RENOISE: st = solver_renoise_invert(&c, z0, zT); break;
        case TRDI_METHOD_GNRI: st = solver_gnri_invert(&c, z0, zT); break;
        case TRDI_METHOD_FPI: st = solver_fpi_invert(&c, z0, zT); break;
        case TRDI_METHOD_AIDI: st = solver_aidi_invert(&c, z0, zT); break;
        case TRDI_METHOD_EDICT: st = solver_edict_invert(&c, z0, zT, ax); break;
        case TRDI_METHOD_BDIA: st = solver_bdia_invert(&c, z0, zT, ax); break;
        case TRDI_METHOD_BELM: st = solver_belm_invert(&c, z0, zT, ax); break;
        }
        if (!st) st = solver_check_finite(zT, d, "trdi_invert: result zT");
        if (st && st != TRDI_ABORTED) trdi_error_prefix("invert (%s)", trdi_method_name(p->method));
    }
    free(aux_own);
    if (st && zT && d > 0) memset(zT, 0, (size_t)d * sizeof(float));
    if (st && aux && d > 0 && p && trdi_method_has_aux(p->method))
        memset(aux, 0, (size_t)d * sizeof(float));
    return st;
}

trdi_status trdi_sample(const trdi_method_params *p, const trdi_plan *plan, trdi_guide *guide,
                        const float *zT, const float *aux, float *z0) {
    trdi_status st = check_common(p, plan, guide, zT, z0, "trdi_sample");
    int64_t d = guide_size(guide);
    if (!st) st = solver_check_finite(zT, d, "trdi_sample: input latent zT");
    if (!st && trdi_method_has_aux(p->method) && aux)
        st = solver_check_finite(aux, d, "trdi_sample: input aux latent");
    if (!st && p->method == TRDI_METHOD_BELM && !aux)
        st = trdi_fail(TRDI_ERR_INVALID_ARG,
                       "trdi_sample (belm): the second latent (aux, zT_second) is required");
    if (!st) {
        solver_ctx c = {p, plan, guide, d};
        switch (p->method) {
        case TRDI_METHOD_DDIM:
        case TRDI_METHOD_RENOISE:
        case TRDI_METHOD_GNRI:
        case TRDI_METHOD_FPI:
        case TRDI_METHOD_AIDI: st = solver_ddim_sample(&c, zT, z0); break;
        case TRDI_METHOD_NPI: st = solver_npi_sample(&c, zT, z0); break;
        case TRDI_METHOD_EDICT: st = solver_edict_sample(&c, zT, aux, z0); break;
        case TRDI_METHOD_BDIA: st = solver_bdia_sample(&c, zT, aux, z0); break;
        case TRDI_METHOD_BELM: st = solver_belm_sample(&c, zT, aux, z0); break;
        }
        if (!st) st = solver_check_finite(z0, d, "trdi_sample: result z0");
        if (st && st != TRDI_ABORTED) trdi_error_prefix("sample (%s)", trdi_method_name(p->method));
    }
    if (st && z0 && d > 0) memset(z0, 0, (size_t)d * sizeof(float));
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Measurements                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

trdi_status trdi_inversion_residual(const trdi_plan *plan, trdi_guide *guide, const float *traj,
                                    double *per_step, double *mean_rms) {
    if (mean_rms) *mean_rms = 0.0;
    if (!guide || !guide->den || !traj || !mean_rms)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_inversion_residual: NULL argument");
    trdi_status st = check_plan(plan);
    if (st) return st;
    int64_t d = guide->den->channels * guide->den->height * guide->den->width;
    if (d <= 0) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_inversion_residual: empty denoiser shape");
    st = solver_check_finite(traj, d * (plan->n + 1), "trdi_inversion_residual: trajectory");
    if (st) return st;
    float *buf = solver_scratch(d, 2);
    if (!buf) return TRDI_ERR_NOMEM;
    float *eps = buf, *r = buf + d;
    double total = 0.0;
    for (int64_t k = 1; k <= plan->n && !st; k++) {
        const float *zp = traj + (k - 1) * d, *zk = traj + k * d;
        trdi_step s = plan->inv[k - 1];
        st = trdi_guide_eps(guide, zk, s.t, eps);
        if (st) break;
        trdi_ddim_move(d, zp, eps, s.a_from, s.a_to, r);
        double acc = 0.0;
        for (int64_t i = 0; i < d; i++) {
            double e = (double)zk[i] - (double)r[i];
            acc += e * e;
        }
        double rms = sqrt(acc / (double)d);
        if (per_step) per_step[k - 1] = rms;
        total += rms;
    }
    free(buf);
    if (st) return st;
    *mean_rms = total / (double)plan->n;
    return TRDI_OK;
}

trdi_status trdi_ddim_roundtrip(trdi_guide *guide, const float *z, int64_t t, float a_from,
                                float a_to, float *back, double *err_rms) {
    if (err_rms) *err_rms = 0.0;
    if (!guide || !guide->den || !z || !err_rms)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_ddim_roundtrip: NULL argument");
    trdi_status st = check_level(a_from, "a_from", 0);
    if (!st) st = check_level(a_to, "a_to", 0);
    if (st) {
        trdi_error_prefix("trdi_ddim_roundtrip");
        return st;
    }
    int64_t d = guide->den->channels * guide->den->height * guide->den->width;
    if (d <= 0) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_ddim_roundtrip: empty denoiser shape");
    st = solver_check_finite(z, d, "trdi_ddim_roundtrip: input latent");
    if (st) return st;
    float *buf = solver_scratch(d, 2);
    if (!buf) return TRDI_ERR_NOMEM;
    float *eps = buf, *w = buf + d;
    /* Invert from a_from to a_to (model at t, evaluated at the source point as DDIM inversion
     * does), then sample back (model at t, evaluated at the inverted point). */
    st = trdi_guide_eps(guide, z, t, eps);
    if (!st) {
        trdi_ddim_move(d, z, eps, a_from, a_to, w);
        st = trdi_guide_eps(guide, w, t, eps);
    }
    if (!st) {
        trdi_ddim_move(d, w, eps, a_to, a_from, w);
        double acc = 0.0;
        for (int64_t i = 0; i < d; i++) {
            double e = (double)w[i] - (double)z[i];
            acc += e * e;
        }
        *err_rms = sqrt(acc / (double)d);
        if (back) memcpy(back, w, (size_t)d * sizeof(float));
    }
    free(buf);
    return st;
}
