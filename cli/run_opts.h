/* run_opts.h -- the options shared by `trdi reconstruct`, `edit`, `invert`, `sample`, `analyze` and
 * `demo`: strict parsing of the model / schedule / method / guidance / prompt / output flags into a
 * trdi_pipeline_params, the help text of those flags, progress lines and JSON helpers. Uses only
 * include/trdi.h and cJSON. */
#ifndef TRDI_CLI_RUN_OPTS_H
#define TRDI_CLI_RUN_OPTS_H

#include "cli.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

/* Which command parses (selects the flags it accepts). */
typedef enum {
    RUN_RECONSTRUCT = 1,
    RUN_EDIT = 2,
    RUN_INVERT = 4,
    RUN_SAMPLE = 8
} run_command;

typedef struct run_opts {
    const char *cmd; /* "reconstruct", ... */
    run_command which;
    const char *model;       /* "builtin" */
    int64_t size;            /* 0: the model's own */
    bool vae_sample;         /* --vae-sample SEED (Stable Diffusion): posterior sample, not mean */
    int weights_variant;     /* --variant (a trdi_weights_variant; 0 = auto) */
    uint64_t vae_sample_seed;
    const char *image;       /* NULL: the model's test image (reconstruct/edit/invert) */
    const char *latent_in;
    const char *out;
    const char *out_latent;
    const char *trajectory;
    bool json;
    bool help;
    trdi_pipeline_params pp;
    /* which flags were given (for the incompatibility checks) */
    bool schedule_given, steps_given, trdi_flag_given, timesteps_given;
    const char *method_flag; /* the first method-specific flag seen, to check against --method */
    trdi_method method_flag_method;
    int64_t *timesteps; /* owned (explicit list) */
    /* --calib-budget / --calib-seed (0 / unset: trdi_calib_default_params'); only with
     * --schedule calibrated */
    int64_t calib_budget;
    uint64_t calib_seed;
    bool calib_seed_given, calib_flag_given;
} run_opts;

/* Parses argv (argv[0] = the command). Returns -1 to go on, or an exit code (help printed: 0;
 * bad arguments: 2 with one line on stderr). Free with run_opts_free. */
int run_opts_parse(run_opts *o, run_command which, const char *cmd, int argc, char **argv);
void run_opts_free(run_opts *o);

/* Prints the help of the shared flags the command accepts. */
void run_opts_help(FILE *f, run_command which);

/* Loads the model (exit code or -1). */
int run_load_model(const run_opts *o, trdi_model **m);
/* --schedule calibrated: computes (or reads from the cache) the calibrated list for o's steps,
 * stepping and prompt on the model's test image and stores it in o->pp.schedule.timesteps
 * (owned by o). Exit code or -1. Defined in cmd_calibrate.c. */
int run_calibrated_schedule(run_opts *o, trdi_model *m);
/* Reads --image, or the model's test image when there is none (exit code or -1). */
int run_load_image(const run_opts *o, trdi_model *m, trdi_image *img);

/* Installs a progress line on stderr when it is a terminal; call run_progress_end after. */
void run_progress_install(run_opts *o);
void run_progress_end(void);

/* Output bookkeeping: files written by this run are removed again when a later step fails. */
typedef struct {
    const char *paths[4];
    int n;
} run_outputs;
void run_outputs_add(run_outputs *w, const char *path);
void run_outputs_rollback(run_outputs *w);

/* Metadata (NULL-terminated key/value list, static storage valid until the next call) describing
 * the run, for latent / trajectory files. */
const char *const *run_metadata(const run_opts *o, const trdi_run_result *r, const char *kind);

/* Checks that `path` names a .png / .jpg / .jpeg file (else a usage error, exit 2). */
int run_check_image_path(const run_opts *o, const char *flag, const char *path);

/* Adds the fields every command prints: method, schedule, stepping, steps, timesteps, guidance. */
void run_json_common(cJSON *obj, const run_opts *o, const trdi_run_result *r);
/* A double, or the string "inf" / null for infinities / NaN. */
void run_json_number(cJSON *obj, const char *name, double v);
/* Prints the object on stdout (one line) and frees it. */
void run_json_print(cJSON *obj);

/* Exit code for a failed library call during the run (prints one line). */
int run_fail(const run_opts *o, trdi_status st, const char *what);

#endif /* TRDI_CLI_RUN_OPTS_H */
