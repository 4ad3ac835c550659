/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Device trust, written once for every caller: the one-shot commands, polling, and D-Bus
 * Start/Install from a file, a URL or the server all verify through these functions (as RAUC's
 * check_bundle() serves its CLI, polling and D-Bus alike).
 *
 *   trusted root   the factory root metadata (on dm-verity when required), then every link of
 *                  the persisted rotation chain replayed through rule 2
 *   verifier       over the trusted root, with the installed manifest (anti-rollback,
 *                  personalized-out payloads) and the device's compatible string
 *   commit         a root that rule 2 accepted is persisted as the next chain link at once,
 *                  even when a later rule rejects the bundle
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "context.h"
#include "state.h"
#include "tuf.h"
#include "verity.h"

typedef void (*SwuRootFunc)(void *userdata, uint32_t version);

typedef struct SwuDevice {
	const char *root_metadata;    /* path of the factory root metadata */
	const char *factory_manifest; /* NULL or path of the factory manifest (a version floor) */
	bool require_verity;	      /* trust it only on a dm-verity device */
	const char *sysfs;	      /* NULL: "/sys" (tests pass a fake tree) */
	SwuDmTargetFunc dm_target;    /* NULL: swu_dm_target_type */
	const char *state_dir;
	const char *compatible; /* NULL: no hardware check */
	SwuWarnFunc warn;	/* told about chain links that are skipped or repaired */
	SwuRootFunc committed;	/* told when a rotated root was persisted */
	void *userdata;		/* for every callback above */
} SwuDevice;

/*
 * The root to trust now: the factory root (refused with -EPERM when RequireVerity holds and it is
 * not on dm-verity), then the persisted chain. Caller frees @ret.
 */
int swu_device_trusted_root(SwuContext *ctx, const SwuDevice *d, uint8_t **ret, size_t *ret_size);

/*
 * Removes the links of the persisted chain that are obsolete (swu_state_repair_roots()); each is
 * reported through @d->warn. Links not newer than this slot's factory root, and links made under
 * the other slot's factory root, stay: the other slot may need them. Returns the number removed.
 */
int swu_device_repair(SwuContext *ctx, const SwuDevice *d);

/*
 * The installed manifest: the one in the state directory, or the factory manifest of the booted
 * root filesystem when the state has none or an older one (a wiped data partition never lowers
 * the anti-rollback floor below the image's). The factory manifest is read from dm-verity when
 * RequireVerity= holds, like the root. -ENOENT when there is neither. Caller frees @ret.
 */
int swu_device_manifest(SwuContext *ctx, const SwuDevice *d, uint8_t **ret, size_t *ret_size);

/* The verifier every install uses: trusted root, installed manifest, compatible string. */
int swu_device_verifier(SwuContext *ctx, const SwuDevice *d, SwuVerifier **ret);

/*
 * Persists every root that rule 2 accepted in @v (the hops of a chain, then the bundle's root), in
 * that order, each as the next chain link; links the chain already holds are not written again.
 * Returns 1 when a link was written (@d->committed is told of each), 0 when there was nothing new
 * to keep. Called again after more hops, it writes only the new ones.
 */
int swu_device_commit_root(SwuContext *ctx, const SwuDevice *d, const SwuVerifier *v);

/*
 * Rules 2 and 3 over the metadata of @b, then commits a rotated root (also when rule 3 failed:
 * revoking a compromised targets key must not wait for a good release). Returns the first error.
 */
/*
 * The time as the device believes it, seconds: @now (the clock), or the newest signed time it
 * verified when the clock reads earlier (docs/bundle-format.md, "Time").
 */
int64_t swu_device_now(SwuContext *ctx, const SwuDevice *d, int64_t now);
int swu_device_check_metadata(SwuContext *ctx, const SwuDevice *d, SwuVerifier *v, SwuBundle *b);
