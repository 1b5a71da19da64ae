/* summary.c -- per-configuration summaries of a bench results table (mean and 95% confidence
 * half-width 1.96 sd / sqrt(n) of every metric column) as CSV, JSON and a Markdown table, and the
 * PNG charts (bar chart per metric: methods x schedules; line chart against steps). Reads only the
 * results table; runs nothing. */
#include "bench/bench.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t first_row;   /* index into the sorted order */
    int64_t n_rows;
    int64_t n_ok, n_failed;
    double *mean, *ci;   /* (n_metrics) */
    int64_t *count;      /* (n_metrics) rows where the metric is available */
    int64_t *n_inf;      /* (n_metrics) of which infinite (PSNR of identical images) */
    double *finite_mean; /* (n_metrics) mean of the finite ones (for the Markdown table) */
} group;

static const bench_table *g_sort_table;
static int64_t g_sort_ci, g_sort_ii;

static double cell_num(const bench_table *t, int64_t r, int64_t c) {
    double v;
    bench_parse_double(t->rows[r][c], &v);
    return v;
}

static int cmp_rows(const void *a, const void *b) {
    int64_t ra = *(const int64_t *)a, rb = *(const int64_t *)b;
    double ca = cell_num(g_sort_table, ra, g_sort_ci), cb = cell_num(g_sort_table, rb, g_sort_ci);
    if (ca != cb) return ca < cb ? -1 : 1;
    double ia = cell_num(g_sort_table, ra, g_sort_ii), ib = cell_num(g_sort_table, rb, g_sort_ii);
    if (ia != ib) return ia < ib ? -1 : 1;
    return ra < rb ? -1 : ra > rb;
}

static const char *pretty(const char *col, char *buf, size_t n) {
    static const struct {
        const char *name, *label;
    } L[] = {{"psnr", "PSNR (dB)"},
             {"mse", "MSE"},
             {"ssim_skimage", "SSIM skimage"},
             {"ssim_torchmetrics", "SSIM torchmetrics"},
             {"lpips_alex", "LPIPS alex"},
             {"lpips_squeeze", "LPIPS squeeze"},
             {"lpips_vgg", "LPIPS vgg"},
             {"nfe", "NFE"},
             {"seconds", "s / image"}};
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        size_t len = strlen(L[i].name);
        if (!strncmp(col, L[i].name, len) && (col[len] == '\0' || col[len] == '_')) {
            snprintf(buf, n, "%s%s%s", L[i].label, col[len] ? " " : "", col[len] ? col + len + 1 : "");
            return buf;
        }
    }
    snprintf(buf, n, "%s", col);
    return buf;
}

static void fmt_num(char *buf, size_t n, double v) {
    bench_fmt_double(buf, n, v);
}

static trdi_status write_image_chart(const char *dir, const char *name, const trdi_image *img) {
    char *path = bench_join(dir, name);
    if (!path) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    trdi_status st = trdi_image_write(path, img, 75);
    free(path);
    return st;
}

/* Distinct strings in order of first appearance. */
static int64_t intern(const char **list, int64_t *n, int64_t max, const char *s) {
    for (int64_t i = 0; i < *n; i++)
        if (!strcmp(list[i], s)) return i;
    if (*n == max) return -1;
    list[*n] = s;
    return (*n)++;
}

trdi_status bench_summarize_table(const char *dir, bench_table *t, bool write_results) {
    static const char *KEYS[] = {"config_index", "config", "method", "schedule", "steps", "stepping",
                                 "guidance", "inversion_guidance"};
    int64_t kc[8];
    for (int i = 0; i < 8; i++) {
        kc[i] = bench_table_col(t, KEYS[i]);
        if (kc[i] < 0) return trdi_fail(TRDI_ERR_FORMAT, "%s/results.csv: no column '%s'", dir, KEYS[i]);
    }
    int64_t c_img = bench_table_col(t, "image_index"), c_status = bench_table_col(t, "status");
    if (c_img < 0 || c_status < 0)
        return trdi_fail(TRDI_ERR_FORMAT, "%s/results.csv: no image_index / status column", dir);
    int64_t m0 = c_status + 1, nm = t->n_cols - m0;
    int64_t *order = trdi_calloc((size_t)(t->n_rows ? t->n_rows : 1), sizeof *order);
    group *g = trdi_calloc((size_t)(t->n_rows ? t->n_rows : 1), sizeof *g);
    double *vals = trdi_calloc((size_t)(t->n_rows ? t->n_rows : 1), sizeof *vals);
    if (!order || !g || !vals) {
        free(order);
        free(g);
        free(vals);
        return trdi_fail(TRDI_ERR_NOMEM, "out of memory (summary)");
    }
    for (int64_t r = 0; r < t->n_rows; r++) order[r] = r;
    g_sort_table = t;
    g_sort_ci = kc[0];
    g_sort_ii = c_img;
    qsort(order, (size_t)t->n_rows, sizeof *order, cmp_rows);
    /* Groups: consecutive rows with the same config_index. */
    int64_t ng = 0;
    trdi_status st = TRDI_OK;
    for (int64_t k = 0; k < t->n_rows; k++) {
        if (k == 0 || strcmp(t->rows[order[k]][kc[0]], t->rows[order[k - 1]][kc[0]])) {
            g[ng].first_row = k;
            ng++;
        }
        g[ng - 1].n_rows++;
    }
    for (int64_t i = 0; !st && i < ng; i++) {
        group *x = &g[i];
        x->mean = trdi_calloc((size_t)(nm ? nm : 1), sizeof *x->mean);
        x->ci = trdi_calloc((size_t)(nm ? nm : 1), sizeof *x->ci);
        x->count = trdi_calloc((size_t)(nm ? nm : 1), sizeof *x->count);
        x->n_inf = trdi_calloc((size_t)(nm ? nm : 1), sizeof *x->n_inf);
        x->finite_mean = trdi_calloc((size_t)(nm ? nm : 1), sizeof *x->finite_mean);
        if (!x->mean || !x->ci || !x->count || !x->n_inf || !x->finite_mean) {
            st = trdi_fail(TRDI_ERR_NOMEM, "out of memory (summary)");
            break;
        }
        for (int64_t k = 0; k < x->n_rows; k++) {
            if (!strcmp(t->rows[order[x->first_row + k]][c_status], "ok")) x->n_ok++;
            else x->n_failed++;
        }
        for (int64_t m = 0; m < nm; m++) {
            int64_t n = 0;
            for (int64_t k = 0; k < x->n_rows; k++) {
                int64_t r = order[x->first_row + k];
                double v;
                if (strcmp(t->rows[r][c_status], "ok") || !bench_parse_double(t->rows[r][m0 + m], &v)) continue;
                vals[n++] = v;
            }
            x->count[m] = n;
            double sum = 0.0;
            for (int64_t k = 0; k < n; k++) sum += vals[k];
            double mean = n ? sum / (double)n : NAN;
            double ci = NAN;
            if (n >= 2 && isfinite(mean)) {
                double ss = 0.0;
                for (int64_t k = 0; k < n; k++) ss += (vals[k] - mean) * (vals[k] - mean);
                /* 95% normal-approximation half-width with the sample (n - 1) standard deviation. */
                ci = 1.96 * sqrt(ss / (double)(n - 1)) / sqrt((double)n);
            }
            x->mean[m] = mean;
            x->ci[m] = ci;
            double fsum = 0.0;
            int64_t nf = 0;
            for (int64_t k = 0; k < n; k++) {
                if (isfinite(vals[k])) {
                    fsum += vals[k];
                    nf++;
                } else {
                    x->n_inf[m]++;
                }
            }
            x->finite_mean[m] = nf ? fsum / (double)nf : NAN;
        }
    }
    /* results.csv (merge) */
    bench_buf b = {0};
    if (!st && write_results) {
        st = bench_buf_csv_line(&b, (const char *const *)t->header, t->n_cols);
        for (int64_t k = 0; !st && k < t->n_rows; k++)
            st = bench_buf_csv_line(&b, (const char *const *)t->rows[order[k]], t->n_cols);
        char *p = bench_join(dir, "results.csv");
        if (!st) st = p ? bench_write_atomic(p, b.data, b.len) : trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        free(p);
        bench_buf_free(&b);
    }
    /* summary.csv */
    if (!st) {
        const char *hdr[8 + 2];
        for (int i = 0; i < 8; i++) hdr[i] = KEYS[i];
        hdr[8] = "n";
        hdr[9] = "n_failed";
        for (int i = 0; !st && i < 10; i++) st = bench_buf_printf(&b, "%s%s", i ? "," : "", hdr[i]);
        for (int64_t m = 0; !st && m < nm; m++)
            st = bench_buf_printf(&b, ",%s_mean,%s_ci95", t->header[m0 + m], t->header[m0 + m]);
        if (!st) st = bench_buf_add(&b, "\n", 1);
        for (int64_t i = 0; !st && i < ng; i++) {
            const char *cells[10];
            char n1[32], n2[32];
            char **row = t->rows[order[g[i].first_row]];
            for (int k = 0; k < 8; k++) cells[k] = row[kc[k]];
            snprintf(n1, sizeof n1, "%lld", (long long)g[i].n_ok);
            snprintf(n2, sizeof n2, "%lld", (long long)g[i].n_failed);
            cells[8] = n1;
            cells[9] = n2;
            bench_buf line = {0};
            st = bench_buf_csv_line(&line, cells, 10);
            if (!st) st = bench_buf_add(&b, line.data, line.len - 1);
            bench_buf_free(&line);
            for (int64_t m = 0; !st && m < nm; m++) {
                char a[64], c[64];
                fmt_num(a, sizeof a, g[i].mean[m]);
                fmt_num(c, sizeof c, g[i].ci[m]);
                st = bench_buf_printf(&b, ",%s,%s", a, c);
            }
            if (!st) st = bench_buf_add(&b, "\n", 1);
        }
        char *p = bench_join(dir, "summary.csv");
        if (!st) st = p ? bench_write_atomic(p, b.data, b.len) : trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        free(p);
        bench_buf_free(&b);
    }
    /* summary.json */
    if (!st) {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "configs");
        for (int64_t i = 0; i < ng; i++) {
            char **row = t->rows[order[g[i].first_row]];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "config_index", atof(row[kc[0]]));
            for (int k = 1; k < 8; k++) {
                if (k == 4 || k == 6 || k == 7)
                    cJSON_AddNumberToObject(o, KEYS[k], atof(row[kc[k]]));
                else
                    cJSON_AddStringToObject(o, KEYS[k], row[kc[k]]);
            }
            cJSON_AddNumberToObject(o, "n", (double)g[i].n_ok);
            cJSON_AddNumberToObject(o, "n_failed", (double)g[i].n_failed);
            cJSON *ms = cJSON_AddObjectToObject(o, "metrics");
            for (int64_t m = 0; m < nm; m++) {
                cJSON *v = cJSON_AddObjectToObject(ms, t->header[m0 + m]);
                double mean = g[i].mean[m], ci = g[i].ci[m];
                if (isnan(mean)) cJSON_AddNullToObject(v, "mean");
                else if (isinf(mean)) cJSON_AddStringToObject(v, "mean", mean > 0 ? "inf" : "-inf");
                else cJSON_AddNumberToObject(v, "mean", mean);
                if (isfinite(ci)) cJSON_AddNumberToObject(v, "ci95", ci);
                else cJSON_AddNullToObject(v, "ci95");
                cJSON_AddNumberToObject(v, "n", (double)g[i].count[m]);
            }
            cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_Print(root);
        cJSON_Delete(root);
        char *p = bench_join(dir, "summary.json");
        if (!s || !p) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        if (!st) st = bench_buf_printf(&b, "%s\n", s);
        if (!st) st = bench_write_atomic(p, b.data, b.len);
        free(s);
        free(p);
        bench_buf_free(&b);
    }
    /* summary.md */
    if (!st) {
        char lab[96];
        st = bench_buf_printf(&b, "| method | schedule | steps | guidance (inv / smp) | n |");
        for (int64_t m = 0; !st && m < nm; m++)
            st = bench_buf_printf(&b, " %s |", pretty(t->header[m0 + m], lab, sizeof lab));
        if (!st) st = bench_buf_printf(&b, "\n|---|---|---:|---|---:|");
        for (int64_t m = 0; !st && m < nm; m++) st = bench_buf_printf(&b, "---:|");
        if (!st) st = bench_buf_add(&b, "\n", 1);
        for (int64_t i = 0; !st && i < ng; i++) {
            char **row = t->rows[order[g[i].first_row]];
            st = bench_buf_printf(&b, "| %s | %s | %s | %s / %s | %lld%s |", row[kc[2]], row[kc[3]],
                                  row[kc[4]], row[kc[7]], row[kc[6]], (long long)g[i].n_ok,
                                  g[i].n_failed ? " (+failed)" : "");
            for (int64_t m = 0; !st && m < nm; m++) {
                double mean = g[i].mean[m], ci = g[i].ci[m];
                if (isnan(mean)) st = bench_buf_printf(&b, " n/a |");
                else if (isinf(mean) && isfinite(g[i].finite_mean[m]))
                    st = bench_buf_printf(&b, " inf (%lld/%lld inf; others %.4g) |", (long long)g[i].n_inf[m],
                                          (long long)g[i].count[m], g[i].finite_mean[m]);
                else if (isinf(mean)) st = bench_buf_printf(&b, " %s |", mean > 0 ? "inf" : "-inf");
                else if (isfinite(ci)) st = bench_buf_printf(&b, " %.4g ± %.2g |", mean, ci);
                else st = bench_buf_printf(&b, " %.4g |", mean);
            }
            if (!st) st = bench_buf_add(&b, "\n", 1);
        }
        if (!st) st = bench_buf_printf(&b, "\nMean ± 95%% confidence half-width (1.96 sd / sqrt(n)) over "
                                       "the images; NFE = model evaluations per image.\n");
        char *p = bench_join(dir, "summary.md");
        if (!st) st = p ? bench_write_atomic(p, b.data, b.len) : trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        free(p);
        bench_buf_free(&b);
    }
    /* Charts: per metric (not nfe / seconds). Categories = method (+ steps / guidance when they
     * vary), series = schedules. A chart with nothing finite to draw is skipped. */
    if (!st && ng > 0) {
        enum { MAXC = 256 };
        const char *sched[8];
        int64_t n_sched = 0;
        const char *steps_l[MAXC];
        int64_t n_steps = 0;
        bool too_many = false;
        char(*cat_label)[96] = trdi_calloc(MAXC, sizeof *cat_label);
        char(*line_label)[96] = trdi_calloc(8, sizeof *line_label);
        int64_t *cat_of = trdi_calloc((size_t)ng, sizeof *cat_of), *sch_of = trdi_calloc((size_t)ng, sizeof *sch_of);
        if (!cat_label || !line_label || !cat_of || !sch_of) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        int64_t n_cat = 0;
        bool multi_g = false;
        for (int64_t i = 0; !st && i < ng; i++) {
            /* Guidance goes into the labels only when one method has several values (method
             * defaults differ between methods without being a grid dimension). */
            char **row = t->rows[order[g[i].first_row]];
            for (int64_t j = 0; j < i; j++) {
                char **r0 = t->rows[order[g[j].first_row]];
                if (!strcmp(row[kc[2]], r0[kc[2]]) &&
                    (strcmp(row[kc[6]], r0[kc[6]]) || strcmp(row[kc[7]], r0[kc[7]])))
                    multi_g = true;
            }
            if (intern(steps_l, &n_steps, MAXC, row[kc[4]]) < 0) too_many = true;
        }
        for (int64_t i = 0; !st && i < ng; i++) {
            char **row = t->rows[order[g[i].first_row]];
            char lab[96];
            if (multi_g)
                snprintf(lab, sizeof lab, "%s%s%s g%s/%s", row[kc[2]], n_steps > 1 ? " s" : "",
                         n_steps > 1 ? row[kc[4]] : "", row[kc[7]], row[kc[6]]);
            else
                snprintf(lab, sizeof lab, "%s%s%s", row[kc[2]], n_steps > 1 ? " s" : "",
                         n_steps > 1 ? row[kc[4]] : "");
            int64_t c = -1;
            for (int64_t k = 0; k < n_cat; k++)
                if (!strcmp(cat_label[k], lab)) c = k;
            if (c < 0) {
                if (n_cat == MAXC) {
                    too_many = true;
                    break;
                }
                snprintf(cat_label[n_cat], 96, "%s", lab);
                c = n_cat++;
            }
            cat_of[i] = c;
            sch_of[i] = intern(sched, &n_sched, 8, row[kc[3]]);
            if (sch_of[i] < 0) too_many = true;
        }
        const char *cats[MAXC];
        for (int64_t k = 0; k < n_cat; k++) cats[k] = cat_label[k];
        double *y = trdi_calloc((size_t)(8 * MAXC), sizeof *y);
        double *lx = trdi_calloc((size_t)(8 * MAXC), sizeof *lx), *ly = trdi_calloc((size_t)(8 * MAXC), sizeof *ly);
        if (!st && (!y || !lx || !ly)) st = trdi_fail(TRDI_ERR_NOMEM, "out of memory");
        for (int64_t m = 0; !st && !too_many && m < nm; m++) {
            const char *col = t->header[m0 + m];
            if (!strcmp(col, "nfe") || !strcmp(col, "seconds")) continue;
            for (int64_t k = 0; k < 8 * MAXC; k++) y[k] = NAN;
            bool any = false;
            for (int64_t i = 0; i < ng; i++) {
                double v = g[i].mean[m];
                y[sch_of[i] * MAXC + cat_of[i]] = v;
                any = any || isfinite(v);
            }
            if (!any) continue;
            trdi_chart_series ser[8];
            for (int64_t s = 0; s < n_sched; s++) {
                ser[s].label = sched[s];
                ser[s].x = NULL;
                ser[s].y = y + s * MAXC;
                ser[s].n = n_cat;
            }
            char title[160], lab[96], name[128];
            int64_t n_img = g[0].n_ok;
            snprintf(title, sizeof title, "%s, mean over %lld images", pretty(col, lab, sizeof lab),
                     (long long)n_img);
            trdi_chart_params cp = trdi_chart_default_params();
            cp.title = title;
            cp.x_label = "method";
            cp.y_label = lab;
            /* Widen the chart so every category label fits under its group (the chart font
             * advances 12 px a character; 124 px of margins): truncated labels such as "EDIC"
             * would make the step / guidance groups indistinguishable. */
            size_t maxlen = 0;
            for (int64_t k = 0; k < n_cat; k++)
                if (strlen(cats[k]) > maxlen) maxlen = strlen(cats[k]);
            int64_t want_w = 124 + n_cat * ((int64_t)maxlen * 12 + 16);
            if (want_w > cp.width) cp.width = want_w < 8192 ? want_w : 8192;
            trdi_image img = {0};
            if (trdi_chart_bar(&cp, cats, n_cat, ser, n_sched, &img) == TRDI_OK) {
                snprintf(name, sizeof name, "chart_%s.png", col);
                st = write_image_chart(dir, name, &img);
                trdi_image_clear(&img);
            }
            /* Against steps: one line per (method, schedule, guidance), at most 8. */
            if (!st && n_steps > 1) {
                int64_t n_lines = 0, npt[8] = {0};
                for (int64_t i = 0; i < ng; i++) {
                    char **row = t->rows[order[g[i].first_row]];
                    char key[96];
                    snprintf(key, sizeof key, "%s %s%s%s%s%s", row[kc[2]], row[kc[3]], multi_g ? " g" : "",
                             multi_g ? row[kc[7]] : "", multi_g ? "/" : "", multi_g ? row[kc[6]] : "");
                    int64_t l = -1;
                    for (int64_t k = 0; k < n_lines; k++)
                        if (!strcmp(line_label[k], key)) l = k;
                    if (l < 0) {
                        if (n_lines == 8) continue;
                        snprintf(line_label[n_lines], 96, "%s", key);
                        l = n_lines++;
                    }
                    if (npt[l] < MAXC) {
                        lx[l * MAXC + npt[l]] = atof(row[kc[4]]);
                        ly[l * MAXC + npt[l]] = g[i].mean[m];
                        npt[l]++;
                    }
                }
                trdi_chart_series ls[8];
                for (int64_t l = 0; l < n_lines; l++) {
                    ls[l].label = line_label[l];
                    ls[l].x = lx + l * MAXC;
                    ls[l].y = ly + l * MAXC;
                    ls[l].n = npt[l];
                }
                cp.x_label = "steps";
                cp.width = trdi_chart_default_params().width;
                if (trdi_chart_line(&cp, ls, n_lines, &img) == TRDI_OK) {
                    snprintf(name, sizeof name, "chart_%s_steps.png", col);
                    st = write_image_chart(dir, name, &img);
                    trdi_image_clear(&img);
                }
            }
        }
        free(y);
        free(lx);
        free(ly);
        free(cat_label);
        free(line_label);
        free(cat_of);
        free(sch_of);
    }
    for (int64_t i = 0; i < ng; i++) {
        free(g[i].mean);
        free(g[i].ci);
        free(g[i].count);
        free(g[i].n_inf);
        free(g[i].finite_mean);
    }
    free(g);
    free(order);
    free(vals);
    return st;
}

trdi_status trdi_bench_summarize(const char *dir) {
    if (!dir) return trdi_fail(TRDI_ERR_INVALID_ARG, "trdi_bench_summarize: dir is NULL");
    char *p = bench_join(dir, "results.csv");
    if (!p) return trdi_fail(TRDI_ERR_NOMEM, "out of memory");
    bench_table t;
    bool exists;
    trdi_status st = bench_table_read(p, &t, &exists);
    if (!st && (!exists || t.n_cols == 0)) st = trdi_fail(TRDI_ERR_IO, "%s: no results", p);
    free(p);
    if (!st) st = bench_summarize_table(dir, &t, false);
    bench_table_clear(&t);
    return st;
}
