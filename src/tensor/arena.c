/* arena.c -- the activation arena: one aligned allocation handed out by bumping an offset and
 * given back wholesale (reset) or down to a mark. It is not a general allocator: no per-block free. */
#include "tensor/tensor.h"

#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t trdi_arena_footprint(size_t bytes) {
    if (bytes > SIZE_MAX - (TRDI_ARENA_ALIGN - 1)) return SIZE_MAX;
    return (bytes + TRDI_ARENA_ALIGN - 1) / TRDI_ARENA_ALIGN * TRDI_ARENA_ALIGN;
}

trdi_status trdi_arena_init(trdi_arena *a, size_t cap) {
    memset(a, 0, sizeof *a);
    size_t c = trdi_arena_footprint(cap);
    if (c == SIZE_MAX) return trdi_fail(TRDI_ERR_NOMEM, "arena: %zu bytes is too large", cap);
    if (c == 0) c = TRDI_ARENA_ALIGN;
    void *p = trdi_malloc_large(c, 1); /* 2 MiB aligned, a multiple of TRDI_ARENA_ALIGN */
    if (!p) return trdi_fail(TRDI_ERR_NOMEM, "arena: cannot allocate %zu bytes", c);
    a->base = p;
    a->cap = c;
    return TRDI_OK;
}

void trdi_arena_free(trdi_arena *a) {
    if (!a) return;
    free(a->base);
    memset(a, 0, sizeof *a);
}

void *trdi_arena_alloc(trdi_arena *a, size_t bytes) {
    size_t need = trdi_arena_footprint(bytes);
    if (!a->base || need == SIZE_MAX || need > a->cap - a->used) return NULL;
    void *p = a->base + a->used;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

float *trdi_arena_floats(trdi_arena *a, size_t n) {
    if (n > SIZE_MAX / sizeof(float)) return NULL;
    return trdi_arena_alloc(a, n * sizeof(float));
}

size_t trdi_arena_mark(const trdi_arena *a) { return a->used; }

void trdi_arena_reset_to(trdi_arena *a, size_t mark) {
    if (mark <= a->used) a->used = mark;
}

void trdi_arena_reset(trdi_arena *a) { a->used = 0; }
