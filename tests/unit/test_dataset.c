/* test_dataset.c -- dataset loading for trdi bench (manifest, PIE-Bench mapping, folder with
 * captions), its errors naming the entry, PIE masks (RLE and wrong sizes), the results CSV reader
 * (quoting, torn last line) and the summary statistics. Files are made in a temp folder. */
#include "bench/bench.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256];

static void put(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void put_png(const char *name, int64_t w, int64_t h, uint8_t v) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    trdi_image img = {0};
    if (trdi_image_alloc(w, h, 3, &img) == TRDI_OK) {
        memset(img.data, v, (size_t)(w * h * 3));
        trdi_image_write(p, &img, 75);
    }
    trdi_image_clear(&img);
}

static char *path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

/* Loads `name` expecting failure `st` with `needle` in the message. */
static void expect_fail(const char *name, trdi_status want, const char *needle) {
    trdi_dataset *d = (trdi_dataset *)1;
    trdi_status st = trdi_dataset_load(path(name), &d);
    CHECK_MSG(st == want, "%s: status %d, want %d (%s)", name, (int)st, (int)want, trdi_last_error());
    CHECK_MSG(strstr(trdi_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", name,
              trdi_last_error(), needle);
    CHECK(d == NULL);
}

static void test_manifest(void) {
    put("m.json", "[{\"image\": \"img/a.png\", \"caption\": \"a cat\"},"
                  " {\"image\": \"img/b.png\", \"captions\": [\"first\", \"second\"], \"id\": 7}]");
    trdi_dataset *d = NULL;
    CHECK(trdi_dataset_load(path("m.json"), &d) == TRDI_OK);
    CHECK(trdi_dataset_get_kind(d) == TRDI_DATASET_MANIFEST);
    CHECK(trdi_dataset_count(d) == 2);
    const trdi_dataset_item *a = trdi_dataset_at(d, 0), *b = trdi_dataset_at(d, 1);
    CHECK(a && !strcmp(a->id, "a") && !strcmp(a->prompt, "a cat") && !a->target_prompt);
    CHECK(a && !strcmp(a->image, path("img/a.png")));
    CHECK(b && !strcmp(b->id, "7") && !strcmp(b->prompt, "first"));
    CHECK(trdi_dataset_at(d, 2) == NULL);
    trdi_image img = {0};
    CHECK(trdi_dataset_read_image(d, 1, &img) == TRDI_OK && img.width == 40 && img.height == 30);
    trdi_image_clear(&img);
    trdi_image mk = {0};
    CHECK(trdi_dataset_read_mask(d, 0, 40, 30, &mk) == TRDI_ERR_INVALID_ARG); /* no mask */
    trdi_dataset_free(d);

    put("e1.json", "[{\"image\": \"img/a.png\", \"caption\": \"x\"}");
    expect_fail("e1.json", TRDI_ERR_FORMAT, "not valid JSON");
    put("e2.json", "[{\"image\": \"img/a.png\", \"caption\": \"x\"}, {\"caption\": \"y\"}]");
    expect_fail("e2.json", TRDI_ERR_FORMAT, "entry 1: \"image\" missing");
    put("e3.json", "[{\"image\": \"img/a.png\", \"caption\": 3}]");
    expect_fail("e3.json", TRDI_ERR_FORMAT, "entry 0 (image 'img/a.png'): \"caption\"");
    put("e4.json", "[{\"image\": \"img/zz.png\", \"caption\": \"\"}]");
    expect_fail("e4.json", TRDI_ERR_IO, "entry 0 (id 'zz'): image");
    put("e5.json", "[]");
    expect_fail("e5.json", TRDI_ERR_INVALID_ARG, "no entries");
    put("e6.json", "[{\"image\": \"img/a.png\", \"caption\": \"\"}, {\"image\": \"img/a.png\", \"caption\": \"\"}]");
    expect_fail("e6.json", TRDI_ERR_FORMAT, "entries 0 and 1 have the same id 'a'");
    put("e7.json", "42");
    expect_fail("e7.json", TRDI_ERR_FORMAT, "expected a JSON list");
    expect_fail("missing.json", TRDI_ERR_IO, "missing.json");
}

static void test_pie(void) {
    /* Image 40x30 = 1200 pixels. */
    put("p.json", "{\"000\": {\"image_path\": \"img/a.png\", \"original_prompt\": \"a [cat]\","
                  " \"editing_prompt\": \"a [dog]\", \"editing_type_id\": \"3\","
                  " \"mask\": [45, 3, 1199, 50]},"
                  " \"001\": {\"image_path\": \"img/a.png\", \"original_prompt\": \"\","
                  " \"editing_prompt\": \"\", \"mask\": [0, 1201]}}");
    trdi_dataset *d = NULL;
    CHECK(trdi_dataset_load(path("p.json"), &d) == TRDI_OK);
    CHECK(trdi_dataset_get_kind(d) == TRDI_DATASET_PIE);
    const trdi_dataset_item *a = trdi_dataset_at(d, 0);
    CHECK(a && !strcmp(a->id, "000") && !strcmp(a->prompt, "a [cat]") && !strcmp(a->target_prompt, "a [dog]"));
    CHECK(a && a->n_mask_rle == 4 && a->mask_rle[2] == 1199 && !strcmp(a->editing_type, "3"));
    trdi_image mk = {0};
    /* A run may reach past the end only up to H*W: 1199 + 50 > 1200 is another size. */
    CHECK(trdi_dataset_read_mask(d, 0, 40, 30, &mk) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "entry '000'") && strstr(trdi_last_error(), "40x30"));
    CHECK(trdi_dataset_read_mask(d, 0, 40, 40, &mk) == TRDI_OK);
    if (mk.data) {
        CHECK(mk.channels == 1 && mk.width == 40 && mk.height == 40);
        CHECK(mk.data[45] == 255 && mk.data[47] == 255 && mk.data[48] == 0); /* row 1: run 45..47 */
        CHECK(mk.data[0] == 255 && mk.data[40] == 255 && mk.data[79] == 255); /* border frame */
        CHECK(mk.data[41] == 0);
        CHECK(mk.data[5 * 40 + 5] == 0);
    }
    trdi_image_clear(&mk);
    CHECK(trdi_dataset_read_mask(d, 1, 40, 30, &mk) == TRDI_ERR_FORMAT);
    trdi_dataset_free(d);

    put("pe1.json", "{\"k\": {\"image_path\": \"img/a.png\", \"original_prompt\": \"\", \"mask\": []}}");
    expect_fail("pe1.json", TRDI_ERR_FORMAT, "entry 'k': \"editing_prompt\"");
    put("pe2.json", "{\"k\": {\"image_path\": \"img/a.png\", \"original_prompt\": \"\","
                    " \"editing_prompt\": \"\", \"mask\": [1, -2]}}");
    expect_fail("pe2.json", TRDI_ERR_FORMAT, "entry 'k': \"mask\" value 1");
    put("pe3.json", "{\"k\": {\"image_path\": \"nope.png\", \"original_prompt\": \"\","
                    " \"editing_prompt\": \"\", \"mask\": []}}");
    expect_fail("pe3.json", TRDI_ERR_IO, "nope.png");
    /* PIE-Bench's own layout: image_path relative to annotation_images/. */
    put("pe4.json", "{\"k\": {\"image_path\": \"x.png\", \"original_prompt\": \"\","
                    " \"editing_prompt\": \"\", \"mask\": [0, 1]}}");
    trdi_dataset *d2 = NULL;
    CHECK(trdi_dataset_load(path("pe4.json"), &d2) == TRDI_OK);
    CHECK(d2 && strstr(trdi_dataset_at(d2, 0)->image, "annotation_images/x.png"));
    trdi_dataset_free(d2);
}

static void test_folder(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/f", g_dir);
    CHECK(bench_mkdirs(p) == TRDI_OK);
    put_png("f/b.png", 8, 8, 10);
    put_png("f/a.jpg", 8, 8, 20);
    put("f/notes.md", "ignored");
    put("f/captions.json", "{\"a\": \"first\", \"b.png\": \"second\"}");
    trdi_dataset *d = NULL;
    CHECK(trdi_dataset_load(p, &d) == TRDI_OK);
    CHECK(trdi_dataset_get_kind(d) == TRDI_DATASET_FOLDER && trdi_dataset_count(d) == 2);
    CHECK(d && !strcmp(trdi_dataset_at(d, 0)->id, "a") && !strcmp(trdi_dataset_at(d, 0)->prompt, "first"));
    CHECK(d && !strcmp(trdi_dataset_at(d, 1)->id, "b") && !strcmp(trdi_dataset_at(d, 1)->prompt, "second"));
    trdi_dataset_free(d);
    put("f/captions.json", "{\"a\": \"first\"}");
    expect_fail("f", TRDI_ERR_FORMAT, "image 'b.png' has no caption");
    put("f/captions.json", "{\"a\": \"first\", \"b\": \"x\", \"c\": \"no such image\"}");
    expect_fail("f", TRDI_ERR_IO, "('c'): no image");
    unlink(path("f/captions.json"));
    expect_fail("f", TRDI_ERR_FORMAT, "needs captions.json");
    put("f/captions.txt", "# comment\na\tfirst caption\n\nb second caption\n");
    CHECK(trdi_dataset_load(p, &d) == TRDI_OK);
    CHECK(d && !strcmp(trdi_dataset_at(d, 0)->prompt, "first caption"));
    CHECK(d && !strcmp(trdi_dataset_at(d, 1)->prompt, "second caption"));
    trdi_dataset_free(d);
}

static void test_csv(void) {
    const char *text = "a,b,c\n1,\"x,y\",\"q\"\"t\"\n2,,3\n4,5";
    bench_table t;
    CHECK(bench_table_parse(text, strlen(text), "t.csv", &t) == TRDI_OK);
    CHECK(t.n_cols == 3 && t.n_rows == 2 && t.torn);
    CHECK(t.good_bytes == (int64_t)(strlen(text) - 3)); /* "4,5" dropped */
    if (t.n_rows == 2) {
        CHECK(!strcmp(t.rows[0][1], "x,y") && !strcmp(t.rows[0][2], "q\"t"));
        CHECK(!strcmp(t.rows[1][1], ""));
    }
    /* A written line parses back to the same cells. */
    bench_buf b = {0};
    const char *cells[3] = {"p\"q", "a,b", "line\nbreak"};
    CHECK(bench_buf_csv_line(&b, cells, 3) == TRDI_OK);
    bench_table t2;
    bench_buf all = {0};
    bench_buf_add(&all, "a,b,c\n", 6);
    bench_buf_add(&all, b.data, b.len);
    CHECK(bench_table_parse(all.data, all.len, "t2", &t2) == TRDI_OK && t2.n_rows == 1 && !t2.torn);
    if (t2.n_rows == 1)
        for (int i = 0; i < 3; i++) CHECK(!strcmp(t2.rows[0][i], cells[i]));
    bench_table_clear(&t2);
    bench_buf_free(&b);
    bench_buf_free(&all);
    bench_table_clear(&t);
    /* A complete line with the wrong field count is corruption, not tearing. */
    const char *bad = "a,b\n1,2,3\n";
    CHECK(bench_table_parse(bad, strlen(bad), "bad.csv", &t) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "bad.csv: line 2"));
}

static void test_summary(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/sum", g_dir);
    CHECK(bench_mkdirs(p) == TRDI_OK);
    /* Three ok rows of one configuration (psnr 10, 20, 30; one ssim unavailable) and a failed one;
     * rows out of order on purpose. */
    put("sum/results.csv",
        "image_index,image_id,config_index,config,method,schedule,steps,stepping,guidance,"
        "inversion_guidance,status,psnr,ssim_skimage,nfe,seconds\n"
        "2,c,0,cfg0,ddim,uniform,5,reference,1,0,ok,30,,10,0.1\n"
        "0,a,0,cfg0,ddim,uniform,5,reference,1,0,ok,10,0.5,10,0.1\n"
        "1,b,0,cfg0,ddim,uniform,5,reference,1,0,ok,20,0.7,10,0.1\n"
        "0,a,1,cfg1,ddim,trdi,5,reference,1,0,\"failed: x, y\",,,,\n"
        "1,b,1,cfg1,ddim,trdi,5,reference,1,0,ok,inf,1,10,0.1\n");
    CHECK(trdi_bench_summarize(p) == TRDI_OK);
    bench_table s;
    bool exists;
    snprintf(p, sizeof p, "%s/sum/summary.csv", g_dir);
    CHECK(bench_table_read(p, &s, &exists) == TRDI_OK && exists && s.n_rows == 2);
    int64_t cn = bench_table_col(&s, "n"), cf = bench_table_col(&s, "n_failed");
    int64_t cm = bench_table_col(&s, "psnr_mean"), cc = bench_table_col(&s, "psnr_ci95");
    int64_t sm = bench_table_col(&s, "ssim_skimage_mean"), sc = bench_table_col(&s, "ssim_skimage_ci95");
    CHECK(cn >= 0 && cf >= 0 && cm >= 0 && cc >= 0 && sm >= 0 && sc >= 0);
    if (s.n_rows == 2 && cn >= 0 && cm >= 0 && cc >= 0 && sm >= 0 && sc >= 0 && cf >= 0) {
        CHECK(!strcmp(s.rows[0][cn], "3") && !strcmp(s.rows[0][cf], "0"));
        CHECK_NEAR(atof(s.rows[0][cm]), 20.0, 1e-9); /* printed with 10 significant digits */
        /* sample sd of 10, 20, 30 is 10: 1.96 * 10 / sqrt(3) */
        CHECK_NEAR(atof(s.rows[0][cc]), 1.96 * 10.0 / sqrt(3.0), 1e-8);
        CHECK_NEAR(atof(s.rows[0][sm]), 0.6, 1e-9);
        CHECK_NEAR(atof(s.rows[0][sc]), 1.96 * sqrt(0.02) / sqrt(2.0), 1e-9);
        CHECK(!strcmp(s.rows[1][cn], "1") && !strcmp(s.rows[1][cf], "1"));
        CHECK(!strcmp(s.rows[1][cm], "inf") && !strcmp(s.rows[1][cc], "")); /* one row: no CI */
    }
    bench_table_clear(&s);
    snprintf(p, sizeof p, "%s/sum/summary.md", g_dir);
    CHECK(access(p, F_OK) == 0);
    snprintf(p, sizeof p, "%s/sum/chart_psnr.png", g_dir);
    CHECK(access(p, F_OK) == 0);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/trdi-test-dataset-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    char p[512];
    snprintf(p, sizeof p, "%s/img", g_dir);
    bench_mkdirs(p);
    snprintf(p, sizeof p, "%s/annotation_images", g_dir);
    bench_mkdirs(p);
    put_png("img/a.png", 40, 30, 100);
    put_png("img/b.png", 40, 30, 200);
    put_png("annotation_images/x.png", 4, 4, 0);
    test_manifest();
    test_pie();
    test_folder();
    test_csv();
    test_summary();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return TEST_SUMMARY();
}
