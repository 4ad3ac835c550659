/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The persisted root chain of the state directory (roots/NNNNNNNN.pb): appended to as rule 2
 * accepts roots, replayed from the booted image's factory root (docs/bundle-format.md, rule 1),
 * repaired at start. The rest of the state store is state.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "metadata.h"
#include "state-file.h"
#include "state.h"
#include "text.h"
#include "tuf.h"

static int link_names(const char *dir, char ***ret, size_t *ret_n)
{
	_cleanup_free_ char *roots = swu_state_path(dir, "roots");
	struct dirent **list = NULL;
	char **names;
	int n;

	if (!roots)
		return -ENOMEM;
	n = scandir(roots, &list, NULL, alphasort);
	if (n < 0) {
		*ret = NULL;
		*ret_n = 0;
		return errno == ENOENT ? 0 : -errno;
	}
	names = calloc((size_t)n + 1, sizeof(char *));
	*ret_n = 0;
	for (int i = 0; i < n; i++) {
		size_t len = strlen(list[i]->d_name);

		/* Only committed links: NNNNNNNN.pb, never a temporary file of a torn write. */
		if (names && len == 11 && strspn(list[i]->d_name, "0123456789") == 8 &&
		    streq(list[i]->d_name + 8, ".pb"))
			names[(*ret_n)++] = strdup(list[i]->d_name);
		free(list[i]);
	}
	free(list);
	if (!names)
		return -ENOMEM;
	*ret = names;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void warnf(SwuWarnFunc warn, void *userdata, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warnf(SwuWarnFunc warn, void *userdata, const char *fmt, ...)
{
	char buf[768];
	va_list ap;
	int k;

	if (!warn)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* A warning may be cut (a long state directory), at a whole character. */
	if (k >= (int)sizeof(buf))
		buf[swu_utf8_cut(buf, strlen(buf))] = 0;
	warn(userdata, buf);
}

/* Whether @p is a rotation that rule 2 signs from @from, whatever its version. */
static bool signed_from(SwuContext *ctx, const SwuRootLink *from, const uint8_t *p, size_t n)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	int r;

	if (swu_verifier_new(ctx, from->data, from->size, 0, &v) < 0)
		return false;
	r = swu_verifier_check_root(v, p, n);
	/* -ESTALE comes only after the signatures and the content passed. */
	return r == 0 || r == -ESTALE;
}

/*
 * Whether link @p, not newer than the root trusted now, is obsolete: a copy of a link before it,
 * or, newer than this slot's factory root, a root of this slot's own lineage (signed from a root
 * this replay trusted: @trusted) that a later one superseded. A link of another lineage (the
 * other slot's factory root and the rotations made under it) is never judged here.
 */
static bool obsolete(SwuContext *ctx, const SwuRootLink *seen, size_t n_seen,
		     const SwuRootLink *trusted, size_t n_trusted, uint32_t factory_version,
		     uint32_t version, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n_seen; i++)
		if (seen[i].size == n && memcmp(seen[i].data, p, n) == 0)
			return true;
	if (version <= factory_version)
		return false;
	for (size_t i = 0; i < n_trusted; i++)
		if (signed_from(ctx, &trusted[i], p, n))
			return true;
	return false;
}

/* Appends a copy of @p to @links. */
static int add_link(SwuRootLink **links, size_t *n, const uint8_t *p, size_t size)
{
	SwuRootLink *a = realloc(*links, (*n + 1) * sizeof(*a));

	if (!a)
		return -ENOMEM;
	*links = a;
	a[*n].data = malloc(size ? size : 1);
	if (!a[*n].data)
		return -ENOMEM;
	memcpy(a[*n].data, p, size);
	a[*n].size = size;
	(*n)++;
	return 0;
}

static void free_links(SwuRootLink *links, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(links[i].data);
	free(links);
}

/* Link @path is ignored (for now: a later pass may trust it), for @reason. */
static int ignored(char **why, const char *path, const char *reason)
{
	free(*why);
	*why = NULL;
	return asprintf(why, "Ignoring rotated root '%s': %s", path, reason) < 0 ? -ENOMEM : 0;
}

/*
 * Replays the chain from @factory: each link is trusted only by rule 2 against the root trusted
 * before it. A link that cannot be read or does not verify is reported and skipped; one that is
 * not newer than the root trusted so far (a copy of it, or older: a slot whose factory root is
 * newer than part of the chain) is skipped silently.
 *
 * The links are read in the order they were persisted, which need not be the order of the chain:
 * after a fallback to the other slot, a walk from its older root appends the links it was missing
 * after links that follow them (a link already held is not written twice). So the walk goes over
 * the links again while a pass trusts a new one: a link is never skipped for its place in the
 * directory, and the result is the newest root the links lead to. The links still ignored when
 * the walk ends are reported, once each.
 *
 * With @repair (one pass, its removals are decided in the persisted order), links that are
 * obsolete are removed (and reported): copies of a link before them,
 * and roots of this slot's lineage that a later link superseded (versions before the strict rule
 * persisted equal-version roots). Links not newer than this slot's factory root, and links of
 * another lineage (signed under the other slot's factory root), are never removed: the other slot
 * may need them, or it would trust a key its chain revoked.
 */
static int replay(SwuContext *ctx, const char *dir, const uint8_t *factory, size_t factory_size,
		  SwuWarnFunc warn, void *userdata, bool repair, unsigned *ret_removed,
		  uint8_t **ret, size_t *ret_size)
{
	_cleanup_free_ uint8_t *current = malloc(factory_size ? factory_size : 1);
	size_t current_size = factory_size, n = 0;
	uint32_t current_version = swu_root_version(ctx, factory, factory_size);
	uint32_t factory_version = current_version;
	SwuRootLink *seen = NULL,
		    *trusted = NULL; /* with @repair: the links before, the roots trusted */
	size_t n_seen = 0, n_trusted = 0;
	unsigned removed = 0;
	char **names = NULL, **why = NULL; /* why[i]: link i is ignored, as the walk ends */
	int r, fatal = 0;

	if (!current)
		return -ENOMEM;
	memcpy(current, factory, factory_size);
	if (repair && add_link(&trusted, &n_trusted, factory, factory_size) < 0)
		return -ENOMEM;
	r = link_names(dir, &names, &n);
	if (r < 0)
		return swu_fail(ctx, r, "state", "roots", "cannot list '%s/roots': %s", dir,
				strerror(-r));
	why = calloc(n ? n : 1, sizeof(*why));
	if (!why)
		fatal = -ENOMEM;
	for (bool trusted_new = true; fatal == 0 && trusted_new;) {
		trusted_new = false;
		for (size_t i = 0; i < n && fatal == 0; i++) {
			_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
			_cleanup_free_ uint8_t *link = NULL;
			_cleanup_free_ char *name = NULL, *path = NULL;
			uint32_t version;
			size_t size;

			name = swu_state_path("roots", names[i]);
			path = name ? swu_state_path(dir, name) : NULL;
			if (!path) {
				fatal = -ENOMEM;
				break;
			}
			r = swu_state_read(dir, name, swu_context_get_metadata_max(ctx), &link,
					   &size);
			if (r < 0) {
				fatal = ignored(&why[i], path, strerror(-r));
				continue;
			}
			version = swu_root_version(ctx, link, size); /* 0: does not decode */
			if (repair && version > 0 && version <= current_version &&
			    obsolete(ctx, seen, n_seen, trusted, n_trusted, factory_version,
				     version, link, size) &&
			    unlink(path) >= 0) {
				warnf(warn, userdata,
				      "Removed obsolete rotated root '%s': version %u is not newer "
				      "than "
				      "the root trusted before it (version %u)",
				      path, version, current_version);
				removed++;
				continue;
			}
			if (repair && add_link(&seen, &n_seen, link, size) < 0) {
				fatal = -ENOMEM;
				break;
			}
			if (version > 0 &&
			    (version < current_version ||
			     (size == current_size && memcmp(link, current, size) == 0)))
				continue;
			fatal = swu_verifier_new(ctx, current, current_size, 0, &v);
			if (fatal < 0)
				break; /* the factory root itself is unusable */
			r = swu_verifier_check_root(v, link, size);
			if (r == -ENOMEM) {
				fatal = r;
				break;
			}
			if (r >= 0 && swu_verifier_get_new_root(v, NULL)) {
				if (repair && add_link(&trusted, &n_trusted, link, size) < 0) {
					fatal = -ENOMEM;
					break;
				}
				free(current);
				current = TAKE_PTR(link);
				current_size = size;
				current_version = version;
				why[i] = mfree(why[i]);
				trusted_new = !repair; /* repair decides in one pass */
				continue;
			}
			fatal = ignored(&why[i], path, swu_context_get_failure(ctx)->message);
		}
	}
	for (size_t i = 0; why && i < n; i++) {
		if (why[i] && fatal == 0)
			warnf(warn, userdata, "%s", why[i]);
		free(why[i]);
	}
	free(why);
	free_names(names, n);
	free_links(seen, n_seen);
	free_links(trusted, n_trusted);
	if (fatal < 0)
		return fatal;
	if (ret_removed)
		*ret_removed = removed;
	if (ret) {
		*ret = TAKE_PTR(current);
		*ret_size = current_size;
	}
	return 0;
}

int swu_state_trusted_root(SwuContext *ctx, const char *dir, const uint8_t *factory,
			   size_t factory_size, SwuWarnFunc warn, void *userdata, uint8_t **ret,
			   size_t *ret_size)
{
	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(factory || factory_size == 0, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_size, -EINVAL);

	return replay(ctx, dir, factory, factory_size, warn, userdata, false, NULL, ret, ret_size);
}

int swu_state_repair_roots(SwuContext *ctx, const char *dir, const uint8_t *factory,
			   size_t factory_size, SwuWarnFunc warn, void *userdata)
{
	unsigned removed = 0;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(factory || factory_size == 0, -EINVAL);

	r = replay(ctx, dir, factory, factory_size, warn, userdata, true, &removed, NULL, NULL);
	return r < 0 ? r : (int)removed;
}

/* Whether a committed link already holds exactly these bytes. */
static int link_exists(SwuContext *ctx, const char *dir, char **names, size_t count,
		       const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < count; i++) {
		_cleanup_free_ char *name = swu_state_path("roots", names[i]);
		_cleanup_free_ uint8_t *link = NULL;
		size_t size;

		if (!name)
			return -ENOMEM;
		if (swu_state_read(dir, name, swu_context_get_metadata_max(ctx), &link, &size) >=
			    0 &&
		    size == n && memcmp(link, p, n) == 0)
			return 1;
	}
	return 0;
}

int swu_state_save_root(SwuContext *ctx, const char *dir, const uint8_t *p, size_t n)
{
	_cleanup_free_ char *roots = swu_state_path(dir, "roots");
	char **names = NULL, name[32];
	size_t count = 0;
	unsigned next = 1;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(dir, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	if (!roots)
		return -ENOMEM;
	if (mkdir(roots, 0755) < 0 && errno != EEXIST)
		return swu_fail(ctx, -errno, "state", "write", "cannot create '%s': %s", roots,
				strerror(errno));
	r = link_names(dir, &names, &count);
	if (r < 0)
		return r;
	/* The chain never holds a root twice. */
	r = link_exists(ctx, dir, names, count, p, n);
	if (r == 0 && count > 0)
		next = (unsigned)strtoul(names[count - 1], NULL, 10) + 1;
	free_names(names, count);
	if (r != 0)
		return r < 0 ? r : 0;
	snprintf(name, sizeof(name), "roots/%08u.pb", next);
	r = swu_state_write(ctx, dir, name, p, n);
	return r < 0 ? r : 1;
}
