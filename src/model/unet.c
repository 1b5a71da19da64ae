/* unet.c -- diffusers 0.31 UNet2DConditionModel (unets/unet_2d_condition.py) for the SD 1.x / 2.x
 * configs: sinusoidal timestep embedding + TimestepEmbedding, conv_in, CrossAttnDownBlock2D /
 * DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D with skip concatenation,
 * Transformer2DModel (GroupNorm eps 1e-6, conv or linear projections, BasicTransformerBlock with
 * self-attention, cross-attention and GEGLU feed-forward), GroupNorm -> SiLU -> conv_out.
 * Float32 throughout; activations come from one arena measured by a dry run.
 * Not here: SDXL additions, prediction-type conversion (sd_model.c). */
#include "model/unet.h"

#include "io/diffusers.h"
#include "kernels/conv.h"
#include "kernels/kernels.h"
#include "model/sd_nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tf_block {
    sd_norm n1, n2, n3;
    sd_attn a1, a2;
    sd_lin ff1, ff2; /* GEGLU proj (8C <- C), out (C <- 4C) */
} tf_block;

typedef struct tf2d {
    sd_norm norm;
    sd_lin proj_in, proj_out;
    int64_t depth, ch;
    tf_block *blocks;
} tf2d;

typedef struct ublock {
    bool cross;
    int64_t nres, cout;
    sd_resnet res[TRDI_UNET_MAX_LAYERS + 1];
    tf2d att[TRDI_UNET_MAX_LAYERS + 1];
    bool has_sample;
    sd_conv sample; /* downsampler conv (stride 2) or upsampler conv */
} ublock;

struct trdi_unet {
    trdi_unet_config cfg;
    trdi_safetensors *file;
    float *weights;     /* float32 tensors (wl.buf) */
    size_t nweights;
    uint16_t *weights16; /* matrices the file stores as F16, kept as fp16 (wl.buf16) */
    size_t nweights16;
    sd_lin time1, time2;
    sd_conv conv_in, conv_out;
    sd_norm norm_out;
    ublock down[TRDI_UNET_MAX_BLOCKS], up[TRDI_UNET_MAX_BLOCKS];
    sd_resnet mid_res[2];
    tf2d mid_att;
    int64_t max_cout;
    sd_act act;
    int64_t sized_b, sized_h, sized_w, sized_s; /* the arena fits these */
    double flops; /* of the last measured forward */
};

/* ---- config ---------------------------------------------------------------------------------- */

static trdi_status check_str(const trdi_json *j, const char *key, const char *want) {
    const char *v = NULL;
    trdi_status st = trdi_json_string_opt(j, NULL, key, want, &v);
    if (st != TRDI_OK) return st;
    if (strcmp(v, want) != 0)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: %s '%s' is not supported (only '%s')",
                         trdi_json_path(j), key, v, want);
    return TRDI_OK;
}

static trdi_status check_null(const trdi_json *j, const char *key) {
    if (trdi_json_has(j, NULL, key))
        return trdi_fail(TRDI_ERR_UNSUPPORTED,
                         "%s: %s is set; only the SD 1.x/2.x UNet (no SDXL/class embeddings) is "
                         "supported",
                         trdi_json_path(j), key);
    return TRDI_OK;
}

static trdi_status check_false(const trdi_json *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(trdi_json_root(j), key);
    if (v && cJSON_IsTrue(v))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: %s = true is not supported", trdi_json_path(j),
                         key);
    if (v && cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) if (cJSON_IsTrue(e)) return trdi_fail(
            TRDI_ERR_UNSUPPORTED, "%s: %s = true is not supported", trdi_json_path(j), key);
    }
    return TRDI_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        trdi_status st_ = (x);                                                                     \
        if (st_ != TRDI_OK) return st_;                                                            \
    } while (0)

static trdi_status read_config(const trdi_json *j, trdi_unet_config *c) {
    memset(c, 0, sizeof *c);
    const char *path = trdi_json_path(j);
    TRY(trdi_json_int_opt(j, NULL, "in_channels", 4, 1, 1024, &c->in_channels));
    TRY(trdi_json_int_opt(j, NULL, "out_channels", 4, 1, 1024, &c->out_channels));
    int nb = 0;
    TRY(trdi_json_int_array(j, NULL, "block_out_channels", 1, 65536, c->block_out,
                            TRDI_UNET_MAX_BLOCKS, &nb));
    c->nblocks = nb;
    const char *types[TRDI_UNET_MAX_BLOCKS];
    int nt = 0;
    TRY(trdi_json_string_array(j, NULL, "down_block_types", types, TRDI_UNET_MAX_BLOCKS, &nt));
    if (nt != nb)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: %d down_block_types for %d block_out_channels",
                         path, nt, nb);
    for (int i = 0; i < nb; i++) {
        if (strcmp(types[i], "CrossAttnDownBlock2D") == 0)
            c->down_cross[i] = true;
        else if (strcmp(types[i], "DownBlock2D") != 0)
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: down block type '%s' is not supported",
                             path, types[i]);
    }
    TRY(trdi_json_string_array(j, NULL, "up_block_types", types, TRDI_UNET_MAX_BLOCKS, &nt));
    if (nt != nb)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: %d up_block_types for %d block_out_channels", path,
                         nt, nb);
    for (int i = 0; i < nb; i++) {
        if (strcmp(types[i], "CrossAttnUpBlock2D") == 0)
            c->up_cross[i] = true;
        else if (strcmp(types[i], "UpBlock2D") != 0)
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: up block type '%s' is not supported", path,
                             types[i]);
    }
    TRY(check_str(j, "mid_block_type", "UNetMidBlock2DCrossAttn"));
    TRY(check_str(j, "act_fn", "silu"));
    TRY(check_str(j, "time_embedding_type", "positional"));
    TRY(check_str(j, "resnet_time_scale_shift", "default"));
    TRY(check_str(j, "attention_type", "default"));
    static const char *const nulls[] = {"addition_embed_type", "class_embed_type",
                                        "num_class_embeds", "encoder_hid_dim",
                                        "time_cond_proj_dim", "timestep_post_act",
                                        "time_embedding_act_fn", "cross_attention_norm",
                                        "reverse_transformer_layers_per_block", NULL};
    for (int i = 0; nulls[i]; i++) TRY(check_null(j, nulls[i]));
    TRY(check_false(j, "dual_cross_attention"));
    TRY(check_false(j, "only_cross_attention"));
    TRY(check_false(j, "center_input_sample"));
    TRY(check_false(j, "resnet_skip_time_act"));
    TRY(check_false(j, "class_embeddings_concat"));
    int64_t k;
    TRY(trdi_json_int_opt(j, NULL, "conv_in_kernel", 3, 3, 3, &k));
    TRY(trdi_json_int_opt(j, NULL, "conv_out_kernel", 3, 3, 3, &k));
    double d;
    TRY(trdi_json_double_opt(j, NULL, "mid_block_scale_factor", 1, 1, 1, &d));
    TRY(trdi_json_double_opt(j, NULL, "resnet_out_scale_factor", 1, 1, 1, &d));
    TRY(trdi_json_int_or_array(j, NULL, "layers_per_block", 1, TRDI_UNET_MAX_LAYERS, nb,
                               c->layers));
    if (trdi_json_has(j, NULL, "num_attention_heads"))
        TRY(trdi_json_int_or_array(j, NULL, "num_attention_heads", 1, 4096, nb, c->heads));
    else
        TRY(trdi_json_int_or_array(j, NULL, "attention_head_dim", 1, 4096, nb, c->heads));
    if (trdi_json_has(j, NULL, "transformer_layers_per_block"))
        TRY(trdi_json_int_or_array(j, NULL, "transformer_layers_per_block", 1, 64, nb,
                                   c->tf_layers));
    else
        for (int i = 0; i < nb; i++) c->tf_layers[i] = 1;
    TRY(trdi_json_int_or_array(j, NULL, "cross_attention_dim", 1, 65536, nb, c->cross_dim));
    TRY(trdi_json_bool_opt(j, NULL, "use_linear_projection", false, &c->linear_proj));
    TRY(trdi_json_bool_opt(j, NULL, "upcast_attention", false, &c->upcast_attention));
    TRY(trdi_json_int_opt(j, NULL, "norm_num_groups", 32, 1, 65536, &c->groups));
    TRY(trdi_json_double_opt(j, NULL, "norm_eps", 1e-5, 0, 1, &c->eps));
    TRY(trdi_json_bool_opt(j, NULL, "flip_sin_to_cos", true, &c->flip_sin_to_cos));
    TRY(trdi_json_double_opt(j, NULL, "freq_shift", 0, -1e6, 1e6, &c->freq_shift));
    TRY(trdi_json_int_opt(j, NULL, "time_embedding_dim", 4 * c->block_out[0], 1, 1 << 20,
                          &c->time_dim));
    TRY(trdi_json_int_opt(j, NULL, "downsample_padding", 1, 0, 2, &c->downsample_padding));
    TRY(trdi_json_int_opt(j, NULL, "sample_size", 64, 1, 1 << 16, &c->sample_size));
    if (c->block_out[0] % 2 != 0)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: block_out_channels[0] = %lld must be even",
                         path, (long long)c->block_out[0]);
    for (int i = 0; i < nb; i++) {
        if (c->block_out[i] % c->groups != 0)
            return trdi_fail(TRDI_ERR_FORMAT,
                             "%s: block_out_channels[%d] = %lld not divisible by norm_num_groups "
                             "%lld",
                             path, i, (long long)c->block_out[i], (long long)c->groups);
        if (c->block_out[i] % c->heads[i] != 0)
            return trdi_fail(TRDI_ERR_FORMAT,
                             "%s: block_out_channels[%d] = %lld not divisible by %lld heads", path,
                             i, (long long)c->block_out[i], (long long)c->heads[i]);
        if (i > 0 && c->layers[i] != c->layers[0])
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: per-block layers_per_block differ", path);
    }
    return TRDI_OK;
}

/* ---- weights --------------------------------------------------------------------------------- */

static trdi_status load_attn(sd_wl *wl, sd_attn *a, int64_t dim, int64_t kv_dim, int64_t heads,
                             const char *name) {
    char nm[400];
    a->heads = heads;
    a->dim = dim;
    snprintf(nm, sizeof nm, "%s.to_q", name);
    sd_load_lin(wl, &a->q, dim, dim, false, nm);
    snprintf(nm, sizeof nm, "%s.to_k", name);
    sd_load_lin(wl, &a->k, kv_dim, dim, false, nm);
    snprintf(nm, sizeof nm, "%s.to_v", name);
    sd_load_lin(wl, &a->v, kv_dim, dim, false, nm);
    snprintf(nm, sizeof nm, "%s.to_out.0", name);
    sd_load_lin(wl, &a->o, dim, dim, true, nm);
    return wl->err;
}

static trdi_status load_tf(sd_wl *wl, const trdi_unet_config *c, tf2d *t, int64_t ch,
                           int64_t heads, int64_t depth, int64_t cross_dim, const char *name) {
    char nm[400];
    t->ch = ch;
    t->depth = depth;
    if (!t->blocks) {
        t->blocks = trdi_calloc((size_t)depth, sizeof *t->blocks);
        if (!t->blocks) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    }
    snprintf(nm, sizeof nm, "%s.norm", name);
    sd_load_norm(wl, &t->norm, ch, nm);
    snprintf(nm, sizeof nm, "%s.proj_in", name);
    if (c->linear_proj)
        sd_load_lin(wl, &t->proj_in, ch, ch, true, nm);
    else
        sd_load_conv1x1_as_lin(wl, &t->proj_in, ch, ch, nm);
    for (int64_t d = 0; d < depth; d++) {
        tf_block *b = &t->blocks[d];
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%lld.norm1", name, (long long)d);
        sd_load_norm(wl, &b->n1, ch, nm);
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%lld.attn1", name, (long long)d);
        load_attn(wl, &b->a1, ch, ch, heads, nm);
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%lld.norm2", name, (long long)d);
        sd_load_norm(wl, &b->n2, ch, nm);
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%lld.attn2", name, (long long)d);
        load_attn(wl, &b->a2, ch, cross_dim, heads, nm);
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%lld.norm3", name, (long long)d);
        sd_load_norm(wl, &b->n3, ch, nm);
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%lld.ff.net.0.proj", name, (long long)d);
        sd_load_lin(wl, &b->ff1, ch, 8 * ch, true, nm);
        snprintf(nm, sizeof nm, "%s.transformer_blocks.%lld.ff.net.2", name, (long long)d);
        sd_load_lin(wl, &b->ff2, 4 * ch, ch, true, nm);
    }
    snprintf(nm, sizeof nm, "%s.proj_out", name);
    if (c->linear_proj)
        sd_load_lin(wl, &t->proj_out, ch, ch, true, nm);
    else
        sd_load_conv1x1_as_lin(wl, &t->proj_out, ch, ch, nm);
    return wl->err;
}

/* The module tree of diffusers' UNet2DConditionModel.__init__ (channel bookkeeping of
 * get_down_block / get_up_block). Called twice: to list, then to read the tensors. */
static trdi_status build(trdi_unet *u, sd_wl *wl) {
    const trdi_unet_config *c = &u->cfg;
    int nb = c->nblocks;
    int64_t te = c->time_dim, c0 = c->block_out[0];
    char nm[300];
    sd_load_lin(wl, &u->time1, c0, te, true, "time_embedding.linear_1");
    sd_load_lin(wl, &u->time2, te, te, true, "time_embedding.linear_2");
    sd_load_conv(wl, &u->conv_in, c->in_channels, c0, 3, "conv_in");
    u->max_cout = 1;
    int64_t out_ch = c0;
    for (int i = 0; i < nb; i++) {
        ublock *b = &u->down[i];
        int64_t in_ch = out_ch;
        out_ch = c->block_out[i];
        b->cross = c->down_cross[i];
        b->nres = c->layers[i];
        b->cout = out_ch;
        for (int64_t l = 0; l < b->nres; l++) {
            snprintf(nm, sizeof nm, "down_blocks.%d.resnets.%lld", i, (long long)l);
            sd_load_resnet(wl, &b->res[l], l == 0 ? in_ch : out_ch, out_ch, te, nm);
            if (b->cross) {
                snprintf(nm, sizeof nm, "down_blocks.%d.attentions.%lld", i, (long long)l);
                TRY(load_tf(wl, c, &b->att[l], out_ch, c->heads[i], c->tf_layers[i],
                            c->cross_dim[i], nm));
            }
        }
        b->has_sample = i < nb - 1;
        if (b->has_sample) {
            snprintf(nm, sizeof nm, "down_blocks.%d.downsamplers.0.conv", i);
            sd_load_conv(wl, &b->sample, out_ch, out_ch, 3, nm);
        }
        if (out_ch > u->max_cout) u->max_cout = out_ch;
    }
    int64_t top = c->block_out[nb - 1];
    sd_load_resnet(wl, &u->mid_res[0], top, top, te, "mid_block.resnets.0");
    TRY(load_tf(wl, c, &u->mid_att, top, c->heads[nb - 1], c->tf_layers[nb - 1],
                c->cross_dim[nb - 1], "mid_block.attentions.0"));
    sd_load_resnet(wl, &u->mid_res[1], top, top, te, "mid_block.resnets.1");
    int64_t prev_out = top;
    for (int i = 0; i < nb; i++) {
        int r = nb - 1 - i; /* reversed index into the per-block lists */
        ublock *b = &u->up[i];
        int64_t out_c = c->block_out[r];
        int64_t in_c = c->block_out[r - 1 >= 0 ? r - 1 : 0];
        b->cross = c->up_cross[i];
        b->nres = c->layers[r] + 1;
        b->cout = out_c;
        for (int64_t l = 0; l < b->nres; l++) {
            int64_t skip_c = l == b->nres - 1 ? in_c : out_c;
            int64_t res_in = l == 0 ? prev_out : out_c;
            snprintf(nm, sizeof nm, "up_blocks.%d.resnets.%lld", i, (long long)l);
            sd_load_resnet(wl, &b->res[l], res_in + skip_c, out_c, te, nm);
            if (b->cross) {
                snprintf(nm, sizeof nm, "up_blocks.%d.attentions.%lld", i, (long long)l);
                TRY(load_tf(wl, c, &b->att[l], out_c, c->heads[r], c->tf_layers[r],
                            c->cross_dim[r], nm));
            }
        }
        b->has_sample = i < nb - 1;
        if (b->has_sample) {
            snprintf(nm, sizeof nm, "up_blocks.%d.upsamplers.0.conv", i);
            sd_load_conv(wl, &b->sample, out_c, out_c, 3, nm);
        }
        prev_out = out_c;
    }
    sd_load_norm(wl, &u->norm_out, c0, "conv_norm_out");
    sd_load_conv(wl, &u->conv_out, c0, c->out_channels, 3, "conv_out");
    return wl->err;
}

static void free_tf(tf2d *t) {
    free(t->blocks);
    t->blocks = NULL;
}

void trdi_unet_free(trdi_unet *u) {
    if (!u) return;
    for (int i = 0; i < TRDI_UNET_MAX_BLOCKS; i++)
        for (int l = 0; l <= TRDI_UNET_MAX_LAYERS; l++) {
            free_tf(&u->down[i].att[l]);
            free_tf(&u->up[i].att[l]);
        }
    free_tf(&u->mid_att);
    free(u->weights);
    free(u->weights16);
    sd_act_free(&u->act);
    trdi_safetensors_close(u->file);
    free(u);
}

trdi_status trdi_unet_load(const trdi_diffusers *m, const char *component, trdi_unet **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "unet: out is NULL");
    *out = NULL;
    if (!m || !component) return trdi_fail(TRDI_ERR_INVALID_ARG, "unet: NULL model or component");
    const char *cls = trdi_diffusers_component_class(m, component, NULL);
    if (!cls)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: the model has no component %s",
                         trdi_diffusers_dir(m), component);
    if (strcmp(cls, "UNet2DConditionModel") != 0)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: component %s is a %s, not a "
                         "UNet2DConditionModel", trdi_diffusers_dir(m), component, cls);
    const trdi_json *j = NULL;
    TRY(trdi_diffusers_config_json(m, component, &j));
    trdi_unet *u = trdi_calloc(1, sizeof *u);
    if (!u) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    trdi_status st = read_config(j, &u->cfg);
    if (st == TRDI_OK) st = trdi_diffusers_open_weights(m, component, &u->file);
    sd_wl wl = {0};
    if (st == TRDI_OK) {
        wl.f = u->file;
        wl.prefix = "";
        wl.keep_f16 = true;
        st = build(u, &wl);
        if (st == TRDI_OK) st = sd_wl_begin_load(&wl, trdi_safetensors_path(u->file), false);
        u->weights = wl.buf;
        u->weights16 = wl.buf16;
        if (st == TRDI_OK) st = build(u, &wl);
        u->nweights = wl.total;
        u->nweights16 = wl.total16;
        sd_wl_free_specs(&wl);
    }
    /* every weight is copied out now (float32, or fp16 matrices): the mapping is not needed */
    trdi_safetensors_close(u->file);
    u->file = NULL;
    if (st != TRDI_OK) {
        trdi_unet_free(u);
        return st;
    }
    *out = u;
    return TRDI_OK;
}

const trdi_unet_config *trdi_unet_get_config(const trdi_unet *u) { return u ? &u->cfg : NULL; }
size_t trdi_unet_weight_bytes(const trdi_unet *u) {
    return u ? u->nweights * sizeof(float) + u->nweights16 * sizeof(uint16_t) : 0;
}
size_t trdi_unet_arena_bytes(const trdi_unet *u) { return u ? u->act.arena.cap : 0; }
double trdi_unet_flops(const trdi_unet *u) { return u ? u->flops : 0; }

static trdi_status forward_impl(trdi_unet *u, int64_t B, int64_t H, int64_t W, const float *x,
                                double t, const float *ctx, int64_t S, float *out,
                                trdi_unet_debug_fn dbg, void *user);

trdi_status trdi_unet_plan(trdi_unet *u, int64_t batch, int64_t h, int64_t w, int64_t seq_len,
                           double *flops, size_t *arena_bytes) {
    if (!u || batch < 1 || h < 1 || w < 1 || seq_len < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "unet plan: bad arguments");
    sd_act saved = u->act;
    u->act.measure = true;
    u->act.used = u->act.peak = 0;
    u->act.flops = 0;
    float dummy = 0;
    trdi_status st = forward_impl(u, batch, h, w, &dummy, 1, &dummy, seq_len, &dummy, NULL, NULL);
    if (flops) *flops = u->act.flops;
    if (arena_bytes) *arena_bytes = u->act.peak;
    u->act = saved;
    return st;
}

/* ---- forward --------------------------------------------------------------------------------- */

#define NEED(p)                                                                                    \
    do {                                                                                           \
        if (!(p)) return trdi_fail(TRDI_ERR_INTERNAL, "unet: activation arena too small");         \
    } while (0)

/* Transformer2DModel.forward (continuous input): x (b, ch, hw) -> *y (b, ch, hw). */
static trdi_status tf_fwd(trdi_unet *u, const tf2d *t, int64_t b, int64_t hw, const float *x,
                          const float *ctx, int64_t s, float **y) {
    sd_act *a = &u->act;
    int64_t ch = t->ch, rows = b * hw;
    float *out = sd_alloc(a, (size_t)(b * ch * hw));
    NEED(out);
    *y = out;
    size_t mk = sd_mark(a);
    float *g = sd_alloc(a, (size_t)(rows * ch));
    float *tok = sd_alloc(a, (size_t)(rows * ch));
    float *hs = sd_alloc(a, (size_t)(rows * ch));
    float *nb = sd_alloc(a, (size_t)(rows * ch));
    float *ab = sd_alloc(a, (size_t)(rows * ch));
    int64_t chunk = rows < 1024 ? rows : 1024;
    float *ff = sd_alloc(a, (size_t)(chunk * 8 * ch));
    NEED(g && tok && hs && nb && ab && ff);
    trdi_status st;
    /* norm (eps 1e-6) -> proj_in; a 1x1 conv and a Linear are the same matrix on tokens */
    if ((st = sd_group_norm(a, &t->norm, u->cfg.groups, 1e-6f, false, b, hw, x, g)) != TRDI_OK)
        return st;
    if (a->measure) /* proj_in, proj_out, GEGLU feed-forward (8C + 4C per row and block) */
        a->flops += 2.0 * (double)rows * (double)(ch * ch) * (2.0 + 12.0 * (double)t->depth);
    if (!a->measure) sd_nchw_to_tokens(b, ch, hw, g, tok);
    if ((st = sd_linear(a, &t->proj_in, rows, tok, hs)) != TRDI_OK) return st;
    for (int64_t d = 0; d < t->depth; d++) {
        const tf_block *blk = &t->blocks[d];
        if (!a->measure) trdi_k_layernorm(rows, ch, hs, blk->n1.g, blk->n1.b, 1e-5f, nb);
        if ((st = sd_attention_fwd(a, &blk->a1, b, hw, nb, 0, NULL, ab)) != TRDI_OK) return st;
        if (!a->measure) {
            trdi_k_add(rows * ch, hs, ab, hs);
            trdi_k_layernorm(rows, ch, hs, blk->n2.g, blk->n2.b, 1e-5f, nb);
        }
        if ((st = sd_attention_fwd(a, &blk->a2, b, hw, nb, s, ctx, ab)) != TRDI_OK) return st;
        if (!a->measure) {
            trdi_k_add(rows * ch, hs, ab, hs);
            trdi_k_layernorm(rows, ch, hs, blk->n3.g, blk->n3.b, 1e-5f, nb);
        }
        /* GEGLU: [h, gate] = proj(x).chunk(2); out = net.2(h * gelu(gate)), in row chunks */
        for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
            int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
            if ((st = sd_linear(a, &blk->ff1, nr, nb + r0 * ch, ff)) != TRDI_OK) return st;
            if (!a->measure) trdi_k_geglu(nr, 4 * ch, ff);
            st = sd_linear_ld(a, &blk->ff2, nr, ff, 8 * ch, ab + r0 * ch, ch);
            if (st != TRDI_OK) return st;
        }
        if (!a->measure) trdi_k_add(rows * ch, hs, ab, hs);
    }
    if ((st = sd_linear(a, &t->proj_out, rows, hs, tok)) != TRDI_OK) return st;
    if (!a->measure) {
        sd_tokens_to_nchw(b, ch, hw, tok, out);
        trdi_k_add(b * ch * hw, out, x, out);
    }
    sd_reset(a, mk);
    return TRDI_OK;
}

/* time_emb_proj(SiLU(temb)) of one resnet into tp, then the resnet. */
static trdi_status res_fwd(trdi_unet *u, const sd_resnet *r, const float *silu_temb, float *tp,
                           int64_t b, int64_t h, int64_t w, const float *x, float **y) {
    trdi_status st = sd_linear(&u->act, &r->temb, 1, silu_temb, tp);
    if (st != TRDI_OK) return st;
    return sd_resnet_fwd(&u->act, r, u->cfg.groups, (float)u->cfg.eps, b, h, w, x, tp, y);
}

typedef struct skip {
    float *p;
    int64_t c, h, w;
    size_t mark;
} skip;

/* interpolate(mode='nearest', size=(oh, ow)): src = floor(dst * in / out) in float, as torch's
 * nearest_idx; the common exact 2x case goes through the kernel. x (planes, h, w). */
static void upsample_nearest(const float *x, int64_t planes, int64_t h, int64_t w, int64_t oh,
                             int64_t ow, float *y) {
    if (oh == 2 * h && ow == 2 * w) {
        trdi_upsample_nearest2x(x, planes, h, w, y);
        return;
    }
    float sh = (float)h / (float)oh, sw = (float)w / (float)ow;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < oh; i++) {
            int64_t si = (int64_t)floorf((float)i * sh);
            if (si > h - 1) si = h - 1;
            for (int64_t j = 0; j < ow; j++) {
                int64_t sj = (int64_t)floorf((float)j * sw);
                if (sj > w - 1) sj = w - 1;
                y[(p * oh + i) * ow + j] = x[(p * h + si) * w + sj];
            }
        }
}

static void debug_out(trdi_unet *u, trdi_unet_debug_fn dbg, void *user, const char *name,
                      const float *p, int64_t b, int64_t c, int64_t h, int64_t w) {
    if (dbg && !u->act.measure) dbg(user, name, p, b, c, h, w);
}

static trdi_status forward_impl(trdi_unet *u, int64_t B, int64_t H, int64_t W, const float *x,
                                double t, const float *ctx, int64_t S, float *out,
                                trdi_unet_debug_fn dbg, void *user) {
    const trdi_unet_config *c = &u->cfg;
    sd_act *a = &u->act;
    sd_reset(a, 0);
    bool run = !a->measure;
    int64_t c0 = c->block_out[0], te = c->time_dim, half = c0 / 2;
    float *tproj = sd_alloc(a, (size_t)c0);
    float *temb = sd_alloc(a, (size_t)te);
    float *stemb = sd_alloc(a, (size_t)te);
    float *tp = sd_alloc(a, (size_t)u->max_cout);
    NEED(tproj && temb && stemb && tp);
    trdi_status st;
    if (run) {
        /* get_timestep_embedding: exponent = -ln(10000) * i / (half - shift) in float32,
         * args = t * exp(exponent); [sin, cos], flipped to [cos, sin] */
        float tf = (float)t;
        for (int64_t i = 0; i < half; i++) {
            float e = (float)(-log(10000.0)) * (float)i;
            e = e / (float)((double)half - c->freq_shift);
            float arg = tf * expf(e);
            float sv = sinf(arg), cv = cosf(arg);
            tproj[i] = c->flip_sin_to_cos ? cv : sv;
            tproj[half + i] = c->flip_sin_to_cos ? sv : cv;
        }
        debug_out(u, dbg, user, "time_proj", tproj, 1, c0, 1, 1);
    }
    if ((st = sd_linear(a, &u->time1, 1, tproj, stemb)) != TRDI_OK) return st;
    if (run) trdi_k_silu(te, stemb, stemb);
    if ((st = sd_linear(a, &u->time2, 1, stemb, temb)) != TRDI_OK) return st;
    if (run) {
        debug_out(u, dbg, user, "time_embedding", temb, 1, te, 1, 1);
        trdi_k_silu(te, temb, stemb);
    }
    skip skips[1 + TRDI_UNET_MAX_BLOCKS * (TRDI_UNET_MAX_LAYERS + 1)];
    int ns = 0;
    int64_t h = H, w = W, ch = c0;
    size_t mk = sd_mark(a);
    float *hcur = NULL;
    if ((st = sd_conv2d(a, &u->conv_in, B, h, w, x, 1, 1, &hcur, NULL, NULL)) != TRDI_OK)
        return st;
    debug_out(u, dbg, user, "conv_in", hcur, B, ch, h, w);
    skips[ns++] = (skip){hcur, ch, h, w, mk};
    char nm[64];
    for (int i = 0; i < c->nblocks; i++) {
        const ublock *blk = &u->down[i];
        for (int64_t l = 0; l < blk->nres; l++) {
            mk = sd_mark(a);
            float *r = NULL;
            if ((st = res_fwd(u, &blk->res[l], stemb, tp, B, h, w, hcur, &r)) != TRDI_OK) return st;
            if (blk->cross) {
                float *o = NULL;
                if ((st = tf_fwd(u, &blk->att[l], B, h * w, r, ctx, S, &o)) != TRDI_OK) return st;
                r = sd_keep(a, mk, o, (size_t)(B * blk->cout * h * w));
            }
            hcur = r;
            ch = blk->cout;
            skips[ns++] = (skip){hcur, ch, h, w, mk};
        }
        if (blk->has_sample) {
            mk = sd_mark(a);
            int64_t oh, ow;
            float *d = NULL;
            if ((st = sd_conv2d(a, &blk->sample, B, h, w, hcur, 2, c->downsample_padding, &d, &oh,
                                &ow)) != TRDI_OK)
                return st;
            hcur = d;
            h = oh;
            w = ow;
            skips[ns++] = (skip){hcur, ch, h, w, mk};
        }
        snprintf(nm, sizeof nm, "down_blocks.%d", i);
        debug_out(u, dbg, user, nm, hcur, B, ch, h, w);
    }
    /* mid block: resnet, transformer, resnet */
    mk = sd_mark(a);
    {
        float *r0 = NULL, *at = NULL, *r1 = NULL;
        if ((st = res_fwd(u, &u->mid_res[0], stemb, tp, B, h, w, hcur, &r0)) != TRDI_OK) return st;
        if ((st = tf_fwd(u, &u->mid_att, B, h * w, r0, ctx, S, &at)) != TRDI_OK) return st;
        if ((st = res_fwd(u, &u->mid_res[1], stemb, tp, B, h, w, at, &r1)) != TRDI_OK) return st;
        hcur = sd_keep(a, mk, r1, (size_t)(B * ch * h * w));
    }
    debug_out(u, dbg, user, "mid_block", hcur, B, ch, h, w);
    size_t hmark = mk;
    for (int i = 0; i < c->nblocks; i++) {
        const ublock *blk = &u->up[i];
        for (int64_t l = 0; l < blk->nres; l++) {
            if (ns == 0) return trdi_fail(TRDI_ERR_INTERNAL, "unet: skip stack underflow");
            skip s = skips[--ns];
            if (s.h != h || s.w != w)
                return trdi_fail(TRDI_ERR_INTERNAL, "unet: skip %dx%d vs hidden %dx%d", (int)s.h,
                                 (int)s.w, (int)h, (int)w);
            int64_t hw = h * w, cc = ch + s.c;
            float *cat = sd_alloc(a, (size_t)(B * cc * hw));
            NEED(cat);
            if (!a->measure)
                for (int64_t bi = 0; bi < B; bi++) {
                    memcpy(cat + bi * cc * hw, hcur + bi * ch * hw, (size_t)(ch * hw) * sizeof(float));
                    memcpy(cat + bi * cc * hw + ch * hw, s.p + bi * s.c * hw,
                           (size_t)(s.c * hw) * sizeof(float));
                }
            float *r = NULL;
            if ((st = res_fwd(u, &blk->res[l], stemb, tp, B, h, w, cat, &r)) != TRDI_OK) return st;
            if (blk->cross) {
                float *o = NULL;
                if ((st = tf_fwd(u, &blk->att[l], B, hw, r, ctx, S, &o)) != TRDI_OK) return st;
                r = o;
            }
            ch = blk->cout;
            /* the skip and everything above it are consumed: the result takes its place */
            hcur = sd_keep(a, s.mark, r, (size_t)(B * ch * hw));
            hmark = s.mark;
        }
        if (blk->has_sample) {
            if (ns == 0) return trdi_fail(TRDI_ERR_INTERNAL, "unet: skip stack underflow");
            /* diffusers passes the next skip's size as upsample_size (odd sizes) */
            int64_t oh = skips[ns - 1].h, ow = skips[ns - 1].w;
            float *up = sd_alloc(a, (size_t)(B * ch * oh * ow));
            NEED(up);
            if (!a->measure) upsample_nearest(hcur, B * ch, h, w, oh, ow, up);
            float *cv = NULL;
            if ((st = sd_conv2d(a, &blk->sample, B, oh, ow, up, 1, 1, &cv, NULL, NULL)) != TRDI_OK)
                return st;
            h = oh;
            w = ow;
            hcur = sd_keep(a, hmark, cv, (size_t)(B * ch * h * w));
        }
        snprintf(nm, sizeof nm, "up_blocks.%d", i);
        debug_out(u, dbg, user, nm, hcur, B, ch, h, w);
    }
    float *gn = sd_alloc(a, (size_t)(B * ch * h * w));
    NEED(gn);
    if ((st = sd_group_norm(a, &u->norm_out, c->groups, (float)c->eps, false, B, h * w, hcur,
                            gn)) != TRDI_OK)
        return st;
    debug_out(u, dbg, user, "conv_norm_out", gn, B, ch, h, w);
    if (run) trdi_k_silu(B * ch * h * w, gn, gn);
    float *co = NULL;
    if ((st = sd_conv2d(a, &u->conv_out, B, h, w, gn, 1, 1, &co, NULL, NULL)) != TRDI_OK) return st;
    debug_out(u, dbg, user, "conv_out", co, B, c->out_channels, h, w);
    if (run) memcpy(out, co, (size_t)(B * c->out_channels * h * w) * sizeof(float));
    sd_reset(a, 0);
    return TRDI_OK;
}

trdi_status trdi_unet_forward(trdi_unet *u, int64_t batch, int64_t h, int64_t w, const float *x,
                              double t, const float *ctx, int64_t seq_len, float *out,
                              trdi_unet_debug_fn dbg, void *user) {
    if (!u || !x || !ctx || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "unet forward: NULL argument");
    if (batch < 1 || h < 1 || w < 1 || seq_len < 1 || h > 65536 || w > 65536 || batch > 4096)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "unet forward: bad sizes batch %lld, %lldx%lld, %lld text tokens",
                         (long long)batch, (long long)h, (long long)w, (long long)seq_len);
    if (!isfinite(t)) return trdi_fail(TRDI_ERR_INVALID_ARG, "unet forward: timestep is not finite");
    if (batch > u->sized_b || h * w > u->sized_h * u->sized_w || h != u->sized_h ||
        w != u->sized_w || seq_len > u->sized_s) {
        /* dry run: same code, no compute, counts the arena's high-water mark */
        u->act.measure = true;
        u->act.used = u->act.peak = 0;
        u->act.flops = 0;
        trdi_status st = forward_impl(u, batch, h, w, x, t, ctx, seq_len, out, NULL, NULL);
        u->act.measure = false;
        if (st != TRDI_OK) return st;
        u->flops = u->act.flops;
        if ((st = sd_act_reserve(&u->act, u->act.peak)) != TRDI_OK) return st;
        u->sized_b = batch;
        u->sized_h = h;
        u->sized_w = w;
        u->sized_s = seq_len;
    }
    return forward_impl(u, batch, h, w, x, t, ctx, seq_len, out, dbg, user);
}

trdi_status sd_unet_list_weights(const trdi_json *cfg, sd_wl *wl) {
    trdi_unet *u = trdi_calloc(1, sizeof *u);
    if (!u) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    trdi_status st = read_config(cfg, &u->cfg);
    if (st == TRDI_OK) st = build(u, wl);
    trdi_unet_free(u);
    return st;
}
