/* SPDX-License-Identifier: MIT */
/*
 * top.h - `balloonctl top`: a refreshing view of the host and every VM.
 */
#ifndef BALLOONCTL_TOP_H
#define BALLOONCTL_TOP_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

/*
 * One frame: a title line with the time (@now, Unix seconds) and refresh
 * period, a host line, a VM summary line, a blank line and the VM table.
 * With @tty the frame starts by clearing the screen (ANSI home + clear);
 * without, frames are separated by a blank line and nothing is escaped.
 */
void bctl_top_render(FILE *f, struct json_object *host, struct json_object *vms,
                     bool tty, double interval_s, double now);

#endif
