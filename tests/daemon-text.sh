#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Untrusted text is escaped wherever it is quoted. A metadata.pb whose duplicated names carry a
# newline cannot forge a journal line; one with invalid UTF-8 cannot make the Note unreadable,
# break GetAll or keep Check() from answering; swupdatectl never prints a terminal control byte.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
start_bus
start_nginx
release "$T/v2.swu" 2
publish "$T/v2.swu"
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
checks=$((checks + 1))
! grep -q '^Slot B (version 99) marked good' "$T/daemon.log" || fail "a journal line was forged: $(cat "$T/daemon.log")"
checks=$((checks + 1))
grep -q "evil\\\\x0aSlot B" "$T/daemon.log" || fail "the name is not in the log, escaped: $(cat "$T/daemon.log")"
readable
expect_eq "Note" "$(prop Note | grep -c 'x0aSlot B')" 1

# Invalid UTF-8 in a name: refused for what it is, and D-Bus keeps answering.
forge 'evil\xff\xfe'
expect_exit 1 timeout 20 "$SWUPDATECTL" --address "$DBUS_SYSTEM_BUS_ADDRESS" check
expect_stderr "Release rejected"
readable
checks=$((checks + 1))
prop Note | iconv -f UTF-8 -t UTF-8 >/dev/null || fail "the Note is not UTF-8"

# swupdatectl never prints a terminal control byte the daemon quotes (here from the caller).
esc=$(printf '\033')
expect_exit 1 ctl install "/tmp/${esc}[2J${esc}]0;owned${esc}\\"
expect_exit 0 ctl status
checks=$((checks + 1))
! grep -q "$esc" "$T/out" "$T/err" || fail "swupdatectl printed an escape character: $(cat -v "$T/out" "$T/err")"
expect_stdout '\\x1b\[2J'
expect_exit 0 ctl history
checks=$((checks + 1))
! grep -q "$esc" "$T/out" || fail "swupdatectl history printed an escape character"
finish
