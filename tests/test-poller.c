/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The poller: its pure helpers (saturating time sums, backoff, jitter, what an HTTP answer means),
 * then the Poller itself against a server in memory and a clock the test moves (tests/fake.c):
 * the conditional GET and its 304, the release kept and dropped, backoff after failures, a
 * server's Retry-After, the schedule kept across a restart, and timer mode.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "fetch.h"
#include "macro.h"
#include "poller.h"
#include "reader.h"
#include "state.h"
#include "text.h"
#include "testutil.h"
#include "time-util.h"
#include "transfer.h"

#define SERVER "http://updates.example/stable"
#define T0     (UINT64_C(1796000000) * USEC_PER_SEC)
#define HOUR   (3600 * USEC_PER_SEC)

static sd_event *event;
static FakeClock *fc;
static FakeServer *srv;
static FakeDevice dev;

typedef struct Recorder {
	unsigned polls;
	PollReport last;
	char note[512];
	uint64_t at[16]; /* the clock at each report */
	unsigned schedule_changes;
} Recorder;

static void on_checked(void *userdata, const PollReport *report)
{
	Recorder *rec = userdata;

	if (rec->polls < ELEMENTSOF(rec->at))
		rec->at[rec->polls] = fake_clock_now(fc);
	rec->polls++;
	rec->last = *report;
	snprintf(rec->note, sizeof(rec->note), "%s", report->note ?: "");
	rec->last.note = report->note ? rec->note : NULL;
}

static void on_schedule(void *userdata)
{
	((Recorder *)userdata)->schedule_changes++;
}

static const PollerEvents events = { .checked = on_checked, .schedule_changed = on_schedule };

static void setup(void)
{
	ck_assert_int_eq(sd_event_new(&event), 0);
	fc = fake_clock_new(T0);
	srv = fake_server_new(event);
	fake_device_init(&dev, SERVER, NULL);
}

static void teardown(void)
{
	fake_device_done(&dev);
	fake_server_free(srv);
	fake_clock_free(fc);
	sd_event_unref(event);
}

static Poller *new_poller(Recorder *rec, bool timer_mode)
{
	PollerSetup ps = { .manager = dev.m,
			   .clock = fake_clock(fc),
			   .fetch = fake_server_fetch(srv),
			   .timer_mode = timer_mode,
			   .events = &events,
			   .userdata = rec };
	Poller *p = NULL;

	ck_assert_int_eq(poller_new(&ps, &p), 0);
	return p;
}

static const char appfs[] = "application, version 2";

static void publish(uint32_t version, FakeRelease *rel)
{
	const TuFile files[] = { { "appfs", appfs, sizeof(appfs) } };

	fake_release(&dev, version, files, ELEMENTSOF(files), rel);
	fake_publish(srv, SERVER, rel, files, ELEMENTSOF(files), version);
}

typedef struct Wait {
	Recorder *rec;
	unsigned polls;
} Wait;

static bool polled(void *userdata)
{
	Wait *w = userdata;

	return w->rec->polls >= w->polls;
}

/* Runs until @rec saw @n reports in all (time moves to each timer). */
static void run_polls(Recorder *rec, unsigned n)
{
	Wait w = { rec, n };

	ck_assert_msg(fake_run_until(event, fc, polled, &w), "only %u polls of %u", rec->polls, n);
}

/* A new poller restored from @st polls once: the If-None-Match it sent. */
static const char *poll_restored(Recorder *rec, const SwuStatusRecord *st)
{
	_cleanup_(poller_freep) Poller *q = new_poller(rec, false);
	const FakeRequest *req;
	size_t n;

	poller_restore(q, st);
	ck_assert_int_eq(poller_poll(q), 0);
	run_polls(rec, rec->polls + 1);
	n = fake_server_requests(srv, &req);
	return req[n - 1].if_none_match;
}

static bool state_file(const char *name)
{
	_cleanup_free_ char *path = tu_path("%s/state/%s", dev.dir, name);

	return access(path, F_OK) == 0;
}

START_TEST(test_usec_saturates)
{
	ck_assert_uint_eq(usec_add(1, 2), 3);
	ck_assert_uint_eq(usec_add(USEC_INFINITY - 1, 1), USEC_INFINITY);
	ck_assert_uint_eq(usec_add(USEC_INFINITY - 1, 2), USEC_INFINITY);
	ck_assert_uint_eq(usec_add(USEC_INFINITY, USEC_INFINITY), USEC_INFINITY);
	ck_assert_uint_eq(usec_from_sec(3), 3 * USEC_PER_SEC);
	ck_assert_uint_eq(usec_from_sec(UINT64_MAX / USEC_PER_SEC + 1), USEC_INFINITY);
	ck_assert_uint_eq(usec_from_sec(UINT64_MAX), USEC_INFINITY);
}
END_TEST

START_TEST(test_backoff)
{
	const unsigned hour = 3600;

	/* 30 s, doubling per failure, never beyond the poll interval */
	ck_assert_uint_eq(poll_backoff(1, hour, 0), 30 * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(2, hour, 0), 60 * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(3, hour, 0), 120 * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(8, hour, 0), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1000, hour, 0), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1, 10, 0), 10 * USEC_PER_SEC);
	/* Retry-After is honoured, but only up to the poll interval */
	ck_assert_uint_eq(poll_backoff(1, hour, 300), 300 * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1, hour, 4000000000ULL), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1, hour, 18446744073709ULL), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1, hour, UINT64_MAX), hour * USEC_PER_SEC);
	/* The exponent is capped: a shift by 64 or more is undefined (x86 takes it modulo 64, and
	 * 65 failures would wait 30 s again). status.json may claim any number of failures. */
	for (unsigned f = 17; f < 300; f++)
		ck_assert_msg(poll_backoff(f, hour, 0) == hour * USEC_PER_SEC,
			      "%u failures: %llu s", f,
			      (unsigned long long)(poll_backoff(f, hour, 0) / USEC_PER_SEC));
	ck_assert_uint_eq(poll_backoff(UINT32_MAX, hour, 0), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(65, UINT32_MAX, 0), usec_from_sec(30) << 16);
}
END_TEST

START_TEST(test_jitter)
{
	ck_assert_uint_eq(poll_jitter(0, 12345), 0);
	for (uint32_t r = 0; r < 100000; r += 7)
		ck_assert_uint_lt(poll_jitter(600, r), 600 * USEC_PER_SEC);
	ck_assert_uint_lt(poll_jitter(600, UINT32_MAX), 600 * USEC_PER_SEC);
	ck_assert_uint_lt(poll_jitter(1, UINT32_MAX), USEC_PER_SEC);
	/* different random numbers spread */
	ck_assert_uint_ne(poll_jitter(600, 1), poll_jitter(600, 2));
}
END_TEST

START_TEST(test_classify)
{
	ck_assert_int_eq(poll_classify(0, 200), POLL_NEW);
	ck_assert_int_eq(poll_classify(0, 304), POLL_NOT_MODIFIED);
	ck_assert_int_eq(poll_classify(0, 404), POLL_NONE);
	ck_assert_int_eq(poll_classify(0, 410), POLL_NONE);
	ck_assert_int_eq(poll_classify(0, 500), POLL_RETRY);
	ck_assert_int_eq(poll_classify(0, 503), POLL_RETRY);
	ck_assert_int_eq(poll_classify(0, 429), POLL_RETRY);
	ck_assert_int_eq(poll_classify(0, 408), POLL_RETRY);
	ck_assert_int_eq(poll_classify(-ECONNREFUSED, 0), POLL_RETRY);
	ck_assert_int_eq(poll_classify(-ETIMEDOUT, 200), POLL_RETRY);
	ck_assert_int_eq(poll_classify(0, 403), POLL_FAILED);
	ck_assert_int_eq(poll_classify(0, 301), POLL_FAILED);
	ck_assert_int_eq(poll_classify(0, 0), POLL_FAILED);
}
END_TEST

START_TEST(test_retry_after)
{
	const time_t now = 1795000000; /* Wed, 18 Nov 2026 11:06:40 GMT */

	ck_assert_uint_eq(fetch_parse_retry_after("120", now), 120);
	ck_assert_uint_eq(fetch_parse_retry_after("  7 ", now), 7);
	ck_assert_uint_eq(fetch_parse_retry_after("4000000000", now), 4000000000ULL);
	ck_assert_uint_eq(fetch_parse_retry_after("18446744073709", now), 18446744073709ULL);
	/* beyond 64 bits saturates instead of wrapping */
	ck_assert_uint_eq(fetch_parse_retry_after("99999999999999999999999", now), UINT64_MAX);
	/* an HTTP-date: seconds from now, none when it lies in the past */
	ck_assert_uint_eq(fetch_parse_retry_after("Wed, 18 Nov 2026 12:06:40 GMT", now), 3600);
	ck_assert_uint_eq(fetch_parse_retry_after("Wed, 18 Nov 2026 10:06:40 GMT", now), 0);
	/* The obsolete forms a recipient must accept (RFC 9110 5.6.7). */
	ck_assert_uint_eq(fetch_parse_retry_after("Wednesday, 18-Nov-26 12:06:40 GMT", now), 3600);
	ck_assert_uint_eq(fetch_parse_retry_after("Wed Nov 18 12:06:40 2026", now), 3600);
	ck_assert_uint_eq(fetch_parse_retry_after("Wed, 18 Nov 2026 12:06:40 GMT trailing", now),
			  0);
	/* After 2038 (a 32-bit time_t anywhere on the way wraps). */
	ck_assert_uint_eq(fetch_parse_retry_after("Fri, 01 Jan 2100 01:00:00 GMT", 4102444800),
			  3600);
	ck_assert_uint_eq(fetch_parse_retry_after("soon", now), 0);
	ck_assert_uint_eq(fetch_parse_retry_after("12abc", now), 0);
	ck_assert_uint_eq(fetch_parse_retry_after("", now), 0);
	/* whatever it says, the poll waits no longer than the poll interval */
	ck_assert_uint_eq(poll_backoff(1, 3600, fetch_parse_retry_after("4000000000", now)),
			  3600 * USEC_PER_SEC);
}
END_TEST

/* A poll is a conditional GET: a 304 keeps the release that verified, a 404 drops it. */
START_TEST(test_conditional)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL;
	const FakeRequest *req;
	FakeRelease rel;
	Recorder rec = {};
	size_t n;

	publish(2, &rel);
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_poll(p), 0);
	ck_assert(poller_busy(p));
	/* A second request while one runs is the same poll. */
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 1);
	ck_assert_uint_eq(fake_server_count(srv, url), 1);
	ck_assert_int_eq(rec.last.outcome, POLL_NEW);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert(rec.last.release_changed);
	ck_assert_str_eq(rec.note, "Release version 2 available (installed 0)");
	ck_assert_uint_eq(release_get_version(poller_get_release(p)), 2);
	ck_assert_uint_eq(poller_get_last_check(p), T0);
	ck_assert(state_file("release.pb"));

	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 2);
	n = fake_server_requests(srv, &req);
	ck_assert_str_eq(req[n - 1].if_none_match, "\"v2\"");
	ck_assert_int_eq(rec.last.outcome, POLL_NOT_MODIFIED);
	ck_assert(!rec.last.release_changed);
	/* The kept release is what the poll found: said again, over any earlier failure's Note. */
	ck_assert_ptr_nonnull(rec.last.note);
	ck_assert_str_eq(rec.note, "Release version 2 available (installed 0)");
	ck_assert_uint_eq(release_get_version(poller_get_release(p)), 2);

	/* A release that does not verify: rejected, the one before stays, asked in full next. */
	{
		uint8_t junk[64] = { 0xff };

		fake_server_put(srv, url, junk, sizeof(junk), "\"junk\"");
	}
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 3);
	ck_assert_int_eq(rec.last.outcome, POLL_NEW);
	ck_assert_int_lt(rec.last.error, 0);
	ck_assert_msg(strstr(rec.note, "Release rejected: "), "%s", rec.note);
	ck_assert_uint_eq(release_get_version(poller_get_release(p)), 2);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 4);
	n = fake_server_requests(srv, &req);
	ck_assert_str_eq(req[n - 1].if_none_match, "");

	fake_server_remove(srv, url);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 5);
	ck_assert_int_eq(rec.last.outcome, POLL_NONE);
	/* A missing channel is an error (a typo in Server= must not look healthy). */
	ck_assert_int_eq(rec.last.error, -ENOENT);
	ck_assert_msg(strstr(rec.note, SERVER "/metadata.pb (HTTP status 404)"), "%s", rec.note);
	ck_assert(rec.last.release_changed);
	ck_assert_ptr_null(poller_get_release(p));
	ck_assert(!state_file("release.pb"));
	fake_release_done(&rel);
}
END_TEST

/* Failed polls back off, 30 s doubling up to the interval; a good one ends the backoff. */
START_TEST(test_backoff_schedule)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL;
	static const uint64_t gaps[] = { 30, 60, 120, 240, 480, 960, 1920, 3600, 3600 };
	FakeRelease rel;
	Recorder rec = {};

	publish(2, &rel);
	for (size_t i = 0; i <= ELEMENTSOF(gaps); i++)
		fake_server_fault(srv, url, &(FakeFault){ .status = 503 });
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_start(p), 0);
	/* The first poll a second after the start (no jitter configured). */
	ck_assert_uint_eq(poller_get_next_check(p), T0 + USEC_PER_SEC);
	run_polls(&rec, 1);
	ck_assert_uint_eq(rec.at[0], T0 + USEC_PER_SEC);
	ck_assert_int_eq(rec.last.outcome, POLL_RETRY);
	ck_assert_int_eq(rec.last.error, -EREMOTEIO);
	ck_assert_str_eq(rec.note, "Checking " SERVER " failed: HTTP status 503");
	run_polls(&rec, 1 + ELEMENTSOF(gaps));
	for (size_t i = 0; i < ELEMENTSOF(gaps); i++)
		ck_assert_msg(rec.at[i + 1] - rec.at[i] == gaps[i] * USEC_PER_SEC,
			      "gap %zu: %llu s, expected %llu s", i,
			      (unsigned long long)((rec.at[i + 1] - rec.at[i]) / USEC_PER_SEC),
			      (unsigned long long)gaps[i]);
	/* The server is back: the release, and the next poll an interval later. */
	run_polls(&rec, 2 + ELEMENTSOF(gaps));
	ck_assert_int_eq(rec.last.outcome, POLL_NEW);
	ck_assert_uint_eq(poller_get_next_check(p), fake_clock_now(fc) + HOUR);
	ck_assert(!poller_busy(p));
	fake_release_done(&rel);
}
END_TEST

/* Retry-After is honoured, but never beyond the poll interval. */
START_TEST(test_retry_after_schedule)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL;
	Recorder rec = {};

	fake_server_fault(srv, url, &(FakeFault){ .status = 503, .retry_after = 900 });
	fake_server_fault(srv, url, &(FakeFault){ .status = 429, .retry_after = 86400 });
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_start(p), 0);
	run_polls(&rec, 3);
	ck_assert_uint_eq(rec.at[1] - rec.at[0], 900 * USEC_PER_SEC);
	ck_assert_uint_eq(rec.at[2] - rec.at[1], HOUR);
	ck_assert_int_eq(rec.last.outcome, POLL_NONE);
}
END_TEST

/*
 * A Retry-After beyond the poll interval is kept as "not before" for one interval only: the
 * timer's next check after that polls, and status.json keeps no later date.
 */
START_TEST(test_retry_after_clamped)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL;
	SwuStatusRecord st = {};
	FakeRelease rel;
	Recorder rec = {};

	publish(2, &rel);
	p = new_poller(&rec, true);
	ck_assert_int_eq(poller_start(p), 0);
	fake_server_fault(srv, url, &(FakeFault){ .status = 503, .retry_after = 30 * 86400 });
	ck_assert_int_eq(poller_scheduled_check(p), 1);
	run_polls(&rec, 1);
	ck_assert_int_eq(rec.last.outcome, POLL_RETRY);
	poller_record(p, &st);
	ck_assert_msg(st.not_before == rec.at[0] + HOUR, "not before %llu s after the poll",
		      (unsigned long long)((st.not_before - rec.at[0]) / USEC_PER_SEC));
	/* Within the interval the timer's check is answered from what there is... */
	fake_clock_set(fc, rec.at[0] + HOUR - USEC_PER_SEC);
	ck_assert_int_eq(poller_scheduled_check(p), 0);
	ck_assert_uint_eq(fake_server_count(srv, url), 1);
	/* ...after it, it polls (on its own timer, set then), whatever the server asked for. */
	fake_clock_set(fc, rec.at[0] + HOUR + USEC_PER_SEC);
	ck_assert(poller_polling(p) || poller_scheduled_check(p) == 1);
	run_polls(&rec, 2);
	ck_assert_int_eq(rec.last.outcome, POLL_NEW);
	fake_release_done(&rel);
}
END_TEST

/* Timer mode: swupdated-poll.timer polls; the poller retries on its own only sooner than it. */
START_TEST(test_timer_mode)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL;
	FakeRelease rel;
	Recorder rec = {};
	uint64_t at;

	publish(2, &rel);
	p = new_poller(&rec, true);
	ck_assert_int_eq(poller_start(p), 0);
	ck_assert(!fake_clock_next(fc, &at));
	ck_assert(!poller_busy(p));
	/* The timer's call polls. */
	fake_server_fault(srv, url, &(FakeFault){ .status = 503, .retry_after = 120 });
	ck_assert_int_eq(poller_scheduled_check(p), 1);
	run_polls(&rec, 1);
	/* A retry of its own, sooner than the timer: it keeps the daemon up. */
	ck_assert(poller_busy(p));
	ck_assert(fake_clock_next(fc, &at));
	ck_assert_uint_eq(at, rec.at[0] + 120 * USEC_PER_SEC);
	/* The timer's next call before the Retry-After ends is answered from what there is. */
	ck_assert_int_eq(poller_scheduled_check(p), 0);
	ck_assert_uint_eq(fake_server_count(srv, url), 1);
	run_polls(&rec, 2);
	ck_assert_uint_eq(rec.at[1], rec.at[0] + 120 * USEC_PER_SEC);
	ck_assert_int_eq(rec.last.outcome, POLL_NEW);
	/* Then it is the timer's again: nothing of its own is due. */
	ck_assert(!poller_busy(p));
	ck_assert(!fake_clock_next(fc, &at));
	fake_release_done(&rel);
}
END_TEST

/* What status.json keeps: the backoff, the ETag, and the release, verified again. */
START_TEST(test_restore)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL, *q = NULL;
	SwuStatusRecord st = {};
	const FakeRequest *req;
	FakeRelease rel;
	Recorder rec = {};
	size_t n;

	publish(2, &rel);
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 1);
	fake_server_fault(srv, url, &(FakeFault){ .status = 500 });
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 2);
	poller_record(p, &st);
	ck_assert_uint_eq(st.failures, 1);
	ck_assert_uint_eq(st.available_version, 2);
	ck_assert_str_eq(st.etag, "\"v2\"");

	q = new_poller(&rec, false);
	poller_restore(q, &st);
	ck_assert_uint_eq(release_get_version(poller_get_release(q)), 2);
	/* The failures carry on: the next failure waits 60 s, not 30. */
	fake_server_fault(srv, url, &(FakeFault){ .status = 500 });
	ck_assert_int_eq(poller_start(q), 0);
	run_polls(&rec, 3);
	ck_assert_uint_eq(poller_get_next_check(q), fake_clock_now(fc) + 60 * USEC_PER_SEC);
	run_polls(&rec, 4);
	n = fake_server_requests(srv, &req);
	ck_assert_str_eq(req[n - 1].if_none_match, "\"v2\"");
	ck_assert_int_eq(rec.last.outcome, POLL_NOT_MODIFIED);
	q = poller_free(q);

	/*
	 * A retry (timer mode) or a Retry-After kept from far ahead (a damaged file, a clock set
	 * back since) waits one interval at most; a failure count from far beyond waits one
	 * interval, not the 30 s a wrapped shift would give.
	 */
	{
		SwuStatusRecord far = st;
		uint64_t now = fake_clock_now(fc);

		p = poller_free(p); /* its retry timer would poll meanwhile */
		far.retry_at = now + 1000 * HOUR;
		far.not_before = now + 1000 * HOUR;
		far.failures = 64;
		q = new_poller(&rec, true);
		poller_restore(q, &far);
		ck_assert_int_eq(poller_start(q), 0);
		ck_assert_msg(
			poller_get_next_check(q) == now + HOUR, "next check in %llu s",
			(unsigned long long)((poller_get_next_check(q) - now) / USEC_PER_SEC));
		poller_record(q, &far);
		ck_assert_uint_eq(far.retry_at, now + HOUR);
		ck_assert_uint_eq(far.not_before, now + HOUR);
		q = poller_free(q);

		far = st;
		far.failures = 64;
		q = new_poller(&rec, false);
		poller_restore(q, &far);
		fake_server_fault(srv, url, &(FakeFault){ .status = 500 });
		ck_assert_int_eq(poller_start(q), 0);
		run_polls(&rec, rec.polls + 1);
		ck_assert_int_eq(rec.last.outcome, POLL_RETRY);
		ck_assert_msg(poller_get_next_check(q) == fake_clock_now(fc) + HOUR,
			      "after 65 failures the next check in %llu s",
			      (unsigned long long)((poller_get_next_check(q) - fake_clock_now(fc)) /
						   USEC_PER_SEC));
		q = poller_free(q);
	}

	/* What another Server= answered is not sent to this one. */
	ck_assert_str_eq(st.polled, SERVER);
	strcpy(st.polled, "http://old.example/stable");
	ck_assert_str_eq(poll_restored(&rec, &st), "");
	ck_assert_int_eq(rec.last.outcome, POLL_NEW);
	strcpy(st.polled, SERVER);

	/* An ETag that is no header value is not sent; a damaged release is not used. */
	strcpy(st.etag, "\"v2\"\r\nX-Evil: 1");
	ck_assert_str_eq(poll_restored(&rec, &st), "");
	{
		_cleanup_free_ char *path = tu_path("%s/state/release.pb", dev.dir);

		tu_write_text(path, "not a release");
	}
	q = new_poller(&rec, false);
	poller_restore(q, &st);
	ck_assert_ptr_null(poller_get_release(q));
	fake_release_done(&rel);
}
END_TEST

/* A server without ETags (Python's http.server): asked with If-Modified-Since, it answers 304 and
 * the release is neither downloaded nor verified again; the date survives a restart. */
START_TEST(test_last_modified)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL, *q = NULL;
	static const char date[] = "Wed, 18 Nov 2026 10:00:00 GMT";
	SwuStatusRecord st = {};
	const FakeRequest *req;
	FakeRelease rel;
	Recorder rec = {};
	size_t n;

	fake_release(&dev, 2, (TuFile[]){ { "appfs", appfs, sizeof(appfs) } }, 1, &rel);
	fake_server_put(srv, url, rel.metadata.data, rel.metadata.size, NULL);
	fake_server_last_modified(srv, url, date);
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 1);
	ck_assert_int_eq(rec.last.outcome, POLL_NEW);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 2);
	n = fake_server_requests(srv, &req);
	ck_assert_str_eq(req[n - 1].if_modified_since, date);
	ck_assert_int_eq(rec.last.outcome, POLL_NOT_MODIFIED);
	poller_record(p, &st);
	ck_assert_str_eq(st.last_modified, date);
	q = new_poller(&rec, false);
	poller_restore(q, &st);
	ck_assert_int_eq(poller_poll(q), 0);
	run_polls(&rec, 3);
	ck_assert_int_eq(rec.last.outcome, POLL_NOT_MODIFIED);
	fake_release_done(&rel);
}
END_TEST

START_TEST(test_bundle_cap)
{
	const uint64_t meta = SWU_METADATA_TOTAL_FACTOR * (uint64_t)SWU_METADATA_MAX_DEFAULT;
	const uint64_t slots[] = { 8 << 20, 16 << 20 };
	const uint64_t huge[] = { UINT64_MAX - 5, 100 };

	/* the inactive slots (block devices too) and the metadata: no more */
	ck_assert_uint_eq(transfer_bundle_cap(slots, 2, 0), meta + (24 << 20));
	ck_assert_uint_eq(transfer_bundle_cap(slots, 0, 0), meta);
	/* MaxBundleSize= lowers it, never raises it */
	ck_assert_uint_eq(transfer_bundle_cap(slots, 2, 1 << 20), 1 << 20);
	ck_assert_uint_eq(transfer_bundle_cap(slots, 2, UINT64_MAX), meta + (24 << 20));
	/* saturating */
	ck_assert_uint_eq(transfer_bundle_cap(huge, 2, 0), UINT64_MAX);
}
END_TEST

/*
 * The chain from the server: r[v] for v = 2..top has root key k[v] and targets key t[v] and is
 * signed by k[v - 1] and k[v] (k[1] is the device's root key), so each rotation retires every
 * key before it. metadata.pb carries r[top] and no chain; roots/<N>.pb serve the ones between.
 */
#define CHAIN_TOP 40

typedef struct ServerChain {
	EVP_PKEY *k[CHAIN_TOP + 1], *t[CHAIN_TOP + 1];
	SwuBuf r[CHAIN_TOP + 1];
	int top;
} ServerChain;

static void server_chain_init(ServerChain *c, int top)
{
	*c = (ServerChain){ .top = top };
	c->k[1] = dev.w.root_key;
	for (int v = 2; v <= top; v++) {
		EVP_PKEY *signers[2];

		c->k[v] = tu_key();
		c->t[v] = tu_key();
		signers[0] = c->k[v - 1];
		signers[1] = c->k[v];
		tu_root_simple((uint32_t)v, c->k[v], c->t[v], signers, 2, &c->r[v]);
	}
}

static void server_chain_done(ServerChain *c)
{
	for (int v = 2; v <= c->top; v++) {
		EVP_PKEY_free(c->k[v]);
		EVP_PKEY_free(c->t[v]);
		swu_buf_done(&c->r[v]);
	}
}

/* metadata.pb of release @version under r[@top], and roots/<N>.pb for N in [@from, @top]. */
static void publish_chain_at(const char *server, ServerChain *c, uint32_t version, int top,
			     int from)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", server);
	TuTargetsSpec spec = { .version = version, .n_files = 1, .n_signers = 1 };
	SwuBuf targets = {}, meta = {};
	char etag[32];

	spec.files[0] = (TuFile){ "appfs", appfs, sizeof(appfs) };
	spec.signers[0] = c->t[top];
	tu_targets(&spec, &targets);
	tu_put_root(&meta, &c->r[top]);
	tu_put_targets(&meta, "targets", &targets);
	snprintf(etag, sizeof(etag), "\"v%u-%d\"", version, top);
	fake_server_put(srv, url, meta.data, meta.size, etag);
	for (int v = from; v <= top; v++) {
		_cleanup_free_ char *root = tu_path("%s/roots/%d.pb", server, v);

		fake_server_put(srv, root, c->r[v].data, c->r[v].size, "\"root\"");
	}
	swu_buf_done(&targets);
	swu_buf_done(&meta);
}

static void publish_chain(ServerChain *c, uint32_t version, int top, int from)
{
	publish_chain_at(SERVER, c, version, top, from);
}

static uint32_t device_root_version(void)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = tu_context();
	_cleanup_free_ uint8_t *root = NULL;
	size_t size = 0;

	ck_assert_int_eq(swu_device_trusted_root(ctx, &dev.m->device, &root, &size), 0);
	return swu_root_version(ctx, root, size);
}

static int state_roots(void)
{
	_cleanup_free_ char *path = tu_path("%s/state/roots", dev.dir);

	return tu_count_files(path);
}

/*
 * A device that trusts v1 polls a release of v4 whose metadata carries no chain: it fetches
 * roots/2.pb and roots/3.pb, checks and keeps each, then verifies the release.
 */
START_TEST(test_root_chain_fetched)
{
	_cleanup_free_ char *r2 = tu_path("%s/roots/2.pb", SERVER);
	_cleanup_free_ char *r3 = tu_path("%s/roots/3.pb", SERVER);
	_cleanup_free_ char *r4 = tu_path("%s/roots/4.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL;
	Recorder rec = {};
	ServerChain c;

	server_chain_init(&c, 5);
	publish_chain(&c, 2, 4, 2);
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 1);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert_msg(streq(rec.note, "Release version 2 available (installed 0)"), "%s", rec.note);
	ck_assert_uint_eq(release_get_version(poller_get_release(p)), 2);
	ck_assert_uint_eq(fake_server_count(srv, r2), 1);
	ck_assert_uint_eq(fake_server_count(srv, r3), 1);
	ck_assert_uint_eq(fake_server_count(srv, r4), 0); /* metadata.pb carries it */
	ck_assert_int_eq(state_roots(), 3);
	ck_assert_uint_eq(device_root_version(), 4);
	/* one version ahead: the metadata's root alone, nothing fetched */
	publish_chain(&c, 3, 5, 5);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 2);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert_uint_eq(fake_server_count(srv, r2), 1);
	ck_assert_uint_eq(fake_server_count(srv, r3), 1);
	ck_assert_uint_eq(device_root_version(), 5);
	server_chain_done(&c);
}
END_TEST

/* Server= with user information: the roots' URL in a Note shows none of it. */
START_TEST(test_root_chain_secret)
{
	static const char secret[] = "http://svc:pollpass@updates.example/stable";
	_cleanup_(poller_freep) Poller *p = NULL;
	Recorder rec = {};
	ServerChain c;

	fake_device_done(&dev);
	fake_device_init(&dev, secret, NULL);
	server_chain_init(&c, 4);
	publish_chain_at(secret, &c, 2, 4, 2);
	fake_server_fault(srv, "http://svc:pollpass@updates.example/stable/roots/3.pb",
			  &(FakeFault){ .status = 403 });
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 1);
	ck_assert_int_lt(rec.last.error, 0);
	ck_assert_msg(streq(rec.note, "Release rejected: cannot fetch "
				      "http://updates.example/stable/roots/3.pb: HTTP status 403"),
		      "%s", rec.note);
	ck_assert_int_eq(state_roots(), 1);
	server_chain_done(&c);
}
END_TEST

/* Devices that trust v2 or v3 fetch only what they miss, and install the same release. */
START_TEST(test_root_chain_partial)
{
	_cleanup_free_ char *state = tu_path("%s/state", dev.dir);
	_cleanup_free_ char *links = tu_path("%s/state/roots", dev.dir);
	_cleanup_free_ char *r2 = tu_path("%s/roots/2.pb", SERVER);
	_cleanup_free_ char *r3 = tu_path("%s/roots/3.pb", SERVER);
	_cleanup_(swu_context_unrefp) SwuContext *ctx = tu_context();
	_cleanup_(poller_freep) Poller *p = NULL;
	Recorder rec = {};
	ServerChain c;

	server_chain_init(&c, 4);
	publish_chain(&c, 2, 4, 2);
	ck_assert_int_eq(swu_state_save_root(ctx, state, c.r[2].data, c.r[2].size), 1);
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 1);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert_uint_eq(fake_server_count(srv, r2), 0);
	ck_assert_uint_eq(fake_server_count(srv, r3), 1);
	ck_assert_int_eq(state_roots(), 3);
	ck_assert_uint_eq(device_root_version(), 4);
	/* v3 (a device that walked to v3 before): nothing to fetch */
	tu_rm_rf(links);
	ck_assert_int_eq(swu_state_save_root(ctx, state, c.r[2].data, c.r[2].size), 1);
	ck_assert_int_eq(swu_state_save_root(ctx, state, c.r[3].data, c.r[3].size), 1);
	publish_chain(&c, 3, 4, 2);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 2);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert_uint_eq(release_get_version(poller_get_release(p)), 3);
	ck_assert_uint_eq(fake_server_count(srv, r2), 0);
	ck_assert_uint_eq(fake_server_count(srv, r3), 1);
	ck_assert_uint_eq(device_root_version(), 4);
	server_chain_done(&c);
}
END_TEST

/*
 * A server serving a different roots/3.pb than the chain needs: the walk stops there, the poll
 * fails with the hop's reason, and only v2 is kept. A missing root, or one of another version than
 * its name, likewise.
 */
START_TEST(test_root_chain_attacks)
{
	_cleanup_free_ char *r3 = tu_path("%s/roots/3.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL;
	EVP_PKEY *evil = tu_key();
	SwuBuf forged = {};
	Recorder rec = {};
	ServerChain c;
	unsigned polls = 0;

	server_chain_init(&c, CHAIN_TOP);
	p = new_poller(&rec, false);
	publish_chain(&c, 2, 4, 2);
	{
		EVP_PKEY *signers[] = { evil, c.k[3] };

		tu_root_simple(3, c.k[3], c.t[3], signers, 2, &forged);
	}
	fake_server_put(srv, r3, forged.data, forged.size, "\"forged\"");
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, ++polls);
	ck_assert_int_eq(rec.last.error, -EKEYREJECTED);
	ck_assert_msg(streq(rec.note, "Release rejected: root chain: hop from version 2 to 3: root "
				      "metadata has 0 valid signatures by trusted root keys, 1 "
				      "required"),
		      "%s", rec.note);
	ck_assert_ptr_null(poller_get_release(p));
	ck_assert_int_eq(state_roots(), 1);
	ck_assert_uint_eq(device_root_version(), 2);

	/* missing: a version may be skipped, so the walk goes on, and the release's root (signed
	 * from v3) fails rule 2 */
	fake_server_remove(srv, r3);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, ++polls);
	ck_assert_int_eq(rec.last.error, -EKEYREJECTED);
	ck_assert_msg(strstr(rec.note, "Release rejected: root metadata has 0 valid signatures by "
				       "trusted root keys, 1 required"),
		      "%s", rec.note);
	ck_assert_int_eq(state_roots(), 1);

	/* another version than its name */
	fake_server_put(srv, r3, c.r[4].data, c.r[4].size, "\"v4\"");
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, ++polls);
	ck_assert_int_eq(rec.last.error, -EBADMSG);
	ck_assert_msg(strstr(rec.note, SERVER "/roots/3.pb is not root metadata of version 3"),
		      "%s", rec.note);
	ck_assert_int_eq(state_roots(), 1);

	/* the right roots: the walk goes on from v2 */
	publish_chain(&c, 2, 4, 3);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, ++polls);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert_int_eq(state_roots(), 3);
	ck_assert_uint_eq(device_root_version(), 4);
	swu_buf_done(&forged);
	EVP_PKEY_free(evil);
	server_chain_done(&c);
}
END_TEST

/*
 * A device asleep through more rotations than one walk takes (SWU_ROOT_HOPS_MAX): 39 ahead of v1.
 * The first poll takes 32 of them, each kept, and fails saying where it stopped; the second goes on
 * from v33 and takes the rest and the release. A server that claims a root far ahead without the
 * roots costs a device no more than 32 requests a poll.
 */
START_TEST(test_root_chain_far_behind)
{
	_cleanup_(poller_freep) Poller *p = NULL;
	Recorder rec = {};
	ServerChain c;
	size_t before;

	server_chain_init(&c, CHAIN_TOP);
	publish_chain(&c, 2, CHAIN_TOP, 2);
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 1);
	ck_assert_int_eq(rec.last.error, -EBADMSG);
	ck_assert_msg(streq(rec.note, "Release rejected: root metadata version 40 is 39 rotations "
				      "ahead of trusted version 1: took the roots up to "
				      "version 33, at most 32 in one poll; the next poll goes "
				      "on from there"),
		      "%s", rec.note);
	ck_assert_ptr_null(poller_get_release(p));
	ck_assert_uint_eq(fake_server_count(srv, SERVER "/roots/"), 32);
	ck_assert_int_eq(state_roots(), 32);
	ck_assert_uint_eq(device_root_version(), 33);

	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 2);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert_uint_eq(release_get_version(poller_get_release(p)), 2);
	ck_assert_uint_eq(fake_server_count(srv, SERVER "/roots/"), 32 + 6);
	ck_assert_int_eq(state_roots(), 39);
	ck_assert_uint_eq(device_root_version(), CHAIN_TOP);

	/* A new device, and a server without the roots: 32 requests, nothing kept, each poll. */
	p = poller_free(p);
	fake_device_done(&dev);
	fake_device_init(&dev, SERVER, NULL);
	for (int v = 2; v < CHAIN_TOP; v++) {
		_cleanup_free_ char *root = tu_path("%s/roots/%d.pb", SERVER, v);

		fake_server_remove(srv, root);
	}
	p = new_poller(&rec, false);
	before = fake_server_count(srv, SERVER "/roots/");
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 3);
	ck_assert_int_eq(rec.last.error, -EBADMSG);
	ck_assert_msg(strstr(rec.note, "took the roots up to version 1,"), "%s", rec.note);
	ck_assert_uint_eq(fake_server_count(srv, SERVER "/roots/"), before + 32);
	ck_assert_uint_eq(device_root_version(), 1); /* nothing kept */
	server_chain_done(&c);
}
END_TEST

/*
 * Root versions may be skipped where the older root signed the newer one (rule 2): v4 signed by
 * v2's key, no root of version 3 anywhere. The walk from v1 takes roots/2.pb, finds no roots/3.pb
 * and goes on: the release of v4 is accepted, not stranded by the gap.
 */
START_TEST(test_root_chain_gap)
{
	_cleanup_free_ char *r3 = tu_path("%s/roots/3.pb", SERVER);
	_cleanup_(poller_freep) Poller *p = NULL;
	Recorder rec = {};
	ServerChain c;

	server_chain_init(&c, 4);
	{
		EVP_PKEY *signers[] = { c.k[2], c.k[4] };

		swu_buf_done(&c.r[4]);
		tu_root_simple(4, c.k[4], c.t[4], signers, 2, &c.r[4]);
	}
	publish_chain(&c, 2, 4, 2);
	fake_server_remove(srv, r3);
	p = new_poller(&rec, false);
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(&rec, 1);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert_uint_eq(fake_server_count(srv, r3), 1);
	ck_assert_int_eq(state_roots(), 2);
	ck_assert_uint_eq(device_root_version(), 4);
	server_chain_done(&c);
}
END_TEST

/* A poller on a clock that reads @realtime: the board restarted with that wall clock. */
static Poller *restart_at(Poller *p, Recorder *rec, uint64_t realtime)
{
	poller_free(p);
	fake_clock_free(fc);
	fc = fake_clock_new(realtime);
	manager_set_clock(dev.m, fake_clock(fc));
	return new_poller(rec, false);
}

static void poll_once(Poller *p, Recorder *rec)
{
	ck_assert_int_eq(poller_poll(p), 0);
	run_polls(rec, rec->polls + 1);
}

static void assert_note(const Recorder *rec, const char *want)
{
	ck_assert_msg(strstr(rec->note, want), "the Note '%s' lacks '%s'", rec->note, want);
}

/*
 * Wrong clocks (a board without RTC battery). At 1970, metadata that expired before the newest
 * time that signed metadata vouched for (the state's signed-time) is refused, and the Note says
 * the clock looks wrong; what is current still verifies. Years ahead, everything looks expired,
 * and the Note gives the days ahead of the server's Date; the signed time never follows the
 * clock, so once the clock is set right, nothing was lost.
 */
START_TEST(test_clock)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", SERVER);
	const TuFile files[] = { { "appfs", appfs, sizeof(appfs) } };
	const int64_t t0 = (int64_t)(T0 / USEC_PER_SEC), day = 86400;
	char expired_at[SWU_TIME_UTC_MAX], signed_at[SWU_TIME_UTC_MAX], want[512];
	FakeRelease old, renewed;
	Recorder rec = {};
	Poller *p = NULL;
	int64_t kept = 0;

	/* version 2, expired an hour after it was signed; its renewal, signed a day later */
	fake_release_timed(&dev, 2, t0 + 3600, t0, files, 1, &old);
	fake_release_timed(&dev, 2, t0 + 30 * day, t0 + day, files, 1, &renewed);
	fake_server_put(srv, url, renewed.metadata.data, renewed.metadata.size, "\"renewed\"");
	p = restart_at(p, &rec, T0 + (uint64_t)day * USEC_PER_SEC + 60 * USEC_PER_SEC);
	poll_once(p, &rec);
	ck_assert_str_eq(rec.note, "Release version 2 available (installed 0)");
	ck_assert_int_eq(swu_state_load_signed_time(dev.m->ctx, dev.m->config->state_dir, &kept),
			 0);
	ck_assert_int_eq(kept, t0 + day);

	/* 1970: the stale copy is refused, not taken as the release */
	p = restart_at(p, &rec, 10 * USEC_PER_SEC);
	fake_server_put(srv, url, old.metadata.data, old.metadata.size, "\"old\"");
	poll_once(p, &rec);
	ck_assert_int_eq(rec.last.error, -EKEYEXPIRED);
	snprintf(want, sizeof(want),
		 "Release rejected: targets metadata expired at %s (now %s); the clock looks "
		 "wrong: "
		 "it reads 1970-01-01 00:00:10 UTC, earlier than metadata signed at %s, the time "
		 "expiry is checked against (is it set? systemd-timesyncd)",
		 swu_time_utc(t0 + 3600, expired_at, sizeof(expired_at)),
		 swu_time_utc(t0 + day, signed_at, sizeof(signed_at)), signed_at);
	ck_assert_str_eq(rec.note, want);
	/* what is current verifies at 1970 all the same */
	fake_server_put(srv, url, renewed.metadata.data, renewed.metadata.size, "\"renewed-2\"");
	poll_once(p, &rec);
	ck_assert_int_eq(rec.last.error, 0);
	assert_note(&rec, "Release version 2 available (installed 0); the clock looks wrong: it "
			  "reads 1970-01-01 00:00:10 UTC");

	/* three years ahead: the server's release no longer verifies */
	p = restart_at(p, &rec, T0 + (uint64_t)(3 * 365 * day) * USEC_PER_SEC);
	fake_server_date(srv, t0 + day + 120);
	fake_server_put(srv, url, renewed.metadata.data, renewed.metadata.size, "\"renewed-3\"");
	poll_once(p, &rec);
	ck_assert_int_eq(rec.last.error, -EKEYEXPIRED);
	assert_note(&rec, "Release rejected: targets metadata expired at ");
	assert_note(&rec, "; the clock looks wrong: it reads ");
	assert_note(&rec, ", 1093 days ahead of the server's Date (");
	assert_note(&rec, "), and metadata looks expired until it is set (systemd-timesyncd)");
	ck_assert_int_eq(swu_state_load_signed_time(dev.m->ctx, dev.m->config->state_dir, &kept),
			 0);
	ck_assert_int_eq(kept, t0 + day);

	/* set right */
	p = restart_at(p, &rec, T0 + (uint64_t)(day + 300) * USEC_PER_SEC);
	fake_server_put(srv, url, renewed.metadata.data, renewed.metadata.size, "\"renewed-4\"");
	poll_once(p, &rec);
	ck_assert_str_eq(rec.note, "Release version 2 available (installed 0)");

	/* a signer whose clock ran 400 days ahead moves the floor an hour past the clock, no more */
	fake_release_done(&old);
	fake_release_timed(&dev, 3, t0 + 500 * day, t0 + 400 * day, files, 1, &old);
	fake_server_put(srv, url, old.metadata.data, old.metadata.size, "\"ahead\"");
	poll_once(p, &rec);
	ck_assert_int_eq(rec.last.error, 0);
	ck_assert_int_eq(swu_state_load_signed_time(dev.m->ctx, dev.m->config->state_dir, &kept),
			 0);
	ck_assert_int_eq(kept, t0 + day + 300 + SWU_SIGNED_TIME_AHEAD);
	ck_assert_str_eq(rec.note, "Release version 3 available (installed 0)"); /* no alarm */
	poller_free(p);
	manager_set_clock(dev.m, NULL);
	fake_release_done(&old);
	fake_release_done(&renewed);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "usec-saturates", test_usec_saturates },
		{ "backoff", test_backoff },
		{ "jitter", test_jitter },
		{ "classify", test_classify },
		{ "retry-after", test_retry_after },
		{ "bundle-cap", test_bundle_cap },
		{ "conditional", test_conditional },
		{ "backoff-schedule", test_backoff_schedule },
		{ "retry-after-schedule", test_retry_after_schedule },
		{ "retry-after-clamped", test_retry_after_clamped },
		{ "timer-mode", test_timer_mode },
		{ "restore", test_restore },
		{ "last-modified", test_last_modified },
		{ "root-chain-fetched", test_root_chain_fetched, 60 },
		{ "root-chain-partial", test_root_chain_partial, 60 },
		{ "root-chain-secret", test_root_chain_secret, 60 },
		{ "root-chain-attacks", test_root_chain_attacks, 120 },
		{ "root-chain-far-behind", test_root_chain_far_behind, 120 },
		{ "root-chain-gap", test_root_chain_gap },
		{ "clock", test_clock, 60 },
	};

	return tu_run("poller", cases, ELEMENTSOF(cases), setup, teardown);
}
