/* sched.h -- internals of the scheduler module (src/sched/): the noise-schedule struct, the
 * torch-exact float32 linspace, the numpy-exact timestep lists, and the TRDI stages (rescaling,
 * dynamic programme, adaptive density quantiles) with their plain-C reference versions.
 * Not public API: include/trdi.h is. */
#ifndef TRDI_SCHED_H
#define TRDI_SCHED_H

#include "trdi.h"

#include <stdint.h>

/* The schedule behind the opaque handle. Besides the table it caches the two float32 factors of
 * TRDI's cost (spec 2.6) so that the DP does no square roots or divisions per transition. */
struct trdi_noise_schedule {
    trdi_noise_config cfg;
    int64_t n;          /* num_train_timesteps */
    float *ac;          /* (n) alphas_cumprod */
    float final_alpha;  /* 1 with set_alpha_to_one, else ac[0] */
    float *sqrt_ac;     /* (n) sqrtf(ac[k]) */
    float *sigma;       /* (n) sqrtf(f32(f32(1/ac[k]) - 1)) */
};

/* torch.linspace(start, end, steps, dtype=float32) on CPU, the vectorised kernel of torch 1.13
 * (spec 1.1): blocks of 8 whose first value is one fused multiply-add, lanes base + l*step, scalar
 * two-sided tail. steps >= 1; out has `steps` entries. */
void trdi_sched_linspace_f32(float start, float end, int64_t steps, float *out);

/* diffusers' betas for `cfg` (spec 1.1), float32, `cfg->num_train_timesteps` entries. The config
 * must have been validated (trdi_sched_config_check). */
void trdi_sched_betas(const trdi_noise_config *cfg, float *betas);

/* torch.cumprod(1 - betas) on CPU: the running product in double, each output rounded to float32
 * (spec 1.2). */
void trdi_sched_cumprod(const float *betas, int64_t n, float *ac);

/* Validates a config (names the offending field). */
trdi_status trdi_sched_config_check(const trdi_noise_config *cfg);

/* The authors' fixed table (SD 1.5 scaled_linear, N = 1000, offset 1), built once per process.
 * NULL only if the one-time allocation failed. */
const trdi_noise_schedule *trdi_sched_sd_table(void);

/* The raw timestep list of diffusers' set_timesteps / TRDI.init_timesteps (spec 1.4, 2.3), with
 * numpy's exact arange/linspace arithmetic. Descending as numpy produces it; it may hold values
 * outside [0, N-1] or n + 1 entries (trailing with some non-divisor n), which callers check.
 * *out is malloc'ed (free()). n >= 1. */
trdi_status trdi_sched_raw_timesteps(trdi_timestep_spacing spacing, int64_t n, int64_t num_train,
                                     int64_t steps_offset, int64_t **out, int64_t *out_len);

/* TRDI.rescaling_timesteps (spec 2.4): the power-law rescaling in double with truncation, with
 * its assertions reported as errors. `ts` has L >= 2 entries; out (L) is in the input's order. */
trdi_status trdi_sched_rescale(const int64_t *ts, int64_t L, double spacing, int64_t num_train,
                               int64_t *out);

/* TRDI.compute_d(t, dt) (spec 2.6) computed from scratch in float32, one rounding per op. */
float trdi_sched_cost_ref(const float *ac, int64_t num_train, int64_t t, int64_t dt);

/* TRDI.reschedule(ts) (spec 2.7): the window-w dynamic programme. `ts` (L entries, any order).
 * Writes the first min(num_step, L + 1) entries of the optimal path (descending, the sentinel 1
 * last) to out (room for L + 1) and their count to *out_n, the path cost to *cost. Where the
 * reference raises, returns TRDI_ERR_INFEASIBLE naming the layer. The fast version uses the
 * schedule's cached factors and backpointers; the reference version evaluates compute_d afresh
 * and copies whole paths like the Python does. Both must agree exactly. */
trdi_status trdi_sched_dp(const trdi_noise_schedule *s, const int64_t *ts, int64_t L,
                          int64_t window, int64_t num_step, int64_t *out, int64_t *out_n,
                          float *cost);
trdi_status trdi_sched_dp_ref(const trdi_noise_schedule *s, const int64_t *ts, int64_t L,
                              int64_t window, int64_t num_step, int64_t *out, int64_t *out_n,
                              float *cost);

/* AdaptiveTRDI._density + _quantile_schedule (spec 2.10) between bounds lb < ub (or lb == ub
 * with the leading bounds of one step), writing n descending timesteps to out. */
trdi_status trdi_sched_adaptive(const trdi_noise_schedule *s, trdi_adaptive_mode mode, int64_t lb,
                                int64_t ub, int64_t n, int64_t *out);

/* numpy's pairwise summation of doubles (np.add.reduce on a contiguous array). */
double trdi_sched_pairwise_sum(const double *a, int64_t n);

#endif /* TRDI_SCHED_H */
