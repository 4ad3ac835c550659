/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small file helpers: bounded reads, and atomic replacement (temp file, fsync, rename, fsync dir). */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads all of @path; -EFBIG when it is larger than @max. Caller frees @ret. */
int swu_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size);
/*
 * Opens @path read-only only when it is a regular file: it is looked at through an O_PATH
 * descriptor first, so a FIFO (which would block) or a device node (which may act on being
 * opened) is never opened. -EINVAL for anything else.
 */
int swu_open_regular(const char *path, int *ret_fd);
/* Opens a temporary file next to @path; caller then writes and calls swu_tmpfile_commit(). */
int swu_tmpfile_open(const char *path, mode_t mode, int *ret_fd, char **ret_tmp_path);
/* fsync @fd, rename @tmp_path over @path, fsync the directory. Unlinks @tmp_path on failure. */
int swu_tmpfile_commit(int fd, const char *tmp_path, const char *path);
int swu_write_file_atomic(const char *path, const void *p, size_t n, mode_t mode);
/* mkdir -p: creates @path and missing parents; an existing directory is fine. */
int swu_mkdir_p(const char *path, mode_t mode);
/* An anonymous read-write file in directory @dir (created 0700 if missing), gone when closed. */
int swu_anon_file(const char *dir, int *ret_fd);
/* write() all of @n bytes. */
int swu_write_all(int fd, const void *p, size_t n);
/* pwrite() all of @n bytes at @offset (EINTR retried). */
int swu_pwrite_all(int fd, const void *p, size_t n, uint64_t offset);
/* pread() up to @n bytes at @offset until the file ends; how many in *ret_n. */
int swu_pread_full(int fd, void *p, size_t n, uint64_t offset, size_t *ret_n);
