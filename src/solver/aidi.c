/* aidi.c -- accelerated iterative diffusion inversion (spec 4.6). Each step solves the implicit
 * DDIM inverse equation z = g(z) := Inv(eps(z, t); z_s) starting from z^1 = g(z_s):
 * - Anderson mode (default, window m, K iterations): x = AA(z), z = g(x), with the reference's
 *   Anderson accelerator (mixing 1, no regularisation): residuals r_j = g_j - x_{j-1} and values
 *   g_j, at most m + 1 kept, alpha = rowsum((R^T R)^-1), alpha /= sum(alpha) + 1e-12,
 *   x = sum_j alpha_j g_j; the first call returns its input. 1 + K evaluations per step.
 * - Empirical mode: z^0 = z_s, z^1 = g(z_s); K times z = (g(z^0) + g(z^1)) / 2, shift. Output z^1.
 *   1 + 2K evaluations per step.
 * The Gram solve is done in double (the reference uses float32 numpy); a singular Gram matrix
 * falls back to a ridge-regularised solve instead of numpy's least squares. With p->fp_fallback a
 * step whose iteration did not converge returns z^1 (the explicit DDIM step), as in fpi.c.
 * Sampling is DDIM. */
#include "solver/solver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AA_MAX 9 /* window 8 keeps 9 entries */

typedef struct anderson {
    int64_t d, cap, count, head; /* ring of `count` entries, oldest at head */
    bool started;
    float *x_prev;               /* (d) last returned x */
    float *g;                    /* (cap, d) */
    float *r;                    /* (cap, d) */
} anderson;

/* Solves the (n x n) system A y = b in place by Gaussian elimination with partial pivoting.
 * Returns false when a pivot is negligible. */
static bool solve_small(int64_t n, double *a, double *b) {
    double scale = 0.0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(a[i * n + i]));
    for (int64_t col = 0; col < n; col++) {
        int64_t piv = col;
        for (int64_t i = col + 1; i < n; i++)
            if (fabs(a[i * n + col]) > fabs(a[piv * n + col])) piv = i;
        if (!(fabs(a[piv * n + col]) > 1e-13 * scale)) return false;
        if (piv != col) {
            for (int64_t j = 0; j < n; j++) {
                double t = a[col * n + j];
                a[col * n + j] = a[piv * n + j];
                a[piv * n + j] = t;
            }
            double t = b[col];
            b[col] = b[piv];
            b[piv] = t;
        }
        for (int64_t i = col + 1; i < n; i++) {
            double f = a[i * n + col] / a[col * n + col];
            for (int64_t j = col; j < n; j++) a[i * n + j] -= f * a[col * n + j];
            b[i] -= f * b[col];
        }
    }
    for (int64_t i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int64_t j = i + 1; j < n; j++) s -= a[i * n + j] * b[j];
        b[i] = s / a[i * n + i];
    }
    return true;
}

/* One accelerator call on the new value gval (d); writes the next point to x (d). */
static void anderson_apply(anderson *aa, const float *gval, float *x) {
    const int64_t d = aa->d;
    if (!aa->started) {
        aa->started = true;
        memcpy(aa->x_prev, gval, (size_t)d * sizeof(float));
        memcpy(x, gval, (size_t)d * sizeof(float));
        return;
    }
    int64_t slot;
    if (aa->count < aa->cap) {
        slot = (aa->head + aa->count) % aa->cap;
        aa->count++;
    } else {
        slot = aa->head;
        aa->head = (aa->head + 1) % aa->cap;
    }
    float *gs = aa->g + slot * d, *rs = aa->r + slot * d;
    for (int64_t i = 0; i < d; i++) {
        gs[i] = gval[i];
        rs[i] = gval[i] - aa->x_prev[i];
    }
    const int64_t n = aa->count;
    double gram[AA_MAX * AA_MAX], alpha[AA_MAX], gram2[AA_MAX * AA_MAX];
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = a; b < n; b++) {
            const float *ra = aa->r + ((aa->head + a) % aa->cap) * d;
            const float *rb = aa->r + ((aa->head + b) % aa->cap) * d;
            double s = 0.0;
            for (int64_t i = 0; i < d; i++) s += (double)ra[i] * (double)rb[i];
            gram[a * n + b] = gram[b * n + a] = s;
        }
    /* rowsum((R^T R)^-1) = (R^T R)^-1 1, the Gram matrix being symmetric. */
    for (int64_t a = 0; a < n; a++) alpha[a] = 1.0;
    memcpy(gram2, gram, sizeof(double) * (size_t)(n * n));
    if (!solve_small(n, gram2, alpha)) {
        double tr = 0.0;
        for (int64_t a = 0; a < n; a++) tr += gram[a * n + a];
        double ridge = (tr > 0.0 ? tr : 1.0) * 1e-10;
        for (int64_t a = 0; a < n; a++) alpha[a] = 1.0;
        for (int64_t a = 0; a < n; a++) gram[a * n + a] += ridge;
        if (!solve_small(n, gram, alpha)) {
            for (int64_t a = 0; a < n; a++) alpha[a] = (a == n - 1) ? 1.0 : 0.0;
        }
    }
    double sum = 0.0;
    for (int64_t a = 0; a < n; a++) sum += alpha[a];
    for (int64_t a = 0; a < n; a++) alpha[a] /= sum + 1e-12;
    for (int64_t i = 0; i < d; i++) {
        double acc = 0.0;
        for (int64_t a = 0; a < n; a++) acc += alpha[a] * (double)aa->g[((aa->head + a) % aa->cap) * d + i];
        x[i] = (float)acc;
    }
    memcpy(aa->x_prev, x, (size_t)d * sizeof(float));
}

trdi_status solver_aidi_invert(const solver_ctx *c, const float *z0, float *zT) {
    const int64_t d = c->d, cap = c->p->aidi_window + 1;
    const bool fallback = c->p->fp_fallback;
    /* zs, eps, x, g0, g1, x_prev, z1 (fallback copy), then (cap, d) values and (cap, d)
     * residuals */
    float *buf = solver_scratch(d, 7 + 2 * cap);
    if (!buf) return TRDI_ERR_NOMEM;
    float *zs = buf, *eps = buf + d, *x = buf + 2 * d, *g0 = buf + 3 * d, *g1 = buf + 4 * d;
    float *z1 = buf + 6 * d;
    anderson aa = {d, cap, 0, 0, false, buf + 5 * d, buf + 7 * d, buf + (7 + cap) * d};
    trdi_status st = TRDI_OK;
    memcpy(zT, z0, (size_t)d * sizeof(float));
    for (int64_t k = 0; k < c->plan->n && !st; k++) {
        trdi_step s = c->plan->inv[k];
        memcpy(zs, zT, (size_t)d * sizeof(float));
        /* z^1 = g(z_s) into zT */
        st = solver_guided_move(c, s, zs, zs, eps, zT);
        if (!st && fallback) memcpy(z1, zT, (size_t)d * sizeof(float));
        /* residuals |g(y) - y| of the evaluated points y: the first (y = z^1) and the last */
        double r_first = NAN, r_last = NAN;
        if (!c->p->aidi_empirical) {
            aa.count = 0;
            aa.head = 0;
            aa.started = false;
            for (int64_t it = 0; it < c->p->aidi_iters && !st; it++) {
                anderson_apply(&aa, zT, x);
                st = solver_guided_move(c, s, x, zs, eps, zT);
                if (!st && fallback) {
                    r_last = solver_rms_diff(zT, x, d);
                    if (it == 0) r_first = r_last; /* the first AA call returns x = z^1 */
                }
            }
        } else {
            /* zs plays z^0, zT plays z^1. */
            float *za = g1; /* z^0 copy, zs must stay the source */
            memcpy(za, zs, (size_t)d * sizeof(float));
            for (int64_t it = 0; it < c->p->aidi_iters && !st; it++) {
                st = solver_guided_move(c, s, za, zs, eps, g0);
                if (!st) st = solver_guided_move(c, s, zT, zs, eps, x);
                if (st) break;
                if (fallback) {
                    r_last = solver_rms_diff(x, zT, d); /* |g(z^1) - z^1| */
                    if (it == 0) r_first = r_last;
                }
                memcpy(za, zT, (size_t)d * sizeof(float));
                for (int64_t i = 0; i < d; i++) zT[i] = 0.5f * g0[i] + 0.5f * x[i];
            }
        }
        /* K = 0 has no residual: the result is z^1 either way. */
        if (!st && fallback && c->p->aidi_iters >= 1 && !solver_fp_converged(r_first, r_last))
            memcpy(zT, z1, (size_t)d * sizeof(float));
        if (!st) st = solver_emit(c, "inv", k, zT);
    }
    free(buf);
    return st;
}
