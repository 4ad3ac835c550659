/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fileio.h"
#include "macro.h"
#include "release.h"
#include "state.h"

struct Release {
	uint8_t *data;
	size_t size;
	uint32_t version;
	uint8_t targets_sha256[SWU_SHA256_SIZE];
	int64_t timestamp_expires; /* 0: its root declares no timestamp role */
	SwuRollout rollout;	   /* what its timestamp says (unset: every device, at once) */
};

int release_memory_bundle(SwuContext *ctx, const uint8_t *p, size_t n, int *ret_fd, SwuBundle **ret)
{
	_cleanup_close_ int fd = memfd_create("release", MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = swu_write_all(fd, p, n);
	if (r < 0)
		return r;
	r = swu_bundle_open_fd(ctx, fd, ret);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int open_bytes(const uint8_t *p, size_t n, Manager *m, SwuContext *ctx, int *ret_fd,
		      SwuBundle **ret_b, SwuVerifier **ret_v)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	r = release_memory_bundle(ctx, p, n, &fd, &b);
	if (r >= 0)
		r = swu_device_verifier(ctx, &m->device, &v);
	if (r >= 0)
		r = swu_device_check_metadata(ctx, &m->device, v, b);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	*ret_b = TAKE_PTR(b);
	*ret_v = TAKE_PTR(v);
	return 0;
}

int release_open(const Release *r, Manager *m, SwuContext *ctx, int *ret_fd, SwuBundle **ret_b,
		 SwuVerifier **ret_v)
{
	assert_return(r && m && ctx, -EINVAL);
	assert_return(ret_fd && ret_b && ret_v, -EINVAL);
	return open_bytes(r->data, r->size, m, ctx, ret_fd, ret_b, ret_v);
}

int release_new(Manager *m, SwuContext *ctx, uint8_t *data, size_t size, Release **ret)
{
	_cleanup_free_ uint8_t *owned = data;
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	Release *rel;
	int r;

	assert_return(m && ctx && ret, -EINVAL);
	assert_return(data || size == 0, -EINVAL);
	r = open_bytes(data, size, m, ctx, &fd, &b, &v);
	if (r < 0)
		return r;
	rel = calloc(1, sizeof(*rel));
	if (!rel)
		return -ENOMEM;
	*rel = (Release){ .data = TAKE_PTR(owned),
			  .size = size,
			  .version = swu_verifier_get_version(v),
			  .timestamp_expires = swu_verifier_get_timestamp_expires(v) };
	(void)swu_verifier_get_targets_sha256(v, rel->targets_sha256);
	(void)swu_verifier_get_rollout(v, &rel->rollout);
	*ret = rel;
	return 0;
}

int release_load(Manager *m, SwuContext *ctx, Release **ret)
{
	uint8_t *data = NULL;
	size_t size = 0;
	int r;

	assert_return(m && ctx && ret, -EINVAL);
	r = swu_state_load_release(ctx, m->config->state_dir, &data, &size);
	if (r < 0)
		return r;
	return release_new(m, ctx, data, size, ret);
}

int release_save(const Release *r, Manager *m, SwuContext *ctx)
{
	assert_return(r && m && ctx, -EINVAL);
	return swu_state_save_release(ctx, m->config->state_dir, r->data, r->size);
}

int release_clear(Manager *m, SwuContext *ctx)
{
	assert_return(m && ctx, -EINVAL);
	return swu_state_clear_release(ctx, m->config->state_dir);
}

Release *release_free(Release *r)
{
	if (!r)
		return NULL;
	free(r->data);
	free(r);
	return NULL;
}

uint32_t release_get_version(const Release *r)
{
	assert_return(r, 0);
	return r->version;
}

int64_t release_get_timestamp_expires(const Release *r)
{
	assert_return(r, 0);
	return r->timestamp_expires;
}

const SwuRollout *release_get_rollout(const Release *r)
{
	assert_return(r, NULL);
	return &r->rollout;
}

const uint8_t *release_get_targets_sha256(const Release *r)
{
	assert_return(r, NULL);
	return r->targets_sha256;
}
