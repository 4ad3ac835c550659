/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Protocol-buffer wire primitives, and a strict pre-check that runs before any
 * protobuf-c decode. protobuf-c (like most parsers) silently merges a singular
 * field given twice and truncates oversized integers; different parsers keep
 * different copies, so an attacker could show each one another message.
 * swu_wire_check() rejects those inputs first (docs/bundle-format.md, rule 5).
 */
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"

enum {
	SWU_WIRE_VARINT = 0,
	SWU_WIRE_I64 = 1,
	SWU_WIRE_LEN = 2,
	SWU_WIRE_I32 = 5,
};

#define SWU_VARINT_MAX 10
#define SWU_FIELD_MAX  ((1u << 29) - 1)

/*
 * Decodes one varint from @p[0..@n). Returns the number of bytes used (1..10),
 * -EAGAIN when @n ends inside the varint, -EBADMSG when it is longer than 10
 * bytes or overflows 64 bits.
 */
int swu_varint_decode(const uint8_t *p, size_t n, uint64_t *ret);
/* Writes @v into @out (at least 10 bytes); returns the length. */
size_t swu_varint_encode(uint64_t v, uint8_t *out);
size_t swu_varint_size(uint64_t v);

/*
 * Splits a tag into field number and wire type. -EBADMSG for field 0, field
 * numbers beyond 2^29-1 and wire types other than varint, i64, len, i32
 * (groups are not part of this format).
 */
int swu_tag_split(uint64_t tag, uint32_t *ret_field, unsigned *ret_wire);

/*
 * Checks that @buf is a well-formed serialization of @desc: every field
 * complete, known fields in their wire type, 32-bit integers in range,
 * singular fields (and nested messages, recursively) present at most once, strings without NUL
 * bytes and valid UTF-8.
 * Unknown fields are allowed. @what names the message in the failure record.
 * Returns 0 or -EBADMSG.
 */
int swu_wire_check(SwuContext *ctx, const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
		   size_t n, const char *what);

/*
 * A string field's raw bytes: -EBADMSG (naming @what and @field) when they hold a NUL byte or are
 * not valid UTF-8, as rule 5 of docs/bundle-format.md asks of every string (names, role,
 * compatible, spec version, map keys). swu_wire_check() applies it to every string field it meets.
 */
int swu_wire_check_string(SwuContext *ctx, const uint8_t *p, size_t n, const char *what,
			  const char *field);

/*
 * Checks with swu_wire_check(), then decodes with protobuf-c.
 * Returns 0 and the message in @ret, or -EBADMSG/-ENOMEM.
 */
int swu_wire_unpack(SwuContext *ctx, const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
		    size_t n, const char *what, ProtobufCMessage **ret);

/* A growing byte buffer for building serialized messages. */
typedef struct SwuBuf {
	uint8_t *data;
	size_t size;
	size_t alloc;
} SwuBuf;

int swu_buf_append(SwuBuf *b, const void *p, size_t n);
int swu_buf_put_varint(SwuBuf *b, uint64_t v);
/* Appends tag(@field, LEN), the length and @n bytes of @p. */
int swu_buf_put_len_field(SwuBuf *b, uint32_t field, const void *p, size_t n);
/* Appends a packed protobuf-c message as a LEN field. */
int swu_buf_put_message(SwuBuf *b, uint32_t field, const ProtobufCMessage *m);
void swu_buf_done(SwuBuf *b);

/*
 * Splits a serialized map entry (key = field 1, value = field 2, both LEN).
 * A key or value given twice, a key that is no valid string, or a malformed entry is
 * -EBADMSG. Missing key/value are returned empty. Pointers point into @buf.
 */
int swu_wire_map_entry(SwuContext *ctx, const uint8_t *buf, size_t n, const char *what,
		       const uint8_t **ret_key, size_t *ret_key_size, const uint8_t **ret_value,
		       size_t *ret_value_size);
