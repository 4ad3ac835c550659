#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# swu verify-channel checks a published channel as a device would: the metadata against a trusted
# root, every blob it lists (length and hash), every chunk and patch store against its index, roots/ as a
# chain; each broken file named. The mirror recipe of docs/server.md runs against a local server.
. "${SRCDIR:-.}/tests/lib.sh"

server_pid=
cleanup() {
	[ -z "$server_pid" ] || { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; } || true
	rm -rf "$T"
}
trap cleanup EXIT

release b.pb 3 --root root.pb --chunked rootfs
"$SWU" publish --bundle b.pb --dir repo >/dev/null
hash_of() { # hash_of TARGET: its signed SHA-256
	"$SWU" inspect-bundle b.pb --json | python3 -c 'import json, sys; d = json.load(sys.stdin); print([t["sha256"] for t in d["targets_metadata"]["targets"]["targets"] if t["name"] == sys.argv[1]][0])' "$1"
}
rootfs=$(hash_of rootfs)
appfs=$(hash_of appfs)
index=$(hash_of rootfs.chunks)
check "publish wrote no chunk store" test -s "repo/chunks/$index"

# --- a good channel ------------------------------------------------------------------------------
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata root.pb repo
expect_stdout "Channel repo verified: targets version 3, 3 blobs, 1 chunk store"
expect_exit 0 "$SWU" verify-channel --self repo
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata root.pb --list repo
expect_eq "--list" "$(sort "$T/out" | tr '\n' ' ')" \
	"$(printf '%s\n' "blobs/$rootfs" "blobs/$appfs" "blobs/$index" "chunks/$index" | sort | tr '\n' ' ')"

# --- usage and I/O: exit 2 -------------------------------------------------------------------------
expect_exit 2 "$SWU" verify-channel repo
expect_stderr "exactly one of --trusted-root-metadata ROOT and --self"
expect_exit 2 "$SWU" verify-channel --self --trusted-root-metadata root.pb repo
expect_exit 2 "$SWU" verify-channel --self
expect_exit 2 "$SWU" verify-channel --self no-such-dir
expect_stderr "no-such-dir"
expect_exit 2 "$SWU" verify-channel --self https://updates.example.com/gw/stable
expect_stderr "a URL: mirror the channel first"

# --- the metadata: as a device with the given root --------------------------------------------------
mkdir -p empty
expect_exit 1 "$SWU" verify-channel --self empty
expect_stderr "'empty/metadata.pb' is missing: devices see no release"
"$SWU" generate-key other >/dev/null
"$SWU" create-root-metadata --append-root-key other.pub --append-targets-key targets.pub -o other-root.pb
"$SWU" sign-root-metadata --root-metadata other-root.pb --root-key other
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata other-root.pb repo
expect_stderr "Channel 'repo' rejected: root metadata has 0 valid signatures by trusted root keys, 1 required"
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb --compatible acme-gw-v1 repo
expect_stderr "not for this device 'acme-gw-v1'"

# --- blobs and chunk stores: each broken file named, all of them reported ----------------------------
variant() { rm -rf "$1"; cp -r repo "$1"; }
variant missing-blob
rm "missing-blob/blobs/$appfs"
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb missing-blob
expect_stderr "'missing-blob/blobs/$appfs' (target 'appfs') is missing"
variant flipped-blob
flip_byte "flipped-blob/blobs/$rootfs" 1000
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb flipped-blob
expect_stderr "'flipped-blob/blobs/$rootfs' (target 'rootfs'): payload 'rootfs' has SHA-256 [0-9a-f]*, signed hash is $rootfs"
variant short-blob
truncate -s -1 "short-blob/blobs/$appfs"
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb short-blob
expect_stderr "'short-blob/blobs/$appfs' (target 'appfs'): payload 'appfs' is [0-9]* bytes, signed length is [0-9]*"
variant missing-store
rm "missing-store/chunks/$index"
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb missing-store
expect_stderr "'missing-store/chunks/$index' (chunk store of target 'rootfs') is missing: devices download the whole blob instead"
variant flipped-store
flip_byte "flipped-store/chunks/$index" "$(($(stat -c %s "repo/chunks/$index") - 100))"
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb flipped-store
expect_stderr "'flipped-store/chunks/$index' (chunk store of target 'rootfs'): chunk store: "
variant short-store
truncate -s 100 "short-store/chunks/$index"
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb short-store
expect_stderr "'short-store/chunks/$index' (chunk store of target 'rootfs'): chunk store: 100 bytes, its records alone take"
variant magic-store
printf 'SWUSTOR0' | dd of="magic-store/chunks/$index" conv=notrunc status=none
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb magic-store
expect_stderr "chunk store: no SWUSTOR1 magic"
variant everything
rm "everything/blobs/$appfs"
flip_byte "everything/blobs/$rootfs" 10
rm "everything/chunks/$index"
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb everything
expect_stderr "'everything/blobs/$appfs' (target 'appfs') is missing"
expect_stderr "'everything/blobs/$rootfs' (target 'rootfs'): payload 'rootfs' has SHA-256"
expect_stderr "'everything/chunks/$index' (chunk store of target 'rootfs') is missing"
expect_stderr "Channel 'everything' rejected: 3 files are wrong"

# --- roots/: root metadata a device can follow from the trusted root, link by link --------------------
"$SWU" generate-key root2 >/dev/null
"$SWU" create-root-metadata --append-root-key root2.pub --append-targets-key targets.pub --previous root.pb -o root2.pb
"$SWU" sign-root-metadata --root-metadata root2.pb --root-key root 2>/dev/null
"$SWU" sign-root-metadata --root-metadata root2.pb --root-key root2
variant roots
mkdir -p roots/roots # publish wrote roots/1.pb, the bundle's root
cp root.pb roots/roots/1.pb
cp root2.pb roots/roots/2.pb
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata root.pb roots
expect_stdout "2 roots"
"$SWU" create-root-metadata --append-root-key other.pub --append-targets-key targets.pub --previous root2.pb -o root3.pb
"$SWU" sign-root-metadata --root-metadata root3.pb --root-key other
cp root3.pb roots/roots/3.pb
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb roots
expect_stderr "'roots/roots/3.pb': root metadata has 0 valid signatures by trusted root keys, 1 required"
echo junk >roots/roots/3.pb
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata root.pb roots
expect_stderr "'roots/roots/3.pb': "

# --- the mirror recipe of docs/server.md, against a server on 127.0.0.1 ------------------------------
python3 "$SRCDIR/tests/fake-server.py" "$T/repo" "$T/port" plain >"$T/server.log" 2>&1 &
server_pid=$!
check "the server did not start" wait_until 10 test -s "$T/port"
recipe=$(python3 - "$SRCDIR/docs/server.md" <<'EOF_PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"<!-- mirror recipe -->\n```sh\n(.*?)```", text, re.S)
print(m.group(1) if m else "exit 99")
EOF_PY
)
swu() { "$SWU" "$@"; }
mkdir -p mirror-test && cd mirror-test
cp ../root.pb .
check "the mirror recipe of docs/server.md failed: $recipe" \
	bash -c "set -euo pipefail; $(declare -f swu); export SWU=$SWU; ${recipe//https:\/\/updates.example.com\/gw\/stable/http://127.0.0.1:$(cat "$T/port")}"
cd "$T"
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata root.pb mirror-test/mirror
# roots/ is copied as a whole, not listed (docs/server.md)
# (roots/, patch stores and history are not named by the metadata: docs/server.md says so)
check "the mirror is not the channel" diff -r -x roots -x history -x '*-from-*' repo mirror-test/mirror

# --- patch stores: publish makes one for the last image of a name (history), never from an earlier
# blob that is not what its name says or from a history line that is not a hash; verify-channel
# checks them, and says without failing when their earlier image is gone ---------------------------
release p1.pb 1 --chunked rootfs
release p2.pb 2 --chunked rootfs
old=$(sha256sum rootfs-1.img | cut -d' ' -f1)
"$SWU" publish --bundle p1.pb --dir prepo >/dev/null
publish_p2() { rm -f prepo/chunks/*-from-*; "$SWU" publish --bundle p2.pb --dir prepo >"$T/out" 2>"$T/err"; }
publish_p2
check "no patch store from release 1: $(ls prepo/chunks)" test -s prepo/chunks/*-from-$old
expect_stdout "Patch store of 'rootfs' for devices holding ${old:0:16}"
expect_exit 0 "$SWU" verify-channel --self prepo
expect_stdout ", 1 patch store"
patch=$(ls prepo/chunks | grep -- "-from-$old\$")
cp "prepo/chunks/$patch" patch.keep
# An earlier blob changed since it was published: no patch store from it.
cp "prepo/blobs/$old" blob.keep
printf 'x' | dd of="prepo/blobs/$old" bs=1 seek=100 conv=notrunc status=none
publish_p2
expect_stderr "no patch store from 'prepo/blobs/$old': its SHA-256 is"
check "a patch store from a changed blob" test -z "$(ls prepo/chunks | grep -- -from-)"
# verify-channel: the patch store against a changed blob is wrong; against none, not checked.
cp patch.keep "prepo/chunks/$patch"
expect_exit 1 "$SWU" verify-channel --self prepo
expect_stderr "does not match its name"
rm "prepo/blobs/$old"
expect_exit 0 "$SWU" verify-channel --self prepo
expect_stdout "not checked: 'prepo/blobs/$old', the image it is for, is gone"
cp blob.keep "prepo/blobs/$old"
# History lines that are not three fields ending in a lowercase SHA-256 name no file.
cp prepo/history history.keep
printf '1 rootfs %s\n1 rootfs %s extra\n' "../blobs/${old:9}" "$old" >prepo/history
publish_p2
check "a patch store from a history line that is not a hash: $(ls prepo/chunks)" \
	test -z "$(ls prepo/chunks | grep -- -from-)"
check_not "publish opened a path a history line made up: $(cat "$T/err")" grep -q '\.\./blobs' "$T/err"
cp history.keep prepo/history
publish_p2
check "no patch store once the history is right again" test -s prepo/chunks/*-from-$old

finish
