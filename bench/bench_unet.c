/* bench_unet.c -- Stable Diffusion UNet / VAE speed and memory on this machine, beside the machine's
 * measured OpenBLAS sgemm throughput in the same run: UNet forward (batch 1 and 2) at 256x256 and
 * 512x512 images (latents 32x32 / 64x64), VAE encode and decode at 512x512, achieved GFLOP/s
 * (FLOPs counted by the models' dry runs: convolutions, linear layers, attention) and their ratio
 * to sgemm, weights held, activation arenas and the process's peak resident memory.
 * It also writes random-weight model folders (the `mkmodel` tool until the CLI gets one).
 *
 *   bench_unet --write-model DIR [--preset tiny|sd15|sd21] [--fp16] [--seed N] [--tokenizer DIR]
 *   bench_unet [--model DIR | --preset tiny|sd15|sd21] [--sizes 256,512] [--reps N] [--no-vae]
 *
 * Without --model, a folder for --preset (default tiny) is written to a temporary directory
 * first (fp16 weights on disk for sd15 / sd21). Not a test: it asserts nothing about time. */
#include "core/core.h"
#include "kernels/kernels.h"
#include "model/sd_mkmodel.h"
#include "model/unet.h"
#include "model/vae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The tiny model's CLIP tokenizer in the source tree (found from this file's path). */
static const char *default_tokenizer(void) {
    static char buf[1024];
    const char *f = __FILE__, *slash = strstr(f, "bench/bench_unet.c");
    size_t n = slash ? (size_t)(slash - f) : 0;
    if (n >= sizeof buf - 64) n = 0;
    memcpy(buf, f, n);
    snprintf(buf + n, sizeof buf - n, "tests/data/sd15-tiny/model/tokenizer");
    return buf;
}

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

/* Best-of-3 GFLOP/s of an (m, k) x (k, n)^T sgemm, the linear-layer layout. */
static double sgemm_gflops(int64_t m, int64_t n, int64_t k) {
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(n * k));
    float *c = malloc(sizeof(float) * (size_t)(m * n));
    if (!a || !b || !c) return 0;
    fill(a, (size_t)(m * k), 1);
    fill(b, (size_t)(n * k), 2);
    double best = 1e30;
    trdi_k_gemm(false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n); /* warm-up */
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        trdi_k_gemm(false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * (double)m * (double)n * (double)k / best / 1e9;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_unet --write-model DIR [--preset P] [--fp16] [--seed N] "
                    "[--tokenizer DIR]\n       bench_unet [--model DIR | --preset P] "
                    "[--sizes 256,512] [--reps N] [--no-vae]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *write_dir = NULL, *model = NULL, *preset = "tiny", *tok = default_tokenizer();
    const char *sizes_arg = "256,512";
    bool fp16 = false, fp16_set = false, vae_on = true;
    uint64_t seed = 1;
    int reps = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--write-model") && v) write_dir = argv[++i];
        else if (!strcmp(a, "--model") && v) model = argv[++i];
        else if (!strcmp(a, "--preset") && v) preset = argv[++i];
        else if (!strcmp(a, "--tokenizer") && v) tok = argv[++i];
        else if (!strcmp(a, "--sizes") && v) sizes_arg = argv[++i];
        else if (!strcmp(a, "--seed") && v) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--reps") && v) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--fp16")) fp16 = fp16_set = true;
        else if (!strcmp(a, "--no-vae")) vae_on = false;
        else return usage();
    }
    if (reps < 1) reps = 1;
    if (!fp16_set) fp16 = strcmp(preset, "tiny") != 0;
    sd_mkmodel_opts mo = {.preset = preset, .seed = seed, .fp16 = fp16, .tokenizer_dir = tok};
    if (write_dir) {
        double t0 = now_s();
        trdi_status st = sd_mkmodel_write(write_dir, &mo);
        if (st != TRDI_OK) {
            fprintf(stderr, "bench_unet: %s\n", trdi_last_error());
            return 1;
        }
        printf("wrote %s (%s, %s weights) in %.1f s\n", write_dir, preset, fp16 ? "F16" : "F32",
               now_s() - t0);
        return 0;
    }
    char tmpdir[] = "/tmp/trdi-bench-XXXXXX";
    if (!model) {
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            return 1;
        }
        double t0 = now_s();
        if (sd_mkmodel_write(tmpdir, &mo) != TRDI_OK) {
            fprintf(stderr, "bench_unet: %s\n", trdi_last_error());
            return 1;
        }
        printf("random %s model written to %s in %.1f s\n", preset, tmpdir, now_s() - t0);
        model = tmpdir;
    }
    double gemm = sgemm_gflops(4096, 320, 2880); /* a 64x64-latent 3x3 conv's GEMM shape */
    double gemm_sq = sgemm_gflops(2048, 2048, 2048);
    printf("sgemm: %.1f GFLOP/s (4096x320x2880), %.1f GFLOP/s (2048^3); ratios below use the "
           "larger\n",
           gemm, gemm_sq);
    if (gemm_sq > gemm) gemm = gemm_sq;

    trdi_diffusers *dm = NULL;
    trdi_unet *u = NULL;
    trdi_vae *v = NULL;
    double t0 = now_s();
    if (trdi_diffusers_open(model, TRDI_VARIANT_AUTO, &dm) != TRDI_OK ||
        trdi_unet_load(dm, "unet", &u) != TRDI_OK ||
        (vae_on && trdi_vae_load(dm, "vae", &v) != TRDI_OK)) {
        fprintf(stderr, "bench_unet: %s\n", trdi_last_error());
        return 1;
    }
    const trdi_unet_config *uc = trdi_unet_get_config(u);
    printf("loaded %s in %.1f s: unet %.1f MiB float32 weights\n", model, now_s() - t0,
           (double)trdi_unet_weight_bytes(u) / 1048576.0);
    printf("\n%-22s %10s %10s %10s %8s %12s\n", "case", "seconds", "GFLOP", "GFLOP/s", "/sgemm",
           "arena MiB");
    const int64_t S = 77, D = uc->cross_dim[0];
    int64_t sizes[4];
    int nsz = 0;
    for (const char *p = sizes_arg; *p && nsz < 4;) {
        sizes[nsz++] = strtoll(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    for (int si = 0; si < nsz; si++) {
        int64_t img = sizes[si], lat = img / 8;
        for (int64_t b = 1; b <= 2; b++) {
            size_t n = (size_t)(b * 4 * lat * lat);
            float *x = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
            float *ctx = malloc((size_t)(b * S * D) * sizeof(float));
            fill(x, n, 3);
            fill(ctx, (size_t)(b * S * D), 4);
            double flops = 0;
            size_t arena = 0;
            trdi_unet_plan(u, b, lat, lat, S, &flops, &arena);
            trdi_status st = trdi_unet_forward(u, b, lat, lat, x, 500, ctx, S, out, NULL, NULL);
            double best = 1e30;
            for (int r = 0; st == TRDI_OK && r < reps; r++) {
                double s0 = now_s();
                st = trdi_unet_forward(u, b, lat, lat, x, 500, ctx, S, out, NULL, NULL);
                double dt = now_s() - s0;
                if (dt < best) best = dt;
            }
            if (st != TRDI_OK) {
                fprintf(stderr, "bench_unet: %s\n", trdi_last_error());
                return 1;
            }
            char name[64];
            snprintf(name, sizeof name, "unet %lldx%lld b%lld", (long long)img, (long long)img,
                     (long long)b);
            printf("%-22s %10.3f %10.1f %10.1f %8.2f %12.1f\n", name, best, flops / 1e9,
                   flops / best / 1e9, flops / best / 1e9 / gemm, (double)arena / 1048576.0);
            fflush(stdout);
            free(x);
            free(out);
            free(ctx);
        }
    }
    if (v) {
        int64_t img = 512, lat = 64;
        float *x = malloc(sizeof(float) * (size_t)(3 * img * img));
        float *mom = malloc(sizeof(float) * (size_t)(8 * lat * lat));
        fill(x, (size_t)(3 * img * img), 5);
        for (int enc = 1; enc >= 0; enc--) {
            double flops = 0;
            size_t arena = 0;
            trdi_vae_plan(v, enc, 1, enc ? img : lat, enc ? img : lat, &flops, &arena);
            double best = 1e30;
            trdi_status st = TRDI_OK;
            for (int r = 0; st == TRDI_OK && r < reps + 1; r++) { /* first run sizes the arena */
                double s0 = now_s();
                st = enc ? trdi_vae_encode(v, 1, img, img, x, mom, NULL, NULL)
                         : trdi_vae_decode(v, 1, lat, lat, mom, x, NULL, NULL);
                double dt = now_s() - s0;
                if (r > 0 && dt < best) best = dt;
            }
            if (st != TRDI_OK) {
                fprintf(stderr, "bench_unet: %s\n", trdi_last_error());
                return 1;
            }
            printf("%-22s %10.3f %10.1f %10.1f %8.2f %12.1f\n",
                   enc ? "vae encode 512x512" : "vae decode 512x512", best, flops / 1e9,
                   flops / best / 1e9, flops / best / 1e9 / gemm, (double)arena / 1048576.0);
            fflush(stdout);
        }
        free(x);
        free(mom);
    }
    printf("\npeak resident memory: %.0f MiB\n", peak_rss_mib());
    trdi_unet_free(u);
    trdi_vae_free(v);
    trdi_diffusers_free(dm);
    return 0;
}
