/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The update logic of a device: which slot is booted, what is installed and pending, installing
 * a bundle into the inactive slots, and confirming or rejecting a booted update. The one-shot
 * command line and the D-Bus service both drive a Manager.
 */
#include <stdint.h>

#include "conf.h"
#include "context.h"
#include "bundle.h"
#include "install.h"

typedef enum UpdateState {
	UPDATE_IDLE,		     /* nothing pending */
	UPDATE_PENDING_REBOOT,	     /* installed, not rebooted yet */
	UPDATE_PENDING_CONFIRMATION, /* rebooted into the new slot, waiting for mark-good */
} UpdateState;

const char *update_state_to_string(UpdateState s);

typedef struct Manager {
	Config *config;
	SwuContext *ctx;
	char booted; /* 'A', 'B', or 0 when it cannot be told */
	char boot_id[64];
	char booted_error[512]; /* why the booted slot cannot be told */
} Manager;

typedef struct Status {
	char booted_slot;
	char pending_slot; /* 0: none */
	UpdateState state;
	uint32_t installed_version;
	uint32_t pending_version;
} Status;

/* Takes ownership of @config. Reads the kernel command line and boot ID; errors are logged. */
int manager_new(Config *config, Manager **ret);
Manager *manager_free(Manager *m);

/* Records a rollback when the bootloader fell back after a reboot; clears that pending install. */
int manager_reconcile(Manager *m);
int manager_get_status(Manager *m, Status *ret);
/*
 * Verifies and installs the bundle at @path into the inactive slots, then switches the
 * bootloader to try them. Returns 0, or a negative errno with the reason logged.
 */
int manager_install(Manager *m, const char *path);
int manager_mark_good(Manager *m);
int manager_mark_bad(Manager *m);

/* The steps of an install, for the daemon's state machine. */
typedef struct Slots {
	SwuInstallTarget *targets;
	size_t n;
} Slots;

/* 0 when an install may start: the booted slot is known, no update awaits confirmation. */
int manager_may_install(Manager *m);
/* A verifier over the trusted root (verity, rotated chain), installed @manifest, Compatible=. */
int manager_verifier(Manager *m, const uint8_t *manifest, size_t manifest_size, SwuVerifier **ret);
/* Rules 2-3 over @b; a rotated root is persisted at once. Logs the reason on failure. */
int manager_verify_metadata(Manager *m, SwuVerifier *v, SwuBundle *b, const char *source);
bool manager_root_is_trusted(Manager *m, const uint8_t *root, size_t size);
/* Opens the inactive slot (and the active one) of every verified target. */
int manager_open_slots(Manager *m, SwuVerifier *v, Slots *ret);
void slots_done(Slots *s);
/* After everything is written and verified: pending record, then the bootloader switch. */
int manager_apply(Manager *m, SwuVerifier *v, uint32_t from_version);
void manager_history(Manager *m, const char *action, uint32_t from, uint32_t to, char slot,
		     const char *result, const char *reason);
uint32_t manager_manifest_version(SwuContext *ctx, const uint8_t *p, size_t n);
