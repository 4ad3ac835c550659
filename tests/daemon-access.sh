#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's own access check (behind the bus policy, which this test leaves out so only the
# daemon decides) believes only what the bus vouches for. A member of group "swupdate" is let
# in, anyone else is not, and a /proc/<pid>/status that lies about the caller's groups (what a
# recycled PID looks like) changes nothing. Runs in a mount namespace of its own: a group
# database with "swupdate" and the lying /proc file are bind mounts nobody else sees.
if [ -z "${SWU_ACCESS_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	SWU_ACCESS_NS=1 exec unshare --mount --propagation private bash "$0" "$@" ||
		{ echo "SKIP: no mount namespace"; exit 77; }
fi
. "${SRCDIR:-.}/tests/daemon-lib.sh"

gid=$({ getent group swupdate || :; } | cut -d: -f3)
if [ -z "$gid" ]; then
	gid=$(python3 -c 'import grp; used = {g.gr_gid for g in grp.getgrall()}; print(next(i for i in range(990, 100, -1) if i not in used))')
	cp /etc/group "$T/group"
	echo "swupdate:x:$gid:" >>"$T/group"
	mount --bind "$T/group" /etc/group
fi

device_setup grub
start_bus nopolicy
SERVER=http://127.0.0.1:1/unused
start_daemon

as() { # as GROUPS CMD...: runs CMD as nobody with these supplementary groups ("" for none)
	local groups=$1
	shift
	if [ -n "$groups" ]; then
		setpriv --reuid=nobody --regid=nogroup --groups="$groups" "$@"
	else
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
	fi
}

# A member is let in (then refused for the state: Reset needs a finished install).
expect_exit 1 as "$gid" busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 Reset
expect_stderr "Reset is not possible in state 'inactive'"
# Anyone else is not.
expect_exit 1 as "" busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 Reset
expect_stderr "Access denied"
# Moving the device to another channel too.
expect_exit 1 as "" busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 SetChannel s ""
expect_stderr "Access denied"

# A caller whose /proc/<pid>/status claims the group: still not. It calls once the lie is in
# place, told so through a FIFO.
mkfifo -m 666 "$T/go"
setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c \
	'read -r _ <"$1"; exec busctl "$0" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 Reset' \
	"$BUS" "$T/go" >"$T/lie.out" 2>"$T/lie.err" &
pid=$!
# Until it runs as nobody (setpriv has executed sh): a mount before its exec would not stay.
wait_until 10 grep -qx sh "/proc/$pid/comm" || fail "the caller did not start"
sed "s/^Groups:.*/Groups:\t$gid/" "/proc/$pid/status" >"$T/status"
mount --bind "$T/status" "/proc/$pid/status"
check "the lying status is not in place" grep -q "^Groups:.$gid\$" "/proc/$pid/status"
echo go 1<>"$T/go" # read-write: never blocks, even if the caller is gone
wait "$pid" || true
check "a lying /proc let the caller in: $(cat "$T/lie.out" "$T/lie.err")" grep -q "Access denied" "$T/lie.err"
finish
