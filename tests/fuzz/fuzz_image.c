/* fuzz_image.c -- libFuzzer target for the PNG/JPEG reader: any byte string goes through
 * trdi_image_read_memory; a decoded image is checked for a consistent shape and then resized and
 * converted. Must never crash, leak, print or exit (libpng/libjpeg errors jump back). */
#include "trdi.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    trdi_image im;
    if (trdi_image_read_memory(data, size, "fuzz", &im) != TRDI_OK) {
        if (im.data || im.width || im.height) abort(); /* zeroed on failure */
        return 0;
    }
    if (im.width < 1 || im.height < 1 || (im.channels != 1 && im.channels != 3)) abort();
    /* Touch every byte (ASan checks the allocation size). */
    unsigned sum = 0;
    for (int64_t i = 0; i < im.width * im.height * im.channels; i++)
        sum += im.data[i];
    (void)sum;
    if (im.width * im.height <= 4096) {
        trdi_image r, c;
        if (trdi_image_resize(&im, 7, 5, &r) == TRDI_OK) trdi_image_clear(&r);
        if (trdi_image_convert(&im, 4 - im.channels, &c) == TRDI_OK) trdi_image_clear(&c);
    }
    trdi_image_clear(&im);
    return 0;
}
