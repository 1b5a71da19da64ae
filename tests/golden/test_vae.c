/* test_vae.c -- the AutoencoderKL port against diffusers 0.31 outputs for the tiny SD 1.5 VAE
 * (tests/data/sd15-tiny/vae.{safetensors,json}, copied from the shared reference data): encoder
 * moments / mean / std of the 64x64 test picture and every encoder debug tensor, the posterior
 * sample formula with the recorded noise, decoder outputs for dec.recon (64x64) and the non-square
 * dec.rand (48x80) with the decoder debug tensors, postprocess, the fp16-variant encoder mean and
 * size errors.
 *
 * Tolerance: float32 with a different summation order only (im2col + OpenBLAS vs torch's
 * convolutions; double group-norm statistics). Dot products have at most 32*9 = 288 terms; about
 * 30 layers deep. Observed worst case 2.1e-6 of max|want| (TRDI_TEST_VERBOSE=1 prints every
 * tensor); we require 2e-5 * max|want| (~10x margin; the README suggests 1e-4 absolute), which
 * still separates the fp16-variant weights (~1e-3 relative difference, checked). */
#include "harness.h"
#include "testutil.h"
#include "model/vae.h"
#include "trdi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA TRDI_TEST_DATA "/sd15-tiny"
#define REL_TOL 2e-5

static int verbose;
static double worst_rel;

static void check_rel(const char *what, const float *got, const float *want, size_t n, double tol) {
    double r = test_rel_report(what, got, want, n, &worst_rel, verbose);
    CHECK_MSG(r <= tol, "%s: max|diff|/max|want| = %.3g > %.3g", what, r, tol);
}

int main(void) {
    verbose = getenv("TRDI_TEST_VERBOSE") != NULL;
    trdi_safetensors *ref = NULL;
    CHECK(trdi_safetensors_open(DATA "/vae.safetensors", &ref) == TRDI_OK);
    trdi_diffusers *m = NULL;
    CHECK(trdi_diffusers_open(DATA "/model", TRDI_VARIANT_FP32, &m) == TRDI_OK);
    trdi_vae *v = NULL;
    trdi_status st = trdi_vae_load(m, "vae", &v);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (!ref || !v) return TEST_SUMMARY();
    const trdi_vae_config *cfg = trdi_vae_get_config(v);
    CHECK(cfg->down_factor == 8 && cfg->latent_channels == 4);
    CHECK_NEAR(cfg->scaling_factor, 0.18215, 1e-12);

    const int64_t n_lat = 4 * 8 * 8;
    float moments[2 * 4 * 8 * 8], mean[4 * 8 * 8], std[4 * 8 * 8], smp[4 * 8 * 8];
    test_dbg_ctx d = {ref, 0, REL_TOL, &worst_rel, verbose};
    st = trdi_vae_encode(v, 1, 64, 64, test_ref_f32(ref, "image.preprocessed", NULL), moments,
                         test_on_debug, &d);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    CHECK_MSG(d.seen == 7, "saw %d encoder debug tensors", d.seen); /* conv_in, 4 down, mid, out */
    check_rel("enc.moments", moments, test_ref_f32(ref, "enc.moments", NULL), 2 * (size_t)n_lat,
              REL_TOL);
    trdi_vae_moments_split(v, 1, n_lat, moments, mean, std);
    check_rel("enc.mean", mean, test_ref_f32(ref, "enc.mean", NULL), (size_t)n_lat, REL_TOL);
    check_rel("enc.std", std, test_ref_f32(ref, "enc.std", NULL), (size_t)n_lat, REL_TOL);
    const float *noise = test_ref_f32(ref, "enc.sample_noise", NULL);
    if (noise) {
        for (int64_t i = 0; i < n_lat; i++) smp[i] = mean[i] + std[i] * noise[i];
        check_rel("enc.sample", smp, test_ref_f32(ref, "enc.sample", NULL), (size_t)n_lat, REL_TOL);
        for (int64_t i = 0; i < n_lat; i++) smp[i] *= (float)cfg->scaling_factor;
        check_rel("enc.sample_scaled", smp, test_ref_f32(ref, "enc.sample_scaled", NULL),
                  (size_t)n_lat, REL_TOL);
    }

    /* decoder: reconstruction of the mean (64x64) with every debug tensor */
    float *img = malloc(sizeof(float) * 3 * 64 * 80);
    d.seen = 0;
    st = trdi_vae_decode(v, 1, 8, 8, test_ref_f32(ref, "dec.recon.in", NULL), img, test_on_debug,
                         &d);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    CHECK_MSG(d.seen == 8, "saw %d decoder debug tensors", d.seen);
    check_rel("dec.recon.out", img, test_ref_f32(ref, "dec.recon.out", NULL), 3 * 64 * 64, REL_TOL);
    /* non-square latent 6x10 -> 48x80 */
    const float *rin = test_ref_f32(ref, "dec.rand.in", NULL),
                *rs = test_ref_f32(ref, "dec.rand.latents_scaled", NULL);
    if (rin && rs) {
        float z[4 * 6 * 10];
        for (int i = 0; i < 4 * 6 * 10; i++) z[i] = rs[i] / (float)cfg->scaling_factor;
        check_rel("dec.rand.in", z, rin, 4 * 6 * 10, 1e-7); /* one float division: exact-ish */
        st = trdi_vae_decode(v, 1, 6, 10, rin, img, NULL, NULL);
        CHECK(st == TRDI_OK);
        check_rel("dec.rand.out", img, test_ref_f32(ref, "dec.rand.out", NULL), 3 * 48 * 80,
                  REL_TOL);
        for (int i = 0; i < 3 * 48 * 80; i++) {
            float x = img[i] / 2.0f + 0.5f;
            img[i] = x < 0 ? 0 : (x > 1 ? 1 : x);
        }
        check_rel("dec.rand.image", img, test_ref_f32(ref, "dec.rand.image", NULL), 3 * 48 * 80,
                  REL_TOL);
    }
    /* sizes */
    CHECK(trdi_vae_encode(v, 1, 60, 64, moments, moments, NULL, NULL) == TRDI_ERR_INVALID_ARG);
    CHECK(strstr(trdi_last_error(), "multiple of 8") != NULL);
    CHECK(trdi_vae_decode(v, 0, 8, 8, moments, img, NULL, NULL) == TRDI_ERR_INVALID_ARG);
    trdi_vae *bad = NULL;
    CHECK(trdi_vae_load(m, "unet", &bad) == TRDI_ERR_UNSUPPORTED && bad == NULL);
    trdi_vae_free(v);
    trdi_diffusers_free(m);

    /* fp16-variant weights */
    trdi_safetensors *f16 = NULL;
    CHECK(trdi_safetensors_open(DATA "/fp16_variant.safetensors", &f16) == TRDI_OK);
    m = NULL;
    v = NULL;
    CHECK(trdi_diffusers_open(DATA "/model", TRDI_VARIANT_FP16, &m) == TRDI_OK);
    st = trdi_vae_load(m, "vae", &v);
    CHECK_MSG(st == TRDI_OK, "%s", trdi_last_error());
    if (v && f16) {
        st = trdi_vae_encode(v, 1, 64, 64, test_ref_f32(ref, "image.preprocessed", NULL), moments,
                             NULL, NULL);
        CHECK(st == TRDI_OK);
        trdi_vae_moments_split(v, 1, n_lat, moments, mean, NULL);
        check_rel("fp16w.vae.enc.mean", mean, test_ref_f32(f16, "fp16w.vae.enc.mean", NULL),
                  (size_t)n_lat, REL_TOL);
        double r = test_rel_err(mean, test_ref_f32(ref, "enc.mean", NULL), (size_t)n_lat);
        if (verbose) printf("fp16 vs fp32 weights: rel %.3g\n", r);
        CHECK_MSG(r > 10 * REL_TOL, "fp16 and fp32 weights indistinguishable (%.3g)", r);
    }
    printf("vae worst relative error %.3g (tolerance %.3g)\n", worst_rel, REL_TOL);
    trdi_vae_free(v);
    trdi_diffusers_free(m);
    trdi_safetensors_close(f16);
    trdi_safetensors_close(ref);
    free(img);
    return TEST_SUMMARY();
}
