/* clip_text.h -- internal parts of the CLIP text encoder (public API: include/trdi.h, section
 * "text"): the weights-file choice, shared with the folder loader's tests. */
#ifndef TRDI_MODEL_CLIP_TEXT_H
#define TRDI_MODEL_CLIP_TEXT_H

#include "trdi.h"

#include <stddef.h>

/* The safetensors file of a text_encoder folder `dir` for `variant` (see
 * trdi_text_encoder_params): writes its path into out (size bytes). TRDI_ERR_IO when absent. */
trdi_status trdi_clip_pick_weights(const char *dir, trdi_weights_variant variant, char *out,
                                   size_t size);

#endif /* TRDI_MODEL_CLIP_TEXT_H */
