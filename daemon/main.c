/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * swupdated, the update service of a device:
 *   swupdated [--config FILE]
 * serves io.swupdated.Updater1 on the system bus (started by the bus or by systemd, exiting when
 * idle after IdleExitSec=), polls Server= and installs what it offers as configured; and the
 * one-shot commands for factory lines, USB sticks, recovery shells and tests:
 *   swupdated [--config FILE] install BUNDLE | status [--json] | mark-good | mark-bad
 * Exit status: 0 success, 1 refused or failed (reason on stderr), 2 usage or configuration.
 *
 * The service's objects, from the top: main() owns the event loop, the bus connection, the clock
 * and the HTTP client; an UpdaterBus (updater-bus.c) serves an Updater (updater.c), which owns
 * its Poller (poller.c) and its Transfer (transfer*.c); all of them use the Manager
 * (manager.c: slots, bootloader, state) and libswu. See docs/design.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <malloc.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "clock.h"
#include "conf.h"
#include "fetch.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "updater-bus.h"
#include "updater.h"
#include "url.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2
};

static void help(FILE *f)
{
	fprintf(f,
		"Usage: swupdated [--config FILE] [COMMAND]\n\n"
		"Without a command: the update service. It serves io.swupdated.Updater1 on the\n"
		"system bus (swupdatectl(1), busctl), polls Server= and installs as AutoInstall=\n"
		"says, and exits after IdleExitSec= with nothing to do (the bus and\n"
		"swupdated-poll.timer start it again).\n\n"
		"Commands, for factory lines, recovery shells and scripts (the service need not "
		"run):\n"
		"  install BUNDLE   verify BUNDLE and install it into the inactive slots\n"
		"  status [--json]  booted slot, pending update, installed version\n"
		"  mark-good        confirm the booted update\n"
		"  mark-bad         reject the pending update and switch back\n"
		"  check-config     check the configuration: each error with its file and line\n\n"
		"\nOptions:\n"
		"  -c, --config FILE  the configuration (default: %s/swupdated.conf)\n"
		"  -h, --help         this text\n"
		"      --version      the version\n\n"
		"See swupdated(8) and swupdated.conf(5).\n",
		SYSCONFDIR);
}

/*
 * Power-cut tests: SWUPDATED_FAULT_INJECT=N kills the process (SIGKILL, no cleanup) at the N-th
 * point where an install could be interrupted.
 */
static void fault(void *userdata, const char *where)
{
	unsigned long *left = userdata;

	/* The install's read-back runs on a second thread: count atomically. */
	if (__atomic_load_n(left, __ATOMIC_SEQ_CST) > 0 &&
	    __atomic_sub_fetch(left, 1, __ATOMIC_SEQ_CST) == 0) {
		fprintf(stderr, "swupdated: fault injection: killed at '%s'\n", where);
		raise(SIGKILL);
	}
}

static int print_status(Manager *m, bool json)
{
	char booted[2] = { 0 }, pending[2] = { 0 };
	Status s;
	int r;

	r = manager_get_status(m, m->ctx, &s);
	if (r < 0)
		return r;
	booted[0] = s.booted_slot;
	pending[0] = s.pending_slot;
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "booted_slot", json_object_new_string(booted));
		json_object_object_add(o, "pending_slot", json_object_new_string(pending));
		json_object_object_add(o, "installed_version",
				       json_object_new_int64(s.installed_version));
		if (s.installed_error[0])
			json_object_object_add(o, "installed_error",
					       json_object_new_string(s.installed_error));
		json_object_object_add(o, "pending_version",
				       json_object_new_int64(s.pending_version));
		json_object_object_add(o, "state",
				       json_object_new_string(update_state_to_string(s.state)));
		json_object_object_add(o, "compatible",
				       json_object_new_string(m->config->compatible));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_SPACED));
		json_object_put(o);
		return 0;
	}
	printf("Booted slot:       %s\n", booted[0] ? booted : "unknown");
	if (s.pending_slot)
		printf("Pending slot:      %s (version %u, %s)\n", pending, s.pending_version,
		       s.state == UPDATE_PENDING_REBOOT ? "waiting for a reboot"
							: "waiting for mark-good");
	else
		printf("Pending slot:      none\n");
	if (s.installed_error[0])
		printf("Installed version: unknown: %s\n", s.installed_error);
	else
		printf("Installed version: %u\n", s.installed_version);
	printf("Compatible:        %s\n", m->config->compatible);
	return 0;
}

/*
 * One process changes the device at a time: the service, or a one-shot command that writes (install,
 * mark-good, mark-bad: status only reads). Both hold an exclusive lock (flock) on the state
 * directory itself for as long as they run: no file of its own. A command meets a running service
 * and refuses (its clients go through it); the service, once it owns its bus name (a second
 * instance stops there), meets a running command and waits for it, so a slot is never written by
 * two. The descriptor stays open until exit (closed on exec: a boot backend does not hold it).
 */
static int lock_device(const Config *c, bool service)
{
	const char *path = c->state_dir;
	int fd;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (errno != EWOULDBLOCK) {
		log_error_errno(-errno, "Cannot lock '%s'", path);
		close(fd);
		return -EIO;
	}
	if (!service) {
		log_error("swupdated runs as a service (it holds '%s'): use swupdatectl, "
			  "which goes through it",
			  path);
		close(fd);
		return -EBUSY;
	}
	log_info("Waiting for a one-shot swupdated command to finish (it holds '%s')", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			log_error_errno(-errno, "Cannot lock '%s'", path);
			close(fd);
			return -EIO;
		}
	return fd;
}

static int run(Manager *m, int argc, char **argv)
{
	const char *verb = argv[0];
	int r;

	if (streq(verb, "install")) {
		if (argc != 2)
			return log_error_errno(-EINVAL, "install takes one BUNDLE"), EXIT_USAGE;
		return manager_install(m, argv[1]) < 0 ? EXIT_FAILED : EXIT_OK;
	}
	if (streq(verb, "status")) {
		bool json = argc == 2 && streq(argv[1], "--json");

		if (argc > 2 || (argc == 2 && !json))
			return log_error_errno(-EINVAL, "status takes only --json"), EXIT_USAGE;
		r = manager_reconcile(m, m->ctx, NULL);
		if (r >= 0)
			r = print_status(m, json);
		if (r < 0)
			return log_failure(LOG_ERR, m->ctx, r, "Cannot tell the status"),
			       EXIT_FAILED;
		return EXIT_OK;
	}
	if ((streq(verb, "mark-good") || streq(verb, "mark-bad")) && argc == 1) {
		bool good = streq(verb, "mark-good");

		r = manager_mark(m, m->ctx, good, NULL, 0);
		if (r < 0)
			return log_failure(LOG_ERR, m->ctx, r, "Cannot mark the update %s",
					   good ? "good" : "bad"),
			       EXIT_FAILED;
		return EXIT_OK;
	}
	log_error("Unknown command or arguments: '%s' (see 'swupdated --help')", verb);
	return EXIT_USAGE;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Updater *u = userdata;

	log_info("Received %s: stopping", strsignal((int)si->ssi_signo));
	updater_shutdown(u);
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

#define BUS_NAME "io.swupdated.Updater1"

/*
 * Exit on idle (IdleExitSec=): the bus and swupdated-poll.timer start the daemon again, and all
 * a client reads is in the state directory. The countdown starts when the daemon becomes idle
 * and is not reset by property reads (a client reading every second would otherwise keep it up
 * forever); anything in progress (updater_busy()) stops it.
 *
 * Exiting loses no call: STOPPING=1 first (systemd then queues a new start until this process
 * is gone, instead of taking the unit for running), then ReleaseName. Calls routed to this
 * process before the release arrive before its reply and are answered; after it, the bus starts
 * a new instance. From STOPPING=1 on there is no way back (systemd stops the unit), so calls
 * that would begin work get io.swupdated.Error.Exiting and are made again to the next instance.
 */
typedef struct Idle {
	Updater *u;
	sd_bus *bus;
	sd_event_source *timer;
	uint64_t timeout;
} Idle;

static void idle_arm(Idle *i)
{
	uint64_t now;
	int enabled = SD_EVENT_OFF;

	if (i->u->exiting)
		return;
	if (updater_busy(i->u)) {
		(void)sd_event_source_set_enabled(i->timer, SD_EVENT_OFF);
		return;
	}
	if (sd_event_source_get_enabled(i->timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
		return;
	(void)sd_event_now(sd_event_source_get_event(i->timer), CLOCK_MONOTONIC, &now);
	(void)sd_event_source_set_time(i->timer, now + i->timeout);
	(void)sd_event_source_set_enabled(i->timer, SD_EVENT_ONESHOT);
}

/* After every dispatched event: whether the daemon is idle may have changed. */
static int on_post(sd_event_source *s, void *userdata)
{
	idle_arm(userdata);
	return 0;
}

static int on_name_released(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	Idle *i = userdata;

	if (sd_bus_message_is_method_error(m, NULL))
		log_warning("Cannot release %s: %s", BUS_NAME,
			    sd_bus_message_get_error(m)->message);
	/* Every call routed here before the release came before this reply, and is answered. */
	return sd_event_exit(sd_event_source_get_event(i->timer), 0);
}

static int on_idle_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	Idle *i = userdata;
	int r;

	if (updater_busy(i->u))
		return 0;
	log_info("Idle for %" PRIu64 " s: exiting (the bus or swupdated-poll.timer starts "
		 "swupdated again)",
		 i->timeout / 1000000);
	sd_notify(0, "STOPPING=1\nSTATUS=Idle: exiting");
	updater_set_exiting(i->u);
	r = sd_bus_release_name_async(i->bus, NULL, BUS_NAME, on_name_released, i);
	if (r < 0) {
		log_error_errno(r, "Cannot release %s", BUS_NAME);
		return sd_event_exit(sd_event_source_get_event(s), 0);
	}
	return 0;
}

static int idle_setup(Idle *i, sd_event *event)
{
	int r;

	r = sd_event_add_time(event, &i->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_idle_timeout, i);
	if (r >= 0)
		r = sd_event_source_set_enabled(i->timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_post(event, NULL, on_post, i);
	if (r < 0)
		return r;
	idle_arm(i);
	return 0;
}

/* The loop of the service: SIGTERM and SIGINT come through it (blocked for the process). */
static int event_new(sd_event **ret)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	return sd_event_default(ret);
}

/* The service: sd-event loop, D-Bus name, READY=1 once the name is owned, watchdog pings. */
static int run_daemon(Manager *m)
{
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(clock_freep) Clock *clock = NULL;
	_cleanup_(fetch_freep) Fetch *fetch = NULL;
	_cleanup_(updater_bus_freep) UpdaterBus *b = NULL;
	_cleanup_(updater_freep) Updater *u = NULL;
	_cleanup_free_ char *server = NULL;
	Idle idle = { .timeout = (uint64_t)m->config->idle_exit_sec * 1000000 };
	_cleanup_close_ int lock = -EBADF;
	UpdaterSetup setup;
	int r;

	r = event_new(&event);
	if (r < 0)
		return log_error_errno(r, "Cannot create the event loop");
	(void)sd_event_set_watchdog(event, true);
	r = sd_bus_open_system(&bus);
	if (r < 0)
		return log_error_errno(r, "Cannot connect to the system bus");
	r = clock_event_new(event, &clock);
	if (r >= 0)
		r = fetch_curl_new(event, m->config, &fetch);
	if (r >= 0)
		r = updater_bus_new(bus, &b);
	if (r >= 0) {
		setup = (UpdaterSetup){
			.manager = m,
			.event = event,
			.clock = clock,
			.fetch = fetch,
			.timer_mode = m->config->idle_exit_sec > 0,
			.bus = bus,
			.events = &updater_bus_events,
			.userdata = b,
		};
		r = updater_new(&setup, &u);
	}
	if (r < 0)
		return log_error_errno(r, "Cannot set up the updater");
	r = updater_bus_register(b, u);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, u);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGINT, on_signal, u);
	if (r >= 0)
		r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_request_name(bus, BUS_NAME, 0);
	if (r < 0)
		return log_error_errno(r, "Cannot own %s%s", BUS_NAME,
				       r == -EEXIST ? ": another swupdated runs" : "");
	/*
	 * The name is this process's, so no other service holds the device: a one-shot command may,
	 * and is waited for (calls wait in the bus's queue meanwhile). Then the state is this
	 * process's to repair and load.
	 */
	lock = lock_device(m->config, /* service= */ true);
	if (lock < 0)
		return lock;
	(void)swu_device_repair(m->ctx, &m->device);
	swu_context_clear_failure(m->ctx);
	/* Calls wait in the bus's queue until the loop runs: none sees the state half-loaded. */
	updater_load(u);
	r = updater_start(u);
	if (r >= 0 && idle.timeout) {
		idle.u = u;
		idle.bus = bus;
		r = idle_setup(&idle, event);
	}
	if (r < 0)
		return log_error_errno(r, "Cannot schedule polling");
	sd_notifyf(0, "READY=1\nSTATUS=Idle, installed version %u", u->installed_version);
	/* The log is for every local user: Server= without its user information (url_redact()). */
	if (m->config->server && url_redact(m->config->server, &server) < 0)
		return log_error_errno(-ENOMEM, "Cannot start");
	log_info("Running: booted slot %c, installed version %u, server %s",
		 m->booted ? m->booted : '?', u->installed_version, server ?: "(none)");
	r = sd_event_loop(event);
	sd_notify(0, "STOPPING=1");
	/* What clients read is the same when the daemon starts again. */
	updater_shutdown(u);
	updater_save_status(u);
	idle.timer = sd_event_source_disable_unref(idle.timer);
	return r;
}

/* Any call while the configuration does not load: its first error, file and line. */
static int on_call_refused(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	return sd_bus_error_setf(ret_error, "io.swupdated.Error.BadConfiguration",
				 "swupdated cannot run: %s", (const char *)userdata);
}

static int on_refusing_done(sd_event_source *s, uint64_t usec, void *userdata)
{
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* check-config with Bootloader=systemd-boot: where the slots' UKIs go, and whether that exists. */
static void check_config_sdboot(const Config *c)
{
	_cleanup_free_ char *dir = NULL;
	const char *target = NULL;

	for (size_t i = 0; i < c->n_slots; i++)
		if (c->slots[i].boot_entry)
			target = c->slots[i].target;
	printf("systemd-boot: target '%s' in '%s/EFI/Linux/%s-A.efi' and '%s-B.efi', "
	       "BootAttempts=%u, EFI variables in '%s'\n",
	       target, c->esp, c->boot_entry_stem, c->boot_entry_stem, c->boot_attempts,
	       c->efivars);
	/* Not an error: the ESP may be mounted later (an automount). */
	fflush(stdout);
	if (asprintf(&dir, "%s/EFI/Linux", c->esp) >= 0 && access(dir, W_OK) < 0)
		fprintf(stderr, "%s: warning: '%s' cannot be written now: %s\n", c->path, dir,
			strerror(errno));
}

/*
 * The service with a configuration that does not load: a client activating it (swupdatectl,
 * an agent) learns why instead of "not running". It owns the name and answers every call with
 * io.swupdated.Error.BadConfiguration for 30 s, then exits 2, which the unit does not restart
 * (RestartPreventExitStatus=2: no restart mends a configuration).
 */
static int serve_config_error(const char *why)
{
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	r = event_new(&event);
	if (r >= 0)
		r = sd_bus_open_system(&bus);
	if (r >= 0)
		r = sd_bus_add_object(bus, NULL, "/io/swupdated/Updater1", on_call_refused,
				      (void *)why);
	if (r >= 0)
		r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_request_name(bus, BUS_NAME, 0);
	if (r >= 0)
		r = sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, 30 * 1000000, 0,
					       on_refusing_done, NULL);
	if (r < 0)
		return EXIT_USAGE; /* the error is logged already; the bus cannot tell it */
	(void)sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
	(void)sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
	sd_notifyf(0, "READY=1\nSTATUS=Configuration error: %s", why);
	(void)sd_event_loop(event);
	sd_notify(0, "STOPPING=1");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option options[] = { { "config", required_argument, NULL, 'c' },
						 { "help", no_argument, NULL, 'h' },
						 { "version", no_argument, NULL, 'V' },
						 {} };
	const char *config_path = SYSCONFDIR "/swupdated.conf";
	unsigned long fault_at = 0;
	_cleanup_free_ char *why = NULL;
	Manager *m = NULL;
	Config *c = NULL;
	const char *env;
	_cleanup_close_ int lock = -EBADF;
	int opt, r;

	/*
	 * A small daemon (glibc): one malloc arena for all threads, and buffers of 32 KiB or more
	 * (a delta's tables and batches, ranges held for their turn) mapped on their own and given
	 * back to the kernel when freed, not left to fragment the heap. A fixed threshold also
	 * stops glibc from raising it after the first large free.
	 */
#ifdef M_ARENA_MAX
	(void)mallopt(M_ARENA_MAX, 1);
#endif
#ifdef M_MMAP_THRESHOLD
	(void)mallopt(M_MMAP_THRESHOLD, 32 * 1024);
#endif

	while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) >= 0) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			help(stdout);
			return EXIT_OK;
		case 'V':
			printf("swupdated %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		default:
			help(stderr);
			return EXIT_USAGE;
		}
	}
	r = config_load_why(config_path, &c, &why);
	if (r < 0 && optind >= argc)
		return serve_config_error(why ?: "the configuration does not load");
	if (r < 0)
		return EXIT_USAGE;
	if (optind + 1 == argc && streq(argv[optind], "check-config")) {
		_cleanup_free_ char *server = NULL;
		const char *key, *path;

		/* Shown as everywhere: without user information, query string or fragment. */
		if (c->server && url_redact(c->server, &server) < 0) {
			config_free(c);
			return EXIT_FAILED;
		}
		printf("%s: valid (%zu slots, Bootloader=%s, %s)\n", c->path, c->n_slots,
		       swu_bootloader_to_string(c->bootloader), server ?: "no Server=");
		if (c->bootloader == SWU_BOOT_SYSTEMD_BOOT)
			check_config_sdboot(c);
		/* Not an error: the file may be on a partition mounted later. Each one is said. */
		for (size_t next = 0; (r = config_unreadable_file(c, &next, &key, &path)) < 0;)
			fprintf(stderr,
				"%s: warning: %s= '%s' cannot be read now: %s (polls need it)\n",
				c->path, key, path, strerror(-r));
		/* The same for the custom boot backend, which every install and boot runs. */
		if (c->bootloader == SWU_BOOT_CUSTOM && access(c->custom_backend, X_OK) < 0)
			fprintf(stderr,
				"%s: warning: CustomBackend= '%s' cannot be run now: %s "
				"(installs and boot confirmations need it)\n",
				c->path, c->custom_backend, strerror(errno));
		config_free(c);
		return EXIT_OK;
	}
	if (manager_new(c, &m) < 0)
		return EXIT_USAGE;
	/* The service locks the device once it owns its bus name (run_daemon()). */
	if (optind < argc && !streq(argv[optind], "status")) {
		lock = lock_device(c, /* service= */ false);
		if (lock < 0) {
			manager_free(m);
			return EXIT_FAILED;
		}
	}
	/* State left by earlier versions: obsolete rotated roots go (each one is logged). */
	if (optind < argc) {
		(void)swu_device_repair(m->ctx, &m->device);
		swu_context_clear_failure(m->ctx);
	}
	env = getenv("SWUPDATED_FAULT_INJECT");
	if (env) {
		fault_at = strtoul(env, NULL, 10);
		swu_context_set_fault(m->ctx, fault, &fault_at);
	}
	if (optind >= argc)
		r = run_daemon(m) < 0 ? EXIT_FAILED : EXIT_OK;
	else
		r = run(m, argc - optind, argv + optind);
	manager_free(m);
	return r;
}
