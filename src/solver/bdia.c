/* bdia.c -- bidirectional integration approximation (spec 4.8), gamma = bdia_gamma.
 * Sampling states z^(0) = zT, z^(1), ..., z^(n) = z0 (step i uses plan->smp[i]):
 *   z^(1)   = Den_0(z^(0))                                        (plain DDIM)
 *   z^(i+1) = gamma z^(i-1) - gamma Inv_{i-1}(z^(i)) + Den_i(z^(i)),  i >= 1
 * where Den_i moves along smp[i] with eps(z, smp[i].t) and Inv_{i-1} moves back along smp[i-1]
 * with eps(z, smp[i-1].t). Reference: under guidance (g > 1) the reference recombines eps' from
 * the first prediction's chunks, so Inv_{i-1} uses eps(z, smp[i].t) (reproduced, and that wasted
 * evaluation is skipped); its inversion is the one of spec 4.8 (not exact):
 *   k = 0: z = Inv_k(z);  k >= 1: zh = Inv_k(z); if a next step exists,
 *          z = z / gamma - Den_{k+1}(zh) / gamma + zh  (Den at the next timestep t'), else z = zh.
 * and its sampling ignores aux. Corrected: no chunk bug; inversion is the exact inverse of the
 * recursion, z^(n) = z0, z^(n-1) = plain DDIM inversion of the last sampling step, then
 * z^(i-1) = (z^(i+1) - Den_i(z^(i)) + gamma Inv_{i-1}(z^(i))) / gamma; zT = z^(0), aux = z^(1).
 * Reference inversion's aux is the latent one step below zT. About 2 evaluations per step. */
#include "solver/solver.h"

#include <stdlib.h>
#include <string.h>

/* Den_i(z) and Inv_{i-1}(z) of the sampling recursion at step i (1 <= i < n). */
static trdi_status bdia_pair(const solver_ctx *c, int64_t i, const float *z, float *eps,
                             float *den, float *inv) {
    const trdi_step si = c->plan->smp[i], sp = c->plan->smp[i - 1];
    trdi_status st = trdi_guide_eps(c->guide, z, si.t, eps);
    if (st) return st;
    trdi_ddim_move(c->d, z, eps, si.a_from, si.a_to, den);
    const bool bug = !c->p->corrected && c->guide->scale > 1.0f;
    if (!bug) {
        st = trdi_guide_eps(c->guide, z, sp.t, eps);
        if (st) return st;
    }
    trdi_ddim_move(c->d, z, eps, sp.a_to, sp.a_from, inv);
    return TRDI_OK;
}

static trdi_status bdia_invert_reference(const solver_ctx *c, const float *z0, float *zT,
                                         float *aux, float *buf) {
    const int64_t d = c->d, n = c->plan->n;
    const float g = c->p->bdia_gamma;
    float *eps = buf, *zh = buf + d, *den = buf + 2 * d;
    memcpy(zT, z0, (size_t)d * sizeof(float));
    memcpy(aux, z0, (size_t)d * sizeof(float));
    trdi_status st = TRDI_OK;
    for (int64_t k = 0; k < n && !st; k++) {
        const trdi_step s = c->plan->inv[k];
        memcpy(aux, zT, (size_t)d * sizeof(float));
        st = solver_guided_move(c, s, zT, zT, eps, zh);
        if (st) break;
        if (k == 0 || k == n - 1) {
            memcpy(zT, zh, (size_t)d * sizeof(float));
        } else {
            const trdi_step nx = c->plan->inv[k + 1];
            st = trdi_guide_eps(c->guide, zh, nx.t, eps);
            if (st) break;
            trdi_ddim_move(d, zh, eps, nx.a_to, nx.a_from, den);
            for (int64_t i = 0; i < d; i++) zT[i] = zT[i] / g - den[i] / g + zh[i];
        }
        st = solver_emit(c, "inv", k, zT);
    }
    return st;
}

static trdi_status bdia_invert_exact(const solver_ctx *c, const float *z0, float *zT, float *aux,
                                     float *buf) {
    const int64_t d = c->d, n = c->plan->n;
    const float g = c->p->bdia_gamma;
    float *eps = buf, *den = buf + d, *inv = buf + 2 * d;
    /* A = z^(i+1) in aux, B = z^(i) in zT */
    memcpy(aux, z0, (size_t)d * sizeof(float));
    trdi_status st = solver_guided_move(c, c->plan->inv[0], z0, z0, eps, zT);
    if (!st) st = solver_emit(c, "inv", 0, zT);
    for (int64_t i = n - 1, k = 1; i >= 1 && !st; i--, k++) {
        st = bdia_pair(c, i, zT, eps, den, inv);
        if (st) break;
        for (int64_t j = 0; j < d; j++) {
            float next = (aux[j] - den[j] + g * inv[j]) / g;
            aux[j] = zT[j];
            zT[j] = next;
        }
        st = solver_emit(c, "inv", k, zT);
    }
    return st;
}

trdi_status solver_bdia_invert(const solver_ctx *c, const float *z0, float *zT, float *aux) {
    float *buf = solver_scratch(c->d, 3);
    if (!buf) return TRDI_ERR_NOMEM;
    trdi_status st = c->p->corrected ? bdia_invert_exact(c, z0, zT, aux, buf)
                                     : bdia_invert_reference(c, z0, zT, aux, buf);
    free(buf);
    return st;
}

trdi_status solver_bdia_sample(const solver_ctx *c, const float *zT, const float *aux, float *z0) {
    const int64_t d = c->d, n = c->plan->n;
    const float g = c->p->bdia_gamma;
    float *buf = solver_scratch(d, 4);
    if (!buf) return TRDI_ERR_NOMEM;
    float *prev = buf, *eps = buf + d, *den = buf + 2 * d, *inv = buf + 3 * d;
    /* prev = z^(i-1), z0 = z^(i) */
    memcpy(prev, zT, (size_t)d * sizeof(float));
    trdi_status st = TRDI_OK;
    if (c->p->corrected && aux) {
        memcpy(z0, aux, (size_t)d * sizeof(float));
    } else {
        st = solver_guided_move(c, c->plan->smp[0], zT, zT, eps, z0);
    }
    if (!st) st = solver_emit(c, "smp", 0, z0);
    for (int64_t i = 1; i < n && !st; i++) {
        st = bdia_pair(c, i, z0, eps, den, inv);
        if (st) break;
        for (int64_t j = 0; j < d; j++) {
            float next = g * prev[j] - g * inv[j] + den[j];
            prev[j] = z0[j];
            z0[j] = next;
        }
        st = solver_emit(c, "smp", i, z0);
    }
    free(buf);
    return st;
}
