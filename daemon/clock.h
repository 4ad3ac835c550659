/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's time: what time it is, and one-shot timers. The poller and the transfers take a
 * Clock instead of calling clock_gettime() and sd_event_add_time() themselves, so their schedules
 * (backoff, Retry-After, retries) are tested with a clock the test moves (tests/fake.c), in
 * milliseconds instead of hours.
 *
 * Timers are set in CLOCK_REALTIME microseconds, the unit of LastCheck, NextCheck and
 * status.json. clock_event_new() runs them on sd-event's CLOCK_MONOTONIC, computed when they are
 * set: a wall clock set back or forward later (a board without RTC battery, NTP) neither fires
 * them early nor holds them.
 */
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Clock Clock;
typedef struct ClockTimer ClockTimer;
/* Called once each time the timer elapses; the timer is then off until set again. */
typedef void (*ClockFunc)(void *userdata);

typedef struct ClockOps {
	uint64_t (*now)(Clock *c, clockid_t clock);
	int (*timer_new)(Clock *c, uint64_t accuracy, ClockFunc func, void *userdata,
			 ClockTimer **ret);
	int (*timer_set)(ClockTimer *t, uint64_t realtime);
	void (*timer_off)(ClockTimer *t);
	void (*timer_free)(ClockTimer *t);
	void (*free)(Clock *c);
} ClockOps;

/* What every clock is: its operations (the first member of each implementation). */
struct Clock {
	const ClockOps *ops;
};

/* The first member of each implementation's timer. */
struct ClockTimer {
	Clock *clock;
};

/* The real clock, its timers on @event. */
int clock_event_new(sd_event *event, Clock **ret);

static inline Clock *clock_free(Clock *c)
{
	if (c)
		c->ops->free(c);
	return NULL;
}

/* @clock (CLOCK_REALTIME or CLOCK_MONOTONIC) now, in microseconds. */
static inline uint64_t clock_now(Clock *c, clockid_t clock)
{
	return c->ops->now(c, clock);
}

/*
 * A timer, off until clock_timer_set(). @accuracy (microseconds, 0: sd-event's default) lets the
 * loop coalesce wake-ups.
 */
static inline int clock_timer_new(Clock *c, uint64_t accuracy, ClockFunc func, void *userdata,
				  ClockTimer **ret)
{
	return c->ops->timer_new(c, accuracy, func, userdata, ret);
}

/* Fires once at @realtime (CLOCK_REALTIME usec; a time past fires at once). */
static inline int clock_timer_set(ClockTimer *t, uint64_t realtime)
{
	return t->clock->ops->timer_set(t, realtime);
}

/* Fires once after @usec from now, saturating. */
int clock_timer_set_relative(ClockTimer *t, uint64_t usec);

static inline void clock_timer_off(ClockTimer *t)
{
	if (t)
		t->clock->ops->timer_off(t);
}

static inline ClockTimer *clock_timer_free(ClockTimer *t)
{
	if (t)
		t->clock->ops->timer_free(t);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Clock *, clock_free);
