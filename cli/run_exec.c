/* run_exec.c -- the bodies of `trdi reconstruct`, `edit`, `invert` and `sample` after parsing:
 * load the model and input, run the pipeline, write every output only after the run succeeded
 * (and remove them again if a later write fails), print text or one JSON object. */
#include "run_exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JPEG_QUALITY 75 /* PIL's default, as the reference saves .jpg outputs */

/* "wrote PATH" for each output file the run produced (text mode). */
static void print_written(const run_opts *o) {
    if (o->out) printf("wrote %s\n", o->out);
    if (o->out_latent) printf("wrote %s\n", o->out_latent);
    if (o->trajectory) printf("wrote %s\n", o->trajectory);
}

static void describe(const run_opts *o, const trdi_run_result *r, FILE *f) {
    fprintf(f, "trdi %s: method %s%s, %s schedule, %lld steps (%s stepping)", o->cmd,
            trdi_method_name(o->pp.method.method), o->pp.method.corrected ? " (corrected)" : "",
            trdi_schedule_kind_name(o->pp.schedule.kind), (long long)r->n_timesteps,
            trdi_stepping_name(o->pp.schedule.stepping));
}

static int write_image(const run_opts *o, run_outputs *w, const char *path, const trdi_image *img) {
    trdi_status st = trdi_image_write(path, img, JPEG_QUALITY);
    if (st) {
        run_outputs_rollback(w);
        return cli_lib_error(o->cmd, st, path);
    }
    run_outputs_add(w, path);
    return -1;
}

static int write_latent(const run_opts *o, run_outputs *w, const char *path, const trdi_latent *l,
                        const trdi_run_result *r, const char *kind) {
    trdi_status st = trdi_latent_save(path, l, run_metadata(o, r, kind));
    if (st) {
        run_outputs_rollback(w);
        return cli_lib_error(o->cmd, st, path);
    }
    run_outputs_add(w, path);
    return -1;
}

static int write_trajectory(const run_opts *o, run_outputs *w, const trdi_run_result *r) {
    if (!o->trajectory) return -1;
    trdi_status st = trdi_trajectory_save(o->trajectory, &r->trajectory,
                                          run_metadata(o, r, "trajectory"));
    if (st) {
        run_outputs_rollback(w);
        return cli_lib_error(o->cmd, st, o->trajectory);
    }
    run_outputs_add(w, o->trajectory);
    return -1;
}

static void add_costs(cJSON *j, const trdi_run_result *r) {
    cJSON_AddNumberToObject(j, "nfe", (double)r->nfe);
    cJSON_AddNumberToObject(j, "nfe_inversion", (double)r->nfe_inv);
    cJSON_AddNumberToObject(j, "nfe_sampling", (double)r->nfe_smp);
    if (r->nvjp) cJSON_AddNumberToObject(j, "nvjp", (double)r->nvjp);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    cJSON_AddNumberToObject(j, "seconds_inversion", r->seconds_inv);
    cJSON_AddNumberToObject(j, "seconds_sampling", r->seconds_smp);
}

int run_full(run_opts *o) {
    trdi_model *m = NULL;
    trdi_image img = {0};
    trdi_run_result r;
    memset(&r, 0, sizeof r);
    int rc = run_load_model(o, &m);
    if (rc < 0) rc = run_load_image(o, m, &img);
    if (rc >= 0) goto done;
    run_progress_install(o);
    o->pp.keep_trajectory = o->trajectory != NULL;
    trdi_status st = trdi_pipeline_run(m, &o->pp, &img, &r);
    run_progress_end();
    if (st) {
        rc = run_fail(o, st, o->which == RUN_EDIT ? "edit" : "reconstruction");
        goto done;
    }
    run_outputs w = {{0}, 0};
    if (o->out && (rc = write_image(o, &w, o->out, &r.output)) >= 0) goto done;
    if (o->out_latent && (rc = write_latent(o, &w, o->out_latent, &r.noise, &r, "noise")) >= 0)
        goto done;
    if ((rc = write_trajectory(o, &w, &r)) >= 0) goto done;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        run_json_common(j, o, &r);
        cJSON_AddStringToObject(j, "image", o->image ? o->image : "builtin");
        cJSON_AddNumberToObject(j, "width", (double)r.input.width);
        cJSON_AddNumberToObject(j, "height", (double)r.input.height);
        cJSON_AddNumberToObject(j, "channels", (double)r.input.channels);
        cJSON_AddStringToObject(j, "prompt", o->pp.prompt ? o->pp.prompt : "");
        if (o->pp.target_prompt) cJSON_AddStringToObject(j, "target_prompt", o->pp.target_prompt);
        cJSON_AddNumberToObject(j, "inversion_guidance", r.inv_guidance);
        cJSON_AddNumberToObject(j, "guidance", r.guidance);
        run_json_number(j, "psnr", r.psnr);
        run_json_number(j, "ssim", r.ssim);
        run_json_number(j, "mse", r.mse);
        add_costs(j, &r);
        if (o->out) cJSON_AddStringToObject(j, "out", o->out);
        if (o->out_latent) cJSON_AddStringToObject(j, "out_latent", o->out_latent);
        if (o->trajectory) cJSON_AddStringToObject(j, "trajectory", o->trajectory);
        run_json_print(j);
    } else {
        describe(o, &r, stdout);
        printf(", guidance %g / %g, image %lldx%lldx%lld\n", (double)r.inv_guidance,
               (double)r.guidance, (long long)r.input.width, (long long)r.input.height,
               (long long)r.input.channels);
        const char *vs = o->which == RUN_EDIT ? " (edited vs source)" : "";
        if (isinf(r.psnr))
            printf("PSNR inf dB");
        else
            printf("PSNR %.3f dB", r.psnr);
        if (isnan(r.ssim))
            printf("  SSIM n/a (image under 11 px)");
        else
            printf("  SSIM %.5f", r.ssim);
        printf("  MSE %.4e%s\n", r.mse, vs);
        printf("NFE %lld (inversion %lld, sampling %lld)  time %.3f s\n", (long long)r.nfe,
               (long long)r.nfe_inv, (long long)r.nfe_smp, r.seconds);
        print_written(o);
    }
    rc = CLI_EXIT_OK;
done:
    trdi_run_result_clear(&r);
    trdi_image_clear(&img);
    trdi_model_free(m);
    return rc;
}

/* --latent-in into *lat, shape-checked against the model: -1, or the exit code after one line
 * on stderr. */
static int load_latent_in(const run_opts *o, const trdi_model *m, trdi_latent *lat) {
    trdi_status st = trdi_latent_load(o->latent_in, lat);
    if (!st) st = trdi_latent_check_shape(lat, m, o->latent_in);
    if (!st) return -1;
    fprintf(stderr, "trdi %s: --latent-in: %s\n", o->cmd, trdi_last_error());
    return st == TRDI_ERR_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
}

int run_invert(run_opts *o) {
    trdi_model *m = NULL;
    trdi_image img = {0};
    trdi_latent clean = {0};
    trdi_run_result r;
    memset(&r, 0, sizeof r);
    int rc = run_load_model(o, &m);
    if (rc >= 0) goto done;
    if (o->latent_in) {
        if ((rc = load_latent_in(o, m, &clean)) >= 0) goto done;
    } else if ((rc = run_load_image(o, m, &img)) >= 0) {
        goto done;
    }
    run_progress_install(o);
    o->pp.keep_trajectory = o->trajectory != NULL;
    trdi_status st = trdi_pipeline_invert(m, &o->pp, o->latent_in ? NULL : &img,
                                          o->latent_in ? &clean : NULL, &r);
    run_progress_end();
    if (st) {
        rc = run_fail(o, st, "inversion");
        goto done;
    }
    run_outputs w = {{0}, 0};
    if ((rc = write_latent(o, &w, o->out, &r.noise, &r, "noise")) >= 0) goto done;
    if ((rc = write_trajectory(o, &w, &r)) >= 0) goto done;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        run_json_common(j, o, &r);
        cJSON_AddStringToObject(j, "input", o->latent_in ? o->latent_in : o->image ? o->image : "builtin");
        cJSON_AddNumberToObject(j, "guidance", r.inv_guidance);
        add_costs(j, &r);
        cJSON_AddStringToObject(j, "out", o->out);
        cJSON_AddBoolToObject(j, "latent_aux", r.noise.aux != NULL);
        if (o->trajectory) cJSON_AddStringToObject(j, "trajectory", o->trajectory);
        run_json_print(j);
    } else {
        describe(o, &r, stdout);
        printf(", guidance %g\n", (double)r.inv_guidance);
        printf("NFE %lld  time %.3f s\nwrote %s (latent 1x%lldx%lldx%lld%s)\n", (long long)r.nfe,
               r.seconds, o->out, (long long)r.noise.channels, (long long)r.noise.height,
               (long long)r.noise.width, r.noise.aux ? " + latent_aux" : "");
        if (o->trajectory) printf("wrote %s\n", o->trajectory);
    }
    rc = CLI_EXIT_OK;
done:
    trdi_run_result_clear(&r);
    trdi_latent_clear(&clean);
    trdi_image_clear(&img);
    trdi_model_free(m);
    return rc;
}

int run_sample(run_opts *o) {
    trdi_model *m = NULL;
    trdi_latent noise = {0};
    trdi_run_result r;
    memset(&r, 0, sizeof r);
    int rc = run_load_model(o, &m);
    if (rc >= 0) goto done;
    if ((rc = load_latent_in(o, m, &noise)) >= 0) goto done;
    /* A latent inverted with another method or stepping still samples, but rarely on purpose:
     * warn after a successful run (a failing run prints its one error line only). */
    char warn[2][512] = {"", ""};
    trdi_safetensors *sf = NULL;
    if (trdi_safetensors_open(o->latent_in, &sf) == TRDI_OK) {
        const char *mm = trdi_safetensors_metadata(sf, "method");
        const char *ms = trdi_safetensors_metadata(sf, "stepping");
        if (mm && strcmp(mm, trdi_method_name(o->pp.method.method)))
            snprintf(warn[0], sizeof warn[0], "%s was inverted with method %s, sampling with %s",
                     o->latent_in, mm, trdi_method_name(o->pp.method.method));
        if (ms && strcmp(ms, trdi_stepping_name(o->pp.schedule.stepping)))
            snprintf(warn[1], sizeof warn[1], "%s was inverted with %s stepping, sampling with %s",
                     o->latent_in, ms, trdi_stepping_name(o->pp.schedule.stepping));
        trdi_safetensors_close(sf);
    }
    run_progress_install(o);
    o->pp.keep_trajectory = o->trajectory != NULL;
    trdi_status st = trdi_pipeline_sample(m, &o->pp, &noise, &r);
    run_progress_end();
    if (st) {
        rc = run_fail(o, st, "sampling");
        goto done;
    }
    run_outputs w = {{0}, 0};
    if (o->out && (rc = write_image(o, &w, o->out, &r.output)) >= 0) goto done;
    if (o->out_latent && (rc = write_latent(o, &w, o->out_latent, &r.sampled, &r, "clean")) >= 0)
        goto done;
    if ((rc = write_trajectory(o, &w, &r)) >= 0) goto done;
    for (int k = 0; k < 2; k++)
        if (warn[k][0]) fprintf(stderr, "trdi %s: warning: %s\n", o->cmd, warn[k]);
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        run_json_common(j, o, &r);
        cJSON_AddStringToObject(j, "input", o->latent_in);
        cJSON_AddNumberToObject(j, "guidance", r.guidance);
        add_costs(j, &r);
        if (o->out) cJSON_AddStringToObject(j, "out", o->out);
        if (o->out_latent) cJSON_AddStringToObject(j, "out_latent", o->out_latent);
        if (o->trajectory) cJSON_AddStringToObject(j, "trajectory", o->trajectory);
        run_json_print(j);
    } else {
        describe(o, &r, stdout);
        printf(", guidance %g\n", (double)r.guidance);
        printf("NFE %lld  time %.3f s\n", (long long)r.nfe, r.seconds);
        print_written(o);
    }
    rc = CLI_EXIT_OK;
done:
    trdi_run_result_clear(&r);
    trdi_latent_clear(&noise);
    trdi_model_free(m);
    return rc;
}

int run_command_main(run_command which, const char *cmd, const char *summary, int argc,
                     char **argv) {
    run_opts o;
    int rc = run_opts_parse(&o, which, cmd, argc, argv);
    if (o.help) {
        printf("usage: trdi %s [options]\n\n%s\n\n", cmd, summary);
        run_opts_help(stdout, which);
        printf("\nExit status: 0 success; 2 bad arguments or input (one line on stderr, no output\n"
               "file left behind); 1 failure while running.\n");
        run_opts_free(&o);
        return CLI_EXIT_OK;
    }
    if (rc >= 0) {
        run_opts_free(&o);
        return rc;
    }
    switch (which) {
    case RUN_RECONSTRUCT:
    case RUN_EDIT: rc = run_full(&o); break;
    case RUN_INVERT: rc = run_invert(&o); break;
    case RUN_SAMPLE: rc = run_sample(&o); break;
    }
    run_opts_free(&o);
    return rc;
}
