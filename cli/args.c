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

int cli_take_str_options(const char *cmd, int argc, char **argv, int *i, const cli_str_opt *opts,
                         int n) {
    for (int k = 0; k < n; k++) {
        const char *v = NULL;
        if (!cli_take_option(argc, argv, i, opts[k].name, &v)) continue;
        if (!v) {
            cli_usage_error(cmd, "%s needs a value", opts[k].name);
            return -1;
        }
        *opts[k].value = v;
        return 1;
    }
    return 0;
}

bool cli_parse_i64_list(const char *s, int64_t min, int64_t max, int64_t **out, int64_t *n) {
    *out = NULL;
    *n = 0;
    if (!s || !*s) return false;
    int64_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int64_t *v = calloc((size_t)cap, sizeof *v);
    char *copy = strdup(s);
    bool ok = v && copy;
    /* strtok would merge empty fields: walk by hand so "1,,2" is an error. */
    char *p = copy;
    int64_t k = 0;
    while (ok) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        ok = cli_parse_i64(p, min, max, &v[k]);
        if (ok) k++;
        if (!comma) break;
        p = comma + 1;
    }
    free(copy);
    if (!ok) {
        free(v);
        return false;
    }
    *out = v;
    *n = k;
    return true;
}
