/* gmm.h -- the exact Gaussian-mixture image model (internal API; the public view is trdi_model in
 * trdi.h). A mixture of K isotropic Gaussians over images of D = C*H*W values:
 *     p_0(x0) = sum_k w_k N(x0; mu_k, s_k^2 I).
 * Under the forward process x_t = sqrt(a) x0 + sqrt(1 - a) eps (a = alphas_cumprod[t]) the
 * marginal stays a mixture, p_a(x) = sum_k w_k N(x; sqrt(a) mu_k, v_k I), v_k = a s_k^2 + 1 - a,
 * so its log-density, score, exact noise prediction eps = -sqrt(1 - a) grad log p_a and the
 * Jacobian of eps are closed-form. Conditioning restricts (and renormalises) the mixture to the
 * components a prompt names. */
#ifndef TRDI_MODEL_GMM_H
#define TRDI_MODEL_GMM_H

#include "trdi.h"

typedef struct gmm gmm;

/* Builds a mixture of `k` components over (c, h, w) images. means: (k, c*h*w), copied; weights:
 * (k) > 0, finite (normalised here); variances: (k) s_k^2 >= 0, finite; labels: (k) strings or
 * NULL entries (no label), or NULL for no labels at all; copied. Means must be finite. */
trdi_status gmm_create(int64_t k, int64_t c, int64_t h, int64_t w, const float *means,
                       const double *weights, const double *variances, const char *const *labels,
                       gmm **out);
void gmm_free(gmm *g);

int64_t gmm_num_components(const gmm *g);
int64_t gmm_dim(const gmm *g);
void gmm_shape(const gmm *g, int64_t *c, int64_t *h, int64_t *w);
const float *gmm_mean(const gmm *g, int64_t k); /* (D) */
double gmm_weight(const gmm *g, int64_t k);     /* normalised over all components */
double gmm_variance(const gmm *g, int64_t k);
const char *gmm_label(const gmm *g, int64_t k); /* NULL when unlabelled */
/* Distinct labels in order of first appearance. */
int64_t gmm_num_labels(const gmm *g);
const char *gmm_label_at(const gmm *g, int64_t i);

/* The conditioning of `prompt` (see trdi_model_condition in trdi.h for the rule): a handle owned
 * by the mixture, valid until gmm_free. Equal selections share one handle. Not thread-safe with
 * respect to other gmm_condition calls on the same mixture. */
trdi_status gmm_condition(gmm *g, const char *prompt, const void **out);
/* Whether component k is selected by `cond` (NULL selects all). */
bool gmm_selected(const gmm *g, const void *cond, int64_t k);

/* Exact quantities at noise level a in [0, 1], in double, for one point x (D):
 * logp: log p_a(x) of the (renormalised) selected mixture; eps: (D) -sqrt(1 - a) grad log p_a(x);
 * with v (D) and jv (D): jv = J v = J^T v, J = d eps / d x = -sqrt(1 - a) Hess log p_a(x)
 * (symmetric). Any output may be NULL. cond NULL selects every component.
 * Errors: a outside [0, 1], a handle of another mixture, a component variance v_k <= 0 (only
 * possible with s_k = 0 at a = 1), a non-finite x (TRDI_ERR_NUMERIC). */
trdi_status gmm_eval(const gmm *g, const void *cond, double a, const double *x, double *logp,
                     double *eps, const double *v, double *jv);

/* Batched float32 forms for denoisers: x, eps, v, out are (batch, D); cond is NULL or (batch)
 * handles (NULL entries select all). Internally double. */
trdi_status gmm_predict(const gmm *g, double a, int64_t batch, const float *x,
                        const void *const *cond, float *eps);
trdi_status gmm_vjp(const gmm *g, double a, int64_t batch, const float *x, const void *const *cond,
                    const float *v, float *out);

/* ---- construction helpers (gmm_build.c) ---- */

/* Names of the procedural patterns: "circle", "stripes", "checker", "gradient" (the built-in
 * mixture's components), "scene" (the built-in test image, a circle-class variant that is not a
 * component) and "landscape" (an out-of-distribution image). */
bool gmm_pattern_exists(const char *name);
/* Renders pattern `name` as a width x height image with 1 or 3 channels (deterministic). */
trdi_status gmm_pattern_render(const char *name, int64_t width, int64_t height, int64_t channels,
                               trdi_image *out);

/* Mixture builders behind trdi_model_load (rules documented there). Each fills *out and *test
 * (the model's test image, of the mixture's size) or leaves both empty on failure. */
trdi_status gmm_build_builtin(const trdi_model_params *p, gmm **out, trdi_image *test);
trdi_status gmm_build_folder(const char *dir, const trdi_model_params *p, gmm **out,
                             trdi_image *test);
/* Also fills *noise: SD 1.5's config with the JSON's "noise_schedule" overrides. */
trdi_status gmm_build_json(const char *path, const trdi_model_params *p, gmm **out,
                           trdi_image *test, trdi_noise_config *noise);

#endif /* TRDI_MODEL_GMM_H */
