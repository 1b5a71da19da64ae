/* cmd_metrics.c -- `trdi metrics REFERENCE OUTPUT [--mask MASK] [--lpips-weights FILE]...
 * [--json]`: scores one image pair with the evaluation's metrics (trdi_metrics_compute) and prints
 * them, as text or as one JSON object. Unavailable metrics (no LPIPS weights, image too small for
 * the metric, empty mask region) are null, never a number; an infinite PSNR is the string "inf". */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage =
    "usage: trdi metrics REFERENCE OUTPUT [--mask MASK] [--lpips-weights FILE]... [--json]\n"
    "  Scores OUTPUT against REFERENCE (PNG or JPEG, same size):\n"
    "    psnr               scikit-image PSNR on the 8-bit values (\"inf\" for identical images)\n"
    "    mse                mean squared error of the images scaled to [0, 1]\n"
    "    ssim_skimage       scikit-image SSIM (11x11 uniform window, data range 255)\n"
    "    ssim_torchmetrics  torchmetrics SSIM (Gaussian window 11, sigma 1.5, data range 1)\n"
    "    lpips_alex, lpips_squeeze, lpips_vgg\n"
    "                       LPIPS v0.1 for each --lpips-weights FILE (a safetensors file with the\n"
    "                       backbone and linear layers, see tools/lpips_to_safetensors.py; the\n"
    "                       backbone is recognised from the tensor names); null without one\n"
    "  --mask MASK adds <name>_unedited and <name>_edited for every metric: both images are\n"
    "  multiplied by (1 - mask) or by mask (nonzero mask pixels = edited = 1) and scored whole, "
    "as\n"
    "  PIE-Bench's evaluation does; the masked psnr is torchmetrics' 10 log10(1 / mse).\n"
    "  A metric the images are too small for, or whose region is empty, is null.\n"
    "  --json prints one JSON object; otherwise one `name value` line per metric.\n";

#define MAX_WEIGHTS 3

static trdi_status read_rgb_pair(const char *ref_path, const char *out_path, trdi_image *a,
                                 trdi_image *b, const char **bad) {
    trdi_status st = trdi_image_read(ref_path, a);
    if (st != TRDI_OK) {
        *bad = ref_path;
        return st;
    }
    st = trdi_image_read(out_path, b);
    if (st != TRDI_OK) {
        *bad = out_path;
        return st;
    }
    /* A gray image beside an RGB one: replicate it (PIL arrays of both would be RGB). */
    trdi_image *gray = a->channels == 1 && b->channels == 3   ? a
                       : b->channels == 1 && a->channels == 3 ? b
                                                              : NULL;
    if (gray) {
        trdi_image rgb = {0};
        st = trdi_image_convert(gray, 3, &rgb);
        if (st != TRDI_OK) {
            *bad = gray == a ? ref_path : out_path;
            return st;
        }
        trdi_image_clear(gray);
        *gray = rgb;
    }
    return TRDI_OK;
}

static void json_value(cJSON *o, const char *key, const trdi_metric_value *v) {
    if (!v->available)
        cJSON_AddNullToObject(o, key);
    else if (isinf(v->value))
        cJSON_AddStringToObject(o, key, v->value > 0 ? "inf" : "-inf");
    else
        cJSON_AddNumberToObject(o, key, v->value);
}

static void text_value(const char *key, const trdi_metric_value *v) {
    if (!v->available)
        printf("%s null (%s)\n", key, v->why ? v->why : "unavailable");
    else if (isinf(v->value))
        printf("%s %s\n", key, v->value > 0 ? "inf" : "-inf");
    else
        printf("%s %.10g\n", key, v->value);
}

int cli_cmd_metrics(int argc, char **argv) {
    const char *cmd = "metrics";
    const char *paths[2] = {NULL, NULL}, *mask_path = NULL, *weights[MAX_WEIGHTS];
    int n_paths = 0, n_weights = 0;
    bool json = false;
    for (int i = 1; i < argc;) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
            i++;
        } else if (cli_take_option(argc, argv, &i, "--mask", &v)) {
            if (!v || !*v) return cli_usage_error(cmd, "--mask needs a file");
            if (mask_path) return cli_usage_error(cmd, "--mask given twice");
            mask_path = v;
        } else if (cli_take_option(argc, argv, &i, "--lpips-weights", &v)) {
            if (!v || !*v) return cli_usage_error(cmd, "--lpips-weights needs a file");
            if (n_weights == MAX_WEIGHTS)
                return cli_usage_error(cmd, "at most %d --lpips-weights files (one per backbone)",
                                       MAX_WEIGHTS);
            weights[n_weights++] = v;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error(cmd, "unknown option '%s' (see trdi metrics --help)", argv[i]);
        } else {
            if (n_paths == 2) return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
            paths[n_paths++] = argv[i++];
        }
    }
    if (n_paths != 2)
        return cli_usage_error(cmd, "needs REFERENCE and OUTPUT images (see trdi metrics --help)");

    int rc = CLI_EXIT_OK;
    trdi_image a = {0}, b = {0}, mask = {0};
    trdi_lpips *nets[MAX_WEIGHTS] = {NULL, NULL, NULL};
    const char *bad = NULL;
    trdi_status st = read_rgb_pair(paths[0], paths[1], &a, &b, &bad);
    if (st != TRDI_OK) {
        /* An input that is missing or unreadable is bad input (exit 2); the library's message
         * already names the file, so the prefix names its role. */
        cli_lib_error(cmd, st, bad == paths[0] ? "REFERENCE" : "OUTPUT");
        rc = st == TRDI_ERR_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
        goto done;
    }
    if (mask_path) {
        st = trdi_image_read(mask_path, &mask);
        if (st != TRDI_OK) {
            cli_lib_error(cmd, st, "--mask");
            rc = st == TRDI_ERR_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
            goto done;
        }
        if (mask.width != a.width || mask.height != a.height) {
            rc = cli_usage_error(cmd, "mask %s is %lldx%lld but the images are %lldx%lld",
                                 mask_path, (long long)mask.width, (long long)mask.height,
                                 (long long)a.width, (long long)a.height);
            goto done;
        }
    }
    if (a.width != b.width || a.height != b.height) {
        rc = cli_usage_error(cmd, "%s is %lldx%lld but %s is %lldx%lld", paths[0],
                             (long long)a.width, (long long)a.height, paths[1], (long long)b.width,
                             (long long)b.height);
        goto done;
    }
    for (int k = 0; k < n_weights; k++) {
        st = trdi_lpips_load(weights[k], &nets[k]);
        if (st != TRDI_OK) {
            cli_lib_error(cmd, st, "--lpips-weights");
            rc = st == TRDI_ERR_NOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
            goto done;
        }
        for (int j = 0; j < k; j++)
            if (trdi_lpips_backbone(nets[j]) == trdi_lpips_backbone(nets[k])) {
                rc = cli_usage_error(cmd, "%s and %s both hold LPIPS %s weights", weights[j],
                                     weights[k], trdi_lpips_net_name(trdi_lpips_backbone(nets[k])));
                goto done;
            }
    }
    trdi_metrics_params p = trdi_metrics_default_params();
    p.mask = mask_path ? &mask : NULL;
    p.lpips = (const trdi_lpips *const *)nets;
    p.n_lpips = n_weights;
    trdi_metrics m;
    st = trdi_metrics_compute(&a, &b, &p, &m);
    if (st != TRDI_OK) {
        rc = cli_lib_error(cmd, st, "scoring");
        goto done;
    }
    static const char *const suffix[3] = {"", "_unedited", "_edited"};
    int regions = m.masked ? 3 : 1;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        for (int r = 0; r < regions; r++)
            for (int k = 0; k < TRDI_METRIC_COUNT; k++) {
                char key[64];
                snprintf(key, sizeof key, "%s%s", trdi_metric_name((trdi_metric)k), suffix[r]);
                json_value(o, key, &m.v[r][k]);
            }
        char *s = cJSON_PrintUnformatted(o);
        if (s) {
            puts(s);
            free(s);
        } else {
            fprintf(stderr, "trdi %s: out of memory\n", cmd);
            rc = CLI_EXIT_FAILURE;
        }
        cJSON_Delete(o);
    } else {
        for (int r = 0; r < regions; r++)
            for (int k = 0; k < TRDI_METRIC_COUNT; k++) {
                char key[64];
                snprintf(key, sizeof key, "%s%s", trdi_metric_name((trdi_metric)k), suffix[r]);
                text_value(key, &m.v[r][k]);
            }
    }
done:
    for (int k = 0; k < MAX_WEIGHTS; k++)
        trdi_lpips_free(nets[k]);
    trdi_image_clear(&a);
    trdi_image_clear(&b);
    trdi_image_clear(&mask);
    return rc;
}
