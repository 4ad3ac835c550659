/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keys, key ids and signatures in the forms pw_software_update uses, checked against openssl(1). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "fileio.h"
#include "macro.h"
#include "testutil.h"

static SwuContext *ctx;
static char *dir;

static void setup(void)
{
	ctx = tu_context();
	dir = tu_tmpdir("crypto");
}

static void teardown(void)
{
	tu_rm_rf(dir);
	dir = (free(dir), NULL);
	ctx = swu_context_unref(ctx);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

START_TEST(test_sha256)
{
	/* SHA-256("abc") from FIPS 180-2. */
	static const char want[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"
				   "d";
	uint8_t h[32];
	char hex[65];
	SwuSha256 s;

	ck_assert_int_eq(swu_sha256("abc", 3, h), 0);
	swu_hex(h, 32, hex);
	ck_assert_str_eq(hex, want);
	ck_assert_int_eq(swu_sha256_init(&s), 0);
	ck_assert_int_eq(swu_sha256_update(&s, "a", 1), 0);
	ck_assert_int_eq(swu_sha256_update(&s, "bc", 2), 0);
	ck_assert_int_eq(swu_sha256_final(&s, h), 0);
	swu_sha256_done(&s);
	swu_hex(h, 32, hex);
	ck_assert_str_eq(hex, want);
}
END_TEST

START_TEST(test_sign_verify)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = tu_key();
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *other = tu_key();
	uint8_t sig[64], bad[65];

	ck_assert_int_eq(swu_sign(k, (const uint8_t *)"msg", 3, sig), 0);
	ck_assert_int_eq(swu_verify(k, (const uint8_t *)"msg", 3, sig, 64), 0);
	ck_assert_int_eq(swu_verify(k, (const uint8_t *)"msh", 3, sig, 64), -EKEYREJECTED);
	ck_assert_int_eq(swu_verify(other, (const uint8_t *)"msg", 3, sig, 64), -EKEYREJECTED);
	/* Exactly 64 bytes, never a crash on anything else. */
	memcpy(bad, sig, 64);
	bad[64] = 0;
	ck_assert_int_eq(swu_verify(k, (const uint8_t *)"msg", 3, bad, 65), -EKEYREJECTED);
	ck_assert_int_eq(swu_verify(k, (const uint8_t *)"msg", 3, sig, 63), -EKEYREJECTED);
	ck_assert_int_eq(swu_verify(k, (const uint8_t *)"msg", 3, NULL, 0), -EKEYREJECTED);
	memset(bad, 0, sizeof(bad));
	ck_assert_int_eq(swu_verify(k, (const uint8_t *)"msg", 3, bad, 64), -EKEYREJECTED);
	memset(bad, 0xff, sizeof(bad));
	ck_assert_int_eq(swu_verify(k, (const uint8_t *)"msg", 3, bad, 64), -EKEYREJECTED);
}
END_TEST

START_TEST(test_keyval_and_key_id)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = tu_key();
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
	uint8_t kv[65], id[32], want[32], buf[67];
	uint8_t sig[64];

	ck_assert_int_eq(swu_key_get_keyval(k, kv), 0);
	ck_assert_int_eq(kv[0], 0x04);
	/* key_id = SHA-256(key_type || scheme || keyval) */
	buf[0] = 3;
	buf[1] = 3;
	memcpy(buf + 2, kv, 65);
	ck_assert_int_eq(swu_sha256(buf, sizeof(buf), want), 0);
	ck_assert_int_eq(swu_key_id_of(k, id), 0);
	ck_assert_mem_eq(id, want, 32);
	/* The point round-trips into a key that verifies the private key's signatures. */
	ck_assert_int_eq(swu_key_from_keyval(kv, 65, &pub), 0);
	ck_assert_int_eq(swu_sign(k, kv, 65, sig), 0);
	ck_assert_int_eq(swu_verify(pub, kv, 65, sig, 64), 0);
	/* Compressed form, short, and off-curve points are refused. */
	EVP_PKEY *tmp = NULL;
	ck_assert_int_eq(swu_key_from_keyval(kv, 64, &tmp), -EBADMSG);
	kv[0] = 0x02;
	ck_assert_int_eq(swu_key_from_keyval(kv, 65, &tmp), -EBADMSG);
	kv[0] = 0x04;
	kv[64] ^= 1;
	ck_assert_int_eq(swu_key_from_keyval(kv, 65, &tmp), -EBADMSG);
	ck_assert_ptr_null(tmp);
}
END_TEST

START_TEST(test_signature_forms)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	uint8_t raw[64], again[64];
	size_t der_size;
	char path[256];

	/* openssl signs with DER; the raw r||s form derived from it verifies. */
	ck_assert_int_eq(sh("cd %s && openssl genpkey -algorithm EC -pkeyopt "
			    "ec_paramgen_curve:P-256 "
			    "-out k.pem 2>/dev/null && chmod 600 k.pem && printf hello > msg && "
			    "openssl dgst -sha256 -sign k.pem -out sig.der msg",
			    dir),
			 0);
	snprintf(path, sizeof(path), "%s/k.pem", dir);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), 0);
	snprintf(path, sizeof(path), "%s/sig.der", dir);
	ck_assert_int_eq(swu_read_file(path, 1024, &der, &der_size), 0);
	ck_assert_int_eq(swu_signature_to_raw(der, der_size, raw), 0);
	ck_assert_int_eq(swu_verify(k, (const uint8_t *)"hello", 5, raw, 64), 0);
	/* Raw input passes through unchanged. */
	ck_assert_int_eq(swu_signature_to_raw(raw, 64, again), 0);
	ck_assert_mem_eq(raw, again, 64);
	ck_assert_int_eq(swu_signature_to_raw(der, der_size - 1, again), -EBADMSG);
	ck_assert_int_eq(swu_signature_to_raw(der, 3, again), -EBADMSG);
}
END_TEST

START_TEST(test_pem_interop)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *priv = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *mine = tu_key();
	EVP_PKEY *k = NULL;
	uint8_t a[32], b[32];
	char path[256];

	/* PKCS#8 and SubjectPublicKeyInfo from openssl(1), as `pw update generate-key` writes. */
	ck_assert_int_eq(sh("cd %s && openssl genpkey -algorithm EC -pkeyopt "
			    "ec_paramgen_curve:P-256 "
			    "-out p8 2>/dev/null && chmod 600 p8 && "
			    "openssl pkey -in p8 -pubout -out p8.pub "
			    "2>/dev/null && "
			    "grep -q 'BEGIN PRIVATE KEY' p8 && grep -q 'BEGIN PUBLIC KEY' p8.pub",
			    dir),
			 0);
	snprintf(path, sizeof(path), "%s/p8", dir);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &priv), 0);
	snprintf(path, sizeof(path), "%s/p8.pub", dir);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, false, &pub), 0);
	ck_assert_int_eq(swu_key_id_of(priv, a), 0);
	ck_assert_int_eq(swu_key_id_of(pub, b), 0);
	ck_assert_mem_eq(a, b, 32);

	/* Our files read back with openssl(1). */
	snprintf(path, sizeof(path), "%s/mine", dir);
	ck_assert_int_eq(swu_key_save_pem(mine, path, NULL), 0);
	ck_assert_int_eq(sh("cd %s && grep -q 'BEGIN PRIVATE KEY' mine && "
			    "openssl pkey -in mine -noout 2>/dev/null && "
			    "openssl pkey -pubin -in mine.pub -noout 2>/dev/null && "
			    "[ \"$(stat -c %%a mine)\" = 600 ]",
			    dir),
			 0);

	/* Other curves and algorithms are refused with a reason. */
	ck_assert_int_eq(sh("cd %s && openssl genpkey -algorithm EC -pkeyopt "
			    "ec_paramgen_curve:P-384 "
			    "-out p384 2>/dev/null && openssl genpkey -algorithm ED25519 -out ed "
			    "2>/dev/null && chmod 600 p384 ed",
			    dir),
			 0);
	snprintf(path, sizeof(path), "%s/p384", dir);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), -EBADMSG);
	snprintf(path, sizeof(path), "%s/ed", dir);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), -EBADMSG);
	snprintf(path, sizeof(path), "%s/p8.pub", dir);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), -EBADMSG); /* public as private */
	snprintf(path, sizeof(path), "%s/missing", dir);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), -ENOENT);
	ck_assert_ptr_null(k);
}
END_TEST

/* A private key file group or others may read is refused, whatever else is right with it. */
START_TEST(test_key_file_mode)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *mine = tu_key();
	EVP_PKEY *k = NULL;
	char path[256];

	snprintf(path, sizeof(path), "%s/mode", dir);
	ck_assert_int_eq(swu_key_save_pem(mine, path, NULL), 0);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), -EPERM);
	ck_assert_ptr_null(k);
	ck_assert_ptr_nonnull(strstr(swu_context_get_failure(ctx)->message, "(mode 644)"));
	ck_assert_int_eq(chmod(path, 0604), 0);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), -EPERM);
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), -EPERM);
	/* Public keys are public. */
	strcat(path, ".pub");
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, false, &k), 0);
	k = (EVP_PKEY_free(k), NULL);
	/* Saving over a readable file leaves it 0600. */
	snprintf(path, sizeof(path), "%s/mode", dir);
	ck_assert_int_eq(swu_key_save_pem(mine, path, NULL), 0);
	ck_assert_int_eq(sh("[ \"$(stat -c %%a %s)\" = 600 ]", path), 0);
	ck_assert_int_eq(chmod(path, 0400), 0);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), 0);
	EVP_PKEY_free(k);
}
END_TEST

/* Encrypted PKCS#8 (AES-256) both ways with openssl(1); missing and wrong passphrases say so. */
START_TEST(test_key_passphrase)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *mine = tu_key();
	EVP_PKEY *k = NULL;
	uint8_t a[32], b[32];
	char path[256];

	snprintf(path, sizeof(path), "%s/enc", dir);
	ck_assert_int_eq(swu_key_save_pem(mine, path, "s3cret"), 0);
	ck_assert_int_eq(sh("cd %s && grep -q 'BEGIN ENCRYPTED PRIVATE KEY' enc && "
			    "openssl asn1parse -in enc | grep -q aes-256-cbc && "
			    "openssl pkey -in enc -passin pass:s3cret -noout 2>/dev/null && "
			    "[ \"$(stat -c %%a enc)\" = 600 ]",
			    dir),
			 0);
	ck_assert_int_eq(swu_key_load_private(ctx, path, NULL, &k), -ENOKEY);
	ck_assert_ptr_null(k);
	ck_assert_int_eq(swu_key_load_pem(ctx, path, true, &k), -ENOKEY);
	ck_assert_int_eq(swu_key_load_private(ctx, path, "wrong", &k), -EACCES);
	ck_assert_ptr_null(k);
	ck_assert_ptr_nonnull(strstr(swu_context_get_failure(ctx)->message, "wrong passphrase"));
	ck_assert_int_eq(swu_key_load_private(ctx, path, "s3cret", &k), 0);
	ck_assert_int_eq(swu_key_id_of(k, a), 0);
	ck_assert_int_eq(swu_key_id_of(mine, b), 0);
	ck_assert_mem_eq(a, b, 32);
	k = (EVP_PKEY_free(k), NULL);

	/* openssl's encrypted keys read back; a passphrase for a plain key is not needed. */
	ck_assert_int_eq(sh("cd %s && openssl genpkey -algorithm EC -pkeyopt "
			    "ec_paramgen_curve:P-256 -aes-256-cbc -pass pass:other -out o "
			    "2>/dev/null "
			    "&& chmod 600 o",
			    dir),
			 0);
	snprintf(path, sizeof(path), "%s/o", dir);
	ck_assert_int_eq(swu_key_load_private(ctx, path, "other", &k), 0);
	k = (EVP_PKEY_free(k), NULL);
	snprintf(path, sizeof(path), "%s/plain", dir);
	ck_assert_int_eq(swu_key_save_pem(mine, path, NULL), 0);
	ck_assert_int_eq(swu_key_load_private(ctx, path, "unused", &k), 0);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_sha256_fd)
{
	_cleanup_close_ int fd = tu_memfd("xxabcyy", 7);
	uint8_t a[32], b[32];

	ck_assert_int_eq(swu_sha256_fd(fd, 2, 3, a), 0);
	ck_assert_int_eq(swu_sha256("abc", 3, b), 0);
	ck_assert_mem_eq(a, b, 32);
	ck_assert_int_eq(swu_sha256_fd(fd, 5, 3, a), -ENODATA);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "sha256", test_sha256 },
		{ "sign-verify", test_sign_verify },
		{ "keyval-key-id", test_keyval_and_key_id },
		{ "signature-forms", test_signature_forms },
		{ "pem-interop", test_pem_interop },
		{ "key-file-mode", test_key_file_mode },
		/* 600000 PBKDF2 rounds per save and load: seconds each under qemu-user */
		{ "key-passphrase", test_key_passphrase, 300 },
		{ "sha256-fd", test_sha256_fd },
	};

	return tu_run("crypto", cases, ELEMENTSOF(cases), setup, teardown);
}
