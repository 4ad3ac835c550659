/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What a transfer's source (transfer-file.c, transfer-url.c, transfer-server.c) uses of the
 * transfer it feeds: its settings, the slots, the slot writer of the current payload, the
 * download counters, and the two ways a source ends: transfer_written() when every payload is
 * in its slot, transfer_fail() when the install cannot go on. The source keeps its own state in
 * its own file; transfer.c calls it only through its TransferSourceOps.
 */
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "bundle.h"
#include "clock.h"
#include "fetch.h"
#include "install.h"
#include "manager.h"
#include "result.h"
#include "tuf.h"

/* transfer.h, which a source includes too for its constructor, defines them. */
typedef struct Transfer Transfer;
typedef struct TransferSetup TransferSetup;

typedef struct TransferSourceOps {
	/* Begins delivering payloads; -errno when it cannot begin. */
	int (*start)(Transfer *t, void *source);
	/* Frees the source's state: its downloads cancelled, its timers and workers stopped. */
	void (*free)(void *source);
} TransferSourceOps;

/* A transfer of @name (a path, a URL, Server=; shown without its secrets: url_redact()) fed by
 * @ops, with @v verifying it (taken). */
int transfer_new(const TransferSetup *setup, const char *name, const TransferSourceOps *ops,
		 SwuVerifier *v, Transfer **ret);
/* The source's state, freed with the transfer by @ops->free. */
void transfer_set_source(Transfer *t, void *source);

sd_event *transfer_event(Transfer *t);
Clock *transfer_clock(Transfer *t);
Fetch *transfer_fetch(Transfer *t);
Manager *transfer_manager(Transfer *t);
const Config *transfer_config(Transfer *t);
SwuVerifier *transfer_verifier(Transfer *t);
/*
 * Starts over under @v (taken, also on failure): a stream that could not be verified in order,
 * staged and opened again. Whatever the slots got from the stream is dropped with its writers;
 * the slots are opened again by transfer_open_slots().
 */
int transfer_restart(Transfer *t, SwuVerifier *v);

/* Opens the slots of the verified targets and checks the install fits, once (@b: its payloads
 * come from a bundle file, NULL: from a server or a stream). */
int transfer_open_slots(Transfer *t, const SwuBundle *b);
/*
 * A slot writer for payload @name of @length bytes (@streamed: payloads verified as they stream):
 * 1 (and none) when it is not a verified target.
 */
int transfer_begin_writer(Transfer *t, const char *name, uint64_t length, bool streamed);
/* Bytes of the current payload into its slot writer; progress follows. */
int transfer_write(Transfer *t, const void *p, size_t n);
/* The payload is complete: its length and hash are checked; its read-back goes on meanwhile. */
int transfer_end_writer(Transfer *t);
/* The current payload's writer and target (NULL when none), and its length. */
SwuSlotWriter *transfer_writer(Transfer *t);
const SwuInstallTarget *transfer_target(Transfer *t);
uint64_t transfer_length(Transfer *t);
/* Bytes of the current payload in its slot (written by transfer_write() or directly). */
uint64_t transfer_offset(Transfer *t);
/* What is shown before a payload begins (a whole bundle streaming: "bundle"). */
void transfer_show_target(Transfer *t, const char *what);

/* Bytes downloaded for the current payload (counted for it and for the whole transfer). */
void transfer_count_download(Transfer *t, uint64_t n);
/* What the current payload will download in all, and how much of it the slots held. */
void transfer_set_download(Transfer *t, uint64_t total, uint64_t reused);
/* The current payload will download @remaining bytes more than it has. */
void transfer_expect_download(Transfer *t, uint64_t remaining);
/* Tells the owner (@force: at once, else at most every 250 ms in effect). */
void transfer_progress(Transfer *t, bool force);

/* Every payload is written: settle the read-backs, copy the unchanged targets, then report. */
void transfer_written(Transfer *t);
/*
 * The install cannot go on: reported to the owner with @result and "<what>: <reason>" (the reason
 * from the transfer's context when it explains @r). The first failure stands; from then on the
 * writer calls above return -ECANCELED.
 */
void transfer_fail(Transfer *t, UpdateResult result, int r, const char *what, ...) _printf_(4, 5);
bool transfer_failed(const Transfer *t);

/*
 * transfer-file.c: reads the payloads of bundle @b (its file open, its metadata verified) into
 * their slots, one chunk per turn of the loop, then calls transfer_written(). Payloads that are
 * not verified targets are never written. Failures go to transfer_fail().
 */
typedef struct BundleReader BundleReader;
int bundle_reader_new(Transfer *t, const SwuBundle *b, BundleReader **ret);
BundleReader *bundle_reader_free(BundleReader *r);
