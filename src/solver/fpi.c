/* fpi.c -- fixed-point inversion (spec 4.5): each step solves the implicit DDIM inverse equation
 * z_t = Inv(eps(z_t, t); z_s) by K plain fixed-point iterations started at z_s (K evaluations per
 * step). Sampling is DDIM (ddim.c). */
#include "solver/solver.h"

#include <stdlib.h>
#include <string.h>

trdi_status solver_fpi_invert(const solver_ctx *c, const float *z0, float *zT) {
    const int64_t d = c->d;
    float *buf = solver_scratch(d, 2);
    if (!buf) return TRDI_ERR_NOMEM;
    float *zs = buf, *eps = buf + d;
    trdi_status st = TRDI_OK;
    memcpy(zT, z0, (size_t)d * sizeof(float));
    for (int64_t k = 0; k < c->plan->n && !st; k++) {
        trdi_step s = c->plan->inv[k];
        memcpy(zs, zT, (size_t)d * sizeof(float));
        /* zT holds the iterate z_k (starting at z_s). */
        for (int64_t it = 0; it < c->p->fpi_iters && !st; it++)
            st = solver_guided_move(c, s, zT, zs, eps, zT);
        if (!st) st = solver_emit(c, "inv", k, zT);
    }
    free(buf);
    return st;
}
