/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Daemon logging to stderr. Under systemd (JOURNAL_STREAM set) each line carries a <N> syslog
 * priority prefix so journald keeps the levels; on a terminal it reads "swupdated: ...".
 * A failure is logged once, where it is handled, as "what: reason": the reason is the libswu
 * failure record of the operation's context when it explains the error, else strerror.
 */
#include <stdarg.h>
#include <syslog.h>

#include "context.h"

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The sentence explaining @r: @ctx's failure record when it is about @r, else strerror(-r). */
const char *log_reason(SwuContext *ctx, int r);
/* Logs "<what>: <reason>" and returns @r. @ctx may be NULL. */
int log_failure(int priority, SwuContext *ctx, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_info(...)		  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...)	  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)		  log_msg(LOG_ERR, __VA_ARGS__)
#define log_error_errno(r, ...)	  log_failure(LOG_ERR, NULL, r, __VA_ARGS__)
#define log_warning_errno(r, ...) log_failure(LOG_WARNING, NULL, r, __VA_ARGS__)

/*
 * A new string from @fmt, escaped (swu_escape()): what it quotes may come from a server or a
 * bundle. NULL when out of memory.
 */
char *strdup_escaped_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *strdup_escaped_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
