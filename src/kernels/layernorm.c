/* layernorm.c -- layer norm (torch.nn.LayerNorm over the last dim, biased variance), rows in
 * parallel with OpenMP. Mean and variance are accumulated in double (two passes): rows are short
 * next to the GEMMs around them, so the exact statistics cost nothing measurable. */
#include "kernels/kernels.h"

#include <math.h>

/* Rows per parallel region below which threads cost more than they save. */
#define PAR_MIN_ELEMS 32768

void trdi_k_layernorm(int64_t rows, int64_t d, const float *x, const float *gamma,
                      const float *beta, float eps, float *y) {
#pragma omp parallel for schedule(static) if (rows * d >= PAR_MIN_ELEMS)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < d; i++) mean += xr[i];
        mean /= (double)d;
        for (int64_t i = 0; i < d; i++) {
            double t = (double)xr[i] - mean;
            var += t * t;
        }
        var /= (double)d;
        const float m = (float)mean, rstd = (float)(1.0 / sqrt(var + (double)eps));
        for (int64_t i = 0; i < d; i++) {
            float v = (xr[i] - m) * rstd;
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            yr[i] = v;
        }
    }
}
