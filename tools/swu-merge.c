/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * merge-signatures: the last step of a threshold ceremony. Each key holder signs a copy of the
 * same root metadata (or of the same bundle) on their own machine; the copies come back and their
 * signatures are merged into one file. Only copies of the very same signed bytes are merged.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "metadata.h"
#include "swu.h"

/* One copy: root metadata (its file's bytes) or a bundle (its targets metadata, in @b). */
typedef struct Copy {
	const char *path;
	bool bundle;
	SwuBundle *b;
	int fd;
	uint8_t *data; /* root: the file; bundle: NULL (the targets entry of @b is used) */
	size_t size;
	SwuBuf payload; /* the bytes the signatures cover */
} Copy;

static void copy_done(Copy *c)
{
	swu_bundle_free(c->b);
	if (c->fd >= 0)
		close(c->fd);
	free(c->data);
	swu_buf_done(&c->payload);
}

static const uint8_t *copy_metadata(const Copy *c, size_t *ret_size)
{
	const SwuMetadataEntry *e;

	if (!c->bundle) {
		*ret_size = c->size;
		return c->data;
	}
	e = swu_bundle_get_targets(c->b, "targets");
	*ret_size = e->size;
	return e->data;
}

/* Root metadata when the file decodes as such, else a bundle with targets metadata. */
static int copy_open(const char *path, Copy *c)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	const uint8_t *meta;
	size_t size;
	struct stat st;
	int r;

	c->path = path;
	if (stat(path, &st) < 0)
		return log_error_errno(-errno, "Cannot read '%s'", path);
	if ((uint64_t)st.st_size <= swu_context_get_metadata_max(swu_ctx)) {
		r = read_metadata(path, &c->data, &c->size);
		if (r < 0)
			return r;
		if (swu_root_decode(swu_ctx, c->data, c->size, &s, &rm) >= 0 &&
		    rm->common_metadata && rm->common_metadata->role &&
		    streq(rm->common_metadata->role, "root"))
			goto payload;
		c->data = mfree(c->data);
	}
	c->bundle = true;
	r = bundle_open(path, &c->fd, &c->b);
	if (r < 0)
		return r;
	if (!swu_bundle_get_targets(c->b, "targets"))
		return log_error_errno(-EBADMSG,
				       "'%s' is neither root metadata nor a bundle with "
				       "targets metadata",
				       path);
payload:
	meta = copy_metadata(c, &size);
	r = swu_signed_payload(swu_ctx, c->bundle ? SWU_SIGNED_TARGETS : SWU_SIGNED_ROOT, meta,
			       size, &c->payload);
	if (r < 0)
		return log_error_errno(r, "Cannot read the metadata of '%s'", path);
	return 0;
}

/* Whether @c is a copy of @first: the same kind, the same signed bytes (and the same root). */
static int check_same(const Copy *first, const Copy *c)
{
	if (first->bundle != c->bundle)
		return log_error_errno(-EBADMSG, "'%s' is %s, '%s' %s: nothing to merge", c->path,
				       c->bundle ? "a bundle" : "root metadata", first->path,
				       first->bundle ? "a bundle" : "root metadata");
	if (first->payload.size != c->payload.size ||
	    memcmp(first->payload.data, c->payload.data, c->payload.size) != 0)
		return log_error_errno(-EBADMSG,
				       "'%s' signs other content than '%s': merge copies of one "
				       "metadata only",
				       c->path, first->path);
	if (c->bundle &&
	    (first->b->root_size != c->b->root_size ||
	     (c->b->root_size && memcmp(first->b->root, c->b->root, c->b->root_size) != 0)))
		return log_error_errno(-EBADMSG,
				       "'%s' carries other root metadata than '%s': merge copies "
				       "of one bundle only",
				       c->path, first->path);
	return 0;
}

/* The signatures of @c's metadata; *ret_msg owns them. */
static int copy_signatures(const Copy *c, ProtobufCMessage **ret_msg, SwuSignature ***ret_sigs,
			   size_t *ret_n)
{
	const uint8_t *meta;
	size_t size;
	int r;

	meta = copy_metadata(c, &size);
	if (!c->bundle) {
		SwuSignedRoot *s = NULL;
		_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;

		r = swu_root_decode(swu_ctx, meta, size, &s, &rm);
		if (r < 0)
			return r;
		*ret_msg = &s->base;
		*ret_sigs = s->signatures;
		*ret_n = s->n_signatures;
	} else {
		SwuSignedTargets *s = NULL;
		_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;

		r = swu_targets_decode(swu_ctx, meta, size, &s, &t);
		if (r < 0)
			return r;
		*ret_msg = &s->base;
		*ret_sigs = s->signatures;
		*ret_n = s->n_signatures;
	}
	return 0;
}

static bool has_key(const SwuSignature *const *sigs, size_t n, const ProtobufCBinaryData *id)
{
	for (size_t i = 0; i < n; i++)
		if (sigs[i]->key_id.len == id->len &&
		    memcmp(sigs[i]->key_id.data, id->data, id->len) == 0)
			return true;
	return false;
}

/*
 * The keys the signatures of @first can be checked against: for root metadata its own (root
 * keys, and a rotation's previous keys are not there: their signatures stay unjudged), for a
 * bundle the keys of the root it carries (none without one). NULL when there are none.
 */
static SwuRootMetadata *merge_keys(const Copy *first, SwuSignedRoot **ret_signed)
{
	SwuRootMetadata *rm = NULL;
	const uint8_t *p = first->bundle ? first->b->root : first->data;
	size_t n = first->bundle ? first->b->root_size : first->size;

	*ret_signed = NULL;
	if (!p || swu_root_decode(swu_ctx, p, n, ret_signed, &rm) < 0) {
		swu_context_clear_failure(swu_ctx);
		return NULL;
	}
	return rm;
}

/*
 * Whether @sig may be merged: a signature by a key the metadata lists must verify (devices check
 * only the first signature claiming a key, so a bad one would hide a good one of another copy);
 * one by a key it does not list (a previous root's, for a rotation) is kept as it is.
 */
static bool merge_valid(const Copy *c, const SwuRootMetadata *keys, SwuSignature *sig)
{
	char hex[2 * SWU_KEY_ID_SIZE + 1];
	int r;

	if (!keys)
		return true;
	r = swu_signature_by_key(swu_ctx, keys, &sig->key_id, c->payload.data, c->payload.size,
				 &sig, 1);
	if (r != SWU_KEY_SIGNATURE_INVALID)
		return true;
	swu_hex(sig->key_id.data, SWU_KEY_ID_SIZE, hex);
	fprintf(stderr,
		"swu: warning: '%s' has a signature by key %s that does not verify: not merged\n",
		c->path, hex);
	return false;
}

/*
 * @first's signed bytes with the signatures of @copies: for each key the first one that is not
 * malformed and verifies (when the key can be checked) is kept; a copy that was not signed, or
 * signed by a key already there, adds nothing.
 */
static int merge(const Copy *first, const Copy *copies, size_t n, SwuBuf *out, size_t *ret_count)
{
	const SwuSignature **seen = calloc(SWU_SIGNATURES_MAX + 1, sizeof(*seen));
	ProtobufCMessage **msgs = calloc(n + 1, sizeof(*msgs));
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *keys_signed = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *keys = merge_keys(first, &keys_signed);
	size_t count = 0;
	int r = 0;

	if (!seen || !msgs) {
		free(seen);
		free(msgs);
		return -ENOMEM;
	}
	/* The signed bytes alone (field 1 of Signed*Metadata), each signature added to them. */
	r = swu_buf_put_len_field(out, 1, first->payload.data, first->payload.size);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		SwuSignature **sigs;
		size_t n_sigs;

		r = copy_signatures(&copies[i], &msgs[i], &sigs, &n_sigs);
		for (size_t k = 0; r >= 0 && k < n_sigs; k++) {
			SwuBuf next = {};

			if (has_key(seen, count, &sigs[k]->key_id))
				continue;
			if (sigs[k]->key_id.len != SWU_KEY_ID_SIZE ||
			    sigs[k]->sig.len != SWU_SIG_SIZE) {
				fprintf(stderr,
					"swu: warning: '%s' has a malformed signature, not "
					"merged\n",
					copies[i].path);
				continue;
			}
			if (!merge_valid(&copies[i], keys, sigs[k]))
				continue;
			if (count == SWU_SIGNATURES_MAX) {
				r = log_error_errno(-EBADMSG,
						    "The merged metadata would carry more than %u "
						    "signatures, which devices refuse",
						    SWU_SIGNATURES_MAX);
				break;
			}
			seen[count++] = sigs[k];
			r = swu_signed_add_signature(
				swu_ctx, first->bundle ? SWU_SIGNED_TARGETS : SWU_SIGNED_ROOT,
				out->data, out->size, sigs[k]->key_id.data, sigs[k]->sig.data,
				&next);
			swu_buf_done(out);
			*out = next;
		}
		if (r < 0 && r != -EBADMSG)
			log_error_errno(r, "Cannot merge the signatures of '%s'", copies[i].path);
	}
	for (size_t i = 0; i < n; i++)
		if (msgs[i])
			protobuf_c_message_free_unpacked(msgs[i], NULL);
	free(msgs);
	free(seen);
	*ret_count = count;
	return r;
}

const struct option verb_merge_signatures_options[] = { { "out", required_argument, NULL, 'o' },
							{} };

int verb_merge_signatures(int argc, char **argv)
{
	_cleanup_free_ Copy *copies = NULL;
	const char *out_path = NULL;
	SwuBuf out = {};
	size_t n, count = 0;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "o:", verb_merge_signatures_options, NULL)) >= 0) {
		if (c == 'o')
			out_path = optarg;
		else
			return -EINVAL;
	}
	if (!out_path || optind >= argc)
		return log_usage("merge-signatures needs -o OUT and the signed copies");
	n = (size_t)(argc - optind);
	copies = calloc(n, sizeof(*copies));
	if (!copies)
		return log_error_errno(-ENOMEM, "Cannot merge");
	for (size_t i = 0; i < n; i++)
		copies[i].fd = -EBADF;
	/* Every copy is read and compared before anything is written. */
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = copy_open(argv[optind + (int)i], &copies[i]);
		if (r >= 0 && i > 0)
			r = check_same(&copies[0], &copies[i]);
	}
	if (r >= 0)
		r = merge(&copies[0], copies, n, &out, &count);
	if (r >= 0 && !copies[0].bundle) {
		r = swu_write_file_atomic(out_path, out.data, out.size, 0644);
		if (r < 0)
			log_error_errno(r, "Cannot write '%s'", out_path);
	} else if (r >= 0)
		r = bundle_rewrite(out_path, copies[0].b, copies[0].b->root, copies[0].b->root_size,
				   out.data, out.size, NULL, NULL);
	if (r >= 0)
		printf("Wrote %s: signatures by %zu key%s\n", out_path, count,
		       count == 1 ? "" : "s");
	swu_buf_done(&out);
	for (size_t i = 0; i < n; i++)
		copy_done(&copies[i]);
	return r;
}
