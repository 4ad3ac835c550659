/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Small resource helpers in the style of systemd's: scope-bound cleanup so that
 * error paths need no hand-written free ladders.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * Slots and bundles exceed 2 GiB: on 32-bit targets configure's AC_SYS_LARGEFILE (through
 * config.h, included first by the build) must make off_t 64 bits wide.
 */
_Static_assert(sizeof(off_t) == 8, "off_t must be 64-bit: build with AC_SYS_LARGEFILE");
/* Expiry dates after 2038: 32-bit glibc needs _TIME_BITS=64 (config.h). */
_Static_assert(sizeof(time_t) == 8, "time_t must be 64-bit: build with _TIME_BITS=64");

#define _cleanup_(f)	     __attribute__((cleanup(f)))
#define _unused_	     __attribute__((unused))
#define _fallthrough_	     __attribute__((fallthrough))
#define _printf_(a, b)	     __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		(void)close(fd);
		errno = saved;
	}
	return -EBADF;
}

static inline void closep(int *fd)
{
	safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Defines <func>p(type **p) calling func(*p) when *p is set. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

/* Takes ownership: returns the value and resets the variable so cleanup skips it. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tmp_ = (p);                                                         \
		(p) = NULL;                                                                        \
		_tmp_;                                                                             \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -EBADF;                                                                     \
		_fd_;                                                                              \
	})

/*
 * Contract checks at the entry of exported functions, as systemd's assert_return(): a caller's
 * bug (a NULL context or output pointer, an fd < 0 where one is required) makes the call return
 * @r instead of crashing somewhere deeper. In critical mode (swu_set_assert_return_critical(),
 * or SWU_ASSERT_RETURN_CRITICAL=1 in the environment: tests) the failure aborts instead, loudly.
 */
void swu_assert_return_failed(const char *expr, const char *file, int line, const char *func);

#define assert_return(expr, r)                                                                     \
	do {                                                                                       \
		if (__builtin_expect(!(expr), 0)) {                                                \
			swu_assert_return_failed(#expr, __FILE__, __LINE__, __func__);             \
			return (r);                                                                \
		}                                                                                  \
	} while (false)

/* The same for functions returning void. */
#define assert_return_void(expr)                                                                   \
	do {                                                                                       \
		if (__builtin_expect(!(expr), 0)) {                                                \
			swu_assert_return_failed(#expr, __FILE__, __LINE__, __func__);             \
			return;                                                                    \
		}                                                                                  \
	} while (false)

#define streq(a, b) (strcmp((a), (b)) == 0)

static inline void *mfree(void *p)
{
	free(p);
	return NULL;
}

/* Whether @s ends in @suffix and has something before it. */
static inline bool endswith(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && streq(s + n - k, suffix);
}

/* What follows @prefix in @s, or NULL when @s does not start with it. */
static inline const char *startswith(const char *s, const char *prefix)
{
	size_t k = strlen(prefix);

	return strncmp(s, prefix, k) == 0 ? s + k : NULL;
}
