/* edict.c -- EDICT, exact diffusion inversion via coupled transformations (spec 4.7), p = 0.93.
 * Two latents [x, y], both z0 at the clean end. With a DDIM step from the noisy level A to the
 * clean-side level B written affinely, Den(m, z) = a z + b m, a = sqrt(B / A),
 * b = sqrt(1 - B) - sqrt(B (1 - A) / A), and Inv(m, z) = (z - b m) / a:
 *   sampling step:   xi = Den(eps(y), x); yi = Den(eps(xi), y); x' = p xi + (1-p) yi;
 *                    y' = p yi + (1-p) x'; new pair [y', x'].
 *   reference inversion (pair read unswapped, not exact):
 *                    yi = (y - (1-p) x) / p; xi = (x - (1-p) yi) / p; y'' = Inv(eps(xi), yi);
 *                    x'' = Inv(eps(y''), xi); new pair [y'', x''].
 *   corrected inversion: the algebraic inverse of the sampling step, reading [y', x'] and
 *                    returning [x, y] (exact up to round-off).
 * Coefficients come from the plan's steps (a_from / a_to), so any list and stepping work. The
 * output latent is pair[0]; aux is pair[1]. 2 evaluations per step each way. */
#include "solver/solver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a, b of Den for a move from level A (noisy) to level B (clean side). */
static void edict_ab(float A, float B, float *a, float *b) {
    double da = (double)A, db = (double)B;
    *a = (float)sqrt(db / da);
    *b = (float)(sqrt(1.0 - db) - sqrt(db * (1.0 - da) / da));
}

trdi_status solver_edict_invert(const solver_ctx *c, const float *z0, float *zT, float *aux) {
    const int64_t d = c->d;
    float *buf = solver_scratch(d, 3);
    if (!buf) return TRDI_ERR_NOMEM;
    float *xi = buf, *yi = buf + d, *eps = buf + 2 * d;
    const float p = c->p->edict_p, q = 1.0f - p;
    float *P0 = zT, *P1 = aux; /* the pair, in place */
    memcpy(P0, z0, (size_t)d * sizeof(float));
    memcpy(P1, z0, (size_t)d * sizeof(float));
    trdi_status st = TRDI_OK;
    for (int64_t k = 0; k < c->plan->n && !st; k++) {
        const trdi_step s = c->plan->inv[k]; /* from B = a_from (clean side) to A = a_to */
        float a, b;
        edict_ab(s.a_to, s.a_from, &a, &b);
        /* x, y as the formulas name them: reference reads (P0, P1), corrected (P1, P0). */
        const float *x = c->p->corrected ? P1 : P0;
        const float *y = c->p->corrected ? P0 : P1;
        for (int64_t i = 0; i < d; i++) yi[i] = (y[i] - q * x[i]) / p;
        for (int64_t i = 0; i < d; i++) xi[i] = (x[i] - q * yi[i]) / p;
        /* first new latent: Inv(eps(xi), yi); second: Inv(eps(first), xi) */
        float *first = c->p->corrected ? P1 : P0;  /* corrected stores [x, y]: y goes to P1 */
        float *second = c->p->corrected ? P0 : P1;
        st = trdi_guide_eps(c->guide, xi, s.t, eps);
        if (st) break;
        for (int64_t i = 0; i < d; i++) first[i] = (yi[i] - b * eps[i]) / a;
        st = trdi_guide_eps(c->guide, first, s.t, eps);
        if (st) break;
        for (int64_t i = 0; i < d; i++) second[i] = (xi[i] - b * eps[i]) / a;
        st = solver_emit(c, "inv", k, P0);
    }
    free(buf);
    return st;
}

trdi_status solver_edict_sample(const solver_ctx *c, const float *zT, const float *aux, float *z0) {
    const int64_t d = c->d;
    float *buf = solver_scratch(d, 4);
    if (!buf) return TRDI_ERR_NOMEM;
    float *P1 = buf, *xi = buf + d, *yi = buf + 2 * d, *eps = buf + 3 * d;
    float *P0 = z0;
    const float p = c->p->edict_p, q = 1.0f - p;
    memcpy(P0, zT, (size_t)d * sizeof(float));
    memcpy(P1, aux ? aux : zT, (size_t)d * sizeof(float));
    trdi_status st = TRDI_OK;
    for (int64_t k = 0; k < c->plan->n && !st; k++) {
        const trdi_step s = c->plan->smp[k]; /* from A = a_from (noisy) to B = a_to */
        float a, b;
        edict_ab(s.a_from, s.a_to, &a, &b);
        const float *x = P0, *y = P1;
        st = trdi_guide_eps(c->guide, y, s.t, eps);
        if (st) break;
        for (int64_t i = 0; i < d; i++) xi[i] = a * x[i] + b * eps[i];
        st = trdi_guide_eps(c->guide, xi, s.t, eps);
        if (st) break;
        for (int64_t i = 0; i < d; i++) yi[i] = a * y[i] + b * eps[i];
        /* x' = p xi + (1-p) yi -> P1; y' = p yi + (1-p) x' -> P0 (the swap) */
        for (int64_t i = 0; i < d; i++) {
            float xn = p * xi[i] + q * yi[i];
            P1[i] = xn;
            P0[i] = p * yi[i] + q * xn;
        }
        st = solver_emit(c, "smp", k, P0);
    }
    free(buf);
    return st;
}
