/* text_normalize.c -- the text clean-up that transformers' CLIPTokenizer applies to a prompt:
 * whitespace_clean(ftfy.fix_text(text)).lower() (tokenization_clip.py, ftfy 6.3 fix_text and
 * fixes.py), plus UTF-8 decoding with replacement and the character classes of the pre-tokeniser.
 * It is not ftfy: mojibake detection and repair (fix_encoding with its badness heuristic) is left
 * out on purpose, see docs/tokenizer.md. Unicode data comes from utf8proc. */
#include "model/text_normalize.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------------------------------------- */
/* Code point buffers and UTF-8 */
/* ---------------------------------------------------------------------------------------------- */

void trdi_cpbuf_free(trdi_cpbuf *b) {
    if (!b) return;
    free(b->cp);
    b->cp = NULL;
    b->n = b->cap = 0;
}

static trdi_status cpbuf_reserve(trdi_cpbuf *b, size_t extra) {
    if (extra > SIZE_MAX / sizeof(int32_t) - b->n)
        return trdi_fail(TRDI_ERR_NOMEM, "text buffer: size overflow");
    size_t need = b->n + extra;
    if (need <= b->cap) return TRDI_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    int32_t *p = realloc(b->cp, cap * sizeof(int32_t));
    if (!p) return trdi_fail(TRDI_ERR_NOMEM, "text buffer: out of memory (%zu code points)", cap);
    b->cp = p;
    b->cap = cap;
    return TRDI_OK;
}

trdi_status trdi_cpbuf_push(trdi_cpbuf *b, int32_t c) {
    if (b->n == b->cap) {
        trdi_status st = cpbuf_reserve(b, 1);
        if (st != TRDI_OK) return st;
    }
    b->cp[b->n++] = c;
    return TRDI_OK;
}

trdi_status trdi_cpbuf_append(trdi_cpbuf *b, const int32_t *cp, size_t n) {
    if (n == 0) return TRDI_OK;
    trdi_status st = cpbuf_reserve(b, n);
    if (st != TRDI_OK) return st;
    memcpy(b->cp + b->n, cp, n * sizeof(int32_t));
    b->n += n;
    return TRDI_OK;
}

/* Swaps the contents of two buffers (to ping-pong between fix passes). */
static void cpbuf_swap(trdi_cpbuf *a, trdi_cpbuf *b) {
    trdi_cpbuf t = *a;
    *a = *b;
    *b = t;
}

trdi_status trdi_utf8_decode(const char *s, size_t n, trdi_cpbuf *out) {
    const unsigned char *p = (const unsigned char *)s;
    trdi_status st = cpbuf_reserve(out, n);
    if (st != TRDI_OK) return st;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            out->cp[out->n++] = (int32_t)c;
            i++;
            continue;
        }
        /* Lead byte: expected length and the allowed range of the second byte (Unicode 3.9,
         * table 3-7), so that each maximal invalid subpart gives one U+FFFD, like CPython. */
        int len = 0;
        unsigned lo = 0x80, hi = 0xBF;
        int32_t v = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            v = (int32_t)(c & 0x1F);
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            v = (int32_t)(c & 0x0F);
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            v = (int32_t)(c & 0x07);
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        }
        if (len == 0) { /* stray continuation byte, C0/C1 overlong lead, F5..FF */
            out->cp[out->n++] = 0xFFFD;
            i++;
            continue;
        }
        size_t j = i + 1;
        int k;
        for (k = 1; k < len; k++, j++) {
            if (j >= n) break;
            unsigned b = p[j];
            unsigned blo = (k == 1) ? lo : 0x80, bhi = (k == 1) ? hi : 0xBF;
            if (b < blo || b > bhi) break;
            v = (v << 6) | (int32_t)(b & 0x3F);
        }
        if (k == len) {
            out->cp[out->n++] = v;
        } else {
            out->cp[out->n++] = 0xFFFD;
        }
        i = j;
    }
    return TRDI_OK;
}

int trdi_utf8_put(int32_t c, char *buf) {
    unsigned char *o = (unsigned char *)buf;
    uint32_t u = (uint32_t)c;
    if (u > 0x10FFFF || (u >= 0xD800 && u <= 0xDFFF)) u = 0xFFFD;
    if (u < 0x80) {
        o[0] = (unsigned char)u;
        return 1;
    }
    if (u < 0x800) {
        o[0] = (unsigned char)(0xC0 | (u >> 6));
        o[1] = (unsigned char)(0x80 | (u & 0x3F));
        return 2;
    }
    if (u < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (u >> 12));
        o[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (u & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (u >> 18));
    o[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (u & 0x3F));
    return 4;
}

trdi_status trdi_utf8_encode(const int32_t *cp, size_t n, char **out, size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (n > (SIZE_MAX - 1) / 4) return trdi_fail(TRDI_ERR_NOMEM, "utf-8 encode: size overflow");
    char *s = malloc(n * 4 + 1);
    if (!s) return trdi_fail(TRDI_ERR_NOMEM, "utf-8 encode: out of memory");
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)trdi_utf8_put(cp[i], s + len);
    s[len] = '\0';
    *out = s;
    if (out_len) *out_len = len;
    return TRDI_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Character classes */
/* ---------------------------------------------------------------------------------------------- */

bool trdi_uni_is_letter(int32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return true;
    default:
        return false;
    }
}

bool trdi_uni_is_number(int32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

/* The `regex` module's \s: the White_Space property. */
bool trdi_uni_is_regex_space(int32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
    switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

/* str.isspace() also counts the information separators U+001C..U+001F. */
bool trdi_uni_is_py_space(int32_t c) {
    return trdi_uni_is_regex_space(c) || (c >= 0x1C && c <= 0x1F);
}

/* ---------------------------------------------------------------------------------------------- */
/* ftfy fixes */
/* ---------------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *value;
} html_entity;

static const html_entity html_entities[] = {
#include "model/html_entities.inc"
};

static const html_entity *find_entity(const char *name) {
    size_t lo = 0, hi = sizeof html_entities / sizeof html_entities[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(html_entities[mid].name, name);
        if (c == 0) return &html_entities[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Windows-1252 0x80..0x9F ("sloppy": the five undefined bytes map to themselves), as used by
 * ftfy's fix_c1_controls and by html.unescape's _invalid_charrefs. */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

static bool is_ascii_alnum(int32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_value(int32_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* html.unescape() of "&#...;" whose body is body[0..len): -1 keeps the text (html.unescape left a
 * ';' behind), -2 deletes it (_invalid_codepoints), else the code point. */
static int32_t numeric_charref(const int32_t *body, size_t len) {
    uint32_t num = 0;
    bool hex = len > 1 && (body[0] == 'x' || body[0] == 'X');
    size_t start = hex ? 1 : 0;
    if (len <= start) return -1;
    for (size_t i = start; i < len; i++) {
        int d =
            hex ? hex_value(body[i]) : ((body[i] >= '0' && body[i] <= '9') ? body[i] - '0' : -1);
        if (d < 0) return -1; /* html.unescape stops early; the ';' survives -> keep */
        num = num * (hex ? 16u : 10u) + (uint32_t)d;
        if (num > 0x110000) num = 0x110000; /* saturate: anything above U+10FFFF is U+FFFD */
    }
    if (num == 0) return 0xFFFD;
    if (num == 0x0D) return 0x0D;
    if (num >= 0x80 && num <= 0x9F) return cp1252_c1[num - 0x80];
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return 0xFFFD;
    if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
        (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) ||
        (num & 0xFFFE) == 0xFFFE)
        return -2;
    if (num == ';') return -1; /* ftfy: "the semicolon should be consumed" */
    return (int32_t)num;
}

/* ftfy.fixes.unescape_html: HTML_ENTITY_RE = &#?[0-9A-Za-z]{1,24}; substituted left to right. */
static trdi_status fix_unescape_html(const int32_t *in, size_t n, trdi_cpbuf *out) {
    trdi_status st = TRDI_OK;
    size_t i = 0;
    while (i < n && st == TRDI_OK) {
        if (in[i] != '&') {
            st = trdi_cpbuf_push(out, in[i++]);
            continue;
        }
        size_t j = i + 1;
        bool numeric = j < n && in[j] == '#';
        if (numeric) j++;
        size_t run = 0;
        while (j + run < n && is_ascii_alnum(in[j + run]) && run <= 24)
            run++;
        if (run < 1 || run > 24 || j + run >= n || in[j + run] != ';') {
            st = trdi_cpbuf_push(out, in[i++]);
            continue;
        }
        size_t end = j + run + 1; /* one past ';' */
        if (numeric) {
            int32_t v = numeric_charref(in + j, run);
            if (v == -1)
                st = trdi_cpbuf_append(out, in + i, end - i);
            else if (v >= 0)
                st = trdi_cpbuf_push(out, v);
        } else {
            char name[32];
            size_t k = 0;
            for (size_t q = i; q < end; q++)
                name[k++] = (char)in[q];
            name[k] = '\0';
            const html_entity *e = find_entity(name);
            if (e)
                st = trdi_utf8_decode(e->value, strlen(e->value), out);
            else
                st = trdi_cpbuf_append(out, in + i, end - i);
        }
        i = end;
    }
    return st;
}

/* fix_latin_ligatures: ftfy's LIGATURES table; returns the replacement or NULL. */
static const char *ligature(int32_t c) {
    switch (c) {
    case 0x0132:
        return "IJ";
    case 0x0133:
        return "ij";
    case 0x0149:
        return "\xCA\xBCn"; /* U+02BC n */
    case 0x01F1:
        return "DZ";
    case 0x01F2:
        return "Dz";
    case 0x01F3:
        return "dz";
    case 0x01C4:
        return "D\xC5\xBD"; /* D U+017D */
    case 0x01C5:
        return "D\xC5\xBE"; /* D U+017E */
    case 0x01C6:
        return "d\xC5\xBE";
    case 0x01C7:
        return "LJ";
    case 0x01C8:
        return "Lj";
    case 0x01C9:
        return "lj";
    case 0x01CA:
        return "NJ";
    case 0x01CB:
        return "Nj";
    case 0x01CC:
        return "nj";
    case 0xFB00:
        return "ff";
    case 0xFB01:
        return "fi";
    case 0xFB02:
        return "fl";
    case 0xFB03:
        return "ffi";
    case 0xFB04:
        return "ffl";
    case 0xFB05:
        return "\xC5\xBFt"; /* U+017F t */
    case 0xFB06:
        return "st";
    default:
        return NULL;
    }
}

/* fix_character_width: U+3000 -> ' ', U+FF01..U+FFEF -> NFKC(c) where that differs. */
static trdi_status width_map(int32_t c, trdi_cpbuf *out) {
    if (c == 0x3000) return trdi_cpbuf_push(out, ' ');
    char buf[5];
    int len = trdi_utf8_put(c, buf);
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)buf, len, &mapped,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    trdi_status st;
    if (m < 0)
        st = trdi_cpbuf_push(out, c); /* unassigned: NFKC leaves it */
    else
        st = trdi_utf8_decode((const char *)mapped, (size_t)m, out);
    free(mapped);
    return st;
}

/* remove_control_chars: ftfy's CONTROL_CHARS. */
static bool is_removed_control(int32_t c) {
    return (c >= 0x00 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* Python's \d for str patterns: Unicode decimal digits. */
static bool is_py_digit(int32_t c) {
    return (c >= '0' && c <= '9') || (c >= 0x80 && utf8proc_category(c) == UTF8PROC_CATEGORY_ND);
}

/* The per-character fixers of fix_and_explain, in ftfy's order (fix_c1_controls,
 * fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks; fix_surrogates has
 * nothing to do on decoded UTF-8), then remove_terminal_escapes and remove_control_chars. Each is
 * a whole-string pass in ftfy; they are applied as successive passes here too. */
static trdi_status fix_chars(const int32_t *in, size_t n, trdi_cpbuf *out, trdi_cpbuf *tmp) {
    trdi_status st = TRDI_OK;
    tmp->n = 0;
    /* fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes: each maps one
     * character to characters none of the later ones in this group changes back... except that the
     * width map can produce curly-quote-free ASCII and ligature output is ASCII or U+02BC/U+017F/
     * U+017D/U+017E; U+02BC is then uncurled, as in ftfy (uncurl runs after the ligature pass). */
    for (size_t i = 0; i < n && st == TRDI_OK; i++) {
        int32_t c = in[i];
        if (c >= 0x80 && c <= 0x9F) c = cp1252_c1[c - 0x80];
        const char *lig = ligature(c);
        if (lig) {
            size_t start = tmp->n;
            st = trdi_utf8_decode(lig, strlen(lig), tmp);
            for (size_t k = start; k < tmp->n; k++)
                if (tmp->cp[k] == 0x02BC) tmp->cp[k] = '\'';
            continue;
        }
        if (c == 0x3000 || (c >= 0xFF01 && c <= 0xFFEF)) {
            size_t start = tmp->n;
            st = width_map(c, tmp);
            for (size_t k = start; st == TRDI_OK && k < tmp->n; k++) {
                int32_t d = tmp->cp[k];
                if (d == 0x02BC || (d >= 0x2018 && d <= 0x201B)) tmp->cp[k] = '\'';
                if (d >= 0x201C && d <= 0x201F) tmp->cp[k] = '"';
            }
            continue;
        }
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B))
            c = '\'';
        else if (c >= 0x201C && c <= 0x201F)
            c = '"';
        st = trdi_cpbuf_push(tmp, c);
    }
    if (st != TRDI_OK) return st;
    /* fix_line_breaks: \r\n, \r, U+2028, U+2029, U+0085 -> \n. */
    out->n = 0;
    for (size_t i = 0; i < tmp->n && st == TRDI_OK; i++) {
        int32_t c = tmp->cp[i];
        if (c == '\r') {
            if (i + 1 < tmp->n && tmp->cp[i + 1] == '\n') i++;
            c = '\n';
        } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
            c = '\n';
        }
        st = trdi_cpbuf_push(out, c);
    }
    if (st != TRDI_OK) return st;
    /* remove_terminal_escapes: ANSI_RE = \033\[((?:\d|;)*)([a-zA-Z]). */
    tmp->n = 0;
    for (size_t i = 0; i < out->n && st == TRDI_OK; i++) {
        if (out->cp[i] == 0x1B && i + 1 < out->n && out->cp[i + 1] == '[') {
            size_t j = i + 2;
            while (j < out->n && (is_py_digit(out->cp[j]) || out->cp[j] == ';'))
                j++;
            if (j < out->n && out->cp[j] < 0x80 &&
                ((out->cp[j] >= 'a' && out->cp[j] <= 'z') ||
                 (out->cp[j] >= 'A' && out->cp[j] <= 'Z'))) {
                i = j;
                continue;
            }
        }
        st = trdi_cpbuf_push(tmp, out->cp[i]);
    }
    if (st != TRDI_OK) return st;
    /* remove_control_chars. */
    out->n = 0;
    for (size_t i = 0; i < tmp->n && st == TRDI_OK; i++)
        if (!is_removed_control(tmp->cp[i])) st = trdi_cpbuf_push(out, tmp->cp[i]);
    return st;
}

/* unicodedata.normalize("NFC", text) through utf8proc. */
static trdi_status nfc(const int32_t *in, size_t n, trdi_cpbuf *out) {
    out->n = 0;
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = in[i] < 0x80;
    if (ascii) return trdi_cpbuf_append(out, in, n); /* NFC is the identity on ASCII */
    char *s = NULL;
    size_t len = 0;
    trdi_status st = trdi_utf8_encode(in, n, &s, &len);
    if (st != TRDI_OK) return st;
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &mapped,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    free(s);
    if (m < 0) {
        /* Only unassigned code points can make utf8proc refuse: keep the text as it is. */
        free(mapped);
        return trdi_cpbuf_append(out, in, n);
    }
    st = trdi_utf8_decode((const char *)mapped, (size_t)m, out);
    free(mapped);
    return st;
}

static bool cp_equal(const trdi_cpbuf *a, const int32_t *b, size_t n) {
    return a->n == n && (n == 0 || memcmp(a->cp, b, n * sizeof(int32_t)) == 0);
}

/* fix_and_explain(segment) without fix_encoding: the fixers until a fixed point. */
static trdi_status fix_segment(const int32_t *seg, size_t n, bool unescape, trdi_cpbuf *out) {
    trdi_cpbuf cur = {0}, a = {0}, b = {0}, c = {0};
    trdi_status st = trdi_cpbuf_append(&cur, seg, n);
    /* Each pass either changes nothing (stop) or shrinks/rewrites text; ftfy loops the same way.
     * The bound only guards against a pathological cycle, which these fixers cannot produce. */
    for (int pass = 0; st == TRDI_OK && pass < 64; pass++) {
        a.n = 0;
        if (unescape) {
            st = fix_unescape_html(cur.cp, cur.n, &a);
        } else {
            st = trdi_cpbuf_append(&a, cur.cp, cur.n);
        }
        if (st == TRDI_OK) st = fix_chars(a.cp, a.n, &b, &c); /* c: scratch, never aliases a */
        if (st == TRDI_OK) st = nfc(b.cp, b.n, &a);
        if (st != TRDI_OK) break;
        bool same = cp_equal(&a, cur.cp, cur.n);
        cpbuf_swap(&a, &cur);
        if (same) break;
    }
    if (st == TRDI_OK) st = trdi_cpbuf_append(out, cur.cp, cur.n);
    trdi_cpbuf_free(&cur);
    trdi_cpbuf_free(&a);
    trdi_cpbuf_free(&b);
    trdi_cpbuf_free(&c);
    return st;
}

trdi_status trdi_text_ftfy(const int32_t *in, size_t n, trdi_cpbuf *out) {
    out->n = 0;
    /* ftfy.fix_text: lines (each keeps its '\n'), at most max_decode_length = 10^6 code points;
     * unescape_html="auto" turns off for good at the first segment containing '<'. */
    const size_t max_decode_length = 1000000;
    bool unescape = true;
    size_t pos = 0;
    trdi_status st = TRDI_OK;
    while (pos < n && st == TRDI_OK) {
        size_t end = pos;
        while (end < n && in[end] != '\n')
            end++;
        end = end < n ? end + 1 : n;
        if (end - pos > max_decode_length) end = pos + max_decode_length;
        for (size_t i = pos; i < end && unescape; i++)
            if (in[i] == '<') unescape = false;
        st = fix_segment(in + pos, end - pos, unescape, out);
        pos = end;
    }
    return st;
}

trdi_status trdi_text_whitespace_clean(const int32_t *in, size_t n, trdi_cpbuf *out) {
    out->n = 0;
    trdi_status st = TRDI_OK;
    for (size_t i = 0; i < n && st == TRDI_OK; i++) {
        if (trdi_uni_is_regex_space(in[i])) {
            while (i + 1 < n && trdi_uni_is_regex_space(in[i + 1]))
                i++;
            st = trdi_cpbuf_push(out, ' ');
        } else {
            st = trdi_cpbuf_push(out, in[i]);
        }
    }
    if (st != TRDI_OK) return st;
    size_t lo = 0, hi = out->n;
    while (lo < hi && trdi_uni_is_py_space(out->cp[lo]))
        lo++;
    while (hi > lo && trdi_uni_is_py_space(out->cp[hi - 1]))
        hi--;
    if (lo > 0) memmove(out->cp, out->cp + lo, (hi - lo) * sizeof(int32_t));
    out->n = hi - lo;
    return TRDI_OK;
}

/* Unicode "Cased" (Lowercase, Uppercase or Lt), approximated through the case mappings. */
static bool is_cased(int32_t c) {
    utf8proc_category_t cat = utf8proc_category(c);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT)
        return true;
    return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

/* Unicode "Case_Ignorable": Mn, Me, Cf, Lm, Sk and the Word_Break MidLetter / MidNumLet /
 * Single_Quote characters. */
static bool is_case_ignorable(int32_t c) {
    switch (c) {
    case 0x27:
    case 0x2E:
    case 0x3A:
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
        return true;
    default:
        break;
    }
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        return false;
    }
}

/* CPython's handle_capital_sigma(): \p{cased}\p{case-ignorable}* SIGMA
 * !(\p{case-ignorable}*\p{cased}). */
static bool final_sigma(const int32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(s[j - 1]))
        j--;
    if (j == 0 || !is_cased(s[j - 1])) return false;
    j = i + 1;
    while (j < n && is_case_ignorable(s[j]))
        j++;
    return j == n || !is_cased(s[j]);
}

trdi_status trdi_text_lower(const int32_t *in, size_t n, trdi_cpbuf *out) {
    out->n = 0;
    trdi_status st = cpbuf_reserve(out, n);
    for (size_t i = 0; i < n && st == TRDI_OK; i++) {
        int32_t c = in[i];
        if (c < 0x80) {
            st = trdi_cpbuf_push(out, (c >= 'A' && c <= 'Z') ? c + 32 : c);
        } else if (c == 0x130) { /* SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE */
            st = trdi_cpbuf_push(out, 'i');
            if (st == TRDI_OK) st = trdi_cpbuf_push(out, 0x307);
        } else if (c == 0x3A3) {
            st = trdi_cpbuf_push(out, final_sigma(in, n, i) ? 0x3C2 : 0x3C3);
        } else {
            st = trdi_cpbuf_push(out, utf8proc_tolower(c));
        }
    }
    return st;
}

trdi_status trdi_text_clip_normalize(const int32_t *in, size_t n, trdi_cpbuf *out) {
    trdi_cpbuf a = {0}, b = {0};
    trdi_status st = trdi_text_ftfy(in, n, &a);
    if (st == TRDI_OK) st = trdi_text_whitespace_clean(a.cp, a.n, &b);
    if (st == TRDI_OK) st = trdi_text_lower(b.cp, b.n, out);
    trdi_cpbuf_free(&a);
    trdi_cpbuf_free(&b);
    return st;
}

trdi_status trdi_text_clip_normalize_utf8(const char *s, size_t n, char **out) {
    *out = NULL;
    trdi_cpbuf in = {0}, norm = {0};
    trdi_status st = trdi_utf8_decode(s, n, &in);
    if (st == TRDI_OK) st = trdi_text_clip_normalize(in.cp, in.n, &norm);
    if (st == TRDI_OK) st = trdi_utf8_encode(norm.cp, norm.n, out, NULL);
    trdi_cpbuf_free(&in);
    trdi_cpbuf_free(&norm);
    return st;
}
