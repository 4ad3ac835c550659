/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "context.h"
#include "macro.h"
#include "result.h"

static const char *const result_table[_RESULT_MAX] = {
	[RESULT_NONE] = "",
	[RESULT_SUCCESS] = "success",
	[RESULT_UNKNOWN_ERROR] = "unknown-error",
	[RESULT_ABORTED] = "aborted",
	[RESULT_TRANSFER_FAILED] = "transfer-failed",
	[RESULT_VERIFY_FAILED] = "verify-failed",
	[RESULT_APPLY_FAILED] = "apply-failed",
};

const char *update_result_to_string(UpdateResult r)
{
	assert_return(r >= 0 && r < _RESULT_MAX, NULL);
	return result_table[r];
}

UpdateResult update_result_from_string(const char *s)
{
	assert_return(s, _RESULT_INVALID);
	for (int i = 0; i < _RESULT_MAX; i++)
		if (streq(s, result_table[i]))
			return (UpdateResult)i;
	return _RESULT_INVALID;
}

UpdateResult update_result_of(int r)
{
	if (r == -ECANCELED)
		return RESULT_ABORTED;
	if (r == -EL2HLT) /* a halted rollout: the signed metadata says no */
		return RESULT_VERIFY_FAILED;
	return swu_error_is_rejection(r) ? RESULT_VERIFY_FAILED : RESULT_TRANSFER_FAILED;
}
