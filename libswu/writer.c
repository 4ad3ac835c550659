/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "fileio.h"
#include "macro.h"
#include "wire.h"
#include "writer.h"

static int write_buf(int fd, SwuBuf *b)
{
	int r = swu_write_all(fd, b->data, b->size);

	b->size = 0;
	return r;
}

static int write_chunk(void *userdata, const uint8_t *p, size_t n)
{
	return swu_write_all(*(const int *)userdata, p, n);
}

/* Plain copy: let the kernel move the bytes (reflink or in-kernel copy) when it can. */
static int copy_range(int out_fd, const SwuPayloadSource *p)
{
	off_t in = (off_t)p->offset;
	uint64_t left = p->size;
	int r;

	while (left > 0) {
		ssize_t n = copy_file_range(p->fd, &in, out_fd, NULL,
					    (size_t)MIN(left, (uint64_t)1 << 30), 0);

		if (n < 0 &&
		    (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		left -= (uint64_t)n;
	}
	if (left == 0)
		return 0;
	r = swu_read_hashed(p->fd, (uint64_t)in, left, NULL, write_chunk, &out_fd);
	return r == -ENODATA ? -EIO : r;
}

static int copy_hashed(SwuContext *ctx, int out_fd, const SwuPayloadSource *p)
{
	uint8_t digest[SWU_SHA256_SIZE];
	int r;

	r = swu_sha256_range(p->fd, p->offset, p->size, write_chunk, &out_fd, digest);
	if (r == -ENODATA)
		return -EIO;
	if (r < 0)
		return r;
	if (memcmp(digest, p->sha256, SWU_SHA256_SIZE) != 0)
		return swu_fail(ctx, -EBADMSG, "payload", "hash",
				"'%s' changed while it was being added", p->name);
	return 0;
}

int swu_payload_copy(SwuContext *ctx, int out_fd, const SwuPayloadSource *p)
{
	assert_return(ctx, -EINVAL);
	assert_return(out_fd >= 0, -EINVAL);
	assert_return(p, -EINVAL);

	return p->sha256 ? copy_hashed(ctx, out_fd, p) : copy_range(out_fd, p);
}

static int write_payload(SwuContext *ctx, int out_fd, const SwuPayloadSource *p)
{
	size_t name_len = strlen(p->name);
	uint64_t entry =
		1 + swu_varint_size(name_len) + name_len + 1 + swu_varint_size(p->size) + p->size;
	SwuBuf b = {};
	int r;

	/* target_payloads entry: tag 4, then key (1) and value (2) with the value's bytes last. */
	r = swu_buf_put_varint(&b, (4u << 3) | SWU_WIRE_LEN);
	if (r >= 0)
		r = swu_buf_put_varint(&b, entry);
	if (r >= 0)
		r = swu_buf_put_len_field(&b, 1, p->name, name_len);
	if (r >= 0)
		r = swu_buf_put_varint(&b, (2u << 3) | SWU_WIRE_LEN);
	if (r >= 0)
		r = swu_buf_put_varint(&b, p->size);
	if (r >= 0)
		r = write_buf(out_fd, &b);
	swu_buf_done(&b);
	if (r < 0)
		return r;
	return swu_payload_copy(ctx, out_fd, p);
}

int swu_bundle_write_chain(SwuContext *ctx, int out_fd, const SwuRootLink *chain, size_t n_chain,
			   const uint8_t *root, size_t root_size, const uint8_t *timestamp,
			   size_t timestamp_size, const SwuMetadataEntry *targets, size_t n_targets,
			   const SwuPayloadSource *payloads, size_t n_payloads)
{
	SwuBuf b = {};
	int r = 0;

	assert_return(ctx, -EINVAL);
	assert_return(out_fd >= 0, -EINVAL);
	assert_return(chain || n_chain == 0, -EINVAL);
	assert_return(root || root_size == 0, -EINVAL);
	assert_return(timestamp || timestamp_size == 0, -EINVAL);
	assert_return(targets || n_targets == 0, -EINVAL);
	assert_return(payloads || n_payloads == 0, -EINVAL);

	/* The chain first: a streaming device walks it before it judges the root and targets. */
	for (size_t i = 0; r >= 0 && i < n_chain; i++)
		r = swu_buf_put_len_field(&b, SWU_BUNDLE_ROOT_CHAIN, chain[i].data, chain[i].size);
	if (r >= 0 && root)
		r = swu_buf_put_len_field(&b, 5, root, root_size);
	/* after the root it is checked under, before the targets metadata it names */
	if (r >= 0 && timestamp)
		r = swu_buf_put_len_field(&b, SWU_BUNDLE_TIMESTAMP, timestamp, timestamp_size);
	for (size_t i = 0; r >= 0 && i < n_targets; i++) {
		SwuBuf entry = {};

		r = swu_buf_put_len_field(&entry, 1, targets[i].name, strlen(targets[i].name));
		if (r >= 0)
			r = swu_buf_put_len_field(&entry, 2, targets[i].data, targets[i].size);
		if (r >= 0)
			r = swu_buf_put_len_field(&b, 3, entry.data, entry.size);
		swu_buf_done(&entry);
	}
	if (r >= 0)
		r = write_buf(out_fd, &b);
	swu_buf_done(&b);
	for (size_t i = 0; r >= 0 && i < n_payloads; i++)
		r = write_payload(ctx, out_fd, &payloads[i]);
	return r;
}

int swu_bundle_write(SwuContext *ctx, int out_fd, const uint8_t *root, size_t root_size,
		     const SwuMetadataEntry *targets, size_t n_targets,
		     const SwuPayloadSource *payloads, size_t n_payloads)
{
	return swu_bundle_write_chain(ctx, out_fd, NULL, 0, root, root_size, NULL, 0, targets,
				      n_targets, payloads, n_payloads);
}
