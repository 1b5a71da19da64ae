/* error.c -- status strings, the per-thread last-error message, version and logging. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

#ifndef TRDI_VERSION_STRING
#define TRDI_VERSION_STRING "0.0.0"
#endif

enum { TRDI_ERROR_CAP = 1024 };

static _Thread_local char last_error[TRDI_ERROR_CAP];
static trdi_log_fn log_fn;
static void *log_user;

const char *trdi_version(void) {
    return TRDI_VERSION_STRING;
}

const char *trdi_status_str(trdi_status s) {
    switch (s) {
    case TRDI_OK: return "ok";
    case TRDI_ERR_INVALID_ARG: return "invalid argument";
    case TRDI_ERR_IO: return "input/output error";
    case TRDI_ERR_FORMAT: return "malformed input";
    case TRDI_ERR_NOMEM: return "out of memory";
    case TRDI_ERR_UNSUPPORTED: return "unsupported";
    case TRDI_ERR_INFEASIBLE: return "infeasible";
    case TRDI_ERR_NUMERIC: return "non-finite value";
    case TRDI_ABORTED: return "aborted";
    case TRDI_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *trdi_last_error(void) {
    return last_error;
}

trdi_status trdi_failv(trdi_status status, const char *fmt, va_list ap) {
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return status;
}

trdi_status trdi_fail(trdi_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    trdi_failv(status, fmt, ap);
    va_end(ap);
    return status;
}

void trdi_error_prefix(const char *fmt, ...) {
    char prefix[TRDI_ERROR_CAP];
    char old[TRDI_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* Truncation is fine here: the message is capped at TRDI_ERROR_CAP. */
    size_t n = strlen(prefix);
    if (n > TRDI_ERROR_CAP - 3) n = TRDI_ERROR_CAP - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = TRDI_ERROR_CAP - n - 3;
    size_t m = strlen(old);
    if (m > room) m = room;
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
}

void trdi_set_log(trdi_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

void trdi_log(trdi_log_level level, const char *fmt, ...) {
    if (!log_fn) return;
    char line[TRDI_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_fn(level, line, log_user);
}
