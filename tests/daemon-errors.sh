#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# One error path per operation: every operation starts with an empty Note, Check() answers with
# its own sentence (never an earlier install's), and a rejected bundle is logged once, with the
# same sentence as its Note and D-Bus error.
. "${SRCDIR:-.}/tests/daemon-lib.sh"
: "${SWUPDATECTL:?}"

device_setup grub
start_bus
release "$T/v2.swu" 2
SERVER=http://127.0.0.1:9/unused start_daemon
# A gateway that only installs what it is given: no Server=.
sed -i '/^Server=/d' "$DEV/swupdated.conf"
restart_daemon

expect_exit 0 ctl install "$T/v2.swu"
expect_stdout "Finished: success"
check "no install sentence" note_has "installed into slot B"

# Check() without Server= answers that, not with the install's sentence.
expect_exit 1 ctl check
expect_stderr "No Server= is configured"
check_not "Check() answered with the install's sentence: $(cat "$T/err")" grep -q "installed into slot" "$T/err"

# A bundle signed by a key the device does not trust: refused, logged once, the same sentence as
# the Note and the D-Bus error. From the finished install, without a Reset: a new one starts over.
expect_eq "state before the next install" "$(prop State)" finished
"$SWU" generate-key "$T/rogue" >/dev/null
release "$T/rogue.swu" 3 --key "$T/rogue"
: >"$T/daemon.log"
lines=$(wc -l <"$DEV/state/history.jsonl")
expect_exit 1 call Install 'sa{sv}' "$T/rogue.swu" 0
expect_eq "history lines for one refusal" "$(wc -l <"$DEV/state/history.jsonl")" $((lines + 1))
expect_stderr "valid signatures"
note=$(prop Note)
expect_eq "log lines about the rejection" "$(grep -c "valid signatures" "$T/daemon.log")" 1
check "the log does not carry the Note '$note': $(cat "$T/daemon.log")" grep -qF "$note" "$T/daemon.log"
check "the D-Bus error is not the Note '$note': $(cat "$T/err")" grep -qF "$note" "$T/err"
# The next operation starts with an empty Note.
expect_exit 0 ctl install "$T/v2.swu"
check_not "the rejection's Note outlived it" note_has "valid signatures"
finish
