/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "text.h"

static void emit(int priority, const char *text)
{
	static int journal = -1;
	char message[4 * 1024];

	/* One line, whatever it quotes: a newline in a name cannot forge a journal entry. */
	swu_escape(text, strlen(text), message, sizeof(message));
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	if (journal)
		fprintf(stderr, "<%d>%s\n", priority, message);
	else
		fprintf(stderr, "swupdated: %s\n", message);
}

void log_msg(int priority, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(priority, buf);
}

const char *log_reason(SwuContext *ctx, int r)
{
	const SwuFailure *f = ctx ? swu_context_get_failure(ctx) : NULL;

	return f && f->error == r && f->message[0] ? f->message : strerror(-r);
}

int log_failure(int priority, SwuContext *ctx, int r, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(priority, "%s: %s", buf, log_reason(ctx, r));
	return r;
}

char *strdup_escaped_vprintf(const char *fmt, va_list ap)
{
	_cleanup_free_ char *raw = NULL;
	char *out;
	size_t size;

	if (vasprintf(&raw, fmt, ap) < 0) {
		raw = NULL; /* undefined after a failure */
		return NULL;
	}
	/* Each byte becomes at most four ("\xNN"). */
	size = strlen(raw) * 4 + 1;
	out = malloc(size);
	if (!out)
		return NULL;
	return swu_escape(raw, strlen(raw), out, size);
}

char *strdup_escaped_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = strdup_escaped_vprintf(fmt, ap);
	va_end(ap);
	return s;
}
