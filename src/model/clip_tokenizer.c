/* clip_tokenizer.c -- the CLIP BPE tokenizer: transformers' slow CLIPTokenizer
 * (tokenization_clip.py, v4.47) plus the added-token split of PreTrainedTokenizer.tokenize and the
 * pipelines' call tokenizer(prompt, padding="max_length", max_length=77, truncation=True). Text
 * normalisation lives in text_normalize.c. It is not the fast (Rust) tokenizer and not OpenCLIP's
 * SimpleTokenizer (which splits no added tokens and pads with 0). */
#include "model/clip_tokenizer.h"

#include "core/core.h"
#include "model/text_normalize.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* transformers keeps merges lines 1 .. 49152 - 256 - 2 of merges.txt (line 0 is "#version"). */
enum { CLIP_MAX_MERGES = 49152 - 256 - 2 };
/* Vocabulary ids above this are rejected as malformed (CLIP has 49408). */
#define CLIP_MAX_ID ((int64_t)1 << 24)

typedef struct added_token {
    char *content; /* UTF-8 */
    int32_t *cp;   /* its code points, for matching the decoded prompt */
    size_t n_cp;
    int64_t id;
    bool lstrip, rstrip;
} added_token;

struct trdi_tokenizer {
    /* Symbols: every string BPE can produce. sym_vocab = vocab id or -1. */
    char **sym_str;
    int64_t *sym_vocab;
    size_t n_sym, cap_sym;
    /* Open-addressing set of symbol indices keyed by their string (power-of-two size). */
    int32_t *str_slots;
    uint32_t *str_tags; /* high hash bits of each slot: most probes skip the string compare */
    size_t str_cap;
    /* Merges: key (left << 32 | right) -> rank and merged symbol (power-of-two size). */
    uint64_t *m_key;
    uint32_t *m_rank;
    int32_t *m_result;
    size_t m_cap;
    size_t n_merges;
    /* bytes_to_unicode symbols, alone and with "</w>". */
    int32_t byte_sym[256];
    int32_t byte_end_sym[256];
    /* Regex literals <|startoftext|> / <|endoftext|> (BPE returns them unchanged). */
    int32_t sot_sym, eot_sym;
    /* id -> string (NULL for holes). */
    const char **id_str;
    int64_t id_cap;
    added_token *added;
    size_t n_added;
    int64_t bos_id, eos_id, pad_id, unk_id;
    int64_t vocab_size;
    int64_t model_max_length;
};

/* ---------------------------------------------------------------------------------------------- */
/* Small helpers */
/* ---------------------------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    /* FNV's low bits mix poorly and the table uses the low bits: finish with a 64-bit mixer. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

/* Reads a whole file. *exists = false (and TRDI_OK) when it does not exist and `optional`. */
static trdi_status read_file(const char *path, bool optional, char **out, size_t *len,
                             bool *exists) {
    *out = NULL;
    *len = 0;
    if (exists) *exists = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (optional && errno == ENOENT) return TRDI_OK;
        return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap > ((size_t)1 << 30)) {
            free(buf);
            fclose(f);
            return trdi_fail(TRDI_ERR_FORMAT, "%s: larger than 1 GiB", path);
        }
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        fclose(f);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory reading it", path);
    }
    bool err = ferror(f) != 0;
    fclose(f);
    if (err) {
        free(buf);
        return trdi_fail(TRDI_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    if (exists) *exists = true;
    return TRDI_OK;
}

static int64_t line_of(const char *text, size_t offset) {
    int64_t line = 1;
    for (size_t i = 0; i < offset; i++)
        if (text[i] == '\n') line++;
    return line;
}

/* Parses JSON text, reporting syntax errors with the file's line and column. */
static trdi_status parse_json(const char *path, const char *text, size_t len, cJSON **out) {
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (*out) return TRDI_OK;
    size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    size_t col = 1;
    for (size_t i = off; i > 0 && text[i - 1] != '\n'; i--)
        col++;
    return trdi_fail(TRDI_ERR_FORMAT, "%s:%lld:%zu: invalid JSON", path,
                     (long long)line_of(text, off), col);
}

/* ---------------------------------------------------------------------------------------------- */
/* Symbol table */
/* ---------------------------------------------------------------------------------------------- */

static int32_t sym_find(const trdi_tokenizer *t, const char *s, size_t n) {
    size_t mask = t->str_cap - 1;
    uint64_t h = hash_bytes(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        int32_t k = t->str_slots[i];
        if (k < 0) return -1;
        if (t->str_tags[i] != tag) continue;
        const char *ks = t->sym_str[k];
        if (strncmp(ks, s, n) == 0 && ks[n] == '\0') return k;
    }
}

/* Puts symbol k (hash h) into the first free slot of its probe sequence. */
static void sym_place(int32_t *slots, uint32_t *tags, size_t cap, uint64_t h, int32_t k) {
    size_t i = (size_t)h & (cap - 1);
    while (slots[i] >= 0)
        i = (i + 1) & (cap - 1);
    slots[i] = k;
    tags[i] = (uint32_t)(h >> 32);
}

static trdi_status sym_rehash(trdi_tokenizer *t, size_t cap) {
    int32_t *slots = trdi_mallocn(cap, sizeof(int32_t));
    uint32_t *tags = trdi_mallocn(cap, sizeof(uint32_t));
    if (!slots || !tags) {
        free(slots);
        free(tags);
        return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (symbol table)");
    }
    for (size_t i = 0; i < cap; i++)
        slots[i] = -1;
    for (size_t k = 0; k < t->n_sym; k++) {
        const char *s = t->sym_str[k];
        sym_place(slots, tags, cap, hash_bytes(s, strlen(s)), (int32_t)k);
    }
    free(t->str_slots);
    free(t->str_tags);
    t->str_slots = slots;
    t->str_tags = tags;
    t->str_cap = cap;
    return TRDI_OK;
}

/* Finds or adds the symbol for s[0..n); *sym gets its index. */
static trdi_status sym_intern(trdi_tokenizer *t, const char *s, size_t n, int32_t *sym) {
    int32_t k = sym_find(t, s, n);
    if (k >= 0) {
        *sym = k;
        return TRDI_OK;
    }
    if (t->n_sym >= (size_t)INT32_MAX / 2)
        return trdi_fail(TRDI_ERR_FORMAT, "tokenizer: too many symbols");
    if (t->n_sym == t->cap_sym) {
        size_t cap = t->cap_sym ? t->cap_sym * 2 : 1024;
        char **ns = realloc(t->sym_str, cap * sizeof(char *));
        if (!ns) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (symbols)");
        t->sym_str = ns;
        int64_t *nv = realloc(t->sym_vocab, cap * sizeof(int64_t));
        if (!nv) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (symbols)");
        t->sym_vocab = nv;
        t->cap_sym = cap;
    }
    char *d = dup_n(s, n);
    if (!d) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (symbols)");
    t->sym_str[t->n_sym] = d;
    t->sym_vocab[t->n_sym] = -1;
    k = (int32_t)t->n_sym++;
    /* Keep the load factor under 1/2. */
    if (t->n_sym * 2 > t->str_cap) {
        trdi_status st = sym_rehash(t, t->str_cap * 2);
        if (st != TRDI_OK) return st;
    } else {
        sym_place(t->str_slots, t->str_tags, t->str_cap, hash_bytes(s, n), k);
    }
    *sym = k;
    return TRDI_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Merges */
/* ---------------------------------------------------------------------------------------------- */

static inline uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

/* Rank of the pair (a, b), or UINT32_MAX when it is not a merge; *result gets the merged symbol. */
static inline uint32_t merge_rank(const trdi_tokenizer *t, int32_t a, int32_t b, int32_t *result) {
    uint64_t key = pair_key(a, b);
    size_t mask = t->m_cap - 1;
    for (size_t i = (size_t)hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (t->m_rank[i] == UINT32_MAX) return UINT32_MAX;
        if (t->m_key[i] == key) {
            if (result) *result = t->m_result[i];
            return t->m_rank[i];
        }
    }
}

/* Inserts or overwrites (dict(zip(merges, range)) keeps the last rank of a repeated pair). */
static void merge_put(trdi_tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t result) {
    uint64_t key = pair_key(a, b);
    size_t mask = t->m_cap - 1;
    size_t i = (size_t)hash_u64(key) & mask;
    while (t->m_rank[i] != UINT32_MAX && t->m_key[i] != key)
        i = (i + 1) & mask;
    if (t->m_rank[i] == UINT32_MAX) t->n_merges++;
    t->m_key[i] = key;
    t->m_rank[i] = rank;
    t->m_result[i] = result;
}

static bool is_py_ws_byte(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
           (c >= 0x1C && c <= 0x1F);
}

static trdi_status load_merges(trdi_tokenizer *t, const char *path) {
    char *text = NULL;
    size_t len = 0;
    trdi_status st = read_file(path, false, &text, &len, NULL);
    if (st != TRDI_OK) return st;
    /* Room for every merge at load factor <= 1/2. */
    size_t cap = 1;
    while (cap < 2 * (size_t)CLIP_MAX_MERGES + 2)
        cap <<= 1;
    t->m_cap = cap;
    t->m_key = trdi_mallocn(cap, sizeof(uint64_t));
    t->m_rank = trdi_mallocn(cap, sizeof(uint32_t));
    t->m_result = trdi_mallocn(cap, sizeof(int32_t));
    if (!t->m_key || !t->m_rank || !t->m_result) {
        free(text);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory for the merge table", path);
    }
    for (size_t i = 0; i < cap; i++)
        t->m_rank[i] = UINT32_MAX;

    /* merges_handle.read().strip().split("\n")[1 : 49152 - 256 - 2 + 1]: line 0 is skipped
     * whatever it says (normally "#version: 0.2"). */
    size_t lo = 0, hi = len;
    while (lo < hi && is_py_ws_byte(text[lo]))
        lo++;
    while (hi > lo && is_py_ws_byte(text[hi - 1]))
        hi--;
    int64_t file_line = line_of(text, lo);
    size_t pos = lo;
    int64_t index = 0;
    char *joined = NULL;
    size_t joined_cap = 0;
    while (pos < hi && st == TRDI_OK) {
        size_t eol = pos;
        while (eol < hi && text[eol] != '\n')
            eol++;
        if (index >= 1 && index <= CLIP_MAX_MERGES) {
            /* merge.split(): whitespace-separated fields; a merge has exactly two. */
            const char *f[3];
            size_t fl[3];
            int nf = 0;
            size_t i = pos;
            while (i < eol) {
                while (i < eol && is_py_ws_byte(text[i]))
                    i++;
                if (i >= eol) break;
                size_t s = i;
                while (i < eol && !is_py_ws_byte(text[i]))
                    i++;
                if (nf < 3) {
                    f[nf] = text + s;
                    fl[nf] = i - s;
                }
                nf++;
            }
            if (nf != 2) {
                st = trdi_fail(
                    TRDI_ERR_FORMAT,
                    "%s:%lld: a merge needs two space-separated symbols, found %d field%s", path,
                    (long long)file_line, nf, nf == 1 ? "" : "s");
                break;
            }
            int32_t a, b, r;
            st = sym_intern(t, f[0], fl[0], &a);
            if (st == TRDI_OK) st = sym_intern(t, f[1], fl[1], &b);
            if (st != TRDI_OK) break;
            if (fl[0] + fl[1] + 1 > joined_cap) {
                joined_cap = (fl[0] + fl[1] + 1) * 2;
                char *nj = realloc(joined, joined_cap);
                if (!nj) {
                    st = trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
                joined = nj;
            }
            memcpy(joined, f[0], fl[0]);
            memcpy(joined + fl[0], f[1], fl[1]);
            st = sym_intern(t, joined, fl[0] + fl[1], &r);
            if (st != TRDI_OK) break;
            merge_put(t, a, b, (uint32_t)(index - 1), r);
        }
        index++;
        file_line++;
        pos = eol + 1;
    }
    free(joined);
    free(text);
    if (st == TRDI_OK && index <= 1)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: no merges (expected a '#version' line, then one merge per line)",
                         path);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Vocabulary and configs */
/* ---------------------------------------------------------------------------------------------- */

static trdi_status set_id_string(trdi_tokenizer *t, int64_t id, const char *s) {
    if (id >= t->id_cap) {
        int64_t cap = t->id_cap ? t->id_cap : 1024;
        while (cap <= id)
            cap *= 2;
        const char **n = realloc(t->id_str, (size_t)cap * sizeof(char *));
        if (!n) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (id table)");
        for (int64_t i = t->id_cap; i < cap; i++)
            n[i] = NULL;
        t->id_str = n;
        t->id_cap = cap;
    }
    t->id_str[id] = s;
    return TRDI_OK;
}

static trdi_status load_vocab(trdi_tokenizer *t, const char *path) {
    char *text = NULL;
    size_t len = 0;
    trdi_status st = read_file(path, false, &text, &len, NULL);
    if (st != TRDI_OK) return st;
    cJSON *root = NULL;
    st = parse_json(path, text, len, &root);
    free(text);
    if (st != TRDI_OK) return st;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: expected a JSON object {token: id}", path);
    }
    int64_t count = 0;
    for (cJSON *e = root->child; e && st == TRDI_OK; e = e->next) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1.0;
        if (!cJSON_IsNumber(e) || !(v >= 0 && v < (double)CLIP_MAX_ID) || v != floor(v)) {
            st = trdi_fail(TRDI_ERR_FORMAT,
                           "%s: entry %lld (\"%.40s\"): id must be an integer in [0, %lld)", path,
                           (long long)count, e->string ? e->string : "", (long long)CLIP_MAX_ID);
            break;
        }
        if (!e->string || !*e->string) {
            st = trdi_fail(TRDI_ERR_FORMAT, "%s: entry %lld: empty token string", path,
                           (long long)count);
            break;
        }
        int32_t s;
        size_t before = t->n_sym;
        st = sym_intern(t, e->string, strlen(e->string), &s);
        bool fresh = t->n_sym > before;
        if (st != TRDI_OK) break;
        t->sym_vocab[s] = (int64_t)v; /* a repeated key keeps its last id, as json.load does */
        st = set_id_string(t, (int64_t)v, t->sym_str[s]);
        if (fresh) count++;
    }
    cJSON_Delete(root);
    if (st == TRDI_OK && count == 0)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: empty vocabulary", path);
    t->vocab_size = count;
    return st;
}

/* A token setting: "text" or {"content": "text", "lstrip": bool, "rstrip": bool, ...}. */
typedef struct token_spec {
    const char *content; /* borrowed from the cJSON tree, NULL when absent/null */
    bool lstrip, rstrip;
} token_spec;

static trdi_status read_token_spec(const char *path, const char *key, const cJSON *v,
                                   token_spec *out) {
    out->content = NULL;
    out->lstrip = out->rstrip = false;
    if (!v || cJSON_IsNull(v)) return TRDI_OK;
    if (cJSON_IsString(v)) {
        out->content = v->valuestring;
        return TRDI_OK;
    }
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (!cJSON_IsString(c))
            return trdi_fail(TRDI_ERR_FORMAT,
                             "%s: \"%s\": an added token needs a string \"content\"", path, key);
        out->content = c->valuestring;
        out->lstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "lstrip"));
        out->rstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "rstrip"));
        return TRDI_OK;
    }
    return trdi_fail(TRDI_ERR_FORMAT, "%s: \"%s\" must be a string or a token object", path, key);
}

static added_token *find_added(const trdi_tokenizer *t, const char *content) {
    for (size_t i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].content, content)) return &t->added[i];
    return NULL;
}

/* PreTrainedTokenizer._add_tokens: an added token keeps an explicit id, else its vocab id, else
 * the next free id. Already-added contents are left alone. */
static trdi_status add_token(trdi_tokenizer *t, const token_spec *spec, int64_t explicit_id) {
    if (!spec->content || !*spec->content || find_added(t, spec->content)) return TRDI_OK;
    added_token *n = realloc(t->added, (t->n_added + 1) * sizeof(added_token));
    if (!n) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (added tokens)");
    t->added = n;
    added_token *a = &t->added[t->n_added];
    memset(a, 0, sizeof *a);
    a->content = dup_n(spec->content, strlen(spec->content));
    if (!a->content) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (added tokens)");
    t->n_added++;
    trdi_cpbuf cp = {0};
    trdi_status st = trdi_utf8_decode(a->content, strlen(a->content), &cp);
    if (st != TRDI_OK) {
        trdi_cpbuf_free(&cp);
        return st;
    }
    a->cp = cp.cp;
    a->n_cp = cp.n;
    a->lstrip = spec->lstrip;
    a->rstrip = spec->rstrip;
    if (explicit_id >= 0) {
        a->id = explicit_id;
    } else {
        int32_t s = sym_find(t, a->content, strlen(a->content));
        if (s >= 0 && t->sym_vocab[s] >= 0) {
            a->id = t->sym_vocab[s];
        } else {
            a->id = t->vocab_size;
            t->vocab_size++;
        }
    }
    if (a->id >= t->id_cap || !t->id_str[a->id]) return set_id_string(t, a->id, a->content);
    return TRDI_OK;
}

static int64_t token_id(const trdi_tokenizer *t, const char *content) {
    const added_token *a = find_added(t, content);
    if (a) return a->id;
    int32_t s = sym_find(t, content, strlen(content));
    if (s >= 0 && t->sym_vocab[s] >= 0) return t->sym_vocab[s];
    return -1;
}

/* Reads an optional JSON config file into *root (NULL when absent). */
static trdi_status load_optional_json(const char *dir, const char *name, char **path_out,
                                      cJSON **root) {
    *root = NULL;
    char *path = path_join(dir, name);
    *path_out = path;
    if (!path) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory");
    char *text = NULL;
    size_t len = 0;
    bool exists = false;
    trdi_status st = read_file(path, true, &text, &len, &exists);
    if (st != TRDI_OK || !exists) return st;
    st = parse_json(path, text, len, root);
    free(text);
    if (st == TRDI_OK && !cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return trdi_fail(TRDI_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    return st;
}

static trdi_status load_configs(trdi_tokenizer *t, const char *dir) {
    char *cfg_path = NULL, *map_path = NULL;
    cJSON *cfg = NULL, *map = NULL;
    trdi_status st = load_optional_json(dir, "tokenizer_config.json", &cfg_path, &cfg);
    if (st == TRDI_OK) st = load_optional_json(dir, "special_tokens_map.json", &map_path, &map);

    /* 1. added_tokens_decoder: {"id": {content, ...}} with explicit ids. */
    const cJSON *dec = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder") : NULL;
    if (st == TRDI_OK && dec && !cJSON_IsObject(dec))
        st = trdi_fail(TRDI_ERR_FORMAT, "%s: \"added_tokens_decoder\" must be an object", cfg_path);
    for (const cJSON *e = dec ? dec->child : NULL; e && st == TRDI_OK; e = e->next) {
        char *end = NULL;
        errno = 0;
        long long id = e->string ? strtoll(e->string, &end, 10) : -1;
        if (!e->string || errno || !end || *end || id < 0 || id >= CLIP_MAX_ID) {
            st = trdi_fail(TRDI_ERR_FORMAT,
                           "%s: added_tokens_decoder key \"%.40s\" is not a valid id", cfg_path,
                           e->string ? e->string : "");
            break;
        }
        token_spec spec;
        st = read_token_spec(cfg_path, e->string, e, &spec);
        if (st == TRDI_OK) st = add_token(t, &spec, (int64_t)id);
    }

    /* 2. Special tokens: special_tokens_map.json overrides tokenizer_config.json (as in
     * from_pretrained); CLIPTokenizer's defaults otherwise. */
    static const char *const keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    static const char *const defaults[4] = {"<|startoftext|>", "<|endoftext|>", "<|endoftext|>",
                                            "<|endoftext|>"};
    token_spec specs[4];
    for (int k = 0; k < 4 && st == TRDI_OK; k++) {
        const cJSON *v = map ? cJSON_GetObjectItemCaseSensitive(map, keys[k]) : NULL;
        const char *from = map_path;
        if (!v || cJSON_IsNull(v)) {
            v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, keys[k]) : NULL;
            from = cfg_path;
        }
        st = read_token_spec(from, keys[k], v, &specs[k]);
        if (!specs[k].content) specs[k].content = defaults[k];
    }
    /* Registration order of PreTrainedTokenizer.__init__: bos, eos, unk, pad, additional. */
    for (int k = 0; k < 4 && st == TRDI_OK; k++)
        st = add_token(t, &specs[k], -1);
    for (int which = 0; which < 2 && st == TRDI_OK; which++) {
        const cJSON *root = which == 0 ? map : cfg;
        const char *path = which == 0 ? map_path : cfg_path;
        const cJSON *extra =
            root ? cJSON_GetObjectItemCaseSensitive(root, "additional_special_tokens") : NULL;
        if (extra && !cJSON_IsArray(extra) && !cJSON_IsNull(extra)) {
            st = trdi_fail(TRDI_ERR_FORMAT, "%s: \"additional_special_tokens\" must be a list",
                           path);
            break;
        }
        for (const cJSON *e = extra ? extra->child : NULL; e && st == TRDI_OK; e = e->next) {
            token_spec spec;
            st = read_token_spec(path, "additional_special_tokens", e, &spec);
            if (st == TRDI_OK) st = add_token(t, &spec, -1);
        }
    }
    if (st == TRDI_OK) {
        t->bos_id = token_id(t, specs[0].content);
        t->eos_id = token_id(t, specs[1].content);
        t->unk_id = token_id(t, specs[2].content);
        t->pad_id = token_id(t, specs[3].content);
        t->model_max_length = 77;
        const cJSON *m = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "model_max_length") : NULL;
        /* Some configs store a huge sentinel (1e30) for "no limit": keep CLIP's 77 then. */
        if (cJSON_IsNumber(m) && m->valuedouble >= 2 && m->valuedouble <= 1e6)
            t->model_max_length = (int64_t)m->valuedouble;
    }
    cJSON_Delete(cfg);
    cJSON_Delete(map);
    free(cfg_path);
    free(map_path);
    return st;
}

/* GPT-2 bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100 upwards in byte order. */
static int32_t byte_to_unicode(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
    return 256 + n;
}

static trdi_status build_byte_symbols(trdi_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char buf[16];
        int len = trdi_utf8_put(byte_to_unicode(b), buf);
        trdi_status st = sym_intern(t, buf, (size_t)len, &t->byte_sym[b]);
        if (st != TRDI_OK) return st;
        memcpy(buf + len, "</w>", 4);
        st = sym_intern(t, buf, (size_t)len + 4, &t->byte_end_sym[b]);
        if (st != TRDI_OK) return st;
    }
    trdi_status st = sym_intern(t, "<|startoftext|>", 15, &t->sot_sym);
    if (st == TRDI_OK) st = sym_intern(t, "<|endoftext|>", 13, &t->eot_sym);
    return st;
}

trdi_status trdi_tokenizer_load(const char *dir, trdi_tokenizer **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_tokenizer_load: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_tokenizer_load: dir is empty");
    trdi_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory");
    t->bos_id = t->eos_id = t->pad_id = t->unk_id = -1;
    trdi_status st = sym_rehash(t, 1 << 17);
    char *vocab_path = path_join(dir, "vocab.json");
    char *merges_path = path_join(dir, "merges.txt");
    if (st == TRDI_OK && (!vocab_path || !merges_path))
        st = trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory");
    if (st == TRDI_OK) st = load_vocab(t, vocab_path);
    if (st == TRDI_OK) st = build_byte_symbols(t);
    if (st == TRDI_OK) st = load_merges(t, merges_path);
    if (st == TRDI_OK) st = load_configs(t, dir);
    if (st == TRDI_OK) {
        const char *which = t->bos_id < 0   ? "bos"
                            : t->eos_id < 0 ? "eos"
                            : t->pad_id < 0 ? "pad"
                                            : NULL;
        if (!which && t->unk_id < 0) which = "unk";
        if (which)
            st = trdi_fail(TRDI_ERR_FORMAT,
                           "%s: the %s token is in neither vocab.json nor the added tokens", dir,
                           which);
    }
    free(vocab_path);
    free(merges_path);
    if (st != TRDI_OK) {
        trdi_tokenizer_free(t);
        return st;
    }
    *out = t;
    return TRDI_OK;
}

void trdi_tokenizer_free(trdi_tokenizer *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_sym; i++)
        free(t->sym_str[i]);
    free(t->sym_str);
    free(t->sym_vocab);
    free(t->str_slots);
    free(t->str_tags);
    free(t->m_key);
    free(t->m_rank);
    free(t->m_result);
    free(t->id_str);
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].cp);
    }
    free(t->added);
    free(t);
}

int64_t trdi_tokenizer_bos_id(const trdi_tokenizer *t) {
    return t ? t->bos_id : -1;
}
int64_t trdi_tokenizer_eos_id(const trdi_tokenizer *t) {
    return t ? t->eos_id : -1;
}
int64_t trdi_tokenizer_pad_id(const trdi_tokenizer *t) {
    return t ? t->pad_id : -1;
}
int64_t trdi_tokenizer_vocab_size(const trdi_tokenizer *t) {
    return t ? t->vocab_size : 0;
}
int64_t trdi_tokenizer_model_max_length(const trdi_tokenizer *t) {
    return t ? t->model_max_length : 0;
}
const char *trdi_tokenizer_token_string(const trdi_tokenizer *t, int64_t id) {
    if (!t || id < 0 || id >= t->id_cap) return NULL;
    return t->id_str[id];
}

int64_t trdi_clip_num_symbols(const trdi_tokenizer *t) {
    return (int64_t)t->n_sym;
}
const char *trdi_clip_symbol_string(const trdi_tokenizer *t, int32_t sym) {
    return (sym >= 0 && (size_t)sym < t->n_sym) ? t->sym_str[sym] : NULL;
}
int64_t trdi_clip_symbol_id(const trdi_tokenizer *t, int32_t sym) {
    if (sym < 0 || (size_t)sym >= t->n_sym || t->sym_vocab[sym] < 0) return t->unk_id;
    return t->sym_vocab[sym];
}

void trdi_clip_word_symbols(const trdi_tokenizer *t, const unsigned char *bytes, size_t n,
                            int32_t *syms) {
    for (size_t i = 0; i + 1 < n; i++)
        syms[i] = t->byte_sym[bytes[i]];
    if (n > 0) syms[n - 1] = t->byte_end_sym[bytes[n - 1]];
}

/* ---------------------------------------------------------------------------------------------- */
/* BPE */
/* ---------------------------------------------------------------------------------------------- */

/* CLIPTokenizer.bpe as written: find the lowest-rank adjacent pair, merge every occurrence left to
 * right (non-overlapping), repeat until no pair is a merge or one symbol is left. */
static trdi_status bpe_reference(const trdi_tokenizer *t, int32_t *w, size_t *np) {
    size_t n = *np;
    while (n > 1) {
        uint32_t best = UINT32_MAX;
        int32_t a = 0, b = 0, merged = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r;
            uint32_t rank = merge_rank(t, w[i], w[i + 1], &r);
            if (rank < best) {
                best = rank;
                a = w[i];
                b = w[i + 1];
                merged = r;
            }
        }
        if (best == UINT32_MAX) break;
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && w[i] == a && w[i + 1] == b) {
                w[o++] = merged;
                i += 2;
            } else {
                w[o++] = w[i++];
            }
        }
        n = o;
    }
    *np = n;
    return TRDI_OK;
}

/* Min-heap of (rank << 32 | position) keys. */
static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0];
    uint64_t v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = v;
    return top;
}

/* The same result as bpe_reference in O(n log n): candidate pairs live in a heap keyed by (rank,
 * left position) over a doubly linked list of symbols. All occurrences of the lowest rank are
 * merged as one batch in left-to-right order, and the pairs that batch creates enter the heap only
 * after it, so that the merge order is exactly the reference loop's. Stale entries are dropped
 * when popped by re-checking the pair at their position. */
static trdi_status bpe_heap(const trdi_tokenizer *t, int32_t *w, size_t *np) {
    size_t n = *np;
    if (n < 2) return TRDI_OK;
    if (n > UINT32_MAX / 2)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "bpe: word of %zu symbols is too long", n);
    int32_t *prev = trdi_mallocn(n, sizeof(int32_t));
    int32_t *next = trdi_mallocn(n, sizeof(int32_t));
    /* Each merge pushes at most two pairs; n - 1 initial pairs. */
    uint64_t *heap = trdi_mallocn(3 * n, sizeof(uint64_t));
    uint64_t *pending = trdi_mallocn(2 * n + 2, sizeof(uint64_t));
    if (!prev || !next || !heap || !pending) {
        free(prev);
        free(next);
        free(heap);
        free(pending);
        return trdi_fail(TRDI_ERR_NOMEM, "bpe: out of memory (%zu symbols)", n);
    }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        if (i + 1 < n) {
            uint32_t r = merge_rank(t, w[i], w[i + 1], NULL);
            if (r != UINT32_MAX) heap_push(heap, &hn, ((uint64_t)r << 32) | i);
        }
    }
    size_t alive = n;
    while (hn > 0 && alive > 1) {
        uint32_t rank = (uint32_t)(heap[0] >> 32);
        size_t pn = 0;
        while (hn > 0 && (uint32_t)(heap[0] >> 32) == rank) {
            size_t p = (size_t)(heap_pop(heap, &hn) & 0xFFFFFFFFu);
            int32_t q = next[p];
            if (w[p] < 0 || q < 0) continue; /* p was absorbed, or is now last */
            int32_t merged = -1;
            if (merge_rank(t, w[p], w[q], &merged) != rank) continue; /* stale */
            w[p] = merged;
            w[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = (int32_t)p;
            alive--;
            if (prev[p] >= 0) {
                uint32_t r = merge_rank(t, w[prev[p]], w[p], NULL);
                if (r != UINT32_MAX) pending[pn++] = ((uint64_t)r << 32) | (uint32_t)prev[p];
            }
            if (next[p] >= 0) {
                uint32_t r = merge_rank(t, w[p], w[next[p]], NULL);
                if (r != UINT32_MAX) pending[pn++] = ((uint64_t)r << 32) | p;
            }
        }
        for (size_t i = 0; i < pn; i++)
            heap_push(heap, &hn, pending[i]);
    }
    size_t o = 0;
    for (int32_t i = 0; i >= 0; i = next[i])
        w[o++] = w[i];
    *np = o;
    free(prev);
    free(next);
    free(heap);
    free(pending);
    return TRDI_OK;
}

/* Short words (nearly all): the reference loop's passes, but each pair's rank is kept in an array
 * and only the pairs next to a merge are looked up again, so a pass is a plain scan. Ranks are
 * unique per pair, so "rank == best" is "pair == the best pair". Works on the stack. */
enum { BPE_SMALL = 64 };
static void bpe_small(const trdi_tokenizer *t, int32_t *w, size_t *np) {
    size_t n = *np;
    uint32_t rk[BPE_SMALL], rk2[BPE_SMALL];
    int32_t w2[BPE_SMALL], res[BPE_SMALL], res2[BPE_SMALL];
    bool changed[BPE_SMALL];
    for (size_t i = 0; i + 1 < n; i++)
        rk[i] = merge_rank(t, w[i], w[i + 1], &res[i]);
    while (n > 1) {
        uint32_t best = UINT32_MAX;
        for (size_t i = 0; i + 1 < n; i++)
            if (rk[i] < best) best = rk[i];
        if (best == UINT32_MAX) break;
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && rk[i] == best) {
                w2[o] = res[i];
                changed[o++] = true;
                i += 2;
            } else {
                w2[o] = w[i];
                rk2[o] =
                    i + 1 < n ? rk[i] : UINT32_MAX; /* valid while its right neighbour is w[i+1] */
                res2[o] = i + 1 < n ? res[i] : -1;
                changed[o++] = false;
                i++;
            }
        }
        n = o;
        for (size_t i = 0; i < n; i++) {
            w[i] = w2[i];
            if (i + 1 < n && (changed[i] || changed[i + 1])) {
                rk[i] = merge_rank(t, w2[i], w2[i + 1], &res[i]);
            } else {
                rk[i] = rk2[i];
                res[i] = res2[i];
            }
        }
    }
    *np = n;
}

static trdi_status bpe_fast(const trdi_tokenizer *t, int32_t *w, size_t *np) {
    /* Up to 6 symbols the plain loop is cheapest (measured, bench_tokenizer). */
    if (*np <= 6) return bpe_reference(t, w, np);
    if (*np <= BPE_SMALL) {
        bpe_small(t, w, np);
        return TRDI_OK;
    }
    return bpe_heap(t, w, np);
}

trdi_status trdi_clip_bpe(const trdi_tokenizer *t, trdi_clip_bpe_impl impl, int32_t *syms,
                          size_t *n) {
    return impl == TRDI_CLIP_BPE_REFERENCE ? bpe_reference(t, syms, n) : bpe_fast(t, syms, n);
}

/* ---------------------------------------------------------------------------------------------- */
/* Encoding */
/* ---------------------------------------------------------------------------------------------- */

/* Growable (id, symbol-string) output. */
typedef struct tok_list {
    int64_t *ids;
    const char **strs;
    size_t n, cap;
} tok_list;

static trdi_status tok_push(tok_list *l, int64_t id, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int64_t *ni = realloc(l->ids, cap * sizeof(int64_t));
        if (!ni) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (tokens)");
        l->ids = ni;
        const char **ns = realloc(l->strs, cap * sizeof(char *));
        if (!ns) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory (tokens)");
        l->strs = ns;
        l->cap = cap;
    }
    l->ids[l->n] = id;
    l->strs[l->n] = s;
    l->n++;
    return TRDI_OK;
}

/* Scratch space reused across the pieces of one encode. */
typedef struct scratch {
    unsigned char *bytes;
    int32_t *syms;
    size_t cap;
} scratch;

static trdi_status scratch_reserve(scratch *s, size_t n) {
    if (n <= s->cap) return TRDI_OK;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n)
        cap *= 2;
    unsigned char *b = realloc(s->bytes, cap);
    if (!b) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory");
    s->bytes = b;
    int32_t *y = realloc(s->syms, cap * sizeof(int32_t));
    if (!y) return trdi_fail(TRDI_ERR_NOMEM, "tokenizer: out of memory");
    s->syms = y;
    s->cap = cap;
    return TRDI_OK;
}

/* BPE of one regex piece cp[0..n) and append its tokens. */
static trdi_status encode_piece(const trdi_tokenizer *t, const int32_t *cp, size_t n,
                                trdi_clip_bpe_impl impl, scratch *sc, tok_list *out) {
    trdi_status st = scratch_reserve(sc, 4 * n + 4);
    if (st != TRDI_OK) return st;
    size_t nb = 0;
    for (size_t i = 0; i < n; i++)
        nb += (size_t)trdi_utf8_put(cp[i], (char *)sc->bytes + nb);
    size_t m = nb;
    trdi_clip_word_symbols(t, sc->bytes, nb, sc->syms);
    st = trdi_clip_bpe(t, impl, sc->syms, &m);
    for (size_t i = 0; i < m && st == TRDI_OK; i++)
        st = tok_push(out, trdi_clip_symbol_id(t, sc->syms[i]), t->sym_str[sc->syms[i]]);
    return st;
}

static bool match_ascii(const int32_t *cp, size_t n, size_t i, const char *lit) {
    for (size_t k = 0; lit[k]; k++)
        if (i + k >= n || cp[i + k] != (unsigned char)lit[k]) return false;
    return true;
}

/* The CLIP pre-tokeniser regex (re.IGNORECASE) over normalised text:
 * <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * U+0345 matches no branch under IGNORECASE (its case fold is a letter, it is not), so it is
 * skipped like whitespace. */
static trdi_status pretokenize_and_bpe(const trdi_tokenizer *t, const int32_t *cp, size_t n,
                                       trdi_clip_bpe_impl impl, scratch *sc, tok_list *out) {
    trdi_status st = TRDI_OK;
    size_t i = 0;
    while (i < n && st == TRDI_OK) {
        int32_t c = cp[i];
        if (c == '<' &&
            (match_ascii(cp, n, i, "<|startoftext|>") || match_ascii(cp, n, i, "<|endoftext|>"))) {
            bool sot = match_ascii(cp, n, i, "<|startoftext|>");
            int32_t s = sot ? t->sot_sym : t->eot_sym; /* CLIPTokenizer's bpe cache: no "</w>" */
            st = tok_push(out, trdi_clip_symbol_id(t, s), t->sym_str[s]);
            i += sot ? 15 : 13;
            continue;
        }
        if (c == '\'' && i + 1 < n) {
            int32_t d = cp[i + 1] | 0x20; /* IGNORECASE; only ASCII letters follow ' here */
            int32_t e = i + 2 < n ? (cp[i + 2] | 0x20) : 0;
            size_t len = 0;
            if (cp[i + 1] < 0x80 && (d == 's' || d == 't' || d == 'm' || d == 'd'))
                len = 2;
            else if (cp[i + 1] == 0x17F)
                len = 2; /* LATIN SMALL LETTER LONG S folds to s */
            else if (cp[i + 1] < 0x80 && i + 2 < n && cp[i + 2] < 0x80 &&
                     ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')))
                len = 3;
            if (len) {
                st = encode_piece(t, cp + i, len, impl, sc, out);
                i += len;
                continue;
            }
        }
        size_t j = i;
        if (trdi_uni_is_letter(c)) {
            while (j < n && trdi_uni_is_letter(cp[j]))
                j++;
        } else if (trdi_uni_is_number(c)) {
            j = i + 1;
        } else if (trdi_uni_is_regex_space(c) || c == 0x345) {
            i++;
            continue;
        } else {
            while (j < n && cp[j] != 0x345 && !trdi_uni_is_regex_space(cp[j]) &&
                   !trdi_uni_is_letter(cp[j]) && !trdi_uni_is_number(cp[j]))
                j++;
        }
        st = encode_piece(t, cp + i, j - i, impl, sc, out);
        i = j;
    }
    return st;
}

/* CLIPTokenizer._tokenize of one text chunk (between added tokens). */
static trdi_status tokenize_chunk(const trdi_tokenizer *t, const int32_t *cp, size_t n,
                                  trdi_clip_bpe_impl impl, scratch *sc, tok_list *out) {
    if (n == 0) return TRDI_OK;
    trdi_cpbuf norm = {0};
    trdi_status st = trdi_text_clip_normalize(cp, n, &norm);
    if (st == TRDI_OK) st = pretokenize_and_bpe(t, norm.cp, norm.n, impl, sc, out);
    trdi_cpbuf_free(&norm);
    return st;
}

/* The longest added token starting at cp[i], or NULL (transformers' Trie.split). */
static const added_token *added_at(const trdi_tokenizer *t, const int32_t *cp, size_t n, size_t i) {
    const added_token *best = NULL;
    for (size_t k = 0; k < t->n_added; k++) {
        const added_token *a = &t->added[k];
        if (a->n_cp == 0 || a->n_cp > n - i || (best && a->n_cp <= best->n_cp)) continue;
        if (memcmp(cp + i, a->cp, a->n_cp * sizeof(int32_t)) == 0) best = a;
    }
    return best;
}

void trdi_tokens_clear(trdi_tokens *tk) {
    if (!tk) return;
    free(tk->input_ids);
    free(tk->token_ids);
    free((void *)tk->bpe_tokens);
    memset(tk, 0, sizeof *tk);
}

trdi_status trdi_clip_encode(const trdi_tokenizer *t, const char *prompt, size_t len,
                             int64_t max_length, trdi_clip_bpe_impl impl, trdi_tokens *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_tokenizer_encode: out is NULL");
    memset(out, 0, sizeof *out);
    if (!t) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_tokenizer_encode: tokenizer is NULL");
    if (!prompt) len = 0;
    if (max_length == 0) max_length = t->model_max_length;
    if (max_length < 2 || max_length > 1000000)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "trdi_tokenizer_encode: max_length must be in [2, 1000000], got %lld",
                         (long long)max_length);
    trdi_cpbuf cp = {0};
    tok_list toks = {0};
    scratch sc = {0};
    trdi_status st = trdi_utf8_decode(prompt ? prompt : "", len, &cp);
    /* Added-token split of the raw text; an lstrip/rstrip token eats the whitespace beside it. */
    size_t start = 0, i = 0;
    while (st == TRDI_OK && i <= cp.n) {
        const added_token *a = i < cp.n ? added_at(t, cp.cp, cp.n, i) : NULL;
        if (!a && i < cp.n) {
            i++;
            continue;
        }
        size_t end = i;
        if (a && a->lstrip)
            while (end > start && trdi_uni_is_py_space(cp.cp[end - 1]))
                end--;
        st = tokenize_chunk(t, cp.cp + start, end - start, impl, &sc, &toks);
        if (!a || st != TRDI_OK) break;
        st = tok_push(&toks, a->id, a->content);
        i += a->n_cp;
        if (a->rstrip)
            while (i < cp.n && trdi_uni_is_py_space(cp.cp[i]))
                i++;
        start = i;
    }
    trdi_cpbuf_free(&cp);
    free(sc.bytes);
    free(sc.syms);
    if (st == TRDI_OK) {
        out->input_ids = trdi_mallocn((size_t)max_length, sizeof(int64_t));
        out->token_ids = trdi_mallocn(toks.n ? toks.n : 1, sizeof(int64_t));
        out->bpe_tokens = trdi_mallocn(toks.n ? toks.n : 1, sizeof(char *));
        if (!out->input_ids || !out->token_ids || !out->bpe_tokens)
            st = trdi_fail(TRDI_ERR_NOMEM, "trdi_tokenizer_encode: out of memory");
    }
    if (st == TRDI_OK) {
        /* prepare_for_model: [bos] + ids[:max_length-2] + [eos], padded with pad_id. */
        int64_t keep = (int64_t)toks.n < max_length - 2 ? (int64_t)toks.n : max_length - 2;
        out->max_length = max_length;
        out->n_tokens = (int64_t)toks.n;
        out->truncated = (int64_t)toks.n > max_length - 2;
        out->length = keep + 2;
        if (toks.n) {
            memcpy(out->token_ids, toks.ids, toks.n * sizeof(int64_t));
            memcpy((void *)out->bpe_tokens, toks.strs, toks.n * sizeof(char *));
        }
        out->input_ids[0] = t->bos_id;
        for (int64_t k = 0; k < keep; k++)
            out->input_ids[1 + k] = toks.ids[k];
        out->input_ids[keep + 1] = t->eos_id;
        for (int64_t k = keep + 2; k < max_length; k++)
            out->input_ids[k] = t->pad_id;
    } else {
        trdi_tokens_clear(out);
    }
    free(toks.ids);
    free(toks.strs);
    return st;
}

trdi_status trdi_tokenizer_encode_n(const trdi_tokenizer *t, const char *prompt, size_t len,
                                    int64_t max_length, trdi_tokens *out) {
    return trdi_clip_encode(t, prompt, len, max_length, TRDI_CLIP_BPE_FAST, out);
}

trdi_status trdi_tokenizer_encode(const trdi_tokenizer *t, const char *prompt, int64_t max_length,
                                  trdi_tokens *out) {
    return trdi_clip_encode(t, prompt, prompt ? strlen(prompt) : 0, max_length, TRDI_CLIP_BPE_FAST,
                            out);
}
