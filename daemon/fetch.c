/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fetch.h"
#include "macro.h"
#include "url.h"

typedef struct CurlFetch {
	Fetch base;
	sd_event *event;
	const Config *config;
	CURLM *multi;
	sd_event_source *timer;
	/* MaxBytesPerSec= holds for all transfers together (a delta fetches ranges side by side) */
	unsigned n_jobs;
	uint64_t rate_started; /* CLOCK_MONOTONIC usec: when the busy period began, 0 when idle */
	uint64_t rate_bytes;   /* received by every transfer since then */
} CurlFetch;

typedef struct CurlJob {
	FetchJob base;
	CurlFetch *fetch;
	CURL *curl;
	FetchRequest req;
	sd_event_source *unpause; /* wakes a transfer paused by the rate limit */
	char *url;
	char *shown; /* the URL as messages show it (url_redact()) */
	struct curl_slist *headers;
	char range[48];
	FetchResult result;
	FetchHeaderState response; /* what its headers said */
	bool cancelled;
	bool error_page; /* a non-2xx body: dropped at its first byte */
	bool held;	 /* on_data said FETCH_HOLD: paused until fetch_resume() */
} CurlJob;

/* One errno per family of curl failure, so callers and D-Bus see one vocabulary. */
static bool is_https(const char *url)
{
	return strncasecmp(url, "https://", 8) == 0;
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	case CURLE_WRITE_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	default:
		return -ECONNRESET;
	}
}

static int on_unpause(sd_event_source *s, uint64_t usec, void *userdata)
{
	CurlJob *j = userdata;

	j->unpause = sd_event_source_disable_unref(j->unpause);
	curl_easy_pause(j->curl, CURLPAUSE_CONT);
	return 0;
}

/*
 * MaxBytesPerSec=: pause the transfer (the bytes stay with curl) until the average rate of all
 * transfers since they began is back under the limit. Returns true when paused.
 */
static bool throttle(CurlJob *j, size_t len)
{
	CurlFetch *f = j->fetch;
	uint64_t limit = f->config->max_bytes_per_sec, now, due;

	if (limit == 0)
		return false;
	sd_event_now(f->event, CLOCK_MONOTONIC, &now);
	if (f->rate_started == 0)
		f->rate_started = now;
	due = f->rate_started + (f->rate_bytes + len) * UINT64_C(1000000) / limit;
	if (due <= now + 10000)
		return false;
	if (sd_event_add_time(j->fetch->event, &j->unpause, CLOCK_MONOTONIC, due, 1000, on_unpause,
			      j) < 0)
		return false;
	return true;
}

/* What the body may bring: the whole resource for a 200, the rest of it for a 206. */
static uint64_t body_cap(const FetchRequest *req, long status)
{
	uint64_t max = req->max_bytes;

	if (status == 206)
		max -= MIN(max, req->offset);
	return max;
}

int fetch_check_body(const FetchRequest *req, const FetchHeaderState *st, FetchResult *res,
		     const char *shown, size_t n)
{
	if (res->status == 206 && (!st->have_range || st->range_start != req->offset)) {
		snprintf(res->message, sizeof(res->message),
			 "%s: asked for byte %llu on, the server sent another range", shown,
			 (unsigned long long)req->offset);
		return -EPROTO;
	}
	/* Also while streaming: a body without Content-Length (or a false one) is cut here. */
	if (req->max_bytes && n > body_cap(req, res->status) - res->received) {
		snprintf(res->message, sizeof(res->message),
			 "the server sent more than the %llu bytes expected",
			 (unsigned long long)req->max_bytes);
		return -EFBIG;
	}
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	CurlJob *j = userdata;
	size_t len = size * n;
	int r;

	/* Stopped already (bytes handed again after a pause): the first error stands. */
	if (j->result.error < 0 || j->error_page)
		return 0;
	if (j->held || j->unpause || throttle(j, len))
		return CURL_WRITEFUNC_PAUSE;

	if (j->result.status == 0)
		curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &j->result.status);
	/*
	 * Only successful bodies reach the caller. An error page is not read at all: its status
	 * says everything, and a body dripping forever would hold the request open.
	 */
	if (j->result.status != 200 && j->result.status != 206) {
		j->error_page = true;
		return 0;
	}
	r = fetch_check_body(&j->req, &j->response, &j->result, j->shown, len);
	if (r < 0) {
		j->result.error = r;
		return 0;
	}
	r = j->req.on_data(j->req.userdata, j->result.status, p, len);
	if (r < 0) {
		j->result.error = r;
		return 0;
	}
	if (r == FETCH_HOLD) {
		j->held = true; /* the same bytes come again after fetch_resume() */
		return CURL_WRITEFUNC_PAUSE;
	}
	j->result.received += len;
	j->fetch->rate_bytes += len;
	return len;
}

/*
 * An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a
 * recipient must accept), or 0. Not curl_getdate(): its time_t is libcurl's, and a 32-bit
 * distribution's libcurl may have a 32-bit one where ours is 64-bit (Debian 12 armhf).
 */
static time_t parse_http_date(const char *value)
{
	static const char *const formats[] = { "%a, %d %b %Y %H:%M:%S GMT",
					       "%A, %d-%b-%y %H:%M:%S GMT",
					       "%a %b %e %H:%M:%S %Y" };

	for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
		struct tm tm = {};
		const char *end = strptime(value, formats[i], &tm);

		if (!end)
			continue;
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (!*end)
			return timegm(&tm);
	}
	return 0;
}

uint64_t fetch_parse_retry_after(const char *value, time_t now)
{
	unsigned long long v;
	time_t t;
	char *end;

	while (*value == ' ' || *value == '\t')
		value++;
	if (*value >= '0' && *value <= '9') {
		errno = 0;
		v = strtoull(value, &end, 10);
		if (*end && *end != ' ' && *end != '\t')
			return 0;
		return errno == ERANGE ? UINT64_MAX : v;
	}
	t = parse_http_date(value);
	return t > now ? (uint64_t)(t - now) : 0;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

void fetch_parse_header(FetchResult *res, FetchHeaderState *st, const char *line, size_t len,
			time_t now)
{
	const char *p = line, *v;
	size_t vlen;
	char buf[128];

	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a redirect): forget the previous one's headers. */
		res->etag[0] = 0;
		res->last_modified[0] = 0;
		res->retry_after = 0;
		res->date = 0;
		res->status = 0;
		st->have_range = false;
		return;
	}
	v = memchr(p, ':', len);
	if (!v)
		return;
	vlen = len - (size_t)(v + 1 - p);
	v++;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	/* A value is taken whole or not at all: a cut one is another value (a date without its
	 * trailing junk parses). ETags, Retry-After and Content-Range are short. */
	if (vlen >= sizeof(buf))
		return;
	memcpy(buf, v, vlen);
	buf[vlen] = 0;
	/* What goes back into a request (If-None-Match, If-Range, If-Modified-Since) is printable
	 * ASCII only: a control byte could end or add a header line. Else it is not kept at all. */
	if ((strncasecmp(p, "ETag:", 5) == 0 || strncasecmp(p, "Last-Modified:", 14) == 0) &&
	    !printable(v, vlen))
		return;
	if (strncasecmp(p, "ETag:", 5) == 0 && vlen < sizeof(res->etag)) {
		memcpy(res->etag, v, vlen);
		res->etag[vlen] = 0;
	} else if (strncasecmp(p, "Last-Modified:", 14) == 0 && vlen < sizeof(res->last_modified)) {
		memcpy(res->last_modified, v, vlen);
		res->last_modified[vlen] = 0;
	} else if (strncasecmp(p, "Date:", 5) == 0) {
		res->date = (int64_t)parse_http_date(buf);
	} else if (strncasecmp(p, "Retry-After:", 12) == 0) {
		res->retry_after = fetch_parse_retry_after(buf, now);
	} else if (strncasecmp(p, "Content-Range:", 14) == 0) {
		unsigned long long start = 0;

		st->have_range = sscanf(buf, "bytes %llu-", &start) == 1;
		st->range_start = start;
	}
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
	CurlJob *j = userdata;
	size_t len = size * n;

	fetch_parse_header(&j->result, &j->response, p, len, time(NULL));
	return len;
}

static void job_free(CurlJob *j)
{
	if (!j)
		return;
	if (j->curl) {
		curl_multi_remove_handle(j->fetch->multi, j->curl);
		curl_easy_cleanup(j->curl);
	}
	/* The last transfer ended: the next busy period measures its rate afresh. */
	if (--j->fetch->n_jobs == 0)
		j->fetch->rate_started = j->fetch->rate_bytes = 0;
	sd_event_source_disable_unref(j->unpause);
	curl_slist_free_all(j->headers);
	free(j->shown);
	free(j->url);
	free(j);
}

/*
 * A TLS file OpenSSL could not use: the message names it. Unreadable (a partition not mounted, a
 * mode), or read and refused (a key that does not match the certificate, a wrong format).
 */
static void tls_file_hint(CurlJob *j, CURLcode code)
{
	const Config *c = j->fetch->config;
	const char *key, *path;
	size_t first = 0;
	int r;

	if (code != CURLE_SSL_CERTPROBLEM && code != CURLE_SSL_CACERT_BADFILE)
		return;
	r = config_unreadable_file(c, &first, &key, &path);
	if (r < 0)
		snprintf(j->result.message, sizeof(j->result.message),
			 "%s: cannot read %s= '%s': %s", j->shown, key, path, strerror(-r));
	else if (code == CURLE_SSL_CERTPROBLEM)
		snprintf(j->result.message, sizeof(j->result.message),
			 "%s: %s (ClientCertificate= '%s', ClientKey= '%s')", j->shown,
			 curl_easy_strerror(code), c->client_certificate ?: "none",
			 c->client_key ?: "none");
	else
		snprintf(j->result.message, sizeof(j->result.message), "%s: %s (CAFile= '%s')",
			 j->shown, curl_easy_strerror(code), c->ca_file ?: "none");
}

static void check_done(CurlFetch *f)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left))) {
		CurlJob *j = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		if (!j->result.error && msg->data.result == CURLE_FILESIZE_EXCEEDED) {
			/* The announced length alone was too much. */
			j->result.error = -EFBIG;
			snprintf(j->result.message, sizeof(j->result.message),
				 "the server sent more than the %llu bytes expected",
				 (unsigned long long)j->req.max_bytes);
		} else if (!j->result.error && msg->data.result == CURLE_UNSUPPORTED_PROTOCOL &&
			   is_https(j->url)) {
			j->result.error = -EPROTO;
			snprintf(j->result.message, sizeof(j->result.message),
				 "%s: refusing a redirect away from https", j->shown);
		} else if (!j->result.error && msg->data.result == CURLE_WRITE_ERROR &&
			   j->error_page) {
			/* The error page we stopped reading: the status is the answer. */
		} else if (!j->result.error && msg->data.result != CURLE_OK) {
			j->result.error = curl_errno(msg->data.result);
			snprintf(j->result.message, sizeof(j->result.message), "%s: %s", j->shown,
				 curl_easy_strerror(msg->data.result));
			tls_file_hint(j, msg->data.result);
		}
		curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &j->result.status);
		if (!j->cancelled && j->req.on_done)
			j->req.on_done(j->req.userdata, &j->result);
		job_free(j);
	}
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	CurlFetch *f = userdata;
	int action = 0, running;

	if (revents & EPOLLIN)
		action |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		action |= CURL_CSELECT_OUT;
	if (revents & (EPOLLERR | EPOLLHUP))
		action |= CURL_CSELECT_ERR;
	curl_multi_socket_action(f->multi, fd, action, &running);
	check_done(f);
	return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp)
{
	CurlFetch *f = userdata;
	sd_event_source *s = socketp;
	uint32_t events = 0;

	if (what == CURL_POLL_REMOVE) {
		sd_event_source_disable_unref(s);
		curl_multi_assign(f->multi, fd, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (s)
		return sd_event_source_set_io_events(s, events) < 0 ? -1 : 0;
	if (sd_event_add_io(f->event, &s, fd, events, on_io, f) < 0)
		return -1;
	curl_multi_assign(f->multi, fd, s);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	CurlFetch *f = userdata;
	int running;

	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
	return 0;
}

static int on_timeout(CURLM *multi, long ms, void *userdata)
{
	CurlFetch *f = userdata;
	uint64_t now;

	if (ms < 0)
		return sd_event_source_set_enabled(f->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
	sd_event_now(f->event, CLOCK_MONOTONIC, &now);
	if (sd_event_source_set_time(f->timer, now + (uint64_t)ms * 1000) < 0 ||
	    sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT) < 0)
		return -1;
	return 0;
}

const char *fetch_status_hint(const Config *config, const char *url, long status)
{
	if (status == 400 && is_https(url) && !config->client_certificate)
		return " (an https server that wants a client certificate answers 400: set "
		       "ClientCertificate= and ClientKey=)";
	return "";
}

static void multi_free(Fetch *base)
{
	CurlFetch *f = (CurlFetch *)base;

	if (f->multi)
		curl_multi_cleanup(f->multi);
	sd_event_source_disable_unref(f->timer);
	sd_event_unref(f->event);
	free(f);
}

static void setup_easy(CurlJob *j)
{
	const Config *c = j->fetch->config;
	CURL *e = j->curl;

	curl_easy_setopt(e, CURLOPT_URL, j->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* Fewer, larger writes into the slot: one hash update and pwrite per 64 KiB. */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE,
			 j->req.buffer_size ? (long)j->req.buffer_size : 64L * 1024L);
	/*
	 * HTTP/1.1: a paused transfer (MaxBytesPerSec=, a parked range) leaves its bytes in the
	 * socket and at the server. Over HTTP/2 libcurl could keep a paused stream's window, megabytes,
	 * in our memory.
	 */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* No downgrade by redirect: from https, only to https. */
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, is_https(j->url) ? "https" : "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "swupdated/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->connect_timeout_sec);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)c->low_speed_timeout_sec);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->client_certificate)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->client_certificate);
	if (c->client_key)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->client_key);
	/* Range, not RESUME_FROM: a server that answers 200 with the whole blob is no error. Two
	 * 64-bit numbers and a dash always fit j->range. */
	if (j->req.length > 0) {
		snprintf(j->range, sizeof(j->range), "%llu-%llu", (unsigned long long)j->req.offset,
			 (unsigned long long)(j->req.offset + j->req.length - 1));
		curl_easy_setopt(e, CURLOPT_RANGE, j->range);
	} else if (j->req.offset > 0) {
		snprintf(j->range, sizeof(j->range), "%llu-", (unsigned long long)j->req.offset);
		curl_easy_setopt(e, CURLOPT_RANGE, j->range);
	}
	if (j->req.max_bytes)
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)j->req.max_bytes);
	if (j->req.timeout_sec)
		curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)j->req.timeout_sec);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
}

static int multi_start(Fetch *base, const FetchRequest *req, FetchJob **ret)
{
	CurlFetch *f = (CurlFetch *)base;
	CurlJob *j;
	char header[256];

	assert_return(req && req->url && req->on_data, -EINVAL);
	/* A header cut short is another header: ETags are bounded (FetchResult.etag), not cut. */
	assert_return(!req->if_none_match || strlen(req->if_none_match) < 128, -EINVAL);
	assert_return(!req->if_range || strlen(req->if_range) < 128, -EINVAL);
	assert_return(!req->if_modified_since || strlen(req->if_modified_since) < 64, -EINVAL);
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->base.fetch = base;
	j->fetch = f;
	f->n_jobs++;
	j->req = *req;
	j->url = strdup(req->url);
	j->curl = curl_easy_init();
	if (!j->url || !j->curl || url_redact(req->url, &j->shown) < 0) {
		job_free(j);
		return -ENOMEM;
	}
	if (req->if_none_match && *req->if_none_match) {
		snprintf(header, sizeof(header), "If-None-Match: %s", req->if_none_match);
		j->headers = curl_slist_append(j->headers, header);
	}
	if ((!req->if_none_match || !*req->if_none_match) && req->if_modified_since &&
	    *req->if_modified_since) {
		snprintf(header, sizeof(header), "If-Modified-Since: %s", req->if_modified_since);
		j->headers = curl_slist_append(j->headers, header);
	}
	if (req->offset > 0 && req->if_range && *req->if_range) {
		snprintf(header, sizeof(header), "If-Range: %s", req->if_range);
		j->headers = curl_slist_append(j->headers, header);
	}
	setup_easy(j);
	if (curl_multi_add_handle(f->multi, j->curl) != CURLM_OK) {
		job_free(j);
		return -EIO;
	}
	if (ret)
		*ret = &j->base;
	return 0;
}

static void multi_resume(FetchJob *job)
{
	CurlJob *j = (CurlJob *)job;

	if (j->held) {
		j->held = false;
		curl_easy_pause(j->curl, CURLPAUSE_CONT);
	}
}

static void multi_cancel(FetchJob *job)
{
	job_free((CurlJob *)job);
}

static const FetchOps multi_ops = {
	.start = multi_start,
	.cancel = multi_cancel,
	.resume = multi_resume,
	.free = multi_free,
};

int fetch_curl_new(sd_event *event, const Config *config, Fetch **ret)
{
	CurlFetch *f;
	int r;

	assert_return(event && config && ret, -EINVAL);
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->base.ops = &multi_ops;
	f->event = sd_event_ref(event);
	f->config = config;
	f->multi = curl_multi_init();
	if (!f->multi) {
		multi_free(&f->base);
		return -ENOMEM;
	}
	r = sd_event_add_time(event, &f->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, f);
	if (r < 0) {
		multi_free(&f->base);
		return r;
	}
	(void)sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	*ret = &f->base;
	return 0;
}
