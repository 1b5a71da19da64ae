/* ddim.c -- DDIM inversion and sampling (spec 4.1, 3.2, 3.3): one guided evaluation and one DDIM
 * move per step along the plan. Inversion evaluates the model at the current (source) latent with
 * the target timestep, as the reference's pipe.inverse does. This is also the sampler of ReNoise,
 * GNRI, FPI and AIDI. */
#include "solver/solver.h"

#include <string.h>

trdi_status solver_ddim_invert(const solver_ctx *c, const float *z0, float *zT) {
    if (c->guide->scale > 1.0f)
        trdi_log(TRDI_LOG_WARN, "ddim inversion with guidance %g > 1 (the reference warns too)",
                 (double)c->guide->scale);
    memcpy(zT, z0, (size_t)c->d * sizeof(float));
    return solver_ddim_walk(c, true, zT);
}

trdi_status solver_ddim_sample(const solver_ctx *c, const float *zT, float *z0) {
    memcpy(z0, zT, (size_t)c->d * sizeof(float));
    return solver_ddim_walk(c, false, z0);
}
