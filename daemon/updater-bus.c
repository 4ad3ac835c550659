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
#include "time-util.h"
#include "updater-bus.h"

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
	SD_BUS_ERROR_MAP("io.swupdated.Error.NotPermitted", EPERM),
	SD_BUS_ERROR_MAP_END
};

struct UpdaterBus {
	sd_bus *bus;
	Updater *u;
	sd_bus_slot *object;
	sd_bus_message *pending_check;	   /* a Check() call answered when its poll ends */
	sd_bus_message *pending_scheduled; /* the same for ScheduledCheck() */
	sd_bus_slot *reboot;		   /* logind's Reboot() call, until this object goes */
};

/*
 * The D-Bus error for -@r with @message: its name from updater_errors, else sd-bus's own for
 * the errno. sd_bus_error_add_map() makes the table known for name -> errno (what a client's
 * sd_bus_error_get_errno() answers, and what sd_bus_error_set() returns); errno -> name, which
 * sd_bus_error_set_errno() does from a fixed list of its own, is done here.
 */
static int set_error(sd_bus_error *error, int r, const char *message)
{
	for (const sd_bus_error_map *m = updater_errors; m->name; m++)
		if (m->code == -r)
			return sd_bus_error_set(error, m->name, message);
	return sd_bus_error_set_errnof(error, r, "%s", message);
}

/* The listener the updater was given: this object (updater_bus_events' userdata). */
static UpdaterBus *bus_of(Updater *u)
{
	return u->userdata;
}

static int invalid_state(Updater *u, sd_bus_error *error, const char *method)
{
	if (updater_waits_for_poll(u))
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
	return set_error(error, r, u->note[0] ? u->note : strerror(-r));
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

/* The options of Start and Install: "reinstall" (b); any other key is refused, never ignored. */
static int read_options(sd_bus_message *m, sd_bus_error *error, unsigned *flags)
{
	const char *key;
	int b, r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		if (!streq(key, "reinstall"))
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Unknown option '%s'", key);
		r = sd_bus_message_read(m, "v", "b", &b);
		if (r < 0)
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Option 'reinstall' takes a boolean");
		if (b)
			*flags |= UPDATER_REINSTALL;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* What Check() answers: whether a newer release than the installed one verified. */
static int reply_check(Updater *u, sd_bus_message *call)
{
	uint32_t available = updater_get_available_version(u);

	return sd_bus_reply_method_return(call, "bu", available > u->installed_version, available);
}

/* Answers the waiting call in @slot, if any: its error, or the check's result. */
static void answer(UpdaterBus *b, sd_bus_message **slot, int r, const char *note)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = TAKE_PTR(*slot);

	if (!call)
		return;
	if (r < 0) {
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

		(void)set_error(&e, r, note);
		(void)sd_bus_reply_method_error(call, &e);
	} else
		(void)reply_check(b->u, call);
}

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Updater *u = userdata;
	UpdaterBus *b = bus_of(u);
	int r;

	r = check_caller(m, error);
	if (r >= 0)
		r = refuse_exiting(u, error, "Check");
	if (r < 0)
		return r;
	if (b->pending_check)
		return sd_bus_error_setf(error, "io.swupdated.Error.InvalidState",
					 "Check is already running");
	r = updater_check(u);
	if (r < 0) /* the poll's own sentence, never an earlier operation's */
		return set_error(error, r, updater_get_poll_note(u));
	b->pending_check = sd_bus_message_ref(m);
	return 1; /* answered when the poll ends */
}

static int method_scheduled_check(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Updater *u = userdata;
	UpdaterBus *b = bus_of(u);
	int r;

	r = check_caller(m, error);
	if (r >= 0)
		r = refuse_exiting(u, error, "ScheduledCheck");
	if (r < 0)
		return r;
	/* A scheduled check already waits for a poll: this one is answered from the cache. */
	if (b->pending_scheduled)
		return reply_check(u, m);
	r = updater_scheduled_check(u);
	if (r < 0)
		return set_error(error, r, updater_get_poll_note(u));
	if (r == 0)
		return reply_check(u, m);
	b->pending_scheduled = sd_bus_message_ref(m);
	return 1;
}

static int begin(sd_bus_message *m, Updater *u, sd_bus_error *error, bool all)
{
	const char *method = all ? "Install" : "Start";
	unsigned flags = all ? UPDATER_VERIFY | UPDATER_APPLY : 0;
	const char *source;
	int r;

	r = sd_bus_message_read(m, "s", &source);
	if (r < 0)
		return r;
	r = read_options(m, error, &flags);
	if (r < 0)
		return r;
	r = check_caller(m, error);
	if (r >= 0)
		r = refuse_exiting(u, error, method);
	if (r < 0)
		return r;
	if (updater_allows(u, UPDATER_OP_START) < 0)
		return invalid_state(u, error, method);
	r = updater_begin(u, source, flags);
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

/* The methods without arguments: who calls, in which state, then the operation. */
static int simple(sd_bus_message *m, Updater *u, sd_bus_error *error, UpdaterOp op,
		  int (*run)(Updater *u))
{
	int r = check_caller(m, error);

	if (r < 0)
		return r;
	if (updater_allows(u, op) < 0)
		return invalid_state(u, error, sd_bus_message_get_member(m));
	r = run(u);
	if (r < 0)
		return method_error(u, error, r);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_verify(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, UPDATER_OP_VERIFY, updater_verify);
}

static int method_apply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, UPDATER_OP_APPLY, updater_apply);
}

static int method_abort(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, UPDATER_OP_ABORT, updater_abort);
}

static int method_reset(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, UPDATER_OP_RESET, updater_reset);
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
	return simple(m, userdata, error, UPDATER_OP_MARK, mark_good);
}

static int method_mark_bad(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	return simple(m, userdata, error, UPDATER_OP_MARK, mark_bad);
}

static int method_set_channel(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	Updater *u = userdata;
	const char *name;
	int r;

	r = sd_bus_message_read(m, "s", &name);
	if (r < 0)
		return r;
	r = check_caller(m, error);
	if (r < 0)
		return r;
	if (updater_allows(u, UPDATER_OP_CHANNEL) < 0 && updater_allows(u, UPDATER_OP_START) >= 0)
		/* inactive, but a poll runs: it ends within PollTimeoutSec= */
		return sd_bus_error_setf(error, "io.swupdated.Error.InvalidState",
					 "SetChannel waits for the running poll to end: call "
					 "again");
	if (updater_allows(u, UPDATER_OP_CHANNEL) < 0)
		return invalid_state(u, error, "SetChannel");
	r = updater_set_channel(u, name);
	if (r < 0)
		return method_error(u, error, r);
	return sd_bus_reply_method_return(m, NULL);
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
			return set_error(error, r, log_reason(ctx, r));
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface,
			      const char *property, sd_bus_message *reply, void *userdata,
			      sd_bus_error *error)
{
	Updater *u = userdata;

	return sd_bus_message_append(reply, "s", updater_state_to_string(u->state));
}

static int property_get_result(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	Updater *u = userdata;

	return sd_bus_message_append(reply, "s", update_result_to_string(u->result));
}

static int property_get_source(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	Updater *u = userdata;

	return sd_bus_message_append(reply, "s", u->state == UPDATER_INACTIVE ? "" : u->source);
}

static int property_get_slot(sd_bus *bus, const char *path, const char *interface,
			     const char *property, sd_bus_message *reply, void *userdata,
			     sd_bus_error *error)
{
	Updater *u = userdata;
	/* PendingSlot: installed, waiting for its reboot and confirmation. */
	char slot[2] = { streq(property, "BootedSlot") ? u->m->booted
						       : updater_get_pending_slot(u) };

	return sd_bus_message_append(reply, "s", slot);
}

static int property_get_available_version(sd_bus *bus, const char *path, const char *interface,
					  const char *property, sd_bus_message *reply,
					  void *userdata, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "u", updater_get_available_version(userdata));
}

static int property_get_rollout(sd_bus *bus, const char *path, const char *interface,
				const char *property, sd_bus_message *reply, void *userdata,
				sd_bus_error *error)
{
	char what[128];

	(void)updater_get_rollout(userdata, what, sizeof(what));
	return sd_bus_message_append(reply, "s", what);
}

static int property_get_channel(sd_bus *bus, const char *path, const char *interface,
				const char *property, sd_bus_message *reply, void *userdata,
				sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", updater_get_channel(userdata));
}

static int property_get_channels(sd_bus *bus, const char *path, const char *interface,
				 const char *property, sd_bus_message *reply, void *userdata,
				 sd_bus_error *error)
{
	const Config *c = ((Updater *)userdata)->m->config;
	int r;

	r = sd_bus_message_open_container(reply, 'a', "s");
	for (size_t i = 0; r >= 0 && i < c->n_channels; i++)
		r = sd_bus_message_append(reply, "s", c->channels[i].name);
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int property_get_check(sd_bus *bus, const char *path, const char *interface,
			      const char *property, sd_bus_message *reply, void *userdata,
			      sd_bus_error *error)
{
	Updater *u = userdata;

	return sd_bus_message_append(reply, "t",
				     streq(property, "LastCheck") ? updater_get_last_check(u)
								  : updater_get_next_check(u));
}

static int property_get_compatible(sd_bus *bus, const char *path, const char *interface,
				   const char *property, sd_bus_message *reply, void *userdata,
				   sd_bus_error *error)
{
	Updater *u = userdata;

	return sd_bus_message_append(reply, "s", u->m->config->compatible);
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface,
				const char *property, sd_bus_message *reply, void *userdata,
				sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

#define CHANGING SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

static const sd_bus_vtable updater_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("State", "s", property_get_state, 0, CHANGING),
	SD_BUS_PROPERTY("Result", "s", property_get_result, 0, CHANGING),
	SD_BUS_PROPERTY("Progress", "u", NULL, offsetof(Updater, progress), CHANGING),
	SD_BUS_PROPERTY("BytesDone", "t", NULL, offsetof(Updater, bytes_done), CHANGING),
	SD_BUS_PROPERTY("BytesTotal", "t", NULL, offsetof(Updater, bytes_total), CHANGING),
	SD_BUS_PROPERTY("DownloadDone", "t", NULL, offsetof(Updater, download_done), CHANGING),
	SD_BUS_PROPERTY("DownloadTotal", "t", NULL, offsetof(Updater, download_total), CHANGING),
	SD_BUS_PROPERTY("BytesReused", "t", NULL, offsetof(Updater, bytes_reused), CHANGING),
	SD_BUS_PROPERTY("TotalWritten", "t", NULL, offsetof(Updater, total_written), CHANGING),
	SD_BUS_PROPERTY("TotalDownloaded", "t", NULL, offsetof(Updater, downloaded), CHANGING),
	SD_BUS_PROPERTY("TotalReused", "t", NULL, offsetof(Updater, total_reused), CHANGING),
	SD_BUS_PROPERTY("CurrentTarget", "s", NULL, offsetof(Updater, current_target), CHANGING),
	SD_BUS_PROPERTY("Source", "s", property_get_source, 0, CHANGING),
	SD_BUS_PROPERTY("Note", "s", NULL, offsetof(Updater, note), CHANGING),
	SD_BUS_PROPERTY("InstalledVersion", "u", NULL, offsetof(Updater, installed_version),
			CHANGING),
	SD_BUS_PROPERTY("AvailableVersion", "u", property_get_available_version, 0, CHANGING),
	SD_BUS_PROPERTY("Rollout", "s", property_get_rollout, 0, CHANGING),
	SD_BUS_PROPERTY("Channel", "s", property_get_channel, 0, CHANGING),
	SD_BUS_PROPERTY("Channels", "as", property_get_channels, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("LastCheck", "t", property_get_check, 0, CHANGING),
	SD_BUS_PROPERTY("NextCheck", "t", property_get_check, 0, CHANGING),
	SD_BUS_PROPERTY("BootedSlot", "s", property_get_slot, 0, CHANGING),
	SD_BUS_PROPERTY("PendingSlot", "s", property_get_slot, 0, CHANGING),
	SD_BUS_PROPERTY("Compatible", "s", property_get_compatible, 0,
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
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
	SD_BUS_METHOD_WITH_ARGS("SetChannel", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
				method_set_channel, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetHistory", SD_BUS_ARGS("u", max),
				SD_BUS_RESULT("a(tsuuss)", entries), method_get_history,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_ARGS("Finished", SD_BUS_ARGS("s", result, "s", note), 0),
	SD_BUS_VTABLE_END
};

/* ---- what the updater tells ---- */

static const struct {
	UpdaterProperty property;
	const char *names[8];
} property_names[] = {
	{ UPDATER_PROPERTY_STATE, { "State" } },
	{ UPDATER_PROPERTY_RESULT, { "Result" } },
	{ UPDATER_PROPERTY_PROGRESS, { "Progress" } },
	{ UPDATER_PROPERTY_BYTES,
	  { "BytesDone", "BytesTotal", "DownloadDone", "DownloadTotal", "BytesReused",
	    "TotalWritten", "TotalDownloaded", "TotalReused" } },
	{ UPDATER_PROPERTY_CURRENT_TARGET, { "CurrentTarget" } },
	{ UPDATER_PROPERTY_SOURCE, { "Source" } },
	{ UPDATER_PROPERTY_NOTE, { "Note" } },
	{ UPDATER_PROPERTY_INSTALLED_VERSION, { "InstalledVersion" } },
	{ UPDATER_PROPERTY_AVAILABLE_VERSION, { "AvailableVersion", "Rollout" } },
	{ UPDATER_PROPERTY_LAST_CHECK, { "LastCheck" } },
	{ UPDATER_PROPERTY_NEXT_CHECK, { "NextCheck" } },
	{ UPDATER_PROPERTY_PENDING_SLOT, { "PendingSlot" } },
	{ UPDATER_PROPERTY_CHANNEL, { "Channel" } },
};

/* The one place that emits PropertiesChanged. */
static void on_changed(void *userdata, unsigned properties)
{
	UpdaterBus *b = userdata;
	const char *names[32];
	size_t n = 0;

	if (!b->object)
		return; /* not served yet */
	for (size_t i = 0; i < ELEMENTSOF(property_names); i++)
		if (properties & property_names[i].property)
			for (size_t k = 0;
			     k < ELEMENTSOF(property_names[i].names) && property_names[i].names[k];
			     k++)
				names[n++] = property_names[i].names[k];
	if (n == 0)
		return;
	names[n] = NULL;
	(void)sd_bus_emit_properties_changed_strv(b->bus, OBJECT_PATH, INTERFACE, (char **)names);
}

static void on_finished(void *userdata)
{
	UpdaterBus *b = userdata;

	if (b->object)
		(void)sd_bus_emit_signal(b->bus, OBJECT_PATH, INTERFACE, "Finished", "ss",
					 update_result_to_string(b->u->result), b->u->note);
}

static void on_checked(void *userdata, int r, const char *note)
{
	UpdaterBus *b = userdata;

	answer(b, &b->pending_check, r, note);
	answer(b, &b->pending_scheduled, r, note);
}

/* logind's answer: a refusal (no CAP_SYS_BOOT, polkit says no, no logind) is said plainly. */
static int on_reboot_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	UpdaterBus *b = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	_cleanup_free_ char *why = NULL;

	if (!e) {
		log_info("RebootPolicy=auto: systemd-logind is rebooting the system");
		return 0;
	}
	if (asprintf(&why, "was refused: %s", e->message ?: e->name) < 0)
		why = NULL;
	updater_reboot_failed(b->u, why ?: "was refused");
	return 0;
}

/*
 * Reboot(interactive=false) through systemd-logind. Without polkit (a minimal image) logind
 * allows it to a root caller holding CAP_SYS_BOOT, which the unit's bounding set keeps for this.
 */
static void on_reboot(void *userdata)
{
	UpdaterBus *b = userdata;
	_cleanup_free_ char *why = NULL;
	int r;

	log_info("RebootPolicy=auto: asking systemd-logind to reboot");
	b->reboot = sd_bus_slot_unref(b->reboot);
	r = sd_bus_call_method_async(b->bus, &b->reboot, "org.freedesktop.login1",
				     "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
				     "Reboot", on_reboot_reply, b, "b", false);
	if (r < 0) {
		if (asprintf(&why, "could not be asked for: %s", strerror(-r)) < 0)
			why = NULL;
		updater_reboot_failed(b->u, why ?: "could not be asked for");
	}
}

const UpdaterEvents updater_bus_events = {
	.changed = on_changed,
	.finished = on_finished,
	.checked = on_checked,
	.reboot = on_reboot,
};

int updater_bus_new(sd_bus *bus, UpdaterBus **ret)
{
	UpdaterBus *b;

	assert_return(bus && ret, -EINVAL);
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->bus = sd_bus_ref(bus);
	*ret = b;
	return 0;
}

int updater_bus_register(UpdaterBus *b, Updater *u)
{
	int r;

	assert_return(b && u && !b->object, -EINVAL);
	assert_return(u->userdata == b, -EINVAL);
	r = sd_bus_error_add_map(updater_errors);
	if (r < 0)
		return r;
	b->u = u;
	return sd_bus_add_object_vtable(b->bus, &b->object, OBJECT_PATH, INTERFACE, updater_vtable,
					u);
}

UpdaterBus *updater_bus_free(UpdaterBus *b)
{
	if (!b)
		return NULL;
	/* Answered when the updater stopped their poll (the bus closes with the loop: nothing can
	 * be sent from here); one left over gets the bus's NoReply when the connection goes. */
	sd_bus_message_unref(b->pending_check);
	sd_bus_message_unref(b->pending_scheduled);
	sd_bus_slot_unref(b->reboot); /* its answer never reaches a freed object */
	sd_bus_slot_unref(b->object);
	sd_bus_unref(b->bus);
	free(b);
	return NULL;
}
