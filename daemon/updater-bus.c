/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.swupdated.Updater1: properties, methods and the Finished signal, on sd-bus. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "state.h"
#include "text.h"
#include "updater.h"

#define OBJECT_PATH "/io/swupdated/Updater1"
#define INTERFACE   "io.swupdated.Updater1"

/* One errno <-> D-Bus error name table; the message is the same sentence as the log line. */
static const sd_bus_error_map updater_errors[] = {
	SD_BUS_ERROR_MAP("io.swupdated.Error.InvalidState", EBUSY),
	SD_BUS_ERROR_MAP("io.swupdated.Error.BadBundle", EBADMSG),
	SD_BUS_ERROR_MAP("io.swupdated.Error.SignatureRejected", EKEYREJECTED),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Expired", EKEYEXPIRED),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Rollback", ESTALE),
	SD_BUS_ERROR_MAP("io.swupdated.Error.WrongHardware", EMEDIUMTYPE),
	SD_BUS_ERROR_MAP("io.swupdated.Error.NoSpace", ENOSPC),
	SD_BUS_ERROR_MAP("io.swupdated.Error.NoSlot", ENXIO),
	SD_BUS_ERROR_MAP("io.swupdated.Error.NoServer", ENOMEDIUM),
	SD_BUS_ERROR_MAP("io.swupdated.Error.NotFound", ENOENT),
	SD_BUS_ERROR_MAP("io.swupdated.Error.NotPending", EAGAIN),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Network", ECONNRESET),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Network", ECONNREFUSED),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Network", EHOSTUNREACH),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Network", ETIMEDOUT),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Network", EPROTO),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Network", EREMOTEIO),
	SD_BUS_ERROR_MAP("io.swupdated.Error.TooLarge", EFBIG),
	SD_BUS_ERROR_MAP("io.swupdated.Error.InvalidArgument", EINVAL),
	SD_BUS_ERROR_MAP("io.swupdated.Error.Exiting", ESHUTDOWN),
	SD_BUS_ERROR_MAP_END
};

static int invalid_state(Updater *u, sd_bus_error *error, const char *method)
{
	if (u->state == UPDATER_INACTIVE && u->poller.start_after)
		return sd_bus_error_setf(error, "io.swupdated.Error.InvalidState",
					 "%s is not possible now: an install from the server "
					 "begins when a poll of the server ends",
					 method);
	return sd_bus_error_setf(error, "io.swupdated.Error.InvalidState",
				 "%s is not possible in state '%s'", method,
				 updater_state_to_string(u->state));
}

/*
 * The idle exit has begun (STOPPING=1 sent, the bus name being released): work that outlives
 * this call would be cut off, or run beside the next instance. The caller asks again, and the
 * bus starts that next instance (swupdatectl does so by itself).
 */
static int refuse_exiting(Updater *u, sd_bus_error *error, const char *method)
{
	if (!u->exiting)
		return 0;
	return sd_bus_error_setf(error, "io.swupdated.Error.Exiting",
				 "swupdated is exiting (idle): call %s again", method);
}

/* The operation's one record: its errno names the error, its Note is the message. */
static int method_error(Updater *u, sd_bus_error *error, int r)
{
	return sd_bus_error_set_errnof(error, r, "%s", u->note[0] ? u->note : strerror(-r));
}

/*
 * The caller's UID and groups as the bus vouches for them: GetConnectionCredentials answers with
 * what the bus read from the socket when the caller connected (dbus-daemon 1.14 and dbus-broker
 * report UnixGroupIDs). Never /proc/<pid>: a PID can be recycled between the call and the read,
 * and then /proc speaks for another process. Returns 1 when the bus reported the groups.
 */
static int bus_credentials(sd_bus_message *m, uid_t *ret_uid, gid_t *gids, size_t *n_gids)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *key;
	bool have_uid = false, have_groups = false;
	size_t max = *n_gids;
	int r;

	*n_gids = 0;
	r = sd_bus_call_method(sd_bus_message_get_bus(m), "org.freedesktop.DBus",
			       "/org/freedesktop/DBus", "org.freedesktop.DBus",
			       "GetConnectionCredentials", &e, &reply, "s",
			       sd_bus_message_get_sender(m));
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
		r = sd_bus_message_read(reply, "s", &key);
		if (r >= 0 && streq(key, "UnixUserID")) {
			r = sd_bus_message_read(reply, "v", "u", ret_uid);
			have_uid = r >= 0;
		} else if (r >= 0 && streq(key, "UnixGroupIDs")) {
			uint32_t gid;

			r = sd_bus_message_enter_container(reply, 'v', "au");
			if (r >= 0)
				r = sd_bus_message_enter_container(reply, 'a', "u");
			while (r >= 0 && (r = sd_bus_message_read(reply, "u", &gid)) > 0)
				if (*n_gids < max)
					gids[(*n_gids)++] = gid;
			if (r >= 0)
				r = sd_bus_message_exit_container(reply);
			if (r >= 0)
				r = sd_bus_message_exit_container(reply);
			have_groups = r >= 0;
		} else if (r >= 0)
			r = sd_bus_message_skip(reply, "v");
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r < 0)
		return r;
	return have_uid ? have_groups : -ENODATA;
}

/* Root and members of group "swupdate" only: the bus policy says so too. */
static int check_caller(sd_bus_message *m, sd_bus_error *error)
{
	gid_t gids[256]; /* a caller in more groups is judged by its first 256 */
	size_t n = ELEMENTSOF(gids);
	const struct group *g;
	uid_t uid = (uid_t)-1;
	int r;

	r = bus_credentials(m, &uid, gids, &n);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot tell who calls %s: %s",
					       sd_bus_message_get_member(m), strerror(-r));
	if (uid == 0)
		return 0;
	g = getgrnam("swupdate");
	if (g && r == 0) {
		/* A bus that does not report groups: those of the UID in the group database. */
		const struct passwd *pw = getpwuid(uid);
		int k = (int)ELEMENTSOF(gids);

		if (pw && getgrouplist(pw->pw_name, pw->pw_gid, gids, &k) >= 0)
			n = (size_t)k;
	}
	for (size_t i = 0; g && i < n; i++)
		if (gids[i] == g->gr_gid)
			return 0;
	return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
				 "Only root and members of group 'swupdate' may call %s",
				 sd_bus_message_get_member(m));
}

/* No option is defined yet: any key is refused rather than silently ignored. */
static int read_options(sd_bus_message *m, sd_bus_error *error)
{
	const char *key;
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'e', "sv");
	if (r < 0)
		return r;
	if (r > 0) {
		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'",
					 key);
	}
	return sd_bus_message_exit_container(m);
}

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Updater *u = userdata;
	int r;

	r = check_caller(m, error);
	if (r >= 0)
		r = refuse_exiting(u, error, "Check");
	if (r < 0)
		return r;
	r = updater_check(u, m);
	if (r == -EBUSY)
		return sd_bus_error_setf(error, "io.swupdated.Error.InvalidState",
					 "Check is already running");
	if (r < 0) /* the poll's own sentence, never an earlier operation's */
		return sd_bus_error_set_errnof(error, r, "%s", u->poller.note);
	return 1; /* answered when the poll ends */
}

static int method_scheduled_check(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Updater *u = userdata;
	int r;

	r = check_caller(m, error);
	if (r >= 0)
		r = refuse_exiting(u, error, "ScheduledCheck");
	if (r < 0)
		return r;
	r = poller_scheduled_check(u, m);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "%s", u->poller.note);
	return 1;
}

static int begin(sd_bus_message *m, Updater *u, sd_bus_error *error, bool all)
{
	const char *method = all ? "Install" : "Start";
	const char *source;
	int r;

	r = sd_bus_message_read(m, "s", &source);
	if (r < 0)
		return r;
	r = read_options(m, error);
	if (r < 0)
		return r;
	r = check_caller(m, error);
	if (r >= 0)
		r = refuse_exiting(u, error, method);
	if (r < 0)
		return r;
	if (updater_allows(u, method) < 0)
		return invalid_state(u, error, method);
	r = updater_begin(u, source, all, all);
	if (r < 0)
		return method_error(u, error, r);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_start(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return begin(m, userdata, error, false);
}

static int method_install(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return begin(m, userdata, error, true);
}

static int simple(sd_bus_message *m, Updater *u, sd_bus_error *error, const char *method,
		  int (*op)(Updater *u))
{
	int r = check_caller(m, error);

	if (r < 0)
		return r;
	if (updater_allows(u, method) < 0)
		return invalid_state(u, error, method);
	r = op(u);
	if (r < 0)
		return method_error(u, error, r);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_verify(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, "Verify", updater_verify);
}

static int method_apply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, "Apply", updater_apply);
}

static int method_abort(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, "Abort", updater_abort);
}

static int method_reset(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, "Reset", updater_reset);
}

static int mark_good(Updater *u)
{
	return updater_mark(u, true);
}

static int mark_bad(Updater *u)
{
	return updater_mark(u, false);
}

static int method_mark_good(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, "MarkGood", mark_good);
}

static int method_mark_bad(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, "MarkBad", mark_bad);
}

static int append_history(void *userdata, const SwuHistoryEntry *e)
{
	char reason[1024], note[1100];

	/* Whatever an older version wrote there, D-Bus gets valid UTF-8. */
	swu_escape(e->reason, strlen(e->reason), reason, sizeof(reason));
	if (e->downloaded > 0)
		snprintf(note, sizeof(note), "%s%s%llu bytes downloaded", reason,
			 *reason ? "; " : "", (unsigned long long)e->downloaded);
	else
		snprintf(note, sizeof(note), "%s", reason);
	return sd_bus_message_append(userdata, "(tsuuss)",
				     (uint64_t)MAX(e->time, (int64_t)0) * 1000000,
				     swu_history_action_to_string(e->action), e->from_version,
				     e->to_version, swu_history_result_to_string(e->result), note);
}

static int method_get_history(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Updater *u = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	uint32_t max;
	int r;

	r = sd_bus_message_read(m, "u", &max);
	if (r < 0)
		return r;
	r = manager_context_new(u->m, &ctx);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(tsuuss)");
	if (r >= 0) {
		r = swu_state_read_history(ctx, u->m->config->state_dir, max, append_history,
					   reply);
		if (r < 0)
			return sd_bus_error_set_errnof(error, r, "%s", log_reason(ctx, r));
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	Updater *u = userdata;
	char slot[2] = { 0 };
	Status s;

	if (streq(property, "State"))
		return sd_bus_message_append(reply, "s", updater_state_to_string(u->state));
	if (streq(property, "Result"))
		return sd_bus_message_append(reply, "s", updater_result_to_string(u->result));
	if (streq(property, "CurrentTarget"))
		return sd_bus_message_append(reply, "s", u->current_target);
	if (streq(property, "Source"))
		return sd_bus_message_append(reply, "s",
					     u->state == UPDATER_INACTIVE ? "" : u->source);
	if (streq(property, "Note"))
		return sd_bus_message_append(reply, "s", u->note);
	if (streq(property, "Compatible"))
		return sd_bus_message_append(reply, "s", u->m->config->compatible);
	if (streq(property, "Version"))
		return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
	if (streq(property, "BootedSlot"))
		slot[0] = u->m->booted;
	else if (manager_get_status(u->m, u->m->ctx, &s) >= 0)
		slot[0] = s.pending_slot; /* installed, waiting for its reboot and confirmation */
	return sd_bus_message_append(reply, "s", slot);
}

static int property_get_number(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	Updater *u = userdata;

	if (streq(property, "Progress"))
		return sd_bus_message_append(reply, "u", u->progress);
	if (streq(property, "InstalledVersion"))
		return sd_bus_message_append(reply, "u", u->installed_version);
	if (streq(property, "AvailableVersion"))
		return sd_bus_message_append(reply, "u", u->available_version);
	if (streq(property, "BytesDone"))
		return sd_bus_message_append(reply, "t", u->bytes_done);
	if (streq(property, "BytesTotal"))
		return sd_bus_message_append(reply, "t", u->bytes_total);
	if (streq(property, "DownloadDone"))
		return sd_bus_message_append(reply, "t", u->download_done);
	if (streq(property, "DownloadTotal"))
		return sd_bus_message_append(reply, "t", u->download_total);
	if (streq(property, "BytesReused"))
		return sd_bus_message_append(reply, "t", u->bytes_reused);
	if (streq(property, "LastCheck"))
		return sd_bus_message_append(reply, "t", u->last_check);
	return sd_bus_message_append(reply, "t", u->next_check);
}

#define STRING_PROPERTY(name)                                                                      \
	SD_BUS_PROPERTY(name, "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)
#define NUMBER_PROPERTY(name, sig)                                                                 \
	SD_BUS_PROPERTY(name, sig, property_get_number, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)

static const sd_bus_vtable updater_vtable[] = {
	SD_BUS_VTABLE_START(0),
	STRING_PROPERTY("State"),
	STRING_PROPERTY("Result"),
	NUMBER_PROPERTY("Progress", "u"),
	NUMBER_PROPERTY("BytesDone", "t"),
	NUMBER_PROPERTY("BytesTotal", "t"),
	NUMBER_PROPERTY("DownloadDone", "t"),
	NUMBER_PROPERTY("DownloadTotal", "t"),
	NUMBER_PROPERTY("BytesReused", "t"),
	STRING_PROPERTY("CurrentTarget"),
	STRING_PROPERTY("Source"),
	STRING_PROPERTY("Note"),
	NUMBER_PROPERTY("InstalledVersion", "u"),
	NUMBER_PROPERTY("AvailableVersion", "u"),
	NUMBER_PROPERTY("LastCheck", "t"),
	NUMBER_PROPERTY("NextCheck", "t"),
	STRING_PROPERTY("BootedSlot"),
	STRING_PROPERTY("PendingSlot"),
	SD_BUS_PROPERTY("Compatible", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Version", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_METHOD_WITH_ARGS("Check", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("b", available, "u", version), method_check,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ScheduledCheck", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("b", available, "u", version), method_scheduled_check,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_ARGS("s", source, "a{sv}", options),
				SD_BUS_NO_RESULT, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Verify", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_verify,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Apply", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_apply,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Install", SD_BUS_ARGS("s", source, "a{sv}", options),
				SD_BUS_NO_RESULT, method_install, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Abort", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_abort,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Reset", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reset,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("MarkGood", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_mark_good,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("MarkBad", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_mark_bad,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetHistory", SD_BUS_ARGS("u", max),
				SD_BUS_RESULT("a(tsuuss)", entries), method_get_history,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_ARGS("Finished", SD_BUS_ARGS("s", result, "s", note), 0),
	SD_BUS_VTABLE_END
};

void updater_bus_finished(Updater *u)
{
	if (u->bus)
		(void)sd_bus_emit_signal(u->bus, OBJECT_PATH, INTERFACE, "Finished", "ss",
					 updater_result_to_string(u->result), u->note);
}

int updater_bus_register(Updater *u)
{
	int r;

	r = sd_bus_error_add_map(updater_errors);
	if (r < 0)
		return r;
	return sd_bus_add_object_vtable(u->bus, NULL, OBJECT_PATH, INTERFACE, updater_vtable, u);
}
