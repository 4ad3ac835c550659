/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The release a poll verified: each changed target's blob, by hash, resumed with Range. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "transfer.h"

int transfer_open_release(Updater *u, SwuContext *ctx, int *ret_fd, SwuBundle **ret_b,
			  SwuVerifier **ret_v)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	r = transfer_memory_bundle(ctx, u->poller.release, u->poller.release_size, &fd, &b);
	if (r >= 0)
		r = swu_device_verifier(ctx, &u->m->device, &v);
	if (r >= 0)
		r = swu_device_check_metadata(ctx, &u->m->device, v, b);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	*ret_b = TAKE_PTR(b);
	*ret_v = TAKE_PTR(v);
	return 0;
}

static void next_target(Updater *u);

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
	u->download_done += n;
	u->downloaded += n;
	return transfer_write(u, p, n);
}

static void blob_done(void *userdata, const FetchResult *res);

void transfer_blob_complete(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	r = transfer_end_writer(u);
	if (r < 0) {
		updater_abandon(u, RESULT_VERIFY_FAILED, r, "Download of '%s' rejected",
				u->current_target);
		return;
	}
	t->attempts = 0;
	next_target(u);
}

void transfer_fetch_blob(Updater *u)
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
	u->download_total = u->download_done + (t->length - t->done);
	r = fetch_start(u->fetch, &req, &t->job);
	if (r < 0)
		updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Cannot start the download");
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	Updater *u = userdata;

	u->transfer->retry = sd_event_source_disable_unref(u->transfer->retry);
	transfer_fetch_blob(u);
	return 0;
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
	if (res->error == 0 && (res->status == 200 || res->status == 206) && t->done == t->length)
		return transfer_blob_complete(u);
	/* Bytes that fail verification or exceed the signed length are never retried. */
	if (res->error == -EBADMSG || res->error == -EFBIG) {
		if (res->error == -EFBIG)
			(void)swu_fail(t->ctx, -EFBIG, "payload", "length", "%s", res->message);
		updater_abandon(u, RESULT_VERIFY_FAILED, res->error, "Download of '%s' rejected",
				u->current_target);
		return;
	}
	if (res->status == 404 || res->status == 403 || res->status == 410) {
		r = swu_fail(t->ctx, -EREMOTEIO, "server", "status", "HTTP status %ld",
			     res->status);
		updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Download of '%s' failed",
				u->current_target);
		return;
	}
	if (++t->attempts > c->retries) {
		r = swu_fail(t->ctx, res->error < 0 ? res->error : -EREMOTEIO, "server", "retries",
			     "failed after %u attempts: %s", t->attempts,
			     res->error < 0 ? res->message : "server error");
		updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Download of '%s' failed",
				u->current_target);
		return;
	}
	/* A server's Retry-After is honoured, up to the poll interval. */
	delay = MAX(USEC_PER_SEC << MIN(t->attempts - 1, 10u),
		    MIN(usec_from_sec(res->retry_after), usec_from_sec(c->poll_interval_sec)));
	log_warning("Download of '%s' interrupted at %llu of %llu bytes (%s); retry %u of %u in "
		    "%llu s",
		    u->current_target, (unsigned long long)t->done, (unsigned long long)t->length,
		    res->error < 0 ? res->message : "server error", t->attempts, c->retries,
		    (unsigned long long)(delay / USEC_PER_SEC));
	r = sd_event_add_time_relative(u->event, &t->retry, CLOCK_MONOTONIC, delay, 0, on_retry, u);
	if (r < 0)
		updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Cannot schedule a retry");
}

/* Starts the blob of @target into its slot: 1 when it has none to go to (nothing to fetch). */
static int begin_blob(Updater *u, const SwuTarget *target)
{
	Transfer *t = u->transfer;
	char hex[2 * SWU_SHA256_SIZE + 1];
	int r;

	r = transfer_begin_writer(u, target->name, target->length);
	if (r != 0)
		return r;
	swu_hex(target->sha256, SWU_SHA256_SIZE, hex);
	snprintf(t->blob_url, sizeof(t->blob_url), "%s/blobs/%s", u->m->config->server, hex);
	t->blob_etag[0] = 0;
	t->attempts = 0;
	return 0;
}

/*
 * The file a delta's index is downloaded into, made once and kept until an index goes into it.
 * Without one (no usable StagingDirectory=) no image of this transfer comes as a delta, and
 * indexes are ordinary targets again: downloaded and verified, kept nowhere.
 */
static bool index_file_ready(Updater *u, const SwuTarget *image)
{
	Transfer *t = u->transfer;
	const char *dir = u->m->config->staging_dir;
	int r;

	if (t->chunk_index_fd >= 0)
		return true;
	if (t->no_index_file)
		return false;
	r = swu_anon_file(dir, &t->chunk_index_fd);
	if (r < 0) {
		log_warning("Cannot keep the chunk index of '%s' in '%s' (%s): downloading it "
			    "whole",
			    image->name, dir, strerror(-r));
		t->no_index_file = true;
	}
	return r >= 0;
}

/* Whether @target comes as a delta, with @ret_index its chunk index. */
static bool as_delta(Updater *u, const SwuTarget *target, const SwuTarget **ret_index)
{
	return transfer_delta_wanted(u, target, ret_index) && !(*ret_index)->present &&
	       index_file_ready(u, target);
}

/* An index whose image comes as a delta: fetched just before the image, not in list order. */
static bool fetched_with_image(Updater *u, const SwuTarget *target)
{
	Transfer *t = u->transfer;
	_cleanup_free_ char *name = NULL;
	const SwuTarget *image, *it;

	if (!endswith(target->name, ".chunks"))
		return false;
	name = strndup(target->name, strlen(target->name) - strlen(".chunks"));
	image = name ? swu_verifier_find_target(t->v, name) : NULL;
	return image && !swu_verifier_target_installed(t->v, image->name) &&
	       as_delta(u, image, &it);
}

static void next_target(Updater *u)
{
	Transfer *t = u->transfer;
	const SwuTarget *list;
	size_t n = swu_verifier_get_targets(t->v, &list);
	int r;

	while (t->index < n) {
		const SwuTarget *target = &list[t->index], *it = NULL;

		/* Unchanged targets are copied from the active slot, never downloaded. */
		if (target->present || swu_verifier_target_installed(t->v, target->name) ||
		    fetched_with_image(u, target)) {
			t->index++;
			continue;
		}
		/* A delta needs its index first: downloaded, verified and kept in a file. */
		if (as_delta(u, target, &it) && t->chunk_index_for != it) {
			t->chunk_index_for = it;
			t->chunk_index_size = 0;
			r = begin_blob(u, it);
			if (r != 0)
				return updater_abandon(u, RESULT_TRANSFER_FAILED,
						       r < 0 ? r : -ENXIO, "Cannot write '%s'",
						       it->name);
			transfer_fetch_blob(u);
			return;
		}
		t->index++;
		r = begin_blob(u, target);
		if (r > 0)
			continue;
		if (r < 0)
			return updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Cannot write '%s'",
					       target->name);
		if (t->chunk_index_fd >= 0 && it && t->chunk_index_for == it &&
		    t->chunk_index_size == it->length) {
			t->chunk_index_for = NULL;
			r = transfer_delta_begin(u, target, it, TAKE_FD(t->chunk_index_fd),
						 t->chunk_index_size);
			if (r > 0)
				return;
			if (r < 0)
				return updater_abandon(u, RESULT_TRANSFER_FAILED, r,
						       "Cannot install '%s'", target->name);
		}
		t->chunk_index_fd = safe_close(t->chunk_index_fd);
		t->chunk_index_for = NULL;
		transfer_fetch_blob(u);
		return;
	}
	transfer_done(u);
}

int transfer_begin_server(Updater *u, bool verify, bool apply)
{
	_cleanup_(transfer_freep) Transfer *t = NULL;
	int r;

	r = transfer_new(u, TRANSFER_SERVER, verify, apply, &t);
	if (r < 0)
		return updater_fail(u, NULL, r, "Cannot install");
	snprintf(u->source, sizeof(u->source), "%s", u->m->config->server);
	r = manager_may_install(u->m, t->ctx);
	if (r < 0)
		return updater_fail(u, t->ctx, r, "Refusing to install");
	r = transfer_open_release(u, t->ctx, &t->fd, &t->bundle, &t->v);
	if (r < 0)
		return updater_fail(u, t->ctx, r, "Release rejected");
	transfer_attach(u, TAKE_PTR(t));
	r = transfer_open_slots(u);
	if (r < 0) {
		updater_abandon(u, RESULT_TRANSFER_FAILED, r, "Cannot install");
		return r;
	}
	next_target(u);
	return 0;
}
