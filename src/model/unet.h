/* unet.h -- diffusers UNet2DConditionModel for the Stable Diffusion 1.x / 2.x config family,
 * float32 compute (weights F32 / F16 / BF16 converted at load). Internal (the public entry is
 * trdi_model_load of a diffusers folder). Not supported: SDXL's added embeddings
 * (addition_embed_type), class embeddings, dual / only cross-attention, other block types. */
#ifndef TRDI_MODEL_UNET_H
#define TRDI_MODEL_UNET_H

#include "trdi.h"

#include <stdbool.h>
#include <stdint.h>

#define TRDI_UNET_MAX_BLOCKS 6
#define TRDI_UNET_MAX_LAYERS 4

/* The configuration as read from unet/config.json (diffusers names). */
typedef struct trdi_unet_config {
    int64_t in_channels, out_channels;
    int nblocks;
    int64_t block_out[TRDI_UNET_MAX_BLOCKS];
    bool down_cross[TRDI_UNET_MAX_BLOCKS]; /* CrossAttnDownBlock2D (else DownBlock2D) */
    bool up_cross[TRDI_UNET_MAX_BLOCKS];   /* CrossAttnUpBlock2D (else UpBlock2D) */
    int64_t layers[TRDI_UNET_MAX_BLOCKS];  /* layers_per_block (per down block) */
    int64_t heads[TRDI_UNET_MAX_BLOCKS];   /* num_attention_heads, else attention_head_dim */
    int64_t tf_layers[TRDI_UNET_MAX_BLOCKS];
    int64_t cross_dim[TRDI_UNET_MAX_BLOCKS];
    bool linear_proj;       /* use_linear_projection */
    bool upcast_attention;  /* no effect in float32 */
    int64_t groups;         /* norm_num_groups */
    double eps;             /* norm_eps */
    bool flip_sin_to_cos;
    double freq_shift;
    int64_t time_dim;       /* time_embedding_dim or 4 * block_out[0] */
    int64_t downsample_padding;
    int64_t sample_size;    /* latent side the model was trained at */
} trdi_unet_config;

typedef struct trdi_unet trdi_unet;

/* Loads component `component` ("unet") of an open diffusers folder (its variant picks the
 * weights file). Errors: TRDI_ERR_FORMAT (bad config key, missing / mis-shaped tensors, listed
 * by name), TRDI_ERR_UNSUPPORTED (a block type or option outside the SD 1.x/2.x family). */
trdi_status trdi_unet_load(const trdi_diffusers *m, const char *component, trdi_unet **out);
void trdi_unet_free(trdi_unet *u);
const trdi_unet_config *trdi_unet_get_config(const trdi_unet *u);
/* Bytes of float32 weights held and of the activation arena (after a forward). */
size_t trdi_unet_weight_bytes(const trdi_unet *u);
size_t trdi_unet_arena_bytes(const trdi_unet *u);
/* Floating-point operations (2 per multiply-add: convolutions, linear layers, attention) of the
 * forward that last sized the arena (the largest so far); 0 before the first forward. */
double trdi_unet_flops(const trdi_unet *u);
/* The same figures for a forward of the given sizes (a dry run; nothing is computed or kept). */
trdi_status trdi_unet_plan(trdi_unet *u, int64_t batch, int64_t h, int64_t w, int64_t seq_len,
                           double *flops, size_t *arena_bytes);

/* Called with intermediate tensors (b, c, h, w) during a forward (for golden tests): "time_proj"
 * and "time_embedding" (1, c, 1, 1), "conv_in", "down_blocks.N", "mid_block", "up_blocks.N",
 * "conv_norm_out", "conv_out". */
typedef void (*trdi_unet_debug_fn)(void *user, const char *name, const float *data, int64_t b,
                                   int64_t c, int64_t h, int64_t w);

/* out (batch, out_channels, h, w) = UNet(x (batch, in_channels, h, w), t, ctx) with ctx
 * (batch, seq_len, cross_dim) the text states of each item; one timestep t for the whole batch.
 * The activation arena is sized on the first call for a (batch, h, w, seq_len) and grown when a
 * larger one comes; nothing else is allocated. One forward at a time per handle. */
trdi_status trdi_unet_forward(trdi_unet *u, int64_t batch, int64_t h, int64_t w, const float *x,
                              double t, const float *ctx, int64_t seq_len, float *out,
                              trdi_unet_debug_fn dbg, void *user);

/* Every tensor the UNet of `cfg` (a parsed unet/config.json) loads, collected into wl
 * (pass-1 mode: wl->specs, wl->n; release with sd_wl_free_specs, model/sd_nn.h). Lets a test hold
 * trdi_mkmodel's tensor lists against the loader's. */
struct trdi_json;
struct sd_wl;
trdi_status sd_unet_list_weights(const struct trdi_json *cfg, struct sd_wl *wl);

#endif /* TRDI_MODEL_UNET_H */
