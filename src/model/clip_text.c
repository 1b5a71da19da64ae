/* clip_text.c -- the CLIP text transformer as the Stable Diffusion pipelines use it: transformers'
 * CLIPTextModel / CLIPTextModelWithProjection (modeling_clip.py, eager attention) loaded from a
 * diffusers text_encoder folder, and diffusers' encode_prompt feature selection (last hidden
 * state, clip_skip, SDXL's penultimate layer of two encoders + pooled projection).
 * Not here: the tokenizer (clip_tokenizer.c), batching (one sequence per forward), attention masks
 * (the pipelines pass none), float16 compute (weights are converted to float32). */
#include "model/clip_text.h"

#include "core/core.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "tensor/tensor.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One encoder layer's weights (all float32, inside trdi_text_encoder.weights). */
typedef struct clip_layer {
    const float *ln1_w, *ln1_b;   /* (D) */
    const float *qkv_w, *qkv_b;   /* (3D, D), (3D): q_proj, k_proj, v_proj stacked */
    const float *out_w, *out_b;   /* (D, D), (D) */
    const float *ln2_w, *ln2_b;   /* (D) */
    const float *fc1_w, *fc1_b;   /* (I, D), (I) */
    const float *fc2_w, *fc2_b;   /* (D, I), (D) */
} clip_layer;

struct trdi_text_encoder {
    trdi_text_encoder_info info;
    char *weights_path;
    trdi_safetensors *file;         /* kept open: the token embedding is read from it */
    const trdi_st_tensor *tok_emb;  /* (V, D) in the file, any float dtype */
    float *weights;                 /* every other parameter, float32 */
    const float *pos_emb;           /* (P, D) */
    const float *final_w, *final_b; /* (D) */
    const float *proj_w;            /* (proj, D) or NULL */
    clip_layer *layers;             /* (L) */
    trdi_arena arena;               /* activations of one forward at max_positions tokens */
};

trdi_text_encoder_params trdi_text_encoder_default_params(void) {
    trdi_text_encoder_params p;
    memset(&p, 0, sizeof p);
    return p;
}

const trdi_text_encoder_info *trdi_text_encoder_get_info(const trdi_text_encoder *enc) {
    return enc ? &enc->info : NULL;
}

/* ---- config.json ----------------------------------------------------------------------------- */

static trdi_status read_text_file(const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            if (ncap > (size_t)64 << 20) {
                fclose(f);
                free(buf);
                return trdi_fail(TRDI_ERR_FORMAT, "%s: larger than 64 MiB, not a config", path);
            }
            char *nb = realloc(buf, ncap);
            if (!nb) {
                fclose(f);
                free(buf);
                return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb, cap = ncap;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return trdi_fail(TRDI_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    *out = buf;
    return TRDI_OK;
}

/* A positive integer field no larger than `max`; `def` (>= 0) when absent, -1 = required. */
static trdi_status cfg_int(const cJSON *root, const char *path, const char *key, int64_t def,
                           int64_t min, int64_t max, int64_t *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) {
        if (def < 0) return trdi_fail(TRDI_ERR_FORMAT, "%s: missing field \"%s\"", path, key);
        *out = def;
        return TRDI_OK;
    }
    double v = cJSON_IsNumber(it) ? it->valuedouble : -1e300;
    if (!cJSON_IsNumber(it) || v != (double)(int64_t)v || v < (double)min || v > (double)max)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: field \"%s\" must be an integer in [%lld, %lld]",
                         path, key, (long long)min, (long long)max);
    *out = (int64_t)v;
    return TRDI_OK;
}

static trdi_status parse_config(const char *path, trdi_text_encoder_info *info) {
    char *text = NULL;
    trdi_status st = read_text_file(path, &text);
    if (st != TRDI_OK) return st;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const int64_t big = (int64_t)1 << 20; /* far above any CLIP size; keeps products in range */
    if ((st = cfg_int(root, path, "hidden_size", -1, 1, big, &info->hidden_size)) ||
        (st = cfg_int(root, path, "intermediate_size", -1, 1, 4 * big, &info->intermediate_size)) ||
        (st = cfg_int(root, path, "num_attention_heads", -1, 1, 4096, &info->num_heads)) ||
        (st = cfg_int(root, path, "num_hidden_layers", -1, 1, 1024, &info->num_layers)) ||
        (st = cfg_int(root, path, "max_position_embeddings", 77, 1, 65536, &info->max_positions)) ||
        (st = cfg_int(root, path, "vocab_size", 49408, 1, 16 * big, &info->vocab_size)) ||
        (st = cfg_int(root, path, "eos_token_id", 2, INT32_MIN, INT32_MAX, &info->eos_token_id)) ||
        (st = cfg_int(root, path, "projection_dim", 512, 1, big, &info->projection_dim)))
        goto done;
    if (info->hidden_size % info->num_heads != 0) {
        st = trdi_fail(TRDI_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld",
                       path, (long long)info->hidden_size, (long long)info->num_heads);
        goto done;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    info->layer_norm_eps = 1e-5;
    if (eps && !cJSON_IsNull(eps)) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble >= 0.0) || eps->valuedouble > 1.0) {
            st = trdi_fail(TRDI_ERR_FORMAT, "%s: field \"layer_norm_eps\" must be a number in [0, 1]", path);
            goto done;
        }
        info->layer_norm_eps = eps->valuedouble;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    const char *acts = cJSON_IsString(act) ? act->valuestring : NULL;
    if (!act || cJSON_IsNull(act)) {
        info->quick_gelu = true; /* transformers' CLIPTextConfig default */
    } else if (acts && strcmp(acts, "quick_gelu") == 0) {
        info->quick_gelu = true;
    } else if (acts && strcmp(acts, "gelu") == 0) {
        info->quick_gelu = false;
    } else {
        st = trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: hidden_act %s is not supported (quick_gelu, gelu)",
                       path, acts ? acts : "(not a string)");
        goto done;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && !(cJSON_IsString(mt) && strcmp(mt->valuestring, "clip_text_model") == 0)) {
        st = trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: model_type %s is not clip_text_model", path,
                       cJSON_IsString(mt) ? mt->valuestring : "(not a string)");
        goto done;
    }
    /* Only CLIPTextModelWithProjection has (and uses) text_projection. */
    bool with_proj = false;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a;
    cJSON_ArrayForEach(a, arch) {
        if (cJSON_IsString(a) && strcmp(a->valuestring, "CLIPTextModelWithProjection") == 0)
            with_proj = true;
    }
    if (!with_proj) info->projection_dim = 0;
done:
    cJSON_Delete(root);
    return st;
}

/* ---- weights ---------------------------------------------------------------------------------- */

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static trdi_status try_file(const char *dir, const char *name, char *out, size_t size, bool *found) {
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: path too long", dir);
    *found = file_exists(out);
    return TRDI_OK;
}

trdi_status trdi_clip_pick_weights(const char *dir, trdi_weights_variant variant, char *out,
                                   size_t size) {
    static const char *const files[] = {"model.safetensors", "model.fp16.safetensors",
                                        "model.bf16.safetensors"};
    bool found = false;
    trdi_status st;
    switch (variant) {
    case TRDI_VARIANT_AUTO:
        for (int i = 0; i < 3; i++) {
            if ((st = try_file(dir, files[i], out, size, &found)) != TRDI_OK) return st;
            if (found) return TRDI_OK;
        }
        return trdi_fail(TRDI_ERR_IO, "%s: no model.safetensors, model.fp16.safetensors or "
                         "model.bf16.safetensors", dir);
    case TRDI_VARIANT_FP32:
    case TRDI_VARIANT_FP16:
    case TRDI_VARIANT_BF16: {
        const char *f = files[variant == TRDI_VARIANT_FP32 ? 0 : variant == TRDI_VARIANT_FP16 ? 1 : 2];
        if ((st = try_file(dir, f, out, size, &found)) != TRDI_OK) return st;
        if (!found) return trdi_fail(TRDI_ERR_IO, "%s: no %s (variant %s)", dir, f,
                                     trdi_weights_variant_name(variant));
        return TRDI_OK;
    }
    }
    return trdi_fail(TRDI_ERR_INVALID_ARG, "unknown weights variant %d", (int)variant);
}

/* Names and shapes of every parameter, in load order. Returns the count; specs may be NULL. */
static int64_t weight_specs(const trdi_text_encoder_info *in, trdi_st_spec *specs, char *names,
                            size_t name_len) {
    const int64_t D = in->hidden_size, I = in->intermediate_size;
    int64_t n = 0;
#define ADD(nd, s0, s1, ...)                                                                       \
    do {                                                                                           \
        if (specs) {                                                                               \
            char *nm = names + (size_t)n * name_len;                                               \
            snprintf(nm, name_len, __VA_ARGS__);                                                   \
            memset(&specs[n], 0, sizeof specs[n]);                                                 \
            specs[n].name = nm;                                                                    \
            specs[n].ndim = nd;                                                                    \
            specs[n].shape[0] = s0;                                                                \
            specs[n].shape[1] = s1;                                                                \
        }                                                                                          \
        n++;                                                                                       \
    } while (0)
    ADD(2, in->vocab_size, D, "text_model.embeddings.token_embedding.weight");
    ADD(2, in->max_positions, D, "text_model.embeddings.position_embedding.weight");
    for (int64_t l = 0; l < in->num_layers; l++) {
        const char *p = "text_model.encoder.layers";
        long long L = (long long)l;
        ADD(1, D, 0, "%s.%lld.layer_norm1.weight", p, L);
        ADD(1, D, 0, "%s.%lld.layer_norm1.bias", p, L);
        ADD(2, D, D, "%s.%lld.self_attn.q_proj.weight", p, L);
        ADD(1, D, 0, "%s.%lld.self_attn.q_proj.bias", p, L);
        ADD(2, D, D, "%s.%lld.self_attn.k_proj.weight", p, L);
        ADD(1, D, 0, "%s.%lld.self_attn.k_proj.bias", p, L);
        ADD(2, D, D, "%s.%lld.self_attn.v_proj.weight", p, L);
        ADD(1, D, 0, "%s.%lld.self_attn.v_proj.bias", p, L);
        ADD(2, D, D, "%s.%lld.self_attn.out_proj.weight", p, L);
        ADD(1, D, 0, "%s.%lld.self_attn.out_proj.bias", p, L);
        ADD(1, D, 0, "%s.%lld.layer_norm2.weight", p, L);
        ADD(1, D, 0, "%s.%lld.layer_norm2.bias", p, L);
        ADD(2, I, D, "%s.%lld.mlp.fc1.weight", p, L);
        ADD(1, I, 0, "%s.%lld.mlp.fc1.bias", p, L);
        ADD(2, D, I, "%s.%lld.mlp.fc2.weight", p, L);
        ADD(1, D, 0, "%s.%lld.mlp.fc2.bias", p, L);
    }
    ADD(1, D, 0, "text_model.final_layer_norm.weight");
    ADD(1, D, 0, "text_model.final_layer_norm.bias");
    if (in->projection_dim > 0) ADD(2, in->projection_dim, D, "text_projection.weight");
#undef ADD
    return n;
}

#define NAME_LEN 96

/* Floats of the arena for a forward at `T` tokens. */
static size_t arena_bytes(const trdi_text_encoder_info *in, int64_t T) {
    const int64_t D = in->hidden_size, I = in->intermediate_size;
    trdi_k_attn ap = {.batch = 1, .heads = in->num_heads, .head_dim = D / in->num_heads, .tq = T,
                      .tk = T, .causal = true};
    size_t f = sizeof(float), sum = 0;
    sum += trdi_arena_footprint((size_t)(T * D) * f);     /* ln */
    sum += trdi_arena_footprint((size_t)(T * 3 * D) * f); /* qkv */
    sum += trdi_arena_footprint((size_t)(T * D) * f);     /* attention output */
    sum += trdi_arena_footprint((size_t)(T * D) * f);     /* projection output / position rows */
    sum += trdi_arena_footprint((size_t)(T * I) * f);     /* mlp */
    sum += trdi_arena_footprint(trdi_k_attention_scratch(&ap) * f);
    sum += trdi_arena_footprint((size_t)T * sizeof(int64_t)); /* position ids */
    return sum;
}

/* Loads from a config file and a weights file (the two entry points differ in how they find them). */
static trdi_status load_files(const char *config_path, const char *weights_path,
                              trdi_text_encoder **out) {
    *out = NULL;
    trdi_status st;
    trdi_st_spec *specs = NULL;
    char *names = NULL;
    trdi_text_encoder *enc = trdi_calloc(1, sizeof *enc);
    if (!enc) return trdi_fail(TRDI_ERR_NOMEM, "text encoder: out of memory");

    if ((st = parse_config(config_path, &enc->info)) != TRDI_OK) goto fail;
    trdi_text_encoder_info *in = &enc->info;
    enc->weights_path = strdup(weights_path);
    if (!enc->weights_path) {
        st = trdi_fail(TRDI_ERR_NOMEM, "text encoder: out of memory");
        goto fail;
    }
    in->weights_path = enc->weights_path;
    if ((st = trdi_safetensors_open(weights_path, &enc->file)) != TRDI_OK) goto fail;

    const int64_t nspec = weight_specs(in, NULL, NULL, 0);
    specs = trdi_calloc((size_t)nspec, sizeof *specs);
    names = trdi_calloc((size_t)nspec, NAME_LEN);
    if (!specs || !names) {
        st = trdi_fail(TRDI_ERR_NOMEM, "text encoder: out of memory");
        goto fail;
    }
    weight_specs(in, specs, names, NAME_LEN);
    /* Extra tensors are fine (e.g. the position_ids buffer of older checkpoints, or a
     * text_projection that CLIPTextModel ignores). */
    if ((st = trdi_safetensors_check(enc->file, specs, nspec, true, NULL)) != TRDI_OK) goto fail;
    enc->tok_emb = trdi_safetensors_lookup(enc->file, specs[0].name);

    /* Every parameter but the token embedding, float32, in one block. q/k/v are stacked so one
     * GEMM produces the fused (T, 3D) buffer the attention kernel reads with a stride. */
    size_t total = 0;
    for (int64_t i = 1; i < nspec; i++)
        total += (size_t)trdi_shape_numel(specs[i].ndim, specs[i].shape);
    enc->weights = trdi_malloc_large(total, sizeof(float));
    enc->layers = trdi_calloc((size_t)in->num_layers, sizeof *enc->layers);
    if (!enc->weights || !enc->layers) {
        st = trdi_fail(TRDI_ERR_NOMEM, "text encoder: cannot allocate %zu weights", total);
        goto fail;
    }
    const int64_t D = in->hidden_size;
    float *cur = enc->weights;
    /* Read tensor i at cur; q/k/v weights and biases are placed so that they end up stacked. */
    size_t off = 0;
    int64_t i = 1;
#define READ_NEXT(ptr)                                                                             \
    do {                                                                                           \
        st = trdi_safetensors_read_f32_shape(enc->file, specs[i].name, specs[i].ndim,             \
                                             specs[i].shape, cur + off);                           \
        if (st != TRDI_OK) goto fail;                                                              \
        (ptr) = cur + off;                                                                         \
        off += (size_t)trdi_shape_numel(specs[i].ndim, specs[i].shape);                            \
        i++;                                                                                       \
    } while (0)
    READ_NEXT(enc->pos_emb);
    for (int64_t l = 0; l < in->num_layers; l++) {
        clip_layer *L = &enc->layers[l];
        READ_NEXT(L->ln1_w);
        READ_NEXT(L->ln1_b);
        /* q_w, q_b, k_w, k_b, v_w, v_b come in that order: read the weights into one (3D, D)
         * block and the biases into one (3D) block right after it. */
        float *wblk = cur + off, *bblk = cur + off + (size_t)(3 * D * D);
        for (int j = 0; j < 3; j++) {
            st = trdi_safetensors_read_f32_shape(enc->file, specs[i].name, 2, specs[i].shape,
                                                 wblk + (size_t)j * (size_t)(D * D));
            if (st != TRDI_OK) goto fail;
            i++;
            st = trdi_safetensors_read_f32_shape(enc->file, specs[i].name, 1, specs[i].shape,
                                                 bblk + j * D);
            if (st != TRDI_OK) goto fail;
            i++;
        }
        L->qkv_w = wblk, L->qkv_b = bblk;
        off += (size_t)(3 * D * D + 3 * D);
        READ_NEXT(L->out_w);
        READ_NEXT(L->out_b);
        READ_NEXT(L->ln2_w);
        READ_NEXT(L->ln2_b);
        READ_NEXT(L->fc1_w);
        READ_NEXT(L->fc1_b);
        READ_NEXT(L->fc2_w);
        READ_NEXT(L->fc2_b);
    }
    READ_NEXT(enc->final_w);
    READ_NEXT(enc->final_b);
    if (in->projection_dim > 0) READ_NEXT(enc->proj_w);
#undef READ_NEXT
    if (off != total || i != nspec) {
        st = trdi_fail(TRDI_ERR_INTERNAL, "text encoder: read %zu of %zu weights", off, total);
        goto fail;
    }
    if ((st = trdi_arena_init(&enc->arena, arena_bytes(in, in->max_positions))) != TRDI_OK)
        goto fail;
    free(specs);
    free(names);
    *out = enc;
    return TRDI_OK;
fail:
    free(specs);
    free(names);
    trdi_text_encoder_free(enc);
    return st;
}

trdi_status trdi_text_encoder_load(const char *dir, const trdi_text_encoder_params *params,
                                   trdi_text_encoder **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "text encoder: out is NULL");
    *out = NULL;
    if (!dir) return trdi_fail(TRDI_ERR_INVALID_ARG, "text encoder: dir is NULL");
    trdi_text_encoder_params p = params ? *params : trdi_text_encoder_default_params();
    char cfg[PATH_MAX], weights[PATH_MAX];
    if ((size_t)snprintf(cfg, sizeof cfg, "%s/config.json", dir) >= sizeof cfg)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: path too long", dir);
    trdi_status st = trdi_clip_pick_weights(dir, p.variant, weights, sizeof weights);
    if (st != TRDI_OK) return st;
    return load_files(cfg, weights, out);
}

trdi_status trdi_text_encoder_load_component(const trdi_diffusers *model, const char *component,
                                             trdi_text_encoder **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "text encoder: out is NULL");
    *out = NULL;
    if (!model || !component)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "text encoder: NULL model or component");
    const char *cls = trdi_diffusers_component_class(model, component, NULL);
    if (!cls)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: the model has no component %s",
                         trdi_diffusers_dir(model), component);
    if (strcmp(cls, "CLIPTextModel") != 0 && strcmp(cls, "CLIPTextModelWithProjection") != 0)
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: component %s is a %s, not a CLIP text model",
                         trdi_diffusers_dir(model), component, cls);
    const char *cfg = NULL, *weights = NULL;
    trdi_status st = trdi_diffusers_config_path(model, component, &cfg);
    trdi_weights_variant chosen;
    if (st == TRDI_OK) st = trdi_diffusers_weights_path(model, component, &weights, &chosen);
    if (st != TRDI_OK) return st;
    return load_files(cfg, weights, out);
}

void trdi_text_encoder_free(trdi_text_encoder *enc) {
    if (!enc) return;
    trdi_arena_free(&enc->arena);
    free(enc->weights);
    free(enc->layers);
    trdi_safetensors_close(enc->file);
    free(enc->weights_path);
    free(enc);
}

/* ---- forward ----------------------------------------------------------------------------------- */

void trdi_text_output_clear(trdi_text_output *out) {
    if (!out) return;
    free(out->hidden_states);
    memset(out, 0, sizeof *out);
}

trdi_status trdi_text_encoder_final_norm(const trdi_text_encoder *enc, const float *x, int64_t n,
                                         float *y) {
    if (!enc || !x || !y || n < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "text encoder final norm: bad arguments");
    trdi_k_layernorm(n, enc->info.hidden_size, x, enc->final_w, enc->final_b,
                     (float)enc->info.layer_norm_eps, y);
    return TRDI_OK;
}

/* transformers CLIPTextTransformer.forward pooling: eos_token_id == 2 -> argmax(ids) (first
 * maximum); else the first position holding eos_token_id (0 when there is none, as argmax of an
 * all-zero mask). */
static int64_t pooled_position(const int64_t *ids, int64_t n, int64_t eos) {
    int64_t best = 0;
    if (eos == 2) {
        for (int64_t i = 1; i < n; i++)
            if (ids[i] > ids[best]) best = i;
        return best;
    }
    for (int64_t i = 0; i < n; i++)
        if (ids[i] == eos) return i;
    return 0;
}

trdi_status trdi_text_encoder_forward(trdi_text_encoder *enc, const int64_t *ids, int64_t n_ids,
                                      trdi_text_output *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "text encoder forward: out is NULL");
    memset(out, 0, sizeof *out);
    if (!enc || !ids) return trdi_fail(TRDI_ERR_INVALID_ARG, "text encoder forward: NULL argument");
    const trdi_text_encoder_info *in = &enc->info;
    if (n_ids < 1 || n_ids > in->max_positions)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "text encoder forward: %lld token ids, expected 1..%lld (max_position_embeddings)",
                         (long long)n_ids, (long long)in->max_positions);
    const int64_t T = n_ids, D = in->hidden_size, I = in->intermediate_size, L = in->num_layers;
    const int64_t V = in->vocab_size, H = in->num_heads;
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= V)
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "text encoder forward: token id %lld at position %lld is outside [0, %lld)",
                             (long long)ids[t], (long long)t, (long long)V);

    /* Output: hidden states, last hidden state, pooled, text_embeds in one block. */
    const size_t n_out = (size_t)((L + 1) * T * D + T * D + D + in->projection_dim);
    float *block = trdi_mallocn(n_out, sizeof(float));
    if (!block) return trdi_fail(TRDI_ERR_NOMEM, "text encoder forward: out of memory");

    trdi_arena *ar = &enc->arena;
    trdi_arena_reset(ar);
    trdi_k_attn ap = {.batch = 1, .heads = H, .head_dim = D / H, .tq = T, .tk = T,
                      .q_stride = 3 * D, .k_stride = 3 * D, .v_stride = 3 * D, .o_stride = D,
                      .scale = (float)(1.0 / sqrt((double)(D / H))), .causal = true};
    float *ln = trdi_arena_floats(ar, (size_t)(T * D));
    float *qkv = trdi_arena_floats(ar, (size_t)(T * 3 * D));
    float *att = trdi_arena_floats(ar, (size_t)(T * D));
    float *tmp = trdi_arena_floats(ar, (size_t)(T * D));
    float *mlp = trdi_arena_floats(ar, (size_t)(T * I));
    int64_t *pos = trdi_arena_alloc(ar, (size_t)T * sizeof(int64_t));
    /* The rest of the arena is attention scratch (sized at load for that thread count; the kernel
     * uses fewer threads if OpenMP was given more since). */
    const size_t n_scratch = (ar->cap - trdi_arena_mark(ar)) / sizeof(float);
    float *scratch = trdi_arena_floats(ar, n_scratch);
    if (!ln || !qkv || !att || !tmp || !mlp || !scratch || !pos) {
        free(block);
        return trdi_fail(TRDI_ERR_INTERNAL, "text encoder forward: arena too small");
    }
    trdi_status st;
    float *hs = block;

    /* Embeddings: token rows converted from the file's dtype, plus position rows 0..T-1. */
    const trdi_st_tensor *te = enc->tok_emb;
    const size_t row_bytes = (size_t)D * trdi_st_dtype_size(te->dtype);
    for (int64_t t = 0; t < T; t++) {
        st = trdi_st_convert_to_f32(te->dtype, (const unsigned char *)te->data + (size_t)ids[t] * row_bytes,
                                    (size_t)D, hs + t * D);
        if (st != TRDI_OK) goto fail;
        pos[t] = t;
    }
    if ((st = trdi_k_embedding(T, pos, in->max_positions, D, enc->pos_emb, tmp)) != TRDI_OK)
        goto fail;
    trdi_k_add(T * D, hs, tmp, hs);

    const float eps = (float)in->layer_norm_eps;
    for (int64_t l = 0; l < L; l++) {
        const clip_layer *w = &enc->layers[l];
        const float *x = hs + l * T * D;
        float *y = hs + (l + 1) * T * D;
        /* Self-attention block: y = x + out_proj(attn(LN1(x))). */
        trdi_k_layernorm(T, D, x, w->ln1_w, w->ln1_b, eps, ln);
        trdi_k_linear(T, D, 3 * D, ln, w->qkv_w, w->qkv_b, qkv);
        st = trdi_k_attention(&ap, qkv, qkv + D, qkv + 2 * D, att, scratch, n_scratch);
        if (st != TRDI_OK) goto fail;
        trdi_k_linear(T, D, D, att, w->out_w, w->out_b, tmp);
        trdi_k_add(T * D, x, tmp, y);
        /* MLP block: y += fc2(act(fc1(LN2(y)))). */
        trdi_k_layernorm(T, D, y, w->ln2_w, w->ln2_b, eps, ln);
        trdi_k_linear(T, D, I, ln, w->fc1_w, w->fc1_b, mlp);
        if (in->quick_gelu)
            trdi_k_quick_gelu(T * I, mlp, mlp);
        else
            trdi_k_gelu(T * I, mlp, mlp);
        trdi_k_linear(T, I, D, mlp, w->fc2_w, w->fc2_b, tmp);
        trdi_k_add(T * D, y, tmp, y);
    }
    float *last = hs + (L + 1) * T * D;
    trdi_k_layernorm(T, D, hs + L * T * D, enc->final_w, enc->final_b, eps, last);
    float *pooled = last + T * D;
    const int64_t pidx = pooled_position(ids, T, in->eos_token_id);
    memcpy(pooled, last + pidx * D, (size_t)D * sizeof(float));
    float *proj = NULL;
    if (in->projection_dim > 0) {
        proj = pooled + D;
        trdi_k_linear(1, D, in->projection_dim, pooled, enc->proj_w, NULL, proj);
    }
    trdi_arena_reset(ar);
    out->seq_len = T;
    out->hidden_size = D;
    out->num_layers = L;
    out->hidden_states = hs;
    out->last_hidden_state = last;
    out->pooled = pooled;
    out->pooled_index = pidx;
    out->text_embeds = proj;
    out->projection_dim = in->projection_dim;
    return TRDI_OK;
fail:
    trdi_arena_reset(ar);
    free(block);
    return st;
}

/* ---- prompt embeddings (diffusers encode_prompt) ----------------------------------------------- */

void trdi_prompt_embeds_clear(trdi_prompt_embeds *e) {
    if (!e) return;
    free(e->embeds);
    free(e->pooled);
    memset(e, 0, sizeof *e);
}

trdi_status trdi_prompt_embeds_zeros_like(const trdi_prompt_embeds *like, trdi_prompt_embeds *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "prompt embeds: out is NULL");
    memset(out, 0, sizeof *out);
    if (!like || like->seq_len < 0 || like->dim < 0 || like->pooled_dim < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "prompt embeds: bad template");
    out->embeds = trdi_calloc((size_t)(like->seq_len * like->dim), sizeof(float));
    out->pooled = like->pooled_dim > 0 ? trdi_calloc((size_t)like->pooled_dim, sizeof(float)) : NULL;
    if (!out->embeds || (like->pooled_dim > 0 && !out->pooled)) {
        trdi_prompt_embeds_clear(out);
        return trdi_fail(TRDI_ERR_NOMEM, "prompt embeds: out of memory");
    }
    out->seq_len = like->seq_len;
    out->dim = like->dim;
    out->pooled_dim = like->pooled_dim;
    return TRDI_OK;
}

trdi_status trdi_prompt_embeds_encode(trdi_text_encoder *enc, const int64_t *ids,
                                      trdi_text_encoder *enc2, const int64_t *ids2, int64_t n_ids,
                                      int64_t clip_skip, trdi_prompt_embeds *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "prompt embeds: out is NULL");
    memset(out, 0, sizeof *out);
    if (!enc || !ids || (enc2 && !ids2))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "prompt embeds: NULL encoder or ids");
    if (clip_skip < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "clip_skip must be >= 0, got %lld", (long long)clip_skip);
    trdi_text_output o1, o2;
    memset(&o2, 0, sizeof o2);
    trdi_status st = TRDI_OK;
    const int64_t L1 = enc->info.num_layers;
    if (!enc2) {
        if (clip_skip > L1)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "clip_skip %lld exceeds the encoder's %lld layers",
                             (long long)clip_skip, (long long)L1);
        if ((st = trdi_text_encoder_forward(enc, ids, n_ids, &o1)) != TRDI_OK) return st;
        const int64_t T = o1.seq_len, D = o1.hidden_size;
        out->embeds = trdi_mallocn((size_t)(T * D), sizeof(float));
        if (!out->embeds) {
            st = trdi_fail(TRDI_ERR_NOMEM, "prompt embeds: out of memory");
            goto done;
        }
        if (clip_skip == 0) {
            memcpy(out->embeds, o1.last_hidden_state, (size_t)(T * D) * sizeof(float));
        } else {
            /* hidden_states[-(c+1)] = index L - c, then final_layer_norm. */
            trdi_text_encoder_final_norm(enc, o1.hidden_states + (L1 - clip_skip) * T * D, T,
                                         out->embeds);
        }
        out->seq_len = T;
        out->dim = D;
        goto done;
    }
    /* SDXL. */
    const int64_t L2 = enc2->info.num_layers;
    if (enc2->info.projection_dim <= 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "prompt embeds: the second text encoder (%s) has no text_projection "
                         "(SDXL needs CLIPTextModelWithProjection)", enc2->info.weights_path);
    if (clip_skip > L1 - 1 || clip_skip > L2 - 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "clip_skip %lld too large for encoders of %lld and %lld layers",
                         (long long)clip_skip, (long long)L1, (long long)L2);
    if ((st = trdi_text_encoder_forward(enc, ids, n_ids, &o1)) != TRDI_OK) return st;
    if ((st = trdi_text_encoder_forward(enc2, ids2, n_ids, &o2)) != TRDI_OK) goto done;
    {
        const int64_t T = n_ids, D1 = o1.hidden_size, D2 = o2.hidden_size, P = o2.projection_dim;
        out->embeds = trdi_mallocn((size_t)(T * (D1 + D2)), sizeof(float));
        out->pooled = trdi_mallocn((size_t)P, sizeof(float));
        if (!out->embeds || !out->pooled) {
            st = trdi_fail(TRDI_ERR_NOMEM, "prompt embeds: out of memory");
            goto done;
        }
        /* hidden_states[-(c+2)] = index L - 1 - c, no final norm. */
        const float *h1 = o1.hidden_states + (L1 - 1 - clip_skip) * T * D1;
        const float *h2 = o2.hidden_states + (L2 - 1 - clip_skip) * T * D2;
        for (int64_t t = 0; t < T; t++) {
            memcpy(out->embeds + t * (D1 + D2), h1 + t * D1, (size_t)D1 * sizeof(float));
            memcpy(out->embeds + t * (D1 + D2) + D1, h2 + t * D2, (size_t)D2 * sizeof(float));
        }
        memcpy(out->pooled, o2.text_embeds, (size_t)P * sizeof(float));
        out->seq_len = T;
        out->dim = D1 + D2;
        out->pooled_dim = P;
    }
done:
    trdi_text_output_clear(&o1);
    trdi_text_output_clear(&o2);
    if (st != TRDI_OK) trdi_prompt_embeds_clear(out);
    return st;
}
