/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A transfer: verified payload bytes flowing into the inactive slots. What every source shares
 * lives in transfer.c (slots, the slot writer of the current payload, unchanged targets, the
 * end of the transfer and Verify()); each source has a file of its own:
 *   transfer-server.c  the release a poll verified: blobs by hash, resumed with Range
 *   transfer-file.c    a bundle file (USB stick, factory), read in chunks
 *   transfer-url.c     a whole bundle from a URL, streamed, or staged when it cannot stream
 */
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "bundle.h"
#include "fetch.h"
#include "install.h"
#include "manager.h"
#include "updater.h"
#include "worker.h"

typedef struct TransferDelta TransferDelta;

typedef enum TransferKind {
	TRANSFER_FILE,
	TRANSFER_SERVER,
	TRANSFER_URL,
} TransferKind;

struct Transfer {
	TransferKind kind;
	SwuContext *ctx; /* this install's own failure record */
	SwuVerifier *v;
	bool verify, apply; /* go on to Verify and Apply by themselves (Install, AutoInstall) */
	Slots slots;
	bool slots_open;

	/* the payload being written */
	SwuSlotWriter *writer;
	const SwuInstallTarget *target;
	uint64_t length, done;

	/* writers closed whose read-back and fsync run on: settled before the transfer ends */
	SwuSlotWriter **closing;
	size_t n_closing;
	sd_event_source *settle;
	Worker *worker; /* copying unchanged targets, or Verify()'s read-back */
	bool apply_after_verify;

	/* file and server: a bundle file, or the release metadata in memory */
	SwuBundle *bundle;
	int fd;
	size_t index; /* the next payload (file) or target (server) */

	/* file */
	const SwuPayload *payload;
	sd_event_source *defer;

	/* server */
	char blob_url[1024];
	char blob_etag[128];
	FetchJob *job;
	unsigned attempts;
	sd_event_source *retry;
	uint64_t skip; /* bytes of a resumed blob to drop when the server answers 200 */
	/*
	 * delta: the chunk index downloaded (and verified) just before its image, into an
	 * anonymous file in StagingDirectory= (not memory: 2.4 MB for a 4 GiB image), then the delta
	 */
	const SwuTarget *chunk_index_for;
	int chunk_index_fd;
	uint64_t chunk_index_size;
	bool no_index_file; /* StagingDirectory= is not usable: no deltas */
	TransferDelta *delta;

	/* url */
	char url[1024];
	SwuStream *stream;
	bool restage;
	int staging_fd;
	char staging_path[1024];
};

/* A new transfer of @kind; its context comes from the manager. */
int transfer_new(Updater *u, TransferKind kind, bool verify, bool apply, Transfer **ret);
Transfer *transfer_free(Transfer *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Transfer *, transfer_free);

/* Makes @t the updater's transfer: state transferring, Result cleared. */
void transfer_attach(Updater *u, Transfer *t);
/* Opens the slots of the verified targets and checks the install fits, once. */
int transfer_open_slots(Updater *u);
/* A slot writer for payload @name: 1 (and none) when it is not a verified target. */
int transfer_begin_writer(Updater *u, const char *name, uint64_t length);
/* Bytes of the current payload into its slot writer; progress follows. */
int transfer_write(Updater *u, const void *p, size_t n);
int transfer_end_writer(Updater *u);
/*
 * Every payload is written: wait for their read-backs, copy unchanged targets (on the worker),
 * check completeness, then go on to Verify/Apply when asked to.
 */
void transfer_done(Updater *u);
/*
 * Verify(): @reread reads every slot back once more on the worker (the automatic path already
 * did, while writing); then Apply() when @apply.
 */
int transfer_verify(Updater *u, bool reread, bool apply);

/* A bundle held in memory (the release metadata), indexed like a file. */
int transfer_memory_bundle(SwuContext *ctx, const uint8_t *p, size_t n, int *ret_fd,
			   SwuBundle **ret);
/* The cached release through the device pipeline (rules 1-3, rotated root committed). */
int transfer_open_release(Updater *u, SwuContext *ctx, int *ret_fd, SwuBundle **ret_b,
			  SwuVerifier **ret_v);

/*
 * The cap on a whole bundle from a URL, streamed or staged: the sizes of the inactive slots plus
 * the metadata bound, saturating, and at most @max_bundle_size when set (pure, tested).
 */
uint64_t transfer_bundle_cap(const uint64_t *slot_sizes, size_t n, uint64_t max_bundle_size);

int transfer_begin_server(Updater *u, bool verify, bool apply);
/* transfer-server.c: downloads the current target's blob from the writer's offset on */
void transfer_fetch_blob(Updater *u);
/* transfer-server.c: the current target is written whole: close it, go on with the next */
void transfer_blob_complete(Updater *u);

/*
 * transfer-delta.c: whether @target comes as a delta (a server transfer, DeltaUpdates=, an index
 * target "<name>.chunks" small enough); then, with that index's verified bytes (a file, taken), the
 * delta of the target whose writer is open. Returns 1 when the delta runs (it ends with
 * transfer_blob_complete(), or falls back to transfer_fetch_blob()), 0 when the index is not
 * usable (the caller downloads the blob), or -errno.
 */
bool transfer_delta_wanted(Updater *u, const SwuTarget *target, const SwuTarget **ret_index);
int transfer_delta_begin(Updater *u, const SwuTarget *target, const SwuTarget *index_target,
			 int index_fd, uint64_t size);
TransferDelta *transfer_delta_free(TransferDelta *td);
int transfer_begin_file(Updater *u, const char *path, bool verify, bool apply);
int transfer_begin_url(Updater *u, const char *url, bool verify, bool apply);
