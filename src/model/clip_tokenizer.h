/* clip_tokenizer.h -- internals of the CLIP BPE tokenizer shared with its tests and benchmark:
 * the two BPE merge implementations (fast heap-based and the plain reference loop that mirrors
 * transformers' CLIPTokenizer.bpe) and an encode that can pick either. Public API: include/trdi.h.
 */
#ifndef TRDI_MODEL_CLIP_TOKENIZER_H
#define TRDI_MODEL_CLIP_TOKENIZER_H

#include "trdi.h"

#include <stddef.h>
#include <stdint.h>

typedef enum trdi_clip_bpe_impl {
    TRDI_CLIP_BPE_FAST = 0, /* heap of candidate pairs over a linked list: O(n log n) */
    TRDI_CLIP_BPE_REFERENCE =
        1 /* CLIPTokenizer.bpe as written: rescan all pairs per merge, O(n^2) */
} trdi_clip_bpe_impl;

/* Symbols are internal ids (every vocab string, byte symbol and merge result has one). */
int64_t trdi_clip_num_symbols(const trdi_tokenizer *tok);
/* The UTF-8 string of a symbol (owned by the tokenizer). */
const char *trdi_clip_symbol_string(const trdi_tokenizer *tok, int32_t sym);
/* The vocabulary id of a symbol (the unk id when the vocabulary lacks it). */
int64_t trdi_clip_symbol_id(const trdi_tokenizer *tok, int32_t sym);

/* The initial symbols of one pre-tokenised piece of n bytes (n >= 1): bytes_to_unicode of each
 * byte, the last with "</w>". syms must hold n entries. */
void trdi_clip_word_symbols(const trdi_tokenizer *tok, const unsigned char *bytes, size_t n,
                            int32_t *syms);

/* Greedy lowest-rank BPE on syms[0..*n) in place; *n gets the merged length. */
trdi_status trdi_clip_bpe(const trdi_tokenizer *tok, trdi_clip_bpe_impl impl, int32_t *syms,
                          size_t *n);

/* trdi_tokenizer_encode_n with a chosen BPE implementation. */
trdi_status trdi_clip_encode(const trdi_tokenizer *tok, const char *prompt, size_t len,
                             int64_t max_length, trdi_clip_bpe_impl impl, trdi_tokens *out);

#endif /* TRDI_MODEL_CLIP_TOKENIZER_H */
