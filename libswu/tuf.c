/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "manifest.h"
#include "reader.h"
#include "text.h"
#include "tuf.h"

struct SwuVerifier {
	SwuContext *ctx;
	unsigned flags;
	char *compatible;

	/* the root in force: the factory/trusted one, or the rotated one after rule 2 */
	SwuSignedRoot *root_signed;
	SwuRootMetadata *root;
	uint8_t *root_bytes; /* its serialized SignedRootMetadata */
	size_t root_size;
	bool rotated;	       /* rule 2 accepted a new root: root_bytes is it */
	SwuRootLink *accepted; /* every root rule 2 accepted, in order: what a device persists */
	size_t n_accepted;
	bool strict_hops; /* SWU_VERIFY_SELF with a chain: hops after the anchor are checked in full */

	SwuManifest *manifest;
	const SwuTargetsMetadata *installed;

	/* the timestamp role (rule 3t), when the trusted root declares it */
	uint32_t timestamp_floor;    /* the highest timestamp version the caller accepted before */
	bool timestamp_keys_rotated; /* rule 2 accepted a root with other timestamp keys */
	bool timestamp_checked;	     /* swu_verifier_check_timestamp() passed under such a root */
	uint32_t timestamp_version;
	int64_t timestamp_expires;
	int64_t timestamp_signed_at;
	SwuRollout rollout;
	uint32_t stamped_version; /* what it says of the targets metadata */
	uint64_t stamped_length;
	uint8_t stamped_sha256[SWU_SHA256_SIZE];

	/* time: never earlier than @time_floor, the newest signed time the caller verified before */
	int64_t time_floor;
	int64_t targets_signed_at;

	/* rule 3 result */
	uint8_t *targets_bytes; /* serialized TargetsMetadata, exactly as signed */
	size_t targets_size;
	uint32_t version;
	int64_t expires;
	SwuTarget *targets;
	size_t n_targets;

	/* rule 4 state */
	SwuTarget *current;
	SwuSha256 hash;
	uint64_t received;
	SwuBuf user_manifest;
	bool finished;
};

static void free_targets(SwuVerifier *v)
{
	for (size_t i = 0; i < v->n_targets; i++)
		free(v->targets[i].name);
	free(v->targets);
	v->targets = NULL;
	v->n_targets = 0;
}

SwuVerifier *swu_verifier_free(SwuVerifier *v)
{
	if (!v)
		return NULL;
	swu_signed_root_freep(&v->root_signed);
	swu_root_metadata_freep(&v->root);
	swu_manifest_freep(&v->manifest);
	swu_sha256_done(&v->hash);
	swu_buf_done(&v->user_manifest);
	free_targets(v);
	free(v->targets_bytes);
	free(v->root_bytes);
	for (size_t i = 0; i < v->n_accepted; i++)
		free(v->accepted[i].data);
	free(v->accepted);
	free(v->compatible);
	swu_context_unref(v->ctx);
	free(v);
	return NULL;
}

/* Whether two requirements name the same keys (both undeclared: the same). */
static bool same_keys(const SwuRequirement *a, const SwuRequirement *b)
{
	size_t na = a ? a->n_key_ids : 0, nb = b ? b->n_key_ids : 0;

	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		bool found = false;

		for (size_t j = 0; j < nb && !found; j++)
			found = a->key_ids[i].len == b->key_ids[j].len &&
				memcmp(a->key_ids[i].data, b->key_ids[j].data, a->key_ids[i].len) ==
					0;
		if (!found)
			return false;
	}
	return true;
}

static int set_root(SwuVerifier *v, SwuSignedRoot *s, SwuRootMetadata *root, const uint8_t *p,
		    size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);

	if (!copy) {
		swu_signed_root_freep(&s);
		swu_root_metadata_freep(&root);
		return -ENOMEM;
	}
	memcpy(copy, p, n);
	/* New timestamp keys: the old ones' versions say nothing of theirs (TUF 5.3.11), and a
	 * compromised old key's highest version must not hold the new key back. */
	if (v->root && !same_keys(v->root->timestamp_signature_requirement,
				  root->timestamp_signature_requirement))
		v->timestamp_keys_rotated = true;
	swu_signed_root_freep(&v->root_signed);
	swu_root_metadata_freep(&v->root);
	free(v->root_bytes);
	v->root_signed = s;
	v->root = root;
	v->root_bytes = copy;
	v->root_size = n;
	return 0;
}

int swu_verifier_new(SwuContext *ctx, const uint8_t *root, size_t root_size, unsigned flags,
		     SwuVerifier **ret)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(ret, -EINVAL);

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->ctx = swu_context_ref(ctx);
	v->flags = flags;
	if (!root) {
		if (!(flags & SWU_VERIFY_SELF))
			return -EINVAL;
	} else {
		SwuSignedRoot *s = NULL;
		SwuRootMetadata *rm = NULL;

		r = swu_root_decode(ctx, root, root_size, &s, &rm);
		if (r < 0)
			return r;
		r = set_root(v, s, rm, root, root_size);
		if (r < 0)
			return r;
		r = swu_root_check_sound(ctx, rm, "trusted root");
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(v);
	return 0;
}

int swu_verifier_set_manifest(SwuVerifier *v, const uint8_t *manifest, size_t size)
{
	SwuManifest *m = NULL;
	int r;

	assert_return(v, -EINVAL);
	assert_return(manifest || size == 0, -EINVAL);

	r = swu_manifest_decode(v->ctx, manifest, size, &m);
	if (r < 0)
		return r;
	swu_manifest_freep(&v->manifest);
	v->manifest = m;
	v->installed = swu_manifest_get_targets(m);
	return 0;
}

uint32_t swu_verifier_get_installed_version(const SwuVerifier *v)
{
	assert_return(v, 0);

	return v->installed && v->installed->common_metadata
		       ? v->installed->common_metadata->version
		       : 0;
}

int swu_verifier_set_compatible(SwuVerifier *v, const char *compatible)
{
	char *c = NULL;

	assert_return(v, -EINVAL);

	if (compatible) {
		c = strdup(compatible);
		if (!c)
			return -ENOMEM;
	}
	free(v->compatible);
	v->compatible = c;
	return 0;
}

static uint32_t root_version(const SwuRootMetadata *r)
{
	return r->common_metadata ? r->common_metadata->version : 0;
}

static int check_threshold(SwuVerifier *v, const SwuRootMetadata *keys, const SwuRequirement *req,
			   const ProtobufCBinaryData *msg, SwuSignature *const *sigs, size_t n_sigs,
			   const char *what, const char *by)
{
	unsigned count = 0;
	int r;

	r = swu_signatures_count(v->ctx, keys, req, msg->data, msg->len, sigs, n_sigs, &count);
	if (r < 0)
		return r;
	if (count < req->threshold)
		return swu_fail(v->ctx, -EKEYREJECTED, what, "threshold",
				"%s metadata has %u valid signatures by %s keys, %u required", what,
				count, by, req->threshold);
	return 0;
}

/* The root just set by rule 2 joins the list a device persists. */
static int keep_accepted(SwuVerifier *v)
{
	SwuRootLink *a = realloc(v->accepted, (v->n_accepted + 1) * sizeof(*a));
	uint8_t *copy;

	if (!a)
		return -ENOMEM;
	v->accepted = a;
	copy = malloc(v->root_size ? v->root_size : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, v->root_bytes, v->root_size);
	a[v->n_accepted++] = (SwuRootLink){ copy, v->root_size };
	v->rotated = true;
	return 0;
}

bool swu_verifier_is_trusted_root(const SwuVerifier *v, const uint8_t *root, size_t size)
{
	assert_return(v, false);
	assert_return(root || size == 0, false);

	return v->root_bytes && size == v->root_size && memcmp(root, v->root_bytes, size) == 0;
}

int swu_verifier_check_root(SwuVerifier *v, const uint8_t *root, size_t size)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	int r;

	assert_return(v, -EINVAL);
	assert_return(root || size == 0, -EINVAL);

	/* The trusted root itself again (bundles carry it): no rotation, nothing happens. */
	if (swu_verifier_is_trusted_root(v, root, size))
		return 0;
	/* Bounded work before authentication: the cap is checked before any signature. */
	if (v->n_accepted >= SWU_ROOT_HOPS_MAX)
		return swu_fail(v->ctx, -EBADMSG, "root", "chain",
				"root metadata: more than %u rotations in one install",
				SWU_ROOT_HOPS_MAX);
	r = swu_root_decode(v->ctx, root, size, &s, &rm);
	if (r < 0)
		return r;

	if (v->root && (!(v->flags & SWU_VERIFY_SELF) || v->strict_hops)) {
		/* Signed by the root we trust now ... */
		r = check_threshold(v, v->root, v->root->root_signature_requirement,
				    &s->serialized_root_metadata, s->signatures, s->n_signatures,
				    "root", "trusted root");
		if (r < 0)
			return r;
	}
	/* ... sound ... */
	r = swu_root_check_sound(v->ctx, rm, "incoming root");
	if (r < 0)
		return r;
	/* ... and by its own keys, so the new key set proves possession. */
	r = check_threshold(v, rm, rm->root_signature_requirement, &s->serialized_root_metadata,
			    s->signatures, s->n_signatures, "root", "its own root");
	if (r < 0)
		return r;
	/*
	 * Strictly newer. A different root at the same version is refused: otherwise any old
	 * bundle carrying the root it replaced would undo a key revocation.
	 */
	if (v->root && root_version(rm) == root_version(v->root))
		return swu_fail(v->ctx, -ESTALE, "root", "rollback",
				"root metadata version %u differs from the trusted root of the "
				"same version",
				root_version(rm));
	if (v->root && root_version(rm) < root_version(v->root))
		return swu_fail(v->ctx, -ESTALE, "root", "rollback",
				"root metadata version %u is older than trusted version %u",
				root_version(rm), root_version(v->root));

	r = set_root(v, TAKE_PTR(s), TAKE_PTR(rm), root, size);
	if (r < 0)
		return r;
	if (v->flags & SWU_VERIFY_SELF)
		return 0;
	return keep_accepted(v);
}

uint32_t swu_verifier_get_root_version(const SwuVerifier *v)
{
	assert_return(v, 0);

	return v->root ? root_version(v->root) : 0;
}

/* Decodes link @i of a chain for its version: -EBADMSG, recorded, when it is no root. */
static int link_version(SwuVerifier *v, const SwuRootLink *l, size_t i, uint32_t *ret)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	int r;

	if (l->size > SWU_ROOT_LINK_MAX)
		return swu_fail(v->ctx, -EBADMSG, "root", "chain",
				"root chain: link %zu is %zu bytes, at most %u are accepted", i + 1,
				l->size, SWU_ROOT_LINK_MAX);
	r = swu_root_decode(v->ctx, l->data, l->size, &s, &rm);
	if (r < 0)
		return swu_fail_wrap(v->ctx, r, "root", "chain", "root chain: link %zu", i + 1);
	*ret = root_version(rm);
	return 0;
}

/*
 * What a chain asks for, judged before any signature: decodable links in strictly ascending
 * version order, one of the trusted version identical to the trusted root, and the number of
 * rotations within the cap (those of this verifier before, the newer links, @root when newer).
 */
static int chain_plan(SwuVerifier *v, const SwuRootLink *links, size_t n, const uint8_t *root,
		      size_t size)
{
	uint32_t trusted = swu_verifier_get_root_version(v), prev = 0, version = 0;
	size_t hops = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		r = link_version(v, &links[i], i, &version);
		if (r < 0)
			return r;
		if (i > 0 && version <= prev)
			return swu_fail(v->ctx, -EBADMSG, "root", "chain",
					"root chain: link %zu has version %u after version %u: "
					"links must be in strictly ascending version order",
					i + 1, version, prev);
		if (v->root && version == trusted &&
		    !swu_verifier_is_trusted_root(v, links[i].data, links[i].size))
			return swu_fail(v->ctx, -ESTALE, "root", "rollback",
					"root chain: root metadata version %u differs from the "
					"trusted root of the same version",
					version);
		hops += !v->root || version > trusted;
		prev = version;
	}
	if (root && swu_root_version(v->ctx, root, size) > MAX(prev, trusted))
		hops++;
	if (!(v->flags & SWU_VERIFY_SELF) && v->n_accepted + hops > SWU_ROOT_HOPS_MAX)
		return swu_fail(v->ctx, -EBADMSG, "root", "chain",
				"root chain: %zu rotations from trusted version %u, at most %u are "
				"followed in one install",
				v->n_accepted + hops, trusted, SWU_ROOT_HOPS_MAX);
	return 0;
}

/* One hop of a chain: rule 2 from the root trusted now; a failure names the hop. */
static int chain_hop(SwuVerifier *v, const uint8_t *root, size_t size)
{
	uint32_t from = swu_verifier_get_root_version(v), to = swu_root_version(v->ctx, root, size);
	bool anchor = !v->root;
	int r;

	r = swu_verifier_check_root(v, root, size);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && anchor)
		return swu_fail_wrap(v->ctx, r, "root", "chain", "root chain: first link");
	if (r < 0)
		return swu_fail_wrap(v->ctx, r, "root", "chain",
				     "root chain: hop from version %u to %u", from, to);
	/* Release side: the first link is the anchor, every later hop is checked in full. */
	v->strict_hops = v->strict_hops || anchor;
	return 0;
}

int swu_verifier_check_root_chain(SwuVerifier *v, const SwuRootLink *links, size_t n,
				  const uint8_t *root, size_t size)
{
	int r;

	assert_return(v, -EINVAL);
	assert_return(links || n == 0, -EINVAL);
	assert_return(root || size == 0, -EINVAL);

	if (n == 0)
		return root ? swu_verifier_check_root(v, root, size) : 0;
	r = chain_plan(v, links, n, root, size);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		/* Older than the trusted root (or it, byte for byte: chain_plan checked): skipped. */
		if (v->root && swu_root_version(v->ctx, links[i].data, links[i].size) <=
				       swu_verifier_get_root_version(v))
			continue;
		r = chain_hop(v, links[i].data, links[i].size);
		if (r < 0)
			return r;
	}
	return root ? chain_hop(v, root, size) : 0;
}

size_t swu_verifier_get_new_roots(const SwuVerifier *v, const SwuRootLink **ret)
{
	assert_return(v, 0);
	assert_return(ret, 0);

	*ret = v->accepted;
	return v->n_accepted;
}

const uint8_t *swu_verifier_get_new_root(const SwuVerifier *v, size_t *ret_size)
{
	assert_return(v, NULL);

	if (ret_size)
		*ret_size = v->rotated ? v->root_size : 0;
	return v->rotated ? v->root_bytes : NULL;
}

static int add_targets(SwuVerifier *v, const SwuTargetsMetadata *t)
{
	v->targets = calloc(t->n_target_files + 1, sizeof(SwuTarget));
	if (!v->targets)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_target_files; i++) {
		const SwuTargetFile *f = t->target_files[i];
		const char *name = f->file_name ? f->file_name : "";
		const uint8_t *h;

		if (!swu_target_name_valid(name, strlen(name)))
			return swu_fail(v->ctx, -EBADMSG, "targets", "name",
					"targets metadata: invalid target name '%.64s'", name);
		for (size_t j = 0; j < v->n_targets; j++)
			if (streq(v->targets[j].name, name))
				return swu_fail(v->ctx, -EBADMSG, "targets", "ambiguity",
						"targets metadata: target '%s' listed twice", name);
		h = swu_target_file_sha256(f);
		if (!h)
			return swu_fail(v->ctx, -EBADMSG, "targets", "hash",
					"targets metadata: target '%s' has no single 32-byte "
					"SHA-256 hash",
					name);
		v->targets[v->n_targets].name = strdup(name);
		if (!v->targets[v->n_targets].name)
			return -ENOMEM;
		v->targets[v->n_targets].length = f->length;
		memcpy(v->targets[v->n_targets].sha256, h, SWU_SHA256_SIZE);
		v->n_targets++;
	}
	return 0;
}

static int check_targets_signatures(SwuVerifier *v, const SwuSignedTargets *s)
{
	/*
	 * Self-verification of a bundle without root: nothing to check against (the device's root
	 * decides). With one, its threshold is required exactly as on a device that trusts it.
	 */
	if (!v->root)
		return 0;
	return check_threshold(v, v->root, v->root->targets_signature_requirement,
			       &s->serialized_targets_metadata, s->signatures, s->n_signatures,
			       "targets", "trusted targets");
}

/* Field tags and lengths a serialized Manifest adds to its two byte strings (generous). */
#define MANIFEST_OVERHEAD 64

/*
 * The manifest a device keeps holds the targets metadata and the user manifest and is read back
 * under the metadata cap: the two together must fit, or every later install would fail.
 */
static int check_manifest_fits(SwuVerifier *v, size_t targets_size)
{
	const SwuTarget *um = swu_verifier_find_target(v, SWU_USER_MANIFEST_NAME);
	size_t max = swu_context_get_metadata_max(v->ctx);

	if (um && (um->length > max || targets_size + MANIFEST_OVERHEAD > max - um->length))
		return swu_fail(v->ctx, -EFBIG, "targets", "size",
				"user_manifest is %llu bytes: with the %zu bytes of targets "
				"metadata, the installed manifest would exceed %zu bytes",
				(unsigned long long)um->length, targets_size, max);
	return 0;
}

/* The time expiry is checked against: the clock, or the newest signed time verified before
 * when the clock reads earlier (a board without RTC battery starts in 1970). */
static int64_t verifier_now(const SwuVerifier *v)
{
	return MAX((int64_t)swu_context_now(v->ctx), v->time_floor);
}

int swu_verifier_set_time_floor(SwuVerifier *v, int64_t signed_time)
{
	assert_return(v, -EINVAL);

	v->time_floor = signed_time;
	return 0;
}

/* Metadata expired at verifier_now(): the failure, naming @role. */
static int fail_expired(SwuVerifier *v, const char *role, int64_t expires, const char *why)
{
	char at[SWU_TIME_UTC_MAX], now[SWU_TIME_UTC_MAX];

	return swu_fail(v->ctx, -EKEYEXPIRED, role, "expiry",
			"%s metadata expired at %s (now %s)%s", role,
			swu_time_utc(expires, at, sizeof(at)),
			swu_time_utc(verifier_now(v), now, sizeof(now)), why);
}

/* swupdated's signed_at of @c, in *ret (0: none): never after the metadata's own expiry. */
static int signed_at(SwuVerifier *v, const char *role, const Pw__SoftwareUpdate__CommonMetadata *c,
		     int64_t *ret)
{
	char at[SWU_TIME_UTC_MAX], exp[SWU_TIME_UTC_MAX];

	*ret = c->signed_at ? c->signed_at->seconds : 0;
	if (*ret < 0 || (*ret > 0 && c->expires && *ret >= c->expires->seconds))
		return swu_fail(v->ctx, -EBADMSG, role, "signed_at",
				"%s metadata says it was signed at %s, not before it expires at %s",
				role, swu_time_utc(*ret, at, sizeof(at)),
				swu_time_utc(c->expires ? c->expires->seconds : 0, exp,
					     sizeof(exp)));
	return 0;
}

static int check_targets_content(SwuVerifier *v, const SwuTargetsMetadata *t, size_t size)
{
	const Pw__SoftwareUpdate__CommonMetadata *c = t->common_metadata;
	uint32_t version = c ? c->version : 0;
	int r;

	if (!c || !c->role || !streq(c->role, "targets"))
		return swu_fail(v->ctx, -EBADMSG, "targets", "role",
				"targets metadata: role is '%s', expected 'targets'",
				c && c->role ? c->role : "");
	r = add_targets(v, t);
	if (r < 0)
		return r;
	r = check_manifest_fits(v, size);
	if (r < 0)
		return r;
	r = signed_at(v, "targets", c, &v->targets_signed_at);
	if (r < 0)
		return r;
	if (c->expires && c->expires->seconds <= verifier_now(v))
		return fail_expired(v, "targets", c->expires->seconds, "");
	if (!(v->flags & SWU_VERIFY_SELF) && v->installed && v->installed->common_metadata &&
	    version < v->installed->common_metadata->version)
		return swu_fail(v->ctx, -ESTALE, "targets", "rollback",
				"targets metadata version %u is older than installed version %u",
				version, v->installed->common_metadata->version);
	if (v->compatible && t->n_compatible > 0) {
		bool found = false;

		for (size_t i = 0; i < t->n_compatible && !found; i++)
			found = streq(t->compatible[i], v->compatible);
		if (!found)
			return swu_fail(v->ctx, -EMEDIUMTYPE, "targets", "compatible",
					"bundle is for '%s'%s, not for this device '%s'",
					t->compatible[0], t->n_compatible > 1 ? " and others" : "",
					v->compatible);
	}
	v->version = version;
	v->expires = c->expires ? c->expires->seconds : 0;
	return 0;
}

int swu_verifier_set_timestamp_floor(SwuVerifier *v, uint32_t version)
{
	assert_return(v, -EINVAL);

	v->timestamp_floor = version;
	return 0;
}

static bool timestamp_required(const SwuVerifier *v)
{
	return v->root && swu_requirement_declared(v->root->timestamp_signature_requirement);
}

/* The one MetadataFile "targets" of a timestamp: its version, length and SHA-256. */
static int stamped_targets(SwuVerifier *v, const SwuTimestampMetadata *t)
{
	const SwuMetadataFile *f;

	if (t->n_snapshot_metadata != 1 || !t->snapshot_metadata[0]->file_name ||
	    !streq(t->snapshot_metadata[0]->file_name, "targets"))
		return swu_fail(v->ctx, -EBADMSG, "timestamp", "content",
				"timestamp metadata must name exactly one metadata file, "
				"'targets'");
	f = t->snapshot_metadata[0];
	if (f->n_hashes != 1 ||
	    f->hashes[0]->function != PW__SOFTWARE_UPDATE__HASH_FUNCTION__SHA256 ||
	    f->hashes[0]->hash.len != SWU_SHA256_SIZE)
		return swu_fail(v->ctx, -EBADMSG, "timestamp", "content",
				"timestamp metadata: 'targets' has no single 32-byte SHA-256 hash");
	v->stamped_version = f->version;
	v->stamped_length = f->length;
	memcpy(v->stamped_sha256, f->hashes[0]->hash.data, SWU_SHA256_SIZE);
	return 0;
}

int swu_verifier_check_timestamp(SwuVerifier *v, const uint8_t *timestamp, size_t size)
{
	_cleanup_(swu_signed_timestamp_freep) SwuSignedTimestamp *s = NULL;
	_cleanup_(swu_timestamp_metadata_freep) SwuTimestampMetadata *t = NULL;
	const SwuRequirement *req;
	const Pw__SoftwareUpdate__CommonMetadata *c;
	unsigned valid = 0;
	int r;

	assert_return(v, -EINVAL);

	if (v->timestamp_checked || v->targets_bytes)
		return -EALREADY;
	/* A root without the role: Pigweed's bundles carry (empty) timestamps nobody reads. */
	if (!timestamp_required(v))
		return 0;
	req = v->root->timestamp_signature_requirement;
	/* the release side publishes first and the online signer stamps it after (rule 6) */
	if (!timestamp && (v->flags & SWU_VERIFY_SELF))
		return 0;
	if (!timestamp)
		return swu_fail(v->ctx, -EBADMSG, "timestamp", "presence",
				"bundle has no timestamp metadata, which the trusted root requires "
				"(threshold %u)",
				req->threshold);
	r = swu_timestamp_decode(v->ctx, timestamp, size, &s, &t);
	if (r < 0)
		return r;
	r = swu_signatures_count(v->ctx, v->root, req, s->serialized_timestamp_metadata.data,
				 s->serialized_timestamp_metadata.len, s->signatures,
				 s->n_signatures, &valid);
	if (r < 0)
		return r;
	if (valid < req->threshold)
		return swu_fail(v->ctx, -EKEYREJECTED, "timestamp", "threshold",
				"timestamp metadata has %u valid signatures by trusted timestamp "
				"keys, %u required",
				valid, req->threshold);
	c = t->common_metadata;
	if (!c || !c->role || !streq(c->role, "timestamp"))
		return swu_fail(v->ctx, -EBADMSG, "timestamp", "role",
				"timestamp metadata: role is '%s', expected 'timestamp'",
				c && c->role ? c->role : "");
	if (!c->expires)
		return swu_fail(v->ctx, -EBADMSG, "timestamp", "expiry",
				"timestamp metadata has no expiry: it would bound no freeze");
	r = signed_at(v, "timestamp", c, &v->timestamp_signed_at);
	if (r < 0)
		return r;
	if (c->expires->seconds <= verifier_now(v))
		return fail_expired(v, "timestamp", c->expires->seconds,
				    ": the server's metadata was not renewed");
	if (!v->timestamp_keys_rotated && c->version < v->timestamp_floor)
		return swu_fail(v->ctx, -ESTALE, "timestamp", "rollback",
				"timestamp metadata version %u is older than version %u accepted "
				"before",
				c->version, v->timestamp_floor);
	r = stamped_targets(v, t);
	if (r < 0)
		return r;
	v->timestamp_version = c->version;
	v->timestamp_expires = c->expires->seconds;
	swu_timestamp_get_rollout(t, &v->rollout);
	v->timestamp_checked = true;
	return 0;
}

int swu_verifier_get_rollout(const SwuVerifier *v, SwuRollout *ret)
{
	assert_return(v, -EINVAL);
	assert_return(ret, -EINVAL);

	*ret = v->timestamp_checked ? v->rollout : (SwuRollout){};
	return 0;
}

uint32_t swu_rollout_draw(const char *machine_id, uint32_t targets_version)
{
	static const char label[] = "swupdated rollout draw";
	uint8_t buf[sizeof(label) + 256 + 4], h[SWU_SHA256_SIZE];
	size_t n = strnlen(machine_id ?: "", 256);
	uint64_t x = 0;

	memcpy(buf, label, sizeof(label));
	memcpy(buf + sizeof(label), machine_id ?: "", n);
	for (size_t i = 0; i < 4; i++) /* big-endian */
		buf[sizeof(label) + n + i] = (uint8_t)(targets_version >> (24 - 8 * i));
	if (swu_sha256(buf, sizeof(label) + n + 4, h) < 0)
		return 0;
	for (size_t i = 0; i < 8; i++)
		x = x << 8 | h[i];
	return (uint32_t)(x % 10000);
}

SwuRolloutVerdict swu_rollout_decide(const SwuRollout *r, uint32_t draw, int64_t now)
{
	if (!r || !r->set)
		return SWU_ROLLOUT_IN;
	if (r->halted)
		return SWU_ROLLOUT_HALTED;
	if (r->start != 0 && now < r->start)
		return SWU_ROLLOUT_NOT_STARTED;
	return draw < MIN(r->percent, 100u) * 100 ? SWU_ROLLOUT_IN : SWU_ROLLOUT_NOT_YET;
}

int64_t swu_verifier_get_signed_time(const SwuVerifier *v)
{
	assert_return(v, 0);

	if (!v->targets_bytes)
		return 0;
	return MAX(v->targets_signed_at, v->timestamp_checked ? v->timestamp_signed_at : 0);
}

bool swu_verifier_timestamp_keys_rotated(const SwuVerifier *v)
{
	assert_return(v, false);
	return v->timestamp_keys_rotated;
}

uint32_t swu_verifier_get_timestamp_version(const SwuVerifier *v)
{
	assert_return(v, 0);

	return v->timestamp_checked ? v->timestamp_version : 0;
}

int64_t swu_verifier_get_timestamp_expires(const SwuVerifier *v)
{
	assert_return(v, 0);

	return v->timestamp_checked ? v->timestamp_expires : 0;
}

/* Rule 3t's binding: the targets metadata is the one the timestamp names. */
static int check_stamped(SwuVerifier *v, const SwuSignedTargets *s, uint32_t version)
{
	uint8_t sha[SWU_SHA256_SIZE];
	int r;

	if (!timestamp_required(v))
		return 0;
	if (!v->timestamp_checked) {
		/* the release side may publish first and renew the timestamp online after */
		if (v->flags & SWU_VERIFY_SELF)
			return 0;
		return swu_fail(v->ctx, -EBADMSG, "timestamp", "presence",
				"bundle has no timestamp metadata, which the trusted root requires "
				"(threshold %u)",
				v->root->timestamp_signature_requirement->threshold);
	}
	r = swu_sha256(s->serialized_targets_metadata.data, s->serialized_targets_metadata.len,
		       sha);
	if (r < 0)
		return r;
	if (version != v->stamped_version ||
	    s->serialized_targets_metadata.len != v->stamped_length ||
	    memcmp(sha, v->stamped_sha256, sizeof(sha)) != 0)
		return swu_fail(v->ctx, -EBADMSG, "timestamp", "binding",
				"targets metadata version %u (%zu bytes) is not the one the "
				"timestamp "
				"names (version %u, %" PRIu64 " bytes%s)",
				version, s->serialized_targets_metadata.len, v->stamped_version,
				v->stamped_length,
				version == v->stamped_version &&
						s->serialized_targets_metadata.len ==
							v->stamped_length
					? ", another SHA-256"
					: "");
	return 0;
}

int swu_verifier_check_targets(SwuVerifier *v, const uint8_t *targets, size_t size)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	int r;

	assert_return(v, -EINVAL);

	if (v->targets_bytes)
		return -EALREADY;
	if (!targets)
		return swu_fail(v->ctx, -EBADMSG, "targets", "presence",
				"bundle has no targets metadata named 'targets'");
	r = swu_targets_decode(v->ctx, targets, size, &s, &t);
	if (r < 0)
		return r;
	r = check_targets_signatures(v, s);
	if (r < 0)
		return r;
	r = check_targets_content(v, t, s->serialized_targets_metadata.len);
	if (r >= 0)
		r = check_stamped(v, s, v->version);
	if (r < 0) {
		free_targets(v);
		return r;
	}
	v->targets_size = s->serialized_targets_metadata.len;
	v->targets_bytes = malloc(v->targets_size ? v->targets_size : 1);
	if (!v->targets_bytes) {
		free_targets(v);
		return -ENOMEM;
	}
	memcpy(v->targets_bytes, s->serialized_targets_metadata.data, v->targets_size);
	return 0;
}

uint32_t swu_verifier_get_version(const SwuVerifier *v)
{
	assert_return(v, 0);

	return v->version;
}

int64_t swu_verifier_get_expires(const SwuVerifier *v)
{
	assert_return(v, 0);

	return v->expires;
}

int swu_verifier_get_targets_sha256(const SwuVerifier *v, uint8_t out[SWU_SHA256_SIZE])
{
	assert_return(v, -EINVAL);
	assert_return(out, -EINVAL);

	if (!v->targets_bytes)
		return -EINVAL;
	return swu_sha256(v->targets_bytes, v->targets_size, out);
}

size_t swu_verifier_get_targets(const SwuVerifier *v, const SwuTarget **ret)
{
	assert_return(v, 0);
	assert_return(ret, 0);

	*ret = v->targets;
	return v->n_targets;
}

const SwuTarget *swu_verifier_find_target(const SwuVerifier *v, const char *name)
{
	assert_return(v, NULL);
	assert_return(name, NULL);

	for (size_t i = 0; i < v->n_targets; i++)
		if (streq(v->targets[i].name, name))
			return &v->targets[i];
	return NULL;
}

int swu_verifier_payload_begin(SwuVerifier *v, const char *name, uint64_t size)
{
	SwuTarget *t;
	int r;

	assert_return(v, -EINVAL);
	assert_return(name, -EINVAL);

	if (!v->targets_bytes || v->current)
		return -EINVAL;
	t = (SwuTarget *)swu_verifier_find_target(v, name);
	if (!t)
		return 1; /* not listed in signed metadata: never written anywhere */
	if (t->present)
		return swu_fail(v->ctx, -EBADMSG, "payload", "ambiguity",
				"payload '%s' given twice", name);
	if (size != t->length)
		return swu_fail(v->ctx, -EBADMSG, "payload", "length",
				"payload '%s' is %llu bytes, signed length is %llu", name,
				(unsigned long long)size, (unsigned long long)t->length);
	r = swu_sha256_init(&v->hash);
	if (r < 0)
		return r;
	v->current = t;
	v->received = 0;
	if (streq(name, SWU_USER_MANIFEST_NAME))
		v->user_manifest.size = 0;
	return 0;
}

int swu_verifier_payload_update(SwuVerifier *v, const void *p, size_t n)
{
	int r;

	assert_return(v, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	if (!v->current)
		return -EINVAL;
	if (n > v->current->length - v->received)
		return swu_fail(v->ctx, -EBADMSG, "payload", "length",
				"payload '%s' is longer than its signed length %llu",
				v->current->name, (unsigned long long)v->current->length);
	r = swu_sha256_update(&v->hash, p, n);
	if (r < 0)
		return r;
	v->received += n;
	if (streq(v->current->name, SWU_USER_MANIFEST_NAME) &&
	    v->current->length <= swu_context_get_metadata_max(v->ctx))
		return swu_buf_append(&v->user_manifest, p, n);
	return 0;
}

int swu_verifier_payload_end(SwuVerifier *v)
{
	uint8_t digest[SWU_SHA256_SIZE];
	SwuTarget *t;
	int r;

	assert_return(v, -EINVAL);

	t = v->current;
	if (!t)
		return -EINVAL;
	v->current = NULL;
	r = swu_sha256_final(&v->hash, digest);
	swu_sha256_done(&v->hash);
	if (r < 0)
		return r;
	if (v->received != t->length)
		return swu_fail(v->ctx, -EBADMSG, "payload", "length",
				"payload '%s' ended after %llu of %llu bytes", t->name,
				(unsigned long long)v->received, (unsigned long long)t->length);
	if (memcmp(digest, t->sha256, SWU_SHA256_SIZE) != 0) {
		char want[2 * SWU_SHA256_SIZE + 1], got[2 * SWU_SHA256_SIZE + 1];

		swu_hex(t->sha256, SWU_SHA256_SIZE, want);
		swu_hex(digest, SWU_SHA256_SIZE, got);
		return swu_fail(v->ctx, -EBADMSG, "payload", "hash",
				"payload '%s' has SHA-256 %s, signed hash is %s", t->name, got,
				want);
	}
	t->present = true;
	return 0;
}

void swu_verifier_payload_abandon(SwuVerifier *v)
{
	assert_return_void(v);

	if (!v->current)
		return;
	v->current = NULL;
	swu_sha256_done(&v->hash);
}

bool swu_verifier_target_installed(const SwuVerifier *v, const char *name)
{
	const SwuTarget *t;
	const SwuTargetFile *f;
	const uint8_t *h;

	assert_return(v, false);
	assert_return(name, false);

	t = swu_verifier_find_target(v, name);
	f = t ? swu_targets_find(v->installed, name) : NULL;
	h = f ? swu_target_file_sha256(f) : NULL;
	return h && f->length == t->length && memcmp(h, t->sha256, SWU_SHA256_SIZE) == 0;
}

int swu_verifier_installed_length(const SwuVerifier *v, const char *name, uint64_t *ret)
{
	const SwuTargetFile *f;

	assert_return(v, -EINVAL);
	assert_return(name, -EINVAL);
	assert_return(ret, -EINVAL);

	f = swu_targets_find(v->installed, name);
	if (!f)
		return -ENOENT;
	*ret = f->length;
	return 0;
}

int swu_verifier_installed_sha256(const SwuVerifier *v, const char *name,
				  uint8_t ret[SWU_SHA256_SIZE])
{
	const SwuTargetFile *f;
	const uint8_t *h;

	assert_return(v, -EINVAL);
	assert_return(name, -EINVAL);
	assert_return(ret, -EINVAL);

	f = swu_targets_find(v->installed, name);
	h = f ? swu_target_file_sha256(f) : NULL;
	if (!h)
		return -ENOENT;
	memcpy(ret, h, SWU_SHA256_SIZE);
	return 0;
}

int swu_verifier_finish(SwuVerifier *v)
{
	assert_return(v, -EINVAL);

	if (!v->targets_bytes || v->current)
		return -EINVAL;
	for (size_t i = 0; i < v->n_targets; i++) {
		SwuTarget *t = &v->targets[i];

		if (t->present)
			continue;
		/* Personalized out: accepted only when identical to the installed target. */
		if (!swu_verifier_target_installed(v, t->name))
			return swu_fail(v->ctx, -EBADMSG, "payload", "missing",
					"payload '%s' is missing and is not installed with the "
					"same length and hash",
					t->name);
		t->personalized = true;
	}
	v->finished = true;
	return 0;
}

int swu_verifier_build_manifest(SwuVerifier *v, uint8_t **ret, size_t *ret_size)
{
	const SwuTarget *um;
	const uint8_t *user = NULL;
	size_t user_size = 0;
	SwuBuf out = {};
	int r;

	assert_return(v, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_size, -EINVAL);

	um = swu_verifier_find_target(v, SWU_USER_MANIFEST_NAME);
	if (!v->finished)
		return -EINVAL;
	if (um && um->present) {
		user = v->user_manifest.data;
		user_size = v->user_manifest.size;
	} else if (um && v->manifest) {
		user = v->manifest->user_manifest.data;
		user_size = v->manifest->user_manifest.len;
	}
	r = swu_manifest_build(v->targets_bytes, v->targets_size, user, user_size, &out);
	if (r < 0) {
		swu_buf_done(&out);
		return r;
	}
	*ret = out.data ? out.data : calloc(1, 1);
	*ret_size = out.size;
	return *ret ? 0 : -ENOMEM;
}
