/* model.c -- the public trdi_model handle: loading (built-in mixture, image folder, JSON), the
 * denoiser view, conditioning, the noise schedule, and the image <-> latent maps. The mixture's
 * mathematics is in gmm.c; other model kinds plug in through trdi_model_ops (model.h). */
#include "model/model.h"

#include "core/core.h"
#include "io/image_internal.h"
#include "model/gmm.h"
#include "model/sd_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct trdi_model {
    const trdi_model_ops *ops;
    void *impl;
    trdi_noise_schedule *sched;
    int64_t ic, ih, iw; /* image channels, height, width */
    int64_t lc, lh, lw; /* latent shape of one image */
    trdi_image test;
};

trdi_model_params trdi_model_default_params(void) {
    trdi_model_params p;
    memset(&p, 0, sizeof p);
    p.variance = 0.05;
    return p;
}

trdi_status trdi_model_create(const trdi_model_ops *ops, void *impl, trdi_noise_schedule *sched,
                              int64_t ic, int64_t ih, int64_t iw, int64_t lc, int64_t lh,
                              int64_t lw, trdi_image *test, trdi_model **out) {
    *out = NULL;
    trdi_model *m = trdi_calloc(1, sizeof *m);
    if (!m) {
        ops->destroy(impl);
        trdi_noise_schedule_free(sched);
        trdi_image_clear(test);
        return trdi_fail(TRDI_ERR_NOMEM, "model: out of memory");
    }
    m->ops = ops;
    m->impl = impl;
    m->sched = sched;
    m->ic = ic, m->ih = ih, m->iw = iw;
    m->lc = lc, m->lh = lh, m->lw = lw;
    if (test) {
        m->test = *test;
        memset(test, 0, sizeof *test);
    }
    *out = m;
    return TRDI_OK;
}

void trdi_model_free(trdi_model *m) {
    if (!m) return;
    if (m->ops && m->ops->destroy) m->ops->destroy(m->impl);
    trdi_noise_schedule_free(m->sched);
    trdi_image_clear(&m->test);
    free(m);
}

void *trdi_model_impl(const trdi_model *m, const char *kind) {
    return (m && kind && !strcmp(m->ops->kind, kind)) ? m->impl : NULL;
}

const char *trdi_model_kind(const trdi_model *m) {
    return m ? m->ops->kind : "";
}

/* ---------------------------------------------------------------------------------------- */
/* The mixture's operations                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void gmm_ops_destroy(void *impl) {
    gmm_free(impl);
}
static trdi_status gmm_ops_condition(void *impl, const char *prompt, const void **out) {
    return gmm_condition(impl, prompt, out);
}
static int64_t gmm_ops_num_labels(const void *impl) {
    return gmm_num_labels(impl);
}
static const char *gmm_ops_label(const void *impl, int64_t i) {
    return gmm_label_at(impl, i);
}
static trdi_status gmm_ops_predict(void *impl, const trdi_noise_schedule *s, int64_t batch,
                                   const float *x, int64_t t, const void *const *cond, float *eps) {
    double a = trdi_noise_schedule_alphas_cumprod(s)[t];
    return gmm_predict(impl, a, batch, x, cond, eps);
}
static trdi_status gmm_ops_vjp(void *impl, const trdi_noise_schedule *s, int64_t batch,
                               const float *x, int64_t t, const void *const *cond, const float *v,
                               float *out) {
    double a = trdi_noise_schedule_alphas_cumprod(s)[t];
    return gmm_vjp(impl, a, batch, x, cond, v, out);
}

static const trdi_model_ops gmm_ops = {
    .kind = "gmm",
    .destroy = gmm_ops_destroy,
    .condition = gmm_ops_condition,
    .num_labels = gmm_ops_num_labels,
    .label = gmm_ops_label,
    .predict = gmm_ops_predict,
    .vjp = gmm_ops_vjp,
    .encode = NULL, /* identity VAE */
    .decode = NULL,
};

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

trdi_status trdi_model_load(const char *spec, const trdi_model_params *p, trdi_model **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_model_load: out is NULL");
    *out = NULL;
    if (!spec || !*spec) return trdi_fail(TRDI_ERR_INVALID_ARG, "model spec is empty");
    trdi_model_params dp = trdi_model_default_params();
    if (!p) p = &dp;
    gmm *g = NULL;
    trdi_image test = {0};
    trdi_noise_config cfg = trdi_noise_config_default();
    trdi_status st;
    struct stat sb;
    if (!strcmp(spec, "builtin")) {
        st = gmm_build_builtin(p, &g, &test);
    } else if (stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        size_t n = strlen(spec);
        char *idx = malloc(n + 20);
        if (!idx) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        snprintf(idx, n + 20, "%s/model_index.json", spec);
        bool diffusers = stat(idx, &sb) == 0;
        free(idx);
        if (diffusers) return sd_model_load(spec, p, out);
        st = gmm_build_folder(spec, p, &g, &test);
    } else if (ends_with_ci(spec, ".json")) {
        st = gmm_build_json(spec, p, &g, &test, &cfg);
    } else {
        return trdi_fail(
            stat(spec, &sb) == 0 ? TRDI_ERR_INVALID_ARG : TRDI_ERR_IO,
            "model \"%s\": not \"builtin\", an existing folder or a .json mixture file", spec);
    }
    if (st) return st;
    trdi_noise_schedule *sched = NULL;
    st = trdi_noise_schedule_create(&cfg, &sched);
    if (st) {
        trdi_error_prefix("%s: noise_schedule", spec);
        gmm_free(g);
        trdi_image_clear(&test);
        return st;
    }
    int64_t c, h, w;
    gmm_shape(g, &c, &h, &w);
    return trdi_model_create(&gmm_ops, g, sched, c, h, w, c, h, w, &test, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Denoiser                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static trdi_status check_t(const trdi_model *m, int64_t t, int64_t batch) {
    int64_t n = trdi_noise_schedule_config(m->sched)->num_train_timesteps;
    if (t < 0 || t >= n)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "timestep %lld is outside [0, %lld]", (long long)t,
                         (long long)(n - 1));
    if (batch < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "batch must be >= 1, got %lld", (long long)batch);
    return TRDI_OK;
}

static trdi_status denoiser_predict(void *ctx, int64_t batch, const float *x, int64_t t,
                                    const void *const *cond, float *eps) {
    trdi_model *m = ctx;
    if (!x || !eps) return trdi_fail(TRDI_ERR_INVALID_ARG, "denoiser: x and eps are required");
    trdi_status st = check_t(m, t, batch);
    if (st) return st;
    return m->ops->predict(m->impl, m->sched, batch, x, t, cond, eps);
}

static trdi_status denoiser_vjp(void *ctx, int64_t batch, const float *x, int64_t t,
                                const void *const *cond, const float *v, float *out) {
    trdi_model *m = ctx;
    if (!x || !v || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "denoiser vjp: x, v and out are required");
    if (!m->ops->vjp)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "model \"%s\" has no gradients (J^T v)",
                         m->ops->kind);
    trdi_status st = check_t(m, t, batch);
    if (st) return st;
    return m->ops->vjp(m->impl, m->sched, batch, x, t, cond, v, out);
}

trdi_status trdi_model_denoiser(trdi_model *m, trdi_denoiser *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_model_denoiser: model or out is NULL");
    out->ctx = m;
    out->channels = m->lc;
    out->height = m->lh;
    out->width = m->lw;
    out->predict = denoiser_predict;
    out->vjp = m->ops->vjp ? denoiser_vjp : NULL;
    return TRDI_OK;
}

trdi_status trdi_model_condition(trdi_model *m, const char *prompt, const void **cond_out) {
    if (cond_out) *cond_out = NULL;
    if (!m || !cond_out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_model_condition: model or cond_out is NULL");
    return m->ops->condition(m->impl, prompt, cond_out);
}

int64_t trdi_model_num_labels(const trdi_model *m) {
    return (m && m->ops->num_labels) ? m->ops->num_labels(m->impl) : 0;
}

const char *trdi_model_label(const trdi_model *m, int64_t i) {
    return (m && m->ops->label) ? m->ops->label(m->impl, i) : NULL;
}

const trdi_noise_schedule *trdi_model_noise_schedule(const trdi_model *m) {
    return m ? m->sched : NULL;
}

void trdi_model_image_shape(const trdi_model *m, int64_t *channels, int64_t *height,
                            int64_t *width) {
    if (channels) *channels = m ? m->ic : 0;
    if (height) *height = m ? m->ih : 0;
    if (width) *width = m ? m->iw : 0;
}

void trdi_model_latent_shape(const trdi_model *m, int64_t *channels, int64_t *height,
                             int64_t *width) {
    if (channels) *channels = m ? m->lc : 0;
    if (height) *height = m ? m->lh : 0;
    if (width) *width = m ? m->lw : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Images and latents                                                                         */
/* ---------------------------------------------------------------------------------------- */

trdi_status trdi_model_prepare_image(const trdi_model *m, const trdi_image *in, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_model_prepare_image: model or out is NULL");
    return trdi_image_fit(in, m->iw, m->ih, m->ic, out);
}

trdi_status trdi_model_encode(trdi_model *m, const trdi_image *img, float *latent) {
    if (!m || !latent)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_model_encode: model or latent is NULL");
    trdi_status st = trdi_image_check(img, "encode");
    if (st) return st;
    if (img->width != m->iw || img->height != m->ih || img->channels != m->ic)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "encode: image is %lldx%lldx%lld but the model takes %lldx%lldx%lld "
                         "(width x height x channels; see trdi_model_prepare_image)",
                         (long long)img->width, (long long)img->height, (long long)img->channels,
                         (long long)m->iw, (long long)m->ih, (long long)m->ic);
    if (m->ops->encode) return m->ops->encode(m->impl, img, latent);
    /* Identity VAE: (H, W, C) uint8 -> (C, H, W), diffusers' x / 255 then 2x - 1 in float32. */
    int64_t hw = m->ih * m->iw, c = m->ic;
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t p = 0; p < hw; p++)
            latent[ch * hw + p] = 2.0f * ((float)img->data[p * c + ch] / 255.0f) - 1.0f;
    return TRDI_OK;
}

trdi_status trdi_model_decode(trdi_model *m, const float *latent, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !latent || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_model_decode: model, latent or out is NULL");
    if (m->ops->decode) return m->ops->decode(m->impl, latent, out);
    int64_t hw = m->ih * m->iw, c = m->ic;
    for (int64_t i = 0; i < hw * c; i++)
        if (!isfinite(latent[i]))
            return trdi_fail(TRDI_ERR_NUMERIC,
                             "decode: latent has a non-finite value at index %lld", (long long)i);
    trdi_status st = trdi_image_alloc(m->iw, m->ih, c, out);
    if (st) return st;
    /* diffusers: (z / 2 + 0.5).clamp(0, 1), then round(255 x) with ties to even, in float32. */
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t p = 0; p < hw; p++) {
            float u = latent[ch * hw + p] / 2.0f + 0.5f;
            u = u < 0.0f ? 0.0f : u > 1.0f ? 1.0f : u;
            out->data[p * c + ch] = (uint8_t)nearbyintf(255.0f * u);
        }
    return TRDI_OK;
}

trdi_status trdi_model_builtin_test_image(const trdi_model *m, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "trdi_model_builtin_test_image: model or out is NULL");
    if (!m->test.data)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "model \"%s\" has no built-in test image",
                         m->ops->kind);
    return trdi_image_copy(&m->test, out);
}

trdi_status trdi_model_set_vae_sample(trdi_model *m, bool enabled, uint64_t seed) {
    if (!m) return trdi_fail(TRDI_ERR_INVALID_ARG, "model is NULL");
    return sd_model_set_vae_sample(m, enabled, seed);
}
