#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The structure the code keeps (docs/design.md): calls flow one way. No loop of modules in libswu/,
# daemon/ or tools/ (scripts/call-graph reads the calls), and libswu/ names nothing of daemon/ or
# tools/.
set -euo pipefail
cd "${SRCDIR:-.}"
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
failures=0
if ! out=$(python3 scripts/call-graph libswu daemon tools); then
	echo "FAIL: the modules call each other in a loop:" >&2
	grep '^LOOP' <<<"$out" >&2
	failures=$((failures + 1))
fi
up=$(awk '/^ *[0-9]+ / { from = $2 } /^ *-> / { to = $2; sub(/:$/, "", to)
	if (from ~ /^libswu\// && to !~ /^libswu\//) print from " -> " to }' <<<"$out")
if [ -n "$up" ]; then
	echo "FAIL: libswu uses code of the daemon or the tools: $up" >&2
	failures=$((failures + 1))
fi
tail -n 1 <<<"$out"
[ "$failures" = 0 ]
