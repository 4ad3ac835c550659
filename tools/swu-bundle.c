/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "crypto.h"
#include "fileio.h"
#include "macro.h"
#include "manifest.h"
#include "metadata.h"
#include "patch.h"
#include "swu-chain.h"
#include "swu.h"
#include "text.h"
#include "writer.h"

const struct option verb_create_empty_bundle_options[] = {
	{ "target-metadata-version", required_argument, NULL, 'v' },
	{ "compatible", required_argument, NULL, 'c' },
	{ "expires", required_argument, NULL, 'e' },
	{}
};

/*
 * The signed_at of metadata made now that expires at @expires (0: never): now, which devices take
 * as a time that has come; none for metadata made expired (a test of expiry), which could not
 * honestly say both.
 */
static int64_t made_at(int64_t expires)
{
	int64_t now = (int64_t)swu_context_now(swu_ctx);

	return expires == 0 || now < expires ? now : 0;
}

int verb_create_empty_bundle(int argc, char **argv)
{
	char *compatible[64];
	size_t n_compatible = 0;
	uint32_t version = 1;
	int64_t expires = 0;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	SwuBuf targets = {};
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_create_empty_bundle_options, NULL)) >= 0) {
		switch (c) {
		case 'v':
			if (parse_u32(optarg, &version) < 0)
				return log_usage("invalid version '%s'", optarg);
			break;
		case 'c':
			if (n_compatible >= ELEMENTSOF(compatible) || !*optarg)
				return log_usage("invalid --compatible '%s'", optarg);
			compatible[n_compatible++] = optarg;
			break;
		case 'e':
			if (parse_time(optarg, &expires) < 0)
				return log_usage("invalid time '%s' (want RFC 3339, e.g. "
						 "2030-01-01T00:00:00Z)",
						 optarg);
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc - 1)
		return log_usage("create-empty-bundle takes exactly one BUNDLE path");

	r = swu_targets_create(version, compatible, n_compatible, expires, made_at(expires),
			       &targets);
	if (r >= 0) {
		SwuMetadataEntry entry = { (char *)"targets", targets.data, targets.size };
		const char *path = argv[optind];

		r = swu_tmpfile_open(path, 0644, &fd, &tmp);
		if (r >= 0) {
			r = swu_bundle_write(swu_ctx, fd, NULL, 0, &entry, 1, NULL, 0);
			if (r >= 0)
				r = swu_tmpfile_commit(fd, tmp, path);
			else
				unlink(tmp);
		}
		if (r < 0)
			log_error_errno(r, "Cannot write bundle '%s'", path);
	}
	swu_buf_done(&targets);
	return r;
}

const struct option verb_add_root_metadata_to_bundle_options[] = {
	{ "append-root-metadata", required_argument, NULL, 'r' },
	{ "bundle", required_argument, NULL, 'b' },
	{ "root-chain", required_argument, NULL, 'c' },
	{}
};

/* The roots of @dir before @root as the bundle's chain, checked to lead to @root, then written. */
static int rewrite_with_chain(const char *path, const SwuBundle *b, const char *dir,
			      const uint8_t *root, size_t size)
{
	SwuRootLink *links = NULL;
	size_t n = 0;
	int r;

	r = root_chain_load(dir, root, size, &links, &n);
	if (r < 0)
		return r;
	r = root_chain_check(links, n, root, size);
	if (r < 0)
		log_error_errno(r, "The roots in '%s' do not lead to the root metadata", dir);
	else
		r = bundle_rewrite_chain(path, b, links, n, root, size, NULL, 0, NULL, NULL);
	if (r >= 0)
		printf("Root chain: %zu root%s before version %u\n", n, n == 1 ? "" : "s",
		       swu_root_version(swu_ctx, root, size));
	root_chain_free(links, n);
	return r;
}

int verb_add_root_metadata_to_bundle(int argc, char **argv)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	_cleanup_free_ uint8_t *root = NULL;
	_cleanup_close_ int fd = -EBADF;
	const char *root_path = NULL, *path = NULL, *chain = NULL;
	size_t size;
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_add_root_metadata_to_bundle_options, NULL)) >=
	       0) {
		if (c == 'r')
			root_path = optarg;
		else if (c == 'b')
			path = optarg;
		else if (c == 'c')
			chain = optarg;
		else
			return -EINVAL;
	}
	if (!root_path || !path || optind != argc)
		return log_usage("add-root-metadata-to-bundle needs --append-root-metadata and "
				 "--bundle");
	r = read_metadata(root_path, &root, &size);
	if (r < 0)
		return r;
	r = swu_root_decode(swu_ctx, root, size, &s, &rm);
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", root_path);
	r = bundle_open(path, &fd, &b);
	if (r < 0)
		return r;
	if (chain)
		return rewrite_with_chain(path, b, chain, root, size);
	return bundle_rewrite(path, b, root, size, NULL, 0, NULL, NULL);
}

/*
 * The target name `pw update add-file-to-bundle` gives a file without --new-name,
 * os.path.splitext(os.path.basename(path))[0]: the basename without its last extension, where
 * dots leading the basename start none (".hidden" stays, "rootfs.tar.gz" gives "rootfs.tar").
 */
static char *file_stem(const char *path)
{
	const char *base = strrchr(path, '/'), *dot;
	size_t lead;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	lead = strspn(base, ".");
	if (!dot || (size_t)(dot - base) < lead)
		return strdup(base);
	return strndup(base, (size_t)(dot - base));
}

/* Whether @name is listed in the bundle's targets metadata or carried as a payload. */
static int bundle_has_target(const SwuBundle *b, const SwuMetadataEntry *targets, const char *name)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	int r;

	r = swu_targets_decode(swu_ctx, targets->data, targets->size, &s, &t);
	if (r < 0)
		return r;
	if (swu_targets_find(t, name))
		return 1;
	for (size_t i = 0; i < b->n_payloads; i++)
		if (streq(b->payloads[i].name, name))
			return 1;
	return 0;
}

/* The signatures of @targets no longer cover what the bundle at @path lists: say so. */
static void warn_signatures_dropped(const char *path, const SwuMetadataEntry *targets)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;

	if (swu_targets_decode(swu_ctx, targets->data, targets->size, &s, &t) < 0 ||
	    s->n_signatures == 0)
		return;
	fprintf(stderr,
		"swu: warning: the targets metadata of '%s' changed: its %zu signature%s dropped; "
		"sign the bundle again\n",
		path, s->n_signatures, s->n_signatures == 1 ? " was" : "s were");
}

/*
 * Adds the @size bytes of @file_fd as target @name (replacing one when @replace): checked before
 * anything is written, so a refused add leaves the bundle as it was.
 */
static int add_target(const char *path, const char *name, int file_fd, uint64_t size, bool replace,
		      bool chunked, const char *what)
{
	_cleanup_free_ char *iname = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	const SwuMetadataEntry *targets;
	uint8_t digest[SWU_SHA256_SIZE];
	SwuPayloadSource add;
	SwuBuf nt = {};
	int r;

	r = bundle_open(path, &fd, &b);
	if (r < 0)
		return r;
	targets = swu_bundle_get_targets(b, "targets");
	if (!targets)
		return log_error_errno(-EBADMSG, "Bundle '%s' has no targets metadata", path);
	r = bundle_has_target(b, targets, name);
	if (r < 0)
		return log_error_errno(r, "Cannot read the targets metadata of '%s'", path);
	if (r > 0 && !replace) {
		fprintf(stderr,
			"swu: bundle '%s' already has a target '%s'; use --replace to replace it\n",
			path, name);
		return -EEXIST;
	}
	/* A new image with the old image's index would make every device fall back to the blob. */
	if (asprintf(&iname, "%s.chunks", name) < 0)
		return -ENOMEM;
	r = chunked ? 0 : bundle_has_target(b, targets, iname);
	if (r > 0) {
		fprintf(stderr,
			"swu: bundle '%s' has a chunk index '%s'; replace it with --chunk-index\n",
			path, iname);
		return -EEXIST;
	}
	r = swu_sha256_fd(file_fd, 0, size, digest);
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", what);
	r = swu_targets_add_file(swu_ctx, targets->data, targets->size, name, size, digest, &nt);
	if (r < 0)
		return log_error_errno(r, "Cannot add '%s'", what);
	add = (SwuPayloadSource){ name, file_fd, 0, size, digest };
	r = bundle_rewrite(path, b, b->root, b->root_size, nt.data, nt.size, name, &add);
	swu_buf_done(&nt);
	if (r >= 0)
		warn_signatures_dropped(path, targets);
	return r;
}

/* ext2/3/4 (the superblock magic at 1080): cut at block boundaries, where the files lie. */
static bool is_block_image(int fd)
{
	uint8_t magic[2];

	return pread(fd, magic, 2, 1080) == 2 && magic[0] == 0x53 && magic[1] == 0xef;
}

/*
 * squashfs packs files smaller than a block into shared compressed fragment blocks. When one
 * file in such a block changes, or a file before it is added or removed, the block is new to
 * every device, and nothing local can rebuild it: they can be most of what a delta downloads
 * (87% on bench/delta's pair). Images built with -no-fragments store each file in blocks of its
 * own and cost little more (docs/bundle-format.md, "Images for delta updates").
 */
static void warn_squashfs_fragments(int fd, const char *file)
{
	uint8_t sb[30];
	uint32_t n;

	/* squashfs 4 (little-endian): the magic, then at 16 the fragment count, at 28 the major. */
	if (pread(fd, sb, sizeof(sb), 0) != (ssize_t)sizeof(sb) || memcmp(sb, "hsqs", 4) != 0 ||
	    sb[28] != 4 || sb[29] != 0)
		return;
	n = swu_le32(sb + 16);
	if (n > 0)
		fprintf(stderr,
			"swu: warning: '%s' is a squashfs image with %u fragment block%s: a delta "
			"downloads each one whole when any file in it changes; build the image "
			"with mksquashfs -no-fragments for smaller deltas\n",
			file, (unsigned)n, n == 1 ? "" : "s");
}

static int parse_chunking(const char *arg, int fd, SwuChunkParams *ret)
{
	bool block;

	if (!arg || streq(arg, "auto"))
		block = is_block_image(fd);
	else if (streq(arg, "block") || streq(arg, "byte"))
		block = streq(arg, "block");
	else
		return log_usage("--chunk-index takes auto, block or byte, not '%s'", arg);
	swu_chunk_params_default(block, ret);
	return 0;
}

/*
 * The chunk index of the image in @file_fd, in a memory file: built before anything is added, so
 * an image never lands in the bundle without its index.
 */
static int build_chunk_index(const char *name, int file_fd, uint64_t size, const SwuChunkParams *p,
			     int *ret_fd, size_t *ret_size)
{
	_cleanup_free_ uint8_t *index = NULL;
	_cleanup_close_ int mfd = -EBADF;
	size_t n = 0;
	int r;

	r = swu_chunk_index_build(swu_ctx, file_fd, size, p, &index, &n);
	if (r < 0)
		return log_error_errno(r, "Cannot index '%s'", name);
	mfd = memfd_create("chunks", MFD_CLOEXEC);
	if (mfd < 0)
		return log_error_errno(-errno, "Cannot index '%s'", name);
	r = swu_write_all(mfd, index, n);
	if (r < 0)
		return log_error_errno(r, "Cannot index '%s'", name);
	*ret_fd = TAKE_FD(mfd);
	*ret_size = n;
	return 0;
}

/* Adds "<name>.chunks", the index built by build_chunk_index(). */
static int add_chunk_index(const char *path, const char *name, int mfd, size_t n,
			   const SwuChunkParams *p, bool replace)
{
	_cleanup_free_ char *iname = NULL;
	int r;

	if (asprintf(&iname, "%s.chunks", name) < 0)
		return -ENOMEM;
	r = add_target(path, iname, mfd, n, replace, /* chunked= */ true, iname);
	if (r >= 0)
		printf("Chunk index '%s': %zu chunks (%s), %zu bytes\n", iname,
		       (n - SWU_CHUNK_HEADER_SIZE) / SWU_CHUNK_ENTRY_SIZE,
		       p->align == 1 ? "byte-granular" : "block-aligned", n);
	return r;
}

const struct option verb_add_file_to_bundle_options[] = {
	{ "bundle", required_argument, NULL, 'b' },	 { "file", required_argument, NULL, 'f' },
	{ "new-name", required_argument, NULL, 'n' },	 { "replace", no_argument, NULL, 'r' },
	{ "chunk-index", optional_argument, NULL, 'c' }, {}
};

int verb_add_file_to_bundle(int argc, char **argv)
{
	_cleanup_close_ int file_fd = -EBADF, index_fd = -EBADF;
	_cleanup_free_ char *stem = NULL;
	const char *path = NULL, *file = NULL, *name = NULL, *chunking = NULL;
	size_t index_size = 0;
	bool replace = false, chunk_index = false;
	SwuChunkParams params;
	struct stat st;
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_add_file_to_bundle_options, NULL)) >= 0) {
		if (c == 'b')
			path = optarg;
		else if (c == 'f')
			file = optarg;
		else if (c == 'n')
			name = optarg;
		else if (c == 'r')
			replace = true;
		else if (c == 'c') {
			chunk_index = true;
			chunking = optarg;
		} else
			return -EINVAL;
	}
	if (!path || !file || optind != argc)
		return log_usage("add-file-to-bundle needs --bundle and --file");
	if (!name) {
		stem = file_stem(file);
		if (!stem)
			return log_error_errno(-ENOMEM, "Cannot add '%s'", file);
		name = stem;
	}
	if (!swu_target_name_valid(name, strlen(name))) {
		char quoted[4 * SWU_NAME_MAX + 1];

		/* Quoted escaped: the name may hold the very bytes that made it invalid. */
		swu_escape(name, strnlen(name, SWU_NAME_MAX + 1), quoted, sizeof(quoted));
		return log_usage("invalid target name '%s' (1-255 bytes of printable ASCII, space "
				 "included; no leading '/', no empty, '.' or '..' part)",
				 quoted);
	}
	if (endswith(name, ".chunks"))
		return log_usage("target names ending in '.chunks' are reserved for chunk indexes");
	file_fd = open(file, O_RDONLY | O_CLOEXEC);
	if (file_fd < 0 || fstat(file_fd, &st) < 0)
		return log_error_errno(-errno, "Cannot open '%s'", file);
	if (!S_ISREG(st.st_mode))
		return log_error_errno(-EINVAL, "'%s' is not a regular file", file);
	if (chunk_index) {
		r = parse_chunking(chunking, file_fd, &params);
		if (r < 0)
			return r;
		warn_squashfs_fragments(file_fd, file);
	}
	if (chunk_index) {
		r = build_chunk_index(name, file_fd, (uint64_t)st.st_size, &params, &index_fd,
				      &index_size);
		if (r < 0)
			return r;
	}
	r = add_target(path, name, file_fd, (uint64_t)st.st_size, replace, chunk_index, file);
	if (r >= 0 && chunk_index)
		r = add_chunk_index(path, name, index_fd, index_size, &params, replace);
	return r;
}

/*
 * A key the bundle's root does not list for @role (targets or timestamp) signs in vain on devices
 * that trust that root. Without a root the device's root decides: nothing to say.
 */
static void warn_not_role_key(const SwuBundle *b, const char *key,
			      const uint8_t id[SWU_KEY_ID_SIZE], bool timestamp)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	char hex[2 * SWU_KEY_ID_SIZE + 1];

	/* A root that does not decode is verify-bundle's to report. */
	if (!b->root || swu_root_decode(swu_ctx, b->root, b->root_size, &s, &rm) < 0 ||
	    requirement_lists_key(timestamp ? rm->timestamp_signature_requirement
					    : rm->targets_signature_requirement,
				  id))
		return;
	swu_hex(id, SWU_KEY_ID_SIZE, hex);
	fprintf(stderr,
		"swu: warning: key '%s' (%s) is not a %s key of this bundle's root: devices "
		"will not count its signature\n",
		key, hex, timestamp ? "timestamp" : "targets");
}

/*
 * Signs @targets (the bundle's targets metadata, or a new one for it) with @signer and writes the
 * bundle at @path with the signed result; @b's payloads are copied as they are.
 */
static int sign_targets(const char *path, const SwuBundle *b, const uint8_t *targets, size_t size,
			Signer *signer)
{
	uint8_t id[SWU_KEY_ID_SIZE], sig[SWU_SIG_SIZE];
	SwuBuf payload = {}, signed_targets = {};
	int r;

	r = swu_signed_payload(swu_ctx, SWU_SIGNED_TARGETS, targets, size, &payload);
	if (r < 0)
		return log_error_errno(r, "Cannot read the targets metadata of '%s'", path);
	signer_key_id(signer, id);
	r = signer_sign(signer, payload.data, payload.size, sig);
	if (r >= 0) {
		r = swu_signed_add_signature(swu_ctx, SWU_SIGNED_TARGETS, targets, size, id, sig,
					     &signed_targets);
		if (r < 0)
			log_error_errno(r, "Cannot sign the targets metadata of '%s'", path);
	}
	if (r >= 0)
		r = bundle_rewrite(path, b, b->root, b->root_size, signed_targets.data,
				   signed_targets.size, NULL, NULL);
	if (r >= 0)
		warn_not_role_key(b, signer_name(signer), id, false);
	swu_buf_done(&payload);
	swu_buf_done(&signed_targets);
	return r;
}

const struct option verb_sign_bundle_options[] = {
	{ "bundle", required_argument, NULL, 'b' },
	SIGNER_OPTIONS("key"),
	{},
};

int verb_sign_bundle(int argc, char **argv)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(signer_freep) Signer *signer = NULL;
	_cleanup_close_ int fd = -EBADF;
	SignerArgs a = SIGNER_ARGS_INIT;
	const char *path = NULL;
	const SwuMetadataEntry *targets;
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_sign_bundle_options, NULL)) >= 0) {
		if (c == 'b') {
			path = optarg;
			continue;
		}
		r = signer_args_parse(&a, c, optarg);
		if (r <= 0)
			return r < 0 ? r : -EINVAL;
	}
	if (!path || optind != argc)
		return log_usage("sign-bundle needs --bundle and either --key or --signer with "
				 "--public-key");
	r = signer_args_check(&a, "sign-bundle", "key", /* required= */ true);
	if (r < 0)
		return r;
	r = signer_open(&a, &signer);
	if (r < 0)
		return r;
	r = bundle_open(path, &fd, &b);
	if (r < 0)
		return r;
	targets = swu_bundle_get_targets(b, "targets");
	if (!targets)
		return log_error_errno(-EBADMSG, "Bundle '%s' has no targets metadata", path);
	warn_no_compatible(b, path);
	return sign_targets(path, b, targets->data, targets->size, signer);
}

/* The version of the targets metadata @data, refusing a renewal to a lower one. */
static int renewed_version(const uint8_t *data, size_t size, bool explicit_version,
			   uint32_t *version)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	uint32_t current;
	int r;

	r = swu_targets_decode(swu_ctx, data, size, &s, &t);
	if (r < 0)
		return log_error_errno(r, "Cannot read the targets metadata");
	current = t->common_metadata ? t->common_metadata->version : 0;
	if (!explicit_version) {
		*version = current;
		return 0;
	}
	/* The floor refuses lower versions only: the same version reaches every device. */
	if (*version < current)
		return log_usage("--target-metadata-version %u is lower than the release's version "
				 "%u: devices that installed it would refuse the renewed one",
				 *version, current);
	return 0;
}

const struct option verb_renew_bundle_options[] = {
	{ "bundle", required_argument, NULL, 'b' },
	{ "expires", required_argument, NULL, 'e' },
	{ "target-metadata-version", required_argument, NULL, 'v' },
	SIGNER_OPTIONS("key"),
	{},
};

int verb_renew_bundle(int argc, char **argv)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(signer_freep) Signer *signer = NULL;
	_cleanup_close_ int fd = -EBADF;
	SignerArgs a = SIGNER_ARGS_INIT;
	const char *path = NULL;
	const SwuMetadataEntry *targets;
	char when[SWU_TIME_UTC_MAX];
	bool explicit_version = false;
	uint32_t version = 0;
	int64_t expires = 0;
	SwuBuf renewed = {};
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_renew_bundle_options, NULL)) >= 0) {
		switch (c) {
		case 'b':
			path = optarg;
			break;
		case 'e':
			if (parse_time(optarg, &expires) < 0 || expires == 0)
				return log_usage("invalid time '%s' (want RFC 3339, e.g. "
						 "2030-01-01T00:00:00Z)",
						 optarg);
			break;
		case 'v':
			if (parse_u32(optarg, &version) < 0)
				return log_usage("invalid version '%s'", optarg);
			explicit_version = true;
			break;
		default:
			r = signer_args_parse(&a, c, optarg);
			if (r <= 0)
				return r < 0 ? r : -EINVAL;
		}
	}
	if (!path || !expires || optind != argc)
		return log_usage("renew-bundle needs --bundle and --expires");
	if (expires <= (int64_t)swu_context_now(swu_ctx))
		return log_usage("--expires %s is not in the future: devices would refuse the "
				 "release at once",
				 swu_time_utc(expires, when, sizeof(when)));
	r = signer_args_check(&a, "renew-bundle", "key", /* required= */ false);
	if (r < 0)
		return r;
	/* The key first: a refused key or passphrase leaves the bundle as it was. */
	if (signer_args_given(&a) && (r = signer_open(&a, &signer)) < 0)
		return r;
	r = bundle_open(path, &fd, &b);
	if (r < 0)
		return r;
	targets = swu_bundle_get_targets(b, "targets");
	if (!targets)
		return log_error_errno(-EBADMSG, "Bundle '%s' has no targets metadata", path);
	r = renewed_version(targets->data, targets->size, explicit_version, &version);
	if (r < 0)
		return r;
	r = swu_targets_renew(swu_ctx, targets->data, targets->size, version, expires,
			      made_at(expires), &renewed);
	if (r < 0)
		log_error_errno(r, "Cannot renew the targets metadata of '%s'", path);
	else if (signer)
		r = sign_targets(path, b, renewed.data, renewed.size, signer);
	else {
		r = bundle_rewrite(path, b, b->root, b->root_size, renewed.data, renewed.size, NULL,
				   NULL);
		if (r >= 0)
			warn_signatures_dropped(path, targets);
	}
	swu_buf_done(&renewed);
	if (r < 0)
		return r;
	printf("Renewed %s: targets version %u, expires %s\n", path, version,
	       swu_time_utc(expires, when, sizeof(when)));
	return 0;
}

static int publish_blob(const SwuBundle *b, const SwuPayload *p, const SwuTarget *t,
			const char *dir)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	char hex[2 * SWU_SHA256_SIZE + 1];
	/* Hashed while copied: the blob on the server is exactly what was verified. */
	SwuPayloadSource src = { p->name, b->fd, p->offset, p->size, t->sha256 };
	struct stat st;
	int r;

	swu_hex(t->sha256, SWU_SHA256_SIZE, hex);
	if (asprintf(&path, "%s/blobs/%s", dir, hex) < 0)
		return -ENOMEM;
	/* Blobs are named by content and immutable: one already there is kept. */
	if (stat(path, &st) == 0 && (uint64_t)st.st_size == p->size)
		return 0;
	r = swu_tmpfile_open(path, 0644, &fd, &tmp);
	if (r < 0)
		return log_error_errno(r, "Cannot create '%s'", path);
	r = swu_payload_copy(swu_ctx, fd, &src);
	if (r >= 0)
		r = swu_tmpfile_commit(fd, tmp, path);
	else
		unlink(tmp);
	if (r < 0)
		return log_error_errno(r, "Cannot write '%s'", path);
	return 0;
}

#define INDEX_MAX (64u * 1024u * 1024u)

static const SwuPayload *find_payload(const SwuBundle *b, const char *name)
{
	for (size_t i = 0; i < b->n_payloads; i++)
		if (streq(b->payloads[i].name, name))
			return &b->payloads[i];
	return NULL;
}

/*
 * The channel's history: a line "VERSION NAME SHA256" for every image published with a chunk
 * index, oldest first. Patch stores are made from the images it names.
 */
#define HISTORY "history"

/* The @max most recent other images published as @name, newest first, as hex SHA-256s. */
static int history_images(const char *dir, const char *name, const char *skip, unsigned max,
			  char (*ret)[2 * SWU_SHA256_SIZE + 1], unsigned *ret_n)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_free_ char **lines = NULL;
	size_t size = 0, n_lines = 0;
	unsigned n = 0;
	char *save = NULL;
	int r;

	*ret_n = 0;
	if (asprintf(&path, "%s/" HISTORY, dir) < 0)
		return -ENOMEM;
	r = swu_read_file(path, 4 * 1024 * 1024, &data, &size);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	text = strndup((const char *)data, size);
	lines = calloc(size / 2 + 1, sizeof(char *));
	if (!text || !lines)
		return -ENOMEM;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[n_lines++] = l;
	while (n_lines > 0 && n < max) {
		char v[16], nm[256], hex[2 * SWU_SHA256_SIZE + 2];
		bool seen = false;

		int end = 0;

		/* Exactly three fields, the last a lowercase SHA-256: it becomes a file name. */
		if (sscanf(lines[--n_lines], "%15s %255s %65s%n", v, nm, hex, &end) != 3 ||
		    lines[n_lines][end] != '\0' || !streq(nm, name) ||
		    strlen(hex) != 2 * SWU_SHA256_SIZE ||
		    strspn(hex, "0123456789abcdef") != 2 * SWU_SHA256_SIZE || streq(hex, skip))
			continue;
		for (unsigned i = 0; i < n; i++)
			seen = seen || streq(ret[i], hex);
		if (!seen)
			memcpy(ret[n++], hex, sizeof(ret[0]));
	}
	*ret_n = n;
	return 0;
}

/*
 * Patch stores of image @t (payload @p, index @idx named @ihex) for the devices holding one of
 * the @max images last published as @name: chunks/<index>-from-<old image>, named by both and
 * immutable. An old blob that is missing, or does not match its name, gets none.
 */
static int publish_patches(const SwuBundle *b, const SwuPayload *p, const SwuTarget *t,
			   const SwuChunkIndex *idx, const char *ihex, const char *name,
			   const char *dir, int level, unsigned max)
{
	char olds[16][2 * SWU_SHA256_SIZE + 1], hex[2 * SWU_SHA256_SIZE + 1];
	unsigned n = 0;
	int r;

	swu_hex(t->sha256, SWU_SHA256_SIZE, hex);
	r = history_images(dir, name, hex, MIN(max, (unsigned)ELEMENTSOF(olds)), olds, &n);
	for (unsigned k = 0; r >= 0 && k < n; k++) {
		_cleanup_free_ char *path = NULL, *tmp = NULL, *blob = NULL;
		_cleanup_close_ int fd = -EBADF, old = -EBADF;
		uint8_t digest[SWU_SHA256_SIZE];
		char got[2 * SWU_SHA256_SIZE + 1];
		uint64_t size = 0;
		uint32_t referenced = 0;
		struct stat st;

		if (asprintf(&path, "%s/chunks/%s-from-%s", dir, ihex, olds[k]) < 0 ||
		    asprintf(&blob, "%s/blobs/%s", dir, olds[k]) < 0)
			return -ENOMEM;
		if (stat(path, &st) == 0)
			continue;
		r = swu_open_regular(blob, &old);
		if (r >= 0 && fstat(old, &st) < 0)
			r = -errno;
		if (r >= 0)
			r = swu_sha256_fd(old, 0, (uint64_t)st.st_size, digest);
		if (r < 0) {
			fprintf(stderr, "swu: warning: no patch store from '%s': %s\n", blob,
				strerror(-r));
			r = 0;
			continue;
		}
		swu_hex(digest, SWU_SHA256_SIZE, got);
		if (!streq(got, olds[k])) {
			fprintf(stderr,
				"swu: warning: no patch store from '%s': its SHA-256 is %s\n", blob,
				got);
			continue;
		}
		r = swu_tmpfile_open(path, 0644, &fd, &tmp);
		if (r < 0)
			return log_error_errno(r, "Cannot create '%s'", path);
		r = swu_patch_store_write(swu_ctx, b->fd, p->offset, idx, old, (uint64_t)st.st_size,
					  level, fd, &size, &referenced);
		if (r >= 0)
			r = swu_tmpfile_commit(fd, tmp, path);
		else
			unlink(tmp);
		if (r < 0)
			return log_error_errno(r, "Cannot write '%s'", path);
		printf("Patch store of '%s' for devices holding %.16s...: %llu bytes (%.1f%% of "
		       "%llu), %u of %u chunks with a reference\n",
		       name, olds[k], (unsigned long long)size,
		       t->length ? 100.0 * (double)size / (double)t->length : 0.0,
		       (unsigned long long)t->length, referenced, idx->n);
	}
	return r;
}

/* Appends the images of @b published with a chunk index to the channel's history. */
static int append_history(SwuVerifier *v, const SwuBundle *b, const char *dir)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	if (asprintf(&path, "%s/" HISTORY, dir) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_payloads; i++) {
		const char *ip = b->payloads[i].name;
		_cleanup_free_ char *name = NULL, *line = NULL;
		char hex[2 * SWU_SHA256_SIZE + 1], last[1][2 * SWU_SHA256_SIZE + 1];
		const SwuTarget *t;
		unsigned n = 0;
		int r;

		if (!endswith(ip, ".chunks") || !swu_verifier_find_target(v, ip))
			continue;
		name = strndup(ip, strlen(ip) - strlen(".chunks"));
		if (!name)
			return -ENOMEM;
		t = swu_verifier_find_target(v, name);
		if (!t)
			continue;
		swu_hex(t->sha256, SWU_SHA256_SIZE, hex);
		/* Published again: already the last line of its name. */
		r = history_images(dir, name, "", 1, last, &n);
		if (r < 0)
			return r;
		if (n == 1 && streq(last[0], hex))
			continue;
		if (fd < 0)
			fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			return log_error_errno(-errno, "Cannot open '%s'", path);
		if (asprintf(&line, "%u %s %s\n", swu_verifier_get_version(v), name, hex) < 0)
			return -ENOMEM;
		r = swu_write_all(fd, line, strlen(line));
		if (r < 0)
			return log_error_errno(r, "Cannot write '%s'", path);
	}
	return 0;
}

/*
 * The chunk store of target @t (whose index is @ip) as chunks/<SHA-256 of the index>: named by
 * the index, which fixes every chunk, so it is immutable like a blob. Then its patch stores from
 * the last @patches images published under its name.
 */
static int publish_store(SwuVerifier *v, const SwuBundle *b, const SwuPayload *ip, const char *dir,
			 int level, unsigned patches)
{
	_cleanup_(swu_chunk_index_freep) SwuChunkIndex *idx = NULL;
	_cleanup_free_ char *path = NULL, *tmp = NULL, *name = NULL;
	_cleanup_free_ uint8_t *index = NULL;
	_cleanup_close_ int fd = -EBADF;
	const SwuTarget *it = swu_verifier_find_target(v, ip->name), *t;
	const SwuPayload *p;
	char hex[2 * SWU_SHA256_SIZE + 1];
	uint64_t size = 0;
	struct stat st;
	size_t got = 0;
	int r;

	name = strndup(ip->name, strlen(ip->name) - strlen(".chunks"));
	if (!name)
		return -ENOMEM;
	t = swu_verifier_find_target(v, name);
	p = find_payload(b, name);
	if (!it || !t || !p)
		return 0; /* an index of nothing in this bundle: nothing to serve */
	/* An index over the cap is refused like any invalid one: a verdict on the bundle. */
	if (ip->size > INDEX_MAX)
		return log_error_errno(-EFBIG, "Chunk index '%s' is larger than %u bytes", ip->name,
				       INDEX_MAX);
	index = malloc(MAX(ip->size, (uint64_t)1));
	if (!index)
		return log_error_errno(-ENOMEM, "Cannot read chunk index '%s'", ip->name);
	r = swu_pread_full(b->fd, index, ip->size, ip->offset, &got);
	if (r >= 0 && got != ip->size)
		r = -EIO; /* the bundle shrank since it was indexed */
	if (r < 0)
		return log_error_errno(r, "Cannot read chunk index '%s'", ip->name);
	r = swu_chunk_index_parse(swu_ctx, index, ip->size, t->length, &idx);
	if (r < 0)
		return log_error_errno(r, "Chunk index '%s' is not valid", ip->name);
	swu_hex(it->sha256, SWU_SHA256_SIZE, hex);
	if (asprintf(&path, "%s/chunks/%s", dir, hex) < 0)
		return -ENOMEM;
	if (stat(path, &st) == 0)
		return publish_patches(b, p, t, idx, hex, name, dir, level, patches);
	r = swu_tmpfile_open(path, 0644, &fd, &tmp);
	if (r < 0)
		return log_error_errno(r, "Cannot create '%s'", path);
	r = swu_store_write(swu_ctx, b->fd, p->offset, idx, level, fd, &size);
	if (r >= 0)
		r = swu_tmpfile_commit(fd, tmp, path);
	else
		unlink(tmp);
	if (r < 0)
		return log_error_errno(r, "Cannot write '%s'", path);
	printf("Chunk store of '%s': %u chunks, %llu bytes (%.1f%% of %llu)\n", name, idx->n,
	       (unsigned long long)size, t->length ? 100.0 * (double)size / (double)t->length : 0.0,
	       (unsigned long long)t->length);
	return publish_patches(b, p, t, idx, hex, name, dir, level, patches);
}

const struct option verb_publish_options[] = { { "bundle", required_argument, NULL, 'b' },
					       { "dir", required_argument, NULL, 'd' },
					       { "compression-level", required_argument, NULL,
						 'l' },
					       { "patches", required_argument, NULL, 'p' },
					       {} };

int verb_publish(int argc, char **argv)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	int level = 19;
	unsigned patches = 2;
	char *end;
	_cleanup_free_ char *blobs = NULL, *meta = NULL, *chunks = NULL;
	_cleanup_close_ int fd = -EBADF, lock = -EBADF;
	const char *path = NULL, *dir = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_publish_options, NULL)) >= 0) {
		if (c == 'b')
			path = optarg;
		else if (c == 'd')
			dir = optarg;
		else if (c == 'l') {
			errno = 0;
			level = (int)strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || level < 1 || level > 19)
				return log_usage("--compression-level takes 1 to 19, not '%s'",
						 optarg);
		} else if (c == 'p') {
			unsigned long n;

			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || optarg[0] == '-' || n > 16)
				return log_usage("--patches takes 0 to 16, not '%s'", optarg);
			patches = (unsigned)n;
		} else
			return -EINVAL;
	}
	if (!path || !dir || optind != argc)
		return log_usage("publish needs --bundle and --dir");
	r = bundle_open(path, &fd, &b);
	if (r < 0)
		return r;
	/*
	 * Never publish a bundle that does not verify against itself: with its own root, as a device
	 * that trusts that root verifies it (rule 6), signatures and expiry included.
	 */
	r = swu_verifier_new(swu_ctx, NULL, 0, SWU_VERIFY_SELF, &v);
	if (r >= 0)
		r = swu_bundle_verify(b, v);
	if (r >= 0)
		r = check_self_verified(b);
	if (r < 0)
		return log_error_errno(r, "Refusing to publish '%s'", path);
	warn_expiring(v);
	warn_no_compatible(b, path);
	/* A root published once is immutable: refused before anything is written. */
	r = publish_roots(b, dir, /* write= */ false);
	if (r < 0)
		return log_error_errno(r, "Refusing to publish '%s'", path);
	if (asprintf(&blobs, "%s/blobs", dir) < 0 || asprintf(&meta, "%s/metadata.pb", dir) < 0 ||
	    asprintf(&chunks, "%s/chunks", dir) < 0)
		return -ENOMEM;
	r = swu_mkdir_p(blobs, 0755);
	if (r < 0)
		return log_error_errno(r, "Cannot create '%s'", blobs);
	r = swu_mkdir_p(chunks, 0755);
	if (r < 0)
		return log_error_errno(r, "Cannot create '%s'", chunks);

	/* Blobs first, metadata.pb last: a client never sees metadata naming a missing blob. */
	for (size_t i = 0; i < b->n_payloads; i++) {
		const SwuTarget *t = swu_verifier_find_target(v, b->payloads[i].name);

		if (!t)
			continue; /* unlisted payloads are never published */
		r = publish_blob(b, &b->payloads[i], t, dir);
		if (r < 0)
			return r;
		if (endswith(b->payloads[i].name, ".chunks")) {
			r = publish_store(v, b, &b->payloads[i], dir, level, patches);
			if (r < 0)
				return r;
		}
	}
	/* Every root before metadata.pb: a device that walks to its root finds each one. */
	r = publish_roots(b, dir, /* write= */ true);
	if (r < 0)
		return r;
	r = channel_lock(dir, &lock);
	if (r < 0)
		return r;
	r = write_channel_metadata(meta, b, b->timestamp, b->timestamp_size);
	if (r >= 0)
		r = append_history(v, b, dir);
	if (r < 0)
		return r;
	printf("Published version %u to %s\n", swu_verifier_get_version(v), dir);
	return 0;
}

const struct option verb_timestamp_options[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "bundle", required_argument, NULL, 'b' },
	{ "expires", required_argument, NULL, 'e' },
	{ "version", required_argument, NULL, 'v' },
	{ "initial-percent", required_argument, NULL, 'i' },
	SIGNER_OPTIONS("key"),
	{},
};

const struct option verb_rollout_options[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "percent", required_argument, NULL, 'p' },
	{ "start", required_argument, NULL, 's' },
	{ "halt", no_argument, NULL, 'H' },
	{ "resume", no_argument, NULL, 'R' },
	{ "expires", required_argument, NULL, 'e' },
	{ "version", required_argument, NULL, 'v' },
	SIGNER_OPTIONS("key"),
	{},
};

/* A lifetime: N followed by s, m, h or d (seconds, minutes, hours, days). */
static int parse_lifetime(const char *s, int64_t *ret)
{
	char *end;
	long long v;
	int64_t unit;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v <= 0)
		return -EINVAL;
	if (streq(end, "s"))
		unit = 1;
	else if (streq(end, "m"))
		unit = 60;
	else if (streq(end, "h"))
		unit = 3600;
	else if (streq(end, "d"))
		unit = 86400;
	else
		return -EINVAL;
	if (v > INT64_MAX / unit / 2)
		return -ERANGE;
	*ret = v * unit;
	return 0;
}

/* What a new timestamp says, besides the release it names. */
typedef struct StampArgs {
	const char *dir;
	const char *bundle; /* swu timestamp --bundle: a bundle file instead of a channel */
	uint32_t version;   /* at least this (0: none) */
	int64_t lifetime;   /* seconds (0: the old timestamp's) */
	int initial;   /* the percentage a release named for the first time starts at (-1: all) */
	bool rollout;  /* swu rollout: the fields below change the rollout */
	int percent;   /* -1: unchanged */
	int64_t start; /* -1: unchanged */
	int halt;      /* -1: unchanged, 0: resume, 1: halt */
} StampArgs;

#define STAMP_ARGS_INIT                                                                            \
	{                                                                                          \
		.initial = -1, .percent = -1, .start = -1, .halt = -1                              \
	}

/* The old timestamp of a channel: its version, lifetime, rollout and the release it named. */
typedef struct OldStamp {
	bool found;
	uint32_t version;
	int64_t lifetime; /* 0: unknown (no signed_at) */
	SwuRollout rollout;
	uint32_t targets_version; /* of the release it named */
} OldStamp;

static int decode_stamp(const char *where, const uint8_t *p, size_t n, OldStamp *ret)
{
	_cleanup_(swu_signed_timestamp_freep) SwuSignedTimestamp *os = NULL;
	_cleanup_(swu_timestamp_metadata_freep) SwuTimestampMetadata *ot = NULL;
	const Pw__SoftwareUpdate__CommonMetadata *c;
	int r;

	*ret = (OldStamp){};
	r = swu_timestamp_decode(swu_ctx, p, n, &os, &ot);
	if (r < 0)
		return log_error_errno(r, "Cannot read the timestamp of '%s'", where);
	c = ot->common_metadata;
	ret->found = true;
	ret->version = c ? c->version : 0;
	if (c && c->expires && c->signed_at && c->expires->seconds > c->signed_at->seconds)
		ret->lifetime = c->expires->seconds - c->signed_at->seconds;
	swu_timestamp_get_rollout(ot, &ret->rollout);
	if (ot->n_snapshot_metadata == 1)
		ret->targets_version = ot->snapshot_metadata[0]->version;
	return 0;
}

/*
 * The channel's last timestamp: metadata.pb's, or, once swu publish replaced metadata.pb with a
 * new release that carries none yet, the copy in timestamp.pb that swu timestamp keeps beside it.
 * The version is the higher of the two, so that it never goes back across a publish.
 */
static int old_stamp(const char *dir, const char *where, const SwuBundle *b, OldStamp *ret)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	size_t size = 0;
	OldStamp kept = {};
	int r;

	*ret = (OldStamp){};
	if (b->timestamp) {
		r = decode_stamp(where, b->timestamp, b->timestamp_size, ret);
		if (r < 0)
			return r;
	}
	if (!dir)
		return 0; /* a bundle file: its own timestamp only */
	if (asprintf(&path, "%s/timestamp.pb", dir) < 0)
		return -ENOMEM;
	r = swu_read_file(path, SWU_METADATA_MAX_DEFAULT, &data, &size);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	r = decode_stamp(path, data, size, &kept);
	if (r < 0)
		return r;
	if (!ret->found)
		*ret = kept;
	ret->version = MAX(ret->version, kept.version);
	return 0;
}

/*
 * The rollout of the new timestamp. The same release (targets version) keeps the one it had (a
 * renewal changes no device's mind); a release named for the first time starts at --initial-percent (none: every
 * device), or at 100% for swu rollout; swu rollout then applies its changes.
 */
static SwuRollout new_rollout(const StampArgs *a, const OldStamp *old, bool same_release)
{
	SwuRollout r = {};

	if (same_release)
		r = old->rollout;
	else if (a->initial >= 0)
		r = (SwuRollout){ .set = true, .percent = (uint32_t)a->initial };
	if (!a->rollout)
		return r;
	if (!r.set)
		r = (SwuRollout){ .set = true, .percent = 100 };
	if (a->percent >= 0) {
		r.percent = (uint32_t)a->percent;
		r.halted = false;
	}
	if (a->start >= 0)
		r.start = a->start;
	if (a->halt >= 0)
		r.halted = a->halt;
	return r;
}

/*
 * The timestamp of @b's metadata for @signer, naming @b's targets metadata, in @out. Its version
 * never goes back: the old timestamp's + 1, the current time in seconds when that is more (swu
 * publish writes metadata.pb without a timestamp, and a device refuses one older than it
 * verified), or @a->version when that is more still.
 */
static int make_timestamp(const char *where, const SwuBundle *b, const StampArgs *a, Signer *signer,
			  SwuBuf *out)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	const SwuMetadataEntry *targets = swu_bundle_get_targets(b, "targets");
	uint8_t sha[SWU_SHA256_SIZE], id[SWU_KEY_ID_SIZE], sig[SWU_SIG_SIZE];
	SwuBuf unsigned_ts = {}, payload = {};
	int64_t now = (int64_t)swu_context_now(swu_ctx);
	SwuTimestampSpec spec = { .version = a->version, .signed_at = now };
	OldStamp old;
	int r;

	if (!targets)
		return log_error_errno(-EBADMSG, "'%s' has no targets metadata named 'targets'",
				       where);
	r = swu_targets_decode(swu_ctx, targets->data, targets->size, &s, &t);
	if (r < 0)
		return log_error_errno(r, "Cannot read the targets metadata of '%s'", where);
	r = old_stamp(a->dir, where, b, &old);
	if (r < 0)
		return r;
	if (old.found && old.version >= spec.version) {
		if (old.version == UINT32_MAX)
			return log_error_errno(-ERANGE,
					       "the timestamp of '%s' has the last version", where);
		spec.version = old.version + 1;
	}
	spec.version = MAX(spec.version, (uint32_t)MIN(now, (int64_t)UINT32_MAX));
	if (!a->lifetime && !old.lifetime)
		return log_usage("'%s' has no timestamp whose lifetime could be kept: give "
				 "--expires",
				 where);
	spec.expires = now + (a->lifetime ?: old.lifetime);
	r = swu_sha256(s->serialized_targets_metadata.data, s->serialized_targets_metadata.len,
		       sha);
	if (r < 0)
		return r;
	spec.targets_version = t->common_metadata ? t->common_metadata->version : 0;
	/* The same release by version: a renewal (swu renew-bundle) keeps its rollout too. */
	spec.rollout =
		new_rollout(a, &old, old.found && old.targets_version == spec.targets_version);
	spec.targets_length = s->serialized_targets_metadata.len;
	spec.targets_sha256 = sha;
	r = swu_timestamp_create(&spec, &unsigned_ts);
	if (r >= 0)
		r = swu_signed_payload(swu_ctx, SWU_SIGNED_TIMESTAMP, unsigned_ts.data,
				       unsigned_ts.size, &payload);
	if (r >= 0) {
		signer_key_id(signer, id);
		r = signer_sign(signer, payload.data, payload.size, sig);
	}
	if (r >= 0)
		r = swu_signed_add_signature(swu_ctx, SWU_SIGNED_TIMESTAMP, unsigned_ts.data,
					     unsigned_ts.size, id, sig, out);
	swu_buf_done(&unsigned_ts);
	swu_buf_done(&payload);
	if (r < 0)
		return log_error_errno(r, "Cannot sign the timestamp of '%s'", where);
	warn_not_role_key(b, signer_name(signer), id, true);
	printf("Timestamp version %u of targets version %u, expires %s\n", spec.version,
	       spec.targets_version,
	       swu_time_utc(spec.expires, (char[SWU_TIME_UTC_MAX]){}, SWU_TIME_UTC_MAX));
	printf("Rollout: %s\n", rollout_text(&spec.rollout, (char[128]){}, 128));
	return 0;
}

/* Re-signs the timestamp of @a->dir's metadata.pb with the signer @sa names. */
static int stamp_channel(const StampArgs *a, SignerArgs *sa, const char *verb)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(signer_freep) Signer *signer = NULL;
	_cleanup_free_ char *meta = NULL, *kept = NULL;
	_cleanup_close_ int fd = -EBADF, lock = -EBADF;
	SwuBuf ts = {};
	int r;

	r = signer_args_check(sa, verb, "key", /* required= */ true);
	if (r < 0)
		return r;
	if (asprintf(&meta, "%s/metadata.pb", a->dir) < 0)
		return -ENOMEM;
	/* From the read of metadata.pb to the rename of the new one. */
	r = channel_lock(a->dir, &lock);
	if (r < 0)
		return r;
	r = bundle_open(meta, &fd, &b);
	if (r < 0)
		return r;
	r = signer_open(sa, &signer);
	if (r < 0)
		return r;
	r = make_timestamp(meta, b, a, signer, &ts);
	if (r >= 0)
		r = write_channel_metadata(meta, b, ts.data, ts.size);
	/* Its copy: the version survives the next publish, which writes metadata.pb without one. */
	if (r >= 0 && asprintf(&kept, "%s/timestamp.pb", a->dir) < 0)
		r = -ENOMEM;
	if (r >= 0) {
		r = swu_write_file_atomic(kept, ts.data, ts.size, 0644);
		if (r < 0)
			log_error_errno(r, "Cannot write '%s'", kept);
	}
	swu_buf_done(&ts);
	return r;
}

/*
 * Signs a timestamp into the bundle file @a->bundle (rewritten atomically, its payloads kept): a
 * release installed from a file (a recovery stick) on devices whose root declares the timestamp
 * role, which take no release without a fresh one. Its lifetime is how long the file may be used.
 */
static int stamp_bundle(const StampArgs *a, SignerArgs *sa)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(signer_freep) Signer *signer = NULL;
	_cleanup_close_ int fd = -EBADF;
	SwuBundle stamped;
	SwuBuf ts = {};
	int r;

	r = signer_args_check(sa, "timestamp", "key", /* required= */ true);
	if (r < 0)
		return r;
	r = bundle_open(a->bundle, &fd, &b);
	if (r < 0)
		return r;
	r = signer_open(sa, &signer);
	if (r < 0)
		return r;
	r = make_timestamp(a->bundle, b, a, signer, &ts);
	if (r >= 0) {
		/* The same bundle with the new timestamp (a view of @b: nothing of it is freed). */
		stamped = *b;
		stamped.timestamp = ts.data;
		stamped.timestamp_size = ts.size;
		r = bundle_rewrite(a->bundle, &stamped, b->root, b->root_size, NULL, 0, NULL, NULL);
	}
	swu_buf_done(&ts);
	return r;
}

/* The options both commands take: 1 when @c was one, 0 when not, <0 when it was wrong. */
static int stamp_option(StampArgs *a, SignerArgs *sa, int c, const char *arg)
{
	int r;

	switch (c) {
	case 'd':
		a->dir = arg;
		return 1;
	case 'b':
		a->bundle = arg;
		return 1;
	case 'e':
		if (parse_lifetime(arg, &a->lifetime) < 0)
			return log_usage("--expires takes a lifetime such as 1d, 12h or 30m, not "
					 "'%s'",
					 arg);
		return 1;
	case 'v':
		if (parse_u32(arg, &a->version) < 0 || a->version == 0)
			return log_usage("invalid version '%s'", arg);
		return 1;
	default:
		r = signer_args_parse(sa, c, arg);
		return r == 0 ? -EINVAL : r;
	}
}

/* A percentage, 0 to 100. */
static int parse_percent(const char *opt, const char *arg, int *ret)
{
	uint32_t v;

	if (parse_u32(arg, &v) < 0 || v > 100)
		return log_usage("%s takes a percentage from 0 to 100, not '%s'", opt, arg);
	*ret = (int)v;
	return 0;
}

int verb_timestamp(int argc, char **argv)
{
	StampArgs a = STAMP_ARGS_INIT;
	SignerArgs sa = SIGNER_ARGS_INIT;
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_timestamp_options, NULL)) >= 0) {
		if (c == 'i')
			r = parse_percent("--initial-percent", optarg, &a.initial);
		else
			r = stamp_option(&a, &sa, c, optarg);
		if (r < 0)
			return r;
	}
	if (!a.dir == !a.bundle || !a.lifetime || optind != argc)
		return log_usage("timestamp needs --dir or --bundle, and --expires");
	if (a.bundle)
		return stamp_bundle(&a, &sa);
	return stamp_channel(&a, &sa, "timestamp");
}

int verb_rollout(int argc, char **argv)
{
	StampArgs a = STAMP_ARGS_INIT;
	SignerArgs sa = SIGNER_ARGS_INIT;
	int c, r;

	a.rollout = true;
	while ((c = getopt_long(argc, argv, "", verb_rollout_options, NULL)) >= 0) {
		switch (c) {
		case 'p':
			r = parse_percent("--percent", optarg, &a.percent);
			break;
		case 's':
			r = parse_time(optarg, &a.start);
			if (r < 0)
				return log_usage("invalid time '%s' (want RFC 3339, e.g. "
						 "2030-01-01T00:00:00Z)",
						 optarg);
			break;
		case 'H':
		case 'R':
			if (a.halt >= 0)
				return log_usage("--halt and --resume exclude each other");
			a.halt = c == 'H';
			r = 0;
			break;
		default:
			r = stamp_option(&a, &sa, c, optarg);
		}
		if (r < 0)
			return r;
	}
	if (!a.dir || optind != argc)
		return log_usage("rollout needs --dir");
	if (a.percent < 0 && a.start < 0 && a.halt < 0)
		return log_usage("rollout needs --percent, --start, --halt or --resume");
	if (a.percent >= 0 && a.halt == 1)
		return log_usage("--percent resumes a halted rollout: not with --halt");
	return stamp_channel(&a, &sa, "rollout");
}
