/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Where a signing key lives, the same for every command that signs (sign-root-metadata,
 * sign-bundle, renew-bundle, and any later one such as an online timestamp signer): a PEM key file
 * (PKCS#8, optionally encrypted), a PKCS#11 URI (RFC 7512, the key stays in the token), or a
 * command that prints a signature by a given public key. Secrets (passphrases, PINs) come from a
 * file or a file descriptor, never from the command line.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

typedef struct SignerArgs {
	const char *key;	     /* a PEM private key file or a pkcs11: URI */
	const char *command;	     /* --signer CMD */
	const char *public_key;	     /* --public-key PUB, with --signer */
	const char *passphrase_file; /* the passphrase of an encrypted key file */
	int passphrase_fd;	     /* -1: none */
	const char *pin_file;	     /* the PIN of a PKCS#11 token */
} SignerArgs;

#define SIGNER_ARGS_INIT                                                                           \
	{                                                                                          \
		.passphrase_fd = -1                                                                \
	}

/* The options of SignerArgs; @key_option names the key ("key", "root-key"). */
#define SIGNER_OPTIONS(key_option)                                                                 \
	{ key_option, required_argument, NULL, 'k' }, { "signer", required_argument, NULL, 's' },  \
		{ "public-key", required_argument, NULL, 'p' },                                    \
		{ "passphrase-file", required_argument, NULL, 'P' },                               \
		{ "passphrase-fd", required_argument, NULL, 'F' },                                 \
	{                                                                                          \
		"pin-file", required_argument, NULL, 'N'                                           \
	}

/* Options of generate-key: the passphrase of the key it writes. */
#define PASSPHRASE_OPTIONS                                                                         \
	{ "passphrase-file", required_argument, NULL, 'P' },                                       \
	{                                                                                          \
		"passphrase-fd", required_argument, NULL, 'F'                                      \
	}

/* Takes getopt's @c and @arg when they are one of SIGNER_OPTIONS: 1 taken, 0 not one, -EINVAL
 * (said) for an invalid value. */
int signer_args_parse(SignerArgs *a, int c, const char *arg);
/*
 * Checks the combination for command @verb: a key or a signer command with its public key (none
 * at all is fine unless @required), a passphrase only for a key file, one source of it, a PIN only
 * for a pkcs11: URI. -EINVAL, said, otherwise.
 */
int signer_args_check(const SignerArgs *a, const char *verb, const char *key_option, bool required);
/* Whether @a names a key or signer. */
bool signer_args_given(const SignerArgs *a);

typedef struct Signer Signer;

/* Opens what @a names (the key, the token, or the command's public key); errors are said. */
int signer_open(const SignerArgs *a, Signer **ret);
/*
 * Signs @n bytes at @p into raw r||s. Every signature is checked against the public key before it
 * is returned (a token or command that signs with another key is caught here). Errors are said;
 * -EKEYREJECTED when the signature does not verify.
 */
int signer_sign(Signer *s, const uint8_t *p, size_t n, uint8_t sig[SWU_SIG_SIZE]);
void signer_key_id(const Signer *s, uint8_t id[SWU_KEY_ID_SIZE]);
/* How the user named the key: the file, the URI without its query, or the public key file. */
const char *signer_name(const Signer *s);
Signer *signer_free(Signer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Signer *, signer_free);
