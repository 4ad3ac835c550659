#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make install DESTDIR=...` puts exactly the expected files where the configured directories
# say (a missing or stray file fails), the installed units load in systemd with the generator's
# drop-in, and `make uninstall` leaves no file behind.
. "${SRCDIR:-.}/tests/lib.sh"
: "${BUILDDIR:?}"

dest=$T/root
# The directories as configured, from the Makefile itself.
dirs=$(make -s -C "$BUILDDIR" --no-print-directory print-install-dirs)
eval "$dirs"
make -s -C "$BUILDDIR" --no-print-directory install DESTDIR="$dest" >"$T/install.log" 2>&1 ||
	fail "make install failed: $(tail -n 20 "$T/install.log")"

echo "$bindir/swu" >"$T/expected.in"
echo "$mandir/man1/swu.1" >>"$T/expected.in"
# The task guides and the catalogue of messages (not the lab: it is for a source tree).
for f in "$SRCDIR"/docs/guides/*.md; do echo "$docdir/guides/${f##*/}"; done >>"$T/expected.in"
if [ "$daemon" = yes ]; then # configured with the daemon (the default)
	cat >>"$T/expected.in" <<LIST
$bindir/swupdatectl
$sbindir/swupdated
$systemdsystemgeneratordir/swupdated-generator
$systemdsystemunitdir/swupdated.service
$systemdsystemunitdir/swupdated-mark-good.service
$systemdsystemunitdir/swupdated-poll.service
$systemdsystemunitdir/swupdated-poll.timer
$tmpfilesdir/swupdated.conf
$sysusersdir/swupdated.conf
$dbuspolicydir/io.swupdated.Updater1.conf
$dbussystemservicedir/io.swupdated.Updater1.service
$dbusinterfacedir/io.swupdated.Updater1.xml
$docdir/swupdated.conf
$mandir/man1/swupdatectl.1
$mandir/man5/swupdated.conf.5
$mandir/man8/swupdated.8
$mandir/man8/swupdated-generator.8
LIST
fi
sed 's|//*|/|g' "$T/expected.in" | sort >"$T/expected"
(cd "$dest" && find . -type f -o -type l) | sed 's|^\.||' | sort >"$T/installed"
check "installed files differ from the list" diff -u "$T/expected" "$T/installed"

if [ "$daemon" = yes ]; then
	# Activation: the bus file names the daemon and the systemd unit, with the configured paths.
	svc=$dest$dbussystemservicedir/io.swupdated.Updater1.service
	for line in "Exec=$sbindir/swupdated --config $sysconfdir/swupdated.conf" \
		'SystemdService=swupdated.service' 'Name=io.swupdated.Updater1'; do
		check "the activation file lacks '$line': $(cat "$svc")" grep -qx -- "$line" "$svc"
	done
	# sysusers creates the group the bus policy names.
	check "the sysusers snippet does not create the policy's group" \
		grep -qx 'g swupdate - -' "$dest$sysusersdir/swupdated.conf"
	check "the bus policy does not name the group the sysusers snippet creates" \
		grep -q 'group="swupdate"' "$dest$dbuspolicydir/io.swupdated.Updater1.conf"
	# Nothing in /etc: the product's own swupdated.conf is never installed over.
	check "make install wrote $sysconfdir/swupdated.conf" test ! -e "$dest$sysconfdir/swupdated.conf"

	# The installed units, with the generator's drop-in, load without a complaint (ExecStart=
	# pointed at the installed programs in DESTDIR, which is all systemd-analyze verify needs).
	units=$T/units
	mkdir -p "$units"
	for u in swupdated.service swupdated-mark-good.service swupdated-poll.service swupdated-poll.timer; do
		sed -e "s|^ExecStart=$sbindir|ExecStart=$dest$sbindir|" -e "s|^ExecStart=$bindir|ExecStart=$dest$bindir|" \
			"$dest$systemdsystemunitdir/$u" >"$units/$u"
	done
	# The generator runs on the build machine here: skipped when it is another architecture's.
	if "$dest$systemdsystemgeneratordir/swupdated-generator" --config "$SRCDIR/conf/swupdated.conf" "$units" "$units" "$units" 2>"$T/err"; then
		check "the generator wrote no timer drop-in" test -f "$units/swupdated-poll.timer.d/50-swupdated-conf.conf"
	elif [ -z "${CROSS:-}" ]; then
		fail "the generator failed: $(cat "$T/err")"
	fi
	command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (Debian: systemd)"
	SYSTEMD_UNIT_PATH=$units: systemd-analyze verify --man=no "$units"/*.service "$units"/*.timer >"$T/verify" 2>&1 ||
		fail "systemd-analyze verify failed: $(cat "$T/verify")"
	check "systemd-analyze verify complains: $(cat "$T/verify")" test ! -s "$T/verify"
fi

make -s -C "$BUILDDIR" --no-print-directory uninstall DESTDIR="$dest" >"$T/uninstall.log" 2>&1 ||
	fail "make uninstall failed: $(tail -n 20 "$T/uninstall.log")"
left=$(cd "$dest" && find . -type f -o -type l)
expect_eq "files left after make uninstall" "$left" ""
finish
