/* sd_nn.c -- layers shared by the Stable Diffusion UNet and VAE (see sd_nn.h): the two-pass weight
 * loader, the measuring activation allocator, conv / group norm / ResnetBlock2D / attention as
 * diffusers 0.31 computes them (resnet.py ResnetBlock2D, attention_processor.py AttnProcessor).
 * Not here: block wiring (unet.c, vae.c). */
#include "model/sd_nn.h"

#include "kernels/conv.h"
#include "kernels/kernels.h"
#include "kernels/unet_ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest im2col buffer per convolution, in floats (64 MiB): keeps the working set bounded at
 * 512x512 while still giving GEMMs with hundreds of columns. */
#define SD_CONV_SCRATCH ((size_t)16 * 1024 * 1024)

/* ---- weight loader --------------------------------------------------------------------------- */

/* Records (pass 1) or reads (pass 2) one tensor. as16: store the file's fp16 bits in buf16
 * (only asked for when the file holds it as F16). Returns the float32 copy or NULL. */
static const float *wl_take(sd_wl *wl, int ndim, const int64_t *dims, const char *name,
                            bool as16, const uint16_t **w16) {
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= dims[i];
    if (!wl->load) {
        if (wl->n == wl->cap) {
            int64_t nc = wl->cap ? wl->cap * 2 : 256;
            trdi_st_spec *s = realloc(wl->specs, (size_t)nc * sizeof *s);
            char **nm = s ? realloc(wl->names, (size_t)nc * sizeof *nm) : NULL;
            if (s) wl->specs = s;
            if (!s || !nm) {
                wl->err = trdi_fail(TRDI_ERR_NOMEM, "out of memory listing weights");
                return NULL;
            }
            wl->names = nm;
            wl->cap = nc;
        }
        char *copy = strdup(name);
        if (!copy) {
            wl->err = trdi_fail(TRDI_ERR_NOMEM, "out of memory listing weights");
            return NULL;
        }
        trdi_st_spec *s = &wl->specs[wl->n];
        memset(s, 0, sizeof *s);
        s->name = copy;
        s->ndim = ndim;
        for (int i = 0; i < ndim; i++) s->shape[i] = dims[i];
        wl->names[wl->n++] = copy;
        if (as16)
            wl->total16 += (size_t)numel;
        else
            wl->total += (size_t)numel;
        return NULL;
    }
    if (as16) {
        if (wl->off16 + (size_t)numel > wl->total16) {
            wl->err = trdi_fail(TRDI_ERR_INTERNAL, "weight %s: loader passes disagree", name);
            return NULL;
        }
        uint16_t *dst = wl->buf16 + wl->off16;
        trdi_status st = trdi_safetensors_read_raw(wl->f, name, TRDI_ST_F16, dst,
                                                   (size_t)numel * sizeof(uint16_t));
        if (st != TRDI_OK) {
            wl->err = st;
            return NULL;
        }
        wl->off16 += (size_t)numel;
        *w16 = dst;
        return NULL;
    }
    if (wl->off + (size_t)numel > wl->total) {
        wl->err = trdi_fail(TRDI_ERR_INTERNAL, "weight %s: loader passes disagree", name);
        return NULL;
    }
    float *dst = wl->buf + wl->off;
    trdi_status st = trdi_safetensors_read_f32_shape(wl->f, name, ndim, dims, dst);
    if (st != TRDI_OK) {
        wl->err = st;
        return NULL;
    }
    wl->off += (size_t)numel;
    return dst;
}

/* prefix + the formatted name into name[512]. */
static void wl_name(const sd_wl *wl, char name[512], const char *fmt, va_list ap) {
    int np = snprintf(name, 512, "%s", wl->prefix ? wl->prefix : "");
    vsnprintf(name + np, 512 - (size_t)np, fmt, ap);
}

const float *sd_wl_get(sd_wl *wl, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                       const char *fmt, ...) {
    if (wl->err != TRDI_OK) return NULL;
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    wl_name(wl, name, fmt, ap);
    va_end(ap);
    int64_t dims[4] = {d0, d1, d2, d3};
    return wl_take(wl, ndim, dims, name, false, NULL);
}

void sd_wl_get_mat(sd_wl *wl, const float **w, const uint16_t **w16, int ndim, int64_t d0,
                   int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...) {
    *w = NULL;
    *w16 = NULL;
    if (wl->err != TRDI_OK) return;
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    wl_name(wl, name, fmt, ap);
    va_end(ap);
    int64_t dims[4] = {d0, d1, d2, d3};
    /* The same answer in both passes: the file does not change in between. A missing or
     * misshapen tensor is reported by the check between the passes. */
    const trdi_st_tensor *t = wl->keep_f16 ? trdi_safetensors_lookup(wl->f, name) : NULL;
    bool as16 = t && t->dtype == TRDI_ST_F16;
    for (int i = 0; as16 && i < ndim; i++) as16 = t->ndim == ndim && t->shape[i] == dims[i];
    *w = wl_take(wl, ndim, dims, name, as16, w16);
}

trdi_status sd_wl_begin_load(sd_wl *wl, const char *what, bool allow_unexpected) {
    if (wl->err != TRDI_OK) return wl->err;
    trdi_status st = trdi_safetensors_check(wl->f, wl->specs, wl->n, allow_unexpected, NULL);
    if (st != TRDI_OK) {
        trdi_error_prefix("%s weights do not match its config", what);
        return st;
    }
    wl->buf = trdi_malloc_large(wl->total ? wl->total : 1, sizeof(float));
    if (!wl->buf)
        return trdi_fail(TRDI_ERR_NOMEM, "%s: cannot allocate %zu weight floats", what,
                         wl->total);
    if (wl->total16) {
        wl->buf16 = trdi_malloc_large(wl->total16, sizeof(uint16_t));
        if (!wl->buf16)
            return trdi_fail(TRDI_ERR_NOMEM, "%s: cannot allocate %zu fp16 weights", what,
                             wl->total16);
    }
    wl->load = true;
    wl->off = 0;
    wl->off16 = 0;
    return TRDI_OK;
}

void sd_wl_free_specs(sd_wl *wl) {
    for (int64_t i = 0; i < wl->n; i++) free(wl->names[i]);
    free(wl->names);
    free(wl->specs);
    wl->names = NULL;
    wl->specs = NULL;
    wl->n = wl->cap = 0;
}

void sd_load_conv(sd_wl *wl, sd_conv *c, int64_t cin, int64_t cout, int64_t k, const char *name) {
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    sd_wl_get_mat(wl, &c->w, &c->w16, 4, cout, cin, k, k, "%s.weight", name);
    c->b = sd_wl_get(wl, 1, cout, 0, 0, 0, "%s.bias", name);
}

void sd_load_norm(sd_wl *wl, sd_norm *n, int64_t c, const char *name) {
    n->c = c;
    n->g = sd_wl_get(wl, 1, c, 0, 0, 0, "%s.weight", name);
    n->b = sd_wl_get(wl, 1, c, 0, 0, 0, "%s.bias", name);
}

void sd_load_lin(sd_wl *wl, sd_lin *l, int64_t in, int64_t out, bool bias, const char *name) {
    l->in = in;
    l->out = out;
    sd_wl_get_mat(wl, &l->w, &l->w16, 2, out, in, 0, 0, "%s.weight", name);
    l->b = bias ? sd_wl_get(wl, 1, out, 0, 0, 0, "%s.bias", name) : NULL;
}

void sd_load_conv1x1_as_lin(sd_wl *wl, sd_lin *l, int64_t in, int64_t out, const char *name) {
    l->in = in;
    l->out = out;
    sd_wl_get_mat(wl, &l->w, &l->w16, 4, out, in, 1, 1, "%s.weight", name);
    l->b = sd_wl_get(wl, 1, out, 0, 0, 0, "%s.bias", name);
}

void sd_load_resnet(sd_wl *wl, sd_resnet *r, int64_t cin, int64_t cout, int64_t temb_dim,
                    const char *name) {
    char nm[400];
    r->cin = cin;
    r->cout = cout;
    snprintf(nm, sizeof nm, "%s.norm1", name);
    sd_load_norm(wl, &r->norm1, cin, nm);
    snprintf(nm, sizeof nm, "%s.conv1", name);
    sd_load_conv(wl, &r->conv1, cin, cout, 3, nm);
    memset(&r->temb, 0, sizeof r->temb);
    if (temb_dim > 0) {
        snprintf(nm, sizeof nm, "%s.time_emb_proj", name);
        sd_load_lin(wl, &r->temb, temb_dim, cout, true, nm);
    }
    snprintf(nm, sizeof nm, "%s.norm2", name);
    sd_load_norm(wl, &r->norm2, cout, nm);
    snprintf(nm, sizeof nm, "%s.conv2", name);
    sd_load_conv(wl, &r->conv2, cout, cout, 3, nm);
    memset(&r->shortcut, 0, sizeof r->shortcut);
    if (cin != cout) {
        snprintf(nm, sizeof nm, "%s.conv_shortcut", name);
        sd_load_conv(wl, &r->shortcut, cin, cout, 1, nm);
    }
}

/* ---- activation allocator -------------------------------------------------------------------- */

static float sd_dummy_[16] __attribute__((aligned(64)));

float *sd_alloc(sd_act *a, size_t n) {
    if (a->measure) {
        size_t fp = trdi_arena_footprint(n * sizeof(float));
        if (fp == SIZE_MAX) return NULL;
        a->used += fp;
        if (a->used > a->peak) a->peak = a->used;
        return sd_dummy_;
    }
    return trdi_arena_floats(&a->arena, n);
}

size_t sd_mark(const sd_act *a) { return a->measure ? a->used : trdi_arena_mark(&a->arena); }

void sd_reset(sd_act *a, size_t mark) {
    if (a->measure)
        a->used = mark;
    else
        trdi_arena_reset_to(&a->arena, mark);
}

float *sd_keep(sd_act *a, size_t mark, float *src, size_t n) {
    size_t fp = trdi_arena_footprint(n * sizeof(float));
    if (a->measure) {
        a->used = mark + fp;
        return sd_dummy_;
    }
    float *dst = (float *)(void *)(a->arena.base + mark);
    if (dst != src) memmove(dst, src, n * sizeof(float));
    a->arena.used = mark + fp;
    return dst;
}

trdi_status sd_act_reserve(sd_act *a, size_t bytes) {
    if (a->arena.base && a->arena.cap >= bytes) return TRDI_OK;
    trdi_arena_free(&a->arena);
    return trdi_arena_init(&a->arena, bytes);
}

void sd_act_free(sd_act *a) { trdi_arena_free(&a->arena); }

#define SD_NEED(p)                                                                                 \
    do {                                                                                           \
        if (!(p)) return trdi_fail(TRDI_ERR_INTERNAL, "activation arena too small (sizing bug)"); \
    } while (0)

/* ---- layers ---------------------------------------------------------------------------------- */

/* Exact fp16 -> float32 of n values, in blocks over the OpenMP threads. */
static void f16_to_f32(const uint16_t *src, size_t n, float *dst) {
    const size_t block = (size_t)1 << 16;
    const int64_t nb = (int64_t)((n + block - 1) / block);
#pragma omp parallel for schedule(static) if (nb > 4)
    for (int64_t i = 0; i < nb; i++) {
        size_t off = (size_t)i * block, len = n - off < block ? n - off : block;
        (void)trdi_st_convert_to_f32(TRDI_ST_F16, src + off, len, dst + off); /* cannot fail */
    }
}

/* The float32 weight of n values: w, or w16 converted into the arena. */
static const float *weight_f32(sd_act *a, const float *w, const uint16_t *w16, size_t n) {
    if (!w16) return w;
    float *f = sd_alloc(a, n);
    if (f && !a->measure) f16_to_f32(w16, n, f);
    return f;
}

static const float *lin_weight(sd_act *a, const sd_lin *l) {
    return weight_f32(a, l->w, l->w16, (size_t)(l->out * l->in));
}

/* An fp16 weight used for at most this many rows goes to the fp16 GEMM, which reads it once
 * instead of converting it to float32 for sgemm (0: never; the kernel knows the crossover). */
static bool use_f16_gemm(const uint16_t *w16, int64_t rows) {
    return w16 && rows <= trdi_k_gemm_nt_f16_max_rows();
}

trdi_status sd_linear_ld(sd_act *a, const sd_lin *l, int64_t rows, const float *x, int64_t ldx,
                         float *y, int64_t ldy) {
    size_t mk = sd_mark(a);
    trdi_status st = TRDI_OK;
    if (use_f16_gemm(l->w16, rows)) {
        size_t ns = trdi_k_gemm_nt_f16_scratch(rows, l->in);
        float *scr = sd_alloc(a, ns);
        SD_NEED(scr);
        if (!a->measure)
            st = trdi_k_gemm_nt_f16(rows, l->out, l->in, x, ldx, l->w16, l->in, l->b, y, ldy, 1,
                                    scr, ns);
    } else {
        const float *w = lin_weight(a, l);
        SD_NEED(w);
        if (!a->measure) {
            /* y = bias + x W^T (torch.addmm order: the bias preloaded, sgemm adds) */
            if (l->b)
                for (int64_t r = 0; r < rows; r++)
                    memcpy(y + r * ldy, l->b, (size_t)l->out * sizeof(float));
            trdi_k_gemm(false, true, rows, l->out, l->in, 1.0f, x, ldx, w, l->in,
                        l->b ? 1.0f : 0.0f, y, ldy);
        }
    }
    sd_reset(a, mk);
    return st;
}

trdi_status sd_linear(sd_act *a, const sd_lin *l, int64_t rows, const float *x, float *y) {
    return sd_linear_ld(a, l, rows, x, l->in, y, l->out);
}

/* A convolution whose output has few pixels, with an fp16 weight: patches as rows (im2row), one
 * fp16 GEMM for the whole batch into (cout, b * plane), then per image into y. */
static trdi_status conv_f16_small(sd_act *a, const sd_conv *c, const trdi_conv2d_shape *s,
                                  const float *x, float *y) {
    int64_t oh = trdi_conv_out_len(s->h, s->kh, s->stride_h, s->pad_h);
    int64_t ow = trdi_conv_out_len(s->w, s->kw, s->stride_w, s->pad_w);
    int64_t plane = oh * ow, rows = s->n * plane, kk = s->c_in * s->kh * s->kw;
    size_t ns = trdi_k_gemm_nt_f16_scratch(rows, kk);
    float *patches = sd_alloc(a, (size_t)(rows * kk)), *scr = sd_alloc(a, ns);
    float *tmp = s->n > 1 ? sd_alloc(a, (size_t)(rows * c->cout)) : y;
    SD_NEED(patches && scr && tmp);
    if (a->measure) return TRDI_OK;
    trdi_conv2d_shape one = *s;
    one.n = 1;
    for (int64_t b = 0; b < s->n; b++)
        trdi_im2row(&one, x + b * s->c_in * s->h * s->w, patches + b * plane * kk);
    trdi_status st = trdi_k_gemm_nt_f16(rows, c->cout, kk, patches, kk, c->w16, kk, c->b, tmp, 1,
                                        rows, scr, ns);
    if (st != TRDI_OK || s->n == 1) return st;
    for (int64_t b = 0; b < s->n; b++)
        for (int64_t co = 0; co < c->cout; co++)
            memcpy(y + (b * c->cout + co) * plane, tmp + co * rows + b * plane,
                   (size_t)plane * sizeof(float));
    return TRDI_OK;
}

static trdi_status conv_into(sd_act *a, const sd_conv *c, int64_t b, int64_t h, int64_t w,
                             const float *x, int64_t stride, int64_t pad, float *y) {
    trdi_conv2d_shape s = {.n = b, .c_in = c->cin, .h = h, .w = w, .c_out = c->cout,
                           .kh = c->k, .kw = c->k, .stride_h = stride, .stride_w = stride,
                           .pad_h = pad, .pad_w = pad};
    size_t row = trdi_conv2d_scratch_floats(&s, 1);
    size_t need = 0;
    if (row > 0) {
        int64_t oh = trdi_conv_out_len(h, c->k, stride, pad);
        int64_t rows = (int64_t)(SD_CONV_SCRATCH / row);
        if (rows < 1) rows = 1;
        if (rows > oh) rows = oh;
        need = row * (size_t)rows;
        size_t batched = trdi_conv2d_scratch_batched(&s);
        if (batched > need && batched <= SD_CONV_SCRATCH) need = batched;
    }
    if (a->measure) {
        int64_t oh = trdi_conv_out_len(h, c->k, stride, pad), ow = trdi_conv_out_len(w, c->k, stride, pad);
        a->flops += 2.0 * (double)(b * c->cout * oh * ow) * (double)(c->cin * c->k * c->k);
    }
    size_t mk = sd_mark(a);
    int64_t out_pixels = b * trdi_conv_out_len(h, c->k, stride, pad) * trdi_conv_out_len(w, c->k, stride, pad);
    if (use_f16_gemm(c->w16, out_pixels)) {
        trdi_status st = conv_f16_small(a, c, &s, x, y);
        sd_reset(a, mk);
        return st;
    }
    const float *wf = weight_f32(a, c->w, c->w16, (size_t)(c->cout * c->cin * c->k * c->k));
    SD_NEED(wf);
    float *scratch = need ? sd_alloc(a, need) : NULL;
    if (need) SD_NEED(scratch);
    trdi_status st = TRDI_OK;
    if (!a->measure) st = trdi_conv2d(&s, x, wf, c->b, y, scratch, need);
    sd_reset(a, mk);
    return st;
}

trdi_status sd_conv2d(sd_act *a, const sd_conv *c, int64_t b, int64_t h, int64_t w,
                      const float *x, int64_t stride, int64_t pad, float **y, int64_t *oh,
                      int64_t *ow) {
    int64_t h2 = trdi_conv_out_len(h, c->k, stride, pad), w2 = trdi_conv_out_len(w, c->k, stride, pad);
    if (h2 <= 0 || w2 <= 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "convolution input %lldx%lld too small",
                         (long long)h, (long long)w);
    float *out = sd_alloc(a, (size_t)(b * c->cout * h2 * w2));
    SD_NEED(out);
    *y = out;
    if (oh) *oh = h2;
    if (ow) *ow = w2;
    return conv_into(a, c, b, h, w, x, stride, pad, out);
}

trdi_status sd_group_norm(sd_act *a, const sd_norm *n, int64_t groups, float eps, bool silu,
                          int64_t b, int64_t hw, const float *x, float *y) {
    if (a->measure) return TRDI_OK;
    return trdi_group_norm(x, b, n->c, hw, groups, eps, n->g, n->b, silu, y);
}

trdi_status sd_resnet_fwd(sd_act *a, const sd_resnet *r, int64_t groups, float eps, int64_t b,
                          int64_t h, int64_t w, const float *x, const float *temb_proj, float **y) {
    int64_t hw = h * w;
    float *out = sd_alloc(a, (size_t)(b * r->cout * hw));
    SD_NEED(out);
    *y = out;
    size_t mk = sd_mark(a);
    trdi_status st;
    float *t1 = sd_alloc(a, (size_t)(b * r->cin * hw));
    SD_NEED(t1);
    if ((st = sd_group_norm(a, &r->norm1, groups, eps, true, b, hw, x, t1)) != TRDI_OK) return st;
    float *c1 = NULL;
    if ((st = sd_conv2d(a, &r->conv1, b, h, w, t1, 1, 1, &c1, NULL, NULL)) != TRDI_OK) return st;
    if (!a->measure && temb_proj) {
        for (int64_t i = 0; i < b; i++)
            for (int64_t c = 0; c < r->cout; c++) {
                float *p = c1 + (i * r->cout + c) * hw;
                float v = temb_proj[c];
                for (int64_t k = 0; k < hw; k++) p[k] += v;
            }
    }
    if ((st = sd_group_norm(a, &r->norm2, groups, eps, true, b, hw, c1, c1)) != TRDI_OK) return st;
    if ((st = conv_into(a, &r->conv2, b, h, w, c1, 1, 1, out)) != TRDI_OK) return st;
    const float *sc = x;
    if (r->shortcut.w || r->shortcut.w16) {
        float *s = sd_alloc(a, (size_t)(b * r->cout * hw));
        SD_NEED(s);
        if ((st = conv_into(a, &r->shortcut, b, h, w, x, 1, 0, s)) != TRDI_OK) return st;
        sc = s;
    }
    /* diffusers: output = (input_tensor + hidden_states) / output_scale_factor (1) */
    if (!a->measure) trdi_k_add(b * r->cout * hw, sc, out, out);
    sd_reset(a, mk);
    return TRDI_OK;
}

trdi_status sd_attention_fwd(sd_act *a, const sd_attn *at, int64_t b, int64_t n, const float *x,
                             int64_t s, const float *ctx, float *out) {
    int64_t inner = at->q.out;
    if (!ctx) {
        ctx = x;
        s = n;
    }
    size_t mk = sd_mark(a);
    float *q = sd_alloc(a, (size_t)(b * n * inner));
    float *k = sd_alloc(a, (size_t)(b * s * inner));
    float *v = sd_alloc(a, (size_t)(b * s * inner));
    float *o = sd_alloc(a, (size_t)(b * n * inner));
    SD_NEED(q && k && v && o);
    trdi_k_attn p = {.batch = b, .heads = at->heads, .head_dim = inner / at->heads, .tq = n,
                     .tk = s, .q_stride = 0, .k_stride = 0, .v_stride = 0, .o_stride = 0,
                     .scale = 1.0f / sqrtf((float)(inner / at->heads)), .causal = false};
    size_t scr_n = trdi_k_attention_gemm_scratch(&p);
    float *scr = sd_alloc(a, scr_n);
    SD_NEED(scr);
    if (a->measure) /* q, k, v, out projections + QK^T + PV */
        a->flops += 2.0 * (double)(b * n) * (double)(at->q.in * inner + inner * at->o.out) +
                    4.0 * (double)(b * s) * (double)(at->k.in * inner) +
                    4.0 * (double)(b * n) * (double)s * (double)inner;
    trdi_status st;
    if ((st = sd_linear(a, &at->q, b * n, x, q)) != TRDI_OK) return st;
    if ((st = sd_linear(a, &at->k, b * s, ctx, k)) != TRDI_OK) return st;
    if ((st = sd_linear(a, &at->v, b * s, ctx, v)) != TRDI_OK) return st;
    if (!a->measure && (st = trdi_k_attention_gemm(&p, q, k, v, o, scr, scr_n)) != TRDI_OK)
        return st;
    if ((st = sd_linear(a, &at->o, b * n, o, out)) != TRDI_OK) return st;
    sd_reset(a, mk);
    return TRDI_OK;
}

void sd_nchw_to_tokens(int64_t b, int64_t c, int64_t hw, const float *x, float *y) {
    for (int64_t i = 0; i < b; i++) {
        const float *xb = x + i * c * hw;
        float *yb = y + i * c * hw;
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t p = 0; p < hw; p++) yb[p * c + ch] = xb[ch * hw + p];
    }
}

void sd_tokens_to_nchw(int64_t b, int64_t c, int64_t hw, const float *x, float *y) {
    for (int64_t i = 0; i < b; i++) {
        const float *xb = x + i * c * hw;
        float *yb = y + i * c * hw;
        for (int64_t p = 0; p < hw; p++)
            for (int64_t ch = 0; ch < c; ch++) yb[ch * hw + p] = xb[p * c + ch];
    }
}
