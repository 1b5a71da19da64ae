/* safetensors.h -- internal parts of the safetensors reader/writer: the two half-precision bulk
 * conversion paths (plain C reference and F16C), exposed so tests can compare them bit for bit.
 * The public API is in include/trdi.h (section "io: safetensors"). */
#ifndef TRDI_IO_SAFETENSORS_H
#define TRDI_IO_SAFETENSORS_H

#include "trdi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* n little-endian IEEE half values at src (any alignment) -> float32, plain C. */
void trdi_f16_to_f32_ref(const void *src, size_t n, float *dst);
/* The same with F16C instructions; returns false (and writes nothing) when the CPU lacks F16C or
 * the build is not for x86. */
bool trdi_f16_to_f32_f16c(const void *src, size_t n, float *dst);
/* n float32 -> half with F16C (round to nearest even); false when unavailable. For tests of
 * trdi_f32_to_f16. */
bool trdi_f32_to_f16_f16c(const float *src, size_t n, uint16_t *dst);
/* Whether the running CPU has F16C (and the build can use it). */
bool trdi_cpu_has_f16c(void);

#endif /* TRDI_IO_SAFETENSORS_H */
