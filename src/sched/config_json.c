/* config_json.c -- reads a diffusers scheduler_config.json into a trdi_noise_config. Missing
 * fields take diffusers' DDIMScheduler.__init__ defaults, as diffusers itself does; keys that do
 * not affect the noise table or the timestep list (_class_name, clip_sample, ...) are ignored.
 * It validates types and values and names the field at fault. Not a general JSON layer. */
#include "sched/sched.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Config files are a few hundred bytes; refuse anything absurd before reading it whole. */
enum { MAX_CONFIG_BYTES = 1 << 20 };

static trdi_status read_file(const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char *buf = trdi_mallocn(MAX_CONFIG_BYTES + 1, 1);
    if (!buf) {
        fclose(f);
        return trdi_fail(TRDI_ERR_NOMEM, "reading '%s': out of memory", path);
    }
    size_t n = fread(buf, 1, MAX_CONFIG_BYTES + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return trdi_fail(TRDI_ERR_IO, "cannot read '%s'", path);
    }
    if (n > MAX_CONFIG_BYTES) {
        free(buf);
        return trdi_fail(TRDI_ERR_FORMAT, "'%s' is larger than %d bytes; not a scheduler config",
                         path, (int)MAX_CONFIG_BYTES);
    }
    buf[n] = '\0';
    *out = buf;
    return TRDI_OK;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads an optional integer field (a JSON number with no fraction). */
static trdi_status get_int(const cJSON *root, const char *key, const char *path, int64_t *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) return TRDI_OK;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
        it->valuedouble != floor(it->valuedouble) || fabs(it->valuedouble) > 9.0e15)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: field '%s' must be an integer", path, key);
    *v = (int64_t)it->valuedouble;
    return TRDI_OK;
}

static trdi_status get_num(const cJSON *root, const char *key, const char *path, double *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) return TRDI_OK;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: field '%s' must be a finite number", path, key);
    *v = it->valuedouble;
    return TRDI_OK;
}

static trdi_status get_bool(const cJSON *root, const char *key, const char *path, bool *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) return TRDI_OK;
    if (!cJSON_IsBool(it))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: field '%s' must be true or false", path, key);
    *v = cJSON_IsTrue(it) ? true : false;
    return TRDI_OK;
}

/* A string field parsed by one of the enums' _from_name functions; `present` is set when the key
 * exists. Returns the string or NULL. */
static trdi_status get_str(const cJSON *root, const char *key, const char *path, const char **v) {
    *v = NULL;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) return TRDI_OK;
    if (!cJSON_IsString(it))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: field '%s' must be a string", path, key);
    *v = it->valuestring;
    return TRDI_OK;
}

static trdi_status parse_config(const cJSON *root, const char *path, trdi_noise_config *c) {
    if (!cJSON_IsObject(root))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: expected a JSON object", path);
    /* diffusers DDIMScheduler defaults (scheduling_ddim.py). */
    memset(c, 0, sizeof *c);
    c->beta_schedule = TRDI_BETA_LINEAR;
    c->beta_start = 0.0001;
    c->beta_end = 0.02;
    c->num_train_timesteps = 1000;
    c->steps_offset = 0;
    c->set_alpha_to_one = true;
    c->prediction_type = TRDI_PRED_EPSILON;
    c->timestep_spacing = TRDI_SPACING_LEADING;

    trdi_status st;
    const char *s = NULL;
    if ((st = get_str(root, "beta_schedule", path, &s)) != TRDI_OK) return st;
    if (s && trdi_beta_schedule_from_name(s, &c->beta_schedule) != TRDI_OK)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: field 'beta_schedule': unknown value '%s' (expected linear, "
                         "scaled_linear or squaredcos_cap_v2)",
                         path, s);
    if ((st = get_str(root, "prediction_type", path, &s)) != TRDI_OK) return st;
    if (s && trdi_prediction_type_from_name(s, &c->prediction_type) != TRDI_OK)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: field 'prediction_type': unknown value '%s' (expected epsilon, "
                         "v_prediction or sample)",
                         path, s);
    if ((st = get_str(root, "timestep_spacing", path, &s)) != TRDI_OK) return st;
    if (s && trdi_timestep_spacing_from_name(s, &c->timestep_spacing) != TRDI_OK)
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: field 'timestep_spacing': unknown value '%s' (expected leading, "
                         "linspace or trailing)",
                         path, s);
    if ((st = get_num(root, "beta_start", path, &c->beta_start)) != TRDI_OK) return st;
    if ((st = get_num(root, "beta_end", path, &c->beta_end)) != TRDI_OK) return st;
    if ((st = get_int(root, "num_train_timesteps", path, &c->num_train_timesteps)) != TRDI_OK)
        return st;
    if ((st = get_int(root, "steps_offset", path, &c->steps_offset)) != TRDI_OK) return st;
    if ((st = get_bool(root, "set_alpha_to_one", path, &c->set_alpha_to_one)) != TRDI_OK)
        return st;

    /* Options that change the table in ways trdi does not implement. */
    const cJSON *tb = cJSON_GetObjectItemCaseSensitive(root, "trained_betas");
    if (tb && !cJSON_IsNull(tb))
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: field 'trained_betas' is not supported", path);
    bool zsnr = false;
    if ((st = get_bool(root, "rescale_betas_zero_snr", path, &zsnr)) != TRDI_OK) return st;
    if (zsnr)
        return trdi_fail(TRDI_ERR_UNSUPPORTED,
                         "%s: field 'rescale_betas_zero_snr' = true is not supported", path);

    st = trdi_sched_config_check(c);
    if (st != TRDI_OK) {
        trdi_error_prefix("%s", path);
        return TRDI_ERR_FORMAT;
    }
    return TRDI_OK;
}

trdi_status trdi_noise_config_load(const char *path, trdi_noise_config *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "config: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path) return trdi_fail(TRDI_ERR_INVALID_ARG, "config: path is empty");
    char *file = NULL;
    if (is_dir(path)) {
        /* A diffusers model folder, or a scheduler folder. */
        const char *cands[] = {"scheduler/scheduler_config.json", "scheduler_config.json"};
        for (int i = 0; i < 2 && !file; i++) {
            size_t len = strlen(path) + strlen(cands[i]) + 2;
            char *p = trdi_mallocn(len, 1);
            if (!p) return trdi_fail(TRDI_ERR_NOMEM, "config: out of memory");
            snprintf(p, len, "%s/%s", path, cands[i]);
            if (is_file(p))
                file = p;
            else
                free(p);
        }
        if (!file)
            return trdi_fail(TRDI_ERR_IO,
                             "'%s' has no scheduler/scheduler_config.json or scheduler_config.json",
                             path);
    } else {
        size_t len = strlen(path) + 1;
        file = trdi_mallocn(len, 1);
        if (!file) return trdi_fail(TRDI_ERR_NOMEM, "config: out of memory");
        memcpy(file, path, len);
    }
    char *text = NULL;
    trdi_status st = read_file(file, &text);
    if (st == TRDI_OK) {
        cJSON *root = cJSON_ParseWithOpts(text, NULL, 1); /* no trailing garbage */
        if (!root) {
            st = trdi_fail(TRDI_ERR_FORMAT, "%s: not valid JSON", file);
        } else {
            trdi_noise_config c;
            st = parse_config(root, file, &c);
            if (st == TRDI_OK) *out = c;
            cJSON_Delete(root);
        }
    }
    free(text);
    free(file);
    return st;
}
