/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Root chains on the release side: the intermediate roots a bundle carries (add-root-metadata-to-
 * bundle --root-chain) and the roots a channel keeps, one immutable file per version
 * (<channel>/roots/<N>.pb, written by publish, followed by verify-channel and by devices).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "swu-chain.h"
#include "swu.h"

/*
 * The links a bundle carries: a device just before the oldest of them follows them all and the
 * bundle's own root, one more rotation, within what one install follows.
 */
#define CARRIED_MAX MIN(SWU_ROOT_CHAIN_MAX, SWU_ROOT_HOPS_MAX - 1)

void root_chain_free(SwuRootLink *links, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(links[i].data);
	free(links);
}

static int compare_versions(const void *a, const void *b)
{
	uint32_t x = swu_root_version(swu_ctx, ((const SwuRootLink *)a)->data,
				      ((const SwuRootLink *)a)->size);
	uint32_t y = swu_root_version(swu_ctx, ((const SwuRootLink *)b)->data,
				      ((const SwuRootLink *)b)->size);

	return x < y ? -1 : x > y;
}

/* Reads DIR/@name as a root of the chain: its version, 0 (logged) when it is no root metadata. */
static int read_link(const char *dir, const char *name, SwuRootLink *ret, uint32_t *ret_version)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	r = read_metadata(path, &ret->data, &ret->size);
	if (r < 0)
		return r;
	*ret_version = swu_root_version(swu_ctx, ret->data, ret->size);
	if (*ret_version == 0)
		return log_error_errno(-EBADMSG, "'%s' is not root metadata", path);
	if (ret->size > SWU_ROOT_LINK_MAX)
		return log_error_errno(-EFBIG, "'%s' is larger than %u bytes, devices refuse it",
				       path, SWU_ROOT_LINK_MAX);
	return 0;
}

/* Drops copies of one root; two different roots of one version: -ESTALE. */
static int dedup_links(const char *dir, SwuRootLink *links, size_t *n)
{
	size_t k = 0;

	for (size_t i = 0; i < *n; i++) {
		SwuRootLink *prev = k > 0 ? &links[k - 1] : NULL;
		uint32_t v = swu_root_version(swu_ctx, links[i].data, links[i].size);

		if (prev && swu_root_version(swu_ctx, prev->data, prev->size) == v) {
			if (prev->size != links[i].size ||
			    memcmp(prev->data, links[i].data, prev->size) != 0) {
				fprintf(stderr,
					"swu: '%s' holds two different root metadata of version "
					"%u\n",
					dir, v);
				return -ESTALE;
			}
			free(links[i].data);
			continue;
		}
		links[k++] = links[i];
	}
	*n = k;
	return 0;
}

int root_chain_load(const char *dir, const uint8_t *root, size_t root_size, SwuRootLink **ret,
		    size_t *ret_n)
{
	uint32_t top = swu_root_version(swu_ctx, root, root_size);
	struct dirent **list = NULL;
	SwuRootLink *links = NULL;
	size_t n = 0;
	int k, r = 0;

	k = scandir(dir, &list, NULL, alphasort);
	if (k < 0)
		return log_error_errno(-errno, "Cannot list '%s'", dir);
	links = calloc((size_t)k + 1, sizeof(*links));
	for (int i = 0; i < k; i++) {
		uint32_t v = 0;

		if (links && r >= 0 && endswith(list[i]->d_name, ".pb") &&
		    list[i]->d_name[0] != '.') {
			r = read_link(dir, list[i]->d_name, &links[n], &v);
			n++;
			/* only the roots before the bundle's: a device walks from them to it */
			if (r >= 0 && v >= top)
				free(links[--n].data);
		}
		free(list[i]);
	}
	free(list);
	if (!links)
		return log_error_errno(-ENOMEM, "Cannot read '%s'", dir);
	qsort(links, n, sizeof(*links), compare_versions);
	if (r >= 0)
		r = dedup_links(dir, links, &n);
	if (r >= 0 && n > CARRIED_MAX) {
		/* A bundle carries the newest ones: older devices follow the channel's roots/. */
		fprintf(stderr,
			"swu: warning: '%s' holds %zu roots before version %u; the bundle carries "
			"the newest %u\n",
			dir, n, top, CARRIED_MAX);
		for (size_t i = 0; i < n - CARRIED_MAX; i++)
			free(links[i].data);
		memmove(links, links + (n - CARRIED_MAX), CARRIED_MAX * sizeof(*links));
		n = CARRIED_MAX;
	}
	if (r < 0) {
		root_chain_free(links, n);
		return r;
	}
	*ret = links;
	*ret_n = n;
	return 0;
}

int root_chain_check(const SwuRootLink *links, size_t n, const uint8_t *root, size_t root_size)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	int r;

	/* As rule 6 checks it: the first link is the anchor, every later hop in full. */
	r = swu_verifier_new(swu_ctx, NULL, 0, SWU_VERIFY_SELF, &v);
	if (r >= 0)
		r = swu_verifier_check_root_chain(v, links, n, root, root_size);
	return r;
}

/* <dir>/roots/<N>.pb for root @p: 0 when absent or the same bytes, -ESTALE when different. */
static int root_file(const char *dir, const uint8_t *p, size_t n, char **ret_path)
{
	_cleanup_free_ uint8_t *old = NULL;
	_cleanup_free_ char *path = NULL;
	size_t size = 0;
	int r;

	if (asprintf(&path, "%s/roots/%u.pb", dir, swu_root_version(swu_ctx, p, n)) < 0)
		return -ENOMEM;
	r = swu_read_file(path, SWU_ROOT_LINK_MAX, &old, &size);
	if (r == -ENOENT) {
		*ret_path = TAKE_PTR(path);
		return 0;
	}
	if (r < 0 && r != -EFBIG)
		return log_error_errno(r, "Cannot read '%s'", path);
	if (r == -EFBIG || size != n || memcmp(old, p, n) != 0) {
		fprintf(stderr,
			"swu: '%s' holds a different root metadata of version %u: roots are "
			"immutable once published\n",
			path, swu_root_version(swu_ctx, p, n));
		return -ESTALE;
	}
	*ret_path = NULL;
	return 0;
}

/* Every root @b carries: its chain, then its root. */
static size_t bundle_roots(const SwuBundle *b, SwuRootLink *out)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n_chain; i++)
		out[n++] = b->chain[i];
	if (b->root)
		out[n++] = (SwuRootLink){ b->root, b->root_size };
	return n;
}

/*
 * The channel's roots form one chain: a device that took roots/<N>.pb, the newest before @b's
 * root, must accept the rotations @b carries to its root (rule 2 from that root, through @b's
 * chain). A root that does not follow would be published for good (roots are immutable) and
 * strand every device that trusts the channel's last root. 0 when @b carries no newer root.
 */
static int check_channel_rotation(const SwuBundle *b, const char *rdir)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_free_ char *name = NULL;
	struct dirent **list = NULL;
	SwuRootLink prev = {};
	uint32_t top, best = 0, version = 0;
	int k, r;

	if (!b->root)
		return 0;
	top = swu_root_version(swu_ctx, b->root, b->root_size);
	k = scandir(rdir, &list, NULL, alphasort);
	if (k < 0)
		return errno == ENOENT ? 0 : log_error_errno(-errno, "Cannot list '%s'", rdir);
	for (int i = 0; i < k; i++) {
		char *end;
		unsigned long n;

		errno = 0;
		n = strtoul(list[i]->d_name, &end, 10);
		if (!errno && end != list[i]->d_name && streq(end, ".pb") && n < top && n > best)
			best = (uint32_t)n;
		free(list[i]);
	}
	free(list);
	if (best == 0)
		return 0; /* the channel's first root */
	if (asprintf(&name, "%u.pb", best) < 0)
		return -ENOMEM;
	r = read_link(rdir, name, &prev, &version);
	if (r >= 0)
		r = swu_verifier_new(swu_ctx, prev.data, prev.size, 0, &v);
	if (r >= 0)
		r = swu_verifier_check_root_chain(v, b->chain, b->n_chain, b->root, b->root_size);
	free(prev.data);
	if (r < 0)
		return log_error_errno(r,
				       "Root metadata version %u does not follow %s/%s, the "
				       "channel's last root before it: devices that trust that "
				       "root would refuse it",
				       top, rdir, name);
	return 0;
}

int publish_roots(const SwuBundle *b, const char *dir, bool write)
{
	_cleanup_free_ SwuRootLink *roots = calloc(b->n_chain + 1, sizeof(*roots));
	_cleanup_free_ char *rdir = NULL;
	size_t n;
	int r;

	if (!roots || asprintf(&rdir, "%s/roots", dir) < 0)
		return -ENOMEM;
	n = bundle_roots(b, roots);
	if (!write) {
		r = check_channel_rotation(b, rdir);
		if (r < 0)
			return r;
	}
	if (write && n > 0) {
		r = swu_mkdir_p(rdir, 0755);
		if (r < 0)
			return log_error_errno(r, "Cannot create '%s'", rdir);
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;

		r = root_file(dir, roots[i].data, roots[i].size, &path);
		if (r < 0)
			return r;
		if (!write || !path)
			continue;
		r = swu_write_file_atomic(path, roots[i].data, roots[i].size, 0644);
		if (r < 0)
			return log_error_errno(r, "Cannot write '%s'", path);
	}
	return 0;
}
