/* sd_model.c -- Stable Diffusion 1.x / 2.x as a trdi_model (see sd_model.h): prompt conditioning
 * as diffusers' StableDiffusionPipeline.encode_prompt (tokenizer max_length padding, CLIP
 * last_hidden_state; "" for the unconditional branch), the denoiser (UNet batch of any size, one
 * pass for the CFG pair [uncond, cond]; v_prediction / sample outputs converted to eps with spec
 * 1.5), the image <-> latent maps (VaeImageProcessor x / 255 * 2 - 1, posterior mean or seeded
 * sample times scaling_factor; decode latent / scaling_factor, clamp(x / 2 + 0.5), round half to
 * even). Not here: gradients, SDXL. */
#include "model/sd_model.h"

#include "core/core.h"
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sd_cond {
    char *prompt;
    float *embeds; /* (seq, dim) */
} sd_cond;

typedef struct sd_impl {
    trdi_diffusers *dir;
    trdi_tokenizer *tok;
    trdi_text_encoder *te;
    trdi_unet *unet;
    trdi_vae *vae;
    trdi_prediction_type pred;
    int64_t seq, dim;      /* text states per prompt */
    int64_t ih, iw, lh, lw, lc;
    sd_cond **conds;       /* cache, owned */
    int64_t nconds, capconds;
    const sd_cond *uncond; /* "" */
    float *ctx;            /* (ctx_batch, seq, dim) */
    int64_t ctx_batch;
    float *img_buf, *mom_buf, *lat_buf; /* (3, ih, iw), (2 lc, lh, lw), (lc, lh, lw) */
    bool vae_sample;
    trdi_rng rng;
    int64_t calls;
} sd_impl;

static void sd_destroy(void *p) {
    sd_impl *s = p;
    if (!s) return;
    for (int64_t i = 0; i < s->nconds; i++) {
        free(s->conds[i]->prompt);
        free(s->conds[i]->embeds);
        free(s->conds[i]);
    }
    free(s->conds);
    free(s->ctx);
    free(s->img_buf);
    free(s->mom_buf);
    free(s->lat_buf);
    trdi_unet_free(s->unet);
    trdi_vae_free(s->vae);
    trdi_text_encoder_free(s->te);
    trdi_tokenizer_free(s->tok);
    trdi_diffusers_free(s->dir);
    free(s);
}

static trdi_status sd_condition(void *p, const char *prompt, const void **out) {
    sd_impl *s = p;
    if (!prompt) prompt = "";
    for (int64_t i = 0; i < s->nconds; i++)
        if (strcmp(s->conds[i]->prompt, prompt) == 0) {
            *out = s->conds[i];
            return TRDI_OK;
        }
    if (s->nconds == s->capconds) {
        int64_t nc = s->capconds ? 2 * s->capconds : 8;
        sd_cond **c = realloc(s->conds, (size_t)nc * sizeof *c);
        if (!c) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        s->conds = c;
        s->capconds = nc;
    }
    trdi_tokens tk;
    trdi_status st = trdi_tokenizer_encode(s->tok, prompt, 0, &tk);
    if (st != TRDI_OK) return st;
    trdi_prompt_embeds pe;
    st = trdi_prompt_embeds_encode(s->te, tk.input_ids, NULL, NULL, tk.max_length, 0, &pe);
    trdi_tokens_clear(&tk);
    if (st != TRDI_OK) return st;
    if (pe.seq_len != s->seq || pe.dim != s->dim) {
        trdi_prompt_embeds_clear(&pe);
        return trdi_fail(TRDI_ERR_FORMAT, "prompt embeddings are (%lld, %lld), expected (%lld, %lld)",
                         (long long)pe.seq_len, (long long)pe.dim, (long long)s->seq,
                         (long long)s->dim);
    }
    sd_cond *c = trdi_calloc(1, sizeof *c);
    char *copy = strdup(prompt);
    if (!c || !copy) {
        free(c);
        free(copy);
        trdi_prompt_embeds_clear(&pe);
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    }
    c->prompt = copy;
    c->embeds = pe.embeds; /* taken over */
    pe.embeds = NULL;
    trdi_prompt_embeds_clear(&pe);
    s->conds[s->nconds++] = c;
    *out = c;
    return TRDI_OK;
}

static trdi_status sd_predict(void *p, const trdi_noise_schedule *sch, int64_t batch,
                              const float *x, int64_t t, const void *const *cond, float *eps) {
    sd_impl *s = p;
    size_t per = (size_t)(s->seq * s->dim);
    if (batch > s->ctx_batch) {
        float *c = trdi_mallocn((size_t)batch * per, sizeof(float));
        if (!c) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        free(s->ctx);
        s->ctx = c;
        s->ctx_batch = batch;
    }
    for (int64_t i = 0; i < batch; i++) {
        const sd_cond *c = (cond && cond[i]) ? cond[i] : s->uncond;
        memcpy(s->ctx + (size_t)i * per, c->embeds, per * sizeof(float));
    }
    trdi_status st = trdi_unet_forward(s->unet, batch, s->lh, s->lw, x, (double)t, s->ctx, s->seq,
                                       eps, NULL, NULL);
    if (st != TRDI_OK) return st;
    s->calls++;
    int64_t n = batch * s->lc * s->lh * s->lw;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(eps[i]))
            return trdi_fail(TRDI_ERR_NUMERIC,
                             "UNet output is not finite at timestep %lld (index %lld)",
                             (long long)t, (long long)i);
    if (s->pred == TRDI_PRED_EPSILON) return TRDI_OK;
    /* spec 1.5 with a = alphas_cumprod[t], in float32 */
    float a = trdi_noise_schedule_alphas_cumprod(sch)[t];
    float sa = sqrtf(a), s1 = sqrtf(1.0f - a);
    if (s->pred == TRDI_PRED_V) {
        for (int64_t i = 0; i < n; i++) eps[i] = sa * eps[i] + s1 * x[i];
    } else {
        if (!(s1 > 0.0f))
            return trdi_fail(TRDI_ERR_NUMERIC, "sample prediction at timestep %lld: 1 - a = 0",
                             (long long)t);
        for (int64_t i = 0; i < n; i++) eps[i] = (x[i] - sa * eps[i]) / s1;
    }
    return TRDI_OK;
}

static trdi_status sd_encode(void *p, const trdi_image *img, float *latent) {
    sd_impl *s = p;
    const trdi_vae_config *vc = trdi_vae_get_config(s->vae);
    int64_t hw = s->ih * s->iw, c = img->channels;
    /* VaeImageProcessor: x / 255 (float32) then 2x - 1; gray is replicated to RGB */
    for (int64_t ch = 0; ch < 3; ch++)
        for (int64_t q = 0; q < hw; q++) {
            uint8_t v = img->data[q * c + (c == 3 ? ch : 0)];
            s->img_buf[ch * hw + q] = 2.0f * ((float)v / 255.0f) - 1.0f;
        }
    trdi_status st = trdi_vae_encode(s->vae, 1, s->ih, s->iw, s->img_buf, s->mom_buf, NULL, NULL);
    if (st != TRDI_OK) return st;
    int64_t n = s->lc * s->lh * s->lw;
    trdi_vae_moments_split(s->vae, 1, n, s->mom_buf, latent, s->vae_sample ? s->lat_buf : NULL);
    if (s->vae_sample)
        for (int64_t i = 0; i < n; i++)
            latent[i] = latent[i] + s->lat_buf[i] * (float)trdi_rng_normal(&s->rng);
    float scale = (float)vc->scaling_factor, shift = (float)vc->shift_factor;
    for (int64_t i = 0; i < n; i++) {
        latent[i] = (latent[i] - shift) * scale;
        if (!isfinite(latent[i]))
            return trdi_fail(TRDI_ERR_NUMERIC, "VAE encoder output is not finite (index %lld)",
                             (long long)i);
    }
    return TRDI_OK;
}

static trdi_status sd_decode(void *p, const float *latent, trdi_image *out) {
    sd_impl *s = p;
    const trdi_vae_config *vc = trdi_vae_get_config(s->vae);
    int64_t n = s->lc * s->lh * s->lw;
    float scale = (float)vc->scaling_factor, shift = (float)vc->shift_factor;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(latent[i]))
            return trdi_fail(TRDI_ERR_NUMERIC, "decode: latent has a non-finite value at index %lld",
                             (long long)i);
        s->lat_buf[i] = latent[i] / scale + shift;
    }
    trdi_status st = trdi_vae_decode(s->vae, 1, s->lh, s->lw, s->lat_buf, s->img_buf, NULL, NULL);
    if (st != TRDI_OK) return st;
    if ((st = trdi_image_alloc(s->iw, s->ih, 3, out)) != TRDI_OK) return st;
    int64_t hw = s->ih * s->iw;
    for (int64_t ch = 0; ch < 3; ch++)
        for (int64_t q = 0; q < hw; q++) {
            /* postprocess: (x / 2 + 0.5).clamp(0, 1), then (255 x).round() (half to even) */
            float u = s->img_buf[ch * hw + q] / 2.0f + 0.5f;
            u = u < 0.0f ? 0.0f : (u > 1.0f ? 1.0f : u);
            if (u != u) {
                trdi_image_clear(out);
                return trdi_fail(TRDI_ERR_NUMERIC, "VAE decoder output is NaN");
            }
            out->data[q * 3 + ch] = (uint8_t)nearbyintf(255.0f * u);
        }
    return TRDI_OK;
}

static const trdi_model_ops sd_ops = {
    .kind = "sd",
    .destroy = sd_destroy,
    .condition = sd_condition,
    .num_labels = NULL,
    .label = NULL,
    .predict = sd_predict,
    .vjp = NULL, /* no gradients: GNRI reports "needs model gradients" */
    .encode = sd_encode,
    .decode = sd_decode,
};

static trdi_status load_parts(sd_impl *s, const char *dir, const trdi_model_params *p,
                              trdi_noise_config *ncfg) {
    if (p->weights_variant < TRDI_VARIANT_AUTO || p->weights_variant > TRDI_VARIANT_BF16)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "weights_variant %d is not a trdi_weights_variant",
                         p->weights_variant);
    trdi_status st = trdi_diffusers_open(dir, (trdi_weights_variant)p->weights_variant, &s->dir);
    if (st != TRDI_OK) return st;
    if (trdi_diffusers_has(s->dir, "text_encoder_2") || trdi_diffusers_has(s->dir, "tokenizer_2"))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: SDXL pipelines (%s) are not supported yet",
                         dir, trdi_diffusers_class(s->dir));
    static const char *const need[] = {"unet", "vae", "text_encoder", "tokenizer", "scheduler",
                                       NULL};
    for (int i = 0; need[i]; i++)
        if (!trdi_diffusers_has(s->dir, need[i]))
            return trdi_fail(TRDI_ERR_FORMAT, "%s: model_index.json has no %s", dir, need[i]);
    const char *sched_path = NULL;
    if ((st = trdi_diffusers_config_path(s->dir, "scheduler", &sched_path)) != TRDI_OK) return st;
    if ((st = trdi_noise_config_load(sched_path, ncfg)) != TRDI_OK) return st;
    s->pred = ncfg->prediction_type;
    const char *tdir = NULL;
    if ((st = trdi_diffusers_component_dir(s->dir, "tokenizer", &tdir)) != TRDI_OK) return st;
    if ((st = trdi_tokenizer_load(tdir, &s->tok)) != TRDI_OK) return st;
    if ((st = trdi_text_encoder_load_component(s->dir, "text_encoder", &s->te)) != TRDI_OK)
        return st;
    if ((st = trdi_unet_load(s->dir, "unet", &s->unet)) != TRDI_OK) return st;
    if ((st = trdi_vae_load(s->dir, "vae", &s->vae)) != TRDI_OK) return st;
    const trdi_unet_config *uc = trdi_unet_get_config(s->unet);
    const trdi_vae_config *vc = trdi_vae_get_config(s->vae);
    const trdi_text_encoder_info *ti = trdi_text_encoder_get_info(s->te);
    if (ti->hidden_size != uc->cross_dim[0])
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: text encoder hidden_size %lld != unet cross_attention_dim %lld", dir,
                         (long long)ti->hidden_size, (long long)uc->cross_dim[0]);
    if (uc->in_channels != vc->latent_channels || uc->out_channels != vc->latent_channels)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: unet in/out channels %lld/%lld != vae latent_channels %lld", dir,
                         (long long)uc->in_channels, (long long)uc->out_channels,
                         (long long)vc->latent_channels);
    if (vc->in_channels != 3 || vc->out_channels != 3)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: only RGB VAEs are supported", dir);
    int64_t f = vc->down_factor;
    s->seq = ti->max_positions;
    s->dim = ti->hidden_size;
    s->lc = vc->latent_channels;
    if (p->channels != 0 && p->channels != 3)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "Stable Diffusion takes RGB images, not %lld channels",
                         (long long)p->channels);
    if (p->width > 0 || p->height > 0) {
        s->iw = p->width > 0 ? p->width : p->height;
        s->ih = p->height > 0 ? p->height : p->width;
        if (s->iw % f != 0 || s->ih % f != 0)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "image size %lldx%lld is not a multiple of %lld (the VAE factor)",
                             (long long)s->iw, (long long)s->ih, (long long)f);
    } else {
        s->iw = s->ih = uc->sample_size * f;
    }
    s->lh = s->ih / f;
    s->lw = s->iw / f;
    size_t img_n = (size_t)(3 * s->ih * s->iw), lat_n = (size_t)(s->lc * s->lh * s->lw);
    s->img_buf = trdi_mallocn(img_n, sizeof(float));
    s->mom_buf = trdi_mallocn(2 * lat_n, sizeof(float));
    s->lat_buf = trdi_mallocn(lat_n, sizeof(float));
    if (!s->img_buf || !s->mom_buf || !s->lat_buf) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    const void *u = NULL;
    if ((st = sd_condition(s, "", &u)) != TRDI_OK) return st;
    s->uncond = u;
    trdi_rng_seed(&s->rng, 0);
    return TRDI_OK;
}

trdi_status sd_model_load(const char *dir, const trdi_model_params *p, trdi_model **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "sd_model_load: out is NULL");
    *out = NULL;
    if (!dir) return trdi_fail(TRDI_ERR_INVALID_ARG, "sd_model_load: dir is NULL");
    trdi_model_params dp = trdi_model_default_params();
    if (!p) p = &dp;
    sd_impl *s = trdi_calloc(1, sizeof *s);
    if (!s) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    trdi_noise_config ncfg;
    trdi_status st = load_parts(s, dir, p, &ncfg);
    trdi_noise_schedule *sched = NULL;
    if (st == TRDI_OK) st = trdi_noise_schedule_create(&ncfg, &sched);
    if (st != TRDI_OK) {
        sd_destroy(s);
        return st;
    }
    return trdi_model_create(&sd_ops, s, sched, 3, s->ih, s->iw, s->lc, s->lh, s->lw, NULL, out);
}

trdi_status sd_model_set_vae_sample(trdi_model *m, bool enabled, uint64_t seed) {
    sd_impl *s = trdi_model_impl(m, "sd");
    if (!s) return trdi_fail(TRDI_ERR_INVALID_ARG, "VAE sampling needs a Stable Diffusion model");
    s->vae_sample = enabled;
    trdi_rng_seed(&s->rng, seed);
    return TRDI_OK;
}

trdi_unet *sd_model_unet(trdi_model *m) {
    sd_impl *s = trdi_model_impl(m, "sd");
    return s ? s->unet : NULL;
}

trdi_vae *sd_model_vae(trdi_model *m) {
    sd_impl *s = trdi_model_impl(m, "sd");
    return s ? s->vae : NULL;
}

int64_t sd_model_unet_calls(const trdi_model *m) {
    const sd_impl *s = trdi_model_impl(m, "sd");
    return s ? s->calls : 0;
}
