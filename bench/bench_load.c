/* bench_load.c -- loading the tiny SD 1.5 folder of tests/data: time and resident memory of
 * (a) the baseline, plain read() of the three weight files into memory, (b) trdi: open the folder,
 * map + validate the weights (no tensor touched), (c) trdi: (b) plus every tensor converted to
 * float32 in its own buffer (what a model loader does), for the fp32 and the fp16 files. Each run
 * is a fresh forked process; prints medians over repeats of wall and CPU (user + system) time and
 * their ratios against (a) from the same run. Resident memory is the change of /proc/self/statm's
 * resident pages (file-backed mapped pages included) while the result is held. */
#include "trdi.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* The model folder: argv[1], else tests/data/sd15-tiny/model next to this source file. */
static char model_dir[4096];

static const char *const comps[] = {"unet", "vae", "text_encoder"};
enum { NC = 3, REPS = 15 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* user + system CPU seconds of this process (less disturbed by a busy machine than wall time) */
static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static long rss_bytes(void) {
    FILE *fp = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (fp) {
        if (fscanf(fp, "%ld %ld", &size, &res) != 2) res = 0;
        fclose(fp);
    }
    return res * sysconf(_SC_PAGESIZE);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

typedef struct held {
    void *buf[4096];
    int n;
    trdi_safetensors *f[NC];
    trdi_diffusers *m;
    size_t bytes;
} held;

static void release(held *h) {
    for (int i = 0; i < h->n; i++)
        free(h->buf[i]);
    for (int i = 0; i < NC; i++)
        trdi_safetensors_close(h->f[i]);
    trdi_diffusers_free(h->m);
    memset(h, 0, sizeof *h);
}

/* (a) read() every weights file into one malloc'd buffer each. */
static int run_read(trdi_diffusers *m, held *h) {
    for (int c = 0; c < NC; c++) {
        const char *p;
        if (trdi_diffusers_weights_path(m, comps[c], &p, NULL) != TRDI_OK) return -1;
        int fd = open(p, O_RDONLY);
        if (fd < 0) return -1;
        off_t size = lseek(fd, 0, SEEK_END);
        lseek(fd, 0, SEEK_SET);
        char *b = malloc((size_t)size);
        size_t got = 0;
        while (b && got < (size_t)size) {
            ssize_t k = read(fd, b + got, (size_t)size - got);
            if (k <= 0) break;
            got += (size_t)k;
        }
        close(fd);
        h->buf[h->n++] = b;
        h->bytes += got;
    }
    return 0;
}

/* (b) / (c): open the folder and the weights; convert == 1 also loads every tensor as float32. */
static int run_trdi(trdi_weights_variant v, int convert, held *h) {
    if (trdi_diffusers_open(model_dir, v, &h->m) != TRDI_OK) return -1;
    for (int c = 0; c < NC; c++) {
        if (trdi_diffusers_open_weights(h->m, comps[c], &h->f[c]) != TRDI_OK) return -1;
        if (!convert) continue;
        for (int64_t i = 0; i < trdi_safetensors_count(h->f[c]); i++) {
            const trdi_st_tensor *t = trdi_safetensors_at(h->f[c], i);
            float *x = NULL;
            int64_t n = 0;
            if (h->n == 4096 || trdi_safetensors_load_f32(h->f[c], t->name, &x, &n) != TRDI_OK)
                return -1;
            h->buf[h->n++] = x;
            h->bytes += (size_t)n * sizeof(float);
        }
    }
    return 0;
}

/* Runs case k once in a fresh child process (so allocator reuse and earlier mappings cannot hide
 * memory) and returns its time and resident-memory change through a pipe. */
static int run_case(int k, trdi_diffusers *m32, double *secs, double *cpu, long *rss,
                    size_t *bytes) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        held h;
        memset(&h, 0, sizeof h);
        long before = rss_bytes();
        double t0 = now(), c0 = cpu_now();
        int rc = k == 0   ? run_read(m32, &h)
                 : k == 1 ? run_trdi(TRDI_VARIANT_FP32, 0, &h)
                 : k == 2 ? run_trdi(TRDI_VARIANT_FP32, 1, &h)
                 : k == 3 ? run_trdi(TRDI_VARIANT_FP16, 0, &h)
                          : run_trdi(TRDI_VARIANT_FP16, 1, &h);
        double t = now() - t0, c = cpu_now() - c0;
        long d = rss_bytes() - before;
        size_t held_bytes = h.bytes;
        release(&h);
        char line[128];
        int n = snprintf(line, sizeof line, "%d %.9f %.9f %ld %zu\n", rc, t, c, d, held_bytes);
        if (write(fds[1], line, (size_t)n) != n) _exit(3);
        _exit(rc == 0 ? 0 : 2);
    }
    close(fds[1]);
    char line[128] = {0};
    ssize_t got = read(fds[0], line, sizeof line - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int rc = -1;
    if (got <= 0 || sscanf(line, "%d %lf %lf %ld %zu", &rc, secs, cpu, rss, bytes) != 5 || rc != 0)
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        snprintf(model_dir, sizeof model_dir, "%s", argv[1]);
    } else {
        const char *src = __FILE__, *cut = strstr(src, "bench/bench_load.c");
        snprintf(model_dir, sizeof model_dir, "%.*stests/data/sd15-tiny/model",
                 cut ? (int)(cut - src) : 0, src);
    }
    trdi_diffusers *m32 = NULL;
    if (trdi_diffusers_open(model_dir, TRDI_VARIANT_FP32, &m32) != TRDI_OK) {
        fprintf(stderr, "bench_load: %s\n", trdi_last_error());
        return 1;
    }
    const char *names[] = {"read() fp32 files (baseline)", "trdi open+validate fp32",
                           "trdi load all as f32, fp32 files", "trdi open+validate fp16",
                           "trdi load all as f32, fp16 files"};
    double t[5][REPS], cpu[5][REPS];
    long rss[5] = {0};
    size_t bytes[5] = {0};
    double warm, warm_cpu;
    long rss_warm;
    size_t bytes_warm;
    run_case(2, m32, &warm, &warm_cpu, &rss_warm, &bytes_warm); /* page cache warm-up */
    for (int r = 0; r < REPS; r++) {
        for (int k = 0; k < 5; k++) {
            if (run_case(k, m32, &t[k][r], &cpu[k][r], &rss[k], &bytes[k]) != 0) {
                fprintf(stderr, "bench_load: case '%s' failed\n", names[k]);
                return 1;
            }
        }
    }
    trdi_diffusers_free(m32);
    double base = median(t[0], REPS), base_cpu = median(cpu[0], REPS);
    printf("bench_load: tiny SD1.5 folder (unet + vae + text_encoder), median of %d, warm cache\n",
           REPS);
    printf("%-34s %9s %6s %9s %6s %13s %11s\n", "case", "wall_ms", "ratio", "cpu_ms", "ratio",
           "rss_delta_kB", "buffers_kB");
    for (int k = 0; k < 5; k++) {
        double w = k == 0 ? base : median(t[k], REPS), c = k == 0 ? base_cpu : median(cpu[k], REPS);
        printf("%-34s %9.3f %6.2f %9.3f %6.2f %13ld %11zu\n", names[k], 1e3 * w, w / base, 1e3 * c,
               c / base_cpu, rss[k] / 1024, bytes[k] / 1024);
    }
    return 0;
}
