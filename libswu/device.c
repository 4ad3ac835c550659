/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "fileio.h"
#include "macro.h"
#include "manifest.h"
#include "metadata.h"

/* A file of the factory image, read only from dm-verity when RequireVerity= holds. */
static int factory_file(SwuContext *ctx, const SwuDevice *d, const char *path, const char *what,
			uint8_t **ret, size_t *ret_size)
{
	int r;

	if (d->require_verity) {
		r = swu_verity_check(ctx, path, d->sysfs ?: "/sys",
				     d->dm_target ?: swu_dm_target_type, d->userdata);
		if (r < 0)
			return swu_fail_wrap(ctx, r, "trust", "verity",
					     "refusing to trust '%s' (RequireVerity=yes)", path);
	}
	r = swu_read_file(path, swu_context_get_metadata_max(ctx), ret, ret_size);
	if (r < 0)
		return swu_fail(ctx, r, "trust", "file", "cannot read the %s '%s': %s", what, path,
				strerror(-r));
	return 0;
}

static int factory_root(SwuContext *ctx, const SwuDevice *d, uint8_t **ret, size_t *ret_size)
{
	return factory_file(ctx, d, d->root_metadata, "root metadata", ret, ret_size);
}

/* The version of a serialized Manifest's installed targets metadata; -EBADMSG when it has none. */
static int manifest_version(SwuContext *ctx, const uint8_t *p, size_t n, const char *path,
			    uint32_t *ret)
{
	_cleanup_(swu_manifest_freep) SwuManifest *m = NULL;
	const SwuTargetsMetadata *t;
	int r;

	r = swu_manifest_decode(ctx, p, n, &m);
	if (r < 0)
		return swu_fail_wrap(ctx, r, "state", "manifest", "cannot decode the manifest '%s'",
				     path);
	t = swu_manifest_get_targets(m);
	if (!t || !t->common_metadata)
		return swu_fail(ctx, -EBADMSG, "state", "manifest",
				"the manifest '%s' has no targets metadata", path);
	*ret = t->common_metadata->version;
	return 0;
}

int swu_device_manifest(SwuContext *ctx, const SwuDevice *d, uint8_t **ret, size_t *ret_size)
{
	_cleanup_free_ uint8_t *state = NULL, *factory = NULL;
	size_t state_size = 0, factory_size = 0;
	uint32_t state_version = 0, factory_version = 0;
	bool have_state, have_factory = false;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(d, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_size, -EINVAL);

	r = swu_state_load_manifest(ctx, d->state_dir, &state, &state_size);
	if (r < 0 && r != -ENOENT)
		return swu_fail(ctx, r, "state", "manifest",
				"cannot read the installed manifest in '%s': %s", d->state_dir,
				strerror(-r));
	have_state = r >= 0;
	/* only a missing file means "no factory floor": any other error is one */
	if (d->factory_manifest && (access(d->factory_manifest, F_OK) == 0 || errno != ENOENT)) {
		r = factory_file(ctx, d, d->factory_manifest, "factory manifest", &factory,
				 &factory_size);
		if (r < 0)
			return r;
		r = manifest_version(ctx, factory, factory_size, d->factory_manifest,
				     &factory_version);
		if (r < 0)
			return r;
		have_factory = true;
	}
	if (have_state && have_factory) {
		r = manifest_version(ctx, state, state_size, d->state_dir, &state_version);
		if (r < 0)
			return r;
	}
	if (have_factory && (!have_state || factory_version > state_version)) {
		*ret = TAKE_PTR(factory);
		*ret_size = factory_size;
		return 0;
	}
	if (!have_state)
		return -ENOENT;
	*ret = TAKE_PTR(state);
	*ret_size = state_size;
	return 0;
}

int swu_device_trusted_root(SwuContext *ctx, const SwuDevice *d, uint8_t **ret, size_t *ret_size)
{
	_cleanup_free_ uint8_t *factory = NULL;
	size_t size;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(d, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_size, -EINVAL);

	r = factory_root(ctx, d, &factory, &size);
	if (r < 0)
		return r;
	return swu_state_trusted_root(ctx, d->state_dir, factory, size, d->warn, d->userdata, ret,
				      ret_size);
}

int swu_device_repair(SwuContext *ctx, const SwuDevice *d)
{
	_cleanup_free_ uint8_t *factory = NULL;
	size_t size;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(d, -EINVAL);

	r = factory_root(ctx, d, &factory, &size);
	if (r < 0)
		return r;
	return swu_state_repair_roots(ctx, d->state_dir, factory, size, d->warn, d->userdata);
}

int swu_device_verifier(SwuContext *ctx, const SwuDevice *d, SwuVerifier **ret)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_free_ uint8_t *root = NULL, *manifest = NULL;
	size_t root_size, manifest_size = 0;
	uint32_t floor;
	int64_t signed_time;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(d, -EINVAL);
	assert_return(ret, -EINVAL);

	r = swu_device_trusted_root(ctx, d, &root, &root_size);
	if (r < 0)
		return r;
	r = swu_verifier_new(ctx, root, root_size, 0, &v);
	if (r < 0)
		return r;
	r = swu_device_manifest(ctx, d, &manifest, &manifest_size);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0) {
		r = swu_verifier_set_manifest(v, manifest, manifest_size);
		if (r < 0)
			return r;
	}
	r = swu_verifier_set_compatible(v, d->compatible);
	if (r < 0)
		return r;
	r = swu_state_load_timestamp_version(ctx, d->state_dir, &floor);
	if (r < 0)
		return r;
	r = swu_verifier_set_timestamp_floor(v, floor);
	if (r < 0)
		return r;
	r = swu_state_load_signed_time(ctx, d->state_dir, &signed_time);
	if (r < 0)
		return r;
	r = swu_verifier_set_time_floor(v, signed_time);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	return 0;
}

int swu_device_commit_root(SwuContext *ctx, const SwuDevice *d, const SwuVerifier *v)
{
	const SwuRootLink *links;
	size_t n;
	int r, written = 0;

	assert_return(ctx, -EINVAL);
	assert_return(d, -EINVAL);
	assert_return(v, -EINVAL);

	/* Every hop in the order rule 2 accepted it: the chain replays from the factory root. */
	n = swu_verifier_get_new_roots(v, &links);
	for (size_t i = 0; i < n; i++) {
		r = swu_state_save_root(ctx, d->state_dir, links[i].data, links[i].size);
		if (r < 0)
			return r;
		if (r > 0 && d->committed)
			d->committed(d->userdata,
				     swu_root_version(ctx, links[i].data, links[i].size));
		written += r;
	}
	return written > 0;
}

int64_t swu_device_now(SwuContext *ctx, const SwuDevice *d, int64_t now)
{
	int64_t signed_time = 0;

	assert_return(ctx && d, now);
	(void)swu_state_load_signed_time(ctx, d->state_dir, &signed_time);
	return MAX(now, signed_time);
}

/*
 * The floor on the time rises to what the signers vouched for, within bounds a signer cannot
 * move: not while the clock reads earlier than the floor (it looks wrong: the floor stays), and
 * never more than SWU_SIGNED_TIME_AHEAD past the clock. A signer whose clock ran ahead, or a
 * compromised online key, can then push a device at most that far, not to 2038.
 */
static int save_signed_time(SwuContext *ctx, const SwuDevice *d, int64_t signed_time)
{
	int64_t now = (int64_t)swu_context_now(ctx), floor = 0;
	int r;

	if (signed_time <= 0)
		return 0;
	r = swu_state_load_signed_time(ctx, d->state_dir, &floor);
	if (r < 0)
		return r;
	if (now < floor)
		return 0;
	return swu_state_save_signed_time(ctx, d->state_dir,
					  MIN(signed_time, now + SWU_SIGNED_TIME_AHEAD));
}

int swu_device_check_metadata(SwuContext *ctx, const SwuDevice *d, SwuVerifier *v, SwuBundle *b)
{
	int r, k;

	assert_return(ctx, -EINVAL);
	assert_return(d, -EINVAL);
	assert_return(v, -EINVAL);
	assert_return(b, -EINVAL);

	r = swu_bundle_verify_metadata(b, v);
	k = swu_device_commit_root(ctx, d, v);
	/* The failure record is that of the last call to fail: a root that cannot be kept. */
	if (k < 0)
		return k;
	/* A root with new timestamp keys is kept even when the rest fails: so is the end of the
	 * old keys' floor, or the next bundle (the same root, no rotation) would meet it again. */
	if (swu_verifier_timestamp_keys_rotated(v)) {
		k = swu_state_reset_timestamp_version(
			ctx, d->state_dir, r < 0 ? 0 : swu_verifier_get_timestamp_version(v));
		if (k < 0)
			return k;
	}
	if (r < 0)
		return r;
	/* A timestamp verified whole is never gone back on: a frozen server's older one fails. */
	k = swu_state_save_timestamp_version(ctx, d->state_dir,
					     swu_verifier_get_timestamp_version(v));
	/* ... and neither is a time its signers vouched had come (a clock set back). */
	if (k >= 0)
		k = save_signed_time(ctx, d, swu_verifier_get_signed_time(v));
	return k < 0 ? k : r;
}
