/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every swu command shares: the context, exit codes, logging, parsing, bundle files. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "context.h"
#include "crypto.h"
#include "metadata.h"
#include "tuf.h"

/* Exit codes of every subcommand. */
enum {
	EXIT_OK = 0,
	EXIT_REJECTED = 1, /* verification or format failure */
	EXIT_USAGE = 2,	   /* usage, configuration or I/O error */
};

extern SwuContext *swu_ctx;

/* Prints "swu: <message>: <reason>" where the reason is the failure record or strerror. */
int log_error_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* EXIT_REJECTED for the verification/format errnos (swu_error_is_rejection()), else EXIT_USAGE. */
int exit_status(int r);

int parse_u32(const char *s, uint32_t *ret);
/* RFC 3339 ("2027-01-31T00:00:00Z", offsets allowed) or "@<seconds>". */
int parse_time(const char *s, int64_t *ret);

/*
 * Reads a metadata file (root metadata, a manifest) under the metadata cap; logs errors. -EFBIG
 * (a rejection) when it is larger than the cap.
 */
int read_metadata(const char *path, uint8_t **ret, size_t *ret_size);
/* Opens and indexes a bundle file; logs errors. */
int bundle_open(const char *path, int *ret_fd, SwuBundle **ret);
/*
 * Atomically replaces @path by a bundle with @root (NULL: none), @targets_data as the "targets"
 * entry (NULL: keep), all payloads of @old except one named @drop, plus @extra (optional). The
 * root chain of @old is kept.
 */
/*
 * Writes @meta (a channel's metadata.pb) from @b's metadata with @timestamp, atomically and with an
 * mtime newer than the file it replaces (so a server's ETag changes). Errors are said.
 */
/*
 * Takes the channel @dir's lock (flock on the directory), waiting for it, into *ret_fd: swu publish,
 * swu timestamp and swu rollout each read or rewrite metadata.pb under it, so that a timer's
 * renewal that overlaps a publish or a halt never writes back what it read before.
 */
int channel_lock(const char *dir, int *ret_fd);
/* A rollout as swu prints it: "10% from <time>, halted", or "none (every device installs)". */
const char *rollout_text(const SwuRollout *r, char *buf, size_t size);
int write_channel_metadata(const char *meta, const SwuBundle *b, const uint8_t *timestamp,
			   size_t timestamp_size);
int bundle_rewrite(const char *path, const SwuBundle *old, const uint8_t *root, size_t root_size,
		   const uint8_t *targets_data, size_t targets_size, const char *drop,
		   const void *extra);
/* The same with @chain as the bundle's root chain. */
int bundle_rewrite_chain(const char *path, const SwuBundle *old, const SwuRootLink *chain,
			 size_t n_chain, const uint8_t *root, size_t root_size,
			 const uint8_t *targets_data, size_t targets_size, const char *drop,
			 const void *extra);

/*
 * The release side's end of rule 6 (docs/bundle-format.md), after @b's metadata verified against
 * itself: a bundle without root metadata had its signatures checked against nothing (said on
 * stdout), but unsigned targets metadata fails on every device, whatever its root
 * (-EKEYREJECTED, recorded).
 */
int check_self_verified(const SwuBundle *b);
/* A warning on stderr when the targets metadata @v verified expires within 30 days. */
void warn_expiring(const SwuVerifier *v);
/* A warning on stderr when @b (at @path) names no compatible string: every device takes it. */
void warn_no_compatible(const SwuBundle *b, const char *path);

/* Whether @req (may be NULL) lists the key @id. */
bool requirement_lists_key(const SwuRequirement *req, const uint8_t id[SWU_KEY_ID_SIZE]);

/*
 * "  WHAT: V of T required signed[, N more needed]", then per key of @req (registered in @keys)
 * "    ROLE <key id>: signed|missing|..." for the signatures @sigs over @msg, counted as devices
 * count them. Nothing for a NULL @req; -EBADMSG (recorded) for too many signatures.
 */
int print_threshold(const char *what, const char *role, const SwuRootMetadata *keys,
		    const SwuRequirement *req, const uint8_t *msg, size_t n,
		    SwuSignature *const *sigs, size_t n_sigs);

/*
 * A secret from @path or @fd (one of them; -1 for no fd): its first line, without the newline.
 * Empty, unreadable or missing is an error, said naming @what ("passphrase", "PIN"). The caller
 * frees it with secret_free().
 */
int secret_read(const char *path, int fd, const char *what, char **ret);
char *secret_free(char *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(char *, secret_free);
