/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Time in microseconds, as sd-event counts it. Sums saturate at USEC_INFINITY instead of wrapping:
 * delays come from servers (Retry-After) and from files a power cut may have damaged.
 */
#include <stdint.h>
#include <time.h>

#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_INFINITY UINT64_MAX

static inline uint64_t usec_add(uint64_t a, uint64_t b)
{
	return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}

static inline uint64_t usec_from_sec(uint64_t sec)
{
	return sec > USEC_INFINITY / USEC_PER_SEC ? USEC_INFINITY : sec * USEC_PER_SEC;
}

/* @clock now, in microseconds. */
static inline uint64_t usec_now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}
