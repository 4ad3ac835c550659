# A/B boot with swupdated (U-Boot; mkimage -T script -d boot.cmd boot.scr). Partitions as for
# GRUB: 2 this script and uboot.env (FAT), 3/4 boot-A/boot-B (kernel, initramfs, verity.env
# with the slot's root hash), 5/6 rootfs-A/rootfs-B. The environment is a file that Linux edits
# with fw_setenv (fw_env.config: "/boot/uboot.env 0x0 0x4000"): loaded here, counted down and
# written back before the kernel starts. No setexpr (not in every build): if-chains count down,
# and any count other than 0, 1 or 2 (BootAttempts= up to 100) counts as 3. BOOT_A_OK/BOOT_B_OK
# (1: bootable) are swupdated's: a slot it took out of service (half-written, rolled back,
# rejected) has 0 and is never tried, not even when every count is used up.
setenv envaddr 0x2000000
setenv envsize 0x4000
setenv BOOT_ORDER
setenv BOOT_A_LEFT
setenv BOOT_B_LEFT
setenv BOOT_A_OK
setenv BOOT_B_OK
if load virtio 0:2 ${envaddr} uboot.env && env import -c ${envaddr} ${envsize} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT BOOT_A_OK BOOT_B_OK; then
  # written before the flags existed: a slot without attempts left may be out of service
  if test -z "${BOOT_A_OK}"; then if test "${BOOT_A_LEFT}" = 0; then setenv BOOT_A_OK 0; else setenv BOOT_A_OK 1; fi; fi
  if test -z "${BOOT_B_OK}"; then if test "${BOOT_B_LEFT}" = 0; then setenv BOOT_B_OK 0; else setenv BOOT_B_OK 1; fi; fi
else
  # nothing tells which slot is whole: the factory state, slot A only
  echo "uboot.env: missing or bad checksum: booting slot A only"
  setenv BOOT_ORDER "A B"; setenv BOOT_A_LEFT 3; setenv BOOT_B_LEFT 0; setenv BOOT_A_OK 1; setenv BOOT_B_OK 0
fi
if test "${BOOT_ORDER}" != "A B" && test "${BOOT_ORDER}" != "B A"; then setenv BOOT_ORDER "A B"; fi

setenv slot
for s in ${BOOT_ORDER}; do
  if test -z "${slot}"; then
    if test "${s}" = A && test "${BOOT_A_OK}" = 1; then
      if test "${BOOT_A_LEFT}" = 2; then setenv BOOT_A_LEFT 1; setenv slot A;
      elif test "${BOOT_A_LEFT}" = 1; then setenv BOOT_A_LEFT 0; setenv slot A;
      elif test "${BOOT_A_LEFT}" != 0; then setenv BOOT_A_LEFT 2; setenv slot A;
      fi
    elif test "${s}" = B && test "${BOOT_B_OK}" = 1; then
      if test "${BOOT_B_LEFT}" = 2; then setenv BOOT_B_LEFT 1; setenv slot B;
      elif test "${BOOT_B_LEFT}" = 1; then setenv BOOT_B_LEFT 0; setenv slot B;
      elif test "${BOOT_B_LEFT}" != 0; then setenv BOOT_B_LEFT 2; setenv slot B;
      fi
    fi
  fi
done
if test -z "${slot}" && test "${BOOT_A_OK}" != 1 && test "${BOOT_B_OK}" != 1; then
  # no slot is bootable (swupdated never leaves it so): as GRUB, the first one in the order
  for s in ${BOOT_ORDER}; do if test -z "${slot}"; then setenv slot ${s}; fi; done
fi
if test -z "${slot}"; then
  echo "No bootable slot has attempts left: resetting the counters of the bootable slots"
  if test "${BOOT_A_OK}" = 1; then setenv BOOT_A_LEFT 3; fi
  if test "${BOOT_B_OK}" = 1; then setenv BOOT_B_LEFT 3; fi
  env export -c -s ${envsize} ${envaddr} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT BOOT_A_OK BOOT_B_OK
  fatwrite virtio 0:2 ${envaddr} uboot.env ${envsize}
  reset
fi
env export -c -s ${envsize} ${envaddr} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT BOOT_A_OK BOOT_B_OK
fatwrite virtio 0:2 ${envaddr} uboot.env ${envsize}

if test "${slot}" = A; then setenv bootpart 3; else setenv bootpart 4; fi
setenv roothash
load virtio 0:${bootpart} ${envaddr} verity.env && env import -t ${envaddr} ${filesize} roothash hashoffset
if test -z "${roothash}"; then echo "slot ${slot} has no verity.env: next attempt"; reset; fi
echo "swupdated: booting slot ${slot} (BOOT_ORDER=${BOOT_ORDER} BOOT_A_OK=${BOOT_A_OK} BOOT_A_LEFT=${BOOT_A_LEFT} BOOT_B_OK=${BOOT_B_OK} BOOT_B_LEFT=${BOOT_B_LEFT})"
setenv bootargs "root=/dev/mapper/root rootfstype=ext4 ro swupdated.slot=${slot} swupdated.roothash=${roothash} swupdated.hashoffset=${hashoffset} console=ttyS0 panic=10"
load virtio 0:${bootpart} 0x1000000 vmlinuz
# above the kernel's decompression area
load virtio 0:${bootpart} 0x10000000 initrd.img
zboot 0x1000000 0 0x10000000 ${filesize}
