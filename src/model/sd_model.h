/* sd_model.h -- Stable Diffusion 1.x / 2.x behind the generic trdi_model handle (kind "sd"):
 * tokenizer + CLIP text encoder + UNet + VAE of a diffusers folder, plugged in through
 * trdi_model_ops (model.h). Internal; the public entry point is trdi_model_load(dir), which
 * dispatches here for folders holding model_index.json. Not here: SDXL (text_encoder_2, added
 * time ids), gradients (no vjp: GNRI fails with "needs model gradients" in the guide). */
#ifndef TRDI_MODEL_SD_MODEL_H
#define TRDI_MODEL_SD_MODEL_H

#include "model/unet.h"
#include "model/vae.h"
#include "trdi.h"

#include <stdbool.h>
#include <stdint.h>

/* Loads the diffusers folder `dir` (model_index.json with unet, vae, text_encoder, tokenizer,
 * scheduler). Image size: p->width x p->height when given (both multiples of the VAE factor, 8;
 * TRDI_ERR_INVALID_ARG otherwise), else unet sample_size * 8 square (512 for SD 1.5); p->channels
 * must be 0 or 3. Weights: the full-precision file, else the fp16 / bf16 variant (converted to
 * float32). Errors name the file / tensor / key (see trdi_unet_load, trdi_vae_load,
 * trdi_text_encoder_load_component); an SDXL folder (text_encoder_2) is TRDI_ERR_UNSUPPORTED. */
trdi_status sd_model_load(const char *dir, const trdi_model_params *p, trdi_model **out);

/* Encoding with a seeded posterior sample mean + std * N(0, 1) (trdi_rng normals; the authors'
 * torch stream cannot be matched) instead of the mean (the default). TRDI_ERR_INVALID_ARG when m is
 * not a Stable Diffusion model. */
trdi_status sd_model_set_vae_sample(trdi_model *m, bool enabled, uint64_t seed);

/* The parts, for tests and benchmarks (NULL when m is not a Stable Diffusion model). */
trdi_unet *sd_model_unet(trdi_model *m);
trdi_vae *sd_model_vae(trdi_model *m);
/* UNet calls made so far (each call may hold a batch of two). */
int64_t sd_model_unet_calls(const trdi_model *m);

#endif /* TRDI_MODEL_SD_MODEL_H */
