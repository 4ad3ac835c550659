#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Zero cost while idle. A private dbus-daemon with a <servicedir> holding the shipped activation
# file starts swupdated itself (it runs Exec=; SystemdService= is first used under systemd, in
# the VM tests): a property read starts it, it exits after IdleExitSec=, and everything a client
# reads is the same after the next start. A transfer keeps it up; property reads every 50 ms
# across 20 idle exits never fail; a poll timer run (ScheduledCheck) honours a Retry-After
# across exits; SIGTERM or SIGKILL in an install leaves the device consistent and the next
# activation says what happened; swupdatectl watch and install see the daemon go and come back;
# a retry after a failed poll keeps the daemon up and survives a restart; a damaged status.json
# cannot stop polling or inject a header.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
start_nginx
release "$T/v2.swu" 2
publish "$T/v2.swu"
# The test's own activation mode: exit after 1 s idle, polled by "the timer" (this test).
sed -i "s|^Compatible=.*|Compatible=acme-gw-v2\nServer=$SERVER\nPollIntervalSec=3600\nPollJitterSec=0\nIdleExitSec=1\nAutoInstall=no\nStagingDirectory=$DEV/staging|" "$DEV/swupdated.conf"
ACTIVATE=$DEV/swupdated.conf start_bus

checks=$((checks + 1))
grep -q '^SystemdService=swupdated.service$' "$T/services/io.swupdated.Updater1.service" &&
	grep -q '^User=root$' "$T/services/io.swupdated.Updater1.service" ||
	fail "the activation file lacks SystemdService= or User="

wait_gone() { daemon_gone "${1:-5}" || fail "swupdated is still running after ${1:-5} s"; }
exits() { grep -c "Idle for 1 s: exiting" "$T/daemon.log" || true; }

# 1. Nothing runs; a property read starts the daemon, which exits again when idle.
expect_eq "daemon before any call" "$(daemon_pid)" ""
expect_eq "State (activated)" "$(prop State)" inactive
pid=$(daemon_pid)
checks=$((checks + 1))
[ -n "$pid" ] || fail "reading a property did not start swupdated"
wait_gone 5
expect_eq "idle exits" "$(exits)" 1
expect_eq "daemon after the idle exit" "$(daemon_pid)" ""

# 2. The timer's call: ScheduledCheck polls (a 200), then the daemon exits; what clients read
# is the same after the next start, and the first poll after it is a 304 (ETag kept).
expect_exit 0 ctl poll
expect_stdout "Version 2 is available"
wait_gone 5
ctl --json status >"$T/before.json"
wait_gone 5
ctl --json status >"$T/after.json"
json_check "$T/after.json" 'd["AvailableVersion"] == 2 and d["LastCheck"] > 0 and d["NextCheck"] == d["LastCheck"] + 3600 * 10**6'
checks=$((checks + 1))
cmp -s "$T/before.json" "$T/after.json" || fail "state differs after a restart: $(diff "$T/before.json" "$T/after.json")"
wait_gone 5
expect_exit 0 ctl poll
expect_stdout "Version 2 is available"
expect_eq "metadata answers: 200 then 304" "$(grep -o 'GET /stable/metadata.pb HTTP/1.1" [0-9]*' "$T/access.log" | awk '{ print $NF }' | tr '\n' ' ')" "200 304 "
wait_gone 5
# The kept release is verified again at each start: a damaged one is not used (AvailableVersion
# is what verifies, not what status.json says), and the next poll asks in full.
cp "$DEV/state/release.pb" "$T/release.pb"
# A byte of the signed targets metadata (the compatible string in it).
flip_byte "$DEV/state/release.pb" "$(grep -abo acme-gw-v2 "$DEV/state/release.pb" | tail -n 1 | cut -d: -f1)"
expect_eq "AvailableVersion with a damaged kept release" "$(prop AvailableVersion)" 0
checks=$((checks + 1))
grep -q "Not using the kept release" "$T/daemon.log" || fail "the damaged release was not reported"
expect_exit 0 ctl poll
expect_stdout "Version 2 is available"
expect_eq "metadata answer after the damaged release" "$(grep -o 'GET /stable/metadata.pb HTTP/1.1" [0-9]*' "$T/access.log" | tail -n 1 | awk '{ print $NF }')" 200
cmp -s "$DEV/state/release.pb" "$T/release.pb" || fail "release.pb was not written again"
checks=$((checks + 1))
wait_gone 5

# 3. A transfer in progress keeps the daemon up (about 4 s at 512 KiB/s); it exits after.
sed -i 's|^\[Trust\]|[Network]\nMaxBytesPerSec=524288\n[Trust]|' "$DEV/swupdated.conf"
before=$(exits)
expect_exit 0 call Start 'sa{sv}' "" 0
pid=$(daemon_pid)
wait_state transferring 10
# A second instance (a buggy script, a race with the bus) finds the name owned and exits
# before it reads or writes any state: the running install is not reported as interrupted.
history_lines() { if [ -f "$DEV/state/history.jsonl" ]; then wc -l <"$DEV/state/history.jsonl"; else echo 0; fi; }
history_before=$(history_lines)
expect_exit 1 "$SWUPDATED" --config "$DEV/swupdated.conf"
expect_stderr "another swupdated runs"
expect_eq "history lines after a second instance" "$(history_lines)" "$history_before"
wait_state transferred 30
expect_eq "the same process through the transfer" "$(daemon_pid)" "$pid"
expect_eq "idle exits during the transfer" "$(exits)" "$before"
# Transferred, waiting for Apply: client-visible work, it stays up.
sleep 2
expect_eq "the same process while transferred" "$(daemon_pid)" "$pid"
expect_exit 0 call Apply
wait_state finished 30
expect_eq "Result" "$(prop Result)" success
wait_gone 5
expect_eq "Result after a restart" "$(prop Result)" success
expect_eq "PendingSlot after a restart" "$(prop PendingSlot)" B
checks=$((checks + 1))
prop Note | grep -q "Version 2 installed into slot B" || fail "Note after a restart: $(prop Note)"
expect_exit 0 ctl reset
wait_gone 5
reboot_into B
expect_exit 0 ctl mark-good
wait_gone 5

# 4. Property reads every 50 ms across 20 idle exits: not one fails.
before=$(exits)
python3 - "$BUS" "$T/reads" "$T/daemon.log" "$before" <<'PY'
import subprocess, sys, time
bus, out, log, before = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
errors, reads, start = [], 0, time.monotonic()
while time.monotonic() - start < 120:
    p = subprocess.run(["busctl", bus, "get-property", "io.swupdated.Updater1",
                        "/io/swupdated/Updater1", "io.swupdated.Updater1", "State"],
                       capture_output=True, text=True, timeout=30)
    reads += 1
    if p.returncode != 0 or p.stdout.strip() != 's "inactive"':
        errors.append(p.stdout.strip() + p.stderr.strip())
    if open(log).read().count("Idle for 1 s: exiting") - before >= 20:
        break
    time.sleep(0.05)
open(out, "w").write("%d %d %.1f\n%s\n" % (reads, len(errors), time.monotonic() - start,
                                           "\n".join(errors[:5])))
PY
read -r reads errors seconds <"$T/reads"
echo "reads: $reads in $seconds s, errors: $errors, exits: $(($(exits) - before))"
expect_eq "failed reads across the idle exits" "$errors" 0
checks=$((checks + 1))
[ $(($(exits) - before)) -ge 20 ] || fail "only $(($(exits) - before)) idle exits in $seconds s"
wait_gone 5

# 5. Retry-After across exits: the server asks to wait; the wait (capped at the 5 s interval)
# is no shorter than a timer period, so the daemon exits; a timer run before it ends is
# answered from the cache without a request, and the daemon stays for the rest of the wait.
stop_nginx() { kill "$(cat "$T/nginx.pid")"; sleep 0.3; }
stop_nginx
start_fake_server retry-huge
use_server "$SERVER"
sed -i 's|^PollIntervalSec=.*|PollIntervalSec=5|' "$DEV/swupdated.conf"
expect_exit 1 ctl poll
expect_stderr "HTTP status 503"
t0=$(date +%s)
wait_gone 5
expect_eq "status.json failures" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failures"])' "$DEV/state/status.json")" 1
requests=$(grep -c "metadata.pb" "$T/fake.log")
expect_exit 0 ctl poll
expect_eq "requests during the server's Retry-After" "$(grep -c "metadata.pb" "$T/fake.log")" "$requests"
pid=$(daemon_pid)
# It polls by itself when the wait ends (about 5 s after the failed poll), then goes.
for _ in $(seq 100); do
	[ "$(grep -c "metadata.pb" "$T/fake.log")" -gt "$requests" ] && break
	sleep 0.1
done
checks=$((checks + 1))
[ "$(grep -c "metadata.pb" "$T/fake.log")" -gt "$requests" ] || fail "no retry when the Retry-After ended"
checks=$((checks + 1))
[ $(($(date +%s) - t0)) -ge 4 ] || fail "the retry came before the Retry-After ended"
expect_eq "the same process waited for the retry" "$(daemon_pid)" "$pid"
wait_gone 10
stop_fake_server
start_nginx
use_server "$SERVER"
sed -i 's|^PollIntervalSec=.*|PollIntervalSec=3600|' "$DEV/swupdated.conf"
expect_exit 0 ctl check # a successful poll: the backoff starts over
wait_gone 5

# 5b. A backoff shorter than the timer period (30 s after one failure) keeps the daemon up, and
# survives a SIGTERM: the next start keeps the same retry.
use_server "http://127.0.0.1:9/down"
expect_exit 1 ctl poll
pid=$(daemon_pid)
sleep 3
expect_eq "the same process waits for its retry" "$(daemon_pid)" "$pid"
next=$(prop NextCheck)
last=$(prop LastCheck)
checks=$((checks + 1))
[ $((next - last)) -ge 29000000 ] && [ $((next - last)) -le 31000000 ] ||
	fail "retry $(((next - last) / 1000)) ms after the failed poll, not 30 s"
kill -TERM "$pid"
wait_gone 5
expect_eq "NextCheck after a restart" "$(prop NextCheck)" "$next"
pid=$(daemon_pid)
sleep 2
expect_eq "the new process waits for the retry too" "$(daemon_pid)" "$pid"
kill -TERM "$pid"
wait_gone 5
use_server "$SERVER"
expect_exit 0 ctl check
wait_gone 5

# 5c. A damaged status.json: a Retry-After decades ahead and an ETag with a control byte. The
# wait is capped at one interval (3 s here), so polling cannot stop for good, and the ETag,
# which would go into a request header, is dropped: the next poll asks in full.
stop_nginx
start_fake_server plain
publish "$T/v2.swu"
use_server "$SERVER"
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
requests=$(grep -c "metadata.pb" "$T/fake.log")
expect_exit 0 ctl poll # inside the (capped) wait: answered from the kept release
expect_eq "requests inside the capped wait" "$(grep -c "metadata.pb" "$T/fake.log")" "$requests"
for _ in $(seq 100); do
	[ "$(grep -c "metadata.pb" "$T/fake.log")" -gt "$requests" ] && break
	sleep 0.1
done
checks=$((checks + 1))
[ "$(grep -c "metadata.pb" "$T/fake.log")" -gt "$requests" ] ||
	fail "no poll within the interval after a Retry-After decades ahead"
expect_eq "If-None-Match after a damaged ETag" "$(grep "metadata.pb" "$T/fake.log" | tail -n 1 | awk '{ print $NF }')" "'-'"
wait_gone 10
stop_fake_server
start_nginx
use_server "$SERVER"
sed -i 's|^PollIntervalSec=.*|PollIntervalSec=3600|' "$DEV/swupdated.conf"
expect_exit 0 ctl check
wait_gone 5

# 6. SIGTERM in the middle of an install: the device stays as it was, and the next
# activation reports it (Result, Note, history).
release "$T/v3.swu" 3
publish "$T/v3.swu"
expect_exit 0 call Install 'sa{sv}' "" 0
wait_state transferring 10
sleep 1
kill -TERM "$(daemon_pid)"
wait_gone 5
expect_eq "Result after SIGTERM" "$(prop Result)" aborted
checks=$((checks + 1))
prop Note | grep -q "Interrupted: swupdated was stopped during the install" || fail "Note after SIGTERM: $(prop Note)"
expect_eq "PendingSlot after SIGTERM" "$(prop PendingSlot)" ""
expect_eq "slot booted first after SIGTERM" "$(primary)" B
checks=$((checks + 1))
bootenv | grep -qx "A_OK=0" || fail "the half-written slot A is bootable after SIGTERM: $(bootenv)"
expect_exit 0 ctl history
expect_stdout "aborted .*Interrupted"
expect_exit 0 ctl reset

# 7. swupdatectl install while the daemon is killed (SIGKILL: a crash): it sees the daemon go,
# starts it again, and reports what the new one says.
ctl install >"$T/install.out" 2>"$T/install.err" &
ctl_pid=$!
wait_state transferring 10
sleep 1
kill -KILL "$(daemon_pid)"
rc=0
wait "$ctl_pid" || rc=$?
expect_eq "swupdatectl install exit status after the crash" "$rc" 1
checks=$((checks + 1))
grep -q "left the bus during the install" "$T/install.err" || fail "install did not say the daemon left: $(cat "$T/install.err")"
checks=$((checks + 1))
grep -q "Finished: unknown-error: Interrupted: swupdated stopped during the install" "$T/install.out" ||
	fail "install did not report the interruption: $(cat "$T/install.out")"
expect_eq "PendingSlot after the crash" "$(prop PendingSlot)" ""
expect_eq "slot booted first after the crash" "$(primary)" B
checks=$((checks + 1))
bootenv | grep -qx "A_OK=0" || fail "the half-written slot A is bootable after the crash: $(bootenv)"
# And the device is consistent: the same release installs now.
expect_exit 0 ctl reset
expect_exit 0 ctl install
expect_stdout "Finished: success"
expect_eq "PendingSlot" "$(prop PendingSlot)" A
expect_exit 0 ctl reset

# 8. swupdatectl watch across an idle exit and a new start.
wait_gone 5
ctl watch >"$T/watch.out" 2>&1 &
watch_pid=$!
sleep 0.5
prop State >/dev/null # starts the daemon; it exits 1 s later
wait_gone 5
prop State >/dev/null
sleep 0.5
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null || true
checks=$((checks + 1))
grep -q "swupdated left the bus (idle exit or stop); waiting for it to come back" "$T/watch.out" &&
	grep -q "swupdated is back on the bus" "$T/watch.out" ||
	fail "watch did not follow the restarts: $(cat "$T/watch.out")"

# 9. IdleExitSec=0: it stays up, as before.
wait_gone 5
sed -i 's|^IdleExitSec=.*|IdleExitSec=0|' "$DEV/swupdated.conf"
prop State >/dev/null
pid=$(daemon_pid)
sleep 3
expect_eq "IdleExitSec=0: the same process after 3 s" "$(daemon_pid)" "$pid"
kill -TERM "$pid"
wait_gone 5
finish
