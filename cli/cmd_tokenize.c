/* cmd_tokenize.c -- `trdi tokenize --model DIR --prompt TEXT [--json] [--max-length N]`: the CLIP
 * token ids a Stable Diffusion pipeline would feed its text encoder(s), from DIR/tokenizer and, for
 * SDXL, DIR/tokenizer_2. Warns on stderr when the prompt is truncated. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const usage =
    "usage: trdi tokenize --model DIR --prompt TEXT [--json] [--max-length N]\n"
    "  DIR is a diffusers model folder (DIR/tokenizer, plus DIR/tokenizer_2 for SDXL).\n"
    "  Prints the padded input_ids and the BPE tokens; --json prints\n"
    "  {\"tokenizer\": {\"input_ids\": [...], \"bpe_tokens\": [...], \"length\": N, \"truncated\": "
    "false}}\n"
    "  with a \"tokenizer_2\" object beside it when the model has a second tokenizer.\n"
    "  --max-length defaults to the tokenizer's model_max_length (77).\n";

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static cJSON *tokens_json(const trdi_tokens *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(o, "input_ids");
    for (int64_t i = 0; i < t->max_length; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)t->input_ids[i]));
    cJSON *bpe = cJSON_AddArrayToObject(o, "bpe_tokens");
    for (int64_t i = 0; i < t->n_tokens; i++)
        cJSON_AddItemToArray(bpe, cJSON_CreateString(t->bpe_tokens[i]));
    cJSON_AddNumberToObject(o, "length", (double)t->length);
    cJSON_AddBoolToObject(o, "truncated", t->truncated);
    return o;
}

static void print_text(const char *name, const trdi_tokenizer *tok, const trdi_tokens *t) {
    printf("%s: length %lld of %lld%s\n", name, (long long)t->length, (long long)t->max_length,
           t->truncated ? " (truncated)" : "");
    printf("input_ids:");
    for (int64_t i = 0; i < t->max_length; i++)
        printf(" %lld", (long long)t->input_ids[i]);
    printf("\n");
    for (int64_t i = 0; i < t->length; i++) {
        const char *s = trdi_tokenizer_token_string(tok, t->input_ids[i]);
        /* Positions 1..length-2 are the prompt's tokens, with their BPE strings. */
        if (i >= 1 && i <= t->length - 2) s = t->bpe_tokens[i - 1];
        printf("  %3lld %6lld  %s\n", (long long)i, (long long)t->input_ids[i], s ? s : "?");
    }
}

int cli_cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize";
    const char *model = NULL, *prompt = NULL, *maxlen_s = NULL;
    bool json = false;
    const cli_str_opt opts[] = {
        {"--model", &model}, {"--prompt", &prompt}, {"--max-length", &maxlen_s}};
    for (int i = 1; i < argc;) {
        int r = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
            i++;
        } else if ((r = cli_take_str_options(cmd, argc, argv, &i, opts,
                                             (int)(sizeof opts / sizeof opts[0]))) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error(cmd, "unknown argument '%s' (see trdi tokenize --help)",
                                   argv[i]);
        }
    }
    if (!model) return cli_usage_error(cmd, "--model DIR is required");
    if (!prompt) return cli_usage_error(cmd, "--prompt TEXT is required");
    int64_t max_length = 0;
    if (maxlen_s && !cli_parse_i64(maxlen_s, 2, 1000000, &max_length))
        return cli_usage_error(cmd, "--max-length must be an integer in [2, 1000000], got '%s'",
                               maxlen_s);

    /* A missing folder is bad input (exit 2), not a run failure. */
    if (!is_dir(model)) return cli_usage_error(cmd, "--model: '%s' is not a directory", model);
    static const char *const names[2] = {"tokenizer", "tokenizer_2"};
    trdi_tokenizer *toks[2] = {NULL, NULL};
    trdi_tokens res[2];
    memset(res, 0, sizeof res);
    int rc = CLI_EXIT_OK, n = 0;
    for (int k = 0; k < 2 && rc == CLI_EXIT_OK; k++) {
        size_t len = strlen(model) + strlen(names[k]) + 2;
        char *dir = malloc(len);
        if (!dir) {
            fprintf(stderr, "trdi %s: out of memory\n", cmd);
            rc = CLI_EXIT_FAILURE;
            break;
        }
        snprintf(dir, len, "%s/%s", model, names[k]);
        if (k == 1 && !is_dir(dir)) {
            free(dir);
            break;
        }
        if (k == 0 && !is_dir(dir)) {
            rc = cli_usage_error(cmd, "--model: '%s' has no tokenizer/ folder", model);
            free(dir);
            break;
        }
        trdi_status st = trdi_tokenizer_load(dir, &toks[k]);
        if (st == TRDI_OK) st = trdi_tokenizer_encode(toks[k], prompt, max_length, &res[k]);
        if (st != TRDI_OK) {
            rc = cli_lib_error(cmd, st, dir);
        } else {
            n = k + 1;
            if (res[k].truncated)
                fprintf(stderr,
                        "trdi %s: warning: %s: the prompt has %lld tokens; only the first %lld fit "
                        "in %lld "
                        "(with begin/end tokens), the rest is dropped\n",
                        cmd, names[k], (long long)res[k].n_tokens,
                        (long long)(res[k].max_length - 2), (long long)res[k].max_length);
        }
        free(dir);
    }
    if (rc == CLI_EXIT_OK) {
        if (json) {
            cJSON *root = cJSON_CreateObject();
            for (int k = 0; k < n; k++)
                cJSON_AddItemToObject(root, names[k], tokens_json(&res[k]));
            char *s = cJSON_PrintUnformatted(root);
            if (s) {
                printf("%s\n", s);
                free(s);
            } else {
                fprintf(stderr, "trdi %s: out of memory\n", cmd);
                rc = CLI_EXIT_FAILURE;
            }
            cJSON_Delete(root);
        } else {
            for (int k = 0; k < n; k++)
                print_text(names[k], toks[k], &res[k]);
        }
    }
    for (int k = 0; k < 2; k++) {
        trdi_tokens_clear(&res[k]);
        trdi_tokenizer_free(toks[k]);
    }
    return rc;
}
