/* plan.c -- step plans: for a scheduled timestep list, the pair of cumulative alphas every DDIM
 * inversion and sampling step moves between, under the authors' fixed-stride semantics or the
 * consecutive-timestep semantics (spec 3.2-3.5). It computes no timesteps and runs no model. */
#include "sched/sched.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static const char *const stepping_names[] = {"reference", "consistent"};

const char *trdi_stepping_name(trdi_stepping s) {
    return (int)s >= 0 && (int)s < 2 ? stepping_names[s] : "unknown";
}

trdi_status trdi_stepping_from_name(const char *name, trdi_stepping *out) {
    for (int i = 0; name && i < 2; i++)
        if (!strcmp(name, stepping_names[i])) {
            *out = (trdi_stepping)i;
            return TRDI_OK;
        }
    return trdi_fail(TRDI_ERR_INVALID_ARG, "unknown stepping '%s' (expected reference or consistent)",
                     name ? name : "(null)");
}

/* A level of the table, or the clean end for index -1. */
static trdi_step make_step(const trdi_noise_schedule *s, int64_t t, int64_t from_t, int64_t to_t) {
    trdi_step st;
    st.t = t;
    st.from_t = from_t;
    st.to_t = to_t;
    st.a_from = from_t < 0 ? s->final_alpha : s->ac[from_t];
    st.a_to = to_t < 0 ? s->final_alpha : s->ac[to_t];
    return st;
}

trdi_status trdi_plan_build(const trdi_noise_schedule *s, const int64_t *timesteps, int64_t n,
                            trdi_stepping stepping, trdi_plan *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "plan: out is NULL");
    memset(out, 0, sizeof *out);
    if (!s) return trdi_fail(TRDI_ERR_INVALID_ARG, "plan: noise schedule is NULL");
    if (stepping != TRDI_STEPPING_REFERENCE && stepping != TRDI_STEPPING_CONSISTENT)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "plan: invalid stepping %d", (int)stepping);
    if (n <= 0) return trdi_fail(TRDI_ERR_INVALID_ARG, "plan: need at least one timestep, got %lld",
                                 (long long)n);
    if (!timesteps) return trdi_fail(TRDI_ERR_INVALID_ARG, "plan: timesteps is NULL");
    const int64_t N = s->n;
    for (int64_t i = 0; i < n; i++) {
        if (timesteps[i] < 0 || timesteps[i] >= N)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "plan: timesteps[%lld] = %lld is outside [0, %lld]", (long long)i,
                             (long long)timesteps[i], (long long)(N - 1));
        if (i > 0 && timesteps[i] >= timesteps[i - 1])
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "plan: timesteps must be strictly descending, but timesteps[%lld] = "
                             "%lld follows %lld",
                             (long long)i, (long long)timesteps[i], (long long)timesteps[i - 1]);
    }
    trdi_plan p;
    memset(&p, 0, sizeof p);
    p.timesteps = trdi_mallocn((size_t)n, sizeof *p.timesteps);
    p.alphas = trdi_mallocn((size_t)n, sizeof *p.alphas);
    p.inv = trdi_mallocn((size_t)n, sizeof *p.inv);
    p.smp = trdi_mallocn((size_t)n, sizeof *p.smp);
    if (!p.timesteps || !p.alphas || !p.inv || !p.smp) {
        trdi_plan_clear(&p);
        return trdi_fail(TRDI_ERR_NOMEM, "plan: out of memory (%lld steps)", (long long)n);
    }
    p.n = n;
    p.final_alpha = s->final_alpha;
    p.stepping = stepping;
    p.num_train_timesteps = N;
    for (int64_t i = 0; i < n; i++) {
        p.timesteps[i] = timesteps[i];
        p.alphas[i] = s->ac[timesteps[i]];
    }
    if (stepping == TRDI_STEPPING_REFERENCE) {
        /* The stride comes from the list's length, not its values (spec 3.1). */
        const int64_t D = N / n;
        for (int64_t i = 0; i < n; i++) {
            /* ddim_inverse_step: source min(t - D, N - 1), the clean end when negative. */
            int64_t t = timesteps[n - 1 - i];
            int64_t src = t - D < N - 1 ? t - D : N - 1;
            p.inv[i] = make_step(s, t, src < 0 ? -1 : src, t);
            /* DDIMScheduler.step: previous level t - D, the clean end when negative. */
            int64_t u = timesteps[i];
            int64_t prev = u - D;
            p.smp[i] = make_step(s, u, u, prev < 0 ? -1 : prev);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            /* Ascending t_1 < ... < t_n with t_0 = the clean end. */
            int64_t t = timesteps[n - 1 - i];
            int64_t below = i == 0 ? -1 : timesteps[n - i];
            p.inv[i] = make_step(s, t, below, t);
            int64_t u = timesteps[i];
            int64_t next = i == n - 1 ? -1 : timesteps[i + 1];
            p.smp[i] = make_step(s, u, u, next);
        }
    }
    *out = p;
    return TRDI_OK;
}

void trdi_plan_clear(trdi_plan *p) {
    if (!p) return;
    free(p->timesteps);
    free(p->alphas);
    free(p->inv);
    free(p->smp);
    memset(p, 0, sizeof *p);
}
