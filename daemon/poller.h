/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Polling the server: the timer, jitter, backoff after failures, the conditional GET of
 * metadata.pb with its ETag, and the last verified release. The pure helpers below decide the
 * delays and what an answer means; they have Check tests of their own (tests/test-poller.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "context.h"
#include "fetch.h"
#include "wire.h"

#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_INFINITY UINT64_MAX

/* CLOCK_REALTIME in microseconds, for the LastCheck/NextCheck properties. */
uint64_t now_realtime(void);
/* Time sums saturate at USEC_INFINITY instead of wrapping (delays come from servers). */
uint64_t usec_add(uint64_t a, uint64_t b);
uint64_t usec_from_sec(uint64_t sec);

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
	POLL_NONE,	   /* 404: nothing published */
	POLL_RETRY,	   /* network error, 5xx, 429: back off and try again */
	POLL_FAILED,	   /* any other answer */
} PollOutcome;

PollOutcome poll_classify(int error, long status);

typedef struct Updater Updater;
typedef struct SwuStatusRecord SwuStatusRecord;

/*
 * Two schedules. Always running (IdleExitSec=0): the daemon's own timer polls every
 * PollIntervalSec= plus jitter, and retries after failures. Activated (IdleExitSec= > 0):
 * swupdated-poll.timer calls ScheduledCheck() every PollIntervalSec= (swupdated-generator
 * writes the timer's drop-in from the same file); the daemon's own timer only retries after a
 * failure or a Retry-After that ends sooner than the next timer run, and keeps the daemon up for
 * it. Everything the schedule needs is in status.json, so an exit loses nothing.
 */
typedef struct Poller {
	bool timer_mode;	  /* activated: swupdated-poll.timer drives polling */
	uint64_t retry_at;	  /* CLOCK_REALTIME usec of the daemon's own retry, 0: none */
	uint64_t not_before;	  /* the server's Retry-After: no scheduled check before this */
	sd_bus_slot *timer_match; /* the poll timer's NextElapse properties, for NextCheck */
	sd_event_source *timer;
	FetchJob *job;
	SwuContext *ctx; /* the running poll's own failure record */
	SwuBuf body;
	char etag[128];
	unsigned failures;
	sd_bus_message *pending_check;	   /* a Check() call answered when its poll ends */
	sd_bus_message *pending_scheduled; /* the same for ScheduledCheck() */
	char note[512];			   /* what the last poll found, for Check()'s answer */
	bool start_after, apply_after;	   /* Start("")/Install(""): install what the poll finds */
	uint8_t *release;		   /* the last verified metadata.pb */
	size_t release_size;
	uint8_t release_sha256[32]; /* identifies it: SHA-256 of its signed targets metadata */
	bool skipped_noted;	    /* the rolled-back release's skip is in the history */
} Poller;

/* Restores the schedule, the ETag and the cached release (verified again) from status.json. */
void poller_restore(Updater *u, const SwuStatusRecord *st);
/* Fills the poller's part of status.json. */
void poller_record(Updater *u, SwuStatusRecord *st);
/* A poll is running or answering, or a retry is due soon: the daemon must stay up. */
bool poller_busy(Updater *u);
/* What swupdated-poll.timer calls: a poll unless the server asked to wait (Retry-After) or
 * one is running; answers like Check(). */
int poller_scheduled_check(Updater *u, sd_bus_message *call);

/* Starts the timer: the first poll soon after start, spread by the jitter. */
int poller_start(Updater *u);
/* A poll now, unless one is running (it answers for both). On failure the Note says why. */
int poller_poll(Updater *u);
void poller_stop(Updater *u);
void poller_done(Updater *u);
