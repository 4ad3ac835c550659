/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "fileio.h"
#include "macro.h"

#define INDEX_CHUNK (64u * 1024u)

static void free_links(SwuRootLink *links, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(links[i].data);
	free(links);
}

static void *memdup_size(const void *p, size_t n)
{
	void *d = malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

/* Appends a copy of a root_chain entry. */
static int add_link(SwuRootLink **links, size_t *n, const uint8_t *data, size_t size)
{
	SwuRootLink *a = realloc(*links, (*n + 1) * sizeof(*a));

	if (!a)
		return -ENOMEM;
	*links = a;
	a[*n] = (SwuRootLink){ memdup_size(data, size), size };
	if (!a[*n].data)
		return -ENOMEM;
	(*n)++;
	return 0;
}

SwuBundle *swu_bundle_free(SwuBundle *b)
{
	if (!b)
		return NULL;
	free(b->root);
	free(b->timestamp);
	free_links(b->chain, b->n_chain);
	for (size_t i = 0; i < b->n_targets; i++) {
		free(b->targets[i].name);
		free(b->targets[i].data);
	}
	free(b->targets);
	for (size_t i = 0; i < b->n_payloads; i++)
		free(b->payloads[i].name);
	free(b->payloads);
	swu_context_unref(b->ctx);
	free(b);
	return NULL;
}

static int index_metadata(void *userdata, SwuBundleField field, const char *name,
			  const uint8_t *data, size_t size)
{
	SwuBundle *b = userdata;
	SwuMetadataEntry *a;

	if (field == SWU_BUNDLE_ROOT) {
		b->root = memdup_size(data, size);
		b->root_size = size;
		return b->root ? 0 : -ENOMEM;
	}
	if (field == SWU_BUNDLE_TIMESTAMP) {
		b->timestamp = memdup_size(data, size);
		b->timestamp_size = size;
		return b->timestamp ? 0 : -ENOMEM;
	}
	if (field == SWU_BUNDLE_ROOT_CHAIN)
		return add_link(&b->chain, &b->n_chain, data, size);
	a = realloc(b->targets, (b->n_targets + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	b->targets = a;
	a[b->n_targets] = (SwuMetadataEntry){ strdup(name), memdup_size(data, size), size };
	if (!a[b->n_targets].name || !a[b->n_targets].data) {
		free(a[b->n_targets].name);
		free(a[b->n_targets].data);
		return -ENOMEM;
	}
	b->n_targets++;
	return 0;
}

static int index_payload_begin(void *userdata, const char *name, uint64_t offset, uint64_t size)
{
	return SWU_READER_SKIP;
}

static int index_payload_end(void *userdata, const char *name, uint64_t offset, uint64_t size)
{
	SwuBundle *b = userdata;
	SwuPayload *a;

	a = realloc(b->payloads, (b->n_payloads + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	b->payloads = a;
	a[b->n_payloads] = (SwuPayload){ strdup(name), offset, size };
	if (!a[b->n_payloads].name)
		return -ENOMEM;
	b->n_payloads++;
	return 0;
}

static const SwuReaderOps index_ops = {
	.metadata = index_metadata,
	.payload_begin = index_payload_begin,
	.payload_end = index_payload_end,
};

DEFINE_TRIVIAL_CLEANUP_FUNC(SwuBundleReader *, swu_bundle_reader_free);

int swu_bundle_open_fd(SwuContext *ctx, int fd, SwuBundle **ret)
{
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_(swu_bundle_reader_freep) SwuBundleReader *reader = NULL;
	uint8_t buf[INDEX_CHUNK];
	uint64_t pos = 0;
	struct stat st;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(fd >= 0, -EINVAL);
	assert_return(ret, -EINVAL);

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return swu_fail(ctx, -EINVAL, "bundle", "file", "bundle is not a regular file");
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctx = swu_context_ref(ctx);
	b->fd = fd;
	b->size = (uint64_t)st.st_size;
	r = swu_bundle_reader_new(ctx, &index_ops, b, &reader);
	if (r < 0)
		return r;

	while (pos < b->size) {
		uint64_t skip = swu_bundle_reader_skippable(reader);
		ssize_t n;

		if (skip > 0) {
			/* Seek over payload bytes; stopping at EOF leaves truncation to finish(). */
			skip = MIN(skip, b->size - pos);
			r = swu_bundle_reader_skip(reader, skip);
			if (r < 0)
				return r;
			pos += skip;
			continue;
		}
		n = pread(fd, buf, (size_t)MIN((uint64_t)sizeof(buf), b->size - pos), (off_t)pos);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		r = swu_bundle_reader_feed(reader, buf, (size_t)n);
		if (r < 0)
			return r;
		pos += (uint64_t)n;
	}
	r = swu_bundle_reader_finish(reader);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

int swu_bundle_open_path(SwuContext *ctx, const char *path, int *ret_fd, SwuBundle **ret)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(path, -EINVAL);
	assert_return(ret_fd, -EINVAL);
	assert_return(ret, -EINVAL);

	r = swu_open_regular(path, &fd);
	if (r == -EINVAL)
		return swu_fail(ctx, r, "bundle", "file",
				"cannot open bundle '%s': not a regular file", path);
	if (r < 0)
		return swu_fail(ctx, r, "bundle", "open", "cannot open bundle '%s': %s", path,
				strerror(-r));
	r = swu_bundle_open_fd(ctx, fd, ret);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

const SwuMetadataEntry *swu_bundle_get_targets(const SwuBundle *b, const char *name)
{
	assert_return(b, NULL);
	assert_return(name, NULL);

	for (size_t i = 0; i < b->n_targets; i++)
		if (streq(b->targets[i].name, name))
			return &b->targets[i];
	return NULL;
}

int swu_bundle_read_payload(const SwuBundle *b, const SwuPayload *p, SwuDataFunc func,
			    void *userdata)
{
	int r;

	assert_return(b, -EINVAL);
	assert_return(p, -EINVAL);

	(void)posix_fadvise(b->fd, (off_t)p->offset, (off_t)p->size, POSIX_FADV_SEQUENTIAL);
	r = swu_read_hashed(b->fd, p->offset, p->size, NULL, func, userdata);
	if (r == -ENODATA)
		return swu_fail(b->ctx, -EIO, "bundle", "file",
				"bundle file shrank while reading payload '%s'", p->name);
	return r;
}

static int verify_data(void *userdata, const uint8_t *p, size_t n)
{
	return swu_verifier_payload_update(userdata, p, n);
}

static int verify_metadata(SwuVerifier *v, const SwuRootLink *chain, size_t n_chain,
			   const uint8_t *root, size_t root_size, const uint8_t *timestamp,
			   size_t timestamp_size, const SwuMetadataEntry *targets)
{
	int r;

	r = swu_verifier_check_root_chain(v, chain, n_chain, root, root_size);
	if (r < 0)
		return r;
	r = swu_verifier_check_timestamp(v, timestamp, timestamp_size);
	if (r < 0)
		return r;
	return swu_verifier_check_targets(v, targets ? targets->data : NULL,
					  targets ? targets->size : 0);
}

int swu_bundle_verify_metadata(SwuBundle *b, SwuVerifier *v)
{
	assert_return(b, -EINVAL);
	assert_return(v, -EINVAL);

	return verify_metadata(v, b->chain, b->n_chain, b->root, b->root_size, b->timestamp,
			       b->timestamp_size, swu_bundle_get_targets(b, "targets"));
}

int swu_bundle_verify(SwuBundle *b, SwuVerifier *v)
{
	int r;

	assert_return(b, -EINVAL);
	assert_return(v, -EINVAL);

	r = swu_bundle_verify_metadata(b, v);
	if (r < 0)
		return r;
	for (size_t i = 0; i < b->n_payloads; i++) {
		const SwuPayload *p = &b->payloads[i];

		r = swu_verifier_payload_begin(v, p->name, p->size);
		if (r < 0)
			return r;
		if (r > 0)
			continue; /* not listed: ignored */
		r = swu_bundle_read_payload(b, p, verify_data, v);
		if (r < 0)
			return r;
		r = swu_verifier_payload_end(v);
		if (r < 0)
			return r;
	}
	return swu_verifier_finish(v);
}

struct SwuStream {
	SwuContext *ctx;
	SwuVerifier *verifier;
	const SwuStreamSink *sink;
	void *userdata;
	SwuBundleReader *reader;
	uint8_t *root;
	size_t root_size;
	uint8_t *timestamp;
	size_t timestamp_size;
	SwuRootLink *chain;
	size_t n_chain;
	SwuMetadataEntry targets;
	bool have_targets, verified;
	const SwuTarget *current;
};

SwuStream *swu_stream_free(SwuStream *s)
{
	if (!s)
		return NULL;
	swu_bundle_reader_free(s->reader);
	free(s->root);
	free(s->timestamp);
	free_links(s->chain, s->n_chain);
	free(s->targets.name);
	free(s->targets.data);
	swu_context_unref(s->ctx);
	free(s);
	return NULL;
}

static int stream_order(SwuStream *s, const char *what)
{
	return swu_fail(s->ctx, -ESPIPE, "bundle", "stream-order",
			"bundle: %s, so it cannot be verified while streaming", what);
}

static int stream_metadata(void *userdata, SwuBundleField field, const char *name,
			   const uint8_t *data, size_t size)
{
	SwuStream *s = userdata;

	if (s->verified) {
		/* Pigweed's tools write the root last: the trusted root again changes nothing. */
		if (field == SWU_BUNDLE_ROOT &&
		    swu_verifier_is_trusted_root(s->verifier, data, size))
			return 0;
		return stream_order(s, "metadata follows a payload");
	}
	if (field == SWU_BUNDLE_ROOT) {
		s->root = memdup_size(data, size);
		s->root_size = size;
		return s->root ? 0 : -ENOMEM;
	}
	if (field == SWU_BUNDLE_TIMESTAMP) {
		s->timestamp = memdup_size(data, size);
		s->timestamp_size = size;
		return s->timestamp ? 0 : -ENOMEM;
	}
	if (field == SWU_BUNDLE_ROOT_CHAIN)
		return add_link(&s->chain, &s->n_chain, data, size);
	if (!streq(name, "targets"))
		return 0;
	s->targets = (SwuMetadataEntry){ strdup(name), memdup_size(data, size), size };
	s->have_targets = true;
	return s->targets.name && s->targets.data ? 0 : -ENOMEM;
}

/* Rules 2-3 once, when the first payload begins (@more: bytes may still follow) or at the end. */
static int stream_verify_metadata(SwuStream *s, bool more)
{
	int r;

	if (s->verified)
		return 0;
	s->verified = true;
	r = verify_metadata(s->verifier, s->chain, s->n_chain, s->root, s->root_size, s->timestamp,
			    s->timestamp_size, s->have_targets ? &s->targets : NULL);
	/*
	 * Pigweed's tools write fields in number order: the root comes after the payloads. A root
	 * rotation that authorises a new targets key may still follow, so a signature failure now
	 * is no verdict: stage the bundle, where the root is read first.
	 */
	if (r == -EKEYREJECTED && more && !s->root && s->n_chain == 0)
		return stream_order(s, "its targets metadata is not signed by a trusted key and a "
				       "root metadata may still follow the payloads");
	return r;
}

static int stream_payload_begin(void *userdata, const char *name, uint64_t offset, uint64_t size)
{
	SwuStream *s = userdata;
	int r;

	if (!s->verified && !s->have_targets)
		return stream_order(s, "a payload comes before the targets metadata");
	r = stream_verify_metadata(s, true);
	if (r < 0)
		return r;
	if (!name)
		return stream_order(s, "a payload's name follows its bytes");
	r = swu_verifier_payload_begin(s->verifier, name, size);
	if (r != 0)
		return r > 0 ? SWU_READER_SKIP : r;
	s->current = swu_verifier_find_target(s->verifier, name);
	if (s->sink && s->sink->payload_begin)
		return s->sink->payload_begin(s->userdata, s->current);
	return 0;
}

static int stream_payload_data(void *userdata, const uint8_t *p, size_t n)
{
	SwuStream *s = userdata;
	int r;

	r = swu_verifier_payload_update(s->verifier, p, n);
	if (r < 0)
		return r;
	if (s->sink && s->sink->payload_data)
		return s->sink->payload_data(s->userdata, p, n);
	return 0;
}

static int stream_payload_end(void *userdata, const char *name, uint64_t offset, uint64_t size)
{
	SwuStream *s = userdata;
	const SwuTarget *t = s->current;
	int r;

	if (!t)
		return 0;
	s->current = NULL;
	r = swu_verifier_payload_end(s->verifier);
	if (r < 0)
		return r;
	if (s->sink && s->sink->payload_end)
		return s->sink->payload_end(s->userdata, t);
	return 0;
}

static const SwuReaderOps stream_ops = {
	.metadata = stream_metadata,
	.payload_begin = stream_payload_begin,
	.payload_data = stream_payload_data,
	.payload_end = stream_payload_end,
};

int swu_stream_new(SwuContext *ctx, SwuVerifier *v, const SwuStreamSink *sink, void *userdata,
		   SwuStream **ret)
{
	SwuStream *s;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(v, -EINVAL);
	assert_return(ret, -EINVAL);

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ctx = swu_context_ref(ctx);
	s->verifier = v;
	s->sink = sink;
	s->userdata = userdata;
	r = swu_bundle_reader_new(ctx, &stream_ops, s, &s->reader);
	if (r < 0) {
		swu_stream_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int swu_stream_feed(SwuStream *s, const void *p, size_t n)
{
	assert_return(s, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	return swu_bundle_reader_feed(s->reader, p, n);
}

int swu_stream_finish(SwuStream *s)
{
	int r;

	assert_return(s, -EINVAL);

	r = swu_bundle_reader_finish(s->reader);
	if (r < 0)
		return r;
	r = stream_verify_metadata(s, false);
	if (r < 0)
		return r;
	return swu_verifier_finish(s->verifier);
}
