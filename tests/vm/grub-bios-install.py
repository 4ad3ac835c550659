#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# grub-bios-install.py DISK CORE_IMG BOOT_IMG LBA: what grub-bios-setup does for a GPT disk with
# a BIOS boot partition at LBA, on a disk image file (no loop device): core.img goes to LBA,
# boot.img's code into the MBR (the partition table stays), each told where the next part is.
import struct, sys

disk, core_path, boot_path, lba = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
core = bytearray(open(core_path, "rb").read())
boot = bytearray(open(boot_path, "rb").read())
sectors = (len(core) + 511) // 512
core += b"\0" * (sectors * 512 - len(core))
# boot.img: GRUB_BOOT_MACHINE_KERNEL_SECTOR (0x5c), the LBA of core.img's first sector.
struct.pack_into("<Q", boot, 0x5C, lba)
# diskboot.img (first sector of core.img): its block list (12 bytes before the sector's end)
# names the rest of core.img: start LBA, sector count; the load segment stays.
struct.pack_into("<QH", core, 0x200 - 12, lba + 1, sectors - 1)
with open(disk, "r+b") as f:
    mbr = bytearray(f.read(512))
    mbr[:440] = boot[:440]
    f.seek(0)
    f.write(mbr)
    f.seek(lba * 512)
    f.write(core)
