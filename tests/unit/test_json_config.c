/* test_json_config.c -- the typed JSON config getters: values, defaults for missing/null keys, and
 * errors that name the file and the key for missing keys, wrong types and out-of-range values. */
#include "harness.h"
#include "io/json_config.h"

#include <string.h>

#define DOC                                                                                        \
    "{\"i\": 3, \"neg\": -2, \"f\": 0.5, \"big\": 1e300, \"frac\": 2.5, \"b\": true, \"s\": "      \
    "\"leading\", "                                                                                \
    "\"nul\": null, \"arr\": [16, 32, 32], \"one\": 2, \"strs\": [\"A\", \"B\"], "                 \
    "\"mixed\": [1, \"x\"], \"obj\": {\"k\": 7}}"

static bool msg_has(const char *a, const char *b) {
    const char *m = trdi_last_error();
    bool ok = strstr(m, a) && (!b || strstr(m, b));
    if (!ok) fprintf(stderr, "  message was: %s\n", m);
    return ok;
}

int main(void) {
    trdi_json *j = NULL;
    CHECK(trdi_json_parse(DOC, strlen(DOC), "cfg.json", &j) == TRDI_OK);
    if (!j) return TEST_SUMMARY();
    CHECK(strcmp(trdi_json_path(j), "cfg.json") == 0);
    int64_t i = 0;
    CHECK(trdi_json_int(j, NULL, "i", 0, 10, &i) == TRDI_OK && i == 3);
    CHECK(trdi_json_int(j, NULL, "i", 4, 10, &i) == TRDI_ERR_FORMAT && i == 3);
    CHECK(msg_has("cfg.json", "'i'") && msg_has("out of range", "[4, 10]"));
    CHECK(trdi_json_int(j, NULL, "frac", 0, 10, &i) == TRDI_ERR_FORMAT &&
          msg_has("'frac'", "integer"));
    CHECK(trdi_json_int(j, NULL, "s", 0, 10, &i) == TRDI_ERR_FORMAT &&
          msg_has("'s'", "got string"));
    CHECK(trdi_json_int(j, NULL, "absent", 0, 10, &i) == TRDI_ERR_FORMAT &&
          msg_has("'absent'", "missing"));
    CHECK(trdi_json_int(j, NULL, "nul", 0, 10, &i) == TRDI_ERR_FORMAT &&
          msg_has("'nul'", "missing"));
    CHECK(trdi_json_int(j, NULL, "big", INT64_MIN, INT64_MAX, &i) == TRDI_ERR_FORMAT);
    CHECK(trdi_json_int_opt(j, NULL, "nul", 42, 0, 100, &i) == TRDI_OK && i == 42);
    CHECK(trdi_json_int_opt(j, NULL, "absent", 41, 0, 100, &i) == TRDI_OK && i == 41);
    CHECK(trdi_json_int_opt(j, NULL, "neg", 0, 0, 100, &i) == TRDI_ERR_FORMAT &&
          msg_has("'neg'", "-2"));
    double d = 0;
    CHECK(trdi_json_double(j, NULL, "f", 0, 1, &d) == TRDI_OK && d == 0.5);
    CHECK(trdi_json_double(j, NULL, "i", 0, 1, &d) == TRDI_ERR_FORMAT && msg_has("'i'", "range"));
    CHECK(trdi_json_double(j, NULL, "b", 0, 1, &d) == TRDI_ERR_FORMAT && msg_has("'b'", "boolean"));
    CHECK(trdi_json_double_opt(j, NULL, "nul", 0.25, 0, 1, &d) == TRDI_OK && d == 0.25);
    bool b = false;
    CHECK(trdi_json_bool(j, NULL, "b", &b) == TRDI_OK && b);
    CHECK(trdi_json_bool(j, NULL, "i", &b) == TRDI_ERR_FORMAT && msg_has("'i'", "true or false"));
    CHECK(trdi_json_bool_opt(j, NULL, "absent", false, &b) == TRDI_OK && !b);
    const char *s = NULL;
    CHECK(trdi_json_string(j, NULL, "s", &s) == TRDI_OK && s && !strcmp(s, "leading"));
    CHECK(trdi_json_string(j, NULL, "arr", &s) == TRDI_ERR_FORMAT && msg_has("'arr'", "array"));
    CHECK(trdi_json_string_opt(j, NULL, "nul", NULL, &s) == TRDI_OK && s == NULL);
    const char *const choices[] = {"linspace", "leading", "trailing", NULL};
    int e = -1;
    CHECK(trdi_json_enum(j, NULL, "s", choices, &e) == TRDI_OK && e == 1);
    const char *const others[] = {"linspace", "trailing", NULL};
    CHECK(trdi_json_enum(j, NULL, "s", others, &e) == TRDI_ERR_FORMAT &&
          msg_has("'leading'", "linspace, trailing"));
    int64_t a[4];
    int n = 0;
    CHECK(trdi_json_int_array(j, NULL, "arr", 1, 64, a, 4, &n) == TRDI_OK && n == 3 && a[0] == 16 &&
          a[2] == 32);
    CHECK(trdi_json_int_array(j, NULL, "arr", 1, 64, a, 2, &n) == TRDI_ERR_FORMAT &&
          msg_has("'arr'", "3 entries"));
    CHECK(trdi_json_int_array(j, NULL, "arr", 20, 64, a, 4, &n) == TRDI_ERR_FORMAT &&
          msg_has("arr[0]", "range"));
    CHECK(trdi_json_int_array(j, NULL, "mixed", 0, 9, a, 4, &n) == TRDI_ERR_FORMAT &&
          msg_has("mixed[1]", "string"));
    CHECK(trdi_json_int_or_array(j, NULL, "one", 1, 8, 3, a) == TRDI_OK && a[0] == 2 && a[1] == 2 &&
          a[2] == 2);
    CHECK(trdi_json_int_or_array(j, NULL, "arr", 1, 64, 3, a) == TRDI_OK && a[1] == 32);
    CHECK(trdi_json_int_or_array(j, NULL, "arr", 1, 64, 4, a) == TRDI_ERR_FORMAT &&
          msg_has("'arr'", "expected 4"));
    const char *ss[4];
    CHECK(trdi_json_string_array(j, NULL, "strs", ss, 4, &n) == TRDI_OK && n == 2 &&
          !strcmp(ss[1], "B"));
    CHECK(trdi_json_string_array(j, NULL, "mixed", ss, 4, &n) == TRDI_ERR_FORMAT &&
          msg_has("'mixed'", "entry 0"));
    const cJSON *o = NULL;
    CHECK(trdi_json_object(j, NULL, "obj", &o) == TRDI_OK && o);
    CHECK(trdi_json_int(j, o, "k", 0, 9, &i) == TRDI_OK && i == 7);
    CHECK(trdi_json_int(j, o, "q", 0, 9, &i) == TRDI_ERR_FORMAT && msg_has("'obj.q'", "missing"));
    CHECK(trdi_json_object(j, NULL, "s", &o) == TRDI_ERR_FORMAT && o == NULL);
    CHECK(trdi_json_object_opt(j, NULL, "nul", &o) == TRDI_OK && o == NULL);
    CHECK(trdi_json_has(j, NULL, "i") && !trdi_json_has(j, NULL, "nul") &&
          !trdi_json_has(j, NULL, "zz"));
    trdi_json_free(j);

    /* syntax errors give the byte and line */
    const char *bad = "{\n  \"a\": 1,\n  \"b\": [1, 2\n}";
    j = (trdi_json *)&j;
    CHECK(trdi_json_parse(bad, strlen(bad), "bad.json", &j) == TRDI_ERR_FORMAT && j == NULL);
    CHECK(msg_has("bad.json", "line 4"));
    CHECK(trdi_json_parse("\"str\"", 5, "scalar.json", &j) == TRDI_ERR_FORMAT &&
          msg_has("scalar.json", "object"));
    CHECK(trdi_json_parse("{}\0{}", 5, "nul.json", &j) == TRDI_ERR_FORMAT &&
          msg_has("nul.json", "NUL"));
    CHECK(trdi_json_load("/nonexistent/config.json", &j) == TRDI_ERR_IO &&
          msg_has("/nonexistent/config.json", NULL));
    /* a real config */
    CHECK(trdi_json_load(TRDI_TEST_DATA "/sd15-tiny/model/unet/config.json", &j) == TRDI_OK);
    CHECK(trdi_json_int_array(j, NULL, "block_out_channels", 1, 1 << 20, a, 4, &n) == TRDI_OK &&
          n >= 1);
    trdi_json_free(j);
    return TEST_SUMMARY();
}
