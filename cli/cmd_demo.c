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
            "gnri, fpi, aidi, edict, bdia, belm), each with the uniform schedule and the TRDI\n"
            "schedule, each method with its reference defaults (guidance, parameters, reference\n"
            "stepping), and prints one table: PSNR (dB), SSIM, MSE, model evaluations, seconds.\n"
            "\n"
            "  --model SPEC     builtin (default), a folder of images or a mixture .json\n"
            "  --size N         the mixture's image side (default: the model's, 32 for builtin)\n"
            "  --image FILE     reconstruct this image instead of the built-in test image\n"
            "  --steps N        inference steps (default 50)\n"
            "  --spacing S      TRDI power-law exponent (default 1.05)\n"
            "  --window W       TRDI DP window (default 8)\n"
            "  --stepping NAME  reference (default) | consistent\n"
            "  --corrected      the corrected variants of npi, gnri, edict and bdia\n"
            "  --json           one JSON object {\"rows\": [...]} instead of the table\n"
            "  --help           this text\n"
            "\n"
            "Exit status: 0 success; 2 bad arguments; 1 failure while running.\n");
}

int cli_cmd_demo(int argc, char **argv) {
    const char *model = "builtin", *image = NULL;
    int64_t size = 0, steps = 50, window = -1;
    double spacing = NAN;
    bool json = false, corrected = false;
    trdi_stepping stepping = TRDI_STEPPING_REFERENCE;
    int i = 1;
    while (i < argc) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            return CLI_EXIT_OK;
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
    if (!json) {
        printf("trdi demo: exact Gaussian-mixture model '%s' (%lldx%lldx%lld), %s, %lld steps,\n"
               "%s stepping, each method's reference defaults%s; TRDI = spacing %g, window %lld\n\n",
               model, (long long)iw, (long long)ih, (long long)ic,
               image ? image : "its built-in test image", (long long)steps,
               trdi_stepping_name(stepping), corrected ? " (corrected variants)" : "", sp.spacing,
               (long long)sp.window);
        printf("%-8s %-8s %9s %8s %11s %6s %9s\n", "method", "schedule", "PSNR(dB)", "SSIM", "MSE",
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
        rows = cJSON_AddArrayToObject(j, "rows");
    }
    int rc = CLI_EXIT_OK;
    double total = 0.0;
    for (int mi = 0; mi < TRDI_METHOD_COUNT && rc == CLI_EXIT_OK; mi++) {
        for (int k = 0; k < 2; k++) {
            trdi_pipeline_params pp = trdi_pipeline_default_params();
            pp.method = trdi_method_default_params((trdi_method)mi);
            if (corrected && (mi == TRDI_METHOD_NPI || mi == TRDI_METHOD_GNRI ||
                              mi == TRDI_METHOD_EDICT || mi == TRDI_METHOD_BDIA))
                pp.method.corrected = true;
            pp.schedule = sp;
            pp.schedule.kind = k ? TRDI_SCHEDULE_TRDI : TRDI_SCHEDULE_UNIFORM;
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
                cJSON_AddStringToObject(o, "schedule", k ? "trdi" : "uniform");
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
                printf("%-8s %-8s %9s %8s %11.4e %6lld %9.3f\n", trdi_method_name((trdi_method)mi),
                       k ? "trdi" : "uniform", psnr, ssim, r.mse, (long long)r.nfe, r.seconds);
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
    }
    trdi_image_clear(&img);
    trdi_model_free(m);
    return rc;
}
