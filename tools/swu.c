/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* swu: the release tool's commands, each in the file of its concern (swu-keys.c, swu-bundle.c,
 * swu-inspect.c, swu-verify.c), on the helpers of swu-util.c. */
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "swu.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "generate-key", verb_generate_key, "PATH" },
	{ "create-root-metadata", verb_create_root_metadata,
	  "--append-root-key PUB... --append-targets-key PUB... [--version N | --previous ROOT]\n"
	  "\t\t[--root-threshold N] [--targets-threshold N] -o OUT" },
	{ "sign-root-metadata", verb_sign_root_metadata, "--root-metadata F --root-key KEY" },
	{ "inspect-root-metadata", verb_inspect_root_metadata, "F" },
	{ "create-empty-bundle", verb_create_empty_bundle,
	  "[--target-metadata-version N] [--compatible STR]... [--expires RFC3339] BUNDLE" },
	{ "add-root-metadata-to-bundle", verb_add_root_metadata_to_bundle,
	  "--append-root-metadata F --bundle B" },
	{ "add-file-to-bundle", verb_add_file_to_bundle,
	  "--bundle B --file F [--new-name NAME] [--replace]" },
	{ "sign-bundle", verb_sign_bundle,
	  "--bundle B (--key KEY | --signer CMD --public-key PUB)" },
	{ "inspect-bundle", verb_inspect_bundle, "B [--json]" },
	{ "verify-bundle", verb_verify_bundle,
	  "--bundle B (--trusted-root-metadata ROOT | --self) [--manifest M]\n"
	  "\t\t[--compatible STR] [--root-out F]" },
	{ "export-manifest", verb_export_manifest,
	  "--bundle B --trusted-root-metadata ROOT [--manifest M] -o M" },
	{ "publish", verb_publish, "--bundle B --dir DIR [--compression-level 1-19]" },
	{ "verify-channel", verb_verify_channel,
	  "(--trusted-root-metadata ROOT | --self) [--manifest M] [--compatible STR] [--list] "
	  "DIR" },
};

static void help(FILE *f)
{
	fprintf(f, "Usage: swu COMMAND [OPTIONS]\n\n"
		   "Make keys, root metadata and signed update bundles for swupdated.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(f, "  %s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nExit status: 0 success, 1 rejected (verification or format), 2 usage or I/O "
		   "error.\nSee swu(1).\n");
}

int main(int argc, char **argv)
{
	int r;

	if (argc < 2) {
		help(stderr);
		return EXIT_USAGE;
	}
	if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
		help(stdout);
		return EXIT_OK;
	}
	if (streq(argv[1], "--version")) {
		printf("swu %s\n", PACKAGE_VERSION);
		return EXIT_OK;
	}
	r = swu_context_new(&swu_ctx);
	if (r < 0)
		return EXIT_USAGE;
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(argv[1], verbs[i].name)) {
			r = verbs[i].run(argc - 1, argv + 1);
			swu_context_unref(swu_ctx);
			return exit_status(r);
		}
	swu_context_unref(swu_ctx);
	fprintf(stderr, "swu: unknown command '%s' (see 'swu --help')\n", argv[1]);
	return EXIT_USAGE;
}
