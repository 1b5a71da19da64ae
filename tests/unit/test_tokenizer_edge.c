/* test_tokenizer_edge.c -- edge cases of the CLIP tokenizer on the tiny SD 1.5 tokenizer folder:
 * the `!` pad-token quirk of SD 2.x / SDXL tokenizer_2 (on a temporary copy of the folder with
 * pad_token "!"), literal special tokens in a prompt, invalid UTF-8, 10000-character prompts,
 * emoji / CJK, empty and NULL prompts, max_length handling, and the fast BPE against the reference
 * loop on random words. */
#include "core/core.h"
#include "harness.h"
#include "model/clip_tokenizer.h"
#include "trdi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOK_DIR TRDI_TEST_DATA "/sd15-tiny/model/tokenizer"

static int copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int ok = a && b;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0)
        ok = fwrite(buf, 1, n, b) == n;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = 0;
    return ok;
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

static int64_t vocab_id(const trdi_tokenizer *tok, const char *s) {
    for (int64_t id = 0; id < trdi_tokenizer_vocab_size(tok); id++) {
        const char *t = trdi_tokenizer_token_string(tok, id);
        if (t && !strcmp(t, s)) return id;
    }
    return -1;
}

/* Encodes with both BPE implementations and checks they agree; returns the fast result. */
static trdi_status encode_both(const trdi_tokenizer *tok, const char *p, size_t len,
                               int64_t max_length, trdi_tokens *out) {
    trdi_tokens ref;
    trdi_status st = trdi_clip_encode(tok, p, len, max_length, TRDI_CLIP_BPE_FAST, out);
    trdi_status st2 = trdi_clip_encode(tok, p, len, max_length, TRDI_CLIP_BPE_REFERENCE, &ref);
    CHECK(st == st2);
    if (st == TRDI_OK && st2 == TRDI_OK) {
        int same = out->n_tokens == ref.n_tokens;
        for (int64_t i = 0; same && i < out->n_tokens; i++)
            same = out->token_ids[i] == ref.token_ids[i] &&
                   !strcmp(out->bpe_tokens[i], ref.bpe_tokens[i]);
        CHECK_MSG(same, "fast and reference BPE differ (%lld vs %lld tokens)",
                  (long long)out->n_tokens, (long long)ref.n_tokens);
    }
    trdi_tokens_clear(&ref);
    return st;
}

static void test_pad_bang(const trdi_tokenizer *sd15) {
    char dir[] = "/tmp/trdi-tok-bang-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char p1[256], p2[256], p3[256], p4[256];
    snprintf(p1, sizeof p1, "%s/vocab.json", dir);
    snprintf(p2, sizeof p2, "%s/merges.txt", dir);
    snprintf(p3, sizeof p3, "%s/special_tokens_map.json", dir);
    snprintf(p4, sizeof p4, "%s/tokenizer_config.json", dir);
    CHECK(copy_file(TOK_DIR "/vocab.json", p1));
    CHECK(copy_file(TOK_DIR "/merges.txt", p2));
    CHECK(write_text(p3, "{\"bos_token\": \"<|startoftext|>\", \"eos_token\": \"<|endoftext|>\",\n"
                         " \"unk_token\": \"<|endoftext|>\", \"pad_token\": \"!\"}\n"));
    CHECK(write_text(
        p4, "{\"model_max_length\": 77, \"pad_token\": \"!\", \"do_lower_case\": true}\n"));
    trdi_tokenizer *tok = NULL;
    trdi_status st = trdi_tokenizer_load(dir, &tok);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (tok) {
        int64_t bang = vocab_id(tok, "!");
        CHECK(bang >= 0 && trdi_tokenizer_pad_id(tok) == bang);
        trdi_tokens a, b;
        CHECK(encode_both(tok, "night!!!", 8, 77, &a) == TRDI_OK);
        CHECK(encode_both(sd15, "night!!!", 8, 77, &b) == TRDI_OK);
        /* README: night</w>, then three id-0 "!" tokens instead of night</w>, !!!</w>. */
        CHECK(a.n_tokens == 4 && b.n_tokens == 2);
        if (a.n_tokens == 4 && b.n_tokens == 2) {
            CHECK(!strcmp(a.bpe_tokens[0], "night</w>") && !strcmp(b.bpe_tokens[0], "night</w>"));
            CHECK(a.token_ids[0] == b.token_ids[0]);
            for (int i = 1; i < 4; i++)
                CHECK(a.token_ids[i] == bang && !strcmp(a.bpe_tokens[i], "!"));
            CHECK(!strcmp(b.bpe_tokens[1], "!!!</w>"));
        }
        CHECK(a.length == 6 && a.input_ids[5] == trdi_tokenizer_eos_id(tok) &&
              a.input_ids[6] == bang && a.input_ids[76] == bang);
        trdi_tokens_clear(&a);
        trdi_tokens_clear(&b);
        /* The text around a "!" is normalised and BPE'd on its own. */
        CHECK(encode_both(tok, "Hello! World", 12, 77, &a) == TRDI_OK);
        CHECK(a.n_tokens == 3 && !strcmp(a.bpe_tokens[0], "hello</w>") && a.token_ids[1] == bang &&
              !strcmp(a.bpe_tokens[2], "world</w>"));
        trdi_tokens_clear(&a);
        trdi_tokenizer_free(tok);
    }
    unlink(p1);
    unlink(p2);
    unlink(p3);
    unlink(p4);
    rmdir(dir);
}

static void test_special_literals(const trdi_tokenizer *tok) {
    trdi_tokens t;
    const char *p = "a cat<|endoftext|>dog <|startoftext|> b";
    CHECK(encode_both(tok, p, strlen(p), 77, &t) == TRDI_OK);
    CHECK(t.n_tokens == 6);
    if (t.n_tokens == 6) {
        CHECK(!strcmp(t.bpe_tokens[1], "cat</w>"));
        CHECK(t.token_ids[2] == trdi_tokenizer_eos_id(tok) &&
              !strcmp(t.bpe_tokens[2], "<|endoftext|>"));
        CHECK(!strcmp(t.bpe_tokens[3], "dog</w>"));
        CHECK(t.token_ids[4] == trdi_tokenizer_bos_id(tok));
    }
    trdi_tokens_clear(&t);
    /* Full-width brackets become "<|endoftext|>" only after normalisation: the regex literal then
     * gives the same id without "</w>" (CLIPTokenizer's bpe cache). */
    p = "\xEF\xBC\x9C\xEF\xBD\x9C"
        "endoftext\xEF\xBD\x9C\xEF\xBC\x9E";
    CHECK(encode_both(tok, p, strlen(p), 77, &t) == TRDI_OK);
    CHECK(t.n_tokens == 1 && t.token_ids[0] == trdi_tokenizer_eos_id(tok));
    trdi_tokens_clear(&t);
}

static void test_unusual_text(const trdi_tokenizer *tok) {
    trdi_tokens t;
    /* Invalid UTF-8 becomes U+FFFD (bytes EF BF BD -> "ï¿½"), never an error. */
    const char bad[] = "\xff\xfe ok \xc3 \xed\xa0\x80 \xf4\x90\x80\x80 end";
    CHECK(encode_both(tok, bad, sizeof bad - 1, 77, &t) == TRDI_OK);
    CHECK(t.n_tokens >= 3 && t.length >= 5);
    int saw_ok = 0;
    for (int64_t i = 0; i < t.n_tokens; i++)
        saw_ok |= !strcmp(t.bpe_tokens[i], "ok</w>");
    CHECK(saw_ok);
    trdi_tokens_clear(&t);
    /* Embedded NUL and control characters. */
    const char ctl[] = "a\0b\x01\x1b[1mc\x7f";
    CHECK(encode_both(tok, ctl, sizeof ctl - 1, 77, &t) == TRDI_OK);
    trdi_tokens_clear(&t);
    /* Emoji (with ZWJ and skin tones), CJK, Hangul, Arabic, combining marks, U+0345. */
    const char *mix = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 "
                      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD "
                      "\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x82\xBF\xE3\x83\xAF\xE3\x83\xBC "
                      "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A "
                      "a\xCD\x85"
                      "b \xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6\xE0\xA5\x80";
    CHECK(encode_both(tok, mix, strlen(mix), 77, &t) == TRDI_OK);
    CHECK(t.n_tokens > 5);
    for (int64_t i = 0; i < t.n_tokens; i++)
        CHECK(t.token_ids[i] >= 0 && t.token_ids[i] < 49408);
    trdi_tokens_clear(&t);
    /* Empty and NULL prompts: BOS, EOS, then padding. */
    CHECK(trdi_tokenizer_encode(tok, "", 77, &t) == TRDI_OK);
    CHECK(t.length == 2 && t.n_tokens == 0 && !t.truncated &&
          t.input_ids[0] == trdi_tokenizer_bos_id(tok) &&
          t.input_ids[1] == trdi_tokenizer_eos_id(tok) &&
          t.input_ids[2] == trdi_tokenizer_pad_id(tok));
    trdi_tokens_clear(&t);
    CHECK(trdi_tokenizer_encode(tok, NULL, 0, &t) == TRDI_OK);
    CHECK(t.length == 2 && t.max_length == 77);
    trdi_tokens_clear(&t);
    /* max_length: < 2 is rejected and leaves the output zeroed; a small one truncates. */
    CHECK(trdi_tokenizer_encode(tok, "a b", 1, &t) == TRDI_ERR_INVALID_ARG && t.input_ids == NULL);
    CHECK(trdi_tokenizer_encode(tok, "a b c d", 4, &t) == TRDI_OK);
    CHECK(t.length == 4 && t.truncated && t.n_tokens == 4 &&
          t.input_ids[3] == trdi_tokenizer_eos_id(tok));
    trdi_tokens_clear(&t);
    CHECK(trdi_tokenizer_encode(tok, "a b", 2, &t) == TRDI_OK);
    CHECK(t.length == 2 && t.truncated);
    trdi_tokens_clear(&t);
}

static void test_long_prompts(const trdi_tokenizer *tok) {
    enum { N = 10000 };
    char *p = malloc(N + 1);
    trdi_tokens t;
    /* 5000 words: truncated to 75 + BOS/EOS. */
    for (int i = 0; i < N; i++)
        p[i] = (i % 2) ? ' ' : 'a';
    p[N] = '\0';
    CHECK(encode_both(tok, p, N, 77, &t) == TRDI_OK);
    CHECK(t.length == 77 && t.truncated && t.n_tokens == N / 2 &&
          t.input_ids[76] == trdi_tokenizer_eos_id(tok));
    trdi_tokens_clear(&t);
    /* One 10000-letter word and one 10000-digit run (every digit its own piece). */
    for (int i = 0; i < N; i++)
        p[i] = "abcab"[i % 5];
    CHECK(encode_both(tok, p, N, 77, &t) == TRDI_OK);
    CHECK(t.truncated && t.n_tokens > 75);
    trdi_tokens_clear(&t);
    for (int i = 0; i < N; i++)
        p[i] = (char)('0' + i % 10);
    CHECK(encode_both(tok, p, N, 77, &t) == TRDI_OK);
    CHECK(t.n_tokens == N);
    trdi_tokens_clear(&t);
    /* 10000 exclamation marks: a single punctuation piece. */
    memset(p, '!', N);
    CHECK(encode_both(tok, p, N, 77, &t) == TRDI_OK);
    CHECK(t.truncated);
    trdi_tokens_clear(&t);
    free(p);
}

/* The fast heap-based BPE against the reference loop on random words (bytes and letters). */
static void test_bpe_random(const trdi_tokenizer *tok) {
    trdi_rng rng;
    trdi_rng_seed(&rng, 1234);
    unsigned char word[200];
    int32_t a[200], b[200];
    int mismatches = 0;
    for (int iter = 0; iter < 3000; iter++) {
        /* Up to 200 bytes: both the short-word path (<= 64 symbols) and the heap path. */
        size_t n = 1 + (size_t)trdi_rng_below(&rng, iter % 4 == 0 ? 200 : 40);
        int alphabet = (int)trdi_rng_below(&rng, 3);
        for (size_t i = 0; i < n; i++) {
            if (alphabet == 0)
                word[i] = (unsigned char)("aeiostnrl"[trdi_rng_below(&rng, 9)]);
            else if (alphabet == 1)
                word[i] = (unsigned char)('a' + trdi_rng_below(&rng, 26));
            else
                word[i] = (unsigned char)trdi_rng_below(&rng, 256);
        }
        trdi_clip_word_symbols(tok, word, n, a);
        memcpy(b, a, n * sizeof(int32_t));
        size_t na = n, nb = n;
        CHECK(trdi_clip_bpe(tok, TRDI_CLIP_BPE_FAST, a, &na) == TRDI_OK);
        CHECK(trdi_clip_bpe(tok, TRDI_CLIP_BPE_REFERENCE, b, &nb) == TRDI_OK);
        if (na != nb || memcmp(a, b, na * sizeof(int32_t)) != 0) mismatches++;
    }
    CHECK_MSG(mismatches == 0, "%d random words differ between fast and reference BPE", mismatches);
}

int main(void) {
    trdi_tokenizer *tok = NULL;
    trdi_status st = trdi_tokenizer_load(TOK_DIR, &tok);
    CHECK_MSG(st == TRDI_OK, "load: %s", trdi_last_error());
    if (!tok) return TEST_SUMMARY();
    test_pad_bang(tok);
    test_special_literals(tok);
    test_unusual_text(tok);
    test_long_prompts(tok);
    test_bpe_random(tok);
    trdi_tokenizer_free(tok);
    return TEST_SUMMARY();
}
