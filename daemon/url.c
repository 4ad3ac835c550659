/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "url.h"

static void curl_url_cleanupp(CURLU **h)
{
	if (*h)
		curl_url_cleanup(*h);
}

static void curl_freep(char **p)
{
	curl_free(*p);
}

/* What a URL that does not parse shows: its scheme (when it is one), nothing after it. */
static int unparsed(const char *url, const char *sep, char **ret)
{
	static const char scheme_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789+-.";
	size_t n = (size_t)(sep - url);
	char *s;

	if (n == 0 || n > 32 || strspn(url, scheme_chars) != n)
		n = 0;
	if (asprintf(&s, "%.*s%s(a URL that does not parse)", (int)n, url, n ? ":// " : "") < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int url_redact(const char *url, char **ret)
{
	_cleanup_(curl_url_cleanupp) CURLU *h = NULL;
	_cleanup_(curl_freep) char *shown = NULL;
	const char *sep;
	CURLUcode c;
	char *s;

	assert_return(url && ret, -EINVAL);
	sep = strstr(url, "://");
	if (!sep) {
		s = strdup(url);
		if (!s)
			return -ENOMEM;
		*ret = s;
		return 0;
	}
	h = curl_url();
	if (!h)
		return -ENOMEM;
	/* As the request reads it; any scheme (shown, not fetched), the path as it is. */
	c = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS);
	if (c == CURLUE_OUT_OF_MEMORY)
		return -ENOMEM;
	if (c != CURLUE_OK)
		return unparsed(url, sep, ret);
	if (curl_url_set(h, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_OPTIONS, NULL, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK)
		return -ENOMEM;
	c = curl_url_get(h, CURLUPART_URL, &shown, 0);
	if (c == CURLUE_OUT_OF_MEMORY)
		return -ENOMEM;
	if (c != CURLUE_OK)
		return unparsed(url, sep, ret);
	s = strdup(shown);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
