/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "macro.h"
#include "manifest.h"

int swu_manifest_decode(SwuContext *ctx, const uint8_t *p, size_t n, SwuManifest **ret)
{
	_cleanup_(swu_manifest_freep) SwuManifest *m = NULL;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(ret, -EINVAL);

	r = swu_wire_unpack(ctx, &pw__software_update__manifest__descriptor, p, n, "manifest",
			    (ProtobufCMessage **)&m);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->n_targets_metadata; i++)
		for (size_t j = 0; j < i; j++)
			if (streq(m->targets_metadata[i]->key, m->targets_metadata[j]->key))
				return swu_fail(ctx, -EBADMSG, "manifest", "ambiguity",
						"manifest: targets metadata '%s' given twice",
						m->targets_metadata[i]->key);
	*ret = TAKE_PTR(m);
	return 0;
}

const SwuTargetsMetadata *swu_manifest_get_targets(const SwuManifest *m)
{
	for (size_t i = 0; m && i < m->n_targets_metadata; i++)
		if (streq(m->targets_metadata[i]->key, "targets"))
			return m->targets_metadata[i]->value;
	return NULL;
}

int swu_manifest_build(const uint8_t *targets, size_t targets_size, const uint8_t *user,
		       size_t user_size, SwuBuf *out)
{
	SwuBuf entry = {};
	int r;

	assert_return(targets || targets_size == 0, -EINVAL);
	assert_return(user || user_size == 0, -EINVAL);
	assert_return(out, -EINVAL);

	/* Written by hand so the signed TargetsMetadata bytes are kept exactly as carried. */
	r = swu_buf_put_len_field(&entry, 1, "targets", strlen("targets"));
	if (r >= 0)
		r = swu_buf_put_len_field(&entry, 2, targets, targets_size);
	if (r >= 0)
		r = swu_buf_put_len_field(out, 1, entry.data, entry.size);
	if (r >= 0 && user_size > 0)
		r = swu_buf_put_len_field(out, 2, user, user_size);
	swu_buf_done(&entry);
	return r;
}

int swu_manifest_targets_sha256(SwuContext *ctx, const uint8_t *p, size_t n,
				uint8_t out[SWU_SHA256_SIZE])
{
	size_t pos = 0;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(out, -EINVAL);

	r = swu_wire_check(ctx, &pw__software_update__manifest__descriptor, p, n, "manifest");
	if (r < 0)
		return r;
	/* The raw entry bytes (the wire check above vouches for the framing): protobuf-c would
	 * decode them, not keep them. */
	while (pos < n) {
		const uint8_t *key, *value;
		size_t key_size, value_size;
		uint64_t tag, len = 0;
		uint32_t field;
		unsigned wire;

		pos += (size_t)swu_varint_decode(p + pos, n - pos, &tag);
		(void)swu_tag_split(tag, &field, &wire);
		if (wire == SWU_WIRE_VARINT) {
			pos += (size_t)swu_varint_decode(p + pos, n - pos, &len);
			continue;
		}
		if (wire != SWU_WIRE_LEN) {
			pos += wire == SWU_WIRE_I64 ? 8 : 4;
			continue;
		}
		pos += (size_t)swu_varint_decode(p + pos, n - pos, &len);
		if (field == 1) {
			r = swu_wire_map_entry(ctx, p + pos, (size_t)len, "manifest", &key,
					       &key_size, &value, &value_size);
			if (r < 0)
				return r;
			if (key_size == strlen("targets") && memcmp(key, "targets", key_size) == 0)
				return swu_sha256(value, value_size, out);
		}
		pos += (size_t)len;
	}
	return swu_fail(ctx, -EBADMSG, "manifest", "presence",
			"manifest has no targets metadata named 'targets'");
}

const SwuTargetFile *swu_targets_find(const SwuTargetsMetadata *t, const char *name)
{
	assert_return(name, NULL);

	for (size_t i = 0; t && i < t->n_target_files; i++)
		if (t->target_files[i]->file_name && streq(t->target_files[i]->file_name, name))
			return t->target_files[i];
	return NULL;
}

const uint8_t *swu_target_file_sha256(const SwuTargetFile *f)
{
	const uint8_t *found = NULL;

	assert_return(f, NULL);

	for (size_t i = 0; i < f->n_hashes; i++) {
		const Pw__SoftwareUpdate__Hash *h = f->hashes[i];

		if (h->function != PW__SOFTWARE_UPDATE__HASH_FUNCTION__SHA256)
			continue;
		if (found || h->hash.len != SWU_SHA256_SIZE)
			return NULL;
		found = h->hash.data;
	}
	return found;
}
