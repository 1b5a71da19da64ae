/* image_internal.h -- helpers shared by the image files of src/io and their users inside the
 * library (models, metrics). Not public API. */
#ifndef TRDI_IO_IMAGE_INTERNAL_H
#define TRDI_IO_IMAGE_INTERNAL_H

#include "trdi.h"

/* TRDI_OK when `img` is a usable image (data set, sides >= 1, 1 or 3 channels); otherwise fails
 * with TRDI_ERR_INVALID_ARG and a message starting with `what`. */
trdi_status trdi_image_check(const trdi_image *img, const char *what);

/* Fits `in` to width x height x channels: channel conversion, the largest centred crop of the
 * target's aspect ratio (offsets (w - cw) div 2, (h - ch) div 2), then trdi_image_resize.
 * An image of the target size is copied unchanged. */
trdi_status trdi_image_fit(const trdi_image *in, int64_t width, int64_t height, int64_t channels,
                           trdi_image *out);

#endif /* TRDI_IO_IMAGE_INTERNAL_H */
