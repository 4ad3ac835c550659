/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The release a poll found: metadata.pb as the server sent it (the bundle without payloads),
 * held in memory once it verified through the device pipeline (rules 1-3, a rotated root
 * persisted at once), and kept in the state directory (release.pb) so that the next instance's
 * first poll is still a 304. What the state directory holds is verified again when it is loaded,
 * and the release is verified again when an install opens it: the trusted root or the installed
 * manifest may have changed in between.
 */
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "context.h"
#include "manager.h"
#include "tuf.h"

typedef struct Release Release;

/*
 * Takes @data (metadata.pb, @size bytes, malloc'ed) and verifies it. On failure @data is freed and
 * @ctx holds the reason: -EBADMSG, -EKEYREJECTED, -EKEYEXPIRED, -ESTALE, -EMEDIUMTYPE, -EFBIG,
 * -ENOMEM, -EIO.
 */
int release_new(Manager *m, SwuContext *ctx, uint8_t *data, size_t size, Release **ret);
/*
 * A bundle held in memory (@p, @n bytes: metadata.pb, a release), indexed like a file through a
 * memfd, *ret_fd; root, chain and metadata are copied out while indexing.
 */
int release_memory_bundle(SwuContext *ctx, const uint8_t *p, size_t n, int *ret_fd,
			  SwuBundle **ret);
/* The release the state directory keeps, verified like a poll's answer: -ENOENT when none. */
int release_load(Manager *m, SwuContext *ctx, Release **ret);
/* Keeps @r as release.pb (atomically). */
int release_save(const Release *r, Manager *m, SwuContext *ctx);
/* Nothing is published any more: release.pb goes. */
int release_clear(Manager *m, SwuContext *ctx);
Release *release_free(Release *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Release *, release_free);

/* The version of its signed targets metadata. */
uint32_t release_get_version(const Release *r);
/* What identifies it: the SHA-256 of its signed targets metadata. */
const uint8_t *release_get_targets_sha256(const Release *r);
/* The rollout its timestamp carries (->set false: none, every device installs). */
const SwuRollout *release_get_rollout(const Release *r);
/* When its timestamp expires (seconds since the epoch); 0 when the root declares no such role. */
int64_t release_get_timestamp_expires(const Release *r);

/*
 * The release as a bundle (its bytes in a memfd, indexed) with a verifier that checked its
 * metadata again, for an install from the server. Caller owns all three.
 */
int release_open(const Release *r, Manager *m, SwuContext *ctx, int *ret_fd, SwuBundle **ret_b,
		 SwuVerifier **ret_v);
