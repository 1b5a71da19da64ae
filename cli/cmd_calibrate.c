/* cmd_calibrate.c -- `trdi calibrate`: measures the model's own single-step inversion error on a
 * few calibration images, fits the surrogate and writes the calibrated schedule as JSON
 * (docs/calibration.md). Also resolves `--schedule calibrated` for the run commands through the
 * cache in $XDG_CACHE_HOME/trdi. Uses only include/trdi.h. */
#include "run_opts.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const CMD = "calibrate";

#define MAX_IMAGES 256

static void print_help(FILE *f) {
    fprintf(f,
            "usage: trdi calibrate --out FILE.json [options]\n"
            "\n"
            "Measures the model's own single-step DDIM inversion error (invert one step from level\n"
            "s to s + d, sample back, compare) along its inversion trajectory of each calibration\n"
            "image, fits a smooth surrogate err(s, d) = exp(a(s)) (d / D)^p(s) and chooses the N\n"
            "timesteps by dynamic programming, with the uniform list's first and last timesteps.\n"
            "Writes {\"timesteps\": [...], \"predicted_error\", \"uniform_predicted_error\", \"fit\",\n"
            "\"calibration\", \"measurements\"}; any command reads it with --schedule-file.\n"
            "\n"
            "  --model SPEC       builtin (default), a folder of images or a mixture .json\n"
            "  --size N           the mixture's image side (default: the model's)\n"
            "  --variant V        Stable Diffusion weights: auto (default), fp32, fp16 or bf16\n"
            "  --image FILE       a calibration image (repeatable); default: the model's test image\n"
            "  --images DIR       every .png/.jpg/.jpeg in DIR (sorted by name)\n"
            "  --steps N          timesteps of the schedule, >= 1 (default 20)\n"
            "  --stepping NAME    reference (default; the authors' fixed stride) | consistent:\n"
            "                     the stepping the schedule will run with (its objective differs)\n"
            "  --budget E         model evaluations for the whole calibration (default 600; at\n"
            "                     least %d per image)\n"
            "  --seed S           seed of the measurement ladder's jitter (default 0)\n"
            "  --prompt TEXT      conditioning (default \"\")\n"
            "  --out FILE.json    where to write the schedule (required)\n"
            "  --json             print a JSON summary on stdout\n"
            "  --help             this text\n"
            "\n"
            "Progress goes to stderr when it is a terminal. Same inputs and seed give the same\n"
            "schedule. Exit status: 0 success; 2 bad arguments or input; 1 failure while running.\n",
            TRDI_CALIB_MIN_BUDGET);
}

static bool g_shown;

static bool progress(void *user, const char *phase, int64_t step, int64_t total) {
    (void)user;
    if (step % 16 == 0 || step + 1 == total) {
        fprintf(stderr, "\r\033[Ktrdi calibrate: %s, %lld/%lld", phase, (long long)(step + 1),
                (long long)total);
        fflush(stderr);
        g_shown = true;
    }
    return true;
}

static void progress_end(void) {
    if (g_shown) fputs("\r\033[K", stderr);
    g_shown = false;
}

/* Encodes images into (n, C, H, W) latents; exit code or -1. */
static int encode_images(const char *cmd, trdi_model *m, const char *const *paths, int64_t n,
                         float **out) {
    int64_t C, H, W;
    trdi_model_latent_shape(m, &C, &H, &W);
    const int64_t P = C * H * W;
    int64_t count = n > 0 ? n : 1;
    float *z = calloc((size_t)(count * P), sizeof *z);
    if (!z) return cli_usage_error(cmd, "out of memory");
    for (int64_t i = 0; i < count; i++) {
        trdi_image raw = {0}, fit = {0};
        trdi_status st = n > 0 ? trdi_image_read(paths[i], &raw) : trdi_model_builtin_test_image(m, &raw);
        if (!st) st = trdi_model_prepare_image(m, &raw, &fit);
        if (!st) st = trdi_model_encode(m, &fit, z + i * P);
        trdi_image_clear(&raw);
        trdi_image_clear(&fit);
        if (st) { /* an unreadable or bad image is bad input: exit 2, as the run commands do */
            free(z);
            if (st == TRDI_ERR_NOMEM) return cli_lib_error(cmd, st, "image");
            return cli_usage_error(cmd, "image '%s': %s", n > 0 ? paths[i] : "(built-in)",
                                   trdi_last_error());
        }
    }
    *out = z;
    return -1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* The cache folder: $XDG_CACHE_HOME/trdi, else $HOME/.cache/trdi; NULL when neither is set. */
static char *cache_dir(void) {
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    char buf[4096];
    if (x && x[0] == '/')
        snprintf(buf, sizeof buf, "%s/trdi", x);
    else if (h && h[0])
        snprintf(buf, sizeof buf, "%s/.cache/trdi", h);
    else
        return NULL;
    return strdup(buf);
}

/* Calibrates through the cache (or directly when there is no cache folder). */
static trdi_status calibrate_cached(trdi_model *m, const trdi_calib_params *cp, const float *z,
                                    int64_t n, trdi_calib_result *r, bool *hit) {
    char *dir = cache_dir();
    trdi_status st = dir ? trdi_calibrate_cached(m, cp, z, n, dir, r, hit)
                         : trdi_calibrate(m, cp, z, n, r);
    free(dir);
    return st;
}

int run_calibrated_schedule(run_opts *o, trdi_model *m) {
    float *z = NULL;
    int rc = encode_images(o->cmd, m, NULL, 0, &z);
    if (rc >= 0) return rc;
    trdi_calib_params cp = trdi_calib_default_params();
    cp.steps = o->pp.schedule.steps;
    cp.stepping = o->pp.schedule.stepping;
    cp.prompt = o->pp.prompt;
    if (o->calib_budget) cp.budget = o->calib_budget;
    if (o->calib_seed_given) cp.seed = o->calib_seed;
    if (isatty(STDERR_FILENO)) cp.progress = progress;
    trdi_calib_result r;
    bool hit = false;
    trdi_status st = calibrate_cached(m, &cp, z, 1, &r, &hit);
    progress_end();
    free(z);
    if (st) return cli_lib_error(o->cmd, st, "calibrated schedule");
    free(o->timesteps);
    o->timesteps = r.timesteps; /* o owns the list now */
    r.timesteps = NULL;
    o->pp.schedule.timesteps = o->timesteps;
    o->pp.schedule.n_timesteps = r.steps;
    trdi_calib_result_clear(&r);
    return -1;
}

int cli_cmd_calibrate(int argc, char **argv) {
    const char *model = "builtin", *dir = NULL, *out = NULL, *prompt = NULL;
    const char *images[MAX_IMAGES];
    int64_t n_images = 0, size = 0;
    trdi_weights_variant variant = TRDI_VARIANT_AUTO;
    bool json = false;
    trdi_calib_params cp = trdi_calib_default_params();
    cp.stepping = TRDI_STEPPING_REFERENCE; /* every command's default stepping */
    int i = 1;
    while (i < argc) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(a, "--json")) {
            json = true;
            i++;
            continue;
        }
        bool ok = true;
        int64_t iv = 0;
        if (cli_take_option(argc, argv, &i, "--model", &v))
            ok = (model = v) != NULL;
        else if (cli_take_option(argc, argv, &i, "--size", &v))
            ok = cli_parse_i64(v, 1, 4096, &size);
        else if (cli_take_option(argc, argv, &i, "--variant", &v))
            ok = v && trdi_weights_variant_from_name(v, &variant) == TRDI_OK;
        else if (cli_take_option(argc, argv, &i, "--image", &v)) {
            if (n_images == MAX_IMAGES) return cli_usage_error(CMD, "more than %d images", MAX_IMAGES);
            ok = (images[n_images++] = v) != NULL;
        } else if (cli_take_option(argc, argv, &i, "--images", &v))
            ok = (dir = v) != NULL;
        else if (cli_take_option(argc, argv, &i, "--steps", &v)) {
            if (!v || !cli_parse_i64(v, 1, 1000000, &cp.steps))
                return cli_usage_error(CMD, "--steps must be an integer >= 1, got '%s'", v ? v : "");
        } else if (cli_take_option(argc, argv, &i, "--stepping", &v))
            ok = v && trdi_stepping_from_name(v, &cp.stepping) == TRDI_OK;
        else if (cli_take_option(argc, argv, &i, "--budget", &v)) {
            if (!v || !cli_parse_i64(v, 1, 10000000, &cp.budget))
                return cli_usage_error(CMD,
                                       "--budget must be an integer number of model evaluations "
                                       "in [%d, 10000000], got '%s'",
                                       TRDI_CALIB_MIN_BUDGET, v ? v : "");
        } else if (cli_take_option(argc, argv, &i, "--seed", &v)) {
            ok = v && cli_parse_i64(v, 0, INT64_MAX, &iv);
            cp.seed = (uint64_t)iv;
        } else if (cli_take_option(argc, argv, &i, "--prompt", &v))
            ok = (prompt = v) != NULL;
        else if (cli_take_option(argc, argv, &i, "--out", &v))
            ok = (out = v) != NULL;
        else
            return cli_usage_error(CMD, "unknown option '%s' (see trdi calibrate --help)", a);
        if (!ok) return cli_usage_error(CMD, "%s: missing or invalid value '%s'", a, v ? v : "");
    }
    if (!out) return cli_usage_error(CMD, "--out FILE.json (where to write the schedule) is required");
    if (dir && n_images) return cli_usage_error(CMD, "give --image or --images, not both");
    cp.prompt = prompt;
    /* --images DIR: its image files, sorted. */
    char *names[MAX_IMAGES];
    int64_t n_names = 0;
    if (dir) {
        DIR *d = opendir(dir);
        if (!d) return cli_usage_error(CMD, "--images: cannot open folder '%s'", dir);
        struct dirent *e;
        while ((e = readdir(d)) && n_names < MAX_IMAGES) {
            if (!image_name(e->d_name)) continue;
            size_t len = strlen(dir) + strlen(e->d_name) + 2;
            names[n_names] = malloc(len);
            if (names[n_names]) snprintf(names[n_names++], len, "%s/%s", dir, e->d_name);
        }
        closedir(d);
        if (!n_names) return cli_usage_error(CMD, "--images: no .png/.jpg/.jpeg file in '%s'", dir);
        qsort(names, (size_t)n_names, sizeof names[0], cmp_str);
        for (int64_t k = 0; k < n_names; k++) images[k] = names[k];
        n_images = n_names;
    }
    trdi_model *m = NULL;
    trdi_model_params mp = trdi_model_default_params();
    mp.weights_variant = (int)variant;
    if (size) mp.width = mp.height = size;
    int rc = CLI_EXIT_OK;
    float *z = NULL;
    trdi_calib_result r;
    memset(&r, 0, sizeof r);
    trdi_status st = trdi_model_load(model, &mp, &m);
    if (st) {
        rc = cli_usage_error(CMD, "model '%s': %s", model, trdi_last_error());
        goto done;
    }
    int e = encode_images(CMD, m, images, n_images, &z);
    if (e >= 0) {
        rc = e;
        goto done;
    }
    if (isatty(STDERR_FILENO)) cp.progress = progress;
    st = trdi_calibrate(m, &cp, z, n_images ? n_images : 1, &r);
    progress_end();
    if (st) {
        rc = cli_lib_error(CMD, st, "calibration");
        goto done;
    }
    if ((st = trdi_calib_result_save(&r, NULL, out))) {
        rc = cli_lib_error(CMD, st, out);
        goto done;
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "command", CMD);
        cJSON_AddStringToObject(j, "model", model);
        cJSON_AddStringToObject(j, "stepping", trdi_stepping_name(r.stepping));
        cJSON_AddNumberToObject(j, "steps", (double)r.steps);
        cJSON *a = cJSON_AddArrayToObject(j, "timesteps");
        for (int64_t k = 0; a && k < r.steps; k++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber((double)r.timesteps[k]));
        cJSON_AddNumberToObject(j, "predicted_error", r.predicted);
        cJSON_AddNumberToObject(j, "uniform_predicted_error", r.predicted_uniform);
        cJSON_AddNumberToObject(j, "fit_r2", r.fit_r2);
        cJSON_AddNumberToObject(j, "fit_log_rms", r.fit_log_rms);
        cJSON_AddNumberToObject(j, "nfe", (double)r.nfe);
        cJSON_AddStringToObject(j, "out", out);
        run_json_print(j);
    } else {
        printf("trdi calibrate: model '%s', %lld image(s), %lld steps (%s stepping), %lld model "
               "evaluations (budget %lld, seed %" PRIu64 ")\n",
               model, (long long)r.n_inputs, (long long)r.steps, trdi_stepping_name(r.stepping),
               (long long)r.nfe, (long long)r.budget, r.seed);
        printf("surrogate fit: R^2 %.4f, log-space RMS %.3f over %lld measurements\n", r.fit_r2,
               r.fit_log_rms, (long long)r.n_points);
        printf("predicted total error: calibrated %.4e, uniform %.4e\n", r.predicted,
               r.predicted_uniform);
        printf("timesteps:");
        for (int64_t k = 0; k < r.steps; k++) printf(k ? ",%lld" : " %lld", (long long)r.timesteps[k]);
        printf("\nwrote %s\n", out);
    }
done:
    for (int64_t k = 0; k < n_names; k++) free(names[k]);
    trdi_calib_result_clear(&r);
    free(z);
    trdi_model_free(m);
    return rc;
}
