/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's update state machine, with the states and results of pw_software_update's
 * BundledUpdate service. The inactive slot is the staging area: "transferring" means the
 * metadata is verified and bytes flow into the slot, "verifying" the read-back, "applying" the
 * bootloader switch and the pending record.
 *
 * One error path per operation: an operation (Start/Install, Verify, Apply, Abort, Reset,
 * MarkGood/MarkBad, Check) starts with a clean failure record and Note; a failure is formatted
 * once as "what: reason" (updater_fail()), logged once, kept as Note and answered on D-Bus from
 * that one record.
 *
 * Files: updater.c (this state machine, Note and progress, the public operations), poller.c
 * (timer, jitter, backoff, ETag, release cache), transfer.c (what every transfer shares) with
 * transfer-server.c, transfer-file.c and transfer-url.c, updater-bus.c (the D-Bus surface).
 */
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "fetch.h"
#include "manager.h"
#include "poller.h"
#include "wire.h"

typedef enum UpdaterState {
	UPDATER_INACTIVE,
	UPDATER_TRANSFERRING,
	UPDATER_TRANSFERRED,
	UPDATER_VERIFYING,
	UPDATER_VERIFIED,
	UPDATER_APPLYING,
	UPDATER_ABORTING,
	UPDATER_FINISHED,
	_UPDATER_STATE_MAX,
} UpdaterState;

typedef enum UpdaterResult {
	RESULT_NONE,
	RESULT_SUCCESS,
	RESULT_UNKNOWN_ERROR,
	RESULT_ABORTED,
	RESULT_TRANSFER_FAILED,
	RESULT_VERIFY_FAILED,
	RESULT_APPLY_FAILED,
	_RESULT_MAX,
} UpdaterResult;

const char *updater_state_to_string(UpdaterState s);
const char *updater_result_to_string(UpdaterResult r);

typedef struct Transfer Transfer;

typedef struct Updater {
	Manager *m;
	sd_event *event;
	sd_bus *bus;
	Fetch *fetch;

	UpdaterState state;
	UpdaterResult result;
	int error; /* errno of the last failed operation, 0 */
	char note[512];
	uint32_t progress; /* 0..10000 */
	uint64_t bytes_done, bytes_total;
	/* of the current target: bytes downloaded, to download, and taken from the slots */
	uint64_t download_done, download_total, bytes_reused;
	uint64_t downloaded; /* by the whole install, for the history */
	char current_target[256];
	char source[1024];
	uint32_t installed_version;
	uint32_t available_version;
	uint32_t pending_version;	 /* of the last Apply, for the reboot's sentence */
	uint64_t last_check, next_check; /* CLOCK_REALTIME microseconds */
	uint64_t last_emit;

	Poller poller;
	Transfer *transfer;
	bool exiting; /* idle exit under way: no new work (the next instance takes it) */
} Updater;

int updater_new(Manager *m, sd_event *event, sd_bus *bus, Updater **ret);
/* Reads what the last instance kept (status.json, release.pb): only once the bus name is owned,
 * which makes this instance the only one. */
void updater_load(Updater *u);
Updater *updater_free(Updater *u);
/* Schedules polling when Server= is set. */
int updater_start(Updater *u);

/* 0 when @method may be called in the current state, -EBUSY otherwise. */
int updater_allows(Updater *u, const char *method);

/* The operations behind the D-Bus methods. On failure the Note holds the sentence. */
int updater_check(Updater *u, sd_bus_message *call);
int updater_begin(Updater *u, const char *source, bool verify, bool apply);
int updater_verify(Updater *u);
int updater_apply(Updater *u);
int updater_abort(Updater *u);
int updater_reset(Updater *u);
int updater_mark(Updater *u, bool good);
/* Stops any transfer without activating anything (SIGTERM): it ends as aborted, with a Note. */
void updater_shutdown(Updater *u);
/* Something is in progress that an exit would lose: a transfer or an install not finished, a
 * poll, a call waiting for its answer, a retry due before the next timer run. */
bool updater_busy(Updater *u);

/* ---- shared by the updater's files ---- */

/* A new operation: its failure record and the Note start empty. */
void updater_op_begin(Updater *u);
/* Sets the Note (escaped: it may quote what a server sent) and emits it. */
void updater_note(Updater *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The failure of the current operation: Note "<what>: <reason>", logged once. Returns @r. */
int updater_fail(Updater *u, SwuContext *ctx, int r, const char *what, ...)
	__attribute__((format(printf, 4, 5)));
void updater_set_state(Updater *u, UpdaterState s);
void updater_set_progress(Updater *u, uint64_t done, uint64_t total, bool force);
/* Ends the transfer with @result: history, state finished, the Finished signal. */
void updater_finish(Updater *u, UpdaterResult result);
/* The transfer failed: updater_fail() with its context, then updater_finish(). */
void updater_abandon(Updater *u, UpdaterResult result, int r, const char *what, ...)
	__attribute__((format(printf, 4, 5)));
/* A refusal whose sentence says it all: Note @fmt, logged once. Returns @r. */
int updater_refuse(Updater *u, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The Result a failed install ends with, from its errno. */
UpdaterResult updater_result_of(int r);

/* Keeps what clients read across restarts (status.json): after a poll, a finish, a Reset. */
void updater_save_status(Updater *u);

/* Emits PropertiesChanged for the named properties (NULL-terminated), and sd_notify STATUS=. */
void updater_emit(Updater *u, const char *first, ...) __attribute__((sentinel));

/* updater-bus.c */
int updater_bus_register(Updater *u);
void updater_bus_finished(Updater *u);
