/* test_schedules_golden.c -- every record of tests/data/schedules-visible.jsonl (produced by the
 * authors' TRDI.py with torch): the float32 alphas_cumprod table bit for bit, and each TRDI
 * record's init, rescaled and timesteps lists exactly (or the failure, for error records), through
 * the public API, the fast DP and the plain reference DP. */
#include "harness.h"
#include "testutil.h"
#include "sched/sched.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Compares a JSON int array with an int64 list; prints the first difference. */
static int same_list(const cJSON *arr, const int64_t *got, int64_t n, const char *what, int line) {
    int len = cJSON_GetArraySize(arr);
    if (len != n) {
        fprintf(stderr, "record line %d: %s has %lld entries, want %d\n", line, what, (long long)n,
                len);
        return 0;
    }
    for (int i = 0; i < len; i++) {
        int64_t want = (int64_t)cJSON_GetArrayItem(arr, i)->valuedouble;
        if (got[i] != want) {
            fprintf(stderr, "record line %d: %s[%d] = %lld, want %lld\n", line, what, i,
                    (long long)got[i], (long long)want);
            return 0;
        }
    }
    return 1;
}

static void check_alphas(const cJSON *rec) {
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(rec, "values");
    CHECK(cJSON_IsArray(vals));
    trdi_noise_config cfg = trdi_noise_config_default();
    trdi_noise_schedule *s = NULL;
    CHECK(trdi_noise_schedule_create(&cfg, &s) == TRDI_OK);
    if (!s) return;
    const float *ac = trdi_noise_schedule_alphas_cumprod(s);
    const trdi_noise_schedule *sd = trdi_sched_sd_table();
    int n = cJSON_GetArraySize(vals), bad = 0, bad_sd = 0;
    CHECK(n == cfg.num_train_timesteps);
    for (int i = 0; i < n && i < cfg.num_train_timesteps; i++) {
        const char *hex = cJSON_GetArrayItem(vals, i)->valuestring;
        float want = strtof(hex, NULL); /* C99 hex float: exact */
        if (memcmp(&want, &ac[i], sizeof want) != 0) {
            if (bad++ < 3)
                fprintf(stderr, "alphas_cumprod[%d] = %a, want %a\n", i, (double)ac[i],
                        (double)want);
        }
        if (memcmp(&want, &sd->ac[i], sizeof want) != 0) bad_sd++;
    }
    CHECK_MSG(bad == 0, "%d of %d alphas_cumprod differ from the reference", bad, n);
    CHECK_MSG(bad_sd == 0, "%d of %d entries of the authors' table differ", bad_sd, n);
    /* set_alpha_to_one false: the final alpha is a[0] exactly. */
    CHECK(trdi_noise_schedule_final_alpha(s) == ac[0]);
    trdi_noise_schedule_free(s);
}

static int n_trdi, n_error;

static void check_trdi(const cJSON *rec, int line) {
    trdi_trdi_params p = trdi_trdi_default_params();
    p.steps = (int64_t)cJSON_GetObjectItemCaseSensitive(rec, "steps")->valuedouble;
    p.spacing = cJSON_GetObjectItemCaseSensitive(rec, "spacing")->valuedouble;
    p.window = (int64_t)cJSON_GetObjectItemCaseSensitive(rec, "window")->valuedouble;
    const char *mode = cJSON_GetObjectItemCaseSensitive(rec, "mode")->valuestring;
    CHECK(trdi_timestep_spacing_from_name(mode, &p.init) == TRDI_OK);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(rec, "error");
    trdi_trdi_result r;
    trdi_status st = trdi_trdi_build(NULL, &p, &r);
    if (err) {
        n_error++;
        CHECK_MSG(st == TRDI_ERR_INFEASIBLE || st == TRDI_ERR_INVALID_ARG,
                  "line %d: reference raised %s, trdi returned %d", line, err->valuestring, st);
        CHECK_MSG(strlen(trdi_last_error()) > 10, "line %d: no error message", line);
        CHECK(r.timesteps == NULL && r.n == 0);
        return;
    }
    n_trdi++;
    CHECK_MSG(st == TRDI_OK, "line %d: %s", line, trdi_last_error());
    if (st != TRDI_OK) return;
    CHECK(same_list(cJSON_GetObjectItemCaseSensitive(rec, "init"), r.init, r.n_init, "init", line));
    CHECK(same_list(cJSON_GetObjectItemCaseSensitive(rec, "rescaled"), r.rescaled, r.n_init,
                    "rescaled", line));
    CHECK(same_list(cJSON_GetObjectItemCaseSensitive(rec, "timesteps"), r.timesteps, r.n,
                    "timesteps", line));
    /* The plain reference DP gives the same list and the same float32 cost, bit for bit. */
    int64_t *ref = malloc((size_t)(r.n_init + 1) * sizeof(int64_t));
    int64_t ref_n = 0;
    float ref_cost = 0;
    CHECK(trdi_sched_dp_ref(trdi_sched_sd_table(), r.rescaled, r.n_init, p.window, p.steps, ref,
                            &ref_n, &ref_cost) == TRDI_OK);
    CHECK(same_list(cJSON_GetObjectItemCaseSensitive(rec, "timesteps"), ref, ref_n,
                    "reference-DP timesteps", line));
    CHECK(memcmp(&ref_cost, &r.cost, sizeof ref_cost) == 0);
    free(ref);
    trdi_trdi_result_clear(&r);
}

int main(void) {
    char *text = test_read_file(TRDI_TEST_DATA "/schedules-visible.jsonl", NULL);
    CHECK_MSG(text != NULL, "cannot read %s", TRDI_TEST_DATA "/schedules-visible.jsonl");
    if (!text) return TEST_SUMMARY();
    int line = 0, n_alpha = 0;
    for (char *cur = text; cur && *cur;) {
        char *nl = strchr(cur, '\n');
        if (nl) *nl = '\0';
        line++;
        if (*cur) {
            cJSON *rec = cJSON_Parse(cur);
            CHECK_MSG(rec != NULL, "line %d is not JSON", line);
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(rec, "kind");
            if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "trdi")) {
                check_trdi(rec, line);
            } else if (cJSON_IsString(kind) &&
                       !strcmp(kind->valuestring, "alphas_cumprod_scaled_linear_f32_hex")) {
                n_alpha++;
                check_alphas(rec);
            } else {
                CHECK_MSG(0, "line %d: unknown record kind", line);
            }
            cJSON_Delete(rec);
        }
        cur = nl ? nl + 1 : NULL;
    }
    free(text);
    /* The file holds 8 TRDI records and one table; make sure none was skipped silently. */
    CHECK_MSG(n_alpha == 1, "found %d alphas tables", n_alpha);
    CHECK_MSG(n_trdi + n_error >= 8, "found only %d TRDI records", n_trdi + n_error);
    printf("golden: %d TRDI records, %d error records, %d table\n", n_trdi, n_error, n_alpha);
    return TEST_SUMMARY();
}
