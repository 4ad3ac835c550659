/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "macro.h"
#include "testutil.h"

EVP_PKEY *tu_key(void)
{
	EVP_PKEY *k = NULL;

	ck_assert_int_eq(swu_key_generate(&k), 0);
	return k;
}

void tu_sign(SwuSignedKind kind, EVP_PKEY *key, SwuBuf *signed_md)
{
	SwuContext *ctx = tu_context();
	SwuBuf payload = {}, out = {};
	uint8_t id[SWU_KEY_ID_SIZE], sig[SWU_SIG_SIZE];

	ck_assert_int_eq(swu_signed_payload(ctx, kind, signed_md->data, signed_md->size, &payload),
			 0);
	ck_assert_int_eq(swu_key_id_of(key, id), 0);
	ck_assert_int_eq(swu_sign(key, payload.data, payload.size, sig), 0);
	ck_assert_int_eq(swu_signed_add_signature(ctx, kind, signed_md->data, signed_md->size, id,
						  sig, &out),
			 0);
	swu_buf_done(&payload);
	swu_buf_done(signed_md);
	*signed_md = out;
	swu_context_unref(ctx);
}

void tu_root(const TuRootSpec *spec, SwuBuf *out)
{
	SwuRootSpec rs = {
		.root_keys = spec->root,
		.n_root = spec->n_root,
		.targets_keys = spec->targets,
		.n_targets = spec->n_targets,
		.timestamp_keys = spec->timestamp,
		.n_timestamp = spec->n_timestamp,
		.version = spec->version ? spec->version : 1,
		.root_threshold = spec->root_threshold ? spec->root_threshold : 1,
		.targets_threshold = spec->targets_threshold ? spec->targets_threshold : 1,
		.timestamp_threshold = spec->timestamp_threshold ? spec->timestamp_threshold : 1,
	};

	ck_assert_int_eq(swu_root_create(&rs, out), 0);
	for (size_t i = 0; i < spec->n_signers; i++)
		tu_sign(true, spec->signers[i], out);
}

void tu_root_simple(uint32_t version, EVP_PKEY *root_key, EVP_PKEY *targets_key,
		    EVP_PKEY *const *signers, size_t n, SwuBuf *out)
{
	TuRootSpec rs = { .version = version };

	rs.root[rs.n_root++] = root_key;
	rs.targets[rs.n_targets++] = targets_key;
	for (size_t i = 0; i < n; i++)
		rs.signers[rs.n_signers++] = signers[i];
	tu_root(&rs, out);
}

void tu_root_raw(const SwuRootMetadata *root, EVP_PKEY *const *signers, size_t n, SwuBuf *out)
{
	ck_assert_int_eq(swu_buf_put_message(out, 1, &root->base), 0);
	for (size_t i = 0; i < n; i++)
		tu_sign(true, signers[i], out);
}

void tu_targets(const TuTargetsSpec *spec, SwuBuf *out)
{
	SwuContext *ctx = tu_context();
	char *compat[4];
	size_t n_compat = 0;

	while (n_compat < 4 && spec->compatible[n_compat]) {
		compat[n_compat] = (char *)spec->compatible[n_compat];
		n_compat++;
	}
	ck_assert_int_eq(swu_targets_create(spec->version ? spec->version : 1, compat, n_compat,
					    spec->expires, spec->signed_at, out),
			 0);
	for (size_t i = 0; i < spec->n_files; i++) {
		uint8_t h[SWU_SHA256_SIZE];
		SwuBuf next = {};

		ck_assert_int_eq(swu_sha256(spec->files[i].data, spec->files[i].size, h), 0);
		ck_assert_int_eq(swu_targets_add_file(ctx, out->data, out->size,
						      spec->files[i].name, spec->files[i].size, h,
						      &next),
				 0);
		swu_buf_done(out);
		*out = next;
	}
	if (spec->role) {
		/* Re-pack with another role to test the role rule. */
		_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
		_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
		SwuBuf next = {};

		ck_assert_int_eq(swu_targets_decode(ctx, out->data, out->size, &s, &t), 0);
		char *orig = t->common_metadata->role;

		t->common_metadata->role = (char *)spec->role;
		ck_assert_int_eq(swu_buf_put_message(&next, 1, &t->base), 0);
		t->common_metadata->role = orig;
		swu_buf_done(out);
		*out = next;
	}
	for (size_t i = 0; i < spec->n_signers; i++)
		tu_sign(false, spec->signers[i], out);
	swu_context_unref(ctx);
}

void tu_put_root(SwuBuf *b, const SwuBuf *root)
{
	ck_assert_int_eq(swu_buf_put_len_field(b, 5, root->data, root->size), 0);
}

void tu_put_root_link(SwuBuf *b, const SwuBuf *root)
{
	ck_assert_int_eq(swu_buf_put_len_field(b, 100, root->data, root->size), 0);
}

void tu_put_targets(SwuBuf *b, const char *name, const SwuBuf *targets)
{
	SwuBuf e = {};

	ck_assert_int_eq(swu_buf_put_len_field(&e, 1, name, strlen(name)), 0);
	ck_assert_int_eq(swu_buf_put_len_field(&e, 2, targets->data, targets->size), 0);
	ck_assert_int_eq(swu_buf_put_len_field(b, 3, e.data, e.size), 0);
	swu_buf_done(&e);
}

static void put_payload(SwuBuf *b, const char *name, const void *data, size_t n, bool value_first)
{
	SwuBuf e = {};

	if (!value_first)
		ck_assert_int_eq(swu_buf_put_len_field(&e, 1, name, strlen(name)), 0);
	ck_assert_int_eq(swu_buf_put_len_field(&e, 2, data, n), 0);
	if (value_first)
		ck_assert_int_eq(swu_buf_put_len_field(&e, 1, name, strlen(name)), 0);
	ck_assert_int_eq(swu_buf_put_len_field(b, 4, e.data, e.size), 0);
	swu_buf_done(&e);
}

void tu_put_payload(SwuBuf *b, const char *name, const void *data, size_t n)
{
	put_payload(b, name, data, n, false);
}

void tu_put_payload_value_first(SwuBuf *b, const char *name, const void *data, size_t n)
{
	put_payload(b, name, data, n, true);
}

char *tu_tmpdir(const char *name)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = tu_path("%s/swu-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void tu_rm_rf(const char *path)
{
	if (!path)
		return;
	ck_assert_int_eq(nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT,
			 0);
}

static int files_counted;

static int count_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	files_counted += flag == FTW_F && S_ISREG(st->st_mode);
	return 0;
}

int tu_count_files(const char *path)
{
	files_counted = 0;
	ck_assert_int_eq(nftw(path, count_entry, 16, FTW_PHYS), 0);
	return files_counted;
}

void tu_write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

char *tu_path(const char *fmt, ...)
{
	char *p = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(r, 0);
	return p;
}

int tu_memfd(const void *p, size_t n)
{
	int fd = memfd_create("bundle", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	return fd;
}

static int verify_stream(SwuContext *ctx, SwuVerifier *v, const SwuBuf *bundle, size_t chunk)
{
	_cleanup_(swu_stream_freep) SwuStream *s = NULL;
	int r;

	r = swu_stream_new(ctx, v, NULL, NULL, &s);
	if (r < 0)
		return r;
	for (size_t off = 0; off < bundle->size; off += chunk) {
		r = swu_stream_feed(s, bundle->data + off, MIN(chunk, bundle->size - off));
		if (r < 0)
			return r;
	}
	return swu_stream_finish(s);
}

int tu_verify_full(SwuContext *ctx, const TuVerify *o, const SwuBuf *bundle, SwuBuf *ret_root,
		   SwuBuf *ret_manifest)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	int r;

	swu_context_clear_failure(ctx);
	r = swu_verifier_new(ctx, o->root ? o->root->data : NULL, o->root ? o->root->size : 0,
			     o->self ? SWU_VERIFY_SELF : 0, &v);
	if (r < 0)
		return r;
	if (o->manifest && (r = swu_verifier_set_manifest(v, o->manifest, o->manifest_size)) < 0)
		return r;
	if (o->compatible && (r = swu_verifier_set_compatible(v, o->compatible)) < 0)
		return r;
	if (o->chunk > 0)
		r = verify_stream(ctx, v, bundle, o->chunk);
	else {
		_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
		_cleanup_close_ int fd = tu_memfd(bundle->data, bundle->size);

		r = swu_bundle_open_fd(ctx, fd, &b);
		if (r >= 0)
			r = swu_bundle_verify(b, v);
	}
	if (ret_root) {
		size_t n = 0;
		const uint8_t *nr = swu_verifier_get_new_root(v, &n);

		if (nr)
			ck_assert_int_eq(swu_buf_append(ret_root, nr, n), 0);
	}
	if (r >= 0 && ret_manifest) {
		_cleanup_free_ uint8_t *m = NULL;
		size_t n = 0;

		ck_assert_int_eq(swu_verifier_build_manifest(v, &m, &n), 0);
		ck_assert_int_eq(swu_buf_append(ret_manifest, m, n), 0);
	}
	return r;
}

int tu_verify(SwuContext *ctx, const TuVerify *opts, const SwuBuf *bundle)
{
	return tu_verify_full(ctx, opts, bundle, NULL, NULL);
}

SwuContext *tu_context(void)
{
	SwuContext *ctx = NULL;

	ck_assert_int_eq(swu_context_new(&ctx), 0);
	return ctx;
}

void tu_world_init(TuWorld *w)
{
	TuRootSpec rs = {};
	TuTargetsSpec ts = { .version = 1 };

	*w = (TuWorld){};
	w->root_key = tu_key();
	w->targets_key = tu_key();
	rs.root[rs.n_root++] = w->root_key;
	rs.targets[rs.n_targets++] = w->targets_key;
	rs.signers[rs.n_signers++] = w->root_key;
	tu_root(&rs, &w->root);

	ts.files[ts.n_files++] = (TuFile){ "rootfs", tu_rootfs, sizeof(tu_rootfs) };
	ts.files[ts.n_files++] = (TuFile){ "appfs", tu_appfs, sizeof(tu_appfs) };
	ts.signers[ts.n_signers++] = w->targets_key;
	tu_targets(&ts, &w->targets);

	tu_put_root(&w->bundle, &w->root);
	tu_put_targets(&w->bundle, "targets", &w->targets);
	tu_put_payload(&w->bundle, "rootfs", tu_rootfs, sizeof(tu_rootfs));
	tu_put_payload(&w->bundle, "appfs", tu_appfs, sizeof(tu_appfs));
}

void tu_world_done(TuWorld *w)
{
	EVP_PKEY_free(w->root_key);
	EVP_PKEY_free(w->targets_key);
	swu_buf_done(&w->root);
	swu_buf_done(&w->targets);
	swu_buf_done(&w->bundle);
}

time_t tu_clock(void *userdata)
{
	return *(const time_t *)userdata;
}

int tu_run(const char *suite_name, const TuCase *cases, size_t n, void (*setup)(void),
	   void (*teardown)(void))
{
	Suite *s = suite_create(suite_name);
	SRunner *sr;
	int failed;

	swu_set_assert_return_critical(true);
	for (size_t i = 0; i < n; i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		if (cases[i].timeout > 0)
			tcase_set_timeout(tc, cases[i].timeout);
		if (cases[i].signal)
			tcase_add_test_raise_signal(tc, cases[i].test, cases[i].signal);
		else
			tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
