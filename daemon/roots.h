/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The roots a polled release needs from its channel (docs/server.md, roots/): when the root in
 * metadata.pb is more than one version ahead of the trusted root, and the chain the metadata
 * carries does not close the gap, roots/<N>.pb is fetched for each missing version N in ascending
 * order, checked as one rotation from the root before it (rule 2) and persisted at once. Then the
 * release is verified as usual. Bounded: at most SWU_ROOT_HOPS_MAX rotations in one walk (a device
 * further behind takes that many, kept, and the walk fails saying so: the next poll goes on from
 * there), each root at most SWU_ROOT_LINK_MAX bytes; the first root that is of another version
 * than its name, or not a valid rotation, stops the walk, and the roots kept before it stay.
 */
#include <stddef.h>
#include <stdint.h>

#include "fetch.h"
#include "manager.h"

typedef struct RootWalk RootWalk;

/* The walk ended: 0 when every missing root is kept, else <0 with the reason in its context. */
typedef void (*RootWalkDone)(void *userdata, int error);

/*
 * Starts the walk for the metadata @data polled from @server, with the failure record of @ctx.
 * Returns 0 with *@ret NULL when there is nothing to fetch (the release verifies or fails by
 * itself), 1 with a walk that reports to @done (never before this returns), or <0 (recorded) when
 * the walk could not start.
 */
int root_walk_start(Manager *m, SwuContext *ctx, Fetch *fetch, const char *server,
		    unsigned timeout_sec, const uint8_t *data, size_t size, RootWalkDone done,
		    void *userdata, RootWalk **ret);
/* Cancels a running walk without reporting it; accepts NULL. */
RootWalk *root_walk_free(RootWalk *w);
