/* beta.c -- diffusers' beta schedules and the cumulative alphas, bit-identical to torch on CPU
 * (spec 1.1-1.2): torch.linspace's vectorised float32 kernel, `x*x` for scaled_linear, Python
 * doubles for squaredcos_cap_v2, and cumprod accumulated in double. Not the timestep lists
 * (timesteps.c) nor the schedule object (noise_schedule.c). */
#include "sched/sched.h"

#include <math.h>

/* torch/aten RangeFactoriesKernel.cpp linspace_kernel for float on a CPU with FMA: the step is
 * f32((end - start) / (steps - 1)); indices below steps div 2 count up from start, the others
 * down from end. Vector blocks of 8 get their first value from one fused multiply-add (the
 * compiler contracts `start + step * idx`) and the lanes from Vectorized::arange(base, step);
 * the tail that does not fill a block uses the scalar kernel, rounded twice. */
void trdi_sched_linspace_f32(float start, float end, int64_t steps, float *out) {
    if (steps <= 0) return;
    if (steps == 1) {
        out[0] = start;
        return;
    }
    const float step = (end - start) / (float)(steps - 1);
    const int64_t half = steps / 2;
    enum { VEC = 8 };
    int64_t idx = 0;
    for (; idx + VEC <= steps; idx += VEC) {
        float base;
        if (idx < half)
            base = fmaf(step, (float)idx, start);
        else
            base = fmaf(-step, (float)(steps - 1 - idx), end);
        out[idx] = base;
        for (int l = 1; l < VEC; l++) {
            float inc = (float)l * step;
            out[idx + l] = base + inc;
        }
    }
    for (; idx < steps; idx++) {
        if (idx < half) {
            float inc = step * (float)idx;
            out[idx] = start + inc;
        } else {
            float inc = step * (float)(steps - idx - 1);
            out[idx] = end - inc;
        }
    }
}

/* diffusers betas_for_alpha_bar(N, max_beta=0.999, "cosine"), in Python doubles. */
static double alpha_bar_cosine(double t) {
    double c = cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
}

void trdi_sched_betas(const trdi_noise_config *cfg, float *betas) {
    const int64_t n = cfg->num_train_timesteps;
    switch (cfg->beta_schedule) {
    case TRDI_BETA_LINEAR:
        trdi_sched_linspace_f32((float)cfg->beta_start, (float)cfg->beta_end, n, betas);
        break;
    case TRDI_BETA_SCALED_LINEAR:
        /* beta_start**0.5 is a Python double (correctly rounded, as sqrt), then cast by torch. */
        trdi_sched_linspace_f32((float)sqrt(cfg->beta_start), (float)sqrt(cfg->beta_end), n, betas);
        for (int64_t i = 0; i < n; i++) betas[i] = betas[i] * betas[i];
        break;
    case TRDI_BETA_SQUAREDCOS_CAP_V2:
        for (int64_t i = 0; i < n; i++) {
            double t1 = (double)i / (double)n, t2 = (double)(i + 1) / (double)n;
            double b = 1 - alpha_bar_cosine(t2) / alpha_bar_cosine(t1);
            betas[i] = (float)(b < 0.999 ? b : 0.999);
        }
        break;
    }
}

void trdi_sched_cumprod(const float *betas, int64_t n, float *ac) {
    double acc = 1.0;
    for (int64_t i = 0; i < n; i++) {
        float alpha = 1.0f - betas[i];
        /* torch's CPU cumprod accumulates float in double (its acc_type) and stores float. */
        acc = i == 0 ? (double)alpha : acc * (double)alpha;
        ac[i] = (float)acc;
    }
}
