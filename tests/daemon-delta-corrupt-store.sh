#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A chunk store that lies (a byte of every frame flipped): the daemon downloads the rest of the
# image whole, and the install succeeds.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_setup
start_daemon

corrupt_store() { # a byte of every frame in the middle of the store
	local f
	f=$(ls -t "$T/repo/stable/chunks/" | grep -v -- -from- | head -n1) # the chunk store
	python3 - "$T/repo/stable/chunks/$f" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
for i in range(32768, len(d), 97):
    d[i] ^= 0xFF
open(p, "wb").write(bytes(d))
PY
}
fallback 3 "corrupt store" corrupt_store
finish
