#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The service's sandbox: `systemd-analyze security --offline=true` rates it at most 4.0; the
# units are started by the bus and the poll timer; the generator writes the timer's schedule.
. "${SRCDIR:-.}/tests/lib.sh"
: "${BUILDDIR:?}"
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }

unit="$BUILDDIR/systemd/swupdated.service"
expect_exit 0 systemd-analyze security --offline=true --no-pager "$unit"
level=$(sed -n 's/.*Overall exposure level for swupdated.service: \([0-9.]*\).*/\1/p' "$T/out")
echo "exposure level: $level"
check "exposure level '$level' is above 4.0" awk -v l="$level" 'BEGIN { exit !(l != "" && l <= 4.0) }'
for key in Type=notify WatchdogSec= Restart=on-failure; do
	check "the unit lacks $key" grep -q "^$key" "$unit"
done
check "swupdated-mark-good.service does not run swupdatectl mark-good" \
	grep -q "ExecStart=.*/swupdatectl mark-good" "$BUILDDIR/systemd/swupdated-mark-good.service"

# Activation: the service is started by the bus (its alias), never pulled in at boot by the
# unit itself, and never waits for the network (a bus call would wait with it).
check "no Alias=dbus-io.swupdated.Updater1.service" grep -qx 'Alias=dbus-io.swupdated.Updater1.service' "$unit"
check_not "the unit is wanted at boot or waits for the network" \
	grep '^WantedBy=\|network-online' <(grep -v '^#' "$unit")
check_not "swupdated-mark-good.service depends on swupdated.service, whose idle exit would stop it" \
	grep 'swupdated.service' <(grep -v '^#' "$BUILDDIR/systemd/swupdated-mark-good.service")
# The poll timer starts the oneshot poll service (never swupdated.service), in timers.target.
timer=$SRCDIR/systemd/swupdated-poll.timer
check "the shipped timer's OnBootSec= is not the generator's (2min)" grep -qx 'OnBootSec=2min' "$timer"
not_timer="swupdated-poll.timer is not an OnUnitActiveSec= timer of swupdated-poll.service in timers.target"
check "$not_timer (WantedBy=)" grep -qx 'WantedBy=timers.target' "$timer"
check "$not_timer (OnUnitActiveSec=)" grep -q '^OnUnitActiveSec=' "$timer"
check "$not_timer (RandomizedDelaySec=)" grep -q '^RandomizedDelaySec=' "$timer"
check_not "$not_timer (Unit=)" grep '^Unit=' "$timer"
check "swupdated-poll.service is not a oneshot" grep -qx 'Type=oneshot' "$BUILDDIR/systemd/swupdated-poll.service"
check "swupdated-poll.service does not run swupdatectl poll" \
	grep -q '^ExecStart=.*/swupdatectl poll$' "$BUILDDIR/systemd/swupdated-poll.service"

# The generator: the timer's schedule from the configuration file; IdleExitSec=0 pulls the
# daemon in at boot instead; nothing for a missing file; exit 1 and nothing for a broken one.
gen() { # gen CONFIG-TEXT: runs the generator on it into a fresh $T/gen
	rm -rf "$T/gen"
	mkdir -p "$T/gen"
	printf '%b[Slot.rootfs.A]\nDevice=/dev/vda2\n[Slot.rootfs.B]\nDevice=/dev/vda3\n' "$1" >"$T/gen.conf"
	"$SWUPDATED_GENERATOR" --config "$T/gen.conf" "$T/gen" "$T/gen" "$T/gen" >"$T/out" 2>"$T/err"
}
gen '[Update]\nCompatible=x\nPollIntervalSec=1200\nPollJitterSec=60\n'
# (An empty OnUnitActiveSec= resets every trigger of the timer, OnBootSec= too: without it
# again, a timer whose service never ran would never elapse.)
dropin=$T/gen/swupdated-poll.timer.d/50-swupdated-conf.conf
check "generator drop-in: $(cat "$dropin" 2>&1)" test "$(grep -v '^#' "$dropin" 2>/dev/null | tr '\n' ' ')" = \
	"[Timer] OnUnitActiveSec= OnBootSec=2min OnUnitActiveSec=1200s RandomizedDelaySec=60s "
gen '[Update]\nCompatible=x\nIdleExitSec=0\n'
check "IdleExitSec=0: swupdated.service is not pulled in by multi-user.target: $(find "$T/gen")" \
	test -L "$T/gen/multi-user.target.wants/swupdated.service"
check "IdleExitSec=0: the poll timer still gets a drop-in: $(find "$T/gen")" test ! -e "$T/gen/swupdated-poll.timer.d"
check "no bootloader needs efivarfs: $(find "$T/gen")" test ! -e "$T/gen/swupdated.service.d"
# Bootloader=systemd-boot: efivarfs opened for swupdated.service, with the capability that lifts
# its immutable flag; the shipped unit has neither.
gen '[Update]\nCompatible=x\n[Boot]\nBootloader=systemd-boot\nEfiVariableDirectory=/run/efivars\n[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.B]\nBootEntry=yes\n'
dropin=$T/gen/swupdated.service.d/50-swupdated-efivars.conf
check "systemd-boot drop-in: $(cat "$dropin" 2>&1) $(cat "$T/err")" \
	test "$(grep -v '^#' "$dropin" 2>/dev/null | tr '\n' ' ')" = \
	"[Service] ReadWritePaths=-/run/efivars CapabilityBoundingSet=CAP_LINUX_IMMUTABLE "
check_not "the shipped unit opens efivarfs or grants CAP_LINUX_IMMUTABLE" \
	grep 'efivars\|CAP_LINUX_IMMUTABLE' <(grep -v '^#' "$unit")
# A directory that a unit file cannot name (a specifier, whitespace, a quote) is said and gets
# no drop-in: the service keeps efivarfs read-only, and the generator fails.
rc=0
gen '[Update]\nCompatible=x\n[Boot]\nBootloader=systemd-boot\nEfiVariableDirectory=/run/efi%vars\n[Slot.uki.A]\nBootEntry=yes\n[Slot.uki.B]\nBootEntry=yes\n' || rc=$?
expect_eq "generator exit status on an EfiVariableDirectory= a unit cannot name" "$rc" 1
check "no efivarfs drop-in for /run/efi%vars: $(find "$T/gen")" test ! -e "$dropin"
expect_stderr "EfiVariableDirectory=/run/efi%vars cannot be named in a unit file"
# Bootloader=uboot: the devices and files fw_env.config names are opened for swupdated.service
# (an MTD character device is denied by the shipped DevicePolicy=closed); comments and a name that
# cannot go into a unit file are left out, the latter said.
printf '# SPI NOR, redundant\n/dev/mtd1 0x0 0x10000 0x10000\n\t/dev/mtd2\t0x0 0x10000 0x10000\n/uboot/uboot.env 0x0 0x4000\n/dev/odd%%name 0 1\n' \
	>"$T/fw_env.config"
gen "[Update]\nCompatible=x\n[Boot]\nBootloader=uboot\nFwEnvConfig=$T/fw_env.config\n"
dropin=$T/gen/swupdated.service.d/50-swupdated-fw-env.conf
check "U-Boot drop-in: $(cat "$dropin" 2>&1) $(cat "$T/err")" \
	test "$(grep -v '^#' "$dropin" 2>/dev/null | tr '\n' ' ')" = \
	"[Service] DeviceAllow=/dev/mtd1 rw DeviceAllow=/dev/mtd2 rw ReadWritePaths=-/uboot/uboot.env "
expect_stderr "'/dev/odd%name' in $T/fw_env.config cannot be named in a unit file"
gen "[Update]\nCompatible=x\n[Boot]\nBootloader=uboot\nFwEnvConfig=$T/no-such.config\n"
check "a missing fw_env.config gets a drop-in: $(find "$T/gen")" test ! -e "$T/gen/swupdated.service.d"
expect_exit 0 "$SWUPDATED_GENERATOR" --config "$T/missing.conf" "$T/gen2"
expect_eq "files written for a missing configuration" "$(find "$T/gen2" 2>/dev/null | wc -l)" 0
rc=0
gen '[Update]\nCompatible=x\nPollIntervalSec=soon\n' || rc=$?
expect_eq "generator exit status on a broken configuration" "$rc" 1
expect_eq "files written for a broken configuration" "$(find "$T/gen" -type f | wc -l)" 0
expect_stderr "keeps its shipped schedule"
# The shipped example configuration parses.
expect_exit 0 "$BUILDDIR/daemon/swupdated" --config "$SRCDIR/conf/swupdated.conf" status --json
expect_stdout '"compatible": "acme-gw-v2"'
finish
