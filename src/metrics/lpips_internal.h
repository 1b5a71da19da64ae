/* lpips_internal.h -- a view into the LPIPS backbone for tests (tests/golden/test_lpips.c compares
 * it with the per-layer features upstream dumped). Not public API. */
#ifndef TRDI_METRICS_LPIPS_INTERNAL_H
#define TRDI_METRICS_LPIPS_INTERNAL_H

#include "trdi.h"

/* Runs the ScalingLayer and backbone on one input (3, height, width) as trdi_lpips_score_f32
 * does, and returns the tapped layers' outputs (before normalisation) concatenated in layer order:
 * *out (free() it) holds layer l as (c[l], h[l], w[l]) right after layer l-1. c, h, w need
 * trdi_lpips_layers(m) entries. Errors as trdi_lpips_score_f32. */
trdi_status trdi_lpips_features(const trdi_lpips *m, const float *in, int64_t height, int64_t width,
                                float **out, int64_t *c, int64_t *h, int64_t *w);

#endif /* TRDI_METRICS_LPIPS_INTERNAL_H */
