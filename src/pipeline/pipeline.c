/* pipeline.c -- image -> latent -> invert -> sample -> image, as the reference experiments run it
 * (spec 5.3-5.4): prompts and guidance per direction (editing: inversion with the source prompt,
 * sampling with the target prompt and the source as negative; ReNoise edits without a negative),
 * evaluation counts, wall-clock, progress / cancellation and trajectory capture through the
 * solvers' step callback, and the reconstruction metrics. The numerics are the solvers'. */
#include "pipeline/pipeline.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

trdi_pipeline_params trdi_pipeline_default_params(void) {
    trdi_pipeline_params p;
    memset(&p, 0, sizeof p);
    p.method = trdi_method_default_params(TRDI_METHOD_DDIM);
    p.schedule = trdi_schedule_default_params();
    p.prompt = NULL;
    p.inv_guidance = NAN;
    p.guidance = NAN;
    return p;
}

void trdi_run_result_clear(trdi_run_result *r) {
    if (!r) return;
    trdi_image_clear(&r->input);
    trdi_image_clear(&r->output);
    trdi_latent_clear(&r->clean);
    trdi_latent_clear(&r->noise);
    trdi_latent_clear(&r->sampled);
    trdi_trajectory_clear(&r->trajectory);
    free(r->timesteps);
    memset(r, 0, sizeof *r);
}

/* The step callback: forwards progress and records the latents. */
typedef struct {
    const trdi_pipeline_params *p;
    trdi_trajectory *traj; /* NULL: no capture */
    int64_t d;
    trdi_status oom;
} step_ctx;

static bool on_step(void *user, const char *phase, int64_t step, int64_t total,
                    const float *latent) {
    step_ctx *c = user;
    if (c->traj && step >= 0 && step < total) {
        bool inv = phase && phase[0] == 'i';
        float **buf = inv ? &c->traj->inv : &c->traj->smp;
        int64_t *n = inv ? &c->traj->n_inv : &c->traj->n_smp;
        if (!*buf) {
            *buf = trdi_calloc((size_t)total * (size_t)c->d, sizeof(float));
            if (!*buf) {
                c->oom = trdi_fail(TRDI_ERR_NOMEM, "cannot allocate the trajectory (%lld steps)",
                                   (long long)total);
                return false;
            }
        }
        memcpy(*buf + step * c->d, latent, (size_t)c->d * sizeof(float));
        if (step + 1 > *n) *n = step + 1;
    }
    if (c->p->progress && !c->p->progress(c->p->progress_user, phase, step, total)) return false;
    return true;
}

/* Resolves both guidance scales (NaN = the method's default) and validates them. */
static trdi_status resolve_guidance(const trdi_pipeline_params *p, float *gi, float *gs) {
    float di, ds;
    trdi_method_default_guidance(p->method.method, &di, &ds);
    *gi = isnan(p->inv_guidance) ? di : p->inv_guidance;
    *gs = isnan(p->guidance) ? ds : p->guidance;
    if (!isfinite(*gi))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "inversion guidance is not finite");
    if (!isfinite(*gs)) return trdi_fail(TRDI_ERR_INVALID_ARG, "guidance is not finite");
    return TRDI_OK;
}

static trdi_status condition(trdi_model *m, const char *prompt, const char *what,
                             const void **out) {
    trdi_status st = trdi_model_condition(m, prompt ? prompt : "", out);
    if (st) trdi_error_prefix("%s", what);
    return st;
}

/* Validates the parameters shared by every run and records the schedule into out. */
static trdi_status prepare(trdi_model *m, const trdi_pipeline_params *p, trdi_plan *plan,
                           trdi_run_result *out) {
    if (!m || !p) return trdi_fail(TRDI_ERR_INVALID_ARG, "pipeline: NULL model or parameters");
    if ((int)p->method.method < 0 || (int)p->method.method >= TRDI_METHOD_COUNT)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "pipeline: method %d is out of range",
                         (int)p->method.method);
    trdi_status st = resolve_guidance(p, &out->inv_guidance, &out->guidance);
    if (st) return st;
    const trdi_noise_schedule *ns = trdi_model_noise_schedule(m);
    st = trdi_schedule_timesteps(ns, &p->schedule, &out->timesteps, &out->n_timesteps);
    if (!st) st = trdi_plan_build(ns, out->timesteps, out->n_timesteps, p->schedule.stepping, plan);
    return st;
}

static trdi_status do_invert(trdi_model *m, const trdi_pipeline_params *p, const trdi_plan *plan,
                             trdi_run_result *out) {
    trdi_denoiser den;
    trdi_status st = trdi_model_denoiser(m, &den);
    if (st) return st;
    const void *cond = NULL, *uncond = NULL;
    st = condition(m, p->prompt, "prompt", &cond);
    if (!st) st = condition(m, p->inv_negative_prompt, "inversion negative prompt", &uncond);
    if (st) return st;
    const int64_t d = pipeline_latent_numel(&out->clean);
    st = trdi_latent_alloc(out->clean.channels, out->clean.height, out->clean.width,
                           trdi_method_has_aux(p->method.method), &out->noise);
    if (st) return st;
    if (p->keep_trajectory) {
        out->trajectory.channels = out->clean.channels;
        out->trajectory.height = out->clean.height;
        out->trajectory.width = out->clean.width;
    }
    step_ctx sc = {p, p->keep_trajectory ? &out->trajectory : NULL, d, TRDI_OK};
    trdi_method_params mp = p->method;
    mp.on_step = on_step;
    mp.on_step_user = &sc;
    trdi_guide g = trdi_guide_init(&den, cond, uncond, out->inv_guidance);
    double t0 = pipeline_now();
    st = trdi_invert(&mp, plan, &g, out->clean.data, out->noise.data, out->noise.aux);
    out->seconds_inv = pipeline_now() - t0;
    out->nfe_inv = g.nfe;
    out->nvjp += g.nvjp;
    trdi_guide_clear(&g);
    if (st == TRDI_ABORTED && sc.oom) st = sc.oom;
    return st;
}

static trdi_status do_sample(trdi_model *m, const trdi_pipeline_params *p, const trdi_plan *plan,
                             const trdi_latent *noise, trdi_run_result *out) {
    trdi_denoiser den;
    trdi_status st = trdi_model_denoiser(m, &den);
    if (st) return st;
    const bool edit = p->target_prompt != NULL;
    const char *pos = edit ? p->target_prompt : p->prompt;
    const char *neg = p->negative_prompt;
    /* Spec 5.4: editing samples with the source prompt as negative, except ReNoise (none). */
    if (!neg && edit && p->method.method != TRDI_METHOD_RENOISE) neg = p->prompt;
    const void *cond = NULL, *uncond = NULL;
    st = condition(m, pos, edit ? "target prompt" : "prompt", &cond);
    if (!st) st = condition(m, neg, "negative prompt", &uncond);
    if (st) return st;
    const int64_t d = pipeline_latent_numel(noise);
    st = trdi_latent_alloc(noise->channels, noise->height, noise->width, false, &out->sampled);
    if (st) return st;
    if (p->keep_trajectory) {
        out->trajectory.channels = noise->channels;
        out->trajectory.height = noise->height;
        out->trajectory.width = noise->width;
    }
    step_ctx sc = {p, p->keep_trajectory ? &out->trajectory : NULL, d, TRDI_OK};
    trdi_method_params mp = p->method;
    mp.on_step = on_step;
    mp.on_step_user = &sc;
    trdi_guide g = trdi_guide_init(&den, cond, uncond, out->guidance);
    double t0 = pipeline_now();
    st = trdi_sample(&mp, plan, &g, noise->data, noise->aux, out->sampled.data);
    out->seconds_smp = pipeline_now() - t0;
    out->nfe_smp = g.nfe;
    out->nvjp += g.nvjp;
    trdi_guide_clear(&g);
    if (st == TRDI_ABORTED && sc.oom) st = sc.oom;
    if (!st) st = trdi_model_decode(m, out->sampled.data, &out->output);
    return st;
}

/* Fills out->clean (and out->input) from an image or a clean latent. */
static trdi_status load_clean(trdi_model *m, const trdi_image *image, const trdi_latent *clean,
                              trdi_run_result *out) {
    if ((image == NULL) == (clean == NULL))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "pipeline: give exactly one of an image and a clean latent");
    int64_t c, h, w;
    trdi_model_latent_shape(m, &c, &h, &w);
    trdi_status st;
    if (clean) {
        st = trdi_latent_check_shape(clean, m, "clean latent");
        if (st) return st;
        st = trdi_latent_alloc(c, h, w, false, &out->clean);
        if (!st) memcpy(out->clean.data, clean->data, (size_t)(c * h * w) * sizeof(float));
        return st;
    }
    if (!image->data || image->width < 1 || image->height < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "pipeline: the input image is empty");
    st = trdi_model_prepare_image(m, image, &out->input);
    if (!st) st = trdi_latent_alloc(c, h, w, false, &out->clean);
    if (!st) st = trdi_model_encode(m, &out->input, out->clean.data);
    return st;
}

static void finish_nfe(trdi_run_result *out) {
    out->nfe = out->nfe_inv + out->nfe_smp;
}

trdi_status trdi_pipeline_invert(trdi_model *m, const trdi_pipeline_params *p,
                                 const trdi_image *image, const trdi_latent *clean,
                                 trdi_run_result *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_pipeline_invert: out is NULL");
    memset(out, 0, sizeof *out);
    double t0 = pipeline_now();
    trdi_plan plan;
    memset(&plan, 0, sizeof plan);
    trdi_status st = prepare(m, p, &plan, out);
    if (!st) st = load_clean(m, image, clean, out);
    if (!st) st = do_invert(m, p, &plan, out);
    trdi_plan_clear(&plan);
    finish_nfe(out);
    out->seconds = pipeline_now() - t0;
    if (st) trdi_run_result_clear(out);
    return st;
}

trdi_status trdi_pipeline_sample(trdi_model *m, const trdi_pipeline_params *p,
                                 const trdi_latent *noise, trdi_run_result *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_pipeline_sample: out is NULL");
    memset(out, 0, sizeof *out);
    double t0 = pipeline_now();
    trdi_plan plan;
    memset(&plan, 0, sizeof plan);
    trdi_status st = prepare(m, p, &plan, out);
    if (!st && !noise) st = trdi_fail(TRDI_ERR_INVALID_ARG, "pipeline: no noise latent to sample");
    if (!st) st = trdi_latent_check_shape(noise, m, "noise latent");
    if (!st && p->method.method == TRDI_METHOD_BELM && !noise->aux)
        st = trdi_fail(TRDI_ERR_INVALID_ARG,
                       "method belm samples from two latents: the noise latent has no "
                       "'latent_aux' (invert with --method belm)");
    if (!st) st = do_sample(m, p, &plan, noise, out);
    trdi_plan_clear(&plan);
    finish_nfe(out);
    out->seconds = pipeline_now() - t0;
    if (st) trdi_run_result_clear(out);
    return st;
}

/* PSNR / SSIM / MSE of the output against the prepared input. */
static trdi_status score(trdi_run_result *out) {
    trdi_status st = trdi_psnr(&out->input, &out->output, &out->psnr);
    if (!st) st = trdi_mse(&out->input, &out->output, &out->mse);
    if (st) return st;
    if (out->input.width >= 11 && out->input.height >= 11) {
        st = trdi_ssim(&out->input, &out->output, &out->ssim);
        if (st) return st;
    } else {
        out->ssim = NAN; /* scikit-image needs 11 x 11 for its window */
    }
    out->has_metrics = true;
    return TRDI_OK;
}

trdi_status trdi_pipeline_run(trdi_model *m, const trdi_pipeline_params *p,
                              const trdi_image *image, trdi_run_result *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_pipeline_run: out is NULL");
    memset(out, 0, sizeof *out);
    if (!image) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_pipeline_run: no input image");
    double t0 = pipeline_now();
    trdi_plan plan;
    memset(&plan, 0, sizeof plan);
    trdi_status st = prepare(m, p, &plan, out);
    if (!st) st = load_clean(m, image, NULL, out);
    if (!st) st = do_invert(m, p, &plan, out);
    if (!st) st = do_sample(m, p, &plan, &out->noise, out);
    if (!st) st = score(out);
    trdi_plan_clear(&plan);
    finish_nfe(out);
    out->seconds = pipeline_now() - t0;
    if (st) trdi_run_result_clear(out);
    return st;
}
