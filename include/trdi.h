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

/* Builds the table for `cfg`. *out is NULL on failure. Free with trdi_noise_schedule_free(). */
trdi_status trdi_noise_schedule_create(const trdi_noise_config *cfg, trdi_noise_schedule **out);
void trdi_noise_schedule_free(trdi_noise_schedule *s);
/* The config it was built from (owned by the schedule). */
const trdi_noise_config *trdi_noise_schedule_config(const trdi_noise_schedule *s);
/* (num_train_timesteps) cumulative alphas, owned by the schedule. */
const float *trdi_noise_schedule_alphas_cumprod(const trdi_noise_schedule *s);
/* The clean-end level: 1 with set_alpha_to_one, else alphas_cumprod[0]. */
float trdi_noise_schedule_final_alpha(const trdi_noise_schedule *s);

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

/* ============================================================================================== */
/* Inversion methods                                                         (src/solver/)        */
/* ============================================================================================== */

/* @@SECTION methods */

/* ============================================================================================== */
/* Models: the exact Gaussian mixture (built-in), Stable Diffusion            (src/model/)         */
/* ============================================================================================== */

/* @@SECTION models */

/* ============================================================================================== */
/* Files: images, safetensors, JSON configs, diffusers folders               (src/io/)            */
/* ============================================================================================== */

/* @@SECTION io: images */

/* @@SECTION io: safetensors, JSON, diffusers folders */

/* ============================================================================================== */
/* Text: CLIP tokenizer and text encoders                                    (src/model/clip*.c)  */
/* ============================================================================================== */

/* @@SECTION text */

/* ============================================================================================== */
/* Image metrics                                                             (src/metrics/)       */
/* ============================================================================================== */

/* @@SECTION metrics: basic (PSNR, MSE, SSIM skimage) */

/* @@SECTION metrics: evaluation (SSIM torchmetrics, LPIPS, masks) */

/* ============================================================================================== */
/* Pipeline: image -> latent -> invert -> sample -> image                   (src/pipeline/)      */
/* ============================================================================================== */

/* @@SECTION pipeline */

#ifdef __cplusplus
}
#endif

#endif /* TRDI_H */
