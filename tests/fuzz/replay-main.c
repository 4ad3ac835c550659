/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Without libFuzzer: runs the fuzz target once over every file given (or in a directory given),
 * so `make check` replays the seed corpus under the normal build and the sanitizers.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(const char *path, unsigned *count)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t size = 0;
	int r;

	r = swu_read_file(path, 64 * 1024 * 1024, &data, &size);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read '%s': %s\n", program_invocation_short_name, path,
			strerror(-r));
		return r;
	}
	LLVMFuzzerTestOneInput(data, size);
	(*count)++;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;

		if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			if (replay(argv[i], &count) < 0)
				return 1;
			continue;
		}
		d = opendir(argv[i]);
		if (!d)
			return 1;
		while ((de = readdir(d))) {
			char path[4096];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			if (replay(path, &count) < 0) {
				closedir(d);
				return 1;
			}
		}
		closedir(d);
	}
	printf("%s: replayed %u inputs\n", program_invocation_short_name, count);
	return count > 0 ? 0 : 1;
}
