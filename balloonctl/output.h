/* SPDX-License-Identifier: MIT */
/*
 * output.h - balloonctl's human and JSON output: aligned tables, key: value
 * blocks, sizes in binary units (bc_format_size), error lines.  Everything
 * prints to a caller-given FILE so tests can capture it.  Values missing from
 * a daemon reply print as "-".
 */
#ifndef BALLOONCTL_OUTPUT_H
#define BALLOONCTL_OUTPUT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "ctl.h"

/* A table of strings with aligned columns.  Columns in @right_mask (bit i =
 * column i) are right-aligned.  @headers may be NULL (no header line). */
struct ctl_table;
struct ctl_table *bctl_table_new(size_t ncols, const char *const *headers,
                                 unsigned right_mask);
/* Append a row of ncols cells (copied; NULL prints "-").  0 or -ENOMEM. */
int bctl_table_add(struct ctl_table *t, const char *const *cells);
/* Blanks between columns (default 2). */
void bctl_table_gap(struct ctl_table *t, unsigned gap);
size_t bctl_table_rows(const struct ctl_table *t);
void bctl_table_print(const struct ctl_table *t, FILE *f);
void bctl_table_free(struct ctl_table *t);

/* JSON field helpers: true and *v if @key holds a non-negative integer. */
bool bctl_json_u64(struct json_object *o, const char *key, uint64_t *v);
const char *bctl_json_str(struct json_object *o, const char *key,
                          const char *dflt);
/* Human size of @key ("512 MiB"), or "-" if absent. */
const char *bctl_size_field(struct json_object *o, const char *key, char *buf,
                            size_t len);

/* Print @o as JSON plus a newline: indented, or one line (streams). */
void bctl_print_json(FILE *f, struct json_object *o, bool pretty);

/* One line "balloonctl: MESSAGE" on io->err; with --json also
 * {"ok": false, "error": {"code": ..., "message": ...}} on io->out. */
void bctl_print_error(const struct ctl_io *io, const struct ctl_err *e);

/* The VM table of list and top (NAME STATE ACTUAL TARGET MIN MAX AVAIL
 * SHARES MODE REASON) from an array of VM objects. */
void bctl_print_vms(FILE *f, struct json_object *vms);
/* info: key: value lines; @now (Unix seconds) for the stats age. */
void bctl_print_vm(FILE *f, struct json_object *vm, double now);
/* stats: vm, last-update, then every QEMU stat (byte stats in binary
 * units, counters as numbers, -1 / missing as "-"). */
void bctl_print_stats(FILE *f, struct json_object *res, double now);
void bctl_print_host(FILE *f, struct json_object *host);
void bctl_print_policy(FILE *f, struct json_object *pol);
void bctl_print_version(FILE *f, struct json_object *res);

/* "2025-11-23 08:57:01 (3.2 s ago)", or "never" for t <= 0. */
char *bctl_format_time(double t, double now, char *buf, size_t len);

#endif
