/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Daemon logging to stderr. Under systemd (JOURNAL_STREAM set) each line carries a <N> syslog
 * priority prefix so journald keeps the levels; on a terminal it reads "swupdated: ...".
 * log_*_errno() return the (negative) error they were given, so callers write
 * `return log_error_errno(r, "...")`. The reason is the libswu failure record when it matches.
 */
#include <syslog.h>

#include "context.h"

void log_set_context(SwuContext *ctx);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_errno(int priority, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_info(...)		  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...)	  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)		  log_msg(LOG_ERR, __VA_ARGS__)
#define log_error_errno(r, ...)	  log_errno(LOG_ERR, r, __VA_ARGS__)
#define log_warning_errno(r, ...) log_errno(LOG_WARNING, r, __VA_ARGS__)
