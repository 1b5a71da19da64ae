/* test_diffusers_load.c -- the tiny SD 1.5 diffusers folder of tests/data: components and configs,
 * weights-file choice (fp32 preferred, fp16 fallback, fp16 on request), the fp16 variant equal to
 * the fp32 weights rounded to half (as sd15-tiny/fp16_variant.json's weight_checks record), the
 * expected-tensor check, and clear errors for broken folders. */
#include "harness.h"
#include "io/diffusers.h"
#include "io/json_config.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODEL TRDI_TEST_DATA "/sd15-tiny/model"

static bool ends_with(const char *s, const char *suffix) {
    size_t a = s ? strlen(s) : 0, b = strlen(suffix);
    return s && a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_components(void) {
    trdi_diffusers *m = NULL;
    trdi_status st = trdi_diffusers_open(MODEL, TRDI_VARIANT_AUTO, &m);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (!m) return;
    /* the pipeline class and the component list come from model_index.json */
    trdi_json *idx = NULL;
    CHECK(trdi_json_load(MODEL "/model_index.json", &idx) == TRDI_OK);
    const char *cls = NULL;
    CHECK(trdi_json_string(idx, NULL, "_class_name", &cls) == TRDI_OK);
    CHECK(cls && strcmp(trdi_diffusers_class(m), cls) == 0);
    int64_t listed = 0;
    for (const cJSON *it = trdi_json_root(idx)->child; it; it = it->next) {
        if (!cJSON_IsArray(it) || cJSON_IsNull(cJSON_GetArrayItem(it, 0))) {
            CHECK_MSG(!trdi_diffusers_has(m, it->string), "%s should be absent", it->string);
            continue;
        }
        listed++;
        const char *lib = NULL;
        const char *c = trdi_diffusers_component_class(m, it->string, &lib);
        CHECK_MSG(c && !strcmp(c, cJSON_GetArrayItem(it, 1)->valuestring), "%s class", it->string);
        CHECK(lib && !strcmp(lib, cJSON_GetArrayItem(it, 0)->valuestring));
    }
    CHECK(trdi_diffusers_component_count(m) == listed);
    CHECK(trdi_diffusers_component_name(m, listed) == NULL);
    trdi_json_free(idx);

    /* weights: fp32 files preferred */
    const char *p = NULL;
    trdi_weights_variant v = TRDI_VARIANT_AUTO;
    CHECK(trdi_diffusers_weights_path(m, "unet", &p, &v) == TRDI_OK);
    CHECK(ends_with(p, "unet/diffusion_pytorch_model.safetensors") && v == TRDI_VARIANT_FP32);
    CHECK(trdi_diffusers_weights_path(m, "text_encoder", &p, &v) == TRDI_OK);
    CHECK(ends_with(p, "text_encoder/model.safetensors") && v == TRDI_VARIANT_FP32);
    CHECK(trdi_diffusers_weights_path(m, "tokenizer", &p, &v) == TRDI_ERR_INVALID_ARG && !p);
    CHECK(strstr(trdi_last_error(), "tokenizer") != NULL);
    CHECK(trdi_diffusers_weights_path(m, "safety_checker", &p, &v) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "safety_checker") != NULL);
    CHECK(trdi_diffusers_component_dir(m, "tokenizer", &p) == TRDI_OK &&
          ends_with(p, "/tokenizer"));

    /* configs: values agree with the weights (the embedding table is [vocab_size, hidden_size]) */
    int64_t vocab = 0, hidden = 0;
    CHECK(trdi_diffusers_config_int(m, "text_encoder", "vocab_size", &vocab) == TRDI_OK);
    CHECK(trdi_diffusers_config_int(m, "text_encoder", "hidden_size", &hidden) == TRDI_OK);
    trdi_safetensors *w = NULL;
    CHECK(trdi_diffusers_open_weights(m, "text_encoder", &w) == TRDI_OK);
    const trdi_st_tensor *emb =
        trdi_safetensors_lookup(w, "text_model.embeddings.token_embedding.weight");
    CHECK(emb && emb->ndim == 2 && emb->shape[0] == vocab && emb->shape[1] == hidden);
    trdi_safetensors_close(w);
    const char *s = NULL;
    CHECK(trdi_diffusers_config_string(m, "scheduler", "_class_name", &s) == TRDI_OK && s &&
          !strcmp(s, trdi_diffusers_component_class(m, "scheduler", NULL)));
    bool b;
    CHECK(trdi_diffusers_config_bool(m, NULL, "requires_safety_checker", &b) == TRDI_OK);
    double d;
    CHECK(trdi_diffusers_config_double(m, "scheduler", "beta_start", &d) == TRDI_OK && d > 0);
    /* errors name the config file and the key */
    CHECK(trdi_diffusers_config_int(m, "text_encoder", "no_such_key", &vocab) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "text_encoder/config.json") &&
          strstr(trdi_last_error(), "no_such_key") && strstr(trdi_last_error(), "missing"));
    CHECK(trdi_diffusers_config_int(m, "text_encoder", "hidden_act", &vocab) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "hidden_act") && strstr(trdi_last_error(), "string"));
    CHECK(trdi_diffusers_config_int(m, "scheduler", "trained_betas", &vocab) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "trained_betas") != NULL); /* null counts as missing */
    CHECK(trdi_diffusers_config_int(m, "nonexistent", "x", &vocab) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "nonexistent") != NULL);
    const trdi_json *cj = NULL;
    CHECK(trdi_diffusers_config_json(m, "unet", &cj) == TRDI_OK && cj);
    int64_t boc[8];
    int nb = 0;
    CHECK(trdi_json_int_array(cj, NULL, "block_out_channels", 1, 1 << 20, boc, 8, &nb) == TRDI_OK);
    trdi_diffusers_free(m);
}

/* The fp16 variant: same names and shapes, all F16, values = the fp32 weights rounded to half. */
static void test_fp16_variant(void) {
    trdi_diffusers *m32 = NULL, *m16 = NULL;
    CHECK(trdi_diffusers_open(MODEL, TRDI_VARIANT_FP32, &m32) == TRDI_OK);
    trdi_status st = trdi_diffusers_open(MODEL, TRDI_VARIANT_FP16, &m16);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    trdi_json *ref = NULL;
    st = trdi_json_load(TRDI_TEST_DATA "/sd15-tiny/fp16_variant.json", &ref);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (!m32 || !m16 || !ref) goto out;
    const cJSON *checks = NULL;
    CHECK(trdi_json_object(ref, NULL, "weight_checks", &checks) == TRDI_OK);
    const char *comps[] = {"unet", "vae", "text_encoder"};
    for (int c = 0; c < 3; c++) {
        const char *p16 = NULL;
        trdi_weights_variant v = TRDI_VARIANT_AUTO;
        CHECK(trdi_diffusers_weights_path(m16, comps[c], &p16, &v) == TRDI_OK);
        CHECK(v == TRDI_VARIANT_FP16 && ends_with(p16, ".fp16.safetensors"));
        trdi_safetensors *a = NULL, *h = NULL;
        CHECK(trdi_diffusers_open_weights(m32, comps[c], &a) == TRDI_OK);
        CHECK(trdi_diffusers_open_weights(m16, comps[c], &h) == TRDI_OK);
        if (!a || !h) {
            trdi_safetensors_close(a);
            trdi_safetensors_close(h);
            continue;
        }
        const cJSON *rc = NULL;
        int64_t n_params = -1;
        bool all16 = false, rounded = false;
        CHECK(trdi_json_object(ref, checks, comps[c], &rc) == TRDI_OK);
        CHECK(trdi_json_int(ref, rc, "n_params", 0, 1 << 30, &n_params) == TRDI_OK);
        CHECK(trdi_json_bool(ref, rc, "all_float16", &all16) == TRDI_OK && all16);
        CHECK(trdi_json_bool(ref, rc, "equal_to_fp32_weights_rounded", &rounded) == TRDI_OK &&
              rounded);
        CHECK_MSG(trdi_safetensors_count(h) == n_params, "%s: %lld tensors, reference %lld",
                  comps[c], (long long)trdi_safetensors_count(h), (long long)n_params);
        CHECK(trdi_safetensors_count(a) == trdi_safetensors_count(h));
        int64_t not16 = 0, bad_shape = 0, bad_value = 0, missing = 0, values = 0;
        /* the expected-tensor list of the fp32 file (names and shapes) must pass on the fp16 file
         */
        int64_t n = trdi_safetensors_count(a);
        trdi_st_spec *spec = calloc((size_t)n, sizeof *spec);
        for (int64_t i = 0; i < n; i++) {
            const trdi_st_tensor *ta = trdi_safetensors_at(a, i);
            spec[i].name = ta->name;
            spec[i].ndim = ta->ndim;
            memcpy(spec[i].shape, ta->shape, sizeof spec[i].shape);
            const trdi_st_tensor *th = trdi_safetensors_lookup(h, ta->name);
            if (!th) {
                missing++;
                continue;
            }
            not16 += th->dtype != TRDI_ST_F16 || ta->dtype != TRDI_ST_F32;
            bad_shape += th->ndim != ta->ndim || memcmp(th->shape, ta->shape, sizeof ta->shape);
            float *x = NULL, *y = NULL;
            int64_t nx = 0, ny = 0;
            CHECK(trdi_safetensors_load_f32(a, ta->name, &x, &nx) == TRDI_OK);
            CHECK(trdi_safetensors_load_f32(h, ta->name, &y, &ny) == TRDI_OK);
            if (x && y && nx == ny) {
                /* exact: a half value converted to float32 is exact, so the fp16 file read as
                 * float32 must equal the fp32 weight rounded to half (nearest even) bit for bit */
                for (int64_t k = 0; k < nx; k++) {
                    float want = trdi_f16_to_f32(trdi_f32_to_f16(x[k]));
                    bad_value += memcmp(&want, &y[k], sizeof want) != 0;
                }
                values += nx;
            }
            free(x);
            free(y);
        }
        CHECK_MSG(missing == 0 && not16 == 0 && bad_shape == 0,
                  "%s: %lld missing, %lld wrong dtype, %lld wrong shape", comps[c],
                  (long long)missing, (long long)not16, (long long)bad_shape);
        CHECK_MSG(bad_value == 0 && values > 0, "%s: %lld of %lld values differ", comps[c],
                  (long long)bad_value, (long long)values);
        char *report = NULL;
        st = trdi_diffusers_check_weights(m16, comps[c], spec, n, false, &report);
        CHECK_MSG(st == TRDI_OK && report == NULL, "%s: %s", comps[c], trdi_last_error());
        free(report);
        /* a wrong list: one tensor dropped (-> unexpected), one renamed (-> missing), one reshaped
         */
        if (n >= 3) {
            trdi_st_spec keep1 = spec[1], keep2 = spec[2];
            spec[1].name = "no.such.tensor";
            spec[2].shape[0] += 1;
            st = trdi_safetensors_check(h, spec + 1, n - 1, false, &report);
            const char *msg = trdi_last_error();
            CHECK(st == TRDI_ERR_FORMAT);
            CHECK_MSG(strstr(msg, "1 missing, 1 mismatched, 2 unexpected") &&
                          strstr(msg, "missing no.such.tensor") && strstr(msg, keep2.name) &&
                          strstr(msg, "expected"),
                      "%s", msg);
            CHECK(report && strstr(report, keep1.name) && strstr(report, spec[0].name) &&
                  strstr(report, "unexpected"));
            free(report);
            /* allow_unexpected: only the missing and reshaped ones */
            st = trdi_safetensors_check(h, spec + 1, n - 1, true, &report);
            CHECK(st == TRDI_ERR_FORMAT &&
                  strstr(trdi_last_error(), "1 missing, 1 mismatched, 0 unexpected"));
            free(report);
            spec[1] = keep1;
            spec[2] = keep2;
        }
        free(spec);
        trdi_safetensors_close(a);
        trdi_safetensors_close(h);
    }
out:
    trdi_json_free(ref);
    trdi_diffusers_free(m32);
    trdi_diffusers_free(m16);
}

static char tmp[] = "/tmp/trdi-dfs-XXXXXX";

static void put(const char *rel, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    FILE *fp = fopen(p, "wb");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

static void link_to(const char *rel, const char *target) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    CHECK_MSG(symlink(target, p) == 0, "symlink %s", p);
}

static void rm(const char *rel) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    unlink(p);
}

/* A folder whose unet has only the fp16 file, and broken folders. */
static void test_fallback_and_errors(void) {
    if (!mkdtemp(tmp)) {
        CHECK_MSG(0, "mkdtemp");
        return;
    }
    char p[600];
    link_to("model_index.json", MODEL "/model_index.json");
    link_to("scheduler", MODEL "/scheduler");
    link_to("text_encoder", MODEL "/text_encoder");
    link_to("tokenizer", MODEL "/tokenizer");
    link_to("vae", MODEL "/vae");
    snprintf(p, sizeof p, "%s/unet", tmp);
    mkdir(p, 0755);
    link_to("unet/config.json", MODEL "/unet/config.json");
    link_to("unet/diffusion_pytorch_model.fp16.safetensors",
            MODEL "/unet/diffusion_pytorch_model.fp16.safetensors");
    trdi_diffusers *m = NULL;
    trdi_status st = trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    const char *w = NULL;
    trdi_weights_variant v = TRDI_VARIANT_AUTO;
    CHECK(trdi_diffusers_weights_path(m, "unet", &w, &v) == TRDI_OK && v == TRDI_VARIANT_FP16);
    CHECK(trdi_diffusers_weights_path(m, "vae", &w, &v) == TRDI_OK && v == TRDI_VARIANT_FP32);
    trdi_diffusers_free(m);
    /* fp32 on request: the unet has none; open succeeds, asking for the weights fails by name */
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_FP32, &m) == TRDI_OK);
    CHECK(trdi_diffusers_weights_path(m, "unet", &w, &v) == TRDI_ERR_IO && w == NULL);
    CHECK(strstr(trdi_last_error(), "unet") &&
          strstr(trdi_last_error(), "diffusion_pytorch_model.safetensors"));
    trdi_diffusers_free(m);
    /* only a pickle file: unsupported, said so */
    rm("unet/diffusion_pytorch_model.fp16.safetensors");
    put("unet/diffusion_pytorch_model.bin", "x");
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_OK);
    CHECK(trdi_diffusers_weights_path(m, "unet", &w, &v) == TRDI_ERR_UNSUPPORTED);
    CHECK(strstr(trdi_last_error(), ".bin") != NULL);
    trdi_diffusers_free(m);
    rm("unet/diffusion_pytorch_model.bin");
    put("unet/diffusion_pytorch_model.safetensors.index.json", "{}");
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_OK);
    CHECK(trdi_diffusers_weights_path(m, "unet", &w, &v) == TRDI_ERR_UNSUPPORTED);
    CHECK(strstr(trdi_last_error(), "sharded") != NULL);
    trdi_diffusers_free(m);
    rm("unet/diffusion_pytorch_model.safetensors.index.json");
    /* a broken unet config: the error names the file */
    rm("unet/config.json");
    put("unet/config.json", "{\"_class_name\": \"UNet2DConditionModel\",\n \"x\": [1,}");
    m = (trdi_diffusers *)&m;
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_ERR_FORMAT && m == NULL);
    CHECK(strstr(trdi_last_error(), "unet/config.json") && strstr(trdi_last_error(), "line 2"));
    /* a missing config */
    rm("unet/config.json");
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_ERR_IO);
    CHECK(strstr(trdi_last_error(), "unet/config.json") && strstr(trdi_last_error(), "missing"));
    /* model_index.json problems */
    rm("model_index.json");
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_ERR_IO);
    CHECK(strstr(trdi_last_error(), "model_index.json") != NULL);
    put("model_index.json", "{\"_class_name\": \"X\", \"unet\": [\"diffusers\"]}");
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "'unet'") && strstr(trdi_last_error(), "model_index.json"));
    rm("model_index.json");
    put("model_index.json", "{\"_class_name\": \"X\", \"../etc\": [\"diffusers\", \"Y\"]}");
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "../etc") != NULL);
    rm("model_index.json");
    put("model_index.json", "{\"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}");
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "_class_name") != NULL);
    rm("model_index.json");
    put("model_index.json", "{\"_class_name\": \"X\", \"text_encoder_2\": [\"transformers\", "
                            "\"CLIPTextModelWithProjection\"]}");
    CHECK(trdi_diffusers_open(tmp, TRDI_VARIANT_AUTO, &m) == TRDI_ERR_IO);
    CHECK(strstr(trdi_last_error(), "text_encoder_2") && strstr(trdi_last_error(), "no folder"));
    CHECK(trdi_diffusers_open("/nonexistent-model-dir", TRDI_VARIANT_AUTO, &m) == TRDI_ERR_IO);
    CHECK(trdi_diffusers_open(tmp, (trdi_weights_variant)7, &m) == TRDI_ERR_INVALID_ARG);
    /* clean up */
    rm("model_index.json");
    rm("scheduler");
    rm("text_encoder");
    rm("tokenizer");
    rm("vae");
    snprintf(p, sizeof p, "%s/unet", tmp);
    CHECK(rmdir(p) == 0);
    CHECK(rmdir(tmp) == 0);
}

static void test_variant_names(void) {
    for (int i = 0; i < 4; i++) {
        trdi_weights_variant v;
        CHECK(trdi_weights_variant_from_name(trdi_weights_variant_name((trdi_weights_variant)i),
                                             &v) == TRDI_OK &&
              (int)v == i);
    }
    trdi_weights_variant v;
    CHECK(trdi_weights_variant_from_name("fp8", &v) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "fp8") != NULL);
}

int main(void) {
    test_variant_names();
    test_components();
    test_fp16_variant();
    test_fallback_and_errors();
    return TEST_SUMMARY();
}
