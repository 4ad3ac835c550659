/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "state.h"
#include "text.h"
#include "transfer.h"
#include "updater.h"

#define EMIT_INTERVAL_USEC (250 * 1000)

static const char *const state_table[_UPDATER_STATE_MAX] = {
	[UPDATER_INACTIVE] = "inactive",       [UPDATER_TRANSFERRING] = "transferring",
	[UPDATER_TRANSFERRED] = "transferred", [UPDATER_VERIFYING] = "verifying",
	[UPDATER_VERIFIED] = "verified",       [UPDATER_APPLYING] = "applying",
	[UPDATER_ABORTING] = "aborting",       [UPDATER_FINISHED] = "finished",
};

static const char *const result_table[_RESULT_MAX] = {
	[RESULT_NONE] = "",
	[RESULT_SUCCESS] = "success",
	[RESULT_UNKNOWN_ERROR] = "unknown-error",
	[RESULT_ABORTED] = "aborted",
	[RESULT_TRANSFER_FAILED] = "transfer-failed",
	[RESULT_VERIFY_FAILED] = "verify-failed",
	[RESULT_APPLY_FAILED] = "apply-failed",
};

const char *updater_state_to_string(UpdaterState s)
{
	return state_table[s];
}

const char *updater_result_to_string(UpdaterResult r)
{
	return result_table[r];
}

UpdaterResult updater_result_of(int r)
{
	switch (r) {
	case -EBADMSG:
	case -EKEYREJECTED:
	case -EKEYEXPIRED:
	case -ESTALE:
	case -EMEDIUMTYPE:
	case -EFBIG:
		return RESULT_VERIFY_FAILED;
	case -ECANCELED:
		return RESULT_ABORTED;
	default:
		return RESULT_TRANSFER_FAILED;
	}
}

void updater_emit(Updater *u, const char *first, ...)
{
	char *names[16];
	size_t n = 0;
	va_list ap;

	if (!u->bus)
		return;
	va_start(ap, first);
	for (const char *s = first; s && n < ELEMENTSOF(names) - 1; s = va_arg(ap, const char *))
		names[n++] = (char *)s;
	va_end(ap);
	names[n] = NULL;
	(void)sd_bus_emit_properties_changed_strv(u->bus, "/io/swupdated/Updater1",
						  "io.swupdated.Updater1", names);
}

void updater_note(Updater *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->note, sizeof(u->note), fmt, ap);
	va_end(ap);
	/* D-Bus strings must be UTF-8, and the Note is shown on terminals. */
	swu_escape_inplace(u->note, sizeof(u->note));
	updater_emit(u, "Note", NULL);
}

void updater_op_begin(Updater *u)
{
	u->error = 0;
	if (u->note[0])
		updater_note(u, "%s", "");
}

static int record_failure(Updater *u, int r, const char *sentence)
{
	u->error = r;
	updater_note(u, "%s", sentence);
	log_error("%s", u->note);
	return r;
}

int updater_fail(Updater *u, SwuContext *ctx, int r, const char *what, ...)
{
	char buf[256], sentence[640];
	va_list ap;

	va_start(ap, what);
	vsnprintf(buf, sizeof(buf), what, ap);
	va_end(ap);
	snprintf(sentence, sizeof(sentence), "%s: %s", buf, log_reason(ctx, r));
	return record_failure(u, r, sentence);
}

int updater_refuse(Updater *u, int r, const char *fmt, ...)
{
	char sentence[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sentence, sizeof(sentence), fmt, ap);
	va_end(ap);
	return record_failure(u, r, sentence);
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
	default:
		sd_notifyf(0, "STATUS=%s%s%s", state_table[u->state], u->result ? ": " : "",
			   result_table[u->result]);
		break;
	}
}

void updater_set_state(Updater *u, UpdaterState s)
{
	bool began = !installing(u) && s == UPDATER_TRANSFERRING;

	u->state = s;
	u->progress = 0;
	log_info("State: %s", state_table[s]);
	updater_emit(u, "State", "Progress", NULL);
	notify_status(u);
	if (began)
		updater_save_status(u);
}

void updater_set_progress(Updater *u, uint64_t done, uint64_t total, bool force)
{
	uint64_t now = now_realtime();

	u->bytes_done = done;
	u->bytes_total = total;
	u->progress = total ? (uint32_t)(done * 10000 / total) : 10000;
	if (!force && now - u->last_emit < EMIT_INTERVAL_USEC)
		return;
	u->last_emit = now;
	updater_emit(u, "Progress", "BytesDone", "BytesTotal", "DownloadDone", "DownloadTotal",
		     "BytesReused", "CurrentTarget", NULL);
	notify_status(u);
}

void updater_save_status(Updater *u)
{
	SwuStatusRecord st = { .available_version = u->available_version,
			       .last_check = u->last_check };
	int r;

	poller_record(u, &st);
	snprintf(st.note, sizeof(st.note), "%s", u->note);
	if (u->state == UPDATER_FINISHED) {
		snprintf(st.result, sizeof(st.result), "%s", result_table[u->result]);
		snprintf(st.source, sizeof(st.source), "%s", u->source);
		st.bytes_done = u->bytes_done;
		st.bytes_total = u->bytes_total;
	}
	/* Cleared when it finishes: still set at the next start means the daemon died in it. */
	if (installing(u))
		snprintf(st.running, sizeof(st.running), "%s", source_name(u));
	r = swu_state_save_status(u->m->ctx, u->m->config->state_dir, &st);
	if (r < 0)
		log_failure(LOG_WARNING, u->m->ctx, r, "Cannot keep the status");
}

void updater_load(Updater *u)
{
	SwuStatusRecord st;
	int r;

	r = swu_state_load_status(u->m->ctx, u->m->config->state_dir, &st);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		log_failure(LOG_WARNING, u->m->ctx, r, "Ignoring the kept status");
		return;
	}
	u->available_version = st.available_version;
	u->last_check = st.last_check;
	poller_restore(u, &st);
	snprintf(u->note, sizeof(u->note), "%s", st.note);
	swu_escape_inplace(u->note, sizeof(u->note));
	for (int i = RESULT_SUCCESS; i < _RESULT_MAX; i++)
		if (streq(st.result, result_table[i])) {
			/* A finished install is shown until Reset, restart or not. */
			u->state = UPDATER_FINISHED;
			u->result = (UpdaterResult)i;
			snprintf(u->source, sizeof(u->source), "%s", st.source);
			swu_escape_inplace(u->source, sizeof(u->source));
			u->bytes_done = st.bytes_done;
			u->bytes_total = st.bytes_total;
		}
	if (st.running[0]) {
		/* Killed, crashed or powered off in the middle: nothing was activated unless the
		 * pending record says so (PendingSlot); the next activation tells what happened. */
		Status s;
		char pending[96] = "";

		if (manager_get_status(u->m, u->m->ctx, &s) >= 0 && s.pending_slot)
			snprintf(pending, sizeof(pending), "; version %u is pending in slot %c",
				 s.pending_version, s.pending_slot);
		snprintf(u->source, sizeof(u->source), "%s", st.running);
		swu_escape_inplace(u->source, sizeof(u->source));
		u->state = UPDATER_FINISHED;
		u->result = RESULT_UNKNOWN_ERROR;
		updater_note(u,
			     "Interrupted: swupdated stopped during the install of %s (killed, "
			     "crashed or powered off)%s",
			     st.running, pending[0] ? pending : "; install it again");
		log_warning("%s", u->note);
		manager_history(u->m, SWU_HISTORY_INSTALL, u->installed_version, 0,
				manager_target_slot(u->m), SWU_HISTORY_FAILED, u->note);
		updater_save_status(u);
	}
}

void updater_finish(Updater *u, UpdaterResult result)
{
	Transfer *t = u->transfer;
	uint32_t from = t && t->v ? swu_verifier_get_installed_version(t->v) : u->installed_version;
	uint32_t to = t && t->v ? swu_verifier_get_version(t->v) : 0;

	manager_history_install(u->m, SWU_HISTORY_INSTALL, from, to, manager_target_slot(u->m),
				result == RESULT_SUCCESS   ? SWU_HISTORY_SUCCESS
				: result == RESULT_ABORTED ? SWU_HISTORY_ABORTED
							   : SWU_HISTORY_FAILED,
				u->note, u->downloaded);
	u->transfer = transfer_free(t);
	u->result = result;
	u->current_target[0] = 0;
	updater_set_state(u, UPDATER_FINISHED);
	updater_emit(u, "Result", "CurrentTarget", "PendingSlot", NULL);
	updater_bus_finished(u);
	updater_save_status(u);
}

void updater_abandon(Updater *u, UpdaterResult result, int r, const char *what, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, what);
	vsnprintf(buf, sizeof(buf), what, ap);
	va_end(ap);
	(void)updater_fail(u, u->transfer ? u->transfer->ctx : NULL, r, "%s", buf);
	updater_finish(u, result);
}

int updater_allows(Updater *u, const char *method)
{
	bool ok = true;

	/* Start("") polls first: the transfer it begins when the poll ends owns the slot. */
	if (streq(method, "Start") || streq(method, "Install"))
		ok = u->state == UPDATER_INACTIVE && !u->poller.start_after;
	else if (streq(method, "Verify"))
		ok = u->state == UPDATER_TRANSFERRED;
	else if (streq(method, "Apply"))
		ok = u->state == UPDATER_TRANSFERRED || u->state == UPDATER_VERIFIED;
	else if (streq(method, "Abort"))
		ok = u->state >= UPDATER_TRANSFERRING && u->state <= UPDATER_VERIFIED;
	else if (streq(method, "Reset"))
		ok = u->state == UPDATER_FINISHED;
	return ok ? 0 : -EBUSY;
}

static int begin(Updater *u, SwuContext *ctx, const char *source, bool verify, bool apply)
{
	const Config *c = u->m->config;
	int r;

	r = manager_reconcile(u->m, ctx);
	if (r >= 0)
		r = manager_may_install(u->m, ctx);
	if (r < 0)
		return updater_fail(u, ctx, r, "Refusing to install");
	if (!*source) {
		/* The server's current release: poll first, then start from what verified. */
		if (!c->server)
			return updater_refuse(u, -ENOMEDIUM,
					      "No Server= is configured: give a bundle path or "
					      "URL");
		r = poller_poll(u);
		if (r >= 0) {
			u->poller.start_after = true;
			u->poller.apply_after = apply;
		}
		return r;
	}
	if (source[0] == '/')
		return transfer_begin_file(u, source, verify, apply);
	if (strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0)
		return transfer_begin_url(u, source, verify, apply);
	return updater_refuse(u, -EINVAL, "'%s' is neither an absolute path nor an http(s) URL",
			      source);
}

int updater_begin(Updater *u, const char *source, bool verify, bool apply)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	int r;

	if (updater_allows(u, "Start") < 0)
		return -EBUSY;
	updater_op_begin(u);
	/* Never cut: a cut URL is another URL, and half a character breaks the property. */
	if (strlen(source) >= sizeof(u->source))
		return updater_refuse(u, -EINVAL, "The source is longer than %zu bytes",
				      sizeof(u->source) - 1);
	snprintf(u->source, sizeof(u->source), "%s", source);
	r = manager_context_new(u->m, &ctx);
	if (r < 0)
		return updater_fail(u, NULL, r, "Cannot install");
	r = begin(u, ctx, source, verify, apply);
	if (r < 0 && !u->transfer)
		/* Refused before any transfer began: the history says so too. */
		manager_history(u->m, SWU_HISTORY_INSTALL, u->installed_version, 0,
				manager_target_slot(u->m), SWU_HISTORY_FAILED, u->note);
	return r;
}

int updater_verify(Updater *u)
{
	if (updater_allows(u, "Verify") < 0)
		return -EBUSY;
	updater_op_begin(u);
	return transfer_verify(u, true, false);
}

/* logind's answer: a refusal (no CAP_SYS_BOOT, polkit says no, no logind) is said plainly. */
static int on_reboot_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	Updater *u = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	if (!e) {
		log_info("RebootPolicy=auto: systemd-logind is rebooting the system");
		return 0;
	}
	updater_note(u,
		     "Version %u installed into slot %c, but the reboot was refused: %s; "
		     "reboot to try it",
		     u->pending_version, manager_target_slot(u->m), e->message ?: e->name);
	log_error("%s", u->note);
	updater_save_status(u);
	return 0;
}

/*
 * Reboot(interactive=false) through systemd-logind. Without polkit (a minimal image) logind
 * allows it to a root caller holding CAP_SYS_BOOT, which the unit's bounding set keeps for this.
 */
static void reboot(Updater *u)
{
	int r;

	log_info("RebootPolicy=auto: asking systemd-logind to reboot");
	r = sd_bus_call_method_async(u->bus, NULL, "org.freedesktop.login1",
				     "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
				     "Reboot", on_reboot_reply, u, "b", false);
	if (r < 0) {
		updater_note(u,
			     "Version %u installed into slot %c, but the reboot could not be "
			     "asked for: %s; reboot to try it",
			     u->pending_version, manager_target_slot(u->m), strerror(-r));
		log_error("%s", u->note);
	}
}

int updater_apply(Updater *u)
{
	Transfer *t = u->transfer;
	int r;

	if (updater_allows(u, "Apply") < 0)
		return -EBUSY;
	updater_op_begin(u);
	/* Not verified yet: read the slots back first (on the worker), then apply. */
	if (u->state == UPDATER_TRANSFERRED)
		return transfer_verify(u, true, true);
	updater_set_state(u, UPDATER_APPLYING);
	r = manager_apply(u->m, t->ctx, t->v);
	if (r < 0) {
		updater_abandon(u, RESULT_APPLY_FAILED, r, "Apply failed");
		return r;
	}
	u->pending_version = swu_verifier_get_version(t->v);
	updater_note(u, "Version %u installed into slot %c; reboot to try it", u->pending_version,
		     manager_target_slot(u->m));
	log_info("%s", u->note);
	updater_finish(u, RESULT_SUCCESS);
	if (u->m->config->reboot_auto)
		reboot(u);
	return 0;
}

int updater_abort(Updater *u)
{
	if (updater_allows(u, "Abort") < 0)
		return -EBUSY;
	updater_op_begin(u);
	updater_set_state(u, UPDATER_ABORTING);
	/* Freeing the transfer cancels downloads and abandons half-written slots; nothing was
	 * recorded as pending, so the new slot is never activated. */
	updater_note(u, "Aborted");
	updater_finish(u, RESULT_ABORTED);
	return 0;
}

int updater_reset(Updater *u)
{
	if (updater_allows(u, "Reset") < 0)
		return -EBUSY;
	updater_op_begin(u);
	u->result = RESULT_NONE;
	u->source[0] = 0;
	u->bytes_done = u->bytes_total = 0;
	u->download_done = u->download_total = u->bytes_reused = 0;
	updater_set_state(u, UPDATER_INACTIVE);
	updater_emit(u, "Result", "Source", "BytesDone", "BytesTotal", "DownloadDone",
		     "DownloadTotal", "BytesReused", NULL);
	updater_save_status(u);
	return 0;
}

int updater_mark(Updater *u, bool good)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	Status s;
	int r;

	updater_op_begin(u);
	r = manager_context_new(u->m, &ctx);
	if (r >= 0)
		r = manager_mark(u->m, ctx, good, u->note, sizeof(u->note));
	if (r < 0)
		return updater_fail(u, ctx, r, "Cannot mark the update %s", good ? "good" : "bad");
	if (manager_get_status(u->m, ctx, &s) >= 0)
		u->installed_version = s.installed_version;
	updater_emit(u, "Note", "PendingSlot", "InstalledVersion", NULL);
	return 0;
}

void updater_shutdown(Updater *u)
{
	if (u->transfer) {
		/* Told by the next activation (Result, Note, history), like an Abort. */
		updater_note(u,
			     "Interrupted: swupdated was stopped during the install of %s; slot %c "
			     "was not activated",
			     source_name(u), manager_target_slot(u->m));
		log_info("%s", u->note);
		updater_finish(u, RESULT_ABORTED);
	}
	poller_stop(u);
}

bool updater_busy(Updater *u)
{
	return u->transfer || installing(u) || u->poller.start_after || poller_busy(u);
}

int updater_new(Manager *m, sd_event *event, sd_bus *bus, Updater **ret)
{
	Updater *u = calloc(1, sizeof(*u));
	Status s;
	int r;

	if (!u)
		return -ENOMEM;
	u->m = m;
	u->event = sd_event_ref(event);
	u->bus = sd_bus_ref(bus);
	r = fetch_new(event, m->config, &u->fetch);
	if (r < 0) {
		updater_free(u);
		return r;
	}
	if (manager_get_status(m, m->ctx, &s) >= 0)
		u->installed_version = s.installed_version;
	u->poller.timer_mode = bus && m->config->idle_exit_sec > 0;
	*ret = u;
	return 0;
}

int updater_start(Updater *u)
{
	return poller_start(u);
}

Updater *updater_free(Updater *u)
{
	if (!u)
		return NULL;
	updater_shutdown(u);
	poller_done(u);
	fetch_free(u->fetch);
	sd_bus_unref(u->bus);
	sd_event_unref(u->event);
	free(u);
	return NULL;
}
