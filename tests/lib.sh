# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the shell tests: a temporary directory removed on exit, and assertions.
set -euo pipefail

: "${SWU:?SWU must point at the swu binary (make check sets it)}"
T=$(mktemp -d /tmp/swu-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
failures=0
checks=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# expect_exit CODE CMD...: runs CMD, checks its exit status, keeps its stderr in $T/err.
expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$T/out" 2>"$T/err" || got=$?
	checks=$((checks + 1))
	if [ "$got" != "$want" ]; then
		fail "'$*' exited $got, expected $want: $(cat "$T/err")"
		return 0
	fi
}

expect_stderr() {
	checks=$((checks + 1))
	grep -q -- "$1" "$T/err" || fail "stderr lacks '$1': $(cat "$T/err")"
}

expect_stdout() {
	checks=$((checks + 1))
	grep -q -- "$1" "$T/out" || fail "stdout lacks '$1': $(cat "$T/out")"
}

# json_check FILE EXPR: EXPR (Python, over the parsed document d) must be true.
json_check() {
	checks=$((checks + 1))
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" ||
		fail "JSON check '$2' on $1: $(cat "$1")"
}

# flip_byte FILE OFFSET: inverts one byte (writing a fixed value would change nothing 1 time in 256).
flip_byte() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xFF]))' "$1" "$2"
}

finish() {
	echo "$checks checks, $failures failed"
	[ "$failures" = 0 ]
}

# make_release DIR VERSION: keys (once), root, and a signed bundle of two files in DIR.
make_keys() {
	[ -f root ] || "$SWU" generate-key root >/dev/null
	[ -f targets ] || "$SWU" generate-key targets >/dev/null
	[ -f root.pb ] || {
		"$SWU" create-root-metadata --append-root-key root.pub --append-targets-key targets.pub -o root.pb
		"$SWU" sign-root-metadata --root-metadata root.pb --root-key root
	}
}

make_bundle() { # make_bundle OUT VERSION [extra create-empty-bundle args]
	local out=$1 version=$2
	shift 2
	printf 'rootfs v%s\n' "$version" >rootfs.img
	head -c 3000 /dev/urandom >app.img
	"$SWU" create-empty-bundle --target-metadata-version "$version" "$@" "$out"
	"$SWU" add-root-metadata-to-bundle --append-root-metadata root.pb --bundle "$out"
	"$SWU" add-file-to-bundle --bundle "$out" --file rootfs.img --new-name rootfs
	"$SWU" add-file-to-bundle --bundle "$out" --file app.img --new-name appfs
	"$SWU" sign-bundle --bundle "$out" --key targets
}
