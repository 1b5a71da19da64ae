/* gmm.c -- the exact Gaussian-mixture model: closed-form log-density, noise prediction and
 * Jacobian-vector product of the noised marginal, and prompt conditioning by label. Not here:
 * building mixtures from patterns, folders or JSON (gmm_build.c), the trdi_model handle (model.c).
 *
 * With u_k = x - sqrt(a) mu_k, v_k = a s_k^2 + 1 - a and logits
 *     l_k = log w_k - D/2 log(2 pi v_k) - |u_k|^2 / (2 v_k),
 * r = softmax(l) (log-sum-exp), log p = logsumexp(l) (weights renormalised over the selection),
 *     grad log p = -sum_k r_k u_k / v_k =: g,
 *     Hess log p = sum_k r_k (u_k u_k^T / v_k^2 - I / v_k) - g g^T,
 * and eps = -sqrt(1 - a) g, J = d eps / dx = -sqrt(1 - a) Hess (symmetric, so J^T v = J v). */
#include "model/gmm.h"

#include "core/core.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct gmm_cond {
    const struct gmm *owner;
    uint8_t *mask; /* (K) 1 = selected */
    struct gmm_cond *next;
} gmm_cond;

struct gmm {
    int64_t k, c, h, w, d;
    float *means;    /* (K, D) */
    double *logw;    /* (K) log of the normalised weights */
    double *var;     /* (K) s_k^2 */
    char **labels;   /* (K) NULL entries: unlabelled */
    char **distinct; /* (n_distinct) */
    int64_t n_distinct;
    gmm_cond *conds; /* every handle given out, freed with the mixture */
};

void gmm_free(gmm *g) {
    if (!g) return;
    free(g->means);
    free(g->logw);
    free(g->var);
    if (g->labels)
        for (int64_t i = 0; i < g->k; i++)
            free(g->labels[i]);
    free(g->labels);
    free(g->distinct); /* entries alias labels */
    for (gmm_cond *c = g->conds; c;) {
        gmm_cond *n = c->next;
        free(c->mask);
        free(c);
        c = n;
    }
    free(g);
}

trdi_status gmm_create(int64_t k, int64_t c, int64_t h, int64_t w, const float *means,
                       const double *weights, const double *variances, const char *const *labels,
                       gmm **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "gmm_create: out is NULL");
    *out = NULL;
    if (k < 1) return trdi_fail(TRDI_ERR_INVALID_ARG, "mixture: needs at least one component");
    if (c < 1 || h < 1 || w < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "mixture: image shape %lldx%lldx%lld must be positive", (long long)c,
                         (long long)h, (long long)w);
    if (c > 4096 || h > 16384 || w > 16384 || c * h * w > ((int64_t)1 << 28))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "mixture: image shape %lldx%lldx%lld is too large",
                         (long long)c, (long long)h, (long long)w);
    if (!means || !weights || !variances)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "gmm_create: means, weights and variances are required");
    int64_t d = c * h * w;
    double wsum = 0;
    for (int64_t i = 0; i < k; i++) {
        if (!(isfinite(weights[i]) && weights[i] > 0))
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "mixture component %lld: weight must be > 0 and finite, got %g",
                             (long long)i, weights[i]);
        if (!(isfinite(variances[i]) && variances[i] >= 0))
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "mixture component %lld: variance must be >= 0 and finite, got %g",
                             (long long)i, variances[i]);
        wsum += weights[i];
    }
    if (!isfinite(wsum))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "mixture: the weights sum to infinity");
    for (int64_t i = 0; i < k * d; i++)
        if (!isfinite(means[i]))
            return trdi_fail(TRDI_ERR_NUMERIC,
                             "mixture component %lld: mean has a non-finite value",
                             (long long)(i / d));
    gmm *g = trdi_calloc(1, sizeof *g);
    if (!g) return trdi_fail(TRDI_ERR_NOMEM, "mixture: out of memory");
    g->k = k, g->c = c, g->h = h, g->w = w, g->d = d;
    g->means = trdi_mallocn((size_t)(k * d), sizeof *g->means);
    g->logw = trdi_mallocn((size_t)k, sizeof *g->logw);
    g->var = trdi_mallocn((size_t)k, sizeof *g->var);
    g->labels = trdi_calloc((size_t)k, sizeof *g->labels);
    g->distinct = trdi_calloc((size_t)k, sizeof *g->distinct);
    if (!g->means || !g->logw || !g->var || !g->labels || !g->distinct) goto nomem;
    memcpy(g->means, means, (size_t)(k * d) * sizeof *means);
    for (int64_t i = 0; i < k; i++) {
        g->logw[i] = log(weights[i] / wsum);
        g->var[i] = variances[i];
        if (labels && labels[i] && labels[i][0]) {
            g->labels[i] = strdup(labels[i]);
            if (!g->labels[i]) goto nomem;
            int64_t j = 0;
            while (j < g->n_distinct && strcasecmp(g->distinct[j], g->labels[i]))
                j++;
            if (j == g->n_distinct) g->distinct[g->n_distinct++] = g->labels[i];
        }
    }
    *out = g;
    return TRDI_OK;
nomem:
    gmm_free(g);
    return trdi_fail(TRDI_ERR_NOMEM, "mixture: out of memory");
}

int64_t gmm_num_components(const gmm *g) {
    return g->k;
}
int64_t gmm_dim(const gmm *g) {
    return g->d;
}
void gmm_shape(const gmm *g, int64_t *c, int64_t *h, int64_t *w) {
    if (c) *c = g->c;
    if (h) *h = g->h;
    if (w) *w = g->w;
}
const float *gmm_mean(const gmm *g, int64_t k) {
    return (k >= 0 && k < g->k) ? g->means + k * g->d : NULL;
}
double gmm_weight(const gmm *g, int64_t k) {
    return (k >= 0 && k < g->k) ? exp(g->logw[k]) : 0.0;
}
double gmm_variance(const gmm *g, int64_t k) {
    return (k >= 0 && k < g->k) ? g->var[k] : 0.0;
}
const char *gmm_label(const gmm *g, int64_t k) {
    return (k >= 0 && k < g->k) ? g->labels[k] : NULL;
}
int64_t gmm_num_labels(const gmm *g) {
    return g->n_distinct;
}
const char *gmm_label_at(const gmm *g, int64_t i) {
    return (i >= 0 && i < g->n_distinct) ? g->distinct[i] : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Conditioning                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* Word characters for whole-word matching: ASCII letters, digits, '_' and every byte of a
 * multi-byte UTF-8 sequence (so non-ASCII letters never act as boundaries). */
static bool is_word_byte(unsigned char ch) {
    return isalnum(ch) || ch == '_' || ch >= 0x80;
}

/* Whether `label` occurs in `prompt` case-insensitively (ASCII) with a non-word byte or the string
 * end on both sides. */
static bool names_label(const char *prompt, const char *label) {
    size_t n = strlen(prompt), m = strlen(label);
    if (m == 0 || m > n) return false;
    for (size_t i = 0; i + m <= n; i++) {
        if (strncasecmp(prompt + i, label, m)) continue;
        bool left = i == 0 || !is_word_byte((unsigned char)prompt[i - 1]);
        bool right = i + m == n || !is_word_byte((unsigned char)prompt[i + m]);
        if (left && right) return true;
    }
    return false;
}

static bool is_blank(const char *s) {
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

trdi_status gmm_condition(gmm *g, const char *prompt, const void **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "gmm_condition: out is NULL");
    *out = NULL;
    if (!g) return trdi_fail(TRDI_ERR_INVALID_ARG, "gmm_condition: model is NULL");
    if (!prompt) prompt = "";
    uint8_t *mask = trdi_calloc((size_t)g->k, 1);
    if (!mask) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    int64_t n_sel = 0;
    if (is_blank(prompt) || g->n_distinct == 0) {
        memset(mask, 1, (size_t)g->k);
        n_sel = g->k;
    } else {
        for (int64_t i = 0; i < g->k; i++)
            if (g->labels[i] && names_label(prompt, g->labels[i])) mask[i] = 1, n_sel++;
    }
    if (n_sel == 0) {
        char list[512];
        size_t pos = 0;
        list[0] = 0;
        for (int64_t i = 0; i < g->n_distinct && pos < sizeof list; i++)
            pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%s", i ? ", " : "",
                                    g->distinct[i]);
        free(mask);
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "prompt \"%.200s\" names none of the mixture's labels (%s); use \"\" for "
                         "the unconditional model",
                         prompt, list);
    }
    for (gmm_cond *c = g->conds; c; c = c->next)
        if (!memcmp(c->mask, mask, (size_t)g->k)) {
            free(mask);
            *out = c;
            return TRDI_OK;
        }
    gmm_cond *c = trdi_calloc(1, sizeof *c);
    if (!c) {
        free(mask);
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    }
    c->owner = g;
    c->mask = mask;
    c->next = g->conds;
    g->conds = c;
    *out = c;
    return TRDI_OK;
}

static trdi_status check_cond(const gmm *g, const void *cond) {
    if (cond && ((const gmm_cond *)cond)->owner != g)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "conditioning handle does not belong to this model (use trdi_model_condition "
            "on the same model)");
    return TRDI_OK;
}

bool gmm_selected(const gmm *g, const void *cond, int64_t k) {
    if (k < 0 || k >= g->k) return false;
    return !cond || ((const gmm_cond *)cond)->mask[k];
}

/* ---------------------------------------------------------------------------------------- */
/* Exact quantities                                                                           */
/* ---------------------------------------------------------------------------------------- */

/* Scratch for one point: logits/responsibilities and the projections of v, (K) each. */
static trdi_status eval_core(const gmm *g, const void *cond, double a, const double *x,
                             double *logp, double *eps, const double *v, double *jv, double *r,
                             double *proj, double *grad) {
    const int64_t k = g->k, d = g->d;
    const uint8_t *mask = cond ? ((const gmm_cond *)cond)->mask : NULL;
    const double sa = sqrt(a), s1a = sqrt(1.0 - a);
    const double log2pi = log(2.0 * M_PI);
    double lmax = -INFINITY, wsel = 0.0;
    for (int64_t i = 0; i < k; i++) {
        if (mask && !mask[i]) {
            r[i] = -INFINITY;
            continue;
        }
        double vk = a * g->var[i] + (1.0 - a);
        if (!(vk > 0))
            return trdi_fail(TRDI_ERR_NUMERIC,
                             "mixture component %lld has zero variance at noise level a = %g",
                             (long long)i, a);
        const float *mu = g->means + i * d;
        double d2 = 0, dv = 0;
        for (int64_t j = 0; j < d; j++) {
            double u = x[j] - sa * (double)mu[j];
            d2 += u * u;
            if (v) dv += u * v[j];
        }
        r[i] = g->logw[i] - 0.5 * (double)d * (log2pi + log(vk)) - d2 / (2.0 * vk);
        proj[i] = dv;
        if (r[i] > lmax) lmax = r[i];
        wsel += exp(g->logw[i]); /* the selected weights' sum, for renormalisation */
    }
    if (!isfinite(lmax))
        return trdi_fail(TRDI_ERR_NUMERIC, "mixture log-density is not finite (a = %g)", a);
    double z = 0;
    for (int64_t i = 0; i < k; i++) {
        r[i] = (mask && !mask[i]) ? 0.0 : exp(r[i] - lmax);
        z += r[i];
    }
    for (int64_t i = 0; i < k; i++)
        r[i] /= z;
    if (logp) *logp = lmax + log(z) - log(wsel);
    if (!eps && !jv) return TRDI_OK;
    /* grad = -sum_k r_k u_k / v_k */
    for (int64_t j = 0; j < d; j++)
        grad[j] = 0;
    double rv_sum = 0; /* sum_k r_k / v_k */
    for (int64_t i = 0; i < k; i++) {
        if (r[i] == 0.0) continue;
        double vk = a * g->var[i] + (1.0 - a);
        double cf = r[i] / vk;
        rv_sum += cf;
        const float *mu = g->means + i * d;
        for (int64_t j = 0; j < d; j++)
            grad[j] -= cf * (x[j] - sa * (double)mu[j]);
    }
    if (eps)
        for (int64_t j = 0; j < d; j++)
            eps[j] = -s1a * grad[j];
    if (jv) {
        double gv = 0;
        for (int64_t j = 0; j < d; j++)
            gv += grad[j] * v[j];
        /* Hv = sum_k r_k u_k (u_k.v) / v_k^2 - v sum_k r_k / v_k - g (g.v) */
        for (int64_t j = 0; j < d; j++)
            jv[j] = -rv_sum * v[j] - grad[j] * gv;
        for (int64_t i = 0; i < k; i++) {
            if (r[i] == 0.0) continue;
            double vk = a * g->var[i] + (1.0 - a);
            double cf = r[i] * proj[i] / (vk * vk);
            const float *mu = g->means + i * d;
            for (int64_t j = 0; j < d; j++)
                jv[j] += cf * (x[j] - sa * (double)mu[j]);
        }
        for (int64_t j = 0; j < d; j++)
            jv[j] *= -s1a;
    }
    return TRDI_OK;
}

static trdi_status check_level(double a) {
    if (!(a >= 0.0 && a <= 1.0))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "noise level a = %g is outside [0, 1]", a);
    return TRDI_OK;
}

trdi_status gmm_eval(const gmm *g, const void *cond, double a, const double *x, double *logp,
                     double *eps, const double *v, double *jv) {
    if (!g || !x) return trdi_fail(TRDI_ERR_INVALID_ARG, "gmm_eval: model and x are required");
    if (jv && !v) return trdi_fail(TRDI_ERR_INVALID_ARG, "gmm_eval: jv needs v");
    trdi_status st = check_level(a);
    if (!st) st = check_cond(g, cond);
    if (st) return st;
    for (int64_t j = 0; j < g->d; j++)
        if (!isfinite(x[j]) || (v && !isfinite(v[j])))
            return trdi_fail(TRDI_ERR_NUMERIC, "mixture: non-finite input at index %lld",
                             (long long)j);
    double *r = trdi_mallocn((size_t)g->k * 2, sizeof *r);
    double *grad = trdi_mallocn((size_t)g->d, sizeof *grad);
    if (!r || !grad) {
        free(r);
        free(grad);
        return trdi_fail(TRDI_ERR_NOMEM, "mixture: out of memory");
    }
    st = eval_core(g, cond, a, x, logp, eps, v, jv, r, r + g->k, grad);
    free(r);
    free(grad);
    return st;
}

/* Shared batch driver: converts one item at a time to double. */
static trdi_status batch_eval(const gmm *g, double a, int64_t batch, const float *x,
                              const void *const *cond, const float *v, float *out) {
    if (!g || !x || !out || batch < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "mixture: bad arguments (batch %lld)",
                         (long long)batch);
    trdi_status st = check_level(a);
    if (st) return st;
    const int64_t d = g->d;
    for (int64_t b = 0; b < batch; b++)
        if ((st = check_cond(g, cond ? cond[b] : NULL))) return st;
    double *buf = trdi_mallocn((size_t)d, 4 * sizeof *buf);
    double *r = trdi_mallocn((size_t)g->k, 2 * sizeof *r);
    if (!buf || !r) {
        free(buf);
        free(r);
        return trdi_fail(TRDI_ERR_NOMEM, "mixture: out of memory");
    }
    double *xd = buf, *vd = buf + d, *res = buf + 2 * d, *grad = buf + 3 * d;
    for (int64_t b = 0; b < batch && !st; b++) {
        const float *xb = x + b * d;
        for (int64_t j = 0; j < d; j++) {
            xd[j] = xb[j];
            if (v) vd[j] = v[b * d + j];
            if (!isfinite(xd[j]) || (v && !isfinite(vd[j]))) {
                st = trdi_fail(TRDI_ERR_NUMERIC,
                               "mixture: non-finite input in batch item %lld at index %lld",
                               (long long)b, (long long)j);
                break;
            }
        }
        if (st) break;
        const void *cb = cond ? cond[b] : NULL;
        st = v ? eval_core(g, cb, a, xd, NULL, NULL, vd, res, r, r + g->k, grad)
               : eval_core(g, cb, a, xd, NULL, res, NULL, NULL, r, r + g->k, grad);
        if (st) break;
        for (int64_t j = 0; j < d; j++)
            out[b * d + j] = (float)res[j];
    }
    free(buf);
    free(r);
    return st;
}

trdi_status gmm_predict(const gmm *g, double a, int64_t batch, const float *x,
                        const void *const *cond, float *eps) {
    return batch_eval(g, a, batch, x, cond, NULL, eps);
}

trdi_status gmm_vjp(const gmm *g, double a, int64_t batch, const float *x, const void *const *cond,
                    const float *v, float *out) {
    if (!v) return trdi_fail(TRDI_ERR_INVALID_ARG, "mixture vjp: v is NULL");
    return batch_eval(g, a, batch, x, cond, v, out);
}
