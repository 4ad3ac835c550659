/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Manifest a device persists after an install: targets_metadata["targets"] is the installed
 * TargetsMetadata (its exact signed bytes), user_manifest the payload named "user_manifest".
 */
#include "crypto.h"
#include "metadata.h"

#define SWU_USER_MANIFEST_NAME "user_manifest"

/* Strict decode; a targets_metadata key given twice is -EBADMSG (rule 5). */
int swu_manifest_decode(SwuContext *ctx, const uint8_t *p, size_t n, SwuManifest **ret);
/* The installed TargetsMetadata ("targets" entry), or NULL when the manifest has none. */
const SwuTargetsMetadata *swu_manifest_get_targets(const SwuManifest *m);
/* Serializes a Manifest from the exact TargetsMetadata bytes and an optional user manifest. */
int swu_manifest_build(const uint8_t *targets, size_t targets_size, const uint8_t *user,
		       size_t user_size, SwuBuf *out);
/*
 * SHA-256 of the installed TargetsMetadata bytes of a serialized Manifest, exactly as signed: what
 * identifies a release (swu_verifier_get_targets_sha256() gives the same for a verified bundle).
 * -EBADMSG when the manifest has no "targets" entry or does not parse.
 */
int swu_manifest_targets_sha256(SwuContext *ctx, const uint8_t *p, size_t n,
				uint8_t out[SWU_SHA256_SIZE]);
/* Finds @name in @t; NULL when not listed. */
const SwuTargetFile *swu_targets_find(const SwuTargetsMetadata *t, const char *name);
/* The 32-byte SHA-256 of a target file, or NULL when it has none (or more than one). */
const uint8_t *swu_target_file_sha256(const SwuTargetFile *f);
