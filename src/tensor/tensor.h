/* tensor.h -- a small tensor descriptor (dtype, shape, strides, data pointer) and an activation
 * arena. A descriptor never owns its data: weights live in the model (or a memory map), activations
 * in an arena. Not public API; not an autograd or broadcasting library. */
#ifndef TRDI_TENSOR_H
#define TRDI_TENSOR_H

#include "trdi.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRDI_MAX_DIMS 6

/* Element types a descriptor may point at. Compute is float32; the others appear in files. */
typedef enum trdi_dtype {
    TRDI_DTYPE_F32 = 0,
    TRDI_DTYPE_F16 = 1,
    TRDI_DTYPE_BF16 = 2,
    TRDI_DTYPE_I64 = 3,
    TRDI_DTYPE_I32 = 4,
    TRDI_DTYPE_U8 = 5
} trdi_dtype;

/* Bytes per element (0 for an unknown value). */
size_t trdi_dtype_size(trdi_dtype t);
/* "F32", "F16", "BF16", "I64", "I32", "U8" (safetensors spelling); "?" for an unknown value. */
const char *trdi_dtype_name(trdi_dtype t);

/* A strided view: element (i0, i1, ...) is at data + sum(i_k * stride[k]) elements. */
typedef struct trdi_tensor {
    trdi_dtype dtype;
    int ndim;
    int64_t shape[TRDI_MAX_DIMS];
    int64_t stride[TRDI_MAX_DIMS]; /* in elements, not bytes */
    void *data;
} trdi_tensor;

/* A C-contiguous (row-major) descriptor of `data`. Fails on ndim outside [0, TRDI_MAX_DIMS] or a
 * negative dimension (the message names `what`). */
trdi_status trdi_tensor_make(trdi_tensor *t, trdi_dtype dtype, void *data, int ndim,
                             const int64_t *shape, const char *what);
/* Shorthand for float32 with up to 4 dims given as arguments; unused trailing dims are ignored. */
trdi_tensor trdi_tensor_f32(float *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);

/* Number of elements (1 for a 0-d tensor). Saturates to -1 on overflow. */
int64_t trdi_tensor_numel(const trdi_tensor *t);
/* Product of a shape list; -1 on a negative entry or overflow. */
int64_t trdi_shape_numel(int ndim, const int64_t *shape);
/* True when the strides are the row-major strides of the shape. */
bool trdi_tensor_is_contiguous(const trdi_tensor *t);
/* True when both shapes have the same rank and extents. */
bool trdi_shape_equal(int ndim_a, const int64_t *a, int ndim_b, const int64_t *b);
/* Writes "[d0, d1, ...]" into buf (always NUL-terminated, truncated if short); returns buf. */
char *trdi_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);
/* Reinterprets a contiguous tensor with a new shape of the same element count. */
trdi_status trdi_tensor_reshape(const trdi_tensor *t, int ndim, const int64_t *shape,
                                trdi_tensor *out);

/* ---------------------------------------------------------------------------------------------- */
/* Activation arena: one allocation, bump allocation, reset to a mark. Per-run state takes all its
 * activations from one arena so that nothing allocates in the hot loop. Not thread-safe. */

#define TRDI_ARENA_ALIGN 64

typedef struct trdi_arena {
    unsigned char *base;
    size_t cap;  /* bytes */
    size_t used; /* bytes, a multiple of TRDI_ARENA_ALIGN */
    size_t peak; /* high-water mark of `used` */
} trdi_arena;

/* Bytes a request of `bytes` takes in an arena (rounded up to the alignment); SIZE_MAX on overflow.
 * Use it to size an arena exactly: sum the footprints of every allocation. */
size_t trdi_arena_footprint(size_t bytes);
/* Allocates `cap` bytes (64-byte aligned). On failure *a is zeroed. */
trdi_status trdi_arena_init(trdi_arena *a, size_t cap);
/* Releases the memory; the arena is zeroed. NULL and a zeroed arena are fine. */
void trdi_arena_free(trdi_arena *a);
/* A 64-byte aligned block of `bytes`, or NULL when the arena is full (no error message is set:
 * callers size arenas up front, so a NULL here is a sizing bug they report). Contents undefined. */
void *trdi_arena_alloc(trdi_arena *a, size_t bytes);
/* `n` floats (NULL when full or on overflow). */
float *trdi_arena_floats(trdi_arena *a, size_t n);
/* The current fill level, to give back everything allocated after it with trdi_arena_reset_to. */
size_t trdi_arena_mark(const trdi_arena *a);
void trdi_arena_reset_to(trdi_arena *a, size_t mark);
void trdi_arena_reset(trdi_arena *a);

#endif /* TRDI_TENSOR_H */
