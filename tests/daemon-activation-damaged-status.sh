#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A damaged status.json: a Retry-After decades ahead and an ETag with a control byte. The wait is
# capped at one interval (3 s here), so polling cannot stop for good, and the ETag, which would
# go into a request header, is dropped: the next poll asks in full.
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup plain
sed -i 's|^PollIntervalSec=.*|PollIntervalSec=3|' "$DEV/swupdated.conf"
expect_exit 0 ctl check # a release and its ETag are kept
wait_gone 5
python3 - "$DEV/state/status.json" <<'PY'
import json, sys, time
d = json.load(open(sys.argv[1]))
d["not_before"] = int((time.time() + 30 * 365 * 86400) * 1e6)
d["etag"] = d["etag"] + "\u0001"
json.dump(d, open(sys.argv[1], "w"))
PY
requests=$(fake_polls)
expect_exit 0 ctl poll # inside the (capped) wait: answered from the kept release
expect_eq "requests inside the capped wait" "$(fake_polls)" "$requests"
wait_until 10 polled_since "$requests" || true
check "no poll within the interval after a Retry-After decades ahead" polled_since "$requests"
expect_eq "If-None-Match after a damaged ETag" "$(grep "metadata.pb" "$T/fake.log" | tail -n 1 | awk '{ print $NF }')" "'-'"
back_to_nginx
finish
