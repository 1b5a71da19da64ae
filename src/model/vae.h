/* vae.h -- diffusers AutoencoderKL (the Stable Diffusion VAE): encoder to the posterior moments,
 * decoder from an (unscaled) latent, float32 compute. Internal; the public path is trdi_model's
 * encode / decode. Not supported: tiling/slicing, SDXL-style latents_mean/std configs. */
#ifndef TRDI_MODEL_VAE_H
#define TRDI_MODEL_VAE_H

#include "trdi.h"

#include <stdbool.h>
#include <stdint.h>

#define TRDI_VAE_MAX_BLOCKS 6

typedef struct trdi_vae_config {
    int64_t in_channels, out_channels, latent_channels;
    int nblocks;
    int64_t block_out[TRDI_VAE_MAX_BLOCKS];
    int64_t layers;      /* layers_per_block */
    int64_t groups;      /* norm_num_groups */
    double scaling_factor;
    double shift_factor; /* 0 when null */
    int64_t sample_size;
    bool quant_conv, post_quant_conv, mid_attention;
    int64_t down_factor; /* 2^(nblocks - 1) */
} trdi_vae_config;

typedef struct trdi_vae trdi_vae;

/* Loads component `component` ("vae") of an open diffusers folder. Errors as trdi_unet_load. */
trdi_status trdi_vae_load(const trdi_diffusers *m, const char *component, trdi_vae **out);
void trdi_vae_free(trdi_vae *v);
const trdi_vae_config *trdi_vae_get_config(const trdi_vae *v);

/* Intermediate tensors (b, c, h, w) for tests: "enc.conv_in", "enc.down_blocks.N",
 * "enc.mid_block", "enc.conv_out", "dec.post_quant_conv", "dec.conv_in", "dec.mid_block",
 * "dec.up_blocks.N", "dec.conv_out". */
typedef void (*trdi_vae_debug_fn)(void *user, const char *name, const float *data, int64_t b,
                                  int64_t c, int64_t h, int64_t w);

/* moments (b, 2 * latent_channels, h / f, w / f) = quant_conv(encoder(x)), x (b, in_channels, h, w)
 * in [-1, 1]; h and w must be multiples of f = down_factor (TRDI_ERR_INVALID_ARG otherwise). */
trdi_status trdi_vae_encode(trdi_vae *v, int64_t b, int64_t h, int64_t w, const float *x,
                            float *moments, trdi_vae_debug_fn dbg, void *user);
/* Floating-point operations and activation-arena bytes of an encode (image h x w) or decode
 * (latent h x w) of b items: a dry run, nothing computed. */
trdi_status trdi_vae_plan(trdi_vae *v, bool encode, int64_t b, int64_t h, int64_t w,
                          double *flops, size_t *arena_bytes);
/* DiagonalGaussianDistribution of the moments, for n latent values per item (b items): mean and
 * std = exp(0.5 * clamp(logvar, -30, 20)); either output may be NULL. */
void trdi_vae_moments_split(const trdi_vae *v, int64_t b, int64_t n, const float *moments,
                            float *mean, float *std);
/* out (b, out_channels, h * f, w * f) = decoder(post_quant_conv(z)), z (b, latent_channels, h, w)
 * UNscaled (latents / scaling_factor). */
trdi_status trdi_vae_decode(trdi_vae *v, int64_t b, int64_t h, int64_t w, const float *z,
                            float *out, trdi_vae_debug_fn dbg, void *user);

/* Every tensor the VAE of `cfg` (a parsed vae/config.json) loads, collected into wl
 * (pass-1 mode: wl->specs, wl->n; release with sd_wl_free_specs, model/sd_nn.h). Lets a test hold
 * trdi_mkmodel's tensor lists against the loader's. */
struct trdi_json;
struct sd_wl;
trdi_status sd_vae_list_weights(const struct trdi_json *cfg, struct sd_wl *wl);

#endif /* TRDI_MODEL_VAE_H */
