#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The service protocol with systemd, seen from a fake NOTIFY_SOCKET: READY=1 once the bus name
# is owned, STATUS= lines a human understands, watchdog pings at the asked rate, and
# STOPPING=1 on SIGTERM.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
python3 - "$T/notify.sock" >"$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode().replace("\n", " | "), flush=True)
PY
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
export NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1000000
start_daemon
unset NOTIFY_SOCKET WATCHDOG_USEC
check "no READY=1: $(cat "$T/notify.log")" grep -q "READY=1" "$T/notify.log"
expect_exit 0 ctl install
# WATCHDOG_USEC=1 s: pings every 0.5 s or sooner, so three by 2.2 s after the install at the latest.
pings() { [ "$(grep -c "WATCHDOG=1" "$T/notify.log")" -ge 3 ]; }
wait_until 2.2 pings || true
check "too few watchdog pings: $(cat "$T/notify.log")" pings
stop_daemon
# The listener prints what the daemon sent before it exited.
wait_until 5 grep -q "STOPPING=1" "$T/notify.log" || true
check "no download status: $(cat "$T/notify.log")" grep -q "STATUS=Downloading rootfs" "$T/notify.log"
check "no finished status" grep -q "STATUS=finished: success" "$T/notify.log"
check "no STOPPING=1" grep -q "STOPPING=1" "$T/notify.log"
finish
