/* test_schedules_spec.c -- the spec's worked schedules (tests/data/trdi/spec-examples.jsonl,
 * extracted from METHODS.md 2.10-2.11): TRDI lists including the near-tie (50, 1.05, 10) and the
 * AdaptiveTRDI density modes, each rebuilt through the public API and compared exactly. */
#include "harness.h"

#include "trdi.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int same(const cJSON *arr, const int64_t *got, int64_t n, int line) {
    int len = cJSON_GetArraySize(arr);
    if (len != n) {
        fprintf(stderr, "line %d: %lld entries, want %d\n", line, (long long)n, len);
        return 0;
    }
    for (int i = 0; i < len; i++)
        if (got[i] != (int64_t)cJSON_GetArrayItem(arr, i)->valuedouble) {
            fprintf(stderr, "line %d: [%d] = %lld, want %lld\n", line, i, (long long)got[i],
                    (long long)cJSON_GetArrayItem(arr, i)->valuedouble);
            return 0;
        }
    return 1;
}

int main(void) {
    const char *path = TRDI_TEST_DATA "/trdi/spec-examples.jsonl";
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return TEST_SUMMARY();
    static char buf[1 << 16];
    int line = 0, n_trdi = 0, n_adaptive = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        cJSON *rec = cJSON_Parse(buf);
        CHECK_MSG(rec != NULL, "line %d is not JSON", line);
        if (!rec) continue;
        const char *kind = cJSON_GetObjectItemCaseSensitive(rec, "kind")->valuestring;
        trdi_trdi_params p = trdi_trdi_default_params();
        p.steps = (int64_t)cJSON_GetObjectItemCaseSensitive(rec, "steps")->valuedouble;
        if (!strcmp(kind, "trdi")) {
            n_trdi++;
            p.spacing = cJSON_GetObjectItemCaseSensitive(rec, "spacing")->valuedouble;
            p.window = (int64_t)cJSON_GetObjectItemCaseSensitive(rec, "window")->valuedouble;
        } else {
            n_adaptive++;
            const char *d = cJSON_GetObjectItemCaseSensitive(rec, "density")->valuestring;
            CHECK_MSG(trdi_adaptive_mode_from_name(d, &p.adaptive) == TRDI_OK, "mode %s", d);
        }
        trdi_trdi_result r;
        trdi_status st = trdi_trdi_build(NULL, &p, &r);
        CHECK_MSG(st == TRDI_OK, "line %d: %s", line, trdi_last_error());
        if (st == TRDI_OK) {
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(rec, "timesteps");
            if (want) CHECK(same(want, r.timesteps, r.n, line));
            const cJSON *resc = cJSON_GetObjectItemCaseSensitive(rec, "rescaled");
            if (resc) CHECK(same(resc, r.rescaled, r.n_init, line));
            const cJSON *tail = cJSON_GetObjectItemCaseSensitive(rec, "tail");
            if (tail) {
                int64_t k = cJSON_GetArraySize(tail);
                CHECK(k <= r.n && same(tail, r.timesteps + (r.n - k), k, line));
            }
        }
        trdi_trdi_result_clear(&r);
        cJSON_Delete(rec);
    }
    fclose(f);
    /* 14 TRDI lists and 8 adaptive ones in the file: none may be skipped. */
    CHECK_MSG(n_trdi >= 14 && n_adaptive >= 8, "read %d TRDI and %d adaptive records", n_trdi,
              n_adaptive);
    return TEST_SUMMARY();
}
