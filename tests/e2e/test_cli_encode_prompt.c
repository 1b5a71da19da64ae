/* test_cli_encode_prompt.c -- `trdi encode-prompt` end to end on the tiny SD 1.5 model: the
 * written prompt_embeds / negative_prompt_embeds match diffusers' encode_prompt (reference
 * tensors in tests/data/sd15-tiny/text_encoder.safetensors, prompt text from its JSON), with
 * --clip-skip 1 and with --variant fp16 (fp16_variant.safetensors); bad arguments exit 2 and
 * leave no output file. A C test rather than a shell script because it compares tensors.
 * Tolerance: as in tests/golden/test_text_encoder.c (5e-6 of the tensor's max |value|: float32
 * summation-order differences, observed <= 5.3e-7). */
#include "harness.h"
#include "testutil.h"
#include "trdi.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DATA TRDI_TEST_DATA "/sd15-tiny"

/* Runs the trdi binary with argv (NULL-terminated, argv[0] ignored); returns its exit code. */
static int run(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        /* Silence the expected error messages of the failure cases. */
        if (!freopen("/dev/null", "w", stderr)) _exit(127);
        execv(TRDI_CLI_PATH, argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Compares tensor `name` of file `got_path` with tensor `ref_name` of `ref_path`. */
static void compare(const char *got_path, const char *name, const char *ref_path,
                    const char *ref_name) {
    trdi_safetensors *g = NULL, *r = NULL;
    CHECK_MSG(trdi_safetensors_open(got_path, &g) == TRDI_OK, "%s", trdi_last_error());
    CHECK(trdi_safetensors_open(ref_path, &r) == TRDI_OK);
    const trdi_st_tensor *tg = g ? trdi_safetensors_lookup(g, name) : NULL;
    const trdi_st_tensor *tr = r ? trdi_safetensors_lookup(r, ref_name) : NULL;
    CHECK_MSG(tg && tr, "%s / %s missing", name, ref_name);
    if (tg && tr) {
        CHECK(tg->dtype == TRDI_ST_F32);
        CHECK_MSG(tg->ndim == tr->ndim && tg->numel == tr->numel, "%s: shape differs", name);
        float *a = NULL, *b = NULL;
        trdi_safetensors_load_f32(g, name, &a, NULL);
        trdi_safetensors_load_f32(r, ref_name, &b, NULL);
        if (a && b && tg->numel == tr->numel) {
            double mx = 0;
            for (int64_t i = 0; i < tr->numel; i++)
                if (fabs(b[i]) > mx) mx = fabs(b[i]);
            check_tensor_(__FILE__, __LINE__, ref_name, a, b, (size_t)tr->numel, 5e-6 * mx, 0.0);
        }
        free(a);
        free(b);
    }
    trdi_safetensors_close(g);
    trdi_safetensors_close(r);
}

int main(void) {
    cJSON *root = test_load_json(DATA "/text_encoder.json");
    const cJSON *p0 = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "prompts"), 0), "prompt");
    CHECK(cJSON_IsString(p0));
    if (!cJSON_IsString(p0)) return TEST_SUMMARY();
    char *prompt = p0->valuestring;

    char dir[] = "/tmp/trdi_encode_prompt_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char out[256], out2[256], out3[256], bad[256];
    snprintf(out, sizeof out, "%s/pe.safetensors", dir);
    snprintf(out2, sizeof out2, "%s/pe_skip.safetensors", dir);
    snprintf(out3, sizeof out3, "%s/pe16.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    char model[] = DATA "/model";

    char *a1[] = {"trdi", "encode-prompt", "--model", model, "--prompt", prompt, "--out", out, NULL};
    CHECK(run(a1) == 0);
    compare(out, "prompt_embeds", DATA "/text_encoder.safetensors", "p0.prompt_embeds");
    compare(out, "negative_prompt_embeds", DATA "/text_encoder.safetensors",
            "p0.negative_prompt_embeds");

    char *a2[] = {"trdi", "encode-prompt", "--model", model, "--prompt", prompt,
                  "--clip-skip", "1", "--out", out2, NULL};
    CHECK(run(a2) == 0);
    compare(out2, "prompt_embeds", DATA "/text_encoder.safetensors", "p0.prompt_embeds_clip_skip1");
    /* clip_skip does not apply to the negative prompt (diffusers). */
    compare(out2, "negative_prompt_embeds", DATA "/text_encoder.safetensors",
            "p0.negative_prompt_embeds");

    char *a3[] = {"trdi", "encode-prompt", "--model", model, "--prompt", prompt,
                  "--variant", "fp16", "--out", out3, NULL};
    CHECK(run(a3) == 0);
    compare(out3, "prompt_embeds", DATA "/fp16_variant.safetensors", "fp16w.p0.prompt_embeds");

    /* An explicit negative prompt is encoded like a prompt: "" gives the unconditional one. */
    char empty[] = "";
    char *a4[] = {"trdi", "encode-prompt", "--model", model, "--prompt", empty,
                  "--negative-prompt", prompt, "--out", out, NULL};
    CHECK(run(a4) == 0);
    compare(out, "negative_prompt_embeds", DATA "/text_encoder.safetensors", "p0.prompt_embeds");
    compare(out, "prompt_embeds", DATA "/text_encoder.safetensors", "p1.prompt_embeds");

    /* Failures: exit 2 for bad arguments, nothing written. */
    char *b1[] = {"trdi", "encode-prompt", "--model", model, "--out", bad, NULL};
    CHECK(run(b1) == 2);
    char *b2[] = {"trdi", "encode-prompt", "--model", model, "--prompt", "x", "--clip-skip", "9",
                  "--out", bad, NULL};
    CHECK(run(b2) == 2);
    char *b3[] = {"trdi", "encode-prompt", "--model", model, "--prompt", "x", "--variant", "fp8",
                  "--out", bad, NULL};
    CHECK(run(b3) == 2);
    char *b4[] = {"trdi", "encode-prompt", "--model", dir, "--prompt", "x", "--out", bad, NULL};
    CHECK(run(b4) == 2); /* not a diffusers folder: bad input */
    char *b6[] = {"trdi", "encode-prompt", "--model", model, "--prompt", "x", "--variant", "bf16",
                  "--out", bad, NULL};
    CHECK(run(b6) == 2); /* the tiny model has no bf16 files */
    char *b5[] = {"trdi", "encode-prompt", "--model", model, "--prompt", "x", "--bogus", NULL};
    CHECK(run(b5) == 2);
    CHECK(access(bad, F_OK) != 0);
    char *h[] = {"trdi", "encode-prompt", "--help", NULL};
    CHECK(run(h) == 0);

    unlink(out);
    unlink(out2);
    unlink(out3);
    rmdir(dir);
    cJSON_Delete(root);
    return TEST_SUMMARY();
}
