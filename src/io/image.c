/* image.c -- 8-bit PNG / JPEG images: reading by content (libpng, libjpeg), atomic writing by
 * extension, channel conversion, cropping. Not here: resizing (image_resize.c), and anything
 * about latents or models. libpng and libjpeg report errors by longjmp; every handler here stores
 * the message and jumps back, so the library never prints or exits on a bad file. */
#include "core/core.h"
#include "io/image_internal.h"

#include <errno.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_SIDE = 16384 };

trdi_status trdi_image_alloc(int64_t width, int64_t height, int64_t channels, trdi_image *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_image_alloc: out is NULL");
    memset(out, 0, sizeof *out);
    if (width < 1 || height < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "image size %lldx%lld: both sides must be >= 1",
                         (long long)width, (long long)height);
    if (channels != 1 && channels != 3)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "image channels must be 1 or 3, got %lld",
                         (long long)channels);
    if (width > (int64_t)1 << 20 || height > (int64_t)1 << 20)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "image size %lldx%lld is too large",
                         (long long)width, (long long)height);
    uint8_t *d = trdi_calloc((size_t)width * (size_t)height, (size_t)channels);
    if (!d)
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory for a %lldx%lldx%lld image",
                         (long long)width, (long long)height, (long long)channels);
    out->width = width;
    out->height = height;
    out->channels = channels;
    out->data = d;
    return TRDI_OK;
}

void trdi_image_clear(trdi_image *img) {
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

trdi_status trdi_image_check(const trdi_image *img, const char *what) {
    if (!img) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: image is NULL", what);
    if (!img->data || img->width < 1 || img->height < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: empty image (%lldx%lld)", what,
                         (long long)img->width, (long long)img->height);
    if (img->channels != 1 && img->channels != 3)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: image channels must be 1 or 3, got %lld", what,
                         (long long)img->channels);
    return TRDI_OK;
}

trdi_status trdi_image_copy(const trdi_image *in, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    trdi_status st = trdi_image_check(in, "trdi_image_copy");
    if (st) return st;
    st = trdi_image_alloc(in->width, in->height, in->channels, out);
    if (st) return st;
    memcpy(out->data, in->data, (size_t)(in->width * in->height * in->channels));
    return TRDI_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* PNG reading                                                                                */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *bytes;
    size_t size, pos;
    char msg[200];
} png_mem_reader;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_mem_reader *r = png_get_error_ptr(png);
    if (r) snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* benign (e.g. an unknown ancillary chunk): the library never prints */
}

static void png_read_fn(png_structp png, png_bytep dst, size_t n) {
    png_mem_reader *r = png_get_io_ptr(png);
    if (n > r->size - r->pos) png_error(png, "file is truncated");
    memcpy(dst, r->bytes + r->pos, n);
    r->pos += n;
}

static trdi_status read_png(const uint8_t *bytes, size_t size, const char *name, trdi_image *out) {
    png_mem_reader rd = {bytes, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &rd, png_err_fn, png_warn_fn);
    if (!png) return trdi_fail(TRDI_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    png_infop info = png_create_info_struct(png);
    /* Written after setjmp and read after a longjmp: volatile (C11 7.13.2.1). */
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: corrupt PNG: %s", name, rd.msg);
    }
    png_set_user_limits(png, MAX_SIDE, MAX_SIDE);
    png_set_read_fn(png, &rd, png_read_fn);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    /* Normalise to 8-bit gray or RGB as PIL's open + convert("RGB"/"L") does: expand palettes and
     * low bit depths, keep the high byte of 16-bit colour and gray+alpha samples (PIL's ";16B"
     * raw modes), but clip 16-bit gray to 255 (PIL opens it as 32-bit mode "I" and clips on
     * conversion); drop alpha (tRNS is ignored, as convert("RGB") ignores it). */
    bool gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    size_t bps = gray16 ? 2 : 1; /* bytes per sample as read */
    if ((ch != 1 && ch != 3) || png_get_bit_depth(png, info) != (gray16 ? 16 : 8))
        png_error(png, "unexpected channel layout after conversion");
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * (size_t)ch * bps) png_error(png, "unexpected row size");
    pixels = trdi_mallocn((size_t)w * (size_t)h, (size_t)ch * bps);
    rows = trdi_mallocn(h, sizeof *rows);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    if (gray16) /* big-endian 16-bit -> clipped 8-bit, in place (i <= 2i) */
        for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
            unsigned v = ((unsigned)pixels[2 * i] << 8) | pixels[2 * i + 1];
            pixels[i] = (uint8_t)(v > 255 ? 255 : v);
        }
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->width = w;
    out->height = h;
    out->channels = ch;
    out->data = pixels;
    return TRDI_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* JPEG reading                                                                               */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

/* libjpeg's default error_exit calls exit(): jump back instead. */
static void jpeg_error_exit_fn(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings (level -1) mean corrupt or truncated data (e.g. "Premature end of JPEG file"); PIL
 * refuses such files too, so they are errors here. Trace messages (level >= 0) are ignored. */
static void jpeg_emit_fn(j_common_ptr cinfo, int level) {
    if (level < 0) jpeg_error_exit_fn(cinfo);
}

static void jpeg_output_fn(j_common_ptr cinfo) {
    (void)cinfo; /* the library never prints */
}

static trdi_status read_jpeg(const uint8_t *bytes, size_t size, const char *name, trdi_image *out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    uint8_t *volatile pixels = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit_fn;
    err.pub.emit_message = jpeg_emit_fn;
    err.pub.output_message = jpeg_output_fn;
    err.msg[0] = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return trdi_fail(TRDI_ERR_FORMAT, "%s: corrupt JPEG: %s", name, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)bytes, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: CMYK JPEG images are not supported", name);
    }
    if (cinfo.image_width > MAX_SIDE || cinfo.image_height > MAX_SIDE) {
        jpeg_destroy_decompress(&cinfo);
        return trdi_fail(TRDI_ERR_UNSUPPORTED,
                         "%s: JPEG of %ux%u pixels is too large (max %d a side)", name,
                         (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, MAX_SIDE);
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int ch = cinfo.output_components;
    size_t w = cinfo.output_width, h = cinfo.output_height;
    if ((ch != 1 && ch != 3) || w == 0 || h == 0) {
        snprintf(err.msg, sizeof err.msg, "unexpected output layout (%d components)", ch);
        longjmp(err.jump, 1);
    }
    pixels = trdi_mallocn(w * h, (size_t)ch);
    if (!pixels) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * w * (size_t)ch;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            snprintf(err.msg, sizeof err.msg, "cannot read scanline %u", cinfo.output_scanline);
            longjmp(err.jump, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    out->width = (int64_t)w;
    out->height = (int64_t)h;
    out->channels = ch;
    out->data = pixels;
    return TRDI_OK;
}

trdi_status trdi_image_read_memory(const void *bytes, size_t size, const char *name,
                                   trdi_image *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_image_read_memory: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = "image";
    if (!bytes && size) return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: bytes is NULL", name);
    const uint8_t *b = bytes;
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (size == 0) return trdi_fail(TRDI_ERR_FORMAT, "%s: empty file (0 bytes)", name);
    if (size >= 8 && !memcmp(b, png_magic, 8)) return read_png(b, size, name, out);
    if (size >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
        if (size > 0xffffffffu)
            return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: JPEG file too large", name);
        return read_jpeg(b, size, name, out);
    }
    return trdi_fail(TRDI_ERR_FORMAT, "%s: not a PNG or JPEG image (unrecognised magic bytes)",
                     name);
}

trdi_status trdi_image_read(const char *path, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_image_read: path or out is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return trdi_fail(TRDI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return trdi_fail(TRDI_ERR_IO, "%s: not a regular file", path);
    }
    /* Images this large (1 GiB) are refused before reading them. */
    if (st.st_size > ((off_t)1 << 30)) {
        fclose(f);
        return trdi_fail(TRDI_ERR_UNSUPPORTED, "%s: file too large (%lld bytes)", path,
                         (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(buf);
        return trdi_fail(TRDI_ERR_IO, "%s: read error", path);
    }
    trdi_status s = trdi_image_read_memory(buf, n, path, out);
    free(buf);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static const char *path_ext(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return "";
    return dot;
}

static trdi_status write_png(FILE *f, const char *path, const trdi_image *img) {
    png_mem_reader errbuf = {NULL, 0, 0, {0}};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &errbuf, png_err_fn, png_warn_fn);
    if (!png) return trdi_fail(TRDI_ERR_NOMEM, "%s: cannot create a PNG writer", path);
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return trdi_fail(TRDI_ERR_NOMEM, "%s: cannot create a PNG writer", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_write_struct(&png, &info);
        return trdi_fail(TRDI_ERR_IO, "%s: PNG write failed: %s", path, errbuf.msg);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    rows = trdi_mallocn((size_t)img->height, sizeof *rows);
    if (!rows) png_error(png, "out of memory");
    for (int64_t y = 0; y < img->height; y++)
        rows[y] = img->data + (size_t)(y * img->width * img->channels);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return TRDI_OK;
}

static trdi_status write_jpeg(FILE *f, const char *path, const trdi_image *img, int quality) {
    struct jpeg_compress_struct cinfo;
    jpeg_err err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit_fn;
    err.pub.output_message = jpeg_output_fn;
    err.msg[0] = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        return trdi_fail(TRDI_ERR_IO, "%s: JPEG write failed: %s", path, err.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)img->width;
    cinfo.image_height = (JDIMENSION)img->height;
    cinfo.input_components = (int)img->channels;
    cinfo.in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row =
            img->data + (size_t)cinfo.next_scanline * (size_t)(img->width * img->channels);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return TRDI_OK;
}

trdi_status trdi_image_write(const char *path, const trdi_image *img, int jpeg_quality) {
    if (!path || !*path) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_image_write: empty path");
    trdi_status st = trdi_image_check(img, path);
    if (st) return st;
    if (img->width > 65535 || img->height > 65535)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: image of %lldx%lld is too large to write", path,
                         (long long)img->width, (long long)img->height);
    const char *ext = path_ext(path);
    int is_png = !strcasecmp(ext, ".png");
    int is_jpeg = !strcasecmp(ext, ".jpg") || !strcasecmp(ext, ".jpeg");
    if (!is_png && !is_jpeg)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "%s: unknown image extension '%s' (use .png, .jpg or .jpeg)", path, ext);
    if (is_jpeg && (jpeg_quality < 1 || jpeg_quality > 100))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: JPEG quality must be in 1..100, got %d", path,
                         jpeg_quality);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return trdi_fail(TRDI_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st =
            trdi_fail(TRDI_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    /* mkstemp creates 0600; give the file the usual permissions (subject to the umask). */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        st = trdi_fail(TRDI_ERR_IO, "%s: cannot open a temporary file: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return st;
    }
    st = is_png ? write_png(f, path, img) : write_jpeg(f, path, img, jpeg_quality);
    if (fflush(f) != 0 || ferror(f)) {
        if (!st) st = trdi_fail(TRDI_ERR_IO, "%s: write error: %s", path, strerror(errno));
    }
    if (fclose(f) != 0 && !st)
        st = trdi_fail(TRDI_ERR_IO, "%s: write error: %s", path, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = trdi_fail(TRDI_ERR_IO, "%s: cannot rename the temporary file into place: %s", path,
                       strerror(errno));
    if (st) unlink(tmp);
    free(tmp);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Conversion and cropping                                                                    */
/* ---------------------------------------------------------------------------------------- */

trdi_status trdi_image_convert(const trdi_image *in, int64_t channels, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    trdi_status st = trdi_image_check(in, "trdi_image_convert");
    if (st) return st;
    if (channels != 1 && channels != 3)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "trdi_image_convert: channels must be 1 or 3, got %lld",
                         (long long)channels);
    if (channels == in->channels) return trdi_image_copy(in, out);
    st = trdi_image_alloc(in->width, in->height, channels, out);
    if (st) return st;
    size_t n = (size_t)(in->width * in->height);
    if (channels == 3) {
        for (size_t i = 0; i < n; i++)
            out->data[3 * i] = out->data[3 * i + 1] = out->data[3 * i + 2] = in->data[i];
    } else {
        /* PIL's ImagingConvert RGB -> L: ITU-R 601-2 luma in 16-bit fixed point. */
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = in->data + 3 * i;
            uint32_t l = 19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 0x8000u;
            out->data[i] = (uint8_t)(l >> 16);
        }
    }
    return TRDI_OK;
}

trdi_status trdi_image_crop(const trdi_image *in, int64_t x, int64_t y, int64_t width,
                            int64_t height, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    trdi_status st = trdi_image_check(in, "trdi_image_crop");
    if (st) return st;
    if (x < 0 || y < 0 || width < 1 || height < 1 || x > in->width - width ||
        y > in->height - height)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "crop window %lldx%lld at (%lld, %lld) is not inside the %lldx%lld image",
                         (long long)width, (long long)height, (long long)x, (long long)y,
                         (long long)in->width, (long long)in->height);
    st = trdi_image_alloc(width, height, in->channels, out);
    if (st) return st;
    size_t row = (size_t)(width * in->channels);
    for (int64_t r = 0; r < height; r++)
        memcpy(out->data + (size_t)r * row,
               in->data + (size_t)(((y + r) * in->width + x) * in->channels), row);
    return TRDI_OK;
}

trdi_status trdi_image_center_crop_square(const trdi_image *in, trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    trdi_status st = trdi_image_check(in, "trdi_image_center_crop_square");
    if (st) return st;
    int64_t s = in->width < in->height ? in->width : in->height;
    return trdi_image_crop(in, (in->width - s) / 2, (in->height - s) / 2, s, s, out);
}

trdi_status trdi_image_fit(const trdi_image *in, int64_t width, int64_t height, int64_t channels,
                           trdi_image *out) {
    if (out) memset(out, 0, sizeof *out);
    trdi_status st = trdi_image_check(in, "trdi_image_fit");
    if (st) return st;
    if (width < 1 || height < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "target size %lldx%lld: both sides must be >= 1",
                         (long long)width, (long long)height);
    trdi_image conv = {0}, crop = {0};
    st = trdi_image_convert(in, channels, &conv);
    if (st) return st;
    if (conv.width == width && conv.height == height) {
        *out = conv;
        return TRDI_OK;
    }
    /* Largest window of the target aspect ratio (cross-multiplied to stay in integers). */
    int64_t cw = conv.width, chh = conv.height;
    if (conv.width * height > conv.height * width)
        cw = conv.height * width / height;
    else
        chh = conv.width * height / width;
    if (cw < 1) cw = 1;
    if (chh < 1) chh = 1;
    st = trdi_image_crop(&conv, (conv.width - cw) / 2, (conv.height - chh) / 2, cw, chh, &crop);
    trdi_image_clear(&conv);
    if (st) return st;
    st = trdi_image_resize(&crop, width, height, out);
    trdi_image_clear(&crop);
    return st;
}
