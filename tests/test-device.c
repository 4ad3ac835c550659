/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The device pipeline every caller verifies through: the trusted root (factory root, dm-verity,
 * the persisted chain), the installed manifest, the compatible string, and the one place a
 * rotated root is persisted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "device.h"
#include "fileio.h"
#include "macro.h"
#include "manifest.h"
#include "testutil.h"

static SwuContext *ctx;
static TuWorld w;
static char *dir, *root_path, *state_dir;
static unsigned committed, warned;
static uint32_t committed_version;
static SwuDevice dev;

static void on_committed(void *userdata, uint32_t version)
{
	committed++;
	committed_version = version;
}

static void on_warn(void *userdata, const char *message)
{
	warned++;
}

static void setup(void)
{
	ctx = tu_context();
	tu_world_init(&w);
	dir = tu_tmpdir("device");
	root_path = tu_path("%s/root.pb", dir);
	state_dir = tu_path("%s/state", dir);
	ck_assert_int_eq(swu_mkdir_p(state_dir, 0755), 0);
	ck_assert_int_eq(swu_write_file_atomic(root_path, w.root.data, w.root.size, 0644), 0);
	committed = warned = 0;
	committed_version = 0;
	dev = (SwuDevice){ .root_metadata = root_path,
			   .state_dir = state_dir,
			   .compatible = "acme-gw-v2",
			   .warn = on_warn,
			   .committed = on_committed };
}

static void teardown(void)
{
	tu_rm_rf(dir);
	free(dir);
	free(root_path);
	free(state_dir);
	tu_world_done(&w);
	ctx = swu_context_unref(ctx);
}

/* Verifies @bundle's metadata through the device pipeline. */
static int check(const SwuBuf *bundle)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = tu_memfd(bundle->data, bundle->size);
	int r;

	swu_context_clear_failure(ctx);
	r = swu_device_verifier(ctx, &dev, &v);
	if (r < 0)
		return r;
	r = swu_bundle_open_fd(ctx, fd, &b);
	if (r < 0)
		return r;
	return swu_device_check_metadata(ctx, &dev, v, b);
}

/* A bundle of the standard payloads, @root (optional), targets @version signed by @key. */
static void bundle(const SwuBuf *root, uint32_t version, EVP_PKEY *key, const char *compatible,
		   SwuBuf *out)
{
	TuTargetsSpec ts = { .version = version, .compatible = { compatible } };
	SwuBuf t = {};

	ts.files[ts.n_files++] = (TuFile){ "rootfs", tu_rootfs, sizeof(tu_rootfs) };
	ts.signers[ts.n_signers++] = key;
	tu_targets(&ts, &t);
	if (root)
		tu_put_root(out, root);
	tu_put_targets(out, "targets", &t);
	tu_put_payload(out, "rootfs", tu_rootfs, sizeof(tu_rootfs));
	swu_buf_done(&t);
}

/* The time the device believes: the clock, never earlier than the signed time it keeps. */
START_TEST(test_device_now)
{
	ck_assert_int_eq(swu_device_now(ctx, &dev, 1800000000), 1800000000);
	ck_assert_int_eq(swu_state_save_signed_time(ctx, state_dir, 1800000000), 1);
	ck_assert_int_eq(swu_device_now(ctx, &dev, 10), 1800000000); /* a clock back in 1970 */
	ck_assert_int_eq(swu_device_now(ctx, &dev, 1900000000), 1900000000);
}
END_TEST

START_TEST(test_verifier)
{
	SwuBuf b = {}, other = {};

	bundle(NULL, 3, w.targets_key, "acme-gw-v2", &b);
	ck_assert_int_eq(check(&b), 0);
	/* the compatible string comes from the device */
	bundle(NULL, 3, w.targets_key, "acme-gw-v1", &other);
	ck_assert_int_eq(check(&other), -EMEDIUMTYPE);
	/* the factory root must exist */
	ck_assert_int_eq(unlink(root_path), 0);
	ck_assert_int_eq(check(&b), -ENOENT);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "cannot read the root metadata"));
	swu_buf_done(&b);
	swu_buf_done(&other);
}
END_TEST

START_TEST(test_installed_manifest)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	SwuBuf m = {}, b = {}, v3 = {};
	TuVerify o = { .root = &w.root };

	/* the installed manifest (version 3) is the anti-rollback floor */
	bundle(NULL, 3, w.targets_key, NULL, &v3);
	ck_assert_int_eq(tu_verify_full(ctx, &o, &v3, NULL, &m), 0);
	ck_assert_int_eq(swu_state_save_manifest(ctx, state_dir, m.data, m.size), 0);
	ck_assert_int_eq(swu_device_verifier(ctx, &dev, &v), 0);
	ck_assert_uint_eq(swu_verifier_get_installed_version(v), 3);
	bundle(NULL, 2, w.targets_key, NULL, &b);
	ck_assert_int_eq(check(&b), -ESTALE);
	/* a damaged manifest is refused, not taken for "nothing installed" */
	ck_assert_int_eq(swu_state_save_manifest(ctx, state_dir, (const uint8_t *)"\xff\xff", 2),
			 0);
	ck_assert_int_eq(check(&b), -EBADMSG);
	swu_buf_done(&m);
	swu_buf_done(&b);
	swu_buf_done(&v3);
}
END_TEST

/* The manifest a device would persist for a verified @version bundle. */
static void manifest_of(uint32_t version, SwuBuf *out)
{
	TuVerify o = { .root = &w.root };
	SwuBuf b = {};

	bundle(NULL, version, w.targets_key, NULL, &b);
	ck_assert_int_eq(tu_verify_full(ctx, &o, &b, NULL, out), 0);
	swu_buf_done(&b);
}

static uint32_t floor_version(void)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;

	ck_assert_int_eq(swu_device_verifier(ctx, &dev, &v), 0);
	return swu_verifier_get_installed_version(v);
}

START_TEST(test_factory_manifest)
{
	_cleanup_free_ char *factory = tu_path("%s/manifest.pb", dir);
	_cleanup_free_ uint8_t *got = NULL;
	SwuBuf m3 = {}, m5 = {}, m6 = {}, b = {};
	size_t size;

	manifest_of(3, &m3);
	manifest_of(5, &m5);
	manifest_of(6, &m6);
	dev.factory_manifest = factory;
	/* neither file: nothing installed */
	ck_assert_int_eq(swu_device_manifest(ctx, &dev, &got, &size), -ENOENT);
	ck_assert_uint_eq(floor_version(), 0);
	/* a fresh (or wiped) state directory: the image's own manifest is the floor */
	ck_assert_int_eq(swu_write_file_atomic(factory, m5.data, m5.size, 0644), 0);
	ck_assert_uint_eq(floor_version(), 5);
	bundle(NULL, 4, w.targets_key, NULL, &b);
	ck_assert_int_eq(check(&b), -ESTALE);
	/* an older installed manifest does not lower it */
	ck_assert_int_eq(swu_state_save_manifest(ctx, state_dir, m3.data, m3.size), 0);
	ck_assert_uint_eq(floor_version(), 5);
	ck_assert_int_eq(check(&b), -ESTALE);
	/* a newer one (the image booted after a fallback is older than the installed release) */
	ck_assert_int_eq(swu_state_save_manifest(ctx, state_dir, m6.data, m6.size), 0);
	ck_assert_uint_eq(floor_version(), 6);
	ck_assert_int_eq(swu_device_manifest(ctx, &dev, &got, &size), 0);
	ck_assert(size == m6.size && memcmp(got, m6.data, size) == 0);
	/* a damaged factory manifest is an error, never "no floor" */
	tu_write_text(factory, "\xff\xff");
	swu_context_clear_failure(ctx);
	ck_assert_int_lt(swu_device_manifest(ctx, &dev, &(uint8_t *){ NULL }, &size), 0);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, factory));
	/* only a missing file means no floor: one that cannot be reached is an error */
	_cleanup_free_ char *unreachable = tu_path("%s/manifest.pb", factory);
	dev.factory_manifest = unreachable;
	ck_assert_int_eq(swu_device_manifest(ctx, &dev, &(uint8_t *){ NULL }, &size), -ENOTDIR);
	dev.factory_manifest = factory;
	/* with RequireVerity=yes it is read from dm-verity only, as the root is */
	ck_assert_int_eq(swu_write_file_atomic(factory, m5.data, m5.size, 0644), 0);
	dev.require_verity = true;
	dev.sysfs = dir;
	ck_assert_int_eq(swu_device_manifest(ctx, &dev, &(uint8_t *){ NULL }, &size), -EPERM);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "refusing to trust"));
	swu_buf_done(&m3);
	swu_buf_done(&m5);
	swu_buf_done(&m6);
	swu_buf_done(&b);
}
END_TEST

static int table(void *userdata, unsigned maj, unsigned min, char *type, size_t size)
{
	snprintf(type, size, "%s", (const char *)userdata);
	return 0;
}

START_TEST(test_verity)
{
	_cleanup_free_ char *sysfs = tu_path("%s/sys", dir), *dm = NULL, *name = NULL;
	SwuBuf b = {};
	struct stat st;

	bundle(NULL, 3, w.targets_key, NULL, &b);
	dev.require_verity = true;
	dev.sysfs = sysfs;
	ck_assert_int_eq(check(&b), -EPERM);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "refusing to trust '") ==
		  swu_context_get_failure(ctx)->message);
	ck_assert(strstr(swu_context_get_failure(ctx)->message, "not a device-mapper device"));
	/* the file's device is a device-mapper device of type verity: trusted */
	ck_assert_int_eq(stat(root_path, &st), 0);
	dm = tu_path("%s/dev/block/%u:%u/dm", sysfs, major(st.st_dev), minor(st.st_dev));
	ck_assert_int_eq(swu_mkdir_p(dm, 0755), 0);
	name = tu_path("%s/name", dm);
	/* as in sysfs, where every attribute has the size of a page */
	char page[4096] = "root\n";
	ck_assert_int_eq(swu_write_file_atomic(name, page, sizeof(page), 0644), 0);
	dev.dm_target = table;
	dev.userdata = (void *)"linear";
	ck_assert_int_eq(check(&b), -EPERM);
	dev.userdata = (void *)"verity";
	ck_assert_int_eq(check(&b), 0);
	swu_buf_done(&b);
}
END_TEST

START_TEST(test_commit_root)
{
	EVP_PKEY *nr = tu_key(), *nt = tu_key();
	EVP_PKEY *signers[] = { w.root_key, nr };
	SwuBuf root2 = {}, good = {}, revoked = {}, plain = {};

	tu_root_simple(2, nr, nt, signers, 2, &root2);
	/* Rotation with targets still signed by the old key: refused, but the root is kept. */
	bundle(&root2, 3, w.targets_key, NULL, &revoked);
	ck_assert_int_eq(check(&revoked), -EKEYREJECTED);
	ck_assert_uint_eq(committed, 1);
	ck_assert_uint_eq(committed_version, 2);
	ck_assert_int_eq(tu_count_files(state_dir), 1);
	/* The old targets key is revoked from now on, with or without the root in the bundle. */
	bundle(NULL, 3, w.targets_key, NULL, &plain);
	ck_assert_int_eq(check(&plain), -EKEYREJECTED);
	/* The new key verifies, and the same root again is nothing new to persist. */
	bundle(&root2, 3, nt, NULL, &good);
	ck_assert_int_eq(check(&good), 0);
	ck_assert_uint_eq(committed, 1);
	ck_assert_int_eq(tu_count_files(state_dir), 1);
	swu_buf_done(&root2);
	swu_buf_done(&good);
	swu_buf_done(&revoked);
	swu_buf_done(&plain);
	EVP_PKEY_free(nr);
	EVP_PKEY_free(nt);
}
END_TEST

/*
 * A targets key revoked by a rotation stays revoked: across restarts (a new verifier each time)
 * and 300 verifications of bundles carrying the new root or a different root of the same
 * version, with the state directory not growing.
 */
START_TEST(test_revocation_holds)
{
	EVP_PKEY *nt = tu_key();
	SwuBuf root2 = {}, root2b = {}, rotating = {}, undoing = {}, revoked = {};

	/* v2 revokes the targets key; v2b, of the same version, would bring it back */
	tu_root_simple(2, w.root_key, nt, &w.root_key, 1, &root2);
	tu_root_simple(2, w.root_key, w.targets_key, &w.root_key, 1, &root2b);
	bundle(&root2, 3, nt, NULL, &rotating);
	bundle(&root2b, 3, w.targets_key, NULL, &undoing);
	bundle(NULL, 3, w.targets_key, NULL, &revoked);
	ck_assert_int_eq(check(&rotating), 0);
	ck_assert_uint_eq(committed, 1);
	for (int i = 0; i < 150; i++) {
		ck_assert_int_eq(check(&undoing), -ESTALE);
		ck_assert_int_eq(check(&rotating), 0);
	}
	ck_assert_int_eq(check(&revoked), -EKEYREJECTED);
	ck_assert_int_eq(check(&undoing), -ESTALE);
	ck_assert_uint_eq(committed, 1);
	ck_assert_int_eq(tu_count_files(state_dir), 1);
	swu_buf_done(&root2);
	swu_buf_done(&root2b);
	swu_buf_done(&rotating);
	swu_buf_done(&undoing);
	swu_buf_done(&revoked);
	EVP_PKEY_free(nt);
}
END_TEST

/* The version of the root the device trusts now (factory root and persisted chain). */
static uint32_t trusted_version(void)
{
	_cleanup_free_ uint8_t *root = NULL;
	size_t size = 0;

	ck_assert_int_eq(swu_device_trusted_root(ctx, &dev, &root, &size), 0);
	return swu_root_version(ctx, root, size);
}

/* @links as root_chain, then @root and a release of @version signed by @key. */
static void chain_bundle(const SwuBuf *const *links, size_t n, const SwuBuf *root, uint32_t version,
			 EVP_PKEY *key, SwuBuf *out)
{
	for (size_t i = 0; i < n; i++)
		tu_put_root_link(out, links[i]);
	bundle(root, version, key, NULL, out);
}

/*
 * r[2..4] after the factory root (w.root, v1): root key k[v] and targets key t[v], signed by
 * k[v - 1] and k[v], so each rotation retires every key before it.
 */
typedef struct DevChain {
	EVP_PKEY *k[5], *t[5];
	SwuBuf r[5];
} DevChain;

static void dev_chain_init(DevChain *c)
{
	*c = (DevChain){};
	c->k[1] = w.root_key;
	for (int v = 2; v <= 4; v++) {
		c->k[v] = tu_key();
		c->t[v] = tu_key();
		EVP_PKEY *signers[] = { c->k[v - 1], c->k[v] };
		tu_root_simple((uint32_t)v, c->k[v], c->t[v], signers, 2, &c->r[v]);
	}
}

static void dev_chain_done(DevChain *c)
{
	for (int v = 2; v <= 4; v++) {
		EVP_PKEY_free(c->k[v]);
		EVP_PKEY_free(c->t[v]);
		swu_buf_done(&c->r[v]);
	}
}

/* Every link a bundle's chain moves the device through is persisted, in order. */
START_TEST(test_chain_commit)
{
	const SwuBuf *links[2];
	SwuBuf b = {}, plain = {};
	DevChain c;

	dev_chain_init(&c);
	links[0] = &c.r[2];
	links[1] = &c.r[3];
	chain_bundle(links, 2, &c.r[4], 3, c.t[4], &b);
	ck_assert_int_eq(check(&b), 0);
	ck_assert_uint_eq(committed, 3);
	ck_assert_uint_eq(committed_version, 4);
	ck_assert_int_eq(tu_count_files(state_dir), 3);
	ck_assert_uint_eq(trusted_version(), 4);
	ck_assert_uint_eq(warned, 0);
	/* from now on releases of v4 verify without any root in the bundle */
	bundle(NULL, 3, c.t[4], NULL, &plain);
	ck_assert_int_eq(check(&plain), 0);
	/* the same bundle again persists nothing */
	ck_assert_int_eq(check(&b), 0);
	ck_assert_uint_eq(committed, 3);
	ck_assert_int_eq(tu_count_files(state_dir), 3);
	swu_buf_done(&b);
	swu_buf_done(&plain);
	dev_chain_done(&c);
}
END_TEST

/* A device that already holds part of the chain persists only what it lacks. */
START_TEST(test_chain_commit_partial)
{
	const SwuBuf *links[] = { NULL, NULL };
	SwuBuf b = {};
	DevChain c;

	dev_chain_init(&c);
	links[0] = &c.r[2];
	links[1] = &c.r[3];
	ck_assert_int_eq(swu_state_save_root(ctx, state_dir, c.r[2].data, c.r[2].size), 1);
	ck_assert_uint_eq(trusted_version(), 2);
	chain_bundle(links, 2, &c.r[4], 3, c.t[4], &b);
	ck_assert_int_eq(check(&b), 0);
	ck_assert_uint_eq(committed, 2);
	ck_assert_int_eq(tu_count_files(state_dir), 3);
	ck_assert_uint_eq(trusted_version(), 4);
	swu_buf_done(&b);
	dev_chain_done(&c);
}
END_TEST

/* A hop that fails keeps the links before it, and nothing after. */
START_TEST(test_chain_commit_stops)
{
	EVP_PKEY *evil = tu_key();
	const SwuBuf *links[2];
	SwuBuf forged = {}, b = {}, skip = {};
	DevChain c;

	dev_chain_init(&c);
	{
		EVP_PKEY *signers[] = { evil, c.k[3] };

		tu_root_simple(3, c.k[3], c.t[3], signers, 2, &forged);
	}
	links[0] = &c.r[2];
	links[1] = &forged;
	chain_bundle(links, 2, &c.r[4], 3, c.t[4], &b);
	ck_assert_int_eq(check(&b), -EKEYREJECTED);
	ck_assert_str_eq(swu_context_get_failure(ctx)->message, "root chain: hop from version 2 to "
								"3: root metadata has 0 valid "
								"signatures by trusted root keys, "
								"1 required");
	ck_assert_uint_eq(committed, 1);
	ck_assert_uint_eq(committed_version, 2);
	ck_assert_int_eq(tu_count_files(state_dir), 1);
	ck_assert_uint_eq(trusted_version(), 2);
	/* a skipped hop likewise: v2 was kept, v4 does not follow from it */
	chain_bundle(links, 0, &c.r[4], 3, c.t[4], &skip);
	ck_assert_int_eq(check(&skip), -EKEYREJECTED);
	ck_assert_uint_eq(committed, 1);
	ck_assert_uint_eq(trusted_version(), 2);
	swu_buf_done(&forged);
	swu_buf_done(&b);
	swu_buf_done(&skip);
	EVP_PKEY_free(evil);
	dev_chain_done(&c);
}
END_TEST

/*
 * Rule 1, roots rotated by a new image: slot A's factory root F1 (w.root) with a persisted chain
 * to v3; the image of slot B carries F2 (version 5, new keys that no root before it signed).
 * Booted from B, the device trusts F2 and releases signed under it, and keeps rotations made
 * under F2; back on A (a fallback), it trusts F1's chain and never F2's keys.
 */
START_TEST(test_image_root)
{
	_cleanup_free_ char *f2_path = tu_path("%s/root-b.pb", dir);
	EVP_PKEY *fk = tu_key(), *ft = tu_key(), *fk6 = tu_key(), *ak = tu_key();
	const SwuBuf *links[1];
	SwuBuf f2 = {}, f2v6 = {}, b = {}, under_f2 = {}, under_f1 = {}, rotate = {}, a6 = {};
	DevChain c;

	dev_chain_init(&c);
	tu_root_simple(5, fk, ft, &fk, 1, &f2);
	{
		EVP_PKEY *signers[] = { fk, fk6 };

		tu_root_simple(6, fk6, ft, signers, 2, &f2v6);
	}
	ck_assert_int_eq(swu_write_file_atomic(f2_path, f2.data, f2.size, 0644), 0);
	/* slot A: the chain to v3 */
	links[0] = &c.r[2];
	chain_bundle(links, 1, &c.r[3], 3, c.t[3], &b);
	ck_assert_int_eq(check(&b), 0);
	ck_assert_uint_eq(trusted_version(), 3);
	bundle(NULL, 4, ft, NULL, &under_f2);
	bundle(NULL, 4, c.t[3], NULL, &under_f1);
	ck_assert_int_eq(check(&under_f2), -EKEYREJECTED);

	/* slot B booted: its factory root is the anchor; the older links are skipped silently */
	dev.root_metadata = f2_path;
	warned = 0;
	ck_assert_uint_eq(trusted_version(), 5);
	ck_assert_uint_eq(warned, 0);
	ck_assert_int_eq(check(&under_f2), 0);
	ck_assert_int_eq(check(&under_f1), -EKEYREJECTED);
	/* a rotation under F2 is persisted after F1's links */
	chain_bundle(links, 0, &f2v6, 4, ft, &rotate);
	ck_assert_int_eq(check(&rotate), 0);
	ck_assert_uint_eq(committed_version, 6);
	ck_assert_uint_eq(trusted_version(), 6);

	/* fallback to slot A: F1 and its chain; F2's link does not follow from v3 and is ignored */
	dev.root_metadata = root_path;
	warned = 0;
	ck_assert_uint_eq(trusted_version(), 3);
	ck_assert_uint_eq(warned, 1);
	ck_assert_int_eq(check(&under_f2), -EKEYREJECTED);
	ck_assert_int_eq(check(&rotate), -EKEYREJECTED);
	ck_assert_int_eq(check(&under_f1), 0);
	ck_assert_uint_eq(trusted_version(), 3);
	/* and B again: still F2's chain */
	dev.root_metadata = f2_path;
	ck_assert_uint_eq(trusted_version(), 6);

	/*
	 * Rotations under F1 after another fallback (v4, then a6 of version 6, persisted after F2's
	 * v6): neither slot's repair at start removes the other lineage's links, though they are not
	 * newer than the other lineage's newest (a6 is newer than F2 itself, so B judges it, and
	 * finds it was not signed from any root B trusted).
	 */
	dev.root_metadata = root_path;
	{
		EVP_PKEY *signers[] = { c.k[4], ak };
		const SwuBuf *chain[] = { &c.r[3], &c.r[4] };

		tu_root_simple(6, ak, c.t[4], signers, 2, &a6);
		swu_buf_done(&b);
		chain_bundle(chain, 2, &a6, 4, c.t[4], &b);
	}
	ck_assert_int_eq(check(&b), 0);
	ck_assert_uint_eq(trusted_version(), 6);
	ck_assert_int_eq(swu_device_repair(ctx, &dev), 0);
	dev.root_metadata = f2_path;
	ck_assert_int_eq(swu_device_repair(ctx, &dev), 0);
	ck_assert_uint_eq(trusted_version(), 6);
	ck_assert_int_eq(check(&under_f2), 0);
	dev.root_metadata = root_path;
	ck_assert_int_eq(tu_count_files(state_dir), 5);
	ck_assert_uint_eq(trusted_version(), 6);
	ck_assert_int_eq(check(&under_f2), -EKEYREJECTED);
	ck_assert_int_eq(check(&under_f1), -EKEYREJECTED); /* v3's targets key, rotated out by v4 */
	swu_buf_done(&f2);
	swu_buf_done(&f2v6);
	swu_buf_done(&b);
	swu_buf_done(&under_f2);
	swu_buf_done(&under_f1);
	swu_buf_done(&rotate);
	swu_buf_done(&a6);
	EVP_PKEY_free(ak);
	EVP_PKEY_free(fk);
	EVP_PKEY_free(ft);
	EVP_PKEY_free(fk6);
	dev_chain_done(&c);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "verifier", test_verifier },
		{ "device-now", test_device_now },
		{ "installed-manifest", test_installed_manifest },
		{ "factory-manifest", test_factory_manifest },
		{ "verity", test_verity },
		{ "commit-root", test_commit_root, 60 },
		{ "revocation-holds", test_revocation_holds, 120 },
		{ "chain-commit", test_chain_commit, 60 },
		{ "chain-commit-partial", test_chain_commit_partial, 60 },
		{ "chain-commit-stops", test_chain_commit_stops, 60 },
		{ "image-root", test_image_root, 60 },
	};

	return tu_run("device", cases, ELEMENTSOF(cases), setup, teardown);
}
