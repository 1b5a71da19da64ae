/* calib.h -- internal pieces of the calibrated schedules (src/calib/): the fixed-end-point
 * dynamic programme with its brute-force reference, the smoothed power-law fit, and FNV-1a
 * hashing. Not public API (see the calibration section of include/trdi.h). */
#ifndef TRDI_CALIB_INTERNAL_H
#define TRDI_CALIB_INTERNAL_H

#include "trdi.h"

#include <stddef.h>
#include <stdint.h>

/* Step cost of moving from node u to node t (u < t), nodes 0..M-1. */
typedef double (*calib_cost_fn)(void *ctx, int64_t u, int64_t t);

/* The ascending path of n nodes (n >= 1) from node `lo` to node `hi` (lo == hi iff n == 1),
 * consecutive nodes at least `gap` >= 1 apart, minimising the sum of step costs accumulated from
 * the lo end. path (n) ascending; *total its cost. Ties go to the smallest predecessor.
 * O(n (hi - lo)^2) additions over a cached matrix of (hi - lo + 1)^2 costs. */
trdi_status calib_dp(calib_cost_fn cost, void *ctx, int64_t lo, int64_t hi, int64_t n,
                     int64_t gap, int64_t *path, double *total);
/* Exhaustive reference for tests: every subset of interior nodes (small ranges only). */
trdi_status calib_dp_brute(calib_cost_fn cost, void *ctx, int64_t lo, int64_t hi, int64_t n,
                           int64_t gap, int64_t *path, double *total);

/* Smoothed power-law fit: J sources with coordinate x (ascending), S step sizes (log step sizes
 * centred: u_i = log(d_i / D)), y (J, S) log errors with NaN for missing entries. Minimises
 * sum (y - a_j - p_j u_i)^2 + lam_a |D2 a|^2 + lam_p |D2 p|^2 + mu |p - 2|^2 (D2: second
 * differences over j), then clamps p_j >= CALIB_P_MIN. a, p: (J). */
#define CALIB_P_MIN 0.05
trdi_status calib_fit(int64_t J, int64_t S, const double *u, const double *y, double lam_a,
                      double lam_p, double mu, double *a, double *p);

/* Linear interpolation of knots (x ascending, J >= 1) at s, clamped at the ends. */
double calib_interp(const int64_t *x, const double *v, int64_t J, double s);

/* FNV-1a 64 over bytes, chained from h (start with CALIB_FNV_INIT). */
#define CALIB_FNV_INIT 0xcbf29ce484222325ULL
uint64_t calib_fnv(uint64_t h, const void *data, size_t n);

#endif /* TRDI_CALIB_INTERNAL_H */
