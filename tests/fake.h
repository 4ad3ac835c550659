/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the daemon's unit tests put in place of the world: a clock the test moves (timers fire
 * when it says so, hours pass in microseconds), an HTTP server in memory behind the Fetch
 * interface (statuses, ETags, Range, Retry-After, dropped connections, servers that ignore
 * Range, recorded requests), and a device in a temporary directory (file slots, root metadata,
 * a configuration, a Manager). No network, no bus, no root.
 */
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "clock.h"
#include "fetch.h"
#include "manager.h"
#include "testutil.h"

/* ---- the clock ---- */

typedef struct FakeClock FakeClock;

/* Starts at @realtime (CLOCK_REALTIME usec); CLOCK_MONOTONIC moves with it. */
FakeClock *fake_clock_new(uint64_t realtime);
void fake_clock_free(FakeClock *fc);
Clock *fake_clock(FakeClock *fc);
uint64_t fake_clock_now(FakeClock *fc);
/* The earliest armed timer: true and its time in @ret, false when none. */
bool fake_clock_next(FakeClock *fc, uint64_t *ret);
/* Moves time forward to @realtime, firing each timer that falls due, in order. */
void fake_clock_set(FakeClock *fc, uint64_t realtime);

/* ---- the server ---- */

typedef struct FakeServer FakeServer;

typedef struct FakeFault {
	long status;	      /* answer with this status (no body), 0: serve the resource */
	uint64_t retry_after; /* with a status: Retry-After in seconds */
	const char *etag;     /* with a status: the error page's ETag */
	uint64_t cut;	      /* drop the connection after this many body bytes (0: don't) */
	bool ignore_range;    /* answer a Range request with 200 and the whole resource */
	long range_status;    /* answer a Range request with the bytes asked for, but this status */
	uint64_t extra;	      /* the body brings this many bytes more than asked for, unannounced */
	bool fail_at_end;     /* the connection fails after the last body byte */
	bool hold_forever;    /* never answer (a request that hangs until cancelled) */
	int start_error;      /* fetch_start() itself fails with this */
	/* after this answer the resource has this ETag (published again, another mirror) */
	const char *new_etag;
} FakeFault;

typedef struct FakeRequest {
	char *url;
	uint64_t offset, length;
	char *if_none_match, *if_range, *if_modified_since;
	bool cancelled;
	bool done;
	long status;
	uint64_t received; /* body bytes the caller took */
} FakeRequest;

FakeServer *fake_server_new(sd_event *event);
void fake_server_free(FakeServer *s);
Fetch *fake_server_fetch(FakeServer *s);
/* Serves @size bytes of @data at @url with @etag (copied). */
void fake_server_put(FakeServer *s, const char *url, const void *data, size_t size,
		     const char *etag);
void fake_server_remove(FakeServer *s, const char *url);
/* @url (put already) is answered with Last-Modified: @date, and If-Modified-Since: @date with 304
 * when no ETag is asked for (a server without ETags). */
void fake_server_last_modified(FakeServer *s, const char *url, const char *date);
/* Every answer from now on carries Date: @date (seconds since the epoch; 0: none). */
void fake_server_date(FakeServer *s, int64_t date);
/* The next request for @url (a prefix of it) meets @fault; faults queue up in order. */
void fake_server_fault(FakeServer *s, const char *url, const FakeFault *fault);
/* Requests so far, oldest first, and how many asked for @url (a prefix). */
size_t fake_server_requests(FakeServer *s, const FakeRequest **ret);
size_t fake_server_count(FakeServer *s, const char *url);
/* Requests started and not ended (done or cancelled). */
size_t fake_server_open(FakeServer *s);
/* Bytes of bodies handed to on_data so far. */
uint64_t fake_server_sent(FakeServer *s);

/* ---- the loop ---- */

/*
 * Runs @event until @cond(@userdata) holds: when nothing is pending (for 20 ms of real time, in
 * which a worker thread may finish), time jumps to the fake clock's next timer; when there is
 * none either, the loop waits for threads up to 20 s of real time. False when the condition never
 * held. Time moves only to timers, so what a test records at an event is exact; time read at the
 * end may include jumps taken while a worker ran.
 */
bool fake_run_until(sd_event *event, FakeClock *fc, bool (*cond)(void *userdata), void *userdata);
/* Runs everything that is pending now, without moving time. */
void fake_run_pending(sd_event *event);

/* ---- the device ---- */

typedef struct FakeDevice {
	char *dir;
	char *conf; /* its swupdated.conf */
	TuWorld w;  /* keys and the root it trusts */
	Manager *m;
} FakeDevice;

/*
 * A device booted from slot A with targets rootfs and appfs (1 MiB file slots), Bootloader=none,
 * trusting @d->w.root, configured with Server=@server (NULL: none) and the [Update]/[Network]
 * lines @extra (NULL: none).
 */
void fake_device_init(FakeDevice *d, const char *server, const char *extra);
void fake_device_done(FakeDevice *d);
/* The slot file of @target (rootfs, appfs) in slot @slot. */
char *fake_device_slot(FakeDevice *d, const char *target, char slot);

typedef struct FakeRelease {
	SwuBuf metadata; /* metadata.pb: the bundle without payloads */
	SwuBuf bundle;	 /* the whole bundle */
	char blob_hex[TU_MAX_KEYS][65];
} FakeRelease;

/* A release of @version with @files, signed by @d's targets key. */
void fake_release(FakeDevice *d, uint32_t version, const TuFile *files, size_t n, FakeRelease *ret);
/* The same, its targets metadata expiring at @expires and signed at @signed_at (0: none). */
void fake_release_timed(FakeDevice *d, uint32_t version, int64_t expires, int64_t signed_at,
			const TuFile *files, size_t n, FakeRelease *ret);
void fake_release_done(FakeRelease *r);
/* Publishes @r on @s under @server: metadata.pb (ETag "v<version>") and blobs/<sha256>. */
void fake_publish(FakeServer *s, const char *server, const FakeRelease *r, const TuFile *files,
		  size_t n, uint32_t version);
