/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "poller.h"
#include "roots.h"
#include "state.h"
#include "text.h"
#include "time-util.h"
#include "url.h"
#include "wire.h"

#define BACKOFF_FIRST_SEC 30
#define POLL_TIMER_PATH	  "/org/freedesktop/systemd1/unit/swupdated_2dpoll_2etimer"
#define TIMER_INTERFACE	  "org.freedesktop.systemd1.Timer"

struct Poller {
	Manager *m;
	Clock *clock;
	Fetch *fetch;
	sd_bus *bus;
	bool timer_mode; /* activated: swupdated-poll.timer drives polling */
	const PollerEvents *events;
	void *userdata;

	char *url; /* Server=/metadata.pb */
	/* Server= and the URL as notes and the log show them (url_redact(): no secrets) */
	char *shown_server, *shown_url;
	ClockTimer *timer;
	sd_bus_slot *timer_match; /* the poll timer's NextElapse properties, for NextCheck */
	FetchJob *job;
	RootWalk *walk;	      /* the roots the polled release needs, being fetched */
	FetchResult walk_res; /* the answer of metadata.pb, while they are */
	SwuContext *ctx;      /* the running poll's own failure record */
	SwuBuf body;
	char etag[128]; /* of the kept release's answer; "" asks in full */
	/* its Last-Modified: asked with If-Modified-Since of a server without ETags */
	char last_modified[64];
	unsigned failures;
	uint64_t retry_at;   /* CLOCK_REALTIME usec of the daemon's own retry, 0: none */
	uint64_t not_before; /* the server's Retry-After: no scheduled check before this */
	uint64_t last_check, next_check;
	char *note;	     /* what the last poll found */
	int64_t server_date; /* the Date of the last answer (seconds), 0: none */
	Release *release;
	/* the kept release came from this Server= (a poll, or status.json naming it): the server
	 * may not go back below its version (take_release()) */
	bool release_polled_here;
};

uint64_t poll_backoff(unsigned failures, unsigned interval_sec, uint64_t retry_after_sec)
{
	uint64_t interval = usec_from_sec(interval_sec);
	uint64_t d = usec_from_sec(BACKOFF_FIRST_SEC) << MIN(failures ? failures - 1 : 0, 16u);

	return MIN(MAX(d, usec_from_sec(retry_after_sec)), interval);
}

uint64_t poll_jitter(unsigned jitter_sec, uint32_t random)
{
	if (jitter_sec == 0)
		return 0;
	return usec_from_sec(random % jitter_sec) + (uint64_t)(random % 1000) * 1000;
}

PollOutcome poll_classify(int error, long status)
{
	if (error < 0 || status >= 500 || status == 429 || status == 408)
		return POLL_RETRY;
	switch (status) {
	case 200:
		return POLL_NEW;
	case 304:
		return POLL_NOT_MODIFIED;
	case 404:
	case 410:
		return POLL_NONE;
	default:
		return POLL_FAILED;
	}
}

static const Config *config_of(const Poller *p)
{
	return p->m->config;
}

static uint64_t now_realtime(Poller *p)
{
	return clock_now(p->clock, CLOCK_REALTIME);
}

static const char *format_realtime(uint64_t usec, char *buf, size_t n)
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, n, "%" PRIu64 " s", usec / USEC_PER_SEC);
	return buf;
}

static void schedule_changed(Poller *p)
{
	if (p->events->schedule_changed)
		p->events->schedule_changed(p->userdata);
}

static void set_next_check(Poller *p, uint64_t t)
{
	if (p->next_check == t)
		return;
	p->next_check = t;
	schedule_changed(p);
}

/*
 * NextCheck in timer mode, from systemd: NextElapseUSecRealtime for calendar timers, else
 * NextElapseUSecMonotonic (OnBootSec=/OnUnitActiveSec=, what the shipped timer uses) on the
 * realtime clock. Read from the a{sv} of GetAll and of PropertiesChanged alike.
 */
static int read_timer_properties(Poller *p, sd_bus_message *m)
{
	uint64_t realtime = 0, monotonic = 0, v, now;
	const char *name;
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		r = sd_bus_message_read(m, "s", &name);
		if (r >= 0 && (streq(name, "NextElapseUSecRealtime") || streq(name, "NextElapseUSec"
										    "Monotonic"))) {
			r = sd_bus_message_read(m, "v", "t", &v);
			*(streq(name, "NextElapseUSecRealtime") ? &realtime : &monotonic) = v;
		} else if (r >= 0)
			r = sd_bus_message_skip(m, "v");
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	if (r < 0 || p->retry_at)
		return r; /* a retry of the daemon's own comes first */
	/* While the timer's service runs (our poll), it still shows the elapse that started it:
	 * only a time ahead is news. */
	now = clock_now(p->clock, CLOCK_MONOTONIC);
	if (realtime && realtime != USEC_INFINITY && realtime > now_realtime(p))
		set_next_check(p, realtime);
	else if (monotonic && monotonic != USEC_INFINITY && monotonic > now)
		set_next_check(p, usec_add(now_realtime(p), monotonic - now));
	return 0;
}

static int on_timer_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *interface;

	if (sd_bus_message_read(m, "s", &interface) >= 0 && streq(interface, TIMER_INTERFACE))
		(void)read_timer_properties(userdata, m);
	return 0;
}

static int on_timer_properties(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	/* Not under systemd (a private bus, a container): NextCheck stays the poller's model. */
	if (!sd_bus_message_is_method_error(m, NULL))
		(void)read_timer_properties(userdata, m);
	return 0;
}

/* Asks systemd for swupdated-poll.timer's next elapse, and follows its changes. */
static void follow_poll_timer(Poller *p)
{
	if (!p->bus)
		return;
	if (!p->timer_match) {
		(void)sd_bus_match_signal_async(p->bus, &p->timer_match, "org.freedesktop.systemd1",
						POLL_TIMER_PATH, "org.freedesktop.DBus.Properties",
						"PropertiesChanged", on_timer_changed, NULL, p);
		/* systemd sends unit changes only while someone subscribed. */
		(void)sd_bus_call_method_async(p->bus, NULL, "org.freedesktop.systemd1",
					       "/org/freedesktop/systemd1",
					       "org.freedesktop.systemd1.Manager", "Subscribe",
					       NULL, NULL, NULL);
	}
	(void)sd_bus_call_method_async(p->bus, NULL, "org.freedesktop.systemd1", POLL_TIMER_PATH,
				       "org.freedesktop.DBus.Properties", "GetAll",
				       on_timer_properties, p, "s", TIMER_INTERFACE);
}

/*
 * The next poll, at @at (CLOCK_REALTIME), on the poller's @own timer. Otherwise (timer mode
 * only) swupdated-poll.timer polls next, and NextCheck is its next elapse (until systemd
 * answers: the last check plus the interval).
 */
static void schedule_at(Poller *p, uint64_t at, bool own)
{
	uint64_t interval = usec_from_sec(config_of(p)->poll_interval_sec);

	if (!p->timer)
		return;
	if (!own) {
		clock_timer_off(p->timer);
		p->retry_at = 0;
		set_next_check(p, p->last_check ? usec_add(p->last_check, interval) : 0);
		follow_poll_timer(p);
		return;
	}
	if (clock_timer_set(p->timer, at) < 0)
		log_warning("Cannot set the poll timer");
	if (p->timer_mode)
		p->retry_at = at;
	set_next_check(p, at);
}

/* Always running: every poll is the poller's. Timer mode: only a @retry shorter than the
 * interval (the backoff is capped at the interval: a capped one is the timer's). */
static void schedule(Poller *p, uint64_t delay, bool retry)
{
	bool own = !p->timer_mode ||
		   (retry && delay < usec_from_sec(config_of(p)->poll_interval_sec));

	schedule_at(p, usec_add(now_realtime(p), delay), own);
}

static uint64_t random_jitter(const Config *c)
{
	uint32_t r = 0;

	(void)getrandom(&r, sizeof(r), GRND_NONBLOCK);
	return poll_jitter(c->poll_jitter_sec, r);
}

/* What a poll found, as a sentence (escaped: it may quote a server), logged once. */
static void poll_note(Poller *p, int r, const char *fmt, ...) _printf_(3, 4);
static void poll_note(Poller *p, int r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = strdup_escaped_vprintf(fmt, ap);
	va_end(ap);
	if (!s)
		return; /* out of memory: the note before stays */
	free(p->note);
	p->note = s;
	log_msg(r < 0 ? LOG_WARNING : LOG_INFO, "%s", p->note);
}

/* A clock this far ahead of the server's Date looks wrong (a server's own clock may be off by
 * minutes; a board without RTC battery, or one set by hand, by years). */
#define CLOCK_AHEAD_SEC (2 * 86400)

/*
 * What the Note adds when the clock looks wrong, "" when it does not: earlier than the newest time
 * signed metadata vouched for (expiry is then checked against that time, never against the
 * clock), or days ahead of the server's Date (unsigned: only a hint, which decides nothing; the
 * metadata then looks expired until the clock is set).
 */
static const char *clock_hint(Poller *p, char *buf, size_t size)
{
	int64_t now = (int64_t)(now_realtime(p) / USEC_PER_SEC), signed_time = 0;
	char a[SWU_TIME_UTC_MAX], b[SWU_TIME_UTC_MAX];

	(void)swu_state_load_signed_time(p->m->ctx, config_of(p)->state_dir, &signed_time);
	/* (a signer's clock may run a little ahead of the device's: not a reason to say so) */
	if (signed_time > now + SWU_SIGNED_TIME_AHEAD)
		snprintf(buf, size,
			 "; the clock looks wrong: it reads %s, earlier than metadata signed at "
			 "%s, "
			 "the time expiry is checked against (is it set? systemd-timesyncd)",
			 swu_time_utc(now, a, sizeof(a)), swu_time_utc(signed_time, b, sizeof(b)));
	else if (p->server_date > 0 && now - p->server_date > CLOCK_AHEAD_SEC)
		snprintf(buf, size,
			 "; the clock looks wrong: it reads %s, %" PRId64 " days ahead of the "
			 "server's Date (%s), and metadata looks expired until it is set "
			 "(systemd-timesyncd)",
			 swu_time_utc(now, a, sizeof(a)), (now - p->server_date) / 86400,
			 swu_time_utc(p->server_date, b, sizeof(b)));
	else
		buf[0] = 0;
	return buf;
}

/* The Note of a poll that verified @rel (now, or before and unchanged since: a 304). */
static void note_release(Poller *p, const Release *rel)
{
	char hint[256];
	Status st;

	if (manager_get_status(p->m, p->ctx, &st) < 0)
		st.installed_version = 0;
	if (release_get_version(rel) > st.installed_version)
		poll_note(p, 0, "Release version %u available (installed %u)%s",
			  release_get_version(rel), st.installed_version,
			  clock_hint(p, hint, sizeof(hint)));
	else /* verified, and nothing to install: not "available" */
		poll_note(p, 0, "Up to date: the server offers version %u (installed %u)%s",
			  release_get_version(rel), st.installed_version,
			  clock_hint(p, hint, sizeof(hint)));
}

/*
 * A 200: verify the release; it replaces the kept one when it passes (0), unless it is older than
 * the kept one from the same server (1). A client never goes back on targets metadata it verified
 * (TUF): behind caches or mirrors of different ages, an older copy would flip AvailableVersion
 * back and send an install to blobs the origin already deleted. That is the server being behind,
 * not a failed poll; the next poll asks in full, so a fresh copy is taken as soon as it is served.
 */
static int take_release(Poller *p, const FetchResult *res)
{
	char hint[256];
	Release *rel = NULL;
	int r;

	r = release_new(p->m, p->ctx, TAKE_PTR(p->body.data), p->body.size, &rel);
	p->body.size = 0;
	if (r < 0) {
		/* Keep the release that verified before; the next poll asks again in full. */
		p->etag[0] = p->last_modified[0] = 0;
		poll_note(p, r, "Release rejected: %s%s", log_reason(p->ctx, r),
			  clock_hint(p, hint, sizeof(hint)));
		return r;
	}
	if (p->release && p->release_polled_here &&
	    release_get_version(rel) < release_get_version(p->release)) {
		poll_note(p, 0,
			  "The server is behind: %s offers version %u, but version %u was verified "
			  "from it before (a stale cache or mirror); version %u stays available",
			  p->shown_url, release_get_version(rel), release_get_version(p->release),
			  release_get_version(p->release));
		release_free(rel);
		p->etag[0] = p->last_modified[0] = 0;
		return 1;
	}
	release_free(p->release);
	p->release = rel;
	p->release_polled_here = true;
	/* An ETag too long to keep whole is not kept: the next poll asks in full. */
	if (strlen(res->etag) < sizeof(p->etag))
		strcpy(p->etag, res->etag);
	else
		p->etag[0] = 0;
	_Static_assert(sizeof(p->last_modified) == sizeof(res->last_modified), "kept whole");
	strcpy(p->last_modified, res->last_modified);
	/* Kept for the next start: its first poll is still a 304 when nothing changed. */
	r = release_save(rel, p->m, p->ctx);
	if (r < 0) {
		log_failure(LOG_WARNING, p->ctx, r, "Cannot keep the release");
		p->etag[0] = p->last_modified[0] = 0;
	}
	note_release(p, rel);
	return 0;
}

/*
 * A 304 re-verifies nothing, so a frozen server that keeps answering it would hide that its
 * timestamp ran out: the kept release's expiry is checked against the clock at every poll. The
 * release stays (an install verifies it again and refuses it), the poll fails and says so.
 */
static int check_fresh(Poller *p)
{
	int64_t expires = p->release ? release_get_timestamp_expires(p->release) : 0;
	char at[SWU_TIME_UTC_MAX], hint[256];

	/* never a time earlier than signed metadata vouched for (a clock set back) */
	if (expires == 0 || expires > swu_device_now(p->m->ctx, &p->m->device,
						     (int64_t)(now_realtime(p) / USEC_PER_SEC)))
		return 0;
	poll_note(p, -EKEYEXPIRED,
		  "The server's timestamp expired at %s: its metadata is stale (a frozen server or "
		  "mirror, or the online signer stopped); version %u is not installed%s",
		  swu_time_utc(expires, at, sizeof(at)), release_get_version(p->release),
		  clock_hint(p, hint, sizeof(hint)));
	return -EKEYEXPIRED;
}

/* Reports a poll that ended, and schedules the next one. */
static void end_poll(Poller *p, PollReport *report, uint64_t next)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;

	if (report->outcome != POLL_RETRY)
		p->failures = 0, p->not_before = 0;
	swu_buf_done(&p->body);
	ctx = TAKE_PTR(p->ctx);
	schedule(p, next, report->outcome == POLL_RETRY);
	schedule_changed(p); /* LastCheck */
	report->note = p->note;
	p->events->checked(p->userdata, report);
}

/* The release cannot be verified (its roots failed): the one before stays, asked in full next. */
static int reject_release(Poller *p, int r)
{
	char hint[256];

	p->etag[0] = p->last_modified[0] = 0;
	poll_note(p, r, "Release rejected: %s%s", log_reason(p->ctx, r),
		  clock_hint(p, hint, sizeof(hint)));
	return r;
}

static void roots_done(void *userdata, int error)
{
	Poller *p = userdata;
	const Config *c = config_of(p);
	PollReport report = { .outcome = POLL_NEW };
	int r;

	p->walk = root_walk_free(p->walk);
	r = error < 0 ? reject_release(p, error) : take_release(p, &p->walk_res);
	report.error = MIN(r, 0);
	report.release_changed = r == 0;
	end_poll(p, &report, usec_add(usec_from_sec(c->poll_interval_sec), random_jitter(c)));
}

/* 1: roots/<N>.pb are being fetched (roots_done() follows), 0: none needed, <0: refused. */
static int walk_roots(Poller *p)
{
	const Config *c = config_of(p);

	return root_walk_start(p->m, p->ctx, p->fetch, c->server, c->poll_timeout_sec, p->body.data,
			       p->body.size, roots_done, p, &p->walk);
}

static void poll_done(void *userdata, const FetchResult *res)
{
	Poller *p = userdata;
	const Config *c = config_of(p);
	PollReport report = { .outcome = poll_classify(res->error, res->status) };
	uint64_t next = usec_add(usec_from_sec(c->poll_interval_sec), random_jitter(c));
	int r;

	p->job = NULL;
	p->last_check = now_realtime(p);
	p->server_date = res->date;
	switch (report.outcome) {
	case POLL_RETRY:
		report.error = res->error < 0 ? res->error : -EREMOTEIO;
		if (res->error < 0)
			poll_note(p, report.error, "Checking %s failed: %s", p->shown_server,
				  res->message);
		else
			poll_note(p, report.error, "Checking %s failed: HTTP status %ld",
				  p->shown_server, res->status);
		next = poll_backoff(++p->failures, c->poll_interval_sec, res->retry_after);
		/* Honoured by scheduled checks too, even after an exit and a timer run. */
		p->not_before =
			res->retry_after
				? usec_add(p->last_check, MIN(usec_from_sec(res->retry_after),
							      usec_from_sec(c->poll_interval_sec)))
				: 0;
		break;
	case POLL_FAILED:
		report.error = -EPROTO;
		poll_note(p, report.error, "Checking %s failed: HTTP status %ld%s", p->shown_server,
			  res->status, fetch_status_hint(c, p->url, res->status));
		break;
	case POLL_NOT_MODIFIED:
		log_info("No new release (not modified)");
		r = check_fresh(p);
		if (r < 0) {
			report.error = r;
			report.outcome = POLL_FAILED;
		} else if (p->release)
			note_release(p, p->release); /* over an earlier failure's Note */
		break;
	case POLL_NONE:
		/* A channel that does not exist looks like one without a release: both are worth an
		 * error, or a typo in Server= would look healthy for good. */
		p->release = release_free(p->release);
		p->etag[0] = p->last_modified[0] = 0;
		(void)release_clear(p->m, p->ctx);
		report.error = -ENOENT;
		poll_note(p, report.error,
			  "No release published at %s (HTTP status %ld): check Server= and the "
			  "channel",
			  p->shown_url, res->status);
		report.release_changed = true;
		break;
	case POLL_NEW:
		/* A root more than one version ahead: the roots between come first. */
		r = walk_roots(p);
		if (r > 0) {
			p->walk_res = *res;
			return; /* roots_done() ends the poll */
		}
		r = r < 0 ? reject_release(p, r) : take_release(p, res);
		report.error = MIN(r, 0);
		report.release_changed = r == 0;
		break;
	}
	end_poll(p, &report, next);
}

static int poll_data(void *userdata, long status, const void *data, size_t n)
{
	Poller *p = userdata;

	return swu_buf_append(&p->body, data, n);
}

int poller_poll(Poller *p)
{
	const Config *c;
	FetchRequest req = {
		.max_bytes = SWU_METADATA_TOTAL_FACTOR * (uint64_t)SWU_METADATA_MAX_DEFAULT,
		.on_data = poll_data,
		.on_done = poll_done,
		.userdata = p,
	};
	int r;

	assert_return(p, -EINVAL);
	c = config_of(p);
	if (p->job || p->walk)
		return 0; /* already polling: this one answers too */
	if (!p->url) {
		poll_note(p, -ENOMEDIUM, "No Server= is configured in '%s'", c->path);
		return -ENOMEDIUM;
	}
	r = manager_context_new(p->m, &p->ctx);
	if (r < 0) {
		poll_note(p, r, "Cannot start a poll of %s: %s", p->shown_url, strerror(-r));
		return r;
	}
	req.url = p->url;
	/* What we have, by ETag; by date only from a server without ETags. */
	req.if_none_match = p->release ? p->etag : NULL;
	req.if_modified_since = p->release ? p->last_modified : NULL;
	/* A server dripping a byte now and then must not hold polling (and Check) for good. */
	req.timeout_sec = c->poll_timeout_sec;
	swu_buf_done(&p->body);
	r = fetch_start(p->fetch, &req, &p->job);
	if (r < 0) {
		p->ctx = swu_context_unref(p->ctx);
		poll_note(p, r, "Cannot start a poll of %s: %s", p->shown_url, strerror(-r));
	}
	return r;
}

static void on_timer(void *userdata)
{
	Poller *p = userdata;

	if (poller_poll(p) < 0) /* polling must never stop for good: try again later */
		schedule(p, poll_backoff(++p->failures, config_of(p)->poll_interval_sec, 0), true);
}

int poller_start(Poller *p)
{
	uint64_t now, delay;
	int r;

	assert_return(p, -EINVAL);
	if (!p->url)
		return 0;
	r = clock_timer_new(p->clock, USEC_PER_SEC, on_timer, p, &p->timer);
	if (r < 0)
		return r;
	if (p->timer_mode) {
		/* Activated: a retry the last run planned is kept; the rest is the timer's. */
		if (p->retry_at)
			schedule_at(p, p->retry_at, true);
		else
			schedule(p, 0, false);
		return 0;
	}
	/* First poll soon after start, spread by the jitter so a fleet does not arrive at once,
	 * and not before a server's Retry-After. */
	now = now_realtime(p);
	delay = usec_add(USEC_PER_SEC, random_jitter(config_of(p)));
	if (p->not_before > now)
		delay = MAX(delay, p->not_before - now);
	schedule(p, delay, false);
	return 0;
}

int poller_scheduled_check(Poller *p)
{
	uint64_t now, interval;
	char when[64];
	int r;

	assert_return(p, -EINVAL);
	now = now_realtime(p);
	interval = usec_from_sec(config_of(p)->poll_interval_sec);
	/*
	 * Answered from what the poller has: without Server= there is nothing to check; a daemon
	 * that stays up (IdleExitSec=0) polls on its own timer; a running poll covers this one; and
	 * the server's Retry-After is honoured (by a retry of the daemon's own when it ends before
	 * the next timer run).
	 */
	if (!p->url || !p->timer_mode || p->job || p->walk)
		return 0;
	if (p->not_before > now) {
		log_info("Scheduled check: the server asked to wait until %s",
			 format_realtime(p->not_before, when, sizeof(when)));
		if (!p->retry_at)
			schedule_at(p, p->not_before, p->not_before - now < interval);
		return 0;
	}
	r = poller_poll(p);
	return r < 0 ? r : 1;
}

bool poller_polling(const Poller *p)
{
	return p && (p->job || p->walk);
}

bool poller_busy(const Poller *p)
{
	return p && (p->job || p->walk || p->retry_at);
}

const char *poller_get_note(const Poller *p)
{
	assert_return(p, NULL);
	return p->note ?: "";
}

const Release *poller_get_release(const Poller *p)
{
	assert_return(p, NULL);
	return p->release;
}

uint64_t poller_get_last_check(const Poller *p)
{
	assert_return(p, 0);
	return p->last_check;
}

uint64_t poller_get_next_check(const Poller *p)
{
	assert_return(p, 0);
	return p->next_check;
}

/* Printable ASCII, nothing that could end a header line. */
static bool header_value(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

void poller_restore(Poller *p, const SwuStatusRecord *st)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	/* No wait reaches further than one interval from now: not a damaged file, not a clock
	 * that was set back since (a board without RTC battery), or polling could stop for good. */
	uint64_t limit = usec_add(now_realtime(p), usec_from_sec(config_of(p)->poll_interval_sec));
	int r;

	assert_return_void(p && st);
	p->failures = st->failures;
	p->not_before = MIN(st->not_before, limit);
	p->retry_at = p->timer_mode ? MIN(st->retry_at, limit) : 0;
	p->last_check = st->last_check;
	p->next_check = st->next_check;
	r = manager_context_new(p->m, &ctx);
	/* What is available is what verifies now, never a number status.json claims. */
	if (r >= 0)
		r = release_load(p->m, ctx, &p->release);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		/* The state directory is writable: what it holds is verified like a poll's answer. */
		log_failure(LOG_WARNING, ctx, r,
			    "Not using the kept release; the next poll asks in full");
		return;
	}
	/* They go into request headers: printable ASCII only, else ask in full. They are another
	 * server's after Server= changed: a date of that server could hide this one's release. */
	if (!streq(st->polled, config_of(p)->server ?: ""))
		return;
	p->release_polled_here = true;
	if (!header_value(st->etag) || !header_value(st->last_modified))
		return;
	if (strlen(st->etag) < sizeof(p->etag) &&
	    strlen(st->last_modified) < sizeof(p->last_modified)) {
		strcpy(p->etag, st->etag);
		strcpy(p->last_modified, st->last_modified);
	}
}

void poller_record(const Poller *p, SwuStatusRecord *st)
{
	assert_return_void(p && st);
	_Static_assert(sizeof(st->etag) >= sizeof(p->etag), "an ETag fits status.json");
	_Static_assert(sizeof(st->last_modified) >= sizeof(p->last_modified), "a date fits too");
	strcpy(st->etag, p->release ? p->etag : "");
	strcpy(st->last_modified, p->release ? p->last_modified : "");
	/* Server= is at most 1023 bytes (conf.c): it fits whole. */
	snprintf(st->polled, sizeof(st->polled), "%s", config_of(p)->server ?: "");
	st->available_version = p->release ? release_get_version(p->release) : 0;
	st->failures = p->failures;
	st->retry_at = p->retry_at;
	st->not_before = p->not_before;
	st->last_check = p->last_check;
	st->next_check = p->next_check;
}

bool poller_stop(Poller *p)
{
	bool polling;

	if (!p)
		return false;
	polling = p->job || p->walk;
	fetch_cancel(p->job);
	p->job = NULL;
	p->walk = root_walk_free(p->walk);
	p->ctx = swu_context_unref(p->ctx);
	return polling;
}

/* url, shown_server and shown_url from the Server= in use (config->server), NULL without one. */
static int set_urls(Poller *p)
{
	const char *server = p->m->config->server;

	p->url = mfree(p->url);
	p->shown_server = mfree(p->shown_server);
	p->shown_url = mfree(p->shown_url);
	if (!server)
		return 0;
	if (asprintf(&p->url, "%s/metadata.pb", server) < 0) {
		p->url = NULL;
		return -ENOMEM;
	}
	if (url_redact(server, &p->shown_server) < 0 || url_redact(p->url, &p->shown_url) < 0)
		return -ENOMEM;
	return 0;
}

int poller_new(const PollerSetup *setup, Poller **ret)
{
	_cleanup_(poller_freep) Poller *p = NULL;
	int r;

	assert_return(setup && ret, -EINVAL);
	assert_return(setup->manager && setup->clock && setup->fetch, -EINVAL);
	assert_return(setup->events && setup->events->checked, -EINVAL);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (Poller){
		.m = setup->manager,
		.clock = setup->clock,
		.fetch = setup->fetch,
		.bus = setup->bus ? sd_bus_ref(setup->bus) : NULL,
		.timer_mode = setup->timer_mode,
		.events = setup->events,
		.userdata = setup->userdata,
	};
	r = set_urls(p);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

int poller_server_changed(Poller *p)
{
	assert_return(p, -EINVAL);

	if (p->job || p->walk)
		return -EBUSY;
	/* What the other server said is not this one's: its release, ETag, backoff, Retry-After. */
	p->release = release_free(p->release);
	p->release_polled_here = false;
	p->etag[0] = p->last_modified[0] = 0;
	p->failures = 0;
	p->not_before = 0;
	p->retry_at = 0;
	(void)release_clear(p->m, p->m->ctx);
	return set_urls(p);
}

Poller *poller_free(Poller *p)
{
	if (!p)
		return NULL;
	poller_stop(p);
	clock_timer_free(p->timer);
	sd_bus_slot_unref(p->timer_match);
	sd_bus_unref(p->bus);
	swu_buf_done(&p->body);
	release_free(p->release);
	free(p->note);
	free(p->shown_server);
	free(p->shown_url);
	free(p->url);
	free(p);
	return NULL;
}
