/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "macro.h"
#include "state.h"
#include "text.h"
#include "time-util.h"
#include "updater.h"
#include "url.h"

#define EMIT_INTERVAL_USEC (250 * USEC_PER_MSEC)
/* What Start()/Install() accept as a source: Source and status.json keep what is shown of it
 * (url_redact()) whole. */
#define SOURCE_MAX		  (sizeof_field(SwuStatusRecord, source) - 1)
#define sizeof_field(type, field) sizeof(((type *)0)->field)

static const char *const state_table[_UPDATER_STATE_MAX] = {
	[UPDATER_INACTIVE] = "inactive",       [UPDATER_TRANSFERRING] = "transferring",
	[UPDATER_TRANSFERRED] = "transferred", [UPDATER_VERIFYING] = "verifying",
	[UPDATER_VERIFIED] = "verified",       [UPDATER_APPLYING] = "applying",
	[UPDATER_ABORTING] = "aborting",       [UPDATER_FINISHED] = "finished",
};

const char *updater_state_to_string(UpdaterState s)
{
	assert_return(s >= 0 && s < _UPDATER_STATE_MAX, NULL);
	return state_table[s];
}

static void changed(Updater *u, unsigned properties)
{
	if (u->events->changed)
		u->events->changed(u->userdata, properties);
}

/* Replaces *@field with a copy of @s (escaped by the caller where it must be); a copy that
 * cannot be made leaves the old text, never a cut one. */
static bool set_text(char **field, const char *s)
{
	char *copy;

	if (streq(*field, s))
		return false;
	copy = strdup(s);
	if (!copy)
		return false;
	free(*field);
	*field = copy;
	return true;
}

/*
 * Source: where the install comes from, as every local user may read it (url_redact(): without
 * user information, query string and fragment). The transfer gets the URL whole.
 */
static void set_source(Updater *u, const char *url)
{
	_cleanup_free_ char *shown = NULL;

	if (url_redact(url, &shown) >= 0 && set_text(&u->source, shown))
		changed(u, UPDATER_PROPERTY_SOURCE);
}

/* Sets the Note (escaped: it may quote what a server sent) and tells it. */
static void set_note(Updater *u, const char *fmt, ...) _printf_(2, 3);
static void set_note(Updater *u, const char *fmt, ...)
{
	char *s;
	va_list ap;

	va_start(ap, fmt);
	s = strdup_escaped_vprintf(fmt, ap);
	va_end(ap);
	if (!s)
		return;
	if (u->note && streq(s, u->note)) { /* the same sentence again (a poll every hour) */
		free(s);
		return;
	}
	free(u->note);
	u->note = s;
	changed(u, UPDATER_PROPERTY_NOTE);
}

/* A new operation: its failure record and the Note start empty. */
static void op_begin(Updater *u)
{
	u->error = 0;
	if (u->note[0])
		set_note(u, "%s", "");
}

/* The failure of the current operation: Note @sentence, logged once. Returns @r. */
static int record_failure(Updater *u, int r, const char *sentence)
{
	u->error = r;
	set_note(u, "%s", sentence ?: strerror(-r)); /* none: no memory to make one */
	log_error("%s", u->note);
	return r;
}

/* A failure as "<what>: <reason>", the reason from @ctx when it explains @r. Returns @r. */
static int fail(Updater *u, SwuContext *ctx, int r, const char *what)
{
	_cleanup_free_ char *sentence = NULL;

	if (asprintf(&sentence, "%s: %s", what, log_reason(ctx, r)) < 0)
		sentence = NULL;
	return record_failure(u, r, sentence ?: what);
}

/* A refusal whose sentence says it all. Returns @r. */
static int refuse(Updater *u, int r, const char *fmt, ...) _printf_(3, 4);
static int refuse(Updater *u, int r, const char *fmt, ...)
{
	_cleanup_free_ char *sentence = NULL;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vasprintf(&sentence, fmt, ap);
	va_end(ap);
	if (k < 0)
		sentence = NULL; /* undefined after a failure */
	return record_failure(u, r, sentence ?: fmt);
}

/* An install runs: from the transfer to the bootloader switch. */
static bool installing(const Updater *u)
{
	return u->state >= UPDATER_TRANSFERRING && u->state <= UPDATER_ABORTING;
}

static const char *source_name(const Updater *u)
{
	return u->source[0] ? u->source : "the server's release";
}

static void notify_status(Updater *u)
{
	switch (u->state) {
	case UPDATER_TRANSFERRING:
		sd_notifyf(0, "STATUS=Downloading %s: %u%%", u->current_target, u->progress / 100);
		break;
	case UPDATER_INACTIVE:
		sd_notifyf(0, "STATUS=Idle, installed version %u", u->installed_version);
		break;
	case UPDATER_TRANSFERRED:
	case UPDATER_VERIFYING:
	case UPDATER_VERIFIED:
	case UPDATER_APPLYING:
	case UPDATER_ABORTING:
	case UPDATER_FINISHED:
		sd_notifyf(0, "STATUS=%s%s%s", state_table[u->state], u->result ? ": " : "",
			   update_result_to_string(u->result));
		break;
	case _UPDATER_STATE_MAX:
	case _UPDATER_STATE_INVALID:
		break;
	}
}

static void set_current_target(Updater *u, const char *name)
{
	if (set_text(&u->current_target, name))
		changed(u, UPDATER_PROPERTY_CURRENT_TARGET);
}

static void set_state(Updater *u, UpdaterState s)
{
	bool began = !installing(u) && s == UPDATER_TRANSFERRING;

	u->state = s;
	u->progress = 0;
	log_info("State: %s", state_table[s]);
	changed(u, UPDATER_PROPERTY_STATE | UPDATER_PROPERTY_PROGRESS);
	notify_status(u);
	if (began)
		updater_save_status(u);
}

void updater_save_status(Updater *u)
{
	SwuStatusRecord st = {};
	int r;

	assert_return_void(u);
	poller_record(u->poller, &st);
	st.skipped_noted = u->skipped_noted;
	/* The Note is a message: cut at a whole character when it is longer than the record. */
	swu_escape(u->note, strlen(u->note), st.note, sizeof(st.note));
	if (u->state == UPDATER_FINISHED) {
		strcpy(st.result, update_result_to_string(u->result));
		/* Shown only (the Source of a finished install): cut at a whole character. */
		swu_escape(u->source, strlen(u->source), st.source, sizeof(st.source));
		st.bytes_done = u->bytes_done;
		st.bytes_total = u->bytes_total;
		st.total_written = u->total_written;
		st.total_downloaded = u->downloaded;
		st.total_reused = u->total_reused;
	}
	/* Cleared when it finishes: still set at the next start means the daemon died in it. */
	if (installing(u))
		swu_escape(source_name(u), strlen(source_name(u)), st.running, sizeof(st.running));
	r = swu_state_save_status(u->m->ctx, u->m->config->state_dir, &st);
	if (r < 0)
		log_failure(LOG_WARNING, u->m->ctx, r, "Cannot keep the status");
}

static void history(Updater *u, SwuHistoryResult result, uint32_t from, uint32_t to)
{
	manager_history_install(u->m, SWU_HISTORY_INSTALL, from, to, manager_target_slot(u->m),
				result, u->note, u->downloaded);
}

/* Ends the install with @result: history, state finished, the Finished signal. */
static void finish(Updater *u, UpdateResult result)
{
	Transfer *t = TAKE_PTR(u->transfer);
	uint32_t from = t ? transfer_get_installed_version(t) : u->installed_version;
	uint32_t to = t ? transfer_get_version(t) : 0;

	history(u,
		result == RESULT_SUCCESS   ? SWU_HISTORY_SUCCESS
		: result == RESULT_ABORTED ? SWU_HISTORY_ABORTED
					   : SWU_HISTORY_FAILED,
		from, to);
	transfer_free(t);
	u->result = result;
	set_current_target(u, "");
	set_state(u, UPDATER_FINISHED);
	changed(u, UPDATER_PROPERTY_RESULT | UPDATER_PROPERTY_PENDING_SLOT);
	if (u->events->finished)
		u->events->finished(u->userdata);
	updater_save_status(u);
}

/* ---- the transfer's events ---- */

static void on_transfer_progress(void *userdata, const TransferProgress *p, bool force)
{
	Updater *u = userdata;
	uint64_t now = clock_now(u->clock, CLOCK_MONOTONIC);

	set_current_target(u, p->target);
	u->bytes_done = p->done;
	u->bytes_total = p->total;
	u->download_done = p->download_done;
	u->download_total = p->download_total;
	u->bytes_reused = p->reused;
	u->total_written = p->written;
	u->downloaded = p->downloaded;
	u->total_reused = p->reused_total;
	u->progress = p->total ? (uint32_t)(MIN(p->done, p->total) * 10000 / p->total) : 10000;
	if (!force && now - u->last_emit < EMIT_INTERVAL_USEC)
		return;
	u->last_emit = now;
	changed(u, UPDATER_PROPERTY_PROGRESS | UPDATER_PROPERTY_BYTES |
			   UPDATER_PROPERTY_CURRENT_TARGET);
	notify_status(u);
}

/* Reads every slot back on a worker (@reread), or takes the read-back of the write; then Apply
 * when @apply. */
static int verify(Updater *u, bool reread, bool apply)
{
	int r;

	set_state(u, UPDATER_VERIFYING);
	u->auto_apply = apply;
	if (!reread) {
		set_current_target(u, "");
		set_state(u, UPDATER_VERIFIED);
		return apply ? updater_apply(u) : 0;
	}
	r = transfer_verify(u->transfer);
	if (r < 0) {
		fail(u, NULL, r, "Cannot verify");
		finish(u, RESULT_VERIFY_FAILED);
	}
	return r;
}

static void on_transfer_done(void *userdata, TransferStep step, int r, UpdateResult result,
			     const char *sentence)
{
	Updater *u = userdata;

	if (r < 0) {
		record_failure(u, r, sentence);
		return finish(u, result);
	}
	set_current_target(u, "");
	switch (step) {
	case TRANSFER_STEP_WRITE:
		set_state(u, UPDATER_TRANSFERRED);
		set_note(u, "Version %u transferred", transfer_get_version(u->transfer));
		/* Every slot was read back and hashed while streaming: the automatic path does not
		 * read it a third time. An explicit Verify() call (after Start) re-reads the slots. */
		if (u->auto_verify)
			(void)verify(u, false, u->auto_apply);
		break;
	case TRANSFER_STEP_VERIFY:
		set_state(u, UPDATER_VERIFIED);
		if (u->auto_apply)
			(void)updater_apply(u);
		break;
	}
}

static const TransferEvents transfer_events = {
	.progress = on_transfer_progress,
	.done = on_transfer_done,
};

/* ---- beginning an install ---- */

/*
 * Makes @t the install (state transferring) and starts it; @verify and @apply: it goes on by
 * itself. A transfer that cannot begin ends the install as transfer-failed.
 */
static int run_transfer(Updater *u, Transfer *t, bool verify, bool apply)
{
	SwuContext *ctx = transfer_context(t);
	int r;

	u->transfer = t;
	u->auto_verify = verify;
	u->auto_apply = apply;
	u->download_done = u->download_total = u->bytes_reused = 0;
	u->total_written = u->downloaded = u->total_reused = 0;
	u->result = RESULT_NONE;
	changed(u, UPDATER_PROPERTY_RESULT | UPDATER_PROPERTY_SOURCE);
	set_state(u, UPDATER_TRANSFERRING);
	r = transfer_start(t);
	if (r < 0) {
		fail(u, ctx, r, "Cannot install");
		finish(u, RESULT_TRANSFER_FAILED);
	}
	return r;
}

static void transfer_setup(Updater *u, SwuContext *ctx, TransferSetup *ret)
{
	*ret = (TransferSetup){
		.event = u->event,
		.clock = u->clock,
		.fetch = u->fetch,
		.manager = u->m,
		.ctx = ctx,
		.events = &transfer_events,
		.userdata = u,
	};
}

/*
 * What the release's rollout says to this device now (its draw, in *ret_draw). Its start is
 * compared with the clock, never with a time earlier than signed metadata vouched for.
 */
static SwuRolloutVerdict rollout_verdict(const Updater *u, const Release *rel, uint32_t *ret_draw)
{
	int64_t now = swu_device_now(u->m->ctx, &u->m->device,
				     (int64_t)(clock_now(u->clock, CLOCK_REALTIME) / USEC_PER_SEC));
	uint32_t draw = swu_rollout_draw(u->m->machine_id, release_get_version(rel));

	if (ret_draw)
		*ret_draw = draw;
	return swu_rollout_decide(release_get_rollout(rel), draw, now);
}

/* The server's release the poller keeps. */
static int begin_server(Updater *u, bool verify, bool apply)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	const Release *rel = poller_get_release(u->poller);
	TransferSetup setup;
	Transfer *t;
	int r;

	set_source(u, u->m->config->server);
	r = manager_context_new(u->m, &ctx);
	if (r < 0)
		return fail(u, NULL, r, "Cannot install");
	if (!rel)
		return refuse(u, -ENOENT, "No release is available from %s", u->source);
	/* An operator's Install takes a release the rollout has not reached yet, not a halted one:
	 * the halt says the release itself is suspect. */
	if (rollout_verdict(u, rel, NULL) == SWU_ROLLOUT_HALTED)
		return refuse(u, -EL2HLT,
			      "Release version %u is halted by its publisher (a halted rollout): "
			      "not installed",
			      release_get_version(rel));
	r = manager_may_install(u->m, ctx);
	if (r < 0)
		return fail(u, ctx, r, "Refusing to install");
	transfer_setup(u, ctx, &setup);
	r = transfer_new_server(&setup, rel, &t);
	if (r < 0)
		return fail(u, ctx, r, "Release rejected");
	return run_transfer(u, t, verify, apply);
}

/* A poll that could not start: the poller said why (and logged it); it is the Note unless an
 * install shows its own. Returns @r. */
static int poll_refused(Updater *u, int r)
{
	if (r < 0 && u->state == UPDATER_INACTIVE) {
		u->error = r;
		set_note(u, "%s", poller_get_note(u->poller));
	}
	return r;
}

static int begin(Updater *u, SwuContext *ctx, const char *source, unsigned flags)
{
	bool verify = flags & UPDATER_VERIFY, apply = flags & UPDATER_APPLY;
	const Config *c = u->m->config;
	TransferSetup setup;
	Transfer *t;
	int r;

	r = manager_reconcile(u->m, ctx, NULL);
	if (r >= 0)
		r = manager_may_install(u->m, ctx);
	if (r < 0)
		return fail(u, ctx, r, "Refusing to install");
	if (!*source) {
		/* The server's current release: poll first, then start from what verified. */
		if (!c->server)
			return refuse(u, -ENOMEDIUM,
				      "No Server= is configured: give a bundle path or URL");
		r = poller_poll(u->poller);
		if (r < 0)
			return poll_refused(u, r);
		u->poll_then_install = true;
		u->poll_then_apply = apply;
		u->poll_then_reinstall = flags & UPDATER_REINSTALL;
		return 0;
	}
	transfer_setup(u, ctx, &setup);
	if (source[0] == '/') {
		r = transfer_new_file(&setup, source, &t);
		if (r < 0)
			return fail(u, ctx, r, "Bundle rejected");
	} else if (strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0) {
		r = transfer_new_url(&setup, source, &t);
		if (r < 0)
			return fail(u, ctx, r, "Cannot install");
	} else
		return refuse(u, -EINVAL, "'%s' is neither an absolute path nor an http(s) URL",
			      u->source);
	return run_transfer(u, t, verify, apply);
}

int updater_begin(Updater *u, const char *source, unsigned flags)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	int r;

	assert_return(u && source, -EINVAL);
	if (updater_allows(u, UPDATER_OP_START) < 0)
		return -EBUSY;
	if (u->state == UPDATER_FINISHED)
		(void)updater_reset(u);
	op_begin(u);
	/* Never cut: a cut URL is another URL, and half a character breaks the property. */
	if (strlen(source) > SOURCE_MAX)
		return refuse(u, -EINVAL, "The source is longer than %zu bytes", SOURCE_MAX);
	set_source(u, source);
	r = manager_context_new(u->m, &ctx);
	if (r < 0)
		return fail(u, NULL, r, "Cannot install");
	r = begin(u, ctx, source, flags);
	if (r < 0 && u->state == UPDATER_INACTIVE)
		/* Refused before any transfer began: the history says so too. */
		history(u, SWU_HISTORY_FAILED, u->installed_version, 0);
	return r;
}

/* ---- the poller's events ---- */

/* The release whose slot did not boot: said once (Note, history), never installed by itself. */
static bool skip_rolled_back(Updater *u, SwuContext *ctx, const Release *rel)
{
	uint32_t version = release_get_version(rel);

	if (!manager_rolled_back(u->m, ctx, version, release_get_targets_sha256(rel)))
		return false;
	/* Also over a finished install's Note: this is what the automatic path decided now. */
	set_note(u,
		 "Release version %u rolled back on this device (its slot did not boot or was "
		 "marked bad): not installed again automatically; an explicit install still "
		 "installs it",
		 version);
	log_info("%s", u->note);
	if (!u->skipped_noted)
		manager_history(u->m, SWU_HISTORY_INSTALL, u->installed_version, version,
				manager_target_slot(u->m), SWU_HISTORY_SKIPPED, u->note);
	u->skipped_noted = true;
	return true;
}

int updater_get_rollout(const Updater *u, char *buf, size_t size)
{
	const Release *rel = poller_get_release(u->poller);
	const SwuRollout *ro = rel ? release_get_rollout(rel) : NULL;
	char when[SWU_TIME_UTC_MAX];

	if (!ro || !ro->set)
		return snprintf(buf, size, "%s", "");
	switch (rollout_verdict(u, rel, NULL)) {
	case SWU_ROLLOUT_HALTED:
		return snprintf(buf, size, "halted");
	case SWU_ROLLOUT_NOT_STARTED:
		return snprintf(buf, size, "rollout %u%% from %s, not started", ro->percent,
				swu_time_utc(ro->start, when, sizeof(when)));
	case SWU_ROLLOUT_NOT_YET:
		return snprintf(buf, size, "rollout %u%%, this device not yet", ro->percent);
	case SWU_ROLLOUT_IN:
	default:
		return snprintf(buf, size, "rollout %u%%, this device included", ro->percent);
	}
}

/*
 * A staged rollout that does not cover this device yet holds the automatic path (said in the
 * Note while no install shows its own); an explicit install is not held (begin_server()).
 */
static bool rollout_holds(Updater *u, const Release *rel)
{
	char what[128];

	if (rollout_verdict(u, rel, NULL) == SWU_ROLLOUT_IN)
		return false;
	(void)updater_get_rollout(u, what, sizeof(what));
	if (u->state == UPDATER_INACTIVE) {
		set_note(u,
			 "Release version %u is available (installed %u); %s: not installed "
			 "automatically",
			 release_get_version(rel), u->installed_version, what);
		log_info("%s", u->note);
	}
	return true;
}

/* After a poll: the automatic path installs what the server offers, when it may. */
static void auto_install(Updater *u)
{
	const Config *c = u->m->config;
	const Release *rel = poller_get_release(u->poller);
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	Status s;

	if (!rel || c->auto_install == AUTO_INSTALL_NO ||
	    release_get_version(rel) <= u->installed_version)
		return;
	/* A finished install (failed, or done and waiting for its reboot) does not stop the next
	 * one: an automatic poll that finds an installable release starts over. */
	if (u->state != UPDATER_INACTIVE && u->state != UPDATER_FINISHED)
		return;
	if (manager_context_new(u->m, &ctx) < 0)
		return;
	/* Never twice the same pending version, never over an unconfirmed update. */
	if (manager_get_status(u->m, ctx, &s) >= 0 && s.state != UPDATE_IDLE &&
	    s.pending_version >= release_get_version(rel))
		return;
	if (skip_rolled_back(u, ctx, rel))
		return;
	if (rollout_holds(u, rel))
		return;
	if (u->state == UPDATER_FINISHED)
		(void)updater_reset(u);
	op_begin(u);
	(void)begin_server(u, true, c->auto_install == AUTO_INSTALL_YES);
}

/*
 * Start("") found nothing to install: a success, with nothing written, no history line, and the
 * Finished signal for whoever waits for the install.
 */
static void up_to_date(Updater *u, const char *fmt, ...) _printf_(2, 3);
static void up_to_date(Updater *u, const char *fmt, ...)
{
	_cleanup_free_ char *sentence = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&sentence, fmt, ap) < 0)
		sentence = NULL;
	va_end(ap);
	set_note(u, "%s", sentence ?: "Up to date");
	log_info("%s", u->note);
	u->result = RESULT_SUCCESS;
	set_state(u, UPDATER_FINISHED);
	changed(u, UPDATER_PROPERTY_RESULT);
	if (u->events->finished)
		u->events->finished(u->userdata);
	updater_save_status(u);
}

/* Whether the server's release is worth installing: newer than what is installed and pending. */
static bool newer_than_installed(Updater *u, const Release *rel)
{
	uint32_t version = release_get_version(rel);
	Status s;

	if (version <= u->installed_version) {
		up_to_date(u,
			   "Up to date: version %u is installed and the server offers version %u "
			   "(nothing installed; the option 'reinstall' installs it again)",
			   u->installed_version, version);
		return false;
	}
	if (manager_get_status(u->m, u->m->ctx, &s) >= 0 && s.state != UPDATE_IDLE &&
	    s.pending_version >= version) {
		up_to_date(u, "Version %u is installed already and waits in slot %c for %s",
			   s.pending_version, s.pending_slot,
			   s.state == UPDATE_PENDING_REBOOT ? "a reboot" : "its confirmation");
		return false;
	}
	return true;
}

/* After the poll that Start("")/Install("") began with: its failure is the install's. */
static void install_polled(Updater *u, UpdateResult failed, bool apply, bool reinstall)
{
	const Release *rel = poller_get_release(u->poller);
	int r;

	if (failed != RESULT_NONE)
		return finish(u, failed);
	/* A CDN still serving the release before, or an older one: not installed by itself. */
	if (rel && !reinstall && !newer_than_installed(u, rel))
		return;
	r = begin_server(u, apply, apply);
	if (r < 0 && u->state == UPDATER_INACTIVE)
		finish(u, update_result_of(r));
}

static void on_checked(void *userdata, const PollReport *report)
{
	Updater *u = userdata;
	bool install = u->poll_then_install, apply = u->poll_then_apply;
	bool reinstall = u->poll_then_reinstall;
	UpdateResult failed = RESULT_NONE;

	u->poll_then_install = u->poll_then_apply = u->poll_then_reinstall = false;
	if (report->release_changed)
		u->skipped_noted = false; /* a skip of this release is news */
	if (report->outcome == POLL_RETRY || report->outcome == POLL_FAILED ||
	    report->outcome == POLL_NONE)
		failed = RESULT_TRANSFER_FAILED;
	else if (report->error < 0)
		failed = RESULT_VERIFY_FAILED;
	/* The Note tells what a poll found while no install runs or waits for Reset (then the Note
	 * is about the install). */
	if (report->note && u->state == UPDATER_INACTIVE) {
		if (report->error < 0)
			u->error = report->error;
		set_note(u, "%s", report->note);
	}
	changed(u, UPDATER_PROPERTY_AVAILABLE_VERSION);
	updater_save_status(u);
	if (u->events->checked)
		u->events->checked(u->userdata, report->error, poller_get_note(u->poller));
	if (install)
		return install_polled(u, failed, apply, reinstall);
	if (failed == RESULT_NONE)
		auto_install(u);
}

static void on_schedule_changed(void *userdata)
{
	changed(userdata, UPDATER_PROPERTY_LAST_CHECK | UPDATER_PROPERTY_NEXT_CHECK);
}

static const PollerEvents poller_events = {
	.checked = on_checked,
	.schedule_changed = on_schedule_changed,
};

/* ---- the operations ---- */

int updater_allows(const Updater *u, UpdaterOp op)
{
	bool ok = false;

	assert_return(u, -EINVAL);
	switch (op) {
	case UPDATER_OP_START:
		/* A finished install is over: a new one starts over (Reset only clears it). Start("")
		 * polls first: the transfer it begins when the poll ends owns the slot. */
		ok = (u->state == UPDATER_INACTIVE || u->state == UPDATER_FINISHED) &&
		     !u->poll_then_install;
		break;
	case UPDATER_OP_VERIFY:
		ok = u->state == UPDATER_TRANSFERRED;
		break;
	case UPDATER_OP_APPLY:
		ok = u->state == UPDATER_TRANSFERRED || u->state == UPDATER_VERIFIED;
		break;
	case UPDATER_OP_ABORT:
		ok = u->state >= UPDATER_TRANSFERRING && u->state <= UPDATER_VERIFIED;
		break;
	case UPDATER_OP_RESET:
		ok = u->state == UPDATER_FINISHED;
		break;
	case UPDATER_OP_MARK:
		ok = true;
		break;
	case UPDATER_OP_CHANNEL:
		ok = (u->state == UPDATER_INACTIVE || u->state == UPDATER_FINISHED) &&
		     !u->poll_then_install && !poller_polling(u->poller);
		break;
	case _UPDATER_OP_MAX:
		break;
	}
	return ok ? 0 : -EBUSY;
}

bool updater_waits_for_poll(const Updater *u)
{
	return u->state == UPDATER_INACTIVE && u->poll_then_install;
}

int updater_check(Updater *u)
{
	assert_return(u, -EINVAL);
	return poll_refused(u, poller_poll(u->poller));
}

int updater_scheduled_check(Updater *u)
{
	assert_return(u, -EINVAL);
	return poll_refused(u, poller_scheduled_check(u->poller));
}

int updater_verify(Updater *u)
{
	assert_return(u, -EINVAL);
	if (updater_allows(u, UPDATER_OP_VERIFY) < 0)
		return -EBUSY;
	op_begin(u);
	return verify(u, true, false);
}

int updater_apply(Updater *u)
{
	SwuContext *ctx;
	int r;

	assert_return(u, -EINVAL);
	if (updater_allows(u, UPDATER_OP_APPLY) < 0)
		return -EBUSY;
	op_begin(u);
	/* Not verified yet: read the slots back first (on the worker), then apply. */
	if (u->state == UPDATER_TRANSFERRED)
		return verify(u, true, true);
	set_state(u, UPDATER_APPLYING);
	ctx = transfer_context(u->transfer);
	r = transfer_apply(u->transfer);
	if (r < 0) {
		fail(u, ctx, r, "Apply failed");
		finish(u, RESULT_APPLY_FAILED);
		return r;
	}
	u->pending_version = transfer_get_version(u->transfer);
	set_note(u, "Version %u installed into slot %c; reboot to try it", u->pending_version,
		 manager_target_slot(u->m));
	log_info("%s", u->note);
	finish(u, RESULT_SUCCESS);
	if (u->m->config->reboot_auto && u->events->reboot)
		u->events->reboot(u->userdata);
	return 0;
}

void updater_reboot_failed(Updater *u, const char *why)
{
	assert_return_void(u && why);
	set_note(u, "Version %u installed into slot %c, but the reboot %s; reboot to try it",
		 u->pending_version, manager_target_slot(u->m), why);
	log_error("%s", u->note);
	updater_save_status(u);
}

int updater_abort(Updater *u)
{
	assert_return(u, -EINVAL);
	if (updater_allows(u, UPDATER_OP_ABORT) < 0)
		return -EBUSY;
	op_begin(u);
	set_state(u, UPDATER_ABORTING);
	/* Freeing the transfer cancels downloads and abandons half-written slots; nothing was
	 * recorded as pending, so the new slot is never activated. */
	set_note(u, "Aborted");
	finish(u, RESULT_ABORTED);
	return 0;
}

int updater_reset(Updater *u)
{
	assert_return(u, -EINVAL);
	if (updater_allows(u, UPDATER_OP_RESET) < 0)
		return -EBUSY;
	op_begin(u);
	u->result = RESULT_NONE;
	(void)set_text(&u->source, "");
	u->bytes_done = u->bytes_total = 0;
	u->download_done = u->download_total = u->bytes_reused = 0;
	u->total_written = u->downloaded = u->total_reused = 0;
	set_state(u, UPDATER_INACTIVE);
	changed(u, UPDATER_PROPERTY_RESULT | UPDATER_PROPERTY_SOURCE | UPDATER_PROPERTY_BYTES);
	updater_save_status(u);
	return 0;
}

int updater_mark(Updater *u, bool good)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	char note[128]; /* the manager's sentences name a slot and a version */
	Status s;
	int r;

	assert_return(u, -EINVAL);
	op_begin(u);
	r = manager_context_new(u->m, &ctx);
	if (r >= 0)
		r = manager_mark(u->m, ctx, good, note, sizeof(note));
	if (r < 0)
		return fail(u, ctx, r,
			    good ? "Cannot mark the update good" : "Cannot mark the update bad");
	set_note(u, "%s", note);
	if (manager_get_status(u->m, ctx, &s) >= 0)
		u->installed_version = s.installed_version;
	changed(u, UPDATER_PROPERTY_PENDING_SLOT | UPDATER_PROPERTY_INSTALLED_VERSION);
	return 0;
}

void updater_shutdown(Updater *u)
{
	if (!u)
		return;
	if (u->transfer) {
		/* Told by the next activation (Result, Note, history), like an Abort. */
		set_note(u,
			 "Interrupted: swupdated was stopped during the install of %s; slot %c "
			 "was not activated",
			 source_name(u), manager_target_slot(u->m));
		log_info("%s", u->note);
		finish(u, RESULT_ABORTED);
	}
	/* Whoever waits for the poll's answer hears that it will not come. */
	if (poller_stop(u->poller) && u->events->checked)
		u->events->checked(u->userdata, -ESHUTDOWN, "swupdated is stopping");
	u->poll_then_install = false;
}

bool updater_busy(const Updater *u)
{
	return u->transfer || installing(u) || u->poll_then_install || poller_busy(u->poller);
}

void updater_set_exiting(Updater *u)
{
	u->exiting = true;
}

int updater_set_channel(Updater *u, const char *name)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	_cleanup_free_ char *shown = NULL;
	int r;

	assert_return(u && name, -EINVAL);
	if (updater_allows(u, UPDATER_OP_CHANNEL) < 0)
		return -EBUSY;
	r = manager_context_new(u->m, &ctx);
	if (r >= 0)
		r = manager_set_channel(u->m, ctx, name);
	if (r < 0)
		return fail(u, ctx, r, "Cannot change the channel");
	r = poller_server_changed(u->poller);
	if (r < 0)
		return fail(u, NULL, r, "Cannot change the channel");
	if (u->m->config->server && url_redact(u->m->config->server, &shown) < 0)
		return -ENOMEM;
	u->error = 0;
	if (*name)
		set_note(u, "Channel '%s' chosen: polling %s", name, shown);
	else
		set_note(u, "No channel chosen: polling Server= (%s)", shown ?: "none");
	log_info("%s", u->note);
	changed(u, UPDATER_PROPERTY_AVAILABLE_VERSION | UPDATER_PROPERTY_CHANNEL);
	updater_save_status(u);
	if (u->m->config->server)
		(void)poller_poll(u->poller); /* its report follows, as for Check() */
	return 0;
}

const char *updater_get_channel(const Updater *u)
{
	assert_return(u, "");
	return u->m->channel;
}

uint32_t updater_get_available_version(const Updater *u)
{
	const Release *rel = poller_get_release(u->poller);

	return rel ? release_get_version(rel) : 0;
}

uint64_t updater_get_last_check(const Updater *u)
{
	return poller_get_last_check(u->poller);
}

uint64_t updater_get_next_check(const Updater *u)
{
	return poller_get_next_check(u->poller);
}

char updater_get_pending_slot(const Updater *u)
{
	Status s;

	return manager_get_status(u->m, u->m->ctx, &s) >= 0 ? s.pending_slot : 0;
}

const char *updater_get_poll_note(const Updater *u)
{
	return poller_get_note(u->poller);
}

/*
 * What this boot is, told once the kept status is loaded (its Note may be about the boot before):
 * the new slot did not boot (a rollback), its switch never ran, or it booted and waits for its
 * confirmation.
 */
static void note_boot(Updater *u)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	Reconciled rc;
	Status s;
	int r;

	r = manager_context_new(u->m, &ctx);
	if (r >= 0)
		r = manager_reconcile(u->m, ctx, &rc);
	if (r < 0) {
		log_failure(LOG_WARNING, ctx, r, "Cannot reconcile the pending install");
		return;
	}
	switch (rc.what) {
	case RECONCILED_ROLLBACK:
		set_note(u,
			 "Rollback: version %u in slot %c did not boot; slot %c runs version %u "
			 "again",
			 rc.version, rc.slot, u->m->booted, u->installed_version);
		break;
	case RECONCILED_INTERRUPTED:
		set_note(u,
			 "The install of version %u into slot %c was cut before the bootloader "
			 "switch; slot %c runs as before: install it again",
			 rc.version, rc.slot, u->m->booted);
		break;
	case RECONCILED_NOTHING:
		if (manager_get_status(u->m, ctx, &s) < 0 || s.state != UPDATE_PENDING_CONFIRMATION)
			return;
		set_note(u,
			 "Version %u runs from slot %c and waits for its confirmation (MarkGood; "
			 "MarkBad goes back to slot %c)",
			 s.pending_version, s.pending_slot, s.pending_slot == 'A' ? 'B' : 'A');
		break;
	}
	changed(u, UPDATER_PROPERTY_PENDING_SLOT);
	updater_save_status(u);
}

/* The Source status.json kept (escaped: the file may be damaged); the old one without memory. */
static void set_kept_source(Updater *u, const char *kept)
{
	char *s = strdup_escaped_printf("%s", kept);

	if (s) {
		free(u->source);
		u->source = s;
	}
}

/* What the last instance kept: status.json, and the release it names. */
static void load_status(Updater *u)
{
	SwuStatusRecord st;
	UpdateResult result;
	int r;

	r = swu_state_load_status(u->m->ctx, u->m->config->state_dir, &st);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		log_failure(LOG_WARNING, u->m->ctx, r, "Ignoring the kept status");
		return;
	}
	poller_restore(u->poller, &st);
	u->skipped_noted = st.skipped_noted;
	set_note(u, "%s", st.note);
	result = update_result_from_string(st.result);
	if (result > RESULT_NONE) {
		/* A finished install is shown until Reset, restart or not. */
		u->state = UPDATER_FINISHED;
		u->result = result;
		set_kept_source(u, st.source);
		u->bytes_done = st.bytes_done;
		u->bytes_total = st.bytes_total;
		u->total_written = st.total_written;
		u->downloaded = st.total_downloaded;
		u->total_reused = st.total_reused;
	}
	if (st.running[0]) {
		/* Killed, crashed or powered off in the middle: nothing was activated unless the
		 * pending record says so (PendingSlot); the next activation tells what happened. */
		Status s;
		char pending[96] = "";

		if (manager_get_status(u->m, u->m->ctx, &s) >= 0 && s.pending_slot)
			snprintf(pending, sizeof(pending), "; version %u is pending in slot %c",
				 s.pending_version, s.pending_slot);
		set_kept_source(u, st.running);
		u->state = UPDATER_FINISHED;
		u->result = RESULT_UNKNOWN_ERROR;
		set_note(u,
			 "Interrupted: swupdated stopped during the install of %s (killed, "
			 "crashed or powered off)%s",
			 st.running, pending[0] ? pending : "; install it again");
		log_warning("%s", u->note);
		history(u, SWU_HISTORY_FAILED, u->installed_version, 0);
		updater_save_status(u);
	}
}

void updater_load(Updater *u)
{
	Status s;

	assert_return_void(u);
	load_status(u);
	note_boot(u);
	/* InstalledVersion 0 alone would hide why (RequireVerity= without dm-verity, say). */
	if (u->state == UPDATER_INACTIVE && manager_get_status(u->m, u->m->ctx, &s) >= 0 &&
	    s.installed_error[0]) {
		set_note(u, "The installed version cannot be told: %s", s.installed_error);
		log_warning("%s", u->note);
	}
}

int updater_new(const UpdaterSetup *setup, Updater **ret)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	PollerSetup ps;
	Status s;
	int r;

	assert_return(setup && ret, -EINVAL);
	assert_return(setup->manager && setup->event && setup->clock && setup->fetch, -EINVAL);
	assert_return(setup->events, -EINVAL);
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	*u = (Updater){
		.m = setup->manager,
		.event = sd_event_ref(setup->event),
		.clock = setup->clock,
		.fetch = setup->fetch,
		.events = setup->events,
		.userdata = setup->userdata,
		.note = strdup(""),
		.current_target = strdup(""),
		.source = strdup(""),
	};
	if (!u->note || !u->current_target || !u->source)
		return -ENOMEM;
	manager_set_clock(u->m, u->clock);
	ps = (PollerSetup){
		.manager = u->m,
		.clock = u->clock,
		.fetch = u->fetch,
		.timer_mode = setup->timer_mode,
		.bus = setup->bus,
		.events = &poller_events,
		.userdata = u,
	};
	r = poller_new(&ps, &u->poller);
	if (r < 0)
		return r;
	if (manager_get_status(u->m, u->m->ctx, &s) >= 0)
		u->installed_version = s.installed_version;
	*ret = TAKE_PTR(u);
	return 0;
}

int updater_start(Updater *u)
{
	assert_return(u, -EINVAL);
	return poller_start(u->poller);
}

Updater *updater_free(Updater *u)
{
	if (!u)
		return NULL;
	if (u->poller)
		updater_shutdown(u);
	poller_free(u->poller);
	if (u->m)
		manager_set_clock(u->m, NULL); /* the clock may go before the manager */
	sd_event_unref(u->event);
	free(u->note);
	free(u->current_target);
	free(u->source);
	free(u);
	return NULL;
}
