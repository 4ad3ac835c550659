/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manifest a device persists: exact signed bytes, user manifest, strict decoding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "manifest.h"
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

START_TEST(test_build_from_bundle)
{
	_cleanup_(swu_manifest_freep) SwuManifest *m = NULL;
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	TuVerify o = { .root = &w.root };
	const SwuTargetsMetadata *installed;
	SwuBuf out = {};

	ck_assert_int_eq(tu_verify_full(ctx, &o, &w.bundle, NULL, &out), 0);
	ck_assert_int_eq(swu_manifest_decode(ctx, out.data, out.size, &m), 0);
	installed = swu_manifest_get_targets(m);
	ck_assert_ptr_nonnull(installed);
	ck_assert_uint_eq(installed->common_metadata->version, 1);
	ck_assert_uint_eq(installed->n_target_files, 2);
	ck_assert_ptr_nonnull(swu_targets_find(installed, "appfs"));
	ck_assert_ptr_null(swu_targets_find(installed, "nope"));
	ck_assert_uint_eq(m->user_manifest.len, 0);
	/* The signed bytes are kept exactly: they appear verbatim in the manifest. */
	ck_assert_int_eq(swu_targets_decode(ctx, w.targets.data, w.targets.size, &s, &t), 0);
	ck_assert_ptr_nonnull(memmem(out.data, out.size, s->serialized_targets_metadata.data,
				     s->serialized_targets_metadata.len));
	swu_buf_done(&out);
}
END_TEST

START_TEST(test_user_manifest)
{
	static const char user[] = "{\"release\":\"2026.11\"}";
	_cleanup_(swu_manifest_freep) SwuManifest *m = NULL;
	_cleanup_(swu_manifest_freep) SwuManifest *m2 = NULL;
	TuTargetsSpec ts = { .version = 3 };
	TuVerify o = { .root = &w.root };
	SwuBuf t = {}, b = {}, out = {}, b2 = {}, out2 = {};

	ts.files[ts.n_files++] = (TuFile){ "user_manifest", user, strlen(user) };
	ts.files[ts.n_files++] = (TuFile){ "rootfs", tu_rootfs, sizeof(tu_rootfs) };
	ts.signers[ts.n_signers++] = w.targets_key;
	tu_targets(&ts, &t);
	tu_put_targets(&b, "targets", &t);
	tu_put_payload(&b, "user_manifest", user, strlen(user));
	tu_put_payload(&b, "rootfs", tu_rootfs, sizeof(tu_rootfs));
	ck_assert_int_eq(tu_verify_full(ctx, &o, &b, NULL, &out), 0);
	ck_assert_int_eq(swu_manifest_decode(ctx, out.data, out.size, &m), 0);
	ck_assert_uint_eq(m->user_manifest.len, strlen(user));
	ck_assert_mem_eq(m->user_manifest.data, user, strlen(user));

	/* The same release with user_manifest personalized out keeps the installed one. */
	tu_put_targets(&b2, "targets", &t);
	tu_put_payload(&b2, "rootfs", tu_rootfs, sizeof(tu_rootfs));
	o.manifest = out.data;
	o.manifest_size = out.size;
	ck_assert_int_eq(tu_verify_full(ctx, &o, &b2, NULL, &out2), 0);
	ck_assert_int_eq(swu_manifest_decode(ctx, out2.data, out2.size, &m2), 0);
	ck_assert_mem_eq(m2->user_manifest.data, user, strlen(user));
	swu_buf_done(&t);
	swu_buf_done(&b);
	swu_buf_done(&b2);
	swu_buf_done(&out);
	swu_buf_done(&out2);
}
END_TEST

/* verify_user: a release whose user_manifest has @len bytes, verified with a metadata cap @max. */
static int verify_user(size_t len, size_t max, SwuBuf *ret_manifest, size_t *ret_targets_size)
{
	_cleanup_free_ char *user = malloc(len);
	TuTargetsSpec ts = { .version = 3 };
	TuVerify o = { .root = &w.root };
	SwuBuf t = {}, b = {};
	int r;

	memset(user, 'u', len);
	ts.files[ts.n_files++] = (TuFile){ "user_manifest", user, len };
	ts.files[ts.n_files++] = (TuFile){ "rootfs", tu_rootfs, sizeof(tu_rootfs) };
	ts.signers[ts.n_signers++] = w.targets_key;
	tu_targets(&ts, &t);
	tu_put_targets(&b, "targets", &t);
	tu_put_payload(&b, "user_manifest", user, len);
	tu_put_payload(&b, "rootfs", tu_rootfs, sizeof(tu_rootfs));
	if (ret_targets_size)
		*ret_targets_size = t.size;
	swu_context_set_metadata_max(ctx, max);
	r = tu_verify_full(ctx, &o, &b, NULL, ret_manifest);
	swu_buf_done(&t);
	swu_buf_done(&b);
	return r;
}

/*
 * The installed manifest holds the targets metadata and the user manifest, and is read back
 * under the metadata cap: a release whose two together would not fit is refused before any byte
 * is written, or every later install would fail to read the installed manifest.
 */
START_TEST(test_user_manifest_fits)
{
	const size_t max = 4096;
	SwuVerifier *v = NULL;
	SwuBuf out = {};
	size_t ts;

	/* on its own under the cap, with the targets metadata over it */
	ck_assert_int_eq(verify_user(max - 100, max, NULL, &ts), -EFBIG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "size");
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "user_manifest"));
	ck_assert_int_eq(verify_user(max + 1, max, NULL, NULL), -EFBIG);
	/* the largest that fits: its manifest is accepted as the installed one */
	ck_assert_int_eq(verify_user(max - ts - 64, max, &out, NULL), 0);
	ck_assert_uint_le(out.size, max);
	ck_assert_int_eq(swu_verifier_new(ctx, w.root.data, w.root.size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_set_manifest(v, out.data, out.size), 0);
	swu_verifier_free(v);
	swu_buf_done(&out);
}
END_TEST

START_TEST(test_duplicate_key)
{
	SwuManifest *m = NULL;
	SwuBuf entry = {}, b = {};

	ck_assert_int_eq(swu_buf_put_len_field(&entry, 1, "targets", 7), 0);
	ck_assert_int_eq(swu_buf_put_len_field(&b, 1, entry.data, entry.size), 0);
	ck_assert_int_eq(swu_manifest_decode(ctx, b.data, b.size, &m), 0);
	swu_manifest_freep(&m);
	m = NULL;
	ck_assert_int_eq(swu_buf_put_len_field(&b, 1, entry.data, entry.size), 0);
	ck_assert_int_eq(swu_manifest_decode(ctx, b.data, b.size, &m), -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "ambiguity");
	/* and user_manifest given twice */
	b.size = 0;
	ck_assert_int_eq(swu_buf_put_len_field(&b, 2, "a", 1), 0);
	ck_assert_int_eq(swu_buf_put_len_field(&b, 2, "b", 1), 0);
	ck_assert_int_eq(swu_manifest_decode(ctx, b.data, b.size, &m), -EBADMSG);
	ck_assert_ptr_null(m);
	swu_buf_done(&entry);
	swu_buf_done(&b);
}
END_TEST

START_TEST(test_malformed)
{
	static const uint8_t junk[] = { 0x0a, 0x10, 0x01 };
	SwuVerifier *v = NULL;

	ck_assert_int_eq(swu_verifier_new(ctx, w.root.data, w.root.size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_set_manifest(v, junk, sizeof(junk)), -EBADMSG);
	swu_verifier_free(v);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "build", test_build_from_bundle },
		{ "user-manifest", test_user_manifest },
		{ "user-manifest-fits", test_user_manifest_fits },
		{ "duplicate-key", test_duplicate_key },
		{ "malformed", test_malformed },
	};

	return tu_run("manifest", cases, ELEMENTSOF(cases), setup, teardown);
}
