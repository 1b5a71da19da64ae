/* bench_unet.c -- Stable Diffusion speed and memory with random weights (trdi_mkmodel), beside the
 * machine's OpenBLAS sgemm throughput measured in the same run: UNet forward at batch 1 and 2 for
 * 256x256 and 512x512 images (latents 32x32 / 64x64), VAE encode and decode at 512x512, FLOPs
 * counted analytically from the configs (convolutions, linear layers, attention score and value
 * products; 2 per multiply-add; norms and pointwise ops not counted), achieved GFLOP/s and the ratio
 * to sgemm (measured at the start and again at the end: a shared machine's load drifts), the
 * internal dry-run count beside it when available ("plan GFLOP"), and peak resident memory
 * (getrusage ru_maxrss). Not a test: asserts nothing on time.
 *
 *   bench_unet [--model DIR] [--preset sd15|sd21|tiny] [--dtype fp16|fp32] [--fp16]
 *              [--seed N] [--tokenizer DIR] [--sizes 256,512] [--batches 1,2] [--reps N]
 *              [--no-vae] [--vae-size N] [--sgemm N] [--keep DIR]
 *
 * --model (or env TRDI_BENCH_MODEL) takes an existing diffusers folder; otherwise one is written
 * for --preset (default sd15, fp16 weights on disk) into a temporary folder (kept at --keep DIR).
 * The tokenizer copied into it comes from --tokenizer, env TRDI_BENCH_TOKENIZER or the source
 * tree's tests/data/sd15-tiny/model/tokenizer; --seed (default 1) seeds its weights. To write a
 * folder without benchmarking it, use `trdi mkmodel`. The UNet / VAE run through the public API
 * (trdi_model_load + trdi_model_denoiser / trdi_model_encode / trdi_model_decode) when the
 * library loads diffusers folders, else through the internal UNet / VAE (model/unet.h, vae.h). */
#define _GNU_SOURCE
#include "core/core.h"
#include "model/unet.h"
#include "model/vae.h"
#include "trdi.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* kB on Linux */
}

static void fill(float *x, size_t n, uint64_t seed) {
    trdi_rng r;
    trdi_rng_seed(&r, seed);
    trdi_rng_normal_fill(&r, x, n);
}

/* Best-of-reps GFLOP/s of an n x n x n cblas_sgemm (after one warm-up). */
static double sgemm_gflops(int n, int reps) {
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof(float)), *b = malloc(nn * sizeof(float));
    float *c = malloc(nn * sizeof(float));
    double best = 1e30;
    if (a && b && c) {
        fill(a, nn, 1);
        fill(b, nn, 2);
        for (int r = 0; r <= reps; r++) {
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                        c, n);
            double dt = now_s() - t0;
            if (r > 0 && dt < best) best = dt;
        }
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * (double)n * (double)n * (double)n / best / 1e9;
}

/* ---- analytic FLOP counts (2 per multiply-add) ------------------------------------------------ */

static cJSON *load_config(const char *dir, const char *rel) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

/* An int, or entry i of a per-block list. */
static double cfg_num(const cJSON *cfg, const char *key, int i, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, i);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}
static bool cfg_type_is(const cJSON *cfg, const char *key, int i, const char *want) {
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cfg, key), i);
    return cJSON_IsString(v) && strstr(v->valuestring, want) != NULL;
}

static double conv_f(double cin, double cout, double k, double hw) { return 2 * cin * cout * k * k * hw; }

/* ResnetBlock2D at hw pixels (time projection counted once per item). */
static double resnet_f(double cin, double cout, double hw, double temb) {
    double f = conv_f(cin, cout, 3, hw) + conv_f(cout, cout, 3, hw) + 2 * temb * cout;
    if (cin != cout) f += conv_f(cin, cout, 1, hw);
    return f;
}

/* Transformer2DModel on n tokens of c channels, s context tokens of width cross. */
static double transformer_f(double c, double n, double s, double cross, double layers) {
    double d = c; /* inner = heads * (c / heads) = c for the SD family */
    double f = 2 * 2 * n * c * d; /* proj_in, proj_out */
    double blk = 2 * n * 4 * d * d + 2 * 2 * n * n * d      /* self: q k v o, QK^T, AV */
                 + 2 * n * 2 * d * d + 2 * 2 * s * cross * d /* cross: q o, k v of the context */
                 + 2 * 2 * n * s * d                         /* cross QK^T, AV */
                 + 2 * n * d * 8 * d + 2 * n * 4 * d * d;    /* GEGLU feed-forward */
    return f + layers * blk;
}

/* UNet2DConditionModel forward, one item, latent h x w, s text tokens. */
static double unet_flops(const cJSON *cfg, double h, double w, double s) {
    int nb = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cfg, "block_out_channels"));
    double boc[8];
    for (int i = 0; i < nb && i < 8; i++) boc[i] = cfg_num(cfg, "block_out_channels", i, 0);
    double temb = cfg_num(cfg, "time_embedding_dim", 0, 4 * boc[0]);
    double in = cfg_num(cfg, "in_channels", 0, 4), out = cfg_num(cfg, "out_channels", 0, 4);
    double f = conv_f(in, boc[0], 3, h * w) + 2 * (boc[0] * temb + temb * temb);
    double ch = boc[0], hw = h * w, skips[32];
    int ns = 0;
    skips[ns++] = ch;
    for (int i = 0; i < nb; i++) {
        double L = cfg_num(cfg, "layers_per_block", i, 2), c = boc[i];
        bool attn = cfg_type_is(cfg, "down_block_types", i, "CrossAttn");
        for (int j = 0; j < L; j++) {
            f += resnet_f(j == 0 ? ch : c, c, hw, temb);
            if (attn)
                f += transformer_f(c, hw, s, cfg_num(cfg, "cross_attention_dim", i, 768),
                                   cfg_num(cfg, "transformer_layers_per_block", i, 1));
            if (ns < 32) skips[ns++] = c;
        }
        ch = c;
        if (i < nb - 1) {
            hw /= 4;
            f += conv_f(c, c, 3, hw); /* stride-2 conv, output size */
            if (ns < 32) skips[ns++] = c;
        }
    }
    f += 2 * resnet_f(ch, ch, hw, temb) +
         transformer_f(ch, hw, s, cfg_num(cfg, "cross_attention_dim", nb - 1, 768),
                       cfg_num(cfg, "transformer_layers_per_block", nb - 1, 1));
    for (int i = 0; i < nb; i++) {
        int r = nb - 1 - i;
        double c = boc[r], L = cfg_num(cfg, "layers_per_block", r, 2) + 1;
        bool attn = cfg_type_is(cfg, "up_block_types", i, "CrossAttn");
        for (int j = 0; j < L; j++) {
            double skip = ns > 0 ? skips[--ns] : c;
            f += resnet_f(ch + skip, c, hw, temb);
            if (attn)
                f += transformer_f(c, hw, s, cfg_num(cfg, "cross_attention_dim", r, 768),
                                   cfg_num(cfg, "transformer_layers_per_block", r, 1));
            ch = c;
        }
        if (i < nb - 1) {
            hw *= 4;
            f += conv_f(c, c, 3, hw); /* conv after nearest 2x upsampling */
        }
    }
    return f + conv_f(boc[0], out, 3, h * w);
}

/* VAE mid block (two resnets, one single-head attention over all pixels). */
static double vae_mid_f(double c, double hw) {
    return 2 * resnet_f(c, c, hw, 0) + 2 * hw * 4 * c * c + 2 * 2 * hw * hw * c;
}

/* AutoencoderKL encoder (image h x w) or decoder (latent h x w), one item. */
static double vae_flops(const cJSON *cfg, bool enc, double h, double w) {
    int nb = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cfg, "block_out_channels"));
    double boc[8];
    for (int i = 0; i < nb && i < 8; i++) boc[i] = cfg_num(cfg, "block_out_channels", i, 0);
    double L = cfg_num(cfg, "layers_per_block", 0, 2), lat = cfg_num(cfg, "latent_channels", 0, 4);
    double hw = h * w, f = 0;
    if (enc) {
        double ch = boc[0];
        f += conv_f(cfg_num(cfg, "in_channels", 0, 3), ch, 3, hw);
        for (int i = 0; i < nb; i++) {
            for (int j = 0; j < L; j++) f += resnet_f(j == 0 ? ch : boc[i], boc[i], hw, 0);
            ch = boc[i];
            if (i < nb - 1) {
                hw /= 4;
                f += conv_f(ch, ch, 3, hw);
            }
        }
        f += vae_mid_f(ch, hw) + conv_f(ch, 2 * lat, 3, hw) + conv_f(2 * lat, 2 * lat, 1, hw);
    } else {
        double ch = boc[nb - 1];
        f += conv_f(lat, lat, 1, hw) + conv_f(lat, ch, 3, hw) + vae_mid_f(ch, hw);
        for (int i = 0; i < nb; i++) {
            double c = boc[nb - 1 - i];
            for (int j = 0; j < L + 1; j++) f += resnet_f(j == 0 ? ch : c, c, hw, 0);
            ch = c;
            if (i < nb - 1) {
                hw *= 4;
                f += conv_f(c, c, 3, hw);
            }
        }
        f += conv_f(boc[0], cfg_num(cfg, "out_channels", 0, 3), 3, hw);
    }
    return f;
}

/* ---- runs --------------------------------------------------------------------------------- */

static double g_sgemm = 0;

static void row(const char *name, double sec, double flops, double extra_flops) {
    printf("%-24s %9.3f %9.1f %9.1f %7.2f", name, sec, flops / 1e9, flops / sec / 1e9,
           flops / sec / 1e9 / g_sgemm);
    if (extra_flops > 0) printf(" %12.1f", extra_flops / 1e9);
    else printf(" %12s", "-"); /* the public API has no dry-run count */
    printf("  %8.0f\n", peak_rss_mib());
    fflush(stdout);
}

static int parse_list(const char *s, int64_t *v, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        v[n++] = strtoll(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *s) break;
    }
    return n;
}

static const char *default_tokenizer(void) {
    static char buf[1024];
    const char *env = getenv("TRDI_BENCH_TOKENIZER");
    if (env) return env;
    const char *f = __FILE__, *p = strstr(f, "bench/bench_unet.c");
    size_t n = p ? (size_t)(p - f) : 0;
    if (n > 900) n = 0;
    memcpy(buf, f, n);
    snprintf(buf + n, sizeof buf - n, "tests/data/sd15-tiny/model/tokenizer");
    return buf;
}

/* VAE encode then decode through the public API at the model's size. */
static void public_vae(trdi_model *m, const cJSON *vcfg, int reps) {
    int64_t c, h, w, lc, lh, lw;
    trdi_model_image_shape(m, &c, &h, &w);
    trdi_model_latent_shape(m, &lc, &lh, &lw);
    trdi_image img = {0}, dec = {0};
    float *lat = malloc(sizeof(float) * (size_t)(lc * lh * lw));
    if (!lat || trdi_image_alloc(w, h, c, &img) != TRDI_OK) {
        fprintf(stderr, "bench_unet: out of memory\n");
        exit(1);
    }
    trdi_rng r;
    trdi_rng_seed(&r, 9);
    for (int64_t i = 0; i < w * h * c; i++) img.data[i] = (uint8_t)trdi_rng_below(&r, 256);
    for (int enc = 1; enc >= 0; enc--) {
        double best = 1e30;
        trdi_status st = TRDI_OK;
        for (int k = 0; k <= reps && st == TRDI_OK; k++) { /* first call sizes the arena */
            double s0 = now_s();
            if (enc) {
                st = trdi_model_encode(m, &img, lat);
            } else {
                trdi_image_clear(&dec);
                st = trdi_model_decode(m, lat, &dec);
            }
            if (k > 0 && now_s() - s0 < best) best = now_s() - s0;
        }
        if (st != TRDI_OK) {
            fprintf(stderr, "bench_unet: vae: %s\n", trdi_last_error());
            exit(1);
        }
        char name[64];
        snprintf(name, sizeof name, "vae %s %lldpx", enc ? "encode" : "decode", (long long)h);
        row(name, best, vae_flops(vcfg, enc, enc ? (double)h : (double)lh, enc ? (double)w : (double)lw),
            0);
    }
    trdi_image_clear(&img);
    trdi_image_clear(&dec);
    free(lat);
}

/* Public API path: one model load per image size (UNet cases at `sizes`, the VAE at vae_size).
 * Returns false when the library cannot load the folder as a model (then the internal path
 * runs). */
static bool run_public(const char *dir, const cJSON *ucfg, const cJSON *vcfg, const int64_t *sizes,
                       int nsz, const int64_t *batches, int nbt, int reps, bool vae_on,
                       int64_t vae_size) {
    int64_t all[9];
    int na = 0;
    bool vae_in = false;
    for (int i = 0; i < nsz; i++) {
        all[na++] = sizes[i];
        vae_in = vae_in || sizes[i] == vae_size;
    }
    if (vae_on && !vae_in) all[na++] = vae_size;
    for (int si = 0; si < na; si++) {
        trdi_model_params mp = trdi_model_default_params();
        mp.width = mp.height = all[si];
        trdi_model *m = NULL;
        double t0 = now_s();
        if (trdi_model_load(dir, &mp, &m) != TRDI_OK) {
            if (si == 0) {
                printf("# (public API: trdi_model_load: %s -> internal UNet / VAE)\n",
                       trdi_last_error());
                return false;
            }
            fprintf(stderr, "bench_unet: %s\n", trdi_last_error());
            exit(1);
        }
        printf("# trdi_model_load at %lldx%lld: %.1f s, peak RSS %.0f MiB\n", (long long)all[si],
               (long long)all[si], now_s() - t0, peak_rss_mib());
        trdi_denoiser den;
        const void *cond = NULL;
        if (trdi_model_denoiser(m, &den) != TRDI_OK ||
            trdi_model_condition(m, "a photograph of an astronaut riding a horse", &cond) !=
                TRDI_OK) {
            fprintf(stderr, "bench_unet: %s\n", trdi_last_error());
            exit(1);
        }
        for (int bi = 0; si < nsz && bi < nbt; bi++) {
            int64_t b = batches[bi] < 1 ? 1 : batches[bi] > 8 ? 8 : batches[bi];
            size_t n = (size_t)(b * den.channels * den.height * den.width);
            float *x = malloc(n * sizeof(float)), *eps = malloc(n * sizeof(float));
            const void *conds[8] = {cond, cond, cond, cond, cond, cond, cond, cond};
            fill(x, n, 3);
            double best = 1e30;
            trdi_status st = TRDI_OK;
            for (int r = 0; r <= reps && st == TRDI_OK; r++) { /* first call sizes the arena */
                double s0 = now_s();
                st = den.predict(den.ctx, b, x, 500, conds, eps);
                if (r > 0 && now_s() - s0 < best) best = now_s() - s0;
            }
            if (st != TRDI_OK) {
                fprintf(stderr, "bench_unet: predict: %s\n", trdi_last_error());
                exit(1);
            }
            char name[64];
            snprintf(name, sizeof name, "unet %lldpx b%lld", (long long)all[si], (long long)b);
            row(name, best, (double)b * unet_flops(ucfg, (double)den.height, (double)den.width, 77),
                0);
            free(x);
            free(eps);
        }
        if (vae_on && all[si] == vae_size) public_vae(m, vcfg, reps);
        trdi_model_free(m);
    }
    return true;
}

int main(int argc, char **argv) {
    const char *model = getenv("TRDI_BENCH_MODEL"), *preset = "sd15", *keep = NULL;
    const char *sizes_s = "256,512", *batches_s = "1,2", *dtype = "fp16", *tok = NULL;
    uint64_t seed = 1;
    int reps = 1, sgemm_n = 4096;
    bool vae_on = true;
    int64_t vae_size = 512;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) model = argv[++i];
        else if (!strcmp(a, "--preset") && v) preset = argv[++i];
        else if (!strcmp(a, "--dtype") && v) dtype = argv[++i];
        else if (!strcmp(a, "--fp16")) dtype = "fp16";
        else if (!strcmp(a, "--seed") && v) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--tokenizer") && v) tok = argv[++i];
        else if (!strcmp(a, "--sizes") && v) sizes_s = argv[++i];
        else if (!strcmp(a, "--batches") && v) batches_s = argv[++i];
        else if (!strcmp(a, "--reps") && v) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--vae-size") && v) vae_size = atoll(argv[++i]);
        else if (!strcmp(a, "--sgemm") && v) sgemm_n = atoi(argv[++i]);
        else if (!strcmp(a, "--keep") && v) keep = argv[++i];
        else if (!strcmp(a, "--no-vae")) vae_on = false;
        else {
            fprintf(stderr, "usage: bench_unet [--model DIR] [--preset sd15|sd21|tiny] [--dtype "
                            "fp16|fp32] [--fp16] [--seed N] [--tokenizer DIR] [--sizes 256,512] "
                            "[--batches 1,2] [--reps N] [--no-vae] [--vae-size N] [--sgemm N] "
                            "[--keep DIR]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    setvbuf(stdout, NULL, _IOLBF, 0); /* rows appear as they are measured */
    int64_t sizes[8], batches[8];
    int nsz = parse_list(sizes_s, sizes, 8), nbt = parse_list(batches_s, batches, 8);
    char tmp[256] = "";
    if (!model) {
        trdi_mkmodel_params p = trdi_mkmodel_default_params();
        p.preset = preset;
        p.dtype = strcmp(dtype, "fp32") ? TRDI_ST_F16 : TRDI_ST_F32;
        p.tokenizer_from = tok ? tok : default_tokenizer();
        p.seed = seed;
        if (keep) {
            snprintf(tmp, sizeof tmp, "%s", keep);
        } else {
            snprintf(tmp, sizeof tmp, "/tmp/trdi-bench-sd-XXXXXX");
            if (!mkdtemp(tmp)) {
                perror("mkdtemp");
                return 1;
            }
            p.overwrite = true; /* the empty temporary folder */
        }
        double t0 = now_s();
        if (trdi_mkmodel(tmp, &p) != TRDI_OK) {
            fprintf(stderr, "bench_unet: mkmodel: %s\n", trdi_last_error());
            return 1;
        }
        printf("# mkmodel %s (%s weights) -> %s: %.1f s, peak RSS %.0f MiB\n", preset, dtype, tmp,
               now_s() - t0, peak_rss_mib());
        model = tmp;
    }
    cJSON *ucfg = load_config(model, "unet/config.json");
    cJSON *vcfg = load_config(model, "vae/config.json");
    if (!ucfg || !vcfg) {
        fprintf(stderr, "bench_unet: %s: cannot read unet/vae config.json\n", model);
        return 1;
    }
    double t0 = now_s();
    g_sgemm = sgemm_gflops(sgemm_n, 2);
    printf("# sgemm %dx%dx%d (cblas, best of 2): %.1f GFLOP/s in %.1f s\n# BLAS: %s; kernels: %s\n",
           sgemm_n, sgemm_n, sgemm_n, g_sgemm, now_s() - t0, openblas_get_config(),
           openblas_get_corename());
    printf("# FLOPs: analytic from the configs (conv, linear, attention; 2 per multiply-add), "
           "77 text tokens\n");
    printf("%-24s %9s %9s %9s %7s %12s  %8s\n", "case", "seconds", "GFLOP", "GFLOP/s", "/sgemm",
           "plan GFLOP", "RSS MiB");
    if (!run_public(model, ucfg, vcfg, sizes, nsz, batches, nbt, reps, vae_on, vae_size)) {
        trdi_diffusers *dm = NULL;
        trdi_unet *u = NULL;
        trdi_vae *v = NULL;
        t0 = now_s();
        if (trdi_diffusers_open(model, TRDI_VARIANT_AUTO, &dm) != TRDI_OK ||
            trdi_unet_load(dm, "unet", &u) != TRDI_OK ||
            (vae_on && trdi_vae_load(dm, "vae", &v) != TRDI_OK)) {
            fprintf(stderr, "bench_unet: %s\n", trdi_last_error());
            return 1;
        }
        printf("# load (internal unet + vae): %.1f s, unet weights %.0f MiB float32, peak RSS "
               "%.0f MiB\n",
               now_s() - t0, (double)trdi_unet_weight_bytes(u) / 1048576.0, peak_rss_mib());
        const int64_t S = 77, D = trdi_unet_get_config(u)->cross_dim[0];
        for (int si = 0; si < nsz; si++) {
            int64_t lat = sizes[si] / 8;
            for (int bi = 0; bi < nbt; bi++) {
                int64_t b = batches[bi];
                size_t n = (size_t)(b * 4 * lat * lat);
                float *x = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
                float *ctx = malloc((size_t)(b * S * D) * sizeof(float));
                fill(x, n, 3);
                fill(ctx, (size_t)(b * S * D), 4);
                double plan = 0;
                size_t arena = 0;
                trdi_unet_plan(u, b, lat, lat, S, &plan, &arena);
                double best = 1e30;
                trdi_status st = TRDI_OK;
                for (int r = 0; r <= reps && st == TRDI_OK; r++) { /* first call sizes the arena */
                    double s0 = now_s();
                    st = trdi_unet_forward(u, b, lat, lat, x, 500, ctx, S, out, NULL, NULL);
                    if (r > 0 && now_s() - s0 < best) best = now_s() - s0;
                }
                if (st != TRDI_OK) {
                    fprintf(stderr, "bench_unet: unet: %s\n", trdi_last_error());
                    return 1;
                }
                char name[64];
                snprintf(name, sizeof name, "unet %lldpx b%lld", (long long)sizes[si],
                         (long long)b);
                row(name, best, (double)b * unet_flops(ucfg, (double)lat, (double)lat, (double)S),
                    plan);
                free(x);
                free(out);
                free(ctx);
            }
        }
        if (v) {
            int64_t img = vae_size, lat = vae_size / 8;
            float *x = malloc(sizeof(float) * (size_t)(3 * img * img));
            float *mom = malloc(sizeof(float) * (size_t)(8 * lat * lat));
            fill(x, (size_t)(3 * img * img), 5);
            for (int enc = 1; enc >= 0; enc--) {
                double plan = 0, best = 1e30;
                size_t arena = 0;
                trdi_vae_plan(v, enc, 1, enc ? img : lat, enc ? img : lat, &plan, &arena);
                trdi_status st = TRDI_OK;
                for (int r = 0; r <= reps && st == TRDI_OK; r++) {
                    double s0 = now_s();
                    st = enc ? trdi_vae_encode(v, 1, img, img, x, mom, NULL, NULL)
                             : trdi_vae_decode(v, 1, lat, lat, mom, x, NULL, NULL);
                    if (r > 0 && now_s() - s0 < best) best = now_s() - s0;
                }
                if (st != TRDI_OK) {
                    fprintf(stderr, "bench_unet: vae: %s\n", trdi_last_error());
                    return 1;
                }
                char name[64];
                snprintf(name, sizeof name, "vae %s %lldpx", enc ? "encode" : "decode",
                         (long long)img);
                row(name, best,
                    vae_flops(vcfg, enc, enc ? (double)img : (double)lat,
                              enc ? (double)img : (double)lat),
                    plan);
            }
            free(x);
            free(mom);
        }
        trdi_unet_free(u);
        trdi_vae_free(v);
        trdi_diffusers_free(dm);
    }
    /* Again at the end: on a shared machine the load changes during the run; compare the ratios
     * against both. */
    printf("# sgemm again at the end: %.1f GFLOP/s (ratios above use the first, %.1f)\n",
           sgemm_gflops(sgemm_n, 2), g_sgemm);
    printf("# peak resident memory: %.0f MiB\n", peak_rss_mib());
    cJSON_Delete(ucfg);
    cJSON_Delete(vcfg);
    if (tmp[0] && !keep) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) fprintf(stderr, "bench_unet: could not remove %s\n", tmp);
    }
    return 0;
}
