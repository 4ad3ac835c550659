#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A server without ETags (Python's http.server, as a demo serves releases): the second poll asks
# with If-Modified-Since and is answered 304, so metadata.pb is neither downloaded nor verified
# again; the date is kept across a restart. A server whose ETag holds a control byte (a bare CR
# that would start another header line): the value is never sent back.
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

# The bad server logs, per request, the conditional headers it was sent.
bad=$(free_port)
python3 - "$bad" "$T/repo" "$T/bad.log" <<'PY' &
import http.server, sys
port, root, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s %r %r %r\n" % (self.path, self.headers.get("If-None-Match"),
                                       self.headers.get("If-Modified-Since"),
                                       self.headers.get("X-Injected")))
        body = open(root + self.path, "rb").read()
        self.close_connection = True
        self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n"
                         b'ETag: "a"\rX-Injected: yes\r\n'
                         b"Last-Modified: Mon, 07 Dec 2026 00:00:00 GMT\x01\r\n\r\n" % len(body))
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
PIDS+=($!)
bad_up() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' "http://127.0.0.1:$bad/stable/metadata.pb" 2>/dev/null; }
check "the bad server did not come up" wait_until 10 bad_up
use_server "http://127.0.0.1:$bad/stable"
restart_daemon
expect_exit 0 ctl check
expect_exit 0 ctl check
check "a header value with control bytes was sent back: $(cat "$T/bad.log")" \
	test "$(grep -c "^/stable/metadata.pb None None None$" "$T/bad.log")" -ge 3
finish
