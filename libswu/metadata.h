/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * TUF metadata messages: strict decoding, the soundness rules for root
 * metadata, signature counting, and the builders the release tool uses.
 */
#include <openssl/evp.h>
#include <stdbool.h>

#include "context.h"
#include "tuf.h"
#include "tuf.pb-c.h"
#include "update_bundle.pb-c.h"
#include "wire.h"

typedef Pw__SoftwareUpdate__SignedRootMetadata SwuSignedRoot;
typedef Pw__SoftwareUpdate__RootMetadata SwuRootMetadata;
typedef Pw__SoftwareUpdate__SignedTargetsMetadata SwuSignedTargets;
typedef Pw__SoftwareUpdate__TargetsMetadata SwuTargetsMetadata;
typedef Pw__SoftwareUpdate__TargetFile SwuTargetFile;
typedef Pw__SoftwareUpdate__SignatureRequirement SwuRequirement;
typedef Pw__SoftwareUpdate__Signature SwuSignature;
typedef Pw__SoftwareUpdate__Manifest SwuManifest;
typedef Pw__SoftwareUpdate__SignedTimestampMetadata SwuSignedTimestamp;
typedef Pw__SoftwareUpdate__TimestampMetadata SwuTimestampMetadata;
typedef Pw__SoftwareUpdate__MetadataFile SwuMetadataFile;

/* Which Signed*Metadata a message is (one shape: bytes 1, repeated Signature 2). */
typedef enum SwuSignedKind {
	SWU_SIGNED_TARGETS = 0, /* false and true of the older bool parameter mean these two */
	SWU_SIGNED_ROOT = 1,
	SWU_SIGNED_TIMESTAMP = 2,
} SwuSignedKind;

#define SWU_SPEC_VERSION "0.0.1"

static inline void swu_signed_root_freep(SwuSignedRoot **p)
{
	if (*p)
		pw__software_update__signed_root_metadata__free_unpacked(*p, NULL);
}
static inline void swu_root_metadata_freep(SwuRootMetadata **p)
{
	if (*p)
		pw__software_update__root_metadata__free_unpacked(*p, NULL);
}
static inline void swu_signed_targets_freep(SwuSignedTargets **p)
{
	if (*p)
		pw__software_update__signed_targets_metadata__free_unpacked(*p, NULL);
}
static inline void swu_targets_metadata_freep(SwuTargetsMetadata **p)
{
	if (*p)
		pw__software_update__targets_metadata__free_unpacked(*p, NULL);
}
static inline void swu_manifest_freep(SwuManifest **p)
{
	if (*p)
		pw__software_update__manifest__free_unpacked(*p, NULL);
}
static inline void swu_signed_timestamp_freep(SwuSignedTimestamp **p)
{
	if (*p)
		pw__software_update__signed_timestamp_metadata__free_unpacked(*p, NULL);
}
static inline void swu_timestamp_metadata_freep(SwuTimestampMetadata **p)
{
	if (*p)
		pw__software_update__timestamp_metadata__free_unpacked(*p, NULL);
}

/* Decode a SignedRootMetadata and the RootMetadata it carries. -EBADMSG when malformed. */
int swu_root_decode(SwuContext *ctx, const uint8_t *p, size_t n, SwuSignedRoot **ret_signed,
		    SwuRootMetadata **ret_root);
/* The version of a serialized SignedRootMetadata, 0 when it does not decode. */
uint32_t swu_root_version(SwuContext *ctx, const uint8_t *p, size_t n);
/* Decode a SignedTargetsMetadata and the TargetsMetadata it carries. */
int swu_targets_decode(SwuContext *ctx, const uint8_t *p, size_t n, SwuSignedTargets **ret_signed,
		       SwuTargetsMetadata **ret_targets);

/* Decode a SignedTimestampMetadata and the TimestampMetadata it carries. */
int swu_timestamp_decode(SwuContext *ctx, const uint8_t *p, size_t n,
			 SwuSignedTimestamp **ret_signed, SwuTimestampMetadata **ret_timestamp);

/*
 * A role the root declares: its requirement names keys or a threshold. An absent or empty one
 * (threshold 0, no keys: what Pigweed's tools write for the timestamp and snapshot roles) is
 * no role.
 */
bool swu_requirement_declared(const SwuRequirement *req);

/*
 * Root content soundness (docs/bundle-format.md, rule 2): role "root"; each key an ECDSA P-256 key of 65
 * bytes with key_id derived from it and listed once; root and targets thresholds >= 1 and <= the
 * number of distinct keys listed; every required key registered; no key in both roles. A declared
 * timestamp role is held to the same rules and shares no key with the root or targets roles (its
 * key is online: it may only narrow what they sign); a declared snapshot role is refused (the
 * timestamp names the one targets metadata itself, docs/bundle-format.md).
 * @which names the root in the failure ("trusted root", "incoming root"). -EBADMSG.
 */
int swu_root_check_sound(SwuContext *ctx, const SwuRootMetadata *root, const char *which);

/*
 * The most signatures a metadata message may carry: more are refused before any is verified, so
 * unauthenticated input cannot buy CPU time (a root rotation carries the old and the new root
 * keys' signatures; real deployments have a handful).
 */
#define SWU_SIGNATURES_MAX 32

/*
 * Counts the distinct keys of @req (registered in @keys) that have a valid signature over
 * @msg among @sigs. A key signing twice counts once, a key listed twice in @req counts once;
 * signatures by unknown keys, of the wrong size, or that fail to verify are not counted. At most
 * one signature per key id is verified (the first of 64 bytes), so the work is bounded by the
 * keys @req lists. More than SWU_SIGNATURES_MAX signatures: -EBADMSG, nothing verified.
 */
int swu_signatures_count(SwuContext *ctx, const SwuRootMetadata *keys, const SwuRequirement *req,
			 const uint8_t *msg, size_t n, SwuSignature *const *sigs, size_t n_sigs,
			 unsigned *ret);

/* What the counting sees for one key of a requirement. */
typedef enum SwuKeySignature {
	SWU_KEY_SIGNATURE_VALID,       /* the key's signature verifies */
	SWU_KEY_SIGNATURE_MISSING,     /* no 64-byte signature claims the key */
	SWU_KEY_SIGNATURE_INVALID,     /* the first 64-byte signature claiming it does not verify */
	SWU_KEY_SIGNATURE_UNKNOWN_KEY, /* the key is not registered (or not a usable key) */
	_SWU_KEY_SIGNATURE_MAX,
} SwuKeySignature;

/* "signed", "missing", "signature does not verify", "key not registered". */
const char *swu_key_signature_to_string(SwuKeySignature s);

/*
 * The status of key @key_id (registered in @keys) among @sigs over @msg, judged exactly as
 * swu_signatures_count() judges it: at most one verification. Returns a SwuKeySignature, or
 * -EBADMSG (recorded) for more than SWU_SIGNATURES_MAX signatures.
 */
int swu_signature_by_key(SwuContext *ctx, const SwuRootMetadata *keys,
			 const ProtobufCBinaryData *key_id, const uint8_t *msg, size_t n,
			 SwuSignature *const *sigs, size_t n_sigs);

/* Builders (release side). All write a serialized Signed*Metadata into @out. */
typedef struct SwuRootSpec {
	EVP_PKEY *const *root_keys;
	size_t n_root;
	EVP_PKEY *const *targets_keys;
	size_t n_targets;
	EVP_PKEY *const *timestamp_keys; /* none: the root declares no timestamp role */
	size_t n_timestamp;
	uint32_t version;
	uint32_t root_threshold, targets_threshold, timestamp_threshold;
} SwuRootSpec;
int swu_root_create(const SwuRootSpec *spec, SwuBuf *out);
/*
 * A SignedTimestampMetadata without signatures: @version, @expires (seconds since the epoch, not
 * 0), @signed_at (0: none), @rollout, and one MetadataFile "targets" naming the targets metadata
 * by its version and the length and SHA-256 of its serialized_targets_metadata.
 */
typedef struct SwuTimestampSpec {
	uint32_t version;
	int64_t expires, signed_at;
	uint32_t targets_version;
	uint64_t targets_length;
	const uint8_t *targets_sha256;
	SwuRollout rollout;
} SwuTimestampSpec;
int swu_timestamp_create(const SwuTimestampSpec *spec, SwuBuf *out);
/* The rollout a decoded timestamp carries (@ret->set false when none). */
void swu_timestamp_get_rollout(const SwuTimestampMetadata *t, SwuRollout *ret);
/* @expires, @signed_at 0: none. */
int swu_targets_create(uint32_t version, char *const *compatible, size_t n_compatible,
		       int64_t expires, int64_t signed_at, SwuBuf *out);
int swu_targets_add_file(SwuContext *ctx, const uint8_t *signed_targets, size_t n, const char *name,
			 uint64_t length, const uint8_t sha256[32], SwuBuf *out);
/*
 * The targets metadata @signed_targets with @version and @expires (0: never) in its common
 * metadata, every other field as it was (targets, compatible, unknown fields): a release renewed
 * without rebuilding it. The result carries no signatures (the content changed). -EBADMSG
 * (recorded) when it does not decode or has no common metadata.
 */
int swu_targets_renew(SwuContext *ctx, const uint8_t *signed_targets, size_t n, uint32_t version,
		      int64_t expires, int64_t signed_at, SwuBuf *out);
/*
 * Adds a signature by @key_id to a Signed*Metadata of @kind, replacing an earlier one by the
 * same key.
 */
int swu_signed_add_signature(SwuContext *ctx, SwuSignedKind kind, const uint8_t *p, size_t n,
			     const uint8_t key_id[32], const uint8_t sig[64], SwuBuf *out);
/* The bytes a signature covers (serialized_*_metadata), pointing into the decoded message. */
int swu_signed_payload(SwuContext *ctx, SwuSignedKind kind, const uint8_t *p, size_t n,
		       SwuBuf *out);

/*
 * Checks a target name: 1..255 printable ASCII bytes (0x20-0x7e, space included), no leading '/',
 * no empty, "." or ".." part.
 */
bool swu_target_name_valid(const char *name, size_t len);
