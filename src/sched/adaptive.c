/* adaptive.c -- AdaptiveTRDI (the authors' TPAMI extension, spec 2.10): a density over the
 * timesteps between two bounds, built from the float32 table widened to double, and the
 * timesteps at equal quantiles of its cumulative sum, repaired to gaps of at least 2. numpy
 * float64 arithmetic throughout (pairwise mean, sequential cumsum, linspace, searchsorted).
 * Not the plain TRDI pipeline (trdi.c). */
#include "sched/sched.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>

/* numpy's pairwise_sum for float64 (loops_utils.h): blocks of 8 accumulators up to 128
 * elements, halves (rounded to a multiple of 8) above. np.add.reduce starts from the identity 0. */
static double pairwise(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        int64_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

double trdi_sched_pairwise_sum(const double *a, int64_t n) {
    return 0.0 + pairwise(a, n);
}

/* AdaptiveTRDI._normalize: non-finite -> 0, clamp at 0, divide by the mean (ones when the mean
 * is <= 1e-12). An empty vector stays empty. */
static void normalize(double *v, int64_t m) {
    if (m == 0) return;
    for (int64_t i = 0; i < m; i++) {
        if (!isfinite(v[i])) v[i] = 0.0;
        if (v[i] < 0.0) v[i] = 0.0; /* np.maximum(v, 0.0); -0.0 stays as is, like numpy */
    }
    double mean = trdi_sched_pairwise_sum(v, m) / (double)m;
    if (mean <= 1e-12) {
        for (int64_t i = 0; i < m; i++) v[i] = 1.0;
        return;
    }
    for (int64_t i = 0; i < m; i++) v[i] = v[i] / mean;
}

trdi_status trdi_sched_adaptive(const trdi_noise_schedule *s, trdi_adaptive_mode mode, int64_t lb,
                                int64_t ub, int64_t n, int64_t *out) {
    const int64_t N = s->n;
    if (lb < 0 || ub > N - 1 || lb > ub)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "adaptive bounds (%lld, %lld) must satisfy "
                         "0 <= lb <= ub <= %lld", (long long)lb, (long long)ub, (long long)(N - 1));
    if (n < 1) return trdi_fail(TRDI_ERR_INVALID_ARG, "adaptive: steps must be >= 1");
    if (mode == TRDI_ADAPTIVE_NONE)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "adaptive: mode 'none' has no density");
    const int64_t m = ub - lb; /* steps = arange(lb + 1, ub + 1) */
    double *alpha = trdi_mallocn((size_t)N, sizeof(double));
    double *sigma = trdi_mallocn((size_t)N, sizeof(double));
    double *logsnr = trdi_mallocn((size_t)N, sizeof(double));
    double *nd = trdi_mallocn((size_t)m + 1, sizeof(double));
    double *ld = trdi_mallocn((size_t)m + 1, sizeof(double));
    double *cv = trdi_mallocn((size_t)m + 1, sizeof(double));
    double *cum = trdi_mallocn((size_t)m + 1, sizeof(double));
    int64_t *asc = trdi_mallocn((size_t)n, sizeof(int64_t));
    trdi_status st = TRDI_OK;
    if (!alpha || !sigma || !logsnr || !nd || !ld || !cv || !cum || !asc) {
        st = trdi_fail(TRDI_ERR_NOMEM, "adaptive: out of memory");
        goto done;
    }
    for (int64_t k = 0; k < N; k++) {
        double a = (double)s->ac[k];
        const double lo = 1e-8, hi = 1.0 - 1e-8; /* np.clip(alpha, 1e-8, 1 - 1e-8) */
        a = a < lo ? lo : (a > hi ? hi : a);
        alpha[k] = a;
        sigma[k] = sqrt((1.0 / a) - 1.0);
        logsnr[k] = log(a) - log1p(-a);
    }
    for (int64_t j = 0; j < m; j++) {
        const int64_t t = lb + 1 + j;
        const int64_t t2 = t - 2 > 0 ? t - 2 : 0;
        nd[j] = sqrt(alpha[t]) * fabs(sigma[t] - sigma[t - 1]);
        ld[j] = fabs(logsnr[t] - logsnr[t - 1]);
        cv[j] = fabs(logsnr[t] - 2.0 * logsnr[t - 1] + logsnr[t2]);
    }
    normalize(nd, m);
    normalize(ld, m);
    normalize(cv, m);
    if (mode == TRDI_ADAPTIVE_LATE) {
        /* late_prior = ((ub - steps + 1) / max(ub - lb, 1)) ** 0.5, normalised (reuses ld). */
        const double den = (double)(ub - lb > 1 ? ub - lb : 1);
        for (int64_t j = 0; j < m; j++) {
            const int64_t t = lb + 1 + j;
            ld[j] = sqrt((double)(ub - t + 1) / den);
        }
        normalize(ld, m);
    }
    /* Density (stored in nd), then np.maximum(density, 1e-6) and the cumulative sum. */
    cum[0] = 0.0;
    for (int64_t j = 0; j < m; j++) {
        double d;
        switch (mode) {
        case TRDI_ADAPTIVE_NOISE: d = nd[j]; break;
        case TRDI_ADAPTIVE_NOISE_FLOOR25: d = 0.75 * nd[j] + 0.25; break;
        case TRDI_ADAPTIVE_NOISE_FLOOR50: d = 0.50 * nd[j] + 0.50; break;
        case TRDI_ADAPTIVE_NOISE_FLOOR75: d = 0.25 * nd[j] + 0.75; break;
        case TRDI_ADAPTIVE_LOGSNR: d = ld[j]; break;
        case TRDI_ADAPTIVE_CURVATURE: d = cv[j]; break;
        case TRDI_ADAPTIVE_LATE: d = 0.65 * nd[j] + 0.35 * ld[j]; break;
        default: d = 0.50 * nd[j] + 0.35 * ld[j] + 0.15 * cv[j]; break; /* balanced */
        }
        d = d > 1e-6 ? d : 1e-6; /* np.maximum: NaN would propagate; none occurs here */
        cum[j + 1] = cum[j] + d;
    }
    const double total = cum[m];
    for (int64_t k = 0; k < n; k++) {
        /* np.linspace(0.0, total, n): k * (total / (n - 1)) + 0.0, the last one exactly total;
         * a zero step falls back to k / (n - 1) * total (numpy's denormal branch). */
        double target;
        if (n == 1) {
            target = 0.0;
        } else if (k == n - 1) {
            target = total;
        } else {
            double step = total / (double)(n - 1);
            if (step == 0)
                target = (double)k / (double)(n - 1) * total;
            else
                target = (double)k * step;
            target = target + 0.0;
        }
        /* np.searchsorted(cum, target, side="left"): first index with cum[idx] >= target. */
        int64_t lo = 0, hi = m + 1;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (cum[mid] < target)
                lo = mid + 1;
            else
                hi = mid;
        }
        asc[k] = lb + (lo < m ? lo : m);
    }
    asc[0] = lb;
    asc[n - 1] = ub;
    /* Min-gap repair (gap 2), exactly in the reference's order. */
    for (int64_t i = 1; i < n; i++)
        if (asc[i] < asc[i - 1] + 2) asc[i] = asc[i - 1] + 2;
    if (asc[n - 1] > ub) {
        asc[n - 1] = ub;
        for (int64_t i = n - 2; i >= 0; i--)
            if (asc[i] > asc[i + 1] - 2) asc[i] = asc[i + 1] - 2;
    }
    if (asc[0] < lb) {
        asc[0] = lb;
        for (int64_t i = 1; i < n; i++)
            if (asc[i] < asc[i - 1] + 2) asc[i] = asc[i - 1] + 2;
    }
    if (asc[0] < 1) asc[0] = 1;
    if (asc[n - 1] > ub) asc[n - 1] = ub;
    for (int64_t i = 1; i < n; i++)
        if (asc[i] <= asc[i - 1]) {
            st = trdi_fail(TRDI_ERR_INFEASIBLE,
                           "adaptive: %lld steps do not fit between %lld and %lld with gaps of 2 "
                           "(the reference returns a non-increasing list)",
                           (long long)n, (long long)lb, (long long)ub);
            goto done;
        }
    for (int64_t i = 0; i < n; i++) out[i] = asc[n - 1 - i];
done:
    free(alpha);
    free(sigma);
    free(logsnr);
    free(nd);
    free(ld);
    free(cv);
    free(cum);
    free(asc);
    return st;
}
