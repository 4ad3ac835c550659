# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by tests/vm/run: QEMU around the test gateway, and the host's view of it.
# QEMU gets TCG (no KVM here), the disk as virtio, QEMU's i6300esb watchdog, the test agent's
# virtio-serial port, and user networking with restrict=on and a single guestfwd: one socat
# per connection to nginx on 127.0.0.1:$PORT. Nothing else leaves the guest.

VM_PID= VM_BOOTS=0

# vm_start DISK [BIOS]: boots DISK (SeaBIOS, or the given firmware ROM, or "secureboot": OVMF
# with Secure Boot on a q35 machine with SMM, its variable store in $W/efivars.fd); serial console
# appended to $W/serial.log.
vm_start() {
	local disk=$1 bios=${2:-} fw=() cpus=2
	VM_LAST_START=("$disk" "$bios") # what a power cycle in vm_wait_boot starts again
	VM_BOOTS=$((VM_BOOTS + 1))
	echo "==== boot $VM_BOOTS ($(date +%T)) ====" >>"$W/serial.log"
	rm -f "$W/agent.sock" "$W/qemu.pid" "$W/qmp.sock"
	case $bios in
	'') ;;
	secureboot)
		# SMM keeps the variable store out of the guest OS's reach: only the firmware's
		# authenticated-variable code writes PK, KEK and db.
		fw=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
			-global ICH9-LPC.disable_s3=1
			-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
			-drive if=pflash,format=raw,unit=1,file="$W/efivars.fd")
		;;
	*) fw=(-bios "$bios") ;;
	esac
	# One CPU under any firmware but SeaBIOS: with two, under TCG, OVMF (in SMM) and U-Boot
	# (bringing up the second CPU) each hung for good on a warm reset, before printing anything.
	[ -z "$bios" ] || cpus=1
	qemu-system-x86_64 -accel tcg -m 768 -smp "$cpus" -display none -daemonize -pidfile "$W/qemu.pid" \
		"${fw[@]}" \
		-chardev file,id=con,path="$W/serial.log",append=on -serial chardev:con \
		-drive file="$disk",if=virtio,format=raw,cache=unsafe,id=disk0 \
		-qmp unix:"$W/qmp.sock",server=on,wait=off \
		-device i6300esb -action watchdog=reset \
		-device virtio-serial -chardev socket,id=agent,path="$W/agent.sock",server=on,wait=off \
		-device virtserialport,chardev=agent,name=swu.agent \
		-nic "user,model=virtio-net-pci,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:socat - TCP:127.0.0.1:$PORT"
	VM_PID=$(cat "$W/qemu.pid")
}

# vm_kill: a power cut.
vm_kill() {
	[ -n "$VM_PID" ] || return 0
	kill -KILL "$VM_PID" 2>/dev/null || true
	# until it is gone or a zombie (where nothing reaps orphans)
	for _ in $(seq 100); do
		[ -e "/proc/$VM_PID" ] && [ "$(cut -d' ' -f3 "/proc/$VM_PID/stat" 2>/dev/null)" != Z ] || break
		sleep 0.1
	done
	VM_PID=
}

# vm_stop: a clean power-off.
vm_stop() {
	[ -n "$VM_PID" ] || return 0
	g 'systemctl poweroff' 5 >/dev/null 2>&1 || true
	for _ in $(seq 300); do kill -0 "$VM_PID" 2>/dev/null || break; sleep 0.2; done
	vm_kill
}

# g SCRIPT [TIMEOUT]: runs SCRIPT in the guest (bash, as root); its output and status.
g() {
	python3 "$SRCDIR/tests/vm/vmctl.py" "$W/agent.sock" "${2:-120}" "$1"
}

# vm_wait_up [TIMEOUT]: waits until the guest's agent answers and systemd finished booting
# ("running" or "degraded"); prints the time it took.
vm_wait_up() {
	local t0=$SECONDS limit=${1:-240} s
	while [ $((SECONDS - t0)) -lt "$limit" ]; do
		if s=$(g 'systemctl is-system-running --wait' 60 2>/dev/null); then
			echo "guest up in $((SECONDS - t0)) s ($s)"
			return 0
		fi
		case $s in running | degraded) echo "guest up in $((SECONDS - t0)) s ($s)"; return 0 ;; esac
		kill -0 "$VM_PID" 2>/dev/null || { echo "QEMU exited" >&2; return 1; }
		sleep 1
	done
	echo "guest not up after $limit s" >&2
	return 1
}

# qmp COMMAND [ARGUMENTS-JSON]: one QMP command to the running QEMU.
qmp() {
	python3 - "$W/qmp.sock" "$1" "${2:-{\}}" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ({"execute": "qmp_capabilities"}, {"execute": sys.argv[2], "arguments": json.loads(sys.argv[3])}):
    f.write(json.dumps(cmd) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            break
    if "error" in r:
        sys.exit("qmp: %s" % r["error"])
PY
}

# disk_write_limit BYTES_PER_SECOND: throttles the guest's disk writes (0: no limit).
disk_write_limit() {
	qmp block_set_io_throttle "{\"device\": \"disk0\", \"bps\": 0, \"bps_rd\": 0, \"bps_wr\": $1, \"iops\": 0, \"iops_rd\": 0, \"iops_wr\": 0}"
}

boot_id() { g 'cat /proc/sys/kernel/random/boot_id' 10 2>/dev/null; }

# vm_wait_boot OLD_BOOT_ID SLOT [TIMEOUT]: waits until the guest runs a boot other than
# OLD_BOOT_ID from SLOT and finished starting; the boots in between (a failing slot) are passed.
# Each question gets 30 s at most: one asked as the guest goes down may never be answered.
# The firmware now and then hangs on the guest's warm reset under TCG (OVMF with SMM, U-Boot):
# the guest's last words are the kernel's "reboot: machine restart" and nothing follows, and a
# reset through QMP hangs the same way. A board's watchdog would reset it (the i6300esb's is reset
# with the machine); here the machine is power-cycled (QEMU killed and started again on the same
# disk and variable store, as after a power cut), once per wait, after VM_HANG_SEC of silence,
# and the log says so.
VM_HANG_SEC=${VM_HANG_SEC:-90}
vm_wait_boot() {
	local old=$1 slot=$2 limit=${3:-400} t0=$SECONDS id size last=-1 quiet=$SECONDS reset=0
	while [ $((SECONDS - t0)) -lt "$limit" ]; do
		kill -0 "$VM_PID" 2>/dev/null || { echo "QEMU exited" >&2; return 1; }
		size=$(stat -c %s "$W/serial.log")
		if [ "$size" != "$last" ]; then
			last=$size quiet=$SECONDS
		elif [ "$reset" = 0 ] && [ $((SECONDS - quiet)) -ge "$VM_HANG_SEC" ] &&
			tail -n 1 "$W/serial.log" | grep -q "reboot: machine restart"; then
			echo "the firmware hung on the warm reset ($VM_HANG_SEC s without serial output): a power cycle"
			vm_kill
			vm_start "${VM_LAST_START[@]}"
			reset=1 quiet=$SECONDS last=-1
		fi
		id=$(boot_id) || id=
		if [ -n "$id" ] && [ "$id" != "$old" ] &&
			g "[ \"\$(ls /sys/block/dm-0/slaves)\" = \"\$(basename \"\$(readlink -f /dev/disk/by-partlabel/rootfs-$slot)\")\" ] &&
				case \$(systemctl is-system-running --wait) in running | degraded) ;; *) exit 1 ;; esac" \
				30 >/dev/null 2>&1; then
			echo "guest up from slot $slot after $((SECONDS - t0)) s"
			return 0
		fi
		sleep 2
	done
	echo "no boot from slot $slot in $limit s" >&2
	return 1
}

# booted_slots FROM: the slots the bootloader chose since serial log line FROM, in order: what
# GRUB's and U-Boot's scripts print, or with BOOTED_MARK=initramfs (systemd-boot prints nothing)
# the slot the initramfs took from systemd-boot's entry (a kernel log line: never torn by others).
BOOTED_MARK=bootloader
booted_slots() {
	local mark='swupdated: booting slot \([AB]\)'
	[ "$BOOTED_MARK" = bootloader ] || mark="swupdated-verity: slot \\([AB]\\), from systemd-boot's entry"
	tail -n +"$1" "$W/serial.log" | sed -n "s|.*$mark.*|\\1|p" | tr -d '\n'
}
# serial_lines: the first line of the serial log still to come (for booted_slots FROM)
serial_lines() { echo $(($(wc -l <"$W/serial.log") + 1)); }
