/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "fileio.h"
#include "macro.h"
#include "manifest.h"
#include "metadata.h"
#include "swu.h"
#include "text.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

/* All of @p in hex: a key id from a bundle may have any length, and a cut one names another key. */
static json_object *json_hex(const uint8_t *p, size_t n)
{
	_cleanup_free_ char *hex = NULL;

	if (n > (SIZE_MAX - 1) / 2 || !(hex = malloc(2 * n + 1)))
		return NULL;
	swu_hex(p, n, hex);
	return json_object_new_string(hex);
}

static json_object *json_time(int64_t t)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_object_new_int64(t);
	return json_object_new_string(buf);
}

static json_object *describe_root(const uint8_t *p, size_t n)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	json_object *o, *sigs;
	unsigned valid = 0;

	if (swu_root_decode(swu_ctx, p, n, &s, &rm) < 0)
		return json_object_new_string(swu_context_get_failure(swu_ctx)->message);
	o = json_object_new_object();
	json_object_object_add(
		o, "version",
		json_object_new_int64(rm->common_metadata ? rm->common_metadata->version : 0));
	if (rm->root_signature_requirement)
		json_object_object_add(
			o, "root_threshold",
			json_object_new_int64(rm->root_signature_requirement->threshold));
	if (rm->targets_signature_requirement)
		json_object_object_add(
			o, "targets_threshold",
			json_object_new_int64(rm->targets_signature_requirement->threshold));
	json_object_object_add(o, "keys", json_object_new_int64((int64_t)rm->n_keys));
	(void)swu_signatures_count(swu_ctx, rm, rm->root_signature_requirement,
				   s->serialized_root_metadata.data,
				   s->serialized_root_metadata.len, s->signatures, s->n_signatures,
				   &valid);
	sigs = json_object_new_array();
	for (size_t i = 0; i < s->n_signatures; i++)
		json_object_array_add(sigs, json_hex(s->signatures[i]->key_id.data,
						     s->signatures[i]->key_id.len));
	json_object_object_add(o, "signatures", sigs);
	json_object_object_add(o, "self_signatures_valid", json_object_new_int64(valid));
	return o;
}

/*
 * The targets threshold of the bundle's root @rm over @s, as devices that trust that root count it:
 * how many signed, and each targets key's status.
 */
static json_object *describe_threshold(const SwuRootMetadata *rm, const SwuSignedTargets *s)
{
	const SwuRequirement *req = rm->targets_signature_requirement;
	const ProtobufCBinaryData *msg = &s->serialized_targets_metadata;
	json_object *o, *keys;
	unsigned valid = 0;

	if (!req || swu_signatures_count(swu_ctx, rm, req, msg->data, msg->len, s->signatures,
					 s->n_signatures, &valid) < 0)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "required", json_object_new_int64(req->threshold));
	json_object_object_add(o, "signed", json_object_new_int64(valid));
	keys = json_object_new_array();
	for (size_t i = 0; i < req->n_key_ids; i++) {
		json_object *k = json_object_new_object();
		int r = swu_signature_by_key(swu_ctx, rm, &req->key_ids[i], msg->data, msg->len,
					     s->signatures, s->n_signatures);

		json_object_object_add(k, "key_id",
				       json_hex(req->key_ids[i].data, req->key_ids[i].len));
		json_object_object_add(
			k, "status",
			json_object_new_string(r < 0 ? strerror(-r)
						     : swu_key_signature_to_string(r)));
		json_object_array_add(keys, k);
	}
	json_object_object_add(o, "keys", keys);
	return o;
}

static json_object *describe_targets(const uint8_t *p, size_t n, const SwuRootMetadata *rm)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	json_object *o, *a;

	if (swu_targets_decode(swu_ctx, p, n, &s, &t) < 0)
		return json_object_new_string(swu_context_get_failure(swu_ctx)->message);
	o = json_object_new_object();
	if (t->common_metadata) {
		json_object_object_add(o, "role", json_object_new_string(t->common_metadata->role));
		json_object_object_add(o, "version",
				       json_object_new_int64(t->common_metadata->version));
		if (t->common_metadata->expires)
			json_object_object_add(o, "expires",
					       json_time(t->common_metadata->expires->seconds));
	}
	a = json_object_new_array();
	for (size_t i = 0; i < t->n_compatible; i++)
		json_object_array_add(a, json_object_new_string(t->compatible[i]));
	json_object_object_add(o, "compatible", a);
	a = json_object_new_array();
	for (size_t i = 0; i < t->n_target_files; i++) {
		const SwuTargetFile *f = t->target_files[i];
		const uint8_t *h = swu_target_file_sha256(f);
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(f->file_name));
		json_object_object_add(e, "length", json_object_new_int64((int64_t)f->length));
		json_object_object_add(e, "sha256", h ? json_hex(h, SWU_SHA256_SIZE) : NULL);
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "targets", a);
	a = json_object_new_array();
	for (size_t i = 0; i < s->n_signatures; i++)
		json_object_array_add(a, json_hex(s->signatures[i]->key_id.data,
						  s->signatures[i]->key_id.len));
	json_object_object_add(o, "signatures", a);
	if (rm)
		json_object_object_add(o, "threshold", describe_threshold(rm, s));
	return o;
}

/* A chunk index payload: how many chunks, cut how; or why it is not a valid index. */
static json_object *describe_chunk_index(const SwuBundle *b, const SwuPayload *p)
{
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	json_object *o = json_object_new_object();
	uint64_t length = 0;
	size_t got = 0;
	int r;

	/* Each failure with its own reason: a cap, memory, a read that came up short. */
	if (p->size > 64u * 1024u * 1024u)
		r = -EFBIG;
	else if (!(data = malloc(MAX(p->size, (uint64_t)1))))
		r = -ENOMEM;
	else if ((r = swu_pread_full(b->fd, data, p->size, p->offset, &got)) >= 0 && got != p->size)
		r = -EIO;
	if (r >= 0) {
		if (p->size >= SWU_CHUNK_HEADER_SIZE)
			length = swu_le64(data + 16);
		r = swu_chunk_index_parse(swu_ctx, data, p->size, length, &idx);
	}
	if (r < 0) {
		json_object_object_add(
			o, "error",
			json_object_new_string(r == -EBADMSG
						       ? swu_context_get_failure(swu_ctx)->message
						       : strerror(-r)));
		return o;
	}
	json_object_object_add(o, "chunks", json_object_new_int64(idx->n));
	json_object_object_add(o, "blocks", json_object_new_int64(idx->n_blocks));
	json_object_object_add(o, "image_length", json_object_new_int64((int64_t)idx->length));
	json_object_object_add(o, "chunking",
			       json_object_new_string(idx->params.align == 1 ? "byte" : "block"));
	json_object_object_add(o, "rolling", json_object_new_boolean(swu_chunk_index_rolling(idx)));
	json_object_object_add(o, "min", json_object_new_int64(idx->params.min));
	json_object_object_add(o, "avg", json_object_new_int64(idx->params.avg));
	json_object_object_add(o, "max", json_object_new_int64(idx->params.max));
	return o;
}

static json_object *describe(const SwuBundle *b)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *rs = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	json_object *o = json_object_new_object(), *a;

	/* A root that does not decode is described as such below; its thresholds count nothing. */
	if (b->root && swu_root_decode(swu_ctx, b->root, b->root_size, &rs, &rm) < 0)
		rm = NULL;

	json_object_object_add(o, "size", json_object_new_int64((int64_t)b->size));
	json_object_object_add(o, "root_metadata",
			       b->root ? describe_root(b->root, b->root_size) : NULL);
	a = json_object_new_array();
	for (size_t i = 0; i < b->n_chain; i++)
		json_object_array_add(a, describe_root(b->chain[i].data, b->chain[i].size));
	json_object_object_add(o, "root_chain", a);
	a = json_object_new_object();
	for (size_t i = 0; i < b->n_targets; i++)
		json_object_object_add(
			a, b->targets[i].name,
			describe_targets(b->targets[i].data, b->targets[i].size,
					 streq(b->targets[i].name, "targets") ? rm : NULL));
	json_object_object_add(o, "targets_metadata", a);
	a = json_object_new_array();
	for (size_t i = 0; i < b->n_payloads; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(b->payloads[i].name));
		json_object_object_add(e, "offset",
				       json_object_new_int64((int64_t)b->payloads[i].offset));
		json_object_object_add(e, "length",
				       json_object_new_int64((int64_t)b->payloads[i].size));
		if (endswith(b->payloads[i].name, ".chunks"))
			json_object_object_add(e, "chunk_index",
					       describe_chunk_index(b, &b->payloads[i]));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "payloads", a);
	return o;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return "-";
	return json_object_get_string(v);
}

/* An RFC 3339 time of the JSON description as a person reads it, "never" when there is none. */
static const char *text_time(json_object *o, const char *key, char *buf, size_t size)
{
	int64_t t;

	if (streq(jstr(o, key), "-"))
		return "never";
	if (parse_time(jstr(o, key), &t) < 0)
		return jstr(o, key);
	return swu_time_utc(t, buf, size);
}

/* The targets threshold of the bundle's root, as inspect-root-metadata prints a root's. */
static void print_threshold_text(json_object *t)
{
	json_object *th = NULL, *keys = NULL;
	long long required, valid;

	if (!json_object_object_get_ex(t, "threshold", &th) || !th)
		return;
	required = atoll(jstr(th, "required"));
	valid = atoll(jstr(th, "signed"));
	printf("  targets keys of its root: %lld of %lld required signed", valid, required);
	if (valid < required)
		printf(", %lld more needed", required - valid);
	putchar('\n');
	json_object_object_get_ex(th, "keys", &keys);
	for (size_t i = 0; i < json_object_array_length(keys); i++) {
		json_object *k = json_object_array_get_idx(keys, i);

		printf("    targets key %s: %s\n", jstr(k, "key_id"), jstr(k, "status"));
	}
}

static void print_text(const char *path, json_object *o)
{
	json_object *root, *targets, *payloads, *chain = NULL;

	printf("Bundle %s (%s bytes)\n", path, jstr(o, "size"));
	json_object_object_get_ex(o, "root_metadata", &root);
	if (root && json_object_is_type(root, json_type_object)) {
		json_object *sigs = NULL;

		json_object_object_get_ex(root, "signatures", &sigs);
		printf("Root metadata: version %s, root threshold %s, targets threshold %s, %zu "
		       "signatures (%s valid by its own root keys)\n",
		       jstr(root, "version"), jstr(root, "root_threshold"),
		       jstr(root, "targets_threshold"), json_object_array_length(sigs),
		       jstr(root, "self_signatures_valid"));
	} else
		printf("Root metadata: %s\n", root ? json_object_get_string(root) : "none");
	json_object_object_get_ex(o, "root_chain", &chain);
	for (size_t i = 0; chain && i < json_object_array_length(chain); i++) {
		json_object *l = json_object_array_get_idx(chain, i);

		if (json_object_is_type(l, json_type_object))
			printf("Root chain: version %s, %s signatures valid by its own root keys\n",
			       jstr(l, "version"), jstr(l, "self_signatures_valid"));
		else
			printf("Root chain: %s\n", json_object_get_string(l));
	}
	json_object_object_get_ex(o, "targets_metadata", &targets);
	json_object_object_foreach (targets, name, t) {
		char when[SWU_TIME_UTC_MAX];
		json_object *list;

		if (!json_object_is_type(t, json_type_object)) {
			printf("Targets metadata '%s': %s\n", name, json_object_get_string(t));
			continue;
		}
		printf("Targets metadata '%s': version %s, expires %s, compatible %s\n", name,
		       jstr(t, "version"), text_time(t, "expires", when, sizeof(when)),
		       jstr(t, "compatible"));
		json_object_object_get_ex(t, "targets", &list);
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			json_object *e = json_object_array_get_idx(list, i);

			printf("  target %-20s %12s bytes  sha256 %s\n", jstr(e, "name"),
			       jstr(e, "length"), jstr(e, "sha256"));
		}
		json_object_object_get_ex(t, "signatures", &list);
		printf("  signatures: %zu\n", json_object_array_length(list));
		for (size_t i = 0; i < json_object_array_length(list); i++)
			printf("    by %s\n",
			       json_object_get_string(json_object_array_get_idx(list, i)));
		print_threshold_text(t);
	}
	json_object_object_get_ex(o, "payloads", &payloads);
	for (size_t i = 0; i < json_object_array_length(payloads); i++) {
		json_object *e = json_object_array_get_idx(payloads, i);

		json_object *ci = NULL;

		printf("Payload %-20s %12s bytes at offset %s\n", jstr(e, "name"),
		       jstr(e, "length"), jstr(e, "offset"));
		if (!json_object_object_get_ex(e, "chunk_index", &ci))
			continue;
		if (json_object_object_get_ex(ci, "error", NULL))
			printf("  not a valid chunk index: %s\n", jstr(ci, "error"));
		else
			printf("  chunk index: %s chunks (%s-%s), %s blocks of 4 KiB, of a %s-byte "
			       "image\n",
			       jstr(ci, "chunks"), jstr(ci, "chunking"),
			       streq(jstr(ci, "chunking"), "block") ? "aligned" : "granular",
			       jstr(ci, "blocks"), jstr(ci, "image_length"));
	}
}

const struct option verb_inspect_bundle_options[] = { { "json", no_argument, NULL, 'j' }, {} };

int verb_inspect_bundle(int argc, char **argv)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(json_object_putp) json_object *o = NULL;
	_cleanup_close_ int fd = -EBADF;
	const char *path;
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_inspect_bundle_options, NULL)) >= 0) {
		if (c == 'j')
			json = true;
		else
			return -EINVAL;
	}
	if (optind != argc - 1)
		return log_usage("inspect-bundle takes exactly one BUNDLE");
	path = argv[optind];
	r = bundle_open(path, &fd, &b);
	if (r < 0)
		return r;
	o = describe(b);
	if (json)
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_text(path, o);
	return 0;
}
