/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fleet in one process, for bench/fleet: N devices, each a Manager, an Updater and its Poller
 * (the daemon's own code, which decides what to install), with a state directory, file slots and
 * a machine ID of its own, polling one nginx through libcurl with the configured interval and
 * jitter. Time is virtual: when no device has had anything to do for a few milliseconds of real
 * time, the clock jumps to the next device's timer, so a fleet's hours take seconds. The online
 * signer's actions (swu timestamp, swu rollout) run between phases as shell commands.
 *
 *   fleet-sim N CHANNEL-DIR TIMESTAMP-KEY ROOT.PB WORKDIR SWU
 *
 * Prints one line per figure, "name value", for bench/fleet to read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "fetch.h"
#include "macro.h"
#include "manager.h"
#include "time-util.h"
#include "updater.h"

#define INTERVAL_SEC 3600
#define JITTER_SEC   600
#define SLOT_SIZE    (64 * 1024)
#define IDLE_USEC    3000 /* real time without events that counts as "every device waits" */

/* ---- the virtual clock ---- */

typedef struct VTimer {
	ClockTimer base;
	ClockFunc func;
	void *userdata;
	uint64_t at;
	bool armed;
	struct VTimer *next;
} VTimer;

typedef struct VClock {
	Clock base;
	uint64_t now;
	VTimer *timers;
} VClock;

static uint64_t v_now(Clock *c, clockid_t clock)
{
	return ((VClock *)c)->now;
}

static int v_timer_new(Clock *c, uint64_t accuracy, ClockFunc func, void *userdata,
		       ClockTimer **ret)
{
	VClock *vc = (VClock *)c;
	VTimer *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*t = (VTimer){ .base = { c }, .func = func, .userdata = userdata, .next = vc->timers };
	vc->timers = t;
	*ret = &t->base;
	return 0;
}

static int v_timer_set(ClockTimer *t, uint64_t realtime)
{
	((VTimer *)t)->at = realtime;
	((VTimer *)t)->armed = true;
	return 0;
}

static void v_timer_off(ClockTimer *t)
{
	((VTimer *)t)->armed = false;
}

static void v_timer_free(ClockTimer *t)
{
	VClock *vc = (VClock *)t->clock;

	for (VTimer **p = &vc->timers; *p; p = &(*p)->next)
		if (*p == (VTimer *)t) {
			*p = (*p)->next;
			free(t);
			return;
		}
}

static void v_free(Clock *c)
{
}

static const ClockOps v_ops = { v_now, v_timer_new, v_timer_set, v_timer_off, v_timer_free, v_free };

static VClock vclock = { .base = { &v_ops } };
static sd_event *event;

/* Runs the fleet until virtual time @end: real events first, then the next timer. */
static void run_until(uint64_t end)
{
	for (;;) {
		VTimer *first = NULL;

		if (sd_event_run(event, IDLE_USEC) > 0)
			continue;
		for (VTimer *t = vclock.timers; t; t = t->next)
			if (t->armed && (!first || t->at < first->at))
				first = t;
		if (!first || first->at > end) {
			vclock.now = MAX(vclock.now, end);
			return;
		}
		vclock.now = MAX(vclock.now, first->at);
		first->armed = false;
		first->func(first->userdata);
	}
}

/* ---- the devices ---- */

typedef struct Device {
	Manager *m;
	Updater *u;
	uint32_t version;      /* the newest version installed (pending) */
	uint64_t installed_at; /* when, virtual usec */
	int last_poll;	       /* the last poll's result */
	char note[256];
} Device;

static Device *devices;
static unsigned n_devices;

static void on_changed(void *userdata, unsigned properties)
{
}

static void on_finished(void *userdata)
{
	Device *d = userdata;
	Status st;

	if (manager_get_status(d->m, d->m->ctx, &st) >= 0 && st.pending_version > d->version) {
		d->version = st.pending_version;
		d->installed_at = vclock.now;
	}
}

static void on_checked(void *userdata, int r, const char *note)
{
	Device *d = userdata;

	d->last_poll = r;
	snprintf(d->note, sizeof(d->note), "%s", note ?: "");
}

static void die(const char *fmt, ...) _printf_(1, 2);

static void start_device(void *userdata)
{
	Device *d = userdata;

	if (updater_start(d->u) < 0)
		die("a device did not start");
}

static const UpdaterEvents events = { .changed = on_changed,
				      .finished = on_finished,
				      .checked = on_checked };

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fleet-sim: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("cannot write %s", path);
}

static void slot_file(const char *path)
{
	write_text(path, "");
	if (truncate(path, SLOT_SIZE) < 0)
		die("cannot size %s", path);
}

/* Device @i under @work: its configuration, slots, state directory and machine ID. */
static Config *device_config(const char *work, unsigned i, const char *server, const char *root)
{
	char dir[256], path[320], text[8192];
	Config *c = NULL;

	snprintf(dir, sizeof(dir), "%s/dev%04u", work, i);
	if (mkdir(dir, 0700) < 0)
		die("cannot create %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/state", dir);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/staging", dir);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cmdline", dir);
	write_text(path, "swupdated.slot=A\n");
	snprintf(path, sizeof(path), "%s/boot_id", dir);
	write_text(path, "fleet-boot-1\n");
	snprintf(path, sizeof(path), "%s/machine-id", dir);
	snprintf(text, sizeof(text), "%08x%08x%08x%08x\n", i * 2654435761u, i ^ 0x5bd1e995u,
		 ~i * 40503u, i);
	write_text(path, text);
	for (char s = 'A'; s <= 'B'; s++) {
		snprintf(path, sizeof(path), "%s/rootfs-%c", dir, s);
		slot_file(path);
	}
	snprintf(text, sizeof(text),
		 "[Update]\nCompatible=acme-gw-v2\nServer=%s\nPollIntervalSec=%d\n"
		 "PollJitterSec=%d\nAutoInstall=yes\nRebootPolicy=never\n"
		 "StagingDirectory=%s/staging\nMachineIdFile=%s/machine-id\n"
		 "[Network]\nRetries=2\n"
		 "[Trust]\nRootMetadata=%s\nRequireVerity=no\nStateDirectory=%s/state\n"
		 "[Boot]\nBootloader=none\nKernelCommandLine=%s/cmdline\nBootIdFile=%s/boot_id\n"
		 "[Slot.rootfs.A]\nDevice=%s/rootfs-A\n[Slot.rootfs.B]\nDevice=%s/rootfs-B\n",
		 server, INTERVAL_SEC, JITTER_SEC, dir, dir, root, dir, dir, dir, dir, dir);
	snprintf(path, sizeof(path), "%s/swupdated.conf", dir);
	write_text(path, text);
	if (config_load(path, &c) < 0)
		die("%s does not load", path);
	return c;
}

/* The online signer, between phases. */
static void signer(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		die("'%s' failed", cmd);
}

/* The share of the fleet (percent) that installed @version or newer. */
static double share(uint32_t version)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_devices; i++)
		n += devices[i].version >= version;
	return 100.0 * n / n_devices;
}

static const uint64_t round_usec = (uint64_t)(INTERVAL_SEC + JITTER_SEC) * USEC_PER_SEC;

int main(int argc, char **argv)
{
	const char *dir, *key, *root, *work, *swu;
	char server[512];
	Fetch *fetch = NULL;
	Config *c0 = NULL;
	uint64_t halt_at, last = 0;
	unsigned after_halt = 0, stale = 0, older = 0;

	if (argc != 8)
		die("usage: fleet-sim N CHANNEL-DIR TIMESTAMP-KEY ROOT.PB WORKDIR SWU SERVER-URL");
	n_devices = (unsigned)atoi(argv[1]);
	dir = argv[2], key = argv[3], root = argv[4], work = argv[5], swu = argv[6];
	snprintf(server, sizeof(server), "%s", argv[7]);
	devices = calloc(n_devices, sizeof(*devices));
	if (!devices || sd_event_new(&event) < 0)
		die("out of memory");
	vclock.now = (uint64_t)time(NULL) * USEC_PER_SEC;
	srand(1);
	signer("%s publish --bundle %s/v1.swu --dir %s >/dev/null && "
	       "%s timestamp --dir %s --expires 1d --initial-percent 0 --key %s >/dev/null && "
	       "cp %s/metadata.pb %s/v1-metadata.pb",
	       swu, work, dir, swu, dir, key, dir, work);
	for (unsigned i = 0; i < n_devices; i++) {
		Config *c = device_config(work, i, server, root);
		UpdaterSetup setup;
		ClockTimer *t;

		if (manager_new(c, &devices[i].m) < 0)
			die("device %u: no manager", i);
		if (!fetch && fetch_curl_new(event, c, &fetch) < 0)
			die("no fetch");
		c0 = c0 ?: c;
		setup = (UpdaterSetup){ .manager = devices[i].m,
					.event = event,
					.clock = &vclock.base,
					.fetch = fetch,
					.events = &events,
					.userdata = &devices[i] };
		if (updater_new(&setup, &devices[i].u) < 0)
			die("device %u: no updater", i);
		updater_load(devices[i].u);
		/* A fleet is switched on over time, not at once: each device starts within one
		 * round, and polls from then on at its interval, spread by its jitter. */
		if (v_timer_new(&vclock.base, 0, start_device, &devices[i], &t) < 0 ||
		    v_timer_set(t, vclock.now + (uint64_t)rand() % round_usec) < 0)
			die("out of memory");
	}

	/* Version 1 is out but held at 0% (the older release a freeze will serve later), while
	 * the fleet comes up; version 2 replaces it, stamped at 1% by the timer, then widened to
	 * 10% and 50%. */
	run_until(vclock.now + round_usec);
	printf("installed_v1_at_0 %.1f\n", share(1));
	signer("%s publish --bundle %s/v2.swu --dir %s >/dev/null && "
	       "%s timestamp --dir %s --expires 1d --initial-percent 1 --key %s >/dev/null",
	       swu, work, dir, swu, dir, key);
	run_until(vclock.now + round_usec);
	printf("installed_at_1 %.1f\n", share(2));
	static const int steps[] = { 10, 50 };
	for (size_t k = 0; k < ELEMENTSOF(steps); k++) {
		signer("%s rollout --dir %s --percent %d --key %s >/dev/null", swu, dir, steps[k],
		       key);
		run_until(vclock.now + round_usec);
		printf("installed_at_%d %.1f\n", steps[k], share(2));
	}
	fflush(stdout);

	/* To everyone, and halted a quarter of an interval later: who installs after the halt. */
	signer("%s rollout --dir %s --percent 100 --key %s >/dev/null", swu, dir, key);
	run_until(vclock.now + round_usec / 4);
	signer("%s rollout --dir %s --halt --key %s >/dev/null", swu, dir, key);
	halt_at = vclock.now;
	printf("installed_at_halt %.1f\n", share(2));
	run_until(vclock.now + 2 * round_usec);
	for (unsigned i = 0; i < n_devices; i++)
		if (devices[i].version >= 2 && devices[i].installed_at > halt_at) {
			after_halt++;
			last = MAX(last, devices[i].installed_at - halt_at);
		}
	printf("installed_two_rounds_after_halt %.1f\n", share(2));
	printf("installs_after_halt %u\n", after_halt);
	printf("halt_to_last_install_sec %.1f\n", (double)last / USEC_PER_SEC);
	printf("poll_interval_sec %d\n", INTERVAL_SEC);
	signer("%s rollout --dir %s --resume --key %s >/dev/null", swu, dir, key);
	run_until(vclock.now + round_usec);
	printf("installed_at_100 %.1f\n", share(2));
	fflush(stdout);

	/* A freeze: the server keeps what it has, nobody renews the timestamp. */
	run_until(vclock.now + (uint64_t)(25 * 3600) * USEC_PER_SEC);
	for (unsigned i = 0; i < n_devices; i++)
		stale += devices[i].last_poll == -EKEYEXPIRED;
	printf("devices_reporting_stale %.1f\n", 100.0 * stale / n_devices);
	printf("example_note %s\n", devices[0].note);
	/* ... and then serves the older release's metadata, validly signed. */
	signer("cp %s/v1-metadata.pb %s/metadata.pb && touch -d @%" PRIu64 " %s/metadata.pb", work,
	       dir, (uint64_t)time(NULL) + 60, dir);
	run_until(vclock.now + round_usec);
	for (unsigned i = 0; i < n_devices; i++)
		older += updater_get_available_version(devices[i].u) < 2 || devices[i].version < 2;
	printf("devices_going_back %u\n", older);
	printf("example_note_older %s\n", devices[0].note);
	for (unsigned i = 0; i < n_devices; i++) {
		updater_free(devices[i].u);
		manager_free(devices[i].m);
	}
	fetch_free(fetch);
	sd_event_unref(event);
	free(devices);
	return 0;
}
