/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* swu: the release tool's commands, each in the file of its concern (swu-keys.c, swu-bundle.c,
 * swu-inspect.c, swu-verify.c, swu-channel.c), on the helpers of swu-util.c. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "swu.h"

typedef struct Verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const struct option *options; /* what run() parses: the usage names each of them */
	const char *usage;
	const char *summary;
} Verb;

static const Verb verbs[] = {
	{ "generate-key", verb_generate_key, verb_generate_key_options,
	  "[--passphrase-file FILE | --passphrase-fd FD] PATH",
	  "Write a new ECDSA P-256 key: PATH (PKCS#8 PEM, mode 0600; encrypted with AES-256 under\n"
	  "the passphrase, the first line of FILE or of what FD reads) and PATH.pub." },
	{ "create-root-metadata", verb_create_root_metadata, verb_create_root_metadata_options,
	  "--append-root-key PUB... --append-targets-key PUB...\n"
	  "[--append-timestamp-key PUB... [--timestamp-threshold N]]\n"
	  "[--version N | --previous ROOT] [--root-threshold N] [--targets-threshold N] -o OUT",
	  "Write unsigned root metadata (version and thresholds default to 1). --previous ROOT:\n"
	  "the root this one replaces; the version is ROOT's + 1, and an explicit --version must\n"
	  "be greater (devices refuse a different root at the same version). Timestamp keys\n"
	  "declare the timestamp role: devices then require a fresh timestamp, signed online, "
	  "with\n"
	  "every release (swu timestamp)." },
	{ "sign-root-metadata", verb_sign_root_metadata, verb_sign_root_metadata_options,
	  "--root-metadata F (--root-key KEY | --signer CMD --public-key PUB)\n"
	  "[--passphrase-file FILE | --passphrase-fd FD] [--pin-file FILE]",
	  "Add KEY's signature (KEY: a key file, or a PKCS#11 URI pkcs11:token=...;object=...).\n"
	  "A rotated root needs the previous root's threshold and its own." },
	{ "inspect-root-metadata", verb_inspect_root_metadata, verb_inspect_root_metadata_options,
	  "[--previous ROOT] F",
	  "Print root metadata and which of its root keys signed it, how many more it needs; with\n"
	  "--previous, whether the rotation from ROOT is valid and which signatures it lacks." },
	{ "merge-signatures", verb_merge_signatures, verb_merge_signatures_options,
	  "-o OUT COPY...",
	  "Merge the signatures of copies of one root metadata, or of one bundle, each signed on\n"
	  "its own (a threshold ceremony). Copies of other content are refused." },
	{ "create-empty-bundle", verb_create_empty_bundle, verb_create_empty_bundle_options,
	  "[--target-metadata-version N] [--compatible STR]...\n"
	  "[--expires RFC3339] BUNDLE",
	  "Write a bundle with empty targets metadata (--expires also takes @SECONDS)." },
	{ "add-root-metadata-to-bundle", verb_add_root_metadata_to_bundle,
	  verb_add_root_metadata_to_bundle_options,
	  "--append-root-metadata F --bundle B [--root-chain DIR]",
	  "Put root metadata (a rotation, or the same root) into the bundle. --root-chain DIR:\n"
	  "also carry the roots of DIR/*.pb older than F, so devices trusting any of them\n"
	  "reach F one rotation at a time." },
	{ "add-file-to-bundle", verb_add_file_to_bundle, verb_add_file_to_bundle_options,
	  "--bundle B --file F [--new-name NAME] [--replace]\n"
	  "[--chunk-index[=auto|block|byte]]",
	  "Add F as target NAME (default: its stem). --chunk-index adds NAME.chunks for delta\n"
	  "updates. The targets metadata changes: its signatures are dropped." },
	{ "sign-bundle", verb_sign_bundle, verb_sign_bundle_options,
	  "--bundle B (--key KEY | --signer CMD --public-key PUB)\n"
	  "[--passphrase-file FILE | --passphrase-fd FD] [--pin-file FILE]",
	  "Sign the targets metadata with KEY (a key file, or a PKCS#11 URI), or with CMD, which\n"
	  "reads the bytes to sign and prints a signature by PUB (DER or raw)." },
	{ "renew-bundle", verb_renew_bundle, verb_renew_bundle_options,
	  "--bundle B --expires RFC3339 [--target-metadata-version N]\n"
	  "[--key KEY | --signer CMD --public-key PUB]\n"
	  "[--passphrase-file FILE | --passphrase-fd FD] [--pin-file FILE]",
	  "Give a release a new expiry without rebuilding it: the targets metadata gets --expires\n"
	  "(and a higher version only if asked), its payloads stay, and it is signed with KEY\n"
	  "(without one, its signatures are dropped: sign it, or merge a ceremony's copies)." },
	{ "inspect-bundle", verb_inspect_bundle, verb_inspect_bundle_options, "B [--json]",
	  "Print root and targets metadata, signatures and payloads; with a root, which targets\n"
	  "keys signed and how many more its targets threshold needs." },
	{ "verify-bundle", verb_verify_bundle, verb_verify_bundle_options,
	  "--bundle B (--trusted-root-metadata ROOT | --self) [--manifest M]\n"
	  "[--compatible STR] [--root-out F]",
	  "Verify as a device with ROOT would; --self: as one with the bundle's own root." },
	{ "export-manifest", verb_export_manifest, verb_export_manifest_options,
	  "--bundle B --trusted-root-metadata ROOT [--manifest M]\n"
	  "[--compatible STR] -o M",
	  "Verify, then write the manifest a device keeps after installing B." },
	{ "publish", verb_publish, verb_publish_options,
	  "--bundle B --dir DIR [--compression-level 1-19] [--patches N]",
	  "Lay out B for a static HTTP server, if it verifies against itself; patch stores\n"
	  "for the devices holding the last N images (default 2)." },
	{ "timestamp", verb_timestamp, verb_timestamp_options,
	  "(--dir DIR | --bundle B) --expires LIFETIME [--version N] [--initial-percent P]\n"
	  "(--key KEY | --signer CMD --public-key PUB)\n"
	  "[--passphrase-file FILE | --passphrase-fd FD] [--pin-file FILE]",
	  "Sign a new timestamp of DIR's metadata.pb with the online timestamp key, expiring\n"
	  "LIFETIME from now (1d, 12h, 30m): devices whose root declares the timestamp role\n"
	  "take no release once it expires. The version never goes back: the old timestamp's + 1,\n"
	  "the time in seconds, or N, whichever is highest. The release keeps its rollout; one\n"
	  "named for the first time starts at P percent (default: every device). --bundle B:\n"
	  "into the bundle file B instead, for an install from a file (a recovery stick)." },
	{ "rollout", verb_rollout, verb_rollout_options,
	  "--dir DIR (--percent P | --start TIME | --halt | --resume)... [--expires LIFETIME]\n"
	  "[--version N] (--key KEY | --signer CMD --public-key PUB)\n"
	  "[--passphrase-file FILE | --passphrase-fd FD] [--pin-file FILE]",
	  "Stage the release of DIR: re-sign its timestamp so that only P percent of devices\n"
	  "install it by themselves (--percent also resumes), none before TIME, or none at all\n"
	  "(--halt). The timestamp keeps its lifetime unless --expires gives another." },
	{ "verify-channel", verb_verify_channel, verb_verify_channel_options,
	  "(--trusted-root-metadata ROOT | --self) [--manifest M] [--compatible STR]\n"
	  "[--list] DIR",
	  "Check a published channel as a device would (a directory: mirror a server's first)." },
};

/* Whether @usage holds @token as a whole word ("--self", not part of "--self-test"). */
static bool usage_names(const char *usage, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = strstr(usage, token); p; p = strstr(p + 1, token)) {
		bool start = p == usage || !(isalnum((unsigned char)p[-1]) || p[-1] == '-');
		bool end = !(isalnum((unsigned char)p[n]) || p[n] == '-');

		if (start && end)
			return true;
	}
	return false;
}

static const struct option *find_option(const Verb *v, const char *name, size_t n)
{
	for (const struct option *o = v->options; o->name; o++)
		if (strlen(o->name) == n && strncmp(o->name, name, n) == 0)
			return o;
	return NULL;
}

/*
 * The usage is the list of what the command takes: every option run() parses is in it (as --NAME,
 * or -C for a short form), and every --NAME in it is parsed. A mismatch is a bug of swu, said on
 * stderr so that tests catch it.
 */
static bool usage_complete(const Verb *v)
{
	bool ok = true;

	for (const struct option *o = v->options; o->name; o++) {
		char lng[64], shrt[3] = { '-', (char)o->val, 0 };

		snprintf(lng, sizeof(lng), "--%s", o->name);
		if (usage_names(v->usage, lng) || (isalpha(o->val) && usage_names(v->usage, shrt)))
			continue;
		fprintf(stderr, "swu: the usage of '%s' does not list %s, which it takes\n",
			v->name, lng);
		ok = false;
	}
	for (const char *p = strstr(v->usage, "--"); p; p = strstr(p + 2, "--")) {
		size_t n = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");

		if (find_option(v, p + 2, n))
			continue;
		fprintf(stderr, "swu: the usage of '%s' lists --%.*s, which it does not take\n",
			v->name, (int)n, p + 2);
		ok = false;
	}
	return ok;
}

/* The lines of @text, the first indented by @first, the others by @indent. */
static void print_lines(FILE *f, const char *text, const char *first, const char *indent)
{
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");

		fprintf(f, "%s%.*s\n", p == text ? first : indent, (int)n, p);
		p += n + (p[n] == '\n');
	}
}

/* "swu NAME USAGE", the usage's later lines indented by @indent. */
static void print_usage(FILE *f, const Verb *v, const char *prefix, const char *indent)
{
	fprintf(f, "%s%s ", prefix, v->name);
	print_lines(f, v->usage, "", indent);
}

static int help(FILE *f)
{
	bool ok = true;

	fprintf(f, "Usage: swu COMMAND [OPTIONS]\n\n"
		   "Make keys, root metadata and signed update bundles for swupdated.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		print_usage(f, &verbs[i], "  ", "          ");
		print_lines(f, verbs[i].summary, "      ", "      ");
		ok = usage_complete(&verbs[i]) && ok;
	}
	fprintf(f, "\nEvery command takes --help (or -h): its own usage.\n"
		   "Exit status: 0 success, 1 rejected (verification or format), 2 usage or I/O "
		   "error.\nSee swu(1).\n");
	return ok ? EXIT_OK : EXIT_USAGE;
}

static int verb_help(const Verb *v)
{
	print_usage(stdout, v, "Usage: swu ", "        ");
	putchar('\n');
	print_lines(stdout, v->summary, "", "");
	printf("\nSee swu(1).\n");
	return usage_complete(v) ? EXIT_OK : EXIT_USAGE;
}

/* --help or -h among the command's arguments (before a "--"). */
static bool wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc && !streq(argv[i], "--"); i++)
		if (streq(argv[i], "--help") || streq(argv[i], "-h"))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const Verb *v = NULL;
	int r;

	if (argc < 2) {
		(void)help(stderr);
		return EXIT_USAGE;
	}
	if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help"))
		return help(stdout);
	if (streq(argv[1], "--version")) {
		printf("swu %s\n", PACKAGE_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ELEMENTSOF(verbs) && !v; i++)
		if (streq(argv[1], verbs[i].name))
			v = &verbs[i];
	if (!v) {
		fprintf(stderr, "swu: unknown command '%s' (see 'swu --help')\n", argv[1]);
		return EXIT_USAGE;
	}
	if (wants_help(argc, argv))
		return verb_help(v);
	r = swu_context_new(&swu_ctx);
	if (r < 0)
		return EXIT_USAGE;
	r = v->run(argc - 1, argv + 1);
	swu_context_unref(swu_ctx);
	return exit_status(r);
}
