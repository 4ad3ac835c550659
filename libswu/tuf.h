/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The device-side verifier: docs/bundle-format.md, "Verification rules", in order, split in
 * the phases a streaming installer needs.
 *
 *   swu_verifier_new()            trusted root (rule 1 anchor), flags
 *   swu_verifier_set_manifest()   installed manifest (anti-rollback, personalized-out)
 *   swu_verifier_set_compatible() this device's compatible string
 *   swu_verifier_check_root()     rule 2, when the bundle carries root metadata
 *   swu_verifier_check_root_chain() rule 2 over intermediate roots, hop by hop, then the root
 *   swu_verifier_set_timestamp_floor() the last timestamp version accepted (anti-rollback)
 *   swu_verifier_set_time_floor() the newest signed time verified before (a clock set back)
 *   swu_verifier_check_timestamp() rule 3t, when the trusted root declares a timestamp role
 *   swu_verifier_check_targets()  rule 3
 *   swu_verifier_payload_*()      rule 4, as each payload's bytes stream past
 *   swu_verifier_finish()         rule 4: every listed target present or personalized out
 *
 * Errors: -EBADMSG malformed/unsound metadata or payload, -EKEYREJECTED too few
 * valid signatures, -EKEYEXPIRED expired targets metadata, -ESTALE rollback,
 * -EMEDIUMTYPE bundle not for this hardware. Each failure also fills the
 * context's failure record.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "crypto.h"

typedef enum SwuVerifyFlags {
	/* Rule 6 (release side): the bundle's own root is the anchor, no anti-rollback. */
	SWU_VERIFY_SELF = 1 << 0,
} SwuVerifyFlags;

/*
 * The rollout an online signer puts in its timestamp (swupdated's extension): devices whose draw
 * (swu_rollout_draw()) is below @percent * 100 install by themselves, none before @start (0: no
 * start), none at all when @halted. @set false: no rollout, every device at once.
 */
typedef struct SwuRollout {
	bool set;
	uint32_t percent; /* 0-100 */
	int64_t start;
	bool halted;
} SwuRollout;

/* What a rollout says to one device, at one time. */
typedef enum SwuRolloutVerdict {
	SWU_ROLLOUT_IN,		 /* this device installs by itself */
	SWU_ROLLOUT_NOT_YET,	 /* its draw is above the percentage */
	SWU_ROLLOUT_NOT_STARTED, /* before the start time */
	SWU_ROLLOUT_HALTED,
} SwuRolloutVerdict;
/*
 * A device's draw for a release, 0-9999: from the SHA-256 of @machine_id and the release's
 * targets version, so it is stable across polls, restarts and renewals of the same release
 * (swu renew-bundle), and cohorts are reshuffled per release.
 */
uint32_t swu_rollout_draw(const char *machine_id, uint32_t targets_version);
/* @r for the device that drew @draw at @now (seconds since the epoch). */
SwuRolloutVerdict swu_rollout_decide(const SwuRollout *r, uint32_t draw, int64_t now);

typedef struct SwuTarget {
	char *name;
	uint64_t length;
	uint8_t sha256[SWU_SHA256_SIZE];
	bool present;	   /* its payload passed in this bundle */
	bool personalized; /* absent, accepted as equal to the installed one */
} SwuTarget;

/* One serialized SignedRootMetadata of a chain. */
typedef struct SwuRootLink {
	uint8_t *data;
	size_t size;
} SwuRootLink;

/*
 * The most rotations (rule 2 hops) one verifier follows: carried in a bundle, fetched from a
 * channel, and the bundle's own root together. More are refused before any signature is checked.
 */
#define SWU_ROOT_HOPS_MAX 32

typedef struct SwuVerifier SwuVerifier;

/*
 * @root/@root_size: the trusted SignedRootMetadata (required unless SWU_VERIFY_SELF; the
 * data is copied). Its content must be sound (rule 2's content checks): else -EBADMSG.
 */
int swu_verifier_new(SwuContext *ctx, const uint8_t *root, size_t root_size, unsigned flags,
		     SwuVerifier **ret);
SwuVerifier *swu_verifier_free(SwuVerifier *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwuVerifier *, swu_verifier_free);

/* The installed Manifest (copied). -EBADMSG when malformed. */
int swu_verifier_set_manifest(SwuVerifier *v, const uint8_t *manifest, size_t size);
/* The targets version of the installed manifest, 0 when none was set. */
uint32_t swu_verifier_get_installed_version(const SwuVerifier *v);
/* This device's compatible string; NULL (default) skips the hardware check. */
int swu_verifier_set_compatible(SwuVerifier *v, const char *compatible);

/*
 * Rule 2. A root byte-identical to the trusted one is no rotation: 0, nothing changes. Any other
 * root must be signed by the trusted root's threshold and its own, be sound, and have a version
 * strictly greater than the trusted one (-ESTALE for an older one or a different one of the same
 * version). On success the new root is trusted and swu_verifier_get_new_root() returns it.
 */
int swu_verifier_check_root(SwuVerifier *v, const uint8_t *root, size_t size);
/*
 * Rule 2 over a chain: @links (intermediate roots, oldest first: a bundle's root_chain, or roots
 * fetched from a channel), then @root (the bundle's root_metadata, NULL when none), the way
 * swu_verifier_check_root() takes it. Before any signature is checked: every link decodes and is
 * at most SWU_ROOT_LINK_MAX bytes, the links are in strictly ascending version order (-EBADMSG),
 * one of the trusted version is byte-identical to the trusted root (-ESTALE), and the rotations
 * needed (links newer than the trusted root, and @root when newer than them) do not take this
 * verifier past SWU_ROOT_HOPS_MAX (-EBADMSG). Links older than the trusted root are skipped. Then
 * each newer link must be a rotation rule 2 accepts from the root before it: it is trusted at once
 * and kept (swu_verifier_get_new_roots()). The first hop that fails stops the walk; its reason
 * names the hop ("root chain: hop from version 2 to 3: ..."). With no links this is
 * swu_verifier_check_root(). With SWU_VERIFY_SELF and no anchor yet, the first link is checked
 * against itself and is the anchor; every later hop is checked in full.
 */
int swu_verifier_check_root_chain(SwuVerifier *v, const SwuRootLink *links, size_t n,
				  const uint8_t *root, size_t size);
/* The version of the root trusted now (0 with SWU_VERIFY_SELF before any root was checked). */
uint32_t swu_verifier_get_root_version(const SwuVerifier *v);
/*
 * Every root rule 2 accepted, in the order it did (the chain's links, then the bundle's root):
 * what a device persists. The last one is swu_verifier_get_new_root().
 */
size_t swu_verifier_get_new_roots(const SwuVerifier *v, const SwuRootLink **ret);
/* Whether @root is byte for byte the root trusted now (no rotation: rule 2 does nothing). */
bool swu_verifier_is_trusted_root(const SwuVerifier *v, const uint8_t *root, size_t size);
/* The rotated root accepted by rule 2 (serialized SignedRootMetadata), or NULL when none was. */
const uint8_t *swu_verifier_get_new_root(const SwuVerifier *v, size_t *ret_size);

/* The highest timestamp version the device accepted before (persisted): a lower one is refused. */
int swu_verifier_set_timestamp_floor(SwuVerifier *v, uint32_t version);
/*
 * Rule 3t over the bundle's serialized SignedTimestampMetadata (NULL when it has none), after rule
 * 2 and before rule 3. Only when the trusted root declares a timestamp role: signed to its
 * threshold by the root's timestamp keys, role "timestamp", an expiry in the future, a version not
 * below the floor, one metadata file "targets" with its version, length and SHA-256, which rule 3
 * then requires of the targets metadata. A root without the role: nothing is read, 0. -EALREADY
 * when called twice or after rule 3.
 */
int swu_verifier_check_timestamp(SwuVerifier *v, const uint8_t *timestamp, size_t size);
/*
 * Rule 2 accepted a root whose timestamp keys differ from the trusted root's: the timestamp floor
 * does not apply (TUF 5.3.11), and the caller replaces it rather than raising it.
 */
bool swu_verifier_timestamp_keys_rotated(const SwuVerifier *v);
/* The version and expiry of the timestamp rule 3t accepted; 0 when none was required. */
uint32_t swu_verifier_get_timestamp_version(const SwuVerifier *v);
int64_t swu_verifier_get_timestamp_expires(const SwuVerifier *v);

/* The rollout of the timestamp rule 3t accepted (@ret->set false when none, or no role). */
int swu_verifier_get_rollout(const SwuVerifier *v, SwuRollout *ret);

/*
 * Expiry is checked against the clock, or @signed_time when the clock reads earlier: the newest
 * signed_at the device verified before (persisted), so a clock set back, or one that starts in
 * 1970, cannot make expired metadata current.
 */
int swu_verifier_set_time_floor(SwuVerifier *v, int64_t signed_time);
/*
 * The newest signed_at of the metadata verified (targets, and the timestamp when the role is
 * declared), once rule 3 passed; 0 before, or when they carry none (Pigweed's tools set none).
 */
int64_t swu_verifier_get_signed_time(const SwuVerifier *v);

/* Rule 3 over the serialized SignedTargetsMetadata of the entry named "targets". */
int swu_verifier_check_targets(SwuVerifier *v, const uint8_t *targets, size_t size);
/* The verified TargetsMetadata: version and the list of targets. */
uint32_t swu_verifier_get_version(const SwuVerifier *v);
/* When the verified TargetsMetadata expires (seconds since the epoch), 0 when it sets no expiry. */
int64_t swu_verifier_get_expires(const SwuVerifier *v);
/* SHA-256 of the verified TargetsMetadata bytes: what identifies this release. -EINVAL before. */
int swu_verifier_get_targets_sha256(const SwuVerifier *v, uint8_t out[SWU_SHA256_SIZE]);
size_t swu_verifier_get_targets(const SwuVerifier *v, const SwuTarget **ret);
const SwuTarget *swu_verifier_find_target(const SwuVerifier *v, const char *name);

/*
 * Rule 4, one payload at a time. payload_begin returns 0 when the payload is a listed target
 * (its bytes must follow), 1 when it is not listed (its bytes must be ignored, never written),
 * -EBADMSG when it is given twice or its size differs from the signed length.
 */
int swu_verifier_payload_begin(SwuVerifier *v, const char *name, uint64_t size);
int swu_verifier_payload_update(SwuVerifier *v, const void *p, size_t n);
/* -EBADMSG when the bytes were short or their SHA-256 differs from the signed hash. */
int swu_verifier_payload_end(SwuVerifier *v);
/* The length of target @name in the installed manifest; -ENOENT when it lists none. */
int swu_verifier_installed_length(const SwuVerifier *v, const char *name, uint64_t *ret);
/* The SHA-256 of target @name in the installed manifest; -ENOENT when it lists none. */
int swu_verifier_installed_sha256(const SwuVerifier *v, const char *name,
				  uint8_t ret[SWU_SHA256_SIZE]);
/* True when the installed manifest lists @name with the verified length and hash. */
bool swu_verifier_target_installed(const SwuVerifier *v, const char *name);
/* Drops a payload begun but not ended (an aborted transfer); it counts as not received. */
void swu_verifier_payload_abandon(SwuVerifier *v);
/* Every listed target passed or is personalized out. */
int swu_verifier_finish(SwuVerifier *v);

/* After finish: the Manifest a device persists (caller frees @ret). */
int swu_verifier_build_manifest(SwuVerifier *v, uint8_t **ret, size_t *ret_size);
