/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A target with a chunk index, from the server: the index (a signed target, checked against its
 * hash), a scan of both slots off the loop, the records of the missing chunks, a second scan for
 * missing blocks, then the target written in order from local bytes and Range requests on the
 * chunk store. Where the server has a patch store made for the image the active slot holds (its
 * magic asked for first), its records and frames are fetched instead. libswu/delta.c decides;
 * this file fetches and schedules.
 *
 * Whatever goes wrong with the delta itself (no store on the server, a server that ignores Range,
 * a store that lies, local bytes that changed) falls back to the blob, from the writer's offset:
 * nothing written is lost, and the writer's hash of the whole target stays the final check.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delta.h"
#include "log.h"
#include "macro.h"
#include "patch.h"
#include "text.h"
#include "time-util.h"
#include "transfer-delta.h"
#include "worker.h"

#define INDEX_MAX    (12u * 1024u * 1024u) /* 4 GiB in chunks of the minimum length */
#define LOCAL_BUDGET (8u * 1024u * 1024u)  /* local bytes written per turn of the loop */
/*
 * Requests in flight at once: a round trip per range would dominate a slow link. Ranges average
 * tens of KiB; over bench/delta's 2 MB/s link with 100 ms round trips, a squashfs delta of 496
 * ranges takes 11.6 s with 8 requests, 9.5 s with 12 and 9.2 s with 16, and each request costs
 * memory (libcurl's handle and buffer). Ranges of frames are written in order, so those ahead of
 * their turn are held in memory: each at most PREFETCH_MAX bytes, HELD_MAX for all of them,
 * looking LOOKAHEAD ranges ahead. A longer range streams when its turn comes;
 * it is requested ahead of that, once at most PARK_AHEAD bytes come before it, and parked at its
 * first byte (the rest waits in the socket and at the server: fetch.c speaks HTTP/1.1, where a
 * paused transfer is not read): its round trip overlaps the ranges before it.
 */
#define JOBS	       12
#define PREFETCH_MAX   (128u * 1024u)
#define HELD_MAX       (1024u * 1024u) /* all held ranges together, the current one included */
#define LOOKAHEAD      32
#define PARK_AHEAD     (1024u * 1024u)
#define PARKS_LOST_MAX 8
#define RANGE_BUFFER   (16u * 1024u) /* libcurl's per request: ranges average tens of KiB */

typedef enum Phase {
	PHASE_RECORDS,
	PHASE_FRAMES,
} Phase;

/* One range on its way: records (fed as they come, any order), or frames (held or streamed). */
typedef struct RangeJob {
	Delta *td;
	bool used;
	size_t range;
	uint64_t pos; /* its next byte in the store */
	uint8_t *buf; /* frames ahead of their turn; NULL: fed as they come */
	bool parked;  /* a long range requested ahead of its turn: held at its first byte */
	bool resumed; /* it was parked, and is now fed */
	bool complete;
	unsigned attempts;
	FetchJob *job;
	ClockTimer *retry;
} RangeJob;

struct Delta {
	Transfer *t;
	DeltaDone done;
	void *userdata;
	const SwuTarget *target, *index_target;
	char *store_url;
	char *patch_url; /* the patch store for the installed image, NULL: none to ask for */
	uint8_t installed[SWU_SHA256_SIZE]; /* that image's hash */
	FetchJob *probe;
	uint8_t magic[8];
	size_t magic_got;
	SwuDelta *d;
	Phase phase;
	const SwuRange *ranges;
	size_t n_ranges;
	size_t range;	     /* frames: the range whose turn it is; records: the next to start */
	size_t pending;	     /* records: ranges not complete yet */
	bool streaming;	     /* frames: the current range is fed to the delta as it comes */
	unsigned parks_lost; /* parked ranges the server dropped: PARKS_LOST_MAX ends parking */
	uint64_t held;	     /* bytes allocated for ranges held in memory */
	RangeJob jobs[JOBS];
	uint64_t active_length;
	uint64_t started; /* CLOCK_MONOTONIC microseconds: when a scan began */
	Worker *worker;
	sd_event_source *defer;
};

static uint64_t mono_usec(Delta *td)
{
	return clock_now(transfer_clock(td->t), CLOCK_MONOTONIC);
}

Delta *delta_free(Delta *td)
{
	if (!td)
		return NULL;
	/* The worker stops at its next chunk when the transfer's context is cancelled. */
	worker_free(td->worker);
	for (size_t i = 0; i < JOBS; i++) {
		fetch_cancel(td->jobs[i].job);
		clock_timer_free(td->jobs[i].retry);
		free(td->jobs[i].buf);
	}
	sd_event_source_disable_unref(td->defer);
	fetch_cancel(td->probe);
	swu_delta_free(td->d);
	free(td->store_url);
	free(td->patch_url);
	free(td);
	return NULL;
}

static void update_progress(Delta *td, bool force)
{
	SwuDeltaStats s = {};

	if (td->d)
		swu_delta_get_stats(td->d, &s);
	transfer_set_download(td->t, s.download, s.reused);
	transfer_progress(td->t, force);
}

/* The delta cannot go on: the rest of the target comes from the blob. */
static void fall_back(Delta *td, const char *fmt, ...) _printf_(2, 3);
static void fall_back(Delta *td, const char *fmt, ...)
{
	_cleanup_free_ char *why = NULL;
	va_list ap;

	va_start(ap, fmt);
	why = strdup_escaped_vprintf(fmt, ap);
	va_end(ap);
	log_warning("Delta update of '%s' stopped at byte %llu (%s): downloading the rest whole",
		    td->target->name, (unsigned long long)transfer_offset(td->t),
		    why ?: "out of memory");
	td->done(td->userdata, false); /* frees td: nothing after this */
}

static void delta_failed(Delta *td, int r, const char *what)
{
	if (r == -EPROTO)
		fall_back(td, "%s", swu_delta_why(td->d));
	else
		transfer_fail(td->t, update_result_of(r), r, "%s '%s'", what, td->target->name);
}

static void write_step(Delta *td);
static void pump(Delta *td);
static void start_records(Delta *td);

static int on_defer(sd_event_source *s, void *userdata)
{
	Delta *td = userdata;

	td->defer = sd_event_source_disable_unref(td->defer);
	write_step(td);
	return 0;
}

static void job_release(RangeJob *j)
{
	fetch_cancel(j->job);
	clock_timer_free(j->retry);
	if (j->buf) {
		j->td->held -= j->td->ranges[j->range].length;
		free(j->buf);
	}
	*j = (RangeJob){};
}

static RangeJob *job_of(Delta *td, size_t range)
{
	for (size_t i = 0; i < JOBS; i++)
		if (td->jobs[i].used && td->jobs[i].range == range)
			return &td->jobs[i];
	return NULL;
}

/* Local chunks a turn at a time, so D-Bus and the watchdog are answered; then frames. */
static void write_step(Delta *td)
{
	int r;

	/* A turn is already scheduled: it goes on from there (one pending turn at most). */
	if (td->defer)
		return;
	r = swu_delta_write_local(td->d, transfer_writer(td->t), LOCAL_BUDGET);
	update_progress(td, false);
	if (r < 0)
		return delta_failed(td, r, "Cannot write");
	if (r > 0) {
		r = sd_event_add_defer(transfer_event(td->t), &td->defer, on_defer, td);
		if (r < 0)
			transfer_fail(td->t, RESULT_TRANSFER_FAILED, r,
				      "Cannot schedule the install");
		return;
	}
	if (swu_delta_done(td->d)) {
		update_progress(td, true);
		/* Its memory goes (freed by the owner) before the next target's. */
		return td->done(td->userdata, true);
	}
	if (swu_delta_batch_done(td->d)) {
		r = swu_delta_next_batch(td->d);
		if (r < 0)
			return delta_failed(td, r, "Cannot install");
		return start_records(td);
	}
	if (td->range >= td->n_ranges)
		return fall_back(td, "the plan ended before the target");
	pump(td);
}

static int range_data(void *userdata, long status, const void *p, size_t n)
{
	RangeJob *j = userdata;
	Delta *td = j->td;
	const SwuRange *rg = &td->ranges[j->range];
	int r = 0;

	/*
	 * A server that ignores Range would send the whole store, and bytes under any other status
	 * are not the range's: stop at the first byte.
	 */
	if (status != 206)
		return -ERANGE;
	if (n > rg->offset + rg->length - j->pos)
		return -EFBIG;
	if (j->parked)
		return FETCH_HOLD;
	transfer_count_download(td->t, n);
	if (td->phase == PHASE_RECORDS)
		r = swu_delta_feed_records(td->d, j->pos, p, n);
	else if (j->buf)
		memcpy(j->buf + (j->pos - rg->offset), p, n);
	else
		r = swu_delta_feed(td->d, transfer_writer(td->t), p, n);
	if (r < 0)
		return r;
	j->pos += n;
	if (td->phase == PHASE_FRAMES && !j->buf)
		update_progress(td, false);
	return 0;
}

static void plan_done(void *userdata, int r);

static int plan_work(void *userdata)
{
	Delta *td = userdata;
	const SwuInstallTarget *it = transfer_target(td->t);

	return swu_delta_plan(td->d, it->active_fd, td->active_length,
			      transfer_config(td->t)->delta_coalesce, &td->ranges, &td->n_ranges);
}

/* Every record is here: the block scan and the plan, off the loop. */
static void start_plan(Delta *td)
{
	int r;

	td->started = mono_usec(td);
	r = worker_new(transfer_event(td->t), plan_work, plan_done, td, &td->worker);
	if (r < 0)
		transfer_fail(td->t, RESULT_TRANSFER_FAILED, r, "Cannot plan the install");
}

static int start_job(RangeJob *j);

static void on_retry(void *userdata)
{
	RangeJob *j = userdata;
	int r;

	r = start_job(j);
	if (r < 0)
		transfer_fail(j->td->t, RESULT_TRANSFER_FAILED, r, "Cannot start the download");
}

/* A range arrived whole: records count down; frames are used when their turn comes. */
static void job_complete(RangeJob *j)
{
	Delta *td = j->td;
	int r;

	j->complete = true;
	if (td->phase == PHASE_RECORDS) {
		job_release(j);
		if (--td->pending > 0)
			return pump(td);
		return start_plan(td);
	}
	/* Ahead of its turn, or local chunks still being written in turns: held, pump() takes it. */
	if (j->range != td->range || (j->buf && td->defer))
		return;
	if (j->buf) {
		r = swu_delta_begin_range(td->d, j->range);
		if (r >= 0)
			r = swu_delta_feed(td->d, transfer_writer(td->t), j->buf,
					   td->ranges[j->range].length);
		if (r < 0)
			return delta_failed(td, r, "Cannot install");
	}
	td->streaming = false;
	job_release(j);
	r = swu_delta_end_range(td->d);
	if (r < 0)
		return delta_failed(td, r, "Cannot install");
	td->range++;
	write_step(td);
}

static void range_done(void *userdata, const FetchResult *res)
{
	RangeJob *j = userdata;
	Delta *td = j->td;
	const Config *c = transfer_config(td->t);
	const SwuRange *rg = &td->ranges[j->range];
	uint64_t delay;
	int r;

	j->job = NULL;
	/* Every byte asked for arrived (whatever curl thinks of the rest): the range is done. */
	if (j->pos == rg->offset + rg->length && res->status == 206)
		return job_complete(j);
	if (res->error == -EPROTO && swu_delta_why(td->d)[0])
		return fall_back(td, "%s", swu_delta_why(td->d));
	/*
	 * Range ignored (a whole store on its way, cut at once): the blob is the better download.
	 * Told before the size cap, which a whole store also trips (its Content-Length alone).
	 */
	if (res->error == -ERANGE || res->status == 200)
		return fall_back(td, "the server ignored the Range request (HTTP status %ld)",
				 res->status);
	/* More than asked for, or a range that starts elsewhere: the store is not to be trusted. */
	if (res->error == -EFBIG || (res->error == -EPROTO && res->status == 206))
		return fall_back(td, "the chunk store answered out of range: %s", res->message);
	/* No store, or none for us (404, 403, 416 ...): the blob. Server trouble (5xx) is retried. */
	if (res->status >= 400 && res->status < 500)
		return fall_back(td, "the chunk store answered HTTP status %ld", res->status);
	if (res->error < 0 && res->error != -ECONNRESET && res->error != -ETIMEDOUT &&
	    res->error != -EPROTO)
		return delta_failed(td, res->error, "Cannot install");
	/*
	 * A parked range dropped while it waited (a server's idle timeout on a slow link): asked
	 * for again, no attempt counted; a server that keeps dropping them ends the parking.
	 */
	if (j->parked && td->parks_lost < PARKS_LOST_MAX) {
		job_release(j);
		td->parks_lost++;
		/* Asked for again by write_step(), unless local chunks are being written. */
		return write_step(td);
	}
	/*
	 * A paused transfer is not watched: a drop while it was parked shows only once it is
	 * resumed, after the bytes that reached the socket before it (a server times out a client
	 * that does not read once the socket is full). Asked for again at once from the byte that
	 * is missing, once a range, not counted either.
	 */
	if (j->resumed && td->parks_lost < PARKS_LOST_MAX) {
		j->resumed = false;
		td->parks_lost++;
		delay = 0;
		log_info("Delta download of '%s': a range dropped while it waited (%s), asked for "
			 "again",
			 td->target->name, res->error < 0 ? res->message : "short response");
	} else {
		/* Dropped or short: the same range again from the byte that is missing. */
		if (++j->attempts > c->retries) {
			r = swu_fail(transfer_context(td->t),
				     res->error < 0 ? res->error : -EREMOTEIO, "server", "retries",
				     "failed after %u attempts: %s", j->attempts,
				     res->error < 0 ? res->message : "short response");
			transfer_fail(td->t, RESULT_TRANSFER_FAILED, r, "Download of '%s' failed",
				      td->target->name);
			return;
		}
		delay = USEC_PER_SEC << MIN(j->attempts - 1, 10u);
		log_warning("Delta download of '%s' interrupted at store byte %llu (%s); retry %u "
			    "of %u",
			    td->target->name, (unsigned long long)j->pos,
			    res->error < 0 ? res->message : "short response", j->attempts,
			    c->retries);
	}
	r = j->retry ? 0 : clock_timer_new(transfer_clock(td->t), 0, on_retry, j, &j->retry);
	if (r >= 0)
		r = clock_timer_set_relative(j->retry, delay);
	if (r < 0)
		transfer_fail(td->t, RESULT_TRANSFER_FAILED, r, "Cannot schedule a retry");
}

static int start_job(RangeJob *j)
{
	Delta *td = j->td;
	const SwuRange *rg = &td->ranges[j->range];
	FetchRequest req = {
		.url = td->store_url,
		.offset = j->pos,
		.length = rg->offset + rg->length - j->pos,
		.max_bytes = rg->offset + rg->length,
		.buffer_size = RANGE_BUFFER,
		.on_data = range_data,
		.on_done = range_done,
		.userdata = j,
	};
	return fetch_start(transfer_fetch(td->t), &req, &j->job);
}

static RangeJob *free_job(Delta *td)
{
	for (size_t i = 0; i < JOBS; i++)
		if (!td->jobs[i].used)
			return &td->jobs[i];
	return NULL;
}

static int add_job(Delta *td, size_t range, bool hold, bool parked)
{
	RangeJob *j = free_job(td);
	uint64_t length = td->ranges[range].length;
	int r;

	/* Room is left for the current range: the ones held after it wait for it. */
	if (!j || (hold && range != td->range && td->held + length > HELD_MAX - PREFETCH_MAX))
		return 0;
	*j = (RangeJob){ .td = td,
			 .used = true,
			 .range = range,
			 .pos = td->ranges[range].offset,
			 .parked = parked };
	if (hold) {
		j->buf = malloc(MAX(length, (uint64_t)1));
		if (!j->buf) {
			*j = (RangeJob){};
			return -ENOMEM;
		}
		td->held += length;
	}
	r = start_job(j);
	if (r < 0) {
		job_release(j);
		return r;
	}
	return 1;
}

/*
 * Keeps JOBS requests in flight. Records: any order. Frames: the current range (held when short,
 * else streamed once it is its turn) and the short ranges after it.
 */
static void pump(Delta *td)
{
	RangeJob *cur;
	int r = 0;

	if (td->phase == PHASE_RECORDS) {
		while (r >= 0 && td->range < td->n_ranges && free_job(td))
			if ((r = add_job(td, td->range, false, false)) > 0)
				td->range++;
	} else {
		const SwuRange *rg = &td->ranges[td->range];
		uint64_t ahead;

		cur = job_of(td, td->range);
		if (cur && cur->complete)
			return job_complete(cur);
		if (!cur || cur->parked) {
			bool hold = rg->length <= PREFETCH_MAX;

			/* A long range streams: it begins in the delta now, no one else may feed. */
			if (!hold) {
				r = swu_delta_begin_range(td->d, td->range);
				if (r < 0)
					return delta_failed(td, r, "Cannot install");
				td->streaming = true;
			}
			if (cur) {
				cur->parked = false;
				cur->resumed = true;
				fetch_resume(cur->job); /* may feed the delta before it returns */
			} else
				r = add_job(td, td->range, hold, false);
		}
		cur = job_of(td, td->range);
		ahead = rg->length - (cur && !cur->buf ? cur->pos - rg->offset : 0);
		for (size_t i = td->range + 1;
		     r >= 0 && i < td->n_ranges && i <= td->range + LOOKAHEAD && free_job(td);
		     i++) {
			bool shorter = td->ranges[i].length <= PREFETCH_MAX;

			if (!job_of(td, i) &&
			    (shorter || (ahead <= PARK_AHEAD && td->parks_lost < PARKS_LOST_MAX))) {
				r = add_job(td, i, shorter, !shorter);
				if (r == 0)
					break; /* no room to hold it: nearer ranges go first */
			}
			ahead += td->ranges[i].length;
		}
	}
	if (r < 0)
		transfer_fail(td->t, RESULT_TRANSFER_FAILED, r, "Cannot start the download");
}

static void plan_done(void *userdata, int r)
{
	Delta *td = userdata;
	SwuDeltaStats s;

	td->worker = worker_free(td->worker);
	if (r < 0)
		return delta_failed(td, r, "Cannot plan");
	swu_delta_get_stats(td->d, &s);
	log_info("Delta update of '%s': %u chunks, %u in place, %u in the active slot, %u missing "
		 "(%llu of their blocks found in %.2f s); %llu bytes to fetch in %u requests",
		 td->target->name, s.chunks, s.chunks_in_place, s.chunks_active, s.chunks_missing,
		 (unsigned long long)s.blocks_active, (double)(mono_usec(td) - td->started) / 1e6,
		 (unsigned long long)s.download, s.requests);
	td->phase = PHASE_FRAMES;
	td->range = 0;
	update_progress(td, true);
	write_step(td);
}

static int probe_data(void *userdata, long status, const void *p, size_t n)
{
	Delta *td = userdata;
	size_t k = MIN(n, sizeof(td->magic) - td->magic_got);

	if (status != 206)
		return -ERANGE; /* nothing but the range: a whole store is not read */
	transfer_count_download(td->t, n);
	memcpy(td->magic + td->magic_got, p, k);
	td->magic_got += k;
	return 0;
}

/*
 * The patch store's magic arrived, or did not (404: the server has none for the installed
 * image, as when it was published without patches from it): the patch store, or the chunk store.
 */
static void probe_done(void *userdata, const FetchResult *res)
{
	Delta *td = userdata;
	int r;

	td->probe = NULL;
	if (res->status == 206 && td->magic_got == sizeof(td->magic) &&
	    memcmp(td->magic, SWU_PATCH_MAGIC, sizeof(td->magic)) == 0) {
		r = swu_delta_use_patch_store(td->d);
		if (r < 0)
			return delta_failed(td, r, "Cannot plan");
		free(td->store_url);
		td->store_url = TAKE_PTR(td->patch_url);
		log_info("Delta update of '%s': a patch store for the installed image is on the "
			 "server",
			 td->target->name);
	} else if (res->status != 206 && res->status != 0)
		log_info("Delta update of '%s': no patch store for the installed image (HTTP "
			 "status %ld): the chunk store",
			 td->target->name, res->status);
	else
		log_info("Delta update of '%s': no patch store for the installed image (%s): the "
			 "chunk store",
			 td->target->name, res->error < 0 ? res->message : "not a patch store");
	start_records(td);
}

static void scan_done(void *userdata, int r)
{
	Delta *td = userdata;
	uint8_t active[SWU_SHA256_SIZE];
	FetchRequest req = {
		.url = td->patch_url,
		.offset = 0,
		.length = sizeof(td->magic),
		.max_bytes = sizeof(td->magic),
		.buffer_size = RANGE_BUFFER,
		.on_data = probe_data,
		.on_done = probe_done,
		.userdata = td,
	};

	td->worker = worker_free(td->worker);
	if (r < 0)
		return delta_failed(td, r, "Cannot scan the slots for");
	log_info("Delta update of '%s': both slots scanned in %.2f s", td->target->name,
		 (double)(mono_usec(td) - td->started) / 1e6);
	if (!td->patch_url)
		return start_records(td);
	/* A patch store is for one image: the slot must hold exactly it (not a remounted copy). */
	if (swu_delta_active_sha256(td->d, active) < 0 ||
	    memcmp(active, td->installed, SWU_SHA256_SIZE) != 0) {
		log_info("Delta update of '%s': the active slot does not hold the installed image "
			 "byte for byte: the chunk store",
			 td->target->name);
		return start_records(td);
	}
	r = fetch_start(transfer_fetch(td->t), &req, &td->probe);
	if (r < 0)
		transfer_fail(td->t, RESULT_TRANSFER_FAILED, r, "Cannot start the download");
}

/* The records of the next batch of missing chunks. */
static void start_records(Delta *td)
{
	int r;

	/*
	 * Records are small (about 200 bytes a chunk) and sit side by side: a gap of a quarter of
	 * the frames' joins neighbours without fetching the records of a whole image.
	 */
	r = swu_delta_record_ranges(td->d, transfer_config(td->t)->delta_coalesce / 4, &td->ranges,
				    &td->n_ranges);
	if (r < 0)
		return delta_failed(td, r, "Cannot plan");
	td->phase = PHASE_RECORDS;
	td->range = 0;
	td->pending = td->n_ranges;
	update_progress(td, true);
	if (td->n_ranges == 0)
		return start_plan(td);
	pump(td);
}

static int scan_work(void *userdata)
{
	Delta *td = userdata;
	const SwuInstallTarget *it = transfer_target(td->t);

	return swu_delta_scan(td->d, it->active_fd, td->active_length, it->fd);
}

bool delta_wanted(Transfer *t, const SwuTarget *target, const SwuTarget **ret_index)
{
	_cleanup_free_ char *iname = NULL;
	const SwuTarget *it;

	if (!transfer_config(t)->delta_updates || endswith(target->name, ".chunks"))
		return false;
	if (asprintf(&iname, "%s.chunks", target->name) < 0) {
		iname = NULL; /* undefined after a failure */
		return false;
	}
	it = swu_verifier_find_target(transfer_verifier(t), iname);
	if (!it || it->length > INDEX_MAX) /* an index beyond 4 GiB of smallest chunks: verified */
		return false;
	*ret_index = it;
	return true;
}

int delta_new(Transfer *t, const char *server, const SwuTarget *target,
	      const SwuTarget *index_target, int index_fd, uint64_t size, DeltaDone done,
	      void *userdata, Delta **ret)
{
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = NULL;
	_cleanup_close_ int fd = index_fd;
	_cleanup_(delta_freep) Delta *td = NULL;
	const SwuInstallTarget *it;
	char hex[2 * SWU_SHA256_SIZE + 1];
	SwuContext *ctx;
	int r;

	assert_return(t && server && target && index_target && done && ret, -EINVAL);
	it = transfer_target(t);
	assert_return(it && streq(it->name, target->name), -EINVAL);
	ctx = transfer_context(t);
	/* The index came as a target of its own: verified against its signed hash already. */
	r = swu_chunk_index_open(ctx, fd, size, target->length, &idx);
	if (r >= 0)
		TAKE_FD(fd); /* the index reads its SHA-256s from it when they are needed */
	if (r < 0) {
		log_warning("Chunk index of '%s' is not usable (%s): downloading it whole",
			    target->name, swu_context_get_failure(ctx)->message);
		swu_context_clear_failure(ctx);
		return 0;
	}
	td = calloc(1, sizeof(*td));
	if (!td)
		return -ENOMEM;
	*td = (Delta){ .t = t,
		       .done = done,
		       .userdata = userdata,
		       .target = target,
		       .index_target = index_target };
	r = swu_delta_new(ctx, idx, &td->d);
	if (r < 0)
		return r;
	TAKE_PTR(idx);
	/* The active slot holds the installed image: scanned as far as that image goes. */
	if (swu_verifier_installed_length(transfer_verifier(t), target->name, &td->active_length) <
	    0)
		td->active_length = it->size;
	td->active_length = MIN(td->active_length, it->size);
	swu_hex(index_target->sha256, SWU_SHA256_SIZE, hex);
	if (asprintf(&td->store_url, "%s/chunks/%s", server, hex) < 0) {
		td->store_url = NULL;
		return -ENOMEM;
	}
	/*
	 * The patch store made for the installed image, if the active slot holds it: the scan
	 * hashes the slot to be sure.
	 */
	if (it->active_fd >= 0 &&
	    swu_verifier_installed_sha256(transfer_verifier(t), target->name, td->installed) >= 0 &&
	    memcmp(td->installed, target->sha256, SWU_SHA256_SIZE) != 0) {
		char from[2 * SWU_SHA256_SIZE + 1];

		swu_hex(td->installed, SWU_SHA256_SIZE, from);
		if (asprintf(&td->patch_url, "%s/chunks/%s-from-%s", server, hex, from) < 0) {
			td->patch_url = NULL;
			return -ENOMEM;
		}
		swu_delta_want_active_sha256(td->d);
	}
	td->started = mono_usec(td);
	r = worker_new(transfer_event(t), scan_work, scan_done, td, &td->worker);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(td);
	return 1;
}
