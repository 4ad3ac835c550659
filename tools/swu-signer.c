/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "swu-pkcs11.h"
#include "swu-signer.h"
#include "swu-util.h"

#define SIGNER_OUTPUT_MAX 1024

struct Signer {
	SignerArgs args;
	EVP_PKEY *key; /* the private key (a file's, or a token's handle); NULL with a command */
	EVP_PKEY *pub; /* its public key: every signature is checked against it */
	void *engine;  /* the pkcs11 engine holding the token's key */
	char *name;
	uint8_t id[SWU_KEY_ID_SIZE];
};

bool pkcs11_is_uri(const char *s)
{
	return s && strncmp(s, "pkcs11:", 7) == 0;
}

int signer_args_parse(SignerArgs *a, int c, const char *arg)
{
	char *end;
	long fd;

	switch (c) {
	case 'k':
		a->key = arg;
		return 1;
	case 's':
		a->command = arg;
		return 1;
	case 'p':
		a->public_key = arg;
		return 1;
	case 'P':
		a->passphrase_file = arg;
		return 1;
	case 'F':
		errno = 0;
		fd = strtol(arg, &end, 10);
		if (errno || *end || end == arg || fd < 0 || fd > 1024 * 1024)
			return log_usage("--passphrase-fd takes a file descriptor number, not '%s'",
					 arg);
		a->passphrase_fd = (int)fd;
		return 1;
	case 'N':
		a->pin_file = arg;
		return 1;
	default:
		return 0;
	}
}

bool signer_args_given(const SignerArgs *a)
{
	return a->key || a->command;
}

int signer_args_check(const SignerArgs *a, const char *verb, const char *key_option, bool required)
{
	bool uri = pkcs11_is_uri(a->key);

	if ((required && !signer_args_given(a)) || (a->key && a->command) ||
	    (a->command && !a->public_key) || (a->public_key && !a->command))
		return log_usage("%s needs either --%s KEY or --signer CMD with --public-key PUB",
				 verb, key_option);
	if ((a->passphrase_file || a->passphrase_fd >= 0) && (!a->key || uri))
		return log_usage("--passphrase-file and --passphrase-fd are for a key file (a "
				 "PKCS#11 token takes --pin-file)");
	if (a->passphrase_file && a->passphrase_fd >= 0)
		return log_usage("give one of --passphrase-file and --passphrase-fd");
	if (a->pin_file && !uri)
		return log_usage("--pin-file is for a key in a token (a pkcs11: URI)");
	return 0;
}

Signer *signer_free(Signer *s)
{
	if (!s)
		return NULL;
	EVP_PKEY_free(s->key);
	EVP_PKEY_free(s->pub);
	pkcs11_release_engine(s->engine);
	free(s->name);
	free(s);
	return NULL;
}

static int open_key_file(Signer *s)
{
	_cleanup_(secret_freep) char *passphrase = NULL;
	const SignerArgs *a = &s->args;
	uint8_t keyval[SWU_KEYVAL_SIZE];
	int r;

	if (a->passphrase_file || a->passphrase_fd >= 0) {
		r = secret_read(a->passphrase_file, a->passphrase_fd, "passphrase", &passphrase);
		if (r < 0)
			return r;
	}
	r = swu_key_load_private(swu_ctx, a->key, passphrase, &s->key);
	if (r == -ENOKEY) {
		/* Said once: libswu's "no passphrase was given" adds nothing to this. */
		fprintf(stderr,
			"swu: key '%s' is encrypted: give its passphrase with --passphrase-file or "
			"--passphrase-fd\n",
			a->key);
		return r;
	}
	if (r < 0)
		return log_error_errno(r, "Cannot load key");
	/* The public half, as a key of its own: signatures are checked with what devices see. */
	r = swu_key_get_keyval(s->key, keyval);
	if (r >= 0)
		r = swu_key_from_keyval(keyval, sizeof(keyval), &s->pub);
	if (r < 0)
		return log_error_errno(r, "Cannot use key '%s'", a->key);
	return 0;
}

int signer_open(const SignerArgs *a, Signer **ret)
{
	_cleanup_(signer_freep) Signer *s = calloc(1, sizeof(Signer));
	int r;

	if (!s)
		return log_error_errno(-ENOMEM, "Cannot open the signing key");
	s->args = *a;
	if (a->command) {
		s->name = strdup(a->public_key);
		r = s->name ? swu_key_load_pem(swu_ctx, a->public_key, false, &s->pub) : -ENOMEM;
		if (r < 0)
			return log_error_errno(r, "Cannot load key");
	} else if (pkcs11_is_uri(a->key)) {
		s->name = pkcs11_uri_display(a->key);
		if (!s->name)
			return log_error_errno(-ENOMEM, "Cannot open the signing key");
		r = pkcs11_load_key(a->key, a->pin_file, &s->key, &s->pub, &s->engine);
		if (r < 0)
			return r;
	} else {
		s->name = strdup(a->key);
		if (!s->name)
			return log_error_errno(-ENOMEM, "Cannot open the signing key");
		r = open_key_file(s);
		if (r < 0)
			return r;
	}
	r = swu_key_id_of(s->pub, s->id);
	if (r < 0)
		return log_error_errno(r, "'%s' is not an ECDSA P-256 key", s->name);
	*ret = TAKE_PTR(s);
	return 0;
}

/* Pipes @data into `sh -c CMD` and reads what it prints (a signature). */
static int run_command(const char *cmd, const uint8_t *data, size_t n, uint8_t *out,
		       size_t *out_size)
{
	int in[2], outp[2], status;
	size_t got = 0;
	pid_t pid;
	int r = 0;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(outp, O_CLOEXEC) < 0) {
		r = -errno;
		close(in[0]);
		close(in[1]);
		return r;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(in[0]);
		close(in[1]);
		close(outp[0]);
		close(outp[1]);
		return r;
	}
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	signal(SIGPIPE, SIG_IGN);
	r = swu_write_all(in[1], data, n);
	close(in[1]);
	while (r >= 0) {
		ssize_t k = read(outp[0], out + got, SIGNER_OUTPUT_MAX - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r = -errno;
		else if (k == 0)
			break;
		else if ((got += (size_t)k) >= SIGNER_OUTPUT_MAX)
			r = -EMSGSIZE; /* the signer misbehaved: not a verdict on the metadata */
	}
	close(outp[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "swu: signer '%s' failed\n", cmd);
		return -EIO;
	}
	*out_size = got;
	return 0;
}

static int sign_with_command(Signer *s, const uint8_t *data, size_t n, uint8_t sig[SWU_SIG_SIZE])
{
	const char *cmd = s->args.command;
	uint8_t out[SIGNER_OUTPUT_MAX];
	size_t size = 0;
	int r;

	r = run_command(cmd, data, n, out, &size);
	if (r == -EMSGSIZE)
		return log_error_errno(r, "Signer '%s' printed %u bytes or more, no signature", cmd,
				       SIGNER_OUTPUT_MAX);
	if (r < 0)
		return log_error_errno(r, "Signer '%s' failed", cmd);
	/* DER or raw r||s; a raw signature may start like DER, so try both before giving up. */
	if (swu_signature_to_raw(out, size, sig) == 0 &&
	    swu_verify(s->pub, data, n, sig, SWU_SIG_SIZE) == 0)
		return 0;
	if (size == SWU_SIG_SIZE && swu_verify(s->pub, data, n, out, size) == 0) {
		memcpy(sig, out, SWU_SIG_SIZE);
		return 0;
	}
	fprintf(stderr,
		"swu: the signer's output (%zu bytes) is not a valid signature by the "
		"given public key\n",
		size);
	return -EKEYREJECTED;
}

/*
 * ECDSA-SHA256 with a token's key: an engine key, which OpenSSL 3 drives through its legacy path
 * (swu_sign() checks the curve of provider keys; this key's public half was checked already).
 */
static int sign_in_token(EVP_PKEY *key, const uint8_t *p, size_t n, uint8_t sig[SWU_SIG_SIZE])
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[128];
	size_t len = sizeof(der);

	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &len, p, n) != 1) {
		ERR_print_errors_fp(stderr);
		return -EIO;
	}
	return swu_signature_to_raw(der, len, sig);
}

int signer_sign(Signer *s, const uint8_t *p, size_t n, uint8_t sig[SWU_SIG_SIZE])
{
	int r;

	if (s->args.command)
		return sign_with_command(s, p, n, sig);
	r = s->engine ? sign_in_token(s->key, p, n, sig) : swu_sign(s->key, p, n, sig);
	if (r < 0)
		return log_error_errno(r, "Cannot sign with '%s'", s->name);
	if (swu_verify(s->pub, p, n, sig, SWU_SIG_SIZE) < 0) {
		fprintf(stderr,
			"swu: the signature made with '%s' does not verify with its public "
			"key\n",
			s->name);
		return -EKEYREJECTED;
	}
	return 0;
}

void signer_key_id(const Signer *s, uint8_t id[SWU_KEY_ID_SIZE])
{
	memcpy(id, s->id, SWU_KEY_ID_SIZE);
}

const char *signer_name(const Signer *s)
{
	return s->name;
}
