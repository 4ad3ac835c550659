/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/* The files of the state directory, for state.c and state-roots.c (not exported). */
#include <stddef.h>
#include <stdint.h>

#include "context.h"

/* "@dir/@name", or NULL when out of memory. Caller frees. */
char *swu_state_path(const char *dir, const char *name);
/* Reads @dir/@name, at most @max bytes (swu_read_file()'s errors). */
int swu_state_read(const char *dir, const char *name, size_t max, uint8_t **ret, size_t *ret_size);
/* Replaces @dir/@name atomically (0644), with a fault point named @name; fails with a reason. */
int swu_state_write(SwuContext *ctx, const char *dir, const char *name, const void *p, size_t n);
