/* metrics_ref.h -- reading tests/data/metrics/metrics.json (copied from
 * shared/refdata/metrics) for the metric golden tests: pairs, their images and upstream records.
 * Header-only, for tests/golden/test_metrics_eval.c and test_lpips.c. */
#ifndef TRDI_TESTS_METRICS_REF_H
#define TRDI_TESTS_METRICS_REF_H

#include "trdi.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_DIR TRDI_TEST_DATA "/metrics"

/* An upstream result: kind "float" (value), "inf", "-inf", "nan", "str" (str), "error". */
typedef struct ref_record {
    char kind[16];
    double value;
    char str[32];
    int found;
} ref_record;

static cJSON *ref_load(void) {
    FILE *f = fopen(METRICS_DIR "/metrics.json", "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

/* A float record's value comes from its exact "hex" field. */
static ref_record ref_parse(const cJSON *rec) {
    ref_record r;
    memset(&r, 0, sizeof r);
    r.value = NAN;
    if (!rec) return r;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(rec, "kind");
    if (!cJSON_IsString(kind)) return r;
    r.found = 1;
    snprintf(r.kind, sizeof r.kind, "%s", kind->valuestring);
    if (!strcmp(r.kind, "float")) {
        const cJSON *hex = cJSON_GetObjectItemCaseSensitive(rec, "hex");
        r.value = cJSON_IsString(hex) ? strtod(hex->valuestring, NULL) : NAN;
    } else if (!strcmp(r.kind, "inf")) {
        r.value = INFINITY;
    } else if (!strcmp(r.kind, "-inf")) {
        r.value = -INFINITY;
    } else if (!strcmp(r.kind, "str")) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "value");
        if (cJSON_IsString(v)) snprintf(r.str, sizeof r.str, "%s", v->valuestring);
    }
    return r;
}

static ref_record ref_get(const cJSON *pair, const char *metric) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(pair, "metrics");
    return ref_parse(cJSON_GetObjectItemCaseSensitive(m, metric));
}

/* Reads image `which` ("a", "b", "mask") of a pair through the file name the JSON gives. */
static trdi_status ref_image(const cJSON *pair, const char *which, trdi_image *out) {
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(pair, "files");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(files, which);
    if (!cJSON_IsString(f)) return TRDI_ERR_FORMAT;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", METRICS_DIR, f->valuestring);
    return trdi_image_read(path, out);
}

#endif /* TRDI_TESTS_METRICS_REF_H */
