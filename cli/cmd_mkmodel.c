/* cmd_mkmodel.c -- `trdi mkmodel OUT [--preset tiny|sd15|sd21 | --like DIR] [--config-json FILE]
 * [--tokenizer-from DIR] [--dtype fp32|fp16] [--seed N] [--force]`: writes a diffusers Stable
 * Diffusion folder with seeded random weights (trdi_mkmodel) for benchmarks and end-to-end runs
 * without downloaded weights. Not a converter of real checkpoints. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char *const usage =
    "usage: trdi mkmodel OUT [--preset tiny|sd15|sd21 | --like DIR] [--config-json FILE]\n"
    "                        [--tokenizer-from DIR] [--dtype fp32|fp16] [--seed N] [--force]\n"
    "  Writes a diffusers Stable Diffusion folder OUT with seeded random weights (no image\n"
    "  quality; real configs, tensor names and shapes) for benchmarks and end-to-end runs.\n"
    "  --preset          tiny (default; the sd15-tiny test model's shapes), sd15 (full-size\n"
    "                    SD 1.5), sd21 (full-size SD 2.1, v-prediction, 768 px)\n"
    "  --like DIR        take the scheduler/text_encoder/unet/vae configs of the diffusers\n"
    "                    folder DIR instead of a preset (its weights are not read)\n"
    "  --config-json F   overrides by component, e.g. {\"unet\": {\"cross_attention_dim\": 64},\n"
    "                    \"text_encoder\": {\"hidden_size\": 64}, \"vae\": {...},\n"
    "                    \"scheduler\": {...}}; each key replaces that config key\n"
    "  --tokenizer-from  CLIP tokenizer folder to copy (vocab.json, merges.txt, configs);\n"
    "                    default DIR/tokenizer of --like (required without --like)\n"
    "  --dtype           fp32 (default) or fp16 (writes the *.fp16.safetensors variants)\n"
    "  --seed N          weight seed (default 0); the same seed gives the same files\n"
    "  --force           replace OUT when it exists\n"
    "  Full-size SD 1.5 takes ~2 GB on disk in fp16 (~4 GB fp32) and holds one component's\n"
    "  weights in memory while writing.\n";

int cli_cmd_mkmodel(int argc, char **argv) {
    const char *cmd = "mkmodel";
    trdi_mkmodel_params p = trdi_mkmodel_default_params();
    const char *out = NULL, *preset = NULL;
    for (int i = 1; i < argc;) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--force")) {
            p.overwrite = true;
            i++;
        } else if (cli_take_option(argc, argv, &i, "--preset", &v)) {
            if (!v) return cli_usage_error(cmd, "--preset needs a value (tiny, sd15, sd21)");
            preset = v;
        } else if (cli_take_option(argc, argv, &i, "--like", &v)) {
            if (!v) return cli_usage_error(cmd, "--like needs a diffusers folder");
            p.like = v;
        } else if (cli_take_option(argc, argv, &i, "--config-json", &v)) {
            if (!v) return cli_usage_error(cmd, "--config-json needs a file");
            p.config_json = v;
        } else if (cli_take_option(argc, argv, &i, "--tokenizer-from", &v)) {
            if (!v) return cli_usage_error(cmd, "--tokenizer-from needs a folder");
            p.tokenizer_from = v;
        } else if (cli_take_option(argc, argv, &i, "--dtype", &v)) {
            if (v && !strcmp(v, "fp32")) p.dtype = TRDI_ST_F32;
            else if (v && !strcmp(v, "fp16")) p.dtype = TRDI_ST_F16;
            else return cli_usage_error(cmd, "--dtype must be fp32 or fp16, got '%s'", v ? v : "");
        } else if (cli_take_option(argc, argv, &i, "--seed", &v)) {
            int64_t s = 0;
            if (!v || !cli_parse_i64(v, 0, INT64_MAX, &s))
                return cli_usage_error(cmd, "--seed must be an integer >= 0, got '%s'", v ? v : "");
            p.seed = (uint64_t)s;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error(cmd, "unknown argument '%s' (see trdi mkmodel --help)", argv[i]);
        } else {
            if (out) return cli_usage_error(cmd, "more than one output folder ('%s', '%s')", out,
                                            argv[i]);
            out = argv[i++];
        }
    }
    if (!out) return cli_usage_error(cmd, "the output folder OUT is required (see --help)");
    if (preset && p.like) return cli_usage_error(cmd, "--preset and --like exclude each other");
    if (preset) p.preset = preset;
    if (!p.like && !p.tokenizer_from)
        return cli_usage_error(cmd, "--tokenizer-from DIR is required without --like");
    trdi_status st = trdi_mkmodel(out, &p);
    if (st != TRDI_OK) return cli_lib_error(cmd, st, out);
    printf("wrote %s (%s, %s weights, seed %llu)\n", out, p.like ? p.like : p.preset,
           p.dtype == TRDI_ST_F16 ? "fp16" : "fp32", (unsigned long long)p.seed);
    return CLI_EXIT_OK;
}
