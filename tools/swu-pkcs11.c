/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Keys in a PKCS#11 token through OpenSSL's pkcs11 engine (libp11), loaded at run time by
 * ENGINE_by_id(): Debian 12 (libengine-pkcs11-openssl), Yocto and Buildroot (libp11) all ship it,
 * which pkcs11-provider is not (Debian 12 has none). Nothing links against it: swu builds and runs
 * without it, and only a pkcs11: URI needs it. The engine API is deprecated in OpenSSL 3 but
 * present; a build of OpenSSL without engines gets a clear error instead.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifndef OPENSSL_NO_ENGINE
#include <openssl/engine.h>
#include <openssl/ui.h>
#include <openssl/x509.h>
#endif

#include "macro.h"
#include "swu-pkcs11.h"
#include "swu-util.h"

#define ENGINE_HINT                                                                                \
	"PKCS#11 URIs need OpenSSL's pkcs11 engine (libp11): install libengine-pkcs11-openssl "    \
	"(Debian) or libp11 (Yocto, Buildroot)"

char *pkcs11_uri_display(const char *uri)
{
	return strndup(uri, strcspn(uri, "?"));
}

/* Percent-decodes @n bytes of @s (RFC 7512 values) into a new string; NULL on error. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &v) == 1 && v != 0) {
			*o++ = (char)v;
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = 0;
	return out;
}

typedef struct Pkcs11Uri {
	char *path;	   /* "pkcs11:" and the path attributes, for the engine */
	char *module_path; /* module-path= */
	char *pin_source;  /* pin-source= (a file, "file:" or not) */
	char *token;	   /* token= and object=, for messages */
	char *object;
} Pkcs11Uri;

static void pkcs11_uri_done(Pkcs11Uri *u)
{
	free(u->path);
	free(u->module_path);
	free(u->pin_source);
	free(u->token);
	free(u->object);
}

/* Value of attribute @name in the attribute @a (@n bytes), decoded, into *ret; 0 when not it. */
static int take_attr(const char *a, size_t n, const char *name, char **ret)
{
	size_t k = strlen(name);

	if (n <= k || strncmp(a, name, k) != 0 || a[k] != '=')
		return 0;
	free(*ret);
	*ret = pct_decode(a + k + 1, n - k - 1);
	return *ret ? 1 : -ENOMEM;
}

/*
 * Splits an RFC 7512 URI: the path attributes (token=, object=, id=, ...) go to the engine; the
 * query attributes module-path= and pin-source= are ours. A PIN in the URI (pin-value=) is
 * refused: a command line is readable by every user of the machine (ps, /proc).
 */
static int pkcs11_uri_parse(const char *uri, Pkcs11Uri *u)
{
	size_t path_len = strcspn(uri, "?");
	const char *q = uri[path_len] ? uri + path_len + 1 : NULL;

	if (strstr(uri, "pin-value="))
		return log_usage("'%.*s...' holds a PIN (pin-value): a PIN is never given on the "
				 "command line; use pin-source=file:PATH or --pin-file",
				 (int)MIN(path_len, (size_t)60), uri);
	u->path = strndup(uri, path_len);
	if (!u->path)
		return -ENOMEM;
	for (const char *a = uri + 7, *end = uri + path_len; a < end;) {
		size_t n = MIN(strcspn(a, ";"), (size_t)(end - a));

		if (take_attr(a, n, "token", &u->token) < 0 ||
		    take_attr(a, n, "object", &u->object) < 0)
			return -ENOMEM;
		a += n + 1;
	}
	for (const char *a = q; a && *a;) {
		size_t n = strcspn(a, "&");
		int r = take_attr(a, n, "module-path", &u->module_path);

		if (r == 0)
			r = take_attr(a, n, "pin-source", &u->pin_source);
		if (r < 0)
			return r;
		if (r == 0)
			return log_usage("unsupported attribute '%.*s' in the query of a PKCS#11 "
					 "URI (swu takes module-path and pin-source)",
					 (int)n, a);
		a += n + (a[n] == '&');
	}
	if (u->pin_source && strncmp(u->pin_source, "file:", 5) == 0)
		memmove(u->pin_source, u->pin_source + 5, strlen(u->pin_source + 5) + 1);
	if (u->pin_source && u->pin_source[0] == '|')
		return log_usage("pin-source takes a file, not a command");
	return 0;
}

#ifdef OPENSSL_NO_ENGINE

int pkcs11_load_key(const char *uri, const char *pin_file, EVP_PKEY **ret_key, EVP_PKEY **ret_pub,
		    void **ret_engine)
{
	fprintf(stderr, "swu: this OpenSSL is built without engines: " ENGINE_HINT "\n");
	return -ENOPKG;
}

void pkcs11_release_engine(void *engine)
{
}

#else

/* The engine says why on stderr, in its own words: kept aside, shown after our sentence. */
typedef struct Capture {
	int saved;
	int fd;
} Capture;

static void capture_begin(Capture *c)
{
	fflush(stderr);
	c->fd = memfd_create("swu-pkcs11", MFD_CLOEXEC);
	c->saved = c->fd >= 0 ? dup(STDERR_FILENO) : -1;
	if (c->saved >= 0)
		dup2(c->fd, STDERR_FILENO);
}

/* Restores stderr, keeping what the engine said for capture_show(). */
static void capture_end(Capture *c)
{
	fflush(stderr);
	if (c->saved >= 0) {
		dup2(c->saved, STDERR_FILENO);
		close(c->saved);
		c->saved = -1;
	}
}

/* What the engine said, each line after "swu:   pkcs11 engine: ". */
static void capture_show(Capture *c)
{
	char buf[2048];
	ssize_t n = c->fd >= 0 ? pread(c->fd, buf, sizeof(buf) - 1, 0) : 0;

	for (char *line = buf, *end; n > 0 && line < buf + n; line = end + 1) {
		buf[n] = 0;
		end = strchrnul(line, '\n');
		*end = 0;
		if (*line)
			fprintf(stderr, "swu:   pkcs11 engine: %s\n", line);
	}
}

static void capture_done(Capture *c)
{
	capture_end(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Without a PIN and a terminal, the engine must not wait for one on /dev/tty: no prompt at all. */
static int no_prompt_reader(UI *ui, UI_STRING *uis)
{
	return -1;
}

void pkcs11_release_engine(void *engine)
{
	if (engine) {
		ENGINE_finish(engine);
		ENGINE_free(engine);
	}
}

/* The public key of a token's private key, as a key of its own (the token is not asked again). */
static EVP_PKEY *public_of(EVP_PKEY *key)
{
	_cleanup_free_ unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_PUBKEY(key, &der);

	if (n <= 0)
		return NULL;
	p = der;
	return d2i_PUBKEY(NULL, &p, n);
}

static int engine_open(const Pkcs11Uri *u, const char *pin, ENGINE **ret)
{
	ENGINE *e;

	ERR_set_mark();
	e = ENGINE_by_id("pkcs11");
	ERR_pop_to_mark();
	if (!e) {
		fprintf(stderr, "swu: " ENGINE_HINT "\n");
		return -ENOPKG;
	}
	if ((u->module_path && !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", u->module_path, 0)) ||
	    !ENGINE_init(e)) {
		ERR_clear_error();
		ENGINE_free(e);
		fprintf(stderr, "swu: Cannot start OpenSSL's pkcs11 engine\n");
		return -EIO;
	}
	if (pin && !ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		ERR_clear_error();
		pkcs11_release_engine(e);
		fprintf(stderr, "swu: Cannot hand the PIN to OpenSSL's pkcs11 engine\n");
		return -EIO;
	}
	*ret = e;
	return 0;
}

static int load_keys(ENGINE *e, const Pkcs11Uri *u, bool have_pin, EVP_PKEY **ret_key,
		     EVP_PKEY **ret_pub)
{
	UI_METHOD *no_prompt = NULL;
	EVP_PKEY *pub, *key;

	/*
	 * The engine prompts for a PIN it lacks: only when none was given and a person is there to
	 * type it; a refused PIN is never followed by a prompt.
	 */
	if (have_pin || !isatty(STDIN_FILENO)) {
		no_prompt = UI_create_method("swu: no PIN");
		if (!no_prompt)
			return -ENOMEM;
		UI_method_set_reader(no_prompt, no_prompt_reader);
	}
	/* Public objects need no login: whether the object is there at all, told apart from a PIN. */
	pub = ENGINE_load_public_key(e, u->path, no_prompt, NULL);
	key = ENGINE_load_private_key(
		e, u->path, no_prompt ? no_prompt : (UI_METHOD *)UI_get_default_method(), NULL);
	ERR_clear_error();
	UI_destroy_method(no_prompt);
	if (!key) {
		EVP_PKEY_free(pub);
		if (!pub)
			return -ENOKEY;
		return have_pin ? -EACCES : -ENOMEDIUM;
	}
	/* The engine's public key is a legacy one: the same key as one of OpenSSL 3's own. */
	if (pub) {
		EVP_PKEY *own = public_of(pub);

		EVP_PKEY_free(pub);
		pub = own;
	} else
		pub = public_of(key);
	if (!pub) {
		EVP_PKEY_free(key);
		return -EBADMSG;
	}
	*ret_key = key;
	*ret_pub = pub;
	return 0;
}

int pkcs11_load_key(const char *uri, const char *pin_file, EVP_PKEY **ret_key, EVP_PKEY **ret_pub,
		    void **ret_engine)
{
	_cleanup_(secret_freep) char *pin = NULL;
	Pkcs11Uri u = {};
	Capture c = { .saved = -1, .fd = -1 };
	EVP_PKEY *key = NULL, *pub = NULL;
	uint8_t keyval[SWU_KEYVAL_SIZE];
	ENGINE *e = NULL;
	int r;

	r = pkcs11_uri_parse(uri, &u);
	if (r >= 0 && u.pin_source && pin_file)
		r = log_usage("give the PIN once: pin-source in the URI or --pin-file");
	if (r >= 0 && (pin_file || u.pin_source))
		r = secret_read(pin_file ? pin_file : u.pin_source, -1, "PIN", &pin);
	if (r >= 0)
		r = engine_open(&u, pin, &e);
	if (r >= 0) {
		capture_begin(&c);
		r = load_keys(e, &u, !!pin, &key, &pub);
		capture_end(&c);
	}
	if (r == -ENOKEY)
		fprintf(stderr,
			"swu: no key in a PKCS#11 token matches '%s' (token '%s', object '%s'): "
			"check the token's label and the key's object name%s\n",
			u.path, u.token ? u.token : "", u.object ? u.object : "",
			u.module_path ? "" : ", and the module (module-path= in the URI)");
	else if (r == -EACCES)
		fprintf(stderr, "swu: the token '%s' refused the PIN: cannot use key '%s'\n",
			u.token ? u.token : "", u.path);
	else if (r == -ENOMEDIUM) {
		fprintf(stderr,
			"swu: the token '%s' needs a PIN for '%s': give pin-source=file:PATH in "
			"the URI or --pin-file\n",
			u.token ? u.token : "", u.path);
		r = -ENOKEY;
	} else if (r == -EBADMSG)
		fprintf(stderr, "swu: the key '%s' has no public key swu can read\n", u.path);
	if (r >= 0 && swu_key_get_keyval(pub, keyval) < 0) {
		fprintf(stderr, "swu: '%s' is not an ECDSA P-256 key\n", u.path);
		r = -EBADMSG;
	}
	if (r < 0)
		capture_show(&c);
	capture_done(&c);
	if (r < 0) {
		EVP_PKEY_free(key);
		EVP_PKEY_free(pub);
		pkcs11_release_engine(e);
	} else {
		*ret_key = key;
		*ret_pub = pub;
		*ret_engine = e;
	}
	pkcs11_uri_done(&u);
	return r;
}

#endif
