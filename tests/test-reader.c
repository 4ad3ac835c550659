/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bundle wire reader: the same events whatever the chunking, and -EBADMSG (never a crash)
 * for truncation anywhere, flipped bytes, malformed varints, wrong wire types, lengths past the
 * end, oversized metadata and bad payload names.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "reader.h"
#include "testutil.h"

static SwuContext *ctx;
static TuWorld w;

static void setup(void)
{
	ctx = tu_context();
	tu_world_init(&w);
}

static void teardown(void)
{
	tu_world_done(&w);
	ctx = swu_context_unref(ctx);
}

/* Records every event as text, so two runs can be compared. */
typedef struct Log {
	SwuBuf text;
	bool skip;
} Log;

static void logf_(Log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(Log *l, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(swu_buf_append(&l->text, buf, strlen(buf)), 0);
}

static int on_metadata(void *ud, SwuBundleField f, const char *name, const uint8_t *d, size_t n)
{
	uint8_t h[32];
	char hex[65];

	swu_sha256(d, n, h);
	swu_hex(h, 8, hex);
	logf_(ud, "md %d %s %zu %s\n", f, name ? name : "-", n, hex);
	return 0;
}

static int on_begin(void *ud, const char *name, uint64_t off, uint64_t size)
{
	logf_(ud, "begin %s %llu %llu\n", name ? name : "-", (unsigned long long)off,
	      (unsigned long long)size);
	return ((Log *)ud)->skip ? SWU_READER_SKIP : 0;
}

static int on_data(void *ud, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		logf_(ud, "%02x", p[i]);
	return 0;
}

static int on_end(void *ud, const char *name, uint64_t off, uint64_t size)
{
	logf_(ud, "\nend %s %llu %llu\n", name, (unsigned long long)off, (unsigned long long)size);
	return 0;
}

static const SwuReaderOps ops = { on_metadata, on_begin, on_data, on_end };

static int read_chunked(const SwuBuf *b, size_t chunk, Log *log)
{
	SwuBundleReader *r = NULL;
	int k = 0;

	ck_assert_int_eq(swu_bundle_reader_new(ctx, &ops, log, &r), 0);
	for (size_t off = 0; off < b->size && k >= 0; off += chunk)
		k = swu_bundle_reader_feed(r, b->data + off, MIN(chunk, b->size - off));
	if (k >= 0)
		k = swu_bundle_reader_finish(r);
	swu_bundle_reader_free(r);
	return k;
}

START_TEST(test_chunking_same_events)
{
	Log ref = {};

	ck_assert_int_eq(read_chunked(&w.bundle, w.bundle.size, &ref), 0);
	ck_assert(strstr((char *)ref.text.data, "begin rootfs"));
	for (size_t chunk = 1; chunk < 40; chunk++) {
		Log l = {};

		ck_assert_int_eq(read_chunked(&w.bundle, chunk, &l), 0);
		ck_assert_uint_eq(l.text.size, ref.text.size);
		ck_assert_mem_eq(l.text.data, ref.text.data, ref.text.size);
		swu_buf_done(&l.text);
	}
	swu_buf_done(&ref.text);
}
END_TEST

START_TEST(test_truncated_everywhere)
{
	/* Every proper prefix (beyond the empty bundle) is rejected, by both reading paths. */
	for (size_t n = 1; n < w.bundle.size; n++) {
		SwuBuf prefix = { w.bundle.data, n, n };
		TuVerify o = { .root = &w.root };
		Log l = { .skip = true };
		int r;

		r = read_chunked(&prefix, 7, &l);
		swu_buf_done(&l.text);
		r = r < 0 ? r : tu_verify(ctx, &o, &prefix);
		ck_assert_msg(r < 0, "prefix of %zu bytes accepted", n);
		ck_assert_int_eq(tu_verify(ctx, &o, &prefix) < 0, 1);
		o.chunk = 13;
		ck_assert_msg(tu_verify(ctx, &o, &prefix) < 0, "streamed prefix of %zu accepted",
			      n);
	}
}
END_TEST

START_TEST(test_flipped_everywhere)
{
	SwuBuf copy = {};

	ck_assert_int_eq(swu_buf_append(&copy, w.bundle.data, w.bundle.size), 0);
	for (size_t i = 0; i < copy.size; i++) {
		TuVerify o = { .root = &w.root };
		int r;

		copy.data[i] ^= 0xff;
		r = tu_verify(ctx, &o, &copy);
		ck_assert_msg(r < 0, "flipping byte %zu was accepted", i);
		o.chunk = 11;
		ck_assert_msg(tu_verify(ctx, &o, &copy) < 0, "flipping byte %zu (stream) accepted",
			      i);
		copy.data[i] ^= 0xff;
	}
	swu_buf_done(&copy);
}
END_TEST

static int read_bytes(const void *p, size_t n)
{
	SwuBuf b = { (uint8_t *)p, n, n };
	Log l = {};
	int r = read_chunked(&b, n ? n : 1, &l);

	swu_buf_done(&l.text);
	return r;
}

static const char not_a_bundle[] = "bundle: not a swupdated/pw_software_update bundle: its first "
				   "bytes do not parse as an UpdateBundle";

START_TEST(test_malformed_wire)
{
	static const uint8_t overlong[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t tenth_too_big[] = { 0x80, 0x80, 0x80, 0x80, 0x80,
						 0x80, 0x80, 0x80, 0x80, 0x02 };
	static const uint8_t field0[] = { 0x02, 0x00 };
	static const uint8_t root_as_varint[] = { (5 << 3) | 0, 0x01 };
	static const uint8_t payload_as_i32[] = { (4 << 3) | 5, 1, 2, 3, 4 };
	static const uint8_t group[] = { (9 << 3) | 3 };
	static const uint8_t past_end[] = { (5 << 3) | 2, 0x05, 1, 2 };
	static const uint8_t entry_overrun[] = { (4 << 3) | 2, 0x03, (1 << 3) | 2, 0x05, 'a' };
	static const uint8_t name_nul[] = { (4 << 3) | 2, 0x04, (1 << 3) | 2, 0x02, 'a', 0 };
	static const uint8_t key_twice[] = { (4 << 3) | 2, 0x06, 0x0a, 0x01, 'a', 0x0a, 0x01, 'b' };
	static const uint8_t value_twice[] = { (4 << 3) | 2, 0x04, 0x12, 0x00, 0x12, 0x00 };
	static const uint8_t key_as_varint[] = { (4 << 3) | 2, 0x02, 0x08, 0x01 };

	ck_assert_int_eq(read_bytes(overlong, sizeof(overlong)), -EBADMSG);
	ck_assert_int_eq(read_bytes(tenth_too_big, sizeof(tenth_too_big)), -EBADMSG);
	ck_assert_int_eq(read_bytes(field0, sizeof(field0)), -EBADMSG);
	ck_assert_int_eq(read_bytes(root_as_varint, sizeof(root_as_varint)), -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->message, not_a_bundle);
	ck_assert_int_eq(read_bytes(payload_as_i32, sizeof(payload_as_i32)), -EBADMSG);
	ck_assert_int_eq(read_bytes(group, sizeof(group)), -EBADMSG);
	ck_assert_int_eq(read_bytes(past_end, sizeof(past_end)), -EBADMSG);
	ck_assert_int_eq(read_bytes(entry_overrun, sizeof(entry_overrun)), -EBADMSG);
	ck_assert_int_eq(read_bytes(name_nul, sizeof(name_nul)), -EBADMSG);
	ck_assert_int_eq(read_bytes(key_twice, sizeof(key_twice)), -EBADMSG);
	ck_assert_int_eq(read_bytes(value_twice, sizeof(value_twice)), -EBADMSG);
	ck_assert_int_eq(read_bytes(key_as_varint, sizeof(key_as_varint)), -EBADMSG);
}
END_TEST

/*
 * A file that is no bundle at all (/etc/passwd, an HTML error page) is called that: an offset
 * means nothing to whoever picked the wrong file. A bundle that breaks later keeps its offset.
 */
START_TEST(test_not_a_bundle)
{
	static const char passwd[] = "root:x:0:0:root:/root:/bin/bash\n"
				     "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
				     "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
				     "sys:x:3:3:sys:/dev:/usr/sbin/nologin\n";
	static const char html[] = "<html><body>404 Not Found</body></html>\n";
	static const uint8_t only_unknown[] = { (12 << 3) | 2, 2, 'h', 'i' };
	const SwuFailure *f = swu_context_get_failure(ctx);
	SwuBuf b = {};
	char want[128];

	ck_assert_int_eq(read_bytes(passwd, strlen(passwd)), -EBADMSG);
	ck_assert_str_eq(f->message, not_a_bundle);
	ck_assert_int_eq(read_bytes(html, strlen(html)), -EBADMSG);
	ck_assert_str_eq(f->message, not_a_bundle);
	ck_assert_int_eq(read_bytes(only_unknown, sizeof(only_unknown)), -EBADMSG);
	ck_assert_str_eq(f->message, not_a_bundle);

	/* A bundle followed by junk, and one cut short, are bundles: the offset says where. */
	ck_assert_int_eq(swu_buf_append(&b, w.bundle.data, w.bundle.size), 0);
	ck_assert_int_eq(swu_buf_append(&b, "\x07", 1), 0);
	ck_assert_int_eq(read_bytes(b.data, b.size), -EBADMSG);
	snprintf(want, sizeof(want), "bundle: malformed field tag at offset %zu", b.size);
	ck_assert_str_eq(f->message, want);
	ck_assert_int_eq(read_bytes(w.bundle.data, w.bundle.size - 1), -EBADMSG);
	snprintf(want, sizeof(want), "bundle: bundle truncated at offset %zu", w.bundle.size - 1);
	ck_assert_str_eq(f->message, want);
	swu_buf_done(&b);
}
END_TEST

START_TEST(test_unknown_fields_skipped)
{
	SwuBuf b = {};
	TuVerify o = { .root = &w.root };
	static const uint8_t unknown[] = {
		(9 << 3) | 0,  0x96, 0x01,		       /* varint */
		(10 << 3) | 1, 1,    2,	   3,	4, 5, 6, 7, 8, /* i64 */
		(11 << 3) | 5, 1,    2,	   3,	4,	       /* i32 */
		(12 << 3) | 2, 2,    'h',  'i',		       /* len */
	};

	ck_assert_int_eq(swu_buf_append(&b, unknown, sizeof(unknown)), 0);
	ck_assert_int_eq(swu_buf_append(&b, w.bundle.data, w.bundle.size), 0);
	ck_assert_int_eq(swu_buf_append(&b, unknown, sizeof(unknown)), 0);
	ck_assert_int_eq(tu_verify(ctx, &o, &b), 0);
	o.chunk = 3;
	ck_assert_int_eq(tu_verify(ctx, &o, &b), 0);
	swu_buf_done(&b);
}
END_TEST

START_TEST(test_metadata_cap)
{
	TuVerify o = { .root = &w.root };
	SwuBuf b = {};

	/* A root bigger than the cap is refused before it is buffered. */
	swu_context_set_metadata_max(ctx, w.root.size - 1);
	ck_assert_int_eq(tu_verify(ctx, &o, &w.bundle), -EBADMSG);
	swu_context_set_metadata_max(ctx, SWU_METADATA_MAX_DEFAULT);
	/* A declared length of 2^40 is refused at once, not waited for. */
	ck_assert_int_eq(swu_buf_put_varint(&b, (5 << 3) | 2), 0);
	ck_assert_int_eq(swu_buf_put_varint(&b, UINT64_C(1) << 40), 0);
	ck_assert_int_eq(read_bytes(b.data, b.size), -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "size");
	/* Many entries, each under the cap, add up to more than the total cap. */
	b.size = 0;
	swu_context_set_metadata_max(ctx, w.targets.size + 16);
	for (int i = 0; i < SWU_METADATA_TOTAL_FACTOR + 1; i++) {
		char name[16];

		snprintf(name, sizeof(name), "t%d", i);
		tu_put_targets(&b, name, &w.targets);
	}
	ck_assert_int_eq(read_bytes(b.data, b.size), -EBADMSG);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "total size cap"));
	swu_buf_done(&b);
}
END_TEST

START_TEST(test_index_from_fd)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = tu_memfd(w.bundle.data, w.bundle.size);

	ck_assert_int_eq(swu_bundle_open_fd(ctx, fd, &b), 0);
	ck_assert_ptr_nonnull(b->root);
	ck_assert_uint_eq(b->root_size, w.root.size);
	ck_assert_uint_eq(b->n_targets, 1);
	ck_assert_str_eq(b->targets[0].name, "targets");
	ck_assert_uint_eq(b->n_payloads, 2);
	ck_assert_str_eq(b->payloads[0].name, "rootfs");
	ck_assert_uint_eq(b->payloads[0].size, sizeof(tu_rootfs));
	ck_assert_mem_eq(w.bundle.data + b->payloads[0].offset, tu_rootfs, sizeof(tu_rootfs));
	ck_assert_mem_eq(w.bundle.data + b->payloads[1].offset, tu_appfs, sizeof(tu_appfs));
	/* The caller's file offset is not moved. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)w.bundle.size);
}
END_TEST

START_TEST(test_skip)
{
	Log l = { .skip = true };
	SwuBundleReader *r = NULL;
	size_t pos = 0;

	/* A caller that seeks over skipped payload bytes sees the same entries. */
	ck_assert_int_eq(swu_bundle_reader_new(ctx, &ops, &l, &r), 0);
	while (pos < w.bundle.size) {
		uint64_t skip = swu_bundle_reader_skippable(r);

		if (skip) {
			ck_assert_int_eq(swu_bundle_reader_skip(r, skip), 0);
			pos += skip;
			continue;
		}
		ck_assert_int_eq(swu_bundle_reader_feed(r, w.bundle.data + pos, 1), 0);
		pos++;
	}
	ck_assert_int_eq(swu_bundle_reader_finish(r), 0);
	ck_assert_int_eq(swu_bundle_reader_skip(r, 1), -EINVAL);
	ck_assert(strstr((char *)l.text.data, "end rootfs"));
	ck_assert(strstr((char *)l.text.data, "end appfs"));
	swu_bundle_reader_free(r);
	swu_buf_done(&l.text);
}
END_TEST

START_TEST(test_value_before_key)
{
	SwuBuf b = {};
	Log l = {};

	tu_put_payload_value_first(&b, "late", "xy", 2);
	ck_assert_int_eq(read_chunked(&b, 1, &l), 0);
	ck_assert(strstr((char *)l.text.data, "begin - "));
	ck_assert(strstr((char *)l.text.data, "end late"));
	swu_buf_done(&b);
	swu_buf_done(&l.text);
}
END_TEST

START_TEST(test_empty_bundle)
{
	TuVerify o = { .root = &w.root };
	SwuBuf b = {};

	ck_assert_int_eq(read_bytes("", 0), 0);
	ck_assert_int_eq(tu_verify(ctx, &o, &b), -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "presence");
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "chunking", test_chunking_same_events, 30 },
		{ "truncated", test_truncated_everywhere, 600 },
		{ "flipped", test_flipped_everywhere, 600 },
		{ "malformed-wire", test_malformed_wire, 30 },
		{ "not-a-bundle", test_not_a_bundle, 30 },
		{ "unknown-fields", test_unknown_fields_skipped, 30 },
		{ "metadata-cap", test_metadata_cap, 30 },
		{ "index-fd", test_index_from_fd, 30 },
		{ "skip", test_skip, 30 },
		{ "value-before-key", test_value_before_key, 30 },
		{ "empty", test_empty_bundle, 30 },
	};

	return tu_run("reader", cases, ELEMENTSOF(cases), setup, teardown);
}
