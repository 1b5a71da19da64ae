/* calib_io.c -- files of calibrated schedules: the calibration JSON (write atomically, read
 * back), the "timesteps" list of any schedule JSON (--schedule-file), the model fingerprint and
 * the on-disk cache keyed by it. No measurement or fitting here (calib.c, fit.c). */
#include "calib/calib.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE (64 * 1024 * 1024) /* a schedule file is small; refuse anything huge */

/* Reads a whole file (NUL-terminated). */
static trdi_status read_text(const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= MAX_FILE) {
                free(buf);
                fclose(f);
                return trdi_fail(TRDI_ERR_FORMAT, "%s: larger than %d bytes", path, MAX_FILE);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    bool io_err = ferror(f);
    fclose(f);
    if (!buf) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    if (io_err) {
        free(buf);
        return trdi_fail(TRDI_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    return TRDI_OK;
}

static trdi_status parse_object(const char *path, cJSON **out) {
    *out = NULL;
    char *text;
    trdi_status st = read_text(path, &text);
    if (st) return st;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) return trdi_fail(TRDI_ERR_FORMAT, "%s: not valid JSON", path);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: not a JSON object", path);
    }
    *out = j;
    return TRDI_OK;
}

/* An integral JSON number in [lo, hi]. */
static bool json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return false;
    *out = (int64_t)d;
    return true;
}

static trdi_status read_list(const char *path, const cJSON *j, const char *key, int64_t **out,
                             int64_t *out_n) {
    *out = NULL;
    *out_n = 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!a) return trdi_fail(TRDI_ERR_FORMAT, "%s: no \"%s\" list", path, key);
    if (!cJSON_IsArray(a)) return trdi_fail(TRDI_ERR_FORMAT, "%s: \"%s\" is not a list", path, key);
    int64_t n = cJSON_GetArraySize(a);
    if (n < 1) return trdi_fail(TRDI_ERR_FORMAT, "%s: \"%s\" is empty", path, key);
    int64_t *v = trdi_mallocn((size_t)n, sizeof *v);
    if (!v) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!json_int(e, 0, 100000000, &v[i])) {
            free(v);
            return trdi_fail(TRDI_ERR_FORMAT, "%s: \"%s\" entry %lld is not an integer >= 0", path,
                             key, (long long)i);
        }
        if (i > 0 && v[i] >= v[i - 1]) {
            int64_t a0 = v[i - 1], a1 = v[i];
            free(v);
            return trdi_fail(TRDI_ERR_FORMAT,
                             "%s: \"%s\" must be strictly descending, but entry %lld = %lld "
                             "follows %lld",
                             path, key, (long long)i, (long long)a1, (long long)a0);
        }
        i++;
    }
    *out = v;
    *out_n = n;
    return TRDI_OK;
}

trdi_status trdi_schedule_file_read(const char *path, int64_t **out, int64_t *out_n) {
    if (out) *out = NULL;
    if (out_n) *out_n = 0;
    if (!path || !out || !out_n)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_schedule_file_read: NULL argument");
    cJSON *j;
    trdi_status st = parse_object(path, &j);
    if (st) return st;
    st = read_list(path, j, "timesteps", out, out_n);
    cJSON_Delete(j);
    return st;
}

static cJSON *int_array(const int64_t *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

/* Writes text to a temporary file next to `path`, then renames it into place. */
static trdi_status write_atomic(const char *path, const char *text) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, len + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        trdi_status st = trdi_fail(TRDI_ERR_IO, "%s: cannot create a temporary file: %s", path,
                                   strerror(errno));
        free(tmp);
        return st;
    }
    (void)fchmod(fd, 0644);
    size_t n = strlen(text), off = 0;
    bool ok = true;
    while (ok && off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w <= 0) ok = false;
        else off += (size_t)w;
    }
    if (ok && write(fd, "\n", 1) != 1) ok = false;
    if (close(fd) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        trdi_status st = trdi_fail(TRDI_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return TRDI_OK;
}

trdi_status trdi_calib_result_save(const trdi_calib_result *r, const char *key, const char *path) {
    if (!r || !path || !r->timesteps || r->steps < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_calib_result_save: empty result or NULL path");
    cJSON *j = cJSON_CreateObject();
    if (!j) return trdi_fail(TRDI_ERR_NOMEM, "calibration JSON: out of memory");
    cJSON_AddStringToObject(j, "format", "trdi-calibration");
    cJSON_AddNumberToObject(j, "version", 1);
    if (key) cJSON_AddStringToObject(j, "cache_key", key);
    cJSON_AddStringToObject(j, "schedule", "calibrated");
    cJSON_AddStringToObject(j, "stepping", trdi_stepping_name(r->stepping));
    cJSON_AddNumberToObject(j, "steps", (double)r->steps);
    cJSON_AddItemToObject(j, "timesteps", int_array(r->timesteps, r->steps));
    cJSON_AddNumberToObject(j, "predicted_error", r->predicted);
    if (r->uniform) cJSON_AddItemToObject(j, "uniform_timesteps", int_array(r->uniform, r->steps));
    cJSON_AddNumberToObject(j, "uniform_predicted_error", r->predicted_uniform);
    cJSON *fit = cJSON_AddObjectToObject(j, "fit");
    if (fit) {
        cJSON_AddStringToObject(fit, "model", "log err = a(s) + p(s) log(d / step_ref)");
        cJSON_AddNumberToObject(fit, "r2", r->fit_r2);
        cJSON_AddNumberToObject(fit, "log_rms", r->fit_log_rms);
        cJSON_AddNumberToObject(fit, "step_ref", (double)r->step_ref);
        if (r->n_sources > 0) {
            cJSON_AddItemToObject(fit, "source_t", int_array(r->source_t, r->n_sources));
            cJSON *a = cJSON_AddArrayToObject(fit, "a"), *p = cJSON_AddArrayToObject(fit, "p");
            for (int64_t i = 0; a && p && i < r->n_sources; i++) {
                cJSON_AddItemToArray(a, cJSON_CreateNumber(r->fit_a[i]));
                cJSON_AddItemToArray(p, cJSON_CreateNumber(r->fit_p[i]));
            }
        }
    }
    cJSON *cal = cJSON_AddObjectToObject(j, "calibration");
    if (cal) {
        cJSON_AddNumberToObject(cal, "nfe", (double)r->nfe);
        cJSON_AddNumberToObject(cal, "budget", (double)r->budget);
        char seed[32];
        snprintf(seed, sizeof seed, "%" PRIu64, r->seed);
        cJSON_AddStringToObject(cal, "seed", seed);
        cJSON_AddNumberToObject(cal, "inputs", (double)r->n_inputs);
        cJSON_AddNumberToObject(cal, "min_gap", (double)r->min_gap);
        cJSON_AddNumberToObject(cal, "num_train_timesteps", (double)r->num_train_timesteps);
    }
    if (r->n_points > 0) {
        cJSON *pts = cJSON_AddArrayToObject(j, "measurements");
        for (int64_t i = 0; pts && i < r->n_points; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "s", (double)r->points[i].s);
            cJSON_AddNumberToObject(o, "d", (double)r->points[i].d);
            cJSON_AddNumberToObject(o, "err_rms", r->points[i].err_rms);
            cJSON_AddNumberToObject(o, "predicted", r->points[i].predicted);
            cJSON_AddItemToArray(pts, o);
        }
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return trdi_fail(TRDI_ERR_NOMEM, "calibration JSON: out of memory");
    trdi_status st = write_atomic(path, text);
    free(text);
    return st;
}

static bool json_num(const cJSON *j, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return false;
    *out = v->valuedouble;
    return true;
}

trdi_status trdi_calib_result_load(const char *path, const char *key, trdi_calib_result *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_calib_result_load: NULL argument");
    cJSON *j;
    trdi_status st = parse_object(path, &j);
    if (st) return st;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "cache_key");
    const cJSON *stp = cJSON_GetObjectItemCaseSensitive(j, "stepping");
    const cJSON *fit = cJSON_GetObjectItemCaseSensitive(j, "fit");
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(j, "calibration");
    int64_t n = 0, nu = 0;
    double nfe = 0, budget = 0, ntt = 0;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "trdi-calibration")) {
        st = trdi_fail(TRDI_ERR_FORMAT, "%s: not a trdi calibration file (\"format\")", path);
    } else if (key && (!cJSON_IsString(k) || strcmp(k->valuestring, key))) {
        st = trdi_fail(TRDI_ERR_FORMAT, "%s: \"cache_key\" does not match %s", path, key);
    } else if (!cJSON_IsString(stp) || trdi_stepping_from_name(stp->valuestring, &out->stepping)) {
        st = trdi_fail(TRDI_ERR_FORMAT, "%s: bad \"stepping\"", path);
    } else if (!json_num(j, "predicted_error", &out->predicted) ||
               !json_num(j, "uniform_predicted_error", &out->predicted_uniform) ||
               !cJSON_IsObject(fit) || !json_num(fit, "r2", &out->fit_r2) ||
               !json_num(fit, "log_rms", &out->fit_log_rms) || !cJSON_IsObject(cal) ||
               !json_num(cal, "nfe", &nfe) || !json_num(cal, "budget", &budget) ||
               !json_num(cal, "num_train_timesteps", &ntt)) {
        st = trdi_fail(TRDI_ERR_FORMAT, "%s: a missing or non-numeric field", path);
    } else if (!(st = read_list(path, j, "timesteps", &out->timesteps, &n)) &&
               !(st = read_list(path, j, "uniform_timesteps", &out->uniform, &nu))) {
        if (n != nu || out->timesteps[0] >= ntt || out->timesteps[0] != out->uniform[0] ||
            out->timesteps[n - 1] != out->uniform[n - 1])
            st = trdi_fail(TRDI_ERR_FORMAT, "%s: inconsistent timestep lists", path);
    }
    if (!st) {
        out->steps = n;
        out->nfe = (int64_t)nfe;
        out->budget = (int64_t)budget;
        out->num_train_timesteps = (int64_t)ntt;
    }
    cJSON_Delete(j);
    if (st) trdi_calib_result_clear(out);
    return st;
}

trdi_status trdi_model_fingerprint(trdi_model *m, uint64_t *out) {
    if (out) *out = 0;
    if (!m || !out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_model_fingerprint: NULL argument");
    const trdi_noise_schedule *ns = trdi_model_noise_schedule(m);
    const int64_t N = trdi_noise_schedule_config(ns)->num_train_timesteps;
    uint64_t h = CALIB_FNV_INIT;
    const char *kind = trdi_model_kind(m);
    h = calib_fnv(h, kind, strlen(kind) + 1);
    h = calib_fnv(h, trdi_noise_schedule_alphas_cumprod(ns), (size_t)N * sizeof(float));
    float fa = trdi_noise_schedule_final_alpha(ns);
    h = calib_fnv(h, &fa, sizeof fa);
    int64_t shp[6];
    trdi_model_latent_shape(m, &shp[0], &shp[1], &shp[2]);
    trdi_model_image_shape(m, &shp[3], &shp[4], &shp[5]);
    h = calib_fnv(h, shp, sizeof shp);
    for (int64_t i = 0; i < trdi_model_num_labels(m); i++) {
        const char *l = trdi_model_label(m, i);
        h = calib_fnv(h, l, strlen(l) + 1);
    }
    /* Three probe predictions (fixed seed) capture the weights / mixture components. */
    const int64_t P = shp[0] * shp[1] * shp[2];
    float *x = trdi_mallocn((size_t)P, sizeof *x), *eps = trdi_mallocn((size_t)P, sizeof *eps);
    if (!x || !eps) {
        free(x);
        free(eps);
        return trdi_fail(TRDI_ERR_NOMEM, "fingerprint: out of memory");
    }
    trdi_denoiser den;
    trdi_status st = trdi_model_denoiser(m, &den);
    trdi_rng rng;
    trdi_rng_seed(&rng, 0x7472646963616cULL);
    const int64_t ts[3] = {0, N / 2, N - 1};
    for (int k = 0; k < 3 && !st; k++) {
        trdi_rng_normal_fill(&rng, x, (size_t)P);
        st = den.predict(den.ctx, 1, x, ts[k], NULL, eps);
        if (!st) h = calib_fnv(h, eps, (size_t)P * sizeof *eps);
    }
    free(x);
    free(eps);
    if (!st) *out = h;
    return st;
}

/* mkdir -p for the cache folder. */
static bool make_dirs(const char *dir) {
    char *d = strdup(dir);
    if (!d) return false;
    bool ok = true;
    for (char *p = d + 1; ok && *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(d, 0755) != 0 && errno != EEXIST) ok = false;
            *p = '/';
        }
    if (ok && mkdir(d, 0755) != 0 && errno != EEXIST) ok = false;
    free(d);
    return ok;
}

trdi_status trdi_calibrate_cached(trdi_model *m, const trdi_calib_params *p, const float *inputs,
                                  int64_t n_inputs, const char *dir, trdi_calib_result *out,
                                  bool *from_cache) {
    if (out) memset(out, 0, sizeof *out);
    if (from_cache) *from_cache = false;
    if (!m || !p || !dir || !out || !inputs || n_inputs < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_calibrate_cached: NULL argument or no inputs");
    uint64_t h;
    trdi_status st = trdi_model_fingerprint(m, &h);
    if (st) return st;
    int64_t C, H, W;
    trdi_model_latent_shape(m, &C, &H, &W);
    const char *prompt = p->prompt ? p->prompt : "";
    int64_t settings[5] = {p->steps, (int64_t)p->stepping, p->budget, (int64_t)p->seed, n_inputs};
    h = calib_fnv(h, settings, sizeof settings);
    h = calib_fnv(h, &p->guidance, sizeof p->guidance);
    h = calib_fnv(h, prompt, strlen(prompt) + 1);
    h = calib_fnv(h, inputs, (size_t)(n_inputs * C * H * W) * sizeof *inputs);
    h = calib_fnv(h, "trdi-calibration-v1", 20); /* bump when the method changes */
    char key[17];
    snprintf(key, sizeof key, "%016" PRIx64, h);
    size_t len = strlen(dir) + 40;
    char *path = malloc(len);
    if (!path) return trdi_fail(TRDI_ERR_NOMEM, "calibration cache: out of memory");
    snprintf(path, len, "%s/calib-%s.json", dir, key);
    if (access(path, F_OK) == 0 && trdi_calib_result_load(path, key, out) == TRDI_OK &&
        out->steps == p->steps && out->stepping == p->stepping) {
        if (from_cache) *from_cache = true;
        free(path);
        return TRDI_OK;
    }
    trdi_calib_result_clear(out);
    st = trdi_calibrate(m, p, inputs, n_inputs, out);
    if (!st && make_dirs(dir)) {
        if (trdi_calib_result_save(out, key, path) != TRDI_OK)
            trdi_log(TRDI_LOG_WARN, "calibration cache: %s", trdi_last_error());
    }
    free(path);
    return st;
}
