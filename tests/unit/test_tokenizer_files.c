/* test_tokenizer_files.c -- loading tokenizer folders: a tiny hand-written valid folder (defaults
 * when the config files are absent, unknown symbols -> unk), and malformed vocab.json / merges.txt
 * / tokenizer_config.json files, which must fail with TRDI_ERR_FORMAT (or TRDI_ERR_IO when missing)
 * and a message naming the file and line. */
#include "harness.h"
#include "trdi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/trdi-tok-files-XXXXXX";

static void put(const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!text) {
        unlink(path);
        return;
    }
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static const char *good_vocab =
    "{\"a\": 0, \"b\": 1, \"a</w>\": 2, \"b</w>\": 3, \"ab</w>\": 4, \"ab\": 5,\n"
    " \"<|startoftext|>\": 6, \"<|endoftext|>\": 7}\n";
static const char *good_merges = "#version: 0.2\na b</w>\na b\n";

/* Loads the folder and checks the failure status and that the message contains `needle`. */
static void expect_fail(trdi_status want, const char *needle, int line) {
    trdi_tokenizer *tok = (trdi_tokenizer *)1;
    trdi_status st = trdi_tokenizer_load(dir, &tok);
    CHECK_MSG(st == want && tok == NULL, "line %d: status %d (%s), want %d", line, (int)st,
              trdi_last_error(), (int)want);
    CHECK_MSG(strstr(trdi_last_error(), needle) != NULL, "line %d: message '%s' lacks '%s'", line,
              trdi_last_error(), needle);
    if (st == TRDI_OK) trdi_tokenizer_free(tok);
}

static void test_tiny_valid(void) {
    put("vocab.json", good_vocab);
    put("merges.txt", good_merges);
    trdi_tokenizer *tok = NULL;
    CHECK_MSG(trdi_tokenizer_load(dir, &tok) == TRDI_OK, "%s", trdi_last_error());
    if (!tok) return;
    /* No config files: CLIP's defaults (bos <|startoftext|>, eos = pad = unk = <|endoftext|>). */
    CHECK(trdi_tokenizer_bos_id(tok) == 6 && trdi_tokenizer_eos_id(tok) == 7 &&
          trdi_tokenizer_pad_id(tok) == 7);
    CHECK(trdi_tokenizer_vocab_size(tok) == 8 && trdi_tokenizer_model_max_length(tok) == 77);
    trdi_tokens t;
    CHECK(trdi_tokenizer_encode(tok, "AB abab c", 8, &t) == TRDI_OK);
    /* "ab" -> ab</w>; "abab" -> ab ab</w> (rank 0 first: a b</w>, then a b); "c" is not in the
     * vocabulary -> unk (7). */
    CHECK(t.n_tokens == 4);
    if (t.n_tokens == 4) {
        CHECK(t.token_ids[0] == 4 && t.token_ids[1] == 5 && t.token_ids[2] == 4 &&
              t.token_ids[3] == 7);
        CHECK(!strcmp(t.bpe_tokens[3], "c</w>"));
    }
    CHECK(t.length == 6 && t.input_ids[7] == 7);
    trdi_tokens_clear(&t);
    trdi_tokenizer_free(tok);
}

static void test_malformed(void) {
    put("vocab.json", NULL);
    expect_fail(TRDI_ERR_IO, "vocab.json", __LINE__);
    put("vocab.json", "{\"a\": 0,\n \"b\": 1,\n \"c\" 2}\n");
    expect_fail(TRDI_ERR_FORMAT, "vocab.json:3:", __LINE__);
    put("vocab.json", "{\"a\": 0, \"b\": \"one\"}");
    expect_fail(TRDI_ERR_FORMAT, "\"b\"", __LINE__);
    put("vocab.json", "{\"a\": 0, \"b\": 1.5}");
    expect_fail(TRDI_ERR_FORMAT, "vocab.json", __LINE__);
    put("vocab.json", "[1, 2]");
    expect_fail(TRDI_ERR_FORMAT, "vocab.json", __LINE__);
    put("vocab.json", "{}");
    expect_fail(TRDI_ERR_FORMAT, "empty", __LINE__);
    put("vocab.json", good_vocab);
    put("merges.txt", "#version: 0.2\na b</w>\na b\na b c\n");
    expect_fail(TRDI_ERR_FORMAT, "merges.txt:4:", __LINE__);
    put("merges.txt", "#version: 0.2\na b\n\nb a\n");
    expect_fail(TRDI_ERR_FORMAT, "merges.txt:3:", __LINE__);
    put("merges.txt", "   \n");
    expect_fail(TRDI_ERR_FORMAT, "merges.txt", __LINE__);
    put("merges.txt", NULL);
    expect_fail(TRDI_ERR_IO, "merges.txt", __LINE__);
    put("merges.txt", good_merges);
    put("tokenizer_config.json", "{\"pad_token\": \"!\",\n\"model_max_length\": 77,,}");
    expect_fail(TRDI_ERR_FORMAT, "tokenizer_config.json:2:", __LINE__);
    put("tokenizer_config.json", "{\"pad_token\": 5}");
    expect_fail(TRDI_ERR_FORMAT, "pad_token", __LINE__);
    put("tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {\"content\": \"q\"}}}");
    expect_fail(TRDI_ERR_FORMAT, "added_tokens_decoder", __LINE__);
    put("tokenizer_config.json", NULL);
    put("special_tokens_map.json", "{\"bos_token\": {\"lstrip\": false}}");
    expect_fail(TRDI_ERR_FORMAT, "special_tokens_map.json", __LINE__);
    put("special_tokens_map.json", NULL);
    /* Bad arguments. */
    trdi_tokenizer *tok = NULL;
    CHECK(trdi_tokenizer_load("", &tok) == TRDI_ERR_INVALID_ARG && tok == NULL);
    CHECK(trdi_tokenizer_load(dir, NULL) == TRDI_ERR_INVALID_ARG);
    trdi_tokenizer_free(NULL);
    trdi_tokens_clear(NULL);
}

int main(void) {
    CHECK(mkdtemp(dir) != NULL);
    test_tiny_valid();
    test_malformed();
    put("vocab.json", NULL);
    put("merges.txt", NULL);
    rmdir(dir);
    return TEST_SUMMARY();
}
