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
#include "state.h"
#include "text.h"
#include "transfer.h"
#include "updater.h"

#define BACKOFF_FIRST_SEC 30

uint64_t usec_add(uint64_t a, uint64_t b)
{
	return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}

uint64_t usec_from_sec(uint64_t sec)
{
	return sec > USEC_INFINITY / USEC_PER_SEC ? USEC_INFINITY : sec * USEC_PER_SEC;
}

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

uint64_t now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static const char *format_realtime(uint64_t usec, char *buf, size_t n)
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, n, "%" PRIu64 " s", usec / USEC_PER_SEC);
	return buf;
}

static void set_next_check(Updater *u, uint64_t t)
{
	if (u->next_check == t)
		return;
	u->next_check = t;
	updater_emit(u, "NextCheck", NULL);
}

#define POLL_TIMER_PATH "/org/freedesktop/systemd1/unit/swupdated_2dpoll_2etimer"
#define TIMER_INTERFACE "org.freedesktop.systemd1.Timer"

/*
 * NextCheck in timer mode, from systemd: NextElapseUSecRealtime for calendar timers, else
 * NextElapseUSecMonotonic (OnBootSec=/OnUnitActiveSec=, what the shipped timer uses) on the
 * realtime clock. Read from the a{sv} of GetAll and of PropertiesChanged alike.
 */
static int read_timer_properties(Updater *u, sd_bus_message *m)
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
	if (r < 0 || u->poller.retry_at)
		return r; /* a retry of the daemon's own comes first */
	/* While the timer's service runs (our poll), it still shows the elapse that started it:
	 * only a time ahead is news. */
	if (realtime && realtime != USEC_INFINITY && realtime > now_realtime())
		set_next_check(u, realtime);
	else if (monotonic && monotonic != USEC_INFINITY &&
		 sd_event_now(u->event, CLOCK_MONOTONIC, &now) >= 0 && monotonic > now)
		set_next_check(u, usec_add(now_realtime(), monotonic - now));
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
	/* Not under systemd (a private bus, a container): NextCheck stays the daemon's model. */
	if (!sd_bus_message_is_method_error(m, NULL))
		(void)read_timer_properties(userdata, m);
	return 0;
}

/* Asks systemd for swupdated-poll.timer's next elapse, and follows its changes. */
static void follow_poll_timer(Updater *u)
{
	Poller *p = &u->poller;

	if (!u->bus)
		return;
	if (!p->timer_match) {
		(void)sd_bus_match_signal_async(u->bus, &p->timer_match, "org.freedesktop.systemd1",
						POLL_TIMER_PATH, "org.freedesktop.DBus.Properties",
						"PropertiesChanged", on_timer_changed, NULL, u);
		/* systemd sends unit changes only while someone subscribed. */
		(void)sd_bus_call_method_async(u->bus, NULL, "org.freedesktop.systemd1",
					       "/org/freedesktop/systemd1",
					       "org.freedesktop.systemd1.Manager", "Subscribe",
					       NULL, NULL, NULL);
	}
	(void)sd_bus_call_method_async(u->bus, NULL, "org.freedesktop.systemd1", POLL_TIMER_PATH,
				       "org.freedesktop.DBus.Properties", "GetAll",
				       on_timer_properties, u, "s", TIMER_INTERFACE);
}

/*
 * The next poll, at @at (CLOCK_REALTIME), on the daemon's @own timer. Otherwise (timer mode
 * only) swupdated-poll.timer polls next, and NextCheck is its next elapse (until systemd
 * answers: the last check plus the interval).
 */
static void schedule_at(Updater *u, uint64_t at, bool own)
{
	Poller *p = &u->poller;
	uint64_t interval = usec_from_sec(u->m->config->poll_interval_sec), now, mono;

	if (!p->timer)
		return;
	if (!own) {
		sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
		p->retry_at = 0;
		set_next_check(u, u->last_check ? usec_add(u->last_check, interval) : 0);
		follow_poll_timer(u);
		return;
	}
	now = now_realtime();
	sd_event_now(u->event, CLOCK_MONOTONIC, &mono);
	sd_event_source_set_time(p->timer, usec_add(mono, at > now ? at - now : 0));
	sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
	if (p->timer_mode)
		p->retry_at = at;
	set_next_check(u, at);
}

/* Always running: every poll is the daemon's. Timer mode: only a @retry shorter than the
 * interval (the backoff is capped at the interval: a capped one is the timer's). */
static void schedule(Updater *u, uint64_t delay, bool retry)
{
	bool own = !u->poller.timer_mode ||
		   (retry && delay < usec_from_sec(u->m->config->poll_interval_sec));

	schedule_at(u, usec_add(now_realtime(), delay), own);
}

static uint64_t random_jitter(const Config *c)
{
	uint32_t r = 0;

	(void)getrandom(&r, sizeof(r), GRND_NONBLOCK);
	return poll_jitter(c->poll_jitter_sec, r);
}

static void answer(Updater *u, sd_bus_message **slot, int r)
{
	sd_bus_message *call = TAKE_PTR(*slot);

	if (!call)
		return;
	if (r < 0)
		sd_bus_reply_method_errnof(call, r, "%s", u->poller.note);
	else
		sd_bus_reply_method_return(call, "bu", u->available_version > u->installed_version,
					   u->available_version);
	sd_bus_message_unref(call);
}

static void answer_check(Updater *u, int r)
{
	answer(u, &u->poller.pending_check, r);
	answer(u, &u->poller.pending_scheduled, r);
}

/*
 * What a poll found, as a sentence: for Check()'s answer always, and as the Note while no install
 * runs or waits for Reset (then the Note is about the install).
 */
static void poll_note(Updater *u, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void poll_note(Updater *u, int r, const char *fmt, ...)
{
	Poller *p = &u->poller;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->note, sizeof(p->note), fmt, ap);
	va_end(ap);
	swu_escape_inplace(p->note, sizeof(p->note));
	log_msg(r < 0 ? LOG_WARNING : LOG_INFO, "%s", p->note);
	if (u->state == UPDATER_INACTIVE) {
		if (r < 0)
			u->error = r;
		updater_note(u, "%s", p->note);
	}
}

/* A 200: verify the release; it becomes the cached one when it passes. */
static int take_release(Updater *u, const FetchResult *res)
{
	Poller *p = &u->poller;
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ uint8_t *old = TAKE_PTR(p->release);
	size_t old_size = p->release_size;
	int r;

	p->release = TAKE_PTR(p->body.data);
	p->release_size = p->body.size;
	r = transfer_open_release(u, p->ctx, &fd, &b, &v);
	if (r < 0) {
		/* Keep the release that verified before; the next poll asks again in full. */
		free(p->release);
		p->release = TAKE_PTR(old);
		p->release_size = old_size;
		p->etag[0] = 0;
		poll_note(u, r, "Release rejected: %s", log_reason(p->ctx, r));
		return r;
	}
	snprintf(p->etag, sizeof(p->etag), "%s", res->etag);
	/* Kept for the next start: its first poll is still a 304 when nothing changed. */
	r = swu_state_save_release(p->ctx, u->m->config->state_dir, p->release, p->release_size);
	if (r < 0) {
		log_failure(LOG_WARNING, p->ctx, r, "Cannot keep the release");
		p->etag[0] = 0;
	}
	(void)swu_verifier_get_targets_sha256(v, p->release_sha256);
	p->skipped_noted = false;
	u->available_version = swu_verifier_get_version(v);
	updater_emit(u, "AvailableVersion", NULL);
	poll_note(u, 0, "Release version %u available (installed %u)", u->available_version,
		  u->installed_version);
	return 0;
}

/* The release whose slot did not boot: said once (Note, history), never installed by itself. */
static bool skip_rolled_back(Updater *u)
{
	Poller *p = &u->poller;

	if (!manager_rolled_back(u->m, p->ctx, u->available_version, p->release_sha256))
		return false;
	poll_note(u, 0,
		  "Release version %u rolled back on this device (its slot did not boot or was "
		  "marked bad): not installed again automatically; a newer release or an explicit "
		  "install is",
		  u->available_version);
	/* Also over a finished install's Note: this is what the automatic path decided now. */
	updater_note(u, "%s", p->note);
	if (!p->skipped_noted)
		manager_history(u->m, SWU_HISTORY_INSTALL, u->installed_version,
				u->available_version, manager_target_slot(u->m),
				SWU_HISTORY_SKIPPED, p->note);
	p->skipped_noted = true;
	return true;
}

/* After a poll: what the automatic path or a Start("") does with the cached release. */
static void after_poll(Updater *u, UpdaterResult failed, bool start, bool apply)
{
	const Config *c = u->m->config;
	Status s;

	if (start) {
		/* Start("")/Install(""): the poll was its first step, its failure is the install's. */
		if (failed == RESULT_NONE && !u->poller.release) {
			u->error = -ENOENT;
			failed = RESULT_TRANSFER_FAILED;
		}
		if (failed != RESULT_NONE)
			updater_finish(u, failed);
		else if (transfer_begin_server(u, apply, apply) < 0 && !u->transfer)
			updater_finish(u, updater_result_of(u->error));
		return;
	}
	if (failed != RESULT_NONE || !u->poller.release || c->auto_install == AUTO_INSTALL_NO ||
	    u->available_version <= u->installed_version)
		return;
	/* A finished install (failed, or done and waiting for its reboot) does not stop the next
	 * one: an automatic poll that finds an installable release starts over. */
	if (u->state != UPDATER_INACTIVE && u->state != UPDATER_FINISHED)
		return;
	/* Never twice the same pending version, never over an unconfirmed update. */
	if (manager_get_status(u->m, u->poller.ctx, &s) >= 0 && s.state != UPDATE_IDLE &&
	    s.pending_version >= u->available_version)
		return;
	if (skip_rolled_back(u))
		return;
	if (u->state == UPDATER_FINISHED)
		(void)updater_reset(u);
	updater_op_begin(u);
	(void)transfer_begin_server(u, true, c->auto_install == AUTO_INSTALL_YES);
}

static void poll_done(void *userdata, const FetchResult *res)
{
	Updater *u = userdata;
	Poller *p = &u->poller;
	const Config *c = u->m->config;
	bool start = p->start_after, apply = p->apply_after;
	UpdaterResult failed = RESULT_NONE;
	PollOutcome outcome = poll_classify(res->error, res->status);
	uint64_t next = usec_add(usec_from_sec(c->poll_interval_sec), random_jitter(c));
	int r = 0;

	p->job = NULL;
	p->start_after = p->apply_after = false;
	u->last_check = now_realtime();
	updater_emit(u, "LastCheck", NULL);

	switch (outcome) {
	case POLL_RETRY:
		r = res->error < 0 ? res->error : -EREMOTEIO;
		if (res->error < 0)
			poll_note(u, r, "Checking %s failed: %s", c->server, res->message);
		else
			poll_note(u, r, "Checking %s failed: HTTP status %ld", c->server,
				  res->status);
		next = poll_backoff(++p->failures, c->poll_interval_sec, res->retry_after);
		/* Honoured by scheduled checks too, even after an exit and a timer run. */
		p->not_before =
			res->retry_after
				? usec_add(u->last_check, MIN(usec_from_sec(res->retry_after),
							      usec_from_sec(c->poll_interval_sec)))
				: 0;
		failed = RESULT_TRANSFER_FAILED;
		break;
	case POLL_FAILED:
		r = -EPROTO;
		poll_note(u, r, "Checking %s failed: HTTP status %ld", c->server, res->status);
		failed = RESULT_TRANSFER_FAILED;
		break;
	case POLL_NOT_MODIFIED:
		log_info("No new release (not modified)");
		break;
	case POLL_NONE:
		free(p->release);
		p->release = NULL;
		p->etag[0] = 0;
		(void)swu_state_clear_release(p->ctx, c->state_dir);
		u->available_version = 0;
		updater_emit(u, "AvailableVersion", NULL);
		poll_note(u, 0, "No release published at %s", c->server);
		break;
	case POLL_NEW:
		r = take_release(u, res);
		if (r < 0)
			failed = RESULT_VERIFY_FAILED;
		break;
	}
	if (outcome != POLL_RETRY)
		p->failures = 0, p->not_before = 0;
	schedule(u, next, outcome == POLL_RETRY);
	updater_save_status(u);
	swu_buf_done(&p->body);
	answer_check(u, r);
	after_poll(u, failed, start, apply);
	p->ctx = swu_context_unref(p->ctx);
}

static int poll_data(void *userdata, long status, const void *p, size_t n)
{
	Updater *u = userdata;

	return swu_buf_append(&u->poller.body, p, n);
}

int poller_poll(Updater *u)
{
	Poller *p = &u->poller;
	char url[1100];
	FetchRequest req = {
		.url = url,
		.if_none_match = p->release ? p->etag : NULL,
		.max_bytes = SWU_METADATA_TOTAL_FACTOR * (uint64_t)SWU_METADATA_MAX_DEFAULT,
		/* A server dripping a byte now and then must not hold polling (and Check) for good. */
		.timeout_sec = u->m->config->poll_timeout_sec,
		.on_data = poll_data,
		.on_done = poll_done,
		.userdata = u,
	};
	int r;

	if (p->job)
		return 0; /* already polling: this one answers too */
	if (!u->m->config->server) {
		poll_note(u, -ENOMEDIUM, "No Server= is configured in '%s'", u->m->config->path);
		return -ENOMEDIUM;
	}
	r = manager_context_new(u->m, &p->ctx);
	if (r < 0)
		return r;
	snprintf(url, sizeof(url), "%s/metadata.pb", u->m->config->server);
	p->body.size = 0;
	r = fetch_start(u->fetch, &req, &p->job);
	if (r < 0) {
		p->ctx = swu_context_unref(p->ctx);
		poll_note(u, r, "Cannot start a poll of %s: %s", url, strerror(-r));
	}
	return r;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Updater *u = userdata;
	int r = poller_poll(u);

	if (r < 0) /* polling must never stop for good: try again later */
		schedule(u, poll_backoff(++u->poller.failures, u->m->config->poll_interval_sec, 0),
			 true);
	return 0;
}

int poller_start(Updater *u)
{
	Poller *p = &u->poller;
	uint64_t now = now_realtime(), delay;
	int r;

	if (!u->m->config->server)
		return 0;
	r = sd_event_add_time(u->event, &p->timer, CLOCK_MONOTONIC, UINT64_MAX, USEC_PER_SEC,
			      on_timer, u);
	if (r < 0)
		return r;
	if (p->timer_mode) {
		/* Activated: a retry the last run planned is kept; the rest is the timer's. */
		if (p->retry_at)
			schedule_at(u, p->retry_at, true);
		else
			schedule(u, 0, false);
		return 0;
	}
	/* First poll soon after start, spread by the jitter so a fleet does not arrive at once,
	 * and not before a server's Retry-After. */
	delay = usec_add(USEC_PER_SEC, random_jitter(u->m->config));
	if (p->not_before > now)
		delay = MAX(delay, p->not_before - now);
	schedule(u, delay, false);
	return 0;
}

int poller_scheduled_check(Updater *u, sd_bus_message *call)
{
	Poller *p = &u->poller;
	uint64_t now = now_realtime();
	char when[64];
	int r;

	/*
	 * Answered from the cache: without Server= there is nothing to check; a daemon that
	 * stays up (IdleExitSec=0) polls on its own timer; a running poll covers this one; and
	 * the server's Retry-After is honoured (by a retry of the daemon's own when it ends
	 * before the next timer run).
	 */
	if (!u->m->config->server || !p->timer_mode || p->job || p->pending_scheduled ||
	    p->not_before > now) {
		if (p->timer_mode && u->m->config->server && p->not_before > now) {
			log_info("Scheduled check: the server asked to wait until %s",
				 format_realtime(p->not_before, when, sizeof(when)));
			if (!p->retry_at)
				schedule_at(u, p->not_before,
					    p->not_before - now <
						    usec_from_sec(u->m->config->poll_interval_sec));
		}
		return sd_bus_reply_method_return(call, "bu",
						  u->available_version > u->installed_version,
						  u->available_version);
	}
	r = poller_poll(u);
	if (r < 0)
		return r;
	p->pending_scheduled = sd_bus_message_ref(call);
	return 1;
}

bool poller_busy(Updater *u)
{
	const Poller *p = &u->poller;

	return p->job || p->pending_check || p->pending_scheduled || p->retry_at;
}

void poller_restore(Updater *u, const SwuStatusRecord *st)
{
	Poller *p = &u->poller;
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	/* No wait reaches further than one interval from now: not a damaged file, not a clock
	 * that was set back since (a board without RTC battery), or polling could stop for good. */
	uint64_t limit = usec_add(now_realtime(), usec_from_sec(u->m->config->poll_interval_sec));
	int r;

	p->failures = st->failures;
	p->not_before = MIN(st->not_before, limit);
	p->retry_at = p->timer_mode ? MIN(st->retry_at, limit) : 0;
	p->skipped_noted = st->skipped_noted;
	u->next_check = st->next_check;
	r = manager_context_new(u->m, &ctx);
	if (r >= 0)
		r = swu_state_load_release(ctx, u->m->config->state_dir, &p->release,
					   &p->release_size);
	/* What is available is what verifies now, never a number status.json claims. */
	u->available_version = 0;
	if (r == -ENOENT)
		return;
	/* The state directory is writable: what it holds is verified again like a poll's answer. */
	if (r >= 0)
		r = transfer_open_release(u, ctx, &fd, &b, &v);
	if (r < 0) {
		log_failure(LOG_WARNING, ctx, r,
			    "Not using the kept release; the next poll asks "
			    "in full");
		free(p->release);
		p->release = NULL;
		p->release_size = 0;
		return;
	}
	u->available_version = swu_verifier_get_version(v);
	(void)swu_verifier_get_targets_sha256(v, p->release_sha256);
	/* It goes into a request header: printable ASCII only, else ask in full. */
	for (const char *c = st->etag; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			return;
	snprintf(p->etag, sizeof(p->etag), "%s", st->etag);
}

void poller_record(Updater *u, SwuStatusRecord *st)
{
	const Poller *p = &u->poller;

	snprintf(st->etag, sizeof(st->etag), "%s", p->release ? p->etag : "");
	st->failures = p->failures;
	st->retry_at = p->retry_at;
	st->not_before = p->not_before;
	st->skipped_noted = p->skipped_noted;
	st->next_check = u->next_check;
}

int updater_check(Updater *u, sd_bus_message *call)
{
	Poller *p = &u->poller;
	int r;

	if (p->pending_check)
		return -EBUSY;
	r = poller_poll(u);
	if (r < 0)
		return r;
	p->pending_check = sd_bus_message_ref(call);
	return 0;
}

void poller_stop(Updater *u)
{
	fetch_cancel(u->poller.job);
	u->poller.job = NULL;
	u->poller.ctx = swu_context_unref(u->poller.ctx);
}

void poller_done(Updater *u)
{
	Poller *p = &u->poller;

	poller_stop(u);
	answer_check(u, -ECANCELED);
	p->timer = sd_event_source_disable_unref(p->timer);
	p->timer_match = sd_bus_slot_unref(p->timer_match);
	swu_buf_done(&p->body);
	free(p->release);
	p->release = NULL;
}
