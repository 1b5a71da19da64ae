/* diffusers.c -- a diffusers model folder (DiffusionPipeline.save_pretrained layout): reads
 * model_index.json, finds the components ([library, class] entries), parses each component's
 * config and resolves its safetensors weights file with diffusers' variant naming
 * (`<name>.safetensors`, `<name>.fp16.safetensors`, ...). Not a model builder: loaders read the
 * configs and weights through this. Sharded and PyTorch-pickle (.bin) weights are reported as
 * unsupported. */
#include "io/diffusers.h"

#include "core/core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct comp_t {
    char *name;
    char *library;    /* "diffusers", "transformers", ... */
    char *class_name; /* "UNet2DConditionModel", ... */
    char *dir;
    char *config_path; /* NULL when the component has no config file */
    trdi_json *config;
    char *weights; /* resolved weights file, or NULL (weights_status/weights_error say why) */
    trdi_weights_variant weights_variant;
    trdi_status weights_status;
    char *weights_error;
} comp_t;

struct trdi_diffusers {
    char *dir;
    char *index_path;
    trdi_json *index;
    const char *class_name;
    trdi_weights_variant variant;
    comp_t *c;
    int64_t n;
};

static const char *const known_components[] = {
    "scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet", "vae", NULL};

static const char *const variant_names[] = {"auto", "fp32", "fp16", "bf16"};

const char *trdi_weights_variant_name(trdi_weights_variant v) {
    if ((int)v < 0 || (int)v > 3) return "?";
    return variant_names[v];
}

trdi_status trdi_weights_variant_from_name(const char *name, trdi_weights_variant *out) {
    if (out) *out = TRDI_VARIANT_AUTO;
    if (!name || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "weights variant: NULL argument");
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, variant_names[i]) == 0) {
            *out = (trdi_weights_variant)i;
            return TRDI_OK;
        }
    }
    return trdi_fail(TRDI_ERR_INVALID_ARG,
                     "unknown weights variant '%.64s' (expected auto, fp32, fp16 or bf16)", name);
}

/* ---------------------------------------------------------------------------------------------- */

static char *join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s) return NULL;
    memcpy(s, a, na);
    size_t k = na;
    if (k && s[k - 1] != '/') s[k++] = '/';
    memcpy(s + k, b, nb + 1);
    return s;
}

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Component names become folder names: refuse anything that could leave the model folder. */
static bool safe_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool is_known(const char *name) {
    for (int i = 0; known_components[i]; i++)
        if (strcmp(name, known_components[i]) == 0) return true;
    return false;
}

static const char *config_file_for(const comp_t *c) {
    if (strstr(c->class_name, "Scheduler")) return "scheduler_config.json";
    if (strstr(c->class_name, "Tokenizer")) return "tokenizer_config.json";
    if (strstr(c->class_name, "ImageProcessor") || strstr(c->class_name, "FeatureExtractor"))
        return "preprocessor_config.json";
    return "config.json";
}

static bool has_weights(const comp_t *c) {
    return strcmp(config_file_for(c), "config.json") == 0;
}

static void component_clear(comp_t *c) {
    free(c->name);
    free(c->library);
    free(c->class_name);
    free(c->dir);
    free(c->config_path);
    trdi_json_free(c->config);
    free(c->weights);
    free(c->weights_error);
}

void trdi_diffusers_free(trdi_diffusers *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++)
        component_clear(&m->c[i]);
    free(m->c);
    trdi_json_free(m->index);
    free(m->index_path);
    free(m->dir);
    free(m);
}

/* Records why a component has no weights file (reported when they are asked for). */
static void weights_fail(comp_t *c, trdi_status st, const char *fmt, ...) TRDI_PRINTF(3, 4);
static void weights_fail(comp_t *c, trdi_status st, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->weights_status = st;
    free(c->weights_error);
    c->weights_error = strdup(buf);
}

/* Finds the weights file of a model component under `variant`. */
static trdi_status resolve_weights(comp_t *c, trdi_weights_variant variant) {
    /* diffusers models save diffusion_pytorch_model.*, transformers models model.* */
    const char *bases[2] = {"diffusion_pytorch_model", "model"};
    if (strcmp(c->library, "transformers") == 0) {
        bases[0] = "model";
        bases[1] = "diffusion_pytorch_model";
    }
    static const char *const suffix[] = {[TRDI_VARIANT_FP32] = ".safetensors",
                                         [TRDI_VARIANT_FP16] = ".fp16.safetensors",
                                         [TRDI_VARIANT_BF16] = ".bf16.safetensors"};
    trdi_weights_variant order[3];
    int norder = 0;
    if (variant == TRDI_VARIANT_AUTO) {
        order[0] = TRDI_VARIANT_FP32, order[1] = TRDI_VARIANT_FP16, order[2] = TRDI_VARIANT_BF16;
        norder = 3;
    } else {
        order[0] = variant;
        norder = 1;
    }
    char name[128];
    for (int v = 0; v < norder; v++) {
        for (int b = 0; b < 2; b++) {
            snprintf(name, sizeof name, "%s%s", bases[b], suffix[order[v]]);
            char *p = join(c->dir, name);
            if (!p) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
            if (is_file(p)) {
                c->weights = p;
                c->weights_variant = order[v];
                c->weights_status = TRDI_OK;
                return TRDI_OK;
            }
            free(p);
        }
    }
    /* nothing usable: say what is there instead */
    for (int v = 0; v < norder; v++) {
        for (int b = 0; b < 2; b++) {
            snprintf(name, sizeof name, "%s%s.index.json", bases[b], suffix[order[v]]);
            char *p = join(c->dir, name);
            bool sharded = p && is_file(p);
            free(p);
            if (sharded) {
                weights_fail(c, TRDI_ERR_UNSUPPORTED,
                             "%s: sharded weights (%s) are not supported; merge the shards into "
                             "one safetensors file",
                             c->dir, name);
                return TRDI_OK;
            }
            const char *bin = order[v] == TRDI_VARIANT_FP32   ? ".bin"
                              : order[v] == TRDI_VARIANT_FP16 ? ".fp16.bin"
                                                              : ".bf16.bin";
            snprintf(name, sizeof name, "%s%s", bases[b], bin);
            p = join(c->dir, name);
            bool pickle = p && is_file(p);
            free(p);
            if (pickle) {
                weights_fail(c, TRDI_ERR_UNSUPPORTED,
                             "%s: only PyTorch pickle weights (%s) found; trdi reads safetensors "
                             "(convert with the safetensors tools)",
                             c->dir, name);
                return TRDI_OK;
            }
        }
    }
    if (variant == TRDI_VARIANT_AUTO) {
        weights_fail(c, TRDI_ERR_IO,
                     "%s: no weights file (looked for %s.safetensors, %s.fp16.safetensors, "
                     "%s.bf16.safetensors)",
                     c->dir, bases[0], bases[0], bases[0]);
    } else {
        weights_fail(c, TRDI_ERR_IO, "%s: no %s weights file (%s%s)", c->dir,
                     trdi_weights_variant_name(variant), bases[0], suffix[variant]);
    }
    return TRDI_OK;
}

static trdi_status open_component(trdi_diffusers *m, comp_t *c) {
    bool known = is_known(c->name);
    if (!(c->dir = join(m->dir, c->name))) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    if (!is_dir(c->dir)) {
        if (!known) return TRDI_OK; /* e.g. a safety checker we never use */
        return trdi_fail(TRDI_ERR_IO,
                         "%s: component '%s' (%s) listed in model_index.json has no "
                         "folder",
                         c->dir, c->name, c->class_name);
    }
    char *cfg = join(c->dir, config_file_for(c));
    if (!cfg) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    if (is_file(cfg)) {
        c->config_path = cfg;
        trdi_status st = trdi_json_load(cfg, &c->config);
        if (st != TRDI_OK) return st;
        if (!cJSON_IsObject(trdi_json_root(c->config)))
            return trdi_fail(TRDI_ERR_FORMAT, "%s: expected a JSON object", cfg);
    } else {
        bool optional = !known || strstr(c->class_name, "Tokenizer") != NULL;
        if (!optional) {
            trdi_status st =
                trdi_fail(TRDI_ERR_IO, "%s: missing (config of component '%s')", cfg, c->name);
            free(cfg);
            return st;
        }
        free(cfg);
    }
    if (has_weights(c)) {
        trdi_status st = resolve_weights(c, m->variant);
        if (st != TRDI_OK) return st;
    } else {
        weights_fail(c, TRDI_ERR_INVALID_ARG, "component '%s' (%s) has no weights", c->name,
                     c->class_name);
    }
    return TRDI_OK;
}

trdi_status trdi_diffusers_open(const char *dir, trdi_weights_variant variant,
                                trdi_diffusers **out) {
    if (out) *out = NULL;
    if (!dir || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers_open: NULL argument");
    if ((int)variant < 0 || (int)variant > 3)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers_open: unknown variant %d", (int)variant);
    if (!is_dir(dir)) return trdi_fail(TRDI_ERR_IO, "%s: not a folder", dir);
    trdi_diffusers *m = calloc(1, sizeof *m);
    if (!m) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    m->variant = variant;
    trdi_status st = TRDI_OK;
    if (!(m->dir = strdup(dir)) || !(m->index_path = join(dir, "model_index.json"))) {
        st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!is_file(m->index_path)) {
        st = trdi_fail(TRDI_ERR_IO, "%s: missing: not a diffusers model folder", m->index_path);
        goto fail;
    }
    if ((st = trdi_json_load(m->index_path, &m->index)) != TRDI_OK) goto fail;
    const cJSON *root = trdi_json_root(m->index);
    if (!cJSON_IsObject(root)) {
        st = trdi_fail(TRDI_ERR_FORMAT, "%s: expected a JSON object", m->index_path);
        goto fail;
    }
    if ((st = trdi_json_string(m->index, NULL, "_class_name", &m->class_name)) != TRDI_OK)
        goto fail;
    int64_t n = 0;
    for (const cJSON *it = root->child; it; it = it->next)
        n++;
    m->c = trdi_calloc((size_t)n, sizeof *m->c);
    if (!m->c) {
        st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        const char *key = it->string ? it->string : "";
        /* components are [library, class]; [null, null] means absent; other keys (_class_name,
         * requires_safety_checker, force_zeros_for_empty_prompt, ...) are pipeline settings */
        if (!cJSON_IsArray(it) || key[0] == '_') continue;
        const cJSON *lib = cJSON_GetArrayItem(it, 0), *cls = cJSON_GetArrayItem(it, 1);
        if (cJSON_GetArraySize(it) != 2 || (!cJSON_IsNull(lib) && !cJSON_IsString(lib)) ||
            (!cJSON_IsNull(cls) && !cJSON_IsString(cls))) {
            st = trdi_fail(TRDI_ERR_FORMAT,
                           "%s: key '%.100s': expected [library, class] (strings or nulls)",
                           m->index_path, key);
            goto fail;
        }
        if (cJSON_IsNull(lib) || cJSON_IsNull(cls)) continue;
        if (!safe_name(key)) {
            st =
                trdi_fail(TRDI_ERR_FORMAT, "%s: component name '%.100s' is not a plain folder name",
                          m->index_path, key);
            goto fail;
        }
        for (int64_t i = 0; i < m->n; i++) {
            if (strcmp(m->c[i].name, key) == 0) {
                st = trdi_fail(TRDI_ERR_FORMAT, "%s: component '%s' listed twice", m->index_path,
                               key);
                goto fail;
            }
        }
        comp_t *c = &m->c[m->n++];
        if (!(c->name = strdup(key)) || !(c->library = strdup(lib->valuestring)) ||
            !(c->class_name = strdup(cls->valuestring))) {
            st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if ((st = open_component(m, c)) != TRDI_OK) goto fail;
    }
    *out = m;
    return TRDI_OK;
fail:
    trdi_diffusers_free(m);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */

static const comp_t *find(const trdi_diffusers *m, const char *name) {
    if (!m || !name) return NULL;
    for (int64_t i = 0; i < m->n; i++)
        if (strcmp(m->c[i].name, name) == 0) return &m->c[i];
    return NULL;
}

static trdi_status need(const trdi_diffusers *m, const char *name, const comp_t **out) {
    *out = NULL;
    if (!m || !name) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers: NULL model or component");
    const comp_t *c = find(m, name);
    if (!c)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: the model has no component '%.100s'",
                         m->index_path, name);
    *out = c;
    return TRDI_OK;
}

const char *trdi_diffusers_dir(const trdi_diffusers *m) {
    return m ? m->dir : "";
}

const char *trdi_diffusers_class(const trdi_diffusers *m) {
    return m ? m->class_name : "";
}

trdi_weights_variant trdi_diffusers_variant(const trdi_diffusers *m) {
    return m ? m->variant : TRDI_VARIANT_AUTO;
}

int64_t trdi_diffusers_component_count(const trdi_diffusers *m) {
    return m ? m->n : 0;
}

const char *trdi_diffusers_component_name(const trdi_diffusers *m, int64_t i) {
    if (!m || i < 0 || i >= m->n) return NULL;
    return m->c[i].name;
}

bool trdi_diffusers_has(const trdi_diffusers *m, const char *component) {
    return find(m, component) != NULL;
}

const char *trdi_diffusers_component_class(const trdi_diffusers *m, const char *component,
                                           const char **library) {
    const comp_t *c = find(m, component);
    if (library) *library = c ? c->library : NULL;
    return c ? c->class_name : NULL;
}

trdi_status trdi_diffusers_component_dir(const trdi_diffusers *m, const char *component,
                                         const char **out) {
    if (out) *out = NULL;
    const comp_t *c;
    trdi_status st = need(m, component, &c);
    if (st != TRDI_OK) return st;
    if (!is_dir(c->dir)) return trdi_fail(TRDI_ERR_IO, "%s: component folder missing", c->dir);
    if (out) *out = c->dir;
    return TRDI_OK;
}

trdi_status trdi_diffusers_config_json(const trdi_diffusers *m, const char *component,
                                       const trdi_json **out) {
    *out = NULL;
    if (!component) {
        if (!m) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers: NULL model");
        *out = m->index;
        return TRDI_OK;
    }
    const comp_t *c;
    trdi_status st = need(m, component, &c);
    if (st != TRDI_OK) return st;
    if (!c->config)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: component '%s' has no config file", c->dir,
                         c->name);
    *out = c->config;
    return TRDI_OK;
}

trdi_status trdi_diffusers_config_path(const trdi_diffusers *m, const char *component,
                                       const char **out) {
    if (out) *out = NULL;
    if (!component) {
        if (!m) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers: NULL model");
        if (out) *out = m->index_path;
        return TRDI_OK;
    }
    const trdi_json *j;
    trdi_status st = trdi_diffusers_config_json(m, component, &j);
    if (st != TRDI_OK) return st;
    if (out) *out = trdi_json_path(j);
    return TRDI_OK;
}

trdi_status trdi_diffusers_weights_path(const trdi_diffusers *m, const char *component,
                                        const char **path, trdi_weights_variant *chosen) {
    if (path) *path = NULL;
    if (chosen) *chosen = TRDI_VARIANT_AUTO;
    const comp_t *c;
    trdi_status st = need(m, component, &c);
    if (st != TRDI_OK) return st;
    if (!c->weights) {
        if (c->weights_error) return trdi_fail(c->weights_status, "%s", c->weights_error);
        return trdi_fail(TRDI_ERR_IO, "%s: component folder missing", c->dir);
    }
    if (path) *path = c->weights;
    if (chosen) *chosen = c->weights_variant;
    return TRDI_OK;
}

trdi_status trdi_diffusers_open_weights(const trdi_diffusers *m, const char *component,
                                        trdi_safetensors **out) {
    if (out) *out = NULL;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers_open_weights: NULL out");
    const char *p;
    trdi_status st = trdi_diffusers_weights_path(m, component, &p, NULL);
    if (st != TRDI_OK) return st;
    return trdi_safetensors_open(p, out);
}

trdi_status trdi_diffusers_check_weights(const trdi_diffusers *m, const char *component,
                                         const trdi_st_spec *expected, int64_t n,
                                         bool allow_unexpected, char **report) {
    if (report) *report = NULL;
    trdi_safetensors *f;
    trdi_status st = trdi_diffusers_open_weights(m, component, &f);
    if (st != TRDI_OK) return st;
    st = trdi_safetensors_check(f, expected, n, allow_unexpected, report);
    trdi_safetensors_close(f);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Typed config reads for callers outside the library (the CLI): required keys only.             */

static trdi_status config_of(const trdi_diffusers *m, const char *component, const trdi_json **j) {
    return trdi_diffusers_config_json(m, component, j);
}

trdi_status trdi_diffusers_config_int(const trdi_diffusers *m, const char *component,
                                      const char *key, int64_t *out) {
    const trdi_json *j;
    trdi_status st = config_of(m, component, &j);
    if (st != TRDI_OK) return st;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers_config_int: NULL out");
    return trdi_json_int(j, NULL, key, INT64_MIN, INT64_MAX, out);
}

trdi_status trdi_diffusers_config_double(const trdi_diffusers *m, const char *component,
                                         const char *key, double *out) {
    const trdi_json *j;
    trdi_status st = config_of(m, component, &j);
    if (st != TRDI_OK) return st;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers_config_double: NULL out");
    return trdi_json_double(j, NULL, key, -1e308, 1e308, out);
}

trdi_status trdi_diffusers_config_bool(const trdi_diffusers *m, const char *component,
                                       const char *key, bool *out) {
    const trdi_json *j;
    trdi_status st = config_of(m, component, &j);
    if (st != TRDI_OK) return st;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers_config_bool: NULL out");
    return trdi_json_bool(j, NULL, key, out);
}

trdi_status trdi_diffusers_config_string(const trdi_diffusers *m, const char *component,
                                         const char *key, const char **out) {
    const trdi_json *j;
    trdi_status st = config_of(m, component, &j);
    if (st != TRDI_OK) return st;
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "diffusers_config_string: NULL out");
    return trdi_json_string(j, NULL, key, out);
}
