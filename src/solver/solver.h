/* solver.h -- internals of the inversion methods (src/solver/): the per-call context, the shared
 * DDIM step helpers, checks, and one invert/sample pair per method file. Not public API
 * (include/trdi.h is); the dispatch lives in method.c. */
#ifndef TRDI_SOLVER_H
#define TRDI_SOLVER_H

#include "trdi.h"
#include "core/core.h"

#include <stdint.h>

/* What every method gets: validated arguments and the latent size d = C * H * W. */
typedef struct solver_ctx {
    const trdi_method_params *p;
    const trdi_plan *plan;
    trdi_guide *guide;
    int64_t d;
} solver_ctx;

/* Calls p->on_step (if any); TRDI_ABORTED with a message when it returns false. */
trdi_status solver_emit(const solver_ctx *c, const char *phase, int64_t step, const float *z);

/* TRDI_ERR_NUMERIC naming `what` when x (n) holds NaN or infinity. */
trdi_status solver_check_finite(const float *x, int64_t n, const char *what);

/* count * d zeroed floats of per-call scratch (NULL on failure, with the message set). */
float *solver_scratch(int64_t d, int64_t count);

/* The inverse of a plan step (a_from <-> a_to swapped, same model timestep). */
static inline trdi_step solver_step_reversed(trdi_step s) {
    trdi_step r = s;
    r.a_from = s.a_to;
    r.a_to = s.a_from;
    r.from_t = s.to_t;
    r.to_t = s.from_t;
    return r;
}

/* z_out = DDIM move of z along step s with eps = guide(z_eval, s.t). eps_buf (d) is scratch and
 * keeps the prediction. z_out may alias z but not z_eval unless z_eval == z. */
trdi_status solver_guided_move(const solver_ctx *c, trdi_step s, const float *z_eval,
                               const float *z, float *eps_buf, float *z_out);

/* Root-mean-square of a - b over d elements (double accumulation). */
double solver_rms_diff(const float *a, const float *b, int64_t d);

/* p->fp_fallback's test (FPI, AIDI): did the fixed-point iteration converge, i.e. is the last
 * residual |g(z) - z| at most 0.01 x the first one (that of z^1 = g(z_s))? NaN: no. */
bool solver_fp_converged(double first_residual, double last_residual);

/* Plain DDIM over the whole plan (used by most methods' sampling and by DDIM / NPI inversion):
 * z (d) is updated in place; phase "inv" walks plan->inv, "smp" walks plan->smp. */
trdi_status solver_ddim_walk(const solver_ctx *c, bool inverse, float *z);

/* One method = invert(z0 -> zT [, aux]) and sample(zT [, aux] -> z0). Arguments are validated by
 * the dispatcher; aux is never NULL in invert (scratch when the caller gave none). */
trdi_status solver_ddim_invert(const solver_ctx *c, const float *z0, float *zT);
trdi_status solver_ddim_sample(const solver_ctx *c, const float *zT, float *z0);
trdi_status solver_npi_invert(const solver_ctx *c, const float *z0, float *zT);
trdi_status solver_npi_sample(const solver_ctx *c, const float *zT, float *z0);
trdi_status solver_renoise_invert(const solver_ctx *c, const float *z0, float *zT);
trdi_status solver_gnri_invert(const solver_ctx *c, const float *z0, float *zT);
trdi_status solver_fpi_invert(const solver_ctx *c, const float *z0, float *zT);
trdi_status solver_aidi_invert(const solver_ctx *c, const float *z0, float *zT);
trdi_status solver_edict_invert(const solver_ctx *c, const float *z0, float *zT, float *aux);
trdi_status solver_edict_sample(const solver_ctx *c, const float *zT, const float *aux, float *z0);
trdi_status solver_bdia_invert(const solver_ctx *c, const float *z0, float *zT, float *aux);
trdi_status solver_bdia_sample(const solver_ctx *c, const float *zT, const float *aux, float *z0);
trdi_status solver_belm_invert(const solver_ctx *c, const float *z0, float *zT, float *aux);
trdi_status solver_belm_sample(const solver_ctx *c, const float *zT, const float *aux, float *z0);

/* ReNoise's noise regularisation (spec 4.3), exposed for its unit test: updates eps (C, H, W) in
 * place towards the statistics of eps_star (C, H, W) with the patch-KL and autocorrelation
 * gradients; roll offsets come from rng. `scratch` holds solver_renoise_scratch_size() doubles
 * (NULL: allocated per call). Returns TRDI_ERR_NOMEM only. */
size_t solver_renoise_scratch_size(int64_t channels, int64_t height, int64_t width);
trdi_status solver_renoise_regularize(const trdi_method_params *p, int64_t channels, int64_t height,
                                      int64_t width, const float *eps_star, float *eps,
                                      trdi_rng *rng, double *scratch);
/* The two losses themselves (for finite-difference tests of the hand-derived gradients): the
 * patch KL of spec 4.3 (a) and the autocorrelation pyramid (b) with the given per-level offsets
 * rolls[c * levels + l] (levels >= the pyramid depth). grad (C, H, W) may be NULL. */
double solver_renoise_kl(int64_t channels, int64_t height, int64_t width, const float *eps,
                         const float *eps_star, double *grad);
double solver_renoise_ac(int64_t channels, int64_t height, int64_t width, const float *eps,
                         const int64_t *rolls, int64_t levels, double *grad);

#endif /* TRDI_SOLVER_H */
