/* bench_kernels.c -- throughput of the transformer kernels, each optimised kernel beside its plain
 * C reference in the same run (ratios, not absolute times, are what compare across machines):
 * GEMM (OpenBLAS cblas_sgemm vs the reference triple loop) in GFLOP/s at CLIP / UNet / square
 * sizes, tiled softmax attention vs the reference, and the fp16-weight GEMM vs converting the
 * weight to float32 for sgemm. Run: build/bench_kernels [--quick].
 * Not a test: it asserts nothing about time. */
#include "core/core.h"
#include "kernels/kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct gemm_args {
    bool ref;
    int64_t m, n, k;
    const float *a, *b;
    float *c;
} gemm_args;

static void run_gemm(void *p) {
    gemm_args *g = p;
    /* y = x W^T layout (trans_b), as every linear layer calls it. */
    if (g->ref)
        trdi_k_gemm_ref(false, true, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->k, 0.0f, g->c, g->n);
    else
        trdi_k_gemm(false, true, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->k, 0.0f, g->c, g->n);
}

typedef struct attn_args {
    bool ref;
    trdi_k_attn p;
    const float *q, *k, *v;
    float *o, *scratch;
    size_t n_scratch;
} attn_args;

static void run_attn(void *p) {
    attn_args *a = p;
    if (a->ref)
        trdi_k_attention_ref(&a->p, a->q, a->k, a->v, a->o, a->scratch);
    else
        (void)trdi_k_attention(&a->p, a->q, a->k, a->v, a->o, a->scratch, a->n_scratch);
}

typedef struct f16_args {
    bool baseline; /* convert W to float32, then sgemm (what the UNet did before the kernel) */
    int64_t n, m, k;
    const float *a;
    const uint16_t *w;
    float *wf, *c, *scratch;
    size_t n_scratch;
} f16_args;

static void run_f16(void *p) {
    f16_args *g = p;
    if (g->baseline) {
        (void)trdi_st_convert_to_f32(TRDI_ST_F16, g->w, (size_t)(g->m * g->k), g->wf);
        trdi_k_gemm(false, true, g->n, g->m, g->k, 1.0f, g->a, g->k, g->wf, g->k, 0.0f, g->c, g->m);
    } else {
        (void)trdi_k_gemm_nt_f16(g->n, g->m, g->k, g->a, g->k, g->w, g->k, NULL, g->c, g->m, 1,
                                 g->scratch, g->n_scratch);
    }
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best wall time of repeated runs (at least `min_reps`, until `budget` seconds are spent); *cpu
 * gets the best process CPU time of a run (all threads), which a loaded machine inflates less. */
static double best_time(void (*fn)(void *), void *arg, int min_reps, double budget, double *cpu) {
    double best = 1e300, best_cpu = 1e300, start = now_s();
    for (int r = 0; r < min_reps || now_s() - start < budget; r++) {
        double t0 = now_s(), c0 = cpu_s();
        fn(arg);
        double t = now_s() - t0, c = cpu_s() - c0;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
        if (r > 1000) break;
    }
    *cpu = best_cpu;
    return best;
}

static float *randn(trdi_rng *rng, size_t n) {
    float *p = trdi_mallocn(n, sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    trdi_rng_normal_fill(rng, p, n);
    return p;
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    trdi_rng rng;
    trdi_rng_seed(&rng, 1);
    printf("OpenBLAS: %s, %d threads\n", openblas_get_config(), openblas_get_num_threads());

    /* m, n, k, compare with the reference? (the reference takes seconds above ~0.3 GFLOP) */
    const struct { int64_t m, n, k; bool ref; const char *what; } gs[] = {
        {77, 768, 768, true, "CLIP-L q/k/v/out proj"},
        {77, 3072, 768, true, "CLIP-L fc1"},
        {256, 256, 256, true, "square 256"},
        {512, 512, 512, true, "square 512"},
        {4096, 320, 320, false, "SD1.5 64x64 latent, 320 ch linear"},
        {1024, 1024, 1024, false, "square 1024"},
        {2048, 2048, 2048, false, "square 2048"},
    };
    printf("\nGEMM y = x W^T (m x k) (n x k)^T, float32      GFLOP/s: OpenBLAS    reference   ratio"
           "   OpenBLAS per CPU-s\n");
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
        if (quick && gs[i].m * gs[i].n * gs[i].k > (int64_t)1 << 28) continue;
        float *a = randn(&rng, (size_t)(gs[i].m * gs[i].k)), *b = randn(&rng, (size_t)(gs[i].n * gs[i].k));
        float *c = trdi_mallocn((size_t)(gs[i].m * gs[i].n), sizeof(float));
        gemm_args g = {false, gs[i].m, gs[i].n, gs[i].k, a, b, c};
        double flop = 2.0 * (double)gs[i].m * (double)gs[i].n * (double)gs[i].k;
        double c_opt, c_ref;
        double t_opt = best_time(run_gemm, &g, 3, quick ? 0.1 : 0.5, &c_opt);
        double t_ref = 0;
        if (gs[i].ref) {
            g.ref = true;
            t_ref = best_time(run_gemm, &g, 1, quick ? 0.1 : 0.3, &c_ref);
        }
        printf("  %5lld x %5lld x %5lld  %-36s %9.2f  %10.3f  %7.1fx  %9.2f\n", (long long)gs[i].m,
               (long long)gs[i].n, (long long)gs[i].k, gs[i].what, flop / t_opt * 1e-9,
               t_ref > 0 ? flop / t_ref * 1e-9 : 0.0, t_ref > 0 ? t_ref / t_opt : 0.0,
               flop / c_opt * 1e-9);
        free(a), free(b), free(c);
    }

    const struct { int64_t heads, dh, tq, tk; bool causal, ref; const char *what; } as[] = {
        {12, 64, 77, 77, true, true, "CLIP-L self-attention (causal)"},
        {8, 40, 1024, 1024, false, true, "SD1.5 32x32 self-attention"},
        {8, 40, 4096, 77, false, true, "SD1.5 64x64 cross-attention"},
        {8, 40, 4096, 4096, false, false, "SD1.5 64x64 self-attention"},
    };
    printf("\nattention softmax(QK^T/sqrt(dh))V        ms:  tiled (OpenMP)  reference   ratio   "
           "GFLOP/s(tiled)  per CPU-s  scratch\n");
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
        if (quick && as[i].tq * as[i].tk > 2000000) continue;
        trdi_k_attn p = {.batch = 1, .heads = as[i].heads, .head_dim = as[i].dh, .tq = as[i].tq,
                         .tk = as[i].tk, .scale = 0.125f, .causal = as[i].causal};
        const int64_t hd = as[i].heads * as[i].dh;
        float *q = randn(&rng, (size_t)(as[i].tq * hd)), *k = randn(&rng, (size_t)(as[i].tk * hd));
        float *v = randn(&rng, (size_t)(as[i].tk * hd));
        float *o = trdi_mallocn((size_t)(as[i].tq * hd), sizeof(float));
        size_t ns = trdi_k_attention_scratch(&p);
        float *s = trdi_mallocn(ns > (size_t)as[i].tk ? ns : (size_t)as[i].tk, sizeof(float));
        attn_args a = {false, p, q, k, v, o, s, ns > (size_t)as[i].tk ? ns : (size_t)as[i].tk};
        double flop = 4.0 * (double)as[i].heads * (double)as[i].tq * (double)as[i].tk * (double)as[i].dh;
        double c_opt, c_ref;
        double t_opt = best_time(run_attn, &a, 3, quick ? 0.1 : 0.5, &c_opt), t_ref = 0;
        if (as[i].ref) {
            a.ref = true;
            t_ref = best_time(run_attn, &a, 1, quick ? 0.1 : 0.3, &c_ref);
        }
        printf("  %-40s %14.3f  %10.3f  %6.1fx  %10.2f  %9.2f  %6.2f MiB\n", as[i].what,
               t_opt * 1e3, t_ref * 1e3, t_ref > 0 ? t_ref / t_opt : 0.0, flop / t_opt * 1e-9,
               flop / c_opt * 1e-9, (double)ns * 4.0 / 1048576.0);
        free(q), free(k), free(v), free(o), free(s);
    }

    /* The UNet's lowest-resolution layers: few rows against a large fp16 weight. Several weights
     * in turn, so that each is read from memory as in a forward pass, not from cache. */
    const struct { int64_t n, m, k; const char *what; } fs[] = {
        {16, 1280, 11520, "256px level 4 conv 3x3 (4x4)"},
        {64, 1280, 11520, "256px level 3 conv 3x3 (8x8)"},
        {128, 1280, 11520, "256px level 3, batch 2"},
        {64, 10240, 1280, "256px level 3 GEGLU proj"},
    };
    printf("\nfp16-weight GEMM C = A W^T, A (n x k) f32, W (m x k) fp16  GFLOP/s: kernel  "
           "convert+sgemm  ratio   (rows up to %lld use it)\n", (long long)trdi_k_gemm_nt_f16_max_rows());
    enum { NW = 6 };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        if (quick && i > 0) break;
        size_t wn = (size_t)(fs[i].m * fs[i].k);
        uint16_t *w[NW];
        float *tmp = randn(&rng, wn);
        for (int l = 0; l < NW; l++) {
            w[l] = trdi_mallocn(wn, sizeof(uint16_t));
            if (!w[l]) exit(1);
            for (size_t j = 0; j < wn; j++) w[l][j] = trdi_f32_to_f16(tmp[j] * 0.01f);
        }
        float *a = randn(&rng, (size_t)(fs[i].n * fs[i].k));
        float *c = trdi_mallocn((size_t)(fs[i].n * fs[i].m), sizeof(float));
        size_t ns = trdi_k_gemm_nt_f16_scratch(fs[i].n, fs[i].k);
        float *scr = trdi_mallocn(ns, sizeof(float));
        double flop = 2.0 * (double)fs[i].n * (double)fs[i].m * (double)fs[i].k;
        double best[2] = {1e300, 1e300};
        for (int rep = 0; rep < (quick ? 1 : 3); rep++)
            for (int b = 0; b < 2; b++) {
                double t0 = now_s();
                for (int l = 0; l < NW; l++) {
                    f16_args g = {b == 1, fs[i].n, fs[i].m, fs[i].k, a, w[l], tmp, c, scr, ns};
                    run_f16(&g);
                }
                double t = (now_s() - t0) / NW;
                if (t < best[b]) best[b] = t;
            }
        printf("  %4lld x %5lld x %5lld  %-32s %9.1f  %12.1f  %6.2fx\n", (long long)fs[i].n,
               (long long)fs[i].m, (long long)fs[i].k, fs[i].what, flop / best[0] * 1e-9,
               flop / best[1] * 1e-9, best[1] / best[0]);
        for (int l = 0; l < NW; l++) free(w[l]);
        free(tmp), free(a), free(c), free(scr);
    }
    return 0;
}
