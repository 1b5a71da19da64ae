/* metrics_internal.h -- helpers shared by the metric files of src/metrics. Not public API. */
#ifndef TRDI_METRICS_INTERNAL_H
#define TRDI_METRICS_INTERNAL_H

#include "trdi.h"

/* Both images usable and of identical width, height and channels; else TRDI_ERR_INVALID_ARG with
 * a message starting with `what`. */
trdi_status trdi_metric_check_pair(const trdi_image *a, const trdi_image *b, const char *what);

#endif /* TRDI_METRICS_INTERNAL_H */
