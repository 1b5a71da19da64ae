/* lpips.c -- LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
 * Metric", 2018) as lpips 0.1.4's LPIPS.forward computes it with version '0.1': ScalingLayer,
 * a torchvision backbone (AlexNet, SqueezeNet 1.1 or VGG16 `features`, cut into the slices of
 * lpips/pretrained_networks.py), per layer normalize_tensor, squared difference, the 1x1 linear
 * layer NetLinLayer (no bias) and spatial_average, summed over layers.
 *
 * Not here: weights (read from a safetensors file at run time, never bundled), training,
 * the lpips "spatial" output, or any resizing of the inputs. The backbones run on the kernels of
 * kernels/conv.h in float32; the per-layer distances are accumulated in double. */
#include "trdi.h"

#include "core/core.h"
#include "kernels/conv.h"
#include "metrics/eval_internal.h"
#include "metrics/lpips_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One step of a backbone. CONV and FIRE include the ReLUs that follow them in torchvision. */
typedef enum { OP_CONV, OP_POOL, OP_FIRE } lp_kind;

typedef struct lp_op {
    lp_kind kind;
    int slice;   /* lpips slice (1-based) the op belongs to */
    int feat;    /* torchvision `features` index */
    int64_t cin; /* CONV: in -> out, kernel k, stride s, padding p; POOL: k, s, ceil */
    int64_t cout, k, s, p;
    bool ceil_mode;
    int64_t sq, e1, e3; /* FIRE: squeeze and expand widths (cout = e1 + e3) */
    bool tap;           /* the slice ends here: its output is an LPIPS layer */
} lp_op;

#define CONV(sl, f, ci, co, kk, ss, pp, t)                                                         \
    { OP_CONV, sl, f, ci, co, kk, ss, pp, false, 0, 0, 0, t }
#define POOL(sl, kk, ss, cm)                                                                       \
    { OP_POOL, sl, -1, 0, 0, kk, ss, 0, cm, 0, 0, 0, false }
#define FIRE(sl, f, ci, s_, a, b, t)                                                               \
    { OP_FIRE, sl, f, ci, (a) + (b), 0, 0, 0, false, s_, a, b, t }

/* torchvision alexnet().features; lpips slices 0-1, 2-4, 5-7, 8-9, 10-11 */
static const lp_op alex_ops[] = {
    CONV(1, 0, 3, 64, 11, 4, 2, true),    POOL(2, 3, 2, false),
    CONV(2, 3, 64, 192, 5, 1, 2, true),   POOL(3, 3, 2, false),
    CONV(3, 6, 192, 384, 3, 1, 1, true),  CONV(4, 8, 384, 256, 3, 1, 1, true),
    CONV(5, 10, 256, 256, 3, 1, 1, true),
};
/* torchvision squeezenet1_1().features; slices 0-1, 2-4, 5-7, 8-9, 10, 11, 12 */
static const lp_op squeeze_ops[] = {
    CONV(1, 0, 3, 64, 3, 2, 0, true),
    POOL(2, 3, 2, true),
    FIRE(2, 3, 64, 16, 64, 64, false),
    FIRE(2, 4, 128, 16, 64, 64, true),
    POOL(3, 3, 2, true),
    FIRE(3, 6, 128, 32, 128, 128, false),
    FIRE(3, 7, 256, 32, 128, 128, true),
    POOL(4, 3, 2, true),
    FIRE(4, 9, 256, 48, 192, 192, true),
    FIRE(5, 10, 384, 48, 192, 192, true),
    FIRE(6, 11, 384, 64, 256, 256, true),
    FIRE(7, 12, 512, 64, 256, 256, true),
};
/* torchvision vgg16().features; slices 0-3, 4-8, 9-15, 16-22, 23-29 */
static const lp_op vgg_ops[] = {
    CONV(1, 0, 3, 64, 3, 1, 1, false),
    CONV(1, 2, 64, 64, 3, 1, 1, true),
    POOL(2, 2, 2, false),
    CONV(2, 5, 64, 128, 3, 1, 1, false),
    CONV(2, 7, 128, 128, 3, 1, 1, true),
    POOL(3, 2, 2, false),
    CONV(3, 10, 128, 256, 3, 1, 1, false),
    CONV(3, 12, 256, 256, 3, 1, 1, false),
    CONV(3, 14, 256, 256, 3, 1, 1, true),
    POOL(4, 2, 2, false),
    CONV(4, 17, 256, 512, 3, 1, 1, false),
    CONV(4, 19, 512, 512, 3, 1, 1, false),
    CONV(4, 21, 512, 512, 3, 1, 1, true),
    POOL(5, 2, 2, false),
    CONV(5, 24, 512, 512, 3, 1, 1, false),
    CONV(5, 26, 512, 512, 3, 1, 1, false),
    CONV(5, 28, 512, 512, 3, 1, 1, true),
};

#define LP_MAX_OPS 17
#define LP_MAX_LAYERS 7

typedef struct lp_net_desc {
    const char *name;
    const lp_op *ops;
    int n_ops;
    int n_layers;
    int64_t min_side;
} lp_net_desc;

static const lp_net_desc nets[3] = {
    {"alex", alex_ops, (int)(sizeof alex_ops / sizeof alex_ops[0]), 5, 31},
    {"squeeze", squeeze_ops, (int)(sizeof squeeze_ops / sizeof squeeze_ops[0]), 7, 17},
    {"vgg", vgg_ops, (int)(sizeof vgg_ops / sizeof vgg_ops[0]), 5, 16},
};

struct trdi_lpips {
    trdi_lpips_net net;
    const lp_net_desc *desc;
    float shift[3], scale[3];
    float *w[LP_MAX_OPS][3]; /* CONV: [0]; FIRE: squeeze, expand1x1, expand3x3 */
    float *b[LP_MAX_OPS][3];
    float *lin[LP_MAX_LAYERS];
    int64_t lin_c[LP_MAX_LAYERS];
};

const char *trdi_lpips_net_name(trdi_lpips_net n) {
    return (n >= TRDI_LPIPS_ALEX && n <= TRDI_LPIPS_VGG) ? nets[n].name : "?";
}

trdi_status trdi_lpips_net_from_name(const char *name, trdi_lpips_net *out) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, nets[i].name)) {
            if (out) *out = (trdi_lpips_net)i;
            return TRDI_OK;
        }
    return trdi_fail(TRDI_ERR_INVALID_ARG, "unknown LPIPS backbone '%s' (alex, squeeze, vgg)",
                     name ? name : "(null)");
}

int64_t trdi_lpips_min_side(trdi_lpips_net n) {
    return (n >= TRDI_LPIPS_ALEX && n <= TRDI_LPIPS_VGG) ? nets[n].min_side : 0;
}

trdi_lpips_net trdi_lpips_backbone(const trdi_lpips *m) {
    return m ? m->net : TRDI_LPIPS_ALEX;
}

int64_t trdi_lpips_layers(const trdi_lpips *m) {
    return m ? m->desc->n_layers : 0;
}

void trdi_lpips_free(trdi_lpips *m) {
    if (!m) return;
    for (int i = 0; i < LP_MAX_OPS; i++)
        for (int j = 0; j < 3; j++)
            free(m->w[i][j]), free(m->b[i][j]);
    for (int i = 0; i < LP_MAX_LAYERS; i++)
        free(m->lin[i]);
    free(m);
}

/* ---- loading ------------------------------------------------------------------------------- */

/* Finds `features.<feat>.<param>` under any accepted spelling; writes the name found to buf. */
static const trdi_st_tensor *find_param(const trdi_safetensors *f, int slice, int feat,
                                        const char *param, char *buf, size_t bufsize) {
    const trdi_st_tensor *t;
    snprintf(buf, bufsize, "net.slice%d.%d.%s", slice, feat, param);
    if ((t = trdi_safetensors_lookup(f, buf))) return t;
    snprintf(buf, bufsize, "net.slices.%d.%d.%s", slice - 1, feat, param);
    if ((t = trdi_safetensors_lookup(f, buf))) return t;
    snprintf(buf, bufsize, "features.%d.%s", feat, param);
    if ((t = trdi_safetensors_lookup(f, buf))) return t;
    snprintf(buf, bufsize, "net.slice%d.%d.%s", slice, feat, param); /* for the error message */
    return NULL;
}

/* Which backbone the file holds, from marker tensors of each architecture. */
static bool detect_net(const trdi_safetensors *f, trdi_lpips_net *net) {
    char buf[128];
    if (find_param(f, 2, 3, "squeeze.weight", buf, sizeof buf)) {
        *net = TRDI_LPIPS_SQUEEZE;
        return true;
    }
    const trdi_st_tensor *t = find_param(f, 1, 0, "weight", buf, sizeof buf);
    if (t && t->ndim == 4 && t->shape[2] == 11) {
        *net = TRDI_LPIPS_ALEX;
        return true;
    }
    if (find_param(f, 5, 28, "weight", buf, sizeof buf)) {
        *net = TRDI_LPIPS_VGG;
        return true;
    }
    return false;
}

static trdi_status load_conv(const trdi_safetensors *f, int slice, int feat, const char *prefix,
                             int64_t cout, int64_t cin, int64_t k, float **w, float **b) {
    char param[64], name[128];
    snprintf(param, sizeof param, "%sweight", prefix);
    if (!find_param(f, slice, feat, param, name, sizeof name))
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: missing LPIPS backbone tensor '%s' [%lld, %lld, %lld, %lld]",
                         trdi_safetensors_path(f), name, (long long)cout, (long long)cin,
                         (long long)k, (long long)k);
    const int64_t wshape[4] = {cout, cin, k, k};
    *w = trdi_mallocn((size_t)(cout * cin * k * k), sizeof(float));
    *b = trdi_mallocn((size_t)cout, sizeof(float));
    if (!*w || !*b) return trdi_fail(TRDI_ERR_NOMEM, "out of memory loading '%s'", name);
    trdi_status st = trdi_safetensors_read_f32_shape(f, name, 4, wshape, *w);
    if (st != TRDI_OK) return st;
    snprintf(param, sizeof param, "%sbias", prefix);
    if (!find_param(f, slice, feat, param, name, sizeof name))
        return trdi_fail(TRDI_ERR_FORMAT, "%s: missing LPIPS backbone tensor '%s' [%lld]",
                         trdi_safetensors_path(f), name, (long long)cout);
    return trdi_safetensors_read_f32_shape(f, name, 1, &cout, *b);
}

static trdi_status load_all(const trdi_safetensors *f, trdi_lpips *m) {
    const lp_net_desc *d = m->desc;
    trdi_status st = TRDI_OK;
    for (int i = 0; i < d->n_ops && st == TRDI_OK; i++) {
        const lp_op *op = &d->ops[i];
        if (op->kind == OP_CONV) {
            st = load_conv(f, op->slice, op->feat, "", op->cout, op->cin, op->k, &m->w[i][0],
                           &m->b[i][0]);
        } else if (op->kind == OP_FIRE) {
            st = load_conv(f, op->slice, op->feat, "squeeze.", op->sq, op->cin, 1, &m->w[i][0],
                           &m->b[i][0]);
            if (st == TRDI_OK)
                st = load_conv(f, op->slice, op->feat, "expand1x1.", op->e1, op->sq, 1, &m->w[i][1],
                               &m->b[i][1]);
            if (st == TRDI_OK)
                st = load_conv(f, op->slice, op->feat, "expand3x3.", op->e3, op->sq, 3, &m->w[i][2],
                               &m->b[i][2]);
        }
    }
    /* Linear layers: their widths are the tapped channel counts. */
    int layer = 0;
    for (int i = 0; i < d->n_ops && st == TRDI_OK; i++) {
        if (!d->ops[i].tap) continue;
        int64_t c = d->ops[i].cout;
        char name[64];
        snprintf(name, sizeof name, "lin%d.model.1.weight", layer);
        if (!trdi_safetensors_lookup(f, name)) {
            snprintf(name, sizeof name, "lins.%d.model.1.weight", layer);
            if (!trdi_safetensors_lookup(f, name))
                return trdi_fail(
                    TRDI_ERR_FORMAT,
                    "%s: missing LPIPS linear layer 'lin%d.model.1.weight' [1, %lld, 1, 1] "
                    "(a backbone without the LPIPS linear weights?)",
                    trdi_safetensors_path(f), layer, (long long)c);
        }
        const int64_t shape[4] = {1, c, 1, 1};
        m->lin[layer] = trdi_mallocn((size_t)c, sizeof(float));
        m->lin_c[layer] = c;
        if (!m->lin[layer]) return trdi_fail(TRDI_ERR_NOMEM, "out of memory loading '%s'", name);
        st = trdi_safetensors_read_f32_shape(f, name, 4, shape, m->lin[layer]);
        layer++;
    }
    /* ScalingLayer buffers, lpips' constants when the file does not carry them. */
    static const float shift0[3] = {-0.030f, -0.088f, -0.188f},
                       scale0[3] = {0.458f, 0.448f, 0.450f};
    memcpy(m->shift, shift0, sizeof shift0);
    memcpy(m->scale, scale0, sizeof scale0);
    const int64_t s3[4] = {1, 3, 1, 1};
    if (st == TRDI_OK && trdi_safetensors_lookup(f, "scaling_layer.shift"))
        st = trdi_safetensors_read_f32_shape(f, "scaling_layer.shift", 4, s3, m->shift);
    if (st == TRDI_OK && trdi_safetensors_lookup(f, "scaling_layer.scale"))
        st = trdi_safetensors_read_f32_shape(f, "scaling_layer.scale", 4, s3, m->scale);
    for (int c = 0; c < 3 && st == TRDI_OK; c++)
        if (!isfinite(m->shift[c]) || !isfinite(m->scale[c]) || m->scale[c] == 0.0f)
            st = trdi_fail(TRDI_ERR_FORMAT,
                           "%s: scaling_layer values must be finite with a nonzero scale",
                           trdi_safetensors_path(f));
    return st;
}

trdi_status trdi_lpips_load(const char *path, trdi_lpips **out) {
    if (out) *out = NULL;
    if (!path || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "lpips_load: path and out must not be NULL");
    trdi_safetensors *f = NULL;
    trdi_status st = trdi_safetensors_open(path, &f);
    if (st != TRDI_OK) return st;
    trdi_lpips_net net;
    if (!detect_net(f, &net)) {
        st =
            trdi_fail(TRDI_ERR_FORMAT,
                      "%s: no LPIPS backbone recognised (expected AlexNet, SqueezeNet 1.1 or VGG16 "
                      "tensors such as 'net.slice1.0.weight' or 'features.0.weight')",
                      path);
        trdi_safetensors_close(f);
        return st;
    }
    trdi_lpips *m = trdi_calloc(1, sizeof *m);
    if (!m) {
        trdi_safetensors_close(f);
        return trdi_fail(TRDI_ERR_NOMEM, "lpips_load: out of memory");
    }
    m->net = net;
    m->desc = &nets[net];
    st = load_all(f, m);
    trdi_safetensors_close(f);
    if (st != TRDI_OK) {
        trdi_lpips_free(m);
        return st;
    }
    *out = m;
    return TRDI_OK;
}

/* ---- forward ------------------------------------------------------------------------------- */

typedef struct lp_plan {
    int64_t c[LP_MAX_OPS + 1], h[LP_MAX_OPS + 1], w[LP_MAX_OPS + 1]; /* before op i / at the end */
    size_t max_act, max_sq, scratch, taps;
} lp_plan;

static trdi_conv2d_shape conv_shape(int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t k,
                                    int64_t s, int64_t p) {
    trdi_conv2d_shape cs = {1, cin, h, w, cout, k, k, s, s, p, p};
    return cs;
}

#define LP_SCRATCH_CAP ((size_t)4 << 20) /* floats of im2col buffer beyond one row (16 MiB) */

static size_t conv_scratch(const trdi_conv2d_shape *cs) {
    size_t full = trdi_conv2d_scratch_floats(cs, 0), one = trdi_conv2d_scratch_floats(cs, 1);
    return full <= LP_SCRATCH_CAP ? full : (one > LP_SCRATCH_CAP ? one : LP_SCRATCH_CAP);
}

/* Shapes through the backbone; false when a layer's output would be empty (PyTorch raises). */
static bool plan_shapes(const lp_net_desc *d, int64_t h, int64_t w, lp_plan *pl) {
    memset(pl, 0, sizeof *pl);
    pl->c[0] = 3, pl->h[0] = h, pl->w[0] = w;
    pl->max_act = (size_t)(3 * h * w);
    for (int i = 0; i < d->n_ops; i++) {
        const lp_op *op = &d->ops[i];
        int64_t c = pl->c[i], hh = pl->h[i], ww = pl->w[i], oh, ow;
        if (op->kind == OP_POOL) {
            oh = trdi_pool_out_len(hh, op->k, op->s, 0, op->ceil_mode);
            ow = trdi_pool_out_len(ww, op->k, op->s, 0, op->ceil_mode);
            pl->c[i + 1] = c;
        } else if (op->kind == OP_CONV) {
            oh = trdi_conv_out_len(hh, op->k, op->s, op->p);
            ow = trdi_conv_out_len(ww, op->k, op->s, op->p);
            pl->c[i + 1] = op->cout;
            if (oh > 0 && ow > 0) {
                trdi_conv2d_shape cs = conv_shape(c, hh, ww, op->cout, op->k, op->s, op->p);
                size_t sc = conv_scratch(&cs);
                if (sc > pl->scratch) pl->scratch = sc;
            }
        } else {
            oh = hh, ow = ww;
            pl->c[i + 1] = op->cout;
            trdi_conv2d_shape cs = conv_shape(op->sq, hh, ww, op->e3, 3, 1, 1);
            size_t sc = conv_scratch(&cs);
            if (sc > pl->scratch) pl->scratch = sc;
            if ((size_t)(op->sq * hh * ww) > pl->max_sq) pl->max_sq = (size_t)(op->sq * hh * ww);
        }
        if (oh <= 0 || ow <= 0) return false;
        pl->h[i + 1] = oh, pl->w[i + 1] = ow;
        size_t act = (size_t)(pl->c[i + 1] * oh * ow);
        if (act > pl->max_act) pl->max_act = act;
        if (op->tap) pl->taps += act;
    }
    return true;
}

typedef struct lp_bufs {
    float *a, *b, *sq, *scratch;
    size_t scratch_n;
} lp_bufs;

static double layer_distance(const float *f0, const float *f1, const float *lin, int64_t c,
                             int64_t hw);

/* Runs the backbone on one scaled image (3, h, w) already in bufs->a. With `taps`, copies each
 * tapped layer output there (consecutive); with `ref` (the taps of the other image), writes the
 * layer distances to dist[layer] instead, so only one image's features are ever stored. */
static trdi_status run_backbone(const trdi_lpips *m, const lp_plan *pl, lp_bufs *bufs, float *taps,
                                const float *ref, double *dist) {
    int layer = 0;
    const lp_net_desc *d = m->desc;
    float *cur = bufs->a, *nxt = bufs->b;
    trdi_status st = TRDI_OK;
    for (int i = 0; i < d->n_ops && st == TRDI_OK; i++) {
        const lp_op *op = &d->ops[i];
        int64_t c = pl->c[i], h = pl->h[i], w = pl->w[i];
        size_t out_n = (size_t)(pl->c[i + 1] * pl->h[i + 1] * pl->w[i + 1]);
        if (op->kind == OP_POOL) {
            st = trdi_maxpool2d(cur, c, h, w, op->k, op->s, 0, op->ceil_mode, nxt);
        } else if (op->kind == OP_CONV) {
            trdi_conv2d_shape cs = conv_shape(c, h, w, op->cout, op->k, op->s, op->p);
            st = trdi_conv2d(&cs, cur, m->w[i][0], m->b[i][0], nxt, bufs->scratch, bufs->scratch_n);
            trdi_relu(nxt, nxt, out_n);
        } else {
            /* Fire: q = relu(squeeze(x)); out = relu(cat(expand1x1(q), expand3x3(q))) */
            trdi_conv2d_shape cs = conv_shape(c, h, w, op->sq, 1, 1, 0);
            st = trdi_conv2d(&cs, cur, m->w[i][0], m->b[i][0], bufs->sq, bufs->scratch,
                             bufs->scratch_n);
            trdi_relu(bufs->sq, bufs->sq, (size_t)(op->sq * h * w));
            cs = conv_shape(op->sq, h, w, op->e1, 1, 1, 0);
            if (st == TRDI_OK)
                st = trdi_conv2d(&cs, bufs->sq, m->w[i][1], m->b[i][1], nxt, bufs->scratch,
                                 bufs->scratch_n);
            cs = conv_shape(op->sq, h, w, op->e3, 3, 1, 1);
            if (st == TRDI_OK)
                st = trdi_conv2d(&cs, bufs->sq, m->w[i][2], m->b[i][2], nxt + op->e1 * h * w,
                                 bufs->scratch, bufs->scratch_n);
            trdi_relu(nxt, nxt, out_n);
        }
        float *t = cur;
        cur = nxt, nxt = t;
        if (op->tap) {
            if (taps) {
                memcpy(taps, cur, out_n * sizeof(float));
                taps += out_n;
            } else {
                dist[layer] = layer_distance(ref, cur, m->lin[layer], pl->c[i + 1],
                                             pl->h[i + 1] * pl->w[i + 1]);
                ref += out_n;
            }
            layer++;
        }
    }
    return st;
}

/* lpips normalize_tensor (f / (||f||_c + 1e-10)), (f0 - f1)^2, NetLinLayer, spatial_average. */
static double layer_distance(const float *f0, const float *f1, const float *lin, int64_t c,
                             int64_t hw) {
    double total = 0.0;
    for (int64_t p = 0; p < hw; p++) {
        double n0 = 0.0, n1 = 0.0;
        for (int64_t k = 0; k < c; k++) {
            double a = f0[k * hw + p], b = f1[k * hw + p];
            n0 += a * a;
            n1 += b * b;
        }
        n0 = sqrt(n0) + 1e-10;
        n1 = sqrt(n1) + 1e-10;
        double acc = 0.0;
        for (int64_t k = 0; k < c; k++) {
            double diff = f0[k * hw + p] / n0 - f1[k * hw + p] / n1;
            acc += (double)lin[k] * diff * diff;
        }
        total += acc;
    }
    return total / (double)hw;
}

static void lp_release(lp_bufs *bufs) {
    free(bufs->a), free(bufs->b), free(bufs->sq), free(bufs->scratch);
    memset(bufs, 0, sizeof *bufs);
}

/* Checks the inputs (in1 may be NULL), plans the shapes and allocates the activation buffers. */
static trdi_status lp_prepare(const trdi_lpips *m, const float *in0, const float *in1,
                              int64_t height, int64_t width, lp_plan *pl, lp_bufs *bufs) {
    memset(bufs, 0, sizeof *bufs);
    const lp_net_desc *d = m->desc;
    if (height <= 0 || width <= 0 || height > (1 << 15) || width > (1 << 15))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "lpips_score: bad image size %lld x %lld",
                         (long long)height, (long long)width);
    if (!plan_shapes(d, height, width, pl))
        return trdi_fail(
            TRDI_ERR_INVALID_ARG,
            "lpips_score: image %lld x %lld too small for LPIPS %s (needs both sides >= %lld)",
            (long long)height, (long long)width, d->name, (long long)d->min_side);
    size_t plane = (size_t)(height * width);
    for (size_t i = 0; i < 3 * plane; i++)
        if (!isfinite(in0[i]) || (in1 && !isfinite(in1[i])))
            return trdi_fail(TRDI_ERR_NUMERIC, "lpips_score: non-finite input at index %zu", i);
    bufs->a = trdi_mallocn(pl->max_act, sizeof(float));
    bufs->b = trdi_mallocn(pl->max_act, sizeof(float));
    bufs->sq = pl->max_sq ? trdi_mallocn(pl->max_sq, sizeof(float)) : NULL;
    bufs->scratch_n = pl->scratch;
    bufs->scratch = pl->scratch ? trdi_mallocn(pl->scratch, sizeof(float)) : NULL;
    if (!bufs->a || !bufs->b || (pl->max_sq && !bufs->sq) || (pl->scratch && !bufs->scratch)) {
        lp_release(bufs);
        return trdi_fail(TRDI_ERR_NOMEM, "lpips_score: out of memory for a %lld x %lld image",
                         (long long)height, (long long)width);
    }
    return TRDI_OK;
}

/* ScalingLayer: (inp - shift) / scale, float32 as upstream, into bufs->a. */
static void lp_scale(const trdi_lpips *m, const float *in, size_t plane, float *dst) {
    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++)
            dst[c * plane + i] = (in[c * plane + i] - m->shift[c]) / m->scale[c];
}

trdi_status trdi_lpips_score_f32(const trdi_lpips *m, const float *in0, const float *in1,
                                 int64_t height, int64_t width, double *out, double *per_layer) {
    if (out) *out = 0.0;
    if (!m || !in0 || !in1 || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "lpips_score: network, inputs and out must not be NULL");
    const lp_net_desc *d = m->desc;
    if (per_layer)
        for (int i = 0; i < d->n_layers; i++)
            per_layer[i] = 0.0;
    lp_plan pl;
    lp_bufs bufs;
    trdi_status st = lp_prepare(m, in0, in1, height, width, &pl, &bufs);
    if (st != TRDI_OK) return st;
    size_t plane = (size_t)(height * width);
    float *taps0 = trdi_mallocn(pl.taps, sizeof(float));
    double dist[LP_MAX_LAYERS] = {0};
    if (!taps0) {
        lp_release(&bufs);
        return trdi_fail(TRDI_ERR_NOMEM, "lpips_score: out of memory for a %lld x %lld image",
                         (long long)height, (long long)width);
    }
    lp_scale(m, in0, plane, bufs.a);
    st = run_backbone(m, &pl, &bufs, taps0, NULL, NULL);
    if (st == TRDI_OK) {
        lp_scale(m, in1, plane, bufs.a);
        st = run_backbone(m, &pl, &bufs, NULL, taps0, dist);
    }
    if (st == TRDI_OK) {
        double total = 0.0;
        for (int l = 0; l < d->n_layers; l++) {
            if (per_layer) per_layer[l] = dist[l];
            total += dist[l];
        }
        *out = total;
    }
    lp_release(&bufs);
    free(taps0);
    return st;
}

trdi_status trdi_lpips_features(const trdi_lpips *m, const float *in, int64_t height, int64_t width,
                                float **out, int64_t *c, int64_t *h, int64_t *w) {
    if (out) *out = NULL;
    if (!m || !in || !out || !c || !h || !w)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "lpips_features: NULL argument");
    lp_plan pl;
    lp_bufs bufs;
    trdi_status st = lp_prepare(m, in, NULL, height, width, &pl, &bufs);
    if (st != TRDI_OK) return st;
    float *taps = trdi_mallocn(pl.taps, sizeof(float));
    if (!taps) {
        lp_release(&bufs);
        return trdi_fail(TRDI_ERR_NOMEM, "lpips_features: out of memory");
    }
    lp_scale(m, in, (size_t)(height * width), bufs.a);
    st = run_backbone(m, &pl, &bufs, taps, NULL, NULL);
    lp_release(&bufs);
    if (st != TRDI_OK) {
        free(taps);
        return st;
    }
    int layer = 0;
    for (int i = 0; i < m->desc->n_ops; i++)
        if (m->desc->ops[i].tap) {
            c[layer] = pl.c[i + 1], h[layer] = pl.h[i + 1], w[layer] = pl.w[i + 1];
            layer++;
        }
    *out = taps;
    return TRDI_OK;
}

trdi_status trdi_lpips_score(const trdi_lpips *m, const trdi_image *a, const trdi_image *b,
                             double *out) {
    if (out) *out = 0.0;
    if (!m || !out)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "lpips_score: network and out must not be NULL");
    trdi_status st = trdi_image_pair_check(a, b, "lpips_score");
    if (st != TRDI_OK) return st;
    float *x = NULL, *y = NULL;
    st = trdi_image_to_planar_f32(a, 3, true, &x);
    if (st == TRDI_OK) st = trdi_image_to_planar_f32(b, 3, true, &y);
    if (st == TRDI_OK) st = trdi_lpips_score_f32(m, x, y, a->height, a->width, out, NULL);
    free(x);
    free(y);
    return st;
}
