/* cmd_bench.c -- `trdi bench`: runs a grid of methods x schedules x steps x guidance over a
 * dataset (trdi_bench_run) with resumable results, summaries and charts. The model, schedule and
 * method flags are parsed per method by the run commands' shared parser (run_opts.c). */
#include "cli.h"
#include "run_opts.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sys/stat.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 64
#define MAX_PASS 128

static const char *CMD = "bench";

static void help(FILE *f) {
    fprintf(f,
            "usage: trdi bench --dataset FILE|DIR|builtin --out DIR [options]\n\n"
            "Runs every configuration of the grid methods x schedules x steps x guidance x\n"
            "inversion guidance over a dataset; writes DIR/results.csv (one row per image and\n"
            "configuration, recorded as soon as it is done), DIR/summary.{csv,json,md},\n"
            "DIR/chart_*.png and DIR/images/<config>/<id>.png. Rerunning the same command resumes\n"
            "an interrupted run; different settings in the same DIR are refused.\n\n"
            "Dataset and grid:\n"
            "  --dataset PATH        a manifest (.json list of {\"image\", \"caption\"}), a PIE-Bench\n"
            "                        mapping file (.json object), a folder of images with\n"
            "                        captions.json or captions.txt, or 'builtin' (the built-in\n"
            "                        model's test image and procedural images, written to\n"
            "                        DIR/dataset/)\n"
            "  --methods A,B         methods (default ddim)\n"
            "  --schedules A,B       schedule kinds: uniform, trdi, calibrated (default\n"
            "                        uniform,trdi)\n"
            "  --steps N,M           step counts (default 50)\n"
            "  --guidance G,H        sampling guidance values (default: each method's)\n"
            "  --inversion-guidance G,H  inversion guidance values (default: each method's)\n"
            "  --lpips-weights FILE  score LPIPS with this network (repeatable, one per backbone)\n"
            "  --out DIR             the run folder (required)\n"
            "  --shard I/N           run only items with index mod N == I - 1 (1-based I)\n"
            "  --limit K             only the first K items of the dataset\n"
            "  --dry-run             list what would run (and what is already done); write nothing\n"
            "  --stop-after K        TEST HOOK: stop (exit 1) after K new rows, as if killed\n\n"
            "Also accepted, as in `trdi reconstruct`: --model, --size, --variant, --stepping, --spacing,\n"
            "--window, --adaptive, --seed, --corrected (applied to the listed methods that have\n"
            "it) and the method flags (--renoise-*, --gnri-*, --fpi-*, --aidi-*, --edict-p,\n"
            "--bdia-gamma; each applies to its method, which must be listed).\n\n"
            "Progress: one line per image on stderr with an ETA. See docs/bench.md.\n");
}

static bool split_list(char *s, char **out, int *n) {
    *n = 0;
    char *p = s;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (!*p || *n == MAX_LIST) return false;
        out[(*n)++] = p;
        if (!comma) return true;
        p = comma + 1;
    }
}

static bool parse_floats(const char *s, float *out, int64_t *n) {
    char *copy = strdup(s), *items[MAX_LIST];
    int k;
    bool ok = copy && split_list(copy, items, &k);
    *n = 0;
    for (int i = 0; ok && i < k; i++) {
        double v;
        ok = cli_parse_f64(items[i], &v) && isfinite((float)v);
        out[(*n)++] = (float)v;
    }
    free(copy);
    return ok;
}

typedef struct {
    const char *out;
    bool dry_run;
    bool tty;
} progress_state;

static void fmt_eta(char *buf, size_t n, double s) {
    if (!isfinite(s)) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static bool on_event(void *user, const trdi_bench_event *ev) {
    progress_state *ps = user;
    if (!strcmp(ev->what, "planned")) {
        printf("run   %s  %s\n", ev->item_id, ev->config);
    } else if (!strcmp(ev->what, "present")) {
        if (ps->dry_run) printf("done  %s  %s\n", ev->item_id, ev->config);
    } else if (!strcmp(ev->what, "failed")) {
        fprintf(stderr, "trdi bench: %s %s failed: %s\n", ev->item_id, ev->config, ev->error);
    } else if (!strcmp(ev->what, "item")) {
        char eta[32];
        fmt_eta(eta, sizeof eta, ev->eta_seconds);
        fprintf(stderr, "trdi bench: [%lld/%lld] %s (%.2fs) ETA %s\n", (long long)ev->handled,
                (long long)ev->total, ev->item_id, ev->seconds, eta);
    }
    return true;
}

/* Writes the built-in tiny dataset (the model's test image and the procedural patterns, each
 * rendered as a one-component mixture's test image) into dir with captions.txt. */
static int write_builtin_dataset(const char *dir, const trdi_model *m) {
    static const struct {
        const char *pattern, *caption;
    } P[] = {{"scene", ""}, {"circle", "circle"}, {"stripes", "stripes"}, {"checker", "checker"},
             {"gradient", "gradient"}, {"landscape", ""}};
    char path[PATH_MAX + 64], cap[8192];
    size_t caplen = 0;
    int64_t c, h, w;
    trdi_model_image_shape(m, &c, &h, &w);
    (void)c;
    snprintf(path, sizeof path, "%s", dir);
    for (char *s = path + 1;; s++) { /* mkdir -p */
        char keep = *s;
        if (keep != '/' && keep != '\0') continue;
        *s = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "trdi bench: cannot create %s: %s\n", path, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        *s = keep;
        if (!keep) break;
    }
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        char json[PATH_MAX + 64];
        snprintf(json, sizeof json, "%s/.pattern-%s.json", dir, P[i].pattern);
        FILE *f = fopen(json, "w");
        if (!f) return cli_usage_error(CMD, "cannot write %s", json);
        fprintf(f, "{\"width\": %lld, \"height\": %lld, \"components\": [{\"pattern\": \"circle\"}], "
                   "\"test_image\": {\"pattern\": \"%s\"}}\n",
                (long long)w, (long long)h, P[i].pattern);
        fclose(f);
        trdi_model *pm = NULL;
        trdi_image img = {0};
        trdi_status st = trdi_model_load(json, NULL, &pm);
        if (!st) st = trdi_model_builtin_test_image(pm, &img);
        snprintf(path, sizeof path, "%s/%s.png", dir, P[i].pattern);
        if (!st) st = trdi_image_write(path, &img, 75);
        trdi_image_clear(&img);
        trdi_model_free(pm);
        unlink(json);
        if (st) return cli_lib_error(CMD, st, "built-in dataset");
        caplen += (size_t)snprintf(cap + caplen, sizeof cap - caplen, "%s\t%s\n", P[i].pattern, P[i].caption);
    }
    snprintf(path, sizeof path, "%s/captions.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return cli_usage_error(CMD, "cannot write %s", path);
    fputs(cap, f);
    fclose(f);
    return -1;
}

int cli_cmd_bench(int argc, char **argv) {
    const char *dataset = NULL, *out = NULL, *methods_s = "ddim", *schedules_s = "uniform,trdi";
    const char *steps_s = "50", *g_s = NULL, *ig_s = NULL;
    const char *lpips_paths[8];
    int n_lpips = 0;
    int64_t shard_i = 1, shard_n = 1, limit = 0, stop_after = 0;
    bool dry_run = false, corrected = false, trdi_flags = false;
    const char *pass[MAX_PASS]; /* shared flags (with values) for run_opts_parse */
    int n_pass = 0;
    const char *mflags[MAX_PASS]; /* method flags, with their values */
    int n_mflags = 0;
    const char *model = "builtin", *size = NULL;
    for (int i = 1; i < argc;) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help(stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(a, "--dry-run")) {
            dry_run = true;
            i++;
            continue;
        }
        if (!strcmp(a, "--corrected")) {
            corrected = true;
            i++;
            continue;
        }
#define TAKE(name) (cli_take_option(argc, argv, &i, (name), &v) && (v || (cli_usage_error(CMD, "%s needs a value", (name)), 0)))
        static const char *BENCH_VALUE[] = {"--dataset", "--methods", "--schedules", "--steps", "--guidance",
                                            "--inversion-guidance", "--lpips-weights", "--out", "--shard",
                                            "--limit", "--stop-after"};
        static const char *SHARED[] = {"--model", "--size", "--variant", "--stepping", "--spacing",
                                       "--window", "--adaptive", "--seed"};
        bool matched = false;
        for (size_t k = 0; !matched && k < sizeof BENCH_VALUE / sizeof *BENCH_VALUE; k++) {
            if (!cli_take_option(argc, argv, &i, BENCH_VALUE[k], &v)) continue;
            matched = true;
            const char *name = BENCH_VALUE[k];
            if (!v) return cli_usage_error(CMD, "%s needs a value", name);
            if (!strcmp(name, "--dataset")) dataset = v;
            else if (!strcmp(name, "--methods")) methods_s = v;
            else if (!strcmp(name, "--schedules")) schedules_s = v;
            else if (!strcmp(name, "--steps")) steps_s = v;
            else if (!strcmp(name, "--guidance")) g_s = v;
            else if (!strcmp(name, "--inversion-guidance")) ig_s = v;
            else if (!strcmp(name, "--out")) out = v;
            else if (!strcmp(name, "--lpips-weights")) {
                if (n_lpips == 8) return cli_usage_error(CMD, "too many --lpips-weights");
                lpips_paths[n_lpips++] = v;
            } else if (!strcmp(name, "--shard")) {
                char *slash = strchr(v, '/');
                char buf[64];
                snprintf(buf, sizeof buf, "%.*s", slash ? (int)(slash - v) : 0, v);
                if (!slash || !cli_parse_i64(buf, 1, 1000000, &shard_i) ||
                    !cli_parse_i64(slash + 1, 1, 1000000, &shard_n) || shard_i > shard_n)
                    return cli_usage_error(CMD, "--shard must be I/N with 1 <= I <= N, got '%s'", v);
            } else if (!strcmp(name, "--limit")) {
                if (!cli_parse_i64(v, 1, INT64_MAX, &limit))
                    return cli_usage_error(CMD, "--limit must be an integer >= 1, got '%s'", v);
            } else if (!strcmp(name, "--stop-after")) {
                if (!cli_parse_i64(v, 1, INT64_MAX, &stop_after))
                    return cli_usage_error(CMD, "--stop-after must be an integer >= 1, got '%s'", v);
            }
        }
        for (size_t k = 0; !matched && k < sizeof SHARED / sizeof *SHARED; k++) {
            if (!cli_take_option(argc, argv, &i, SHARED[k], &v)) continue;
            matched = true;
            if (!v) return cli_usage_error(CMD, "%s needs a value", SHARED[k]);
            if (n_pass + 2 > MAX_PASS) return cli_usage_error(CMD, "too many options");
            pass[n_pass++] = SHARED[k];
            pass[n_pass++] = v;
            if (!strcmp(SHARED[k], "--model")) model = v;
            if (!strcmp(SHARED[k], "--size")) size = v;
            if (!strcmp(SHARED[k], "--spacing") || !strcmp(SHARED[k], "--window") ||
                !strcmp(SHARED[k], "--adaptive"))
                trdi_flags = true;
        }
#undef TAKE
        if (matched) continue;
        /* A method flag: --<method>-... (run_opts.c checks name and value). */
        trdi_method fm;
        bool is_mflag = false;
        if (!strncmp(a, "--", 2)) {
            char name[32];
            const char *dash = strchr(a + 2, '-');
            if (dash && dash - (a + 2) < (int)sizeof name) {
                snprintf(name, sizeof name, "%.*s", (int)(dash - (a + 2)), a + 2);
                is_mflag = trdi_method_from_name(name, &fm) == TRDI_OK;
            }
        }
        if (!is_mflag) return cli_usage_error(CMD, "unknown option '%s' (see trdi bench --help)", a);
        if (n_mflags + 2 > MAX_PASS) return cli_usage_error(CMD, "too many options");
        mflags[n_mflags++] = a;
        i++;
        bool valueless = !strcmp(a, "--renoise-no-reg") || !strcmp(a, "--aidi-empirical");
        if (!valueless && !strchr(a, '=')) {
            if (i >= argc) return cli_usage_error(CMD, "%s needs a value", a);
            mflags[n_mflags++] = argv[i++];
        }
    }
    if (!dataset) return cli_usage_error(CMD, "--dataset is required (see trdi bench --help)");
    if (!out) return cli_usage_error(CMD, "--out DIR is required");

    /* Lists. */
    char *mcopy = strdup(methods_s), *scopy = strdup(schedules_s), *names[MAX_LIST], *snames[MAX_LIST];
    int n_m = 0, n_s = 0;
    int rc = -1;
    trdi_method_params methods[MAX_LIST];
    trdi_schedule_params schedules[MAX_LIST];
    int64_t steps[MAX_LIST], n_steps = 0;
    float g[MAX_LIST], ig[MAX_LIST];
    int64_t n_g = 0, n_ig = 0;
    trdi_lpips *lp[8] = {0};
    trdi_model *m = NULL;
    trdi_dataset *d = NULL;
    run_opts first;
    memset(&first, 0, sizeof first);
    bool have_first = false;
    char *settings = NULL;
    if (!mcopy || !scopy) rc = CLI_EXIT_FAILURE;
    if (rc < 0 && !split_list(mcopy, names, &n_m))
        rc = cli_usage_error(CMD, "--methods must be a comma-separated list, got '%s'", methods_s);
    if (rc < 0 && !split_list(scopy, snames, &n_s))
        rc = cli_usage_error(CMD, "--schedules must be a comma-separated list, got '%s'", schedules_s);
    if (rc < 0) {
        char *copy = strdup(steps_s), *items[MAX_LIST];
        int k;
        if (!copy || !split_list(copy, items, &k)) k = -1;
        for (int j = 0; j < k; j++)
            if (!cli_parse_i64(items[j], 1, 1000000, &steps[n_steps++])) k = -1;
        free(copy);
        if (k < 0) rc = cli_usage_error(CMD, "--steps must be a comma-separated list of integers >= 1, got '%s'", steps_s);
    }
    if (rc < 0 && g_s && !parse_floats(g_s, g, &n_g))
        rc = cli_usage_error(CMD, "--guidance must be a comma-separated list of numbers, got '%s'", g_s);
    if (rc < 0 && ig_s && !parse_floats(ig_s, ig, &n_ig))
        rc = cli_usage_error(CMD, "--inversion-guidance must be a comma-separated list of numbers, got '%s'", ig_s);
    /* Method flags must belong to a listed method. */
    for (int k = 0; rc < 0 && k < n_mflags; k++) {
        const char *a = mflags[k];
        if (strncmp(a, "--", 2)) continue; /* a value */
        bool listed = false;
        for (int j = 0; j < n_m; j++) {
            size_t len = strlen(names[j]);
            if (!strncmp(a + 2, names[j], len) && a[2 + len] == '-') listed = true;
        }
        if (!listed) rc = cli_usage_error(CMD, "%s: its method is not in --methods %s", a, methods_s);
    }
    /* Parse each method with the shared parser. */
    for (int j = 0; rc < 0 && j < n_m; j++) {
        trdi_method mm;
        if (trdi_method_from_name(names[j], &mm)) {
            rc = cli_usage_error(CMD, "--methods: unknown method '%s' (known: ddim, npi, renoise, gnri, "
                                 "fpi, aidi, edict, bdia, belm)", names[j]);
            break;
        }
        const char *av[2 * MAX_PASS + 8];
        int ac = 0;
        av[ac++] = CMD;
        for (int k = 0; k < n_pass; k++) av[ac++] = pass[k];
        size_t len = strlen(names[j]);
        for (int k = 0; k < n_mflags; k++) {
            const char *a = mflags[k];
            if (!strncmp(a, "--", 2) && !strncmp(a + 2, names[j], len) && a[2 + len] == '-') {
                av[ac++] = a;
                if (k + 1 < n_mflags && strncmp(mflags[k + 1], "--", 2)) av[ac++] = mflags[++k];
            }
        }
        av[ac++] = "--method";
        av[ac++] = names[j];
        if (corrected && (mm == TRDI_METHOD_NPI || mm == TRDI_METHOD_GNRI || mm == TRDI_METHOD_EDICT ||
                          mm == TRDI_METHOD_BDIA))
            av[ac++] = "--corrected";
        if (trdi_flags) {
            av[ac++] = "--schedule";
            av[ac++] = "trdi";
        }
        run_opts o;
        int r = run_opts_parse(&o, RUN_RECONSTRUCT, CMD, ac, (char **)av);
        if (r >= 0) {
            run_opts_free(&o);
            rc = r;
            break;
        }
        methods[j] = o.pp.method;
        if (!have_first) {
            first = o;
            have_first = true;
        } else {
            run_opts_free(&o);
        }
    }
    if (rc < 0 && corrected) {
        bool any = false;
        for (int j = 0; j < n_m; j++) any = any || methods[j].corrected;
        if (!any) rc = cli_usage_error(CMD, "--corrected applies to npi, gnri, edict and bdia; none is listed");
    }
    for (int j = 0; rc < 0 && j < n_s; j++) {
        schedules[j] = first.pp.schedule;
        if (trdi_schedule_kind_from_name(snames[j], &schedules[j].kind)) {
            rc = cli_usage_error(CMD, "--schedules: %s", trdi_last_error());
            break;
        }
        if (schedules[j].kind == TRDI_SCHEDULE_LIST)
            rc = cli_usage_error(CMD, "--schedules: 'list' needs explicit timesteps; use trdi reconstruct --timesteps");
    }
    if (rc < 0) rc = run_load_model(&first, &m);
    for (int k = 0; rc < 0 && k < n_lpips; k++) {
        trdi_status st = trdi_lpips_load(lpips_paths[k], &lp[k]);
        if (st) { /* a missing or unusable weights file is bad input: exit 2 */
            cli_lib_error(CMD, st, "--lpips-weights");
            rc = st == TRDI_ERR_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
        }
    }
    /* The dataset. */
    char dpath[PATH_MAX];
    if (rc < 0) {
        if (!strcmp(dataset, "builtin")) {
            snprintf(dpath, sizeof dpath, "%s/dataset", out);
            if (!dry_run || access(dpath, F_OK) == 0) rc = dry_run ? -1 : write_builtin_dataset(dpath, m);
            else rc = cli_usage_error(CMD, "--dry-run with --dataset builtin: run once first (the images are written to %s)", dpath);
        } else {
            snprintf(dpath, sizeof dpath, "%s", dataset);
        }
    }
    if (rc < 0) {
        trdi_status st = trdi_dataset_load(dpath, &d);
        if (st) {
            fprintf(stderr, "trdi bench: dataset: %s\n", trdi_last_error());
            rc = st == TRDI_ERR_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
        }
    }
    if (rc < 0) {
        cJSON *s = cJSON_CreateObject();
        char real[PATH_MAX];
        cJSON_AddStringToObject(s, "model", access(model, F_OK) == 0 && realpath(model, real) ? real : model);
        cJSON_AddStringToObject(s, "size", size ? size : "model");
        cJSON_AddStringToObject(s, "dataset", !strcmp(dataset, "builtin") ? "builtin"
                                              : realpath(dataset, real) ? real : dataset);
        settings = cJSON_PrintUnformatted(s);
        cJSON_Delete(s);
        trdi_bench_params bp = trdi_bench_default_params();
        bp.methods = methods;
        bp.n_methods = n_m;
        bp.schedules = schedules;
        bp.n_schedules = n_s;
        bp.steps = steps;
        bp.n_steps = n_steps;
        bp.guidance = n_g ? g : NULL;
        bp.n_guidance = n_g;
        bp.inv_guidance = n_ig ? ig : NULL;
        bp.n_inv_guidance = n_ig;
        bp.lpips = (const trdi_lpips *const *)lp;
        bp.n_lpips = n_lpips;
        bp.shard_index = shard_i;
        bp.shard_count = shard_n;
        bp.limit = limit;
        bp.stop_after = stop_after;
        bp.dry_run = dry_run;
        bp.settings_json = settings;
        progress_state ps = {.out = out, .dry_run = dry_run, .tty = isatty(STDERR_FILENO)};
        bp.progress = on_event;
        bp.progress_user = &ps;
        trdi_bench_report rep;
        trdi_status st = trdi_bench_run(m, d, &bp, out, &rep);
        fflush(stdout);
        if (st == TRDI_ABORTED) {
            fprintf(stderr, "trdi bench: %s (%lld rows recorded; rerun the command to resume)\n",
                    trdi_last_error(), (long long)(rep.done + rep.failed));
            rc = CLI_EXIT_FAILURE;
        } else if (st) {
            rc = cli_lib_error(CMD, st, "run");
        } else if (dry_run) {
            printf("%lld to run, %lld already done (%lld items x %lld configurations)\n",
                   (long long)rep.planned, (long long)rep.present, (long long)rep.items,
                   (long long)rep.configs);
            rc = CLI_EXIT_OK;
        } else {
            fprintf(stderr, "trdi bench: %lld run, %lld already present, %lld failed; %s/results.csv, "
                            "%s/summary.md\n",
                    (long long)rep.done, (long long)rep.present, (long long)rep.failed, out, out);
            rc = CLI_EXIT_OK;
        }
    }
    free(settings);
    trdi_dataset_free(d);
    for (int k = 0; k < 8; k++) trdi_lpips_free(lp[k]);
    trdi_model_free(m);
    if (have_first) run_opts_free(&first);
    free(mcopy);
    free(scopy);
    return rc;
}
