/* cmd_schedule.c -- placeholder until the scheduler lands (replaced by the scheduler work). */
#include "cli.h"

int cli_cmd_schedule(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_usage_error("schedule", "not built yet");
}
