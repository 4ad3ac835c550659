/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bundle file (USB stick, factory line): read in chunks, one per loop iteration. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "macro.h"
#include "transfer.h"

#define LOCAL_CHUNK (1024u * 1024u)

static void next_payload(Updater *u);

static int write_chunk(void *userdata, const uint8_t *p, size_t n)
{
	return transfer_write(userdata, p, n);
}

static int on_chunk(sd_event_source *s, void *userdata)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	uint64_t want = MIN((uint64_t)LOCAL_CHUNK, t->length - t->done);
	int r;

	if (want > 0) {
		r = swu_read_hashed(t->bundle->fd, t->payload->offset + t->done, want, NULL,
				    write_chunk, u);
		if (r == -ENODATA)
			r = swu_fail(t->ctx, -EIO, "bundle", "file",
				     "the bundle file shrank while reading payload '%s'",
				     t->payload->name);
		if (r < 0) {
			updater_abandon(u, updater_result_of(r), r, "Install failed");
			return 0;
		}
		if (t->done < t->length)
			return 0;
	}
	t->defer = sd_event_source_disable_unref(t->defer);
	r = transfer_end_writer(u);
	if (r < 0) {
		updater_abandon(u, RESULT_VERIFY_FAILED, r, "Install failed");
		return 0;
	}
	next_payload(u);
	return 0;
}

static void next_payload(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	while (t->index < t->bundle->n_payloads) {
		t->payload = &t->bundle->payloads[t->index++];
		r = transfer_begin_writer(u, t->payload->name, t->payload->size);
		if (r > 0)
			continue; /* not listed: never written */
		if (r < 0) {
			updater_abandon(u, RESULT_VERIFY_FAILED, r, "Bundle rejected");
			return;
		}
		/* One chunk per loop iteration: the bus and the watchdog stay served. */
		r = sd_event_add_defer(u->event, &t->defer, on_chunk, u);
		if (r >= 0)
			r = sd_event_source_set_enabled(t->defer, SD_EVENT_ON);
		if (r < 0)
			updater_abandon(u, RESULT_TRANSFER_FAILED, r,
					"Cannot schedule the install");
		return;
	}
	transfer_done(u);
}

int transfer_begin_file(Updater *u, const char *path, bool verify, bool apply)
{
	_cleanup_(transfer_freep) Transfer *t = NULL;
	int r;

	r = transfer_new(u, TRANSFER_FILE, verify, apply, &t);
	if (r < 0)
		return updater_fail(u, NULL, r, "Cannot install");
	r = swu_bundle_open_path(t->ctx, path, &t->fd, &t->bundle);
	if (r >= 0)
		r = swu_device_verifier(t->ctx, &u->m->device, &t->v);
	if (r >= 0)
		r = swu_device_check_metadata(t->ctx, &u->m->device, t->v, t->bundle);
	if (r < 0)
		return updater_fail(u, t->ctx, r, "Bundle rejected");
	transfer_attach(u, TAKE_PTR(t));
	r = transfer_open_slots(u);
	if (r < 0) {
		updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Cannot install");
		return r;
	}
	next_payload(u);
	return 0;
}
