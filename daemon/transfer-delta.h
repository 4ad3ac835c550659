/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The delta of one target from the server (transfer-delta.c), for transfer-server.c: its chunk
 * index (a signed target of its own, downloaded and verified first), a scan of both slots off the
 * loop, the records of the missing chunks, a second scan for missing blocks, then the target
 * written in order from local bytes and Range requests on the chunk store.
 */
#include <stdbool.h>
#include <stdint.h>

#include "transfer-source.h"
#include "transfer.h"

typedef struct Delta Delta;

/*
 * The end of a delta, its last act (the owner frees it here): @complete, the target is written
 * whole; else the delta could not go on (no store, a server ignoring Range, a store that lies,
 * local bytes that changed) and the rest of the target, from the writer's offset, comes from
 * the blob. A failure of the install itself goes to transfer_fail() instead.
 */
typedef void (*DeltaDone)(void *userdata, bool complete);

/* Whether @target comes as a delta (DeltaUpdates=, a small enough index "<name>.chunks"). */
bool delta_wanted(Transfer *t, const SwuTarget *target, const SwuTarget **ret_index);
/*
 * With the verified bytes of @index_target (the file @index_fd, taken, @size bytes), the delta
 * of @target, whose writer is open, from the chunk store on @server. 1 when it runs, 0 when the
 * index is not usable (the caller downloads the blob), or -errno.
 */
int delta_new(Transfer *t, const char *server, const SwuTarget *target,
	      const SwuTarget *index_target, int index_fd, uint64_t size, DeltaDone done,
	      void *userdata, Delta **ret);
/* Stops it: its requests cancelled, its worker joined (the transfer's context cancels it). */
Delta *delta_free(Delta *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Delta *, delta_free);
