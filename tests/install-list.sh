#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The install list is part of the product: every program the scripts, tests, benchmarks, the
# Makefile and the VM test run on the build machine comes from a package scripts/install-deps
# installs (or one such a package depends on directly) or from an Essential package, so a
# fresh Debian 12 machine has it (tests/install-list.py says how the programs are found).
# First the finder itself, on a small tree that calls programs nobody has in every position it
# knows and in the places that are no call; then the real tree, as it is and without two of its
# packages, which must fail. No network: dpkg's database answers.
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SRCDIR/tests/lib.sh"
command -v dpkg-query >/dev/null || { echo "SKIP: not a Debian system (no dpkg-query)"; exit 77; }
list() { python3 "$SRCDIR/tests/install-list.py" "$@"; }

# --- the finder, on a tree of its own --------------------------------------------------------
tree=$T/tree
mkdir -p "$tree/scripts" "$tree/tests/vm" "$tree/bench"
printf 'packages=(\n\tpython3 # the only one\n)\n' >"$tree/scripts/install-deps"
printf 'host_pkgs="make"\n' >"$tree/scripts/cross-check"
cp "$SRCDIR/tests/lib.sh" "$tree/tests/lib.sh"
cat >"$tree/Makefile.am" <<'EOF'
TOOL = absent-mk2 --flag
SH_LOG_COMPILER = absent-mk3 $(BASH)
all-local:
	@absent-mk1 -x $(srcdir) && $(TOOL) $<
EOF
# (No #! line: this file's heredocs that start with one are scripts, which the real check reads.)
cat >"$tree/tests/x.sh" <<'EOF'
. "$SRCDIR/tests/lib.sh"
absent-line
echo | absent-pipe | cat
true && absent-and; false || absent-or; true; absent-semi
v=$(absent-subst "$(absent-nested)") w=`absent-backtick`
if absent-if; then absent-then; elif absent-elif; then :; else absent-else; fi
while absent-while; do absent-do; done
for i in 1; do absent-for; done
case $v in x) absent-case ;; esac
! absent-not
f() { absent-function; }
exec absent-exec
time absent-time
timeout --kill-after=3 5 absent-timeout
env A=1 absent-env
xargs -r absent-xargs </dev/null
nice -n 5 absent-nice
runuser -u nobody -- absent-runuser
chroot / absent-chroot-host
check "what" absent-check
check_not "what" absent-check-not
wait_until 5 absent-wait-until
expect_exit 0 absent-expect-exit
bash -c 'absent-bash-c; absent-bash-c2'
trap 'absent-trap' EXIT
eval "absent-eval"
find . -name x -exec absent-find {} +
python3 -c 'import subprocess; subprocess.run(["absent-py-c", "-x"])'
python3 - <<'PY'
import os
os.system("absent-py-heredoc --flag")
PY
cat >"$T/s" <<'SH'
#!/bin/sh
absent-heredoc-script
SH
runs() { "$@"; }
# Not calls: words, strings, comments, heredoc data, options, look-ups.
echo "not-a-call-1; not-a-call-2 | not-a-call-3" 'not-a-call-4 && x'
x="not-a-call-5" # not-a-call-6
printf '%s\n' not-a-call-7
grep -q not-a-call-8 /dev/null
cat <<DATA
not-a-call-9
DATA
command -v not-a-call-10 >/dev/null
EOF
cat >"$tree/tests/x.py" <<'EOF'
import subprocess
import absent_module
subprocess.check_output(["absent-py-file", "-v"] + [])
EOF
cat >"$tree/tests/vm/vm.sh" <<'EOF'
g() { python3 vmctl.py "$1"; }
EOF
cat >"$tree/tests/vm/run" <<'EOF'
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/vm/vm.sh"
gcheck() { check "$1" g "$2"; }
gexpect() { check "$1" g "$3"; }
guntil() { g "$2"; }
gwait() { check "$1" guntil "$2" "$3"; }
absent-vm-host
g 'absent-guest-g'
gcheck "what" "absent-guest-gcheck | absent-guest-pipe \$(absent-guest-subst)"
gexpect "what" "want" "$(prop X) && absent-guest-gexpect"
gwait "what" 10 'absent-guest-gwait'
chroot "$W/root" absent-guest-chroot
cat >"$W/root/etc/systemd/system/x.service" <<-EOT
	[Service]
	ExecStart=/bin/sh -c 'absent-guest-unit'
EOT
EOF
cat >"$tree/bench/b" <<'EOF'
for tool in absent-optional-1 absent-optional-2; do
	command -v "$tool" >/dev/null || exit 2
done
absent-optional-1
absent-bench
EOF

list "$tree" >"$T/mini.out" || true
for p in line pipe and or semi subst nested backtick if then elif else while do for case not function \
	exec time timeout env xargs nice runuser chroot-host check check-not wait-until expect-exit \
	bash-c bash-c2 trap eval find py-c py-heredoc heredoc-script py-file mk1 mk2 mk3 vm-host bench; do
	check "the finder missed absent-$p: $(cat "$T/mini.out")" grep -q "^FAIL: absent-$p " "$T/mini.out"
done
check "the finder missed the module absent_module" grep -q "^FAIL: python:absent_module " "$T/mini.out"
check "the finder missed that runs() runs its arguments" \
	grep -q "^FAIL: tests/x.sh:.*function runs runs its arguments" "$T/mini.out"
check_not "the finder took words for calls" grep -n "not-a-call" "$T/mini.out"
check_not "the finder took the guest's programs for the host's" grep -n "absent-guest" "$T/mini.out"
check_not "an optional program of a benchmark failed" grep -n "^FAIL: absent-optional" "$T/mini.out"
list --guest-programs "$tree" >"$T/guest.out"
for p in g gcheck pipe subst gexpect gwait chroot unit; do
	check "the guest's programs lack absent-guest-$p: $(cat "$T/guest.out")" \
		grep -qx "absent-guest-$p" "$T/guest.out"
done

# --- the real tree --------------------------------------------------------------------------
rc=0
list --verbose "$SRCDIR" >"$T/list.out" 2>&1 || rc=$?
cat "$T/list.out"
check_not "a program the build machine runs comes from no package of scripts/install-deps" \
	grep '^FAIL' "$T/list.out"
check "tests/install-list.py exited $rc" test "$rc" = 0
# Without cpio (tests/vm/image.sh) and u-boot-tools (mkimage, mkenvimage) the check must fail.
list --without=cpio,u-boot-tools "$SRCDIR" >"$T/without.out" || true
for p in cpio mkimage mkenvimage; do
	check "the check passed without the package of $p: $(cat "$T/without.out")" \
		grep -q "^FAIL: $p (tests/vm/image.sh:[0-9]*) comes from package" "$T/without.out"
done
finish
