/* run_opts.c -- strict parsing of the flags shared by the run commands (reconstruct, edit, invert,
 * sample) into trdi_pipeline_params, their help text, the progress line, output rollback and JSON
 * helpers. Uses only include/trdi.h and cJSON. */
#include "run_opts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALL_RUNS (RUN_RECONSTRUCT | RUN_EDIT | RUN_INVERT | RUN_SAMPLE)
#define MAX_PENDING 32

/* A method-specific flag: which method it belongs to, and whether it takes a value. */
typedef struct {
    const char *name;
    trdi_method method;
    bool value;
} method_flag;

static const method_flag METHOD_FLAGS[] = {
    {"--renoise-steps", TRDI_METHOD_RENOISE, true},
    {"--renoise-early-timestep", TRDI_METHOD_RENOISE, true},
    {"--renoise-early-weights", TRDI_METHOD_RENOISE, true},
    {"--renoise-latter-weights", TRDI_METHOD_RENOISE, true},
    {"--renoise-no-reg", TRDI_METHOD_RENOISE, false},
    {"--renoise-lambda-ac", TRDI_METHOD_RENOISE, true},
    {"--renoise-lambda-kl", TRDI_METHOD_RENOISE, true},
    {"--renoise-reg-steps", TRDI_METHOD_RENOISE, true},
    {"--renoise-ac-rolls", TRDI_METHOD_RENOISE, true},
    {"--gnri-iters", TRDI_METHOD_GNRI, true},
    {"--gnri-lambda", TRDI_METHOD_GNRI, true},
    {"--gnri-eta", TRDI_METHOD_GNRI, true},
    {"--fpi-iters", TRDI_METHOD_FPI, true},
    {"--fpi-fallback", TRDI_METHOD_FPI, false},
    {"--aidi-fallback", TRDI_METHOD_AIDI, false},
    {"--aidi-iters", TRDI_METHOD_AIDI, true},
    {"--aidi-window", TRDI_METHOD_AIDI, true},
    {"--aidi-empirical", TRDI_METHOD_AIDI, false},
    {"--edict-p", TRDI_METHOD_EDICT, true},
    {"--bdia-gamma", TRDI_METHOD_BDIA, true},
};

typedef struct {
    const method_flag *flag;
    const char *value;
} pending;

void run_opts_help(FILE *f, run_command w) {
    fprintf(f, "Model:\n"
               "  --model SPEC          builtin (default: the exact Gaussian mixture with components\n"
               "                        circle, stripes, checker, gradient), a folder of PNG/JPEG\n"
               "                        images (label = file stem), a mixture .json file, or a\n"
               "                        diffusers Stable Diffusion 1.x/2.x folder\n"
               "  --size N              the image side in pixels (default: the model's: 32 for\n"
               "                        builtin, the UNet's sample_size * 8 for Stable Diffusion,\n"
               "                        which needs a multiple of 8)\n"
               "  --variant V           Stable Diffusion weights file: auto (default: fp32 if\n"
               "                        present, else fp16, else bf16), fp32, fp16 or bf16\n");
    if (w & (RUN_RECONSTRUCT | RUN_EDIT | RUN_INVERT))
        fprintf(f, "  --vae-sample SEED     Stable Diffusion: encode with a seeded VAE posterior sample\n"
                   "                        (as the authors' code; their torch RNG stream cannot be\n"
                   "                        matched) instead of the posterior mean (default)\n");
    fprintf(f, "Input / output:\n");
    if (w & (RUN_RECONSTRUCT | RUN_EDIT))
        fprintf(f, "  --image FILE          PNG or JPEG input (fitted to the model: centre crop +\n"
                   "                        bicubic resize); default: the model's built-in test image\n"
                   "  --out FILE            write the %s image (.png, .jpg or .jpeg)\n"
                   "  --out-latent FILE     write the inverted noise latent zT (safetensors)\n",
                w == RUN_EDIT ? "edited" : "reconstructed");
    if (w == RUN_INVERT)
        fprintf(f, "  --image FILE          PNG or JPEG input; default: the model's test image\n"
                   "  --latent-in FILE      or a clean latent (safetensors tensor 'latent')\n"
                   "  --out FILE            the noise latent to write (required): tensor 'latent'\n"
                   "                        F32 (1, C, H, W), plus 'latent_aux' for edict/bdia/belm\n");
    if (w == RUN_SAMPLE)
        fprintf(f, "  --latent-in FILE      the inverted noise latent (required; 'latent_aux' is used\n"
                   "                        when present, belm needs it)\n"
                   "  --out FILE            write the sampled image (.png, .jpg or .jpeg)\n"
                   "  --out-latent FILE     write the clean latent (safetensors); at least one of\n"
                   "                        --out and --out-latent is required\n");
    fprintf(f, "  --trajectory FILE     every step's latent in one safetensors file:\n"
               "                        inv.NN.latents_out / smp.NN.latents_out (execution order)\n"
               "  --json                print one JSON object on stdout\n");
    fprintf(f,
            "Schedule:\n"
            "  --steps N             inference steps, >= 1 (default 50)\n"
            "  --schedule NAME       uniform (default: the scheduler's own set_timesteps list,\n"
            "                        e.g. 981..1 for 50 leading steps) | trdi (the authors' TRDI\n"
            "                        pipeline: power-law rescaling + windowed DP)\n"
            "                        | calibrated (DP over the model's own measured inversion\n"
            "                        error, see trdi calibrate; cached in $XDG_CACHE_HOME/trdi)\n"
            "  --spacing S           trdi: power-law exponent > 0 (default 1.05)\n"
            "  --window W            trdi: DP window >= 0 (default 8)\n"
            "  --adaptive MODE       trdi: AdaptiveTRDI density (none, balanced, noise,\n"
            "                        noise_floor25/50/75, logsnr, curvature, late; default none)\n"
            "  --timesteps LIST      an explicit list, e.g. 901,801,...,1 (strictly monotone);\n"
            "                        not combinable with --schedule, --steps or the trdi flags\n"
            "  --calib-budget E      calibrated: model evaluations of the calibration\n"
            "                        (default 600, as trdi calibrate)\n"
            "  --calib-seed S        calibrated: seed of the measurement ladder (default 0)\n"
            "  --schedule-file FILE  the \"timesteps\" list of a JSON file (trdi calibrate or\n"
            "                        trdi schedule output); same rules as --timesteps\n"
            "  --stepping NAME       reference (default: the authors' fixed stride 1000 div n) |\n"
            "                        consistent (consecutive scheduled timesteps)\n");
    fprintf(f, "Method:\n"
               "  --method NAME         ddim (default), npi, renoise, gnri, fpi, aidi, edict, bdia,\n"
               "                        belm\n"
               "  --corrected           npi/gnri/edict/bdia: the corrected behaviour instead of the\n"
               "                        reference code's (npi: CFG against the negative prompt;\n"
               "                        gnri: sqrt prior instead of 0.5**r; edict: exact inverse;\n"
               "                        bdia: exact inverse recursion)\n"
               "  --seed N              seed of ReNoise's noise (default 666)\n"
               "  --renoise-steps R     renoise: iterations R (default 1; R != 1 needs both weights)\n"
               "  --renoise-early-weights W0,..,WR   weights for t < early timestep (0.5,0.5)\n"
               "  --renoise-latter-weights W0,..,WR  weights otherwise (0,1)\n"
               "  --renoise-early-timestep T         (default 250)\n"
               "  --renoise-no-reg      renoise: no noise regularisation\n"
               "  --renoise-lambda-ac X, --renoise-lambda-kl X (10, 0.05)\n"
               "  --renoise-reg-steps N, --renoise-ac-rolls N (4, 5)\n"
               "  --gnri-iters K, --gnri-lambda X, --gnri-eta X   gnri (2, 0.1, 0)\n"
               "  --fpi-iters K         fpi fixed-point iterations (20)\n"
               "  --aidi-iters K, --aidi-window M, --aidi-empirical   aidi (5, 3, Anderson)\n"
               "  --fpi-fallback, --aidi-fallback   a step whose fixed-point iteration did not\n"
               "                        converge (last residual > 0.01 x first) returns the DDIM\n"
               "                        step instead of the last iterate (default: reference)\n"
               "  --edict-p P           edict mixing in (0, 1] (0.93)\n"
               "  --bdia-gamma G        bdia gamma, != 0 (1.0)\n"
               "  Method flags for another method than --method are an error.\n");
    fprintf(f, "Guidance and prompts (a prompt selects the mixture components whose label it names\n"
               "as a whole word; \"\" selects all):\n"
               "  --prompt TEXT         %s (default \"\")\n",
            w == RUN_SAMPLE ? "the sampling prompt" : "the source prompt");
    if (w == RUN_EDIT)
        fprintf(f, "  --target-prompt TEXT  the edit prompt used for sampling (required)\n");
    if (w & (RUN_RECONSTRUCT | RUN_EDIT))
        fprintf(f, "  --inversion-guidance G  inversion guidance (default: the method's, e.g. ddim 0)\n"
                   "  --guidance G          sampling guidance (default: the method's, e.g. ddim 1.2)\n"
                   "  --negative-prompt TEXT  sampling's unconditional branch (default: \"\" when\n"
                   "                        reconstructing; the source prompt when editing, except\n"
                   "                        renoise: none; npi's reference sampler ignores it)\n");
    else
        fprintf(f, "  --guidance G          this direction's guidance (default: the method's)\n"
                   "  --negative-prompt TEXT  this direction's unconditional branch (default \"\")\n");
    fprintf(f, "  Guidance <= 1 is one conditional pass (as the reference); > 1 is CFG (2 passes).\n");
    fprintf(f,
            "\nWhat the reference itself supported: custom timestep lists (so --schedule trdi and\n"
            "--timesteps) only with ddim, npi, renoise and gnri (and aidi's scheduler); passing a list\n"
            "to fpi, edict, bdia or belm raised an error upstream. The reference steps with the fixed\n"
            "stride (--stepping reference); consistent stepping is this tool's extension. trdi runs\n"
            "every combination; belm always walks between neighbouring timesteps (it ignores\n"
            "--stepping).\n");
}

static int bad(const run_opts *o, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "trdi %s: ", o->cmd);
    fprintf(stderr, fmt, a, b ? b : "");
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}

static bool parse_float_list(const char *s, float *out, int64_t max, int64_t *n) {
    *n = 0;
    if (!s || !*s) return false;
    char *copy = strdup(s);
    if (!copy) return false;
    bool ok = true;
    char *p = copy;
    while (ok) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        double v;
        ok = *n < max && cli_parse_f64(p, &v);
        if (ok) out[(*n)++] = (float)v;
        if (!comma) break;
        p = comma + 1;
    }
    free(copy);
    return ok;
}

static bool parse_float(const char *s, float *out) {
    double v;
    if (!cli_parse_f64(s, &v)) return false;
    *out = (float)v;
    return isfinite(*out);
}

/* Applies the method-specific flags once the method is known. */
static int apply_method_flags(run_opts *o, const pending *pd, int n) {
    trdi_method_params *mp = &o->pp.method;
    bool early_w = false, latter_w = false;
    int64_t n_early = 0, n_latter = 0;
    for (int i = 0; i < n; i++) {
        const char *name = pd[i].flag->name, *v = pd[i].value;
        if (pd[i].flag->method != mp->method)
            return bad(o, "%s applies to method %s only", name, trdi_method_name(pd[i].flag->method));
        bool ok = true;
        int64_t iv = 0;
        if (!strcmp(name, "--renoise-steps")) {
            ok = cli_parse_i64(v, 0, TRDI_RENOISE_MAX_WEIGHTS - 1, &iv);
            mp->renoise_steps = iv;
        } else if (!strcmp(name, "--renoise-early-timestep")) {
            ok = cli_parse_i64(v, 0, 1000000, &iv);
            mp->renoise_early_timestep = iv;
        } else if (!strcmp(name, "--renoise-early-weights")) {
            ok = parse_float_list(v, mp->renoise_early_weights, TRDI_RENOISE_MAX_WEIGHTS, &n_early);
            early_w = true;
        } else if (!strcmp(name, "--renoise-latter-weights")) {
            ok = parse_float_list(v, mp->renoise_latter_weights, TRDI_RENOISE_MAX_WEIGHTS, &n_latter);
            latter_w = true;
        } else if (!strcmp(name, "--renoise-no-reg")) {
            mp->renoise_noise_reg = false;
        } else if (!strcmp(name, "--renoise-lambda-ac")) {
            ok = parse_float(v, &mp->renoise_lambda_ac);
        } else if (!strcmp(name, "--renoise-lambda-kl")) {
            ok = parse_float(v, &mp->renoise_lambda_kl);
        } else if (!strcmp(name, "--renoise-reg-steps")) {
            ok = cli_parse_i64(v, 0, 1000, &mp->renoise_reg_steps);
        } else if (!strcmp(name, "--renoise-ac-rolls")) {
            ok = cli_parse_i64(v, 0, 1000, &mp->renoise_ac_rolls);
        } else if (!strcmp(name, "--gnri-iters")) {
            ok = cli_parse_i64(v, 1, 1000, &mp->gnri_iters);
        } else if (!strcmp(name, "--gnri-lambda")) {
            ok = parse_float(v, &mp->gnri_lambda);
        } else if (!strcmp(name, "--gnri-eta")) {
            ok = parse_float(v, &mp->gnri_eta);
        } else if (!strcmp(name, "--fpi-iters")) {
            ok = cli_parse_i64(v, 1, 10000, &mp->fpi_iters);
        } else if (!strcmp(name, "--aidi-iters")) {
            ok = cli_parse_i64(v, 0, 10000, &mp->aidi_iters);
        } else if (!strcmp(name, "--aidi-window")) {
            ok = cli_parse_i64(v, 1, 8, &mp->aidi_window);
        } else if (!strcmp(name, "--aidi-empirical")) {
            mp->aidi_empirical = true;
        } else if (!strcmp(name, "--fpi-fallback") || !strcmp(name, "--aidi-fallback")) {
            mp->fp_fallback = true;
        } else if (!strcmp(name, "--edict-p")) {
            ok = parse_float(v, &mp->edict_p) && mp->edict_p > 0.0f && mp->edict_p <= 1.0f;
        } else if (!strcmp(name, "--bdia-gamma")) {
            ok = parse_float(v, &mp->bdia_gamma) && mp->bdia_gamma != 0.0f;
        }
        if (!ok) return bad(o, "%s: invalid value '%s'", name, v ? v : "");
    }
    if (mp->method == TRDI_METHOD_RENOISE) {
        int64_t want = mp->renoise_steps + 1;
        if (mp->renoise_steps != 1 && (!early_w || !latter_w))
            return bad(o, "--renoise-steps other than 1 needs --renoise-early-weights and "
                          "--renoise-latter-weights (R + 1 values each)%s%s",
                       "", NULL);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)want);
        if (early_w && n_early != want)
            return bad(o, "--renoise-early-weights needs %s values (renoise steps + 1)%s", buf, NULL);
        if (latter_w && n_latter != want)
            return bad(o, "--renoise-latter-weights needs %s values (renoise steps + 1)%s", buf, NULL);
    }
    return -1;
}

static bool accepts(run_command which, int mask) {
    return (which & mask) != 0;
}

int run_opts_parse(run_opts *o, run_command which, const char *cmd, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->which = which;
    o->model = "builtin";
    o->pp = trdi_pipeline_default_params();
    pending pd[MAX_PENDING];
    int npd = 0;
    bool corrected = false, seed_given = false;
    uint64_t seed = 0;
    const char *adaptive = NULL;
    int i = 1;
    while (i < argc) {
        const char *arg = argv[i];
        const char *v = NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            o->help = true;
            return CLI_EXIT_OK;
        }
        if (!strcmp(arg, "--json")) {
            o->json = true;
            i++;
            continue;
        }
        if (!strcmp(arg, "--corrected")) {
            corrected = true;
            i++;
            continue;
        }
        /* Method-specific flags. */
        const method_flag *mf = NULL;
        for (size_t k = 0; k < sizeof METHOD_FLAGS / sizeof METHOD_FLAGS[0]; k++) {
            size_t len = strlen(METHOD_FLAGS[k].name);
            if (!strncmp(arg, METHOD_FLAGS[k].name, len) && (arg[len] == '\0' || arg[len] == '='))
                mf = &METHOD_FLAGS[k];
        }
        if (mf) {
            if (npd == MAX_PENDING) return bad(o, "too many method flags%s%s", "", NULL);
            if (mf->value) {
                cli_take_option(argc, argv, &i, mf->name, &v);
                if (!v) return bad(o, "%s needs a value%s", mf->name, NULL);
            } else {
                if (arg[strlen(mf->name)] == '=')
                    return bad(o, "%s takes no value%s", mf->name, NULL);
                i++;
            }
            pd[npd].flag = mf;
            pd[npd].value = v;
            npd++;
            continue;
        }
#define OPT(name, mask) (accepts(which, (mask)) && cli_take_option(argc, argv, &i, (name), &v))
#define NEED(name)                                                                                 \
    do {                                                                                           \
        if (!v) return bad(o, "%s needs a value%s", (name), NULL);                                 \
    } while (0)
        if (OPT("--model", ALL_RUNS)) {
            NEED("--model");
            o->model = v;
        } else if (OPT("--size", ALL_RUNS)) {
            NEED("--size");
            if (!cli_parse_i64(v, 1, 4096, &o->size))
                return bad(o, "--size must be an integer in [1, 4096], got '%s'%s", v, NULL);
        } else if (OPT("--variant", ALL_RUNS)) {
            NEED("--variant");
            trdi_weights_variant wv;
            if (trdi_weights_variant_from_name(v, &wv) != TRDI_OK)
                return bad(o, "--variant must be auto, fp32, fp16 or bf16, got '%s'%s", v, NULL);
            o->weights_variant = (int)wv;
        } else if (OPT("--vae-sample", RUN_RECONSTRUCT | RUN_EDIT | RUN_INVERT)) {
            NEED("--vae-sample");
            int64_t s;
            if (!cli_parse_i64(v, 0, INT64_MAX, &s))
                return bad(o, "--vae-sample must be an integer seed >= 0, got '%s'%s", v, NULL);
            o->vae_sample = true;
            o->vae_sample_seed = (uint64_t)s;
        } else if (OPT("--image", RUN_RECONSTRUCT | RUN_EDIT | RUN_INVERT)) {
            NEED("--image");
            o->image = v;
        } else if (OPT("--latent-in", RUN_INVERT | RUN_SAMPLE)) {
            NEED("--latent-in");
            o->latent_in = v;
        } else if (OPT("--out", ALL_RUNS)) {
            NEED("--out");
            o->out = v;
        } else if (OPT("--out-latent", RUN_RECONSTRUCT | RUN_EDIT | RUN_SAMPLE)) {
            NEED("--out-latent");
            o->out_latent = v;
        } else if (OPT("--trajectory", ALL_RUNS)) {
            NEED("--trajectory");
            o->trajectory = v;
        } else if (OPT("--method", ALL_RUNS)) {
            NEED("--method");
            trdi_method m;
            if (trdi_method_from_name(v, &m))
                return bad(o, "--method: unknown method '%s' (known: ddim, npi, renoise, gnri, fpi, "
                              "aidi, edict, bdia, belm)%s",
                           v, NULL);
            o->pp.method = trdi_method_default_params(m);
        } else if (OPT("--steps", ALL_RUNS)) {
            NEED("--steps");
            if (!cli_parse_i64(v, 1, 1000000, &o->pp.schedule.steps))
                return bad(o, "--steps must be an integer >= 1, got '%s'%s", v, NULL);
            o->steps_given = true;
        } else if (OPT("--schedule", ALL_RUNS)) {
            NEED("--schedule");
            if (strcmp(v, "uniform") && strcmp(v, "trdi") && strcmp(v, "calibrated"))
                return bad(o, "--schedule must be uniform, trdi or calibrated, got '%s'%s", v, NULL);
            trdi_schedule_kind_from_name(v, &o->pp.schedule.kind);
            o->schedule_given = true;
        } else if (OPT("--calib-budget", ALL_RUNS)) {
            NEED("--calib-budget");
            if (!cli_parse_i64(v, TRDI_CALIB_MIN_BUDGET, 10000000, &o->calib_budget))
            {
                char lo[32];
                snprintf(lo, sizeof lo, "%d", TRDI_CALIB_MIN_BUDGET);
                return bad(o, "--calib-budget must be an integer number of model evaluations in "
                              "[%s, 10000000], got '%s'",
                           lo, v);
            }
            o->calib_flag_given = true;
        } else if (OPT("--calib-seed", ALL_RUNS)) {
            NEED("--calib-seed");
            int64_t s;
            if (!cli_parse_i64(v, 0, INT64_MAX, &s))
                return bad(o, "--calib-seed must be an integer >= 0, got '%s'%s", v, NULL);
            o->calib_seed = (uint64_t)s;
            o->calib_seed_given = o->calib_flag_given = true;
        } else if (OPT("--spacing", ALL_RUNS)) {
            NEED("--spacing");
            if (!cli_parse_f64(v, &o->pp.schedule.spacing) || !(o->pp.schedule.spacing > 0.0))
                return bad(o, "--spacing must be a number > 0, got '%s'%s", v, NULL);
            o->trdi_flag_given = true;
        } else if (OPT("--window", ALL_RUNS)) {
            NEED("--window");
            if (!cli_parse_i64(v, 0, 1000000, &o->pp.schedule.window))
                return bad(o, "--window must be an integer >= 0, got '%s'%s", v, NULL);
            o->trdi_flag_given = true;
        } else if (OPT("--adaptive", ALL_RUNS)) {
            NEED("--adaptive");
            adaptive = v;
            if (trdi_adaptive_mode_from_name(v, &o->pp.schedule.adaptive))
                return bad(o, "--adaptive: unknown mode '%s'%s", v, NULL);
            o->trdi_flag_given = true;
        } else if (OPT("--timesteps", ALL_RUNS)) {
            NEED("--timesteps");
            free(o->timesteps);
            if (!cli_parse_i64_list(v, 0, 1000000, &o->timesteps, &o->pp.schedule.n_timesteps))
                return bad(o, "--timesteps must be a comma-separated list of integers >= 0, got "
                              "'%s'%s",
                           v, NULL);
            o->timesteps_given = true;
        } else if (OPT("--schedule-file", ALL_RUNS)) {
            NEED("--schedule-file");
            free(o->timesteps);
            if (trdi_schedule_file_read(v, &o->timesteps, &o->pp.schedule.n_timesteps))
                return bad(o, "--schedule-file: %s%s", trdi_last_error(), NULL);
            o->timesteps_given = true;
        } else if (OPT("--stepping", ALL_RUNS)) {
            NEED("--stepping");
            if (trdi_stepping_from_name(v, &o->pp.schedule.stepping))
                return bad(o, "--stepping must be reference or consistent, got '%s'%s", v, NULL);
        } else if (OPT("--guidance", ALL_RUNS)) {
            NEED("--guidance");
            float g;
            if (!parse_float(v, &g)) return bad(o, "--guidance must be a finite number, got '%s'%s", v, NULL);
            if (which == RUN_INVERT)
                o->pp.inv_guidance = g;
            else
                o->pp.guidance = g;
        } else if (OPT("--inversion-guidance", RUN_RECONSTRUCT | RUN_EDIT)) {
            NEED("--inversion-guidance");
            if (!parse_float(v, &o->pp.inv_guidance))
                return bad(o, "--inversion-guidance must be a finite number, got '%s'%s", v, NULL);
        } else if (OPT("--prompt", ALL_RUNS)) {
            NEED("--prompt");
            o->pp.prompt = v;
        } else if (OPT("--target-prompt", RUN_EDIT)) {
            NEED("--target-prompt");
            o->pp.target_prompt = v;
        } else if (OPT("--negative-prompt", ALL_RUNS)) {
            NEED("--negative-prompt");
            if (which == RUN_INVERT)
                o->pp.inv_negative_prompt = v;
            else
                o->pp.negative_prompt = v;
        } else if (OPT("--seed", ALL_RUNS)) {
            NEED("--seed");
            int64_t s;
            if (!cli_parse_i64(v, 0, INT64_MAX, &s))
                return bad(o, "--seed must be an integer >= 0, got '%s'%s", v, NULL);
            seed = (uint64_t)s;
            seed_given = true;
        } else {
            return bad(o, "unknown option '%s' (see trdi %s --help)", arg, cmd);
        }
#undef OPT
#undef NEED
    }
    (void)adaptive;
    /* Incompatible combinations. */
    if (o->timesteps_given) {
        if (o->schedule_given)
            return bad(o, "--timesteps gives the list itself: it cannot be combined with "
                          "--schedule %s%s",
                       trdi_schedule_kind_name(o->pp.schedule.kind), NULL);
        if (o->steps_given)
            return bad(o, "--timesteps gives the list itself: it cannot be combined with "
                          "--steps%s%s",
                       "", NULL);
        if (o->trdi_flag_given)
            return bad(o, "--spacing, --window and --adaptive need --schedule trdi, not "
                          "--timesteps%s%s",
                       "", NULL);
        o->pp.schedule.kind = TRDI_SCHEDULE_LIST;
        o->pp.schedule.timesteps = o->timesteps;
    } else if (o->trdi_flag_given && o->pp.schedule.kind != TRDI_SCHEDULE_TRDI) {
        return bad(o, "--spacing, --window and --adaptive need --schedule trdi%s%s", "", NULL);
    }
    if (o->calib_flag_given && o->pp.schedule.kind != TRDI_SCHEDULE_CALIBRATED)
        return bad(o, "--calib-budget and --calib-seed need --schedule calibrated%s%s", "", NULL);
    int rc = apply_method_flags(o, pd, npd);
    if (rc >= 0) return rc;
    trdi_method m = o->pp.method.method;
    if (corrected) {
        if (m != TRDI_METHOD_NPI && m != TRDI_METHOD_GNRI && m != TRDI_METHOD_EDICT &&
            m != TRDI_METHOD_BDIA)
            return bad(o, "--corrected applies to npi, gnri, edict and bdia, not %s%s",
                       trdi_method_name(m), NULL);
        o->pp.method.corrected = true;
    }
    if (seed_given) o->pp.method.seed = seed;
    /* Per-command requirements. */
    if (which == RUN_EDIT && !o->pp.target_prompt)
        return bad(o, "--target-prompt is required (the prompt to edit towards)%s%s", "", NULL);
    if (which == RUN_INVERT) {
        if (o->image && o->latent_in)
            return bad(o, "give --image or --latent-in, not both%s%s", "", NULL);
        if (!o->out) return bad(o, "--out FILE (the noise latent to write) is required%s%s", "", NULL);
    }
    if (which == RUN_SAMPLE) {
        if (!o->latent_in) return bad(o, "--latent-in FILE (a noise latent) is required%s%s", "", NULL);
        if (!o->out && !o->out_latent)
            return bad(o, "give --out IMAGE and/or --out-latent FILE%s%s", "", NULL);
    }
    if (which != RUN_INVERT && o->out) {
        rc = run_check_image_path(o, "--out", o->out);
        if (rc >= 0) return rc;
    }
    return -1;
}

void run_opts_free(run_opts *o) {
    free(o->timesteps);
    o->timesteps = NULL;
}

int run_check_image_path(const run_opts *o, const char *flag, const char *path) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash) &&
        (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")))
        return -1;
    return bad(o, "%s: '%s' must end in .png, .jpg or .jpeg", flag, path);
}

int run_load_model(const run_opts *o, trdi_model **m) {
    trdi_model_params mp = trdi_model_default_params();
    mp.weights_variant = o->weights_variant;
    if (o->size) {
        mp.width = o->size;
        mp.height = o->size;
    }
    trdi_status st = trdi_model_load(o->model, &mp, m);
    if (st) {
        fprintf(stderr, "trdi %s: model '%s': %s\n", o->cmd, o->model, trdi_last_error());
        return st == TRDI_ERR_NOMEM || st == TRDI_ERR_INTERNAL ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    }
    if (o->vae_sample && trdi_model_set_vae_sample(*m, true, o->vae_sample_seed) != TRDI_OK) {
        fprintf(stderr, "trdi %s: --vae-sample: %s\n", o->cmd, trdi_last_error());
        trdi_model_free(*m);
        *m = NULL;
        return CLI_EXIT_USAGE;
    }
    /* --schedule calibrated needs the model: resolve it into the list now (callers own o). */
    if (o->pp.schedule.kind == TRDI_SCHEDULE_CALIBRATED && !o->pp.schedule.timesteps) {
        int rc = run_calibrated_schedule((run_opts *)o, *m);
        if (rc >= 0) {
            trdi_model_free(*m);
            *m = NULL;
            return rc;
        }
    }
    return -1;
}

int run_load_image(const run_opts *o, trdi_model *m, trdi_image *img) {
    trdi_status st = o->image ? trdi_image_read(o->image, img) : trdi_model_builtin_test_image(m, img);
    if (st) {
        fprintf(stderr, "trdi %s: image '%s': %s\n", o->cmd, o->image ? o->image : "(built-in)",
                trdi_last_error());
        return st == TRDI_ERR_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    }
    if (img->width < 1 || img->height < 1) {
        trdi_image_clear(img);
        fprintf(stderr, "trdi %s: image '%s' is empty\n", o->cmd, o->image ? o->image : "");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* --- Progress ------------------------------------------------------------------------------- */

static bool g_progress_shown;

static bool progress_line(void *user, const char *phase, int64_t step, int64_t total) {
    const char *cmd = user;
    fprintf(stderr, "\r\033[Ktrdi %s: %s step %lld/%lld", cmd,
            phase[0] == 'i' ? "inversion" : "sampling", (long long)(step + 1), (long long)total);
    fflush(stderr);
    g_progress_shown = true;
    return true;
}

void run_progress_install(run_opts *o) {
    if (!isatty(STDERR_FILENO)) return;
    o->pp.progress = progress_line;
    o->pp.progress_user = (void *)o->cmd;
}

void run_progress_end(void) {
    if (g_progress_shown) fputs("\r\033[K", stderr);
    g_progress_shown = false;
}

/* --- Outputs and JSON ----------------------------------------------------------------------- */

void run_outputs_add(run_outputs *w, const char *path) {
    if (w->n < 4) w->paths[w->n++] = path;
}

void run_outputs_rollback(run_outputs *w) {
    for (int i = 0; i < w->n; i++) unlink(w->paths[i]);
    w->n = 0;
}

const char *const *run_metadata(const run_opts *o, const trdi_run_result *r, const char *kind) {
    static char ts[16384], gi[32], gs[32], steps[32];
    static const char *md[32];
    size_t len = 0;
    ts[0] = '\0';
    for (int64_t k = 0; k < r->n_timesteps && len + 24 < sizeof ts; k++)
        len += (size_t)snprintf(ts + len, sizeof ts - len, k ? ",%lld" : "%lld",
                                (long long)r->timesteps[k]);
    snprintf(gi, sizeof gi, "%g", (double)r->inv_guidance);
    snprintf(gs, sizeof gs, "%g", (double)r->guidance);
    snprintf(steps, sizeof steps, "%lld", (long long)r->n_timesteps);
    int n = 0;
    md[n++] = "format";
    md[n++] = "trdi";
    md[n++] = "kind";
    md[n++] = kind;
    md[n++] = "model";
    md[n++] = o->model;
    md[n++] = "method";
    md[n++] = trdi_method_name(o->pp.method.method);
    md[n++] = "schedule";
    md[n++] = trdi_schedule_kind_name(o->pp.schedule.kind);
    md[n++] = "stepping";
    md[n++] = trdi_stepping_name(o->pp.schedule.stepping);
    md[n++] = "steps";
    md[n++] = steps;
    md[n++] = "timesteps";
    md[n++] = ts;
    md[n++] = "inversion_guidance";
    md[n++] = gi;
    md[n++] = "guidance";
    md[n++] = gs;
    md[n++] = "corrected";
    md[n++] = o->pp.method.corrected ? "true" : "false";
    md[n] = NULL;
    return md;
}

void run_json_number(cJSON *obj, const char *name, double v) {
    if (isnan(v))
        cJSON_AddNullToObject(obj, name);
    else if (isinf(v))
        cJSON_AddStringToObject(obj, name, v > 0 ? "inf" : "-inf");
    else
        cJSON_AddNumberToObject(obj, name, v);
}

void run_json_common(cJSON *obj, const run_opts *o, const trdi_run_result *r) {
    cJSON_AddStringToObject(obj, "command", o->cmd);
    cJSON_AddStringToObject(obj, "model", o->model);
    cJSON_AddStringToObject(obj, "method", trdi_method_name(o->pp.method.method));
    cJSON_AddBoolToObject(obj, "corrected", o->pp.method.corrected);
    cJSON_AddStringToObject(obj, "schedule", trdi_schedule_kind_name(o->pp.schedule.kind));
    cJSON_AddStringToObject(obj, "stepping", trdi_stepping_name(o->pp.schedule.stepping));
    cJSON_AddNumberToObject(obj, "steps", (double)r->n_timesteps);
    cJSON *a = cJSON_AddArrayToObject(obj, "timesteps");
    for (int64_t k = 0; a && k < r->n_timesteps; k++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)r->timesteps[k]));
}

void run_json_print(cJSON *obj) {
    char *s = cJSON_PrintUnformatted(obj);
    if (s) puts(s);
    free(s);
    cJSON_Delete(obj);
}

int run_fail(const run_opts *o, trdi_status st, const char *what) {
    run_progress_end();
    return cli_lib_error(o->cmd, st, what);
}
