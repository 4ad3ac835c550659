#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What swupdatectl install shows while two targets download (held to 2 MB/s): without a
# terminal, lines naming each target with its own bytes and percent, about one a second at
# most; on a terminal (script(1)), a bar per target redrawn cleanly in place.
SLOT_SIZE=$((8 * 1024 * 1024))
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"
command -v script >/dev/null || { echo "SKIP: script(1) is not installed"; exit 77; }

device_setup grub
start_bus
start_nginx
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/rootfs.img"
head -c $((1024 * 1024)) /dev/urandom >"$T/appfs.img"
release "$T/v2.swu" 2 --file rootfs="$T/rootfs.img" --file appfs="$T/appfs.img"
publish "$T/v2.swu"
start_daemon
sed -i 's/^Retries=3/Retries=3\nMaxBytesPerSec=2000000/' "$DEV/swupdated.conf"
restart_daemon

t0=$(date +%s%N)
expect_exit 0 ctl install
secs=$((($(date +%s%N) - t0) / 1000000000 + 1))
check "progress without a terminal: $(cat "$T/out")" python3 - "$T/out" "$secs" <<'PY'
import re, sys
sizes = {"rootfs": 4 * 1024 * 1024, "appfs": 1024 * 1024}
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.startswith("  ")]
seen = {}
for l in lines:
    m = re.fullmatch(r"  (\S+): (\d+)/(\d+) bytes \((\d+)%\)", l)
    assert m, "not a progress line: %r" % l
    name, done, total, pct = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
    assert total == sizes[name], "wrong total: %r" % l
    assert done <= total and pct == done * 100 // total, "wrong percent: %r" % l
    seen.setdefault(name, []).append(done)
assert set(seen) == set(sizes), "targets shown: %r" % seen
for name, done in seen.items():
    assert done == sorted(done) and done[-1] == sizes[name], "%s: %r" % (name, done)
# about one line a second, plus a first and a last line per target
assert len(lines) <= int(sys.argv[2]) + 2 * len(sizes), "%d lines in %s s" % (len(lines), sys.argv[2])
PY

expect_exit 0 ctl reset
expect_exit 0 script -qfec "$SWUPDATECTL --address $DBUS_SYSTEM_BUS_ADDRESS install --reinstall" "$T/typescript"
check "progress on a terminal: $(cat -v "$T/out")" python3 - "$T/out" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", newline="").read()
bars = [s for s in re.split(r"[\r\n]", text) if "[" in s and "MiB/s" in s]
assert bars, "no bar"
for s in bars:
    assert s.startswith("\x1b[K  "), "a bar redrawn without clearing its line: %r" % s
    assert re.search(r"ETA (--|\d+s|\d+m\d\ds)$", s), "ETA: %r" % s
by = {"rootfs": "/4.0 MiB", "appfs": "/1.0 MiB"}
for name, total in by.items():
    mine = [s for s in bars if s[3:].lstrip().startswith(name + " ")]
    assert mine, "no bar for %s" % name
    assert all(total in s for s in mine), "%s: %r" % (name, mine)
    assert " 100% " in mine[-1], "%s did not end at 100%%: %r" % (name, mine[-1])
# each target's bar ends with a newline before the next one starts
assert re.search(r"rootfs [^\r\n]*\n(\x1b\[K)?\s*(\r\x1b\[K)?  appfs", text.replace("\r\n", "\n")), "bars share a line"
PY
finish
