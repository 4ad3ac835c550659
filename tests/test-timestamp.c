/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rule 3t (docs/bundle-format.md): a trusted root that declares a timestamp role requires, with
 * every release, timestamp metadata signed to its threshold by the root's timestamp keys, of role
 * "timestamp", not expired, not older than the version accepted before, naming exactly the targets
 * metadata of the bundle. A root without the role reads no timestamp. The root's soundness: the
 * timestamp keys are registered and shared with no other role; a snapshot role is refused.
 * Time: expiry is never checked against a clock earlier than the newest signed time verified
 * before. Rollouts: what the online key's timestamp says of the release, and each device's draw.
 */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "crypto.h"
#include "metadata.h"
#include "testutil.h"
#include "tuf.h"

#define NOW	 1800000000 /* 2027-01-15 */
#define TOMORROW (NOW + 86400)

static SwuContext *ctx;
static time_t now = NOW;
static int64_t time_floor; /* what the device verified as signed before: verify() sets it */
static EVP_PKEY *root_key, *targets_key, *stamp_key, *other_key;

static void setup(void)
{
	ctx = tu_context();
	now = NOW;
	time_floor = 0;
	swu_context_set_clock(ctx, tu_clock, &now);
	root_key = tu_key();
	targets_key = tu_key();
	stamp_key = tu_key();
	other_key = tu_key();
}

static void teardown(void)
{
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(targets_key);
	EVP_PKEY_free(stamp_key);
	EVP_PKEY_free(other_key);
	swu_context_unref(ctx);
}

/*
 * A root v1 signed by root_key, with targets_key for targets and, when @threshold > 0, @stamp as
 * the timestamp role's key (with @threshold); @share puts the timestamp requirement on the
 * targets key instead, @snapshot declares a snapshot role too.
 */
static void make_root(EVP_PKEY *stamp, uint32_t threshold, bool share, bool snapshot, SwuBuf *out)
{
	_cleanup_(swu_signed_root_freep) SwuSignedRoot *s = NULL;
	_cleanup_(swu_root_metadata_freep) SwuRootMetadata *rm = NULL;
	SwuRequirement ts = PW__SOFTWARE_UPDATE__SIGNATURE_REQUIREMENT__INIT;
	SwuRequirement sn = PW__SOFTWARE_UPDATE__SIGNATURE_REQUIREMENT__INIT;
	EVP_PKEY *keys[] = { targets_key, stamp };
	SwuBuf base = {};
	SwuRequirement *tr, *orig_ts, *orig_sn;
	ProtobufCBinaryData id;
	SwuRootSpec spec = { .root_keys = &root_key,
			     .n_root = 1,
			     .targets_keys = keys,
			     .n_targets = 2,
			     .version = 1,
			     .root_threshold = 1,
			     .targets_threshold = 1 };
	size_t n;

	ck_assert_int_eq(swu_root_create(&spec, &base), 0);
	ck_assert_int_eq(swu_root_decode(ctx, base.data, base.size, &s, &rm), 0);
	tr = rm->targets_signature_requirement;
	n = tr->n_key_ids;
	id = share ? tr->key_ids[0] : tr->key_ids[1];
	tr->n_key_ids = 1; /* the targets role keeps targets_key only */
	ts.key_ids = &id;
	ts.n_key_ids = threshold > 0 ? 1 : 0;
	ts.threshold = threshold;
	sn.key_ids = &id;
	sn.n_key_ids = 1;
	sn.threshold = 1;
	orig_ts = rm->timestamp_signature_requirement;
	orig_sn = rm->snapshot_signature_requirement;
	rm->timestamp_signature_requirement = &ts;
	if (snapshot)
		rm->snapshot_signature_requirement = &sn;
	tu_root_raw(rm, &root_key, 1, out);
	/* protobuf-c owns what was there */
	rm->timestamp_signature_requirement = orig_ts;
	rm->snapshot_signature_requirement = orig_sn;
	tr->n_key_ids = n;
	swu_buf_done(&base);
}

/* Targets v@version with one file, signed by targets_key. */
static void make_targets(uint32_t version, SwuBuf *out)
{
	TuTargetsSpec spec = { .version = version };

	spec.files[spec.n_files++] = (TuFile){ "rootfs", tu_rootfs, sizeof(tu_rootfs) };
	spec.signers[spec.n_signers++] = targets_key;
	tu_targets(&spec, out);
}

/*
 * Timestamp @spec (version, expiry, signed_at, rollout) naming @targets (its version, length and
 * hash, with @hash_flip XORed into the first byte of the hash), signed by @signer (none when NULL).
 */
static void make_timestamp_spec(SwuTimestampSpec spec, const SwuBuf *targets, uint8_t hash_flip,
				EVP_PKEY *signer, SwuBuf *out)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	uint8_t sha[SWU_SHA256_SIZE];

	ck_assert_int_eq(swu_targets_decode(ctx, targets->data, targets->size, &s, &t), 0);
	ck_assert_int_eq(swu_sha256(s->serialized_targets_metadata.data,
				    s->serialized_targets_metadata.len, sha),
			 0);
	sha[0] ^= hash_flip;
	spec.targets_version = t->common_metadata->version;
	spec.targets_length = s->serialized_targets_metadata.len;
	spec.targets_sha256 = sha;
	ck_assert_int_eq(swu_timestamp_create(&spec, out), 0);
	if (signer)
		tu_sign(SWU_SIGNED_TIMESTAMP, signer, out);
}

static void make_timestamp(uint32_t version, int64_t expires, const SwuBuf *targets,
			   uint8_t hash_flip, EVP_PKEY *signer, SwuBuf *out)
{
	make_timestamp_spec((SwuTimestampSpec){ .version = version, .expires = expires }, targets,
			    hash_flip, signer, out);
}

/* The bundle: timestamp (field 1) when given, targets, the payload. */
static void make_bundle(const SwuBuf *timestamp, const SwuBuf *targets, SwuBuf *out)
{
	if (timestamp)
		ck_assert_int_eq(swu_buf_put_len_field(out, 1, timestamp->data, timestamp->size),
				 0);
	tu_put_targets(out, "targets", targets);
	tu_put_payload(out, "rootfs", tu_rootfs, sizeof(tu_rootfs));
}

/* Verifies @bundle against @root with timestamp floor @floor, from a file. */
static int verify(const SwuBuf *root, uint32_t floor, const SwuBuf *bundle)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	int fd = tu_memfd(bundle->data, bundle->size), r;

	ck_assert_int_eq(swu_verifier_new(ctx, root->data, root->size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_set_timestamp_floor(v, floor), 0);
	ck_assert_int_eq(swu_verifier_set_time_floor(v, time_floor), 0);
	r = swu_bundle_open_fd(ctx, fd, &b);
	if (r >= 0)
		r = swu_bundle_verify(b, v);
	close(fd);
	return r;
}

static void assert_reason(const char *want)
{
	const char *got = swu_context_get_failure(ctx)->message;

	ck_assert_msg(strstr(got, want), "reason '%s' does not contain '%s'", got, want);
}

START_TEST(test_good)
{
	SwuBuf root = {}, targets = {}, ts = {}, bundle = {};
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_timestamp(7, TOMORROW, &targets, 0, stamp_key, &ts);
	make_bundle(&ts, &targets, &bundle);
	ck_assert_int_eq(verify(&root, 6, &bundle), 0);
	ck_assert_int_eq(verify(&root, 7, &bundle), 0); /* the same timestamp again */
	/* what the caller persists */
	ck_assert_int_eq(swu_verifier_new(ctx, root.data, root.size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_check_timestamp(v, ts.data, ts.size), 0);
	ck_assert_uint_eq(swu_verifier_get_timestamp_version(v), 7);
	ck_assert_int_eq(swu_verifier_get_timestamp_expires(v), TOMORROW);
	ck_assert_int_eq(swu_verifier_check_targets(v, targets.data, targets.size), 0);
	ck_assert_int_eq(swu_verifier_check_timestamp(v, ts.data, ts.size), -EALREADY);
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
	swu_buf_done(&bundle);
}
END_TEST

START_TEST(test_missing)
{
	SwuBuf root = {}, targets = {}, bundle = {};

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_bundle(NULL, &targets, &bundle);
	ck_assert_int_eq(verify(&root, 0, &bundle), -EBADMSG);
	assert_reason("bundle has no timestamp metadata, which the trusted root requires "
		      "(threshold 1)");
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&bundle);
}
END_TEST

/* The release side publishes before the online signer stamps: self-verification asks for none. */
START_TEST(test_self_without)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	SwuBuf root = {}, targets = {}, bundle = {};
	int fd;

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	tu_put_root(&bundle, &root);
	make_bundle(NULL, &targets, &bundle);
	fd = tu_memfd(bundle.data, bundle.size);
	ck_assert_int_eq(swu_verifier_new(ctx, NULL, 0, SWU_VERIFY_SELF, &v), 0);
	ck_assert_int_eq(swu_bundle_open_fd(ctx, fd, &b), 0);
	ck_assert_int_eq(swu_bundle_verify(b, v), 0);
	ck_assert_uint_eq(swu_verifier_get_timestamp_version(v), 0);
	close(fd);
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&bundle);
}
END_TEST

START_TEST(test_expired)
{
	SwuBuf root = {}, targets = {}, ts = {}, bundle = {};

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_timestamp(7, NOW, &targets, 0, stamp_key, &ts); /* expires at this second */
	make_bundle(&ts, &targets, &bundle);
	ck_assert_int_eq(verify(&root, 0, &bundle), -EKEYEXPIRED);
	assert_reason("timestamp metadata expired at 2027-01-15 08:00:00 UTC (now 2027-01-15 "
		      "08:00:00 UTC)");
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
	swu_buf_done(&bundle);
}
END_TEST

START_TEST(test_rollback)
{
	SwuBuf root = {}, targets = {}, ts = {}, bundle = {};

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_timestamp(7, TOMORROW, &targets, 0, stamp_key, &ts);
	make_bundle(&ts, &targets, &bundle);
	ck_assert_int_eq(verify(&root, 8, &bundle), -ESTALE);
	assert_reason("timestamp metadata version 7 is older than version 8 accepted before");
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
	swu_buf_done(&bundle);
}
END_TEST

START_TEST(test_threshold)
{
	SwuBuf root = {}, targets = {}, unsigned_ts = {}, wrong_ts = {}, targets_ts = {}, b1 = {},
	       b2 = {}, b3 = {};

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_timestamp(7, TOMORROW, &targets, 0, NULL, &unsigned_ts);
	make_timestamp(7, TOMORROW, &targets, 0, other_key, &wrong_ts);
	/* the offline targets key is no timestamp key */
	make_timestamp(7, TOMORROW, &targets, 0, targets_key, &targets_ts);
	make_bundle(&unsigned_ts, &targets, &b1);
	make_bundle(&wrong_ts, &targets, &b2);
	make_bundle(&targets_ts, &targets, &b3);
	ck_assert_int_eq(verify(&root, 0, &b1), -EKEYREJECTED);
	assert_reason("timestamp metadata has 0 valid signatures by trusted timestamp keys, 1 "
		      "required");
	ck_assert_int_eq(verify(&root, 0, &b2), -EKEYREJECTED);
	ck_assert_int_eq(verify(&root, 0, &b3), -EKEYREJECTED);
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&unsigned_ts);
	swu_buf_done(&wrong_ts);
	swu_buf_done(&targets_ts);
	swu_buf_done(&b1);
	swu_buf_done(&b2);
	swu_buf_done(&b3);
}
END_TEST

/* The timestamp names other targets metadata: another hash, another version. */
START_TEST(test_binding)
{
	SwuBuf root = {}, targets = {}, older = {}, ts = {}, ts_hash = {}, b1 = {}, b2 = {};

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_targets(2, &older);
	make_timestamp(7, TOMORROW, &targets, 1, stamp_key, &ts_hash);
	make_timestamp(7, TOMORROW, &targets, 0, stamp_key, &ts);
	make_bundle(&ts_hash, &targets, &b1);
	make_bundle(&ts, &older, &b2); /* a frozen or mixed-up server: old targets, fresh stamp */
	ck_assert_int_eq(verify(&root, 0, &b1), -EBADMSG);
	assert_reason(", another SHA-256)");
	ck_assert_int_eq(verify(&root, 0, &b2), -EBADMSG);
	assert_reason("targets metadata version 2");
	assert_reason("is not the one the timestamp names (version 3");
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&older);
	swu_buf_done(&ts);
	swu_buf_done(&ts_hash);
	swu_buf_done(&b1);
	swu_buf_done(&b2);
}
END_TEST

/* A root without the role reads no timestamp: Pigweed's bundles, with or without one. */
START_TEST(test_not_required)
{
	SwuBuf root = {}, targets = {}, ts = {}, b1 = {}, b2 = {};

	make_root(stamp_key, 0, false, false, &root);
	make_targets(3, &targets);
	make_timestamp(7, NOW - 1, &targets, 1, NULL, &ts); /* expired, unsigned, wrong hash */
	make_bundle(&ts, &targets, &b1);
	make_bundle(NULL, &targets, &b2);
	ck_assert_int_eq(verify(&root, 100, &b1), 0);
	ck_assert_int_eq(verify(&root, 100, &b2), 0);
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
	swu_buf_done(&b1);
	swu_buf_done(&b2);
}
END_TEST

START_TEST(test_root_soundness)
{
	SwuBuf shared = {}, snapshot = {};
	SwuVerifier *v = NULL;

	make_root(stamp_key, 1, true, false, &shared);
	ck_assert_int_eq(swu_verifier_new(ctx, shared.data, shared.size, 0, &v), -EBADMSG);
	assert_reason("a timestamp key is also a targets key");
	make_root(stamp_key, 1, false, true, &snapshot);
	ck_assert_int_eq(swu_verifier_new(ctx, snapshot.data, snapshot.size, 0, &v), -EBADMSG);
	assert_reason("declares a snapshot role");
	swu_buf_done(&shared);
	swu_buf_done(&snapshot);
}
END_TEST

/*
 * A board without RTC battery starts in 1970: without a floor, a timestamp that expired a day ago
 * would look current (a freeze that never ends). With the newest signed time the device verified
 * as the floor, it is refused, and the message gives the time expiry was checked against.
 */
START_TEST(test_clock_set_back)
{
	SwuBuf root = {}, targets = {}, ts = {}, bundle = {};

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_timestamp_spec((SwuTimestampSpec){ .version = 7,
						.expires = NOW - 86400,
						.signed_at = NOW - 2 * 86400 },
			    &targets, 0, stamp_key, &ts);
	make_bundle(&ts, &targets, &bundle);
	now = 10; /* 1970-01-01 00:00:10 */
	ck_assert_int_eq(verify(&root, 0, &bundle), 0);
	time_floor = NOW - 3600; /* a timestamp signed an hour ago was verified before */
	ck_assert_int_eq(verify(&root, 0, &bundle), -EKEYEXPIRED);
	assert_reason("timestamp metadata expired at 2027-01-14 08:00:00 UTC (now 2027-01-15 "
		      "07:00:00 UTC)");
	/* a clock ahead of the floor is the clock */
	now = NOW + 86400 * 365;
	time_floor = NOW - 3600;
	ck_assert_int_eq(verify(&root, 0, &bundle), -EKEYEXPIRED);
	assert_reason("(now 2028-01-15 08:00:00 UTC)");
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
	swu_buf_done(&bundle);
}
END_TEST

/* The signed time a device persists: the newest signed_at, once the whole metadata verified. */
START_TEST(test_signed_time)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	TuTargetsSpec spec = { .version = 3, .expires = TOMORROW, .signed_at = NOW - 600 };
	SwuBuf root = {}, targets = {}, ts = {};

	make_root(stamp_key, 1, false, false, &root);
	spec.files[spec.n_files++] = (TuFile){ "rootfs", tu_rootfs, sizeof(tu_rootfs) };
	spec.signers[spec.n_signers++] = targets_key;
	tu_targets(&spec, &targets);
	make_timestamp_spec(
		(SwuTimestampSpec){ .version = 7, .expires = TOMORROW, .signed_at = NOW - 60 },
		&targets, 0, stamp_key, &ts);
	ck_assert_int_eq(swu_verifier_new(ctx, root.data, root.size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_check_timestamp(v, ts.data, ts.size), 0);
	ck_assert_int_eq(swu_verifier_get_signed_time(v), 0); /* not before rule 3 passed */
	ck_assert_int_eq(swu_verifier_check_targets(v, targets.data, targets.size), 0);
	ck_assert_int_eq(swu_verifier_get_signed_time(v), NOW - 60);
	swu_buf_done(&ts);
	v = swu_verifier_free(v);
	/* the targets' own, when newer */
	make_timestamp_spec(
		(SwuTimestampSpec){ .version = 8, .expires = TOMORROW, .signed_at = NOW - 900 },
		&targets, 0, stamp_key, &ts);
	ck_assert_int_eq(swu_verifier_new(ctx, root.data, root.size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_check_timestamp(v, ts.data, ts.size), 0);
	ck_assert_int_eq(swu_verifier_check_targets(v, targets.data, targets.size), 0);
	ck_assert_int_eq(swu_verifier_get_signed_time(v), NOW - 600);
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
}
END_TEST

/* A signer's clock far ahead would drag every device's floor with it: signed_at must come before
 * the metadata's own expiry, or the metadata is malformed. */
START_TEST(test_signed_after_expiry)
{
	SwuBuf root = {}, targets = {}, ts = {}, bundle = {};

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_timestamp_spec(
		(SwuTimestampSpec){ .version = 7, .expires = TOMORROW, .signed_at = TOMORROW },
		&targets, 0, stamp_key, &ts);
	make_bundle(&ts, &targets, &bundle);
	ck_assert_int_eq(verify(&root, 0, &bundle), -EBADMSG);
	assert_reason("timestamp metadata says it was signed at 2027-01-16 08:00:00 UTC, not "
		      "before "
		      "it expires at 2027-01-16 08:00:00 UTC");
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
	swu_buf_done(&bundle);
}
END_TEST

/*
 * A stolen timestamp key signed the highest version: a root that replaces the key lifts the old
 * key's floor (TUF 5.3.11), and the caller is told to replace, not raise, what it keeps. A root
 * rotation that keeps the key keeps the floor.
 */
START_TEST(test_key_rotation_resets_floor)
{
	EVP_PKEY *keys[] = { targets_key };
	SwuBuf root1 = {}, root2 = {}, same2 = {}, targets = {}, ts = {}, bundle = {}, b2 = {};
	SwuRootSpec spec = { .root_keys = &root_key,
			     .n_root = 1,
			     .targets_keys = keys,
			     .n_targets = 1,
			     .timestamp_keys = &other_key,
			     .n_timestamp = 1,
			     .version = 2,
			     .root_threshold = 1,
			     .targets_threshold = 1,
			     .timestamp_threshold = 1 };
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	int fd;

	make_root(stamp_key, 1, false, false, &root1);
	ck_assert_int_eq(swu_root_create(&spec, &root2), 0);
	tu_sign(SWU_SIGNED_ROOT, root_key, &root2);
	spec.timestamp_keys = &stamp_key;
	ck_assert_int_eq(swu_root_create(&spec, &same2), 0);
	tu_sign(SWU_SIGNED_ROOT, root_key, &same2);
	make_targets(3, &targets);
	/* the new key starts low again */
	make_timestamp(5, TOMORROW, &targets, 0, other_key, &ts);
	tu_put_root(&bundle, &root2);
	make_bundle(&ts, &targets, &bundle);
	fd = tu_memfd(bundle.data, bundle.size);
	ck_assert_int_eq(swu_verifier_new(ctx, root1.data, root1.size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_set_timestamp_floor(v, UINT32_MAX), 0);
	ck_assert_int_eq(swu_bundle_open_fd(ctx, fd, &b), 0);
	ck_assert_int_eq(swu_bundle_verify(b, v), 0);
	ck_assert(swu_verifier_timestamp_keys_rotated(v));
	ck_assert_uint_eq(swu_verifier_get_timestamp_version(v), 5);
	close(fd);
	/* the same key in a new root: the floor holds */
	swu_buf_done(&ts);
	make_timestamp(5, TOMORROW, &targets, 0, stamp_key, &ts);
	tu_put_root(&b2, &same2);
	make_bundle(&ts, &targets, &b2);
	ck_assert_int_eq(verify(&root1, 6, &b2), -ESTALE);
	assert_reason("timestamp metadata version 5 is older than version 6 accepted before");
	swu_buf_done(&root1);
	swu_buf_done(&root2);
	swu_buf_done(&same2);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
	swu_buf_done(&bundle);
	swu_buf_done(&b2);
}
END_TEST

/* The rollout the online key signed comes out of the verifier as it went in. */
START_TEST(test_rollout_carried)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	SwuBuf root = {}, targets = {}, ts = {};
	SwuRollout got;

	make_root(stamp_key, 1, false, false, &root);
	make_targets(3, &targets);
	make_timestamp_spec((SwuTimestampSpec){ .version = 7,
						.expires = TOMORROW,
						.rollout = { .set = true,
							     .percent = 20,
							     .start = NOW + 60,
							     .halted = false } },
			    &targets, 0, stamp_key, &ts);
	ck_assert_int_eq(swu_verifier_new(ctx, root.data, root.size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_check_timestamp(v, ts.data, ts.size), 0);
	ck_assert_int_eq(swu_verifier_get_rollout(v, &got), 0);
	ck_assert(got.set && got.percent == 20 && got.start == NOW + 60 && !got.halted);
	swu_buf_done(&ts);
	v = swu_verifier_free(v);
	/* none: every device */
	make_timestamp(8, TOMORROW, &targets, 0, stamp_key, &ts);
	ck_assert_int_eq(swu_verifier_new(ctx, root.data, root.size, 0, &v), 0);
	ck_assert_int_eq(swu_verifier_check_timestamp(v, ts.data, ts.size), 0);
	ck_assert_int_eq(swu_verifier_get_rollout(v, &got), 0);
	ck_assert(!got.set);
	ck_assert_int_eq(swu_rollout_decide(&got, 9999, NOW), SWU_ROLLOUT_IN);
	swu_buf_done(&root);
	swu_buf_done(&targets);
	swu_buf_done(&ts);
}
END_TEST

/*
 * Each device's draw: stable (the same release renewed keeps it), uniform enough that a
 * percentage is that share of a fleet (within a point over 10,000 machine ids), and reshuffled
 * by another release.
 */
START_TEST(test_rollout_draw)
{
	const uint32_t a = 7, b = 8; /* two releases */
	const uint32_t percents[] = { 1, 10, 50 };
	unsigned in[3] = {}, both = 0;
	char id[40];

	for (unsigned i = 0; i < 10000; i++) {
		uint32_t da, db;

		snprintf(id, sizeof(id), "%032x", i * 2654435761u);
		da = swu_rollout_draw(id, a);
		ck_assert_uint_eq(da, swu_rollout_draw(id, a));
		ck_assert_uint_lt(da, 10000);
		db = swu_rollout_draw(id, b);
		for (size_t k = 0; k < 3; k++)
			in[k] += swu_rollout_decide(&(SwuRollout){ .set = true,
								   .percent = percents[k] },
						    da, NOW) == SWU_ROLLOUT_IN;
		both += da < 1000 && db < 1000;
	}
	for (size_t k = 0; k < 3; k++)
		ck_assert_msg(in[k] >= percents[k] * 100 - 100 && in[k] <= percents[k] * 100 + 100,
			      "%u%%: %u of 10000 devices", percents[k], in[k]);
	/* 10% of one release and 10% of the next are mostly other devices: about 1% are in both */
	ck_assert_msg(both < 200, "%u devices in the first 10%% of both releases", both);
	/* 0% holds everyone, 100% takes everyone; halt and start override the percentage */
	ck_assert_int_eq(swu_rollout_decide(&(SwuRollout){ .set = true }, 0, NOW),
			 SWU_ROLLOUT_NOT_YET);
	ck_assert_int_eq(swu_rollout_decide(&(SwuRollout){ .set = true, .percent = 100 }, 9999,
					    NOW),
			 SWU_ROLLOUT_IN);
	ck_assert_int_eq(
		swu_rollout_decide(&(SwuRollout){ .set = true, .percent = 100, .halted = true }, 0,
				   NOW),
		SWU_ROLLOUT_HALTED);
	ck_assert_int_eq(
		swu_rollout_decide(&(SwuRollout){ .set = true, .percent = 100, .start = NOW + 1 },
				   0, NOW),
		SWU_ROLLOUT_NOT_STARTED);
	ck_assert_int_eq(
		swu_rollout_decide(&(SwuRollout){ .set = true, .percent = 100, .start = NOW }, 0,
				   NOW),
		SWU_ROLLOUT_IN);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "good", test_good, 60 },
		{ "missing", test_missing, 60 },
		{ "self-without", test_self_without, 60 },
		{ "expired", test_expired, 60 },
		{ "rollback", test_rollback, 60 },
		{ "threshold", test_threshold, 60 },
		{ "binding", test_binding, 60 },
		{ "not-required", test_not_required, 60 },
		{ "root-soundness", test_root_soundness, 60 },
		{ "clock-set-back", test_clock_set_back, 60 },
		{ "signed-time", test_signed_time, 60 },
		{ "signed-after-expiry", test_signed_after_expiry, 60 },
		{ "rollout-carried", test_rollout_carried, 60 },
		{ "key-rotation-resets-floor", test_key_rotation_resets_floor, 60 },
		{ "rollout-draw", test_rollout_draw, 60 },
	};

	return tu_run("timestamp", cases, sizeof(cases) / sizeof(cases[0]), setup, teardown);
}
