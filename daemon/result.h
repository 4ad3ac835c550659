/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * How an install ended: the results of pw_software_update's BundledUpdate service, as the
 * Result property, the Finished signal and status.json name them.
 */
#include <stdbool.h>

typedef enum UpdateResult {
	RESULT_NONE,
	RESULT_SUCCESS,
	RESULT_UNKNOWN_ERROR,
	RESULT_ABORTED,
	RESULT_TRANSFER_FAILED,
	RESULT_VERIFY_FAILED,
	RESULT_APPLY_FAILED,
	_RESULT_MAX,
	_RESULT_INVALID = -1,
} UpdateResult;

/* "" for RESULT_NONE. */
const char *update_result_to_string(UpdateResult r);
/* _RESULT_INVALID when @s names no result ("" is RESULT_NONE). */
UpdateResult update_result_from_string(const char *s);
/*
 * The result of an install that failed with @r: a rejection by the verification rules
 * (swu_error_is_rejection()) is verify-failed, a cancellation aborted, anything else (the
 * network, the server, the slots) transfer-failed.
 */
UpdateResult update_result_of(int r);
