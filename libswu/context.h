/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * SwuContext: the handle every libswu call takes. It carries the log callback,
 * the clock (replaceable by tests), the metadata size cap and the record of the
 * last verification failure, so callers can tell operators *why* a bundle was
 * rejected, not only which errno.
 *
 * Error vocabulary of libswu (negative errno values):
 *   -EBADMSG       malformed bundle or metadata (wire format, structure, content)
 *   -EKEYREJECTED  signature or threshold failure
 *   -EKEYEXPIRED   expired metadata
 *   -ESTALE        rollback (version older than trusted/installed)
 *   -EMEDIUMTYPE   bundle is not for this hardware (compatible)
 *   -ENOSPC        payload larger than its slot
 *   -EFBIG         the bundle's user_manifest would make the installed manifest exceed the
 *                  metadata cap (a verdict on the bundle)
 *   -ENOMEM, -EIO, other errno: resources and I/O
 *   -EINVAL        also: a misuse of the API (a NULL context or output pointer, an fd < 0 where
 *                  one is required), caught by assert_return() at the entry of every function
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

#define SWU_METADATA_MAX_DEFAULT (1024u * 1024u)

typedef struct SwuContext SwuContext;

/* Priority uses syslog levels (LOG_ERR .. LOG_DEBUG). libswu logs only at LOG_DEBUG. */
typedef void (*SwuLogFunc)(void *userdata, int priority, const char *message);
typedef time_t (*SwuClockFunc)(void *userdata);

typedef struct SwuFailure {
	int error;	   /* negative errno; 0 when nothing failed */
	const char *role;  /* "bundle", "root", "targets", "payload", "manifest", ... */
	const char *rule;  /* short name of the rule that failed, e.g. "threshold" */
	char message[512]; /* one human sentence: what, expected vs. actual */
} SwuFailure;

/*
 * Whether @r (a negative errno from libswu) is a verdict on the input: the bundle or metadata was
 * rejected (-EBADMSG, -EKEYREJECTED, -EKEYEXPIRED, -ESTALE, -EMEDIUMTYPE, -EFBIG), not a resource,
 * I/O or usage failure. One table for every caller: the daemon's result and swu's exit status.
 */
bool swu_error_is_rejection(int r);

/*
 * Critical mode for assert_return() (libswu/macro.h), process-wide: on, a misuse of the API (a NULL
 * context, a NULL output pointer, ...) prints "Assertion '...' failed at FILE:LINE, function
 * FUNC(): aborting" and aborts; off, the call returns its error (-EINVAL, NULL or false) quietly.
 * Until this is called, SWU_ASSERT_RETURN_CRITICAL=1 in the environment turns it on (read once).
 */
void swu_set_assert_return_critical(bool b);

/* Creates a context with a reference count of 1. Returns 0 or -ENOMEM. */
int swu_context_new(SwuContext **ret);
/*
 * A new context with the settings of @template (log, clock, metadata cap, fault hook) and a
 * failure record of its own: one per operation, so concurrent operations never mix reasons.
 */
int swu_context_new_like(SwuContext *template, SwuContext **ret);
SwuContext *swu_context_ref(SwuContext *ctx);
/* Drops a reference; accepts NULL; returns NULL. */
SwuContext *swu_context_unref(SwuContext *ctx);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwuContext *, swu_context_unref);

void swu_context_set_log(SwuContext *ctx, SwuLogFunc func, void *userdata);
/* Replaces time(NULL); tests use it for expiry. NULL restores the real clock. */
void swu_context_set_clock(SwuContext *ctx, SwuClockFunc func, void *userdata);
time_t swu_context_now(SwuContext *ctx);
/* Cap on any single metadata message (root, targets entry, manifest). */
void swu_context_set_metadata_max(SwuContext *ctx, size_t max);
size_t swu_context_get_metadata_max(SwuContext *ctx);

/*
 * Cancellation from another thread: long loops over slot bytes (copying unchanged targets, reading
 * back) stop with -ECANCELED soon after swu_context_cancel(). Thread-safe.
 */
void swu_context_cancel(SwuContext *ctx);
bool swu_context_cancelled(SwuContext *ctx);

/* How many ECDSA signature verifications calls on this context have run (flooding tests). */
uint64_t swu_context_get_verifications(SwuContext *ctx);
void swu_context_count_verification(SwuContext *ctx);

/* The failure recorded by the last failing call (error 0 when none). */
const SwuFailure *swu_context_get_failure(SwuContext *ctx);
void swu_context_clear_failure(SwuContext *ctx);

/*
 * Records a failure and returns @error, so callers write
 * `return swu_fail(ctx, -EBADMSG, "bundle", "wire", "...")`. The sentence is escaped
 * (swu_escape()): it may quote names from a bundle or a server.
 */
int swu_fail(SwuContext *ctx, int error, const char *role, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/*
 * Records @error as "<fmt>: <reason>", the reason being the record already there when it is
 * about @error (so the detail of a lower layer is kept), else strerror(-error). Returns @error.
 */
int swu_fail_wrap(SwuContext *ctx, int error, const char *role, const char *rule, const char *fmt,
		  ...) __attribute__((format(printf, 5, 6)));

/*
 * Fault injection for power-cut tests: the hook is called at every point where an install could
 * be interrupted (each chunk written, fsync, read-back, state write, bootloader switch).
 */
typedef void (*SwuFaultFunc)(void *userdata, const char *where);
void swu_context_set_fault(SwuContext *ctx, SwuFaultFunc func, void *userdata);
void swu_fault_point(SwuContext *ctx, const char *where);

void swu_log_debug(SwuContext *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
