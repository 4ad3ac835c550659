/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transfer engine without a network or a bus: a release from a server in memory (tests/fake.c)
 * written into file slots, through success, a dropped connection and its resume, a resume
 * answered with the whole blob, a 404, retries and Retry-After on a clock the test moves, an
 * abort in the middle, deltas from a chunk store and their fallback to the blob, and read-back
 * failures. Each check names the rule it guards.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "fake.h"
#include "fileio.h"
#include "macro.h"
#include "state.h"
#include "testutil.h"
#include "time-util.h"
#include "transfer.h"
#include "url.h"

#define SERVER "http://updates.example/stable"
#define IMG    (300u * 1024u + 17u) /* not a multiple of anything */
#define T0     (UINT64_C(1796000000) * USEC_PER_SEC)

static sd_event *event;
static FakeClock *fc;
static FakeServer *srv;
static FakeDevice dev;
static uint8_t *image, *image1;

typedef struct Recorder {
	int steps; /* done events */
	TransferStep step;
	int error;
	UpdateResult result;
	char sentence[1024];
	TransferProgress last;
	uint64_t progress_events;
	char target[64];
} Recorder;

static void on_progress(void *userdata, const TransferProgress *p, bool force)
{
	Recorder *rec = userdata;

	rec->last = *p;
	snprintf(rec->target, sizeof(rec->target), "%s", p->target);
	rec->last.target = rec->target;
	rec->progress_events++;
	ck_assert_uint_le(p->done, p->total);
}

static void on_done(void *userdata, TransferStep step, int r, UpdateResult result,
		    const char *sentence)
{
	Recorder *rec = userdata;

	rec->steps++;
	rec->step = step;
	rec->error = r;
	rec->result = result;
	snprintf(rec->sentence, sizeof(rec->sentence), "%s", sentence ?: "");
}

static const TransferEvents events = { .progress = on_progress, .done = on_done };

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void setup(void)
{
	ck_assert_int_eq(sd_event_new(&event), 0);
	fc = fake_clock_new(T0);
	srv = fake_server_new(event);
	fake_device_init(&dev, SERVER, NULL);
	image = malloc(IMG);
	image1 = malloc(IMG);
	fill(image, IMG, 2);
	/* version 1 of the image: the same but for a few scattered blocks */
	memcpy(image1, image, IMG);
	for (size_t off = 4096; off < IMG; off += 64 * 1024)
		fill(image1 + off, 512, (uint32_t)off);
}

static void teardown(void)
{
	fake_device_done(&dev);
	fake_server_free(srv);
	fake_clock_free(fc);
	sd_event_unref(event);
	free(image);
	free(image1);
}

static const char appfs[] = "application partition, version 2";

/* rootfs (the image) and appfs, version 2, published. */
static void publish_release(FakeRelease *rel)
{
	const TuFile files[] = { { "rootfs", image, IMG }, { "appfs", appfs, sizeof(appfs) } };

	fake_release(&dev, 2, files, ELEMENTSOF(files), rel);
	fake_publish(srv, SERVER, rel, files, ELEMENTSOF(files), 2);
}

/* The transfer of the release the server offers, verified as the poller would. */
static Transfer *server_transfer(FakeRelease *rel, Recorder *rec, SwuContext **ret_ctx)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	_cleanup_(release_freep) Release *release = NULL;
	TransferSetup setup;
	Transfer *t = NULL;
	uint8_t *copy = malloc(rel->metadata.size);

	memcpy(copy, rel->metadata.data, rel->metadata.size);
	ck_assert_int_eq(manager_context_new(dev.m, &ctx), 0);
	ck_assert_int_eq(release_new(dev.m, ctx, copy, rel->metadata.size, &release), 0);
	setup = (TransferSetup){ .event = event,
				 .clock = fake_clock(fc),
				 .fetch = fake_server_fetch(srv),
				 .manager = dev.m,
				 .ctx = ctx,
				 .events = &events,
				 .userdata = rec };
	ck_assert_int_eq(transfer_new_server(&setup, release, &t), 0);
	if (ret_ctx)
		*ret_ctx = swu_context_ref(ctx);
	return t;
}

static bool done(void *userdata)
{
	return ((Recorder *)userdata)->steps > 0;
}

static void run_to_end(Recorder *rec)
{
	ck_assert_msg(fake_run_until(event, fc, done, rec), "the transfer never ended");
}

/* A server transfer of @rel, started and run to the end of its write step. */
static Transfer *run_release(FakeRelease *rel, Recorder *rec)
{
	Transfer *t = server_transfer(rel, rec, NULL);

	ck_assert_int_eq(transfer_start(t), 0);
	/* Never told from within the owner's own call. */
	ck_assert_int_eq(rec->steps, 0);
	run_to_end(rec);
	ck_assert_int_eq(rec->step, TRANSFER_STEP_WRITE);
	return t;
}

static void expect_slot(const char *target, char slot, const void *want, size_t n)
{
	_cleanup_free_ char *path = fake_device_slot(&dev, target, slot);
	_cleanup_free_ uint8_t *got = malloc(n);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, got, n, 0), (ssize_t)n);
	ck_assert_msg(memcmp(got, want, n) == 0, "slot %s.%c does not hold the target", target,
		      slot);
}

static bool pending(void)
{
	Status s;

	ck_assert_int_eq(manager_get_status(dev.m, dev.m->ctx, &s), 0);
	return s.pending_slot != 0;
}

static char *blob_url(const FakeRelease *rel, size_t i)
{
	return tu_path("%s/blobs/%s", SERVER, rel->blob_hex[i]);
}

/* The @k-th request (from 0) the server got for @url. */
static const FakeRequest *nth_request(const char *url, size_t k)
{
	const FakeRequest *req;
	size_t n = fake_server_requests(srv, &req);

	for (size_t i = 0; i < n; i++)
		if (streq(req[i].url, url) && k-- == 0)
			return &req[i];
	ck_abort_msg("fewer requests for %s", url);
	return NULL;
}

static void expect_redacted(const char *url, const char *want)
{
	_cleanup_free_ char *got = NULL;

	ck_assert_int_eq(url_redact(url, &got), 0);
	ck_assert_msg(streq(got, want), "'%s' shown as '%s', expected '%s'", url, got, want);
}

/* What is shown of a URL: no user information, query string or fragment; paths as they are. */
START_TEST(test_url_redact)
{
	expect_redacted("http://updates.example/stable", "http://updates.example/stable");
	expect_redacted("http://user:pass@updates.example/v2.swu", "http://updates.example/v2.swu");
	expect_redacted("https://user@updates.example/v2.swu", "https://updates.example/v2.swu");
	expect_redacted("https://:pass@updates.example/v2.swu", "https://updates.example/v2.swu");
	expect_redacted("https://bucket.s3.example/v2.swu?X-Amz-Signature=abc&X-Amz-Date=1",
			"https://bucket.s3.example/v2.swu");
	expect_redacted("https://updates.example/v2.swu?token=abc#frag", "https://updates.example/"
									 "v2.swu");
	expect_redacted("https://updates.example/v2.swu#frag", "https://updates.example/v2.swu");
	/* a port, an IPv6 host (with a zone), and both with user information */
	expect_redacted("http://127.0.0.1:8080/stable", "http://127.0.0.1:8080/stable");
	expect_redacted("http://u:p@[2001:db8::1]:8443/stable?k=v", "http://[2001:db8::1]:8443/"
								    "stable");
	expect_redacted("http://[fe80::1%25eth0]/stable", "http://[fe80::1%25eth0]/stable");
	/* the path as it is (no "/../" resolved), percent-encoding kept */
	expect_redacted("http://h/a/../b%20c", "http://h/a/../b%20c");
	/* an '@' in the password, encoded or not */
	expect_redacted("http://user:p%40ss@updates.example/x", "http://updates.example/x");
	/* not a URL: a path (which may hold '?' and '@') or nothing at all, unchanged */
	expect_redacted("/media/usb/v2.swu", "/media/usb/v2.swu");
	expect_redacted("/srv/a?b@c#d", "/srv/a?b@c#d");
	expect_redacted("", "");
	/* a URL that does not parse shows its scheme only: whatever follows may be a secret */
	expect_redacted("http://user:pa ss@bad host/x?sig=1", "http:// (a URL that does not "
							      "parse)");
	expect_redacted("user:secret@host http://x y", "(a URL that does not parse)");
	expect_redacted("ftp://user:pass@files.example/v2.swu", "ftp://files.example/v2.swu");
}
END_TEST

/* Every target into the inactive slot, read back; Verify reads it again; Apply records it. */
START_TEST(test_success)
{
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	t = run_release(&rel, &rec);
	ck_assert_uint_eq(transfer_get_version(t), 2);
	ck_assert_int_eq(rec.error, 0);
	expect_slot("rootfs", 'B', image, IMG);
	expect_slot("appfs", 'B', appfs, sizeof(appfs));
	ck_assert_uint_eq(rec.last.downloaded, IMG + sizeof(appfs));
	/* The whole transfer's totals, not the last target's. */
	ck_assert_uint_eq(rec.last.written, IMG + sizeof(appfs));
	ck_assert_uint_eq(rec.last.reused_total, 0);
	ck_assert(!pending());

	rec.steps = 0;
	ck_assert_int_eq(transfer_verify(t), 0);
	ck_assert_int_eq(rec.steps, 0);
	run_to_end(&rec);
	ck_assert_int_eq(rec.step, TRANSFER_STEP_VERIFY);
	ck_assert_int_eq(rec.error, 0);
	ck_assert_int_eq(transfer_apply(t), 0);
	ck_assert(pending());
	transfer_free(t);
	ck_assert_uint_eq(fake_server_open(srv), 0);
	fake_release_done(&rel);
}
END_TEST

/* A dropped connection resumes where it stopped, with Range (no If-Range: blobs never change). */
START_TEST(test_resume)
{
	_cleanup_free_ char *url = NULL;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_fault(srv, url, &(FakeFault){ .cut = 100000 });
	t = run_release(&rel, &rec);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	ck_assert_uint_eq(fake_server_count(srv, url), 2);
	ck_assert_uint_eq(nth_request(url, 0)->offset, 0);
	ck_assert_uint_eq(nth_request(url, 1)->offset, 100000);
	ck_assert_ptr_null(nth_request(url, 1)->if_range);
	ck_assert_int_eq(nth_request(url, 1)->status, 206);
	/* Nothing was downloaded twice. */
	ck_assert_uint_eq(rec.last.downloaded, IMG + sizeof(appfs));
	/* The retry waited (1 s), on the clock. */
	ck_assert_uint_ge(fake_clock_now(fc), T0 + USEC_PER_SEC);
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* A weak ETag (Apache's for a file younger than a second) is never sent in If-Range, where it
 * cannot match: the resume is a plain Range request, answered 206. */
START_TEST(test_resume_weak_etag)
{
	_cleanup_free_ char *url = NULL;
	const FakeRequest *req;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_put(srv, url, image, IMG, "W/\"weak\"");
	fake_server_fault(srv, url, &(FakeFault){ .cut = 100000 });
	t = run_release(&rel, &rec);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	req = nth_request(url, 1);
	ck_assert_uint_eq(req->offset, 100000);
	ck_assert_ptr_null(req->if_range);
	ck_assert_int_eq(req->status, 206);
	/* Nothing downloaded twice. */
	ck_assert_uint_eq(rec.last.downloaded, IMG + sizeof(appfs));
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/*
 * Blobs are named by their hash and never change: a resume asks for the rest with a plain Range,
 * whatever ETag the server gives now (published again since, another mirror, Apache's weak ETag
 * for a file younger than a second and a strong one a second later). If-Range would get the
 * whole blob again for an ETag that changed.
 */
START_TEST(test_resume_etag_changed)
{
	_cleanup_free_ char *url = NULL;
	const FakeRequest *req;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_fault(srv, url, &(FakeFault){ .cut = 100000, .new_etag = "\"republished\"" });
	t = run_release(&rel, &rec);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	ck_assert_uint_eq(fake_server_count(srv, url), 2);
	req = nth_request(url, 1);
	ck_assert_uint_eq(req->offset, 100000);
	ck_assert_msg(!req->if_range || !*req->if_range, "If-Range: %s", req->if_range);
	ck_assert_int_eq(req->status, 206);
	/* Only the rest was served: nothing downloaded twice. */
	ck_assert_uint_eq(fake_server_sent(srv), IMG + sizeof(appfs));
	ck_assert_uint_eq(rec.last.downloaded, IMG + sizeof(appfs));
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* A resume after an error page (with an ETag of its own) still asks for the rest only. */
START_TEST(test_resume_after_error_page)
{
	_cleanup_free_ char *url = NULL;
	const FakeRequest *req;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_fault(srv, url, &(FakeFault){ .cut = 100000 });
	fake_server_fault(srv, url, &(FakeFault){ .status = 503, .etag = "\"page\"" });
	t = run_release(&rel, &rec);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	ck_assert_uint_eq(fake_server_count(srv, url), 3);
	req = nth_request(url, 2);
	ck_assert_uint_eq(req->offset, 100000);
	ck_assert_ptr_null(req->if_range);
	ck_assert_int_eq(req->status, 206);
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* A server that answers the resume with 200 and the whole blob: what the slot has is dropped. */
START_TEST(test_resume_answered_whole)
{
	_cleanup_free_ char *url = NULL;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_fault(srv, url, &(FakeFault){ .cut = 100000 });
	fake_server_fault(srv, url, &(FakeFault){ .ignore_range = true });
	t = run_release(&rel, &rec);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	ck_assert_uint_eq(fake_server_count(srv, url), 2);
	/* The skipped bytes are not counted as downloaded for the slot twice. */
	ck_assert_uint_eq(rec.last.downloaded, IMG + sizeof(appfs));
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* A blob the server does not have: no retry, transfer-failed, the sentence says which. */
START_TEST(test_not_found)
{
	_cleanup_free_ char *url = NULL;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_remove(srv, url);
	t = run_release(&rel, &rec);
	ck_assert_int_eq(rec.error, -EREMOTEIO);
	ck_assert_int_eq(rec.result, RESULT_TRANSFER_FAILED);
	ck_assert_str_eq(rec.sentence, "Download of 'rootfs' failed: HTTP status 404");
	ck_assert_uint_eq(fake_server_count(srv, url), 1);
	ck_assert(!pending());
	/* Once it failed, it does nothing more. */
	fake_run_pending(event);
	ck_assert_int_eq(rec.steps, 1);
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* Every byte arrived, then the connection failed (a timeout waiting for its end): the blob is
 * complete and its hash has the last word; a resume would only be answered 416. */
START_TEST(test_failed_after_last_byte)
{
	_cleanup_free_ char *url = NULL;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_fault(srv, url, &(FakeFault){ .fail_at_end = true });
	t = run_release(&rel, &rec);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	ck_assert_uint_eq(fake_server_count(srv, url), 1);
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* A failure found within transfer_start() is told afterwards, from the loop: never from within
 * the owner's own call, so the owner can free the transfer when it hears of it. */
START_TEST(test_fail_in_start)
{
	_cleanup_free_ char *url = NULL;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_fault(srv, url, &(FakeFault){ .start_error = -ENOMEM });
	t = server_transfer(&rel, &rec, NULL);
	ck_assert_int_eq(transfer_start(t), 0);
	ck_assert_int_eq(rec.steps, 0);
	run_to_end(&rec);
	ck_assert_int_eq(rec.error, -ENOMEM);
	ck_assert_int_eq(rec.result, RESULT_TRANSFER_FAILED);
	ck_assert_str_eq(rec.sentence, "Cannot start the download: Cannot allocate memory");
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* Server errors are retried Retries= times, waiting longer each time, Retry-After honoured. */
START_TEST(test_retries)
{
	_cleanup_free_ char *url = NULL;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	for (int i = 0; i < 3; i++)
		fake_server_fault(srv, url, &(FakeFault){ .status = 503 });
	fake_server_fault(srv, url, &(FakeFault){ .status = 503, .retry_after = 600 });
	t = run_release(&rel, &rec);
	/* Retries=5 (the default): 1 + 2 + 4 s, then the server's 600 s, then it works. */
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	ck_assert_uint_eq(fake_server_count(srv, url), 5);
	ck_assert_uint_ge(fake_clock_now(fc), T0 + 607 * USEC_PER_SEC);
	ck_assert_uint_lt(fake_clock_now(fc), T0 + 620 * USEC_PER_SEC);
	expect_slot("rootfs", 'B', image, IMG);
	transfer_free(t);

	/* More failures than Retries=: transfer-failed, with the count. */
	rec = (Recorder){};
	for (int i = 0; i < 6; i++)
		fake_server_fault(srv, url, &(FakeFault){ .status = 500 });
	t = run_release(&rel, &rec);
	ck_assert_int_eq(rec.error, -EREMOTEIO);
	ck_assert_int_eq(rec.result, RESULT_TRANSFER_FAILED);
	ck_assert_msg(strstr(rec.sentence, "failed after 6 attempts"), "%s", rec.sentence);
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

static bool request_open(void *userdata)
{
	return fake_server_open(userdata) > 0;
}

/* An abort in the middle: the download is cancelled, nothing is told, nothing is pending. */
START_TEST(test_abort)
{
	_cleanup_free_ char *url = NULL;
	const FakeRequest *req;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;
	size_t n;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	fake_server_fault(srv, url, &(FakeFault){ .hold_forever = true });
	t = server_transfer(&rel, &rec, NULL);
	ck_assert_int_eq(transfer_start(t), 0);
	ck_assert(fake_run_until(event, fc, request_open, srv));
	transfer_free(t);
	n = fake_server_requests(srv, &req);
	ck_assert(req[n - 1].cancelled);
	ck_assert_uint_eq(fake_server_open(srv), 0);
	fake_run_pending(event);
	ck_assert_int_eq(rec.steps, 0);
	ck_assert(!pending());
	fake_release_done(&rel);
}
END_TEST

/*
 * A chunk store that lies in where its frames are: each block a raw zstd frame (as large as a
 * frame may be), @pad bytes after the frames of each chunk.
 */
static uint8_t *spaced_store(const SwuChunkIndex *idx, uint64_t pad, uint64_t *ret_size)
{
	uint64_t rpos = SWU_STORE_MAGIC_SIZE, fpos = swu_store_records_end(idx);
	uint32_t rb = swu_store_record_block(idx);
	uint8_t *s = calloc(1, fpos + (uint64_t)idx->n * pad + IMG + 9 * (uint64_t)idx->n_blocks);

	ck_assert_ptr_nonnull(s);
	memcpy(s, "SWUSTOR1", SWU_STORE_MAGIC_SIZE);
	for (uint32_t i = 0; i < idx->n; i++) {
		uint32_t len = swu_chunk_index_length(idx, i);

		swu_put_le64(s + rpos, fpos);
		for (uint32_t b = 0; b < swu_chunk_n_blocks(len); b++) {
			const uint8_t *blk = image + idx->offsets[i] + b * SWU_CHUNK_BLOCK;
			uint32_t blen = MIN(SWU_CHUNK_BLOCK, len - b * SWU_CHUNK_BLOCK);
			uint32_t bh = 1u | blen << 3; /* the last block, raw */
			uint8_t *e = s + rpos + SWU_STORE_RECORD_HEAD + (size_t)rb * b,
				*f = s + fpos;

			swu_put_le64(e, swu_xxh64(blk, blen, 0));
			swu_put_le32(e + 8, 9 + blen);
			swu_put_le32(e + 12, blen == SWU_CHUNK_BLOCK ? swu_rolling_hash(blk) : 0);
			/* magic, no content size, a 128 KiB window */
			memcpy(f, "\x28\xb5\x2f\xfd\x00\x38", 6);
			f[6] = (uint8_t)bh;
			f[7] = (uint8_t)(bh >> 8);
			f[8] = (uint8_t)(bh >> 16);
			memcpy(f + 9, blk, blen);
			fpos += 9 + blen;
		}
		fpos += pad;
		rpos += swu_store_record_size(idx, i);
	}
	*ret_size = fpos;
	return s;
}

/*
 * The rootfs image with its chunk index, and the store of its chunks (spaced_store() with @pad
 * when it is not UINT64_MAX), published; the records end where @ret_records says.
 */
static void publish_delta(FakeRelease *rel, char **ret_store, uint64_t pad, uint64_t *ret_records)
{
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = NULL;
	_cleanup_free_ uint8_t *index = NULL, *store = NULL;
	_cleanup_close_ int img = tu_memfd(image, IMG), out = tu_memfd("", 0);
	SwuContext *ctx = dev.m->ctx;
	SwuChunkParams params;
	uint64_t size;
	size_t n;

	swu_chunk_params_default(false, &params);
	ck_assert_int_eq(swu_chunk_index_build(ctx, img, IMG, &params, &index, &n), 0);
	ck_assert_int_eq(swu_chunk_index_parse(ctx, index, n, IMG, &idx), 0);
	if (ret_records)
		*ret_records = swu_store_records_end(idx);
	if (pad != UINT64_MAX)
		store = spaced_store(idx, pad, &size);
	else {
		ck_assert_int_eq(swu_store_write(ctx, img, 0, idx, 3, out, &size), 0);
		store = malloc(size);
		ck_assert_int_eq(pread(out, store, size, 0), (ssize_t)size);
	}
	{
		const TuFile files[] = { { "rootfs", image, IMG },
					 { "rootfs.chunks", index, n },
					 { "appfs", appfs, sizeof(appfs) } };

		fake_release(&dev, 2, files, ELEMENTSOF(files), rel);
		fake_publish(srv, SERVER, rel, files, ELEMENTSOF(files), 2);
		*ret_store = tu_path("%s/chunks/%s", SERVER, rel->blob_hex[1]);
		fake_server_put(srv, *ret_store, store, size, "\"store\"");
	}
}

/* The rootfs image with its chunk index, and the store of its chunks, published. */
static void publish_delta_release(FakeRelease *rel, char **ret_store)
{
	publish_delta(rel, ret_store, UINT64_MAX, NULL);
}

/* Version 1 of the image in the active slot: what a delta takes instead of downloading. */
static void install_version1(void)
{
	_cleanup_free_ char *path = fake_device_slot(&dev, "rootfs", 'A');
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(swu_pwrite_all(fd, image1, IMG, 0), 0);
}

static void clear_slot(const char *target, char slot)
{
	_cleanup_free_ char *path = fake_device_slot(&dev, target, slot);

	ck_assert_int_eq(truncate(path, 0), 0);
	ck_assert_int_eq(truncate(path, 1024 * 1024), 0);
}

/* A delta: most bytes come from the active slot, the rest from the store; never the blob. */
START_TEST(test_delta)
{
	_cleanup_free_ char *store = NULL, *blob = NULL;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	install_version1();
	publish_delta_release(&rel, &store);
	blob = blob_url(&rel, 0);
	t = run_release(&rel, &rec);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	expect_slot("appfs", 'B', appfs, sizeof(appfs));
	ck_assert_uint_gt(fake_server_count(srv, store), 0);
	ck_assert_uint_eq(fake_server_count(srv, blob), 0);
	/* The index came first, whole, as a target of its own. */
	ck_assert_uint_eq(fake_server_count(srv, SERVER "/blobs/"), 2);
	ck_assert_uint_lt(fake_server_sent(srv), IMG / 2);
	/* What the delta saved, for the whole transfer. */
	ck_assert_uint_eq(rec.last.written, IMG + sizeof(appfs));
	ck_assert_uint_gt(rec.last.reused_total, IMG / 2);
	ck_assert_uint_lt(rec.last.downloaded, IMG / 2);
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* A delta whose store is missing, or served without Range: the rest comes from the blob. */
START_TEST(test_delta_falls_back)
{
	_cleanup_free_ char *log = tu_path("%s/stderr", dev.dir);

	for (int variant = 0; variant < 2; variant++) {
		_cleanup_free_ char *store = NULL, *blob = NULL;
		FakeRelease rel;
		Recorder rec = {};
		Transfer *t;

		install_version1();
		clear_slot("rootfs", 'B');
		publish_delta_release(&rel, &store);
		blob = blob_url(&rel, 0);
		if (variant == 0)
			fake_server_remove(srv, store);
		else
			for (int i = 0; i < 64; i++)
				fake_server_fault(srv, store, &(FakeFault){ .ignore_range = true });
		/* What the log says why (stderr, into a file for the run). */
		ck_assert_int_ge(fflush(stderr), 0);
		ck_assert_ptr_nonnull(freopen(log, "w", stderr));
		t = run_release(&rel, &rec);
		ck_assert_int_ge(fflush(stderr), 0);
		ck_assert_msg(rec.error == 0, "variant %d: %s", variant, rec.sentence);
		expect_slot("rootfs", 'B', image, IMG);
		ck_assert_uint_eq(fake_server_count(srv, blob), 1);
		{
			_cleanup_free_ uint8_t *text = NULL;
			size_t n;

			ck_assert_int_eq(swu_read_file(log, 1 << 20, &text, &n), 0);
			text[n] = 0;
			ck_assert_msg(strstr((char *)text, variant == 0 ? "HTTP status 404"
									: "ignored the Range "
									  "request"),
				      "variant %d: %s", variant, text);
			ck_assert_msg(!strstr((char *)text, "sent more than"), "%s", text);
		}
		transfer_free(t);
		fake_release_done(&rel);
		fake_server_free(srv);
		srv = fake_server_new(event);
	}
}
END_TEST

/* Runs the release with what the daemon logs (stderr) kept in *@ret_log. */
static Transfer *run_logged(FakeRelease *rel, Recorder *rec, char **ret_log)
{
	_cleanup_free_ char *log = tu_path("%s/stderr", dev.dir);
	_cleanup_free_ uint8_t *text = NULL;
	Transfer *t;
	size_t n;

	ck_assert_int_ge(fflush(stderr), 0);
	ck_assert_ptr_nonnull(freopen(log, "w", stderr));
	t = run_release(rel, rec);
	ck_assert_int_ge(fflush(stderr), 0);
	ck_assert_int_eq(swu_read_file(log, 1 << 20, &text, &n), 0);
	text[n] = 0;
	*ret_log = (char *)TAKE_PTR(text);
	return t;
}

/* The bytes the device took from @url, and whether any request for it started at or past @at. */
static uint64_t taken_from(const char *url, uint64_t at, bool *ret_past)
{
	const FakeRequest *req;
	size_t n = fake_server_requests(srv, &req);
	uint64_t sum = 0;

	*ret_past = false;
	for (size_t i = 0; i < n; i++)
		if (streq(req[i].url, url)) {
			sum += req[i].received;
			*ret_past |= req[i].offset >= at;
		}
	return sum;
}

/*
 * A store whose (unsigned) records space the frames of each chunk by DeltaCoalesceBytes, and
 * make them raw: every range would bring the gaps, more than the blob. Nothing local (slot A
 * holds none of it): the plan says so before a frame is asked for, and the image comes from the
 * blob. The store gave its records and nothing more.
 */
START_TEST(test_delta_costs_more_than_blob)
{
	_cleanup_free_ char *store = NULL, *blob = NULL, *log = NULL;
	FakeRelease rel;
	Recorder rec = {};
	uint64_t records = 0;
	bool frames;
	Transfer *t;

	clear_slot("rootfs", 'A');
	publish_delta(&rel, &store, 32 * 1024, &records);
	blob = blob_url(&rel, 0);
	t = run_logged(&rel, &rec, &log);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	ck_assert_msg(strstr(log, "more than the blob"), "%s", log);
	ck_assert_uint_eq(fake_server_count(srv, blob), 1);
	ck_assert_uint_eq(taken_from(blob, IMG, &frames), IMG);
	ck_assert_uint_gt(taken_from(store, records, &frames), 0);
	ck_assert_uint_le(taken_from(store, records, &frames), records);
	ck_assert(!frames);
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/*
 * A Range request answered with the bytes asked for but status 200 or 203 (not 206), or with 206
 * and bytes past the range (a body without a length): each is cut at its first byte, nothing of
 * it taken, and the rest of the image comes from the blob.
 */
START_TEST(test_delta_range_answers)
{
	static const struct {
		FakeFault fault;
		const char *why;
	} cases[] = {
		{ { .range_status = 200 }, "ignored the Range request (HTTP status 200)" },
		{ { .range_status = 203 }, "ignored the Range request (HTTP status 203)" },
		{ { .extra = 100 }, "the chunk store answered out of range" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *store = NULL, *blob = NULL, *log = NULL;
		const FakeRequest *req;
		FakeRelease rel;
		Recorder rec = {};
		bool past;
		Transfer *t;

		install_version1();
		clear_slot("rootfs", 'B');
		publish_delta_release(&rel, &store);
		blob = blob_url(&rel, 0);
		fake_server_fault(srv, store, &cases[i].fault);
		t = run_logged(&rel, &rec, &log);
		ck_assert_msg(rec.error == 0, "%zu: %s", i, rec.sentence);
		expect_slot("rootfs", 'B', image, IMG);
		ck_assert_msg(strstr(log, cases[i].why), "%zu: %s", i, log);
		ck_assert_uint_eq(fake_server_count(srv, blob), 1);
		/* The store's one answer, cut at its first byte. */
		ck_assert_uint_eq(fake_server_count(srv, store), 1);
		ck_assert_uint_eq(taken_from(store, 0, &past), 0);
		for (size_t k = 0; k < fake_server_requests(srv, &req); k++)
			if (streq(req[k].url, store))
				ck_assert_int_eq(req[k].status, cases[i].fault.range_status ?: 206);
		transfer_free(t);
		fake_release_done(&rel);
		fake_server_free(srv);
		srv = fake_server_new(event);
	}
}
END_TEST

static void corrupt_slot(void *userdata, const char *where)
{
	const char *path = userdata;
	_cleanup_close_ int fd = -EBADF;

	if (!streq(where, "read-back"))
		return;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 7), 1);
}

/* The slot does not hold what was written: the read-back while writing, and Verify, say so. */
START_TEST(test_read_back)
{
	_cleanup_free_ char *slot = fake_device_slot(&dev, "rootfs", 'B');
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	/* While writing: the slot changes under the read-back. */
	t = server_transfer(&rel, &rec, &ctx);
	swu_context_set_fault(ctx, corrupt_slot, slot);
	ck_assert_int_eq(transfer_start(t), 0);
	run_to_end(&rec);
	ck_assert_int_eq(rec.step, TRANSFER_STEP_WRITE);
	ck_assert_int_eq(rec.result, RESULT_VERIFY_FAILED);
	ck_assert_msg(strstr(rec.sentence, "Install failed: "), "%s", rec.sentence);
	transfer_free(t);
	ctx = swu_context_unref(ctx);

	/* After writing: the slot changes before Verify reads it again. */
	rec = (Recorder){};
	t = run_release(&rel, &rec);
	ck_assert_int_eq(rec.error, 0);
	corrupt_slot(slot, "read-back");
	rec.steps = 0;
	ck_assert_int_eq(transfer_verify(t), 0);
	run_to_end(&rec);
	ck_assert_int_eq(rec.step, TRANSFER_STEP_VERIFY);
	ck_assert_int_eq(rec.result, RESULT_VERIFY_FAILED);
	ck_assert_msg(strstr(rec.sentence, "Verification failed: "), "%s", rec.sentence);
	ck_assert(!pending());
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* A blob longer than its signed length is cut at it, and the install fails verify-failed. */
START_TEST(test_oversize)
{
	_cleanup_free_ char *url = NULL, *big = malloc(IMG + 100);
	FakeRelease rel;
	Recorder rec = {};
	Transfer *t;

	publish_release(&rel);
	url = blob_url(&rel, 0);
	memcpy(big, image, IMG);
	memset(big + IMG, 'z', 100);
	fake_server_put(srv, url, big, IMG + 100, "\"blob\"");
	t = run_release(&rel, &rec);
	ck_assert_int_eq(rec.error, -EFBIG);
	ck_assert_int_eq(rec.result, RESULT_VERIFY_FAILED);
	ck_assert_uint_eq(fake_server_count(srv, url), 1);
	transfer_free(t);
	fake_release_done(&rel);
}
END_TEST

/* A bundle file: its payloads into the slots, one chunk a turn. */
START_TEST(test_file)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	_cleanup_free_ char *path = tu_path("%s/v2.swu", dev.dir);
	FakeRelease rel;
	Recorder rec = {};
	TransferSetup setup;
	Transfer *t;
	int fd;

	publish_release(&rel);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_eq(swu_write_all(fd, rel.bundle.data, rel.bundle.size), 0);
	close(fd);
	ck_assert_int_eq(manager_context_new(dev.m, &ctx), 0);
	setup = (TransferSetup){ .event = event,
				 .clock = fake_clock(fc),
				 .fetch = fake_server_fetch(srv),
				 .manager = dev.m,
				 .ctx = ctx,
				 .events = &events,
				 .userdata = &rec };
	ck_assert_int_eq(transfer_new_file(&setup, path, &t), 0);
	ck_assert_int_eq(transfer_start(t), 0);
	run_to_end(&rec);
	ck_assert_msg(rec.error == 0, "%s", rec.sentence);
	expect_slot("rootfs", 'B', image, IMG);
	expect_slot("appfs", 'B', appfs, sizeof(appfs));
	ck_assert_uint_eq(fake_server_open(srv) + fake_server_count(srv, ""), 0);
	transfer_free(t);

	/* A bundle signed by nobody the device trusts is refused before anything is written. */
	ck_assert_int_eq(swu_pwrite_all(open(path, O_WRONLY | O_CLOEXEC), "\xff", 1, 0), 0);
	ck_assert_int_lt(transfer_new_file(&setup, path, &t), 0);
	fake_release_done(&rel);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "url-redact", test_url_redact },
		{ "success", test_success },
		{ "resume", test_resume },
		{ "resume-answered-whole", test_resume_answered_whole },
		{ "resume-weak-etag", test_resume_weak_etag },
		{ "resume-etag-changed", test_resume_etag_changed },
		{ "resume-after-error-page", test_resume_after_error_page },
		{ "not-found", test_not_found },
		{ "failed-after-last-byte", test_failed_after_last_byte },
		{ "fail-in-start", test_fail_in_start },
		{ "retries", test_retries },
		{ "abort", test_abort },
		{ "delta", test_delta },
		{ "delta-falls-back", test_delta_falls_back },
		{ "delta-costs-more-than-blob", test_delta_costs_more_than_blob },
		{ "delta-range-answers", test_delta_range_answers },
		{ "read-back", test_read_back },
		{ "oversize", test_oversize },
		{ "file", test_file },
	};

	return tu_run("transfer", cases, ELEMENTSOF(cases), setup, teardown);
}
