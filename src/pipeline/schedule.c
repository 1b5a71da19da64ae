/* schedule.c -- the pipeline's timestep list: the scheduler's own set_timesteps list ("uniform"),
 * the authors' TRDI pipeline ("trdi") or an explicit list ("list"), then the step plan. It only
 * chooses and validates; the lists themselves are computed by src/sched/. */
#include "pipeline/pipeline.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[] = {"uniform", "trdi", "list", "calibrated"};
#define N_KINDS 4

const char *trdi_schedule_kind_name(trdi_schedule_kind k) {
    return (int)k >= 0 && (int)k < N_KINDS ? KIND_NAMES[k] : "?";
}

trdi_status trdi_schedule_kind_from_name(const char *name, trdi_schedule_kind *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_schedule_kind_from_name: out is NULL");
    *out = TRDI_SCHEDULE_UNIFORM;
    for (int i = 0; name && i < N_KINDS; i++)
        if (!strcmp(name, KIND_NAMES[i])) {
            *out = (trdi_schedule_kind)i;
            return TRDI_OK;
        }
    return trdi_fail(TRDI_ERR_INVALID_ARG,
                     "unknown schedule '%s' (expected uniform, trdi, list or calibrated)",
                     name ? name : "(null)");
}

trdi_schedule_params trdi_schedule_default_params(void) {
    trdi_schedule_params p;
    memset(&p, 0, sizeof p);
    trdi_trdi_params t = trdi_trdi_default_params();
    p.kind = TRDI_SCHEDULE_UNIFORM;
    p.steps = 50;
    p.spacing = t.spacing;
    p.window = t.window;
    p.adaptive = TRDI_ADAPTIVE_NONE;
    p.stepping = TRDI_STEPPING_REFERENCE;
    return p;
}

/* Copies an explicit list, descending, after checking range and strict monotonicity. */
static trdi_status list_copy(const trdi_schedule_params *p, int64_t N, int64_t **out) {
    const int64_t n = p->n_timesteps;
    if (!p->timesteps || n < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "schedule: an explicit timestep list needs at least "
                                               "one entry");
    if (n > N)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "schedule: %lld timesteps, more than the %lld of "
                                               "the noise table",
                         (long long)n, (long long)N);
    for (int64_t i = 0; i < n; i++)
        if (p->timesteps[i] < 0 || p->timesteps[i] > N - 1)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "schedule: timestep %lld (entry %lld) is outside [0, %lld]",
                             (long long)p->timesteps[i], (long long)i, (long long)(N - 1));
    bool asc = n > 1 && p->timesteps[1] > p->timesteps[0];
    for (int64_t i = 1; i < n; i++) {
        bool ok = asc ? p->timesteps[i] > p->timesteps[i - 1] : p->timesteps[i] < p->timesteps[i - 1];
        if (!ok)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "schedule: the timestep list must be strictly descending (or "
                             "ascending), but entry %lld = %lld follows %lld",
                             (long long)i, (long long)p->timesteps[i],
                             (long long)p->timesteps[i - 1]);
    }
    int64_t *v = trdi_mallocn((size_t)n, sizeof *v);
    if (!v) return trdi_fail(TRDI_ERR_NOMEM, "schedule: out of memory");
    for (int64_t i = 0; i < n; i++) v[i] = asc ? p->timesteps[n - 1 - i] : p->timesteps[i];
    *out = v;
    return TRDI_OK;
}

trdi_status trdi_schedule_timesteps(const trdi_noise_schedule *s, const trdi_schedule_params *p,
                                    int64_t **out, int64_t *out_n) {
    if (out) *out = NULL;
    if (out_n) *out_n = 0;
    if (!s || !p || !out || !out_n)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_schedule_timesteps: NULL argument");
    const trdi_noise_config *cfg = trdi_noise_schedule_config(s);
    const int64_t N = cfg->num_train_timesteps;
    if (p->kind != TRDI_SCHEDULE_LIST && p->kind != TRDI_SCHEDULE_CALIBRATED && p->timesteps)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "schedule: an explicit timestep list cannot be combined with the '%s' "
                         "schedule",
                         trdi_schedule_kind_name(p->kind));
    if (p->kind != TRDI_SCHEDULE_LIST && (p->steps < 1 || p->steps > N))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "schedule: steps must be in [1, %lld], got %lld",
                         (long long)N, (long long)p->steps);
    trdi_status st;
    switch (p->kind) {
    case TRDI_SCHEDULE_UNIFORM:
        st = trdi_timesteps_diffusers(cfg, p->steps, out, out_n);
        if (st) trdi_error_prefix("schedule uniform");
        return st;
    case TRDI_SCHEDULE_TRDI: {
        trdi_trdi_params tp = trdi_trdi_default_params();
        tp.steps = p->steps;
        tp.spacing = p->spacing;
        tp.window = p->window;
        tp.adaptive = p->adaptive;
        /* The authors always start from the leading list; their table is SD's, which is the
         * model's own for the mixture and the SD family (we use the model's table so that other
         * noise configurations stay in range). */
        tp.init = TRDI_SPACING_LEADING;
        trdi_trdi_result r;
        st = trdi_trdi_build(s, &tp, &r);
        if (st) {
            trdi_error_prefix("schedule trdi (steps %lld, spacing %g, window %lld)",
                              (long long)p->steps, p->spacing, (long long)p->window);
            return st;
        }
        int64_t *v = trdi_mallocn((size_t)r.n, sizeof *v);
        if (!v) {
            trdi_trdi_result_clear(&r);
            return trdi_fail(TRDI_ERR_NOMEM, "schedule: out of memory");
        }
        memcpy(v, r.timesteps, (size_t)r.n * sizeof *v);
        *out = v;
        *out_n = r.n;
        trdi_trdi_result_clear(&r);
        return TRDI_OK;
    }
    case TRDI_SCHEDULE_CALIBRATED:
        /* The list needs the model (trdi_calibrate): callers resolve it first and pass it here. */
        if (!p->timesteps)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "schedule calibrated: compute the list with trdi_calibrate() (or "
                             "trdi_calibrate_cached()) and pass it in timesteps");
        st = list_copy(p, N, out);
        if (!st) *out_n = p->n_timesteps;
        return st;
    case TRDI_SCHEDULE_LIST:
        st = list_copy(p, N, out);
        if (!st) *out_n = p->n_timesteps;
        return st;
    }
    return trdi_fail(TRDI_ERR_INVALID_ARG, "schedule: unknown kind %d", (int)p->kind);
}

trdi_status trdi_schedule_plan(const trdi_noise_schedule *s, const trdi_schedule_params *p,
                               trdi_plan *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_schedule_plan: out is NULL");
    int64_t *ts = NULL, n = 0;
    trdi_status st = trdi_schedule_timesteps(s, p, &ts, &n);
    if (st) return st;
    st = trdi_plan_build(s, ts, n, p->stepping, out);
    trdi_timesteps_free(ts);
    return st;
}
