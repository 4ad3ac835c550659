/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "fileio.h"
#include "macro.h"
#include "metadata.h"

/* The factory root, read only from dm-verity when RequireVerity= holds. */
static int factory_root(SwuContext *ctx, const SwuDevice *d, uint8_t **ret, size_t *ret_size)
{
	int r;

	if (d->require_verity) {
		r = swu_verity_check(ctx, d->root_metadata, d->sysfs ?: "/sys",
				     d->dm_target ?: swu_dm_target_type, d->userdata);
		if (r < 0)
			return swu_fail_wrap(ctx, r, "trust", "verity",
					     "refusing to trust '%s' (RequireVerity=yes)",
					     d->root_metadata);
	}
	r = swu_read_file(d->root_metadata, swu_context_get_metadata_max(ctx), ret, ret_size);
	if (r < 0)
		return swu_fail(ctx, r, "trust", "file", "cannot read the root metadata '%s': %s",
				d->root_metadata, strerror(-r));
	return 0;
}

int swu_device_trusted_root(SwuContext *ctx, const SwuDevice *d, uint8_t **ret, size_t *ret_size)
{
	_cleanup_free_ uint8_t *factory = NULL;
	size_t size;
	int r;

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
	int r;

	r = swu_device_trusted_root(ctx, d, &root, &root_size);
	if (r < 0)
		return r;
	r = swu_verifier_new(ctx, root, root_size, 0, &v);
	if (r < 0)
		return r;
	r = swu_state_load_manifest(ctx, d->state_dir, &manifest, &manifest_size);
	if (r < 0 && r != -ENOENT)
		return swu_fail(ctx, r, "state", "manifest",
				"cannot read the installed manifest in '%s': %s", d->state_dir,
				strerror(-r));
	if (r >= 0) {
		r = swu_verifier_set_manifest(v, manifest, manifest_size);
		if (r < 0)
			return r;
	}
	r = swu_verifier_set_compatible(v, d->compatible);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	return 0;
}

int swu_device_commit_root(SwuContext *ctx, const SwuDevice *d, const SwuVerifier *v)
{
	const uint8_t *root;
	size_t size;
	int r;

	root = swu_verifier_get_new_root(v, &size);
	if (!root)
		return 0;
	r = swu_state_save_root(ctx, d->state_dir, root, size);
	if (r > 0 && d->committed)
		d->committed(d->userdata, swu_root_version(ctx, root, size));
	return r;
}

int swu_device_check_metadata(SwuContext *ctx, const SwuDevice *d, SwuVerifier *v, SwuBundle *b)
{
	int r, k;

	r = swu_bundle_verify_metadata(b, v);
	k = swu_device_commit_root(ctx, d, v);
	/* The failure record is that of the last call to fail: a root that cannot be kept. */
	return k < 0 ? k : r;
}
