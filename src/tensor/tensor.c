/* tensor.c -- tensor descriptor helpers: dtype sizes and names, contiguous shapes and strides,
 * shape formatting for error messages. No arithmetic on tensor contents lives here. */
#include "tensor/tensor.h"

#include "core/core.h"

#include <stdio.h>
#include <string.h>

size_t trdi_dtype_size(trdi_dtype t) {
    switch (t) {
    case TRDI_DTYPE_F32: return 4;
    case TRDI_DTYPE_F16: return 2;
    case TRDI_DTYPE_BF16: return 2;
    case TRDI_DTYPE_I64: return 8;
    case TRDI_DTYPE_I32: return 4;
    case TRDI_DTYPE_U8: return 1;
    }
    return 0;
}

const char *trdi_dtype_name(trdi_dtype t) {
    switch (t) {
    case TRDI_DTYPE_F32: return "F32";
    case TRDI_DTYPE_F16: return "F16";
    case TRDI_DTYPE_BF16: return "BF16";
    case TRDI_DTYPE_I64: return "I64";
    case TRDI_DTYPE_I32: return "I32";
    case TRDI_DTYPE_U8: return "U8";
    }
    return "?";
}

int64_t trdi_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

trdi_status trdi_tensor_make(trdi_tensor *t, trdi_dtype dtype, void *data, int ndim,
                             const int64_t *shape, const char *what) {
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > TRDI_MAX_DIMS)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: rank %d outside [0, %d]", what ? what : "tensor",
                         ndim, TRDI_MAX_DIMS);
    if (trdi_shape_numel(ndim, shape) < 0)
        return trdi_fail(TRDI_ERR_INVALID_ARG, "%s: negative or overflowing shape",
                         what ? what : "tensor");
    t->dtype = dtype;
    t->ndim = ndim;
    t->data = data;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = s;
        s *= shape[i];
    }
    return TRDI_OK;
}

trdi_tensor trdi_tensor_f32(float *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    trdi_tensor t;
    int64_t shape[4] = {d0, d1, d2, d3};
    if (ndim < 0) ndim = 0;
    if (ndim > 4) ndim = 4;
    if (trdi_tensor_make(&t, TRDI_DTYPE_F32, data, ndim, shape, "tensor") != TRDI_OK)
        memset(&t, 0, sizeof t);
    return t;
}

int64_t trdi_tensor_numel(const trdi_tensor *t) { return trdi_shape_numel(t->ndim, t->shape); }

bool trdi_tensor_is_contiguous(const trdi_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool trdi_shape_equal(int ndim_a, const int64_t *a, int ndim_b, const int64_t *b) {
    if (ndim_a != ndim_b) return false;
    for (int i = 0; i < ndim_a; i++)
        if (a[i] != b[i]) return false;
    return true;
}

char *trdi_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    if (!buf || size == 0) return buf;
    size_t pos = 0;
    buf[0] = '\0';
    int w = snprintf(buf, size, "[");
    if (w > 0) pos = (size_t)w < size ? (size_t)w : size - 1;
    for (int i = 0; i < ndim && pos < size - 1; i++) {
        w = snprintf(buf + pos, size - pos, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (w < 0) break;
        pos += (size_t)w < size - pos ? (size_t)w : size - pos - 1;
    }
    if (pos < size - 1) snprintf(buf + pos, size - pos, "]");
    return buf;
}

trdi_status trdi_tensor_reshape(const trdi_tensor *t, int ndim, const int64_t *shape,
                                trdi_tensor *out) {
    if (!trdi_tensor_is_contiguous(t))
        return trdi_fail(TRDI_ERR_INVALID_ARG, "reshape: the source tensor is not contiguous");
    int64_t n = trdi_shape_numel(ndim, shape);
    if (n != trdi_tensor_numel(t)) {
        char a[96], b[96];
        return trdi_fail(TRDI_ERR_INVALID_ARG, "reshape: %s has a different element count than %s",
                         trdi_shape_str(t->ndim, t->shape, a, sizeof a),
                         trdi_shape_str(ndim, shape, b, sizeof b));
    }
    return trdi_tensor_make(out, t->dtype, t->data, ndim, shape, "reshape");
}
