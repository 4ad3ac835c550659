/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * OpenSSL 3 (EVP only) wrappers: streaming SHA-256, ECDSA P-256 keys in the
 * forms pw_software_update uses (65-byte uncompressed points on the wire, PEM
 * PKCS#8 / SubjectPublicKeyInfo files), key ids, and signatures in raw r||s.
 */
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "macro.h"

#define SWU_SHA256_SIZE 32
#define SWU_KEYVAL_SIZE 65
#define SWU_KEY_ID_SIZE 32
#define SWU_SIG_SIZE	64

/* KeyType and KeyScheme values of the schema for ECDSA P-256. */
#define SWU_KEY_TYPE_ECDSA_P256	  3
#define SWU_KEY_SCHEME_ECDSA_P256 3

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

typedef struct SwuSha256 {
	EVP_MD_CTX *md;
} SwuSha256;

/* Streaming SHA-256. init returns 0 or -ENOMEM; update takes any 64-bit length. */
int swu_sha256_init(SwuSha256 *h);
int swu_sha256_update(SwuSha256 *h, const void *p, size_t n);
int swu_sha256_final(SwuSha256 *h, uint8_t out[SWU_SHA256_SIZE]);
void swu_sha256_done(SwuSha256 *h);
int swu_sha256(const void *p, size_t n, uint8_t out[SWU_SHA256_SIZE]);

/* Bytes handed on by a reader; a negative return stops the reader with that error. */
typedef int (*SwuDataFunc)(void *userdata, const uint8_t *p, size_t n);

/*
 * The one loop that reads a range of a file: @size bytes of @fd from @offset with pread (the file
 * offset is untouched, EINTR is retried), hashed into @h when it is set and handed to @func in
 * chunks when it is set. Returns 0, -ENODATA when the file ends early, -errno for read errors, or the
 * error @func returned.
 */
int swu_read_hashed(int fd, uint64_t offset, uint64_t size, SwuSha256 *h, SwuDataFunc func,
		    void *userdata);
/* swu_read_hashed() into a fresh hash: the SHA-256 of the range, its bytes handed to @func. */
int swu_sha256_range(int fd, uint64_t offset, uint64_t size, SwuDataFunc func, void *userdata,
		     uint8_t out[SWU_SHA256_SIZE]);
/* SHA-256 of @size bytes of @fd from @offset (pread; the offset is untouched). -ENODATA if short. */
int swu_sha256_fd(int fd, uint64_t offset, uint64_t size, uint8_t out[SWU_SHA256_SIZE]);

/* Lowercase hex of @n bytes into @out (2n+1 bytes). */
void swu_hex(const uint8_t *p, size_t n, char *out);

/* A new ECDSA P-256 key pair. */
int swu_key_generate(EVP_PKEY **ret);
/*
 * Loads a PEM key file: a SubjectPublicKeyInfo public key, or (private=true) an unencrypted PKCS#8
 * private key. Returns -ENOENT/-EACCES for file errors, -EBADMSG when the content is not a P-256
 * key, and for a private key -EPERM when group or others may read the file and -ENOKEY when it is
 * encrypted (all recorded).
 */
int swu_key_load_pem(SwuContext *ctx, const char *path, bool private, EVP_PKEY **ret);
/*
 * Loads a private key file as swu_key_load_pem() does, decrypting an encrypted PKCS#8 key with
 * @passphrase (NULL: none given; a plain key needs none). -ENOKEY (recorded) when the key is
 * encrypted and @passphrase is NULL, -EACCES (recorded) when it does not decrypt it.
 */
int swu_key_load_private(SwuContext *ctx, const char *path, const char *passphrase, EVP_PKEY **ret);
/*
 * Writes PATH (PKCS#8 PEM, mode 0600 even over an existing file; encrypted with AES-256-CBC under
 * PBKDF2 when @passphrase is not NULL) and PATH.pub (SubjectPublicKeyInfo PEM, 0644).
 */
int swu_key_save_pem(const EVP_PKEY *key, const char *path, const char *passphrase);
/* The PBKDF2 rounds of a key saved with a passphrase (OWASP's figure for PBKDF2-HMAC-SHA256). */
#define SWU_KEY_PBKDF2_ITERATIONS 600000
/* The 65-byte uncompressed point of a P-256 key. -EBADMSG for other keys. */
int swu_key_get_keyval(const EVP_PKEY *key, uint8_t out[SWU_KEYVAL_SIZE]);
/* Builds a public key from a 65-byte point; -EBADMSG when it is not on P-256. */
int swu_key_from_keyval(const uint8_t *keyval, size_t n, EVP_PKEY **ret);
/* key_id = SHA-256(key_type || scheme || keyval), as pw_software_update derives it. */
void swu_key_id(uint8_t key_type, uint8_t scheme, const uint8_t *keyval, size_t n,
		uint8_t out[SWU_KEY_ID_SIZE]);
int swu_key_id_of(const EVP_PKEY *key, uint8_t out[SWU_KEY_ID_SIZE]);

/* ECDSA-SHA256 over @p (i.e. over its SHA-256 digest) with raw r||s output. */
int swu_sign(const EVP_PKEY *key, const uint8_t *p, size_t n, uint8_t out[SWU_SIG_SIZE]);
/* 0 when @sig (must be exactly 64 bytes) verifies; -EKEYREJECTED otherwise. Never crashes on junk. */
int swu_verify(const EVP_PKEY *key, const uint8_t *p, size_t n, const uint8_t *sig,
	       size_t sig_size);
/* Converts a signature given as DER (ECDSA-Sig-Value) or raw 64 bytes into raw r||s. */
int swu_signature_to_raw(const uint8_t *p, size_t n, uint8_t out[SWU_SIG_SIZE]);
