/* gmm_build.c -- building Gaussian mixtures: deterministic procedural patterns, the built-in
 * mixture, a folder of images and the JSON description (format documented at trdi_model_load in
 * trdi.h). Not here: the mixture's mathematics (gmm.c) or the trdi_model handle (model.c). */
#include "model/gmm.h"

#include "core/core.h"
#include "io/image_internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------------------------- */
/* Procedural patterns                                                                        */
/* ---------------------------------------------------------------------------------------- */

static const char *const pattern_names[] = {"circle",   "stripes", "checker",
                                            "gradient", "scene",   "landscape"};
enum { N_PATTERNS = sizeof pattern_names / sizeof pattern_names[0] };

bool gmm_pattern_exists(const char *name) {
    if (!name) return false;
    for (int i = 0; i < N_PATTERNS; i++)
        if (!strcmp(name, pattern_names[i])) return true;
    return false;
}

static double clamp01(double v) {
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static void mix(double *dst, const double *a, const double *b, double t) {
    for (int i = 0; i < 3; i++)
        dst[i] = a[i] * (1 - t) + b[i] * t;
}

/* Coverage in [0, 1] of a disc of radius r (pixels) at pixel distance dist: a one-pixel soft edge,
 * so that the patterns are smooth enough for resizing tests. */
static double disc(double dist, double r) {
    return clamp01(r - dist + 0.5);
}

/* RGB value (0..255) of pattern `p` at pixel (x, y) of a w x h image. */
static void pattern_rgb(int p, int64_t x, int64_t y, int64_t w, int64_t h, double rgb[3]) {
    const double u = ((double)x + 0.5) / (double)w, v = ((double)y + 0.5) / (double)h;
    const double side = (double)(w < h ? w : h);
    switch (p) {
    case 0: { /* circle: a red disc of radius 0.3 on dark blue */
        static const double bg[3] = {30, 40, 90}, fg[3] = {230, 60, 50};
        double dx = (u - 0.5) * (double)w, dy = (v - 0.5) * (double)h;
        mix(rgb, bg, fg, disc(sqrt(dx * dx + dy * dy), 0.3 * side));
        break;
    }
    case 1: { /* stripes: four vertical sinusoidal periods, green to cream */
        static const double a[3] = {20, 120, 40}, b[3] = {240, 240, 220};
        mix(rgb, a, b, 0.5 + 0.5 * sin(2.0 * M_PI * 4.0 * u));
        break;
    }
    case 2: { /* checker: 4 x 4 cells, yellow and near-black */
        static const double a[3] = {20, 20, 20}, b[3] = {240, 200, 40};
        int cell = ((int)(4.0 * u) + (int)(4.0 * v)) & 1;
        mix(rgb, a, b, cell);
        break;
    }
    case 3: { /* gradient: blue to orange, left to right, slightly darker at the top */
        static const double a[3] = {40, 60, 200}, b[3] = {250, 160, 40};
        mix(rgb, a, b, u);
        for (int i = 0; i < 3; i++)
            rgb[i] *= 0.8 + 0.2 * v;
        break;
    }
    case 4: { /* scene (the built-in test image): an orange sun, off-centre and smaller than
               * the circle, over a dusk gradient. A variant of the "circle" class rather than an
               * outlier: the exact ODE then stays with one component instead of switching
               * abruptly between components, a switch no integer timestep grid resolves. */
        static const double dusk[3] = {15, 25, 60}, sun[3] = {240, 130, 40};
        for (int i = 0; i < 3; i++)
            rgb[i] = dusk[i] * (0.7 + 0.3 * (u + v));
        double dx = (u - 0.42) * (double)w, dy = (v - 0.56) * (double)h;
        mix(rgb, rgb, sun, disc(sqrt(dx * dx + dy * dy), 0.25 * side));
        break;
    }
    default: { /* landscape: a sky-to-grass gradient, a pale square and a small sun; far from
                * every built-in component (an out-of-distribution image) */
        static const double sky[3] = {90, 140, 200}, grass[3] = {60, 110, 50};
        static const double box[3] = {200, 190, 170}, sun[3] = {250, 220, 80};
        mix(rgb, sky, grass, clamp01(0.5 * (u + v)));
        double inside = (u > 0.2 && u < 0.55 && v > 0.35 && v < 0.8) ? 1.0 : 0.0;
        mix(rgb, rgb, box, 0.85 * inside);
        double dx = (u - 0.72) * (double)w, dy = (v - 0.28) * (double)h;
        mix(rgb, rgb, sun, disc(sqrt(dx * dx + dy * dy), 0.12 * side));
        break;
    }
    }
}

trdi_status gmm_pattern_render(const char *name, int64_t width, int64_t height, int64_t channels,
                               trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    int p = -1;
    for (int i = 0; i < N_PATTERNS && name; i++)
        if (!strcmp(name, pattern_names[i])) p = i;
    if (p < 0)
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "unknown pattern \"%s\" (known: circle, stripes, checker, gradient, scene, "
            "landscape)",
            name ? name : "(null)");
    trdi_image rgb = {0};
    trdi_status st = trdi_image_alloc(width, height, 3, &rgb);
    if (st) return st;
    for (int64_t y = 0; y < height; y++)
        for (int64_t x = 0; x < width; x++) {
            double c[3];
            pattern_rgb(p, x, y, width, height, c);
            for (int i = 0; i < 3; i++) {
                double q = nearbyint(c[i]);
                rgb.data[(y * width + x) * 3 + i] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    if (channels == 3) {
        *out = rgb;
        return TRDI_OK;
    }
    st = trdi_image_convert(&rgb, channels, out);
    trdi_image_clear(&rgb);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* A growing list of components                                                               */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    int64_t n, cap;
    trdi_image *img; /* (n) images, fitted to the final size at the end */
    char **label;    /* (n) owned, may be NULL */
    double *weight, *var;
    char **origin; /* (n) file or pattern name for messages */
} comp_list;

static void comp_list_free(comp_list *l) {
    for (int64_t i = 0; i < l->n; i++) {
        trdi_image_clear(&l->img[i]);
        free(l->label[i]);
        free(l->origin[i]);
    }
    free(l->img);
    free(l->label);
    free(l->weight);
    free(l->var);
    free(l->origin);
    memset(l, 0, sizeof *l);
}

/* Takes ownership of *img (zeroed on return). */
static trdi_status comp_list_add(comp_list *l, trdi_image *img, const char *label, double weight,
                                 double var, const char *origin) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 8;
        trdi_image *ni = realloc(l->img, (size_t)cap * sizeof *ni);
        if (ni) l->img = ni;
        char **nl = realloc(l->label, (size_t)cap * sizeof *nl);
        if (nl) l->label = nl;
        double *nw = realloc(l->weight, (size_t)cap * sizeof *nw);
        if (nw) l->weight = nw;
        double *nv = realloc(l->var, (size_t)cap * sizeof *nv);
        if (nv) l->var = nv;
        char **no = realloc(l->origin, (size_t)cap * sizeof *no);
        if (no) l->origin = no;
        if (!ni || !nl || !nw || !nv || !no) {
            trdi_image_clear(img);
            return trdi_fail(TRDI_ERR_NOMEM, "mixture: out of memory");
        }
        l->cap = cap;
    }
    l->img[l->n] = *img;
    memset(img, 0, sizeof *img);
    l->label[l->n] = label ? strdup(label) : NULL;
    l->origin[l->n] = strdup(origin ? origin : "?");
    l->weight[l->n] = weight;
    l->var[l->n] = var;
    l->n++;
    if ((label && !l->label[l->n - 1]) || !l->origin[l->n - 1])
        return trdi_fail(TRDI_ERR_NOMEM, "mixture: out of memory");
    return TRDI_OK;
}

/* Fits every image to (w, h, c) when `explicit_size`, else requires them to match it, then builds
 * the mixture (means = p / 127.5 - 1, as the identity VAE encodes). */
static trdi_status comp_list_build(comp_list *l, int64_t w, int64_t h, int64_t c,
                                   bool explicit_size, gmm **out) {
    *out = NULL;
    int64_t d = w * h * c;
    for (int64_t i = 0; i < l->n; i++) {
        trdi_image *im = &l->img[i];
        if (!explicit_size && (im->width != w || im->height != h))
            return trdi_fail(
                TRDI_ERR_INVALID_ARG,
                "%s: image is %lldx%lld but the mixture's first image is %lldx%lld (give "
                "a width and height to resize them all)",
                l->origin[i], (long long)im->width, (long long)im->height, (long long)w,
                (long long)h);
        if (im->width != w || im->height != h || im->channels != c) {
            trdi_image fit;
            trdi_status st = trdi_image_fit(im, w, h, c, &fit);
            if (st) {
                trdi_error_prefix("%s", l->origin[i]);
                return st;
            }
            trdi_image_clear(im);
            *im = fit;
        }
    }
    float *means = trdi_mallocn((size_t)l->n, (size_t)d * sizeof *means);
    if (!means)
        return trdi_fail(TRDI_ERR_NOMEM, "mixture: out of memory for %lld means", (long long)l->n);
    for (int64_t i = 0; i < l->n; i++) {
        /* (H, W, C) uint8 -> (C, H, W) in [-1, 1] */
        const trdi_image *im = &l->img[i];
        float *m = means + i * d;
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t p = 0; p < w * h; p++)
                m[ch * w * h + p] = 2.0f * ((float)im->data[p * c + ch] / 255.0f) - 1.0f;
    }
    trdi_status st =
        gmm_create(l->n, c, h, w, means, l->weight, l->var, (const char *const *)l->label, out);
    free(means);
    return st;
}

static trdi_status check_params(const trdi_model_params *p) {
    if (p->width < 0 || p->height < 0 || (p->width > 0) != (p->height > 0))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "model size %lldx%lld: give both width and height (> 0) or neither",
                         (long long)p->width, (long long)p->height);
    if (p->channels != 0 && p->channels != 1 && p->channels != 3)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "model channels must be 1 or 3, got %lld",
                         (long long)p->channels);
    if (!(isfinite(p->variance) && p->variance >= 0))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "model variance must be >= 0 and finite, got %g",
                         p->variance);
    return TRDI_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Built-in                                                                                   */
/* ---------------------------------------------------------------------------------------- */

trdi_status gmm_build_builtin(const trdi_model_params *p, gmm **out, trdi_image *test) {
    *out = NULL;
    memset(test, 0, sizeof *test);
    trdi_status st = check_params(p);
    if (st) return st;
    int64_t w = p->width ? p->width : 32, h = p->height ? p->height : 32;
    int64_t c = p->channels ? p->channels : 3;
    comp_list l = {0};
    for (int i = 0; i < 4 && !st; i++) {
        trdi_image im;
        st = gmm_pattern_render(pattern_names[i], w, h, c, &im);
        if (!st) st = comp_list_add(&l, &im, pattern_names[i], 1.0, p->variance, pattern_names[i]);
    }
    if (!st) st = comp_list_build(&l, w, h, c, true, out);
    if (!st) st = gmm_pattern_render("scene", w, h, c, test);
    comp_list_free(&l);
    if (st) {
        gmm_free(*out);
        *out = NULL;
    }
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Folder                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static bool has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *join_path(const char *dir, const char *name) {
    if (name[0] == '/') return strdup(name);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", dir, (dir[0] && dir[strlen(dir) - 1] != '/') ? "/" : "", name);
    return s;
}

trdi_status gmm_build_folder(const char *dir, const trdi_model_params *p, gmm **out,
                             trdi_image *test) {
    *out = NULL;
    memset(test, 0, sizeof *test);
    trdi_status st = check_params(p);
    if (st) return st;
    DIR *dh = opendir(dir);
    if (!dh) return trdi_fail(TRDI_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(dh);
    if (!st && n == 0)
        st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: folder has no .png/.jpg/.jpeg images", dir);
    if (!st) qsort(names, n, sizeof *names, cmp_str);
    comp_list l = {0};
    for (size_t i = 0; i < n && !st; i++) {
        char *path = join_path(dir, names[i]);
        if (!path) {
            st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
            break;
        }
        trdi_image im;
        st = trdi_image_read(path, &im);
        if (!st) {
            char *stem = strdup(names[i]);
            if (stem) *strrchr(stem, '.') = 0;
            st = stem ? comp_list_add(&l, &im, stem, 1.0, p->variance, path)
                      : trdi_fail(TRDI_ERR_NOMEM, "out of memory");
            free(stem);
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!st) {
        bool expl = p->width > 0;
        int64_t w = expl ? p->width : l.img[0].width, h = expl ? p->height : l.img[0].height;
        int64_t c = p->channels ? p->channels : l.img[0].channels;
        st = comp_list_build(&l, w, h, c, expl, out);
        if (!st) st = gmm_pattern_render("scene", w, h, c, test);
    }
    comp_list_free(&l);
    if (st) {
        gmm_free(*out);
        *out = NULL;
    }
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* JSON                                                                                       */
/* ---------------------------------------------------------------------------------------- */

static trdi_status json_only_keys(const cJSON *obj, const char *where, const char *const *keys) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool ok = false;
        for (int i = 0; keys[i]; i++)
            if (it->string && !strcmp(it->string, keys[i])) ok = true;
        if (!ok)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: unknown field \"%s\"", where,
                             it->string ? it->string : "");
    }
    return TRDI_OK;
}

static trdi_status json_number(const cJSON *obj, const char *key, const char *where, double *out,
                               bool *found) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (found) *found = it != NULL;
    if (!it) return TRDI_OK;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: field \"%s\" must be a finite number", where,
                         key);
    *out = it->valuedouble;
    return TRDI_OK;
}

static trdi_status json_int(const cJSON *obj, const char *key, const char *where, int64_t lo,
                            int64_t hi, int64_t *out, bool *found) {
    double v = 0;
    bool f = false;
    trdi_status st = json_number(obj, key, where, &v, &f);
    if (found) *found = f;
    if (st || !f) return st;
    if (v != floor(v) || v < (double)lo || v > (double)hi)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "%s: field \"%s\" must be an integer in [%lld, %lld], got %g", where, key,
                         (long long)lo, (long long)hi, v);
    *out = (int64_t)v;
    return TRDI_OK;
}

static trdi_status json_string(const cJSON *obj, const char *key, const char *where,
                               const char **out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return TRDI_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: field \"%s\" must be a string", where, key);
    *out = it->valuestring;
    return TRDI_OK;
}

static trdi_status json_noise(const cJSON *ns, const char *path, trdi_noise_config *cfg) {
    static const char *const keys[] = {"beta_schedule",       "beta_start",      "beta_end",
                                       "num_train_timesteps", "steps_offset",    "set_alpha_to_one",
                                       "timestep_spacing",    "prediction_type", NULL};
    char where[300];
    snprintf(where, sizeof where, "%s: noise_schedule", path);
    if (!cJSON_IsObject(ns)) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s must be an object", where);
    trdi_status st = json_only_keys(ns, where, keys);
    if (st) return st;
    const char *s = NULL;
    if (!(st = json_string(ns, "beta_schedule", where, &s)) && s &&
        (st = trdi_beta_schedule_from_name(s, &cfg->beta_schedule)))
        trdi_error_prefix("%s", where);
    if (st) return st;
    s = NULL;
    if (!(st = json_string(ns, "timestep_spacing", where, &s)) && s &&
        (st = trdi_timestep_spacing_from_name(s, &cfg->timestep_spacing)))
        trdi_error_prefix("%s", where);
    if (st) return st;
    s = NULL;
    if ((st = json_string(ns, "prediction_type", where, &s))) return st;
    if (s && strcmp(s, "epsilon"))
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "%s: prediction_type \"%s\": the mixture predicts noise, only \"epsilon\" "
                         "is meaningful",
                         where, s);
    if ((st = json_number(ns, "beta_start", where, &cfg->beta_start, NULL))) return st;
    if ((st = json_number(ns, "beta_end", where, &cfg->beta_end, NULL))) return st;
    if ((st = json_int(ns, "num_train_timesteps", where, 1, 100000, &cfg->num_train_timesteps,
                       NULL)))
        return st;
    if ((st = json_int(ns, "steps_offset", where, 0, 100000, &cfg->steps_offset, NULL))) return st;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(ns, "set_alpha_to_one");
    if (b) {
        if (!cJSON_IsBool(b))
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "%s: field \"set_alpha_to_one\" must be true or false", where);
        cfg->set_alpha_to_one = cJSON_IsTrue(b);
    }
    return TRDI_OK;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - path);
    if (n == 0) return strdup("/");
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

/* {"pattern": name} or {"image": path}: renders (size known) or reads the image. */
static trdi_status json_source(const cJSON *obj, const char *where, const char *base, int64_t w,
                               int64_t h, int64_t c, bool size_known, trdi_image *out,
                               char **origin) {
    const char *pattern = NULL, *image = NULL;
    trdi_status st = json_string(obj, "pattern", where, &pattern);
    if (!st) st = json_string(obj, "image", where, &image);
    if (st) return st;
    if ((pattern != NULL) == (image != NULL))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: give exactly one of \"pattern\" and \"image\"",
                         where);
    if (pattern) {
        if (!gmm_pattern_exists(pattern))
            return trdi_fail(
                TRDI_ERR_INVALID_ARG,
                "%s: unknown pattern \"%s\" (known: circle, stripes, checker, gradient, scene, "
                "landscape)",
                where, pattern);
        *origin = strdup(where);
        if (!*origin) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        /* Without a known size a pattern waits for the first image; render at 1x1 placeholder. */
        return gmm_pattern_render(pattern, size_known ? w : 1, size_known ? h : 1, c ? c : 3, out);
    }
    if (!image[0]) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: empty \"image\" path", where);
    char *path = join_path(base, image);
    if (!path) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    st = trdi_image_read(path, out);
    if (st) {
        trdi_error_prefix("%s", where);
        free(path);
        return st;
    }
    *origin = path;
    return TRDI_OK;
}

trdi_status gmm_build_json(const char *path, const trdi_model_params *p, gmm **out,
                           trdi_image *test, trdi_noise_config *noise) {
    *out = NULL;
    memset(test, 0, sizeof *test);
    trdi_status st = check_params(p);
    if (st) return st;
    FILE *f = fopen(path, "rb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > (16 << 20)) {
        fclose(f);
        return trdi_fail(TRDI_ERR_IO, "%s: not a regular file of at most 16 MiB", path);
    }
    size_t n = (size_t)sb.st_size;
    char *text = malloc(n + 1);
    if (!text) {
        fclose(f);
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    }
    size_t got = fread(text, 1, n, f);
    fclose(f);
    if (got != n) {
        free(text);
        return trdi_fail(TRDI_ERR_IO, "%s: read error", path);
    }
    text[n] = 0;
    cJSON *root = cJSON_ParseWithLength(text, n);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at ? (long)(at - text) : -1;
        free(text);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: invalid JSON near byte %ld", path, off);
    }
    free(text);
    char *base = dir_of(path);
    comp_list l = {0};
    char where[400];
    static const char *const root_keys[] = {"width",          "height",     "channels",
                                            "variance",       "components", "test_image",
                                            "noise_schedule", NULL};
    static const char *const comp_keys[] = {"label",   "weight", "variance",
                                            "pattern", "image",  NULL};
    static const char *const test_keys[] = {"pattern", "image", NULL};
    int64_t w = p->width, h = p->height, c = p->channels;
    double var = p->variance;
    bool fw = false, fh = false, fc = false;
    const cJSON *comps = NULL, *ti = NULL, *ns = NULL;
    if (!base) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    if (!st && !cJSON_IsObject(root))
        st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: the top level must be an object", path);
    if (!st) st = json_only_keys(root, path, root_keys);
    int64_t jw = 0, jh = 0, jc = 0;
    if (!st) st = json_int(root, "width", path, 1, 16384, &jw, &fw);
    if (!st) st = json_int(root, "height", path, 1, 16384, &jh, &fh);
    if (!st) st = json_int(root, "channels", path, 1, 3, &jc, &fc);
    if (!st && fw != fh)
        st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: give both \"width\" and \"height\" or neither",
                       path);
    if (!st && fc && jc == 2)
        st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"channels\" must be 1 or 3", path);
    if (!st && fw) w = jw, h = jh; /* the JSON's size wins over params */
    if (!st && fc) c = jc;
    if (!st) {
        bool fv = false;
        double jv = 0;
        st = json_number(root, "variance", path, &jv, &fv);
        if (!st && fv) {
            if (jv < 0)
                st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"variance\" must be >= 0, got %g", path,
                               jv);
            var = jv;
        }
    }
    if (!st) {
        comps = cJSON_GetObjectItemCaseSensitive(root, "components");
        if (!cJSON_IsArray(comps) || cJSON_GetArraySize(comps) == 0)
            st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"components\" must be a non-empty array",
                           path);
    }
    bool size_known = w > 0;
    int64_t idx = 0;
    for (const cJSON *it = comps ? comps->child : NULL; it && !st; it = it->next, idx++) {
        snprintf(where, sizeof where, "%s: components[%lld]", path, (long long)idx);
        if (!cJSON_IsObject(it)) {
            st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s must be an object", where);
            break;
        }
        if ((st = json_only_keys(it, where, comp_keys))) break;
        const char *label = NULL;
        double weight = 1.0, cv = var;
        if ((st = json_string(it, "label", where, &label))) break;
        if ((st = json_number(it, "weight", where, &weight, NULL))) break;
        if ((st = json_number(it, "variance", where, &cv, NULL))) break;
        if (!(weight > 0)) {
            st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"weight\" must be > 0, got %g", where,
                           weight);
            break;
        }
        if (!(cv >= 0)) {
            st =
                trdi_fail(TRDI_ERR_INVALID_ARG, "%s: \"variance\" must be >= 0, got %g", where, cv);
            break;
        }
        trdi_image im;
        char *origin = NULL;
        if ((st = json_source(it, where, base, w, h, c, size_known, &im, &origin))) break;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(it, "pattern");
        if (!size_known && !pat) {
            /* The first image fixes the size; patterns rendered before it are redone below. */
            w = im.width, h = im.height, size_known = true;
        }
        if (c == 0 && !pat) c = im.channels;
        st = comp_list_add(&l, &im, label, weight, cv, origin);
        free(origin);
    }
    if (!st && !size_known) w = 32, h = 32, size_known = true; /* patterns only, no size: 32x32 */
    if (!st && c == 0) c = 3;
    /* Re-render patterns at the final size (they may have been drawn before it was known). */
    idx = 0;
    for (const cJSON *it = comps ? comps->child : NULL; it && !st; it = it->next, idx++) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(it, "pattern");
        if (!pat) continue;
        trdi_image im;
        if ((st = gmm_pattern_render(pat->valuestring, w, h, c, &im))) break;
        trdi_image_clear(&l.img[idx]);
        l.img[idx] = im;
    }
    if (!st) st = comp_list_build(&l, w, h, c, fw || p->width > 0, out);
    if (!st) {
        ti = cJSON_GetObjectItemCaseSensitive(root, "test_image");
        snprintf(where, sizeof where, "%s: test_image", path);
        if (!ti) {
            st = gmm_pattern_render("scene", w, h, c, test);
        } else if (!cJSON_IsObject(ti)) {
            st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s must be an object", where);
        } else if (!(st = json_only_keys(ti, where, test_keys))) {
            trdi_image raw;
            char *origin = NULL;
            st = json_source(ti, where, base, w, h, c, true, &raw, &origin);
            free(origin);
            if (!st) {
                st = trdi_image_fit(&raw, w, h, c, test);
                trdi_image_clear(&raw);
            }
        }
    }
    if (!st) {
        *noise = trdi_noise_config_default();
        ns = cJSON_GetObjectItemCaseSensitive(root, "noise_schedule");
        if (ns) st = json_noise(ns, path, noise);
    }
    comp_list_free(&l);
    free(base);
    cJSON_Delete(root);
    if (st) {
        gmm_free(*out);
        *out = NULL;
        trdi_image_clear(test);
    }
    return st;
}
