/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "transfer.h"

int transfer_new(Updater *u, TransferKind kind, bool verify, bool apply, Transfer **ret)
{
	_cleanup_(transfer_freep) Transfer *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	*t = (Transfer){
		.kind = kind,
		.verify = verify,
		.apply = apply,
		.fd = -EBADF,
		.staging_fd = -EBADF,
		.chunk_index_fd = -EBADF,
	};
	r = manager_context_new(u->m, &t->ctx);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(t);
	return 0;
}

Transfer *transfer_free(Transfer *t)
{
	if (!t)
		return NULL;
	/* The worker stops at its next chunk; freeing waits for it. */
	swu_context_cancel(t->ctx);
	transfer_delta_free(t->delta);
	safe_close(t->chunk_index_fd);
	worker_free(t->worker);
	for (size_t i = 0; i < t->n_closing; i++)
		swu_slot_writer_free(t->closing[i]);
	free(t->closing);
	sd_event_source_disable_unref(t->settle);
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
	swu_context_unref(t->ctx);
	free(t);
	return NULL;
}

void transfer_attach(Updater *u, Transfer *t)
{
	u->transfer = t;
	u->downloaded = 0;
	u->result = RESULT_NONE;
	updater_emit(u, "Result", "Source", NULL);
	updater_set_state(u, UPDATER_TRANSFERRING);
}

int transfer_open_slots(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	if (t->slots_open)
		return 0;
	r = manager_open_slots(u->m, t->ctx, t->v, t->kind == TRANSFER_FILE ? t->bundle : NULL,
			       &t->slots);
	if (r < 0)
		return r;
	t->slots_open = true;
	log_info("Installing version %u from %s into slot %c", swu_verifier_get_version(t->v),
		 u->source, manager_target_slot(u->m));
	return 0;
}

static const SwuInstallTarget *find_target(Transfer *t, const char *name)
{
	for (size_t i = 0; i < t->slots.n; i++)
		if (streq(t->slots.targets[i].name, name))
			return &t->slots.targets[i];
	return NULL;
}

int transfer_begin_writer(Updater *u, const char *name, uint64_t length)
{
	Transfer *t = u->transfer;
	int r;

	t->target = find_target(t, name);
	if (!t->target)
		return 1; /* not a verified target: never written */
	r = t->kind == TRANSFER_URL
		    ? swu_slot_writer_new_streamed(t->ctx, t->v, t->target, length, &t->writer)
		    : swu_slot_writer_new(t->ctx, t->v, t->target, length, &t->writer);
	if (r != 0)
		return r;
	t->length = length;
	t->done = 0;
	u->download_done = u->download_total = u->bytes_reused = 0;
	snprintf(u->current_target, sizeof(u->current_target), "%s", name);
	updater_set_progress(u, 0, length, true);
	return 0;
}

int transfer_write(Updater *u, const void *p, size_t n)
{
	Transfer *t = u->transfer;
	int r;

	/*
	 * A chunk index on its way to the delta of its image: kept as it is verified (into its
	 * file first: a failure there must not leave the writer ahead of what was received).
	 */
	if (t->chunk_index_fd >= 0 && t->chunk_index_for) {
		if (n > t->chunk_index_for->length - t->chunk_index_size)
			return -EFBIG;
		r = swu_pwrite_all(t->chunk_index_fd, p, n, t->chunk_index_size);
		if (r < 0)
			return r;
	}
	r = swu_slot_writer_write(t->writer, p, n);
	if (r < 0)
		return r;
	if (t->chunk_index_fd >= 0 && t->chunk_index_for)
		t->chunk_index_size += n;
	t->done += n;
	updater_set_progress(u, t->done, t->length, false);
	return 0;
}

/*
 * The payload is complete: its length and hash are checked now, its read-back and fsync go on
 * beside the next payload and are settled when the transfer ends.
 */
int transfer_end_writer(Updater *u)
{
	Transfer *t = u->transfer;
	SwuSlotWriter **a;
	int r;

	r = swu_slot_writer_close(t->writer);
	if (r < 0) {
		t->writer = swu_slot_writer_free(t->writer);
		return r;
	}
	a = realloc(t->closing, (t->n_closing + 1) * sizeof(*a));
	if (!a) {
		t->writer = swu_slot_writer_free(t->writer);
		return -ENOMEM;
	}
	t->closing = a;
	t->closing[t->n_closing++] = TAKE_PTR(t->writer);
	updater_set_progress(u, t->length, t->length, true);
	return 0;
}

static void verified(void *userdata, int r)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;

	t->worker = worker_free(t->worker);
	if (r < 0) {
		updater_abandon(u, RESULT_VERIFY_FAILED, r, "Verification failed");
		return;
	}
	u->current_target[0] = 0;
	updater_set_state(u, UPDATER_VERIFIED);
	if (t->apply_after_verify)
		(void)updater_apply(u);
}

/* On the worker: the transfer is the worker's until it is done (freeing it joins the worker). */
static int verify_work(void *userdata)
{
	Transfer *t = ((Updater *)userdata)->transfer;

	return swu_install_verify_slots(t->ctx, t->v, t->slots.targets, t->slots.n);
}

int transfer_verify(Updater *u, bool reread, bool apply)
{
	Transfer *t = u->transfer;
	int r;

	updater_set_state(u, UPDATER_VERIFYING);
	t->apply_after_verify = apply;
	if (!reread) {
		verified(u, 0);
		return 0;
	}
	r = worker_new(u->event, verify_work, verified, u, &t->worker);
	if (r < 0)
		updater_abandon(u, RESULT_VERIFY_FAILED, r, "Cannot verify");
	return r;
}

static void copied(void *userdata, int r)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;

	t->worker = worker_free(t->worker);
	if (r >= 0)
		r = swu_verifier_finish(t->v);
	if (r < 0) {
		updater_abandon(u, updater_result_of(r), r, "Install failed");
		return;
	}
	u->current_target[0] = 0;
	updater_set_state(u, UPDATER_TRANSFERRED);
	updater_note(u, "Version %u transferred", swu_verifier_get_version(t->v));
	/* Every slot was read back and hashed while streaming: the automatic path does not read it
	 * a third time. An explicit Verify() call (after Start) re-reads the slots. */
	if (t->verify)
		(void)transfer_verify(u, false, t->apply);
}

static int copy_work(void *userdata)
{
	Transfer *t = ((Updater *)userdata)->transfer;

	return swu_install_copy_unchanged(t->ctx, t->v, t->slots.targets, t->slots.n);
}

static int on_settle(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Updater *u = userdata;

	u->transfer->settle = sd_event_source_disable_unref(u->transfer->settle);
	transfer_done(u);
	return 0;
}

static bool ready(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return fd < 0 || poll(&p, 1, 0) > 0;
}

void transfer_done(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	/* The read-backs of the closed payloads, oldest first, without blocking the loop. */
	while (t->n_closing > 0) {
		int fd = swu_slot_writer_event_fd(t->closing[0]);

		if (!ready(fd)) {
			r = sd_event_add_io(u->event, &t->settle, fd, EPOLLIN, on_settle, u);
			if (r < 0)
				updater_abandon(u, RESULT_TRANSFER_FAILED, r,
						"Cannot wait for the slots");
			return;
		}
		r = swu_slot_writer_finish(t->closing[0]);
		swu_slot_writer_free(t->closing[0]);
		memmove(t->closing, t->closing + 1, --t->n_closing * sizeof(*t->closing));
		if (r < 0) {
			updater_abandon(u, RESULT_VERIFY_FAILED, r, "Install failed");
			return;
		}
	}
	u->current_target[0] = 0;
	r = worker_new(u->event, copy_work, copied, u, &t->worker);
	if (r < 0)
		updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Cannot copy the unchanged targets");
}

int transfer_memory_bundle(SwuContext *ctx, const uint8_t *p, size_t n, int *ret_fd,
			   SwuBundle **ret)
{
	_cleanup_close_ int fd = memfd_create("release", MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = swu_write_all(fd, p, n);
	if (r < 0)
		return r;
	r = swu_bundle_open_fd(ctx, fd, ret);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}
