#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# No staging directory to keep the chunk index in: the image comes whole, and installs.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_setup
printf 'a file\n' >"$T/not-a-directory"
daemon_config
sed -i "s|^StagingDirectory=.*|StagingDirectory=$T/not-a-directory/staging|" "$DEV/swupdated.conf"
launch_daemon

delta_release 8 block
installed_whole 8 "no staging directory"
check "the missing staging directory was not logged" \
	grep -q "Cannot keep the chunk index of 'rootfs' in '$T/not-a-directory/staging'" "$T/daemon.log"
finish
