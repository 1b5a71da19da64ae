/* run_exec.h -- the bodies of the run commands (reconstruct, edit, invert, sample) after parsing.
 * Uses only include/trdi.h and cJSON. */
#ifndef TRDI_CLI_RUN_EXEC_H
#define TRDI_CLI_RUN_EXEC_H

#include "run_opts.h"

/* Each returns the exit code. */
int run_full(run_opts *o); /* reconstruct or edit */
int run_invert(run_opts *o);
int run_sample(run_opts *o);

/* Parse + help + run for one command; `summary` is the help's description paragraph. */
int run_command_main(run_command which, const char *cmd, const char *summary, int argc,
                     char **argv);

#endif /* TRDI_CLI_RUN_EXEC_H */
