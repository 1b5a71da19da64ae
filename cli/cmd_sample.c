/* cmd_sample.c -- `trdi sample`: noise latent file -> image and/or clean latent. */
#include "run_exec.h"

int cli_cmd_sample(int argc, char **argv) {
    return run_command_main(
        RUN_SAMPLE, "sample",
        "Samples a noise latent (--latent-in, e.g. from trdi invert) back to an image (--out)\n"
        "and/or a clean latent (--out-latent). Use the same --method and schedule flags as the\n"
        "inversion; --guidance and --negative-prompt apply to the sampling.\n"
        "Example: trdi sample --method edict --latent-in z.safetensors --out x.png",
        argc, argv);
}
