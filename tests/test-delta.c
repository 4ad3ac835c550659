/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chunk indexes, chunk stores and the delta engine over memory files: the chunker resynchronises
 * after an insertion, lying indexes are refused, and a delta writes exactly the target from the
 * slots and the store, or stops with -EPROTO when the store, the index or a slot lies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "bundle.h"
#include "chunk.h"
#include "delta.h"
#include "install.h"
#include "macro.h"
#include "patch.h"
#include "testutil.h"

#define IMG (2u * 1024u * 1024u)

static SwuContext *ctx;
static TuWorld w;
static uint8_t *v1, *v2;

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Blocks of words (compressible), random bytes and zeros: what images are made of. */
static void fill_block(uint8_t *p)
{
	uint64_t kind = rnd() % 10;

	for (size_t i = 0; i < SWU_CHUNK_BLOCK; i++)
		p[i] = kind < 5	  ? (uint8_t)("abcdefgh ij\n"[rnd() % 12])
		       : kind < 8 ? (uint8_t)rnd()
				  : 0;
}

/* v2: v1 with three blocks rewritten, a few bytes patched, and 16 blocks inserted mid-way. */
static void make_images(void)
{
	size_t nb = IMG / SWU_CHUNK_BLOCK, mid = nb / 2 + 3;

	rng_state = 1;
	v1 = malloc(IMG);
	v2 = malloc(IMG);
	ck_assert(v1 && v2);
	for (size_t b = 0; b < nb; b++)
		fill_block(v1 + b * SWU_CHUNK_BLOCK);
	memcpy(v2, v1, mid * SWU_CHUNK_BLOCK);
	for (size_t b = mid; b < mid + 16; b++)
		fill_block(v2 + b * SWU_CHUNK_BLOCK);
	memcpy(v2 + (mid + 16) * SWU_CHUNK_BLOCK, v1 + mid * SWU_CHUNK_BLOCK,
	       IMG - (mid + 16) * SWU_CHUNK_BLOCK);
	for (int i = 0; i < 3; i++)
		fill_block(v2 + (rnd() % nb) * SWU_CHUNK_BLOCK);
	v2[100000] ^= 0x5a;
	v2[100001] ^= 0xa5;
}

static void setup(void)
{
	ctx = tu_context();
	tu_world_init(&w);
	make_images();
}

static void teardown(void)
{
	free(v1);
	free(v2);
	tu_world_done(&w);
	ctx = swu_context_unref(ctx);
}

START_TEST(test_xxh64)
{
	uint8_t p[1000];

	for (size_t i = 0; i < sizeof(p); i++)
		p[i] = (uint8_t)(i % 251);
	/* The reference values of xxhsum -H64 (Debian's xxhash). */
	ck_assert_uint_eq(swu_xxh64("", 0, 0), UINT64_C(0xef46db3751d8e999));
	ck_assert_uint_eq(swu_xxh64("abc", 3, 0), UINT64_C(0x44bc2cf5ad770999));
	ck_assert_uint_eq(swu_xxh64(p, sizeof(p), 0), UINT64_C(0xf306f04aa88b54d3));
	memset(p, 0, 100);
	ck_assert_uint_eq(swu_xxh64(p, 100, 0), UINT64_C(0x17bb1103c92c502f));
}
END_TEST

typedef struct Cuts {
	uint64_t hash[4096];
	uint32_t length[4096];
	size_t n;
} Cuts;

static int record_cut(void *userdata, const SwuChunk *c)
{
	Cuts *k = userdata;

	ck_assert_uint_lt(k->n, ELEMENTSOF(k->hash));
	ck_assert_uint_eq(c->hash, swu_chunk_fast_hash(c->data, c->length));
	k->hash[k->n] = c->hash;
	k->length[k->n++] = c->length;
	return 0;
}

static size_t shared(const Cuts *a, const Cuts *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n; i++)
		for (size_t j = 0; j < a->n; j++)
			if (a->hash[j] == b->hash[i]) {
				n += b->length[i];
				break;
			}
	return n;
}

static void cut(const uint8_t *p, size_t n, bool block, Cuts *ret)
{
	_cleanup_close_ int fd = tu_memfd(p, n);
	SwuChunkParams params;

	swu_chunk_params_default(block, &params);
	ret->n = 0;
	ck_assert_int_eq(swu_chunk_scan(ctx, fd, n, &params, false, record_cut, ret), 0);
}

/* An insertion moves everything after it: content-defined cuts find the same chunks again. */
START_TEST(test_chunker_resyncs)
{
	static Cuts a, b;
	_cleanup_free_ uint8_t *shifted = malloc(IMG + 2 * SWU_CHUNK_BLOCK);
	uint64_t total = 0;

	for (int block = 0; block < 2; block++) {
		cut(v1, IMG, block, &a);
		total = 0;
		for (size_t i = 0; i < a.n; i++) {
			total += a.length[i];
			ck_assert_uint_le(a.length[i], 256 * 1024);
			if (block && i + 1 < a.n)
				ck_assert_uint_eq(a.length[i] % SWU_CHUNK_BLOCK, 0);
		}
		ck_assert_uint_eq(total, IMG);
		cut(v2, IMG, block, &b);
		/* Five changes, one of them an insertion mid-way: fixed-size cuts would share 40%. */
		ck_assert_uint_ge(shared(&a, &b), IMG / 2);
		/*
		 * One insertion a third of the way in: bytes off the grid for byte-granular cuts,
		 * two blocks for block-aligned ones. Only the chunks around it differ.
		 */
		size_t ins = block ? 2 * SWU_CHUNK_BLOCK : 333,
		       at = IMG / 3 / SWU_CHUNK_BLOCK * SWU_CHUNK_BLOCK;

		memcpy(shifted, v1, at);
		memset(shifted + at, 'x', ins);
		memcpy(shifted + at + ins, v1 + at, IMG - at);
		cut(shifted, IMG + ins, block, &b);
		ck_assert_uint_ge(shared(&a, &b), IMG * 85 / 100);
	}
}
END_TEST

static void build_index(const uint8_t *p, size_t n, bool block, uint8_t **ret, size_t *ret_n)
{
	_cleanup_close_ int fd = tu_memfd(p, n);
	SwuChunkParams params;

	swu_chunk_params_default(block, &params);
	ck_assert_int_eq(swu_chunk_index_build(ctx, fd, n, &params, ret, ret_n), 0);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Even a signed index is checked: a wrong one is refused before anything is allocated for it. */
START_TEST(test_index_lies)
{
	_cleanup_free_ uint8_t *idx = NULL, *bad = NULL;
	size_t n = 0;
	SwuChunkIndex *parsed = NULL;
	uint8_t huge[SWU_CHUNK_HEADER_SIZE], sha[SWU_SHA256_SIZE];
	int fd;

	build_index(v2, IMG, true, &idx, &n);
	ck_assert_int_eq(swu_chunk_index_parse(ctx, idx, n, IMG, &parsed), 0);
	ck_assert_uint_eq(parsed->offsets[parsed->n], IMG);
	parsed = swu_chunk_index_free(parsed);

	/* From a file: the same chunks, hashes read when asked for, a file cut short refused. */
	fd = tu_memfd(idx, n);
	ck_assert_int_eq(swu_chunk_index_open(ctx, fd, n, IMG, &parsed), 0);
	ck_assert_uint_eq(parsed->offsets[parsed->n], IMG);
	ck_assert_uint_eq(parsed->n, (n - SWU_CHUNK_HEADER_SIZE) / SWU_CHUNK_ENTRY_SIZE);
	for (uint32_t i = 0; i < parsed->n; i++) {
		const uint8_t *e = idx + SWU_CHUNK_HEADER_SIZE + (size_t)i * SWU_CHUNK_ENTRY_SIZE;

		ck_assert_int_eq(swu_chunk_index_sha256(parsed, i, sha), 0);
		ck_assert(memcmp(sha, e + 12, SWU_SHA256_SIZE) == 0);
		ck_assert_uint_eq(swu_chunk_index_length(parsed, i), e[0] | e[1] << 8 | e[2] << 16);
	}
	ck_assert_int_eq(ftruncate(fd, SWU_CHUNK_HEADER_SIZE), 0);
	ck_assert_int_eq(swu_chunk_index_sha256(parsed, 0, sha), -EIO);
	parsed = swu_chunk_index_free(parsed); /* closes fd */
	fd = tu_memfd(idx, n - 1);
	ck_assert_int_eq(swu_chunk_index_open(ctx, fd, n, IMG, &parsed), -EBADMSG);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "ends at chunk"));
	fd = safe_close(fd);
	bad = malloc(n);
	ck_assert_ptr_nonnull(bad);

	/* Each lie is refused from memory and from a file. */
#define REFUSED(what)                                                                              \
	do {                                                                                       \
		ck_assert_int_eq(swu_chunk_index_parse(ctx, bad, n, IMG, &parsed), -EBADMSG);      \
		ck_assert_msg(strstr(swu_context_get_failure(ctx)->message, what), "%s",           \
			      swu_context_get_failure(ctx)->message);                              \
		fd = tu_memfd(bad, n);                                                             \
		ck_assert_int_eq(swu_chunk_index_open(ctx, fd, n, IMG, &parsed), -EBADMSG);        \
		ck_assert_msg(strstr(swu_context_get_failure(ctx)->message, what), "%s",           \
			      swu_context_get_failure(ctx)->message);                              \
		fd = safe_close(fd);                                                               \
		memcpy(bad, idx, n);                                                               \
	} while (0)

	memcpy(bad, idx, n);
	bad[0] ^= 1;
	REFUSED("not a chunk index");
	put32(bad + 8, 2);
	REFUSED("version 2");
	/* A block index has the rolling flag; an unknown flag is refused. */
	ck_assert_uint_eq(swu_le32(idx + 12), SWU_CHUNK_FLAG_ROLLING);
	put32(bad + 12, SWU_CHUNK_FLAG_ROLLING | 2);
	REFUSED("flags 3 unsupported");
	put64(bad + 16, IMG + 1);
	REFUSED("describes");
	put32(bad + 36, 3000); /* avg not a power of two */
	REFUSED("parameters");
	put32(bad + 44, 7);
	REFUSED("lists 7 chunks");
	/* A chunk longer than the image (lengths past the target), then one too short. */
	put32(bad + SWU_CHUNK_HEADER_SIZE, 3 * 1024 * 1024);
	REFUSED("chunk 0 of the index");
	put32(bad + SWU_CHUNK_HEADER_SIZE, SWU_CHUNK_BLOCK);
	REFUSED("chunk 0 of the index");
	/* Off the block grid in a block-aligned index. */
	put32(bad + SWU_CHUNK_HEADER_SIZE, 16 * 1024 + 1);
	REFUSED("chunk 0 of the index");
	/* The rolling flag with byte-granular cut points: one meaning has one encoding. */
	put32(bad + 28, 1);
	REFUSED("parameters");
	/* max above SWU_CHUNK_MAX_MAX (the chunker's arrays hold that many blocks): refused. */
	put32(bad + 40, 2 * SWU_CHUNK_MAX_MAX);
	REFUSED("parameters");
	/* The last chunk one byte short of the image's end (the lengths no longer tile it). */
	{
		uint32_t last = swu_le32(idx + 44) - 1;
		uint8_t *e = bad + SWU_CHUNK_HEADER_SIZE + (size_t)last * SWU_CHUNK_ENTRY_SIZE;

		put32(e, swu_le32(e) - 1);
		REFUSED("of the index: length");
	}
	/*
	 * The first chunks as one entry longer than max, the lengths still tiling the image: the
	 * device's chunk buffer holds max bytes.
	 */
	{
		uint32_t len = 0, k = 0;
		size_t m;

		while (len <= 256 * 1024)
			len += swu_le32(idx + SWU_CHUNK_HEADER_SIZE +
					(size_t)k++ * SWU_CHUNK_ENTRY_SIZE);
		put32(bad + SWU_CHUNK_HEADER_SIZE, len);
		m = n - (size_t)(k - 1) * SWU_CHUNK_ENTRY_SIZE;
		memmove(bad + SWU_CHUNK_HEADER_SIZE + SWU_CHUNK_ENTRY_SIZE,
			bad + SWU_CHUNK_HEADER_SIZE + (size_t)k * SWU_CHUNK_ENTRY_SIZE,
			n - SWU_CHUNK_HEADER_SIZE - (size_t)k * SWU_CHUNK_ENTRY_SIZE);
		put32(bad + 44, swu_le32(idx + 44) - (k - 1));
		ck_assert_int_eq(swu_chunk_index_parse(ctx, bad, m, IMG, &parsed), -EBADMSG);
		ck_assert_msg(strstr(swu_context_get_failure(ctx)->message, "chunk 0 of the index"),
			      "%s", swu_context_get_failure(ctx)->message);
		fd = tu_memfd(bad, m);
		ck_assert_int_eq(swu_chunk_index_open(ctx, fd, m, IMG, &parsed), -EBADMSG);
		fd = safe_close(fd);
		memcpy(bad, idx, n);
	}
	/* Overlapping or out of order cannot be said (offsets are sums); not covering can. */
	ck_assert_int_eq(swu_chunk_index_parse(ctx, bad, n - SWU_CHUNK_ENTRY_SIZE, IMG, &parsed),
			 -EBADMSG);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "lists"));
	/* Ten million chunks claimed: refused from the header alone. */
	memcpy(huge, idx, sizeof(huge));
	put32(huge + 44, 10 * 1000 * 1000);
	ck_assert_int_eq(swu_chunk_index_parse(ctx, huge, sizeof(huge), IMG, &parsed), -EBADMSG);
	put64(huge + 16, UINT64_C(1) << 40);
	ck_assert_int_eq(swu_chunk_index_parse(ctx, huge, sizeof(huge), UINT64_C(1) << 40, &parsed),
			 -EBADMSG);
	ck_assert_ptr_null(parsed);
#undef REFUSED
}
END_TEST

/* --- a delta, end to end --------------------------------------------------------------------- */

typedef struct Run {
	const uint8_t *active; /* NULL: none */
	const uint8_t *inactive;
	bool block;
	bool no_rolling;	/* a block index without the rolling flag */
	bool patch;		/* a patch store made for @active, not a chunk store */
	const uint8_t *indexed; /* the image the index describes (default: v2) */
	void (*tamper_store)(int store_fd, const SwuChunkIndex *idx);
	void (*after_scan)(int active_fd);
	uint32_t batch_blocks; /* 0: the default */
	uint64_t gap;	       /* frames joined over gaps this long (0: 16 KiB) */
	uint64_t join_local;   /* 0: the default */
	size_t frame_ranges;   /* of the last batch */
	/* feeds frame range @rg (default: all of it, in pieces); its bytes fed are counted */
	int (*feed_frames)(SwuDelta *d, SwuSlotWriter *wr, int store, const SwuRange *rg);
	uint64_t frame_bytes;
	SwuDeltaStats stats;
	char why[256];
	unsigned writes, batches;
} Run;

static void count_writes(void *userdata, const char *where)
{
	if (streq(where, "write"))
		(*(unsigned *)userdata)++;
}

static int feed_range(SwuDelta *d, SwuSlotWriter *wr, int store, const SwuRange *rg, bool frames)
{
	_cleanup_free_ uint8_t *buf = malloc(rg->length);
	int r = 0;

	ck_assert_int_eq(pread(store, buf, rg->length, (off_t)rg->offset), (ssize_t)rg->length);
	/* In odd pieces, as a network delivers them. */
	for (uint64_t at = 0; r >= 0 && at < rg->length; at += 777) {
		size_t k = (size_t)MIN((uint64_t)777, rg->length - at);

		r = frames ? swu_delta_feed(d, wr, buf + at, k)
			   : swu_delta_feed_records(d, rg->offset + at, buf + at, k);
	}
	return r;
}

static int delta_steps(SwuDelta *d, SwuSlotWriter *wr, int store, int active_fd, Run *run)
{
	const SwuRange *ranges;
	size_t n = 0, next = 0;
	int r;

batch:
	r = swu_delta_record_ranges(d, 4096, &ranges, &n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = feed_range(d, wr, store, &ranges[i], false);
	if (r >= 0)
		r = swu_delta_plan(d, active_fd, IMG, run->gap ? run->gap : 16384, &ranges, &n);
	run->frame_ranges = n;
	if (r >= 0 && run->after_scan)
		run->after_scan(active_fd);
	next = 0;
	while (r >= 0) {
		while ((r = swu_delta_write_local(d, wr, 100000)) > 0)
			;
		if (r < 0 || swu_delta_done(d))
			break;
		if (swu_delta_batch_done(d)) {
			ck_assert_uint_eq(next, n);
			run->batches++;
			ck_assert_int_eq(swu_delta_next_batch(d), 0);
			goto batch;
		}
		ck_assert_uint_lt(next, n);
		r = swu_delta_begin_range(d, next);
		run->frame_bytes += ranges[next].length;
		if (r >= 0)
			r = run->feed_frames ? run->feed_frames(d, wr, store, &ranges[next])
					     : feed_range(d, wr, store, &ranges[next], true);
		if (r >= 0)
			r = swu_delta_end_range(d);
		next++;
	}
	return r;
}

/* Installs v2 as a delta into a slot holding @run->inactive; returns the first error. */
static int delta_install(Run *run, int slot)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(swu_slot_writer_freep) SwuSlotWriter *wr = NULL;
	_cleanup_(swu_delta_freep) SwuDelta *d = NULL;
	_cleanup_free_ uint8_t *index = NULL;
	_cleanup_close_ int bfd = -EBADF, store = -EBADF;
	_cleanup_close_ int active = run->active ? tu_memfd(run->active, IMG) : -EBADF;
	SwuChunkIndex *idx = NULL;
	TuTargetsSpec spec = { .version = 2,
			       .files = { { "img", v2, IMG } },
			       .n_files = 1,
			       .signers = { w.targets_key },
			       .n_signers = 1 };
	SwuInstallTarget t = { "img", slot, IMG, active, false };
	SwuBuf targets = {}, bundle = {};
	uint64_t size = 0;
	size_t n = 0;
	int r;

	tu_targets(&spec, &targets);
	tu_put_root(&bundle, &w.root);
	tu_put_targets(&bundle, "targets", &targets);
	bfd = tu_memfd(bundle.data, bundle.size);
	swu_buf_done(&targets);
	swu_buf_done(&bundle);
	ck_assert_int_eq(swu_bundle_open_fd(ctx, bfd, &b), 0);
	ck_assert_int_eq(swu_verifier_new(ctx, w.root.data, w.root.size, 0, &v), 0);
	ck_assert_int_eq(swu_bundle_verify_metadata(b, v), 0);

	/* Release side: the index and the store of the image. */
	{
		_cleanup_close_ int img = tu_memfd(run->indexed ? run->indexed : v2, IMG);
		SwuChunkParams params;

		swu_chunk_params_default(run->block, &params);
		if (run->no_rolling)
			params.flags &= ~SWU_CHUNK_FLAG_ROLLING;
		ck_assert_int_eq(swu_chunk_index_build(ctx, img, IMG, &params, &index, &n), 0);
		ck_assert_int_eq(swu_chunk_index_parse(ctx, index, n, IMG, &idx), 0);
		store = tu_memfd("", 0);
		if (run->patch) {
			_cleanup_close_ int old = tu_memfd(run->active, IMG);

			ck_assert_int_eq(swu_patch_store_write(ctx, img, 0, idx, old, IMG, 3, store,
							       &size, NULL),
					 0);
			ck_assert_int_eq(swu_patch_store_check(ctx, idx, store, size, old, IMG), 0);
		} else
			ck_assert_int_eq(swu_store_write(ctx, img, 0, idx, 3, store, &size), 0);
		if (run->tamper_store)
			run->tamper_store(store, idx);
		idx = swu_chunk_index_free(idx);
	}
	/* The device keeps the index in a file, as the daemon does. */
	ck_assert_int_eq(swu_chunk_index_open(ctx, tu_memfd(index, n), n, IMG, &idx), 0);
	ck_assert_ptr_null(idx->data);
	ck_assert_int_eq(swu_delta_new(ctx, idx, &d), 0);
	if (run->batch_blocks)
		swu_delta_set_batch_blocks(d, run->batch_blocks);
	if (run->join_local)
		swu_delta_set_join_local_max(d, run->join_local);
	ck_assert_int_eq(swu_delta_scan(d, active, IMG, slot), 0);
	if (run->patch)
		ck_assert_int_eq(swu_delta_use_patch_store(d), 0);
	ck_assert_int_eq(swu_slot_writer_new(ctx, v, &t, IMG, &wr), 0);
	swu_context_set_fault(ctx, count_writes, &run->writes);
	r = delta_steps(d, wr, store, active, run);
	swu_context_set_fault(ctx, NULL, NULL);
	swu_delta_get_stats(d, &run->stats);
	snprintf(run->why, sizeof(run->why), "%s", swu_delta_why(d));
	if (r >= 0)
		r = swu_slot_writer_close(wr);
	if (r >= 0)
		r = swu_slot_writer_finish(wr);
	return r;
}

static void expect_slot(int slot, const uint8_t *want)
{
	_cleanup_free_ uint8_t *got = malloc(IMG);

	ck_assert_int_eq(pread(slot, got, IMG, 0), (ssize_t)IMG);
	ck_assert(memcmp(got, want, IMG) == 0);
}

START_TEST(test_delta_from_active)
{
	for (int block = 0; block < 2; block++) {
		_cleanup_close_ int slot = tu_memfd("", 0);
		Run run = { .active = v1, .block = block };

		ck_assert_int_eq(ftruncate(slot, IMG), 0);
		ck_assert_int_eq(delta_install(&run, slot), 0);
		expect_slot(slot, v2);
		ck_assert_uint_gt(run.stats.chunks_active, run.stats.chunks / 2);
		ck_assert_uint_gt(run.stats.chunks_missing, 0);
		/*
		 * The missing chunks' unchanged blocks come from the active slot: at block
		 * boundaries for block images, at any offset (rolling hash) for byte-granular ones.
		 */
		ck_assert_uint_gt(run.stats.blocks_active, 0);
		/* 80 KiB changed: only the blocks around the changes are fetched. */
		ck_assert_uint_lt(run.stats.download, IMG / 16);
		ck_assert_uint_eq(run.stats.reused, run.stats.bytes_local);
	}
}
END_TEST

/* Nothing local: every block from the store, still exactly the image. */
START_TEST(test_delta_from_nothing)
{
	_cleanup_close_ int slot = tu_memfd("", 0);
	Run run = { .block = true };

	ck_assert_int_eq(ftruncate(slot, IMG), 0);
	ck_assert_int_eq(delta_install(&run, slot), 0);
	expect_slot(slot, v2);
	ck_assert_uint_eq(run.stats.chunks_missing, run.stats.chunks);
	ck_assert_uint_eq(run.stats.reused, 0);
	ck_assert_uint_eq(run.batches, 0);
}
END_TEST

/* Memory stays flat: the missing chunks in batches of 64 blocks give the same image. */
/* Installs v2 with @a and with @b, each into a fresh slot: both must give the image. */
static void install_both(Run *a, Run *b)
{
	_cleanup_close_ int slot = tu_memfd("", 0), slot2 = tu_memfd("", 0);

	ck_assert_int_eq(ftruncate(slot, IMG), 0);
	ck_assert_int_eq(ftruncate(slot2, IMG), 0);
	ck_assert_int_eq(delta_install(a, slot), 0);
	expect_slot(slot, v2);
	ck_assert_int_eq(delta_install(b, slot2), 0);
	expect_slot(slot2, v2);
}

/*
 * A block image whose second half moved by 1000 bytes (data inserted into a file shifts the rest
 * of it by any amount): with the rolling flag, the shifted blocks are found in the active slot at
 * their unaligned offsets; without it, at block boundaries only, they are all downloaded.
 */
START_TEST(test_delta_unaligned_move)
{
	size_t at = IMG / 2 + 123, shift = 1000;
	Run rolling = { .active = v1, .block = true };
	Run aligned = { .active = v1, .block = true, .no_rolling = true };

	memcpy(v2, v1, IMG);
	for (size_t i = 0; i < shift; i++)
		v2[at + i] = (uint8_t)rnd();
	memcpy(v2 + at + shift, v1 + at, IMG - at - shift);
	install_both(&rolling, &aligned);
	/*
	 * Everything after the insertion is in the active slot, 1000 bytes earlier; at block
	 * boundaries only the runs of zeros still match.
	 */
	fprintf(stderr, "unaligned move: rolling %llu local, %llu downloaded; aligned %llu, %llu\n",
		(unsigned long long)rolling.stats.bytes_local,
		(unsigned long long)rolling.stats.download,
		(unsigned long long)aligned.stats.bytes_local,
		(unsigned long long)aligned.stats.download);
	ck_assert_uint_gt(rolling.stats.bytes_local, aligned.stats.bytes_local + IMG / 4);
	ck_assert_uint_lt(rolling.stats.download, 64 * 1024);
	ck_assert_uint_gt(aligned.stats.download, IMG / 8);
}
END_TEST

/*
 * A patch store for the image the active slot holds: a block changed in place (a few bytes every
 * 48 KiB, as a relinked binary's) is fetched as what changed, not as the whole block.
 */
static void scatter(void)
{
	memcpy(v2, v1, IMG);
	for (size_t at = 1000; at + 8 < IMG; at += 48 * 1024)
		for (size_t i = 0; i < 8; i++)
			v2[at + i] = (uint8_t)rnd();
}

START_TEST(test_delta_patch_store)
{
	Run plain = { .active = v1, .block = true };
	Run patch = { .active = v1, .block = true, .patch = true };

	scatter();
	install_both(&plain, &patch);
	fprintf(stderr, "scattered changes: chunk store %llu bytes, patch store %llu\n",
		(unsigned long long)plain.stats.download, (unsigned long long)patch.stats.download);
	ck_assert_uint_gt(patch.stats.frames_referenced, 0);
	ck_assert_uint_eq(plain.stats.frames_referenced, 0);
	ck_assert_uint_lt(patch.stats.download * 3, plain.stats.download);
	/* make_images()'s insertion and rewritten blocks too, byte-granular and block. */
	free(v1);
	free(v2);
	make_images();
	for (int block = 0; block < 2; block++) {
		Run a = { .active = v1, .block = block };
		Run b = { .active = v1, .block = block, .patch = true };

		install_both(&a, &b);
		ck_assert_uint_le(b.stats.download, a.stats.download + a.stats.download / 4);
	}
}
END_TEST

/* The reference of every chunk of a patch store (its length, then its offset), by @edit. */
static void edit_refs(int store, const SwuChunkIndex *idx, void (*edit)(uint8_t *e))
{
	for (uint32_t i = 0; i < idx->n; i++) {
		off_t at = (off_t)(8 + (uint64_t)SWU_PATCH_RECORD_SIZE * i + 12);
		uint8_t e[12];

		ck_assert_int_eq(pread(store, e, 12, at), 12);
		edit(e);
		ck_assert_int_eq(pwrite(store, e, 12, at), 12);
	}
}

static void past_end(uint8_t *e)
{
	swu_put_le32(e, 4096);
	swu_put_le64(e + 4, IMG - 100);
}

static void too_long(uint8_t *e)
{
	swu_put_le32(e, swu_patch_ref_max(256 * 1024) + 1);
	swu_put_le64(e + 4, 0);
}

static void elsewhere(uint8_t *e)
{
	if (swu_le32(e) == 0)
		swu_put_le32(e, 4096);
	swu_put_le64(e + 4,
		     swu_le64(e + 4) >= 8192 ? swu_le64(e + 4) - 8192 : swu_le64(e + 4) + 8192);
}

static void ref_past_end(int store, const SwuChunkIndex *idx)
{
	edit_refs(store, idx, past_end);
}

static void ref_too_long(int store, const SwuChunkIndex *idx)
{
	edit_refs(store, idx, too_long);
}

static void ref_elsewhere(int store, const SwuChunkIndex *idx)
{
	edit_refs(store, idx, elsewhere);
}

/*
 * Every chunk's frame again, without a reference and without its length stated (a frame the
 * decoder would need a window buffer for): appended, the records pointing at them.
 */
static void frames_without_size(int store, const SwuChunkIndex *idx)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t bound = ZSTD_compressBound(256 * 1024);
	_cleanup_free_ uint8_t *frame = malloc(bound);
	struct stat st;
	uint64_t end;

	ck_assert(c && frame);
	ck_assert_int_eq(fstat(store, &st), 0);
	end = (uint64_t)st.st_size;
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
	for (uint32_t i = 0; i < idx->n; i++) {
		uint32_t len = swu_chunk_index_length(idx, i);
		size_t z = ZSTD_compress2(c, frame, bound, v2 + idx->offsets[i], len);
		uint8_t rec[SWU_PATCH_RECORD_SIZE] = {};

		ck_assert(!ZSTD_isError(z));
		ck_assert_int_eq(pwrite(store, frame, z, (off_t)end), (ssize_t)z);
		swu_put_le64(rec, end);
		swu_put_le32(rec + 8, (uint32_t)z);
		ck_assert_int_eq(pwrite(store, rec, sizeof(rec),
					(off_t)(8 + SWU_PATCH_RECORD_SIZE * i)),
				 (ssize_t)sizeof(rec));
		end += z;
	}
	ZSTD_freeCCtx(c);
}

static void wrong_patch_magic(int store, const SwuChunkIndex *idx)
{
	ck_assert_int_eq(pwrite(store, "SWUSTOR1", 8, 0), 8);
}

/* Chunk 1's frame at chunk 0's. */
static void overlapping_frames(int store, const SwuChunkIndex *idx)
{
	uint8_t at[8];

	ck_assert_int_eq(pread(store, at, 8, 8), 8);
	ck_assert_int_eq(pwrite(store, at, 8, 8 + SWU_PATCH_RECORD_SIZE), 8);
}

/* Lying references stop the delta (the blob follows), never write other bytes. */
START_TEST(test_delta_patch_store_lies)
{
	static const struct {
		void (*tamper)(int, const SwuChunkIndex *);
		const char *why;
	} cases[] = {
		{ ref_past_end, "outside the installed image" },
		{ ref_too_long, "outside the installed image" },
		{ ref_elsewhere, "" }, /* does not decode, or not to the chunk */
		{ frames_without_size, "is not a zstd frame of" },
	};

	scatter();
	for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
		_cleanup_close_ int slot = tu_memfd("", 0);
		Run run = {
			.active = v1, .block = true, .patch = true, .tamper_store = cases[c].tamper
		};

		ck_assert_int_eq(ftruncate(slot, IMG), 0);
		ck_assert_int_eq(delta_install(&run, slot), -EPROTO);
		ck_assert_msg(run.why[0] && strstr(run.why, cases[c].why), "%s", run.why);
		ck_assert_uint_eq(run.writes, 0); /* nothing of a chunk that did not match */
	}
}
END_TEST

/* swu verify-channel's check of a patch store: each lie named. */
START_TEST(test_patch_store_check)
{
	static const struct {
		void (*tamper)(int, const SwuChunkIndex *);
		const char *why;
	} cases[] = {
		{ ref_past_end, "outside the old image" },
		{ ref_too_long, "outside the old image" },
		{ ref_elsewhere, "chunk" },
		{ wrong_patch_magic, "no SWUPTCH1 magic" },
		{ overlapping_frames, "overlaps" },
	};
	_cleanup_free_ uint8_t *index = NULL;
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = NULL;
	_cleanup_close_ int img = -EBADF, old = -EBADF;
	SwuChunkParams params;
	uint32_t referenced = 0;
	size_t n = 0;

	scatter();
	img = tu_memfd(v2, IMG);
	old = tu_memfd(v1, IMG);
	swu_chunk_params_default(true, &params);
	ck_assert_int_eq(swu_chunk_index_build(ctx, img, IMG, &params, &index, &n), 0);
	ck_assert_int_eq(swu_chunk_index_parse(ctx, index, n, IMG, &idx), 0);
	for (size_t c = 0; c <= ELEMENTSOF(cases); c++) {
		_cleanup_close_ int store = tu_memfd("", 0);
		uint64_t size = 0;

		ck_assert_int_eq(swu_patch_store_write(ctx, img, 0, idx, old, IMG, 3, store, &size,
						       &referenced),
				 0);
		ck_assert_uint_eq(referenced,
				  idx->n); /* every chunk was in v1, a few bytes changed */
		if (c == ELEMENTSOF(cases)) {
			/* Another image (zeros): the chunks do not decode to the index's. */
			_cleanup_free_ uint8_t *zeros = calloc(1, IMG);
			_cleanup_close_ int other = tu_memfd(zeros, IMG);

			ck_assert_int_eq(swu_patch_store_check(ctx, idx, store, size, other, IMG),
					 -EBADMSG);
			continue;
		}
		cases[c].tamper(store, idx);
		ck_assert_int_eq(swu_patch_store_check(ctx, idx, store, size, old, IMG), -EBADMSG);
		ck_assert_msg(strstr(swu_context_get_failure(ctx)->message, cases[c].why), "%s",
			      swu_context_get_failure(ctx)->message);
	}
}
END_TEST

START_TEST(test_delta_batches)
{
	for (int block = 0; block < 2; block++) {
		Run run = { .active = v1, .block = block, .batch_blocks = 64 };
		Run all = { .active = v1, .block = block };

		install_both(&run, &all);
		ck_assert_uint_ge(run.batches, 2);
		ck_assert_uint_eq(run.stats.blocks_active, all.stats.blocks_active);
		ck_assert_uint_eq(run.stats.reused, all.stats.reused);
	}
}
END_TEST

/*
 * Frames far apart are not joined into one range, whatever the gap allows: the local chunks
 * between them would all be written while that range streams. v2 with its first and last
 * 256 KiB changed: joined over 1.5 MiB of local chunks by default (4 MiB), not with 1 MiB.
 */
START_TEST(test_delta_join_local_max)
{
	_cleanup_free_ uint8_t *active = malloc(IMG);

	memcpy(active, v2, IMG);
	memset(active, 0x5a, 256 * 1024);
	memset(active + IMG - 256 * 1024, 0xa5, 256 * 1024);
	for (int block = 0; block < 2; block++) {
		Run joined = { .active = active, .block = block, .gap = UINT64_MAX / 2 };
		Run apart = { .active = active,
			      .block = block,
			      .gap = UINT64_MAX / 2,
			      .join_local = 1024 * 1024 };

		install_both(&joined, &apart);
		ck_assert_uint_eq(joined.frame_ranges, 1);
		ck_assert_uint_eq(apart.frame_ranges, 2);
		ck_assert_uint_eq(apart.stats.reused, joined.stats.reused);
	}
}
END_TEST

/* A resumed install: what the inactive slot already holds in place is verified, not rewritten. */
START_TEST(test_delta_resumes_in_place)
{
	_cleanup_close_ int slot = tu_memfd(v2, IMG);
	Run run = { .active = v1, .block = true };

	ck_assert_int_eq(delta_install(&run, slot), 0);
	expect_slot(slot, v2);
	ck_assert_uint_eq(run.stats.chunks_in_place, run.stats.chunks);
	ck_assert_uint_eq(run.writes, 0);
	ck_assert_uint_eq(run.stats.download, 0);

	/* Half of it there (a power cut): the rest comes from the active slot and the store. */
	{
		_cleanup_close_ int half = tu_memfd(v2, IMG / 2);
		Run again = { .active = v1, .block = true };

		ck_assert_int_eq(ftruncate(half, IMG), 0);
		ck_assert_int_eq(delta_install(&again, half), 0);
		expect_slot(half, v2);
		ck_assert_uint_ge(again.stats.chunks_in_place, again.stats.chunks / 3);
	}
}
END_TEST

static void flip_frame(int store, const SwuChunkIndex *idx)
{
	uint8_t byte;
	off_t at = (off_t)swu_store_records_end(idx) + 40;

	ck_assert_int_eq(pread(store, &byte, 1, at), 1);
	byte ^= 0xff;
	ck_assert_int_eq(pwrite(store, &byte, 1, at), 1);
}

static void every_frame_at_zero(int store, const SwuChunkIndex *idx)
{
	uint8_t zero[8] = {};

	for (uint32_t i = 0; i < idx->n; i++)
		ck_assert_int_eq(pwrite(store, zero, 8, (off_t)swu_store_record_offset(idx, i)), 8);
}

static void huge_frames(int store, const SwuChunkIndex *idx)
{
	uint8_t big[4];

	put32(big, 1u << 30);
	for (uint32_t i = 0; i < idx->n; i++)
		ck_assert_int_eq(
			pwrite(store, big, 4,
			       (off_t)swu_store_record_offset(idx, i) + SWU_STORE_RECORD_HEAD + 8),
			4);
}

/*
 * Records whose blocks claim what a zero window hashes to, each with a fast hash no block has.
 * Byte-granular: every block the rolling hash of a zero block (@spread false), or values in the
 * hash-table bucket of it (@spread true: the first block claims it, the others differ in their
 * top bits only). Block images: fast hashes in the bucket of a zero block's, none of them its own.
 */
static void claim_zero_blocks(int store, const SwuChunkIndex *idx, bool spread)
{
	uint8_t zero[SWU_CHUNK_BLOCK] = {}, e[8];
	bool rolling = swu_store_record_block(idx) == SWU_STORE_RECORD_BYTE;
	uint32_t h0 = swu_rolling_hash(zero), k = 0;
	uint64_t x0 = swu_xxh64(zero, sizeof(zero), 0);

	for (uint32_t i = 0; i < idx->n; i++) {
		uint32_t nb = swu_chunk_n_blocks(swu_chunk_index_length(idx, i));
		off_t at = (off_t)swu_store_record_offset(idx, i) + SWU_STORE_RECORD_HEAD;

		for (uint32_t b = 0; b < nb; b++, k++, at += swu_store_record_block(idx)) {
			put64(e, rolling ? UINT64_C(0x0123456789abcdef) + k
					 : x0 + ((uint64_t)(k + 1) << 40));
			ck_assert_int_eq(pwrite(store, e, 8, at), 8);
			if (!rolling)
				continue;
			put32(e, spread ? h0 + (k << 21) : h0);
			ck_assert_int_eq(pwrite(store, e, 4, at + 12), 4);
		}
	}
}

static void same_rolling_hash(int store, const SwuChunkIndex *idx)
{
	claim_zero_blocks(store, idx, false);
}

static void same_bucket(int store, const SwuChunkIndex *idx)
{
	claim_zero_blocks(store, idx, true);
}

/*
 * The level-2 search stays bounded when unsigned records lie, over an active slot of zeros (a
 * rolling match at every offset): blocks are looked up by the exact value of their hash, so
 * values that share the zero window's bucket cost nothing, and a block whose rolling hash
 * matched eight times without its fast hash leaves the search. A batch makes at most eight
 * probes a block, however long the slot: a lookup by bucket made 64 at every byte of it.
 */
START_TEST(test_delta_search_bounded)
{
	_cleanup_free_ uint8_t *zeros = calloc(1, IMG);
	Run same = { .active = zeros, .tamper_store = same_rolling_hash };
	Run bucket = { .active = zeros, .tamper_store = same_bucket };
	Run block = { .active = zeros, .block = true, .tamper_store = same_bucket };
	Run all = { .block = true };

	/* The frames are true: each installs the image, every block fetched. */
	install_both(&same, &bucket);
	install_both(&block, &all);
	ck_assert_uint_eq(same.stats.blocks_active, 0);
	ck_assert_uint_gt(same.stats.probes, 0);
	ck_assert_uint_le(same.stats.probes, 8 * same.stats.blocks_missing);
	ck_assert_uint_gt(bucket.stats.blocks_missing, 64);
	ck_assert_uint_le(bucket.stats.probes, 8 * bucket.stats.blocks_missing);
	ck_assert_uint_eq(block.stats.blocks_active, 0);
	ck_assert_uint_le(block.stats.probes, block.stats.blocks_missing);
}
END_TEST

/* Whatever the unsigned store says, the result is the image or -EPROTO with a reason. */
START_TEST(test_delta_lying_store)
{
	static const struct {
		void (*tamper)(int, const SwuChunkIndex *);
		const char *why;
	} lies[] = {
		{ flip_frame, "chunk" },
		{ every_frame_at_zero, "overlap" },
		{ huge_frames, "claims" },
	};

	for (size_t i = 0; i < ELEMENTSOF(lies); i++) {
		_cleanup_close_ int slot = tu_memfd("", 0);
		Run run = { .block = true, .tamper_store = lies[i].tamper };

		ck_assert_int_eq(ftruncate(slot, IMG), 0);
		ck_assert_int_eq(delta_install(&run, slot), -EPROTO);
		ck_assert_msg(strstr(run.why, lies[i].why), "%s", run.why);
	}
}
END_TEST

/* --- stores whose frames lie ---------------------------------------------------------------- */

typedef size_t (*FrameFunc)(const uint8_t *block, uint32_t blen, uint8_t *out);

/* A raw zstd frame of @blen bytes that declares a window of 2^@window_log and no content size. */
static size_t raw_frame(const uint8_t *block, uint32_t blen, int window_log, uint8_t *out)
{
	uint32_t bh = 1u | blen << 3; /* the last block, raw, of blen bytes */

	memcpy(out, "\x28\xb5\x2f\xfd", 4);
	out[4] = 0; /* not single-segment: a window descriptor follows */
	out[5] = (uint8_t)((window_log - 10) << 3);
	out[6] = (uint8_t)bh;
	out[7] = (uint8_t)(bh >> 8);
	out[8] = (uint8_t)(bh >> 16);
	memcpy(out + 9, block, blen);
	return 9 + (size_t)blen;
}

static size_t frame_ok(const uint8_t *block, uint32_t blen, uint8_t *out)
{
	return raw_frame(block, blen, 17, out);
}

/* The block, then an empty frame: two frames that decode to exactly the block. */
static size_t frame_twice(const uint8_t *block, uint32_t blen, uint8_t *out)
{
	size_t z = raw_frame(block, blen, 17, out);

	return z + raw_frame(block, 0, 17, out + z);
}

static size_t frame_short(const uint8_t *block, uint32_t blen, uint8_t *out)
{
	return raw_frame(block, blen - 1, 17, out);
}

/* The block, whole, in a frame that declares a 256 KiB window. */
static size_t frame_wide(const uint8_t *block, uint32_t blen, uint8_t *out)
{
	return raw_frame(block, blen, 18, out);
}

/*
 * Writes the store of v2 again: each frame from @frame (NULL: the one it has), @pad bytes after
 * the frames of each chunk (the frames of one chunk follow each other), the records saying so.
 */
static void relayout(int store, const SwuChunkIndex *idx, FrameFunc frame, uint64_t pad)
{
	_cleanup_free_ uint8_t *old = NULL, *rec = malloc(SWU_STORE_RECORD_HEAD + 16 * 256);
	uint8_t out[2 * SWU_CHUNK_BLOCK];
	uint64_t rpos = SWU_STORE_MAGIC_SIZE, fpos = swu_store_records_end(idx);
	uint32_t rb = swu_store_record_block(idx);
	struct stat st;

	ck_assert_int_eq(fstat(store, &st), 0);
	old = malloc((size_t)st.st_size);
	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(pread(store, old, (size_t)st.st_size, 0), st.st_size);
	ck_assert_int_eq(ftruncate(store, SWU_STORE_MAGIC_SIZE), 0);
	for (uint32_t i = 0; i < idx->n; i++) {
		uint32_t len = swu_chunk_index_length(idx, i);
		uint64_t size = swu_store_record_size(idx, i), opos = swu_le64(old + rpos);

		memcpy(rec, old + rpos, size);
		swu_put_le64(rec, fpos);
		for (uint32_t b = 0; b < swu_chunk_n_blocks(len); b++) {
			uint8_t *e = rec + SWU_STORE_RECORD_HEAD + (size_t)rb * b;
			uint32_t blen = MIN(SWU_CHUNK_BLOCK, len - b * SWU_CHUNK_BLOCK);
			uint32_t z = swu_le32(e + 8);
			size_t nz = z;

			if (frame)
				nz = frame(v2 + idx->offsets[i] + b * SWU_CHUNK_BLOCK, blen, out);
			else
				memcpy(out, old + opos, z);
			ck_assert_int_eq(pwrite(store, out, nz, (off_t)fpos), (ssize_t)nz);
			swu_put_le32(e + 8, (uint32_t)nz);
			opos += z;
			fpos += nz;
		}
		fpos += pad;
		ck_assert_int_eq(pwrite(store, rec, size, (off_t)rpos), (ssize_t)size);
		rpos += size;
	}
}

static void frames_ok(int store, const SwuChunkIndex *idx)
{
	relayout(store, idx, frame_ok, 0);
}

static void frames_twice(int store, const SwuChunkIndex *idx)
{
	relayout(store, idx, frame_twice, 0);
}

static void frames_short(int store, const SwuChunkIndex *idx)
{
	relayout(store, idx, frame_short, 0);
}

static void frames_wide(int store, const SwuChunkIndex *idx)
{
	relayout(store, idx, frame_wide, 0);
}

/*
 * A block of the store is exactly one zstd frame, decoded with a window of at most 128 KiB into
 * exactly the block's length: two frames that together make the block, a frame one byte short,
 * a frame that declares a window of 256 KiB are each refused by name (raw frames that follow the
 * rules install the image).
 */
START_TEST(test_delta_lying_frames)
{
	static const struct {
		void (*tamper)(int, const SwuChunkIndex *);
		const char *why;
	} cases[] = {
		{ frames_ok, NULL },
		{ frames_twice, "is not one zstd frame" },
		{ frames_short, "does not decode to 4096 bytes: short" },
		{ frames_wide, "does not decode to 4096 bytes: Frame requires too much memory" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_close_ int slot = tu_memfd("", 0);
		Run run = { .active = v1, .block = true, .tamper_store = cases[i].tamper };

		ck_assert_int_eq(ftruncate(slot, IMG), 0);
		if (!cases[i].why) {
			ck_assert_int_eq(delta_install(&run, slot), 0);
			expect_slot(slot, v2);
			ck_assert_uint_gt(run.stats.blocks_missing, run.stats.blocks_active);
			continue;
		}
		ck_assert_int_eq(delta_install(&run, slot), -EPROTO);
		ck_assert_msg(strstr(run.why, cases[i].why), "%zu: %s", i, run.why);
	}
}
END_TEST

/* The range and one byte of the store after it, at once. */
static int feed_one_more(SwuDelta *d, SwuSlotWriter *wr, int store, const SwuRange *rg)
{
	_cleanup_free_ uint8_t *buf = calloc(1, rg->length + 1);

	ck_assert_int_ge(pread(store, buf, rg->length + 1, (off_t)rg->offset), (ssize_t)rg->length);
	return swu_delta_feed(d, wr, buf, rg->length + 1);
}

/* Only the first frame of the range (raw frames of whole blocks: 4105 bytes), then its end. */
static int feed_first_frame(SwuDelta *d, SwuSlotWriter *wr, int store, const SwuRange *rg)
{
	size_t n = (size_t)MIN(rg->length, (uint64_t)(9 + SWU_CHUNK_BLOCK));
	_cleanup_free_ uint8_t *buf = malloc(n);

	ck_assert_int_eq(pread(store, buf, n, (off_t)rg->offset), (ssize_t)n);
	return swu_delta_feed(d, wr, buf, n);
}

/*
 * A range brings exactly its bytes: one byte more is refused before any of it is used, and a
 * range that ends before its last byte (at a frame's end) is refused when it ends.
 */
START_TEST(test_delta_lying_ranges)
{
	_cleanup_close_ int slot = tu_memfd("", 0), slot2 = tu_memfd("", 0);
	Run more = { .active = v1, .block = true, .feed_frames = feed_one_more };
	Run early = { .active = v1,
		      .block = true,
		      .tamper_store = frames_ok,
		      .feed_frames = feed_first_frame };

	ck_assert_int_eq(ftruncate(slot, IMG), 0);
	ck_assert_int_eq(delta_install(&more, slot), -EPROTO);
	ck_assert_msg(strstr(more.why, "more bytes than the range asked for"), "%s", more.why);
	ck_assert_int_eq(ftruncate(slot2, IMG), 0);
	ck_assert_int_eq(delta_install(&early, slot2), -EPROTO);
	ck_assert_msg(strstr(early.why, "a range ended at byte"), "%s", early.why);
}
END_TEST

/*
 * The frames of each chunk followed by as many bytes as a range joins over, and as large as they
 * may be (raw, not compressed).
 */
static void spaced_frames(int store, const SwuChunkIndex *idx)
{
	relayout(store, idx, frame_ok, 16384);
}

/* The same gaps after compressed frames. */
static void spaced_small_frames(int store, const SwuChunkIndex *idx)
{
	relayout(store, idx, NULL, 16384);
}

/*
 * The unsigned records steer which bytes are fetched: frames spaced by the coalescing gap bring
 * the gaps with them, and raw frames as large as they may be make that more than the blob. The
 * plan says so, and the delta stops before a byte of frames is fetched (the caller downloads the
 * blob). The same gaps after compressed frames still cost less than the blob: installed.
 */
START_TEST(test_delta_costs_more_than_blob)
{
	_cleanup_close_ int slot = tu_memfd("", 0), slot2 = tu_memfd("", 0);
	Run spaced = { .block = true, .tamper_store = spaced_frames };
	Run apart = { .block = true, .tamper_store = spaced_small_frames };

	ck_assert_int_eq(ftruncate(slot, IMG), 0);
	ck_assert_int_eq(delta_install(&spaced, slot), -EPROTO);
	ck_assert_msg(strstr(spaced.why, "bytes left before the delta costs more than the blob"),
		      "%s", spaced.why);
	ck_assert_uint_gt(spaced.stats.download, IMG);
	ck_assert_uint_eq(spaced.frame_bytes, 0);
	ck_assert_int_eq(ftruncate(slot2, IMG), 0);
	ck_assert_int_eq(delta_install(&apart, slot2), 0);
	expect_slot(slot2, v2);
	ck_assert_uint_lt(apart.stats.download, IMG);
	ck_assert_uint_gt(apart.frame_bytes, IMG / 4);
}
END_TEST

static void wrong_magic(int store, const SwuChunkIndex *idx)
{
	ck_assert_int_eq(pwrite(store, "SWUSTOR0", 8, 0), 8);
}

static void wrong_fast_hash(int store, const SwuChunkIndex *idx)
{
	uint8_t e[8] = { 1 };

	ck_assert_int_eq(pwrite(store, e, 8,
				(off_t)swu_store_record_offset(idx, 1) + SWU_STORE_RECORD_HEAD),
			 8);
}

static void wrong_rolling_hash(int store, const SwuChunkIndex *idx)
{
	uint8_t e[4] = { 1 };

	ck_assert_uint_eq(swu_store_record_block(idx), SWU_STORE_RECORD_BYTE);
	ck_assert_int_eq(
		pwrite(store, e, 4,
		       (off_t)swu_store_record_offset(idx, 2) + SWU_STORE_RECORD_HEAD + 12),
		4);
}

static void cut_store(int store, const SwuChunkIndex *idx)
{
	struct stat st;

	ck_assert_int_eq(fstat(store, &st), 0);
	ck_assert_int_eq(ftruncate(store, st.st_size - 1), 0);
}

/*
 * swu verify-channel checks a published store against its index, more strictly than a device
 * (which only falls back to the blob): every frame, hash and layout rule, with the chunk named.
 */
START_TEST(test_store_check)
{
	static const struct {
		bool block;
		void (*tamper)(int, const SwuChunkIndex *);
		const char *why;
	} cases[] = {
		{ true, NULL, NULL },
		{ false, NULL, NULL },
		{ true, wrong_magic, "chunk store: no SWUSTOR1 magic" },
		{ true, flip_frame, "of chunk 0" },
		{ true, every_frame_at_zero, "chunk store: the frames of chunk 0 start at 0" },
		{ true, huge_frames,
		  "chunk store: block 0 of chunk 0 claims a frame of 1073741824 bytes" },
		{ true, wrong_fast_hash,
		  "chunk store: block 0 of chunk 1 does not match the XXH64 of its record" },
		{ false, same_rolling_hash, "does not match the XXH64 of its record" },
		{ false, wrong_rolling_hash,
		  "chunk store: block 0 of chunk 2 does not match the rolling hash of its record" },
		{ true, cut_store, "ends past the end of the store" },
	};
	SwuChunkParams params;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = NULL;
		_cleanup_free_ uint8_t *index = NULL;
		_cleanup_close_ int img = tu_memfd(v2, IMG), store = tu_memfd("", 0);
		uint64_t size = 0;
		struct stat st;
		size_t n = 0;
		int r;

		swu_chunk_params_default(cases[i].block, &params);
		ck_assert_int_eq(swu_chunk_index_build(ctx, img, IMG, &params, &index, &n), 0);
		ck_assert_int_eq(swu_chunk_index_parse(ctx, index, n, IMG, &idx), 0);
		ck_assert_int_eq(swu_store_write(ctx, img, 0, idx, 3, store, &size), 0);
		if (cases[i].tamper)
			cases[i].tamper(store, idx);
		ck_assert_int_eq(fstat(store, &st), 0);
		r = swu_store_check(ctx, idx, store, (uint64_t)st.st_size);
		if (!cases[i].why) {
			ck_assert_int_eq(r, 0);
			continue;
		}
		ck_assert_int_eq(r, -EBADMSG);
		ck_assert_msg(strstr(swu_context_get_failure(ctx)->message, cases[i].why),
			      "%zu: %s", i, swu_context_get_failure(ctx)->message);
	}
}
END_TEST

/* A signed index of other data: no chunk it names can be written. */
START_TEST(test_delta_index_of_other_data)
{
	_cleanup_close_ int slot = tu_memfd("", 0);
	Run run = { .active = v1, .block = true, .indexed = v1 };

	ck_assert_int_eq(ftruncate(slot, IMG), 0);
	/* The chunks match v1's index, but the writer hashes against v2's signed hash. */
	ck_assert_int_eq(delta_install(&run, slot), -EBADMSG);
}
END_TEST

static void scribble(int active_fd)
{
	uint8_t junk[SWU_CHUNK_BLOCK];

	memset(junk, 0x42, sizeof(junk));
	ck_assert_int_eq(pwrite(active_fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
}

/* The active slot changed between the scan and the copy: caught by the chunk's SHA-256. */
START_TEST(test_delta_local_chunk_changed)
{
	_cleanup_close_ int slot = tu_memfd("", 0);
	Run run = { .active = v1, .block = true, .after_scan = scribble };

	ck_assert_int_eq(ftruncate(slot, IMG), 0);
	ck_assert_int_eq(delta_install(&run, slot), -EPROTO);
	ck_assert_msg(strstr(run.why, "the active slot does not match the index"), "%s", run.why);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "xxh64", test_xxh64 },
		{ "chunker-resyncs", test_chunker_resyncs },
		{ "index-lies", test_index_lies },
		{ "delta-from-active", test_delta_from_active, 60 },
		{ "delta-from-nothing", test_delta_from_nothing, 60 },
		{ "delta-unaligned-move", test_delta_unaligned_move, 60 },
		{ "delta-patch-store", test_delta_patch_store, 60 },
		{ "delta-patch-store-lies", test_delta_patch_store_lies, 60 },
		{ "patch-store-check", test_patch_store_check, 60 },
		{ "delta-batches", test_delta_batches, 60 },
		{ "delta-join-local-max", test_delta_join_local_max, 60 },
		{ "delta-resumes-in-place", test_delta_resumes_in_place, 60 },
		{ "delta-lying-store", test_delta_lying_store, 60 },
		{ "store-check", test_store_check, 60 },
		{ "delta-search-bounded", test_delta_search_bounded, 120 },
		{ "delta-costs-more-than-blob", test_delta_costs_more_than_blob, 60 },
		{ "delta-lying-frames", test_delta_lying_frames, 60 },
		{ "delta-lying-ranges", test_delta_lying_ranges, 60 },
		{ "delta-index-of-other-data", test_delta_index_of_other_data, 60 },
		{ "delta-local-chunk-changed", test_delta_local_chunk_changed, 60 },
	};

	return tu_run("delta", cases, ELEMENTSOF(cases), setup, teardown);
}
