/* sd_mkmodel.c -- random-weight diffusers Stable Diffusion folders (see sd_mkmodel.h): config
 * files from a preset, tensor lists from the UNet / VAE loaders themselves (so the folder always
 * loads), CLIP names as transformers' CLIPTextModel, and a streaming safetensors writer (tensors
 * are generated chunk by chunk: a full-size UNet never sits in memory twice). Not a converter of
 * real checkpoints. */
#include "model/sd_mkmodel.h"

#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct preset {
    const char *name;
    const char *unet_blocks, *heads;
    int64_t cross, groups, sample;
    bool linear_proj, upcast;
    const char *vae_blocks;
    int64_t vae_groups, vae_sample;
    int64_t td, tl, th, ti; /* text hidden, layers, heads, intermediate */
    const char *act, *pred;
} preset;

static const preset presets[] = {
    {"tiny", "[16, 32, 32, 32]", "2", 32, 8, 8, false, false, "[16, 32, 32, 32]", 8, 64, 32, 3, 4,
     64, "quick_gelu", "epsilon"},
    /* SD 2.x wiring at tiny widths: linear projections, per-block heads, gelu, v-prediction */
    {"tiny21", "[16, 32, 32, 32]", "[1, 2, 2, 4]", 32, 8, 8, true, true, "[16, 32, 32, 32]", 8,
     64, 32, 3, 4, 64, "gelu", "v_prediction"},
    {"sd15", "[320, 640, 1280, 1280]", "8", 768, 32, 64, false, false, "[128, 256, 512, 512]", 32,
     512, 768, 12, 12, 3072, "quick_gelu", "epsilon"},
    {"sd21", "[320, 640, 1280, 1280]", "[5, 10, 20, 20]", 1024, 32, 96, true, true,
     "[128, 256, 512, 512]", 32, 768, 1024, 23, 16, 4096, "gelu", "v_prediction"},
};

static trdi_status mkdir_p(const char *path) {
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return TRDI_OK;
    return trdi_fail(TRDI_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
}

/* Writes text to path via path.tmp + rename. */
static trdi_status write_text(const char *path, const char *text, size_t len) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    bool ok = fwrite(text, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return trdi_fail(TRDI_ERR_IO, "%s: write failed", path);
    }
    return TRDI_OK;
}

static trdi_status copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    bool ok = buf && n >= 0 && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    trdi_status st = ok ? write_text(to, buf, (size_t)n)
                        : trdi_fail(TRDI_ERR_IO, "%s: cannot read", from);
    free(buf);
    return st;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Streams a safetensors file of random tensors (order as given). */
static trdi_status write_random_st(const char *path, const trdi_st_spec *specs, int64_t n,
                                   bool fp16, trdi_rng *rng) {
    size_t esz = fp16 ? 2 : 4;
    size_t cap = 4096, len = 0;
    char *hdr = malloc(cap);
    if (!hdr) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    len += (size_t)snprintf(hdr, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        char shape[200] = "";
        size_t sl = 0;
        int64_t numel = 1;
        for (int d = 0; d < specs[i].ndim; d++) {
            sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%s%lld", d ? "," : "",
                                   (long long)specs[i].shape[d]);
            numel *= specs[i].shape[d];
        }
        uint64_t end = off + (uint64_t)numel * esz;
        size_t need = strlen(specs[i].name) + sl + 128;
        if (len + need >= cap) {
            while (len + need >= cap) cap *= 2;
            char *h2 = realloc(hdr, cap);
            if (!h2) {
                free(hdr);
                return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
            }
            hdr = h2;
        }
        len += (size_t)snprintf(hdr + len, cap - len,
                                ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%llu,%llu]}",
                                specs[i].name, fp16 ? "F16" : "F32", shape,
                                (unsigned long long)off, (unsigned long long)end);
        off = end;
    }
    if (len + 16 >= cap) {
        char *h2 = realloc(hdr, cap + 16);
        if (!h2) {
            free(hdr);
            return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        }
        hdr = h2;
    }
    hdr[len++] = '}';
    while (len % 8 != 0) hdr[len++] = ' ';
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(hdr);
        return trdi_fail(TRDI_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)((uint64_t)len >> (8 * i));
    bool ok = fwrite(lenb, 1, 8, f) == 8 && fwrite(hdr, 1, len, f) == len;
    free(hdr);
    enum { CHUNK = 1 << 20 };
    float *buf = malloc(CHUNK * sizeof(float));
    uint16_t *hb = malloc(CHUNK * sizeof(uint16_t));
    ok = ok && buf && hb;
    for (int64_t i = 0; ok && i < n; i++) {
        const trdi_st_spec *s = &specs[i];
        int64_t numel = 1, fan_in = 1;
        for (int d = 0; d < s->ndim; d++) numel *= s->shape[d];
        for (int d = 1; d < s->ndim; d++) fan_in *= s->shape[d];
        bool weight = ends_with(s->name, ".weight");
        double mean = 0, sd = 0.02;
        if (weight && s->ndim >= 2) {
            sd = 1.0 / sqrt((double)fan_in);
        } else if (weight) { /* a norm scale */
            mean = 1.0;
            sd = 0.1;
        }
        for (int64_t k0 = 0; ok && k0 < numel; k0 += CHUNK) {
            int64_t m = numel - k0 < CHUNK ? numel - k0 : CHUNK;
            trdi_rng_normal_fill(rng, buf, (size_t)m);
            for (int64_t k = 0; k < m; k++) buf[k] = (float)(mean + sd * buf[k]);
            if (fp16) {
                for (int64_t k = 0; k < m; k++) hb[k] = trdi_f32_to_f16(buf[k]);
                ok = fwrite(hb, 2, (size_t)m, f) == (size_t)m;
            } else {
                ok = fwrite(buf, 4, (size_t)m, f) == (size_t)m; /* little-endian hosts */
            }
        }
    }
    free(buf);
    free(hb);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return trdi_fail(TRDI_ERR_IO, "%s: write failed", path);
    }
    return TRDI_OK;
}

/* CLIPTextModel tensors (transformers names). */
static void clip_specs(sd_wl *wl, const preset *p) {
    int64_t D = p->td, I = p->ti;
    sd_wl_get(wl, 2, 49408, D, 0, 0, "text_model.embeddings.token_embedding.weight");
    sd_wl_get(wl, 2, 77, D, 0, 0, "text_model.embeddings.position_embedding.weight");
    for (int64_t l = 0; l < p->tl; l++) {
        const char *pre = "text_model.encoder.layers";
        long long L = (long long)l;
        sd_wl_get(wl, 1, D, 0, 0, 0, "%s.%lld.layer_norm1.weight", pre, L);
        sd_wl_get(wl, 1, D, 0, 0, 0, "%s.%lld.layer_norm1.bias", pre, L);
        static const char *const proj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int k = 0; k < 4; k++) {
            sd_wl_get(wl, 2, D, D, 0, 0, "%s.%lld.self_attn.%s.weight", pre, L, proj[k]);
            sd_wl_get(wl, 1, D, 0, 0, 0, "%s.%lld.self_attn.%s.bias", pre, L, proj[k]);
        }
        sd_wl_get(wl, 1, D, 0, 0, 0, "%s.%lld.layer_norm2.weight", pre, L);
        sd_wl_get(wl, 1, D, 0, 0, 0, "%s.%lld.layer_norm2.bias", pre, L);
        sd_wl_get(wl, 2, I, D, 0, 0, "%s.%lld.mlp.fc1.weight", pre, L);
        sd_wl_get(wl, 1, I, 0, 0, 0, "%s.%lld.mlp.fc1.bias", pre, L);
        sd_wl_get(wl, 2, D, I, 0, 0, "%s.%lld.mlp.fc2.weight", pre, L);
        sd_wl_get(wl, 1, D, 0, 0, 0, "%s.%lld.mlp.fc2.bias", pre, L);
    }
    sd_wl_get(wl, 1, D, 0, 0, 0, "text_model.final_layer_norm.weight");
    sd_wl_get(wl, 1, D, 0, 0, 0, "text_model.final_layer_norm.bias");
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        st = (x);                                                                                  \
        if (st != TRDI_OK) goto done;                                                              \
    } while (0)

trdi_status sd_mkmodel_write(const char *dir, const sd_mkmodel_opts *o) {
    if (!dir || !o || !o->preset || !o->tokenizer_dir)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: NULL argument");
    const preset *p = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, o->preset) == 0) p = &presets[i];
    if (!p)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "mkmodel: unknown preset '%s' (tiny, tiny21, sd15, sd21)",
                         o->preset);
    char path[1100], text[4096];
    const char *subs[] = {"", "/scheduler", "/tokenizer", "/text_encoder", "/unet", "/vae"};
    trdi_status st = TRDI_OK;
    trdi_json *j = NULL;
    sd_wl wl = {0};
    trdi_rng rng;
    trdi_rng_seed(&rng, o->seed);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s%s", dir, subs[i]);
        TRY(mkdir_p(path));
    }
    int n = snprintf(text, sizeof text,
                     "{\n  \"_class_name\": \"StableDiffusionPipeline\",\n  \"_diffusers_version\": "
                     "\"0.31.0\",\n  \"feature_extractor\": [null, null],\n  \"requires_safety_"
                     "checker\": false,\n  \"safety_checker\": [null, null],\n  \"scheduler\": "
                     "[\"diffusers\", \"DDIMScheduler\"],\n  \"text_encoder\": [\"transformers\", "
                     "\"CLIPTextModel\"],\n  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n"
                     "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n  \"vae\": "
                     "[\"diffusers\", \"AutoencoderKL\"]\n}\n");
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    TRY(write_text(path, text, (size_t)n));
    n = snprintf(text, sizeof text,
                 "{\n  \"_class_name\": \"DDIMScheduler\",\n  \"beta_end\": 0.012,\n  "
                 "\"beta_schedule\": \"scaled_linear\",\n  \"beta_start\": 0.00085,\n  "
                 "\"clip_sample\": false,\n  \"num_train_timesteps\": 1000,\n  \"prediction_type\": "
                 "\"%s\",\n  \"set_alpha_to_one\": false,\n  \"steps_offset\": 1,\n  "
                 "\"timestep_spacing\": \"leading\"\n}\n",
                 p->pred);
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
    TRY(write_text(path, text, (size_t)n));
    static const char *const tok_files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                            "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) {
        char from[1100];
        snprintf(from, sizeof from, "%s/%s", o->tokenizer_dir, tok_files[i]);
        snprintf(path, sizeof path, "%s/tokenizer/%s", dir, tok_files[i]);
        TRY(copy_file(from, path));
    }
    /* text encoder */
    n = snprintf(text, sizeof text,
                 "{\n  \"architectures\": [\"CLIPTextModel\"],\n  \"bos_token_id\": 0,\n  "
                 "\"eos_token_id\": 2,\n  \"hidden_act\": \"%s\",\n  \"hidden_size\": %lld,\n  "
                 "\"intermediate_size\": %lld,\n  \"layer_norm_eps\": 1e-05,\n  "
                 "\"max_position_embeddings\": 77,\n  \"model_type\": \"clip_text_model\",\n  "
                 "\"num_attention_heads\": %lld,\n  \"num_hidden_layers\": %lld,\n  "
                 "\"pad_token_id\": 1,\n  \"projection_dim\": %lld,\n  \"vocab_size\": 49408\n}\n",
                 p->act, (long long)p->td, (long long)p->ti, (long long)p->th, (long long)p->tl,
                 (long long)p->td);
    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    TRY(write_text(path, text, (size_t)n));
    clip_specs(&wl, p);
    TRY(wl.err);
    snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", dir);
    TRY(write_random_st(path, wl.specs, wl.n, o->fp16, &rng));
    sd_wl_free_specs(&wl);
    memset(&wl, 0, sizeof wl);
    /* unet */
    n = snprintf(text, sizeof text,
                 "{\n  \"_class_name\": \"UNet2DConditionModel\",\n  \"_diffusers_version\": "
                 "\"0.31.0\",\n  \"act_fn\": \"silu\",\n  \"attention_head_dim\": %s,\n  "
                 "\"block_out_channels\": %s,\n  \"center_input_sample\": false,\n  "
                 "\"cross_attention_dim\": %lld,\n  \"down_block_types\": [\"CrossAttnDownBlock2D\", "
                 "\"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\", \"DownBlock2D\"],\n  "
                 "\"downsample_padding\": 1,\n  \"flip_sin_to_cos\": true,\n  \"freq_shift\": 0,\n  "
                 "\"in_channels\": 4,\n  \"layers_per_block\": 2,\n  \"mid_block_scale_factor\": 1,\n"
                 "  \"norm_eps\": 1e-05,\n  \"norm_num_groups\": %lld,\n  \"out_channels\": 4,\n  "
                 "\"sample_size\": %lld,\n  \"up_block_types\": [\"UpBlock2D\", "
                 "\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\"],\n  "
                 "\"upcast_attention\": %s,\n  \"use_linear_projection\": %s\n}\n",
                 p->heads, p->unet_blocks, (long long)p->cross, (long long)p->groups,
                 (long long)p->sample, p->upcast ? "true" : "false",
                 p->linear_proj ? "true" : "false");
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    TRY(write_text(path, text, (size_t)n));
    TRY(trdi_json_parse(text, (size_t)n, path, &j));
    TRY(sd_unet_list_weights(j, &wl));
    trdi_json_free(j);
    j = NULL;
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    TRY(write_random_st(path, wl.specs, wl.n, o->fp16, &rng));
    sd_wl_free_specs(&wl);
    memset(&wl, 0, sizeof wl);
    /* vae */
    n = snprintf(text, sizeof text,
                 "{\n  \"_class_name\": \"AutoencoderKL\",\n  \"_diffusers_version\": \"0.31.0\",\n"
                 "  \"act_fn\": \"silu\",\n  \"block_out_channels\": %s,\n  \"down_block_types\": "
                 "[\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\", "
                 "\"DownEncoderBlock2D\"],\n  \"force_upcast\": true,\n  \"in_channels\": 3,\n  "
                 "\"latent_channels\": 4,\n  \"layers_per_block\": 2,\n  \"norm_num_groups\": %lld,\n"
                 "  \"out_channels\": 3,\n  \"sample_size\": %lld,\n  \"scaling_factor\": 0.18215,\n"
                 "  \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", "
                 "\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]\n}\n",
                 p->vae_blocks, (long long)p->vae_groups, (long long)p->vae_sample);
    snprintf(path, sizeof path, "%s/vae/config.json", dir);
    TRY(write_text(path, text, (size_t)n));
    TRY(trdi_json_parse(text, (size_t)n, path, &j));
    TRY(sd_vae_list_weights(j, &wl));
    snprintf(path, sizeof path, "%s/vae/diffusion_pytorch_model.safetensors", dir);
    TRY(write_random_st(path, wl.specs, wl.n, o->fp16, &rng));
done:
    trdi_json_free(j);
    sd_wl_free_specs(&wl);
    return st;
}
