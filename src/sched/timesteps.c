/* timesteps.c -- the inference timestep lists of diffusers' DDIMScheduler.set_timesteps and
 * TRDI.init_timesteps (spec 1.4, 2.3): leading (integer arithmetic), trailing (numpy float arange,
 * rounded half to even) and linspace (numpy linspace, rounded half to even), with numpy's exact
 * double arithmetic. Not the TRDI rescaling or DP (trdi.c). */
#include "sched/sched.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>

/* np.arange(start, stop, step) for doubles (numpy's PyArray_ArangeObj + DOUBLE_fill): length
 * ceil((stop - start) / step); element 0 is start, element 1 is start + step, and element i >= 2
 * is start + i * delta with delta = (start + step) - start. Returns the length; writes at most
 * `cap` values. */
static int64_t np_arange(double start, double stop, double step, double *out, int64_t cap) {
    double len_d = ceil((stop - start) / step);
    if (!(len_d > 0)) return 0;
    int64_t len = (int64_t)len_d;
    if (len > cap) return len;
    out[0] = start;
    if (len == 1) return len;
    double next = start + step;
    out[1] = next;
    double delta = next - start;
    for (int64_t i = 2; i < len; i++) out[i] = start + (double)i * delta;
    return len;
}

trdi_status trdi_sched_raw_timesteps(trdi_timestep_spacing spacing, int64_t n, int64_t num_train,
                                     int64_t steps_offset, int64_t **out, int64_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (n < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "steps must be >= 1, got %lld", (long long)n);
    /* Room for the one extra entry numpy's arange can produce. */
    int64_t *ts = trdi_mallocn((size_t)n + 1, sizeof *ts);
    if (!ts) return trdi_fail(TRDI_ERR_NOMEM, "timesteps: out of memory (%lld)", (long long)n);
    int64_t len = n;
    switch (spacing) {
    case TRDI_SPACING_LEADING: {
        const int64_t r = num_train / n;
        for (int64_t k = 0; k < n; k++) ts[k] = (n - 1 - k) * r + steps_offset;
        break;
    }
    case TRDI_SPACING_TRAILING: {
        /* np.round(np.arange(N, 0, -N / n)) - 1 */
        const double r = (double)num_train / (double)n;
        double *v = trdi_mallocn((size_t)n + 1, sizeof *v);
        if (!v) {
            free(ts);
            return trdi_fail(TRDI_ERR_NOMEM, "timesteps: out of memory (%lld)", (long long)n);
        }
        len = np_arange((double)num_train, 0.0, -r, v, n + 1);
        if (len > n + 1 || len < 1) {
            free(v);
            free(ts);
            return trdi_fail(TRDI_ERR_INTERNAL, "trailing timesteps: arange gave %lld values for %lld",
                             (long long)len, (long long)n);
        }
        for (int64_t k = 0; k < len; k++) ts[k] = (int64_t)nearbyint(v[k]) - 1;
        free(v);
        break;
    }
    case TRDI_SPACING_LINSPACE: {
        /* np.linspace(0, N - 1, n).round()[::-1]: y_k = k * ((N - 1) / (n - 1)) + 0, last = N - 1. */
        const double stop = (double)(num_train - 1);
        for (int64_t k = 0; k < n; k++) {
            double y;
            if (n == 1) {
                y = 0.0;
            } else if (k == n - 1) {
                y = stop;
            } else {
                double step = stop / (double)(n - 1);
                y = (double)k * step + 0.0;
            }
            ts[n - 1 - k] = (int64_t)nearbyint(y);
        }
        break;
    }
    default:
        free(ts);
        return trdi_fail(TRDI_ERR_INVALID_ARG, "timestep spacing: invalid value %d", (int)spacing);
    }
    *out = ts;
    *out_len = len;
    return TRDI_OK;
}

trdi_status trdi_timesteps_diffusers(const trdi_noise_config *cfg, int64_t n, int64_t **out,
                                     int64_t *out_n) {
    if (!out || !out_n) return trdi_fail(TRDI_ERR_INVALID_ARG, "timesteps: out is NULL");
    *out = NULL;
    *out_n = 0;
    trdi_status st = trdi_sched_config_check(cfg);
    if (st != TRDI_OK) return st;
    const int64_t N = cfg->num_train_timesteps;
    if (n < 1 || n > N)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "steps must be in [1, num_train_timesteps = %lld], got %lld", (long long)N,
                         (long long)n);
    int64_t *ts = NULL, len = 0;
    st = trdi_sched_raw_timesteps(cfg->timestep_spacing, n, N, cfg->steps_offset, &ts, &len);
    if (st != TRDI_OK) return st;
    const char *sp = trdi_timestep_spacing_name(cfg->timestep_spacing);
    if (len != n) {
        int64_t last = ts[len - 1];
        free(ts);
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "%s spacing with %lld steps: numpy's arange gives %lld timesteps ending "
                         "in %lld (a diffusers bug for this step count); choose another count",
                         sp, (long long)n, (long long)len, (long long)last);
    }
    for (int64_t k = 0; k < len; k++) {
        if (ts[k] < 0 || ts[k] >= N) {
            int64_t bad = ts[k];
            free(ts);
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "%s spacing with %lld steps and steps_offset %lld gives timestep "
                             "%lld, outside [0, %lld]",
                             sp, (long long)n, (long long)cfg->steps_offset, (long long)bad,
                             (long long)(N - 1));
        }
    }
    *out = ts;
    *out_n = len;
    return TRDI_OK;
}

void trdi_timesteps_free(int64_t *timesteps) {
    free(timesteps);
}
