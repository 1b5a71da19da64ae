/* diffusers.h -- internal access to a diffusers model folder's parsed configs, for the model
 * loaders (CLIP, UNet, VAE, scheduler). The public API is in include/trdi.h ("io: ... diffusers").
 */
#ifndef TRDI_IO_DIFFUSERS_H
#define TRDI_IO_DIFFUSERS_H

#include "io/json_config.h"
#include "trdi.h"

/* The parsed config of `component` (NULL: model_index.json), owned by the folder handle: read it
 * with the trdi_json_* getters, whose messages then name the config file and the key. Fails
 * (TRDI_ERR_INVALID_ARG) when the folder has no such component or it has no config file. */
trdi_status trdi_diffusers_config_json(const trdi_diffusers *m, const char *component,
                                       const trdi_json **out);

#endif /* TRDI_IO_DIFFUSERS_H */
