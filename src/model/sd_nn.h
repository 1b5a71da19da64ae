/* sd_nn.h -- building blocks shared by the Stable Diffusion UNet (unet.c) and VAE (vae.c): a
 * two-pass weight loader (collect expected names/shapes, check them all at once, then read them as
 * float32 into one buffer), an activation allocator over an arena that can also run "dry" to
 * measure the peak, and the layers (conv, group norm, linear, ResnetBlock2D, attention) written
 * against that allocator. Internal; not public API, not a general NN library. */
#ifndef TRDI_MODEL_SD_NN_H
#define TRDI_MODEL_SD_NN_H

#include "core/core.h"
#include "tensor/tensor.h"
#include "trdi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- weight loader --------------------------------------------------------------------------- */
typedef struct sd_wl {
    const trdi_safetensors *f;
    const char *prefix;  /* prepended to every name ("" for none) */
    bool load;           /* false: collect specs; true: read into buf */
    trdi_st_spec *specs; /* collected expectations (pass 1) */
    char **names;        /* owned copies of the spec names */
    int64_t n, cap;
    size_t total;        /* floats needed (pass 1) */
    float *buf;          /* pass 2: one allocation of `total` floats (owned by the model) */
    size_t off;
    bool keep_f16;       /* matrices stored as F16 in the file stay fp16 (sd_wl_get_mat) */
    size_t total16;      /* fp16 values needed (pass 1) */
    uint16_t *buf16;     /* pass 2: `total16` fp16 values (owned by the model) or NULL */
    size_t off16;
    trdi_status err;     /* first failure (pass 2 read or allocation) */
} sd_wl;

/* Pass 1: records the expected tensor; pass 2: reads it into the buffer and returns it. Shapes
 * have ndim entries (dims beyond ndim are ignored). NULL in pass 1 or after an error. */
const float *sd_wl_get(sd_wl *wl, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                       const char *fmt, ...) TRDI_PRINTF(7, 8);
/* A weight matrix: like sd_wl_get, except that with keep_f16 a tensor the file stores as F16 is
 * copied as its fp16 bits (*w16 set, *w NULL): half the memory, and converting fp16 to float32 is
 * exact, so layers compute the same numbers as from a float32 copy. */
void sd_wl_get_mat(sd_wl *wl, const float **w, const uint16_t **w16, int ndim, int64_t d0,
                   int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...) TRDI_PRINTF(9, 10);
/* Between the passes: checks every collected spec against the file (missing / wrong shape
 * tensors are all listed; `allow_unexpected` as in trdi_safetensors_check), allocates the buffer
 * and switches to loading. `what` names the component in the message ("unet"). */
trdi_status sd_wl_begin_load(sd_wl *wl, const char *what, bool allow_unexpected);
/* Frees the specs (not the buffer, which the caller takes over from wl->buf). */
void sd_wl_free_specs(sd_wl *wl);

/* ---- layer weights --------------------------------------------------------------------------- */
typedef struct sd_conv {
    const float *w, *b; /* (cout, cin, k, k), (cout); w NULL when held as w16 */
    const uint16_t *w16; /* the weight as fp16 (sd_wl_get_mat) or NULL */
    int64_t cout, cin, k;
} sd_conv;
typedef struct sd_norm {
    const float *g, *b; /* (c) */
    int64_t c;
} sd_norm;
typedef struct sd_lin {
    const float *w, *b;  /* (out, in), (out) or NULL; w NULL when held as w16 */
    const uint16_t *w16; /* the weight as fp16 (sd_wl_get_mat) or NULL */
    int64_t out, in;
} sd_lin;
typedef struct sd_resnet {
    sd_norm norm1, norm2;
    sd_conv conv1, conv2, shortcut; /* shortcut.w NULL when cin == cout */
    sd_lin temb;                    /* time_emb_proj; w NULL without time embedding (VAE) */
    int64_t cin, cout;
} sd_resnet;
typedef struct sd_attn {
    sd_lin q, k, v, o;
    int64_t heads, dim; /* inner dim = q.out */
} sd_attn;

/* "<name>.weight"/".bias" loaders. bias false: no bias tensor expected (b = NULL). */
void sd_load_conv(sd_wl *wl, sd_conv *c, int64_t cin, int64_t cout, int64_t k, const char *name);
void sd_load_norm(sd_wl *wl, sd_norm *n, int64_t c, const char *name);
void sd_load_lin(sd_wl *wl, sd_lin *l, int64_t in, int64_t out, bool bias, const char *name);
/* A 1x1 conv (cout, cin, 1, 1) loaded as a linear layer (the same matrix). */
void sd_load_conv1x1_as_lin(sd_wl *wl, sd_lin *l, int64_t in, int64_t out, const char *name);
/* ResnetBlock2D "<name>.{norm1,conv1,time_emb_proj,norm2,conv2,conv_shortcut}"; temb_dim 0: none. */
void sd_load_resnet(sd_wl *wl, sd_resnet *r, int64_t cin, int64_t cout, int64_t temb_dim,
                    const char *name);

/* ---- activation allocator -------------------------------------------------------------------- */
/* measure = true: nothing is computed, allocations only count (peak gives the arena size). */
typedef struct sd_act {
    trdi_arena arena;
    bool measure;
    size_t used, peak; /* measure mode */
    double flops;      /* measure mode: multiply-adds x 2 of the layers passed through */
} sd_act;

float *sd_alloc(sd_act *a, size_t n); /* NULL when the arena is full (a sizing bug) */
size_t sd_mark(const sd_act *a);
void sd_reset(sd_act *a, size_t mark);
/* Moves the n floats at src (which lies above `mark`) down to `mark`, frees everything above
 * them and returns their new address: keeps one result while dropping its temporaries. */
float *sd_keep(sd_act *a, size_t mark, float *src, size_t n);
/* Makes sure the real arena holds `bytes` (reallocating when smaller). */
trdi_status sd_act_reserve(sd_act *a, size_t bytes);
void sd_act_free(sd_act *a);

/* ---- layers (NCHW float32; every output is allocated by the layer) --------------------------- */
/* y (rows, out) = x (rows, in) W^T + b. An fp16 weight goes to the fp16 GEMM for few rows, else
 * is converted into the arena for sgemm; in measure mode only the allocations are counted. */
trdi_status sd_linear(sd_act *a, const sd_lin *l, int64_t rows, const float *x, float *y);
/* The same with row strides: x rows every ldx floats, y rows every ldy. */
trdi_status sd_linear_ld(sd_act *a, const sd_lin *l, int64_t rows, const float *x, int64_t ldx,
                         float *y, int64_t ldy);
/* Convolution with stride / symmetric zero padding; *y (b, cout, oh, ow). */
trdi_status sd_conv2d(sd_act *a, const sd_conv *c, int64_t b, int64_t h, int64_t w,
                      const float *x, int64_t stride, int64_t pad, float **y, int64_t *oh,
                      int64_t *ow);
/* Group norm (+SiLU) of x (b, c, hw) into y (may equal x). */
trdi_status sd_group_norm(sd_act *a, const sd_norm *n, int64_t groups, float eps, bool silu,
                          int64_t b, int64_t hw, const float *x, float *y);
/* ResnetBlock2D (diffusers, time_embedding_norm "default", output_scale_factor 1):
 * out = shortcut(x) + conv2(SiLU(GN2(conv1(SiLU(GN1(x))) + temb_proj))). temb_proj (cout) is the
 * same for every batch item (or NULL). *y (b, cout, h, w). */
trdi_status sd_resnet_fwd(sd_act *a, const sd_resnet *r, int64_t groups, float eps, int64_t b,
                          int64_t h, int64_t w, const float *x, const float *temb_proj, float **y);
/* Attention (diffusers Attention + AttnProcessor): x (b, n, q.in) tokens, ctx (b, s, k.in) or
 * NULL (self-attention); out (b, n, o.out) = to_out(softmax(Q K^T / sqrt(d)) V), written into
 * caller memory (may not alias x / ctx). */
trdi_status sd_attention_fwd(sd_act *a, const sd_attn *at, int64_t b, int64_t n, const float *x,
                             int64_t s, const float *ctx, float *out);
/* (b, c, hw) <-> (b, hw, c) */
void sd_nchw_to_tokens(int64_t b, int64_t c, int64_t hw, const float *x, float *y);
void sd_tokens_to_nchw(int64_t b, int64_t c, int64_t hw, const float *x, float *y);

#endif /* TRDI_MODEL_SD_NN_H */
