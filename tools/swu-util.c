/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "macro.h"
#include "metadata.h"
#include "swu-util.h"
#include "text.h"
#include "writer.h"

SwuContext *swu_ctx;

#define SECRET_MAX 4096

int exit_status(int r)
{
	if (r >= 0)
		return EXIT_OK;
	return swu_error_is_rejection(r) ? EXIT_REJECTED : EXIT_USAGE;
}

int log_error_errno(int r, const char *fmt, ...)
{
	const SwuFailure *f = swu_context_get_failure(swu_ctx);
	va_list ap;

	fputs("swu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (f->error == r && f->message[0])
		fprintf(stderr, ": %s\n", f->message);
	else
		fprintf(stderr, ": %s\n", strerror(-r));
	return r;
}

int log_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("swu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see 'swu --help')\n", stderr);
	return -EINVAL;
}

int parse_u32(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int parse_time(const char *s, int64_t *ret)
{
	struct tm tm = {};
	const char *rest;
	long long off = 0;
	char *end;

	if (s[0] == '@') {
		errno = 0;
		long long v = strtoll(s + 1, &end, 10);

		if (errno || !*(s + 1) || *end)
			return -EINVAL;
		*ret = v;
		return 0;
	}
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -EINVAL;
	if (*rest == '.') /* fractions of a second are dropped */
		while (*++rest >= '0' && *rest <= '9')
			;
	if (streq(rest, "Z") || streq(rest, "z"))
		off = 0;
	else if ((rest[0] == '+' || rest[0] == '-') && strlen(rest) == 6 && rest[3] == ':') {
		int h, m;

		if (sscanf(rest + 1, "%2d:%2d", &h, &m) != 2 || h > 23 || m > 59)
			return -EINVAL;
		off = (rest[0] == '-' ? -1 : 1) * (h * 3600LL + m * 60LL);
	} else
		return -EINVAL;
	*ret = (int64_t)timegm(&tm) - off;
	return 0;
}

int read_metadata(const char *path, uint8_t **ret, size_t *ret_size)
{
	size_t max = swu_context_get_metadata_max(swu_ctx);
	int r;

	r = swu_read_file(path, max, ret, ret_size);
	/* Devices refuse metadata over the cap: a verdict on the file (-EFBIG), not an I/O error. */
	if (r == -EFBIG)
		return log_error_errno(r, "'%s' is larger than the metadata size cap of %zu bytes",
				       path, max);
	if (r < 0)
		return log_error_errno(r, "Cannot read '%s'", path);
	return 0;
}

int bundle_open(const char *path, int *ret_fd, SwuBundle **ret)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot open bundle '%s'", path);
	r = swu_bundle_open_fd(swu_ctx, fd, ret);
	if (r < 0)
		return log_error_errno(r, "Cannot read bundle '%s'", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int bundle_rewrite(const char *path, const SwuBundle *old, const uint8_t *root, size_t root_size,
		   const uint8_t *targets_data, size_t targets_size, const char *drop,
		   const void *extra)
{
	return bundle_rewrite_chain(path, old, old->chain, old->n_chain, root, root_size,
				    targets_data, targets_size, drop, extra);
}

int bundle_rewrite_chain(const char *path, const SwuBundle *old, const SwuRootLink *chain,
			 size_t n_chain, const uint8_t *root, size_t root_size,
			 const uint8_t *targets_data, size_t targets_size, const char *drop,
			 const void *extra)
{
	const SwuPayloadSource *add = extra;
	_cleanup_free_ SwuPayloadSource *payloads = NULL;
	_cleanup_free_ SwuMetadataEntry *targets = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t n_payloads = 0, n_targets = 0;
	int r;

	payloads = calloc(old->n_payloads + 1, sizeof(*payloads));
	targets = calloc(old->n_targets + 1, sizeof(*targets));
	if (!payloads || !targets)
		return log_error_errno(-ENOMEM, "Cannot rewrite bundle");
	for (size_t i = 0; i < old->n_targets; i++) {
		targets[n_targets] = old->targets[i];
		if (targets_data && streq(old->targets[i].name, "targets")) {
			targets[n_targets].data = (uint8_t *)targets_data;
			targets[n_targets].size = targets_size;
		}
		n_targets++;
	}
	for (size_t i = 0; i < old->n_payloads; i++) {
		const SwuPayload *p = &old->payloads[i];

		if (drop && streq(p->name, drop))
			continue;
		payloads[n_payloads++] =
			(SwuPayloadSource){ p->name, old->fd, p->offset, p->size, NULL };
	}
	if (add)
		payloads[n_payloads++] = *add;

	r = swu_tmpfile_open(path, 0644, &fd, &tmp);
	if (r < 0)
		return log_error_errno(r, "Cannot create a temporary file next to '%s'", path);
	r = swu_bundle_write_chain(swu_ctx, fd, chain, n_chain, root, root_size, old->timestamp,
				   old->timestamp_size, targets, n_targets, payloads, n_payloads);
	if (r < 0) {
		unlink(tmp);
		return log_error_errno(r, "Cannot write bundle '%s'", path);
	}
	r = swu_tmpfile_commit(fd, tmp, path);
	if (r < 0)
		return log_error_errno(r, "Cannot replace bundle '%s'", path);
	return 0;
}

int channel_lock(const char *dir, int *ret_fd)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return log_error_errno(-errno, "Cannot open '%s'", dir);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int r = -errno;

			close(fd);
			return log_error_errno(r, "Cannot lock '%s'", dir);
		}
	*ret_fd = fd;
	return 0;
}

const char *rollout_text(const SwuRollout *r, char *buf, size_t size)
{
	char when[SWU_TIME_UTC_MAX];

	if (!r->set)
		snprintf(buf, size, "none (every device installs)");
	else
		snprintf(buf, size, "%u%%%s%s%s", r->percent, r->start ? " from " : "",
			 r->start ? swu_time_utc(r->start, when, sizeof(when)) : "",
			 r->halted ? ", halted" : "");
	return buf;
}

int write_channel_metadata(const char *meta, const SwuBundle *b, const uint8_t *timestamp,
			   size_t timestamp_size)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int out = -EBADF;
	struct stat st;
	int r;

	r = swu_tmpfile_open(meta, 0644, &out, &tmp);
	if (r < 0)
		return log_error_errno(r, "Cannot create '%s'", meta);
	r = swu_bundle_write_chain(swu_ctx, out, b->chain, b->n_chain, b->root, b->root_size,
				   timestamp, timestamp_size, b->targets, b->n_targets, NULL, 0);
	/*
	 * Servers derive ETag and Last-Modified from the mtime in seconds (nginx: mtime and size):
	 * metadata written in the same second as the last, of the same size, would get the same
	 * ETag, and devices would be told 304. The new file is made newer.
	 */
	if (r >= 0 && stat(meta, &st) == 0 && st.st_mtim.tv_sec >= time(NULL)) {
		struct timespec ts[2] = { { .tv_sec = st.st_mtim.tv_sec + 1 },
					  { .tv_sec = st.st_mtim.tv_sec + 1 } };

		if (futimens(out, ts) < 0)
			r = -errno;
	}
	if (r >= 0)
		r = swu_tmpfile_commit(out, tmp, meta);
	else
		unlink(tmp);
	if (r < 0)
		return log_error_errno(r, "Cannot write '%s'", meta);
	return 0;
}

#define EXPIRY_WARN_DAYS 30

int check_self_verified(const SwuBundle *b)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	const SwuMetadataEntry *e = swu_bundle_get_targets(b, "targets");
	int r;

	if (b->root)
		return 0;
	r = e ? swu_targets_decode(swu_ctx, e->data, e->size, &s, &t) : -EBADMSG;
	if (r < 0)
		return r;
	/* Every sound root has a targets threshold of 1 or more. */
	if (s->n_signatures == 0)
		return swu_fail(swu_ctx, -EKEYREJECTED, "targets", "threshold",
				"targets metadata is not signed: every device refuses it, whatever "
				"its root");
	printf("(the bundle carries no root metadata: its signatures were not checked; devices "
	       "check them against their own root)\n");
	return 0;
}

void warn_expiring(const SwuVerifier *v)
{
	int64_t expires = swu_verifier_get_expires(v);
	int64_t left = expires - (int64_t)swu_context_now(swu_ctx);
	char when[SWU_TIME_UTC_MAX];
	long long n, unit;

	if (expires == 0 || left >= EXPIRY_WARN_DAYS * 86400)
		return;
	/* In the largest unit that is not rounded up past the truth: 3 s is not "1 day". */
	unit = left >= 86400 ? 86400 : left >= 3600 ? 3600 : left >= 60 ? 60 : 1;
	n = (long long)(left + unit - 1) / unit;
	fprintf(stderr,
		"swu: warning: the targets metadata expires on %s, in %lld %s%s: devices refuse "
		"it from then on\n",
		swu_time_utc(expires, when, sizeof(when)), n,
		unit == 86400  ? "day"
		: unit == 3600 ? "hour"
		: unit == 60   ? "minute"
			       : "second",
		n == 1 ? "" : "s");
}

void warn_no_compatible(const SwuBundle *b, const char *path)
{
	_cleanup_(swu_signed_targets_freep) SwuSignedTargets *s = NULL;
	_cleanup_(swu_targets_metadata_freep) SwuTargetsMetadata *t = NULL;
	const SwuMetadataEntry *e = swu_bundle_get_targets(b, "targets");

	if (!e || swu_targets_decode(swu_ctx, e->data, e->size, &s, &t) < 0) {
		swu_context_clear_failure(swu_ctx);
		return; /* said by the verification */
	}
	if (t->n_compatible == 0)
		fprintf(stderr,
			"swu: warning: '%s' names no compatible hardware (create-empty-bundle "
			"--compatible): every device installs it, whatever its Compatible=\n",
			path);
}

bool requirement_lists_key(const SwuRequirement *req, const uint8_t id[SWU_KEY_ID_SIZE])
{
	for (size_t i = 0; req && i < req->n_key_ids; i++)
		if (req->key_ids[i].len == SWU_KEY_ID_SIZE &&
		    memcmp(req->key_ids[i].data, id, SWU_KEY_ID_SIZE) == 0)
			return true;
	return false;
}

int print_threshold(const char *what, const char *role, const SwuRootMetadata *keys,
		    const SwuRequirement *req, const uint8_t *msg, size_t n,
		    SwuSignature *const *sigs, size_t n_sigs)
{
	unsigned valid = 0;
	int r;

	if (!req)
		return 0;
	r = swu_signatures_count(swu_ctx, keys, req, msg, n, sigs, n_sigs, &valid);
	if (r < 0)
		return r;
	printf("  %s: %u of %u required signed", what, valid, req->threshold);
	if (valid < req->threshold)
		printf(", %u more needed", req->threshold - valid);
	putchar('\n');
	for (size_t i = 0; i < req->n_key_ids; i++) {
		_cleanup_free_ char *hex = malloc(2 * req->key_ids[i].len + 1);

		if (!hex)
			return -ENOMEM;
		r = swu_signature_by_key(swu_ctx, keys, &req->key_ids[i], msg, n, sigs, n_sigs);
		if (r < 0)
			return r;
		swu_hex(req->key_ids[i].data, req->key_ids[i].len, hex);
		printf("    %s %s: %s\n", role, hex, swu_key_signature_to_string(r));
	}
	return 0;
}

char *secret_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
	return NULL;
}

int secret_read(const char *path, int fd, const char *what, char **ret)
{
	_cleanup_close_ int own = -EBADF;
	char buf[SECRET_MAX];
	size_t got = 0;
	int r = 0;

	if (path) {
		own = open(path, O_RDONLY | O_CLOEXEC);
		if (own < 0)
			return log_error_errno(-errno, "Cannot read %s file '%s'", what, path);
		fd = own;
	}
	while (got < sizeof(buf) - 1) {
		ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		got += (size_t)k;
		/* The first line is all that counts: a terminal or a pipe kept open ends it there. */
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = 0;
	/* The first line, as openssl's -passin file: takes it. */
	buf[strcspn(buf, "\r\n")] = 0;
	if (r >= 0 && !buf[0])
		r = -ENODATA;
	if (r >= 0 && !(*ret = strdup(buf)))
		r = -ENOMEM;
	OPENSSL_cleanse(buf, sizeof(buf));
	if (r == -ENODATA && path)
		return log_error_errno(-EINVAL, "%s file '%s' is empty", what, path);
	if (r == -ENODATA)
		return log_error_errno(-EINVAL, "no %s on file descriptor %d", what, fd);
	if (r < 0 && path)
		return log_error_errno(r, "Cannot read %s file '%s'", what, path);
	if (r < 0)
		return log_error_errno(r, "Cannot read the %s from file descriptor %d", what, fd);
	return 0;
}
