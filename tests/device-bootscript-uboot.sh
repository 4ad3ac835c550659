#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
BOOTLOADER=uboot
. "${SRCDIR:-.}/tests/device-bootscript.inc"
