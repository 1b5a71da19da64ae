/* mkmodel.c -- `trdi mkmodel`: a complete diffusers Stable Diffusion folder with seeded random
 * weights for any config of the SD 1.x / 2.x family (presets tiny / sd15 / sd21, a `like` folder's
 * configs, plus per-key overrides), so that benchmarks and end-to-end runs need no downloads.
 * Tensor names and shapes are derived from the configs the way diffusers' UNet2DConditionModel /
 * AutoencoderKL and transformers' CLIPTextModel build their modules (their state_dict names);
 * this is deliberately separate from the loaders (unet.c / vae.c) so tests can compare the two.
 * Random weights give no image quality; only names, shapes and configs are real. */
#define _GNU_SOURCE /* nftw, mkdtemp, strdup */
#include "model/mkmodel.h"

#include "core/core.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- tensor list ----------------------------------------------------------------------------- */

void mk_list_free(mk_list *l) {
    if (!l) return;
    for (int64_t i = 0; i < l->n; i++) free(l->t[i].name);
    free(l->t);
    memset(l, 0, sizeof *l);
}

static void add(mk_list *l, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                const char *fmt, ...) TRDI_PRINTF(7, 8);
static void add(mk_list *l, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                const char *fmt, ...) {
    if (l->err != TRDI_OK) return;
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        mk_tensor *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (!t) {
            l->err = trdi_fail(TRDI_ERR_NOMEM, "mkmodel: out of memory listing tensors");
            return;
        }
        l->t = t;
        l->cap = cap;
    }
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mk_tensor *e = &l->t[l->n];
    e->name = strdup(buf);
    if (!e->name) {
        l->err = trdi_fail(TRDI_ERR_NOMEM, "mkmodel: out of memory listing tensors");
        return;
    }
    e->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    for (int i = 0; i < 4; i++) e->shape[i] = i < ndim ? d[i] : 0;
    l->n++;
}

/* ---- config readers (messages name the config and the key) ----------------------------------- */

static bool is_absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

/* Integer key; missing or null -> dflt (dflt < 0: required). */
static trdi_status get_int(const cJSON *cfg, const char *label, const char *key, int64_t dflt,
                           int64_t lo, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (is_absent(v)) {
        if (dflt < 0) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: missing \"%s\"", label, key);
        *out = dflt;
        return TRDI_OK;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d == floor(d)) || d < (double)lo || d > 1e9)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"%s\" must be an integer >= %lld", label, key,
                         (long long)lo);
    *out = (int64_t)d;
    return TRDI_OK;
}

/* An int or a list of n ints (diffusers' per-block parameters); dflt < 0: required. */
static trdi_status get_per_block(const cJSON *cfg, const char *label, const char *key, int64_t n,
                                 int64_t dflt, int64_t lo, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != n)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"%s\" has %d entries, expected %lld (one "
                             "per block)", label, key, cJSON_GetArraySize(v), (long long)n);
        int64_t i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            double d = cJSON_IsNumber(e) ? e->valuedouble : NAN;
            if (!(d == floor(d)) || d < (double)lo || d > 1e9)
                return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"%s\"[%lld] must be an integer >= %lld",
                                 label, key, (long long)i, (long long)lo);
            out[i++] = (int64_t)d;
        }
        return TRDI_OK;
    }
    int64_t x;
    trdi_status st = get_int(cfg, label, key, dflt, lo, &x);
    if (st != TRDI_OK) return st;
    for (int64_t i = 0; i < n; i++) out[i] = x;
    return TRDI_OK;
}

/* String key; missing or null -> dflt (NULL: required). */
static trdi_status get_str(const cJSON *cfg, const char *label, const char *key, const char *dflt,
                           const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (is_absent(v)) {
        if (!dflt) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: missing \"%s\"", label, key);
        *out = dflt;
        return TRDI_OK;
    }
    if (!cJSON_IsString(v))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"%s\" must be a string", label, key);
    *out = v->valuestring;
    return TRDI_OK;
}

static trdi_status get_bool(const cJSON *cfg, const char *label, const char *key, bool dflt,
                            bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (is_absent(v)) {
        *out = dflt;
        return TRDI_OK;
    }
    if (!cJSON_IsBool(v))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"%s\" must be true or false", label, key);
    *out = cJSON_IsTrue(v);
    return TRDI_OK;
}

/* The list of block type strings (1..8 entries). */
enum { MK_MAX_BLOCKS = 8 };
static trdi_status get_types(const cJSON *cfg, const char *label, const char *key,
                             const char **types, int64_t *n) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > MK_MAX_BLOCKS)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"%s\" must be a list of 1 to %d block types",
                         label, key, MK_MAX_BLOCKS);
    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"%s\"[%lld] must be a string", label, key,
                             (long long)i);
        types[i++] = e->valuestring;
    }
    *n = i;
    return TRDI_OK;
}

/* A key that must be absent / null (a feature outside the family). */
static trdi_status want_null(const cJSON *cfg, const char *label, const char *key) {
    if (is_absent(cJSON_GetObjectItemCaseSensitive(cfg, key))) return TRDI_OK;
    return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: \"%s\" is not supported (must be null)", label,
                     key);
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        trdi_status st_ = (x);                                                                     \
        if (st_ != TRDI_OK) return st_;                                                            \
    } while (0)

/* ---- shared module layouts ------------------------------------------------------------------- */

static void lin(mk_list *l, int64_t in, int64_t out, bool bias, const char *name) {
    add(l, 2, out, in, 0, 0, "%s.weight", name);
    if (bias) add(l, 1, out, 0, 0, 0, "%s.bias", name);
}
static void conv(mk_list *l, int64_t in, int64_t out, int64_t k, const char *name) {
    add(l, 4, out, in, k, k, "%s.weight", name);
    add(l, 1, out, 0, 0, 0, "%s.bias", name);
}
static void norm(mk_list *l, int64_t c, const char *name) {
    add(l, 1, c, 0, 0, 0, "%s.weight", name);
    add(l, 1, c, 0, 0, 0, "%s.bias", name);
}

/* diffusers ResnetBlock2D: temb 0 = no time embedding (VAE); temb_mult 2 for "scale_shift". */
static void resnet(mk_list *l, const char *p, int64_t in, int64_t out, int64_t temb,
                   int64_t temb_mult) {
    char n[200];
    snprintf(n, sizeof n, "%s.norm1", p);
    norm(l, in, n);
    snprintf(n, sizeof n, "%s.conv1", p);
    conv(l, in, out, 3, n);
    if (temb > 0) {
        snprintf(n, sizeof n, "%s.time_emb_proj", p);
        lin(l, temb, out * temb_mult, true, n);
    }
    snprintf(n, sizeof n, "%s.norm2", p);
    norm(l, out, n);
    snprintf(n, sizeof n, "%s.conv2", p);
    conv(l, out, out, 3, n);
    if (in != out) { /* use_in_shortcut */
        snprintf(n, sizeof n, "%s.conv_shortcut", p);
        conv(l, in, out, 1, n);
    }
}

/* diffusers Transformer2DModel (continuous input) with BasicTransformerBlock: heads x head_dim
 * = inner, self- then cross-attention (to_q/k/v without bias), GEGLU feed-forward (mult 4). */
static void transformer(mk_list *l, const char *p, int64_t c, int64_t heads, int64_t cross,
                        int64_t layers, bool linear_proj) {
    int64_t inner = heads * (c / heads);
    char n[200];
    snprintf(n, sizeof n, "%s.norm", p);
    norm(l, c, n);
    snprintf(n, sizeof n, "%s.proj_in", p);
    if (linear_proj) lin(l, c, inner, true, n);
    else conv(l, c, inner, 1, n);
    for (int64_t k = 0; k < layers; k++) {
        char b[180];
        snprintf(b, sizeof b, "%s.transformer_blocks.%lld", p, (long long)k);
        for (int a = 1; a <= 2; a++) {
            int64_t kv = a == 1 ? inner : cross;
            snprintf(n, sizeof n, "%s.norm%d", b, a);
            norm(l, inner, n);
            snprintf(n, sizeof n, "%s.attn%d.to_q", b, a);
            lin(l, inner, inner, false, n);
            snprintf(n, sizeof n, "%s.attn%d.to_k", b, a);
            lin(l, kv, inner, false, n);
            snprintf(n, sizeof n, "%s.attn%d.to_v", b, a);
            lin(l, kv, inner, false, n);
            snprintf(n, sizeof n, "%s.attn%d.to_out.0", b, a);
            lin(l, inner, inner, true, n);
        }
        snprintf(n, sizeof n, "%s.norm3", b);
        norm(l, inner, n);
        snprintf(n, sizeof n, "%s.ff.net.0.proj", b);
        lin(l, inner, 8 * inner, true, n);
        snprintf(n, sizeof n, "%s.ff.net.2", b);
        lin(l, 4 * inner, inner, true, n);
    }
    snprintf(n, sizeof n, "%s.proj_out", p);
    if (linear_proj) lin(l, inner, c, true, n);
    else conv(l, inner, c, 1, n);
}

/* ---- UNet2DConditionModel -------------------------------------------------------------------- */

trdi_status mk_unet_tensors(const cJSON *cfg, const char *L, mk_list *out) {
    if (!cJSON_IsObject(cfg)) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: not a JSON object", L);
    static const char *const nulls[] = {"addition_embed_type", "class_embed_type",
                                        "num_class_embeds", "time_cond_proj_dim",
                                        "encoder_hid_dim", "encoder_hid_dim_type",
                                        "num_attention_heads", "time_embedding_act_fn",
                                        "timestep_post_act", "projection_class_embeddings_input_dim",
                                        "reverse_transformer_layers_per_block"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++) TRY(want_null(cfg, L, nulls[i]));
    const char *down[MK_MAX_BLOCKS], *up[MK_MAX_BLOCKS], *s = NULL;
    int64_t nb = 0, nu = 0, boc[MK_MAX_BLOCKS] = {0};
    TRY(get_types(cfg, L, "down_block_types", down, &nb));
    TRY(get_types(cfg, L, "up_block_types", up, &nu));
    if (nu != nb)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: %lld up_block_types for %lld down_block_types",
                         L, (long long)nu, (long long)nb);
    TRY(get_per_block(cfg, L, "block_out_channels", nb, -1, 1, boc));
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "block_out_channels");
        if (!cJSON_IsArray(v))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"block_out_channels\" must be a list", L);
    }
    int64_t lpb[MK_MAX_BLOCKS], heads[MK_MAX_BLOCKS], tlayers[MK_MAX_BLOCKS], cross[MK_MAX_BLOCKS];
    TRY(get_per_block(cfg, L, "layers_per_block", nb, 2, 1, lpb));
    TRY(get_per_block(cfg, L, "attention_head_dim", nb, 8, 1, heads)); /* = head count */
    TRY(get_per_block(cfg, L, "transformer_layers_per_block", nb, 1, 1, tlayers));
    TRY(get_per_block(cfg, L, "cross_attention_dim", nb, 1280, 1, cross));
    int64_t in_ch = 0, out_ch = 0, kin = 0, kout = 0, groups = 1, temb = 0;
    TRY(get_int(cfg, L, "in_channels", 4, 1, &in_ch));
    TRY(get_int(cfg, L, "out_channels", 4, 1, &out_ch));
    TRY(get_int(cfg, L, "conv_in_kernel", 3, 1, &kin));
    TRY(get_int(cfg, L, "conv_out_kernel", 3, 1, &kout));
    if (kin % 2 == 0 || kout % 2 == 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: conv_in_kernel / conv_out_kernel must be odd", L);
    TRY(get_int(cfg, L, "norm_num_groups", 32, 1, &groups));
    TRY(get_int(cfg, L, "time_embedding_dim", 4 * boc[0], 1, &temb));
    bool linear_proj = false, flag = false;
    TRY(get_bool(cfg, L, "use_linear_projection", false, &linear_proj));
    TRY(get_bool(cfg, L, "only_cross_attention", false, &flag));
    if (flag) return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: \"only_cross_attention\" true", L);
    TRY(get_bool(cfg, L, "dual_cross_attention", false, &flag));
    if (flag) return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: \"dual_cross_attention\" true", L);
    TRY(get_str(cfg, L, "time_embedding_type", "positional", &s));
    if (strcmp(s, "positional"))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: time_embedding_type \"%s\" (only positional)",
                         L, s);
    TRY(get_str(cfg, L, "attention_type", "default", &s));
    if (strcmp(s, "default"))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: attention_type \"%s\" (only default)", L, s);
    int64_t temb_mult = 1;
    TRY(get_str(cfg, L, "resnet_time_scale_shift", "default", &s));
    if (!strcmp(s, "scale_shift")) temb_mult = 2;
    else if (strcmp(s, "default"))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: resnet_time_scale_shift \"%s\"", L, s);
    const char *mid = NULL;
    TRY(get_str(cfg, L, "mid_block_type", "UNetMidBlock2DCrossAttn", &mid));
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "mid_block_type");
        if (v && cJSON_IsNull(v)) mid = NULL; /* diffusers: no mid block */
    }
    if (mid && strcmp(mid, "UNetMidBlock2DCrossAttn"))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: mid_block_type \"%s\" (only "
                         "UNetMidBlock2DCrossAttn or null)", L, mid);
    for (int64_t i = 0; i < nb; i++) {
        if (boc[i] % groups != 0)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: block_out_channels[%lld] = %lld is not a "
                             "multiple of norm_num_groups %lld", L, (long long)i,
                             (long long)boc[i], (long long)groups);
        if (boc[i] % heads[i] != 0)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: block_out_channels[%lld] = %lld is not a "
                             "multiple of attention_head_dim[%lld] = %lld heads", L, (long long)i,
                             (long long)boc[i], (long long)i, (long long)heads[i]);
        if (strcmp(down[i], "CrossAttnDownBlock2D") && strcmp(down[i], "DownBlock2D"))
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: down_block_types[%lld] \"%s\" (only "
                             "CrossAttnDownBlock2D, DownBlock2D)", L, (long long)i, down[i]);
        if (strcmp(up[i], "CrossAttnUpBlock2D") && strcmp(up[i], "UpBlock2D"))
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: up_block_types[%lld] \"%s\" (only "
                             "CrossAttnUpBlock2D, UpBlock2D)", L, (long long)i, up[i]);
    }
    mk_list *l = out;
    char p[200];
    conv(l, in_ch, boc[0], kin, "conv_in");
    lin(l, boc[0], temb, true, "time_embedding.linear_1");
    lin(l, temb, temb, true, "time_embedding.linear_2");
    /* Down path (UNet2DConditionModel.__init__: input_channel = previous output_channel). */
    int64_t ch = boc[0];
    for (int64_t i = 0; i < nb; i++) {
        int64_t cin = ch, cout = boc[i];
        bool attn = !strcmp(down[i], "CrossAttnDownBlock2D");
        for (int64_t j = 0; j < lpb[i]; j++) {
            snprintf(p, sizeof p, "down_blocks.%lld.resnets.%lld", (long long)i, (long long)j);
            resnet(l, p, j == 0 ? cin : cout, cout, temb, temb_mult);
            if (attn) {
                snprintf(p, sizeof p, "down_blocks.%lld.attentions.%lld", (long long)i,
                         (long long)j);
                transformer(l, p, cout, heads[i], cross[i], tlayers[i], linear_proj);
            }
        }
        if (i < nb - 1) {
            snprintf(p, sizeof p, "down_blocks.%lld.downsamplers.0.conv", (long long)i);
            conv(l, cout, cout, 3, p);
        }
        ch = cout;
    }
    if (mid) {
        int64_t c = boc[nb - 1];
        resnet(l, "mid_block.resnets.0", c, c, temb, temb_mult);
        transformer(l, "mid_block.attentions.0", c, heads[nb - 1], cross[nb - 1], tlayers[nb - 1],
                    linear_proj);
        resnet(l, "mid_block.resnets.1", c, c, temb, temb_mult);
    }
    /* Up path: channels, heads, layers, cross dims reversed; resnet j of up block i takes
     * prev_output (j = 0) or out channels plus the skip (input_channel for the last one). */
    int64_t out_c = boc[nb - 1];
    for (int64_t i = 0; i < nb; i++) {
        int64_t r = nb - 1 - i;
        int64_t prev = out_c;
        out_c = boc[r];
        int64_t in_c = boc[r > 0 ? r - 1 : 0];
        int64_t nl = lpb[r] + 1;
        bool attn = !strcmp(up[i], "CrossAttnUpBlock2D");
        for (int64_t j = 0; j < nl; j++) {
            int64_t skip = j == nl - 1 ? in_c : out_c;
            int64_t rin = j == 0 ? prev : out_c;
            snprintf(p, sizeof p, "up_blocks.%lld.resnets.%lld", (long long)i, (long long)j);
            resnet(l, p, rin + skip, out_c, temb, temb_mult);
            if (attn) {
                snprintf(p, sizeof p, "up_blocks.%lld.attentions.%lld", (long long)i,
                         (long long)j);
                transformer(l, p, out_c, heads[r], cross[r], tlayers[r], linear_proj);
            }
        }
        if (i < nb - 1) {
            snprintf(p, sizeof p, "up_blocks.%lld.upsamplers.0.conv", (long long)i);
            conv(l, out_c, out_c, 3, p);
        }
    }
    norm(l, boc[0], "conv_norm_out");
    conv(l, boc[0], out_ch, kout, "conv_out");
    return l->err;
}

/* ---- AutoencoderKL --------------------------------------------------------------------------- */

static void vae_mid(mk_list *l, const char *side, int64_t c, bool attn) {
    char p[200];
    snprintf(p, sizeof p, "%s.mid_block.resnets.0", side);
    resnet(l, p, c, c, 0, 1);
    if (attn) { /* diffusers Attention with one head of all channels, biases everywhere */
        snprintf(p, sizeof p, "%s.mid_block.attentions.0.group_norm", side);
        norm(l, c, p);
        static const char *const proj[] = {"to_q", "to_k", "to_v", "to_out.0"};
        for (int k = 0; k < 4; k++) {
            snprintf(p, sizeof p, "%s.mid_block.attentions.0.%s", side, proj[k]);
            lin(l, c, c, true, p);
        }
    }
    snprintf(p, sizeof p, "%s.mid_block.resnets.1", side);
    resnet(l, p, c, c, 0, 1);
}

trdi_status mk_vae_tensors(const cJSON *cfg, const char *L, mk_list *out) {
    if (!cJSON_IsObject(cfg)) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: not a JSON object", L);
    const char *down[MK_MAX_BLOCKS], *up[MK_MAX_BLOCKS];
    int64_t nb = 0, nu = 0, boc[MK_MAX_BLOCKS] = {0};
    TRY(get_types(cfg, L, "down_block_types", down, &nb));
    TRY(get_types(cfg, L, "up_block_types", up, &nu));
    if (nu != nb)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: %lld up_block_types for %lld down_block_types",
                         L, (long long)nu, (long long)nb);
    const cJSON *bv = cJSON_GetObjectItemCaseSensitive(cfg, "block_out_channels");
    if (!cJSON_IsArray(bv))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"block_out_channels\" must be a list", L);
    TRY(get_per_block(cfg, L, "block_out_channels", nb, -1, 1, boc));
    int64_t lpb = 0, in_ch = 0, out_ch = 0, lat = 0, groups = 1;
    TRY(get_int(cfg, L, "layers_per_block", 1, 1, &lpb));
    TRY(get_int(cfg, L, "in_channels", 3, 1, &in_ch));
    TRY(get_int(cfg, L, "out_channels", 3, 1, &out_ch));
    TRY(get_int(cfg, L, "latent_channels", 4, 1, &lat));
    TRY(get_int(cfg, L, "norm_num_groups", 32, 1, &groups));
    bool mid_attn = false, qc = false, pqc = false;
    TRY(get_bool(cfg, L, "mid_block_add_attention", true, &mid_attn));
    TRY(get_bool(cfg, L, "use_quant_conv", true, &qc));
    TRY(get_bool(cfg, L, "use_post_quant_conv", true, &pqc));
    for (int64_t i = 0; i < nb; i++) {
        if (boc[i] % groups != 0)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: block_out_channels[%lld] = %lld is not a "
                             "multiple of norm_num_groups %lld", L, (long long)i,
                             (long long)boc[i], (long long)groups);
        if (strcmp(down[i], "DownEncoderBlock2D"))
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: down_block_types[%lld] \"%s\" (only "
                             "DownEncoderBlock2D)", L, (long long)i, down[i]);
        if (strcmp(up[i], "UpDecoderBlock2D"))
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: up_block_types[%lld] \"%s\" (only "
                             "UpDecoderBlock2D)", L, (long long)i, up[i]);
    }
    mk_list *l = out;
    char p[200];
    conv(l, in_ch, boc[0], 3, "encoder.conv_in");
    int64_t ch = boc[0];
    for (int64_t i = 0; i < nb; i++) {
        for (int64_t j = 0; j < lpb; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%lld.resnets.%lld", (long long)i,
                     (long long)j);
            resnet(l, p, j == 0 ? ch : boc[i], boc[i], 0, 1);
        }
        if (i < nb - 1) {
            snprintf(p, sizeof p, "encoder.down_blocks.%lld.downsamplers.0.conv", (long long)i);
            conv(l, boc[i], boc[i], 3, p);
        }
        ch = boc[i];
    }
    vae_mid(l, "encoder", ch, mid_attn);
    norm(l, ch, "encoder.conv_norm_out");
    conv(l, ch, 2 * lat, 3, "encoder.conv_out"); /* double_z: mean and log-variance */
    if (qc) conv(l, 2 * lat, 2 * lat, 1, "quant_conv");
    if (pqc) conv(l, lat, lat, 1, "post_quant_conv");
    conv(l, lat, boc[nb - 1], 3, "decoder.conv_in");
    vae_mid(l, "decoder", boc[nb - 1], mid_attn);
    ch = boc[nb - 1];
    for (int64_t i = 0; i < nb; i++) {
        int64_t o = boc[nb - 1 - i];
        for (int64_t j = 0; j < lpb + 1; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%lld.resnets.%lld", (long long)i,
                     (long long)j);
            resnet(l, p, j == 0 ? ch : o, o, 0, 1);
        }
        if (i < nb - 1) {
            snprintf(p, sizeof p, "decoder.up_blocks.%lld.upsamplers.0.conv", (long long)i);
            conv(l, o, o, 3, p);
        }
        ch = o;
    }
    norm(l, boc[0], "decoder.conv_norm_out");
    conv(l, boc[0], out_ch, 3, "decoder.conv_out");
    return l->err;
}

/* ---- CLIPTextModel (transformers) ------------------------------------------------------------ */

trdi_status mk_clip_tensors(const cJSON *cfg, const char *L, mk_list *out) {
    if (!cJSON_IsObject(cfg)) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: not a JSON object", L);
    int64_t D = 0, I = 0, NL = 0, H = 1, V = 0, P = 0;
    TRY(get_int(cfg, L, "hidden_size", 512, 1, &D));
    TRY(get_int(cfg, L, "intermediate_size", 2048, 1, &I));
    TRY(get_int(cfg, L, "num_hidden_layers", 12, 1, &NL));
    TRY(get_int(cfg, L, "num_attention_heads", 8, 1, &H));
    TRY(get_int(cfg, L, "vocab_size", 49408, 1, &V));
    TRY(get_int(cfg, L, "max_position_embeddings", 77, 1, &P));
    if (D % H != 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: hidden_size %lld is not a multiple of "
                         "num_attention_heads %lld", L, (long long)D, (long long)H);
    const char *act = NULL;
    TRY(get_str(cfg, L, "hidden_act", "quick_gelu", &act));
    if (strcmp(act, "quick_gelu") && strcmp(act, "gelu"))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" (quick_gelu or gelu)", L,
                         act);
    mk_list *l = out;
    char p[200];
    add(l, 2, V, D, 0, 0, "text_model.embeddings.token_embedding.weight");
    add(l, 2, P, D, 0, 0, "text_model.embeddings.position_embedding.weight");
    for (int64_t k = 0; k < NL; k++) {
        const long long K = (long long)k;
        static const char *const proj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int a = 0; a < 4; a++) {
            snprintf(p, sizeof p, "text_model.encoder.layers.%lld.self_attn.%s", K, proj[a]);
            lin(l, D, D, true, p);
        }
        snprintf(p, sizeof p, "text_model.encoder.layers.%lld.layer_norm1", K);
        norm(l, D, p);
        snprintf(p, sizeof p, "text_model.encoder.layers.%lld.mlp.fc1", K);
        lin(l, D, I, true, p);
        snprintf(p, sizeof p, "text_model.encoder.layers.%lld.mlp.fc2", K);
        lin(l, I, D, true, p);
        snprintf(p, sizeof p, "text_model.encoder.layers.%lld.layer_norm2", K);
        norm(l, D, p);
    }
    norm(l, D, "text_model.final_layer_norm");
    return l->err;
}

/* ---- presets --------------------------------------------------------------------------------- */

typedef struct mk_preset {
    const char *name;
    const char *unet_boc, *heads; /* JSON texts */
    int cross, groups, sample;
    bool linear_proj, upcast;
    const char *vae_boc;
    int vae_groups, vae_sample;
    int td, tl, th, ti, tproj; /* text: hidden, layers, heads, intermediate, projection_dim */
    const char *act, *pred;
} mk_preset;

static const mk_preset mk_presets[] = {
    /* tests/data/sd15-tiny/model (the refdata's tiny SD 1.5-shaped model) */
    {"tiny", "[16, 32, 32, 32]", "2", 32, 8, 8, false, false, "[16, 32, 32, 32]", 8, 64, 32, 3, 4,
     64, 32, "quick_gelu", "epsilon"},
    /* runwayml/stable-diffusion-v1-5: CLIP ViT-L/14 text tower */
    {"sd15", "[320, 640, 1280, 1280]", "8", 768, 32, 64, false, false, "[128, 256, 512, 512]", 32,
     512, 768, 12, 12, 3072, 768, "quick_gelu", "epsilon"},
    /* stabilityai/stable-diffusion-2-1: OpenCLIP ViT-H text tower (23 of 24 layers used) */
    {"sd21", "[320, 640, 1280, 1280]", "[5, 10, 20, 20]", 1024, 32, 96, true, true,
     "[128, 256, 512, 512]", 32, 768, 1024, 23, 16, 4096, 512, "gelu", "v_prediction"},
};

static cJSON *parse_or_null(const char *text) { return cJSON_Parse(text); }

void mk_configs_free(mk_configs *c) {
    if (!c) return;
    cJSON_Delete(c->scheduler);
    cJSON_Delete(c->text_encoder);
    cJSON_Delete(c->unet);
    cJSON_Delete(c->vae);
    memset(c, 0, sizeof *c);
}

trdi_status mk_preset_configs(const char *preset, mk_configs *out) {
    memset(out, 0, sizeof *out);
    const mk_preset *p = NULL;
    for (size_t i = 0; i < sizeof mk_presets / sizeof mk_presets[0]; i++)
        if (preset && !strcmp(mk_presets[i].name, preset)) p = &mk_presets[i];
    if (!p)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: unknown preset '%s' (tiny, sd15, sd21)",
                         preset ? preset : "(null)");
    char t[4096];
    snprintf(t, sizeof t,
             "{\"_class_name\": \"DDIMScheduler\", \"_diffusers_version\": \"0.31.0\", "
             "\"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, "
             "\"clip_sample\": false, \"clip_sample_range\": 1.0, "
             "\"dynamic_thresholding_ratio\": 0.995, \"num_train_timesteps\": 1000, "
             "\"prediction_type\": \"%s\", \"rescale_betas_zero_snr\": false, "
             "\"sample_max_value\": 1.0, \"set_alpha_to_one\": false, \"steps_offset\": 1, "
             "\"thresholding\": false, \"timestep_spacing\": \"leading\", "
             "\"trained_betas\": null}",
             p->pred);
    out->scheduler = parse_or_null(t);
    snprintf(t, sizeof t,
             "{\"architectures\": [\"CLIPTextModel\"], \"attention_dropout\": 0.0, "
             "\"bos_token_id\": 0, \"eos_token_id\": 2, \"hidden_act\": \"%s\", "
             "\"hidden_size\": %d, \"initializer_factor\": 1.0, \"initializer_range\": 0.02, "
             "\"intermediate_size\": %d, \"layer_norm_eps\": 1e-05, "
             "\"max_position_embeddings\": 77, \"model_type\": \"clip_text_model\", "
             "\"num_attention_heads\": %d, \"num_hidden_layers\": %d, \"pad_token_id\": 1, "
             "\"projection_dim\": %d, \"torch_dtype\": \"float32\", "
             "\"transformers_version\": \"4.47.0\", \"vocab_size\": 49408}",
             p->act, p->td, p->ti, p->th, p->tl, p->tproj);
    out->text_encoder = parse_or_null(t);
    snprintf(t, sizeof t,
             "{\"_class_name\": \"UNet2DConditionModel\", \"_diffusers_version\": \"0.31.0\", "
             "\"act_fn\": \"silu\", \"addition_embed_type\": null, "
             "\"addition_embed_type_num_heads\": 64, \"addition_time_embed_dim\": null, "
             "\"attention_head_dim\": %s, \"attention_type\": \"default\", "
             "\"block_out_channels\": %s, \"center_input_sample\": false, "
             "\"class_embed_type\": null, \"class_embeddings_concat\": false, "
             "\"conv_in_kernel\": 3, \"conv_out_kernel\": 3, \"cross_attention_dim\": %d, "
             "\"cross_attention_norm\": null, \"down_block_types\": [\"CrossAttnDownBlock2D\", "
             "\"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\", \"DownBlock2D\"], "
             "\"downsample_padding\": 1, \"dropout\": 0.0, \"dual_cross_attention\": false, "
             "\"encoder_hid_dim\": null, \"encoder_hid_dim_type\": null, "
             "\"flip_sin_to_cos\": true, \"freq_shift\": 0, \"in_channels\": 4, "
             "\"layers_per_block\": 2, \"mid_block_only_cross_attention\": null, "
             "\"mid_block_scale_factor\": 1, \"mid_block_type\": \"UNetMidBlock2DCrossAttn\", "
             "\"norm_eps\": 1e-05, \"norm_num_groups\": %d, \"num_attention_heads\": null, "
             "\"num_class_embeds\": null, \"only_cross_attention\": false, \"out_channels\": 4, "
             "\"projection_class_embeddings_input_dim\": null, \"resnet_out_scale_factor\": 1.0, "
             "\"resnet_skip_time_act\": false, \"resnet_time_scale_shift\": \"default\", "
             "\"reverse_transformer_layers_per_block\": null, \"sample_size\": %d, "
             "\"time_cond_proj_dim\": null, \"time_embedding_act_fn\": null, "
             "\"time_embedding_dim\": null, \"time_embedding_type\": \"positional\", "
             "\"timestep_post_act\": null, \"transformer_layers_per_block\": 1, "
             "\"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", "
             "\"CrossAttnUpBlock2D\"], \"upcast_attention\": %s, \"use_linear_projection\": %s}",
             p->heads, p->unet_boc, p->cross, p->groups, p->sample, p->upcast ? "true" : "false",
             p->linear_proj ? "true" : "false");
    out->unet = parse_or_null(t);
    snprintf(t, sizeof t,
             "{\"_class_name\": \"AutoencoderKL\", \"_diffusers_version\": \"0.31.0\", "
             "\"act_fn\": \"silu\", \"block_out_channels\": %s, \"down_block_types\": "
             "[\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\", "
             "\"DownEncoderBlock2D\"], \"force_upcast\": true, \"in_channels\": 3, "
             "\"latent_channels\": 4, \"latents_mean\": null, \"latents_std\": null, "
             "\"layers_per_block\": 2, \"mid_block_add_attention\": true, "
             "\"norm_num_groups\": %d, \"out_channels\": 3, \"sample_size\": %d, "
             "\"scaling_factor\": 0.18215, \"shift_factor\": null, \"up_block_types\": "
             "[\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\", "
             "\"UpDecoderBlock2D\"], \"use_post_quant_conv\": true, \"use_quant_conv\": true}",
             p->vae_boc, p->vae_groups, p->vae_sample);
    out->vae = parse_or_null(t);
    if (!out->scheduler || !out->text_encoder || !out->unet || !out->vae) {
        mk_configs_free(out);
        return trdi_fail(TRDI_ERR_NOMEM, "mkmodel: out of memory building the %s configs",
                         p->name);
    }
    return TRDI_OK;
}

/* ---- folder writer --------------------------------------------------------------------------- */

trdi_mkmodel_params trdi_mkmodel_default_params(void) {
    trdi_mkmodel_params p;
    memset(&p, 0, sizeof p);
    p.preset = "tiny";
    p.dtype = TRDI_ST_F32;
    return p;
}

static trdi_status read_file(const char *path, char **text, size_t *len) {
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        char *b2 = realloc(b, cap + 1);
        if (!b2) {
            free(b);
            b = NULL;
        } else {
            b = b2;
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (!b) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory reading", path);
    if (err) {
        free(b);
        return trdi_fail(TRDI_ERR_IO, "%s: read error", path);
    }
    b[n] = '\0';
    *text = b;
    if (len) *len = n;
    return TRDI_OK;
}

static trdi_status write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    bool ok = fwrite(data, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    return ok ? TRDI_OK : trdi_fail(TRDI_ERR_IO, "%s: write failed", path);
}

static trdi_status load_json(const char *path, cJSON **out) {
    *out = NULL;
    char *text;
    TRY(read_file(path, &text, NULL));
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: not a JSON object", path);
    }
    *out = j;
    return TRDI_OK;
}

static trdi_status write_json(const char *path, const cJSON *j) {
    char *s = cJSON_Print(j);
    if (!s) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    }
    t[n] = '\n';
    trdi_status st = write_bytes(path, t, n + 1);
    free(t);
    return st;
}

/* buf = a/b; TRDI_ERR_INVALID_ARG when it does not fit. */
static trdi_status join(char *buf, size_t n, const char *a, const char *b) {
    if ((size_t)snprintf(buf, n, "%s/%s", a, b) >= n)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: path too long: %s/%s", a, b);
    return TRDI_OK;
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static const char *const mk_components[] = {"scheduler", "text_encoder", "unet", "vae"};

static cJSON **config_slot(mk_configs *c, const char *name) {
    if (!strcmp(name, "scheduler")) return &c->scheduler;
    if (!strcmp(name, "text_encoder")) return &c->text_encoder;
    if (!strcmp(name, "unet")) return &c->unet;
    if (!strcmp(name, "vae")) return &c->vae;
    return NULL;
}

/* Applies {"component": {key: value}} overrides. */
static trdi_status apply_overrides(mk_configs *c, const char *path) {
    cJSON *o;
    TRY(load_json(path, &o));
    trdi_status st = TRDI_OK;
    const cJSON *comp;
    cJSON_ArrayForEach(comp, o) {
        cJSON **slot = config_slot(c, comp->string);
        if (!slot) {
            st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: unknown component \"%s\" (scheduler, "
                           "text_encoder, unet, vae)", path, comp->string);
            break;
        }
        if (!cJSON_IsObject(comp)) {
            st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"%s\" must be an object of config keys",
                           path, comp->string);
            break;
        }
        const cJSON *kv;
        cJSON_ArrayForEach(kv, comp) {
            cJSON *dup = cJSON_Duplicate(kv, true);
            if (!dup) {
                st = trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            if (cJSON_HasObjectItem(*slot, kv->string))
                cJSON_ReplaceItemInObjectCaseSensitive(*slot, kv->string, dup);
            else
                cJSON_AddItemToObject(*slot, kv->string, dup);
        }
        if (st != TRDI_OK) break;
    }
    cJSON_Delete(o);
    return st;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}
static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static uint64_t tensor_seed(uint64_t seed, const char *comp, const char *name) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
    for (const char *s = comp; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *s = name; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h ^ (seed * 0x9E3779B97F4A7C15ull);
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* Generates every tensor of `l` into one buffer (the component) and writes the file. */
static trdi_status write_weights(const char *path, const char *comp, const mk_list *l,
                                 trdi_st_dtype dtype, uint64_t seed) {
    size_t esz = trdi_st_dtype_size(dtype), total = 0;
    for (int64_t i = 0; i < l->n; i++) {
        size_t numel = 1;
        for (int d = 0; d < l->t[i].ndim; d++) numel *= (size_t)l->t[i].shape[d];
        total += numel;
    }
    uint8_t *data = trdi_mallocn(total ? total : 1, esz);
    trdi_st_write_entry *e = trdi_calloc((size_t)l->n, sizeof *e);
    enum { CHUNK = 1 << 16 };
    float *tmp = trdi_mallocn(CHUNK, sizeof(float));
    if (!data || !e || !tmp) {
        free(data);
        free(e);
        free(tmp);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for %zu weights", path, total);
    }
    size_t off = 0;
    for (int64_t i = 0; i < l->n; i++) {
        const mk_tensor *t = &l->t[i];
        size_t numel = 1, fan_in = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
        for (int d = 1; d < t->ndim; d++) fan_in *= (size_t)t->shape[d];
        double mean = 0.0, sd = 0.02; /* biases and norm shifts */
        if (t->ndim >= 2) sd = 1.0 / sqrt((double)fan_in);
        else if (ends_with(t->name, ".weight")) mean = 1.0, sd = 0.1; /* norm scales */
        trdi_rng rng;
        trdi_rng_seed(&rng, tensor_seed(seed, comp, t->name));
        uint8_t *dst = data + off * esz;
        for (size_t k0 = 0; k0 < numel; k0 += CHUNK) {
            size_t m = numel - k0 < CHUNK ? numel - k0 : CHUNK;
            trdi_rng_normal_fill(&rng, tmp, m);
            for (size_t k = 0; k < m; k++) tmp[k] = (float)(mean + sd * (double)tmp[k]);
            if (dtype == TRDI_ST_F16) {
                for (size_t k = 0; k < m; k++) {
                    uint16_t h = trdi_f32_to_f16(tmp[k]);
                    memcpy(dst + 2 * (k0 + k), &h, 2); /* host order = little-endian (x86/arm) */
                }
            } else {
                memcpy(dst + 4 * k0, tmp, 4 * m);
            }
        }
        e[i].name = t->name;
        e[i].dtype = dtype;
        e[i].ndim = t->ndim;
        e[i].shape = t->shape;
        e[i].data = dst;
        off += numel;
    }
    free(tmp);
    static const char *const meta[] = {"format", "pt", NULL};
    trdi_status st = trdi_safetensors_write(path, e, l->n, meta);
    free(e);
    free(data);
    return st;
}

static const char mk_model_index[] =
    "{\n  \"_class_name\": \"StableDiffusionPipeline\",\n  \"_diffusers_version\": \"0.31.0\",\n"
    "  \"feature_extractor\": [null, null],\n  \"image_encoder\": [null, null],\n"
    "  \"requires_safety_checker\": false,\n  \"safety_checker\": [null, null],\n"
    "  \"scheduler\": [\"diffusers\", \"DDIMScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n"
    "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKL\"]\n}\n";

/* The body of trdi_mkmodel once configs and lists are valid: fills the temporary folder. */
static trdi_status fill_folder(const char *tmp, const mk_configs *c, const mk_list lists[3],
                               const char *tok, const trdi_mkmodel_params *p) {
    char path[8400], from[8400];
    static const char *const subs[] = {"scheduler", "tokenizer", "text_encoder", "unet", "vae"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, subs[i]);
        if (mkdir(path, 0755) != 0)
            return trdi_fail(TRDI_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
    }
    snprintf(path, sizeof path, "%s/model_index.json", tmp);
    TRY(write_bytes(path, mk_model_index, sizeof mk_model_index - 1));
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", tmp);
    TRY(write_json(path, c->scheduler));
    static const char *const tok_files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                            "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) {
        TRY(join(from, sizeof from, tok, tok_files[i]));
        if (i >= 2 && !file_exists(from)) continue;
        char *text;
        size_t n;
        TRY(read_file(from, &text, &n));
        snprintf(path, sizeof path, "%s/tokenizer/%s", tmp, tok_files[i]);
        trdi_status st = write_bytes(path, text, n);
        free(text);
        TRY(st);
    }
    const char *var = p->dtype == TRDI_ST_F16 ? ".fp16" : "";
    static const char *const comps[] = {"text_encoder", "unet", "vae"};
    for (int k = 0; k < 3; k++) {
        const cJSON *cfg = k == 0 ? c->text_encoder : k == 1 ? c->unet : c->vae;
        snprintf(path, sizeof path, "%s/%s/config.json", tmp, comps[k]);
        TRY(write_json(path, cfg));
        snprintf(path, sizeof path, "%s/%s/%s%s.safetensors", tmp, comps[k],
                 k == 0 ? "model" : "diffusion_pytorch_model", var);
        TRY(write_weights(path, comps[k], &lists[k], p->dtype, p->seed));
    }
    return TRDI_OK;
}

trdi_status trdi_mkmodel(const char *dir, const trdi_mkmodel_params *params) {
    trdi_mkmodel_params p = params ? *params : trdi_mkmodel_default_params();
    if (!dir || !*dir) return trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: no output folder");
    if (strlen(dir) > 4000) return trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: folder name too long");
    if (p.dtype != TRDI_ST_F32 && p.dtype != TRDI_ST_F16)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: dtype %s (F32 or F16)",
                         trdi_st_dtype_name(p.dtype));
    char out[4100];
    snprintf(out, sizeof out, "%s", dir);
    for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--) out[n - 1] = '\0';
    mk_configs c = {0};
    mk_list lists[3] = {{0}, {0}, {0}};
    char path[8400], tmp[4200] = "";
    trdi_status st = TRDI_OK;
    if (p.like) {
        static const char *const files[] = {"scheduler/scheduler_config.json",
                                            "text_encoder/config.json", "unet/config.json",
                                            "vae/config.json"};
        for (int i = 0; i < 4 && st == TRDI_OK; i++) {
            snprintf(path, sizeof path, "%s/%s", p.like, files[i]);
            st = load_json(path, config_slot(&c, mk_components[i]));
        }
    } else {
        st = mk_preset_configs(p.preset ? p.preset : "tiny", &c);
    }
    if (st == TRDI_OK && p.config_json) st = apply_overrides(&c, p.config_json);
    if (st == TRDI_OK) st = mk_clip_tensors(c.text_encoder, "text_encoder/config.json", &lists[0]);
    if (st == TRDI_OK) st = mk_unet_tensors(c.unet, "unet/config.json", &lists[1]);
    if (st == TRDI_OK) st = mk_vae_tensors(c.vae, "vae/config.json", &lists[2]);
    char tokbuf[8400];
    const char *tok = p.tokenizer_from;
    if (st == TRDI_OK && !tok) {
        if (p.like) {
            snprintf(tokbuf, sizeof tokbuf, "%s/tokenizer", p.like);
            tok = tokbuf;
        } else {
            st = trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: no tokenizer folder to copy (give "
                           "tokenizer_from, or like)");
        }
    }
    for (int i = 0; st == TRDI_OK && i < 2; i++) {
        st = join(path, sizeof path, tok, i ? "merges.txt" : "vocab.json");
        if (st == TRDI_OK && !file_exists(path))
            st = trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: tokenizer folder %s has no %s", tok,
                           i ? "merges.txt" : "vocab.json");
    }
    struct stat sb;
    bool exists = stat(out, &sb) == 0;
    if (st == TRDI_OK && exists && !p.overwrite)
        st = trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: %s already exists (overwrite to replace "
                       "it)", out);
    if (st == TRDI_OK && exists && !S_ISDIR(sb.st_mode))
        st = trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: %s exists and is not a folder", out);
    if (st == TRDI_OK) {
        snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out);
        if (!mkdtemp(tmp)) {
            st = trdi_fail(TRDI_ERR_IO, "%s: cannot create a temporary folder: %s", tmp,
                           strerror(errno));
            tmp[0] = '\0';
        } else if (chmod(tmp, 0755) != 0) { /* mkdtemp makes it private */
            st = trdi_fail(TRDI_ERR_IO, "%s: chmod: %s", tmp, strerror(errno));
        }
    }
    if (st == TRDI_OK) st = fill_folder(tmp, &c, lists, tok, &p);
    if (st == TRDI_OK && exists) { /* move the old folder aside, then drop it after the swap */
        snprintf(path, sizeof path, "%s.old", tmp);
        if (rename(out, path) != 0)
            st = trdi_fail(TRDI_ERR_IO, "%s: cannot move the existing folder aside: %s", out,
                           strerror(errno));
    }
    if (st == TRDI_OK) {
        if (rename(tmp, out) != 0) {
            st = trdi_fail(TRDI_ERR_IO, "%s: cannot rename %s to it: %s", out, tmp,
                           strerror(errno));
            if (exists) rename(path, out); /* put the old one back */
        } else {
            tmp[0] = '\0';
            if (exists) rm_tree(path);
        }
    }
    if (tmp[0]) rm_tree(tmp);
    for (int i = 0; i < 3; i++) mk_list_free(&lists[i]);
    mk_configs_free(&c);
    return st;
}
