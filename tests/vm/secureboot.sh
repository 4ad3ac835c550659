# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests/vm/run: the Secure Boot flavour of the test gateway. OVMF with Secure Boot
# enforced, the product's keys enrolled by the factory's first boot, systemd-boot and a signed
# unified kernel image (UKI) per slot with systemd's boot counting, swupdated's
# Bootloader=systemd-boot. The scenario of docs/boot-integration.md's chain of trust: first boot,
# an install confirmed by systemd-bless-boot, a broken release, three kinds of tampering, power
# cuts, and a root rotated by a new image.

# The ESP holds systemd-boot and up to three UKIs (two slots and one being written); no kernel
# partitions.
BOOT_MIB=64 KERNEL_MIB=0 BOOTED_MARK=initramfs VM_DISK=$W/disk-sb.img VM_FW=secureboot
SB=secureboot
LOADER_GUID=4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
# efivar NAME [GUID]: a guest command printing a systemd-boot variable (UTF-16 text) as text
efivar() { echo "cat /sys/firmware/efi/efivars/$1-${2:-$LOADER_GUID} | tail -c +5 | tr -d '\\000'"; }
# uefi_byte NAME: a guest command printing the one-byte global variable NAME (SecureBoot, ...)
uefi_byte() { echo "cat /sys/firmware/efi/efivars/$1-8be4df61-93ca-11d2-aa0d-00e098032b8c | tail -c 1 | od -An -tu1 | tr -d ' '"; }
entries() { echo "ls /boot/EFI/Linux | paste -sd ' '"; }
esp() { echo "$W/disk-sb.img@@$(($(part_start 2) * 1048576))"; } # the ESP for mtools
# refusals: how often systemd-boot reported that the firmware refused to load an entry's image
# (OVMF's LoadImage answers an image that db does not allow with EFI_ACCESS_DENIED)
refusals() { grep -ac 'Error loading \\EFI\\Linux\\gateway-.*: Access Denied' "$W/serial.log" || true; }

step "9: Secure Boot: the factory's first boot enrolls the product's keys; slot A boots its signed UKI"
stage_t=$SECONDS
sb_keys
configure_root systemd-boot no auto
build_version 1 >/dev/null
configure_root systemd-boot yes never
build_version 2 >/dev/null
build_version 3 "version 3 is broken" >/dev/null
for n in 4 5 6; do build_version $n >/dev/null; done
make_disk systemd-boot "$W/disk-sb.img"
# The firmware's variable store as it leaves the factory: empty, in setup mode.
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/efivars.fd"
timed "Secure Boot images: keys, versions 1-6 (signed UKIs), the factory disk"
check "version 1's UKI verifies against the product's db certificate" \
	sbverify --cert "$W/sb/db.crt" "$W/uki-1.efi"
rm -rf "$W/repo/stable"
publish 1
from=$(serial_lines)
vm_start "$W/disk-sb.img" $SB
vm_wait_up 400
check "systemd-boot enrolled the keys from the ESP, then reset" \
	grep -aq "Enrolling secure boot keys from directory: \\\\loader\\\\keys\\\\auto" <(tail -n +"$from" "$W/serial.log")
gexpect "SecureBoot is on" 1 "$(uefi_byte SecureBoot)"
gexpect "the firmware left setup mode" 0 "$(uefi_byte SetupMode)"
gcheck "bootctl status: Secure Boot enabled, systemd-boot the boot loader" \
	'bootctl status --no-pager 2>/dev/null >/tmp/st; cat /tmp/st; grep -q "Secure Boot: enabled (user)" /tmp/st && grep -q "Product: systemd-boot 252" /tmp/st'
gexpect "systemd-boot booted slot A's entry" gateway-a.efi "$(efivar LoaderEntrySelected)"
gexpect "booted slot" 's "A"' "$(prop BootedSlot)"
gexpect "installed version from the factory manifest" "u 1" "$(prop InstalledVersion)"
gexpect "/ is the verity device" "/dev/mapper/root" 'findmnt -no SOURCE /'
gcheck "the verity data device is rootfs-A" \
	'[ "$(ls /sys/block/dm-0/slaves)" = "$(basename "$(readlink -f /dev/disk/by-partlabel/rootfs-A)")" ]'
gcheck "the UKI's signed command line holds version 1's root hash" \
	"grep -q 'swupdated.roothash=$(cat "$W/rootfs-1.roothash")' /proc/cmdline"
# The factory registers systemd-boot as the firmware's first boot option. When the firmware
# refuses an entry's image, systemd-boot 252 returns to the firmware, which starts its next
# option: systemd-boot again from the removable-media path, which then boots the other slot.
# The firmware's own options follow (its setup menu among them, which would wait for a key).
gcheck "the factory registers systemd-boot as first boot option, the removable-media path second" \
	"efibootmgr -q -c -d /dev/vda -p 1 -L gateway -l '\\EFI\\systemd\\systemd-bootx64.efi' &&
	 new=\$(efibootmgr | sed -n 's/^Boot\\([0-9A-F]*\\)\\* gateway\$/\\1/p') &&
	 misc=\$(efibootmgr | sed -n 's/^Boot\\([0-9A-F]*\\)\\* UEFI Misc Device\$/\\1/p') &&
	 [ -n \"\$new\" ] && [ -n \"\$misc\" ] && efibootmgr -q -o \$new,\$misc && efibootmgr"
# The enrolment keys and the order to enrol leave the ESP: the firmware keeps its keys.
gcheck "the factory removes the enrolment keys from the ESP" \
	"rm -r /boot/loader/keys && sed -i '/^secure-boot-enroll /d' /boot/loader/loader.conf && ! grep -q enroll /boot/loader/loader.conf"
gcheck "systemd-boot-update.service cannot replace the signed boot loader" \
	'[ "$(systemctl is-enabled systemd-boot-update.service)" = masked ]'

step "10: Secure Boot: version 2 installs into B, systemd-boot tries it once, bless-boot confirms it"
publish 2
old=$(boot_id) from=$(serial_lines)
gcheck "bob installs version 2" \
	"runuser -u bob -- swupdatectl install >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc = 0 ] && grep -q 'Finished: success' /tmp/out"
vm_wait_boot "$old" B
check "the reboot went to B" test "$(booted_slots "$from")" = B
gexpect "systemd-boot booted B's counted entry" "gateway-b+1.efi" "$(efivar LoaderEntrySelected)"
gexpect "Secure Boot stays on without the enrolment keys on the ESP" "1 0" \
	"echo \$($(uefi_byte SecureBoot)) \$($(uefi_byte SetupMode))"
gwait "systemd-bless-boot and mark-good confirmed it" 60 \
	'systemctl is-active systemd-bless-boot.service swupdated-mark-good.service boot-complete.target'
gexpect "B's entry lost its counter" "gateway-A.efi gateway-B.efi" "$(entries)"
gexpect "the default names B" "gateway-b[.+][e1-9]*" "$(efivar LoaderEntryDefault)"
gexpect "installed version 2" "u 2" "$(prop InstalledVersion)"
gexpect "nothing pending" 's ""' "$(prop PendingSlot)"
gcheck "history holds the install and the confirmation" \
	'swupdatectl history | grep -E "mark-good +1 -> 2 +success" && swupdatectl history | grep -E "install +1 -> 2 +success"'

step "11: Secure Boot: version 3 fails its health check: its tries run out, systemd-boot falls back to B"
install_by_poll 3
gexpect "pending in slot A" 's "A"' "$(prop PendingSlot)"
gexpect "A's entry has one try" "gateway-A+1.efi gateway-B.efi" "$(entries)"
old=$(boot_id) from=$(serial_lines)
g 'systemctl reboot' 10 >/dev/null || true
vm_wait_boot "$old" B
check "systemd-boot tried A once, then B" test "$(booted_slots "$from")" = AB
check "version 3's health check failed and rebooted" \
	grep -aq "health check failed: version 3 is broken" <(tail -n +"$from" "$W/serial.log")
gexpect "version 2 stays installed" "u 2" "$(prop InstalledVersion)"
gcheck "the rollback is in the history" 'swupdatectl history | grep -E "rollback +2 -> 3"'
gexpect "slot A's entry is gone" "gateway-B.efi" "$(entries)"
gcheck "a poll sees version 3 again and does not install it" \
	"swupdatectl poll >/dev/null 2>&1; [ \"\$($(prop AvailableVersion))\" = 'u 3' ] &&
	 case \"\$($(prop State))\" in 's \"inactive\"' | 's \"finished\"') ;; *) exit 1 ;; esac"

step "12: Secure Boot: tampering: a byte of the installed UKI's command line, an unsigned UKI, a byte of the root"
# (a) version 4 installs into A; with the machine off, one hex digit of the root hash in the UKI's
# signed command line is changed on the disk (a root filesystem of the attacker's choosing).
install_by_poll 4
gexpect "version 4's entry in A" "gateway-A+1.efi gateway-B.efi" "$(entries)"
vm_stop
mcopy -n -i "$(esp)" ::/EFI/Linux/gateway-A+1.efi "$W/tampered.efi"
check "the installed UKI is version 4's" cmp "$W/tampered.efi" "$W/uki-4.efi"
hash4=$(cat "$W/rootfs-4.roothash")
off=$(grep -abo "swupdated.roothash=$hash4" "$W/tampered.efi" | head -1 | cut -d: -f1)
check "version 4's root hash found in its UKI" test -n "$off"
off=$((off + ${#hash4} + 19 - 1)) # the hash's last digit
printf '%x' $(((0x$(dd if="$W/tampered.efi" bs=1 skip="$off" count=1 status=none) + 1) % 16)) |
	dd of="$W/tampered.efi" bs=1 seek="$off" conv=notrunc status=none
check "one byte differs" test "$(cmp -l "$W/tampered.efi" "$W/uki-4.efi" | wc -l)" = 1
mcopy -o -i "$(esp)" "$W/tampered.efi" ::/EFI/Linux/gateway-A+1.efi
refused=$(refusals) from=$(serial_lines)
vm_start "$W/disk-sb.img" $SB
vm_wait_boot "" B
check "the firmware refused the tampered image" test "$(refusals)" -gt "$refused"
check "no kernel of slot A started: only B's root was mapped" test "$(booted_slots "$from")" = B
gexpect "version 2 stays installed" "u 2" "$(prop InstalledVersion)"
gcheck "the rollback is in the history" "swupdatectl history | grep -E 'rollback +2 -> 4'"
gexpect "slot A's entry is gone" "gateway-B.efi" "$(entries)"
# (b) an UKI that no key of the product signed, with a higher version than the good one, named so
# that the default (slot B's pattern) picks it first.
vm_stop
build_uki 99 "$(cat "$W/rootfs-2.roothash")" 0 "$W/unsigned.efi"
mcopy -i "$(esp)" "$W/unsigned.efi" ::/EFI/Linux/gateway-B+1.efi
refused=$(refusals) from=$(serial_lines)
vm_start "$W/disk-sb.img" $SB
vm_wait_boot "" B
check "the firmware refused the unsigned image" test "$(refusals)" -gt "$refused"
gexpect "systemd-boot tried it once, then booted the good entry" "gateway-b.efi" "$(efivar LoaderEntrySelected)"
gexpect "the unsigned image has no tries left" "gateway-B+0-1.efi gateway-B.efi" "$(entries)"
gexpect "version 2 stays installed" "u 2" "$(prop InstalledVersion)"
gexpect "booted slot" 's "B"' "$(prop BootedSlot)"
# (b') a signed UKI of another release (version 4's, the firmware starts it) renamed into the good
# slot's entry: its root hash is not slot B's, so dm-verity refuses B's first block.
gcheck "the operator removes the unsigned image" 'rm /boot/EFI/Linux/gateway-B+0-1.efi'
vm_stop
mcopy -i "$(esp)" "$W/uki-4.efi" ::/EFI/Linux/gateway-B+1.efi
from=$(serial_lines)
vm_start "$W/disk-sb.img" $SB
vm_wait_boot "" B
check "version 4's UKI mapped slot B, then the good entry did" test "$(booted_slots "$from")" = BB
check "dm-verity refused slot B under version 4's root hash" \
	grep -aEq "device-mapper: verity.*is corrupted|does not verify against" <(tail -n +"$from" "$W/serial.log")
gexpect "the good entry booted" "gateway-b.efi" "$(efivar LoaderEntrySelected)"
gexpect "version 2 stays installed" "u 2" "$(prop InstalledVersion)"
gcheck "the operator removes it" 'rm /boot/EFI/Linux/gateway-B+0-1.efi'
# (c) version 4 again, and a byte of its root filesystem changed on the disk before the reboot.
gcheck "Reset after the rollback" "busctl call $BUS_ARGS Reset"
gcheck "version 4 installs again when asked" \
	"swupdatectl install >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc = 0 ] && grep -q 'Finished: success' /tmp/out"
tamper_slot_a "$W/disk-sb.img" 4
old=$(boot_id) from=$(serial_lines)
g 'systemctl reboot' 10 >/dev/null || true
vm_wait_boot "$old" B
check "A was tried, then B" test "$(booted_slots "$from")" = AB
check "dm-verity refused the block" \
	grep -aq "device-mapper: verity.*data block $blk is corrupted" <(tail -n +"$from" "$W/serial.log")
gexpect "version 2 stays installed" "u 2" "$(prop InstalledVersion)"
gexpect "slot A's entry is gone" "gateway-B.efi" "$(entries)"

step "13: Secure Boot: power cuts while the UKI is written to the ESP and in the new slot's first boot"
booted=B installed=2
publish 5
gcheck "Reset after the rollback" "busctl call $BUS_ARGS Reset"
# Disk writes throttled, so that the UKI's write, flush and read-back take several seconds: the
# staging file exists from its first byte until the rename that makes it slot A's entry.
disk_write_limit 1048576
gcheck "the poll starts installing version 5" "swupdatectl poll"
gwait "the install writes the UKI to the ESP" 300 '[ -s /boot/EFI/Linux/.gateway-A.efi.new ]'
vm_kill
echo "cut 1: in the write of version 5's UKI (disk writes throttled to 1 MiB/s)"
after_cut "cut in the UKI's write"
# The cut came before the rename that makes the UKI slot A's entry: no entry of A, whether or not
# the guest had written the staging file's directory entry back before the cut (a CI run cut it
# before that: the guest saw the file, the disk never had it).
gexpect "B's entry is the only one" "gateway-B.efi" "$(entries)"
gexpect "the default still names B" "gateway-b[.+][e1-9]*" "$(efivar LoaderEntryDefault)"
fresh_install 5
gexpect "the half-written UKI is gone, the new one in place" "gateway-A+1.efi gateway-B.efi" \
	"ls -a /boot/EFI/Linux | grep -v '^\\.*$' | paste -sd ' '"
old=$(boot_id) from=$(serial_lines)
g 'systemctl reboot' 10 >/dev/null || true
a_mapped() { [ "$(booted_slots "$from")" = A ]; }
check "slot A's initramfs did not map its root within 400 s" wait_until 400 a_mapped
vm_kill
echo "cut 2: in the first boot of slot A (version 5)"
check "the cut was in slot A's first boot" test "$(booted_slots "$from")" = A
from=$(serial_lines)
after_cut "cut in the first boot"
check "systemd-boot did not try A again" test "$(booted_slots "$from")" = B
gcheck "the rollback of version 5 is in the history" "swupdatectl history | grep -E 'rollback +2 -> 5'"
fresh_install 6
old=$(boot_id)
g 'systemctl reboot' 10 >/dev/null || true
vm_wait_boot "$old" A
gwait "version 6 confirmed in slot A" 60 "[ \"\$($(prop InstalledVersion))\" = 'u 6' ]"
gexpect "entries" "gateway-A.efi gateway-B.efi" "$(entries)"

step "14: Secure Boot: version 10's image carries a new root; version 11 installs under it, a bundle of the retired targets key is refused"
stage_t=$SECONDS
new_root
install -m 0644 "$W/keys/root2.pb" "$W/root/usr/lib/swupdated/root.pb"
build_version 10 >/dev/null
SIGN_KEY=$W/keys/targets2 build_version 11 >/dev/null
build_version 12 >/dev/null # signed by the targets key the new root retired
install -m 0644 "$W/keys/root.pb" "$W/root/usr/lib/swupdated/root.pb"
timed "images of versions 10 to 12"
publish 10
old=$(boot_id)
gcheck "version 10 installs under the factory root" \
	"swupdatectl install >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc = 0 ] && grep -q 'Finished: success' /tmp/out"
g 'systemctl reboot' 10 >/dev/null || true # RebootPolicy=never: the maintenance window
vm_wait_boot "$old" B
gwait "version 10 confirmed in slot B" 60 "[ \"\$($(prop InstalledVersion))\" = 'u 10' ]"
publish 11
old=$(boot_id)
gcheck "version 11, signed under version 10's root, installs" \
	"swupdatectl install >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc = 0 ] && grep -q 'Finished: success' /tmp/out"
g 'systemctl reboot' 10 >/dev/null || true
vm_wait_boot "$old" A
gwait "version 11 confirmed in slot A" 60 "[ \"\$($(prop InstalledVersion))\" = 'u 11' ]"
publish 12
gcheck "version 12, signed by the retired targets key, is refused" \
	"swupdatectl check >/tmp/out 2>&1; rc=\$?; cat /tmp/out; [ \$rc != 0 ] && grep -q '0 valid signatures by trusted targets keys' /tmp/out"
vm_stop
