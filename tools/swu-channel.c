/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * swu verify-channel: a published channel (the layout swu publish writes, docs/server.md) checked
 * as a device would check it: the metadata against a trusted root, every blob the metadata lists
 * (its signed length and hash), every chunk store against its signed index, and the root metadata
 * in roots/ as a chain a device can follow. Every wrong file is named, not only the first.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "fileio.h"
#include "macro.h"
#include "patch.h"
#include "swu.h"
#include "text.h"

/* The largest chunk index read into memory (publish refuses larger ones). */
#define INDEX_MAX (64u * 1024u * 1024u)

typedef struct ChannelArgs {
	const char *dir;
	const char *root;
	const char *manifest;
	const char *compatible;
	bool self;
	bool list;
} ChannelArgs;

typedef struct Channel {
	const char *dir;
	SwuVerifier *v;
	unsigned wrong; /* files found wrong */
	unsigned blobs, stores, patches, roots;
	bool have_roots;
} Channel;

typedef struct RootLink {
	char *path;
	uint8_t *data;
	size_t size;
	uint32_t version;
} RootLink;

const struct option verb_verify_channel_options[] = {
	{ "trusted-root-metadata", required_argument, NULL, 't' },
	{ "self", no_argument, NULL, 's' },
	{ "manifest", required_argument, NULL, 'm' },
	{ "compatible", required_argument, NULL, 'c' },
	{ "list", no_argument, NULL, 'l' },
	{}
};

static int parse_args(int argc, char **argv, ChannelArgs *a)
{
	int c;

	while ((c = getopt_long(argc, argv, "", verb_verify_channel_options, NULL)) >= 0) {
		if (c == 't')
			a->root = optarg;
		else if (c == 's')
			a->self = true;
		else if (c == 'm')
			a->manifest = optarg;
		else if (c == 'c')
			a->compatible = optarg;
		else if (c == 'l')
			a->list = true;
		else
			return -EINVAL;
	}
	if (optind != argc - 1)
		return log_usage("verify-channel takes exactly one channel DIR");
	a->dir = argv[optind];
	if (!!a->root == a->self)
		return log_usage("give exactly one of --trusted-root-metadata ROOT and --self");
	/* swu has no network code (docs/server.md: mirror a channel, then verify the copy). */
	if (strstr(a->dir, "://"))
		return log_usage("'%s' is a URL: mirror the channel first (swu(1), verify-channel)",
				 a->dir);
	return 0;
}

/* One wrong file: named on stderr with its reason, counted. */
static void report(Channel *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(Channel *c, const char *fmt, ...)
{
	va_list ap;

	fputs("swu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	c->wrong++;
}

static const char *failure(void)
{
	return swu_context_get_failure(swu_ctx)->message;
}

/* "<dir>/<kind>/<hex of @sha256>": where publish puts a blob or a chunk store. */
static char *content_path(const Channel *c, const char *kind, const uint8_t sha256[SWU_SHA256_SIZE])
{
	char hex[2 * SWU_SHA256_SIZE + 1];
	char *p;

	swu_hex(sha256, SWU_SHA256_SIZE, hex);
	return asprintf(&p, "%s/%s/%s", c->dir, kind, hex) < 0 ? NULL : p;
}

/*
 * Opens a file of the channel: 1 and @ret_fd, or 0 when it is missing or no regular file (reported,
 * with @what when set, and @missing after "is missing"), or -errno for other I/O errors (logged).
 */
static int open_file(Channel *c, const char *path, const char *what, const char *missing,
		     int *ret_fd)
{
	const char *open = what ? " (" : "", *close = what ? ")" : "";
	int r = swu_open_regular(path, ret_fd);

	if (r == -ENOENT)
		report(c, "'%s'%s%s%s is missing%s", path, open, what ?: "", close, missing);
	else if (r == -EINVAL)
		report(c, "'%s'%s%s%s is not a regular file", path, open, what ?: "", close);
	else if (r < 0)
		return log_error_errno(r, "Cannot open '%s'", path);
	return r < 0 ? 0 : 1;
}

static int verify_data(void *userdata, const uint8_t *p, size_t n)
{
	return swu_verifier_payload_update(userdata, p, n);
}

/* The blob of target @t: there, with the signed length and hash (rule 4, as a download is). */
static int check_blob(Channel *c, const SwuTarget *t)
{
	_cleanup_free_ char *path = content_path(c, "blobs", t->sha256), *what = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int r;

	if (!path || asprintf(&what, "target '%s'", t->name) < 0)
		return log_error_errno(-ENOMEM, "Cannot check the blobs");
	r = open_file(c, path, what, "", &fd);
	if (r <= 0)
		return r;
	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "Cannot read '%s'", path);
	r = swu_verifier_payload_begin(c->v, t->name, (uint64_t)st.st_size);
	if (r == 0) {
		r = swu_read_hashed(fd, 0, (uint64_t)st.st_size, NULL, verify_data, c->v);
		if (r >= 0)
			r = swu_verifier_payload_end(c->v);
		else
			swu_verifier_payload_abandon(c->v);
	}
	if (r < 0 && swu_error_is_rejection(r)) {
		report(c, "'%s' (%s): %s", path, what, failure());
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	c->blobs++;
	return 0;
}

/* Reads the verified chunk index @it (a blob already checked) and parses it for @t. */
static int read_index(Channel *c, const SwuTarget *it, const SwuTarget *t, SwuChunkIndex **ret)
{
	_cleanup_free_ char *path = content_path(c, "blobs", it->sha256);
	_cleanup_free_ uint8_t *data = NULL;
	size_t size = 0;
	int r;

	if (!path)
		return log_error_errno(-ENOMEM, "Cannot check the chunk stores");
	if (it->length > INDEX_MAX) {
		report(c, "'%s' (chunk index of target '%s') is larger than %u bytes", path,
		       t->name, INDEX_MAX);
		return 0;
	}
	r = swu_read_file(path, INDEX_MAX, &data, &size);
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	r = swu_chunk_index_parse(swu_ctx, data, size, t->length, ret);
	if (r == -EBADMSG) {
		report(c, "'%s' (chunk index of target '%s') is not valid: %s", path, t->name,
		       failure());
		return 0;
	}
	return r < 0 ? log_error_errno(r, "Cannot read '%s'", path) : 1;
}

/*
 * The patch store at @path (@what) for the image in blobs/<@old>, against @idx and that image.
 * Devices read the references from their own slot, not from the server: an earlier blob that is
 * gone (deleted once no metadata names it) leaves the store unchecked, which is said, not wrong.
 */
static int check_patch(Channel *c, const SwuChunkIndex *idx, const char *path, const char *what,
		       const char *old)
{
	_cleanup_free_ char *blob = NULL;
	_cleanup_close_ int fd = -EBADF, ofd = -EBADF;
	uint8_t digest[SWU_SHA256_SIZE];
	char hex[2 * SWU_SHA256_SIZE + 1];
	struct stat st, ost;
	int r;

	if (asprintf(&blob, "%s/blobs/%s", c->dir, old) < 0)
		return -ENOMEM;
	r = open_file(c, path, what, "", &fd);
	if (r <= 0)
		return r;
	r = swu_open_regular(blob, &ofd);
	if (r == -ENOENT) {
		printf("Patch store '%s' not checked: '%s', the image it is for, is gone\n", path,
		       blob);
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "Cannot open '%s'", blob);
	if (fstat(fd, &st) < 0 || fstat(ofd, &ost) < 0)
		return log_error_errno(-errno, "Cannot read '%s'", path);
	r = swu_sha256_fd(ofd, 0, (uint64_t)ost.st_size, digest);
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", blob);
	swu_hex(digest, SWU_SHA256_SIZE, hex);
	if (!streq(hex, old)) {
		report(c,
		       "'%s' (the image a patch store is for) does not match its name: its SHA-256 "
		       "is %s",
		       blob, hex);
		return 0;
	}
	r = swu_patch_store_check(swu_ctx, idx, fd, (uint64_t)st.st_size, ofd,
				  (uint64_t)ost.st_size);
	if (r == -EBADMSG) {
		report(c, "'%s' (%s): %s", path, what, failure());
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	c->patches++;
	return 0;
}

/* Every patch store of index @hex in chunks/ (<index>-from-<old image>). */
static int check_patches(Channel *c, const SwuChunkIndex *idx, const char *hex, const char *name)
{
	_cleanup_free_ char *dir = NULL, *prefix = NULL;
	struct dirent **list = NULL;
	int k, r = 0;

	if (asprintf(&dir, "%s/chunks", c->dir) < 0 || asprintf(&prefix, "%s-from-", hex) < 0)
		return -ENOMEM;
	k = scandir(dir, &list, NULL, alphasort);
	if (k < 0)
		return 0; /* no chunks/ at all: reported with the chunk store */
	for (int i = 0; i < k; i++) {
		const char *f = list[i]->d_name, *old = startswith(f, prefix);
		_cleanup_free_ char *path = NULL, *what = NULL;

		if (r >= 0 && old && strlen(old) == 2 * SWU_SHA256_SIZE) {
			if (asprintf(&path, "%s/%s", dir, f) < 0 ||
			    asprintf(&what, "patch store of target '%s'", name) < 0)
				r = -ENOMEM;
			else
				r = check_patch(c, idx, path, what, old);
		}
		free(list[i]);
	}
	free(list);
	return r;
}

/* The chunk store of the target that index @it describes, against the index; its patch stores. */
static int check_store(Channel *c, const SwuTarget *it)
{
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = NULL;
	_cleanup_free_ char *name = NULL, *path = NULL, *what = NULL;
	_cleanup_close_ int fd = -EBADF;
	const SwuTarget *t;
	char hex[2 * SWU_SHA256_SIZE + 1];
	struct stat st;
	int r;

	name = strndup(it->name, strlen(it->name) - strlen(".chunks"));
	if (!name)
		return log_error_errno(-ENOMEM, "Cannot check the chunk stores");
	t = swu_verifier_find_target(c->v, name);
	/* An index of nothing gets no store; a broken index blob was reported already. */
	if (!t || !it->present)
		return 0;
	r = read_index(c, it, t, &idx);
	if (r <= 0)
		return r;
	path = content_path(c, "chunks", it->sha256);
	if (!path || asprintf(&what, "chunk store of target '%s'", name) < 0)
		return log_error_errno(-ENOMEM, "Cannot check the chunk stores");
	r = open_file(c, path, what, ": devices download the whole blob instead", &fd);
	if (r <= 0)
		return r;
	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "Cannot read '%s'", path);
	r = swu_store_check(swu_ctx, idx, fd, (uint64_t)st.st_size);
	if (r == -EBADMSG)
		report(c, "'%s' (%s): %s", path, what, failure());
	else if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	else
		c->stores++;
	swu_hex(it->sha256, SWU_SHA256_SIZE, hex);
	return check_patches(c, idx, hex, name);
}

static void free_links(RootLink *links, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(links[i].path);
		free(links[i].data);
	}
	free(links);
}

static int compare_links(const void *a, const void *b)
{
	const RootLink *x = a, *y = b;

	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Every regular file of <dir>/roots that decodes as root metadata, by version. */
static int load_links(Channel *c, RootLink **ret, size_t *ret_n)
{
	_cleanup_free_ char *dir = NULL;
	struct dirent **list = NULL;
	RootLink *links = NULL;
	size_t n = 0;
	int k, r = 0;

	if (asprintf(&dir, "%s/roots", c->dir) < 0)
		return log_error_errno(-ENOMEM, "Cannot check roots/");
	k = scandir(dir, &list, NULL, alphasort);
	if (k < 0 && errno == ENOENT)
		return 0;
	if (k < 0)
		return log_error_errno(-errno, "Cannot list '%s'", dir);
	c->have_roots = true;
	links = calloc((size_t)k + 1, sizeof(*links));
	for (int i = 0; i < k; i++) {
		RootLink *l = links ? &links[n] : NULL;

		if (l && r >= 0 && list[i]->d_name[0] != '.' &&
		    asprintf(&l->path, "%s/%s", dir, list[i]->d_name) >= 0) {
			r = read_metadata(l->path, &l->data, &l->size);
			l->version = r >= 0 ? swu_root_version(swu_ctx, l->data, l->size) : 0;
			if (r >= 0 && l->version == 0) /* the record says why it does not decode */
				report(c, "'%s': %s", l->path, failure());
			n++;
		}
		free(list[i]);
	}
	free(list);
	if (!links || r < 0) {
		free_links(links, n);
		return links ? r : log_error_errno(-ENOMEM, "Cannot check roots/");
	}
	qsort(links, n, sizeof(*links), compare_links);
	*ret = links;
	*ret_n = n;
	return 0;
}

/*
 * roots/: each root newer than the one followed so far must be a rotation a device accepts from it
 * (rule 2), starting at the trusted root (with --self, the oldest link, checked against itself);
 * older ones, for devices that trust older roots, must be sound.
 */
static int check_roots(Channel *c, const uint8_t *trusted, size_t trusted_size)
{
	RootLink *links = NULL;
	const uint8_t *cur = trusted;
	size_t n = 0, cur_size = trusted_size;
	int r;

	r = load_links(c, &links, &n);
	if (r < 0 || !links)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
		RootLink *l = &links[i];
		bool older = cur && l->version < swu_root_version(swu_ctx, cur, cur_size);

		if (l->version == 0)
			continue; /* reported when loaded */
		r = swu_verifier_new(swu_ctx, older ? l->data : cur, older ? l->size : cur_size,
				     cur ? 0 : SWU_VERIFY_SELF, &v);
		if (r >= 0 && !older)
			r = swu_verifier_check_root(v, l->data, l->size);
		if (r < 0 && swu_error_is_rejection(r)) {
			report(c, "'%s': %s", l->path, failure());
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		if (!older) {
			cur = l->data;
			cur_size = l->size;
		}
		c->roots++;
	}
	if (r < 0)
		log_error_errno(r, "Cannot check roots/");
	free_links(links, n);
	return r;
}

static void list_files(Channel *c)
{
	const SwuTarget *targets;
	size_t n = swu_verifier_get_targets(c->v, &targets);
	char hex[2 * SWU_SHA256_SIZE + 1];

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *name = NULL;

		swu_hex(targets[i].sha256, SWU_SHA256_SIZE, hex);
		printf("blobs/%s\n", hex);
		if (!endswith(targets[i].name, ".chunks"))
			continue;
		name = strndup(targets[i].name, strlen(targets[i].name) - strlen(".chunks"));
		if (name && swu_verifier_find_target(c->v, name))
			printf("chunks/%s\n", hex);
	}
}

/*
 * As a device walks to a root more than one version ahead: the chain the metadata carries, then
 * roots/<N>.pb for each version still missing, in order, each one hop of rule 2. A missing file
 * ends the walk: the metadata's own check then says what the device would.
 */
static int follow_roots(Channel *c, const SwuBundle *b)
{
	uint32_t want = b->root ? swu_root_version(swu_ctx, b->root, b->root_size) : 0;
	int r;

	r = swu_verifier_check_root_chain(c->v, b->chain, b->n_chain, NULL, 0);
	for (uint32_t n = swu_verifier_get_root_version(c->v) + 1; r >= 0 && n < want; n++) {
		_cleanup_free_ char *path = NULL;
		SwuRootLink l = {};

		if (asprintf(&path, "%s/roots/%u.pb", c->dir, n) < 0)
			return -ENOMEM;
		if (swu_read_file(path, SWU_ROOT_LINK_MAX, &l.data, &l.size) < 0)
			return 0;
		if (swu_root_version(swu_ctx, l.data, l.size) != n)
			r = swu_fail(swu_ctx, -EBADMSG, "root", "chain",
				     "'%s' is not root metadata of version %u", path, n);
		else
			r = swu_verifier_check_root_chain(c->v, &l, 1, NULL, 0);
		free(l.data);
	}
	return r;
}

/* The metadata as a device with @a's anchor verifies it: 1 verified, 0 reported, <0 logged. */
static int check_metadata(Channel *c, const ChannelArgs *a, const uint8_t *root, size_t root_size,
			  SwuBundle **ret_b, int *ret_fd)
{
	_cleanup_free_ uint8_t *manifest = NULL;
	_cleanup_free_ char *path = NULL;
	size_t manifest_size = 0;
	int r;

	if (asprintf(&path, "%s/metadata.pb", c->dir) < 0)
		return -ENOMEM;
	if (a->manifest && (r = read_metadata(a->manifest, &manifest, &manifest_size)) < 0)
		return r;
	r = open_file(c, path, NULL, ": devices see no release", ret_fd);
	if (r <= 0)
		return r;
	r = swu_bundle_open_fd(swu_ctx, *ret_fd, ret_b);
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	r = swu_verifier_new(swu_ctx, root, root_size, a->self ? SWU_VERIFY_SELF : 0, &c->v);
	if (r < 0)
		return log_error_errno(r, "Cannot use trusted root metadata '%s'", a->root);
	if (manifest && (r = swu_verifier_set_manifest(c->v, manifest, manifest_size)) < 0)
		return log_error_errno(r, "Cannot use manifest '%s'", a->manifest);
	if (a->compatible && (r = swu_verifier_set_compatible(c->v, a->compatible)) < 0)
		return log_error_errno(r, "Cannot set compatible");
	r = a->self ? 0 : follow_roots(c, *ret_b);
	if (r >= 0)
		r = swu_bundle_verify_metadata(*ret_b, c->v);
	if (r >= 0 && a->self)
		r = check_self_verified(*ret_b);
	if (r < 0)
		return log_error_errno(r, "Channel '%s' rejected", c->dir);
	warn_expiring(c->v);
	return 1;
}

/* What the timestamp rule 3t accepted says: its version, expiry and the release's rollout. */
static void print_timestamp(const SwuVerifier *v)
{
	char when[SWU_TIME_UTC_MAX], what[128];
	SwuRollout ro;

	if (swu_verifier_get_timestamp_version(v) == 0)
		return;
	(void)swu_verifier_get_rollout(v, &ro);
	printf("Timestamp version %u, expires %s; rollout: %s\n",
	       swu_verifier_get_timestamp_version(v),
	       swu_time_utc(swu_verifier_get_timestamp_expires(v), when, sizeof(when)),
	       rollout_text(&ro, what, sizeof(what)));
}

static int check_channel(Channel *c, const ChannelArgs *a, const uint8_t *root, size_t root_size)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	const SwuTarget *targets;
	size_t n;
	int r;

	r = check_metadata(c, a, root, root_size, &b, &fd);
	if (r <= 0)
		return r < 0 ? r : -EBADMSG;
	if (a->list) {
		list_files(c);
		return 0;
	}
	n = swu_verifier_get_targets(c->v, &targets);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = check_blob(c, &targets[i]);
	for (size_t i = 0; i < n && r >= 0; i++)
		if (endswith(targets[i].name, ".chunks"))
			r = check_store(c, &targets[i]);
	if (r >= 0)
		r = check_roots(c, root, root_size);
	if (r < 0)
		return r;
	if (c->wrong > 0) {
		fprintf(stderr, "swu: Channel '%s' rejected: %u file%s wrong\n", c->dir, c->wrong,
			c->wrong == 1 ? " is" : "s are");
		return -EBADMSG;
	}
	printf("Channel %s verified%s: targets version %u, %u blob%s, %u chunk store%s", c->dir,
	       a->self ? " against itself" : "", swu_verifier_get_version(c->v), c->blobs,
	       c->blobs == 1 ? "" : "s", c->stores, c->stores == 1 ? "" : "s");
	if (c->patches > 0)
		printf(", %u patch store%s", c->patches, c->patches == 1 ? "" : "s");
	if (c->have_roots)
		printf(", %u root%s", c->roots, c->roots == 1 ? "" : "s");
	putchar('\n');
	print_timestamp(c->v);
	if (!a->compatible && !a->self)
		printf("(no --compatible given: hardware compatibility not checked)\n");
	return 0;
}

int verb_verify_channel(int argc, char **argv)
{
	_cleanup_free_ uint8_t *root = NULL;
	ChannelArgs a = {};
	Channel c = {};
	size_t root_size = 0;
	struct stat st;
	int r;

	r = parse_args(argc, argv, &a);
	if (r < 0)
		return r;
	if (stat(a.dir, &st) < 0)
		return log_error_errno(-errno, "Cannot open channel '%s'", a.dir);
	if (!S_ISDIR(st.st_mode))
		return log_error_errno(-ENOTDIR, "Cannot open channel '%s'", a.dir);
	if (a.root && (r = read_metadata(a.root, &root, &root_size)) < 0)
		return r;
	c.dir = a.dir;
	r = check_channel(&c, &a, root, root_size);
	swu_verifier_free(c.v);
	/* A wrong file was reported where it was found; -EBADMSG only sets the exit status. */
	return r;
}
