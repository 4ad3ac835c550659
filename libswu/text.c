/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "text.h"

/* The length of the valid UTF-8 character at @p (1-4), 0 when it is not one. */
static size_t utf8_char(const uint8_t *p, size_t n)
{
	uint32_t c;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

bool swu_utf8_valid(const uint8_t *p, size_t n)
{
	assert_return(p || n == 0, false);

	for (size_t i = 0; i < n;) {
		size_t k = utf8_char(p + i, n - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/*
 * Invisible format characters that reorder or hide what a terminal shows (Trojan Source): U+200B
 * to U+200F (zero width, LRM, RLM), U+2028/U+2029 (line and paragraph separators), U+202A to
 * U+202E (bidi embeddings and overrides), U+2060 to U+2069 (word joiner, invisible operators,
 * bidi isolates) and U+FEFF (zero width no-break space).
 */
static bool is_format(uint32_t c)
{
	return (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
	       (c >= 0x2060 && c <= 0x2069) || c == 0xfeff;
}

/* C0 controls, DEL, the C1 controls U+0080..U+009F (0xc2 0x80..0x9f), and format characters. */
static bool is_control(const uint8_t *p, size_t len)
{
	return (len == 1 && (p[0] < 0x20 || p[0] == 0x7f)) ||
	       (len == 2 && p[0] == 0xc2 && p[1] < 0xa0) ||
	       (len == 3 && is_format((uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 |
				      (p[2] & 0x3f)));
}

char *swu_escape(const char *s, size_t n, char *out, size_t size)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t o = 0;

	assert_return(s || n == 0, NULL);
	assert_return(out || size == 0, NULL);

	if (size == 0)
		return out;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_char(p + i, n - i);

		if (len > 0 && !is_control(p + i, len)) {
			if (o + len >= size)
				break;
			memcpy(out + o, p + i, len);
			o += len;
			i += len;
			continue;
		}
		/* One \xNN per byte of the control character or of the invalid sequence. */
		len = MAX(len, (size_t)1);
		if (o + 4 * len >= size)
			break;
		for (size_t k = 0; k < len; k++)
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", p[i + k]);
		i += len;
	}
	out[o] = 0;
	return out;
}

size_t swu_utf8_cut(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;

	assert_return(s || n == 0, 0);

	/* The lead byte of the last character, and whether all of its bytes are there. */
	for (size_t k = 1; k <= MIN(n, (size_t)4); k++) {
		uint8_t c = p[n - k];
		size_t len;

		if ((c & 0xc0) == 0x80)
			continue;
		len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		return len > k ? n - k : n;
	}
	return n;
}

char *swu_escape_inplace(char *s, size_t size)
{
	char *copy;
	size_t n;

	assert_return(s, NULL);

	n = strnlen(s, size);
	copy = malloc(n + 1);
	if (!copy) {
		s[0] = 0;
		return s;
	}
	memcpy(copy, s, n);
	swu_escape(copy, n, s, size);
	free(copy);
	return s;
}

char *swu_time_utc(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	assert_return(out, NULL);
	assert_return(size > 0, NULL);

	if ((int64_t)tt == t && gmtime_r(&tt, &tm) &&
	    strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm) > 0)
		return out;
	snprintf(out, size, "%lld seconds after 1970-01-01 00:00:00 UTC", (long long)t);
	return out;
}
