/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "macro.h"

extern char **environ;

static int read_all(int fd, char **ret)
{
	_cleanup_free_ char *buf = malloc(SWU_EXEC_OUTPUT_MAX + 1);
	size_t got = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + got, SWU_EXEC_OUTPUT_MAX - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == SWU_EXEC_OUTPUT_MAX) {
			char sink[256];

			/* Drain the rest so the child does not block; keep what fits. */
			while (read(fd, sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	buf[got] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

int swu_exec(SwuContext *ctx, char *const *argv, char **ret_output)
{
	posix_spawn_file_actions_t actions;
	_cleanup_free_ char *out = NULL;
	int pipefd[2] = { -EBADF, -EBADF };
	int r, status = 0;
	pid_t pid;

	assert_return(ctx, -EINVAL);
	assert_return(argv && argv[0], -EINVAL);

	if (ret_output && pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&actions);
	if (ret_output)
		posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
	else
		posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	safe_close(pipefd[1]);
	if (r != 0) {
		safe_close(pipefd[0]);
		return swu_fail(ctx, -r, "boot", "exec", "cannot run '%s': %s", argv[0],
				strerror(r));
	}
	r = ret_output ? read_all(pipefd[0], &out) : 0;
	safe_close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return swu_fail(ctx, -EIO, "boot", "exec", "'%s' failed (%s %d)", argv[0],
				WIFEXITED(status) ? "exit status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (ret_output)
		*ret_output = TAKE_PTR(out);
	return 0;
}
