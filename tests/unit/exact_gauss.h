/* exact_gauss.h -- test-only exact denoiser for the solver tests: an isotropic Gaussian mixture
 * over (C, H, W) latents with closed-form noise prediction and J^T v at every level, a conditional
 * variant (a conditioning handle is a bit mask of the components it selects; NULL selects all),
 * an SD-like noise table and a step-plan builder that follows the semantics documented in
 * include/trdi.h (so these tests do not depend on the scheduler module). Not the built-in model of
 * src/model (that one is the product; this one is a small oracle).
 *
 * Mixture p0 = sum_k w_k N(mu_k, s_k^2 I). At level a (x = sqrt(a) x0 + sqrt(1-a) n) it is
 * sum_k w_k N(sqrt(a) mu_k, v_k I), v_k = a s_k^2 + 1 - a, so with responsibilities r_k and
 * g_k = -(x - sqrt(a) mu_k) / v_k: score = sum_k r_k g_k, eps = -sqrt(1-a) score and
 * J = d eps / dx = -sqrt(1-a) [ -sum_k r_k / v_k I + sum_k r_k g_k g_k^T - score score^T ]
 * (symmetric, so J^T v = J v). Everything in double. */
#ifndef TRDI_TEST_EXACT_GAUSS_H
#define TRDI_TEST_EXACT_GAUSS_H

#include "trdi.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EG_N 1000
#define EG_MAXK 4

typedef struct eg_model {
    int64_t c, h, w, k;
    double weight[EG_MAXK];
    double var[EG_MAXK];  /* s_k^2 */
    float *mean[EG_MAXK]; /* (C, H, W) each, owned */
    float ac[EG_N];       /* alphas_cumprod */
    int64_t calls;        /* predict calls (batch items) */
} eg_model;

/* SD's scaled_linear table (0.00085 .. 0.012, 1000 steps) in double, rounded to float: close to
 * the real table; the solver tests only need a plausible, strictly decreasing one. */
static inline void eg_table(float *ac) {
    double a = 1.0, s0 = sqrt(0.00085), s1 = sqrt(0.012);
    for (int i = 0; i < EG_N; i++) {
        double b = s0 + (s1 - s0) * i / (EG_N - 1.0);
        a *= 1.0 - b * b;
        ac[i] = (float)a;
    }
}

/* A smooth deterministic pattern in [-1, 1] for component k (distinct per k). */
static inline void eg_pattern(float *x, int64_t c, int64_t h, int64_t w, int seed) {
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++)
                x[(ci * h + i) * w + j] =
                    (float)(0.8 * sin(0.7 * (double)(i + 1) * (seed + 1) + 1.3 * (double)j +
                                      2.1 * (double)ci + seed));
}

static inline void eg_init(eg_model *m, int64_t c, int64_t h, int64_t w, int64_t k, double var) {
    memset(m, 0, sizeof *m);
    m->c = c;
    m->h = h;
    m->w = w;
    m->k = k;
    for (int64_t i = 0; i < k; i++) {
        m->weight[i] = 1.0 / (double)k;
        m->var[i] = var;
        m->mean[i] = (float *)malloc(sizeof(float) * (size_t)(c * h * w));
        eg_pattern(m->mean[i], c, h, w, (int)i * 3 + 1);
    }
    eg_table(m->ac);
}

static inline void eg_free(eg_model *m) {
    for (int64_t i = 0; i < m->k; i++) free(m->mean[i]);
}

static inline int eg_selected(const void *cond, int64_t k) {
    if (!cond) return 1;
    return (int)((*(const uint32_t *)cond >> k) & 1u);
}

/* eps and (optionally) J^T v for one item; scratch `g` has k * d doubles. */
static inline void eg_eval(const eg_model *m, const float *x, int64_t t, const void *cond,
                           const float *v, float *eps, float *jv) {
    const int64_t d = m->c * m->h * m->w;
    const double a = (double)m->ac[t < 0 ? 0 : (t >= EG_N ? EG_N - 1 : t)];
    const double sa = sqrt(a), sb = sqrt(1.0 - a);
    double logp[EG_MAXK], r[EG_MAXK], vk[EG_MAXK], best = -INFINITY;
    for (int64_t k = 0; k < m->k; k++) {
        vk[k] = a * m->var[k] + 1.0 - a;
        if (!eg_selected(cond, k)) {
            logp[k] = -INFINITY;
            continue;
        }
        double q = 0.0;
        for (int64_t i = 0; i < d; i++) {
            double e = (double)x[i] - sa * (double)m->mean[k][i];
            q += e * e;
        }
        logp[k] = log(m->weight[k]) - 0.5 * (double)d * log(vk[k]) - 0.5 * q / vk[k];
        if (logp[k] > best) best = logp[k];
    }
    double z = 0.0;
    for (int64_t k = 0; k < m->k; k++) {
        r[k] = isfinite(logp[k]) ? exp(logp[k] - best) : 0.0;
        z += r[k];
    }
    for (int64_t k = 0; k < m->k; k++) r[k] /= z;
    /* g_k . v and score . v */
    double gv[EG_MAXK] = {0}, sv = 0.0, rinv = 0.0;
    if (jv) {
        for (int64_t k = 0; k < m->k; k++) {
            if (r[k] == 0.0) continue;
            double s = 0.0;
            for (int64_t i = 0; i < d; i++)
                s += -((double)x[i] - sa * (double)m->mean[k][i]) / vk[k] * (double)v[i];
            gv[k] = s;
            sv += r[k] * s;
            rinv += r[k] / vk[k];
        }
    }
    for (int64_t i = 0; i < d; i++) {
        double score = 0.0, hv = 0.0;
        for (int64_t k = 0; k < m->k; k++) {
            if (r[k] == 0.0) continue;
            double g = -((double)x[i] - sa * (double)m->mean[k][i]) / vk[k];
            score += r[k] * g;
            if (jv) hv += r[k] * g * gv[k];
        }
        eps[i] = (float)(-sb * score);
        if (jv) jv[i] = (float)(-sb * (-rinv * (double)v[i] + hv - score * sv));
    }
}

static inline trdi_status eg_predict(void *ctx, int64_t batch, const float *x, int64_t t,
                                     const void *const *cond, float *eps) {
    eg_model *m = (eg_model *)ctx;
    const int64_t d = m->c * m->h * m->w;
    for (int64_t b = 0; b < batch; b++) {
        eg_eval(m, x + b * d, t, cond[b], NULL, eps + b * d, NULL);
        m->calls++;
    }
    return TRDI_OK;
}

static inline trdi_status eg_vjp(void *ctx, int64_t batch, const float *x, int64_t t,
                                 const void *const *cond, const float *v, float *out) {
    eg_model *m = (eg_model *)ctx;
    const int64_t d = m->c * m->h * m->w;
    float *tmp = (float *)malloc(sizeof(float) * (size_t)d);
    for (int64_t b = 0; b < batch; b++) eg_eval(m, x + b * d, t, cond[b], v + b * d, tmp, out + b * d);
    free(tmp);
    return TRDI_OK;
}

static inline trdi_denoiser eg_denoiser(eg_model *m, int with_vjp) {
    trdi_denoiser den;
    memset(&den, 0, sizeof den);
    den.ctx = m;
    den.channels = m->c;
    den.height = m->h;
    den.width = m->w;
    den.predict = eg_predict;
    den.vjp = with_vjp ? eg_vjp : NULL;
    return den;
}

/* A plan following trdi.h's documented semantics (see @@SECTION plan). ts: n descending. */
static inline void eg_plan(const float *ac, const int64_t *ts, int64_t n, trdi_stepping stepping,
                           trdi_plan *p) {
    memset(p, 0, sizeof *p);
    p->n = n;
    p->timesteps = (int64_t *)malloc(sizeof(int64_t) * (size_t)n);
    p->alphas = (float *)malloc(sizeof(float) * (size_t)n);
    p->inv = (trdi_step *)malloc(sizeof(trdi_step) * (size_t)n);
    p->smp = (trdi_step *)malloc(sizeof(trdi_step) * (size_t)n);
    p->final_alpha = ac[0];
    p->stepping = stepping;
    p->num_train_timesteps = EG_N;
    const int64_t D = EG_N / n;
    for (int64_t i = 0; i < n; i++) {
        p->timesteps[i] = ts[i];
        p->alphas[i] = ac[ts[i]];
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t t = ts[n - 1 - k], from;
        if (stepping == TRDI_STEPPING_REFERENCE) {
            from = t - D;
            if (from > EG_N - 1) from = EG_N - 1;
        } else {
            from = k == 0 ? -1 : ts[n - k];
        }
        if (from < 0) from = -1;
        trdi_step s = {t, from, t, from < 0 ? p->final_alpha : ac[from], ac[t]};
        p->inv[k] = s;
        trdi_step r = {t, t, from, s.a_to, s.a_from};
        p->smp[n - 1 - k] = r;
    }
}

static inline void eg_plan_free(trdi_plan *p) {
    free(p->timesteps);
    free(p->alphas);
    free(p->inv);
    free(p->smp);
    memset(p, 0, sizeof *p);
}

/* Uniform leading list of n steps with offset 1: (N/n)*(n-1)+1, ..., 1. */
static inline void eg_leading(int64_t n, int64_t *ts) {
    int64_t r = EG_N / n;
    for (int64_t i = 0; i < n; i++) ts[i] = (n - 1 - i) * r + 1;
}

static inline double eg_rms(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)a[i] - (double)b[i];
        s += e * e;
    }
    return sqrt(s / (double)n);
}

static inline double eg_maxabs(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > s) s = e;
    }
    return s;
}

#endif /* TRDI_TEST_EXACT_GAUSS_H */
