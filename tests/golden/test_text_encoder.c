/* test_text_encoder.c -- the CLIP text encoder against transformers / diffusers outputs for the
 * tiny SD 1.5 model (tests/data/sd15-tiny/text_encoder.{safetensors,json}, copied from the shared
 * reference data): every hidden state, last_hidden_state, pooler_output, and encode_prompt's
 * prompt_embeds / negative_prompt_embeds / clip_skip=1 embeddings for the 3 recorded prompts, with
 * the fp32 weights and with the fp16 variant (fp16_variant.safetensors). Token ids come from the
 * JSON, so the tokenizer is not involved.
 *
 * Tolerance: our float32 result and torch's differ only in summation order (BLAS blocking, FMA,
 * double-accumulated layer-norm statistics). Each GEMM here has K <= 64, so its relative error is
 * at most gamma_64 ~ 4e-6 and typically ~sqrt(K) u ~ 5e-7; through 3 layers, where layer norm
 * divides by a row std of O(1), differences stay around 1e-6 of the tensor's magnitude (observed:
 * at most 5.3e-7 * max|want|, TRDI_TEST_VERBOSE=1 prints them). We allow
 * |got - want| <= 5e-6 * max|want| per tensor: ~10x the observed worst case, and far below the
 * O(1e-2) effect of any wrong operation (e.g. fp16 vs fp32 weights, checked below to be
 * distinguishable). */
#include "harness.h"
#include "testutil.h"
#include "trdi.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA TRDI_TEST_DATA "/sd15-tiny"
#define N_TOK 77

/* Reference tensor `name` as float32 (malloc'd), checking its element count. */
static float *ref_tensor(const trdi_safetensors *f, const char *name, int64_t numel) {
    const trdi_st_tensor *t = trdi_safetensors_lookup(f, name);
    CHECK_MSG(t != NULL, "reference tensor %s missing", name);
    if (!t) return NULL;
    CHECK_MSG(t->numel == numel, "%s: %lld elements, expected %lld", name, (long long)t->numel,
              (long long)numel);
    if (t->numel != numel) return NULL;
    float *p = malloc((size_t)numel * sizeof(float));
    if (trdi_safetensors_read_f32(f, name, p, (size_t)numel) != TRDI_OK) {
        free(p);
        return NULL;
    }
    return p;
}

static void compare(const trdi_safetensors *f, const char *name, const float *got, int64_t n) {
    float *want = ref_tensor(f, name, n);
    if (!want) return;
    double mx = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(want[i]) > mx) mx = fabs(want[i]);
    if (!check_tensor_(__FILE__, __LINE__, name, got, want, (size_t)n, 5e-6 * mx, 0.0))
        fprintf(stderr, "  (tensor %s)\n", name);
    if (getenv("TRDI_TEST_VERBOSE")) {
        double d = 0;
        for (int64_t i = 0; i < n; i++)
            if (fabs((double)got[i] - want[i]) > d) d = fabs((double)got[i] - want[i]);
        printf("%-32s max|want| %.3g  max|diff| %.3g  (%.2g of max)\n", name, mx, d, d / mx);
    }
    free(want);
}

int main(void) {
    cJSON *root = test_load_json(DATA "/text_encoder.json");
    CHECK(root != NULL);
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(root, "prompts");
    CHECK(cJSON_GetArraySize(prompts) == 3);
    int64_t ids[3][N_TOK];
    for (int k = 0; k < 3; k++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(prompts, k), "input_ids");
        CHECK(cJSON_GetArraySize(arr) == N_TOK);
        for (int t = 0; t < N_TOK; t++) ids[k][t] = (int64_t)cJSON_GetArrayItem(arr, t)->valuedouble;
    }
    /* Prompt 1 is "" (the negative prompt the SD pipeline encodes for CFG). */
    const cJSON *p1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(prompts, 1), "prompt");
    CHECK(cJSON_IsString(p1) && p1->valuestring[0] == '\0');

    trdi_safetensors *ref = NULL;
    CHECK(trdi_safetensors_open(DATA "/text_encoder.safetensors", &ref) == TRDI_OK);
    trdi_text_encoder *enc = NULL;
    trdi_status st = trdi_text_encoder_load(DATA "/model/text_encoder", NULL, &enc);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (!ref || !enc) return TEST_SUMMARY();
    const trdi_text_encoder_info *info = trdi_text_encoder_get_info(enc);
    CHECK(info->hidden_size == 32 && info->num_layers == 3 && info->num_heads == 4);
    CHECK(info->quick_gelu && info->projection_dim == 0);
    CHECK(strstr(info->weights_path, "model.safetensors") != NULL);
    const int64_t D = info->hidden_size, L = info->num_layers;

    char name[128];
    for (int k = 0; k < 3; k++) {
        trdi_text_output o;
        st = trdi_text_encoder_forward(enc, ids[k], N_TOK, &o);
        CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
        if (st != TRDI_OK) continue;
        for (int64_t l = 0; l <= L; l++) {
            snprintf(name, sizeof name, "p%d.te.hidden_states.%lld", k, (long long)l);
            compare(ref, name, o.hidden_states + l * N_TOK * D, N_TOK * D);
        }
        snprintf(name, sizeof name, "p%d.te.last_hidden_state", k);
        compare(ref, name, o.last_hidden_state, N_TOK * D);
        snprintf(name, sizeof name, "p%d.te.pooler_output", k);
        compare(ref, name, o.pooled, D);
        CHECK(o.text_embeds == NULL);
        /* Pooling at the first <|endoftext|> (49407, the largest id). */
        int64_t first_eos = 0;
        while (first_eos < N_TOK && ids[k][first_eos] != 49407) first_eos++;
        CHECK(o.pooled_index == first_eos);
        trdi_text_output_clear(&o);

        trdi_prompt_embeds pe, ne, cs;
        CHECK(trdi_prompt_embeds_encode(enc, ids[k], NULL, NULL, N_TOK, 0, &pe) == TRDI_OK);
        CHECK(trdi_prompt_embeds_encode(enc, ids[1], NULL, NULL, N_TOK, 0, &ne) == TRDI_OK);
        CHECK(trdi_prompt_embeds_encode(enc, ids[k], NULL, NULL, N_TOK, 1, &cs) == TRDI_OK);
        CHECK(pe.seq_len == N_TOK && pe.dim == D && pe.pooled == NULL && pe.pooled_dim == 0);
        if (pe.embeds) {
            snprintf(name, sizeof name, "p%d.prompt_embeds", k);
            compare(ref, name, pe.embeds, N_TOK * D);
        }
        if (ne.embeds) {
            snprintf(name, sizeof name, "p%d.negative_prompt_embeds", k);
            compare(ref, name, ne.embeds, N_TOK * D);
        }
        if (cs.embeds) {
            snprintf(name, sizeof name, "p%d.prompt_embeds_clip_skip1", k);
            compare(ref, name, cs.embeds, N_TOK * D);
        }
        trdi_prompt_embeds_clear(&pe);
        trdi_prompt_embeds_clear(&ne);
        trdi_prompt_embeds_clear(&cs);
    }
    /* clip_skip beyond the layer count is refused; 3 (= embeddings + final norm) is allowed. */
    trdi_prompt_embeds bad;
    CHECK(trdi_prompt_embeds_encode(enc, ids[0], NULL, NULL, N_TOK, L + 1, &bad) == TRDI_ERR_INVALID_ARG);
    CHECK(bad.embeds == NULL);
    CHECK(trdi_prompt_embeds_encode(enc, ids[0], NULL, NULL, N_TOK, L, &bad) == TRDI_OK);
    trdi_prompt_embeds_clear(&bad);

    /* fp16 variant: weights rounded to half, upcast, float32 compute. */
    trdi_safetensors *ref16 = NULL;
    CHECK(trdi_safetensors_open(DATA "/fp16_variant.safetensors", &ref16) == TRDI_OK);
    trdi_text_encoder_params p = trdi_text_encoder_default_params();
    p.variant = TRDI_VARIANT_FP16;
    trdi_text_encoder *enc16 = NULL;
    st = trdi_text_encoder_load(DATA "/model/text_encoder", &p, &enc16);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (enc16 && ref16) {
        CHECK(strstr(trdi_text_encoder_get_info(enc16)->weights_path, "model.fp16.safetensors") != NULL);
        trdi_prompt_embeds pe;
        CHECK(trdi_prompt_embeds_encode(enc16, ids[0], NULL, NULL, N_TOK, 0, &pe) == TRDI_OK);
        if (pe.embeds) {
            compare(ref16, "fp16w.p0.prompt_embeds", pe.embeds, N_TOK * D);
            /* The two references differ by far more than the tolerance, so this comparison does
             * tell the variants apart. */
            float *r32 = ref_tensor(ref, "p0.prompt_embeds", N_TOK * D);
            double dmax = 0;
            for (int64_t i = 0; r32 && i < N_TOK * D; i++)
                if (fabs(r32[i] - pe.embeds[i]) > dmax) dmax = fabs(r32[i] - pe.embeds[i]);
            CHECK_MSG(dmax > 1e-3, "fp16 and fp32 embeddings differ by only %g", dmax);
            free(r32);
        }
        trdi_prompt_embeds_clear(&pe);
    }
    trdi_text_encoder_free(enc16);
    trdi_safetensors_close(ref16);
    trdi_text_encoder_free(enc);
    trdi_safetensors_close(ref);
    cJSON_Delete(root);
    return TEST_SUMMARY();
}
