/* guide.c -- classifier-free guidance over a denoiser (spec 4.0): one conditional pass when
 * g <= 1, else one batch-of-two pass [uncond; cond] combined as eps_u + g (eps_c - eps_u), the
 * diffusers pipelines' formula. Also the vector-Jacobian product through that linear combination
 * (GNRI). Not a model: it only calls the denoiser's callbacks. */
#include "solver/solver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

trdi_guide trdi_guide_init(const trdi_denoiser *den, const void *cond, const void *uncond,
                           float scale) {
    trdi_guide g;
    memset(&g, 0, sizeof g);
    g.den = den;
    g.cond = cond;
    g.uncond = uncond;
    g.scale = scale;
    return g;
}

void trdi_guide_clear(trdi_guide *g) {
    if (!g) return;
    free(g->scratch_);
    g->scratch_ = NULL;
    g->scratch_n_ = 0;
}

static int64_t guide_dim(const trdi_guide *g) {
    return g->den->channels * g->den->height * g->den->width;
}

static trdi_status guide_check(const trdi_guide *g, const char *fn) {
    if (!g || !g->den) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: guide or its denoiser is NULL", fn);
    if (g->den->channels <= 0 || g->den->height <= 0 || g->den->width <= 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: denoiser shape %lldx%lldx%lld is not positive",
                         fn, (long long)g->den->channels, (long long)g->den->height,
                         (long long)g->den->width);
    if (!isfinite(g->scale))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: guidance scale is not finite", fn);
    return TRDI_OK;
}

/* (6, d) floats: room for the batch-of-two input, second input and output of predict / vjp. */
static trdi_status guide_scratch(trdi_guide *g, int64_t d) {
    size_t need = (size_t)d * 6;
    if (g->scratch_ && g->scratch_n_ >= need) return TRDI_OK;
    free(g->scratch_);
    g->scratch_n_ = 0;
    g->scratch_ = trdi_mallocn(need, sizeof(float));
    if (!g->scratch_)
        return trdi_fail(TRDI_ERR_NOMEM, "guidance: cannot allocate %zu floats of scratch", need);
    g->scratch_n_ = need;
    return TRDI_OK;
}

static trdi_status check_out(const float *x, int64_t n, int64_t t, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return trdi_fail(TRDI_ERR_NUMERIC,
                             "denoiser %s at timestep %lld is not finite (element %lld = %g)", what,
                             (long long)t, (long long)i, (double)x[i]);
    return TRDI_OK;
}

trdi_status trdi_guide_eps(trdi_guide *g, const float *x, int64_t t, float *eps) {
    trdi_status st = guide_check(g, "trdi_guide_eps");
    if (st) return st;
    if (!x || !eps) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_guide_eps: x or eps is NULL");
    if (!g->den->predict)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_guide_eps: the denoiser has no predict");
    int64_t d = guide_dim(g);
    if (!(g->scale > 1.0f)) {
        const void *cond[1] = {g->cond};
        st = g->den->predict(g->den->ctx, 1, x, t, cond, eps);
        if (st) return st;
        g->nfe += 1;
        return check_out(eps, d, t, "prediction");
    }
    st = guide_scratch(g, d);
    if (st) return st;
    float *x2 = g->scratch_;       /* (2, d) */
    float *e2 = g->scratch_ + 2 * d; /* (2, d): [eps_u; eps_c] */
    memcpy(x2, x, (size_t)d * sizeof(float));
    memcpy(x2 + d, x, (size_t)d * sizeof(float));
    const void *cond[2] = {g->uncond, g->cond};
    st = g->den->predict(g->den->ctx, 2, x2, t, cond, e2);
    if (st) return st;
    g->nfe += 2;
    const float s = g->scale;
    const float *eu = e2, *ec = e2 + d;
    for (int64_t i = 0; i < d; i++) eps[i] = eu[i] + s * (ec[i] - eu[i]);
    return check_out(eps, d, t, "guided prediction");
}

trdi_status trdi_guide_vjp(trdi_guide *g, const float *x, int64_t t, const float *v, float *out) {
    trdi_status st = guide_check(g, "trdi_guide_vjp");
    if (st) return st;
    if (!x || !v || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_guide_vjp: x, v or out is NULL");
    if (!g->den->vjp)
        return trdi_fail(TRDI_ERR_UNSUPPORTED,
                         "this method needs model gradients (J^T v), and the denoiser has no vjp");
    int64_t d = guide_dim(g);
    if (!(g->scale > 1.0f)) {
        const void *cond[1] = {g->cond};
        st = g->den->vjp(g->den->ctx, 1, x, t, cond, v, out);
        if (st) return st;
        g->nvjp += 1;
        return check_out(out, d, t, "vjp");
    }
    st = guide_scratch(g, d);
    if (st) return st;
    float *x2 = g->scratch_, *v2 = g->scratch_ + 2 * d, *o2 = g->scratch_ + 4 * d;
    memcpy(x2, x, (size_t)d * sizeof(float));
    memcpy(x2 + d, x, (size_t)d * sizeof(float));
    memcpy(v2, v, (size_t)d * sizeof(float));
    memcpy(v2 + d, v, (size_t)d * sizeof(float));
    const void *cond[2] = {g->uncond, g->cond};
    st = g->den->vjp(g->den->ctx, 2, x2, t, cond, v2, o2);
    if (st) return st;
    g->nvjp += 2;
    /* eps = (1 - s) eps_u + s eps_c, so J^T v = (1 - s) J_u^T v + s J_c^T v. */
    const float s = g->scale;
    for (int64_t i = 0; i < d; i++) out[i] = o2[i] + s * (o2[d + i] - o2[i]);
    return check_out(out, d, t, "guided vjp");
}
