#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Untrusted text is escaped wherever it is quoted. A metadata.pb whose duplicated names carry a
# newline cannot forge a journal line; one with invalid UTF-8 cannot make the Note unreadable,
# break GetAll or keep Check() from answering; swupdatectl never prints a terminal control byte.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

served_release
start_daemon
forge() { # forge NAME: metadata.pb with two targets_metadata entries called NAME
	python3 "$SRCDIR/tests/forge.py" edit "$T/v2.swu" "$T/repo/stable/metadata.pb" \
		--targets-key "$1" --extra-targets "$1"
}
readable() { # the Note, every property at once, and the introspection still answer
	expect_exit 0 busctl "$BUS" get-property io.swupdated.Updater1 /io/swupdated/Updater1 \
		io.swupdated.Updater1 Note
	expect_exit 0 busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 \
		org.freedesktop.DBus.Properties GetAll s io.swupdated.Updater1
}

# A newline in a name: one log line, the newline shown as \x0a.
forge 'evil\nSlot B (version 99) marked good'
expect_exit 1 timeout 20 "$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" check
expect_stderr 'evil\\x0aSlot B (version 99) marked good'
check_not "a journal line was forged: $(cat "$T/daemon.log")" grep -q '^Slot B (version 99) marked good' "$T/daemon.log"
check "the name is not in the log, escaped: $(cat "$T/daemon.log")" grep -q "evil\\\\x0aSlot B" "$T/daemon.log"
readable
expect_eq "Note" "$(prop Note | grep -c 'x0aSlot B')" 1

# Invalid UTF-8 in a name: refused for what it is, and D-Bus keeps answering.
forge 'evil\xff\xfe'
expect_exit 1 timeout 20 "$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" check
expect_stderr "Release rejected"
readable
check "the Note is not UTF-8" iconv -f UTF-8 -t UTF-8 <<<"$(prop Note)"

# swupdatectl never prints a terminal control byte the daemon quotes (here from the caller).
esc=$(printf '\033')
expect_exit 1 ctl install "/tmp/${esc}[2J${esc}]0;owned${esc}\\"
expect_exit 0 ctl status
check_not "swupdatectl printed an escape character: $(cat -v "$T/out" "$T/err")" grep -q "$esc" "$T/out" "$T/err"
expect_stdout '\\x1b\[2J'
expect_exit 0 ctl history
check_not "swupdatectl history printed an escape character" grep -q "$esc" "$T/out"
finish
