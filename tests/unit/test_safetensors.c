/* test_safetensors.c -- element conversions (half via plain C vs F16C on all 65536 inputs, bf16,
 * OCP FP8 against the formulas of the spec), the writer/reader round trip, and rewriting the model
 * files of tests/data byte for byte (the writer produces the standard layout). */
#include "harness.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Half -> float: the plain C path against an independent formula (ldexp) and against F16C. */
static void test_f16_to_f32(void) {
    static uint16_t all[65536];
    static float ref[65536], simd[65536];
    for (uint32_t i = 0; i < 65536; i++)
        all[i] = (uint16_t)i;
    trdi_f16_to_f32_ref(all, 65536, ref);
    int bad_formula = 0, bad_roundtrip = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        int s = (int)(i >> 15), e = (int)((i >> 10) & 31), m = (int)(i & 1023);
        double want;
        if (e == 31) {
            want = m ? NAN : INFINITY;
        } else if (e == 0) {
            want = ldexp((double)m, -24);
        } else {
            want = ldexp(1024.0 + m, e - 25);
        }
        if (s) want = -want;
        float got = ref[i];
        if (isnan(want) ? !isnan(got) || (fbits(got) >> 31) != (uint32_t)s
                        : (double)got != want || (signbit(got) != 0) != (signbit(want) != 0))
            bad_formula++;
        if (!isnan(got) && trdi_f32_to_f16(got) != (uint16_t)i) bad_roundtrip++;
    }
    CHECK_MSG(bad_formula == 0, "%d half values convert wrongly", bad_formula);
    CHECK_MSG(bad_roundtrip == 0, "%d half values do not survive float -> half", bad_roundtrip);
    if (trdi_f16_to_f32_f16c(all, 65536, simd)) {
        int diff = 0;
        for (uint32_t i = 0; i < 65536; i++)
            diff += fbits(ref[i]) != fbits(simd[i]);
        CHECK_MSG(diff == 0, "%d of 65536 half values differ between C and F16C (bitwise)", diff);
        /* odd lengths and offsets exercise the tail path */
        float tail[13];
        trdi_f16_to_f32_f16c(all + 1001, 13, tail);
        CHECK(memcmp(tail, ref + 1001, sizeof tail) == 0);
    } else {
        printf("note: no F16C on this CPU; only the C path was tested\n");
    }
    /* the public bulk converter takes unaligned input */
    unsigned char raw[2 * 9 + 1];
    for (int i = 0; i < 9; i++) {
        raw[1 + 2 * i] = (unsigned char)(all[30000 + i] & 0xff);
        raw[2 + 2 * i] = (unsigned char)(all[30000 + i] >> 8);
    }
    float out[9];
    CHECK(trdi_st_convert_to_f32(TRDI_ST_F16, raw + 1, 9, out) == TRDI_OK);
    CHECK(memcmp(out, ref + 30000, sizeof out) == 0);
}

static void test_f32_to_f16(void) {
    /* every 251st float32 bit pattern (17 million values) against F16C's rounding */
    enum { CHUNK = 4096 };
    static float src[CHUNK];
    static uint16_t simd[CHUNK];
    if (!trdi_cpu_has_f16c()) {
        printf("note: no F16C; float -> half checked by round trip only\n");
        return;
    }
    long bad = 0;
    uint64_t u = 0;
    while (u <= 0xffffffffu) {
        int k = 0;
        for (; k < CHUNK && u <= 0xffffffffu; k++, u += 251)
            src[k] = bitsf((uint32_t)u);
        trdi_f32_to_f16_f16c(src, (size_t)k, simd);
        for (int i = 0; i < k; i++) {
            uint16_t c = trdi_f32_to_f16(src[i]);
            if (c != simd[i]) bad++;
        }
    }
    CHECK_MSG(bad == 0, "%ld float -> half results differ from F16C", bad);
    /* explicit edge cases: largest half, the overflow threshold, the smallest subnormal tie */
    CHECK(trdi_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(trdi_f32_to_f16(65519.99f) == 0x7bff);
    CHECK(trdi_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(trdi_f32_to_f16(ldexpf(1.0f, -25)) == 0x0000); /* tie -> even (0) */
    CHECK(trdi_f32_to_f16(ldexpf(1.5f, -25)) == 0x0001); /* above the tie */
    CHECK(trdi_f32_to_f16(ldexpf(3.0f, -25)) == 0x0002); /* 1.5 ulp tie -> even (2) */
    CHECK(trdi_f32_to_f16(-0.0f) == 0x8000);
}

static void test_bf16(void) {
    /* bf16 -> f32 is the top half; f32 -> bf16 must be the nearest of the two neighbouring bf16
     * values (truncation `down` and the next pattern `up`), ties to the even pattern; the pattern
     * after the largest finite value stands for 2^128, which is how rounding reaches infinity. */
    long bad = 0;
    for (uint64_t u = 0; u <= 0xffffffffu; u += 65521) {
        float x = bitsf((uint32_t)u);
        if (isnan(x) || isinf(x)) continue;
        uint32_t lo = fbits(x) & 0xffff0000u;
        double down = bitsf(lo);
        double up = (lo & 0x7fffffffu) == 0x7f7f0000u ? copysign(ldexp(1.0, 128), x)
                                                      : (double)bitsf(lo + 0x10000u);
        double dd = fabs((double)x - down), du = fabs(up - (double)x);
        double want = dd < du ? down : du < dd ? up : (((lo >> 16) & 1) ? up : down);
        if (fabs(want) == ldexp(1.0, 128)) want = copysign(INFINITY, x);
        double got = trdi_bf16_to_f32(trdi_f32_to_bf16(x));
        if (got != want) bad++;
    }
    CHECK_MSG(bad == 0, "%ld float -> bfloat16 roundings wrong", bad);
    CHECK(fbits(trdi_bf16_to_f32(0x3f80)) == 0x3f800000u);
    CHECK(trdi_f32_to_bf16(bitsf(0x3f808000u)) == 0x3f80); /* tie -> even */
    CHECK(trdi_f32_to_bf16(bitsf(0x3f818000u)) == 0x3f82); /* tie -> even (up) */
    CHECK(isnan(trdi_bf16_to_f32(trdi_f32_to_bf16(NAN))));
}

/* OFP8 (OCP 8-bit floating point spec 1.0) values from the spec's formulas. */
static void test_fp8(void) {
    int bad43 = 0, bad52 = 0, nan43 = 0;
    for (int v = 0; v < 256; v++) {
        int s = v >> 7;
        /* E4M3: bias 7; e=15,m=7 is NaN; no infinities */
        int e = (v >> 3) & 15, m = v & 7;
        double w = e == 0 ? ldexp(m, -9) : ldexp(8 + m, e - 10);
        bool isnan43 = e == 15 && m == 7;
        float g = trdi_f8e4m3_to_f32((uint8_t)v);
        if (isnan43) {
            nan43++;
            if (!isnan(g) || (signbit(g) != 0) != (s != 0)) bad43++;
        } else if ((double)g != (s ? -w : w) || (s && !signbit(g))) {
            bad43++;
        }
        /* E5M2: bias 15, IEEE-like */
        e = (v >> 2) & 31, m = v & 3;
        double w2 = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -16) : ldexp(4 + m, e - 17);
        float g2 = trdi_f8e5m2_to_f32((uint8_t)v);
        if (isnan(w2) ? !isnan(g2) : ((double)g2 != (s ? -w2 : w2) || (s && !signbit(g2)))) bad52++;
    }
    CHECK_MSG(bad43 == 0, "%d E4M3 values wrong", bad43);
    CHECK_MSG(bad52 == 0, "%d E5M2 values wrong", bad52);
    CHECK(nan43 == 2);                               /* only S.1111.111 */
    CHECK(trdi_f8e4m3_to_f32(0x7e) == 448.0f);       /* largest E4M3 */
    CHECK(trdi_f8e4m3_to_f32(0x01) == 0.001953125f); /* 2^-9 */
    CHECK(trdi_f8e5m2_to_f32(0x7b) == 57344.0f);     /* largest finite E5M2 */
    CHECK(isinf(trdi_f8e5m2_to_f32(0xfc)) && trdi_f8e5m2_to_f32(0xfc) < 0);
}

static void test_dtype_names(void) {
    const char *names[] = {"F32", "F16", "BF16", "F64",  "F8_E4M3", "F8_E5M2", "I64", "I32",
                           "I16", "I8",  "U8",   "BOOL", "U16",     "U32",     "U64"};
    const size_t sizes[] = {4, 2, 2, 8, 1, 1, 8, 4, 2, 1, 1, 1, 2, 4, 8};
    for (int i = 0; i < 15; i++) {
        trdi_st_dtype d;
        CHECK(trdi_st_dtype_from_name(names[i], &d) == TRDI_OK && (int)d == i);
        CHECK(strcmp(trdi_st_dtype_name((trdi_st_dtype)i), names[i]) == 0);
        CHECK(trdi_st_dtype_size((trdi_st_dtype)i) == sizes[i]);
    }
    trdi_st_dtype d;
    CHECK(trdi_st_dtype_from_name("f32", &d) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "f32") != NULL);
    CHECK(strcmp(trdi_st_dtype_name((trdi_st_dtype)99), "?") == 0);
}

static void test_round_trip(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    float a[2 * 3 * 4];
    for (int i = 0; i < 24; i++)
        a[i] = (float)i * 0.25f - 3.0f;
    int64_t sa[] = {2, 3, 4};
    double b[3] = {1.5, -2.0, 1e300};
    int64_t sb[] = {3};
    uint16_t h[4] = {0x3c00, 0xc000, 0x7c00, 0x0001};
    int64_t sh[] = {2, 2};
    int64_t i64[2] = {-5, 999};
    int64_t s2[] = {2};
    float scalar = 7.0f;
    int64_t sz[] = {4, 0, 3};
    const char *weird = "we\"ird\\name\n\x01 \xc3\xa9";
    trdi_st_write_entry e[] = {
        {.name = "a", .ndim = 3, .shape = sa, .data = a}, /* dtype 0 = F32 */
        {.name = "b.f64", .dtype = TRDI_ST_F64, .ndim = 1, .shape = sb, .data = b},
        {.name = "h", .dtype = TRDI_ST_F16, .ndim = 2, .shape = sh, .data = h},
        {.name = "ints", .dtype = TRDI_ST_I64, .ndim = 1, .shape = s2, .data = i64},
        {.name = "scalar", .ndim = 0, .shape = NULL, .data = &scalar},
        {.name = "empty", .ndim = 3, .shape = sz, .data = NULL},
        {.name = weird, .ndim = 0, .data = &scalar},
    };
    const char *meta[] = {"format", "pt", "note", "quote\" and \xe2\x82\xac", NULL};
    trdi_status st = trdi_safetensors_write(path, e, 7, meta);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    trdi_safetensors *f = NULL;
    st = trdi_safetensors_open(path, &f);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (!f) return;
    CHECK(trdi_safetensors_count(f) == 7);
    CHECK(strcmp(trdi_safetensors_path(f), path) == 0);
    const trdi_st_tensor *t = trdi_safetensors_lookup(f, "a");
    CHECK(t && t->dtype == TRDI_ST_F32 && t->ndim == 3 && t->shape[0] == 2 && t->shape[2] == 4 &&
          t->numel == 24 && t->nbytes == 96 && t->shape[3] == 0);
    /* writer layout: data area starts 8-aligned, tensors back to back in the given order */
    CHECK(t && t->offset % 8 == 0);
    float got[24];
    CHECK(trdi_safetensors_read_f32(f, "a", got, 24) == TRDI_OK && memcmp(got, a, sizeof a) == 0);
    CHECK(trdi_safetensors_read_f32(f, "a", got, 23) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "'a'") && strstr(trdi_last_error(), "24"));
    int64_t want_shape[] = {2, 3, 4}, wrong_shape[] = {3, 2, 4};
    CHECK(trdi_safetensors_read_f32_shape(f, "a", 3, want_shape, got) == TRDI_OK);
    CHECK(trdi_safetensors_read_f32_shape(f, "a", 3, wrong_shape, got) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "[2, 3, 4]") && strstr(trdi_last_error(), "[3, 2, 4]"));
    float bf[3];
    CHECK(trdi_safetensors_read_f32(f, "b.f64", bf, 3) == TRDI_OK);
    CHECK(bf[0] == 1.5f && bf[1] == -2.0f && isinf(bf[2])); /* 1e300 overflows float32 */
    float hf[4];
    CHECK(trdi_safetensors_read_f32(f, "h", hf, 4) == TRDI_OK);
    CHECK(hf[0] == 1.0f && hf[1] == -2.0f && isinf(hf[2]) && hf[3] == ldexpf(1.0f, -24));
    /* raw bytes: the stored fp16 bits; dtype and size must both match */
    uint16_t hraw[4] = {0};
    CHECK(trdi_safetensors_read_raw(f, "h", TRDI_ST_F16, hraw, sizeof hraw) == TRDI_OK &&
          memcmp(hraw, h, sizeof hraw) == 0);
    CHECK(trdi_safetensors_read_raw(f, "h", TRDI_ST_BF16, hraw, sizeof hraw) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "'h'") && strstr(trdi_last_error(), "F16"));
    CHECK(trdi_safetensors_read_raw(f, "h", TRDI_ST_F16, hraw, 6) == TRDI_ERR_FORMAT);
    CHECK(trdi_safetensors_read_raw(f, "nope", TRDI_ST_F16, hraw, 8) == TRDI_ERR_FORMAT);
    /* reading after a read released the pages gives the same values again */
    CHECK(trdi_safetensors_read_f32(f, "h", hf, 4) == TRDI_OK && hf[1] == -2.0f);
    float iv[2];
    CHECK(trdi_safetensors_read_f32(f, "ints", iv, 2) == TRDI_OK && iv[0] == -5.0f &&
          iv[1] == 999.0f);
    t = trdi_safetensors_lookup(f, "scalar");
    CHECK(t && t->ndim == 0 && t->numel == 1);
    t = trdi_safetensors_lookup(f, "empty");
    CHECK(t && t->ndim == 3 && t->numel == 0 && t->nbytes == 0);
    float *buf = NULL;
    int64_t n = -1;
    CHECK(trdi_safetensors_load_f32(f, "empty", &buf, &n) == TRDI_OK && n == 0);
    free(buf);
    CHECK(trdi_safetensors_load_f32(f, "a", &buf, &n) == TRDI_OK && n == 24 && buf &&
          memcmp(buf, a, sizeof a) == 0);
    free(buf);
    CHECK(trdi_safetensors_lookup(f, weird) != NULL);
    CHECK(trdi_safetensors_lookup(f, "nope") == NULL);
    CHECK(trdi_safetensors_metadata_count(f) == 2);
    CHECK(trdi_safetensors_metadata(f, "format") &&
          !strcmp(trdi_safetensors_metadata(f, "format"), "pt"));
    CHECK(trdi_safetensors_metadata(f, "note") &&
          !strcmp(trdi_safetensors_metadata(f, "note"), "quote\" and \xe2\x82\xac"));
    const char *k, *v;
    trdi_safetensors_metadata_at(f, 0, &k, &v);
    CHECK(k && !strcmp(k, "format") && v && !strcmp(v, "pt"));
    trdi_safetensors_metadata_at(f, 2, &k, &v);
    CHECK(!k && !v);
    /* in offset order, back to back from 0 to the end of the file (what the reference reader's
     * validate() demands of a file: contiguous ranges that cover the data area) */
    int64_t expect = trdi_safetensors_at(f, 0)->offset;
    CHECK(expect % 8 == 0);
    for (int64_t i = 0; i < trdi_safetensors_count(f); i++) {
        t = trdi_safetensors_at(f, i);
        CHECK(t->offset == expect);
        expect += (int64_t)t->nbytes;
    }
    CHECK(trdi_safetensors_at(f, 7) == NULL && trdi_safetensors_at(f, -1) == NULL);
    trdi_safetensors_close(f);
    FILE *fp = fopen(path, "rb");
    long size = -1;
    unsigned char head[9] = {0};
    if (fp) {
        CHECK(fread(head, 1, 9, fp) == 9);
        fseek(fp, 0, SEEK_END);
        size = ftell(fp);
        fclose(fp);
    }
    CHECK(size == expect);
    CHECK(head[8] == '{');
    unlink(path);

    /* invalid entries fail without leaving a file behind */
    trdi_st_write_entry dup[] = {{.name = "x", .ndim = 0, .data = &scalar},
                                 {.name = "x", .ndim = 0, .data = &scalar}};
    CHECK(trdi_safetensors_write(path, dup, 2, NULL) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "duplicate") && strstr(trdi_last_error(), "'x'"));
    CHECK(access(path, F_OK) != 0);
    int64_t neg[] = {2, -1};
    trdi_st_write_entry bad[] = {{.name = "n", .ndim = 2, .shape = neg, .data = a}};
    CHECK(trdi_safetensors_write(path, bad, 1, NULL) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "negative") != NULL);
    trdi_st_write_entry nodata[] = {{.name = "n", .ndim = 3, .shape = sa, .data = NULL}};
    CHECK(trdi_safetensors_write(path, nodata, 1, NULL) == TRDI_ERR_INVALID_ARG);
    CHECK(access(path, F_OK) != 0);
    /* an unwritable destination folder: IO error, nothing created */
    CHECK(trdi_safetensors_write("/nonexistent-dir/x.safetensors", e, 1, NULL) == TRDI_ERR_IO);
    /* an existing file survives a failed rewrite */
    CHECK(trdi_safetensors_write(path, e, 1, NULL) == TRDI_OK);
    CHECK(trdi_safetensors_write(path, bad, 1, NULL) != TRDI_OK);
    CHECK(trdi_safetensors_open(path, &f) == TRDI_OK && trdi_safetensors_count(f) == 1);
    trdi_safetensors_close(f);
    unlink(path);
    /* empty file list: a valid file with an empty header object */
    CHECK(trdi_safetensors_write(path, NULL, 0, NULL) == TRDI_OK);
    CHECK(trdi_safetensors_open(path, &f) == TRDI_OK && trdi_safetensors_count(f) == 0);
    trdi_safetensors_close(f);
    unlink(path);
}

/* Every dtype through a file: values come back through trdi_safetensors_read_f32 as the scalar
 * conversions (or plain integer values) say. */
static void test_all_dtypes(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/dtypes.safetensors", dir);
    uint16_t bf[3] = {0x3f80, 0xc040, 0x7f80}; /* 1, -3, inf */
    uint8_t e4[4] = {0x38, 0xb8, 0x7e, 0x7f};  /* 1, -1, 448, NaN */
    uint8_t e5[4] = {0x3c, 0xbc, 0x7b, 0x7c};  /* 1, -1, 57344, inf */
    int32_t i32[2] = {-70000, 123};
    int16_t i16[2] = {-300, 300};
    int8_t i8[2] = {-128, 127};
    uint8_t u8[2] = {0, 255};
    uint8_t bo[3] = {0, 1, 2};
    uint16_t u16[2] = {0, 65535};
    uint32_t u32[2] = {7, 4000000000u};
    uint64_t u64[2] = {1, (uint64_t)1 << 40};
    int64_t s2[] = {2}, s3[] = {3}, s4[] = {4};
    trdi_st_write_entry e[] = {
        {"bf", TRDI_ST_BF16, 1, s3, bf},    {"e4", TRDI_ST_F8_E4M3, 1, s4, e4},
        {"e5", TRDI_ST_F8_E5M2, 1, s4, e5}, {"i32", TRDI_ST_I32, 1, s2, i32},
        {"i16", TRDI_ST_I16, 1, s2, i16},   {"i8", TRDI_ST_I8, 1, s2, i8},
        {"u8", TRDI_ST_U8, 1, s2, u8},      {"bool", TRDI_ST_BOOL, 1, s3, bo},
        {"u16", TRDI_ST_U16, 1, s2, u16},   {"u32", TRDI_ST_U32, 1, s2, u32},
        {"u64", TRDI_ST_U64, 1, s2, u64},
    };
    CHECK_MSG(trdi_safetensors_write(path, e, 11, NULL) == TRDI_OK, "%s", trdi_last_error());
    trdi_safetensors *f = NULL;
    CHECK_MSG(trdi_safetensors_open(path, &f) == TRDI_OK, "%s", trdi_last_error());
    if (!f) return;
    float v[4];
    CHECK(trdi_safetensors_read_f32(f, "bf", v, 3) == TRDI_OK && v[0] == 1.0f && v[1] == -3.0f &&
          isinf(v[2]));
    CHECK(trdi_safetensors_read_f32(f, "e4", v, 4) == TRDI_OK && v[0] == 1.0f && v[1] == -1.0f &&
          v[2] == trdi_f8e4m3_to_f32(0x7e) && isnan(v[3]));
    CHECK(trdi_safetensors_read_f32(f, "e5", v, 4) == TRDI_OK && v[0] == 1.0f && v[1] == -1.0f &&
          v[2] == trdi_f8e5m2_to_f32(0x7b) && isinf(v[3]));
    CHECK(trdi_safetensors_read_f32(f, "i32", v, 2) == TRDI_OK && v[0] == -70000.0f &&
          v[1] == 123.0f);
    CHECK(trdi_safetensors_read_f32(f, "i16", v, 2) == TRDI_OK && v[0] == -300.0f &&
          v[1] == 300.0f);
    CHECK(trdi_safetensors_read_f32(f, "i8", v, 2) == TRDI_OK && v[0] == -128.0f && v[1] == 127.0f);
    CHECK(trdi_safetensors_read_f32(f, "u8", v, 2) == TRDI_OK && v[0] == 0.0f && v[1] == 255.0f);
    CHECK(trdi_safetensors_read_f32(f, "bool", v, 3) == TRDI_OK && v[0] == 0.0f && v[1] == 1.0f &&
          v[2] == 1.0f);
    CHECK(trdi_safetensors_read_f32(f, "u16", v, 2) == TRDI_OK && v[0] == 0.0f && v[1] == 65535.0f);
    CHECK(trdi_safetensors_read_f32(f, "u32", v, 2) == TRDI_OK && v[0] == 7.0f && v[1] == 4e9f);
    CHECK(trdi_safetensors_read_f32(f, "u64", v, 2) == TRDI_OK && v[0] == 1.0f &&
          v[1] == ldexpf(1.0f, 40));
    /* the expected-tensor check wants floating dtypes */
    trdi_st_spec spec[] = {{.name = "u8", .ndim = 1, .shape = {2}},
                           {.name = "bf", .ndim = 1, .shape = {3}}};
    CHECK(trdi_safetensors_check(f, spec, 2, true, NULL) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "u8: dtype U8") != NULL);
    CHECK(trdi_safetensors_check(f, spec + 1, 1, true, NULL) == TRDI_OK);
    trdi_safetensors_close(f);
    unlink(path);
    /* the writer refuses reserved, non-UTF-8 and unpaired-metadata input */
    trdi_st_write_entry r1[] = {{"__metadata__", TRDI_ST_U8, 1, s2, u8}};
    CHECK(trdi_safetensors_write(path, r1, 1, NULL) == TRDI_ERR_INVALID_ARG);
    trdi_st_write_entry r2[] = {{"bad\xff", TRDI_ST_U8, 1, s2, u8}};
    CHECK(trdi_safetensors_write(path, r2, 1, NULL) == TRDI_ERR_INVALID_ARG);
    const char *odd[] = {"key", NULL};
    CHECK(trdi_safetensors_write(path, e, 1, odd) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "'key'") != NULL);
    trdi_st_write_entry r3[] = {{"x", (trdi_st_dtype)42, 1, s2, u8}};
    CHECK(trdi_safetensors_write(path, r3, 1, NULL) == TRDI_ERR_INVALID_ARG);
    CHECK(access(path, F_OK) != 0);
    /* memory: empty input is "truncated", not a crash */
    CHECK(trdi_safetensors_open_memory(NULL, 0, "mem", &f) == TRDI_ERR_FORMAT && f == NULL);
    CHECK(strstr(trdi_last_error(), "mem") && strstr(trdi_last_error(), "truncated"));
}

static unsigned char *slurp(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return b;
}

/* Reads a reference file (written by the Python tooling) and writes it back through the writer in
 * its own order: the bytes must be identical. */
static void test_rewrite_identical(const char *src, const char *dir) {
    trdi_safetensors *f = NULL;
    trdi_status st = trdi_safetensors_open(src, &f);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (!f) return;
    int64_t n = trdi_safetensors_count(f);
    trdi_st_write_entry *e = calloc((size_t)n + 1, sizeof *e);
    int64_t nm = trdi_safetensors_metadata_count(f);
    const char **meta = calloc((size_t)(2 * nm + 1), sizeof *meta);
    for (int64_t i = 0; i < n; i++) {
        const trdi_st_tensor *t = trdi_safetensors_at(f, i);
        e[i] = (trdi_st_write_entry){t->name, t->dtype, t->ndim, t->shape, t->data};
    }
    for (int64_t i = 0; i < nm; i++)
        trdi_safetensors_metadata_at(f, i, &meta[2 * i], &meta[2 * i + 1]);
    char out[512];
    snprintf(out, sizeof out, "%s/rewrite.safetensors", dir);
    st = trdi_safetensors_write(out, e, n, nm ? meta : NULL);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    size_t na = 0, nb = 0;
    unsigned char *a = slurp(src, &na), *b = slurp(out, &nb);
    CHECK_MSG(a && b && na == nb && memcmp(a, b, na) == 0,
              "rewrite of %s differs (%zu vs %zu bytes)", src, na, nb);
    free(a);
    free(b);
    free(e);
    free(meta);
    unlink(out);
    trdi_safetensors_close(f);
}

int main(void) {
    test_dtype_names();
    test_f16_to_f32();
    test_f32_to_f16();
    test_bf16();
    test_fp8();
    char dir[] = "/tmp/trdi-st-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return TEST_SUMMARY();
    }
    test_round_trip(dir);
    test_all_dtypes(dir);
    const char *files[] = {
        "sd15-tiny/model/unet/diffusion_pytorch_model.safetensors",
        "sd15-tiny/model/unet/diffusion_pytorch_model.fp16.safetensors",
        "sd15-tiny/model/text_encoder/model.safetensors",
        "sd15-tiny/model/vae/diffusion_pytorch_model.fp16.safetensors",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", TRDI_TEST_DATA, files[i]);
        test_rewrite_identical(p, dir);
    }
    rmdir(dir);
    return TEST_SUMMARY();
}
