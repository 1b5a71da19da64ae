/* fuzz_tokenizer.c -- libFuzzer target for the CLIP tokenizer: any byte string is a prompt. Checks
 * that encoding never fails or crashes, that the output is well formed (BOS/EOS, padding, ids in
 * range) and that the fast BPE agrees with the reference loop. The tokenizer folder comes from
 * $TRDI_TOKENIZER_DIR, else tests/data/sd15-tiny/model/tokenizer next to this source file. */
#include "model/clip_tokenizer.h"
#include "model/text_normalize.h"
#include "trdi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static trdi_tokenizer *tok;

static void die(const char *what) {
    fprintf(stderr, "fuzz_tokenizer: %s (%s)\n", what, trdi_last_error());
    abort();
}

static void load_once(void) {
    if (tok) return;
    const char *env = getenv("TRDI_TOKENIZER_DIR");
    char path[4096];
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        /* __FILE__ is tests/fuzz/fuzz_tokenizer.c (absolute in CMake builds). */
        snprintf(path, sizeof path, "%s", __FILE__);
        char *slash = strrchr(path, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(path, sizeof path, ".");
        strncat(path, "/../data/sd15-tiny/model/tokenizer", sizeof path - strlen(path) - 1);
    }
    if (trdi_tokenizer_load(path, &tok) != TRDI_OK)
        die("cannot load the tokenizer; set TRDI_TOKENIZER_DIR");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_once();
    if (size > 1 << 16) return 0;
    /* The first byte picks max_length (2..77) so truncation edges get exercised too. */
    int64_t max_length = size > 0 ? 2 + data[0] % 76 : 77;
    const char *text = (const char *)data + (size > 0);
    size_t len = size > 0 ? size - 1 : 0;
    trdi_tokens a, b;
    if (trdi_clip_encode(tok, text, len, max_length, TRDI_CLIP_BPE_FAST, &a) != TRDI_OK)
        die("encode failed");
    if (trdi_clip_encode(tok, text, len, max_length, TRDI_CLIP_BPE_REFERENCE, &b) != TRDI_OK)
        die("encode failed");
    if (a.n_tokens != b.n_tokens) die("fast and reference BPE differ in length");
    for (int64_t i = 0; i < a.n_tokens; i++)
        if (a.token_ids[i] != b.token_ids[i] || strcmp(a.bpe_tokens[i], b.bpe_tokens[i]) != 0)
            die("fast and reference BPE differ");
    if (a.length < 2 || a.length > max_length || a.input_ids[0] != trdi_tokenizer_bos_id(tok) ||
        a.input_ids[a.length - 1] != trdi_tokenizer_eos_id(tok))
        die("malformed input_ids");
    if (a.truncated != (a.n_tokens > max_length - 2)) die("wrong truncated flag");
    for (int64_t i = 0; i < max_length; i++) {
        if (a.input_ids[i] < 0 || a.input_ids[i] >= trdi_tokenizer_vocab_size(tok))
            die("id out of range");
        if (i >= a.length && a.input_ids[i] != trdi_tokenizer_pad_id(tok)) die("bad padding");
    }
    trdi_tokens_clear(&a);
    trdi_tokens_clear(&b);
    char *norm = NULL;
    if (trdi_text_clip_normalize_utf8(text, len, &norm) != TRDI_OK) die("normalize failed");
    free(norm);
    return 0;
}
