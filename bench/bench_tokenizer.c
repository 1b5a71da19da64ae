/* bench_tokenizer.c -- CLIP tokenizer timings: folder load time, encode throughput on typical
 * prompts and on a long (truncated) prompt, and BPE on one long word, each with the fast BPE and
 * with the reference loop (CLIPTokenizer.bpe as written) in the same run, so the ratio is
 * meaningful whatever the machine. Usage: bench_tokenizer [TOKENIZER_DIR] (default
 * $TRDI_TOKENIZER_DIR, else tests/data/sd15-tiny/model/tokenizer beside this source). */
#include "model/clip_tokenizer.h"
#include "trdi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Thread CPU time: the build machines are shared, and CPU time is far less disturbed by other
 * processes than wall time (load time is CPU time too, file reads from the page cache included). */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const prompts[] = {
    "a photograph of an astronaut riding a horse",
    "A Red CAR parked on a Busy Street, at Night!!!",
    "3 cats and 12 dogs, 2024-05-17 at 10:30pm",
    "caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9"
    "e, na\xC3\xAFve fa\xC3\xA7"
    "ade",
    "a cute \xF0\x9F\x90\xB1 sitting on a \xF0\x9F\x9B\x8B\xEF\xB8\x8F next to a \xE2\x98\x95",
    "it's a dog's life; don't you think? we'll see, they're here",
    "masterpiece, best quality, ultra-detailed, 8k, photorealistic portrait of an elderly "
    "fisherman with "
    "a weathered face, deep wrinkles, salt-and-pepper beard, wearing a yellow raincoat, standing "
    "on a "
    "wooden pier at dawn, soft golden light, misty harbor in the background, seagulls flying "
    "overhead",
    "\xE2\x80\x9CSmart quotes\xE2\x80\x9D and \xE2\x80\x98"
    "apostrophes\xE2\x80\x99\xE2\x80\xA6 plus an em\xE2\x80\x94"
    "dash",
};

/* Seconds per call of encoding every prompt once, best of `reps` batches of `iters` calls. */
static double time_encode(const trdi_tokenizer *tok, const char *const *ps, int np,
                          trdi_clip_bpe_impl impl, int iters, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        for (int it = 0; it < iters; it++)
            for (int i = 0; i < np; i++) {
                trdi_tokens t;
                if (trdi_clip_encode(tok, ps[i], strlen(ps[i]), 77, impl, &t) != TRDI_OK) {
                    fprintf(stderr, "encode failed: %s\n", trdi_last_error());
                    exit(1);
                }
                trdi_tokens_clear(&t);
            }
        double dt = (now_s() - t0) / iters;
        if (dt < best) best = dt;
    }
    return best;
}

static double time_bpe(const trdi_tokenizer *tok, const unsigned char *word, size_t n,
                       trdi_clip_bpe_impl impl, int iters, size_t *out_n) {
    int32_t *syms = malloc(n * sizeof(int32_t));
    double t0 = now_s();
    for (int it = 0; it < iters; it++) {
        size_t m = n;
        trdi_clip_word_symbols(tok, word, n, syms);
        trdi_clip_bpe(tok, impl, syms, &m);
        *out_n = m;
    }
    double dt = (now_s() - t0) / iters;
    free(syms);
    return dt;
}

int main(int argc, char **argv) {
    char path[4096];
    const char *env = getenv("TRDI_TOKENIZER_DIR");
    if (argc > 1) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        snprintf(path, sizeof path, "%s", __FILE__);
        char *slash = strrchr(path, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(path, sizeof path, ".");
        strncat(path, "/../tests/data/sd15-tiny/model/tokenizer", sizeof path - strlen(path) - 1);
    }

    /* Load: best and mean of 5. */
    trdi_tokenizer *tok = NULL;
    double load_best = 1e30, load_sum = 0;
    for (int r = 0; r < 5; r++) {
        trdi_tokenizer_free(tok);
        tok = NULL;
        double t0 = now_s();
        if (trdi_tokenizer_load(path, &tok) != TRDI_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", trdi_last_error());
            return 1;
        }
        double dt = now_s() - t0;
        load_sum += dt;
        if (dt < load_best) load_best = dt;
    }
    printf("tokenizer load (%s): best %.1f ms, mean %.1f ms over 5 (%lld symbols)\n", path,
           load_best * 1e3, load_sum / 5 * 1e3, (long long)trdi_clip_num_symbols(tok));

    int np = (int)(sizeof prompts / sizeof prompts[0]);
    /* Alternate the two so that load from other processes hits both alike; keep the best. */
    double fast = 1e30, ref = 1e30;
    for (int r = 0; r < 7; r++) {
        double f = time_encode(tok, prompts, np, TRDI_CLIP_BPE_FAST, 100, 1);
        double g = time_encode(tok, prompts, np, TRDI_CLIP_BPE_REFERENCE, 100, 1);
        if (f < fast) fast = f;
        if (g < ref) ref = g;
    }
    printf("encode %d typical prompts: fast %.1f us/prompt (%.0f prompts/s), reference BPE %.1f "
           "us/prompt; "
           "reference/fast = %.2f\n",
           np, fast / np * 1e6, np / fast, ref / np * 1e6, ref / fast);

    /* A 4000-character prompt of words (truncated to 77). */
    size_t ln = 4000;
    char *longp = malloc(ln + 1);
    for (size_t i = 0; i < ln; i++)
        longp[i] = "photorealistic portrait, "[i % 25];
    longp[ln] = '\0';
    const char *lp[1] = {longp};
    fast = ref = 1e30;
    for (int r = 0; r < 7; r++) {
        double f = time_encode(tok, lp, 1, TRDI_CLIP_BPE_FAST, 10, 1);
        double g = time_encode(tok, lp, 1, TRDI_CLIP_BPE_REFERENCE, 10, 1);
        if (f < fast) fast = f;
        if (g < ref) ref = g;
    }
    printf("encode one %zu-character prompt: fast %.2f ms (%.1f MB/s), reference BPE %.2f ms; "
           "reference/fast = %.2f\n",
           ln, fast * 1e3, ln / fast / 1e6, ref * 1e3, ref / fast);

    /* BPE alone on 400 distinct pseudo-random words per length (letters in English frequency
     * order): the short-word path (<= 64 symbols) and the heap path above it. */
    static const int lens[] = {4, 8, 12, 16, 32, 64, 128};
    uint32_t seed = 7;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        enum { NW = 400 };
        int L = lens[li];
        static unsigned char words[NW][128];
        for (int k = 0; k < NW; k++)
            for (int i = 0; i < L; i++) {
                seed = seed * 1103515245u + 12345u;
                words[k][i] = (unsigned char)"etaoinshrdlucmfwypvbgk"[(seed >> 16) % 22];
            }
        double best[2] = {1e30, 1e30};
        for (int r = 0; r < 5; r++)
            for (int impl = 0; impl < 2; impl++) {
                int32_t syms[128];
                double t0 = now_s();
                for (int k = 0; k < NW; k++) {
                    size_t m = (size_t)L;
                    trdi_clip_word_symbols(tok, words[k], (size_t)L, syms);
                    trdi_clip_bpe(tok, (trdi_clip_bpe_impl)impl, syms, &m);
                }
                double dt = (now_s() - t0) / NW;
                if (dt < best[impl]) best[impl] = dt;
            }
        printf("BPE of %3d-byte words: fast %7.0f ns/word, reference %7.0f ns/word; reference/fast "
               "= %.2f\n",
               L, best[0] * 1e9, best[1] * 1e9, best[1] / best[0]);
    }

    /* BPE of one long word: where the reference loop's O(n^2) shows. */
    size_t wn = 2000;
    unsigned char *word = malloc(wn);
    /* Pseudo-random letters: few repeated pairs, so the reference loop needs ~n passes. */
    uint32_t x = 12345;
    for (size_t i = 0; i < wn; i++) {
        x = x * 1103515245u + 12345u;
        word[i] = (unsigned char)('a' + (x >> 16) % 26);
    }
    size_t m1 = 0, m2 = 0;
    fast = time_bpe(tok, word, wn, TRDI_CLIP_BPE_FAST, 20, &m1);
    ref = time_bpe(tok, word, wn, TRDI_CLIP_BPE_REFERENCE, 3, &m2);
    printf("BPE of one %zu-byte word: fast %.3f ms, reference %.3f ms; reference/fast = %.1f (%zu "
           "== %zu symbols)\n",
           wn, fast * 1e3, ref * 1e3, ref / fast, m1, m2);
    free(word);
    free(longp);
    trdi_tokenizer_free(tok);
    return m1 == m2 ? 0 : 1;
}
