#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# MaxBytesPerSec= holds the download to its rate.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
daemon_config
conf_add Network MaxBytesPerSec=400000
launch_daemon

t0=$(date +%s%N)
expect_exit 0 ctl install
ms=$((($(date +%s%N) - t0) / 1000000))
echo "1 MiB at 400000 B/s took $ms ms"
check "MaxBytesPerSec=400000 did not slow a 1 MiB download down ($ms ms)" test "$ms" -ge 2000
finish
