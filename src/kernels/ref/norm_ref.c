/* norm_ref.c -- reference layer norm (torch.nn.LayerNorm, biased variance) and row softmax
 * (torch.softmax: subtract the row max, exponentiate, divide by the sum). Double accumulation. */
#include "kernels/kernels.h"

#include <math.h>

void trdi_k_layernorm_ref(int64_t rows, int64_t d, const float *x, const float *gamma,
                          const float *beta, float eps, float *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < d; i++) mean += xr[i];
        mean /= (double)d;
        for (int64_t i = 0; i < d; i++) var += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        var /= (double)d;
        double rstd = 1.0 / sqrt(var + (double)eps);
        for (int64_t i = 0; i < d; i++) {
            double v = ((double)xr[i] - mean) * rstd;
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            yr[i] = (float)v;
        }
    }
}

void trdi_k_softmax_rows_ref(int64_t rows, int64_t d, float *x) {
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * d;
        double mx = -INFINITY, sum = 0.0;
        for (int64_t i = 0; i < d; i++)
            if (xr[i] > mx) mx = xr[i];
        for (int64_t i = 0; i < d; i++) sum += exp((double)xr[i] - mx);
        for (int64_t i = 0; i < d; i++) xr[i] = (float)(exp((double)xr[i] - mx) / sum);
    }
}
