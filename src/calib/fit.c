/* fit.c -- the surrogate of calibrated schedules: a per-source power law
 * log err(s, d) = a(s) + p(s) log(d / D), fitted by penalised least squares in log space with
 * second-difference smoothing of a and p over the sources and a weak pull of p towards 2 (DDIM's
 * local error is second order in the step), solved through the normal equations (Cholesky). Also
 * knot interpolation and FNV-1a hashing. Not a general regression library. */
#include "calib/calib.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t calib_fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

double calib_interp(const int64_t *x, const double *v, int64_t J, double s) {
    if (J < 1) return NAN;
    if (s <= (double)x[0]) return v[0];
    if (s >= (double)x[J - 1]) return v[J - 1];
    /* binary search for the knot interval [x[lo], x[lo + 1]] holding s */
    int64_t lo = 0, hi = J - 1;
    while (hi - lo > 1) {
        int64_t mid = (lo + hi) / 2;
        if ((double)x[mid] <= s)
            lo = mid;
        else
            hi = mid;
    }
    double w = (s - (double)x[lo]) / (double)(x[hi] - x[lo]);
    return v[lo] + w * (v[hi] - v[lo]);
}

/* Adds lam * r r^T for the second difference of block `off` at j-1, j, j+1. */
static void add_d2(double *A, int64_t K, int64_t off, int64_t j, double lam) {
    const double r[3] = {1.0, -2.0, 1.0};
    for (int x = 0; x < 3; x++)
        for (int y = 0; y < 3; y++) A[(off + j - 1 + x) * K + off + j - 1 + y] += lam * r[x] * r[y];
}

trdi_status calib_fit(int64_t J, int64_t S, const double *u, const double *y, double lam_a,
                      double lam_p, double mu, double *a, double *p) {
    if (J < 1 || S < 1 || !u || !y || !a || !p)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "calib_fit: empty fit");
    const int64_t K = 2 * J;
    double *A = trdi_calloc((size_t)K * (size_t)K, sizeof *A);
    double *b = trdi_calloc((size_t)K, sizeof *b);
    if (!A || !b) {
        free(A);
        free(b);
        return trdi_fail(TRDI_ERR_NOMEM, "calib_fit: out of memory");
    }
    for (int64_t j = 0; j < J; j++) {
        for (int64_t i = 0; i < S; i++) {
            double v = y[j * S + i];
            if (!isfinite(v)) continue;
            const int64_t ia = j, ip = J + j;
            A[ia * K + ia] += 1.0;
            A[ia * K + ip] += u[i];
            A[ip * K + ia] += u[i];
            A[ip * K + ip] += u[i] * u[i];
            b[ia] += v;
            b[ip] += u[i] * v;
        }
        A[(J + j) * K + J + j] += mu;
        b[J + j] += mu * 2.0;
        A[j * K + j] += 1e-9; /* keeps a source without data solvable; negligible otherwise */
    }
    for (int64_t j = 1; j + 1 < J; j++) {
        add_d2(A, K, 0, j, lam_a);
        add_d2(A, K, J, j, lam_p);
    }
    /* Cholesky A = L L^T in place (lower triangle). A is symmetric positive definite: the data
     * and penalty terms are positive semidefinite and the ridge terms make it definite. */
    trdi_status st = TRDI_OK;
    for (int64_t c = 0; c < K && !st; c++) {
        double d = A[c * K + c];
        for (int64_t k = 0; k < c; k++) d -= A[c * K + k] * A[c * K + k];
        if (!(d > 0.0)) {
            st = trdi_fail(TRDI_ERR_NUMERIC, "calib_fit: singular normal equations");
            break;
        }
        d = sqrt(d);
        A[c * K + c] = d;
        for (int64_t r = c + 1; r < K; r++) {
            double v = A[r * K + c];
            for (int64_t k = 0; k < c; k++) v -= A[r * K + k] * A[c * K + k];
            A[r * K + c] = v / d;
        }
    }
    if (!st) {
        for (int64_t r = 0; r < K; r++) { /* L z = b */
            double v = b[r];
            for (int64_t k = 0; k < r; k++) v -= A[r * K + k] * b[k];
            b[r] = v / A[r * K + r];
        }
        for (int64_t r = K - 1; r >= 0; r--) { /* L^T x = z */
            double v = b[r];
            for (int64_t k = r + 1; k < K; k++) v -= A[k * K + r] * b[k];
            b[r] = v / A[r * K + r];
        }
        for (int64_t j = 0; j < J; j++) {
            a[j] = b[j];
            p[j] = b[J + j] < CALIB_P_MIN ? CALIB_P_MIN : b[J + j];
            if (!isfinite(a[j]) || !isfinite(p[j]))
                st = trdi_fail(TRDI_ERR_NUMERIC, "calib_fit: non-finite fit");
        }
    }
    free(A);
    free(b);
    return st;
}
