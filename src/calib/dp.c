/* dp.c -- the dynamic programme of calibrated schedules: the cheapest ascending path of n nodes
 * between two fixed end nodes under an arbitrary step cost, and an exhaustive reference used by
 * the tests. The costs come from the surrogate (calib.c); this file knows nothing about models. */
#include "calib/calib.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static trdi_status check_args(calib_cost_fn cost, int64_t lo, int64_t hi, int64_t n, int64_t gap,
                              const int64_t *path, const double *total) {
    if (!cost || !path || !total) return trdi_fail(TRDI_ERR_INVALID_ARG, "calib_dp: NULL argument");
    if (gap < 1 || n < 1 || lo < 0 || hi < lo || (n == 1) != (lo == hi) ||
        (n > 1 && (hi - lo) / (n - 1) < gap))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "calib_dp: cannot place %lld nodes at least %lld apart between %lld and "
                         "%lld",
                         (long long)n, (long long)gap, (long long)lo, (long long)hi);
    return TRDI_OK;
}

trdi_status calib_dp(calib_cost_fn cost, void *ctx, int64_t lo, int64_t hi, int64_t n,
                     int64_t gap, int64_t *path, double *total) {
    trdi_status st = check_args(cost, lo, hi, n, gap, path, total);
    if (st) return st;
    if (n == 1) {
        path[0] = lo;
        *total = 0.0;
        return TRDI_OK;
    }
    const int64_t M = hi - lo + 1;
    /* c[(u) * M + t]: cost of u -> t (relative indices), computed once. */
    double *c = trdi_mallocn((size_t)M * (size_t)M, sizeof *c);
    double *prev = trdi_mallocn((size_t)M, sizeof *prev), *cur = trdi_mallocn((size_t)M, sizeof *cur);
    int32_t *back = trdi_mallocn((size_t)n * (size_t)M, sizeof *back);
    if (!c || !prev || !cur || !back) {
        free(c);
        free(prev);
        free(cur);
        free(back);
        return trdi_fail(TRDI_ERR_NOMEM, "calib_dp: out of memory (%lld nodes)", (long long)M);
    }
    for (int64_t u = 0; u < M; u++)
        for (int64_t t = u + 1; t < M; t++) c[u * M + t] = cost(ctx, lo + u, lo + t);
    /* Layer k holds the best cost of paths lo = x_0 < ... < x_k = t. Node t can sit in layer k
     * only when t >= k and there is room for the remaining n - 1 - k nodes above it. */
    for (int64_t t = 0; t < M; t++) prev[t] = t == 0 ? 0.0 : INFINITY;
    for (int64_t k = 1; k < n; k++) {
        for (int64_t t = 0; t < M; t++) {
            cur[t] = INFINITY;
            back[k * M + t] = -1;
            if (t < k * gap || M - 1 - t < (n - 1 - k) * gap) continue;
            if (k == n - 1 && t != M - 1) continue;
            double best = INFINITY;
            int32_t arg = -1;
            for (int64_t u = (k - 1) * gap; u <= t - gap; u++) {
                if (!isfinite(prev[u])) continue;
                double v = prev[u] + c[u * M + t];
                if (v < best) { /* strict: ties keep the smallest predecessor */
                    best = v;
                    arg = (int32_t)u;
                }
            }
            cur[t] = best;
            back[k * M + t] = arg;
        }
        double *tmp = prev;
        prev = cur;
        cur = tmp;
    }
    st = TRDI_OK;
    if (!isfinite(prev[M - 1])) {
        st = trdi_fail(TRDI_ERR_NUMERIC, "calib_dp: no finite path (non-finite step costs)");
    } else {
        *total = prev[M - 1];
        int64_t t = M - 1;
        for (int64_t k = n - 1; k >= 0; k--) {
            path[k] = lo + t;
            if (k > 0) t = back[k * M + t];
        }
    }
    free(c);
    free(prev);
    free(cur);
    free(back);
    return st;
}

/* Enumerates interior subsets in lexicographic order; keeps the first strictly smallest sum. */
trdi_status calib_dp_brute(calib_cost_fn cost, void *ctx, int64_t lo, int64_t hi, int64_t n,
                           int64_t gap, int64_t *path, double *total) {
    trdi_status st = check_args(cost, lo, hi, n, gap, path, total);
    if (st) return st;
    if (n == 1) {
        path[0] = lo;
        *total = 0.0;
        return TRDI_OK;
    }
    int64_t *cur = trdi_calloc((size_t)n, sizeof *cur);
    if (!cur) return trdi_fail(TRDI_ERR_NOMEM, "calib_dp_brute: out of memory");
    const int64_t k = n - 2; /* interior nodes */
    cur[0] = lo;
    cur[n - 1] = hi;
    for (int64_t i = 0; i < k; i++) cur[1 + i] = lo + 1 + i;
    double best = INFINITY;
    for (;;) {
        double s = 0.0;
        bool ok = true;
        for (int64_t i = 1; i < n; i++) {
            s += cost(ctx, cur[i - 1], cur[i]);
            ok = ok && cur[i] - cur[i - 1] >= gap;
        }
        if (ok && s < best) {
            best = s;
            memcpy(path, cur, (size_t)n * sizeof *cur);
        }
        /* next combination of k values from lo+1 .. hi-1 */
        int64_t i = k - 1;
        while (i >= 0 && cur[1 + i] == hi - 1 - (k - 1 - i)) i--;
        if (i < 0) break;
        cur[1 + i]++;
        for (int64_t j = i + 1; j < k; j++) cur[1 + j] = cur[1 + j - 1] + 1;
    }
    free(cur);
    *total = best;
    return TRDI_OK;
}
