/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "metadata.h"
#include "swu.h"
#include "text.h"

const struct option verb_generate_key_options[] = { PASSPHRASE_OPTIONS, {} };

int verb_generate_key(int argc, char **argv)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(secret_freep) char *passphrase = NULL;
	SignerArgs a = SIGNER_ARGS_INIT;
	uint8_t id[SWU_KEY_ID_SIZE];
	char hex[2 * SWU_KEY_ID_SIZE + 1];
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_generate_key_options, NULL)) >= 0) {
		r = signer_args_parse(&a, c, optarg);
		if (r <= 0)
			return r < 0 ? r : -EINVAL;
	}
	if (optind != argc - 1)
		return log_usage("generate-key takes exactly one PATH");
	if (a.passphrase_file && a.passphrase_fd >= 0)
		return log_usage("give one of --passphrase-file and --passphrase-fd");
	if (a.passphrase_file || a.passphrase_fd >= 0) {
		r = secret_read(a.passphrase_file, a.passphrase_fd, "passphrase", &passphrase);
		if (r < 0)
			return r;
	}
	r = swu_key_generate(&key);
	if (r < 0)
		return log_error_errno(r, "Cannot generate a key");
	r = swu_key_save_pem(key, argv[optind], passphrase);
	if (r < 0)
		return log_error_errno(r, "Cannot write key '%s'", argv[optind]);
	(void)swu_key_id_of(key, id);
	swu_hex(id, sizeof(id), hex);
	printf("Wrote %s%s and %s.pub (key id %s)\n", argv[optind],
	       passphrase ? " (encrypted)" : "", argv[optind], hex);
	return 0;
}

static int load_keys(char **paths, size_t n, bool private, EVP_PKEY **keys)
{
	for (size_t i = 0; i < n; i++) {
		int r = swu_key_load_pem(swu_ctx, paths[i], private, &keys[i]);

		if (r < 0)
			return log_error_errno(r, "Cannot load key");
	}
	return 0;
}

static void free_keys(EVP_PKEY **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i]);
}

/*
 * The version of a root that replaces @previous: one more, or the explicit @version when it is
 * greater. Devices accept only strictly greater versions (a different root at the same version
 * would let old bundles undo a revocation), so anything else is refused here already.
 */
static int next_version(const char *previous, bool explicit_version, uint32_t *version)
{
	_cleanup_free_ uint8_t *data = NULL;
	uint32_t prev;
	size_t size;
	int r;

	r = read_metadata(previous, &data, &size);
	if (r < 0)
		return r;
	prev = swu_root_version(swu_ctx, data, size);
	if (prev == 0)
		return log_error_errno(-EBADMSG, "'%s' is no root metadata with a version",
				       previous);
	if (!explicit_version) {
		if (prev == UINT32_MAX)
			return log_error_errno(-ERANGE, "'%s' has the last possible version",
					       previous);
		*version = prev + 1;
		return 0;
	}
	if (*version <= prev)
		return log_usage("--version %u is not greater than version %u of '%s': devices "
				 "refuse such a root",
				 *version, prev, previous);
	return 0;
}

const struct option verb_create_root_metadata_options[] = {
	{ "append-root-key", required_argument, NULL, 'r' },
	{ "append-targets-key", required_argument, NULL, 't' },
	{ "append-timestamp-key", required_argument, NULL, 's' },
	{ "timestamp-threshold", required_argument, NULL, 'S' },
	{ "version", required_argument, NULL, 'v' },
	{ "root-threshold", required_argument, NULL, 'R' },
	{ "targets-threshold", required_argument, NULL, 'T' },
	{ "previous", required_argument, NULL, 'p' },
	{ "out", required_argument, NULL, 'o' },
	{}
};

int verb_create_root_metadata(int argc, char **argv)
{
	char *root_paths[64], *targets_paths[64], *timestamp_paths[64];
	EVP_PKEY *root_keys[64] = {}, *targets_keys[64] = {}, *timestamp_keys[64] = {};
	size_t n_root = 0, n_targets = 0, n_timestamp = 0;
	uint32_t version = 1, root_thr = 1, targets_thr = 1, timestamp_thr = 1;
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	const char *out = NULL, *previous = NULL;
	bool explicit_version = false;
	SwuBuf buf = {};
	int c, r;

	while ((c = getopt_long(argc, argv, "o:", verb_create_root_metadata_options, NULL)) >= 0) {
		switch (c) {
		case 'r':
		case 't':
		case 's': {
			size_t *n = c == 'r' ? &n_root : c == 't' ? &n_targets : &n_timestamp;
			char **paths = c == 'r'	  ? root_paths
				       : c == 't' ? targets_paths
						  : timestamp_paths;

			if (*n >= ELEMENTSOF(root_paths))
				return log_usage("too many keys");
			paths[(*n)++] = optarg;
			break;
		}
		case 'v':
		case 'R':
		case 'T':
		case 'S':
			if (parse_u32(optarg, c == 'v'	 ? &version
					      : c == 'R' ? &root_thr
					      : c == 'T' ? &targets_thr
							 : &timestamp_thr) < 0)
				return log_usage("invalid number '%s'", optarg);
			explicit_version = explicit_version || c == 'v';
			break;
		case 'p':
			previous = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!out || n_root == 0 || n_targets == 0 || optind != argc)
		return log_usage("create-root-metadata needs --append-root-key, "
				 "--append-targets-key and -o");
	if (previous) {
		r = next_version(previous, explicit_version, &version);
		if (r < 0)
			return r;
	}

	r = load_keys(root_paths, n_root, false, root_keys);
	if (r >= 0)
		r = load_keys(targets_paths, n_targets, false, targets_keys);
	if (r >= 0)
		r = load_keys(timestamp_paths, n_timestamp, false, timestamp_keys);
	if (r >= 0) {
		SwuRootSpec spec = {
			.root_keys = root_keys,
			.n_root = n_root,
			.targets_keys = targets_keys,
			.n_targets = n_targets,
			.timestamp_keys = timestamp_keys,
			.n_timestamp = n_timestamp,
			.version = version,
			.root_threshold = root_thr,
			.targets_threshold = targets_thr,
			.timestamp_threshold = timestamp_thr,
		};

		r = swu_root_create(&spec, &buf);
		if (r < 0)
			log_error_errno(r, "Cannot build root metadata");
	}
	free_keys(root_keys, n_root);
	free_keys(targets_keys, n_targets);
	free_keys(timestamp_keys, n_timestamp);
	/* Refuse to write a root no device would accept (threshold above key count, shared keys). */
	if (r >= 0) {
		r = swu_root_decode(swu_ctx, buf.data, buf.size, &s, &rm);
		if (r >= 0)
			r = swu_root_check_sound(swu_ctx, rm, "new root");
		if (r < 0)
			log_error_errno(r, "Refusing to write root metadata");
	}
	if (r >= 0) {
		r = swu_write_file_atomic(out, buf.data, buf.size, 0644);
		if (r < 0)
			log_error_errno(r, "Cannot write '%s'", out);
	}
	swu_buf_done(&buf);
	return r;
}

const struct option verb_sign_root_metadata_options[] = {
	{ "root-metadata", required_argument, NULL, 'm' },
	SIGNER_OPTIONS("root-key"),
	{},
};

int verb_sign_root_metadata(int argc, char **argv)
{
	_cleanup_(signer_freep) Signer *signer = NULL;
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	SignerArgs a = SIGNER_ARGS_INIT;
	const char *path = NULL;
	uint8_t id[SWU_KEY_ID_SIZE], sig[SWU_SIG_SIZE];
	SwuBuf out = {};
	size_t size;
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_sign_root_metadata_options, NULL)) >= 0) {
		if (c == 'm') {
			path = optarg;
			continue;
		}
		r = signer_args_parse(&a, c, optarg);
		if (r <= 0)
			return r < 0 ? r : -EINVAL;
	}
	if (!path || optind != argc)
		return log_usage("sign-root-metadata needs --root-metadata and --root-key or "
				 "--signer");
	r = signer_args_check(&a, "sign-root-metadata", "root-key", /* required= */ true);
	if (r < 0)
		return r;
	r = read_metadata(path, &data, &size);
	if (r < 0)
		return r;
	r = swu_root_decode(swu_ctx, data, size, &s, &rm);
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	r = signer_open(&a, &signer);
	if (r < 0)
		return r;
	signer_key_id(signer, id);
	/* Rule 2: a rotated root needs the previous root's keys too, and this is how they sign. */
	if (!requirement_lists_key(rm->root_signature_requirement, id))
		fprintf(stderr,
			"swu: note: '%s' is not a root key of this metadata: its signature counts "
			"for "
			"devices that trust a previous root listing it (see inspect-root-metadata "
			"--previous)\n",
			signer_name(signer));
	r = signer_sign(signer, s->serialized_root_metadata.data, s->serialized_root_metadata.len,
			sig);
	if (r < 0)
		return r;
	r = swu_signed_add_signature(swu_ctx, SWU_SIGNED_ROOT, data, size, id, sig, &out);
	if (r >= 0)
		r = swu_write_file_atomic(path, out.data, out.size, 0644);
	swu_buf_done(&out);
	if (r < 0)
		return log_error_errno(r, "Cannot write '%s'", path);
	return 0;
}

/* "<prefix><key id in hex><suffix>": all of it, whatever its length (a cut one names another key). */
static void print_key_id_as(const char *prefix, const ProtobufCBinaryData *id, const char *suffix)
{
	fputs(prefix, stdout);
	for (size_t i = 0; i < id->len; i++)
		printf("%02x", id->data[i]);
	fputs(suffix, stdout);
	putchar('\n');
}

static void print_key_id(const char *prefix, const ProtobufCBinaryData *id)
{
	print_key_id_as(prefix, id, "");
}

static void print_requirement(const char *role, const SwuRequirement *req)
{
	if (!req) {
		printf("  %s: no requirement\n", role);
		return;
	}
	printf("  %s: threshold %u of %zu keys\n", role, req->threshold, req->n_key_ids);
	for (size_t i = 0; i < req->n_key_ids; i++)
		print_key_id("    key ", &req->key_ids[i]);
}

static uint32_t root_version(const SwuRootMetadata *rm)
{
	return rm->common_metadata ? rm->common_metadata->version : 0;
}

/* How many keys of @req (in @keys) signed @s against its threshold, then each key's status. */
static int print_signers(const char *what, const SwuRootMetadata *keys, const SwuRequirement *req,
			 const SwuSignedRoot *s)
{
	const ProtobufCBinaryData *msg = &s->serialized_root_metadata;

	return print_threshold(what, "root key", keys, req, msg->data, msg->len, s->signatures,
			       s->n_signatures);
}

/*
 * Rule 2 from the root in @prev_path to this one (@data, decoded as @s and @rm): the device's
 * verdict, then every key of both root thresholds (the previous root's, which authorises the
 * rotation, and its own) with its signature's status. Returns the verdict.
 */
static int inspect_rotation(const char *prev_path, const uint8_t *data, size_t size,
			    const SwuSignedRoot *s, const SwuRootMetadata *rm)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *ps = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *prm = NULL;
	_cleanup_free_ uint8_t *prev = NULL;
	size_t prev_size;
	int r, verdict;

	r = read_metadata(prev_path, &prev, &prev_size);
	if (r < 0)
		return r;
	r = swu_root_decode(swu_ctx, prev, prev_size, &ps, &prm);
	if (r >= 0)
		r = swu_verifier_new(swu_ctx, prev, prev_size, /* flags= */ 0, &v);
	if (r < 0)
		return log_error_errno(r, "Cannot use previous root metadata '%s'", prev_path);
	if (swu_verifier_is_trusted_root(v, data, size)) {
		printf("'%s' is the same root: no rotation\n", prev_path);
		return 0;
	}
	verdict = swu_verifier_check_root(v, data, size);
	if (verdict < 0 && !swu_error_is_rejection(verdict))
		return log_error_errno(verdict, "Cannot check the rotation from '%s'", prev_path);
	printf("Rotation from '%s' (version %u) to version %u: ", prev_path, root_version(prm),
	       root_version(rm));
	if (verdict < 0)
		printf("not valid: %s\n", swu_context_get_failure(swu_ctx)->message);
	else
		printf("valid\n");
	r = print_signers("previous root's root keys", prm, prm->root_signature_requirement, s);
	if (r >= 0)
		r = print_signers("its own root keys", rm, rm->root_signature_requirement, s);
	if (r < 0)
		return log_error_errno(r, "Cannot count the signatures");
	return verdict;
}

const struct option verb_inspect_root_metadata_options[] = {
	{ "previous", required_argument, NULL, 'p' }, {}
};

int verb_inspect_root_metadata(int argc, char **argv)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	const char *path, *previous = NULL;
	char when[SWU_TIME_UTC_MAX];
	unsigned valid = 0;
	size_t size;
	int c, r;

	while ((c = getopt_long(argc, argv, "", verb_inspect_root_metadata_options, NULL)) >= 0) {
		if (c == 'p')
			previous = optarg;
		else
			return -EINVAL;
	}
	if (optind != argc - 1)
		return log_usage("inspect-root-metadata takes exactly one file");
	path = argv[optind];
	r = read_metadata(path, &data, &size);
	if (r < 0)
		return r;
	r = swu_root_decode(swu_ctx, data, size, &s, &rm);
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	printf("Root metadata %s\n", path);
	printf("  role: %s\n  spec version: %s\n  version: %u\n",
	       rm->common_metadata && rm->common_metadata->role ? rm->common_metadata->role : "",
	       rm->common_metadata && rm->common_metadata->spec_version
		       ? rm->common_metadata->spec_version
		       : "",
	       root_version(rm));
	if (rm->common_metadata && rm->common_metadata->expires)
		printf("  expires: %s\n",
		       swu_time_utc(rm->common_metadata->expires->seconds, when, sizeof(when)));
	print_requirement("root", rm->root_signature_requirement);
	print_requirement("targets", rm->targets_signature_requirement);
	/* Only a root that declares the role: devices then require a timestamp (swu timestamp). */
	if (swu_requirement_declared(rm->timestamp_signature_requirement))
		print_requirement("timestamp", rm->timestamp_signature_requirement);
	(void)swu_signatures_count(swu_ctx, rm, rm->root_signature_requirement,
				   s->serialized_root_metadata.data,
				   s->serialized_root_metadata.len, s->signatures, s->n_signatures,
				   &valid);
	printf("  signatures: %zu (%u valid by its own root keys)\n", s->n_signatures, valid);
	for (size_t i = 0; i < s->n_signatures; i++)
		print_key_id("    by ", &s->signatures[i]->key_id);
	r = swu_root_check_sound(swu_ctx, rm, "root");
	if (r < 0)
		return log_error_errno(r, "Root metadata is not sound");
	if (previous)
		return inspect_rotation(previous, data, size, s, rm);
	/* A root made in a ceremony: which of its own root keys signed, which it still lacks. */
	r = print_signers("its own root keys", rm, rm->root_signature_requirement, s);
	if (r < 0)
		return log_error_errno(r, "Cannot count the signatures");
	return 0;
}
