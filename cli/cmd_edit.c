/* cmd_edit.c -- `trdi edit`: inversion with the source prompt, sampling with the target prompt
 * (and the source prompt as negative, the reference editing protocol). */
#include "run_exec.h"

int cli_cmd_edit(int argc, char **argv) {
    return run_command_main(
        RUN_EDIT, "edit",
        "Edits an image: inverts it conditioned on --prompt (the source) and samples the latent\n"
        "conditioned on --target-prompt, with the source prompt as negative prompt (spec 5.4;\n"
        "renoise: no negative prompt; npi's reference sampler ignores it). Prints the same\n"
        "metrics as reconstruct, comparing the edited image with the source.\n"
        "Example: trdi edit --prompt circle --target-prompt stripes --guidance 3 --out edit.png",
        argc, argv);
}
