/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A transfer: verified payload bytes flowing into the inactive slots, from one source:
 *   transfer-file.c    a bundle file (USB stick, factory), read in chunks
 *   transfer-url.c     a whole bundle from a URL, streamed, or staged when it cannot stream
 *   transfer-server.c  the release a poll verified: blobs by hash, resumed with Range, and
 *                      deltas (transfer-delta.c) for targets with a chunk index
 * What every source shares is in transfer.c (transfer-source.h): the slots, the slot writer of
 * the current payload, settling the read-backs, copying unchanged targets, Verify and Apply.
 *
 * The owner (the updater) creates a transfer with what it needs, starts it and ends it: a
 * transfer never frees itself. It reports upward through TransferEvents only, from the event
 * loop and never from within a call of its owner's, so the owner may free it in any event.
 */
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "clock.h"
#include "context.h"
#include "fetch.h"
#include "manager.h"
#include "release.h"
#include "result.h"

typedef struct Transfer Transfer;

typedef enum TransferStep {
	TRANSFER_STEP_WRITE,  /* transfer_start(): every payload written, the slots complete */
	TRANSFER_STEP_VERIFY, /* transfer_verify(): every slot read back once more */
} TransferStep;

typedef struct TransferProgress {
	const char *target;   /* the payload being written, "" when none */
	uint64_t done, total; /* of that payload: bytes in its slot, its length */
	uint64_t download_done, download_total, reused; /* of that payload */
	/* by the whole transfer so far: bytes written into the slots, downloaded, taken from the
	 * slots instead (a delta's savings) */
	uint64_t written, downloaded, reused_total;
} TransferProgress;

typedef struct TransferEvents {
	/* Bytes were written; @force: a payload began or ended (else the owner may throttle). */
	void (*progress)(void *userdata, const TransferProgress *p, bool force);
	/*
	 * @step ended: @r is 0, or -errno with the result it maps to and the sentence to tell
	 * ("what: reason", not logged yet). Once a step failed, the transfer does nothing more.
	 */
	void (*done)(void *userdata, TransferStep step, int r, UpdateResult result,
		     const char *sentence);
} TransferEvents;

typedef struct TransferSetup {
	sd_event *event;
	Clock *clock;
	Fetch *fetch;
	Manager *manager;
	SwuContext *ctx; /* the install's failure record; the transfer takes a reference */
	const TransferEvents *events;
	void *userdata;
} TransferSetup;

/*
 * A transfer from a bundle file: its metadata is verified before this returns (-errno with the
 * reason in @setup->ctx). Nothing is written before transfer_start().
 */
int transfer_new_file(const TransferSetup *setup, const char *path, Transfer **ret);
/* A transfer of the bundle at @url (http or https): verified while it streams. */
int transfer_new_url(const TransferSetup *setup, const char *url, Transfer **ret);
/* A transfer of @release from Server=: its metadata is verified again before this returns. */
int transfer_new_server(const TransferSetup *setup, const Release *release, Transfer **ret);

/*
 * Opens the slots of the verified targets (the inactive one is taken out of the boot order
 * first), then writes: done(TRANSFER_STEP_WRITE) follows. -errno when it cannot begin.
 */
int transfer_start(Transfer *t);
/* Reads every slot back once more on a worker thread: done(TRANSFER_STEP_VERIFY) follows. */
int transfer_verify(Transfer *t);
/* After a successful write (and verify): the pending record, then the bootloader switch. */
int transfer_apply(Transfer *t);
/* Stops everything: downloads cancelled, workers joined, half-written slots never activated. */
Transfer *transfer_free(Transfer *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Transfer *, transfer_free);

/* The install's failure record (the context it was set up with). */
SwuContext *transfer_context(Transfer *t);
/* The targets version being installed (0 while a stream has not verified it yet). */
uint32_t transfer_get_version(const Transfer *t);
/* The installed version the install started from. */
uint32_t transfer_get_installed_version(const Transfer *t);

/*
 * The cap on a whole bundle from a URL, streamed or staged: the sizes of the inactive slots plus
 * the metadata bound, saturating, and at most @max_bundle_size when set (pure, tested).
 */
uint64_t transfer_bundle_cap(const uint64_t *slot_sizes, size_t n, uint64_t max_bundle_size);
