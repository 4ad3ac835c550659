/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "fake.h"
#include "fileio.h"
#include "macro.h"
#include "time-util.h"
#include "url.h"

/* ---- the clock ---- */

typedef struct FakeTimer {
	ClockTimer base;
	FakeClock *fc;
	ClockFunc func;
	void *userdata;
	uint64_t at;
	bool armed;
	struct FakeTimer *next;
} FakeTimer;

struct FakeClock {
	Clock base;
	uint64_t now;
	FakeTimer *timers;
};

/* CLOCK_MONOTONIC runs this far behind: any constant will do, as long as both move together. */
#define MONOTONIC_BEHIND (UINT64_C(1700000000) * USEC_PER_SEC)

static uint64_t fc_now(Clock *c, clockid_t clock)
{
	FakeClock *fc = (FakeClock *)c;

	return clock == CLOCK_MONOTONIC ? fc->now - MONOTONIC_BEHIND : fc->now;
}

static int fc_timer_new(Clock *c, uint64_t accuracy, ClockFunc func, void *userdata,
			ClockTimer **ret)
{
	FakeClock *fc = (FakeClock *)c;
	FakeTimer *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	*t = (FakeTimer){
		.base.clock = c, .fc = fc, .func = func, .userdata = userdata, .next = fc->timers
	};
	fc->timers = t;
	*ret = &t->base;
	return 0;
}

static int fc_timer_set(ClockTimer *timer, uint64_t realtime)
{
	FakeTimer *t = (FakeTimer *)timer;

	t->at = realtime;
	t->armed = true;
	return 0;
}

static void fc_timer_off(ClockTimer *timer)
{
	((FakeTimer *)timer)->armed = false;
}

static void fc_timer_free(ClockTimer *timer)
{
	FakeTimer *t = (FakeTimer *)timer;

	for (FakeTimer **p = &t->fc->timers; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	free(t);
}

static void fc_free(Clock *c)
{
	fake_clock_free((FakeClock *)c);
}

static const ClockOps fake_clock_ops = {
	.now = fc_now,
	.timer_new = fc_timer_new,
	.timer_set = fc_timer_set,
	.timer_off = fc_timer_off,
	.timer_free = fc_timer_free,
	.free = fc_free,
};

FakeClock *fake_clock_new(uint64_t realtime)
{
	FakeClock *fc = calloc(1, sizeof(*fc));

	ck_assert_ptr_nonnull(fc);
	fc->base.ops = &fake_clock_ops;
	fc->now = realtime;
	return fc;
}

void fake_clock_free(FakeClock *fc)
{
	if (!fc)
		return;
	/* Timers left are their owners' to free; a test that forgot one leaks it, no more. */
	free(fc);
}

Clock *fake_clock(FakeClock *fc)
{
	return &fc->base;
}

uint64_t fake_clock_now(FakeClock *fc)
{
	return fc->now;
}

static FakeTimer *earliest(FakeClock *fc)
{
	FakeTimer *best = NULL;

	for (FakeTimer *t = fc->timers; t; t = t->next)
		if (t->armed && (!best || t->at < best->at))
			best = t;
	return best;
}

bool fake_clock_next(FakeClock *fc, uint64_t *ret)
{
	FakeTimer *t = earliest(fc);

	if (t)
		*ret = t->at;
	return t;
}

void fake_clock_set(FakeClock *fc, uint64_t realtime)
{
	FakeTimer *t;

	/* One at a time: a timer's function may set, free or make others. */
	while ((t = earliest(fc)) && t->at <= realtime) {
		fc->now = MAX(fc->now, t->at);
		t->armed = false;
		t->func(t->userdata);
	}
	fc->now = MAX(fc->now, realtime);
}

/* ---- the server ---- */

typedef struct Resource {
	char *url;
	uint8_t *data;
	size_t size;
	char *etag;
	char *last_modified;
	struct Resource *next;
} Resource;

typedef struct Fault {
	char *url;
	FakeFault fault;
	struct Fault *next;
} Fault;

typedef struct FakeJob {
	FetchJob base;
	FakeServer *s;
	FetchRequest req;
	size_t request; /* its index in the log */
	FetchResult result;
	uint8_t *body; /* what the response carries, copied at the start */
	uint64_t size, pos, cut;
	bool fail_at_end;
	sd_event_source *defer;
	bool held;
	struct FakeJob *next;
} FakeJob;

struct FakeServer {
	Fetch base;
	sd_event *event;
	Resource *resources;
	Fault *faults;
	FakeRequest *requests;
	size_t n_requests;
	FakeJob *jobs;
	uint64_t sent;
	int64_t date; /* every answer's Date, 0: none */
};

#define CHUNK (64u * 1024u)

static bool prefix(const char *url, const char *p)
{
	return strncmp(url, p, strlen(p)) == 0;
}

static void job_free(FakeJob *j)
{
	FakeServer *s = j->s;

	for (FakeJob **p = &s->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	sd_event_source_disable_unref(j->defer);
	free(j->body);
	free(j);
}

static void job_end(FakeJob *j)
{
	FakeServer *s = j->s;

	s->requests[j->request].done = true;
	s->requests[j->request].status = j->result.status;
	(void)sd_event_source_set_enabled(j->defer, SD_EVENT_OFF);
	if (j->req.on_done)
		j->req.on_done(j->req.userdata, &j->result);
	job_free(j);
}

/* One chunk of the body per turn of the loop, then the end. */
static int on_deliver(sd_event_source *es, void *userdata)
{
	FakeJob *j = userdata;
	_cleanup_free_ char *shown = NULL; /* as fetch.c shows the URL in its messages */
	uint64_t end = j->cut ? MIN(j->cut, j->size) : j->size;
	size_t n = (size_t)MIN((uint64_t)CHUNK, end - j->pos);
	int r;

	if (j->result.error == 0 && n > 0) {
		r = j->req.on_data(j->req.userdata, j->result.status, j->body + j->pos, n);
		if (r == FETCH_HOLD) {
			j->held = true;
			return sd_event_source_set_enabled(es, SD_EVENT_OFF);
		}
		if (r < 0) {
			j->result.error = r;
			snprintf(j->result.message, sizeof(j->result.message),
				 "stopped by the caller");
		} else {
			j->pos += n;
			j->result.received += n;
			j->s->requests[j->request].received += n;
			j->s->sent += n;
			if (j->pos < end)
				return 0;
		}
	}
	ck_assert_int_eq(url_redact(j->req.url, &shown), 0);
	if (j->result.error == 0 && j->cut && j->pos < j->size) {
		j->result.error = -ECONNRESET;
		snprintf(j->result.message, sizeof(j->result.message), "%s: connection reset",
			 shown);
	}
	if (j->result.error == 0 && j->fail_at_end) {
		j->result.error = -ETIMEDOUT;
		snprintf(j->result.message, sizeof(j->result.message),
			 "%s: timed out after the last byte", shown);
	}
	job_end(j);
	return 0;
}

static Resource *find_resource(FakeServer *s, const char *url)
{
	for (Resource *r = s->resources; r; r = r->next)
		if (streq(r->url, url))
			return r;
	return NULL;
}

static bool take_fault(FakeServer *s, const char *url, FakeFault *ret)
{
	for (Fault **p = &s->faults; *p; p = &(*p)->next)
		if (prefix(url, (*p)->url)) {
			Fault *f = *p;

			*ret = f->fault;
			*p = f->next;
			free(f->url);
			free(f);
			return true;
		}
	return false;
}

/* What the server answers, as fetch.c would see it. */
static void respond(FakeJob *j)
{
	FakeServer *s = j->s;
	const FetchRequest *q = &j->req;
	Resource *res = find_resource(s, q->url);
	FakeFault f = {};
	uint64_t start = 0, end;

	(void)take_fault(s, q->url, &f);
	j->result.date = s->date;
	j->cut = f.cut;
	j->fail_at_end = f.fail_at_end;
	if (f.status || !res) {
		j->result.status = f.status ?: 404;
		j->result.retry_after = f.retry_after;
		snprintf(j->result.etag, sizeof(j->result.etag), "%s", f.etag ?: "");
		return;
	}
	snprintf(j->result.etag, sizeof(j->result.etag), "%s", res->etag ?: "");
	snprintf(j->result.last_modified, sizeof(j->result.last_modified), "%s",
		 res->last_modified ?: "");
	if (f.new_etag) {
		free(res->etag);
		res->etag = strdup(f.new_etag);
		ck_assert_ptr_nonnull(res->etag);
	}
	if (q->if_none_match && res->etag && streq(q->if_none_match, res->etag)) {
		j->result.status = 304;
		return;
	}
	if ((!q->if_none_match || !*q->if_none_match) && q->if_modified_since &&
	    res->last_modified && streq(q->if_modified_since, res->last_modified)) {
		j->result.status = 304;
		return;
	}
	end = res->size;
	j->result.status = 200;
	if ((q->offset > 0 || q->length > 0) && !f.ignore_range &&
	    !(q->if_range && *q->if_range &&
	      (!res->etag || !streq(q->if_range, res->etag) || strncmp(res->etag, "W/", 2) == 0))) {
		if (q->offset >= res->size) {
			j->result.status = 416;
			return;
		}
		start = q->offset;
		if (q->length && q->length < res->size - start && f.extra < res->size - start)
			end = MIN(res->size, start + q->length + f.extra);
		j->result.status = f.range_status ?: 206;
	}
	/*
	 * curl's CURLOPT_MAXFILESIZE: the announced length alone is too much (extra bytes are not
	 * announced: a chunked body).
	 */
	if (q->max_bytes && !f.extra &&
	    end - start > q->max_bytes - (j->result.status == 206 ? start : 0)) {
		j->result.error = -EFBIG;
		snprintf(j->result.message, sizeof(j->result.message),
			 "the server sent more than the %llu bytes expected",
			 (unsigned long long)q->max_bytes);
		return;
	}
	j->size = end - start;
	j->body = malloc(MAX(j->size, (uint64_t)1));
	ck_assert_ptr_nonnull(j->body);
	memcpy(j->body, res->data + start, j->size);
}

static int fs_start(Fetch *f, const FetchRequest *req, FetchJob **ret)
{
	FakeServer *s = (FakeServer *)f;
	FakeJob *j = calloc(1, sizeof(*j));
	FakeRequest *log;
	FakeFault peek = {};
	int r;

	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_nonnull(req->on_data);
	for (Fault *q = s->faults; q; q = q->next)
		if (prefix(req->url, q->url) && q->fault.start_error) {
			r = q->fault.start_error;
			(void)take_fault(s, req->url, &peek);
			free(j);
			return r;
		}
	log = realloc(s->requests, (s->n_requests + 1) * sizeof(*log));
	ck_assert_ptr_nonnull(log);
	s->requests = log;
	log[s->n_requests] = (FakeRequest){
		.url = strdup(req->url),
		.offset = req->offset,
		.length = req->length,
		.if_none_match = req->if_none_match ? strdup(req->if_none_match) : NULL,
		.if_range = req->if_range ? strdup(req->if_range) : NULL,
		.if_modified_since = req->if_modified_since ? strdup(req->if_modified_since) : NULL,
	};
	*j = (FakeJob){
		.base.fetch = f, .s = s, .req = *req, .request = s->n_requests++, .next = s->jobs
	};
	s->jobs = j;
	/* A request that hangs: only a cancel ends it. */
	for (Fault **p = &s->faults; *p; p = &(*p)->next)
		if (prefix(req->url, (*p)->url)) {
			peek = (*p)->fault;
			break;
		}
	if (peek.hold_forever) {
		(void)take_fault(s, req->url, &peek);
		*ret = &j->base;
		return 0;
	}
	respond(j);
	r = sd_event_add_defer(s->event, &j->defer, on_deliver, j);
	ck_assert_int_ge(r, 0);
	ck_assert_int_ge(sd_event_source_set_enabled(j->defer, SD_EVENT_ON), 0);
	if (ret)
		*ret = &j->base;
	return 0;
}

static void fs_cancel(FetchJob *job)
{
	FakeJob *j = (FakeJob *)job;

	j->s->requests[j->request].cancelled = true;
	job_free(j);
}

static void fs_resume(FetchJob *job)
{
	FakeJob *j = (FakeJob *)job;

	if (!j->held)
		return;
	j->held = false;
	(void)sd_event_source_set_enabled(j->defer, SD_EVENT_ON);
}

static void fs_free(Fetch *f)
{
	fake_server_free((FakeServer *)f);
}

static const FetchOps fake_fetch_ops = {
	.start = fs_start,
	.cancel = fs_cancel,
	.resume = fs_resume,
	.free = fs_free,
};

FakeServer *fake_server_new(sd_event *event)
{
	FakeServer *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->base.ops = &fake_fetch_ops;
	s->event = sd_event_ref(event);
	return s;
}

void fake_server_free(FakeServer *s)
{
	if (!s)
		return;
	while (s->jobs)
		job_free(s->jobs);
	while (s->resources) {
		Resource *r = s->resources;

		s->resources = r->next;
		free(r->url);
		free(r->data);
		free(r->etag);
		free(r->last_modified);
		free(r);
	}
	while (s->faults) {
		Fault *f = s->faults;

		s->faults = f->next;
		free(f->url);
		free(f);
	}
	for (size_t i = 0; i < s->n_requests; i++) {
		free(s->requests[i].url);
		free(s->requests[i].if_none_match);
		free(s->requests[i].if_range);
		free(s->requests[i].if_modified_since);
	}
	free(s->requests);
	sd_event_unref(s->event);
	free(s);
}

Fetch *fake_server_fetch(FakeServer *s)
{
	return &s->base;
}

void fake_server_remove(FakeServer *s, const char *url)
{
	for (Resource **p = &s->resources; *p; p = &(*p)->next)
		if (streq((*p)->url, url)) {
			Resource *r = *p;

			*p = r->next;
			free(r->url);
			free(r->data);
			free(r->etag);
			free(r->last_modified);
			free(r);
			return;
		}
}

void fake_server_put(FakeServer *s, const char *url, const void *data, size_t size,
		     const char *etag)
{
	Resource *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	fake_server_remove(s, url);
	*r = (Resource){ .url = strdup(url),
			 .data = malloc(MAX(size, (size_t)1)),
			 .size = size,
			 .etag = etag ? strdup(etag) : NULL,
			 .next = s->resources };
	ck_assert_ptr_nonnull(r->data);
	memcpy(r->data, data, size);
	s->resources = r;
}

void fake_server_last_modified(FakeServer *s, const char *url, const char *date)
{
	Resource *r = find_resource(s, url);

	ck_assert_ptr_nonnull(r);
	free(r->last_modified);
	r->last_modified = strdup(date);
}

void fake_server_date(FakeServer *s, int64_t date)
{
	s->date = date;
}

void fake_server_fault(FakeServer *s, const char *url, const FakeFault *fault)
{
	Fault *f = calloc(1, sizeof(*f)), **p = &s->faults;

	ck_assert_ptr_nonnull(f);
	*f = (Fault){ .url = strdup(url), .fault = *fault };
	while (*p)
		p = &(*p)->next;
	*p = f; /* in order */
}

size_t fake_server_requests(FakeServer *s, const FakeRequest **ret)
{
	*ret = s->requests;
	return s->n_requests;
}

size_t fake_server_count(FakeServer *s, const char *url)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_requests; i++)
		n += prefix(s->requests[i].url, url);
	return n;
}

size_t fake_server_open(FakeServer *s)
{
	size_t n = 0;

	for (FakeJob *j = s->jobs; j; j = j->next)
		n++;
	return n;
}

uint64_t fake_server_sent(FakeServer *s)
{
	return s->sent;
}

/* ---- the loop ---- */

void fake_run_pending(sd_event *event)
{
	while (sd_event_run(event, 0) > 0)
		;
}

bool fake_run_until(sd_event *event, FakeClock *fc, bool (*cond)(void *userdata), void *userdata)
{
	uint64_t deadline = usec_now(CLOCK_MONOTONIC) + 20 * USEC_PER_SEC, next;

	while (!cond(userdata)) {
		/* What is due now, and what a worker thread brings soon, before time moves. */
		if (sd_event_run(event, 0) > 0 || sd_event_run(event, 20 * USEC_PER_MSEC) > 0)
			continue;
		if (fc && fake_clock_next(fc, &next)) {
			fake_clock_set(fc, next);
			continue;
		}
		/* Nothing to do but wait for a worker thread. */
		if (usec_now(CLOCK_MONOTONIC) > deadline)
			return false;
		(void)sd_event_run(event, 10 * USEC_PER_MSEC);
	}
	return true;
}

/* ---- the device ---- */

#define SLOT_SIZE (1024 * 1024)

char *fake_device_slot(FakeDevice *d, const char *target, char slot)
{
	return tu_path("%s/%s-%c", d->dir, target, slot);
}

static void write_file(const char *path, const void *p, size_t n)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(swu_write_all(fd, p, n), 0);
}

/* Whether the configuration lines @extra set @key. */
static bool given(const char *extra, const char *key)
{
	_cleanup_free_ char *line = tu_path("%s=", key);

	return extra && strstr(extra, line);
}

void fake_device_init(FakeDevice *d, const char *server, const char *extra)
{
	static const char *const targets[] = { "rootfs", "appfs" };
	_cleanup_free_ char *text = NULL, *slots = NULL, *path = NULL;
	Config *c = NULL;

	*d = (FakeDevice){ .dir = tu_tmpdir("dev") };
	tu_world_init(&d->w);
	path = tu_path("%s/root.pb", d->dir);
	write_file(path, d->w.root.data, d->w.root.size);
	free(path);
	path = tu_path("%s/staging", d->dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	free(path);
	path = tu_path("%s/state", d->dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	free(path);
	path = tu_path("%s/cmdline", d->dir);
	tu_write_text(path, "quiet swupdated.slot=A\n");
	free(path);
	path = tu_path("%s/boot_id", d->dir);
	tu_write_text(path, "0b6f2d9c-boot-1\n");
	slots = strdup("");
	for (size_t i = 0; i < ELEMENTSOF(targets); i++)
		for (char s = 'A'; s <= 'B'; s++) {
			_cleanup_free_ char *slot = fake_device_slot(d, targets[i], s);
			char *more;

			ck_assert_int_eq(truncate(slot, 0), -1); /* not there yet */
			tu_write_text(slot, "");
			ck_assert_int_eq(truncate(slot, SLOT_SIZE), 0);
			more = tu_path("%s[Slot.%s.%c]\nDevice=%s\n", slots, targets[i], s, slot);
			free(slots);
			slots = more;
		}
	text = tu_path("[Update]\nCompatible=acme-gw-v2\n%s%s%s\n%s%s%s"
		       "PollJitterSec=0\nStagingDirectory=%s/staging\n%s\n"
		       "[Trust]\nRootMetadata=%s/root.pb\nRequireVerity=no\nStateDirectory=%s/"
		       "state\n"
		       "[Boot]\nBootloader=none\nKernelCommandLine=%s/cmdline\n"
		       "BootIdFile=%s/boot_id\n%s",
		       server ? "Server=" : "", server ?: "", server ? "\n" : "",
		       given(extra, "PollIntervalSec") ? "" : "PollIntervalSec=3600\n",
		       given(extra, "AutoInstall") ? "" : "AutoInstall=no\n",
		       given(extra, "RebootPolicy") ? "" : "RebootPolicy=never\n", d->dir,
		       extra ?: "", d->dir, d->dir, d->dir, d->dir, slots);
	d->conf = tu_path("%s/swupdated.conf", d->dir);
	tu_write_text(d->conf, text);
	ck_assert_int_eq(config_load(d->conf, &c), 0);
	ck_assert_int_eq(manager_new(c, &d->m), 0);
	ck_assert_int_eq(d->m->booted, 'A');
}

void fake_device_done(FakeDevice *d)
{
	manager_free(d->m);
	tu_world_done(&d->w);
	tu_rm_rf(d->dir);
	free(d->dir);
	free(d->conf);
	*d = (FakeDevice){};
}

void fake_release(FakeDevice *d, uint32_t version, const TuFile *files, size_t n, FakeRelease *ret)
{
	fake_release_timed(d, version, 0, 0, files, n, ret);
}

void fake_release_timed(FakeDevice *d, uint32_t version, int64_t expires, int64_t signed_at,
			const TuFile *files, size_t n, FakeRelease *ret)
{
	TuTargetsSpec spec = { .version = version,
			       .expires = expires,
			       .signed_at = signed_at,
			       .n_files = n,
			       .n_signers = 1 };
	SwuBuf targets = {};

	ck_assert_uint_le(n, ELEMENTSOF(spec.files));
	*ret = (FakeRelease){};
	for (size_t i = 0; i < n; i++) {
		uint8_t sha[SHA256_DIGEST_LENGTH];

		spec.files[i] = files[i];
		SHA256(files[i].data, files[i].size, sha);
		for (size_t k = 0; k < sizeof(sha); k++)
			sprintf(ret->blob_hex[i] + 2 * k, "%02x", sha[k]);
	}
	spec.signers[0] = d->w.targets_key;
	tu_targets(&spec, &targets);
	tu_put_root(&ret->metadata, &d->w.root);
	tu_put_targets(&ret->metadata, "targets", &targets);
	tu_put_root(&ret->bundle, &d->w.root);
	tu_put_targets(&ret->bundle, "targets", &targets);
	for (size_t i = 0; i < n; i++)
		tu_put_payload(&ret->bundle, files[i].name, files[i].data, files[i].size);
	swu_buf_done(&targets);
}

void fake_release_done(FakeRelease *r)
{
	swu_buf_done(&r->metadata);
	swu_buf_done(&r->bundle);
}

void fake_publish(FakeServer *s, const char *server, const FakeRelease *r, const TuFile *files,
		  size_t n, uint32_t version)
{
	_cleanup_free_ char *url = tu_path("%s/metadata.pb", server);
	char etag[32];

	snprintf(etag, sizeof(etag), "\"v%u\"", version);
	fake_server_put(s, url, r->metadata.data, r->metadata.size, etag);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *blob = tu_path("%s/blobs/%s", server, r->blob_hex[i]);

		fake_server_put(s, blob, files[i].data, files[i].size, "\"blob\"");
	}
}
