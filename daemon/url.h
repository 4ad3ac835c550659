/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What may be shown of a URL. An install URL or Server= may carry secrets: user information
 * (user:password@), a signed query string (X-Amz-Signature=...), a token in the fragment. The
 * request uses the URL whole; everything that leaves the transfer for display (the Source
 * property, the Note, status.json, the history, the log) shows it through url_redact(): all of
 * that is readable by every local user, while the state directory is not.
 */

/*
 * @url without user information, query string and fragment, in a new string (@ret, free()).
 * Text without "://" (a path, which may hold '?' or '@') is returned as it is; a URL that does
 * not parse shows its scheme only ("http:// (a URL that does not parse)"). libcurl's URL parser
 * decides, the one the request uses. Returns 0, or -ENOMEM.
 */
int url_redact(const char *url, char **ret);
