/* test_tokenizer_normalize.c -- unit tests of the CLIP text normaliser
 * (src/model/text_normalize.c): UTF-8 decoding with replacement, each ftfy fix it reproduces,
 * whitespace_clean and Python's str.lower(). The expectations follow the documented behaviour of
 * ftfy 6.3 / CPython 3.11. */
#include "harness.h"
#include "model/text_normalize.h"

#include <stdlib.h>
#include <string.h>

static void check_norm(const char *in, const char *want, int line) {
    char *got = NULL;
    trdi_status st = trdi_text_clip_normalize_utf8(in, strlen(in), &got);
    if (st != TRDI_OK || !got || strcmp(got, want) != 0) {
        CHECK_MSG(0, "line %d: normalize('%s') = '%s', want '%s'", line, in, got ? got : "(null)",
                  want);
    } else {
        CHECK(1);
    }
    free(got);
}
#define NORM(in, want) check_norm(in, want, __LINE__)

static void test_utf8(void) {
    trdi_cpbuf b = {0};
    /* Maximal subparts: E2 82 is one incomplete sequence -> one U+FFFD, then 'x'. */
    CHECK(trdi_utf8_decode("\xE2\x82x", 3, &b) == TRDI_OK);
    CHECK(b.n == 2 && b.cp[0] == 0xFFFD && b.cp[1] == 'x');
    b.n = 0;
    /* Stray continuation, overlong C0, surrogate ED A0 80 (ED allows only 80..9F next), F5. */
    CHECK(trdi_utf8_decode("\x80\xC0\xAF\xED\xA0\x80\xF5", 7, &b) == TRDI_OK);
    CHECK(b.n == 7);
    for (size_t i = 0; i < b.n; i++)
        CHECK(b.cp[i] == 0xFFFD);
    b.n = 0;
    CHECK(trdi_utf8_decode("\xF0\x9F\x90\xB1", 4, &b) == TRDI_OK); /* U+1F431 */
    CHECK(b.n == 1 && b.cp[0] == 0x1F431);
    char *s = NULL;
    CHECK(trdi_utf8_encode(b.cp, b.n, &s, NULL) == TRDI_OK && s && !strcmp(s, "\xF0\x9F\x90\xB1"));
    free(s);
    trdi_cpbuf_free(&b);
}

static void test_ftfy(void) {
    /* HTML entities, repeated to a fixed point; numeric references; off when a '<' is present. */
    NORM("fish &amp; chips", "fish & chips");
    NORM("&amp;amp;", "&");
    NORM("&lt;3 it&#39;s &#x2764;", "<3 it's \xE2\x9D\xA4");
    NORM("P&EACUTE;REZ", "p\xC3\xA9rez");
    NORM("a <b> &amp; c", "a <b> &amp; c");
    NORM("&#59; &#xZZ; &nosuchentity; &#0;", "&#59; &#xzz; &nosuchentity; \xEF\xBF\xBD");
    /* '<' on the first line turns unescaping off for every later line too (ftfy's config). */
    NORM("<x>\n&amp;", "<x> &amp;");
    NORM("&amp;\n<x>", "& <x>");
    /* Curly quotes, ligatures, width, C1 controls as Windows-1252. */
    NORM("\xE2\x80\x9CHi\xE2\x80\x9D \xE2\x80\x98there\xE2\x80\x99", "\"hi\" 'there'");
    NORM("\xEF\xAC\x81"
         "ne \xEF\xAC\x82"
         "at",
         "fine flat");
    NORM("\xEF\xBC\xAC\xEF\xBC\xAF\xEF\xBC\xB5\xEF\xBC\xA4\xE3\x80\x80\xEF\xBC\x91", "loud 1");
    NORM("\xC2\x93"
         "quoted\xC2\x94",
         "\"quoted\"");
    /* Control characters removed, ANSI escapes stripped, BOM dropped, tab/newline are spaces. */
    NORM("a\x01"
         "b\x7F"
         "c\xEF\xBB\xBF"
         "d",
         "abcd");
    NORM("\x1B[31mred\x1B[0m text", "red text");
    NORM("\tline one\r\nline\xE2\x80\xA8two  ", "line one line two");
    /* NFC composes. */
    NORM("cafe\xCC\x81", "caf\xC3\xA9");
    /* Unchanged: emoji, CJK, ellipsis, em dash (ftfy leaves them). */
    NORM("\xF0\x9F\x90\xB1 \xE6\x9D\xB1\xE4\xBA\xAC \xE2\x80\xA6\xE2\x80\x94",
         "\xF0\x9F\x90\xB1 \xE6\x9D\xB1\xE4\xBA\xAC \xE2\x80\xA6\xE2\x80\x94");
}

static void test_lower_and_space(void) {
    /* str.lower(): U+0130 -> i + U+0307; Final_Sigma. */
    NORM("\xC4\xB0", "i\xCC\x87");
    NORM("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 \xCE\xA3 \xCE\x91\xCE\xA3.",
         "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82 \xCF\x83 \xCE\xB1\xCF\x82.");
    /* Unicode whitespace (NBSP, U+2003) collapses; empty and all-space give "". */
    NORM("a\xC2\xA0\xE2\x80\x83"
         "b",
         "a b");
    NORM("", "");
    NORM(" \t\n ", "");
    CHECK(trdi_uni_is_letter(0x6771) && !trdi_uni_is_letter('1') && trdi_uni_is_number(0xB2));
    CHECK(trdi_uni_is_regex_space(0x3000) && !trdi_uni_is_regex_space(0x1C) &&
          trdi_uni_is_py_space(0x1C));
}

int main(void) {
    test_utf8();
    test_ftfy();
    test_lower_and_space();
    return TEST_SUMMARY();
}
