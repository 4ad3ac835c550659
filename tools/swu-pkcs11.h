/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Keys in a PKCS#11 token (RFC 7512 URIs), through OpenSSL's pkcs11 engine loaded at run time. */
#include <openssl/evp.h>
#include <stdbool.h>

/*
 * The private key a pkcs11: URI names, through OpenSSL's pkcs11 engine (libp11) loaded at run
 * time, and its public key. The private key stays in the token: signing with *ret_key asks the
 * token. @pin may be NULL (then the URI's pin-source, else a prompt on a terminal). *ret_engine
 * is released (ENGINE_finish, ENGINE_free) after both keys. Errors are said: -ENOPKG without the
 * engine, -ENOKEY when nothing matches or no PIN was given, -EACCES when the token refused the
 * PIN, -EINVAL for a URI that is invalid or holds a PIN (pin-value).
 */
int pkcs11_load_key(const char *uri, const char *pin_file, EVP_PKEY **ret_key, EVP_PKEY **ret_pub,
		    void **ret_engine);
void pkcs11_release_engine(void *engine);
/* @uri without its query part (which may name files), for messages; NULL when out of memory. */
char *pkcs11_uri_display(const char *uri);
bool pkcs11_is_uri(const char *s);
