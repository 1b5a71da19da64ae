/* alloc.c -- allocation with overflow checks (sizes come from files and user input). */
#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>

void *trdi_calloc(size_t count, size_t size) {
    if (count == 0 || size == 0) return calloc(1, 1);
    if (count > SIZE_MAX / size) return NULL;
    return calloc(count, size);
}

void *trdi_mallocn(size_t count, size_t size) {
    if (count == 0 || size == 0) return malloc(1);
    if (count > SIZE_MAX / size) return NULL;
    return malloc(count * size);
}
