/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "metadata.h"
#include "release.h"
#include "roots.h"
#include "url.h"
#include "wire.h"

struct RootWalk {
	Manager *m;
	SwuContext *ctx;
	Fetch *fetch;
	char *server;
	unsigned timeout_sec;
	SwuVerifier *v;	    /* the device's verifier, walked link by link */
	uint32_t next, top; /* the version fetched next; the metadata's root version */
	uint32_t from, end; /* the version trusted before the walk; the first one not fetched */
	char *url;
	char *shown_url; /* @url as messages show it (url_redact(): Server= may carry secrets) */
	FetchJob *job;
	SwuBuf body;
	RootWalkDone done;
	void *userdata;
};

RootWalk *root_walk_free(RootWalk *w)
{
	if (!w)
		return NULL;
	fetch_cancel(w->job);
	swu_buf_done(&w->body);
	swu_verifier_free(w->v);
	swu_context_unref(w->ctx);
	free(w->server);
	free(w->url);
	free(w->shown_url);
	free(w);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(RootWalk *, root_walk_free);

static int fetch_next(RootWalk *w);

/* One fetched root: the version its name says, one rotation from the root trusted now, kept. */
static int take_root(RootWalk *w, const FetchResult *res)
{
	SwuRootLink link = { w->body.data, w->body.size };
	int r;

	if (res->error < 0)
		return swu_fail(w->ctx, res->error, "server", "roots", "cannot fetch %s: %s",
				w->shown_url, res->message);
	if (res->status == 404 || res->status == 410) {
		/*
		 * No root of that version: versions may be skipped where the older root signed the
		 * newer one (rule 2), so the walk goes on. If the gap was not such a rotation, the
		 * next hop, or the release's own root, fails rule 2 and says so.
		 */
		log_info("No root of version %u at %s (HTTP status %ld): going on with version %u",
			 w->next, w->shown_url, res->status, w->next + 1);
		return 0;
	}
	if (res->status != 200)
		return swu_fail(w->ctx, -EREMOTEIO, "server", "roots",
				"cannot fetch %s: HTTP status %ld", w->shown_url, res->status);
	if (swu_root_version(w->ctx, link.data, link.size) != w->next)
		return swu_fail(w->ctx, -EBADMSG, "root", "chain",
				"%s is not root metadata of version %u", w->shown_url, w->next);
	r = swu_verifier_check_root_chain(w->v, &link, 1, NULL, 0);
	if (r < 0)
		return r;
	/* Kept at once: a later hop that fails keeps this one. */
	return swu_device_commit_root(w->ctx, &w->m->device, w->v);
}

static int walk_data(void *userdata, long status, const void *p, size_t n)
{
	RootWalk *w = userdata;

	return swu_buf_append(&w->body, p, n);
}

static void walk_done(void *userdata, const FetchResult *res)
{
	RootWalk *w = userdata;
	int r;

	w->job = NULL;
	r = take_root(w, res);
	swu_buf_done(&w->body);
	if (r >= 0) {
		w->next++;
		r = fetch_next(w);
		if (r > 0)
			return; /* the next root is on its way */
	}
	/* A part of a longer walk: what it took is kept, the next poll goes on from there. */
	if (r >= 0 && w->end < w->top)
		r = swu_fail(w->ctx, -EBADMSG, "root", "chain",
			     "root metadata version %u is %u rotations ahead of trusted "
			     "version %u: took the roots up to version %u, at most %u in one "
			     "poll; the next poll goes on from there",
			     w->top, w->top - w->from, w->from, swu_verifier_get_root_version(w->v),
			     SWU_ROOT_HOPS_MAX);
	w->done(w->userdata, r < 0 ? r : 0);
}

/* 1: a fetch started, 0: every root is there, <0: failed (recorded). */
static int fetch_next(RootWalk *w)
{
	FetchRequest req = {
		.max_bytes = SWU_ROOT_LINK_MAX,
		.timeout_sec = w->timeout_sec,
		.on_data = walk_data,
		.on_done = walk_done,
		.userdata = w,
	};
	int r;

	if (w->next >= w->end)
		return 0;
	free(w->url);
	w->shown_url = mfree(w->shown_url);
	if (asprintf(&w->url, "%s/roots/%u.pb", w->server, w->next) < 0) {
		w->url = NULL;
		return -ENOMEM;
	}
	r = url_redact(w->url, &w->shown_url);
	if (r < 0)
		return r;
	req.url = w->url;
	r = fetch_start(w->fetch, &req, &w->job);
	if (r < 0)
		return swu_fail(w->ctx, r, "server", "roots", "cannot fetch %s: %s", w->shown_url,
				strerror(-r));
	return 1;
}

int root_walk_start(Manager *m, SwuContext *ctx, Fetch *fetch, const char *server,
		    unsigned timeout_sec, const uint8_t *data, size_t size, RootWalkDone done,
		    void *userdata, RootWalk **ret)
{
	_cleanup_(root_walk_freep) RootWalk *w = NULL;
	_cleanup_close_ int fd = -EBADF;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	uint32_t trusted;
	int r;

	assert_return(m && ctx && fetch && server && done && ret, -EINVAL);
	assert_return(data || size == 0, -EINVAL);
	*ret = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (RootWalk){ .m = m,
			 .ctx = swu_context_ref(ctx),
			 .fetch = fetch,
			 .timeout_sec = timeout_sec,
			 .done = done,
			 .userdata = userdata,
			 .server = strdup(server) };
	if (!w->server)
		return -ENOMEM;
	/* Metadata that does not open, or whose own chain fails, is the release's verdict. */
	if (release_memory_bundle(ctx, data, size, &fd, &b) < 0 || !b->root ||
	    swu_device_verifier(ctx, &m->device, &w->v) < 0 ||
	    swu_verifier_check_root_chain(w->v, b->chain, b->n_chain, NULL, 0) < 0) {
		swu_context_clear_failure(ctx);
		return 0;
	}
	r = swu_device_commit_root(ctx, &m->device, w->v);
	if (r < 0)
		return r;
	trusted = swu_verifier_get_root_version(w->v);
	w->top = swu_root_version(ctx, b->root, b->root_size);
	if (w->top <= trusted + 1)
		return 0;
	/*
	 * Bounded before anything is fetched: at most SWU_ROOT_HOPS_MAX rotations in one poll. A
	 * device further behind (asleep through many rotations) takes that many, each kept, and
	 * the next poll goes on from the last: it catches up over polls, never beyond what the
	 * channel's roots sign, and a server that claims a root far ahead costs it no more than
	 * that many requests a poll.
	 */
	w->from = trusted;
	w->next = trusted + 1;
	w->end = w->top - trusted > SWU_ROOT_HOPS_MAX ? trusted + SWU_ROOT_HOPS_MAX + 1 : w->top;
	r = fetch_next(w);
	if (r <= 0)
		return r;
	*ret = TAKE_PTR(w);
	return 1;
}
