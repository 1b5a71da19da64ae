/* test_image.c -- PNG/JPEG reading and writing (round trips, content sniffing, corrupt files,
 * atomic writes), channel conversion, cropping and the PIL-style bicubic resize on analytical
 * cases. Files are made in a fresh temporary folder at test time. */
#include "harness.h"
#include "trdi.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static size_t read_bytes(const char *path, unsigned char **out) {
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    size_t got = fread(*out, 1, (size_t)n, f);
    fclose(f);
    return got;
}

static int count_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* A smooth colour image: gradients plus a soft blob (JPEG-friendly). */
static void fill_smooth(trdi_image *im) {
    for (int64_t y = 0; y < im->height; y++)
        for (int64_t x = 0; x < im->width; x++)
            for (int64_t c = 0; c < im->channels; c++) {
                double dx = x - im->width * 0.4, dy = y - im->height * 0.6;
                double v = 40 + 120.0 * x / im->width + 60.0 * y / im->height * (c + 1) / 3.0 +
                           60 * exp(-(dx * dx + dy * dy) / (0.05 * im->width * im->height));
                im->data[(y * im->width + x) * im->channels + c] = (uint8_t)(v > 255 ? 255 : v);
            }
}

static int images_equal(const trdi_image *a, const trdi_image *b) {
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           !memcmp(a->data, b->data, (size_t)(a->width * a->height * a->channels));
}

static void test_roundtrips(void) {
    for (int ch = 1; ch <= 3; ch += 2) {
        trdi_image im, back;
        CHECK(trdi_image_alloc(37, 23, ch, &im) == TRDI_OK); /* odd sizes */
        for (int64_t i = 0; i < 37 * 23 * ch; i++)
            im.data[i] = (uint8_t)(i * 7 + i / 5);
        /* PNG is lossless: exact. */
        CHECK(trdi_image_write(tpath("rt.png"), &im, 0) == TRDI_OK);
        CHECK(trdi_image_read(tpath("rt.png"), &back) == TRDI_OK);
        CHECK(images_equal(&im, &back));
        trdi_image_clear(&back);
        /* Upper-case extension works too. */
        CHECK(trdi_image_write(tpath("rt2.PNG"), &im, 0) == TRDI_OK);
        CHECK(trdi_image_read(tpath("rt2.PNG"), &back) == TRDI_OK && images_equal(&im, &back));
        trdi_image_clear(&back);
        trdi_image_clear(&im);
    }
    /* JPEG is lossy: on a smooth 64x48 image, quality 95 stays above 38 dB and quality 75 (PIL's
     * default) above 32 dB (libjpeg's typical figures for smooth content are 40+ and 35+ dB). */
    trdi_image im, back;
    CHECK(trdi_image_alloc(64, 48, 3, &im) == TRDI_OK);
    fill_smooth(&im);
    double psnr95 = 0, psnr75 = 0, psnr10 = 0;
    CHECK(trdi_image_write(tpath("rt.jpg"), &im, 95) == TRDI_OK);
    CHECK(trdi_image_read(tpath("rt.jpg"), &back) == TRDI_OK);
    CHECK(back.width == 64 && back.height == 48 && back.channels == 3);
    CHECK(trdi_psnr(&im, &back, &psnr95) == TRDI_OK);
    trdi_image_clear(&back);
    CHECK(trdi_image_write(tpath("rt.jpeg"), &im, 75) == TRDI_OK);
    CHECK(trdi_image_read(tpath("rt.jpeg"), &back) == TRDI_OK);
    CHECK(trdi_psnr(&im, &back, &psnr75) == TRDI_OK);
    trdi_image_clear(&back);
    CHECK(trdi_image_write(tpath("rt10.jpg"), &im, 10) == TRDI_OK);
    CHECK(trdi_image_read(tpath("rt10.jpg"), &back) == TRDI_OK);
    CHECK(trdi_psnr(&im, &back, &psnr10) == TRDI_OK);
    trdi_image_clear(&back);
    CHECK_MSG(psnr95 > 38, "JPEG q95 PSNR %.2f", psnr95);
    CHECK_MSG(psnr75 > 32, "JPEG q75 PSNR %.2f", psnr75);
    CHECK_MSG(psnr95 > psnr75 && psnr75 > psnr10, "quality ordering %.2f %.2f %.2f", psnr95, psnr75,
              psnr10);
    /* Gray JPEG stays gray. */
    trdi_image gray;
    CHECK(trdi_image_convert(&im, 1, &gray) == TRDI_OK);
    CHECK(trdi_image_write(tpath("gray.jpg"), &gray, 90) == TRDI_OK);
    CHECK(trdi_image_read(tpath("gray.jpg"), &back) == TRDI_OK && back.channels == 1);
    trdi_image_clear(&back);
    trdi_image_clear(&gray);

    /* Reading goes by content: a PNG named .jpg and a JPEG named .png both read. */
    CHECK(trdi_image_write(tpath("c.png"), &im, 0) == TRDI_OK);
    CHECK(rename(tpath("c.png"), tpath("actually_png.jpg")) == 0);
    CHECK(trdi_image_read(tpath("actually_png.jpg"), &back) == TRDI_OK && images_equal(&im, &back));
    trdi_image_clear(&back);
    CHECK(rename(tpath("rt.jpg"), tpath("actually_jpeg.png")) == 0);
    CHECK(trdi_image_read(tpath("actually_jpeg.png"), &back) == TRDI_OK && back.width == 64);
    trdi_image_clear(&back);
    /* From memory too. */
    unsigned char *bytes;
    size_t n = read_bytes(tpath("actually_png.jpg"), &bytes);
    CHECK(trdi_image_read_memory(bytes, n, "mem", &back) == TRDI_OK && images_equal(&im, &back));
    trdi_image_clear(&back);
    free(bytes);
    trdi_image_clear(&im);
}

/* Corrupt, truncated, empty and unreadable files give errors, never a crash, and zero outputs. */
static void test_corrupt(void) {
    trdi_image im, back;
    CHECK(trdi_image_alloc(40, 30, 3, &im) == TRDI_OK);
    fill_smooth(&im);
    CHECK(trdi_image_write(tpath("good.png"), &im, 0) == TRDI_OK);
    CHECK(trdi_image_write(tpath("good.jpg"), &im, 90) == TRDI_OK);
    trdi_image_clear(&im);
    const char *goods[] = {"good.png", "good.jpg"};
    for (int g = 0; g < 2; g++) {
        unsigned char *bytes;
        size_t n = read_bytes(tpath(goods[g]), &bytes);
        CHECK(n > 100);
        /* Truncated at several points: header only, mid-data, just before the end marker. */
        size_t cuts[] = {4, 20, n / 3, n / 2, n - 13, n - 1};
        for (int i = 0; i < 6; i++) {
            write_bytes(tpath("trunc"), bytes, cuts[i]);
            memset(&back, 0x55, sizeof back);
            trdi_status st = trdi_image_read(tpath("trunc"), &back);
            /* PNG's IEND chunk is 12 bytes, so cutting 1 byte always loses data; a JPEG missing
             * only the last byte of its EOI marker is still decoded by libjpeg (and by PIL). */
            if (g == 1 && cuts[i] == n - 1) {
                if (st == TRDI_OK) trdi_image_clear(&back);
                continue;
            }
            CHECK_MSG(st == TRDI_ERR_FORMAT, "%s cut at %zu: status %d (%s)", goods[g], cuts[i],
                      (int)st, trdi_last_error());
            CHECK(back.data == NULL && back.width == 0);
        }
        /* Garbage after the magic bytes. */
        for (size_t i = 8; i < n; i++)
            bytes[i] = (unsigned char)(i * 131 + 7);
        write_bytes(tpath("garbage"), bytes, n);
        CHECK(trdi_image_read(tpath("garbage"), &back) == TRDI_ERR_FORMAT);
        CHECK(back.data == NULL);
        free(bytes);
    }
    /* A corrupted byte in a PNG's pixel data fails its CRC. */
    {
        unsigned char *bytes;
        size_t n = read_bytes(tpath("good.png"), &bytes);
        bytes[n / 2] ^= 0x5a;
        write_bytes(tpath("crc.png"), bytes, n);
        CHECK(trdi_image_read(tpath("crc.png"), &back) == TRDI_ERR_FORMAT);
        free(bytes);
    }
    write_bytes(tpath("empty.png"), "", 0);
    CHECK(trdi_image_read(tpath("empty.png"), &back) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "empty") != NULL);
    write_bytes(tpath("text.png"), "hello, not an image", 19);
    CHECK(trdi_image_read(tpath("text.png"), &back) == TRDI_ERR_FORMAT);
    CHECK(strstr(trdi_last_error(), "text.png") != NULL);
    CHECK(trdi_image_read(tpath("does-not-exist.png"), &back) == TRDI_ERR_IO);
    CHECK(trdi_image_read(tmpdir, &back) == TRDI_ERR_IO); /* a folder */
    CHECK(trdi_image_read(NULL, &back) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_image_read_memory(NULL, 0, NULL, &back) == TRDI_ERR_FORMAT);
    /* A PNG declaring zero width is refused by libpng's header checks. */
    {
        unsigned char *bytes;
        size_t n = read_bytes(tpath("good.png"), &bytes);
        memset(bytes + 16, 0, 4); /* IHDR width */
        CHECK(trdi_image_read_memory(bytes, n, "zero", &back) == TRDI_ERR_FORMAT);
        free(bytes);
    }
}

static void test_write_errors(void) {
    trdi_image im;
    CHECK(trdi_image_alloc(8, 8, 3, &im) == TRDI_OK);
    int before = count_files();
    CHECK(trdi_image_write(tpath("x.bmp"), &im, 90) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), ".bmp") != NULL);
    CHECK(trdi_image_write(tpath("noext"), &im, 90) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_image_write(tpath("q.jpg"), &im, 0) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_image_write(tpath("q.jpg"), &im, 101) == TRDI_ERR_INVALID_ARG);
    CHECK(trdi_image_write(tpath("no/such/dir/x.png"), &im, 0) == TRDI_ERR_IO);
    trdi_image bad = im;
    bad.channels = 2;
    CHECK(trdi_image_write(tpath("bad.png"), &bad, 0) == TRDI_ERR_INVALID_ARG);
    CHECK_MSG(count_files() == before, "a failed write left files behind");
    /* A failed write leaves an existing file untouched. */
    CHECK(trdi_image_write(tpath("keep.png"), &im, 0) == TRDI_OK);
    unsigned char *b1, *b2;
    size_t n1 = read_bytes(tpath("keep.png"), &b1);
    bad.width = 0;
    CHECK(trdi_image_write(tpath("keep.png"), &bad, 0) == TRDI_ERR_INVALID_ARG);
    size_t n2 = read_bytes(tpath("keep.png"), &b2);
    CHECK(n1 == n2 && !memcmp(b1, b2, n1));
    free(b1);
    free(b2);
    /* Overwriting replaces the file. */
    im.data[0] = 200;
    CHECK(trdi_image_write(tpath("keep.png"), &im, 0) == TRDI_OK);
    trdi_image back;
    CHECK(trdi_image_read(tpath("keep.png"), &back) == TRDI_OK && back.data[0] == 200);
    trdi_image_clear(&back);
    trdi_image_clear(&im);
    /* Allocation validation. */
    CHECK(trdi_image_alloc(0, 5, 3, &im) == TRDI_ERR_INVALID_ARG && im.data == NULL);
    CHECK(trdi_image_alloc(5, 5, 4, &im) == TRDI_ERR_INVALID_ARG);
    trdi_image_clear(NULL);
}

static void test_convert_crop(void) {
    trdi_image rgb, gray, back;
    CHECK(trdi_image_alloc(3, 2, 3, &rgb) == TRDI_OK);
    for (int i = 0; i < 18; i++)
        rgb.data[i] = (uint8_t)(i * 13);
    /* Gray pixels stay gray through RGB -> L (the luma weights sum to 65536). */
    for (int i = 0; i < 3; i++)
        rgb.data[i] = 77;
    rgb.data[3] = 255, rgb.data[4] = 0, rgb.data[5] = 0;
    CHECK(trdi_image_convert(&rgb, 1, &gray) == TRDI_OK);
    CHECK(gray.channels == 1 && gray.data[0] == 77);
    CHECK(gray.data[1] == 76); /* 255 * 19595 / 65536 = 76.2 */
    CHECK(trdi_image_convert(&gray, 3, &back) == TRDI_OK);
    CHECK(back.data[3] == 76 && back.data[4] == 76 && back.data[5] == 76);
    trdi_image_clear(&back);
    trdi_image_clear(&gray);
    trdi_image_clear(&rgb);

    trdi_image im, c;
    CHECK(trdi_image_alloc(7, 4, 1, &im) == TRDI_OK);
    for (int i = 0; i < 28; i++)
        im.data[i] = (uint8_t)i;
    CHECK(trdi_image_center_crop_square(&im, &c) == TRDI_OK);
    /* side 4, x offset (7 - 4) div 2 = 1 */
    CHECK(c.width == 4 && c.height == 4 && c.data[0] == 1 && c.data[4] == 8);
    trdi_image_clear(&c);
    CHECK(trdi_image_crop(&im, 5, 0, 3, 1, &c) == TRDI_ERR_INVALID_ARG && c.data == NULL);
    CHECK(trdi_image_crop(&im, 6, 3, 1, 1, &c) == TRDI_OK && c.data[0] == 27);
    trdi_image_clear(&c);
    trdi_image_clear(&im);
}

static void test_resize(void) {
    trdi_image im, out, out2;
    /* A constant image stays exactly constant at every size: the weights are normalised, and
     * their fixed-point sum is 2^22 up to rounding of at most ksize/2 units, far below one grey
     * level. */
    int sizes[][2] = {{1, 1}, {5, 3}, {16, 16}, {31, 17}, {64, 64}, {200, 9}};
    for (int ch = 1; ch <= 3; ch += 2) {
        CHECK(trdi_image_alloc(32, 24, ch, &im) == TRDI_OK);
        memset(im.data, 173, (size_t)(32 * 24 * ch));
        for (int s = 0; s < 6; s++) {
            CHECK(trdi_image_resize(&im, sizes[s][0], sizes[s][1], &out) == TRDI_OK);
            int ok = out.width == sizes[s][0] && out.height == sizes[s][1] && out.channels == ch;
            for (int64_t i = 0; ok && i < out.width * out.height * ch; i++)
                ok = out.data[i] == 173;
            CHECK_MSG(ok, "constant image not constant at %dx%d", sizes[s][0], sizes[s][1]);
            trdi_image_clear(&out);
        }
        trdi_image_clear(&im);
    }
    /* Same size: an exact copy. */
    CHECK(trdi_image_alloc(19, 11, 3, &im) == TRDI_OK);
    fill_smooth(&im);
    CHECK(trdi_image_resize(&im, 19, 11, &out) == TRDI_OK && images_equal(&im, &out));
    trdi_image_clear(&out);
    trdi_image_clear(&im);

    /* A linear ramp p(x) = 2x + 10 (64 wide): the bicubic kernel reproduces linear functions, so
     * away from the borders (where windows are clipped) the 4x downscale samples the ramp at the
     * output pixel centres, input coordinate 4 xx + 1.5: value 8 xx + 13. Allowed error 1 grey
     * level: the fixed-point weights and the final rounding. Same for a 4x upscale (centre
     * (xx + 0.5) / 4 - 0.5) and the vertical direction. */
    CHECK(trdi_image_alloc(64, 8, 1, &im) == TRDI_OK);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 64; x++)
            im.data[y * 64 + x] = (uint8_t)(2 * x + 10);
    CHECK(trdi_image_resize(&im, 16, 8, &out) == TRDI_OK);
    double maxerr = 0;
    for (int y = 0; y < 8; y++)
        for (int xx = 2; xx < 14; xx++) {
            double e = fabs(out.data[y * 16 + xx] - (8.0 * xx + 13.0));
            if (e > maxerr) maxerr = e;
        }
    CHECK_MSG(maxerr <= 1.0, "downscaled ramp off by %.1f", maxerr);
    trdi_image_clear(&out);
    trdi_image_clear(&im);
    CHECK(trdi_image_alloc(4, 16, 1, &im) == TRDI_OK);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 4; x++)
            im.data[y * 4 + x] = (uint8_t)(10 * y + 20);
    CHECK(trdi_image_resize(&im, 4, 64, &out) == TRDI_OK);
    maxerr = 0;
    for (int yy = 8; yy < 56; yy++) {
        double want = 10.0 * ((yy + 0.5) / 4.0 - 0.5) + 20.0;
        for (int x = 0; x < 4; x++) {
            double e = fabs(out.data[yy * 4 + x] - want);
            if (e > maxerr) maxerr = e;
        }
    }
    CHECK_MSG(maxerr <= 1.0, "upscaled ramp off by %.2f", maxerr);
    trdi_image_clear(&out);
    trdi_image_clear(&im);

    /* Mirror symmetry: resizing a mirrored image gives the mirrored result (the kernel windows are
     * symmetric about the centre), here for a non-integer ratio 37 -> 23. */
    CHECK(trdi_image_alloc(37, 5, 1, &im) == TRDI_OK);
    trdi_image mir;
    CHECK(trdi_image_alloc(37, 5, 1, &mir) == TRDI_OK);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 37; x++) {
            uint8_t v = (uint8_t)((x * x * 7 + y * 31) % 251);
            im.data[y * 37 + x] = v;
            mir.data[y * 37 + 36 - x] = v;
        }
    CHECK(trdi_image_resize(&im, 23, 5, &out) == TRDI_OK);
    CHECK(trdi_image_resize(&mir, 23, 5, &out2) == TRDI_OK);
    int sym = 1;
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 23; x++)
            sym &= out.data[y * 23 + x] == out2.data[y * 23 + 22 - x];
    CHECK(sym);
    trdi_image_clear(&out);
    trdi_image_clear(&out2);
    trdi_image_clear(&mir);
    trdi_image_clear(&im);

    /* Antialiasing: downscaling a 1-pixel checkerboard by 4 averages it to mid-grey (a filter
     * without support scaling would alias to black or white). Interior only; +-2 levels for the
     * fixed-point weights. */
    CHECK(trdi_image_alloc(64, 64, 1, &im) == TRDI_OK);
    for (int i = 0; i < 64 * 64; i++)
        im.data[i] = ((i % 64 + i / 64) & 1) ? 255 : 0;
    CHECK(trdi_image_resize(&im, 16, 16, &out) == TRDI_OK);
    maxerr = 0;
    for (int y = 2; y < 14; y++)
        for (int x = 2; x < 14; x++) {
            double e = fabs(out.data[y * 16 + x] - 127.5);
            if (e > maxerr) maxerr = e;
        }
    CHECK_MSG(maxerr <= 2.5, "downscaled checkerboard deviates %.1f from mid-grey", maxerr);
    trdi_image_clear(&out);
    trdi_image_clear(&im);

    /* Up by 4 then down by 4 of a smooth image comes back close (>= 40 dB). */
    CHECK(trdi_image_alloc(24, 20, 3, &im) == TRDI_OK);
    fill_smooth(&im);
    CHECK(trdi_image_resize(&im, 96, 80, &out) == TRDI_OK);
    CHECK(trdi_image_resize(&out, 24, 20, &out2) == TRDI_OK);
    double p = 0;
    CHECK(trdi_psnr(&im, &out2, &p) == TRDI_OK);
    CHECK_MSG(p >= 40, "up/down PSNR %.2f", p);
    trdi_image_clear(&out);
    trdi_image_clear(&out2);
    CHECK(trdi_image_resize(&im, 0, 5, &out) == TRDI_ERR_INVALID_ARG && out.data == NULL);
    trdi_image_clear(&im);
}

/* PNG/JPEG variants written by Pillow (the fuzz seed corpus): RGB/gray/RGBA/palette/16-bit gray
 * PNG, baseline/gray/progressive JPEG. rgb_8x6.png holds byte i = 7 i mod 256 (HWC order). */
static void test_formats(void) {
#define CORPUS TRDI_TEST_DATA "/../fuzz/corpus/fuzz_image/"
    trdi_image rgb, im;
    CHECK(trdi_image_read(CORPUS "rgb_8x6.png", &rgb) == TRDI_OK);
    CHECK(rgb.width == 8 && rgb.height == 6 && rgb.channels == 3);
    int ok = 1;
    for (int i = 0; i < 8 * 6 * 3; i++)
        ok &= rgb.data[i] == (uint8_t)(7 * i % 256);
    CHECK(ok);
    /* Alpha is dropped without compositing. */
    CHECK(trdi_image_read(CORPUS "rgba_8x6.png", &im) == TRDI_OK && images_equal(&im, &rgb));
    trdi_image_clear(&im);
    CHECK(trdi_image_read(CORPUS "gray_8x6.png", &im) == TRDI_OK && im.channels == 1);
    ok = 1;
    for (int i = 0; i < 8 * 6; i++)
        ok &= im.data[i] == rgb.data[3 * i];
    CHECK(ok);
    trdi_image_clear(&im);
    CHECK(trdi_image_read(CORPUS "palette_8x6.png", &im) == TRDI_OK && im.channels == 3 &&
          im.width == 8);
    trdi_image_clear(&im);
    /* 16-bit gray (samples 0, 255, 256, 1000, 65535, 30000 / 1..6): clipped to 255 as PIL. */
    CHECK(trdi_image_read(CORPUS "gray16_6x2.png", &im) == TRDI_OK);
    CHECK(im.width == 6 && im.height == 2 && im.channels == 1);
    const uint16_t src16[12] = {0, 255, 256, 1000, 65535, 30000, 1, 2, 3, 4, 5, 6};
    ok = 1;
    for (int i = 0; i < 12; i++)
        ok &= im.data[i] == (src16[i] > 255 ? 255 : src16[i]);
    CHECK(ok);
    trdi_image_clear(&im);
    const char *jpegs[] = {"rgb_8x6.jpg", "gray_8x6.jpg", "progressive_8x6.jpg"};
    const int chans[] = {3, 1, 3};
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, CORPUS "%s", jpegs[i]);
        CHECK_MSG(trdi_image_read(p, &im) == TRDI_OK, "%s: %s", jpegs[i], trdi_last_error());
        CHECK(im.width == 8 && im.height == 6 && im.channels == chans[i]);
        trdi_image_clear(&im);
    }
    trdi_image_clear(&rgb);
#undef CORPUS
}

int main(void) {
    test_formats();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/trdi_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrips();
    test_corrupt();
    test_write_errors();
    test_convert_crop();
    test_resize();
    /* Clean up the temporary folder. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') unlink(tpath(e->d_name));
    closedir(d);
    rmdir(tmpdir);
    return TEST_SUMMARY();
}
