# SPDX-License-Identifier: LGPL-2.1-or-later
# A simulated gateway for the swupdated tests: file-backed A/B slots (rootfs, appfs), a kernel
# command line and boot ID file, a GRUB or U-Boot environment handled by the real grub-editenv
# or fw_setenv/fw_printenv (redundant, file-backed), a state directory and swupdated.conf.
. "${SRCDIR:-.}/tests/lib.sh"
: "${SWUPDATED:?SWUPDATED must point at the swupdated binary}"

SLOT_SIZE=${SLOT_SIZE:-$((4 * 1024 * 1024))}

# device_setup grub|uboot [DIR]: creates the device in DIR (default $T/dev), booted from slot A.
device_setup() {
	local boot=$1 dir=${2:-$T/dev}
	mkdir -p "$dir/state"
	DEV=$dir
	BOOT=$boot
	make_keys
	for s in rootfs-A rootfs-B appfs-A appfs-B; do
		truncate -s "$SLOT_SIZE" "$DEV/$s"
	done
	# The factory image in slot A.
	head -c 100000 /dev/urandom | dd of="$DEV/rootfs-A" conv=notrunc status=none
	echo "console=ttyS0 root=/dev/mmcblk0p2 swupdated.slot=A" >"$DEV/cmdline"
	echo "boot-$RANDOM-1" >"$DEV/boot_id"
	case $boot in
	grub)
		grub-editenv "$DEV/grubenv" create
		grub-editenv "$DEV/grubenv" set ORDER="A B" A_OK=1 B_OK=1 A_TRY=0 B_TRY=0
		;;
	uboot)
		head -c 16384 /dev/zero >"$DEV/uboot.env"
		head -c 16384 /dev/zero >"$DEV/uboot-redund.env"
		printf '%s 0x0 0x4000\n%s 0x0 0x4000\n' "$DEV/uboot.env" "$DEV/uboot-redund.env" >"$DEV/fw_env.config"
		printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n' >"$DEV/defenv"
		fw_setenv -c "$DEV/fw_env.config" -f "$DEV/defenv" -s "$DEV/defenv" 2>/dev/null
		;;
	esac
	cat >"$DEV/swupdated.conf" <<CONF
# test device
[Update]
Compatible=acme-gw-v2   # this device

[Trust]
RootMetadata=$T/root.pb
RequireVerity=no
StateDirectory=$DEV/state

[Boot]
Bootloader=$boot
BootAttempts=3
KernelCommandLine=$DEV/cmdline
BootIdFile=$DEV/boot_id
GrubEnvironment=$DEV/grubenv
FwEnvConfig=$DEV/fw_env.config

[Slot.rootfs.A]
Device=$DEV/rootfs-A
[Slot.rootfs.B]
Device=$DEV/rootfs-B
[Slot.appfs.A]
Device=$DEV/appfs-A
[Slot.appfs.B]
Device=$DEV/appfs-B
CONF
}

swupdated() {
	"$SWUPDATED" --config "$DEV/swupdated.conf" "$@"
}

# reboot_into SLOT: what the bootloader decided; a new boot ID.
reboot_into() {
	sed -i "s/swupdated.slot=[AB]/swupdated.slot=$1/" "$DEV/cmdline"
	echo "boot-$RANDOM-$RANDOM" >"$DEV/boot_id"
}

# The slot the bootloader tries first.
primary() {
	case $BOOT in
	grub) grub-editenv "$DEV/grubenv" list | sed -n 's/^ORDER=\(.\).*/\1/p' ;;
	uboot) fw_printenv -c "$DEV/fw_env.config" -n BOOT_ORDER 2>/dev/null | cut -c1 ;;
	esac
}

bootenv() {
	case $BOOT in
	grub) grub-editenv "$DEV/grubenv" list ;;
	uboot) fw_printenv -c "$DEV/fw_env.config" 2>/dev/null ;;
	esac
}

# bootenv_has LINE: the bootloader environment has exactly this line. It prints the environment,
# which a failed check shows.
bootenv_has() {
	local env
	env=$(bootenv)
	printf '%s\n' "$env"
	grep -qx -- "$1" <<<"$env"
}

# A fingerprint of everything a refused install must leave alone.
fingerprint() {
	sha256sum "$DEV/rootfs-A" "$DEV/appfs-A"
	bootenv
	(cd "$DEV/state" && find . -type f | sort | xargs -r sha256sum)
}

# slot_holds SLOTFILE IMAGE: the slot starts with exactly the image's bytes.
slot_holds() {
	cmp -s -n "$(stat -c %s "$2")" "$1" "$2"
}

status_field() { # status_field KEY
	swupdated status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

