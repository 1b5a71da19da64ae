/* test_sd_model_errors.c -- random-weight folders from trdi_mkmodel (preset tiny, and tiny plus
 * SD 2.x config overrides) and the Stable Diffusion loaders' errors: a tiny random folder loads as a trdi_model and runs encode -> DDIM inversion ->
 * CFG sampling -> decode end to end (finite, right shapes, deterministic); a missing tensor, a
 * mis-shaped tensor, an unsupported block type, an SDXL-style config and an odd image size each
 * fail with a message naming the culprit. */
#include "harness.h"
#include "testutil.h"
#include "model/sd_model.h"
#include "trdi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOK TRDI_TEST_DATA "/sd15-tiny/model/tokenizer"

/* SD 2.x wiring at tiny widths (linear projections, per-block heads, upcast attention, gelu text
 * encoder, v-prediction): trdi_mkmodel's config overrides on top of preset tiny. */
static const char SD2X_OVERRIDES[] =
    "{\"unet\": {\"attention_head_dim\": [1, 2, 2, 4], \"use_linear_projection\": true,\n"
    "          \"upcast_attention\": true},\n"
    " \"text_encoder\": {\"hidden_act\": \"gelu\"},\n"
    " \"scheduler\": {\"prediction_type\": \"v_prediction\"}}\n";

static void rm_rf(const char *path) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", path);
}

static void spit(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Rewrites the unet weights of `dir` without tensor `drop` and with `reshape` given shape [1]. */
static int rewrite_unet(const char *dir, const char *drop, const char *reshape) {
    char path[1024], out[1100];
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    snprintf(out, sizeof out, "%s.new", path);
    trdi_safetensors *f = NULL;
    if (trdi_safetensors_open(path, &f) != TRDI_OK) return 0;
    int64_t n = trdi_safetensors_count(f);
    trdi_st_write_entry *e = calloc((size_t)n, sizeof *e);
    static const int64_t one[1] = {1};
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        const trdi_st_tensor *t = trdi_safetensors_at(f, i);
        if (drop && !strcmp(t->name, drop)) continue;
        e[k].name = t->name;
        e[k].dtype = t->dtype;
        e[k].ndim = t->ndim;
        e[k].shape = t->shape;
        e[k].data = t->data;
        if (reshape && !strcmp(t->name, reshape)) {
            e[k].ndim = 1;
            e[k].shape = one;
        }
        k++;
    }
    int ok = trdi_safetensors_write(out, e, k, NULL) == TRDI_OK;
    free(e);
    trdi_safetensors_close(f);
    return ok && rename(out, path) == 0;
}

int main(void) {
    char root[] = "/tmp/trdi-test-sdmk-XXXXXX";
    if (!mkdtemp(root)) {
        CHECK_MSG(0, "mkdtemp %s", root);
        return TEST_SUMMARY();
    }
    char dir[300];
    snprintf(dir, sizeof dir, "%s/tiny", root);
    trdi_mkmodel_params o = trdi_mkmodel_default_params();
    o.preset = "tiny";
    o.seed = 7;
    o.dtype = TRDI_ST_F32;
    o.tokenizer_from = TOK;
    trdi_status st = trdi_mkmodel(dir, &o);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    o.preset = "sdxl";
    o.overwrite = true;
    CHECK(trdi_mkmodel(dir, &o) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "sdxl") != NULL);

    /* end to end on the random folder, 64x48 (non-square) */
    trdi_model_params mp = trdi_model_default_params();
    mp.width = 64;
    mp.height = 48;
    trdi_model *m = NULL;
    st = sd_model_load(dir, &mp, &m);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (m) {
        int64_t c, h, w;
        trdi_model_latent_shape(m, &c, &h, &w);
        CHECK(c == 4 && h == 6 && w == 8);
        trdi_image img = {0};
        CHECK(trdi_image_alloc(64, 48, 3, &img) == TRDI_OK);
        for (int64_t i = 0; i < 64 * 48 * 3; i++) img.data[i] = (uint8_t)((i * 37) % 251);
        float z0[4 * 6 * 8], zT[4 * 6 * 8], back[4 * 6 * 8], back2[4 * 6 * 8];
        CHECK(trdi_model_encode(m, &img, z0) == TRDI_OK);
        int64_t ts[3] = {667, 334, 1};
        trdi_plan plan;
        CHECK(trdi_plan_build(trdi_model_noise_schedule(m), ts, 3, TRDI_STEPPING_REFERENCE,
                              &plan) == TRDI_OK);
        const void *cond = NULL, *unc = NULL;
        CHECK(trdi_model_condition(m, "a cat", &cond) == TRDI_OK);
        CHECK(trdi_model_condition(m, NULL, &unc) == TRDI_OK);
        trdi_denoiser den;
        CHECK(trdi_model_denoiser(m, &den) == TRDI_OK);
        trdi_guide g = trdi_guide_init(&den, cond, unc, 3.0f);
        trdi_method_params p = trdi_method_default_params(TRDI_METHOD_DDIM);
        CHECK(trdi_invert(&p, &plan, &g, z0, zT, NULL) == TRDI_OK);
        CHECK(trdi_sample(&p, &plan, &g, zT, NULL, back) == TRDI_OK);
        CHECK(trdi_sample(&p, &plan, &g, zT, NULL, back2) == TRDI_OK);
        CHECK(memcmp(back, back2, sizeof back) == 0); /* deterministic */
        bool finite = true;
        for (int i = 0; i < 4 * 6 * 8; i++) finite = finite && isfinite(back[i]) && isfinite(zT[i]);
        CHECK(finite);
        trdi_image out = {0};
        CHECK(trdi_model_decode(m, back, &out) == TRDI_OK);
        CHECK(out.width == 64 && out.height == 48 && out.channels == 3);
        trdi_image_clear(&out);
        /* NaN latent: a clear error */
        back[3] = NAN;
        CHECK(trdi_model_decode(m, back, &out) == TRDI_ERR_NUMERIC);
        trdi_image_clear(&out);
        trdi_image_clear(&img);
        trdi_guide_clear(&g);
        trdi_plan_clear(&plan);
        trdi_model_free(m);
    }
    /* SD 2.x options (linear projections, per-block heads, gelu text encoder, v-prediction) */
    {
        char dir21[300], over[300];
        snprintf(dir21, sizeof dir21, "%s/tiny21", root);
        snprintf(over, sizeof over, "%s/sd2x.json", root);
        spit(over, SD2X_OVERRIDES);
        trdi_mkmodel_params o21 = trdi_mkmodel_default_params();
        o21.preset = "tiny";
        o21.config_json = over;
        o21.seed = 8;
        o21.dtype = TRDI_ST_F16;
        o21.tokenizer_from = TOK;
        st = trdi_mkmodel(dir21, &o21);
        CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
        trdi_model *m21 = NULL;
        st = sd_model_load(dir21, NULL, &m21);
        CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
        if (m21) {
            const trdi_unet_config *uc = trdi_unet_get_config(sd_model_unet(m21));
            CHECK(uc->linear_proj && uc->heads[0] == 1 && uc->heads[3] == 4);
            CHECK(trdi_noise_schedule_config(trdi_model_noise_schedule(m21))->prediction_type ==
                  TRDI_PRED_V);
            const void *c21 = NULL;
            CHECK(trdi_model_condition(m21, "a dog!", &c21) == TRDI_OK);
            trdi_denoiser d21;
            CHECK(trdi_model_denoiser(m21, &d21) == TRDI_OK);
            float x[2 * 4 * 8 * 8], e2[2 * 4 * 8 * 8], e1[4 * 8 * 8];
            for (int i = 0; i < 2 * 4 * 8 * 8; i++) x[i] = (float)((i * 7) % 13) / 6.0f - 1.0f;
            memcpy(x + 4 * 8 * 8, x, sizeof e1);
            const void *cs[2] = {NULL, c21};
            CHECK(d21.predict(d21.ctx, 2, x, 501, cs, e2) == TRDI_OK);
            CHECK(d21.predict(d21.ctx, 1, x, 501, cs + 1, e1) == TRDI_OK);
            /* batch item 1 equals the single call (float32, same kernels: tiny slack for BLAS
             * blocking that may depend on the batch size) */
            double md = 0;
            for (int i = 0; i < 4 * 8 * 8; i++) md = fmax(md, fabs(e2[4 * 8 * 8 + i] - e1[i]));
            CHECK_MSG(md < 1e-4, "batch vs single: %g", md);
            bool fin = true;
            for (int i = 0; i < 2 * 4 * 8 * 8; i++) fin = fin && isfinite(e2[i]);
            CHECK(fin);
            trdi_model_free(m21);
        }
        rm_rf(dir21);
    }
    m = NULL;
    mp.width = 60;
    CHECK(sd_model_load(dir, &mp, &m) == TRDI_ERR_INVALID_ARG && !m);

    /* a mis-shaped and a missing tensor: both named */
    CHECK(rewrite_unet(dir, "mid_block.resnets.1.conv2.bias", "conv_out.weight"));
    trdi_diffusers *dm = NULL;
    CHECK(trdi_diffusers_open(dir, TRDI_VARIANT_AUTO, &dm) == TRDI_OK);
    trdi_unet *u = NULL;
    st = trdi_unet_load(dm, "unet", &u);
    CHECK(st == TRDI_ERR_FORMAT && u == NULL);
    CHECK_MSG(strstr(trdi_last_error(), "mid_block.resnets.1.conv2.bias") != NULL, "%s",
              trdi_last_error());
    CHECK_MSG(strstr(trdi_last_error(), "conv_out.weight") != NULL, "%s", trdi_last_error());
    trdi_diffusers_free(dm);

    /* unsupported configs */
    char cpath[1024];
    snprintf(cpath, sizeof cpath, "%s/unet/config.json", dir);
    size_t len = 0;
    char *cfg = test_read_file(cpath, &len);
    CHECK(cfg != NULL);
    if (cfg) {
        char *alt = malloc(len + 200);
        char *pos = strstr(cfg, "\"UpBlock2D\"");
        CHECK(pos != NULL);
        if (pos) {
            snprintf(alt, len + 200, "%.*s\"AttnUpBlock2D\"%s", (int)(pos - cfg), cfg,
                     pos + strlen("\"UpBlock2D\""));
            spit(cpath, alt);
            dm = NULL;
            CHECK(trdi_diffusers_open(dir, TRDI_VARIANT_AUTO, &dm) == TRDI_OK);
            CHECK(trdi_unet_load(dm, "unet", &u) == TRDI_ERR_UNSUPPORTED && !u);
            CHECK(strstr(trdi_last_error(), "AttnUpBlock2D") != NULL);
            trdi_diffusers_free(dm);
        }
        /* SDXL's added embedding */
        snprintf(alt, len + 200, "{\"addition_embed_type\": \"text_time\", %s", cfg + 1);
        spit(cpath, alt);
        dm = NULL;
        CHECK(trdi_diffusers_open(dir, TRDI_VARIANT_AUTO, &dm) == TRDI_OK);
        CHECK(trdi_unet_load(dm, "unet", &u) == TRDI_ERR_UNSUPPORTED && !u);
        CHECK(strstr(trdi_last_error(), "addition_embed_type") != NULL);
        trdi_diffusers_free(dm);
        /* heads that do not divide the channels */
        char *h = strstr(cfg, "\"attention_head_dim\":");
        if (h) h += strlen("\"attention_head_dim\":");
        while (h && (*h == ' ' || *h == '\t')) h++;
        CHECK(h != NULL && *h == '2');
        if (h && *h == '2') {
            *h = '3';
            spit(cpath, cfg);
            dm = NULL;
            CHECK(trdi_diffusers_open(dir, TRDI_VARIANT_AUTO, &dm) == TRDI_OK);
            CHECK(trdi_unet_load(dm, "unet", &u) == TRDI_ERR_FORMAT && !u);
            CHECK(strstr(trdi_last_error(), "heads") != NULL);
            trdi_diffusers_free(dm);
        }
        free(alt);
        free(cfg);
    }
    rm_rf(root);
    return TEST_SUMMARY();
}
