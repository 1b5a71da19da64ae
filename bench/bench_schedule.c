/* bench_schedule.c -- times TRDI schedule construction for the two configurations of issue 2,
 * (50 steps, spacing 1.05, window 8) and (4 steps, spacing 0.9, window 50): the whole public
 * trdi_trdi_build, and the DP alone, fast versus the plain reference DP measured in the same run
 * (the baseline). Median of many repetitions; also the one-off cost of building a noise table.
 * The authors' Python figures (about 1.4 s and 2.5 s) are quoted from the issue, not measured. */
#include "sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    int64_t n;
    double spacing;
    int64_t window;
    double python_s; /* the figure for the authors' TRDI.py */
} config;

/* Sink so the compiler keeps every call. */
static volatile int64_t sink;

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 2001;
    if (reps < 5) reps = 5;
    const config cfgs[] = {{50, 1.05, 8, 1.4}, {4, 0.9, 50, 2.5}};
    const trdi_noise_schedule *sd = trdi_sched_sd_table();
    if (!sd) {
        fprintf(stderr, "bench_schedule: cannot build the SD table\n");
        return 1;
    }
    double *t = malloc((size_t)reps * sizeof(double));
    if (!t) return 1;

    /* One-off: a noise table from a config (betas, cumprod, cost factors). */
    trdi_noise_config c = trdi_noise_config_default();
    for (int r = 0; r < reps; r++) {
        trdi_noise_schedule *s = NULL;
        double t0 = now_s();
        trdi_noise_schedule_create(&c, &s);
        t[r] = now_s() - t0;
        trdi_noise_schedule_free(s);
    }
    printf("noise table (SD 1.5, N=1000): median %.2f us over %d runs\n", 1e6 * median(t, reps),
           reps);

    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        const config *g = &cfgs[k];
        trdi_trdi_params p = trdi_trdi_default_params();
        p.steps = g->n;
        p.spacing = g->spacing;
        p.window = g->window;
        /* Whole pipeline through the public API (init, rescale, fast DP, validation). */
        for (int r = 0; r < reps; r++) {
            trdi_trdi_result res;
            double t0 = now_s();
            trdi_status st = trdi_trdi_build(NULL, &p, &res);
            t[r] = now_s() - t0;
            if (st != TRDI_OK) {
                fprintf(stderr, "bench_schedule: %s\n", trdi_last_error());
                return 1;
            }
            sink = res.timesteps[0];
            trdi_trdi_result_clear(&res);
        }
        double build = median(t, reps);
        /* DP alone on the rescaled list: fast vs the plain reference (the baseline). */
        trdi_trdi_result res;
        trdi_trdi_build(NULL, &p, &res);
        int64_t *out = malloc((size_t)(res.n_init + 1) * sizeof(int64_t)), on = 0;
        float cost = 0;
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            trdi_sched_dp(sd, res.rescaled, res.n_init, p.window, p.steps, out, &on, &cost);
            t[r] = now_s() - t0;
            sink = out[0];
        }
        double fast = median(t, reps);
        int ref_reps = reps / 10 < 21 ? 21 : reps / 10;
        if (ref_reps > reps) ref_reps = reps;
        for (int r = 0; r < ref_reps; r++) {
            double t0 = now_s();
            trdi_sched_dp_ref(sd, res.rescaled, res.n_init, p.window, p.steps, out, &on, &cost);
            t[r] = now_s() - t0;
            sink = out[0];
        }
        double ref = median(t, ref_reps);
        printf("(%lld steps, spacing %.2f, window %lld): trdi_trdi_build median %.2f us; DP fast "
               "%.2f us vs plain reference DP %.2f us (%.1fx); authors' Python ~%.1f s (%.0fx)\n",
               (long long)g->n, g->spacing, (long long)g->window, 1e6 * build, 1e6 * fast,
               1e6 * ref, ref / fast, g->python_s, g->python_s / build);
        free(out);
        trdi_trdi_result_clear(&res);
    }
    free(t);
    return 0;
}
