/* args.c -- strict argument parsing and error printing shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "trdi %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}

int cli_lib_error(const char *cmd, trdi_status st, const char *what) {
    const char *msg = trdi_last_error();
    fprintf(stderr, "trdi %s: %s: %s\n", cmd, what, (msg && *msg) ? msg : trdi_status_str(st));
    switch (st) {
    case TRDI_ERR_INVALID_ARG:
    case TRDI_ERR_INFEASIBLE:
    case TRDI_ERR_FORMAT:
    case TRDI_ERR_UNSUPPORTED: return CLI_EXIT_USAGE;
    default: return CLI_EXIT_FAILURE;
    }
}

bool cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) {
    if (!s || !*s) return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max) return false;
    *out = (int64_t)v;
    return true;
}

bool cli_parse_f64(const char *s, double *out) {
    if (!s || !*s) return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool cli_take_option(int argc, char **argv, int *i, const char *name, const char **value) {
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0) return false;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        *i += 1;
        return true;
    }
    if (arg[len] != '\0') return false;
    if (*i + 1 < argc) {
        *value = argv[*i + 1];
        *i += 2;
    } else {
        *value = NULL;
        *i += 1;
    }
    return true;
}
