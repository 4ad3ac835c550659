/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "swu.h"

typedef struct VerifyArgs {
	const char *bundle;
	const char *root;
	const char *manifest;
	const char *compatible;
	const char *root_out;
	const char *out;
	bool self;
} VerifyArgs;

const struct option verb_verify_bundle_options[] = { { "bundle", required_argument, NULL, 'b' },
						     { "trusted-root-metadata", required_argument,
						       NULL, 't' },
						     { "self", no_argument, NULL, 's' },
						     { "manifest", required_argument, NULL, 'm' },
						     { "compatible", required_argument, NULL, 'c' },
						     { "root-out", required_argument, NULL, 'r' },
						     {} };

const struct option verb_export_manifest_options[] = {
	{ "bundle", required_argument, NULL, 'b' },
	{ "trusted-root-metadata", required_argument, NULL, 't' },
	{ "manifest", required_argument, NULL, 'm' },
	{ "compatible", required_argument, NULL, 'c' },
	{ "out", required_argument, NULL, 'o' },
	{}
};

static int parse_args(int argc, char **argv, bool export, VerifyArgs *a)
{
	int c;

	while ((c = getopt_long(argc, argv, export ? "o:" : "",
				export ? verb_export_manifest_options : verb_verify_bundle_options,
				NULL)) >= 0) {
		switch (c) {
		case 'b':
			a->bundle = optarg;
			break;
		case 't':
			a->root = optarg;
			break;
		case 's':
			a->self = true;
			break;
		case 'm':
			a->manifest = optarg;
			break;
		case 'c':
			a->compatible = optarg;
			break;
		case 'r':
			a->root_out = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || !a->bundle)
		return log_usage("--bundle is required");
	/* Self-verification is never a default: the caller says which anchor to trust. */
	if (!!a->root == a->self)
		return log_usage("give exactly one of --trusted-root-metadata ROOT and --self");
	if (export && !a->out)
		return log_usage("export-manifest needs --trusted-root-metadata and -o");
	if (a->self && a->root_out)
		return log_usage("--root-out needs --trusted-root-metadata");
	return 0;
}

static int save_new_root(const SwuVerifier *v, const char *path)
{
	const uint8_t *root;
	size_t size;
	int r;

	root = swu_verifier_get_new_root(v, &size);
	if (!root || !path)
		return 0;
	r = swu_write_file_atomic(path, root, size, 0644);
	if (r < 0)
		return log_error_errno(r, "Cannot write '%s'", path);
	return 0;
}

static int run(int argc, char **argv, bool export)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_free_ uint8_t *root = NULL, *manifest = NULL, *out = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t root_size = 0, manifest_size = 0, out_size = 0;
	VerifyArgs a = {};
	int r, k;

	r = parse_args(argc, argv, export, &a);
	if (r < 0)
		return r;
	if (a.root && (r = read_metadata(a.root, &root, &root_size)) < 0)
		return r;
	if (a.manifest && (r = read_metadata(a.manifest, &manifest, &manifest_size)) < 0)
		return r;
	r = bundle_open(a.bundle, &fd, &b);
	if (r < 0)
		return r;

	r = swu_verifier_new(swu_ctx, root, root_size, a.self ? SWU_VERIFY_SELF : 0, &v);
	if (r < 0)
		return log_error_errno(r, "Cannot use trusted root metadata '%s'", a.root);
	if (manifest && (r = swu_verifier_set_manifest(v, manifest, manifest_size)) < 0)
		return log_error_errno(r, "Cannot use manifest '%s'", a.manifest);
	if (a.compatible && (r = swu_verifier_set_compatible(v, a.compatible)) < 0)
		return log_error_errno(r, "Cannot set compatible");

	r = swu_bundle_verify(b, v);
	if (r >= 0 && a.self)
		r = check_self_verified(b);
	/* A root that passed rule 2 is kept even when a later rule rejects the bundle. */
	k = save_new_root(v, a.root_out);
	if (r < 0)
		return log_error_errno(r, "Bundle '%s' rejected", a.bundle);
	if (k < 0)
		return k;

	if (export) {
		r = swu_verifier_build_manifest(v, &out, &out_size);
		if (r >= 0)
			r = swu_write_file_atomic(a.out, out, out_size, 0644);
		if (r < 0)
			return log_error_errno(r, "Cannot write manifest '%s'", a.out);
		printf("Wrote manifest of version %u to %s\n", swu_verifier_get_version(v), a.out);
		return 0;
	}
	printf("Bundle %s verified%s: targets version %u\n", a.bundle,
	       a.self ? " against itself" : "", swu_verifier_get_version(v));
	if (!a.compatible && !a.self)
		printf("(no --compatible given: hardware compatibility not checked)\n");
	return 0;
}

int verb_verify_bundle(int argc, char **argv)
{
	return run(argc, argv, false);
}

int verb_export_manifest(int argc, char **argv)
{
	return run(argc, argv, true);
}
