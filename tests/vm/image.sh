# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests/vm/run: builds the test gateway's root filesystem, its per-slot boot images
# and the factory disk. Needs root (files owned by other users, chroot for the initramfs).
# Expects SRCDIR, W (work directory), SWU (host swu), VMBUILD (a build configured for /usr).

# Partition table of the factory disk, in MiB: name start size. 2 is the shared boot partition
# (GRUB: grub.cfg and grubenv; U-Boot: boot.scr and uboot.env), 3/4 the slots' kernels,
# 5/6 the slots' root filesystems with their hash trees, 7 the state of swupdated.
BOOT_MIB=16 KERNEL_MIB=40 ROOTFS_MIB=256 DATA_MIB=64
part_start() { # part_start N: first MiB of partition N
	case $1 in
	1) echo 1 ;; 2) echo 2 ;; 3) echo $((2 + BOOT_MIB)) ;;
	4) echo $((2 + BOOT_MIB + KERNEL_MIB)) ;;
	5) echo $((2 + BOOT_MIB + 2 * KERNEL_MIB)) ;;
	6) echo $((2 + BOOT_MIB + 2 * KERNEL_MIB + ROOTFS_MIB)) ;;
	7) echo $((2 + BOOT_MIB + 2 * KERNEL_MIB + 2 * ROOTFS_MIB)) ;;
	esac
}
slot_part() { # slot_part boot|rootfs A|B
	case $1$2 in bootA) echo 3 ;; bootB) echo 4 ;; rootfsA) echo 5 ;; rootfsB) echo 6 ;; esac
}

# prepare_root BASE_TAR: $W/root, the system every version is built from.
prepare_root() {
	local tar=$1 kver
	rm -rf "$W/root"
	mkdir -p "$W/root"
	tar -C "$W/root" --numeric-owner -xpf "$tar" --exclude='./dev/*'
	make -s -C "$VMBUILD" install DESTDIR="$W/root" >/dev/null
	kver=$(cd "$W/root/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//')

	# The initramfs maps the verity root (the reference hook and script of the docs).
	install -m 0755 "$SRCDIR/docs/examples/initramfs-tools/hooks/swupdated-verity" \
		"$W/root/etc/initramfs-tools/hooks/"
	install -m 0755 "$SRCDIR/docs/examples/initramfs-tools/scripts/local-top/swupdated-verity" \
		"$W/root/etc/initramfs-tools/scripts/local-top/"
	sed -i 's/^MODULES=.*/MODULES=list/' "$W/root/etc/initramfs-tools/initramfs.conf"
	printf '%s\n' virtio_pci virtio_blk dm_mod dm_verity ext4 >>"$W/root/etc/initramfs-tools/modules"
	chroot "$W/root" mkinitramfs -o /boot/initrd.img "$kver" 2>&1 | grep -v '^W: ' || true
	cp "$W/root/boot/vmlinuz-$kver" "$W/vmlinuz"
	mv "$W/root/boot/initrd.img" "$W/initrd.img"

	# Strip what a read-only gateway never reads. Of the kernel modules, the root filesystem
	# keeps what udev loads after the initramfs: the watchdog, virtio-serial, FAT for /boot,
	# efivarfs for systemd-boot's EFI variables.
	local m=$W/root/usr/lib/modules/$kver keep=$W/modules.keep
	mkdir -p "$keep"
	(cd "$m" && find kernel/drivers/watchdog/i6300esb.ko* kernel/drivers/watchdog/watchdog.ko* \
		kernel/drivers/char/virtio_console.ko* \
		kernel/drivers/net/virtio_net.ko* kernel/drivers/net/net_failover.ko* \
		kernel/net/core/failover.ko* kernel/fs/fat kernel/fs/nls kernel/fs/efivarfs -type f | cpio -pdm --quiet "$keep")
	rm -rf "$m/kernel" && mv "$keep/kernel" "$m/kernel" && rm -rf "$keep"
	chroot "$W/root" depmod -a "$kver"
	rm -rf "$W/root"/boot/* "$W/root"/var/lib/apt/lists/* "$W/root"/var/cache/* \
		"$W/root"/usr/share/perl* "$W/root"/usr/lib/x86_64-linux-gnu/perl* \
		"$W/root"/usr/share/zoneinfo "$W/root"/usr/share/i18n "$W/root"/usr/lib/udev/hwdb.bin \
		"$W/root"/usr/lib/udev/hwdb.d "$W/root"/etc/udev/hwdb.bin
	find "$W/root/usr/share/doc" -type f ! -name copyright -delete 2>/dev/null || true

	# Read-only root: /var is a tmpfs, swupdated's state lives on the data partition, /boot is the
	# shared boot partition with the bootloader's environment.
	cat >"$W/root/etc/fstab" <<-EOT
		/dev/mapper/root / ext4 ro 0 0
		tmpfs /var tmpfs mode=0755 0 0
		tmpfs /tmp tmpfs mode=1777 0 0
		PARTLABEL=data /var/lib/swupdated ext4 defaults 0 2
		PARTLABEL=boot /boot vfat umask=0077 0 2
	EOT
	: >"$W/root/etc/machine-id"
	# QEMU user networking, fixed address: the update server is the guestfwd at 10.0.2.100.
	printf '[Match]\nType=ether\n[Network]\nAddress=10.0.2.15/24\nLinkLocalAddressing=no\n' \
		>"$W/root/etc/systemd/network/50-qemu.network"
	echo gateway >"$W/root/etc/hostname"
	ln -sf /proc/self/mounts "$W/root/etc/mtab"

	# Users: alice may only read, bob is in the swupdate group the bus policy names.
	systemd-sysusers --root="$W/root" >/dev/null 2>&1
	chroot "$W/root" useradd -m -u 1001 alice
	chroot "$W/root" useradd -m -u 1002 -G swupdate bob

	# The journal goes to the serial console too: the host's log of the run holds every boot
	# (there is no persistent journal on this read-only root).
	mkdir -p "$W/root/etc/systemd/journald.conf.d"
	printf '[Journal]\nForwardToConsole=yes\nTTYPath=/dev/ttyS0\nMaxLevelConsole=info\n' \
		>"$W/root/etc/systemd/journald.conf.d/console.conf"

	# The watchdog: systemd pets QEMU's i6300esb; a hung boot resets the machine.
	# Debian's kernel package blacklists every watchdog driver from automatic loading.
	echo i6300esb >"$W/root/etc/modules-load.d/watchdog.conf"
	mkdir -p "$W/root/etc/systemd/system.conf.d"
	printf '[Manager]\nRuntimeWatchdogSec=30s\nRebootWatchdogSec=2min\n' \
		>"$W/root/etc/systemd/system.conf.d/watchdog.conf"

	# The health check every version runs before boot-complete.target: a release that fails it
	# reboots, and the bootloader's counter falls back.
	cat >"$W/root/etc/systemd/system/gateway-health.service" <<-EOT
		[Unit]
		Description=Gateway health check
		Before=boot-complete.target
		FailureAction=reboot
		[Service]
		Type=oneshot
		RemainAfterExit=yes
		ExecStart=/bin/sh -c 'if [ -e /etc/gateway-broken ]; then echo "health check failed: \$(cat /etc/gateway-broken)"; exit 1; fi'
		[Install]
		RequiredBy=boot-complete.target
		WantedBy=multi-user.target
	EOT
	install -m 0755 "$SRCDIR/tests/vm/agent" "$W/root/usr/local/sbin/vm-agent"
	install -m 0644 "$SRCDIR/tests/vm/vm-agent.service" "$W/root/etc/systemd/system/"
	systemctl --root="$W/root" enable systemd-networkd.service vm-agent.service gateway-health.service \
		swupdated-mark-good.service swupdated-poll.timer >/dev/null 2>&1
	systemctl --root="$W/root" mask serial-getty@ttyS0.service getty@tty1.service >/dev/null 2>&1
	# systemd-boot on the ESP is the product's signed build: bootctl must never replace it with
	# the package's unsigned one (which the firmware would refuse) at boot.
	systemctl --root="$W/root" mask systemd-boot-update.service >/dev/null 2>&1

	install -D -m 0644 "$W/keys/root.pb" "$W/root/usr/lib/swupdated/root.pb"
}

# configure_root BOOTLOADER AUTOINSTALL REBOOTPOLICY [FIRST-POLL]: the gateway's
# /etc/swupdated.conf and bootloader tool configuration, as a release would ship them; with
# FIRST-POLL, the poll timer's first run comes that long after boot instead of the shipped 2min.
configure_root() {
	local bl=$1 auto=$2 reboot=$3 first=${4:-} boot
	BOOT_KIND=$bl # what build_version makes
	# GRUB and U-Boot: a kernel partition per slot; systemd-boot: a UKI per slot on the ESP
	if [ "$bl" = systemd-boot ]; then
		boot="EfiSystemPartition=/boot
		BootEntryStem=gateway
		[Slot.uki.A]
		BootEntry=yes
		[Slot.uki.B]
		BootEntry=yes"
	else
		boot="GrubEnvironment=/boot/grub/grubenv
		FwEnvConfig=/etc/fw_env.config
		[Slot.boot.A]
		Device=/dev/disk/by-partlabel/boot-A
		[Slot.boot.B]
		Device=/dev/disk/by-partlabel/boot-B"
	fi
	cat >"$W/root/etc/swupdated.conf" <<-EOT
		[Update]
		Compatible=swupdated-vm-gateway
		Server=http://10.0.2.100/stable
		PollIntervalSec=3600
		PollJitterSec=0
		IdleExitSec=10
		AutoInstall=$auto
		RebootPolicy=$reboot
		[Network]
		ConnectTimeoutSec=10
		[Trust]
		RootMetadata=/usr/lib/swupdated/root.pb
		FactoryManifest=/usr/lib/swupdated/manifest.pb
		RequireVerity=yes
		[Boot]
		Bootloader=$bl
		BootAttempts=1
		$(echo "$boot" | sed 's/^[[:space:]]*//')
		[Slot.rootfs.A]
		Device=/dev/disk/by-partlabel/rootfs-A
		[Slot.rootfs.B]
		Device=/dev/disk/by-partlabel/rootfs-B
	EOT
	echo "/boot/uboot.env 0x0 0x4000" >"$W/root/etc/fw_env.config"
	rm -rf "$W/root/etc/systemd/system/swupdated-poll.timer.d"
	if [ -n "$first" ]; then
		mkdir -p "$W/root/etc/systemd/system/swupdated-poll.timer.d"
		# An empty assignment resets every trigger, so the interval is set again.
		printf '[Timer]\nOnBootSec=\nOnBootSec=%s\nOnUnitActiveSec=1h\n' "$first" \
			>"$W/root/etc/systemd/system/swupdated-poll.timer.d/zz-first-poll.conf"
	fi
}

# build_version N [BROKEN-REASON]: $W/rootfs-N.img (ext4 + hash tree) and $W/boot-N.img (kernel,
# initramfs, verity.cfg/verity.env with the root hash), then the signed bundle $W/v N.swu (signed
# with $SIGN_KEY, default the targets key of the factory root).
build_version() {
	local n=$1 broken=${2:-} size hashoffset roothash
	sed -i '/^VERSION_ID=\|^SWUPDATED_VM_VERSION=/d' "$W/root/etc/os-release"
	echo "SWUPDATED_VM_VERSION=$n" >>"$W/root/etc/os-release"
	rm -f "$W/root/etc/gateway-broken"
	# The image's own anti-rollback floor: the manifest of a signed bundle without targets.
	rm -f "$W/floor.swu"
	"$SWU" create-empty-bundle --target-metadata-version "$n" --compatible swupdated-vm-gateway \
		"$W/floor.swu"
	"$SWU" sign-bundle --bundle "$W/floor.swu" --key "$W/keys/targets"
	"$SWU" export-manifest --bundle "$W/floor.swu" --trusted-root-metadata "$W/keys/root.pb" \
		-o "$W/root/usr/lib/swupdated/manifest.pb"
	[ -z "$broken" ] || echo "$broken" >"$W/root/etc/gateway-broken"
	rm -f "$W/rootfs-$n.img"
	size=$(du -sm "$W/root" | cut -f1)
	size=$((size + size / 8 + 8))
	mkfs.ext4 -q -F -b 4096 -L rootfs -U "00000000-0000-4000-8000-$(printf %012d "$n")" \
		-E hash_seed=00000000-0000-4000-8000-000000000000 -N 12000 -O ^has_journal \
		-d "$W/root" "$W/rootfs-$n.img" "${size}M"
	hashoffset=$(stat -c %s "$W/rootfs-$n.img")
	roothash=$(veritysetup format "$W/rootfs-$n.img" "$W/rootfs-$n.img" \
		--hash-offset="$hashoffset" --salt=$(printf '%064d' "$n") | sed -n 's/^Root hash:[[:space:]]*//p')
	[ -n "$roothash" ] || { echo "veritysetup format failed" >&2; return 1; }
	[ $(( $(stat -c %s "$W/rootfs-$n.img") / 1048576 )) -lt $ROOTFS_MIB ] ||
		{ echo "rootfs-$n.img does not fit $ROOTFS_MIB MiB" >&2; return 1; }

	echo "$roothash" >"$W/rootfs-$n.roothash"
	if [ "$BOOT_KIND" = systemd-boot ]; then
		build_uki "$n" "$roothash" "$hashoffset" "$W/uki-$n.efi" --key "$W/sb/db.key" --cert "$W/sb/db.crt"
		"$SWU" create-empty-bundle --target-metadata-version "$n" \
			--compatible swupdated-vm-gateway "$W/v$n.swu"
		"$SWU" add-file-to-bundle --bundle "$W/v$n.swu" --file "$W/uki-$n.efi" --new-name uki
		"$SWU" add-file-to-bundle --bundle "$W/v$n.swu" --file "$W/rootfs-$n.img" --new-name rootfs
		"$SWU" sign-bundle --bundle "$W/v$n.swu" --key "${SIGN_KEY:-$W/keys/targets}"
		return
	fi
	rm -rf "$W/bootfiles" && mkdir -p "$W/bootfiles"
	cp "$W/vmlinuz" "$W/bootfiles/vmlinuz"
	cp "$W/initrd.img" "$W/bootfiles/initrd.img"
	printf 'set roothash=%s\nset hashoffset=%s\n' "$roothash" "$hashoffset" >"$W/bootfiles/verity.cfg"
	printf 'roothash=%s\nhashoffset=%s\n' "$roothash" "$hashoffset" >"$W/bootfiles/verity.env"
	rm -f "$W/boot-$n.img"
	size=$(du -sm "$W/bootfiles" | cut -f1)
	mkfs.ext4 -q -F -t ext2 -L boot -U "00000000-0000-4000-8001-$(printf %012d "$n")" \
		-E hash_seed=00000000-0000-4000-8000-000000000000 -d "$W/bootfiles" "$W/boot-$n.img" \
		"$((size + 2))M"

	"$SWU" create-empty-bundle --target-metadata-version "$n" \
		--compatible swupdated-vm-gateway "$W/v$n.swu"
	"$SWU" add-file-to-bundle --bundle "$W/v$n.swu" --file "$W/boot-$n.img" --new-name boot
	"$SWU" add-file-to-bundle --bundle "$W/v$n.swu" --file "$W/rootfs-$n.img" --new-name rootfs
	"$SWU" sign-bundle --bundle "$W/v$n.swu" --key "${SIGN_KEY:-$W/keys/targets}"
}

# build_uki N ROOTHASH HASHOFFSET OUT [--key KEY --cert CERT]: version N's unified kernel image:
# the kernel, the initramfs and a command line with the root hash, signed for Secure Boot with
# the given key (docs/examples/mkuki). It names no slot: the initramfs and swupdated take the slot
# from the entry systemd-boot booted. Its .osrel gives systemd-boot's menu the version.
build_uki() {
	local n=$1 roothash=$2 hashoffset=$3 out=$4
	shift 4
	printf 'NAME="swupdated VM gateway"\nID=debian\nIMAGE_ID=gateway\nIMAGE_VERSION=%s\nPRETTY_NAME="swupdated VM gateway %s"\n' \
		"$n" "$n" >"$W/osrel-$n"
	"$SRCDIR/docs/examples/mkuki" --linux "$W/vmlinuz" --initrd "$W/initrd.img" --os-release "$W/osrel-$n" \
		--cmdline "root=/dev/mapper/root rootfstype=ext4 ro swupdated.roothash=$roothash swupdated.hashoffset=$hashoffset console=ttyS0 panic=10" \
		"$@" "$out"
}

# sb_keys: $W/sb, the product's Secure Boot keys (PK, KEK, db: self-signed RSA certificates made
# for this run) and the authenticated variables that enroll them: {PK,KEK,db}.auth, PK signed by
# itself, KEK by PK, db by KEK, as the firmware accepts them in setup mode.
sb_keys() {
	local k owner=5657b4b0-3e2d-4e10-9d2c-6e6f7665726e
	rm -rf "$W/sb" && mkdir -p "$W/sb"
	for k in PK KEK db; do
		openssl req -quiet -newkey rsa:2048 -nodes -keyout "$W/sb/$k.key" -x509 -sha256 -days 3650 \
			-subj "/CN=swupdated VM test $k/" -out "$W/sb/$k.crt" 2>/dev/null
		openssl x509 -in "$W/sb/$k.crt" -outform DER -out "$W/sb/$k.der"
		sbsiglist --owner "$owner" --type x509 --output "$W/sb/$k.esl" "$W/sb/$k.der"
	done
	# the attributes systemd-boot writes them with: they are part of what is signed
	local attr=NON_VOLATILE,BOOTSERVICE_ACCESS,RUNTIME_ACCESS,TIME_BASED_AUTHENTICATED_WRITE_ACCESS
	sbvarsign --attr "$attr" --key "$W/sb/PK.key" --cert "$W/sb/PK.crt" --output "$W/sb/PK.auth" PK "$W/sb/PK.esl" >/dev/null
	sbvarsign --attr "$attr" --key "$W/sb/PK.key" --cert "$W/sb/PK.crt" --output "$W/sb/KEK.auth" KEK "$W/sb/KEK.esl" >/dev/null
	sbvarsign --attr "$attr" --key "$W/sb/KEK.key" --cert "$W/sb/KEK.crt" --output "$W/sb/db.auth" db "$W/sb/db.esl" >/dev/null
}

# new_root: $W/keys/root2.pb with the keys root2 and targets2, a root whose keys the factory root
# never signed, for a rotation by verified boot, not by signature. Its version is above every root
# the fleet may have kept (docs/bundle-format.md, rule 1). Made once per run.
new_root() {
	[ ! -s "$W/keys/root2.pb" ] || return 0
	"$SWU" generate-key "$W/keys/root2" >/dev/null
	"$SWU" generate-key "$W/keys/targets2" >/dev/null
	"$SWU" create-root-metadata --append-root-key "$W/keys/root2.pub" \
		--append-targets-key "$W/keys/targets2.pub" --version 2 -o "$W/keys/root2.pb"
	"$SWU" sign-root-metadata --root-metadata "$W/keys/root2.pb" --root-key "$W/keys/root2"
}

# make_disk BOOTLOADER OUT: the factory disk, version 1 in slot A, slot B empty and not bootable.
make_disk() {
	local bl=$1 out=$2 total
	total=$(($(part_start 7) + DATA_MIB + 1))
	rm -f "$out"
	truncate -s "${total}M" "$out"
	{
		echo "label: gpt"
		if [ "$bl" = systemd-boot ]; then
			# the EFI system partition: systemd-boot, loader.conf, the factory's keys, the UKIs
			echo "start=$(($(part_start 2) * 2048)), size=$((BOOT_MIB * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=boot"
		else
			echo "start=$(($(part_start 1) * 2048)), size=2048, type=21686148-6449-6E6F-744E-656564454649, name=bios"
			# U-Boot's distro boot looks for boot.scr on partitions marked legacy-BIOS-bootable.
			echo "start=$(($(part_start 2) * 2048)), size=$((BOOT_MIB * 2048)), type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=boot, attrs=LegacyBIOSBootable"
			for s in A B; do
				echo "start=$(($(part_start "$(slot_part boot $s)") * 2048)), size=$((KERNEL_MIB * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=boot-$s"
			done
		fi
		for s in A B; do
			echo "start=$(($(part_start "$(slot_part rootfs $s)") * 2048)), size=$((ROOTFS_MIB * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=rootfs-$s"
		done
		echo "start=$(($(part_start 7) * 2048)), size=$((DATA_MIB * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=data"
	} | sfdisk -q "$out" >/dev/null
	[ "$bl" = systemd-boot ] || put_part "$out" "$(slot_part boot A)" "$W/boot-1.img"
	put_part "$out" "$(slot_part rootfs A)" "$W/rootfs-1.img"
	rm -f "$W/data.img"
	mkfs.ext4 -q -F -L data "$W/data.img" "${DATA_MIB}M" >/dev/null
	put_part "$out" 7 "$W/data.img"

	rm -f "$W/bootpart.img"
	mkfs.vfat -n BOOT -C "$W/bootpart.img" $((BOOT_MIB * 1024)) >/dev/null
	case $bl in
	grub)
		grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc -o "$W/core.img" -p '(hd0,gpt2)/grub' \
			biosdisk part_gpt fat ext2 normal test loadenv linux configfile echo serial terminal
		python3 "$SRCDIR/tests/vm/grub-bios-install.py" "$out" "$W/core.img" \
			/usr/lib/grub/i386-pc/boot.img $(($(part_start 1) * 2048))
		rm -f "$W/grubenv"
		grub-editenv "$W/grubenv" set ORDER="A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0
		mmd -i "$W/bootpart.img" ::/grub
		mcopy -i "$W/bootpart.img" "$SRCDIR/docs/examples/grub.cfg" "$W/grubenv" ::/grub/
		;;
	uboot)
		mkimage -A x86 -O linux -T script -C none -n "swupdated A/B" \
			-d "$SRCDIR/docs/examples/boot.cmd" "$W/boot.scr" >/dev/null
		printf 'BOOT_ORDER=A B\nBOOT_A_OK=1\nBOOT_A_LEFT=3\nBOOT_B_OK=0\nBOOT_B_LEFT=0\n' >"$W/uboot.env.txt"
		mkenvimage -s 0x4000 -o "$W/uboot.env" "$W/uboot.env.txt"
		mcopy -i "$W/bootpart.img" "$W/boot.scr" "$W/uboot.env" ::/
		;;
	systemd-boot)
		# The firmware starts systemd-boot from the removable-media path; the factory's first
		# boot enrolls the product's keys from loader/keys/auto (the firmware is in setup mode,
		# secure-boot-enroll force) and resets, and from then on only signed images start.
		sbsign --key "$W/sb/db.key" --cert "$W/sb/db.crt" --output "$W/systemd-boot.efi" \
			/usr/lib/systemd/boot/efi/systemd-bootx64.efi 2>/dev/null
		{ cat "$SRCDIR/docs/examples/loader.conf"; echo "secure-boot-enroll force"; } >"$W/loader.conf"
		mmd -i "$W/bootpart.img" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/EFI/Linux ::/loader \
			::/loader/keys ::/loader/keys/auto
		mcopy -i "$W/bootpart.img" "$W/systemd-boot.efi" ::/EFI/BOOT/BOOTX64.EFI
		mcopy -i "$W/bootpart.img" "$W/systemd-boot.efi" ::/EFI/systemd/systemd-bootx64.efi
		mcopy -i "$W/bootpart.img" "$W/loader.conf" ::/loader/loader.conf
		mcopy -i "$W/bootpart.img" "$W/sb/PK.auth" "$W/sb/KEK.auth" "$W/sb/db.auth" ::/loader/keys/auto/
		mcopy -i "$W/bootpart.img" "$W/uki-1.efi" ::/EFI/Linux/gateway-A.efi
		;;
	esac
	put_part "$out" 2 "$W/bootpart.img"
}

put_part() { # put_part DISK N IMAGE: writes IMAGE at the start of partition N
	dd if="$3" of="$1" bs=1M seek="$(part_start "$2")" conv=notrunc,fsync status=none
}
