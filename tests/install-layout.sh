#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make install DESTDIR=...` puts exactly the expected files where the configured directories
# say (a missing or stray file fails), the installed units load in systemd with the generator's
# drop-in, and `make uninstall` leaves no file behind.
. "${SRCDIR:-.}/tests/lib.sh"
: "${BUILDDIR:?}"
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }

dest=$T/root
# The directories as configured, from the Makefile itself.
dirs=$(make -s -C "$BUILDDIR" --no-print-directory print-install-dirs)
eval "$dirs"
make -s -C "$BUILDDIR" --no-print-directory install DESTDIR="$dest" >"$T/install.log" 2>&1 ||
	fail "make install failed: $(tail -n 20 "$T/install.log")"

cat >"$T/expected.in" <<LIST
$bindir/swu
$bindir/swupdatectl
$sbindir/swupdated
$systemdsystemgeneratordir/swupdated-generator
$systemdsystemunitdir/swupdated.service
$systemdsystemunitdir/swupdated-mark-good.service
$systemdsystemunitdir/swupdated-poll.service
$systemdsystemunitdir/swupdated-poll.timer
$tmpfilesdir/swupdated.conf
$dbuspolicydir/io.swupdated.Updater1.conf
$dbussystemservicedir/io.swupdated.Updater1.service
$dbusinterfacedir/io.swupdated.Updater1.xml
$mandir/man1/swu.1
$mandir/man1/swupdatectl.1
$mandir/man5/swupdated.conf.5
$mandir/man8/swupdated.8
$mandir/man8/swupdated-generator.8
LIST
sed 's|//*|/|g' "$T/expected.in" | sort >"$T/expected"
(cd "$dest" && find . -type f -o -type l) | sed 's|^\.||' | sort >"$T/installed"
checks=$((checks + 1))
diff -u "$T/expected" "$T/installed" >"$T/diff" || fail "installed files differ from the list: $(cat "$T/diff")"

# Activation: the bus file names the daemon and the systemd unit, with the configured paths.
svc=$dest$dbussystemservicedir/io.swupdated.Updater1.service
checks=$((checks + 1))
grep -qx "Exec=$sbindir/swupdated --config $sysconfdir/swupdated.conf" "$svc" &&
	grep -qx 'SystemdService=swupdated.service' "$svc" && grep -qx 'Name=io.swupdated.Updater1' "$svc" ||
	fail "the activation file is wrong: $(cat "$svc")"

# The installed units, with the generator's drop-in, load without a complaint (ExecStart= pointed
# at the installed programs in DESTDIR, which is all systemd-analyze verify needs).
units=$T/units
mkdir -p "$units"
for u in swupdated.service swupdated-mark-good.service swupdated-poll.service swupdated-poll.timer; do
	sed -e "s|^ExecStart=$sbindir|ExecStart=$dest$sbindir|" -e "s|^ExecStart=$bindir|ExecStart=$dest$bindir|" \
		"$dest$systemdsystemunitdir/$u" >"$units/$u"
done
expect_exit 0 "$dest$systemdsystemgeneratordir/swupdated-generator" --config "$SRCDIR/conf/swupdated.conf" "$units" "$units" "$units"
checks=$((checks + 1))
[ -f "$units/swupdated-poll.timer.d/50-swupdated-conf.conf" ] || fail "the generator wrote no timer drop-in"
SYSTEMD_UNIT_PATH=$units: systemd-analyze verify --man=no "$units"/*.service "$units"/*.timer >"$T/verify" 2>&1 ||
	fail "systemd-analyze verify failed: $(cat "$T/verify")"
checks=$((checks + 1))
[ ! -s "$T/verify" ] || fail "systemd-analyze verify complains: $(cat "$T/verify")"

make -s -C "$BUILDDIR" --no-print-directory uninstall DESTDIR="$dest" >"$T/uninstall.log" 2>&1 ||
	fail "make uninstall failed: $(tail -n 20 "$T/uninstall.log")"
left=$(cd "$dest" && find . -type f -o -type l)
expect_eq "files left after make uninstall" "$left" ""
finish
