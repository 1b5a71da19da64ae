/* latent_io.c -- latents and trajectories as safetensors files: tensor "latent" (F32, [1, C, H, W])
 * plus "latent_aux" for methods with a second state, and trajectories named
 * "inv.NN.latents_out" / "smp.NN.latents_out" as in the reference data. Writing goes through the
 * atomic safetensors writer; reading through the validating reader. No model code here. */
#include "pipeline/pipeline.h"

#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double pipeline_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int64_t pipeline_latent_numel(const trdi_latent *l) {
    return l->channels * l->height * l->width;
}

trdi_status trdi_latent_alloc(int64_t channels, int64_t height, int64_t width, bool with_aux,
                              trdi_latent *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_latent_alloc: out is NULL");
    memset(out, 0, sizeof *out);
    if (channels < 1 || height < 1 || width < 1 || channels > (1 << 20) || height > (1 << 20) ||
        width > (1 << 20))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "latent shape (%lld, %lld, %lld) is not valid",
                         (long long)channels, (long long)height, (long long)width);
    size_t n = (size_t)channels * (size_t)height * (size_t)width;
    out->data = trdi_calloc(n, sizeof(float));
    if (with_aux) out->aux = trdi_calloc(n, sizeof(float));
    if (!out->data || (with_aux && !out->aux)) {
        trdi_latent_clear(out);
        return trdi_fail(TRDI_ERR_NOMEM, "cannot allocate a latent of %zu floats", n);
    }
    out->channels = channels;
    out->height = height;
    out->width = width;
    return TRDI_OK;
}

void trdi_latent_clear(trdi_latent *l) {
    if (!l) return;
    free(l->data);
    free(l->aux);
    memset(l, 0, sizeof *l);
}

trdi_status trdi_latent_save(const char *path, const trdi_latent *l, const char *const *metadata) {
    if (!path || !l || !l->data)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_latent_save: NULL path or latent");
    if (l->channels < 1 || l->height < 1 || l->width < 1)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_latent_save: empty latent shape");
    int64_t shape[4] = {1, l->channels, l->height, l->width};
    trdi_st_write_entry e[2];
    memset(e, 0, sizeof e);
    e[0].name = "latent";
    e[0].dtype = TRDI_ST_F32;
    e[0].ndim = 4;
    e[0].shape = shape;
    e[0].data = l->data;
    int64_t n = 1;
    if (l->aux) {
        e[1] = e[0];
        e[1].name = "latent_aux";
        e[1].data = l->aux;
        n = 2;
    }
    return trdi_safetensors_write(path, e, n, metadata);
}

/* Reads one tensor of shape [1, C, H, W] or [C, H, W] into a fresh buffer. */
static trdi_status read_latent_tensor(const trdi_safetensors *f, const trdi_st_tensor *t,
                                      int64_t shape_out[3], float **data) {
    const char *path = trdi_safetensors_path(f);
    int64_t c, h, w;
    if (t->ndim == 4 && t->shape[0] == 1) {
        c = t->shape[1];
        h = t->shape[2];
        w = t->shape[3];
    } else if (t->ndim == 3) {
        c = t->shape[0];
        h = t->shape[1];
        w = t->shape[2];
    } else if (t->ndim == 4) {
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: tensor '%s' has batch %lld; one latent per file (batch 1) is supported",
                         path, t->name, (long long)t->shape[0]);
    } else {
        return trdi_fail(TRDI_ERR_FORMAT,
                         "%s: tensor '%s' has %d dimensions, expected (1, C, H, W)", path, t->name,
                         t->ndim);
    }
    if (c < 1 || h < 1 || w < 1)
        return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%s' is empty (%lld x %lld x %lld)", path,
                         t->name, (long long)c, (long long)h, (long long)w);
    float *buf = NULL;
    int64_t numel = 0;
    trdi_status st = trdi_safetensors_load_f32(f, t->name, &buf, &numel);
    if (st) return st;
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite(buf[i])) {
            free(buf);
            return trdi_fail(TRDI_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value at %lld",
                             path, t->name, (long long)i);
        }
    shape_out[0] = c;
    shape_out[1] = h;
    shape_out[2] = w;
    *data = buf;
    return TRDI_OK;
}

trdi_status trdi_latent_load(const char *path, trdi_latent *out) {
    if (!out) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_latent_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_latent_load: path is NULL");
    trdi_safetensors *f = NULL;
    trdi_status st = trdi_safetensors_open(path, &f);
    if (st) return st;
    const trdi_st_tensor *t = NULL;
    st = trdi_safetensors_find(f, "latent", &t);
    int64_t shape[3] = {0, 0, 0}, shape_aux[3] = {0, 0, 0};
    float *data = NULL, *aux = NULL;
    if (!st) st = read_latent_tensor(f, t, shape, &data);
    const trdi_st_tensor *ta = st ? NULL : trdi_safetensors_lookup(f, "latent_aux");
    if (!st && ta) {
        st = read_latent_tensor(f, ta, shape_aux, &aux);
        if (!st && memcmp(shape, shape_aux, sizeof shape) != 0)
            st = trdi_fail(TRDI_ERR_FORMAT,
                           "%s: 'latent_aux' has shape (%lld, %lld, %lld) but 'latent' has "
                           "(%lld, %lld, %lld)",
                           path, (long long)shape_aux[0], (long long)shape_aux[1],
                           (long long)shape_aux[2], (long long)shape[0], (long long)shape[1],
                           (long long)shape[2]);
    }
    trdi_safetensors_close(f);
    if (st) {
        free(data);
        free(aux);
        return st;
    }
    out->channels = shape[0];
    out->height = shape[1];
    out->width = shape[2];
    out->data = data;
    out->aux = aux;
    return TRDI_OK;
}

trdi_status trdi_latent_check_shape(const trdi_latent *l, const trdi_model *m, const char *what) {
    if (!l || !m || !l->data)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: no latent", what ? what : "latent");
    int64_t c, h, w;
    trdi_model_latent_shape(m, &c, &h, &w);
    if (l->channels != c || l->height != h || l->width != w)
        return trdi_fail(TRDI_ERR_INVALID_ARG,
                         "%s has shape (1, %lld, %lld, %lld) but the model's latents are "
                         "(1, %lld, %lld, %lld)",
                         what ? what : "latent", (long long)l->channels, (long long)l->height,
                         (long long)l->width, (long long)c, (long long)h, (long long)w);
    return TRDI_OK;
}

void trdi_trajectory_clear(trdi_trajectory *t) {
    if (!t) return;
    free(t->inv);
    free(t->smp);
    memset(t, 0, sizeof *t);
}

trdi_status trdi_trajectory_save(const char *path, const trdi_trajectory *t,
                                 const char *const *metadata) {
    if (!path || !t) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_trajectory_save: NULL argument");
    int64_t ni = t->inv ? t->n_inv : 0, ns = t->smp ? t->n_smp : 0;
    if (ni + ns == 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trajectory %s: no steps were recorded", path);
    if (t->channels < 1 || t->height < 1 || t->width < 1 || ni < 0 || ns < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "trajectory %s: bad shape", path);
    const int64_t d = t->channels * t->height * t->width;
    int64_t shape[4] = {1, t->channels, t->height, t->width};
    trdi_st_write_entry *e = trdi_calloc((size_t)(ni + ns), sizeof *e);
    char *names = trdi_calloc((size_t)(ni + ns), 48);
    if (!e || !names) {
        free(e);
        free(names);
        return trdi_fail(TRDI_ERR_NOMEM, "trajectory %s: out of memory", path);
    }
    for (int64_t k = 0; k < ni + ns; k++) {
        bool inv = k < ni;
        int64_t step = inv ? k : k - ni;
        char *nm = names + 48 * k;
        snprintf(nm, 48, "%s.%02lld.latents_out", inv ? "inv" : "smp", (long long)step);
        e[k].name = nm;
        e[k].dtype = TRDI_ST_F32;
        e[k].ndim = 4;
        e[k].shape = shape;
        e[k].data = (inv ? t->inv : t->smp) + step * d;
    }
    trdi_status st = trdi_safetensors_write(path, e, ni + ns, metadata);
    free(e);
    free(names);
    return st;
}
