/* belm.c -- BELM, bidirectional explicit linear multi-step (spec 4.9). BELM defines its own walk:
 * it steps between NEIGHBOURING entries of plan->timesteps (levels plan->alphas) with alpha = 1
 * at the clean end, whatever the plan's stepping, and its first inversion step evaluates the model
 * at timestep 1 (the reference passes the integer 1). With alpha_k = sqrt(a_k), s_k =
 * sqrt(1 - a_k), tau_k = s_k / alpha_k (0 at the clean end) and levels indexed as the descending
 * list (k = n is the clean end):
 *   inversion i = 0:  z_{n-1} = alpha_{n-1} z_n + s_{n-1} eps(z_n, 1)
 *   inversion i >= 1, k = n-1-i (model at timesteps[k+1], evaluated at z_{k+1}):
 *     h1 = tau_k - tau_{k+1}, h0 = tau_{k+1} - tau_{k+2}
 *     z_k = (alpha_k / alpha_{k+2}) (h1^2 / h0^2) z_{k+2}
 *         + (alpha_k / alpha_{k+1}) ((h0^2 - h1^2) / h0^2) z_{k+1}
 *         + alpha_k (h0 + h1) (h1 / h0) eps
 *   returns zT = z_0 and aux = z_1 (zT_second).
 *   sampling i = 0: z = aux (the reference's model call here is unused, so it is skipped);
 *   sampling i >= 1 with p = level i-1, t = level i, s = level i+1 (clean after the last):
 *     d1 = tau_t - tau_p, d2 = tau_s - tau_t, d3 = tau_s - tau_p
 *     z_s = (d2 d3 alpha_s / d1) eps(z_t, t_i) + (d2 / d1)^2 (alpha_s / alpha_p) z_p
 *         + ((d1 - d2) d3 / d1^2) (alpha_s / alpha_t) z_t
 * Coefficients in double, latents in float32. Exact up to round-off: each sampling step is the
 * algebraic inverse of an inversion step with the same eps. 1 evaluation per step (n - 1 when
 * sampling). */
#include "solver/solver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* alpha, tau of level k of the descending list; k == n is the clean end (alpha 1, tau 0). */
static void belm_level(const trdi_plan *pl, int64_t k, double *alpha, double *tau) {
    if (k >= pl->n) {
        *alpha = 1.0;
        *tau = 0.0;
        return;
    }
    double a = (double)pl->alphas[k];
    *alpha = sqrt(a);
    *tau = sqrt(1.0 - a) / *alpha;
}

trdi_status solver_belm_invert(const solver_ctx *c, const float *z0, float *zT, float *aux) {
    const int64_t d = c->d, n = c->plan->n;
    float *buf = solver_scratch(d, 1);
    if (!buf) return TRDI_ERR_NOMEM;
    float *eps = buf;
    /* zm2 = z_{k+2} (aux), zm1 = z_{k+1} (zT) */
    float *zm2 = aux, *zm1 = zT;
    memcpy(zm2, z0, (size_t)d * sizeof(float));
    trdi_status st = trdi_guide_eps(c->guide, z0, 1, eps);
    if (!st) {
        double al, tau;
        belm_level(c->plan, n - 1, &al, &tau);
        const double sk = tau * al;
        for (int64_t i = 0; i < d; i++) zm1[i] = (float)(al * (double)z0[i] + sk * (double)eps[i]);
        st = solver_emit(c, "inv", 0, zm1);
    }
    for (int64_t i = 1; i < n && !st; i++) {
        const int64_t k = n - 1 - i;
        double ak, tk, a1, t1, a2, t2;
        belm_level(c->plan, k, &ak, &tk);
        belm_level(c->plan, k + 1, &a1, &t1);
        belm_level(c->plan, k + 2, &a2, &t2);
        const double h1 = tk - t1, h0 = t1 - t2;
        const double c2 = (ak / a2) * (h1 * h1) / (h0 * h0);
        const double c1 = (ak / a1) * (h0 * h0 - h1 * h1) / (h0 * h0);
        const double ce = ak * (h0 + h1) * (h1 / h0);
        st = trdi_guide_eps(c->guide, zm1, c->plan->timesteps[k + 1], eps);
        if (st) break;
        for (int64_t j = 0; j < d; j++) {
            float zn = (float)(c2 * (double)zm2[j] + c1 * (double)zm1[j] + ce * (double)eps[j]);
            zm2[j] = zm1[j];
            zm1[j] = zn;
        }
        st = solver_emit(c, "inv", i, zm1);
    }
    free(buf);
    return st;
}

trdi_status solver_belm_sample(const solver_ctx *c, const float *zT, const float *aux, float *z0) {
    const int64_t d = c->d, n = c->plan->n;
    float *buf = solver_scratch(d, 2);
    if (!buf) return TRDI_ERR_NOMEM;
    float *zp = buf, *eps = buf + d, *zt = z0;
    memcpy(zp, zT, (size_t)d * sizeof(float));
    memcpy(zt, aux, (size_t)d * sizeof(float));
    trdi_status st = solver_emit(c, "smp", 0, zt);
    for (int64_t i = 1; i < n && !st; i++) {
        double ap, tp, at, tt, as, ts;
        belm_level(c->plan, i - 1, &ap, &tp);
        belm_level(c->plan, i, &at, &tt);
        belm_level(c->plan, i + 1, &as, &ts);
        const double d1 = tt - tp, d2 = ts - tt, d3 = ts - tp;
        const double ce = d2 * d3 * as / d1;
        const double cp = (d2 / d1) * (d2 / d1) * (as / ap);
        const double ct = ((d1 - d2) * d3 / (d1 * d1)) * (as / at);
        st = trdi_guide_eps(c->guide, zt, c->plan->timesteps[i], eps);
        if (st) break;
        for (int64_t j = 0; j < d; j++) {
            float zn = (float)(ce * (double)eps[j] + cp * (double)zp[j] + ct * (double)zt[j]);
            zp[j] = zt[j];
            zt[j] = zn;
        }
        st = solver_emit(c, "smp", i, zt);
    }
    free(buf);
    return st;
}
