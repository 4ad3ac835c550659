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

typedef struct SwuTarget {
	char *name;
	uint64_t length;
	uint8_t sha256[SWU_SHA256_SIZE];
	bool present;	   /* its payload passed in this bundle */
	bool personalized; /* absent, accepted as equal to the installed one */
} SwuTarget;

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
/* Whether @root is byte for byte the root trusted now (no rotation: rule 2 does nothing). */
bool swu_verifier_is_trusted_root(const SwuVerifier *v, const uint8_t *root, size_t size);
/* The rotated root accepted by rule 2 (serialized SignedRootMetadata), or NULL when none was. */
const uint8_t *swu_verifier_get_new_root(const SwuVerifier *v, size_t *ret_size);

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
/* True when the installed manifest lists @name with the verified length and hash. */
bool swu_verifier_target_installed(const SwuVerifier *v, const char *name);
/* Drops a payload begun but not ended (an aborted transfer); it counts as not received. */
void swu_verifier_payload_abandon(SwuVerifier *v);
/* Every listed target passed or is personalized out. */
int swu_verifier_finish(SwuVerifier *v);

/* After finish: the Manifest a device persists (caller frees @ret). */
int swu_verifier_build_manifest(SwuVerifier *v, uint8_t **ret, size_t *ret_size);
