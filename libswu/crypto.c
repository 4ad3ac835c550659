/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);
DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS8_PRIV_KEY_INFO *, PKCS8_PRIV_KEY_INFO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_SIG *, X509_SIG_free);

/* OpenSSL takes int/unsigned lengths in places; feed it in bounded pieces. */
#define CHUNK_MAX ((size_t)1 << 30)
#define FD_CHUNK  (256u * 1024u)

int swu_sha256_init(SwuSha256 *h)
{
	assert_return(h, -EINVAL);

	h->md = EVP_MD_CTX_new();
	if (!h->md)
		return -ENOMEM;
	if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
		swu_sha256_done(h);
		return -EIO;
	}
	return 0;
}

int swu_sha256_update(SwuSha256 *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	assert_return(h, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	while (n > 0) {
		size_t k = MIN(n, CHUNK_MAX);

		if (EVP_DigestUpdate(h->md, b, k) != 1)
			return -EIO;
		b += k;
		n -= k;
	}
	return 0;
}

int swu_sha256_final(SwuSha256 *h, uint8_t out[SWU_SHA256_SIZE])
{
	unsigned len = 0;

	assert_return(h, -EINVAL);
	assert_return(out, -EINVAL);

	if (EVP_DigestFinal_ex(h->md, out, &len) != 1 || len != SWU_SHA256_SIZE)
		return -EIO;
	return 0;
}

void swu_sha256_done(SwuSha256 *h)
{
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

int swu_sha256(const void *p, size_t n, uint8_t out[SWU_SHA256_SIZE])
{
	SwuSha256 h;
	int r;

	assert_return(p || n == 0, -EINVAL);
	assert_return(out, -EINVAL);

	r = swu_sha256_init(&h);
	if (r < 0)
		return r;
	r = swu_sha256_update(&h, p, n);
	if (r >= 0)
		r = swu_sha256_final(&h, out);
	swu_sha256_done(&h);
	return r;
}

int swu_read_hashed(int fd, uint64_t offset, uint64_t size, SwuSha256 *h, SwuDataFunc func,
		    void *userdata)
{
	_cleanup_free_ uint8_t *buf = malloc((size_t)MIN(size, (uint64_t)FD_CHUNK) ?: 1);
	uint64_t done = 0;
	int r;

	assert_return(fd >= 0, -EINVAL);

	if (!buf)
		return -ENOMEM;
	while (done < size) {
		ssize_t n = pread(fd, buf, (size_t)MIN(size - done, (uint64_t)FD_CHUNK),
				  (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		if (h) {
			r = swu_sha256_update(h, buf, (size_t)n);
			if (r < 0)
				return r;
		}
		if (func) {
			r = func(userdata, buf, (size_t)n);
			if (r < 0)
				return r;
		}
		done += (uint64_t)n;
	}
	return 0;
}

int swu_sha256_range(int fd, uint64_t offset, uint64_t size, SwuDataFunc func, void *userdata,
		     uint8_t out[SWU_SHA256_SIZE])
{
	SwuSha256 h;
	int r;

	assert_return(fd >= 0, -EINVAL);
	assert_return(out, -EINVAL);

	r = swu_sha256_init(&h);
	if (r < 0)
		return r;
	r = swu_read_hashed(fd, offset, size, &h, func, userdata);
	if (r >= 0)
		r = swu_sha256_final(&h, out);
	swu_sha256_done(&h);
	return r;
}

int swu_sha256_fd(int fd, uint64_t offset, uint64_t size, uint8_t out[SWU_SHA256_SIZE])
{
	assert_return(fd >= 0, -EINVAL);
	assert_return(out, -EINVAL);

	return swu_sha256_range(fd, offset, size, NULL, NULL, out);
}

void swu_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	assert_return_void(p || n == 0);
	assert_return_void(out);

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = 0;
}

static bool key_is_p256(const EVP_PKEY *key)
{
	char group[64] = "";
	size_t len = 0;

	if (!EVP_PKEY_is_a(key, "EC"))
		return false;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &len) != 1)
		return false;
	return streq(group, "prime256v1") || streq(group, "P-256");
}

int swu_key_generate(EVP_PKEY **ret)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_return(ret, -EINVAL);

	if (!k)
		return -EIO;
	*ret = k;
	return 0;
}

/* The passphrase callback of PEM_read: records that the key wanted one, hands over @u's. */
typedef struct PassphraseRequest {
	const char *passphrase;
	bool asked;
} PassphraseRequest;

static int passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	PassphraseRequest *req = u;
	size_t n;

	req->asked = true;
	if (!req->passphrase || size <= 0)
		return -1;
	n = strlen(req->passphrase);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, req->passphrase, n);
	return (int)n;
}

/* A private key file group or others may read was readable by others: its key is no secret. */
static int check_private_mode(SwuContext *ctx, FILE *f, const char *path)
{
	struct stat st;

	if (fstat(fileno(f), &st) < 0)
		return swu_fail(ctx, -errno, "key", "file", "Cannot stat key '%s': %s", path,
				strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return swu_fail(ctx, -EPERM, "key", "mode",
				"key '%s' is readable by group or others (mode %o): chmod 600 it",
				path, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int key_load(SwuContext *ctx, const char *path, bool private, const char *passphrase,
		    EVP_PKEY **ret)
{
	_cleanup_(fclosep) FILE *f = NULL;
	PassphraseRequest req = { passphrase, false };
	EVP_PKEY *k;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(path, -EINVAL);
	assert_return(ret, -EINVAL);

	f = fopen(path, "re");
	if (!f)
		return swu_fail(ctx, -errno, "key", "file", "Cannot open key '%s': %s", path,
				strerror(errno));
	if (private) {
		r = check_private_mode(ctx, f, path);
		if (r < 0)
			return r;
	}
	k = private ? PEM_read_PrivateKey(f, NULL, passphrase_cb, &req)
		    : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	ERR_clear_error();
	if (!k && req.asked && !passphrase)
		return swu_fail(ctx, -ENOKEY, "key", "passphrase",
				"key '%s' is encrypted and no passphrase was given", path);
	if (!k && req.asked)
		return swu_fail(ctx, -EACCES, "key", "passphrase",
				"Cannot decrypt key '%s': wrong passphrase", path);
	if (!k)
		return swu_fail(ctx, -EBADMSG, "key", "format", "'%s' is not a PEM %s key", path,
				private ? "PKCS#8 private" : "SubjectPublicKeyInfo public");
	if (!key_is_p256(k)) {
		EVP_PKEY_free(k);
		return swu_fail(ctx, -EBADMSG, "key", "format", "'%s' is not an ECDSA P-256 key",
				path);
	}
	*ret = k;
	return 0;
}

int swu_key_load_pem(SwuContext *ctx, const char *path, bool private, EVP_PKEY **ret)
{
	return key_load(ctx, path, private, NULL, ret);
}

int swu_key_load_private(SwuContext *ctx, const char *path, const char *passphrase, EVP_PKEY **ret)
{
	return key_load(ctx, path, true, passphrase, ret);
}

static int write_pem(const EVP_PKEY *key, const char *path, bool private, const char *passphrase)
{
	_cleanup_(BIO_free_allp) BIO *bio = NULL;
	_cleanup_close_ int fd = -EBADF;
	FILE *f;
	int ok;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, private ? 0600 : 0644);
	if (fd < 0)
		return -errno;
	/* An existing file keeps its mode through O_TRUNC: a private key must not. */
	if (private && fchmod(fd, 0600) < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f)
		return -errno;
	TAKE_FD(fd);
	bio = BIO_new_fp(f, BIO_CLOSE);
	if (!bio) {
		fclose(f);
		return -ENOMEM;
	}
	/*
	 * Encrypted: PKCS#8 with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), which openssl(1) and
	 * Pigweed read, with SWU_KEY_PBKDF2_ITERATIONS rounds, not OpenSSL's default of 2048: a
	 * copied key file (a backup stick) is attacked offline, and a key is loaded once per
	 * signing, where the rounds cost the signer little.
	 */
	if (private && passphrase) {
		_cleanup_(PKCS8_PRIV_KEY_INFO_freep)
			PKCS8_PRIV_KEY_INFO *p8inf = EVP_PKEY2PKCS8(key);
		_cleanup_(X509_SIG_freep) X509_SIG *p8 = NULL;

		if (p8inf)
			p8 = PKCS8_encrypt_ex(-1, EVP_aes_256_cbc(), passphrase,
					      (int)strlen(passphrase), NULL, 0,
					      SWU_KEY_PBKDF2_ITERATIONS, p8inf, NULL, NULL);
		ok = p8 ? PEM_write_bio_PKCS8(bio, p8) : 0;
	} else
		ok = private ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
			     : PEM_write_bio_PUBKEY(bio, key);
	ERR_clear_error();
	if (ok != 1 || BIO_flush(bio) != 1 || fsync(fileno(f)) < 0)
		return -EIO;
	return 0;
}

int swu_key_save_pem(const EVP_PKEY *key, const char *path, const char *passphrase)
{
	_cleanup_free_ char *pub = NULL;
	int r;

	assert_return(key, -EINVAL);
	assert_return(path, -EINVAL);
	assert_return(!passphrase || strlen(passphrase) <= INT_MAX, -EINVAL);

	if (asprintf(&pub, "%s.pub", path) < 0)
		return -ENOMEM;
	r = write_pem(key, path, true, passphrase);
	if (r < 0)
		return r;
	return write_pem(key, pub, false, NULL);
}

int swu_key_get_keyval(const EVP_PKEY *key, uint8_t out[SWU_KEYVAL_SIZE])
{
	uint8_t buf[128];
	size_t len = 0;

	assert_return(key, -EINVAL);
	assert_return(out, -EINVAL);

	if (!key_is_p256(key))
		return -EBADMSG;
	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf,
					    sizeof(buf), &len) != 1)
		return -EBADMSG;
	if (len != SWU_KEYVAL_SIZE || buf[0] != 0x04)
		return -EBADMSG;
	memcpy(out, buf, SWU_KEYVAL_SIZE);
	return 0;
}

int swu_key_from_keyval(const uint8_t *keyval, size_t n, EVP_PKEY **ret)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *k = NULL;
	uint8_t point[SWU_KEYVAL_SIZE];
	char group[] = "prime256v1";
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group) - 1),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
		OSSL_PARAM_END,
	};

	assert_return(keyval || n == 0, -EINVAL);
	assert_return(ret, -EINVAL);

	/* Only the uncompressed form: a point has one encoding on the wire. */
	if (n != SWU_KEYVAL_SIZE || keyval[0] != 0x04)
		return -EBADMSG;
	memcpy(point, keyval, sizeof(point));
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!pctx)
		return -ENOMEM;
	if (EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		ERR_clear_error();
		return -EBADMSG;
	}
	*ret = k;
	return 0;
}

void swu_key_id(uint8_t key_type, uint8_t scheme, const uint8_t *keyval, size_t n,
		uint8_t out[SWU_KEY_ID_SIZE])
{
	SwuSha256 h;
	uint8_t prefix[2] = { key_type, scheme };

	assert_return_void(keyval || n == 0);
	assert_return_void(out);

	/* Allocation failure here leaves an all-zero id, which matches no real key. */
	memset(out, 0, SWU_KEY_ID_SIZE);
	if (swu_sha256_init(&h) < 0)
		return;
	if (swu_sha256_update(&h, prefix, 2) < 0 || swu_sha256_update(&h, keyval, n) < 0 ||
	    swu_sha256_final(&h, out) < 0)
		memset(out, 0, SWU_KEY_ID_SIZE);
	swu_sha256_done(&h);
}

int swu_key_id_of(const EVP_PKEY *key, uint8_t out[SWU_KEY_ID_SIZE])
{
	uint8_t keyval[SWU_KEYVAL_SIZE];
	int r;

	assert_return(key, -EINVAL);
	assert_return(out, -EINVAL);

	r = swu_key_get_keyval(key, keyval);
	if (r < 0)
		return r;
	swu_key_id(SWU_KEY_TYPE_ECDSA_P256, SWU_KEY_SCHEME_ECDSA_P256, keyval, sizeof(keyval), out);
	return 0;
}

int swu_signature_to_raw(const uint8_t *p, size_t n, uint8_t out[SWU_SIG_SIZE])
{
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
	const unsigned char *q = p;
	const BIGNUM *r, *s;

	assert_return(p || n == 0, -EINVAL);
	assert_return(out, -EINVAL);

	if (n == SWU_SIG_SIZE && p[0] != 0x30) {
		memcpy(out, p, SWU_SIG_SIZE);
		return 0;
	}
	if (n > 256)
		return -EBADMSG;
	sig = d2i_ECDSA_SIG(NULL, &q, (long)n);
	if (!sig || q != p + n) {
		ERR_clear_error();
		/* 64 bytes that happen to start with 0x30 but are no DER: raw after all. */
		if (n == SWU_SIG_SIZE) {
			memcpy(out, p, SWU_SIG_SIZE);
			return 0;
		}
		return -EBADMSG;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_num_bytes(r) > 32 || BN_num_bytes(s) > 32)
		return -EBADMSG;
	if (BN_bn2binpad(r, out, 32) != 32 || BN_bn2binpad(s, out + 32, 32) != 32)
		return -EBADMSG;
	return 0;
}

int swu_sign(const EVP_PKEY *key, const uint8_t *p, size_t n, uint8_t out[SWU_SIG_SIZE])
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
	uint8_t der[128];
	size_t len = sizeof(der);

	assert_return(key, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(out, -EINVAL);

	if (!key_is_p256(key))
		return -EBADMSG;
	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, (EVP_PKEY *)key, NULL) != 1 ||
	    EVP_DigestSign(md, der, &len, p, n) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return swu_signature_to_raw(der, len, out);
}

int swu_verify(const EVP_PKEY *key, const uint8_t *p, size_t n, const uint8_t *sig, size_t sig_size)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = NULL;
	_cleanup_free_ unsigned char *der = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int der_len, ok;

	assert_return(key, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	if (!sig || sig_size != SWU_SIG_SIZE)
		return -EKEYREJECTED;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		return -ENOMEM;
	}
	der_len = i2d_ECDSA_SIG(es, &der);
	if (der_len <= 0)
		return -ENOMEM;
	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	if (EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, (EVP_PKEY *)key, NULL) != 1) {
		ERR_clear_error();
		return -EKEYREJECTED;
	}
	ok = EVP_DigestVerify(md, der, (size_t)der_len, p, n);
	ERR_clear_error();
	return ok == 1 ? 0 : -EKEYREJECTED;
}
