/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target over what a server controls at the HTTP layer (daemon/fetch.c): the header
 * lines of responses (a redirect's, then the final one's: ETag, Last-Modified, Retry-After,
 * Content-Range) and the body it sends, in chunks, against the request's offset and cap. The
 * input is text:
 *
 *   header lines, one per line (a CRLF is added, as libcurl hands them)
 *   an empty line
 *   STATUS OFFSET MAX_BYTES       the answer's status, the request's Range offset and cap
 *   N N N ...                     the sizes of the body chunks
 *
 * Each header value also goes through fetch_parse_retry_after() and url_redact(). What must hold:
 * nothing crashes or reads out of bounds; an ETag or date kept is whole, NUL-terminated and
 * printable ASCII (it goes back into a request header); the body that reaches the caller never
 * exceeds the cap (the whole for a 200, the rest from the offset for a 206); a 206 reaches it only
 * when its Content-Range starts at the offset; a URL shown has no user information, query or
 * fragment left.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "macro.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((time_t)1796000000)

static void check_kept(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size)
		abort(); /* not terminated */
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
}

/* Whether @part of the URL @h holds is there. */
static bool has_part(CURLU *h, CURLUPart part)
{
	char *v = NULL;
	bool has = curl_url_get(h, part, &v, 0) == CURLUE_OK;

	curl_free(v);
	return has;
}

static void check_shown(const char *value)
{
	_cleanup_free_ char *shown = NULL;
	CURLU *h;

	if (url_redact(value, &shown) < 0)
		return;
	if (!strstr(value, "://") || strstr(shown, "(a URL that does not parse)"))
		return;
	/* Parsed: read again, as a request would, it has no user information, query or fragment. */
	h = curl_url();
	if (!h)
		return;
	if (curl_url_set(h, CURLUPART_URL, shown, CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS) !=
		    CURLUE_OK ||
	    has_part(h, CURLUPART_USER) || has_part(h, CURLUPART_PASSWORD) ||
	    has_part(h, CURLUPART_OPTIONS) || has_part(h, CURLUPART_QUERY) ||
	    has_part(h, CURLUPART_FRAGMENT))
		abort();
	curl_url_cleanup(h);
}

/* The body: chunks of the sizes given, as fetch.c's on_body() checks them, after headers that
 * said @st. */
static void feed_body(const char *params, const FetchHeaderState *st)
{
	FetchRequest req = {};
	FetchResult res = {};
	unsigned long long v[3] = {};
	uint64_t cap;
	char *end;
	const char *p = params;

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		v[i] = strtoull(p, &end, 10);
		if (end == p)
			return;
		p = end;
	}
	res.status = (long)(v[0] % 1000);
	if (res.status != 200 && res.status != 206)
		return; /* an error page is never read */
	req.offset = v[1];
	req.max_bytes = v[2];
	cap = req.max_bytes;
	if (res.status == 206)
		cap -= MIN(cap, req.offset);
	for (;;) {
		unsigned long long n = strtoull(p, &end, 10);

		if (end == p)
			break;
		p = end;
		if (fetch_check_body(&req, st, &res, "http://example/x", (size_t)n) < 0)
			break;
		if (res.status == 206 && (!st->have_range || st->range_start != req.offset))
			abort();
		res.received += n;
		if (req.max_bytes && res.received > cap)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = NULL;
	FetchResult res = {};
	FetchHeaderState st = {};
	char *line, *next;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	for (line = text; line; line = next) {
		_cleanup_free_ char *crlf = NULL;
		const char *value;
		size_t n;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!*line) {
			feed_body(next ?: "", &st);
			break;
		}
		n = strlen(line);
		/* As libcurl hands it: with its CRLF, not terminated after it. */
		crlf = malloc(n + 2);
		if (!crlf)
			return 0;
		memcpy(crlf, line, n);
		memcpy(crlf + n, "\r\n", 2);
		fetch_parse_header(&res, &st, crlf, n + 2, NOW);
		check_kept(res.etag, sizeof(res.etag));
		check_kept(res.last_modified, sizeof(res.last_modified));
		value = strchr(line, ':');
		value = value ? value + 1 + strspn(value + 1, " \t") : line;
		(void)fetch_parse_retry_after(value, NOW);
		check_shown(value);
	}
	return 0;
}
