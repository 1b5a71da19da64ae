/* vae.c -- diffusers 0.31 AutoencoderKL (autoencoders/autoencoder_kl.py, vae.py Encoder/Decoder):
 * encoder conv_in -> DownEncoderBlock2D x n (resnets without time embedding, GroupNorm eps 1e-6;
 * Downsample2D with padding 0 pads (0, 1, 0, 1) with zeros then a stride-2 3x3 conv) -> mid
 * (resnet, single-head self-attention with its own GroupNorm and a residual, resnet) ->
 * GroupNorm -> SiLU -> conv_out -> quant_conv; decoder post_quant_conv -> conv_in -> mid ->
 * UpDecoderBlock2D x n (layers + 1 resnets, nearest 2x + conv) -> GroupNorm -> SiLU -> conv_out.
 * Float32; activations from a measured arena (see sd_nn.h). Not here: scaling, images (sd_model.c). */
#include "model/vae.h"

#include "io/diffusers.h"
#include "kernels/conv.h"
#include "kernels/kernels.h"
#include "model/sd_nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAE_EPS 1e-6f
#define VAE_MAX_RES 8

typedef struct vblock {
    int64_t nres, cout;
    sd_resnet res[VAE_MAX_RES];
    bool has_sample;
    sd_conv sample;
} vblock;

typedef struct vmid {
    sd_resnet res[2];
    sd_norm attn_norm;
    sd_attn attn;
} vmid;

typedef struct vpart {
    sd_conv conv_in, conv_out;
    vblock blocks[TRDI_VAE_MAX_BLOCKS];
    vmid mid;
    sd_norm norm_out;
} vpart;

struct trdi_vae {
    trdi_vae_config cfg;
    trdi_safetensors *file;
    float *weights;
    vpart enc, dec;
    sd_conv quant, post_quant;
    sd_act act;
    /* arena sized for: */
    int64_t enc_sized[3], dec_sized[3]; /* (b, h, w) the arena was last sized for, per pass */
};

#define TRY(x)                                                                                     \
    do {                                                                                           \
        trdi_status st_ = (x);                                                                     \
        if (st_ != TRDI_OK) return st_;                                                            \
    } while (0)

static trdi_status read_config(const trdi_json *j, trdi_vae_config *c) {
    memset(c, 0, sizeof *c);
    const char *path = trdi_json_path(j);
    TRY(trdi_json_int_opt(j, NULL, "in_channels", 3, 1, 64, &c->in_channels));
    TRY(trdi_json_int_opt(j, NULL, "out_channels", 3, 1, 64, &c->out_channels));
    TRY(trdi_json_int_opt(j, NULL, "latent_channels", 4, 1, 1024, &c->latent_channels));
    int nb = 0;
    TRY(trdi_json_int_array(j, NULL, "block_out_channels", 1, 65536, c->block_out,
                            TRDI_VAE_MAX_BLOCKS, &nb));
    c->nblocks = nb;
    const char *types[TRDI_VAE_MAX_BLOCKS];
    int nt = 0;
    TRY(trdi_json_string_array(j, NULL, "down_block_types", types, TRDI_VAE_MAX_BLOCKS, &nt));
    for (int i = 0; i < nt; i++)
        if (strcmp(types[i], "DownEncoderBlock2D") != 0)
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: down block type '%s' is not supported",
                             path, types[i]);
    if (nt != nb)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: %d down_block_types for %d block_out_channels",
                         path, nt, nb);
    TRY(trdi_json_string_array(j, NULL, "up_block_types", types, TRDI_VAE_MAX_BLOCKS, &nt));
    for (int i = 0; i < nt; i++)
        if (strcmp(types[i], "UpDecoderBlock2D") != 0)
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: up block type '%s' is not supported", path,
                             types[i]);
    if (nt != nb)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: %d up_block_types for %d block_out_channels", path,
                         nt, nb);
    const char *act = NULL;
    TRY(trdi_json_string_opt(j, NULL, "act_fn", "silu", &act));
    if (strcmp(act, "silu") != 0)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: act_fn '%s' is not supported", path, act);
    TRY(trdi_json_int_opt(j, NULL, "layers_per_block", 1, 1, VAE_MAX_RES - 1, &c->layers));
    TRY(trdi_json_int_opt(j, NULL, "norm_num_groups", 32, 1, 65536, &c->groups));
    TRY(trdi_json_double_opt(j, NULL, "scaling_factor", 0.18215, 1e-9, 1e9, &c->scaling_factor));
    TRY(trdi_json_double_opt(j, NULL, "shift_factor", 0, -1e9, 1e9, &c->shift_factor));
    TRY(trdi_json_int_opt(j, NULL, "sample_size", 512, 1, 1 << 20, &c->sample_size));
    TRY(trdi_json_bool_opt(j, NULL, "use_quant_conv", true, &c->quant_conv));
    TRY(trdi_json_bool_opt(j, NULL, "use_post_quant_conv", true, &c->post_quant_conv));
    TRY(trdi_json_bool_opt(j, NULL, "mid_block_add_attention", true, &c->mid_attention));
    if (trdi_json_has(j, NULL, "latents_mean") || trdi_json_has(j, NULL, "latents_std"))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: latents_mean / latents_std are not supported",
                         path);
    for (int i = 0; i < nb; i++)
        if (c->block_out[i] % c->groups != 0)
            return trdi_fail(TRDI_ERR_FORMAT,
                             "%s: block_out_channels[%d] = %lld not divisible by norm_num_groups "
                             "%lld",
                             path, i, (long long)c->block_out[i], (long long)c->groups);
    c->down_factor = (int64_t)1 << (nb - 1);
    return TRDI_OK;
}

static void load_mid(sd_wl *wl, vmid *m, int64_t ch, bool attn, const char *pre) {
    char nm[200];
    snprintf(nm, sizeof nm, "%s.mid_block.resnets.0", pre);
    sd_load_resnet(wl, &m->res[0], ch, ch, 0, nm);
    memset(&m->attn, 0, sizeof m->attn);
    if (attn) {
        snprintf(nm, sizeof nm, "%s.mid_block.attentions.0.group_norm", pre);
        sd_load_norm(wl, &m->attn_norm, ch, nm);
        m->attn.heads = 1;
        m->attn.dim = ch;
        snprintf(nm, sizeof nm, "%s.mid_block.attentions.0.to_q", pre);
        sd_load_lin(wl, &m->attn.q, ch, ch, true, nm);
        snprintf(nm, sizeof nm, "%s.mid_block.attentions.0.to_k", pre);
        sd_load_lin(wl, &m->attn.k, ch, ch, true, nm);
        snprintf(nm, sizeof nm, "%s.mid_block.attentions.0.to_v", pre);
        sd_load_lin(wl, &m->attn.v, ch, ch, true, nm);
        snprintf(nm, sizeof nm, "%s.mid_block.attentions.0.to_out.0", pre);
        sd_load_lin(wl, &m->attn.o, ch, ch, true, nm);
    }
    snprintf(nm, sizeof nm, "%s.mid_block.resnets.1", pre);
    sd_load_resnet(wl, &m->res[1], ch, ch, 0, nm);
}

static trdi_status build(trdi_vae *v, sd_wl *wl) {
    const trdi_vae_config *c = &v->cfg;
    int nb = c->nblocks;
    char nm[200];
    int64_t c0 = c->block_out[0], top = c->block_out[nb - 1], lc = c->latent_channels;
    /* encoder */
    sd_load_conv(wl, &v->enc.conv_in, c->in_channels, c0, 3, "encoder.conv_in");
    int64_t out_ch = c0;
    for (int i = 0; i < nb; i++) {
        vblock *b = &v->enc.blocks[i];
        int64_t in_ch = out_ch;
        out_ch = c->block_out[i];
        b->nres = c->layers;
        b->cout = out_ch;
        for (int64_t l = 0; l < b->nres; l++) {
            snprintf(nm, sizeof nm, "encoder.down_blocks.%d.resnets.%lld", i, (long long)l);
            sd_load_resnet(wl, &b->res[l], l == 0 ? in_ch : out_ch, out_ch, 0, nm);
        }
        b->has_sample = i < nb - 1;
        if (b->has_sample) {
            snprintf(nm, sizeof nm, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            sd_load_conv(wl, &b->sample, out_ch, out_ch, 3, nm);
        }
    }
    load_mid(wl, &v->enc.mid, top, c->mid_attention, "encoder");
    sd_load_norm(wl, &v->enc.norm_out, top, "encoder.conv_norm_out");
    sd_load_conv(wl, &v->enc.conv_out, top, 2 * lc, 3, "encoder.conv_out");
    if (c->quant_conv) sd_load_conv(wl, &v->quant, 2 * lc, 2 * lc, 1, "quant_conv");
    if (c->post_quant_conv) sd_load_conv(wl, &v->post_quant, lc, lc, 1, "post_quant_conv");
    /* decoder */
    sd_load_conv(wl, &v->dec.conv_in, lc, top, 3, "decoder.conv_in");
    load_mid(wl, &v->dec.mid, top, c->mid_attention, "decoder");
    out_ch = top;
    for (int i = 0; i < nb; i++) {
        vblock *b = &v->dec.blocks[i];
        int64_t prev = out_ch;
        out_ch = c->block_out[nb - 1 - i];
        b->nres = c->layers + 1;
        b->cout = out_ch;
        for (int64_t l = 0; l < b->nres; l++) {
            snprintf(nm, sizeof nm, "decoder.up_blocks.%d.resnets.%lld", i, (long long)l);
            sd_load_resnet(wl, &b->res[l], l == 0 ? prev : out_ch, out_ch, 0, nm);
        }
        b->has_sample = i < nb - 1;
        if (b->has_sample) {
            snprintf(nm, sizeof nm, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            sd_load_conv(wl, &b->sample, out_ch, out_ch, 3, nm);
        }
    }
    sd_load_norm(wl, &v->dec.norm_out, c0, "decoder.conv_norm_out");
    sd_load_conv(wl, &v->dec.conv_out, c0, c->out_channels, 3, "decoder.conv_out");
    return wl->err;
}

void trdi_vae_free(trdi_vae *v) {
    if (!v) return;
    free(v->weights);
    sd_act_free(&v->act);
    trdi_safetensors_close(v->file);
    free(v);
}

trdi_status trdi_vae_load(const trdi_diffusers *m, const char *component, trdi_vae **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "vae: out is NULL");
    *out = NULL;
    if (!m || !component) return trdi_fail(TRDI_ERR_INVALID_ARG, "vae: NULL model or component");
    const char *cls = trdi_diffusers_component_class(m, component, NULL);
    if (!cls)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: the model has no component %s",
                         trdi_diffusers_dir(m), component);
    if (strcmp(cls, "AutoencoderKL") != 0)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: component %s is a %s, not an AutoencoderKL",
                         trdi_diffusers_dir(m), component, cls);
    const trdi_json *j = NULL;
    TRY(trdi_diffusers_config_json(m, component, &j));
    trdi_vae *v = trdi_calloc(1, sizeof *v);
    if (!v) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    trdi_status st = read_config(j, &v->cfg);
    if (st == TRDI_OK) st = trdi_diffusers_open_weights(m, component, &v->file);
    if (st == TRDI_OK) {
        sd_wl wl = {0};
        wl.f = v->file;
        wl.prefix = "";
        st = build(v, &wl);
        if (st == TRDI_OK) st = sd_wl_begin_load(&wl, trdi_safetensors_path(v->file), false);
        v->weights = wl.buf;
        if (st == TRDI_OK) st = build(v, &wl);
        sd_wl_free_specs(&wl);
    }
    trdi_safetensors_close(v->file);
    v->file = NULL;
    if (st != TRDI_OK) {
        trdi_vae_free(v);
        return st;
    }
    *out = v;
    return TRDI_OK;
}

const trdi_vae_config *trdi_vae_get_config(const trdi_vae *v) { return v ? &v->cfg : NULL; }

/* ---- forward --------------------------------------------------------------------------------- */

#define NEED(p)                                                                                    \
    do {                                                                                           \
        if (!(p)) return trdi_fail(TRDI_ERR_INTERNAL, "vae: activation arena too small");          \
    } while (0)

static void debug_out(trdi_vae *v, trdi_vae_debug_fn dbg, void *user, const char *name,
                      const float *p, int64_t b, int64_t c, int64_t h, int64_t w) {
    if (dbg && !v->act.measure) dbg(user, name, p, b, c, h, w);
}

/* mid block: resnet, attention (GroupNorm -> q/k/v -> softmax -> to_out, + input), resnet;
 * *x (b, ch, h, w) at mark `mk` is replaced. */
static trdi_status mid_fwd(trdi_vae *v, const vmid *m, int64_t b, int64_t ch, int64_t h, int64_t w,
                           size_t mk, float **x) {
    sd_act *a = &v->act;
    int64_t hw = h * w, g = v->cfg.groups;
    float *r = NULL;
    TRY(sd_resnet_fwd(a, &m->res[0], g, VAE_EPS, b, h, w, *x, NULL, &r));
    r = sd_keep(a, mk, r, (size_t)(b * ch * hw));
    if (m->attn.q.w || m->attn.q.w16) {
        float *y = sd_alloc(a, (size_t)(b * ch * hw));
        size_t mk2 = sd_mark(a);
        float *gn = sd_alloc(a, (size_t)(b * ch * hw));
        float *tok = sd_alloc(a, (size_t)(b * ch * hw));
        float *at = sd_alloc(a, (size_t)(b * ch * hw));
        NEED(y && gn && tok && at);
        TRY(sd_group_norm(a, &m->attn_norm, g, VAE_EPS, false, b, hw, r, gn));
        if (!a->measure) sd_nchw_to_tokens(b, ch, hw, gn, tok);
        TRY(sd_attention_fwd(a, &m->attn, b, hw, tok, 0, NULL, at));
        if (!a->measure) {
            sd_tokens_to_nchw(b, ch, hw, at, y);
            trdi_k_add(b * ch * hw, y, r, y); /* residual_connection, rescale_output_factor 1 */
        }
        sd_reset(a, mk2);
        r = sd_keep(a, mk, y, (size_t)(b * ch * hw));
    }
    float *r2 = NULL;
    TRY(sd_resnet_fwd(a, &m->res[1], g, VAE_EPS, b, h, w, r, NULL, &r2));
    *x = sd_keep(a, mk, r2, (size_t)(b * ch * hw));
    return TRDI_OK;
}

static trdi_status encode_impl(trdi_vae *v, int64_t b, int64_t h, int64_t w, const float *x,
                               float *moments, trdi_vae_debug_fn dbg, void *user) {
    const trdi_vae_config *c = &v->cfg;
    sd_act *a = &v->act;
    sd_reset(a, 0);
    int64_t g = c->groups, ch = c->block_out[0];
    float *hcur = NULL;
    TRY(sd_conv2d(a, &v->enc.conv_in, b, h, w, x, 1, 1, &hcur, NULL, NULL));
    debug_out(v, dbg, user, "enc.conv_in", hcur, b, ch, h, w);
    char nm[64];
    for (int i = 0; i < c->nblocks; i++) {
        const vblock *blk = &v->enc.blocks[i];
        for (int64_t l = 0; l < blk->nres; l++) {
            float *r = NULL;
            TRY(sd_resnet_fwd(a, &blk->res[l], g, VAE_EPS, b, h, w, hcur, NULL, &r));
            ch = blk->cout;
            hcur = sd_keep(a, 0, r, (size_t)(b * ch * h * w));
        }
        if (blk->has_sample) {
            /* Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)) then conv stride 2, no padding */
            int64_t ph = h + 1, pw = w + 1;
            float *pad = sd_alloc(a, (size_t)(b * ch * ph * pw));
            NEED(pad);
            if (!a->measure)
                for (int64_t p = 0; p < b * ch; p++) {
                    for (int64_t i2 = 0; i2 < h; i2++) {
                        memcpy(pad + (p * ph + i2) * pw, hcur + (p * h + i2) * w,
                               (size_t)w * sizeof(float));
                        pad[(p * ph + i2) * pw + w] = 0.0f;
                    }
                    memset(pad + (p * ph + h) * pw, 0, (size_t)pw * sizeof(float));
                }
            float *d = NULL;
            int64_t oh, ow;
            TRY(sd_conv2d(a, &blk->sample, b, ph, pw, pad, 2, 0, &d, &oh, &ow));
            h = oh;
            w = ow;
            hcur = sd_keep(a, 0, d, (size_t)(b * ch * h * w));
        }
        snprintf(nm, sizeof nm, "enc.down_blocks.%d", i);
        debug_out(v, dbg, user, nm, hcur, b, ch, h, w);
    }
    TRY(mid_fwd(v, &v->enc.mid, b, ch, h, w, 0, &hcur));
    debug_out(v, dbg, user, "enc.mid_block", hcur, b, ch, h, w);
    TRY(sd_group_norm(a, &v->enc.norm_out, g, VAE_EPS, true, b, h * w, hcur, hcur));
    float *co = NULL;
    TRY(sd_conv2d(a, &v->enc.conv_out, b, h, w, hcur, 1, 1, &co, NULL, NULL));
    int64_t mc = 2 * c->latent_channels;
    debug_out(v, dbg, user, "enc.conv_out", co, b, mc, h, w);
    float *q = co;
    if (c->quant_conv) TRY(sd_conv2d(a, &v->quant, b, h, w, co, 1, 0, &q, NULL, NULL));
    if (!a->measure) memcpy(moments, q, (size_t)(b * mc * h * w) * sizeof(float));
    sd_reset(a, 0);
    return TRDI_OK;
}

static trdi_status decode_impl(trdi_vae *v, int64_t b, int64_t h, int64_t w, const float *z,
                               float *out, trdi_vae_debug_fn dbg, void *user) {
    const trdi_vae_config *c = &v->cfg;
    sd_act *a = &v->act;
    sd_reset(a, 0);
    int64_t g = c->groups, lc = c->latent_channels, ch = c->block_out[c->nblocks - 1];
    const float *zin = z;
    if (c->post_quant_conv) {
        float *pq = NULL;
        TRY(sd_conv2d(a, &v->post_quant, b, h, w, z, 1, 0, &pq, NULL, NULL));
        debug_out(v, dbg, user, "dec.post_quant_conv", pq, b, lc, h, w);
        zin = pq;
    }
    float *hcur = NULL;
    TRY(sd_conv2d(a, &v->dec.conv_in, b, h, w, zin, 1, 1, &hcur, NULL, NULL));
    hcur = sd_keep(a, 0, hcur, (size_t)(b * ch * h * w));
    debug_out(v, dbg, user, "dec.conv_in", hcur, b, ch, h, w);
    TRY(mid_fwd(v, &v->dec.mid, b, ch, h, w, 0, &hcur));
    debug_out(v, dbg, user, "dec.mid_block", hcur, b, ch, h, w);
    char nm[64];
    for (int i = 0; i < c->nblocks; i++) {
        const vblock *blk = &v->dec.blocks[i];
        for (int64_t l = 0; l < blk->nres; l++) {
            float *r = NULL;
            TRY(sd_resnet_fwd(a, &blk->res[l], g, VAE_EPS, b, h, w, hcur, NULL, &r));
            ch = blk->cout;
            hcur = sd_keep(a, 0, r, (size_t)(b * ch * h * w));
        }
        if (blk->has_sample) {
            float *up = sd_alloc(a, (size_t)(b * ch * 4 * h * w));
            NEED(up);
            if (!a->measure) trdi_upsample_nearest2x(hcur, b * ch, h, w, up);
            h *= 2;
            w *= 2;
            float *cv = NULL;
            TRY(sd_conv2d(a, &blk->sample, b, h, w, up, 1, 1, &cv, NULL, NULL));
            hcur = sd_keep(a, 0, cv, (size_t)(b * ch * h * w));
        }
        snprintf(nm, sizeof nm, "dec.up_blocks.%d", i);
        debug_out(v, dbg, user, nm, hcur, b, ch, h, w);
    }
    TRY(sd_group_norm(a, &v->dec.norm_out, g, VAE_EPS, true, b, h * w, hcur, hcur));
    float *co = NULL;
    TRY(sd_conv2d(a, &v->dec.conv_out, b, h, w, hcur, 1, 1, &co, NULL, NULL));
    debug_out(v, dbg, user, "dec.conv_out", co, b, c->out_channels, h, w);
    if (!a->measure) memcpy(out, co, (size_t)(b * c->out_channels * h * w) * sizeof(float));
    sd_reset(a, 0);
    return TRDI_OK;
}

static trdi_status check_sizes(const char *what, int64_t b, int64_t h, int64_t w) {
    if (b < 1 || h < 1 || w < 1 || b > 4096 || h > 65536 || w > 65536)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "vae %s: bad sizes batch %lld, %lldx%lld", what,
                         (long long)b, (long long)h, (long long)w);
    return TRDI_OK;
}

typedef trdi_status (*vae_pass)(trdi_vae *v, int64_t b, int64_t h, int64_t w, const float *in,
                                float *out, trdi_vae_debug_fn dbg, void *user);

/* Runs a pass, first as a dry run that sizes the arena when `sized` (b, h, w) does not cover it. */
static trdi_status run_sized(trdi_vae *v, vae_pass pass, int64_t sized[3], int64_t b, int64_t h,
                             int64_t w, const float *in, float *out, trdi_vae_debug_fn dbg,
                             void *user) {
    if (!(sized[0] >= b && sized[1] == h && sized[2] == w)) {
        v->act.measure = true;
        v->act.used = v->act.peak = 0;
        trdi_status st = pass(v, b, h, w, in, out, NULL, NULL);
        v->act.measure = false;
        if (st != TRDI_OK) return st;
        TRY(sd_act_reserve(&v->act, v->act.peak));
        sized[0] = b, sized[1] = h, sized[2] = w;
    }
    return pass(v, b, h, w, in, out, dbg, user);
}

trdi_status trdi_vae_encode(trdi_vae *v, int64_t b, int64_t h, int64_t w, const float *x,
                            float *moments, trdi_vae_debug_fn dbg, void *user) {
    if (!v || !x || !moments) return trdi_fail(TRDI_ERR_INVALID_ARG, "vae encode: NULL argument");
    TRY(check_sizes("encode", b, h, w));
    int64_t f = v->cfg.down_factor;
    if (h % f != 0 || w % f != 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "vae encode: image %lldx%lld is not a multiple of %lld (crop or resize it)",
                         (long long)w, (long long)h, (long long)f);
    return run_sized(v, encode_impl, v->enc_sized, b, h, w, x, moments, dbg, user);
}

trdi_status trdi_vae_decode(trdi_vae *v, int64_t b, int64_t h, int64_t w, const float *z,
                            float *out, trdi_vae_debug_fn dbg, void *user) {
    if (!v || !z || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "vae decode: NULL argument");
    TRY(check_sizes("decode", b, h, w));
    return run_sized(v, decode_impl, v->dec_sized, b, h, w, z, out, dbg, user);
}

trdi_status trdi_vae_plan(trdi_vae *v, bool encode, int64_t b, int64_t h, int64_t w,
                          double *flops, size_t *arena_bytes) {
    if (!v) return trdi_fail(TRDI_ERR_INVALID_ARG, "vae plan: NULL vae");
    TRY(check_sizes(encode ? "encode" : "decode", b, h, w));
    sd_act saved = v->act;
    v->act.measure = true;
    v->act.used = v->act.peak = 0;
    v->act.flops = 0;
    float dummy = 0;
    trdi_status st = encode ? encode_impl(v, b, h, w, &dummy, &dummy, NULL, NULL)
                            : decode_impl(v, b, h, w, &dummy, &dummy, NULL, NULL);
    if (flops) *flops = v->act.flops;
    if (arena_bytes) *arena_bytes = v->act.peak;
    v->act = saved;
    return st;
}

void trdi_vae_moments_split(const trdi_vae *v, int64_t b, int64_t n, const float *moments,
                            float *mean, float *std) {
    (void)v;
    for (int64_t i = 0; i < b; i++) {
        const float *mo = moments + i * 2 * n;
        for (int64_t k = 0; k < n; k++) {
            if (mean) mean[i * n + k] = mo[k];
            if (std) {
                /* DiagonalGaussianDistribution: logvar clamped to [-30, 20], std = exp(0.5 lv) */
                float lv = mo[n + k];
                lv = lv < -30.0f ? -30.0f : (lv > 20.0f ? 20.0f : lv);
                std[i * n + k] = expf(0.5f * lv);
            }
        }
    }
}

trdi_status sd_vae_list_weights(const trdi_json *cfg, sd_wl *wl) {
    trdi_vae *v = trdi_calloc(1, sizeof *v);
    if (!v) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    trdi_status st = read_config(cfg, &v->cfg);
    if (st == TRDI_OK) st = build(v, wl);
    trdi_vae_free(v);
    return st;
}
