/* st_convert.c -- element conversions for safetensors dtypes: half, bfloat16 and the two OCP FP8
 * formats to float32 (exact), float32 to half/bfloat16 (round to nearest even, as torch), and the
 * bulk converter used by the reader. Half -> float has a plain C reference and an F16C path that
 * tests compare on all 65536 inputs. Not a general tensor-cast library. */
#include "core/core.h"
#include "io/safetensors.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define TRDI_X86 1
#endif

static float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Subnormals are normalised
 * into float32 (whose range covers them); NaNs are quieted (bit 22 set) with the payload kept,
 * which is what the F16C instruction VCVTPH2PS does, so both paths agree bit for bit. */
float trdi_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        if (man == 0) return bits_to_f32(sign);
        int e = 1;
        while (!(man & 0x400u)) {
            man <<= 1;
            e--;
        }
        man &= 0x3ffu;
        return bits_to_f32(sign | ((uint32_t)(e + 112) << 23) | (man << 13));
    }
    if (exp == 31) {
        if (man == 0) return bits_to_f32(sign | 0x7f800000u);
        return bits_to_f32(sign | 0x7fc00000u | (man << 13));
    }
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* bfloat16 is the top half of a float32. */
float trdi_bf16_to_f32(uint16_t b) {
    return bits_to_f32((uint32_t)b << 16);
}

/* OCP 8-bit Floating Point Specification (OFP8) rev 1.0, E4M3: bias 7, no infinities, the only NaN
 * encodings are S.1111.111; S.1111.000-110 are normal numbers up to 448. Subnormal = m * 2^-9. */
float trdi_f8e4m3_to_f32(uint8_t v) {
    uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    uint32_t exp = (v >> 3) & 0xfu;
    uint32_t man = v & 0x7u;
    if (exp == 15 && man == 7) return bits_to_f32(sign | 0x7fc00000u);
    if (exp == 0) {
        if (man == 0) return bits_to_f32(sign);
        /* m * 2^-9, m in 1..7: exact in float32 */
        float f = (float)man * (1.0f / 512.0f);
        return bits_to_f32(sign | f32_to_bits(f));
    }
    return bits_to_f32(sign | ((exp + 120) << 23) | (man << 20));
}

/* OFP8 E5M2: bias 15, infinities and NaNs as in IEEE; it is exactly the top byte of a binary16. */
float trdi_f8e5m2_to_f32(uint8_t v) {
    return trdi_f16_to_f32((uint16_t)((uint16_t)v << 8));
}

/* float32 -> binary16, round to nearest, ties to even (IEEE default; torch Tensor.half()). */
uint16_t trdi_f32_to_f16(float f) {
    uint32_t x = f32_to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) { /* inf or NaN */
        if (x == 0x7f800000u) return (uint16_t)(sign | 0x7c00u);
        return (uint16_t)(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
    }
    if (x >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to infinity */
    if (x < 0x38800000u) {                                   /* below 2^-14: subnormal or zero */
        if (x <= 0x33000000u) return sign;                   /* <= 2^-25 rounds (ties even) to 0 */
        uint32_t e = x >> 23;                                /* 102..112 */
        uint32_t m = (x & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* value * 2^24 = m * 2^(e - 126) */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t h = ((((x >> 23) - 112u) << 10) | ((x & 0x7fffffu) >> 13));
    uint32_t rem = x & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry moves into the exponent */
    return (uint16_t)(sign | h);
}

/* float32 -> bfloat16, round to nearest even (torch's round_to_nearest_even); NaN -> quiet NaN. */
uint16_t trdi_f32_to_bf16(float f) {
    uint32_t x = f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

void trdi_f16_to_f32_ref(const void *src, size_t n, float *dst) {
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
        dst[i] = trdi_f16_to_f32(h);
    }
}

#ifdef TRDI_X86
/* CPUID leaf 1: ECX bit 29 F16C, bit 28 AVX, bit 27 OSXSAVE; XGETBV: the OS saves YMM state. */
static bool detect_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    if (!((c >> 27) & 1) || !((c >> 28) & 1) || !((c >> 29) & 1)) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 6u) == 6u;
}

bool trdi_cpu_has_f16c(void) {
    static _Atomic int cached = -1; /* every thread computes the same value */
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        v = detect_f16c() ? 1 : 0;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v != 0;
}

__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c_impl(const unsigned char *src,
                                                                     size_t n, float *dst) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    if (i < n) trdi_f16_to_f32_ref(src + 2 * i, n - i, dst + i);
}

__attribute__((target("avx,f16c"))) static void f32_to_f16_f16c_impl(const float *src, size_t n,
                                                                     uint16_t *dst) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), h);
    }
    for (; i < n; i++)
        dst[i] = trdi_f32_to_f16(src[i]);
}

bool trdi_f16_to_f32_f16c(const void *src, size_t n, float *dst) {
    if (!trdi_cpu_has_f16c()) return false;
    f16_to_f32_f16c_impl(src, n, dst);
    return true;
}

bool trdi_f32_to_f16_f16c(const float *src, size_t n, uint16_t *dst) {
    if (!trdi_cpu_has_f16c()) return false;
    f32_to_f16_f16c_impl(src, n, dst);
    return true;
}
#else
bool trdi_cpu_has_f16c(void) {
    return false;
}
bool trdi_f16_to_f32_f16c(const void *src, size_t n, float *dst) {
    (void)src, (void)n, (void)dst;
    return false;
}
bool trdi_f32_to_f16_f16c(const float *src, size_t n, uint16_t *dst) {
    (void)src, (void)n, (void)dst;
    return false;
}
#endif

/* dst[i] = (float) element i of the T array at p (memcpy: the data may be unaligned). */
#define CONVERT_FROM(T)                                                                            \
    for (size_t i = 0; i < n; i++) {                                                               \
        T v;                                                                                       \
        memcpy(&v, p + sizeof(T) * i, sizeof v);                                                   \
        dst[i] = (float)v;                                                                         \
    }                                                                                              \
    return TRDI_OK

trdi_status trdi_st_convert_to_f32(trdi_st_dtype dtype, const void *src, size_t n, float *dst) {
    if (n == 0) return TRDI_OK;
    if (!src || !dst) return trdi_fail(TRDI_ERR_INVALID_ARG, "convert_to_f32: NULL src or dst");
    const unsigned char *p = src;
    switch (dtype) {
    case TRDI_ST_F32:
        memcpy(dst, p, n * sizeof(float));
        return TRDI_OK;
    case TRDI_ST_F16:
        if (!trdi_f16_to_f32_f16c(p, n, dst)) trdi_f16_to_f32_ref(p, n, dst);
        return TRDI_OK;
    case TRDI_ST_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = trdi_bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return TRDI_OK;
    case TRDI_ST_F64:
        CONVERT_FROM(double);
    case TRDI_ST_F8_E4M3:
        for (size_t i = 0; i < n; i++)
            dst[i] = trdi_f8e4m3_to_f32(p[i]);
        return TRDI_OK;
    case TRDI_ST_F8_E5M2:
        for (size_t i = 0; i < n; i++)
            dst[i] = trdi_f8e5m2_to_f32(p[i]);
        return TRDI_OK;
    case TRDI_ST_I64:
        CONVERT_FROM(int64_t);
    case TRDI_ST_I32:
        CONVERT_FROM(int32_t);
    case TRDI_ST_I16:
        CONVERT_FROM(int16_t);
    case TRDI_ST_I8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(int8_t)p[i];
        return TRDI_OK;
    case TRDI_ST_U8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)p[i];
        return TRDI_OK;
    case TRDI_ST_U16:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
        return TRDI_OK;
    case TRDI_ST_U32:
        CONVERT_FROM(uint32_t);
    case TRDI_ST_U64:
        CONVERT_FROM(uint64_t);
    case TRDI_ST_BOOL:
        for (size_t i = 0; i < n; i++)
            dst[i] = p[i] ? 1.0f : 0.0f;
        return TRDI_OK;
    }
    return trdi_fail(TRDI_ERR_INVALID_ARG, "convert_to_f32: unknown dtype %d", (int)dtype);
}
#undef CONVERT_FROM
