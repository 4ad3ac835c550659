#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Calls the daemon refuses with a reason: a wrong state, an unknown option, a source that is
# neither an absolute path nor a URL, a path that is no regular file, a source too long to keep.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon

expect_exit 1 call Verify
expect_stderr "Verify is not possible in state 'inactive'"
expect_exit 1 call Install 'sa{sv}' "" 1 Foo s bar
expect_stderr "Unknown option 'Foo'"
expect_exit 1 call Install 'sa{sv}' "relative/path" 0
expect_stderr "neither an absolute path nor an http(s) URL"
# A path that is no regular file is never opened as a bundle: a FIFO would block the daemon, a
# device node could act on being opened.
mkfifo "$T/fifo.swu"
expect_exit 1 timeout 10 busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 io.swupdated.Updater1 Install 'sa{sv}' "$T/fifo.swu" 0
expect_stderr "not a regular file"
expect_eq "state after a FIFO" "$(prop State)" inactive
# A source longer than the daemon keeps is refused whole, never cut (a cut URL is another URL,
# and a character cut in half would break GetAll).
long="http://127.0.0.1:$PORT/$(printf 'é%.0s' $(seq 600)).swu"
expect_exit 1 call Install 'sa{sv}' "$long" 0
expect_stderr "source is longer than"
expect_exit 0 busctl "$BUS" call io.swupdated.Updater1 /io/swupdated/Updater1 org.freedesktop.DBus.Properties GetAll s io.swupdated.Updater1
finish
