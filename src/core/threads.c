/* threads.c -- the OpenMP thread count kernels size per-thread scratch by (1 without OpenMP). */
#include "core/core.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int trdi_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
