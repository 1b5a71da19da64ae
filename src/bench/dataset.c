/* dataset.c -- datasets for trdi bench: COCO-style manifests (JSON list of image + caption),
 * PIE-Bench mapping files (id -> image_path, original_prompt, editing_prompt, RLE mask, ...) and
 * folders of images with a captions file. Parsing and validation only: images are read on demand
 * (trdi_dataset_read_image), nothing is run here. */
#include "bench/bench.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct trdi_dataset {
    trdi_dataset_kind kind;
    char *path;
    int64_t n, cap;
    trdi_dataset_item *items; /* strings below are malloc'd and owned */
};

static const char *KIND_NAMES[] = {"manifest", "pie", "folder"};

const char *trdi_dataset_kind_name(trdi_dataset_kind k) {
    return (unsigned)k < 3 ? KIND_NAMES[k] : "?";
}

trdi_status trdi_dataset_kind_from_name(const char *name, trdi_dataset_kind *out) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, KIND_NAMES[i])) {
            *out = (trdi_dataset_kind)i;
            return TRDI_OK;
        }
    return trdi_fail(TRDI_ERR_INVALID_ARG, "unknown dataset kind '%s' (known: manifest, pie, folder)",
                     name ? name : "(null)");
}

static void item_free(trdi_dataset_item *it) {
    free((char *)it->id);
    free((char *)it->image);
    free((char *)it->prompt);
    free((char *)it->target_prompt);
    free((int64_t *)it->mask_rle);
    free((char *)it->mask_image);
    free((char *)it->editing_type);
}

void trdi_dataset_free(trdi_dataset *d) {
    if (!d) return;
    for (int64_t i = 0; i < d->n; i++) item_free(&d->items[i]);
    free(d->items);
    free(d->path);
    free(d);
}

trdi_dataset_kind trdi_dataset_get_kind(const trdi_dataset *d) {
    return d ? d->kind : TRDI_DATASET_MANIFEST;
}
const char *trdi_dataset_path(const trdi_dataset *d) {
    return d ? d->path : NULL;
}
int64_t trdi_dataset_count(const trdi_dataset *d) {
    return d ? d->n : 0;
}
const trdi_dataset_item *trdi_dataset_at(const trdi_dataset *d, int64_t i) {
    return d && i >= 0 && i < d->n ? &d->items[i] : NULL;
}

/* Takes ownership of the item's strings (freed on failure). */
static trdi_status push_item(trdi_dataset *d, trdi_dataset_item *it) {
    if (d->n == d->cap) {
        int64_t cap = d->cap ? 2 * d->cap : 64;
        trdi_dataset_item *p = realloc(d->items, (size_t)cap * sizeof *p);
        if (!p) {
            item_free(it);
            return trdi_fail(TRDI_ERR_NOMEM, "out of memory (dataset)");
        }
        d->items = p;
        d->cap = cap;
    }
    d->items[d->n++] = *it;
    return TRDI_OK;
}

/* dirname of a file path ("." when it has no slash); malloc'd. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static char *resolve(const char *dir, const char *rel) {
    if (rel[0] == '/') return strdup(rel);
    return bench_join(dir, rel);
}

/* The file name without folder and extension; malloc'd. */
static char *stem_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? strndup(base, (size_t)(dot - base)) : strdup(base);
}

static bool is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static trdi_status check_unique(const trdi_dataset *d) {
    for (int64_t i = 1; i < d->n; i++)
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(d->items[i].id, d->items[j].id))
                return trdi_fail(TRDI_ERR_FORMAT,
                                 "%s: entries %lld and %lld have the same id '%s' (ids name the "
                                 "output images and result rows; give an \"id\")",
                                 d->path, (long long)j, (long long)i, d->items[i].id);
    return TRDI_OK;
}

static trdi_status check_image_exists(const trdi_dataset *d, int64_t idx, const trdi_dataset_item *it) {
    if (access(it->image, R_OK) != 0)
        return trdi_fail(TRDI_ERR_IO, "%s: entry %lld (id '%s'): image '%s' not found or unreadable",
                         d->path, (long long)idx, it->id, it->image);
    return TRDI_OK;
}

static char *json_id(const cJSON *v) {
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        char buf[64];
        if (v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9e15)
            snprintf(buf, sizeof buf, "%lld", (long long)v->valuedouble);
        else
            snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        return strdup(buf);
    }
    return NULL;
}

/* --- manifest: [{"image": "a.jpg", "caption": "..."}, ...] ---------------------------------- */

static trdi_status load_manifest(trdi_dataset *d, const cJSON *root, const char *dir) {
    int64_t idx = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (!cJSON_IsObject(e))
            return trdi_fail(TRDI_ERR_FORMAT, "%s: entry %lld: not an object (expected {\"image\": "
                             "path, \"caption\": text})", d->path, (long long)idx);
        const cJSON *img = cJSON_GetObjectItemCaseSensitive(e, "image");
        if (!cJSON_IsString(img) || !img->valuestring[0])
            return trdi_fail(TRDI_ERR_FORMAT, "%s: entry %lld: \"image\" missing or not a non-empty "
                             "string", d->path, (long long)idx);
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(e, "caption");
        if (!cap) cap = cJSON_GetObjectItemCaseSensitive(e, "captions");
        if (cJSON_IsArray(cap)) cap = cJSON_GetArrayItem(cap, 0); /* the first caption, as upstream */
        if (!cJSON_IsString(cap))
            return trdi_fail(TRDI_ERR_FORMAT, "%s: entry %lld (image '%s'): \"caption\" missing or "
                             "not a string", d->path, (long long)idx, img->valuestring);
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!idv) idv = cJSON_GetObjectItemCaseSensitive(e, "image_id");
        trdi_dataset_item it = {0};
        it.id = idv ? json_id(idv) : stem_of(img->valuestring);
        if (idv && !it.id)
            return trdi_fail(TRDI_ERR_FORMAT, "%s: entry %lld: \"id\" must be a string or number",
                             d->path, (long long)idx);
        it.image = resolve(dir, img->valuestring);
        it.prompt = strdup(cap->valuestring);
        if (!it.id || !it.image || !it.prompt) {
            item_free(&it);
            return trdi_fail(TRDI_ERR_NOMEM, "out of memory (dataset)");
        }
        if (!it.id[0]) {
            item_free(&it);
            return trdi_fail(TRDI_ERR_FORMAT, "%s: entry %lld: empty id", d->path, (long long)idx);
        }
        trdi_status st = check_image_exists(d, idx, &it);
        if (st) {
            item_free(&it);
            return st;
        }
        if ((st = push_item(d, &it))) return st;
        idx++;
    }
    return TRDI_OK;
}

/* --- PIE-Bench mapping_file.json ------------------------------------------------------------ */

static trdi_status pie_string(const trdi_dataset *d, const char *id, const cJSON *e, const char *key,
                              char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    if (!cJSON_IsString(v))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: entry '%s': \"%s\" missing or not a string", d->path,
                         id, key);
    *out = strdup(v->valuestring);
    return *out ? TRDI_OK : trdi_fail(TRDI_ERR_NOMEM, "out of memory");
}

static trdi_status load_pie(trdi_dataset *d, const cJSON *root, const char *dir) {
    int64_t idx = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const char *id = e->string;
        if (!cJSON_IsObject(e))
            return trdi_fail(TRDI_ERR_FORMAT, "%s: entry '%s': not an object", d->path, id);
        trdi_dataset_item it = {0};
        char *image = NULL, *src = NULL, *tgt = NULL;
        trdi_status st = pie_string(d, id, e, "image_path", &image);
        if (!st) st = pie_string(d, id, e, "original_prompt", &src);
        if (!st) st = pie_string(d, id, e, "editing_prompt", &tgt);
        it.id = strdup(id);
        it.prompt = src;
        it.target_prompt = tgt;
        if (!st && !it.id) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        if (!st) {
            /* Relative to the mapping file's folder, or to its annotation_images/ (the layout
             * PIE-Bench ships: PIE-Bench_v1/mapping_file.json + annotation_images/<image_path>). */
            it.image = resolve(dir, image);
            if (it.image && access(it.image, F_OK) != 0 && image[0] != '/') {
                char *alt_dir = bench_join(dir, "annotation_images");
                char *alt = alt_dir ? bench_join(alt_dir, image) : NULL;
                free(alt_dir);
                if (alt && access(alt, F_OK) == 0) {
                    free((char *)it.image);
                    it.image = alt;
                } else {
                    free(alt);
                }
            }
            if (!it.image) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        }
        free(image);
        if (!st) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "mask");
            if (cJSON_IsString(m)) {
                it.mask_image = resolve(dir, m->valuestring);
                if (!it.mask_image) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
                else if (access(it.mask_image, R_OK) != 0)
                    st = trdi_fail(TRDI_ERR_IO, "%s: entry '%s': mask image '%s' not found",
                                   d->path, id, it.mask_image);
            } else if (cJSON_IsArray(m)) {
                int64_t n = cJSON_GetArraySize(m);
                if (n % 2)
                    st = trdi_fail(TRDI_ERR_FORMAT, "%s: entry '%s': \"mask\" has %lld values; RLE "
                                   "needs (start, length) pairs", d->path, id, (long long)n);
                int64_t *rle = st ? NULL : trdi_calloc((size_t)(n ? n : 1), sizeof *rle);
                if (!st && !rle) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
                int64_t k = 0;
                const cJSON *v;
                cJSON_ArrayForEach(v, m) {
                    if (st) break;
                    if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
                        v->valuedouble != floor(v->valuedouble) || v->valuedouble > 1e15)
                        st = trdi_fail(TRDI_ERR_FORMAT, "%s: entry '%s': \"mask\" value %lld is not "
                                       "a non-negative integer", d->path, id, (long long)k);
                    else
                        rle[k++] = (int64_t)v->valuedouble;
                }
                it.mask_rle = rle;
                it.n_mask_rle = n;
            } else {
                st = trdi_fail(TRDI_ERR_FORMAT, "%s: entry '%s': \"mask\" missing or not an RLE list "
                               "(or a mask image path)", d->path, id);
            }
        }
        if (!st) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "editing_type_id");
            if (t) {
                it.editing_type = json_id(t);
                if (!it.editing_type)
                    st = trdi_fail(TRDI_ERR_FORMAT, "%s: entry '%s': \"editing_type_id\" must be a "
                                   "string or number", d->path, id);
            }
        }
        if (!st) st = check_image_exists(d, idx, &it);
        if (st) {
            item_free(&it);
            return st;
        }
        if ((st = push_item(d, &it))) return st;
        idx++;
    }
    return TRDI_OK;
}

/* --- folder + captions.json / captions.txt -------------------------------------------------- */

typedef struct {
    char *key, *caption;
    int64_t line;
    bool used;
} caption_entry;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static trdi_status read_captions(const char *dir, caption_entry **out, int64_t *n_out, char **file_out) {
    *out = NULL;
    *n_out = 0;
    char *json_path = bench_join(dir, "captions.json");
    char *txt_path = bench_join(dir, "captions.txt");
    if (!json_path || !txt_path) {
        free(json_path);
        free(txt_path);
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    }
    bool is_json = access(json_path, F_OK) == 0;
    if (!is_json && access(txt_path, F_OK) != 0) {
        trdi_status st = trdi_fail(TRDI_ERR_FORMAT, "%s: a dataset folder needs captions.json "
                                   "({\"stem\": \"caption\"}) or captions.txt (stem<TAB>caption "
                                   "lines)", dir);
        free(json_path);
        free(txt_path);
        return st;
    }
    char *path = is_json ? json_path : txt_path;
    free(is_json ? txt_path : json_path);
    *file_out = path;
    char *text;
    size_t len;
    trdi_status st = bench_read_file(path, &text, &len);
    if (st) return st;
    caption_entry *e = NULL;
    int64_t n = 0, cap = 0;
    if (is_json) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        if (!cJSON_IsObject(root)) {
            cJSON_Delete(root);
            free(text);
            return trdi_fail(TRDI_ERR_FORMAT, "%s: not a JSON object of \"stem\": \"caption\"", path);
        }
        cap = cJSON_GetArraySize(root);
        e = trdi_calloc((size_t)(cap ? cap : 1), sizeof *e);
        const cJSON *v;
        cJSON_ArrayForEach(v, root) {
            if (!e) break;
            if (!cJSON_IsString(v)) {
                st = trdi_fail(TRDI_ERR_FORMAT, "%s: caption of '%s' is not a string", path, v->string);
                break;
            }
            e[n].key = strdup(v->string);
            e[n].caption = strdup(v->valuestring);
            e[n].line = n + 1;
            n++;
        }
        if (!e) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        cJSON_Delete(root);
    } else {
        int64_t line = 0;
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            line++;
            size_t ll = strlen(l);
            if (ll && l[ll - 1] == '\r') l[--ll] = '\0';
            char *s = l;
            while (*s == ' ' || *s == '\t') s++;
            if (!*s || *s == '#') continue;
            char *sep = strchr(s, '\t');
            if (!sep) sep = strchr(s, ' ');
            if (!sep) {
                st = trdi_fail(TRDI_ERR_FORMAT, "%s: line %lld: expected 'stem<TAB>caption'", path,
                               (long long)line);
                break;
            }
            *sep = '\0';
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                caption_entry *p = realloc(e, (size_t)cap * sizeof *p);
                if (!p) {
                    st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
                    break;
                }
                e = p;
            }
            e[n].key = strdup(s);
            e[n].caption = strdup(sep + 1);
            e[n].line = line;
            e[n].used = false;
            n++;
        }
    }
    free(text);
    *out = e;
    *n_out = n;
    return st;
}

static trdi_status load_folder(trdi_dataset *d) {
    caption_entry *caps = NULL;
    int64_t n_caps = 0;
    char *cap_file = NULL;
    trdi_status st = read_captions(d->path, &caps, &n_caps, &cap_file);
    char **names = NULL;
    int64_t n_names = 0, cap_names = 0;
    if (!st) {
        DIR *dir = opendir(d->path);
        if (!dir) {
            st = trdi_fail(TRDI_ERR_IO, "%s: cannot list the folder", d->path);
        } else {
            struct dirent *de;
            while ((de = readdir(dir)) && !st) {
                if (de->d_name[0] == '.' || !is_image_name(de->d_name)) continue;
                if (n_names == cap_names) {
                    cap_names = cap_names ? 2 * cap_names : 64;
                    char **p = realloc(names, (size_t)cap_names * sizeof *p);
                    if (!p) {
                        st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
                        break;
                    }
                    names = p;
                }
                names[n_names++] = strdup(de->d_name);
            }
            closedir(dir);
        }
    }
    if (!st) qsort(names, (size_t)n_names, sizeof *names, cmp_str);
    for (int64_t i = 0; !st && i < n_names; i++) {
        char *stem = stem_of(names[i]);
        caption_entry *found = NULL;
        for (int64_t k = 0; k < n_caps && !found; k++)
            if (caps[k].key && (!strcmp(caps[k].key, stem) || !strcmp(caps[k].key, names[i])))
                found = &caps[k];
        if (!found) {
            st = trdi_fail(TRDI_ERR_FORMAT, "%s: image '%s' has no caption in %s", d->path, names[i],
                           cap_file);
            free(stem);
            break;
        }
        found->used = true;
        trdi_dataset_item it = {0};
        it.id = stem;
        it.image = bench_join(d->path, names[i]);
        it.prompt = strdup(found->caption ? found->caption : "");
        if (!it.image || !it.prompt) {
            item_free(&it);
            st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
            break;
        }
        st = push_item(d, &it);
    }
    for (int64_t k = 0; !st && k < n_caps; k++)
        if (!caps[k].used)
            st = trdi_fail(TRDI_ERR_IO, "%s: entry %lld ('%s'): no image '%s.png/.jpg/.jpeg' in %s",
                           cap_file, (long long)caps[k].line, caps[k].key, caps[k].key, d->path);
    for (int64_t k = 0; k < n_caps; k++) {
        free(caps[k].key);
        free(caps[k].caption);
    }
    free(caps);
    for (int64_t i = 0; i < n_names; i++) free(names[i]);
    free(names);
    free(cap_file);
    return st;
}

trdi_status trdi_dataset_load(const char *path, trdi_dataset **out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_dataset_load: out is NULL");
    *out = NULL;
    if (!path || !*path) return trdi_fail(TRDI_ERR_INVALID_ARG, "dataset path is empty");
    trdi_dataset *d = trdi_calloc(1, sizeof *d);
    if (!d) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    d->path = strdup(path);
    size_t pl = strlen(d->path ? d->path : "");
    while (pl > 1 && d->path[pl - 1] == '/') d->path[--pl] = '\0';
    trdi_status st = d->path ? TRDI_OK : trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    DIR *probe = st ? NULL : opendir(path);
    if (probe) {
        closedir(probe);
        d->kind = TRDI_DATASET_FOLDER;
        st = load_folder(d);
    } else if (!st) {
        char *text = NULL;
        size_t len;
        st = bench_read_file(path, &text, &len);
        cJSON *root = NULL;
        if (!st) {
            root = cJSON_ParseWithLength(text, len);
            if (!root) {
                size_t at = 0;
                const char *ep = cJSON_GetErrorPtr();
                if (ep && ep >= text && ep <= text + len) at = (size_t)(ep - text);
                st = trdi_fail(TRDI_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", path, at);
            }
        }
        char *dir = st ? NULL : dir_of(path);
        if (!st && !dir) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        if (!st) {
            if (cJSON_IsArray(root)) {
                d->kind = TRDI_DATASET_MANIFEST;
                st = load_manifest(d, root, dir);
            } else if (cJSON_IsObject(root)) {
                d->kind = TRDI_DATASET_PIE;
                st = load_pie(d, root, dir);
            } else {
                st = trdi_fail(TRDI_ERR_FORMAT, "%s: expected a JSON list (manifest) or object "
                               "(PIE-Bench mapping)", path);
            }
        }
        free(dir);
        cJSON_Delete(root);
        free(text);
    }
    if (!st && d->n == 0) st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: the dataset has no entries", path);
    if (!st) st = check_unique(d);
    if (st) {
        trdi_dataset_free(d);
        return st;
    }
    *out = d;
    return TRDI_OK;
}

trdi_status trdi_dataset_read_image(const trdi_dataset *d, int64_t i, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    const trdi_dataset_item *it = trdi_dataset_at(d, i);
    if (!it || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_dataset_read_image: no entry %lld",
                                      (long long)i);
    trdi_status st = trdi_image_read(it->image, out);
    if (st) trdi_error_prefix("%s: entry %lld (id '%s')", d->path, (long long)i, it->id);
    return st;
}

trdi_status trdi_dataset_read_mask(const trdi_dataset *d, int64_t i, int64_t width, int64_t height,
                                   trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    const trdi_dataset_item *it = trdi_dataset_at(d, i);
    if (!it || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_dataset_read_mask: no entry %lld",
                                      (long long)i);
    if (width < 1 || height < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_dataset_read_mask: bad size %lldx%lld",
                         (long long)width, (long long)height);
    if (it->mask_image) {
        trdi_image m = {0};
        trdi_status st = trdi_image_read(it->mask_image, &m);
        if (st) {
            trdi_error_prefix("%s: entry '%s': mask", d->path, it->id);
            return st;
        }
        if (m.width != width || m.height != height) {
            trdi_image_clear(&m);
            return trdi_fail(TRDI_ERR_FORMAT, "%s: entry '%s': mask '%s' is %lldx%lld but the image "
                             "is %lldx%lld", d->path, it->id, it->mask_image, (long long)m.width,
                             (long long)m.height, (long long)width, (long long)height);
        }
        trdi_status st2 = trdi_image_convert(&m, 1, out);
        trdi_image_clear(&m);
        if (st2) return st2;
        for (int64_t k = 0; k < width * height; k++) out->data[k] = out->data[k] ? 255 : 0;
        /* The border frame upstream's mask_decode forces. */
        for (int64_t y = 0; y < height; y++)
            for (int64_t x = 0; x < width; x++)
                if (!y || !x || y == height - 1 || x == width - 1) out->data[y * width + x] = 255;
        return TRDI_OK;
    }
    if (!it->mask_rle && it->n_mask_rle == 0 && !d->items[i].target_prompt)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: entry '%s' has no mask", d->path, it->id);
    /* A mask decoded for another size would silently be cut or wrap: refuse runs past the end. */
    int64_t end = 0;
    for (int64_t k = 0; k + 1 < it->n_mask_rle; k += 2)
        if (it->mask_rle[k + 1] > 0 && it->mask_rle[k] + it->mask_rle[k + 1] > end)
            end = it->mask_rle[k] + it->mask_rle[k + 1];
    if (end > width * height)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: entry '%s': the RLE mask covers %lld pixels but the "
                         "image '%s' is %lldx%lld (%lld pixels): a mask of another size", d->path,
                         it->id, (long long)end, it->image, (long long)width, (long long)height,
                         (long long)(width * height));
    trdi_status st = trdi_mask_decode_rle(it->mask_rle, it->n_mask_rle, height, width, out);
    if (st) trdi_error_prefix("%s: entry '%s': mask", d->path, it->id);
    return st;
}
