/* renoise.c -- ReNoise inversion (spec 4.3, Garibi et al. 2024, the repo's pipeline). Per step
 * (ascending t, source z_s, weights w = early when t < early_timestep, else latter):
 *   eps* = eps(sqrt(a_t) z0 + sqrt(1 - a_t) n0, t)      n0 ~ N(0, I) once per call (always spent)
 *   z_k  = z_s; for k = 0..R: eps_k = eps(z_k, t) [noise-regularised towards eps* when w_k > 0];
 *          z_k = Inv(eps_k; z_s)                          (approx_inverse_step, always from z_s)
 *   z_t  = sum_k w_k z_k
 * Noise regularisation (no model gradients): reg_steps times (a) eps -= lambda_kl *
 * clip(dKL/deps, -100, 100) with the 4x4-patch KL of spec 4.3, (b) ac_rolls times eps -=
 * lambda_ac * dL_ac/deps / ac_rolls with the autocorrelation pyramid loss, roll offsets drawn per
 * level from the seeded trdi_rng (seed p->seed). Gradients are derived by hand below. R + 2
 * evaluations per step. Sampling is DDIM. */
#include "solver/solver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KL_P 4
#define KL_EPS 1e-6

/* Patch KL (spec 4.3 a): per channel and 4x4 patch (the remainder rows / columns are dropped),
 * |log((v1+e)/(v0+e)) + (v0 + (m0-m1)^2)/(v1+e) - 1| summed, 0 = eps, 1 = eps_star, unbiased
 * variances. d/dx_i = sign * [(1/(v1+e) - 1/(v0+e)) * 2 (x_i - m0)/15 + 2 (m0-m1)/((v1+e) 16)]. */
double solver_renoise_kl(int64_t channels, int64_t height, int64_t width, const float *eps,
                         const float *eps_star, double *grad) {
    const int64_t n = KL_P * KL_P;
    double total = 0.0;
    if (grad) memset(grad, 0, sizeof(double) * (size_t)(channels * height * width));
    for (int64_t c = 0; c < channels; c++)
        for (int64_t pi = 0; pi + KL_P <= height; pi += KL_P)
            for (int64_t pj = 0; pj + KL_P <= width; pj += KL_P) {
                double s0 = 0, s1 = 0;
                for (int64_t u = 0; u < KL_P; u++)
                    for (int64_t v = 0; v < KL_P; v++) {
                        int64_t idx = (c * height + pi + u) * width + pj + v;
                        s0 += eps[idx];
                        s1 += eps_star[idx];
                    }
                double m0 = s0 / (double)n, m1 = s1 / (double)n, q0 = 0, q1 = 0;
                for (int64_t u = 0; u < KL_P; u++)
                    for (int64_t v = 0; v < KL_P; v++) {
                        int64_t idx = (c * height + pi + u) * width + pj + v;
                        q0 += (eps[idx] - m0) * (eps[idx] - m0);
                        q1 += (eps_star[idx] - m1) * (eps_star[idx] - m1);
                    }
                double v0 = q0 / (double)(n - 1), v1 = q1 / (double)(n - 1);
                double inner = log((v1 + KL_EPS) / (v0 + KL_EPS)) +
                               (v0 + (m0 - m1) * (m0 - m1)) / (v1 + KL_EPS) - 1.0;
                total += fabs(inner);
                if (!grad) continue;
                double sg = inner > 0 ? 1.0 : (inner < 0 ? -1.0 : 0.0);
                double dv = 1.0 / (v1 + KL_EPS) - 1.0 / (v0 + KL_EPS);
                double dm = 2.0 * (m0 - m1) / (v1 + KL_EPS);
                for (int64_t u = 0; u < KL_P; u++)
                    for (int64_t v = 0; v < KL_P; v++) {
                        int64_t idx = (c * height + pi + u) * width + pj + v;
                        grad[idx] = sg * (dv * 2.0 * (eps[idx] - m0) / (double)(n - 1) +
                                          dm / (double)n);
                    }
            }
    return total;
}

/* Pyramid depth of a height x width map: levels until height <= 8 (inclusive), stopping early
 * when a side would pool to nothing. */
static int64_t ac_levels(int64_t h, int64_t w) {
    int64_t l = 1;
    while (h > 8 && h / 2 >= 1 && w / 2 >= 1) {
        h /= 2;
        w /= 2;
        l++;
    }
    return l;
}

static int64_t wrap(int64_t i, int64_t n) {
    int64_t r = i % n;
    return r < 0 ? r + n : r;
}

/* Autocorrelation loss of one channel with its pyramid in `pyr` (levels stacked, level 0 filled
 * by the caller) and optional gradient `gp` (same layout, accumulated back to level 0). */
static double ac_channel(int64_t h0, int64_t w0, double *pyr, double *gp, const int64_t *rolls,
                         int64_t levels) {
    double loss = 0.0;
    int64_t h = h0, w = w0, off = 0;
    int64_t offs[64], hs[64], ws[64];
    for (int64_t l = 0; l < levels; l++) {
        offs[l] = off;
        hs[l] = h;
        ws[l] = w;
        const double *x = pyr + off;
        const int64_t r = rolls[l], n = h * w;
        /* roll(x, r, H)[i, j] = x[i - r, j]: m = mean(x * roll(x)) */
        double mh = 0, mw = 0;
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++) {
                mh += x[i * w + j] * x[wrap(i - r, h) * w + j];
                mw += x[i * w + j] * x[i * w + wrap(j - r, w)];
            }
        mh /= (double)n;
        mw /= (double)n;
        loss += mh * mh + mw * mw;
        if (gp) {
            double *g = gp + off;
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++)
                    g[i * w + j] = 2.0 * mh * (x[wrap(i + r, h) * w + j] + x[wrap(i - r, h) * w + j]) / (double)n +
                                   2.0 * mw * (x[i * w + wrap(j + r, w)] + x[i * w + wrap(j - r, w)]) / (double)n;
        }
        if (l + 1 < levels) { /* 2x2 average pool, floor */
            int64_t h2 = h / 2, w2 = w / 2;
            double *y = pyr + off + n;
            for (int64_t i = 0; i < h2; i++)
                for (int64_t j = 0; j < w2; j++)
                    y[i * w2 + j] = 0.25 * (x[(2 * i) * w + 2 * j] + x[(2 * i) * w + 2 * j + 1] +
                                            x[(2 * i + 1) * w + 2 * j] + x[(2 * i + 1) * w + 2 * j + 1]);
            off += n;
            h = h2;
            w = w2;
        }
    }
    if (gp) /* back through the pools, coarsest first */
        for (int64_t l = levels - 1; l >= 1; l--) {
            const double *gc = gp + offs[l];
            double *gf = gp + offs[l - 1];
            int64_t wf = ws[l - 1];
            for (int64_t i = 0; i < hs[l]; i++)
                for (int64_t j = 0; j < ws[l]; j++) {
                    double v = 0.25 * gc[i * ws[l] + j];
                    gf[(2 * i) * wf + 2 * j] += v;
                    gf[(2 * i) * wf + 2 * j + 1] += v;
                    gf[(2 * i + 1) * wf + 2 * j] += v;
                    gf[(2 * i + 1) * wf + 2 * j + 1] += v;
                }
        }
    return loss;
}

/* Room for a channel's pyramid: sum of level sizes <= 2 h w. */
static size_t ac_pyr_size(int64_t h, int64_t w) {
    return (size_t)(2 * h * w + 16);
}

double solver_renoise_ac(int64_t channels, int64_t height, int64_t width, const float *eps,
                         const int64_t *rolls, int64_t levels, double *grad) {
    const int64_t depth = ac_levels(height, width);
    size_t ps = ac_pyr_size(height, width);
    double *pyr = trdi_calloc(ps * 2, sizeof(double));
    if (!pyr) return NAN;
    double total = 0.0;
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t i = 0; i < height * width; i++) pyr[i] = eps[c * height * width + i];
        total += ac_channel(height, width, pyr, grad ? pyr + ps : NULL, rolls + c * levels, depth);
        if (grad)
            for (int64_t i = 0; i < height * width; i++) grad[c * height * width + i] = pyr[ps + i];
    }
    free(pyr);
    return total;
}

size_t solver_renoise_scratch_size(int64_t channels, int64_t height, int64_t width) {
    return (size_t)(channels * height * width) + ac_pyr_size(height, width) * 2;
}

trdi_status solver_renoise_regularize(const trdi_method_params *p, int64_t channels, int64_t height,
                                      int64_t width, const float *eps_star, float *eps,
                                      trdi_rng *rng, double *scratch) {
    const int64_t d = channels * height * width, hw = height * width;
    const int64_t depth = ac_levels(height, width);
    size_t ps = ac_pyr_size(height, width);
    double *grad = scratch ? scratch
                           : trdi_calloc(solver_renoise_scratch_size(channels, height, width),
                                         sizeof(double));
    if (!grad) return trdi_fail(TRDI_ERR_NOMEM, "renoise: cannot allocate regularisation scratch");
    double *pyr = grad + d, *gp = grad + d + ps;
    int64_t rolls[64];
    for (int64_t outer = 0; outer < p->renoise_reg_steps; outer++) {
        if (p->renoise_lambda_kl > 0.0f) {
            solver_renoise_kl(channels, height, width, eps, eps_star, grad);
            for (int64_t i = 0; i < d; i++) {
                double g = grad[i] > 100.0 ? 100.0 : (grad[i] < -100.0 ? -100.0 : grad[i]);
                eps[i] = (float)((double)eps[i] - (double)p->renoise_lambda_kl * g);
            }
        }
        if (p->renoise_lambda_ac > 0.0f && p->renoise_ac_rolls > 0) {
            for (int64_t roll = 0; roll < p->renoise_ac_rolls; roll++) {
                for (int64_t c = 0; c < channels; c++) {
                    /* offsets r ~ randint[0, H_l / 2) per level, drawn in pyramid order */
                    int64_t h = height;
                    for (int64_t l = 0; l < depth; l++) {
                        rolls[l] = h / 2 > 0 ? (int64_t)trdi_rng_below(rng, (uint64_t)(h / 2)) : 0;
                        h /= 2;
                    }
                    for (int64_t i = 0; i < hw; i++) pyr[i] = eps[c * hw + i];
                    ac_channel(height, width, pyr, gp, rolls, depth);
                    for (int64_t i = 0; i < hw; i++) grad[c * hw + i] = gp[i];
                }
                const double s = (double)p->renoise_lambda_ac / (double)p->renoise_ac_rolls;
                for (int64_t i = 0; i < d; i++) eps[i] = (float)((double)eps[i] - s * grad[i]);
            }
        }
    }
    if (!scratch) free(grad);
    return TRDI_OK;
}

trdi_status solver_renoise_invert(const solver_ctx *c, const float *z0, float *zT) {
    const int64_t d = c->d;
    const trdi_denoiser *den = c->guide->den;
    float *buf = solver_scratch(d, 6);
    double *reg = trdi_calloc(solver_renoise_scratch_size(den->channels, den->height, den->width),
                              sizeof(double));
    if (!buf || !reg) {
        free(buf);
        free(reg);
        return trdi_fail(TRDI_ERR_NOMEM, "renoise: cannot allocate scratch");
    }
    float *n0 = buf, *zs = buf + d, *zk = buf + 2 * d, *eps = buf + 3 * d, *estar = buf + 4 * d,
          *noisy = buf + 5 * d;
    trdi_rng rng;
    trdi_rng_seed(&rng, c->p->seed);
    trdi_rng_normal_fill(&rng, n0, (size_t)d);
    const int64_t R = c->p->renoise_steps;
    trdi_status st = TRDI_OK;
    memcpy(zT, z0, (size_t)d * sizeof(float));
    for (int64_t k = 0; k < c->plan->n && !st; k++) {
        const trdi_step s = c->plan->inv[k];
        const float *w = s.t < c->p->renoise_early_timestep ? c->p->renoise_early_weights
                                                            : c->p->renoise_latter_weights;
        /* diffusers add_noise at the target level */
        const float sa = sqrtf(s.a_to), sb = sqrtf(1.0f - s.a_to);
        for (int64_t i = 0; i < d; i++) noisy[i] = sa * z0[i] + sb * n0[i];
        st = trdi_guide_eps(c->guide, noisy, s.t, estar);
        if (st) break;
        memcpy(zs, zT, (size_t)d * sizeof(float));
        memcpy(zk, zs, (size_t)d * sizeof(float));
        memset(zT, 0, (size_t)d * sizeof(float));
        for (int64_t r = 0; r <= R && !st; r++) {
            st = trdi_guide_eps(c->guide, zk, s.t, eps);
            if (st) break;
            if (w[r] > 0.0f && c->p->renoise_noise_reg) {
                st = solver_renoise_regularize(c->p, den->channels, den->height, den->width, estar,
                                               eps, &rng, reg);
                if (st) break;
            }
            trdi_ddim_move(d, zs, eps, s.a_from, s.a_to, zk);
            if (w[r] != 0.0f)
                for (int64_t i = 0; i < d; i++) zT[i] += w[r] * zk[i];
        }
        if (!st) st = solver_emit(c, "inv", k, zT);
    }
    free(buf);
    free(reg);
    return st;
}
