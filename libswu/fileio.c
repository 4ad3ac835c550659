/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

int swu_open_regular(const char *path, int *ret_fd)
{
	_cleanup_close_ int pfd = -EBADF;
	char proc[64];
	struct stat st;
	int fd;

	assert_return(path, -EINVAL);
	assert_return(ret_fd, -EINVAL);

	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* Reopen the very inode that was checked. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		/* No /proc (a chroot): open by name, and it must still be the inode checked. */
		struct stat now;

		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0 &&
		    (fstat(fd, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)) {
			safe_close(fd);
			return -EBUSY;
		}
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int swu_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t size = 0, cap;
	struct stat st;

	assert_return(path, -EINVAL);
	assert_return(ret, -EINVAL);
	assert_return(ret_size, -EINVAL);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		return -EFBIG;
	/* The buffer grows with what is read (a regular file: its size and a byte to see it grow). */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : MIN(max + 1, (size_t)4096);
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (size == cap) {
			uint8_t *p;

			cap = MIN(MAX(cap * 2, (size_t)4096), max + 1);
			p = realloc(buf, cap);
			if (!p)
				return -ENOMEM;
			buf = p;
		}
		n = read(fd, buf + size, cap - size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (size > max)
			return -EFBIG;
	}
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

int swu_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	assert_return(fd >= 0, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	while (n > 0) {
		ssize_t k = write(fd, b, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

int swu_tmpfile_open(const char *path, mode_t mode, int *ret_fd, char **ret_tmp_path)
{
	_cleanup_free_ char *tmp = NULL;
	int fd;

	assert_return(path, -EINVAL);
	assert_return(ret_fd, -EINVAL);
	assert_return(ret_tmp_path, -EINVAL);

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0) {
		int r = -errno;

		close(fd);
		unlink(tmp);
		return r;
	}
	*ret_fd = fd;
	*ret_tmp_path = TAKE_PTR(tmp);
	return 0;
}

static int fsync_parent(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int dfd = -EBADF;

	if (!copy)
		return -ENOMEM;
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return fsync(dfd) < 0 ? -errno : 0;
}

int swu_tmpfile_commit(int fd, const char *tmp_path, const char *path)
{
	int r = 0;

	assert_return(fd >= 0, -EINVAL);
	assert_return(tmp_path, -EINVAL);
	assert_return(path, -EINVAL);

	if (fsync(fd) < 0 || rename(tmp_path, path) < 0) {
		r = -errno;
		unlink(tmp_path);
		return r;
	}
	return fsync_parent(path);
}

int swu_write_file_atomic(const char *path, const void *p, size_t n, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	assert_return(path, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	r = swu_tmpfile_open(path, mode, &fd, &tmp);
	if (r < 0)
		return r;
	r = swu_write_all(fd, p, n);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return swu_tmpfile_commit(fd, tmp, path);
}

int swu_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *copy = NULL;
	struct stat st;

	assert_return(path, -EINVAL);

	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return -errno;
	if (stat(copy, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int swu_pwrite_all(int fd, const void *p, size_t n, uint64_t offset)
{
	const uint8_t *q = p;

	assert_return(fd >= 0, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	while (n > 0) {
		ssize_t k = pwrite(fd, q, n, (off_t)offset);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		q += k;
		n -= (size_t)k;
		offset += (uint64_t)k;
	}
	return 0;
}

int swu_pread_full(int fd, void *p, size_t n, uint64_t offset, size_t *ret_n)
{
	size_t done = 0;

	assert_return(fd >= 0, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(ret_n, -EINVAL);

	while (done < n) {
		ssize_t k = pread(fd, (uint8_t *)p + done, n - done, (off_t)(offset + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		done += (size_t)k;
	}
	*ret_n = done;
	return 0;
}

int swu_anon_file(const char *dir, int *ret_fd)
{
	_cleanup_free_ char *tmp = NULL;
	int fd, r;

	assert_return(dir, -EINVAL);
	assert_return(ret_fd, -EINVAL);

	r = swu_mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* a file system without O_TMPFILE: a named file, unlinked at once */
		if (asprintf(&tmp, "%s/.swu-XXXXXX", dir) < 0)
			return -ENOMEM;
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0 && unlink(tmp) < 0) {
			r = -errno;
			safe_close(fd);
			return r;
		}
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}
