/* cmd_invert.c -- `trdi invert`: image (or clean latent) -> noise latent file. */
#include "run_exec.h"

int cli_cmd_invert(int argc, char **argv) {
    return run_command_main(
        RUN_INVERT, "invert",
        "Inverts an image (--image, default the model's test image) or a clean latent\n"
        "(--latent-in) into the model's noise latent and writes it to --out as safetensors\n"
        "(tensor 'latent', float32 (1, C, H, W); 'latent_aux' for edict, bdia and belm).\n"
        "--guidance and --negative-prompt apply to the inversion.\n"
        "Example: trdi invert --method edict --out z.safetensors --trajectory inv.safetensors",
        argc, argv);
}
