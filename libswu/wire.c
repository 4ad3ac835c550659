/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "text.h"
#include "wire.h"

#define WIRE_DEPTH_MAX 16

int swu_varint_decode(const uint8_t *p, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	assert_return(p || n == 0, -EINVAL);
	assert_return(ret, -EINVAL);

	for (size_t i = 0; i < SWU_VARINT_MAX; i++) {
		if (i >= n)
			return -EAGAIN;
		/* The tenth byte may only carry the top bit of a 64-bit value. */
		if (i == SWU_VARINT_MAX - 1 && p[i] > 1)
			return -EBADMSG;
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*ret = v;
			return (int)i + 1;
		}
	}
	return -EBADMSG;
}

size_t swu_varint_encode(uint64_t v, uint8_t *out)
{
	size_t i = 0;

	assert_return(out, 0);

	while (v >= 0x80) {
		out[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[i++] = (uint8_t)v;
	return i;
}

size_t swu_varint_size(uint64_t v)
{
	uint8_t tmp[SWU_VARINT_MAX];

	return swu_varint_encode(v, tmp);
}

int swu_tag_split(uint64_t tag, uint32_t *ret_field, unsigned *ret_wire)
{
	uint64_t field = tag >> 3;
	unsigned wire = tag & 7;

	assert_return(ret_field, -EINVAL);
	assert_return(ret_wire, -EINVAL);

	if (field == 0 || field > SWU_FIELD_MAX)
		return -EBADMSG;
	if (wire != SWU_WIRE_VARINT && wire != SWU_WIRE_I64 && wire != SWU_WIRE_LEN &&
	    wire != SWU_WIRE_I32)
		return -EBADMSG;
	*ret_field = (uint32_t)field;
	*ret_wire = wire;
	return 0;
}

static int expected_wire(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_ENUM:
		return SWU_WIRE_VARINT;
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return SWU_WIRE_I32;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return SWU_WIRE_I64;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return SWU_WIRE_LEN;
	}
	return -1;
}

/* 32-bit fields: a value protobuf-c would truncate is ambiguous, so reject it. */
static bool varint_fits(ProtobufCType type, uint64_t v)
{
	switch (type) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_SINT32:
		return v <= UINT32_MAX;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
		/* Negative int32 values are sign-extended to 64 bits on the wire. */
		return v <= INT32_MAX || v >= (uint64_t)INT32_MIN;
	case PROTOBUF_C_TYPE_BOOL:
		return v <= 1;
	default:
		return true;
	}
}

static int wire_check(SwuContext *ctx, const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
		      size_t n, const char *what, unsigned depth)
{
	uint64_t seen = 0;
	size_t pos = 0;

	if (depth > WIRE_DEPTH_MAX)
		return swu_fail(ctx, -EBADMSG, what, "wire", "%s: messages nested too deeply",
				what);
	if (desc->n_fields > 64)
		return swu_fail(ctx, -EBADMSG, what, "wire", "%s: descriptor too large", what);

	while (pos < n) {
		const ProtobufCFieldDescriptor *f;
		uint64_t tag, v = 0, len = 0;
		uint32_t field;
		unsigned wire;
		int r;

		r = swu_varint_decode(buf + pos, n - pos, &tag);
		if (r < 0 || swu_tag_split(tag, &field, &wire) < 0)
			return swu_fail(ctx, -EBADMSG, what, "wire",
					"%s: malformed field tag at offset %zu", what, pos);
		pos += (size_t)r;

		switch (wire) {
		case SWU_WIRE_VARINT:
			r = swu_varint_decode(buf + pos, n - pos, &v);
			if (r < 0)
				return swu_fail(ctx, -EBADMSG, what, "wire",
						"%s: field %u: malformed or truncated varint", what,
						field);
			pos += (size_t)r;
			break;
		case SWU_WIRE_I64:
		case SWU_WIRE_I32:
			len = wire == SWU_WIRE_I64 ? 8 : 4;
			if (n - pos < len)
				return swu_fail(ctx, -EBADMSG, what, "wire",
						"%s: field %u: truncated", what, field);
			pos += len;
			break;
		case SWU_WIRE_LEN:
			r = swu_varint_decode(buf + pos, n - pos, &len);
			if (r < 0 || len > n - pos - (size_t)r)
				return swu_fail(ctx, -EBADMSG, what, "wire",
						"%s: field %u: length runs past the end", what,
						field);
			pos += (size_t)r + len;
			break;
		}

		f = protobuf_c_message_descriptor_get_field(desc, field);
		if (!f)
			continue; /* unknown fields are skipped, as the schema allows */

		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			uint64_t bit = UINT64_C(1) << (f - desc->fields);

			if (seen & bit)
				return swu_fail(ctx, -EBADMSG, what, "ambiguity",
						"%s: singular field '%s' given twice", what,
						f->name);
			seen |= bit;
		}

		if ((int)wire != expected_wire(f->type)) {
			/* Packed repeated scalars arrive as LEN. */
			if (!(f->label == PROTOBUF_C_LABEL_REPEATED && wire == SWU_WIRE_LEN &&
			      expected_wire(f->type) != SWU_WIRE_LEN))
				return swu_fail(ctx, -EBADMSG, what, "wire",
						"%s: field '%s' has wire type %u", what, f->name,
						wire);
			continue;
		}
		if (wire == SWU_WIRE_VARINT && !varint_fits(f->type, v))
			return swu_fail(ctx, -EBADMSG, what, "wire",
					"%s: field '%s' value out of range", what, f->name);
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			r = swu_wire_check_string(ctx, buf + pos - len, len, what, f->name);
			if (r < 0)
				return r;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			r = wire_check(ctx, f->descriptor, buf + pos - len, len, what, depth + 1);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int swu_wire_check_string(SwuContext *ctx, const uint8_t *p, size_t n, const char *what,
			  const char *field)
{
	assert_return(ctx, -EINVAL);
	assert_return(p || n == 0, -EINVAL);
	assert_return(what, -EINVAL);
	assert_return(field, -EINVAL);

	/* protobuf-c hands out a char *: at a NUL byte C code would read a shorter string than
	 * the one that was signed ("rootfs\0/../../etc/shadow" as "rootfs"). */
	if (memchr(p, 0, n))
		return swu_fail(ctx, -EBADMSG, what, "string", "%s: %s holds a NUL byte", what,
				field);
	if (!swu_utf8_valid(p, n))
		return swu_fail(ctx, -EBADMSG, what, "string", "%s: %s is not valid UTF-8", what,
				field);
	return 0;
}

int swu_wire_check(SwuContext *ctx, const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
		   size_t n, const char *what)
{
	assert_return(ctx, -EINVAL);
	assert_return(desc, -EINVAL);
	assert_return(buf || n == 0, -EINVAL);
	assert_return(what, -EINVAL);

	return wire_check(ctx, desc, buf, n, what, 0);
}

int swu_wire_unpack(SwuContext *ctx, const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
		    size_t n, const char *what, ProtobufCMessage **ret)
{
	ProtobufCMessage *m;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(desc, -EINVAL);
	assert_return(buf || n == 0, -EINVAL);
	assert_return(what, -EINVAL);
	assert_return(ret, -EINVAL);

	if (n > swu_context_get_metadata_max(ctx))
		return swu_fail(ctx, -EBADMSG, what, "size",
				"%s: %zu bytes exceed the metadata size cap of %zu", what, n,
				swu_context_get_metadata_max(ctx));
	r = swu_wire_check(ctx, desc, buf, n, what);
	if (r < 0)
		return r;
	m = protobuf_c_message_unpack(desc, NULL, n, buf);
	if (!m)
		return swu_fail(ctx, -EBADMSG, what, "wire", "%s: cannot be decoded", what);
	*ret = m;
	return 0;
}

int swu_buf_append(SwuBuf *b, const void *p, size_t n)
{
	assert_return(b, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	if (n == 0)
		return 0;
	if (n > SIZE_MAX - b->size)
		return -ENOMEM;
	if (b->size + n > b->alloc) {
		size_t a = MAX(b->size + n, b->alloc * 2);
		uint8_t *d = realloc(b->data, MAX(a, (size_t)64));

		if (!d)
			return -ENOMEM;
		b->data = d;
		b->alloc = MAX(a, (size_t)64);
	}
	memcpy(b->data + b->size, p, n);
	b->size += n;
	return 0;
}

int swu_buf_put_varint(SwuBuf *b, uint64_t v)
{
	uint8_t tmp[SWU_VARINT_MAX];

	assert_return(b, -EINVAL);

	return swu_buf_append(b, tmp, swu_varint_encode(v, tmp));
}

int swu_buf_put_len_field(SwuBuf *b, uint32_t field, const void *p, size_t n)
{
	int r;

	assert_return(b, -EINVAL);
	assert_return(p || n == 0, -EINVAL);

	r = swu_buf_put_varint(b, (uint64_t)field << 3 | SWU_WIRE_LEN);
	if (r < 0)
		return r;
	r = swu_buf_put_varint(b, n);
	if (r < 0)
		return r;
	return swu_buf_append(b, p, n);
}

int swu_buf_put_message(SwuBuf *b, uint32_t field, const ProtobufCMessage *m)
{
	_cleanup_free_ uint8_t *tmp = NULL;
	size_t n;

	assert_return(b, -EINVAL);
	assert_return(m, -EINVAL);

	n = protobuf_c_message_get_packed_size(m);
	tmp = malloc(n ? n : 1);
	if (!tmp)
		return -ENOMEM;
	protobuf_c_message_pack(m, tmp);
	return swu_buf_put_len_field(b, field, tmp, n);
}

void swu_buf_done(SwuBuf *b)
{
	free(b->data);
	*b = (SwuBuf){};
}

int swu_wire_map_entry(SwuContext *ctx, const uint8_t *buf, size_t n, const char *what,
		       const uint8_t **ret_key, size_t *ret_key_size, const uint8_t **ret_value,
		       size_t *ret_value_size)
{
	const uint8_t *key = (const uint8_t *)"", *value = (const uint8_t *)"";
	size_t key_size = 0, value_size = 0, pos = 0;
	bool have_key = false, have_value = false;

	assert_return(ctx, -EINVAL);
	assert_return(buf || n == 0, -EINVAL);
	assert_return(ret_key, -EINVAL);
	assert_return(ret_key_size, -EINVAL);
	assert_return(ret_value, -EINVAL);
	assert_return(ret_value_size, -EINVAL);

	while (pos < n) {
		uint64_t tag, len;
		uint32_t field;
		unsigned wire;
		int r;

		r = swu_varint_decode(buf + pos, n - pos, &tag);
		if (r < 0 || swu_tag_split(tag, &field, &wire) < 0)
			return swu_fail(ctx, -EBADMSG, what, "wire", "%s: malformed map entry",
					what);
		pos += (size_t)r;
		if (wire == SWU_WIRE_VARINT) {
			r = swu_varint_decode(buf + pos, n - pos, &len);
			if (r < 0 || field <= 2)
				return swu_fail(ctx, -EBADMSG, what, "wire",
						"%s: malformed map entry", what);
			pos += (size_t)r;
			continue;
		}
		if (wire != SWU_WIRE_LEN) {
			len = wire == SWU_WIRE_I64 ? 8 : 4;
			if (field <= 2 || n - pos < len)
				return swu_fail(ctx, -EBADMSG, what, "wire",
						"%s: malformed map entry", what);
			pos += len;
			continue;
		}
		r = swu_varint_decode(buf + pos, n - pos, &len);
		if (r < 0 || len > n - pos - (size_t)r)
			return swu_fail(ctx, -EBADMSG, what, "wire",
					"%s: map entry length runs past the end", what);
		pos += (size_t)r;
		if (field == 1) {
			if (have_key)
				return swu_fail(ctx, -EBADMSG, what, "ambiguity",
						"%s: map entry key given twice", what);
			r = swu_wire_check_string(ctx, buf + pos, len, what, "its name");
			if (r < 0)
				return r;
			have_key = true;
			key = buf + pos;
			key_size = len;
		} else if (field == 2) {
			if (have_value)
				return swu_fail(ctx, -EBADMSG, what, "ambiguity",
						"%s: map entry value given twice", what);
			have_value = true;
			value = buf + pos;
			value_size = len;
		}
		pos += len;
	}
	*ret_key = key;
	*ret_key_size = key_size;
	*ret_value = value;
	*ret_value_size = value_size;
	return 0;
}
