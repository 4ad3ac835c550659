#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A deliberately misbehaving static server for the daemon tests, on 127.0.0.1 only.

fake-server.py ROOT PORTFILE MODE serves ROOT like nginx would (ETag, If-None-Match, Range),
except as MODE says:
  drop-once   the first request of each blob gets half its body, then the connection drops
  drop-norange  as drop-once, and Range is ignored: resumes get the whole blob (200)
  wrong-range  as drop-once, and resumes get 206 with the whole blob as "bytes 0-"
  oversize    blobs come with extra bytes appended
  corrupt     one byte of each blob is flipped
  corrupt-once  as corrupt for the first request of each blob only
  garbage     metadata.pb is random bytes
  error500    every request fails with 500 and Retry-After: 1
  retry-huge  every request fails with 503 and Retry-After: 4000000000 (the year 2153)
  retry-wrap  every request fails with 503 and Retry-After: 18446744073709 (wraps as usec)
  retry-date  every request fails with 503 and Retry-After: an HTTP-date two hours ahead
  retry-padded  as retry-date, the date followed by 120 spaces and junk: longer than the
              daemon reads, and no valid value as a whole
  stall       blobs send a few bytes, then nothing
  slow        blobs trickle at about 100 KiB/s
  slow-metadata  metadata.pb is answered after 1.5 s (under LowSpeedTimeoutSec=2)
  drip-metadata  metadata.pb trickles at 2 bytes/s (above any low-speed limit), for ever
  error-drip  every request fails with 503 and a body that trickles at 2 bytes/s, for ever
  drop-parked  chunk store ranges longer than 128 KiB (those a delta asks for ahead of their
              turn) get 64 KiB, then the connection drops, once for each range's end
  endless-metadata  metadata.pb is a 200 without Content-Length (the connection closes at its
              end), and it never ends: TUF's endless data attack
  endless-blob  blobs are a 200 without Content-Length: their bytes, then bytes for ever
  long-206    as drop-once, and the resume is a 206 from the byte asked for without
              Content-Length, whose body runs 4 KiB past the blob's end
  plain       none of the above: a well-behaved server
The chosen port is written to PORTFILE. Requests are logged to stdout, one per line: method,
path, Range, bytes sent, If-None-Match (quoted).
"""
import hashlib
import http.server
import os
import sys
import time

ROOT, PORTFILE, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
served = set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log_sent(self, n):
        print(self.command, self.path, self.headers.get("Range", "-"), n,
              repr(self.headers.get("If-None-Match", "-")), flush=True)

    def do_GET(self):
        self.log_sent(0)
        path = os.path.join(ROOT, self.path.lstrip("/"))
        retry = {"error500": "1", "retry-huge": "4000000000", "retry-wrap": "18446744073709",
                 "retry-date": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                             time.gmtime(time.time() + 7200)),
                 "retry-padded": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                               time.gmtime(time.time() + 7200)) + " " * 120 + "junk"
                 }.get(MODE)
        if MODE in ("drip-metadata", "error-drip") and (MODE == "error-drip" or "/blobs/" not in self.path):
            self.send_response(503 if MODE == "error-drip" else 200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                return
        if MODE == "endless-metadata" and self.path.endswith("/metadata.pb") or \
                MODE == "endless-blob" and "/blobs/" in self.path and os.path.isfile(path):
            # No Content-Length: nothing announced to refuse before the bytes come.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            sent = 0
            try:
                if MODE == "endless-blob":
                    data = open(path, "rb").read()
                    self.wfile.write(data)
                    sent += len(data)
                while True:  # about 12 MiB/s: the 4 MiB cap is reached in a third of a second
                    self.wfile.write(b"e" * 65536)
                    self.wfile.flush()
                    sent += 65536
                    time.sleep(0.005)
            except OSError:
                self.log_sent(sent)
                return
        if retry:
            self.send_response(500 if MODE == "error500" else 503)
            self.send_header("Retry-After", retry)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(path, "rb").read()
        blob = "/blobs/" in self.path
        if MODE == "slow-metadata" and not blob:
            time.sleep(1.5)
        if MODE == "garbage" and not blob:
            data = os.urandom(300)
        if blob and MODE == "oversize":
            data += b"extra bytes the signature does not cover"
        if blob and (MODE == "corrupt" or (MODE == "corrupt-once" and self.path not in served)):
            served.add(self.path)
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = 0, len(data) - 1
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and self.headers.get("If-Range", etag) == etag and MODE != "drop-norange":
            first_s, last_s = rng[6:].split("-")
            start = int(first_s)
            if last_s:
                end = min(int(last_s), end)
        ranged = start or end < len(data) - 1
        body, first = data[start:end + 1], start if ranged else None
        if start and MODE == "wrong-range":
            body, first, end = data, 0, len(data) - 1  # partial, but not from the byte asked for
        if start and MODE == "long-206":
            # The rest, and more than the rest, from the byte asked for; no length announced.
            body = data[start:] + b"x" * 4096
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.send_header("ETag", etag)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(body)
                self.wfile.flush()
            except OSError:
                pass
            self.log_sent(len(body))
            return
        self.send_response(200 if first is None else 206)
        if first is not None:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, end, len(data)))
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if blob and MODE in ("drop-once", "drop-norange", "wrong-range", "long-206") and self.path not in served:
            served.add(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.log_sent(len(body) // 2)
            self.close_connection = True
            return
        key = (self.path, end)
        if MODE == "drop-parked" and "/chunks/" in self.path and ranged and len(body) > 131072 and key not in served:
            served.add(key)
            self.wfile.write(body[:65536])
            self.wfile.flush()
            self.log_sent(65536)
            self.close_connection = True
            return
        if blob and MODE == "stall":
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(60)
            return
        if blob and MODE == "slow":
            for i in range(0, len(body), 10240):
                self.wfile.write(body[i : i + 10240])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.wfile.write(body)
        self.log_sent(len(body))


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(PORTFILE, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
