/* main.c -- the trdi command: dispatches to one subcommand per file (cli/cmd_*.c). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    cli_command_fn fn;
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"schedule", cli_cmd_schedule, "print a timestep schedule (uniform or TRDI) as JSON"},
    {"tokenize", cli_cmd_tokenize, "print the CLIP token ids of a prompt (--json for JSON)"},
    {"metrics", cli_cmd_metrics, "score an output image against a reference (PSNR, SSIM, LPIPS)"},
    {"reconstruct", cli_cmd_reconstruct, "invert an image and sample it back; PSNR / SSIM / MSE"},
    {"edit", cli_cmd_edit, "invert with the source prompt, sample with the target prompt"},
    {"invert", cli_cmd_invert, "image or clean latent -> noise latent (safetensors)"},
    {"sample", cli_cmd_sample, "noise latent -> image and/or clean latent"},
    {"analyze", cli_cmd_analyze, "single-step inversion deviation over timesteps and step sizes"},
    {"demo", cli_cmd_demo, "every method, uniform and TRDI schedules, on the built-in model"},
    {"encode-prompt", cli_cmd_encode_prompt, "write the prompt embeddings a model's UNet receives"},
    {"calibrate", cli_cmd_calibrate, "fit a schedule to the model's own measured inversion error"},
    {"bench", cli_cmd_bench, "run methods x schedules x steps over a dataset; resumable, summaries"},
    {"bench-merge", cli_cmd_bench_merge, "combine the results of bench shards into one summary"},
    {"mkmodel", cli_cmd_mkmodel, "write a diffusers SD folder with seeded random weights (benchmarks)"},
    /* @@COMMANDS: one line per subcommand, in the order `trdi --help` lists them. */
};

static void print_help(FILE *f) {
    fprintf(f, "trdi %s: diffusion inversion with timestep rescheduling (TRDI)\n\n", trdi_version());
    fprintf(f, "usage: trdi <command> [options]\n       trdi <command> --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nExit status: 0 success, 1 failure while running, 2 bad arguments or input.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        print_help(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("trdi %s\n", trdi_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "trdi: unknown command '%s' (see trdi --help)\n", cmd);
    return CLI_EXIT_USAGE;
}
