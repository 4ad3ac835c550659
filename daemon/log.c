/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static SwuContext *log_ctx;

void log_set_context(SwuContext *ctx)
{
	log_ctx = ctx;
}

static void emit(int priority, const char *message, const char *reason)
{
	static int journal = -1;

	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	if (journal)
		fprintf(stderr, "<%d>%s%s%s\n", priority, message, reason ? ": " : "",
			reason ? reason : "");
	else
		fprintf(stderr, "swupdated: %s%s%s\n", message, reason ? ": " : "",
			reason ? reason : "");
}

void log_msg(int priority, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(priority, buf, NULL);
}

int log_errno(int priority, int r, const char *fmt, ...)
{
	const SwuFailure *f = log_ctx ? swu_context_get_failure(log_ctx) : NULL;
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(priority, buf, f && f->error == r && f->message[0] ? f->message : strerror(-r));
	return r;
}
