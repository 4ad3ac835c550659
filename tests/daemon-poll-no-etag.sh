#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A server without ETags (Python's http.server, as a demo serves releases): the second poll asks
# with If-Modified-Since and is answered 304, so metadata.pb is neither downloaded nor verified
# again; the date is kept across a restart.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

device_setup grub
start_bus
release "$T/v2.swu" 2
mkdir -p "$T/repo"
publish "$T/v2.swu"
port=$(free_port)
(cd "$T/repo" && exec python3 -m http.server --bind 127.0.0.1 "$port") 2>"$T/http.log" &
PIDS+=($!)
up() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' "http://127.0.0.1:$port/stable/metadata.pb" 2>/dev/null; }
check "http.server did not come up" wait_until 10 up
SERVER=http://127.0.0.1:$port/stable start_daemon

polls() { grep -c '"GET /stable/metadata.pb' "$T/http.log"; }
expect_exit 0 ctl check
expect_stdout "Version 2 is available"
expect_exit 0 ctl check
check "the second poll was not answered 304: $(tail -n 3 "$T/http.log")" \
	grep -q '"GET /stable/metadata.pb HTTP/1.1" 304' "$T/http.log"
restart_daemon
before=$(polls)
expect_exit 0 ctl check
expect_eq "polls after the restart" "$(polls)" $((before + 1))
expect_eq "the poll after a restart" "$(grep '"GET /stable/metadata.pb' "$T/http.log" | tail -n 1 | grep -o '" [0-9]*' | tr -d '" ')" 304
finish
