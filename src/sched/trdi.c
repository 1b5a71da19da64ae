/* trdi.c -- TRDI exactly as the authors' TRDI.py computes it (spec 2.3-2.9): the power-law
 * rescaling in double with truncation, the cost compute_d in float32, and the window-w dynamic
 * programme with strict-< ties, ascending candidates and the sentinel 1. Every failure of the
 * reference (its assertions, the NONE-predecessor TypeError) becomes a status. Also the public
 * trdi_trdi_build pipeline. The adaptive density variant is in adaptive.c. */
#include "sched/sched.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- rescaling_timesteps ------------------------------------------------------------------- */

trdi_status trdi_sched_rescale(const int64_t *ts, int64_t L, double spacing, int64_t num_train,
                               int64_t *out) {
    if (L < 2)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "TRDI needs at least 2 timesteps, got %lld (the reference's rescaling "
                         "reads ts[1] and divides by L - 1)",
                         (long long)L);
    const bool ascending = ts[0] < ts[1];
    int64_t lb = ts[0], ub = ts[0];
    for (int64_t i = 1; i < L; i++) {
        if (ts[i] < lb) lb = ts[i];
        if (ts[i] > ub) ub = ts[i];
    }
    const int64_t span = ub - lb;
    /* i * (1.0 / (L - 1)), not i / (L - 1): the product can fall an ulp short of the quotient
     * and the truncation below then drops a whole step (spec 2.4, example B). */
    const double dx = 1.0 / (double)(L - 1);
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (int64_t i = 0; i < L; i++) {
        double x = (double)i * dx;
        double v = (double)lb + pow(x, spacing) * (double)span;
        int64_t u = (int64_t)v; /* Python int(): truncation toward zero */
        if (u < mn) mn = u;
        if (u > mx) mx = u;
        out[ascending ? i : L - 1 - i] = u;
    }
    if (mx > num_train)
        return trdi_fail(TRDI_ERR_INFEASIBLE,
                         "TRDI rescaling gives timestep %lld > num_train_timesteps %lld",
                         (long long)mx, (long long)num_train);
    if (mn <= 0)
        return trdi_fail(TRDI_ERR_INFEASIBLE,
                         "TRDI rescaling gives timestep %lld, but TRDI needs every timestep > 0 "
                         "(the initial list contains %lld)",
                         (long long)mn, (long long)lb);
    return TRDI_OK;
}

/* ---- compute_d ----------------------------------------------------------------------------- */

/* TRDI.get_alpha: clamped lookup. */
static float alpha_at(const float *ac, int64_t N, int64_t k) {
    if (k < 0) return ac[0];
    if (k > N - 1) return ac[N - 1];
    return ac[k];
}

float trdi_sched_cost_ref(const float *ac, int64_t N, int64_t t, int64_t dt) {
    if (dt == 1) {
        /* d(t,1) would be 0; the reference extrapolates linearly from dt = 2, 3. */
        float d2 = trdi_sched_cost_ref(ac, N, t, 2);
        float d3 = trdi_sched_cost_ref(ac, N, t, 3);
        float twice = 2.0f * d2;
        float diff = twice - d3;
        return fabsf(diff);
    }
    float a1 = sqrtf(alpha_at(ac, N, t));
    float r2 = 1.0f / alpha_at(ac, N, t - 1); /* t - 1, as written in TRDI.py */
    float m2 = r2 - 1.0f;
    float a2 = sqrtf(m2);
    float r3 = 1.0f / alpha_at(ac, N, t - dt);
    float m3 = r3 - 1.0f;
    float a3 = sqrtf(m3);
    float diff = a2 - a3;
    float prod = a1 * diff;
    return fabsf(prod);
}

/* The same value from the schedule's cached factors (identical roundings: each factor is the
 * same float32 sqrtf of the same float32 operand). */
static inline float sigma_at(const trdi_noise_schedule *s, int64_t k) {
    return s->sigma[k < 0 ? 0 : (k > s->n - 1 ? s->n - 1 : k)];
}

static float cost_tab(const trdi_noise_schedule *s, int64_t t, int64_t dt) {
    if (dt == 1) {
        float d2 = cost_tab(s, t, 2), d3 = cost_tab(s, t, 3);
        float twice = 2.0f * d2;
        float diff = twice - d3;
        return fabsf(diff);
    }
    float a1 = s->sqrt_ac[t < 0 ? 0 : (t > s->n - 1 ? s->n - 1 : t)];
    float diff = sigma_at(s, t - 1) - sigma_at(s, t - dt);
    float prod = a1 * diff;
    return fabsf(prod);
}

/* ---- reschedule: shared set-up ------------------------------------------------------------- */

/* float32 1e10, the reference's "no path yet" (exact in binary32). */
#define DP_INF 1e10f

typedef struct {
    int64_t L;
    int64_t *sorted; /* (L) ascending */
    int64_t *lo;     /* (L) first candidate of each layer */
    int64_t *cnt;    /* (L) candidates per layer (may be 0) */
    int64_t *off;    /* (L + 1) offset of each layer in the flat entry arrays */
} dp_layers;

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void layers_free(dp_layers *ly) {
    free(ly->sorted);
    free(ly->lo);
    free(ly->cnt);
    free(ly->off);
    memset(ly, 0, sizeof *ly);
}

static trdi_status layers_build(const trdi_noise_schedule *s, const int64_t *ts, int64_t L,
                                int64_t window, dp_layers *ly) {
    memset(ly, 0, sizeof *ly);
    if (L < 1) return trdi_fail(TRDI_ERR_INVALID_ARG, "TRDI reschedule: empty timestep list");
    if (window < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "TRDI window must be >= 0, got %lld",
                         (long long)window);
    const int64_t N = s->n;
    /* A window wider than the table changes nothing and keeps the sums below in range. */
    const int64_t w = window > N ? N : window;
    ly->L = L;
    ly->sorted = trdi_mallocn((size_t)L, sizeof(int64_t));
    ly->lo = trdi_mallocn((size_t)L, sizeof(int64_t));
    ly->cnt = trdi_mallocn((size_t)L, sizeof(int64_t));
    ly->off = trdi_mallocn((size_t)L + 1, sizeof(int64_t));
    if (!ly->sorted || !ly->lo || !ly->cnt || !ly->off) {
        layers_free(ly);
        return trdi_fail(TRDI_ERR_NOMEM, "TRDI reschedule: out of memory (%lld layers)",
                         (long long)L);
    }
    memcpy(ly->sorted, ts, (size_t)L * sizeof(int64_t));
    qsort(ly->sorted, (size_t)L, sizeof(int64_t), cmp_i64);
    ly->off[0] = 0;
    for (int64_t i = 0; i < L; i++) {
        int64_t si = ly->sorted[i];
        if (si < -N || si > 2 * N) {
            layers_free(ly);
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "TRDI reschedule: timestep %lld is far outside [0, %lld]",
                             (long long)si, (long long)(N - 1));
        }
        /* range(max(1, s - w), min(N, s + w + 1)) */
        int64_t left = si - w > 1 ? si - w : 1;
        int64_t right = si + w + 1 < N ? si + w + 1 : N;
        ly->lo[i] = left;
        ly->cnt[i] = right > left ? right - left : 0;
        ly->off[i + 1] = ly->off[i] + ly->cnt[i];
    }
    return TRDI_OK;
}

static trdi_status fail_none_pred(const dp_layers *ly, int64_t layer, int64_t window) {
    return trdi_fail(TRDI_ERR_INFEASIBLE,
                     "TRDI window %lld has no feasible path: around rescaled timestep %lld "
                     "(layer %lld of %lld) some candidate has no predecessor at least 2 below "
                     "(the reference crashes here); use a smaller window",
                     (long long)window, (long long)ly->sorted[layer], (long long)layer,
                     (long long)ly->L);
}

static trdi_status fail_no_final(const dp_layers *ly, int64_t window) {
    return trdi_fail(TRDI_ERR_INFEASIBLE,
                     "TRDI window %lld has no feasible path: no candidate of the top layer "
                     "(around %lld) can be reached with gaps of at least 2 (the reference "
                     "crashes here)",
                     (long long)window, (long long)ly->sorted[ly->L - 1]);
}

/* ---- reschedule: fast version (back pointers, cached cost factors) ------------------------- */

trdi_status trdi_sched_dp(const trdi_noise_schedule *s, const int64_t *ts, int64_t L,
                          int64_t window, int64_t num_step, int64_t *out, int64_t *out_n,
                          float *cost) {
    *out_n = 0;
    *cost = NAN;
    dp_layers ly;
    trdi_status st = layers_build(s, ts, L, window, &ly);
    if (st != TRDI_OK) return st;
    const int64_t total = ly.off[L];
    int64_t maxcnt = 1;
    for (int64_t i = 0; i < L; i++) maxcnt = ly.cnt[i] > maxcnt ? ly.cnt[i] : maxcnt;
    float *best = trdi_mallocn((size_t)(total ? total : 1), sizeof(float));
    int32_t *back = trdi_mallocn((size_t)(total ? total : 1), sizeof(int32_t));
    float *sums = trdi_mallocn((size_t)maxcnt, sizeof(float)); /* one candidate's sums */
    if (!best || !back || !sums) {
        free(best);
        free(back);
        free(sums);
        layers_free(&ly);
        return trdi_fail(TRDI_ERR_NOMEM, "TRDI reschedule: out of memory (%lld entries)",
                         (long long)total);
    }
    /* Layer 0: cost d(t, t - 1) and path [t, 1]; back = 0 marks "has a path". */
    for (int64_t j = 0; j < ly.cnt[0]; j++) {
        int64_t t = ly.lo[0] + j;
        best[j] = cost_tab(s, t, t - 1);
        back[j] = 0;
    }
    bool prev_has_none = false;
    for (int64_t i = 1; i < L && st == TRDI_OK; i++) {
        const int64_t plo = ly.lo[i - 1], pcnt = ly.cnt[i - 1];
        const float *pbest = best + ly.off[i - 1];
        float *cbest = best + ly.off[i];
        int32_t *cback = back + ly.off[i];
        /* The reference reads every predecessor's path before testing the gap: one NONE path in
         * the previous layer crashes it as soon as this layer has a candidate. */
        if (ly.cnt[i] > 0 && prev_has_none) {
            st = fail_none_pred(&ly, i - 1, window);
            break;
        }
        bool has_none = false;
        for (int64_t j = 0; j < ly.cnt[i]; j++) {
            const int64_t t = ly.lo[i] + j;
            const float a1 = s->sqrt_ac[t];
            const float sg1 = s->sigma[t - 1];
            float b = DP_INF;
            int32_t bp = -1;
            /* Predecessors u <= t - 2 in ascending order; here dt = t - u >= 2 and u >= 1, so the
             * cost is a1 * |sigma(t-1) - sigma(u)| without clamping. */
            int64_t umax = t - 2 - plo;
            if (umax > pcnt - 1) umax = pcnt - 1;
            /* Sums first (a loop the compiler vectorises, same roundings), then the first strict
             * minimum in ascending order. */
            const float *sgp = s->sigma + plo;
            for (int64_t k = 0; k <= umax; k++) {
                float diff = sg1 - sgp[k];
                float d = fabsf(a1 * diff);
                sums[k] = pbest[k] + d;
            }
            for (int64_t k = 0; k <= umax; k++) {
                if (sums[k] < b) {
                    b = sums[k];
                    bp = (int32_t)k;
                }
            }
            cbest[j] = b;
            cback[j] = bp;
            if (bp < 0) has_none = true;
        }
        prev_has_none = has_none;
    }
    if (st == TRDI_OK) {
        const int64_t last = L - 1;
        float fb = DP_INF;
        int64_t fj = -1;
        for (int64_t j = 0; j < ly.cnt[last]; j++) {
            float c = best[ly.off[last] + j];
            if (c < fb) {
                fb = c;
                fj = j;
            }
        }
        if (fj < 0) {
            st = fail_no_final(&ly, window);
        } else {
            /* Walk back: path = [t_{L-1}, ..., t_0, 1], keep its first num_step entries. */
            int64_t keep = num_step < L + 1 ? num_step : L + 1;
            int64_t j = fj;
            for (int64_t i = last; i >= 0; i--) {
                int64_t pos = last - i;
                if (pos < keep) out[pos] = ly.lo[i] + j;
                if (i > 0) j = back[ly.off[i] + j];
            }
            if (L < keep) out[L] = 1;
            *out_n = keep;
            *cost = fb;
        }
    }
    free(best);
    free(back);
    free(sums);
    layers_free(&ly);
    return st;
}

/* ---- reschedule: plain reference (the Python's data flow, whole paths copied) --------------- */

trdi_status trdi_sched_dp_ref(const trdi_noise_schedule *s, const int64_t *ts, int64_t L,
                              int64_t window, int64_t num_step, int64_t *out, int64_t *out_n,
                              float *cost) {
    *out_n = 0;
    *cost = NAN;
    dp_layers ly;
    trdi_status st = layers_build(s, ts, L, window, &ly);
    if (st != TRDI_OK) return st;
    const int64_t total = ly.off[L];
    float *loss = trdi_mallocn((size_t)(total ? total : 1), sizeof(float));
    int64_t **path = trdi_calloc((size_t)(total ? total : 1), sizeof(int64_t *)); /* NULL = None */
    if (!loss || !path) {
        free(loss);
        free(path);
        layers_free(&ly);
        return trdi_fail(TRDI_ERR_NOMEM, "TRDI reschedule: out of memory");
    }
    for (int64_t i = 0; i < L && st == TRDI_OK; i++) {
        for (int64_t j = 0; j < ly.cnt[i] && st == TRDI_OK; j++) {
            const int64_t t = ly.lo[i] + j, e = ly.off[i] + j;
            if (i == 0) {
                loss[e] = trdi_sched_cost_ref(s->ac, s->n, t, t - 1);
                path[e] = trdi_mallocn(2, sizeof(int64_t));
                if (!path[e]) {
                    st = trdi_fail(TRDI_ERR_NOMEM, "TRDI reschedule: out of memory");
                    break;
                }
                path[e][0] = t;
                path[e][1] = 1;
                continue;
            }
            float min_loss = DP_INF;
            int64_t *min_step = NULL;
            for (int64_t k = 0; k < ly.cnt[i - 1]; k++) {
                const int64_t pe = ly.off[i - 1] + k;
                if (!path[pe]) { /* steps[0] on None: TypeError */
                    st = fail_none_pred(&ly, i - 1, window);
                    break;
                }
                int64_t last_step = path[pe][0];
                if (t - last_step < 2) continue;
                float d = trdi_sched_cost_ref(s->ac, s->n, t, t - last_step);
                float c = loss[pe] + d;
                if (c < min_loss) {
                    min_loss = c;
                    /* [t] + steps: path of layer i - 1 has i + 1 entries. */
                    int64_t *np_ = trdi_mallocn((size_t)(i + 2), sizeof(int64_t));
                    if (!np_) {
                        st = trdi_fail(TRDI_ERR_NOMEM, "TRDI reschedule: out of memory");
                        break;
                    }
                    np_[0] = t;
                    memcpy(np_ + 1, path[pe], (size_t)(i + 1) * sizeof(int64_t));
                    free(min_step);
                    min_step = np_;
                }
            }
            loss[e] = min_loss;
            path[e] = min_step;
        }
    }
    if (st == TRDI_OK) {
        const int64_t last = L - 1;
        float min_loss = DP_INF;
        const int64_t *best_steps = NULL;
        for (int64_t j = 0; j < ly.cnt[last]; j++) {
            const int64_t e = ly.off[last] + j;
            if (loss[e] < min_loss) {
                best_steps = path[e];
                min_loss = loss[e];
            }
        }
        if (!best_steps) {
            st = fail_no_final(&ly, window);
        } else {
            int64_t keep = num_step < L + 1 ? num_step : L + 1;
            memcpy(out, best_steps, (size_t)keep * sizeof(int64_t));
            *out_n = keep;
            *cost = min_loss;
        }
    }
    for (int64_t e = 0; e < total; e++) free(path[e]);
    free(path);
    free(loss);
    layers_free(&ly);
    return st;
}

/* ---- the public pipeline ------------------------------------------------------------------- */

static const char *const adaptive_names[] = {"none",          "balanced",      "noise",
                                             "noise_floor25", "noise_floor50", "noise_floor75",
                                             "logsnr",        "curvature",     "late"};
enum { ADAPTIVE_COUNT = (int)(sizeof adaptive_names / sizeof adaptive_names[0]) };

const char *trdi_adaptive_mode_name(trdi_adaptive_mode m) {
    return (int)m >= 0 && (int)m < ADAPTIVE_COUNT ? adaptive_names[m] : "unknown";
}

trdi_status trdi_adaptive_mode_from_name(const char *name, trdi_adaptive_mode *out) {
    for (int i = 0; name && i < ADAPTIVE_COUNT; i++)
        if (!strcmp(name, adaptive_names[i])) {
            *out = (trdi_adaptive_mode)i;
            return TRDI_OK;
        }
    return trdi_fail(TRDI_ERR_INVALID_ARG,
                     "unknown adaptive mode '%s' (expected none, balanced, noise, noise_floor25, "
                     "noise_floor50, noise_floor75, logsnr, curvature or late)",
                     name ? name : "(null)");
}

trdi_trdi_params trdi_trdi_default_params(void) {
    trdi_trdi_params p;
    memset(&p, 0, sizeof p);
    p.steps = 50;
    p.spacing = 1.05;
    p.window = 8;
    p.init = TRDI_SPACING_LEADING;
    p.adaptive = TRDI_ADAPTIVE_NONE;
    p.adaptive_match = false;
    return p;
}

void trdi_trdi_result_clear(trdi_trdi_result *r) {
    if (!r) return;
    free(r->timesteps);
    free(r->init);
    free(r->rescaled);
    memset(r, 0, sizeof *r);
}

static trdi_status check_params(const trdi_trdi_params *p, int64_t N) {
    if (!p) return trdi_fail(TRDI_ERR_INVALID_ARG, "TRDI params are NULL");
    if (p->steps < 1 || p->steps > N)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "steps must be in [1, num_train_timesteps = %lld], got %lld", (long long)N,
                         (long long)p->steps);
    if (!(isfinite(p->spacing) && p->spacing > 0))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "spacing must be a finite number > 0, got %g",
                         p->spacing);
    if (p->window < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "window must be >= 0, got %lld",
                         (long long)p->window);
    if ((int)p->init < 0 || (int)p->init > 2)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "init spacing: invalid value %d", (int)p->init);
    if ((int)p->adaptive < 0 || (int)p->adaptive >= ADAPTIVE_COUNT)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "adaptive mode: invalid value %d",
                         (int)p->adaptive);
    return TRDI_OK;
}

/* init -> rescale -> DP. On success r->init, r->rescaled, r->timesteps are set. */
static trdi_status build_plain(const trdi_noise_schedule *s, const trdi_trdi_params *p,
                               trdi_trdi_result *r) {
    const int64_t N = s->n;
    int64_t L = 0;
    trdi_status st =
        trdi_sched_raw_timesteps(p->init, p->steps, N, s->cfg.steps_offset, &r->init, &L);
    if (st != TRDI_OK) return st;
    r->n_init = L;
    r->rescaled = trdi_mallocn((size_t)L, sizeof(int64_t));
    r->timesteps = trdi_mallocn((size_t)L + 1, sizeof(int64_t));
    if (!r->rescaled || !r->timesteps)
        return trdi_fail(TRDI_ERR_NOMEM, "TRDI: out of memory (%lld steps)", (long long)L);
    st = trdi_sched_rescale(r->init, L, p->spacing, N, r->rescaled);
    if (st != TRDI_OK) {
        int64_t lo = r->init[0];
        for (int64_t i = 1; i < L; i++) lo = r->init[i] < lo ? r->init[i] : lo;
        if (p->init == TRDI_SPACING_LINSPACE)
            trdi_error_prefix("linspace init puts timestep 0 in the list");
        else if (lo < 1)
            trdi_error_prefix("%s init with %lld steps gives %lld timesteps ending in %lld "
                              "(numpy's arange overshoots)",
                              trdi_timestep_spacing_name(p->init), (long long)p->steps,
                              (long long)L, (long long)lo);
        return st;
    }
    st = trdi_sched_dp(s, r->rescaled, L, p->window, p->steps, r->timesteps, &r->n, &r->cost);
    if (st != TRDI_OK) return st;
    /* The path is strictly descending with gaps >= 2 by construction; the sentinel could only
     * join it if the list were shorter than the step count, which the init lists never are. */
    for (int64_t i = 0; i < r->n; i++)
        if (r->timesteps[i] < 1 || r->timesteps[i] > N - 1 ||
            (i > 0 && r->timesteps[i] >= r->timesteps[i - 1]))
            return trdi_fail(TRDI_ERR_INTERNAL, "TRDI produced an invalid list at entry %lld",
                             (long long)i);
    return TRDI_OK;
}

static trdi_status build_adaptive(const trdi_noise_schedule *s, const trdi_trdi_params *p,
                                  trdi_trdi_result *r) {
    const int64_t N = s->n;
    int64_t L = 0;
    trdi_status st =
        trdi_sched_raw_timesteps(p->init, p->steps, N, s->cfg.steps_offset, &r->init, &L);
    if (st != TRDI_OK) return st;
    r->n_init = L;
    r->rescaled = trdi_mallocn((size_t)L, sizeof(int64_t));
    r->timesteps = trdi_mallocn((size_t)p->steps, sizeof(int64_t));
    if (!r->rescaled || !r->timesteps)
        return trdi_fail(TRDI_ERR_NOMEM, "TRDI: out of memory (%lld steps)", (long long)L);
    memcpy(r->rescaled, r->init, (size_t)L * sizeof(int64_t));
    int64_t lb = r->init[0], ub = r->init[0];
    if (p->adaptive_match) {
        trdi_trdi_params q = *p;
        q.adaptive = TRDI_ADAPTIVE_NONE;
        trdi_trdi_result m;
        memset(&m, 0, sizeof m);
        st = build_plain(s, &q, &m);
        if (st != TRDI_OK) {
            trdi_error_prefix("adaptive bounds from the TRDI schedule");
            trdi_trdi_result_clear(&m);
            return st;
        }
        lb = ub = m.timesteps[0];
        for (int64_t i = 1; i < m.n; i++) {
            if (m.timesteps[i] < lb) lb = m.timesteps[i];
            if (m.timesteps[i] > ub) ub = m.timesteps[i];
        }
        trdi_trdi_result_clear(&m);
        if (lb >= ub)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "invalid adaptive bounds (%lld, %lld) from the TRDI schedule",
                             (long long)lb, (long long)ub);
    } else {
        for (int64_t i = 1; i < L; i++) {
            if (r->init[i] < lb) lb = r->init[i];
            if (r->init[i] > ub) ub = r->init[i];
        }
    }
    if (lb < 0 || ub > N - 1)
        return trdi_fail(TRDI_ERR_INFEASIBLE,
                         "adaptive bounds (%lld, %lld) from the %s list leave [0, %lld]",
                         (long long)lb, (long long)ub, trdi_timestep_spacing_name(p->init),
                         (long long)(N - 1));
    st = trdi_sched_adaptive(s, p->adaptive, lb, ub, p->steps, r->timesteps);
    if (st != TRDI_OK) return st;
    r->n = p->steps;
    r->cost = NAN;
    return TRDI_OK;
}

trdi_status trdi_trdi_build(const trdi_noise_schedule *s, const trdi_trdi_params *p,
                            trdi_trdi_result *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "TRDI: out is NULL");
    memset(out, 0, sizeof *out);
    if (!s) s = trdi_sched_sd_table();
    if (!s) return trdi_fail(TRDI_ERR_NOMEM, "TRDI: could not build the SD noise table");
    trdi_status st = check_params(p, s->n);
    if (st != TRDI_OK) return st;
    trdi_trdi_result r;
    memset(&r, 0, sizeof r);
    r.num_train_timesteps = s->n;
    st = p->adaptive == TRDI_ADAPTIVE_NONE ? build_plain(s, p, &r) : build_adaptive(s, p, &r);
    if (st != TRDI_OK) {
        trdi_trdi_result_clear(&r);
        return st;
    }
    *out = r;
    return TRDI_OK;
}
