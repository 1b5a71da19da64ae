/* test_mkmodel.c -- trdi_mkmodel: the "tiny" preset reproduces tests/data/sd15-tiny/model (every
 * component's tensor names and shapes, every config key), the folder opens with
 * trdi_diffusers_open, fp16 writes the fp16 variants, seeds are deterministic, overrides apply,
 * bad presets / overrides / outputs fail cleanly without leaving anything behind, and the SD 1.5 /
 * SD 2.1 tensor lists agree with the UNet / VAE loaders' own lists (model/unet.h, vae.h). */
#define _GNU_SOURCE
#include "harness.h"
#include "io/json_config.h"
#include "model/mkmodel.h"
#include "model/sd_nn.h"
#include "model/unet.h"
#include "model/vae.h"
#include "trdi.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TINY TRDI_TEST_DATA "/sd15-tiny/model"

static char root[256];

static void rm_rf(const char *path) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", path);
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Number of entries of `root` whose name starts with prefix (leftover temporaries). */
static int count_prefix(const char *prefix) {
    DIR *d = opendir(root);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (d) closedir(d);
    return n;
}

/* Same tensor names and shapes in both files; every tensor of `b` has dtype `dt`. */
static void same_tensors(const char *a_path, const char *b_path, trdi_st_dtype dt) {
    trdi_safetensors *a = NULL, *b = NULL;
    CHECK_MSG(trdi_safetensors_open(a_path, &a) == TRDI_OK, "%s", trdi_last_error());
    CHECK_MSG(trdi_safetensors_open(b_path, &b) == TRDI_OK, "%s", trdi_last_error());
    if (!a || !b) goto out;
    CHECK_MSG(trdi_safetensors_count(a) == trdi_safetensors_count(b), "%s: %lld tensors, %s: %lld",
              a_path, (long long)trdi_safetensors_count(a), b_path,
              (long long)trdi_safetensors_count(b));
    int bad = 0;
    for (int64_t i = 0; i < trdi_safetensors_count(a); i++) {
        const trdi_st_tensor *ta = trdi_safetensors_at(a, i);
        const trdi_st_tensor *tb = trdi_safetensors_lookup(b, ta->name);
        bool ok = tb && tb->ndim == ta->ndim && tb->dtype == dt &&
                  !memcmp(tb->shape, ta->shape, sizeof ta->shape);
        if (!ok && bad++ < 5) fprintf(stderr, "  %s: %s differs\n", b_path, ta->name);
    }
    CHECK_MSG(bad == 0, "%d tensors of %s missing or of another shape / dtype", bad, b_path);
out:
    trdi_safetensors_close(a);
    trdi_safetensors_close(b);
}

/* Every key of the reference config has the same value in the generated one. */
static void same_config(const char *ref_path, const char *got_path) {
    trdi_json *r = NULL, *g = NULL;
    CHECK_MSG(trdi_json_load(ref_path, &r) == TRDI_OK, "%s", trdi_last_error());
    CHECK_MSG(trdi_json_load(got_path, &g) == TRDI_OK, "%s", trdi_last_error());
    if (!r || !g) goto out;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, trdi_json_root(r)) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(trdi_json_root(g), kv->string);
        CHECK_MSG(v && cJSON_Compare(kv, v, true), "%s: key \"%s\" differs from %s", got_path,
                  kv->string, ref_path);
    }
out:
    trdi_json_free(r);
    trdi_json_free(g);
}

static bool same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = false;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static trdi_mkmodel_params tiny_params(void) {
    trdi_mkmodel_params p = trdi_mkmodel_default_params();
    p.tokenizer_from = TINY "/tokenizer";
    return p;
}

static void test_tiny_matches(void) {
    static const char *const files[][2] = {
        {"text_encoder/model", "text_encoder/config.json"},
        {"unet/diffusion_pytorch_model", "unet/config.json"},
        {"vae/diffusion_pytorch_model", "vae/config.json"}};
    for (int f16 = 0; f16 < 2; f16++) {
        char out[400], a[600], b[600];
        snprintf(out, sizeof out, "%s/tiny%d", root, f16);
        trdi_mkmodel_params p = tiny_params();
        p.dtype = f16 ? TRDI_ST_F16 : TRDI_ST_F32;
        p.seed = 3;
        CHECK_MSG(trdi_mkmodel(out, &p) == TRDI_OK, "%s", trdi_last_error());
        for (int k = 0; k < 3; k++) {
            const char *v = f16 ? ".fp16" : "";
            snprintf(a, sizeof a, "%s/%s%s.safetensors", TINY, files[k][0], v);
            snprintf(b, sizeof b, "%s/%s%s.safetensors", out, files[k][0], v);
            same_tensors(a, b, p.dtype);
            snprintf(a, sizeof a, "%s/%s", TINY, files[k][1]);
            snprintf(b, sizeof b, "%s/%s", out, files[k][1]);
            same_config(a, b);
        }
        snprintf(a, sizeof a, "%s/scheduler/scheduler_config.json", TINY);
        snprintf(b, sizeof b, "%s/scheduler/scheduler_config.json", out);
        same_config(a, b);
        snprintf(a, sizeof a, "%s/model_index.json", TINY);
        snprintf(b, sizeof b, "%s/model_index.json", out);
        same_config(a, b);
        snprintf(a, sizeof a, "%s/tokenizer/vocab.json", TINY);
        snprintf(b, sizeof b, "%s/tokenizer/vocab.json", out);
        CHECK(same_file(a, b));
        /* The folder opens and its configs read back through the diffusers API. */
        trdi_diffusers *d = NULL;
        CHECK_MSG(trdi_diffusers_open(out, f16 ? TRDI_VARIANT_FP16 : TRDI_VARIANT_FP32, &d) ==
                      TRDI_OK,
                  "%s", trdi_last_error());
        if (d) {
            int64_t ss = 0, hid = 0;
            const char *pred = NULL;
            CHECK(trdi_diffusers_config_int(d, "unet", "sample_size", &ss) == TRDI_OK && ss == 8);
            CHECK(trdi_diffusers_config_int(d, "text_encoder", "hidden_size", &hid) == TRDI_OK &&
                  hid == 32);
            CHECK(trdi_diffusers_config_string(d, "scheduler", "prediction_type", &pred) ==
                      TRDI_OK &&
                  pred && !strcmp(pred, "epsilon"));
            const char *wp = NULL;
            trdi_weights_variant ch;
            CHECK(trdi_diffusers_weights_path(d, "unet", &wp, &ch) == TRDI_OK &&
                  ch == (f16 ? TRDI_VARIANT_FP16 : TRDI_VARIANT_FP32));
            trdi_diffusers_free(d);
        }
    }
    char a[600], b[600];
    /* Weights are really random: not all equal, and norm scales near 1. */
    trdi_safetensors *s = NULL;
    snprintf(a, sizeof a, "%s/tiny0/unet/diffusion_pytorch_model.safetensors", root);
    CHECK(trdi_safetensors_open(a, &s) == TRDI_OK);
    if (s) {
        float w[16], g[16];
        float *cw = NULL;
        int64_t n = 0;
        CHECK(trdi_safetensors_load_f32(s, "conv_in.weight", &cw, &n) == TRDI_OK && n == 576);
        if (cw) memcpy(w, cw, sizeof w);
        free(cw);
        CHECK(w[0] != w[1] && w[1] != w[2]);
        CHECK(trdi_safetensors_read_f32(s, "conv_norm_out.weight", g, 16) == TRDI_OK);
        /* 1 + N(0, 0.1^2): a draw outside 1 +- 0.6 (6 sigma) has probability ~2e-9 */
        for (int i = 0; i < 16; i++) CHECK(g[i] > 0.4f && g[i] < 1.6f);
        trdi_safetensors_close(s);
    }
    /* The fp16 file holds the fp32 file's values rounded to half (same seed and streams). */
    trdi_safetensors *s16 = NULL;
    snprintf(a, sizeof a, "%s/tiny0/vae/diffusion_pytorch_model.safetensors", root);
    snprintf(b, sizeof b, "%s/tiny1/vae/diffusion_pytorch_model.fp16.safetensors", root);
    CHECK(trdi_safetensors_open(a, &s) == TRDI_OK && trdi_safetensors_open(b, &s16) == TRDI_OK);
    if (s && s16) {
        const trdi_st_tensor *t32 = trdi_safetensors_lookup(s, "decoder.conv_out.weight");
        const trdi_st_tensor *t16 = trdi_safetensors_lookup(s16, "decoder.conv_out.weight");
        CHECK(t32 && t16 && t32->numel == t16->numel);
        int bad = 0;
        for (int64_t i = 0; t32 && t16 && i < t32->numel; i++) {
            float f;
            uint16_t h;
            memcpy(&f, (const char *)t32->data + 4 * i, 4);
            memcpy(&h, (const char *)t16->data + 2 * i, 2);
            bad += trdi_f32_to_f16(f) != h;
        }
        CHECK_MSG(bad == 0, "%d fp16 values are not the fp32 ones rounded", bad);
    }
    trdi_safetensors_close(s);
    trdi_safetensors_close(s16);
}

static void test_determinism(void) {
    char a[400], b[400], c[400], fa[600], fb[600];
    snprintf(a, sizeof a, "%s/seed7a", root);
    snprintf(b, sizeof b, "%s/seed7b", root);
    snprintf(c, sizeof c, "%s/seed8", root);
    trdi_mkmodel_params p = tiny_params();
    p.seed = 7;
    CHECK(trdi_mkmodel(a, &p) == TRDI_OK);
    CHECK(trdi_mkmodel(b, &p) == TRDI_OK);
    p.seed = 8;
    CHECK(trdi_mkmodel(c, &p) == TRDI_OK);
    static const char *const w[] = {"text_encoder/model.safetensors",
                                    "unet/diffusion_pytorch_model.safetensors",
                                    "vae/diffusion_pytorch_model.safetensors"};
    for (int k = 0; k < 3; k++) {
        snprintf(fa, sizeof fa, "%s/%s", a, w[k]);
        snprintf(fb, sizeof fb, "%s/%s", b, w[k]);
        CHECK_MSG(same_file(fa, fb), "%s: same seed, different bytes", w[k]);
        snprintf(fb, sizeof fb, "%s/%s", c, w[k]);
        CHECK_MSG(!same_file(fa, fb), "%s: seeds 7 and 8 give the same bytes", w[k]);
    }
    /* overwrite replaces; without it an existing folder is an error and stays as it was */
    CHECK(trdi_mkmodel(c, &p) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "exists") != NULL);
    p.seed = 7;
    p.overwrite = true;
    CHECK_MSG(trdi_mkmodel(c, &p) == TRDI_OK, "%s", trdi_last_error());
    snprintf(fa, sizeof fa, "%s/%s", a, w[1]);
    snprintf(fb, sizeof fb, "%s/%s", c, w[1]);
    CHECK(same_file(fa, fb));
    CHECK(count_prefix("seed8.") == 0); /* no temporaries left */
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* trdi_mkmodel fails with `want`, its message contains `needle`, nothing is left at out. */
static void expect_fail(const trdi_mkmodel_params *p, const char *name, trdi_status want,
                        const char *needle) {
    char out[400];
    snprintf(out, sizeof out, "%s/%s", root, name);
    trdi_status st = trdi_mkmodel(out, p);
    CHECK_MSG(st == want, "%s: status %d, expected %d (%s)", name, (int)st, (int)want,
              trdi_last_error());
    CHECK_MSG(strstr(trdi_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", name,
              trdi_last_error(), needle);
    CHECK_MSG(!exists(out), "%s: left a folder behind", name);
    CHECK(count_prefix(name) == 0);
}

static void test_errors_and_overrides(void) {
    trdi_mkmodel_params p = tiny_params();
    p.preset = "sd99";
    expect_fail(&p, "bad_preset", TRDI_ERR_INVALID_ARG, "sd99");
    p = tiny_params();
    p.tokenizer_from = NULL;
    expect_fail(&p, "no_tok", TRDI_ERR_INVALID_ARG, "tokenizer");
    p = tiny_params();
    p.tokenizer_from = TINY "/unet";
    expect_fail(&p, "bad_tok", TRDI_ERR_INVALID_ARG, "vocab.json");
    p = tiny_params();
    p.dtype = TRDI_ST_BF16;
    expect_fail(&p, "bad_dtype", TRDI_ERR_INVALID_ARG, "BF16");

    char ov[400];
    snprintf(ov, sizeof ov, "%s/ov.json", root);
    p = tiny_params();
    p.config_json = ov;
    write_text(ov, "{\"unett\": {\"sample_size\": 16}}");
    expect_fail(&p, "ov_comp", TRDI_ERR_INVALID_ARG, "unett");
    write_text(ov, "{\"unet\": {\"block_out_channels\": [16, 32, 32]}}");
    expect_fail(&p, "ov_len", TRDI_ERR_INVALID_ARG, "block_out_channels");
    write_text(ov, "{\"unet\": {\"block_out_channels\": [12, 32, 32, 32]}}");
    expect_fail(&p, "ov_groups", TRDI_ERR_INVALID_ARG, "norm_num_groups");
    write_text(ov, "{\"unet\": {\"class_embed_type\": \"timestep\"}}");
    expect_fail(&p, "ov_class", TRDI_ERR_UNSUPPORTED, "class_embed_type");
    write_text(ov, "{\"vae\": {\"up_block_types\": [\"UpBlock2D\", \"UpDecoderBlock2D\", "
                   "\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]}}");
    expect_fail(&p, "ov_vae", TRDI_ERR_UNSUPPORTED, "UpBlock2D");
    write_text(ov, "{\"text_encoder\": {\"hidden_size\": 30}}");
    expect_fail(&p, "ov_heads", TRDI_ERR_INVALID_ARG, "num_attention_heads");
    write_text(ov, "[1, 2]");
    expect_fail(&p, "ov_array", TRDI_ERR_FORMAT, "ov.json");
    write_text(ov, "{\"unet\": 5}");
    expect_fail(&p, "ov_notobj", TRDI_ERR_INVALID_ARG, "unet");

    /* A valid override: wider cross-attention and text encoder, SD 2-style linear projections. */
    write_text(ov, "{\"unet\": {\"cross_attention_dim\": 64, \"use_linear_projection\": true, "
                   "\"attention_head_dim\": [1, 2, 4, 4]}, \"text_encoder\": {\"hidden_size\": 64}, "
                   "\"scheduler\": {\"prediction_type\": \"v_prediction\"}}");
    char out[400], path[600];
    snprintf(out, sizeof out, "%s/ov_ok", root);
    CHECK_MSG(trdi_mkmodel(out, &p) == TRDI_OK, "%s", trdi_last_error());
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", out);
    trdi_safetensors *s = NULL;
    CHECK(trdi_safetensors_open(path, &s) == TRDI_OK);
    if (s) {
        const trdi_st_tensor *k =
            trdi_safetensors_lookup(s, "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight");
        CHECK(k && k->ndim == 2 && k->shape[0] == 16 && k->shape[1] == 64);
        const trdi_st_tensor *pi = trdi_safetensors_lookup(s, "mid_block.attentions.0.proj_in.weight");
        CHECK(pi && pi->ndim == 2); /* linear, not a 1x1 conv */
        trdi_safetensors_close(s);
    }
    trdi_diffusers *d = NULL;
    CHECK(trdi_diffusers_open(out, TRDI_VARIANT_AUTO, &d) == TRDI_OK);
    const char *pred = NULL;
    CHECK(d && trdi_diffusers_config_string(d, "scheduler", "prediction_type", &pred) == TRDI_OK &&
          !strcmp(pred, "v_prediction"));
    trdi_diffusers_free(d);

    /* like: the tiny folder's own configs and tokenizer give its tensors again */
    p = trdi_mkmodel_default_params();
    p.like = TINY;
    snprintf(out, sizeof out, "%s/like", root);
    CHECK_MSG(trdi_mkmodel(out, &p) == TRDI_OK, "%s", trdi_last_error());
    char a[600];
    snprintf(a, sizeof a, "%s/unet/diffusion_pytorch_model.safetensors", TINY);
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", out);
    same_tensors(a, path, TRDI_ST_F32);
}

/* The full-size presets: the tensor lists agree with the UNet / VAE loaders' (another derivation
 * of the same diffusers modules), and the parameter counts are printed for the report. */
static void test_full_presets(void) {
    static const char *const presets[] = {"sd15", "sd21"};
    for (int k = 0; k < 2; k++) {
        mk_configs c;
        CHECK(mk_preset_configs(presets[k], &c) == TRDI_OK);
        for (int comp = 0; comp < 3; comp++) {
            mk_list l = {0};
            const cJSON *cfg = comp == 0 ? c.unet : comp == 1 ? c.vae : c.text_encoder;
            trdi_status st = comp == 0   ? mk_unet_tensors(cfg, "unet", &l)
                             : comp == 1 ? mk_vae_tensors(cfg, "vae", &l)
                                         : mk_clip_tensors(cfg, "text_encoder", &l);
            CHECK_MSG(st == TRDI_OK, "%s: %s", presets[k], trdi_last_error());
            double params = 0;
            for (int64_t i = 0; i < l.n; i++) {
                double m = 1;
                for (int d = 0; d < l.t[i].ndim; d++) m *= (double)l.t[i].shape[d];
                params += m;
            }
            printf("%s %s: %lld tensors, %.0f parameters\n", presets[k],
                   comp == 0 ? "unet" : comp == 1 ? "vae" : "text_encoder", (long long)l.n, params);
            if (comp < 2) {
                char *text = cJSON_PrintUnformatted(cfg);
                trdi_json *j = NULL;
                sd_wl wl = {0};
                CHECK(text && trdi_json_parse(text, strlen(text), "cfg", &j) == TRDI_OK);
                st = comp == 0 ? sd_unet_list_weights(j, &wl) : sd_vae_list_weights(j, &wl);
                CHECK_MSG(st == TRDI_OK, "loader list: %s", trdi_last_error());
                CHECK_MSG(wl.n == l.n, "%s %d: loader lists %lld tensors, mkmodel %lld",
                          presets[k], comp, (long long)wl.n, (long long)l.n);
                int bad = 0;
                for (int64_t i = 0; i < wl.n; i++) {
                    bool found = false;
                    for (int64_t m = 0; m < l.n && !found; m++) {
                        if (strcmp(l.t[m].name, wl.specs[i].name)) continue;
                        found = l.t[m].ndim == wl.specs[i].ndim;
                        for (int d = 0; found && d < l.t[m].ndim; d++)
                            found = l.t[m].shape[d] == wl.specs[i].shape[d];
                    }
                    if (!found && bad++ < 5)
                        fprintf(stderr, "  %s: loader's %s not in mkmodel's list\n", presets[k],
                                wl.specs[i].name);
                }
                CHECK(bad == 0);
                sd_wl_free_specs(&wl);
                trdi_json_free(j);
                free(text);
            }
            mk_list_free(&l);
        }
        mk_configs_free(&c);
    }
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/trdi-test-mkmodel-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_tiny_matches();
    test_determinism();
    test_errors_and_overrides();
    test_full_presets();
    rm_rf(root);
    return TEST_SUMMARY();
}
