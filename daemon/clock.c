/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "macro.h"
#include "time-util.h"

typedef struct EventClock {
	Clock clock;
	sd_event *event;
} EventClock;

typedef struct EventTimer {
	ClockTimer timer;
	sd_event_source *source;
	ClockFunc func;
	void *userdata;
} EventTimer;

static uint64_t event_now(Clock *c, clockid_t clock)
{
	return usec_now(clock);
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
	EventTimer *t = userdata;

	t->func(t->userdata); /* may free the timer: nothing after this */
	return 0;
}

static int event_timer_new(Clock *c, uint64_t accuracy, ClockFunc func, void *userdata,
			   ClockTimer **ret)
{
	EventClock *ec = (EventClock *)c;
	EventTimer *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	*t = (EventTimer){ .timer.clock = c, .func = func, .userdata = userdata };
	r = sd_event_add_time(ec->event, &t->source, CLOCK_MONOTONIC, USEC_INFINITY, accuracy,
			      on_time, t);
	if (r >= 0)
		r = sd_event_source_set_enabled(t->source, SD_EVENT_OFF);
	if (r < 0) {
		sd_event_source_disable_unref(t->source);
		free(t);
		return r;
	}
	*ret = &t->timer;
	return 0;
}

static int event_timer_set(ClockTimer *timer, uint64_t realtime)
{
	EventTimer *t = (EventTimer *)timer;
	uint64_t now = usec_now(CLOCK_REALTIME), mono = usec_now(CLOCK_MONOTONIC);
	int r;

	r = sd_event_source_set_time(t->source,
				     usec_add(mono, realtime > now ? realtime - now : 0));
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(t->source, SD_EVENT_ONESHOT);
}

static void event_timer_off(ClockTimer *timer)
{
	(void)sd_event_source_set_enabled(((EventTimer *)timer)->source, SD_EVENT_OFF);
}

static void event_timer_free(ClockTimer *timer)
{
	EventTimer *t = (EventTimer *)timer;

	sd_event_source_disable_unref(t->source);
	free(t);
}

static void event_free(Clock *c)
{
	EventClock *ec = (EventClock *)c;

	sd_event_unref(ec->event);
	free(ec);
}

static const ClockOps event_ops = {
	.now = event_now,
	.timer_new = event_timer_new,
	.timer_set = event_timer_set,
	.timer_off = event_timer_off,
	.timer_free = event_timer_free,
	.free = event_free,
};

int clock_event_new(sd_event *event, Clock **ret)
{
	EventClock *ec;

	assert_return(event, -EINVAL);
	assert_return(ret, -EINVAL);
	ec = calloc(1, sizeof(*ec));
	if (!ec)
		return -ENOMEM;
	*ec = (EventClock){ .clock.ops = &event_ops, .event = sd_event_ref(event) };
	*ret = &ec->clock;
	return 0;
}

int clock_timer_set_relative(ClockTimer *t, uint64_t usec)
{
	return clock_timer_set(t, usec_add(clock_now(t->clock, CLOCK_REALTIME), usec));
}
