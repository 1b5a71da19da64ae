/* harness.h -- the whole test framework: CHECK, CHECK_NEAR, CHECK_TENSOR and a summary.
 * Each test file is one executable: write `int main(void) { ...CHECKs...; return TEST_SUMMARY(); }`.
 * The summary line "N passed, N failed" is what CI reads. */
#ifndef TRDI_TEST_HARNESS_H
#define TRDI_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_passed_ = 0;
static int test_failed_ = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_passed_++;                                                                        \
        } else {                                                                                   \
            test_failed_++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_passed_++;                                                                        \
        } else {                                                                                   \
            test_failed_++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* |a - b| <= tol (NaN fails). */
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                             \
        if (fabs(a_ - b_) <= t_) {                                                                 \
            test_passed_++;                                                                        \
        } else {                                                                                   \
            test_failed_++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, |diff| %.3g > %.3g\n", \
                    __FILE__, __LINE__, #a, a_, #b, b_, fabs(a_ - b_), t_);                        \
        }                                                                                          \
    } while (0)

/* Compares n floats: passes when every |got - want| <= atol + rtol * |want|. Reports the max
 * absolute and relative error and the worst index either way. */
static inline int check_tensor_(const char *file, int line, const char *what, const float *got,
                                const float *want, size_t n, double atol, double rtol) {
    double max_abs = 0, max_rel = 0;
    size_t worst = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double rel = d / (fabs((double)want[i]) + 1e-30);
        if (!(d <= atol + rtol * fabs((double)want[i]))) {
            if (bad == 0) worst = i;
            bad++;
        }
        if (!(d <= max_abs)) max_abs = d;
        if (rel > max_rel && fabs((double)want[i]) > atol) max_rel = rel;
    }
    if (bad) {
        test_failed_++;
        fprintf(stderr,
                "%s:%d: CHECK_TENSOR %s failed: %zu of %zu out of tolerance (atol %.3g, rtol %.3g); "
                "max abs %.3g, max rel %.3g; first bad [%zu] got %.9g want %.9g\n",
                file, line, what, bad, n, atol, rtol, max_abs, max_rel, worst, (double)got[worst],
                (double)want[worst]);
        return 0;
    }
    test_passed_++;
    return 1;
}
#define CHECK_TENSOR(got, want, n, atol, rtol)                                                     \
    check_tensor_(__FILE__, __LINE__, #got, (got), (want), (n), (atol), (rtol))

#define TEST_SUMMARY()                                                                             \
    (printf("%d passed, %d failed\n", test_passed_, test_failed_), test_failed_ ? 1 : 0)

#endif /* TRDI_TEST_HARNESS_H */
