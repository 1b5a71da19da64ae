/* text_normalize.h -- text normalisation for the CLIP tokenizer (internal): UTF-8 <-> code points,
 * an ftfy.fix_text-like cleaner, whitespace_clean and Python's str.lower(). Not a general Unicode
 * library: it reproduces what transformers' CLIPTokenizer does to a prompt, nothing more.
 * See docs/tokenizer.md for what of ftfy is (and is not: mojibake repair) reproduced. */
#ifndef TRDI_MODEL_TEXT_NORMALIZE_H
#define TRDI_MODEL_TEXT_NORMALIZE_H

#include "trdi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable code point buffer. Zero-initialise; release with trdi_cpbuf_free. */
typedef struct trdi_cpbuf {
    int32_t *cp;
    size_t n;
    size_t cap;
} trdi_cpbuf;

void trdi_cpbuf_free(trdi_cpbuf *b);
/* Appends one code point / n code points. TRDI_ERR_NOMEM on allocation failure. */
trdi_status trdi_cpbuf_push(trdi_cpbuf *b, int32_t c);
trdi_status trdi_cpbuf_append(trdi_cpbuf *b, const int32_t *cp, size_t n);

/* Decodes n bytes of UTF-8 into `out` (appended). Invalid input never fails: every maximal invalid
 * subsequence becomes one U+FFFD, as Python's bytes.decode("utf-8", "replace") does; surrogates
 * and values above U+10FFFF are invalid. */
trdi_status trdi_utf8_decode(const char *s, size_t n, trdi_cpbuf *out);

/* Encodes code points as UTF-8 into a new NUL-terminated string (*out, free() it); *out_len (may
 * be NULL) gets its length without the NUL. */
trdi_status trdi_utf8_encode(const int32_t *cp, size_t n, char **out, size_t *out_len);

/* Appends the UTF-8 bytes of one code point (0..0x10FFFF) to buf (room for 4); returns the count.
 */
int trdi_utf8_put(int32_t c, char *buf);

/* ftfy.fix_text(text) with ftfy 6.3's default config, except mojibake repair (fix_encoding): per
 * line, HTML entity unescape (off from the first line holding a literal '<' on), C1 controls as
 * Windows-1252, Latin ligatures, full/half width forms, curly quotes, line breaks, ANSI escapes,
 * control characters, NFC; repeated until nothing changes. Writes to *out (replaced). */
trdi_status trdi_text_ftfy(const int32_t *in, size_t n, trdi_cpbuf *out);

/* whitespace_clean(): runs of regex \s (Unicode White_Space) -> one ' ', then str.strip(). */
trdi_status trdi_text_whitespace_clean(const int32_t *in, size_t n, trdi_cpbuf *out);

/* Python's str.lower(): full lower-case mapping (U+0130 -> "i\u0307") and the Final_Sigma rule. */
trdi_status trdi_text_lower(const int32_t *in, size_t n, trdi_cpbuf *out);

/* The whole CLIP normalisation: whitespace_clean(ftfy(text)).lower(). */
trdi_status trdi_text_clip_normalize(const int32_t *in, size_t n, trdi_cpbuf *out);

/* Convenience for tests/tools: UTF-8 in, UTF-8 out (new NUL-terminated string, free() it). */
trdi_status trdi_text_clip_normalize_utf8(const char *s, size_t n, char **out);

/* Character classes of the CLIP pre-tokeniser regex (the `regex` module with IGNORECASE):
 * \p{L}, \p{N}, \s. */
bool trdi_uni_is_letter(int32_t c);
bool trdi_uni_is_number(int32_t c);
bool trdi_uni_is_regex_space(int32_t c);
/* Python str.isspace() (used by str.strip()). */
bool trdi_uni_is_py_space(int32_t c);

#endif /* TRDI_MODEL_TEXT_NORMALIZE_H */
