/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "context.h"
#include "text.h"

struct SwuContext {
	unsigned n_ref;
	SwuLogFunc log_func;
	void *log_userdata;
	SwuClockFunc clock_func;
	void *clock_userdata;
	size_t metadata_max;
	SwuFailure failure;
	SwuFaultFunc fault_func;
	void *fault_userdata;
	uint64_t verifications;
	bool cancelled; /* read and written with __atomic builtins: other threads ask */
};

/* -1 until decided: by swu_set_assert_return_critical(), else by the environment, once. */
static int assert_return_critical = -1;

void swu_set_assert_return_critical(bool b)
{
	__atomic_store_n(&assert_return_critical, b, __ATOMIC_RELAXED);
}

static bool assert_return_is_critical(void)
{
	int c = __atomic_load_n(&assert_return_critical, __ATOMIC_RELAXED);

	if (c < 0) {
		const char *e = secure_getenv("SWU_ASSERT_RETURN_CRITICAL");
		int expected = -1;

		c = e && streq(e, "1");
		/* A concurrent swu_set_assert_return_critical() wins over the environment. */
		if (!__atomic_compare_exchange_n(&assert_return_critical, &expected, c, false,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			c = expected;
	}
	return c > 0;
}

void swu_assert_return_failed(const char *expr, const char *file, int line, const char *func)
{
	/* Off: the caller gets its error; libswu never logs above debug. */
	if (!assert_return_is_critical())
		return;
	fprintf(stderr, "Assertion '%s' failed at %s:%d, function %s(): aborting\n", expr, file,
		line, func);
	abort();
}

bool swu_error_is_rejection(int r)
{
	switch (r) {
	case -EBADMSG:
	case -EKEYREJECTED:
	case -EKEYEXPIRED:
	case -ESTALE:
	case -EMEDIUMTYPE:
	case -EFBIG:
		return true;
	default:
		return false;
	}
}

int swu_context_new(SwuContext **ret)
{
	SwuContext *ctx;

	assert_return(ret, -EINVAL);

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->n_ref = 1;
	ctx->metadata_max = SWU_METADATA_MAX_DEFAULT;
	*ret = ctx;
	return 0;
}

int swu_context_new_like(SwuContext *template, SwuContext **ret)
{
	SwuContext *ctx;
	int r;

	assert_return(template, -EINVAL);
	assert_return(ret, -EINVAL);

	r = swu_context_new(&ctx);
	if (r < 0)
		return r;
	*ctx = *template;
	ctx->n_ref = 1;
	ctx->cancelled = false;
	ctx->verifications = 0;
	memset(&ctx->failure, 0, sizeof(ctx->failure));
	*ret = ctx;
	return 0;
}

SwuContext *swu_context_ref(SwuContext *ctx)
{
	if (ctx)
		ctx->n_ref++;
	return ctx;
}

SwuContext *swu_context_unref(SwuContext *ctx)
{
	if (ctx && --ctx->n_ref == 0)
		free(ctx);
	return NULL;
}

void swu_context_set_log(SwuContext *ctx, SwuLogFunc func, void *userdata)
{
	assert_return_void(ctx);

	ctx->log_func = func;
	ctx->log_userdata = userdata;
}

void swu_context_set_clock(SwuContext *ctx, SwuClockFunc func, void *userdata)
{
	assert_return_void(ctx);

	ctx->clock_func = func;
	ctx->clock_userdata = userdata;
}

time_t swu_context_now(SwuContext *ctx)
{
	assert_return(ctx, time(NULL));

	if (ctx->clock_func)
		return ctx->clock_func(ctx->clock_userdata);
	return time(NULL);
}

void swu_context_set_metadata_max(SwuContext *ctx, size_t max)
{
	assert_return_void(ctx);
	assert_return_void(max > 0);

	ctx->metadata_max = max;
}

size_t swu_context_get_metadata_max(SwuContext *ctx)
{
	assert_return(ctx, 0);

	return ctx->metadata_max;
}

void swu_context_cancel(SwuContext *ctx)
{
	assert_return_void(ctx);

	__atomic_store_n(&ctx->cancelled, true, __ATOMIC_RELEASE);
}

bool swu_context_cancelled(SwuContext *ctx)
{
	assert_return(ctx, false);

	return __atomic_load_n(&ctx->cancelled, __ATOMIC_ACQUIRE);
}

uint64_t swu_context_get_verifications(SwuContext *ctx)
{
	assert_return(ctx, 0);

	return ctx->verifications;
}

void swu_context_count_verification(SwuContext *ctx)
{
	assert_return_void(ctx);

	ctx->verifications++;
}

const SwuFailure *swu_context_get_failure(SwuContext *ctx)
{
	assert_return(ctx, NULL);

	return &ctx->failure;
}

void swu_context_clear_failure(SwuContext *ctx)
{
	assert_return_void(ctx);

	memset(&ctx->failure, 0, sizeof(ctx->failure));
}

int swu_fail(SwuContext *ctx, int error, const char *role, const char *rule, const char *fmt, ...)
{
	char text[sizeof(ctx->failure.message)];
	va_list ap;

	assert_return(ctx, error);
	assert_return(fmt, error);

	ctx->failure.error = error;
	ctx->failure.role = role;
	ctx->failure.rule = rule;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/*
	 * Reasons quote names from bundles and servers: escaped once here, for every caller. A
	 * sentence longer than the record is cut by vsnprintf(), maybe inside a character; the
	 * escape of that partial character never fits after the bytes before it, so swu_escape()
	 * drops it: the record ends at a whole character.
	 */
	swu_escape(text, strlen(text), ctx->failure.message, sizeof(ctx->failure.message));
	if (ctx->log_func)
		ctx->log_func(ctx->log_userdata, LOG_DEBUG, ctx->failure.message);
	return error;
}

int swu_fail_wrap(SwuContext *ctx, int error, const char *role, const char *rule, const char *fmt,
		  ...)
{
	char what[sizeof(ctx->failure.message)], reason[sizeof(ctx->failure.message)];
	va_list ap;

	assert_return(ctx, error);
	assert_return(fmt, error);

	snprintf(reason, sizeof(reason), "%s",
		 ctx->failure.error == error && ctx->failure.message[0] ? ctx->failure.message
									: strerror(-error));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* A cut @what fills the sentence alone: swu_fail() cuts it as its own. */
	return swu_fail(ctx, error, role, rule, "%s: %s", what, reason);
}

void swu_log_debug(SwuContext *ctx, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int k;

	assert_return_void(ctx);
	assert_return_void(fmt);

	if (!ctx->log_func)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (k >= (int)sizeof(buf))
		buf[swu_utf8_cut(buf, strlen(buf))] = 0;
	ctx->log_func(ctx->log_userdata, LOG_DEBUG, buf);
}

void swu_context_set_fault(SwuContext *ctx, SwuFaultFunc func, void *userdata)
{
	assert_return_void(ctx);

	ctx->fault_func = func;
	ctx->fault_userdata = userdata;
}

void swu_fault_point(SwuContext *ctx, const char *where)
{
	assert_return_void(ctx);
	assert_return_void(where);

	if (ctx->fault_func)
		ctx->fault_func(ctx->fault_userdata, where);
}
