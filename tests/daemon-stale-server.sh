#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A device never goes back on targets metadata it verified (TUF): behind caches of different
# ages, a poll answered with an older metadata.pb than one the device verified from the same
# server keeps the newer release available, says that the server is behind and is no failed
# poll; across a restart too. An install then takes the newer release, whose blobs the origin
# still has. A device moved to another server (Server=) takes that server's release as it is.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
release "$T/v3.swu" 3
# The copy a stale cache still holds: the channel as it was with version 2.
cp -a "$T/repo/stable" "$T/stale"
publish "$T/v3.swu"
cp "$T/repo/stable/metadata.pb" "$T/fresh.pb"
"$SWU" verify-channel --self --list "$T/repo/stable" >"$T/fresh.list"
start_daemon

expect_exit 0 ctl check
expect_stdout "Version 3 is available"
expect_eq "AvailableVersion" "$(prop AvailableVersion)" 3

# The stale cache answers, with its own ETag (nginx's is the mtime and the size, and both copies
# may have the same size); the origin deleted version 2's blobs since.
mtime=$(stat -c %Y "$T/repo/stable/metadata.pb")
cp "$T/stale/metadata.pb" "$T/repo/stable/metadata.pb"
touch -d "@$((mtime + 10))" "$T/repo/stable/metadata.pb"
for b in "$T"/stale/blobs/*; do
	grep -qx "blobs/$(basename "$b")" "$T/fresh.list" || rm "$T/repo/stable/blobs/$(basename "$b")"
done
expect_exit 0 ctl check
expect_eq "AvailableVersion after the stale answer" "$(prop AvailableVersion)" 3
check "the Note says the server is behind" \
	note_has "The server is behind: .* offers version 2, but version 3 was verified from it before"
check "the journal says so too" grep -q "The server is behind" "$T/daemon.log"

restart_daemon
expect_eq "AvailableVersion after a restart" "$(prop AvailableVersion)" 3
expect_exit 0 ctl check
expect_eq "AvailableVersion after a restart and a stale answer" "$(prop AvailableVersion)" 3

# The fresh copy is taken again as soon as it is served, and version 3 installs.
cp "$T/fresh.pb" "$T/repo/stable/metadata.pb"
touch -d "@$((mtime + 20))" "$T/repo/stable/metadata.pb"
expect_exit 0 ctl check
expect_stdout "Version 3 is available"
expect_exit 0 ctl install
expect_stdout "Finished: success"
expect_eq "PendingSlot" "$(prop PendingSlot)" B
check "version 3 was installed" bash -c "'$SWUPDATECTL' --address '$DBUS_SYSTEM_BUS_ADDRESS' history | grep -E 'install +[0-9]+ -> 3 +success'"

# Another server is another repository: its older release is taken as it is.
mkdir -p "$T/repo/other"
cp -a "$T/stale/." "$T/repo/other/"
expect_exit 0 ctl reset
use_server "http://127.0.0.1:$PORT/other"
restart_daemon
expect_exit 0 ctl check
expect_eq "AvailableVersion on the other server" "$(prop AvailableVersion)" 2
finish
