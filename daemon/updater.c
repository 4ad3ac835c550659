/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "fileio.h"
#include "install.h"
#include "log.h"
#include "macro.h"
#include "state.h"
#include "updater.h"

#define USEC_PER_SEC	   UINT64_C(1000000)
#define LOCAL_CHUNK	   (1024u * 1024u)
#define EMIT_INTERVAL_USEC (250 * 1000)

static const char *const state_table[_UPDATER_STATE_MAX] = {
	[UPDATER_INACTIVE] = "inactive",       [UPDATER_TRANSFERRING] = "transferring",
	[UPDATER_TRANSFERRED] = "transferred", [UPDATER_VERIFYING] = "verifying",
	[UPDATER_VERIFIED] = "verified",       [UPDATER_APPLYING] = "applying",
	[UPDATER_ABORTING] = "aborting",       [UPDATER_FINISHED] = "finished",
};

static const char *const result_table[_RESULT_MAX] = {
	[RESULT_NONE] = "",
	[RESULT_SUCCESS] = "success",
	[RESULT_UNKNOWN_ERROR] = "unknown-error",
	[RESULT_ABORTED] = "aborted",
	[RESULT_TRANSFER_FAILED] = "transfer-failed",
	[RESULT_VERIFY_FAILED] = "verify-failed",
	[RESULT_APPLY_FAILED] = "apply-failed",
};

const char *updater_state_to_string(UpdaterState s)
{
	return state_table[s];
}

const char *updater_result_to_string(UpdaterResult r)
{
	return result_table[r];
}

struct Transfer {
	SwuVerifier *v;
	SwuBundle *bundle; /* the bundle (local) or the release metadata (server) */
	int fd;
	bool from_server;
	Slots slots;
	size_t index; /* next payload (local) or target (server) */
	SwuSlotWriter *writer;
	const SwuInstallTarget *target;
	const SwuPayload *payload;
	uint64_t length, done, skip;
	char blob_url[1024];
	char blob_etag[128];
	FetchJob *job;
	unsigned attempts;
	sd_event_source *retry;
	sd_event_source *defer;
	uint8_t *buf;
	uint32_t from_version;
	bool verify, apply;
	int staging_fd; /* a whole bundle downloaded from a URL */
	char staging_path[1024];
	SwuStream *stream; /* a whole bundle streaming from a URL */
	bool slots_open, restage;
	char url[1024];
};

static uint64_t now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void set_note(Updater *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_note(Updater *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->note, sizeof(u->note), fmt, ap);
	va_end(ap);
	updater_emit(u, "Note", NULL);
}

/* The failure's sentence: the libswu failure record when it explains @r, else strerror. */
static void note_error(Updater *u, int r, const char *what)
{
	const SwuFailure *f = swu_context_get_failure(u->m->ctx);

	if (f->error == r && f->message[0])
		set_note(u, "%s: %s", what, f->message);
	else
		set_note(u, "%s: %s", what, strerror(-r));
	log_error("%s", u->note);
}

static void notify_status(Updater *u)
{
	switch (u->state) {
	case UPDATER_TRANSFERRING:
		sd_notifyf(0, "STATUS=Downloading %s: %u%%", u->current_target, u->progress / 100);
		break;
	case UPDATER_INACTIVE:
		sd_notifyf(0, "STATUS=Idle, installed version %u", u->installed_version);
		break;
	default:
		sd_notifyf(0, "STATUS=%s%s%s", state_table[u->state], u->result ? ": " : "",
			   result_table[u->result]);
		break;
	}
}

static void set_state(Updater *u, UpdaterState s)
{
	u->state = s;
	u->progress = 0;
	log_info("State: %s", state_table[s]);
	updater_emit(u, "State", "Progress", NULL);
	notify_status(u);
}

static void set_progress(Updater *u, uint64_t done, uint64_t total, bool force)
{
	uint64_t now = now_realtime();

	u->bytes_done = done;
	u->bytes_total = total;
	u->progress = total ? (uint32_t)(done * 10000 / total) : 10000;
	if (!force && now - u->last_emit < EMIT_INTERVAL_USEC)
		return;
	u->last_emit = now;
	updater_emit(u, "Progress", "BytesDone", "BytesTotal", "CurrentTarget", NULL);
	notify_status(u);
}

static Transfer *transfer_free(Transfer *t)
{
	if (!t)
		return NULL;
	fetch_cancel(t->job);
	swu_stream_free(t->stream);
	sd_event_source_disable_unref(t->retry);
	sd_event_source_disable_unref(t->defer);
	swu_slot_writer_free(t->writer);
	slots_done(&t->slots);
	swu_verifier_free(t->v);
	swu_bundle_free(t->bundle);
	safe_close(t->fd);
	safe_close(t->staging_fd);
	if (t->staging_path[0])
		unlink(t->staging_path);
	free(t->buf);
	free(t);
	return NULL;
}

static void finish(Updater *u, UpdaterResult result, const char *history_result)
{
	Transfer *t = u->transfer;
	char to = u->m->booted == 'A' ? 'B' : 'A';

	if (t && t->v)
		manager_history(u->m, "install", t->from_version, swu_verifier_get_version(t->v),
				to, history_result, result == RESULT_SUCCESS ? NULL : u->note);
	u->transfer = transfer_free(t);
	u->result = result;
	u->current_target[0] = 0;
	set_state(u, UPDATER_FINISHED);
	updater_emit(u, "Result", "CurrentTarget", "PendingSlot", NULL);
	updater_bus_finished(u);
}

static void fail(Updater *u, UpdaterResult result, int r, const char *what)
{
	note_error(u, r, what);
	finish(u, result, "failed");
}

/* ---- polling ------------------------------------------------------------------------------ */

static void schedule_poll(Updater *u, uint64_t delay_usec)
{
	uint64_t now;

	if (!u->poll_timer)
		return;
	sd_event_now(u->event, CLOCK_MONOTONIC, &now);
	/* A generous accuracy lets the kernel batch this wake-up with others. */
	sd_event_source_set_time(u->poll_timer, now + delay_usec);
	sd_event_source_set_enabled(u->poll_timer, SD_EVENT_ONESHOT);
	u->next_check = now_realtime() + delay_usec;
	updater_emit(u, "NextCheck", NULL);
}

static uint64_t jitter(const Config *c)
{
	uint32_t r = 0;

	if (c->poll_jitter_sec == 0)
		return 0;
	(void)getrandom(&r, sizeof(r), GRND_NONBLOCK);
	return (uint64_t)(r % c->poll_jitter_sec) * USEC_PER_SEC + (uint64_t)(r % 1000) * 1000;
}

/* Exponential backoff after failures, capped at the poll interval, at least Retry-After. */
static uint64_t backoff(const Config *c, unsigned failures, uint64_t retry_after)
{
	uint64_t d = 30 * USEC_PER_SEC << MIN(failures, 16u);

	d = MIN(d, (uint64_t)c->poll_interval_sec * USEC_PER_SEC);
	return MAX(d, retry_after * USEC_PER_SEC);
}

static void answer_check(Updater *u, int r)
{
	sd_bus_message *call = TAKE_PTR(u->pending_check);

	if (!call)
		return;
	if (r < 0)
		sd_bus_reply_method_errnof(call, r, "%s", u->note);
	else
		sd_bus_reply_method_return(call, "bu", u->available_version > u->installed_version,
					   u->available_version);
	sd_bus_message_unref(call);
}

static int open_memory_bundle(Updater *u, const uint8_t *p, size_t n, int *ret_fd, SwuBundle **ret)
{
	_cleanup_close_ int fd = memfd_create("release", MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = swu_write_all(fd, p, n);
	if (r < 0)
		return r;
	r = swu_bundle_open_fd(u->m->ctx, fd, ret);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int load_manifest(Updater *u, uint8_t **ret, size_t *ret_size)
{
	int r = swu_state_load_manifest(u->m->ctx, u->m->config->state_dir, ret, ret_size);

	if (r == -ENOENT) {
		*ret = NULL;
		*ret_size = 0;
		return 0;
	}
	return r;
}

/* Rules 1-3 and 5 over a release's metadata; the verifier is returned for a transfer. */
static int verify_release(Updater *u, const uint8_t *p, size_t n, const char *source,
			  SwuVerifier **ret_v, SwuBundle **ret_b, int *ret_fd, uint32_t *ret_from)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_free_ uint8_t *manifest = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t manifest_size;
	int r;

	swu_context_clear_failure(u->m->ctx);
	r = load_manifest(u, &manifest, &manifest_size);
	if (r < 0)
		return r;
	r = open_memory_bundle(u, p, n, &fd, &b);
	if (r < 0)
		return r;
	r = manager_verifier(u->m, manifest, manifest_size, &v);
	if (r < 0)
		return r;
	r = manager_verify_metadata(u->m, v, b, source);
	if (r < 0)
		return r;
	if (ret_from)
		*ret_from = manager_manifest_version(u->m->ctx, manifest, manifest_size);
	if (ret_v)
		*ret_v = TAKE_PTR(v);
	if (ret_b)
		*ret_b = TAKE_PTR(b);
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	return 0;
}

static int begin_server_transfer(Updater *u, bool verify, bool apply);

static void poll_done(void *userdata, const FetchResult *res)
{
	Updater *u = userdata;
	const Config *c = u->m->config;
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	bool start = u->start_after_poll, apply = u->apply_after_poll;
	int r = 0;

	u->poll_job = NULL;
	u->start_after_poll = u->apply_after_poll = false;
	u->last_check = now_realtime();
	updater_emit(u, "LastCheck", NULL);

	if (res->error < 0 || (res->status >= 500 || res->status == 429)) {
		r = res->error < 0 ? res->error : -EREMOTEIO;
		u->poll_failures++;
		if (res->error < 0)
			set_note(u, "Checking %s failed: %s", c->server, res->message);
		else
			set_note(u, "Checking %s failed: HTTP status %ld", c->server, res->status);
		log_warning("%s", u->note);
		schedule_poll(u, backoff(c, u->poll_failures, res->retry_after));
		answer_check(u, r);
		return;
	}
	u->poll_failures = 0;
	schedule_poll(u, (uint64_t)c->poll_interval_sec * USEC_PER_SEC + jitter(c));
	if (res->status == 304) {
		log_info("No new release (not modified)");
	} else if (res->status == 404) {
		u->available_version = 0;
		updater_emit(u, "AvailableVersion", NULL);
		log_info("No release published at %s", c->server);
	} else if (res->status == 200) {
		r = verify_release(u, u->poll_body.data, u->poll_body.size, c->server, &v, NULL,
				   NULL, NULL);
		if (r < 0) {
			note_error(u, r, "Release rejected");
		} else {
			u->available_version = swu_verifier_get_version(v);
			snprintf(u->etag, sizeof(u->etag), "%s", res->etag);
			free(u->release);
			u->release = TAKE_PTR(u->poll_body.data);
			u->release_size = u->poll_body.size;
			updater_emit(u, "AvailableVersion", NULL);
			log_info("Release version %u available (installed %u)",
				 u->available_version, u->installed_version);
		}
	} else {
		r = -EPROTO;
		set_note(u, "Checking %s failed: HTTP status %ld", c->server, res->status);
		log_warning("%s", u->note);
	}
	swu_buf_done(&u->poll_body);
	answer_check(u, r);
	if (r < 0 || !u->release || u->state != UPDATER_INACTIVE)
		return;
	if (u->available_version <= u->installed_version && !start)
		return;
	if (start || c->auto_install != AUTO_INSTALL_NO) {
		Status s;

		/* Never twice the same pending version, never over an unconfirmed update. */
		if (!start && manager_get_status(u->m, &s) >= 0 && s.state != UPDATE_IDLE &&
		    s.pending_version >= u->available_version)
			return;
		(void)begin_server_transfer(u, start || c->auto_install != AUTO_INSTALL_NO,
					    start ? apply : c->auto_install == AUTO_INSTALL_YES);
	}
}

static int poll_data(void *userdata, long status, const void *p, size_t n)
{
	Updater *u = userdata;

	return swu_buf_append(&u->poll_body, p, n);
}

static int poll_start(Updater *u)
{
	char url[1100];
	FetchRequest req = {
		.url = url,
		.if_none_match = u->release ? u->etag : NULL,
		.max_bytes = 4 * swu_context_get_metadata_max(u->m->ctx),
		.on_data = poll_data,
		.on_done = poll_done,
		.userdata = u,
	};

	if (u->poll_job)
		return 0; /* already polling */
	if (!u->m->config->server)
		return -ENOMEDIUM;
	snprintf(url, sizeof(url), "%s/metadata.pb", u->m->config->server);
	u->poll_body.size = 0;
	return fetch_start(u->fetch, &req, &u->poll_job);
}

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Updater *u = userdata;
	int r = poll_start(u);

	if (r < 0) {
		/* Polling must never stop for good: try again later. */
		log_warning_errno(r, "Cannot start a poll");
		schedule_poll(u, backoff(u->m->config, ++u->poll_failures, 0));
	}
	return 0;
}

int updater_check(Updater *u, sd_bus_message *call)
{
	int r;

	if (u->pending_check)
		return -EBUSY;
	r = poll_start(u);
	if (r < 0)
		return r;
	u->pending_check = sd_bus_message_ref(call);
	return 0;
}

/* ---- transfers ---------------------------------------------------------------------------- */

static void transfer_done(Updater *u);
static void next_server_target(Updater *u);
static void next_local_payload(Updater *u);

static int transfer_new(Updater *u, SwuVerifier *v, SwuBundle *b, int fd, bool from_server,
			uint32_t from, bool verify, bool apply)
{
	Transfer *t = calloc(1, sizeof(*t));
	int r;

	if (!t) {
		swu_verifier_free(v);
		swu_bundle_free(b);
		safe_close(fd);
		return -ENOMEM;
	}
	*t = (Transfer){ .v = v,
			 .bundle = b,
			 .fd = fd,
			 .from_server = from_server,
			 .from_version = from,
			 .verify = verify,
			 .apply = apply,
			 .staging_fd = -EBADF };
	u->transfer = t;
	u->result = RESULT_NONE;
	updater_emit(u, "Result", "Source", NULL);
	set_state(u, UPDATER_TRANSFERRING);
	r = manager_open_slots(u->m, v, &t->slots);
	if (r >= 0)
		r = swu_install_check(u->m->ctx, v, from_server ? NULL : b, t->slots.targets,
				      t->slots.n);
	if (r < 0) {
		fail(u, RESULT_TRANSFER_FAILED, r, "Cannot install");
		return r;
	}
	log_info("Installing version %u from %s into slot %c", swu_verifier_get_version(v),
		 u->source, u->m->booted == 'A' ? 'B' : 'A');
	return 0;
}

static const SwuInstallTarget *find_target(Transfer *t, const char *name)
{
	for (size_t i = 0; i < t->slots.n; i++)
		if (streq(t->slots.targets[i].name, name))
			return &t->slots.targets[i];
	return NULL;
}

static int begin_writer(Updater *u, const char *name, uint64_t length)
{
	Transfer *t = u->transfer;
	int r;

	t->target = find_target(t, name);
	if (!t->target)
		return 1; /* not a verified target: never written */
	r = swu_slot_writer_new(u->m->ctx, t->v, t->target, length, &t->writer);
	if (r != 0)
		return r;
	t->length = length;
	t->done = 0;
	snprintf(u->current_target, sizeof(u->current_target), "%s", name);
	set_progress(u, 0, length, true);
	return 0;
}

static int end_writer(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	r = swu_slot_writer_finish(t->writer);
	t->writer = swu_slot_writer_free(t->writer);
	if (r >= 0)
		set_progress(u, t->length, t->length, true);
	return r;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void blob_done(void *userdata, const FetchResult *res);

static int blob_data(void *userdata, long status, const void *p, size_t n)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;

	/* A resume answered in full (200): drop what we already have. */
	if (status == 200 && t->skip > 0) {
		size_t k = (size_t)MIN((uint64_t)n, t->skip);

		t->skip -= k;
		p = (const uint8_t *)p + k;
		n -= k;
		if (n == 0)
			return 0;
	}
	if (status == 206)
		t->skip = 0;
	int r = swu_slot_writer_write(t->writer, p, n);
	if (r < 0)
		return r;
	t->done += n;
	set_progress(u, t->done, t->length, false);
	return 0;
}

static void fetch_blob(Updater *u)
{
	Transfer *t = u->transfer;
	FetchRequest req = {
		.url = t->blob_url,
		.offset = t->done,
		.if_range = t->blob_etag,
		.max_bytes = t->length,
		.on_data = blob_data,
		.on_done = blob_done,
		.userdata = u,
	};
	int r;

	t->skip = t->done;
	r = fetch_start(u->fetch, &req, &t->job);
	if (r < 0)
		fail(u, RESULT_TRANSFER_FAILED, r, "Cannot start the download");
}

static void blob_done(void *userdata, const FetchResult *res)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	const Config *c = u->m->config;
	uint64_t delay;
	int r;

	t->job = NULL;
	if (res->etag[0])
		snprintf(t->blob_etag, sizeof(t->blob_etag), "%s", res->etag);
	if (res->error == 0 && (res->status == 200 || res->status == 206) && t->done == t->length) {
		r = end_writer(u);
		if (r < 0) {
			fail(u, RESULT_VERIFY_FAILED, r, "Download rejected");
			return;
		}
		t->attempts = 0;
		next_server_target(u);
		return;
	}
	/* Bytes that fail verification or exceed the signed length are never retried. */
	if (res->error == -EBADMSG || res->error == -EFBIG) {
		if (res->error == -EFBIG)
			set_note(u, "Download of '%s' rejected: %s", u->current_target,
				 res->message);
		else
			note_error(u, res->error, "Download rejected");
		finish(u, RESULT_VERIFY_FAILED, "failed");
		return;
	}
	if (res->status == 404 || res->status == 403 || res->status == 410) {
		set_note(u, "Download of '%s' failed: HTTP status %ld", u->current_target,
			 res->status);
		finish(u, RESULT_TRANSFER_FAILED, "failed");
		return;
	}
	if (++t->attempts > c->retries) {
		set_note(u, "Download of '%s' failed after %u attempts: %s", u->current_target,
			 t->attempts, res->error < 0 ? res->message : "server error");
		finish(u, RESULT_TRANSFER_FAILED, "failed");
		return;
	}
	delay = MAX(USEC_PER_SEC << MIN(t->attempts - 1, 10u), res->retry_after * USEC_PER_SEC);
	log_warning("Download of '%s' interrupted at %llu of %llu bytes (%s); retry %u of %u in "
		    "%llu s",
		    u->current_target, (unsigned long long)t->done, (unsigned long long)t->length,
		    res->error < 0 ? res->message : "server error", t->attempts, c->retries,
		    (unsigned long long)(delay / USEC_PER_SEC));
	r = sd_event_add_time_relative(u->event, &t->retry, CLOCK_MONOTONIC, delay, 0, on_retry, u);
	if (r < 0)
		fail(u, RESULT_TRANSFER_FAILED, r, "Cannot schedule a retry");
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	Updater *u = userdata;

	u->transfer->retry = sd_event_source_disable_unref(u->transfer->retry);
	fetch_blob(u);
	return 0;
}

static void next_server_target(Updater *u)
{
	Transfer *t = u->transfer;
	const SwuTarget *list;
	size_t n = swu_verifier_get_targets(t->v, &list);
	char hex[2 * SWU_SHA256_SIZE + 1];
	int r;

	while (t->index < n) {
		const SwuTarget *target = &list[t->index++];

		/* Unchanged targets are copied from the active slot, never downloaded. */
		if (swu_verifier_target_installed(t->v, target->name))
			continue;
		r = begin_writer(u, target->name, target->length);
		if (r < 0) {
			fail(u, RESULT_TRANSFER_FAILED, r, "Cannot write");
			return;
		}
		swu_hex(target->sha256, SWU_SHA256_SIZE, hex);
		snprintf(t->blob_url, sizeof(t->blob_url), "%s/blobs/%s", u->m->config->server,
			 hex);
		t->blob_etag[0] = 0;
		t->attempts = 0;
		fetch_blob(u);
		return;
	}
	transfer_done(u);
}

static int on_local_chunk(sd_event_source *s, void *userdata)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	size_t want = (size_t)MIN((uint64_t)LOCAL_CHUNK, t->length - t->done);
	ssize_t n;
	int r;

	if (want > 0) {
		n = pread(t->bundle->fd, t->buf, want, (off_t)(t->payload->offset + t->done));
		if (n <= 0) {
			fail(u, RESULT_TRANSFER_FAILED, n < 0 ? -errno : -EIO,
			     "Cannot read the bundle");
			return 0;
		}
		r = swu_slot_writer_write(t->writer, t->buf, (size_t)n);
		if (r < 0) {
			fail(u, r == -EBADMSG ? RESULT_VERIFY_FAILED : RESULT_TRANSFER_FAILED, r,
			     "Install failed");
			return 0;
		}
		t->done += (uint64_t)n;
		set_progress(u, t->done, t->length, false);
		if (t->done < t->length)
			return 0;
	}
	t->defer = sd_event_source_disable_unref(t->defer);
	r = end_writer(u);
	if (r < 0) {
		fail(u, RESULT_VERIFY_FAILED, r, "Install failed");
		return 0;
	}
	next_local_payload(u);
	return 0;
}

static void next_local_payload(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	while (t->index < t->bundle->n_payloads) {
		t->payload = &t->bundle->payloads[t->index++];
		r = begin_writer(u, t->payload->name, t->payload->size);
		if (r > 0)
			continue; /* not listed: never written */
		if (r < 0) {
			fail(u, RESULT_VERIFY_FAILED, r, "Bundle rejected");
			return;
		}
		/* One chunk per loop iteration: the bus and the watchdog stay served. */
		r = sd_event_add_defer(u->event, &t->defer, on_local_chunk, u);
		if (r >= 0)
			r = sd_event_source_set_enabled(t->defer, SD_EVENT_ON);
		if (r < 0)
			fail(u, RESULT_TRANSFER_FAILED, r, "Cannot schedule the install");
		return;
	}
	transfer_done(u);
}

static int verify(Updater *u, bool reread)
{
	Transfer *t = u->transfer;
	const SwuTarget *list;
	size_t n;

	if (u->state != UPDATER_TRANSFERRED)
		return -EBUSY;
	set_state(u, UPDATER_VERIFYING);
	n = reread ? swu_verifier_get_targets(t->v, &list) : 0;
	for (size_t i = 0; i < n; i++) {
		const SwuInstallTarget *it = find_target(t, list[i].name);
		uint8_t digest[SWU_SHA256_SIZE];
		int r;

		snprintf(u->current_target, sizeof(u->current_target), "%s", list[i].name);
		set_progress(u, i, n, true);
		r = it ? swu_sha256_fd(it->fd, 0, list[i].length, digest) : -ENXIO;
		if (r < 0 || memcmp(digest, list[i].sha256, SWU_SHA256_SIZE) != 0) {
			set_note(u, "Slot of '%s' does not hold the verified image", list[i].name);
			finish(u, RESULT_VERIFY_FAILED, "failed");
			return -EIO;
		}
	}
	u->current_target[0] = 0;
	set_state(u, UPDATER_VERIFIED);
	return 0;
}

int updater_verify(Updater *u)
{
	return verify(u, true);
}

static void transfer_done(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	r = swu_install_copy_unchanged(u->m->ctx, t->v, t->slots.targets, t->slots.n);
	if (r >= 0)
		r = swu_verifier_finish(t->v);
	if (r < 0) {
		fail(u, RESULT_VERIFY_FAILED, r, "Install failed");
		return;
	}
	u->current_target[0] = 0;
	set_state(u, UPDATER_TRANSFERRED);
	set_note(u, "Version %u transferred", swu_verifier_get_version(t->v));
	/* Every slot was read back and hashed while streaming: the automatic path does not read it
	 * a third time. An explicit Verify() call (after Start) re-reads the slots. */
	if (t->verify && verify(u, false) >= 0 && t->apply)
		(void)updater_apply(u);
}

static int begin_server_transfer(Updater *u, bool verify, bool apply)
{
	SwuVerifier *v = NULL;
	SwuBundle *b = NULL;
	uint32_t from = 0;
	int fd = -EBADF, r;

	r = manager_may_install(u->m);
	if (r < 0) {
		note_error(u, r, "Refusing to install");
		return r;
	}
	snprintf(u->source, sizeof(u->source), "%s", u->m->config->server);
	r = verify_release(u, u->release, u->release_size, u->source, &v, &b, &fd, &from);
	if (r < 0) {
		note_error(u, r, "Release rejected");
		return r;
	}
	r = transfer_new(u, v, b, fd, true, from, verify, apply);
	if (r < 0)
		return r;
	next_server_target(u);
	return 0;
}

static int begin_local_transfer(Updater *u, const char *path, bool verify, bool apply)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_free_ uint8_t *manifest = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t manifest_size;
	uint32_t from;
	int r;

	swu_context_clear_failure(u->m->ctx);
	r = load_manifest(u, &manifest, &manifest_size);
	if (r < 0)
		return r;
	from = manager_manifest_version(u->m->ctx, manifest, manifest_size);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		set_note(u, "Cannot open bundle '%s': %s", path, strerror(errno));
		return r;
	}
	r = swu_bundle_open_fd(u->m->ctx, fd, &b);
	if (r >= 0)
		r = manager_verifier(u->m, manifest, manifest_size, &v);
	if (r >= 0)
		r = manager_verify_metadata(u->m, v, b, path);
	if (r < 0) {
		note_error(u, r, "Bundle rejected");
		return r;
	}
	r = transfer_new(u, TAKE_PTR(v), TAKE_PTR(b), TAKE_FD(fd), false, from, verify, apply);
	if (r < 0)
		return r;
	u->transfer->buf = malloc(LOCAL_CHUNK);
	if (!u->transfer->buf) {
		fail(u, RESULT_TRANSFER_FAILED, -ENOMEM, "Cannot install");
		return -ENOMEM;
	}
	next_local_payload(u);
	return 0;
}

/* A rotated root that passed rule 2 is kept at once, whatever happens to the bundle. */
static void persist_new_root(Updater *u, SwuVerifier *v)
{
	const uint8_t *root;
	size_t size;

	root = swu_verifier_get_new_root(v, &size);
	if (!root || manager_root_is_trusted(u->m, root, size))
		return;
	if (swu_state_save_root(u->m->ctx, u->m->config->state_dir, root, size) >= 0) {
		log_info("Root metadata rotated and persisted");
		manager_history(u->m, "root-rotation", 0, 0, 0, "success", NULL);
	}
}

/* ---- a whole bundle from a URL: streamed when its metadata comes first, else staged ---------- */

static int stream_open_slots(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	if (t->slots_open)
		return 0;
	persist_new_root(u, t->v);
	r = manager_open_slots(u->m, t->v, &t->slots);
	if (r >= 0)
		r = swu_install_check(u->m->ctx, t->v, NULL, t->slots.targets, t->slots.n);
	t->slots_open = r >= 0;
	if (r >= 0)
		log_info("Installing version %u from %s into slot %c",
			 swu_verifier_get_version(t->v), u->source,
			 u->m->booted == 'A' ? 'B' : 'A');
	return r;
}

static int stream_payload_begin(void *userdata, const SwuTarget *target)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	const SwuInstallTarget *it;
	int r;

	r = stream_open_slots(u);
	if (r < 0)
		return r;
	it = find_target(t, target->name);
	if (!it)
		return -ENXIO;
	r = swu_slot_writer_new_streamed(u->m->ctx, t->v, it, target->length, &t->writer);
	if (r < 0)
		return r;
	t->length = target->length;
	t->done = 0;
	snprintf(u->current_target, sizeof(u->current_target), "%s", target->name);
	set_progress(u, 0, t->length, true);
	return 0;
}

static int stream_payload_data(void *userdata, const uint8_t *p, size_t n)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	int r;

	r = swu_slot_writer_write(t->writer, p, n);
	if (r < 0)
		return r;
	t->done += n;
	set_progress(u, t->done, t->length, false);
	return 0;
}

static int stream_payload_end(void *userdata, const SwuTarget *target)
{
	return end_writer(userdata);
}

static const SwuStreamSink stream_sink = {
	.payload_begin = stream_payload_begin,
	.payload_data = stream_payload_data,
	.payload_end = stream_payload_end,
};

static int url_stream_data(void *userdata, long status, const void *p, size_t n)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	int r;

	r = swu_stream_feed(t->stream, p, n);
	if (r < 0 && streq(swu_context_get_failure(u->m->ctx)->rule ?: "", "stream-order"))
		t->restage = true;
	return r;
}

static int staging_data(void *userdata, long status, const void *p, size_t n)
{
	Updater *u = userdata;

	return swu_write_all(u->transfer->staging_fd, p, n);
}

static void staging_done(void *userdata, const FetchResult *res);

/* The cap on a whole bundle: all inactive slots together plus room for metadata. */
static uint64_t bundle_cap(const Config *c)
{
	uint64_t cap = 64 * 1024 * 1024;

	for (size_t i = 0; i < c->n_slots; i++) {
		struct stat st;

		if (stat(c->slots[i].device, &st) < 0 || !S_ISREG(st.st_mode))
			return 0; /* block devices: no cheap size here; curl's own limits apply */
		cap += (uint64_t)st.st_size;
	}
	return cap;
}

static int start_staging(Updater *u)
{
	const Config *c = u->m->config;
	Transfer *t = u->transfer;
	FetchRequest req = { .url = t->url,
			     .max_bytes = bundle_cap(c),
			     .on_data = staging_data,
			     .on_done = staging_done,
			     .userdata = u };
	int r;

	r = swu_mkdir_p(c->staging_dir, 0700);
	if (r >= 0) {
		snprintf(t->staging_path, sizeof(t->staging_path), "%s/bundle.XXXXXX",
			 c->staging_dir);
		t->staging_fd = mkostemp(t->staging_path, O_CLOEXEC);
		r = t->staging_fd < 0 ? -errno : 0;
		if (r < 0)
			t->staging_path[0] = 0;
	}
	if (r < 0) {
		set_note(u, "Cannot stage the download in '%s': %s", c->staging_dir, strerror(-r));
		return r;
	}
	log_info("The bundle at %s puts payloads before metadata: staging it in '%s'", t->url,
		 c->staging_dir);
	return fetch_start(u->fetch, &req, &t->job);
}

static void url_stream_done(void *userdata, const FetchResult *res)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	int r = res->error;

	t->job = NULL;
	if (t->restage) {
		/* Not verifiable in order: start over through StagingDirectory=. */
		t->writer = swu_slot_writer_free(t->writer);
		t->stream = swu_stream_free(t->stream);
		r = start_staging(u);
		if (r < 0)
			fail(u, RESULT_TRANSFER_FAILED, r, "Cannot stage the bundle");
		return;
	}
	if (r == 0 && res->status != 200) {
		set_note(u, "Download of %s failed: HTTP status %ld", u->source, res->status);
		finish(u, RESULT_TRANSFER_FAILED, "failed");
		return;
	}
	if (r == 0)
		r = swu_stream_finish(t->stream);
	if (r == 0)
		r = stream_open_slots(u);
	persist_new_root(u, t->v);
	if (r < 0) {
		bool network = res->error < 0 && res->error != -EBADMSG && res->error != -EFBIG &&
			       res->error != -EKEYREJECTED && res->error != -ESTALE &&
			       res->error != -EKEYEXPIRED && res->error != -EMEDIUMTYPE;

		if (network)
			set_note(u, "Download of %s failed: %s", u->source, res->message);
		else
			note_error(u, r, "Bundle rejected");
		finish(u, network ? RESULT_TRANSFER_FAILED : RESULT_VERIFY_FAILED, "failed");
		return;
	}
	transfer_done(u);
}

static void staging_done(void *userdata, const FetchResult *res)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	char path[1024];
	bool verify = t->verify, apply = t->apply;
	int r;

	t->job = NULL;
	if (res->error < 0 || res->status != 200) {
		set_note(u, "Download of %s failed: %s", u->source,
			 res->error < 0 ? res->message : "HTTP error");
		finish(u, RESULT_TRANSFER_FAILED, "failed");
		return;
	}
	snprintf(path, sizeof(path), "%s", t->staging_path);
	t->staging_path[0] = 0; /* keep the file until it is open */
	u->transfer = transfer_free(t);
	u->state = UPDATER_INACTIVE;
	r = begin_local_transfer(u, path, verify, apply);
	unlink(path);
	if (r < 0 && !u->transfer) {
		u->result = RESULT_VERIFY_FAILED;
		set_state(u, UPDATER_FINISHED);
		updater_emit(u, "Result", NULL);
		updater_bus_finished(u);
	}
}

static int begin_url_transfer(Updater *u, const char *url, bool verify, bool apply)
{
	_cleanup_free_ uint8_t *manifest = NULL;
	FetchRequest req = { .url = url,
			     .max_bytes = bundle_cap(u->m->config),
			     .on_data = url_stream_data,
			     .on_done = url_stream_done,
			     .userdata = u };
	size_t manifest_size;
	Transfer *t;
	int r;

	swu_context_clear_failure(u->m->ctx);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = (Transfer){ .fd = -EBADF, .staging_fd = -EBADF, .verify = verify, .apply = apply };
	snprintf(t->url, sizeof(t->url), "%s", url);
	u->transfer = t;
	r = load_manifest(u, &manifest, &manifest_size);
	if (r >= 0) {
		t->from_version = manager_manifest_version(u->m->ctx, manifest, manifest_size);
		r = manager_verifier(u->m, manifest, manifest_size, &t->v);
	}
	if (r >= 0)
		r = swu_stream_new(u->m->ctx, t->v, &stream_sink, u, &t->stream);
	if (r < 0) {
		u->transfer = transfer_free(t);
		note_error(u, r, "Cannot install");
		return r;
	}
	u->result = RESULT_NONE;
	snprintf(u->current_target, sizeof(u->current_target), "bundle");
	updater_emit(u, "Result", "Source", NULL);
	set_state(u, UPDATER_TRANSFERRING);
	r = fetch_start(u->fetch, &req, &t->job);
	if (r < 0)
		fail(u, RESULT_TRANSFER_FAILED, r, "Cannot start the download");
	return 0;
}

int updater_begin(Updater *u, const char *source, bool verify, bool apply)
{
	int r;

	if (u->state != UPDATER_INACTIVE)
		return -EBUSY;
	r = manager_reconcile(u->m);
	if (r >= 0)
		r = manager_may_install(u->m);
	if (r < 0) {
		note_error(u, r, "Refusing to install");
		return r;
	}
	snprintf(u->source, sizeof(u->source), "%s", source);
	if (!*source) {
		if (!u->m->config->server) {
			set_note(u, "No Server= configured: give a bundle path or URL");
			return -ENOMEDIUM;
		}
		/* The server's current release: poll first, then start from what verified. */
		u->start_after_poll = true;
		u->apply_after_poll = apply;
		return poll_start(u);
	}
	if (source[0] == '/')
		return begin_local_transfer(u, source, verify, apply);
	if (strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0)
		return begin_url_transfer(u, source, verify, apply);
	set_note(u, "'%s' is neither an absolute path nor an http(s) URL", source);
	return -EINVAL;
}

int updater_apply(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	if (u->state == UPDATER_TRANSFERRED) {
		r = updater_verify(u);
		if (r < 0)
			return r;
	}
	if (u->state != UPDATER_VERIFIED)
		return -EBUSY;
	set_state(u, UPDATER_APPLYING);
	r = manager_apply(u->m, t->v, t->from_version);
	if (r < 0) {
		fail(u, RESULT_APPLY_FAILED, r, "Apply failed");
		return r;
	}
	set_note(u, "Version %u installed into slot %c; reboot to try it",
		 swu_verifier_get_version(t->v), u->m->booted == 'A' ? 'B' : 'A');
	log_info("%s", u->note);
	finish(u, RESULT_SUCCESS, "success");
	if (u->m->config->reboot_auto) {
		log_info("RebootPolicy=auto: asking systemd to reboot");
		(void)sd_bus_call_method_async(u->bus, NULL, "org.freedesktop.login1",
					       "/org/freedesktop/login1",
					       "org.freedesktop.login1.Manager", "Reboot", NULL,
					       NULL, "b", false);
	}
	return 0;
}

int updater_abort(Updater *u)
{
	if (u->state < UPDATER_TRANSFERRING || u->state > UPDATER_VERIFIED)
		return -EBUSY;
	set_state(u, UPDATER_ABORTING);
	/* Freeing the transfer cancels downloads and abandons half-written slots; nothing was
	 * recorded as pending, so the new slot is never activated. */
	set_note(u, "Aborted");
	finish(u, RESULT_ABORTED, "aborted");
	return 0;
}

int updater_reset(Updater *u)
{
	if (u->state != UPDATER_FINISHED)
		return -EBUSY;
	u->result = RESULT_NONE;
	u->source[0] = 0;
	u->bytes_done = u->bytes_total = 0;
	set_state(u, UPDATER_INACTIVE);
	updater_emit(u, "Result", "Source", "BytesDone", "BytesTotal", NULL);
	return 0;
}

void updater_shutdown(Updater *u)
{
	if (u->transfer) {
		log_info("Stopping the transfer; slot %c will not be activated",
			 u->m->booted == 'A' ? 'B' : 'A');
		u->transfer = transfer_free(u->transfer);
	}
	fetch_cancel(u->poll_job);
	u->poll_job = NULL;
}

void updater_emit(Updater *u, const char *first, ...)
{
	char *names[16];
	size_t n = 0;
	va_list ap;

	if (!u->bus)
		return;
	va_start(ap, first);
	for (const char *s = first; s && n < ELEMENTSOF(names) - 1; s = va_arg(ap, const char *))
		names[n++] = (char *)s;
	va_end(ap);
	names[n] = NULL;
	(void)sd_bus_emit_properties_changed_strv(u->bus, "/io/swupdated/Updater1",
						  "io.swupdated.Updater1", names);
}

int updater_new(Manager *m, sd_event *event, sd_bus *bus, Updater **ret)
{
	Updater *u = calloc(1, sizeof(*u));
	Status s;
	int r;

	if (!u)
		return -ENOMEM;
	u->m = m;
	u->event = sd_event_ref(event);
	u->bus = sd_bus_ref(bus);
	r = fetch_new(event, m->config, &u->fetch);
	if (r < 0) {
		updater_free(u);
		return r;
	}
	if (manager_get_status(m, &s) >= 0)
		u->installed_version = s.installed_version;
	*ret = u;
	return 0;
}

int updater_start(Updater *u)
{
	int r;

	if (!u->m->config->server)
		return 0;
	r = sd_event_add_time(u->event, &u->poll_timer, CLOCK_MONOTONIC, UINT64_MAX, USEC_PER_SEC,
			      on_poll_timer, u);
	if (r < 0)
		return r;
	/* First poll soon after start, spread by the jitter so a fleet does not arrive at once. */
	schedule_poll(u, USEC_PER_SEC + jitter(u->m->config));
	return 0;
}

Updater *updater_free(Updater *u)
{
	if (!u)
		return NULL;
	updater_shutdown(u);
	answer_check(u, -ECANCELED);
	sd_event_source_disable_unref(u->poll_timer);
	swu_buf_done(&u->poll_body);
	free(u->release);
	fetch_free(u->fetch);
	sd_bus_unref(u->bus);
	sd_event_unref(u->event);
	free(u);
	return NULL;
}
