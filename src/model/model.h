/* model.h -- the inside of a trdi_model: a small table of operations so that models other than the
 * built-in mixture (Stable Diffusion) plug into the same handle. Not public API. */
#ifndef TRDI_MODEL_MODEL_H
#define TRDI_MODEL_MODEL_H

#include "trdi.h"

typedef struct trdi_model_ops {
    const char *kind; /* "gmm", ... */
    void (*destroy)(void *impl);
    /* Conditioning handle of a prompt, owned by impl (see trdi_model_condition). */
    trdi_status (*condition)(void *impl, const char *prompt, const void **out);
    int64_t (*num_labels)(const void *impl);           /* may be NULL: 0 labels */
    const char *(*label)(const void *impl, int64_t i); /* may be NULL */
    /* eps for (batch, C, H, W) latents at timestep t; t already range-checked. */
    trdi_status (*predict)(void *impl, const trdi_noise_schedule *s, int64_t batch, const float *x,
                           int64_t t, const void *const *cond, float *eps);
    /* J^T v; NULL when the model has no gradients. */
    trdi_status (*vjp)(void *impl, const trdi_noise_schedule *s, int64_t batch, const float *x,
                       int64_t t, const void *const *cond, const float *v, float *out);
    /* Image of the model's size -> latent (C, H, W); latent -> image. NULL: the identity map
     * (pixels / 127.5 - 1 and back), for pixel-space models. */
    trdi_status (*encode)(void *impl, const trdi_image *img, float *latent);
    trdi_status (*decode)(void *impl, const float *latent, trdi_image *out);
} trdi_model_ops;

/* Wraps `impl` into a model. Takes ownership of impl (destroyed with ops->destroy, also on
 * failure), of `sched` and of *test (moved; zeroed). Image shape (ic, ih, iw), latent shape
 * (lc, lh, lw). */
trdi_status trdi_model_create(const trdi_model_ops *ops, void *impl, trdi_noise_schedule *sched,
                              int64_t ic, int64_t ih, int64_t iw, int64_t lc, int64_t lh,
                              int64_t lw, trdi_image *test, trdi_model **out);

/* The implementation behind a model of kind `kind`, or NULL (for tests and internal users). */
void *trdi_model_impl(const trdi_model *m, const char *kind);

#endif /* TRDI_MODEL_MODEL_H */
