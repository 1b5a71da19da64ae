/* alloc.c -- allocation with overflow checks (sizes come from files and user input). */
#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

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

void *trdi_malloc_large(size_t count, size_t size) {
    if (count > 0 && size > 0 && count > SIZE_MAX / size) return NULL;
    size_t bytes = count > 0 && size > 0 ? count * size : 1;
    void *p = NULL;
    if (bytes < HUGE_PAGE || bytes > SIZE_MAX - HUGE_PAGE)
        return posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
    size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (posix_memalign(&p, HUGE_PAGE, rounded) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint: failure only costs speed */
#endif
    /* First touch by all threads, a huge page each: loading SD 1.5 took 2.8-9 s when the
     * copies touched its 2 GB page by page, 1.1 s after this (bench_unet, these VMs). */
    const int64_t pages = (int64_t)(rounded / HUGE_PAGE);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < pages; i++) memset((char *)p + (size_t)i * HUGE_PAGE, 0, HUGE_PAGE);
    return p;
}
