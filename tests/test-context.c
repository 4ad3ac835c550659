/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The contract checks of the API (assert_return()): a misuse aborts loudly in critical mode, which
 * the unit tests and `make check` run in, and returns -EINVAL quietly otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bundle.h"
#include "context.h"
#include "macro.h"
#include "testutil.h"
#include "text.h"

static SwuContext *ctx;

static void setup(void)
{
	ctx = tu_context();
}

static void teardown(void)
{
	ctx = swu_context_unref(ctx);
}

/* tu_run() turned critical mode on: the misuse ends the test with SIGABRT. */
START_TEST(test_critical_aborts)
{
	SwuBundle *b = NULL;

	(void)swu_bundle_open_fd(NULL, 0, &b);
	ck_abort_msg("swu_bundle_open_fd(NULL, ...) returned");
}
END_TEST

/* What an integrator reads: the expression, where, and which function, on stderr. */
START_TEST(test_critical_message)
{
	char buf[512] = "";
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		(void)swu_context_new(NULL);
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGABRT);
	ck_assert_msg(strstr(buf, "Assertion 'ret' failed at ") && strstr(buf, "context.c:") &&
			      strstr(buf, ", function swu_context_new(): aborting\n"),
		      "%s", buf);
}
END_TEST

/* Critical mode off: the misuse is the caller's error, nothing else changes. */
START_TEST(test_quiet_returns)
{
	SwuBundle *b = NULL;
	SwuContext *c = NULL;

	swu_set_assert_return_critical(false);
	ck_assert_int_eq(swu_context_new(NULL), -EINVAL);
	ck_assert_int_eq(swu_bundle_open_fd(NULL, 0, &b), -EINVAL);
	ck_assert_int_eq(swu_bundle_open_fd(ctx, -1, &b), -EINVAL);
	ck_assert_int_eq(swu_bundle_open_fd(ctx, 0, NULL), -EINVAL);
	ck_assert_ptr_null(b);
	ck_assert_ptr_null(swu_context_get_failure(NULL));
	ck_assert(!swu_context_cancelled(NULL));
	ck_assert_int_eq(swu_fail(NULL, -EBADMSG, "bundle", "wire", "x"), -EBADMSG);
	swu_context_set_log(NULL, NULL, NULL);
	ck_assert_uint_eq(swu_context_get_metadata_max(ctx), SWU_METADATA_MAX_DEFAULT);
	swu_context_set_metadata_max(ctx, 0);
	ck_assert_uint_eq(swu_context_get_metadata_max(ctx), SWU_METADATA_MAX_DEFAULT);
	/* Valid calls are untouched. */
	ck_assert_int_eq(swu_context_new(&c), 0);
	c = swu_context_unref(c);
	swu_set_assert_return_critical(true);
}
END_TEST

/* Runs this program with "--misuse" and @value in SWU_ASSERT_RETURN_CRITICAL (NULL: unset). */
static int run_misuse(const char *value)
{
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
		if (value)
			setenv("SWU_ASSERT_RETURN_CRITICAL", value, 1);
		else
			unsetenv("SWU_ASSERT_RETURN_CRITICAL");
		execl("/proc/self/exe", "test-context", "--misuse", (char *)NULL);
		/*
		 * A cross-built test runs under qemu-user and there is no binfmt_misc: the kernel
		 * cannot run this program, the emulator can (scripts/cross-check names it).
		 */
		if (errno == ENOEXEC && getenv("CROSS_EMULATOR")) {
			const char *emulator = getenv("CROSS_EMULATOR");
			char self[4096];
			ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

			if (n > 0) {
				self[n] = '\0';
				execlp(emulator, emulator, self, "--misuse", (char *)NULL);
			}
		}
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* Without a call to swu_set_assert_return_critical(), the environment decides. */
START_TEST(test_environment)
{
	int status;

	status = run_misuse("1");
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	status = run_misuse("0");
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	status = run_misuse(NULL);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/*
 * @n bytes: ASCII padding, then euro signs (3 bytes each) placed so that byte @at falls inside
 * one: a buffer of @at bytes cut by vsnprintf() ends in the middle of a character.
 */
static char *euros(size_t n, size_t at)
{
	char *s = malloc(n + 1);
	size_t i = 0;

	ck_assert_ptr_nonnull(s);
	while ((at - i) % 3 != 1)
		s[i++] = 'x';
	for (; i + 3 <= n; i += 3)
		memcpy(s + i, "\xe2\x82\xac", 3);
	while (i < n)
		s[i++] = 'x';
	s[n] = 0;
	ck_assert_int_eq((uint8_t)s[at] & 0xc0, 0x80); /* a continuation byte */
	return s;
}

static void keep_message(void *userdata, int priority, const char *message)
{
	snprintf(userdata, 1024, "%s", message);
}

/* Messages longer than their buffer are cut at a whole character, never inside one. */
START_TEST(test_cut_whole_characters)
{
	const size_t size = sizeof(((SwuFailure *)NULL)->message);
	_cleanup_free_ char *text = euros(2 * size, size - 1);
	const SwuFailure *f = swu_context_get_failure(ctx);
	char logged[1024] = "";

	ck_assert_int_eq(swu_fail(ctx, -EBADMSG, "bundle", "name", "%s", text), -EBADMSG);
	ck_assert_uint_ge(strlen(f->message), size - 3);
	ck_assert(swu_utf8_valid((const uint8_t *)f->message, strlen(f->message)));
	ck_assert_msg(!strstr(f->message, "\\x"), "%s", f->message);

	/* The wrapped sentence: "<what>: <reason>", the what cut at a whole character too. */
	swu_context_clear_failure(ctx);
	ck_assert_int_eq(swu_fail_wrap(ctx, -EIO, "slot", "open", "%s", text), -EIO);
	ck_assert(swu_utf8_valid((const uint8_t *)f->message, strlen(f->message)));
	ck_assert_msg(!strstr(f->message, "\\x"), "%s", f->message);

	/* The debug log line: 512 bytes at most, whole characters. */
	swu_context_set_log(ctx, keep_message, logged);
	swu_log_debug(ctx, "%s", text);
	ck_assert_uint_ge(strlen(logged), 508);
	ck_assert(swu_utf8_valid((const uint8_t *)logged, strlen(logged)));

	/* What is not cut keeps its invalid bytes, escaped. */
	ck_assert_int_eq(swu_fail(ctx, -EBADMSG, "bundle", "name", "end \xe2\x82"), -EBADMSG);
	ck_assert_str_eq(f->message, "end \\xe2\\x82");
	ck_assert_uint_eq(swu_utf8_cut("ab\xe2\x82", 4), 2);
	ck_assert_uint_eq(swu_utf8_cut("ab\xe2\x82\xac", 5), 5);
	ck_assert_uint_eq(swu_utf8_cut("\xf0\x9f\x98", 3), 0);
	ck_assert_uint_eq(swu_utf8_cut("abc", 3), 3);
	ck_assert_uint_eq(swu_utf8_cut("", 0), 0);
}
END_TEST

/* Times for people: UTC dates, and for seconds no calendar holds, the seconds themselves. */
START_TEST(test_utc_dates)
{
	static const struct {
		int64_t t;
		const char *text;
	} cases[] = {
		{ 978307200, "2001-01-01 00:00:00 UTC" },
		{ 0, "1970-01-01 00:00:00 UTC" },
		{ -1, "1969-12-31 23:59:59 UTC" },
		{ INT64_C(2208988800), "2040-01-01 00:00:00 UTC" },
		{ INT64_MAX, "9223372036854775807 seconds after 1970-01-01 00:00:00 UTC" },
		{ INT64_MIN, "-9223372036854775808 seconds after 1970-01-01 00:00:00 UTC" },
	};
	char buf[SWU_TIME_UTC_MAX];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		ck_assert_str_eq(swu_time_utc(cases[i].t, buf, sizeof(buf)), cases[i].text);
}
END_TEST

int main(int argc, char **argv)
{
	const TuCase cases[] = {
		{ "critical-aborts", test_critical_aborts, .signal = SIGABRT },
		{ "critical-message", test_critical_message },
		{ "quiet-returns", test_quiet_returns },
		{ "environment", test_environment },
		{ "cut-whole-characters", test_cut_whole_characters },
		{ "utc-dates", test_utc_dates },
	};

	/* The child of test_environment: a misuse before anything set the mode. */
	if (argc == 2 && streq(argv[1], "--misuse"))
		return swu_context_new(NULL) == -EINVAL ? EXIT_SUCCESS : EXIT_FAILURE;
	return tu_run("context", cases, ELEMENTSOF(cases), setup, teardown);
}
