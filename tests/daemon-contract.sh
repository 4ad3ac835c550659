#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# docs/dbus-api.md is a contract: its tables are read here and held against the running daemon.
#  - Errors: each documented io.swupdated.Error name is provoked over the bus and must come back
#    by that name (a management agent branches on it); every error provoked here is documented.
#  - Properties and methods: the documented names and signatures are what the daemon serves.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

doc=$SRCDIR/docs/dbus-api.md
/usr/bin/python3 -c 'import dbus' 2>/dev/null || { echo "SKIP: python3-dbus is needed"; exit 77; }

# bus_error METHOD [SOURCE]: calls METHOD (Start/Install with SOURCE and no options) and prints
# the D-Bus error name it answers with, "" for a success.
bus_error() {
	/usr/bin/python3 - "$DBUS_SYSTEM_BUS_ADDRESS" "$@" <<'PY'
import sys
import dbus

address, method, args = sys.argv[1], sys.argv[2], sys.argv[3:]
bus = dbus.bus.BusConnection(address)
obj = dbus.Interface(bus.get_object("io.swupdated.Updater1", "/io/swupdated/Updater1"),
                     "io.swupdated.Updater1")
if method in ("Start", "Install"):
    args = [args[0], dbus.Dictionary({}, signature="sv")]
try:
    getattr(obj, method)(*args, timeout=120)
    print("")
except dbus.DBusException as e:
    print(e.get_dbus_name())
PY
}

# --- the device and what it is offered -------------------------------------------------------
served_release
"$SWU" generate-key "$T/stranger" >/dev/null
release "$T/stranger.swu" 6 --key "$T/stranger"
release "$T/expired.swu" 6 --expires 2001-01-01T00:00:00Z
release "$T/other-hw.swu" 6 --compatible acme-gw-v1
head -c $((SLOT_SIZE + 1)) /dev/zero >"$T/big.img"
release "$T/big.swu" 6 --file rootfs="$T/big.img"
printf kernel >"$T/kernel.img"
release "$T/noslot.swu" 6 --file kernel="$T/kernel.img"
cp /etc/passwd "$T/passwd.swu"
# Version 5 installed and confirmed: version 2 is a rollback.
release "$T/v5.swu" 5
expect_exit 0 swupdated install "$T/v5.swu"
reboot_into B
expect_exit 0 swupdated mark-good
# metadata.pb larger than any release's metadata may be.
mkdir -p "$T/repo/huge"
head -c $((4 * 1024 * 1024 + 1)) /dev/zero >"$T/repo/huge/metadata.pb"
start_daemon

# provoke NAME: the call that must answer with io.swupdated.Error.NAME, and its setting.
provoke() {
	case $1 in
	InvalidState) bus_error Verify ;;
	BadBundle) bus_error Install "$T/passwd.swu" ;;
	SignatureRejected) bus_error Install "$T/stranger.swu" ;;
	Expired) bus_error Install "$T/expired.swu" ;;
	Rollback) bus_error Install "$T/v2.swu" ;;
	WrongHardware) bus_error Install "$T/other-hw.swu" ;;
	NoSpace) bus_error Install "$T/big.swu" ;;
	NoSlot) bus_error Install "$T/noslot.swu" ;;
	NotFound) bus_error Install "$T/does-not-exist.swu" ;;
	NotPending) bus_error MarkBad ;;
	InvalidArgument) bus_error Install "relative/path.swu" ;;
	Network) with_server "http://127.0.0.1:$(free_port)/stable" bus_error Check ;;
	TooLarge) with_server "http://127.0.0.1:$PORT/huge" bus_error Check ;;
	NoServer) with_server "" bus_error Check ;;
	BadConfiguration) with_broken_config bus_error Check ;;
	# (Also the answer in the milliseconds between the idle exit and the release of the name,
	# which tests/daemon-activation-*.sh time.)
	Exiting) while_stopping ;;
	NotPermitted) with_verity bus_error Check ;;
	*) echo "none" ;;
	esac
}

# with_server URL CMD...: CMD with the daemon restarted on Server=URL ("": none).
with_server() {
	local url=$1
	shift
	sed -i '/^Server=/d' "$DEV/swupdated.conf"
	[ -z "$url" ] || conf_add Update "Server=$url"
	restart_daemon
	"$@"
}

# while_stopping: a Check waits for a poll of a server that never answers, and the daemon is
# stopped: the waiting call is answered all the same. Prints the error name of that answer.
while_stopping() {
	local port hold caller
	port=$(free_port)
	rm -f "$T/listening" "$T/check-sent"
	# Connections are queued by the kernel and never accepted: a request without an answer.
	/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
open(sys.argv[2], "w").close()
time.sleep(600)' "$port" "$T/listening" &
	hold=$!
	wait_until 10 test -e "$T/listening" || fail "the silent server did not listen"
	with_server "http://127.0.0.1:$port/stable" true
	/usr/bin/python3 - "$DBUS_SYSTEM_BUS_ADDRESS" "$T/check-sent" >"$T/exiting" <<'PY' &
import sys
import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
obj = bus.get_object("io.swupdated.Updater1", "/io/swupdated/Updater1")
loop, answer = GLib.MainLoop(), []
obj.Check(dbus_interface="io.swupdated.Updater1", timeout=120,
          reply_handler=lambda *a: (answer.append(""), loop.quit()),
          error_handler=lambda e: (answer.append(e.get_dbus_name()), loop.quit()))
# The daemon handles one connection's calls in order: once this answers, Check waits for its poll.
obj.Get("io.swupdated.Updater1", "State", dbus_interface="org.freedesktop.DBus.Properties")
open(sys.argv[2], "w").close()
loop.run()
print(answer[0])
PY
	caller=$!
	wait_until 30 test -e "$T/check-sent" || fail "Check was not sent"
	stop_daemon
	wait "$caller" || fail "the waiting Check got no answer"
	kill "$hold" && wait "$hold" 2>/dev/null || true
	use_server "$SERVER"
	launch_daemon
	cat "$T/exiting"
}

# with_verity CMD...: CMD with the daemon restarted on RequireVerity=yes (the test's root metadata
# is on no dm-verity root filesystem).
with_verity() {
	local rc=0
	sed -i 's/^RequireVerity=no$/RequireVerity=yes/' "$DEV/swupdated.conf"
	restart_daemon
	"$@" || rc=$?
	sed -i 's/^RequireVerity=yes$/RequireVerity=no/' "$DEV/swupdated.conf"
	restart_daemon
	return "$rc"
}

# with_broken_config CMD...: CMD while the service runs with a configuration that does not load.
with_broken_config() {
	local rc=0
	stop_daemon
	printf '[Bogus]\nX=1\n' >"$T/broken.conf"
	"$SWUPDATED" --config "$T/broken.conf" >>"$T/daemon.log" 2>&1 &
	wait_until 10 busctl "$BUS" call org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus GetNameOwner s io.swupdated.Updater1 >/dev/null 2>&1 ||
		fail "the service with a broken configuration did not take its name"
	"$@" || rc=$?
	kill -TERM $! && wait $! || true
	launch_daemon
	return "$rc"
}

documented=$(awk -F'|' '$2 ~ /io\.swupdated\.Error\./ { gsub(/ /, "", $2); print $2 }' "$doc")
check "docs/dbus-api.md lists error names" test -n "$documented"
for name in $documented; do
	# The next operation starts from a clean state: a refusal may have finished an install.
	[ "$(prop State)" != finished ] || ctl reset >/dev/null
	# Not in a subshell: a provocation may restart the daemon, which stays this shell's child.
	provoke "${name#io.swupdated.Error.}" >"$T/error"
	expect_eq "the error of '${name#io.swupdated.Error.}'" "$(cat "$T/error")" "$name"
done
# Every error the daemon's table names is documented.
for name in $(grep -o '"io\.swupdated\.Error\.[A-Za-z]*"' "$SRCDIR/daemon/updater-bus.c" | tr -d '"' | sort -u); do
	check "$name is not in the error table of docs/dbus-api.md" grep -qx "$name" <<<"$documented"
done

# --- properties and methods -------------------------------------------------------------------
busctl "$BUS" introspect io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 >"$T/introspect"
# served: "NAME KIND SIGNATURE RESULT" per member, as busctl lists them.
served=$(awk '$1 ~ /^\./ { sub(/^\./, "", $1); print $1, $2, $3, $4 }' "$T/introspect")
# The properties table: "| A, B | t | ..." rows between "## Properties" and the next heading.
doc_props=$(awk -F'|' '/^## Properties/ { on = 1; next } /^## / { on = 0 }
	on && $3 ~ /^ *[a-z{}()]+ *$/ && $2 !~ /name/ {
		gsub(/ /, "", $3); n = split($2, names, ","); for (i = 1; i <= n; i++) {
		gsub(/ /, "", names[i]); print names[i], $3 } }' "$doc" | sort)
srv_props=$(awk '$2 == "property" { print $1, $3 }' <<<"$served" | sort)
check "the properties of docs/dbus-api.md are the daemon's" diff <(echo "$doc_props") <(echo "$srv_props")
# swupdatectl --json status: one member per property, typed (swupdatectl(1): "every property").
ctl --json status >"$T/status.json"
check "swupdatectl --json status is not every property" diff \
	<(python3 -c 'import json, sys; print("\n".join(sorted(json.load(open(sys.argv[1])))))' "$T/status.json") \
	<(awk '{ print $1 }' <<<"$srv_props" | sort)
json_check "$T/status.json" 'isinstance(d["Channels"], list) and isinstance(d["InstalledVersion"], int) and isinstance(d["Rollout"], str)'
# The methods table: "| `Name(t a, s b) -> (b c, u d)` | ..." gives name, in and out signatures.
doc_methods=$(grep -o '^| `[A-Za-z]*([^`]*`' "$doc" | python3 -c '
import re, sys
sig = lambda s: "".join(a.split()[0] for a in s.split(",") if a.strip()) or "-"
for line in sys.stdin:
    m = re.match(r"\| `(\w+)\(([^)]*)\)(?: -> (.*))?`", line)
    out = (m.group(3) or "").strip()
    if out.startswith("(") and out.endswith(")") and " " in out:
        out = out[1:-1]  # (b available, u version): named results
    print(m.group(1), sig(m.group(2)), sig(out))' | sort)
srv_methods=$(awk '$2 == "method" { print $1, $3, $4 }' <<<"$served" | sort)
check "the methods of docs/dbus-api.md are the daemon's" diff <(echo "$doc_methods") <(echo "$srv_methods")
check "the Finished signal as documented" grep -q '^\.Finished *signal *ss ' "$T/introspect"
check "docs/dbus-api.md documents the Finished signal" grep -q 'Signal `Finished(s result, s note)`' "$doc"
finish
