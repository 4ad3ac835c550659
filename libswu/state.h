/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The state directory (/var/lib/swupdated):
 *   manifest.pb          the installed Manifest: the anti-rollback floor
 *   pending.json         an install waiting for its reboot and confirmation
 *   roots/NNNNNNNN.pb    rotated root metadata, a chain replayed from the factory root
 *   history.jsonl        one JSON object per line, bounded
 *   status.json          what the daemon shows and schedules that must survive a restart
 *   release.pb           the last release a poll verified (re-verified when loaded)
 *   timestamp-version    the highest timestamp version verified (rule 3t): never accepted lower
 *   rollback.json        the release whose slot did not boot: never installed again by itself
 * Every write is atomic: temp file, fsync, rename, fsync the directory.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"

#define SWU_HISTORY_MAX (64u * 1024u)

/* The installed manifest; -ENOENT when nothing was installed yet. Caller frees. */
int swu_state_load_manifest(SwuContext *ctx, const char *dir, uint8_t **ret, size_t *ret_size);
int swu_state_save_manifest(SwuContext *ctx, const char *dir, const uint8_t *p, size_t n);

typedef struct SwuPending {
	char slot;	       /* the slot the bootloader was told to try */
	char from_slot;	       /* the slot booted when installing */
	char boot_id[64];      /* boot ID at install time: a reboot changes it */
	uint32_t version;      /* targets version of the pending install */
	uint32_t from_version; /* installed version before it */
	int64_t time;
	uint8_t *manifest; /* the Manifest to persist on mark-good */
	size_t manifest_size;
} SwuPending;

void swu_pending_done(SwuPending *p);
/* -ENOENT when no install is pending; -EBADMSG when the file does not parse. */
int swu_state_load_pending(SwuContext *ctx, const char *dir, SwuPending *ret);
int swu_state_save_pending(SwuContext *ctx, const char *dir, const SwuPending *p);
int swu_state_clear_pending(SwuContext *ctx, const char *dir);

/*
 * What a client of the daemon reads, and what the poll schedule needs, that must be the same
 * after the daemon exits (idle, SIGTERM, crash) and starts again: the newest release seen on
 * the server, when it was checked and will be next, the ETag of that answer, the backoff state,
 * the outcome of the last finished install (until Reset), and an install that was running.
 * Small and bounded; written atomically. Times are CLOCK_REALTIME microseconds, 0: none.
 */
typedef struct SwuStatusRecord {
	uint32_t available_version;
	uint64_t last_check;
	uint64_t next_check;
	char etag[128];		/* of the release.pb answer; "" asks in full next time */
	char last_modified[64]; /* of that answer, for a server without ETags; "" when none */
	uint32_t failures;	/* failed polls in a row */
	uint64_t retry_at; /* a retry after a failed poll (backoff), when the daemon polls itself */
	uint64_t not_before; /* the server's Retry-After: no scheduled poll before */
	bool skipped_noted;  /* the rolled-back release's skip is in the history */
	char result[32];     /* "" when no finished install waits for Reset */
	char note[512];	     /* the Note: a finished install's, or what the last poll found */
	char source[1024];   /* a finished install's Source */
	uint64_t bytes_done, bytes_total; /* a finished install's BytesDone and BytesTotal */
	/* a finished install's TotalWritten, TotalDownloaded and TotalReused */
	uint64_t total_written, total_downloaded, total_reused;
	char running[1024]; /* the source of an install in progress: set when it begins */
	/* The Server= that answered with etag and last_modified: another one is asked in full. */
	char polled[1024];
} SwuStatusRecord;

/*
 * The release the bootloader fell back from (its slot did not boot): its version and the SHA-256
 * of its signed TargetsMetadata. Automatic installs skip it; a newer release or an explicit
 * install does not. One record, the latest.
 */
typedef struct SwuRollback {
	uint32_t version;
	uint8_t targets_sha256[32];
	int64_t time;
} SwuRollback;

int swu_state_load_rollback(SwuContext *ctx, const char *dir, SwuRollback *ret);
int swu_state_save_rollback(SwuContext *ctx, const char *dir, const SwuRollback *rb);

/* -ENOENT when none was saved; -EBADMSG when it does not parse (the caller starts afresh). */
int swu_state_load_status(SwuContext *ctx, const char *dir, SwuStatusRecord *ret);
int swu_state_save_status(SwuContext *ctx, const char *dir, const SwuStatusRecord *s);

/*
 * The highest timestamp version the device verified: 0 when none (or the file is not a number:
 * the floor only grows, and a damaged file must not stop updates for good).
 */
int swu_state_load_timestamp_version(SwuContext *ctx, const char *dir, uint32_t *ret);
/* Raises it to @version; a lower or equal @version leaves it as it is. 1 when written. */
int swu_state_save_timestamp_version(SwuContext *ctx, const char *dir, uint32_t version);
/* Sets it to @version, lower or not (0: none): new timestamp keys, or another channel. */
int swu_state_reset_timestamp_version(SwuContext *ctx, const char *dir, uint32_t version);
/*
 * The channel an operator chose (swupdatectl channel): a name, "" when none (@ret is a buffer of
 * @size bytes; a file that does not fit or holds a newline inside reads as none). Saving ""
 * removes the choice.
 */
int swu_state_load_channel(SwuContext *ctx, const char *dir, char *ret, size_t size);
int swu_state_save_channel(SwuContext *ctx, const char *dir, const char *name);
/*
 * The newest signed time (signed_at, seconds since the epoch) the device verified: a clock that
 * reads earlier is not believed (0 when none). Saving only ever raises it.
 */
int swu_state_load_signed_time(SwuContext *ctx, const char *dir, int64_t *ret);
/* How far past the clock a signed time may raise the floor (a signer's clock a little ahead). */
#define SWU_SIGNED_TIME_AHEAD (3600)
int swu_state_save_signed_time(SwuContext *ctx, const char *dir, int64_t t);

/* The cached release (metadata.pb as the server sent it): -ENOENT when there is none. */
int swu_state_load_release(SwuContext *ctx, const char *dir, uint8_t **ret, size_t *ret_size);
int swu_state_save_release(SwuContext *ctx, const char *dir, const uint8_t *p, size_t n);
int swu_state_clear_release(SwuContext *ctx, const char *dir);

/* What a history entry records; history.jsonl and D-Bus carry the strings of the table. */
typedef enum SwuHistoryAction {
	SWU_HISTORY_INSTALL,	   /* "install" */
	SWU_HISTORY_MARK_GOOD,	   /* "mark-good" */
	SWU_HISTORY_MARK_BAD,	   /* "mark-bad" */
	SWU_HISTORY_ROLLBACK,	   /* "rollback" */
	SWU_HISTORY_ROOT_ROTATION, /* "root-rotation" */
	_SWU_HISTORY_ACTION_MAX,
	_SWU_HISTORY_ACTION_INVALID = -EINVAL,
} SwuHistoryAction;

/* How it ended. */
typedef enum SwuHistoryResult {
	SWU_HISTORY_SUCCESS,	 /* "success" */
	SWU_HISTORY_FAILED,	 /* "failed" */
	SWU_HISTORY_ABORTED,	 /* "aborted" */
	SWU_HISTORY_SKIPPED,	 /* "skipped" */
	SWU_HISTORY_ROLLED_BACK, /* "rolled-back" */
	SWU_HISTORY_REJECTED,	 /* "rejected" */
	SWU_HISTORY_INTERRUPTED, /* "interrupted" */
	_SWU_HISTORY_RESULT_MAX,
	_SWU_HISTORY_RESULT_INVALID = -EINVAL,
} SwuHistoryResult;

/* The string of @a (static); NULL when @a is out of range. */
const char *swu_history_action_to_string(SwuHistoryAction a);
/* The action named @s; _SWU_HISTORY_ACTION_INVALID when @s (or NULL) names none. */
SwuHistoryAction swu_history_action_from_string(const char *s);
/* The string of @r (static); NULL when @r is out of range. */
const char *swu_history_result_to_string(SwuHistoryResult r);
/* The result named @s; _SWU_HISTORY_RESULT_INVALID when @s (or NULL) names none. */
SwuHistoryResult swu_history_result_from_string(const char *s);

typedef struct SwuHistoryEntry {
	int64_t time;
	SwuHistoryAction action;
	uint32_t from_version;
	uint32_t to_version;
	char slot;
	SwuHistoryResult result;
	const char *reason;
	uint64_t downloaded; /* bytes an install downloaded (0 for other actions) */
} SwuHistoryEntry;

/*
 * Appends one line; the oldest lines are dropped to keep the file under SWU_HISTORY_MAX.
 * -EINVAL (assert_return()) when @e's action or result is out of range.
 */
int swu_state_append_history(SwuContext *ctx, const char *dir, const SwuHistoryEntry *e);
/*
 * Hands the newest @max entries to @func, newest first (the strings live during the call).
 * Lines that do not parse, and lines whose action or result this version does not know (a
 * newer version wrote them), are skipped and not counted. A missing history is empty. Returns
 * 0, -errno, or the first error @func returned.
 */
typedef int (*SwuHistoryFunc)(void *userdata, const SwuHistoryEntry *e);
int swu_state_read_history(SwuContext *ctx, const char *dir, size_t max, SwuHistoryFunc func,
			   void *userdata);

/*
 * The trusted root: the factory root @factory, then each persisted link of the chain checked by
 * rule 2 against the root trusted so far (no count limit: every newer link is seen). Links that
 * cannot be read or do not verify (a different root of the same version among them) are skipped
 * and reported through @warn; links not newer than the root trusted so far (a copy of it, or
 * older, as on a slot whose factory root is newer) are skipped silently. Caller frees @ret.
 */
typedef void (*SwuWarnFunc)(void *userdata, const char *message);
int swu_state_trusted_root(SwuContext *ctx, const char *dir, const uint8_t *factory,
			   size_t factory_size, SwuWarnFunc warn, void *userdata, uint8_t **ret,
			   size_t *ret_size);
/*
 * Removes the links that are obsolete (reported through @warn): copies of a link before them, and
 * roots of @factory's own lineage (signed from a root the replay trusted) that are newer than
 * @factory but not newer than the root trusted by then (versions before the strict rule persisted
 * equal-version roots). Links not newer than @factory and links of another lineage (made under the
 * other slot's factory root) stay: that slot may need them. Returns the number removed.
 */
int swu_state_repair_roots(SwuContext *ctx, const char *dir, const uint8_t *factory,
			   size_t factory_size, SwuWarnFunc warn, void *userdata);
/* Appends a root accepted by rule 2 as the next link: 1, or 0 when the chain already holds it. */
int swu_state_save_root(SwuContext *ctx, const char *dir, const uint8_t *p, size_t n);
