# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the shell tests: a temporary directory removed on exit, and assertions.
set -euo pipefail

: "${SWU:?SWU must point at the swu binary (make check sets it)}"
# The test's directory, removed on exit; a caller that set $T (the demo) keeps its own.
if [ -z "${T:-}" ]; then
	T=$(mktemp -d /tmp/swu-test.XXXXXX)
	trap 'rm -rf "$T"' EXIT
fi
cd "$T"
failures=0
checks=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# check WHAT CMD...: one check. CMD (a command and its arguments, run as they are: no string is
# evaluated) must exit 0; otherwise the failure WHAT, followed by the last lines CMD printed
# (stdout and stderr, kept in $T/check.out). Every check of the tests is counted here.
check() {
	local what=$1 rc=0
	shift
	checks=$((checks + 1))
	"$@" >"$T/check.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "$what$([ -s "$T/check.out" ] && printf ': %s' "$(tail -n 20 "$T/check.out")")"
	return 0
}

# check_not WHAT CMD...: one check that CMD exits non-zero (a grep that must find nothing).
check_not() {
	check "$1" not "${@:2}"
}

# not CMD...: CMD's exit status negated; its output stays (check shows it when it matters).
not() {
	! "$@"
}

# expect_exit CODE CMD...: runs CMD, checks its exit status, keeps its stderr in $T/err.
expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$T/out" 2>"$T/err" || got=$?
	check "'$*' exited $got, expected $want: $(cat "$T/err")" test "$got" = "$want"
}

expect_eq() { # expect_eq WHAT GOT WANT
	check "$1: got '$2', expected '$3'" test "$2" = "$3"
}

expect_stderr() {
	check "stderr lacks '$1': $(cat "$T/err")" grep -q -- "$1" "$T/err"
}

expect_stdout() {
	check "stdout lacks '$1': $(cat "$T/out")" grep -q -- "$1" "$T/out"
}

# json_check FILE EXPR: EXPR (Python, over the parsed document d) must be true.
json_check() {
	check "JSON check '$2' on $1: $(cat "$1")" python3 -c \
		'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

# wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or SECONDS (tenths
# allowed) passed (1): a test waits for the event it checks, not for a time it guessed.
wait_until() {
	local n
	n=$(awk -v s="$1" 'BEGIN { print int(s * 10 + 0.5) }')
	shift
	for _ in $(seq "$n"); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# flip_byte FILE OFFSET: inverts one byte (writing a fixed value would change nothing 1 time in 256).
flip_byte() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((byte ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

finish() {
	echo "$checks checks, $failures failed"
	[ "$failures" = 0 ]
}

# make_keys: the test keys $T/root and $T/targets (PEM), and root metadata $T/root.pb (version
# 1) signed by the root key; made once per test directory.
make_keys() {
	[ -f "$T/root" ] || "$SWU" generate-key "$T/root" >/dev/null
	[ -f "$T/targets" ] || "$SWU" generate-key "$T/targets" >/dev/null
	[ -f "$T/root.pb" ] || {
		"$SWU" create-root-metadata --append-root-key "$T/root.pub" \
			--append-targets-key "$T/targets.pub" -o "$T/root.pb"
		"$SWU" sign-root-metadata --root-metadata "$T/root.pb" --root-key "$T/root"
	}
}

# make_root_chain N: roots $T/chain/V.pb for V = 1..N, 1 being $T/root.pb; version V has root key
# $T/rootV and targets key $T/targetsV (V >= 2) and is signed by the root keys of V - 1 and V, so
# every rotation retires all the keys before it.
make_root_chain() {
	local v
	make_keys
	mkdir -p "$T/chain"
	cp "$T/root.pb" "$T/chain/1.pb"
	for ((v = 2; v <= $1; v++)); do
		[ -f "$T/root$v" ] || "$SWU" generate-key "$T/root$v" >/dev/null
		[ -f "$T/targets$v" ] || "$SWU" generate-key "$T/targets$v" >/dev/null
		"$SWU" create-root-metadata --append-root-key "$T/root$v.pub" \
			--append-targets-key "$T/targets$v.pub" --previous "$T/chain/$((v - 1)).pb" \
			-o "$T/chain/$v.pb"
		"$SWU" sign-root-metadata --root-metadata "$T/chain/$v.pb" \
			--root-key "$([ $v = 2 ] && echo "$T/root" || echo "$T/root$((v - 1))")" 2>/dev/null
		"$SWU" sign-root-metadata --root-metadata "$T/chain/$v.pb" --root-key "$T/root$v"
	done >/dev/null
}

# release OUT VERSION [option...]: the one way the tests make a signed bundle, with swu.
#   --file NAME=PATH   a target (repeatable); without any: rootfs from $T/rootfs-VERSION.img
#   --chunked NAME     add target NAME with its chunk index NAME.chunks (--chunk-index)
#                      (1 MiB + VERSION random bytes) and appfs from $T/appfs-VERSION.img
#   --root ROOT        carry this root metadata
#   --root-chain DIR   and the roots of DIR/*.pb older than it (root_chain)
#   --key KEY          sign with KEY (default $T/targets); "none": leave it unsigned
#   --compatible STR   the compatible list (default acme-gw-v2); "none": no list
# Anything else goes to create-empty-bundle (--expires ...).
release() {
	local out=$1 version=$2 root="" key=$T/targets compat=acme-gw-v2 chunked="" chain=""
	local files=() create=()
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--file) files+=("$2"); shift ;;
		--chunked) chunked=$2; shift ;;
		--root) root=$2; shift ;;
		--root-chain) chain=$2; shift ;;
		--key) key=$2; shift ;;
		--compatible) compat=$2; shift ;;
		*) create+=("$1") ;;
		esac
		shift
	done
	make_keys
	if [ ${#files[@]} -eq 0 ]; then
		head -c $((1024 * 1024 + version)) /dev/urandom >"$T/rootfs-$version.img"
		printf 'app v%s\n' "$version" >"$T/appfs-$version.img"
		files=("rootfs=$T/rootfs-$version.img" "appfs=$T/appfs-$version.img")
	fi
	[ "$compat" = none ] || create+=(--compatible "$compat")
	"$SWU" create-empty-bundle --target-metadata-version "$version" "${create[@]}" "$out"
	[ -z "$root" ] || "$SWU" add-root-metadata-to-bundle --append-root-metadata "$root" --bundle "$out" \
		${chain:+--root-chain "$chain"} >/dev/null
	for f in "${files[@]}"; do
		"$SWU" add-file-to-bundle --bundle "$out" --file "${f#*=}" --new-name "${f%%=*}" \
			${chunked:+$([ "$chunked" = "${f%%=*}" ] && echo --chunk-index)} >/dev/null
	done
	[ "$key" = none ] || "$SWU" sign-bundle --bundle "$out" --key "$key"
}
