/* core.h -- internal helpers shared by every module: error reporting, logging, checked
 * allocation, a seeded RNG. Not public API (see include/trdi.h). */
#ifndef TRDI_CORE_H
#define TRDI_CORE_H

#include "trdi.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TRDI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TRDI_PRINTF(a, b)
#endif

/* Records a printf-style message as this thread's last error and returns `status`, so that
 * failing paths read `return trdi_fail(TRDI_ERR_INVALID_ARG, "steps must be > 0, got %lld", n);`. */
trdi_status trdi_fail(trdi_status status, const char *fmt, ...) TRDI_PRINTF(2, 3);
trdi_status trdi_failv(trdi_status status, const char *fmt, va_list ap);

/* Prefixes the current last-error message with "<prefix>: " (adds context on the way up). */
void trdi_error_prefix(const char *fmt, ...) TRDI_PRINTF(1, 2);

/* Sends a line to the installed log callback (if any). */
void trdi_log(trdi_log_level level, const char *fmt, ...) TRDI_PRINTF(2, 3);

/* calloc / malloc of count * size with overflow checking; NULL on failure or overflow. */
void *trdi_calloc(size_t count, size_t size);
void *trdi_mallocn(size_t count, size_t size);
/* malloc of count * size for big, long-lived buffers (weights, activation arenas): 64-byte
 * aligned; from 2 MiB on, 2 MiB aligned, marked for transparent huge pages where the OS offers
 * them (a 3 GB buffer then takes ~1700 page faults instead of ~850,000, and GEMM packing misses
 * the TLB less) and zeroed by all OpenMP threads (the first touch, done in parallel). NULL on
 * failure or overflow. free() it. */
void *trdi_malloc_large(size_t count, size_t size);

/* Threads an OpenMP parallel region would use now (omp_get_max_threads; 1 without OpenMP). */
int trdi_max_threads(void);

/* A small deterministic RNG (xoshiro256** seeded through splitmix64). Same seed -> same stream on
 * every platform. */
typedef struct trdi_rng {
    uint64_t s[4];
    int has_spare;
    double spare;
} trdi_rng;

void trdi_rng_seed(trdi_rng *rng, uint64_t seed);
uint64_t trdi_rng_u64(trdi_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double trdi_rng_uniform(trdi_rng *rng);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t trdi_rng_below(trdi_rng *rng, uint64_t n);
/* Standard normal (Marsaglia polar method). */
double trdi_rng_normal(trdi_rng *rng);
/* Fills out[0..n) with standard normals as float. */
void trdi_rng_normal_fill(trdi_rng *rng, float *out, size_t n);

#endif /* TRDI_CORE_H */
