/* npi.c -- Negative-prompt inversion (spec 4.2). Inversion is DDIM with the experiment guidance
 * (CFG against the unconditional handle when g > 1). Sampling, reference: the pipeline replaces
 * the unconditional branch with the positive prompt, so eps = eps(z, t, cond) for any g, still
 * paying two passes when g > 1, and the negative prompt is ignored. Corrected (the NPI paper's
 * recipe): CFG of cond against guide->uncond, which the caller sets to the SOURCE prompt. */
#include "solver/solver.h"

#include <string.h>

trdi_status solver_npi_invert(const solver_ctx *c, const float *z0, float *zT) {
    memcpy(zT, z0, (size_t)c->d * sizeof(float));
    return solver_ddim_walk(c, true, zT);
}

trdi_status solver_npi_sample(const solver_ctx *c, const float *zT, float *z0) {
    memcpy(z0, zT, (size_t)c->d * sizeof(float));
    if (c->p->corrected) return solver_ddim_walk(c, false, z0);
    /* eps_c + g (eps_c - eps_c) == eps_c exactly, as in the reference's batch of two. */
    const void *saved = c->guide->uncond;
    c->guide->uncond = c->guide->cond;
    trdi_status st = solver_ddim_walk(c, false, z0);
    c->guide->uncond = saved;
    return st;
}
