/* mkmodel.h -- internal parts of `trdi mkmodel` (public API: trdi_mkmodel in include/trdi.h,
 * section "mkmodel"): the component configs of a preset and the state_dict tensor lists that
 * diffusers / transformers derive from a config, written independently of the loaders so that a
 * test can hold one against the other. Not a loader and not a converter of real checkpoints. */
#ifndef TRDI_MODEL_MKMODEL_H
#define TRDI_MODEL_MKMODEL_H

#include "trdi.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* One expected tensor: its state_dict name and shape (ndim <= 4). */
typedef struct mk_tensor {
    char *name; /* owned */
    int ndim;
    int64_t shape[4];
} mk_tensor;

typedef struct mk_list {
    mk_tensor *t;
    int64_t n, cap;
    trdi_status err; /* first allocation failure while adding */
} mk_list;

void mk_list_free(mk_list *l);

/* The tensors of a UNet2DConditionModel (diffusers, SD 1.x / 2.x family), AutoencoderKL and
 * transformers CLIPTextModel for the parsed config `cfg` (the component's config.json as cJSON).
 * `label` names the config in errors (e.g. "unet/config.json"). Appends to *out (zero it first;
 * release with mk_list_free). TRDI_ERR_INVALID_ARG naming the key for a missing / ill-typed /
 * inconsistent value, TRDI_ERR_UNSUPPORTED for a config feature outside the family (class
 * embeddings, addition embeddings, unknown block types, ...). */
trdi_status mk_unet_tensors(const cJSON *cfg, const char *label, mk_list *out);
trdi_status mk_vae_tensors(const cJSON *cfg, const char *label, mk_list *out);
trdi_status mk_clip_tensors(const cJSON *cfg, const char *label, mk_list *out);

/* The four component configs of preset "tiny" | "sd15" | "sd21" as new cJSON objects (free with
 * cJSON_Delete; all NULL on failure, TRDI_ERR_INVALID_ARG for an unknown preset). */
typedef struct mk_configs {
    cJSON *scheduler, *text_encoder, *unet, *vae;
} mk_configs;
trdi_status mk_preset_configs(const char *preset, mk_configs *out);
void mk_configs_free(mk_configs *c);

#endif /* TRDI_MODEL_MKMODEL_H */
