/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's update state machine, with the states and results of pw_software_update's
 * BundledUpdate service. The inactive slot is the staging area: "transferring" means the
 * metadata is verified and bytes flow into the slot, "verifying" the read-back, "applying" the
 * bootloader switch and the pending record.
 *
 * The updater owns a Poller (poller.h: what the server offers) and at most one Transfer
 * (transfer.h: bytes into the slots), creates them with what they need and hears from them
 * through their event tables; it alone decides what to install and when (the automatic path
 * after a poll, the methods of the D-Bus API), and it alone writes the state, the result, the
 * Note and the progress below. Whoever shows them (updater-bus.c) reads the fields and hears of
 * their changes through UpdaterEvents.
 *
 * One error path per operation: an operation (Start/Install, Verify, Apply, Abort, Reset,
 * MarkGood/MarkBad, Check) starts with a clean failure record and Note; a failure is formatted
 * once as "what: reason", logged once, kept as Note and answered on D-Bus from that one record.
 */
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "clock.h"
#include "fetch.h"
#include "manager.h"
#include "poller.h"
#include "result.h"
#include "transfer.h"

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
	_UPDATER_STATE_INVALID = -1,
} UpdaterState;

const char *updater_state_to_string(UpdaterState s);

/* The operations of the D-Bus API that depend on the state. */
typedef enum UpdaterOp {
	UPDATER_OP_START, /* Start and Install */
	UPDATER_OP_VERIFY,
	UPDATER_OP_APPLY,
	UPDATER_OP_ABORT,
	UPDATER_OP_RESET,
	UPDATER_OP_MARK,    /* MarkGood and MarkBad: the manager decides */
	UPDATER_OP_CHANNEL, /* SetChannel: no install and no poll running */
	_UPDATER_OP_MAX,
} UpdaterOp;

/* What changed, for UpdaterEvents.changed: one bit per property of io.swupdated.Updater1. */
typedef enum UpdaterProperty {
	UPDATER_PROPERTY_STATE = 1u << 0,
	UPDATER_PROPERTY_RESULT = 1u << 1,
	UPDATER_PROPERTY_PROGRESS = 1u << 2,
	UPDATER_PROPERTY_BYTES = 1u << 3, /* BytesDone, BytesTotal, DownloadDone, DownloadTotal,
					     BytesReused, TotalWritten, TotalDownloaded, TotalReused */
	UPDATER_PROPERTY_CURRENT_TARGET = 1u << 4,
	UPDATER_PROPERTY_SOURCE = 1u << 5,
	UPDATER_PROPERTY_NOTE = 1u << 6,
	UPDATER_PROPERTY_INSTALLED_VERSION = 1u << 7,
	UPDATER_PROPERTY_AVAILABLE_VERSION = 1u << 8,
	UPDATER_PROPERTY_LAST_CHECK = 1u << 9,
	UPDATER_PROPERTY_NEXT_CHECK = 1u << 10,
	UPDATER_PROPERTY_PENDING_SLOT = 1u << 11,
	UPDATER_PROPERTY_CHANNEL = 1u << 12,
} UpdaterProperty;

typedef struct UpdaterEvents {
	/* Properties changed (a mask of UpdaterProperty). */
	void (*changed)(void *userdata, unsigned properties);
	/* An install ended: Result and Note say how (the Finished signal). */
	void (*finished)(void *userdata);
	/* A poll ended (Check, ScheduledCheck): @r 0, or -errno and @note, the poll's sentence;
	 * -ESHUTDOWN when updater_shutdown() stopped it. */
	void (*checked)(void *userdata, int r, const char *note);
	/* An install was applied and RebootPolicy=auto: reboot now (updater_reboot_failed()). */
	void (*reboot)(void *userdata);
} UpdaterEvents;

typedef struct UpdaterSetup {
	Manager *manager;
	sd_event *event;
	Clock *clock;
	Fetch *fetch;
	/* Activated (IdleExitSec= > 0 on a bus): swupdated-poll.timer drives polling; @bus
	 * follows its schedule (NULL: not under systemd). */
	bool timer_mode;
	sd_bus *bus;
	const UpdaterEvents *events;
	void *userdata;
} UpdaterSetup;

/* Read by whoever shows the updater (updater-bus.c reads the properties' fields by offset);
 * written only by updater.c. */
typedef struct Updater {
	Manager *m;
	sd_event *event;
	Clock *clock;
	Fetch *fetch;
	const UpdaterEvents *events;
	void *userdata;
	Poller *poller;
	Transfer *transfer;

	UpdaterState state;
	UpdateResult result;
	int error;	   /* errno of the last failed operation, 0 */
	char *note;	   /* never NULL */
	uint32_t progress; /* 0..10000 */
	uint64_t bytes_done, bytes_total;
	/* of the current target: bytes downloaded, to download, and taken from the slots */
	uint64_t download_done, download_total, bytes_reused;
	/* by the whole install: written into the slots, downloaded (also for the history), and
	 * taken from the slots instead of the network */
	uint64_t total_written, downloaded, total_reused;
	char *current_target; /* never NULL */
	char *source;	      /* of the install, never NULL */
	uint32_t installed_version;
	uint32_t pending_version;     /* of the last Apply, for the reboot's sentence */
	uint64_t last_emit;	      /* CLOCK_MONOTONIC usec of the last progress shown */
	bool auto_verify, auto_apply; /* the install goes on to Verify and Apply by itself */
	bool poll_then_install;	      /* Start("")/Install(""): install what the poll finds */
	bool poll_then_apply, poll_then_reinstall;
	bool skipped_noted; /* the rolled-back release's skip is in the history */
	bool exiting;	    /* idle exit under way: no new work (the next instance takes it) */
} Updater;

int updater_new(const UpdaterSetup *setup, Updater **ret);
/* Reads what the last instance kept (status.json, release.pb): only once the bus name is owned,
 * which makes this instance the only one. */
void updater_load(Updater *u);
/* Ends a running install like SIGTERM does (updater_shutdown()), then frees. */
Updater *updater_free(Updater *u);
DEFINE_TRIVIAL_CLEANUP_FUNC(Updater *, updater_free);
/* Schedules polling when Server= is set. */
int updater_start(Updater *u);

/* 0 when @op may be called in the current state, -EBUSY otherwise. */
int updater_allows(const Updater *u, UpdaterOp op);
/* Start("") polls first: until that poll ends, no other install may begin. */
bool updater_waits_for_poll(const Updater *u);

/*
 * The operations behind the D-Bus methods. On failure the Note holds the sentence (except for
 * the checks: their sentence is updater_get_poll_note(), the Note stays about the install).
 */
/* A poll now: 0 when one runs (its end is told through UpdaterEvents.checked), or -errno. */
int updater_check(Updater *u);
/* What swupdated-poll.timer asks for: 1 when a poll started (told when it ends), 0 to answer at
 * once, or -errno. */
int updater_scheduled_check(Updater *u);
/* What an install does by itself (updater_begin()): Install is Start with Verify and Apply. */
typedef enum UpdaterFlags {
	UPDATER_VERIFY = 1u << 0,    /* go on to Verify */
	UPDATER_APPLY = 1u << 1,     /* and to Apply */
	UPDATER_REINSTALL = 1u << 2, /* the server's release even when it is not newer */
} UpdaterFlags;
int updater_begin(Updater *u, const char *source, unsigned flags);
int updater_verify(Updater *u);
int updater_apply(Updater *u);
int updater_abort(Updater *u);
int updater_reset(Updater *u);
int updater_mark(Updater *u, bool good);
/* The reboot RebootPolicy=auto asked for was refused or could not be asked for. */
void updater_reboot_failed(Updater *u, const char *why);
/* Stops any transfer without activating anything (SIGTERM): it ends as aborted, with a Note.
 * A running poll is stopped and told as ended with -ESHUTDOWN. */
void updater_shutdown(Updater *u);
/* Something is in progress that an exit would lose: a transfer or an install not finished, a
 * poll, a retry due before the next timer run. */
bool updater_busy(const Updater *u);
/* The idle exit began: calls that would begin work are refused from now on. */
void updater_set_exiting(Updater *u);
/* Keeps what clients read across restarts (status.json). */
void updater_save_status(Updater *u);

/* Properties that are not plain fields. */
uint32_t updater_get_available_version(const Updater *u);
/*
 * Moves the device to channel @name of [Channels] ("": back to Server=), kept across restarts,
 * and polls it. -EINVAL when the configuration does not list it (the Note says which it does).
 */
int updater_set_channel(Updater *u, const char *name);
/* The channel chosen, "" when the device polls Server=. */
const char *updater_get_channel(const Updater *u);
/* The available release's rollout as this device sees it ("" when none); snprintf's return. */
int updater_get_rollout(const Updater *u, char *buf, size_t size);
uint64_t updater_get_last_check(const Updater *u);
uint64_t updater_get_next_check(const Updater *u);
/* The pending install's slot, 0 when none. */
char updater_get_pending_slot(const Updater *u);
/* What the last poll found, or why it could not start. */
const char *updater_get_poll_note(const Updater *u);
