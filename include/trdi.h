/*
 * trdi.h -- the whole public API of trdi, a C library for diffusion inversion.
 *
 * trdi maps a real image back to the Gaussian noise latent of a diffusion model so that sampling
 * from that latent reconstructs the image (or edits it with another prompt). Its schedules include
 * TRDI, timestep rescheduling (Sun et al., ICML 2026): a global power-law rescaling followed by a
 * local dynamic-programming rescheduling of the timesteps.
 *
 * Usage (compiles as is; error handling shortened):
 *
 *     #include <trdi.h>
 *     #include <stdio.h>
 *
 *     int main(void) {
 *         trdi_trdi_params p = trdi_trdi_default_params();   // 50 steps, spacing 1.05, window 8
 *         trdi_trdi_result r;
 *         if (trdi_trdi_build(NULL, &p, &r) != TRDI_OK) {      // NULL: the authors' SD table
 *             fprintf(stderr, "trdi: %s\n", trdi_last_error());
 *             return 2;
 *         }
 *         for (int64_t i = 0; i < r.n; i++) printf("%lld ", (long long)r.timesteps[i]);
 *         trdi_trdi_result_clear(&r);
 *         return 0;
 *     }
 *
 * Conventions
 * - Every fallible function returns a trdi_status. On failure a message naming the argument, file,
 *   tensor or field at fault is available from trdi_last_error() (per thread) and every output
 *   handle is set to NULL. The library never prints, exits or aborts on bad input.
 * - Handles are opaque; `*_free(NULL)` is a no-op. Structs named `*_result` / `*_plan` are owned by
 *   the caller and released with their `*_clear` function.
 * - Sizes are int64_t. Latents are float32 in (B, C, H, W) order, row-major.
 * - Every enum has `_name()` / `_from_name()` so the CLI, JSON and logs share one spelling.
 */
#ifndef TRDI_H
#define TRDI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================== */
/* Core: version, status codes, errors, logging                                                   */
/* ============================================================================================== */

#define TRDI_VERSION_MAJOR 0
#define TRDI_VERSION_MINOR 1
#define TRDI_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library that is linked. */
const char *trdi_version(void);

/* Status codes. New values go at the end. */
typedef enum trdi_status {
    TRDI_OK = 0,
    TRDI_ERR_INVALID_ARG = 1, /* a bad argument or option value */
    TRDI_ERR_IO = 2,          /* a file could not be opened, read or written */
    TRDI_ERR_FORMAT = 3,      /* a file or string is malformed */
    TRDI_ERR_NOMEM = 4,       /* an allocation failed */
    TRDI_ERR_UNSUPPORTED = 5, /* valid, but not supported (e.g. a model without gradients) */
    TRDI_ERR_INFEASIBLE = 6,  /* no answer exists (e.g. a TRDI window with no feasible path) */
    TRDI_ERR_NUMERIC = 7,     /* NaN or infinity in inputs or results */
    TRDI_ABORTED = 8,         /* a progress callback asked to stop */
    TRDI_ERR_INTERNAL = 9     /* a bug in trdi: please report it */
} trdi_status;

/* A short, static description of a status ("invalid argument", ...). Never NULL. */
const char *trdi_status_str(trdi_status s);

/* The message of the last failure on this thread (static storage until the next failure on the
 * same thread). "" when there was none. */
const char *trdi_last_error(void);

typedef enum trdi_log_level {
    TRDI_LOG_DEBUG = 0,
    TRDI_LOG_INFO = 1,
    TRDI_LOG_WARN = 2,
    TRDI_LOG_ERROR = 3
} trdi_log_level;

/* Receives library log lines (no trailing newline). `user` is passed through. */
typedef void (*trdi_log_fn)(trdi_log_level level, const char *message, void *user);

/* Installs a process-wide log callback; NULL (the default) discards log lines. Not thread-safe
 * with respect to concurrent logging: call it before starting work. */
void trdi_set_log(trdi_log_fn fn, void *user);

/* ============================================================================================== */
/* Noise schedules, timestep lists and TRDI                                  (src/sched/)         */
/* ============================================================================================== */

/* @@SECTION sched: owned by the scheduler work (issue 2). */

typedef enum trdi_beta_schedule {
    TRDI_BETA_LINEAR = 0,
    TRDI_BETA_SCALED_LINEAR = 1,
    TRDI_BETA_SQUAREDCOS_CAP_V2 = 2
} trdi_beta_schedule;

typedef enum trdi_timestep_spacing {
    TRDI_SPACING_LEADING = 0,
    TRDI_SPACING_LINSPACE = 1,
    TRDI_SPACING_TRAILING = 2
} trdi_timestep_spacing;

typedef enum trdi_prediction_type {
    TRDI_PRED_EPSILON = 0,
    TRDI_PRED_V = 1, /* "v_prediction" */
    TRDI_PRED_SAMPLE = 2
} trdi_prediction_type;

const char *trdi_beta_schedule_name(trdi_beta_schedule b);
trdi_status trdi_beta_schedule_from_name(const char *name, trdi_beta_schedule *out);
const char *trdi_timestep_spacing_name(trdi_timestep_spacing s);
trdi_status trdi_timestep_spacing_from_name(const char *name, trdi_timestep_spacing *out);
const char *trdi_prediction_type_name(trdi_prediction_type p);
trdi_status trdi_prediction_type_from_name(const char *name, trdi_prediction_type *out);

/* A diffusers DDIM scheduler configuration (the fields of scheduler/scheduler_config.json). */
typedef struct trdi_noise_config {
    trdi_beta_schedule beta_schedule;
    double beta_start;
    double beta_end;
    int64_t num_train_timesteps;
    int64_t steps_offset;
    bool set_alpha_to_one;
    trdi_prediction_type prediction_type;
    trdi_timestep_spacing timestep_spacing;
} trdi_noise_config;

/* Stable Diffusion 1.5's scheduler: scaled_linear 0.00085..0.012, 1000 steps, offset 1,
 * set_alpha_to_one false, epsilon, leading. */
trdi_noise_config trdi_noise_config_default(void);

/* A noise schedule: the float32 alphas_cumprod table of a config, bit-identical to diffusers /
 * torch on CPU (spec 1.1-1.3). Immutable once created; safe to share between threads. */
typedef struct trdi_noise_schedule trdi_noise_schedule;

/* Builds the table for `cfg`. *out is NULL on failure. Free with trdi_noise_schedule_free().
 * Errors: TRDI_ERR_INVALID_ARG (num_train_timesteps outside [2, 1e6], steps_offset outside
 * [0, N-1], a beta outside [0, 1) or NaN, an invalid enum value; the field is named),
 * TRDI_ERR_NUMERIC (a table that underflows to 0), TRDI_ERR_NOMEM. */
trdi_status trdi_noise_schedule_create(const trdi_noise_config *cfg, trdi_noise_schedule **out);
void trdi_noise_schedule_free(trdi_noise_schedule *s);
/* The config it was built from (owned by the schedule). */
const trdi_noise_config *trdi_noise_schedule_config(const trdi_noise_schedule *s);
/* (num_train_timesteps) cumulative alphas, owned by the schedule. */
const float *trdi_noise_schedule_alphas_cumprod(const trdi_noise_schedule *s);
/* The clean-end level: 1 with set_alpha_to_one, else alphas_cumprod[0]. */
float trdi_noise_schedule_final_alpha(const trdi_noise_schedule *s);

/* Reads a diffusers scheduler config. `path` is a scheduler_config.json file, or a folder holding
 * scheduler/scheduler_config.json (a diffusers model folder) or scheduler_config.json. Fields
 * missing from the file take diffusers' DDIMScheduler defaults (linear 0.0001..0.02, 1000 steps,
 * offset 0, set_alpha_to_one true, epsilon, leading); unrelated keys are ignored. Errors:
 * TRDI_ERR_IO (unreadable), TRDI_ERR_FORMAT (not JSON, a field of the wrong type, an unknown name
 * or an out-of-range value, named), TRDI_ERR_UNSUPPORTED (trained_betas or
 * rescale_betas_zero_snr). *out is zeroed on failure. */
trdi_status trdi_noise_config_load(const char *path, trdi_noise_config *out);

/* diffusers' DDIMScheduler.set_timesteps(n) list for cfg->timestep_spacing (spec 1.4), numpy-exact,
 * descending: leading k*(N div n) + steps_offset; trailing round(arange(N, 0, -N/n)) - 1 (ties to
 * even); linspace round(linspace(0, N-1, n)) reversed. *out (n entries, *out_n = n) is owned by the
 * caller: release with trdi_timesteps_free(). Errors: n < 1 or n > N (TRDI_ERR_INVALID_ARG); a
 * list that diffusers would build outside [0, N-1] or with the wrong length (trailing with some
 * non-divisor n, e.g. 61 steps, ends in -1; leading with a large offset) is TRDI_ERR_INVALID_ARG. */
trdi_status trdi_timesteps_diffusers(const trdi_noise_config *cfg, int64_t n, int64_t **out,
                                     int64_t *out_n);
void trdi_timesteps_free(int64_t *timesteps);

/* AdaptiveTRDI's density modes (spec 2.10). NONE selects the plain TRDI pipeline (init, rescale,
 * DP). Names: "none", "balanced", "noise", "noise_floor25", "noise_floor50", "noise_floor75",
 * "logsnr", "curvature", "late"; any other name is an error (the reference silently falls back
 * to balanced). */
typedef enum trdi_adaptive_mode {
    TRDI_ADAPTIVE_NONE = 0,
    TRDI_ADAPTIVE_BALANCED = 1,
    TRDI_ADAPTIVE_NOISE = 2,
    TRDI_ADAPTIVE_NOISE_FLOOR25 = 3,
    TRDI_ADAPTIVE_NOISE_FLOOR50 = 4,
    TRDI_ADAPTIVE_NOISE_FLOOR75 = 5,
    TRDI_ADAPTIVE_LOGSNR = 6,
    TRDI_ADAPTIVE_CURVATURE = 7,
    TRDI_ADAPTIVE_LATE = 8
} trdi_adaptive_mode;

const char *trdi_adaptive_mode_name(trdi_adaptive_mode m);
trdi_status trdi_adaptive_mode_from_name(const char *name, trdi_adaptive_mode *out);

/* Parameters of TRDI.py's pipeline: TRDI(steps, spacing, window), then init_timesteps(init),
 * rescaling_timesteps, reschedule. */
typedef struct trdi_trdi_params {
    int64_t steps;                /* n >= 1 inference steps (the reference needs n >= 2) */
    double spacing;               /* power-law exponent gamma > 0, finite (1 = no rescaling) */
    int64_t window;               /* DP window w >= 0 (0 = keep the rescaled list) */
    trdi_timestep_spacing init;   /* initial list; the authors always use leading */
    trdi_adaptive_mode adaptive;  /* NONE = the pipeline above; else AdaptiveTRDI(steps, mode) */
    bool adaptive_match;          /* adaptive only: bounds = min/max of the TRDI list built from
                                     the same steps/spacing/window/init, rather than of the init */
} trdi_trdi_params;

/* 50 steps, spacing 1.05, window 8, leading, no adaptive mode. */
trdi_trdi_params trdi_trdi_default_params(void);

/* The result of trdi_trdi_build(). Owned by the caller; release with trdi_trdi_result_clear(). */
typedef struct trdi_trdi_result {
    int64_t n;            /* number of timesteps */
    int64_t *timesteps;   /* (n) the schedule, strictly descending, in [1, N-1] */
    int64_t n_init;       /* length of init and rescaled (n, or n + 1 for some trailing lists) */
    int64_t *init;        /* (n_init) init_timesteps(init), descending */
    int64_t *rescaled;    /* (n_init) after the power-law rescaling, descending (for adaptive
                             modes: a copy of init) */
    float cost;           /* the DP's path cost (float32, spec 2.6); NaN for adaptive modes */
    int64_t num_train_timesteps; /* N of the table used */
} trdi_trdi_result;

/* Builds a TRDI schedule exactly as the authors' TRDI.py / AdaptiveTRDI do. `s` supplies the
 * noise table, N and steps_offset; NULL means the authors' fixed table (SD 1.5 scaled_linear,
 * N = 1000, offset 1), which TRDI.py always uses whatever the model. Where the reference raises,
 * this returns an error instead: TRDI_ERR_INVALID_ARG for bad params (steps < 1 or > N, spacing
 * <= 0 or NaN, window < 0, unknown enum values) and for one step (the reference indexes ts[1]);
 * TRDI_ERR_INFEASIBLE when the rescaled list leaves [1, N] (linspace always contains 0) or the DP
 * window has no feasible path (a layer with no predecessor at least 2 below, e.g. 50 steps,
 * spacing 1.05, window >= 15). Adaptive modes take their bounds from the init list (leading, as
 * the authors do, unless p->init says otherwise) or, with adaptive_match, from the TRDI list; they
 * fail with TRDI_ERR_INFEASIBLE when those bounds leave [0, N-1] (trailing with 61 steps ends in
 * -1) or the steps cannot keep gaps of 2 between them. *out is zeroed on failure. Thread-safe. */
trdi_status trdi_trdi_build(const trdi_noise_schedule *s, const trdi_trdi_params *p,
                            trdi_trdi_result *out);
void trdi_trdi_result_clear(trdi_trdi_result *r);

/* ============================================================================================== */
/* Step plans: what each inversion / sampling step moves between           (src/sched/plan.c)    */
/* ============================================================================================== */

/* @@SECTION plan: owned by the scheduler work (issue 2). */

/* Stepping semantics (spec section 3).
 * REFERENCE: the authors' fixed stride. With n scheduled timesteps, D = num_train_timesteps div n;
 *   inversion at t moves from level a[min(t - D, N - 1)] (final alpha when t - D < 0) to a[t], and
 *   sampling at t moves from a[t] to a[t - D] (final alpha when t - D < 0), whatever the
 *   neighbouring scheduled timestep is. This reproduces the paper's numbers.
 * CONSISTENT: consecutive scheduled timesteps. For ascending t_1 < ... < t_n and t_0 = the clean
 *   end (final alpha), inversion step k moves from the level of t_{k-1} to that of t_k with the
 *   model evaluated at t_k; sampling step k mirrors it. Both coincide on uniform leading lists. */
typedef enum trdi_stepping {
    TRDI_STEPPING_REFERENCE = 0,
    TRDI_STEPPING_CONSISTENT = 1
} trdi_stepping;

const char *trdi_stepping_name(trdi_stepping s);
trdi_status trdi_stepping_from_name(const char *name, trdi_stepping *out);

/* One DDIM move: the model is evaluated at timestep `t`; the latent moves from the noise level
 * `a_from` (cumulative alpha) to `a_to`. from_t / to_t name the table entries used (-1 = the final
 * alpha of the clean end). */
typedef struct trdi_step {
    int64_t t;
    int64_t from_t;
    int64_t to_t;
    float a_from;
    float a_to;
} trdi_step;

/* A step plan: a timestep list with the alpha pair of every inversion and sampling step.
 * Owned by the caller; release with trdi_plan_clear(). */
typedef struct trdi_plan {
    int64_t n;            /* number of steps */
    int64_t *timesteps;   /* (n) descending, as scheduled */
    float *alphas;        /* (n) a[timesteps[i]], same order (for methods with their own walk) */
    trdi_step *inv;       /* (n) inversion steps in execution order (ascending t) */
    trdi_step *smp;       /* (n) sampling steps in execution order (descending t) */
    float final_alpha;    /* the clean-end level (a[0], or 1 with set_alpha_to_one) */
    trdi_stepping stepping;
    int64_t num_train_timesteps;
} trdi_plan;

/* Builds the plan of `timesteps` (n entries, strictly descending, each in [0, N-1]) under
 * `stepping`. *out is zeroed on failure. Release with trdi_plan_clear(). */
trdi_status trdi_plan_build(const trdi_noise_schedule *s, const int64_t *timesteps, int64_t n,
                            trdi_stepping stepping, trdi_plan *out);
void trdi_plan_clear(trdi_plan *p);

/* ============================================================================================== */
/* Denoisers and guidance: the only view of a model that solvers have      (src/solver/guide.c)  */
/* ============================================================================================== */

/* @@SECTION denoiser */

/* A denoiser: the model as solvers see it. Given latents x (batch, C, H, W), an integer timestep t
 * and one conditioning handle per batch item (model-owned, e.g. from a prompt), it writes the
 * predicted noise eps (batch, C, H, W). Models with v- or x0-prediction convert inside. `vjp` is
 * optional (NULL when the model has no gradients): out = J^T v with J = d eps / d x, item-wise. */
typedef struct trdi_denoiser {
    void *ctx;
    int64_t channels, height, width;
    trdi_status (*predict)(void *ctx, int64_t batch, const float *x, int64_t t,
                           const void *const *cond, float *eps);
    trdi_status (*vjp)(void *ctx, int64_t batch, const float *x, int64_t t,
                       const void *const *cond, const float *v, float *out);
} trdi_denoiser;

/* Classifier-free guidance over a denoiser (spec 4.0): the noise every method sees.
 * - scale > 1: eps = eps_u + scale * (eps_c - eps_u) from ONE batch-of-two pass [uncond; cond];
 *   counts 2 evaluations.
 * - scale <= 1 (0 included): ONE conditional pass eps = eps_c, as the reference does (g <= 1 is
 *   never an unconditional pass); counts 1 evaluation. `uncond` is then unused.
 * Fill it with trdi_guide_init() and release its scratch with trdi_guide_clear(). The handles
 * are borrowed (the denoiser and the model-owned conditionings must outlive the guide). `nfe` /
 * `nvjp` accumulate over every call until reset by the caller; methods add to them. Not
 * thread-safe: one guide per thread. */
typedef struct trdi_guide {
    const trdi_denoiser *den; /* borrowed */
    const void *cond;         /* positive prompt conditioning (model-owned) */
    const void *uncond;       /* unconditional ("") or negative prompt conditioning (model-owned) */
    float scale;              /* g */
    int64_t nfe;              /* denoiser evaluations per image so far (a guided pass counts 2) */
    int64_t nvjp;             /* vector-Jacobian products per image so far (guided counts 2) */
    float *scratch_;          /* internal: (4, C, H, W) batch-of-two buffers, owned */
    size_t scratch_n_;        /* internal */
} trdi_guide;

/* A guide with zeroed counters and no scratch yet (allocated on the first guided call). */
trdi_guide trdi_guide_init(const trdi_denoiser *den, const void *cond, const void *uncond,
                           float scale);
/* Frees the scratch; the guide may be used again (it re-allocates). NULL is fine. */
void trdi_guide_clear(trdi_guide *g);
/* Guided noise at timestep t for one latent x (C, H, W) into eps (C, H, W). Errors:
 * TRDI_ERR_INVALID_ARG (NULL arguments or a denoiser without predict), TRDI_ERR_NUMERIC (NaN or
 * infinity in the prediction, naming t), TRDI_ERR_NOMEM, or the denoiser's own status. */
trdi_status trdi_guide_eps(trdi_guide *g, const float *x, int64_t t, float *eps);
/* out = J^T v for the guided noise (linear in the branches: (1 - g) J_u^T v + g J_c^T v under
 * guidance, J_c^T v otherwise). x, v, out: (C, H, W). TRDI_ERR_UNSUPPORTED ("needs model
 * gradients") when the denoiser has no vjp. */
trdi_status trdi_guide_vjp(trdi_guide *g, const float *x, int64_t t, const float *v, float *out);

/* ============================================================================================== */
/* Inversion methods                                                         (src/solver/)        */
/* ============================================================================================== */

/* @@SECTION methods */

/* Inversion methods (spec 4.1-4.9; docs/methods.md has the details). Each is a pair of pure
 * functions over a step plan and a guide: trdi_invert() maps a clean latent z0 (C, H, W) to the
 * noise latent zT (plus a second state for EDICT, BDIA and BELM), trdi_sample() maps it back.
 * Solvers see only eps (prediction types are converted inside the denoiser).
 *
 * Every method accepts any timestep list (uniform, TRDI, user supplied) under both steppings:
 * DDIM-based steps use plan->inv[k] / plan->smp[k] (a_from, a_to, model timestep t). BELM defines
 * its own walk between neighbouring entries of plan->timesteps with alpha = 1 at the clean end
 * (its first inversion step evaluates the model at timestep 1), so it ignores the stepping.
 *
 * What the reference itself supported (spec 3.6): custom timestep lists (hence TRDI) only in
 * ddim, npi, renoise, gnri (and aidi's scheduler); TRDI experiments exist only for ddim, npi,
 * renoise and gnri; passing a list to fpi, edict, bdia or belm raised an error there, so those run
 * on uniform leading lists only in the reference. The reference steps with the fixed stride
 * (TRDI_STEPPING_REFERENCE); TRDI_STEPPING_CONSISTENT is this library's extension. */
typedef enum trdi_method {
    TRDI_METHOD_DDIM = 0,
    TRDI_METHOD_NPI = 1,
    TRDI_METHOD_RENOISE = 2,
    TRDI_METHOD_GNRI = 3,
    TRDI_METHOD_FPI = 4,
    TRDI_METHOD_AIDI = 5,
    TRDI_METHOD_EDICT = 6,
    TRDI_METHOD_BDIA = 7,
    TRDI_METHOD_BELM = 8
} trdi_method;
#define TRDI_METHOD_COUNT 9

/* "ddim", "npi", "renoise", "gnri", "fpi", "aidi", "edict", "bdia", "belm"; "?" if out of range. */
const char *trdi_method_name(trdi_method m);
/* Case-sensitive; TRDI_ERR_INVALID_ARG naming the unknown method and listing the known ones. */
trdi_status trdi_method_from_name(const char *name, trdi_method *out);
/* Whether the method carries a second latent (`aux`): EDICT (the pair's second half), BDIA (the
 * latent one step below zT), BELM (zT_second). */
bool trdi_method_has_aux(trdi_method m);
/* Whether the method needs denoiser gradients (vjp): GNRI. */
bool trdi_method_needs_vjp(trdi_method m);
/* Default guidance scales of the reference experiments (spec 4.x, 5.4, 6), for the inversion and
 * the sampling direction. Values <= 1 mean one conditional pass.
 *   ddim 0 / 1.2 (inversion is conditional, README g for SD1.5)   npi 1.0 / 1.0
 *   renoise 1.0 / 1.0   gnri 1.2 / 1.2   fpi 2.0 / 1.0 (pipeline + config inversion g)
 *   aidi 0 / 1.0 (configs, examples)   edict 0 / 0 (examples)   bdia 1.0 / 1.0   belm 1.0 / 1.0
 * (where the spec names no sampling value, 1.0: one conditional pass). NULL outputs are skipped. */
void trdi_method_default_guidance(trdi_method m, float *inv_g, float *smp_g);

/* Receives every step's latent: phase "inv" or "smp", step index 0..total-1 in execution order,
 * latent (C, H, W) after the step (EDICT: the pair's first half), valid only during the call.
 * Return false to stop: the method then returns TRDI_ABORTED. */
typedef bool (*trdi_step_fn)(void *user, const char *phase, int64_t step, int64_t total,
                             const float *latent);

#define TRDI_RENOISE_MAX_WEIGHTS 16

/* All methods' parameters; trdi_method_default_params() gives the spec defaults. `corrected`
 * switches from the reference behaviour (default, reproduces the paper's code) to the fix:
 *   npi:   reference sampling replaces the unconditional branch with the positive prompt (the
 *          negative prompt is ignored; still two passes when g > 1); corrected = the NPI paper's
 *          recipe: CFG of cond against guide->uncond, where callers pass the SOURCE prompt.
 *   gnri:  reference prior G uses 0.5**r and 0.5**(1-r) with r = a_from / a_to (> 1); corrected
 *          uses the forward transition q(z_t | z_s): mean sqrt(a_to / a_from) z_s, standard
 *          deviation sqrt(1 - a_to / a_from) (the literal sqrt(r) would take sqrt(1 - r) < 0).
 *   edict: reference inversion reads the pair unswapped (not exact, spec 4.7); corrected is the
 *          exact algebraic inverse of the sampler.
 *   bdia:  reference (spec 4.8, not exact, CFG chunk bug: eps' = eps when g > 1; sampling ignores
 *          aux); corrected: the exact inverse recursion with aux = the second state, no chunk bug.
 *   others: no effect. */
typedef struct trdi_method_params {
    trdi_method method;
    bool corrected;
    /* ReNoise (spec 4.3) */
    int64_t renoise_steps;          /* R = 1; weights hold R + 1 entries */
    int64_t renoise_early_timestep; /* 250: steps with t < this use the early weights */
    float renoise_early_weights[TRDI_RENOISE_MAX_WEIGHTS]; /* {0.5, 0.5} */
    float renoise_latter_weights[TRDI_RENOISE_MAX_WEIGHTS]; /* {0, 1} */
    bool renoise_noise_reg;         /* true: regularise eps_k where its weight is > 0. Its step
                                       sizes assume unit-variance eps (SD); on a tight exact
                                       mixture it can diverge (TRDI_ERR_NUMERIC): turn it off */
    float renoise_lambda_ac;        /* 10 (lambda_pair) */
    float renoise_lambda_kl;        /* 0.05 */
    int64_t renoise_reg_steps;      /* 4 */
    int64_t renoise_ac_rolls;       /* 5 */
    uint64_t seed;                  /* 666: seeds ReNoise's trdi_rng (noise n0, roll offsets) */
    /* GNRI (spec 4.4) */
    int64_t gnri_iters;             /* K = 2 */
    float gnri_lambda;              /* 0.1 */
    float gnri_eta;                 /* 0.0 */
    /* FPI (spec 4.5) */
    int64_t fpi_iters;              /* K = 20 */
    /* AIDI (spec 4.6) */
    int64_t aidi_iters;             /* K = 5 */
    int64_t aidi_window;            /* m = 3 (Anderson keeps m + 1 entries), 1..8 */
    bool aidi_empirical;            /* false: Anderson; true: the empirical 1/2-1/2 mode */
    /* FPI and AIDI: false (reference) returns the last iterate whatever happened. true: when the
     * step's final fixed-point residual |g(z) - z| is above 0.01 x the residual of the first
     * iterate z^1 = g(z_s) (the explicit DDIM step), the iteration did not converge and the step
     * returns z^1 instead. Needed where |c J_eps| > 1, e.g. the exact mixture's stiff
     * component-switching steps, on which plain iterations settle on a 2-cycle around the
     * fixed point (docs/methods.md). Same model evaluations. */
    bool fp_fallback;
    /* EDICT (spec 4.7) */
    float edict_p;                  /* 0.93, in (0, 1] */
    /* BDIA (spec 4.8) */
    float bdia_gamma;               /* 1.0 (examples; pipeline default 0.5), != 0 */
    /* Progress / trajectory / cancellation, called after every step (NULL: none). */
    trdi_step_fn on_step;
    void *on_step_user;
} trdi_method_params;

/* Spec defaults for `m` (an out-of-range m gives DDIM's). */
trdi_method_params trdi_method_default_params(trdi_method m);

/* Inverts z0 (C, H, W; C, H, W are guide->den's) into zT (C, H, W). `aux` (C, H, W) receives the
 * second state of EDICT / BDIA / BELM (NULL: computed and discarded); other methods leave it
 * untouched. z0 must not alias zT or aux. Errors: TRDI_ERR_INVALID_ARG (NULL arguments, an empty
 * or malformed plan, a parameter out of range), TRDI_ERR_NUMERIC (NaN/infinity in z0 or a prediction),
 * TRDI_ERR_UNSUPPORTED (GNRI on a denoiser without vjp), TRDI_ABORTED (on_step returned false),
 * TRDI_ERR_NOMEM, or the denoiser's status. On failure zT (and aux) are zero-filled. */
trdi_status trdi_invert(const trdi_method_params *p, const trdi_plan *plan, trdi_guide *guide,
                        const float *z0, float *zT, float *aux);

/* Samples zT (C, H, W) back to the clean latent z0 (C, H, W). `aux` is the second state from
 * trdi_invert: required by BELM; EDICT uses zT for both halves when it is NULL; BDIA reference
 * ignores it, BDIA corrected computes the plain DDIM step when it is NULL; other methods ignore
 * it. Same errors as trdi_invert; z0 is zero-filled on failure. */
trdi_status trdi_sample(const trdi_method_params *p, const trdi_plan *plan, trdi_guide *guide,
                        const float *zT, const float *aux, float *z0);

/* Implicit-equation residual of an inversion trajectory traj (n + 1, C, H, W) = z_0 (clean), z_1
 * .. z_n (after inversion step k = 1..n, e.g. gathered with on_step). For each step k the residual
 * is the RMS over C*H*W of z_k - DDIM_inv(eps(z_k, t_k); a_from -> a_to; z_{k-1}) with plan->inv[k-1]
 * (eps evaluated at the NEW point, the equation exact inversion satisfies). per_step (n) may be
 * NULL; *mean_rms gets their mean. Costs n guided evaluations. */
trdi_status trdi_inversion_residual(const trdi_plan *plan, trdi_guide *guide, const float *traj,
                                    double *per_step, double *mean_rms);

/* Single-step DDIM round trip (the paper's inversion deviation): z (C, H, W) at level a_from is
 * inverted one step to level a_to with the model at timestep t, then sampled back to a_from with
 * the model at t. *err_rms is the RMS over C*H*W of the difference to z; `back` (C, H, W) receives
 * the round-tripped latent and may be NULL. Costs 2 guided evaluations. */
trdi_status trdi_ddim_roundtrip(trdi_guide *guide, const float *z, int64_t t, float a_from,
                                float a_to, float *back, double *err_rms);

/* One DDIM move (spec 3.2/3.3, the diffusers op order in float32):
 * out = sqrt(a_to) * (z - sqrt(1 - a_from) * eps) / sqrt(a_from) + sqrt(1 - a_to) * eps,
 * n values; out may alias z or eps. Inversion and sampling are both this move. */
void trdi_ddim_move(int64_t n, const float *z, const float *eps, float a_from, float a_to,
                    float *out);

/* ============================================================================================== */
/* Models: the exact Gaussian mixture (built-in), Stable Diffusion            (src/model/)         */
/* ============================================================================================== */

/* @@SECTION models */

typedef struct trdi_image trdi_image; /* declared in "io: images" below */

/* A model: a denoiser (noise prediction, optionally J^T v), its noise schedule, prompt
 * conditioning and the image <-> latent maps. Opaque; free with trdi_model_free(). Querying a
 * model is thread-safe; trdi_model_condition() is not (call it before starting parallel work).
 *
 * The built-in exact model is a Gaussian mixture over images, p(x0) = sum_k w_k N(mu_k, s_k^2 I),
 * in pixel space scaled to [-1, 1]. Its noised marginal under x_t = sqrt(a) x0 + sqrt(1 - a) eps
 * is the mixture of N(sqrt(a) mu_k, (a s_k^2 + 1 - a) I), so its noise prediction
 * eps(x, t) = -sqrt(1 - a) grad log p_t(x) and J = d eps / dx are exact (double inside). */
typedef struct trdi_model trdi_model;

typedef struct trdi_model_params {
    /* Image size of the mixture; 0 = the source's own: the built-in mixture is 32 x 32 x 3; a
     * folder or JSON without a size takes its first image's size. When a size is given (here or in
     * the JSON), every image is fitted to it with trdi_model_prepare_image's rule. */
    int64_t width, height, channels;
    /* s_k^2 of components that do not give their own (pixels in [-1, 1]); default 0.05 (std
     * ~29 grey levels). Smaller values make the probability-flow ODE stiffer near the clean end;
     * at 0.05 DDIM reconstructs the built-in test image to ~30 dB at 50 steps and improves
     * with more steps, as with Stable Diffusion. */
    double variance;
    /* Which weights file of a diffusers folder to load, a trdi_weights_variant (declared with the
     * diffusers loader below): 0 = TRDI_VARIANT_AUTO (fp32 if present, else fp16, else bf16).
     * fp16 files make the UNet's matrices fp16-resident: half the memory, faster at small sizes
     * (docs/performance.md). Ignored by the other sources. */
    int weights_variant;
} trdi_model_params;

trdi_model_params trdi_model_default_params(void);

/* Loads a model. `spec`:
 *   a diffusers folder (holding model_index.json): Stable Diffusion 1.x / 2.x (tokenizer, CLIP
 *                  text encoder, UNet, VAE; fp32 weights, else the fp16 / bf16 variant). Image
 *                  size p->width x p->height (multiples of 8) or the UNet's sample_size * 8;
 *                  encoding uses the VAE posterior mean (see trdi_model_set_vae_sample); latents
 *                  are scaled by the VAE's scaling_factor. SDXL is TRDI_ERR_UNSUPPORTED;
 *   "builtin"      the built-in mixture: four equally weighted components labelled "circle",
 *                  "stripes", "checker" and "gradient" (procedural images, deterministic);
 *   a folder       one component per PNG/JPEG file in it (extensions .png/.jpg/.jpeg, any case;
 *                  other files are ignored; sorted by name), labelled by the file stem, weight 1,
 *                  variance p->variance. Without a size, all images must have the first one's
 *                  size (TRDI_ERR_INVALID_ARG naming the file otherwise); channels follow the
 *                  first image (others are converted);
 *   a .json file   a mixture description (below).
 * `p` may be NULL (defaults). The noise schedule is SD 1.5's (trdi_noise_config_default()) unless
 * the JSON overrides it. *out is NULL on failure. Errors name the file or field at fault:
 * TRDI_ERR_IO (unreadable), TRDI_ERR_FORMAT (bad JSON or image), TRDI_ERR_INVALID_ARG (empty
 * folder, zero-size or mismatched images, bad weights/variances, unknown patterns or fields),
 * TRDI_ERR_UNSUPPORTED (an SDXL folder), and for Stable Diffusion the loaders' errors naming the
 * file, tensor or config key.
 *
 * JSON description (every field optional except "components"; unknown fields are errors):
 *   {
 *     "width": 32, "height": 32, "channels": 3,  // the mixture's image size (see params)
 *     "variance": 0.05,                          // default s_k^2
 *     "components": [                            // at least one
 *       {"label": "circle", "weight": 1, "variance": 0.02, "pattern": "circle"},
 *       {"label": "cat", "image": "cat.png"}     // path relative to the JSON file's folder
 *     ],
 *     "test_image": {"pattern": "scene"},        // or {"image": "x.png"}; default "scene"
 *     "noise_schedule": {                        // overrides of SD 1.5's DDIM config
 *       "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
 *       "num_train_timesteps": 1000, "steps_offset": 1, "set_alpha_to_one": false,
 *       "timestep_spacing": "leading", "prediction_type": "epsilon"   // only epsilon
 *     }
 *   }
 * Each component has exactly one of "pattern" and "image". Patterns: "circle", "stripes",
 * "checker", "gradient", "scene" (the built-in test image: an orange sun over a dusk gradient, a
 * variant of the circle class), "landscape" (far from every built-in component: an
 * out-of-distribution image on which the exact ODE switches component abruptly and DDIM
 * stalls near 13 dB whatever the step count); any size, 1 or 3 channels. Weights > 0
 * (renormalised), variances >= 0, both finite. A component without a label is only selected
 * by "". */
trdi_status trdi_model_load(const char *spec, const trdi_model_params *p, trdi_model **out);
void trdi_model_free(trdi_model *m);

/* Stable Diffusion only: encode images with a seeded posterior sample mean + std * N(0, 1)
 * (trdi's own RNG; the authors' torch stream cannot be matched) instead of the posterior mean,
 * the default. TRDI_ERR_INVALID_ARG for other models. */
trdi_status trdi_model_set_vae_sample(trdi_model *m, bool enabled, uint64_t seed);

/* "gmm" for the mixture, "sd" for Stable Diffusion. Static string. */
const char *trdi_model_kind(const trdi_model *m);

/* The model as a denoiser (see trdi_denoiser): ctx is the model, dimensions are the latent shape,
 * timesteps must be in [0, num_train_timesteps - 1] (TRDI_ERR_INVALID_ARG otherwise), `cond` may
 * be NULL (every item unconditional) or hold one handle from trdi_model_condition() per item
 * (NULL entries: unconditional). `vjp` is set for the mixture (exact J^T v = J v); models without
 * gradients leave it NULL. Valid while the model lives. */
trdi_status trdi_model_denoiser(trdi_model *m, trdi_denoiser *out);

/* The conditioning handle of `prompt`, owned by the model and valid until trdi_model_free().
 * Mixture rule: a component is selected when its label occurs in the prompt as a whole word,
 * ASCII case-insensitively (word characters: letters, digits, '_' and non-ASCII bytes), e.g.
 * "a red CIRCLE." selects "circle" but "circles" does not; the selected components' weights are
 * renormalised. "" (or NULL, or only spaces) selects every component, as does any prompt for a
 * mixture without labels. A non-empty prompt naming no label is TRDI_ERR_INVALID_ARG (listing
 * the labels), so that a typo never silently falls back to the unconditional model. */
trdi_status trdi_model_condition(trdi_model *m, const char *prompt, const void **cond_out);

/* Distinct labels, in order of first appearance (the mixture's; owned by the model). */
int64_t trdi_model_num_labels(const trdi_model *m);
const char *trdi_model_label(const trdi_model *m, int64_t i); /* NULL when out of range */

/* The model's noise schedule (owned by the model). */
const trdi_noise_schedule *trdi_model_noise_schedule(const trdi_model *m);

/* The pixel size of images the model takes (encode) and gives (decode), and the latent shape of
 * one image (C, H, W). For the mixture both are (channels, height, width) of its images. */
void trdi_model_image_shape(const trdi_model *m, int64_t *channels, int64_t *height,
                            int64_t *width);
void trdi_model_latent_shape(const trdi_model *m, int64_t *channels, int64_t *height,
                             int64_t *width);

/* Fits an arbitrary image to the model's image size: converts the channel count
 * (trdi_image_convert), centre-crops to the model's aspect ratio (the largest centred window,
 * offsets (w - cw) div 2 and (h - ch) div 2; a square for square models, as the TRDI
 * preprocessing's centre crop) and resizes with trdi_image_resize (PIL bicubic). An image already
 * of the right size is copied unchanged. *out is the caller's (trdi_image_clear). */
trdi_status trdi_model_prepare_image(const trdi_model *m, const trdi_image *in, trdi_image *out);

/* Image -> latent (C, H, W) float32 in caller memory. The image must already have the model's
 * size and channels (TRDI_ERR_INVALID_ARG otherwise; see trdi_model_prepare_image). Mixture:
 * the identity "VAE", latent = 2 (p / 255) - 1 (diffusers' preprocessing, in float32). */
trdi_status trdi_model_encode(trdi_model *m, const trdi_image *img, float *latent);
/* Latent (C, H, W) -> image of the model's size (allocated into *out; trdi_image_clear).
 * Mixture: p = round-half-even(255 clamp(z / 2 + 0.5, 0, 1)), as diffusers' postprocessing.
 * Non-finite latents are TRDI_ERR_NUMERIC. */
trdi_status trdi_model_decode(trdi_model *m, const float *latent, trdi_image *out);

/* The model's built-in test image, of the model's size (allocated into *out): for the mixture
 * the "scene" pattern (or the JSON's "test_image"), which is none of the components' means, so
 * reconstructing it is a real test. */
trdi_status trdi_model_builtin_test_image(const trdi_model *m, trdi_image *out);

/* ============================================================================================== */
/* Files: images, safetensors, JSON configs, diffusers folders               (src/io/)            */
/* ============================================================================================== */

/* @@SECTION io: images */

/* An 8-bit image: `data` is (height, width, channels) interleaved, row-major, channels 1 (gray) or
 * 3 (RGB). Owned by the caller: every function that fills a trdi_image allocates `data`, and the
 * caller releases it with trdi_image_clear(). On failure the output is zeroed. */
typedef struct trdi_image {
    int64_t width, height, channels;
    uint8_t *data; /* (height, width, channels) */
} trdi_image;

/* Allocates a zero-filled width x height x channels image (channels 1 or 3; sides >= 1). */
trdi_status trdi_image_alloc(int64_t width, int64_t height, int64_t channels, trdi_image *out);
/* Frees `data` and zeroes the struct. NULL and already-cleared images are fine. */
void trdi_image_clear(trdi_image *img);
/* Deep copy of `in` into *out. */
trdi_status trdi_image_copy(const trdi_image *in, trdi_image *out);

/* Reads a PNG or JPEG file, recognised by its content (magic bytes), not by its extension.
 * Gray stays 1 channel; RGB is 3; alpha is dropped (as PIL's convert("RGB") does, no
 * compositing); palettes are expanded to RGB; 16-bit PNG colour samples keep their high byte and
 * 16-bit gray is clipped to 255 (both as PIL's open + convert); CMYK JPEGs
 * are TRDI_ERR_UNSUPPORTED. Errors: TRDI_ERR_IO (cannot open/read), TRDI_ERR_FORMAT (empty,
 * truncated, corrupt or not PNG/JPEG, including any libjpeg "corrupt data" warning, which PIL
 * also refuses as a truncated image), TRDI_ERR_UNSUPPORTED (larger than 16384 pixels a side). */
trdi_status trdi_image_read(const char *path, trdi_image *out);
/* The same from `size` bytes in memory; `name` only labels error messages (may be NULL). */
trdi_status trdi_image_read_memory(const void *bytes, size_t size, const char *name,
                                   trdi_image *out);

/* Writes `img` as PNG (lossless) or JPEG (baseline, 4:2:0 chroma subsampling as PIL's default,
 * `jpeg_quality` 1..100; PIL's default is 75; with the same libjpeg the bytes equal PIL's
 * Image.save(path, quality=q)), chosen by the extension of `path`: .png, .jpg or
 * .jpeg (case-insensitive); anything else is TRDI_ERR_INVALID_ARG. The file is written to a
 * temporary file in the same folder and renamed over `path`, so a failure never leaves a partial
 * file. */
trdi_status trdi_image_write(const char *path, const trdi_image *img, int jpeg_quality);

/* Converts to `channels` (1 or 3): gray -> RGB replicates; RGB -> gray uses PIL's convert("L")
 * (L = (19595 R + 38470 G + 7471 B + 32768) >> 16). Same channel count: a copy. */
trdi_status trdi_image_convert(const trdi_image *in, int64_t channels, trdi_image *out);

/* Resizes to width x height as PIL 9.x Image.resize(size, Image.BICUBIC) does for 8-bit images:
 * the bicubic kernel with a = -0.5 and support 2, widened by the scale factor when downscaling
 * (antialiasing), weights normalised per output pixel and quantised to 22-bit fixed point,
 * horizontal pass first with the intermediate rounded to uint8, then the vertical pass; a side
 * whose size does not change is not filtered (same size: an exact copy). Checked bit-identical
 * to Pillow 9.4 on 96 size pairs (up/down, odd sizes, 1 and 3 channels) during development. */
trdi_status trdi_image_resize(const trdi_image *in, int64_t width, int64_t height, trdi_image *out);

/* Copies the width x height window whose top-left corner is (x, y); it must lie inside `in`. */
trdi_status trdi_image_crop(const trdi_image *in, int64_t x, int64_t y, int64_t width,
                            int64_t height, trdi_image *out);

/* Crops the largest centred square: side min(w, h), offset (w - h) div 2 or (h - w) div 2, as
 * the TRDI preprocessing does (spec 5.3 step 3). */
trdi_status trdi_image_center_crop_square(const trdi_image *in, trdi_image *out);

/* @@SECTION io: safetensors, JSON, diffusers folders */
/* Safetensors files (https://github.com/huggingface/safetensors format): an 8-byte little-endian
 * header length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {str: str}}, then the data area. The reader memory-maps the file read-only and
 * validates the whole header before anything is used: header length within the file and at most
 * TRDI_ST_MAX_HEADER bytes, UTF-8 JSON object, known dtypes, non-negative shapes without overflow,
 * end - begin == numel * dtype size, ranges inside the data area and not overlapping, no duplicate
 * names. Gaps between ranges are allowed. Errors name the file, the tensor and the problem
 * (TRDI_ERR_IO: cannot open/map; TRDI_ERR_FORMAT: malformed; TRDI_ERR_UNSUPPORTED: more than
 * TRDI_ST_MAX_DIMS dims). A file that is truncated by another process while mapped is not
 * detected (SIGBUS): do not modify weights while they are loaded. */

#define TRDI_ST_MAX_DIMS 8
#define TRDI_ST_MAX_HEADER 100000000 /* bytes; the limit of the reference implementation */

/* Element types of a safetensors file. F32 is 0 so that a zeroed write entry means float32. */
typedef enum trdi_st_dtype {
    TRDI_ST_F32 = 0,
    TRDI_ST_F16 = 1,
    TRDI_ST_BF16 = 2,
    TRDI_ST_F64 = 3,
    TRDI_ST_F8_E4M3 = 4, /* OCP FP8 E4M3 ("fn"): bias 7, no infinities, NaN = S.1111.111 */
    TRDI_ST_F8_E5M2 = 5, /* OCP FP8 E5M2: bias 15, IEEE-like (infinities, NaNs) */
    TRDI_ST_I64 = 6,
    TRDI_ST_I32 = 7,
    TRDI_ST_I16 = 8,
    TRDI_ST_I8 = 9,
    TRDI_ST_U8 = 10,
    TRDI_ST_BOOL = 11,
    TRDI_ST_U16 = 12,
    TRDI_ST_U32 = 13,
    TRDI_ST_U64 = 14
} trdi_st_dtype;

/* The safetensors spelling ("F32", "BF16", "F8_E4M3", ...); "?" for an unknown value. */
const char *trdi_st_dtype_name(trdi_st_dtype d);
/* Parses the safetensors spelling (exact, case-sensitive). TRDI_ERR_INVALID_ARG when unknown. */
trdi_status trdi_st_dtype_from_name(const char *name, trdi_st_dtype *out);
/* Bytes per element (0 for an unknown value). */
size_t trdi_st_dtype_size(trdi_st_dtype d);

/* Scalar conversions to float32, all exact (every value of these formats is a float32; NaN stays
 * NaN with the sign kept, infinities stay infinities). */
float trdi_f16_to_f32(uint16_t h);
float trdi_bf16_to_f32(uint16_t b);
float trdi_f8e4m3_to_f32(uint8_t v);
float trdi_f8e5m2_to_f32(uint8_t v);
/* float32 -> half / bfloat16 with round-to-nearest-even (as torch's .half() / .bfloat16()):
 * overflow gives infinity, NaN gives a quiet NaN. */
uint16_t trdi_f32_to_f16(float f);
uint16_t trdi_f32_to_bf16(float f);

/* Converts n elements of `dtype` at `src` (any alignment, little-endian) to float32. Integers and
 * BOOL convert by value (exact up to 2^24 in magnitude); F64 rounds to nearest. Half precision uses
 * F16C instructions when the CPU has them (bit-identical to the plain C path). */
trdi_status trdi_st_convert_to_f32(trdi_st_dtype dtype, const void *src, size_t n, float *dst);

/* One tensor of an open file. Everything points into the file handle and lives until it is
 * closed. */
typedef struct trdi_st_tensor {
    const char *name;
    trdi_st_dtype dtype;
    int ndim;                         /* 0 (a scalar) .. TRDI_ST_MAX_DIMS */
    int64_t shape[TRDI_ST_MAX_DIMS];  /* entries past ndim are 0 */
    int64_t numel;                    /* product of the shape (1 for a scalar) */
    const void *data;                 /* into the read-only mapping; NOT necessarily aligned */
    size_t nbytes;                    /* numel * trdi_st_dtype_size(dtype) */
    int64_t offset;                   /* byte offset of data within the file */
} trdi_st_tensor;

/* An open, validated safetensors file (read-only; safe to share between threads). */
typedef struct trdi_safetensors trdi_safetensors;

/* Maps and validates `path`. *out is NULL on failure. Close with trdi_safetensors_close(). */
trdi_status trdi_safetensors_open(const char *path, trdi_safetensors **out);
/* The same from `size` bytes in memory; the bytes are copied (the caller keeps its buffer).
 * `label` names the source in error messages (NULL: "<memory>"). */
trdi_status trdi_safetensors_open_memory(const void *data, size_t size, const char *label,
                                         trdi_safetensors **out);
void trdi_safetensors_close(trdi_safetensors *f);

/* The path (or label) it was opened with, owned by the handle. */
const char *trdi_safetensors_path(const trdi_safetensors *f);
/* Number of tensors (not counting __metadata__). */
int64_t trdi_safetensors_count(const trdi_safetensors *f);
/* Tensor i (0 <= i < count) in order of data offset; NULL when out of range. */
const trdi_st_tensor *trdi_safetensors_at(const trdi_safetensors *f, int64_t i);
/* The tensor called `name`, or NULL when there is none (no error is recorded: for optional
 * tensors). O(log n). */
const trdi_st_tensor *trdi_safetensors_lookup(const trdi_safetensors *f, const char *name);
/* Like lookup, but a missing tensor is TRDI_ERR_FORMAT "FILE: no tensor named 'NAME'". */
trdi_status trdi_safetensors_find(const trdi_safetensors *f, const char *name,
                                  const trdi_st_tensor **out);
/* __metadata__: the value of `key` (NULL when absent), the number of entries, and entry i (key and
 * value owned by the handle; i in [0, count), else both NULL). */
const char *trdi_safetensors_metadata(const trdi_safetensors *f, const char *key);
int64_t trdi_safetensors_metadata_count(const trdi_safetensors *f);
void trdi_safetensors_metadata_at(const trdi_safetensors *f, int64_t i, const char **key,
                                  const char **value);

/* Reads tensor `name` converted to float32 into dst (count floats, which must equal its numel;
 * TRDI_ERR_INVALID_ARG otherwise, naming the tensor, both counts and the file). */
trdi_status trdi_safetensors_read_f32(const trdi_safetensors *f, const char *name, float *dst,
                                      size_t count);
/* The same, but the tensor must have exactly the shape (ndim, shape) (TRDI_ERR_FORMAT naming the
 * tensor, the file, both shapes). For model loaders. */
trdi_status trdi_safetensors_read_f32_shape(const trdi_safetensors *f, const char *name, int ndim,
                                            const int64_t *shape, float *dst);
/* Copies tensor `name`'s stored bytes (little-endian, as in the file) into dst. The tensor must
 * have dtype `dtype` and exactly `nbytes` bytes (TRDI_ERR_FORMAT naming the tensor and the file
 * otherwise). For loaders that keep a dtype as it is (fp16 weights). */
trdi_status trdi_safetensors_read_raw(const trdi_safetensors *f, const char *name,
                                      trdi_st_dtype dtype, void *dst, size_t nbytes);
/* Allocates and reads tensor `name` as float32: *out (numel floats, free() it) and, when numel is
 * not NULL, its element count. *out is NULL on failure. */
trdi_status trdi_safetensors_load_f32(const trdi_safetensors *f, const char *name, float **out,
                                      int64_t *numel);

/* An expected tensor for trdi_safetensors_check. */
typedef struct trdi_st_spec {
    const char *name;
    int ndim;
    int64_t shape[TRDI_ST_MAX_DIMS];
} trdi_st_spec;

/* Checks that every expected tensor exists with exactly its shape and a floating dtype (F32, F16,
 * BF16, F64, F8_*), and, unless allow_unexpected, that the file has no other tensors. On a mismatch
 * returns TRDI_ERR_FORMAT whose message gives the counts and the first few problems, each by name
 * and shape ("missing conv_in.weight [16, 4, 3, 3]", "conv_out.bias: shape [8], expected [4]").
 * When report is not NULL, *report receives every problem, one per line (malloc'd, free() it; NULL
 * when there is none). */
trdi_status trdi_safetensors_check(const trdi_safetensors *f, const trdi_st_spec *expected,
                                   int64_t n, bool allow_unexpected, char **report);

/* A tensor to write: name (unique, not "__metadata__"), dtype (zero = TRDI_ST_F32), ndim
 * (0..TRDI_ST_MAX_DIMS), shape, and numel * dtype size bytes of little-endian data (any
 * alignment; may be NULL only when numel is 0). */
typedef struct trdi_st_write_entry {
    const char *name;
    trdi_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
} trdi_st_write_entry;

/* Writes a standard safetensors file readable by the reference library: compact JSON header with
 * __metadata__ first (when given) and tensors in the order given, padded with spaces to a multiple
 * of 8 bytes, then the data in the same order (every tensor 8-byte aligned when its size is a
 * multiple of 8). `metadata` is NULL or a NULL-terminated list of key, value strings. Written to a
 * temporary file in the same folder and renamed: on failure nothing is left at `path` (an existing
 * file is kept). Entries are validated first (TRDI_ERR_INVALID_ARG naming the entry). */
trdi_status trdi_safetensors_write(const char *path, const trdi_st_write_entry *tensors, int64_t n,
                                   const char *const *metadata);

/* Diffusers model folders (DiffusionPipeline.save_pretrained layout): model_index.json lists the
 * components as "name": [library, class] ([null, null] = absent); each component is a sub-folder
 * with its config (config.json; scheduler_config.json for schedulers; tokenizer_config.json,
 * optional, for tokenizers) and, for models, a safetensors weights file named
 * diffusion_pytorch_model[.VARIANT].safetensors (diffusers) or model[.VARIANT].safetensors
 * (transformers). Opening parses model_index.json and every config; the known components
 * (scheduler, text_encoder, text_encoder_2, tokenizer, tokenizer_2, unet, vae) must have their
 * folder and config, others (safety_checker, feature_extractor, ...) are listed but optional.
 * Weights files are located at open and mapped only by trdi_diffusers_open_weights. Sharded
 * (*.safetensors.index.json) and pickle (*.bin) weights are TRDI_ERR_UNSUPPORTED when asked for. */

/* Which weights file to use. AUTO prefers the full-precision file (`X.safetensors`, whatever
 * dtype it holds) and falls back to `X.fp16.safetensors`, then `X.bf16.safetensors`; the others
 * require exactly their file (as diffusers' `variant=`). */
typedef enum trdi_weights_variant {
    TRDI_VARIANT_AUTO = 0,
    TRDI_VARIANT_FP32 = 1, /* X.safetensors */
    TRDI_VARIANT_FP16 = 2, /* X.fp16.safetensors */
    TRDI_VARIANT_BF16 = 3  /* X.bf16.safetensors */
} trdi_weights_variant;

/* "auto", "fp32", "fp16", "bf16". */
const char *trdi_weights_variant_name(trdi_weights_variant v);
trdi_status trdi_weights_variant_from_name(const char *name, trdi_weights_variant *out);

/* An open model folder (read-only after open; safe to share between threads). */
typedef struct trdi_diffusers trdi_diffusers;

/* Opens `dir`. Errors name the file and key (TRDI_ERR_IO: missing folder/model_index.json/config;
 * TRDI_ERR_FORMAT: malformed JSON or entry). *out NULL on failure. Free with
 * trdi_diffusers_free. */
trdi_status trdi_diffusers_open(const char *dir, trdi_weights_variant variant,
                                trdi_diffusers **out);
void trdi_diffusers_free(trdi_diffusers *m);

/* The folder, the pipeline class (model_index.json "_class_name", e.g.
 * "StableDiffusionXLPipeline") and the requested variant. Strings owned by the handle. */
const char *trdi_diffusers_dir(const trdi_diffusers *m);
const char *trdi_diffusers_class(const trdi_diffusers *m);
trdi_weights_variant trdi_diffusers_variant(const trdi_diffusers *m);

/* Components present (non-null in model_index.json), in file order; name i (NULL when out of
 * range). */
int64_t trdi_diffusers_component_count(const trdi_diffusers *m);
const char *trdi_diffusers_component_name(const trdi_diffusers *m, int64_t i);
bool trdi_diffusers_has(const trdi_diffusers *m, const char *component);
/* The component's class ("CLIPTextModel") and, when library is not NULL, its library
 * ("transformers"); NULL (both) when there is no such component. Owned by the handle. */
const char *trdi_diffusers_component_class(const trdi_diffusers *m, const char *component,
                                           const char **library);
/* The component's folder (e.g. for the tokenizer's vocab.json / merges.txt). Owned by the
 * handle. */
trdi_status trdi_diffusers_component_dir(const trdi_diffusers *m, const char *component,
                                         const char **out);
/* The config file path of a component (NULL component: model_index.json). */
trdi_status trdi_diffusers_config_path(const trdi_diffusers *m, const char *component,
                                       const char **out);
/* Typed reads of a required key of a component's config (NULL component: model_index.json).
 * TRDI_ERR_FORMAT names the file and key when missing, null or of the wrong type. */
trdi_status trdi_diffusers_config_int(const trdi_diffusers *m, const char *component,
                                      const char *key, int64_t *out);
trdi_status trdi_diffusers_config_double(const trdi_diffusers *m, const char *component,
                                         const char *key, double *out);
trdi_status trdi_diffusers_config_bool(const trdi_diffusers *m, const char *component,
                                       const char *key, bool *out);
trdi_status trdi_diffusers_config_string(const trdi_diffusers *m, const char *component,
                                         const char *key, const char **out);

/* The weights file chosen for a model component (owned by the handle) and which variant it is
 * (never AUTO). Fails naming the folder and the files looked for when there is none, or
 * TRDI_ERR_INVALID_ARG for a component without weights (tokenizer, scheduler). */
trdi_status trdi_diffusers_weights_path(const trdi_diffusers *m, const char *component,
                                        const char **path, trdi_weights_variant *chosen);
/* Opens (maps and validates) that file; close it with trdi_safetensors_close. */
trdi_status trdi_diffusers_open_weights(const trdi_diffusers *m, const char *component,
                                        trdi_safetensors **out);
/* trdi_safetensors_check on the component's weights file. */
trdi_status trdi_diffusers_check_weights(const trdi_diffusers *m, const char *component,
                                         const trdi_st_spec *expected, int64_t n,
                                         bool allow_unexpected, char **report);

/* ============================================================================================== */
/* Text: CLIP tokenizer and text encoders                                    (src/model/clip*.c)  */
/* ============================================================================================== */

/* @@SECTION text */

/* --- CLIP BPE tokenizer (src/model/clip_tokenizer.c, src/model/text_normalize.c) ----------------
 * Reproduces transformers' slow CLIPTokenizer as the Stable Diffusion pipelines call it:
 * `tokenizer(prompt, padding="max_length", max_length=77, truncation=True)`. Added/special tokens
 * (<|startoftext|>, <|endoftext|>, and `!` when it is the pad token as in SD 2.x / SDXL
 * tokenizer_2) are cut out of the raw prompt first; each remaining piece is normalised as
 * whitespace_clean(ftfy.fix_text(text)).lower() (ftfy without mojibake repair, see
 * docs/tokenizer.md), split by the CLIP regex, byte-mapped and BPE-merged. Any byte string is
 * accepted: invalid UTF-8 becomes U+FFFD. */

/* A loaded tokenizer. Immutable after loading: encoding with one tokenizer from several threads at
 * once is safe. */
typedef struct trdi_tokenizer trdi_tokenizer;

/* Loads the tokenizer folder `dir` (vocab.json, merges.txt and, when present,
 * tokenizer_config.json / special_tokens_map.json for the bos/eos/unk/pad tokens and added tokens;
 * missing config files mean CLIP's defaults). Malformed files give TRDI_ERR_FORMAT (missing ones
 * TRDI_ERR_IO) with a message naming the file and line. *out is NULL on failure; free with
 * trdi_tokenizer_free(). */
trdi_status trdi_tokenizer_load(const char *dir, trdi_tokenizer **out);
void trdi_tokenizer_free(trdi_tokenizer *tok);

/* The result of one encode. Owned by the caller; release with trdi_tokens_clear(). */
typedef struct trdi_tokens {
    int64_t *input_ids;       /* (max_length) BOS, ids[:max_length-2], EOS, then pad ids */
    int64_t max_length;       /* length of input_ids */
    int64_t length;           /* BOS + kept tokens + EOS = sum(attention_mask), <= max_length */
    bool truncated;           /* more than max_length ids before truncation */
    int64_t n_tokens;         /* tokens before truncation, without BOS/EOS */
    int64_t *token_ids;       /* (n_tokens) their ids (`ids_untruncated` without BOS/EOS) */
    const char **bpe_tokens;  /* (n_tokens) tokenizer.tokenize(prompt): byte-mapped BPE strings
                               * ("</w>" ends a word); the strings belong to the tokenizer and stay
                               * valid until trdi_tokenizer_free(); the array is the caller's */
} trdi_tokens;

/* Encodes the NUL-terminated UTF-8 `prompt` (NULL = "") into *out, truncated to max_length - 2
 * tokens plus BOS/EOS and padded with the pad id to max_length (0 = the folder's
 * model_max_length, 77 for Stable Diffusion; else >= 2). *out is zeroed on failure. */
trdi_status trdi_tokenizer_encode(const trdi_tokenizer *tok, const char *prompt, int64_t max_length,
                                  trdi_tokens *out);
/* Same for `len` bytes that may contain NULs. */
trdi_status trdi_tokenizer_encode_n(const trdi_tokenizer *tok, const char *prompt, size_t len,
                                    int64_t max_length, trdi_tokens *out);
void trdi_tokens_clear(trdi_tokens *t);

/* Ids of the special tokens and sizes, from the folder (49406 / 49407 / pad 49407 or 0 / 49408
 * / 77 for Stable Diffusion's CLIP). vocab_size counts vocab.json entries plus added tokens that
 * were not in it. */
int64_t trdi_tokenizer_bos_id(const trdi_tokenizer *tok);
int64_t trdi_tokenizer_eos_id(const trdi_tokenizer *tok);
int64_t trdi_tokenizer_pad_id(const trdi_tokenizer *tok);
int64_t trdi_tokenizer_vocab_size(const trdi_tokenizer *tok);
int64_t trdi_tokenizer_model_max_length(const trdi_tokenizer *tok);
/* The string of token `id` (owned by the tokenizer), or NULL when no token has that id. */
const char *trdi_tokenizer_token_string(const trdi_tokenizer *tok, int64_t id);

/* text encoder */
/* --- CLIP text encoder (src/model/clip_text.c) --------------------------------------------------
 * transformers' CLIPTextModel / CLIPTextModelWithProjection (eager attention), float32 compute:
 * x = token_embedding[ids] + position_embedding[0..T-1]; per layer (pre-LN)
 * x += out_proj(attn(LN1(x))) with a causal mask and no padding mask, x += fc2(act(fc1(LN2(x))))
 * with act = quick_gelu or exact gelu (config hidden_act); last_hidden_state = final_layer_norm(x);
 * pooled = last_hidden_state[argmax(ids)] (config eos_token_id == 2, transformers' legacy rule: the
 * first highest id, i.e. the first <|endoftext|>), else at the first id equal to eos_token_id;
 * text_embeds = text_projection(pooled) (WithProjection only). */

/* A loaded text encoder: immutable weights plus one activation arena, so one forward at a time per
 * handle (use one handle per thread). */
typedef struct trdi_text_encoder trdi_text_encoder;

typedef struct trdi_text_encoder_params {
    /* Which file of the folder: AUTO (default) model.safetensors, else model.fp16.safetensors,
     * else model.bf16.safetensors; FP32 / FP16 / BF16 exactly that file (trdi_weights_variant). */
    trdi_weights_variant variant;
} trdi_text_encoder_params;

trdi_text_encoder_params trdi_text_encoder_default_params(void);

/* Loads a diffusers text_encoder folder `dir`: config.json (hidden_size, intermediate_size,
 * num_attention_heads, num_hidden_layers, max_position_embeddings, vocab_size, hidden_act,
 * layer_norm_eps [1e-5], eos_token_id [2], projection_dim, architectures) and the weights
 * (F32 / F16 / BF16, converted to float32; the token embedding stays in the memory-mapped file and
 * rows are converted when looked up). Errors: TRDI_ERR_IO (missing files), TRDI_ERR_FORMAT (bad
 * config field, missing tensor or wrong shape, each named with the file), TRDI_ERR_UNSUPPORTED
 * (another hidden_act or model_type). *out is NULL on failure; free with trdi_text_encoder_free(). */
trdi_status trdi_text_encoder_load(const char *dir, const trdi_text_encoder_params *params,
                                   trdi_text_encoder **out);
/* The same for component `component` ("text_encoder", "text_encoder_2") of an open diffusers
 * folder, with the folder's config and weights-file choice (its variant). The component's class
 * must be CLIPTextModel or CLIPTextModelWithProjection (TRDI_ERR_UNSUPPORTED otherwise). */
trdi_status trdi_text_encoder_load_component(const trdi_diffusers *model, const char *component,
                                             trdi_text_encoder **out);
void trdi_text_encoder_free(trdi_text_encoder *enc);

/* Configuration of a loaded encoder (owned by it). */
typedef struct trdi_text_encoder_info {
    int64_t hidden_size, intermediate_size, num_heads, num_layers;
    int64_t max_positions; /* 77 for Stable Diffusion */
    int64_t vocab_size;
    int64_t eos_token_id;
    int64_t projection_dim; /* 0 without a text_projection (CLIPTextModel) */
    double layer_norm_eps;
    bool quick_gelu; /* false: exact gelu */
    const char *weights_path; /* the safetensors file that was loaded */
} trdi_text_encoder_info;
const trdi_text_encoder_info *trdi_text_encoder_get_info(const trdi_text_encoder *enc);

/* Outputs of one forward, owned by the caller (one allocation; trdi_text_output_clear()). */
typedef struct trdi_text_output {
    int64_t seq_len, hidden_size, num_layers;
    float *hidden_states;     /* (num_layers + 1, seq_len, hidden_size): [0] embeddings, [l] the
                               * output of layer l (residual stream, before final_layer_norm) */
    float *last_hidden_state; /* (seq_len, hidden_size) final_layer_norm(hidden_states[num_layers]) */
    float *pooled;            /* (hidden_size) pooler_output */
    int64_t pooled_index;     /* the row of last_hidden_state that `pooled` copies */
    float *text_embeds;       /* (projection_dim) text_projection(pooled), NULL without projection */
    int64_t projection_dim;
} trdi_text_output;

/* Runs the encoder on n_ids token ids (1..max_positions; the pipelines pass 77, padded). Fails
 * with TRDI_ERR_INVALID_ARG on a bad count or an id outside the vocabulary (naming its position).
 * *out is zeroed on failure. */
trdi_status trdi_text_encoder_forward(trdi_text_encoder *enc, const int64_t *ids, int64_t n_ids,
                                      trdi_text_output *out);
void trdi_text_output_clear(trdi_text_output *out);

/* Applies the encoder's final_layer_norm to rows (n, hidden_size) of x into y (y may equal x). */
trdi_status trdi_text_encoder_final_norm(const trdi_text_encoder *enc, const float *x, int64_t n,
                                         float *y);

/* The conditioning a Stable Diffusion pipeline gives its UNet (diffusers encode_prompt), owned by
 * the caller; release with trdi_prompt_embeds_clear(). */
typedef struct trdi_prompt_embeds {
    int64_t seq_len;    /* tokens (77) */
    int64_t dim;        /* features per token (the UNet's cross_attention_dim) */
    float *embeds;      /* (seq_len, dim) prompt_embeds */
    int64_t pooled_dim; /* SDXL: text_encoder_2's projection_dim; 0 otherwise */
    float *pooled;      /* (pooled_dim) SDXL pooled_prompt_embeds, else NULL */
} trdi_prompt_embeds;

/* Prompt embeddings as diffusers' encode_prompt computes them for one prompt.
 * SD 1.x / 2.x (enc2 == NULL): last_hidden_state; with clip_skip c > 0,
 *   final_layer_norm(hidden_states[-(c + 1)]) (c <= num_layers).
 * SDXL (enc2 = text_encoder_2, a CLIPTextModelWithProjection; ids2 its token ids):
 *   concat(hidden_states[-(c + 2)] of enc, of enc2) on the feature axis, no final norm
 *   (c = clip_skip, 0 = the penultimate layer; c <= num_layers - 1 for both), and
 *   pooled = enc2's text_embeds.
 * ids / ids2: n_ids token ids each. *out is zeroed on failure.
 * diffusers applies clip_skip to the prompt only: encode negative prompts with clip_skip 0. */
trdi_status trdi_prompt_embeds_encode(trdi_text_encoder *enc, const int64_t *ids,
                                      trdi_text_encoder *enc2, const int64_t *ids2, int64_t n_ids,
                                      int64_t clip_skip, trdi_prompt_embeds *out);
/* All-zero embeddings of the same shapes as `like` (SDXL's negative prompt when
 * force_zeros_for_empty_prompt is true and no negative prompt is given). */
trdi_status trdi_prompt_embeds_zeros_like(const trdi_prompt_embeds *like, trdi_prompt_embeds *out);
void trdi_prompt_embeds_clear(trdi_prompt_embeds *e);

/* ============================================================================================== */
/* Image metrics                                                             (src/metrics/)       */
/* ============================================================================================== */

/* @@SECTION metrics: basic (PSNR, MSE, SSIM skimage) */

/* Every metric compares two 8-bit images of the same width, height and channel count
 * (TRDI_ERR_INVALID_ARG otherwise) and writes a double; `a` and `b` play symmetric roles. */

/* PSNR as scikit-image's peak_signal_noise_ratio(a, b) on uint8 arrays: data_range 255,
 * 10 log10(255^2 / mean((a - b)^2)) over all H*W*C values, in double. Identical images give
 * +INFINITY (skimage returns inf there too); callers printing JSON should write "inf". */
trdi_status trdi_psnr(const trdi_image *a, const trdi_image *b, double *out);

/* MSE of the images scaled to [0, 1] (x / 255), over all C*H*W values, as torchmetrics'
 * MeanSquaredError on TRDI's float32 inputs (computed here in double; the float32 reference
 * differs by ~1e-7 relative). */
trdi_status trdi_mse(const trdi_image *a, const trdi_image *b, double *out);

/* SSIM as scikit-image's structural_similarity(a, b, win_size=11, channel_axis=2) on uint8
 * (data_range 255, the variant TRDI's scripts print): 11x11 uniform window, sample covariance
 * (N / (N - 1) = 121/120), K1 = 0.01, K2 = 0.03, the SSIM map cropped by 5 pixels on every side
 * (only windows inside the image), averaged per channel, then over channels. Both sides must be
 * at least 11 (TRDI_ERR_INVALID_ARG otherwise, as skimage raises). Double precision. */
trdi_status trdi_ssim(const trdi_image *a, const trdi_image *b, double *out);

/* @@SECTION metrics: evaluation (SSIM torchmetrics, LPIPS, masks) */

/* The metrics of the authors' evaluation (TRDI evaluate_my.py / matrics_calculator.py with
 * torchmetrics, and the lpips package), computed on 8-bit images that are first scaled to [0, 1]
 * as float32 x / 255 (as upstream). Float inputs below are planar (channels, height, width). */

/* SSIM with a Gaussian window, as torchmetrics' StructuralSimilarityIndexMeasure: per channel, the
 * images are reflect-padded by (kernel_size - 1) / 2 (the edge pixel not repeated), filtered with
 * the normalised 2-D Gaussian (outer product of exp(-(i / sigma)^2 / 2), i = -(k-1)/2..(k-1)/2);
 * from mu_x, mu_y, E[x^2], E[y^2], E[xy]: s_xx = max(E[x^2] - mu_x^2, 0), s_yy likewise,
 * s_xy = E[xy] - mu_x mu_y, C1 = (k1 R)^2, C2 = (k2 R)^2 (R = data_range),
 * ssim = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_xx + s_yy + C2));
 * result = mean of the map over channels x height x width. Like upstream, the arithmetic after the
 * filter is float32 (the filter sums are taken in double and rounded to float32). */
typedef struct trdi_ssim_gauss_params {
    double data_range;   /* 1.0: inputs in [0, 1] */
    double sigma;        /* 1.5 */
    int64_t kernel_size; /* 11; odd, >= 1 */
    double k1, k2;       /* 0.01, 0.03 */
    bool crop_border;    /* false (default): mean over the whole map, torchmetrics >= 1.4.2;
                            true: crop (kernel_size - 1) / 2 pixels off every side first, as
                            torchmetrics <= 1.4.1 (an empty crop gives NaN, as it does) */
} trdi_ssim_gauss_params;

/* data_range 1, sigma 1.5, kernel 11, k1 0.01, k2 0.03, no crop: the paper's SSIM. */
trdi_ssim_gauss_params trdi_ssim_gauss_default_params(void);

/* SSIM of float planes x, y (channels, height, width); p NULL = defaults. Height and width must
 * exceed (kernel_size - 1) / 2 (reflect padding; torch raises otherwise): TRDI_ERR_INVALID_ARG
 * "too small" else. Non-finite inputs: TRDI_ERR_NUMERIC. */
trdi_status trdi_ssim_gauss(const float *x, const float *y, int64_t channels, int64_t height,
                            int64_t width, const trdi_ssim_gauss_params *p, double *out);

/* The paper's SSIM on two 8-bit images of the same size and channels: trdi_ssim_gauss with the
 * defaults on x / 255. Both sides must be >= 6 (TRDI_ERR_INVALID_ARG otherwise). */
trdi_status trdi_ssim_torchmetrics(const trdi_image *a, const trdi_image *b, double *out);

/* --- LPIPS (lpips 0.1.4, Zhang et al. 2018; also torchmetrics' copy) -------------------------- */

typedef enum trdi_lpips_net {
    TRDI_LPIPS_ALEX = 0,    /* "alex": torchvision AlexNet features, 5 layers */
    TRDI_LPIPS_SQUEEZE = 1, /* "squeeze": SqueezeNet 1.1 features, 7 layers (the paper's) */
    TRDI_LPIPS_VGG = 2      /* "vgg": VGG16 features, 5 layers */
} trdi_lpips_net;

const char *trdi_lpips_net_name(trdi_lpips_net n);
trdi_status trdi_lpips_net_from_name(const char *name, trdi_lpips_net *out);
/* The smallest height / width the backbone accepts (alex 31, squeeze 17, vgg 16; PyTorch raises
 * below); 0 for an unknown value. */
int64_t trdi_lpips_min_side(trdi_lpips_net n);

/* An LPIPS network: backbone + linear layers, immutable after loading (thread-safe scoring). */
typedef struct trdi_lpips trdi_lpips;

/* Loads a safetensors file holding both the backbone and the linear layers, e.g. what
 * tools/lpips_to_safetensors.py writes or an lpips.LPIPS(...).state_dict(). The backbone is
 * recognised from the tensor names; accepted spellings: lpips' "net.slice<k>.<i>.<param>",
 * torchmetrics' "net.slices.<k-1>.<i>.<param>" and torchvision's "features.<i>.<param>" (i = the
 * torchvision features index); linear layers "lin<k>.model.1.weight" or "lins.<k>.model.1.weight"
 * ([1, C_k, 1, 1]); "scaling_layer.shift" / ".scale" when present, else lpips' constants
 * (-0.030, -0.088, -0.188) / (0.458, 0.448, 0.450). Any floating dtype (F32, F16, BF16, F8, F64).
 * Errors: TRDI_ERR_IO (cannot open), TRDI_ERR_FORMAT (not safetensors, no recognisable backbone,
 * a missing tensor or a wrong shape: named in the message). *out NULL on failure; free with
 * trdi_lpips_free(). */
trdi_status trdi_lpips_load(const char *path, trdi_lpips **out);
void trdi_lpips_free(trdi_lpips *m);
trdi_lpips_net trdi_lpips_backbone(const trdi_lpips *m);
/* Number of compared layers (5 or 7). */
int64_t trdi_lpips_layers(const trdi_lpips *m);

/* LPIPS.forward(in0, in1) on float planes (3, height, width), exactly what the network receives
 * (lpips expects [-1, 1]; TRDI's scripts feed x / 255 to alex, which is this call on [0, 1]
 * values): ScalingLayer (in - shift) / scale; the backbone on each image; per layer, channel
 * vectors unit-normalised as f / (sqrt(sum_c f^2) + 1e-10), d = (f0 - f1)^2, the 1x1 linear layer
 * (no bias), the spatial mean; LPIPS = sum over layers. `per_layer` (NULL or trdi_lpips_layers()
 * doubles) receives the layer terms. Sides below trdi_lpips_min_side: TRDI_ERR_INVALID_ARG
 * "too small". Allocates its activations per call (two of the largest feature maps plus the
 * compared layers of one image: about 0.3 GB for VGG at 512 x 512, 0.1 GB for squeeze). */
trdi_status trdi_lpips_score_f32(const trdi_lpips *m, const float *in0, const float *in1,
                                 int64_t height, int64_t width, double *out, double *per_layer);

/* LPIPS of two 8-bit RGB images (same size) as the evaluation calls it: inputs 2 (x / 255) - 1.
 * Gray (1-channel) images are replicated to RGB. */
trdi_status trdi_lpips_score(const trdi_lpips *m, const trdi_image *a, const trdi_image *b,
                             double *out);

/* --- PIE-Bench masks ------------------------------------------------------------------------ */

/* PIE-Bench's evaluate_my.mask_decode: a height x width gray mask (0 or 255) from run-length pairs
 * (start, length) over the row-major flattened map (n_values entries, even): each run sets
 * min(length, H*W - start) pixels from `start` (runs may wrap rows; starts past the end add
 * nothing); then row 0, row H-1, column 0 and column W-1 are set (the border frame upstream
 * forces). Negative values or an odd count: TRDI_ERR_INVALID_ARG naming the pair. */
trdi_status trdi_mask_decode_rle(const int64_t *rle, int64_t n_values, int64_t height,
                                 int64_t width, trdi_image *out);

/* Which part of an image a masked metric scores (1 = edited in the mask). */
typedef enum trdi_mask_region {
    TRDI_REGION_FULL = 0,     /* "full": no mask */
    TRDI_REGION_UNEDITED = 1, /* "unedited": img * (1 - mask), upstream's *_unedit_part */
    TRDI_REGION_EDITED = 2    /* "edited": img * mask, upstream's *_edit_part */
} trdi_mask_region;

const char *trdi_mask_region_name(trdi_mask_region r);
trdi_status trdi_mask_region_from_name(const char *name, trdi_mask_region *out);

/* Copies `img` with the pixels outside `region` set to 0, as upstream multiplies both images by
 * the 0/1 mask before a metric (the zeros stay in every average). A mask pixel is "edited" when any
 * of its channels is nonzero; the mask (1 or 3 channels) must have the image's width and height
 * (TRDI_ERR_INVALID_ARG naming both sizes). *kept (may be NULL) receives the number of pixels kept:
 * 0 means the region is empty, where upstream reports "nan" instead of a score. FULL copies. */
trdi_status trdi_image_apply_mask(const trdi_image *img, const trdi_image *mask,
                                  trdi_mask_region region, trdi_image *out, int64_t *kept);

/* --- All metrics of one image pair ------------------------------------------------------------ */

typedef enum trdi_metric {
    TRDI_METRIC_PSNR = 0,              /* "psnr": trdi_psnr (scikit-image, data range 255) */
    TRDI_METRIC_MSE = 1,               /* "mse": trdi_mse (images in [0, 1]) */
    TRDI_METRIC_SSIM_SKIMAGE = 2,      /* "ssim_skimage": trdi_ssim */
    TRDI_METRIC_SSIM_TORCHMETRICS = 3, /* "ssim_torchmetrics": trdi_ssim_torchmetrics */
    TRDI_METRIC_LPIPS_ALEX = 4,        /* "lpips_alex": trdi_lpips_score */
    TRDI_METRIC_LPIPS_SQUEEZE = 5,     /* "lpips_squeeze" */
    TRDI_METRIC_LPIPS_VGG = 6          /* "lpips_vgg" */
} trdi_metric;
#define TRDI_METRIC_COUNT 7

/* The JSON field name ("psnr", ..., "lpips_vgg"); "?" for an unknown value. */
const char *trdi_metric_name(trdi_metric m);
trdi_status trdi_metric_from_name(const char *name, trdi_metric *out);
/* The smallest height / width the metric accepts as upstream (psnr, mse 1; ssim_skimage 11;
 * ssim_torchmetrics 6; lpips as trdi_lpips_min_side). */
int64_t trdi_metric_min_side(trdi_metric m);

/* One metric value. `available` false means no number exists: `why` says which of "no LPIPS
 * weights", "image too small", "empty region" (value NaN). PSNR of identical images is available
 * with value +INFINITY. */
typedef struct trdi_metric_value {
    bool available;
    double value;
    const char *why; /* static string, NULL when available */
} trdi_metric_value;

/* Every metric in every region: v[region][metric]. Without a mask only region FULL is filled
 * (the other regions are unavailable, why "no mask"). */
typedef struct trdi_metrics {
    trdi_metric_value v[3][TRDI_METRIC_COUNT];
    bool masked;
} trdi_metrics;

typedef struct trdi_metrics_params {
    const trdi_image *mask;             /* NULL: no masked variants; else 1 = edited (nonzero) */
    const trdi_lpips *const *lpips;     /* n_lpips loaded networks, at most one per backbone */
    int64_t n_lpips;
} trdi_metrics_params;

/* No mask, no LPIPS networks. */
trdi_metrics_params trdi_metrics_default_params(void);

/* Scores `output` against `reference` (same width, height and channels, else
 * TRDI_ERR_INVALID_ARG): every metric on the full images, and with a mask on the unedited and
 * edited parts (both images masked by trdi_image_apply_mask, then the same metric; an empty region
 * is unavailable, "empty region"). Masked PSNR is torchmetrics' 10 log10(1 / MSE) of the [0, 1]
 * images (the PSNR upstream masks; equal to scikit-image's up to rounding). A metric the images are
 * too small for is unavailable ("image too small"), LPIPS without a network for its backbone is
 * unavailable ("no LPIPS weights"); neither is an error. Two networks of one backbone:
 * TRDI_ERR_INVALID_ARG. *out is zeroed on failure. */
trdi_status trdi_metrics_compute(const trdi_image *reference, const trdi_image *output,
                                 const trdi_metrics_params *p, trdi_metrics *out);

/* ============================================================================================== */
/* Pipeline: image -> latent -> invert -> sample -> image                   (src/pipeline/)      */
/* ============================================================================================== */

/* @@SECTION calibration: owned by the calibration work (issue 7, src/calib/). */

/* Calibrated schedules (docs/calibration.md): the timestep list chosen by dynamic programming over
 * a surrogate of the model's OWN measured single-step inversion error.
 * 1. Measurement: each calibration input (a clean latent) is inverted with DDIM along a jittered
 *    ladder of levels (the model's own inversion trajectory); from points s of that trajectory
 *    (s = -1 is the clean end) a single step of size d is inverted from a[s] to a[s + d] with the
 *    model at s + d and sampled back (trdi_ddim_roundtrip); its RMS error is recorded.
 * 2. Surrogate: per source s, log err = a(s) + p(s) log(d / D) (D = N div steps), fitted in log
 *    space with second-difference smoothing over s; p(s) >= 0.05, so the surrogate is smooth and
 *    increasing in d. Fit quality: R^2 and RMS of the log residuals.
 * 3. Schedule: dynamic programming with the end points of the uniform list fixed.
 *    CONSISTENT stepping: a step from u to t costs f(u, t - u).
 *    REFERENCE stepping: the step at t jumps a[t - D] -> a[t] whatever the neighbours are, so it
 *    costs f(t - D, D) (f(-1, t + 1) below D) and the DP picks the cheapest timesteps. Without a
 *    minimum gap it would bunch them (e.g. 901, 9, 8, ..., 1), which round-trips almost exactly
 *    but leaves the latent far from the noise level a[first]: min_gap defaults to D div 2.
 * The predicted error of a list is the sum of its steps' surrogate costs (clean-end step
 * included); the calibrated list's is never above the uniform list's. */
typedef struct trdi_calib_params {
    int64_t steps;             /* n >= 1 timesteps of the schedule (20) */
    trdi_stepping stepping;    /* the stepping the schedule will run with (CONSISTENT) */
    int64_t budget;            /* model evaluations for the whole calibration (600); at least
                                  TRDI_CALIB_MIN_BUDGET per input */
    uint64_t seed;             /* jitter of the measurement ladder (0) */
    int64_t min_gap;           /* least distance between consecutive timesteps; 0 (default) =
                                  1 for CONSISTENT, D div 2 for REFERENCE (see below) */
    const char *prompt;        /* conditioning (NULL = "") */
    float guidance;            /* <= 1: one conditional pass (0) */
    /* phase "trajectory" then "grid", per evaluation unit; return false to cancel; NULL */
    bool (*progress)(void *user, const char *phase, int64_t step, int64_t total);
    void *progress_user;
} trdi_calib_params;

#define TRDI_CALIB_MIN_BUDGET 48 /* evaluations per calibration input */

trdi_calib_params trdi_calib_default_params(void);

/* One measured point (the mean over the calibration inputs). */
typedef struct trdi_calib_point {
    int64_t s;          /* source timestep (-1 = the clean end) */
    int64_t d;          /* step size; the model is evaluated at s + d */
    double err_rms;     /* mean over inputs of the round trip's RMS error (latent units) */
    double predicted;   /* the surrogate at (s, d) */
} trdi_calib_point;

/* A calibration. Owned by the caller: trdi_calib_result_clear(). A result read back from a file
 * (trdi_calib_result_load) has no points and no surrogate (n_sources = 0). */
typedef struct trdi_calib_result {
    int64_t steps;              /* n */
    trdi_stepping stepping;
    int64_t budget;
    uint64_t seed;
    int64_t min_gap;            /* the gap used (resolved from the params) */
    int64_t num_train_timesteps;
    int64_t *timesteps;         /* (steps) the calibrated list, descending */
    int64_t *uniform;           /* (steps) the uniform list, descending (same end points) */
    double predicted;           /* surrogate total error of `timesteps` */
    double predicted_uniform;   /* surrogate total error of `uniform` */
    double fit_r2;              /* R^2 of the surrogate on the log errors */
    double fit_log_rms;         /* RMS of log(measured / predicted) (~ relative RMS) */
    int64_t nfe;                /* model evaluations used (<= budget) */
    int64_t n_inputs;
    int64_t n_sources;          /* surrogate knots: source timesteps and their a, p */
    int64_t *source_t;          /* (n_sources) ascending, -1 first */
    double *fit_a, *fit_p;      /* (n_sources) */
    int64_t step_ref;           /* D: the step size at which a(s) is the log error */
    trdi_calib_point *points;   /* (n_points) by source, then step size */
    int64_t n_points;
} trdi_calib_result;

/* Calibrates on `inputs` (n_inputs clean latents of the model's latent shape, (n_inputs, C, H, W)).
 * Errors (TRDI_ERR_INVALID_ARG naming the argument): steps < 1 or > N, budget below
 * TRDI_CALIB_MIN_BUDGET * n_inputs or above 10^7, no inputs, non-finite inputs, an unknown prompt
 * label; TRDI_ABORTED when progress cancels; the model's errors. Deterministic for given inputs,
 * params and seed. *out is zeroed on failure. */
trdi_status trdi_calibrate(trdi_model *m, const trdi_calib_params *p, const float *inputs,
                           int64_t n_inputs, trdi_calib_result *out);
void trdi_calib_result_clear(trdi_calib_result *r);

/* The surrogate error of one step from source s (-1 = clean end) of size d >= 1; NaN when the
 * result has no surrogate. */
double trdi_calib_surrogate(const trdi_calib_result *r, int64_t s, int64_t d);
/* The predicted total error of a descending list (n entries) under r->stepping; NaN without a
 * surrogate or for a bad list. */
double trdi_calib_predict(const trdi_calib_result *r, const int64_t *timesteps, int64_t n);

/* Writes the result as one JSON object (format "trdi-calibration"; "timesteps" descending, so any
 * command's --schedule-file reads it), atomically. `key` (NULL: none) is stored as "cache_key". */
trdi_status trdi_calib_result_save(const trdi_calib_result *r, const char *key, const char *path);
/* Reads a file written by trdi_calib_result_save (schedule, predictions, fit quality, nfe; no
 * points). When `key` is not NULL the file's "cache_key" must equal it. TRDI_ERR_IO (unreadable),
 * TRDI_ERR_FORMAT (anything malformed or a key mismatch, named). */
trdi_status trdi_calib_result_load(const char *path, const char *key, trdi_calib_result *out);

/* Reads the "timesteps" list of any JSON object (trdi calibrate / trdi schedule output, or a
 * hand-written {"timesteps": [901, 601, 301, 1]}): integers >= 0, strictly descending, at least
 * one. *out (release with trdi_timesteps_free) is NULL on failure. TRDI_ERR_IO / TRDI_ERR_FORMAT
 * naming the file and the problem. */
trdi_status trdi_schedule_file_read(const char *path, int64_t **out, int64_t *out_n);

/* A 64-bit fingerprint of the model's content: noise table, latent shape, labels and its noise
 * predictions at three fixed probe latents (3 model evaluations). */
trdi_status trdi_model_fingerprint(trdi_model *m, uint64_t *out);

/* Calibrates through a cache folder: the file `dir`/calib-KEY.json, KEY a hash of the model's
 * fingerprint, the params and the inputs. A valid file is used (*from_cache true); a missing or
 * corrupt one is recomputed and written atomically (the folder is created; a cache that cannot
 * be written is not an error). */
trdi_status trdi_calibrate_cached(trdi_model *m, const trdi_calib_params *p, const float *inputs,
                                  int64_t n_inputs, const char *dir, trdi_calib_result *out,
                                  bool *from_cache);

/* @@SECTION mkmodel: random-weight diffusers folders (src/model/mkmodel.c, `trdi mkmodel`). */
/* Writes a complete Stable Diffusion 1.x / 2.x diffusers folder with seeded random weights, for
 * benchmarks and end-to-end runs without downloaded weights (no image quality: only the configs,
 * tensor names and shapes are real). Layout: model_index.json, scheduler/scheduler_config.json,
 * tokenizer/ (vocab.json and merges.txt copied, plus tokenizer_config.json and
 * special_tokens_map.json when the source has them), text_encoder/{config.json,
 * model[.fp16].safetensors}, unet/ and vae/ {config.json,
 * diffusion_pytorch_model[.fp16].safetensors}. Tensor names are diffusers' / transformers'
 * state_dict names derived from each config. Weights: matrices and kernels N(0, 1 / fan_in)
 * (fan_in = product of all dims but the first), norm scales 1 + N(0, 0.1^2), biases and norm
 * shifts N(0, 0.02^2), each tensor from its own stream seeded by (seed, component, name), so a
 * tensor does not change when other tensors are added or removed. */
typedef struct trdi_mkmodel_params {
    /* "tiny" (tests/data/sd15-tiny's shapes), "sd15" (SD 1.5: UNet 320/640/1280/1280, 8 heads,
     * cross 768, CLIP ViT-L 12 x 768 quick_gelu, VAE 128/256/512/512, 512 px), "sd21" (SD 2.1:
     * v_prediction, linear projections, heads [5, 10, 20, 20], upcast attention, cross 1024,
     * OpenCLIP-H 23 x 1024 gelu, 768 px). Default "tiny". Ignored when `like` is set. */
    const char *preset;
    /* NULL, or a diffusers folder whose scheduler / text_encoder / unet / vae configs are used
     * instead of a preset (its weights are not read). */
    const char *like;
    /* NULL, or a JSON file of config overrides by component: {"unet": {"block_out_channels":
     * [32, 64, 64, 64]}, "vae": {...}, "text_encoder": {...}, "scheduler": {...}}; each key
     * replaces (or adds) that key of the component's config (null included). */
    const char *config_json;
    /* A CLIP tokenizer folder to copy; NULL: `like`'s tokenizer/ (required without `like`). */
    const char *tokenizer_from;
    trdi_st_dtype dtype; /* TRDI_ST_F32 (default) or TRDI_ST_F16 (writes the *.fp16 variants) */
    uint64_t seed;       /* default 0 */
    bool overwrite;      /* replace an existing `dir` (default false: an existing one fails) */
} trdi_mkmodel_params;

trdi_mkmodel_params trdi_mkmodel_default_params(void);

/* Writes the folder `dir` (its parent must exist). Everything is checked before writing (configs,
 * overrides, tokenizer), then the folder is built in a temporary sibling folder and renamed to
 * `dir` at the end: on failure nothing is left at `dir` (an existing folder stays as it was).
 * One component's weights are held in memory at a time (full-size SD 1.5 UNet: 1.7 GB fp16,
 * 3.4 GB fp32). Errors: TRDI_ERR_INVALID_ARG (unknown preset or dtype, an override of an
 * unknown component or that makes a config inconsistent, naming the config file and key; no
 * tokenizer; `dir` exists without overwrite), TRDI_ERR_UNSUPPORTED (a config feature outside the
 * SD 1.x / 2.x family), TRDI_ERR_FORMAT (a config / override file that is not a JSON object),
 * TRDI_ERR_IO (naming the file or folder). `p` may be NULL (defaults). */
trdi_status trdi_mkmodel(const char *dir, const trdi_mkmodel_params *p);

/* @@SECTION pipeline */

/* The pipeline ties a model, a schedule and a method together (spec 5.3-5.4): image -> latent ->
 * invert -> sample -> image, with the prompts and guidance of the reference protocol, timing,
 * evaluation counts, progress / cancellation and trajectory capture. It also reads and writes
 * latents and trajectories as safetensors, measures the single-step inversion deviation
 * (trdi_analyze_deviation) and draws small charts (trdi_chart_*). Nothing here prints. */

/* Where the timestep list comes from. */
typedef enum trdi_schedule_kind {
    TRDI_SCHEDULE_UNIFORM = 0, /* "uniform": the scheduler's own set_timesteps(steps) list
                                  (e.g. 981, 961, ..., 1 for 50 leading steps) */
    TRDI_SCHEDULE_TRDI = 1,    /* "trdi": the authors' pipeline (trdi_trdi_build) with spacing,
                                  window and adaptive mode, on the model's noise table */
    TRDI_SCHEDULE_LIST = 2,    /* "list": an explicit list of timesteps */
    TRDI_SCHEDULE_CALIBRATED = 3 /* "calibrated": fitted to the model's measured error (see the
                                  calibration section); it needs the model, so the caller computes
                                  it (trdi_calibrate_cached) and passes the list in `timesteps`
                                  (steps = its length); without a list: TRDI_ERR_INVALID_ARG */
} trdi_schedule_kind;

const char *trdi_schedule_kind_name(trdi_schedule_kind k);
trdi_status trdi_schedule_kind_from_name(const char *name, trdi_schedule_kind *out);

typedef struct trdi_schedule_params {
    trdi_schedule_kind kind;      /* UNIFORM */
    int64_t steps;                /* 50; uniform and trdi (ignored by LIST, whose length counts) */
    double spacing;               /* trdi: 1.05 */
    int64_t window;               /* trdi: 8 */
    trdi_adaptive_mode adaptive;  /* trdi: NONE */
    const int64_t *timesteps;     /* LIST (and CALIBRATED, resolved): n_timesteps entries,
                                     strictly monotone (ascending
                                     lists are reversed), each in [0, N-1]; borrowed. Must be
                                     NULL for the other kinds. */
    int64_t n_timesteps;
    trdi_stepping stepping;       /* REFERENCE (the authors' fixed stride) */
} trdi_schedule_params;

/* uniform, 50 steps, spacing 1.05, window 8, no adaptive mode, reference stepping. */
trdi_schedule_params trdi_schedule_default_params(void);

/* The descending timestep list of `p` on noise schedule `s` (*out owned by the caller, release
 * with trdi_timesteps_free). Errors (TRDI_ERR_INVALID_ARG unless said): steps < 1 or > N, a list
 * with the UNIFORM or TRDI kind, a LIST kind without entries or with entries out of range,
 * repeated or not monotone; TRDI failures as trdi_trdi_build (INFEASIBLE for an impossible
 * window). *out is NULL and *out_n 0 on failure. */
trdi_status trdi_schedule_timesteps(const trdi_noise_schedule *s, const trdi_schedule_params *p,
                                    int64_t **out, int64_t *out_n);
/* The same list turned into a step plan under p->stepping (release with trdi_plan_clear). */
trdi_status trdi_schedule_plan(const trdi_noise_schedule *s, const trdi_schedule_params *p,
                               trdi_plan *out);

/* --- Latents and trajectories on disk ------------------------------------------------------- */

/* One image's latent and, for EDICT / BDIA / BELM, the method's second state. Owned by the caller;
 * release with trdi_latent_clear(). */
typedef struct trdi_latent {
    int64_t channels, height, width;
    float *data; /* (1, C, H, W) */
    float *aux;  /* (1, C, H, W) or NULL */
} trdi_latent;

/* Allocates a zeroed latent (and a zeroed aux when with_aux). */
trdi_status trdi_latent_alloc(int64_t channels, int64_t height, int64_t width, bool with_aux,
                              trdi_latent *out);
void trdi_latent_clear(trdi_latent *l);

/* Writes tensor "latent" (F32, shape [1, C, H, W]) and, when l->aux is set, "latent_aux" (same
 * shape) with helper metadata (NULL or a NULL-terminated key, value list), atomically (nothing is
 * left at `path` on failure). */
trdi_status trdi_latent_save(const char *path, const trdi_latent *l, const char *const *metadata);
/* Reads "latent" (and "latent_aux" when present) of shape [1, C, H, W] or [C, H, W] (any floating
 * dtype, converted to float32). A batch other than 1, a missing "latent", an aux whose shape
 * differs, or non-finite values are TRDI_ERR_FORMAT naming the file. *out is zeroed on failure. */
trdi_status trdi_latent_load(const char *path, trdi_latent *out);
/* TRDI_ERR_INVALID_ARG naming `what`, both shapes and the model unless l has the model's latent
 * shape. */
trdi_status trdi_latent_check_shape(const trdi_latent *l, const trdi_model *m, const char *what);

/* Every step's latent of a run, in execution order. Owned by the caller (trdi_trajectory_clear). */
typedef struct trdi_trajectory {
    int64_t channels, height, width;
    int64_t n_inv, n_smp;  /* steps recorded in each direction */
    float *inv;            /* (n_inv, C, H, W) latent after inversion step k, or NULL */
    float *smp;            /* (n_smp, C, H, W) latent after sampling step k, or NULL */
} trdi_trajectory;

void trdi_trajectory_clear(trdi_trajectory *t);
/* One safetensors file with "inv.NN.latents_out" and "smp.NN.latents_out" (NN = the step index in
 * execution order, two digits at least; F32 [1, C, H, W]), as the reference data names them.
 * TRDI_ERR_INVALID_ARG when both directions are empty. Atomic. */
trdi_status trdi_trajectory_save(const char *path, const trdi_trajectory *t,
                                 const char *const *metadata);

/* --- Runs ------------------------------------------------------------------------------------ */

/* Called after every step of either direction (phase "inv" or "smp", step 0..total-1 in execution
 * order). Return false to cancel: the run then fails with TRDI_ABORTED. */
typedef bool (*trdi_progress_fn)(void *user, const char *phase, int64_t step, int64_t total);

/* What a run does. Prompts follow the reference protocol (spec 5.4):
 * - inversion: conditioned on `prompt`, guidance `inv_guidance`, unconditional branch
 *   `inv_negative_prompt` ("" when NULL);
 * - sampling when reconstructing (target_prompt NULL): `prompt`, guidance `guidance`, the
 *   unconditional branch `negative_prompt` ("" when NULL);
 * - sampling when editing (target_prompt set): `target_prompt`, guidance `guidance`, negative
 *   `negative_prompt`, or by default the SOURCE prompt (DDIM, GNRI, NPI nominally and the other
 *   DDIM-sampled methods), except ReNoise, which edits with no negative prompt (""). NPI's reference
 *   sampler ignores the negative altogether (its unconditional branch is the positive prompt);
 *   with method.corrected it uses it (the NPI paper's recipe).
 * Guidance <= 1 means one conditional pass (spec 4.0). */
typedef struct trdi_pipeline_params {
    trdi_method_params method;     /* the method and its parameters; method.on_step is ignored
                                      (the pipeline installs its own: use `progress`) */
    trdi_schedule_params schedule;
    const char *prompt;            /* source prompt; NULL = "" (every component of the mixture) */
    const char *target_prompt;     /* editing prompt; NULL = reconstruction */
    const char *negative_prompt;   /* sampling's unconditional branch; NULL = protocol default */
    const char *inv_negative_prompt; /* inversion's unconditional branch; NULL = "" */
    float inv_guidance;            /* NaN = trdi_method_default_guidance's inversion value */
    float guidance;                /* NaN = trdi_method_default_guidance's sampling value */
    trdi_progress_fn progress;     /* NULL: none */
    void *progress_user;
    bool keep_trajectory;          /* record every step's latent into the result */
} trdi_pipeline_params;

/* DDIM, uniform 50 steps, reference stepping, prompt "", method-default guidance (NaN). */
trdi_pipeline_params trdi_pipeline_default_params(void);

/* Everything a run produced. Owned by the caller: trdi_run_result_clear(). Fields a run does not
 * produce stay zero / NULL. */
typedef struct trdi_run_result {
    trdi_image input;         /* the input fitted to the model (trdi_model_prepare_image) */
    trdi_image output;        /* the decoded result (sample, reconstruct, edit) */
    trdi_latent clean;        /* z0 the inversion started from */
    trdi_latent noise;        /* zT (+ aux) the inversion produced / the sampler started from */
    trdi_latent sampled;      /* the clean latent the sampler produced */
    trdi_trajectory trajectory; /* with keep_trajectory */
    int64_t *timesteps;       /* (n_timesteps) descending, the schedule that was used */
    int64_t n_timesteps;
    float inv_guidance, guidance; /* the scales actually used */
    bool has_metrics;         /* reconstruct / edit: output compared with input */
    double psnr;              /* scikit-image PSNR (data range 255); +INFINITY when identical */
    double ssim;              /* scikit-image SSIM (11x11 uniform window); NaN when the image is
                                 smaller than 11 pixels a side */
    double mse;               /* over [0, 1] images */
    int64_t nfe_inv, nfe_smp; /* denoiser evaluations per image in each direction */
    int64_t nfe;              /* nfe_inv + nfe_smp */
    int64_t nvjp;             /* vector-Jacobian products (GNRI) */
    double seconds_inv, seconds_smp, seconds; /* wall-clock of each direction and of the run */
} trdi_run_result;

void trdi_run_result_clear(trdi_run_result *r);

/* Inversion: `image` (any size, fitted with trdi_model_prepare_image) or `clean` (a latent of the
 * model's latent shape), exactly one of them, -> out->noise (zT, + aux for EDICT/BDIA/BELM), with
 * out->clean, out->input (image input), timesteps, nfe_inv, seconds_inv. Errors: INVALID_ARG for
 * bad parameters (schedule, method, guidance not finite, an unknown prompt label), both/neither
 * input, a latent of the wrong shape; the method's own errors; TRDI_ABORTED when `progress`
 * cancels. *out is zeroed on failure. */
trdi_status trdi_pipeline_invert(trdi_model *m, const trdi_pipeline_params *p,
                                 const trdi_image *image, const trdi_latent *clean,
                                 trdi_run_result *out);
/* Sampling: `noise` (zT of the model's latent shape; its aux is used when present, and BELM needs
 * it) -> out->sampled and out->output (decoded), with nfe_smp, seconds_smp. Sampling conditions
 * on target_prompt when set, else on prompt. Errors as trdi_pipeline_invert. */
trdi_status trdi_pipeline_sample(trdi_model *m, const trdi_pipeline_params *p,
                                 const trdi_latent *noise, trdi_run_result *out);
/* Reconstruction (target_prompt must be NULL) or editing (target_prompt set): inversion then
 * sampling of `image`, then PSNR / SSIM / MSE of out->output against out->input. */
trdi_status trdi_pipeline_run(trdi_model *m, const trdi_pipeline_params *p,
                              const trdi_image *image, trdi_run_result *out);

/* --- Single-step inversion deviation (the paper's central measurement) ---------------------- */

/* For a clean latent z0, follows the model's own DDIM inversion trajectory one timestep at a time
 * (consistent stepping through every timestep 1..N-1, the model evaluated at the target, as the
 * reference inverts), and at each grid timestep s inverts ONE step of size d from level a[s]
 * (the clean end's final alpha when s = 0) to a[s + d] with the model at s + d, samples it back
 * with trdi_ddim_roundtrip and records the RMS error of the round trip (latent units). */
typedef struct trdi_deviation_params {
    const int64_t *timesteps;  /* grid of source timesteps s (any order, each in [0, N-2]) */
    int64_t n_timesteps;
    const int64_t *step_sizes; /* grid of step sizes d >= 1; pairs with s + d > N - 1 are skipped */
    int64_t n_step_sizes;
    const char *prompt;        /* conditioning (NULL = "") */
    float guidance;            /* <= 1: one conditional pass */
    trdi_progress_fn progress; /* phase "trajectory" then "grid"; NULL: none */
    void *progress_user;
} trdi_deviation_params;

/* One measurement. */
typedef struct trdi_deviation_point {
    int64_t t_from, step, t_to;
    float a_from, a_to;
    double err_rms;     /* RMS over C*H*W of (round trip - start) */
    double rel_err;     /* err_rms / RMS of the starting latent */
} trdi_deviation_point;

/* The grid, in order of step size then source timestep (ascending). Owned by the caller. */
typedef struct trdi_deviation_result {
    trdi_deviation_point *points;
    int64_t n;
    int64_t nfe;        /* evaluations used (trajectory + grid) */
} trdi_deviation_result;

/* Measures the grid on z0 (the model's latent shape). Errors: INVALID_ARG for an empty grid,
 * timesteps or step sizes out of range, an unknown prompt label; the model's errors. *out is
 * zeroed on failure. */
trdi_status trdi_analyze_deviation(trdi_model *m, const trdi_deviation_params *p,
                                   const trdi_latent *z0, trdi_deviation_result *out);
void trdi_deviation_result_clear(trdi_deviation_result *r);

/* --- Charts (src/pipeline/chart.c) ----------------------------------------------------------- */

/* Small RGB charts drawn with a built-in 5x7 bitmap font (ASCII; lowercase is drawn as
 * uppercase), for the CLI's PNG outputs. Axes with ticks and numeric labels, a title, axis
 * labels, up to 8 series in distinct colours and a legend. */
typedef struct trdi_chart_series {
    const char *label;  /* legend text (NULL: no legend entry) */
    const double *x;    /* (n) line charts: x values; bar charts: unused (NULL) */
    const double *y;    /* (n) values; NaN / -inf are skipped (a gap); +inf (linear axis) is
                           labelled "inf" (bar: at the bar's base; line: at the plot's top) */
    int64_t n;
} trdi_chart_series;

typedef struct trdi_chart_params {
    int64_t width, height;  /* pixels: 800 x 500; at least 200 x 150 */
    const char *title;      /* NULL: none */
    const char *x_label;    /* NULL: none */
    const char *y_label;    /* NULL: none */
    bool log_y;             /* log10 y axis (values <= 0 skipped), ticks at powers of ten */
} trdi_chart_params;

trdi_chart_params trdi_chart_default_params(void);

/* A line chart (each series' points joined in order, with dot markers) into *out (3 channels,
 * allocated; trdi_image_clear). Errors: INVALID_ARG for a bad size, no series or more than 8, a
 * series without x or y, or no finite point to draw. */
trdi_status trdi_chart_line(const trdi_chart_params *p, const trdi_chart_series *series,
                            int64_t n_series, trdi_image *out);
/* A grouped bar chart: n_categories groups (labels under the axis), one bar per series in each
 * group (series[i].y holds n_categories values, .n must equal it). The y axis starts at 0 unless
 * values are negative (or log_y). Same errors. */
trdi_status trdi_chart_bar(const trdi_chart_params *p, const char *const *categories,
                           int64_t n_categories, const trdi_chart_series *series,
                           int64_t n_series, trdi_image *out);

/* @@SECTION bench: owned by the dataset-runs work (issue 6, src/bench/). */

/* Dataset-scale studies (docs/bench.md): a dataset of images with prompts, a grid of
 * configurations (methods x schedules x steps x guidance x inversion guidance) run over it with
 * resumable, append-only results, per-configuration summaries and charts. Nothing here prints:
 * progress goes to a callback. */

/* Dataset formats, recognised by trdi_dataset_load. */
typedef enum trdi_dataset_kind {
    TRDI_DATASET_MANIFEST = 0, /* "manifest": a JSON list of {"image": path, "caption": text} */
    TRDI_DATASET_PIE = 1,      /* "pie": a PIE-Bench mapping file (JSON object id -> entry) */
    TRDI_DATASET_FOLDER = 2    /* "folder": images + captions.json or captions.txt */
} trdi_dataset_kind;

const char *trdi_dataset_kind_name(trdi_dataset_kind k);
trdi_status trdi_dataset_kind_from_name(const char *name, trdi_dataset_kind *out);

/* One dataset entry; strings owned by the dataset. */
typedef struct trdi_dataset_item {
    const char *id;            /* unique: manifest "id" / "image_id" or the image's file stem;
                                  PIE the mapping key; folder the file stem */
    const char *image;         /* the image path, resolved against the dataset file's folder */
    const char *prompt;        /* caption / PIE original_prompt as stored (with its brackets) */
    const char *target_prompt; /* PIE editing_prompt; NULL for reconstruction datasets */
    const int64_t *mask_rle;   /* PIE: (start, length) pairs, n_mask_rle values; else NULL */
    int64_t n_mask_rle;
    const char *mask_image;    /* PIE extension: a mask PNG path (resolved) instead of RLE; or NULL */
    const char *editing_type;  /* PIE editing_type_id, or NULL */
} trdi_dataset_item;

typedef struct trdi_dataset trdi_dataset;

/* Loads `path`: a .json file holding a list (manifest) or an object (PIE mapping), or a folder of
 * PNG/JPEG images (sorted by name) with captions.json ({"stem": "caption", ...}) or captions.txt
 * (one "stem<TAB>caption" line per image; without a TAB the first space separates; blank lines
 * and lines starting with '#' are skipped). Every image file must exist. Errors name the file and
 * the entry (index and id): TRDI_ERR_IO (unreadable dataset, a missing image), TRDI_ERR_FORMAT
 * (malformed JSON, a missing or mistyped field, an odd or negative RLE list, duplicate ids, an
 * image without a caption), TRDI_ERR_INVALID_ARG (empty dataset). *out NULL on failure. */
trdi_status trdi_dataset_load(const char *path, trdi_dataset **out);
void trdi_dataset_free(trdi_dataset *d);
trdi_dataset_kind trdi_dataset_get_kind(const trdi_dataset *d);
const char *trdi_dataset_path(const trdi_dataset *d);
int64_t trdi_dataset_count(const trdi_dataset *d);
/* Entry i (NULL when out of range); owned by the dataset. */
const trdi_dataset_item *trdi_dataset_at(const trdi_dataset *d, int64_t i);
/* Reads entry i's image (errors prefixed with the entry). */
trdi_status trdi_dataset_read_image(const trdi_dataset *d, int64_t i, trdi_image *out);
/* Entry i's edit mask for its source image of width x height: a 1-channel 0/255 image (255 =
 * edited; RLE decoded with trdi_mask_decode_rle, border frame included). A run reaching past
 * width * height pixels, or a mask PNG of another size, is TRDI_ERR_FORMAT naming the entry and
 * both sizes. TRDI_ERR_INVALID_ARG when the entry has no mask. */
trdi_status trdi_dataset_read_mask(const trdi_dataset *d, int64_t i, int64_t width,
                                   int64_t height, trdi_image *out);

/* One progress event of trdi_bench_run. */
typedef struct trdi_bench_event {
    const char *what;     /* "planned" (dry run: would run), "present" (already in the results:
                             skipped), "done", "failed" (recorded with its error), "item" (every
                             configuration of an item handled) */
    int64_t item;         /* dataset index */
    const char *item_id;
    const char *config;   /* configuration label; NULL for "item" */
    int64_t handled, total; /* (item, configuration) pairs handled so far / in this shard */
    double seconds;       /* "done": the run's wall-clock; "item": this item's */
    double eta_seconds;   /* remaining time estimated from this process's runs; NaN unknown */
    double psnr;          /* "done": PSNR (dB) of the output; NaN otherwise */
    const char *error;    /* "failed": the message */
} trdi_bench_event;

/* Return false to stop: the run then fails with TRDI_ABORTED (finished work stays recorded). */
typedef bool (*trdi_bench_progress_fn)(void *user, const trdi_bench_event *ev);

typedef struct trdi_bench_params {
    const trdi_method_params *methods; /* n_methods >= 1, distinct methods; on_step ignored */
    int64_t n_methods;
    const trdi_schedule_params *schedules; /* n_schedules >= 1 distinct kinds (not LIST); their
                                              steps are replaced by each entry of `steps`;
                                              CALIBRATED without a list is calibrated per step
                                              count on the model's test image (default calib
                                              params, cached in out_dir/calibration/) */
    int64_t n_schedules;
    const int64_t *steps;        /* n_steps >= 1 distinct step counts */
    int64_t n_steps;
    const float *guidance;       /* sampling guidance values; NULL / 0: each method's default */
    int64_t n_guidance;
    const float *inv_guidance;   /* inversion guidance values; NULL / 0: each method's default */
    int64_t n_inv_guidance;
    const trdi_lpips *const *lpips; /* networks scored as lpips_<backbone> columns (one per
                                       backbone); borrowed */
    int64_t n_lpips;
    int64_t shard_index, shard_count; /* 1-based shard I of N: items with index mod N == I - 1
                                         (after `limit`); 1 / 1 = everything */
    int64_t limit;               /* only the first `limit` items (0: all) */
    int64_t stop_after;          /* TEST HOOK: stop (TRDI_ABORTED) after this many new rows (0: no) */
    bool dry_run;                /* report "planned" / "present" events; write nothing */
    const char *settings_json;   /* NULL or a JSON object of caller settings (e.g. model spec,
                                    dataset path) recorded in run.json and compared on reruns */
    trdi_bench_progress_fn progress; /* NULL: none */
    void *progress_user;
} trdi_bench_params;

/* No methods / schedules / steps (callers fill them), shard 1 / 1, no limit. */
trdi_bench_params trdi_bench_default_params(void);

/* What trdi_bench_run did (counts of (item, configuration) pairs). */
typedef struct trdi_bench_report {
    int64_t items, configs; /* in this shard */
    int64_t planned;        /* dry run: pairs that would run */
    int64_t present;        /* already in results.csv, skipped */
    int64_t done, failed;   /* run now (failed: recorded with status "failed: ...") */
} trdi_bench_report;

/* Runs the grid over the dataset into `out_dir` (created if needed): out_dir/run.json (the
 * settings; a rerun whose settings differ is TRDI_ERR_INVALID_ARG naming the first differing key),
 * out_dir/results.csv (one row per item and configuration, appended and fsync'd after the output
 * image out_dir/images/<config>/<id>.png is written atomically; rows already there are skipped, a
 * torn last line is discarded), then the summary and charts (trdi_bench_summarize). Every
 * configuration's schedule is built first (errors name the configuration). PIE items are edited
 * (inversion with the source prompt, sampling with the editing prompt) and also scored on the
 * unedited / edited regions of their mask (fitted to the model's image as the image is). Metrics
 * compare the model-sized input with the output. A run failing with TRDI_ERR_NUMERIC is recorded
 * as a failed row; other failures stop the run (errors name the item and configuration). rep may
 * be NULL. */
trdi_status trdi_bench_run(trdi_model *m, const trdi_dataset *d, const trdi_bench_params *p,
                           const char *out_dir, trdi_bench_report *rep);

/* (Re)writes dir/summary.csv, summary.json, summary.md and the charts dir/chart_<metric>.png (bar
 * charts: metric mean per method, one bar per schedule; with several step counts also
 * dir/chart_<metric>_steps.png, the metric against steps) from dir/results.csv. Per
 * configuration: n (ok rows), n_failed, and for every metric column its mean and 95% confidence
 * half-width 1.96 sd / sqrt(n) (sample sd over the rows where the metric is available; empty
 * below 2 rows). Rows are taken in (configuration, item) order, so the numbers do not depend on
 * the order rows were appended. */
trdi_status trdi_bench_summarize(const char *dir);

/* Combines the results of several runs (shards) of one study into out_dir: their run.json
 * settings must agree except the shard (TRDI_ERR_INVALID_ARG naming the folder and key), no
 * (item, configuration) may appear twice (TRDI_ERR_FORMAT naming both folders). Writes
 * out_dir/run.json, results.csv (sorted) and the summary and charts. Output images stay in the
 * shard folders. */
trdi_status trdi_bench_merge(const char *out_dir, const char *const *dirs, int64_t n_dirs);

#ifdef __cplusplus
}
#endif

#endif /* TRDI_H */
