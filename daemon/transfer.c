/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "transfer-source.h"
#include "transfer.h"
#include "url.h"
#include "worker.h"

struct Transfer {
	sd_event *event;
	Clock *clock;
	Fetch *fetch;
	Manager *m;
	SwuContext *ctx; /* this install's own failure record */
	const TransferEvents *events;
	void *userdata;
	const TransferSourceOps *ops;
	void *source;
	char *name; /* where the bundle comes from, as shown (url_redact()) */
	SwuVerifier *v;
	Slots slots;
	bool slots_open;

	/* the payload being written */
	SwuSlotWriter *writer;
	const SwuInstallTarget *target;
	const char *shown; /* the target shown when no payload is being written */
	uint64_t length;
	uint64_t download_done, download_total, reused;
	/* by the whole transfer: downloaded; written and reused by the payloads before this one */
	uint64_t downloaded, written_before, reused_before;

	/* writers closed whose read-back and fsync run on: settled before the transfer ends */
	SwuSlotWriter **closing;
	size_t n_closing;
	sd_event_source *settle;
	Worker *worker; /* copying unchanged targets, or the read-back of transfer_verify() */
	bool written, verifying;

	/* the end of a step, told from the event loop */
	sd_event_source *report;
	TransferStep step;
	int error;
	UpdateResult result;
	char *sentence;
	bool failed;
};

static int on_report(sd_event_source *s, void *userdata)
{
	Transfer *t = userdata;

	/* The owner may free the transfer here: nothing after this. */
	t->events->done(t->userdata, t->step, t->error, t->result, t->sentence);
	return 0;
}

int transfer_new(const TransferSetup *setup, const char *name, const TransferSourceOps *ops,
		 SwuVerifier *v, Transfer **ret)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *owned = v;
	Transfer *t;
	int r;

	assert_return(setup && name && ops && v && ret, -EINVAL);
	assert_return(setup->event && setup->clock && setup->fetch && setup->manager, -EINVAL);
	assert_return(setup->ctx && setup->events && setup->events->done, -EINVAL);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = (Transfer){
		.event = sd_event_ref(setup->event),
		.clock = setup->clock,
		.fetch = setup->fetch,
		.m = setup->manager,
		.ctx = swu_context_ref(setup->ctx),
		.events = setup->events,
		.userdata = setup->userdata,
		.ops = ops,
		.v = TAKE_PTR(owned),
		.shown = "",
	};
	r = url_redact(name, &t->name);
	if (r >= 0)
		r = sd_event_add_defer(t->event, &t->report, on_report, t);
	if (r >= 0)
		r = sd_event_source_set_priority(t->report, SD_EVENT_PRIORITY_IMPORTANT);
	if (r >= 0)
		r = sd_event_source_set_enabled(t->report, SD_EVENT_OFF);
	if (r < 0) {
		transfer_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

Transfer *transfer_free(Transfer *t)
{
	if (!t)
		return NULL;
	/* A worker stops at its next chunk; freeing waits for it. */
	swu_context_cancel(t->ctx);
	if (t->source)
		t->ops->free(t->source);
	worker_free(t->worker);
	for (size_t i = 0; i < t->n_closing; i++)
		swu_slot_writer_free(t->closing[i]);
	free(t->closing);
	sd_event_source_disable_unref(t->settle);
	sd_event_source_disable_unref(t->report);
	swu_slot_writer_free(t->writer);
	slots_done(&t->slots);
	swu_verifier_free(t->v);
	swu_context_unref(t->ctx);
	sd_event_unref(t->event);
	free(t->sentence);
	free(t->name);
	free(t);
	return NULL;
}

void transfer_set_source(Transfer *t, void *source)
{
	assert_return_void(t && !t->source);
	t->source = source;
}

sd_event *transfer_event(Transfer *t)
{
	return t->event;
}

Clock *transfer_clock(Transfer *t)
{
	return t->clock;
}

Fetch *transfer_fetch(Transfer *t)
{
	return t->fetch;
}

Manager *transfer_manager(Transfer *t)
{
	return t->m;
}

const Config *transfer_config(Transfer *t)
{
	return t->m->config;
}

SwuContext *transfer_context(Transfer *t)
{
	return t->ctx;
}

SwuVerifier *transfer_verifier(Transfer *t)
{
	return t->v;
}

int transfer_restart(Transfer *t, SwuVerifier *v)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *owned = v;

	assert_return(t && v && !t->worker && !t->failed, -EINVAL);
	/* The writers go before the verifier they hash for; a read-back running is joined. */
	t->writer = swu_slot_writer_free(t->writer);
	t->target = NULL;
	for (size_t i = 0; i < t->n_closing; i++)
		swu_slot_writer_free(t->closing[i]);
	t->closing = mfree(t->closing);
	t->n_closing = 0;
	t->settle = sd_event_source_disable_unref(t->settle);
	slots_done(&t->slots);
	t->slots_open = false;
	t->length = t->written_before = t->reused_before = 0;
	t->download_done = t->download_total = t->reused = 0;
	swu_verifier_free(t->v);
	t->v = TAKE_PTR(owned);
	return 0;
}

uint32_t transfer_get_version(const Transfer *t)
{
	assert_return(t, 0);
	return swu_verifier_get_version(t->v);
}

uint32_t transfer_get_installed_version(const Transfer *t)
{
	assert_return(t, 0);
	return swu_verifier_get_installed_version(t->v);
}

/*
 * The end of @step, told from the event loop before anything else runs (never from within the
 * call that found it, which may be the owner's). The event source exists from the start: telling
 * cannot fail for want of memory.
 */
static void report(Transfer *t, TransferStep step, int r, UpdateResult result)
{
	t->step = step;
	t->error = r;
	t->result = result;
	(void)sd_event_source_set_enabled(t->report, SD_EVENT_ONESHOT);
}

void transfer_fail(Transfer *t, UpdateResult result, int r, const char *what, ...)
{
	_cleanup_free_ char *buf = NULL;
	va_list ap;
	int k;

	assert_return_void(t && r < 0 && what);
	if (t->failed)
		return; /* the first failure stands */
	t->failed = true;
	va_start(ap, what);
	k = vasprintf(&buf, what, ap);
	va_end(ap);
	if (k < 0)
		buf = NULL;
	t->sentence = strdup_escaped_printf("%s: %s", buf ?: what, log_reason(t->ctx, r));
	report(t, t->verifying ? TRANSFER_STEP_VERIFY : TRANSFER_STEP_WRITE, r, result);
}

bool transfer_failed(const Transfer *t)
{
	return t->failed;
}

/* Whether the current payload goes into a slot (a chunk index, for one, goes nowhere). */
static bool in_slot(const Transfer *t)
{
	return t->target && t->target->fd >= 0;
}

static void tell_progress(Transfer *t, bool force)
{
	uint64_t done = t->writer ? swu_slot_writer_offset(t->writer) : t->length;
	TransferProgress p = {
		.target = t->target ? t->target->name : t->shown,
		.done = done,
		.total = t->length,
		.download_done = t->download_done,
		.download_total = t->download_total,
		.reused = t->reused,
		.written = t->written_before + (t->writer && in_slot(t) ? done : 0),
		.downloaded = t->downloaded,
		.reused_total = t->reused_before + (t->writer ? t->reused : 0),
	};

	if (t->events->progress)
		t->events->progress(t->userdata, &p, force);
}

void transfer_progress(Transfer *t, bool force)
{
	if (!t->failed)
		tell_progress(t, force);
}

void transfer_show_target(Transfer *t, const char *what)
{
	t->shown = what;
	tell_progress(t, true);
}

void transfer_count_download(Transfer *t, uint64_t n)
{
	t->download_done += n;
	t->downloaded += n;
}

void transfer_set_download(Transfer *t, uint64_t total, uint64_t reused)
{
	t->download_total = total;
	t->reused = reused;
}

void transfer_expect_download(Transfer *t, uint64_t remaining)
{
	t->download_total = t->download_done + remaining;
}

int transfer_open_slots(Transfer *t, const SwuBundle *b)
{
	int r;

	if (t->slots_open)
		return 0;
	r = manager_open_slots(t->m, t->ctx, t->v, b, &t->slots);
	if (r < 0)
		return r;
	t->slots_open = true;
	log_info("Installing version %u from %s into slot %c", swu_verifier_get_version(t->v),
		 t->name, manager_target_slot(t->m));
	return 0;
}

static const SwuInstallTarget *find_target(Transfer *t, const char *name)
{
	for (size_t i = 0; i < t->slots.n; i++)
		if (streq(t->slots.targets[i].name, name))
			return &t->slots.targets[i];
	return NULL;
}

int transfer_begin_writer(Transfer *t, const char *name, uint64_t length, bool streamed)
{
	int r;

	assert_return(t && name && !t->writer, -EINVAL);
	if (t->failed)
		return -ECANCELED;
	t->target = find_target(t, name);
	if (!t->target)
		return 1; /* not a verified target: never written */
	r = streamed ? swu_slot_writer_new_streamed(t->ctx, t->v, t->target, length, &t->writer)
		     : swu_slot_writer_new(t->ctx, t->v, t->target, length, &t->writer);
	if (r != 0) {
		t->target = NULL;
		return r;
	}
	t->length = length;
	t->download_done = t->download_total = t->reused = 0;
	tell_progress(t, true);
	return 0;
}

int transfer_write(Transfer *t, const void *p, size_t n)
{
	int r;

	assert_return(t && t->writer, -EINVAL);
	if (t->failed)
		return -ECANCELED;
	r = swu_slot_writer_write(t->writer, p, n);
	if (r < 0)
		return r;
	tell_progress(t, false);
	return 0;
}

SwuSlotWriter *transfer_writer(Transfer *t)
{
	return t->writer;
}

const SwuInstallTarget *transfer_target(Transfer *t)
{
	return t->target;
}

uint64_t transfer_length(Transfer *t)
{
	return t->length;
}

uint64_t transfer_offset(Transfer *t)
{
	return t->writer ? swu_slot_writer_offset(t->writer) : 0;
}

int transfer_end_writer(Transfer *t)
{
	SwuSlotWriter **a;
	int r;

	assert_return(t && t->writer, -EINVAL);
	if (t->failed)
		return -ECANCELED;
	r = swu_slot_writer_close(t->writer);
	if (r >= 0) {
		a = realloc(t->closing, (t->n_closing + 1) * sizeof(*a));
		if (!a)
			r = -ENOMEM;
		else
			t->closing = a;
	}
	if (r < 0) {
		t->writer = swu_slot_writer_free(t->writer);
		t->target = NULL;
		return r;
	}
	t->closing[t->n_closing++] = TAKE_PTR(t->writer);
	if (in_slot(t))
		t->written_before += t->length;
	t->reused_before += t->reused;
	tell_progress(t, true);
	t->target = NULL;
	return 0;
}

static void copied(void *userdata, int r)
{
	Transfer *t = userdata;

	t->worker = worker_free(t->worker);
	if (r >= 0)
		r = swu_verifier_finish(t->v);
	if (r < 0)
		return transfer_fail(t, update_result_of(r), r, "Install failed");
	t->written = true;
	report(t, TRANSFER_STEP_WRITE, 0, RESULT_NONE);
}

/* On the worker: the transfer is the worker's until it is done (freeing it joins the worker). */
static int copy_work(void *userdata)
{
	Transfer *t = userdata;

	return swu_install_copy_unchanged(t->ctx, t->v, t->slots.targets, t->slots.n);
}

static void settle(Transfer *t);

static int on_settle(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Transfer *t = userdata;

	t->settle = sd_event_source_disable_unref(t->settle);
	settle(t);
	return 0;
}

static bool ready(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return fd < 0 || poll(&p, 1, 0) > 0;
}

/* The read-backs of the closed payloads, oldest first, without blocking the loop; then copy. */
static void settle(Transfer *t)
{
	int r;

	while (t->n_closing > 0) {
		int fd = swu_slot_writer_event_fd(t->closing[0]);

		if (!ready(fd)) {
			r = sd_event_add_io(t->event, &t->settle, fd, EPOLLIN, on_settle, t);
			if (r < 0)
				transfer_fail(t, RESULT_TRANSFER_FAILED, r,
					      "Cannot wait for the slots");
			return;
		}
		r = swu_slot_writer_finish(t->closing[0]);
		swu_slot_writer_free(t->closing[0]);
		memmove(t->closing, t->closing + 1, --t->n_closing * sizeof(*t->closing));
		if (r < 0)
			return transfer_fail(t, RESULT_VERIFY_FAILED, r, "Install failed");
	}
	r = worker_new(t->event, copy_work, copied, t, &t->worker);
	if (r < 0)
		transfer_fail(t, RESULT_TRANSFER_FAILED, r, "Cannot copy the unchanged targets");
}

void transfer_written(Transfer *t)
{
	assert_return_void(t && !t->writer);
	if (t->failed)
		return;
	t->shown = "";
	settle(t);
}

int transfer_start(Transfer *t)
{
	assert_return(t && !t->slots_open && !t->failed, -EINVAL);
	return t->ops->start(t, t->source);
}

static void verified(void *userdata, int r)
{
	Transfer *t = userdata;

	t->worker = worker_free(t->worker);
	if (r < 0)
		return transfer_fail(t, RESULT_VERIFY_FAILED, r, "Verification failed");
	t->verifying = false;
	report(t, TRANSFER_STEP_VERIFY, 0, RESULT_NONE);
}

static int verify_work(void *userdata)
{
	Transfer *t = userdata;

	return swu_install_verify_slots(t->ctx, t->v, t->slots.targets, t->slots.n);
}

int transfer_verify(Transfer *t)
{
	int r;

	assert_return(t && t->written && !t->worker && !t->failed, -EINVAL);
	t->verifying = true;
	r = worker_new(t->event, verify_work, verified, t, &t->worker);
	if (r < 0)
		t->verifying = false;
	return r;
}

int transfer_apply(Transfer *t)
{
	assert_return(t && t->written && !t->worker && !t->failed, -EINVAL);
	return manager_apply(t->m, t->ctx, t->v);
}
