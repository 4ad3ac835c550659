/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "crypto.h"
#include "fileio.h"
#include "install.h"
#include "macro.h"
#include "manifest.h"

bool swu_target_needs_slot(const char *name)
{
	assert_return(name, false);

	return !streq(name, SWU_USER_MANIFEST_NAME) && !endswith(name, ".chunks");
}

static const SwuInstallTarget *find(const SwuInstallTarget *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(t[i].name, name))
			return &t[i];
	return NULL;
}

static bool in_bundle(const SwuBundle *b, const char *name)
{
	for (size_t i = 0; i < b->n_payloads; i++)
		if (streq(b->payloads[i].name, name))
			return true;
	return false;
}

static int check_target(SwuContext *ctx, SwuVerifier *v, const SwuBundle *b, const SwuTarget *want,
			const SwuInstallTarget *t)
{
	/* From a server (no bundle), everything but unchanged targets is downloaded. */
	bool sent = b ? in_bundle(b, want->name) : !swu_verifier_target_installed(v, want->name);

	if (!t)
		return swu_fail(ctx, -ENXIO, "slot", "missing",
				"target '%s' has no slot on this device", want->name);
	if (t->fd >= 0 && want->length > t->size)
		return swu_fail(ctx, -ENOSPC, "slot", "size",
				"target '%s' is %llu bytes, its slot only %llu", want->name,
				(unsigned long long)want->length, (unsigned long long)t->size);
	if (!sent && !swu_verifier_target_installed(v, want->name))
		return swu_fail(ctx, -EBADMSG, "payload", "missing",
				"payload '%s' is missing and is not installed with the same length "
				"and hash",
				want->name);
	if (!sent && t->fd >= 0 && t->active_fd < 0)
		return swu_fail(ctx, -ENXIO, "slot", "missing",
				"target '%s' is unchanged but its active slot cannot be read",
				want->name);
	return 0;
}

int swu_install_check(SwuContext *ctx, SwuVerifier *v, const SwuBundle *b,
		      const SwuInstallTarget *targets, size_t n)
{
	const SwuTarget *list;
	size_t count;

	assert_return(ctx, -EINVAL);
	assert_return(v, -EINVAL);
	assert_return(targets || n == 0, -EINVAL);

	count = swu_verifier_get_targets(v, &list);
	for (size_t i = 0; i < count; i++) {
		int r = check_target(ctx, v, b, &list[i], find(targets, n, list[i].name));

		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Read-back runs beside the writer: each segment is flushed to the medium (sync_file_range), its
 * page cache dropped on block devices, then read and hashed, while the caller keeps hashing and
 * writing the next bytes. Two hashes over every byte, on two cores, in about the time of one.
 * The thread also does the final fsync, so a caller on an event loop never waits for the medium:
 * an eventfd says when the thread is done.
 */
#define SEGMENT (8u * 1024u * 1024u)

typedef struct ReadBack {
	SwuContext *ctx;
	const SwuInstallTarget *t;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t written; /* bytes the writer has written so far */
	uint64_t total;
	bool finished; /* the writer is done (or gave up: abort) */
	bool abort;
	int error;
	bool flushing; /* the error happened at the final fsync */
	int event_fd;
	uint8_t digest[SWU_SHA256_SIZE];
} ReadBack;

static uint64_t readback_wait(ReadBack *rb, uint64_t pos)
{
	uint64_t avail;

	pthread_mutex_lock(&rb->lock);
	while (!rb->finished && !rb->abort && rb->written - pos < SEGMENT)
		pthread_cond_wait(&rb->cond, &rb->lock);
	avail = rb->abort ? 0 : rb->written - pos;
	pthread_mutex_unlock(&rb->lock);
	return MIN(avail, (uint64_t)SEGMENT);
}

static int readback_segment(ReadBack *rb, SwuSha256 *h, uint64_t pos, uint64_t n)
{
	int fd = rb->t->fd;

	swu_fault_point(rb->ctx, "read-back");
	if (sync_file_range(fd, (off_t)pos, (off_t)n,
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				    SYNC_FILE_RANGE_WAIT_AFTER) < 0)
		return -errno;
	/* On flash, read the medium, not the page cache we just filled. */
	if (rb->t->block_device)
		(void)posix_fadvise(fd, (off_t)pos, (off_t)n, POSIX_FADV_DONTNEED);
	return swu_read_hashed(fd, pos, n, h, NULL, NULL);
}

static void *readback_thread(void *userdata)
{
	ReadBack *rb = userdata;
	const uint64_t one = 1;
	uint64_t pos = 0;
	SwuSha256 h;
	int r;

	r = swu_sha256_init(&h);
	while (r >= 0 && pos < rb->total) {
		uint64_t n = readback_wait(rb, pos);

		if (n == 0)
			break; /* aborted, or the writer stopped short */
		r = readback_segment(rb, &h, pos, n);
		pos += n;
	}
	if (r >= 0 && pos < rb->total)
		r = -ECANCELED;
	if (r >= 0) {
		swu_fault_point(rb->ctx, "fsync");
		rb->flushing = true;
		r = fsync(rb->t->fd) < 0 ? -errno : 0;
	}
	if (r >= 0)
		r = swu_sha256_final(&h, rb->digest);
	swu_sha256_done(&h);
	rb->error = r;
	(void)!write(rb->event_fd, &one, sizeof(one));
	return NULL;
}

static int readback_start(ReadBack *rb, SwuContext *ctx, const SwuInstallTarget *t, uint64_t total)
{
	int r;

	*rb = (ReadBack){ .ctx = ctx, .t = t, .total = total };
	rb->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rb->event_fd < 0)
		return -errno;
	pthread_mutex_init(&rb->lock, NULL);
	pthread_cond_init(&rb->cond, NULL);
	r = pthread_create(&rb->thread, NULL, readback_thread, rb);
	if (r != 0) {
		pthread_mutex_destroy(&rb->lock);
		pthread_cond_destroy(&rb->cond);
		rb->event_fd = safe_close(rb->event_fd);
		return -r;
	}
	return 0;
}

static void readback_post(ReadBack *rb, uint64_t written, bool finished, bool abort)
{
	pthread_mutex_lock(&rb->lock);
	rb->written = written;
	rb->finished = finished;
	rb->abort = abort;
	pthread_cond_signal(&rb->cond);
	pthread_mutex_unlock(&rb->lock);
}

/* Waits for the read-back thread (aborting it when @abort) and checks what it read. */
static int readback_join(ReadBack *rb, bool abort, const SwuTarget *want)
{
	if (abort)
		readback_post(rb, rb->written, true, true);
	pthread_join(rb->thread, NULL);
	pthread_mutex_destroy(&rb->lock);
	pthread_cond_destroy(&rb->cond);
	rb->event_fd = safe_close(rb->event_fd);
	if (abort)
		return 0;
	if (rb->error < 0)
		return swu_fail(rb->ctx, rb->error, "slot", rb->flushing ? "write" : "read-back",
				"cannot %s target '%s': %s", rb->flushing ? "flush" : "read back",
				rb->t->name, strerror(-rb->error));
	if (memcmp(rb->digest, want->sha256, SWU_SHA256_SIZE) != 0)
		return swu_fail(rb->ctx, -EIO, "slot", "read-back",
				"target '%s' reads back different from what was written",
				rb->t->name);
	return 0;
}

struct SwuSlotWriter {
	SwuContext *ctx;
	SwuVerifier *v;
	const SwuInstallTarget *t;
	const SwuTarget *target;
	ReadBack readback;
	bool readback_running; /* a slot is written: not for targets kept nowhere */
	uint64_t offset;
	bool closed, finished;
	int close_error;
	bool hashing; /* false: the caller's SwuStream feeds the verifier */
};

static int slot_writer_new(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *t,
			   uint64_t size, bool hashing, SwuSlotWriter **ret)
{
	SwuSlotWriter *w;
	int r;

	if (hashing) {
		r = swu_verifier_payload_begin(v, t->name, size);
		if (r != 0)
			return r; /* 1: not listed, never written */
	} else if (!swu_verifier_find_target(v, t->name))
		return 1;
	w = calloc(1, sizeof(*w));
	if (!w) {
		if (hashing)
			swu_verifier_payload_abandon(v);
		return -ENOMEM;
	}
	*w = (SwuSlotWriter){ .ctx = ctx,
			      .v = v,
			      .t = t,
			      .target = swu_verifier_find_target(v, t->name),
			      .hashing = hashing };
	if (t->fd >= 0) {
		r = readback_start(&w->readback, ctx, t, size);
		if (r < 0) {
			if (hashing)
				swu_verifier_payload_abandon(v);
			free(w);
			return r;
		}
		w->readback_running = true;
	}
	*ret = w;
	return 0;
}

int swu_slot_writer_new(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *t, uint64_t size,
			SwuSlotWriter **ret)
{
	assert_return(ctx, -EINVAL);
	assert_return(v, -EINVAL);
	assert_return(t, -EINVAL);
	assert_return(ret, -EINVAL);

	return slot_writer_new(ctx, v, t, size, true, ret);
}

int swu_slot_writer_new_streamed(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *t,
				 uint64_t size, SwuSlotWriter **ret)
{
	assert_return(ctx, -EINVAL);
	assert_return(v, -EINVAL);
	assert_return(t, -EINVAL);
	assert_return(ret, -EINVAL);

	return slot_writer_new(ctx, v, t, size, false, ret);
}

static int slot_writer_put(SwuSlotWriter *w, const void *p, size_t n, bool write)
{
	int r;

	if (w->closed)
		return -EINVAL;
	/* Hash first: bytes that fail verification are never written past the signed length. */
	if (w->hashing) {
		r = swu_verifier_payload_update(w->v, p, n);
		if (r < 0)
			return r;
	} else if (n > w->target->length - w->offset)
		return swu_fail(w->ctx, -EBADMSG, "payload", "length",
				"payload '%s' is longer than its signed length", w->t->name);
	if (w->readback_running && write) {
		swu_fault_point(w->ctx, "write");
		r = swu_pwrite_all(w->t->fd, p, n, w->offset);
		if (r < 0)
			return swu_fail(w->ctx, r, "slot", "write", "cannot write target '%s': %s",
					w->t->name, strerror(-r));
	}
	w->offset += n;
	if (w->readback_running)
		readback_post(&w->readback, w->offset, false, false);
	return 0;
}

int swu_slot_writer_write(SwuSlotWriter *w, const void *p, size_t n)
{
	assert_return(w, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	return slot_writer_put(w, p, n, /* write= */ true);
}

int swu_slot_writer_keep(SwuSlotWriter *w, const void *p, size_t n)
{
	assert_return(w, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	return slot_writer_put(w, p, n, /* write= */ false);
}

uint64_t swu_slot_writer_offset(const SwuSlotWriter *w)
{
	assert_return(w, 0);

	return w->offset;
}

int swu_slot_writer_close(SwuSlotWriter *w)
{
	int r;

	assert_return(w, -EINVAL);

	if (w->closed)
		return w->close_error;
	if (w->hashing)
		r = swu_verifier_payload_end(w->v);
	else if (w->offset != w->target->length)
		r = swu_fail(w->ctx, -EBADMSG, "payload", "length",
			     "payload '%s' ended after %llu of %llu bytes", w->t->name,
			     (unsigned long long)w->offset, (unsigned long long)w->target->length);
	else
		r = 0;
	w->closed = true;
	w->close_error = r;
	if (w->readback_running)
		readback_post(&w->readback, w->offset, true, r < 0);
	return r;
}

int swu_slot_writer_event_fd(const SwuSlotWriter *w)
{
	assert_return(w, -EINVAL);

	return w->readback_running ? w->readback.event_fd : -EBADF;
}

int swu_slot_writer_finish(SwuSlotWriter *w)
{
	int r, k = 0;

	assert_return(w, -EINVAL);

	r = swu_slot_writer_close(w);
	if (w->readback_running)
		k = readback_join(&w->readback, r < 0, w->target);
	w->readback_running = false;
	w->finished = true;
	return r < 0 ? r : k;
}

SwuSlotWriter *swu_slot_writer_free(SwuSlotWriter *w)
{
	if (!w)
		return NULL;
	if (!w->finished) {
		if (w->readback_running)
			(void)readback_join(&w->readback, true, w->target);
		if (w->hashing && !w->closed)
			swu_verifier_payload_abandon(w->v);
	}
	free(w);
	return NULL;
}

static int write_chunk(void *userdata, const uint8_t *p, size_t n)
{
	return swu_slot_writer_write(userdata, p, n);
}

typedef struct Sink {
	SwuContext *ctx;
	int fd; /* -EBADF: read only */
	uint64_t offset;
} Sink;

/* Copies to the slot (when @fd is set) and stops early when the context is cancelled. */
static int sink_chunk(void *userdata, const uint8_t *p, size_t n)
{
	Sink *c = userdata;
	int r = 0;

	if (swu_context_cancelled(c->ctx))
		return -ECANCELED;
	if (c->fd >= 0) {
		swu_fault_point(c->ctx, "copy");
		r = swu_pwrite_all(c->fd, p, n, c->offset);
	}
	c->offset += n;
	return r;
}

/* Hashes @length bytes of @fd (copying them to @out_fd when set) and compares with @want. */
static int hash_range(SwuContext *ctx, int fd, int out_fd, const SwuTarget *want, bool *ret_equal)
{
	Sink sink = { ctx, out_fd, 0 };
	uint8_t digest[SWU_SHA256_SIZE];
	int r;

	r = swu_sha256_range(fd, 0, want->length, sink_chunk, &sink, digest);
	if (r >= 0)
		*ret_equal = memcmp(digest, want->sha256, SWU_SHA256_SIZE) == 0;
	return r;
}

/* fsync, then hash what the slot now holds and compare with the signed hash. */
static int read_back(SwuContext *ctx, const SwuInstallTarget *t, const SwuTarget *want)
{
	bool equal = false;
	int r;

	swu_fault_point(ctx, "fsync");
	if (fsync(t->fd) < 0)
		return swu_fail(ctx, -errno, "slot", "write", "cannot flush target '%s': %s",
				t->name, strerror(errno));
	/* On flash, read the medium, not the page cache we just filled. */
	if (t->block_device)
		(void)posix_fadvise(t->fd, 0, (off_t)want->length, POSIX_FADV_DONTNEED);
	swu_fault_point(ctx, "read-back");
	r = hash_range(ctx, t->fd, -EBADF, want, &equal);
	if (r < 0)
		return swu_fail(ctx, r, "slot", "read-back", "cannot read back target '%s': %s",
				t->name, strerror(-r));
	if (!equal)
		return swu_fail(ctx, -EIO, "slot", "read-back",
				"target '%s' reads back different from what was written", t->name);
	return 0;
}

static int copy_unchanged(SwuContext *ctx, const SwuInstallTarget *t, const SwuTarget *want)
{
	bool equal = false;
	int r;

	r = hash_range(ctx, t->active_fd, t->fd, want, &equal);
	if (r < 0)
		return swu_fail(ctx, r, "slot", "copy", "cannot copy unchanged target '%s': %s",
				t->name, strerror(-r));
	if (!equal)
		return swu_fail(ctx, -EBADMSG, "slot", "copy",
				"the active slot of '%s' does not hold the installed image",
				t->name);
	return read_back(ctx, t, want);
}

int swu_install_copy_unchanged(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *targets,
			       size_t n)
{
	const SwuTarget *list;
	size_t count;

	assert_return(ctx, -EINVAL);
	assert_return(v, -EINVAL);
	assert_return(targets || n == 0, -EINVAL);

	count = swu_verifier_get_targets(v, &list);
	for (size_t i = 0; i < count; i++) {
		const SwuInstallTarget *t;
		int r;

		if (list[i].present)
			continue;
		t = find(targets, n, list[i].name);
		if (!t)
			return -ENXIO;
		if (t->fd < 0)
			continue; /* kept nowhere: the installed one stays in the manifest */
		r = copy_unchanged(ctx, t, &list[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int swu_install_verify_slots(SwuContext *ctx, SwuVerifier *v, const SwuInstallTarget *targets,
			     size_t n)
{
	const SwuTarget *list;
	size_t count;

	assert_return(ctx, -EINVAL);
	assert_return(v, -EINVAL);
	assert_return(targets || n == 0, -EINVAL);

	count = swu_verifier_get_targets(v, &list);
	for (size_t i = 0; i < count; i++) {
		const SwuInstallTarget *t = find(targets, n, list[i].name);
		int r;

		if (t && t->fd < 0)
			continue;
		r = t ? read_back(ctx, t, &list[i]) : -ENXIO;
		if (r < 0)
			return swu_fail_wrap(ctx, r, "slot", "read-back",
					     "the slot of '%s' does not hold the verified image",
					     list[i].name);
	}
	return 0;
}

int swu_install_bundle(SwuContext *ctx, SwuBundle *b, SwuVerifier *v,
		       const SwuInstallTarget *targets, size_t n)
{
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(b, -EINVAL);
	assert_return(v, -EINVAL);
	assert_return(targets || n == 0, -EINVAL);

	for (size_t i = 0; i < b->n_payloads; i++) {
		const SwuPayload *p = &b->payloads[i];
		const SwuInstallTarget *t = find(targets, n, p->name);
		_cleanup_(swu_slot_writer_freep) SwuSlotWriter *w = NULL;

		if (!t) {
			/* Not a verified target (checked by swu_install_check()): never written. */
			if (!swu_verifier_find_target(v, p->name))
				continue;
			return -ENXIO;
		}
		r = swu_slot_writer_new(ctx, v, t, p->size, &w);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = swu_bundle_read_payload(b, p, write_chunk, w);
		if (r < 0)
			return r;
		r = swu_slot_writer_finish(w);
		if (r < 0)
			return r;
	}
	r = swu_install_copy_unchanged(ctx, v, targets, n);
	if (r < 0)
		return r;
	return swu_verifier_finish(v);
}
