/* eval_internal.h -- helpers shared by the evaluation metrics (ssim_gauss.c, lpips.c,
 * metrics_eval.c): 8-bit images to planar float32 as upstream feeds them. Not public API. */
#ifndef TRDI_METRICS_EVAL_INTERNAL_H
#define TRDI_METRICS_EVAL_INTERNAL_H

#include "trdi.h"

#include <stdint.h>

/* Allocates (channels, height, width) planar float32 of `img` as upstream's
 * np.array(img).astype(np.float32) / 255 (one float32 division per value), then, when
 * `to_pm1`, 2 v - 1 in float32 (TRDI's pil2tensor(normalize=True) / LPIPS' x*2-1). `channels`
 * is 0 to keep the image's, or 3 to replicate a gray image to RGB. *out NULL on failure
 * (free() it). */
trdi_status trdi_image_to_planar_f32(const trdi_image *img, int64_t channels, bool to_pm1,
                                     float **out);

/* TRDI_ERR_INVALID_ARG unless a and b are valid images of the same width, height, channels;
 * `what` names the caller in the message. */
trdi_status trdi_image_pair_check(const trdi_image *a, const trdi_image *b, const char *what);

#endif /* TRDI_METRICS_EVAL_INTERNAL_H */
