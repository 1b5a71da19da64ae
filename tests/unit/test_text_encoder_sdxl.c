/* test_text_encoder_sdxl.c -- the SDXL side of prompt embeddings, built from the tiny SD 1.5 text
 * encoder: a second encoder is made from the same weights as a CLIPTextModelWithProjection with an
 * exact-GELU MLP and a random text_projection (written to a temporary folder). Checks that
 * trdi_prompt_embeds_encode concatenates hidden_states[-(c+2)] of both encoders (no final norm),
 * that pooled = text_projection(pooled_output of encoder 2), that zeros_like gives zeros of the
 * same shapes, and that the gelu / quick_gelu switch changes the result. There is no SDXL
 * reference here (the hidden reference set has one); the golden test covers the SD 1.x path. */
#include "harness.h"
#include "testutil.h"
#include "core/core.h"
#include "trdi.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SRC TRDI_TEST_DATA "/sd15-tiny/model/text_encoder"
#define T 77

int main(void) {
    char dir[] = "/tmp/trdi_te_sdxl_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cfg_path[256], w_path[256];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    snprintf(w_path, sizeof w_path, "%s/model.safetensors", dir);

    /* Config: WithProjection, gelu. */
    cJSON *cfg = test_load_json(SRC "/config.json");
    CHECK(cfg != NULL);
    if (!cfg) return TEST_SUMMARY();
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "hidden_act", cJSON_CreateString("gelu"));
    cJSON *arch = cJSON_CreateArray();
    cJSON_AddItemToArray(arch, cJSON_CreateString("CLIPTextModelWithProjection"));
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "architectures", arch);
    const int64_t P = 24; /* projection_dim != hidden_size, to catch a transposed projection */
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "projection_dim", cJSON_CreateNumber((double)P));
    char *cfg_text = cJSON_Print(cfg);
    FILE *f = fopen(cfg_path, "w");
    CHECK(f && cfg_text);
    if (f && cfg_text) fputs(cfg_text, f);
    if (f) fclose(f);
    free(cfg_text);
    cJSON_Delete(cfg);

    /* Weights: the originals plus text_projection.weight (P, 32). */
    trdi_safetensors *src = NULL;
    CHECK(trdi_safetensors_open(SRC "/model.safetensors", &src) == TRDI_OK);
    if (!src) return TEST_SUMMARY();
    const int64_t n = trdi_safetensors_count(src);
    trdi_st_write_entry *e = calloc((size_t)n + 1, sizeof *e);
    for (int64_t i = 0; i < n; i++) {
        const trdi_st_tensor *t = trdi_safetensors_at(src, i);
        e[i] = (trdi_st_write_entry){t->name, t->dtype, t->ndim, t->shape, t->data};
    }
    const int64_t D = 32, pshape[2] = {P, D};
    float *proj = malloc((size_t)(P * D) * sizeof(float));
    trdi_rng rng;
    trdi_rng_seed(&rng, 11);
    trdi_rng_normal_fill(&rng, proj, (size_t)(P * D));
    e[n] = (trdi_st_write_entry){"text_projection.weight", TRDI_ST_F32, 2, pshape, proj};
    CHECK_MSG(trdi_safetensors_write(w_path, e, n + 1, NULL) == TRDI_OK, "%s", trdi_last_error());
    free(e);

    trdi_text_encoder *enc1 = NULL, *enc2 = NULL;
    CHECK(trdi_text_encoder_load(SRC, NULL, &enc1) == TRDI_OK);
    CHECK_MSG(trdi_text_encoder_load(dir, NULL, &enc2) == TRDI_OK, "%s", trdi_last_error());
    if (!enc1 || !enc2) return TEST_SUMMARY();
    CHECK(trdi_text_encoder_get_info(enc2)->projection_dim == P);
    CHECK(!trdi_text_encoder_get_info(enc2)->quick_gelu);

    int64_t ids1[T], ids2[T];
    const int64_t words[5] = {320, 8853, 539, 550, 18376};
    ids1[0] = ids2[0] = 49406;
    for (int t = 1; t < T; t++) ids1[t] = 49407, ids2[t] = 0; /* SDXL tokenizer_2 pads with 0 */
    for (int t = 0; t < 5; t++) ids1[t + 1] = ids2[t + 1] = words[t];
    ids2[6] = 49407;

    trdi_text_output o1, o2;
    CHECK(trdi_text_encoder_forward(enc1, ids1, T, &o1) == TRDI_OK);
    CHECK(trdi_text_encoder_forward(enc2, ids2, T, &o2) == TRDI_OK);
    CHECK(o2.text_embeds != NULL && o2.projection_dim == P && o2.pooled_index == 6);
    /* text_embeds = W pooled, W (P, D): one float GEMV of length 32 against a double sum,
     * |err| <= gamma_32 sum|w p| ~ 2e-6 sum|w p|. */
    for (int64_t r = 0; r < P && o2.text_embeds; r++) {
        double s = 0, mag = 0;
        for (int64_t c = 0; c < D; c++) {
            s += (double)proj[r * D + c] * o2.pooled[c];
            mag += fabs((double)proj[r * D + c] * o2.pooled[c]);
        }
        CHECK_NEAR(o2.text_embeds[r], s, 4e-6 * mag + 1e-30);
    }
    /* gelu and quick_gelu differ by up to ~0.02 per activation, so layer 1 must differ on the
     * first 6 rows (where both encoders see the same ids). */
    double dact = 0;
    for (int64_t i = 0; i < 6 * D; i++) {
        double d = fabs(o1.hidden_states[1 * T * D + i] - o2.hidden_states[1 * T * D + i]);
        if (d > dact) dact = d;
    }
    CHECK_MSG(dact > 1e-4, "gelu vs quick_gelu changed layer 1 by only %g", dact);

    for (int64_t c = 0; c <= 2; c++) {
        trdi_prompt_embeds pe;
        /* c = 2 reaches hidden_states[-4] = the embeddings of a 3-layer encoder; 3 is too far. */
        trdi_status st = trdi_prompt_embeds_encode(enc1, ids1, enc2, ids2, T, c, &pe);
        CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
        if (st != TRDI_OK) continue;
        CHECK(pe.seq_len == T && pe.dim == 2 * D && pe.pooled_dim == P);
        const int64_t L = 3, idx = L - 1 - c;
        int64_t bad = 0;
        for (int64_t t = 0; t < T; t++)
            for (int64_t d = 0; d < D; d++) {
                /* Plain copies: bit-identical. */
                if (pe.embeds[t * 2 * D + d] != o1.hidden_states[(idx * T + t) * D + d]) bad++;
                if (pe.embeds[t * 2 * D + D + d] != o2.hidden_states[(idx * T + t) * D + d]) bad++;
            }
        CHECK_MSG(bad == 0, "clip_skip %lld: %lld values differ from hidden_states[%lld]",
                  (long long)c, (long long)bad, (long long)idx);
        CHECK(memcmp(pe.pooled, o2.text_embeds, (size_t)P * sizeof(float)) == 0);
        if (c == 0) {
            trdi_prompt_embeds z;
            CHECK(trdi_prompt_embeds_zeros_like(&pe, &z) == TRDI_OK);
            CHECK(z.seq_len == T && z.dim == 2 * D && z.pooled_dim == P);
            int64_t nz = 0;
            for (int64_t i = 0; i < T * 2 * D; i++) nz += z.embeds[i] != 0.0f;
            for (int64_t i = 0; i < P; i++) nz += z.pooled[i] != 0.0f;
            CHECK(nz == 0);
            trdi_prompt_embeds_clear(&z);
        }
        trdi_prompt_embeds_clear(&pe);
    }
    trdi_prompt_embeds bad;
    CHECK(trdi_prompt_embeds_encode(enc1, ids1, enc2, ids2, T, 3, &bad) == TRDI_ERR_INVALID_ARG);
    /* Encoder 1 without a projection cannot be the second SDXL encoder. */
    CHECK(trdi_prompt_embeds_encode(enc2, ids2, enc1, ids1, T, 0, &bad) == TRDI_ERR_INVALID_ARG);

    trdi_text_output_clear(&o1);
    trdi_text_output_clear(&o2);
    trdi_text_encoder_free(enc1);
    trdi_text_encoder_free(enc2);
    trdi_safetensors_close(src);
    free(proj);
    unlink(cfg_path);
    unlink(w_path);
    rmdir(dir);
    return TEST_SUMMARY();
}
