/* test_text_encoder_errors.c -- the CLIP text encoder's loader and forward on bad input: broken
 * configs, missing or mis-shaped tensors (the message names the tensor), a missing variant, bad
 * token ids and counts. Each case builds a small text_encoder folder in a temporary directory from
 * the tiny model's own files (tests/data/sd15-tiny/model/text_encoder). Also the tensor descriptor
 * and arena helpers. */
#include "harness.h"
#include "testutil.h"
#include "tensor/tensor.h"
#include "trdi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SRC TRDI_TEST_DATA "/sd15-tiny/model/text_encoder"

static char g_dir[256];

static void write_file(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void remove_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    unlink(path);
}

/* The config with `key`'s line replaced by `line` (NULL: removed). */
static void write_config_edit(const char *config, const char *key, const char *line) {
    size_t n = strlen(config);
    char *out = malloc(n + 256);
    const char *p = strstr(config, key);
    if (!p || !out) {
        free(out);
        return;
    }
    const char *ls = p;
    while (ls > config && ls[-1] != '\n') ls--;
    const char *le = strchr(p, '\n');
    size_t pre = (size_t)(ls - config);
    memcpy(out, config, pre);
    out[pre] = '\0';
    if (line) strcat(out, line);
    strcat(out, le ? le : "");
    write_file("config.json", out);
    free(out);
}

/* Writes model.safetensors as the tiny model's weights with tensor `drop` left out and tensor
 * `shrink` (if any) given a shape with its first dimension halved. */
static void write_weights(const trdi_safetensors *src, const char *drop, const char *shrink) {
    int64_t n = trdi_safetensors_count(src);
    trdi_st_write_entry *e = calloc((size_t)n, sizeof *e);
    int64_t (*shapes)[TRDI_ST_MAX_DIMS] = calloc((size_t)n, sizeof *shapes);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const trdi_st_tensor *t = trdi_safetensors_at(src, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        memcpy(shapes[m], t->shape, sizeof shapes[m]);
        if (shrink && strcmp(t->name, shrink) == 0) shapes[m][0] /= 2;
        e[m].name = t->name;
        e[m].dtype = t->dtype;
        e[m].ndim = t->ndim;
        e[m].shape = shapes[m];
        e[m].data = t->data;
        m++;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", g_dir);
    CHECK_MSG(trdi_safetensors_write(path, e, m, NULL) == TRDI_OK, "%s", trdi_last_error());
    free(e);
    free(shapes);
}

static trdi_status try_load(trdi_text_encoder_params *p) {
    trdi_text_encoder *enc = (trdi_text_encoder *)&enc; /* must be reset to NULL on failure */
    trdi_status st = trdi_text_encoder_load(g_dir, p, &enc);
    if (st != TRDI_OK) CHECK(enc == NULL);
    trdi_text_encoder_free(enc);
    return st;
}

static void tensor_and_arena(void) {
    float data[24];
    trdi_tensor t = trdi_tensor_f32(data, 3, 2, 3, 4, 0);
    CHECK(t.ndim == 3 && t.stride[0] == 12 && t.stride[1] == 4 && t.stride[2] == 1);
    CHECK(trdi_tensor_numel(&t) == 24 && trdi_tensor_is_contiguous(&t));
    char buf[64];
    CHECK(strcmp(trdi_shape_str(t.ndim, t.shape, buf, sizeof buf), "[2, 3, 4]") == 0);
    trdi_tensor r;
    const int64_t s2[2] = {6, 4}, s3[2] = {5, 5};
    CHECK(trdi_tensor_reshape(&t, 2, s2, &r) == TRDI_OK && r.stride[0] == 4);
    CHECK(trdi_tensor_reshape(&t, 2, s3, &r) == TRDI_ERR_INVALID_ARG);
    const int64_t neg[1] = {-1};
    CHECK(trdi_tensor_make(&r, TRDI_DTYPE_F32, data, 1, neg, "x") == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_dtype_size(TRDI_DTYPE_BF16) == 2 && strcmp(trdi_dtype_name(TRDI_DTYPE_I64), "I64") == 0);

    trdi_arena a;
    CHECK(trdi_arena_init(&a, 1000) == TRDI_OK);
    float *p1 = trdi_arena_floats(&a, 3);
    size_t mark = trdi_arena_mark(&a);
    float *p2 = trdi_arena_floats(&a, 10);
    CHECK(p1 && p2 && ((uintptr_t)p2 % TRDI_ARENA_ALIGN) == 0 && (char *)p2 >= (char *)(p1 + 3));
    CHECK(trdi_arena_alloc(&a, 100000) == NULL); /* full: NULL, nothing changes */
    trdi_arena_reset_to(&a, mark);
    CHECK(trdi_arena_floats(&a, 10) == p2); /* the same block again */
    trdi_arena_reset(&a);
    CHECK(trdi_arena_floats(&a, 1) == p1 && a.peak >= a.used);
    trdi_arena_free(&a);
    trdi_arena_free(&a); /* twice is fine */
}

int main(void) {
    tensor_and_arena();
    snprintf(g_dir, sizeof g_dir, "/tmp/trdi_te_errors_XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
    char *config = test_read_file(SRC "/config.json", NULL);
    trdi_safetensors *src = NULL;
    CHECK(config != NULL);
    CHECK(trdi_safetensors_open(SRC "/model.safetensors", &src) == TRDI_OK);
    if (!config || !src) return TEST_SUMMARY();

    /* Baseline: the copied folder loads. */
    write_file("config.json", config);
    write_weights(src, NULL, NULL);
    CHECK(try_load(NULL) == TRDI_OK);

    /* Missing tensor: named in the message. */
    write_weights(src, "text_model.encoder.layers.1.mlp.fc1.bias", NULL);
    CHECK(try_load(NULL) == TRDI_ERR_FORMAT);
    CHECK_MSG(strstr(trdi_last_error(), "text_model.encoder.layers.1.mlp.fc1.bias") != NULL, "%s",
              trdi_last_error());
    /* Wrong shape: named with both shapes. */
    write_weights(src, NULL, "text_model.encoder.layers.2.self_attn.k_proj.weight");
    CHECK(try_load(NULL) == TRDI_ERR_FORMAT);
    CHECK_MSG(strstr(trdi_last_error(), "layers.2.self_attn.k_proj.weight") != NULL &&
                  strstr(trdi_last_error(), "16") != NULL,
              "%s", trdi_last_error());
    write_weights(src, NULL, NULL);

    /* Config problems. */
    write_config_edit(config, "\"hidden_act\"", "  \"hidden_act\": \"relu\",");
    CHECK(try_load(NULL) == TRDI_ERR_UNSUPPORTED);
    CHECK(strstr(trdi_last_error(), "relu") != NULL);
    write_config_edit(config, "\"hidden_size\"", NULL);
    CHECK(try_load(NULL) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "hidden_size") != NULL);
    write_config_edit(config, "\"num_attention_heads\"", "  \"num_attention_heads\": 5,");
    CHECK(try_load(NULL) == TRDI_ERR_FORMAT);
    write_config_edit(config, "\"hidden_size\"", "  \"hidden_size\": 64,"); /* shapes disagree */
    CHECK(try_load(NULL) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "token_embedding") != NULL);
    write_config_edit(config, "\"num_hidden_layers\"", "  \"num_hidden_layers\": -3,");
    CHECK(try_load(NULL) == TRDI_ERR_FORMAT);
    write_file("config.json", "{\"hidden_size\": 32,");
    CHECK(try_load(NULL) == TRDI_ERR_FORMAT);
    write_file("config.json", config);

    /* Variants: AUTO takes model.safetensors; FP16 needs model.fp16.safetensors. */
    trdi_text_encoder_params p = trdi_text_encoder_default_params();
    p.variant = TRDI_VARIANT_FP16;
    CHECK(try_load(&p) == TRDI_ERR_IO);
    CHECK(strstr(trdi_last_error(), "model.fp16.safetensors") != NULL);
    remove_file("model.safetensors");
    CHECK(try_load(NULL) == TRDI_ERR_IO);

    /* Forward on bad ids / counts (with the real folder). */
    trdi_text_encoder *enc = NULL;
    CHECK(trdi_text_encoder_load(SRC, NULL, &enc) == TRDI_OK);
    if (enc) {
        int64_t ids[78];
        for (int i = 0; i < 78; i++) ids[i] = 49407;
        ids[0] = 49406;
        trdi_text_output o;
        CHECK(trdi_text_encoder_forward(enc, ids, 78, &o) == TRDI_ERR_INVALID_ARG);
        CHECK(o.hidden_states == NULL);
        CHECK(trdi_text_encoder_forward(enc, ids, 0, &o) == TRDI_ERR_INVALID_ARG);
        ids[5] = 49408;
        CHECK(trdi_text_encoder_forward(enc, ids, 77, &o) == TRDI_ERR_INVALID_ARG);
        CHECK(strstr(trdi_last_error(), "position 5") != NULL);
        ids[5] = -1;
        CHECK(trdi_text_encoder_forward(enc, ids, 77, &o) == TRDI_ERR_INVALID_ARG);
        ids[5] = 320;
        /* A shorter sequence works (transformers accepts any length up to 77). */
        CHECK(trdi_text_encoder_forward(enc, ids, 7, &o) == TRDI_OK);
        CHECK(o.seq_len == 7 && o.pooled_index == 1);
        trdi_text_output_clear(&o);
        /* SDXL path needs a projection on the second encoder. */
        trdi_prompt_embeds e;
        CHECK(trdi_prompt_embeds_encode(enc, ids, enc, ids, 77, 0, &e) == TRDI_ERR_INVALID_ARG);
        CHECK(e.embeds == NULL);
        CHECK(trdi_prompt_embeds_encode(enc, ids, NULL, NULL, 77, -1, &e) == TRDI_ERR_INVALID_ARG);
        trdi_text_encoder_free(enc);
    }
    trdi_text_encoder_free(NULL);
    trdi_text_output_clear(NULL);
    trdi_prompt_embeds_clear(NULL);

    remove_file("config.json");
    remove_file("model.safetensors");
    rmdir(g_dir);
    trdi_safetensors_close(src);
    free(config);
    return TEST_SUMMARY();
}
