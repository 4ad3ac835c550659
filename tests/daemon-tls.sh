#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# TLS with a pinned test CA and a client certificate required by nginx (ssl_verify_client on):
# the daemon's polls work with the right certificate and are refused without it.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

pki=$T/pki
make_pki "$pki"

device_setup grub
start_bus
release "$T/v2.swu" 2
publish "$T/v2.swu"
start_nginx "ssl_certificate $pki/server.crt; ssl_certificate_key $pki/server.key; ssl_client_certificate $pki/ca.crt; ssl_verify_client on;"
# nginx offers HTTP/2 as well: the daemon must still speak HTTP/1.1 (fetch.c), where a paused
# transfer leaves its bytes in the socket rather than in libcurl's memory.
sed -i "s|listen 127.0.0.1:$PORT;|listen 127.0.0.1:$PORT ssl http2;|" "$T/nginx.conf"
nginx_reload || fail "nginx did not reload"
expect_eq "ALPN offered by nginx" "$(python3 - "$PORT" "$pki" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2] + "/ca.crt")
ctx.load_cert_chain(sys.argv[2] + "/device.crt", sys.argv[2] + "/device.key")
ctx.set_alpn_protocols(["h2", "http/1.1"])
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="127.0.0.1") as s:
    print(s.selected_alpn_protocol())
PY
)" h2
SERVER="https://127.0.0.1:$PORT/stable"
start_daemon
sed -i "s|^Retries=3|Retries=3\nCAFile=$pki/ca.crt\nClientCertificate=$pki/device.crt\nClientKey=$pki/device.key|" "$DEV/swupdated.conf"
restart_daemon
expect_exit 0 ctl check
expect_stdout "Version 2 is available"
expect_exit 0 ctl install
expect_eq "result over mTLS" "$(prop Result)" success
http1_only="the daemon did not speak HTTP/1.1 only: $(grep -o '"GET [^"]*"' "$T/access.log" | sort | uniq -c)"
check "$http1_only" grep -q '"GET /stable/blobs/.* HTTP/1.1"' "$T/access.log"
check_not "$http1_only" grep -q 'HTTP/2' "$T/access.log"

# A key file that is not there (yet: it may be on a partition mounted later) is no configuration
# error: check-config warns, the daemon runs (MarkGood must work), and a poll names the file.
sed -i "s|^ClientKey=.*|ClientKey=$pki/missing.key|" "$DEV/swupdated.conf"
expect_exit 0 "$SWUPDATED" --config "$DEV/swupdated.conf" check-config
expect_stderr "warning: ClientKey= '$pki/missing.key' cannot be read now: No such file or directory"
# Every such file is named, not only the first.
cp "$DEV/swupdated.conf" "$T/two-missing.conf"
sed -i "s|^ClientCertificate=.*|ClientCertificate=$pki/missing.crt|" "$T/two-missing.conf"
expect_exit 0 "$SWUPDATED" --config "$T/two-missing.conf" check-config
expect_stderr "warning: ClientCertificate= '$pki/missing.crt' cannot be read now"
expect_stderr "warning: ClientKey= '$pki/missing.key' cannot be read now"
restart_daemon
expect_exit 1 ctl check
expect_stderr "cannot read ClientKey= '$pki/missing.key': No such file or directory"
# Read, and refused by OpenSSL: the files are named too.
cp "$pki/ca.crt" "$pki/missing.key"
expect_exit 1 ctl check
expect_stderr "(ClientCertificate= '$pki/device.crt', ClientKey= '$pki/missing.key')"
rm "$pki/missing.key"
# Without the client certificate nginx refuses the device, and the sentence says what is missing.
sed -i '/^ClientCertificate=/d; /^ClientKey=/d' "$DEV/swupdated.conf"
restart_daemon
expect_exit 1 ctl check
expect_stderr "HTTP status 400 (an https server that wants a client certificate answers 400: set ClientCertificate= and ClientKey=)"
# A server certificate from another CA is refused by the pinned CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=other CA" \
	-keyout "$pki/other.key" -out "$pki/other.crt" 2>/dev/null
sed -i "s|^CAFile=.*|CAFile=$pki/other.crt|" "$DEV/swupdated.conf"
restart_daemon
expect_exit 1 ctl check
expect_stderr "Checking https://127.0.0.1:$PORT/stable failed"

# No downgrade by redirect: an https server sending the device to http is refused, and the
# http server never sees a request.
HPORT=$(free_port)
python3 - "$T/nginx.conf" "$HPORT" "$T" <<'PY'
import sys
path, port, t = sys.argv[1:]
conf = open(path).read()
conf = conf.replace("    root %s/repo;" % t, "    root %s/repo;\n    location /downgrade/ { return 302 http://127.0.0.1:%s/stable/metadata.pb; }" % (t, port), 1)
conf = conf.rstrip().rstrip("}") + "  server { listen 127.0.0.1:%s; root %s/repo; access_log %s/http.log; }\n}\n" % (port, t, t)
open(path, "w").write(conf)
PY
nginx_reload || fail "nginx did not reload"
sed -i "s|^CAFile=.*|CAFile=$pki/ca.crt\nClientCertificate=$pki/device.crt\nClientKey=$pki/device.key|" "$DEV/swupdated.conf"
use_server "https://127.0.0.1:$PORT/downgrade"
restart_daemon
expect_exit 1 ctl check
expect_stderr "refusing a redirect away from https"
check "the device followed a redirect to http: $(cat "$T/http.log" 2>/dev/null)" test ! -s "$T/http.log"
check "the redirect was never asked for" grep -q "GET /downgrade/metadata.pb" "$T/access.log"
finish
