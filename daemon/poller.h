/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Polling the server: the schedule (the daemon's own timer, jitter, backoff after failures, a
 * server's Retry-After), the conditional GET of metadata.pb with its ETag, and the last release
 * that verified (release.h). A poll reports what it found (PollerEvents.checked) and decides
 * nothing else: whether to install is the updater's business.
 *
 * Two schedules. Always running (IdleExitSec=0): the poller's own timer polls every
 * PollIntervalSec= plus jitter, and retries after failures. Activated (IdleExitSec= > 0):
 * swupdated-poll.timer calls ScheduledCheck() every PollIntervalSec= (swupdated-generator writes
 * the timer's drop-in from the same file); the poller's own timer only retries after a failure
 * or a Retry-After that ends sooner than the next timer run, and keeps the daemon up for it.
 * Everything the schedule needs goes into status.json (poller_record()), so an exit loses nothing.
 *
 * The pure helpers below decide the delays and what an answer means (tests/test-poller.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "clock.h"
#include "fetch.h"
#include "manager.h"
#include "release.h"
#include "state.h"

/*
 * The delay before the next poll after @failures failed polls in a row: 30 s doubling, never more
 * than the poll interval; a server's Retry-After is honoured up to the poll interval too, so a
 * server cannot stop polling for longer (nor make it spin).
 */
uint64_t poll_backoff(unsigned failures, unsigned interval_sec, uint64_t retry_after_sec);
/* A random delay below @jitter_sec seconds from the random number @random (0 when no jitter). */
uint64_t poll_jitter(unsigned jitter_sec, uint32_t random);

typedef enum PollOutcome {
	POLL_NEW,	   /* 200: a release to verify */
	POLL_NOT_MODIFIED, /* 304 */
	POLL_NONE,	   /* 404, 410: nothing published (an error: -ENOENT) */
	POLL_RETRY,	   /* network error, 5xx, 429: back off and try again */
	POLL_FAILED,	   /* any other answer */
} PollOutcome;

PollOutcome poll_classify(int error, long status);

typedef struct Poller Poller;

typedef struct PollReport {
	PollOutcome outcome;
	/* 0, or why the poll failed: the server or the network (POLL_RETRY, POLL_FAILED), nothing
	 * published (POLL_NONE, -ENOENT), or the release it sent did not verify (POLL_NEW; the
	 * release before it stays) */
	int error;
	/* what the poll found, as one sentence (logged already); NULL when it found nothing new */
	const char *note;
	/* the kept release was replaced (a 200 that verified) or dropped (nothing published) */
	bool release_changed;
} PollReport;

typedef struct PollerEvents {
	/* A poll ended (its release, when it verified, is poller_get_release() already). */
	void (*checked)(void *userdata, const PollReport *report);
	/* LastCheck or NextCheck changed. */
	void (*schedule_changed)(void *userdata);
} PollerEvents;

typedef struct PollerSetup {
	Manager *manager;
	Clock *clock;
	Fetch *fetch;
	/* Timer mode (activated); @bus follows swupdated-poll.timer's next elapse for NextCheck
	 * (NULL: not under systemd, NextCheck is the last check plus the interval). */
	bool timer_mode;
	sd_bus *bus;
	const PollerEvents *events;
	void *userdata;
} PollerSetup;

int poller_new(const PollerSetup *setup, Poller **ret);
/* Cancels a running poll (without reporting it) and the timer. */
Poller *poller_free(Poller *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Poller *, poller_free);

/* Restores the schedule, the ETag and the kept release (verified again) from status.json. */
void poller_restore(Poller *p, const SwuStatusRecord *st);
/* Fills the poller's part of status.json. */
void poller_record(const Poller *p, SwuStatusRecord *st);

/* Starts the schedule (when Server= is set): the first poll soon, spread by the jitter. */
int poller_start(Poller *p);
/*
 * A poll now, unless one is running (its report answers for both): 0 when one runs, else -errno
 * with poller_get_note() saying why (-ENOMEDIUM: no Server=).
 */
int poller_poll(Poller *p);
/*
 * What swupdated-poll.timer asks for: 1 when a poll started (its report is the answer), 0 when
 * the answer is what the poller has (no Server=, polling on its own timer, a poll running, or the
 * server's Retry-After not over: then a retry of its own is kept), or -errno.
 */
int poller_scheduled_check(Poller *p);
/*
 * Server= changed (another channel): the release, ETag and backoff of the old one are dropped
 * (release.pb too), and the next poll asks the new one in full. -EBUSY while a poll runs.
 */
int poller_server_changed(Poller *p);
/* Cancels a running poll without reporting it (SIGTERM); returns whether one ran. */
bool poller_stop(Poller *p);

/* A poll is running, or a retry of the daemon's own is due: the daemon must stay up. */
bool poller_busy(const Poller *p);
bool poller_polling(const Poller *p);
/* What the last poll found, or why it could not start. */
const char *poller_get_note(const Poller *p);
/* The release that verified last, NULL when none. */
const Release *poller_get_release(const Poller *p);
/* CLOCK_REALTIME microseconds, 0 when none. */
uint64_t poller_get_last_check(const Poller *p);
uint64_t poller_get_next_check(const Poller *p);
