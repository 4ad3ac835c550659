/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The install engine over file-backed slots: written bytes, read-back, unchanged targets copied. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "install.h"
#include "macro.h"
#include "testutil.h"

static SwuContext *ctx;
static TuWorld w;

static void setup(void)
{
	ctx = tu_context();
	tu_world_init(&w);
}

static void teardown(void)
{
	tu_world_done(&w);
	ctx = swu_context_unref(ctx);
}

static int slot(size_t size)
{
	int fd = tu_memfd("", 0);

	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void read_slot(int fd, void *buf, size_t n)
{
	ck_assert_int_eq(pread(fd, buf, n, 0), (ssize_t)n);
}

/* Installs @bundle with installed manifest @m; slots of @size bytes; appfs active slot @active. */
static int install(const SwuBuf *bundle, const SwuBuf *m, size_t size, const char *active,
		   SwuInstallTarget t[2])
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = tu_memfd(bundle->data, bundle->size);
	int r;

	t[0] = (SwuInstallTarget){ "rootfs", slot(size), size, -EBADF, false };
	t[1] = (SwuInstallTarget){ "appfs", slot(size), size, tu_memfd(active, strlen(active) + 1),
				   false };
	ck_assert_int_eq(swu_bundle_open_fd(ctx, fd, &b), 0);
	ck_assert_int_eq(swu_verifier_new(ctx, w.root.data, w.root.size, 0, &v), 0);
	if (m)
		ck_assert_int_eq(swu_verifier_set_manifest(v, m->data, m->size), 0);
	r = swu_bundle_verify_metadata(b, v);
	if (r >= 0)
		r = swu_install_check(ctx, v, b, t, 2);
	if (r >= 0)
		r = swu_install_bundle(ctx, b, v, t, 2);
	return r;
}

static void close_targets(SwuInstallTarget t[2])
{
	for (int i = 0; i < 2; i++) {
		safe_close(t[i].fd);
		safe_close(t[i].active_fd);
	}
}

START_TEST(test_install_writes_and_reads_back)
{
	SwuInstallTarget t[2];
	char buf[sizeof(tu_rootfs)];

	ck_assert_int_eq(install(&w.bundle, NULL, 4096, "", t), 0);
	read_slot(t[0].fd, buf, sizeof(tu_rootfs));
	ck_assert_mem_eq(buf, tu_rootfs, sizeof(tu_rootfs));
	read_slot(t[1].fd, buf, sizeof(tu_appfs));
	ck_assert_mem_eq(buf, tu_appfs, sizeof(tu_appfs));
	close_targets(t);
}
END_TEST

START_TEST(test_slot_too_small)
{
	SwuInstallTarget t[2];
	char buf[16] = "";

	ck_assert_int_eq(install(&w.bundle, NULL, sizeof(tu_rootfs) - 1, "", t), -ENOSPC);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "size");
	/* refused before a byte was written */
	read_slot(t[1].fd, buf, sizeof(buf));
	ck_assert_int_eq(buf[0], 0);
	close_targets(t);
}
END_TEST

START_TEST(test_unchanged_target_copied)
{
	SwuBuf m = {}, b = {};
	TuVerify o = { .root = &w.root };
	SwuInstallTarget t[2];
	char buf[sizeof(tu_appfs)];

	/* The installed release has the same appfs; the new bundle leaves its payload out. */
	ck_assert_int_eq(tu_verify_full(ctx, &o, &w.bundle, NULL, &m), 0);
	tu_put_targets(&b, "targets", &w.targets);
	tu_put_payload(&b, "rootfs", tu_rootfs, sizeof(tu_rootfs));
	ck_assert_int_eq(install(&b, &m, 4096, tu_appfs, t), 0);
	read_slot(t[1].fd, buf, sizeof(buf));
	ck_assert_mem_eq(buf, tu_appfs, sizeof(tu_appfs));
	close_targets(t);

	/* The active slot no longer holds what the manifest says: refused. */
	ck_assert_int_eq(install(&b, &m, 4096, "something else entirely", t), -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "copy");
	close_targets(t);

	/* Without the installed manifest, a missing payload is refused before writing. */
	ck_assert_int_eq(install(&b, NULL, 4096, tu_appfs, t), -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "missing");
	close_targets(t);
	swu_buf_done(&m);
	swu_buf_done(&b);
}
END_TEST

START_TEST(test_hash_mismatch)
{
	SwuInstallTarget t[2];
	SwuBuf b = {};
	char evil[sizeof(tu_rootfs)];

	memcpy(evil, tu_rootfs, sizeof(evil));
	evil[3] ^= 0x20;
	tu_put_targets(&b, "targets", &w.targets);
	tu_put_payload(&b, "rootfs", evil, sizeof(evil));
	tu_put_payload(&b, "appfs", tu_appfs, sizeof(tu_appfs));
	ck_assert_int_eq(install(&b, NULL, 4096, "", t), -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "hash");
	close_targets(t);
	swu_buf_done(&b);
}
END_TEST

/* One byte past the signed length never reaches the slot, whichever writer gets it. */
START_TEST(test_writer_length_cap)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = tu_memfd(w.bundle.data, w.bundle.size);
	SwuInstallTarget t = { "rootfs", slot(4096), 4096, -EBADF, false };
	const size_t len = sizeof(tu_rootfs);
	char buf[4096], extra[sizeof(tu_rootfs) + 1];

	memcpy(extra, tu_rootfs, len);
	extra[len] = 'X';
	ck_assert_int_eq(swu_bundle_open_fd(ctx, fd, &b), 0);
	ck_assert_int_eq(swu_verifier_new(ctx, w.root.data, w.root.size, 0, &v), 0);
	ck_assert_int_eq(swu_bundle_verify_metadata(b, v), 0);
	for (int streamed = 0; streamed <= 1; streamed++) {
		_cleanup_(swu_slot_writer_freep) SwuSlotWriter *sw = NULL;

		ck_assert_int_eq(ftruncate(t.fd, 0), 0);
		ck_assert_int_eq(ftruncate(t.fd, 4096), 0);
		ck_assert_int_eq(streamed ? swu_slot_writer_new_streamed(ctx, v, &t, len, &sw)
					  : swu_slot_writer_new(ctx, v, &t, len, &sw),
				 0);
		/* the signed length in one write, plus one byte: refused whole, nothing written */
		ck_assert_int_eq(swu_slot_writer_write(sw, extra, len + 1), -EBADMSG);
		read_slot(t.fd, buf, sizeof(buf));
		for (size_t i = 0; i < sizeof(buf); i++)
			ck_assert_int_eq(buf[i], 0);
		/* the signed length, then one byte more: that write fails */
		ck_assert_int_eq(swu_slot_writer_write(sw, extra, len), 0);
		ck_assert_int_eq(swu_slot_writer_write(sw, "X", 1), -EBADMSG);
		ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "length");
		read_slot(t.fd, buf, sizeof(buf));
		ck_assert_mem_eq(buf, tu_rootfs, len);
		ck_assert_int_eq(buf[len], 0);
		if (!streamed)
			swu_slot_writer_free(TAKE_PTR(sw)); /* abandons the payload */
	}
	/* the payload verifier alone, too */
	ck_assert_int_eq(swu_verifier_payload_begin(v, "appfs", sizeof(tu_appfs)), 0);
	ck_assert_int_eq(swu_verifier_payload_update(v, tu_appfs, sizeof(tu_appfs)), 0);
	ck_assert_int_eq(swu_verifier_payload_update(v, "X", 1), -EBADMSG);
	swu_verifier_payload_abandon(v);
	safe_close(t.fd);
}
END_TEST

/* A fault hook that corrupts the slot when it is about to be read back. */
typedef struct Corrupt {
	int fd;
	int hits;
} Corrupt;

static void corrupt_read_back(void *userdata, const char *where)
{
	Corrupt *c = userdata;

	if (c->fd >= 0 && streq(where, "read-back")) {
		ck_assert_int_eq(pwrite(c->fd, "\xff\xfe", 2, 1), 2);
		c->hits++;
	}
}

/* A slot that reads back differently from what was written fails the install (so the bootloader
 * is never switched): for a written target, and for one copied from the active slot. */
START_TEST(test_read_back_mismatch)
{
	SwuInstallTarget t[2];
	Corrupt c = { -EBADF, 0 };
	SwuBuf m = {}, b = {};
	TuVerify o = { .root = &w.root };

	swu_context_set_fault(ctx, corrupt_read_back, &c);
	/* written: the hook learns the slot fd when the install opens it, so use a fixed fd */
	t[0].fd = -EBADF;
	c.fd = 1000;
	ck_assert_int_eq(dup2(slot(4096), c.fd), c.fd);
	{
		_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
		_cleanup_(swu_bundle_freep) SwuBundle *bundle = NULL;
		_cleanup_close_ int fd = tu_memfd(w.bundle.data, w.bundle.size);

		t[0] = (SwuInstallTarget){ "rootfs", c.fd, 4096, -EBADF, false };
		t[1] = (SwuInstallTarget){ "appfs", slot(4096), 4096, -EBADF, false };
		ck_assert_int_eq(swu_bundle_open_fd(ctx, fd, &bundle), 0);
		ck_assert_int_eq(swu_verifier_new(ctx, w.root.data, w.root.size, 0, &v), 0);
		ck_assert_int_eq(swu_bundle_verify_metadata(bundle, v), 0);
		ck_assert_int_eq(swu_install_bundle(ctx, bundle, v, t, 2), -EIO);
		ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "read-back");
		ck_assert(strstr(swu_context_get_failure(ctx)->message, "'rootfs' reads back "
									"different"));
		ck_assert_int_gt(c.hits, 0);
		close_targets(t);
	}
	/* copied: the unchanged appfs */
	ck_assert_int_eq(tu_verify_full(ctx, &o, &w.bundle, NULL, &m), 0);
	tu_put_targets(&b, "targets", &w.targets);
	tu_put_payload(&b, "rootfs", tu_rootfs, sizeof(tu_rootfs));
	c.fd = -EBADF;
	c.hits = 0;
	{
		_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
		_cleanup_(swu_bundle_freep) SwuBundle *bundle = NULL;
		_cleanup_close_ int fd = tu_memfd(b.data, b.size);

		t[0] = (SwuInstallTarget){ "rootfs", slot(4096), 4096, -EBADF, false };
		t[1] = (SwuInstallTarget){ "appfs", slot(4096), 4096,
					   tu_memfd(tu_appfs, sizeof(tu_appfs)), false };
		c.fd = t[1].fd;
		ck_assert_int_eq(swu_bundle_open_fd(ctx, fd, &bundle), 0);
		ck_assert_int_eq(swu_verifier_new(ctx, w.root.data, w.root.size, 0, &v), 0);
		ck_assert_int_eq(swu_verifier_set_manifest(v, m.data, m.size), 0);
		ck_assert_int_eq(swu_bundle_verify_metadata(bundle, v), 0);
		ck_assert_int_eq(swu_install_bundle(ctx, bundle, v, t, 2), -EIO);
		ck_assert(strstr(swu_context_get_failure(ctx)->message, "'appfs' reads back "
									"different"));
		ck_assert_int_gt(c.hits, 0);
		close_targets(t);
	}
	swu_context_set_fault(ctx, NULL, NULL);
	swu_buf_done(&m);
	swu_buf_done(&b);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "write-read-back", test_install_writes_and_reads_back },
		{ "slot-too-small", test_slot_too_small },
		{ "unchanged-copied", test_unchanged_target_copied },
		{ "hash-mismatch", test_hash_mismatch },
		{ "writer-length-cap", test_writer_length_cap },
		{ "read-back-mismatch", test_read_back_mismatch },
	};

	return tu_run("install", cases, ELEMENTSOF(cases), setup, teardown);
}
