#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The boot scripts in docs/boot-integration.md are the files the VM test boots
# (docs/examples/): each must appear there verbatim, so the documentation is what was tested.
# The initramfs script's refusals, which the VM never meets, are run here against a stand-in.
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
. "$SRCDIR/tests/lib.sh"
for f in grub.cfg boot.cmd loader.conf initramfs-tools/hooks/swupdated-verity \
	initramfs-tools/scripts/local-top/swupdated-verity; do
	check "docs/boot-integration.md does not include docs/examples/$f verbatim" python3 -c \
		'import sys; sys.exit(0 if open(sys.argv[1]).read() in open(sys.argv[2]).read() else 1)' \
		"$SRCDIR/docs/examples/$f" "$SRCDIR/docs/boot-integration.md"
done
# The initramfs script is POSIX sh (initramfs-tools runs it with busybox or klibc sh).
for f in initramfs-tools/hooks/swupdated-verity initramfs-tools/scripts/local-top/swupdated-verity; do
	check "docs/examples/$f: sh syntax" sh -n "$SRCDIR/docs/examples/$f"
done

# The initramfs script's choices, run with sh against a stand-in for the initramfs: the command
# line, efivarfs, the functions initramfs-tools provides (panic ends the script and says why) and
# veritysetup, which records what it was asked to map.
H=$T/initramfs
mkdir -p "$H/bin" "$H/efivars" "$H/disk"
sed -e "s|/proc/cmdline|$H/cmdline|; s|/sys/firmware/efi/efivars|$H/efivars|" \
	-e "s|^\. /scripts/functions|. $H/functions|; s|/dev/kmsg|$H/kmsg|" \
	-e "s|/dev/disk/by-partlabel/|$H/disk/|; s|\[ ! -b \"\$dev\" \]|[ ! -e \"\$dev\" ]|" \
	"$SRCDIR/docs/examples/initramfs-tools/scripts/local-top/swupdated-verity" >"$H/script"
cat >"$H/functions" <<'SH'
panic() { echo "panic: $*"; exit 1; }
wait_for_udev() { :; }
log_begin_msg() { :; }
log_end_msg() { :; }
SH
printf '#!/bin/sh\necho "veritysetup $*"\n' >"$H/bin/veritysetup"
printf '#!/bin/sh\nexit 0\n' >"$H/bin/modprobe"
cp "$H/bin/modprobe" "$H/bin/mount"
chmod +x "$H/bin/"*
touch "$H/disk/rootfs-A" "$H/disk/rootfs-B"
var=$H/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
hash=$(printf '%064d' 7)
# selected ATTRIBUTES TEXT: LoaderEntrySelected as efivarfs shows it (u32 attributes, UTF-16LE
# with its NUL); TEXT may hold \uXXXX escapes.
selected() {
	python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<I", int(sys.argv[1])) +
		sys.argv[2].encode().decode("unicode_escape").encode("utf-16-le") + b"\0\0")' "$1" "$2" >"$var"
}
initramfs() { # initramfs CMDLINE: runs the script; its output in $T/out
	echo "$1" >"$H/cmdline"
	rm -f "$H/kmsg"
	PATH=$H/bin:$PATH sh "$H/script" >"$T/out" 2>&1 || true
}
initramfs "root=/dev/mapper/root swupdated.slot=A swupdated.roothash=$hash swupdated.hashoffset=4096"
expect_stdout "veritysetup open --hash-offset=4096 --restart-on-corruption -- $H/disk/rootfs-A root $H/disk/rootfs-A $hash"
# A UKI's command line has no slot: systemd-boot's entry (volatile: attributes 6) names it.
selected 6 'gateway-B+2.efi'
initramfs "root=/dev/mapper/root swupdated.roothash=$hash swupdated.hashoffset=4096"
expect_stdout "veritysetup open .* -- $H/disk/rootfs-B root"
check "kmsg: $(cat "$H/kmsg" 2>&1)" grep -qx "swupdated-verity: slot B, from systemd-boot's entry gateway-b+2.efi" "$H/kmsg"
selected 6 'gateway-a.efi'
initramfs "root=/dev/mapper/root swupdated.roothash=$hash swupdated.hashoffset=4096"
expect_stdout "rootfs-A root"
# Refused: a non-volatile variable (attributes 7: planted from a running system), a name that is
# not plain ASCII (U+612D would read as "-a" without its high byte), a name naming no slot, a
# root hash that is not hex, a slot that is not A or B. Nothing is mapped.
refused() { # refused WHY CMDLINE
	initramfs "$2"
	expect_stdout "panic: swupdated-verity: $1"
	check_not "mapped although refused ($1)" grep -q veritysetup "$T/out"
}
selected 7 'gateway-b.efi'
refused "no swupdated.slot=, and LoaderEntrySelected is non-volatile" "swupdated.roothash=$hash swupdated.hashoffset=0"
selected 6 'gateway\u612d.efi'
refused "no swupdated.slot=, and the booted entry '(not ASCII)'" "swupdated.roothash=$hash swupdated.hashoffset=0"
selected 6 'gateway.efi'
refused "no swupdated.slot=, and the booted entry 'gateway.efi' .* names no slot" "swupdated.roothash=$hash swupdated.hashoffset=0"
refused "swupdated.roothash=XYZ is not a hex digest" "swupdated.slot=A swupdated.roothash=XYZ swupdated.hashoffset=0"
refused "swupdated.slot=C is not A or B" "swupdated.slot=C swupdated.roothash=$hash swupdated.hashoffset=0"
refused "swupdated.hashoffset=1x is not a number" "swupdated.slot=A swupdated.roothash=$hash swupdated.hashoffset=1x"
finish
