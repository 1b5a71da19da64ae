/* fuzz_safetensors.c -- libFuzzer target for the safetensors reader: any byte string goes through
 * trdi_safetensors_open_memory; whatever opens is then exercised (lookups, metadata, conversion of
 * every tensor to float32, the expected-tensor check). Must never crash, leak or read out of
 * bounds (built with ASan+UBSan). */
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    trdi_safetensors *f = NULL;
    if (trdi_safetensors_open_memory(data, size, "fuzz", &f) != TRDI_OK) {
        if (f) abort(); /* the handle must be NULL on failure */
        return 0;
    }
    int64_t n = trdi_safetensors_count(f);
    trdi_st_spec spec[4];
    int nspec = 0;
    for (int64_t i = 0; i < n; i++) {
        const trdi_st_tensor *t = trdi_safetensors_at(f, i);
        if (trdi_safetensors_lookup(f, t->name) != t) abort();
        /* every byte of every tensor is inside the input */
        if (t->nbytes && (t->offset < 8 || (uint64_t)t->offset + t->nbytes > size)) abort();
        if (t->numel <= (1 << 20)) {
            float *buf = NULL;
            int64_t m = 0;
            if (trdi_safetensors_load_f32(f, t->name, &buf, &m) == TRDI_OK && m != t->numel)
                abort();
            free(buf);
        }
        if (nspec < 4) {
            spec[nspec].name = t->name;
            spec[nspec].ndim = t->ndim;
            memcpy(spec[nspec].shape, t->shape, sizeof t->shape);
            if (nspec == 1) spec[nspec].shape[0]++; /* one mismatch */
            nspec++;
        }
    }
    for (int64_t i = 0; i < trdi_safetensors_metadata_count(f); i++) {
        const char *k, *v;
        trdi_safetensors_metadata_at(f, i, &k, &v);
        if (!k || !v || trdi_safetensors_metadata(f, k) == NULL) abort();
    }
    char *report = NULL;
    (void)trdi_safetensors_check(f, spec, nspec, n % 2 == 0, &report);
    free(report);
    trdi_safetensors_close(f);
    return 0;
}
