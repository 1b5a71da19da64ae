/* test_safetensors_bad.c -- the bad-file suite: malformed safetensors files generated in a temp
 * folder, each opened from disk and from memory, must fail with the right status and a message
 * naming the file, the tensor (where there is one) and the problem. Run under ASan+UBSan in CI. */
#include "harness.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/trdi-stbad-XXXXXX";

/* Writes 8-byte length (hlen, or strlen(header) when hlen < 0), header bytes (hbytes of them,
 * which may include NULs) and `data` zero bytes. */
static void write_file(const char *path, const char *header, size_t hbytes, int64_t hlen,
                       size_t data) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    uint64_t n = hlen < 0 ? (uint64_t)hbytes : (uint64_t)hlen;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(n >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(header, 1, hbytes, fp);
    for (size_t i = 0; i < data; i++)
        fputc(0, fp);
    fclose(fp);
}

static unsigned char *slurp(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    *size = 0;
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, fp) != (size_t)n) n = 0;
    fclose(fp);
    *size = (size_t)n;
    return b;
}

/* Opens `name` both ways; expects `want` and every needle (NULL-terminated) in the message. */
static void expect_fail(const char *name, trdi_status want, const char *const *needles) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (int mode = 0; mode < 2; mode++) {
        trdi_safetensors *f = (trdi_safetensors *)&f; /* must be reset to NULL */
        trdi_status st;
        if (mode == 0) {
            st = trdi_safetensors_open(path, &f);
        } else {
            size_t n;
            unsigned char *b = slurp(path, &n);
            st = trdi_safetensors_open_memory(b, n, path, &f);
            free(b);
        }
        const char *msg = trdi_last_error();
        CHECK_MSG(st == want, "%s (%s): status %d, want %d: %s", name, mode ? "memory" : "file",
                  (int)st, (int)want, msg);
        CHECK_MSG(f == NULL, "%s: handle not NULL on failure", name);
        CHECK_MSG(strstr(msg, path) != NULL, "%s: message does not name the file: %s", name, msg);
        for (int i = 0; needles && needles[i]; i++)
            CHECK_MSG(strstr(msg, needles[i]) != NULL, "%s: message lacks '%s': %s", name,
                      needles[i], msg);
        if (st == TRDI_OK) trdi_safetensors_close(f);
    }
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void case_json(const char *name, const char *header, size_t data, trdi_status want,
                      const char *const *needles) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, header, strlen(header), -1, data);
    expect_fail(name, want, needles);
}

int main(void) {
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return TEST_SUMMARY();
    }
    char path[600];

    /* a valid file for reference, and a missing-tensor lookup on it */
    const char *good =
        "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],"
        "\"data_offsets\":[0,16]}}";
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    write_file(path, good, strlen(good), -1, 16);
    trdi_safetensors *f = NULL;
    CHECK_MSG(trdi_safetensors_open(path, &f) == TRDI_OK, "%s", trdi_last_error());
    if (f) {
        const trdi_st_tensor *t = (const trdi_st_tensor *)f;
        CHECK(trdi_safetensors_find(f, "missing.weight", &t) == TRDI_ERR_FORMAT && t == NULL);
        CHECK(strstr(trdi_last_error(), "missing.weight") && strstr(trdi_last_error(), path) &&
              strstr(trdi_last_error(), "no tensor"));
        float x[4];
        CHECK(trdi_safetensors_read_f32(f, "missing.weight", x, 4) == TRDI_ERR_FORMAT);
        CHECK(strstr(trdi_last_error(), "missing.weight") != NULL);
        CHECK(trdi_safetensors_lookup(f, "missing.weight") == NULL);
        trdi_safetensors_close(f);
    }

    /* truncated before the length field */
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    write_file(path, "", 0, 0, 0);
    CHECK(truncate(path, 0) == 0);
    expect_fail("empty.safetensors", TRDI_ERR_FORMAT, NEEDLES("truncated"));
    snprintf(path, sizeof path, "%s/five.safetensors", dir);
    write_file(path, "", 0, 0, 0);
    CHECK(truncate(path, 5) == 0);
    expect_fail("five.safetensors", TRDI_ERR_FORMAT, NEEDLES("truncated"));

    /* a lying header length: longer than the file, and absurdly large */
    snprintf(path, sizeof path, "%s/hlen_long.safetensors", dir);
    write_file(path, good, strlen(good), (int64_t)strlen(good) + 17, 16);
    expect_fail("hlen_long.safetensors", TRDI_ERR_FORMAT,
                NEEDLES("header length", "exceeds the file"));
    snprintf(path, sizeof path, "%s/hlen_huge.safetensors", dir);
    write_file(path, good, strlen(good), (int64_t)1 << 40, 16);
    expect_fail("hlen_huge.safetensors", TRDI_ERR_FORMAT, NEEDLES("header length", "limit"));
    snprintf(path, sizeof path, "%s/hlen_max.safetensors", dir);
    write_file(path, good, strlen(good), INT64_MAX, 16);
    expect_fail("hlen_max.safetensors", TRDI_ERR_FORMAT, NEEDLES("header length"));

    /* the header itself */
    case_json("badjson.safetensors", "{\"w\":{\"dtype\":\"F32\",", 0, TRDI_ERR_FORMAT,
              NEEDLES("not valid JSON"));
    case_json("array.safetensors", "[1,2,3]", 0, TRDI_ERR_FORMAT, NEEDLES("not a JSON object"));
    case_json("trailing.safetensors", "{} x", 0, TRDI_ERR_FORMAT, NEEDLES("trailing"));
    case_json("utf8.safetensors", "{\"\xff\xfe\":{}}", 0, TRDI_ERR_FORMAT, NEEDLES("UTF-8"));
    snprintf(path, sizeof path, "%s/nul.safetensors", dir);
    write_file(path, "{}\0  ", 5, -1, 0);
    expect_fail("nul.safetensors", TRDI_ERR_FORMAT, NEEDLES("NUL"));
    case_json("meta.safetensors", "{\"__metadata__\":{\"format\":3}}", 0, TRDI_ERR_FORMAT,
              NEEDLES("__metadata__", "format", "not a string"));
    case_json("meta2.safetensors", "{\"__metadata__\":[]}", 0, TRDI_ERR_FORMAT,
              NEEDLES("__metadata__"));
    case_json("meta3.safetensors", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
              TRDI_ERR_FORMAT, NEEDLES("__metadata__", "'k'", "twice"));
    case_json("meta4.safetensors", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, TRDI_ERR_FORMAT,
              NEEDLES("duplicate __metadata__"));

    /* tensor entries */
    case_json("dtype.safetensors",
              "{\"w.bias\":{\"dtype\":\"F12\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
              TRDI_ERR_FORMAT, NEEDLES("'w.bias'", "unknown dtype", "F12"));
    case_json("dtype_lower.safetensors",
              "{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "unknown dtype"));
    case_json("size.safetensors",
              "{\"w.weight\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24,
              TRDI_ERR_FORMAT, NEEDLES("'w.weight'", "[2, 3]", "F16", "12 bytes", "24"));
    case_json("outside.safetensors",
              "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 16,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "outside the data area"));
    case_json("truncdata.safetensors",
              "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 15,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "data area", "truncated"));
    case_json("overlap.safetensors",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
              16, TRDI_ERR_FORMAT, NEEDLES("overlaps", "'a'", "'b'"));
    case_json("overlap_same.safetensors",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
              "\"b\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
              16, TRDI_ERR_FORMAT, NEEDLES("overlaps"));
    case_json("dup.safetensors",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
              8, TRDI_ERR_FORMAT, NEEDLES("'a'", "duplicate name"));
    case_json("negshape.safetensors",
              "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,2],\"data_offsets\":[0,0]}}", 0,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "shape", "non-negative"));
    case_json("fracshape.safetensors",
              "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,6]}}", 8,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "shape"));
    case_json("strshape.safetensors",
              "{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "shape is not an array"));
    case_json("overflow.safetensors",
              "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,4294967296],"
              "\"data_offsets\":[0,8]}}",
              8, TRDI_ERR_FORMAT, NEEDLES("'w'", "larger than the data area"));
    case_json("dims.safetensors",
              "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
              TRDI_ERR_UNSUPPORTED, NEEDLES("'w'", "dimensions"));
    case_json("backwards.safetensors",
              "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", 4, TRDI_ERR_FORMAT,
              NEEDLES("'w'", "end before begin"));
    case_json("offsets3.safetensors",
              "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2,4]}}", 4,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "data_offsets"));
    case_json("negoffset.safetensors",
              "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[-2,0]}}", 4,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "data_offsets"));
    case_json("nodtype.safetensors", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,2]}}", 4,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "missing 'dtype'"));
    case_json("extrakey.safetensors",
              "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"x\":1}}", 4,
              TRDI_ERR_FORMAT, NEEDLES("'w'", "unknown key 'x'"));
    case_json("notobj.safetensors", "{\"w\":[1,2]}", 0, TRDI_ERR_FORMAT,
              NEEDLES("'w'", "not a JSON object"));

    /* not files */
    snprintf(path, sizeof path, "%s/nonexistent.safetensors", dir);
    f = (trdi_safetensors *)&f;
    CHECK(trdi_safetensors_open(path, &f) == TRDI_ERR_IO && f == NULL);
    CHECK(strstr(trdi_last_error(), path) != NULL);
    CHECK(trdi_safetensors_open(dir, &f) == TRDI_ERR_IO && f == NULL);
    CHECK(strstr(trdi_last_error(), "not a regular file") != NULL);
    CHECK(trdi_safetensors_open(NULL, &f) == TRDI_ERR_INVALID_ARG);

    /* zero-size tensors may share an offset; gaps are allowed; both open */
    snprintf(path, sizeof path, "%s/lenient.safetensors", dir);
    const char *lenient = "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                          "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    write_file(path, lenient, strlen(lenient), -1, 12);
    CHECK_MSG(trdi_safetensors_open(path, &f) == TRDI_OK, "%s", trdi_last_error());
    if (f) {
        CHECK(trdi_safetensors_count(f) == 3);
        trdi_safetensors_close(f);
    }

    /* remove the generated files */
    const char *names[] = {
        "good",      "empty",     "five",     "hlen_long",    "hlen_huge",   "hlen_max",
        "badjson",   "array",     "trailing", "utf8",         "nul",         "meta",
        "meta2",     "meta3",     "meta4",    "dtype",        "dtype_lower", "size",
        "outside",   "truncdata", "overlap",  "overlap_same", "dup",         "negshape",
        "fracshape", "strshape",  "overflow", "dims",         "backwards",   "offsets3",
        "negoffset", "nodtype",   "extrakey", "notobj",       "lenient",     NULL};
    for (int i = 0; names[i]; i++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, names[i]);
        unlink(path);
    }
    CHECK_MSG(rmdir(dir) == 0, "left files in %s", dir);
    return TEST_SUMMARY();
}
