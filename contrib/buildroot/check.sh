#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Checks this br2-external tree against a Buildroot tree, without downloading or building
# any package:
#   1. Buildroot's utils/check-package on every file of the tree;
#   2. Kconfig: a minimal configuration (x86_64, internal glibc toolchain with C++, systemd as
#      init) plus BR2_PACKAGE_SWUPDATED=y and BR2_PACKAGE_HOST_SWUPDATED=y must keep both
#      options through "make olddefconfig", with the libraries they select; without C++ the
#      target option must be dropped;
#   3. the package makefile is evaluated ("make printvars").
#
#   BUILDROOT_DIR=/path/to/buildroot contrib/buildroot/check.sh
#
# BR_CHECK_OUTPUT sets the output directory (default: a new directory under /tmp, removed
# on success). Exit status: 0 all checks passed, 1 a check failed.
set -euo pipefail

ext=$(cd "$(dirname "$0")" && pwd)

if [ -z "${BUILDROOT_DIR:-}" ]; then
	echo "buildroot: skipped (set BUILDROOT_DIR to check the external tree)"
	exit 0
fi

fail() {
	echo "buildroot: FAIL: $*" >&2
	exit 1
}

br=$(cd "$BUILDROOT_DIR" && pwd) || fail "BUILDROOT_DIR=$BUILDROOT_DIR is not a directory"
if [ ! -f "$br/utils/check-package" ] || [ ! -f "$br/Config.in" ]; then
	fail "$br does not look like a Buildroot tree"
fi
version=$(make -s -C "$br" --no-print-directory print-version 2>/dev/null || echo unknown)
echo "buildroot: $br (version $version)"

# --- 1. check-package ---------------------------------------------------------------------
# It imports the python modules magic and flake8 (Debian: python3-magic, python3-flake8) and
# runs shellcheck on shell scripts.
py=
for p in "${PYTHON3:-}" python3 /usr/bin/python3; do
	if [ -n "$p" ] && command -v "$p" >/dev/null && "$p" -c 'import magic, flake8' 2>/dev/null; then
		py=$p
		break
	fi
done
[ -n "$py" ] || fail "utils/check-package needs python3 with the magic and flake8 modules"

mapfile -t files < <(cd "$ext" && find . -type f ! -path './.git/*' | sed 's|^\./||' | LC_ALL=C sort)
echo "buildroot: utils/check-package -b on ${#files[@]} files"
(cd "$ext" && "$py" "$br/utils/check-package" -b "${files[@]}") ||
	fail "utils/check-package reported warnings"

# --- 2. olddefconfig ----------------------------------------------------------------------
if [ -n "${BR_CHECK_OUTPUT:-}" ]; then
	out=$BR_CHECK_OUTPUT
	rm -rf "$out"
	mkdir -p "$out"
	keep=1
else
	out=$(mktemp -d /tmp/swupdated-br-check.XXXXXX)
	keep=0
fi

brmake() {
	make -C "$br" BR2_EXTERNAL="$ext" O="$1" "${@:2}"
}

# Kconfig only: nothing is downloaded or built by olddefconfig or printvars.
write_config() {
	cat >"$1/.config" <<-EOF
		BR2_x86_64=y
		BR2_TOOLCHAIN_BUILDROOT=y
		BR2_TOOLCHAIN_BUILDROOT_GLIBC=y
		$2
		BR2_INIT_SYSTEMD=y
		BR2_PACKAGE_SWUPDATED=y
		BR2_PACKAGE_HOST_SWUPDATED=y
		BR2_PACKAGE_HOST_SWUPDATED_PKCS11=y
	EOF
}

write_config "$out" "BR2_TOOLCHAIN_BUILDROOT_CXX=y"
brmake "$out" olddefconfig >"$out/olddefconfig.log" 2>&1 ||
	{ cat "$out/olddefconfig.log" >&2; fail "make olddefconfig failed"; }

status=0
for opt in BR2_INIT_SYSTEMD BR2_PACKAGE_SWUPDATED BR2_PACKAGE_HOST_SWUPDATED \
	BR2_PACKAGE_HOST_SWUPDATED_PKCS11 \
	BR2_PACKAGE_LIBOPENSSL BR2_PACKAGE_LIBCURL BR2_PACKAGE_LIBCURL_OPENSSL \
	BR2_PACKAGE_PROTOBUF_C BR2_PACKAGE_JSON_C BR2_PACKAGE_INIH BR2_PACKAGE_SYSTEMD; do
	if line=$(grep -x "$opt=y" "$out/.config"); then
		echo "buildroot: .config: $line"
	else
		echo "buildroot: .config: $opt is not set" >&2
		status=1
	fi
done
[ $status -eq 0 ] || fail "olddefconfig dropped options (see $out/.config)"

# The dependencies must hold: without C++ (protobuf-c) the target package goes away.
mkdir -p "$out/no-cxx"
write_config "$out/no-cxx" "# BR2_TOOLCHAIN_BUILDROOT_CXX is not set"
brmake "$out/no-cxx" olddefconfig >"$out/no-cxx/olddefconfig.log" 2>&1 ||
	{ cat "$out/no-cxx/olddefconfig.log" >&2; fail "make olddefconfig (no C++) failed"; }
if grep -qx "BR2_PACKAGE_SWUPDATED=y" "$out/no-cxx/.config"; then
	fail "BR2_PACKAGE_SWUPDATED=y survived without a C++ toolchain"
fi
echo "buildroot: without C++: BR2_PACKAGE_SWUPDATED dropped, as it must be"

# --- 3. the package makefile ----------------------------------------------------------------
vars='SWUPDATED_VERSION SWUPDATED_SITE SWUPDATED_SOURCE SWUPDATED_LICENSE'
vars="$vars SWUPDATED_FINAL_DEPENDENCIES HOST_SWUPDATED_FINAL_DEPENDENCIES"
vars="$vars SWUPDATED_CONF_OPTS HOST_SWUPDATED_CONF_OPTS SWUPDATED_USERS"
brmake "$out" -s --no-print-directory printvars VARS="$vars" QUOTED_VARS=YES \
	>"$out/printvars.log" 2>&1 || { cat "$out/printvars.log" >&2; fail "make printvars failed"; }
sed 's/^/buildroot: /' "$out/printvars.log"
for want in "SWUPDATED_FINAL_DEPENDENCIES=.*host-protobuf-c.*inih" \
	"HOST_SWUPDATED_CONF_OPTS=.*--disable-daemon" \
	"HOST_SWUPDATED_FINAL_DEPENDENCIES=.*host-libp11" \
	"SWUPDATED_CONF_OPTS=.*PROTOC_C=.*/host/bin/protoc-c"; do
	grep -q "^$want" "$out/printvars.log" || fail "printvars: no line matching '$want'"
done

[ $keep -eq 1 ] || rm -rf "$out"
echo "buildroot: OK"
