/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "reader.h"
#include "wire.h"

typedef enum State {
	ST_TAG,		 /* top level: field tag */
	ST_LEN,		 /* top level: length of a LEN field */
	ST_SKIP_VARINT,	 /* top level: unknown varint field */
	ST_SKIP,	 /* top level: bytes to skip */
	ST_COLLECT,	 /* top level: metadata bytes to buffer */
	ST_ENTRY_TAG,	 /* payload entry: field tag */
	ST_ENTRY_LEN,	 /* payload entry: length */
	ST_ENTRY_VARINT, /* payload entry: unknown varint field */
	ST_ENTRY_SKIP,	 /* payload entry: unknown field bytes */
	ST_ENTRY_KEY,	 /* payload entry: the name */
	ST_ENTRY_VALUE,	 /* payload entry: the payload bytes */
} State;

struct SwuBundleReader {
	SwuContext *ctx;
	const SwuReaderOps *ops;
	void *userdata;
	int error;
	State state;
	uint64_t offset;

	uint8_t vbuf[SWU_VARINT_MAX];
	size_t vlen;

	uint32_t field;
	unsigned wire;
	uint64_t remaining; /* bytes left in the current top-level item */
	SwuBuf collect;

	/* current payload entry */
	uint32_t efield;
	unsigned ewire;
	uint64_t eremaining; /* bytes left in the current entry sub-field */
	char key[SWU_NAME_MAX + 1];
	size_t key_len;
	bool have_key, have_value, skipping, name_checked;
	uint64_t value_offset, value_size;

	uint64_t metadata_total;
	bool seen_field; /* a field of UpdateBundle (1-5 or 100, length-delimited) began */
	bool seen_root, seen_timestamp, seen_snapshot;
	size_t n_links; /* root_chain entries */
	char **payload_names;
	size_t n_payload_names;
	char **targets_names;
	size_t n_targets_names;
};

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

SwuBundleReader *swu_bundle_reader_free(SwuBundleReader *r)
{
	if (!r)
		return NULL;
	swu_buf_done(&r->collect);
	free_names(r->payload_names, r->n_payload_names);
	free_names(r->targets_names, r->n_targets_names);
	free(r);
	return NULL;
}

int swu_bundle_reader_new(SwuContext *ctx, const SwuReaderOps *ops, void *userdata,
			  SwuBundleReader **ret)
{
	SwuBundleReader *r;

	assert_return(ctx, -EINVAL);
	assert_return(ops, -EINVAL);
	assert_return(ret, -EINVAL);

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ctx = ctx;
	r->ops = ops;
	r->userdata = userdata;
	*ret = r;
	return 0;
}

static int fail(SwuBundleReader *r, const char *rule, const char *what)
{
	/*
	 * Bytes that broke before any UpdateBundle field began are some other file (/etc/passwd, an
	 * HTML error page): an offset into them would only puzzle whoever picked the wrong file.
	 */
	if (!r->seen_field)
		return swu_fail(r->ctx, -EBADMSG, "bundle", "not-a-bundle",
				"bundle: not a swupdated/pw_software_update bundle: its first "
				"bytes "
				"do not parse as an UpdateBundle");
	return swu_fail(r->ctx, -EBADMSG, "bundle", rule, "bundle: %s at offset %llu", what,
			(unsigned long long)r->offset);
}

/* Adds @name to @names unless present: -EBADMSG for a duplicate (docs/bundle-format.md, rule 5). */
static int remember_name(SwuBundleReader *r, char ***names, size_t *n, size_t max, const char *name,
			 const char *what)
{
	char **a;

	for (size_t i = 0; i < *n; i++)
		if (streq((*names)[i], name))
			return swu_fail(r->ctx, -EBADMSG, "bundle", "ambiguity",
					"bundle: %s '%s' given twice", what, name);
	if (*n >= max)
		return swu_fail(r->ctx, -EBADMSG, "bundle", "limit",
				"bundle: more than %zu %s entries", max, what);
	a = realloc(*names, (*n + 1) * sizeof(char *));
	if (!a)
		return -ENOMEM;
	*names = a;
	a[*n] = strdup(name);
	if (!a[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Accumulates a varint byte by byte. 1: complete, 0: needs more, <0: malformed. */
static int take_varint(SwuBundleReader *r, const uint8_t **p, size_t *n, uint64_t *ret)
{
	while (*n > 0) {
		int k;

		r->vbuf[r->vlen++] = **p;
		(*p)++;
		(*n)--;
		r->offset++;
		k = swu_varint_decode(r->vbuf, r->vlen, ret);
		if (k == -EAGAIN)
			continue;
		r->vlen = 0;
		if (k < 0)
			return fail(r, "wire", "malformed or over-long varint");
		return 1;
	}
	return 0;
}

static int collect_done(SwuBundleReader *r)
{
	const uint8_t *key, *value;
	size_t key_size, value_size;
	char name[SWU_NAME_MAX + 1];
	int k;

	if (r->field == SWU_BUNDLE_ROOT || r->field == SWU_BUNDLE_ROOT_CHAIN ||
	    r->field == SWU_BUNDLE_TIMESTAMP)
		return r->ops->metadata ? r->ops->metadata(r->userdata, r->field, NULL,
							   r->collect.data, r->collect.size)
					: 0;

	k = swu_wire_map_entry(r->ctx, r->collect.data, r->collect.size, "targets_metadata entry",
			       &key, &key_size, &value, &value_size);
	if (k < 0)
		return k;
	if (key_size > SWU_NAME_MAX)
		return fail(r, "limit", "targets_metadata name too long");
	memcpy(name, key, key_size);
	name[key_size] = 0;
	k = remember_name(r, &r->targets_names, &r->n_targets_names, SWU_TARGETS_ENTRIES_MAX, name,
			  "targets_metadata");
	if (k < 0)
		return k;
	return r->ops->metadata
		       ? r->ops->metadata(r->userdata, SWU_BUNDLE_TARGETS, name, value, value_size)
		       : 0;
}

static int begin_len_field(SwuBundleReader *r, uint64_t len)
{
	size_t cap = swu_context_get_metadata_max(r->ctx);
	bool *seen = NULL;

	switch (r->field) {
	case SWU_BUNDLE_TIMESTAMP:
		seen = &r->seen_timestamp;
		break;
	case SWU_BUNDLE_SNAPSHOT:
		seen = &r->seen_snapshot;
		break;
	case SWU_BUNDLE_ROOT:
		seen = &r->seen_root;
		break;
	case SWU_BUNDLE_TARGETS:
		break;
	case SWU_BUNDLE_ROOT_CHAIN:
		/* Bounded before anything is buffered or verified: a count and a size per link. */
		if (r->n_links >= SWU_ROOT_CHAIN_MAX)
			return swu_fail(r->ctx, -EBADMSG, "bundle", "limit",
					"bundle: more than %u root_chain entries at offset %llu",
					SWU_ROOT_CHAIN_MAX, (unsigned long long)r->offset);
		if (len > SWU_ROOT_LINK_MAX)
			return swu_fail(r->ctx, -EBADMSG, "bundle", "size",
					"bundle: root_chain entry larger than %u bytes at offset "
					"%llu",
					SWU_ROOT_LINK_MAX, (unsigned long long)r->offset);
		r->n_links++;
		break;
	case SWU_BUNDLE_PAYLOAD:
		r->remaining = len;
		r->have_key = r->have_value = r->skipping = r->name_checked = false;
		r->key_len = 0;
		r->key[0] = 0;
		r->value_offset = r->offset;
		r->value_size = 0;
		r->state = ST_ENTRY_TAG;
		return 0;
	default:
		r->remaining = len;
		r->state = ST_SKIP;
		return 0;
	}
	if (seen) {
		if (*seen)
			return fail(r, "ambiguity", "singular field given twice");
		*seen = true;
	}
	if (len > cap)
		return fail(r, "size", "metadata larger than the size cap");
	/* All metadata together stays bounded too: a reader keeps what it collects. */
	if (len > SWU_METADATA_TOTAL_FACTOR * (uint64_t)cap - r->metadata_total)
		return fail(r, "size", "metadata larger than the total size cap");
	r->metadata_total += len;
	r->remaining = len;
	if (r->field == SWU_BUNDLE_SNAPSHOT) {
		r->state = ST_SKIP; /* no snapshot role: the timestamp names the targets metadata */
		return 0;
	}
	r->collect.size = 0;
	r->state = ST_COLLECT;
	return 0;
}

static int check_payload_name(SwuBundleReader *r, const char *name)
{
	r->name_checked = true;
	return remember_name(r, &r->payload_names, &r->n_payload_names, SWU_PAYLOADS_MAX, name,
			     "payload");
}

static int entry_end(SwuBundleReader *r)
{
	int k;

	if (!r->name_checked) {
		k = check_payload_name(r, r->key);
		if (k < 0)
			return k;
	}
	if (!r->have_value && r->ops->payload_begin) {
		/* A key without a value is an empty payload. */
		k = r->ops->payload_begin(r->userdata, r->key, r->value_offset, 0);
		if (k < 0)
			return k;
	}
	r->state = ST_TAG;
	return r->ops->payload_end
		       ? r->ops->payload_end(r->userdata, r->key, r->value_offset, r->value_size)
		       : 0;
}

static int entry_field(SwuBundleReader *r, uint64_t len)
{
	int k;

	if (len > r->remaining)
		return fail(r, "wire", "payload entry field runs past the entry");
	r->eremaining = len;
	if (r->efield == 1) {
		if (r->have_key)
			return fail(r, "ambiguity", "payload name given twice in one entry");
		if (len > SWU_NAME_MAX)
			return fail(r, "limit", "payload name too long");
		r->have_key = true;
		r->state = ST_ENTRY_KEY;
		return 0;
	}
	if (r->efield != 2) {
		r->state = ST_ENTRY_SKIP;
		return 0;
	}
	if (r->have_value)
		return fail(r, "ambiguity", "payload value given twice in one entry");
	r->have_value = true;
	r->value_offset = r->offset;
	r->value_size = len;
	r->state = ST_ENTRY_VALUE;
	if (r->have_key) {
		k = check_payload_name(r, r->key);
		if (k < 0)
			return k;
	}
	if (r->ops->payload_begin) {
		k = r->ops->payload_begin(r->userdata, r->have_key ? r->key : NULL, r->offset, len);
		if (k < 0)
			return k;
		r->skipping = k == SWU_READER_SKIP;
	} else
		r->skipping = true;
	return 0;
}

/* One step of the state machine for the entry sub-states that deal with varints. */
static int step_entry_varint(SwuBundleReader *r, const uint8_t **p, size_t *n)
{
	uint64_t before = r->offset, v;
	int k;

	if (r->state == ST_ENTRY_TAG && r->remaining == 0)
		return entry_end(r);

	k = take_varint(r, p, n, &v);
	if (r->offset - before > r->remaining)
		return fail(r, "wire", "payload entry truncated");
	r->remaining -= r->offset - before;
	if (k <= 0) {
		if (k == 0 && r->remaining == 0)
			return fail(r, "wire", "payload entry truncated");
		return k;
	}

	switch (r->state) {
	case ST_ENTRY_TAG:
		if (swu_tag_split(v, &r->efield, &r->ewire) < 0)
			return fail(r, "wire", "malformed field tag in payload entry");
		if (r->efield <= 2 && r->ewire != SWU_WIRE_LEN)
			return fail(r, "wire", "wrong wire type in payload entry");
		if (r->ewire == SWU_WIRE_VARINT)
			r->state = ST_ENTRY_VARINT;
		else if (r->ewire == SWU_WIRE_LEN)
			r->state = ST_ENTRY_LEN;
		else
			return entry_field(r, r->ewire == SWU_WIRE_I64 ? 8 : 4);
		return 0;
	case ST_ENTRY_LEN:
		return entry_field(r, v);
	case ST_ENTRY_VARINT:
		r->state = ST_ENTRY_TAG;
		return 0;
	default:
		return -EINVAL;
	}
}

static bool known_field(uint32_t field)
{
	return (field >= SWU_BUNDLE_TIMESTAMP && field <= SWU_BUNDLE_ROOT) ||
	       field == SWU_BUNDLE_ROOT_CHAIN;
}

static int step_varint(SwuBundleReader *r, const uint8_t **p, size_t *n)
{
	uint64_t v;
	int k;

	k = take_varint(r, p, n, &v);
	if (k <= 0)
		return k;

	switch (r->state) {
	case ST_TAG:
		if (swu_tag_split(v, &r->field, &r->wire) < 0)
			return fail(r, "wire", "malformed field tag");
		if (known_field(r->field) && r->wire != SWU_WIRE_LEN)
			return fail(r, "wire", "wrong wire type for a known field");
		if (known_field(r->field))
			r->seen_field = true;
		if (r->wire == SWU_WIRE_VARINT)
			r->state = ST_SKIP_VARINT;
		else if (r->wire == SWU_WIRE_LEN)
			r->state = ST_LEN;
		else {
			r->remaining = r->wire == SWU_WIRE_I64 ? 8 : 4;
			r->state = ST_SKIP;
		}
		return 0;
	case ST_LEN:
		return begin_len_field(r, v);
	case ST_SKIP_VARINT:
		r->state = ST_TAG;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Bulk states: consume up to the end of the current item. */
static int step_bytes(SwuBundleReader *r, const uint8_t **p, size_t *n)
{
	bool in_entry = r->state >= ST_ENTRY_TAG;
	uint64_t *left = in_entry ? &r->eremaining : &r->remaining;
	size_t k = (size_t)MIN((uint64_t)*n, *left);
	int e = 0;

	if (r->state == ST_COLLECT)
		e = swu_buf_append(&r->collect, *p, k);
	else if (r->state == ST_ENTRY_KEY) {
		memcpy(r->key + r->key_len, *p, k);
		r->key_len += k;
	} else if (r->state == ST_ENTRY_VALUE && !r->skipping && k > 0 && r->ops->payload_data)
		e = r->ops->payload_data(r->userdata, *p, k);
	if (e < 0)
		return e;

	*p += k;
	*n -= k;
	r->offset += k;
	*left -= k;
	if (in_entry)
		r->remaining -= k;
	if (*left > 0)
		return 0;

	switch (r->state) {
	case ST_COLLECT:
		r->state = ST_TAG;
		return collect_done(r);
	case ST_ENTRY_KEY:
		r->key[r->key_len] = 0;
		e = swu_wire_check_string(r->ctx, (const uint8_t *)r->key, r->key_len, "bundle",
					  "a payload name");
		if (e < 0)
			return e;
		_fallthrough_;
	case ST_ENTRY_VALUE:
	case ST_ENTRY_SKIP:
		r->state = ST_ENTRY_TAG;
		return 0;
	default:
		r->state = ST_TAG;
		return 0;
	}
}

int swu_bundle_reader_feed(SwuBundleReader *r, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	assert_return(r, -EINVAL);
	assert_return(buf || n == 0, -EINVAL);

	if (r->error < 0)
		return r->error;

	/* The loop also runs once with n == 0 items pending, e.g. an entry that just ended. */
	while (n > 0 || (r->state == ST_ENTRY_TAG && r->remaining == 0) ||
	       ((r->state == ST_COLLECT || r->state == ST_SKIP) && r->remaining == 0) ||
	       ((r->state == ST_ENTRY_KEY || r->state == ST_ENTRY_VALUE ||
		 r->state == ST_ENTRY_SKIP) &&
		r->eremaining == 0)) {
		int k;

		switch (r->state) {
		case ST_TAG:
		case ST_LEN:
		case ST_SKIP_VARINT:
			k = step_varint(r, &p, &n);
			break;
		case ST_ENTRY_TAG:
		case ST_ENTRY_LEN:
		case ST_ENTRY_VARINT:
			k = step_entry_varint(r, &p, &n);
			break;
		case ST_SKIP:
		case ST_COLLECT:
		case ST_ENTRY_SKIP:
		case ST_ENTRY_KEY:
		case ST_ENTRY_VALUE:
			k = step_bytes(r, &p, &n);
			break;
		default:
			k = -EINVAL;
		}
		if (k < 0)
			return (r->error = k);
	}
	return 0;
}

uint64_t swu_bundle_reader_skippable(const SwuBundleReader *r)
{
	assert_return(r, 0);

	if (r->error < 0)
		return 0;
	if (r->state == ST_SKIP)
		return r->remaining;
	if (r->state == ST_ENTRY_VALUE && r->skipping)
		return r->eremaining;
	return 0;
}

int swu_bundle_reader_skip(SwuBundleReader *r, uint64_t n)
{
	assert_return(r, -EINVAL);

	/* No bytes, but never a null pointer: the steps advance it by zero (undefined for NULL). */
	static const uint8_t none[1];
	uint64_t *left;

	if (n == 0)
		return 0;
	if (n > swu_bundle_reader_skippable(r))
		return -EINVAL;
	left = r->state == ST_SKIP ? &r->remaining : &r->eremaining;
	*left -= n;
	r->offset += n;
	if (r->state == ST_ENTRY_VALUE)
		r->remaining -= n;
	/* Let the state machine notice the end of the item. */
	return swu_bundle_reader_feed(r, none, 0);
}

int swu_bundle_reader_finish(SwuBundleReader *r)
{
	assert_return(r, -EINVAL);

	if (r->error < 0)
		return r->error;
	/* Bytes without one field of UpdateBundle: not an empty bundle, some other file. */
	if (r->state != ST_TAG || r->vlen > 0 || (r->offset > 0 && !r->seen_field))
		return (r->error = fail(r, "truncated", "bundle truncated"));
	return 0;
}

uint64_t swu_bundle_reader_offset(const SwuBundleReader *r)
{
	assert_return(r, 0);

	return r->offset;
}
