#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes a seed corpus for fuzz-http into DIR (text, see tests/fuzz/fuzz-http.c): responses as
# the servers of docs/server.md send them, redirects, resumes answered 206 from the byte asked
# for or from another one, bodies at, under and over their cap, and the values a server may get
# wrong (weak ETags, control bytes, long and padded values, every Retry-After form, URLs with
# secrets in a Location).
set -euo pipefail
out=$(realpath -m "$1")
mkdir -p "$out"
seed() { # seed NAME TEXT: TEXT (printf format) into DIR/NAME
	# shellcheck disable=SC2059
	printf "$2" >"$out/$1"
}
seed nginx-200 'HTTP/1.1 200 OK\nServer: nginx\nContent-Length: 4096\nETag: "6571a0b2-1000"\nLast-Modified: Wed, 18 Nov 2026 10:00:00 GMT\n\n200 0 4096\n1024 1024 2048\n'
seed nginx-206 'HTTP/1.1 206 Partial Content\nContent-Range: bytes 1000-4095/4096\nETag: "6571a0b2-1000"\n\n206 1000 4096\n96 3000\n'
seed resume-another-range 'HTTP/1.1 206 Partial Content\nContent-Range: bytes 0-4095/4096\n\n206 1000 4096\n4096\n'
seed resume-no-content-range 'HTTP/1.1 206 Partial Content\n\n206 1000 4096\n10\n'
seed resume-overlong 'HTTP/1.1 206 Partial Content\nContent-Range: bytes 2048-\n\n206 2048 4096\n2048 1\n'
seed endless 'HTTP/1.1 200 OK\nConnection: close\n\n200 0 4194304\n65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 65536 1\n'
seed no-cap 'HTTP/1.1 200 OK\n\n200 0 0\n18446744073709551615 1\n'
seed huge-offset 'HTTP/1.1 206 Partial Content\nContent-Range: bytes 18446744073709551615-\n\n206 18446744073709551615 10\n1\n'
seed apache-weak 'HTTP/1.1 200 OK\nServer: Apache/2.4\nETag: W/"1000-62a3f0c1d2e00"\nAccept-Ranges: bytes\n\n200 0 4096\n4096\n'
seed redirect 'HTTP/1.1 302 Found\nLocation: https://user:secret@cdn.example/blobs/ab?X-Amz-Signature=deadbeef#frag\nETag: "redirect"\nRetry-After: 5\nContent-Range: bytes 7-\nHTTP/1.1 200 OK\nETag: "final"\n\n200 0 100\n100\n'
seed location-v6 'Location: http://u:p@[2001:db8::1]:8443/stable?k=v\nLocation: http://[fe80::1%%25eth0]/x\nLocation: ftp://a:b@host/c\nLocation: /relative/path?x=1\nLocation: http://bad host/x?y\n'
seed retry-after 'HTTP/1.1 503 Service Unavailable\nRetry-After: 120\nRetry-After: Wed, 18 Nov 2026 12:06:40 GMT\nRetry-After: Wednesday, 18-Nov-26 12:06:40 GMT\nRetry-After: Wed Nov 18 12:06:40 2026\nRetry-After: 99999999999999999999999\nRetry-After: 18446744073709\nRetry-After: -1\nRetry-After: 12abc\n\n503 0 0\n1\n'
seed retry-padded "HTTP/1.1 503 Service Unavailable\nRetry-After: Wed, 18 Nov 2026 12:06:40 GMT$(printf '%*s' 120 '')junk\n"
seed control-bytes 'ETag: "a\001b"\nLast-Modified: Wed,\t18 Nov 2026\r10:00:00 GMT\nETag: "\177"\nETag: "ok"\n'
seed long-etag "ETag: \"$(printf '%0126d' 0)\"\nETag: \"$(printf '%0130d' 0)\"\nLast-Modified: $(printf '%063d' 0)\n"
seed odd-lines 'etag:"lower"\nETAG :  "spaced"  \nContent-Range:bytes 5-9/10\nContent-Range: bytes */10\nContent-Range: items 1-2\n:\nHTTP/\nHTTP/2 200\nno colon at all\n\n206 5 10\n5\n'
