/* rng.c -- xoshiro256** (Blackman & Vigna) seeded by splitmix64, with uniform and normal draws.
 * Deterministic across platforms; not the torch stream (which cannot be matched, spec 7.8). */
#include "core/core.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void trdi_rng_seed(trdi_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
    rng->has_spare = 0;
    rng->spare = 0.0;
}

uint64_t trdi_rng_u64(trdi_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double trdi_rng_uniform(trdi_rng *rng) {
    return (double)(trdi_rng_u64(rng) >> 11) * 0x1.0p-53;
}

uint64_t trdi_rng_below(trdi_rng *rng, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = trdi_rng_u64(rng);
    while (r >= limit);
    return r % n;
}

double trdi_rng_normal(trdi_rng *rng) {
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * trdi_rng_uniform(rng) - 1.0;
        v = 2.0 * trdi_rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = sqrt(-2.0 * log(s) / s);
    rng->spare = v * m;
    rng->has_spare = 1;
    return u * m;
}

void trdi_rng_normal_fill(trdi_rng *rng, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (float)trdi_rng_normal(rng);
}
