/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * HTTP(S) transfers with libcurl's multi interface driven by sd-event: no threads, nothing
 * blocks the loop. Bodies stream to a callback and are capped; headers give the ETag and
 * Retry-After; resumes use Range and If-Range.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <systemd/sd-event.h>

#include "conf.h"

typedef struct Fetch Fetch;
typedef struct FetchJob FetchJob;

typedef struct FetchResult {
	int error;		/* 0, or -errno (network failures mapped once from curl codes) */
	long status;		/* HTTP status, 0 when none arrived */
	char etag[128];		/* the response's ETag: printable ASCII, whole, or "" */
	char last_modified[64]; /* its Last-Modified: the same */
	uint64_t retry_after;	/* seconds from Retry-After, 0 when none */
	int64_t date;		/* the server's Date (seconds since the epoch), 0 when none */
	uint64_t received;	/* body bytes delivered */
	char message[256];	/* what went wrong, for operators */
} FetchResult;

#define FETCH_HOLD 1

typedef struct FetchRequest {
	const char *url;
	const char *if_none_match; /* ETag of what we have, or NULL */
	/* Last-Modified of what we have, or NULL: for servers without ETags (sent with no ETag) */
	const char *if_modified_since;
	uint64_t offset; /* resume at this byte (Range), 0: from the start */
	uint64_t length; /* with offset: only this many bytes (Range: offset-end) */
	/* with offset: the ETag the partial bytes came from, where a URL's content may change (not
	 * for blobs and chunk stores: named by their hash, resumed with a plain Range) */
	const char *if_range;
	uint64_t max_bytes;   /* the whole resource may not exceed this (0: unlimited) */
	unsigned timeout_sec; /* the whole request may not take longer (0: no limit) */
	/* libcurl's receive buffer: 0 is 64 KiB (one slot write per 64 KiB of a long stream) */
	unsigned buffer_size;
	/*
	 * Body bytes of a 200 or 206 response (@status). A resume may be answered with 200 and the
	 * whole resource (a server that ignores Range): the caller skips what it has. A 206 always
	 * starts at @offset. Return <0 to stop with that error, FETCH_HOLD to pause the transfer
	 * (the request has paid its round trip; the rest of the body waits at the server) until
	 * fetch_resume(), which hands the same bytes again.
	 */
	int (*on_data)(void *userdata, long status, const void *p, size_t n);
	void (*on_done)(void *userdata, const FetchResult *result);
	void *userdata;
} FetchRequest;

/*
 * Retry-After: delay-seconds or an HTTP-date (relative to @now), in seconds, saturating; 0 when
 * it does not parse or lies in the past. Callers clamp it to their own limits.
 */
uint64_t fetch_parse_retry_after(const char *value, time_t now);

/*
 * What a server controls at the HTTP layer, read by pure functions that tests/fuzz/fuzz-http.c
 * fuzzes: the header lines of a response, and the body bytes it may bring.
 */
typedef struct FetchHeaderState {
	bool have_range;      /* the response carried Content-Range */
	uint64_t range_start; /* its first byte */
} FetchHeaderState;

/*
 * One header line of a response, as libcurl hands it (with its CRLF, not NUL-terminated): a
 * status line starts a new response (after a redirect); ETag and Last-Modified are kept in @res
 * when whole and printable ASCII (they go back into requests), Retry-After as seconds from @now,
 * Content-Range's first byte in @st. Anything else is ignored.
 */
void fetch_parse_header(FetchResult *res, FetchHeaderState *st, const char *line, size_t len,
			time_t now);

/*
 * Whether @n more body bytes of a 200 or 206 answer (@res->status) to @req may reach the caller,
 * @res->received bytes having done so: 0, or -EPROTO (a 206 that does not start at the offset
 * asked for) or -EFBIG (beyond @req->max_bytes: the whole resource for a 200, the rest from the
 * offset for a 206), the sentence in @res->message naming @shown (the URL as shown).
 */
int fetch_check_body(const FetchRequest *req, const FetchHeaderState *st, FetchResult *res,
		     const char *shown, size_t n);

/*
 * An HTTP client: libcurl on sd-event (fetch_curl_new()), or a test's own (tests/fake.c), so
 * the poller and the transfers are tested without a server.
 */
typedef struct FetchOps {
	int (*start)(Fetch *f, const FetchRequest *req, FetchJob **ret);
	void (*cancel)(FetchJob *job);
	void (*resume)(FetchJob *job);
	void (*free)(Fetch *f);
} FetchOps;

/* What every client is: its operations (the first member of each implementation). */
struct Fetch {
	const FetchOps *ops;
};

/* The first member of each implementation's job. */
struct FetchJob {
	Fetch *fetch;
};

/*
 * What an HTTP @status from @url usually means on our side, as a clause to append to the
 * sentence ("" when nothing): 400 from an https server to a device without ClientCertificate=
 * is nginx's answer to a missing client certificate.
 */
const char *fetch_status_hint(const Config *config, const char *url, long status);

/* libcurl's multi interface on @event, with the [Network] settings of @config. */
int fetch_curl_new(sd_event *event, const Config *config, Fetch **ret);

static inline Fetch *fetch_free(Fetch *f)
{
	if (f)
		f->ops->free(f);
	return NULL;
}

/*
 * Starts a transfer; on_done is called exactly once unless the job is cancelled first, and never
 * before this returns.
 */
static inline int fetch_start(Fetch *f, const FetchRequest *req, FetchJob **ret)
{
	return f->ops->start(f, req, ret);
}

/* Stops a transfer without calling on_done; accepts NULL. */
static inline void fetch_cancel(FetchJob *job)
{
	if (job)
		job->fetch->ops->cancel(job);
}

/* A transfer held by FETCH_HOLD goes on; its bytes may reach on_data before this returns. */
static inline void fetch_resume(FetchJob *job)
{
	if (job)
		job->fetch->ops->resume(job);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Fetch *, fetch_free);
