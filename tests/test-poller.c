/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The poller's pure helpers: saturating time sums, backoff, jitter, what an HTTP answer means. */
#include <errno.h>
#include <stdint.h>

#include "macro.h"
#include "fetch.h"
#include "poller.h"
#include "reader.h"
#include "time-util.h"
#include "transfer.h"
#include "testutil.h"

static void setup(void)
{
}

static void teardown(void)
{
}

START_TEST(test_usec_saturates)
{
	ck_assert_uint_eq(usec_add(1, 2), 3);
	ck_assert_uint_eq(usec_add(USEC_INFINITY - 1, 1), USEC_INFINITY);
	ck_assert_uint_eq(usec_add(USEC_INFINITY - 1, 2), USEC_INFINITY);
	ck_assert_uint_eq(usec_add(USEC_INFINITY, USEC_INFINITY), USEC_INFINITY);
	ck_assert_uint_eq(usec_from_sec(3), 3 * USEC_PER_SEC);
	ck_assert_uint_eq(usec_from_sec(UINT64_MAX / USEC_PER_SEC + 1), USEC_INFINITY);
	ck_assert_uint_eq(usec_from_sec(UINT64_MAX), USEC_INFINITY);
}
END_TEST

START_TEST(test_backoff)
{
	const unsigned hour = 3600;

	/* 30 s, doubling per failure, never beyond the poll interval */
	ck_assert_uint_eq(poll_backoff(1, hour, 0), 30 * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(2, hour, 0), 60 * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(3, hour, 0), 120 * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(8, hour, 0), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1000, hour, 0), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1, 10, 0), 10 * USEC_PER_SEC);
	/* Retry-After is honoured, but only up to the poll interval */
	ck_assert_uint_eq(poll_backoff(1, hour, 300), 300 * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1, hour, 4000000000ULL), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1, hour, 18446744073709ULL), hour * USEC_PER_SEC);
	ck_assert_uint_eq(poll_backoff(1, hour, UINT64_MAX), hour * USEC_PER_SEC);
}
END_TEST

START_TEST(test_jitter)
{
	ck_assert_uint_eq(poll_jitter(0, 12345), 0);
	for (uint32_t r = 0; r < 100000; r += 7)
		ck_assert_uint_lt(poll_jitter(600, r), 600 * USEC_PER_SEC);
	ck_assert_uint_lt(poll_jitter(600, UINT32_MAX), 600 * USEC_PER_SEC);
	ck_assert_uint_lt(poll_jitter(1, UINT32_MAX), USEC_PER_SEC);
	/* different random numbers spread */
	ck_assert_uint_ne(poll_jitter(600, 1), poll_jitter(600, 2));
}
END_TEST

START_TEST(test_classify)
{
	ck_assert_int_eq(poll_classify(0, 200), POLL_NEW);
	ck_assert_int_eq(poll_classify(0, 304), POLL_NOT_MODIFIED);
	ck_assert_int_eq(poll_classify(0, 404), POLL_NONE);
	ck_assert_int_eq(poll_classify(0, 410), POLL_NONE);
	ck_assert_int_eq(poll_classify(0, 500), POLL_RETRY);
	ck_assert_int_eq(poll_classify(0, 503), POLL_RETRY);
	ck_assert_int_eq(poll_classify(0, 429), POLL_RETRY);
	ck_assert_int_eq(poll_classify(0, 408), POLL_RETRY);
	ck_assert_int_eq(poll_classify(-ECONNREFUSED, 0), POLL_RETRY);
	ck_assert_int_eq(poll_classify(-ETIMEDOUT, 200), POLL_RETRY);
	ck_assert_int_eq(poll_classify(0, 403), POLL_FAILED);
	ck_assert_int_eq(poll_classify(0, 301), POLL_FAILED);
	ck_assert_int_eq(poll_classify(0, 0), POLL_FAILED);
}
END_TEST

START_TEST(test_retry_after)
{
	const time_t now = 1795000000; /* Wed, 18 Nov 2026 11:06:40 GMT */

	ck_assert_uint_eq(fetch_parse_retry_after("120", now), 120);
	ck_assert_uint_eq(fetch_parse_retry_after("  7 ", now), 7);
	ck_assert_uint_eq(fetch_parse_retry_after("4000000000", now), 4000000000ULL);
	ck_assert_uint_eq(fetch_parse_retry_after("18446744073709", now), 18446744073709ULL);
	/* beyond 64 bits saturates instead of wrapping */
	ck_assert_uint_eq(fetch_parse_retry_after("99999999999999999999999", now), UINT64_MAX);
	/* an HTTP-date: seconds from now, none when it lies in the past */
	ck_assert_uint_eq(fetch_parse_retry_after("Wed, 18 Nov 2026 12:06:40 GMT", now), 3600);
	ck_assert_uint_eq(fetch_parse_retry_after("Wed, 18 Nov 2026 10:06:40 GMT", now), 0);
	/* The obsolete forms a recipient must accept (RFC 9110 5.6.7). */
	ck_assert_uint_eq(fetch_parse_retry_after("Wednesday, 18-Nov-26 12:06:40 GMT", now), 3600);
	ck_assert_uint_eq(fetch_parse_retry_after("Wed Nov 18 12:06:40 2026", now), 3600);
	ck_assert_uint_eq(fetch_parse_retry_after("Wed, 18 Nov 2026 12:06:40 GMT trailing", now),
			  0);
	/* After 2038 (a 32-bit time_t anywhere on the way wraps). */
	ck_assert_uint_eq(fetch_parse_retry_after("Fri, 01 Jan 2100 01:00:00 GMT", 4102444800),
			  3600);
	ck_assert_uint_eq(fetch_parse_retry_after("soon", now), 0);
	ck_assert_uint_eq(fetch_parse_retry_after("12abc", now), 0);
	ck_assert_uint_eq(fetch_parse_retry_after("", now), 0);
	/* whatever it says, the poll waits no longer than the poll interval */
	ck_assert_uint_eq(poll_backoff(1, 3600, fetch_parse_retry_after("4000000000", now)),
			  3600 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_bundle_cap)
{
	const uint64_t meta = SWU_METADATA_TOTAL_FACTOR * (uint64_t)SWU_METADATA_MAX_DEFAULT;
	const uint64_t slots[] = { 8 << 20, 16 << 20 };
	const uint64_t huge[] = { UINT64_MAX - 5, 100 };

	/* the inactive slots (block devices too) and the metadata: no more */
	ck_assert_uint_eq(transfer_bundle_cap(slots, 2, 0), meta + (24 << 20));
	ck_assert_uint_eq(transfer_bundle_cap(slots, 0, 0), meta);
	/* MaxBundleSize= lowers it, never raises it */
	ck_assert_uint_eq(transfer_bundle_cap(slots, 2, 1 << 20), 1 << 20);
	ck_assert_uint_eq(transfer_bundle_cap(slots, 2, UINT64_MAX), meta + (24 << 20));
	/* saturating */
	ck_assert_uint_eq(transfer_bundle_cap(huge, 2, 0), UINT64_MAX);
}
END_TEST

int main(void)
{
	const TuCase cases[] = {
		{ "usec-saturates", test_usec_saturates },
		{ "backoff", test_backoff },
		{ "jitter", test_jitter },
		{ "classify", test_classify },
		{ "retry-after", test_retry_after },
		{ "bundle-cap", test_bundle_cap },
	};

	return tu_run("poller", cases, ELEMENTSOF(cases), setup, teardown);
}
