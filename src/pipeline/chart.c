/* chart.c -- tiny raster charts (line and grouped bar) drawn into an RGB trdi_image with a built-in
 * 5x7 bitmap font: axes, "nice" ticks (linear or powers of ten), grid, title, axis labels, coloured
 * series and a legend. For the CLI's PNG outputs (analyze, evaluation); not a plotting library:
 * no anti-aliasing, ASCII text only (lowercase drawn as uppercase). */
#include "pipeline/pipeline.h"

#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- Font: 7 rows of 5 bits (bit 4 = leftmost column) per glyph -------------------------------- */

typedef struct {
    char c;
    unsigned char rows[7];
} glyph;

static const glyph FONT[] = {
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}},
    {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}},
    {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
    {'*', {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}},
    {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'|', {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'^', {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00}},
    {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
    {'\'', {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}},
    {'"', {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00}},
};

/* An unknown character draws as a hollow box. */
static const unsigned char BOX[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

static const unsigned char *glyph_rows(char c) {
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    for (size_t i = 0; i < sizeof FONT / sizeof FONT[0]; i++)
        if (FONT[i].c == c) return FONT[i].rows;
    return BOX;
}

/* --- Raster ---------------------------------------------------------------------------------- */

typedef struct {
    unsigned char r, g, b;
} rgb;

static const rgb PALETTE[8] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                               {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};
static const rgb BLACK = {0, 0, 0}, GRID = {225, 225, 225}, WHITE = {255, 255, 255},
                 DARK = {60, 60, 60};

#define SCALE 2                 /* text pixels per font pixel */
#define CHAR_W (6 * SCALE)      /* advance */
#define CHAR_H (7 * SCALE)

static void put(trdi_image *im, int64_t x, int64_t y, rgb c) {
    if (x < 0 || y < 0 || x >= im->width || y >= im->height) return;
    uint8_t *p = im->data + (y * im->width + x) * 3;
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
}

static void fill(trdi_image *im, int64_t x0, int64_t y0, int64_t x1, int64_t y1, rgb c) {
    for (int64_t y = y0; y <= y1; y++)
        for (int64_t x = x0; x <= x1; x++) put(im, x, y, c);
}

/* Bresenham, `thick` x `thick` pen. */
static void line(trdi_image *im, int64_t x0, int64_t y0, int64_t x1, int64_t y1, int thick, rgb c) {
    int64_t dx = llabs(x1 - x0), dy = -llabs(y1 - y0);
    int64_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        fill(im, x0 - thick / 2, y0 - thick / 2, x0 - thick / 2 + thick - 1,
             y0 - thick / 2 + thick - 1, c);
        if (x0 == x1 && y0 == y1) break;
        int64_t e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

static int64_t text_width(const char *s) {
    int64_t n = (int64_t)strlen(s);
    return n ? n * CHAR_W - SCALE : 0;
}

/* Horizontal text with its top-left corner at (x, y). */
static void text(trdi_image *im, int64_t x, int64_t y, const char *s, rgb c) {
    for (; *s; s++, x += CHAR_W) {
        const unsigned char *rows = glyph_rows(*s);
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (rows[r] & (0x10 >> b))
                    fill(im, x + b * SCALE, y + r * SCALE, x + b * SCALE + SCALE - 1,
                         y + r * SCALE + SCALE - 1, c);
    }
}

/* Text rotated 90 degrees counter-clockwise (reads bottom to top); (x, y) = bottom-left. */
static void text_up(trdi_image *im, int64_t x, int64_t y, const char *s, rgb c) {
    for (; *s; s++, y -= CHAR_W) {
        const unsigned char *rows = glyph_rows(*s);
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (rows[r] & (0x10 >> b))
                    fill(im, x + r * SCALE, y - b * SCALE - SCALE + 1, x + r * SCALE + SCALE - 1,
                         y - b * SCALE, c);
    }
}

/* --- Axes ------------------------------------------------------------------------------------- */

typedef struct {
    int64_t x0, y0, x1, y1; /* plot area, pixels (y0 top) */
    double xlo, xhi, ylo, yhi;
    bool log_y;
} frame;

static double nice_step(double range, int target) {
    double raw = range / target;
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * p;
}

static void fmt_tick(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0.0;
    if (fabs(v) >= 1e5 || (fabs(v) < 1e-3 && v != 0.0))
        snprintf(buf, n, "%.0e", v);
    else
        snprintf(buf, n, "%g", v);
}

static int64_t map_x(const frame *f, double x) {
    return f->x0 + (int64_t)llround((x - f->xlo) / (f->xhi - f->xlo) * (double)(f->x1 - f->x0));
}

static int64_t map_y(const frame *f, double y) {
    double v = f->log_y ? log10(y) : y;
    return f->y1 - (int64_t)llround((v - f->ylo) / (f->yhi - f->ylo) * (double)(f->y1 - f->y0));
}

/* Y range (in axis units: log10 when log_y) padded to ticks; draws the y grid and labels. */
static void y_axis(trdi_image *im, frame *f, double lo, double hi, bool from_zero) {
    if (f->log_y) {
        lo = floor(lo);
        hi = ceil(hi);
        if (hi <= lo) hi = lo + 1.0;
    } else {
        if (from_zero) {
            if (lo > 0.0) lo = 0.0;
            if (hi < 0.0) hi = 0.0;
        }
        if (hi <= lo) {
            double pad = fabs(lo) > 0.0 ? fabs(lo) * 0.1 : 1.0;
            lo -= pad;
            hi += pad;
        }
        double step = nice_step(hi - lo, 5);
        lo = floor(lo / step) * step;
        hi = ceil(hi / step) * step;
    }
    f->ylo = lo;
    f->yhi = hi;
    double step = f->log_y ? (hi - lo > 8 ? ceil((hi - lo) / 8) : 1.0) : nice_step(hi - lo, 5);
    for (double v = lo; v <= hi + step * 1e-6; v += step) {
        int64_t y = f->y1 - (int64_t)llround((v - lo) / (hi - lo) * (double)(f->y1 - f->y0));
        line(im, f->x0, y, f->x1, y, 1, GRID);
        line(im, f->x0 - 5, y, f->x0, y, 1, BLACK);
        char buf[32];
        if (f->log_y)
            snprintf(buf, sizeof buf, "1E%d", (int)llround(v));
        else
            fmt_tick(buf, sizeof buf, v, step);
        text(im, f->x0 - 8 - text_width(buf), y - CHAR_H / 2, buf, BLACK);
    }
}

static void x_axis_numeric(trdi_image *im, frame *f, double lo, double hi) {
    if (hi <= lo) {
        lo -= 1.0;
        hi += 1.0;
    }
    double step = nice_step(hi - lo, 6);
    f->xlo = lo;
    f->xhi = hi;
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-6; v += step) {
        int64_t x = map_x(f, v);
        line(im, x, f->y0, x, f->y1, 1, GRID);
        line(im, x, f->y1, x, f->y1 + 5, 1, BLACK);
        char buf[32];
        fmt_tick(buf, sizeof buf, v, step);
        text(im, x - text_width(buf) / 2, f->y1 + 9, buf, BLACK);
    }
}

static void decorations(trdi_image *im, const frame *f, const trdi_chart_params *p) {
    line(im, f->x0, f->y0, f->x0, f->y1, 1, BLACK);
    line(im, f->x0, f->y1, f->x1, f->y1, 1, BLACK);
    if (p->title) text(im, (im->width - text_width(p->title)) / 2, 10, p->title, BLACK);
    if (p->x_label)
        text(im, f->x0 + (f->x1 - f->x0 - text_width(p->x_label)) / 2, im->height - CHAR_H - 8,
             p->x_label, DARK);
    if (p->y_label)
        text_up(im, 8, f->y0 + (f->y1 - f->y0 + text_width(p->y_label)) / 2, p->y_label, DARK);
}

/* The legend box size for these series (0 x 0 when no series has a label). */
static void legend_size(const trdi_chart_series *s, int64_t n, int64_t *bw, int64_t *bh) {
    int64_t w = 0, rows = 0;
    for (int64_t i = 0; i < n; i++)
        if (s[i].label) {
            int64_t tw = text_width(s[i].label);
            if (tw > w) w = tw;
            rows++;
        }
    *bw = rows ? w + 40 : 0;
    *bh = rows ? rows * (CHAR_H + 6) + 8 : 0;
}

/* Draws the legend with its top-left corner at (x, y). */
static void legend(trdi_image *im, int64_t x, int64_t y, const trdi_chart_series *s, int64_t n) {
    int64_t bw, bh;
    legend_size(s, n, &bw, &bh);
    if (!bw) return;
    fill(im, x, y, x + bw, y + bh, WHITE);
    line(im, x, y, x + bw, y, 1, DARK);
    line(im, x, y + bh, x + bw, y + bh, 1, DARK);
    line(im, x, y, x, y + bh, 1, DARK);
    line(im, x + bw, y, x + bw, y + bh, 1, DARK);
    int64_t r = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!s[i].label) continue;
        int64_t yy = y + 6 + r * (CHAR_H + 6);
        fill(im, x + 6, yy + 2, x + 26, yy + CHAR_H - 3, PALETTE[i % 8]);
        text(im, x + 32, yy, s[i].label, BLACK);
        r++;
    }
}

/* Draws the legend in the plot corner that covers the fewest coloured (data) pixels. */
static void place_legend(trdi_image *out, const frame *fr, const trdi_chart_series *series,
                         int64_t n_series) {
    int64_t bw, bh, best = -1, bx = 0, by = 0;
    legend_size(series, n_series, &bw, &bh);
    for (int corner = 0; corner < 4 && bw; corner++) {
        int64_t x = corner & 1 ? fr->x0 + 8 : fr->x1 - bw - 8;
        int64_t y = corner & 2 ? fr->y1 - bh - 8 : fr->y0 + 8;
        int64_t covered = 0;
        for (int64_t yy = y; yy <= y + bh; yy++)
            for (int64_t xx = x; xx <= x + bw; xx++) {
                if (xx < 0 || yy < 0 || xx >= out->width || yy >= out->height) continue;
                const uint8_t *px = out->data + (yy * out->width + xx) * 3;
                covered += px[0] != px[1] || px[1] != px[2]; /* coloured = a series */
            }
        if (best < 0 || covered < best) {
            best = covered;
            bx = x;
            by = y;
        }
    }
    legend(out, bx, by, series, n_series);
}

static bool usable(double v, bool log_y) {
    return isfinite(v) && (!log_y || v > 0.0);
}

static trdi_status setup(const trdi_chart_params *p, const trdi_chart_series *s, int64_t n,
                         trdi_image *out, trdi_chart_params *q, frame *f) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "chart: out is NULL");
    memset(out, 0, sizeof *out);
    *q = p ? *p : trdi_chart_default_params();
    if (q->width < 200 || q->height < 150 || q->width > 8192 || q->height > 8192)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "chart: size %lld x %lld outside 200x150..8192x8192",
                         (long long)q->width, (long long)q->height);
    if (!s || n < 1 || n > 8)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "chart: need 1 to 8 series, got %lld", (long long)n);
    trdi_status st = trdi_image_alloc(q->width, q->height, 3, out);
    if (st) return st;
    memset(out->data, 255, (size_t)(q->width * q->height * 3));
    memset(f, 0, sizeof *f);
    f->x0 = 100;
    f->x1 = q->width - 24;
    f->y0 = q->title ? 40 : 20;
    f->y1 = q->height - (q->x_label ? 60 : 36);
    f->log_y = q->log_y;
    return TRDI_OK;
}

trdi_chart_params trdi_chart_default_params(void) {
    trdi_chart_params p;
    memset(&p, 0, sizeof p);
    p.width = 800;
    p.height = 500;
    return p;
}

trdi_status trdi_chart_line(const trdi_chart_params *p, const trdi_chart_series *series,
                            int64_t n_series, trdi_image *out) {
    trdi_chart_params q;
    frame f;
    trdi_status st = setup(p, series, n_series, out, &q, &f);
    if (st) return st;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int64_t i = 0; i < n_series; i++) {
        if (!series[i].x || !series[i].y || series[i].n < 0) {
            trdi_image_clear(out);
            return trdi_fail(TRDI_ERR_INVALID_ARG, "chart: series %lld has no x or y values",
                             (long long)i);
        }
        for (int64_t k = 0; k < series[i].n; k++) {
            double x = series[i].x[k], y = series[i].y[k];
            if (!isfinite(x) || !usable(y, q.log_y)) continue;
            double v = q.log_y ? log10(y) : y;
            xlo = fmin(xlo, x);
            xhi = fmax(xhi, x);
            ylo = fmin(ylo, v);
            yhi = fmax(yhi, v);
        }
    }
    if (!(xlo <= xhi)) {
        trdi_image_clear(out);
        return trdi_fail(TRDI_ERR_INVALID_ARG, "chart: no finite point to draw");
    }
    y_axis(out, &f, ylo, yhi, false);
    x_axis_numeric(out, &f, xlo, xhi);
    for (int64_t i = 0; i < n_series; i++) {
        rgb c = PALETTE[i % 8];
        bool have = false;
        int64_t px = 0, py = 0;
        for (int64_t k = 0; k < series[i].n; k++) {
            double x = series[i].x[k], y = series[i].y[k];
            if (isfinite(x) && isinf(y) && y > 0 && x >= xlo && x <= xhi) {
                /* Off the top of the scale: a label at the top of the plot, kept inside it,
                 * stacked below the labels of earlier series at the same x. */
                int64_t row = 0;
                for (int64_t j = 0; j < i; j++)
                    for (int64_t kk = 0; kk < series[j].n; kk++)
                        if (series[j].x[kk] == x && isinf(series[j].y[kk]) && series[j].y[kk] > 0) {
                            row++;
                            break;
                        }
                int64_t tw = text_width("inf"), X = map_x(&f, x) - tw / 2;
                if (X + tw > f.x1 - 2) X = f.x1 - 2 - tw;
                if (X < f.x0 + 2) X = f.x0 + 2;
                text(out, X, f.y0 + 4 + row * (CHAR_H + 2), "inf", c);
            }
            if (!isfinite(x) || !usable(y, q.log_y)) {
                have = false; /* a gap */
                continue;
            }
            int64_t X = map_x(&f, x), Y = map_y(&f, y);
            if (have) line(out, px, py, X, Y, 2, c);
            fill(out, X - 2, Y - 2, X + 2, Y + 2, c);
            px = X;
            py = Y;
            have = true;
        }
    }
    decorations(out, &f, &q);
    place_legend(out, &f, series, n_series);
    return TRDI_OK;
}

trdi_status trdi_chart_bar(const trdi_chart_params *p, const char *const *categories,
                           int64_t n_categories, const trdi_chart_series *series,
                           int64_t n_series, trdi_image *out) {
    trdi_chart_params q;
    frame f;
    trdi_status st = setup(p, series, n_series, out, &q, &f);
    if (st) return st;
    if (n_categories < 1) {
        trdi_image_clear(out);
        return trdi_fail(TRDI_ERR_INVALID_ARG, "chart: a bar chart needs at least one category");
    }
    double ylo = INFINITY, yhi = -INFINITY;
    for (int64_t i = 0; i < n_series; i++) {
        if (!series[i].y || series[i].n != n_categories) {
            trdi_image_clear(out);
            return trdi_fail(TRDI_ERR_INVALID_ARG,
                             "chart: series %lld must hold %lld values (one per category)",
                             (long long)i, (long long)n_categories);
        }
        for (int64_t k = 0; k < n_categories; k++) {
            double y = series[i].y[k];
            if (!usable(y, q.log_y)) continue;
            double v = q.log_y ? log10(y) : y;
            ylo = fmin(ylo, v);
            yhi = fmax(yhi, v);
        }
    }
    if (!(ylo <= yhi)) {
        trdi_image_clear(out);
        return trdi_fail(TRDI_ERR_INVALID_ARG, "chart: no finite value to draw");
    }
    y_axis(out, &f, ylo, yhi, !q.log_y);
    double group = (double)(f.x1 - f.x0) / (double)n_categories;
    double bar = group * 0.8 / (double)n_series;
    /* Bars grow from zero (linear) or from the bottom of the axis (log). */
    double base_v = q.log_y ? f.ylo : fmax(f.ylo, fmin(0.0, f.yhi));
    int64_t base = f.y1 - (int64_t)llround((base_v - f.ylo) / (f.yhi - f.ylo) * (double)(f.y1 - f.y0));
    for (int64_t k = 0; k < n_categories; k++) {
        double gx = (double)f.x0 + group * (double)k + group * 0.1;
        for (int64_t i = 0; i < n_series; i++) {
            double y = series[i].y[k];
            int64_t X0 = (int64_t)llround(gx + bar * (double)i);
            int64_t X1 = (int64_t)llround(gx + bar * (double)(i + 1)) - 1;
            if (isinf(y) && y > 0 && !q.log_y) {
                /* Off the scale (e.g. the PSNR of identical images): say so instead of an empty
                 * slot that reads as "missing". */
                int64_t tw = text_width("inf");
                if (tw <= X1 - X0 + 1 + CHAR_W)
                    text(out, (X0 + X1 - tw) / 2, base - CHAR_H - 4, "inf", PALETTE[i % 8]);
                continue;
            }
            if (!usable(y, q.log_y)) continue;
            int64_t Y = map_y(&f, y);
            fill(out, X0, Y < base ? Y : base, X1 > X0 ? X1 : X0, Y < base ? base : Y,
                 PALETTE[i % 8]);
        }
        if (categories && categories[k]) {
            char buf[64];
            int64_t maxc = (int64_t)(group / CHAR_W);
            if (maxc < 1) maxc = 1;
            if (maxc > 63) maxc = 63;
            snprintf(buf, sizeof buf, "%.*s", (int)maxc, categories[k]);
            int64_t cx = f.x0 + (int64_t)llround(group * ((double)k + 0.5));
            text(out, cx - text_width(buf) / 2, f.y1 + 9, buf, BLACK);
        }
    }
    decorations(out, &f, &q);
    place_legend(out, &f, series, n_series);
    return TRDI_OK;
}
