/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's update state machine, with the states and results of pw_software_update's
 * BundledUpdate service. The inactive slot is the staging area: "transferring" means the
 * metadata is verified and bytes flow into the slot, "verifying" the read-back, "applying" the
 * bootloader switch and the pending record.
 */
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "fetch.h"
#include "manager.h"
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
	char note[512];
	uint32_t progress; /* 0..10000 */
	uint64_t bytes_done, bytes_total;
	char current_target[256];
	char source[1024];
	uint32_t installed_version;
	uint32_t available_version;
	uint64_t last_check, next_check; /* CLOCK_REALTIME microseconds */
	uint64_t last_emit;

	/* polling */
	sd_event_source *poll_timer;
	FetchJob *poll_job;
	SwuBuf poll_body;
	char etag[128];
	unsigned poll_failures;
	sd_bus_message *pending_check; /* a Check() call answered when its poll ends */
	bool start_after_poll, apply_after_poll;
	uint8_t *release; /* the last verified metadata.pb */
	size_t release_size;

	Transfer *transfer;
} Updater;

int updater_new(Manager *m, sd_event *event, sd_bus *bus, Updater **ret);
Updater *updater_free(Updater *u);
/* Schedules polling when Server= is set. */
int updater_start(Updater *u);

/* The operations behind the D-Bus methods. -EBUSY: wrong state (the Note says why). */
int updater_check(Updater *u, sd_bus_message *call);
int updater_begin(Updater *u, const char *source, bool verify, bool apply);
int updater_verify(Updater *u);
int updater_apply(Updater *u);
int updater_abort(Updater *u);
int updater_reset(Updater *u);
/* Stops any transfer without activating anything (SIGTERM). */
void updater_shutdown(Updater *u);

/* Emits PropertiesChanged for the named properties (NULL-terminated), and sd_notify STATUS=. */
void updater_emit(Updater *u, const char *first, ...) __attribute__((sentinel));

/* updater-bus.c */
int updater_bus_register(Updater *u);
void updater_bus_finished(Updater *u);
