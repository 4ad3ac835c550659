/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <unistd.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "fileio.h"
#include "macro.h"
#include "metadata.h"
#include "reader.h"
#include "state-file.h"
#include "state.h"
#include "text.h"
#include "tuf.h"

#define PENDING_MAX (4u * 1024u * 1024u)

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

char *swu_state_path(const char *dir, const char *name)
{
	char *p = NULL;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

int swu_state_read(const char *dir, const char *name, size_t max, uint8_t **ret, size_t *ret_size)
{
	_cleanup_free_ char *path = swu_state_path(dir, name);

	if (!path)
		return -ENOMEM;
	return swu_read_file(path, max, ret, ret_size);
}

int swu_state_write(SwuContext *ctx, const char *dir, const char *name, const void *p, size_t n)
{
	_cleanup_free_ char *path = swu_state_path(dir, name);
	int r;

	if (!path)
		return -ENOMEM;
	swu_fault_point(ctx, name);
	r = swu_write_file_atomic(path, p, n, 0644);
	if (r < 0)
		return swu_fail(ctx, r, "state", "write", "cannot write '%s': %s", path,
				strerror(-r));
	return 0;
}

/* Reads @name as one JSON object: -ENOENT when it is absent, -EBADMSG when it is no object. */
static int load_object(SwuContext *ctx, const char *dir, const char *name, size_t max,
		       const char *rule, json_object **ret)
{
	_cleanup_free_ uint8_t *text = NULL;
	json_object *o;
	size_t size;
	int r;

	r = swu_state_read(dir, name, max, &text, &size);
	if (r < 0)
		return r;
	text[size] = 0;
	o = json_tokener_parse((char *)text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return swu_fail(ctx, -EBADMSG, "state", rule, "%s does not parse", name);
	}
	*ret = o;
	return 0;
}

static int save_object(SwuContext *ctx, const char *dir, const char *name, json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	return text ? swu_state_write(ctx, dir, name, text, strlen(text)) : -ENOMEM;
}

int swu_state_load_manifest(SwuContext *ctx, const char *dir, uint8_t **ret, size_t *ret_size)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_size, -EINVAL);

	return swu_state_read(dir, "manifest.pb", swu_context_get_metadata_max(ctx), ret, ret_size);
}

int swu_state_save_manifest(SwuContext *ctx, const char *dir, const uint8_t *p, size_t n)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	return swu_state_write(ctx, dir, "manifest.pb", p, n);
}

void swu_pending_done(SwuPending *p)
{
	free(p->manifest);
	*p = (SwuPending){};
}

static char slot_of(json_object *o, const char *key)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || !(s = json_object_get_string(v)))
		return 0;
	return (streq(s, "A") || streq(s, "B")) ? s[0] : 0;
}

static int64_t int_of(json_object *o, const char *key, int64_t min, int64_t max, bool *ok)
{
	json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) {
		*ok = false;
		return 0;
	}
	i = json_object_get_int64(v);
	if (i < min || i > max)
		*ok = false;
	return i;
}

/* A key newer versions write: absent is 0, present must be in range. */
static int64_t optional_int_of(json_object *o, const char *key, int64_t min, int64_t max, bool *ok)
{
	return json_object_object_get_ex(o, key, NULL) ? int_of(o, key, min, max, ok) : 0;
}

static const char *string_of(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

int swu_state_load_pending(SwuContext *ctx, const char *dir, SwuPending *ret)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	_cleanup_free_ uint8_t *manifest = NULL;
	json_object *v;
	const char *b64, *boot_id;
	SwuPending p = {};
	size_t len;
	bool ok = true;
	int r, k;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(ret, -EINVAL);

	r = load_object(ctx, dir, "pending.json", PENDING_MAX, "pending", &o);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(o, "manifest", &v) || !(b64 = json_object_get_string(v)) ||
	    !json_object_object_get_ex(o, "boot_id", &v) || !(boot_id = json_object_get_string(v)))
		return swu_fail(ctx, -EBADMSG, "state", "pending", "pending.json is incomplete");
	p.slot = slot_of(o, "slot");
	p.from_slot = slot_of(o, "from_slot");
	p.version = (uint32_t)int_of(o, "version", 0, UINT32_MAX, &ok);
	p.from_version = (uint32_t)int_of(o, "from_version", 0, UINT32_MAX, &ok);
	p.time = int_of(o, "time", INT64_MIN, INT64_MAX, &ok);
	len = strlen(b64);
	if (!ok || !p.slot || !p.from_slot || strlen(boot_id) >= sizeof(p.boot_id) ||
	    len % 4 != 0 || len / 4 * 3 > PENDING_MAX)
		return swu_fail(ctx, -EBADMSG, "state", "pending", "pending.json is incomplete");
	strcpy(p.boot_id, boot_id);
	manifest = malloc(len / 4 * 3 + 1);
	if (!manifest)
		return -ENOMEM;
	k = EVP_DecodeBlock(manifest, (const unsigned char *)b64, (int)len);
	if (k < 0)
		return swu_fail(ctx, -EBADMSG, "state", "pending", "pending.json: bad manifest");
	/* EVP_DecodeBlock counts the padding bytes as data. */
	if (len >= 2 && b64[len - 1] == '=')
		k -= b64[len - 2] == '=' ? 2 : 1;
	p.manifest = TAKE_PTR(manifest);
	p.manifest_size = (size_t)k;
	*ret = p;
	return 0;
}

static json_object *slot_json(char slot)
{
	char s[2] = { slot, 0 };

	return json_object_new_string(s);
}

int swu_state_save_pending(SwuContext *ctx, const char *dir, const SwuPending *p)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();
	_cleanup_free_ char *b64 = NULL;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(p, -EINVAL);

	if (!o || p->manifest_size > PENDING_MAX / 2)
		return -ENOMEM;
	b64 = malloc((p->manifest_size + 2) / 3 * 4 + 1);
	if (!b64)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)b64, p->manifest, (int)p->manifest_size);
	json_object_object_add(o, "slot", slot_json(p->slot));
	json_object_object_add(o, "from_slot", slot_json(p->from_slot));
	json_object_object_add(o, "boot_id", json_object_new_string(p->boot_id));
	json_object_object_add(o, "version", json_object_new_int64(p->version));
	json_object_object_add(o, "from_version", json_object_new_int64(p->from_version));
	json_object_object_add(o, "time", json_object_new_int64(p->time));
	json_object_object_add(o, "manifest", json_object_new_string(b64));
	return save_object(ctx, dir, "pending.json", o);
}

static int remove_file(SwuContext *ctx, const char *dir, const char *name)
{
	_cleanup_free_ char *path = swu_state_path(dir, name);

	if (!path)
		return -ENOMEM;
	if (unlink(path) < 0 && errno != ENOENT)
		return swu_fail(ctx, -errno, "state", "write", "cannot remove '%s': %s", path,
				strerror(errno));
	return 0;
}

int swu_state_clear_pending(SwuContext *ctx, const char *dir)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);

	swu_fault_point(ctx, "clear-pending");
	return remove_file(ctx, dir, "pending.json");
}

#define STATUS_MAX (16u * 1024u)

int swu_state_load_rollback(SwuContext *ctx, const char *dir, SwuRollback *ret)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	SwuRollback rb = {};
	unsigned char *hash = NULL;
	bool ok = true;
	long n = 0;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(ret, -EINVAL);

	r = load_object(ctx, dir, "rollback.json", STATUS_MAX, "rollback", &o);
	if (r < 0)
		return r;
	rb.version = (uint32_t)int_of(o, "version", 0, UINT32_MAX, &ok);
	rb.time = int_of(o, "time", INT64_MIN, INT64_MAX, &ok);
	if (ok)
		hash = OPENSSL_hexstr2buf(string_of(o, "targets_sha256"), &n);
	ok = ok && hash && n == (long)sizeof(rb.targets_sha256);
	if (ok)
		memcpy(rb.targets_sha256, hash, sizeof(rb.targets_sha256));
	OPENSSL_free(hash);
	if (!ok)
		return swu_fail(ctx, -EBADMSG, "state", "rollback", "rollback.json is incomplete");
	*ret = rb;
	return 0;
}

int swu_state_save_rollback(SwuContext *ctx, const char *dir, const SwuRollback *rb)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();
	char hex[2 * sizeof(rb->targets_sha256) + 1];

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(rb, -EINVAL);

	if (!o)
		return -ENOMEM;
	swu_hex(rb->targets_sha256, sizeof(rb->targets_sha256), hex);
	json_object_object_add(o, "version", json_object_new_int64(rb->version));
	json_object_object_add(o, "targets_sha256", json_object_new_string(hex));
	json_object_object_add(o, "time", json_object_new_int64(rb->time));
	return save_object(ctx, dir, "rollback.json", o);
}

int swu_state_load_status(SwuContext *ctx, const char *dir, SwuStatusRecord *ret)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	SwuStatusRecord st = {};
	const struct {
		const char *key;
		char *buf;
		size_t size;
	} strings[] = {
		{ "etag", st.etag, sizeof(st.etag) },
		{ "last_modified", st.last_modified, sizeof(st.last_modified) },
		{ "polled", st.polled, sizeof(st.polled) },
		{ "result", st.result, sizeof(st.result) },
		{ "note", st.note, sizeof(st.note) },
		{ "source", st.source, sizeof(st.source) },
		{ "running", st.running, sizeof(st.running) },
	};
	bool ok = true, optional = true;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(ret, -EINVAL);

	r = load_object(ctx, dir, "status.json", STATUS_MAX, "status", &o);
	if (r < 0)
		return r;
	st.available_version = (uint32_t)int_of(o, "available_version", 0, UINT32_MAX, &ok);
	st.last_check = (uint64_t)int_of(o, "last_check", 0, INT64_MAX, &ok);
	if (!ok)
		return swu_fail(ctx, -EBADMSG, "state", "status", "status.json is incomplete");
	/* Written by newer versions only: absent means none. */
	st.next_check = (uint64_t)optional_int_of(o, "next_check", 0, INT64_MAX, &optional);
	st.failures = (uint32_t)optional_int_of(o, "failures", 0, 1000000, &optional);
	st.retry_at = (uint64_t)optional_int_of(o, "retry_at", 0, INT64_MAX, &optional);
	st.not_before = (uint64_t)optional_int_of(o, "not_before", 0, INT64_MAX, &optional);
	st.skipped_noted = optional_int_of(o, "skipped_noted", 0, 1, &optional) == 1;
	st.bytes_done = (uint64_t)optional_int_of(o, "bytes_done", 0, INT64_MAX, &optional);
	st.bytes_total = (uint64_t)optional_int_of(o, "bytes_total", 0, INT64_MAX, &optional);
	st.total_written = (uint64_t)optional_int_of(o, "total_written", 0, INT64_MAX, &optional);
	st.total_downloaded =
		(uint64_t)optional_int_of(o, "total_downloaded", 0, INT64_MAX, &optional);
	st.total_reused = (uint64_t)optional_int_of(o, "total_reused", 0, INT64_MAX, &optional);
	if (!optional)
		return swu_fail(ctx, -EBADMSG, "state", "status", "status.json has a bad value");
	/*
	 * Never cut: a cut ETag or source is another one. The record's fields held what was
	 * saved, so a longer value is not what we wrote.
	 */
	for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
		const char *s = string_of(o, strings[i].key);
		size_t n = strlen(s);

		if (n >= strings[i].size)
			return swu_fail(ctx, -EBADMSG, "state", "status",
					"status.json: '%s' is longer than %zu bytes",
					strings[i].key, strings[i].size - 1);
		memcpy(strings[i].buf, s, n + 1);
	}
	*ret = st;
	return 0;
}

int swu_state_save_status(SwuContext *ctx, const char *dir, const SwuStatusRecord *st)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(st, -EINVAL);

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "available_version",
			       json_object_new_int64(st->available_version));
	json_object_object_add(o, "last_check", json_object_new_int64((int64_t)st->last_check));
	json_object_object_add(o, "next_check", json_object_new_int64((int64_t)st->next_check));
	json_object_object_add(o, "etag", json_object_new_string(st->etag));
	json_object_object_add(o, "last_modified", json_object_new_string(st->last_modified));
	json_object_object_add(o, "polled", json_object_new_string(st->polled));
	json_object_object_add(o, "failures", json_object_new_int64(st->failures));
	json_object_object_add(o, "retry_at", json_object_new_int64((int64_t)st->retry_at));
	json_object_object_add(o, "not_before", json_object_new_int64((int64_t)st->not_before));
	json_object_object_add(o, "skipped_noted", json_object_new_int64(st->skipped_noted));
	json_object_object_add(o, "result", json_object_new_string(st->result));
	json_object_object_add(o, "note", json_object_new_string(st->note));
	json_object_object_add(o, "source", json_object_new_string(st->source));
	json_object_object_add(o, "bytes_done", json_object_new_int64((int64_t)st->bytes_done));
	json_object_object_add(o, "bytes_total", json_object_new_int64((int64_t)st->bytes_total));
	json_object_object_add(o, "total_written",
			       json_object_new_int64((int64_t)st->total_written));
	json_object_object_add(o, "total_downloaded",
			       json_object_new_int64((int64_t)st->total_downloaded));
	json_object_object_add(o, "total_reused", json_object_new_int64((int64_t)st->total_reused));
	json_object_object_add(o, "running", json_object_new_string(st->running));
	return save_object(ctx, dir, "status.json", o);
}

#define RELEASE_MAX ((size_t)SWU_METADATA_TOTAL_FACTOR * SWU_METADATA_MAX_DEFAULT)

/* A decimal number of @dir's file @name, never above @max: 0 when none or unreadable as one. */
static int load_number(const char *dir, const char *name, uint64_t max, uint64_t *ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	char text[24];
	size_t size = 0;
	unsigned long long v;
	char *end;
	int r;

	*ret = 0;
	r = swu_state_read(dir, name, sizeof(text) - 1, &data, &size);
	if (r == -ENOENT || r == -EFBIG)
		return 0;
	if (r < 0)
		return r;
	memcpy(text, data, size);
	text[size] = 0;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno == 0 && end != text && (*end == '\n' || !*end) && v <= max && text[0] >= '0' &&
	    text[0] <= '9')
		*ret = v;
	return 0;
}

/* Raises @dir's @name to @value: 1 when written, 0 when it was not higher. */
static int raise_number(SwuContext *ctx, const char *dir, const char *name, uint64_t max,
			uint64_t value)
{
	char text[24];
	uint64_t now;
	int r;

	r = load_number(dir, name, max, &now);
	if (r < 0)
		return r;
	if (value <= now)
		return 0;
	snprintf(text, sizeof(text), "%" PRIu64 "\n", value);
	r = swu_state_write(ctx, dir, name, text, strlen(text));
	return r < 0 ? r : 1;
}

int swu_state_load_timestamp_version(SwuContext *ctx, const char *dir, uint32_t *ret)
{
	uint64_t v;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(ret, -EINVAL);

	r = load_number(dir, "timestamp-version", UINT32_MAX, &v);
	*ret = (uint32_t)v;
	return r;
}

int swu_state_save_timestamp_version(SwuContext *ctx, const char *dir, uint32_t version)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);

	return raise_number(ctx, dir, "timestamp-version", UINT32_MAX, version);
}

int swu_state_load_channel(SwuContext *ctx, const char *dir, char *ret, size_t size)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t n = 0;
	int r;

	assert_return(ctx && dir && ret && size > 0, -EINVAL);

	ret[0] = 0;
	r = swu_state_read(dir, "channel", size, &data, &n);
	if (r == -ENOENT || r == -EFBIG)
		return 0;
	if (r < 0)
		return r;
	if (n > 0 && data[n - 1] == '\n')
		n--;
	if (n >= size || memchr(data, '\n', n) || memchr(data, 0, n))
		return 0;
	memcpy(ret, data, n);
	ret[n] = 0;
	return 0;
}

int swu_state_save_channel(SwuContext *ctx, const char *dir, const char *name)
{
	_cleanup_free_ char *text = NULL;

	assert_return(ctx && dir && name, -EINVAL);

	if (!*name)
		return remove_file(ctx, dir, "channel");
	if (asprintf(&text, "%s\n", name) < 0)
		return -ENOMEM;
	return swu_state_write(ctx, dir, "channel", text, strlen(text));
}

int swu_state_reset_timestamp_version(SwuContext *ctx, const char *dir, uint32_t version)
{
	char text[16];

	assert_return(ctx && dir, -EINVAL);

	if (version == 0)
		return remove_file(ctx, dir, "timestamp-version");
	snprintf(text, sizeof(text), "%u\n", version);
	return swu_state_write(ctx, dir, "timestamp-version", text, strlen(text));
}

int swu_state_load_signed_time(SwuContext *ctx, const char *dir, int64_t *ret)
{
	uint64_t v;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(ret, -EINVAL);

	r = load_number(dir, "signed-time", INT64_MAX, &v);
	*ret = (int64_t)v;
	return r;
}

int swu_state_save_signed_time(SwuContext *ctx, const char *dir, int64_t t)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);

	return t <= 0 ? 0 : raise_number(ctx, dir, "signed-time", INT64_MAX, (uint64_t)t);
}

int swu_state_load_release(SwuContext *ctx, const char *dir, uint8_t **ret, size_t *ret_size)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_size, -EINVAL);

	return swu_state_read(dir, "release.pb", RELEASE_MAX, ret, ret_size);
}

int swu_state_save_release(SwuContext *ctx, const char *dir, const uint8_t *p, size_t n)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	return swu_state_write(ctx, dir, "release.pb", p, n);
}

int swu_state_clear_release(SwuContext *ctx, const char *dir)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);

	return remove_file(ctx, dir, "release.pb");
}

static const char *const history_action_table[_SWU_HISTORY_ACTION_MAX] = {
	[SWU_HISTORY_INSTALL] = "install",
	[SWU_HISTORY_MARK_GOOD] = "mark-good",
	[SWU_HISTORY_MARK_BAD] = "mark-bad",
	[SWU_HISTORY_ROLLBACK] = "rollback",
	[SWU_HISTORY_ROOT_ROTATION] = "root-rotation",
};

static const char *const history_result_table[_SWU_HISTORY_RESULT_MAX] = {
	[SWU_HISTORY_SUCCESS] = "success",	   [SWU_HISTORY_FAILED] = "failed",
	[SWU_HISTORY_ABORTED] = "aborted",	   [SWU_HISTORY_SKIPPED] = "skipped",
	[SWU_HISTORY_ROLLED_BACK] = "rolled-back", [SWU_HISTORY_REJECTED] = "rejected",
	[SWU_HISTORY_INTERRUPTED] = "interrupted",
};

/* The index of @s in @table, -EINVAL when it is not there. */
static int table_lookup(const char *const *table, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (table[i] && streq(table[i], s))
			return (int)i;
	return -EINVAL;
}

const char *swu_history_action_to_string(SwuHistoryAction a)
{
	if (a < 0 || a >= _SWU_HISTORY_ACTION_MAX)
		return NULL;
	return history_action_table[a];
}

SwuHistoryAction swu_history_action_from_string(const char *s)
{
	return (SwuHistoryAction)table_lookup(history_action_table, _SWU_HISTORY_ACTION_MAX, s);
}

const char *swu_history_result_to_string(SwuHistoryResult r)
{
	if (r < 0 || r >= _SWU_HISTORY_RESULT_MAX)
		return NULL;
	return history_result_table[r];
}

SwuHistoryResult swu_history_result_from_string(const char *s)
{
	return (SwuHistoryResult)table_lookup(history_result_table, _SWU_HISTORY_RESULT_MAX, s);
}

int swu_state_append_history(SwuContext *ctx, const char *dir, const SwuHistoryEntry *e)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	_cleanup_free_ uint8_t *old = NULL;
	const char *line, *keep, *action, *result;
	size_t old_size = 0, line_len;
	SwuBuf out = {};
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(e, -EINVAL);
	assert_return(e->action >= 0 && e->action < _SWU_HISTORY_ACTION_MAX, -EINVAL);
	assert_return(e->result >= 0 && e->result < _SWU_HISTORY_RESULT_MAX, -EINVAL);

	action = swu_history_action_to_string(e->action);
	result = swu_history_result_to_string(e->result);
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "time", json_object_new_int64(e->time));
	json_object_object_add(o, "action", json_object_new_string(action));
	json_object_object_add(o, "from_version", json_object_new_int64(e->from_version));
	json_object_object_add(o, "to_version", json_object_new_int64(e->to_version));
	json_object_object_add(o, "slot",
			       e->slot ? slot_json(e->slot) : json_object_new_string(""));
	json_object_object_add(o, "result", json_object_new_string(result));
	json_object_object_add(o, "reason", json_object_new_string(e->reason ? e->reason : ""));
	if (e->action == SWU_HISTORY_INSTALL)
		json_object_object_add(
			o, "downloaded",
			json_object_new_int64((int64_t)MIN(e->downloaded, (uint64_t)INT64_MAX)));
	line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	line_len = strlen(line);

	r = swu_state_read(dir, "history.jsonl", 4 * SWU_HISTORY_MAX, &old, &old_size);
	if (r < 0 && r != -ENOENT && r != -EFBIG)
		return r;
	/* A torn last line (a power cut mid-write) would swallow the new one: dropped. */
	while (old_size > 0 && old[old_size - 1] != '\n')
		old_size--;
	/* Keep the newest lines that fit with the new one. */
	keep = old ? (const char *)old : "";
	while (old_size > 0 && old_size + line_len + 1 > SWU_HISTORY_MAX) {
		const char *nl = memchr(keep, '\n', old_size);
		size_t drop = nl ? (size_t)(nl - keep) + 1 : old_size;

		keep += drop;
		old_size -= drop;
	}
	r = swu_buf_append(&out, keep, old_size);
	if (r >= 0)
		r = swu_buf_append(&out, line, line_len);
	if (r >= 0)
		r = swu_buf_append(&out, "\n", 1);
	if (r >= 0)
		r = swu_state_write(ctx, dir, "history.jsonl", out.data, out.size);
	swu_buf_done(&out);
	return r;
}

/* Hands the entry in @o to @func: 1 when it did, 0 when the entry is skipped, or its error. */
static int history_entry(json_object *o, SwuHistoryFunc func, void *userdata)
{
	bool ok = true;
	SwuHistoryEntry e = {
		.time = int_of(o, "time", INT64_MIN, INT64_MAX, &ok),
		.action = swu_history_action_from_string(string_of(o, "action")),
		.from_version = (uint32_t)int_of(o, "from_version", 0, UINT32_MAX, &ok),
		.to_version = (uint32_t)int_of(o, "to_version", 0, UINT32_MAX, &ok),
		.slot = slot_of(o, "slot"),
		.result = swu_history_result_from_string(string_of(o, "result")),
		.reason = string_of(o, "reason"),
		.downloaded = (uint64_t)optional_int_of(o, "downloaded", 0, INT64_MAX, &ok),
	};
	int r;

	/* An action or result this version does not know (a newer one wrote it): skipped. */
	if (!ok || e.action < 0 || e.result < 0)
		return 0;
	r = func(userdata, &e);
	return r < 0 ? r : 1;
}

int swu_state_read_history(SwuContext *ctx, const char *dir, size_t max, SwuHistoryFunc func,
			   void *userdata)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t size = 0, count = 0;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(func, -EINVAL);

	r = swu_state_read(dir, "history.jsonl", 4 * SWU_HISTORY_MAX, &data, &size);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return swu_fail(ctx, r, "state", "history", "cannot read '%s/history.jsonl': %s",
				dir, strerror(-r));
	data[size] = 0;
	/* Newest first: walk the lines from the end. */
	for (size_t end = size; end > 0 && count < max;) {
		_cleanup_(json_object_putp) json_object *o = NULL;
		size_t start = end - 1;

		while (start > 0 && data[start - 1] != '\n')
			start--;
		if (data[end - 1] == '\n')
			data[end - 1] = 0;
		o = json_tokener_parse((const char *)data + start);
		end = start;
		if (!o || !json_object_is_type(o, json_type_object))
			continue;
		r = history_entry(o, func, userdata);
		if (r < 0)
			return r;
		count += r;
	}
	return 0;
}
