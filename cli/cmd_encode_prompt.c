/* cmd_encode_prompt.c -- `trdi encode-prompt --model DIR --prompt TEXT [--negative-prompt TEXT]
 * [--clip-skip N] [--variant auto|fp32|fp16|bf16] --out FILE.safetensors`: the conditioning tensors
 * a Stable Diffusion pipeline gives its UNet, as diffusers' encode_prompt computes them, written
 * float32 under diffusers' names: prompt_embeds, negative_prompt_embeds (1, 77, dim) and, for SDXL,
 * pooled_prompt_embeds, negative_pooled_prompt_embeds (1, projection_dim).
 * Negative prompt: SD 1.x / 2.x encode "" when none is given; SDXL with
 * force_zeros_for_empty_prompt (its default) writes zeros instead. clip_skip applies to the prompt
 * only, as in diffusers. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage =
    "usage: trdi encode-prompt --model DIR --prompt TEXT [--negative-prompt TEXT] [--clip-skip N]\n"
    "                          [--variant auto|fp32|fp16|bf16] --out FILE.safetensors\n"
    "  DIR is a diffusers Stable Diffusion folder (SD 1.x / 2.x, or SDXL with text_encoder_2).\n"
    "  Writes float32 prompt_embeds and negative_prompt_embeds (1, 77, dim), plus\n"
    "  pooled_prompt_embeds and negative_pooled_prompt_embeds (1, dim2) for SDXL.\n"
    "  Without --negative-prompt: SD 1.x/2.x encode \"\"; SDXL writes zeros when the model's\n"
    "  force_zeros_for_empty_prompt is true (the default). --clip-skip N (default 0) skips the\n"
    "  last N layers for the prompt, as diffusers' clip_skip.\n";

typedef struct encoders {
    trdi_tokenizer *tok[2];
    trdi_text_encoder *enc[2];
    int n; /* 1: SD 1.x / 2.x, 2: SDXL */
} encoders;

static void encoders_free(encoders *e) {
    for (int k = 0; k < 2; k++) {
        trdi_tokenizer_free(e->tok[k]);
        trdi_text_encoder_free(e->enc[k]);
    }
}

/* Tokenizes `text` with every tokenizer and runs the encoders (diffusers encode_prompt). */
static int encode(const char *cmd, const encoders *e, const char *text, int64_t clip_skip,
                  const char *what, trdi_prompt_embeds *out) {
    static const char *const names[2] = {"tokenizer", "tokenizer_2"};
    trdi_tokens t[2];
    memset(t, 0, sizeof t);
    int rc = CLI_EXIT_OK;
    trdi_status st = TRDI_OK;
    for (int k = 0; k < e->n && st == TRDI_OK; k++) {
        st = trdi_tokenizer_encode(e->tok[k], text, 0, &t[k]);
        if (st != TRDI_OK) {
            rc = cli_lib_error(cmd, st, what);
        } else if (t[k].truncated) {
            fprintf(stderr,
                    "trdi %s: warning: %s: %s has %lld tokens; only the first %lld are used\n",
                    cmd, names[k], what, (long long)t[k].n_tokens, (long long)(t[k].max_length - 2));
        }
    }
    if (rc == CLI_EXIT_OK && e->n == 2 && t[0].max_length != t[1].max_length) {
        fprintf(stderr, "trdi %s: the two tokenizers pad to different lengths (%lld, %lld)\n", cmd,
                (long long)t[0].max_length, (long long)t[1].max_length);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK) {
        st = trdi_prompt_embeds_encode(e->enc[0], t[0].input_ids, e->n == 2 ? e->enc[1] : NULL,
                                       e->n == 2 ? t[1].input_ids : NULL, t[0].max_length,
                                       clip_skip, out);
        if (st != TRDI_OK) rc = cli_lib_error(cmd, st, what);
    }
    for (int k = 0; k < 2; k++) trdi_tokens_clear(&t[k]);
    return rc;
}

/* Loading the model: a missing folder or file is bad input (exit 2), not a run failure. */
static int load_error(const char *cmd, trdi_status st, const char *what) {
    int rc = cli_lib_error(cmd, st, what);
    return st == TRDI_ERR_IO ? CLI_EXIT_USAGE : rc;
}

int cli_cmd_encode_prompt(int argc, char **argv) {
    const char *cmd = "encode-prompt";
    const char *model = NULL, *prompt = NULL, *negative = NULL, *out_path = NULL;
    const char *skip_s = NULL, *variant_s = NULL;
    const cli_str_opt opts[] = {
        {"--model", &model},      {"--prompt", &prompt},     {"--negative-prompt", &negative},
        {"--clip-skip", &skip_s}, {"--variant", &variant_s}, {"--out", &out_path}};
    for (int i = 1; i < argc;) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        } else if ((r = cli_take_str_options(cmd, argc, argv, &i, opts,
                                             (int)(sizeof opts / sizeof opts[0]))) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error(cmd, "unknown argument '%s' (see trdi encode-prompt --help)",
                                   argv[i]);
        }
    }
    if (!model) return cli_usage_error(cmd, "--model DIR is required");
    if (!prompt) return cli_usage_error(cmd, "--prompt TEXT is required");
    if (!out_path) return cli_usage_error(cmd, "--out FILE.safetensors is required");
    int64_t clip_skip = 0;
    if (skip_s && !cli_parse_i64(skip_s, 0, 1000, &clip_skip))
        return cli_usage_error(cmd, "--clip-skip must be an integer in [0, 1000], got '%s'", skip_s);
    trdi_weights_variant variant = TRDI_VARIANT_AUTO;
    if (variant_s && trdi_weights_variant_from_name(variant_s, &variant) != TRDI_OK)
        return cli_usage_error(cmd, "--variant must be auto, fp32, fp16 or bf16, got '%s'",
                               variant_s);

    trdi_diffusers *m = NULL;
    encoders e;
    memset(&e, 0, sizeof e);
    trdi_prompt_embeds pos, neg;
    memset(&pos, 0, sizeof pos);
    memset(&neg, 0, sizeof neg);
    int rc = CLI_EXIT_OK;
    trdi_status st = trdi_diffusers_open(model, variant, &m);
    if (st != TRDI_OK) return load_error(cmd, st, "--model");

    static const char *const tok_names[2] = {"tokenizer", "tokenizer_2"};
    static const char *const enc_names[2] = {"text_encoder", "text_encoder_2"};
    e.n = trdi_diffusers_has(m, "text_encoder_2") ? 2 : 1;
    if (!trdi_diffusers_has(m, "text_encoder")) {
        fprintf(stderr, "trdi %s: %s: no text_encoder (models with only text_encoder_2, such as "
                        "the SDXL refiner, are not supported)\n", cmd, model);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    for (int k = 0; k < e.n; k++) {
        const char *dir = NULL;
        st = trdi_diffusers_component_dir(m, tok_names[k], &dir);
        if (st == TRDI_OK) st = trdi_tokenizer_load(dir, &e.tok[k]);
        if (st != TRDI_OK) {
            rc = load_error(cmd, st, tok_names[k]);
            goto done;
        }
        st = trdi_text_encoder_load_component(m, enc_names[k], &e.enc[k]);
        if (st != TRDI_OK) {
            rc = load_error(cmd, st, enc_names[k]);
            goto done;
        }
    }

    if ((rc = encode(cmd, &e, prompt, clip_skip, "the prompt", &pos)) != CLI_EXIT_OK) goto done;
    bool zeros = false;
    if (!negative && e.n == 2) {
        /* StableDiffusionXLPipeline registers force_zeros_for_empty_prompt=True by default. */
        bool fz = true;
        if (trdi_diffusers_config_bool(m, NULL, "force_zeros_for_empty_prompt", &fz) != TRDI_OK)
            fz = true;
        zeros = fz;
    }
    if (zeros) {
        st = trdi_prompt_embeds_zeros_like(&pos, &neg);
        if (st != TRDI_OK) rc = cli_lib_error(cmd, st, "negative prompt");
    } else {
        rc = encode(cmd, &e, negative ? negative : "", 0, "the negative prompt", &neg);
    }
    if (rc != CLI_EXIT_OK) goto done;

    {
        const int64_t shape_e[3] = {1, pos.seq_len, pos.dim};
        const int64_t shape_p[2] = {1, pos.pooled_dim};
        trdi_st_write_entry w[4];
        memset(w, 0, sizeof w);
        w[0] = (trdi_st_write_entry){"prompt_embeds", TRDI_ST_F32, 3, shape_e, pos.embeds};
        w[1] = (trdi_st_write_entry){"negative_prompt_embeds", TRDI_ST_F32, 3, shape_e, neg.embeds};
        int64_t nw = 2;
        if (pos.pooled_dim > 0) {
            w[2] = (trdi_st_write_entry){"pooled_prompt_embeds", TRDI_ST_F32, 2, shape_p, pos.pooled};
            w[3] = (trdi_st_write_entry){"negative_pooled_prompt_embeds", TRDI_ST_F32, 2, shape_p,
                                         neg.pooled};
            nw = 4;
        }
        const char *meta[] = {"generated_by", "trdi encode-prompt", NULL};
        st = trdi_safetensors_write(out_path, w, nw, meta);
        if (st != TRDI_OK) rc = cli_lib_error(cmd, st, out_path);
    }
done:
    trdi_prompt_embeds_clear(&pos);
    trdi_prompt_embeds_clear(&neg);
    encoders_free(&e);
    trdi_diffusers_free(m);
    return rc;
}
