/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The updater's decisions without a bus or a network (tests/fake.c): what the automatic path
 * installs after a poll (and what it skips: a release that rolled back on this device), that a
 * failed install does not stop the next one, Start("") polling first, Abort, SIGTERM in the
 * middle and a daemon killed in the middle, each as state, Result, Note and history.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "fileio.h"
#include "macro.h"
#include "state.h"
#include "testutil.h"
#include "time-util.h"
#include "updater.h"

#define SERVER "http://updates.example/stable"
#define T0     (UINT64_C(1796000000) * USEC_PER_SEC)

static sd_event *event;
static FakeClock *fc;
static FakeServer *srv;
static FakeDevice dev;

typedef struct Recorder {
	Updater *u;
	unsigned changed;
	unsigned finished, checked, reboots;
	int check_error;
	uint64_t began[8]; /* the clock when each install began */
	unsigned installs;
} Recorder;

static void on_changed(void *userdata, unsigned properties)
{
	Recorder *rec = userdata;

	rec->changed |= properties;
	if ((properties & UPDATER_PROPERTY_STATE) && rec->u &&
	    rec->u->state == UPDATER_TRANSFERRING && rec->installs < ELEMENTSOF(rec->began))
		rec->began[rec->installs++] = fake_clock_now(fc);
}

static void on_finished(void *userdata)
{
	((Recorder *)userdata)->finished++;
}

static void on_checked(void *userdata, int r, const char *note)
{
	Recorder *rec = userdata;

	rec->checked++;
	rec->check_error = r;
	ck_assert_ptr_nonnull(note);
}

static void on_reboot(void *userdata)
{
	((Recorder *)userdata)->reboots++;
}

static const UpdaterEvents events = {
	.changed = on_changed,
	.finished = on_finished,
	.checked = on_checked,
	.reboot = on_reboot,
};

static void setup(void)
{
	ck_assert_int_eq(sd_event_new(&event), 0);
	fc = fake_clock_new(T0);
	srv = fake_server_new(event);
}

static void teardown(void)
{
	fake_device_done(&dev);
	fake_server_free(srv);
	fake_clock_free(fc);
	sd_event_unref(event);
}

static Updater *new_updater(Recorder *rec)
{
	UpdaterSetup setup = { .manager = dev.m,
			       .event = event,
			       .clock = fake_clock(fc),
			       .fetch = fake_server_fetch(srv),
			       .events = &events,
			       .userdata = rec };
	Updater *u = NULL;

	ck_assert_int_eq(updater_new(&setup, &u), 0);
	rec->u = u;
	updater_load(u);
	return u;
}

static const char rootfs2[] = "root filesystem, version 2", appfs2[] = "application, version 2";
static const char rootfs3[] = "root filesystem, version 3";

static void publish(uint32_t version, FakeRelease *rel)
{
	const TuFile files[] = { { "rootfs", version == 3 ? rootfs3 : rootfs2,
				   version == 3 ? sizeof(rootfs3) : sizeof(rootfs2) },
				 { "appfs", appfs2, sizeof(appfs2) } };

	fake_release(&dev, version, files, ELEMENTSOF(files), rel);
	fake_publish(srv, SERVER, rel, files, ELEMENTSOF(files), version);
}

typedef struct Wait {
	Updater *u;
	Recorder *rec;
	unsigned finished, checked;
} Wait;

static bool reached(void *userdata)
{
	Wait *w = userdata;

	return w->rec->finished >= w->finished && w->rec->checked >= w->checked;
}

static void run_until(Updater *u, Recorder *rec, unsigned finished, unsigned checked)
{
	Wait w = { u, rec, finished, checked };

	ck_assert_msg(fake_run_until(event, fc, reached, &w),
		      "finished %u (want %u), checked %u (want %u); state %s, Note '%s'",
		      rec->finished, finished, rec->checked, checked,
		      updater_state_to_string(u->state), u->note);
}

typedef struct HistoryCount {
	SwuHistoryAction action;
	SwuHistoryResult result;
	unsigned n;
} HistoryCount;

static int count_entry(void *userdata, const SwuHistoryEntry *e)
{
	HistoryCount *c = userdata;

	c->n += e->action == c->action && e->result == c->result;
	return 0;
}

static unsigned history(SwuHistoryAction action, SwuHistoryResult result)
{
	HistoryCount c = { action, result, 0 };
	_cleanup_free_ char *dir = tu_path("%s/state", dev.dir);

	ck_assert_int_eq(swu_state_read_history(dev.m->ctx, dir, 100, count_entry, &c), 0);
	return c.n;
}

/* The release the updater's poller keeps. */
static const Release *poller_release_of(Updater *u)
{
	return poller_get_release(u->poller);
}

/* AutoInstall=yes: a poll that finds a newer release installs it, all the way to Apply. */
START_TEST(test_auto_install)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	FakeRelease rel;
	Recorder rec = {};

	fake_device_init(&dev, SERVER, "AutoInstall=yes");
	publish(2, &rel);
	u = new_updater(&rec);
	ck_assert_int_eq(updater_start(u), 0);
	run_until(u, &rec, 1, 1);
	ck_assert_int_eq(u->state, UPDATER_FINISHED);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	ck_assert_str_eq(u->note, "Version 2 installed into slot B; reboot to try it");
	ck_assert_str_eq(u->source, SERVER);
	ck_assert_int_eq(updater_get_pending_slot(u), 'B');
	ck_assert_uint_eq(updater_get_available_version(u), 2);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_SUCCESS), 1);
	ck_assert(rec.changed & UPDATER_PROPERTY_STATE);
	ck_assert(rec.changed & UPDATER_PROPERTY_PENDING_SLOT);
	ck_assert_uint_eq(rec.reboots, 0); /* RebootPolicy=never */
	fake_release_done(&rel);
}
END_TEST

/* AutoInstall=no only reports; Check answers; nothing is written. */
START_TEST(test_no_auto_install)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	FakeRelease rel;
	Recorder rec = {};

	fake_device_init(&dev, SERVER, NULL);
	publish(2, &rel);
	u = new_updater(&rec);
	ck_assert_int_eq(updater_check(u), 0);
	run_until(u, &rec, 0, 1);
	ck_assert_int_eq(rec.check_error, 0);
	ck_assert_uint_eq(updater_get_available_version(u), 2);
	ck_assert_int_eq(u->state, UPDATER_INACTIVE);
	ck_assert_str_eq(u->note, "Release version 2 available (installed 0)");
	ck_assert_uint_eq(fake_server_count(srv, SERVER "/blobs/"), 0);
	fake_release_done(&rel);
}
END_TEST

/* A failed automatic install does not stop the next poll from installing again. */
START_TEST(test_auto_install_after_failure)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	_cleanup_free_ char *blob = NULL;
	FakeRelease rel;
	Recorder rec = {};

	fake_device_init(&dev, SERVER, "AutoInstall=yes\nPollIntervalSec=600");
	publish(2, &rel);
	blob = tu_path("%s/blobs/%s", SERVER, rel.blob_hex[0]);
	fake_server_fault(srv, blob, &(FakeFault){ .status = 404 });
	u = new_updater(&rec);
	ck_assert_int_eq(updater_start(u), 0);
	run_until(u, &rec, 1, 1);
	ck_assert_int_eq(u->result, RESULT_TRANSFER_FAILED);
	ck_assert_str_eq(u->note, "Download of 'rootfs' failed: HTTP status 404");
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_FAILED), 1);
	/* The next poll (a 304: the release is the same) starts over. */
	run_until(u, &rec, 2, 2);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	ck_assert_uint_eq(rec.installs, 2);
	ck_assert_uint_eq(rec.began[0], T0 + USEC_PER_SEC);
	ck_assert_uint_eq(rec.began[1], T0 + USEC_PER_SEC + 600 * USEC_PER_SEC);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_SUCCESS), 1);
	fake_release_done(&rel);
}
END_TEST

/* A release whose slot did not boot is not installed again by the automatic path. */
START_TEST(test_rolled_back_skipped)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	_cleanup_free_ char *dir = NULL;
	_cleanup_(release_freep) Release *r = NULL;
	SwuRollback rb = { .version = 2, .time = 1 };
	FakeRelease rel, rel3;
	Recorder rec = {};
	uint8_t *copy;

	fake_device_init(&dev, SERVER, "AutoInstall=yes\nPollIntervalSec=600");
	dir = tu_path("%s/state", dev.dir);
	publish(2, &rel);
	copy = malloc(rel.metadata.size);
	memcpy(copy, rel.metadata.data, rel.metadata.size);
	ck_assert_int_eq(release_new(dev.m, dev.m->ctx, copy, rel.metadata.size, &r), 0);
	memcpy(rb.targets_sha256, release_get_targets_sha256(r), sizeof(rb.targets_sha256));
	ck_assert_int_eq(swu_state_save_rollback(dev.m->ctx, dir, &rb), 0);

	u = new_updater(&rec);
	ck_assert_int_eq(updater_start(u), 0);
	run_until(u, &rec, 0, 3); /* three polls */
	ck_assert_int_eq(u->state, UPDATER_INACTIVE);
	ck_assert_msg(strstr(u->note, "Release version 2 rolled back on this device"), "%s",
		      u->note);
	ck_assert_uint_eq(fake_server_count(srv, SERVER "/blobs/"), 0);
	/* Said once in the history, not at every poll. */
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_SKIPPED), 1);
	/* An explicit install still installs it. */
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	run_until(u, &rec, 1, 4);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	ck_assert_int_eq(updater_get_pending_slot(u), 'B');

	/* A newer release is installed by itself, over the finished install. */
	{
		_cleanup_free_ char *pending = tu_path("%s/pending.json", dir);

		ck_assert_int_eq(unlink(pending), 0);
	}
	publish(3, &rel3);
	run_until(u, &rec, 2, 5);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	ck_assert_str_eq(u->note, "Version 3 installed into slot B; reboot to try it");

	/* Version 3 is rejected too: its skip is news again, once. */
	{
		_cleanup_free_ char *pending = tu_path("%s/pending.json", dir);

		ck_assert_int_eq(unlink(pending), 0);
	}
	memcpy(rb.targets_sha256, release_get_targets_sha256(poller_release_of(u)),
	       sizeof(rb.targets_sha256));
	rb.version = 3;
	ck_assert_int_eq(swu_state_save_rollback(dev.m->ctx, dir, &rb), 0);
	run_until(u, &rec, 2, 7);
	ck_assert_msg(strstr(u->note, "Release version 3 rolled back on this device"), "%s",
		      u->note);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_SKIPPED), 2);
	fake_release_done(&rel);
	fake_release_done(&rel3);
}
END_TEST

/*
 * The skip is for the exact release that rolled back (its targets hash), not for its version: a
 * release re-signed with the same version and other content is installed by itself.
 */
START_TEST(test_rolled_back_resigned)
{
	static const char fixed[] = "root filesystem, version 2, fixed";
	const TuFile files[] = { { "rootfs", fixed, sizeof(fixed) },
				 { "appfs", appfs2, sizeof(appfs2) } };
	Recorder rec = {}; /* before the updater: freeing it may still tell */
	_cleanup_(updater_freep) Updater *u = NULL;
	_cleanup_free_ char *dir = NULL;
	_cleanup_(release_freep) Release *r = NULL;
	SwuRollback rb = { .version = 2, .time = 1 };
	FakeRelease rel, resigned;
	uint8_t *copy;

	fake_device_init(&dev, SERVER, "AutoInstall=yes\nPollIntervalSec=600");
	dir = tu_path("%s/state", dev.dir);
	/* Version 2 rolled back on this device... */
	fake_release(&dev, 2,
		     (TuFile[]){ { "rootfs", rootfs2, sizeof(rootfs2) },
				 { "appfs", appfs2, sizeof(appfs2) } },
		     2, &rel);
	copy = malloc(rel.metadata.size);
	memcpy(copy, rel.metadata.data, rel.metadata.size);
	ck_assert_int_eq(release_new(dev.m, dev.m->ctx, copy, rel.metadata.size, &r), 0);
	memcpy(rb.targets_sha256, release_get_targets_sha256(r), sizeof(rb.targets_sha256));
	ck_assert_int_eq(swu_state_save_rollback(dev.m->ctx, dir, &rb), 0);
	/* ...and the server offers version 2 again, re-signed with a fixed root filesystem. */
	fake_release(&dev, 2, files, ELEMENTSOF(files), &resigned);
	fake_publish(srv, SERVER, &resigned, files, ELEMENTSOF(files), 2);

	u = new_updater(&rec);
	ck_assert_int_eq(updater_start(u), 0);
	run_until(u, &rec, 0, 1);
	ck_assert_msg(u->state != UPDATER_INACTIVE, "not installed: %s", u->note);
	run_until(u, &rec, 1, 1);
	ck_assert_msg(memcmp(release_get_targets_sha256(poller_release_of(u)), rb.targets_sha256,
			     SWU_SHA256_SIZE) != 0,
		      "the re-signed release has the rolled-back one's targets hash");
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	ck_assert_str_eq(u->note, "Version 2 installed into slot B; reboot to try it");
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_SKIPPED), 0);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_SUCCESS), 1);
	fake_release_done(&rel);
	fake_release_done(&resigned);
}
END_TEST

#define SECRETS_SERVER "http://svc:pollpass@updates.example/stable"
#define SECRET_URL                                                                                 \
	"http://user:hunter2@updates.example/v2.swu?X-Amz-Signature=deadbeef&X-Amz-Credential="    \
	"AKIAEXAMPLE#fragsecret"

/* @what (a property, a file) shows none of the secrets of SECRET_URL and SECRETS_SERVER. */
static void expect_no_secret(const char *what, const char *text)
{
	static const char *const secrets[] = { "hunter2",  "deadbeef", "AKIAEXAMPLE", "fragsecret",
					       "pollpass", "X-Amz",    "user:",	      "svc:" };

	for (size_t i = 0; i < ELEMENTSOF(secrets); i++)
		ck_assert_msg(!strstr(text, secrets[i]), "%s shows '%s': %s", what, secrets[i],
			      text);
}

/* @path shows none of the secrets, and has @want (it is not empty by mistake). */
static void expect_no_secret_in_file(const char *path, const char *want)
{
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_free_ char *text = NULL;
	size_t size = 0;

	ck_assert_int_eq(swu_read_file(path, 1 << 20, &data, &size), 0);
	text = strndup((const char *)data, size);
	ck_assert_ptr_nonnull(text);
	expect_no_secret(path, text);
	ck_assert_msg(strstr(text, want), "%s lacks '%s': %s", path, want, text);
}

/*
 * User information, a signed query string and a fragment of an install URL or of Server= are
 * for the request only: Source, the Note, status.json, the history and the log (all readable by
 * every local user) show the URL without them.
 */
START_TEST(test_url_secrets)
{
	Recorder rec = {}; /* before the updater: freeing it may still tell */
	_cleanup_(updater_freep) Updater *u = NULL;
	_cleanup_free_ char *log = NULL, *hist = NULL;
	_cleanup_close_ int saved_stderr = -EBADF;
	FakeRelease rel;
	int fd;

	fake_device_init(&dev, SECRETS_SERVER, NULL);
	log = tu_path("%s/log", dev.dir);
	hist = tu_path("%s/state/history.jsonl", dev.dir);
	/* The log: what the daemon writes to stderr. */
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);

	fake_release(&dev, 2,
		     (TuFile[]){ { "rootfs", rootfs2, sizeof(rootfs2) },
				 { "appfs", appfs2, sizeof(appfs2) } },
		     2, &rel);
	fake_server_put(srv, SECRET_URL, rel.bundle.data, rel.bundle.size, "\"bundle\"");
	u = new_updater(&rec);
	ck_assert_int_eq(updater_begin(u, SECRET_URL, UPDATER_VERIFY | UPDATER_APPLY), 0);
	/* The request itself has the whole URL. */
	ck_assert_uint_eq(fake_server_count(srv, SECRET_URL), 1);
	ck_assert_str_eq(u->source, "http://updates.example/v2.swu");
	run_until(u, &rec, 1, 0);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	ck_assert_str_eq(u->source, "http://updates.example/v2.swu");
	ck_assert_int_eq(updater_reset(u), 0);
	{
		_cleanup_free_ char *pending = tu_path("%s/state/pending.json", dev.dir);

		ck_assert_int_eq(unlink(pending), 0);
	}

	/* A failed install names the URL in its Note (and the history). */
	fake_server_remove(srv, SECRET_URL);
	ck_assert_int_eq(updater_begin(u, SECRET_URL, UPDATER_VERIFY | UPDATER_APPLY), 0);
	run_until(u, &rec, 2, 0);
	ck_assert_int_eq(u->result, RESULT_TRANSFER_FAILED);
	ck_assert_str_eq(u->note, "Install from http://updates.example/v2.swu failed: HTTP status "
				  "404");
	ck_assert_int_eq(updater_reset(u), 0);

	/* Server= with user information: the poll's failure, and an install from it. */
	fake_server_fault(srv, SECRETS_SERVER "/metadata.pb", &(FakeFault){ .status = 503 });
	ck_assert_int_eq(updater_check(u), 0);
	run_until(u, &rec, 2, 1);
	ck_assert_str_eq(updater_get_poll_note(u), "Checking http://updates.example/stable failed: "
						   "HTTP status 503");
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	run_until(u, &rec, 3, 2);
	ck_assert_str_eq(u->note, "No release published at "
				  "http://updates.example/stable/metadata.pb "
				  "(HTTP status 404): check Server= and the channel");
	ck_assert_int_eq(updater_reset(u), 0);
	fake_publish(srv, SECRETS_SERVER, &rel,
		     (TuFile[]){ { "rootfs", rootfs2, sizeof(rootfs2) },
				 { "appfs", appfs2, sizeof(appfs2) } },
		     2, 2);
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	run_until(u, &rec, 4, 3);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	ck_assert_str_eq(u->source, "http://updates.example/stable");
	ck_assert_uint_eq(fake_server_count(srv, SECRETS_SERVER "/blobs/"), 2);
	updater_save_status(u);

	fflush(stderr);
	ck_assert_int_eq(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	expect_no_secret("Source", u->source);
	expect_no_secret("the Note", u->note);
	/* What status.json keeps for display; "polled" (Server=, to compare at the next start) is
	 * not shown: the state directory is root's alone. */
	{
		_cleanup_free_ char *dir = tu_path("%s/state", dev.dir);
		SwuStatusRecord st;

		ck_assert_int_eq(swu_state_load_status(dev.m->ctx, dir, &st), 0);
		expect_no_secret("status.json note", st.note);
		expect_no_secret("status.json source", st.source);
		expect_no_secret("status.json running", st.running);
	}
	/* JSON escapes "/" as "\/" */
	expect_no_secret_in_file(hist, "updates.example\\/v2.swu failed: HTTP status 404");
	expect_no_secret_in_file(log, "Installing version 2 from http://updates.example/v2.swu");
	fake_release_done(&rel);
}
END_TEST

/* Start(""): a poll first, the install of what it found after; no second install meanwhile. */
START_TEST(test_start_polls_first)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	FakeRelease rel;
	Recorder rec = {};

	fake_device_init(&dev, SERVER, NULL);
	publish(2, &rel);
	u = new_updater(&rec);
	ck_assert_int_eq(updater_begin(u, "", 0), 0);
	ck_assert(updater_waits_for_poll(u));
	ck_assert_int_eq(updater_allows(u, UPDATER_OP_START), -EBUSY);
	ck_assert(updater_busy(u));
	ck_assert_int_eq(updater_begin(u, "/some/other.swu", UPDATER_VERIFY | UPDATER_APPLY),
			 -EBUSY);
	run_until(u, &rec, 0, 1);
	ck_assert_int_eq(u->state, UPDATER_TRANSFERRING);
	/* Start without Verify: it stops at transferred, waiting for Verify or Apply. */
	while (u->state == UPDATER_TRANSFERRING)
		ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);
	ck_assert_int_eq(u->state, UPDATER_TRANSFERRED);
	ck_assert_str_eq(u->note, "Version 2 transferred");
	ck_assert_int_eq(updater_apply(u), 0);
	ck_assert_int_eq(u->state, UPDATER_VERIFYING);
	run_until(u, &rec, 1, 1);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	fake_release_done(&rel);
}
END_TEST

/* Start("") when nothing is published: the install fails with the poll's sentence. */
START_TEST(test_start_nothing_published)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	Recorder rec = {};

	fake_device_init(&dev, SERVER, NULL);
	u = new_updater(&rec);
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	run_until(u, &rec, 1, 1);
	ck_assert_int_eq(u->result, RESULT_TRANSFER_FAILED);
	ck_assert_int_eq(u->error, -ENOENT);
	ck_assert_str_eq(u->note, "No release published at " SERVER "/metadata.pb (HTTP status "
				  "404): check Server= and the channel");
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_FAILED), 1);
}
END_TEST

/* Without Server=: Check and Start("") refuse with a sentence naming what is missing. */
START_TEST(test_no_server)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	Recorder rec = {};

	fake_device_init(&dev, NULL, NULL);
	u = new_updater(&rec);
	ck_assert_int_eq(updater_check(u), -ENOMEDIUM);
	ck_assert_msg(strstr(updater_get_poll_note(u), "No Server= is configured"), "%s",
		      updater_get_poll_note(u));
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), -ENOMEDIUM);
	ck_assert_str_eq(u->note, "No Server= is configured: give a bundle path or URL");
	ck_assert_int_eq(updater_begin(u, "ftp://x", UPDATER_VERIFY | UPDATER_APPLY), -EINVAL);
	ck_assert_int_eq(u->state, UPDATER_INACTIVE);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_FAILED), 2);
}
END_TEST

static bool transferring_with_request(void *userdata)
{
	Updater *u = userdata;

	return u->state == UPDATER_TRANSFERRING && fake_server_open(srv) > 0;
}

/* Abort, and SIGTERM, in the middle of a download: nothing activated, the history says so. */
START_TEST(test_abort_and_shutdown)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	_cleanup_free_ char *blob = NULL;
	FakeRelease rel;
	Recorder rec = {};

	fake_device_init(&dev, SERVER, NULL);
	publish(2, &rel);
	blob = tu_path("%s/blobs/%s", SERVER, rel.blob_hex[0]);
	fake_server_fault(srv, blob, &(FakeFault){ .hold_forever = true });
	fake_server_fault(srv, blob, &(FakeFault){ .hold_forever = true });
	u = new_updater(&rec);
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	ck_assert(fake_run_until(event, fc, transferring_with_request, u));
	ck_assert_int_eq(updater_abort(u), 0);
	ck_assert_int_eq(u->result, RESULT_ABORTED);
	ck_assert_uint_eq(fake_server_open(srv), 0);
	ck_assert_int_eq(updater_get_pending_slot(u), 0);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_ABORTED), 1);

	ck_assert_int_eq(updater_reset(u), 0);
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	ck_assert(fake_run_until(event, fc, transferring_with_request, u));
	updater_shutdown(u);
	ck_assert_int_eq(u->result, RESULT_ABORTED);
	ck_assert_msg(strstr(u->note, "Interrupted: swupdated was stopped during the install "
				      "of " SERVER "; slot B was not activated"),
		      "%s", u->note);
	ck_assert_uint_eq(fake_server_open(srv), 0);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_ABORTED), 2);

	/* A poll stopped by the shutdown is told as ended: a Check waiting for it is answered. */
	fake_server_fault(srv, SERVER "/metadata.pb", &(FakeFault){ .hold_forever = true });
	ck_assert_int_eq(updater_check(u), 0);
	fake_run_pending(event);
	ck_assert_uint_eq(fake_server_open(srv), 1);
	rec.checked = 0;
	updater_shutdown(u);
	ck_assert_uint_eq(rec.checked, 1);
	ck_assert_int_eq(rec.check_error, -ESHUTDOWN);
	ck_assert_uint_eq(fake_server_open(srv), 0);
	/* Nothing ran the second time. */
	updater_shutdown(u);
	ck_assert_uint_eq(rec.checked, 1);
	fake_release_done(&rel);
}
END_TEST

/* Killed in the middle: the next instance says so (unknown-error), from status.json. */
START_TEST(test_killed)
{
	_cleanup_(updater_freep) Updater *u = NULL, *next = NULL;
	_cleanup_free_ char *blob = NULL;
	FakeRelease rel;
	Recorder rec = {}, next_rec = {}; /* one each: the events of an updater reach its own */

	fake_device_init(&dev, SERVER, NULL);
	publish(2, &rel);
	blob = tu_path("%s/blobs/%s", SERVER, rel.blob_hex[0]);
	fake_server_fault(srv, blob, &(FakeFault){ .hold_forever = true });
	u = new_updater(&rec);
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	ck_assert(fake_run_until(event, fc, transferring_with_request, u));
	/* What a kill leaves: status.json as it was written when the install began. */
	next = new_updater(&next_rec);
	ck_assert_int_eq(next->state, UPDATER_FINISHED);
	ck_assert_int_eq(next->result, RESULT_UNKNOWN_ERROR);
	ck_assert_msg(strstr(next->note, "Interrupted: swupdated stopped during the install "
					 "of " SERVER " (killed, crashed or powered off); install "
					 "it again"),
		      "%s", next->note);
	ck_assert_str_eq(next->source, SERVER);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_FAILED), 1);
	fake_release_done(&rel);
}
END_TEST

/* The device boots again, into @slot: a new boot ID, and the manager reads both. */
static void reboot_into(char slot)
{
	_cleanup_free_ char *cmdline = tu_path("%s/cmdline", dev.dir);
	_cleanup_free_ char *boot_id = tu_path("%s/boot_id", dev.dir);
	_cleanup_free_ char *text = tu_path("quiet swupdated.slot=%c\n", slot);
	static unsigned boots = 1;
	_cleanup_free_ char *id = tu_path("0b6f2d9c-boot-%u\n", ++boots);
	Config *c = NULL;

	tu_write_text(cmdline, text);
	tu_write_text(boot_id, id);
	dev.m = manager_free(dev.m);
	ck_assert_int_eq(config_load(dev.conf, &c), 0);
	ck_assert_int_eq(manager_new(c, &dev.m), 0);
}

/* After the reboot the Note tells what this boot is, not the install before it. */
START_TEST(test_boot_notes)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	FakeRelease rel;
	Recorder rec = {};

	fake_device_init(&dev, SERVER, "AutoInstall=yes");
	publish(2, &rel);
	u = new_updater(&rec);
	ck_assert_int_eq(updater_start(u), 0);
	run_until(u, &rec, 1, 1);
	ck_assert_str_eq(u->note, "Version 2 installed into slot B; reboot to try it");
	u = updater_free(u);

	/* Into the new slot: it waits for its confirmation. */
	reboot_into('B');
	rec = (Recorder){};
	u = new_updater(&rec);
	ck_assert_str_eq(u->note, "Version 2 runs from slot B and waits for its confirmation "
				  "(MarkGood; MarkBad goes back to slot A)");
	ck_assert_int_eq(updater_get_pending_slot(u), 'B');
	u = updater_free(u);

	/* The bootloader fell back: a rollback, said so. */
	reboot_into('A');
	rec = (Recorder){};
	u = new_updater(&rec);
	ck_assert_str_eq(u->note, "Rollback: version 2 in slot B did not boot; slot A runs version "
				  "0 again");
	ck_assert_int_eq(updater_get_pending_slot(u), 0);
	ck_assert_uint_eq(history(SWU_HISTORY_ROLLBACK, SWU_HISTORY_ROLLED_BACK), 1);
	fake_release_done(&rel);
}
END_TEST

/* Install(""): the server offering what is installed (a CDN's stale metadata.pb) is "up to
 * date", not a reinstall; the option "reinstall" says otherwise. */
START_TEST(test_up_to_date)
{
	_cleanup_(updater_freep) Updater *u = NULL;
	_cleanup_free_ char *blobs = tu_path("%s/blobs/", SERVER);
	FakeRelease rel;
	Recorder rec = {};
	char note[128];
	size_t fetched;

	fake_device_init(&dev, SERVER, NULL);
	publish(2, &rel);
	u = new_updater(&rec);
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	run_until(u, &rec, 1, 1);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	fetched = fake_server_count(srv, blobs);

	/* Installed, not rebooted yet: it waits for that. */
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	run_until(u, &rec, 2, 2);
	ck_assert_str_eq(u->note, "Version 2 is installed already and waits in slot B for a "
				  "reboot");
	ck_assert_uint_eq(fake_server_count(srv, blobs), fetched);

	/* Rebooted and confirmed: version 2 is the installed one, and the server still offers it. */
	u = updater_free(u);
	reboot_into('B');
	ck_assert_int_eq(manager_mark(dev.m, dev.m->ctx, true, note, sizeof(note)), 0);
	rec = (Recorder){};
	u = new_updater(&rec);
	ck_assert_uint_eq(u->installed_version, 2);
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY), 0);
	run_until(u, &rec, 1, 1);
	ck_assert_int_eq(u->state, UPDATER_FINISHED);
	ck_assert_int_eq(u->result, RESULT_SUCCESS);
	ck_assert_str_eq(u->note, "Up to date: version 2 is installed and the server offers "
				  "version 2 (nothing installed; the option 'reinstall' installs "
				  "it "
				  "again)");
	ck_assert_uint_eq(fake_server_count(srv, blobs), fetched);
	ck_assert_uint_eq(history(SWU_HISTORY_INSTALL, SWU_HISTORY_SUCCESS), 1);

	/* Asked to, it installs it again, into slot A now (copied from slot B, which holds it). */
	ck_assert_int_eq(updater_begin(u, "", UPDATER_VERIFY | UPDATER_APPLY | UPDATER_REINSTALL),
			 0);
	run_until(u, &rec, 2, 2);
	ck_assert_msg(u->result == RESULT_SUCCESS, "%s", u->note);
	ck_assert_str_eq(u->note, "Version 2 installed into slot A; reboot to try it");
	fake_release_done(&rel);
}
END_TEST

/* A boot ID is compared whole to tell a reboot: one too long to keep whole is refused. */
START_TEST(test_long_boot_id)
{
	_cleanup_free_ char *path = NULL;
	Manager *m = NULL;
	Config *c = NULL;
	char id[100];

	fake_device_init(&dev, NULL, NULL);
	path = tu_path("%s/boot_id", dev.dir);
	memset(id, 'b', sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	tu_write_text(path, id);
	ck_assert_int_eq(config_load(dev.conf, &c), 0);
	ck_assert_int_eq(manager_new(c, &m), -ENAMETOOLONG);
	/* 63 bytes are whole */
	id[63] = 0;
	tu_write_text(path, id);
	ck_assert_int_eq(config_load(dev.conf, &c), 0);
	ck_assert_int_eq(manager_new(c, &m), 0);
	ck_assert_str_eq(m->boot_id, id);
	manager_free(m);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "auto-install", test_auto_install },
		{ "no-auto-install", test_no_auto_install },
		{ "auto-install-after-failure", test_auto_install_after_failure },
		{ "rolled-back-skipped", test_rolled_back_skipped },
		{ "rolled-back-resigned", test_rolled_back_resigned },
		{ "url-secrets", test_url_secrets },
		{ "start-polls-first", test_start_polls_first },
		{ "start-nothing-published", test_start_nothing_published },
		{ "no-server", test_no_server },
		{ "abort-and-shutdown", test_abort_and_shutdown },
		{ "killed", test_killed },
		{ "long-boot-id", test_long_boot_id },
		{ "boot-notes", test_boot_notes },
		{ "up-to-date", test_up_to_date },
	};

	return tu_run("updater", cases, ELEMENTSOF(cases), setup, teardown);
}
