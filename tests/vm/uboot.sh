# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests/vm/run: the U-Boot flavour of the test gateway (U-Boot's environment in a
# file, boot.scr): steps 7 and 8 of the scenario.

BOOT_MIB=16 KERNEL_MIB=40 BOOTED_MARK=bootloader

# --- 7. steps 1 to 3 with U-Boot ----------------------------------------------------------------
step "7: U-Boot: first boot from A, version 2 installed by bob, reboot, confirmed in B"
stage_t=$SECONDS
configure_root uboot no auto
build_version 1 >/dev/null
build_version 2 >/dev/null
make_disk uboot "$W/disk-uboot.img"
timed "U-Boot images"
rm -rf "$W/repo/stable"
publish 1
UBOOT_ROM=/usr/lib/u-boot/qemu-x86/u-boot.rom
vm_start "$W/disk-uboot.img" "$UBOOT_ROM"
from=1
vm_wait_up 300
gexpect "booted slot" 's "A"' "$(prop BootedSlot)"
gexpect "installed version from the factory manifest" "u 1" "$(prop InstalledVersion)"
gexpect "/ is the verity device" "/dev/mapper/root" 'findmnt -no SOURCE /'
gexpect "fw_printenv reads U-Boot's file" "BOOT_ORDER=A B" 'fw_printenv BOOT_ORDER'
gexpect "the factory slot B is out of service" "BOOT_A_OK=1 BOOT_B_OK=0" \
	'fw_printenv BOOT_A_OK BOOT_B_OK | paste -sd " "'
gwait "mark-good reset slot A's counter" 60 '[ "$(fw_printenv -n BOOT_A_LEFT)" = 1 ]'
publish 2
gexpect "Check finds version 2" "bu true 2" "busctl call $BUS_ARGS Check"
old=$(boot_id) from=$(serial_lines)
gcheck "bob installs it" \
	"runuser -u bob -- swupdatectl install >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc = 0 ] && grep -q 'Finished: success' /tmp/out"
vm_wait_boot "$old" B
check "U-Boot booted B after the reboot through logind" test "$(booted_slots "$from")" = B
gexpect "version 2's os-release" "SWUPDATED_VM_VERSION=2" 'grep SWUPDATED_VM_VERSION /etc/os-release'
gwait "swupdated-mark-good.service confirmed it" 60 'systemctl is-active swupdated-mark-good.service'
gexpect "installed version 2" "u 2" "$(prop InstalledVersion)"
gexpect "nothing pending" 's ""' "$(prop PendingSlot)"
gexpect "U-Boot environment" "BOOT_ORDER=B A BOOT_B_OK=1 BOOT_B_LEFT=1" \
	'fw_printenv BOOT_ORDER BOOT_B_OK BOOT_B_LEFT | paste -sd " "'
gcheck "history holds the install and the confirmation" \
	'swupdatectl history | grep -E "mark-good +1 -> 2 +success" && swupdatectl history | grep -E "install +1 -> 2 +success"'
vm_stop

# --- 8. a root rotated by a new image ----------------------------------------------------------
step "8: U-Boot: version 10's image carries a new factory root; version 11, signed under it, installs there and never on the old image"
stage_t=$SECONDS
new_root
install -m 0644 "$W/keys/root2.pb" "$W/root/usr/lib/swupdated/root.pb"
build_version 10 >/dev/null # a release like any other: signed by the targets key devices trust
SIGN_KEY=$W/keys/targets2 build_version 11 >/dev/null # signed under the new root only
install -m 0644 "$W/keys/root.pb" "$W/root/usr/lib/swupdated/root.pb"
timed "images of versions 10 and 11"
publish 10
vm_start "$W/disk-uboot.img" "$UBOOT_ROM"
vm_wait_up 300
gexpect "slot B runs version 2" "SWUPDATED_VM_VERSION=2" 'grep SWUPDATED_VM_VERSION /etc/os-release'
old=$(boot_id)
gcheck "version 10 installs under the factory root" \
	"swupdatectl install >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc = 0 ] && grep -q 'Finished: success' /tmp/out"
vm_wait_boot "$old" A
gexpect "version 10's os-release" "SWUPDATED_VM_VERSION=10" 'grep SWUPDATED_VM_VERSION /etc/os-release'
gwait "version 10 confirmed in slot A" 60 "[ \"\$($(prop InstalledVersion))\" = 'u 10' ]"
publish 11
gexpect "under version 10's own root, version 11 verifies" "bu true 11" "busctl call $BUS_ARGS Check"
# The bootloader falls back to the old image (told to here, as after failed boots of A): its own
# factory root is the anchor there, and it never signed the new keys. (fw_setenv takes NAME VALUE
# pairs: the order is one quoted value.)
old=$(boot_id)
g 'fw_setenv BOOT_ORDER "B A" && systemctl reboot' 10 >/dev/null 2>&1 || true
vm_wait_boot "$old" B
gexpect "back on version 2's image" "SWUPDATED_VM_VERSION=2" 'grep SWUPDATED_VM_VERSION /etc/os-release'
gcheck "the old image refuses version 11: its root never signed the new keys" \
	"swupdatectl check >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc != 0 ] && grep -q '0 valid signatures by trusted targets keys' /tmp/out"
old=$(boot_id)
g 'fw_setenv BOOT_ORDER "A B" && systemctl reboot' 10 >/dev/null 2>&1 || true
vm_wait_boot "$old" A
old=$(boot_id)
gcheck "on version 10's image again, version 11 installs" \
	"swupdatectl install >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc = 0 ] && grep -q 'Finished: success' /tmp/out"
vm_wait_boot "$old" B
gexpect "version 11's os-release" "SWUPDATED_VM_VERSION=11" 'grep SWUPDATED_VM_VERSION /etc/os-release'
gwait "version 11 confirmed in slot B" 60 "[ \"\$($(prop InstalledVersion))\" = 'u 11' ]"
vm_stop
