#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Checks this layer against poky and meta-openembedded the way their maintainers do, without
# downloading or building anything (BB_NO_NETWORK):
#   1. bitbake -p: every recipe of every layer parses, with no warning from this layer;
#   2. bitbake -g swupdated swupdated-native: the dependencies resolve (task-depends.dot and
#      pn-buildlist are checked for the expected edges);
#   3. with CHECK_LAYER=1 also yocto-check-layer on this layer (slow: several world parses).
#
#   POKY_DIR=/path/to/poky META_OE_DIR=/path/to/meta-openembedded contrib/meta-swupdated/check.sh
#
# META_OE_DIR defaults to $POKY_DIR/../meta-openembedded. BUILD_DIR (default
# /tmp/yocto-build/meta-swupdated) is the bitbake build directory; its conf/ is rewritten on
# every run. bitbake refuses to run as root: as root the checks run as BITBAKE_USER (default
# yocto, created when missing), who must be able to read the layers. MACHINE defaults to
# qemux86-64. Exit status: 0 all checks passed, 1 a check failed.
set -euo pipefail

layer=$(cd "$(dirname "$0")" && pwd)

if [ -z "${POKY_DIR:-}" ]; then
	echo "meta-swupdated: skipped (set POKY_DIR and META_OE_DIR to check the layer)"
	exit 0
fi

fail() {
	echo "meta-swupdated: FAIL: $*" >&2
	exit 1
}

poky=$(cd "$POKY_DIR" && pwd) || fail "POKY_DIR=$POKY_DIR is not a directory"
if [ ! -f "$poky/oe-init-build-env" ] || [ ! -d "$poky/meta" ]; then
	fail "$poky does not look like poky"
fi
oe=${META_OE_DIR:-$poky/../meta-openembedded}
oe=$(cd "$oe" 2>/dev/null && pwd) || fail "META_OE_DIR=${META_OE_DIR:-} is not a directory"
[ -f "$oe/meta-oe/conf/layer.conf" ] || fail "$oe has no meta-oe layer"
build=${BUILD_DIR:-/tmp/yocto-build/meta-swupdated}
# bitbake needs the en_US.UTF-8 locale (Debian: locales, locale-gen) and a UTF-8 LANG.
export LANG=en_US.UTF-8
unset LC_ALL
machine=${MACHINE:-qemux86-64}

# --- who runs bitbake ------------------------------------------------------------------------
run=()
if [ "$(id -u)" = 0 ]; then
	user=${BITBAKE_USER:-yocto}
	if ! id "$user" >/dev/null 2>&1; then
		useradd -m "$user" || fail "cannot create the user $user"
	fi
	run=(runuser -u "$user" --)
	for d in "$poky/meta" "$oe/meta-oe" "$layer/conf"; do
		"${run[@]}" test -r "$d" -a -x "$d" || fail "$user cannot read $d"
	done
	mkdir -p "$build"
	chown "$user:" "$build"
else
	mkdir -p "$build"
fi

# --- the build directory ---------------------------------------------------------------------
# shellcheck disable=SC2016 # expanded by the inner shell
"${run[@]}" bash -c '
	set -e
	rm -rf "$1/conf"
	cd "$1"
	. "$2/oe-init-build-env" "$1" >/dev/null
	cat >conf/bblayers.conf <<EOC
POKY_BBLAYERS_CONF_VERSION = "2"
BBPATH = "\${TOPDIR}"
BBFILES ?= ""
BBLAYERS ?= " \\
  $2/meta \\
  $2/meta-poky \\
  $2/meta-yocto-bsp \\
  $3/meta-oe \\
  $4 \\
"
EOC
	cat >>conf/local.conf <<EOC

# meta-swupdated/check.sh
MACHINE = "$5"
BB_NO_NETWORK = "1"
DISTRO_FEATURES:append = " systemd usrmerge"
INIT_MANAGER = "systemd"
EOC
' sh "$build" "$poky" "$oe" "$layer" "$machine" || fail "cannot set up $build"

bb() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	"${run[@]}" bash -c 'cd "$1" && . "$2/oe-init-build-env" "$1" >/dev/null && shift 2 && "$@"' \
		sh "$build" "$poky" "$@"
}

# --- 1. parse --------------------------------------------------------------------------------
echo "meta-swupdated: bitbake -p"
log=$build/check-parse.log
bb bitbake -p >"$log" 2>&1 || { tail -n 40 "$log"; fail "bitbake -p failed (log: $log)"; }
grep -E '^Parsing of|^Summary' "$log" || true
if grep -E '^(WARNING|ERROR):' "$log" | grep -iE 'swupdated|swu-bundle'; then
	fail "bitbake -p: warnings or errors from this layer (log: $log)"
fi

# --- 2. dependency graph ---------------------------------------------------------------------
echo "meta-swupdated: bitbake -g swupdated swupdated-native"
log=$build/check-graph.log
bb bitbake -g swupdated swupdated-native >"$log" 2>&1 || { tail -n 40 "$log"; fail "bitbake -g failed (log: $log)"; }
if grep -E '^(WARNING|ERROR):' "$log" | grep -iE 'swupdated|swu-bundle'; then
	fail "bitbake -g: warnings or errors from this layer (log: $log)"
fi
dot=$build/task-depends.dot
list=$build/pn-buildlist
for pn in swupdated swupdated-native protobuf-c-native openssl-native json-c-native zstd-native \
	protobuf-c openssl json-c zstd systemd curl libinih; do
	grep -qx "$pn" "$list" || fail "pn-buildlist lacks $pn"
done
# The target configures with the native protoc-c and links target libraries; the native
# recipe (--disable-daemon) needs neither systemd nor curl nor inih.
for edge in \
	'"swupdated.do_prepare_recipe_sysroot" -> "protobuf-c-native.do_populate_sysroot"' \
	'"swupdated.do_prepare_recipe_sysroot" -> "protobuf-c.do_populate_sysroot"' \
	'"swupdated.do_prepare_recipe_sysroot" -> "systemd.do_populate_sysroot"' \
	'"swupdated.do_prepare_recipe_sysroot" -> "curl.do_populate_sysroot"' \
	'"swupdated.do_prepare_recipe_sysroot" -> "libinih.do_populate_sysroot"' \
	'"swupdated-native.do_prepare_recipe_sysroot" -> "protobuf-c-native.do_populate_sysroot"' \
	'"swupdated-native.do_prepare_recipe_sysroot" -> "openssl-native.do_populate_sysroot"' \
	'"swupdated-native.do_prepare_recipe_sysroot" -> "json-c-native.do_populate_sysroot"'; do
	grep -qF "$edge" "$dot" || fail "task-depends.dot lacks $edge"
	echo "  $edge"
done
if grep -E '^"swupdated-native\.[a-z_]+" -> "(systemd|curl|libinih)[-a-z]*\.' "$dot"; then
	fail "swupdated-native depends on the daemon's libraries"
fi

# --- 3. yocto-check-layer (optional) ---------------------------------------------------------
if [ "${CHECK_LAYER:-0}" = 1 ]; then
	echo "meta-swupdated: yocto-check-layer"
	log=$build/check-layer.log
	bb yocto-check-layer --no-auto-dependency --dependency "$oe/meta-oe" -- "$layer" >"$log" 2>&1 ||
		{ tail -n 60 "$log"; fail "yocto-check-layer failed (log: $log)"; }
	grep -E 'INFO: (SUMMARY|meta-swupdated|Ran|OK|FAILED)' "$log" || tail -n 15 "$log"
fi

echo "meta-swupdated: OK"
