/* cli.h -- shared pieces of the trdi command: the subcommand table entries and strict argument
 * parsing. The CLI uses only include/trdi.h from the library. */
#ifndef TRDI_CLI_H
#define TRDI_CLI_H

#include "trdi.h"

#include <stdbool.h>
#include <stdint.h>

/* Exit codes of the trdi command. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* the run failed (I/O, numerics, ...) */
    CLI_EXIT_USAGE = 2    /* bad arguments, or an input the library rejects */
};

/* A subcommand: argv[0] is the subcommand's name. Returns the process exit code. */
typedef int (*cli_command_fn)(int argc, char **argv);

/* Prints "trdi <cmd>: <message>" to stderr, one line. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "trdi <cmd>: <what>: <library message>" for a failed library call and returns the exit
 * code for the status (2 for invalid arguments / infeasible / format, 1 otherwise). */
int cli_lib_error(const char *cmd, trdi_status st, const char *what);

/* Strict parsers: the whole string must be a finite number in range. Return false on error. */
bool cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
bool cli_parse_f64(const char *s, double *out);

/* If argv[*i] is `--name VALUE` or `--name=VALUE`, sets *value, advances *i past it and returns
 * true. A `--name` without a value sets *value = NULL and returns true (callers report it). */
bool cli_take_option(int argc, char **argv, int *i, const char *name, const char **value);

/* A string option that needs a value: `name` and where its value goes. */
typedef struct cli_str_opt {
    const char *name;
    const char **value;
} cli_str_opt;

/* Tries each of the n options on argv[*i] with cli_take_option. Returns 1 when one matched (its
 * value stored, *i advanced; a repeated option keeps the last value), -1 when one matched without a
 * value (prints "trdi <cmd>: <name> needs a value"; exit with CLI_EXIT_USAGE), 0 when none did. */
int cli_take_str_options(const char *cmd, int argc, char **argv, int *i, const cli_str_opt *opts,
                         int n);

/* Parses a comma-separated list of integers, each in [min, max], into a fresh array (*out, caller
 * frees; *n entries). Empty fields ("1,,2") and an empty string are errors. Returns false on error,
 * with *out = NULL and *n = 0. */
bool cli_parse_i64_list(const char *s, int64_t min, int64_t max, int64_t **out, int64_t *n);

/* Subcommands (one file each: cli/cmd_<name>.c). */
int cli_cmd_schedule(int argc, char **argv);
int cli_cmd_tokenize(int argc, char **argv);
int cli_cmd_metrics(int argc, char **argv);
int cli_cmd_reconstruct(int argc, char **argv);
int cli_cmd_edit(int argc, char **argv);
int cli_cmd_invert(int argc, char **argv);
int cli_cmd_sample(int argc, char **argv);
int cli_cmd_analyze(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_encode_prompt(int argc, char **argv);
int cli_cmd_calibrate(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);
int cli_cmd_bench_merge(int argc, char **argv);
int cli_cmd_mkmodel(int argc, char **argv);

#endif /* TRDI_CLI_H */
