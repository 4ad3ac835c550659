/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * swupdatectl: talks to swupdated over D-Bus (io.swupdated.Updater1).
 * Exit status: 0 success, 1 the operation failed or was refused, 2 usage or bus errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "text.h"

#define SERVICE	  "io.swupdated.Updater1"
#define OBJECT	  "/io/swupdated/Updater1"
#define INTERFACE "io.swupdated.Updater1"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2
};

static const char *arg_address;
static bool arg_json;

/* What the daemon says may quote a server or a bundle: never a terminal control byte raw. */
static char *safe_dup(const char *s)
{
	size_t n = strlen(s), size = 4 * n + 1;
	char *out = malloc(size);

	return out ? swu_escape(s, n, out, size) : NULL;
}

static int bus_error(const sd_bus_error *e, int r, const char *what)
{
	_cleanup_free_ char *message = safe_dup(e && e->message ? e->message : strerror(-r));

	/* The bus policy's refusal lists its rules: the person needs to know who may call. */
	if (e && sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED) && message &&
	    strncmp(message, "Only root", 9) != 0) {
		fprintf(stderr,
			"swupdatectl: %s: only root and members of the group 'swupdate' may do "
			"this (the bus policy refused the call)\n",
			what);
		return EXIT_FAILED;
	}
	fprintf(stderr, "swupdatectl: %s: %s\n", what, message ?: "");
	/* The daemon answered with a refusal: the operation failed (1). Not reaching the daemon
	 * at all is a usage or bus error (2). */
	if (e && sd_bus_error_is_set(e) &&
	    !sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NO_REPLY,
				    SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_DISCONNECTED))
		return EXIT_FAILED;
	return EXIT_USAGE;
}

/*
 * The daemon was exiting when the call arrived (it exits when idle): once it is gone, the same
 * call starts the next instance. True when the call should be made again.
 */
static bool retry_after_exit(sd_bus *bus, sd_bus_error *e, unsigned *attempts)
{
	if (!sd_bus_error_has_name(e, "io.swupdated.Error.Exiting") || ++*attempts > 3)
		return false;
	sd_bus_error_free(e);
	/* At most 5 s for it to leave the bus. */
	for (int i = 0; i < 100; i++) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
		int has = 0;

		if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				       "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
				       SERVICE) < 0 ||
		    sd_bus_message_read(reply, "b", &has) < 0 || !has)
			break;
		usleep(50000);
	}
	return true;
}

/* SetChannel waits for a running poll to end (a timer's, say): asked again for up to 5 minutes,
 * PollTimeoutSec='s default. */
static bool retry_after_poll(sd_bus_error *e, unsigned *polls)
{
	if (!sd_bus_error_has_name(e, "io.swupdated.Error.InvalidState") || !e->message ||
	    !strstr(e->message, "waits for the running poll") || ++*polls > 3000)
		return false;
	sd_bus_error_free(e);
	usleep(100000);
	return true;
}

static char *get_string(sd_bus *bus, const char *name)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *s = NULL;

	if (sd_bus_get_property_string(bus, SERVICE, OBJECT, INTERFACE, name, &e, &s) < 0)
		s = strdup("");
	sd_bus_error_free(&e);
	return s ? safe_dup(s) : NULL;
}

static uint64_t get_number(sd_bus *bus, const char *name, char type)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	uint64_t t = 0;
	uint32_t u = 0;

	if (type == 'u')
		(void)sd_bus_get_property_trivial(bus, SERVICE, OBJECT, INTERFACE, name, &e, 'u',
						  &u);
	else
		(void)sd_bus_get_property_trivial(bus, SERVICE, OBJECT, INTERFACE, name, &e, 't',
						  &t);
	sd_bus_error_free(&e);
	return type == 'u' ? u : t;
}

static const char *format_time(uint64_t usec, char *buf, size_t n)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, n, "never");
	return buf;
}

/* 1536 bytes as "1.5 KiB", up to GiB; plain bytes below 1 KiB. */
static const char *format_size(uint64_t bytes, char *buf, size_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, n, "%" PRIu64 " B", bytes);
		return buf;
	}
	while ((v /= 1024) >= 1024 && u + 1 < ELEMENTSOF(units))
		u++;
	snprintf(buf, n, "%.1f %s", v, units[u]);
	return buf;
}

/* The a{sv} of GetAll as JSON members of @o: strings, numbers, booleans, string arrays. */
static int properties_json(sd_bus_message *m, json_object *o)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r > 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name, *contents, *str;
		json_object *v = NULL;
		char type;

		r = sd_bus_message_read(m, "s", &name);
		if (r >= 0)
			r = sd_bus_message_peek_type(m, &type, &contents);
		if (r >= 0)
			r = sd_bus_message_enter_container(m, 'v', contents);
		if (r < 0)
			return r;
		if (streq(contents, "s")) {
			r = sd_bus_message_read_basic(m, 's', &str);
			v = r >= 0 ? json_object_new_string(str) : NULL;
		} else if (streq(contents, "b")) {
			int b = 0;

			r = sd_bus_message_read_basic(m, 'b', &b);
			v = json_object_new_boolean(b);
		} else if (streq(contents, "u")) {
			uint32_t u = 0;

			r = sd_bus_message_read_basic(m, 'u', &u);
			v = json_object_new_int64(u);
		} else if (streq(contents, "t")) {
			uint64_t t = 0;

			r = sd_bus_message_read_basic(m, 't', &t);
			v = json_object_new_int64((int64_t)t);
		} else if (streq(contents, "as")) {
			v = json_object_new_array();
			r = sd_bus_message_enter_container(m, 'a', "s");
			while (r > 0 && (r = sd_bus_message_read_basic(m, 's', &str)) > 0)
				json_object_array_add(v, json_object_new_string(str));
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		} else
			r = sd_bus_message_skip(m,
						contents); /* a type this version does not know */
		if (r >= 0)
			r = sd_bus_message_exit_container(m); /* v */
		if (r >= 0)
			r = sd_bus_message_exit_container(m); /* e */
		if (r < 0) {
			json_object_put(v);
			return r;
		}
		if (v)
			json_object_object_add(o, name, v);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	return r;
}

static int verb_status(sd_bus *bus)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	char a[64], b[64], c[32], d[32], f[32];
	sd_bus_error e = SD_BUS_ERROR_NULL;
	json_object *o;
	int r;

	if (!arg_json) {
		_cleanup_free_ char *state = NULL, *result = NULL, *note = NULL, *booted = NULL;
		_cleanup_free_ char *pending = NULL, *compatible = NULL, *raw = NULL;
		_cleanup_free_ char *rollout = get_string(bus, "Rollout");
		_cleanup_free_ char *channel = get_string(bus, "Channel");

		/* Why swupdated does not answer (not activatable, a configuration error) is the
		 * answer to give. */
		r = sd_bus_get_property_string(bus, SERVICE, OBJECT, INTERFACE, "State", &e, &raw);
		if (r < 0) {
			r = bus_error(&e, r, "Cannot read the status");
			sd_bus_error_free(&e);
			return r;
		}
		state = safe_dup(raw);
		result = get_string(bus, "Result");
		note = get_string(bus, "Note");
		booted = get_string(bus, "BootedSlot");
		pending = get_string(bus, "PendingSlot");
		compatible = get_string(bus, "Compatible");
		if (!state || !result || !note || !booted || !pending || !compatible)
			return bus_error(NULL, -ENOMEM, "Cannot read the status");
		printf("       State: %s%s%s\n", state, result[0] ? ", " : "", result);
		printf(" Booted slot: %s\n", booted);
		/* Installed, then booted: it waits for MarkGood; not booted yet: for a reboot. */
		if (pending[0])
			printf("Pending slot: %s (%s)\n", pending,
			       streq(pending, booted) ? "booted, waiting for mark-good or mark-bad"
						      : "waiting for a reboot into it");
		else
			printf("Pending slot: none\n");
		printf("   Installed: version %" PRIu64 "\n",
		       get_number(bus, "InstalledVersion", 'u'));
		printf("   Available: version %" PRIu64 "%s%s\n",
		       get_number(bus, "AvailableVersion", 'u'), rollout && *rollout ? ", " : "",
		       rollout ? rollout : "");
		printf("     Channel: %s\n", channel && *channel ? channel : "none (Server=)");
		printf("  Compatible: %s\n", compatible);
		printf("  Last check: %s, next %s\n",
		       format_time(get_number(bus, "LastCheck", 't'), a, sizeof(a)),
		       format_time(get_number(bus, "NextCheck", 't'), b, sizeof(b)));
		/* The target being written, while one is. */
		if (streq(state, "transferring") && get_number(bus, "BytesTotal", 't') > 0) {
			_cleanup_free_ char *target = get_string(bus, "CurrentTarget");

			printf("    Transfer: %s: %s of %s; %s of %s downloaded, %s reused from "
			       "the "
			       "slots\n",
			       target, format_size(get_number(bus, "BytesDone", 't'), a, sizeof(a)),
			       format_size(get_number(bus, "BytesTotal", 't'), b, sizeof(b)),
			       format_size(get_number(bus, "DownloadDone", 't'), c, sizeof(c)),
			       format_size(get_number(bus, "DownloadTotal", 't'), d, sizeof(d)),
			       format_size(get_number(bus, "BytesReused", 't'), f, sizeof(f)));
		}
		/* The whole install (or the last one): what a delta saved shows here. */
		if (get_number(bus, "TotalWritten", 't') > 0)
			printf("     Install: %s written into the slots, %s downloaded, %s reused "
			       "from the slots\n",
			       format_size(get_number(bus, "TotalWritten", 't'), a, sizeof(a)),
			       format_size(get_number(bus, "TotalDownloaded", 't'), b, sizeof(b)),
			       format_size(get_number(bus, "TotalReused", 't'), c, sizeof(c)));
		if (note[0])
			printf("        Note: %s\n", note);
		return EXIT_OK;
	}
	/* Every property the daemon serves, by its name and type (GetAll): none is left out. */
	r = sd_bus_call_method(bus, SERVICE, OBJECT, "org.freedesktop.DBus.Properties", "GetAll",
			       &e, &reply, "s", INTERFACE);
	if (r < 0) {
		r = bus_error(&e, r, "Cannot read the status");
		sd_bus_error_free(&e);
		return r;
	}
	o = json_object_new_object();
	r = properties_json(reply, o);
	if (r < 0) {
		json_object_put(o);
		fprintf(stderr, "swupdatectl: cannot read the properties: %s\n", strerror(-r));
		return EXIT_FAILED;
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_SPACED));
	json_object_put(o);
	return EXIT_OK;
}

static int call_simple(sd_bus *bus, const char *method)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	unsigned attempts = 0;
	int r;

	do
		r = sd_bus_call_method(bus, SERVICE, OBJECT, INTERFACE, method, &e, NULL, NULL);
	while (r < 0 && retry_after_exit(bus, &e, &attempts));
	if (r < 0) {
		r = bus_error(&e, r, method);
		sd_bus_error_free(&e);
		return r;
	}
	return EXIT_OK;
}

/* channel: the channel polled and those allowed; with @name (not NULL), SetChannel(@name) first. */
static int verb_channel(sd_bus *bus, const char *name)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_free_ char *channel = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	unsigned attempts = 0, polls = 0;
	const char *s;
	bool any = false;
	int r;

	if (name) {
		do
			r = sd_bus_call_method(bus, SERVICE, OBJECT, INTERFACE, "SetChannel", &e,
					       NULL, "s", name);
		while (r < 0 &&
		       (retry_after_exit(bus, &e, &attempts) || retry_after_poll(&e, &polls)));
		if (r < 0) {
			r = bus_error(&e, r, "SetChannel");
			sd_bus_error_free(&e);
			return r;
		}
	}
	channel = get_string(bus, "Channel");
	r = sd_bus_get_property(bus, SERVICE, OBJECT, INTERFACE, "Channels", &e, &reply, "as");
	if (r < 0) {
		r = bus_error(&e, r, "Cannot read the channels");
		sd_bus_error_free(&e);
		return r;
	}
	printf("Channel: %s\nChannels:", channel && *channel ? channel : "none (Server=)");
	r = sd_bus_message_enter_container(reply, 'a', "s");
	while (r >= 0 && (r = sd_bus_message_read(reply, "s", &s)) > 0) {
		_cleanup_free_ char *shown = safe_dup(s);

		printf(" %s", shown ? shown : "?");
		any = true;
	}
	printf("%s\n", any ? "" : " none ([Channels] lists none)");
	return r < 0 ? bus_error(NULL, r, "Cannot read the channels") : EXIT_OK;
}

/* check: Check(); poll (what swupdated-poll.timer runs): ScheduledCheck(). */
static int verb_check(sd_bus *bus, const char *method)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	uint32_t version;
	unsigned attempts = 0;
	int available, r;

	/* The answer comes when the poll ends: PollTimeoutSec= (300 s) and more, not the bus's
	 * default 25 s. A daemon that dies meanwhile is answered for by the bus at once. */
	(void)sd_bus_set_method_call_timeout(bus, UINT64_C(3600) * 1000000);
	do
		r = sd_bus_call_method(bus, SERVICE, OBJECT, INTERFACE, method, &e, &reply, NULL);
	while (r < 0 && retry_after_exit(bus, &e, &attempts));
	if (r < 0) {
		r = bus_error(&e, r, method);
		sd_bus_error_free(&e);
		return r;
	}
	r = sd_bus_message_read(reply, "bu", &available, &version);
	if (r < 0)
		return bus_error(NULL, r, method);
	if (available)
		printf("Version %u is available\n", version);
	else
		printf("Up to date (version %u is published)\n", version);
	return EXIT_OK;
}

typedef struct Watch {
	sd_bus *bus;
	bool until_finished, done, tty;
	bool bar_open; /* a progress bar is on the terminal's current line */
	/* Heap strings, escaped, never cut: a cut name would differ from the next signal's. */
	char *state;  /* NULL: not known yet */
	char *target; /* the target of the progress shown; NULL: none */
	uint64_t bytes_done, bytes_total;
	uint64_t download_done, bytes_reused; /* a delta: what came from the network, the slots */
	uint64_t target_start;		      /* when this target's progress began, for its rate */
	uint64_t last_line; /* without a terminal: when the last progress line was printed */
	bool target_done;   /* its 100% line was printed */
	bool lost;	    /* the daemon left the bus */
	char *owner;	    /* install: the daemon's unique name that took the call */
} Watch;

static void watch_done(Watch *w)
{
	free(w->state);
	free(w->target);
	free(w->owner);
}

static bool isempty(const char *s)
{
	return !s || !s[0];
}

static bool streq_ptr(const char *a, const char *b)
{
	return a && b && streq(a, b);
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void end_bar(Watch *w)
{
	if (w->bar_open)
		putchar('\n');
	w->bar_open = false;
}

static const char *format_eta(double seconds, char *buf, size_t n)
{
	if (seconds < 0 || seconds > 99 * 3600)
		snprintf(buf, n, "--");
	else if (seconds < 60)
		snprintf(buf, n, "%.0fs", seconds);
	else
		snprintf(buf, n, "%um%02us", (unsigned)(seconds / 60), (unsigned)seconds % 60);
	return buf;
}

/*
 * One target's progress, from the values the daemon sent: on a terminal a bar redrawn in place
 * (its line cleared first), a new line for each target; otherwise a line per target when it
 * starts and ends, and at most one a second in between.
 */
static void show_progress(Watch *w)
{
	uint64_t done = w->bytes_done, total = w->bytes_total, now = now_usec();
	unsigned percent;
	double secs, rate;
	char eta[32];

	if (!streq_ptr(w->state, "transferring") || total == 0 || isempty(w->target))
		return;
	done = MIN(done, total);
	percent = (unsigned)(done * 100 / total);
	if (w->tty) {
		int bar = (int)(done * 30 / total);

		secs = (double)(now - w->target_start) / 1e6;
		rate = secs > 0.05 ? (double)done / secs : 0;
		printf("\r\033[K  %-12.12s [%.*s%*s] %3u%% %7.1f/%.1f MiB %6.1f MiB/s ETA %s",
		       w->target, bar, "==============================", 30 - bar, "", percent,
		       (double)done / 1048576, (double)total / 1048576, rate / 1048576,
		       format_eta(rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof(eta)));
		/* A delta: where the bytes come from, as the lines without a terminal say. */
		if (w->bytes_reused > 0)
			printf(" (%.1f MiB downloaded, %.1f MiB reused)",
			       (double)w->download_done / 1048576,
			       (double)w->bytes_reused / 1048576);
		fflush(stdout);
		w->bar_open = true;
		return;
	}
	if (done == total && w->target_done)
		return;
	if (w->last_line != 0 && now - w->last_line < 1000000 && done != total)
		return;
	if (w->bytes_reused > 0)
		printf("  %s: %" PRIu64 "/%" PRIu64 " bytes (%u%%), %" PRIu64 " downloaded, "
		       "%" PRIu64 " reused"
		       "\n",
		       w->target, done, total, percent, w->download_done, w->bytes_reused);
	else
		printf("  %s: %" PRIu64 "/%" PRIu64 " bytes (%u%%)\n", w->target, done, total,
		       percent);
	fflush(stdout);
	w->last_line = now;
	w->target_done = done == total;
}

static void set_target(Watch *w, const char *name)
{
	_cleanup_free_ char *target = safe_dup(name);

	if (!target || streq_ptr(target, w->target))
		return;
	end_bar(w);
	free(w->target);
	w->target = TAKE_PTR(target);
	w->target_start = now_usec();
	w->last_line = 0;
	w->target_done = false;
}

static void set_state(Watch *w, const char *name)
{
	_cleanup_free_ char *state = safe_dup(name);

	if (!state || streq_ptr(state, w->state))
		return;
	end_bar(w);
	printf("%s\n", state);
	fflush(stdout);
	free(w->state);
	w->state = TAKE_PTR(state);
	w->target = mfree(w->target);
}

/* Every state change is shown, and progress comes with the values of the signal itself. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Watch *w = userdata;
	const char *interface, *name, *value;
	bool progress = false;
	int r;

	r = sd_bus_message_read(m, "s", &interface);
	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		r = sd_bus_message_read(m, "s", &name);
		if (r >= 0 && (streq(name, "State") || streq(name, "CurrentTarget"))) {
			r = sd_bus_message_read(m, "v", "s", &value);
			if (r >= 0 && streq(name, "State"))
				set_state(w, value);
			else if (r >= 0)
				set_target(w, value);
		} else if (r >= 0 && streq(name, "BytesDone")) {
			r = sd_bus_message_read(m, "v", "t", &w->bytes_done);
			progress = true;
		} else if (r >= 0 && streq(name, "BytesTotal")) {
			r = sd_bus_message_read(m, "v", "t", &w->bytes_total);
			progress = true;
		} else if (r >= 0 && streq(name, "DownloadDone")) {
			r = sd_bus_message_read(m, "v", "t", &w->download_done);
		} else if (r >= 0 && streq(name, "BytesReused")) {
			r = sd_bus_message_read(m, "v", "t", &w->bytes_reused);
		} else if (r >= 0)
			r = sd_bus_message_skip(m, "v");
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	if (progress)
		show_progress(w);
	return 0;
}

static void print_finished(Watch *w, const char *result, const char *note)
{
	_cleanup_free_ char *r = safe_dup(result), *n = safe_dup(note);

	end_bar(w);
	printf("Finished: %s%s%s\n", r ?: "", n && n[0] ? ": " : "", n ?: "");
	fflush(stdout);
}

static int on_finished(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Watch *w = userdata;
	const char *result, *note;

	if (sd_bus_message_read(m, "ss", &result, &note) >= 0)
		print_finished(w, result, note);
	if (w->until_finished)
		w->done = true;
	return 0;
}

/* After the daemon came back or was started again: what it says now. */
static void resync(Watch *w)
{
	_cleanup_free_ char *state = get_string(w->bus, "State");

	if (!state || !state[0])
		return;
	set_state(w, state);
	if (w->until_finished && streq_ptr(w->state, "finished")) {
		_cleanup_free_ char *result = get_string(w->bus, "Result");
		_cleanup_free_ char *note = get_string(w->bus, "Note");

		print_finished(w, result ?: "", note ?: "");
		w->done = true;
	}
}

/*
 * The daemon left the bus or came back. It exits when idle and the bus starts it again, so
 * `watch` waits for it (without starting it: that would keep it from ever exiting); an install
 * in progress never idles, so `install` asks the daemon (which starts it again) what became of
 * its install.
 */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Watch *w = userdata;
	const char *name, *old_owner, *new_owner;

	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    !streq(name, SERVICE))
		return 0;
	/* Install: an instance that exited before the one that took the call, or that one coming
	 * up, is not news. */
	if (!isempty(w->owner) &&
	    (new_owner[0] ? streq(new_owner, w->owner) : !streq(old_owner, w->owner)))
		return 0;
	end_bar(w);
	if (new_owner[0]) {
		printf("swupdated is back on the bus\n");
		fflush(stdout);
		resync(w);
		return 0;
	}
	if (!w->until_finished) {
		printf("swupdated left the bus (idle exit or stop); waiting for it to come back\n");
		fflush(stdout);
		w->state = mfree(w->state);
		return 0;
	}
	fprintf(stderr, "swupdatectl: swupdated left the bus during the install; asking it what "
			"happened\n");
	w->state = mfree(w->state);
	resync(w);
	if (isempty(w->state)) {
		fprintf(stderr, "swupdatectl: swupdated did not come back\n");
		w->lost = true;
		w->done = true;
	}
	return 0;
}

static int watch_setup(Watch *w)
{
	int r;

	r = sd_bus_add_match(w->bus, NULL,
			     "type='signal',sender='org.freedesktop.DBus',"
			     "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
			     "arg0='" SERVICE "'",
			     on_owner_changed, w);
	if (r >= 0)
		r = sd_bus_match_signal(w->bus, NULL, SERVICE, OBJECT,
					"org.freedesktop.DBus.Properties", "PropertiesChanged",
					on_properties_changed, w);
	if (r >= 0)
		r = sd_bus_match_signal(w->bus, NULL, SERVICE, OBJECT, INTERFACE, "Finished",
					on_finished, w);
	if (r < 0)
		return bus_error(NULL, r, "Cannot watch the daemon");
	return EXIT_OK;
}

static int watch_loop(Watch *w)
{
	_cleanup_free_ char *state = get_string(w->bus, "State");
	int r;

	if (isempty(w->state) && state)
		set_state(w, state);
	/* Finished before we looked (a small local bundle): report it from the properties. */
	if (w->until_finished && streq_ptr(w->state, "finished")) {
		_cleanup_free_ char *result = get_string(w->bus, "Result");
		_cleanup_free_ char *note = get_string(w->bus, "Note");

		print_finished(w, result ?: "", note ?: "");
		return EXIT_OK;
	}
	while (!w->done) {
		r = sd_bus_process(w->bus, NULL);
		if (r < 0)
			return bus_error(NULL, r, "Lost the bus");
		if (r > 0)
			continue;
		r = sd_bus_wait(w->bus, UINT64_MAX);
		if (r < 0)
			return bus_error(NULL, r, "Lost the bus");
	}
	return w->lost ? EXIT_USAGE : EXIT_OK;
}

static int watch(sd_bus *bus, bool until_finished)
{
	_cleanup_(watch_done) Watch w = { .bus = bus,
					  .until_finished = until_finished,
					  .tty = isatty(STDOUT_FILENO) };
	int r = watch_setup(&w);

	return r != EXIT_OK ? r : watch_loop(&w);
}

static int verb_install(sd_bus *bus, const char *source, bool reinstall)
{
	_cleanup_(watch_done)
		Watch w = { .bus = bus, .until_finished = true, .tty = isatty(STDOUT_FILENO) };
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *result = NULL;
	unsigned attempts = 0;
	int r;

	/* Subscribe before starting, so no state change is missed. */
	r = watch_setup(&w);
	if (r != EXIT_OK)
		return r;
	do
		r = reinstall ? sd_bus_call_method(bus, SERVICE, OBJECT, INTERFACE, "Install", &e,
						   &reply, "sa{sv}", source, 1, "reinstall", "b",
						   true)
			      : sd_bus_call_method(bus, SERVICE, OBJECT, INTERFACE, "Install", &e,
						   &reply, "sa{sv}", source, 0);
	while (r < 0 && retry_after_exit(bus, &e, &attempts));
	if (r < 0) {
		r = bus_error(&e, r, "Install");
		sd_bus_error_free(&e);
		return r;
	}
	/* The instance that answered: earlier ones leaving the bus are not news. */
	w.owner = strdup(sd_bus_message_get_sender(reply) ?: "");
	if (!w.owner)
		return bus_error(NULL, -ENOMEM, "Install");
	r = watch_loop(&w);
	if (r != EXIT_OK)
		return r;
	result = get_string(bus, "Result");
	return streq(result, "success") ? EXIT_OK : EXIT_FAILED;
}

static int verb_history(sd_bus *bus, uint32_t max)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *action, *result, *note;
	uint32_t from, to;
	uint64_t t;
	char buf[64];
	int r;

	r = sd_bus_call_method(bus, SERVICE, OBJECT, INTERFACE, "GetHistory", &e, &reply, "u", max);
	if (r < 0) {
		r = bus_error(&e, r, "GetHistory");
		sd_bus_error_free(&e);
		return r;
	}
	r = sd_bus_message_enter_container(reply, 'a', "(tsuuss)");
	while (r >= 0 && (r = sd_bus_message_read(reply, "(tsuuss)", &t, &action, &from, &to,
						  &result, &note)) > 0) {
		_cleanup_free_ char *a = safe_dup(action), *res = safe_dup(result),
				    *n = safe_dup(note);

		printf("%s  %-13s %u -> %u  %-11s %s\n", format_time(t, buf, sizeof(buf)), a ?: "",
		       from, to, res ?: "", n ?: "");
	}
	return r < 0 ? bus_error(NULL, r, "GetHistory") : EXIT_OK;
}

typedef struct Verb {
	const char *name;
	const char *args; /* for the usage line */
	const char *help;
} Verb;

static const Verb verbs[] = {
	{ "status", "", "state, slots, versions, the install's totals" },
	{ "check", "", "ask the server for a new release now (exit 1 when the poll fails)" },
	{ "poll", "",
	  "the scheduled check (swupdated-poll.timer): skipped while the server's Retry-After "
	  "runs" },
	{ "install", "[--reinstall] [SOURCE]",
	  "install the server's release (when newer than the installed one, or with "
	  "--reinstall), a URL or a local bundle" },
	{ "abort", "", "stop a transfer; the new slot is never activated" },
	{ "reset", "", "clear a finished install (a new install starts over by itself)" },
	{ "mark-good", "", "confirm the booted update" },
	{ "mark-bad", "", "reject the pending update; the other slot boots next" },
	{ "history", "[-n N]", "what happened, newest first (50 entries unless -n says)" },
	{ "channel", "[NAME|--default]",
	  "the channel polled, and those [Channels] allows; NAME moves the device to one, "
	  "--default back to Server=" },
	{ "watch", "", "follow the daemon's progress" },
};

static void help(FILE *f)
{
	fprintf(f, "Usage: swupdatectl [--address ADDRESS] [--json] COMMAND [--help]\n\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(f, "  %-9s %-9s %s\n", verbs[i].name, verbs[i].args, verbs[i].help);
	fprintf(f, "\nSee swupdatectl(1).\n");
}

static const Verb *find_verb(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

/* What a command takes: nothing, [SOURCE] (install), [-n N] (history). */
static int parse_verb_args(const Verb *v, int argc, char **argv, const char **ret_source,
			   uint32_t *ret_max, bool *ret_reinstall, bool *ret_set_channel)
{
	for (int i = 0; i < argc; i++) {
		if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			printf("Usage: swupdatectl %s %s\n  %s\n", v->name, v->args, v->help);
			return 0;
		}
	}
	if (streq(v->name, "history") && argc == 2 && streq(argv[0], "-n")) {
		char *end;
		unsigned long n;

		errno = 0;
		n = strtoul(argv[1], &end, 10);
		if (errno || end == argv[1] || *end || argv[1][0] == '-' || n == 0 ||
		    n > UINT32_MAX) {
			fprintf(stderr, "swupdatectl: history -n takes a count, not '%s'\n",
				argv[1]);
			return -EINVAL;
		}
		*ret_max = (uint32_t)n;
		return 1;
	}
	if (streq(v->name, "channel") && argc == 1 &&
	    (argv[0][0] != '-' || streq(argv[0], "--default"))) {
		*ret_source = streq(argv[0], "--default") ? "" : argv[0];
		*ret_set_channel = true;
		return 1;
	}
	if (streq(v->name, "install") && argc > 0 && streq(argv[0], "--reinstall")) {
		*ret_reinstall = true;
		argc--, argv++;
	}
	if (streq(v->name, "install") && argc == 1 && argv[0][0] != '-') {
		*ret_source = argv[0];
		return 1;
	}
	if (argc == 0)
		return 1;
	fprintf(stderr, "swupdatectl: %s takes %s, not '%s' (see 'swupdatectl %s --help')\n",
		v->name, v->args[0] ? v->args : "no arguments", argv[0], v->name);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	static const struct option options[] = { { "address", required_argument, NULL, 'a' },
						 { "json", no_argument, NULL, 'j' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	const char *source = "";
	bool reinstall = false, set_channel = false;
	uint32_t max = 50;
	const Verb *v;
	int c, r;

	/* "+": options after the command are the command's (install --help). */
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
		if (c == 'a')
			arg_address = optarg;
		else if (c == 'j')
			arg_json = true;
		else if (c == 'h')
			return help(stdout), EXIT_OK;
		else
			return help(stderr), EXIT_USAGE;
	}
	if (optind >= argc)
		return help(stderr), EXIT_USAGE;
	/* A command that does not exist is said as such, before the bus is even asked. */
	v = find_verb(argv[optind]);
	if (!v) {
		fprintf(stderr, "swupdatectl: unknown command '%s' (see 'swupdatectl --help')\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	r = parse_verb_args(v, argc - optind - 1, argv + optind + 1, &source, &max, &reinstall,
			    &set_channel);
	if (r <= 0)
		return r < 0 ? EXIT_USAGE : EXIT_OK;
	if (arg_address) {
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, arg_address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, true);
		if (r >= 0)
			r = sd_bus_start(bus);
	} else
		r = sd_bus_open_system(&bus);
	if (r < 0)
		return bus_error(NULL, r, "Cannot connect to the bus");

	if (streq(v->name, "status"))
		return verb_status(bus);
	if (streq(v->name, "check"))
		return verb_check(bus, "Check");
	if (streq(v->name, "poll"))
		return verb_check(bus, "ScheduledCheck");
	if (streq(v->name, "install"))
		return verb_install(bus, source, reinstall);
	if (streq(v->name, "abort"))
		return call_simple(bus, "Abort");
	if (streq(v->name, "reset"))
		return call_simple(bus, "Reset");
	if (streq(v->name, "mark-good"))
		return call_simple(bus, "MarkGood");
	if (streq(v->name, "mark-bad"))
		return call_simple(bus, "MarkBad");
	if (streq(v->name, "history"))
		return verb_history(bus, max);
	if (streq(v->name, "channel"))
		return verb_channel(bus, set_channel ? source : NULL);
	return watch(bus, false);
}
