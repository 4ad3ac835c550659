/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The release a poll verified: each changed target's blob, by hash, resumed with Range; a target
 * with a chunk index comes as a delta (transfer-delta.c), its index downloaded just before it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"
#include "transfer-delta.h"

typedef struct ServerSource {
	Transfer *t;
	char *server; /* Server= */
	int fd;
	SwuBundle *b; /* the release's metadata, in memory */
	size_t index; /* the next target */

	/* the blob being downloaded */
	const SwuTarget *target;
	char *blob_url;
	FetchJob *job;
	unsigned attempts;
	ClockTimer *retry;
	uint64_t skip; /* bytes of a resumed blob to drop when the server answers 200 */

	/*
	 * delta: the chunk index downloaded (and verified) just before its image, into an
	 * anonymous file in StagingDirectory= (not memory: 2.4 MB for a 4 GiB image), then the delta
	 */
	const SwuTarget *chunk_index_for;
	int chunk_index_fd;
	uint64_t chunk_index_size;
	bool no_index_file; /* StagingDirectory= is not usable: no deltas */
	Delta *delta;
} ServerSource;

static void next_target(ServerSource *s);

static int blob_data(void *userdata, long status, const void *p, size_t n)
{
	ServerSource *s = userdata;
	Transfer *t = s->t;
	int r;

	/* A resume answered in full (200): drop what we already have. */
	if (status == 200 && s->skip > 0) {
		size_t k = (size_t)MIN((uint64_t)n, s->skip);

		s->skip -= k;
		p = (const uint8_t *)p + k;
		n -= k;
		if (n == 0)
			return 0;
	}
	if (status == 206)
		s->skip = 0;
	transfer_count_download(t, n);
	/*
	 * A chunk index on its way to the delta of its image: kept as it is verified (into its
	 * file first: a failure there must not leave the writer ahead of what was received).
	 */
	if (s->chunk_index_fd >= 0 && s->chunk_index_for == s->target) {
		if (n > s->target->length - s->chunk_index_size)
			return -EFBIG;
		r = swu_pwrite_all(s->chunk_index_fd, p, n, s->chunk_index_size);
		if (r < 0)
			return r;
	}
	r = transfer_write(t, p, n);
	if (r < 0)
		return r;
	if (s->chunk_index_fd >= 0 && s->chunk_index_for == s->target)
		s->chunk_index_size += n;
	return 0;
}

/* The current target is written whole: close it, go on with the next. */
static void blob_complete(ServerSource *s)
{
	int r;

	r = transfer_end_writer(s->t);
	if (r < 0)
		return transfer_fail(s->t, RESULT_VERIFY_FAILED, r, "Download of '%s' rejected",
				     s->target->name);
	s->attempts = 0;
	next_target(s);
}

static void blob_done(void *userdata, const FetchResult *res);

/*
 * Downloads the current target's blob from the writer's offset on. A resume is a plain Range,
 * without If-Range: blobs are named by their hash and never change (the writer's hash decides
 * anyway), while their ETag may (published again, another mirror, Apache's weak ETag for a file
 * younger than a second): an If-Range that no longer matches gets the whole blob again.
 */
static void fetch_blob(ServerSource *s)
{
	Transfer *t = s->t;
	uint64_t done = transfer_offset(t);
	FetchRequest req = {
		.url = s->blob_url,
		.offset = done,
		.max_bytes = s->target->length,
		.on_data = blob_data,
		.on_done = blob_done,
		.userdata = s,
	};
	int r;

	s->skip = done;
	transfer_expect_download(t, s->target->length - done);
	r = fetch_start(transfer_fetch(t), &req, &s->job);
	if (r < 0)
		transfer_fail(t, RESULT_TRANSFER_FAILED, r, "Cannot start the download");
}

static void on_retry(void *userdata)
{
	fetch_blob(userdata);
}

static void blob_done(void *userdata, const FetchResult *res)
{
	ServerSource *s = userdata;
	Transfer *t = s->t;
	const Config *c = transfer_config(t);
	SwuContext *ctx = transfer_context(t);
	uint64_t delay, done = transfer_offset(t);
	int r;

	s->job = NULL;
	if (transfer_failed(t))
		return;
	/* Bytes that fail verification or exceed the signed length are never retried. */
	if (res->error == -EBADMSG || res->error == -EFBIG) {
		if (res->error == -EFBIG)
			(void)swu_fail(ctx, -EFBIG, "payload", "length", "%s", res->message);
		return transfer_fail(t, RESULT_VERIFY_FAILED, res->error,
				     "Download of '%s' rejected", s->target->name);
	}
	/* Every byte is there, even when the connection failed only after the last one (a resume
	 * would be answered 416): the writer's hash has the last word. */
	if (done == s->target->length)
		return blob_complete(s);
	if (res->status == 404 || res->status == 403 || res->status == 410) {
		r = swu_fail(ctx, -EREMOTEIO, "server", "status", "HTTP status %ld", res->status);
		return transfer_fail(t, RESULT_TRANSFER_FAILED, r, "Download of '%s' failed",
				     s->target->name);
	}
	if (++s->attempts > c->retries) {
		r = swu_fail(ctx, res->error < 0 ? res->error : -EREMOTEIO, "server", "retries",
			     "failed after %u attempts: %s", s->attempts,
			     res->error < 0 ? res->message : "server error");
		return transfer_fail(t, RESULT_TRANSFER_FAILED, r, "Download of '%s' failed",
				     s->target->name);
	}
	/* A server's Retry-After is honoured, up to the poll interval. */
	delay = MAX(USEC_PER_SEC << MIN(s->attempts - 1, 10u),
		    MIN(usec_from_sec(res->retry_after), usec_from_sec(c->poll_interval_sec)));
	log_warning("Download of '%s' interrupted at %llu of %llu bytes (%s); retry %u of %u in "
		    "%llu s",
		    s->target->name, (unsigned long long)done,
		    (unsigned long long)s->target->length,
		    res->error < 0 ? res->message : "server error", s->attempts, c->retries,
		    (unsigned long long)(delay / USEC_PER_SEC));
	r = s->retry ? 0 : clock_timer_new(transfer_clock(t), 0, on_retry, s, &s->retry);
	if (r >= 0)
		r = clock_timer_set_relative(s->retry, delay);
	if (r < 0)
		transfer_fail(t, RESULT_TRANSFER_FAILED, r, "Cannot schedule a retry");
}

/* Starts the blob of @target into its slot: 1 when it has none to go to (nothing to fetch). */
static int begin_blob(ServerSource *s, const SwuTarget *target)
{
	char hex[2 * SWU_SHA256_SIZE + 1];
	int r;

	r = transfer_begin_writer(s->t, target->name, target->length, false);
	if (r != 0)
		return r;
	s->target = target;
	swu_hex(target->sha256, SWU_SHA256_SIZE, hex);
	free(s->blob_url);
	if (asprintf(&s->blob_url, "%s/blobs/%s", s->server, hex) < 0) {
		s->blob_url = NULL;
		return -ENOMEM;
	}
	s->attempts = 0;
	return 0;
}

/*
 * The file a delta's index is downloaded into, made once and kept until an index goes into it.
 * Without one (no usable StagingDirectory=) no image of this transfer comes as a delta, and
 * indexes are ordinary targets again: downloaded and verified, kept nowhere.
 */
static bool index_file_ready(ServerSource *s, const SwuTarget *image)
{
	const char *dir = transfer_config(s->t)->staging_dir;
	int r;

	if (s->chunk_index_fd >= 0)
		return true;
	if (s->no_index_file)
		return false;
	r = swu_anon_file(dir, &s->chunk_index_fd);
	if (r < 0) {
		log_warning("Cannot keep the chunk index of '%s' in '%s' (%s): downloading it "
			    "whole",
			    image->name, dir, strerror(-r));
		s->no_index_file = true;
	}
	return r >= 0;
}

/* Whether @target comes as a delta, with @ret_index its chunk index. */
static bool as_delta(ServerSource *s, const SwuTarget *target, const SwuTarget **ret_index)
{
	return delta_wanted(s->t, target, ret_index) && !(*ret_index)->present &&
	       index_file_ready(s, target);
}

/* An index whose image comes as a delta: fetched just before the image, not in list order. */
static bool fetched_with_image(ServerSource *s, const SwuTarget *target)
{
	SwuVerifier *v = transfer_verifier(s->t);
	_cleanup_free_ char *name = NULL;
	const SwuTarget *image, *it;

	if (!endswith(target->name, ".chunks"))
		return false;
	name = strndup(target->name, strlen(target->name) - strlen(".chunks"));
	image = name ? swu_verifier_find_target(v, name) : NULL;
	return image && !swu_verifier_target_installed(v, image->name) && as_delta(s, image, &it);
}

/* The end of a delta: the target is whole, or the rest of it comes from the blob. */
static void delta_done(void *userdata, bool complete)
{
	ServerSource *s = userdata;

	s->delta = delta_free(s->delta);
	/* Everything written already (a range went wrong after the last chunk): nothing to fetch. */
	if (complete || transfer_offset(s->t) == s->target->length)
		return blob_complete(s);
	fetch_blob(s);
}

/* With the verified index of @target in its file: the delta, else the blob. */
static void begin_target(ServerSource *s, const SwuTarget *target, const SwuTarget *it)
{
	int r;

	if (s->chunk_index_fd >= 0 && it && s->chunk_index_for == it &&
	    s->chunk_index_size == it->length) {
		s->chunk_index_for = NULL;
		r = delta_new(s->t, s->server, target, it, TAKE_FD(s->chunk_index_fd),
			      s->chunk_index_size, delta_done, s, &s->delta);
		if (r > 0)
			return;
		if (r < 0)
			return transfer_fail(s->t, RESULT_TRANSFER_FAILED, r, "Cannot install '%s'",
					     target->name);
	}
	s->chunk_index_fd = safe_close(s->chunk_index_fd);
	s->chunk_index_for = NULL;
	fetch_blob(s);
}

static void next_target(ServerSource *s)
{
	const SwuTarget *list;
	size_t n = swu_verifier_get_targets(transfer_verifier(s->t), &list);
	SwuVerifier *v = transfer_verifier(s->t);
	int r;

	while (s->index < n) {
		const SwuTarget *target = &list[s->index], *it = NULL;

		/* Unchanged targets are copied from the active slot, never downloaded. */
		if (target->present || swu_verifier_target_installed(v, target->name) ||
		    fetched_with_image(s, target)) {
			s->index++;
			continue;
		}
		/* A delta needs its index first: downloaded, verified and kept in a file. */
		if (as_delta(s, target, &it) && s->chunk_index_for != it) {
			s->chunk_index_for = it;
			s->chunk_index_size = 0;
			r = begin_blob(s, it);
			if (r != 0)
				return transfer_fail(s->t, RESULT_TRANSFER_FAILED,
						     r < 0 ? r : -ENXIO, "Cannot write '%s'",
						     it->name);
			return fetch_blob(s);
		}
		s->index++;
		r = begin_blob(s, target);
		if (r > 0)
			continue;
		if (r < 0)
			return transfer_fail(s->t, RESULT_TRANSFER_FAILED, r, "Cannot write '%s'",
					     target->name);
		return begin_target(s, target, it);
	}
	s->target = NULL;
	transfer_written(s->t);
}

static int server_start(Transfer *t, void *userdata)
{
	ServerSource *s = userdata;
	int r;

	r = transfer_open_slots(t, NULL);
	if (r < 0)
		return r;
	next_target(s);
	return 0;
}

static void server_free(void *userdata)
{
	ServerSource *s = userdata;

	delta_free(s->delta);
	fetch_cancel(s->job);
	clock_timer_free(s->retry);
	safe_close(s->chunk_index_fd);
	swu_bundle_free(s->b);
	safe_close(s->fd);
	free(s->blob_url);
	free(s->server);
	free(s);
}

static const TransferSourceOps server_ops = {
	.start = server_start,
	.free = server_free,
};

int transfer_new_server(const TransferSetup *setup, const Release *release, Transfer **ret)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(transfer_freep) Transfer *t = NULL;
	_cleanup_close_ int fd = -EBADF;
	const char *server;
	ServerSource *s;
	int r;

	assert_return(setup && setup->ctx && setup->manager && release && ret, -EINVAL);
	server = setup->manager->config->server;
	assert_return(server, -EINVAL);
	r = release_open(release, setup->manager, setup->ctx, &fd, &b, &v);
	if (r < 0)
		return r;
	r = transfer_new(setup, server, &server_ops, TAKE_PTR(v), &t);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (ServerSource){ .t = t,
			     .server = strdup(server),
			     .fd = TAKE_FD(fd),
			     .b = TAKE_PTR(b),
			     .chunk_index_fd = -EBADF };
	transfer_set_source(t, s);
	if (!s->server)
		return -ENOMEM;
	*ret = TAKE_PTR(t);
	return 0;
}
