/* cmd_reconstruct.c -- `trdi reconstruct`: image -> latent -> invert -> sample -> image, printing
 * PSNR / SSIM / MSE against the input, model evaluations and time (--json: one object). */
#include "run_exec.h"

int cli_cmd_reconstruct(int argc, char **argv) {
    return run_command_main(
        RUN_RECONSTRUCT, "reconstruct",
        "Inverts an image into the model's noise latent and samples it back with the same\n"
        "prompt, then prints PSNR (dB), SSIM (scikit-image, 11x11 uniform window) and MSE\n"
        "(images in [0, 1]) of the result against the input (fitted to the model's size),\n"
        "the model evaluations (a guided pass counts two) and the time. With --json one object:\n"
        "psnr (\"inf\" for identical images), ssim, mse, nfe, seconds, ...\n"
        "Example: trdi reconstruct --method renoise --schedule trdi --json",
        argc, argv);
}
