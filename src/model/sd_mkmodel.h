/* sd_mkmodel.h -- writes a diffusers Stable Diffusion folder with random weights (tiny, SD 1.5- and
 * SD 2.1-shaped configs) so that benchmarks and end-to-end runs work without downloaded weights,
 * and the weight listings of the UNet / VAE configs it relies on. Internal. The weights are random
 * (no image quality whatsoever); only shapes, names and configs are real. */
#ifndef TRDI_MODEL_SD_MKMODEL_H
#define TRDI_MODEL_SD_MKMODEL_H

#include "io/json_config.h"
#include "model/sd_nn.h"
#include "trdi.h"

#include <stdbool.h>
#include <stdint.h>

/* Every tensor the UNet / VAE of `cfg` (a parsed unet or vae config.json) loads, collected into
 * wl (pass-1 mode: wl->specs, wl->n; release with sd_wl_free_specs). */
trdi_status sd_unet_list_weights(const trdi_json *cfg, sd_wl *wl);
trdi_status sd_vae_list_weights(const trdi_json *cfg, sd_wl *wl);

typedef struct sd_mkmodel_opts {
    const char *preset;        /* "tiny" (the sd15-tiny shapes), "tiny21" (SD 2.x options at
                                * tiny widths), "sd15", "sd21" */
    uint64_t seed;             /* trdi_rng seed of the weights */
    bool fp16;                 /* F16 weight files (diffusion_pytorch_model.safetensors holding
                                * F16, as fp16 checkpoints do); false: F32 */
    const char *tokenizer_dir; /* a CLIP tokenizer folder to copy (vocab.json, merges.txt,
                                * tokenizer_config.json, special_tokens_map.json) */
} sd_mkmodel_opts;

/* Writes model_index.json, scheduler/, tokenizer/ (copied), text_encoder/, unet/, vae/ under
 * `dir` (created; existing files are replaced, each written to a temporary file then renamed).
 * Weights: Linear / conv / embedding weights N(0, 1 / fan_in), norm scales 1 + N(0, 0.1^2),
 * biases and norm shifts N(0, 0.02^2). TRDI_ERR_INVALID_ARG for an unknown preset, TRDI_ERR_IO
 * naming the file that cannot be written. */
trdi_status sd_mkmodel_write(const char *dir, const sd_mkmodel_opts *o);

#endif /* TRDI_MODEL_SD_MKMODEL_H */
