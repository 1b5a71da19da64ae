/* cmd_bench_merge.c -- `trdi bench-merge OUT DIR...`: combines the results of shards of one study
 * (trdi_bench_merge) and writes the same summary and charts as a single run. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int cli_cmd_bench_merge(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: trdi bench-merge OUT DIR...\n\n"
                   "Combines the run folders of `trdi bench --shard I/N` (same settings, no image and\n"
                   "configuration twice) into OUT: run.json, results.csv (sorted), summary.{csv,json,md}\n"
                   "and charts, as a single run would write them. Output images stay in the shard\n"
                   "folders. See docs/bench.md.\n");
            return CLI_EXIT_OK;
        } else if (!strncmp(argv[i], "--", 2)) {
            return cli_usage_error("bench-merge", "unknown option '%s'", argv[i]);
        }
    if (argc < 3) return cli_usage_error("bench-merge", "usage: trdi bench-merge OUT DIR...");
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], argv[1]))
            return cli_usage_error("bench-merge", "OUT '%s' is also an input folder", argv[1]);
    /* A missing input folder is bad input (exit 2), not a failure while running. */
    for (int i = 2; i < argc; i++) {
        char rj[4096];
        struct stat sb;
        snprintf(rj, sizeof rj, "%s/run.json", argv[i]);
        if (stat(rj, &sb) != 0 || !S_ISREG(sb.st_mode))
            return cli_usage_error("bench-merge", "'%s' is not a trdi bench folder (no run.json)", argv[i]);
    }
    trdi_status st = trdi_bench_merge(argv[1], (const char *const *)(argv + 2), argc - 2);
    if (st) return cli_lib_error("bench-merge", st, "merge");
    fprintf(stderr, "trdi bench-merge: %d folders -> %s/summary.md\n", argc - 2, argv[1]);
    return CLI_EXIT_OK;
}
