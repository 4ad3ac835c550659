/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "macro.h"
#include "metadata.h"

int swu_root_decode(SwuContext *ctx, const uint8_t *p, size_t n, SwuSignedRoot **ret_signed,
		    SwuRootMetadata **ret_root)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	SwuRootMetadata *root = NULL;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(ret_signed, -EINVAL);
	assert_return(ret_root, -EINVAL);

	r = swu_wire_unpack(ctx, &pw__software_update__signed_root_metadata__descriptor, p, n,
			    "root metadata", (ProtobufCMessage **)&s);
	if (r < 0)
		return r;
	r = swu_wire_unpack(ctx, &pw__software_update__root_metadata__descriptor,
			    s->serialized_root_metadata.data, s->serialized_root_metadata.len,
			    "root metadata", (ProtobufCMessage **)&root);
	if (r < 0)
		return r;
	*ret_signed = TAKE_PTR(s);
	*ret_root = root;
	return 0;
}

uint32_t swu_root_version(SwuContext *ctx, const uint8_t *p, size_t n)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;

	assert_return(ctx, 0);
	assert_return(p || n == 0, 0);

	if (swu_root_decode(ctx, p, n, &s, &rm) < 0 || !rm->common_metadata)
		return 0;
	return rm->common_metadata->version;
}

int swu_timestamp_decode(SwuContext *ctx, const uint8_t *p, size_t n,
			 SwuSignedTimestamp **ret_signed, SwuTimestampMetadata **ret_timestamp)
{
	_cleanup_(swu_signed_timestamp_freep) SwuSignedTimestamp *s = NULL;
	SwuTimestampMetadata *t = NULL;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(ret_signed, -EINVAL);
	assert_return(ret_timestamp, -EINVAL);

	r = swu_wire_unpack(ctx, &pw__software_update__signed_timestamp_metadata__descriptor, p, n,
			    "timestamp metadata", (ProtobufCMessage **)&s);
	if (r < 0)
		return r;
	r = swu_wire_unpack(ctx, &pw__software_update__timestamp_metadata__descriptor,
			    s->serialized_timestamp_metadata.data,
			    s->serialized_timestamp_metadata.len, "timestamp metadata",
			    (ProtobufCMessage **)&t);
	if (r < 0)
		return r;
	*ret_signed = TAKE_PTR(s);
	*ret_timestamp = t;
	return 0;
}

int swu_targets_decode(SwuContext *ctx, const uint8_t *p, size_t n, SwuSignedTargets **ret_signed,
		       SwuTargetsMetadata **ret_targets)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	SwuTargetsMetadata *t = NULL;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(ret_signed, -EINVAL);
	assert_return(ret_targets, -EINVAL);

	r = swu_wire_unpack(ctx, &pw__software_update__signed_targets_metadata__descriptor, p, n,
			    "targets metadata", (ProtobufCMessage **)&s);
	if (r < 0)
		return r;
	r = swu_wire_unpack(ctx, &pw__software_update__targets_metadata__descriptor,
			    s->serialized_targets_metadata.data, s->serialized_targets_metadata.len,
			    "targets metadata", (ProtobufCMessage **)&t);
	if (r < 0)
		return r;
	*ret_signed = TAKE_PTR(s);
	*ret_targets = t;
	return 0;
}

static bool key_id_eq(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static const Pw__SoftwareUpdate__Key *find_key(const SwuRootMetadata *root, ProtobufCBinaryData id)
{
	for (size_t i = 0; i < root->n_keys; i++)
		if (root->keys[i]->key && key_id_eq(root->keys[i]->key_id, id))
			return root->keys[i]->key;
	return NULL;
}

/* Number of distinct key ids in @req. */
static size_t requirement_distinct(const SwuRequirement *req)
{
	size_t n = 0;

	for (size_t i = 0; i < req->n_key_ids; i++) {
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = key_id_eq(req->key_ids[i], req->key_ids[j]);
		n += !dup;
	}
	return n;
}

static int check_requirement(SwuContext *ctx, const SwuRootMetadata *root,
			     const SwuRequirement *req, const char *which, const char *role)
{
	size_t distinct;

	if (!req)
		return swu_fail(ctx, -EBADMSG, "root", "soundness",
				"%s metadata has no %s signature requirement", which, role);
	distinct = requirement_distinct(req);
	if (req->threshold < 1 || req->threshold > distinct)
		return swu_fail(ctx, -EBADMSG, "root", "soundness",
				"%s metadata: %s threshold %u is not between 1 and the %zu listed "
				"keys",
				which, role, req->threshold, distinct);
	for (size_t i = 0; i < req->n_key_ids; i++)
		if (!find_key(root, req->key_ids[i]))
			return swu_fail(ctx, -EBADMSG, "root", "soundness",
					"%s metadata: a %s key id is not registered", which, role);
	return 0;
}

static int check_key(SwuContext *ctx, const Pw__SoftwareUpdate__KeyMapping *m, const char *which)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	const Pw__SoftwareUpdate__Key *k = m->key;
	uint8_t id[SWU_KEY_ID_SIZE];

	if (!k || k->key_type != SWU_KEY_TYPE_ECDSA_P256 || k->scheme != SWU_KEY_SCHEME_ECDSA_P256)
		return swu_fail(ctx, -EBADMSG, "root", "soundness",
				"%s metadata: only ECDSA P-256 keys are supported", which);
	if (k->keyval.len != SWU_KEYVAL_SIZE ||
	    swu_key_from_keyval(k->keyval.data, k->keyval.len, &pkey) < 0)
		return swu_fail(ctx, -EBADMSG, "root", "soundness",
				"%s metadata: key of %zu bytes is not a 65-byte P-256 point", which,
				k->keyval.len);
	swu_key_id((uint8_t)k->key_type, (uint8_t)k->scheme, k->keyval.data, k->keyval.len, id);
	if (m->key_id.len != sizeof(id) || memcmp(m->key_id.data, id, sizeof(id)) != 0)
		return swu_fail(ctx, -EBADMSG, "root", "soundness",
				"%s metadata: a key id is not derived from its key", which);
	return 0;
}

bool swu_requirement_declared(const SwuRequirement *req)
{
	return req && (req->threshold > 0 || req->n_key_ids > 0);
}

/* Whether requirements @a and @b list a key in common. */
static bool requirements_share(const SwuRequirement *a, const SwuRequirement *b)
{
	for (size_t i = 0; i < a->n_key_ids; i++)
		for (size_t j = 0; j < b->n_key_ids; j++)
			if (key_id_eq(a->key_ids[i], b->key_ids[j]))
				return true;
	return false;
}

int swu_root_check_sound(SwuContext *ctx, const SwuRootMetadata *root, const char *which)
{
	const SwuRequirement *rr, *tr, *ts;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(root, -EINVAL);
	assert_return(which, -EINVAL);

	rr = root->root_signature_requirement;
	tr = root->targets_signature_requirement;
	if (!root->common_metadata || !root->common_metadata->role ||
	    !streq(root->common_metadata->role, "root"))
		return swu_fail(ctx, -EBADMSG, "root", "role",
				"%s metadata: role is '%s', expected 'root'", which,
				root->common_metadata && root->common_metadata->role
					? root->common_metadata->role
					: "");
	for (size_t i = 0; i < root->n_keys; i++) {
		r = check_key(ctx, root->keys[i], which);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (key_id_eq(root->keys[i]->key_id, root->keys[j]->key_id))
				return swu_fail(ctx, -EBADMSG, "root", "ambiguity",
						"%s metadata: a key is registered twice", which);
	}
	r = check_requirement(ctx, root, rr, which, "root");
	if (r < 0)
		return r;
	r = check_requirement(ctx, root, tr, which, "targets");
	if (r < 0)
		return r;
	if (requirements_share(rr, tr))
		return swu_fail(ctx, -EBADMSG, "root", "soundness",
				"%s metadata: a key is shared by the root and targets roles",
				which);
	if (swu_requirement_declared(root->snapshot_signature_requirement))
		return swu_fail(ctx, -EBADMSG, "root", "soundness",
				"%s metadata declares a snapshot role: with one targets metadata "
				"the "
				"timestamp names it itself, and no snapshot is read",
				which);
	ts = root->timestamp_signature_requirement;
	if (!swu_requirement_declared(ts))
		return 0;
	r = check_requirement(ctx, root, ts, which, "timestamp");
	if (r < 0)
		return r;
	if (requirements_share(ts, rr) || requirements_share(ts, tr))
		return swu_fail(ctx, -EBADMSG, "root", "soundness",
				"%s metadata: a timestamp key is also a %s key (the online key may "
				"only narrow what the offline keys sign)",
				which, requirements_share(ts, rr) ? "root" : "targets");
	return 0;
}

const char *swu_key_signature_to_string(SwuKeySignature s)
{
	switch (s) {
	case SWU_KEY_SIGNATURE_VALID:
		return "signed";
	case SWU_KEY_SIGNATURE_MISSING:
		return "missing";
	case SWU_KEY_SIGNATURE_INVALID:
		return "signature does not verify";
	case SWU_KEY_SIGNATURE_UNKNOWN_KEY:
		return "key not registered";
	case _SWU_KEY_SIGNATURE_MAX:
		break;
	}
	return NULL;
}

static int check_signature_count(SwuContext *ctx, size_t n_sigs)
{
	if (n_sigs > SWU_SIGNATURES_MAX)
		return swu_fail(ctx, -EBADMSG, "signatures", "limit",
				"metadata carries %zu signatures, at most %u are accepted", n_sigs,
				SWU_SIGNATURES_MAX);
	return 0;
}

/* The first well-formed signature claiming @id is the only one verified. */
static SwuKeySignature key_signature(SwuContext *ctx, const SwuRootMetadata *keys,
				     ProtobufCBinaryData id, const uint8_t *msg, size_t n,
				     SwuSignature *const *sigs, size_t n_sigs)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	const Pw__SoftwareUpdate__Key *k = find_key(keys, id);

	if (!k || swu_key_from_keyval(k->keyval.data, k->keyval.len, &pkey) < 0)
		return SWU_KEY_SIGNATURE_UNKNOWN_KEY;
	for (size_t s = 0; s < n_sigs; s++) {
		if (!key_id_eq(sigs[s]->key_id, id) || sigs[s]->sig.len != SWU_SIG_SIZE)
			continue;
		swu_context_count_verification(ctx);
		return swu_verify(pkey, msg, n, sigs[s]->sig.data, sigs[s]->sig.len) == 0
			       ? SWU_KEY_SIGNATURE_VALID
			       : SWU_KEY_SIGNATURE_INVALID;
	}
	return SWU_KEY_SIGNATURE_MISSING;
}

int swu_signature_by_key(SwuContext *ctx, const SwuRootMetadata *keys,
			 const ProtobufCBinaryData *key_id, const uint8_t *msg, size_t n,
			 SwuSignature *const *sigs, size_t n_sigs)
{
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(keys, -EINVAL);
	assert_return(key_id, -EINVAL);
	assert_return(msg || n == 0, -EINVAL);
	assert_return(sigs || n_sigs == 0, -EINVAL);

	r = check_signature_count(ctx, n_sigs);
	if (r < 0)
		return r;
	return (int)key_signature(ctx, keys, *key_id, msg, n, sigs, n_sigs);
}

int swu_signatures_count(SwuContext *ctx, const SwuRootMetadata *keys, const SwuRequirement *req,
			 const uint8_t *msg, size_t n, SwuSignature *const *sigs, size_t n_sigs,
			 unsigned *ret)
{
	unsigned count = 0;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(keys, -EINVAL);
	assert_return(msg || n == 0, -EINVAL);
	assert_return(sigs || n_sigs == 0, -EINVAL);
	assert_return(ret, -EINVAL);

	r = check_signature_count(ctx, n_sigs);
	if (r < 0)
		return r;
	for (size_t i = 0; req && i < req->n_key_ids; i++) {
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = key_id_eq(req->key_ids[i], req->key_ids[j]);
		if (!dup && key_signature(ctx, keys, req->key_ids[i], msg, n, sigs, n_sigs) ==
				    SWU_KEY_SIGNATURE_VALID)
			count++;
	}
	swu_log_debug(ctx, "%u valid signatures", count);
	*ret = count;
	return 0;
}

static int add_key_mappings(EVP_PKEY *const *keys, size_t n, Pw__SoftwareUpdate__KeyMapping *maps,
			    Pw__SoftwareUpdate__Key *ks, uint8_t (*vals)[SWU_KEYVAL_SIZE],
			    uint8_t (*ids)[SWU_KEY_ID_SIZE], ProtobufCBinaryData *req_ids)
{
	for (size_t i = 0; i < n; i++) {
		int r = swu_key_get_keyval(keys[i], vals[i]);

		if (r < 0)
			return r;
		swu_key_id(SWU_KEY_TYPE_ECDSA_P256, SWU_KEY_SCHEME_ECDSA_P256, vals[i],
			   SWU_KEYVAL_SIZE, ids[i]);
		pw__software_update__key__init(&ks[i]);
		ks[i].key_type = PW__SOFTWARE_UPDATE__KEY_TYPE__ECDSA_SHA2_NISTP256;
		ks[i].scheme = PW__SOFTWARE_UPDATE__KEY_SCHEME__ECDSA_SHA2_NISTP256_SCHEME;
		ks[i].keyval = (ProtobufCBinaryData){ SWU_KEYVAL_SIZE, vals[i] };
		pw__software_update__key_mapping__init(&maps[i]);
		maps[i].key_id = (ProtobufCBinaryData){ SWU_KEY_ID_SIZE, ids[i] };
		maps[i].key = &ks[i];
		req_ids[i] = maps[i].key_id;
	}
	return 0;
}

static int pack_signed(const ProtobufCMessage *inner, SwuBuf *out)
{
	SwuBuf tmp = {};
	int r;

	/* Signed*Metadata: field 1 the serialized metadata, field 2 signatures (none yet). */
	r = swu_buf_put_message(&tmp, 1, inner);
	if (r >= 0)
		r = swu_buf_append(out, tmp.data, tmp.size);
	swu_buf_done(&tmp);
	return r;
}

int swu_root_create(const SwuRootSpec *spec, SwuBuf *out)
{
	size_t n;
	_cleanup_free_ Pw__SoftwareUpdate__KeyMapping *maps = NULL;
	_cleanup_free_ Pw__SoftwareUpdate__KeyMapping **map_ptrs = NULL;
	_cleanup_free_ Pw__SoftwareUpdate__Key *ks = NULL;
	_cleanup_free_ uint8_t(*vals)[SWU_KEYVAL_SIZE] = NULL;
	_cleanup_free_ uint8_t(*ids)[SWU_KEY_ID_SIZE] = NULL;
	_cleanup_free_ ProtobufCBinaryData *req_ids = NULL;
	Pw__SoftwareUpdate__CommonMetadata common = PW__SOFTWARE_UPDATE__COMMON_METADATA__INIT;
	SwuRequirement rr = PW__SOFTWARE_UPDATE__SIGNATURE_REQUIREMENT__INIT;
	SwuRequirement tr = PW__SOFTWARE_UPDATE__SIGNATURE_REQUIREMENT__INIT;
	SwuRequirement sr = PW__SOFTWARE_UPDATE__SIGNATURE_REQUIREMENT__INIT;
	SwuRootMetadata root = PW__SOFTWARE_UPDATE__ROOT_METADATA__INIT;
	size_t t0, s0;
	int r;

	assert_return(spec, -EINVAL);
	assert_return(spec->root_keys || spec->n_root == 0, -EINVAL);
	assert_return(spec->targets_keys || spec->n_targets == 0, -EINVAL);
	assert_return(spec->timestamp_keys || spec->n_timestamp == 0, -EINVAL);
	assert_return(out, -EINVAL);

	n = spec->n_root + spec->n_targets + spec->n_timestamp;
	t0 = spec->n_root;
	s0 = t0 + spec->n_targets;
	maps = calloc(n + 1, sizeof(*maps));
	map_ptrs = calloc(n + 1, sizeof(void *));
	ks = calloc(n + 1, sizeof(*ks));
	vals = calloc(n + 1, SWU_KEYVAL_SIZE);
	ids = calloc(n + 1, SWU_KEY_ID_SIZE);
	req_ids = calloc(n + 1, sizeof(*req_ids));
	if (!maps || !map_ptrs || !ks || !vals || !ids || !req_ids)
		return -ENOMEM;
	r = add_key_mappings(spec->root_keys, spec->n_root, maps, ks, vals, ids, req_ids);
	if (r >= 0)
		r = add_key_mappings(spec->targets_keys, spec->n_targets, maps + t0, ks + t0,
				     vals + t0, ids + t0, req_ids + t0);
	if (r >= 0)
		r = add_key_mappings(spec->timestamp_keys, spec->n_timestamp, maps + s0, ks + s0,
				     vals + s0, ids + s0, req_ids + s0);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		map_ptrs[i] = &maps[i];

	common.spec_version = (char *)SWU_SPEC_VERSION;
	common.version = spec->version;
	common.role = (char *)"root";
	rr.n_key_ids = spec->n_root;
	rr.key_ids = req_ids;
	rr.threshold = spec->root_threshold;
	tr.n_key_ids = spec->n_targets;
	tr.key_ids = req_ids + t0;
	tr.threshold = spec->targets_threshold;
	root.common_metadata = &common;
	root.n_keys = n;
	root.keys = map_ptrs;
	root.root_signature_requirement = &rr;
	root.targets_signature_requirement = &tr;
	if (spec->n_timestamp > 0) {
		sr.n_key_ids = spec->n_timestamp;
		sr.key_ids = req_ids + s0;
		sr.threshold = spec->timestamp_threshold;
		root.timestamp_signature_requirement = &sr;
	}
	return pack_signed(&root.base, out);
}

int swu_timestamp_create(const SwuTimestampSpec *spec, SwuBuf *out)
{
	Pw__SoftwareUpdate__CommonMetadata common = PW__SOFTWARE_UPDATE__COMMON_METADATA__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp signed_at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp start = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	SwuTimestampMetadata t = PW__SOFTWARE_UPDATE__TIMESTAMP_METADATA__INIT;
	Pw__SoftwareUpdate__Rollout rollout = PW__SOFTWARE_UPDATE__ROLLOUT__INIT;
	SwuMetadataFile file = PW__SOFTWARE_UPDATE__METADATA_FILE__INIT;
	SwuMetadataFile *files[] = { &file };
	Pw__SoftwareUpdate__Hash hash = PW__SOFTWARE_UPDATE__HASH__INIT;
	Pw__SoftwareUpdate__Hash *hashes[] = { &hash };

	assert_return(spec && spec->expires != 0, -EINVAL);
	assert_return(spec->targets_sha256, -EINVAL);
	assert_return(spec->rollout.percent <= 100, -EINVAL);
	assert_return(out, -EINVAL);

	common.spec_version = (char *)SWU_SPEC_VERSION;
	common.version = spec->version;
	common.role = (char *)"timestamp";
	ts.seconds = spec->expires;
	common.expires = &ts;
	if (spec->signed_at != 0) {
		signed_at.seconds = spec->signed_at;
		common.signed_at = &signed_at;
	}
	hash.function = PW__SOFTWARE_UPDATE__HASH_FUNCTION__SHA256;
	hash.hash = (ProtobufCBinaryData){ 32, (uint8_t *)spec->targets_sha256 };
	file.file_name = (char *)"targets";
	file.version = spec->targets_version;
	file.length = spec->targets_length;
	file.n_hashes = 1;
	file.hashes = hashes;
	t.common_metadata = &common;
	t.n_snapshot_metadata = 1;
	t.snapshot_metadata = files;
	if (spec->rollout.set) {
		rollout.percent = spec->rollout.percent;
		rollout.halted = spec->rollout.halted;
		if (spec->rollout.start != 0) {
			start.seconds = spec->rollout.start;
			rollout.start = &start;
		}
		t.rollout = &rollout;
	}
	return pack_signed(&t.base, out);
}

void swu_timestamp_get_rollout(const SwuTimestampMetadata *t, SwuRollout *ret)
{
	const Pw__SoftwareUpdate__Rollout *r = t ? t->rollout : NULL;

	*ret = (SwuRollout){};
	if (!r)
		return;
	*ret = (SwuRollout){ .set = true,
			     .percent = r->percent,
			     .start = r->start ? r->start->seconds : 0,
			     .halted = r->halted };
}

int swu_targets_create(uint32_t version, char *const *compatible, size_t n_compatible,
		       int64_t expires, int64_t signed_at, SwuBuf *out)
{
	Pw__SoftwareUpdate__CommonMetadata common = PW__SOFTWARE_UPDATE__COMMON_METADATA__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	SwuTargetsMetadata t = PW__SOFTWARE_UPDATE__TARGETS_METADATA__INIT;

	assert_return(compatible || n_compatible == 0, -EINVAL);
	assert_return(out, -EINVAL);

	common.spec_version = (char *)SWU_SPEC_VERSION;
	common.version = version;
	common.role = (char *)"targets";
	if (expires != 0) {
		ts.seconds = expires;
		common.expires = &ts;
	}
	if (signed_at != 0) {
		at.seconds = signed_at;
		common.signed_at = &at;
	}
	t.common_metadata = &common;
	t.n_compatible = n_compatible;
	t.compatible = (char **)compatible;
	return pack_signed(&t.base, out);
}

int swu_targets_add_file(SwuContext *ctx, const uint8_t *signed_targets, size_t n, const char *name,
			 uint64_t length, const uint8_t sha256[32], SwuBuf *out)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	_cleanup_free_ SwuTargetFile **files = NULL;
	Pw__SoftwareUpdate__Hash hash = PW__SOFTWARE_UPDATE__HASH__INIT;
	Pw__SoftwareUpdate__Hash *hashes[] = { &hash };
	SwuTargetFile file = PW__SOFTWARE_UPDATE__TARGET_FILE__INIT;
	size_t k = 0;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(signed_targets || n == 0, -EINVAL);
	assert_return(name, -EINVAL);
	assert_return(sha256, -EINVAL);
	assert_return(out, -EINVAL);

	if (!swu_target_name_valid(name, strlen(name)))
		return swu_fail(ctx, -EINVAL, "targets", "name", "invalid target name '%s'", name);
	r = swu_targets_decode(ctx, signed_targets, n, &s, &t);
	if (r < 0)
		return r;
	files = calloc(t->n_target_files + 1, sizeof(*files));
	if (!files)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_target_files; i++)
		if (!t->target_files[i]->file_name || !streq(t->target_files[i]->file_name, name))
			files[k++] = t->target_files[i];
	hash.function = PW__SOFTWARE_UPDATE__HASH_FUNCTION__SHA256;
	hash.hash = (ProtobufCBinaryData){ SWU_SHA256_SIZE, (uint8_t *)sha256 };
	file.file_name = (char *)name;
	file.length = length;
	file.n_hashes = 1;
	file.hashes = hashes;
	files[k++] = &file;

	/* Pack with our array, then put the original back so free_unpacked frees what it owns. */
	SwuTargetFile **orig = t->target_files;
	size_t orig_n = t->n_target_files;
	t->target_files = files;
	t->n_target_files = k;
	r = pack_signed(&t->base, out);
	t->target_files = orig;
	t->n_target_files = orig_n;
	return r;
}

int swu_targets_renew(SwuContext *ctx, const uint8_t *signed_targets, size_t n, uint32_t version,
		      int64_t expires, int64_t signed_at, SwuBuf *out)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT, *orig_expires;
	Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT, *orig_signed_at;
	uint32_t orig_version;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(signed_targets || n == 0, -EINVAL);
	assert_return(out, -EINVAL);

	r = swu_targets_decode(ctx, signed_targets, n, &s, &t);
	if (r < 0)
		return r;
	if (!t->common_metadata)
		return swu_fail(ctx, -EBADMSG, "targets", "common",
				"targets metadata has no common metadata");
	/* Pack with the new values, then put the originals back so free_unpacked frees its own. */
	orig_version = t->common_metadata->version;
	orig_expires = t->common_metadata->expires;
	orig_signed_at = t->common_metadata->signed_at;
	ts.seconds = expires;
	at.seconds = signed_at;
	t->common_metadata->version = version;
	t->common_metadata->expires = expires != 0 ? &ts : NULL;
	t->common_metadata->signed_at = signed_at != 0 ? &at : NULL;
	r = pack_signed(&t->base, out);
	t->common_metadata->version = orig_version;
	t->common_metadata->expires = orig_expires;
	t->common_metadata->signed_at = orig_signed_at;
	return r;
}

static const ProtobufCMessageDescriptor *signed_descriptor(SwuSignedKind kind)
{
	switch (kind) {
	case SWU_SIGNED_ROOT:
		return &pw__software_update__signed_root_metadata__descriptor;
	case SWU_SIGNED_TIMESTAMP:
		return &pw__software_update__signed_timestamp_metadata__descriptor;
	case SWU_SIGNED_TARGETS:
	default:
		return &pw__software_update__signed_targets_metadata__descriptor;
	}
}

static const char *signed_what(SwuSignedKind kind)
{
	return kind == SWU_SIGNED_ROOT	      ? "root metadata"
	       : kind == SWU_SIGNED_TIMESTAMP ? "timestamp metadata"
					      : "targets metadata";
}

/*
 * Signed{Root,Targets,Timestamp}Metadata share one shape (bytes 1, repeated Signature 2); the
 * root variant's accessors are used for all after decoding with the right descriptor.
 */
int swu_signed_add_signature(SwuContext *ctx, SwuSignedKind kind, const uint8_t *p, size_t n,
			     const uint8_t key_id[32], const uint8_t sig[64], SwuBuf *out)
{
	_cleanup_free_ SwuSignature **sigs = NULL;
	SwuSignature add = PW__SOFTWARE_UPDATE__SIGNATURE__INIT;
	ProtobufCMessage *m = NULL;
	SwuSignedRoot *s;
	size_t k = 0;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(key_id, -EINVAL);
	assert_return(sig, -EINVAL);
	assert_return(out, -EINVAL);

	assert_return(kind <= SWU_SIGNED_TIMESTAMP, -EINVAL);

	r = swu_wire_unpack(ctx, signed_descriptor(kind), p, n, signed_what(kind), &m);
	if (r < 0)
		return r;
	s = (SwuSignedRoot *)m;
	sigs = calloc(s->n_signatures + 1, sizeof(*sigs));
	if (!sigs) {
		protobuf_c_message_free_unpacked(m, NULL);
		return -ENOMEM;
	}
	add.key_id = (ProtobufCBinaryData){ SWU_KEY_ID_SIZE, (uint8_t *)key_id };
	add.sig = (ProtobufCBinaryData){ SWU_SIG_SIZE, (uint8_t *)sig };
	for (size_t i = 0; i < s->n_signatures; i++)
		if (!key_id_eq(s->signatures[i]->key_id, add.key_id))
			sigs[k++] = s->signatures[i];
	sigs[k++] = &add;

	r = swu_buf_put_len_field(out, 1, s->serialized_root_metadata.data,
				  s->serialized_root_metadata.len);
	for (size_t i = 0; r >= 0 && i < k; i++)
		r = swu_buf_put_message(out, 2, &sigs[i]->base);
	protobuf_c_message_free_unpacked(m, NULL);
	return r;
}

int swu_signed_payload(SwuContext *ctx, SwuSignedKind kind, const uint8_t *p, size_t n, SwuBuf *out)
{
	ProtobufCMessage *m = NULL;
	SwuSignedRoot *s;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(out, -EINVAL);
	assert_return(kind <= SWU_SIGNED_TIMESTAMP, -EINVAL);

	r = swu_wire_unpack(ctx, signed_descriptor(kind), p, n, signed_what(kind), &m);
	if (r < 0)
		return r;
	s = (SwuSignedRoot *)m;
	r = swu_buf_append(out, s->serialized_root_metadata.data, s->serialized_root_metadata.len);
	protobuf_c_message_free_unpacked(m, NULL);
	return r;
}

bool swu_target_name_valid(const char *name, size_t len)
{
	size_t part = 0;

	assert_return(name || len == 0, false);

	if (len == 0 || len > 255 || name[0] == '/')
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '/') {
			const char *s = name + i - part;

			if (part == 0 || (part == 1 && s[0] == '.') ||
			    (part == 2 && s[0] == '.' && s[1] == '.'))
				return false;
			part = 0;
			continue;
		}
		/* Printable ASCII, space included (docs/bundle-format.md: why). */
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
		part++;
	}
	return true;
}
