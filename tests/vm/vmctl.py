#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Host side of tests/vm/agent: vmctl.py SOCKET TIMEOUT SCRIPT runs SCRIPT in the guest with
# bash, prints its output and exits with its status (124 when no answer came in TIMEOUT s,
# for example because the guest rebooted).
import base64, os, socket, sys, time

sock_path, timeout, script = sys.argv[1], float(sys.argv[2]), sys.argv[3]
ident = "%d-%d" % (os.getpid(), time.monotonic_ns())
deadline = time.monotonic() + timeout
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sock_path)
except OSError as e:
    print("vmctl: %s: %s" % (sock_path, e), file=sys.stderr)
    sys.exit(124)
s.sendall(("%s %s\n" % (ident, base64.b64encode(script.encode()).decode())).encode())
buf = b""
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        sys.exit(124)
    s.settimeout(left)
    try:
        data = s.recv(65536)
    except socket.timeout:
        sys.exit(124)
    if not data:
        sys.exit(124)
    buf += data
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        parts = line.decode(errors="replace").split(" ", 2)
        if len(parts) >= 2 and parts[0] == ident:  # answers to earlier, abandoned calls are skipped
            out = base64.b64decode(parts[2]) if len(parts) == 3 else b""
            sys.stdout.write(out.decode(errors="replace"))
            if out and not out.endswith(b"\n"):
                sys.stdout.write("\n")
            sys.exit(int(parts[1]))
