/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state directory: atomic writes, pending record, bounded history, the rotated-root chain. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "metadata.h"
#include "state.h"
#include "testutil.h"
#include "text.h"

static SwuContext *ctx;
static char *dir;

static void setup(void)
{
	ctx = tu_context();
	dir = tu_tmpdir("state");
}

static void teardown(void)
{
	tu_rm_rf(dir);
	dir = (free(dir), NULL);
	ctx = swu_context_unref(ctx);
}

static int count_files(const char *sub)
{
	_cleanup_free_ char *path = tu_path("%s/%s", dir, sub);

	return tu_count_files(path);
}

START_TEST(test_atomic_write)
{
	char path[300], bad[300];
	_cleanup_free_ uint8_t *data = NULL;
	struct stat st;
	size_t n;

	snprintf(path, sizeof(path), "%s/f", dir);
	ck_assert_int_eq(swu_write_file_atomic(path, "one", 3, 0600), 0);
	ck_assert_int_eq(swu_write_file_atomic(path, "second", 6, 0640), 0);
	ck_assert_int_eq(swu_read_file(path, 100, &data, &n), 0);
	ck_assert_uint_eq(n, 6);
	ck_assert_mem_eq(data, "second", 6);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	ck_assert_int_eq(count_files("."), 1); /* no temporary file left behind */
	snprintf(bad, sizeof(bad), "%s/missing/f", dir);
	ck_assert_int_eq(swu_write_file_atomic(bad, "x", 1, 0644), -ENOENT);
	ck_assert_int_eq(swu_read_file(path, 5, &data, &n), -EFBIG);
	ck_assert_int_eq(swu_read_file(dir, 5, &data, &n), -EISDIR);
}
END_TEST

START_TEST(test_pending)
{
	SwuPending p = { 'B', 'A', "0b1d", 7, 6, 1795000000, (uint8_t *)"manifest\0bytes", 14 };
	SwuPending q = {};
	char path[300];
	FILE *f;

	ck_assert_int_eq(swu_state_load_pending(ctx, dir, &q), -ENOENT);
	ck_assert_int_eq(swu_state_save_pending(ctx, dir, &p), 0);
	ck_assert_int_eq(swu_state_load_pending(ctx, dir, &q), 0);
	ck_assert_int_eq(q.slot, 'B');
	ck_assert_int_eq(q.from_slot, 'A');
	ck_assert_str_eq(q.boot_id, "0b1d");
	ck_assert_uint_eq(q.version, 7);
	ck_assert_uint_eq(q.from_version, 6);
	ck_assert_uint_eq(q.manifest_size, 14);
	ck_assert_mem_eq(q.manifest, "manifest\0bytes", 14);
	swu_pending_done(&q);
	/* every manifest length round-trips through base64 padding */
	for (size_t len = 0; len < 8; len++) {
		p.manifest_size = len;
		ck_assert_int_eq(swu_state_save_pending(ctx, dir, &p), 0);
		ck_assert_int_eq(swu_state_load_pending(ctx, dir, &q), 0);
		ck_assert_uint_eq(q.manifest_size, len);
		swu_pending_done(&q);
	}
	/* damaged records are refused, not guessed at */
	snprintf(path, sizeof(path), "%s/pending.json", dir);
	f = fopen(path, "we");
	fputs("{\"slot\": \"C\", \"boot_id\": \"x\", \"manifest\": \"\"}", f);
	fclose(f);
	ck_assert_int_eq(swu_state_load_pending(ctx, dir, &q), -EBADMSG);
	f = fopen(path, "we");
	fputs("{\"slot\": \"B\", \"from", f);
	fclose(f);
	ck_assert_int_eq(swu_state_load_pending(ctx, dir, &q), -EBADMSG);
	ck_assert_int_eq(swu_state_clear_pending(ctx, dir), 0);
	ck_assert_int_eq(swu_state_clear_pending(ctx, dir), 0);
	ck_assert_int_eq(swu_state_load_pending(ctx, dir, &q), -ENOENT);
}
END_TEST

START_TEST(test_history_bounded)
{
	_cleanup_free_ uint8_t *data = NULL;
	char path[300], reason[64];
	size_t n;

	for (int i = 0; i < 1500; i++) {
		SwuHistoryEntry e = { .time = 1795000000 + i,
				      .action = SWU_HISTORY_INSTALL,
				      .from_version = 1,
				      .to_version = 2,
				      .slot = 'B',
				      .result = SWU_HISTORY_SUCCESS,
				      .reason = reason };

		snprintf(reason, sizeof(reason), "entry %d", i);
		ck_assert_int_eq(swu_state_append_history(ctx, dir, &e), 0);
	}
	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	ck_assert_int_eq(swu_read_file(path, 1024 * 1024, &data, &n), 0);
	ck_assert_uint_le(n, SWU_HISTORY_MAX);
	data[n] = 0;
	/* whole lines only, the newest kept */
	ck_assert_int_eq(data[0], '{');
	ck_assert_int_eq(data[n - 1], '\n');
	ck_assert(strstr((char *)data, "\"reason\":\"entry 1499\",\"downloaded\":0}\n"));
	ck_assert(!strstr((char *)data, "\"reason\":\"entry 0\""));
}
END_TEST

typedef struct Seen {
	int n;
	char first[64];
	int64_t first_time;
} Seen;

static int seen_entry(void *userdata, const SwuHistoryEntry *e)
{
	Seen *s = userdata;

	if (s->n++ == 0) {
		snprintf(s->first, sizeof(s->first), "%s %s %u->%u %c %s %llu",
			 swu_history_action_to_string(e->action),
			 swu_history_result_to_string(e->result), e->from_version, e->to_version,
			 e->slot ?: '-', e->reason, (unsigned long long)e->downloaded);
		s->first_time = e->time;
	}
	return 0;
}

START_TEST(test_history_read)
{
	SwuHistoryEntry a = { .time = 1795000000,
			      .action = SWU_HISTORY_INSTALL,
			      .from_version = 1,
			      .to_version = 2,
			      .slot = 'B',
			      .result = SWU_HISTORY_SUCCESS,
			      .reason = "Version 2 installed",
			      .downloaded = 123456789012 };
	SwuHistoryEntry b = { .time = 1795000100,
			      .action = SWU_HISTORY_MARK_GOOD,
			      .from_version = 1,
			      .to_version = 2,
			      .slot = 'B',
			      .result = SWU_HISTORY_SUCCESS,
			      .reason = "marked good" };
	_cleanup_free_ char *path = tu_path("%s/history.jsonl", dir);
	Seen seen = {};
	FILE *f;

	ck_assert_int_eq(swu_state_read_history(ctx, dir, 10, seen_entry, &seen), 0);
	ck_assert_int_eq(seen.n, 0); /* no history yet */
	ck_assert_int_eq(swu_state_append_history(ctx, dir, &a), 0);
	ck_assert_int_eq(swu_state_append_history(ctx, dir, &b), 0);
	/* a torn or foreign line is skipped, not fatal */
	f = fopen(path, "ae");
	fputs("{\"action\": \"install\", \"ti", f);
	fclose(f);
	ck_assert_int_eq(swu_state_read_history(ctx, dir, 10, seen_entry, &seen), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert_str_eq(seen.first, "mark-good success 1->2 B marked good 0"); /* newest first */
	ck_assert_int_eq(seen.first_time, 1795000100);
	seen = (Seen){};
	ck_assert_int_eq(swu_state_read_history(ctx, dir, 1, seen_entry, &seen), 0);
	ck_assert_int_eq(seen.n, 1);
	/* An install records what it downloaded; lines of older versions without it read as 0. */
	ck_assert_int_eq(swu_state_append_history(ctx, dir, &a), 0);
	seen = (Seen){};
	ck_assert_int_eq(swu_state_read_history(ctx, dir, 1, seen_entry, &seen), 0);
	ck_assert_str_eq(seen.first, "install success 1->2 B Version 2 installed 123456789012");
}
END_TEST

/* Every value of both enums has a string, and the string names it back. */
START_TEST(test_history_tables)
{
	for (int a = 0; a < _SWU_HISTORY_ACTION_MAX; a++) {
		const char *s = swu_history_action_to_string((SwuHistoryAction)a);

		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(swu_history_action_from_string(s), a);
	}
	for (int r = 0; r < _SWU_HISTORY_RESULT_MAX; r++) {
		const char *s = swu_history_result_to_string((SwuHistoryResult)r);

		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(swu_history_result_from_string(s), r);
	}
	/* The strings are the file format: they never change. */
	ck_assert_str_eq(swu_history_action_to_string(SWU_HISTORY_ROOT_ROTATION), "root-rotation");
	ck_assert_str_eq(swu_history_result_to_string(SWU_HISTORY_ROLLED_BACK), "rolled-back");
	ck_assert_ptr_null(swu_history_action_to_string(_SWU_HISTORY_ACTION_MAX));
	ck_assert_ptr_null(swu_history_action_to_string(_SWU_HISTORY_ACTION_INVALID));
	ck_assert_ptr_null(swu_history_result_to_string(_SWU_HISTORY_RESULT_MAX));
	ck_assert_ptr_null(swu_history_result_to_string(_SWU_HISTORY_RESULT_INVALID));
	ck_assert_int_eq(swu_history_action_from_string("reinstall"), _SWU_HISTORY_ACTION_INVALID);
	ck_assert_int_eq(swu_history_action_from_string(""), _SWU_HISTORY_ACTION_INVALID);
	ck_assert_int_eq(swu_history_action_from_string(NULL), _SWU_HISTORY_ACTION_INVALID);
	ck_assert_int_eq(swu_history_result_from_string("Success"), _SWU_HISTORY_RESULT_INVALID);
	ck_assert_int_eq(swu_history_result_from_string(NULL), _SWU_HISTORY_RESULT_INVALID);
}
END_TEST

typedef struct Collected {
	SwuHistoryEntry e[64];
	size_t n;
} Collected;

static int collect_entry(void *userdata, const SwuHistoryEntry *e)
{
	Collected *c = userdata;

	ck_assert_uint_lt(c->n, ELEMENTSOF(c->e));
	c->e[c->n] = *e;
	c->e[c->n++].reason = NULL; /* lives during the call only */
	return 0;
}

/* Every action with every result is written as its string and read back as the same enum. */
START_TEST(test_history_round_trip)
{
	Collected c = {};
	size_t n = 0;

	for (int a = 0; a < _SWU_HISTORY_ACTION_MAX; a++)
		for (int r = 0; r < _SWU_HISTORY_RESULT_MAX; r++) {
			SwuHistoryEntry e = { .time = 1795000000 + (int64_t)n++,
					      .action = (SwuHistoryAction)a,
					      .from_version = 3,
					      .to_version = 4,
					      .slot = 'A',
					      .result = (SwuHistoryResult)r,
					      .reason = "why" };

			ck_assert_int_eq(swu_state_append_history(ctx, dir, &e), 0);
		}
	ck_assert_int_eq(swu_state_read_history(ctx, dir, 100, collect_entry, &c), 0);
	ck_assert_uint_eq(c.n, n);
	for (size_t i = 0; i < n; i++) {
		const SwuHistoryEntry *e = &c.e[n - 1 - i]; /* newest first */

		ck_assert_int_eq(e->time, 1795000000 + (int64_t)i);
		ck_assert_int_eq(e->action, (int)(i / _SWU_HISTORY_RESULT_MAX));
		ck_assert_int_eq(e->result, (int)(i % _SWU_HISTORY_RESULT_MAX));
		ck_assert_uint_eq(e->to_version, 4);
		ck_assert_int_eq(e->slot, 'A');
	}
	/* Out of range: a caller's bug (critical mode off: it is reported), nothing written. */
	SwuHistoryEntry bad = { .action = _SWU_HISTORY_ACTION_MAX, .result = SWU_HISTORY_SUCCESS };

	swu_set_assert_return_critical(false);
	ck_assert_int_eq(swu_state_append_history(ctx, dir, &bad), -EINVAL);
	bad = (SwuHistoryEntry){ .action = SWU_HISTORY_INSTALL, .result = _SWU_HISTORY_RESULT_MAX };
	ck_assert_int_eq(swu_state_append_history(ctx, dir, &bad), -EINVAL);
	swu_set_assert_return_critical(true);
	c = (Collected){};
	ck_assert_int_eq(swu_state_read_history(ctx, dir, 100, collect_entry, &c), 0);
	ck_assert_uint_eq(c.n, n);
}
END_TEST

/*
 * The file format did not change: lines as older versions wrote them still read. A line whose
 * action or result this version does not know (a newer version wrote it) is skipped and does
 * not count towards @max.
 */
START_TEST(test_history_unknown)
{
	_cleanup_free_ char *path = tu_path("%s/history.jsonl", dir);
	Collected c = {};

	tu_write_text(path, "{\"time\":1795000000,\"action\":\"install\",\"from_version\":1,"
			    "\"to_version\":2,\"slot\":\"B\",\"result\":\"failed\",\"reason\":"
			    "\"old\"}\n"
			    "{\"time\":1795000001,\"action\":\"rollback\",\"from_version\":1,"
			    "\"to_version\":2,\"slot\":\"B\",\"result\":\"rolled-back\",\"reason\":"
			    "\"\"}\n"
			    "{\"time\":1795000002,\"action\":\"reinstall\",\"from_version\":1,"
			    "\"to_version\":2,\"slot\":\"B\",\"result\":\"success\",\"reason\":"
			    "\"\"}\n"
			    "{\"time\":1795000003,\"action\":\"install\",\"from_version\":1,"
			    "\"to_version\":2,\"slot\":\"B\",\"result\":\"half-done\",\"reason\":"
			    "\"\"}\n");
	ck_assert_int_eq(swu_state_read_history(ctx, dir, 2, collect_entry, &c), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_int_eq(c.e[0].time, 1795000001);
	ck_assert_int_eq(c.e[0].action, SWU_HISTORY_ROLLBACK);
	ck_assert_int_eq(c.e[0].result, SWU_HISTORY_ROLLED_BACK);
	ck_assert_int_eq(c.e[1].time, 1795000000);
	ck_assert_int_eq(c.e[1].action, SWU_HISTORY_INSTALL);
	ck_assert_int_eq(c.e[1].result, SWU_HISTORY_FAILED);
	ck_assert_uint_eq(c.e[1].downloaded, 0);
}
END_TEST

START_TEST(test_status)
{
	SwuStatusRecord a = { .available_version = 7,
			      .last_check = 1795000000123456ULL,
			      .next_check = 1795003600123456ULL,
			      .etag = "\"65f0-1a\"",
			      .failures = 3,
			      .retry_at = 1795000120000000ULL,
			      .not_before = 1795000060000000ULL,
			      .skipped_noted = true,
			      .result = "verify-failed",
			      .note = "Bundle rejected: \\x0a",
			      .source = "/media/usb/v3.swu",
			      .bytes_done = 5000000000ULL,
			      .bytes_total = 6000000000ULL,
			      .running = "https://example.com/v4.swu" };
	SwuStatusRecord b = {};
	_cleanup_free_ char *path = tu_path("%s/status.json", dir);

	ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), -ENOENT);
	ck_assert_int_eq(swu_state_save_status(ctx, dir, &a), 0);
	ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), 0);
	ck_assert_uint_eq(b.available_version, 7);
	ck_assert_uint_eq(b.last_check, 1795000000123456ULL);
	ck_assert_uint_eq(b.next_check, a.next_check);
	ck_assert_str_eq(b.etag, a.etag);
	ck_assert_uint_eq(b.failures, 3);
	ck_assert_uint_eq(b.retry_at, a.retry_at);
	ck_assert_uint_eq(b.not_before, a.not_before);
	ck_assert(b.skipped_noted);
	ck_assert_str_eq(b.result, "verify-failed");
	ck_assert_str_eq(b.note, a.note);
	ck_assert_str_eq(b.source, a.source);
	ck_assert_uint_eq(b.bytes_done, a.bytes_done);
	ck_assert_uint_eq(b.bytes_total, a.bytes_total);
	ck_assert_str_eq(b.running, a.running);
	/* Written by an older version: the new keys are absent, which means none. */
	tu_write_text(path, "{\"available_version\": 2, \"last_check\": 5, \"result\": \"\"}");
	ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), 0);
	ck_assert_uint_eq(b.available_version, 2);
	ck_assert_uint_eq(b.failures + b.retry_at + b.not_before + b.next_check, 0);
	ck_assert_str_eq(b.etag, "");
	ck_assert_str_eq(b.running, "");
	/* Present but wrong: refused, never half-read. */
	tu_write_text(path, "{\"available_version\": -1, \"last_check\": 0}");
	ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), -EBADMSG);
	tu_write_text(path, "{\"available_version\": 1, \"last_check\": 0, \"failures\": -2}");
	ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), -EBADMSG);
	tu_write_text(path, "{\"available_version\": 1, \"last_check\": 0, \"retry_at\": \"x\"}");
	ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), -EBADMSG);
	tu_write_text(path, "not json");
	ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), -EBADMSG);
}
END_TEST

/* status.json with @key set to @n times 'u' (a URL, an ETag, a note longer than its field). */
static void write_status_with(const char *path, const char *key, size_t n)
{
	_cleanup_free_ char *value = malloc(n + 1), *text = NULL;

	ck_assert_ptr_nonnull(value);
	memset(value, 'u', n);
	value[n] = 0;
	text = tu_path("{\"available_version\": 1, \"last_check\": 0, \"%s\": \"%s\"}", key, value);
	tu_write_text(path, text);
}

/* A string that does not fit its field is refused, never cut: a cut URL or ETag is another. */
START_TEST(test_status_no_cut)
{
	static const struct {
		const char *key;
		size_t size;
	} fields[] = {
		{ "etag", sizeof(((SwuStatusRecord *)NULL)->etag) },
		{ "result", sizeof(((SwuStatusRecord *)NULL)->result) },
		{ "note", sizeof(((SwuStatusRecord *)NULL)->note) },
		{ "source", sizeof(((SwuStatusRecord *)NULL)->source) },
		{ "running", sizeof(((SwuStatusRecord *)NULL)->running) },
	};
	_cleanup_free_ char *path = tu_path("%s/status.json", dir);

	for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
		SwuStatusRecord b = {};

		/* The longest that fits is read whole. */
		write_status_with(path, fields[i].key, fields[i].size - 1);
		ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), 0);
		/* One byte more, or 4000: refused, with the key named. */
		write_status_with(path, fields[i].key, fields[i].size);
		ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), -EBADMSG);
		ck_assert_msg(strstr(swu_context_get_failure(ctx)->message, fields[i].key), "%s",
			      swu_context_get_failure(ctx)->message);
		write_status_with(path, fields[i].key, 4000);
		ck_assert_int_eq(swu_state_load_status(ctx, dir, &b), -EBADMSG);
	}
}
END_TEST

static char warning[1024];

static void keep_warning(void *userdata, const char *message)
{
	snprintf(warning, sizeof(warning), "%s", message);
}

/*
 * A warning about a state directory with a long path is cut at a whole character: the euro signs
 * of the directory's name are placed so that the cut falls inside one.
 */
START_TEST(test_warning_whole_characters)
{
	static const char prefix[] = "Ignoring rotated root '";
	_cleanup_free_ char *deep = NULL, *link = NULL;
	_cleanup_free_ uint8_t *root = NULL;
	EVP_PKEY *k = tu_key(), *t = tu_key();
	char first[256], part[256];
	SwuBuf r1 = {};
	size_t n, pad;

	/* Three levels of euro signs (255 bytes), the first after @pad bytes of ASCII instead. */
	for (size_t o = 0; o < 255; o += 3)
		memcpy(part + o, "\xe2\x82\xac", 3);
	part[255] = 0;
	for (pad = 0;; pad++) {
		_cleanup_free_ char *p = NULL;

		ck_assert_uint_lt(pad, 4);
		memset(first, 'p', pad);
		memcpy(first + pad, part, 252);
		first[pad + 252] = 0;
		p = tu_path("%s%s/%s/%s/%s/roots/00000001.pb", prefix, dir, first, part, part);
		ck_assert_uint_gt(strlen(p), 800);
		if (((uint8_t)p[767] & 0xc0) == 0x80)
			break; /* a 768-byte buffer cuts this path inside a character */
	}
	deep = tu_path("%s/%s", dir, first);
	ck_assert_int_eq(mkdir(deep, 0755), 0);
	for (int level = 0; level < 2; level++) {
		char *next = tu_path("%s/%s", deep, part);

		free(deep);
		deep = next;
		ck_assert_int_eq(mkdir(deep, 0755), 0);
	}
	link = tu_path("%s/roots", deep);
	ck_assert_int_eq(mkdir(link, 0755), 0);
	free(link);
	link = tu_path("%s/roots/00000001.pb", deep);
	tu_write_text(link, "not a root");

	tu_root_simple(1, k, t, &k, 1, &r1);
	warning[0] = 0;
	ck_assert_int_eq(swu_state_trusted_root(ctx, deep, r1.data, r1.size, keep_warning, NULL,
						&root, &n),
			 0);
	ck_assert_msg(strncmp(warning, prefix, strlen(prefix)) == 0, "%s", warning);
	ck_assert_uint_ge(strlen(warning), 764);
	ck_assert(swu_utf8_valid((const uint8_t *)warning, strlen(warning)));
	swu_buf_done(&r1);
	EVP_PKEY_free(k);
	EVP_PKEY_free(t);
}
END_TEST

/* The cached release: round trip, cleared, and bounded (a huge file is not read). */
START_TEST(test_release)
{
	static const uint8_t data[] = { 0x0a, 0x03, 'a', 'b', 'c' };
	_cleanup_free_ char *path = tu_path("%s/release.pb", dir);
	_cleanup_free_ uint8_t *p = NULL;
	size_t n = 0;
	FILE *f;

	ck_assert_int_eq(swu_state_load_release(ctx, dir, &p, &n), -ENOENT);
	ck_assert_int_eq(swu_state_save_release(ctx, dir, data, sizeof(data)), 0);
	ck_assert_int_eq(swu_state_load_release(ctx, dir, &p, &n), 0);
	ck_assert_uint_eq(n, sizeof(data));
	ck_assert_mem_eq(p, data, sizeof(data));
	free(TAKE_PTR(p));
	ck_assert_int_eq(swu_state_clear_release(ctx, dir), 0);
	ck_assert_int_eq(swu_state_clear_release(ctx, dir), 0);
	ck_assert_int_eq(swu_state_load_release(ctx, dir, &p, &n), -ENOENT);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), 64 * 1024 * 1024), 0);
	fclose(f);
	ck_assert_int_lt(swu_state_load_release(ctx, dir, &p, &n), 0);
}
END_TEST

/* The release that did not boot: round trip, and a damaged record is refused, never half-read. */
START_TEST(test_rollback)
{
	static const char *const bad[] = {
		"[]",
		"{\"version\": 3, \"time\": 1}",
		"{\"version\": 3, \"time\": 1, \"targets_sha256\": \"abcd\"}",
		"{\"version\": 3, \"time\": 1, \"targets_sha256\": "
		"\"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"}",
		"{\"version\": -3, \"time\": 1, \"targets_sha256\": "
		"\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"}",
	};
	_cleanup_free_ char *path = tu_path("%s/rollback.json", dir);
	SwuRollback a = { .version = 3, .time = 1795000000 }, b = {};

	for (size_t i = 0; i < sizeof(a.targets_sha256); i++)
		a.targets_sha256[i] = (uint8_t)(0xa0 + i);
	ck_assert_int_eq(swu_state_load_rollback(ctx, dir, &b), -ENOENT);
	ck_assert_int_eq(swu_state_save_rollback(ctx, dir, &a), 0);
	ck_assert_int_eq(swu_state_load_rollback(ctx, dir, &b), 0);
	ck_assert_uint_eq(b.version, 3);
	ck_assert_int_eq(b.time, 1795000000);
	ck_assert_mem_eq(b.targets_sha256, a.targets_sha256, sizeof(a.targets_sha256));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		tu_write_text(path, bad[i]);
		ck_assert_int_eq(swu_state_load_rollback(ctx, dir, &b), -EBADMSG);
		ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "rollback");
	}
}
END_TEST

static int warnings;

static void count_warning(void *userdata, const char *message)
{
	warnings++;
}

static int trusted_version(const SwuBuf *factory)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	_cleanup_free_ uint8_t *root = NULL;
	size_t n;

	warnings = 0;
	ck_assert_int_eq(swu_state_trusted_root(ctx, dir, factory->data, factory->size,
						count_warning, NULL, &root, &n),
			 0);
	ck_assert_int_eq(swu_root_decode(ctx, root, n, &s, &rm), 0);
	return (int)rm->common_metadata->version;
}

static void corrupt(const char *name, long offset)
{
	_cleanup_free_ char *path = tu_path("%s/roots/%s", dir, name);
	uint8_t byte;
	int fd;

	if (offset < 0) {
		ck_assert_int_eq(truncate(path, 20), 0);
		return;
	}
	/* Flip the byte: writing a fixed value would change nothing one time in 256. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_eq(pread(fd, &byte, 1, offset), 1);
	byte ^= 0xff;
	ck_assert_int_eq(pwrite(fd, &byte, 1, offset), 1);
	close(fd);
}

START_TEST(test_root_chain)
{
	EVP_PKEY *k[4], *t[4];
	SwuBuf r[4] = {};

	for (int i = 1; i <= 3; i++) {
		k[i] = tu_key();
		t[i] = tu_key();
	}
	tu_root_simple(1, k[1], t[1], &k[1], 1, &r[1]);
	{
		EVP_PKEY *s2[] = { k[1], k[2] }, *s3[] = { k[2], k[3] };

		tu_root_simple(2, k[2], t[2], s2, 2, &r[2]);
		tu_root_simple(3, k[3], t[3], s3, 2, &r[3]);
	}
	ck_assert_int_eq(trusted_version(&r[1]), 1); /* no chain yet */
	ck_assert_int_eq(swu_state_save_root(ctx, dir, r[2].data, r[2].size), 1);
	ck_assert_int_eq(swu_state_save_root(ctx, dir, r[3].data, r[3].size), 1);
	ck_assert_int_eq(trusted_version(&r[1]), 3);
	ck_assert_int_eq(warnings, 0);
	/* The chain never holds a root twice. */
	ck_assert_int_eq(swu_state_save_root(ctx, dir, r[2].data, r[2].size), 0);
	ck_assert_int_eq(count_files("roots"), 2);

	/* A tampered middle link breaks the chain after it: the factory root is used. */
	corrupt("00000001.pb", 40);
	ck_assert_int_eq(trusted_version(&r[1]), 1);
	ck_assert_int_eq(warnings, 2);
	/* A truncated link likewise. */
	ck_assert_int_eq(swu_state_save_root(ctx, dir, r[2].data, r[2].size), 1); /* 00000003 */
	/* Links are followed whatever their order: v2, then v3 (00000002) from it. */
	ck_assert_int_eq(trusted_version(&r[1]), 3);
	corrupt("00000003.pb", -1);
	ck_assert_int_eq(trusted_version(&r[1]), 1);
	/* Links not newer than the factory root are skipped silently; a newer factory wins. Only
	 * the truncated link, which does not decode, is reported. */
	ck_assert_int_eq(trusted_version(&r[3]), 3);
	ck_assert_int_eq(warnings, 1);
	for (int i = 1; i <= 3; i++) {
		EVP_PKEY_free(k[i]);
		EVP_PKEY_free(t[i]);
		swu_buf_done(&r[i]);
	}
}
END_TEST

START_TEST(test_root_unchained)
{
	EVP_PKEY *k1 = tu_key(), *t1 = tu_key(), *k2 = tu_key(), *t2 = tu_key();
	SwuBuf r1 = {}, rogue = {};
	char tmp[300];
	FILE *f;

	tu_root_simple(1, k1, t1, &k1, 1, &r1);
	tu_root_simple(2, k2, t2, &k2, 1, &rogue); /* signed only by its own key */
	ck_assert_int_eq(swu_state_save_root(ctx, dir, rogue.data, rogue.size), 1);
	ck_assert_int_eq(trusted_version(&r1), 1);
	ck_assert_int_eq(warnings, 1);
	/* A torn write's temporary file is never read as a link. */
	snprintf(tmp, sizeof(tmp), "%s/roots/00000009.pb.tmp.abcdef", dir);
	f = fopen(tmp, "we");
	fputs("garbage", f);
	fclose(f);
	ck_assert_int_eq(trusted_version(&r1), 1);
	ck_assert_int_eq(warnings, 1);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(t1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(t2);
	swu_buf_done(&r1);
	swu_buf_done(&rogue);
}
END_TEST

/* Writes @root as chain link number @n, as any version of the daemon may have left it. */
static void put_link(unsigned n, const SwuBuf *root)
{
	_cleanup_free_ char *roots = tu_path("%s/roots", dir);
	_cleanup_free_ char *path = tu_path("%s/%08u.pb", roots, n);

	ck_assert_int_eq(swu_mkdir_p(roots, 0755), 0);
	ck_assert_int_eq(swu_write_file_atomic(path, root->data, root->size, 0644), 0);
}

/*
 * Links persisted out of chain order, as after a fallback: the older slot's walk appends v2 and v3
 * after v4 and v5, which the other image had persisted (a link already held is not written
 * again). Every key is retired at each rotation, so v1 trusts nothing but v2. The walk still ends
 * at v5: a link is not skipped for its place in the directory, or v4's revocation of v3's keys
 * would be undone on this slot.
 */
START_TEST(test_root_chain_out_of_order)
{
	EVP_PKEY *k[6], *t[6];
	SwuBuf r[6] = {};

	for (int i = 1; i <= 5; i++) {
		k[i] = tu_key();
		t[i] = tu_key();
		if (i == 1)
			tu_root_simple(1, k[1], t[1], &k[1], 1, &r[1]);
		else {
			EVP_PKEY *signers[] = { k[i - 1], k[i] };

			tu_root_simple(i, k[i], t[i], signers, 2, &r[i]);
		}
	}
	put_link(1, &r[4]);
	put_link(2, &r[5]);
	put_link(3, &r[2]);
	put_link(4, &r[3]);
	ck_assert_int_eq(trusted_version(&r[1]), 5);
	ck_assert_int_eq(warnings, 0);
	/* From the other image's factory root v3, the same links lead to v5 too. */
	ck_assert_int_eq(trusted_version(&r[3]), 5);
	/* A link that no pass can trust is reported once, however many passes the walk made. */
	put_link(5, &r[1]); /* older: skipped silently */
	{
		EVP_PKEY *rogue = tu_key();
		SwuBuf r6 = {};

		tu_root_simple(6, rogue, t[5], &rogue, 1, &r6);
		put_link(6, &r6);
		ck_assert_int_eq(trusted_version(&r[1]), 5);
		ck_assert_int_eq(warnings, 1);
		EVP_PKEY_free(rogue);
		swu_buf_done(&r6);
	}
	for (int i = 1; i <= 5; i++) {
		EVP_PKEY_free(k[i]);
		EVP_PKEY_free(t[i]);
		swu_buf_done(&r[i]);
	}
}
END_TEST

/* What versions before the strict rule 2 left behind: equal-version roots, duplicates. */
START_TEST(test_root_chain_repair)
{
	EVP_PKEY *k = tu_key(), *t1 = tu_key(), *t2 = tu_key(), *t3 = tu_key();
	SwuBuf r1 = {}, r2 = {}, r2b = {}, r3 = {};

	tu_root_simple(1, k, t1, &k, 1, &r1);
	tu_root_simple(2, k, t2, &k, 1, &r2);
	tu_root_simple(2, k, t1, &k, 1, &r2b); /* the same version, the revoked key back */
	tu_root_simple(3, k, t3, &k, 1, &r3);
	put_link(1, &r2);
	put_link(2, &r2b);
	put_link(3, &r2);
	put_link(4, &r1);
	put_link(5, &r3);
	/* Replayed as they are: the equal-version root never undoes the rotation (and is
	 * reported); the copy and the older root are skipped. */
	ck_assert_int_eq(trusted_version(&r1), 3);
	ck_assert_int_eq(warnings, 1);
	/*
	 * Repair removes the obsolete links and keeps the chain: the equal-version root and the
	 * copy. The link holding the factory root itself stays: a link not newer than this slot's
	 * factory root is never judged (another image's older factory root may rotate to it).
	 */
	warnings = 0;
	ck_assert_int_eq(swu_state_repair_roots(ctx, dir, r1.data, r1.size, count_warning, NULL),
			 2);
	ck_assert_int_eq(warnings, 2);
	ck_assert_int_eq(count_files("roots"), 3);
	ck_assert_int_eq(trusted_version(&r1), 3);
	ck_assert_int_eq(warnings, 0);
	ck_assert_int_eq(swu_state_repair_roots(ctx, dir, r1.data, r1.size, count_warning, NULL),
			 0);
	/*
	 * A slot whose factory root is newer than the chain (r3) skips its links silently but
	 * never removes them: the other slot's older factory root still needs them, or it would
	 * trust the key the chain revoked.
	 */
	ck_assert_int_eq(swu_state_repair_roots(ctx, dir, r3.data, r3.size, count_warning, NULL),
			 0);
	ck_assert_int_eq(count_files("roots"), 3);
	ck_assert_int_eq(trusted_version(&r3), 3);
	ck_assert_int_eq(warnings, 0);
	ck_assert_int_eq(trusted_version(&r1), 3);
	EVP_PKEY_free(k);
	EVP_PKEY_free(t1);
	EVP_PKEY_free(t2);
	EVP_PKEY_free(t3);
	swu_buf_done(&r1);
	swu_buf_done(&r2);
	swu_buf_done(&r2b);
	swu_buf_done(&r3);
}
END_TEST

/* No count limit hides newer links: a chain of 300 rotations ends at the newest. */
START_TEST(test_root_chain_long)
{
	EVP_PKEY *prev = tu_key(), *t = tu_key();
	SwuBuf factory = {};

	tu_root_simple(1, prev, t, &prev, 1, &factory);
	for (uint32_t v = 2; v <= 301; v++) {
		EVP_PKEY *k = tu_key(), *signers[] = { prev, k };
		SwuBuf r = {};

		tu_root_simple(v, k, t, signers, 2, &r);
		ck_assert_int_eq(swu_state_save_root(ctx, dir, r.data, r.size), 1);
		swu_buf_done(&r);
		EVP_PKEY_free(prev);
		prev = k;
	}
	ck_assert_int_eq(trusted_version(&factory), 301);
	ck_assert_int_eq(warnings, 0);
	EVP_PKEY_free(prev);
	EVP_PKEY_free(t);
	swu_buf_done(&factory);
}
END_TEST

/* The floors a device keeps (timestamp version, signed time): they only grow, and a damaged file
 * reads as none rather than stopping updates for good. */
START_TEST(test_floors)
{
	_cleanup_free_ char *path = tu_path("%s/signed-time", dir);
	uint32_t version = 1;
	int64_t t = 1;

	ck_assert_int_eq(swu_state_load_signed_time(ctx, dir, &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(swu_state_save_signed_time(ctx, dir, 1800000000), 1);
	ck_assert_int_eq(swu_state_save_signed_time(ctx, dir, 1700000000), 0);
	ck_assert_int_eq(swu_state_save_signed_time(ctx, dir, 0), 0);
	ck_assert_int_eq(swu_state_load_signed_time(ctx, dir, &t), 0);
	ck_assert_int_eq(t, 1800000000);
	ck_assert_int_eq(swu_state_save_signed_time(ctx, dir, 4102444800), 1); /* past 2038 */
	ck_assert_int_eq(swu_state_load_signed_time(ctx, dir, &t), 0);
	ck_assert_int_eq(t, 4102444800);
	tu_write_text(path, "-5\n");
	ck_assert_int_eq(swu_state_load_signed_time(ctx, dir, &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(swu_state_save_timestamp_version(ctx, dir, 7), 1);
	ck_assert_int_eq(swu_state_save_timestamp_version(ctx, dir, 6), 0);
	ck_assert_int_eq(swu_state_load_timestamp_version(ctx, dir, &version), 0);
	ck_assert_uint_eq(version, 7);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "atomic-write", test_atomic_write },
		{ "floors", test_floors },
		{ "pending", test_pending },
		{ "history-bounded", test_history_bounded, 120 },
		{ "history-read", test_history_read },
		{ "history-tables", test_history_tables },
		{ "history-round-trip", test_history_round_trip },
		{ "history-unknown", test_history_unknown },
		{ "status", test_status },
		{ "status-no-cut", test_status_no_cut },
		{ "warning-whole-characters", test_warning_whole_characters },
		{ "release", test_release },
		{ "rollback", test_rollback },
		{ "root-chain", test_root_chain },
		{ "root-unchained", test_root_unchained },
		{ "root-chain-repair", test_root_chain_repair },
		{ "root-chain-out-of-order", test_root_chain_out_of_order },
		{ "root-chain-long", test_root_chain_long, 120 },
	};

	return tu_run("state", cases, ELEMENTSOF(cases), setup, teardown);
}
