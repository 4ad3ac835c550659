/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Runs a helper program (bootloader tools) without a shell, capturing a bounded stdout. */
#include <stddef.h>

#include "context.h"

#define SWU_EXEC_OUTPUT_MAX (64u * 1024u)

/*
 * Runs @argv (argv[0] looked up in PATH). When @ret_output is set, stdout is captured
 * (NUL-terminated, at most SWU_EXEC_OUTPUT_MAX bytes; caller frees); stderr goes to the
 * caller's stderr. Returns 0 when the program exited 0, -ENOENT when it cannot be run,
 * -EIO (with the exit status in the failure record) otherwise.
 */
int swu_exec(SwuContext *ctx, char *const *argv, char **ret_output);
