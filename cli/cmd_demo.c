/* cmd_demo.c -- `trdi demo`: every method with the uniform and the TRDI schedule on the built-in
 * exact model and its test image, as one aligned table of reconstruction PSNR / SSIM / MSE, model
 * evaluations and time. Uses only include/trdi.h and cJSON. */
#include "run_opts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const CMD = "demo";

static void print_help(FILE *f) {
    fprintf(f,
            "usage: trdi demo [options]\n"
            "\n"
            "Reconstructs the model's built-in test image with every method (ddim, npi, renoise,\n"
            "gnri, fpi, aidi, edict, bdia, belm), each with the uniform schedule, the TRDI\n"
            "schedule and the calibrated schedule (calibrated once on the image for the stepping,\n"
            "budget 300 model evaluations, see trdi calibrate), each method with its reference\n"
            "defaults (guidance, parameters, reference stepping), and prints one table: PSNR (dB), SSIM, MSE, model evaluations, seconds.\n"
            "\n"
            "  --model SPEC     builtin (default), a folder of images or a mixture .json\n"
            "  --size N         the mixture's image side (default: the model's, 32 for builtin)\n"
            "  --image FILE     reconstruct this image instead of the built-in test image\n"
            "  --steps N        inference steps (default 50)\n"
            "  --spacing S      TRDI power-law exponent (default 1.05)\n"
            "  --window W       TRDI DP window (default 8)\n"
            "  --stepping NAME  reference (default) | consistent\n"
            "  --corrected      the corrected variants of npi, gnri, edict and bdia\n"
            "  --reference      every method exactly at its reference defaults; without it fpi,\n"
            "                   aidi and renoise run as one reconstructs with them on an exact\n"
            "                   model: fpi inverts at the sampling guidance, fpi and aidi fall\n"
            "                   back to the DDIM step where the fixed point does not converge\n"
            "                   (--fpi-fallback / --aidi-fallback), renoise has no noise\n"
            "                   regulariser and weights 0.5,0.5 at every t (the table's footnote)\n"
            "  --json           one JSON object {\"rows\": [...]} instead of the table\n"
            "  --help           this text\n"
            "\n"
            "Exit status: 0 success; 2 bad arguments; 1 failure while running.\n");
}

/* The reconstruction configuration (the default; --reference skips it): what a user
 * reconstructing on an exact model would set, where a reference default defeats the purpose
 * (docs/methods.md, "On the exact mixture"):
 * - fpi: inversion guidance = sampling guidance (the reference inverts at g = 2 and samples at 1)
 *   and fp_fallback; aidi: fp_fallback. Plain fixed-point iterations do not converge on the
 *   mixture's stiff component-switching steps (|c J| > 1: a 2-cycle, the parity of K decides).
 * - renoise: no noise regulariser (its SD-calibrated steps move eps off the model's prediction,
 *   which sampling cannot undo) and the early weights {0.5, 0.5} at every t (averaging the two
 *   iterates damps the same 2-cycle; the reference's {0, 1} returns its worse side). */
static void reconstruction_config(trdi_pipeline_params *pp) {
    trdi_method_params *mp = &pp->method;
    float gs = 1.0f;
    switch (mp->method) {
    case TRDI_METHOD_FPI:
        trdi_method_default_guidance(mp->method, NULL, &gs);
        pp->inv_guidance = gs;
        mp->fp_fallback = true;
        break;
    case TRDI_METHOD_AIDI: mp->fp_fallback = true; break;
    case TRDI_METHOD_RENOISE:
        mp->renoise_noise_reg = false;
        for (int64_t r = 0; r <= mp->renoise_steps && r < TRDI_RENOISE_MAX_WEIGHTS; r++)
            mp->renoise_latter_weights[r] = mp->renoise_early_weights[r];
        break;
    default: break;
    }
}

int cli_cmd_demo(int argc, char **argv) {
    const char *model = "builtin", *image = NULL;
    int64_t size = 0, steps = 50, window = -1;
    double spacing = NAN;
    bool json = false, corrected = false, reference = false;
    trdi_stepping stepping = TRDI_STEPPING_REFERENCE;
    int i = 1;
    while (i < argc) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(a, "--reference")) {
            reference = true;
            i++;
            continue;
        }
        if (!strcmp(a, "--json") || !strcmp(a, "--corrected")) {
            if (a[2] == 'j')
                json = true;
            else
                corrected = true;
            i++;
            continue;
        }
        bool ok = true;
        if (cli_take_option(argc, argv, &i, "--model", &v))
            ok = (model = v) != NULL;
        else if (cli_take_option(argc, argv, &i, "--size", &v))
            ok = cli_parse_i64(v, 1, 4096, &size);
        else if (cli_take_option(argc, argv, &i, "--image", &v))
            ok = (image = v) != NULL;
        else if (cli_take_option(argc, argv, &i, "--steps", &v))
            ok = cli_parse_i64(v, 1, 1000000, &steps);
        else if (cli_take_option(argc, argv, &i, "--spacing", &v))
            ok = cli_parse_f64(v, &spacing) && spacing > 0.0;
        else if (cli_take_option(argc, argv, &i, "--window", &v))
            ok = cli_parse_i64(v, 0, 1000000, &window);
        else if (cli_take_option(argc, argv, &i, "--stepping", &v))
            ok = v && trdi_stepping_from_name(v, &stepping) == TRDI_OK;
        else
            return cli_usage_error(CMD, "unknown option '%s' (see trdi demo --help)", a);
        if (!ok) return cli_usage_error(CMD, "%s: missing or invalid value '%s'", a, v ? v : "");
    }
    trdi_model *m = NULL;
    trdi_model_params mp = trdi_model_default_params();
    if (size) mp.width = mp.height = size;
    trdi_status st = trdi_model_load(model, &mp, &m);
    if (st) return cli_usage_error(CMD, "model '%s': %s", model, trdi_last_error());
    trdi_image img = {0};
    st = image ? trdi_image_read(image, &img) : trdi_model_builtin_test_image(m, &img);
    if (st) {
        trdi_model_free(m);
        return cli_usage_error(CMD, "image '%s': %s", image ? image : "(built-in)",
                               trdi_last_error());
    }
    int64_t ic, ih, iw;
    trdi_model_image_shape(m, &ic, &ih, &iw);
    trdi_schedule_params sp = trdi_schedule_default_params();
    sp.steps = steps;
    sp.stepping = stepping;
    if (!isnan(spacing)) sp.spacing = spacing;
    if (window >= 0) sp.window = window;
    /* The calibrated schedule: calibrated once on the demo image, small budget
     * (docs/calibration.md). */
    trdi_calib_result cal;
    memset(&cal, 0, sizeof cal);
    {
        trdi_image fit = {0};
        int64_t lc, lh, lw;
        trdi_model_latent_shape(m, &lc, &lh, &lw);
        float *z0 = calloc((size_t)(lc * lh * lw), sizeof *z0);
        trdi_calib_params cp = trdi_calib_default_params();
        cp.steps = steps;
        cp.stepping = stepping;
        cp.budget = 300;
        st = z0 ? trdi_model_prepare_image(m, &img, &fit) : TRDI_ERR_NOMEM;
        if (!st) st = trdi_model_encode(m, &fit, z0);
        if (!st) st = trdi_calibrate(m, &cp, z0, 1, &cal);
        trdi_image_clear(&fit);
        free(z0);
        if (st) {
            trdi_image_clear(&img);
            trdi_model_free(m);
            return cli_lib_error(CMD, st, "calibration");
        }
    }
    if (!json) {
        printf("trdi demo: exact Gaussian-mixture model '%s' (%lldx%lldx%lld), %s, %lld steps,\n"
               "%s stepping, each method's %s%s; TRDI = spacing %g, window %lld;\n"
               "calibrated = DP over the model's measured inversion error (calibration: %lld model\n"
               "evaluations, once, budget %lld)\n\n",
               model, (long long)iw, (long long)ih, (long long)ic,
               image ? image : "its built-in test image", (long long)steps,
               trdi_stepping_name(stepping),
               reference ? "reference defaults" : "reference defaults but fpi/aidi/renoise (*)",
               corrected ? " (corrected variants)" : "", sp.spacing,
               (long long)sp.window, (long long)cal.nfe, (long long)cal.budget);
        printf("%-8s %-10s %9s %8s %11s %6s %9s\n", "method", "schedule", "PSNR(dB)", "SSIM", "MSE",
               "NFE", "time(s)");
    }
    cJSON *j = json ? cJSON_CreateObject() : NULL;
    cJSON *rows = NULL;
    if (j) {
        cJSON_AddStringToObject(j, "command", "demo");
        cJSON_AddStringToObject(j, "model", model);
        cJSON_AddNumberToObject(j, "steps", (double)steps);
        cJSON_AddStringToObject(j, "stepping", trdi_stepping_name(stepping));
        cJSON_AddNumberToObject(j, "spacing", sp.spacing);
        cJSON_AddNumberToObject(j, "window", (double)sp.window);
        cJSON_AddNumberToObject(j, "calibration_nfe", (double)cal.nfe);
        cJSON_AddStringToObject(j, "configuration", reference ? "reference" : "reconstruction");
        rows = cJSON_AddArrayToObject(j, "rows");
    }
    int rc = CLI_EXIT_OK;
    double total = 0.0;
    for (int mi = 0; mi < TRDI_METHOD_COUNT && rc == CLI_EXIT_OK; mi++) {
        for (int k = 0; k < 3; k++) {
            trdi_pipeline_params pp = trdi_pipeline_default_params();
            pp.method = trdi_method_default_params((trdi_method)mi);
            if (corrected && (mi == TRDI_METHOD_NPI || mi == TRDI_METHOD_GNRI ||
                              mi == TRDI_METHOD_EDICT || mi == TRDI_METHOD_BDIA))
                pp.method.corrected = true;
            if (!reference) reconstruction_config(&pp);
            pp.schedule = sp;
            pp.schedule.kind = k == 2 ? TRDI_SCHEDULE_CALIBRATED
                             : k     ? TRDI_SCHEDULE_TRDI
                                     : TRDI_SCHEDULE_UNIFORM;
            if (k == 2) {
                pp.schedule.timesteps = cal.timesteps;
                pp.schedule.n_timesteps = cal.steps;
            }
            trdi_run_result r;
            st = trdi_pipeline_run(m, &pp, &img, &r);
            if (st) {
                if (j) cJSON_Delete(j);
                j = NULL;
                rc = cli_lib_error(CMD, st, trdi_method_name((trdi_method)mi));
                break;
            }
            total += r.seconds;
            if (j) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "method", trdi_method_name((trdi_method)mi));
                cJSON_AddStringToObject(o, "schedule", trdi_schedule_kind_name(pp.schedule.kind));
                run_json_number(o, "psnr", r.psnr);
                run_json_number(o, "ssim", r.ssim);
                run_json_number(o, "mse", r.mse);
                cJSON_AddNumberToObject(o, "nfe", (double)r.nfe);
                cJSON_AddNumberToObject(o, "seconds", r.seconds);
                cJSON_AddItemToArray(rows, o);
            } else {
                char psnr[32], ssim[32];
                if (isinf(r.psnr))
                    snprintf(psnr, sizeof psnr, "inf");
                else
                    snprintf(psnr, sizeof psnr, "%.3f", r.psnr);
                if (isnan(r.ssim))
                    snprintf(ssim, sizeof ssim, "n/a");
                else
                    snprintf(ssim, sizeof ssim, "%.4f", r.ssim);
                printf("%-8s %-10s %9s %8s %11.4e %6lld %9.3f\n", trdi_method_name((trdi_method)mi),
                       trdi_schedule_kind_name(pp.schedule.kind), psnr, ssim, r.mse, (long long)r.nfe, r.seconds);
                fflush(stdout);
            }
            trdi_run_result_clear(&r);
        }
    }
    if (j) {
        cJSON_AddNumberToObject(j, "seconds", total);
        run_json_print(j);
    } else if (rc == CLI_EXIT_OK) {
        printf("\ntotal %.2f s. PSNR/MSE: the reconstruction against the input (higher / lower is\n"
               "better); NFE: model evaluations per image (a guided pass counts two).\n",
               total);
        if (!reference)
            printf("(*) reconstruction configuration (--reference: none): fpi inverts at the sampling\n"
                   "guidance (reference: 2.0 / 1.0), fpi and aidi return the DDIM step where the\n"
                   "fixed-point residual did not fall below 1%% of its first value (the mixture's\n"
                   "component-switching steps are stiff, |c J| > 1: plain iterations settle on a\n"
                   "2-cycle), renoise runs without its SD-calibrated noise regulariser and with the\n"
                   "weights 0.5,0.5 at every t (reference: 0,1 for t >= 250).\n");
    }
    trdi_calib_result_clear(&cal);
    trdi_image_clear(&img);
    trdi_model_free(m);
    return rc;
}
