/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Wire primitives and the strict pre-check that runs before protobuf-c decodes anything. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "text.h"
#include "metadata.h"
#include "testutil.h"
#include "wire.h"

static SwuContext *ctx;

static void setup(void)
{
	ctx = tu_context();
}

static void teardown(void)
{
	ctx = swu_context_unref(ctx);
}

START_TEST(test_varint)
{
	static const uint64_t values[] = { 0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX };
	uint8_t buf[SWU_VARINT_MAX];
	uint64_t v;

	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		size_t n = swu_varint_encode(values[i], buf);

		ck_assert_uint_eq(n, swu_varint_size(values[i]));
		ck_assert_int_eq(swu_varint_decode(buf, n, &v), (int)n);
		ck_assert_uint_eq(v, values[i]);
		/* Every shorter prefix asks for more. */
		for (size_t k = 0; k < n; k++)
			ck_assert_int_eq(swu_varint_decode(buf, k, &v), -EAGAIN);
	}
	ck_assert_uint_eq(swu_varint_encode(UINT64_MAX, buf), 10);
	/* Eleven bytes, or a tenth byte carrying more than bit 63, overflow. */
	memset(buf, 0xff, sizeof(buf));
	ck_assert_int_eq(swu_varint_decode(buf, sizeof(buf), &v), -EBADMSG);
	buf[9] = 0x02;
	ck_assert_int_eq(swu_varint_decode(buf, sizeof(buf), &v), -EBADMSG);
}
END_TEST

START_TEST(test_tag)
{
	uint32_t field;
	unsigned wire;

	ck_assert_int_eq(swu_tag_split((5 << 3) | 2, &field, &wire), 0);
	ck_assert_uint_eq(field, 5);
	ck_assert_uint_eq(wire, 2);
	ck_assert_int_eq(swu_tag_split(2, &field, &wire), -EBADMSG);		/* field 0 */
	ck_assert_int_eq(swu_tag_split((1 << 3) | 3, &field, &wire), -EBADMSG); /* group */
	ck_assert_int_eq(swu_tag_split((1 << 3) | 4, &field, &wire), -EBADMSG);
	ck_assert_int_eq(swu_tag_split((1 << 3) | 6, &field, &wire), -EBADMSG);
	ck_assert_int_eq(swu_tag_split((uint64_t)SWU_FIELD_MAX << 3, &field, &wire), 0);
	ck_assert_int_eq(swu_tag_split(((uint64_t)SWU_FIELD_MAX + 1) << 3, &field, &wire),
			 -EBADMSG);
}
END_TEST

static int check_common(const void *p, size_t n)
{
	return swu_wire_check(ctx, &pw__software_update__common_metadata__descriptor, p, n, "test");
}

START_TEST(test_check)
{
	/* CommonMetadata: 1 spec_version string, 2 version uint32, 3 expires message, 4 role. */
	static const uint8_t
		good[] = { 0x0a, 1,    'x', 0x10, 5,	0x1a, 2, 0x08,
			   1,	 0x22, 1,   'r',  0x98, 0x06, 1 /* unknown field 99 */ };
	static const uint8_t version_twice[] = { 0x10, 1, 0x10, 2 };
	static const uint8_t role_twice[] = { 0x22, 1, 'a', 0x22, 1, 'b' };
	static const uint8_t expires_twice[] = { 0x1a, 0, 0x1a, 0 };
	static const uint8_t version_as_len[] = { 0x12, 1, 5 };
	static const uint8_t role_as_varint[] = { 0x20, 1 };
	static const uint8_t version_too_big[] = { 0x10, 0x80, 0x80, 0x80, 0x80, 0x10 };
	static const uint8_t nested_dup[] = { 0x1a, 4, 0x08, 1, 0x08, 2 };
	static const uint8_t truncated[] = { 0x0a, 5, 'x' };
	static const uint8_t i64_truncated[] = { 0x99, 0x06, 1, 2 };

	ck_assert_int_eq(check_common(good, sizeof(good)), 0);
	ck_assert_int_eq(check_common(version_twice, sizeof(version_twice)), -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->message, "test: singular field 'version' "
								"given twice");
	ck_assert_int_eq(check_common(role_twice, sizeof(role_twice)), -EBADMSG);
	ck_assert_int_eq(check_common(expires_twice, sizeof(expires_twice)), -EBADMSG);
	ck_assert_int_eq(check_common(version_as_len, sizeof(version_as_len)), -EBADMSG);
	ck_assert_int_eq(check_common(role_as_varint, sizeof(role_as_varint)), -EBADMSG);
	ck_assert_int_eq(check_common(version_too_big, sizeof(version_too_big)), -EBADMSG);
	ck_assert_int_eq(check_common(nested_dup, sizeof(nested_dup)), -EBADMSG);
	ck_assert_int_eq(check_common(truncated, sizeof(truncated)), -EBADMSG);
	ck_assert_int_eq(check_common(i64_truncated, sizeof(i64_truncated)), -EBADMSG);
}
END_TEST

START_TEST(test_check_repeated)
{
	/* TargetsMetadata: target_files (2) and compatible (65) are repeated: allowed many times. */
	SwuBuf b = {};

	ck_assert_int_eq(swu_buf_put_len_field(&b, 2, "", 0), 0);
	ck_assert_int_eq(swu_buf_put_len_field(&b, 2, "", 0), 0);
	ck_assert_int_eq(swu_buf_put_len_field(&b, 65, "a", 1), 0);
	ck_assert_int_eq(swu_buf_put_len_field(&b, 65, "b", 1), 0);
	ck_assert_int_eq(swu_wire_check(ctx, &pw__software_update__targets_metadata__descriptor,
					b.data, b.size, "t"),
			 0);
	swu_buf_done(&b);
}
END_TEST

START_TEST(test_unpack_cap)
{
	ProtobufCMessage *m = NULL;
	uint8_t buf[16] = { 0x10, 1 };

	swu_context_set_metadata_max(ctx, 8);
	ck_assert_int_eq(swu_wire_unpack(ctx, &pw__software_update__common_metadata__descriptor,
					 buf, sizeof(buf), "common", &m),
			 -EBADMSG);
	ck_assert_str_eq(swu_context_get_failure(ctx)->rule, "size");
	ck_assert_int_eq(swu_wire_unpack(ctx, &pw__software_update__common_metadata__descriptor,
					 buf, 2, "common", &m),
			 0);
	ck_assert_uint_eq(((Pw__SoftwareUpdate__CommonMetadata *)m)->version, 1);
	protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

START_TEST(test_map_entry)
{
	static const uint8_t good[] = { 0x0a, 1, 'k', 0x12, 2, 'v', 'w', 0x18, 7 };
	static const uint8_t reversed[] = { 0x12, 1, 'v', 0x0a, 1, 'k' };
	static const uint8_t key_twice[] = { 0x0a, 1, 'k', 0x0a, 1, 'j' };
	static const uint8_t nul[] = { 0x0a, 2, 'k', 0 };
	static const uint8_t key_varint[] = { 0x08, 1 };
	const uint8_t *k, *v;
	size_t kn, vn;

	ck_assert_int_eq(swu_wire_map_entry(ctx, good, sizeof(good), "m", &k, &kn, &v, &vn), 0);
	ck_assert_uint_eq(kn, 1);
	ck_assert_uint_eq(vn, 2);
	ck_assert_int_eq(swu_wire_map_entry(ctx, reversed, sizeof(reversed), "m", &k, &kn, &v, &vn),
			 0);
	ck_assert_int_eq(k[0], 'k');
	ck_assert_int_eq(swu_wire_map_entry(ctx, key_twice, sizeof(key_twice), "m", &k, &kn, &v,
					    &vn),
			 -EBADMSG);
	ck_assert_int_eq(swu_wire_map_entry(ctx, nul, sizeof(nul), "m", &k, &kn, &v, &vn),
			 -EBADMSG);
	ck_assert_int_eq(swu_wire_map_entry(ctx, key_varint, sizeof(key_varint), "m", &k, &kn, &v,
					    &vn),
			 -EBADMSG);
	ck_assert_int_eq(swu_wire_map_entry(ctx, good, 4, "m", &k, &kn, &v, &vn), -EBADMSG);
}
END_TEST

START_TEST(test_target_names)
{
	/* Space is printable ASCII: Pigweed's tools write such names (docs/bundle-format.md). */
	static const char *const good[] = { "rootfs", "a/b",	    "user_manifest",	  "x.img",
					    "..a",    "a..",	    "a.bin > with space", " a",
					    "a ",     "dir name/b", "~!@#$%^&*()[]{};'\"" };
	static const char *const bad[] = { "",	   "/a",    "a/",      "a//b",	      ".",
					   "..",   "a/./b", "a/../b",  "a\tb",	      "\x7f",
					   "a\nb", "a\rb",  "\x1b[2J", "caf\xc3\xa9", "a\xa0" };

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		ck_assert_msg(swu_target_name_valid(good[i], strlen(good[i])), "%s", good[i]);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(!swu_target_name_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
	{
		char longname[257];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[256] = 0;
		ck_assert(!swu_target_name_valid(longname, 256));
		ck_assert(swu_target_name_valid(longname, 255));
	}
}
END_TEST

START_TEST(test_utf8)
{
	static const char *const good[] = {
		"", "rootfs", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"
	};
	static const char *const bad[] = {
		"\xff",		"\xc3",		"caf\xc3",	    "\xc0\xaf",
		"\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
		"\x80",		"a\xe2\x82",
	};

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		ck_assert(swu_utf8_valid((const uint8_t *)good[i], strlen(good[i])));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert(!swu_utf8_valid((const uint8_t *)bad[i], strlen(bad[i])));
	/* a NUL byte is valid UTF-8; string fields refuse it separately */
	ck_assert(swu_utf8_valid((const uint8_t *)"a\0b", 3));
}
END_TEST

START_TEST(test_escape)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "rootfs", "rootfs" },
		{ "a\nSlot B (version 99) marked good", "a\\x0aSlot B (version 99) marked good" },
		{ "tab\there\r", "tab\\x09here\\x0d" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "bad\xff\xfe", "bad\\xff\\xfe" },
		{ "\x1b[2J", "\\x1b[2J" },
		{ "csi\xc2\x9b", "csi\\xc2\\x9b" }, /* C1 control */
		{ "del\x7f", "del\\x7f" },
		{ "back\\slash", "back\\slash" },
		{ "cut\xe2\x82", "cut\\xe2\\x82" },
		/* bidi overrides and invisible format characters reorder or hide what a terminal
		 * shows: U+202E, U+2066, U+200B, U+2028, U+FEFF */
		{ "abc\xe2\x80\xaegpj.exe", "abc\\xe2\\x80\\xaegpj.exe" },
		{ "x\xe2\x81\xa6y", "x\\xe2\\x81\\xa6y" },
		{ "zero\xe2\x80\x8bwidth", "zero\\xe2\\x80\\x8bwidth" },
		{ "line\xe2\x80\xa8sep", "line\\xe2\\x80\\xa8sep" },
		{ "\xef\xbb\xbf"
		  "bom",
		  "\\xef\\xbb\\xbfbom" },
		{ "arrow\xe2\x86\x92ok", "arrow\xe2\x86\x92ok" }, /* U+2192 stays */
	};
	char out[128], twice[128], small[8];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		swu_escape(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		ck_assert_str_eq(out, cases[i].out);
		/* escaping twice changes nothing */
		swu_escape(out, strlen(out), twice, sizeof(twice));
		ck_assert_str_eq(twice, out);
	}
	/* NUL bytes inside the given length are escaped too */
	ck_assert_str_eq(swu_escape("a\0b", 3, out, sizeof(out)), "a\\x00b");
	/* cut at a whole escape, always terminated */
	ck_assert_str_eq(swu_escape("ab\n\ncd", 6, small, sizeof(small)), "ab\\x0a");
	snprintf(out, sizeof(out), "x\ty");
	ck_assert_str_eq(swu_escape_inplace(out, sizeof(out)), "x\\x09y");
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "varint", test_varint },
		{ "tag", test_tag },
		{ "check", test_check },
		{ "check-repeated", test_check_repeated },
		{ "unpack-cap", test_unpack_cap },
		{ "map-entry", test_map_entry },
		{ "target-names", test_target_names },
		{ "utf8", test_utf8 },
		{ "escape", test_escape },
	};

	return tu_run("wire", cases, ELEMENTSOF(cases), setup, teardown);
}
