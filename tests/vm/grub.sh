# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests/vm/run: the GRUB flavour of the test gateway (BIOS, GRUB's environment, a
# kernel partition per slot): steps 1 to 6 of the scenario.

BOOT_MIB=16 KERNEL_MIB=40 BOOTED_MARK=bootloader VM_DISK=$W/disk.img VM_FW=

# Versions: 1 is the factory image (AutoInstall=no, RebootPolicy=auto: an operator installs,
# swupdated reboots). From 2 on a release ships AutoInstall=yes with RebootPolicy=never: the
# gateway installs by itself and reboots in its maintenance window (here: when the test says).
# 3 fails its health check; 4 is tampered with on the disk after its install.
configure_root grub no auto 30s
build_version 1 >/dev/null
configure_root grub yes never
build_version 2 >/dev/null
build_version 3 "version 3 is broken" >/dev/null
for n in 4 5 6 7 8 9; do build_version $n >/dev/null; done
make_disk grub "$W/disk.img"
timed "GRUB images: versions 1-9 and the factory disk"
rm -rf "$W/repo/stable"
publish 1

# --- 1. first boot --------------------------------------------------------------------------
step "1: first boot from A (GRUB)"
vm_start "$W/disk.img"
vm_wait_up 300
gexpect "booted slot" 's "A"' "$(prop BootedSlot)"
gexpect "installed version from the factory manifest" "u 1" "$(prop InstalledVersion)"
gexpect "/ is the verity device" "/dev/mapper/root" 'findmnt -no SOURCE /'
gcheck "root mapped by dm-verity, restarting on corruption" \
	'dmsetup table root | grep -E "^0 [0-9]+ verity .* restart_on_corruption"'
gcheck "the verity data device is rootfs-A" \
	'[ "$(basename "$(ls /sys/block/dm-0/slaves)")" = "$(basename "$(readlink -f /dev/disk/by-partlabel/rootfs-A)")" ]'
# Bus activation: swupdated-mark-good.service ran `swupdatectl mark-good`, which started it.
gcheck "mark-good confirmed the booted slot at boot" \
	'systemctl is-active swupdated-mark-good.service && journalctl -b -u swupdated --grep "slot A marked good"'
# The poll timer: its first run (30 s after boot here) runs swupdated-poll.service, which asks
# swupdated on the bus, running or not: the mark-good instance may still be up then.
gwait "swupdated-poll.timer ran swupdated-poll.service" 180 \
	'[ "$(systemctl show -p LastTriggerUSecMonotonic --value swupdated-poll.timer)" != 0 ] &&
	 [ "$(systemctl show -p ExecMainExitTimestampMonotonic --value swupdated-poll.service)" != 0 ] &&
	 [ "$(systemctl show -p Result --value swupdated-poll.service)" = success ]'
check "the poll reached nginx through guestfwd" test "$(guest_requests 'GET /stable/metadata.pb')" -ge 1
# The timer's next run is an hour away: from here on only this test starts swupdated.
service_inactive() { echo "[ \"\$(systemctl show -p ActiveState --value $1)\" = inactive ]"; }
gwait "swupdated exits when idle" 60 "$(service_inactive swupdated.service)"
gcheck "it was started by bus activation and exited by itself" \
	'journalctl -b -u swupdated -o cat | grep -q "^Started swupdated.service" &&
	 [ "$(systemctl show -p Result --value swupdated.service)" = success ]'
# A poll while swupdated is not running starts it through the bus: one more "Started" line (it
# signalled READY), and the poll service succeeded in this run.
started() { echo "journalctl -b -u swupdated.service -o cat | grep -c '^Started swupdated.service'"; }
starts=$(g "$(started)" || true)
polled=$(g 'systemctl show -p ExecMainExitTimestampMonotonic --value swupdated-poll.service' || true)
requests=$(guest_requests 'GET /stable/metadata.pb')
gcheck "swupdated-poll.service started with swupdated not running" \
	"$(service_inactive swupdated.service) && systemctl start swupdated-poll.service"
gwait "the poll started swupdated (READY) through the bus" 60 "[ \"\$($(started))\" -gt ${starts:-0} ]"
gcheck "and the poll service finished successfully" \
	"[ \"\$(systemctl show -p ExecMainExitTimestampMonotonic --value swupdated-poll.service)\" != '$polled' ] &&
	 [ \"\$(systemctl show -p Result --value swupdated-poll.service)\" = success ] &&
	 [ \"\$(systemctl show -p ExecMainStatus --value swupdated-poll.service)\" = 0 ]"
check "that poll reached nginx" test "$(guest_requests 'GET /stable/metadata.pb')" -gt "$requests"
gwait "and swupdated exits when idle again" 60 "$(service_inactive swupdated.service)"
gexpect "properties are read after the exit (bus activation)" 'u 1' "$(prop InstalledVersion)"
score=$(sed -n 's/^# systemd-analyze security: exposure \([0-9.]*\).*/\1/p' "$SRCDIR/systemd/swupdated.service.in")
got=$(g 'systemd-analyze security swupdated.service --no-pager | sed -n "s/.*Overall exposure level for swupdated.service: \([0-9.]*\).*/\1/p"')
echo "systemd-analyze security: $got (the unit documents $score)"
check "systemd-analyze security at or below the documented $score (got $got)" \
	python3 -c "import sys; sys.exit(0 if float('$got') <= float('$score') else 1)"
gexpect "alice reads properties" 'u 1' "runuser -u alice -- $(prop InstalledVersion)"
gcheck "alice gets AccessDenied on Install" \
	"! runuser -u alice -- busctl call $BUS_ARGS Install sa{sv} '' 0 2>/tmp/err && grep -q 'Access denied' /tmp/err"
gcheck "so does swupdatectl install" \
	"! runuser -u alice -- swupdatectl install >/tmp/err 2>&1 && grep -q \"members of the group 'swupdate'\" /tmp/err"

# --- 2. an operator installs version 2; swupdated reboots through logind ------------------------
step "2: version 2 published, installed by a member of swupdate, reboot through logind"
publish 2
gexpect "Check finds version 2" "bu true 2" "busctl call $BUS_ARGS Check"
old=$(boot_id) from=$(serial_lines)
gcheck "bob (group swupdate) installs it" \
	"runuser -u bob -- swupdatectl install >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc = 0 ] && grep -q 'Finished: success' /tmp/out"
check "the boot image came from nginx" test "$(guest_requests "GET /stable/blobs/$(blob boot-2.img)")" -ge 1
check "the root filesystem came from nginx" test "$(guest_requests "GET /stable/blobs/$(blob rootfs-2.img)")" -ge 1

# --- 3. the new slot boots and is confirmed --------------------------------------------------
step "3: slot B boots version 2 and is confirmed"
vm_wait_boot "$old" B
check "RebootPolicy=auto rebooted into B (logind)" test "$(booted_slots "$from")" = B
check "the reboot was asked of logind" \
	grep -aq "systemd-logind\[[0-9]*\]: System is rebooting" <(tail -n +"$from" "$W/serial.log")
gexpect "version 2's os-release" "SWUPDATED_VM_VERSION=2" 'grep SWUPDATED_VM_VERSION /etc/os-release'
gexpect "version 2's root hash on the command line" "$(cat "$W/rootfs-2.roothash")" \
	'sed -n "s/.*swupdated.roothash=\([0-9a-f]*\).*/\1/p" /proc/cmdline'
gwait "swupdated-mark-good.service confirmed it after boot-complete.target" 60 \
	'systemctl is-active swupdated-mark-good.service && systemctl is-active boot-complete.target'
gexpect "installed version 2" "u 2" "$(prop InstalledVersion)"
gexpect "nothing pending" 's ""' "$(prop PendingSlot)"
gcheck "history holds the install and the confirmation" \
	'swupdatectl history | grep -E "mark-good +1 -> 2 +success" && swupdatectl history | grep -E "install +1 -> 2 +success"'
genv_is() { # genv_is WHAT "A_OK=.. A_TRY=.. B_OK=.. B_TRY=.. ORDER=..": the GRUB environment
	gexpect "$1" "$2" 'grub-editenv /boot/grub/grubenv list | sort | paste -sd " "'
}
genv_is "GRUB environment" "A_OK=1 A_TRY=0 B_OK=1 B_TRY=0 ORDER=B A"


# --- 4. a release that fails its health check ---------------------------------------------------
step "4: version 3 fails its health check: fallback to B, rollback recorded, not installed again; a hang"
install_by_poll 3
gexpect "pending in slot A" 's "A"' "$(prop PendingSlot)"
old=$(boot_id) from=$(serial_lines)
g 'systemctl reboot' 10 >/dev/null || true
vm_wait_boot "$old" B
check "GRUB tried A once, then fell back to B" test "$(booted_slots "$from")" = AB
check "version 3's health check failed and rebooted" \
	grep -aq "health check failed: version 3 is broken" <(tail -n +"$from" "$W/serial.log")
gexpect "version 2 stays installed" "u 2" "$(prop InstalledVersion)"
gexpect "nothing pending" 's ""' "$(prop PendingSlot)"
gcheck "the rollback is in the history" 'swupdatectl history | grep -E "rollback +2 -> 3"'
genv_is "slot A marked bad" "A_OK=0 A_TRY=0 B_OK=1 B_TRY=0 ORDER=B A"
requests=$(guest_requests "GET /stable/blobs/$(blob rootfs-3.img)")
gcheck "a poll sees version 3 again" "swupdatectl poll | grep -q 3 || true; [ \"\$($(prop AvailableVersion))\" = 'u 3' ]"
sleep 5
gcheck "and does not install it by itself" \
	"case \"\$($(prop State))\" in 's \"inactive\"' | 's \"finished\"') ;; *) exit 1 ;; esac"
check "no byte of version 3 was fetched again" \
	test "$(guest_requests "GET /stable/blobs/$(blob rootfs-3.img)")" = "$requests"
gcheck "the skip is said" "journalctl -b -u swupdated -o cat | grep -i 'rolled back\|skip'"

# A hang: the kernel stops (a panic that does not reboot); systemd no longer pets QEMU's i6300esb
# watchdog (RuntimeWatchdogSec=30s), which resets the machine.
gexpect "systemd armed the i6300esb watchdog" "i6300ESB timer active 30" \
	'echo $(cat /sys/class/watchdog/watchdog0/{identity,state,timeout})'
old=$(boot_id) from=$(serial_lines)
g 'echo 0 >/proc/sys/kernel/panic; echo c >/proc/sysrq-trigger' 5 >/dev/null 2>&1 || true
t_hang=$SECONDS
vm_wait_boot "$old" B
echo "the hung kernel was reset and up again after $((SECONDS - t_hang)) s"
check "the kernel hung (panic without reboot)" grep -aq "Kernel panic" <(tail -n +"$from" "$W/serial.log")
check "the watchdog reset the machine into GRUB" test "$(booted_slots "$from")" = B

# --- 5. a slot tampered with on the disk --------------------------------------------------------
step "5: version 4's slot is tampered with before the reboot: dm-verity refuses it, fallback"
install_by_poll 4
gexpect "pending in slot A" 's "A"' "$(prop PendingSlot)"
tamper_slot_a "$W/disk.img" 4
old=$(boot_id) from=$(serial_lines)
g 'systemctl reboot' 10 >/dev/null || true
vm_wait_boot "$old" B
check "GRUB tried A, then fell back to B" test "$(booted_slots "$from")" = AB
check "dm-verity found the corrupted block and restarted the machine" \
	grep -aq "device-mapper: verity.*data block $blk is corrupted" <(tail -n +"$from" "$W/serial.log")
check "the tampered slot never reached systemd" \
	test "$(tail -n +"$from" "$W/serial.log" | sed -n '/booting slot A/,/booting slot B/p' | grep -ac 'Welcome to')" = 0
gexpect "version 2 stays installed" "u 2" "$(prop InstalledVersion)"
gcheck "the rollback is in the history" "swupdatectl history | grep -E 'rollback +2 -> 4'"
genv_is "slot A marked bad" "A_OK=0 A_TRY=0 B_OK=1 B_TRY=0 ORDER=B A"

# --- 6. power cuts ------------------------------------------------------------------------------

step "6: power cuts during a download, a slot write, the bootloader environment write, a first boot"
booted=B installed=2
nginx_rate 4m
publish 5
gcheck "the poll starts installing version 5" "swupdatectl poll"
wait_bytes 25
vm_kill
echo "cut 1: in the download of version 5"
nginx_rate 0
after_cut "cut in a download"
gcheck "the interrupted install is in the history" \
	"swupdatectl history | grep -E 'install .* failed .*Interrupted: swupdated stopped during the install'"
genv_is "the half-written slot A is not bootable" "A_OK=0 A_TRY=0 B_OK=1 B_TRY=0 ORDER=B A"
fresh_install 5

publish 6
disk_write_limit $((3 * 1048576))
gcheck "the poll starts installing version 6" "swupdatectl poll"
wait_bytes 25
vm_kill
echo "cut 2: in the slot write of version 6 (disk writes throttled to 3 MiB/s)"
after_cut "cut in a slot write"
genv_is "the half-written slot A is not bootable" "A_OK=0 A_TRY=0 B_OK=1 B_TRY=0 ORDER=B A"
fresh_install 6

# Version 7 by hand, Start/Verify/Apply, so that the disk can be slowed down before Apply: each
# write then takes about a second, and QEMU is killed while grub-editenv runs.
publish 7
gcheck "Reset after the last install" "busctl call $BUS_ARGS Reset"
gcheck "Start transfers version 7" "busctl call $BUS_ARGS Start sa{sv} '' 0"
gwait "version 7 transferred" 300 "[ \"\$($(prop State))\" = 's \"transferred\"' ]"
gcheck "Verify" "busctl call $BUS_ARGS Verify"
gwait "version 7 verified" 300 "[ \"\$($(prop State))\" = 's \"verified\"' ]"
disk_write_limit 2048
# Apply runs in the background; the guest watches for grub-editenv with shell builtins only
# (no fork per process), and the host kills QEMU as soon as it answers.
gcheck "Apply is called and grub-editenv runs" \
	"systemd-run --quiet busctl call $BUS_ARGS Apply
	 for i in \$(seq 2000); do
		for c in /proc/[0-9]*/comm; do read -r n <\"\$c\" 2>/dev/null && [ \"\$n\" = grub-editenv ] && exit 0; done
	 done; exit 1"
vm_kill
echo "cut 3: while grub-editenv wrote the GRUB environment"
# Either the switch reached the disk (slot A boots version 7 and is confirmed) or it did not
# (slot B boots, the pending install is dropped as interrupted); both are good slots.
vm_start "$W/disk.img"
vm_wait_up 400
booted=$(g "$(prop BootedSlot)" | sed 's/s "\(.\)"/\1/')
echo "after cut 3 the machine booted slot $booted"
if [ "$booted" = A ]; then
	gwait "version 7 confirmed in slot A" 60 "[ \"\$($(prop InstalledVersion))\" = 'u 7' ]"
	installed=7 next=8
else
	gexpect "version 2 still installed in B" "u 2" "$(prop InstalledVersion)"
	next=7
fi
gexpect "nothing pending" 's ""' "$(prop PendingSlot)"
fresh_install $next

old=$(boot_id) from=$(serial_lines)
g 'systemctl reboot' 10 >/dev/null || true
new=$(other "$booted")
kernel_started() { tail -n +"$from" "$W/serial.log" | grep -aq "Run /init as init process"; }
check "slot $new's kernel did not start within 400 s" wait_until 400 kernel_started
sleep 3
vm_kill
echo "cut 4: in the first boot of slot $new (version $next)"
check "the cut was in slot $new's first boot" test "$(booted_slots "$from")" = "$new"
from=$(serial_lines)
after_cut "cut in the first boot"
check "GRUB did not try slot $new again" test "$(booted_slots "$from")" = "$booted"
gcheck "the rollback of version $next is in the history" "swupdatectl history | grep -E 'rollback +$installed -> $next'"
next=$((next + 1))
fresh_install $next
old=$(boot_id)
g 'systemctl reboot' 10 >/dev/null || true
booted=$new
vm_wait_boot "$old" "$booted"
gwait "version $next confirmed in slot $booted" 60 "[ \"\$($(prop InstalledVersion))\" = 'u $next' ]"
gexpect "nothing pending" 's ""' "$(prop PendingSlot)"
vm_stop
check "the GRUB environment on the disk, read from the host, says slot $booted first" \
	grep -aq "ORDER=$booted" <(mtype -i "$W/disk.img@@$(($(part_start 2) * 1048576))" ::/grub/grubenv)
