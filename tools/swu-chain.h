/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Root chains on the release side (docs/bundle-format.md, root_chain; docs/server.md, roots/). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"

void root_chain_free(SwuRootLink *links, size_t n);
/*
 * The roots in @dir (every *.pb) older than @root, by version, copies dropped: what a bundle
 * carries so that devices trusting any of them reach @root. Two different roots of one version:
 * -ESTALE. More than SWU_ROOT_CHAIN_MAX: the newest ones, with a warning. Logs errors.
 */
int root_chain_load(const char *dir, const uint8_t *root, size_t root_size, SwuRootLink **ret,
		    size_t *ret_n);
/* Whether @links lead to @root, each hop by rule 2, the first link the anchor (rule 6). */
int root_chain_check(const SwuRootLink *links, size_t n, const uint8_t *root, size_t root_size);
/*
 * Every root @b carries (its chain and its root) as <dir>/roots/<version>.pb. A different root
 * already published at a version: -ESTALE (said on stderr), nothing written. With @write false
 * only checks, and also that @b's root is a rotation (through its chain) from the newest root
 * the channel published before it: else the error of that hop, logged.
 */
int publish_roots(const SwuBundle *b, const char *dir, bool write);
