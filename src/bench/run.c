/* run.c -- trdi_bench_run and trdi_bench_merge: the configuration grid, run.json settings and
 * their comparison, the append-only results.csv (fsync per row, torn last line dropped, finished
 * rows skipped on reruns), shards and output images. Summaries and charts are in summary.c. */
#include "bench/bench.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LABEL_MAX 192

typedef struct {
    int64_t index;
    char label[LABEL_MAX];
    trdi_method_params method;
    trdi_schedule_params sched;
    float guidance, inv_guidance;
    char g[32], ig[32], steps[24];
} bench_config;

trdi_bench_params trdi_bench_default_params(void) {
    trdi_bench_params p;
    memset(&p, 0, sizeof p);
    p.shard_index = 1;
    p.shard_count = 1;
    return p;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_float(char *buf, size_t n, float v) {
    snprintf(buf, n, "%g", (double)v);
}

/* --- the grid ---------------------------------------------------------------------------------- */

static trdi_status build_grid(const trdi_bench_params *p, bench_config **out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (p->n_methods < 1 || !p->methods) return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: no methods");
    if (p->n_schedules < 1 || !p->schedules) return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: no schedules");
    if (p->n_steps < 1 || !p->steps) return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: no step counts");
    for (int64_t i = 0; i < p->n_methods; i++)
        for (int64_t j = 0; j < i; j++)
            if (p->methods[i].method == p->methods[j].method)
                return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: method '%s' is listed twice",
                                 trdi_method_name(p->methods[i].method));
    for (int64_t i = 0; i < p->n_schedules; i++) {
        if (p->schedules[i].kind == TRDI_SCHEDULE_LIST)
            return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: schedule 'list' needs explicit timesteps and "
                             "cannot be part of a grid");
        for (int64_t j = 0; j < i; j++)
            if (p->schedules[i].kind == p->schedules[j].kind)
                return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: schedule '%s' is listed twice",
                                 trdi_schedule_kind_name(p->schedules[i].kind));
    }
    for (int64_t i = 0; i < p->n_steps; i++) {
        if (p->steps[i] < 1) return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: steps must be >= 1");
        for (int64_t j = 0; j < i; j++)
            if (p->steps[i] == p->steps[j])
                return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: step count %lld is listed twice",
                                 (long long)p->steps[i]);
    }
    int64_t ng = p->n_guidance > 0 ? p->n_guidance : 1;
    int64_t nig = p->n_inv_guidance > 0 ? p->n_inv_guidance : 1;
    for (int64_t i = 0; i < p->n_guidance; i++)
        if (!isfinite(p->guidance[i])) return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: guidance not finite");
    for (int64_t i = 0; i < p->n_inv_guidance; i++)
        if (!isfinite(p->inv_guidance[i]))
            return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: inversion guidance not finite");
    int64_t n = p->n_methods * p->n_schedules * p->n_steps * ng * nig;
    bench_config *c = trdi_calloc((size_t)n, sizeof *c);
    if (!c) return trdi_fail(TRDI_ERR_NOMEM, "out of memory (grid of %lld)", (long long)n);
    int64_t k = 0;
    for (int64_t a = 0; a < p->n_methods; a++)
        for (int64_t b = 0; b < p->n_schedules; b++)
            for (int64_t s = 0; s < p->n_steps; s++)
                for (int64_t g = 0; g < ng; g++)
                    for (int64_t ig = 0; ig < nig; ig++) {
                        bench_config *x = &c[k];
                        x->index = k++;
                        x->method = p->methods[a];
                        x->method.on_step = NULL;
                        x->method.on_step_user = NULL;
                        x->sched = p->schedules[b];
                        x->sched.steps = p->steps[s];
                        x->sched.timesteps = NULL;
                        x->sched.n_timesteps = 0;
                        float dg_inv, dg_smp;
                        trdi_method_default_guidance(x->method.method, &dg_inv, &dg_smp);
                        x->guidance = p->n_guidance > 0 ? p->guidance[g] : dg_smp;
                        x->inv_guidance = p->n_inv_guidance > 0 ? p->inv_guidance[ig] : dg_inv;
                        fmt_float(x->g, sizeof x->g, x->guidance);
                        fmt_float(x->ig, sizeof x->ig, x->inv_guidance);
                        snprintf(x->steps, sizeof x->steps, "%lld", (long long)x->sched.steps);
                        snprintf(x->label, sizeof x->label, "%s%s_%s_s%lld_g%s_ig%s",
                                 trdi_method_name(x->method.method),
                                 x->method.corrected ? "-corrected" : "",
                                 trdi_schedule_kind_name(x->sched.kind), (long long)x->sched.steps,
                                 x->g, x->ig);
                    }
    *out = c;
    *n_out = n;
    return TRDI_OK;
}

/* --- run.json ---------------------------------------------------------------------------------- */

static cJSON *method_json(const trdi_method_params *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", trdi_method_name(m->method));
    cJSON_AddBoolToObject(o, "corrected", m->corrected);
    cJSON_AddNumberToObject(o, "seed", (double)m->seed);
    cJSON_AddNumberToObject(o, "renoise_steps", (double)m->renoise_steps);
    cJSON_AddNumberToObject(o, "renoise_early_timestep", (double)m->renoise_early_timestep);
    cJSON *ew = cJSON_AddArrayToObject(o, "renoise_early_weights");
    cJSON *lw = cJSON_AddArrayToObject(o, "renoise_latter_weights");
    for (int64_t i = 0; i <= m->renoise_steps && i < TRDI_RENOISE_MAX_WEIGHTS; i++) {
        cJSON_AddItemToArray(ew, cJSON_CreateNumber(m->renoise_early_weights[i]));
        cJSON_AddItemToArray(lw, cJSON_CreateNumber(m->renoise_latter_weights[i]));
    }
    cJSON_AddBoolToObject(o, "renoise_noise_reg", m->renoise_noise_reg);
    cJSON_AddNumberToObject(o, "renoise_lambda_ac", m->renoise_lambda_ac);
    cJSON_AddNumberToObject(o, "renoise_lambda_kl", m->renoise_lambda_kl);
    cJSON_AddNumberToObject(o, "renoise_reg_steps", (double)m->renoise_reg_steps);
    cJSON_AddNumberToObject(o, "renoise_ac_rolls", (double)m->renoise_ac_rolls);
    cJSON_AddNumberToObject(o, "gnri_iters", (double)m->gnri_iters);
    cJSON_AddNumberToObject(o, "gnri_lambda", m->gnri_lambda);
    cJSON_AddNumberToObject(o, "gnri_eta", m->gnri_eta);
    cJSON_AddNumberToObject(o, "fpi_iters", (double)m->fpi_iters);
    cJSON_AddNumberToObject(o, "aidi_iters", (double)m->aidi_iters);
    cJSON_AddNumberToObject(o, "aidi_window", (double)m->aidi_window);
    cJSON_AddBoolToObject(o, "aidi_empirical", m->aidi_empirical);
    cJSON_AddNumberToObject(o, "edict_p", m->edict_p);
    cJSON_AddNumberToObject(o, "bdia_gamma", m->bdia_gamma);
    return o;
}

static trdi_status settings_json(const trdi_dataset *d, const trdi_bench_params *p, cJSON **out) {
    *out = NULL;
    cJSON *s = cJSON_CreateObject();
    if (!s) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    if (p->settings_json) {
        cJSON *c = cJSON_Parse(p->settings_json);
        if (!cJSON_IsObject(c)) {
            cJSON_Delete(c);
            cJSON_Delete(s);
            return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: settings_json is not a JSON object");
        }
        cJSON_AddItemToObject(s, "caller", c);
    }
    cJSON *ds = cJSON_AddObjectToObject(s, "dataset");
    cJSON_AddStringToObject(ds, "kind", trdi_dataset_kind_name(trdi_dataset_get_kind(d)));
    cJSON_AddNumberToObject(ds, "items", (double)trdi_dataset_count(d));
    cJSON *ms = cJSON_AddArrayToObject(s, "methods");
    for (int64_t i = 0; i < p->n_methods; i++) cJSON_AddItemToArray(ms, method_json(&p->methods[i]));
    cJSON *ss = cJSON_AddArrayToObject(s, "schedules");
    for (int64_t i = 0; i < p->n_schedules; i++) {
        const trdi_schedule_params *x = &p->schedules[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", trdi_schedule_kind_name(x->kind));
        cJSON_AddNumberToObject(o, "spacing", x->spacing);
        cJSON_AddNumberToObject(o, "window", (double)x->window);
        cJSON_AddStringToObject(o, "adaptive", trdi_adaptive_mode_name(x->adaptive));
        cJSON_AddStringToObject(o, "stepping", trdi_stepping_name(x->stepping));
        cJSON_AddItemToArray(ss, o);
    }
    cJSON *st = cJSON_AddArrayToObject(s, "steps");
    for (int64_t i = 0; i < p->n_steps; i++) cJSON_AddItemToArray(st, cJSON_CreateNumber((double)p->steps[i]));
    cJSON *g = cJSON_AddArrayToObject(s, "guidance");
    for (int64_t i = 0; i < p->n_guidance; i++) cJSON_AddItemToArray(g, cJSON_CreateNumber(p->guidance[i]));
    cJSON *ig = cJSON_AddArrayToObject(s, "inversion_guidance");
    for (int64_t i = 0; i < p->n_inv_guidance; i++)
        cJSON_AddItemToArray(ig, cJSON_CreateNumber(p->inv_guidance[i]));
    cJSON *lp = cJSON_AddArrayToObject(s, "lpips");
    for (int64_t i = 0; i < p->n_lpips; i++)
        cJSON_AddItemToArray(lp, cJSON_CreateString(trdi_lpips_net_name(trdi_lpips_backbone(p->lpips[i]))));
    *out = s;
    return TRDI_OK;
}

/* The first key (dotted path) where a and b differ, into buf. */
static void first_difference(const cJSON *a, const cJSON *b, const char *prefix, char *buf, size_t n) {
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, a) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            char key[256];
            snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", x->string);
            if (!y || !cJSON_Compare(x, y, true)) {
                if (y) first_difference(x, y, key, buf, n);
                else snprintf(buf, n, "%s", key);
                return;
            }
        }
        cJSON_ArrayForEach(x, b) {
            if (!cJSON_GetObjectItemCaseSensitive(a, x->string)) {
                snprintf(buf, n, "%s%s%s", prefix, *prefix ? "." : "", x->string);
                return;
            }
        }
    }
    char *sa = cJSON_PrintUnformatted(a), *sb = cJSON_PrintUnformatted(b);
    snprintf(buf, n, "%s (was %.80s, now %.80s)", *prefix ? prefix : "settings", sa ? sa : "?",
             sb ? sb : "?");
    free(sa);
    free(sb);
}

static trdi_status read_run_json(const char *path, cJSON **out) {
    *out = NULL;
    char *text;
    size_t len;
    trdi_status st = bench_read_file(path, &text, &len);
    if (st) return st;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j) || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "settings"))) {
        cJSON_Delete(j);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: not a trdi bench run.json", path);
    }
    *out = j;
    return TRDI_OK;
}

static trdi_status write_json_atomic(const char *path, const cJSON *j) {
    char *s = cJSON_Print(j);
    if (!s) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    trdi_status st = bench_write_atomic(path, t, n + 1);
    free(t);
    return st;
}

/* --- columns ------------------------------------------------------------------------------------ */

static const char *KEY_COLS[] = {"image_index", "image_id", "config_index", "config", "method",
                                 "schedule", "steps", "stepping", "guidance", "inversion_guidance",
                                 "status"};
#define N_KEY_COLS 11
#define MAX_COLS 64

typedef struct {
    int64_t n;
    char names[MAX_COLS][40];
    int metric[MAX_COLS];  /* trdi_metric, or -1 for nfe / seconds / key columns */
    int region[MAX_COLS];
} columns;

static void build_columns(const trdi_bench_params *p, bool masked, columns *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_KEY_COLS; i++) {
        snprintf(c->names[c->n], 40, "%s", KEY_COLS[i]);
        c->metric[c->n++] = -1;
    }
    int metrics[TRDI_METRIC_COUNT], nm = 0;
    metrics[nm++] = TRDI_METRIC_PSNR;
    metrics[nm++] = TRDI_METRIC_MSE;
    metrics[nm++] = TRDI_METRIC_SSIM_SKIMAGE;
    metrics[nm++] = TRDI_METRIC_SSIM_TORCHMETRICS;
    for (int64_t i = 0; i < p->n_lpips && nm < TRDI_METRIC_COUNT; i++) {
        trdi_lpips_net net = trdi_lpips_backbone(p->lpips[i]);
        metrics[nm++] = net == TRDI_LPIPS_ALEX      ? TRDI_METRIC_LPIPS_ALEX
                        : net == TRDI_LPIPS_SQUEEZE ? TRDI_METRIC_LPIPS_SQUEEZE
                                                    : TRDI_METRIC_LPIPS_VGG;
    }
    int regions = masked ? 3 : 1;
    static const char *suffix[3] = {"", "_unedited", "_edited"};
    for (int r = 0; r < regions; r++)
        for (int k = 0; k < nm; k++) {
            snprintf(c->names[c->n], 40, "%s%s", trdi_metric_name((trdi_metric)metrics[k]), suffix[r]);
            c->metric[c->n] = metrics[k];
            c->region[c->n++] = r;
        }
    snprintf(c->names[c->n], 40, "nfe");
    c->metric[c->n++] = -1;
    snprintf(c->names[c->n], 40, "seconds");
    c->metric[c->n++] = -1;
}

/* --- results keys ------------------------------------------------------------------------------ */

static int cmp_cstr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *row_key(const char *id, const char *config) {
    size_t n = strlen(id) + strlen(config) + 2;
    char *k = malloc(n);
    if (k) snprintf(k, n, "%s\t%s", id, config);
    return k;
}

static bool key_present(char **keys, int64_t n, const char *id, const char *config) {
    char *k = row_key(id, config);
    if (!k) return false;
    bool found = bsearch(&k, keys, (size_t)n, sizeof *keys, cmp_cstr) != NULL;
    free(k);
    return found;
}

static void safe_name(const char *id, char *out, size_t n) {
    size_t k = 0;
    for (const char *s = id; *s && k + 1 < n; s++) {
        char ch = *s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '-' || ch == '_';
        out[k] = ok && !(k == 0 && ch == '.') ? ch : '_';
        k++;
    }
    out[k] = '\0';
}

static trdi_status append_row(int fd, const char *path, const char *const *cells, int64_t n) {
    bench_buf b = {0};
    trdi_status st = bench_buf_csv_line(&b, cells, n);
    size_t off = 0;
    while (!st && off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) st = trdi_fail(TRDI_ERR_IO, "%s: cannot append: %s", path, strerror(errno));
        else off += (size_t)w;
    }
    if (!st && fsync(fd) != 0) st = trdi_fail(TRDI_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    bench_buf_free(&b);
    return st;
}

/* Fits the source-size mask to the model's image as trdi_model_prepare_image fits the image, then
 * re-binarises it (bicubic resampling blurs the edge): 1 channel, 0 / 255. */
static trdi_status fit_mask(const trdi_model *m, const trdi_image *mask, trdi_image *out) {
    trdi_image fitted = {0};
    trdi_status st = trdi_model_prepare_image(m, mask, &fitted);
    if (st) return st;
    st = trdi_image_convert(&fitted, 1, out);
    trdi_image_clear(&fitted);
    if (st) return st;
    for (int64_t k = 0; k < out->width * out->height; k++) out->data[k] = out->data[k] >= 128 ? 255 : 0;
    return TRDI_OK;
}

/* A calibrated list for x's steps and stepping (see trdi_calibrate_cached); *out is the
 * caller's (trdi_timesteps_free). */
static trdi_status calibrate(trdi_model *m, const bench_config *x, const char *out_dir, int64_t **out) {
    *out = NULL;
    int64_t c, h, w;
    trdi_model_latent_shape(m, &c, &h, &w);
    trdi_image img = {0};
    float *z = trdi_mallocn((size_t)(c * h * w), sizeof *z);
    if (!z) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    trdi_status st = trdi_model_builtin_test_image(m, &img);
    if (!st) st = trdi_model_encode(m, &img, z);
    trdi_image_clear(&img);
    trdi_calib_params cp = trdi_calib_default_params();
    cp.steps = x->sched.steps;
    cp.stepping = x->sched.stepping;
    char *dir = bench_join(out_dir, "calibration");
    trdi_calib_result r;
    memset(&r, 0, sizeof r);
    bool hit = false;
    if (!st && !dir) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    if (!st) st = trdi_calibrate_cached(m, &cp, z, 1, dir, &r, &hit);
    free(dir);
    free(z);
    if (st) return st;
    *out = r.timesteps; /* the caller owns the list */
    r.timesteps = NULL;
    trdi_calib_result_clear(&r);
    return TRDI_OK;
}

/* --- the run ----------------------------------------------------------------------------------- */

typedef struct {
    const trdi_bench_params *p;
    trdi_bench_event ev;
} emitter;

static bool emit(emitter *e) {
    if (!e->p->progress) return true;
    return e->p->progress(e->p->progress_user, &e->ev);
}

trdi_status trdi_bench_run(trdi_model *m, const trdi_dataset *d, const trdi_bench_params *p,
                           const char *out_dir, trdi_bench_report *rep) {
    if (rep) memset(rep, 0, sizeof *rep);
    if (!m || !d || !p || !out_dir)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_bench_run: NULL argument");
    if (p->shard_count < 1 || p->shard_index < 1 || p->shard_index > p->shard_count)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: shard %lld/%lld: need 1 <= I <= N",
                         (long long)p->shard_index, (long long)p->shard_count);
    if (p->limit < 0 || p->stop_after < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "bench: limit and stop_after must be >= 0");
    bench_config *cfg = NULL;
    int64_t n_cfg = 0;
    trdi_status st = build_grid(p, &cfg, &n_cfg);
    if (st) return st;
    /* Calibrated schedules need the model: calibrate once per (steps, stepping) on the model's
     * test image (as `trdi reconstruct --schedule calibrated` does), cached in out_dir/calibration
     * so that reruns and shards on other machines get the same list. */
    int64_t **cal_lists = trdi_calloc((size_t)(n_cfg ? n_cfg : 1), sizeof *cal_lists);
    if (!st && !cal_lists) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; !st && !p->dry_run && c < n_cfg; c++) {
        if (cfg[c].sched.kind != TRDI_SCHEDULE_CALIBRATED || cfg[c].sched.timesteps) continue;
        st = calibrate(m, &cfg[c], out_dir, &cal_lists[c]);
        if (st) {
            trdi_error_prefix("configuration %s: calibration", cfg[c].label);
            break;
        }
        /* Share the list with the other configurations of the same steps and stepping. */
        for (int64_t k = c; k < n_cfg; k++)
            if (cfg[k].sched.kind == TRDI_SCHEDULE_CALIBRATED && !cfg[k].sched.timesteps &&
                cfg[k].sched.steps == cfg[c].sched.steps && cfg[k].sched.stepping == cfg[c].sched.stepping) {
                cfg[k].sched.timesteps = cal_lists[c];
                cfg[k].sched.n_timesteps = cfg[c].sched.steps;
            }
    }
    /* Every schedule first, so that an impossible configuration fails before any work. */
    const trdi_noise_schedule *ns = trdi_model_noise_schedule(m);
    for (int64_t c = 0; !st && c < n_cfg; c++) {
        if (p->dry_run && cfg[c].sched.kind == TRDI_SCHEDULE_CALIBRATED && !cfg[c].sched.timesteps) continue;
        int64_t *ts = NULL, nts = 0;
        st = trdi_schedule_timesteps(ns, &cfg[c].sched, &ts, &nts);
        if (st) trdi_error_prefix("configuration %s", cfg[c].label);
        trdi_timesteps_free(ts);
    }
    bool masked = trdi_dataset_get_kind(d) == TRDI_DATASET_PIE;
    columns cols;
    build_columns(p, masked, &cols);
    const char *header[MAX_COLS];
    for (int64_t i = 0; i < cols.n; i++) header[i] = cols.names[i];

    char *run_path = bench_join(out_dir, "run.json");
    char *csv_path = bench_join(out_dir, "results.csv");
    cJSON *settings = NULL, *run = NULL, *old = NULL;
    bench_table table = {0};
    char **keys = NULL;
    int64_t n_keys = 0;
    int fd = -1;
    if (!st && (!run_path || !csv_path)) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    if (!st) st = settings_json(d, p, &settings);
    if (!st) {
        run = cJSON_CreateObject();
        cJSON_AddStringToObject(run, "format", "trdi-bench");
        cJSON_AddNumberToObject(run, "version", 1);
        cJSON_AddItemToObject(run, "settings", cJSON_Duplicate(settings, true));
        cJSON *sh = cJSON_AddObjectToObject(run, "shard");
        cJSON_AddNumberToObject(sh, "index", (double)p->shard_index);
        cJSON_AddNumberToObject(sh, "count", (double)p->shard_count);
    }
    /* An existing run folder must hold the same study. */
    if (!st && access(run_path, F_OK) == 0) {
        st = read_run_json(run_path, &old);
        if (!st) {
            char diff[512] = "";
            if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(old, "settings"), settings, true)) {
                first_difference(cJSON_GetObjectItemCaseSensitive(old, "settings"), settings, "", diff,
                                 sizeof diff);
                st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: this folder holds a run with other settings "
                               "(%s differs); rerun with the same settings to resume, or use another "
                               "output folder", run_path, diff);
            } else if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(old, "shard"),
                                      cJSON_GetObjectItemCaseSensitive(run, "shard"), true)) {
                st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: this folder holds another shard of the "
                               "study; give each shard its own output folder", run_path);
            }
        }
    } else if (!st && access(csv_path, F_OK) == 0) {
        st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s exists without run.json: not a trdi bench folder",
                       csv_path);
    }
    bool csv_exists = false;
    if (!st) st = bench_table_read(csv_path, &table, &csv_exists);
    if (!st && csv_exists && table.n_cols > 0) {
        bool same = table.n_cols == cols.n;
        for (int64_t i = 0; same && i < cols.n; i++) same = !strcmp(table.header[i], header[i]);
        if (!same) st = trdi_fail(TRDI_ERR_FORMAT, "%s: its header differs from this run's columns", csv_path);
    }
    if (!st) {
        int64_t ci = bench_table_col(&table, "image_id"), cc = bench_table_col(&table, "config");
        keys = trdi_calloc((size_t)(table.n_rows ? table.n_rows : 1), sizeof *keys);
        if (!keys) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        for (int64_t r = 0; !st && r < table.n_rows; r++) {
            keys[n_keys] = row_key(table.rows[r][ci], table.rows[r][cc]);
            if (!keys[n_keys]) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
            else n_keys++;
        }
        if (!st) qsort(keys, (size_t)n_keys, sizeof *keys, cmp_cstr);
    }
    /* The shard's items and the pairs still to run. */
    int64_t n_items = trdi_dataset_count(d);
    if (p->limit > 0 && p->limit < n_items) n_items = p->limit;
    int64_t shard_items = 0, todo = 0;
    for (int64_t i = 0; !st && i < n_items; i++) {
        if (i % p->shard_count != p->shard_index - 1) continue;
        shard_items++;
        for (int64_t c = 0; c < n_cfg; c++)
            if (!key_present(keys, n_keys, trdi_dataset_at(d, i)->id, cfg[c].label)) todo++;
    }
    /* Check the images (and masks) still to run before any work, so that a bad entry is reported
     * at once rather than hours into a study. */
    for (int64_t i = 0; !st && !p->dry_run && i < n_items; i++) {
        if (i % p->shard_count != p->shard_index - 1) continue;
        bool needed = false;
        for (int64_t c = 0; !needed && c < n_cfg; c++)
            needed = !key_present(keys, n_keys, trdi_dataset_at(d, i)->id, cfg[c].label);
        if (!needed) continue;
        trdi_image img = {0}, mk = {0};
        st = trdi_dataset_read_image(d, i, &img);
        if (!st && masked) st = trdi_dataset_read_mask(d, i, img.width, img.height, &mk);
        trdi_image_clear(&img);
        trdi_image_clear(&mk);
    }
    if (rep) {
        rep->items = shard_items;
        rep->configs = n_cfg;
    }
    /* Set up the folder (not for a dry run). */
    if (!st && !p->dry_run) {
        st = bench_mkdirs(out_dir);
        if (!st && !old) st = write_json_atomic(run_path, run);
        if (!st && (!csv_exists || table.n_cols == 0)) {
            bench_buf b = {0};
            st = bench_buf_csv_line(&b, header, cols.n);
            if (!st) st = bench_write_atomic(csv_path, b.data, b.len);
            bench_buf_free(&b);
        } else if (!st && table.torn) {
            /* Drop the partial row a crash left behind; it is recomputed below. */
            if (truncate(csv_path, (off_t)table.good_bytes) != 0)
                st = trdi_fail(TRDI_ERR_IO, "%s: cannot drop its torn last line: %s", csv_path,
                               strerror(errno));
        }
        if (!st) {
            fd = open(csv_path, O_WRONLY | O_APPEND);
            if (fd < 0) st = trdi_fail(TRDI_ERR_IO, "%s: cannot open for appending: %s", csv_path,
                                       strerror(errno));
        }
    }
    emitter em = {.p = p};
    em.ev.total = shard_items * n_cfg;
    int64_t new_rows = 0;
    double run_seconds = 0.0;
    int64_t runs = 0;
    trdi_metrics_params mparams = trdi_metrics_default_params();
    mparams.lpips = p->lpips;
    mparams.n_lpips = p->n_lpips;
    for (int64_t i = 0; !st && i < n_items; i++) {
        if (i % p->shard_count != p->shard_index - 1) continue;
        const trdi_dataset_item *it = trdi_dataset_at(d, i);
        double t_item = now_seconds();
        em.ev.item = i;
        em.ev.item_id = it->id;
        trdi_image img = {0}, mask_src = {0}, mask = {0};
        bool loaded = false;
        for (int64_t c = 0; !st && c < n_cfg; c++) {
            const bench_config *x = &cfg[c];
            em.ev.config = x->label;
            em.ev.seconds = NAN;
            em.ev.psnr = NAN;
            em.ev.error = NULL;
            em.ev.eta_seconds = NAN;
            if (key_present(keys, n_keys, it->id, x->label)) {
                em.ev.what = "present";
                em.ev.handled++;
                if (rep) rep->present++;
                if (!emit(&em)) st = trdi_fail(TRDI_ABORTED, "bench: stopped by the progress callback");
                continue;
            }
            if (p->dry_run) {
                em.ev.what = "planned";
                em.ev.handled++;
                if (rep) rep->planned++;
                if (!emit(&em)) st = trdi_fail(TRDI_ABORTED, "bench: stopped by the progress callback");
                continue;
            }
            if (!loaded) {
                st = trdi_dataset_read_image(d, i, &img);
                if (!st && masked) {
                    st = trdi_dataset_read_mask(d, i, img.width, img.height, &mask_src);
                    if (!st) st = fit_mask(m, &mask_src, &mask);
                }
                if (st) break;
                loaded = true;
            }
            trdi_pipeline_params pp = trdi_pipeline_default_params();
            pp.method = x->method;
            pp.schedule = x->sched;
            pp.prompt = it->prompt;
            pp.target_prompt = it->target_prompt;
            pp.guidance = x->guidance;
            pp.inv_guidance = x->inv_guidance;
            trdi_run_result res;
            trdi_status rs = trdi_pipeline_run(m, &pp, &img, &res);
            trdi_metrics met;
            memset(&met, 0, sizeof met);
            char status[512] = "ok";
            if (!rs) {
                mparams.mask = masked ? &mask : NULL;
                rs = trdi_metrics_compute(&res.input, &res.output, &mparams, &met);
                if (rs) trdi_error_prefix("metrics");
            }
            if (rs == TRDI_ERR_NUMERIC) {
                snprintf(status, sizeof status, "failed: %s", trdi_last_error());
            } else if (rs) {
                trdi_error_prefix("%s: entry %lld (id '%s'), configuration %s", trdi_dataset_path(d),
                                  (long long)i, it->id, x->label);
                trdi_run_result_clear(&res);
                st = rs;
                break;
            } else {
                /* The image first (atomically), then its row: a row always has its image. */
                char *cdir = bench_join(out_dir, "images");
                char *cdir2 = cdir ? bench_join(cdir, x->label) : NULL;
                char name[256];
                safe_name(it->id, name, sizeof name - 8);
                strcat(name, ".png");
                char *ipath = cdir2 ? bench_join(cdir2, name) : NULL;
                if (!ipath) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
                if (!st) st = bench_mkdirs(cdir2);
                if (!st) st = trdi_image_write(ipath, &res.output, 75);
                free(cdir);
                free(cdir2);
                free(ipath);
                if (st) {
                    trdi_run_result_clear(&res);
                    break;
                }
            }
            bool ok = !strcmp(status, "ok");
            char vals[MAX_COLS][64];
            const char *cells[MAX_COLS];
            char ii[32], cidx[32];
            snprintf(ii, sizeof ii, "%lld", (long long)i);
            snprintf(cidx, sizeof cidx, "%lld", (long long)x->index);
            const char *keyv[N_KEY_COLS] = {ii, it->id, cidx, x->label, trdi_method_name(x->method.method),
                                            trdi_schedule_kind_name(x->sched.kind), x->steps,
                                            trdi_stepping_name(x->sched.stepping), x->g, x->ig, status};
            for (int64_t k = 0; k < cols.n; k++) {
                vals[k][0] = '\0';
                if (k < N_KEY_COLS) {
                    cells[k] = keyv[k];
                    continue;
                }
                cells[k] = vals[k];
                if (!ok) continue;
                if (cols.metric[k] >= 0) {
                    const trdi_metric_value *v = &met.v[cols.region[k]][cols.metric[k]];
                    bench_fmt_double(vals[k], 64, v->available ? v->value : NAN);
                } else if (!strcmp(cols.names[k], "nfe")) {
                    snprintf(vals[k], 64, "%lld", (long long)res.nfe);
                } else if (!strcmp(cols.names[k], "seconds")) {
                    bench_fmt_double(vals[k], 64, res.seconds);
                }
            }
            st = append_row(fd, csv_path, cells, cols.n);
            runs++;
            run_seconds += ok ? res.seconds : 0.0;
            em.ev.handled++;
            todo--;
            em.ev.what = ok ? "done" : "failed";
            em.ev.seconds = ok ? res.seconds : NAN;
            em.ev.psnr = ok && met.v[0][TRDI_METRIC_PSNR].available ? met.v[0][TRDI_METRIC_PSNR].value : NAN;
            em.ev.error = ok ? NULL : status + 8;
            em.ev.eta_seconds = runs ? run_seconds / (double)runs * (double)todo : NAN;
            if (rep) {
                if (ok) rep->done++;
                else rep->failed++;
            }
            trdi_run_result_clear(&res);
            if (st) break;
            new_rows++;
            if (!emit(&em)) st = trdi_fail(TRDI_ABORTED, "bench: stopped by the progress callback");
            else if (p->stop_after > 0 && new_rows >= p->stop_after)
                st = trdi_fail(TRDI_ABORTED, "bench: stopped after %lld new rows (test hook)",
                               (long long)new_rows);
        }
        trdi_image_clear(&img);
        trdi_image_clear(&mask_src);
        trdi_image_clear(&mask);
        if (!st && !p->dry_run) {
            em.ev.what = "item";
            em.ev.config = NULL;
            em.ev.seconds = now_seconds() - t_item;
            em.ev.psnr = NAN;
            em.ev.error = NULL;
            em.ev.eta_seconds = runs ? run_seconds / (double)runs * (double)todo : NAN;
            if (!emit(&em)) st = trdi_fail(TRDI_ABORTED, "bench: stopped by the progress callback");
        }
    }
    if (fd >= 0) close(fd);
    if (!st && !p->dry_run) st = trdi_bench_summarize(out_dir);
    for (int64_t k = 0; k < n_keys; k++) free(keys[k]);
    free(keys);
    bench_table_clear(&table);
    cJSON_Delete(settings);
    cJSON_Delete(run);
    cJSON_Delete(old);
    free(run_path);
    free(csv_path);
    free(cfg);
    for (int64_t c = 0; cal_lists && c < n_cfg; c++) trdi_timesteps_free(cal_lists[c]);
    free(cal_lists);
    return st;
}

/* --- merge ------------------------------------------------------------------------------------- */

trdi_status trdi_bench_merge(const char *out_dir, const char *const *dirs, int64_t n_dirs) {
    if (!out_dir || !dirs || n_dirs < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "bench merge: no input folders");
    cJSON *first = NULL;
    bench_table all = {0};
    trdi_status st = TRDI_OK;
    char **keys = NULL;
    int64_t n_keys = 0, cap_keys = 0;
    cJSON *sources = cJSON_CreateArray();
    for (int64_t k = 0; !st && k < n_dirs; k++) {
        char *rp = bench_join(dirs[k], "run.json");
        char *cp = bench_join(dirs[k], "results.csv");
        cJSON *run = NULL;
        bench_table t = {0};
        bool exists = false;
        if (!rp || !cp) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        if (!st) st = read_run_json(rp, &run);
        if (!st && first) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(first, "settings");
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(run, "settings");
            if (!cJSON_Compare(a, b, true)) {
                char diff[512] = "";
                first_difference(a, b, "", diff, sizeof diff);
                st = trdi_fail(TRDI_ERR_INVALID_ARG, "%s: its settings differ from %s's (%s): not "
                               "shards of one study", dirs[k], dirs[0], diff);
            }
        }
        if (!st) st = bench_table_read(cp, &t, &exists);
        if (!st && (!exists || t.n_cols == 0))
            st = trdi_fail(TRDI_ERR_IO, "%s: no results", cp);
        if (!st && all.n_cols == 0) {
            all.n_cols = t.n_cols;
            all.header = trdi_calloc((size_t)t.n_cols, sizeof *all.header);
            for (int64_t i = 0; all.header && i < t.n_cols; i++) all.header[i] = strdup(t.header[i]);
            if (!all.header) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        } else if (!st) {
            bool same = all.n_cols == t.n_cols;
            for (int64_t i = 0; same && i < t.n_cols; i++) same = !strcmp(all.header[i], t.header[i]);
            if (!same) st = trdi_fail(TRDI_ERR_FORMAT, "%s: its columns differ from %s/results.csv", cp,
                                      dirs[0]);
        }
        int64_t ci = bench_table_col(&t, "image_id"), cc = bench_table_col(&t, "config");
        if (!st && (ci < 0 || cc < 0)) st = trdi_fail(TRDI_ERR_FORMAT, "%s: not a bench results file", cp);
        for (int64_t r = 0; !st && r < t.n_rows; r++) {
            char *key = row_key(t.rows[r][ci], t.rows[r][cc]);
            if (!key) {
                st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
                break;
            }
            /* Linear probing would do; keys are few, keep a sorted list per folder below. */
            if (n_keys == cap_keys) {
                cap_keys = cap_keys ? 2 * cap_keys : 256;
                char **pk = realloc(keys, (size_t)cap_keys * sizeof *pk);
                if (!pk) {
                    free(key);
                    st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
                    break;
                }
                keys = pk;
            }
            keys[n_keys++] = key;
            st = bench_table_add(&all, (const char *const *)t.rows[r]);
        }
        if (!st) cJSON_AddItemToArray(sources, cJSON_CreateString(dirs[k]));
        if (!st && !first) first = run;
        else cJSON_Delete(run);
        bench_table_clear(&t);
        free(rp);
        free(cp);
    }
    if (!st) {
        qsort(keys, (size_t)n_keys, sizeof *keys, cmp_cstr);
        for (int64_t k = 1; !st && k < n_keys; k++)
            if (!strcmp(keys[k], keys[k - 1])) {
                char *tab = strchr(keys[k], '\t');
                if (tab) *tab = '\0';
                st = trdi_fail(TRDI_ERR_FORMAT, "bench merge: image '%s' with configuration '%s' "
                               "appears twice (overlapping shards or the same folder given twice)",
                               keys[k], tab ? tab + 1 : "?");
            }
    }
    if (!st) st = bench_mkdirs(out_dir);
    if (!st) {
        cJSON *run = cJSON_CreateObject();
        cJSON_AddStringToObject(run, "format", "trdi-bench");
        cJSON_AddNumberToObject(run, "version", 1);
        cJSON_AddItemToObject(run, "settings",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(first, "settings"), true));
        cJSON_AddStringToObject(run, "shard", "merged");
        cJSON_AddItemToObject(run, "merged_from", sources);
        sources = NULL;
        char *rp = bench_join(out_dir, "run.json");
        st = rp ? write_json_atomic(rp, run) : trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        free(rp);
        cJSON_Delete(run);
    }
    if (!st) st = bench_summarize_table(out_dir, &all, true);
    for (int64_t k = 0; k < n_keys; k++) free(keys[k]);
    free(keys);
    cJSON_Delete(sources);
    cJSON_Delete(first);
    bench_table_clear(&all);
    return st;
}
