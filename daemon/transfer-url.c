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
#include "sdboot.h"
#include "transfer-source.h"
#include "transfer.h"
#include "url.h"

typedef struct UrlSource {
	Transfer *t;
	char *url;   /* for the request */
	char *shown; /* for messages: url_redact() */
	FetchJob *job;
	SwuStream *stream;
	bool restage; /* the stream cannot be verified in order: stage it */
	uint64_t cap; /* the most bytes the bundle may bring, streamed or staged */
	int staging_fd;
	char *staging_path; /* removed once the staged bundle is open */
	int fd;
	SwuBundle *b; /* the staged bundle */
	BundleReader *reader;
} UrlSource;

static int stream_payload_begin(void *userdata, const SwuTarget *target)
{
	UrlSource *src = userdata;
	Transfer *t = src->t;
	int r;

	/* The metadata verified (and a rotated root is kept) before the first payload byte. */
	r = swu_device_commit_root(transfer_context(t), &transfer_manager(t)->device,
				   transfer_verifier(t));
	if (r >= 0)
		r = transfer_open_slots(t, NULL);
	if (r < 0)
		return r;
	r = transfer_begin_writer(t, target->name, target->length, true);
	return r > 0 ? -ENXIO : r;
}

static int stream_payload_data(void *userdata, const uint8_t *p, size_t n)
{
	UrlSource *src = userdata;

	return transfer_write(src->t, p, n);
}

static int stream_payload_end(void *userdata, const SwuTarget *target)
{
	UrlSource *src = userdata;

	return transfer_end_writer(src->t);
}

static const SwuStreamSink stream_sink = {
	.payload_begin = stream_payload_begin,
	.payload_data = stream_payload_data,
	.payload_end = stream_payload_end,
};

static int stream_data(void *userdata, long status, const void *p, size_t n)
{
	UrlSource *src = userdata;
	int r;

	r = swu_stream_feed(src->stream, p, n);
	if (r == -ESPIPE)
		src->restage = true;
	return r;
}

static int staging_data(void *userdata, long status, const void *p, size_t n)
{
	UrlSource *src = userdata;

	return swu_write_all(src->staging_fd, p, n);
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
static int bundle_cap(Manager *m, SwuContext *ctx, uint64_t *ret)
{
	const Config *c = m->config;
	_cleanup_free_ uint64_t *sizes = calloc(c->n_slots + 1, sizeof(uint64_t));
	size_t n = 0;
	int r;

	if (!sizes)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_slots; i++) {
		if (c->slots[i].name != manager_target_slot(m))
			continue;
		if (c->slots[i].boot_entry) {
			SwuBootConfig boot = config_boot(c);

			r = swu_sdboot_capacity(ctx, &boot, c->slots[i].name, &sizes[n++]);
		} else
			r = swu_slot_size(ctx, c->slots[i].device, &sizes[n++]);
		if (r < 0)
			return r;
	}
	*ret = transfer_bundle_cap(sizes, n, c->max_bundle_size);
	return 0;
}

/* A download that ended without a verdict of ours: the server or the network failed. */
static int download_failed(UrlSource *src, const FetchResult *res)
{
	SwuContext *ctx = transfer_context(src->t);

	if (res->error < 0)
		return swu_fail(ctx, res->error, "server", "download", "%s", res->message);
	return swu_fail(ctx, -EREMOTEIO, "server", "status", "HTTP status %ld%s", res->status,
			fetch_status_hint(transfer_config(src->t), src->url, res->status));
}

/* The staged bundle, opened and verified like a file, then read into the slots. */
static void install_staged(UrlSource *src)
{
	Transfer *t = src->t;
	SwuContext *ctx = transfer_context(t);
	Manager *m = transfer_manager(t);
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	int r;

	r = swu_bundle_open_path(ctx, src->staging_path, &src->fd, &src->b);
	(void)unlink(src->staging_path); /* open or not, it is not needed any more */
	src->staging_path = mfree(src->staging_path);
	if (r >= 0)
		r = swu_device_verifier(ctx, &m->device, &v);
	if (r >= 0)
		r = swu_device_check_metadata(ctx, &m->device, v, src->b);
	if (r < 0)
		return transfer_fail(t, update_result_of(r), r, "Bundle rejected");
	/* The stream may have written payloads before it met what it could not verify in order. */
	r = transfer_restart(t, TAKE_PTR(v));
	if (r >= 0)
		r = transfer_open_slots(t, src->b);
	if (r < 0)
		return transfer_fail(t, RESULT_TRANSFER_FAILED, r, "Cannot install");
	r = bundle_reader_new(t, src->b, &src->reader);
	if (r < 0)
		transfer_fail(t, RESULT_TRANSFER_FAILED, r, "Cannot schedule the install");
}

static void staging_done(void *userdata, const FetchResult *res)
{
	UrlSource *src = userdata;

	src->job = NULL;
	src->staging_fd = safe_close(src->staging_fd);
	if (res->error < 0 || res->status != 200)
		return transfer_fail(src->t, update_result_of(res->error),
				     download_failed(src, res), "Install from %s failed",
				     src->shown);
	install_staged(src);
}

static int start_staging(UrlSource *src)
{
	Transfer *t = src->t;
	const Config *c = transfer_config(t);
	SwuContext *ctx = transfer_context(t);
	FetchRequest req = { .url = src->url,
			     .max_bytes = src->cap,
			     .on_data = staging_data,
			     .on_done = staging_done,
			     .userdata = src };
	int r;

	r = swu_mkdir_p(c->staging_dir, 0700);
	if (r >= 0 && asprintf(&src->staging_path, "%s/bundle.XXXXXX", c->staging_dir) < 0) {
		src->staging_path = NULL;
		r = -ENOMEM;
	}
	if (r >= 0) {
		src->staging_fd = mkostemp(src->staging_path, O_CLOEXEC);
		if (src->staging_fd < 0) {
			r = -errno;
			src->staging_path = mfree(src->staging_path);
		}
	}
	if (r < 0)
		return swu_fail(ctx, r, "staging", "file", "cannot stage the download in '%s': %s",
				c->staging_dir, strerror(-r));
	log_info("The bundle at %s cannot be verified while it streams: staging it in '%s'",
		 src->shown, c->staging_dir);
	return fetch_start(transfer_fetch(t), &req, &src->job);
}

static void stream_done(void *userdata, const FetchResult *res)
{
	UrlSource *src = userdata;
	Transfer *t = src->t;
	SwuContext *ctx = transfer_context(t);
	Manager *m = transfer_manager(t);
	int r = res->error;

	src->job = NULL;
	if (src->restage) {
		/* Not verifiable in order: start over through StagingDirectory=. */
		src->stream = swu_stream_free(src->stream);
		r = start_staging(src);
		if (r < 0)
			transfer_fail(t, RESULT_TRANSFER_FAILED, r, "Cannot stage the bundle");
		return;
	}
	if (r == 0 && res->status != 200)
		return transfer_fail(t, RESULT_TRANSFER_FAILED, download_failed(src, res),
				     "Install from %s failed", src->shown);
	if (r == 0)
		r = swu_stream_finish(src->stream);
	if (r == 0)
		r = swu_device_commit_root(ctx, &m->device, transfer_verifier(t));
	if (r == 0)
		r = transfer_open_slots(t, NULL);
	if (r < 0) {
		bool ours = swu_context_get_failure(ctx)->error == r;
		/* A rotated root that passed rule 2 is kept, whatever happens to the bundle. */
		int k = swu_device_commit_root(ctx, &m->device, transfer_verifier(t));

		if (k < 0)
			r = k;
		else if (!ours) /* no verdict of ours: the server or the network failed */
			r = download_failed(src, res);
		return transfer_fail(t, update_result_of(r), r, "Install from %s failed",
				     src->shown);
	}
	transfer_written(t);
}

static int url_start(Transfer *t, void *userdata)
{
	UrlSource *src = userdata;
	FetchRequest req = { .url = src->url,
			     .max_bytes = src->cap,
			     .on_data = stream_data,
			     .on_done = stream_done,
			     .userdata = src };

	transfer_show_target(t, "bundle");
	return fetch_start(transfer_fetch(t), &req, &src->job);
}

static void url_free(void *userdata)
{
	UrlSource *src = userdata;

	fetch_cancel(src->job);
	swu_stream_free(src->stream);
	bundle_reader_free(src->reader);
	swu_bundle_free(src->b);
	safe_close(src->fd);
	safe_close(src->staging_fd);
	if (src->staging_path)
		(void)unlink(src->staging_path);
	free(src->staging_path);
	free(src->shown);
	free(src->url);
	free(src);
}

static const TransferSourceOps url_ops = {
	.start = url_start,
	.free = url_free,
};

int transfer_new_url(const TransferSetup *setup, const char *url, Transfer **ret)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(transfer_freep) Transfer *t = NULL;
	UrlSource *src;
	uint64_t cap;
	int r;

	assert_return(setup && setup->ctx && setup->manager && url && ret, -EINVAL);
	r = bundle_cap(setup->manager, setup->ctx, &cap);
	if (r >= 0)
		r = swu_device_verifier(setup->ctx, &setup->manager->device, &v);
	if (r < 0)
		return r;
	r = transfer_new(setup, url, &url_ops, TAKE_PTR(v), &t);
	if (r < 0)
		return r;
	src = calloc(1, sizeof(*src));
	if (!src)
		return -ENOMEM;
	*src = (UrlSource){
		.t = t, .cap = cap, .staging_fd = -EBADF, .fd = -EBADF, .url = strdup(url)
	};
	transfer_set_source(t, src);
	if (!src->url || url_redact(url, &src->shown) < 0)
		return -ENOMEM;
	r = swu_stream_new(setup->ctx, transfer_verifier(t), &stream_sink, src, &src->stream);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(t);
	return 0;
}
