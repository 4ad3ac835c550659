/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Builders for test keys, root and targets metadata and bundles, made with libswu and OpenSSL
 * at run time: no committed binary blobs. Bundles are assembled field by field so tests can put
 * fields in any order, repeat them, or break them.
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "context.h"
#include "metadata.h"
#include "tuf.h"
#include "wire.h"

#define TU_MAX_KEYS 8

typedef struct TuFile {
	const char *name;
	const void *data;
	size_t size;
} TuFile;

/* A fresh P-256 key; aborts the test on failure. */
EVP_PKEY *tu_key(void);

typedef struct TuRootSpec {
	EVP_PKEY *root[TU_MAX_KEYS];
	size_t n_root;
	EVP_PKEY *targets[TU_MAX_KEYS];
	size_t n_targets;
	EVP_PKEY *timestamp[TU_MAX_KEYS]; /* none: no timestamp role */
	size_t n_timestamp;
	uint32_t version;
	uint32_t root_threshold;
	uint32_t targets_threshold;
	uint32_t timestamp_threshold;	/* 0: 1 */
	EVP_PKEY *signers[TU_MAX_KEYS]; /* keys that sign the root */
	size_t n_signers;
} TuRootSpec;

/* Serialized SignedRootMetadata built and signed per @spec. */
void tu_root(const TuRootSpec *spec, SwuBuf *out);
/* A root of @version with one root key and one targets key, signed by @signers. */
void tu_root_simple(uint32_t version, EVP_PKEY *root_key, EVP_PKEY *targets_key,
		    EVP_PKEY *const *signers, size_t n, SwuBuf *out);
/* Serialized SignedRootMetadata around raw @root bytes, signed by @signers. */
void tu_root_raw(const SwuRootMetadata *root, EVP_PKEY *const *signers, size_t n, SwuBuf *out);

typedef struct TuTargetsSpec {
	uint32_t version;
	const char *role;	   /* NULL: "targets" */
	const char *compatible[4]; /* NULL-terminated */
	int64_t expires;	   /* 0: none */
	int64_t signed_at;	   /* 0: none (as Pigweed's tools make it) */
	TuFile files[8];
	size_t n_files;
	EVP_PKEY *signers[TU_MAX_KEYS];
	size_t n_signers;
} TuTargetsSpec;

/* Serialized SignedTargetsMetadata: files hashed with SHA-256, signed by @spec->signers. */
void tu_targets(const TuTargetsSpec *spec, SwuBuf *out);
/* Appends a signature by @key over the serialized metadata of @signed_md of @kind (true and false
 * still mean root and targets). */
void tu_sign(SwuSignedKind kind, EVP_PKEY *key, SwuBuf *signed_md);

/* Bundle fields, appended in any order. */
void tu_put_root(SwuBuf *b, const SwuBuf *root);
/* One intermediate root of the chain (UpdateBundle field 100, root_chain). */
void tu_put_root_link(SwuBuf *b, const SwuBuf *root);
void tu_put_targets(SwuBuf *b, const char *name, const SwuBuf *targets);
void tu_put_payload(SwuBuf *b, const char *name, const void *data, size_t n);
/* A payload entry with the value before the key. */
void tu_put_payload_value_first(SwuBuf *b, const char *name, const void *data, size_t n);

/* A new temporary directory $TMPDIR/swu-@name.XXXXXX (default /tmp); the caller frees the path. */
char *tu_tmpdir(const char *name);
/* Removes @path and everything below it, without a shell; a missing @path is fine. */
void tu_rm_rf(const char *path);
/* The number of regular files below @path. */
int tu_count_files(const char *path);
/* Writes @text into @path (created or truncated, mode 0644). */
void tu_write_text(const char *path, const char *text);
/* asprintf() that aborts the test on failure. */
char *tu_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A memfd holding @n bytes of @p. */
int tu_memfd(const void *p, size_t n);

typedef struct TuVerify {
	const SwuBuf *root; /* trusted root, NULL with self */
	bool self;
	const void *manifest;
	size_t manifest_size;
	const char *compatible;
	size_t chunk; /* 0: verify from a file; else stream in chunks of this size */
} TuVerify;

/* Verifies @bundle bytes, returns the libswu result. */
int tu_verify(SwuContext *ctx, const TuVerify *opts, const SwuBuf *bundle);
/* Like tu_verify, and gives the rotated root (copied, caller frees) and the manifest. */
int tu_verify_full(SwuContext *ctx, const TuVerify *opts, const SwuBuf *bundle, SwuBuf *ret_root,
		   SwuBuf *ret_manifest);

/* A standard good setup: keys, root v1 and a signed two-file bundle. */
typedef struct TuWorld {
	EVP_PKEY *root_key, *targets_key;
	SwuBuf root;	/* trusted root v1 */
	SwuBuf targets; /* targets v1 with "rootfs" and "appfs", signed */
	SwuBuf bundle;	/* root + targets + payloads */
} TuWorld;

static const char tu_rootfs[] __attribute__((unused)) = "root filesystem image bytes, quite a few "
							"of them, 0123456789abcdef";
static const char tu_appfs[] __attribute__((unused)) = "application partition";

void tu_world_init(TuWorld *w);
void tu_world_done(TuWorld *w);
SwuContext *tu_context(void);

typedef struct TuCase {
	const char *name;
	const TTest *test;
	int timeout; /* seconds; 0: Check's default */
	int signal;  /* the test passes only when it ends with this signal; 0: none */
} TuCase;

/*
 * Runs one TCase per entry, each with the checked fixture; returns main()'s exit status. The
 * tests run with assert_return()'s critical mode on: a misuse of libswu aborts them loudly.
 */
int tu_run(const char *suite_name, const TuCase *cases, size_t n, void (*setup)(void),
	   void (*teardown)(void));

/* Fixed clock for expiry tests. */
time_t tu_clock(void *userdata);
