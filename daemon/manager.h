/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The update logic of a device: which slot is booted, what is installed and pending, the steps
 * of an install into the inactive slots, and confirming or rejecting a booted update. The
 * one-shot command line and the D-Bus service both drive a Manager; verification itself is
 * libswu's device pipeline (device.h), which the Manager configures once.
 *
 * Functions taking a context report failures in its record and do not log them: the caller
 * that handles the failure logs it once. Events that are no failure (a rollback found, a root
 * rotated) are logged here.
 */
#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "clock.h"
#include "conf.h"
#include "context.h"
#include "device.h"
#include "install.h"
#include "slot.h"
#include "state.h"

typedef enum UpdateState {
	UPDATE_IDLE,		     /* nothing pending */
	UPDATE_PENDING_REBOOT,	     /* installed, not rebooted yet */
	UPDATE_PENDING_CONFIRMATION, /* rebooted into the new slot, waiting for mark-good */
} UpdateState;

const char *update_state_to_string(UpdateState s);

typedef struct Manager {
	Config *config;
	SwuContext *ctx; /* the one-shot commands' context, and the template of every other */
	SwuDevice device;
	char booted; /* 'A', 'B', or 0 when it cannot be told */
	char boot_id[64];
	char machine_id[64]; /* "" when it cannot be read: every such device draws alike */
	/* the channel an operator chose ("": none, config->server is Server=), and Server= */
	char channel[CHANNEL_NAME_MAX + 1];
	char *default_server;
	char booted_error[512]; /* why the booted slot cannot be told */
	SwuRootDevices root;	/* "/" and the devices under it (dm-verity: its data device) */
} Manager;

typedef struct Status {
	char booted_slot;
	char pending_slot; /* 0: none */
	UpdateState state;
	uint32_t installed_version;
	uint32_t pending_version;
	/* why the installed version cannot be told (it is 0 then), "" when it can; a message */
	char installed_error[256];
} Status;

/* Takes ownership of @config. Reads the kernel command line and boot ID; errors are logged. */
int manager_new(Config *config, Manager **ret);
Manager *manager_free(Manager *m);
/*
 * The time the verifier checks expiry against is @clock's wall clock (NULL: time()), so that the
 * daemon has one time source, which tests move.
 */
void manager_set_clock(Manager *m, Clock *clock);
/*
 * Moves the device to channel @name of [Channels] ("": back to Server=): config->server becomes
 * its URL, and the choice is kept in the state directory. -EINVAL (recorded in @ctx) for a name
 * the configuration does not list.
 */
int manager_set_channel(Manager *m, SwuContext *ctx, const char *name);
/* A context for one operation: the manager's settings and fault hook, its own failure record. */
int manager_context_new(Manager *m, SwuContext **ret);

typedef enum ReconcileWhat {
	RECONCILED_NOTHING,
	RECONCILED_ROLLBACK,	/* the new slot did not boot: the bootloader fell back */
	RECONCILED_INTERRUPTED, /* the switch to the new slot never ran (a power cut) */
} ReconcileWhat;

typedef struct Reconciled {
	ReconcileWhat what;
	char slot;	  /* of the install that was pending */
	uint32_t version; /* its version */
} Reconciled;

/*
 * Records a rollback when the bootloader fell back after a reboot, remembers that release, and
 * clears its pending install; drops a pending install whose switch never ran. @ret (optional)
 * says which, if any.
 */
int manager_reconcile(Manager *m, SwuContext *ctx, Reconciled *ret);
int manager_get_status(Manager *m, SwuContext *ctx, Status *ret);
/* Whether this release (version, SHA-256 of its targets metadata) is the one that rolled back. */
bool manager_rolled_back(Manager *m, SwuContext *ctx, uint32_t version,
			 const uint8_t targets_sha256[SWU_SHA256_SIZE]);

/*
 * The one-shot install: verifies the bundle at @path and installs it into the inactive slots,
 * then switches the bootloader to try them. Logs the outcome once; returns 0 or -errno.
 */
int manager_install(Manager *m, const char *path);
/*
 * Confirms (@good) or rejects the pending update. The rule of when each is possible lives here:
 * MarkGood needs the device booted into the pending slot, or nothing pending (then the booted
 * slot is confirmed again, which resets its boot counter); MarkBad needs a pending update.
 * -EAGAIN (nothing pending to act on) with the reason recorded otherwise. @ret_note (optional)
 * receives the sentence saying what was done, as logged and kept in the history.
 */
int manager_mark(Manager *m, SwuContext *ctx, bool good, char *ret_note, size_t note_size);

/* The steps of an install, for the daemon's state machine. */
typedef struct Slots {
	SwuInstallTarget *targets;
	size_t n;
} Slots;

/* 0 when an install may start: the booted slot is known, no update awaits confirmation. */
int manager_may_install(Manager *m, SwuContext *ctx);
/*
 * Opens the inactive slot (and the active one, to copy unchanged targets from) of every
 * verified target of @v and checks that the install fits (swu_install_check(); @b NULL: the
 * payloads come from a server).
 */
int manager_open_slots(Manager *m, SwuContext *ctx, SwuVerifier *v, const SwuBundle *b, Slots *ret);
void slots_done(Slots *s);
/* After everything is written and verified: pending record, then the bootloader switch. */
int manager_apply(Manager *m, SwuContext *ctx, SwuVerifier *v);
void manager_history(Manager *m, SwuHistoryAction action, uint32_t from, uint32_t to, char slot,
		     SwuHistoryResult result, const char *reason);
/* The same for an install, with the bytes it downloaded. */
void manager_history_install(Manager *m, SwuHistoryAction action, uint32_t from, uint32_t to,
			     char slot, SwuHistoryResult result, const char *reason,
			     uint64_t downloaded);
/* The slot an install writes into. */
char manager_target_slot(const Manager *m);
