/* test_tokenizer.c -- golden test of the CLIP tokenizer against transformers' CLIPTokenizer outputs
 * recorded in tests/data/sd15-tiny/tokenizer.json (copied from refdata). For every prompt:
 * input_ids (77, padded), length, truncated, ids_untruncated, bpe_tokens and the normalised text,
 * with both BPE implementations (fast and reference). Ids are exact: no tolerance. */
#include "harness.h"
#include "testutil.h"
#include "model/clip_tokenizer.h"
#include "model/text_normalize.h"
#include "trdi.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t json_int(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -999;
}

static void check_prompt(const trdi_tokenizer *tok, const cJSON *rec, trdi_clip_bpe_impl impl) {
    const char *prompt = cJSON_GetObjectItemCaseSensitive(rec, "prompt")->valuestring;
    int64_t index = json_int(rec, "index");
    const char *impl_name = impl == TRDI_CLIP_BPE_FAST ? "fast" : "reference";
    trdi_tokens tk;
    trdi_status st = trdi_clip_encode(tok, prompt, strlen(prompt), 77, impl, &tk);
    CHECK_MSG(st == TRDI_OK, "prompt %lld: %s", (long long)index, trdi_last_error());
    if (st != TRDI_OK) return;

    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(rec, "input_ids");
    CHECK(cJSON_GetArraySize(ids) == 77 && tk.max_length == 77);
    int bad = -1;
    for (int i = 0; i < 77 && i < cJSON_GetArraySize(ids); i++)
        if ((int64_t)cJSON_GetArrayItem(ids, i)->valuedouble != tk.input_ids[i] && bad < 0) bad = i;
    CHECK_MSG(bad < 0, "prompt %lld (%s): input_ids differ first at %d: got %lld want %lld",
              (long long)index, impl_name, bad, bad >= 0 ? (long long)tk.input_ids[bad] : 0LL,
              bad >= 0 ? (long long)cJSON_GetArrayItem(ids, bad)->valuedouble : 0LL);
    CHECK_MSG(tk.length == json_int(rec, "length"), "prompt %lld: length %lld want %lld",
              (long long)index, (long long)tk.length, (long long)json_int(rec, "length"));
    CHECK_MSG(tk.truncated == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "truncated")),
              "prompt %lld: truncated flag", (long long)index);

    const cJSON *unt = cJSON_GetObjectItemCaseSensitive(rec, "ids_untruncated");
    CHECK_MSG(cJSON_GetArraySize(unt) == tk.n_tokens + 2, "prompt %lld: %lld tokens, want %d",
              (long long)index, (long long)tk.n_tokens, cJSON_GetArraySize(unt) - 2);
    if (cJSON_GetArraySize(unt) == tk.n_tokens + 2) {
        bad = -1;
        for (int64_t i = 0; i < tk.n_tokens; i++)
            if ((int64_t)cJSON_GetArrayItem(unt, (int)i + 1)->valuedouble != tk.token_ids[i] &&
                bad < 0)
                bad = (int)i;
        CHECK_MSG(bad < 0, "prompt %lld: ids_untruncated differ at token %d", (long long)index,
                  bad);
    }

    const cJSON *bpe = cJSON_GetObjectItemCaseSensitive(rec, "bpe_tokens");
    CHECK(cJSON_GetArraySize(bpe) == tk.n_tokens);
    for (int64_t i = 0; i < tk.n_tokens && i < cJSON_GetArraySize(bpe); i++) {
        const char *want = cJSON_GetArrayItem(bpe, (int)i)->valuestring;
        if (strcmp(want, tk.bpe_tokens[i]) != 0) {
            CHECK_MSG(0, "prompt %lld: bpe token %lld is '%s', want '%s'", (long long)index,
                      (long long)i, tk.bpe_tokens[i], want);
            break;
        }
    }
    trdi_tokens_clear(&tk);
}

int main(void) {
    char *text = test_read_file(TRDI_TEST_DATA "/sd15-tiny/tokenizer.json", NULL);
    CHECK_MSG(text != NULL, "cannot read tokenizer.json");
    if (!text) return TEST_SUMMARY();
    cJSON *root = cJSON_Parse(text);
    free(text);
    CHECK(root != NULL);
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "tokenizer");
    CHECK(ref != NULL);

    trdi_tokenizer *tok = NULL;
    trdi_status st = trdi_tokenizer_load(TRDI_TEST_DATA "/sd15-tiny/model/tokenizer", &tok);
    CHECK_MSG(st == TRDI_OK, "load: %s", trdi_last_error());
    if (st != TRDI_OK || !ref) {
        cJSON_Delete(root);
        return TEST_SUMMARY();
    }
    CHECK(trdi_tokenizer_pad_id(tok) == json_int(ref, "pad_token_id"));
    CHECK(trdi_tokenizer_bos_id(tok) == json_int(ref, "bos_token_id"));
    CHECK(trdi_tokenizer_eos_id(tok) == json_int(ref, "eos_token_id"));
    CHECK(trdi_tokenizer_model_max_length(tok) == json_int(ref, "model_max_length"));
    const cJSON *special = cJSON_GetObjectItemCaseSensitive(ref, "special_added_tokens");
    for (const cJSON *e = special ? special->child : NULL; e; e = e->next) {
        const char *s = trdi_tokenizer_token_string(tok, strtoll(e->string, NULL, 10));
        CHECK_MSG(s && !strcmp(s, e->valuestring), "special token %s", e->string);
    }

    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(ref, "prompts");
    CHECK(cJSON_GetArraySize(prompts) > 0);
    const cJSON *rec;
    cJSON_ArrayForEach(rec, prompts) {
        check_prompt(tok, rec, TRDI_CLIP_BPE_FAST);
        check_prompt(tok, rec, TRDI_CLIP_BPE_REFERENCE);
        /* The normaliser on its own, where no special token was split out. */
        if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(rec, "special_token_split"))) {
            const char *prompt = cJSON_GetObjectItemCaseSensitive(rec, "prompt")->valuestring;
            const char *want = cJSON_GetObjectItemCaseSensitive(rec, "normalized")->valuestring;
            char *got = NULL;
            CHECK(trdi_text_clip_normalize_utf8(prompt, strlen(prompt), &got) == TRDI_OK);
            CHECK_MSG(got && !strcmp(got, want), "prompt %lld: normalized '%s', want '%s'",
                      (long long)json_int(rec, "index"), got ? got : "(null)", want);
            free(got);
        }
    }
    trdi_tokenizer_free(tok);
    cJSON_Delete(root);
    return TEST_SUMMARY();
}
