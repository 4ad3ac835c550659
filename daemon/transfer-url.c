/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A whole bundle from a URL: streamed into the slots when its metadata comes first (as swu
 * writes bundles), else downloaded into StagingDirectory= and installed like a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "transfer.h"

static int stream_payload_begin(void *userdata, const SwuTarget *target)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	int r;

	/* The metadata verified (and a rotated root is kept) before the first payload byte. */
	r = swu_device_commit_root(t->ctx, &u->m->device, t->v);
	if (r >= 0)
		r = transfer_open_slots(u);
	if (r < 0)
		return r;
	r = transfer_begin_writer(u, target->name, target->length);
	return r > 0 ? -ENXIO : r;
}

static int stream_payload_data(void *userdata, const uint8_t *p, size_t n)
{
	return transfer_write(userdata, p, n);
}

static int stream_payload_end(void *userdata, const SwuTarget *target)
{
	return transfer_end_writer(userdata);
}

static const SwuStreamSink stream_sink = {
	.payload_begin = stream_payload_begin,
	.payload_data = stream_payload_data,
	.payload_end = stream_payload_end,
};

static int stream_data(void *userdata, long status, const void *p, size_t n)
{
	Updater *u = userdata;
	Transfer *t = u->transfer;
	int r;

	r = swu_stream_feed(t->stream, p, n);
	if (r == -ESPIPE)
		t->restage = true;
	return r;
}

static int staging_data(void *userdata, long status, const void *p, size_t n)
{
	Updater *u = userdata;

	return swu_write_all(u->transfer->staging_fd, p, n);
}

uint64_t transfer_bundle_cap(const uint64_t *slot_sizes, size_t n, uint64_t max_bundle_size)
{
	/* All metadata of a bundle together stays under this (the reader's own bound). */
	uint64_t cap = SWU_METADATA_TOTAL_FACTOR * (uint64_t)SWU_METADATA_MAX_DEFAULT;

	for (size_t i = 0; i < n; i++)
		cap = slot_sizes[i] > UINT64_MAX - cap ? UINT64_MAX : cap + slot_sizes[i];
	return max_bundle_size ? MIN(cap, max_bundle_size) : cap;
}

/*
 * The most bytes a whole bundle from a URL may bring, streamed or staged: what the inactive slots
 * can take (block devices too) plus its metadata, and at most MaxBundleSize=.
 */
static int bundle_cap(Updater *u, SwuContext *ctx, uint64_t *ret)
{
	const Config *c = u->m->config;
	_cleanup_free_ uint64_t *sizes = calloc(c->n_slots + 1, sizeof(uint64_t));
	size_t n = 0;
	int r;

	if (!sizes)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_slots; i++) {
		if (c->slots[i].name != manager_target_slot(u->m))
			continue;
		r = swu_slot_size(ctx, c->slots[i].device, &sizes[n++]);
		if (r < 0)
			return r;
	}
	*ret = transfer_bundle_cap(sizes, n, c->max_bundle_size);
	return 0;
}

/* A download that ended without a verdict of ours: the server or the network failed. */
static int download_failed(Transfer *t, const FetchResult *res)
{
	if (res->error < 0)
		return swu_fail(t->ctx, res->error, "server", "download", "%s", res->message);
	return swu_fail(t->ctx, -EREMOTEIO, "server", "status", "HTTP status %ld", res->status);
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
		updater_abandon(u, updater_result_of(res->error), download_failed(t, res),
				"Install from %s failed", u->source);
		return;
	}
	snprintf(path, sizeof(path), "%s", t->staging_path);
	t->staging_path[0] = 0; /* keep the file until it is open */
	u->transfer = transfer_free(t);
	u->state = UPDATER_INACTIVE;
	r = transfer_begin_file(u, path, verify, apply);
	unlink(path);
	if (r < 0 && !u->transfer)
		updater_finish(u, updater_result_of(r));
}

static int start_staging(Updater *u)
{
	const Config *c = u->m->config;
	Transfer *t = u->transfer;
	FetchRequest req = {
		.url = t->url, .on_data = staging_data, .on_done = staging_done, .userdata = u
	};
	int r;

	r = bundle_cap(u, t->ctx, &req.max_bytes);
	if (r < 0)
		return r;
	r = swu_mkdir_p(c->staging_dir, 0700);
	if (r >= 0) {
		snprintf(t->staging_path, sizeof(t->staging_path), "%s/bundle.XXXXXX",
			 c->staging_dir);
		t->staging_fd = mkostemp(t->staging_path, O_CLOEXEC);
		r = t->staging_fd < 0 ? -errno : 0;
		if (r < 0)
			t->staging_path[0] = 0;
	}
	if (r < 0)
		return swu_fail(t->ctx, r, "staging", "file",
				"cannot stage the download in '%s': %s", c->staging_dir,
				strerror(-r));
	log_info("The bundle at %s cannot be verified while it streams: staging it in '%s'", t->url,
		 c->staging_dir);
	return fetch_start(u->fetch, &req, &t->job);
}

static void stream_done(void *userdata, const FetchResult *res)
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
			updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Cannot stage the bundle");
		return;
	}
	if (r == 0 && res->status != 200) {
		updater_abandon(u, RESULT_TRANSFER_FAILED, download_failed(t, res),
				"Install from %s failed", u->source);
		return;
	}
	if (r == 0)
		r = swu_stream_finish(t->stream);
	if (r == 0)
		r = swu_device_commit_root(t->ctx, &u->m->device, t->v);
	if (r == 0)
		r = transfer_open_slots(u);
	if (r < 0) {
		bool ours = swu_context_get_failure(t->ctx)->error == r;
		/* A rotated root that passed rule 2 is kept, whatever happens to the bundle. */
		int k = swu_device_commit_root(t->ctx, &u->m->device, t->v);

		if (k < 0)
			r = k;
		else if (!ours) /* no verdict of ours: the server or the network failed */
			r = download_failed(t, res);
		updater_abandon(u, updater_result_of(r), r, "Install from %s failed", u->source);
		return;
	}
	transfer_done(u);
}

int transfer_begin_url(Updater *u, const char *url, bool verify, bool apply)
{
	_cleanup_(transfer_freep) Transfer *t = NULL;
	FetchRequest req = {
		.url = url, .on_data = stream_data, .on_done = stream_done, .userdata = u
	};
	int r;

	r = transfer_new(u, TRANSFER_URL, verify, apply, &t);
	if (r < 0)
		return updater_fail(u, NULL, r, "Cannot install");
	snprintf(t->url, sizeof(t->url), "%s", url);
	r = bundle_cap(u, t->ctx, &req.max_bytes);
	if (r >= 0)
		r = swu_device_verifier(t->ctx, &u->m->device, &t->v);
	if (r >= 0)
		r = swu_stream_new(t->ctx, t->v, &stream_sink, u, &t->stream);
	if (r < 0)
		return updater_fail(u, t->ctx, r, "Cannot install");
	snprintf(u->current_target, sizeof(u->current_target), "bundle");
	transfer_attach(u, TAKE_PTR(t));
	r = fetch_start(u->fetch, &req, &u->transfer->job);
	if (r < 0)
		updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Cannot start the download");
	return 0;
}
