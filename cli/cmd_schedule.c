/* cmd_schedule.c -- `trdi schedule`: prints a timestep schedule as JSON on stdout. By default the
 * authors' TRDI pipeline (init, power-law rescale, DP) on their fixed SD table; --model or the
 * noise flags switch to that noise schedule; --plain prints diffusers' own set_timesteps list;
 * --stepping adds the step plan. Uses only include/trdi.h and cJSON. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const CMD = "schedule";

static void print_help(FILE *f) {
    fprintf(f,
            "usage: trdi schedule [options]\n"
            "\n"
            "Prints a timestep schedule as one JSON object on stdout:\n"
            "  {\"timesteps\": [...descending...], \"init\": [...], \"rescaled\": [...], \"cost\": x,\n"
            "   \"config\": {...}, \"trdi\": {...}, \"source\": \"...\", ...}\n"
            "Without --plain it runs the authors' TRDI pipeline: the initial list (--init), the\n"
            "power-law rescaling (--spacing), then the windowed DP (--window). --spacing 1\n"
            "--window 0 is the authors' baseline (it truncates: 980 rather than 981 at 50 steps).\n"
            "By default it uses the authors' fixed Stable Diffusion table (TRDI.py ignores the\n"
            "model); --model or any noise flag uses that noise schedule instead (\"source\" says\n"
            "which).\n"
            "\n"
            "TRDI:\n"
            "  --steps N            inference steps, 1 <= N <= train steps (default 50)\n"
            "  --spacing S          power-law exponent, finite and > 0 (default 1.05)\n"
            "  --window W           DP window, >= 0 (default 8; 0 keeps the rescaled list)\n"
            "  --init NAME          leading | linspace | trailing initial list (default leading;\n"
            "                       linspace contains 0, which TRDI rejects)\n"
            "  --adaptive MODE      AdaptiveTRDI density: none | balanced | noise | noise_floor25 |\n"
            "                       noise_floor50 | noise_floor75 | logsnr | curvature | late\n"
            "                       (default none = the plain pipeline)\n"
            "  --adaptive-match     adaptive bounds from the TRDI list of the same steps/spacing/\n"
            "                       window (the authors' adaptive_match_* runs)\n"
            "Noise schedule (defaults: Stable Diffusion 1.5, or the --model's config):\n"
            "  --model DIR          a diffusers folder (DIR/scheduler/scheduler_config.json) or a\n"
            "                       scheduler_config.json file\n"
            "  --beta-schedule NAME linear | scaled_linear | squaredcos_cap_v2\n"
            "  --beta-start X       first beta, in [0, 1)\n"
            "  --beta-end X         last beta, in [0, 1)\n"
            "  --train-steps N      num_train_timesteps, 2 <= N <= 1000000\n"
            "  --steps-offset N     steps_offset of the leading list, 0 <= N < train steps\n"
            "Output:\n"
            "  --plain              print diffusers' DDIMScheduler.set_timesteps list instead\n"
            "                       (spacing from --init or the config; no TRDI flags allowed)\n"
            "  --stepping NAME      also print the step plan: reference (the authors' fixed\n"
            "                       stride N div n) | consistent (consecutive timesteps)\n"
            "  --help               this text\n"
            "\n"
            "Exit status: 0 success; 2 bad arguments or an infeasible schedule (one line on\n"
            "stderr naming the cause); 1 other failures.\n");
}

typedef struct {
    trdi_trdi_params p;
    trdi_noise_config cfg;
    const char *model;
    bool plain, want_plan, noise_flag, trdi_flag, init_given;
    trdi_stepping stepping;
} sched_args;

static cJSON *int_array(const int64_t *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static cJSON *config_json(const trdi_noise_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "beta_schedule", trdi_beta_schedule_name(c->beta_schedule));
    cJSON_AddNumberToObject(o, "beta_start", c->beta_start);
    cJSON_AddNumberToObject(o, "beta_end", c->beta_end);
    cJSON_AddNumberToObject(o, "num_train_timesteps", (double)c->num_train_timesteps);
    cJSON_AddNumberToObject(o, "steps_offset", (double)c->steps_offset);
    cJSON_AddBoolToObject(o, "set_alpha_to_one", c->set_alpha_to_one);
    cJSON_AddStringToObject(o, "prediction_type", trdi_prediction_type_name(c->prediction_type));
    cJSON_AddStringToObject(o, "timestep_spacing", trdi_timestep_spacing_name(c->timestep_spacing));
    return o;
}

static cJSON *steps_json(const trdi_step *st, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "t", (double)st[i].t);
        if (st[i].from_t < 0)
            cJSON_AddStringToObject(o, "from", "final");
        else
            cJSON_AddNumberToObject(o, "from", (double)st[i].from_t);
        if (st[i].to_t < 0)
            cJSON_AddStringToObject(o, "to", "final");
        else
            cJSON_AddNumberToObject(o, "to", (double)st[i].to_t);
        cJSON_AddNumberToObject(o, "a_from", (double)st[i].a_from);
        cJSON_AddNumberToObject(o, "a_to", (double)st[i].a_to);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* Parses the flags into *a. Returns -1 to go on, or an exit code. */
static int parse_args(int argc, char **argv, sched_args *a) {
    memset(a, 0, sizeof *a);
    a->p = trdi_trdi_default_params();
    a->cfg = trdi_noise_config_default();
    /* Noise flags are applied after --model (whatever the order), so keep them aside. */
    const char *beta_schedule = NULL, *beta_start = NULL, *beta_end = NULL, *train = NULL,
               *offset = NULL;
    const char *steps = NULL, *window = NULL;
    int i = 1;
    while (i < argc) {
        const char *v = NULL;
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            print_help(stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(arg, "--plain")) {
            a->plain = true;
            i++;
            continue;
        }
        if (!strcmp(arg, "--adaptive-match")) {
            a->p.adaptive_match = true;
            a->trdi_flag = true;
            i++;
            continue;
        }
#define TAKE(name)                                                                                 \
    (cli_take_option(argc, argv, &i, name, &v)                                                     \
         ? (v ? 1 : (cli_usage_error(CMD, "%s needs a value", name), -1))                          \
         : 0)
        int r;
        if ((r = TAKE("--steps"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            steps = v;
        } else if ((r = TAKE("--window"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            window = v;
            a->trdi_flag = true;
        } else if ((r = TAKE("--spacing"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!cli_parse_f64(v, &a->p.spacing) || !(a->p.spacing > 0))
                return cli_usage_error(CMD, "--spacing must be a finite number > 0, got '%s'", v);
            a->trdi_flag = true;
        } else if ((r = TAKE("--init"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (trdi_timestep_spacing_from_name(v, &a->p.init) != TRDI_OK)
                return cli_usage_error(CMD, "--init: %s", trdi_last_error());
            a->init_given = true;
        } else if ((r = TAKE("--adaptive"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (trdi_adaptive_mode_from_name(v, &a->p.adaptive) != TRDI_OK)
                return cli_usage_error(CMD, "--adaptive: %s", trdi_last_error());
            a->trdi_flag = true;
        } else if ((r = TAKE("--stepping"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (trdi_stepping_from_name(v, &a->stepping) != TRDI_OK)
                return cli_usage_error(CMD, "--stepping: %s", trdi_last_error());
            a->want_plan = true;
        } else if ((r = TAKE("--model"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            a->model = v;
        } else if ((r = TAKE("--beta-schedule"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            beta_schedule = v;
        } else if ((r = TAKE("--beta-start"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            beta_start = v;
        } else if ((r = TAKE("--beta-end"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            beta_end = v;
        } else if ((r = TAKE("--train-steps"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            train = v;
        } else if ((r = TAKE("--steps-offset"))) {
            if (r < 0) return CLI_EXIT_USAGE;
            offset = v;
        } else {
            return cli_usage_error(CMD, "unknown argument '%s' (see trdi schedule --help)", arg);
        }
#undef TAKE
    }
    if (a->model) {
        trdi_status st = trdi_noise_config_load(a->model, &a->cfg);
        if (st != TRDI_OK) return cli_usage_error(CMD, "--model: %s", trdi_last_error());
    }
    a->noise_flag = beta_schedule || beta_start || beta_end || train || offset;
    if (beta_schedule && trdi_beta_schedule_from_name(beta_schedule, &a->cfg.beta_schedule) != TRDI_OK)
        return cli_usage_error(CMD, "--beta-schedule: %s", trdi_last_error());
    if (beta_start && (!cli_parse_f64(beta_start, &a->cfg.beta_start) || a->cfg.beta_start < 0 ||
                       a->cfg.beta_start >= 1))
        return cli_usage_error(CMD, "--beta-start must be a number in [0, 1), got '%s'", beta_start);
    if (beta_end &&
        (!cli_parse_f64(beta_end, &a->cfg.beta_end) || a->cfg.beta_end < 0 || a->cfg.beta_end >= 1))
        return cli_usage_error(CMD, "--beta-end must be a number in [0, 1), got '%s'", beta_end);
    if (train && !cli_parse_i64(train, 2, 1000000, &a->cfg.num_train_timesteps))
        return cli_usage_error(CMD, "--train-steps must be an integer in [2, 1000000], got '%s'",
                               train);
    if (offset && !cli_parse_i64(offset, 0, a->cfg.num_train_timesteps - 1, &a->cfg.steps_offset))
        return cli_usage_error(CMD, "--steps-offset must be an integer in [0, %lld], got '%s'",
                               (long long)(a->cfg.num_train_timesteps - 1), offset);
    const int64_t N = a->cfg.num_train_timesteps;
    if (steps && !cli_parse_i64(steps, 1, N, &a->p.steps))
        return cli_usage_error(CMD, "--steps must be an integer in [1, %lld] (the train steps), "
                               "got '%s'", (long long)N, steps);
    if (window && !cli_parse_i64(window, 0, INT64_MAX, &a->p.window))
        return cli_usage_error(CMD, "--window must be an integer >= 0, got '%s'", window);
    if (a->p.adaptive == TRDI_ADAPTIVE_NONE && a->p.adaptive_match)
        return cli_usage_error(CMD, "--adaptive-match needs --adaptive MODE");
    if (a->plain && a->trdi_flag)
        return cli_usage_error(CMD, "--plain prints diffusers' list: --spacing, --window and "
                               "--adaptive do not apply");
    return -1;
}

int cli_cmd_schedule(int argc, char **argv) {
    sched_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;

    /* The table: the authors' fixed one unless a model or a noise flag asks for another. */
    const bool own_table = a.model || a.noise_flag;
    const char *source = a.model ? (a.noise_flag ? "model_with_overrides" : "model")
                                 : (a.noise_flag ? "flags" : "authors_sd_table");
    if (a.plain && !own_table) source = "sd15_default_config";
    trdi_noise_schedule *sched = NULL;
    if (own_table || a.want_plan) {
        trdi_status st = trdi_noise_schedule_create(&a.cfg, &sched);
        if (st != TRDI_OK) {
            /* A table that underflows comes from the user's beta flags or config: bad input. */
            int erc = cli_lib_error(CMD, st, a.model ? "--model's noise schedule" : "the noise flags");
            return st == TRDI_ERR_NUMERIC ? CLI_EXIT_USAGE : erc;
        }
    }

    cJSON *root = cJSON_CreateObject();
    int64_t *ts = NULL, n = 0;
    trdi_trdi_result r;
    memset(&r, 0, sizeof r);
    rc = CLI_EXIT_OK;
    if (a.plain) {
        trdi_noise_config c = a.cfg;
        if (a.init_given) c.timestep_spacing = a.p.init;
        trdi_status st = trdi_timesteps_diffusers(&c, a.p.steps, &ts, &n);
        if (st != TRDI_OK) {
            rc = cli_lib_error(CMD, st, "set_timesteps");
            goto out;
        }
        a.cfg = c;
        cJSON_AddItemToObject(root, "timesteps", int_array(ts, n));
        cJSON_AddStringToObject(root, "method", "diffusers_set_timesteps");
    } else {
        trdi_status st = trdi_trdi_build(own_table ? sched : NULL, &a.p, &r);
        if (st != TRDI_OK) {
            rc = cli_lib_error(CMD, st, "cannot build the schedule");
            goto out;
        }
        cJSON_AddItemToObject(root, "timesteps", int_array(r.timesteps, r.n));
        cJSON_AddItemToObject(root, "init", int_array(r.init, r.n_init));
        cJSON_AddItemToObject(root, "rescaled", int_array(r.rescaled, r.n_init));
        if (isnan(r.cost))
            cJSON_AddNullToObject(root, "cost");
        else
            cJSON_AddNumberToObject(root, "cost", (double)r.cost);
        cJSON_AddStringToObject(root, "method",
                                a.p.adaptive == TRDI_ADAPTIVE_NONE ? "trdi" : "adaptive_trdi");
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "steps", (double)a.p.steps);
        cJSON_AddNumberToObject(t, "spacing", a.p.spacing);
        cJSON_AddNumberToObject(t, "window", (double)a.p.window);
        cJSON_AddStringToObject(t, "init", trdi_timestep_spacing_name(a.p.init));
        cJSON_AddStringToObject(t, "adaptive", trdi_adaptive_mode_name(a.p.adaptive));
        cJSON_AddBoolToObject(t, "adaptive_match", a.p.adaptive_match);
        cJSON_AddItemToObject(root, "trdi", t);
        ts = r.timesteps;
        n = r.n;
    }
    if (!own_table && !a.plain) {
        /* What TRDI.py uses whatever the model: SD 1.5's table. */
        trdi_noise_config sd = trdi_noise_config_default();
        cJSON_AddItemToObject(root, "config", config_json(&sd));
    } else {
        cJSON_AddItemToObject(root, "config", config_json(&a.cfg));
    }
    cJSON_AddStringToObject(root, "source", source);
    if (a.model) cJSON_AddStringToObject(root, "model", a.model);
    if (a.want_plan) {
        trdi_plan plan;
        /* The plan reads the table that produced the list (SD's by default). */
        trdi_status st = trdi_plan_build(sched, ts, n, a.stepping, &plan);
        if (st != TRDI_OK) {
            rc = cli_lib_error(CMD, st, "step plan");
            goto out;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "stepping", trdi_stepping_name(plan.stepping));
        cJSON_AddNumberToObject(o, "final_alpha", (double)plan.final_alpha);
        cJSON_AddItemToObject(o, "inversion", steps_json(plan.inv, plan.n));
        cJSON_AddItemToObject(o, "sampling", steps_json(plan.smp, plan.n));
        cJSON_AddItemToObject(root, "plan", o);
        trdi_plan_clear(&plan);
    }
    {
        char *text = cJSON_PrintUnformatted(root);
        if (!text) {
            fprintf(stderr, "trdi %s: out of memory printing JSON\n", CMD);
            rc = CLI_EXIT_FAILURE;
            goto out;
        }
        printf("%s\n", text);
        cJSON_free(text);
        if (fflush(stdout) != 0) rc = CLI_EXIT_FAILURE;
    }
out:
    if (a.plain) trdi_timesteps_free(ts);
    trdi_trdi_result_clear(&r);
    trdi_noise_schedule_free(sched);
    cJSON_Delete(root);
    return rc;
}
