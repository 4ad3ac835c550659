/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Atomic file replacement, observed at the system calls: the program is linked with
 * -Wl,--wrap=fsync,--wrap=rename,--wrap=renameat, so libswu's calls land in the wrappers below,
 * which record them in order and then make the real call. A write survives a power cut only if
 * the temporary file is fsync'ed (with all its bytes) before it is renamed over the target, and
 * the directory is fsync'ed after the rename. A file written in place (the GRUB environment)
 * counts once an fsync of it saw its new bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"
#include "crypto.h"
#include "exec.h"
#include "fileio.h"
#include "macro.h"
#include "slot.h"
#include "state.h"
#include "testutil.h"
#include "writer.h"

typedef enum EventKind {
	EVENT_FSYNC,
	EVENT_RENAME,
} EventKind;

typedef struct Event {
	EventKind kind;
	bool known; /* fstat/lstat of the file worked */
	dev_t dev;  /* fsync: the file synced; rename: the file moved */
	ino_t ino;
	bool dir;	   /* fsync of a directory */
	off_t size;	   /* fsync: the file's size when it was synced */
	char to[PATH_MAX]; /* rename: the destination, resolved against its directory fd */
	char data[2048];   /* fsync of a small regular file: what it held then */
	ssize_t data_size; /* -1: not read */
} Event;

#define EVENTS_MAX 64

static Event events[EVENTS_MAX];
static size_t n_events;
static bool recording;

static SwuContext *ctx;
static char *dir;

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __real_rename(const char *oldpath, const char *newpath);
int __wrap_rename(const char *oldpath, const char *newpath);
int __real_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int __wrap_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);

static Event *event_new(EventKind kind)
{
	Event *e;

	if (!recording || n_events >= EVENTS_MAX)
		return NULL;
	e = &events[n_events++];
	*e = (Event){ .kind = kind, .data_size = -1 };
	return e;
}

/* What the file open at @fd holds, read through a descriptor of its own (@fd may be O_WRONLY). */
static void record_data(Event *e, int fd)
{
	char proc[64];
	int rfd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rfd = open(proc, O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return;
	e->data_size = pread(rfd, e->data, sizeof(e->data), 0);
	close(rfd);
}

int __wrap_fsync(int fd)
{
	Event *e = event_new(EVENT_FSYNC);
	struct stat st;

	if (e && fstat(fd, &st) == 0) {
		e->known = true;
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->dir = S_ISDIR(st.st_mode);
		e->size = st.st_size;
		if (S_ISREG(st.st_mode) && st.st_size <= (off_t)sizeof(e->data))
			record_data(e, fd);
	}
	return __real_fsync(fd);
}

static void record_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	Event *e = event_new(EVENT_RENAME);
	char proc[64], base[PATH_MAX];
	struct stat st;
	ssize_t k;

	if (!e)
		return;
	if (fstatat(olddirfd, oldpath, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		e->known = true;
		e->dev = st.st_dev;
		e->ino = st.st_ino;
	}
	if (newpath[0] == '/' || newdirfd == AT_FDCWD) {
		snprintf(e->to, sizeof(e->to), "%s", newpath);
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", newdirfd);
	k = readlink(proc, base, sizeof(base) - 1);
	snprintf(e->to, sizeof(e->to), "%.*s/%s", (int)(k > 0 ? k : 0), base, newpath);
}

int __wrap_rename(const char *oldpath, const char *newpath)
{
	record_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath);
	return __real_rename(oldpath, newpath);
}

int __wrap_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	record_rename(olddirfd, oldpath, newdirfd, newpath);
	return __real_renameat(olddirfd, oldpath, newdirfd, newpath);
}

static void setup(void)
{
	ctx = tu_context();
	dir = tu_tmpdir("fileio");
	n_events = 0;
	recording = false;
}

static void teardown(void)
{
	recording = false;
	tu_rm_rf(dir);
	dir = (free(dir), NULL);
	ctx = swu_context_unref(ctx);
}

/*
 * Checks the calls recorded while @path was written with @n bytes: the file now at @path was
 * renamed there once, was fsync'ed whole before that rename, and the directory was fsync'ed after.
 */
static void check_atomic(const char *path, size_t n)
{
	struct stat final, parent;
	size_t renamed = SIZE_MAX, synced = SIZE_MAX, dir_synced = SIZE_MAX;

	ck_assert_uint_lt(n_events, EVENTS_MAX); /* nothing was dropped */
	ck_assert_int_eq(stat(path, &final), 0);
	ck_assert_int_eq(stat(dir, &parent), 0);
	ck_assert_uint_eq((uint64_t) final.st_size, n);
	for (size_t i = 0; i < n_events; i++) {
		const Event *e = &events[i];

		if (e->kind == EVENT_RENAME && e->known && e->dev == final.st_dev &&
		    e->ino == final.st_ino && streq(e->to, path)) {
			ck_assert_msg(renamed == SIZE_MAX, "'%s' was renamed into place twice",
				      path);
			renamed = i;
		}
	}
	ck_assert_msg(renamed != SIZE_MAX, "the file at '%s' was not renamed there", path);
	for (size_t i = 0; i < renamed; i++) {
		const Event *e = &events[i];

		if (e->kind == EVENT_FSYNC && e->known && !e->dir && e->dev == final.st_dev &&
		    e->ino == final.st_ino && (uint64_t)e->size == n)
			synced = i;
	}
	ck_assert_msg(synced != SIZE_MAX,
		      "the temporary file was not fsync'ed with its %zu bytes before the rename",
		      n);
	for (size_t i = renamed + 1; i < n_events; i++) {
		const Event *e = &events[i];

		if (e->kind == EVENT_FSYNC && e->known && e->dir && e->dev == parent.st_dev &&
		    e->ino == parent.st_ino && dir_synced == SIZE_MAX)
			dir_synced = i;
	}
	ck_assert_msg(dir_synced != SIZE_MAX, "the directory was not fsync'ed after the rename");
}

static void check_content(const char *path, const char *want)
{
	_cleanup_free_ uint8_t *got = NULL;
	size_t size = 0;

	ck_assert_int_eq(swu_read_file(path, 4096, &got, &size), 0);
	ck_assert_uint_eq(size, strlen(want));
	ck_assert_mem_eq(got, want, size);
}

START_TEST(test_write_file_atomic)
{
	_cleanup_free_ char *path = tu_path("%s/status.json", dir);
	static const char *const contents[] = { "first version\n", "the second, longer version\n" };

	/* Once creating the file, once replacing it. */
	for (size_t i = 0; i < ELEMENTSOF(contents); i++) {
		n_events = 0;
		recording = true;
		ck_assert_int_eq(
			swu_write_file_atomic(path, contents[i], strlen(contents[i]), 0644), 0);
		recording = false;
		check_atomic(path, strlen(contents[i]));
		check_content(path, contents[i]);
		ck_assert_int_eq(tu_count_files(dir), 1); /* no temporary file left */
	}
}
END_TEST

START_TEST(test_state_save_manifest)
{
	_cleanup_free_ char *path = tu_path("%s/manifest.pb", dir);
	static const char *const manifests[] = { "manifest one", "manifest number two" };

	for (size_t i = 0; i < ELEMENTSOF(manifests); i++) {
		n_events = 0;
		recording = true;
		ck_assert_int_eq(swu_state_save_manifest(ctx, dir, (const uint8_t *)manifests[i],
							 strlen(manifests[i])),
				 0);
		recording = false;
		check_atomic(path, strlen(manifests[i]));
		check_content(path, manifests[i]);
		ck_assert_int_eq(tu_count_files(dir), 1);
	}
}
END_TEST

/*
 * The GRUB environment is written over its old block in place (a truncation would leave no
 * environment at all after a power cut): the file keeps its inode, is never renamed over, and an
 * fsync of it, after the write, saw the new variables.
 */
START_TEST(test_grub_env_in_place)
{
	_cleanup_free_ char *env = tu_path("%s/grubenv", dir);
	_cleanup_free_ uint8_t *final = NULL;
	const SwuBootConfig boot = { .type = SWU_BOOT_GRUB, .grub_env = env };
	char *create[] = { (char *)"grub-editenv", env, (char *)"create", NULL };
	struct stat before, after;
	size_t size = 0, synced = SIZE_MAX;

	ck_assert_int_eq(swu_exec(ctx, create, NULL), 0);
	ck_assert_int_eq(swu_boot_mark_bad(ctx, &boot, 'B', 'A'), 0);
	ck_assert_int_eq(stat(env, &before), 0);

	recording = true;
	ck_assert_int_eq(swu_boot_mark_good(ctx, &boot, 'B', 'A'), 0);
	recording = false;

	ck_assert_uint_lt(n_events, EVENTS_MAX);
	ck_assert_int_eq(stat(env, &after), 0);
	ck_assert_msg(after.st_ino == before.st_ino && after.st_dev == before.st_dev,
		      "'%s' was replaced, not written in place", env);
	ck_assert_int_eq(swu_read_file(env, 64 * 1024, &final, &size), 0);
	ck_assert_uint_eq(size, (size_t)before.st_size);
	ck_assert_ptr_nonnull(memmem(final, size, "\nORDER=B A\n", 11));
	ck_assert_ptr_nonnull(memmem(final, size, "\nB_OK=1\n", 8));
	for (size_t i = 0; i < n_events; i++) {
		const Event *e = &events[i];

		ck_assert_msg(!(e->kind == EVENT_RENAME && streq(e->to, env)),
			      "a file was renamed over '%s'", env);
		if (e->kind == EVENT_FSYNC && e->known && e->dev == after.st_dev &&
		    e->ino == after.st_ino && e->data_size == (ssize_t)size &&
		    memcmp(e->data, final, size) == 0)
			synced = i;
	}
	ck_assert_msg(synced != SIZE_MAX, "'%s' was not fsync'ed with its new %zu bytes", env,
		      size);
	ck_assert_int_eq(tu_count_files(dir), 1); /* grub-editenv's copy is gone */
}
END_TEST

/* The wrappers themselves: a test that sees no calls would pass for the wrong reason. */
START_TEST(test_wrappers_record)
{
	_cleanup_free_ char *a = tu_path("%s/a", dir), *b = tu_path("%s/b", dir);
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	tu_write_text(a, "x");
	fd = open(a, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	recording = true;
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(rename(a, b), 0);
	ck_assert_int_eq(renameat(AT_FDCWD, b, AT_FDCWD, a), 0);
	recording = false;
	ck_assert_uint_eq(n_events, 3);
	ck_assert_int_eq(events[0].kind, EVENT_FSYNC);
	ck_assert(events[0].known && events[0].ino == st.st_ino && events[0].size == 1);
	ck_assert_int_eq(events[1].kind, EVENT_RENAME);
	ck_assert(events[1].known && events[1].ino == st.st_ino);
	ck_assert_str_eq(events[1].to, b);
	ck_assert_int_eq(events[2].kind, EVENT_RENAME);
	ck_assert_str_eq(events[2].to, a);
}
END_TEST

/*
 * Offsets past 4 GiB, for 32-bit boards with large slots: a sparse 6 GiB slot file reports its
 * size, and a region at 5 GiB + 4097 is hashed and copied from where it is. A 32-bit off_t or
 * size anywhere (pread, lseek, fstat, a cast) reads the wrong bytes or fails.
 */
START_TEST(test_past_4gib)
{
	const uint64_t slot_size = UINT64_C(6) << 30, at = (UINT64_C(5) << 30) + 4097;
	_cleanup_free_ char *path = tu_path("%s/slot", dir), *copy = tu_path("%s/copy", dir);
	uint8_t data[65536], back[sizeof(data)], want[SWU_SHA256_SIZE], got[SWU_SHA256_SIZE];
	_cleanup_close_ int fd = -EBADF, out = -EBADF;
	SwuPayloadSource src = { .name = "rootfs", .offset = at, .size = sizeof(data) };
	uint64_t size = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)slot_size), 0);
	ck_assert_int_eq(pwrite(fd, data, sizeof(data), (off_t)at), (ssize_t)sizeof(data));
	ck_assert_int_eq(swu_slot_size(ctx, path, &size), 0);
	ck_assert_uint_eq(size, slot_size);
	swu_sha256(data, sizeof(data), want);
	ck_assert_int_eq(swu_sha256_fd(fd, at, sizeof(data), got), 0);
	ck_assert_mem_eq(got, want, sizeof(want));
	/* The same bytes copied out of the slot from that offset, hashed on the way. */
	src.fd = fd;
	src.sha256 = want;
	out = open(copy, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(out, 0);
	ck_assert_int_eq(swu_payload_copy(ctx, out, &src), 0);
	ck_assert_int_eq(pread(out, back, sizeof(back), 0), (ssize_t)sizeof(back));
	ck_assert_mem_eq(back, data, sizeof(data));
	/* Past the end of the 6 GiB: short, never wrapped to the start of the file. */
	src.offset = slot_size - 100;
	src.sha256 = NULL;
	ck_assert_int_eq(swu_payload_copy(ctx, out, &src), -EIO);
}
END_TEST

/*
 * swu_read_file(): a regular file, a pipe longer than the first buffer, and the limit, exact and
 * one byte past it, for both (a pipe has no size to check first).
 */
START_TEST(test_read_file)
{
	_cleanup_free_ char *path = tu_path("%s/data", dir);
	_cleanup_free_ uint8_t *data = malloc(20000);
	uint8_t *got = NULL;
	size_t size = 0;
	int fds[2];

	for (size_t i = 0; i < 20000; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	ck_assert_int_eq(swu_write_file_atomic(path, data, 20000, 0600), 0);
	ck_assert_int_eq(swu_read_file(path, 20000, &got, &size), 0);
	ck_assert_uint_eq(size, 20000);
	ck_assert_mem_eq(got, data, size);
	got = mfree(got);
	ck_assert_int_eq(swu_read_file(path, 19999, &got, &size), -EFBIG);
	ck_assert_ptr_null(got);

	for (size_t limit = 19999; limit <= 20000; limit++) {
		_cleanup_free_ char *fifo = NULL;

		ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0); /* 64 KiB: room for all of it */
		ck_assert_int_eq(write(fds[1], data, 20000), 20000);
		close(fds[1]);
		fifo = tu_path("/proc/self/fd/%d", fds[0]);
		size = 0;
		ck_assert_int_eq(swu_read_file(fifo, limit, &got, &size),
				 limit < 20000 ? -EFBIG : 0);
		if (limit == 20000) {
			ck_assert_uint_eq(size, 20000);
			ck_assert_mem_eq(got, data, size);
		}
		got = mfree(got);
		close(fds[0]);
	}
}
END_TEST

/* swu_anon_file(): a read-write file that has no name in the directory it lives in. */
START_TEST(test_anon_file)
{
	_cleanup_free_ char *sub = tu_path("%s/staging/deeper", dir);
	_cleanup_close_ int fd = -EBADF;
	char back[6] = {};
	struct stat st;

	ck_assert_int_eq(swu_anon_file(sub, &fd), 0);
	ck_assert_int_eq(pwrite(fd, "hello", 5, 0), 5);
	ck_assert_int_eq(pread(fd, back, 5, 0), 5);
	ck_assert_str_eq(back, "hello");
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_nlink, 0);
	ck_assert_int_eq(tu_count_files(sub), 0);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	/* A directory that cannot be made: the error, no file. */
	fd = safe_close(fd);
	free(sub);
	sub = tu_path("%s/data-file", dir);
	ck_assert_int_eq(swu_write_file_atomic(sub, "x", 1, 0600), 0);
	free(sub);
	sub = tu_path("%s/data-file/staging", dir);
	ck_assert_int_eq(swu_anon_file(sub, &fd), -ENOTDIR);
	ck_assert_int_lt(fd, 0);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "wrappers-record", test_wrappers_record },
		{ "write-file-atomic", test_write_file_atomic },
		{ "state-save-manifest", test_state_save_manifest },
		{ "grub-env-in-place", test_grub_env_in_place },
		{ "past-4gib", test_past_4gib },
		{ "read-file", test_read_file },
		{ "anon-file", test_anon_file },
	};

	return tu_run("fileio", cases, ELEMENTSOF(cases), setup, teardown);
}
