/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bundle file (USB stick, factory line): read in chunks, one per loop iteration. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "transfer-source.h"
#include "transfer.h"

#define LOCAL_CHUNK (1024u * 1024u)

struct BundleReader {
	Transfer *t;
	const SwuBundle *b;
	size_t index; /* the next payload */
	const SwuPayload *payload;
	uint64_t done;
	sd_event_source *defer;
};

typedef struct FileSource {
	int fd;
	SwuBundle *b;
	BundleReader *reader;
} FileSource;

static int write_chunk(void *userdata, const uint8_t *p, size_t n)
{
	BundleReader *r = userdata;
	int k;

	k = transfer_write(r->t, p, n);
	if (k >= 0)
		r->done += n;
	return k;
}

/* The next payload that is a verified target, or transfer_written() after the last. */
static int next_payload(BundleReader *r)
{
	Transfer *t = r->t;
	int k;

	while (r->index < r->b->n_payloads) {
		r->payload = &r->b->payloads[r->index++];
		r->done = 0;
		k = transfer_begin_writer(t, r->payload->name, r->payload->size, false);
		if (k > 0)
			continue; /* not listed: never written */
		if (k < 0) {
			transfer_fail(t, RESULT_VERIFY_FAILED, k, "Bundle rejected");
			return k;
		}
		return 0;
	}
	r->payload = NULL;
	(void)sd_event_source_set_enabled(r->defer, SD_EVENT_OFF);
	transfer_written(t);
	return 0;
}

/* A chunk of the current payload, or its end and the next payload; <0 when it failed. */
static int read_step(BundleReader *r)
{
	Transfer *t = r->t;
	uint64_t want;
	int k;

	if (!r->payload)
		return next_payload(r);
	want = MIN((uint64_t)LOCAL_CHUNK, r->payload->size - r->done);
	if (want > 0) {
		k = swu_read_hashed(r->b->fd, r->payload->offset + r->done, want, NULL, write_chunk,
				    r);
		if (k == -ENODATA)
			k = swu_fail(transfer_context(t), -EIO, "bundle", "file",
				     "the bundle file shrank while reading payload '%s'",
				     r->payload->name);
		if (k < 0) {
			transfer_fail(t, update_result_of(k), k, "Install failed");
			return k;
		}
		if (r->done < r->payload->size)
			return 0;
	}
	k = transfer_end_writer(t);
	if (k < 0) {
		transfer_fail(t, RESULT_VERIFY_FAILED, k, "Install failed");
		return k;
	}
	return next_payload(r);
}

/* One chunk per loop iteration: the bus and the watchdog stay served. */
static int on_chunk(sd_event_source *s, void *userdata)
{
	BundleReader *r = userdata;

	if (read_step(r) < 0)
		(void)sd_event_source_set_enabled(r->defer, SD_EVENT_OFF);
	return 0;
}

int bundle_reader_new(Transfer *t, const SwuBundle *b, BundleReader **ret)
{
	BundleReader *r;
	int k;

	assert_return(t && b && ret, -EINVAL);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (BundleReader){ .t = t, .b = b };
	k = sd_event_add_defer(transfer_event(t), &r->defer, on_chunk, r);
	if (k >= 0)
		k = sd_event_source_set_enabled(r->defer, SD_EVENT_ON);
	if (k < 0) {
		bundle_reader_free(r);
		return k;
	}
	*ret = r;
	return 0;
}

BundleReader *bundle_reader_free(BundleReader *r)
{
	if (!r)
		return NULL;
	sd_event_source_disable_unref(r->defer);
	free(r);
	return NULL;
}

static int file_start(Transfer *t, void *userdata)
{
	FileSource *f = userdata;
	int r;

	r = transfer_open_slots(t, f->b);
	if (r < 0)
		return r;
	return bundle_reader_new(t, f->b, &f->reader);
}

static void file_free(void *userdata)
{
	FileSource *f = userdata;

	bundle_reader_free(f->reader);
	swu_bundle_free(f->b);
	safe_close(f->fd);
	free(f);
}

static const TransferSourceOps file_ops = {
	.start = file_start,
	.free = file_free,
};

int transfer_new_file(const TransferSetup *setup, const char *path, Transfer **ret)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(transfer_freep) Transfer *t = NULL;
	_cleanup_close_ int fd = -EBADF;
	SwuContext *ctx;
	FileSource *f;
	int r;

	assert_return(setup && setup->ctx && setup->manager && path && ret, -EINVAL);
	ctx = setup->ctx;
	r = swu_bundle_open_path(ctx, path, &fd, &b);
	if (r >= 0)
		r = swu_device_verifier(ctx, &setup->manager->device, &v);
	if (r >= 0)
		r = swu_device_check_metadata(ctx, &setup->manager->device, v, b);
	if (r < 0)
		return r;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	*f = (FileSource){ .fd = TAKE_FD(fd), .b = TAKE_PTR(b) };
	r = transfer_new(setup, path, &file_ops, TAKE_PTR(v), &t);
	if (r < 0) {
		file_free(f);
		return r;
	}
	transfer_set_source(t, f);
	*ret = TAKE_PTR(t);
	return 0;
}
