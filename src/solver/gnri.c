/* gnri.c -- guided Newton-Raphson inversion (spec 4.4, the repo's guided_newton_rhapson_iter).
 * Per step with source z_s, K iterations from z = z_s:
 *   f(z) = Inv(eps(z, t); z_s)                       (the implicit DDIM equation)
 *   G(z) = -1/2 ((z - m z_s) / sd)^2                 (a Gaussian prior, elementwise)
 *   F    = |z - f(z)| + lambda G(z);   keep f(z) when mean(F) improves (strictly)
 *   grad = sign(z - f) - c J_eps^T sign(z - f) + lambda dG/dz   (c: eps coefficient of Inv)
 *   z   <- z - F / (D (grad + eta)),  D = C*H*W
 * Reference prior: m = 0.5**r, sd = 0.5**(1 - r) with r = a_from / a_to, as the code writes it.
 * Corrected prior: the forward transition q(z_t | z_s), m = sqrt(a_to / a_from),
 * sd = sqrt(1 - a_to / a_from) (no prior term when sd is 0). The last iteration's gradient is not
 * computed (the reference computes and discards it), so each step costs K evaluations and K - 1
 * vector-Jacobian products. Sampling is DDIM. */
#include "solver/solver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

trdi_status solver_gnri_invert(const solver_ctx *c, const float *z0, float *zT) {
    const int64_t d = c->d;
    float *buf = solver_scratch(d, 5);
    if (!buf) return TRDI_ERR_NOMEM;
    float *zs = buf, *z = buf + d, *eps = buf + 2 * d, *f = buf + 3 * d, *sg = buf + 4 * d;
    const float lambda = c->p->gnri_lambda, eta = c->p->gnri_eta;
    trdi_status st = TRDI_OK;
    memcpy(zT, z0, (size_t)d * sizeof(float));
    for (int64_t k = 0; k < c->plan->n && !st; k++) {
        const trdi_step s = c->plan->inv[k];
        float m, sd;
        if (!c->p->corrected) {
            float r = s.a_from / s.a_to;
            m = powf(0.5f, r);
            sd = powf(0.5f, 1.0f - r);
        } else {
            float rho = s.a_to / s.a_from;
            m = sqrtf(rho);
            sd = rho < 1.0f ? sqrtf(1.0f - rho) : 0.0f;
        }
        const bool prior = sd > 0.0f;
        /* eps coefficient of Inv (trdi_ddim_move): d out / d eps = sqrt(1-a_to) - sqrt(a_to) sqrt(1-a_from) / sqrt(a_from) */
        const double ce = (double)sqrtf(1.0f - s.a_to) -
                          (double)sqrtf(s.a_to) * (double)sqrtf(1.0f - s.a_from) / (double)sqrtf(s.a_from);
        memcpy(zs, zT, (size_t)d * sizeof(float));
        memcpy(z, zs, (size_t)d * sizeof(float));
        double best = INFINITY;
        bool have = false;
        for (int64_t it = 0; it < c->p->gnri_iters && !st; it++) {
            st = solver_guided_move(c, s, z, zs, eps, f);
            if (st) break;
            double sum = 0.0;
            for (int64_t i = 0; i < d; i++) {
                float gi = 0.0f;
                if (prior) {
                    float u = (z[i] - m * zs[i]) / sd;
                    gi = -0.5f * u * u;
                }
                float Fi = fabsf(z[i] - f[i]) + lambda * gi;
                sum += Fi;
                sg[i] = Fi; /* keep F for the update */
            }
            double score = sum / (double)d;
            if (!have || score < best) {
                best = score;
                have = true;
                memcpy(zT, f, (size_t)d * sizeof(float));
            }
            if (it + 1 == c->p->gnri_iters) break;
            /* v = sign(z - f); reuse eps for J^T v. F lives in sg, so compute signs into f. */
            for (int64_t i = 0; i < d; i++) {
                float diff = z[i] - f[i];
                f[i] = (diff > 0.0f) ? 1.0f : (diff < 0.0f ? -1.0f : 0.0f);
            }
            st = trdi_guide_vjp(c->guide, z, s.t, f, eps);
            if (st) break;
            for (int64_t i = 0; i < d; i++) {
                double grad = (double)f[i] - ce * (double)eps[i];
                if (prior) grad += -(double)lambda * ((double)z[i] - (double)m * zs[i]) / ((double)sd * sd);
                z[i] = (float)((double)z[i] - (double)sg[i] / ((double)d * (grad + (double)eta)));
            }
            /* A zero gradient sends z to infinity; the reference then scores NaN and keeps its
             * best candidate, so stop iterating rather than feed the model a non-finite latent. */
            bool finite = true;
            for (int64_t i = 0; i < d && finite; i++) finite = isfinite(z[i]);
            if (!finite) {
                trdi_log(TRDI_LOG_WARN, "gnri: non-finite Newton update at step %lld; keeping the best candidate", (long long)k);
                break;
            }
        }
        if (!st && !have)
            st = trdi_fail(TRDI_ERR_NUMERIC, "gnri: no finite candidate at step %lld", (long long)k);
        if (!st) st = solver_emit(c, "inv", k, zT);
    }
    free(buf);
    return st;
}
