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
		printf 'BOOT_ORDER=A B\nBOOT_A_OK=1\nBOOT_A_LEFT=3\nBOOT_B_OK=1\nBOOT_B_LEFT=3\n' >"$DEV/defenv"
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

# --- the reference boot scripts, run as the bootloader runs them ------------------------------
# power_on: the boot script of the reference design (docs/examples/grub.cfg or boot.cmd) runs
# against the device's environment as GRUB or U-Boot run it at power-on, and the device then
# runs the slot it booted (reboot_into). Prints that slot, or "reset" when the script restarted
# the board without booting. What the script prints goes to $T/boot.log. Both scripts run in
# bash, unchanged but for GRUB's device names "(hd0,gptN)" and the closing brace of its menu
# entry, which bash cannot parse: the bootloader's commands are functions over the real
# grub-editenv and fw_printenv/fw_setenv, and every slot has its verity.env/verity.cfg.
power_on() {
	local slot
	slot=$("${BOOT}_power_on" 3>&1 >>"$T/boot.log" 2>&1) || true
	case $slot in
	A | B) reboot_into "$slot" ;;
	esac
	echo "${slot:-nothing}"
}

# power_on_times N: N power-ons without a confirmation in between (a failing health check, the
# watchdog, power cuts during boot); prints what each booted, on one line.
power_on_times() {
	local i seq=()
	for ((i = 0; i < $1; i++)); do
		seq+=("$(power_on)")
	done
	echo "${seq[@]}"
}

# The commands of U-Boot that boot.cmd uses. The environment file is the device's (redundant)
# U-Boot environment: "env import -c" reads it with fw_printenv, which fails on a bad checksum as
# the import does, and "env export" + "fatwrite" replace it with exactly the exported variables.
uboot_power_on() (
	set +euo pipefail
	exported=
	setenv() {
		if [ $# -ge 2 ]; then
			printf -v "$1" '%s' "${*:2}"
		else
			unset "$1"
		fi
	}
	load() { # load INTERFACE DEVICE:PART ADDRESS FILE
		case $4 in
		uboot.env) test -e "$DEV/uboot.env" ;;
		verity.env) filesize=128 ;;
		*) false ;;
		esac
	}
	env() {
		local text v
		case "$1 $2" in
		"import -c") # env import -c ADDRESS SIZE VARIABLE...
			shift 4
			text=$(fw_printenv -c "$DEV/fw_env.config" 2>/dev/null) || return 1
			for v; do
				if grep -q "^$v=" <<<"$text"; then
					printf -v "$v" '%s' "$(sed -n "s/^$v=//p" <<<"$text")"
				fi
			done
			;;
		"import -t") roothash=0123abcd hashoffset=4096 ;;
		"export -c") # env export -c -s SIZE ADDRESS VARIABLE...
			shift 5
			exported=$(for v; do [ -z "${!v+set}" ] || printf '%s=%s\n' "$v" "${!v}"; done)
			;;
		*) echo "env $*: not simulated" && return 1 ;;
		esac
	}
	fatwrite() {
		printf '%s\n' "$exported" >"$T/uboot-exported"
		{
			fw_printenv -c "$DEV/fw_env.config" 2>/dev/null | sed 's/=.*/=/'
			cat "$T/uboot-exported"
		} >"$T/uboot-fatwrite"
		fw_setenv -c "$DEV/fw_env.config" -f "$T/uboot-exported" -s "$T/uboot-fatwrite"
	}
	reset() {
		echo reset >&3
		exit 0
	}
	zboot() {
		sed -n 's/.*swupdated\.slot=\([AB]\).*/\1/p' <<<"$bootargs" >&3
		exit 0
	}
	. "$SRCDIR/docs/examples/boot.cmd"
	echo "boot.cmd ended without booting"
	exit 1
)

# The commands of GRUB that grub.cfg uses, over the device's grubenv. GRUB's save_env writes into
# the existing block: a missing or damaged grubenv stays as it is.
grub_power_on() (
	set +euo pipefail
	serial() { :; }
	terminal_input() { :; }
	terminal_output() { :; }
	set() {
		local a
		for a; do
			printf -v "${a%%=*}" '%s' "${a#*=}"
		done
	}
	load_env() {
		local text v
		text=$(grub-editenv "$DEV/grubenv" list 2>/dev/null) || {
			echo "error: cannot load grubenv"
			return 1
		}
		for v; do
			if grep -q "^$v=" <<<"$text"; then
				printf -v "$v" '%s' "$(sed -n "s/^$v=//p" <<<"$text")"
			fi
		done
	}
	save_env() {
		local a=() v
		grub-editenv "$DEV/grubenv" list >/dev/null 2>&1 || {
			echo "error: cannot save grubenv"
			return 1
		}
		for v; do
			a+=("$v=${!v}")
		done
		grub-editenv "$DEV/grubenv" set "${a[@]}"
	}
	source() { # verity.cfg
		roothash=0123abcd hashoffset=4096
	}
	menuentry() { :; }
	linux() {
		local a
		for a; do
			case $a in
			swupdated.slot=*) echo "${a#*=}" >&3 ;;
			esac
		done
	}
	initrd() { :; }
	. <(sed -e 's/(\(hd0,gpt\$bootpart\))/\1/g' -e 's/^}$/:/' "$SRCDIR/docs/examples/grub.cfg")
)
