/* pipeline.h -- internals shared by the pipeline module (src/pipeline/): a monotonic clock and the
 * latent buffer helpers. Not public API: include/trdi.h is. */
#ifndef TRDI_PIPELINE_PIPELINE_H
#define TRDI_PIPELINE_PIPELINE_H

#include "trdi.h"

#include <stdint.h>

/* Seconds on a monotonic clock (only differences are meaningful). */
double pipeline_now(void);

/* C * H * W of a latent. */
int64_t pipeline_latent_numel(const trdi_latent *l);

#endif /* TRDI_PIPELINE_PIPELINE_H */
