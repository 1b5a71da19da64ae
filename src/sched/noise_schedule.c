/* noise_schedule.c -- the trdi_noise_schedule object (a config plus its float32 alphas_cumprod
 * table, spec 1.1-1.3), the config enums' names, and the authors' fixed SD table. The numerics
 * live in beta.c; this file validates, allocates and caches. */
#include "sched/sched.h"

#include "core/core.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- enum names ---------------------------------------------------------------------------- */

static const char *const beta_names[] = {"linear", "scaled_linear", "squaredcos_cap_v2"};
static const char *const spacing_names[] = {"leading", "linspace", "trailing"};
static const char *const pred_names[] = {"epsilon", "v_prediction", "sample"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int find_name(const char *const *names, int count, const char *name) {
    if (!name) return -1;
    for (int i = 0; i < count; i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

const char *trdi_beta_schedule_name(trdi_beta_schedule b) {
    return (int)b >= 0 && (int)b < COUNT(beta_names) ? beta_names[b] : "unknown";
}

trdi_status trdi_beta_schedule_from_name(const char *name, trdi_beta_schedule *out) {
    int i = find_name(beta_names, COUNT(beta_names), name);
    if (i < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "unknown beta schedule '%s' (expected linear, scaled_linear or "
                         "squaredcos_cap_v2)",
                         name ? name : "(null)");
    *out = (trdi_beta_schedule)i;
    return TRDI_OK;
}

const char *trdi_timestep_spacing_name(trdi_timestep_spacing s) {
    return (int)s >= 0 && (int)s < COUNT(spacing_names) ? spacing_names[s] : "unknown";
}

trdi_status trdi_timestep_spacing_from_name(const char *name, trdi_timestep_spacing *out) {
    int i = find_name(spacing_names, COUNT(spacing_names), name);
    if (i < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "unknown timestep spacing '%s' (expected leading, linspace or trailing)",
                         name ? name : "(null)");
    *out = (trdi_timestep_spacing)i;
    return TRDI_OK;
}

const char *trdi_prediction_type_name(trdi_prediction_type p) {
    return (int)p >= 0 && (int)p < COUNT(pred_names) ? pred_names[p] : "unknown";
}

trdi_status trdi_prediction_type_from_name(const char *name, trdi_prediction_type *out) {
    int i = find_name(pred_names, COUNT(pred_names), name);
    if (i < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "unknown prediction type '%s' (expected epsilon, v_prediction or sample)",
                         name ? name : "(null)");
    *out = (trdi_prediction_type)i;
    return TRDI_OK;
}

/* ---- configs ------------------------------------------------------------------------------- */

trdi_noise_config trdi_noise_config_default(void) {
    trdi_noise_config c;
    memset(&c, 0, sizeof c);
    c.beta_schedule = TRDI_BETA_SCALED_LINEAR;
    c.beta_start = 0.00085;
    c.beta_end = 0.012;
    c.num_train_timesteps = 1000;
    c.steps_offset = 1;
    c.set_alpha_to_one = false;
    c.prediction_type = TRDI_PRED_EPSILON;
    c.timestep_spacing = TRDI_SPACING_LEADING;
    return c;
}

/* Largest table we build: far above any real model (1000), small enough for int32 indices. */
enum { MAX_TRAIN_TIMESTEPS = 1000000 };

trdi_status trdi_sched_config_check(const trdi_noise_config *cfg) {
    if (!cfg) return trdi_fail(TRDI_ERR_INVALID_ARG, "noise config is NULL");
    if ((int)cfg->beta_schedule < 0 || (int)cfg->beta_schedule >= COUNT(beta_names))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "beta_schedule: invalid value %d",
                         (int)cfg->beta_schedule);
    if ((int)cfg->timestep_spacing < 0 || (int)cfg->timestep_spacing >= COUNT(spacing_names))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "timestep_spacing: invalid value %d",
                         (int)cfg->timestep_spacing);
    if ((int)cfg->prediction_type < 0 || (int)cfg->prediction_type >= COUNT(pred_names))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "prediction_type: invalid value %d",
                         (int)cfg->prediction_type);
    if (cfg->num_train_timesteps < 2 || cfg->num_train_timesteps > MAX_TRAIN_TIMESTEPS)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "num_train_timesteps must be in [2, %d], got %lld",
                         (int)MAX_TRAIN_TIMESTEPS, (long long)cfg->num_train_timesteps);
    if (cfg->steps_offset < 0 || cfg->steps_offset >= cfg->num_train_timesteps)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "steps_offset must be in [0, num_train_timesteps - 1 = %lld], got %lld",
                         (long long)(cfg->num_train_timesteps - 1), (long long)cfg->steps_offset);
    if (cfg->beta_schedule != TRDI_BETA_SQUAREDCOS_CAP_V2) {
        /* betas must stay in [0, 1) so that every alpha is positive. */
        if (!(cfg->beta_start >= 0 && cfg->beta_start < 1))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "beta_start must be in [0, 1), got %g",
                             cfg->beta_start);
        if (!(cfg->beta_end >= 0 && cfg->beta_end < 1))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "beta_end must be in [0, 1), got %g",
                             cfg->beta_end);
    }
    return TRDI_OK;
}

/* ---- the schedule object ------------------------------------------------------------------- */

static trdi_status schedule_build(const trdi_noise_config *cfg, trdi_noise_schedule **out) {
    const int64_t n = cfg->num_train_timesteps;
    trdi_noise_schedule *s = trdi_calloc(1, sizeof *s);
    float *betas = trdi_mallocn((size_t)n, sizeof(float));
    if (s) {
        s->ac = trdi_mallocn((size_t)n, sizeof(float));
        s->sqrt_ac = trdi_mallocn((size_t)n, sizeof(float));
        s->sigma = trdi_mallocn((size_t)n, sizeof(float));
    }
    if (!s || !betas || !s->ac || !s->sqrt_ac || !s->sigma) {
        free(betas);
        trdi_noise_schedule_free(s);
        return trdi_fail(TRDI_ERR_NOMEM, "noise schedule: out of memory (%lld entries)",
                         (long long)n);
    }
    s->cfg = *cfg;
    s->n = n;
    trdi_sched_betas(cfg, betas);
    trdi_sched_cumprod(betas, n, s->ac);
    free(betas);
    for (int64_t k = 0; k < n; k++) {
        float a = s->ac[k];
        /* Downstream code divides by alphas and by 1 - alphas' complements: refuse tables that
         * underflow to 0 or are not finite. */
        if (!(a > 0.0f && a <= 1.0f)) {
            trdi_noise_schedule_free(s);
            return trdi_fail(TRDI_ERR_NUMERIC,
                             "noise schedule: alphas_cumprod[%lld] = %g is not in (0, 1] "
                             "(beta_schedule %s, beta_start %g, beta_end %g, %lld steps)",
                             (long long)k, (double)a, trdi_beta_schedule_name(cfg->beta_schedule),
                             cfg->beta_start, cfg->beta_end, (long long)n);
        }
        /* The factors of TRDI's compute_d (spec 2.6): a**0.5 and ((1/a) - 1)**0.5 in float32. */
        float inv = 1.0f / a;
        float om = inv - 1.0f;
        s->sqrt_ac[k] = sqrtf(a);
        s->sigma[k] = sqrtf(om);
    }
    s->final_alpha = cfg->set_alpha_to_one ? 1.0f : s->ac[0];
    *out = s;
    return TRDI_OK;
}

trdi_status trdi_noise_schedule_create(const trdi_noise_config *cfg, trdi_noise_schedule **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "noise schedule: out is NULL");
    *out = NULL;
    trdi_status st = trdi_sched_config_check(cfg);
    if (st != TRDI_OK) return st;
    return schedule_build(cfg, out);
}

void trdi_noise_schedule_free(trdi_noise_schedule *s) {
    if (!s) return;
    free(s->ac);
    free(s->sqrt_ac);
    free(s->sigma);
    free(s);
}

const trdi_noise_config *trdi_noise_schedule_config(const trdi_noise_schedule *s) {
    return s ? &s->cfg : NULL;
}

const float *trdi_noise_schedule_alphas_cumprod(const trdi_noise_schedule *s) {
    return s ? s->ac : NULL;
}

float trdi_noise_schedule_final_alpha(const trdi_noise_schedule *s) {
    return s ? s->final_alpha : NAN;
}

/* ---- the authors' table -------------------------------------------------------------------- */

static pthread_once_t sd_once = PTHREAD_ONCE_INIT;
static trdi_noise_schedule *sd_table;

static void sd_table_init(void) {
    /* TRDI.__init__: scaled_linear 0.00085..0.012, N = 1000, steps_offset 1 (spec 2.1). */
    trdi_noise_config cfg = trdi_noise_config_default();
    if (schedule_build(&cfg, &sd_table) != TRDI_OK) sd_table = NULL;
}

const trdi_noise_schedule *trdi_sched_sd_table(void) {
    pthread_once(&sd_once, sd_table_init);
    return sd_table;
}
