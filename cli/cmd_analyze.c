/* cmd_analyze.c -- `trdi analyze`: the single-step inversion deviation (invert one step, sample it
 * back, measure the error) over a grid of timesteps and step sizes, along the model's own inversion
 * trajectory of an image; written as CSV and drawn as a PNG line chart. Uses only include/trdi.h
 * and cJSON. */
#include "run_opts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const CMD = "analyze";

static void print_help(FILE *f) {
    fprintf(f,
            "usage: trdi analyze [options]\n"
            "\n"
            "The paper's central measurement: the single-step inversion deviation. The image is\n"
            "inverted with DDIM one timestep at a time (1, 2, ..., 999: the model's own inversion\n"
            "trajectory); at each grid timestep s the latent there is inverted ONE step of size d\n"
            "(level s -> s + d, model at s + d, as the reference inverts) and sampled back, and the\n"
            "RMS error of that round trip (latent units) is recorded. It shows where along the\n"
            "schedule, and for which step sizes, inversion loses the image.\n"
            "\n"
            "  --model SPEC        builtin (default), a folder of images or a mixture .json\n"
            "  --size N            the mixture's image side (default: the model's)\n"
            "  --variant V         Stable Diffusion weights: auto (default), fp32, fp16 or bf16\n"
            "  --image FILE        PNG/JPEG input (default: the model's built-in test image)\n"
            "  --prompt TEXT       conditioning (default \"\")\n"
            "  --guidance G        guidance of both directions (default 1: one conditional pass)\n"
            "  --timesteps LIST    source timesteps s (default 0,20,40,...,980)\n"
            "  --step-sizes LIST   step sizes d (default 1,2,5,10,20,50,100; at most 8 with\n"
            "                      --chart); pairs with s + d > 999 are skipped\n"
            "  --out FILE.csv      write the grid as CSV (default: CSV on stdout)\n"
            "                      columns t_from,step,t_to,a_from,a_to,err_rms,rel_err\n"
            "  --chart FILE.png    draw err_rms against s (log scale), one curve per step size\n"
            "  --json              print a JSON summary instead of text (per step size: mean, max\n"
            "                      and the timestep of the max)\n"
            "  --help              this text\n"
            "\n"
            "Exit status: 0 success; 2 bad arguments or input (one line on stderr, no output file\n"
            "left behind); 1 failure while running.\n");
}

/* Writes the CSV to `path` through a temporary file (renamed at the end); NULL path = stdout. */
static bool write_csv(const char *path, const trdi_deviation_result *r) {
    char tmp[4096];
    FILE *f = stdout;
    if (path) {
        if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
            return false;
        f = fopen(tmp, "w");
        if (!f) return false;
    }
    fprintf(f, "t_from,step,t_to,a_from,a_to,err_rms,rel_err\n");
    for (int64_t i = 0; i < r->n; i++) {
        const trdi_deviation_point *q = &r->points[i];
        fprintf(f, "%lld,%lld,%lld,%.9g,%.9g,%.9g,%.9g\n", (long long)q->t_from, (long long)q->step,
                (long long)q->t_to, (double)q->a_from, (double)q->a_to, q->err_rms, q->rel_err);
    }
    if (!path) return fflush(f) == 0;
    bool ok = !ferror(f);
    ok = (fclose(f) == 0) && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    return ok;
}

static bool progress(void *user, const char *phase, int64_t step, int64_t total) {
    (void)user;
    if (step % 50 == 0 || step + 1 == total) {
        fprintf(stderr, "\r\033[Ktrdi analyze: %s %lld/%lld", phase, (long long)(step + 1),
                (long long)total);
        fflush(stderr);
    }
    return true;
}

int cli_cmd_analyze(int argc, char **argv) {
    const char *model = "builtin", *image = NULL, *prompt = "", *out = NULL, *chart = NULL;
    int64_t size = 0, *ts = NULL, *ds = NULL, nts = 0, nds = 0;
    trdi_weights_variant variant = TRDI_VARIANT_AUTO;
    double guidance = 1.0;
    bool json = false;
    int rc = CLI_EXIT_USAGE;
    trdi_model *m = NULL;
    trdi_image img = {0}, prepared = {0}, pic = {0};
    trdi_latent z0 = {0};
    trdi_deviation_result res = {0};
    double *xs = NULL, *ys = NULL;
    int i = 1;
    while (i < argc) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            rc = CLI_EXIT_OK;
            goto done;
        }
        if (!strcmp(a, "--json")) {
            json = true;
            i++;
            continue;
        }
        bool ok = true;
        if (cli_take_option(argc, argv, &i, "--model", &v)) {
            model = v;
            ok = v != NULL;
        } else if (cli_take_option(argc, argv, &i, "--size", &v)) {
            ok = cli_parse_i64(v, 1, 4096, &size);
        } else if (cli_take_option(argc, argv, &i, "--variant", &v)) {
            ok = v && trdi_weights_variant_from_name(v, &variant) == TRDI_OK;
        } else if (cli_take_option(argc, argv, &i, "--image", &v)) {
            image = v;
            ok = v != NULL;
        } else if (cli_take_option(argc, argv, &i, "--prompt", &v)) {
            prompt = v;
            ok = v != NULL;
        } else if (cli_take_option(argc, argv, &i, "--guidance", &v)) {
            ok = cli_parse_f64(v, &guidance);
        } else if (cli_take_option(argc, argv, &i, "--timesteps", &v)) {
            free(ts);
            ok = cli_parse_i64_list(v, 0, 1000000, &ts, &nts);
        } else if (cli_take_option(argc, argv, &i, "--step-sizes", &v)) {
            free(ds);
            ok = cli_parse_i64_list(v, 1, 1000000, &ds, &nds);
        } else if (cli_take_option(argc, argv, &i, "--out", &v)) {
            out = v;
            ok = v != NULL;
        } else if (cli_take_option(argc, argv, &i, "--chart", &v)) {
            chart = v;
            ok = v != NULL;
        } else {
            cli_usage_error(CMD, "unknown option '%s' (see trdi analyze --help)", a);
            goto done;
        }
        if (!ok) {
            cli_usage_error(CMD, "%s: missing or invalid value '%s'", a, v ? v : "");
            goto done;
        }
    }
    if (!ts) {
        nts = 50;
        ts = calloc((size_t)nts, sizeof *ts);
        for (int64_t k = 0; ts && k < nts; k++) ts[k] = 20 * k;
    }
    if (!ds) {
        static const int64_t def[] = {1, 2, 5, 10, 20, 50, 100};
        nds = 7;
        ds = calloc((size_t)nds, sizeof *ds);
        if (ds) memcpy(ds, def, sizeof def);
    }
    if (!ts || !ds) {
        rc = CLI_EXIT_FAILURE;
        goto done;
    }
    if (chart && nds > 8) {
        cli_usage_error(CMD, "--chart draws at most 8 step sizes, got %lld", (long long)nds);
        goto done;
    }
    if (chart) {
        const char *dot = strrchr(chart, '.');
        if (!dot || strcasecmp(dot, ".png")) {
            cli_usage_error(CMD, "--chart: '%s' must end in .png", chart);
            goto done;
        }
    }
    trdi_model_params mp = trdi_model_default_params();
    mp.weights_variant = (int)variant;
    if (size) mp.width = mp.height = size;
    trdi_status st = trdi_model_load(model, &mp, &m);
    if (st) {
        cli_usage_error(CMD, "model '%s': %s", model, trdi_last_error());
        goto done;
    }
    st = image ? trdi_image_read(image, &img) : trdi_model_builtin_test_image(m, &img);
    if (st) {
        cli_usage_error(CMD, "image '%s': %s", image ? image : "(built-in)", trdi_last_error());
        goto done;
    }
    int64_t c, h, w;
    trdi_model_latent_shape(m, &c, &h, &w);
    st = trdi_model_prepare_image(m, &img, &prepared);
    if (!st) st = trdi_latent_alloc(c, h, w, false, &z0);
    if (!st) st = trdi_model_encode(m, &prepared, z0.data);
    if (st) {
        rc = cli_lib_error(CMD, st, "encoding the image");
        goto done;
    }
    trdi_deviation_params dp = {0};
    dp.timesteps = ts;
    dp.n_timesteps = nts;
    dp.step_sizes = ds;
    dp.n_step_sizes = nds;
    dp.prompt = prompt;
    dp.guidance = (float)guidance;
    bool tty = isatty(STDERR_FILENO);
    if (tty) dp.progress = progress;
    st = trdi_analyze_deviation(m, &dp, &z0, &res);
    if (tty) fputs("\r\033[K", stderr);
    if (st) {
        rc = cli_lib_error(CMD, st, "analysis");
        goto done;
    }
    if (out || !json) {
        if (!write_csv(out, &res)) {
            fprintf(stderr, "trdi analyze: cannot write the CSV to %s\n", out ? out : "stdout");
            rc = CLI_EXIT_FAILURE;
            goto done;
        }
    }
    if (chart) {
        trdi_chart_series series[8];
        char labels[8][32];
        xs = calloc((size_t)res.n, sizeof *xs);
        ys = calloc((size_t)res.n, sizeof *ys);
        if (!xs || !ys) {
            rc = CLI_EXIT_FAILURE;
            goto done;
        }
        int64_t ns = 0, k = 0;
        while (k < res.n && ns < 8) {
            int64_t start = k, d = res.points[k].step;
            for (; k < res.n && res.points[k].step == d; k++) {
                xs[k] = (double)res.points[k].t_from;
                ys[k] = res.points[k].err_rms;
            }
            snprintf(labels[ns], sizeof labels[ns], "step %lld", (long long)d);
            series[ns].label = labels[ns];
            series[ns].x = xs + start;
            series[ns].y = ys + start;
            series[ns].n = k - start;
            ns++;
        }
        trdi_chart_params cp = trdi_chart_default_params();
        cp.width = 900;
        cp.height = 560;
        cp.title = "single-step inversion deviation (DDIM round trip)";
        cp.x_label = "source timestep s";
        cp.y_label = "RMS error";
        cp.log_y = true;
        st = trdi_chart_line(&cp, series, ns, &pic);
        if (!st) st = trdi_image_write(chart, &pic, 95);
        if (st) {
            if (out) unlink(out);
            rc = cli_lib_error(CMD, st, chart);
            goto done;
        }
    }
    /* Summary: per step size, the mean, the max and where the max is. */
    cJSON *j = json ? cJSON_CreateObject() : NULL;
    cJSON *arr = NULL;
    if (j) {
        cJSON_AddStringToObject(j, "command", "analyze");
        cJSON_AddStringToObject(j, "model", model);
        cJSON_AddStringToObject(j, "image", image ? image : "builtin");
        cJSON_AddNumberToObject(j, "points", (double)res.n);
        cJSON_AddNumberToObject(j, "nfe", (double)res.nfe);
        if (out) cJSON_AddStringToObject(j, "out", out);
        if (chart) cJSON_AddStringToObject(j, "chart", chart);
        arr = cJSON_AddArrayToObject(j, "step_sizes");
    }
    FILE *sf = out ? stdout : stderr; /* keep stdout pure CSV when the CSV goes there */
    for (int64_t k = 0; k < res.n;) {
        int64_t d = res.points[k].step, n = 0, arg = k;
        double sum = 0.0;
        for (; k < res.n && res.points[k].step == d; k++, n++) {
            sum += res.points[k].err_rms;
            if (res.points[k].err_rms > res.points[arg].err_rms) arg = k;
        }
        if (j) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "step", (double)d);
            cJSON_AddNumberToObject(o, "mean_err_rms", sum / (double)n);
            cJSON_AddNumberToObject(o, "max_err_rms", res.points[arg].err_rms);
            cJSON_AddNumberToObject(o, "t_from_of_max", (double)res.points[arg].t_from);
            cJSON_AddItemToArray(arr, o);
        } else {
            fprintf(sf, "step %4lld: mean RMS error %.4e, max %.4e at s = %lld\n", (long long)d,
                    sum / (double)n, res.points[arg].err_rms, (long long)res.points[arg].t_from);
        }
    }
    if (j) run_json_print(j);
    else {
        if (out) fprintf(sf, "wrote %s\n", out);
        if (chart) fprintf(sf, "wrote %s\n", chart);
    }
    rc = CLI_EXIT_OK;
done:
    free(xs);
    free(ys);
    free(ts);
    free(ds);
    trdi_deviation_result_clear(&res);
    trdi_latent_clear(&z0);
    trdi_image_clear(&pic);
    trdi_image_clear(&prepared);
    trdi_image_clear(&img);
    trdi_model_free(m);
    return rc;
}
